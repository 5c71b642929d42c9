//! Scalar physics formulas: the single source of truth both engines are checked against.
//!
//! * Lattice transform of a parallelepiped, `sin(πNh)/sin(πh)`, evaluated with the integer peel:
//!   with `δ = h − n` for any integer `n`, `sin(πN(n+δ))/sin(π(n+δ)) = ±sin(πNδ)/sin(πδ)` for
//!   integer N. Only its square enters the intensity, so the sign is dropped. Peeling before
//!   multiplying by π keeps the argument small: nanoBragg.c's `sincg(π·h, N)` evaluates
//!   `sin(π·N·h)` at arguments up to ~10⁵ and loses digits, and at exact integers its 0/0 guard
//!   (`x == 0`) only catches h = 0.
//! * `sinc3(x) = 3(sin x/x − cos x)/x²`, the transform of a sphere, with `sinc3(0) = 1`.
//! * Kahn's polarization factor `½(1 + cos²2θ − K·cos 2ψ·sin²2θ)`.
//! * Tricubic Lagrange interpolation of structure factors (nanoBragg.c `polin3`).
//! * [`lattice`]: the scalar twin of the SIMD engine's fast lattice factor (integer peel,
//!   `cos(πx)`/`sin(πx)` polynomials, the Chebyshev root product), the reference for a C port.

pub mod lattice;

use crate::vec3::{self, Vec3};

/// `sin(πNδ)/sin(πδ)` for a peeled fractional index `δ ∈ [−½, ½]`: the lattice transform of
/// N cells up to sign; N at δ = 0.
#[inline]
pub fn sincg_peeled(delta: f64, n: f64) -> f64 {
    if delta == 0.0 {
        return n;
    }
    let x = std::f64::consts::PI * delta;
    (n * x).sin() / x.sin()
}

/// The square-crystal lattice factor along one axis, from the full fractional index `h` and the
/// nearest integer `h0`: `|sin(πNh)/sin(πh)|` up to sign; 1 when `N ≤ 1` (nanoBragg skips it).
#[inline]
pub fn lattice_factor_axis(h: f64, h0: f64, n: f64) -> f64 {
    if n > 1.0 {
        sincg_peeled(h - h0, n)
    } else {
        1.0
    }
}

/// `3(sin x/x − cos x)/x²` with the limit 1 at 0. Below |x| = 0.01 the closed form cancels
/// catastrophically (nanoBragg.c loses up to 8 digits there), so its Taylor series is used.
#[inline]
pub fn sinc3(x: f64) -> f64 {
    let x2 = x * x;
    if x.abs() < 0.01 {
        return 1.0 - x2 / 10.0 + x2 * x2 / 280.0;
    }
    3.0 * (x.sin() / x - x.cos()) / x2
}

/// Round to the nearest integer as nanoBragg does: `ceil(x − ½)` (ties go down).
#[inline]
pub fn nearest_index(x: f64) -> f64 {
    (x - 0.5).ceil()
}

/// Kahn polarization factor for incident and diffracted unit vectors and the E-vector axis.
pub fn polarization(kahn: f64, incident: Vec3, diffracted: Vec3, axis: Vec3) -> f64 {
    let incident = vec3::unitize(incident).0;
    let diffracted = vec3::unitize(diffracted).0;
    let axis = vec3::unitize(axis).0;
    let cos2t = vec3::dot(incident, diffracted);
    let cos2t_sqr = cos2t * cos2t;
    let sin2t_sqr = 1.0 - cos2t_sqr;
    let mut psi = 0.0;
    if kahn != 0.0 {
        let b_in = vec3::unitize(vec3::cross(axis, incident)).0;
        let e_in = vec3::unitize(vec3::cross(incident, b_in)).0;
        psi = -vec3::dot(diffracted, b_in).atan2(vec3::dot(diffracted, e_in));
    }
    0.5 * (1.0 + cos2t_sqr - kahn * (2.0 * psi).cos() * sin2t_sqr)
}

/// Four-point Lagrange interpolation at `x` through `(xa[i], ya[i])` (nanoBragg.c `polint`).
#[inline]
pub fn polint(xa: &[f64; 4], ya: &[f64; 4], x: f64) -> f64 {
    let t0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0]
        / ((xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]));
    let t1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1]
        / ((xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]));
    let t2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2]
        / ((xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]));
    let t3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3]
        / ((xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]));
    t0 + t1 + t2 + t3
}

/// Tricubic interpolation on a 4×4×4 neighbourhood: along l, then k, then h (nanoBragg.c
/// `polin3`). `y[i][j][k]` is F at `(xh[i], xk[j], xl[k])`.
pub fn polin3(
    xh: &[f64; 4],
    xk: &[f64; 4],
    xl: &[f64; 4],
    y: &[[[f64; 4]; 4]; 4],
    h: f64,
    k: f64,
    l: f64,
) -> f64 {
    let mut along_h = [0.0; 4];
    for (i, slab) in y.iter().enumerate() {
        let mut along_k = [0.0; 4];
        for (j, row) in slab.iter().enumerate() {
            along_k[j] = polint(xl, row, l);
        }
        along_h[i] = polint(xk, &along_k, k);
    }
    polint(xh, &along_h, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// The full-argument form, as nanoBragg.c writes it.
    fn sincg_full(x: f64, n: f64) -> f64 {
        if x == 0.0 { n } else { (x * n).sin() / x.sin() }
    }

    #[test]
    fn peel_matches_full_form_away_from_integers() {
        for &(h, n) in &[(0.3, 5.0), (2.27, 10.0), (-7.61, 8.0), (13.49, 3.0)] {
            let h0 = nearest_index(h);
            let a = lattice_factor_axis(h, h0, n).abs();
            let b = sincg_full(PI * h, n).abs();
            assert!((a - b).abs() < 1e-9 * b.max(1.0), "{h} {n}: {a} vs {b}");
        }
    }

    #[test]
    fn peel_gives_n_at_every_integer() {
        // C's form divides 0 by ~1e-16 here and returns noise; the peel returns N.
        for h in [-3.0, 1.0, 7.0, 50.0] {
            assert_eq!(lattice_factor_axis(h, nearest_index(h), 5.0), 5.0);
        }
        assert_eq!(lattice_factor_axis(2.4, 2.0, 1.0), 1.0);
    }

    #[test]
    fn sinc3_limit_and_first_zero() {
        assert_eq!(sinc3(0.0), 1.0);
        assert!((sinc3(1e-4) - (1.0 - 1e-9)).abs() < 1e-16);
        // the series and the closed form agree where they meet
        let closed = |x: f64| 3.0 * (x.sin() / x - x.cos()) / (x * x);
        assert!((sinc3(0.0100001) - closed(0.0100001)).abs() < 1e-11);
        // first zero of tan x = x
        assert!(sinc3(4.493409457909064).abs() < 1e-12);
    }

    #[test]
    fn polarization_limits() {
        let inc = [1.0, 0.0, 0.0];
        // forward scattering: factor 1 for any K
        assert!((polarization(0.7, inc, inc, [0.0, 0.0, 1.0]) - 1.0).abs() < 1e-15);
        // 90° scattering, unpolarized: ½
        assert!((polarization(0.0, inc, [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]) - 0.5).abs() < 1e-15);
        // fully polarized along z: scattering along z vanishes, along y stays 1
        assert!(polarization(1.0, inc, [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]).abs() < 1e-15);
        assert!((polarization(1.0, inc, [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn tricubic_reproduces_cubics() {
        let f = |h: f64, k: f64, l: f64| 1.0 + h - 2.0 * k * k + 0.5 * l * l * l + h * k * l;
        let xs = [-1.0, 0.0, 1.0, 2.0];
        let mut y = [[[0.0; 4]; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                for k in 0..4 {
                    y[i][j][k] = f(xs[i], xs[j], xs[k]);
                }
            }
        }
        let v = polin3(&xs, &xs, &xs, &y, 0.3, 0.7, 1.2);
        assert!((v - f(0.3, 0.7, 1.2)).abs() < 1e-12);
    }
}
