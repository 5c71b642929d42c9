//! Structure-factor tables: HKL text files (`-hkl`) and the binary cache `Fdump.bin`.
//!
//! # HKL text
//!
//! One reflection per line: `h k l F`, whitespace separated, F the structure-factor amplitude
//! in electrons. nanoBragg reads exactly four numbers at a time with `fscanf`, so comments or
//! extra columns derail it. This reader fixes that (spec Q21) and is otherwise equivalent:
//!
//! * blank lines and lines starting with `#` or `!` are skipped;
//! * columns after the fourth (phases, sigmas, comments) are ignored;
//! * a line with fewer than four columns, a non-numeric token among the first four, a
//!   non-integer index (`1.0` is accepted, `1.5` is not), an index beyond ±100000, a
//!   non-finite F or an F whose square (the intensity) overflows (|F| above about 1.3e154) is
//!   an [`Error::Parse`] naming the 1-based line;
//! * a file without reflections is an [`Error::Format`].
//!
//! The reflections fill a dense grid spanning the observed index ranges with one extra zero
//! slab on the high side of every axis, exactly as nanoBragg allocates it: when `default_F` is
//! non-zero the core (without the spare slabs) is first filled with it, then every listed
//! reflection is stored, a repeated (h,k,l) keeping the last value. No symmetry is applied.
//!
//! # `Fdump.bin`
//!
//! The cache nanoBragg writes after reading an HKL file and reads back when `-hkl` is absent:
//! the ASCII header `"%d %d %d %d %d %d\n\f"` (h_min h_max k_min k_max l_min l_max), then the
//! whole padded grid as 8-byte little-endian doubles, h outer, k middle, l inner:
//! `(h_range+1)·(k_range+1)·(l_range+1)` values where `x_range = x_max − x_min + 1`.
//! Example: ±50 on every axis gives a 22-byte header and 102³·8 bytes of data.
//!
//! The reader takes the header up to and including the first form feed and then exactly the
//! expected number of data bytes, so data bytes that look like whitespace are never swallowed
//! (nanoBragg's `fscanf("…\n\f")` can do that). A short or over-long file is an
//! [`Error::Format`].
//!
//! Grids of more than 2³¹ cells (16 GiB) are refused with an [`Error::Format`].

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};
use crate::io::text::{c_tokens, numbered_lines, parse_number, show, trim_c_space};

/// Largest |h|, |k| or |l| accepted.
pub const MAX_INDEX: i32 = 100_000;
/// Largest number of grid cells (padding included) that will be allocated.
pub const MAX_CELLS: u64 = 1 << 31;

/// A dense table of structure factors indexed by Miller indices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HklGrid {
    /// Smallest h present.
    pub h_min: i32,
    /// Largest h present.
    pub h_max: i32,
    /// Smallest k present.
    pub k_min: i32,
    /// Largest k present.
    pub k_max: i32,
    /// Smallest l present.
    pub l_min: i32,
    /// Largest l present.
    pub l_max: i32,
    /// Dense `(h_range+1)·(k_range+1)·(l_range+1)` values, h outer, k middle, l inner, index
    /// `((h−h_min)·(k_range+1) + (k−k_min))·(l_range+1) + (l−l_min)`, where
    /// `x_range = x_max − x_min + 1` (one spare zero slab per axis, as in nanoBragg).
    pub data: Vec<f64>,
    /// nanoBragg's `hkls`: entries read from text (duplicates included), or
    /// `h_range·k_range·l_range` for a grid read from `Fdump.bin`.
    pub count: usize,
}

/// `max − min + 1`, or 0 when `max < min`.
fn span(min: i32, max: i32) -> usize {
    usize::try_from(i64::from(max) - i64::from(min) + 1).unwrap_or(0)
}

/// Number of padded cells for the given bounds, if the bounds are ordered.
fn padded_cells(b: [i32; 6]) -> Option<u64> {
    let mut cells = 1u64;
    for axis in 0..3 {
        let (min, max) = (b[2 * axis], b[2 * axis + 1]);
        if max < min {
            return None;
        }
        cells = cells.checked_mul(span(min, max) as u64 + 1)?;
    }
    Some(cells)
}

impl HklGrid {
    /// `(h_range, k_range, l_range)`: the number of indices on each axis (`max − min + 1`),
    /// spare slabs not included.
    pub fn ranges(&self) -> (usize, usize, usize) {
        (
            span(self.h_min, self.h_max),
            span(self.k_min, self.k_max),
            span(self.l_min, self.l_max),
        )
    }

    /// Position of (h, k, l) in [`HklGrid::data`], if it lies within the bounds on all axes.
    pub fn index(&self, h: i32, k: i32, l: i32) -> Option<usize> {
        let inside = |x: i32, min: i32, max: i32| (min..=max).contains(&x);
        if !(inside(h, self.h_min, self.h_max)
            && inside(k, self.k_min, self.k_max)
            && inside(l, self.l_min, self.l_max))
        {
            return None;
        }
        let (_, kr, lr) = self.ranges();
        let dh = span(self.h_min, h) - 1;
        let dk = span(self.k_min, k) - 1;
        let dl = span(self.l_min, l) - 1;
        dh.checked_mul(kr + 1)?
            .checked_add(dk)?
            .checked_mul(lr + 1)?
            .checked_add(dl)
    }

    /// F(h, k, l) if (h, k, l) lies within `[min..=max]` on all axes (and the data hold it).
    pub fn get(&self, h: i32, k: i32, l: i32) -> Option<f64> {
        self.data.get(self.index(h, k, l)?).copied()
    }

    /// A grid with the given bounds, all cells 0, the core set to `core` when it is non-zero.
    fn filled(path: &Path, b: [i32; 6], core: f64) -> Result<HklGrid> {
        let bad = |reason: String| Error::Format {
            path: path.to_path_buf(),
            reason,
        };
        let describe = format!(
            "h {}..{}, k {}..{}, l {}..{}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        );
        let cells = padded_cells(b).filter(|&c| c <= MAX_CELLS).ok_or_else(|| {
            bad(format!(
                "the reflections span {describe}: the dense grid would need more than 2^31 \
                     cells ({} GiB); use a smaller index range",
                (MAX_CELLS * 8) >> 30
            ))
        })? as usize;
        let mut data = Vec::new();
        data.try_reserve_exact(cells).map_err(|_| {
            bad(format!(
                "cannot allocate {} MiB for the grid spanning {describe}",
                (cells * 8) >> 20
            ))
        })?;
        data.resize(cells, 0.0);
        let mut grid = HklGrid {
            h_min: b[0],
            h_max: b[1],
            k_min: b[2],
            k_max: b[3],
            l_min: b[4],
            l_max: b[5],
            data,
            count: 0,
        };
        if core != 0.0 {
            let (hr, kr, lr) = grid.ranges();
            for h0 in 0..hr {
                for k0 in 0..kr {
                    let start = (h0 * (kr + 1) + k0) * (lr + 1);
                    grid.data[start..start + lr].fill(core);
                }
            }
        }
        Ok(grid)
    }

    /// The bounds in `Fdump.bin` header order.
    fn bounds(&self) -> [i32; 6] {
        [
            self.h_min, self.h_max, self.k_min, self.k_max, self.l_min, self.l_max,
        ]
    }
}

/// Parses one Miller index column.
fn miller(token: &str, name: &str) -> std::result::Result<i32, String> {
    let v =
        parse_number(token).ok_or_else(|| format!("{name} is not a number: {}", show(token)))?;
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(format!(
            "{name} = {} is not a whole number (Miller indices must be integers)",
            show(token)
        ));
    }
    if v.abs() > f64::from(MAX_INDEX) {
        return Err(format!(
            "{name} = {} is outside the supported range ±{MAX_INDEX}",
            show(token)
        ));
    }
    Ok(v as i32)
}

/// Parses one `h k l F` line (already known not to be blank or a comment).
fn parse_line(line: &str) -> std::result::Result<(i32, i32, i32, f64), String> {
    let mut tokens = [""; 4];
    let mut found = 0;
    for (slot, t) in tokens.iter_mut().zip(c_tokens(line)) {
        *slot = t;
        found += 1;
    }
    if found < 4 {
        return Err(format!("expected 4 columns (h k l F), found {found}"));
    }
    let h = miller(tokens[0], "h")?;
    let k = miller(tokens[1], "k")?;
    let l = miller(tokens[2], "l")?;
    let f =
        parse_number(tokens[3]).ok_or_else(|| format!("F is not a number: {}", show(tokens[3])))?;
    if !f.is_finite() {
        return Err(format!("F = {} is not a finite number", show(tokens[3])));
    }
    if !(f * f).is_finite() {
        return Err(format!(
            "F = {} is too large: its square, the intensity, overflows",
            show(tokens[3])
        ));
    }
    Ok((h, k, l, f))
}

/// Reflections and index bounds of one part of an HKL file, or the first bad line (numbered
/// within the part) and what is wrong with it.
type Part = std::result::Result<(Vec<(i32, i32, i32, f64)>, [i32; 6]), (usize, String)>;

/// Parses the lines of one part of an HKL file.
fn parse_part(bytes: &[u8]) -> Part {
    let mut entries = Vec::new();
    let mut b = [i32::MAX, i32::MIN, i32::MAX, i32::MIN, i32::MAX, i32::MIN];
    for (line_no, line) in numbered_lines(bytes) {
        let line = trim_c_space(&line);
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (h, k, l, f) = parse_line(line).map_err(|reason| (line_no, reason))?;
        for (axis, x) in [h, k, l].into_iter().enumerate() {
            b[2 * axis] = b[2 * axis].min(x);
            b[2 * axis + 1] = b[2 * axis + 1].max(x);
        }
        entries.push((h, k, l, f));
    }
    Ok((entries, b))
}

/// Bytes of HKL text per part parsed on its own thread.
const PART_BYTES: usize = 1 << 18;

/// Reads an HKL text file into a grid; `default_f` fills the unlisted cells of the core when
/// it is non-zero. See the module documentation for the accepted syntax.
///
/// ```
/// use nanobragg::io::read_hkl;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("P1.hkl");
/// std::fs::write(&path, "# h k l F\n0 0 0 100.0\n1 1 1 25 sigma 3\n")?;
/// let grid = read_hkl(&path, 0.0)?;
/// assert_eq!(grid.get(1, 1, 1), Some(25.0));
/// assert_eq!(grid.get(1, 0, 0), Some(0.0)); // inside the grid, not listed
/// assert_eq!(grid.get(3, 0, 0), None); // outside it
///
/// std::fs::write(&path, "0 0 1 100.0\n1 0 x 25\n")?;
/// let err = read_hkl(&path, 0.0).unwrap_err().to_string();
/// assert!(err.ends_with("P1.hkl:2: l is not a number: \"x\""), "{err}"); // file and line
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Large files are cut at line ends into parts parsed in parallel; the reflections are merged
/// in file order and the first bad line in the file is reported, so the result does not
/// depend on the thread count.
pub fn read_hkl(path: &Path, default_f: f64) -> Result<HklGrid> {
    use rayon::prelude::*;
    let bytes = crate::io::read_input(path)?;
    let parts = (bytes.len() / PART_BYTES).clamp(1, rayon::current_num_threads());
    // Part boundaries: just after a line end near each multiple of len/parts.
    let mut cuts = vec![0];
    for p in 1..parts {
        let at = p * bytes.len() / parts;
        if let Some(nl) = bytes[at..].iter().position(|&c| c == b'\n') {
            let cut = at + nl + 1;
            if cut > *cuts.last().unwrap_or(&0) && cut < bytes.len() {
                cuts.push(cut);
            }
        }
    }
    cuts.push(bytes.len());
    let parsed: Vec<(Part, usize)> = cuts
        .par_windows(2)
        .map(|w| {
            // A part ends just after a line end: that empty remainder is not a line.
            let part = &bytes[w[0]..w[1]];
            let part = if w[1] < bytes.len() {
                &part[..part.len() - 1]
            } else {
                part
            };
            let lines = part.iter().filter(|&&c| c == b'\n').count() + 1;
            (parse_part(part), lines)
        })
        .collect();
    let mut entries = Vec::new();
    let mut b = [i32::MAX, i32::MIN, i32::MAX, i32::MIN, i32::MAX, i32::MIN];
    let mut first_line = 0;
    for (part, lines) in parsed {
        let (part_entries, pb) = part.map_err(|(line, reason)| Error::Parse {
            path: path.to_path_buf(),
            line: first_line + line,
            reason,
        })?;
        for axis in 0..3 {
            b[2 * axis] = b[2 * axis].min(pb[2 * axis]);
            b[2 * axis + 1] = b[2 * axis + 1].max(pb[2 * axis + 1]);
        }
        if entries.is_empty() {
            entries = part_entries;
        } else {
            entries.extend(part_entries);
        }
        first_line += lines;
    }
    if entries.is_empty() {
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: "no reflections (lines of h k l F) found".into(),
        });
    }
    let mut grid = HklGrid::filled(path, b, default_f)?;
    for &(h, k, l, f) in &entries {
        if let Some(i) = grid.index(h, k, l) {
            grid.data[i] = f;
        }
    }
    grid.count = entries.len();
    Ok(grid)
}

/// Longest `Fdump.bin` header accepted (six 11-character integers and separators fit easily).
const MAX_FDUMP_HEADER: usize = 256;

/// Reads a `Fdump.bin` cache (see the module documentation for the format).
///
/// Errors ([`Error::Format`]): no form feed within the first 256 bytes, a header that is not
/// six integers with `min <= max` per axis within ±100000, too large a grid, or a data block
/// shorter or longer than the header implies.
pub fn read_fdump(path: &Path) -> Result<HklGrid> {
    let bytes = crate::io::read_input(path)?;
    let bad = |reason: String| Error::Format {
        path: path.to_path_buf(),
        reason,
    };
    let ff = bytes
        .iter()
        .take(MAX_FDUMP_HEADER)
        .position(|&c| c == 0x0c)
        .ok_or_else(|| {
            bad(format!(
                "no form feed ending the header within the first {MAX_FDUMP_HEADER} bytes \
                 (not an Fdump.bin file)"
            ))
        })?;
    let header_text = String::from_utf8_lossy(&bytes[..ff]);
    let numbers: Vec<i32> = c_tokens(&header_text)
        .map(|t| t.parse::<i32>())
        .collect::<std::result::Result<_, _>>()
        .unwrap_or_default();
    let b: [i32; 6] = numbers.try_into().map_err(|_| {
        bad(format!(
            "header {} is not six integers h_min h_max k_min k_max l_min l_max",
            show(&header_text)
        ))
    })?;
    let cells = padded_cells(b).filter(|_| b.iter().all(|x| x.unsigned_abs() <= MAX_INDEX as u32));
    let Some(cells) = cells else {
        return Err(bad(format!(
            "header bounds h {}..{}, k {}..{}, l {}..{} are not ordered ranges within ±{MAX_INDEX}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )));
    };
    if cells > MAX_CELLS {
        // `filled` words the error.
        HklGrid::filled(path, b, 0.0)?;
    }
    // The length is checked before the grid is allocated, so a short file claiming a huge grid
    // costs nothing.
    let data = &bytes[ff + 1..];
    let expected = cells.saturating_mul(8);
    if data.len() as u64 != expected {
        let what = if (data.len() as u64) < expected {
            "truncated"
        } else {
            "too long"
        };
        return Err(bad(format!(
            "{what}: the header's bounds need {expected} bytes of data after the header, the \
             file has {}",
            data.len()
        )));
    }
    let mut grid = HklGrid::filled(path, b, 0.0)?;
    for (v, c) in grid.data.iter_mut().zip(data.chunks_exact(8)) {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(c);
        *v = f64::from_le_bytes(raw);
    }
    let (hr, kr, lr) = grid.ranges();
    grid.count = hr * kr * lr;
    Ok(grid)
}

/// Writes `grid` as a `Fdump.bin` cache, atomically.
///
/// Fails with an [`Error::Io`] of kind `InvalidInput` (nothing written) when the bounds are
/// not ordered or `data` does not have the padded size the bounds imply.
pub fn write_fdump(path: &Path, grid: &HklGrid) -> Result<()> {
    stage_fdump(path, grid)?.commit()
}

/// Like [`write_fdump`], but leaves the file staged (see [`stage`]) for the caller to commit.
pub fn stage_fdump(path: &Path, grid: &HklGrid) -> Result<Staged> {
    let b = grid.bounds();
    if padded_cells(b) != Some(grid.data.len() as u64) {
        return Err(Error::invalid_input(
            path,
            format!(
                "HKL grid with bounds h {}..{}, k {}..{}, l {}..{} holds {} values, which \
                     does not match its bounds",
                b[0],
                b[1],
                b[2],
                b[3],
                b[4],
                b[5],
                grid.data.len()
            ),
        ));
    }
    let header = format!(
        "{} {} {} {} {} {}\n\x0c",
        b[0], b[1], b[2], b[3], b[4], b[5]
    );
    stage(path, |w| {
        w.write_all(header.as_bytes())?;
        let mut buf = Vec::with_capacity(8 * 8192);
        for chunk in grid.data.chunks(8192) {
            buf.clear();
            for v in chunk {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{golden_dir, scratch};
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn sparse_golden_input() {
        let path = golden_dir().join("inputs/sparse.hkl");
        let g = read_hkl(&path, 0.0).unwrap();
        assert_eq!(g.bounds(), [-1, 2, 0, 2, 0, 1]);
        assert_eq!(g.ranges(), (4, 3, 2));
        assert_eq!(g.count, 8);
        assert_eq!(g.data.len(), 5 * 4 * 3);
        assert_eq!(g.get(0, 0, 0), Some(120.0));
        assert_eq!(g.get(2, 0, 0), Some(240.0));
        assert_eq!(g.get(-1, 0, 0), Some(45.0));
        assert_eq!(g.get(0, 0, 1), Some(75.0));
        assert_eq!(g.get(2, 2, 1), Some(0.0));
        assert_eq!(g.get(3, 0, 0), None);
        assert_eq!(g.get(0, -1, 0), None);
        // default_F fills the core only; the spare slabs stay 0.
        let d = read_hkl(&path, 7.5).unwrap();
        assert_eq!(d.get(2, 2, 1), Some(7.5));
        assert_eq!(d.get(1, 0, 0), Some(60.0));
        assert_eq!(d.data.iter().filter(|v| **v == 7.5).count(), 4 * 3 * 2 - 8);
        assert_eq!(
            d.data.iter().filter(|v| **v == 0.0).count(),
            5 * 4 * 3 - 4 * 3 * 2
        );
    }

    #[test]
    fn p1_golden_input_and_fdump_round_trip() {
        let path = golden_dir().join("inputs/P1.hkl");
        let g = read_hkl(&path, 0.0).unwrap();
        assert_eq!(g.bounds(), [-12, 12, -12, 12, -12, 12]);
        assert_eq!(g.count, 15625);
        assert_eq!(g.data.len(), 26 * 26 * 26);
        assert_eq!(g.get(-12, -12, -12), Some(50.01));
        assert_eq!(g.get(-12, -12, -9), Some(45.45));
        assert_eq!(g.get(12, 9, 9), Some(56.03));

        let dir = scratch("fdump");
        let dump = dir.join("Fdump.bin");
        write_fdump(&dump, &g).unwrap();
        let bytes = std::fs::read(&dump).unwrap();
        assert!(bytes.starts_with(b"-12 12 -12 12 -12 12\n\x0c"));
        assert_eq!(bytes.len(), 22 + 26 * 26 * 26 * 8);
        let back = read_fdump(&dump).unwrap();
        assert_eq!(back.data, g.data);
        assert_eq!(back.bounds(), g.bounds());
        assert_eq!(back.count, 25 * 25 * 25);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn fixes_over_c_comments_columns_duplicates() {
        let dir = scratch("hklfix");
        let p = write(
            &dir,
            "a.hkl",
            "# header comment\n! another\n\n  1 2 3 10.5 45.0 0.3\n\t-1 0 3 2e1\r\n1 2 3 11 # dup\n  # indented comment\n0 0 0 1.0\n",
        );
        let g = read_hkl(&p, 0.0).unwrap();
        assert_eq!(g.bounds(), [-1, 1, 0, 2, 0, 3]);
        assert_eq!(g.count, 4);
        assert_eq!(g.get(1, 2, 3), Some(11.0), "last duplicate wins");
        assert_eq!(g.get(-1, 0, 3), Some(20.0));
        assert_eq!(g.get(0, 0, 0), Some(1.0));
        assert_eq!(g.get(0, 1, 1), Some(0.0));
        // Integral reals are accepted as indices.
        let p = write(&dir, "b.hkl", "1.0 -2.000 3e0 4\n");
        assert_eq!(read_hkl(&p, 0.0).unwrap().get(1, -2, 3), Some(4.0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn parse_error(path: &Path) -> (usize, String) {
        match read_hkl(path, 0.0) {
            Err(Error::Parse { line, reason, .. }) => (line, reason),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    /// A file of several parts parses to the same grid, and reports the same first bad line,
    /// whatever the thread count.
    #[test]
    fn parallel_parts_match_serial_parsing() {
        let dir = scratch("hklparts");
        let mut text = String::from("# comment\n");
        for h in -20i32..=20 {
            for k in -20i32..=20 {
                for l in -20i32..=20 {
                    text.push_str(&format!(
                        "{h} {k} {l} {}.{}\n",
                        (h * k + l).rem_euclid(97),
                        l.rem_euclid(10)
                    ));
                }
            }
        }
        text.push_str("0 0 0 7.5\n");
        assert!(text.len() > 3 * PART_BYTES);
        let good = write(&dir, "good.hkl", &text);
        let lines: Vec<&str> = text.lines().collect();
        let bad_line = lines.len() * 3 / 4;
        let mut bad_text = lines.clone();
        bad_text[bad_line - 1] = "1 2 three 4";
        let bad = write(&dir, "bad.hkl", &(bad_text.join("\n") + "\n"));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let g = read_hkl(&good, 0.0).unwrap();
                let e = read_hkl(&bad, 0.0).unwrap_err().to_string();
                (g, e)
            })
        };
        let (g1, e1) = run(1);
        assert_eq!(g1.count, 41 * 41 * 41 + 1);
        assert_eq!(g1.get(0, 0, 0), Some(7.5), "the last duplicate wins");
        assert_eq!(g1.get(3, -2, 5), Some(96.5));
        assert!(
            e1.contains(&format!(":{bad_line}: l is not a number")),
            "{e1}"
        );
        for threads in [2, 3, 8] {
            let (g, e) = run(threads);
            assert_eq!(
                (g.bounds(), g.count, &g.data),
                (g1.bounds(), g1.count, &g1.data)
            );
            assert_eq!(e, e1);
        }
    }

    #[test]
    fn malformed_lines_name_line_and_problem() {
        let dir = scratch("hklbad");
        let cases = [
            ("0 0 0 1\n1 1 1\n", 2, "found 3"),
            ("# c\n\n0 0 x 1\n", 3, "l is not a number"),
            (
                "0 0 0 1\n0 0 0 1\n0.5 0 0 1\n",
                3,
                "h = \"0.5\" is not a whole number",
            ),
            ("0 0 0 nan\n", 1, "not a finite"),
            ("0 0 0 1e999\n", 1, "not a finite"),
            ("0 0 0 abc\n", 1, "F is not a number"),
            ("0 200000 0 1\n", 1, "outside"),
            ("0 0 0 1\n1 1 1 1,5\n", 2, "F is not a number"),
            ("0 0 0 1\n\u{0}\u{1}\u{ff} 0 0 1\n", 2, "h is not a number"),
            ("0 inf 0 1\n", 1, "k = \"inf\" is not a whole number"),
            ("0 0 0 1\n1 0 0 -1e300\n", 2, "too large"),
        ];
        for (i, (text, line, needle)) in cases.iter().enumerate() {
            let p = write(&dir, &format!("{i}.hkl"), text);
            let (got_line, reason) = parse_error(&p);
            assert_eq!(got_line, *line, "{text:?}: {reason}");
            assert!(reason.contains(needle), "{text:?}: {reason}");
            let msg = read_hkl(&p, 0.0).unwrap_err().to_string();
            assert!(msg.contains(&format!("{i}.hkl:{line}:")), "{msg}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn empty_and_huge_files_are_format_errors() {
        let dir = scratch("hklempty");
        for text in ["", "\n\n", "# only a comment\n"] {
            let p = write(&dir, "e.hkl", text);
            assert!(
                matches!(read_hkl(&p, 1.0), Err(Error::Format { .. })),
                "{text:?}"
            );
        }
        let p = write(&dir, "huge.hkl", "100000 100000 0 1\n-100000 -100000 1 1\n");
        match read_hkl(&p, 0.0) {
            Err(Error::Format { reason, .. }) => assert!(reason.contains("2^31"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // A long but thin range is fine.
        let p = write(&dir, "thin.hkl", "100000 0 0 1\n-100000 0 0 2\n");
        let g = read_hkl(&p, 0.0).unwrap();
        assert_eq!(g.ranges(), (200_001, 1, 1));
        assert_eq!(g.get(-100_000, 0, 0), Some(2.0));
        assert!(matches!(
            read_hkl(&dir.join("none.hkl"), 0.0),
            Err(Error::Io { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn fdump_keeps_whitespace_valued_bytes_and_rejects_bad_files() {
        let dir = scratch("fdumpbad");
        let tricky = f64::from_le_bytes([0x20, 0x0a, 0x0c, 0x09, 0x0d, 0x0b, 0x20, 0x40]);
        let mut g = HklGrid::filled(&dir, [0, 0, -1, 0, 5, 5], 0.0).unwrap();
        g.data[0] = tricky;
        g.data[1] = f64::NAN;
        g.count = 1;
        let p = dir.join("Fdump.bin");
        write_fdump(&p, &g).unwrap();
        let back = read_fdump(&p).unwrap();
        assert_eq!(back.data[0].to_bits(), tricky.to_bits());
        assert!(back.data[1].is_nan());
        assert_eq!(back.count, 2);
        assert_eq!(back.get(0, -1, 5), Some(tricky));

        let full = std::fs::read(&p).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", full[..full.len() - 1].to_vec()),
            ("too long", [&full[..], &[0u8]].concat()),
            ("no form feed", b"0 0 0 0 0 0\n".to_vec()),
            ("six integers", b"0 0 0 0 0\n\x0c".to_vec()),
            ("six integers", b"0 0 0 0 0 x\n\x0c".to_vec()),
            ("ordered", b"1 0 0 0 0 0\n\x0c".to_vec()),
            ("ordered", b"0 200000 0 0 0 0\n\x0c".to_vec()),
            ("2^31", b"-100000 100000 -100000 100000 0 0\n\x0c".to_vec()),
            ("no form feed", vec![]),
        ];
        for (needle, bytes) in cases {
            std::fs::write(&p, &bytes).unwrap();
            match read_fdump(&p) {
                Err(e @ Error::Format { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(needle) && msg.contains("Fdump.bin"), "{msg}");
                }
                other => panic!("{needle}: {other:?}"),
            }
        }
        // Inconsistent grids are not written.
        g.data.pop();
        assert!(write_fdump(&dir.join("x.bin"), &g).is_err());
        assert!(!dir.join("x.bin").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn get_is_total_on_inconsistent_grids() {
        let g = HklGrid {
            h_min: 5,
            h_max: -5,
            data: vec![1.0],
            ..HklGrid::default()
        };
        assert_eq!(g.ranges(), (0, 1, 1));
        assert_eq!(g.get(0, 0, 0), None);
        let g = HklGrid {
            h_min: i32::MIN,
            h_max: i32::MAX,
            ..HklGrid::default()
        };
        assert_eq!(g.get(i32::MAX, 0, 0), None);
        assert_eq!(g.get(i32::MIN, 0, 0), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn text_fdump_round_trip(
            refl in proptest::collection::vec((-6i32..6, -6i32..6, -6i32..6, -1e6f64..1e6), 1..60),
            default_f in prop_oneof![Just(0.0), -10.0f64..10.0],
        ) {
            let dir = scratch("hklprop");
            let text: String = refl.iter().map(|(h, k, l, f)| format!("{h} {k} {l} {f:e}\n")).collect();
            let p = write(&dir, "p.hkl", &text);
            let g = read_hkl(&p, default_f).unwrap();
            prop_assert_eq!(g.count, refl.len());
            for (h, k, l, _) in &refl {
                let last = refl.iter().rev().find(|r| (r.0, r.1, r.2) == (*h, *k, *l)).unwrap();
                prop_assert_eq!(g.get(*h, *k, *l), Some(last.3));
            }
            let d = dir.join("Fdump.bin");
            write_fdump(&d, &g).unwrap();
            let back = read_fdump(&d).unwrap();
            prop_assert_eq!(back.bounds(), g.bounds());
            prop_assert_eq!(
                back.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                g.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            std::fs::remove_dir_all(dir).unwrap();
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let dir = scratch("hklfuzz");
            let p = dir.join("g.bin");
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_hkl(&p, 1.0);
            let _ = read_fdump(&p);
            let mut with_header = b"0 1 -1 0 2 3\n\x0c".to_vec();
            with_header.extend_from_slice(&bytes);
            std::fs::write(&p, &with_header).unwrap();
            let _ = read_fdump(&p);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
