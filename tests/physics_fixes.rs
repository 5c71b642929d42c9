//! The nanoBragg.c bugs that the default mode fixes (README "Differences from nanoBragg.c"),
//! each checked against an independent expectation: an analytic value, a limit or a symmetry,
//! never only against the engine itself. Every test also checks that `compat` (C's behaviour)
//! gives a different number, so the switch is shown to do something.
//!
//! Images are float images stored as `f32`, so per-pixel agreement is limited by `f32`
//! rounding: comparing a rendered pixel with an expectation built from other rendered pixels
//! involves at most two roundings of half an ulp each, i.e. a relative error ≤ `f32::EPSILON`.
//! [`F32_TOL`] allows twice that.

use std::sync::Arc;

use nanobragg::engine::{self, Backend};
use nanobragg::io::hkl::HklGrid;
use nanobragg::params::{AVOGADRO, DEFAULT_FLUENCE, Lattice, Params, R_E_SQR};
use nanobragg::setup::Setup;

/// Relative tolerance for comparing `f32` pixels with expectations (two `f32` roundings,
/// with a factor 2 of margin).
const F32_TOL: f64 = 2.0 * f32::EPSILON as f64;

type V3 = [f64; 3];

fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

fn unit(a: V3) -> V3 {
    let n = norm(a);
    [a[0] / n, a[1] / n, a[2] / n]
}

/// A cubic cell of edge `a` (m), `n` cells per edge, F = `f` everywhere, λ = 1 Å, MOSFLM
/// detector of `pixels`² pixels of `pixel` m at `distance` m, one sub-pixel per pixel.
fn params(a: f64, n: f64, f: f64, pixels: usize, pixel: f64, distance: f64) -> Params {
    let mut p = Params::default();
    let r = 90f64.to_radians();
    p.crystal.lattice = Lattice::cell(a, a, a, r, r, r);
    p.crystal.cells = [n; 3];
    p.structure_factors.default_f = f;
    p.beam.wavelength = 1e-10;
    p.detector.pixel_size = pixel;
    p.detector.distance = distance;
    p.detector.set_pixels(pixels, pixels);
    p.sampling.oversample = Some(1);
    p
}

fn render(p: &Params) -> Vec<f32> {
    let setup = Setup::new(p).expect("valid parameters");
    engine::render(&setup, Backend::Scalar).pixels
}

/// Lab position of the point `(fdet, sdet)` (m from pixel (0,0)'s outer corner) on the front
/// face of the detector, from the placed detector's corner and axes only.
fn position(setup: &Setup, fdet: f64, sdet: f64) -> V3 {
    let d = &setup.detector;
    [0, 1, 2].map(|i| d.pix0[i] + fdet * d.fdet[i] + sdet * d.sdet[i])
}

/// Perpendicular sample-to-plane distance and the unit normal, from the corner and the axes.
fn plane(setup: &Setup) -> (f64, V3) {
    let d = &setup.detector;
    let normal = unit(cross(d.fdet, d.sdet));
    let close = dot(d.pix0, normal);
    if close < 0.0 {
        (-close, normal.map(|x| -x))
    } else {
        (close, normal)
    }
}

/// Solid angle of a flat pixel of pitch `px` seen at `pos`: px²/R² · close/R.
fn solid_angle(pos: V3, px: f64, close: f64) -> f64 {
    let r = norm(pos);
    px * px / (r * r) * close / r
}

/// Largest relative deviation of `actual` from `expected` and where it is.
fn worst(actual: &[f32], expected: &[f64]) -> (f64, usize) {
    assert_eq!(actual.len(), expected.len());
    let mut w = (0.0, 0);
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(e.is_finite() && e > 0.0, "expectation {e} at pixel {i}");
        let rel = (a as f64 - e).abs() / e;
        if rel.is_nan() || rel > w.0 {
            w = (rel, i);
        }
    }
    w
}

fn assert_close(actual: &[f32], expected: &[f64], tol: f64, what: &str) {
    let (rel, i) = worst(actual, expected);
    assert!(
        rel <= tol,
        "{what}: pixel {i} is {} but {} was expected (relative deviation {rel:.3e} > {tol:.1e})",
        actual[i],
        expected[i]
    );
}

fn sum(image: &[f32]) -> f64 {
    image.iter().map(|&v| v as f64).sum()
}

fn widen(image: &[f32]) -> Vec<f64> {
    image.iter().map(|&v| v as f64).collect()
}

/// Q1: a sweep φ0 = 0, osc = δ in two steps samples φ = 0 and φ = δ/2 (spec §3.1, Q37); the
/// image must be the mean of the two single-orientation images, the φ = 0 one unrotated.
/// nanoBragg.c keeps the δ/2 rotation at φ = 0 (after the very first evaluation).
#[test]
fn q01_phi_zero_is_unrotated() {
    let osc = 0.2;
    let mut base = params(100e-10, 10.0, 100.0, 48, 1e-4, 0.1);
    base.sampling.oversample = Some(2);

    let single = |phi: f64| {
        let mut p = base.clone();
        p.rotation.phi0 = phi;
        let setup = Setup::new(&p).unwrap();
        assert_eq!(setup.phi, vec![phi]);
        engine::render(&setup, Backend::Scalar).pixels
    };
    let at0 = single(0.0);
    let at_half = single(osc / 2.0);
    // the two orientations give clearly different images, so the test can tell them apart
    let gap = at0
        .iter()
        .zip(&at_half)
        .map(|(&a, &b)| (a as f64 - b as f64).abs())
        .sum::<f64>();
    assert!(
        gap > 0.1 * sum(&at0),
        "φ = 0 and φ = δ/2 images too alike: {}",
        gap / sum(&at0)
    );

    let sweep = |compat: bool| {
        let mut p = base.clone();
        p.rotation.osc = Some(osc);
        p.compat = compat;
        let setup = Setup::new(&p).unwrap();
        assert_eq!(setup.phi, vec![0.0, osc / 2.0], "samples of the sweep");
        engine::render(&setup, Backend::Scalar).pixels
    };
    let mean: Vec<f64> = at0
        .iter()
        .zip(&at_half)
        .map(|(&a, &b)| (a as f64 + b as f64) / 2.0)
        .collect();

    let fixed = sweep(false);
    let total = sum(&fixed);
    let expected_total: f64 = mean.iter().sum();
    assert!(
        (total - expected_total).abs() <= F32_TOL * expected_total,
        "sum {total} vs mean of single orientations {expected_total}"
    );
    assert_close(&fixed, &mean, F32_TOL, "sweep vs mean of φ = 0 and φ = δ/2");

    // C: after the first evaluation, φ = 0 reuses the δ/2 rotation, so every pixel but the
    // first is the δ/2 image.
    let c = sweep(true);
    let (rel, _) = worst(&c, &mean);
    assert!(
        rel > 0.1,
        "compat should differ from the mean (max rel {rel:.3e})"
    );
    assert_close(&c[1..], &widen(&at_half[1..]), F32_TOL, "compat vs φ = δ/2");
}

/// Q10: a sensor of thickness t and attenuation length L in n layers captures, in the
/// default mode, the telescoping sum of the layers' own fractions: 1 − exp(−t/(L·ρ)),
/// ρ = d̂·ô, for any n. The depth shift of each layer's sample point changes ρ by
/// ≈ r²·depth/D³ < 1e-9 in this geometry (D = 1 m, r ≤ 4.5 mm, depth < 50 µm), far below
/// the tolerance, while the obliquity itself (1 − ρ ≤ 1e-5) is resolved.
#[test]
fn q10_sensor_layers_capture_their_own_fraction() {
    let (t, l) = (50e-6, 40e-6);
    let base = params(50e-10, 1.0, 10.0, 32, 2e-4, 1.0);
    let flat = render(&base);
    let setup = Setup::new(&base).unwrap();
    let (_, normal) = plane(&setup);
    let px = setup.detector.pixel_size;
    let mut capture = Vec::new();
    for s in 0..32 {
        for f in 0..32 {
            let d = unit(position(
                &setup,
                (f as f64 + 0.5) * px,
                (s as f64 + 0.5) * px,
            ));
            let rho = dot(d, normal);
            capture.push(1.0 - (-t / (l * rho)).exp());
        }
    }
    let expected: Vec<f64> = flat
        .iter()
        .zip(&capture)
        .map(|(&v, &c)| v as f64 * c)
        .collect();

    for n in 1..=4 {
        let thick = |compat: bool| {
            let mut p = base.clone();
            p.detector.thickness = Some(t);
            p.detector.thicksteps = Some(n);
            p.detector.attenuation_length = Some(l);
            p.compat = compat;
            render(&p)
        };
        assert_close(
            &thick(false),
            &expected,
            F32_TOL,
            &format!("{n} layers vs flat × (1 − exp(−t/(Lρ)))"),
        );
        let (rel, _) = worst(&thick(true), &expected);
        assert!(
            rel > 0.01,
            "compat with {n} layers should differ ({rel:.3e})"
        );
    }
}

/// Q11: with `oversample_omega` each term carries its own sub-pixel's solid angle, so a flat
/// pattern (F everywhere, one cell: F_latt = 1, no polarization) gives
/// F²·r_e²Φ · mean over the n² sub-pixels of px²·close/R³. C multiplies the running sum.
#[test]
fn q11_oversample_omega_weights_each_sub_pixel() {
    let (f, n, pixels) = (10.0, 3usize, 24usize);
    let mut base = params(50e-10, 1.0, f, pixels, 1e-3, 0.05);
    base.beam.nopolar = true;
    base.sampling.oversample = Some(n as u32);
    base.sampling.oversample_omega = true;
    let setup = Setup::new(&base).unwrap();
    let (close, _) = plane(&setup);
    let px = setup.detector.pixel_size;
    let sub = px / n as f64;
    let scale = R_E_SQR * DEFAULT_FLUENCE;
    let mut expected = Vec::new();
    let mut spread = 0.0f64;
    for s in 0..pixels {
        for fp in 0..pixels {
            let omegas: Vec<f64> = (0..n * n)
                .map(|i| {
                    let fdet = (fp * n + i % n) as f64 * sub + sub / 2.0;
                    let sdet = (s * n + i / n) as f64 * sub + sub / 2.0;
                    solid_angle(position(&setup, fdet, sdet), px, close)
                })
                .collect();
            let mean = omegas.iter().sum::<f64>() / (n * n) as f64;
            let first = omegas[0];
            spread = spread.max((first - mean).abs() / mean);
            expected.push(scale * f * f * mean);
        }
    }
    // the sub-pixels' solid angles differ well beyond the tolerance
    assert!(
        spread > 1e-3,
        "sub-pixel solid angles too alike ({spread:.3e})"
    );
    assert_close(&render(&base), &expected, F32_TOL, "oversample_omega");

    let mut c = base.clone();
    c.compat = true;
    let (rel, _) = worst(&render(&c), &expected);
    assert!(rel > 0.5, "compat should differ ({rel:.3e})");
}

/// Q12: `nopolar` means a polarization factor of exactly 1, also with `oversample_polar`: the
/// image equals the `nopolar` image without the flag. C recomputes the factor per term.
#[test]
fn q12_nopolar_survives_oversample_polar() {
    let mut base = params(50e-10, 1.0, 10.0, 32, 5e-4, 0.05);
    base.sampling.oversample = Some(2);
    base.beam.nopolar = true;
    let plain = widen(&render(&base));
    // with polarization the image is visibly different here, so a lost -nopolar would show
    let mut polarized = base.clone();
    polarized.beam.nopolar = false;
    let (rel, _) = worst(&render(&polarized), &plain);
    assert!(rel > 1e-2, "polarization too weak to test ({rel:.3e})");

    let mut flagged = base.clone();
    flagged.sampling.oversample_polar = true;
    assert_close(
        &render(&flagged),
        &plain,
        F32_TOL,
        "nopolar + oversample_polar",
    );

    flagged.compat = true;
    let (rel, _) = worst(&render(&flagged), &plain);
    assert!(rel > 1e-3, "compat should lose -nopolar ({rel:.3e})");
}

/// Q13: the water background of a w-sided cube is I_bg = 2.57²·r_e²Φ·w³·1e6·N_A/18 photons per
/// steradian, times polarization and solid angle (of the pixel's first sub-pixel, the point
/// where both are sampled without the `oversample_*` flags), independent of oversampling and
/// linear in the fluence. C adds it before scaling: ×r_e²Φ twice and ÷ steps.
#[test]
fn q13_water_background_scales_once() {
    let w = 100e-6;
    let pixels = 32usize;
    // F = 1 with one cell: the Bragg term (≈ F²·ω ≈ 1e-6) is 1e-17 of the background.
    let mut base = params(50e-10, 1.0, 1.0, pixels, 1e-4, 0.1);
    base.water_size = w;
    let run = |fluence: f64, n: u32, compat: bool| {
        let mut p = base.clone();
        p.beam.fluence = fluence;
        p.sampling.oversample = Some(n);
        p.compat = compat;
        render(&p)
    };
    let expected = |fluence: f64, n: usize| {
        let setup = Setup::new(&base).unwrap();
        let (close, _) = plane(&setup);
        let px = setup.detector.pixel_size;
        let beam = [1.0, 0.0, 0.0]; // MOSFLM
        let i_bg = 2.57 * 2.57 * R_E_SQR * fluence * w * w * w * 1e6 * AVOGADRO / 18.0;
        let sub = px / n as f64;
        let mut out = Vec::new();
        for s in 0..pixels {
            for f in 0..pixels {
                let pos = position(
                    &setup,
                    (f * n) as f64 * sub + sub / 2.0,
                    (s * n) as f64 * sub + sub / 2.0,
                );
                let cos2t = dot(unit(pos), beam);
                let polar = 0.5 * (1.0 + cos2t * cos2t);
                out.push(i_bg * polar * solid_angle(pos, px, close));
            }
        }
        out
    };
    let phi = DEFAULT_FLUENCE;
    let one = run(phi, 1, false);
    assert_close(&one, &expected(phi, 1), F32_TOL, "water, oversample 1");
    let three = run(phi, 3, false);
    assert_close(&three, &expected(phi, 3), F32_TOL, "water, oversample 3");
    // oversampling moves the sampled point by a third of a pixel: no 1/n² anywhere
    let (rel, _) = worst(&three, &widen(&one));
    assert!(rel < 1e-4, "oversample 3 vs 1 ({rel:.3e})");
    let double = run(2.0 * phi, 1, false);
    let twice: Vec<f64> = one.iter().map(|&v| 2.0 * v as f64).collect();
    assert_close(&double, &twice, F32_TOL, "water, doubled fluence");
    assert_close(&double, &expected(2.0 * phi, 1), F32_TOL, "water, 2Φ");

    // C: ÷ steps (9 with oversample 3) and r_e²Φ squared (×4 for 2Φ).
    let c_one = run(phi, 1, true);
    let c_three = run(phi, 3, true);
    let c_double = run(2.0 * phi, 1, true);
    let ratio = sum(&c_three) / sum(&c_one);
    assert!(
        (ratio - 1.0 / 9.0).abs() < 1e-3,
        "compat oversample ratio {ratio}"
    );
    let ratio = sum(&c_double) / sum(&c_one);
    assert!((ratio - 4.0).abs() < 1e-3, "compat fluence ratio {ratio}");
}

/// A grid of F = `poly(h, k, l)` over `[-m, m]³`, with nanoBragg's spare zero slab per axis.
fn grid(m: i32, poly: impl Fn(f64, f64, f64) -> f64) -> HklGrid {
    let span = (2 * m + 1) as usize;
    let padded = span + 1;
    let mut data = vec![0.0; padded * padded * padded];
    for h in -m..=m {
        for k in -m..=m {
            for l in -m..=m {
                let i =
                    (((h + m) as usize * padded) + (k + m) as usize) * padded + (l + m) as usize;
                data[i] = poly(h as f64, k as f64, l as f64);
            }
        }
    }
    HklGrid {
        h_min: -m,
        h_max: m,
        k_min: -m,
        k_max: m,
        l_min: -m,
        l_max: m,
        data,
        count: span * span * span,
    }
}

/// Q16: with tricubic interpolation, an evaluation outside the interpolation range
/// (h − h_min + 3 > h_range or h − 2 < h_min, i.e. |h| > 1 for a ±3 grid) takes the nearest
/// reflection's F, and every other evaluation is still interpolated. F is a cubic polynomial,
/// which tricubic interpolation reproduces exactly, so in-range pixels must equal
/// p(h,k,l)² × the flat (F = 1) image, as with a ±6 grid of the same polynomial, and missed
/// pixels p(h0,k0,l0)² × flat. In C the first miss (pixel (0,0) here) switches interpolation
/// off for the rest of the run.
#[test]
fn q16_interpolation_miss_is_local() {
    let poly = |h: f64, k: f64, l: f64| {
        60.0 + 2.0 * h + 3.0 * k - 2.5 * l + 0.8 * k * k - 0.6 * h * l + 0.3 * l * l * l
    };
    let (a, pixels) = (80e-10, 64usize);
    let flat_params = params(a, 1.0, 1.0, pixels, 1e-4, 0.1);
    let flat = render(&flat_params);
    let with_grid = |m: i32, compat: bool| {
        let mut p = flat_params.clone();
        p.structure_factors.default_f = 0.0;
        p.structure_factors.grid = Some(Arc::new(grid(m, poly)));
        p.structure_factors.interpolate = Some(true);
        p.compat = compat;
        let setup = Setup::new(&p).unwrap();
        assert!(setup.interpolate);
        let r = engine::render(&setup, Backend::Scalar);
        (r.pixels, r.interpolation_miss.is_some())
    };

    // Fractional indices of every pixel centre: q = (d̂ − b̂)/λ, h = a·q with the canonical
    // cubic cell a ∥ x, b ∥ y, c ∥ z.
    let setup = Setup::new(&flat_params).unwrap();
    for (i, v) in setup.crystal.real.iter().enumerate() {
        let mut e = [0.0; 3];
        e[i] = a;
        assert!(norm([v[0] - e[0], v[1] - e[1], v[2] - e[2]]) < 1e-9 * a);
    }
    let px = setup.detector.pixel_size;
    let beam = [1.0, 0.0, 0.0]; // MOSFLM
    let nearest = |x: f64| (x - 0.5).ceil();
    let (mut inside, mut missed) = (Vec::new(), Vec::new());
    let mut expected = vec![0.0; pixels * pixels];
    for s in 0..pixels {
        for f in 0..pixels {
            let d = unit(position(
                &setup,
                (f as f64 + 0.5) * px,
                (s as f64 + 0.5) * px,
            ));
            let hkl = [0, 1, 2].map(|i| a * (d[i] - beam[i]) / 1e-10);
            let idx = s * pixels + f;
            let big = hkl.iter().map(|x| x.abs()).fold(0.0, f64::max);
            let fcell = if big < 1.0 - 1e-9 {
                inside.push(idx);
                poly(hkl[0], hkl[1], hkl[2])
            } else if big > 1.0 + 1e-9 {
                missed.push(idx);
                let h0 = hkl.map(nearest);
                assert!(
                    h0.iter().all(|x| x.abs() <= 3.0),
                    "nearest {h0:?} off the grid"
                );
                poly(h0[0], h0[1], h0[2])
            } else {
                continue;
            };
            expected[idx] = fcell * fcell * flat[idx] as f64;
        }
    }
    assert!(
        inside.len() > 100 && missed.len() > 100,
        "{} in, {} out",
        inside.len(),
        missed.len()
    );
    assert!(missed.contains(&0), "pixel (0,0) should miss");

    let pick = |img: &[f32], ids: &[usize]| ids.iter().map(|&i| img[i]).collect::<Vec<f32>>();
    let pick64 = |ids: &[usize]| ids.iter().map(|&i| expected[i]).collect::<Vec<f64>>();

    let (small, small_missed) = with_grid(3, false);
    assert!(small_missed, "the small grid must report a miss");
    let (large, large_missed) = with_grid(6, false);
    assert!(!large_missed, "the large grid must not miss");
    assert_close(
        &pick(&small, &inside),
        &pick64(&inside),
        F32_TOL,
        "in range, ±3 grid vs p(h,k,l)²",
    );
    assert_close(
        &pick(&large, &inside),
        &pick64(&inside),
        F32_TOL,
        "in range, ±6 grid vs p(h,k,l)²",
    );
    assert_close(
        &pick(&small, &inside),
        &widen(&pick(&large, &inside)),
        F32_TOL,
        "in range, ±3 vs ±6 grid",
    );
    assert_close(
        &pick(&small, &missed),
        &pick64(&missed),
        F32_TOL,
        "missed, nearest reflection",
    );

    // C: after the miss at pixel (0,0) every evaluation is nearest-neighbour.
    let (c, _) = with_grid(3, true);
    let (rel, _) = worst(&pick(&c, &inside), &pick64(&inside));
    assert!(rel > 1e-3, "compat should stop interpolating ({rel:.3e})");
    let nn: Vec<f64> = inside
        .iter()
        .map(|&i| {
            let (s, f) = (i / pixels, i % pixels);
            let d = unit(position(
                &setup,
                (f as f64 + 0.5) * px,
                (s as f64 + 0.5) * px,
            ));
            let h0 = [0, 1, 2].map(|j| nearest(a * (d[j] - beam[j]) / 1e-10));
            poly(h0[0], h0[1], h0[2]).powi(2) * flat[i] as f64
        })
        .collect();
    assert_close(
        &pick(&c, &inside),
        &nn,
        F32_TOL,
        "compat in range, nearest reflection",
    );
}
