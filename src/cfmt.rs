//! C `printf` number formatting, as glibc does it.
//!
//! nanoBragg writes its SMV headers, PGM comments and console log with `%g`, `%.Ng` and `%.Nf`.
//! Rust's `{}` formatting differs from C in several ways (shortest round-trip digits instead of a
//! fixed count of significant digits, `1e6` instead of `1e+06`, `NaN` instead of `nan`), so
//! byte-identical output needs these helpers.
//!
//! Rules reproduced (C11 §7.21.6.1, glibc behaviour):
//!
//! * `%.Pg` ([`g_prec`], [`g`] with P = 6): P significant digits (P = 0 counts as 1), rounded
//!   from the exact binary value with ties to even. With X the decimal exponent of the rounded
//!   value, fixed notation is used when `P > X >= -4`, otherwise exponent notation `d.ddde±XX`
//!   with at least two exponent digits. Trailing zeros of the fraction, and then a trailing
//!   decimal point, are removed.
//! * `%.Nf` ([`f_prec`]): N digits after the decimal point, same rounding.
//! * The sign follows the sign bit, so `-0.0` prints as `-0` and `-0.0001` with `%.2f` as
//!   `-0.00`. Infinities print as `inf`/`-inf`; NaN as `nan`, or `-nan` when its sign bit is set
//!   (glibc does this; note that `0.0/0.0` computed at run time on x86 is a negative NaN).
//!
//! Precisions above [`MAX_PRECISION`] are treated as [`MAX_PRECISION`]. Every `f64` is exactly
//! representable with that many digits, so `%g` output is unaffected and `%f` output only loses
//! trailing zeros.

/// The largest precision honoured; larger requests are clamped to it.
///
/// The exact decimal expansion of any `f64` has at most 767 significant digits and 1074
/// fractional digits, so nothing but trailing zeros is lost by the clamp.
pub const MAX_PRECISION: usize = 1100;

/// Formats `x` like C `printf("%g", x)`: six significant digits, trailing zeros removed.
pub fn g(x: f64) -> String {
    g_prec(x, 6)
}

/// Text for the non-finite values, as glibc prints them; `None` for finite `x`.
fn non_finite(x: f64) -> Option<String> {
    if x.is_nan() {
        Some(if x.is_sign_negative() { "-nan" } else { "nan" }.to_string())
    } else if x.is_infinite() {
        Some(if x < 0.0 { "-inf" } else { "inf" }.to_string())
    } else {
        None
    }
}

/// Formats `x` like C `printf("%.*g", prec, x)`: `prec` significant digits (0 means 1).
pub fn g_prec(x: f64, prec: usize) -> String {
    if let Some(s) = non_finite(x) {
        return s;
    }
    let p = prec.clamp(1, MAX_PRECISION);
    // Rust's `{:.Ne}` rounds the exact binary value to N+1 significant digits with ties to
    // even, like glibc; it gives "d.ddddde<exp>" with a plain (possibly negative) exponent.
    let sci = format!("{:.*e}", p - 1, x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();

    let mut out = String::with_capacity(p + 8);
    if x.is_sign_negative() {
        out.push('-');
    }
    if exp < -4 || exp >= p as i64 {
        let kept = digits.trim_end_matches('0');
        let kept = if kept.is_empty() { "0" } else { kept };
        out.push_str(&kept[..1]);
        if kept.len() > 1 {
            out.push('.');
            out.push_str(&kept[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let mag = exp.unsigned_abs();
        if mag < 10 {
            out.push('0');
        }
        out.push_str(&mag.to_string());
    } else if exp >= 0 {
        // 0 <= exp < p: the first exp+1 digits are the integer part.
        let split = (exp as usize + 1).min(digits.len());
        let (int_part, frac) = digits.split_at(split);
        out.push_str(int_part);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        // -4 <= exp <= -1: "0.", then -exp-1 zeros, then the significant digits.
        let frac = digits.trim_end_matches('0');
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(frac);
    }
    out
}

/// Formats `x` like C `printf("%.*f", prec, x)`: `prec` digits after the decimal point.
pub fn f_prec(x: f64, prec: usize) -> String {
    if let Some(s) = non_finite(x) {
        return s;
    }
    let p = prec.min(MAX_PRECISION);
    let body = format!("{:.*}", p, x.abs());
    if x.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(g(100.0), "100");
        assert_eq!(g(1e6), "1e+06");
        assert_eq!(g(1.5e-5), "1.5e-05");
        assert_eq!(g(0.1 + 0.2), "0.3");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g_prec(1.23456, 3), "1.23");
        assert_eq!(g_prec(123456789.0, 12), "123456789");
        assert_eq!(g_prec(0.000123, 2), "0.00012");
        assert_eq!(f_prec(2.5, 0), "2");
        assert_eq!(f_prec(0.125, 2), "0.12");
        assert_eq!(f_prec(-0.0001, 2), "-0.00");
        assert_eq!(f_prec(f64::INFINITY, 3), "inf");
    }
    use proptest::prelude::*;

    /// (value, `%g`) pairs printed by glibc 2.x `printf("%g")` (verified with a C program).
    const G_CASES: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (0.5, "0.5"),
        (100.0, "100"),
        (0.1, "0.1"),
        (12.85, "12.85"),
        (129.5, "129.5"),
        (6.2, "6.2"),
        (3.86273, "3.86273"),
        (123456.0, "123456"),
        (123456.5, "123456"),
        (123457.5, "123458"),
        (1234565.0, "1.23456e+06"),
        (1234575.0, "1.23458e+06"),
        (999999.0, "999999"),
        (999999.5, "1e+06"),
        (1e6, "1e+06"),
        (1.5e-5, "1.5e-05"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (0.00012345678, "0.000123457"),
        (0.000099999999, "0.0001"),
        (0.0000999994, "9.99994e-05"),
        (1e100, "1e+100"),
        (1e300, "1e+300"),
        (-2.5e-300, "-2.5e-300"),
        (5e-324, "4.94066e-324"),
        (f64::MAX, "1.79769e+308"),
        (f64::MIN_POSITIVE, "2.22507e-308"),
        (0.3, "0.3"),
        (2.675, "2.675"),
        (1.0 / 3.0, "0.333333"),
        (-2.0 / 3.0, "-0.666667"),
        (55000.0 / 7.0, "7857.14"),
        (-12.9, "-12.9"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        (-f64::NAN, "-nan"),
    ];

    #[test]
    fn g_matches_glibc_table() {
        for &(x, want) in G_CASES {
            assert_eq!(g(x), want, "%g of {x:e}");
        }
    }

    /// (value, precision, `%.Ng`, `%.Nf`) from glibc.
    const PREC_CASES: &[(f64, usize, &str, &str)] = &[
        (0.5, 0, "0.5", "0"),
        (1.5, 0, "2", "2"),
        (2.5, 0, "2", "2"),
        (0.125, 2, "0.12", "0.12"),
        (0.375, 2, "0.38", "0.38"),
        (0.25, 1, "0.2", "0.2"),
        (2.675, 2, "2.7", "2.67"),
        (-0.0001, 2, "-0.0001", "-0.00"),
        (-0.0, 1, "-0", "-0.0"),
        (123456.5, 3, "1.23e+05", "123456.500"),
        (1e-5, 17, "1.0000000000000001e-05", "0.00001000000000000"),
        (1234565.0, 17, "1234565", "1234565.00000000000000000"),
        (2.9, 0, "3", "3"),
        (0.000123, 2, "0.00012", "0.00"),
        (99.5, 2, "1e+02", "99.50"),
        (f64::NAN, 3, "nan", "nan"),
        (f64::NEG_INFINITY, 3, "-inf", "-inf"),
    ];

    #[test]
    fn precision_variants_match_glibc() {
        for &(x, p, want_g, want_f) in PREC_CASES {
            assert_eq!(g_prec(x, p), want_g, "%.{p}g of {x:e}");
            assert_eq!(f_prec(x, p), want_f, "%.{p}f of {x:e}");
        }
    }

    #[test]
    fn huge_precision_is_clamped_without_panicking() {
        assert_eq!(g_prec(0.1, usize::MAX), g_prec(0.1, MAX_PRECISION));
        assert_eq!(g_prec(0.5, 100_000), "0.5");
        assert_eq!(f_prec(1.0, usize::MAX).len(), 2 + MAX_PRECISION);
    }

    /// Parses the output of `%g` back; `%g` keeps 6 significant digits.
    fn close_enough(x: f64, s: &str) -> bool {
        let y: f64 = s.parse().unwrap_or(f64::NAN);
        y == x || ((y - x) / x).abs() <= 5e-6
    }

    proptest! {
        #[test]
        fn g_is_shape_correct(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            let s = g(x);
            if x.is_finite() {
                prop_assert!(close_enough(x, &s), "{x:e} -> {s}");
                let mantissa = s.split('e').next().unwrap_or("");
                let sig: usize = mantissa.chars().filter(char::is_ascii_digit).count();
                let lead = mantissa.trim_start_matches(['-', '0', '.']);
                prop_assert!(lead.chars().filter(char::is_ascii_digit).count() <= 6);
                prop_assert!(sig >= 1);
                prop_assert!(!mantissa.contains('.') || !mantissa.ends_with('0'), "{s}");
                if let Some(exp) = s.split('e').nth(1) {
                    prop_assert!(exp.starts_with('+') || exp.starts_with('-'));
                    prop_assert!(exp.len() >= 3);
                }
            }
        }

        #[test]
        fn g_agrees_with_high_precision_rounding(x in -1e12f64..1e12) {
            // For moderate values, %g must equal %.6g built from Rust's exact 6-digit rounding.
            let s = g(x);
            let sci = format!("{:.5e}", x);
            let reparsed: f64 = sci.parse().unwrap();
            prop_assert_eq!(s.parse::<f64>().unwrap(), reparsed);
        }

        #[test]
        fn f_prec_never_panics_and_round_trips(x in any::<f64>(), p in 0usize..40) {
            let s = f_prec(x, p);
            if x.is_finite() {
                let dot = s.find('.');
                prop_assert_eq!(dot.map(|d| s.len() - d - 1).unwrap_or(0), p);
            }
        }
    }
}
