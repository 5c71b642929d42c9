//! The simulated experiment in the laboratory frame of DIALS/dxtbx, for the image writers.
//!
//! nanoBragg's lab frame depends on the convention (MOSFLM's beam runs along +x, XDS's along
//! +z). DIALS has one frame: the beam travels along −z. [`LabGeometry::new`] maps nanoBragg's
//! vectors into it by the proper rotation `R` whose rows are
//!
//! * `Z_D = −b̂` (the beam travels along −z),
//! * `X_D` = the fast axis f̂ with its component along the beam removed (the spindle û when f̂ is
//!   parallel to the beam),
//! * `Y_D = Z_D × X_D`.
//!
//! For MOSFLM that is `X_D = z, Y_D = y, Z_D = −x`; for XDS `X_D = x, Y_D = −y, Z_D = −z`. With a
//! beam-normal detector f̂ maps to +x and, for a right-handed detector (f̂ × ŝ along the beam),
//! ŝ to −y: the detector dxtbx's SMV and miniCBF readers assume. A rotation of the crystal by
//! `-phi φ` about û is a rotation by +φ about `R·û` in DIALS (both right-handed).
//!
//! [`LabGeometry::single_panel_limits`] says what the simple formats (SMV, miniCBF) cannot
//! express; NXmx writes every vector as it is.

use crate::setup::Setup;
use crate::vec3::{self, Vec3};

/// Geometry of one simulated detector image in the DIALS laboratory frame. Lengths in mm,
/// wavelength in Å, angles in degrees.
#[derive(Clone, Debug, PartialEq)]
pub struct LabGeometry {
    /// Wavelength (Å).
    pub wavelength_a: f64,
    /// Unit propagation direction of the beam: (0, 0, −1).
    pub beam: Vec3,
    /// Unit polarization (E-vector) direction.
    pub polarization: Vec3,
    /// Fraction of the beam polarized along [`polarization`](Self::polarization)
    /// (nanoBragg's Kahn factor; 0 is unpolarized).
    pub polarization_fraction: f64,
    /// Unit fast axis of the detector.
    pub fast: Vec3,
    /// Unit slow axis of the detector.
    pub slow: Vec3,
    /// Unit normal of the detector plane, pointing away from the sample (f̂ × ŝ sign-corrected).
    pub normal: Vec3,
    /// Outer corner of pixel (0, 0): the sample-to-corner vector (mm).
    pub origin_mm: Vec3,
    /// Pixel pitch (mm), the same along fast and slow.
    pub pixel_size_mm: f64,
    /// Pixels along fast and slow.
    pub size: [usize; 2],
    /// Where the beam meets the detector plane, in pixels from the outer corner of pixel (0, 0)
    /// along fast and slow (the centre of pixel (f, s) is at (f + ½, s + ½)).
    pub beam_center_px: [f64; 2],
    /// Distance from the sample to the detector plane along its normal (mm).
    pub distance_mm: f64,
    /// Unit rotation axis of the goniometer (the spindle).
    pub spindle: Vec3,
    /// Two-theta (deg) and its unit axis: the rotation of the detector about the sample.
    pub twotheta: (f64, Vec3),
    /// Sensor thickness (mm) and attenuation length (mm), when a thick sensor is simulated.
    pub sensor: Option<(f64, f64)>,
}

/// One frame of a series: which frame, and the rotation it covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameScan {
    /// 1-based frame number (the number in the file name).
    pub number: usize,
    /// Spindle angle at the start of the frame (deg).
    pub phi_start_deg: f64,
    /// Rotation covered by the frame (deg); 0 for a still.
    pub osc_deg: f64,
    /// Exposure time (s).
    pub exposure_s: f64,
}

impl FrameScan {
    /// Frame `index` (from 0) of the rotation series that starts with `setup`, exposed for
    /// `exposure_s` seconds.
    pub fn of(setup: &Setup, index: usize, exposure_s: f64) -> FrameScan {
        FrameScan {
            number: index + 1,
            phi_start_deg: setup.frame_phi(index).to_degrees(),
            osc_deg: setup.phi_report[1].to_degrees(),
            exposure_s,
        }
    }
}

impl LabGeometry {
    /// The geometry of a prepared simulation.
    pub fn new(setup: &Setup, wavelength: f64, polarization_fraction: f64) -> LabGeometry {
        let d = &setup.detector;
        let r = rotation_to_dials(d.beam, d.fdet, d.spindle);
        let to_dials = |v: Vec3| vec3::mat_vec(&r, v);
        let fast = to_dials(d.fdet);
        let slow = to_dials(d.sdet);
        let beam = to_dials(d.beam);
        let origin = to_dials(d.pix0);
        let mut normal = vec3::unitize(vec3::cross(fast, slow)).0;
        if vec3::dot(normal, origin) < 0.0 {
            normal = vec3::scale(normal, -1.0);
        }
        let distance = vec3::dot(normal, origin);
        // The beam meets the plane at t·b̂ with (t·b̂ − origin)·n̂ = 0.
        let t = distance / vec3::dot(beam, normal);
        let hit = vec3::sub(vec3::scale(beam, t), origin);
        let px = d.pixel_size;
        let mm = |v: Vec3| vec3::scale(v, 1e3);
        let sensor = (setup.layers.thickness > 0.0).then(|| {
            let attenuation = if setup.layers.mu > 0.0 {
                1e3 / setup.layers.mu
            } else {
                f64::INFINITY
            };
            (setup.layers.thickness * 1e3, attenuation)
        });
        LabGeometry {
            wavelength_a: wavelength * 1e10,
            beam,
            polarization: to_dials(d.polar),
            polarization_fraction,
            fast,
            slow,
            normal,
            origin_mm: mm(origin),
            pixel_size_mm: px * 1e3,
            size: [d.fpixels, d.spixels],
            beam_center_px: [vec3::dot(hit, fast) / px, vec3::dot(hit, slow) / px],
            distance_mm: distance * 1e3,
            spindle: to_dials(d.spindle),
            twotheta: (d.twotheta.to_degrees(), to_dials(d.twotheta_axis)),
            sensor,
        }
    }

    /// What a single-panel format with a beam-normal detector (fast +x, slow −y), a +x spindle
    /// and no detector rotation (SMV, miniCBF) cannot express about this geometry; empty when it
    /// expresses it exactly. `rotation` says whether the spindle matters (a rotation series).
    pub fn single_panel_limits(&self, rotation: bool) -> Vec<&'static str> {
        const TOL: f64 = 1e-9;
        let near = |a: Vec3, b: Vec3| (0..3).all(|i| (a[i] - b[i]).abs() <= TOL);
        let mut limits = Vec::new();
        if self.twotheta.0 != 0.0 {
            limits.push("a two-theta detector rotation");
        }
        if !near(self.normal, [0.0, 0.0, -1.0]) {
            limits.push("a detector tilted or rotated away from the beam");
        } else if !near(self.fast, [1.0, 0.0, 0.0]) || !near(self.slow, [0.0, -1.0, 0.0]) {
            limits.push("a mirrored detector (fast × slow points against the beam)");
        }
        if rotation && !near(self.spindle, [1.0, 0.0, 0.0]) {
            limits.push("a spindle axis that is not along the detector's fast axis");
        }
        limits
    }
}

/// The rotation (as rows) from nanoBragg's lab frame to DIALS's (see the module documentation).
fn rotation_to_dials(beam: Vec3, fast: Vec3, spindle: Vec3) -> [Vec3; 3] {
    let b = vec3::unitize(beam).0;
    let z = vec3::scale(b, -1.0);
    let across = |v: Vec3| vec3::sub(v, vec3::scale(b, vec3::dot(v, b)));
    let reference = [fast, spindle, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
        .into_iter()
        .map(across)
        .find(|v| vec3::dot(*v, *v) > 1e-12)
        .expect("some axis is not parallel to the beam");
    let x = vec3::unitize(reference).0;
    let y = vec3::cross(z, x);
    [x, y, z]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosflm_and_xds_frames_map_as_dials_documents() {
        // MOSFLM: X_D = z, Y_D = y, Z_D = −x.
        let r = rotation_to_dials([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]);
        assert_eq!(r, [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]);
        // XDS: X_D = x, Y_D = −y, Z_D = −z.
        let r = rotation_to_dials([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]);
        assert_eq!(r, [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]);
    }

    #[test]
    fn a_beam_along_the_fast_axis_uses_the_spindle() {
        let r = rotation_to_dials([0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]);
        assert_eq!(r[0], [0.0, 1.0, 0.0]);
        assert_eq!(r[2], [0.0, 0.0, -1.0]);
    }
}
