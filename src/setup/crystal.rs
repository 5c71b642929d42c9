//! The crystal lattice: real and reciprocal cell vectors in the lab frame, and the crystal size.
//!
//! Follows nanoBragg.c's "user-specified unit cell" block (units Å and Å⁻¹ here, as in C):
//! 1. From `-cell a b c α β γ`: volume `V = 2abc·sqrt|sin s·sin(s−α)·sin(s−β)·sin(s−γ)|` with
//!    `s = (α+β+γ)/2`, reciprocal lengths `a* = bc·sinα/V` (cyclic), reciprocal angles, and the
//!    canonical orientation `a* ∥ x`, `b*` in the x-y plane. nanoBragg writes the z component of
//!    `c*` as `c*·V/(abc·sinγ*)`, which is wrong for non-orthogonal cells (spec Q19, angles drift
//!    by up to 0.04°); `compat` keeps it, the default uses the exact
//!    `c*·sqrt(1 − cos²β* − ((cosα* − cosβ*cosγ*)/sinγ*)²)`.
//! 2. Or a*, b*, c* from a MOSFLM matrix (already divided by λ).
//! 3. `-misset random`: a rotation from C's generator (`mosaic_rotation_umat(90, seed)`, the 90
//!    being radians as in C), turned into angles by `umat2misset`.
//! 4. `-misset`: rotate a*, b*, c* about x, then y, then z.
//! 5. Real vectors `a = V·(b*×c*)` etc.; for `-cell`, the cross products are first rescaled so
//!    the real lengths are exactly a, b, c. Then the reciprocal vectors are regenerated from the
//!    real ones.
//! 6. Crystal size: `Na = ceil(size_a/|a|)` where a size is given, then `N ≥ 1`.

use crate::cfmt;
use crate::params::{Lattice, Misset, Params};
use crate::rng::{self, NrRng};
use crate::vec3::{self, Vec3};

/// The crystal after setup.
#[derive(Clone, Debug)]
pub struct CrystalSetup {
    /// Real-space a, b, c at φ = 0 without mosaic rotation (m).
    pub real: [Vec3; 3],
    /// Reciprocal a*, b*, c* (Å⁻¹), used by the Gaussian and top-hat spot radius.
    pub reciprocal_per_angstrom: [Vec3; 3],
    /// Unit cells along a, b, c (≥ 1).
    pub cells: [f64; 3],
    /// Crystal edge lengths along a, b, c (m).
    pub size: [f64; 3],
    /// Misset angles applied (rad), for the log.
    pub misset: Option<[f64; 3]>,
    /// Console notes.
    pub log: Vec<String>,
}

fn reciprocal_from_cell(
    lengths_a: [f64; 3],
    ang: [f64; 3],
    compat: bool,
    log: &mut Vec<String>,
) -> ([Vec3; 3], f64) {
    let [a, b, c] = lengths_a;
    let [al, be, ga] = ang;
    let s = (al + be + ga) / 2.0;
    let skew = (s.sin() * (s - al).sin() * (s - be).sin() * (s - ga).sin()).abs();
    let mut v = 2.0 * a * b * c * skew.sqrt();
    if v <= 0.0 {
        log.push(format!(
            "WARNING: impossible unit cell volume: {}",
            cfmt::g(v)
        ));
        v = f64::MIN_POSITIVE;
    }
    let vs = 1.0 / v;
    let mut ast = (b * c * al.sin() * vs).abs().max(f64::MIN_POSITIVE);
    let mut bst = (c * a * be.sin() * vs).abs().max(f64::MIN_POSITIVE);
    let mut cst = (a * b * ga.sin() * vs).abs().max(f64::MIN_POSITIVE);
    if !ast.is_finite() || !bst.is_finite() || !cst.is_finite() {
        (ast, bst, cst) = (1.0 / a, 1.0 / b, 1.0 / c);
    }
    let sin_gs = (c * vs / ast / bst).clamp(-1.0, 1.0);
    let cos_as = (be.cos() * ga.cos() - al.cos()) / (be.sin() * ga.sin());
    let cos_bs = (ga.cos() * al.cos() - be.cos()) / (ga.sin() * al.sin());
    let cos_gs = (al.cos() * be.cos() - ga.cos()) / (al.sin() * be.sin());
    let clamp_cos = |x: f64| if x * x > 1.0 { 1.0 } else { x };
    let (cos_as, cos_bs, cos_gs) = (clamp_cos(cos_as), clamp_cos(cos_bs), clamp_cos(cos_gs));
    let cz = if compat {
        cst * v / (a * b * c * sin_gs)
    } else {
        let t = (cos_as - cos_bs * cos_gs) / sin_gs;
        cst * (1.0 - cos_bs * cos_bs - t * t).max(0.0).sqrt()
    };
    (
        [
            [ast, 0.0, 0.0],
            [bst * cos_gs, bst * sin_gs, 0.0],
            [cst * cos_bs, cst * (cos_as - cos_bs * cos_gs) / sin_gs, cz],
        ],
        v,
    )
}

fn angle(sin: f64, cos: f64) -> f64 {
    let s = sin.clamp(-1.0, 1.0);
    let c = if cos * cos > 1.0 { 1.0 } else { cos };
    s.atan2(c)
}

/// Build the lattice. `beam_size` clips the crystal size along b and c as nanoBragg does.
pub fn build(p: &Params) -> CrystalSetup {
    let mut log = Vec::new();
    let compat = p.compat;
    let (mut recip, user_cell) = match &p.crystal.lattice {
        Lattice::Cell { lengths, angles } => {
            let la = lengths.map(|x| x * 1e10);
            let (r, v) = reciprocal_from_cell(la, *angles, compat, &mut log);
            (r, Some((la, v)))
        }
        Lattice::Reciprocal(r) => (r.map(|v| vec3::scale(v, 1e-10)), None),
    };

    let misset = misset_angles(p, &mut log);
    if let Some([rx, ry, rz]) = misset {
        recip = recip.map(|v| vec3::rotate_xyz(v, rx, ry, rz));
    }

    let [ast, bst, cst] = recip;
    let mut bxc = vec3::cross(bst, cst);
    let mut cxa = vec3::cross(cst, ast);
    let mut axb = vec3::cross(ast, bst);
    let mut v_star = vec3::dot(ast, bxc);
    if let Some(([a, b, c], v)) = user_cell {
        bxc = vec3::scale(vec3::unitize(bxc).0, a / v);
        cxa = vec3::scale(vec3::unitize(cxa).0, b / v);
        axb = vec3::scale(vec3::unitize(axb).0, c / v);
        v_star = 1.0 / v;
    }
    let v_cell = 1.0 / v_star;
    let real_a = [
        vec3::scale(bxc, v_cell),
        vec3::scale(cxa, v_cell),
        vec3::scale(axb, v_cell),
    ];
    let recip = [
        vec3::scale(vec3::cross(real_a[1], real_a[2]), v_star),
        vec3::scale(vec3::cross(real_a[2], real_a[0]), v_star),
        vec3::scale(vec3::cross(real_a[0], real_a[1]), v_star),
    ];
    report_cell(&real_a, &recip, v_cell, v_star, &mut log);

    let real = real_a.map(|v| vec3::scale(v, 1e-10));
    let cells = cell_counts(p, &real, &mut log);
    let size = [0, 1, 2].map(|i| vec3::norm(real[i]) * cells[i]);
    let g = cfmt::g;
    log.push(format!(
        "crystal is {} x {} x {} microns",
        g(size[0] * 1e6),
        g(size[1] * 1e6),
        g(size[2] * 1e6)
    ));
    CrystalSetup {
        real,
        reciprocal_per_angstrom: recip,
        cells,
        size,
        misset,
        log,
    }
}

/// The misset angles (rad): as given, or C's random orientation from the seed (logged).
fn misset_angles(p: &Params, log: &mut Vec<String>) -> Option<[f64; 3]> {
    match p.crystal.misset {
        Misset::None => None,
        Misset::Angles(a) => Some(a),
        Misset::Random { seed } => {
            let mut rng = NrRng::new();
            let mut s = -seed;
            let u = rng::mosaic_rotation_umat(&mut rng, 90.0, &mut s);
            let a = rng::umat2misset(&u);
            log.push(format!(
                "random orientation misset angles: {} {} {} deg",
                cfmt::f_prec(a[0].to_degrees(), 6),
                cfmt::f_prec(a[1].to_degrees(), 6),
                cfmt::f_prec(a[2].to_degrees(), 6)
            ));
            Some(a)
        }
    }
}

/// nanoBragg's console report of the cell: lengths and angles of the real and reciprocal cells,
/// the volume, and both sets of vectors (Å, Å⁻¹).
fn report_cell(
    real_a: &[Vec3; 3],
    recip: &[Vec3; 3],
    v_cell: f64,
    v_star: f64,
    log: &mut Vec<String>,
) {
    let len = real_a.map(vec3::norm);
    let rlen = recip.map(vec3::norm);
    let cell_angle = |i: usize, j: usize, k: usize| {
        angle(
            rlen[i] * v_cell / len[j] / len[k],
            vec3::dot(real_a[j], real_a[k]) / len[j] / len[k],
        )
        .to_degrees()
    };
    let recip_angle = |i: usize, j: usize, k: usize| {
        angle(
            len[i] * v_star / rlen[j] / rlen[k],
            vec3::dot(recip[j], recip[k]) / rlen[j] / rlen[k],
        )
        .to_degrees()
    };
    let g = cfmt::g;
    log.push(format!(
        "Unit Cell: {} {} {} {} {} {}",
        g(len[0]),
        g(len[1]),
        g(len[2]),
        g(cell_angle(0, 1, 2)),
        g(cell_angle(1, 0, 2)),
        g(cell_angle(2, 0, 1))
    ));
    log.push(format!(
        "Recp Cell: {} {} {} {} {} {}",
        g(rlen[0]),
        g(rlen[1]),
        g(rlen[2]),
        g(recip_angle(0, 1, 2)),
        g(recip_angle(1, 0, 2)),
        g(recip_angle(2, 0, 1))
    ));
    log.push(format!("volume = {} A^3", g(v_cell)));
    let table = |title: &str, names: [&str; 3], v: &[Vec3; 3], log: &mut Vec<String>| {
        log.push(title.to_string());
        log.push(format!(
            "     {:<10}  {:<10}  {:<10}",
            names[0], names[1], names[2]
        ));
        for (axis, i) in [("X", 0), ("Y", 1), ("Z", 2)] {
            log.push(format!(
                "{axis}: {:>11} {:>11} {:>11}",
                cfmt::f_prec(v[0][i], 8),
                cfmt::f_prec(v[1][i], 8),
                cfmt::f_prec(v[2][i], 8)
            ));
        }
    };
    table(
        "real-space cell vectors (Angstrom):",
        ["a", "b", "c"],
        real_a,
        log,
    );
    table(
        "reciprocal-space cell vectors (Angstrom^-1):",
        ["a_star", "b_star", "c_star"],
        recip,
        log,
    );
}

/// Unit cells per axis: from the crystal size (clipped by the beam) when given, else `-N`; at
/// least 1.
fn cell_counts(p: &Params, real: &[Vec3; 3], log: &mut Vec<String>) -> [f64; 3] {
    let g = cfmt::g;
    let mut sizes = p.crystal.size;
    if p.beam.beam_size >= 0.0 {
        for (i, what) in [(1usize, "high"), (2, "wide")] {
            if let Some(s) = sizes[i]
                && p.beam.beam_size < s
            {
                log.push(format!(
                    "WARNING: clipping sample ({} m {what}) with beam ({} m)",
                    g(s),
                    g(p.beam.beam_size)
                ));
                sizes[i] = Some(p.beam.beam_size);
            }
        }
    }
    let mut cells = p.crystal.cells;
    for i in 0..3 {
        if let Some(s) = sizes[i]
            && s > 0.0
        {
            cells[i] = (s / vec3::norm(real[i])).ceil();
        }
        if cells[i] <= 1.0 || cells[i].is_nan() {
            cells[i] = 1.0;
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Lattice;

    fn params(cell: [f64; 6], compat: bool) -> Params {
        let mut p = Params::default();
        p.crystal.lattice = Lattice::cell(
            cell[0] * 1e-10,
            cell[1] * 1e-10,
            cell[2] * 1e-10,
            cell[3].to_radians(),
            cell[4].to_radians(),
            cell[5].to_radians(),
        );
        p.compat = compat;
        p
    }

    fn angle_deg(u: Vec3, v: Vec3) -> f64 {
        (vec3::dot(u, v) / vec3::norm(u) / vec3::norm(v))
            .acos()
            .to_degrees()
    }

    #[test]
    fn exact_triclinic_cell_by_default() {
        let c = build(&params([70.0, 80.0, 90.0, 75.0, 85.0, 95.0], false));
        let [a, b, cc] = c.real;
        assert!((vec3::norm(a) - 70e-10).abs() < 1e-20);
        assert!((angle_deg(b, cc) - 75.0).abs() < 1e-9);
        assert!((angle_deg(a, cc) - 85.0).abs() < 1e-9);
        assert!((angle_deg(a, b) - 95.0).abs() < 1e-9);
        // Reciprocal and real bases are dual: a·a* = 1 (Å units).
        let r = c.reciprocal_per_angstrom;
        assert!((vec3::dot(vec3::scale(a, 1e10), r[0]) - 1.0).abs() < 1e-12);
        assert!(vec3::dot(vec3::scale(a, 1e10), r[1]).abs() < 1e-12);
    }

    #[test]
    fn compat_reproduces_the_angle_drift() {
        let c = build(&params([70.0, 80.0, 90.0, 75.0, 85.0, 95.0], true));
        let [a, b, cc] = c.real;
        // Lengths stay exact, the angles drift (nanoBragg.c's canonical c*_z).
        assert!((vec3::norm(cc) - 90e-10).abs() < 1e-20);
        let drift = [
            angle_deg(b, cc) - 75.0,
            angle_deg(a, cc) - 85.0,
            angle_deg(a, b) - 95.0,
        ];
        assert!(drift.iter().any(|d| d.abs() > 1e-3), "{drift:?}");
        assert!(drift.iter().all(|d| d.abs() < 0.1), "{drift:?}");
    }

    #[test]
    fn cubic_cell_is_axis_aligned() {
        let c = build(&params([100.0, 100.0, 100.0, 90.0, 90.0, 90.0], false));
        assert!((c.real[0][0] - 100e-10).abs() < 1e-22);
        assert!(c.real[0][1].abs() < 1e-22 && c.real[1][0].abs() < 1e-22);
    }
}
