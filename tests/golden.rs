//! Golden-image test: runs the `nanobragg` binary on every case of `shared/golden/cases.json`
//! (images made by the reference C nanoBragg) and compares its output images with the golden ones.
//!
//! The golden directory is `$NANOBRAGG_GOLDEN_DIR`, or else `<crate>/../shared/golden`.
//! Run with `cargo test --test golden -- --nocapture` to see the result table.
//!
//! Cases in [`EXPECTED_TO_FAIL`] may fail (XFAIL); every other case must pass. A listed case that
//! passes (XPASS) also fails the test, so the list only ever shrinks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

mod common;
mod scratch;
use common::compare::{
    FloatMetrics, MAX_PIXEL_DIFF, MIN_IDENTICAL_PCT, PixelMatch, float_metrics, float_violations,
    metric_columns, metric_columns_header, pgm_pixels, pixel_match, read_bytes, read_f32,
    run_parallel, smv_pixels, stderr_tail, symlink_dir,
};
use common::golden_dir;

/// Cases allowed to fail, with the reason. Empty: every case passes. A case whose golden image
/// cannot be matched is listed here with why, and an entry that starts passing fails the test.
const EXPECTED_TO_FAIL: &[(&str, &str)] = &[];

/// Output options appended to every case's command line.
const OUTPUT_ARGS: &[&str] = &[
    "-floatfile",
    "float.bin",
    "-intfile",
    "int.img",
    "-noisefile",
    "noise.img",
    "-pgmfile",
    "image.pgm",
    "-noprogress",
    "-quiet",
];

/// One entry of `cases.json`.
#[derive(Clone)]
struct Case {
    name: String,
    args: Vec<String>,
    outputs: Vec<String>,
    compat: bool,
    /// Output kind (`float`, `int`, `noise`, `pgm`) → golden file path relative to the golden dir.
    files: BTreeMap<String, String>,
}

impl Case {
    fn has_output(&self, kind: &str) -> bool {
        self.outputs.iter().any(|o| o == kind)
    }
}

/// Everything measured for one case.
#[derive(Default)]
struct Outcome {
    float: Option<FloatMetrics>,
    int_pgm_pct: Option<f64>,
    noise_pct: Option<f64>,
    failures: Vec<String>,
}

impl Outcome {
    fn record_int_pgm(&mut self, pct: f64) {
        self.int_pgm_pct = Some(self.int_pgm_pct.map_or(pct, |p| p.min(pct)));
    }
}

#[test]
fn golden_cases() {
    let golden = golden_dir();
    let cases = load_cases(&golden);

    let mut problems = unknown_expected_failures(&cases);
    let outcomes = run_all(&golden, &cases);

    println!("{}", table_header());
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let (status, reason) = classify(&case.name, outcome);
        println!("{}", table_row(&case.name, outcome, status, &reason));
        if status == "FAIL" || status == "XPASS" {
            problems.push(format!("{} {status}: {reason}", case.name));
        }
    }

    assert!(
        problems.is_empty(),
        "{} unexpected golden result(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Setup

fn load_cases(golden: &Path) -> Vec<Case> {
    common::case_rows(golden).iter().map(parse_case).collect()
}

fn parse_case(v: &Value) -> Case {
    let strings = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("case {v}: \"{key}\" is not an array"))
            .iter()
            .map(|s| s.as_str().expect("case strings must be strings").to_owned())
            .collect()
    };
    Case {
        name: v["name"].as_str().expect("case without a name").to_owned(),
        args: strings("args"),
        outputs: strings("outputs"),
        compat: v["compat"].as_bool().unwrap_or(false),
        files: v["files"]
            .as_object()
            .unwrap_or_else(|| panic!("case {v}: \"files\" is not an object"))
            .iter()
            .map(|(k, f)| {
                (
                    k.clone(),
                    f.as_str().expect("file paths must be strings").to_owned(),
                )
            })
            .collect(),
    }
}

fn expected_failure(name: &str) -> Option<&'static str> {
    EXPECTED_TO_FAIL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, reason)| *reason)
}

/// Problems for EXPECTED_TO_FAIL entries naming no case.
fn unknown_expected_failures(cases: &[Case]) -> Vec<String> {
    EXPECTED_TO_FAIL
        .iter()
        .filter(|(name, _)| !cases.iter().any(|c| c.name == *name))
        .map(|(name, _)| format!("{name}: listed in EXPECTED_TO_FAIL but no such case exists"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running

/// Runs every case on the worker threads; the result is in case order.
fn run_all(golden: &Path, cases: &[Case]) -> Vec<Outcome> {
    run_parallel(cases, |case| check_case(golden, case))
}

/// Runs one case (plus a `-compat` run when it has a noise image) and compares its images.
fn check_case(golden: &Path, case: &Case) -> Outcome {
    let mut outcome = Outcome::default();
    match run_binary(golden, case, case.compat) {
        Ok(scratch) => {
            compare_main(golden, case, scratch.path(), &mut outcome);
            // A case that is already in compat mode produced its compat noise image here.
            if case.has_output("noise") && case.compat {
                compare_noise(golden, case, scratch.path(), &mut outcome, "");
            }
        }
        Err(reason) => outcome.failures.push(reason),
    }
    if case.has_output("noise") && !case.compat {
        check_compat_noise(golden, case, &mut outcome);
    }
    outcome
}

/// The second, `-compat` run of a noise case: its noise and float images must match C.
fn check_compat_noise(golden: &Path, case: &Case, outcome: &mut Outcome) {
    const PREFIX: &str = "compat run: ";
    let scratch = match run_binary(golden, case, true) {
        Ok(s) => s,
        Err(reason) => return outcome.failures.push(format!("{PREFIX}{reason}")),
    };
    compare_noise(golden, case, scratch.path(), outcome, PREFIX);
    match compare_float(golden, case, scratch.path()) {
        Ok((_, errs)) => outcome
            .failures
            .extend(errs.into_iter().map(|e| format!("{PREFIX}{e}"))),
        Err(e) => outcome.failures.push(format!("{PREFIX}{e}")),
    }
}

/// The command-line arguments for one run of a case.
fn case_args(case: &Case, compat: bool) -> Vec<String> {
    let mut args = case.args.clone();
    args.extend(OUTPUT_ARGS.iter().map(|s| s.to_string()));
    if !case.has_output("noise") {
        args.push("-nonoise".into());
    }
    if !case.has_output("pgm") {
        args.push("-nopgm".into());
    }
    if compat {
        args.push("-compat".into());
    }
    args
}

/// Runs the binary in a fresh scratch directory holding an `inputs` link; returns the directory
/// (removed when dropped), or on a non-zero exit the status and the last lines of stderr.
fn run_binary(golden: &Path, case: &Case, compat: bool) -> Result<TempDir, String> {
    let scratch = make_scratch(golden)?;
    let bin = env!("CARGO_BIN_EXE_nanobragg");
    let output = Command::new(bin)
        .args(case_args(case, compat))
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {bin}: {e}"))?;
    if output.status.success() {
        return Ok(scratch);
    }
    Err(format!(
        "{} ({})",
        output.status,
        stderr_tail(&output.stderr, &output.stdout)
    ))
}

/// A fresh temp directory with `inputs` → golden inputs.
fn make_scratch(golden: &Path) -> Result<TempDir, String> {
    let dir = scratch::scratch_dir("golden");
    let inputs = golden.join("inputs");
    symlink_dir(&inputs, &dir.path().join("inputs")).map_err(|e| {
        format!(
            "cannot link {} into {}: {e}",
            inputs.display(),
            dir.path().display()
        )
    })?;
    Ok(dir)
}

// ---------------------------------------------------------------------------------------------
// Comparing

/// Compares the float, int and PGM images of the main run.
fn compare_main(golden: &Path, case: &Case, scratch: &Path, outcome: &mut Outcome) {
    if case.has_output("float") {
        match compare_float(golden, case, scratch) {
            Ok((metrics, errs)) => {
                outcome.float = Some(metrics);
                outcome.failures.extend(errs);
            }
            Err(e) => outcome.failures.push(e),
        }
    }
    for (kind, file, decode) in [
        ("int", "int.img", smv_pixels as Decoder),
        ("pgm", "image.pgm", pgm_pixels as Decoder),
    ] {
        if !case.has_output(kind) {
            continue;
        }
        match compare_pixels(golden, case, scratch, kind, file, decode) {
            Ok(m) => {
                outcome.record_int_pgm(m.identical_pct);
                if m.identical_pct < MIN_IDENTICAL_PCT || m.max_diff > MAX_PIXEL_DIFF {
                    outcome.failures.push(format!(
                        "{file}: {:.3}% identical (need {MIN_IDENTICAL_PCT}%), max diff {} \
                         (allowed {MAX_PIXEL_DIFF})",
                        m.identical_pct, m.max_diff
                    ));
                }
            }
            Err(e) => outcome.failures.push(e),
        }
    }
}

/// Compares the noise image of a compat-mode run; only the identical fraction is checked.
fn compare_noise(golden: &Path, case: &Case, scratch: &Path, outcome: &mut Outcome, prefix: &str) {
    match compare_pixels(golden, case, scratch, "noise", "noise.img", smv_pixels) {
        Ok(m) => {
            outcome.noise_pct = Some(m.identical_pct);
            if m.identical_pct < MIN_IDENTICAL_PCT {
                outcome.failures.push(format!(
                    "{prefix}noise.img: {:.3}% identical (need {MIN_IDENTICAL_PCT}%)",
                    m.identical_pct
                ));
            }
        }
        Err(e) => outcome.failures.push(format!("{prefix}{e}")),
    }
}

/// Float metrics of a run's `float.bin` and the threshold violations among them.
fn compare_float(
    golden: &Path,
    case: &Case,
    scratch: &Path,
) -> Result<(FloatMetrics, Vec<String>), String> {
    let reference = read_f32(&golden_file(golden, case, "float")?)?;
    let candidate = read_f32(&scratch.join("float.bin"))?;
    if reference.len() != candidate.len() {
        return Err(format!(
            "float.bin: {} pixels, expected {}",
            candidate.len(),
            reference.len()
        ));
    }
    if reference.is_empty() {
        return Err("float.bin: reference image is empty".into());
    }
    let m = float_metrics(&reference, &candidate);
    Ok((m, float_violations(&m)))
}

/// Decodes the pixel data of an integer image file.
type Decoder = fn(&[u8]) -> Result<Vec<i64>, String>;

/// Compares the pixel data of an integer image (`int`, `noise` or `pgm`) with the golden one.
fn compare_pixels(
    golden: &Path,
    case: &Case,
    scratch: &Path,
    kind: &str,
    file: &str,
    decode: Decoder,
) -> Result<PixelMatch, String> {
    let reference = decode(&read_bytes(&golden_file(golden, case, kind)?)?)
        .map_err(|e| format!("golden {file}: {e}"))?;
    let candidate =
        decode(&read_bytes(&scratch.join(file))?).map_err(|e| format!("{file}: {e}"))?;
    if reference.len() != candidate.len() {
        return Err(format!(
            "{file}: {} pixels, expected {}",
            candidate.len(),
            reference.len()
        ));
    }
    Ok(pixel_match(&reference, &candidate))
}

// ---------------------------------------------------------------------------------------------
// Files

/// The golden file of one output kind of a case, as named by its `files` entry.
fn golden_file(golden: &Path, case: &Case, kind: &str) -> Result<PathBuf, String> {
    case.files
        .get(kind)
        .map(|f| golden.join(f))
        .ok_or_else(|| format!("cases.json names no golden {kind} file for {}", case.name))
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// Status (PASS, FAIL, XFAIL, XPASS) and reason of one case.
fn classify(name: &str, outcome: &Outcome) -> (&'static str, String) {
    common::compare::classify(expected_failure(name), &outcome.failures)
}

fn table_header() -> String {
    format!("{:<30} {}", "case", metric_columns_header())
}

fn table_row(name: &str, o: &Outcome, status: &str, reason: &str) -> String {
    format!(
        "{:<30} {}",
        name,
        metric_columns(o.float, o.int_pgm_pct, o.noise_pct, status, reason)
    )
}

/// Under `-compat` the SMV files are nanoBragg.c's byte for byte, header included; by default
/// only the header lines dxtbx needs differ (the beam centre, the distance and the pedestal).
#[test]
fn compat_smv_files_are_c_byte_for_byte() {
    let golden = golden_dir();
    let cases: Vec<Case> = load_cases(&golden)
        .into_iter()
        .filter(|c| c.has_output("int"))
        .collect();
    assert!(
        cases.len() >= 3,
        "golden cases with SMV images: {}",
        cases.len()
    );
    for case in &cases {
        let scratch = run_binary(&golden, case, true).unwrap_or_else(|e| panic!("{e}"));
        for (kind, file) in [("int", "int.img"), ("noise", "noise.img")] {
            if !case.has_output(kind) {
                continue;
            }
            let reference = read_bytes(&golden_file(&golden, case, kind).unwrap()).unwrap();
            let candidate = read_bytes(&scratch.path().join(file)).unwrap();
            assert!(
                reference == candidate,
                "{} {file}: -compat differs from nanoBragg.c's file",
                case.name
            );
        }
        let default = run_binary(&golden, case, false).unwrap_or_else(|e| panic!("{e}"));
        let reference = read_bytes(&golden_file(&golden, case, "int").unwrap()).unwrap();
        let candidate = read_bytes(&default.path().join("int.img")).unwrap();
        let lines = |b: &[u8]| -> Vec<String> {
            let end = b.iter().position(|&c| c == b'}').expect("an SMV header");
            String::from_utf8_lossy(&b[..end])
                .lines()
                .map(str::to_owned)
                .collect()
        };
        let (c_lines, ours) = (lines(&reference), lines(&candidate));
        let changed: Vec<&String> = ours.iter().filter(|l| !c_lines.contains(l)).collect();
        assert!(
            changed.iter().all(|l| [
                "BEAM_CENTER_X=",
                "BEAM_CENTER_Y=",
                "DISTANCE=",
                "ADC_OFFSET="
            ]
            .iter()
            .any(|k| l.starts_with(k))),
            "{}: default-mode header lines other than the dxtbx geometry changed: {changed:?}",
            case.name
        );
        assert!(
            changed.iter().any(|l| l.starts_with("ADC_OFFSET=")),
            "{}: no ADC_OFFSET in the default header",
            case.name
        );
    }
}
