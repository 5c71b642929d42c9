//! Each detector convention puts a single reflection where the convention says it must land.
//!
//! The expected pixel never comes from the placed geometry: it follows from the convention's
//! documented beam-centre rule (spec §2.2, "With explicit values the beam's pixel-centre index
//! along fast is …") plus plain trigonometry. On an untilted detector a ray along
//! `distance·b̂ + Δf·px·f̂ + Δs·px·ŝ` lands Δf, Δs pixels from the direct-beam spot, so the crystal
//! is oriented to put reflection (1,0,0) exactly in Bragg condition along that ray. `Setup` is
//! consulted only for the basis vectors, which are first checked against the spec's §2.1 table.
//!
//! Two more tests check the direct beam's own position rule on rotated detectors: the BEAM
//! pivot (MOSFLM) keeps the beam on (Fbeam, Sbeam); the SAMPLE pivot (XDS) keeps the foot of the
//! perpendicular at ((ORGX−½)·px, (ORGY−½)·px).

use std::sync::Arc;

use nanobragg::engine::{self, Backend};
use nanobragg::io::hkl::HklGrid;
use nanobragg::params::{Convention, Lattice, Params, Pivot};
use nanobragg::setup::{DetectorGeometry, Setup};
use nanobragg::vec3::{self, Vec3};

/// Pixel pitch (m).
const PX: f64 = 1e-4;
/// Pixels on each side.
const NPIX: usize = 128;
/// Sample to beam spot (m).
const DISTANCE: f64 = 0.1;
/// Wavelength (m).
const LAMBDA: f64 = 1e-10;
/// Where the reflection lands relative to the beam spot: pixels along fast and slow.
const SHIFT: [f64; 2] = [12.0, -7.0];
/// The beam's pixel-centre index (fast, slow) every rendering test aims for.
const BEAM_INDEX: [f64; 2] = [50.0, 70.0];

/// A detector of the given convention; everything else as the tests need.
fn params(convention: Convention) -> Params {
    let mut p = Params::default();
    p.beam.wavelength = LAMBDA;
    p.detector.pixel_size = PX;
    p.detector.set_pixels(NPIX, NPIX);
    p.detector.distance = DISTANCE;
    p.detector.convention = convention;
    // A placeholder cell so the geometry can be placed; the rendering tests replace it.
    let right = std::f64::consts::FRAC_PI_2;
    p.crystal.lattice = Lattice::cell(50e-10, 50e-10, 50e-10, right, right, right);
    p.crystal.cells = [10.0; 3];
    p.sampling.oversample = Some(1);
    let mut grid = HklGrid {
        h_min: 1,
        h_max: 1,
        data: vec![0.0; 8],
        count: 1,
        ..HklGrid::default()
    };
    let i = grid.index(1, 0, 0).expect("(1,0,0) is in the grid");
    grid.data[i] = 100.0;
    p.structure_factors.grid = Some(Arc::new(grid));
    p.structure_factors.default_f = 0.0;
    p.structure_factors.interpolate = Some(false);
    p
}

fn close(a: Vec3, b: Vec3) -> bool {
    (0..3).all(|i| (a[i] - b[i]).abs() < 1e-12)
}

/// Checks the placed basis against the spec's table (b̂, f̂, ŝ) and that the detector is
/// untilted (ô ∥ b̂), so the trigonometry of the rendering tests applies.
fn check_basis(det: &DetectorGeometry, table: [Vec3; 3]) {
    let [b, f, s] = table;
    assert!(close(det.beam, b), "beam {:?}, spec {b:?}", det.beam);
    assert!(close(det.fdet, f), "fast {:?}, spec {f:?}", det.fdet);
    assert!(close(det.sdet, s), "slow {:?}, spec {s:?}", det.sdet);
    assert!(
        close(det.odet, b),
        "normal {:?} not along the beam",
        det.odet
    );
}

/// A lattice whose reflection (1,0,0) scatters along `distance·b̂ + Δf·px·f̂ + Δs·px·ŝ`.
fn lattice_for_spot(b: Vec3, f: Vec3, s: Vec3) -> Lattice {
    let ray = vec3::add(
        vec3::scale(b, DISTANCE),
        vec3::add(vec3::scale(f, SHIFT[0] * PX), vec3::scale(s, SHIFT[1] * PX)),
    );
    let d = vec3::unitize(ray).0;
    let q = vec3::scale(vec3::sub(d, b), 1.0 / LAMBDA);
    let len = vec3::norm(q);
    let b_star = vec3::scale(vec3::unitize(vec3::cross(q, b)).0, len);
    let c_star = vec3::scale(vec3::unitize(vec3::cross(q, b_star)).0, len);
    Lattice::Reciprocal([q, b_star, c_star])
}

/// Renders one reflection and checks it lands `SHIFT` pixels from the beam spot whose
/// pixel-centre index the convention's rule gives as `beam_index`.
fn assert_spot(mut p: Params, table: [Vec3; 3], beam_index: [f64; 2]) {
    // The rule's indices must be whole pixel centres, or a half-pixel error could hide.
    for x in beam_index {
        assert!(
            (x - x.round()).abs() < 1e-9,
            "beam index {x} is not a pixel centre"
        );
    }
    let det = Setup::new(&p).expect("valid parameters").detector;
    check_basis(&det, table);
    p.crystal.lattice = lattice_for_spot(det.beam, det.fdet, det.sdet);
    let setup = Setup::new(&p).expect("valid parameters");
    let image = engine::render(&setup, Backend::Scalar);

    let want = [beam_index[0] + SHIFT[0], beam_index[1] + SHIFT[1]];
    let (w, h) = (image.width, image.height);
    let at = |f: usize, s: usize| f64::from(image.pixels[s * w + f]);
    let (mut bf, mut bs) = (0, 0);
    for s in 0..h {
        for f in 0..w {
            if at(f, s) > at(bf, bs) {
                (bf, bs) = (f, s);
            }
        }
    }
    assert!(at(bf, bs) > 0.0, "the image is empty");
    assert_eq!(
        [bf as f64, bs as f64],
        [want[0].round(), want[1].round()],
        "brightest pixel (fast, slow) vs the convention's rule"
    );
    let (mut sum, mut sf, mut ss) = (0.0, 0.0, 0.0);
    for s in bs.saturating_sub(3)..(bs + 4).min(h) {
        for f in bf.saturating_sub(3)..(bf + 4).min(w) {
            sum += at(f, s);
            sf += at(f, s) * f as f64;
            ss += at(f, s) * s as f64;
        }
    }
    let centroid = [sf / sum, ss / sum];
    assert!(
        (centroid[0] - want[0]).abs() < 0.15 && (centroid[1] - want[1]).abs() < 0.15,
        "centroid {centroid:?}, expected {want:?}"
    );
}

#[test]
fn mosflm() {
    // MOSFLM: X is slow, Y is fast; index = beam/px (the +px/2 shift and the centre cancel).
    let mut p = params(Convention::Mosflm);
    let (xbeam, ybeam) = (7.0e-3, 5.0e-3);
    p.detector.beam_center = [Some(xbeam), Some(ybeam)];
    let index = [ybeam / PX, xbeam / PX];
    assert_eq!(index.map(f64::round), BEAM_INDEX);
    let table = [[1., 0., 0.], [0., 0., 1.], [0., -1., 0.]];
    assert_spot(p, table, index);
}

#[test]
fn denzo() {
    // DENZO: MOSFLM's axes without the half-pixel shift: index = beam/px − ½.
    let mut p = params(Convention::Denzo);
    let (xbeam, ybeam) = (7.05e-3, 5.05e-3);
    p.detector.beam_center = [Some(xbeam), Some(ybeam)];
    let index = [ybeam / PX - 0.5, xbeam / PX - 0.5];
    assert_eq!(index.map(f64::round), BEAM_INDEX);
    let table = [[1., 0., 0.], [0., 0., 1.], [0., -1., 0.]];
    assert_spot(p, table, index);
}

#[test]
fn adxv() {
    // ADXV: X is fast; Y is measured from the far slow edge: slow index = (dₛ − Y)/px − ½.
    let mut p = params(Convention::Adxv);
    let (xbeam, ybeam) = (5.05e-3, 5.75e-3);
    p.detector.beam_center = [Some(xbeam), Some(ybeam)];
    let ds = NPIX as f64 * PX;
    let index = [xbeam / PX - 0.5, (ds - ybeam) / PX - 0.5];
    assert_eq!(index.map(f64::round), BEAM_INDEX);
    let table = [[0., 0., 1.], [1., 0., 0.], [0., -1., 0.]];
    assert_spot(p, table, index);
}

/// XDS and DIALS: 1-based pixel-centre origin: index = ORG − 1 (SAMPLE pivot, beam ⟂ detector).
fn xds_origin(convention: Convention) {
    let mut p = params(convention);
    let (orgx, orgy) = (51.0, 71.0);
    p.detector.org = [Some(orgx), Some(orgy)];
    let index = [orgx - 1.0, orgy - 1.0];
    assert_eq!(index, BEAM_INDEX);
    let table = [[0., 0., 1.], [1., 0., 0.], [0., 1., 0.]];
    assert_spot(p, table, index);
}

#[test]
fn xds() {
    xds_origin(Convention::Xds);
}

#[test]
fn dials() {
    xds_origin(Convention::Dials);
}

#[test]
fn custom() {
    // CUSTOM: explicit vectors, unlike any named convention (beam along +y); X is fast, Y slow,
    // no half-pixel shift: index = beam/px − ½.
    let (b, f, s) = ([0., 1., 0.], [0., 0., 1.], [1., 0., 0.]);
    let mut p = params(Convention::Custom);
    p.beam.beam_vector = Some(b);
    p.detector.fdet_vector = Some(f);
    p.detector.sdet_vector = Some(s);
    p.detector.odet_vector = Some(vec3::cross(f, s));
    let (xbeam, ybeam) = (5.05e-3, 7.05e-3);
    p.detector.beam_center = [Some(xbeam), Some(ybeam)];
    let index = [xbeam / PX - 0.5, ybeam / PX - 0.5];
    assert_eq!(index.map(f64::round), BEAM_INDEX);
    assert_spot(p, [b, f, s], index);
}

/// Where the ray `t·b̂` meets the detector plane: (t, fast offset, slow offset) from pix0 (m).
fn hit(det: &DetectorGeometry, dir: Vec3) -> (f64, f64, f64) {
    let t = vec3::dot(det.pix0, det.odet) / vec3::dot(dir, det.odet);
    let rel = vec3::sub(vec3::scale(dir, t), det.pix0);
    (t, vec3::dot(rel, det.fdet), vec3::dot(rel, det.sdet))
}

#[test]
fn mosflm_rotated_beam_pivot_keeps_the_beam_spot() {
    let mut p = params(Convention::Mosflm);
    let (xbeam, ybeam) = (7.0e-3, 5.0e-3);
    p.detector.beam_center = [Some(xbeam), Some(ybeam)];
    p.detector.rotation = [0.02, -0.03, 0.04];
    p.detector.twotheta = 0.1;
    let det = Setup::new(&p).expect("valid parameters").detector;
    assert_eq!(det.pivot, Pivot::Beam);
    // The detector really is tilted.
    assert!(vec3::dot(det.odet, [1., 0., 0.]) < 0.999);
    let (t, fhit, shit) = hit(&det, [1., 0., 0.]);
    // MOSFLM rule: Fbeam = Ybeam + px/2, Sbeam = Xbeam + px/2, at `distance` along the beam.
    let (fbeam, sbeam) = (ybeam + PX / 2.0, xbeam + PX / 2.0);
    assert!(
        (fhit - fbeam).abs() < 1e-12,
        "fast {fhit} m, rule {fbeam} m"
    );
    assert!(
        (shit - sbeam).abs() < 1e-12,
        "slow {shit} m, rule {sbeam} m"
    );
    assert!(
        (t - DISTANCE).abs() < 1e-12,
        "beam spot at {t} m, distance {DISTANCE} m"
    );
}

#[test]
fn xds_twotheta_sample_pivot_keeps_the_near_point() {
    let (orgx, orgy) = (51.0, 71.0);
    let (fclose, sclose) = ((orgx - 0.5) * PX, (orgy - 0.5) * PX);
    let place = |twotheta: f64| {
        let mut p = params(Convention::Xds);
        p.detector.org = [Some(orgx), Some(orgy)];
        p.detector.twotheta = twotheta;
        Setup::new(&p).expect("valid parameters").detector
    };
    // Foot of the perpendicular from the sample, in the plane: −pix0·f̂, −pix0·ŝ; at pix0·ô.
    let foot = |det: &DetectorGeometry| {
        (
            -vec3::dot(det.pix0, det.fdet),
            -vec3::dot(det.pix0, det.sdet),
            vec3::dot(det.pix0, det.odet),
        )
    };
    let beam = [0., 0., 1.];

    // Unrotated: the foot is exactly ((ORGX−½)·px, (ORGY−½)·px) and the beam hits it.
    let det = place(0.0);
    assert_eq!(det.pivot, Pivot::Sample);
    let (f0, s0, c0) = foot(&det);
    assert!(
        (f0 - fclose).abs() < 1e-12 && (s0 - sclose).abs() < 1e-12,
        "{f0} {s0}"
    );
    assert!((c0 - DISTANCE).abs() < 1e-12, "close distance {c0}");
    let (_, fb, sb) = hit(&det, beam);
    assert!(
        (fb - fclose).abs() < 1e-12 && (sb - sclose).abs() < 1e-12,
        "{fb} {sb}"
    );

    // Two-theta about XDS's t̂ = +x: the foot stays put, the beam moves along slow by
    // close·tan 2θ (ŝ turns towards the beam).
    let tt: f64 = 0.1;
    let det = place(tt);
    let (f1, s1, c1) = foot(&det);
    assert!(
        (f1 - fclose).abs() < 1e-12 && (s1 - sclose).abs() < 1e-12,
        "{f1} {s1}"
    );
    assert!((c1 - DISTANCE).abs() < 1e-12, "close distance {c1}");
    let (t, fb, sb) = hit(&det, beam);
    let want_s = sclose + DISTANCE * tt.tan();
    assert!((fb - fclose).abs() < 1e-12, "beam fast {fb}, want {fclose}");
    assert!((sb - want_s).abs() < 1e-12, "beam slow {sb}, want {want_s}");
    assert!((t - DISTANCE / tt.cos()).abs() < 1e-12, "beam path {t}");
}
