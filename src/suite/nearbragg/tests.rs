//! Physics checks with real values, the SIMD kernel against the reference, and the command
//! line end to end.

use std::path::Path;

use proptest::prelude::*;

use super::params::{Detector, Params, Roi, Source, Steps, default_pix0};
use super::*;

/// A `w × h` flat detector of `pixel` m at `distance` m, beam at the centre of pixel
/// (w/2, h/2) edges, default axes.
fn detector(w: usize, h: usize, pixel: f64, distance: f64) -> Detector {
    let (f, s, o) = ([0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]);
    let (xb, yb) = (w as f64 * pixel / 2.0, h as f64 * pixel / 2.0);
    Detector {
        xpixels: w,
        ypixels: h,
        pixel,
        distance,
        fdet: f,
        sdet: s,
        odet: o,
        pix0: default_pix0(xb, yb, distance, f, s, o),
        curved: false,
        point_pixel: false,
    }
}

fn params(d: Detector) -> Params {
    Params {
        detector: d,
        roi: Roi {
            xmin: 0,
            xmax: d.xpixels - 1,
            ymin: 0,
            ymax: d.ypixels - 1,
        },
        source: Source::Far,
        ..Params::default()
    }
}

/// Two equal atoms 100 Å apart across the beam give fringes `λ·R/d` apart on the detector:
/// 1 mm at 100 mm with λ = 1 Å, ten 0.1-mm pixels, with zeros between them.
#[test]
fn two_atoms_make_fringes_lambda_d_over_d_apart() {
    let p = params(detector(400, 1, 0.1e-3, 0.1));
    let atoms = [Atom::at(0.0, 0.0, -50.0), Atom::at(0.0, 0.0, 50.0)];
    let img = render(&p, &atoms, Backend::Simd).unwrap().images.float;
    let img: Vec<f64> = img.iter().map(|&v| f64::from(v)).collect();
    // Maxima near the centre, refined by a parabola through the neighbours.
    let peaks: Vec<f64> = (150..250)
        .filter(|&i| img[i] > img[i - 1] && img[i] >= img[i + 1])
        .map(|i| {
            let (a, b, c) = (img[i - 1], img[i], img[i + 1]);
            i as f64 + 0.5 * (a - c) / (a - 2.0 * b + c)
        })
        .collect();
    assert!(peaks.len() >= 9, "{peaks:?}");
    let spacing = (peaks[peaks.len() - 1] - peaks[0]) / (peaks.len() - 1) as f64;
    // Exact: path difference d·sin θ with sin θ = z/R; near the centre R ≈ 100 mm.
    assert!(
        (spacing - 10.0).abs() < 0.05,
        "fringe spacing {spacing} pixels"
    );
    let (min, max) = img[150..250]
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(min / max < 0.05, "fringe contrast {min} / {max}");
}

/// One atom: the image is `fluence·r_e²` times each pixel's solid angle, so the total is
/// `fluence·r_e²·Ω` with Ω of the rectangle, `4·asin(ab/√((a²+D²)(b²+D²)))` for half-sides
/// a, b at distance D; the log's solid angle is Ω itself.
#[test]
fn one_atom_image_totals_the_solid_angle() {
    let mut p = params(detector(64, 48, 0.2e-3, 5e-3));
    p.oversample = 4;
    let r = render(&p, &[Atom::at(0.0, 0.0, 0.0)], Backend::Simd).unwrap();
    let (a, b, d) = (6.4e-3f64, 4.8e-3f64, 5e-3f64);
    let omega = 4.0 * (a * b / ((a * a + d * d) * (b * b + d * d)).sqrt()).asin();
    let total: f64 = r.images.float.iter().map(|&v| f64::from(v)).sum();
    let want = omega * p.fluence * params::R_E_SQR;
    assert!((total / want - 1.0).abs() < 2e-4, "{total} vs {want}");
    assert!((r.solid_angle / omega - 1.0).abs() < 2e-4);
    // Smooth and symmetric about the centre, brightest there: 1/R³ at the corners.
    let f = |x: usize, y: usize| f64::from(r.images.float[y * 64 + x]);
    assert!((f(31, 23) / f(32, 24) - 1.0).abs() < 1e-6);
    assert!((f(0, 0) / f(63, 47) - 1.0).abs() < 1e-5);
    let cos3 = |y: f64, z: f64| (d / (y * y + z * z + d * d).sqrt()).powi(3);
    let want = cos3(a - 1e-4, b - 1e-4) / cos3(1e-4, 1e-4);
    assert!((f(0, 0) / f(32, 24) / want - 1.0).abs() < 1e-3);
}

/// A point source at L instead of a plane wave divides the intensity by L² (the spherical
/// wave's 1/r_src), and a pixel's value does not depend on the thread count.
#[test]
fn point_source_scale_and_threads() {
    let mut p = params(detector(16, 16, 0.1e-3, 0.1));
    let atoms = [Atom::at(0.0, 0.0, 0.0), Atom::at(10.0, 30.0, -20.0)];
    let far = render(&p, &atoms, Backend::Simd).unwrap().images.float;
    p.source = Source::Point { distance: 2.0 };
    let near = render(&p, &atoms, Backend::Simd).unwrap().images.float;
    // Same pattern (the source is far enough for a 36 Å object), a quarter of it.
    for (a, b) in far.iter().zip(&near) {
        assert!((f64::from(*b) * 4.0 / f64::from(*a) - 1.0).abs() < 1e-3);
    }
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| render(&p, &atoms, Backend::Simd).unwrap());
    assert_eq!(one.images.float, near);
}

/// Coherent mode with one sample is incoherent mode; sin/cos hold the amplitude
/// `e^{iφ}/R` of a single plane-wave atom; `-accumulate` adds.
#[test]
fn coherent_amplitudes_and_accumulation() {
    let mut p = params(detector(8, 8, 0.1e-3, 0.1));
    let atoms = [Atom {
        phase: 30.0,
        ..Atom::at(5.0, 0.0, 0.0)
    }];
    let inc = render(&p, &atoms, Backend::Simd).unwrap().images;
    p.coherent = true;
    let coh = render(&p, &atoms, Backend::Simd).unwrap().images;
    assert_eq!(inc.float, coh.float);
    let d = p.detector;
    let (x, y) = (3usize, 5usize);
    let pos: [f64; 3] = std::array::from_fn(|i| {
        (x as f64 + 0.5) * d.pixel * d.fdet[i] + (y as f64 + 0.5) * d.pixel * d.sdet[i] + d.pix0[i]
    });
    let atom = [5e-10, 0.0, 0.0];
    let r = ((pos[0] - atom[0]).powi(2) + pos[1].powi(2) + pos[2].powi(2)).sqrt();
    let phase = params::TWO_PI_C * (atom[0] + r) / 1e-10 + 30.0 / params::RTD;
    let j = y * 8 + x;
    assert!((f64::from(coh.cos[j]) * r - phase.cos()).abs() < 1e-6);
    assert!((f64::from(coh.sin[j]) * r - phase.sin()).abs() < 1e-6);
    // Accumulating the amplitudes doubles them: four times the intensity.
    let mut twice = coh.clone();
    render_onto(&p, &atoms, Backend::Simd, &mut twice).unwrap();
    assert!((f64::from(twice.cos[j]) / f64::from(coh.cos[j]) - 2.0).abs() < 1e-6);
    // The float image is not imported in coherent mode: 4× the new intensity on top.
    assert!((f64::from(twice.float[j]) / f64::from(coh.float[j]) - 5.0).abs() < 1e-5);
    p.coherent = false;
    let mut sum = inc.clone();
    render_onto(&p, &atoms, Backend::Simd, &mut sum).unwrap();
    assert!((f64::from(sum.float[j]) / f64::from(inc.float[j]) - 2.0).abs() < 1e-6);
}

/// B factors damp the amplitude by `exp(−B·(sinθ/λ)²)`: zero at the beam centre, more at
/// high angle.
#[test]
fn b_factor_damps_high_angles() {
    let p = params(detector(33, 1, 2e-3, 0.05));
    let a = Atom::at(0.0, 0.0, 0.0);
    let sharp = render(&p, &[a], Backend::Simd).unwrap().images.float;
    let soft = render(&p, &[Atom { b: 20.0, ..a }], Backend::Simd)
        .unwrap()
        .images
        .float;
    // Pixel 16 is centred on the beam.
    let check = |i: usize| {
        let z = (i as f64 + 0.5) * 2e-3 - 33e-3;
        let two_theta = z.abs().atan2(0.05);
        let stol = (two_theta / 2.0).sin();
        let want = (-2.0 * 20.0 * stol * stol).exp();
        let got = f64::from(soft[i]) / f64::from(sharp[i]);
        assert!(
            (got / want - 1.0).abs() < 1e-5,
            "pixel {i}: {got} vs {want}"
        );
    };
    for i in [0, 5, 16, 30] {
        check(i);
    }
}

/// The scalar reference's image and the lane kernel's agree. The phases here reach
/// 2π·(50 m)/(0.5 Å) ≈ 6·10¹² rad, whose doubles are 10⁻³ rad apart: an approximate argument
/// reduction would move each term by that much. Both kernels form the phase with the same
/// operations (so the same double) and take sin/cos to within an ulp of the exact values
/// (`trig`'s reduction is exact), and the amplitude arithmetic (`w·(1/r)` against
/// `DWF/r_src/r`, exp on lanes) differs by a few ulps per term. With at most 6 atoms and 27
/// samples the amplitudes then agree to ~10⁻¹⁴ of `Σ|a|`, far inside one f32 rounding
/// (6·10⁻⁸) of each pixel plus 10⁻⁹ of the image's maximum (pixels in a dark fringe, where
/// `|A|` cancels to much less than `Σ|a|`).
fn agree(a: &[f32], b: &[f32]) -> std::result::Result<(), TestCaseError> {
    let max = b.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let (x, y) = (f64::from(x), f64::from(y));
        let tol = 2.5e-7 * y.abs() + 1e-9 * max;
        prop_assert!((x - y).abs() <= tol, "pixel {i}: simd {x} scalar {y}");
    }
    Ok(())
}

fn setup_strategy() -> impl Strategy<Value = (Params, Vec<Atom>)> {
    let atom = (
        -60.0..60.0f64,
        -60.0..60.0f64,
        -60.0..60.0f64,
        0.0..2.0f64,
        prop_oneof![Just(0.0), 0.0..30.0f64],
        -180.0..180.0f64,
    )
        .prop_map(|(x, y, z, occupancy, b, phase)| Atom {
            x,
            y,
            z,
            occupancy,
            b,
            phase,
        });
    let geometry = (
        1usize..13,
        1usize..4,
        0.02e-3..0.3e-3f64,
        prop_oneof![1e-5..1e-3f64, 0.02..0.3f64],
        prop_oneof![Just(None), (1e-4..50.0f64).prop_map(Some)],
        0.5e-10..2e-10f64,
        1usize..3,
        any::<[bool; 4]>(),
        0.0..0.5f64,
    );
    let samples = (0usize..3, 0usize..3, 0usize..3);
    (geometry, samples, prop::collection::vec(atom, 1..7)).prop_map(
        |((w, h, pixel, distance, src, lambda, os, flags, tilt), (nd, nv, nz), atoms)| {
            let mut d = detector(w, h, pixel, distance);
            d.curved = flags[0];
            d.point_pixel = flags[1];
            d.odet = params::rotate_axis(d.odet, [0.0, 0.0, 1.0], tilt);
            d.fdet = params::rotate_axis(d.fdet, [0.0, 1.0, 0.0], tilt / 3.0);
            let mut p = params(d);
            p.lambda0 = lambda;
            p.oversample = os;
            p.coherent = flags[2];
            p.compat = flags[3];
            p.source = src.map_or(Source::Far, |distance| Source::Point { distance });
            p.dispersion = Steps::resolve(0.02, -1.0, nd as i64 + 1, "d").unwrap();
            p.hdiv = Steps::resolve(1e-3, -1.0, nv as i64 + 1, "h").unwrap();
            p.vdiv = p.hdiv;
            p.depth = Steps::resolve(2000e-10, -1.0, nz as i64 + 1, "z").unwrap();
            (p, atoms)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn simd_agrees_with_the_scalar_reference((p, atoms) in setup_strategy()) {
        let simd = render(&p, &atoms, Backend::Simd).unwrap();
        let scalar = render(&p, &atoms, Backend::Scalar).unwrap();
        agree(&simd.images.float, &scalar.images.float)?;
        agree(&simd.images.sin, &scalar.images.sin)?;
        agree(&simd.images.cos, &scalar.images.cos)?;
        prop_assert_eq!(simd.solid_angle, scalar.solid_angle);
    }
}

/// A scratch folder holding the golden suite's inputs.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nearbragg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_in(dir: &Path, line: &str) -> (crate::error::Result<()>, String) {
    let mut argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    for a in argv.iter_mut() {
        if let Some(name) = a.strip_prefix("@") {
            *a = dir.join(name).display().to_string();
        }
    }
    let mut out = Vec::new();
    let r = main(&argv, &mut out);
    (r, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn command_line_end_to_end() {
    let dir = scratch("cli");
    std::fs::write(dir.join("pair.txt"), "0 150 -300 1 0 0\n0 -150 300 2 0 0\n").unwrap();
    let (r, log) = run_in(
        &dir,
        "-file @pair.txt -detpixels 16 -distance 50 -floatfile @f.bin -intfile @i.img \
         -coherent -sinfile @s.bin -cosfile @c.bin -printout_pixel 3 4",
    );
    r.unwrap();
    assert!(log.contains("auto-selected 4-fold oversampling"), "{log}");
    assert!(log.contains("   3    4 : stol = "), "{log}");
    assert_eq!(
        std::fs::metadata(dir.join("f.bin")).unwrap().len(),
        16 * 16 * 4
    );
    assert_eq!(
        std::fs::metadata(dir.join("s.bin")).unwrap().len(),
        16 * 16 * 4
    );
    let img = std::fs::read(dir.join("i.img")).unwrap();
    assert_eq!(img.len(), 512 + 16 * 16 * 2);
    assert!(img.starts_with(b"{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\n"));
    // The brightest pixel is 55000 + 40 counts.
    let max = img[512..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .max();
    assert_eq!(max, Some(55040));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_and_odd_input_never_panic() {
    let dir = scratch("odd");
    std::fs::write(dir.join("a.txt"), "1 2 3\n").unwrap();
    std::fs::write(dir.join("bad.txt"), "1 2 3\n4 five 6\n").unwrap();
    std::fs::write(dir.join("empty.txt"), "\n# nothing\n").unwrap();
    let out = "-floatfile @f.bin -intfile @i.img";
    for (line, code) in [
        ("", 2),
        ("-detpixels 8", 2),
        ("-file @missing.txt -detpixels 8", 1),
        ("-file @bad.txt -detpixels 8", 1),
        ("-file @empty.txt -detpixels 8", 1),
        ("-file @a.txt -detsize 0", 2),
        ("-file @a.txt -detpixels 100000000", 2),
        ("-file @a.txt -detpixels 1000000", 1),
        ("-file @a.txt -pixel 0", 2),
        ("-file @a.txt -pixel -1", 2),
        ("-file @a.txt -lambda 0 -detpixels 4", 2),
        ("-file @a.txt -distance nan", 2),
        ("-file @a.txt -oversample 100000 -detpixels 4", 2),
        ("-file @a.txt -roi 50 60 0 3 -detpixels 8", 2),
        ("-file @a.txt -divsteps 1000000", 2),
        ("-file @a.txt -detpixels 4 -fdet_vector 0 0 0", 2),
        ("-file @a.txt -detpixels 4 -curved_det -distance 0", 2),
        ("-file @a.txt -detpixels", 2),
        ("-file @a.txt -detpixels 4 -floatfile @", 1),
    ] {
        let (r, _) = run_in(&dir, &format!("{out} {line}"));
        let e = r.expect_err(line);
        assert_eq!(e.exit_code(), code, "{line}: {e}");
    }
    // Odd but valid: a huge extent asks for too much oversampling; compat reads anything.
    std::fs::write(dir.join("far.txt"), "0 0 0\n0 0 1e9\n").unwrap();
    let (r, _) = run_in(&dir, &format!("-file @far.txt -detpixels 4 {out}"));
    assert_eq!(r.unwrap_err().exit_code(), 2);
    let (r, _) = run_in(
        &dir,
        &format!("-file @empty.txt -detpixels 4 -compat {out}"),
    );
    r.unwrap();
    let (r, _) = run_in(
        &dir,
        &format!("-file @a.txt -detpixels 4 -distance 0 {out}"),
    );
    r.unwrap();
    // -accumulate: a float file of the wrong size is refused (C reads what is there).
    std::fs::write(dir.join("f.bin"), [0u8; 12]).unwrap();
    let (r, _) = run_in(
        &dir,
        &format!("-file @a.txt -detpixels 2 -accumulate {out}"),
    );
    assert_eq!(r.unwrap_err().exit_code(), 1);
    std::fs::write(dir.join("f.bin"), [0u8; 12]).unwrap();
    let (r, log) = run_in(
        &dir,
        &format!("-file @a.txt -detpixels 2 -accumulate -compat {out}"),
    );
    r.unwrap();
    assert!(
        log.contains("ERROR: fread() did not read all pixels"),
        "{log}"
    );
    let (r, log) = run_in(&dir, "-help");
    r.unwrap();
    assert!(log.contains("-source_distance"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every option of the table is handled (no panic), values or not.
#[test]
fn every_option_is_handled() {
    for spec in cli::SPECS {
        let mut argv = vec!["-file".to_string(), "a.txt".into(), spec.names[0].into()];
        argv.extend(spec.values.split_whitespace().map(|_| "1".to_string()));
        let _ = cli::parse(&argv);
    }
}
