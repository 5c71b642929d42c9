//! MOSFLM orientation matrices (`-mat`).
//!
//! A MOSFLM matrix file starts with the 3×3 matrix A = U·B·λ, three numbers per line:
//! line 1 holds the x components of a*, b*, c*, line 2 the y components and line 3 the z
//! components, in Å⁻¹ multiplied by the wavelength. Further lines (MOSFLM's U matrix, cell,
//! missets) are ignored, as nanoBragg ignores them.
//!
//! nanoBragg reads the nine numbers with `fscanf("%lg")`, so line breaks do not matter and
//! numbers written by fixed-width Fortran formats without a separating blank
//! (`-0.0112073677-0.0056240975`) are still split correctly; this reader scans the same way.
//! Unlike nanoBragg it reports a non-numeric or non-finite value among the first nine
//! ([`Error::Parse`], with its line) and a file with fewer than nine numbers
//! ([`Error::Format`]) instead of leaving matrix elements unset.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::text::{is_c_space, numbered_lines, show, strtod_prefix};

/// Reads the first nine numbers of a MOSFLM matrix file as three rows in file order:
/// row `i` holds numbers `3i..3i+3`, i.e. `[[a*x, b*x, c*x], [a*y, b*y, c*y], [a*z, b*z, c*z]]`.
pub fn read_mosflm_matrix(path: &Path) -> Result<[[f64; 3]; 3]> {
    let bytes = crate::io::read_input(path)?;
    let mut values = Vec::with_capacity(9);
    'lines: for (line_no, line) in numbered_lines(&bytes) {
        let s = line.as_bytes();
        let mut p = 0;
        while values.len() < 9 {
            while p < s.len() && is_c_space(s[p]) {
                p += 1;
            }
            if p >= s.len() {
                continue 'lines;
            }
            let parse_err = |what: &str| {
                let token = String::from_utf8_lossy(&s[p..]);
                let token: String = token.chars().take_while(|c| !c.is_whitespace()).collect();
                Error::Parse {
                    path: path.to_path_buf(),
                    line: line_no,
                    reason: format!(
                        "matrix element {} {what}: {}",
                        values.len() + 1,
                        show(&token)
                    ),
                }
            };
            match strtod_prefix(&s[p..]) {
                Some((v, n)) if v.is_finite() => {
                    values.push(v);
                    p += n;
                }
                Some(_) => return Err(parse_err("is not a finite number")),
                None => return Err(parse_err("is not a number")),
            }
        }
        break;
    }
    if values.len() < 9 {
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!(
                "a MOSFLM matrix needs 9 numbers (3 lines of 3), found only {}",
                values.len()
            ),
        });
    }
    Ok([
        [values[0], values[1], values[2]],
        [values[3], values[4], values[5]],
        [values[6], values[7], values[8]],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;
    use proptest::prelude::*;

    #[test]
    fn golden_matrix() {
        let path = crate::io::golden_dir().join("inputs/A.mat");
        let m = read_mosflm_matrix(&path).unwrap();
        assert_eq!(m[0], [0.0112073677, -0.0056240975, 0.0033326311]);
        assert_eq!(m[1], [0.0052260814, 0.0080631106, -0.0170123994]);
        assert_eq!(m[2], [0.0026284664, 0.0079486872, 0.0196153019]);
    }

    #[test]
    fn layout_free_and_trailing_lines_ignored() {
        let dir = scratch("mat");
        let p = dir.join("m.mat");
        std::fs::write(
            &p,
            "  1 2\n3 4 5 6\r\n7\n\n8 -0.5-1.5e-2 junk\n   0.9 0.1 cell 78 78 38\nSYMM P1\n",
        )
        .unwrap();
        let m = read_mosflm_matrix(&p).unwrap();
        assert_eq!(m, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, -0.5]]);
        std::fs::write(&p, "1 2 3 4 5 6 7 8 9.0").unwrap();
        assert_eq!(read_mosflm_matrix(&p).unwrap()[2], [7.0, 8.0, 9.0]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors() {
        let dir = scratch("matbad");
        let p = dir.join("m.mat");
        let cases = [
            (
                "1 2 3\n4 5 six\n7 8 9\n",
                2,
                "element 6 is not a number: \"six\"",
            ),
            ("1 2 3\n\n4 5 6\n7 nan 9\n", 4, "element 8 is not a finite"),
            ("1 2 3\n4 5 6\n7 8 1e400\n", 3, "element 9 is not a finite"),
            ("# comment\n1 2 3\n", 1, "element 1 is not a number"),
        ];
        for (text, line, needle) in cases {
            std::fs::write(&p, text).unwrap();
            match read_mosflm_matrix(&p) {
                Err(Error::Parse {
                    line: l, reason, ..
                }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert!(reason.contains(needle), "{reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        for (text, found) in [("", "only 0"), ("1 2 3\n4 5 6\n7 8\n", "only 8")] {
            std::fs::write(&p, text).unwrap();
            match read_mosflm_matrix(&p) {
                Err(e @ Error::Format { .. }) => assert!(e.to_string().contains(found), "{e}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            read_mosflm_matrix(&dir.join("none")),
            Err(Error::Io { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let dir = scratch("matfuzz");
            let p = dir.join("g.mat");
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_mosflm_matrix(&p);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
