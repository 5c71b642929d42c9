//! What does not change from pixel to pixel: the wavelengths, the source points and, for each
//! source point, every atom's incident path, amplitude factor and incident direction; the
//! sub-pixel geometry.

use crate::error::{Error, Result};

use super::atoms::Atom;
use super::params::{Params, RTD, Source};

/// One atom as seen from one source point.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Term {
    /// Position (m).
    pub x: f64,
    /// Position (m).
    pub y: f64,
    /// Position (m).
    pub z: f64,
    /// Incident path entering the phase (m): the source-to-atom distance, or for a plane wave
    /// the atom's coordinate along the incident direction.
    pub path: f64,
    /// The distance dividing the amplitude (m): the source-to-atom distance, or 1 for a
    /// plane wave.
    pub amp_r: f64,
    /// Occupancy.
    pub occ: f64,
    /// `occ / amp_r`, the lane kernel's amplitude factor.
    pub w: f64,
    /// B factor (Å²).
    pub b: f64,
    /// Phase shift (rad).
    pub phs: f64,
    /// Incident unit vector at the atom (for the B factor's sinθ/λ).
    pub s0: [f64; 3],
}

/// A sub-pixel: its position and factors.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sub {
    /// Position (m).
    pub pos: [f64; 3],
    /// Distance from the origin (m).
    pub airpath: f64,
    /// The pixel factor `pixel²·obliquity/R` (1 for a point pixel).
    pub omega: f64,
    /// What the solid-angle line of the log adds up for it.
    pub solid: f64,
}

/// The render's constants.
pub(crate) struct Setup<'a> {
    pub params: &'a Params,
    pub lambdas: Vec<f64>,
    pub n_div: usize,
    pub n_depth: usize,
    pub n_atoms: usize,
    /// Terms of source point (div, depth), atoms in file order: `terms[(div·n_depth + depth)·n_atoms + atom]`.
    pub terms: Vec<Term>,
    /// Samples per pixel: divergence points × wavelengths × depths × oversample².
    pub steps: f64,
    /// `steps` as C's `int`.
    pub steps_int: i32,
    /// Sub-pixel size (m).
    pub subpixel: f64,
    /// Unit detector normal (default mode's obliquity).
    pub normal: [f64; 3],
}

impl<'a> Setup<'a> {
    /// Prepare a render of `atoms` with `params` (already validated).
    pub fn new(params: &'a Params, atoms: &[Atom]) -> Result<Setup<'a>> {
        let lambdas = params.lambdas();
        let points = params.divergence_points();
        let depths = params.depths();
        if points.is_empty() {
            return Err(Error::InvalidParams {
                field: "-divergence",
                reason: "no divergence point lies inside the round grid".into(),
            });
        }
        let os = params.oversample as u64;
        let steps = (points.len() as u64)
            .saturating_mul(lambdas.len() as u64)
            .saturating_mul(depths.len() as u64)
            .saturating_mul(os * os);
        let steps_int = i32::try_from(steps).map_err(|_| Error::InvalidParams {
            field: "-oversample",
            reason: format!("{steps} samples per pixel is more than 2³¹−1"),
        })?;
        let n_src = points.len() * depths.len();
        let bytes = (n_src as u64)
            .saturating_mul(atoms.len() as u64)
            .saturating_mul(std::mem::size_of::<Term>() as u64);
        crate::memory::check(bytes, "the atoms times the source points")?;
        let mut terms = Vec::with_capacity(n_src * atoms.len());
        for &(h, v) in &points {
            for &d in &depths {
                terms.extend(atoms.iter().map(|a| term(params, a, h, v, d)));
            }
        }
        let d = &params.detector;
        let normal = super::params::unit(d.odet).unwrap_or([1.0, 0.0, 0.0]);
        Ok(Setup {
            params,
            lambdas,
            n_div: points.len(),
            n_depth: depths.len(),
            n_atoms: atoms.len(),
            terms,
            steps: steps as f64,
            steps_int,
            subpixel: d.pixel / params.oversample as f64,
            normal,
        })
    }

    /// The terms of source point (div, depth).
    #[inline]
    pub fn source(&self, div: usize, depth: usize) -> &[Term] {
        let start = (div * self.n_depth + depth) * self.n_atoms;
        &self.terms[start..start + self.n_atoms]
    }

    /// Amplitudes per sub-pixel: one per wavelength and divergence point.
    pub fn n_amplitudes(&self) -> usize {
        self.lambdas.len() * self.n_div
    }

    /// Sub-pixel (`suby`, `subz`) of pixel (x, y), as nearBragg.c places it.
    pub fn sub(&self, x: usize, y: usize, suby: usize, subz: usize) -> Sub {
        let p = self.params;
        let d = &p.detector;
        let os = p.oversample;
        let sp = self.subpixel;
        let xdet = sp * (x * os + subz) as f64 + sp / 2.0;
        let ydet = sp * (y * os + suby) as f64 + sp / 2.0;
        let mut pos: [f64; 3] =
            std::array::from_fn(|i| xdet * d.fdet[i] + ydet * d.sdet[i] + d.pix0[i]);
        if d.curved {
            pos = curve(d.distance, pos, p.compat);
        }
        let airpath = (pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2]).sqrt();
        let (omega, solid) = if p.compat {
            let omega = if d.point_pixel {
                1.0
            } else {
                d.pixel * d.pixel * d.distance / airpath
            };
            (omega, omega)
        } else {
            let n = self.normal;
            let cos = if d.curved {
                1.0
            } else {
                (n[0] * pos[0] + n[1] * pos[1] + n[2] * pos[2]).abs() / airpath
            };
            let omega = if d.point_pixel {
                1.0
            } else {
                d.pixel * d.pixel * cos
            };
            (omega, sp * sp * cos / (airpath * airpath))
        };
        Sub {
            pos,
            airpath,
            omega,
            solid,
        }
    }
}

/// The curved detector (NR9): the flat pixel's (y, z) read as arc lengths at `distance`;
/// (distance, 0, 0) turned by z/distance about y, then by y/distance about z, with
/// nearBragg.c's `rotate` arithmetic. Its turn about y sends +z to −z (a mirror image of the
/// flat detector); default mode keeps the side.
fn curve(distance: f64, flat: [f64; 3], compat: bool) -> [f64; 3] {
    let (phiy, phiz) = (flat[2] / distance, flat[1] / distance);
    let (mut x, mut y, mut z) = (distance, 0.0f64, 0.0f64);
    if phiy != 0.0 {
        let (s, c) = (phiy.sin(), phiy.cos());
        let (rxx, rxy, rxz) = (c, 0.0, s);
        let (rzx, rzy, rzz) = (-s, 0.0, c);
        let nx = x * rxx + y * rxy + z * rxz;
        let nz = x * rzx + y * rzy + z * rzz;
        (x, z) = (nx, if compat { nz } else { -nz });
    }
    if phiz != 0.0 {
        let (s, c) = (phiz.sin(), phiz.cos());
        let nx = x * c + y * -s;
        let ny = x * s + y * c;
        (x, y) = (nx, ny);
    }
    [x, y, z]
}

/// Atom `a` seen from the source point of divergence (h, v) and depth `d` (m).
fn term(params: &Params, a: &Atom, h: f64, v: f64, d: f64) -> Term {
    let (x, y, z) = (a.x / 1e10, a.y / 1e10, a.z / 1e10);
    let mut t = Term {
        x,
        y,
        z,
        occ: a.occupancy,
        b: a.b,
        phs: a.phase / RTD,
        ..Term::default()
    };
    match params.source {
        Source::Point { distance } => {
            // nearBragg.c offsets the source by atan(angle)·D (NR4); the angle's tangent
            // places it at that angle.
            let (oy, oz) = if params.compat {
                (h.atan(), v.atan())
            } else {
                (h.tan(), v.tan())
            };
            let (sx, sy, sz) = (-distance + d, oy * distance, oz * distance);
            let path = ((sx - x) * (sx - x) + (sy - y) * (sy - y) + (sz - z) * (sz - z)).sqrt();
            t.path = path;
            t.amp_r = path;
            t.s0 = [(x - sx) / path, (y - sy) / path, (z - sz) / path];
        }
        Source::Far if params.compat => {
            // The plane wave ignores divergence and depth (NR4).
            t.path = x;
            t.amp_r = 1.0;
            t.s0 = [1.0, 0.0, 0.0];
        }
        Source::Far => {
            // A plane wave from the divergence point's direction; the depth offset shifts
            // its phase as it shifts a point source's.
            let k = super::params::unit([1.0, -h.tan(), -v.tan()]).unwrap_or([1.0, 0.0, 0.0]);
            t.path = k[0] * x + k[1] * y + k[2] * z - d * k[0];
            t.amp_r = 1.0;
            t.s0 = k;
        }
    }
    t.w = t.occ / t.amp_r;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curved_detector_keeps_its_side_in_default_mode() {
        let c = curve(0.1, [0.1, 0.0, 0.01], true);
        let d = curve(0.1, [0.1, 0.0, 0.01], false);
        assert!(c[2] < 0.0 && d[2] > 0.0);
        assert_eq!(c[0], d[0]);
        let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        assert!((r - 0.1).abs() < 1e-15);
        assert!((d[2] - 0.1 * (0.1f64).sin()).abs() < 1e-16);
    }

    #[test]
    fn terms_of_near_and_far_sources() {
        let mut p = Params::default();
        let atoms = [Atom::at(10.0, 20.0, 30.0)];
        let s = Setup::new(&p, &atoms).unwrap();
        let t = s.source(0, 0)[0];
        let want = ((10.0 + 1e-9f64).powi(2) + 4e-18 + 9e-18).sqrt();
        assert!((t.path - want).abs() < 1e-15);
        assert_eq!(t.phs, -90.0 / RTD);
        p.source = Source::Far;
        let s = Setup::new(&p, &atoms).unwrap();
        assert_eq!(
            (s.source(0, 0)[0].path, s.source(0, 0)[0].amp_r),
            (1e-9, 1.0)
        );
        assert_eq!(s.steps, 1.0);
    }
}
