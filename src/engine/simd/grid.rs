//! Structure factors from the HKL grid on lanes: the nearest reflection and nanoBragg's
//! tricubic interpolation, for a vector of evaluations at once.
//!
//! `wide` has no gather, so the range tests, indices and interpolation weights are lane vectors
//! and the loads are made lane by lane, except where every lane of a vector interpolates in
//! the same 4×4×4 cube (neighbouring pixels usually do): then its 64 values are broadcast and
//! the sum runs on lane vectors. Lanes the interpolation does not take get the scalar engine's
//! structure factor ([`fill_missed`]), which also records the first miss for the warning.
//!
//! Entry points: [`GridLanes`] (bounds and strides as lane constants), [`GridLanes::cell_f`]
//! (interpolated or the nearest reflection's, for any lane) and [`GridLanes::nearest`] (the
//! nearest reflection's on lane vectors). Leaves after them: the interpolation itself (one
//! function, both ways of reading the cube: split up, its weights went through memory and
//! the interpolation case measured 5 % slower), the index, the lane-by-lane fallback and the
//! Lagrange weights.

use crate::lanes::{self, F, LANES, ON};
use crate::physics;
use crate::setup::Setup;

use super::super::scalar::{self, RowStats};

/// The structure-factor grid as the lane code addresses it: bounds and strides as lane
/// constants, computed once per render.
pub(super) struct GridLanes {
    /// Smallest h, k, l.
    mins: [f64; 3],
    /// Largest h, k, l.
    maxs: [f64; 3],
    /// `max − min + 1` per axis (nanoBragg's `h_range` …).
    spans: [f64; 3],
    /// Strides of h and k in [`HklGrid::data`](crate::io::HklGrid::data).
    strides: [usize; 2],
}

impl GridLanes {
    /// The grid of `setup`, when it has one with reflections.
    pub(super) fn new(setup: &Setup) -> Option<Self> {
        let g = setup.grid.as_deref().filter(|g| g.count > 0)?;
        let (hr, kr, lr) = g.ranges();
        Some(GridLanes {
            mins: [g.h_min, g.k_min, g.l_min].map(f64::from),
            maxs: [g.h_max, g.k_max, g.l_max].map(f64::from),
            spans: [hr, kr, lr].map(|r| r as f64),
            strides: [(kr + 1) * (lr + 1), lr + 1],
        })
    }

    /// F at fractional (h, k, l): by tricubic interpolation where `interpolate`, lanes outside
    /// the range where nanoBragg interpolates taking the nearest reflection (or `-default_F`)
    /// and the first such evaluation recorded for the warning; without `interpolate` the
    /// nearest reflection, lane by lane with the scalar engine's rule.
    #[inline(always)]
    pub(super) fn cell_f(
        &self,
        setup: &Setup,
        data: &[f64],
        hkl: [F; 3],
        active: &[bool],
        stats: &mut RowStats,
        interpolate: bool,
    ) -> F {
        let (f, done) = if interpolate {
            self.interpolate(data, hkl, active)
        } else {
            (F::ZERO, [false; LANES])
        };
        fill_missed(setup, hkl, f, done, active, stats)
    }

    /// F of the nearest reflection, `(h0, k0, l0) = ceil(h − ½)` as nanoBragg rounds;
    /// `-default_F` outside the grid (or where an index is NaN).
    #[inline(always)]
    pub(super) fn nearest(&self, data: &[f64], hkl: [F; 3], default_f: F) -> F {
        let h0 = hkl.map(|x| (x - F::splat(0.5)).ceil());
        let mut inside = F::splat(ON);
        for (i, x) in h0.iter().enumerate() {
            inside &= x.simd_ge(F::splat(self.mins[i])) & x.simd_le(F::splat(self.maxs[i]));
        }
        let at = self.index(h0).to_array();
        let (inside, default_f) = (inside.to_bitmask(), default_f.to_array());
        lanes::from_fn(|i| {
            if inside & (1 << i) != 0 {
                data.get(at[i] as usize).copied().unwrap_or(default_f[i])
            } else {
                default_f[i]
            }
        })
    }

    /// Tricubic interpolation of F at fractional (h, k, l), as nanoBragg.c's `polin3` computes
    /// it (the same 4×4×4 Lagrange interpolant) but with precomputed weights and direct
    /// indexing: 64 multiply-adds instead of 21 `polint` calls with 84 divisions. The range
    /// test, the weights and the first index are lane vectors. Neighbouring pixels usually
    /// share one cube (h, k, l change by about 1 % of an index per pixel): when every lane
    /// of the vector is in range and has the same cube, its 64 values are broadcast and the
    /// sum runs on lane vectors, `F = Σ_l wl ⊙ Σ_(h,k) (wh ⊙ wk)·F[h][k][l]`. Otherwise each
    /// lane's cube is read on its own (`wide` has no gather). Which way a vector goes depends
    /// only on its pixels' h, k, l, never on the region of interest or the thread count.
    /// Returns F and, per lane, whether it was interpolated: lanes that are inactive or outside
    /// the range where nanoBragg interpolates are not.
    #[inline(always)]
    fn interpolate(&self, data: &[f64], hkl: [F; 3], active: &[bool]) -> (F, [bool; LANES]) {
        let mut inside = F::splat(ON);
        for (i, x) in hkl.iter().enumerate() {
            let min = F::splat(self.mins[i]);
            inside &= (*x - min + F::splat(3.0)).simd_le(F::splat(self.spans[i]))
                & (*x - F::splat(2.0)).simd_ge(min);
        }
        let base = [hkl[0].floor(), hkl[1].floor(), hkl[2].floor()].map(|b| b - F::ONE);
        let w = [
            cubic_weights(hkl[0] - base[0]),
            cubic_weights(hkl[1] - base[1]),
            cubic_weights(hkl[2] - base[2]),
        ];
        let [sk, sl] = self.strides;
        let first = self.index(base).to_array();
        let inside = inside.to_bitmask();
        let span = 3 * sk + 3 * sl + 4;
        if inside == (1 << LANES) - 1 && first.iter().all(|&x| x == first[0]) {
            if let Some(cube) = data.get(first[0] as usize..first[0] as usize + span) {
                let mut t = [F::ZERO; 4];
                for a in 0..4 {
                    for b in 0..4 {
                        let whk = w[0][a] * w[1][b];
                        let row = &cube[a * sk + b * sl..a * sk + b * sl + 4];
                        for (t, &v) in t.iter_mut().zip(row) {
                            *t = whk.mul_add(F::splat(v), *t);
                        }
                    }
                }
                let f = w[2][0].mul_add(
                    t[0],
                    w[2][1].mul_add(t[1], w[2][2].mul_add(t[2], w[2][3] * t[3])),
                );
                return (f, std::array::from_fn(|i| active[i]));
            }
        }
        let arrays = |w: &[F; 4]| {
            [
                w[0].to_array(),
                w[1].to_array(),
                w[2].to_array(),
                w[3].to_array(),
            ]
        };
        let (wh, wk, wl) = (arrays(&w[0]), arrays(&w[1]), arrays(&w[2]));
        let mut done = [false; LANES];
        let mut f = [0.0; LANES];
        // A plain loop over the lanes (not a closure), so it stays inlined in the hot loop.
        for i in 0..LANES {
            if !active[i] || inside & (1 << i) == 0 {
                continue;
            }
            let at = first[i] as usize;
            let Some(cube) = data.get(at..at + span) else {
                continue;
            };
            done[i] = true;
            // F = Σ_i wh_i·(Σ_j wk_j·F[i][j][·])·wl: the four l-values of each (i, j) row are
            // contiguous, so the inner sums are 16 four-wide multiply-adds in four independent
            // chains, then four more for h and one four-wide product with the l weights.
            let splat = wide::f64x4::splat;
            let mut t = [wide::f64x4::ZERO; 4];
            for (a, t) in t.iter_mut().enumerate() {
                for (b, w) in wk.iter().enumerate() {
                    let at = a * sk + b * sl;
                    *t = wide::f64x4::from(&cube[at..at + 4]).mul_add(splat(w[i]), *t);
                }
            }
            let mut u = wide::f64x4::ZERO;
            for (t, w) in t.iter().zip(&wh) {
                u = t.mul_add(splat(w[i]), u);
            }
            f[i] = (u * wide::f64x4::from([wl[0][i], wl[1][i], wl[2][i], wl[3][i]])).reduce_add();
        }
        let f = F::from(f);
        (f, done)
    }

    /// Position in the grid's data of integer-valued (h, k, l), per lane (exact in f64).
    #[inline(always)]
    fn index(&self, hkl: [F; 3]) -> F {
        let [sk, sl] = self.strides.map(|s| F::splat(s as f64));
        let d: [F; 3] = std::array::from_fn(|i| hkl[i] - F::splat(self.mins[i]));
        d[0].mul_add(sk, d[1].mul_add(sl, d[2]))
    }
}

/// `f` on the lanes that are `done` or inactive; on the other lanes the scalar engine's F
/// (nearest reflection, `-default_F` outside the grid), recording an interpolation miss.
#[inline(always)]
fn fill_missed(
    setup: &Setup,
    hkl: [F; 3],
    f: F,
    done: [bool; LANES],
    active: &[bool],
    stats: &mut RowStats,
) -> F {
    if done.iter().zip(active).all(|(&d, &a)| d || !a) {
        return f;
    }
    let f = f.to_array();
    let h = hkl.map(|x| x.to_array());
    let mut no_latch = None;
    lanes::from_fn(|i| {
        if done[i] || !active[i] {
            f[i]
        } else {
            let hkl = [h[0][i], h[1][i], h[2][i]];
            let hkl0 = hkl.map(physics::nearest_index);
            scalar::structure_factor(setup, hkl, hkl0, &mut no_latch, stats)
        }
    })
}

/// Lagrange weights of the four consecutive integer nodes `x0 … x0+3` at `x0 + t`, per lane:
/// the denominators of nanoBragg's `polint` are the constants −6, 2, −2, 6 for such nodes.
#[inline(always)]
fn cubic_weights(t: F) -> [F; 4] {
    let sixth = F::splat(1.0 / 6.0);
    let half = F::splat(0.5);
    let (t1, t2, t3) = (t - F::ONE, t - F::splat(2.0), t - F::splat(3.0));
    [
        -(t1 * t2 * t3) * sixth,
        t * t2 * t3 * half,
        -(t * t1 * t3) * half,
        t * t1 * t2 * sixth,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_weights_reproduce_polint() {
        let xs = [3.0, 4.0, 5.0, 6.0];
        let ys = [1.5, -2.0, 7.25, 0.5];
        for t in [1.0, 1.3, 1.5, 1.99] {
            let w = cubic_weights(F::splat(t)).map(|w| w.to_array()[0]);
            let fast: f64 = (0..4).map(|i| w[i] * ys[i]).sum();
            let reference = physics::polint(&xs, &ys, 3.0 + t);
            assert!((fast - reference).abs() < 1e-12, "{t}: {fast} {reference}");
        }
    }
}
