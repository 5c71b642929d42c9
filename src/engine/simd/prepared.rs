//! What the SIMD loop needs beyond [`Setup`], computed once per render: per-source constants,
//! C's φ-row sequence, the lattice factor's roots and the crystal cells as lane vectors, the
//! hot-loop instance and the structure-factor grid as the lanes address it.

use crate::params::Shape;
use crate::setup::Setup;
use crate::vec3::{self, Vec3};

use super::block::V3;
use super::grid::GridLanes;
use super::hot::{self, PlainSum};
use super::lattice::Lattice;

/// Everything the SIMD loop needs beyond [`Setup`], computed once per render.
pub struct Prepared {
    pub(super) sources: Vec<SourceLanes>,
    /// Orientation row used at each φ step (Q1 under compat for every pixel but the first).
    pub(super) phi_rows: Vec<usize>,
    /// The lattice-factor method of each axis.
    pub(super) lattice: Lattice,
    /// The crystal orientations' vectors a, b, c as lane vectors: memory operands of the hot
    /// loop's multiply-adds instead of a broadcast per component and evaluation.
    pub(super) cells: Vec<[V3; 3]>,
    /// The hot loop of the common case, when the render is one (see `hot::plain_sum`).
    pub(super) plain: Option<PlainSum>,
    /// The structure-factor grid as the lane code addresses it, when there is one.
    pub(super) grid: Option<GridLanes>,
}

impl Prepared {
    /// Hoist the per-source constants and the φ-row sequence.
    pub fn new(setup: &Setup) -> Self {
        let lattice = Lattice::new(setup.crystal.cells);
        let grid = GridLanes::new(setup);
        let plain = (!setup.compat
            && setup.shape == Shape::Square
            && !setup.oversample_thick
            && !setup.oversample_polar
            && !setup.oversample_omega)
            .then(|| hot::plain_kernel(&lattice, &grid, setup.interpolate));
        let cells = setup
            .orientations
            .iter()
            .map(|cell| cell.map(V3::splat))
            .collect();
        Prepared {
            sources: setup
                .sources
                .iter()
                .map(|s| SourceLanes::new(setup, s.incident, s.wavelength))
                .collect(),
            phi_rows: phi_rows(setup),
            lattice,
            cells,
            plain,
            grid,
        }
    }
}

/// Per-source constants.
pub(super) struct SourceLanes {
    /// −î/λ: q = d/λ − î/λ.
    pub(super) minus_inc_over_lambda: Vec3,
    pub(super) inv_lambda: f64,
    pub(super) incident: Vec3,
    /// Polarization frame: B = unit(p̂ × î), E = unit(î × B).
    pub(super) b_in: Vec3,
    pub(super) e_in: Vec3,
    /// Per crystal orientation (a, b, c): (−î/λ)·a, (−î/λ)·b, (−î/λ)·c, so that
    /// h = (d·a)/λ + (−î/λ)·a reuses d·a across sources.
    pub(super) offsets: Vec<[f64; 3]>,
}

impl SourceLanes {
    fn new(setup: &Setup, incident: Vec3, wavelength: f64) -> Self {
        let inv = 1.0 / wavelength;
        let b_in = vec3::unitize(vec3::cross(setup.detector.polar, incident)).0;
        let e_in = vec3::unitize(vec3::cross(incident, b_in)).0;
        let minus_inc_over_lambda = vec3::scale(incident, -inv);
        SourceLanes {
            minus_inc_over_lambda,
            offsets: setup
                .orientations
                .iter()
                .map(|cell| cell.map(|v| vec3::dot(minus_inc_over_lambda, v)))
                .collect(),
            inv_lambda: inv,
            incident,
            b_in,
            e_in,
        }
    }
}

/// The orientation row C uses at each φ step: under compat a step at φ = 0 keeps the last
/// non-zero step's row (spec Q1), starting from `setup.phi_zero_carry`.
fn phi_rows(setup: &Setup) -> Vec<usize> {
    let mut state = setup.phi_zero_carry;
    setup
        .phi
        .iter()
        .enumerate()
        .map(|(k, &phi)| {
            if setup.compat && phi == 0.0 {
                state.unwrap_or(k)
            } else {
                if phi != 0.0 {
                    state = Some(k);
                }
                k
            }
        })
        .collect()
}
