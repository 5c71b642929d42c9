//! Thread-count determinism on the golden cases: every case of `shared/golden/cases.json`
//! renders to the same bits with 1, 2 and 7 rayon threads, with each engine.
//!
//! The engines promise bit-identical images for any thread count (rows are independent and
//! computed in the same order; reductions are taken per row, then over rows in order). The
//! property tests of `tests/backends.rs` check that on small random parameter sets; this test
//! checks it on the golden command lines, which cover every option group (HKL grids with and
//! without interpolation, mosaicity, φ sweeps, divergence, dispersion, sensor layers, every
//! convention, masks and regions of interest, water, noise).
//!
//! Each case's command line goes through the same public path as the binary
//! (`cli::parse` → `cli::to_job` → `Setup::new`) and is then rendered in-process inside rayon
//! pools of 1, 2 and 7 threads (7 is more threads than the machine has cores, and does not
//! divide the row counts, so rows are split unevenly). For every pool the test compares, bit for
//! bit, what the binary would write: the float image, the 16-bit image (`image::fill_u16` with
//! the automatic or `-scale` scale), the 8-bit image (`image::to_u8` with the PGM scale), the
//! Poisson-noise image with its photon and overload counts (`noise::noise_image` with the
//! job's seed and mode), and the solid-angle sum the console reports. Both engines are checked
//! on the whole image of every case; the 16-bit, 8-bit and noise images are derived from each
//! engine's own float image.
//!
//! Runs: every row of `cases.json` in its own mode (`-compat` where the row says so); the
//! `-compat` runs that `tests/golden.rs` adds — the rows whose golden image depends on a C quirk
//! (`p24_water`, `p32_misset_random`) and every row with a noise image (C's serial noise
//! sequence) — run a second time with `-compat`.
//!
//! The golden directory is `$NANOBRAGG_GOLDEN_DIR`, or else `<crate>/../shared/golden`; the test
//! fails with a message naming the path when it is missing. Input paths of the command lines
//! (`inputs/…`) are resolved in the golden directory, and the structure-factor cache that `-hkl`
//! writes goes to a scratch directory per run (`-dump`), so no run can read another's cache.
//! `cargo test --test determinism -- --nocapture` prints the time per case.

use std::fs;
use std::path::Path;
use std::time::Instant;

use nanobragg::cli::{self, Job, ParseOutcome};
use nanobragg::engine::{self, Backend};
use nanobragg::image;
use nanobragg::noise;
use nanobragg::setup::Setup;

mod common;
mod scratch;
use common::golden_dir;
use scratch::scratch_dir;

/// Thread counts compared; the first is the reference.
const THREADS: [usize; 3] = [1, 2, 7];

/// Rows whose golden image depends on a nanoBragg.c quirk; `tests/golden.rs` also runs them with
/// `-compat`.
const C_QUIRK_GOLDEN: &[&str] = &["p24_water", "p32_misset_random"];

/// One simulation to run: a golden row, in its own mode or with `-compat` added.
struct Run {
    /// Row name, with ` [-compat]` for the added compat runs.
    name: String,
    /// The command line (physics options only, as in `cases.json`).
    args: Vec<String>,
    /// Whether `-compat` is given.
    compat: bool,
}

/// Everything the binary would write for one render, as bits.
#[derive(PartialEq)]
struct Outputs {
    float: Vec<u32>,
    omega_sum: u64,
    int: Vec<u16>,
    pgm: Vec<u8>,
    noise: Vec<u16>,
    counts: Vec<i32>,
    photons: u64,
    overloads: u64,
}

impl Outputs {
    /// The names of the outputs that differ from `other`.
    fn differences(&self, other: &Outputs) -> Vec<&'static str> {
        [
            ("float image", self.float == other.float),
            ("solid-angle sum", self.omega_sum == other.omega_sum),
            ("16-bit image", self.int == other.int),
            ("8-bit image", self.pgm == other.pgm),
            ("noise image", self.noise == other.noise),
            ("photon counts", self.counts == other.counts),
            ("noise photon count", self.photons == other.photons),
            ("noise overload count", self.overloads == other.overloads),
        ]
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(what, _)| what)
        .collect()
    }
}

#[test]
fn golden_cases_are_bit_identical_at_1_2_and_7_threads() {
    let golden = golden_dir();
    let runs = load_runs(&golden);
    let pools: Vec<(usize, rayon::ThreadPool)> = THREADS
        .iter()
        .map(|&n| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("thread pool");
            (n, pool)
        })
        .collect();
    let scratch = scratch_dir("determinism");

    let start = Instant::now();
    let mut problems = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let case_start = Instant::now();
        let dir = scratch.path().join(i.to_string());
        let job = job(&golden, run, &dir);
        let setup =
            Setup::new(&job.params).unwrap_or_else(|e| panic!("{}: setup failed: {e}", run.name));
        let mut timings = Vec::new();
        for backend in Backend::ALL {
            let backend_start = Instant::now();
            let mut reference: Option<Outputs> = None;
            for (threads, pool) in &pools {
                let out = pool.install(|| outputs(&setup, &job, backend));
                match &reference {
                    None => reference = Some(out),
                    Some(r) => {
                        let diff = out.differences(r);
                        if !diff.is_empty() {
                            problems.push(format!(
                                "{} {backend:?}: {} with {threads} threads differ from {} thread",
                                run.name,
                                diff.join(", "),
                                THREADS[0]
                            ));
                        }
                    }
                }
            }
            timings.push(format!(
                "{backend:?} {:.2} s",
                backend_start.elapsed().as_secs_f64()
            ));
        }
        let _ = fs::remove_dir_all(&dir);
        println!(
            "{:<30} {:>4}x{:<4} {} (total {:.2} s)",
            run.name,
            setup.detector.fpixels,
            setup.detector.spixels,
            timings.join(", "),
            case_start.elapsed().as_secs_f64()
        );
    }
    println!(
        "{} runs x {} backends x {} thread counts in {:.1} s",
        runs.len(),
        Backend::ALL.len(),
        THREADS.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} thread-count dependence(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Renders with `backend` in the current rayon pool and derives the binary's other outputs.
fn outputs(setup: &Setup, job: &Job, backend: Backend) -> Outputs {
    let rendered = engine::render(setup, backend);
    let stats = image::stats(setup, &rendered);
    let o = &job.outputs;
    let int_scale = image::int_scale(o.int_scale, &stats);
    let mut int = vec![0u16; rendered.pixels.len()];
    image::fill_u16(setup, &rendered, int_scale, o.adc, 0, &mut int);
    let pgm_scale = image::pgm_scale(o.pgm_scale, &stats, int_scale);
    let pgm = image::to_u8(setup, &rendered, pgm_scale);
    let noisy = noise::noise_image(
        &rendered.pixels,
        rendered.width,
        setup.region.bounds(),
        o.seed,
        o.adc,
        o.noise_mode,
        true,
    );
    Outputs {
        float: rendered.pixels.iter().map(|v| v.to_bits()).collect(),
        omega_sum: rendered.omega_sum.to_bits(),
        int,
        pgm,
        noise: noisy.pixels,
        counts: noisy.counts,
        photons: noisy.photons.to_bits(),
        overloads: noisy.overloads,
    }
}

/// The job of one run, through the binary's own parsing and conversion. Input paths are
/// resolved in the golden directory; the `-hkl` cache is written to `dir`.
fn job(golden: &Path, run: &Run, dir: &Path) -> Job {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let mut argv: Vec<String> = run
        .args
        .iter()
        .map(|a| {
            if a.starts_with("inputs/") {
                golden.join(a).to_string_lossy().into_owned()
            } else {
                a.clone()
            }
        })
        .collect();
    argv.push("-dump".into());
    argv.push(dir.join("Fdump.bin").to_string_lossy().into_owned());
    if run.compat {
        argv.push("-compat".into());
    }
    let args = match cli::parse(&argv) {
        Ok(ParseOutcome::Run(args)) => args,
        Ok(ParseOutcome::Exit { .. }) => panic!("{}: the command line only prints text", run.name),
        Err(e) => panic!("{}: cannot parse the command line: {e}", run.name),
    };
    cli::to_job(&args).unwrap_or_else(|e| panic!("{}: {e}", run.name))
}

/// Every row in its own mode, then the added `-compat` runs.
fn load_runs(golden: &Path) -> Vec<Run> {
    let rows = common::case_rows(golden);
    let mut runs = Vec::new();
    let mut compat_runs = Vec::new();
    for row in rows {
        let name = row["name"]
            .as_str()
            .expect("case without a name")
            .to_owned();
        let args: Vec<String> = row["args"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: \"args\" is not an array"))
            .iter()
            .map(|s| s.as_str().expect("arguments must be strings").to_owned())
            .collect();
        let compat = row["compat"].as_bool().unwrap_or(false);
        let noise = row["outputs"]
            .as_array()
            .is_some_and(|o| o.iter().any(|k| k == "noise"));
        if !compat && (noise || C_QUIRK_GOLDEN.contains(&name.as_str())) {
            compat_runs.push(Run {
                name: format!("{name} [-compat]"),
                args: args.clone(),
                compat: true,
            });
        }
        runs.push(Run { name, args, compat });
    }
    for name in C_QUIRK_GOLDEN {
        assert!(
            runs.iter().any(|r| r.name == *name),
            "C_QUIRK_GOLDEN names {name}, which is not a case"
        );
    }
    runs.extend(compat_runs);
    runs
}
