//! The column files of nonBragg (the `-stol` table and the `-sourcefile` list), read two ways.
//!
//! * [`strict_rows`] (default mode): one row per line; columns separated by runs of space, tab,
//!   `,`, `;`, `:`, `!` (C's delimiters) and CR; blank lines and lines whose first word starts
//!   with `#` are skipped; a missing trailing column is `None`; a word that is not a finite
//!   number, or a column too many, is an [`Error::Parse`] naming the file and line.
//! * [`c_rows`] (`-compat`): C's `read_text_file` step by step — `fgets` into a 10 240-byte
//!   buffer, a line is blank only if nothing but delimiters precede its `\n`, each value is
//!   `atof` of the text, then the characters `0123456789-+.EGeg` are skipped, then anything
//!   up to a delimiter, then delimiters. Missing columns stay NaN, except on a last line
//!   without a newline (or a piece of a line longer than the buffer), where every missing
//!   column is read as `atof("") = 0` (quirk NB17). Words that are not numbers read as 0, so
//!   a comment line becomes a row of zeros.

use std::path::Path;

use crate::error::{Error, Result};

/// C's column delimiters (`" \t,;:!"`).
const C_DELIMITERS: &[u8] = b" \t,;:!";

/// The characters C skips after reading a number (`"0123456789-+.EGeg"`).
const C_NUMBER_STUFF: &[u8] = b"0123456789-+.EGeg";

/// `fgets`' buffer in `read_text_file`: at most this many bytes minus one per read.
const C_LINE_BUFFER: usize = 10240;

/// Whether `b` separates columns in default mode: C's delimiters, CR, vertical tab, form feed.
fn is_separator(b: u8) -> bool {
    C_DELIMITERS.contains(&b) || matches!(b, b'\r' | 0x0b | 0x0c)
}

/// One row of a column file: its 1-based line number and its values (`None`: not given).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 1-based line number in the file.
    pub line: usize,
    /// The columns given, in order; columns not given are `None`.
    pub values: Vec<Option<f64>>,
}

/// The rows of `bytes` (the file `path`) with at least one and at most `columns` values each,
/// in default mode's strict syntax (see the module documentation). `what` names the columns
/// for messages (`"stol F"`).
pub fn strict_rows(path: &Path, bytes: &[u8], columns: usize, what: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let bad = |reason: String| Error::Parse {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut words = raw.split(|b| is_separator(*b)).filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            continue;
        };
        if first.starts_with(b"#") {
            continue;
        }
        let mut values = vec![None; columns];
        for (k, word) in std::iter::once(first).chain(words).enumerate() {
            let parsed = std::str::from_utf8(word)
                .ok()
                .and_then(|t| t.parse::<f64>().ok());
            if k < columns
                && let Some(v) = parsed.filter(|v| v.is_finite())
            {
                values[k] = Some(v);
                continue;
            }
            let text = String::from_utf8_lossy(word);
            return Err(bad(if k >= columns {
                format!(
                    "more than {columns} columns ({what}); column {} is {text:?}",
                    k + 1
                )
            } else if parsed.is_some() {
                format!("column {} is not a finite number: {text:?}", k + 1)
            } else {
                format!(
                    "column {} is not a number: {text:?} (expected {what})",
                    k + 1
                )
            }));
        }
        rows.push(Row { line, values });
    }
    Ok(rows)
}

/// The rows C's `read_text_file(filename, columns, …)` makes of `bytes`: one array of
/// `columns` values per counted line, NaN where C leaves its "missing" flag (see the module
/// documentation). The line numbers are those of the file (a line longer than C's buffer
/// gives several rows with the same number).
pub fn c_rows(bytes: &[u8], columns: usize) -> Vec<(usize, Vec<f64>)> {
    let mut rows = Vec::new();
    for (line, piece) in fgets_pieces(bytes) {
        // C's string functions stop at the first NUL that fgets copied.
        let text = piece.split(|b| *b == 0).next().unwrap_or(&[]);
        let mut at = span(text, 0, |b| C_DELIMITERS.contains(&b));
        let is_newline = |at: usize| &text[at.min(text.len())..] == b"\n";
        if is_newline(at) {
            continue;
        }
        let mut values = vec![f64::NAN; columns];
        let mut i = 0;
        loop {
            values[i] = c_atof(&text[at..]);
            at = span(text, at, |b| C_NUMBER_STUFF.contains(&b));
            if is_newline(at) {
                break;
            }
            at = span(text, at, |b| !C_DELIMITERS.contains(&b));
            at = span(text, at, |b| C_DELIMITERS.contains(&b));
            if is_newline(at) {
                break;
            }
            i += 1;
            if i >= columns {
                break;
            }
        }
        rows.push((line, values));
    }
    rows
}

/// The index after the run of bytes of `text` from `at` that satisfy `keep` (C `strspn` /
/// `strcspn`).
fn span(text: &[u8], at: usize, keep: impl Fn(u8) -> bool) -> usize {
    at + text[at.min(text.len())..]
        .iter()
        .take_while(|b| keep(**b))
        .count()
}

/// The successive `fgets(text, 10240, file)` reads of `bytes` with the 1-based line each
/// starts on: up to and including a newline, at most 10 239 bytes.
fn fgets_pieces(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut pieces = Vec::new();
    let mut line = 1;
    let mut rest = bytes;
    while !rest.is_empty() {
        let limit = rest.len().min(C_LINE_BUFFER - 1);
        let end = rest[..limit]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(limit, |i| i + 1);
        let (piece, tail) = rest.split_at(end);
        pieces.push((line, piece));
        if piece.ends_with(b"\n") {
            line += 1;
        }
        rest = tail;
    }
    pieces
}

/// C `atof`: skip leading white space, convert the longest prefix that is a decimal number
/// (or `inf`, `infinity`, `nan`, any case), 0 when there is none.
pub fn c_atof(s: &[u8]) -> f64 {
    let skip = s
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    let s = &s[skip..];
    let (negative, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let signed = |v: f64| if negative { -v } else { v };
    let starts =
        |word: &[u8]| body.len() >= word.len() && body[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"inf") {
        return signed(f64::INFINITY);
    }
    if starts(b"nan") {
        return signed(f64::NAN);
    }
    let mut end = 0;
    let mut digits = 0;
    while body.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
        digits += 1;
    }
    if body.get(end) == Some(&b'.') {
        end += 1;
        while body.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return 0.0;
    }
    let mantissa_end = end;
    if matches!(body.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(body.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if body.get(j).is_some_and(u8::is_ascii_digit) {
            while body.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            end = j;
        }
    }
    // Rust's parser takes "5.", ".5" and "5.e3" as C does; the text is ASCII.
    let text = String::from_utf8_lossy(&body[..end]);
    let value = text.parse::<f64>().unwrap_or_else(|_| {
        String::from_utf8_lossy(&body[..mantissa_end])
            .parse::<f64>()
            .unwrap_or(0.0)
    });
    signed(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atof_takes_the_longest_number() {
        assert_eq!(c_atof(b"  1.5e3x"), 1500.0);
        assert_eq!(c_atof(b"-.25,"), -0.25);
        assert_eq!(c_atof(b"5."), 5.0);
        assert_eq!(c_atof(b"7e"), 7.0);
        assert_eq!(c_atof(b"# c"), 0.0);
        assert_eq!(c_atof(b""), 0.0);
        assert_eq!(c_atof(b"-inf"), f64::NEG_INFINITY);
        assert!(c_atof(b"nan").is_nan());
    }

    #[test]
    fn c_rows_follow_read_text_file() {
        let text = b"0 3\n0.005, 2.8\n  \n0.01\t2.2\n0.03\n0.04 1 9\n# note\n\r\n0.05";
        let rows = c_rows(text, 2);
        let got: Vec<(usize, [f64; 2])> = rows.iter().map(|(l, v)| (*l, [v[0], v[1]])).collect();
        assert_eq!(got[0], (1, [0.0, 3.0]));
        assert_eq!(got[1], (2, [0.005, 2.8]));
        assert_eq!(got[2], (4, [0.01, 2.2]));
        assert_eq!(got[3].0, 5);
        assert!(
            got[3].1[1].is_nan(),
            "a line without F keeps C's missing flag"
        );
        assert_eq!(got[4], (6, [0.04, 1.0]), "a third column is ignored");
        assert_eq!(got[5], (7, [0.0, 0.0]), "a comment becomes zeros");
        assert_eq!(got[6], (8, [0.0, 0.0]), "CR LF is not a blank line in C");
        assert_eq!(got[7], (9, [0.05, 0.0]), "NB17: last line without newline");
        assert_eq!(rows.len(), 8);
    }

    #[test]
    fn long_lines_are_read_in_pieces() {
        let mut text = vec![b' '; C_LINE_BUFFER + 5];
        text.extend_from_slice(b"1 2\n");
        let pieces = fgets_pieces(&text);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].1.len(), C_LINE_BUFFER - 1);
        assert_eq!(pieces[1].0, 1);
    }

    proptest::proptest! {
        /// Neither reader panics on any bytes.
        #[test]
        fn any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let rows = c_rows(&bytes, 5);
            proptest::prop_assert!(rows.iter().all(|(_, v)| v.len() == 5));
            let _ = strict_rows(Path::new("x"), &bytes, 5, "X Y Z weight lambda");
        }
    }

    #[test]
    fn strict_rows_name_the_line() {
        let p = Path::new("t.stol");
        let rows = strict_rows(p, b"# head\n0 3\r\n\n0.01;2\n0.02\n", 2, "stol F").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[2].values, vec![Some(0.02), None]);
        let e = strict_rows(p, b"0 1\n0.1 x\n", 2, "stol F").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.stol:2: column 2 is not a number: \"x\" (expected stol F)"
        );
        let e = strict_rows(p, b"0 1 2\n", 2, "stol F").unwrap_err();
        assert!(
            e.to_string().starts_with("t.stol:1: more than 2 columns"),
            "{e}"
        );
        let e = strict_rows(p, b"0 inf\n", 2, "stol F").unwrap_err();
        assert!(e.to_string().contains("not a finite number"), "{e}");
    }
}
