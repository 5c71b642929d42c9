//! Tests of the whole noisify pipeline and command.

use std::path::Path;

use super::*;
use crate::io::scratch;
use crate::noise::{NoiseMode, noise_image};

/// A 61×47 test image with zeros, small, medium and bright pixels.
fn image(w: usize, h: usize) -> Vec<f32> {
    (0..w * h)
        .map(|i| match (i * 2654435761) % 17 {
            0 => 0.0,
            1 => 0.3,
            2 => 2500.0,
            3 => 70_000.0,
            k => ((i % 97) as f32) * 0.37 * k as f32,
        })
        .collect()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn default_mode_is_thread_count_independent() {
    let (w, h) = (61, 47);
    let float = image(w, h);
    for psf in [
        None,
        Some(Psf {
            kind: PsfKind::Gauss,
            fwhm: 1.4,
            radius: 0,
        }),
        Some(Psf {
            kind: PsfKind::Fiber,
            fwhm: 0.5,
            radius: 4,
        }),
    ] {
        let p = NoisifyParams {
            seed: 99,
            flicker: 0.05,
            calibration: 0.1,
            readout: 3.0,
            gain: 1.3,
            psf,
            ..NoisifyParams::default()
        };
        let one = in_pool(1, || noisify(&float, w, h, &p).unwrap());
        let two = in_pool(2, || noisify(&float, w, h, &p).unwrap());
        let five = in_pool(5, || noisify(&float, w, h, &p).unwrap());
        assert_eq!(one, two, "{psf:?}");
        assert_eq!(one, five, "{psf:?}");
        assert_eq!(one.report.photons.to_bits(), two.report.photons.to_bits());
        if psf.is_none() {
            assert!(one.report.overloads > 0, "the 70000-photon pixels overload");
        }
    }
}

#[test]
fn poisson_deviates_are_the_main_programs() {
    // Without calibration error, flicker, read-out noise and PSF the noise image is the main
    // program's counter-based noise image for the same seed.
    let (w, h) = (61, 47);
    let float = image(w, h);
    let p = NoisifyParams {
        seed: 1234,
        calibration: 0.0,
        ..NoisifyParams::default()
    };
    let out = noisify(&float, w, h, &p).unwrap();
    let want = noise_image(
        &float,
        w,
        [0, w - 1, 0, h - 1],
        1234,
        40.0,
        NoiseMode::Counter,
        false,
    );
    assert_eq!(out.noise_image, Some(Pixels::U16(want.pixels)));
    assert_eq!(out.report.photons, want.photons);
    assert_eq!(out.report.overloads, want.overloads);
}

#[test]
fn calibration_pattern_depends_only_on_its_seed() {
    // 10⁸ photons: Poisson noise is 10⁻⁴ relative, the 10 % calibration error dominates.
    let (w, h) = (16, 8);
    let float = vec![1e8f32; w * h];
    let run = |seed, calib| {
        let p = NoisifyParams {
            seed,
            calib_seed: Some(calib),
            calibration: 0.1,
            flicker: 0.0,
            bits: Bits::ThirtyTwo,
            ..NoisifyParams::default()
        };
        match noisify(&float, w, h, &p).unwrap().noise_image {
            Some(Pixels::U32(v)) => v.into_iter().map(f64::from).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        }
    };
    let a = run(1, 7);
    let b = run(2, 7);
    let c = run(1, 8);
    let rel = |x: &[f64], y: &[f64]| {
        x.iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs() / p)
            .fold(0.0, f64::max)
    };
    assert!(
        rel(&a, &b) < 1e-3,
        "the seed changed the pattern: {}",
        rel(&a, &b)
    );
    assert!(
        rel(&a, &c) > 0.05,
        "the calibration seed did not: {}",
        rel(&a, &c)
    );
    // And with flicker on it still does not change (unlike C, NZ4).
    let p = |calib| NoisifyParams {
        seed: 3,
        calib_seed: Some(calib),
        calibration: 0.1,
        flicker: 0.05,
        bits: Bits::ThirtyTwo,
        ..NoisifyParams::default()
    };
    let x = noisify(&float, w, h, &p(7)).unwrap();
    let y = noisify(&float, w, h, &p(8)).unwrap();
    assert_ne!(x.noise_image, y.noise_image);
}

#[test]
fn noiseless_images_and_pgm() {
    let float = [0.0f32, 10.4, 300.9, 70_000.0, -50.0, f32::NAN];
    let p = NoisifyParams {
        scale: 2.0,
        adc: 12.0,
        noise: false,
        ..NoisifyParams::default()
    };
    for mode in [NoiseMode::Counter, NoiseMode::Compat] {
        let out = noisify(&float, 3, 2, &NoisifyParams { mode, ..p.clone() }).unwrap();
        // 2·value + 12, truncated, clipped to 0…65535 (negative and NaN: 0).
        assert_eq!(
            out.int_image,
            Pixels::U16(vec![12, 32, 613, 65535, 0, 0]),
            "{mode:?}"
        );
        assert_eq!(out.pgm, Some(vec![12, 32, 255, 255, 0, 0]));
        assert_eq!(out.noise_image, None);
        assert_eq!(out.report.max_value, 70_000.0);
    }
    // 32 bits: default mode clips at 2³¹−1 (compat at 65535, NZ7).
    let p = NoisifyParams {
        bits: Bits::ThirtyTwo,
        ..p
    };
    let out = noisify(&float, 3, 2, &p).unwrap();
    assert_eq!(out.int_image, Pixels::U32(vec![12, 32, 613, 140_012, 0, 0]));
}

#[test]
fn psf_blurs_the_noiseless_image_in_default_mode() {
    let (w, h) = (9, 9);
    let mut float = vec![0.0f32; w * h];
    float[40] = 1000.0;
    let p = NoisifyParams {
        adc: 0.0,
        calibration: 0.0,
        psf: Some(Psf {
            kind: PsfKind::Gauss,
            fwhm: 1.5,
            radius: 0,
        }),
        ..NoisifyParams::default()
    };
    let out = noisify(&float, w, h, &p).unwrap();
    let Pixels::U16(int) = &out.int_image else {
        panic!()
    };
    assert!(int[40] < 500 && int[39] > 50 && int[31] > 50, "{int:?}");
    let r = out.report.noiseless_psf.unwrap();
    assert_eq!(r.max_photons, Some(1000.0));
    assert_eq!(r.auto_radius, Some(4));
    assert!(out.report.noise_psf.is_some());
    // A photon scale other than 1 goes through the photon image: half the input at scale 2
    // gives the same noiseless image.
    let half: Vec<f32> = float.iter().map(|v| v / 2.0).collect();
    let scaled = noisify(
        &half,
        w,
        h,
        &NoisifyParams {
            scale: 2.0,
            ..p.clone()
        },
    )
    .unwrap();
    assert_eq!(scaled.int_image, out.int_image);
    // The noise image holds about the same photons (far from the edges nothing is lost).
    assert!((out.report.photons - out.report.photons_before_psf).abs() < 1e-6);
    assert!((out.report.photons - 1000.0).abs() < 150.0);
}

#[test]
fn bad_sizes_and_widths_are_errors() {
    let e = noisify(&[1.0; 5], 2, 2, &NoisifyParams::default()).unwrap_err();
    assert!(e.to_string().contains("5 values for a 2×2 image"), "{e}");
    let p = NoisifyParams {
        psf: Some(Psf {
            kind: PsfKind::Gauss,
            fwhm: 0.0,
            radius: 0,
        }),
        ..NoisifyParams::default()
    };
    assert!(noisify(&[1.0; 4], 2, 2, &p).is_err());
    // C skips a PSF of zero width; so does -compat.
    let p = NoisifyParams {
        mode: NoiseMode::Compat,
        ..p
    };
    assert!(
        noisify(&[1.0; 4], 2, 2, &p)
            .unwrap()
            .report
            .noise_psf
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// The command

fn write_floats(path: &Path, values: &[f32]) {
    crate::io::write_float_image(path, values).unwrap();
}

/// Run `nanobragg noisify` in `dir` (paths in `line` relative to it); returns the log.
fn run_in(dir: &Path, line: &str) -> crate::error::Result<String> {
    let argv: Vec<String> = line
        .split_whitespace()
        .map(|a| {
            if a.ends_with(".bin") || a.ends_with(".img") || a.ends_with(".pgm") {
                dir.join(a).to_string_lossy().into_owned()
            } else {
                a.to_string()
            }
        })
        .collect();
    let mut out = Vec::new();
    main(&argv, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn command_writes_c_files_and_log() {
    let dir = scratch("noisify-cmd");
    write_floats(
        &dir.join("in.bin"),
        &[0.0, 1.5, 20.0, 100.0, 3.0, 0.5, 7.0, 9.0],
    );
    let log = run_in(
        &dir,
        "-floatfile in.bin -detpixels_x 4 -seed 3 -pixel 0.172 -distance 120 -Xbeam 1 \
         -intfile i.img -noisefile n.img -pgmfile p.pgm",
    )
    .unwrap();
    let int = std::fs::read(dir.join("i.img")).unwrap();
    assert_eq!(int.len(), 512 + 16);
    let header = String::from_utf8_lossy(&int[..512]);
    assert!(header.starts_with(
        "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n\
         SIZE1=4;\nSIZE2=2;\nPIXEL_SIZE=0.172;\nDISTANCE=120;\nWAVELENGTH=1;\n\
         BEAM_CENTER_X=1;\nBEAM_CENTER_Y=0.172;\nPHI=0;\nOSC_START=0;\nOSC_RANGE=1;\n\
         DETECTOR_SN=000;\nBEAMLINE=fake;\n}\x0c"
    ));
    let pixels: Vec<u16> = int[512..]
        .chunks(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(pixels, [40, 41, 60, 140, 43, 40, 47, 49]);
    let pgm = std::fs::read(dir.join("p.pgm")).unwrap();
    assert_eq!(
        &pgm[..],
        b"P5\n4 2\n# pixels scaled by 1\n255\n()<\x8c+(/1".as_slice()
    );
    assert_eq!(std::fs::read(dir.join("n.img")).unwrap().len(), 512 + 16);
    for line in [
        "noisify - add noise to pixels - James Holton 3-19-16\n",
        "importing 8 pixel intensites: ",
        "  distance=0.12 detsize=0.000688x0.000344  pixel=0.000172 meters (4x2 pixels)\n",
        "  Xbeam=0.001 Ybeam=0.000172\n",
        "  seed: -3\n  calibration noise seed: 123456789\n  calibration_noise = 3 %\n",
        "maximum value in input file: 100 ( 100 on photon scale)\n",
        "writing ",
        "i.img as 8 2-byte integers\n",
        "p.pgm as 1-byte integers\n",
        " photons on noise image (0 overloads)\n",
        "n.img as 2-byte integers\n",
    ] {
        assert!(log.contains(line), "missing {line:?} in\n{log}");
    }
}

#[test]
fn command_header_is_copied_and_retyped() {
    let dir = scratch("noisify-header");
    write_floats(&dir.join("in.bin"), &[5.0; 6]);
    let mut header = crate::suite::smv::header(
        crate::suite::smv::SmvType::UnsignedShort,
        &[
            ("SIZE1", "3".into()),
            ("SIZE2", "2".into()),
            ("PIXEL_SIZE", "0.2".into()),
            ("BEAM_CENTER_Y", "0.1".into()),
        ],
    );
    header.extend_from_slice(&[0; 12]);
    std::fs::write(dir.join("h.img"), &header).unwrap();
    let log = run_in(
        &dir,
        "-header h.img -floatfile in.bin -nonoise -nopgm -intfile i.img",
    )
    .unwrap();
    assert!(
        log.contains("(3x2 pixels)") && log.contains("Ybeam=0.0003\n"),
        "{log}"
    );
    let int = std::fs::read(dir.join("i.img")).unwrap();
    assert_eq!(&int[..512], &header[..512]);
    // -bits 32: the copied header says so (C keeps unsigned_short, NZ7) …
    run_in(
        &dir,
        "-header h.img -floatfile in.bin -nonoise -nopgm -bits 32 -intfile j.img",
    )
    .unwrap();
    let int = std::fs::read(dir.join("j.img")).unwrap();
    assert_eq!(int.len(), 512 + 24);
    assert!(String::from_utf8_lossy(&int[..512]).contains("\nTYPE=long_integer;\n"));
    // … unless -compat.
    run_in(
        &dir,
        "-header h.img -floatfile in.bin -nonoise -nopgm -bits 32 -intfile k.img -compat",
    )
    .unwrap();
    assert_eq!(
        &std::fs::read(dir.join("k.img")).unwrap()[..512],
        &header[..512]
    );
}

#[test]
fn command_malformed_inputs_are_clear_errors() {
    let dir = scratch("noisify-bad");
    write_floats(&dir.join("in.bin"), &[1.0; 12]);
    std::fs::write(dir.join("odd.bin"), [0u8; 10]).unwrap();
    std::fs::write(dir.join("empty.bin"), []).unwrap();
    std::fs::write(dir.join("text.img"), b"hello, not an SMV file").unwrap();
    let mut noisize = crate::suite::smv::header(crate::suite::smv::SmvType::UnsignedShort, &[]);
    noisize.extend_from_slice(&[0; 8]);
    std::fs::write(dir.join("nosize.img"), &noisize).unwrap();
    std::fs::create_dir(dir.join("adir.img")).unwrap();
    for (line, code, needle) in [
        ("-floatfile missing.bin", 1, "missing.bin"),
        (
            "-floatfile odd.bin",
            1,
            "not a whole number of 4-byte floats",
        ),
        ("-floatfile empty.bin", 1, "holds no pixels"),
        ("-floatfile in.bin -detpixels 4", 1, "4x4 = 16 pixels"),
        ("-floatfile in.bin -detpixels_x 5", 1, "rows of 5"),
        ("-floatfile in.bin", 2, "not a square number"),
        (
            "-floatfile in.bin -detpixels_x 4 -header missing.img",
            1,
            "missing.img",
        ),
        (
            "-floatfile in.bin -header text.img",
            1,
            "does not look like an SMV",
        ),
        ("-floatfile in.bin -header nosize.img", 1, "SIZE1"),
        (
            "-floatfile in.bin -detpixels_x 4 -intfile adir.img",
            1,
            "directory",
        ),
        ("-floatfile in.bin -detpixels_x 4 -bits 12", 2, "16 or 32"),
    ] {
        let e = run_in(&dir, line).expect_err(line);
        assert_eq!(e.exit_code(), code, "{line}: {e}");
        assert!(e.to_string().contains(needle), "{line}: {e}");
    }
    // Nothing was written by the failed runs.
    assert!(!dir.join("intimage.img").exists() && !dir.join("image.pgm").exists());
}

#[test]
fn command_compat_other_bits_writes_the_header_tail_only() {
    let dir = scratch("noisify-bits");
    write_floats(&dir.join("in.bin"), &[1.0; 4]);
    let log = run_in(
        &dir,
        "-floatfile in.bin -bits 8 -compat -seed 2 -nopgm -intfile i.img -noisefile n.img",
    )
    .unwrap();
    for name in ["i.img", "n.img"] {
        let file = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(file.len(), 512);
        assert!(file.starts_with(b"SIZE1=2;\nSIZE2=2;\nPIXEL_SIZE=0.1;\n"));
    }
    assert!(
        !log.contains("writing") && log.contains("(0 overloads)"),
        "{log}"
    );
}

#[test]
fn command_help_lists_options() {
    let mut out = Vec::new();
    main(&["-help".to_string()], &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for name in [
        "-psf_fwhm",
        "-readnoi",
        "-calib_seed",
        "-compat",
        "-noiseimage",
    ] {
        assert!(text.contains(name), "{name}");
    }
}
