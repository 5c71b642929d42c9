//! nonBragg's detector placement and its list of X-ray sources.
//!
//! nonBragg places its detector with code of its own, not nanoBragg's: there are no
//! conventions; the normal is always `f̂ × ŝ` (`-odet_vector` is ignored); the default near
//! point is `((W−1)·p/2, (H+1)·p/2)` (half a pixel off-centre in opposite directions, quirk
//! NB12) and `-ORGX/-ORGY` give it as `ORGX·p` without nanoBragg's half pixel; the close
//! distance defaults to `ratio·distance` without an absolute value; the sample pivot uses the
//! near point and the beam pivot the beam centre, both without a half-pixel shift;
//! `-pix0_vector` is overwritten by either pivot. `crate::setup::detector::place` encodes
//! nanoBragg's rules (conventions, MOSFLM's shifts, `|ratio·distance|`, the CUSTOM
//! convention's use of the beam centre for the sample pivot), so this module places the
//! detector itself, with the same vector helpers.
//!
//! The derived distance and beam centre use `ratio = b̂·R_xyz(ô)`, which leaves out the
//! two-theta swing, as C does (the header's DISTANCE and BEAM_CENTER, and the curved
//! detector's radius, follow it).
//!
//! Sources: without `-sourcefile`, a grid of divergence angles (C's range/step/count rules,
//! the same as nanoBragg's, from `crate::setup::sampling::complete`; a round grid drops the
//! points outside the inscribed ellipse) times the wavelengths of the dispersion, each source
//! `source_distance` upstream, turned by the vertical angle about the polarization axis and
//! then by the horizontal angle about `b̂ × p̂`.

use crate::cfmt::g;
use crate::setup::sampling::{Grid, complete};
use crate::vec3::{self, Vec3};

/// Which point stays fixed when the detector turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pivot {
    /// The near point (`-Xclose/-Yclose/-ORGX/-ORGY`, `-close_distance`).
    Sample,
    /// The direct-beam spot (`-Xbeam/-Ybeam`, `-distance`).
    Beam,
}

/// The detector as the user describes it (metres, radians), before placement.
#[derive(Clone, Debug)]
pub struct DetectorSpec {
    /// Pixels along fast and slow.
    pub pixels: [usize; 2],
    /// Pixel pitch (m).
    pub pixel_size: f64,
    /// Detector size, fast and slow (m).
    pub size: [f64; 2],
    /// `-distance` (m).
    pub distance: f64,
    /// `-close_distance` (m).
    pub close_distance: Option<f64>,
    /// `-Xbeam`, `-Ybeam` (m).
    pub beam_center: [Option<f64>; 2],
    /// `-Xclose`, `-Yclose` (m).
    pub close_point: [Option<f64>; 2],
    /// `-ORGX`, `-ORGY` (pixels).
    pub org: [Option<f64>; 2],
    /// The pivot.
    pub pivot: Pivot,
    /// `-fdet_vector`, `-sdet_vector`, `-beam_vector`, `-polar_vector` (any length).
    pub fdet: Vec3,
    /// Slow axis.
    pub sdet: Vec3,
    /// Beam direction.
    pub beam: Vec3,
    /// Polarization axis.
    pub polar: Vec3,
    /// `-detector_rotx/y/z` (rad).
    pub rotation: [f64; 3],
    /// `-twotheta` (rad).
    pub twotheta: f64,
    /// `-twotheta_axis`; used as given (C does not normalise it) unless `unit_axis`.
    pub twotheta_axis: Vec3,
    /// Normalise the two-theta axis (default mode).
    pub unit_axis: bool,
}

/// The placed detector.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// Fast axis (unit).
    pub fdet: Vec3,
    /// Slow axis (unit).
    pub sdet: Vec3,
    /// Normal `f̂ × ŝ` (unit).
    pub odet: Vec3,
    /// Corner of pixel (0,0) (m); the centre of pixel (f, s) is at `pix0 + (f+½)p f̂ +
    /// (s+½)p ŝ`.
    pub pix0: Vec3,
    /// Beam direction (unit).
    pub beam: Vec3,
    /// Polarization axis (unit).
    pub polar: Vec3,
    /// `unit(b̂ × p̂)`: the axis of horizontal divergence.
    pub vert: Vec3,
    /// Distance along the beam (m), as C derives it.
    pub distance: f64,
    /// Perpendicular distance to the detector plane (m).
    pub close_distance: f64,
    /// Beam centre (m) as C derives it: Xbeam, Ybeam.
    pub beam_center: [f64; 2],
    /// Foot of the perpendicular (m): Xclose, Yclose.
    pub close_point: [f64; 2],
    /// The pivot used.
    pub pivot: Pivot,
}

/// Place the detector as nonBragg.c does (see the module documentation).
pub fn place(d: &DetectorSpec) -> Placed {
    let px = d.pixel_size;
    let beam = vec3::unitize(d.beam).0;
    let fdet0 = vec3::unitize(d.fdet).0;
    let sdet0 = vec3::unitize(d.sdet).0;
    let odet0 = vec3::unitize(vec3::cross(fdet0, sdet0)).0;
    let polar = vec3::unitize(d.polar).0;
    let vert = vec3::unitize(vec3::cross(beam, polar)).0;
    let axis = if d.unit_axis {
        vec3::unitize(d.twotheta_axis).0
    } else {
        d.twotheta_axis
    };

    let xclose = d.org[0]
        .map(|o| o * px)
        .or(d.close_point[0])
        .unwrap_or((d.size[0] - px) / 2.0);
    let yclose = d.org[1]
        .map(|o| o * px)
        .or(d.close_point[1])
        .unwrap_or((d.size[1] + px) / 2.0);
    let xbeam = d.beam_center[0].unwrap_or(xclose);
    let ybeam = d.beam_center[1].unwrap_or(yclose);

    let [rx, ry, rz] = d.rotation;
    let mut ratio = vec3::dot(beam, vec3::rotate_xyz(odet0, rx, ry, rz));
    if ratio == 0.0 {
        ratio = f64::MIN_POSITIVE;
    }
    let close_in = d.close_distance.unwrap_or(ratio * d.distance);
    let distance_in = close_in / ratio;

    let turn = |v: Vec3| vec3::rotate_axis(vec3::rotate_xyz(v, rx, ry, rz), axis, d.twotheta);
    let along = |x: f64, f: Vec3, y: f64, s: Vec3, z: f64, o: Vec3| {
        vec3::add(
            vec3::add(vec3::scale(f, -x), vec3::scale(s, -y)),
            vec3::scale(o, z),
        )
    };
    let mut pix0 = [0.0; 3];
    if d.pivot == Pivot::Sample {
        pix0 = turn(along(xclose, fdet0, yclose, sdet0, close_in, odet0));
    }
    let (fdet, sdet, odet) = (turn(fdet0), turn(sdet0), turn(odet0));
    if d.pivot == Pivot::Beam {
        pix0 = along(xbeam, fdet, ybeam, sdet, distance_in, beam);
    }

    let close = vec3::dot(pix0, odet);
    let to_beam = vec3::sub(vec3::scale(beam, close / ratio), pix0);
    Placed {
        fdet,
        sdet,
        odet,
        pix0,
        beam,
        polar,
        vert,
        distance: close / ratio,
        close_distance: close,
        beam_center: [vec3::dot(fdet, to_beam), vec3::dot(sdet, to_beam)],
        close_point: [-vec3::dot(pix0, fdet), -vec3::dot(pix0, sdet)],
        pivot: d.pivot,
    }
}

/// One X-ray source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Source {
    /// Position relative to the sample (m); the beam runs from it to the origin.
    pub position: Vec3,
    /// Relative intensity.
    pub weight: f64,
    /// Wavelength (m).
    pub lambda: f64,
}

/// The beam's spread as the user gave it: divergence (rad) and dispersion (fraction).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    /// `-hdivrange`/`-divergence`.
    pub hrange: Option<f64>,
    /// `-vdivrange`/`-divergence`.
    pub vrange: Option<f64>,
    /// `-hdivstep`.
    pub hstep: Option<f64>,
    /// `-vdivstep`.
    pub vstep: Option<f64>,
    /// `-hdivsteps`/`-divsteps`.
    pub hsteps: Option<i64>,
    /// `-vdivsteps`/`-divsteps`.
    pub vsteps: Option<i64>,
    /// `-dispersion` (fraction, default 0).
    pub dispersion: f64,
    /// `-dispsteps`.
    pub dispsteps: Option<i64>,
    /// A round divergence grid (default) rather than a square one.
    pub round: bool,
}

/// The completed grids: horizontal, vertical divergence and dispersion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grids {
    /// Horizontal divergence.
    pub h: Grid,
    /// Vertical divergence.
    pub v: Grid,
    /// Dispersion.
    pub disp: Grid,
}

impl Spread {
    /// C's range/step/count rules (nanoBragg's, see the module documentation): a bare count
    /// spans 1 rad of divergence; dispersion has no step option, so a count alone keeps one
    /// wavelength (its range is 0).
    pub fn grids(&self) -> Grids {
        Grids {
            h: complete(self.hsteps, self.hrange, self.hstep, 1.0, -1.0),
            v: complete(self.vsteps, self.vrange, self.vstep, 1.0, -1.0),
            disp: complete(self.dispsteps, Some(self.dispersion), None, 1.0, 0.0),
        }
    }
}

/// The divergence points a grid keeps, in C's order (horizontal outer): `(hdiv, vdiv)`.
pub fn divergence_points(g: &Grids, round: bool) -> Vec<(f64, f64)> {
    let (h, v) = (g.h, g.v);
    let mut points = Vec::new();
    for ht in 0..h.steps {
        for vt in 0..v.steps {
            let hdiv = h.step * ht as f64 - h.range / 2.0;
            let vdiv = v.step * vt as f64 - v.range / 2.0;
            let odd = |n: usize| (1 - (n % 2) as i64) as f64;
            let mut test = (hdiv * hdiv - h.step * h.step / 4.0 * odd(h.steps)) / h.range / h.range;
            test += (vdiv * vdiv - v.step * v.step / 4.0 * odd(v.steps)) / v.range / v.range;
            if round && test * 4.0 > 1.1 {
                continue;
            }
            points.push((hdiv, vdiv));
        }
    }
    points
}

/// The wavelengths of the dispersion grid around `lambda0` (m).
pub fn wavelengths(disp: &Grid, lambda0: f64) -> Vec<f64> {
    (0..disp.steps)
        .map(|k| lambda0 * (1.0 + disp.step * k as f64 - disp.range / 2.0))
        .collect()
}

/// The sources of a divergence grid and dispersion, C's order (divergence outer, wavelength
/// inner), each `source_distance` upstream of the sample along the (placed) beam.
pub fn grid_sources(
    points: &[(f64, f64)],
    lambdas: &[f64],
    placed: &Placed,
    source_distance: f64,
) -> Vec<Source> {
    let mut sources = Vec::with_capacity(points.len() * lambdas.len());
    for &(hdiv, vdiv) in points {
        let start = vec3::scale(placed.beam, -source_distance);
        let turned = vec3::rotate_axis(
            vec3::rotate_axis(start, placed.polar, vdiv),
            placed.vert,
            hdiv,
        );
        for &lambda in lambdas {
            sources.push(Source {
                position: turned,
                weight: 1.0,
                lambda,
            });
        }
    }
    sources
}

/// The log lines of the divergence grid and the wavelengths, as C prints them.
pub fn grid_log(points: &[(f64, f64)], lambdas: &[f64]) -> Vec<String> {
    let mut lines: Vec<String> = points
        .iter()
        .map(|(h, v)| format!("divergence deviation: {} {}", g(*h), g(*v)))
        .collect();
    lines.extend(
        lambdas
            .iter()
            .enumerate()
            .map(|(k, l)| format!("lambda{k} = {}", crate::cfmt::g_prec(*l, 15))),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DetectorSpec {
        DetectorSpec {
            pixels: [128, 128],
            pixel_size: 1e-4,
            size: [0.0128, 0.0128],
            distance: 0.1,
            close_distance: None,
            beam_center: [None, None],
            close_point: [None, None],
            org: [None, None],
            pivot: Pivot::Beam,
            fdet: [0.0, 0.0, 1.0],
            sdet: [0.0, -1.0, 0.0],
            beam: [1.0, 0.0, 0.0],
            polar: [0.0, 0.0, 1.0],
            rotation: [0.0; 3],
            twotheta: 0.0,
            twotheta_axis: [0.0, 1.0, 0.0],
            unit_axis: true,
        }
    }

    fn close(a: Vec3, b: Vec3) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() < 1e-12)
    }

    /// b01's log: origin 0.1 0.00645 −0.00635, Xbeam 0.00635, Ybeam 0.00645.
    #[test]
    fn default_detector_as_c_prints_it() {
        let p = place(&spec());
        assert!(close(p.pix0, [0.1, 0.00645, -0.00635]), "{:?}", p.pix0);
        assert!((p.beam_center[0] - 0.00635).abs() < 1e-15);
        assert!((p.beam_center[1] - 0.00645).abs() < 1e-15);
        assert!(close(p.odet, [1.0, 0.0, 0.0]));
        assert!((p.distance - 0.1).abs() < 1e-15 && (p.close_distance - 0.1).abs() < 1e-15);
    }

    /// b05's log: rotations 2, −3, 5°, two-theta 20° about −z, ORGX 70, ORGY 50, sample pivot.
    #[test]
    fn sample_pivot_with_rotations_and_twotheta() {
        let rtd = 180.0 * std::f64::consts::FRAC_1_PI;
        let mut d = spec();
        d.pixels = [160, 120];
        d.pixel_size = 0.172e-3;
        d.size = [160.0 * 0.172e-3, 120.0 * 0.172e-3];
        d.distance = 0.12;
        d.rotation = [2.0 / rtd, -3.0 / rtd, 5.0 / rtd];
        d.twotheta = 20.0 / rtd;
        d.twotheta_axis = [0.0, 0.0, -1.0];
        d.org = [Some(70.0), Some(50.0)];
        d.pivot = Pivot::Sample;
        let p = place(&d);
        let gv = |v: Vec3| format!("{} {} {}", g(v[0]), g(v[1]), g(v[2]));
        assert_eq!(gv(p.pix0), "0.11808 -0.0223065 -0.00546861");
        assert_eq!(gv(p.fdet), "-0.0595545 -0.020173 0.998021");
        assert_eq!(gv(p.sdet), "-0.256897 -0.96581 -0.0348517");
        assert_eq!(g(p.beam_center[0]), "0.00489346");
        assert_eq!(g(p.beam_center[1]), "-0.0222277");
        assert_eq!(g(p.distance), "0.12");
        // The near point stays where ORGX/ORGY put it.
        assert!((p.close_point[0] - 70.0 * 0.172e-3).abs() < 1e-12);
        assert!((p.close_point[1] - 50.0 * 0.172e-3).abs() < 1e-12);
    }

    /// The beam pivot keeps the direct beam on (Xbeam, Ybeam) whatever the rotation.
    #[test]
    fn beam_pivot_keeps_the_beam_spot() {
        let mut d = spec();
        d.rotation = [0.05, -0.03, 0.02];
        d.beam_center = [Some(0.009), Some(0.007)];
        let p = place(&d);
        // where the beam meets the plane, in detector coordinates
        let t = vec3::dot(p.pix0, p.odet) / vec3::dot(p.beam, p.odet);
        let hit = vec3::sub(vec3::scale(p.beam, t), p.pix0);
        assert!((vec3::dot(hit, p.fdet) - 0.009).abs() < 1e-12);
        assert!((vec3::dot(hit, p.sdet) - 0.007).abs() < 1e-12);
    }

    /// b07: 3 × 3 round grid over 3 × 2 mrad drops the corners; 10 % over 3 wavelengths.
    #[test]
    fn round_divergence_grid_and_dispersion() {
        let s = Spread {
            hrange: Some(3e-3),
            vrange: Some(2e-3),
            hsteps: Some(3),
            vsteps: Some(3),
            dispersion: 0.1,
            dispsteps: Some(3),
            round: true,
            ..Spread::default()
        };
        let gr = s.grids();
        let pts = divergence_points(&gr, true);
        assert_eq!(pts.len(), 5);
        assert_eq!(divergence_points(&gr, false).len(), 9);
        let l = wavelengths(&gr.disp, 1e-10);
        let log = grid_log(&pts, &l);
        assert_eq!(log[0], "divergence deviation: -0.0015 0");
        assert_eq!(log[5], "lambda0 = 9.5e-11");
        assert_eq!(log[7], "lambda2 = 1.05e-10");
        let placed = place(&spec());
        let src = grid_sources(&pts, &l, &placed, 10.0);
        assert_eq!(src.len(), 15);
        let p = src[0].position;
        let fmt = format!("{} {} {}", g(p[0]), g(p[1]), g(p[2]));
        assert_eq!(fmt, "-9.99999 0 0.015");
        // a lone count: one radian of divergence, but no dispersion
        let lone = Spread {
            hsteps: Some(4),
            dispsteps: Some(4),
            ..Spread::default()
        }
        .grids();
        assert_eq!((lone.h.steps, lone.h.range), (4, 1.0));
        assert_eq!(lone.disp.steps, 1);
        // nothing given: one source at λ0
        let none = Spread::default().grids();
        assert_eq!(divergence_points(&none, true), vec![(0.0, 0.0)]);
        assert_eq!(wavelengths(&none.disp, 1e-10), vec![1e-10]);
    }
}
