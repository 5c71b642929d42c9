//! The C transcription of the lattice factor (`examples/port_to_c/`) against the Rust scalar
//! twin it was written from (`nanobragg::physics::lattice`) and against the scalar engine.
//!
//! The C files are compiled with the C compiler the `cc` crate finds (`$CC`, else `cc`, gcc
//! or clang), `-O2 -ffp-contract=off` (the C code calls `fma()` exactly where the twin calls
//! `mul_add`; nothing else may be fused), and run on cases written to its stdin. Measured
//! agreement, asserted here: **bit for bit** for cos(πx), sin(πx), the roots and leading
//! coefficients, one axis's F_latt² and the three-axis F_latt² (both forms) for N = 1…30 and
//! random h, k, l (14 292 values), and for one pixel's sum over the crystal orientations.
//! Against the scalar engine, which uses libm's `sin(πNδ)/sin(πδ)`, that pixel sum, scaled as
//! the engine scales it, gives the engine's f32 pixel value: identical in all 76 pixels
//! measured (N from 1 to 20, mosaic and φ steps); asserted to ≤ 1e-6 relative (1e-12 of the
//! image's peak where a pixel is nearly dark).
//!
//! No C compiler is a failure, not a skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nanobragg::engine::{self, Backend};
use nanobragg::params::{Lattice as Cell, Misset, Params};
use nanobragg::physics::{self, lattice};
use nanobragg::setup::Setup;
use nanobragg::vec3;
use tempfile::TempDir;

/// The host's target triple, from `rustc -vV` (a test has no build-script variables).
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("running rustc -vV");
    let text = String::from_utf8(out.stdout).expect("rustc -vV prints UTF-8");
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// Compile `examples/port_to_c/` into an executable in `dir`.
fn build_port(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/port_to_c");
    let triple = host_triple();
    let compiler = cc::Build::new()
        .target(&triple)
        .host(&triple)
        .opt_level(2)
        .debug(false)
        .cargo_metadata(false)
        .out_dir(dir)
        .std("c99")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .flag("-ffp-contract=off")
        .try_get_compiler()
        .expect("no C compiler found: this test needs one (set $CC, or install cc, gcc or clang)");
    let exe = dir.join("port");
    let status = compiler
        .to_command()
        .arg(source.join("main.c"))
        .arg(source.join("nb_lattice.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-lm")
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "running the C compiler {:?}: {e} (this test needs one: set $CC, or install cc, \
                 gcc or clang)",
                compiler.path()
            )
        });
    assert!(status.success(), "the C port does not compile");
    exe
}

/// Run the port on `script` (one case per line); its output lines.
fn run_port(exe: &Path, script: &str) -> Vec<String> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running the C port");
    let mut stdin = child.stdin.take().expect("stdin");
    let script = script.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().expect("the C port's output");
    writer.join().unwrap().expect("writing the cases");
    assert!(out.status.success(), "the C port failed");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn numbers(line: &str) -> Vec<f64> {
    line.split_whitespace()
        .map(|x| {
            x.parse()
                .unwrap_or_else(|_| panic!("not a number: {x} in {line}"))
        })
        .collect()
}

/// A fixed-seed xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A fractional index: anywhere, on a Bragg peak, on a half-integer, or within 1e-9 of
    /// a peak.
    fn index(&mut self) -> f64 {
        let i = (self.next() % 121) as f64 - 60.0;
        match self.next() % 6 {
            0 => i,
            1 => i + 0.5,
            2 => i + self.uniform(-1e-9, 1e-9),
            _ => self.uniform(-60.0, 60.0),
        }
    }
}

/// Whether two values have the same bits.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

#[test]
fn the_c_lattice_factor_is_the_rust_twin_bit_for_bit() {
    let dir = TempDir::new().unwrap();
    let exe = build_port(dir.path());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut script = String::new();
    let mut expected: Vec<Vec<f64>> = Vec::new();

    // cos(πx), sin(πx) on a grid and at random points of [−½, ½].
    for i in 0..=1000 {
        let x = if i % 2 == 0 {
            -0.5 + i as f64 / 1000.0
        } else {
            rng.uniform(-0.5, 0.5)
        };
        script += &format!("trig {x:?}\n");
        expected.push(vec![lattice::cospi(x), lattice::sinpi(x)]);
    }
    // Kinds, roots and leading coefficients.
    for n in 1..=16 {
        let kind = match lattice::Axis::of(n) {
            lattice::Axis::Odd => 0.0,
            lattice::Axis::TwiceOdd => 1.0,
            lattice::Axis::FourTimes => 2.0,
            lattice::Axis::Ratio => 3.0,
        };
        let roots = lattice::Axis::roots(n);
        script += &format!("roots {n}\n");
        let mut line = vec![kind, roots.len() as f64, lattice::Axis::lead_squared(n)];
        line.extend(roots);
        expected.push(line);
    }
    // One axis, N = 1…30.
    for n in 1..=30 {
        for _ in 0..200 {
            let h = rng.index();
            script += &format!("axis {h:?} {n}\n");
            expected.push(vec![lattice::lattice_factor_axis_chebyshev(h, n as f64)]);
        }
    }
    // Three axes: random N = 1…30 per axis, and one shared N = 1…16 (both forms).
    let mut cases = Vec::new();
    for _ in 0..3000 {
        let n = [0; 3].map(|_| (1 + rng.next() % 30) as f64);
        cases.push(n);
    }
    for n in 1..=16 {
        for _ in 0..100 {
            cases.push([n as f64; 3]);
        }
    }
    let mut shared = 0;
    for n in cases {
        let hkl = [0; 3].map(|_| rng.index());
        script += &format!(
            "lattice {:?} {:?} {:?} {} {} {}\n",
            hkl[0], hkl[1], hkl[2], n[0], n[1], n[2]
        );
        let twin = lattice::Lattice::new(n);
        let mut line = vec![lattice::f_latt_squared(&twin, hkl)];
        if n[0] == n[1] && n[1] == n[2] && twin.axis[0] != lattice::Axis::Ratio {
            line.push(twin.scale * lattice::polynomial_lattice(&twin, hkl.map(lattice::peel)));
            shared += 1;
        }
        expected.push(line);
    }
    assert!(shared >= 1600);

    let got = run_port(&exe, &script);
    assert_eq!(got.len(), expected.len());
    let cases: Vec<&str> = script.lines().collect();
    let mut compared = 0;
    for ((line, want), case) in got.iter().zip(&expected).zip(&cases) {
        let values: Vec<f64> = line
            .split_whitespace()
            .filter(|&x| x != "-")
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(values.len(), want.len(), "{case}: {line}");
        for (&c, &r) in values.iter().zip(want) {
            assert!(same(c, r), "{case}: C {c:e}, Rust {r:e}");
            compared += 1;
        }
    }
    eprintln!("C port and Rust twin: {compared} values, all bit-identical");
}

/// A small image with the scalar engine, whose pixels the C pixel loop recomputes.
fn pixel_case(cells: [f64; 3], cubic: bool, mosaic: bool) -> Params {
    let deg = f64::to_radians;
    let mut p = Params::default();
    p.detector.set_pixels(24, 18);
    p.detector.pixel_size = 0.4e-3;
    p.detector.distance = 50e-3;
    p.crystal.lattice = if cubic {
        Cell::cell(50e-10, 50e-10, 50e-10, deg(90.0), deg(90.0), deg(90.0))
    } else {
        Cell::cell(41e-10, 47e-10, 53e-10, deg(88.0), deg(93.0), deg(97.0))
    };
    p.crystal.misset = Misset::Angles([deg(11.0), deg(-23.0), deg(37.0)]);
    p.crystal.cells = cells;
    p.beam.wavelength = 1.3e-10;
    p.beam.kahn_factor = 0.6;
    p.structure_factors.default_f = 50.0;
    p.sampling.oversample = Some(1);
    if mosaic {
        p.rotation.mosaic_spread = Some(deg(0.4));
        p.rotation.mosaic_domains = Some(3);
        p.rotation.mosaic_seed = 7;
        p.rotation.phi0 = deg(0.3);
        p.rotation.osc = Some(deg(0.4));
        p.rotation.phisteps = Some(2);
    }
    p
}

#[test]
fn the_c_pixel_loop_gives_the_scalar_engines_pixels() {
    let dir = TempDir::new().unwrap();
    let exe = build_port(dir.path());
    let mut rng = Rng(12345);
    let (mut checked, mut identical, mut worst) = (0, 0, 0f64);
    for (cells, cubic, mosaic) in [
        ([5.0, 10.0, 20.0], false, true),
        ([7.0, 7.0, 7.0], true, false),
        ([12.0, 3.0, 1.0], false, true),
        ([16.0, 16.0, 16.0], true, true),
    ] {
        let setup = Setup::new(&pixel_case(cells, cubic, mosaic)).expect("valid parameters");
        assert_eq!(setup.sources.len(), 1);
        assert!(setup.layers.thickness == 0.0 && setup.oversample == 1);
        let image = engine::render(&setup, Backend::Scalar);
        let peak = image.pixels.iter().fold(0f32, |a, &b| a.max(b)) as f64;
        let mut order: Vec<usize> = (0..image.pixels.len()).collect();
        order.sort_by(|&a, &b| image.pixels[b].total_cmp(&image.pixels[a]));
        // The five brightest, two corners and random ones.
        let mut pixels = order[..5].to_vec();
        pixels.extend([0, image.pixels.len() - 1]);
        pixels.extend((0..12).map(|_| (rng.next() % image.pixels.len() as u64) as usize));

        let det = &setup.detector;
        let src = &setup.sources[0];
        let twin = lattice::Lattice::new(setup.crystal.cells);
        let mut script = String::new();
        let mut expected = Vec::new();
        for &i in &pixels {
            let (f, s) = (i % image.width, i / image.width);
            let half = det.pixel_size / 2.0;
            let pos = det.position(
                det.pixel_size * f as f64 + half,
                det.pixel_size * s as f64 + half,
                0.0,
            );
            let (d, airpath) = vec3::unitize(pos);
            script += &format!(
                "pixel {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {} {} {} {}",
                d[0],
                d[1],
                d[2],
                src.incident[0],
                src.incident[1],
                src.incident[2],
                src.wavelength,
                setup.default_f,
                cells[0],
                cells[1],
                cells[2],
                setup.orientations.len()
            );
            // The Rust twin of the C loop: q = (d − î)/λ, h = a·q, F² · F_latt².
            let q = [0, 1, 2].map(|j| (d[j] - src.incident[j]) / src.wavelength);
            let mut sum = 0.0;
            for cell in &setup.orientations {
                for v in cell {
                    script += &format!(" {:?} {:?} {:?}", v[0], v[1], v[2]);
                }
                let hkl = cell.map(|v| vec3::dot(v, q));
                let f = setup.default_f;
                sum += f * f * lattice::f_latt_squared(&twin, hkl);
            }
            script += "\n";
            let polar = physics::polarization(setup.kahn, src.incident, d, det.polar);
            let omega =
                det.pixel_size * det.pixel_size / airpath / airpath * det.close_distance / airpath;
            expected.push((sum, polar, omega, image.pixels[i] as f64));
        }
        let got = run_port(&exe, &script);
        assert_eq!(got.len(), expected.len());
        for (line, (sum, polar, omega, engine)) in got.iter().zip(expected) {
            let c = numbers(line)[0];
            assert!(same(c, sum), "N {cells:?}: C {c:e}, Rust twin {sum:e}");
            // The scalar engine's last steps (one layer of capture 1, no water).
            let value = (setup.scale * c / setup.steps * polar * omega) as f32 as f64;
            let gap = (value - engine).abs();
            identical += usize::from(value == engine);
            if engine > 0.01 * peak {
                worst = worst.max(gap / engine);
            }
            assert!(
                gap <= 1e-6 * engine.abs() + 1e-12 * peak,
                "N {cells:?}: C {value:e}, scalar engine {engine:e}"
            );
            checked += 1;
        }
    }
    eprintln!(
        "{checked} pixels: the C pixel loop gives the scalar engine's f32 value in {identical}, \
         worst relative gap above 1 % of the peak {worst:e}"
    );
}
