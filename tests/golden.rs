//! Golden-image test: runs the `nanobragg` binary on every case of `shared/golden/cases.json`
//! (images made by the reference C nanoBragg) and compares its output images with the golden ones.
//!
//! The golden directory is `$NANOBRAGG_GOLDEN_DIR`, or else `<crate>/../shared/golden`.
//! Run with `cargo test --test golden -- --nocapture` to see the result table.
//!
//! Cases in [`EXPECTED_TO_FAIL`] may fail (XFAIL); every other case must pass. A listed case that
//! passes (XPASS) also fails the test, so the list only ever shrinks.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use serde_json::Value;
use tempfile::TempDir;

mod common;
mod scratch;
use common::golden_dir;

/// Cases allowed to fail, with the reason. Empty: every case passes. A case whose golden image
/// cannot be matched is listed here with why, and an entry that starts passing fails the test.
const EXPECTED_TO_FAIL: &[(&str, &str)] = &[];

/// Float image: minimum Pearson correlation with the reference.
const MIN_CORRELATION: f64 = 0.999_999;
/// Float image: maximum |sum(candidate) / sum(reference) - 1|.
const MAX_SUM_DEVIATION: f64 = 1e-5;
/// Float image: maximum |c - r| / |r| over the bright pixels.
const MAX_REL_ERR: f64 = 1e-4;
/// Float image: a pixel is bright when its reference value exceeds this fraction of the peak.
const BRIGHT_FRACTION: f64 = 0.01;
/// Integer images: minimum percentage of identical pixels.
const MIN_IDENTICAL_PCT: f64 = 99.9;
/// Int/PGM images: largest allowed difference of any pixel.
const MAX_PIXEL_DIFF: i64 = 1;
/// Worker threads running cases.
const WORKERS: usize = 2;
/// Lines of stderr quoted when the binary fails.
const STDERR_TAIL_LINES: usize = 5;

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

/// Float-image comparison metrics.
#[derive(Clone, Copy)]
struct FloatMetrics {
    correlation: f64,
    sum_ratio: f64,
    worst_rel_err: f64,
}

/// Integer-image comparison metrics.
#[derive(Clone, Copy)]
struct PixelMatch {
    identical_pct: f64,
    max_diff: i64,
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

/// Runs every case on `WORKERS` threads; the result is in case order.
fn run_all(golden: &Path, cases: &[Case]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let mut indexed: Vec<(usize, Outcome)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(case) = cases.get(i) else { break };
                        done.push((i, check_case(golden, case)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("golden worker thread panicked"))
            .collect()
    });
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, o)| o).collect()
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

#[cfg(unix)]
fn symlink_dir(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink_dir(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

/// The last few non-empty lines of stderr (or of stdout when stderr is empty), joined.
fn stderr_tail(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(if stderr.is_empty() { stdout } else { stderr });
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "no output".into();
    }
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join(" | ")
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

/// The float thresholds each metric breaks. Each check states what passes, so NaN fails.
fn float_violations(m: &FloatMetrics) -> Vec<String> {
    let checks = [
        (
            m.correlation >= MIN_CORRELATION,
            format!("correlation {:.8} < {MIN_CORRELATION}", m.correlation),
        ),
        (
            (m.sum_ratio - 1.0).abs() <= MAX_SUM_DEVIATION,
            format!(
                "sum ratio {:.8} off by more than {MAX_SUM_DEVIATION:e}",
                m.sum_ratio
            ),
        ),
        (
            m.worst_rel_err <= MAX_REL_ERR,
            format!("worst rel err {:.3e} > {MAX_REL_ERR:e}", m.worst_rel_err),
        ),
    ];
    checks
        .into_iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, msg)| msg)
        .collect()
}

/// Pearson correlation, sum ratio and worst relative error on bright pixels (all in f64).
fn float_metrics(reference: &[f32], candidate: &[f32]) -> FloatMetrics {
    let n = reference.len() as f64;
    let pairs = || {
        reference
            .iter()
            .zip(candidate)
            .map(|(&r, &c)| (f64::from(r), f64::from(c)))
    };
    let (sum_r, sum_c) = pairs().fold((0.0, 0.0), |(a, b), (r, c)| (a + r, b + c));
    let (mean_r, mean_c) = (sum_r / n, sum_c / n);
    let (mut var_r, mut var_c, mut cov) = (0.0, 0.0, 0.0);
    for (r, c) in pairs() {
        let (dr, dc) = (r - mean_r, c - mean_c);
        var_r += dr * dr;
        var_c += dc * dc;
        cov += dr * dc;
    }
    let correlation = if var_r > 0.0 && var_c > 0.0 {
        cov / (var_r * var_c).sqrt()
    } else if reference == candidate {
        1.0
    } else {
        0.0
    };
    let sum_ratio = if sum_r == 0.0 && sum_c == 0.0 {
        1.0
    } else {
        sum_c / sum_r
    };
    let peak = pairs().map(|(r, _)| r).fold(f64::NEG_INFINITY, f64::max);
    let bright = BRIGHT_FRACTION * peak;
    let worst_rel_err = pairs()
        .filter(|&(r, _)| r > bright && r > 0.0)
        .map(|(r, c)| (c - r).abs() / r.abs())
        .fold(0.0, f64::max);
    FloatMetrics {
        correlation,
        sum_ratio,
        worst_rel_err,
    }
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

fn pixel_match(reference: &[i64], candidate: &[i64]) -> PixelMatch {
    let identical = reference
        .iter()
        .zip(candidate)
        .filter(|(r, c)| r == c)
        .count();
    let max_diff = reference
        .iter()
        .zip(candidate)
        .map(|(r, c)| (r - c).abs())
        .max();
    let identical_pct = if reference.is_empty() {
        100.0
    } else {
        100.0 * identical as f64 / reference.len() as f64
    };
    PixelMatch {
        identical_pct,
        max_diff: max_diff.unwrap_or(0),
    }
}

/// SMV pixel data: little-endian u16 after a header of `HEADER_BYTES=N` bytes.
fn smv_pixels(bytes: &[u8]) -> Result<Vec<i64>, String> {
    let header_len = smv_header_bytes(bytes).ok_or("no HEADER_BYTES= in SMV header")?;
    let data = bytes
        .get(header_len..)
        .ok_or_else(|| format!("shorter than its {header_len}-byte header"))?;
    if data.len() % 2 != 0 {
        return Err(format!("odd data length {}", data.len()));
    }
    Ok(data
        .chunks_exact(2)
        .map(|p| i64::from(u16::from_le_bytes([p[0], p[1]])))
        .collect())
}

fn smv_header_bytes(bytes: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"HEADER_BYTES=";
    let start = bytes.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &bytes[start..];
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// PGM pixel data: the bytes after the four header lines (`P5`, dims, comment, `255`).
fn pgm_pixels(bytes: &[u8]) -> Result<Vec<i64>, String> {
    let start = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .nth(3)
        .map(|(i, _)| i + 1)
        .ok_or("fewer than 4 header lines")?;
    Ok(bytes[start..].iter().map(|&b| i64::from(b)).collect())
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

fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_f32(path: &Path) -> Result<Vec<f32>, String> {
    let bytes = read_bytes(path)?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{}: size {} is not a multiple of 4",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// Status (PASS, FAIL, XFAIL, XPASS) and reason of one case.
fn classify(name: &str, outcome: &Outcome) -> (&'static str, String) {
    let passed = outcome.failures.is_empty();
    match (expected_failure(name), passed) {
        (None, true) => ("PASS", String::new()),
        (None, false) => ("FAIL", outcome.failures.join("; ")),
        (Some(reason), false) => ("XFAIL", reason.to_owned()),
        (Some(_), true) => (
            "XPASS",
            "now passes: remove it from EXPECTED_TO_FAIL".to_owned(),
        ),
    }
}

fn table_header() -> String {
    format!(
        "{:<30} {:>11} {:>11} {:>10} {:>9} {:>9}  {:<6} reason",
        "case", "correlation", "sum ratio", "worst rel", "int/pgm%", "noise%", "status"
    )
}

fn table_row(name: &str, o: &Outcome, status: &str, reason: &str) -> String {
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| "-".to_owned(), f);
    format!(
        "{:<30} {:>11} {:>11} {:>10} {:>9} {:>9}  {:<6} {reason}",
        name,
        opt(o.float.map(|m| m.correlation), |v| format!("{v:.8}")),
        opt(o.float.map(|m| m.sum_ratio), |v| format!("{v:.8}")),
        opt(o.float.map(|m| m.worst_rel_err), |v| format!("{v:.2e}")),
        opt(o.int_pgm_pct, |v| format!("{v:.3}")),
        opt(o.noise_pct, |v| format!("{v:.3}")),
        status,
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
