//! The per-pixel sum: amorphous scattering into each pixel of the detector.
//!
//! For every pixel inside the region of interest, every sub-pixel (`oversample²` of them,
//! centred on a regular grid) and every source:
//!
//! * the diffracted direction `d̂` from the sample to the sub-pixel, at distance `R`;
//! * `ω = p²·close/R³` (the pixel's, not the sub-pixel's, area; `-point_pixel`: `1/R²`);
//! * `sinθ/λ = |d̂ − î|/(2λ)` with `î` the unit vector from the source to the sample;
//! * `F` from the table (see [`super::table`]), and `sign(F)·F²` (negative F gives a negative
//!   intensity, quirk NB16);
//! * the polarization factor `P = ½(1 + cos²2θ − k·cos2ψ·sin²2θ)` (Kahn factor `k`; 1 with
//!   `-nopolar`), `ψ` the angle of `d̂` projected on the plane of the incident E and B vectors,
//!   E taken nearest the polarization axis;
//!
//! and the pixel gets `Σ sign(F)·F²·P·ω·weight × r_e²·fluence·molecules / steps`, `steps =
//! sources·oversample²`, added to what the image held (C's `floatimage[j] +=`). With `-Fmap`
//! the pixel holds the F of its last sub-pixel and source instead (quirk NB18).
//! `-curved_det` puts every sub-pixel at the distance from the origin: the point `distance·b̂`
//! turned about ŝ by the flat position's lab y/distance, then about f̂ by its lab z/distance
//! (quirk NB6, kept).
//!
//! Three paths compute it. [`render`] and [`add_background`] run the vector kernel
//! (`crate::lanes`, eight pixels of a row at once) over rows in parallel with rayon
//! ([`render`] writes a fresh image without reading its zeros, so that its pages are not first
//! mapped for reading, which costs a copy-on-write fault per page). `pixel` is the scalar
//! reference: the same operations in the same order, so the two give the same bits (tested
//! with proptest). Both look F up per point (independent of pixel order). When that could
//! differ from C's walk from the previous pixel's node (a table that does not increase
//! strictly, or a wavelength that can send sinθ/λ past the padding, accepted only under
//! `-compat`), the scalar reference runs serially in C's pixel order with C's walk.

use rayon::prelude::*;

use super::geometry::Source;
use super::table::StolTable;
use crate::error::{Error, Result};
use crate::lanes::{F, LANES};
use crate::vec3::{self, Vec3};

/// Thomson cross-section of the electron, r_e² (m²), as C has it.
pub const R_E_SQR: f64 = 7.94079248018965e-30;

/// Everything the render needs, in SI units (metres, radians).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Pixels along fast and slow.
    pub pixels: [usize; 2],
    /// Pixel pitch (m).
    pub pixel_size: f64,
    /// Corner of pixel (0,0) (m).
    pub pix0: Vec3,
    /// Fast axis (unit).
    pub fdet: Vec3,
    /// Slow axis (unit).
    pub sdet: Vec3,
    /// Beam direction (unit), for the curved detector.
    pub beam: Vec3,
    /// Distance along the beam (m): the curved detector's radius.
    pub distance: f64,
    /// Perpendicular distance to the detector plane (m), for ω.
    pub close_distance: f64,
    /// `-curved_det`.
    pub curved: bool,
    /// `-point_pixel`: ω = 1/R².
    pub point_pixel: bool,
    /// Sub-pixels per pixel side (≥ 1).
    pub oversample: usize,
    /// Region of interest, inclusive: fast min, fast max, slow min, slow max (C's values:
    /// anything outside the detector is simply never met).
    pub roi: [i64; 4],
    /// The sources.
    pub sources: Vec<Source>,
    /// Kahn polarization factor; `None` turns the polarization factor off (`-nopolar`).
    pub kahn: Option<f64>,
    /// Polarization axis (unit; C's `-polar_vector`).
    pub polar_axis: Vec3,
    /// Photons per m².
    pub fluence: f64,
    /// Molecules in the beam.
    pub molecules: f64,
    /// `-Fmap`: store F instead of photons.
    pub fmap: bool,
}

/// Largest detector, in pixels, a render accepts.
pub const MAX_PIXELS: usize = 1 << 32;

impl Params {
    /// Pixels in the image.
    pub fn len(&self) -> usize {
        self.pixels[0] * self.pixels[1]
    }

    /// Whether the image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether pixel `(fast, slow)` is inside the region of interest.
    pub fn in_roi(&self, fast: usize, slow: usize) -> bool {
        let [f0, f1, s0, s1] = self.roi;
        let (f, s) = (fast as i64, slow as i64);
        f >= f0 && f <= f1 && s >= s0 && s <= s1
    }

    /// `steps = sources·oversample²`, the divisor of every pixel.
    pub fn steps(&self) -> f64 {
        (self.sources.len() * self.oversample * self.oversample) as f64
    }

    /// Refuse parameters the render cannot use.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::InvalidParams {
                field,
                reason: reason.into(),
            })
        };
        let [w, h] = self.pixels;
        if w == 0 || h == 0 || w.checked_mul(h).is_none_or(|n| n > MAX_PIXELS) {
            return bad("-detpixels", "the detector needs between 1 and 2³² pixels");
        }
        if self.oversample == 0 || self.oversample > 10_000 {
            return bad("-oversample", "between 1 and 10000 sub-pixels per side");
        }
        if self.sources.is_empty() {
            return bad("-sourcefile", "no sources");
        }
        if !(self.pixel_size.is_finite() && self.pixel_size > 0.0) {
            return bad("-pixel", "the pixel size must be positive");
        }
        Ok(())
    }

    /// Whether F can be looked up per point with the same result as C's walk: the table
    /// increases strictly and every wavelength keeps sinθ/λ ≤ 1/λ finite and below the
    /// padding nodes (10⁹⁸ m⁻¹).
    pub fn order_free(&self, table: &StolTable) -> bool {
        table.is_increasing()
            && self
                .sources
                .iter()
                .all(|s| s.lambda.is_finite() && s.lambda > 1e-90)
    }
}

/// What the render learned besides the image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rendered {
    /// Σ ω over every sub-pixel in the region of interest (C's "solid angle subtended by
    /// detector").
    pub omega_sum: f64,
}

/// Render the background into a new image (row-major, fast index fastest; 0 outside the
/// region of interest).
pub fn render(params: &Params, table: &StolTable) -> Result<(Vec<f32>, Rendered)> {
    params.validate()?;
    let mut image = vec![0.0f32; params.len()];
    let r = fill(params, table, &mut image, true)?;
    Ok((image, r))
}

/// Add the background to `image` (`pixels[0]·pixels[1]` values): each pixel in the region of
/// interest becomes `(f32)(image + photons)`, C's `floatimage[j] +=` (with `-Fmap`, F).
pub fn add_background(params: &Params, table: &StolTable, image: &mut [f32]) -> Result<Rendered> {
    fill(params, table, image, false)
}

/// [`add_background`]; `fresh`: the image holds zeros, which are not read (a fresh
/// allocation's pages are then written without first being mapped for reading).
fn fill(params: &Params, table: &StolTable, image: &mut [f32], fresh: bool) -> Result<Rendered> {
    params.validate()?;
    check_len(params, image.len())?;
    let prep = Prepared::new(params, fresh);
    if !params.order_free(table) {
        let (omega_sum, _) = serial_c(&prep, table, image, |_, _, _| ());
        return Ok(Rendered { omega_sum });
    }
    let width = params.pixels[0];
    let omega_sum = image
        .par_chunks_mut(width)
        .enumerate()
        .map(|(s, row)| row_simd(&prep, table, s, row))
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    Ok(Rendered { omega_sum })
}

/// Like [`add_background`] (`fresh`: the image holds zeros, see `fill`) with the scalar
/// reference (tests, and what `-img` needs): calls `visit(index, &sums, new value)` for every
/// pixel in the region of interest and returns its values (`None` outside the region), with
/// Σ ω.
pub(super) fn add_background_detailed<T: Send>(
    params: &Params,
    table: &StolTable,
    image: &mut [f32],
    fresh: bool,
    visit: impl Fn(usize, &PixelSums, f32) -> T + Sync,
) -> Result<(Vec<Option<T>>, f64)> {
    params.validate()?;
    check_len(params, image.len())?;
    let prep = Prepared::new(params, fresh);
    if !params.order_free(table) {
        let (omega_sum, kept) = serial_c(&prep, table, image, visit);
        return Ok((kept, omega_sum));
    }
    let width = params.pixels[0];
    let rows: Vec<(Vec<Option<T>>, f64)> = image
        .par_chunks_mut(width)
        .enumerate()
        .map(|(s, row)| {
            let mut omega = 0.0;
            let mut kept = Vec::with_capacity(row.len());
            for (f, out) in row.iter_mut().enumerate() {
                if !prep.params.in_roi(f, s) {
                    kept.push(None);
                    continue;
                }
                let sums = pixel(&prep, f, s, &mut |x| table.interpolate(x));
                omega += sums.omega;
                *out = prep.finish(*out, &sums);
                kept.push(Some(visit(s * width + f, &sums, *out)));
            }
            (kept, omega)
        })
        .collect();
    let omega_sum = rows.iter().map(|r| r.1).sum();
    Ok((rows.into_iter().flat_map(|r| r.0).collect(), omega_sum))
}

fn check_len(params: &Params, len: usize) -> Result<()> {
    if len != params.len() {
        return Err(Error::InvalidParams {
            field: "image",
            reason: format!("{len} values for {} pixels", params.len()),
        });
    }
    Ok(())
}

/// One source, prepared.
#[derive(Clone, Copy, Debug)]
struct SourceConst {
    /// Unit vector from the source towards the sample.
    inc: Vec3,
    /// `1/(2λ)`.
    half_inv_lambda: f64,
    /// Relative intensity.
    weight: f64,
    /// The E and B vectors of the incident beam (for the polarization angle).
    e_in: Vec3,
    b_in: Vec3,
}

/// The render's constants.
struct Prepared<'a> {
    params: &'a Params,
    /// The image holds zeros that need not be read.
    fresh: bool,
    sources: Vec<SourceConst>,
    /// Sub-pixel pitch (m).
    sub: f64,
    /// `p²` (ω's numerator).
    pixel_sqr: f64,
    /// C's scale `r_e²·fluence·molecules/steps`, kept as its factors to round as C does.
    steps: f64,
}

impl<'a> Prepared<'a> {
    fn new(params: &'a Params, fresh: bool) -> Self {
        let axis = vec3::unitize(params.polar_axis).0;
        let sources = params
            .sources
            .iter()
            .map(|s| {
                let inc = vec3::unitize(vec3::scale(s.position, -1.0)).0;
                let b_in = vec3::unitize(vec3::cross(axis, inc)).0;
                let e_in = vec3::unitize(vec3::cross(inc, b_in)).0;
                SourceConst {
                    inc,
                    half_inv_lambda: 0.5 / s.lambda,
                    weight: s.weight,
                    e_in,
                    b_in,
                }
            })
            .collect();
        Prepared {
            params,
            fresh,
            sources,
            sub: params.pixel_size / params.oversample as f64,
            pixel_sqr: params.pixel_size * params.pixel_size,
            steps: params.steps(),
        }
    }

    /// The pixel's new value from what it held and its sums (C's `floatimage[j] += …`).
    #[inline]
    fn finish(&self, old: f32, sums: &PixelSums) -> f32 {
        let p = self.params;
        if p.fmap {
            return sums.last_f as f32;
        }
        let photons = sums.intensity * R_E_SQR * p.fluence * p.molecules / self.steps;
        let old = if self.fresh { 0.0 } else { f64::from(old) };
        (old + photons) as f32
    }

    /// Sub-pixel coordinate along one axis: C's `sub·(pixel·oversample + k) + sub/2`.
    #[inline(always)]
    fn coordinate(&self, pixel: usize, k: usize) -> f64 {
        self.sub * (pixel * self.params.oversample + k) as f64 + self.sub / 2.0
    }

    /// The lab position of a point `(fdet, sdet)` of the flat detector, curved if asked.
    #[inline(always)]
    fn position(&self, fdet: f64, sdet: f64) -> Vec3 {
        let p = self.params;
        let flat = [
            fdet * p.fdet[0] + sdet * p.sdet[0] + p.pix0[0],
            fdet * p.fdet[1] + sdet * p.sdet[1] + p.pix0[1],
            fdet * p.fdet[2] + sdet * p.sdet[2] + p.pix0[2],
        ];
        if p.curved { self.curve(flat) } else { flat }
    }

    /// C's curved detector: `distance·b̂` turned about ŝ by y/distance, then about f̂ by
    /// z/distance (lab y and z of the flat position).
    #[inline(always)]
    fn curve(&self, flat: Vec3) -> Vec3 {
        let p = self.params;
        let start = vec3::scale(p.beam, p.distance);
        let turned = vec3::rotate_axis(start, p.sdet, flat[1] / p.distance);
        vec3::rotate_axis(turned, p.fdet, flat[2] / p.distance)
    }

    /// ω of a sub-pixel at distance `r`.
    #[inline(always)]
    fn omega(&self, r: f64) -> f64 {
        if self.params.point_pixel {
            1.0 / r / r
        } else {
            self.pixel_sqr / r / r * self.params.close_distance / r
        }
    }
}

/// The sums of one pixel (scalar reference).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct PixelSums {
    /// Σ sign(F)·F²·P·ω·weight.
    pub intensity: f64,
    /// Σ ω over the sub-pixels.
    pub omega: f64,
    /// Σ P·ω·weight over sub-pixels and sources (for `-img`).
    pub polar_omega: f64,
    /// Σ sinθ/λ over sub-pixels and sources (m⁻¹).
    pub stol_sum: f64,
    /// F, sinθ/λ, P and ω of the last sub-pixel and source.
    pub last_f: f64,
    pub last_stol: f64,
    pub last_polar: f64,
    pub last_omega: f64,
    /// The lab position of the last sub-pixel.
    pub last_position: Vec3,
    /// C's table node after the pixel (set only by the serial walk).
    pub node: Option<usize>,
}

/// The scalar reference for pixel `(f, s)`; `lookup` gives F at sinθ/λ (m⁻¹).
#[inline]
fn pixel(prep: &Prepared, f: usize, s: usize, lookup: &mut impl FnMut(f64) -> f64) -> PixelSums {
    let p = prep.params;
    let mut sums = PixelSums::default();
    for sub_s in 0..p.oversample {
        let sdet = prep.coordinate(s, sub_s);
        for sub_f in 0..p.oversample {
            let fdet = prep.coordinate(f, sub_f);
            let pos = prep.position(fdet, sdet);
            let r = (pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2]).sqrt();
            let d = [pos[0] / r, pos[1] / r, pos[2] / r];
            let omega = prep.omega(r);
            sums.omega += omega;
            for src in &prep.sources {
                let q = [d[0] - src.inc[0], d[1] - src.inc[1], d[2] - src.inc[2]];
                let stol = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt() * src.half_inv_lambda;
                let fv = lookup(stol);
                let polar = match p.kahn {
                    None => 1.0,
                    Some(k) => polarization(k, src, d),
                };
                sums.intensity += fv.abs() * fv * polar * omega * src.weight;
                sums.polar_omega += polar * omega * src.weight;
                sums.stol_sum += stol;
                sums.last_f = fv;
                sums.last_stol = stol;
                sums.last_polar = polar;
                sums.last_omega = omega;
            }
            sums.last_position = pos;
        }
    }
    sums
}

/// The polarization factor for direction `d` (scalar reference).
#[inline(always)]
fn polarization(kahn: f64, src: &SourceConst, d: Vec3) -> f64 {
    let c = src.inc[0] * d[0] + src.inc[1] * d[1] + src.inc[2] * d[2];
    let c2 = c * c;
    let s2 = 1.0 - c2;
    let cos2psi = if kahn != 0.0 {
        let e = d[0] * src.e_in[0] + d[1] * src.e_in[1] + d[2] * src.e_in[2];
        let b = d[0] * src.b_in[0] + d[1] * src.b_in[1] + d[2] * src.b_in[2];
        let norm = e * e + b * b;
        // cos 2ψ with ψ = −atan2(b, e); atan2(0, 0) = 0.
        if norm == 0.0 {
            1.0
        } else {
            (e * e - b * b) / norm
        }
    } else {
        0.0
    };
    0.5 * (1.0 + c2 - kahn * cos2psi * s2)
}

/// C's pixel loop, serial, with C's walk for the table node (kept from pixel to pixel).
fn serial_c<T>(
    prep: &Prepared,
    table: &StolTable,
    image: &mut [f32],
    visit: impl Fn(usize, &PixelSums, f32) -> T,
) -> (f64, Vec<Option<T>>) {
    let [width, height] = prep.params.pixels;
    let mut nearest = 0usize;
    let mut omega_sum = 0.0;
    let mut kept = Vec::with_capacity(image.len());
    for s in 0..height {
        for f in 0..width {
            if !prep.params.in_roi(f, s) {
                kept.push(None);
                continue;
            }
            let mut sums = pixel(prep, f, s, &mut |x| table.interpolate_c(&mut nearest, x));
            sums.node = Some(nearest);
            omega_sum += sums.omega;
            let j = s * width + f;
            image[j] = prep.finish(image[j], &sums);
            kept.push(Some(visit(j, &sums, image[j])));
        }
    }
    (omega_sum, kept)
}

/// Three lane vectors.
type V3 = [F; 3];

/// One row with the vector kernel: the pixels of the region of interest, [`LANES`] at a
/// time. Returns the row's Σ ω.
fn row_simd(prep: &Prepared, table: &StolTable, s: usize, row: &mut [f32]) -> f64 {
    let p = prep.params;
    let [f_min, f_max, s_min, s_max] = p.roi;
    let (si, width) = (s as i64, row.len());
    if si < s_min || si > s_max || width == 0 {
        return 0.0;
    }
    let first = f_min.max(0) as usize;
    let end = (f_max.saturating_add(1)).clamp(0, width as i64) as usize;
    let mut omega_row = F::ZERO;
    let mut f0 = first;
    while f0 < end {
        let n = (end - f0).min(LANES);
        let live = crate::lanes::mask(|i| i < n);
        let (intensity, omega, last_f) = block_simd(prep, table, f0, s);
        omega_row += live & omega;
        let value = if p.fmap {
            last_f.to_array()
        } else {
            // C's `Ibg*r_e_sqr*fluence*molecules/steps`, in its order.
            let photons =
                intensity * F::splat(R_E_SQR) * F::splat(p.fluence) * F::splat(p.molecules)
                    / F::splat(prep.steps);
            let old = if prep.fresh {
                F::ZERO
            } else {
                crate::lanes::widen(&row[f0..f0 + n])
            };
            (old + photons).to_array()
        };
        for (out, v) in row[f0..f0 + n].iter_mut().zip(value) {
            *out = v as f32;
        }
        f0 += n;
    }
    omega_row.to_array().iter().sum()
}

/// Pixels `f0 … f0+LANES−1` of row `s`: Σ sign(F)F²Pω·w, Σ ω and the last F, per lane (lanes
/// past the row are computed and dropped by the caller).
#[inline(always)]
fn block_simd(prep: &Prepared, table: &StolTable, f0: usize, s: usize) -> (F, F, F) {
    let p = prep.params;
    let os = p.oversample;
    let mut intensity = F::ZERO;
    let mut omega_sum = F::ZERO;
    let mut last_f = F::ZERO;
    let fd = |v: Vec3| [F::splat(v[0]), F::splat(v[1]), F::splat(v[2])];
    let (fv, sv, p0) = (fd(p.fdet), fd(p.sdet), fd(p.pix0));
    let steps_f = crate::lanes::from_fn(|i| (i * os) as f64);
    for sub_s in 0..os {
        let sdet = F::splat(prep.coordinate(s, sub_s));
        for sub_f in 0..os {
            // C's `sub·(f·oversample + k) + sub/2` with the integer exact in f64.
            let k = F::splat((f0 * os + sub_f) as f64) + steps_f;
            let fdet = F::splat(prep.sub) * k + F::splat(prep.sub / 2.0);
            let mut pos: V3 = [
                fdet * fv[0] + sdet * sv[0] + p0[0],
                fdet * fv[1] + sdet * sv[1] + p0[1],
                fdet * fv[2] + sdet * sv[2] + p0[2],
            ];
            if p.curved {
                let flat = pos.map(F::to_array);
                let curved: [Vec3; LANES] =
                    std::array::from_fn(|i| prep.curve([flat[0][i], flat[1][i], flat[2][i]]));
                pos = std::array::from_fn(|k| crate::lanes::from_fn(|i| curved[i][k]));
            }
            let r = (pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2]).sqrt();
            let d: V3 = [pos[0] / r, pos[1] / r, pos[2] / r];
            let omega = if p.point_pixel {
                F::ONE / r / r
            } else {
                F::splat(prep.pixel_sqr) / r / r * F::splat(p.close_distance) / r
            };
            omega_sum += omega;
            for src in &prep.sources {
                let q = [
                    d[0] - F::splat(src.inc[0]),
                    d[1] - F::splat(src.inc[1]),
                    d[2] - F::splat(src.inc[2]),
                ];
                let stol = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt()
                    * F::splat(src.half_inv_lambda);
                let fval = lookup_lanes(table, stol);
                let polar = match p.kahn {
                    None => F::ONE,
                    Some(k) => polarization_lanes(k, src, &d),
                };
                intensity += fval.abs() * fval * polar * omega * F::splat(src.weight);
                last_f = fval;
            }
        }
    }
    (intensity, omega_sum, last_f)
}

/// F at each lane's sinθ/λ: the node per lane (scalar), the cubic on lanes.
#[inline(always)]
fn lookup_lanes(table: &StolTable, stol: F) -> F {
    let x = stol.to_array();
    let (lo, inv_h) = table.bucket_scale();
    let b = ((stol - F::splat(lo)) * F::splat(inv_h)).to_array();
    let w: [&[f64; 5]; LANES] =
        std::array::from_fn(|i| table.cubic(table.nearest_from(b[i], x[i])));
    let col = |k: usize| F::from(std::array::from_fn::<f64, LANES, _>(|i| w[i][k]));
    let t = stol - col(0);
    col(1) + t * (col(2) + t * (col(3) + t * col(4)))
}

/// The polarization factor on lanes (same operations as `polarization`).
#[inline(always)]
fn polarization_lanes(kahn: f64, src: &SourceConst, d: &V3) -> F {
    let sp = |v: Vec3| [F::splat(v[0]), F::splat(v[1]), F::splat(v[2])];
    let inc = sp(src.inc);
    let c = inc[0] * d[0] + inc[1] * d[1] + inc[2] * d[2];
    let c2 = c * c;
    let s2 = F::ONE - c2;
    let cos2psi = if kahn != 0.0 {
        let (e_in, b_in) = (sp(src.e_in), sp(src.b_in));
        let e = d[0] * e_in[0] + d[1] * e_in[1] + d[2] * e_in[2];
        let b = d[0] * b_in[0] + d[1] * b_in[1] + d[2] * b_in[2];
        let norm = e * e + b * b;
        norm.simd_eq(F::ZERO).select(F::ONE, (e * e - b * b) / norm)
    } else {
        F::ZERO
    };
    F::splat(0.5) * (F::ONE + c2 - F::splat(kahn) * cos2psi * s2)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::suite::nonbragg::table::TableUnit;
    use proptest::prelude::*;

    /// A small water-like table.
    pub(crate) fn table() -> StolTable {
        let pts: Vec<(f64, Option<f64>)> = (0..60)
            .map(|k| {
                let s = k as f64 * 0.01;
                (
                    s,
                    Some(2.6 - 3.0 * s + 6.0 * (20.0 * s).sin() * s * (-4.0 * s).exp()),
                )
            })
            .collect();
        StolTable::from_points(&pts, TableUnit::Stol).unwrap()
    }

    pub(crate) fn params() -> Params {
        Params {
            pixels: [21, 13],
            pixel_size: 1e-4,
            pix0: [0.1, 0.00105, -0.00095],
            fdet: [0.0, 0.0, 1.0],
            sdet: [0.0, -1.0, 0.0],
            beam: [1.0, 0.0, 0.0],
            distance: 0.1,
            close_distance: 0.1,
            curved: false,
            point_pixel: false,
            oversample: 1,
            roi: [0, 21, 0, 13],
            sources: vec![Source {
                position: [-10.0, 0.0, 0.0],
                weight: 1.0,
                lambda: 1e-10,
            }],
            kahn: Some(0.0),
            polar_axis: [0.0, 0.0, 1.0],
            fluence: 1e20,
            molecules: 3.3e16,
            fmap: false,
        }
    }

    fn scalar(params: &Params, table: &StolTable) -> (Vec<f32>, f64) {
        let mut image = vec![0.0f32; params.len()];
        let (_, omega) =
            add_background_detailed(params, table, &mut image, true, |_, _, _| ()).unwrap();
        (image, omega)
    }

    /// The pixel at the beam centre: 2θ ≈ 0, so F ≈ F(0), P = 1, ω = p²/d².
    #[test]
    fn forward_pixel_is_f0_squared() {
        let t = table();
        let mut p = params();
        p.pixels = [1, 1];
        p.roi = [0, 0, 0, 0];
        p.pix0 = [0.1, 0.5e-4, -0.5e-4];
        let (img, r) = render(&p, &t).unwrap();
        let omega = 1e-8 / 0.01;
        assert!((r.omega_sum - omega).abs() < 1e-18);
        let want = 2.6 * 2.6 * omega * R_E_SQR * 1e20 * 3.3e16;
        assert!(
            (f64::from(img[0]) / want - 1.0).abs() < 1e-6,
            "{} {want}",
            img[0]
        );
    }

    /// ω sums to the solid angle of a small detector; the Kahn factor 1 turns the scattering
    /// off along the polarization axis (z) at 90°.
    #[test]
    fn solid_angle_and_polarization() {
        let t = table();
        let mut p = params();
        p.pixels = [100, 100];
        p.roi = [0, 99, 0, 99];
        p.pix0 = [0.1, 0.005, -0.005];
        let (_, r) = render(&p, &t).unwrap();
        // a 10 mm square at 100 mm: 4·atan(ab/(d·√(a²+b²+d²))) with a = b = 5 mm
        let (a, d) = (0.005f64, 0.1f64);
        let exact = 4.0 * (a * a / (d * (2.0 * a * a + d * d).sqrt())).atan();
        assert!(
            (r.omega_sum / exact - 1.0).abs() < 1e-4,
            "{} {exact}",
            r.omega_sum
        );
        let src = Prepared::new(&p, true).sources[0];
        assert!(polarization(1.0, &src, [0.0, 0.0, 1.0]).abs() < 1e-15);
        assert!((polarization(1.0, &src, [0.0, 1.0, 0.0]) - 1.0).abs() < 1e-15);
        assert!((polarization(0.0, &src, [0.0, 1.0, 0.0]) - 0.5).abs() < 1e-15);
        assert!((polarization(0.5, &src, [1.0, 0.0, 0.0]) - 1.0).abs() < 1e-15);
    }

    /// The curved detector puts every pixel at the same distance; the point pixel's ω is 1/R².
    #[test]
    fn curved_and_point_pixel() {
        let mut p = params();
        p.curved = true;
        p.point_pixel = true;
        let prep = Prepared::new(&p, true);
        for (f, s) in [(0, 0), (20, 12), (7, 3)] {
            let pos = prep.position(prep.coordinate(f, 0), prep.coordinate(s, 0));
            assert!((vec3::norm(pos) - 0.1).abs() < 1e-15);
            assert!((prep.omega(vec3::norm(pos)) - 100.0).abs() < 1e-9);
        }
    }

    #[test]
    fn roi_fmap_and_accumulation() {
        let t = table();
        let mut p = params();
        p.roi = [3, 5, 2, 2];
        let (img, _) = render(&p, &t).unwrap();
        let lit: Vec<usize> = (0..img.len()).filter(|&j| img[j] != 0.0).collect();
        assert_eq!(
            lit,
            vec![2 * 21 + 3, 2 * 21 + 4, 2 * 21 + 5],
            "ROI bounds are inclusive"
        );
        let mut twice = img.clone();
        add_background(&p, &t, &mut twice).unwrap();
        assert_eq!(twice[2 * 21 + 4], img[2 * 21 + 4] * 2.0);
        p.fmap = true;
        let (fmap, _) = render(&p, &t).unwrap();
        let f = fmap[2 * 21 + 4];
        assert!(f > 2.0 && f < 2.7, "{f}");
        let mut wrong = vec![0.0; 3];
        assert!(add_background(&p, &t, &mut wrong).is_err());
    }

    /// NB16: a negative F gives a negative intensity, −F²; -Fmap keeps F's sign.
    #[test]
    fn negative_f_gives_negative_photons() {
        let pts = [
            (0.0, Some(-2.0)),
            (0.2, Some(-2.0)),
            (0.4, Some(-2.0)),
            (0.6, Some(-2.0)),
        ];
        let t = StolTable::from_points(&pts, TableUnit::Stol).unwrap();
        let mut p = params();
        let (img, _) = render(&p, &t).unwrap();
        let positive = StolTable::from_points(&pts.map(|(x, _)| (x, Some(2.0))), TableUnit::Stol);
        let (pos, _) = render(&p, &positive.unwrap()).unwrap();
        assert!(img.iter().zip(&pos).all(|(a, b)| *a == -*b && *a < 0.0));
        p.fmap = true;
        let (fmap, _) = render(&p, &t).unwrap();
        assert!(fmap.iter().all(|f| (f + 2.0).abs() < 1e-6));
    }

    fn arb_params() -> impl Strategy<Value = Params> {
        (
            (1usize..20, 1usize..6, 1usize..4),
            (0.02f64..0.3, -0.01f64..0.01, -0.01f64..0.01),
            (any::<bool>(), any::<bool>(), prop::option::of(-1.0f64..1.0)),
            (prop::collection::vec(
                (-0.5f64..0.5, -0.5f64..0.5, 0.3f64..2.0, 0.8e-10f64..2e-10),
                1..4,
            ),),
            (-2i64..6, 0i64..25, -1i64..3, 0i64..8),
            (-0.3f64..0.3, -0.3f64..0.3),
        )
            .prop_map(
                |((w, h, os), (dist, y0, z0), (curved, point, kahn), (srcs,), roi, (a, b))| {
                    let mut p = params();
                    p.pixels = [w, h];
                    p.oversample = os;
                    p.pix0 = [dist, y0, z0];
                    p.distance = dist;
                    p.close_distance = dist;
                    p.curved = curved;
                    p.point_pixel = point;
                    p.kahn = kahn;
                    p.roi = [roi.0, roi.1, roi.2, roi.3];
                    let (ca, sa) = (a.cos(), a.sin());
                    p.fdet = [sa * b.cos(), -sa * b.sin(), ca];
                    p.sdet = vec3::unitize(vec3::cross(p.fdet, [1.0, 0.0, 0.0])).0;
                    p.polar_axis = [0.0, b.sin(), b.cos()];
                    p.sources = srcs
                        .into_iter()
                        .map(|(y, z, wgt, lambda)| Source {
                            position: [-10.0, y, z],
                            weight: wgt,
                            lambda,
                        })
                        .collect();
                    p
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The vector kernel gives the scalar reference's bits.
        #[test]
        fn simd_matches_scalar(p in arb_params(), fmap in any::<bool>()) {
            let t = table();
            let mut p = p;
            p.fmap = fmap;
            let (simd, r) = render(&p, &t).unwrap();
            let (reference, omega) = scalar(&p, &t);
            for (a, b) in simd.iter().zip(&reference) {
                prop_assert_eq!(a.to_bits(), b.to_bits());
            }
            prop_assert!((r.omega_sum - omega).abs() <= 1e-12 * omega.abs());
            // adding to an image that holds values
            let (mut twice, mut twice_ref) = (simd, reference);
            add_background(&p, &t, &mut twice).unwrap();
            add_background_detailed(&p, &t, &mut twice_ref, false, |_, _, _| ()).unwrap();
            for (a, b) in twice.iter().zip(&twice_ref) {
                prop_assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }
}
