//! The lane kernel: the [`LANES`] sub-pixels of a block on `f64` lanes, the atoms in the inner
//! loop. Per atom and lane: the distance to the sub-pixel, the phase
//! `2π·(path + r)/λ + shift` with the same operations as nearBragg.c (so the same double, see
//! [`trig`](super::trig)), its sine and cosine, the B-factor damping where B ≠ 0, and the
//! amplitude `w/r` with `w = occupancy/r_src` prepared per source point.

use num_complex::Complex;

use crate::lanes::{F, LANES, from_fn};

use super::params::TWO_PI_C;
use super::render::Amp;
use super::setup::Setup;
use super::trig;

/// As [`scalar::amplitudes`](super::scalar::amplitudes), for all lanes at once.
pub(crate) fn amplitudes(setup: &Setup, pos: &[[f64; 3]; LANES], amps: &mut [[Amp; LANES]]) {
    let px = from_fn(|i| pos[i][0]);
    let py = from_fn(|i| pos[i][1]);
    let pz = from_fn(|i| pos[i][2]);
    let two_pi = F::splat(TWO_PI_C);
    for (li, &lambda) in setup.lambdas.iter().enumerate() {
        let lam = F::splat(lambda);
        let lam_a = F::splat(lambda * 1e10);
        for div in 0..setup.n_div {
            let (mut re, mut im) = (F::ZERO, F::ZERO);
            for depth in 0..setup.n_depth {
                for t in setup.source(div, depth) {
                    let dx = px - F::splat(t.x);
                    let dy = py - F::splat(t.y);
                    let dz = pz - F::splat(t.z);
                    let r = (dx * dx + dy * dy + dz * dz).sqrt();
                    let phase = two_pi * (F::splat(t.path) + r) / lam + F::splat(t.phs);
                    let (sin, cos) = trig::sin_cos(phase);
                    let inv_r = F::ONE / r;
                    let mut w = F::splat(t.w) * inv_r;
                    if t.b != 0.0 {
                        let sx = (dx * inv_r - F::splat(t.s0[0])) / lam_a;
                        let sy = (dy * inv_r - F::splat(t.s0[1])) / lam_a;
                        let sz = (dz * inv_r - F::splat(t.s0[2])) / lam_a;
                        let stol2 = (sx * sx + sy * sy + sz * sz) * F::splat(0.25);
                        w *= (F::splat(-t.b) * stol2).exp();
                    }
                    re = w.mul_add(cos, re);
                    im = w.mul_add(sin, im);
                }
            }
            let (re, im) = (re.to_array(), im.to_array());
            amps[li * setup.n_div + div] = std::array::from_fn(|i| Complex::new(re[i], im[i]));
        }
    }
}
