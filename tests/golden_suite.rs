//! Golden test of the suite subcommands: runs `nanobragg <program> <command…>` on every case of
//! `shared/golden_suite/cases.json` (outputs of the C noisify, nonBragg and nearBragg) and
//! compares every kept output with C's.
//!
//! The golden directory is `$NANOBRAGG_GOLDEN_SUITE_DIR`, or else `<crate>/../shared/golden_suite`.
//! Run with `cargo test --test golden_suite -- --nocapture` to see the result table.
//!
//! Each run happens in a fresh scratch directory (removed afterwards, pass or fail) that holds
//! `inputs` → the golden inputs and a writable copy of the case's `stage` files. The command is
//! the case's `command` with `-compat` appended when the case says `compat`. Cases without
//! `compat` that keep a noise image run a second time with `-compat`: default mode draws its
//! noise from counter-based streams, so only the compat run can reproduce C's noise image. The
//! other outputs of those cases are measured on the first (default-mode) run, and checked again
//! on the compat run.
//!
//! What is compared (thresholds shared with `tests/golden.rs`, in `common/compare.rs`):
//! - float images (`float.bin`, `sin.bin`, `cos.bin`): correlation, sum ratio, and the worst
//!   relative error of the pixels brighter (in magnitude) than 1 % of the peak;
//! - SMV images (`int.img`, `noise.img`; 16- or 32-bit, sized from the file length and
//!   SIZE1×SIZE2): identical pixels and the largest difference, and the header key by key: every
//!   key C writes must have C's value; extra keys are allowed in default mode only;
//! - PGM (`image.pgm`, stored trimmed for nonBragg, NB1): the header text and the first W·H bytes;
//! - `output.stol`: the same number of lines, every value within a relative tolerance, except
//!   the median and MAD columns C never computes (NB4).
//!
//! Stdout is not compared (C's logs print addresses and timings), but every run must exit 0.
//!
//! Cases in [`EXPECTED_TO_FAIL`] may fail (XFAIL); every other case must pass. A listed case that
//! passes (XPASS) also fails the test, so the list only ever shrinks.
//!
//! Development aid, never set by CI: `GOLDEN_SUITE_ONLY=<substring>` runs only the cases whose
//! name contains the substring (the test says so when it prints the table).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

mod common;
mod scratch;
use common::compare::{
    FloatMetrics, Pgm, Smv, classify, compare_float_bytes, float_violations, metric_columns,
    metric_columns_header, pixel_match, read_bytes, run_parallel, stderr_tail, symlink_dir,
};
use common::golden_suite_dir;

/// Cases allowed to fail, with the reason. Empty: every case passes. A case whose golden output
/// cannot be matched is listed here with why, and an entry that starts passing fails the test.
const EXPECTED_TO_FAIL: &[(&str, &str)] = &[];

/// The development aid that limits the run to the cases whose name contains its value.
const ONLY_VAR: &str = "GOLDEN_SUITE_ONLY";

/// The subcommands the cases' `program` names map to (lower-cased).
const SUBCOMMANDS: [&str; 3] = ["noisify", "nonbragg", "nearbragg"];

/// `output.stol`: the largest relative difference of a value.
const STOL_MAX_REL: f64 = 1e-4;
/// `output.stol`: differences up to this are accepted whatever the value (values near 0).
const STOL_MAX_ABS: f64 = 1e-9;
/// `output.stol` columns (0-based) not compared: median and MAD, which nonBragg.c never
/// computes (NB4; the b12 case's notes).
const STOL_UNCOMPUTED_COLUMNS: [usize; 2] = [3, 4];

/// One entry of `cases.json`.
#[derive(Clone)]
struct Case {
    /// The subcommand (the case's `program`, lower-cased).
    program: String,
    name: String,
    /// The complete argument list C ran (behaviour and output options).
    command: Vec<String>,
    outputs: Vec<String>,
    compat: bool,
    /// Output kind → golden file path relative to the golden directory.
    files: BTreeMap<String, String>,
    /// File name in the working directory → path (relative to the golden directory) to copy there.
    stage: BTreeMap<String, String>,
}

impl Case {
    fn has_output(&self, kind: &str) -> bool {
        self.outputs.iter().any(|o| o == kind)
    }

    /// Whether the noise image is compared on a second, `-compat` run.
    fn noise_on_compat_run(&self) -> bool {
        !self.compat && self.has_output("noise")
    }
}

/// How the binary ran: default mode, or with `-compat` appended.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Default,
    Compat,
}

/// What the comparison of one output measured.
#[derive(Debug, Default)]
struct Measured {
    float: Option<FloatMetrics>,
    /// Identical pixels (%), for SMV and PGM images.
    identical_pct: Option<f64>,
    failures: Vec<String>,
}

/// Everything measured for one case.
#[derive(Default)]
struct Outcome {
    /// The worst metrics over the float, sin and cos images.
    float: Option<FloatMetrics>,
    /// The lowest identical fraction of the int and PGM images.
    int_pgm_pct: Option<f64>,
    noise_pct: Option<f64>,
    failures: Vec<String>,
}

impl Outcome {
    /// Adds the measurement of output `kind`; `record` puts its metrics in the table columns.
    fn add(&mut self, kind: &str, m: Measured, record: bool, prefix: &str) {
        if record {
            if let Some(f) = m.float {
                self.float = Some(self.float.map_or(f, |g| g.worst(f)));
            }
            if let Some(pct) = m.identical_pct {
                let slot = if kind == "noise" {
                    &mut self.noise_pct
                } else {
                    &mut self.int_pgm_pct
                };
                *slot = Some(slot.map_or(pct, |p| p.min(pct)));
            }
        }
        self.failures
            .extend(m.failures.into_iter().map(|f| format!("{prefix}{f}")));
    }
}

#[test]
fn golden_suite_cases() {
    let golden = golden_suite_dir();
    let all = load_cases(&golden);
    let mut problems = unknown_expected_failures(&all);
    problems.extend(all.iter().filter_map(case_problem));

    let cases: Vec<Case> = match std::env::var(ONLY_VAR) {
        Ok(only) => {
            let picked: Vec<Case> = all
                .iter()
                .filter(|c| c.name.contains(&only))
                .cloned()
                .collect();
            println!(
                "{ONLY_VAR}={only}: running {} of {} cases (development aid; unset it for the \
                 full test)",
                picked.len(),
                all.len()
            );
            assert!(!picked.is_empty(), "{ONLY_VAR}={only} matches no case");
            picked
        }
        Err(_) => all,
    };
    let outcomes = run_parallel(&cases, |case| check_case(&golden, case));

    println!("{}", table_header());
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let (status, reason) = classify(expected_failure(&case.name), &outcome.failures);
        println!("{}", table_row(case, outcome, status, &reason));
        if status == "FAIL" || status == "XPASS" {
            problems.push(format!("{} {status}: {reason}", case.name));
        }
    }

    assert!(
        problems.is_empty(),
        "{} unexpected golden suite result(s):\n  {}",
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
    let map = |key: &str| -> BTreeMap<String, String> {
        match &v[key] {
            Value::Null => BTreeMap::new(),
            Value::Object(m) => m
                .iter()
                .map(|(k, f)| {
                    let f = f.as_str().expect("file paths must be strings");
                    (k.clone(), f.to_owned())
                })
                .collect(),
            _ => panic!("case {v}: \"{key}\" is not an object"),
        }
    };
    Case {
        program: v["program"]
            .as_str()
            .expect("case without a program")
            .to_ascii_lowercase(),
        name: v["name"].as_str().expect("case without a name").to_owned(),
        command: strings("command"),
        outputs: strings("outputs"),
        compat: v["compat"].as_bool().unwrap_or(false),
        files: map("files"),
        stage: map("stage"),
    }
}

/// What is wrong with a case's entry itself, if anything.
fn case_problem(case: &Case) -> Option<String> {
    if !SUBCOMMANDS.contains(&case.program.as_str()) {
        return Some(format!("{}: unknown program {}", case.name, case.program));
    }
    let missing: Vec<&str> = case
        .outputs
        .iter()
        .filter(|k| !case.files.contains_key(*k))
        .map(String::as_str)
        .collect();
    (!missing.is_empty()).then(|| format!("{}: no golden file for {missing:?}", case.name))
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

/// Runs one case (plus a `-compat` run when its noise image needs one) and compares its outputs.
fn check_case(golden: &Path, case: &Case) -> Outcome {
    let mut outcome = Outcome::default();
    let mode = if case.compat {
        Mode::Compat
    } else {
        Mode::Default
    };
    match run_case(golden, case, mode) {
        Ok(scratch) => {
            for kind in &case.outputs {
                if kind == "noise" && case.noise_on_compat_run() {
                    continue;
                }
                let m = compare_kept(golden, case, kind, scratch.path(), mode);
                outcome.add(kind, m, true, "");
            }
        }
        Err(reason) => outcome.failures.push(reason),
    }
    if case.noise_on_compat_run() {
        const PREFIX: &str = "compat run: ";
        match run_case(golden, case, Mode::Compat) {
            Ok(scratch) => {
                for kind in &case.outputs {
                    let m = compare_kept(golden, case, kind, scratch.path(), Mode::Compat);
                    outcome.add(kind, m, kind == "noise", PREFIX);
                }
            }
            Err(reason) => outcome.failures.push(format!("{PREFIX}{reason}")),
        }
    }
    outcome
}

/// The arguments of one run: the subcommand, the case's command, `-compat` in compat mode.
fn run_args(case: &Case, mode: Mode) -> Vec<String> {
    let mut args = vec![case.program.clone()];
    args.extend(case.command.iter().cloned());
    if mode == Mode::Compat {
        args.push("-compat".into());
    }
    args
}

/// Runs the binary in a fresh scratch directory holding `inputs` and the staged files; returns
/// the directory (removed when dropped), or on a non-zero exit the status and the stderr tail.
fn run_case(golden: &Path, case: &Case, mode: Mode) -> Result<TempDir, String> {
    let scratch = make_scratch(golden, case)?;
    let output = run_binary(&run_args(case, mode), scratch.path())?;
    if output.status.success() {
        return Ok(scratch);
    }
    Err(format!(
        "{} ({})",
        output.status,
        stderr_tail(&output.stderr, &output.stdout)
    ))
}

fn run_binary(args: &[String], dir: &Path) -> Result<Output, String> {
    let bin = env!("CARGO_BIN_EXE_nanobragg");
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {bin}: {e}"))
}

/// A fresh temp directory with `inputs` → golden inputs and writable copies of the stage files.
fn make_scratch(golden: &Path, case: &Case) -> Result<TempDir, String> {
    let dir = scratch::scratch_dir("golden-suite");
    let inputs = golden.join("inputs");
    symlink_dir(&inputs, &dir.path().join("inputs")).map_err(|e| {
        format!(
            "cannot link {} into {}: {e}",
            inputs.display(),
            dir.path().display()
        )
    })?;
    for (name, source) in &case.stage {
        let (from, to) = (golden.join(source), dir.path().join(name));
        fs::copy(&from, &to)
            .and_then(|_| {
                // The golden files are read-only; the staged copy is the program's to rewrite.
                let mut perms = fs::metadata(&to)?.permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                perms.set_readonly(false);
                fs::set_permissions(&to, perms)
            })
            .map_err(|e| format!("cannot stage {} as {}: {e}", from.display(), to.display()))?;
    }
    Ok(dir)
}

// ---------------------------------------------------------------------------------------------
// Comparing

/// Compares the output `kind` a run left in `scratch` with its golden file.
fn compare_kept(golden: &Path, case: &Case, kind: &str, scratch: &Path, mode: Mode) -> Measured {
    let Some(rel) = case.files.get(kind) else {
        return failed(format!("cases.json names no golden {kind} file"));
    };
    let reference_path = golden.join(rel);
    let Some(file) = reference_path.file_name().map(|f| f.to_string_lossy()) else {
        return failed(format!("golden {kind} path {rel} has no file name"));
    };
    let reference = match read_bytes(&reference_path) {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    match read_bytes(&scratch.join(&*file)) {
        Ok(candidate) => compare_output(kind, &file, &reference, &candidate, mode),
        Err(e) => failed(format!("{file}: not written ({e})")),
    }
}

fn failed(reason: String) -> Measured {
    Measured {
        failures: vec![reason],
        ..Measured::default()
    }
}

/// Compares one output of kind `kind` (named `file`) with C's.
fn compare_output(
    kind: &str,
    file: &str,
    reference: &[u8],
    candidate: &[u8],
    mode: Mode,
) -> Measured {
    match kind {
        "float" | "sin" | "cos" => compare_float(file, reference, candidate),
        "int" | "noise" => compare_smv(file, reference, candidate, mode),
        "pgm" => compare_pgm(file, reference, candidate),
        "stol" => compare_stol(file, reference, candidate),
        _ => failed(format!("{file}: unknown output kind {kind}")),
    }
}

fn compare_float(file: &str, reference: &[u8], candidate: &[u8]) -> Measured {
    match compare_float_bytes(file, reference, candidate) {
        Ok(m) => Measured {
            float: Some(m),
            identical_pct: None,
            failures: float_violations(&m)
                .into_iter()
                .map(|v| format!("{file}: {v}"))
                .collect(),
        },
        Err(e) => failed(e),
    }
}

fn compare_smv(file: &str, reference: &[u8], candidate: &[u8], mode: Mode) -> Measured {
    let reference = match Smv::parse(reference) {
        Ok(s) => s,
        Err(e) => return failed(format!("golden {file}: {e}")),
    };
    let candidate = match Smv::parse(candidate) {
        Ok(s) => s,
        Err(e) => return failed(format!("{file}: {e}")),
    };
    let mut m = Measured::default();
    if candidate.bytes_per_pixel != reference.bytes_per_pixel {
        m.failures.push(format!(
            "{file}: {}-bit pixels, expected {}-bit",
            8 * candidate.bytes_per_pixel,
            8 * reference.bytes_per_pixel
        ));
    } else if candidate.pixels.len() != reference.pixels.len() {
        m.failures.push(format!(
            "{file}: {} pixels, expected {}",
            candidate.pixels.len(),
            reference.pixels.len()
        ));
    } else {
        let pm = pixel_match(&reference.pixels, &candidate.pixels);
        m.identical_pct = Some(pm.identical_pct);
        m.failures.extend(pm.violation(file));
    }
    m.failures.extend(compare_headers(
        file,
        &reference.fields,
        &candidate.fields,
        mode,
    ));
    m
}

/// The SMV header compared key by key: every key of C's header must be there with C's value
/// (the same text, or the same number); in compat mode no other key may be there.
fn compare_headers(
    file: &str,
    reference: &[(String, String)],
    candidate: &[(String, String)],
    mode: Mode,
) -> Option<String> {
    let find = |fields: &[(String, String)], key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_owned())
    };
    let same = |a: &str, b: &str| {
        a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
    };
    let mut diffs: Vec<String> = reference
        .iter()
        .filter_map(|(key, c_value)| match find(candidate, key) {
            None => Some(format!("no {key}")),
            Some(v) if !same(&v, c_value.trim()) => {
                Some(format!("{key}={v} (C: {})", c_value.trim()))
            }
            Some(_) => None,
        })
        .collect();
    if mode == Mode::Compat {
        diffs.extend(
            candidate
                .iter()
                .filter(|(key, _)| find(reference, key).is_none())
                .map(|(key, v)| format!("extra {key}={v}")),
        );
    }
    (!diffs.is_empty()).then(|| format!("{file} header: {}", diffs.join(", ")))
}

/// PGM: the header text and the first W·H bytes (C's golden file is trimmed to them, NB1).
fn compare_pgm(file: &str, reference: &[u8], candidate: &[u8]) -> Measured {
    let reference = match Pgm::parse(reference) {
        Ok(p) => p,
        Err(e) => return failed(format!("golden {file}: {e}")),
    };
    let candidate = match Pgm::parse(candidate) {
        Ok(p) => p,
        Err(e) => return failed(format!("{file}: {e}")),
    };
    let mut m = Measured::default();
    if candidate.header != reference.header {
        m.failures.push(format!(
            "{file}: header {:?}, C has {:?}",
            candidate.header, reference.header
        ));
    }
    let images = reference
        .image()
        .map_err(|e| format!("golden {file}: {e}"))
        .and_then(|r| Ok((r, candidate.image().map_err(|e| format!("{file}: {e}"))?)));
    match images {
        Ok((r, c)) if r.len() == c.len() => {
            let widen = |b: &[u8]| -> Vec<i64> { b.iter().map(|&v| i64::from(v)).collect() };
            let pm = pixel_match(&widen(r), &widen(c));
            m.identical_pct = Some(pm.identical_pct);
            m.failures.extend(pm.violation(file));
        }
        // Different sizes: the header comparison has said so.
        Ok(_) => {}
        Err(e) => m.failures.push(e),
    }
    m
}

/// `output.stol`: the same lines, each compared value within [`STOL_MAX_REL`] (or
/// [`STOL_MAX_ABS`]), the uncomputed columns skipped.
fn compare_stol(file: &str, reference: &[u8], candidate: &[u8]) -> Measured {
    let parse = |bytes: &[u8]| -> Result<Vec<Vec<f64>>, String> {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                line.split_whitespace()
                    .map(|w| {
                        w.parse::<f64>()
                            .map_err(|_| format!("line {}: '{w}' is not a number", i + 1))
                    })
                    .collect()
            })
            .collect()
    };
    let reference = match parse(reference) {
        Ok(r) => r,
        Err(e) => return failed(format!("golden {file}: {e}")),
    };
    let candidate = match parse(candidate) {
        Ok(c) => c,
        Err(e) => return failed(format!("{file}: {e}")),
    };
    if candidate.len() != reference.len() {
        return failed(format!(
            "{file}: {} lines, expected {}",
            candidate.len(),
            reference.len()
        ));
    }
    let mut bad = Vec::new();
    for (i, (r, c)) in reference.iter().zip(&candidate).enumerate() {
        if r.len() != c.len() {
            bad.push(format!(
                "line {}: {} columns, expected {}",
                i + 1,
                c.len(),
                r.len()
            ));
            continue;
        }
        for (j, (&rv, &cv)) in r.iter().zip(c).enumerate() {
            let diff = (cv - rv).abs();
            let close = diff <= STOL_MAX_REL * rv.abs() || diff <= STOL_MAX_ABS;
            if !STOL_UNCOMPUTED_COLUMNS.contains(&j) && !close {
                bad.push(format!("line {} column {}: {cv} (C: {rv})", i + 1, j + 1));
            }
        }
    }
    let mut m = Measured::default();
    if let Some(first) = bad.first() {
        m.failures.push(format!(
            "{file}: {} value(s) off by more than {STOL_MAX_REL:e} relative (first: {first})",
            bad.len()
        ));
    }
    m
}

// ---------------------------------------------------------------------------------------------
// Reporting

fn table_header() -> String {
    format!(
        "{:<9} {:<34} {}",
        "program",
        "case",
        metric_columns_header()
    )
}

fn table_row(case: &Case, o: &Outcome, status: &str, reason: &str) -> String {
    format!(
        "{:<9} {:<34} {}",
        case.program,
        case.name,
        metric_columns(o.float, o.int_pgm_pct, o.noise_pct, status, reason)
    )
}

// ---------------------------------------------------------------------------------------------
// The command lines themselves

/// Option names each subcommand's help must show: the options `golden_suite/README.md`
/// documents for the program, separated by spaces (every spelling listed there is one the
/// program accepts).
const HELP_OPTIONS: [(&str, &str); 3] = [
    (
        "noisify",
        "-floatfile -floatimage -detpixels -detpixels_x -detpixels_y -header -distance \
         -detsize -pixel -Xbeam -Ybeam -lambda -phi -osc -fluence -scale -seed \
         -calibration -calib_seed -flicker -readout -nonoise -gain -adc -bits -psf \
         -psf_fwhm -psf_radius -intfile -noisefile -pgmfile -nopgm",
    ),
    (
        "nonbragg",
        "-stol -4stol -Q -samplesize -sample_thick -density -MW -molecules -lambda \
         -energy -fluence -flux -exposure -beamsize -dispersion -dispsteps -divergence \
         -hdivrange -vdivrange -hdivstep -vdivstep -hdivsteps -vdivsteps -divsteps \
         -round_div -square_div -source_distance -sourcefile -polar -nopolar \
         -polar_vector -distance -close_distance -Xbeam -Ybeam -Xclose -Yclose -ORGX \
         -ORGY -pivot -detector_rotx -detector_roty -detector_rotz -twotheta \
         -twotheta_axis -fdet_vector -sdet_vector -beam_vector -detsize -detpixels -pixel \
         -curved_det -point_pixel -oversample -roi -floatfile -intfile -noisefile \
         -pgmfile -pgmscale -scale -adc -nonoise -seed -Fmap -img -stolout -ignore -gain",
    ),
    (
        "nearbragg",
        "-file -source_distance -source_depth -depthsteps -lambda -energy -dispersion \
         -dispsteps -divergence -hdivrange -vdivrange -divsteps -fluence -distance \
         -detsize -detpixels -pixel -Xbeam -Ybeam -twotheta -spindle_axis -fdet_vector \
         -sdet_vector -odet_vector -pix0_vector -curved_det -point_pixel -oversample -roi \
         -floatfile -intfile -sinfile -cosfile -coherent -accumulate -scale -printout \
         -noprogress",
    ),
];

/// `-help` exits 0 and shows every documented option name (as a word of the help text).
#[test]
fn subcommand_help_lists_documented_options() {
    let dir = scratch::scratch_dir("golden-suite-help");
    let mut problems = Vec::new();
    for (program, names) in HELP_OPTIONS {
        let args = [program, "-help"].map(str::to_owned);
        let output = run_binary(&args, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        if !output.status.success() {
            problems.push(format!(
                "{program} -help: {} ({})",
                output.status,
                stderr_tail(&output.stderr, &output.stdout)
            ));
            continue;
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let words: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '|')
            .collect();
        let missing: Vec<&str> = names
            .split_whitespace()
            .filter(|n| !words.contains(n))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("{program} -help does not show {missing:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A misspelt option is a usage error (exit 2) that names the option meant.
#[test]
fn subcommand_unknown_option_is_a_usage_error() {
    let dir = scratch::scratch_dir("golden-suite-usage");
    let mut problems = Vec::new();
    for program in SUBCOMMANDS {
        let args = [program, "-distnace", "100"].map(str::to_owned);
        let output = run_binary(&args, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(2) || !stderr.contains("did you mean -distance") {
            problems.push(format!(
                "{program} -distnace 100: {} ({}), expected exit 2 and \"did you mean -distance\"",
                output.status,
                stderr_tail(&output.stderr, &output.stdout)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The comparison itself, on the golden files (needs no subcommand)

/// Every golden file matches itself on every metric, and each perturbed copy fails with the
/// failure it was made to cause; the changes C's files may have and ours need not (the PGM
/// overrun, the uncomputed `output.stol` columns) still pass.
#[test]
fn comparison_accepts_golden_files_and_rejects_perturbed_copies() {
    let golden = golden_suite_dir();
    let mut problems = Vec::new();
    let mut perturbations = 0;
    for case in load_cases(&golden) {
        for kind in &case.outputs {
            let rel = &case.files[kind];
            let path = golden.join(rel);
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let what = format!("{} {file}", case.name);
            for mode in [Mode::Default, Mode::Compat] {
                let m = compare_output(kind, &file, &bytes, &bytes, mode);
                if !m.failures.is_empty() {
                    problems.push(format!("{what} vs itself ({mode:?}): {:?}", m.failures));
                }
                if let Some(f) = m.float
                    && !(f.correlation >= 0.999_999_999
                        && f.sum_ratio == 1.0
                        && f.worst_rel_err == 0.0)
                {
                    problems.push(format!("{what} vs itself: {f:?}"));
                }
                if m.identical_pct.is_some_and(|p| p != 100.0) {
                    problems.push(format!(
                        "{what} vs itself: {:?}% identical",
                        m.identical_pct
                    ));
                }
            }
            for (change, copy, expect) in perturbed(kind, &bytes) {
                perturbations += 1;
                let m = compare_output(kind, &file, &bytes, &copy, Mode::Compat);
                let all = m.failures.join("; ");
                match expect {
                    Some(needle) if m.failures.is_empty() || !all.contains(needle) => problems
                        .push(format!(
                            "{what} with {change}: expected a failure naming \"{needle}\", got \
                         {:?}",
                            m.failures
                        )),
                    None if !m.failures.is_empty() => problems.push(format!(
                        "{what} with {change}: expected a pass, got {:?}",
                        m.failures
                    )),
                    _ => {}
                }
            }
        }
    }
    println!("compared the golden files with themselves and {perturbations} perturbed copies");
    assert!(
        perturbations > 200,
        "only {perturbations} perturbations tried"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The header comparison: C's keys must all match in both modes, extra keys only in default.
#[test]
fn header_comparison_rules() {
    let fields = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let c = fields(&[("SIZE1", "128"), ("DISTANCE", "100"), ("BEAMLINE", "fake")]);
    let extra = fields(&[
        ("SIZE1", "128"),
        ("DISTANCE", "100.0"),
        ("BEAMLINE", "fake"),
        ("ADC_OFFSET", "40"),
    ]);
    let changed = fields(&[("SIZE1", "128"), ("DISTANCE", "101"), ("BEAMLINE", "fake")]);
    let missing = fields(&[("SIZE1", "128"), ("DISTANCE", "100")]);
    assert_eq!(compare_headers("x", &c, &extra, Mode::Default), None);
    let strict = compare_headers("x", &c, &extra, Mode::Compat).unwrap();
    assert!(strict.contains("extra ADC_OFFSET=40"), "{strict}");
    for mode in [Mode::Default, Mode::Compat] {
        let d = compare_headers("x", &c, &changed, mode).unwrap();
        assert!(d.contains("DISTANCE=101 (C: 100)"), "{d}");
        let d = compare_headers("x", &c, &missing, mode).unwrap();
        assert!(d.contains("no BEAMLINE"), "{d}");
    }
}

/// Perturbed copies of a golden file of kind `kind`: (what changed, the bytes, the text the
/// failure must contain, or `None` where the copy must pass).
fn perturbed(kind: &str, bytes: &[u8]) -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    match kind {
        "float" | "sin" | "cos" => perturbed_float(bytes),
        "int" | "noise" => perturbed_smv(bytes),
        "pgm" => perturbed_pgm(bytes),
        "stol" => perturbed_stol(bytes),
        _ => panic!("unknown output kind {kind}"),
    }
}

fn perturbed_float(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let pixels: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let encode = |p: &[f32]| -> Vec<u8> { p.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let mut out = Vec::new();

    let peak = (0..pixels.len())
        .max_by(|&a, &b| pixels[a].abs().total_cmp(&pixels[b].abs()))
        .unwrap();
    let mut one = pixels.clone();
    one[peak] *= 1.001;
    out.push((
        "the peak pixel 0.1 % off",
        encode(&one),
        Some("worst rel err"),
    ));

    let scaled: Vec<f32> = pixels.iter().map(|v| v * (1.0 + 1e-4)).collect();
    out.push((
        "every pixel 1e-4 brighter",
        encode(&scaled),
        Some("sum ratio"),
    ));

    let n = pixels.len() as f64;
    let mean = pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let sd = (pixels
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    // Alternating ±1 % of the spread: the sum barely moves, the correlation drops to ~1 - 5e-5.
    let noisy: Vec<f32> = pixels
        .iter()
        .enumerate()
        .map(|(i, &v)| v + (if i % 2 == 0 { 0.01 } else { -0.01 } * sd) as f32)
        .collect();
    out.push((
        "±1 % of the spread on every pixel",
        encode(&noisy),
        Some("correlation"),
    ));

    out.push((
        "one pixel fewer",
        bytes[..bytes.len() - 4].to_vec(),
        Some("pixels, expected"),
    ));
    out
}

fn perturbed_smv(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let smv = Smv::parse(bytes).expect("golden SMV file");
    let bpp = smv.bytes_per_pixel;
    let data_start = bytes.len() - smv.pixels.len() * bpp;
    let max = if bpp == 4 {
        i64::from(u32::MAX)
    } else {
        i64::from(u16::MAX)
    };
    let set = |copy: &mut Vec<u8>, i: usize, delta: i64| {
        let old = smv.pixels[i];
        let new = if old + delta <= max {
            old + delta
        } else {
            old - delta
        };
        let at = data_start + i * bpp;
        if bpp == 4 {
            copy[at..at + 4].copy_from_slice(&(new as u32).to_le_bytes());
        } else {
            copy[at..at + 2].copy_from_slice(&(new as u16).to_le_bytes());
        }
    };
    let mut out = Vec::new();

    let mut one = bytes.to_vec();
    set(&mut one, smv.pixels.len() / 2, 2);
    out.push(("one pixel off by 2", one, Some("max diff 2")));

    // Every 500th pixel off by one: 0.2 % differ.
    let mut many = bytes.to_vec();
    for i in (0..smv.pixels.len()).step_by(500) {
        set(&mut many, i, 1);
    }
    out.push(("0.2 % of the pixels off by 1", many, Some("% identical")));

    let mut header = bytes.to_vec();
    let at = find(bytes, b"DISTANCE=").expect("a DISTANCE key") + "DISTANCE=".len();
    header[at] = if header[at] == b'9' { b'8' } else { b'9' };
    out.push(("DISTANCE changed", header, Some("header: DISTANCE=")));

    out.push((
        "one pixel fewer",
        bytes[..bytes.len() - bpp].to_vec(),
        Some("data bytes for"),
    ));
    out
}

fn perturbed_pgm(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let pgm = Pgm::parse(bytes).expect("golden PGM file");
    let start = bytes.len() - pgm.data.len();
    let n = pgm.width * pgm.height;
    let bump = |copy: &mut Vec<u8>, i: usize, delta: u8| {
        let v = copy[start + i];
        copy[start + i] = if v <= 255 - delta {
            v + delta
        } else {
            v - delta
        };
    };
    let mut out = Vec::new();

    let mut one = bytes.to_vec();
    bump(&mut one, n / 2, 2);
    out.push(("one pixel off by 2", one, Some("max diff 2")));

    let mut many = bytes.to_vec();
    for i in (0..n).step_by(500) {
        bump(&mut many, i, 1);
    }
    out.push(("0.2 % of the pixels off by 1", many, Some("% identical")));

    let comment = find(bytes, b"scaled by ").expect("a scale comment") + "scaled by ".len();
    let mut header = bytes[..comment].to_vec();
    header.extend_from_slice(b"7.5");
    let eol = comment + bytes[comment..].iter().position(|&b| b == b'\n').unwrap();
    header.extend_from_slice(&bytes[eol..]);
    out.push(("another scale in the comment", header, Some("header")));

    // C writes 2·W·H bytes (NB1); the golden file is trimmed to W·H; the tail is not compared.
    let mut overrun = bytes.to_vec();
    overrun.extend((0..n).map(|i| (i * 37 % 251) as u8));
    out.push(("C's overrun tail appended", overrun, None));
    out
}

fn perturbed_stol(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let edit = |column: usize, f: &dyn Fn(f64) -> f64| -> Vec<u8> {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mid = out.len() / 2;
        let mut words: Vec<String> = out[mid].split_whitespace().map(str::to_owned).collect();
        let v: f64 = words[column].parse().unwrap();
        words[column] = format!("{}", f(v));
        out[mid] = words.join(" ");
        (out.join("\n") + "\n").into_bytes()
    };
    vec![
        (
            "a mean 0.1 % off",
            edit(1, &|v| v * 1.001),
            Some("value(s) off"),
        ),
        (
            "a pixel count changed",
            edit(5, &|v| v + 1.0),
            Some("value(s) off"),
        ),
        (
            "the last line dropped",
            (lines[..lines.len() - 1].join("\n") + "\n").into_bytes(),
            Some("lines, expected"),
        ),
        ("a median filled in", edit(3, &|v| v + 2.5), None),
        ("a MAD filled in", edit(4, &|v| v + 0.125), None),
    ]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
