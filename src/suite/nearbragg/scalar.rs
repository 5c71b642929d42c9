//! The reference kernel: one sub-pixel at a time, nearBragg.c's arithmetic term for term
//! (`DWF·cos(φ)/r_src/r_pix`, `std` sin and cos, which are the C library's), amplitudes as
//! `Complex<f64>`.

use num_complex::Complex;

use crate::lanes::LANES;

use super::params::TWO_PI_C;
use super::render::{Amp, Trace};
use super::setup::Setup;

/// The amplitude of every wavelength and divergence point at each of the first `n` positions:
/// `amps[λ·n_div + div][lane]`, summed over depth samples and atoms in file order.
pub(crate) fn amplitudes(
    setup: &Setup,
    pos: &[[f64; 3]; LANES],
    n: usize,
    amps: &mut [[Amp; LANES]],
    mut trace: Option<&mut Trace>,
) {
    for (lane, p) in pos.iter().enumerate().take(n) {
        for (li, &lambda) in setup.lambdas.iter().enumerate() {
            for div in 0..setup.n_div {
                let mut a = Complex::new(0.0, 0.0);
                for depth in 0..setup.n_depth {
                    for (k, t) in setup.source(div, depth).iter().enumerate() {
                        let (dx, dy, dz) = (p[0] - t.x, p[1] - t.y, p[2] - t.z);
                        let r = (dx * dx + dy * dy + dz * dz).sqrt();
                        let phase = TWO_PI_C * (t.path + r) / lambda + t.phs;
                        let mut dwf = t.occ;
                        if t.b != 0.0 {
                            let s = [dx / r, dy / r, dz / r];
                            let q = [0, 1, 2].map(|i| (s[i] - t.s0[i]) / (lambda * 1e10));
                            let stol = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt() / 2.0;
                            dwf *= (-t.b * stol * stol).exp();
                        }
                        let (sin, cos) = phase.sin_cos();
                        a += Complex::new(dwf * cos / t.amp_r / r, dwf * sin / t.amp_r / r);
                        if let Some(trace) = trace.as_deref_mut() {
                            trace(k, t, phase, a);
                        }
                    }
                }
                amps[li * setup.n_div + div][lane] = a;
            }
        }
    }
}
