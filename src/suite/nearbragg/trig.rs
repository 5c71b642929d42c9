//! sin and cos of the scattering phase on lanes, accurate for the phases nearBragg meets.
//!
//! The phase is `2π·(r_src + r_pix)/λ`: with a source 10 m upstream and λ = 1 Å it is about
//! 6·10¹¹ rad, and its double has an ulp of 1.2·10⁻⁴ rad. nearBragg.c computes that double and
//! calls the C library's `sin` and `cos`, which reduce the argument exactly (every bit of the
//! double counts). Interference between atoms lives in the differences of these phases, so the
//! image reproduces C only if this module gives sin and cos *of the same double* to within an
//! ulp or so; an approximate reduction (`wide`'s `sin_cos` subtracts k·π/2 in three parts and is
//! good to about 10⁸ rad) would move every term by up to 10⁻⁴ and blur weak fringes.
//!
//! [`sin_cos`]: k = round(x·2/π); the remainder x − k·π/2 in double-double, with π/2 split into
//! three doubles (160 bits) and the first product subtracted by one fused multiply-add, which
//! is exact there: k·P1 is a multiple of 2⁻⁵² and the difference is below 1, so it is
//! representable. The other two products are split exactly ([`two_prod`]) and summed with
//! TwoSum. The remainder r + rr (|r| ≤ π/4 + ε) goes to fdlibm's kernels `__kernel_sin` and
//! `__kernel_cos` (musl's coefficients, error below 1 ulp, the tail rr included) and the
//! quadrant k mod 4 picks and signs them. The reduction is exact up to |x| = 2⁵⁰ (1.1·10¹⁵,
//! a source 18 km away at 1 Å); lanes beyond, and non-finite lanes, fall back to `std`.
//! Without hardware FMA (a build without `target-cpu=x86-64-v3`) the fused multiply-add that
//! makes the reduction exact is not available as a lane operation, and every lane uses `std`.

use crate::lanes::{F, LANES};

/// 2/π rounded to double.
const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// π/2 = P1 + P2 + P3 to about 160 bits.
const P1: f64 = f64::from_bits(0x3FF9_21FB_5444_2D18);
const P2: f64 = f64::from_bits(0x3C91_A626_3314_5C07);
const P3: f64 = f64::from_bits(0xB91F_1976_B7ED_8FBC);
/// Largest |x| reduced on lanes (2⁵⁰).
pub const REDUCE_LIMIT: f64 = 1_125_899_906_842_624.0;

// fdlibm/musl __kernel_sin coefficients (−1.66666666666666324348e−01, …).
const S1: f64 = f64::from_bits(0xBFC5_5555_5555_5549);
const S2: f64 = f64::from_bits(0x3F81_1111_1110_F8A6);
const S3: f64 = f64::from_bits(0xBF2A_01A0_19C1_61D5);
const S4: f64 = f64::from_bits(0x3EC7_1DE3_57B1_FE7D);
const S5: f64 = f64::from_bits(0xBE5A_E5E6_8A2B_9CEB);
const S6: f64 = f64::from_bits(0x3DE5_D93A_5ACF_D57C);
// fdlibm/musl __kernel_cos coefficients (4.16666666666666019037e−02, …).
const C1: f64 = f64::from_bits(0x3FA5_5555_5555_554C);
const C2: f64 = f64::from_bits(0xBF56_C16C_16C1_5177);
const C3: f64 = f64::from_bits(0x3EFA_01A0_19CB_1590);
const C4: f64 = f64::from_bits(0xBE92_7E4F_809C_52AD);
const C5: f64 = f64::from_bits(0x3E21_EE9E_BDB4_B1C4);
const C6: f64 = f64::from_bits(0xBDA8_FAE9_BE88_38D4);

/// `(a·b, error)` with `a·b = p + e` exactly (needs a fused multiply-add).
#[inline(always)]
fn two_prod(a: F, b: F) -> (F, F) {
    let p = a * b;
    (p, a.mul_sub(b, p))
}

/// `(a + b, error)` exactly, whatever the magnitudes (Knuth's TwoSum).
#[inline(always)]
fn two_sum(a: F, b: F) -> (F, F) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// sin(x + y) for |x| ≤ π/4, |y| ≤ ulp(x)/2 (fdlibm `__kernel_sin`).
#[inline(always)]
fn kernel_sin(x: F, y: F) -> F {
    let z = x * x;
    let w = z * z;
    let r = z.mul_add(F::splat(S4).mul_add(z, F::splat(S3)), F::splat(S2))
        + z * w * F::splat(S6).mul_add(z, F::splat(S5));
    let v = z * x;
    x - ((z * (F::splat(0.5) * y - v * r) - y) - v * F::splat(S1))
}

/// cos(x + y) for |x| ≤ π/4, |y| ≤ ulp(x)/2 (fdlibm `__kernel_cos`).
#[inline(always)]
fn kernel_cos(x: F, y: F) -> F {
    let z = x * x;
    let w = z * z;
    let r = z * z.mul_add(F::splat(C3).mul_add(z, F::splat(C2)), F::splat(C1))
        + w * w * z.mul_add(F::splat(C6).mul_add(z, F::splat(C5)), F::splat(C4));
    let hz = F::splat(0.5) * z;
    let one = F::splat(1.0);
    let w = one - hz;
    w + (((one - w) - hz) + (z * r - x * y))
}

/// `(sin x, cos x)` on every lane, within about an ulp of the correctly rounded values (see the
/// module documentation).
#[inline(always)]
pub fn sin_cos(x: F) -> (F, F) {
    if cfg!(target_feature = "fma") && x.abs().simd_le(F::splat(REDUCE_LIMIT)).all() {
        reduced(x)
    } else {
        std_lanes(x)
    }
}

/// `std`'s sin and cos lane by lane.
#[cold]
#[inline(never)]
fn std_lanes(x: F) -> (F, F) {
    let mut s = [0.0; LANES];
    let mut c = [0.0; LANES];
    for (i, v) in x.to_array().into_iter().enumerate() {
        (s[i], c[i]) = v.sin_cos();
    }
    (F::from(s), F::from(c))
}

/// The lane algorithm, for finite |x| ≤ [`REDUCE_LIMIT`] and a target with FMA.
#[inline(always)]
fn reduced(x: F) -> (F, F) {
    let k = (x * F::splat(TWO_OVER_PI)).round_ties_even();
    // x − k·P1 is exact (see the module documentation).
    let r1 = k.mul_neg_add(F::splat(P1), x);
    let (p2, e2) = two_prod(k, F::splat(P2));
    let (s, err) = two_sum(r1, -p2);
    let tail = err - e2 - k * F::splat(P3);
    let r = s + tail;
    let rr = tail - (r - s);
    let sin_r = kernel_sin(r, rr);
    let cos_r = kernel_cos(r, rr);
    // Quadrant q = k mod 4 (k is an integer below 2⁵⁰, so these steps are exact).
    let q = k - F::splat(4.0) * (k * F::splat(0.25)).floor();
    let odd = (q - F::splat(2.0) * (q * F::splat(0.5)).floor()).simd_eq(F::splat(1.0));
    let sin_neg = q.simd_ge(F::splat(2.0));
    let cos_neg = q.simd_ge(F::splat(1.0)) & q.simd_le(F::splat(2.0));
    let s = odd.select(cos_r, sin_r);
    let c = odd.select(sin_r, cos_r);
    (sin_neg.select(-s, s), cos_neg.select(-c, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in ulps between `a` and the reference `b` (in units of ulp(b)).
    fn ulps(a: f64, b: f64) -> f64 {
        let ulp = if b == 0.0 {
            f64::MIN_POSITIVE
        } else {
            let next = f64::from_bits(b.abs().to_bits() + 1);
            next - b.abs()
        };
        (a - b).abs() / ulp
    }

    /// A deterministic spread of arguments: small, phase-sized (10⁸–10¹³) and near multiples
    /// of π/2.
    fn arguments() -> Vec<f64> {
        let mut v = Vec::new();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..20_000 {
            let e = next() * 50.0 - 8.0;
            let sign = if next() < 0.5 { -1.0 } else { 1.0 };
            v.push(sign * 2f64.powf(e) * (1.0 + next()));
        }
        // Doubles next to multiples of π/2, where the remainder cancels most.
        for k in [1.0f64, 2.0, 3.0, 1e3, (6.3e11 / P1).round(), 1e14] {
            let c = k * P1;
            let up = f64::from_bits(c.to_bits() + 1);
            let down = f64::from_bits(c.to_bits() - 1);
            v.extend([c, up, down, -c]);
        }
        v.extend([0.0, -0.0, 1e-300, P1, -P1, REDUCE_LIMIT]);
        v
    }

    #[test]
    fn matches_std_within_an_ulp() {
        let args = arguments();
        let (mut worst_rel, mut worst_abs) = (0.0f64, 0.0f64);
        for chunk in args.chunks(LANES) {
            let x = crate::lanes::from_fn(|i| chunk.get(i).copied().unwrap_or(0.5));
            let (s, c) = sin_cos(x);
            for (i, &xi) in chunk.iter().enumerate() {
                let (es, ec) = xi.sin_cos();
                for (got, want) in [(s.to_array()[i], es), (c.to_array()[i], ec)] {
                    worst_abs = worst_abs.max((got - want).abs());
                    if want.abs() > 1e-6 {
                        worst_rel = worst_rel.max(ulps(got, want));
                    }
                }
            }
        }
        eprintln!("worst {worst_rel} ulp, {worst_abs} absolute");
        assert!(worst_rel <= 1.0, "worst {worst_rel} ulp");
        assert!(worst_abs <= 1.2e-16, "worst absolute {worst_abs}");
    }

    #[test]
    fn phase_sized_arguments_keep_every_bit() {
        // A phase of a 10 m source at 1 Å and its neighbours one ulp apart: the sines differ
        // by about 1.2e-4 each step, as the exact reduction says.
        let x0 = std::f64::consts::TAU * 10.1 / 1e-10;
        let xs: Vec<f64> = (0..LANES)
            .scan(x0, |x, _| {
                let v = *x;
                *x = x.next_up();
                Some(v)
            })
            .collect();
        let (s, c) = sin_cos(F::from(<[f64; LANES]>::try_from(xs.as_slice()).unwrap()));
        for (i, x) in xs.iter().enumerate() {
            assert!(ulps(s.to_array()[i], x.sin()) <= 1.0);
            assert!(ulps(c.to_array()[i], x.cos()) <= 1.0);
        }
        assert!((s.to_array()[1] - s.to_array()[0]).abs() > 1e-5);
    }

    #[test]
    fn non_finite_and_huge_lanes_fall_back() {
        let x = F::from([f64::NAN, f64::INFINITY, 1e300, -3e17, 1.0, 2.0, 3.0, 4.0]);
        let (s, c) = sin_cos(x);
        assert!(s.to_array()[0].is_nan() && c.to_array()[1].is_nan());
        assert_eq!(s.to_array()[2], 1e300f64.sin());
        assert_eq!(c.to_array()[3], (-3e17f64).cos());
        assert!(ulps(s.to_array()[5], 2f64.sin()) <= 1.0);
    }
}
