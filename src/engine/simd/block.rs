//! The per-pixel state of one block of a row as lane vectors, and the steps of the loop nest
//! that work on it outside the hot loop: which pixels are rendered, the sub-pixel geometry
//! (stage A), the per-source scattering vectors, dmin mask and polarization, the water
//! background and the finished pixel values.
//!
//! Entry points: [`Block`] and its steps in the order the loop nest ([`super::render_row`])
//! calls them. Leaves after them: [`V3`] and the curved-detector mapping.

use crate::lanes::{self, F, LANES};
use crate::setup::Setup;
use crate::vec3::Vec3;

use super::super::scalar;
use super::hot::BATCH;
use super::prepared::SourceLanes;

/// Pixels per block: the row is processed in blocks whose per-pixel buffers stay in L1.
pub const BLOCK: usize = 256;
const VECS: usize = BLOCK / LANES;

/// Per-pixel state of one block of a row, as lane vectors: the scratch space of the SIMD loop
/// (about 40 KiB, so one per thread, reused row after row).
pub struct Block {
    pub(super) nvec: usize,
    pub(super) active: [bool; BLOCK],
    /// Whether every pixel of the block is rendered (set by [`Block::activate`]).
    pub(super) all_active: bool,
    pub(super) mask: [F; VECS],
    pub(super) dx: [F; VECS],
    pub(super) dy: [F; VECS],
    pub(super) dz: [F; VECS],
    pub(super) qx: [F; VECS],
    pub(super) qy: [F; VECS],
    pub(super) qz: [F; VECS],
    pub(super) keep: [F; VECS],
    /// Product of the factors `-oversample_thick/_polar/_omega` apply to each term.
    pub(super) factor: [F; VECS],
    pub(super) acc: [F; VECS],
    pub(super) layer_sum: [F; VECS],
    total: [F; VECS],
    polar: [F; VECS],
    omega: [F; VECS],
    omega_sum_v: [F; VECS],
    cap: [F; VECS],
    water_acc: [F; VECS],
    /// Peeled indices of a batch of evaluations in `plain_sum`.
    pub(super) batch: [[F; 3]; BATCH],
    /// d·a, d·b, d·c per crystal orientation, shared by the sources in
    /// `plain_sum`.
    pub(super) projections: Vec<[F; 3]>,
    pub(super) value: [f64; BLOCK],
    /// Σω over the block's rendered sub-pixels.
    pub(super) omega_total: f64,
}

/// One sub-pixel of one sensor layer, C's (thick_tic, subS, subF), with what the row of
/// sub-pixels shares.
pub(super) struct SubPixel {
    /// Layer, sub-pixel row and sub-pixel column.
    pub(super) t: usize,
    pub(super) sub_s: usize,
    pub(super) sub_f: usize,
    /// Slow offset of the sub-pixel and depth of the layer (m).
    pub(super) sdet: f64,
    pub(super) odet: f64,
    /// Its position on the detector at fast offset 0.
    pub(super) base: Vec3,
}

impl Block {
    /// Fresh scratch space.
    pub fn new() -> Box<Block> {
        Box::new(Block {
            nvec: 0,
            active: [false; BLOCK],
            all_active: false,
            mask: [F::ZERO; VECS],
            dx: [F::ZERO; VECS],
            dy: [F::ZERO; VECS],
            dz: [F::ZERO; VECS],
            qx: [F::ZERO; VECS],
            qy: [F::ZERO; VECS],
            qz: [F::ZERO; VECS],
            keep: [F::ZERO; VECS],
            factor: [F::ZERO; VECS],
            acc: [F::ZERO; VECS],
            layer_sum: [F::ZERO; VECS],
            total: [F::ZERO; VECS],
            polar: [F::ZERO; VECS],
            omega: [F::ZERO; VECS],
            omega_sum_v: [F::ZERO; VECS],
            cap: [F::ZERO; VECS],
            water_acc: [F::ZERO; VECS],
            batch: [[F::ZERO; 3]; BATCH],
            projections: Vec::new(),
            value: [0.0; BLOCK],
            omega_total: 0.0,
        })
    }

    /// Mark the rendered pixels of `f0..end` (minus the Q1 pixel); false when there are none.
    pub(super) fn activate(
        &mut self,
        setup: &Setup,
        s: usize,
        f0: usize,
        end: usize,
        skip: Option<usize>,
    ) -> bool {
        let n = end - f0;
        self.nvec = n.div_ceil(LANES);
        let region = &setup.region;
        let fast = region.fast();
        let row_in = region.slow().contains(&s);
        let whole =
            row_in && !region.is_masked() && skip.is_none() && f0 >= fast.start && end <= fast.end;
        let any = if whole {
            // The common case: every pixel of the block is rendered.
            self.active[..n].fill(true);
            self.active[n..self.nvec * LANES].fill(false);
            true
        } else {
            let mask = if row_in { region.row_mask(s) } else { None };
            let mut any = false;
            for i in 0..self.nvec * LANES {
                let f = f0 + i;
                let on = row_in
                    && i < n
                    && fast.contains(&f)
                    && mask.is_none_or(|m| m[f] != 0)
                    && skip != Some(f);
                self.active[i] = on;
                any |= on;
            }
            any
        };
        self.all_active = whole || self.active[..n].iter().all(|&a| a);
        for c in 0..self.nvec {
            let active = &self.active[c * LANES..(c + 1) * LANES];
            self.mask[c] = lanes::mask(|i| active[i]);
        }
        any
    }

    /// Before the loop nest: the pixels' sums and factors start empty.
    pub(super) fn start(&mut self, setup: &Setup) {
        for c in 0..self.nvec {
            self.acc[c] = F::splat(if setup.compat { setup.water } else { 0.0 });
            self.total[c] = F::ZERO;
            self.polar[c] = F::splat(if setup.nopolar { 1.0 } else { 0.0 });
            self.omega[c] = F::ZERO;
            self.omega_sum_v[c] = F::ZERO;
            self.water_acc[c] = F::ZERO;
        }
    }

    /// Before each sensor layer: no capture fraction yet (1 without a sensor), an empty sum.
    pub(super) fn start_layer(&mut self, setup: &Setup) {
        for c in 0..self.nvec {
            self.cap[c] = F::splat(if setup.layers.thickness == 0.0 {
                1.0
            } else {
                0.0
            });
            self.layer_sum[c] = F::ZERO;
        }
    }

    /// Stage A for one sub-pixel of the block starting at pixel `f0`: position, diffracted
    /// direction d, solid angle ω and the layer's capture fraction, per vector of pixels.
    pub(super) fn geometry(&mut self, setup: &Setup, f0: usize, sp: &SubPixel) {
        let det = &setup.detector;
        let n = setup.oversample;
        let sub = det.pixel_size / n as f64;
        let layers = setup.layers;
        let thick = layers.thickness > 0.0 || setup.compat;
        let first_sub = sp.t == 0 && sp.sub_s == 0 && sp.sub_f == 0;
        let new_omega = first_sub || setup.oversample_omega;
        let first_of_layer = sp.sub_s == 0 && sp.sub_f == 0 && layers.thickness > 0.0;
        let new_cap = first_of_layer || (thick && setup.oversample_thick);
        let lane_index = lanes::from_fn(|i| i as f64);
        for c in 0..self.nvec {
            let start = sub * ((f0 + c * LANES) * n + sp.sub_f) as f64 + sub / 2.0;
            let fdet = lane_index.mul_add(F::splat(sub * n as f64), F::splat(start));
            let mut pos = V3 {
                x: fdet.mul_add(F::splat(det.fdet[0]), F::splat(sp.base[0])),
                y: fdet.mul_add(F::splat(det.fdet[1]), F::splat(sp.base[1])),
                z: fdet.mul_add(F::splat(det.fdet[2]), F::splat(sp.base[2])),
            };
            if setup.curved {
                pos = curved(setup, pos, fdet, sp.sdet, sp.odet);
            }
            let r2 = pos.x.mul_add(pos.x, pos.y.mul_add(pos.y, pos.z * pos.z));
            let inv_r = F::ONE / r2.sqrt();
            let d = V3 {
                x: pos.x * inv_r,
                y: pos.y * inv_r,
                z: pos.z * inv_r,
            };
            (self.dx[c], self.dy[c], self.dz[c]) = (d.x, d.y, d.z);
            if new_omega {
                self.omega[c] = if setup.point_pixel {
                    inv_r * inv_r
                } else {
                    F::splat(det.pixel_size * det.pixel_size * det.close_distance)
                        * (inv_r * inv_r * inv_r)
                };
            }
            self.omega_sum_v[c] += self.omega[c];
            if new_cap {
                // As in the scalar engine: |d·ô|, at least the smallest normal.
                let parallax = d
                    .dot_scalar(det.odet)
                    .abs()
                    .max(F::splat(f64::MIN_POSITIVE));
                let mu = F::splat(layers.step * layers.mu) / parallax;
                self.cap[c] = (-(F::splat(sp.t as f64) * mu)).exp()
                    - (-(F::splat((sp.t + 1) as f64) * mu)).exp();
            }
        }
    }

    /// Without dmin every source reaches every rendered pixel: the polarization factor from
    /// the first source (C's rule), the sources in turn while a lane still lacks one.
    pub(super) fn polarize_all(&mut self, setup: &Setup, sources: &[SourceLanes]) {
        for src in sources {
            if !self.polar_pending() {
                break;
            }
            for c in 0..self.nvec {
                self.polarize(setup, src, c, self.mask[c]);
            }
        }
    }

    /// Per source: scattering vectors, the dmin mask, the polarization factor.
    pub(super) fn source_setup(&mut self, setup: &Setup, src: &SourceLanes, nopolar_kept: bool) {
        let inv = F::splat(src.inv_lambda);
        let m = src.minus_inc_over_lambda.map(F::splat);
        for c in 0..self.nvec {
            let q = self.direction(c).scattering(inv, m);
            (self.qx[c], self.qy[c], self.qz[c]) = (q.x, q.y, q.z);
            // dmin: keep lanes whose resolution 1/|q| is at least dmin.
            let keep = if setup.dmin > 0.0 {
                let stol = q.x.mul_add(q.x, q.y.mul_add(q.y, q.z * q.z)).sqrt() * F::splat(0.5);
                let reject =
                    stol.simd_gt(F::ZERO) & F::splat(setup.dmin).simd_gt(F::splat(0.5) / stol);
                self.mask[c] & !reject
            } else {
                self.mask[c]
            };
            self.keep[c] = keep;
            if !nopolar_kept {
                self.polarize(setup, src, c, keep);
            }
            // The per-term factors change with the sub-pixel and source, not the orientation.
            let mut factor = F::ONE;
            if setup.oversample_thick {
                factor *= self.cap[c];
            }
            if setup.oversample_polar {
                factor *= self.polar[c];
            }
            if setup.oversample_omega {
                factor *= self.omega[c];
            }
            self.factor[c] = factor;
        }
    }

    /// After each sub-pixel: water scatters like a flat background, ⟨P·ω·capture⟩ over
    /// sub-pixels.
    pub(super) fn add_water(&mut self) {
        for c in 0..self.nvec {
            self.water_acc[c] += self.polar[c] * self.omega[c] * self.cap[c];
        }
    }

    /// After each sensor layer (not under compat, spec Q10): the layer's sum weighted by its
    /// own capture fraction, unless `-oversample_thick` applied it to each term.
    pub(super) fn end_layer(&mut self, setup: &Setup) {
        for c in 0..self.nvec {
            self.total[c] += if setup.oversample_thick {
                self.layer_sum[c]
            } else {
                self.layer_sum[c] * self.cap[c]
            };
        }
    }

    /// After the loop nest: scale, polarization, ω and capture (where not applied per term)
    /// and the water background give the pixel values; Σω over the rendered lanes.
    pub(super) fn finish(&mut self, setup: &Setup) {
        let compat = setup.compat;
        let nopolar_kept = setup.nopolar && !compat;
        let n = setup.oversample;
        let inv_steps = 1.0 / setup.steps;
        let water = F::splat(setup.water / (n * n) as f64);
        let mut omega = F::ZERO;
        for c in 0..self.nvec {
            let mut value = if compat {
                let v = F::splat(setup.scale * inv_steps) * self.acc[c];
                if setup.oversample_thick {
                    v
                } else {
                    v * self.cap[c]
                }
            } else {
                F::splat(setup.scale * inv_steps) * self.total[c]
            };
            if !setup.oversample_polar || nopolar_kept {
                value *= self.polar[c];
            }
            if !setup.oversample_omega {
                value *= self.omega[c];
            }
            if !compat && setup.water != 0.0 {
                value += water * self.water_acc[c];
            }
            self.value[c * LANES..(c + 1) * LANES].copy_from_slice(&value.to_array());
            omega = self.mask[c].select(self.omega_sum_v[c], F::ZERO) + omega;
        }
        self.omega_total = omega.reduce_add();
    }

    /// The diffracted directions d of vector `c`.
    #[inline(always)]
    pub(super) fn direction(&self, c: usize) -> V3 {
        V3 {
            x: self.dx[c],
            y: self.dy[c],
            z: self.dz[c],
        }
    }

    /// Whether a rendered lane of the block has no polarization factor yet.
    fn polar_pending(&self) -> bool {
        (0..self.nvec).any(|c| (self.mask[c] & self.polar[c].simd_eq(F::ZERO)).any())
    }

    /// The polarization factor of vector `c` from this source, on the lanes of `keep` that
    /// need it: every one with `-oversample_polar`, else those without one yet (C computes it
    /// at the first source that reaches the pixel).
    #[inline(always)]
    fn polarize(&mut self, setup: &Setup, src: &SourceLanes, c: usize, keep: F) {
        let need = if setup.oversample_polar {
            keep
        } else {
            keep & self.polar[c].simd_eq(F::ZERO)
        };
        if !need.any() {
            return;
        }
        let d = self.direction(c);
        let cos2t = d.dot_scalar(src.incident);
        let c2 = cos2t * cos2t;
        let sin2 = F::ONE - c2;
        let cos2psi = if setup.kahn != 0.0 {
            let e = d.dot_scalar(src.e_in);
            let b = d.dot_scalar(src.b_in);
            let (e2, b2) = (e * e, b * b);
            let norm = e2 + b2;
            norm.simd_eq(F::ZERO).select(F::ONE, (e2 - b2) / norm)
        } else {
            F::ONE
        };
        let p = F::splat(0.5) * (F::ONE + c2 - F::splat(setup.kahn) * cos2psi * sin2);
        self.polar[c] = need.select(p, self.polar[c]);
    }
}

/// Three lane vectors: x, y, z.
#[derive(Clone, Copy)]
pub(super) struct V3 {
    pub(super) x: F,
    pub(super) y: F,
    pub(super) z: F,
}

impl V3 {
    /// The same vector on every lane.
    pub(super) fn splat(v: Vec3) -> V3 {
        V3 {
            x: F::splat(v[0]),
            y: F::splat(v[1]),
            z: F::splat(v[2]),
        }
    }

    /// The dot product with a vector held as lane vectors.
    #[inline(always)]
    pub(super) fn dot(&self, a: &V3) -> F {
        self.x.mul_add(a.x, self.y.mul_add(a.y, self.z * a.z))
    }

    /// The dot product with one vector.
    #[inline(always)]
    pub(super) fn dot_scalar(&self, a: Vec3) -> F {
        self.x.mul_add(
            F::splat(a[0]),
            self.y.mul_add(F::splat(a[1]), self.z * F::splat(a[2])),
        )
    }

    /// The scattering vector `q = d/λ − î/λ` of directions `d` (self) for a source with
    /// `inv = 1/λ` and `m = −î/λ`.
    #[inline(always)]
    pub(super) fn scattering(&self, inv: F, m: [F; 3]) -> V3 {
        V3 {
            x: self.x.mul_add(inv, m[0]),
            y: self.y.mul_add(inv, m[1]),
            z: self.z.mul_add(inv, m[2]),
        }
    }
}

/// The curved-detector mapping, lane by lane with the scalar code.
fn curved(setup: &Setup, pos: V3, fdet: F, sdet: f64, odet: f64) -> V3 {
    let fd = fdet.to_array();
    let (px, py, pz) = (pos.x.to_array(), pos.y.to_array(), pos.z.to_array());
    let mapped: [Vec3; LANES] =
        std::array::from_fn(|i| scalar::curve(setup, [px[i], py[i], pz[i]], fd[i], sdet, odet));
    V3 {
        x: lanes::from_fn(|i| mapped[i][0]),
        y: lanes::from_fn(|i| mapped[i][1]),
        z: lanes::from_fn(|i| mapped[i][2]),
    }
}
