//! Small text-scanning helpers shared by the readers (crate-private).
//!
//! Numbers are recognised with C `strtod` syntax (decimal only): optional sign, digits with an
//! optional decimal point, optional exponent, or `inf`/`infinity`/`nan` in any case. Hexadecimal
//! floats are not recognised. Conversion uses Rust's correctly rounded parser, which gives the
//! same value as glibc's `strtod`.

/// C `isspace` in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Longest prefix of `s` that C `strtod` would convert (no leading whitespace skipped).
///
/// Returns the value and the number of bytes used, or `None` when no conversion is possible.
pub(crate) fn strtod_prefix(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let negative = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let signed = |v: f64| if negative { -v } else { v };
    let rest = &s[i..];
    let starts_with_ci =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts_with_ci(b"infinity") {
        return Some((signed(f64::INFINITY), i + 8));
    }
    if starts_with_ci(b"inf") {
        return Some((signed(f64::INFINITY), i + 3));
    }
    if starts_with_ci(b"nan") {
        let mut end = i + 3;
        // "nan(n-char-sequence)" is consumed as a whole when the parenthesis closes.
        if s.get(end) == Some(&b'(') {
            let mut j = end + 1;
            while s
                .get(j)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                end = j + 1;
            }
        }
        return Some((signed(f64::NAN), end));
    }

    let start = i;
    let mut digits = 0usize;
    while s.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        digits += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            while s.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            i = j;
        }
    }
    // The slice is ASCII by construction; a bare "." is excluded by `digits > 0`.
    let text = std::str::from_utf8(&s[start..i]).ok()?;
    let text = text.strip_suffix('.').unwrap_or(text);
    let value: f64 = if text.starts_with('.') {
        format!("0{text}").parse().ok()?
    } else if text.contains(".e") || text.contains(".E") {
        text.replace(".e", "e").replace(".E", "E").parse().ok()?
    } else {
        text.parse().ok()?
    };
    Some((signed(value), i))
}

/// C `atof`: skip leading whitespace, convert the longest valid prefix, 0 when there is none.
pub(crate) fn atof(s: &[u8]) -> f64 {
    let skip = s.iter().take_while(|b| is_c_space(**b)).count();
    strtod_prefix(&s[skip..]).map_or(0.0, |(v, _)| v)
}

/// Parses a whole token as a number with C syntax; `None` unless every byte is used.
pub(crate) fn parse_number(token: &str) -> Option<f64> {
    // Fast path, same value, for plain numbers: a digit, more digits, optionally a point and
    // more digits, read in one pass.
    let bytes = token.as_bytes();
    let negative = bytes.first() == Some(&b'-');
    let body = match bytes.first() {
        Some(b'-' | b'+') => &bytes[1..],
        _ => bytes,
    };
    if body.first().is_some_and(u8::is_ascii_digit) {
        let (mut m, mut digits, mut frac, mut point, mut plain) = (0u64, 0, 0, false, true);
        for &b in body {
            if b.is_ascii_digit() {
                m = m.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                digits += 1;
                frac += usize::from(point);
            } else if b == b'.' && !point {
                point = true;
            } else {
                plain = false;
                break;
            }
        }
        if plain && digits <= 15 {
            // Clinger's fast path: the digits as an integer below 10¹⁵ and 10^frac are both
            // exact in f64, so their quotient is the correctly rounded value.
            let v = if frac == 0 {
                m as f64
            } else {
                m as f64 / POW10[frac]
            };
            return Some(if negative { -v } else { v });
        }
        if plain {
            // Longer: Rust parses these correctly rounded, as strtod does.
            return token.parse().ok();
        }
    }
    match strtod_prefix(bytes) {
        Some((v, n)) if n == token.len() => Some(v),
        _ => None,
    }
}

/// 10⁰ … 10¹⁵, exact in f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The tokens of `line` between runs of C `isspace` characters. The separators are ASCII
/// bytes, so the tokens are cut at character boundaries without decoding characters.
pub(crate) fn c_tokens(line: &str) -> impl Iterator<Item = &str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && is_c_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && !is_c_space(bytes[i]) {
            i += 1;
        }
        Some(&line[start..i])
    })
}

/// `line` without leading and trailing C `isspace` characters.
pub(crate) fn trim_c_space(line: &str) -> &str {
    let bytes = line.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_c_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_c_space(b))
        .map_or(start, |e| e + 1);
    &line[start..end]
}

/// A token made safe and short for an error message.
pub(crate) fn show(token: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::new();
    for (n, c) in token.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    format!("\"{out}\"")
}

/// Splits file contents into 1-based numbered lines (`\n` separated, a trailing `\r` dropped),
/// decoding invalid UTF-8 lossily so that binary garbage surfaces as unparsable tokens.
pub(crate) fn numbered_lines(
    bytes: &[u8],
) -> impl Iterator<Item = (usize, std::borrow::Cow<'_, str>)> + '_ {
    bytes.split(|b| *b == b'\n').enumerate().map(|(i, raw)| {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        };
        (i + 1, text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strtod_prefixes() {
        let cases: &[(&str, Option<(f64, usize)>)] = &[
            ("1", Some((1.0, 1))),
            ("-1.5e3x", Some((-1500.0, 6))),
            ("+.5", Some((0.5, 3))),
            ("5.", Some((5.0, 2))),
            ("5.e2", Some((500.0, 4))),
            ("1e", Some((1.0, 1))),
            ("1e+", Some((1.0, 1))),
            ("-0.0112-0.0056", Some((-0.0112, 7))),
            ("inFinity", Some((f64::INFINITY, 8))),
            ("-inf5", Some((f64::NEG_INFINITY, 4))),
            (".", None),
            ("-", None),
            ("e5", None),
            ("abc", None),
            ("", None),
            ("1e999", Some((f64::INFINITY, 5))),
        ];
        for &(s, want) in cases {
            assert_eq!(strtod_prefix(s.as_bytes()), want, "{s:?}");
        }
        let (nan, n) = strtod_prefix(b"nan(123)x").unwrap();
        assert!(nan.is_nan());
        assert_eq!(n, 8);
    }

    #[test]
    fn atof_like_c() {
        assert_eq!(atof(b"  512;\n"), 512.0);
        assert_eq!(atof(b"\t-3.5e1 mm"), -35.0);
        assert_eq!(atof(b"little_endian"), 0.0);
        assert_eq!(atof(b""), 0.0);
    }

    #[test]
    fn parse_number_needs_whole_token() {
        assert_eq!(parse_number("12.5"), Some(12.5));
        assert_eq!(parse_number("12.5x"), None);
        assert_eq!(parse_number("1,5"), None);
        assert_eq!(parse_number("1.2.3"), None);
        assert_eq!(parse_number("+-1"), None);
        assert_eq!(parse_number("-"), None);
        assert_eq!(parse_number("5."), Some(5.0));
        assert_eq!(parse_number("-.5"), Some(-0.5));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(
            parse_number("-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(parse_number("0.1"), Some(0.1));
    }

    proptest! {
        #[test]
        fn strtod_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Some((_, n)) = strtod_prefix(&bytes) {
                prop_assert!(n <= bytes.len());
            }
            let _ = atof(&bytes);
        }

        #[test]
        fn plain_numbers_parse_correctly_rounded(
            int in "[0-9]{1,18}",
            frac in "[0-9]{0,12}",
            sign in prop::sample::select(vec!["", "-", "+"]),
        ) {
            for text in [format!("{sign}{int}"), format!("{sign}{int}.{frac}")] {
                let want: f64 = text.parse().unwrap();
                prop_assert_eq!(parse_number(&text).map(f64::to_bits), Some(want.to_bits()));
                prop_assert_eq!(strtod_prefix(text.as_bytes()), Some((want, text.len())));
            }
        }

        #[test]
        fn c_tokens_split_at_c_spaces(line in "[ a\t\x0b\x0c\r\u{e9}1.]{0,30}") {
            let want: Vec<&str> = line
                .split(|c: char| c.is_ascii() && is_c_space(c as u8))
                .filter(|t| !t.is_empty())
                .collect();
            prop_assert_eq!(c_tokens(&line).collect::<Vec<_>>(), want);
            prop_assert_eq!(
                trim_c_space(&line),
                line.trim_matches(|c: char| c.is_ascii() && is_c_space(c as u8))
            );
        }

        #[test]
        fn strtod_reads_rust_output(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            for text in [format!("{x}"), format!("{x:e}"), format!("{x:.3e}")] {
                let want: f64 = text.parse().unwrap();
                prop_assert_eq!(strtod_prefix(text.as_bytes()), Some((want, text.len())));
            }
        }
    }
}
