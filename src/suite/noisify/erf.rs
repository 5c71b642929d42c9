//! The error function and its complement, for the Gaussian point-spread kernel.
//!
//! Rust's standard library has no stable `erf`. This is the algorithm of Sun's fdlibm
//! (`s_erf.c`, which glibc and musl derive from): rational approximations on `|x| < 0.84375`
//! and `0.84375 ≤ |x| < 1.25`, then `exp(−x² − 0.5625 + R(1/x²)/S(1/x²))/x` for the complement
//! up to 28, with the coefficients below; the documented error is below one ulp. The C
//! programs call glibc's `erf`, which may differ from this in the last bit; the kernel values
//! feed sums rounded to `float`, so such a difference almost never changes a pixel.
//!
//! The coefficients are fdlibm's:
//!
//! > Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//! >
//! > Developed at SunPro, a Sun Microsystems, Inc. business.
//! > Permission to use, copy, modify, and distribute this
//! > software is freely granted, provided that this notice
//! > is preserved.
//!
//! The constants keep all the digits fdlibm prints (hence `excessive_precision`).

#![allow(clippy::excessive_precision)]

/// `erf(1)` rounded to 24 bits (fdlibm's `erx`).
const ERX: f64 = 8.450_629_115_104_675_292_97e-1;

/// `erf(x) ≈ x + x·P(x²)/Q(x²)` on `|x| < 0.84375`.
const PP: [f64; 5] = [
    1.283_791_670_955_125_585_61e-1,
    -3.250_421_072_470_014_993_70e-1,
    -2.848_174_957_559_851_047_66e-2,
    -5.770_270_296_489_441_591_57e-3,
    -2.376_301_665_665_016_260_84e-5,
];
const QQ: [f64; 5] = [
    3.979_172_239_591_553_528_19e-1,
    6.502_224_998_876_729_444_85e-2,
    5.081_306_281_875_765_627_76e-3,
    1.324_947_380_043_216_445_26e-4,
    -3.960_228_278_775_368_123_20e-6,
];

/// `erf(1 + s) − ERX ≈ P(s)/Q(s)` on `0.84375 ≤ |x| < 1.25`.
const PA: [f64; 7] = [
    -2.362_118_560_752_659_440_77e-3,
    4.148_561_186_837_483_316_66e-1,
    -3.722_078_760_357_013_238_47e-1,
    3.183_466_199_011_617_536_74e-1,
    -1.108_946_942_823_966_774_76e-1,
    3.547_830_432_561_823_593_71e-2,
    -2.166_375_594_868_790_843_00e-3,
];
const QA: [f64; 6] = [
    1.064_208_804_008_442_282_86e-1,
    5.403_979_177_021_710_489_37e-1,
    7.182_865_441_419_626_628_68e-2,
    1.261_712_198_087_616_421_12e-1,
    1.363_708_391_202_905_073_62e-2,
    1.198_449_984_679_910_741_70e-2,
];

/// `erfc` on `1.25 ≤ |x| < 1/0.35`: `R(z)/S(z)` with `z = 1/x²`.
const RA: [f64; 8] = [
    -9.864_944_034_847_148_227_05e-3,
    -6.938_585_727_071_817_643_72e-1,
    -1.055_862_622_532_329_098_14e1,
    -6.237_533_245_032_600_603_96e1,
    -1.623_966_694_625_734_703_55e2,
    -1.846_050_929_067_110_359_94e2,
    -8.128_743_550_630_659_342_46e1,
    -9.814_329_344_169_145_485_92,
];
const SA: [f64; 8] = [
    1.965_127_166_743_925_712_92e1,
    1.376_577_541_435_190_426_00e2,
    4.345_658_774_752_292_288_21e2,
    6.453_872_717_332_678_803_36e2,
    4.290_081_400_275_678_333_86e2,
    1.086_350_055_417_794_351_34e2,
    6.570_249_770_319_281_701_35,
    -6.042_441_521_485_809_874_38e-2,
];

/// `erfc` on `1/0.35 ≤ |x| < 28`.
const RB: [f64; 7] = [
    -9.864_942_924_700_099_285_97e-3,
    -7.992_832_376_805_230_065_74e-1,
    -1.775_795_491_775_475_198_89e1,
    -1.606_363_848_558_219_160_62e2,
    -6.375_664_433_683_896_277_22e2,
    -1.025_095_131_611_077_249_54e3,
    -4.835_191_916_086_513_970_19e2,
];
const SB: [f64; 7] = [
    3.033_806_074_348_245_829_24e1,
    3.257_925_129_965_739_188_26e2,
    1.536_729_586_084_436_959_94e3,
    3.199_858_219_508_595_539_08e3,
    2.553_050_406_433_164_425_83e3,
    4.745_285_412_069_553_672_15e2,
    -2.244_095_244_658_581_833_62e1,
];

/// `c[0] + z·(c[1] + z·(…))`, innermost term last.
fn horner(c: &[f64], z: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &k| k + z * acc)
}

/// `1 + z·(c[0] + z·(c[1] + …))`.
fn horner1(c: &[f64], z: f64) -> f64 {
    1.0 + z * horner(c, z)
}

/// `exp(−x²−0.5625 + R/S)/x` for `x ≥ 1.25`, with `x²` split as fdlibm does (the high half of
/// `x` squared exactly) so that the large exponent loses no accuracy.
fn tail(x: f64) -> f64 {
    let s = 1.0 / (x * x);
    let (r, q) = if x < 1.0 / 0.35 {
        (horner(&RA, s), horner1(&SA, s))
    } else {
        (horner(&RB, s), horner1(&SB, s))
    };
    let z = f64::from_bits(x.to_bits() & 0xffff_ffff_0000_0000);
    (-z * z - 0.5625).exp() * ((z - x) * (z + x) + r / q).exp() / x
}

/// The error function `2/√π ∫₀ˣ e^(−t²) dt`.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let magnitude = if a < 0.84375 {
        if a < 2f64.powi(-28) {
            return x + PP[0] * x;
        }
        let z = x * x;
        return x + x * (horner(&PP, z) / horner1(&QQ, z));
    } else if a < 1.25 {
        let s = a - 1.0;
        ERX + horner(&PA, s) / horner1(&QA, s)
    } else if a < 6.0 {
        1.0 - tail(a)
    } else {
        1.0
    };
    magnitude.copysign(x)
}

/// The complementary error function `1 − erf(x)`, accurate where `erf(x)` is close to 1.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a < 0.84375 {
        if a < 2f64.powi(-56) {
            return 1.0 - x;
        }
        let z = x * x;
        let y = horner(&PP, z) / horner1(&QQ, z);
        return if x < 0.25 {
            1.0 - (x + x * y)
        } else {
            0.5 - (x * y + (x - 0.5))
        };
    }
    if a < 1.25 {
        let p = horner(&PA, a - 1.0) / horner1(&QA, a - 1.0);
        return if x > 0.0 {
            (1.0 - ERX) - p
        } else {
            1.0 + (ERX + p)
        };
    }
    if x > 0.0 {
        if a < 28.0 { tail(a) } else { 0.0 }
    } else if a < 6.0 {
        2.0 - tail(a)
    } else {
        2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `erf(x)` by composite Simpson integration of `2/√π·e^(−t²)` (reference).
    fn erf_simpson(x: f64) -> f64 {
        let n = 20_000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        // Kahan-compensated, so that rounding stays far below the tolerance.
        let (mut s, mut c) = (f(0.0) + f(x), 0.0);
        for i in 1..n {
            let y = f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 } - c;
            let t = s + y;
            c = (t - s) - y;
            s = t;
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_matches_integration_and_known_values() {
        for &x in &[
            0.0, 1e-10, 0.1, 0.5, 0.84, 0.9, 1.0, 1.2, 1.3, 2.0, 2.9, 3.5, 5.0,
        ] {
            let want = erf_simpson(x);
            assert!(
                (erf(x) - want).abs() < 1e-14,
                "erf({x}) = {} vs {want}",
                erf(x)
            );
            assert_eq!(erf(-x), -erf(x));
            let c = erfc(x);
            assert!((c - (1.0 - want)).abs() < 1e-14, "erfc({x}) = {c}");
        }
        // Tabulated values (Abramowitz & Stegun 7.1; erfc(5) from its asymptotic series).
        assert!((erf(1.0) - 0.842_700_792_949_714_9).abs() < 1e-16);
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 1e-16);
        assert!((erfc(5.0) / 1.537_459_794_428_034_8e-12 - 1.0).abs() < 1e-14);
        assert!((erfc(-1.0) - 1.842_700_792_949_715).abs() < 1e-15);
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
        assert!(erf(f64::NAN).is_nan() && erfc(f64::NAN).is_nan());
        assert_eq!(erfc(30.0), 0.0);
    }
}
