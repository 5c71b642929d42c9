//! Property tests: the SIMD engine reproduces the scalar reference engine on random valid
//! parameters, and each engine gives the same bits for any thread count.
//!
//! A region of interest renders exactly the pixels of the whole image inside it.
//!
//! Agreement criterion: Pearson correlation ≥ 0.9999999 and relative error ≤ 1e-6 on every
//! pixel brighter than 1 % of the peak.

use std::sync::Arc;

use nanobragg::engine::{self, Backend};
use nanobragg::io::HklGrid;
use nanobragg::params::{Convention, Lattice, Misset, Params, Pivot, Shape};
use nanobragg::setup::Setup;
use proptest::prelude::*;

fn deg(x: f64) -> f64 {
    x.to_radians()
}

/// A small dense structure-factor table with deterministic pseudo-random F.
fn grid(extent: i32, seed: u64) -> HklGrid {
    let n = (2 * extent + 1) as usize;
    let side = n + 1;
    let mut data = vec![0.0; side * side * side];
    let mut x = seed | 1;
    for h in 0..n {
        for k in 0..n {
            for l in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data[(h * side + k) * side + l] = 10.0 + (x % 1000) as f64 / 10.0;
            }
        }
    }
    HklGrid {
        h_min: -extent,
        h_max: extent,
        k_min: -extent,
        k_max: extent,
        l_min: -extent,
        l_max: extent,
        data,
        count: n * n * n,
    }
}

prop_compose! {
    fn crystal()(
        a in 20.0..90.0f64, b in 20.0..90.0f64, c in 20.0..90.0f64,
        al in 70.0..110.0f64, be in 70.0..110.0f64, ga in 70.0..110.0f64,
        misset in prop::array::uniform3(-180.0..180.0f64),
        n in prop::array::uniform3(1u32..25),
        shape in prop::sample::select(vec![Shape::Square, Shape::Square, Shape::Round, Shape::Gauss, Shape::Tophat]),
        fudge in 0.5..2.0f64,
    ) -> (Lattice, Misset, [f64; 3], Shape, f64) {
        (
            Lattice::cell(a * 1e-10, b * 1e-10, c * 1e-10, deg(al), deg(be), deg(ga)),
            Misset::Angles(misset.map(deg)),
            n.map(f64::from),
            shape,
            fudge,
        )
    }
}

prop_compose! {
    fn geometry()(
        convention in prop::sample::select(vec![
            Convention::Mosflm, Convention::Denzo, Convention::Adxv,
            Convention::Xds, Convention::Dials, Convention::Custom,
        ]),
        pixels in (9usize..27, 7usize..23),
        pixel_mm in 0.3..1.2f64,
        distance_mm in 40.0..150.0f64,
        rotation in prop::array::uniform3(-8.0..8.0f64),
        twotheta in -20.0..20.0f64,
        centre in prop::array::uniform2(0.2..0.8f64),
        pivot in prop::sample::select(vec![Pivot::Beam, Pivot::Sample]),
        curved in prop::bool::weighted(0.15),
        point_pixel in prop::bool::weighted(0.15),
    ) -> Params {
        let mut p = Params::default();
        let d = &mut p.detector;
        d.pixel_size = pixel_mm * 1e-3;
        d.set_pixels(pixels.0, pixels.1);
        d.distance = distance_mm * 1e-3;
        d.convention = convention;
        d.pivot = Some(pivot);
        d.rotation = rotation.map(deg);
        d.twotheta = deg(twotheta);
        d.beam_center = [Some(centre[0] * d.size[1]), Some(centre[1] * d.size[0])];
        d.curved = curved;
        d.point_pixel = point_pixel;
        p
    }
}

prop_compose! {
    fn sampling()(
        lambda in 0.8..3.0f64,
        mosaic in prop::option::weighted(0.3, (0.05..1.0f64, 2i64..5)),
        phi in prop::option::weighted(0.3, (-1.0..1.0f64, 0.05..0.5f64, 1i64..4)),
        divergence in prop::option::weighted(0.2, (0.1..0.6f64, 2i64..4)),
        dispersion in prop::option::weighted(0.2, (0.1..2.0f64, 2i64..4)),
        oversample in 1u32..3,
        thickness in prop::option::weighted(0.2, (50.0..400.0f64, 100.0..600.0f64, 1i64..4)),
        kahn in prop::option::weighted(0.5, 0.0..1.0f64),
        flags in prop::array::uniform3(prop::bool::weighted(0.2)),
        seed in 1i64..1000,
    ) -> SamplingChoice {
        SamplingChoice { lambda, mosaic, phi, divergence, dispersion, oversample, thickness, kahn, flags, seed }
    }
}

/// Random sampling options, applied to `Params` by [`SamplingChoice::apply`].
#[derive(Clone, Debug)]
struct SamplingChoice {
    lambda: f64,
    mosaic: Option<(f64, i64)>,
    phi: Option<(f64, f64, i64)>,
    divergence: Option<(f64, i64)>,
    dispersion: Option<(f64, i64)>,
    oversample: u32,
    thickness: Option<(f64, f64, i64)>,
    kahn: Option<f64>,
    flags: [bool; 3],
    seed: i64,
}

impl SamplingChoice {
    fn apply(&self, p: &mut Params) {
        let SamplingChoice {
            lambda,
            mosaic,
            phi,
            divergence,
            dispersion,
            oversample,
            thickness,
            kahn,
            flags,
            seed,
        } = self.clone();
        {
            p.beam.wavelength = lambda * 1e-10;
            if let Some((spread, domains)) = mosaic {
                p.rotation.mosaic_spread = Some(deg(spread));
                p.rotation.mosaic_domains = Some(domains);
                p.rotation.mosaic_seed = seed;
            }
            if let Some((phi0, osc, steps)) = phi {
                p.rotation.phi0 = deg(phi0);
                p.rotation.osc = Some(deg(osc));
                p.rotation.phisteps = Some(steps);
            }
            if let Some((range, steps)) = divergence {
                p.beam.divergence_range = [Some(range * 1e-3); 2];
                p.beam.divergence_steps = [Some(steps); 2];
            }
            if let Some((percent, steps)) = dispersion {
                p.beam.dispersion = Some(percent / 100.0);
                p.beam.dispsteps = Some(steps);
            }
            p.sampling.oversample = Some(oversample);
            if let Some((t, l, n)) = thickness {
                p.detector.thickness = Some(t * 1e-6);
                p.detector.attenuation_length = Some(l * 1e-6);
                p.detector.thicksteps = Some(n);
            }
            match kahn {
                Some(k) => p.beam.kahn_factor = k,
                None => p.beam.nopolar = true,
            }
            p.sampling.oversample_thick = flags[0];
            p.sampling.oversample_polar = flags[1];
            p.sampling.oversample_omega = flags[2];
        }
    }
}

fn params() -> impl Strategy<Value = Params> {
    (
        crystal(),
        geometry(),
        sampling(),
        prop::option::weighted(0.4, (1i32..6, any::<u64>(), prop::bool::ANY)),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.2, 0.05..0.5f64),
    )
        .prop_map(|(c, mut p, sampling, table, compat, water)| {
            p.crystal.lattice = c.0;
            p.crystal.misset = c.1;
            p.crystal.cells = c.2;
            p.crystal.shape = c.3;
            p.crystal.fudge = c.4;
            sampling.apply(&mut p);
            p.structure_factors.default_f = 50.0;
            if let Some((extent, seed, interpolate)) = table {
                p.structure_factors.grid = Some(Arc::new(grid(extent, seed)));
                p.structure_factors.interpolate = Some(interpolate);
            }
            p.compat = compat;
            if compat && p.detector.point_pixel {
                // nanoBragg.c's -oversample_omega multiplies its running sum by the solid angle
                // (Q11); with -point_pixel that is 1/R² ≈ 1e3 per term and overflows to inf.
                p.sampling.oversample_omega = false;
            }
            if let Some(w) = water {
                p.water_size = w * 1e-6;
            }
            p
        })
}

/// A triclinic, misset crystal of `cells` unit cells, λ = 1.3 Å, `-default_F 50`, on a
/// `pixels` detector of `pixel`-sized pixels at 60 mm.
fn triclinic(pixels: [usize; 2], pixel: f64, cells: [f64; 3]) -> Params {
    let mut p = Params::default();
    p.detector.set_pixels(pixels[0], pixels[1]);
    p.detector.pixel_size = pixel;
    p.detector.distance = 60e-3;
    p.crystal.lattice = Lattice::cell(41e-10, 47e-10, 53e-10, deg(88.0), deg(93.0), deg(97.0));
    p.crystal.misset = Misset::Angles([deg(11.0), deg(-23.0), deg(37.0)]);
    p.crystal.cells = cells;
    p.beam.wavelength = 1.3e-10;
    p.structure_factors.default_f = 50.0;
    p
}

/// Renders `setup` with both engines and asserts they agree (`context` names the case).
fn engines_agree(setup: &Setup, context: &str) -> (engine::Rendered, engine::Rendered) {
    let scalar = engine::render(setup, Backend::Scalar);
    let simd = engine::render(setup, Backend::Simd);
    let (corr, worst) = engine::agreement(&scalar.pixels, &simd.pixels);
    assert!(
        corr >= engine::MIN_CORRELATION && worst <= engine::MAX_RELATIVE_ERROR,
        "{context}: correlation {corr}, worst {worst}"
    );
    (scalar, simd)
}

/// Every family of the SIMD engine's compiled hot loop — each polynomial length with odd,
/// even and mixed N, the sine ratio above N = 16, and F from `-default_F`, the nearest
/// reflection or tricubic interpolation — against the scalar engine on a small image with a
/// mosaic spread and a φ sweep, with and without a resolution limit.
#[test]
fn every_hot_loop_instance_matches_scalar() {
    let cells = (1..=16).map(|n| [n as f64; 3]).chain([
        [4.0, 7.0, 1.0],
        [10.0, 10.0, 5.0],
        [3.0, 20.0, 8.0],
        [24.0; 3],
    ]);
    for n in cells {
        for (table, dmin) in [
            (None, 0.0),
            (Some(false), 0.0),
            (Some(true), 0.0),
            (Some(true), 9e-10),
        ] {
            let mut p = triclinic([40, 32], 0.4e-3, n);
            p.rotation.mosaic_spread = Some(deg(0.4));
            p.rotation.mosaic_domains = Some(3);
            p.rotation.mosaic_seed = 7;
            p.rotation.osc = Some(deg(0.2));
            p.rotation.phisteps = Some(2);
            p.sampling.dmin = dmin;
            if let Some(interpolate) = table {
                p.structure_factors.grid = Some(Arc::new(grid(6, 99)));
                p.structure_factors.interpolate = Some(interpolate);
            }
            let setup = Setup::new(&p).expect("valid parameters");
            let (scalar, simd) =
                engines_agree(&setup, &format!("N {n:?}, table {table:?}, dmin {dmin}"));
            assert_eq!(
                scalar.interpolation_miss.is_some(),
                simd.interpolation_miss.is_some()
            );
        }
    }
}

/// Tricubic interpolation where neighbouring pixels share one interpolation cube (0.01 mm
/// pixels: the SIMD engine sums a whole vector on lanes) and where each pixel of a vector has
/// its own (0.4 mm pixels: lane by lane), against the scalar engine; and a region starting in
/// the middle of a vector is the whole image cut out, bit for bit.
#[test]
fn tricubic_shared_and_separate_cubes_match_scalar() {
    for pixel in [0.01e-3, 0.4e-3] {
        let mut p = triclinic([64, 24], pixel, [5.0, 6.0, 7.0]);
        p.structure_factors.grid = Some(Arc::new(grid(6, 99)));
        p.structure_factors.interpolate = Some(true);
        let whole = Setup::new(&p).expect("valid parameters");
        let (_, simd) = engines_agree(&whole, &format!("pixel {pixel}"));
        p.sampling.roi = Some([3, 21, 2, 9]);
        let part = Setup::new(&p).expect("valid parameters");
        let cut = engine::render(&part, Backend::Simd);
        for (i, (a, b)) in simd.pixels.iter().zip(&cut.pixels).enumerate() {
            let (f, s) = (i % simd.width, i / simd.width);
            let inside = (3..=21).contains(&f) && (2..=9).contains(&s);
            let want = if inside { a.to_bits() } else { 0 };
            assert_eq!(b.to_bits(), want, "pixel {pixel}: ({f}, {s})");
        }
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn simd_matches_scalar(p in params()) {
        let Ok(setup) = Setup::new(&p) else { return Ok(()) };
        let scalar = engine::render(&setup, Backend::Scalar);
        let simd = engine::render(&setup, Backend::Simd);
        prop_assert!(scalar.pixels.iter().all(|v| v.is_finite()));
        let (corr, worst) = engine::agreement(&scalar.pixels, &simd.pixels);
        prop_assert!(corr >= engine::MIN_CORRELATION, "correlation {corr}");
        prop_assert!(worst <= engine::MAX_RELATIVE_ERROR, "worst relative error {worst}");
        prop_assert!((scalar.omega_sum - simd.omega_sum).abs() <= 1e-9 * scalar.omega_sum.abs());
    }

    #[test]
    fn thread_count_does_not_change_the_bits(p in params()) {
        let Ok(setup) = Setup::new(&p) else { return Ok(()) };
        for backend in Backend::ALL {
            let one = pool(1).install(|| engine::render(&setup, backend));
            let three = pool(3).install(|| engine::render(&setup, backend));
            prop_assert!(one.pixels.iter().map(|v| v.to_bits()).eq(three.pixels.iter().map(|v| v.to_bits())));
            prop_assert_eq!(one.omega_sum.to_bits(), three.omega_sum.to_bits());
        }
    }

    #[test]
    fn a_region_of_interest_is_the_whole_image_cut_out(
        p in params(),
        corner in prop::array::uniform2(0usize..12),
        extent in prop::array::uniform2(0usize..12),
    ) {
        let mut p = p;
        // Under compat the first rendered pixel is special (Q1), and it moves with the region.
        p.compat = false;
        let Ok(whole) = Setup::new(&p) else { return Ok(()) };
        let roi = [corner[0], corner[0] + extent[0], corner[1], corner[1] + extent[1]];
        p.sampling.roi = Some(roi);
        let Ok(part) = Setup::new(&p) else { return Ok(()) };
        let [x0, x1, y0, y1] = roi;
        for backend in Backend::ALL {
            let full = engine::render(&whole, backend);
            let cut = engine::render(&part, backend);
            for (i, (a, b)) in full.pixels.iter().zip(&cut.pixels).enumerate() {
                let (f, s) = (i % full.width, i / full.width);
                let inside = f >= x0 && f <= x1 && s >= y0 && s <= y1;
                let want = if inside { a.to_bits() } else { 0 };
                prop_assert_eq!(b.to_bits(), want, "{:?} pixel ({}, {})", backend, f, s);
            }
        }
    }
}
