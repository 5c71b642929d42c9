//! The atom list (`-file`): one point scatterer per line, `x y z [occupancy [B [phase]]]`.
//!
//! Positions in Å, B in Å², the phase shift in degrees; missing columns default to occupancy
//! 1, B 0 and phase −90°. Columns are separated by any run of space, tab, CR, `,`, `;`, `:` or
//! `!`, so CRLF files and `1,2,3` read alike. Blank lines are skipped.
//!
//! Default mode reads strictly: a `#` starts a comment that runs to the end of the line (a
//! line that is only a comment is skipped), every other word must be a finite number, and a
//! line needs 3 to 6 of them; anything else is an [`Error::Parse`] naming the file and the
//! line. A last line without a newline reads like any other.
//!
//! `compat` mode reads as nearBragg.c does (NR7): the text is cut into `fgets` lines of at most
//! 1023 bytes; each word is converted with `atof` (its longest numeric prefix, 0 if none, so a
//! comment or a word becomes 0) and the scan stops at the newline, leaving the missing columns
//! at their defaults. A line whose scan runs off its end without meeting a newline (the last
//! line of a file that does not end in one, or a line whose last word is not a number) reads
//! 0 for every column after it, occupancy and phase included; a comment line thus becomes an
//! atom at the origin with occupancy 0, which still counts in the extent used for automatic
//! oversampling. Hexadecimal floats (which glibc's `atof` accepts) read as 0 here.

use std::path::Path;

use crate::error::{Error, Result};

/// One point scatterer, in the file's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Atom {
    /// Position (Å); x runs along the beam.
    pub x: f64,
    /// Position (Å).
    pub y: f64,
    /// Position (Å).
    pub z: f64,
    /// Occupancy: the amplitude factor.
    pub occupancy: f64,
    /// B factor (Å²): the amplitude is damped by `exp(−B·(sinθ/λ)²)`.
    pub b: f64,
    /// Phase shift (degrees) added to the scattered wave.
    pub phase: f64,
}

impl Atom {
    /// An atom at (x, y, z) Å with the default occupancy 1, B 0 and phase −90°.
    pub fn at(x: f64, y: f64, z: f64) -> Atom {
        Atom {
            x,
            y,
            z,
            occupancy: 1.0,
            b: 0.0,
            phase: -90.0,
        }
    }
}

/// An atom list as read, with the count nearBragg.c prints.
#[derive(Clone, Debug, PartialEq)]
pub struct AtomList {
    /// The atoms, in file order.
    pub atoms: Vec<Atom>,
    /// Lines counted as atoms by C's first pass (`counted N atoms`); equals `atoms.len()`.
    pub counted: usize,
}

/// The column separators.
const DELIMITERS: &[u8] = b" \t\r,;:!";
/// The characters C skips as "the number" before looking for the next separator.
const NUMBER_STUFF: &[u8] = b"0123456789-+.EGeg";

/// Read the atom list at `path` (see the module documentation for the two modes).
pub fn read_atoms(path: &Path, compat: bool) -> Result<AtomList> {
    let bytes = crate::io::read_input(path)?;
    parse_atoms(&bytes, path, compat)
}

/// Parse the text of an atom list; `path` names it in errors.
pub fn parse_atoms(bytes: &[u8], path: &Path, compat: bool) -> Result<AtomList> {
    let atoms = if compat {
        fgets_lines(bytes).filter_map(c_line).collect()
    } else {
        strict(bytes, path)?
    };
    Ok(AtomList {
        counted: atoms.len(),
        atoms,
    })
}

/// Default mode: strict columns, `#` comments, errors with line numbers.
fn strict(bytes: &[u8], path: &Path) -> Result<Vec<Atom>> {
    let mut atoms = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let fail = |reason: String| Error::Parse {
            path: path.to_path_buf(),
            line: n + 1,
            reason,
        };
        let text = match line.iter().position(|&b| b == b'#') {
            Some(i) => &line[..i],
            None => line,
        };
        let words: Vec<&[u8]> = text
            .split(|b| DELIMITERS.contains(b))
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            continue;
        }
        if words.len() < 3 || words.len() > 6 {
            return Err(fail(format!(
                "{} columns; an atom is `x y z [occupancy [B [phase]]]` (3 to 6 numbers)",
                words.len()
            )));
        }
        let mut v = [0.0, 0.0, 0.0, 1.0, 0.0, -90.0];
        for (slot, word) in v.iter_mut().zip(&words) {
            let text = String::from_utf8_lossy(word);
            *slot = match text.parse::<f64>() {
                Ok(x) if x.is_finite() => x,
                _ => return Err(fail(format!("'{text}' is not a finite number"))),
            };
        }
        let [x, y, z, occupancy, b, phase] = v;
        atoms.push(Atom {
            x,
            y,
            z,
            occupancy,
            b,
            phase,
        });
    }
    Ok(atoms)
}

/// The lines `fgets(line, 1024, f)` returns: up to and including a newline, at most 1023 bytes.
fn fgets_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let limit = rest.len().min(1023);
        let end = rest[..limit]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(limit, |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// nearBragg.c's scan of one `fgets` line; `None` for a blank line.
fn c_line(line: &[u8]) -> Option<Atom> {
    // C sees the line as a string: it ends at the first NUL.
    let s = match line.iter().position(|&b| b == 0) {
        Some(i) => &line[..i],
        None => line,
    };
    let span = |t: usize, set: &[u8]| s[t..].iter().take_while(|b| set.contains(b)).count();
    let cspan = |t: usize, set: &[u8]| s[t..].iter().take_while(|b| !set.contains(b)).count();
    let at_newline = |t: usize| &s[t..] == b"\n";
    let mut t = span(0, DELIMITERS);
    if at_newline(t) {
        return None;
    }
    let mut v = [0.0, 0.0, 0.0, 1.0, 0.0, -90.0];
    for (col, slot) in v.iter_mut().enumerate() {
        *slot = atof(&s[t..]);
        if col == 5 {
            break;
        }
        t += span(t, NUMBER_STUFF);
        if at_newline(t) {
            break;
        }
        t += cspan(t, DELIMITERS);
        t += span(t, DELIMITERS);
        if at_newline(t) {
            break;
        }
    }
    let [x, y, z, occupancy, b, phase] = v;
    Some(Atom {
        x,
        y,
        z,
        occupancy,
        b,
        phase,
    })
}

/// C `atof` (decimal, `inf`, `nan`): skip white space, convert the longest numeric prefix,
/// 0 when there is none.
pub(crate) fn atof(s: &[u8]) -> f64 {
    let skip = s
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    let s = &s[skip..];
    let (sign, body) = match s.first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    let starts = |w: &[u8]| body.len() >= w.len() && body[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"inf") {
        return sign * f64::INFINITY;
    }
    if starts(b"nan") {
        return f64::NAN;
    }
    let digits = |from: usize| {
        body[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int = digits(0);
    let mut end = int;
    let mut frac = 0;
    if body.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        end += 1 + frac;
    }
    if int + frac == 0 {
        return 0.0;
    }
    let mantissa_end = end;
    if matches!(body.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(body.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let e = digits(j);
        if e > 0 {
            end = j + e;
        }
    }
    // Rust's parser is correctly rounded like glibc's strtod; it wants digits on both sides
    // of the point.
    let mut text = String::with_capacity(end + 2);
    if int == 0 {
        text.push('0');
    }
    text.push_str(&String::from_utf8_lossy(&body[..mantissa_end]));
    if text.ends_with('.') {
        text.push('0');
    }
    text.push_str(&String::from_utf8_lossy(&body[mantissa_end..end]));
    sign * text.parse::<f64>().unwrap_or(0.0)
}

/// The largest side of the atoms' bounding box (m), as nearBragg.c computes it for the
/// automatic oversampling: 0 for a single atom and, as in C, a negative number for none.
pub fn extent(atoms: &[Atom]) -> f64 {
    let mut max = [-1e99f64; 3];
    let mut min = [1e99f64; 3];
    for a in atoms {
        for (i, v) in [a.x, a.y, a.z].into_iter().enumerate() {
            if v > max[i] {
                max[i] = v;
            }
            if v < min[i] {
                min[i] = v;
            }
        }
    }
    let sides = [0, 1, 2].map(|i| (max[i] - min[i]) * 1e-10);
    let mut m = sides[0];
    for s in &sides[1..] {
        if m < *s {
            m = *s;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, compat: bool) -> Result<Vec<Atom>> {
        parse_atoms(text.as_bytes(), Path::new("atoms.txt"), compat).map(|l| l.atoms)
    }

    #[test]
    fn columns_defaults_and_separators() {
        let text =
            "1 2 3\n4,5,6,2\n7\t8\t9\t1.5\t10\n  -1; -2; -3; 1; 15; 90\r\n\n\r\n1:2:3 2 0 0!\n";
        for compat in [false, true] {
            let a = read(text, compat).unwrap();
            assert_eq!(a.len(), 5, "compat {compat}");
            assert_eq!(a[0], Atom::at(1.0, 2.0, 3.0));
            assert_eq!((a[1].occupancy, a[1].b, a[1].phase), (2.0, 0.0, -90.0));
            assert_eq!((a[2].occupancy, a[2].b, a[2].phase), (1.5, 10.0, -90.0));
            assert_eq!(
                a[3],
                Atom {
                    x: -1.0,
                    y: -2.0,
                    z: -3.0,
                    occupancy: 1.0,
                    b: 15.0,
                    phase: 90.0
                }
            );
            assert_eq!((a[4].z, a[4].phase), (3.0, 0.0));
        }
    }

    #[test]
    fn last_line_without_newline() {
        // Default: like any other line. C (NR7): the scan runs off the end, so every column
        // after z reads 0, occupancy included.
        assert_eq!(
            read("1 2 3\n4 5 6", false).unwrap()[1],
            Atom::at(4.0, 5.0, 6.0)
        );
        let c = read("1 2 3\n4 5 6", true).unwrap();
        assert_eq!((c[1].z, c[1].occupancy, c[1].phase), (6.0, 0.0, 0.0));
    }

    #[test]
    fn comments_and_malformed_lines() {
        let a = read("# header\n1 2 3 # note\n\n4 5 6\n", false).unwrap();
        assert_eq!(a, [Atom::at(1.0, 2.0, 3.0), Atom::at(4.0, 5.0, 6.0)]);
        let e = read("1 2 3\n1 2 x\n", false).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 2, .. }), "{e}");
        assert_eq!(e.to_string(), "atoms.txt:2: 'x' is not a finite number");
        let e = read("1 2\n", false).unwrap_err().to_string();
        assert!(e.starts_with("atoms.txt:1: 2 columns"), "{e}");
        assert!(read("1 2 3 4 5 6 7\n", false).is_err());
        assert!(read("1 2 nan\n", false).is_err());
        assert!(read("1 2 inf\n", false).is_err());
        // C: a comment is an atom at the origin with occupancy 0.
        let c = read("# header\n1 2 3\n", true).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].x, c[0].occupancy, c[0].phase), (0.0, 0.0, 0.0));
    }

    #[test]
    fn c_scan_details() {
        // A trailing word that is not a number runs the scan off the line: zeros follow.
        let c = read("1 2 3 x\n", true).unwrap();
        assert_eq!((c[0].occupancy, c[0].b, c[0].phase), (0.0, 0.0, 0.0));
        // Numeric junk is skipped up to the next separator.
        let c = read("1.5abc 2e1 3E-1g\n", true).unwrap();
        assert_eq!(
            (c[0].x, c[0].y, c[0].z, c[0].phase),
            (1.5, 20.0, 0.3, -90.0)
        );
        // fgets splits a long line: the second piece is an atom of its own.
        let long = format!("1 2 3{}4 5 6\n", " ".repeat(1100));
        assert_eq!(read(&long, true).unwrap().len(), 2);
        assert_eq!(read("\0 1 2\n1 2 3\n", true).unwrap().len(), 2);
    }

    #[test]
    fn atof_like_c() {
        assert_eq!(atof(b"  -1.5e3xyz"), -1500.0);
        assert_eq!(atof(b".5"), 0.5);
        assert_eq!(atof(b"5."), 5.0);
        assert_eq!(atof(b"+7e"), 7.0);
        assert_eq!(atof(b"abc"), 0.0);
        assert_eq!(atof(b"-"), 0.0);
        assert_eq!(atof(b"-.e5"), 0.0);
        assert_eq!(atof(b"-INF"), f64::NEG_INFINITY);
        assert!(atof(b"nan").is_nan());
        assert_eq!(atof(b"0.1"), 0.1);
    }

    #[test]
    fn extent_is_the_largest_side() {
        let a = [Atom::at(0.0, 150.0, -300.0), Atom::at(0.0, -150.0, 300.0)];
        assert!((extent(&a) - 600e-10).abs() < 1e-20);
        assert!(extent(&[]) < 0.0);
    }

    #[test]
    fn odd_bytes_never_panic() {
        for text in [
            "\n\n",
            "\u{ff}\u{fe}",
            ",,,\r",
            "1 2 3\r",
            "#",
            "-",
            "1e999 1 1\n",
        ] {
            let _ = read(text, false);
            let _ = read(text, true);
        }
        assert!(read("\u{1}\u{2}\u{3}", true).is_ok());
    }
}
