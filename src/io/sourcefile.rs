//! X-ray source lists (`-sourcefile`).
//!
//! One source per line, up to five columns: `X Y Z weight lambda`. X, Y, Z are the position of
//! the source relative to the sample (any unit: only the direction matters), `weight` its
//! relative intensity (read but unused by nanoBragg) and `lambda` its wavelength in metres.
//! Trailing columns may be left out; the caller substitutes nanoBragg's defaults (position
//! −10 m along the beam, weight 1, the nominal wavelength).
//!
//! Columns are separated by runs of spaces, tabs and the characters `, ; : !` (nanoBragg's
//! generic `read_text_file` delimiters). Blank lines are skipped. Unlike nanoBragg, which turns
//! every other line into a source (comments become zero-vector sources with λ = 0 and
//! non-numeric text silently becomes 0), this reader
//!
//! * skips lines whose first non-delimiter character is `#`;
//! * reports a token that is not a finite number, or a sixth column, as an [`Error::Parse`]
//!   with its 1-based line number;
//! * reports a file without any source as an [`Error::Format`].

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::text::{numbered_lines, parse_number, show};

/// One line of a source file; `None` marks a column that was not given.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SourceLine {
    /// Source position X, Y, Z relative to the sample (any unit).
    pub position: [Option<f64>; 3],
    /// Relative intensity.
    pub weight: Option<f64>,
    /// Wavelength, metres.
    pub lambda_m: Option<f64>,
}

/// `c` separates source-file columns.
fn is_delimiter(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | ',' | ';' | ':' | '!' | '\r' | '\x0b' | '\x0c'
    )
}

/// Reads a `-sourcefile` list; see the module documentation for the syntax.
pub fn read_source_file(path: &Path) -> Result<Vec<SourceLine>> {
    let bytes = crate::io::read_input(path)?;
    let mut sources = Vec::new();
    for (line_no, line) in numbered_lines(&bytes) {
        let line = line.trim_start_matches(is_delimiter);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parse_err = |reason: String| Error::Parse {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        let mut cols = [None; 5];
        for (i, token) in line
            .split(is_delimiter)
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            if i >= cols.len() {
                return Err(parse_err(format!(
                    "more than 5 columns (X Y Z weight lambda); column {} is {}",
                    i + 1,
                    show(token)
                )));
            }
            let v = parse_number(token).ok_or_else(|| {
                parse_err(format!("column {} is not a number: {}", i + 1, show(token)))
            })?;
            if !v.is_finite() {
                return Err(parse_err(format!(
                    "column {} is not a finite number: {}",
                    i + 1,
                    show(token)
                )));
            }
            cols[i] = Some(v);
        }
        sources.push(SourceLine {
            position: [cols[0], cols[1], cols[2]],
            weight: cols[3],
            lambda_m: cols[4],
        });
    }
    if sources.is_empty() {
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: "no sources listed (expected lines of X Y Z weight lambda)".into(),
        });
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;
    use proptest::prelude::*;

    #[test]
    fn golden_sources() {
        let path = crate::io::golden_dir().join("inputs/sources.txt");
        let s = read_source_file(&path).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].position, [Some(-10.0), Some(0.0), Some(0.0)]);
        assert_eq!(s[0].weight, Some(1.0));
        assert_eq!(s[0].lambda_m, Some(1e-10));
        assert_eq!(s[3].position[2], Some(0.002));
        assert_eq!(s[4].lambda_m, Some(9.8e-11));
    }

    #[test]
    fn delimiters_comments_and_missing_columns() {
        let dir = scratch("src");
        let p = dir.join("s.txt");
        std::fs::write(
            &p,
            "# X Y Z I lambda\n\n  \t\n-10,0;0:1!1e-10\r\n   # indented comment\n1 2\n,,5\n",
        )
        .unwrap();
        let s = read_source_file(&p).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0],
            SourceLine {
                position: [Some(-10.0), Some(0.0), Some(0.0)],
                weight: Some(1.0),
                lambda_m: Some(1e-10)
            }
        );
        assert_eq!(s[1].position, [Some(1.0), Some(2.0), None]);
        assert_eq!((s[1].weight, s[1].lambda_m), (None, None));
        assert_eq!(s[2].position, [Some(5.0), None, None]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors() {
        let dir = scratch("srcbad");
        let p = dir.join("s.txt");
        let cases = [
            ("1 2 3 4 5\n1 2 3 4 5 6\n", 2, "more than 5 columns"),
            ("\n\n1 x 3\n", 3, "column 2 is not a number: \"x\""),
            ("1 2 nan\n", 1, "column 3 is not a finite"),
            ("1 2 3 4 1e-10m\n", 1, "column 5 is not a number"),
        ];
        for (text, line, needle) in cases {
            std::fs::write(&p, text).unwrap();
            match read_source_file(&p) {
                Err(Error::Parse {
                    line: l, reason, ..
                }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert!(reason.contains(needle), "{reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        for text in ["", "\n \n", "# nothing\n"] {
            std::fs::write(&p, text).unwrap();
            assert!(matches!(read_source_file(&p), Err(Error::Format { .. })));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let dir = scratch("srcfuzz");
            let p = dir.join("g.txt");
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_source_file(&p);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
