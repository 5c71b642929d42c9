//! The lattice factor on lanes: F_latt of every crystal shape for a vector of evaluations at
//! once, the lane twin of the scalar [`physics::lattice`], which documents the method (integer
//! peel, `cos(πx)` and `sin(πx)` polynomials, Chebyshev root products) and regenerates its
//! constants.
//!
//! Entry points: [`Lattice`] (the roots of the three axes as lane vectors), [`lattice_factor`]
//! (any shape, the general loop), [`square_lattice`] and [`polynomial_lattice`] (the square
//! crystal's F_latt² from peeled indices, the batched hot loop). Leaves after them: one
//! polynomial axis, the sine ratio, `cos(πx)`, `sin(πx)` and the peel.

use crate::lanes::F;
use crate::params::Shape;
use crate::physics::{
    self,
    lattice::{
        Axis, COSPI, GAUSS_WIDTH, MAX_ROOTS, ROUND_CRYSTAL, SINC3_SERIES_BELOW, SINPI,
        TOPHAT_RADIUS_SQUARED,
    },
};
use crate::setup::Setup;

/// The lattice factor's method and roots for the three axes (from the scalar
/// [`physics::lattice::Lattice`], roots as lane vectors).
pub(crate) struct Lattice {
    /// Per axis, the roots of its polynomial in w (odd N) or z (even N), padded with zeros.
    roots: [[F; MAX_ROOTS]; 3],
    /// Per axis: the number of roots.
    count: [usize; 3],
    axis: [Axis; 3],
    n: [f64; 3],
    /// `F_latt² = scale × weights × amplitudes²`: the product of the axes' squared leading
    /// coefficients, a power of two.
    pub(crate) scale: f64,
}

impl Lattice {
    pub(crate) fn new(n: [f64; 3]) -> Self {
        let twin = physics::lattice::Lattice::new(n);
        Lattice {
            roots: twin.roots.map(|axis| axis.map(F::splat)),
            count: twin.count,
            axis: twin.axis,
            n,
            scale: twin.scale,
        }
    }

    /// The cell count N the three axes share when they all take the polynomial method
    /// (N ≤ [`physics::lattice::POLYNOMIAL_MAX_N`]), the one [`polynomial_lattice`] is
    /// compiled for; 0 otherwise (the general [`square_lattice`]).
    pub(super) fn shared_polynomial_cells(&self) -> usize {
        let uniform = self.n[0] == self.n[1] && self.n[1] == self.n[2];
        if uniform && self.axis[0] != Axis::Ratio {
            Axis::cells(self.n[0])
        } else {
            0
        }
    }
}

/// F_latt for the crystal shape, per lane (up to its sign, which the intensity does not see),
/// from the fractional indices and their nearest integers.
#[inline(always)]
pub(super) fn lattice_factor(setup: &Setup, lattice: &Lattice, hkl: [F; 3], hkl0: [F; 3]) -> F {
    let d = [hkl[0] - hkl0[0], hkl[1] - hkl0[1], hkl[2] - hkl0[2]];
    match setup.shape {
        Shape::Square => (square_lattice(lattice, d) * F::splat(lattice.scale)).sqrt(),
        Shape::Round => round_lattice(setup, d),
        Shape::Gauss | Shape::Tophat => gauss_or_tophat_lattice(setup, d),
    }
}

/// The square-crystal F_latt² / [`Lattice::scale`] from the peeled fractional indices δ
/// (|δ| ≤ ½), any mix of polynomial and sine-ratio axes.
#[inline(always)]
pub(crate) fn square_lattice(lattice: &Lattice, d: [F; 3]) -> F {
    let mut amplitude = F::ONE;
    let mut weight = F::ONE;
    for (i, &delta) in d.iter().enumerate() {
        if lattice.axis[i] != Axis::Ratio {
            let [c] = cospi([delta]);
            let roots = &lattice.roots[i][..lattice.count[i]];
            let (a, wt) = polynomial_axis(lattice.axis[i], roots, c);
            amplitude *= a;
            weight *= wt;
        }
    }
    if lattice.axis.contains(&Axis::Ratio) {
        amplitude *= ratio_axes(lattice, d);
    }
    weight * (amplitude * amplitude)
}

/// F_latt² / [`Lattice::scale`] when all three axes have `N` ≤
/// [`physics::lattice::POLYNOMIAL_MAX_N`] unit cells, from the peeled fractional indices δ:
/// the steps of [`polynomial_axis`] with the root count fixed at compile time and the three
/// axes' chains in lockstep. The axes share N, so they share the roots of axis a. (Written
/// out: calling `polynomial_axis` once per axis gives the same image but measured 12 % slower
/// in the hot loop.)
#[inline(always)]
pub(crate) fn polynomial_lattice<const N: usize>(lattice: &Lattice, d: [F; 3]) -> F {
    let c = cospi(d);
    let roots = &lattice.roots[0][..Axis::root_count(N)];
    let product = |x: [F; 3]| {
        let mut a = [F::ONE; 3];
        for &r in roots {
            for i in 0..3 {
                a[i] *= x[i] - r;
            }
        }
        a[0] * a[1] * a[2]
    };
    if Axis::of(N) == Axis::Odd {
        let a = product(c.map(|c| c * c));
        return a * a;
    }
    // t = cos(2πδ)/2 and z = t².
    let t = c.map(|c| c.mul_add(c, F::splat(-0.5)));
    let half = F::splat(0.5);
    let weight = (t[0] + half) * (t[1] + half) * (t[2] + half);
    let a = product(t.map(|t| t * t));
    let a = if Axis::of(N) == Axis::FourTimes {
        a * (t[0] * t[1] * t[2])
    } else {
        a
    };
    weight * (a * a)
}

/// The product of the sine-ratio axes' amplitudes `±sin(πNδ)/sin(πδ)`.
#[inline(always)]
fn ratio_axes(lattice: &Lattice, d: [F; 3]) -> F {
    let n = lattice.n;
    let mut num = F::ONE;
    let mut den = F::ONE;
    for i in 0..3 {
        if lattice.axis[i] == Axis::Ratio {
            // Without the δ = 0 guard: one lane exactly on a Bragg peak makes the product
            // of the denominators 0, and only then are the guarded parts recomputed.
            let nd = d[i] * F::splat(n[i]);
            num *= sinpi(nd - nearest(nd));
            den *= sinpi(d[i]);
        }
    }
    if den.simd_eq(F::ZERO).any() {
        (num, den) = (F::ONE, F::ONE);
        for i in 0..3 {
            if lattice.axis[i] == Axis::Ratio {
                let (a, b) = sincg_parts(d[i], n[i]);
                num *= a;
                den *= b;
            }
        }
    }
    num / den
}

/// The round crystal's F_latt from the offsets `d = h − h0` (scalar engine: `sinc3`).
#[inline(always)]
fn round_lattice(setup: &Setup, d: [F; 3]) -> F {
    let n = setup.crystal.cells;
    let r2 = (d[0] * F::splat(n[0] * n[0])).mul_add(
        d[0],
        (d[1] * F::splat(n[1] * n[1])).mul_add(d[1], d[2] * d[2] * F::splat(n[2] * n[2])),
    );
    let x = (r2 * F::splat(setup.fudge)).sqrt() * F::splat(std::f64::consts::PI);
    let (s, c) = x.sin_cos();
    let x2 = x * x;
    let closed = F::splat(3.0) * (s / x - c) / x2;
    let series = F::ONE - x2 / F::splat(10.0) + x2 * x2 / F::splat(280.0);
    let small = x.abs().simd_lt(F::splat(SINC3_SERIES_BELOW));
    small.select(series, closed) * F::splat(n[0] * n[1] * n[2] * ROUND_CRYSTAL)
}

/// The Gaussian or top-hat crystal's F_latt from the offsets `d = h − h0`, through the
/// reciprocal-space distance.
#[inline(always)]
fn gauss_or_tophat_lattice(setup: &Setup, d: [F; 3]) -> F {
    let n = setup.crystal.cells;
    let r = &setup.crystal.reciprocal_per_angstrom;
    let comp = |j: usize| {
        d[0].mul_add(
            F::splat(r[0][j]),
            d[1].mul_add(F::splat(r[1][j]), d[2] * F::splat(r[2][j])),
        )
    };
    let (x, y, z) = (comp(0), comp(1), comp(2));
    let nnn = n[0] * n[1] * n[2];
    let rad = (x * x + y * y + z * z) * F::splat(nnn * nnn);
    if setup.shape == Shape::Gauss {
        // exp(x) as exp(x/2)²: `wide`'s exp flushes to 0 below −708 where libm still
        // gives subnormals, and under compat a term whose F_latt is exactly 0 is
        // skipped, so the two engines must agree on which values vanish.
        let half = (-(rad / F::splat(GAUSS_WIDTH) * F::splat(setup.fudge)) * F::splat(0.5)).exp();
        half * half * F::splat(nnn)
    } else {
        (rad * F::splat(setup.fudge))
            .simd_lt(F::splat(TOPHAT_RADIUS_SQUARED))
            .select(F::splat(nnn), F::ZERO)
    }
}

/// One polynomial axis: (amplitude, weight) with
/// `U_{N−1}(cos πδ)² = lead² × weight × amplitude²` (see [`Axis`]), from c = cos πδ.
#[inline(always)]
pub(crate) fn polynomial_axis(axis: Axis, roots: &[F], c: F) -> (F, F) {
    let product = |x: F| roots.iter().fold(F::ONE, |a, &r| a * (x - r));
    if axis == Axis::Odd {
        return (product(c * c), F::ONE);
    }
    let t = c.mul_add(c, F::splat(-0.5));
    let a = product(t * t);
    let a = if axis == Axis::FourTimes { t * a } else { a };
    (a, t + F::splat(0.5))
}

/// One axis of the square-crystal lattice factor: (numerator, denominator) of
/// `±sin(πNδ)/sin(πδ)`, with (N, 1) where δ = 0.
#[inline(always)]
pub(crate) fn sincg_parts(delta: F, n: f64) -> (F, F) {
    let nd = delta * F::splat(n);
    let r = nd - nearest(nd);
    let num = sinpi(r);
    let den = sinpi(delta);
    let zero = delta.simd_eq(F::ZERO);
    (zero.select(F::splat(n), num), zero.select(F::ONE, den))
}

/// cos(πx) for |x| ≤ ½ on each of `M` vectors, `1 + x²·h(x²)` over [`COSPI`] (absolute error
/// ≤ 2.3e-15 with FMA; exactly 1 at 0; scalar twin [`physics::lattice::cospi`]), by
/// Horner's scheme with the `M` chains in lockstep: in the hot loop the three axes (six AVX2
/// registers) give each dependent multiply-add enough independent company to hide its
/// latency, and Horner needs the fewest operations (Estrin's scheme, shorter chains but more
/// operations, measured slower there).
#[inline(always)]
pub fn cospi<const M: usize>(x: [F; M]) -> [F; M] {
    let u = x.map(|x| x * x);
    let mut p = [F::splat(COSPI[0]); M];
    for &k in &COSPI[1..] {
        for m in 0..M {
            p[m] = p[m].mul_add(u[m], F::splat(k));
        }
    }
    std::array::from_fn(|m| p[m].mul_add(u[m], F::ONE))
}

/// sin(πx) for |x| ≤ ½ (degree-15 odd polynomial over [`SINPI`], relative error ≤ 6.1e-12;
/// scalar twin [`physics::lattice::sinpi`]).
#[inline(always)]
pub fn sinpi(x: F) -> F {
    let x2 = x * x;
    let c = |k: usize| F::splat(SINPI[k]);
    let p = c(7).mul_add(x2, c(6));
    let p = p.mul_add(x2, c(5));
    let p = p.mul_add(x2, c(4));
    let p = p.mul_add(x2, c(3));
    let p = p.mul_add(x2, c(2));
    let p = p.mul_add(x2, c(1));
    let p = p.mul_add(x2, c(0));
    p * x
}

/// Scalar twin of [`sinpi`]: [`physics::lattice::sinpi`].
pub fn sinpi_scalar(x: f64) -> f64 {
    physics::lattice::sinpi(x)
}

/// The nearest integer to each lane, ties to even: one `vroundpd` per register with AVX.
/// (`wide`'s `round` rounds ties away from zero in eight instructions; for the integer peel any
/// nearest integer will do, since |δ| = ½ either way on a tie.)
#[inline(always)]
pub(crate) fn nearest(x: F) -> F {
    x.round_ties_even()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinpi_matches_std_on_the_peeled_range() {
        let mut worst: f64 = 0.0;
        for i in 1..=10000 {
            let x = 0.5 * i as f64 / 10000.0;
            let exact = (std::f64::consts::PI * x).sin();
            worst = worst.max(((sinpi_scalar(x) - exact) / exact).abs());
            let v = sinpi(F::splat(x)).to_array()[0];
            assert!(((v - exact) / exact).abs() < 1e-11, "{x}");
        }
        assert!(worst < 1e-11, "{worst}");
        assert_eq!(sinpi_scalar(0.0), 0.0);
    }

    #[test]
    fn cospi_matches_std_on_the_peeled_range() {
        for i in 0..=10000 {
            let x = 0.5 * i as f64 / 10000.0;
            let exact = (std::f64::consts::PI * x).cos();
            // Without FMA (the x86-64 baseline) `wide` rounds the product and the sum apart.
            let [c] = cospi([F::splat(x)]);
            assert!((c.to_array()[0] - exact).abs() < 1e-14, "{x}");
        }
        assert_eq!(cospi([F::ZERO])[0].to_array()[0], 1.0);
    }

    // The root products against the Chebyshev recurrence: `physics::lattice`'s tests check
    // the scalar twin, and `lane_axes_match_the_twin` these lanes against the twin.

    fn reference_lattice(cells: [f64; 3], hkl: [f64; 3]) -> f64 {
        (0..3)
            .map(|i| {
                let h0 = physics::nearest_index(hkl[i]);
                physics::lattice_factor_axis(hkl[i], h0, cells[i])
            })
            .product::<f64>()
            .powi(2)
    }

    const HKL: [[f64; 3]; 5] = [
        [0.3, -0.2, 0.11],
        [2.0, 3.0, -4.0],
        [7.5, -0.5, 1.25],
        [1e-9, 0.499, -0.0371],
        [12.02, -5.97, 3.333],
    ];

    /// Both lattice-factor methods (polynomial for N ≤ 16, sine ratio above) against the
    /// scalar engine's `sin(πNh)/sin(πh)`, for every N up to 40, odd and even, on and off peaks.
    #[test]
    fn square_lattice_factor_matches_the_scalar_engine() {
        for n in 1..=40 {
            for hkl in HKL {
                let cells = [n as f64, 2.0, (n + 3) as f64];
                let lattice = Lattice::new(cells);
                let d = hkl.map(|h| F::splat(h) - nearest(F::splat(h)));
                let simd = lattice.scale * square_lattice(&lattice, d).to_array()[0];
                let reference = reference_lattice(cells, hkl);
                assert!(
                    (simd - reference).abs() <= 1e-10 * reference.max(1.0),
                    "N {cells:?} hkl {hkl:?}: {simd} {reference}"
                );
            }
        }
    }

    #[test]
    fn peeled_sincg_matches_the_scalar_lattice_factor() {
        for &(h, n) in &[
            (0.3, 5.0),
            (2.27, 10.0),
            (-7.61, 8.0),
            (13.49, 3.0),
            (4.0, 7.0),
            (50.5, 20.0),
        ] {
            let h0 = physics::nearest_index(h);
            let (num, den) = sincg_parts(F::splat(h - h0), n);
            let simd = (num / den).to_array()[0].abs();
            let reference = physics::lattice_factor_axis(h, h0, n).abs();
            assert!(
                (simd - reference).abs() <= 1e-10 * reference.max(1.0),
                "{h} {n}: {simd} {reference}"
            );
        }
    }
}
