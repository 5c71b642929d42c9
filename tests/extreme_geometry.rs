//! Extreme geometries and crystals: short and very long wavelengths, a 300 Å cell, a 10 m
//! detector, detector tilts past 45° and two-theta swings past 60°, pixels of 0.1 µm and of
//! 5 mm, N = 1, 2 and 100, and pixels sitting exactly on integer Miller indices.
//!
//! These are the spec's acceptance tests AT-016 (extremes), AT-017 (grazing geometry) and
//! AT-018 (crystal boundaries: aligned orientations and exact Bragg conditions), with the
//! reference C program replaced by an analytic expectation. Every case checks:
//!
//! * **Finite pixels.** No NaN or infinity in the image of either engine.
//! * **Engine agreement.** The SIMD image agrees with the scalar one within the crate's
//!   thresholds (`engine::agreement` with `MIN_CORRELATION` and `MAX_RELATIVE_ERROR`); an all-zero
//!   scalar image must be all zero in SIMD too.
//! * **The physics.** Each pixel against an independent expectation ([`oracle`]): the detector
//!   is placed from the spec's convention table and rotation formulas (§2.1–§2.5, not from
//!   `Setup`), and the pixel value is `r_e²Φ · F² · Π_axes (sin(πNh)/sin(πh))² · ω · P` with the
//!   solid angle `ω = px²·close/R³` and the Kahn polarization factor P (§3.6–§3.11). This
//!   replaces AT-016's "correlation ≥ 0.95 with C" by a per-pixel bound, and its "top-25 peaks
//!   within 2 px of C's" by the same criterion against the expectation.
//! * **Continuity.** The image sum, rendered at a parameter value p and at p(1 ± 1e-6) (lengths
//!   and the wavelength) or p ± 1e-7 rad (angles), changes by less than [`CONTINUITY`]; see there
//!   for the physics behind the bound.
//!
//! AT-017 also checks the solid angle at grazing incidence: the sum of the pixels' ω against
//! the closed-form solid angle of the detector rectangle. AT-018 renders pixels whose h, k, l
//! are exactly integer (the lattice factor's 0/0 point) and checks the value there, N per axis
//! (N² in the intensity), and that approaching it from both sides converges to it.
//!
//! A non-integer cell count N is refused ([`non_integer_cell_count_is_refused`]).
//!
//! The crystals are cubic and aligned with the lab axes (nanoBragg's canonical orientation, or
//! a misset by multiples of 90°), F is `-default_F`, and one sub-pixel per pixel is used unless
//! a case needs the automatic oversampling, so the expectation is a closed form.

use std::f64::consts::{FRAC_PI_2, PI};

use nanobragg::engine::{self, Backend, Rendered};
use nanobragg::params::{Convention, DEFAULT_FLUENCE, Lattice, Misset, Params, R_E_SQR};
use nanobragg::setup::Setup;
use nanobragg::vec3::{add, cross, dot, norm, scale};

type V3 = [f64; 3];

/// One ångström (m).
const ANGSTROM: f64 = 1e-10;
/// One millimetre (m).
const MM: f64 = 1e-3;
/// F of every reflection (electrons).
const F_CELL: f64 = 100.0;
/// r_e²·Φ with the default fluence: electrons² per steradian to photons.
const SCALE: f64 = R_E_SQR * DEFAULT_FLUENCE;
/// Relative tolerance for a pixel whose expectation is exact up to `f32` rounding (two
/// roundings of half an ulp, with a factor 2 of margin).
const F32_TOL: f64 = 2.0 * f32::EPSILON as f64;
/// Relative tolerance of a pixel against [`oracle`]: the pixel is an `f32` (6e-8), the SIMD
/// engine's sine polynomial is good to 6e-12, and the test and the crate compute the same
/// positions with different roundings, which moves h by ~1e-16·h.
const ORACLE_REL: f64 = 1e-6;
/// Absolute tolerance against [`oracle`], as a fraction of the brightest expected pixel: near a
/// zero of the lattice factor the relative error of a tiny value is meaningless, and there a
/// rounding of h by 1e-16·h moves the value by at most ~2πN·1e-16·h of the peak.
const ORACLE_ABS: f64 = 1e-9;
/// AT-016: peaks compared.
const TOP_PEAKS: usize = 25;
/// AT-016: largest distance (pixels) of a rendered peak from an expected one.
const PEAK_DISTANCE: f64 = 2.0;
/// AT-016: an expected peak matches a rendered one if it is at least this fraction as bright.
/// The patterns are symmetric, so equally bright peaks come in groups and a cut at the 25th
/// would split a group arbitrarily; the rendered top 25 are therefore matched against every
/// expected peak of comparable brightness.
const PEAK_MATCH: f64 = 0.5;
/// Relative step of lengths and the wavelength in the continuity checks.
const REL_STEP: f64 = 1e-6;
/// Step of angles in the continuity checks (rad).
const ANGLE_STEP: f64 = 1e-7;
/// AT-018: relative tolerance of the deviation from the exact Bragg value as the pixel
/// approaches it, against the lattice-factor prediction (the first-order δ and the neglected
/// terms are good to ~1e-10).
const APPROACH_REL: f64 = 1e-3;
/// Largest relative change of the image sum for a parameter step.
///
/// Why this bound: a relative change ε = 1e-6 of a length scales the pattern by ε, so a spot r
/// pixels from the beam moves by ε·r ≤ 1e-4 pixel on these detectors (r ≤ 100); an angle step
/// of 1e-7 rad moves pixels at R ≤ 0.1 m by ≤ 1e-8 m ≤ 1e-4 pixel; a relative change ε of the
/// wavelength (or of the distance, which changes the scattering angles) moves reciprocal-lattice
/// points through the Ewald sphere by ε·h in index units, against spot widths of 1/N, i.e. by
/// ε·N·h ≤ 1e-3 of a width for the N·h ≤ 1000 of these cases. A sampled spot profile changes by
/// at most about the moved fraction of its width times its steepest relative slope (a few per
/// width: sinc² falls from its peak to zero within half a width), summed over spots of which
/// only a part sit on flanks, so the sum changes by well under 1e-3. A discontinuity — a wrong
/// value at exactly integer h, a NaN, a branch switching between formulas — changes a bright
/// pixel by O(1), i.e. the sum by far more than the smooth change; the AT-018 test also checks
/// the pixel itself.
const CONTINUITY: f64 = 1e-3;

// ---------------------------------------------------------------------------------------------
// Parameters

/// A cubic cell of edge `a` (m) with `n` cells per edge in nanoBragg's canonical orientation,
/// F = [`F_CELL`] everywhere, wavelength `lambda` (m), a MOSFLM detector of `pixels`² pixels of
/// `pixel` (m) at `distance` (m) with its default beam centre, unpolarized beam, one sub-pixel
/// per pixel.
fn cubic(a: f64, n: f64, lambda: f64, distance: f64, pixels: usize, pixel: f64) -> Params {
    let mut p = Params::default();
    p.crystal.lattice = Lattice::cell(a, a, a, FRAC_PI_2, FRAC_PI_2, FRAC_PI_2);
    p.crystal.cells = [n; 3];
    p.structure_factors.default_f = F_CELL;
    p.beam.wavelength = lambda;
    p.detector.pixel_size = pixel;
    p.detector.distance = distance;
    p.detector.set_pixels(pixels, pixels);
    p.sampling.oversample = Some(1);
    p
}

/// A parameter the continuity check moves.
#[derive(Clone, Copy)]
struct Knob {
    name: &'static str,
    get: fn(&Params) -> f64,
    set: fn(&mut Params, f64),
    /// Angles move by [`ANGLE_STEP`], everything else by [`REL_STEP`] of its value.
    angle: bool,
}

const WAVELENGTH: Knob = Knob {
    name: "wavelength",
    get: |p| p.beam.wavelength,
    set: |p, v| p.beam.wavelength = v,
    angle: false,
};
const DISTANCE: Knob = Knob {
    name: "distance",
    get: |p| p.detector.distance,
    set: |p, v| p.detector.distance = v,
    angle: false,
};
const BEAM_Y: Knob = Knob {
    name: "Ybeam",
    get: |p| p.detector.beam_center[1].expect("explicit beam centre"),
    set: |p, v| p.detector.beam_center[1] = Some(v),
    angle: false,
};
const ROT_X: Knob = Knob {
    name: "rotx",
    get: |p| p.detector.rotation[0],
    set: |p, v| p.detector.rotation[0] = v,
    angle: true,
};
const ROT_Y: Knob = Knob {
    name: "roty",
    get: |p| p.detector.rotation[1],
    set: |p, v| p.detector.rotation[1] = v,
    angle: true,
};
const ROT_Z: Knob = Knob {
    name: "rotz",
    get: |p| p.detector.rotation[2],
    set: |p, v| p.detector.rotation[2] = v,
    angle: true,
};
const TWO_THETA: Knob = Knob {
    name: "twotheta",
    get: |p| p.detector.twotheta,
    set: |p, v| p.detector.twotheta = v,
    angle: true,
};

// ---------------------------------------------------------------------------------------------
// Rendering and the generic checks

/// Both engines' images of one parameter set.
struct Pair {
    setup: Setup,
    scalar: Rendered,
    simd: Rendered,
}

fn sum(img: &Rendered) -> f64 {
    img.pixels.iter().map(|&v| f64::from(v)).sum()
}

fn max(img: &Rendered) -> f64 {
    img.pixels.iter().map(|&v| f64::from(v)).fold(0.0, f64::max)
}

/// Renders with both engines; checks that every pixel is finite and that the engines agree.
fn render_both(name: &str, p: &Params) -> Pair {
    let setup = Setup::new(p).unwrap_or_else(|e| panic!("{name}: {e}"));
    let scalar = engine::render(&setup, Backend::Scalar);
    let simd = engine::render(&setup, Backend::Simd);
    for (engine, img) in [("scalar", &scalar), ("SIMD", &simd)] {
        let bad = img.pixels.iter().filter(|v| !v.is_finite()).count();
        assert_eq!(
            bad, 0,
            "{name}: {bad} non-finite pixels in the {engine} image"
        );
    }
    if scalar.pixels.iter().all(|&v| v == 0.0) {
        assert!(
            simd.pixels.iter().all(|&v| v == 0.0),
            "{name}: the scalar image is all zero, the SIMD one is not"
        );
    } else {
        let (corr, worst) = engine::agreement(&scalar.pixels, &simd.pixels);
        assert!(
            corr >= engine::MIN_CORRELATION && worst <= engine::MAX_RELATIVE_ERROR,
            "{name}: engines disagree: correlation {corr}, worst relative error {worst:e}"
        );
    }
    Pair {
        setup,
        scalar,
        simd,
    }
}

/// Relative change of each engine's image sum when `knob` moves one step down and one step up
/// from its value in `p`; fails if any exceeds [`CONTINUITY`]. Returns the largest.
fn continuity(name: &str, p: &Params, base: &Pair, knob: Knob) -> f64 {
    let value = (knob.get)(p);
    let step = if knob.angle {
        ANGLE_STEP
    } else {
        REL_STEP * value.abs()
    };
    let sums = [sum(&base.scalar), sum(&base.simd)];
    let mut worst: f64 = 0.0;
    for sign in [-1.0, 1.0] {
        let mut moved = p.clone();
        (knob.set)(&mut moved, value + sign * step);
        let pair = render_both(&format!("{name} ({} moved)", knob.name), &moved);
        for ((engine, img), s0) in [("scalar", &pair.scalar), ("SIMD", &pair.simd)]
            .into_iter()
            .zip(sums)
        {
            let change = if s0 == 0.0 {
                sum(img).abs()
            } else {
                (sum(img) / s0 - 1.0).abs()
            };
            assert!(
                change < CONTINUITY,
                "{name}: {engine} image sum changes by {change:e} (relative) when {} moves by \
                 {:+e}",
                knob.name,
                sign * step
            );
            worst = worst.max(change);
        }
    }
    worst
}

/// The standard checks of one case: finite pixels, agreement, the expectation, continuity.
/// Prints one line of figures.
fn check_case(name: &str, p: &Params, knob: Knob) -> Pair {
    let pair = render_both(name, p);
    let (corr, worst) = engine::agreement(&pair.scalar.pixels, &pair.simd.pixels);
    let expected = oracle(p, pair.setup.oversample);
    let oracle_err = assert_matches(name, "scalar", &pair.scalar, &expected)
        .max(assert_matches(name, "SIMD", &pair.simd, &expected));
    let cont = continuity(name, p, &pair, knob);
    println!(
        "{name:<34} sum {:>11.5e} max {:>11.5e} os {:>2} corr {corr:.10} worst {worst:.1e} \
         vs expectation {oracle_err:.1e} continuity({}) {cont:.1e}",
        sum(&pair.scalar),
        max(&pair.scalar),
        pair.setup.oversample,
        knob.name,
    );
    pair
}

// ---------------------------------------------------------------------------------------------
// The analytic expectation

fn unit(a: V3) -> V3 {
    scale(a, 1.0 / norm(a))
}

/// The spec's `rotate(v, rx, ry, rz)`: `Rz·Ry·Rx·v` with right-handed rotations (§2.4).
fn rotate_xyz(v: V3, [rx, ry, rz]: V3) -> V3 {
    let (sx, cx) = rx.sin_cos();
    let (sy, cy) = ry.sin_cos();
    let (sz, cz) = rz.sin_cos();
    let v = [v[0], cx * v[1] - sx * v[2], sx * v[1] + cx * v[2]];
    let v = [cy * v[0] + sy * v[2], v[1], -sy * v[0] + cy * v[2]];
    [cz * v[0] - sz * v[1], sz * v[0] + cz * v[1], v[2]]
}

/// Rodrigues rotation of `v` about the unit `axis` by `phi` (§2.4).
fn rotate_axis(v: V3, axis: V3, phi: f64) -> V3 {
    let (s, c) = phi.sin_cos();
    add(
        add(scale(axis, dot(axis, v) * (1.0 - c)), scale(v, c)),
        scale(cross(axis, v), s),
    )
}

/// The placed detector, from the spec's tables and placement steps.
struct Geometry {
    beam: V3,
    polar: V3,
    fdet: V3,
    sdet: V3,
    odet: V3,
    /// Outer corner of pixel (0,0).
    pix0: V3,
}

impl Geometry {
    /// MOSFLM (BEAM pivot) or XDS (SAMPLE pivot) from §2.1 (basis), §2.2 (beam centre) and §2.4
    /// (placement).
    fn new(p: &Params) -> Geometry {
        let d = &p.detector;
        let px = d.pixel_size;
        let [size_f, size_s] = d.size;
        // (beam, fast, slow, normal, two-theta axis, polarization)
        let (b, f, s, o, t, pol) = match d.convention {
            Convention::Mosflm => (
                [1., 0., 0.],
                [0., 0., 1.],
                [0., -1., 0.],
                [1., 0., 0.],
                [0., 0., -1.],
                [0., 0., 1.],
            ),
            Convention::Xds => (
                [0., 0., 1.],
                [1., 0., 0.],
                [0., 1., 0.],
                [0., 0., 1.],
                [1., 0., 0.],
                [1., 0., 0.],
            ),
            other => panic!("the expectation places MOSFLM and XDS detectors, not {other:?}"),
        };
        let rot = |v: V3| rotate_axis(rotate_xyz(v, d.rotation), t, d.twotheta);
        let ratio = dot(b, rotate_xyz(o, d.rotation));
        let close = (ratio * d.distance).abs();
        let (fdet, sdet, odet) = (rot(f), rot(s), rot(o));
        let pix0 = if d.convention == Convention::Mosflm {
            // BEAM pivot: X is slow, Y fast, both shifted by half a pixel.
            let xbeam = d.beam_center[0].unwrap_or((size_s + px) / 2.0);
            let ybeam = d.beam_center[1].unwrap_or((size_f + px) / 2.0);
            let (fbeam, sbeam) = (ybeam + px / 2.0, xbeam + px / 2.0);
            add(
                add(scale(fdet, -fbeam), scale(sdet, -sbeam)),
                scale(b, close / ratio),
            )
        } else {
            // SAMPLE pivot: the foot of the perpendicular from ORGX/ORGY or the centre.
            let fclose = d.org[0].map_or(size_f / 2.0, |o| (o - 0.5) * px);
            let sclose = d.org[1].map_or(size_s / 2.0, |o| (o - 0.5) * px);
            rot(add(
                add(scale(f, -fclose), scale(s, -sclose)),
                scale(o, close),
            ))
        };
        Geometry {
            beam: b,
            polar: pol,
            fdet,
            sdet,
            odet,
            pix0,
        }
    }

    /// The point `fd`, `sd` metres along fast and slow from the corner.
    fn position(&self, fd: f64, sd: f64) -> V3 {
        add(self.pix0, add(scale(self.fdet, fd), scale(self.sdet, sd)))
    }

    /// Perpendicular distance from the sample to the plane.
    fn close(&self) -> f64 {
        dot(self.pix0, self.odet)
    }
}

/// `|sin(πNh)/sin(πh)|` for integer N, through the identity with δ = h − nearest(h), and N at
/// δ = 0 (the limit).
fn sincg(h: f64, n: f64) -> f64 {
    if n <= 1.0 {
        return 1.0;
    }
    let delta = h - h.round();
    if delta == 0.0 {
        n
    } else {
        ((PI * n * delta).sin() / (PI * delta).sin()).abs()
    }
}

/// Kahn's polarization factor (§3.10).
fn polarization(kahn: f64, incident: V3, diffracted: V3, axis: V3) -> f64 {
    let cos2t = dot(incident, diffracted);
    let sin2t_sqr = 1.0 - cos2t * cos2t;
    let psi = if kahn == 0.0 {
        0.0
    } else {
        let b = unit(cross(axis, incident));
        let e = unit(cross(incident, b));
        -dot(diffracted, b).atan2(dot(diffracted, e))
    };
    0.5 * (1.0 + cos2t * cos2t - kahn * (2.0 * psi).cos() * sin2t_sqr)
}

/// The crystal's real-space axes (m): a cubic or axis-aligned orthorhombic cell in the
/// canonical orientation (or given by diagonal reciprocal vectors), turned by the misset.
fn axes(p: &Params) -> [V3; 3] {
    let lengths = match &p.crystal.lattice {
        Lattice::Cell { lengths, angles } => {
            assert!(angles.iter().all(|&a| a == FRAC_PI_2), "right angles only");
            *lengths
        }
        Lattice::Reciprocal(r) => {
            for (i, v) in r.iter().enumerate() {
                assert!((0..3).all(|j| j == i || v[j] == 0.0), "diagonal only");
            }
            [1.0 / r[0][0], 1.0 / r[1][1], 1.0 / r[2][2]]
        }
    };
    let turn = match p.crystal.misset {
        Misset::None => [0.0; 3],
        Misset::Angles(a) => a,
        Misset::Random { .. } => panic!("the expectation needs a known orientation"),
    };
    [0, 1, 2].map(|i| {
        let mut v = [0.0; 3];
        v[i] = lengths[i];
        rotate_xyz(v, turn)
    })
}

/// The expected image (photons per pixel, row-major) for a square-lattice crystal with
/// default F, one source, no φ sweep or mosaicity, `n` × `n` sub-pixels per pixel. As in
/// nanoBragg (§3.4), ω and the polarization factor are those of the pixel's first sub-pixel and
/// multiply the average of F²·F_latt² over the sub-pixels.
fn oracle(p: &Params, n: usize) -> Vec<f64> {
    let g = Geometry::new(p);
    let [a, b, c] = axes(p);
    let cells = p.crystal.cells;
    let lambda = p.beam.wavelength;
    let d = &p.detector;
    let px = d.pixel_size;
    let sub = px / n as f64;
    let close = g.close();
    let mut out = Vec::with_capacity(d.fpixels * d.spixels);
    for s in 0..d.spixels {
        for f in 0..d.fpixels {
            let (mut acc, mut omega, mut polar) = (0.0, 0.0, 0.0);
            for ss in 0..n {
                for sf in 0..n {
                    let pos = g.position(
                        sub * (f * n + sf) as f64 + sub / 2.0,
                        sub * (s * n + ss) as f64 + sub / 2.0,
                    );
                    let r = norm(pos);
                    let dir = scale(pos, 1.0 / r);
                    if ss == 0 && sf == 0 {
                        omega = px * px * close / (r * r * r);
                        polar = polarization(p.beam.kahn_factor, g.beam, dir, g.polar);
                    }
                    let q = scale(add(dir, scale(g.beam, -1.0)), 1.0 / lambda);
                    let latt = sincg(dot(a, q), cells[0])
                        * sincg(dot(b, q), cells[1])
                        * sincg(dot(c, q), cells[2]);
                    acc += F_CELL * F_CELL * latt * latt;
                }
            }
            out.push(SCALE * acc / (n * n) as f64 * omega * polar);
        }
    }
    out
}

/// Checks every pixel against the expectation; returns the worst error relative to the
/// tolerance's scale. Also applies AT-016's peak criterion: each of the rendered image's
/// [`TOP_PEAKS`] brightest local maxima lies within [`PEAK_DISTANCE`] of an expected one.
fn assert_matches(name: &str, engine: &str, img: &Rendered, expected: &[f64]) -> f64 {
    let peak = expected.iter().cloned().fold(0.0, f64::max);
    assert!(peak > 0.0, "{name}: the expected image is empty");
    let mut worst: f64 = 0.0;
    for (i, (&got, &want)) in img.pixels.iter().zip(expected).enumerate() {
        let err = (f64::from(got) - want).abs();
        let allowed = ORACLE_REL * want + ORACLE_ABS * peak;
        assert!(
            err <= allowed,
            "{name}: {engine} pixel (fast {}, slow {}) is {got:e}, expected {want:e}",
            i % img.width,
            i / img.width
        );
        worst = worst.max(err / (want + peak * ORACLE_ABS / ORACLE_REL));
    }
    let got: Vec<f64> = img.pixels.iter().map(|&v| f64::from(v)).collect();
    let wanted = local_maxima(expected, img.width);
    for &(v, f, s) in local_maxima(&got, img.width).iter().take(TOP_PEAKS) {
        let nearest = wanted
            .iter()
            .filter(|w| w.0 >= PEAK_MATCH * v)
            .map(|&(_, wf, ws)| (wf as f64 - f as f64).hypot(ws as f64 - s as f64))
            .fold(f64::INFINITY, f64::min);
        assert!(
            nearest <= PEAK_DISTANCE,
            "{name}: {engine} peak at (fast {f}, slow {s}) is {nearest} px from the nearest \
             expected peak of comparable brightness"
        );
    }
    worst
}

/// Every local maximum (a pixel above zero and at least as bright as its 8 neighbours) as
/// (value, fast, slow), brightest first.
fn local_maxima(img: &[f64], width: usize) -> Vec<(f64, usize, usize)> {
    let height = img.len() / width;
    let at = |f: usize, s: usize| img[s * width + f];
    let mut peaks: Vec<(f64, usize, usize)> = Vec::new();
    for s in 0..height {
        for f in 0..width {
            let v = at(f, s);
            let is_max = (s.saturating_sub(1)..(s + 2).min(height))
                .all(|ns| (f.saturating_sub(1)..(f + 2).min(width)).all(|nf| at(nf, ns) <= v));
            if v > 0.0 && is_max {
                peaks.push((v, f, s));
            }
        }
    }
    peaks.sort_by(|x, y| y.0.total_cmp(&x.0));
    peaks
}

/// The closed-form solid angle of the detector rectangle seen from the sample: the plane at
/// perpendicular distance c, the rectangle spanning x ∈ [x1, x2], y ∈ [y1, y2] about the foot
/// of the perpendicular, `Ω = Σ ± atan(x·y / (c·sqrt(x² + y² + c²)))` over the corners.
fn rectangle_solid_angle(g: &Geometry, size: [f64; 2]) -> f64 {
    let c = g.close().abs();
    let (f0, s0) = (-dot(g.pix0, g.fdet), -dot(g.pix0, g.sdet));
    let corner = |x: f64, y: f64| (x * y / (c * (x * x + y * y + c * c).sqrt())).atan();
    let (x1, x2) = (-f0, size[0] - f0);
    let (y1, y2) = (-s0, size[1] - s0);
    corner(x2, y2) - corner(x1, y2) - corner(x2, y1) + corner(x1, y1)
}

/// AT-017's "correct ω": the rendered Σω against the rectangle's solid angle. The pixel sum is
/// the midpoint rule of that integral, whose relative error is at most (px²/24)·|Δω/ω| ≤
/// (px²/24)·9/R² ≤ 0.375·(px/R_min)² (R_min: the nearest pixel), allowed twice over.
fn assert_solid_angle(name: &str, p: &Params, pair: &Pair) -> f64 {
    let g = Geometry::new(p);
    let d = &p.detector;
    let px = d.pixel_size;
    let exact = rectangle_solid_angle(&g, d.size);
    let mut r_min = f64::INFINITY;
    for s in 0..d.spixels {
        for f in 0..d.fpixels {
            let pos = g.position((f as f64 + 0.5) * px, (s as f64 + 0.5) * px);
            r_min = r_min.min(norm(pos) - px);
        }
    }
    let allowed = 0.75 * (px / r_min).powi(2);
    for (engine, img) in [("scalar", &pair.scalar), ("SIMD", &pair.simd)] {
        let total = img.omega_sum / pair.setup.steps;
        let err = (total / exact - 1.0).abs();
        assert!(
            err <= allowed,
            "{name}: {engine} solid angle {total:e} sr, the rectangle subtends {exact:e} sr \
             (relative error {err:e}, allowed {allowed:e})"
        );
    }
    (pair.scalar.omega_sum / pair.setup.steps / exact - 1.0).abs()
}

// ---------------------------------------------------------------------------------------------
// AT-016: extremes

/// AT-016 (1): one unit cell (no lattice factor), λ = 0.1 Å, 10 mm, 128² pixels of 0.05 mm.
/// The image is F²·ω·P, a smooth bell around the beam.
#[test]
fn at016_single_cell_short_wavelength() {
    let p = cubic(
        100.0 * ANGSTROM,
        1.0,
        0.1 * ANGSTROM,
        10.0 * MM,
        128,
        0.05 * MM,
    );
    check_case("AT-016(1) N=1 0.1 A 10 mm", &p, DISTANCE);
}

/// AT-016 (2): a 300 Å cell of 10 cells per edge at λ = 6 Å; 64² pixels of 0.4 mm cover the
/// central 25.6 mm of the spec's detector (1024² pixels of 0.1 mm), spots about 5 pixels
/// apart.
#[test]
fn at016_large_cell_long_wavelength() {
    let p = cubic(
        300.0 * ANGSTROM,
        10.0,
        6.0 * ANGSTROM,
        100.0 * MM,
        64,
        0.4 * MM,
    );
    check_case("AT-016(2) 300 A N=10 6 A", &p, WAVELENGTH);
}

/// AT-016 (3): a detector 10 m away (the spec's 256² pixels of 0.2 mm as 64² of 0.8 mm): only
/// the zero-order spot and its side lobes reach it.
#[test]
fn at016_ten_metre_detector() {
    let p = cubic(100.0 * ANGSTROM, 5.0, ANGSTROM, 10.0, 64, 0.8 * MM);
    check_case("AT-016(3) 10 m", &p, DISTANCE);
}

// ---------------------------------------------------------------------------------------------
// AT-017: grazing geometry

/// A 50 Å crystal at λ = 1 Å on 64² pixels of 0.2 mm at 100 mm, partly polarized beam.
fn grazing(convention: Convention, rotation_deg: V3, twotheta_deg: f64) -> Params {
    let mut p = cubic(50.0 * ANGSTROM, 5.0, ANGSTROM, 100.0 * MM, 64, 0.2 * MM);
    p.detector.convention = convention;
    p.detector.rotation = rotation_deg.map(f64::to_radians);
    p.detector.twotheta = twotheta_deg.to_radians();
    p.beam.kahn_factor = 0.9;
    p
}

/// Detector rotations past 45° about each lab axis and combined (MOSFLM, BEAM pivot: the
/// detector turns about the direct-beam spot). roty = 80° leaves the plane 10° from the beam.
#[test]
fn at017_detector_rotations_past_45_degrees() {
    for (rot, knob) in [
        ([50.0, 0.0, 0.0], ROT_X),
        ([0.0, 50.0, 0.0], ROT_Y),
        ([0.0, 80.0, 0.0], ROT_Y),
        ([0.0, 0.0, 80.0], ROT_Z),
        ([50.0, 50.0, 80.0], ROT_Z),
        ([80.0, -80.0, 50.0], ROT_X),
    ] {
        let name = format!("AT-017 rot {rot:?}");
        let p = grazing(Convention::Mosflm, rot, 0.0);
        let pair = check_case(&name, &p, knob);
        let err = assert_solid_angle(&name, &p, &pair);
        println!("{name:<34} solid angle vs rectangle {err:.1e}");
    }
}

/// Two-theta past 60°: MOSFLM pivots about the beam spot (at 89° the plane nearly contains the
/// beam), XDS swings the detector about the sample to 70° and 89° scattering; and two-theta
/// combined with rotations.
#[test]
fn at017_two_theta_past_60_degrees() {
    for (convention, rot, tt) in [
        (Convention::Mosflm, [0.0; 3], 70.0),
        (Convention::Mosflm, [0.0; 3], 89.0),
        (Convention::Xds, [0.0; 3], 70.0),
        (Convention::Xds, [0.0; 3], 89.0),
        (Convention::Xds, [50.0, 0.0, 10.0], 70.0),
        (Convention::Mosflm, [5.0, 50.0, 3.0], 70.0),
    ] {
        let name = format!("AT-017 {convention:?} 2theta {tt} rot {rot:?}");
        let p = grazing(convention, rot, tt);
        let pair = check_case(&name, &p, TWO_THETA);
        let err = assert_solid_angle(&name, &p, &pair);
        println!("{name:<34} solid angle vs rectangle {err:.1e}");
    }
}

// ---------------------------------------------------------------------------------------------
// AT-018: crystal boundaries

/// Pixels exactly on integer h, k, l. With the beam along the cell's a axis and the direct-beam
/// spot on a pixel centre, that pixel has q = 0: h = k = l = 0, where every axis's
/// `sin(πNh)/sin(πh)` is 0/0 with limit N, and the pixel must be `r_e²Φ·F²·N⁶·px²/d²` (ω at
/// normal incidence, P = 1). Its row (along fast, lab z) has k = 0 and its column (along
/// slow, lab −y) l = 0 throughout.
///
/// Two geometries: dyadic lengths (2⁻¹³ m pixels, 2⁻³ m distance, 2⁻²⁷ m cell given as
/// reciprocal vectors, centre 16 pixels), where every position component is exact and q = 0
/// holds bit for bit; and decimal ones (0.1 mm pixels, beam centre 3 mm, 100 mm, 100 Å), where
/// q is zero up to rounding. N = 1, 2 (shortest recurrence), 10, and 100 (above the SIMD
/// engine's recurrence limit, so its sine-ratio branch with the δ = 0 guard).
///
/// Then the beam centre moves by ±t pixels, t = 1e-2 … 1e-8, which puts the pixel on
/// l = ±δ ∝ t: from both sides, its value must never exceed the exact one and must follow the
/// lattice factor's approach to its limit, 1 − I/I(0) = 1 − (sin(πNδ)/(N·sin(πδ)))² ≈
/// π²(N²−1)δ²/3, down to f32 precision — a quadratic convergence onto the exact value.
#[test]
fn at018_exact_integer_indices() {
    let dyadic = |n: f64| {
        let (px, d, a) = (2f64.powi(-13), 2f64.powi(-3), 2f64.powi(-27));
        let mut p = cubic(a, n, 2f64.powi(-33), d, 33, px);
        p.crystal.lattice = Lattice::Reciprocal([
            [1.0 / a, 0.0, 0.0],
            [0.0, 1.0 / a, 0.0],
            [0.0, 0.0, 1.0 / a],
        ]);
        p.detector.beam_center = [Some(16.0 * px), Some(16.0 * px)];
        (p, 16usize)
    };
    let decimal = |n: f64| {
        let mut p = cubic(100.0 * ANGSTROM, n, ANGSTROM, 100.0 * MM, 64, 0.1 * MM);
        p.detector.beam_center = [Some(3.0 * MM), Some(3.0 * MM)];
        (p, 30usize)
    };
    for (kind, make) in [
        ("dyadic", &dyadic as &dyn Fn(f64) -> (Params, usize)),
        ("decimal", &decimal),
    ] {
        for n in [1.0, 2.0, 10.0, 100.0] {
            let name = format!("AT-018 {kind} N={n}");
            let (p, centre) = make(n);
            let pair = check_case(&name, &p, BEAM_Y);
            let d = &p.detector;
            let exact = SCALE * F_CELL * F_CELL * n.powi(6) * (d.pixel_size / d.distance).powi(2);
            let at = |img: &Rendered| f64::from(img.pixels[centre * img.width + centre]);
            for (engine, img) in [("scalar", &pair.scalar), ("SIMD", &pair.simd)] {
                let err = (at(img) / exact - 1.0).abs();
                assert!(
                    err <= F32_TOL,
                    "{name}: {engine} pixel on h = k = l = 0 is {:e}, expected N⁶F²ω = {exact:e}",
                    at(img)
                );
            }
            // Moving Ybeam by t pixels moves the pixel along fast (lab z), onto l = δ with
            // δ = c·t·px/(d·λ) to first order; h and k stay 0 to second order, and ω and P change
            // by ~(t·px/d)² ≤ 1e-10.
            let c = axes(&p)[2][2];
            let mut line = String::new();
            for t in [1e-2, 1e-4, 1e-6, 1e-8] {
                let delta = c * t * d.pixel_size / (d.distance * p.beam.wavelength);
                let predicted = 1.0 - (sincg(delta, n) / n).powi(2);
                for sign in [-1.0, 1.0] {
                    let mut moved = p.clone();
                    let y = d.beam_center[1].expect("explicit beam centre");
                    moved.detector.beam_center[1] = Some(y + sign * t * d.pixel_size);
                    let near = render_both(&name, &moved);
                    for (engine, img) in [("scalar", &near.scalar), ("SIMD", &near.simd)] {
                        let v = at(img);
                        let deviation = 1.0 - v / exact;
                        assert!(
                            v <= exact * (1.0 + F32_TOL)
                                && (deviation - predicted).abs()
                                    <= APPROACH_REL * predicted + F32_TOL,
                            "{name}: {engine} pixel {:+e} px from the exact point is {v:e}: \
                             1 − I/I(0) = {deviation:e}, expected 1 − (F_latt/N)² = {predicted:e}",
                            sign * t
                        );
                    }
                }
                line.push_str(&format!(" {t:.0e}:{predicted:.1e}"));
            }
            println!(
                "{name:<34} exact {exact:.6e}; 1 - I/I(0) at t px (predicted, matched):{line}"
            );
        }
    }
}

/// Orientations on the boundaries of the misset angles: quarter and half turns about every
/// axis leave the cell axes along the lab axes (up to cos(π/2) ≈ 6e-17), with the direct-beam
/// pixel again on h = k = l = 0.
#[test]
fn at018_axis_aligned_missets() {
    for misset in [[90.0, 0.0, 0.0], [0.0, 90.0, 0.0], [90.0, 180.0, -90.0]] {
        let mut p = cubic(
            80.0 * ANGSTROM,
            8.0,
            1.5 * ANGSTROM,
            80.0 * MM,
            48,
            0.15 * MM,
        );
        p.crystal.misset = Misset::Angles(misset.map(f64::to_radians));
        p.detector.beam_center = [Some(3.6 * MM), Some(3.6 * MM)];
        check_case(&format!("AT-018 misset {misset:?}"), &p, WAVELENGTH);
    }
}

// ---------------------------------------------------------------------------------------------
// Further extremes

/// Pixels of 0.1 µm (the top of the zero-order spot, 6.4 µm across) and of 5 mm (32 pixels
/// reaching 2θ ≈ 48° in the corners; at λ = 6 Å the spots are about a pixel apart and a
/// quarter of a pixel wide, each seen only where it crosses a pixel centre).
#[test]
fn tiny_and_huge_pixels() {
    let p = cubic(100.0 * ANGSTROM, 10.0, ANGSTROM, 100.0 * MM, 64, 1e-7);
    check_case("pixel 0.1 um", &p, DISTANCE);
    let p = cubic(
        100.0 * ANGSTROM,
        5.0,
        6.0 * ANGSTROM,
        100.0 * MM,
        32,
        5.0 * MM,
    );
    check_case("pixel 5 mm", &p, DISTANCE);
}

/// λ = 20 Å: with a 100 Å cell only h ≤ 10 can ever diffract (|q| ≤ 2/λ); with an 8 Å cell
/// (λ > 2a) no reflection but (0,0,0) can meet the Ewald sphere, and the detector, out to
/// 2θ ≈ 54°, sees only that spot's tails.
#[test]
fn very_long_wavelength() {
    let p = cubic(
        100.0 * ANGSTROM,
        5.0,
        20.0 * ANGSTROM,
        100.0 * MM,
        64,
        3.0 * MM,
    );
    check_case("lambda 20 A, 100 A cell", &p, WAVELENGTH);
    let p = cubic(
        8.0 * ANGSTROM,
        5.0,
        20.0 * ANGSTROM,
        100.0 * MM,
        64,
        3.0 * MM,
    );
    check_case("lambda 20 A, 8 A cell", &p, WAVELENGTH);
}

/// N = 100 (spots a tenth of a pixel wide, so the automatic 30-fold oversampling) and N = 2.
#[test]
fn huge_and_small_cell_counts() {
    let mut p = cubic(100.0 * ANGSTROM, 100.0, ANGSTROM, 100.0 * MM, 32, 0.1 * MM);
    p.sampling.oversample = None;
    let pair = check_case("N=100 auto oversample", &p, DISTANCE);
    assert_eq!(
        pair.setup.oversample, 30,
        "nanoBragg's rule: ceil(3·1 µm / 0.1 µm)"
    );
    let p = cubic(100.0 * ANGSTROM, 2.0, ANGSTROM, 100.0 * MM, 64, 0.1 * MM);
    check_case("N=2", &p, WAVELENGTH);
}

// ---------------------------------------------------------------------------------------------
// Known bug

/// A non-integer cell count N is refused: nanoBragg counts whole unit cells (`-N` is read with
/// `atoi`, a crystal size is rounded up to whole cells), and `sin(πNh)/sin(πh)` is only periodic
/// in h, as both engines' integer peel assumes, for whole N.
#[test]
fn non_integer_cell_count_is_refused() {
    for n in [2.5, 3.7, 7.5, 16.5, 40.1] {
        let p = cubic(50.0 * ANGSTROM, n, ANGSTROM, 100.0 * MM, 32, 0.2 * MM);
        let e = Setup::new(&p)
            .err()
            .unwrap_or_else(|| panic!("N = {n} accepted"));
        assert_eq!(e.exit_code(), 2, "N = {n}: {e}");
        assert!(e.to_string().contains("-N"), "N = {n}: {e}");
    }
    // Below 1 means 1, as in nanoBragg.
    let p = cubic(50.0 * ANGSTROM, 0.5, ANGSTROM, 100.0 * MM, 32, 0.2 * MM);
    assert_eq!(Setup::new(&p).expect("N = 0.5").crystal.cells, [1.0; 3]);
}
