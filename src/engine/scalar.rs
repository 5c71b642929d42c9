//! The scalar reference engine: nanoBragg.c's pixel loop, one pixel at a time, in f64.
//!
//! Loop nest, as in nanoBragg.c (spec §3.4):
//!
//! ```text
//! for each rendered pixel (f, s):                      C: spixel, fpixel loops
//!   for each sensor layer t:                           C: thick_tic
//!     for each sub-pixel (subS, subF):                 C: subS, subF
//!       position P, diffracted unit vector d, R = |P|
//!       solid angle ω (first sub-pixel, or each with -oversample_omega)
//!       capture fraction of layer t (first sub-pixel of the layer, or each with -oversample_thick)
//!       for each source (incident i, λ):               C: source
//!         q = (d − i)/λ;  skip if 1/|q| < dmin
//!         polarization (first source, or each with -oversample_polar)
//!         for each φ step, for each mosaic domain:     C: phi_tic, mos_tic
//!           h = a·q, k = b·q, l = c·q with the hoisted (φ, domain) cell
//!           F_latt from the crystal shape, F_cell from the grid
//!           accumulate F_cell²·F_latt²
//!   pixel = r_e²Φ · Σ / steps · (capture · polarization · ω unless applied per term)
//! ```
//!
//! Where nanoBragg.c is wrong the default mode computes the physics and `compat` reproduces C
//! (spec §8): Q1 (φ = 0 keeps the last rotation), Q10 (layers: C multiplies the sum over all
//! layers by the last layer's capture fraction), Q11/Q12 (the `-oversample_*` switches multiply
//! C's running sum instead of each term; `-nopolar` is lost with `-oversample_polar`), Q13 (water
//! enters before scaling), Q16 (one interpolation miss switches interpolation off for the run).

use crate::io::HklGrid;
use crate::params::Shape;
use crate::physics::{self, lattice_factor_axis, nearest_index, polin3, sinc3};
use crate::setup::{Setup, Source};
use crate::vec3::{self, Vec3};

pub use super::RowStats;

/// The scalar engine as the drivers of [`super::render`] call it.
pub(super) struct Rows<'a> {
    setup: &'a Setup,
    first: Option<(usize, usize)>,
    /// Whether C's run-wide interpolation switch is kept (compat, serial rows only).
    latch: bool,
}

impl<'a> Rows<'a> {
    pub(super) fn new(setup: &'a Setup, first: Option<(usize, usize)>, latch: bool) -> Self {
        Rows {
            setup,
            first,
            latch,
        }
    }
}

impl super::RowKernel for Rows<'_> {
    /// C's interpolation switch, when it is kept: on until the first miss.
    type Scratch = Option<bool>;

    fn scratch(&self) -> Option<bool> {
        self.latch.then_some(true)
    }

    fn row(&self, latch: &mut Option<bool>, s: usize, row: &mut [f32]) -> RowStats {
        render_row(self.setup, s, row, self.first, latch.as_mut())
    }

    fn serial(&self) -> bool {
        self.latch
    }
}

/// Render one detector row `s` into `row`. `first` is the first rendered pixel of the image
/// (for Q1 under `compat`); `latch` is C's global interpolation switch in serial `compat` runs.
pub fn render_row(
    setup: &Setup,
    s: usize,
    row: &mut [f32],
    first: Option<(usize, usize)>,
    latch: Option<&mut bool>,
) -> RowStats {
    // Only the region of interest is visited: the time is proportional to its area.
    if !setup.region.slow().contains(&s) {
        return RowStats::default();
    }
    render_row_range(setup, s, row, setup.region.fast(), first, latch)
}

/// Render the pixels `fast` of row `s` into `row` (indexed by the fast pixel index).
pub fn render_row_range(
    setup: &Setup,
    s: usize,
    row: &mut [f32],
    fast: std::ops::Range<usize>,
    first: Option<(usize, usize)>,
    mut latch: Option<&mut bool>,
) -> RowStats {
    let mut stats = RowStats::default();
    for f in fast {
        if !setup.region.is_rendered(f, s) {
            continue;
        }
        let is_first = first == Some((f, s));
        let (value, omega) = pixel(setup, f, s, is_first, latch.as_deref_mut(), &mut stats);
        row[f] = value as f32;
        stats.omega_sum += omega;
    }
    stats
}

/// F_cell for fractional (h, k, l) with nearest indices (h0, k0, l0).
#[inline]
pub(crate) fn structure_factor(
    setup: &Setup,
    hkl: [f64; 3],
    hkl0: [f64; 3],
    latch: &mut Option<&mut bool>,
    stats: &mut RowStats,
) -> f64 {
    let grid = match &setup.grid {
        Some(g) if g.count > 0 => g,
        _ => return setup.default_f,
    };
    let interpolating = setup.interpolate && latch.as_deref().is_none_or(|on| *on);
    if interpolating {
        if !interpolation_in_range(grid, hkl) {
            if stats.interpolation_miss.is_none() {
                stats.interpolation_miss = Some((hkl, hkl0));
            }
            if let Some(on) = latch.as_deref_mut() {
                *on = false;
            }
        } else {
            let [h, k, l] = hkl;
            let base = [h.floor() - 1.0, k.floor() - 1.0, l.floor() - 1.0];
            let axis = |b: f64| [b, b + 1.0, b + 2.0, b + 3.0];
            let (xh, xk, xl) = (axis(base[0]), axis(base[1]), axis(base[2]));
            let mut y = [[[0.0; 4]; 4]; 4];
            for (i, slab) in y.iter_mut().enumerate() {
                for (j, line) in slab.iter_mut().enumerate() {
                    for (m, v) in line.iter_mut().enumerate() {
                        *v = grid
                            .get(xh[i] as i32, xk[j] as i32, xl[m] as i32)
                            .unwrap_or(0.0);
                    }
                }
            }
            return polin3(&xh, &xk, &xl, &y, h, k, l);
        }
    }
    let inside = hkl0.iter().all(|x| x.abs() < 1e9);
    if inside {
        if let Some(f) = grid.get(hkl0[0] as i32, hkl0[1] as i32, hkl0[2] as i32) {
            return f;
        }
    }
    setup.default_f
}

/// nanoBragg's test for tricubic interpolation at fractional (h, k, l): every axis needs
/// `x − 2 ≥ min` and `x − min + 3 ≤ range` (slightly stricter than the 4×4×4 stencil needs).
pub(crate) fn interpolation_in_range(grid: &HklGrid, hkl: [f64; 3]) -> bool {
    let (hr, kr, lr) = grid.ranges();
    let mins = [grid.h_min, grid.k_min, grid.l_min];
    let spans = [hr, kr, lr];
    (0..3).all(|i| {
        let min = mins[i] as f64;
        hkl[i] - min + 3.0 <= spans[i] as f64 && hkl[i] - 2.0 >= min
    })
}

/// The lattice (shape) factor for fractional indices `hkl` and nearest integers `hkl0`.
#[inline]
fn lattice_factor(setup: &Setup, hkl: [f64; 3], hkl0: [f64; 3]) -> f64 {
    let n = setup.crystal.cells;
    let nnn = n[0] * n[1] * n[2];
    let d = [hkl[0] - hkl0[0], hkl[1] - hkl0[1], hkl[2] - hkl0[2]];
    match setup.shape {
        Shape::Square => {
            lattice_factor_axis(hkl[0], hkl0[0], n[0])
                * lattice_factor_axis(hkl[1], hkl0[1], n[1])
                * lattice_factor_axis(hkl[2], hkl0[2], n[2])
        }
        Shape::Round => {
            let r2 =
                d[0] * d[0] * n[0] * n[0] + d[1] * d[1] * n[1] * n[1] + d[2] * d[2] * n[2] * n[2];
            nnn * 0.723601254558268 * sinc3(std::f64::consts::PI * (r2 * setup.fudge).sqrt())
        }
        Shape::Gauss | Shape::Tophat => {
            let r = &setup.crystal.reciprocal_per_angstrom;
            let x: Vec3 = [0, 1, 2].map(|i| d[0] * r[0][i] + d[1] * r[1][i] + d[2] * r[2][i]);
            let rad_star_sqr = vec3::dot(x, x) * nnn * nnn;
            if setup.shape == Shape::Gauss {
                nnn * (-(rad_star_sqr / 0.63 * setup.fudge)).exp()
            } else if rad_star_sqr * setup.fudge < 0.3969 {
                nnn
            } else {
                0.0
            }
        }
    }
}

/// Curved detector: the flat point `p` (fast, slow offsets `fdet`, `sdet`, depth `odet`)
/// mapped onto a sphere of radius `distance` about the sample.
pub fn curve(setup: &Setup, p: Vec3, fdet: f64, sdet: f64, odet: f64) -> Vec3 {
    let det = &setup.detector;
    let d = det.distance;
    let start = vec3::scale(det.beam, d);
    if setup.compat {
        // nanoBragg.c: rotate about ŝ by P_y/d, then about f̂ by P_z/d (Q27: only meaningful
        // for a beam along x, swaps the in-plane axes and drops the depth).
        let v = vec3::rotate_axis(start, det.sdet, p[1] / d);
        return vec3::rotate_axis(v, det.fdet, p[2] / d);
    }
    // Arc lengths from the direct-beam spot along the detector axes become angles; each sign
    // makes a small offset move the point the way the flat detector does.
    let [fb, sb] = det.fbeam_sbeam;
    let sign = |axis: Vec3, along: Vec3| {
        if vec3::dot(vec3::cross(axis, det.beam), along) < 0.0 {
            -1.0
        } else {
            1.0
        }
    };
    let v = vec3::rotate_axis(start, det.sdet, sign(det.sdet, det.fdet) * (fdet - fb) / d);
    let v = vec3::rotate_axis(v, det.fdet, sign(det.fdet, det.sdet) * (sdet - sb) / d);
    vec3::scale(v, (d + odet) / d)
}

/// One pixel: returns (photons, Σω over its sub-pixels).
fn pixel(
    setup: &Setup,
    f: usize,
    s: usize,
    is_first: bool,
    mut latch: Option<&mut bool>,
    stats: &mut RowStats,
) -> (f64, f64) {
    let det = &setup.detector;
    let n = setup.oversample;
    let sub = det.pixel_size / n as f64;
    let layers = setup.layers;
    let mut sums = PixelSums::new(setup, is_first);
    for t in 0..layers.count {
        let odet = t as f64 * layers.step;
        sums.cap = if layers.thickness == 0.0 { 1.0 } else { 0.0 };
        sums.layer_sum = 0.0;
        for sub_s in 0..n {
            for sub_f in 0..n {
                let fdet = sub * (f * n + sub_f) as f64 + sub / 2.0;
                let sdet = sub * (s * n + sub_s) as f64 + sub / 2.0;
                let d = sums.sub_pixel(setup, t, [fdet, sdet, odet]);
                for src in &setup.sources {
                    sums.source(setup, src, d, &mut latch, stats);
                }
                // Water scatters like a flat background: ⟨P·ω·capture⟩ over sub-pixels.
                sums.water_acc += sums.polar * sums.omega * sums.cap;
            }
        }
        if !setup.compat {
            sums.total += if setup.oversample_thick {
                sums.layer_sum
            } else {
                sums.layer_sum * sums.cap
            };
        }
    }
    (sums.value(setup), sums.omega_sum)
}

/// One pixel's running sums and the factors C keeps between evaluations.
struct PixelSums {
    /// Q1: most recent non-zero φ step applied (compat only); before the very first
    /// evaluation of the run nothing has been rotated yet.
    last_phi: Option<usize>,
    /// C's running sum (compat).
    acc: f64,
    /// Σ over layers of the layer sums (default mode).
    total: f64,
    layer_sum: f64,
    water_acc: f64,
    polar: f64,
    omega: f64,
    omega_sum: f64,
    cap: f64,
}

impl PixelSums {
    fn new(setup: &Setup, is_first: bool) -> Self {
        PixelSums {
            last_phi: if is_first { None } else { setup.phi_zero_carry },
            acc: if setup.compat { setup.water } else { 0.0 },
            total: 0.0,
            layer_sum: 0.0,
            water_acc: 0.0,
            polar: if setup.nopolar { 1.0 } else { 0.0 },
            omega: 0.0,
            omega_sum: 0.0,
            cap: 0.0,
        }
    }

    /// The sub-pixel at detector offsets `[fdet, sdet, odet]` of layer `t`: its diffracted
    /// direction d; the solid angle ω and capture fraction where C recomputes them.
    fn sub_pixel(&mut self, setup: &Setup, t: usize, [fdet, sdet, odet]: [f64; 3]) -> Vec3 {
        let det = &setup.detector;
        let layers = setup.layers;
        let mut pos = det.position(fdet, sdet, odet);
        if setup.curved {
            pos = curve(setup, pos, fdet, sdet, odet);
        }
        let (d, airpath) = vec3::unitize(pos);
        if self.omega == 0.0 || setup.oversample_omega {
            self.omega = if setup.point_pixel {
                1.0 / airpath / airpath
            } else {
                det.pixel_size * det.pixel_size / airpath / airpath * det.close_distance / airpath
            };
        }
        self.omega_sum += self.omega;
        // C recomputes when its cached value is 0: at the first sub-pixel of a layer, or
        // always with -oversample_thick (which, in C, zeroes a sensor of no thickness).
        let thick = layers.thickness > 0.0 || setup.compat;
        if thick && (self.cap == 0.0 || setup.oversample_thick) {
            // A ray reaching the sensor from behind (a curved detector far off axis)
            // crosses the layers along the same lengths; a grazing one (parallax 0)
            // stops in the first layer.
            let parallax = vec3::dot(d, det.odet).abs().max(f64::MIN_POSITIVE);
            let mu = layers.step * layers.mu / parallax;
            self.cap = (-(t as f64) * mu).exp() - (-((t + 1) as f64) * mu).exp();
        }
        d
    }

    /// One source for the sub-pixel with direction `d`: q, the dmin test, the polarization,
    /// then every φ step and mosaic domain.
    fn source(
        &mut self,
        setup: &Setup,
        src: &Source,
        d: Vec3,
        latch: &mut Option<&mut bool>,
        stats: &mut RowStats,
    ) {
        let lambda = src.wavelength;
        let q = [
            (d[0] - src.incident[0]) / lambda,
            (d[1] - src.incident[1]) / lambda,
            (d[2] - src.incident[2]) / lambda,
        ];
        let stol = 0.5 * vec3::norm(q);
        if setup.dmin > 0.0 && stol > 0.0 && setup.dmin > 0.5 / stol {
            return;
        }
        let nopolar_kept = setup.nopolar && !setup.compat;
        if (self.polar == 0.0 || setup.oversample_polar) && !nopolar_kept {
            self.polar = physics::polarization(setup.kahn, src.incident, d, setup.detector.polar);
        }
        let domains = setup.mosaic.len();
        for (k, &phi) in setup.phi.iter().enumerate() {
            let row = if setup.compat && phi == 0.0 {
                self.last_phi.unwrap_or(k)
            } else {
                if phi != 0.0 {
                    self.last_phi = Some(k);
                }
                k
            };
            for cell in &setup.orientations[row * domains..(row + 1) * domains] {
                self.orientation(setup, cell, q, latch, stats);
            }
        }
    }

    /// One crystal orientation (a, b, c) at scattering vector q: F_cell²·F_latt² into the
    /// sums.
    fn orientation(
        &mut self,
        setup: &Setup,
        [a, b, c]: &[Vec3; 3],
        q: Vec3,
        latch: &mut Option<&mut bool>,
        stats: &mut RowStats,
    ) {
        let hkl = [vec3::dot(*a, q), vec3::dot(*b, q), vec3::dot(*c, q)];
        let hkl0 = hkl.map(nearest_index);
        let f_latt = lattice_factor(setup, hkl, hkl0);
        if f_latt == 0.0 && (setup.water == 0.0 || !setup.compat) {
            return;
        }
        let f_cell = structure_factor(setup, hkl, hkl0, latch, stats);
        let term = f_cell * f_cell * f_latt * f_latt;
        let factors = |x: f64| per_term_factors(setup, x, self.cap, self.polar, self.omega);
        if setup.compat {
            // C multiplies its running sum, not the term (Q11).
            self.acc = factors(self.acc + term);
        } else {
            self.layer_sum += factors(term);
        }
    }

    /// The pixel's photons: scale, and the factors not applied per term.
    fn value(&self, setup: &Setup) -> f64 {
        let compat = setup.compat;
        let n = setup.oversample;
        let mut value;
        if compat {
            value = setup.scale * self.acc / setup.steps;
            if !setup.oversample_thick {
                value *= self.cap;
            }
        } else {
            value = setup.scale * self.total / setup.steps;
        }
        if !setup.oversample_polar || (!compat && setup.nopolar) {
            value *= self.polar;
        }
        if !setup.oversample_omega {
            value *= self.omega;
        }
        if !compat && setup.water != 0.0 {
            value += setup.water * self.water_acc / (n * n) as f64;
        }
        value
    }
}

/// `x` multiplied by the factors `-oversample_thick`, `-oversample_polar` and
/// `-oversample_omega` apply to each term, in C's order.
#[inline]
fn per_term_factors(setup: &Setup, mut x: f64, cap: f64, polar: f64, omega: f64) -> f64 {
    if setup.oversample_thick {
        x *= cap;
    }
    if setup.oversample_polar {
        x *= polar;
    }
    if setup.oversample_omega {
        x *= omega;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Lattice, Params};

    fn setup(compat: bool) -> Setup {
        let mut p = Params::default();
        let r = 90f64.to_radians();
        p.crystal.lattice = Lattice::cell(100e-10, 100e-10, 100e-10, r, r, r);
        p.structure_factors.default_f = 1.0;
        p.detector.set_pixels(100, 100);
        p.detector.curved = true;
        p.compat = compat;
        Setup::new(&p).unwrap()
    }

    #[test]
    fn curved_detector_matches_the_flat_one_near_the_beam() {
        let s = setup(false);
        let det = &s.detector;
        let [fb, sb] = det.fbeam_sbeam;
        for (df, ds) in [(1e-4, 0.0), (0.0, 1e-4), (-2e-4, 3e-4)] {
            let flat = det.position(fb + df, sb + ds, 0.0);
            let curved = curve(&s, flat, fb + df, sb + ds, 0.0);
            // agreement to second order: the sagitta |offset|²/2d
            let off2 = df * df + ds * ds;
            let gap = vec3::norm(vec3::sub(flat, curved));
            assert!(gap < off2 / det.distance, "{flat:?} {curved:?}");
            // and every curved point lies on the sphere
            assert!((vec3::norm(curved) - det.distance).abs() < 1e-15);
        }
        // depth moves the point outward along the ray
        let deep = curve(&s, det.position(fb, sb, 0.0), fb, sb, 1e-3);
        assert!((vec3::norm(deep) - det.distance - 1e-3).abs() < 1e-15);
    }

    #[test]
    fn compat_curved_detector_swaps_the_axes() {
        // nanoBragg.c maps a flat pixel at (0.1, −5e-5, 0.00275) m to (0.09996, 0.00275, −5e-5).
        let s = setup(true);
        let p = curve(&s, [0.1, -5e-5, 0.00275], 0.0, 0.0, 0.0);
        assert!(
            (p[1] - 0.00275).abs() < 1e-6 && (p[2] + 5e-5).abs() < 1e-9,
            "{p:?}"
        );
    }
}
