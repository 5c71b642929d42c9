//! The square crystal's lattice factor as the SIMD engine computes it, one value at a time: the
//! scalar twin of [`crate::engine::simd`]'s lane code and the reference for a C port
//! (`examples/port_to_c/` transcribes this file; `tests/port_to_c.rs` checks that it agrees).
//!
//! For a parallelepiped of `Na × Nb × Nc` cells, `F_latt = Π sin(πN·h)/sin(πh)` over the three
//! axes (nanoBragg.c: `sincg(M_PI*h, Na)`). Only `F_latt²` enters the intensity. The scalar
//! engine evaluates it with two libm sines per axis ([`super::lattice_factor_axis`]); the SIMD
//! engine uses the algorithms below, which this module writes out in plain f64 with the same
//! operations in the same order, `mul_add` exactly where the lanes fuse, so that the lanes and
//! this twin give the same bits (on FMA targets; see "Agreement" below).
//!
//! # 1. The integer peel
//!
//! For integer N and any integer n,
//! `sin(πN(n + δ))/sin(π(n + δ)) = (−1)^(n(N−1))·sin(πNδ)/sin(πδ)`. With `n = nearest(h)`
//! ([`nearest`]: ties to even, `round_ties_even`, one `vroundpd` on the lanes; C: `rint()` in
//! the default rounding mode) the fraction [`peel`]`(h) = h − n` has |δ| ≤ ½. Any nearest
//! integer would do (on a tie |δ| = ½ either way), but the lanes and the twin must use the
//! same one for identical bits; nanoBragg.c's own rounding, `ceil(h − ½)`, is kept for the
//! structure-factor lookup, which needs C's indices.
//!
//! The peel is exact: `nearest` returns an integer, which is representable, and `h − n` has
//! no rounding error because either n = 0 (δ = h) or h and n have the same sign with
//! `n/2 ≤ h ≤ 2n` (|n| ≥ 1 and |h − n| ≤ ½), where Sterbenz's lemma makes the subtraction
//! exact. So δ carries exactly the error h already had; no π or N multiplies h before the
//! peel (nanoBragg.c's `sin(π·N·h)` evaluates arguments of up to ~10⁵ rad and loses digits;
//! keep `-ffast-math` reassociation away from it in C).
//!
//! # 2. cos(πx) and sin(πx) for |x| ≤ ½
//!
//! Both are polynomials in u = x², evaluated by Horner's scheme with one fused multiply-add per
//! coefficient, highest degree first:
//!
//! * [`cospi`]`(x) = 1 + u·h(u)`, h of degree 6 ([`COSPI`], highest degree first):
//!   `p = COSPI[0]; p = fma(p, u, COSPI[i]) for i = 1…6; cos = fma(p, u, 1)`. Exactly 1 at
//!   x = 0 and even in x. Error ≤ 2.3e-15 absolute on [−½, ½] (measured 2.25e-15 over 200 001
//!   points against a double-double reference; the exact polynomial is 2.19e-15 from cos(πx)).
//! * [`sinpi`]`(x) = x·s(u)`, s of degree 7 ([`SINPI`], lowest degree first):
//!   `p = SINPI[7]; p = fma(p, u, SINPI[i]) for i = 6…0; sin = p·x`. Odd in x, 0 at 0.
//!   Relative error ≤ 6.1e-12 on [−½, ½] (measured 6.02e-12 at |x| = ½, all of it the
//!   truncated series).
//!
//! ## Where the coefficients come from (the recipe that regenerates them bit for bit)
//!
//! **cos.** The coefficients h₀…h₆ (stored reversed, h₆ first) are the least-squares fit of
//! the *absolute error of cos*, with cos(0) = 1 built in:
//!
//! ```text
//! u_k = 1/8 + (1/8)·cos((2k+1)π/120),  k = 0…59        (60 Chebyshev nodes of u = x² on [0, ¼])
//! minimise  Σ_k ( u_k·h(u_k) − (cos(π√u_k) − 1) )²      over h of degree 6
//! ```
//!
//! solved exactly (to ~30 digits) and each coefficient rounded to the nearest f64. The exact
//! solution lies 0.04–0.21 ulp from each committed constant, far from a rounding boundary, so
//! any solver accurate to ~1e-20 relative reproduces them (the test
//! `cos_coefficients_are_the_documented_fit` does it in double-double arithmetic; 50-digit
//! mpmath agrees). The fit is the Chebyshev-weighted L² projection in disguise: 10, 12, 30, 60
//! or 100 nodes all give the same f64 coefficients, so the node count is not critical (8 or 9
//! are too few).
//!
//! Two traps, both give visibly different coefficients: fitting h itself,
//! `Σ (h(u_k) − (cos(π√u_k) − 1)/u_k)²` (unweighted in h, i.e. the cos error weighted by 1/u),
//! puts h₆ 0.48 % off; solving the 7×7 normal equations of the monomial basis in plain f64
//! loses the last digits to conditioning. Fit in a Chebyshev basis (the nodes make it
//! orthogonal), or in extended precision, and round at the end.
//!
//! **sin.** Not a fit: the Taylor coefficients of sin(π̂x) with π̂ = `std::f64::consts::PI`
//! (the f64 nearest π), `SINPI[k] = (−1)^k · fl(fl(π̂^(2k+1)) / (2k+1)!)`: the power rounded
//! once to f64 (C: `pow(M_PI, 2k+1)`, correctly rounded by glibc for these arguments; Rust:
//! `PI.powf(..)`, *not* `powi`, which multiplies repeatedly and differs at k = 2), then one
//! f64 division by the exact factorial. The test `sin_coefficients_are_the_rounded_taylor_series`
//! recomputes them this way with a double-double power.
//!
//! # 3. The Chebyshev product (N ≤ [`POLYNOMIAL_MAX_N`])
//!
//! With θ = πδ and c = cos θ = [`cospi`]`(δ)`, `sin(Nθ)/sin θ = U_{N−1}(c)`, the Chebyshev
//! polynomial of the second kind, leading coefficient 2^(N−1), roots `cos(kπ/N)`,
//! k = 1…N−1, in ± pairs. It is evaluated as a product over its roots (one subtraction and one
//! multiplication per root: no division, no special case at the peak, where c = 1), in one of
//! three forms chosen by N ([`Axis::of`]); `w = c²`, `t = w − ½ = cos(2θ)/2` (computed as
//! `fma(c, c, −½)`), `z = t²`:
//!
//! * **N odd**: `U_{N−1}(c) = 2^(N−1)·Π_k (w − cos²(kπ/N))`, k = 1…(N−1)/2: amplitude
//!   `A = Π (w − r_k)`, weight W = 1.
//! * **N = 2M even**: `sin(2Mθ)/sin θ = 2cos θ·sin(M·2θ)/sin 2θ`, that is
//!   `U_{N−1}(c) = 2c·U_{M−1}(y)` with y = cos 2θ = 2t, and
//!   `U_{M−1}(y) = 2^(M−1)·y^e·Π (y² − cos²(kπ/M))`, k = 1…R, R = ⌊(M − 1)/2⌋, e = 1 for
//!   even M (the root y = 0), else 0. With y² = 4z:
//!   `U_{N−1}(c)² = 4^(1+e)·(2^(M−1)·4^R)²·w·(t^e·Π (z − r_k))²`, `r_k = cos²(kπ/M)/4`: half
//!   as many roots as an odd N of the same size (N = 10: `(z − 0.163627)(z − 0.0238729)`).
//!   * M odd (**N = 2·odd**): `A = Π (z − r_k)`, W = w.
//!   * M even (**N = 4·k**): `A = t·Π (z − r_k)`, W = w.
//!
//! In every case `U_{N−1}(c)² = lead²·W·A²` with `lead² = 4^(N−1)` (the powers of two of the
//! even forms, `4·4^(M−1)·16^R` and `16·4^(M−1)·16^R`, collapse to it), so
//! `F_latt² = lead²_a·lead²_b·lead²_c · (W_a·W_b·W_c)·(A_a·A_b·A_c)²`: the power of two
//! ([`Lattice::scale`]) multiplies the finished sum. N ≤ 1 is the empty product, F_latt = 1,
//! like nanoBragg.c's `if (Na > 1)`.
//!
//! Operations per axis from δ to (A, W), counting each fma, multiplication, addition and
//! subtraction as one: [`cospi`] 8 (x², 7 fma); then odd N: w (1) and 2 per root, `N + 8` in all;
//! even N: t (1 fma), z (1), 2 per root, W = t + ½ (1), and for M even t·Π (1): `N/2 + 10` in
//! all. (The old note "about N/4 + 10 multiply-adds" holds for even N only, counting a root's
//! subtraction and multiplication as one step; odd N has (N − 1)/2 roots, not N/4.) Per
//! evaluation of the three axes with one N ([`polynomial_lattice`]) add the combination, 3
//! (odd), 6 (2·odd) or 9 (4·k) multiplications, and 1 addition to the sum: `3N + 28`,
//! `1.5N + 37`, `1.5N + 40`. The product starts from 1 and the compiler drops that first
//! multiplication, one per axis less; N = 1 evaluates nothing in the compiled loop.
//!
//! | N | kind | roots: count, values (in w for odd N, in z for even N) | lead² | ops/axis |
//! |---|------|----------------------------------------------------------|-------|----------|
//! | 1 | odd | 0 | 2⁰ | 9 (none used: F = 1) |
//! | 2 | 2·odd | 0 | 2² | 11 |
//! | 3 | odd | 1: 0.25 | 2⁴ | 11 |
//! | 4 | 4·k | 0 | 2⁶ | 12 |
//! | 5 | odd | 2: 0.654508, 0.0954915 | 2⁸ | 13 |
//! | 6 | 2·odd | 1: 0.0625 | 2¹⁰ | 13 |
//! | 7 | odd | 3: 0.811745, 0.388740, 0.0495156 | 2¹² | 15 |
//! | 8 | 4·k | 1: 0.125 | 2¹⁴ | 14 |
//! | 9 | odd | 4: 0.883022, 0.586824, 0.25, 0.0301537 | 2¹⁶ | 17 |
//! | 10 | 2·odd | 2: 0.163627, 0.0238729 | 2¹⁸ | 15 |
//! | 11 | odd | 5: 0.920627, 0.707708, 0.428843, 0.172570, 0.0202535 | 2²⁰ | 19 |
//! | 12 | 4·k | 2: 0.1875, 0.0625 | 2²² | 16 |
//! | 13 | odd | 6: 0.942728, 0.784032, 0.560268, 0.322698, 0.125745, 0.0145291 | 2²⁴ | 21 |
//! | 14 | 2·odd | 3: 0.202936, 0.0971849, 0.0123789 | 2²⁶ | 17 |
//! | 15 | odd | 7: 0.956773, 0.834565, 0.654508, 0.447736, 0.25, 0.0954915, 0.0109262 | 2²⁸ | 23 |
//! | 16 | 4·k | 3: 0.213388, 0.125, 0.0366117 | 2³⁰ | 18 |
//!
//! The roots are computed, never tabulated: `r_k = cos(kπ/m)²·s` with m = N, s = 1 for odd N
//! and m = N/2, s = ¼ for even N, where `kπ/m` is `(k·π̂)/m` in f64 and cos is libm's
//! ([`Axis::root`]; C: `c = cos(k * M_PI / m); r = c * c * s;`).
//!
//! # 4. The sine ratio (N > [`POLYNOMIAL_MAX_N`])
//!
//! Above 16 the sine ratio takes over: its cost does not grow with N (21 operations per axis
//! and one division shared by the axes), where the root product's `N + 8` for odd N passes
//! it at N = 15 (even N stays cheaper a little longer; 16 is where the kernels are compiled
//! per N). `sin(πNδ) = ±sin(πr)` with `r = Nδ − nearest(Nδ)`, so both sines take arguments
//! in [−½, ½] and need no range reduction: numerator [`sinpi`]`(r)`, denominator
//! [`sinpi`]`(δ)`. The ratio axes of one evaluation share
//! one division, `(num_a·num_b·num_c)/(den_a·den_b·den_c)`. Where that denominator is 0 (some
//! δ = 0 exactly, a Bragg peak) the axes are recomputed with the guard of nanoBragg's `sincg`,
//! (num, den) = (N, 1) where δ = 0 ([`sine_ratio_parts`]); the lanes do this only when one of
//! their lanes needs it, and the guarded values equal the fast ones elsewhere, so the twin's
//! per-value test `den == 0` gives the same bits. Operations per axis: Nδ (1), the peel (2),
//! two sines (9 each): 21, plus the shared products and division.
//!
//! # 5. The three axes
//!
//! [`Lattice`] holds the per-axis method ([`Axis`]), roots and the power of two
//! ([`Lattice::scale`]). [`square_lattice`] returns `F_latt² / scale` for any mix of N (the lanes'
//! general loop and every N > 16), [`polynomial_lattice`] the same for three axes sharing one
//! N ≤ 16 (the lanes' compiled loop, whose products associate differently, so the two differ
//! in the last bits), [`f_latt_squared`] multiplies by the scale, [`f_latt`] takes the square
//! root (the lanes' general loop with C's `ceil(h − ½)` peel), and
//! [`lattice_factor_axis_chebyshev`] is one axis's F_latt².
//!
//! # Agreement
//!
//! On targets with FMA (the crate's default build, x86-64-v3, and x86-64-v4) the lanes fuse
//! their multiply-adds and agree with this twin **bit for bit**, for every function here, any
//! N (1…30 tested) and any h, k, l (property tests below: 512 cases of eight lanes each, h on
//! and within 1e-9 of Bragg peaks, on half-integers and anywhere in ±60; δ = 0, ±½ and
//! 1e-300 included). At the x86-64 baseline `wide` rounds the product and the sum of a
//! multiply-add apart while `f64::mul_add` stays fused; the tests then allow 1e-12 of the
//! peak N_a²N_b²N_c² (measured: at most 4.6e-15 of it). A C transcription compiled with
//! `-ffp-contract=off` and `fma()` where this file calls `mul_add` agrees bit for bit too
//! (`tests/port_to_c.rs`). Against libm's `sin(πNδ)/sin(πδ)` ([`super::lattice_factor_axis`])
//! one axis's F_latt² agrees to 6e-14 of the peak N² for N ≤ 16 and to 4.5e-12 above (the
//! sine polynomial's truncation), for N ≤ 40.
//!
//! # 6. The other crystal shapes
//!
//! They are not on this path but share named constants with it: [`ROUND_CRYSTAL`],
//! [`GAUSS_WIDTH`], [`TOPHAT_RADIUS_SQUARED`] and [`SINC3_SERIES_BELOW`].

use std::f64::consts::PI;

/// Largest N for which an axis's lattice factor is the Chebyshev root product (`N + 8`
/// operations per axis for odd N, `N/2 + 10` for even N); above it the sine ratio (21 per axis
/// whatever N, and a division shared by the axes; module docs §3, §4).
pub const POLYNOMIAL_MAX_N: f64 = 16.0;

/// Most roots of one axis's polynomial for N ≤ [`POLYNOMIAL_MAX_N`]: (15 − 1)/2 for N = 15.
pub const MAX_ROOTS: usize = 7;

/// cos(πx) = 1 + u·h(u), u = x², on |x| ≤ ½: the coefficients of h, highest degree first
/// (h₆ … h₀). The least-squares fit of the module docs (§2), rounded to f64.
pub const COSPI: [f64; 7] = [
    -0.00010045163894089615,
    0.0019279029962509945,
    -0.025806544315423532,
    0.23533059066644565,
    -1.3352627664220413,
    4.058712126345884,
    -4.9348022005439764,
];

/// sin(πx) = x·s(u), u = x², on |x| ≤ ½: the coefficients of s, lowest degree first,
/// `(−1)^k·fl(fl(π̂^(2k+1))/(2k+1)!)` for k = 0…7 (module docs, §2).
pub const SINPI: [f64; 8] = [
    PI,
    -5.167712780049969,
    2.550164039877345,
    -0.5992645293207919,
    0.08214588661112819,
    -0.007370430945714348,
    0.00046630280576761234,
    -2.1915353447830204e-05,
];

/// The round crystal (`-round_xtal`): `F_latt = Na·Nb·Nc · ROUND_CRYSTAL · sinc3(π·√(r²·fudge))`,
/// nanoBragg.c's literal, √(π/6) to 15 digits (its comment: the square root of the volume
/// ratio of a sphere to its cube).
pub const ROUND_CRYSTAL: f64 = 0.723601254558268;

/// The Gaussian crystal (`-gauss_xtal`): `F_latt = Na·Nb·Nc · exp(−ρ²/GAUSS_WIDTH·fudge)`
/// (nanoBragg.c: "so that volume and FWHM are similar to square_xtal spots").
pub const GAUSS_WIDTH: f64 = 0.63;

/// The top-hat crystal (`-tophat_xtal`): `F_latt = Na·Nb·Nc` where `ρ²·fudge <` this, else 0
/// (0.63², as nanoBragg.c writes it).
pub const TOPHAT_RADIUS_SQUARED: f64 = 0.3969;

/// Below this |x| `sinc3(x) = 3(sin x/x − cos x)/x²` is evaluated by its series
/// `1 − x²/10 + x⁴/280` (the closed form cancels there).
pub const SINC3_SERIES_BELOW: f64 = 0.01;

/// The nearest integer, ties to even (C: `rint(x)` in the default rounding mode).
#[inline]
pub fn nearest(x: f64) -> f64 {
    x.round_ties_even()
}

/// The integer peel: `δ = h − nearest(h)`, exact, |δ| ≤ ½ (module docs, §1).
#[inline]
pub fn peel(h: f64) -> f64 {
    h - nearest(h)
}

/// cos(πx) for |x| ≤ ½ (absolute error ≤ 2.3e-15; exactly 1 at 0): Horner in u = x² over
/// [`COSPI`], one fma per coefficient.
#[inline]
pub fn cospi(x: f64) -> f64 {
    let u = x * x;
    let mut p = COSPI[0];
    for &k in &COSPI[1..] {
        p = p.mul_add(u, k);
    }
    p.mul_add(u, 1.0)
}

/// sin(πx) for |x| ≤ ½ (relative error ≤ 6.1e-12): Horner in u = x² over [`SINPI`], then × x.
#[inline]
pub fn sinpi(x: f64) -> f64 {
    let u = x * x;
    let mut p = SINPI[7];
    for &k in SINPI[..7].iter().rev() {
        p = p.mul_add(u, k);
    }
    p * x
}

/// How one axis's lattice factor `sin(πNδ)/sin(πδ)` is computed, from its cell count N
/// (module docs, §3 and §4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Axis {
    /// N odd (N ≤ 1: no roots): amplitude Π (w − r_k), weight 1.
    Odd,
    /// N = 2M, M odd: amplitude Π (z − r_k), weight w.
    TwiceOdd,
    /// N = 2M, M even: amplitude t·Π (z − r_k), weight w.
    FourTimes,
    /// N > [`POLYNOMIAL_MAX_N`]: the sine ratio.
    Ratio,
}

impl Axis {
    /// The unit-cell count of a polynomial axis from the crystal's N (below 1 counts as 1).
    pub fn cells(n: f64) -> usize {
        n.max(1.0) as usize
    }

    /// The kind of a polynomial axis with `cells` unit cells (1 ≤ `cells` ≤ 16).
    pub const fn of(cells: usize) -> Axis {
        match cells % 4 {
            1 | 3 => Axis::Odd,
            2 => Axis::TwiceOdd,
            _ => Axis::FourTimes,
        }
    }

    /// The number of roots of that axis's polynomial: (N − 1)/2 in w for odd N, ⌊(M − 1)/2⌋
    /// in z for N = 2M.
    pub const fn root_count(cells: usize) -> usize {
        if cells % 2 == 1 {
            (cells - 1) / 2
        } else {
            (cells / 2 - 1) / 2
        }
    }

    /// Root `k` (1 ≤ k ≤ [`Axis::root_count`]) of the axis with `cells` unit cells:
    /// `cos²(kπ/N)` for odd N, `cos²(kπ/M)/4` for N = 2M.
    pub fn root(cells: usize, k: usize) -> f64 {
        let (m, scale) = if cells % 2 == 1 {
            (cells, 1.0)
        } else {
            (cells / 2, 0.25)
        };
        let c = (k as f64 * PI / m as f64).cos();
        c * c * scale
    }

    /// Every root of the axis with `cells` unit cells, k = 1, 2, …
    pub fn roots(cells: usize) -> Vec<f64> {
        (1..=Axis::root_count(cells))
            .map(|k| Axis::root(cells, k))
            .collect()
    }

    /// The power of two with `U_{N−1}(cos πδ)² = it × weight × amplitude²` for the axis with
    /// `cells` unit cells: the leading coefficient 2^(N−1), squared, for every kind.
    pub fn lead_squared(cells: usize) -> f64 {
        4f64.powi(cells as i32 - 1)
    }
}

/// One polynomial axis: (amplitude, weight) with `U_{N−1}(c)² = lead² × weight × amplitude²`,
/// from c = cos πδ and the axis's roots (module docs, §3).
#[inline]
pub fn polynomial_axis(axis: Axis, roots: &[f64], c: f64) -> (f64, f64) {
    let product = |x: f64| roots.iter().fold(1.0, |a, &r| a * (x - r));
    if axis == Axis::Odd {
        return (product(c * c), 1.0);
    }
    let t = c.mul_add(c, -0.5);
    let a = product(t * t);
    let a = if axis == Axis::FourTimes { t * a } else { a };
    (a, t + 0.5)
}

/// One sine-ratio axis: (numerator, denominator) of `±sin(πNδ)/sin(πδ)`, with (N, 1) where
/// δ = 0 (module docs, §4).
#[inline]
pub fn sine_ratio_parts(delta: f64, n: f64) -> (f64, f64) {
    if delta == 0.0 {
        return (n, 1.0);
    }
    let nd = delta * n;
    (sinpi(nd - nearest(nd)), sinpi(delta))
}

/// One axis's F_latt², `(sin(πNh)/sin(πh))²`, from the full fractional index h: the root
/// product for N ≤ [`POLYNOMIAL_MAX_N`], the sine ratio above; 1 for N ≤ 1. Bit for bit what
/// the lanes give for `Lattice::new([n, 1, 1])` at δ = (peel(h), 0, 0).
pub fn lattice_factor_axis_chebyshev(h: f64, n: f64) -> f64 {
    let delta = peel(h);
    if n > POLYNOMIAL_MAX_N {
        let (num, den) = sine_ratio_parts(delta, n);
        let q = num / den;
        return q * q;
    }
    let cells = Axis::cells(n);
    let roots = Axis::roots(cells);
    let (a, w) = polynomial_axis(Axis::of(cells), &roots, cospi(delta));
    Axis::lead_squared(cells) * (w * (a * a))
}

/// The lattice factor's method and roots for the three axes of a square crystal.
#[derive(Clone, Debug)]
pub struct Lattice {
    /// The crystal's N per axis.
    pub n: [f64; 3],
    /// The method of each axis.
    pub axis: [Axis; 3],
    /// Per axis, the roots of its polynomial in w (odd N) or z (even N), padded with zeros.
    pub roots: [[f64; MAX_ROOTS]; 3],
    /// Per axis, the number of roots.
    pub count: [usize; 3],
    /// `F_latt² = scale × weights × amplitudes²`: the product of the polynomial axes'
    /// squared leading coefficients, a power of two.
    pub scale: f64,
}

impl Lattice {
    /// The methods, roots and scale for N = `n` (N ≤ 1 counts as 1).
    pub fn new(n: [f64; 3]) -> Lattice {
        let mut lattice = Lattice {
            n,
            axis: [Axis::Ratio; 3],
            roots: [[0.0; MAX_ROOTS]; 3],
            count: [0; 3],
            scale: 1.0,
        };
        for (i, &ni) in n.iter().enumerate() {
            if ni > POLYNOMIAL_MAX_N {
                continue;
            }
            let cells = Axis::cells(ni);
            let roots = Axis::roots(cells);
            lattice.axis[i] = Axis::of(cells);
            lattice.count[i] = roots.len();
            lattice.scale *= Axis::lead_squared(cells);
            lattice.roots[i][..roots.len()].copy_from_slice(&roots);
        }
        lattice
    }

    /// The roots of axis `i`.
    pub fn axis_roots(&self, i: usize) -> &[f64] {
        &self.roots[i][..self.count[i]]
    }
}

/// `F_latt² / scale` from the peeled fractional indices δ (|δ| ≤ ½), any mix of polynomial and
/// sine-ratio axes: the lanes' `square_lattice` (module docs, §5).
pub fn square_lattice(lattice: &Lattice, d: [f64; 3]) -> f64 {
    let mut amplitude = 1.0;
    let mut weight = 1.0;
    for (i, &delta) in d.iter().enumerate() {
        if lattice.axis[i] != Axis::Ratio {
            let (a, w) = polynomial_axis(lattice.axis[i], lattice.axis_roots(i), cospi(delta));
            amplitude *= a;
            weight *= w;
        }
    }
    if lattice.axis.contains(&Axis::Ratio) {
        let ratio_axes = || (0..3).filter(|&i| lattice.axis[i] == Axis::Ratio);
        let (mut num, mut den) = (1.0, 1.0);
        for i in ratio_axes() {
            let nd = d[i] * lattice.n[i];
            num *= sinpi(nd - nearest(nd));
            den *= sinpi(d[i]);
        }
        if den == 0.0 {
            (num, den) = (1.0, 1.0);
            for i in ratio_axes() {
                let (a, b) = sine_ratio_parts(d[i], lattice.n[i]);
                num *= a;
                den *= b;
            }
        }
        amplitude *= num / den;
    }
    weight * (amplitude * amplitude)
}

/// `F_latt² / scale` for three axes sharing one N ≤ [`POLYNOMIAL_MAX_N`] (axis a's roots), from
/// the peeled δ: the lanes' compiled loop `polynomial_lattice::<N>`, whose products associate
/// differently from [`square_lattice`]'s.
pub fn polynomial_lattice(lattice: &Lattice, d: [f64; 3]) -> f64 {
    debug_assert!(lattice.n[0] == lattice.n[1] && lattice.n[1] == lattice.n[2]);
    debug_assert!(lattice.axis[0] != Axis::Ratio);
    let axis = lattice.axis[0];
    let roots = lattice.axis_roots(0);
    let c = d.map(cospi);
    let product = |x: [f64; 3]| {
        let mut a = [1.0; 3];
        for &r in roots {
            for i in 0..3 {
                a[i] *= x[i] - r;
            }
        }
        a[0] * a[1] * a[2]
    };
    if axis == Axis::Odd {
        let a = product(c.map(|c| c * c));
        return a * a;
    }
    let t = c.map(|c| c.mul_add(c, -0.5));
    let weight = (t[0] + 0.5) * (t[1] + 0.5) * (t[2] + 0.5);
    let a = product(t.map(|t| t * t));
    let a = if axis == Axis::FourTimes {
        a * (t[0] * t[1] * t[2])
    } else {
        a
    };
    weight * (a * a)
}

/// The square crystal's F_latt² at fractional indices `hkl`: scale × [`square_lattice`] of
/// the peeled indices.
pub fn f_latt_squared(lattice: &Lattice, hkl: [f64; 3]) -> f64 {
    lattice.scale * square_lattice(lattice, hkl.map(peel))
}

/// The square crystal's |F_latt| from fractional offsets `d` (|d| ≤ ½, any nearest-integer
/// rule): the lanes' general loop, which peels with nanoBragg's `ceil(h − ½)`.
pub fn f_latt(lattice: &Lattice, d: [f64; 3]) -> f64 {
    (square_lattice(lattice, d) * lattice.scale).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::simd::{self, F, LANES};
    use crate::physics::nearest_index;
    use proptest::prelude::*;

    /// Double-double numbers, hi + lo with |lo| ≤ ½ ulp(hi) (about 106 bits), for the
    /// coefficient recipes and the error measurements.
    #[derive(Clone, Copy, Debug)]
    struct Dd(f64, f64);

    const PI_DD: Dd = Dd(PI, 1.2246467991473532e-16);

    fn two_sum(a: f64, b: f64) -> Dd {
        let s = a + b;
        let bb = s - a;
        Dd(s, (a - (s - bb)) + (b - bb))
    }

    fn quick_two_sum(a: f64, b: f64) -> Dd {
        let s = a + b;
        Dd(s, b - (s - a))
    }

    impl Dd {
        fn from(x: f64) -> Dd {
            Dd(x, 0.0)
        }

        fn add(self, b: Dd) -> Dd {
            let s = two_sum(self.0, b.0);
            let t = two_sum(self.1, b.1);
            let s = quick_two_sum(s.0, s.1 + t.0);
            quick_two_sum(s.0, s.1 + t.1)
        }

        fn neg(self) -> Dd {
            Dd(-self.0, -self.1)
        }

        fn sub(self, b: Dd) -> Dd {
            self.add(b.neg())
        }

        fn mul(self, b: Dd) -> Dd {
            let p = self.0 * b.0;
            let e = self.0.mul_add(b.0, -p);
            quick_two_sum(p, e + (self.0 * b.1 + self.1 * b.0))
        }

        fn scale(self, b: f64) -> Dd {
            self.mul(Dd::from(b))
        }

        /// Division by an f64 (exact small integers here).
        fn div(self, b: f64) -> Dd {
            let q1 = self.0 / b;
            let r = self.sub(Dd::from(q1).scale(b));
            let q2 = r.0 / b;
            let r = r.sub(Dd::from(q2).scale(b));
            quick_two_sum(q1, q2).add(Dd::from(r.0 / b))
        }

        /// Rounded to the nearest f64.
        fn round(self) -> f64 {
            self.0 + self.1
        }
    }

    /// From y²: Σ_{k≥0} (−y²)^k/(2k)! = cos y, or with `odd` Σ_{k≥0} (−y²)^k/(2k+1)! = sin y / y.
    fn even_series(y2: Dd, odd: bool) -> Dd {
        let mut term = Dd::from(1.0);
        let mut sum = term;
        for k in 1..40 {
            let (a, b) = if odd {
                (2 * k, 2 * k + 1)
            } else {
                (2 * k - 1, 2 * k)
            };
            term = term.mul(y2.neg()).div((a * b) as f64);
            sum = sum.add(term);
            if term.0.abs() < 1e-40 {
                break;
            }
        }
        sum
    }

    /// cos(π·x) in double-double.
    fn cos_pi_dd(x: Dd) -> Dd {
        let y = PI_DD.mul(x);
        even_series(y.mul(y), false)
    }

    /// sin(π·x) in double-double.
    fn sin_pi_dd(x: Dd) -> Dd {
        let y = PI_DD.mul(x);
        y.mul(even_series(y.mul(y), true))
    }

    /// The cos(πx) recipe of the module docs, §2, in double-double: the 60 Chebyshev nodes
    /// s_k of [−1, 1] (u = (1 + s)/8), the target g(u) = cos(π√u) − 1 = Σ_{k≥1}(−π²u)^k/(2k)!,
    /// the least-squares fit of g by p(s) = Σ a_j T_j(s), j ≤ 7, with p(−1) = 0 (g = u·h(u)):
    /// at these nodes the T_j are orthogonal (Σ_k T_i T_j = n or n/2 on the diagonal), so the
    /// unconstrained fit is â_j = Σ_k g_k T_j(s_k) / Σ_k T_j(s_k)², and the constraint
    /// e·a = 0 (e_j = T_j(−1) = (−1)^j) subtracts λG⁻¹e with λ = e·â / e·G⁻¹e. Then
    /// T_j(8u − 1), whose coefficients are integers, turns p into u's monomials.
    fn cos_coefficients_by_the_recipe() -> [f64; 7] {
        const NODES: usize = 60;
        const DEG: usize = 8;
        let pi2 = PI_DD.mul(PI_DD);
        let mut a_hat = [Dd::from(0.0); DEG];
        for k in 0..NODES {
            let s = cos_pi_dd(Dd::from((2 * k + 1) as f64).div((2 * NODES) as f64));
            let u = s.add(Dd::from(1.0)).div(8.0);
            // g(u) by its series.
            let mut term = Dd::from(1.0);
            let mut g = Dd::from(0.0);
            for m in 1..30 {
                term = term
                    .mul(pi2.mul(u).neg())
                    .div(((2 * m - 1) * (2 * m)) as f64);
                g = g.add(term);
            }
            let mut t = [Dd::from(0.0); DEG];
            (t[0], t[1]) = (Dd::from(1.0), s);
            for j in 2..DEG {
                t[j] = s.scale(2.0).mul(t[j - 1]).sub(t[j - 2]);
            }
            for (slot, t) in a_hat.iter_mut().zip(t) {
                *slot = slot.add(g.mul(t));
            }
        }
        let n = NODES as f64;
        let g_inv = |j: usize| if j == 0 { 1.0 / n } else { 2.0 / n };
        let sign = |j: usize| if j % 2 == 0 { 1.0 } else { -1.0 };
        for (j, a) in a_hat.iter_mut().enumerate() {
            *a = a.scale(g_inv(j));
        }
        let e_a = (0..DEG).fold(Dd::from(0.0), |acc, j| acc.add(a_hat[j].scale(sign(j))));
        let e_g_e: f64 = (0..DEG).map(g_inv).sum();
        let lambda = e_a.div(e_g_e);
        let a: Vec<Dd> = (0..DEG)
            .map(|j| a_hat[j].sub(lambda.scale(sign(j) * g_inv(j))))
            .collect();
        // T_j(8u − 1) as integer monomial coefficients in u.
        let mut t: Vec<[f64; DEG]> = vec![[0.0; DEG]; DEG];
        t[0][0] = 1.0;
        t[1][0] = -1.0;
        t[1][1] = 8.0;
        for j in 2..DEG {
            for i in 0..DEG {
                let up = if i > 0 { 16.0 * t[j - 1][i - 1] } else { 0.0 };
                t[j][i] = up - 2.0 * t[j - 1][i] - t[j - 2][i];
            }
        }
        let monomial =
            |i: usize| (0..DEG).fold(Dd::from(0.0), |acc, j| acc.add(a[j].scale(t[j][i])));
        assert!(
            monomial(0).round().abs() < 1e-25,
            "g(0) = {:?}",
            monomial(0)
        );
        // h_i = coefficient of u^(i+1); COSPI holds h₆ first.
        std::array::from_fn(|i| monomial(7 - i).round())
    }

    #[test]
    fn cos_coefficients_are_the_documented_fit() {
        assert_eq!(cos_coefficients_by_the_recipe(), COSPI);
    }

    #[test]
    fn sin_coefficients_are_the_rounded_taylor_series() {
        let pi = Dd::from(PI);
        let mut power = pi;
        let mut factorial = 1.0;
        for (k, &c) in SINPI.iter().enumerate() {
            if k > 0 {
                power = power.mul(pi).mul(pi);
                factorial *= (2 * k * (2 * k + 1)) as f64;
            }
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            assert_eq!(sign * (power.round() / factorial), c, "k = {k}");
            assert_eq!(
                sign * (PI.powf((2 * k + 1) as f64) / factorial),
                c,
                "libm, k = {k}"
            );
        }
    }

    #[test]
    fn polynomials_are_accurate_on_a_dense_grid() {
        const STEPS: usize = 200_000;
        let (mut cos_worst, mut sin_worst) = (0f64, 0f64);
        for i in 0..=STEPS {
            let x = 0.5 * i as f64 / STEPS as f64;
            let c = Dd::from(cospi(x)).sub(cos_pi_dd(Dd::from(x))).round();
            cos_worst = cos_worst.max(c.abs());
            if i > 0 {
                let exact = sin_pi_dd(Dd::from(x));
                let s = Dd::from(sinpi(x)).sub(exact).round() / exact.round();
                sin_worst = sin_worst.max(s.abs());
            }
            assert_eq!(cospi(-x), cospi(x));
            assert_eq!(sinpi(-x), -sinpi(x));
        }
        eprintln!("cos: absolute error {cos_worst:e}; sin: relative error {sin_worst:e}");
        assert!(cos_worst <= 2.3e-15, "cos: {cos_worst:e}");
        assert!(sin_worst <= 6.1e-12, "sin: {sin_worst:e}");
        assert_eq!(cospi(0.0), 1.0);
        assert_eq!(sinpi(0.0), 0.0);
    }

    /// U_{N−1}(c) by its recurrence U_{k+1} = 2c·U_k − U_{k−1}.
    fn chebyshev_u(n: usize, c: f64) -> f64 {
        let (mut prev, mut cur) = (0.0, 1.0);
        for _ in 1..n {
            (prev, cur) = (cur, 2.0 * c * cur - prev);
        }
        cur
    }

    /// The table of the module docs: kinds, root counts, lead² = 4^(N−1) and the per-kind
    /// powers of two it replaces, and the root products against the recurrence.
    #[test]
    fn axes_are_the_documented_chebyshev_products() {
        let kinds = "o2o4o2o4o2o4o2o4";
        let counts = [0, 0, 1, 0, 2, 1, 3, 1, 4, 2, 5, 2, 6, 3, 7, 3];
        let mut most = 0;
        for n in 1..=16 {
            let axis = Axis::of(n);
            let kind = match axis {
                Axis::Odd => 'o',
                Axis::TwiceOdd => '2',
                _ => '4',
            };
            assert_eq!(kind, kinds.as_bytes()[n - 1] as char, "N {n}");
            assert_eq!(Axis::root_count(n), counts[n - 1], "N {n}");
            most = most.max(Axis::root_count(n));
            let (m, r) = (n as i32 / 2, Axis::root_count(n) as i32);
            let per_kind = match axis {
                Axis::Odd => 4f64.powi(n as i32 - 1),
                Axis::TwiceOdd => 4.0 * 4f64.powi(m - 1) * 16f64.powi(r),
                _ => 16.0 * 4f64.powi(m - 1) * 16f64.powi(r),
            };
            assert_eq!(Axis::lead_squared(n), per_kind, "N {n}");
            let roots = Axis::roots(n);
            for i in 0..=2000 {
                let c = -1.0 + i as f64 / 1000.0;
                let (a, w) = polynomial_axis(axis, &roots, c);
                let ours = Axis::lead_squared(n) * w * a * a;
                let exact = chebyshev_u(n, c).powi(2);
                assert!(
                    (ours - exact).abs() <= 1e-12 * (n * n) as f64,
                    "N {n} c {c}"
                );
            }
            let (a, w) = polynomial_axis(axis, &roots, 1.0);
            let peak = Axis::lead_squared(n) * w * a * a;
            assert!((peak / (n * n) as f64 - 1.0).abs() < 1e-14, "N {n}: {peak}");
        }
        assert_eq!(most, MAX_ROOTS);
        assert_eq!(Axis::cells(0.0), 1);
        assert_eq!(Axis::cells(16.0), 16);
        assert!((TOPHAT_RADIUS_SQUARED - GAUSS_WIDTH * GAUSS_WIDTH).abs() < 1e-15);
        assert!((ROUND_CRYSTAL - (PI / 6.0).sqrt()).abs() < 1e-15);
    }

    /// One axis, three ways: the single-axis function, the three-axis twin with N = (n, 1, 1),
    /// and libm's sine ratio (to 1e-12 of the peak).
    #[test]
    fn one_axis_matches_the_three_axis_form_and_libm() {
        let (mut poly_worst, mut ratio_worst) = (0f64, 0f64);
        for n in 1..=40 {
            let lattice = Lattice::new([n as f64, 1.0, 1.0]);
            for i in -400..=400 {
                let h = i as f64 * 0.01237 + 0.5 * (i % 3) as f64;
                let one = lattice_factor_axis_chebyshev(h, n as f64);
                assert_eq!(one, f_latt_squared(&lattice, [h, 0.0, 0.0]), "N {n} h {h}");
                let libm = crate::physics::lattice_factor_axis(h, nearest_index(h), n as f64);
                let peak = (n * n) as f64;
                let gap = (one - libm * libm).abs() / peak;
                let worst = if n <= 16 {
                    &mut poly_worst
                } else {
                    &mut ratio_worst
                };
                *worst = worst.max(gap);
            }
        }
        eprintln!(
            "F_latt² against libm, of the peak: polynomial {poly_worst:e}, ratio {ratio_worst:e}"
        );
        assert!(poly_worst <= 1e-13 && ratio_worst <= 1e-11);
    }

    /// Whether a lane value and the twin's agree: the same bits where the lanes fuse their
    /// multiply-adds (FMA targets); within 1e-12 of the peak at the x86-64 baseline.
    fn agree(lane: f64, twin: f64, peak: f64) -> bool {
        if cfg!(target_feature = "fma") {
            lane.to_bits() == twin.to_bits()
        } else {
            (lane - twin).abs() <= 1e-12 * peak
        }
    }

    fn lanes(x: [f64; LANES]) -> F {
        F::from(x)
    }

    /// Fractional indices: anywhere, on Bragg peaks, on half-integers.
    fn index() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -60.0..60.0f64,
            1 => (-60i32..60).prop_map(f64::from),
            1 => (-60i32..60).prop_map(|i| f64::from(i) + 0.5),
            1 => (-60i32..60, -1e-9..1e-9f64).prop_map(|(i, e)| f64::from(i) + e),
        ]
    }

    /// Peeled fractions: anywhere in [−½, ½], 0, ±½ and tiny.
    fn fraction() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -0.5..=0.5f64,
            1 => Just(0.0),
            1 => prop::sample::select(vec![0.5, -0.5, 1e-300, -1e-12, 0.25]),
        ]
    }

    /// The lanes' compiled loop for a literal N.
    fn lanes_polynomial(lattice: &simd::Lattice, n: usize, d: [F; 3]) -> F {
        macro_rules! pick {
            ($($n:literal)*) => {
                match n {
                    $($n => simd::polynomial_lattice::<$n>(lattice, d),)*
                    _ => unreachable!(),
                }
            };
        }
        pick!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_peel_is_exact(h in prop_oneof![-1e6..1e6f64, -2.0..2.0f64, index()]) {
            let d = peel(h);
            prop_assert!(d.abs() <= 0.5);
            prop_assert_eq!(nearest(h).fract(), 0.0);
            prop_assert_eq!(d + nearest(h), h);
            let lane = (lanes([h; LANES]) - simd::nearest(lanes([h; LANES]))).to_array();
            prop_assert_eq!(lane[3].to_bits(), d.to_bits());
        }

        #[test]
        fn lane_polynomials_match_the_twin(x in prop::array::uniform8(fraction())) {
            let [c] = simd::cospi([lanes(x)]);
            let (c, s) = (c.to_array(), simd::sinpi(lanes(x)).to_array());
            for (i, &x) in x.iter().enumerate() {
                prop_assert!(agree(c[i], cospi(x), 1.0), "cos {}", x);
                prop_assert!(agree(s[i], sinpi(x), 1.0), "sin {}", x);
            }
        }

        #[test]
        fn lane_axes_match_the_twin(n in 1usize..=30, d in prop::array::uniform8(fraction())) {
            let peak = (n * n) as f64;
            if n as f64 <= POLYNOMIAL_MAX_N {
                let roots = Axis::roots(n);
                let lane_roots: Vec<F> = roots.iter().map(|&r| F::splat(r)).collect();
                let [c] = simd::cospi([lanes(d)]);
                let (a, w) = simd::polynomial_axis(Axis::of(n), &lane_roots, c);
                let (a, w) = (a.to_array(), w.to_array());
                for (i, &d) in d.iter().enumerate() {
                    let (ta, tw) = polynomial_axis(Axis::of(n), &roots, cospi(d));
                    prop_assert!(agree(a[i], ta, peak), "N {} δ {}", n, d);
                    prop_assert!(agree(w[i], tw, 1.0), "N {} δ {}", n, d);
                }
            }
            let (num, den) = simd::sincg_parts(lanes(d), n as f64);
            let (num, den) = (num.to_array(), den.to_array());
            for (i, &d) in d.iter().enumerate() {
                let (tn, td) = sine_ratio_parts(d, n as f64);
                prop_assert!(agree(num[i], tn, n as f64), "N {} δ {}", n, d);
                prop_assert!(agree(den[i], td, 1.0), "N {} δ {}", n, d);
            }
        }

        #[test]
        fn lane_lattice_matches_the_twin(
            n in prop::array::uniform3(1u32..=30),
            hkl in prop::array::uniform3(prop::array::uniform8(index())),
        ) {
            let n = n.map(f64::from);
            let twin = Lattice::new(n);
            let lane = simd::Lattice::new(n);
            prop_assert_eq!(lane.scale, twin.scale);
            let d = hkl.map(|h| {
                let h = lanes(h);
                h - simd::nearest(h)
            });
            let got = simd::square_lattice(&lane, d).to_array();
            let peak = n[0] * n[0] * n[1] * n[1] * n[2] * n[2];
            for i in 0..LANES {
                let x = [hkl[0][i], hkl[1][i], hkl[2][i]];
                let want = square_lattice(&twin, x.map(peel));
                prop_assert!(agree(got[i], want, peak / twin.scale), "N {:?} hkl {:?}", n, x);
                let full = twin.scale * got[i];
                prop_assert!(agree(full, f_latt_squared(&twin, x), peak), "N {:?} hkl {:?}", n, x);
            }
        }

        #[test]
        fn lane_compiled_loop_matches_the_twin(
            n in 1usize..=16,
            hkl in prop::array::uniform3(prop::array::uniform8(index())),
        ) {
            let cells = [n as f64; 3];
            let twin = Lattice::new(cells);
            let lane = simd::Lattice::new(cells);
            let d = hkl.map(|h| {
                let h = lanes(h);
                h - simd::nearest(h)
            });
            let got = lanes_polynomial(&lane, n, d).to_array();
            let peak = cells[0].powi(6);
            for i in 0..LANES {
                let x = [hkl[0][i], hkl[1][i], hkl[2][i]].map(peel);
                let want = polynomial_lattice(&twin, x);
                prop_assert!(agree(got[i], want, peak / twin.scale), "N {} δ {:?}", n, x);
            }
        }

        #[test]
        fn one_axis_matches_the_lanes(n in 1u32..=30, h in prop::array::uniform8(index())) {
            let n = f64::from(n);
            let lane = simd::Lattice::new([n, 1.0, 1.0]);
            let d = [lanes(h) - simd::nearest(lanes(h)), F::ZERO, F::ZERO];
            let got = (simd::square_lattice(&lane, d) * F::splat(lane.scale)).to_array();
            for i in 0..LANES {
                let want = lattice_factor_axis_chebyshev(h[i], n);
                prop_assert!(agree(got[i], want, n * n), "N {} h {}", n, h[i]);
            }
        }
    }
}
