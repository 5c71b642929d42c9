//! The parameters of a nearBragg render: plain data, SI units, already resolved (step counts
//! chosen, detector vectors placed). [`crate::suite::nearbragg::cli`] builds them from the
//! command line the way nearBragg.c does; code can fill them in directly.

use crate::error::{Error, Result};

/// nearBragg.c's π (`#define PI 3.14159265358979`): degrees are converted with
/// `RTD = 180/PI`, so angles in degrees give the C radians only with this value.
#[allow(clippy::approx_constant)] // C's value, not π: the golden images depend on it
pub const PI_C: f64 = 3.141_592_653_589_79;
/// nearBragg.c's 2π (`#define twoPI 6.28318530717959`), the factor of every phase.
#[allow(clippy::approx_constant)] // C's value, not 2π
pub const TWO_PI_C: f64 = 6.283_185_307_179_59;
/// Degrees per radian as nearBragg.c computes it.
pub const RTD: f64 = 180.0 / PI_C;
/// The Thomson cross section r_e² (m²) as nearBragg.c has it.
pub const R_E_SQR: f64 = 7.940_792_480_189_65e-30;
/// Default incident fluence (photons/m²).
pub const DEFAULT_FLUENCE: f64 = 1.259_320_152_862_27e29;

/// A sampled range: `count` values `step·i − range/2`, i = 0 … count−1 (divergence angles in
/// radians, the dispersion as a fraction of λ, source depth in metres).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Steps {
    /// Full width of the range.
    pub range: f64,
    /// Distance between samples.
    pub step: f64,
    /// Number of samples (at least 1).
    pub count: usize,
}

impl Steps {
    /// One sample at 0.
    pub const SINGLE: Steps = Steps {
        range: 0.0,
        step: 0.0,
        count: 1,
    };

    /// Sample `i`: `step·i − range/2`, as nearBragg.c computes it.
    pub fn value(&self, i: usize) -> f64 {
        self.step * i as f64 - self.range / 2.0
    }

    /// nearBragg.c's rules for a range given by any of its width (`range`, negative when not
    /// given), step (`step`, ≤ 0 when not given) and count (`count`, ≤ 0 when not given),
    /// followed by its sanity check (a range, step or count that ends up ≤ 0 means a single
    /// sample at 0). A count that is given but not a range makes the range 1 (one radian of
    /// divergence, 100 % dispersion), as in C. `what` names the option for errors.
    pub fn resolve(range: f64, step: f64, count: i64, what: &str) -> Result<Steps> {
        let (mut range, mut step, mut count) = (range, step, count as f64);
        if count <= 0.0 {
            if range < 0.0 {
                if step <= 0.0 {
                    (count, range, step) = (1.0, 0.0, 0.0);
                } else {
                    (range, count) = (step, 2.0);
                }
            } else if step <= 0.0 {
                (step, count) = (range, 2.0);
            } else {
                count = (range / step).ceil();
            }
        } else if range < 0.0 {
            if step <= 0.0 {
                range = 1.0;
                step = range / count;
            } else {
                (range, count) = (step, 2.0);
            }
        } else if step <= 0.0 {
            if count <= 1.0 {
                count = 2.0;
            }
            step = range / (count - 1.0);
        }
        if range <= 0.0 || step <= 0.0 || count <= 0.0 || range.is_nan() || step.is_nan() {
            return Ok(Steps::SINGLE);
        }
        if count > MAX_STEPS as f64 {
            return Err(Error::usage(
                what,
                format!("{count} samples is more than the {MAX_STEPS} this program takes"),
            ));
        }
        Ok(Steps {
            range,
            step,
            count: count as usize,
        })
    }
}

/// The most samples of one range (divergence, dispersion, depth).
pub const MAX_STEPS: usize = 100_000;

/// Where the X-rays come from. The beam runs along +x towards the origin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// A point source this many metres upstream (a spherical incident wave).
    Point {
        /// Distance from the origin (m).
        distance: f64,
    },
    /// A plane wave (`-source_distance far`).
    Far,
}

/// The detector, placed: pixel (f, s) has its corner region starting at
/// `pix0 + f·pixel·fdet + s·pixel·sdet`, its sub-pixel centres at the sub-pixel steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detector {
    /// Pixels along the fast axis.
    pub xpixels: usize,
    /// Pixels along the slow axis.
    pub ypixels: usize,
    /// Pixel size (m).
    pub pixel: f64,
    /// Sample-to-detector distance (m): the radius of a curved detector, the default `pix0`
    /// and (in `compat` mode) the obliquity factor `distance/R`.
    pub distance: f64,
    /// Fast axis; its length scales the pixel pitch, as in C (NR10).
    pub fdet: [f64; 3],
    /// Slow axis.
    pub sdet: [f64; 3],
    /// Normal, pointing away from the sample.
    pub odet: [f64; 3],
    /// Position of the corner of the first pixel (m).
    pub pix0: [f64; 3],
    /// Every pixel at `distance` from the origin, facing it (`-curved_det`).
    pub curved: bool,
    /// No pixel area or obliquity factor (`-point_pixel`).
    pub point_pixel: bool,
}

/// The pixels rendered, inclusive bounds (`-roi`); the others keep their input value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roi {
    /// First fast pixel.
    pub xmin: usize,
    /// Last fast pixel.
    pub xmax: usize,
    /// First slow pixel.
    pub ymin: usize,
    /// Last slow pixel.
    pub ymax: usize,
}

impl Roi {
    /// Whether pixel (x, y) is rendered.
    pub fn contains(&self, x: usize, y: usize) -> bool {
        (self.xmin..=self.xmax).contains(&x) && (self.ymin..=self.ymax).contains(&y)
    }
}

/// Everything a render needs besides the atoms.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Central wavelength λ₀ (m).
    pub lambda0: f64,
    /// Spectral dispersion: wavelengths `λ₀·(1 + value(i))`.
    pub dispersion: Steps,
    /// Horizontal divergence angles (rad).
    pub hdiv: Steps,
    /// Vertical divergence angles (rad).
    pub vdiv: Steps,
    /// Drop the corners of the divergence grid (always in nearBragg.c; `-square_div` turns it
    /// off in default mode).
    pub round_div: bool,
    /// The source.
    pub source: Source,
    /// Source depth samples along the beam (m); they add coherently.
    pub depth: Steps,
    /// Incident fluence (photons/m²).
    pub fluence: f64,
    /// The detector.
    pub detector: Detector,
    /// Sub-pixels per pixel side (≥ 1).
    pub oversample: usize,
    /// The pixels rendered.
    pub roi: Roi,
    /// Add amplitudes of all sub-pixels, wavelengths and divergence points (`-coherent`).
    pub coherent: bool,
    /// Reproduce nearBragg.c, quirks included.
    pub compat: bool,
}

impl Default for Params {
    /// nearBragg.c's defaults: λ 1 Å, source 10 m upstream, 1024×1024 pixels of 0.1 mm at
    /// 100 mm, beam at the centre, one sample of everything.
    fn default() -> Self {
        let (n, pixel, distance) = (1024, 0.1e-3, 100.0e-3);
        let size = pixel * n as f64;
        let (xbeam, ybeam) = ((size - pixel) / 2.0, (size + pixel) / 2.0);
        let (f, s, o) = ([0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]);
        Params {
            lambda0: 1.0e-10,
            dispersion: Steps::SINGLE,
            hdiv: Steps::SINGLE,
            vdiv: Steps::SINGLE,
            round_div: true,
            source: Source::Point { distance: 10.0 },
            depth: Steps::SINGLE,
            fluence: DEFAULT_FLUENCE,
            detector: Detector {
                xpixels: n,
                ypixels: n,
                pixel,
                distance,
                fdet: f,
                sdet: s,
                odet: o,
                pix0: default_pix0(xbeam, ybeam, distance, f, s, o),
                curved: false,
                point_pixel: false,
            },
            oversample: 1,
            roi: Roi {
                xmin: 0,
                xmax: n - 1,
                ymin: 0,
                ymax: n - 1,
            },
            coherent: false,
            compat: false,
        }
    }
}

/// The most pixels along one side of the detector.
pub const MAX_SIDE: usize = 1 << 20;
/// The most sub-pixels per pixel side.
pub const MAX_OVERSAMPLE: usize = 4096;

impl Params {
    /// Check that the parameters describe a render that can run: positive finite sizes and
    /// wavelength, a region inside the detector, sample counts in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: &str| {
            Err(Error::InvalidParams {
                field,
                reason: reason.to_string(),
            })
        };
        let d = &self.detector;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.lambda0) {
            return bad("-lambda", "the wavelength must be positive and finite");
        }
        if !positive(d.pixel) {
            return bad("-pixel", "the pixel size must be positive and finite");
        }
        if !d.distance.is_finite() || (d.curved && d.distance <= 0.0) {
            return bad(
                "-distance",
                "the distance must be finite (and positive when curved)",
            );
        }
        if d.xpixels == 0 || d.ypixels == 0 || d.xpixels > MAX_SIDE || d.ypixels > MAX_SIDE {
            return bad(
                "-detpixels",
                &format!("each side needs 1 to {MAX_SIDE} pixels"),
            );
        }
        if self.oversample == 0 || self.oversample > MAX_OVERSAMPLE {
            return bad(
                "-oversample",
                &format!("needs 1 to {MAX_OVERSAMPLE} sub-pixels per side"),
            );
        }
        let r = &self.roi;
        if r.xmin > r.xmax || r.ymin > r.ymax || r.xmax >= d.xpixels || r.ymax >= d.ypixels {
            return bad(
                "-roi",
                "the region must be non-empty and inside the detector",
            );
        }
        let vectors = [d.fdet, d.sdet, d.odet, d.pix0];
        if vectors.iter().flatten().any(|v| !v.is_finite()) {
            return bad("-fdet_vector", "the detector vectors must be finite");
        }
        if let Source::Point { distance } = self.source
            && !distance.is_finite()
        {
            return bad("-source_distance", "the source distance must be finite");
        }
        for (field, s) in [
            ("-dispersion", &self.dispersion),
            ("-hdivrange", &self.hdiv),
            ("-vdivrange", &self.vdiv),
            ("-source_depth", &self.depth),
        ] {
            if s.count == 0 || s.count > MAX_STEPS || !s.range.is_finite() || !s.step.is_finite() {
                return bad(field, "needs 1 to 100000 finite samples");
            }
        }
        if !self.fluence.is_finite() {
            return bad("-fluence", "the fluence must be finite");
        }
        Ok(())
    }

    /// The wavelengths, in nearBragg.c's order and arithmetic.
    pub fn lambdas(&self) -> Vec<f64> {
        (0..self.dispersion.count)
            .map(|i| {
                self.lambda0 * (1.0 + self.dispersion.step * i as f64 - self.dispersion.range / 2.0)
            })
            .collect()
    }

    /// The divergence points (h, v) in radians kept by the round grid, in nearBragg.c's order
    /// (h outer, v inner). A range of 0 makes the test NaN, which keeps the point, as in C.
    pub fn divergence_points(&self) -> Vec<(f64, f64)> {
        let (h, v) = (&self.hdiv, &self.vdiv);
        let mut points = Vec::new();
        for i in 0..h.count {
            for j in 0..v.count {
                let (hd, vd) = (h.value(i), v.value(j));
                let odd = |n: usize| (1 - (n % 2) as i64) as f64;
                let mut test = (hd * hd - h.step * h.step / 4.0 * odd(h.count)) / h.range / h.range;
                test += (vd * vd - v.step * v.step / 4.0 * odd(v.count)) / v.range / v.range;
                if self.round_div && test * 4.0 > 1.1 {
                    continue;
                }
                points.push((hd, vd));
            }
        }
        points
    }

    /// The source depth offsets (m).
    pub fn depths(&self) -> Vec<f64> {
        (0..self.depth.count).map(|i| self.depth.value(i)).collect()
    }
}

/// nearBragg.c's default `pix0`: `−Xbeam·f − Ybeam·s + distance·o`.
pub fn default_pix0(
    xbeam: f64,
    ybeam: f64,
    distance: f64,
    f: [f64; 3],
    s: [f64; 3],
    o: [f64; 3],
) -> [f64; 3] {
    std::array::from_fn(|i| -xbeam * f[i] - ybeam * s[i] + distance * o[i])
}

/// Rotate `v` by `phi` about `axis` (nearBragg.c's `rotate_axis`; `axis` should be a unit
/// vector, C does not check).
pub fn rotate_axis(v: [f64; 3], axis: [f64; 3], phi: f64) -> [f64; 3] {
    let (sinphi, cosphi) = (phi.sin(), phi.cos());
    let dot = (axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2]) * (1.0 - cosphi);
    [
        axis[0] * dot + v[0] * cosphi + (-axis[2] * v[1] + axis[1] * v[2]) * sinphi,
        axis[1] * dot + v[1] * cosphi + (axis[2] * v[0] - axis[0] * v[2]) * sinphi,
        axis[2] * dot + v[2] * cosphi + (-axis[1] * v[0] + axis[0] * v[1]) * sinphi,
    ]
}

/// `v / |v|`, or `None` for a zero or non-finite vector.
pub fn unit(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    (n.is_finite() && n > 0.0).then(|| v.map(|x| x / n))
}

/// The oversampling nearBragg.c recommends (NR11): `⌈3·extent/(λ·distance/pixel)⌉`, at least 1,
/// where `extent` (m) is the largest side of the atoms' bounding box.
pub fn recommended_oversample(extent: f64, lambda0: f64, distance: f64, pixel: f64) -> f64 {
    let reciprocal_pixel_size = lambda0 * distance / pixel;
    let n = (3.0 * extent / reciprocal_pixel_size).ceil();
    if n.is_nan() || n <= 0.0 { 1.0 } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_rules_follow_c() {
        let s = |r, st, n| Steps::resolve(r, st, n, "-x").unwrap();
        assert_eq!(s(-1.0, -1.0, -1), Steps::SINGLE);
        // Range and count: step = range/(count−1), samples centred.
        let g = s(0.5e-3, -1.0, 3);
        assert_eq!((g.count, g.step), (3, 0.25e-3));
        assert_eq!(
            [g.value(0), g.value(1), g.value(2)],
            [-0.25e-3, 0.0, 0.25e-3]
        );
        // Count alone: one radian of range.
        let g = s(-1.0, -1.0, 4);
        assert_eq!((g.range, g.step, g.count), (1.0, 0.25, 4));
        // Range alone: two samples a range apart.
        assert_eq!(s(0.2, -1.0, -1).count, 2);
        // Range and step: ⌈range/step⌉ samples.
        assert_eq!(s(1.0, 0.3, -1).count, 4);
        // Dispersion/depth default to a range of 0: a count alone gives one sample.
        assert_eq!(s(0.0, -1.0, 3), Steps::SINGLE);
        assert!(Steps::resolve(1.0, 1e-9, -1, "-x").is_err());
    }

    #[test]
    fn round_grid_drops_corners() {
        let mut p = Params::default();
        p.hdiv = Steps::resolve(0.5e-3, -1.0, 3, "-h").unwrap();
        p.vdiv = p.hdiv;
        let pts = p.divergence_points();
        assert_eq!(pts.len(), 5);
        assert!(pts.contains(&(0.0, 0.0)) && !pts.contains(&(-0.25e-3, -0.25e-3)));
        p.round_div = false;
        assert_eq!(p.divergence_points().len(), 9);
        // One axis only: the NaN test keeps every point.
        p.vdiv = Steps::SINGLE;
        p.round_div = true;
        assert_eq!(p.divergence_points().len(), 3);
    }

    #[test]
    fn rotation_and_defaults() {
        let r = rotate_axis([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], PI_C / 2.0);
        assert!((r[0]).abs() < 1e-14 && (r[1] - 1.0).abs() < 1e-14);
        let p = Params::default();
        assert!(p.validate().is_ok());
        assert_eq!(p.detector.pix0[0], 0.1);
        assert_eq!(recommended_oversample(80e-10, 1e-10, 0.1, 1e-4), 1.0);
        assert_eq!(recommended_oversample(670e-10, 1e-10, 0.05, 1e-4), 5.0);
        assert_eq!(unit([3.0, 0.0, 4.0]), Some([0.6, 0.0, 0.8]));
        assert_eq!(unit([0.0; 3]), None);
    }
}
