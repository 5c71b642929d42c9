//! The amorphous structure factor F(sinθ/λ) of one molecule, and its interpolation.
//!
//! A table file (`-stol`, `-4stol`, `-Q`) holds two columns, the abscissa and F (see
//! the module `text` for the syntax). The abscissa is converted to sinθ/λ in m⁻¹ with the
//! option's multiplier (C's `stol_file_mult`: 10¹⁰ for `-stol`, 10¹⁰/4 for `-4stol`,
//! 10¹⁰/π/4 for `-Q`). A missing F reads as 0 but does not count as a valid value.
//!
//! C then adds two padding nodes at each end: sinθ/λ = −10⁹⁹ and −10⁹⁸ carrying the first
//! valid F, 10⁹⁸ and 10⁹⁹ carrying the last valid F. F at a point is the Lagrange cubic
//! through the four nodes `nearest−1 … nearest+2`, `nearest` being the last node at or below
//! the point. Because the padding nodes are so far away, the curve is the quadratic through
//! the first three (last three) data nodes in the first (last) interval and the straight line
//! through the first (last) two data nodes beyond the table, not a constant.
//!
//! C finds `nearest` by walking from the previous pixel's node (quirk NB15): for a table
//! whose abscissae increase strictly, and a finite point below 10⁹⁸, that walk ends on the
//! same node as a search from scratch, so [`StolTable::interpolate`] searches per point (a
//! bucket index over the data range, then a short walk) and is independent of pixel order.
//! For any other table (only `-compat` accepts one) the render walks as C does, serially, with
//! [`StolTable::interpolate_c`].
//!
//! For speed each interval's cubic is stored in power form about one of its data nodes,
//! `F = c0 + t(c1 + t(c2 + t·c3))`, computed once from the Lagrange form; it agrees with C's
//! `polint` to rounding.

use std::path::Path;

use super::text::{c_rows, strict_rows};
use crate::error::{Error, Result};

/// The abscissa of a table file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableUnit {
    /// `-stol`: sinθ/λ in Å⁻¹.
    Stol,
    /// `-4stol`: 4·sinθ/λ in Å⁻¹.
    FourStol,
    /// `-Q`: Q = 4π·sinθ/λ in Å⁻¹.
    Q,
}

impl TableUnit {
    /// The factor from the file's abscissa to sinθ/λ in m⁻¹ (C's `stol_file_mult`).
    pub fn multiplier(self) -> f64 {
        match self {
            TableUnit::Stol => 1e10,
            TableUnit::FourStol => 1e10 / 4.0,
            TableUnit::Q => 1e10 / std::f64::consts::PI / 4.0,
        }
    }

    /// The option that reads a table in this unit.
    pub fn option(self) -> &'static str {
        match self {
            TableUnit::Stol => "-stol",
            TableUnit::FourStol => "-4stol",
            TableUnit::Q => "-Q",
        }
    }
}

/// Padding nodes: C's −10⁹⁹, −10⁹⁸ below the data and 10⁹⁸, 10⁹⁹ above.
const PAD: [f64; 2] = [1e99, 1e98];

/// NaN entries kept after the last node: C's arrays are NaN up to 10 entries past the data,
/// and its walk can read two of them.
const TAIL: usize = 3;

/// One interval between nodes, as the search and the evaluation read it (one cache line).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(super) struct Interval {
    /// The node abscissa at the start and at the end.
    pub lo: f64,
    pub hi: f64,
    /// The cubic `c0 + t(c1 + t(c2 + t·c3))` in `t = x − base`: `[base, c0, c1, c2, c3]`.
    pub cubic: [f64; 5],
}

/// Most buckets of the search index.
const MAX_BUCKETS: usize = 1 << 21;

/// The structure-factor table, padded as C pads it, with its search index.
#[derive(Clone, Debug)]
pub struct StolTable {
    /// Node abscissae, sinθ/λ in m⁻¹ (C's `stol_of`), padding included, then [`TAIL`] NaN.
    x: Vec<f64>,
    /// Node F values (C's `Fbg_of`), same layout.
    f: Vec<f64>,
    /// Nodes including padding (C's `stols`).
    nodes: usize,
    /// The abscissa multiplier.
    mult: f64,
    /// Whether the node abscissae increase strictly (then the per-point search is C's).
    increasing: bool,
    /// The interval starting at node `i` (`i` = 1 … nodes−3) at index `i−1`: its ends and
    /// its power-form cubic.
    intervals: Vec<Interval>,
    /// Bucket index: `start[b]` is the last node at or below `lo + b/inv_h`. The buckets are
    /// no wider than the closest two data nodes (up to 2²¹ buckets), so that a point is at
    /// most one node away from its bucket's.
    start: Vec<u32>,
    /// Whether every bucket is narrower than the closest two nodes (not capped): then the
    /// node of a point is one of four around its bucket's.
    fine: bool,
    /// First data abscissa.
    lo: f64,
    /// Buckets per m⁻¹.
    inv_h: f64,
}

impl StolTable {
    /// Reads a table file. Default mode (`compat` false): the strict syntax, abscissae
    /// strictly increasing, every error naming the file and line. `-compat`: C's reader,
    /// anything C accepts (see the module `text`).
    pub fn read(path: &Path, unit: TableUnit, compat: bool) -> Result<StolTable> {
        let bytes = crate::io::read_input(path)?;
        if compat {
            let rows = c_rows(&bytes, 2);
            let points: Vec<(f64, f64)> = rows.iter().map(|(_, v)| (v[0], v[1])).collect();
            return Self::from_c_points(&points, unit).map_err(|reason| Error::Format {
                path: path.to_path_buf(),
                reason,
            });
        }
        let rows = strict_rows(path, &bytes, 2, "stol F")?;
        let mut prev: Option<(usize, f64)> = None;
        for row in &rows {
            let x = row.values[0].unwrap_or(f64::NAN);
            if let Some((line, p)) = prev
                && x <= p
            {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line: row.line,
                    reason: format!(
                        "abscissa {x} is not above {p} on line {line}: the table must be \
                         sorted by increasing {}",
                        unit.option().trim_start_matches('-')
                    ),
                });
            }
            prev = Some((row.line, x));
        }
        let points: Vec<(f64, Option<f64>)> = rows
            .iter()
            .map(|r| (r.values[0].unwrap_or(f64::NAN), r.values[1]))
            .collect();
        Self::from_points(&points, unit).map_err(|reason| Error::Format {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// A table from `(abscissa, F)` points in the file's unit, `None` for a missing F. The
    /// abscissae must be finite and increase strictly, and at least one F must be given.
    pub fn from_points(
        points: &[(f64, Option<f64>)],
        unit: TableUnit,
    ) -> std::result::Result<StolTable, String> {
        if let Some(w) = points
            .windows(2)
            .find(|w| !w[0].0.is_finite() || !w[1].0.is_finite() || w[1].0 <= w[0].0)
        {
            return Err(format!(
                "abscissae must be finite and increase strictly ({} then {})",
                w[0].0, w[1].0
            ));
        }
        if points
            .iter()
            .any(|p| !p.0.is_finite() || p.1.is_some_and(|f| !f.is_finite()))
        {
            return Err("every value must be finite".into());
        }
        let c: Vec<(f64, f64)> = points
            .iter()
            .map(|&(x, f)| (x, f.unwrap_or(f64::NAN)))
            .collect();
        Self::from_c_points(&c, unit)
    }

    /// A table from C's rows (NaN F = missing), in any order (`-compat`).
    fn from_c_points(points: &[(f64, f64)], unit: TableUnit) -> std::result::Result<Self, String> {
        if points.is_empty() {
            return Err("no data in the table (expected lines of abscissa and F)".into());
        }
        if points.len() > (u32::MAX as usize) / 2 {
            return Err(format!("{} points is too many", points.len()));
        }
        let valid = || points.iter().map(|p| p.1).filter(|f| !f.is_nan());
        let (Some(f_low), Some(f_high)) = (valid().next(), valid().next_back()) else {
            return Err("no F value in the table (every line lacks its second column)".into());
        };
        let mult = unit.multiplier();
        let nodes = points.len() + 4;
        let mut x = Vec::with_capacity(nodes + TAIL);
        let mut f = Vec::with_capacity(nodes + TAIL);
        x.extend([-PAD[0], -PAD[1]]);
        f.extend([f_low, f_low]);
        for &(px, pf) in points {
            x.push(px * mult);
            f.push(if pf.is_nan() { 0.0 } else { pf });
        }
        x.extend(PAD.iter().rev());
        f.extend([f_high, f_high]);
        x.extend([f64::NAN; TAIL]);
        f.extend([f64::NAN; TAIL]);
        let increasing = x[..nodes].windows(2).all(|w| w[0] < w[1]);
        let intervals = (1..=nodes - 3)
            .map(|i| Interval {
                lo: x[i],
                hi: x[i + 1],
                cubic: power_form(&x, &f, i, nodes),
            })
            .collect();
        let mut table = StolTable {
            x,
            f,
            nodes,
            mult,
            increasing,
            intervals,
            start: Vec::new(),
            fine: false,
            lo: 0.0,
            inv_h: 0.0,
        };
        if increasing {
            table.build_index();
        }
        Ok(table)
    }

    /// The bucket index over the data range: buckets no wider than the closest data nodes.
    fn build_index(&mut self) {
        let (lo, hi) = (self.x[2], self.x[self.nodes - 3]);
        let gap = self.x[2..self.nodes - 2]
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        let buckets = ((hi - lo) / gap).ceil() + 1.0;
        let fine = buckets.is_finite() && buckets <= MAX_BUCKETS as f64;
        let buckets = if buckets.is_finite() {
            (buckets as usize).clamp(1, MAX_BUCKETS)
        } else {
            1
        };
        let inv_h = if hi > lo {
            buckets as f64 / (hi - lo)
        } else {
            0.0
        };
        let inv_h = if inv_h.is_finite() { inv_h } else { 0.0 };
        let mut start = Vec::with_capacity(buckets + 1);
        let mut i = 1usize;
        for b in 0..=buckets {
            let at = if inv_h > 0.0 {
                lo + b as f64 / inv_h
            } else {
                lo
            };
            while i + 1 < self.nodes && self.x[i + 1] <= at {
                i += 1;
            }
            start.push(i as u32);
        }
        self.start = start;
        self.fine = fine && inv_h > 0.0;
        self.lo = lo;
        self.inv_h = inv_h;
    }

    /// Nodes including the four padding nodes (C's `stols`, printed as "initialized F
    /// points").
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The abscissa multiplier to m⁻¹ of the file's unit.
    pub fn multiplier(&self) -> f64 {
        self.mult
    }

    /// Whether the abscissae increase strictly (always, outside `-compat`).
    pub fn is_increasing(&self) -> bool {
        self.increasing
    }

    /// Node `i` (padding included): sinθ/λ in m⁻¹ and F (missing F as 0).
    pub fn node(&self, i: usize) -> (f64, f64) {
        (
            self.x.get(i).copied().unwrap_or(f64::NAN),
            self.f.get(i).copied().unwrap_or(f64::NAN),
        )
    }

    /// The last node at or below `stol` (m⁻¹), kept within 1 … nodes−3 so that the four
    /// interpolation nodes exist. For a strictly increasing table and a finite `stol` below
    /// 10⁹⁸ this is the node C's walk finds (NaN gives node 1 or 2; F is NaN then).
    #[inline]
    pub fn nearest(&self, stol: f64) -> usize {
        let last = self.nodes - 3;
        if !self.increasing {
            // Not used by the render; a plain scan for completeness.
            return (1..=last).rev().find(|&i| self.x[i] <= stol).unwrap_or(1);
        }
        self.nearest_from(self.bucket(stol), stol)
    }

    /// The bucket of `stol`: `(stol − lo)·inv_h` (computed by the caller, possibly on lanes).
    #[inline(always)]
    pub(super) fn bucket(&self, stol: f64) -> f64 {
        (stol - self.lo) * self.inv_h
    }

    /// The search data for lanes: the first data abscissa and buckets per m⁻¹.
    #[inline(always)]
    pub(super) fn bucket_scale(&self) -> (f64, f64) {
        (self.lo, self.inv_h)
    }

    /// [`StolTable::nearest`] of a strictly increasing table from the bucket position `b`
    /// (`(stol − lo)·inv_h`). With fine buckets (no wider than the closest two nodes), the
    /// bucket's node `i` (the last at or below the bucket's start) is at most one node past
    /// the point's, and at most two before it (one within the bucket, one more where rounding
    /// put the point in the bucket below its own): the node is `i − 1` plus the number of
    /// nodes `i … i+2` at or below the point, found without a branch. Otherwise (buckets
    /// capped) a walk from `i`.
    #[inline(always)]
    pub(super) fn nearest_from(&self, b: f64, stol: f64) -> usize {
        let last = self.nodes - 3;
        // NaN and negative become bucket 0 (the cast saturates), huge ones the last bucket.
        let b = (b as usize).min(self.start.len() - 1);
        let mut i = self.start[b] as usize;
        if self.fine {
            // start[b] ≥ 2 and ≤ nodes−3, and x has NaN after its last node.
            let x = &self.x[i..i + 3];
            let below =
                usize::from(x[0] <= stol) + usize::from(x[1] <= stol) + usize::from(x[2] <= stol);
            return (i - 1 + below).clamp(1, last);
        }
        while i > 1 && self.x[i] > stol {
            i -= 1;
        }
        while i < last && self.x[i + 1] <= stol {
            i += 1;
        }
        i
    }

    /// F at `stol` (sinθ/λ in m⁻¹): the cubic of the interval [`StolTable::nearest`] finds.
    #[inline]
    pub fn interpolate(&self, stol: f64) -> f64 {
        eval(&self.intervals[self.nearest(stol) - 1].cubic, stol)
    }

    /// The power-form cubic of the interval starting at node `nearest` (1 … nodes−3).
    #[inline(always)]
    pub(super) fn cubic(&self, nearest: usize) -> &[f64; 5] {
        &self.intervals[nearest - 1].cubic
    }

    /// F at `stol` exactly as C finds it: walk `nearest` (kept by the caller from point to
    /// point, 0 at the start) up while the point lies above its node, then down while below,
    /// and evaluate C's `polint` on the four nodes from `nearest−1` (NaN beyond the arrays).
    pub fn interpolate_c(&self, nearest: &mut usize, stol: f64) -> f64 {
        let x = |i: usize| self.x.get(i).copied().unwrap_or(f64::NAN);
        while stol > x(*nearest) && *nearest <= self.nodes {
            *nearest += 1;
        }
        while stol < x(*nearest) && *nearest >= 2 {
            *nearest -= 1;
        }
        let at = |i: usize, v: &Vec<f64>| {
            (*nearest + i)
                .checked_sub(1)
                .and_then(|k| v.get(k))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let xa = [
            at(0, &self.x),
            at(1, &self.x),
            at(2, &self.x),
            at(3, &self.x),
        ];
        let ya = [
            at(0, &self.f),
            at(1, &self.f),
            at(2, &self.f),
            at(3, &self.f),
        ];
        polint(&xa, &ya, stol)
    }
}

/// C's `polint`: the Lagrange cubic through four points, term by term in C's order.
pub fn polint(xa: &[f64; 4], ya: &[f64; 4], x: f64) -> f64 {
    let x0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0]
        / ((xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]));
    let x1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1]
        / ((xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]));
    let x2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2]
        / ((xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]));
    let x3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3]
        / ((xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]));
    x0 + x1 + x2 + x3
}

/// The cubic through nodes `i−1 … i+2` in power form about a data node (node `i`, or node 2
/// for the first interval whose node 1 is padding): `[base, c0, c1, c2, c3]`.
fn power_form(x: &[f64], f: &[f64], i: usize, nodes: usize) -> [f64; 5] {
    let base = x[i.clamp(2, nodes - 3)];
    let xs = [x[i - 1], x[i], x[i + 1], x[i + 2]];
    let ys = [f[i - 1], f[i], f[i + 1], f[i + 2]];
    let mut c = [0.0f64; 4];
    for k in 0..4 {
        let others = match k {
            0 => [1, 2, 3],
            1 => [0, 2, 3],
            2 => [0, 1, 3],
            _ => [0, 1, 2],
        };
        let den: f64 = others.iter().map(|&j| xs[k] - xs[j]).product();
        let w = ys[k] / den;
        let [a, b, d] = [
            xs[others[0]] - base,
            xs[others[1]] - base,
            xs[others[2]] - base,
        ];
        // w·(t−a)(t−b)(t−d) = w·(t³ − (a+b+d)t² + (ab+ad+bd)t − abd), the huge padding
        // offsets multiplied by w first so that nothing overflows.
        c[3] += w;
        c[2] -= w * a + w * b + w * d;
        c[1] += (w * a) * b + (w * a) * d + (w * b) * d;
        c[0] -= (w * a) * b * d;
    }
    [base, c[0], c[1], c[2], c[3]]
}

/// Evaluate a power-form cubic at `x`.
#[inline(always)]
fn eval(p: &[f64; 5], x: f64) -> f64 {
    let t = x - p[0];
    p[1] + t * (p[2] + t * (p[3] + t * p[4]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(points: &[(f64, Option<f64>)]) -> StolTable {
        StolTable::from_points(points, TableUnit::Stol).unwrap()
    }

    #[test]
    fn padding_and_missing_values() {
        let t = table(&[
            (0.0, None),
            (0.01, Some(3.0)),
            (0.02, None),
            (0.03, Some(-1.0)),
        ]);
        assert_eq!(t.nodes(), 8);
        assert_eq!(t.node(0), (-1e99, 3.0));
        assert_eq!(t.node(1), (-1e98, 3.0));
        assert_eq!(
            t.node(2),
            (0.0, 0.0),
            "a missing F is 0 but not the low-angle F"
        );
        assert_eq!(t.node(3), (0.01 * 1e10, 3.0));
        assert_eq!(t.node(4).1, 0.0);
        assert_eq!(t.node(6), (1e98, -1.0));
        assert_eq!(t.node(7), (1e99, -1.0));
        assert!(t.node(8).0.is_nan());
        let e = StolTable::from_points(&[(0.0, None)], TableUnit::Stol).unwrap_err();
        assert!(e.contains("no F value"), "{e}");
        let e = StolTable::from_points(&[(0.1, Some(1.0)), (0.1, Some(2.0))], TableUnit::Q)
            .unwrap_err();
        assert!(e.contains("increase strictly"), "{e}");
        assert!(StolTable::from_points(&[], TableUnit::Stol).is_err());
    }

    #[test]
    fn units() {
        let q = StolTable::from_points(&[(1.0, Some(1.0))], TableUnit::Q).unwrap();
        assert_eq!(q.node(2).0, 1.0 * (1e10 / std::f64::consts::PI / 4.0));
        let s4 = StolTable::from_points(&[(1.0, Some(1.0))], TableUnit::FourStol).unwrap();
        assert_eq!(s4.node(2).0, 2.5e9);
    }

    /// Inside the table (four data nodes around the point) a cubic is reproduced exactly,
    /// whatever the spacing; the power form agrees with C's `polint` everywhere.
    #[test]
    fn cubics_are_reproduced() {
        let p = |s: f64| 2.5 - 30.0 * s + 400.0 * s * s - 2000.0 * s * s * s;
        let xs = [
            0.0, 0.004, 0.01, 0.013, 0.02, 0.031, 0.04, 0.05, 0.052, 0.07,
        ];
        let t = table(&xs.map(|s| (s, Some(p(s)))));
        for k in 0..=600 {
            let s = 0.004 + (0.052 - 0.004) * k as f64 / 600.0;
            let f = t.interpolate(s * 1e10);
            assert!((f - p(s)).abs() < 1e-9, "{s}: {f} vs {}", p(s));
            let mut near = 0;
            let c = t.interpolate_c(&mut near, s * 1e10);
            assert!((c - f).abs() < 1e-9 * (1.0 + f.abs()), "{s}: {c} vs {f}");
        }
    }

    /// Beyond the data the padding makes C's curve the line through the two outer nodes,
    /// and the first interval the quadratic through the first three.
    #[test]
    fn ends_extrapolate_linearly() {
        let t = table(&[
            (0.1, Some(4.0)),
            (0.2, Some(3.0)),
            (0.3, Some(1.0)),
            (0.4, Some(0.5)),
        ]);
        let f = |s: f64| t.interpolate(s * 1e10);
        assert!((f(0.5) - 0.0).abs() < 1e-9, "{}", f(0.5));
        assert!((f(0.05) - 4.5).abs() < 1e-9, "{}", f(0.05));
        assert!((f(0.0) - 5.0).abs() < 1e-9);
        // quadratic through (0.1,4) (0.2,3) (0.3,1) at 0.15: 3.625
        assert!((f(0.15) - 3.625).abs() < 1e-9, "{}", f(0.15));
        for s in [0.0, 0.05, 0.15, 0.35, 0.45, 0.9] {
            let mut near = 0;
            let c = t.interpolate_c(&mut near, s * 1e10);
            assert!((c - f(s)).abs() < 1e-9, "{s}: {c} vs {}", f(s));
        }
        let one = table(&[(0.2, Some(7.0))]);
        for s in [0.0, 0.2, 0.3, 5.0] {
            assert!((one.interpolate(s * 1e10) - 7.0).abs() < 1e-9);
        }
    }

    /// Nodes a million times closer in one place than elsewhere cap the buckets: the search
    /// walks and still finds the node.
    #[test]
    fn capped_buckets_still_search_exactly() {
        let mut pts: Vec<(f64, Option<f64>)> = vec![(0.0, Some(1.0)), (1e-7, Some(2.0))];
        pts.extend((1..50).map(|k| (k as f64 * 0.1, Some(1.0))));
        let t = table(&pts);
        assert!(!t.fine);
        let mut walk = 0;
        for k in 0..200 {
            let s = k as f64 * 0.0271e10;
            let scan = (1..=t.nodes() - 3)
                .rev()
                .find(|&i| t.node(i).0 <= s)
                .unwrap_or(1);
            assert_eq!(t.nearest(s), scan);
            t.interpolate_c(&mut walk, s);
            assert_eq!(walk, scan);
        }
        assert!(table(&[(0.0, Some(1.0)), (0.1, Some(1.0))]).fine);
    }

    #[test]
    fn nearest_is_the_last_node_at_or_below() {
        let t = table(&[
            (0.0, Some(1.0)),
            (0.1, Some(1.0)),
            (0.3, Some(1.0)),
            (0.31, Some(1.0)),
        ]);
        let n = |s: f64| t.nearest(s * 1e10);
        assert_eq!(n(0.0), 2);
        assert_eq!(n(0.05), 2);
        assert_eq!(n(0.1), 3);
        assert_eq!(n(0.299), 3);
        assert_eq!(n(0.305), 4);
        assert_eq!(n(0.31), 5);
        assert_eq!(n(9.0), 5);
        assert_eq!(t.nearest(-5.0), 1);
        assert!(t.nearest(f64::NAN) <= 2);
        assert_eq!(t.nearest(f64::INFINITY), 5);
        assert!(t.interpolate(f64::NAN).is_nan());
    }

    #[test]
    fn c_walk_on_unsorted_tables_depends_on_the_path() {
        let pts = [(0.0, 1.0), (0.2, 2.0), (0.1, 3.0), (0.3, 4.0)];
        let t = StolTable::from_c_points(&pts, TableUnit::Stol).unwrap();
        assert!(!t.is_increasing());
        let (mut from_below, mut from_above) = (0, 7);
        let a = t.interpolate_c(&mut from_below, 0.15e10);
        let b = t.interpolate_c(&mut from_above, 0.15e10);
        assert_eq!((from_below, from_above), (2, 4));
        assert!(a.is_finite() && b.is_finite() && a != b);
        // beyond the arrays C reads NaN
        let mut far = t.nodes() + 1;
        assert!(t.interpolate_c(&mut far, f64::NAN).is_nan());
    }

    proptest! {
        /// The bucket search finds the node a plain scan (and C's walk) finds.
        #[test]
        fn bucket_search_is_exact(
            steps in proptest::collection::vec(1e-6f64..0.05, 1..60),
            probes in proptest::collection::vec(-0.1f64..2.0, 1..40),
        ) {
            let mut x = 0.0;
            let pts: Vec<(f64, Option<f64>)> = steps.iter().map(|d| { x += d; (x, Some(d * 10.0)) }).collect();
            let t = table(&pts);
            let mut walk = 0;
            for p in probes {
                let s = p * 1e10;
                let scan = (1..=t.nodes() - 3).rev().find(|&i| t.node(i).0 <= s).unwrap_or(1);
                prop_assert_eq!(t.nearest(s), scan);
                t.interpolate_c(&mut walk, s);
                prop_assert_eq!(walk.clamp(1, t.nodes() - 3), scan);
            }
        }
    }
}
