//! DIALS reads what nanobragg writes: the images are loaded with dxtbx (Debian's `dials`
//! package) and processed with DIALS, and what they find is compared with what was simulated.
//!
//! * [`dxtbx_reads_the_simulated_geometry`] renders the direct beam (the 000 reflection of a
//!   small cell, the only spot on the detector) in every convention and loads the SMV, CBF and
//!   NXmx files (NXmx with `--features hdf5`) with dxtbx. The beam centre dxtbx computes must lie
//!   within 0.05 px of the centroid of the rendered spot, and the distance, pixel size,
//!   wavelength and oscillation must be the simulated ones. Geometries a format cannot express
//!   are checked only in the formats that can, and the console must say so for the others.
//! * [`dials_indexes_a_simulated_sweep`] renders a noisy rotation sweep of a triclinic crystal
//!   and runs `dials.import`, `dials.find_spots` and `dials.index` with the beam and detector
//!   fixed at the headers: most spots must index, with positional RMSDs well under a pixel, and
//!   the indexed cell must be the simulated one.
//!
//! * [`fabio_reads_smv_and_cbf_pixel_for_pixel`]: fabio reads the SMV images as written and the
//!   CBF photon counts as the noise image less its pedestal.
//!
//! They need dxtbx, DIALS and fabio, so they are ignored by default; `.ci/run` installs `dials` and runs
//! them with `cargo test --features hdf5 --test dials -- --ignored`. The Python interpreter is
//! `$NANOBRAGG_DIALS_PYTHON`, or `/usr/bin/python3` (Debian's, which has dxtbx).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod scratch;
use scratch::scratch_dir;

/// Largest distance between dxtbx's beam centre and the rendered spot's centroid (pixels).
const MAX_CENTRE_ERROR_PX: f64 = 0.05;
/// Largest error of the detector distance dxtbx reads (mm).
const MAX_DISTANCE_ERROR_MM: f64 = 1e-3;

/// The image formats a geometry is checked in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Smv,
    Cbf,
    Nxmx,
}

const ALL: &[Format] = &[Format::Smv, Format::Cbf, Format::Nxmx];
const NXMX_ONLY: &[Format] = &[Format::Nxmx];

/// One direct-beam geometry.
struct Case {
    name: &'static str,
    /// Convention and detector options.
    args: &'static str,
    /// The formats that can express the geometry (the others must warn).
    formats: &'static [Format],
    /// The sample-to-detector-plane distance, from the options (mm).
    distance_mm: f64,
}

/// A 5 Å cubic cell of 5 Gaussian-shaped cells per side at 1 Å: the first reflections are
/// 11.5° out, off the 256² detector of 0.1 mm pixels at 100 mm, so the direct beam's 000 spot
/// (about six pixels wide at half height) is the only one. `-phi 10 -osc 0.5` makes it a
/// rotation frame.
const CRYSTAL: &str = "-cell 5 5 5 90 90 90 -default_F 10 -N 5 -gauss_xtal -lambda 1.0 \
                       -detpixels 256 -pixel 0.1 -oversample 2 -nonoise -nopgm";
const ROTATION: &str = "-phi 10 -osc 0.5 -phisteps 1";

const CASES: &[Case] = &[
    Case {
        name: "MOSFLM, centred beam",
        args: "-mosflm -distance 100",
        formats: ALL,
        distance_mm: 100.0,
    },
    Case {
        name: "MOSFLM, off-centre beam",
        args: "-mosflm -distance 100 -Xbeam 10.33 -Ybeam 15.17",
        formats: ALL,
        distance_mm: 100.0,
    },
    Case {
        name: "XDS with ORGX/ORGY",
        args: "-xds -distance 120 -ORGX 100.3 -ORGY 160.7",
        formats: ALL,
        distance_mm: 120.0,
    },
    Case {
        name: "DIALS convention (still)",
        args: "-dials -distance 90 -Xbeam 12 -Ybeam 9",
        formats: ALL,
        distance_mm: 90.0,
    },
    Case {
        name: "ADXV (mirrored detector)",
        args: "-adxv -distance 100 -Xbeam 14 -Ybeam 11",
        formats: NXMX_ONLY,
        distance_mm: 100.0,
    },
    Case {
        name: "DENZO",
        args: "-denzo -distance 100 -Xbeam 11 -Ybeam 14",
        formats: ALL,
        distance_mm: 100.0,
    },
    Case {
        name: "CUSTOM vectors",
        args: "-fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 -beam_vector 1 0 0 \
               -pivot sample -close_distance 95 -Xclose 9 -Yclose 11",
        formats: ALL,
        distance_mm: 95.0,
    },
    Case {
        name: "two-theta 15 deg",
        args: "-mosflm -distance 100 -twotheta 15",
        // The beam pivot keeps the beam spot 100 mm out; the plane is at 100·cos 15°.
        formats: NXMX_ONLY,
        distance_mm: 96.592_582_628_906_83,
    },
];

#[test]
#[ignore = "needs DIALS (dxtbx): apt-get install dials, then cargo test --test dials -- --ignored"]
fn dxtbx_reads_the_simulated_geometry() {
    let python = dials_python();
    let mut failures = Vec::new();
    for case in CASES {
        let still = case.name.contains("still");
        let tmp = scratch_dir("dials-geometry");
        let dir = tmp.path();
        let rotation = if still { "" } else { ROTATION };
        let mut args = format!(
            "{CRYSTAL} {rotation} {} -floatfile f.bin -intfile i_001.img -cbffile c_001.cbf",
            case.args
        );
        if cfg!(feature = "hdf5") {
            args.push_str(" -h5file n.h5");
        }
        let out = nanobragg(dir, &args);
        let log = String::from_utf8_lossy(&out.stdout).into_owned();
        let warned = log.contains("cannot express");
        let simple_ok = case.formats.contains(&Format::Smv);
        if warned == simple_ok {
            failures.push(format!(
                "{}: SMV/CBF warning {} but the formats {} express it",
                case.name,
                if warned { "printed" } else { "missing" },
                if simple_ok { "do" } else { "do not" }
            ));
        }
        let centroid = spot_centroid(&dir.join("f.bin"), 256, 256);
        let mut files = Vec::new();
        if simple_ok {
            files.extend(["i_001.img", "c_001.cbf"]);
        }
        if cfg!(feature = "hdf5") {
            files.push("n.h5");
        }
        for file in files {
            let found = describe(&python, &dir.join(file));
            let expected_osc = if still { [0.0, 0.0] } else { [10.0, 0.5] };
            failures.extend(
                geometry_errors(&found, centroid, case.distance_mm, expected_osc)
                    .into_iter()
                    .map(|e| format!("{} ({file}): {e}", case.name)),
            );
            println!(
                "{:<26} {file:<6} {:<16} centre {:>8.3} {:>8.3} (spot {:>8.3} {:>8.3}) distance \
                 {:.4}",
                case.name,
                found["format"].as_str().unwrap_or("?"),
                found["beam_centre_px"][0].as_f64().unwrap_or(f64::NAN),
                found["beam_centre_px"][1].as_f64().unwrap_or(f64::NAN),
                centroid[0],
                centroid[1],
                found["distance_mm"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What dxtbx read that differs from the simulation.
fn geometry_errors(
    found: &Value,
    centroid: [f64; 2],
    distance_mm: f64,
    oscillation: [f64; 2],
) -> Vec<String> {
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut errors = Vec::new();
    let centre = [
        num(&found["beam_centre_px"][0]),
        num(&found["beam_centre_px"][1]),
    ];
    let off = (centre[0] - centroid[0]).hypot(centre[1] - centroid[1]);
    if !at_most(off, MAX_CENTRE_ERROR_PX) {
        errors.push(format!(
            "beam centre {centre:?} px is {off:.3} px from the spot at {centroid:?}"
        ));
    }
    let distance = num(&found["distance_mm"]);
    if !at_most((distance - distance_mm).abs(), MAX_DISTANCE_ERROR_MM) {
        errors.push(format!("distance {distance} mm, simulated {distance_mm}"));
    }
    let checks = [
        ("pixel size", num(&found["pixel_size_mm"][0]), 0.1),
        ("pixel size", num(&found["pixel_size_mm"][1]), 0.1),
        ("wavelength", num(&found["wavelength_a"]), 1.0),
        ("width", num(&found["image_size"][0]), 256.0),
        ("height", num(&found["image_size"][1]), 256.0),
    ];
    for (what, value, expected) in checks {
        if !at_most((value - expected).abs(), 1e-9 * expected) {
            errors.push(format!("{what} {value}, simulated {expected}"));
        }
    }
    let osc = &found["images"][0]["oscillation"];
    let osc = [num(&osc[0]), num(&osc[1])];
    if !(osc
        .iter()
        .zip(oscillation)
        .all(|(a, b)| (a - b).abs() <= 1e-9))
    {
        errors.push(format!("oscillation {osc:?}, simulated {oscillation:?}"));
    }
    errors
}

/// Centroid (pixels from the outer corner of pixel (0, 0), fast and slow) of the brightest spot
/// of a float image: the intensity-weighted mean of the pixel centres within 30 pixels of the
/// brightest pixel. (dxtbx names the outer corner of pixel (0, 0) 0 too, so the centre of
/// pixel i is i + ½.)
fn spot_centroid(path: &Path, width: usize, height: usize) -> [f64; 2] {
    let bytes = fs::read(path).expect("read the float image");
    let pixels: Vec<f64> = bytes
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    assert_eq!(pixels.len(), width * height, "{}", path.display());
    let peak = (0..pixels.len())
        .max_by(|&a, &b| pixels[a].total_cmp(&pixels[b]))
        .expect("a non-empty image");
    let (pf, ps) = ((peak % width) as i64, (peak / width) as i64);
    let (mut sum, mut sf, mut ss) = (0.0, 0.0, 0.0);
    for s in (ps - 30).max(0)..(ps + 31).min(height as i64) {
        for f in (pf - 30).max(0)..(pf + 31).min(width as i64) {
            let v = pixels[s as usize * width + f as usize];
            sum += v;
            sf += v * (f as f64 + 0.5);
            ss += v * (s as f64 + 0.5);
        }
    }
    [sf / sum, ss / sum]
}

/// The sweep: a triclinic cell, Gaussian spots with a little mosaicity, Poisson noise, ten
/// frames of 1° on a 0.172 mm detector at 1 Å.
const SWEEP: &str = "-cell 41 53 67 83 97 104 -misset 17 -31 44 -default_F 1000 -N 12 \
                     -gauss_xtal -mosaic 0.1 -mosaic_domains 5 -lambda 1.0 -distance 120 \
                     -detpixels 512 -pixel 0.172 -phi 0 -osc 1 -phisteps 4 -frames 10 \
                     -oversample 2 -fluence 3e26 -seed 7 -adc 0 -nopgm";
const SWEEP_CELL: &str = "41 53 67 83 97 104";

#[test]
#[ignore = "needs DIALS (dials.import, dials.index): apt-get install dials, then cargo test \
            --test dials -- --ignored"]
fn dials_indexes_a_simulated_sweep() {
    let python = dials_python();
    let tmp = scratch_dir("dials-sweep");
    let dir = tmp.path();
    let mut args =
        format!("{SWEEP} -floatfile f.bin -intfile i.img -noisefile sim.img -cbffile sim.cbf");
    if cfg!(feature = "hdf5") {
        args.push_str(" -h5file sim.h5");
    }
    let out = nanobragg(dir, &args);
    println!(
        "{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("")
    );
    let frames = |ext: &str| -> Vec<PathBuf> {
        (1..=10)
            .map(|i| dir.join(format!("sim_{i:05}.{ext}")))
            .collect()
    };
    let mut sets = vec![("SMV", frames("img")), ("CBF", frames("cbf"))];
    if cfg!(feature = "hdf5") {
        sets.push(("NXmx", vec![dir.join("sim.h5")]));
    }
    let mut failures = Vec::new();
    for (format, images) in sets {
        let work = dir.join(format!("dials-{format}"));
        fs::create_dir(&work).expect("create the DIALS work directory");
        let mut command = Command::new(&python);
        command
            .arg(script("index_sweep.py"))
            .arg(&work)
            .arg(SWEEP_CELL)
            .args(&images);
        let result = command.output().expect("run index_sweep.py");
        assert!(
            result.status.success(),
            "{format}: index_sweep.py failed: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        let found: Value = serde_json::from_slice(&result.stdout).expect("JSON from index_sweep");
        println!("{format}: {found}");
        let num = |k: &str| found[k].as_f64().unwrap_or(f64::NAN);
        if !at_most(0.8, num("fraction")) {
            failures.push(format!(
                "{format}: only {} of spots indexed",
                num("fraction")
            ));
        }
        for key in ["rmsd_x_px", "rmsd_y_px"] {
            if !at_most(num(key), 0.3) {
                failures.push(format!("{format}: {key} = {}", num(key)));
            }
        }
        if !at_most(num("rmsd_z_images"), 0.3) {
            failures.push(format!(
                "{format}: rmsd_z = {} images",
                num("rmsd_z_images")
            ));
        }
        if found["cell_matches"] != Value::Bool(true) {
            failures.push(format!(
                "{format}: indexed cell {} is not the simulated {}",
                found["niggli_cell"], found["simulated_niggli_cell"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `value ≤ limit`; false when either is NaN (a missing value fails its check).
fn at_most(value: f64, limit: f64) -> bool {
    value <= limit
}

#[test]
#[ignore = "needs fabio for the DIALS Python (Debian: python3-fabio); cargo test --test dials -- \
            --ignored"]
fn fabio_reads_smv_and_cbf_pixel_for_pixel() {
    let python = dials_python();
    let tmp = scratch_dir("dials-fabio");
    let dir = tmp.path();
    // Bright enough to overload some pixels of the 16-bit noise image (65535), which the
    // photon counts of the CBF keep.
    nanobragg(
        dir,
        "-cell 30 40 50 90 90 90 -misset 5 7 9 -default_F 300 -N 8 -lambda 1 -distance 60 \
         -detpixels_f 96 -detpixels_s 72 -fluence 1e30 -seed 11 -adc 40 -nopgm \
         -intfile int_001.img -noisefile noise_001.img -cbffile counts_001.cbf",
    );
    let out = Command::new(&python)
        .arg(script("fabio_pixels.py"))
        .args(["int_001.img", "noise_001.img", "counts_001.cbf"].map(|f| dir.join(f)))
        .output()
        .expect("run fabio_pixels.py");
    assert!(
        out.status.success(),
        "fabio_pixels.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let images: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON from fabio_pixels.py"))
        .collect();
    let pixels = |v: &Value| -> Vec<i64> {
        assert_eq!(v["shape"], serde_json::json!([72, 96]), "{}", v["class"]);
        v["pixels"]
            .as_array()
            .expect("pixels")
            .iter()
            .map(|p| p.as_i64().expect("integer pixels"))
            .collect()
    };
    // The SMV files as written: 16-bit little-endian after the header.
    for (image, file) in images.iter().zip(["int_001.img", "noise_001.img"]) {
        let bytes = fs::read(dir.join(file)).expect("read the SMV file");
        let data: Vec<i64> = bytes[bytes.len() - 96 * 72 * 2..]
            .chunks_exact(2)
            .map(|b| i64::from(u16::from_le_bytes([b[0], b[1]])))
            .collect();
        assert_eq!(
            pixels(image),
            data,
            "fabio ({}) misreads {file}",
            image["class"]
        );
    }
    // The CBF holds the noise image's photon counts: the SMV pixel less its 40 pedestal, and
    // beyond 65535 where the 16-bit image clips.
    let (noise, counts) = (pixels(&images[1]), pixels(&images[2]));
    let clipped = noise.iter().filter(|&&n| n == 65535).count();
    assert!(clipped > 0, "the test image has no overloaded pixel");
    for (i, (&n, &c)) in noise.iter().zip(&counts).enumerate() {
        let expected_ok = if n == 65535 {
            c >= 65535 - 40
        } else {
            c == n - 40
        };
        assert!(expected_ok, "pixel {i}: SMV {n}, CBF {c}");
    }
}

/// Runs nanobragg in `dir`; fails the test unless it succeeds.
fn nanobragg(dir: &Path, args: &str) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(args.split_whitespace())
        .arg("-noprogress")
        .current_dir(dir)
        .output()
        .expect("run nanobragg");
    assert!(
        out.status.success(),
        "nanobragg {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The Python interpreter with dxtbx; fails the test (never skips it) without one.
fn dials_python() -> PathBuf {
    let python: PathBuf = std::env::var_os("NANOBRAGG_DIALS_PYTHON")
        .map_or_else(|| "/usr/bin/python3".into(), PathBuf::from);
    let probe = Command::new(&python).args(["-c", "import dxtbx"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "{} cannot import dxtbx: install Debian's dials package (apt-get install dials) or set \
         NANOBRAGG_DIALS_PYTHON",
        python.display()
    );
    python
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/dials")
        .join(name)
}

/// dxtbx's reading of one image file (the JSON line of `geometry.py`).
fn describe(python: &Path, image: &Path) -> Value {
    let out = Command::new(python)
        .arg(script("geometry.py"))
        .arg(image)
        .output()
        .expect("run geometry.py");
    assert!(
        out.status.success(),
        "geometry.py {}: {}",
        image.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from geometry.py")
}
