//! Detector placement: basis vectors, pixel origin and the derived beam-centre values.
//!
//! This is nanoBragg.c's block after option parsing, in its order:
//! 1. Defaults: `Fclose = (ORGX − ½)·px` or half the detector; `Xclose`, `Yclose` follow.
//! 2. The convention chooses the basis vectors (f̂ fast, ŝ slow, ô normal, b̂ beam, t̂ two-theta
//!    axis, p̂ polarization, û spindle), maps the user's `Xbeam/Ybeam` to `Fbeam/Sbeam` (with
//!    MOSFLM's ½-pixel shift and X↔slow swap) and forces the pivot (only CUSTOM keeps the
//!    requested one).
//! 3. `ratio = b̂·(R_xyz ô)`; `close = |ratio·distance|` unless given; `distance = close/ratio`.
//! 4. SAMPLE pivot: `pix0 = −Fclose·f̂ − Sclose·ŝ + close·ô`, then rotated with the detector.
//! 5. The basis is rotated: `R_2θ R_xyz`.
//! 6. BEAM pivot: `pix0 = −Fbeam·f̂ − Sbeam·ŝ + distance·b̂` with the rotated basis.
//! 7. Derived values for headers and logs: `Fclose, Sclose, close, Fbeam, Sbeam, distance`,
//!    `ORGX, ORGY` and DIALS' origin.
//!
//! pix0 is the outer corner of pixel (0,0): the centre of pixel (f, s) sits at
//! `pix0 + (f+½)·px·f̂ + (s+½)·px·ŝ`.
//!
//! nanoBragg's `ratio` leaves out the two-theta swing, so with two-theta the derived distance
//! and beam centre it reports are wrong (spec Q7). The image is unaffected. Under `compat` we
//! report C's values; by default the derived values use the full rotation.

use crate::params::{Convention, Detector, Pivot};
use crate::vec3::{self, Vec3};

/// The placed detector and the beam and spindle directions that go with its convention.
#[derive(Clone, Debug)]
pub struct DetectorGeometry {
    /// Convention after vector overrides.
    pub convention: Convention,
    /// Pivot actually used.
    pub pivot: Pivot,
    /// Fast axis (unit).
    pub fdet: Vec3,
    /// Slow axis (unit).
    pub sdet: Vec3,
    /// Normal, away from the sample (unit).
    pub odet: Vec3,
    /// Outer corner of pixel (0,0), metres from the sample.
    pub pix0: Vec3,
    /// Beam propagation direction (unit).
    pub beam: Vec3,
    /// Polarization (E-vector) axis (unit).
    pub polar: Vec3,
    /// Spindle axis (unit).
    pub spindle: Vec3,
    /// `unit(b̂ × p̂)`: the axis of horizontal divergence.
    pub vert: Vec3,
    /// Two-theta axis (unit).
    pub twotheta_axis: Vec3,
    /// Pixel pitch (m).
    pub pixel_size: f64,
    /// Pixels along fast.
    pub fpixels: usize,
    /// Pixels along slow.
    pub spixels: usize,
    /// Detector size fast, slow (m).
    pub size: [f64; 2],
    /// Distance along the beam to the direct-beam spot (m), as reported.
    pub distance: f64,
    /// Perpendicular distance to the detector plane (m).
    pub close_distance: f64,
    /// Beam centre as the user gave it (or its default), X and Y (m).
    pub beam_center: [f64; 2],
    /// Direct-beam spot in the detector plane from pixel (0,0)'s corner: fast, slow (m).
    pub fbeam_sbeam: [f64; 2],
    /// Near point, user form Xclose, Yclose (m).
    pub close_point: [f64; 2],
    /// Foot of the perpendicular: fast, slow (m).
    pub fclose_sclose: [f64; 2],
    /// XDS origin (pixels, 1-based centres).
    pub org: [f64; 2],
    /// DIALS origin (mm) as nanoBragg reports it.
    pub dials_origin: Vec3,
    /// Two-theta (rad).
    pub twotheta: f64,
    /// Notes for the console, in nanoBragg's order.
    pub log: Vec<String>,
}

struct Basis {
    beam: Vec3,
    fdet: Vec3,
    sdet: Vec3,
    odet: Vec3,
    twotheta: Vec3,
    polar: Vec3,
    spindle: Vec3,
}

fn basis(convention: Convention) -> Basis {
    let b = |beam, fdet, sdet, odet, twotheta, polar, spindle| Basis {
        beam,
        fdet,
        sdet,
        odet,
        twotheta,
        polar,
        spindle,
    };
    match convention {
        Convention::Mosflm | Convention::Denzo => b(
            [1., 0., 0.],
            [0., 0., 1.],
            [0., -1., 0.],
            [1., 0., 0.],
            [0., 0., -1.],
            [0., 0., 1.],
            [0., 0., 1.],
        ),
        Convention::Adxv => b(
            [0., 0., 1.],
            [1., 0., 0.],
            [0., -1., 0.],
            [0., 0., 1.],
            [-1., 0., 0.],
            [1., 0., 0.],
            [1., 0., 0.],
        ),
        Convention::Xds => b(
            [0., 0., 1.],
            [1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.],
            [1., 0., 0.],
            [1., 0., 0.],
            [1., 0., 0.],
        ),
        Convention::Dials => b(
            [0., 0., 1.],
            [1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.],
            [0., 1., 0.],
            [0., 1., 0.],
            [0., 1., 0.],
        ),
        Convention::Custom => b(
            [1., 0., 0.],
            [0., 0., 1.],
            [0., -1., 0.],
            [1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.],
            [0., 0., 1.],
        ),
    }
}

/// Explicit direction vectors that replace a convention's.
#[derive(Clone, Copy, Debug, Default)]
pub struct VectorOverrides {
    /// Beam direction.
    pub beam: Option<Vec3>,
    /// Polarization axis.
    pub polar: Option<Vec3>,
    /// Spindle axis.
    pub spindle: Option<Vec3>,
}

/// Place the detector as nanoBragg.c does.
pub fn place(d: &Detector, over: VectorOverrides, compat: bool) -> DetectorGeometry {
    let px = d.pixel_size;
    let [dsf, dss] = d.size;
    let mut log = Vec::new();

    // Step 1: near-point defaults (C: "defaults?").
    let fclose0 = d.org[0].map_or(dsf / 2.0, |o| (o - 0.5) * px);
    let sclose0 = d.org[1].map_or(dss / 2.0, |o| (o - 0.5) * px);
    let xclose = d.close_point[0].unwrap_or(fclose0);
    let yclose = d.close_point[1].unwrap_or(sclose0);

    // Step 2: the convention block.
    let conv = d.convention;
    let c = centres(d, [fclose0, sclose0], [xclose, yclose]);
    let ([xbeam, ybeam], [fbeam, sbeam], [fclose, sclose]) = (c.beam, c.fs_beam, c.fs_close);
    let pivot = c.pivot;
    let bs = overridden_basis(d, over);

    // "straighten up vectors"
    let beam = vec3::unitize(bs.beam).0;
    let mut fdet = vec3::unitize(bs.fdet).0;
    let mut sdet = vec3::unitize(bs.sdet).0;
    let (mut odet, olen) = vec3::unitize(bs.odet);
    if olen != 1.0 {
        log.push("WARNING: auto-generating odet_vector".to_string());
        odet = vec3::unitize(vec3::cross(fdet, sdet)).0;
    }
    let polar = vec3::unitize(bs.polar).0;
    let spindle = vec3::unitize(bs.spindle).0;
    let vert = vec3::unitize(vec3::cross(beam, polar)).0;
    let tt_axis = vec3::unitize(bs.twotheta).0;

    let name = match conv {
        Convention::Adxv => "adxv",
        Convention::Mosflm => "mosflm",
        Convention::Xds => "xds",
        Convention::Dials => "dials",
        Convention::Denzo => "denzo",
        Convention::Custom => "custom",
    };
    log.push(format!("{name} convention selected."));

    // Step 3: the relationship between the two distances.
    let [rx, ry, rz] = d.rotation;
    let tt = d.twotheta;
    let mut ratio = vec3::dot(beam, vec3::rotate_xyz(odet, rx, ry, rz));
    if ratio == 0.0 {
        ratio = f64::MIN_POSITIVE;
    }
    let close_in = d.close_distance.unwrap_or((ratio * d.distance).abs());
    let distance_in = close_in / ratio;

    let rot = |v: Vec3| vec3::rotate_axis(vec3::rotate_xyz(v, rx, ry, rz), tt_axis, tt);
    let mut pix0 = [0.0; 3];
    if pivot == Pivot::Sample {
        log.push("pivoting detector around sample".to_string());
        let p = vec3::add(
            vec3::add(vec3::scale(fdet, -fclose), vec3::scale(sdet, -sclose)),
            vec3::scale(odet, close_in),
        );
        pix0 = rot(p);
    }
    fdet = rot(fdet);
    sdet = rot(sdet);
    odet = rot(odet);
    if pivot == Pivot::Beam {
        log.push("pivoting detector around direct beam spot".to_string());
        pix0 = vec3::add(
            vec3::add(vec3::scale(fdet, -fbeam), vec3::scale(sdet, -sbeam)),
            vec3::scale(beam, distance_in),
        );
    }

    // Step 7: derived values.
    let fclose_out = -vec3::dot(pix0, fdet);
    let sclose_out = -vec3::dot(pix0, sdet);
    let close_out = vec3::dot(pix0, odet);
    let ratio_out = if compat {
        ratio
    } else {
        let r = vec3::dot(beam, odet);
        if r == 0.0 { f64::MIN_POSITIVE } else { r }
    };
    let to_beam = vec3::sub(vec3::scale(beam, close_out / ratio_out), pix0);
    let fbeam_out = vec3::dot(fdet, to_beam);
    let sbeam_out = vec3::dot(sdet, to_beam);
    let distance_out = close_out / ratio_out;
    let org = [fclose_out / px + 0.5, sclose_out / px + 0.5];
    let dials_origin = [1000.0 * pix0[2], 1000.0 * pix0[1], 1000.0 * -pix0[0]];
    log.push(format!(
        "XDS incident beam: {} {} {}",
        crate::cfmt::g(vec3::dot(beam, fdet)),
        crate::cfmt::g(vec3::dot(beam, sdet)),
        crate::cfmt::g(vec3::dot(beam, odet))
    ));

    DetectorGeometry {
        convention: conv,
        pivot,
        fdet,
        sdet,
        odet,
        pix0,
        beam,
        polar,
        spindle,
        vert,
        twotheta_axis: tt_axis,
        pixel_size: px,
        fpixels: d.fpixels,
        spixels: d.spixels,
        size: d.size,
        distance: distance_out,
        close_distance: close_out,
        beam_center: [xbeam, ybeam],
        fbeam_sbeam: [fbeam_out, sbeam_out],
        close_point: [xclose, yclose],
        fclose_sclose: [fclose_out, sclose_out],
        org,
        dials_origin,
        twotheta: tt,
        log,
    }
}

/// Where a convention puts the beam and the near point: the user's X/Ybeam (or their defaults),
/// the beam spot and near point along fast and slow (m), and the pivot the convention forces.
struct Centres {
    beam: [f64; 2],
    fs_beam: [f64; 2],
    fs_close: [f64; 2],
    pivot: Pivot,
}

/// Step 2 of [`place`]: the convention's beam-centre rules, from the near-point defaults
/// `close0` (Fclose, Sclose) and the near point `close` (Xclose, Yclose).
fn centres(d: &Detector, close0: [f64; 2], close: [f64; 2]) -> Centres {
    let px = d.pixel_size;
    let [dsf, dss] = d.size;
    let at = |i: usize, default: f64| d.beam_center[i].unwrap_or(default);
    match d.convention {
        Convention::Adxv => {
            let (xbeam, ybeam) = (at(0, (dsf + px) / 2.0), at(1, (dss - px) / 2.0));
            Centres {
                beam: [xbeam, ybeam],
                fs_beam: [xbeam, dss - ybeam],
                fs_close: close0,
                pivot: Pivot::Beam,
            }
        }
        Convention::Mosflm | Convention::Denzo => {
            let (xbeam, ybeam) = (at(0, (dss + px) / 2.0), at(1, (dsf + px) / 2.0));
            let half = if d.convention == Convention::Mosflm {
                0.5 * px
            } else {
                0.0
            };
            Centres {
                beam: [xbeam, ybeam],
                fs_beam: [ybeam + half, xbeam + half],
                fs_close: close0,
                pivot: Pivot::Beam,
            }
        }
        Convention::Xds | Convention::Dials => {
            let beam = [at(0, close[0]), at(1, close[1])];
            Centres {
                beam,
                fs_beam: beam,
                fs_close: close0,
                pivot: Pivot::Sample,
            }
        }
        Convention::Custom => {
            let beam = [at(0, close[0]), at(1, close[1])];
            Centres {
                beam,
                fs_beam: beam,
                fs_close: beam,
                pivot: d.pivot.unwrap_or(Pivot::Beam),
            }
        }
    }
}

/// The convention's basis with the user's vector options in place of its defaults.
fn overridden_basis(d: &Detector, over: VectorOverrides) -> Basis {
    let bs = basis(d.convention);
    Basis {
        fdet: d.fdet_vector.unwrap_or(bs.fdet),
        sdet: d.sdet_vector.unwrap_or(bs.sdet),
        odet: d.odet_vector.unwrap_or(bs.odet),
        twotheta: d.twotheta_axis.unwrap_or(bs.twotheta),
        beam: over.beam.unwrap_or(bs.beam),
        polar: over.polar.unwrap_or(bs.polar),
        spindle: over.spindle.unwrap_or(bs.spindle),
    }
}

impl DetectorGeometry {
    /// Position of a point `(fdet, sdet)` metres along the fast and slow axes and `odet` metres
    /// deep into the sensor, in the lab frame.
    #[inline]
    pub fn position(&self, fdet: f64, sdet: f64, odet: f64) -> Vec3 {
        [
            fdet * self.fdet[0] + sdet * self.sdet[0] + odet * self.odet[0] + self.pix0[0],
            fdet * self.fdet[1] + sdet * self.sdet[1] + odet * self.odet[1] + self.pix0[1],
            fdet * self.fdet[2] + sdet * self.sdet[2] + odet * self.odet[2] + self.pix0[2],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosflm_example_from_the_spec() {
        // 64 × 64 pixels of 0.1 mm at 100 mm: pix0 = (0.1, 0.0033, −0.0033) m, ORGX = 33.5.
        let mut d = Detector::default();
        d.set_pixels(64, 64);
        let g = place(&d, VectorOverrides::default(), false);
        assert!((g.pix0[0] - 0.1).abs() < 1e-15);
        assert!((g.pix0[1] - 0.0033).abs() < 1e-15);
        assert!((g.pix0[2] + 0.0033).abs() < 1e-15);
        assert!((g.org[0] - 33.5).abs() < 1e-9 && (g.org[1] - 33.5).abs() < 1e-9);
        assert!((g.beam_center[0] - 3.25e-3).abs() < 1e-15);
        assert!((g.dials_origin[0] + 3.3).abs() < 1e-9);
        assert!((g.dials_origin[2] + 100.0).abs() < 1e-9);
    }

    #[test]
    fn beam_pivot_keeps_the_beam_spot_under_rotation() {
        let mut d = Detector::default();
        d.set_pixels(100, 100);
        d.rotation = [0.05, -0.03, 0.02];
        let g = place(&d, VectorOverrides::default(), false);
        // The direct beam meets the plane at (Fbeam, Sbeam) = (Ybeam + px/2, Xbeam + px/2).
        let [fb, sb] = g.fbeam_sbeam;
        let want = (100.0 * 1e-4 + 1e-4) / 2.0 + 0.5e-4;
        assert!((fb - want).abs() < 1e-12 && (sb - want).abs() < 1e-12);
        assert!((g.distance - 0.1).abs() < 1e-12);
    }
}
