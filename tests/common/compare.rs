//! What the golden harnesses (`tests/golden.rs`, `tests/golden_suite.rs`) share: the thresholds,
//! the image metrics, the file decoders, running the cases on worker threads and the
//! PASS / FAIL / XFAIL / XPASS verdict with its table columns.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Float image: minimum Pearson correlation with the reference.
pub const MIN_CORRELATION: f64 = 0.999_999;
/// Float image: maximum |sum(candidate) / sum(reference) - 1|.
pub const MAX_SUM_DEVIATION: f64 = 1e-5;
/// Float image: maximum |c - r| / |r| over the bright pixels.
pub const MAX_REL_ERR: f64 = 1e-4;
/// Float image: a pixel is bright when its reference value exceeds this fraction of the peak
/// (both in magnitude: nonBragg writes negative intensities for negative F, and nearBragg's
/// sin/cos images are signed).
pub const BRIGHT_FRACTION: f64 = 0.01;
/// Integer images: minimum percentage of identical pixels.
pub const MIN_IDENTICAL_PCT: f64 = 99.9;
/// Int/PGM images: largest allowed difference of any pixel.
pub const MAX_PIXEL_DIFF: i64 = 1;
/// Worker threads running cases.
pub const WORKERS: usize = 2;
/// Lines of stderr quoted when the binary fails.
pub const STDERR_TAIL_LINES: usize = 5;

// ---------------------------------------------------------------------------------------------
// Float images

/// Float-image comparison metrics.
#[derive(Clone, Copy, Debug)]
pub struct FloatMetrics {
    pub correlation: f64,
    pub sum_ratio: f64,
    pub worst_rel_err: f64,
}

impl FloatMetrics {
    /// The worse of two sets of metrics, metric by metric (NaN counts as worst).
    pub fn worst(self, other: FloatMetrics) -> FloatMetrics {
        let pick = |a: f64, b: f64, badness: fn(f64) -> f64| {
            if a.is_nan() || badness(a) >= badness(b) {
                a
            } else {
                b
            }
        };
        FloatMetrics {
            correlation: pick(self.correlation, other.correlation, |c| -c),
            sum_ratio: pick(self.sum_ratio, other.sum_ratio, |s| (s - 1.0).abs()),
            worst_rel_err: pick(self.worst_rel_err, other.worst_rel_err, |r| r),
        }
    }
}

/// The float thresholds each metric breaks. Each check states what passes, so NaN fails.
pub fn float_violations(m: &FloatMetrics) -> Vec<String> {
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
/// Bright means |reference| above [`BRIGHT_FRACTION`] of the largest |reference|.
pub fn float_metrics(reference: &[f32], candidate: &[f32]) -> FloatMetrics {
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
    let peak = pairs()
        .map(|(r, _)| r.abs())
        .fold(f64::NEG_INFINITY, f64::max);
    let bright = BRIGHT_FRACTION * peak;
    let worst_rel_err = pairs()
        .filter(|&(r, _)| r.abs() > bright && r != 0.0)
        .map(|(r, c)| (c - r).abs() / r.abs())
        .fold(0.0, f64::max);
    FloatMetrics {
        correlation,
        sum_ratio,
        worst_rel_err,
    }
}

/// Raw little-endian f32 pixels.
pub fn f32_pixels(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if bytes.len() % 4 != 0 {
        return Err(format!("size {} is not a multiple of 4", bytes.len()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Float metrics of two raw f32 images of the same size; `file` names them in errors.
pub fn compare_float_bytes(
    file: &str,
    reference: &[u8],
    candidate: &[u8],
) -> Result<FloatMetrics, String> {
    let reference = f32_pixels(reference).map_err(|e| format!("golden {file}: {e}"))?;
    let candidate = f32_pixels(candidate).map_err(|e| format!("{file}: {e}"))?;
    if reference.len() != candidate.len() {
        return Err(format!(
            "{file}: {} pixels, expected {}",
            candidate.len(),
            reference.len()
        ));
    }
    if reference.is_empty() {
        return Err(format!("{file}: reference image is empty"));
    }
    Ok(float_metrics(&reference, &candidate))
}

// ---------------------------------------------------------------------------------------------
// Integer images

/// Integer-image comparison metrics.
#[derive(Clone, Copy, Debug)]
pub struct PixelMatch {
    pub identical_pct: f64,
    pub max_diff: i64,
}

impl PixelMatch {
    /// Whether both integer thresholds hold.
    pub fn passes(&self) -> bool {
        self.identical_pct >= MIN_IDENTICAL_PCT && self.max_diff <= MAX_PIXEL_DIFF
    }

    /// The failure message for `file` when a threshold is broken.
    pub fn violation(&self, file: &str) -> Option<String> {
        (!self.passes()).then(|| {
            format!(
                "{file}: {:.3}% identical (need {MIN_IDENTICAL_PCT}%), max diff {} \
                 (allowed {MAX_PIXEL_DIFF})",
                self.identical_pct, self.max_diff
            )
        })
    }
}

pub fn pixel_match(reference: &[i64], candidate: &[i64]) -> PixelMatch {
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

/// A decoded SMV file.
pub struct Smv {
    /// `KEY=value` lines between `{` and `}`, in order, without the `;`.
    pub fields: Vec<(String, String)>,
    /// The pixels, fast index fastest.
    pub pixels: Vec<i64>,
    /// Bytes per pixel (2 or 4).
    pub bytes_per_pixel: usize,
}

impl Smv {
    /// Decodes an SMV file: the header length from `HEADER_BYTES`, the pixel size from the data
    /// length and `SIZE1`×`SIZE2` (noisify `-header` copies a header whose `TYPE` may not say
    /// what the data are), or from `TYPE` (`long_integer`: 32-bit) when the sizes are missing.
    pub fn parse(bytes: &[u8]) -> Result<Smv, String> {
        let header_len = smv_header_bytes(bytes).ok_or("no HEADER_BYTES= in SMV header")?;
        let data = bytes
            .get(header_len..)
            .ok_or_else(|| format!("shorter than its {header_len}-byte header"))?;
        let fields = smv_fields(&bytes[..header_len]);
        let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let count = |key: &str| field(key).and_then(|v| v.trim().parse::<usize>().ok());
        let bytes_per_pixel = match (count("SIZE1"), count("SIZE2")) {
            (Some(w), Some(h)) if w > 0 && h > 0 => {
                let n = w.checked_mul(h).ok_or("SIZE1×SIZE2 overflows")?;
                match data.len() / n {
                    bpp @ (2 | 4) if data.len() == n * bpp => bpp,
                    _ => {
                        return Err(format!(
                            "{} data bytes for {w}×{h} pixels (neither 16- nor 32-bit)",
                            data.len()
                        ));
                    }
                }
            }
            _ if field("TYPE").is_some_and(|t| t.trim() == "long_integer") => 4,
            _ => 2,
        };
        if data.len() % bytes_per_pixel != 0 {
            return Err(format!(
                "data length {} is not a multiple of {bytes_per_pixel}",
                data.len()
            ));
        }
        let pixels = if bytes_per_pixel == 4 {
            data.chunks_exact(4)
                .map(|p| i64::from(u32::from_le_bytes([p[0], p[1], p[2], p[3]])))
                .collect()
        } else {
            data.chunks_exact(2)
                .map(|p| i64::from(u16::from_le_bytes([p[0], p[1]])))
                .collect()
        };
        Ok(Smv {
            fields,
            pixels,
            bytes_per_pixel,
        })
    }
}

/// SMV pixel data after a header of `HEADER_BYTES=N` bytes: unsigned 16-bit, or 32-bit where
/// the file's length says so (see [`Smv::parse`]).
pub fn smv_pixels(bytes: &[u8]) -> Result<Vec<i64>, String> {
    Smv::parse(bytes).map(|s| s.pixels)
}

fn smv_header_bytes(bytes: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"HEADER_BYTES=";
    let start = bytes.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &bytes[start..];
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The `KEY=value` lines of an SMV header up to its closing `}` (the `;` dropped).
fn smv_fields(header: &[u8]) -> Vec<(String, String)> {
    let end = header
        .iter()
        .position(|&b| b == b'}')
        .unwrap_or(header.len());
    String::from_utf8_lossy(&header[..end])
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            let value = value.trim_end().trim_end_matches(';');
            Some((key.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// A PGM file as nanoBragg writes it: `P5`, `W H`, a comment, `255`, then the bytes.
pub struct Pgm<'a> {
    /// The four header lines.
    pub header: String,
    pub width: usize,
    pub height: usize,
    /// Every byte after the header (nonBragg writes more than W·H of them, NB1).
    pub data: &'a [u8],
}

impl<'a> Pgm<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Pgm<'a>, String> {
        let start = bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(3)
            .map(|(i, _)| i + 1)
            .ok_or("fewer than 4 header lines")?;
        let header = String::from_utf8_lossy(&bytes[..start]).into_owned();
        let dims: Vec<usize> = header
            .lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .map(|w| w.parse().map_err(|_| format!("bad PGM size line '{w}'")))
            .collect::<Result<_, _>>()?;
        let [width, height] = dims[..] else {
            return Err("PGM size line is not 'W H'".into());
        };
        Ok(Pgm {
            header,
            width,
            height,
            data: &bytes[start..],
        })
    }

    /// The first W·H bytes (the image; what follows is C's overrun, NB1).
    pub fn image(&self) -> Result<&'a [u8], String> {
        let n = self
            .width
            .checked_mul(self.height)
            .ok_or("PGM size overflows")?;
        self.data.get(..n).ok_or_else(|| {
            format!(
                "{} pixel bytes, need {}×{}",
                self.data.len(),
                self.width,
                self.height
            )
        })
    }
}

/// PGM pixel data: every byte after the four header lines (`P5`, dims, comment, `255`).
pub fn pgm_pixels(bytes: &[u8]) -> Result<Vec<i64>, String> {
    Ok(Pgm::parse(bytes)?
        .data
        .iter()
        .map(|&b| i64::from(b))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Files and processes

pub fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub fn read_f32(path: &Path) -> Result<Vec<f32>, String> {
    f32_pixels(&read_bytes(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(unix)]
pub fn symlink_dir(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
pub fn symlink_dir(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

/// The last few non-empty lines of stderr (or of stdout when stderr is empty), joined.
pub fn stderr_tail(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(if stderr.is_empty() { stdout } else { stderr });
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "no output".into();
    }
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join(" | ")
}

/// Runs `check` on every item on [`WORKERS`] threads; the results are in item order.
pub fn run_parallel<T: Sync, R: Send>(items: &[T], check: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut indexed: Vec<(usize, R)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, check(item)));
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
    indexed.into_iter().map(|(_, r)| r).collect()
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// Status (PASS, FAIL, XFAIL, XPASS) and reason of one case, given its entry in the
/// expected-to-fail list (if any) and its failures.
pub fn classify(expected: Option<&str>, failures: &[String]) -> (&'static str, String) {
    match (expected, failures.is_empty()) {
        (None, true) => ("PASS", String::new()),
        (None, false) => ("FAIL", failures.join("; ")),
        (Some(reason), false) => ("XFAIL", reason.to_owned()),
        (Some(_), true) => (
            "XPASS",
            "now passes: remove it from EXPECTED_TO_FAIL".to_owned(),
        ),
    }
}

/// The metric and status column titles of the result tables (after the case name columns).
pub fn metric_columns_header() -> String {
    format!(
        "{:>11} {:>11} {:>10} {:>9} {:>9}  {:<6} reason",
        "correlation", "sum ratio", "worst rel", "int/pgm%", "noise%", "status"
    )
}

/// The metric and status columns of one result row.
pub fn metric_columns(
    float: Option<FloatMetrics>,
    int_pgm_pct: Option<f64>,
    noise_pct: Option<f64>,
    status: &str,
    reason: &str,
) -> String {
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| "-".to_owned(), f);
    format!(
        "{:>11} {:>11} {:>10} {:>9} {:>9}  {:<6} {reason}",
        opt(float.map(|m| m.correlation), |v| format!("{v:.8}")),
        opt(float.map(|m| m.sum_ratio), |v| format!("{v:.8}")),
        opt(float.map(|m| m.worst_rel_err), |v| format!("{v:.2e}")),
        opt(int_pgm_pct, |v| format!("{v:.3}")),
        opt(noise_pct, |v| format!("{v:.3}")),
        status,
    )
}
