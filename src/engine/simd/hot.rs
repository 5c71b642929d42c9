//! Stage B, the hot loop: every (source, orientation) pair for each vector of pixels of the
//! block, C's `for (source) for (phi_tic) for (mos_tic)`.
//!
//! Two forms. [`plain_sum`], the common case (square crystal, one F per reflection, no
//! per-term factors, no compat), is monomorphised over the cell count N and the source of F and
//! sums batches of pairs with the sum in registers ([`in_batches`]); with several sources it
//! shares the projections d·a, d·b, d·c between them. [`Block::accumulate`], the general
//! loop, takes one orientation at a time in C's order with every shape, the per-term factors
//! and C's running sum under compat.
//!
//! Entry points: [`plain_kernel`] (which instance of `plain_sum` a render runs), [`plain_sum`],
//! [`Block::accumulate`]. Leaves after them: the two ways of walking the pairs, the batching
//! and the evaluation of one pair.

use crate::io::HklGrid;
use crate::lanes::{F, LANES};
use crate::setup::Setup;
use crate::vec3::Vec3;

use super::super::RowStats;
use super::block::{Block, V3};
use super::grid::GridLanes;
use super::lattice::{Lattice, lattice_factor, nearest, polynomial_lattice, square_lattice};
use super::prepared::{Prepared, SourceLanes};

/// (Source, orientation) pairs per batch of [`plain_sum`]'s two passes.
pub(super) const BATCH: usize = 16;

/// Where [`plain_sum`] takes F from, a const parameter: `-default_F` for every reflection,
/// the nearest reflection of the HKL grid, or tricubic interpolation in it.
const DEFAULT_F: u8 = 0;
const NEAREST_F: u8 = 1;
const TRICUBIC_F: u8 = 2;

/// A [`plain_sum`] instance.
pub(super) type PlainSum = fn(&Setup, &Prepared, &[SourceLanes], &mut Block, bool, &mut RowStats);

/// The [`plain_sum`] instance for this lattice and source of F: the cell count as a const
/// parameter when the three axes share one N ≤
/// [`POLYNOMIAL_MAX_N`](crate::physics::lattice::POLYNOMIAL_MAX_N), the general
/// [`square_lattice`] (N = 0) otherwise.
pub(super) fn plain_kernel(
    lattice: &Lattice,
    grid: &Option<GridLanes>,
    interpolate: bool,
) -> PlainSum {
    let sf = match (grid, interpolate) {
        (Some(_), true) => TRICUBIC_F,
        (Some(_), false) => NEAREST_F,
        (None, _) => DEFAULT_F,
    };
    macro_rules! pick {
        ($($n:literal)*) => {
            match (lattice.shared_polynomial_cells(), sf) {
                $(
                    ($n, DEFAULT_F) => plain_sum::<$n, DEFAULT_F>,
                    ($n, NEAREST_F) => plain_sum::<$n, NEAREST_F>,
                    ($n, _) => plain_sum::<$n, TRICUBIC_F>,
                )*
                (_, DEFAULT_F) => plain_sum::<0, DEFAULT_F>,
                (_, NEAREST_F) => plain_sum::<0, NEAREST_F>,
                _ => plain_sum::<0, TRICUBIC_F>,
            }
        };
    }
    pick!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// The hot loop of the common case (square crystal, one F for every reflection, no per-term
/// factors, no compat, so the orientations run in their stored order): for every vector of
/// pixels of the block, F² times Σ F_latt² over the given sources and every crystal
/// orientation is added to the layer sum (on the lanes the sources reach, when `masked`).
/// `N` is the three axes' shared cell count (0: the general [`square_lattice`]), fixed at
/// compile time so the loop body is straight-line code with the root count known. The
/// (source, orientation) pairs run through [`in_batches`]. In C, per source and orientation
/// (N = 10):
///
/// ```c
/// q = d/lambda - incident/lambda;                      /* nanoBragg.c: scattering = … */
/// h = dot(a, q); k = dot(b, q); l = dot(c, q);        /* h = dot_product(a,scattering) … */
/// for each axis x in (h, k, l):
///     delta = x - rint(x);                             /* the integer peel */
///     c = cospi(delta);  t = c*c - 0.5;  z = t*t;      /* cos πδ, cos(2πδ)/2 */
///     A_x = (z - r1)*(z - r2);  W_x = t + 0.5;         /* U_9(c)² = 2^18·W·A² */
/// A = A_h*A_k*A_l;  sum += (W_h*W_k*W_l)*(A*A);        /* times 2^54·F² at the end */
/// ```
fn plain_sum<const N: usize, const SF: u8>(
    setup: &Setup,
    prep: &Prepared,
    sources: &[SourceLanes],
    block: &mut Block,
    masked: bool,
    stats: &mut RowStats,
) {
    let pair = Pair::<N, SF>::new(setup, prep);
    // The lattice's power-of-two constant, and F² when it is one number (no grid), multiply
    // the sums.
    let scale = F::splat(pair.scale());
    // With several sources, d·a, d·b, d·c of each orientation are computed once per vector and
    // shared: h = (d·a)/λ + (−î/λ)·a costs one multiply-add per axis and source.
    let shared = sources.len() > 1;
    if shared {
        block
            .projections
            .resize(setup.orientations.len(), [F::ZERO; 3]);
    }
    for c in 0..block.nvec {
        let d = block.direction(c);
        let active = &block.active[c * LANES..(c + 1) * LANES];
        let batch = &mut block.batch;
        let eval = |x: [F; 3], sum: F| pair.add(x, active, sum, stats);
        let sum = if shared {
            let projections = &mut block.projections;
            sources_sharing_projections::<N, SF>(prep, sources, d, projections, batch, eval)
        } else {
            one_source::<N, SF>(prep, &sources[0], d, batch, eval)
        };
        let term = scale * sum;
        block.layer_sum[c] += if masked {
            block.keep[c].select(term, F::ZERO)
        } else {
            term
        };
    }
}

/// The crystal orientations in C's loop order (φ step, then mosaic domain), with the φ-row
/// sequence of [`Prepared::phi_rows`].
#[derive(Clone, Copy)]
pub(super) struct Orientations<'a> {
    pub(super) all: &'a [[Vec3; 3]],
    pub(super) phi_rows: &'a [usize],
    pub(super) domains: usize,
}

impl<'a> Orientations<'a> {
    #[inline(always)]
    fn iter(self) -> impl Iterator<Item = &'a [Vec3; 3]> {
        let Orientations {
            all,
            phi_rows,
            domains,
        } = self;
        phi_rows
            .iter()
            .flat_map(move |&row| &all[row * domains..(row + 1) * domains])
    }
}

impl Block {
    /// The general hot loop: every crystal orientation for pixel vector `c` of the block, one
    /// at a time in C's order, any crystal shape, the per-term factors, and under compat C's
    /// running sum.
    #[inline(always)]
    pub(super) fn accumulate(
        &mut self,
        setup: &Setup,
        prep: &Prepared,
        orientations: Orientations,
        c: usize,
        stats: &mut RowStats,
    ) {
        let q = V3 {
            x: self.qx[c],
            y: self.qy[c],
            z: self.qz[c],
        };
        let keep = self.keep[c];
        let fc2_default = F::splat(setup.default_f * setup.default_f);
        let compat = setup.compat;
        let grid = setup.grid.as_ref().filter(|g| g.count > 0);
        let active = &self.active[c * LANES..(c + 1) * LANES];
        let factor = self.factor[c];
        let mut acc = self.acc[c];
        let mut layer_sum = self.layer_sum[c];
        for cell in orientations.iter() {
            let hkl = cell.map(|v| q.dot_scalar(v));
            let hkl0 = hkl.map(|x| (x - F::splat(0.5)).ceil());
            let fl = lattice_factor(setup, &prep.lattice, hkl, hkl0);
            let fc2 = match (grid, &prep.grid) {
                (Some(g), Some(lanes)) => {
                    let f = lanes.cell_f(setup, &g.data, hkl, active, stats, setup.interpolate);
                    f * f
                }
                _ => fc2_default,
            };
            let term = fc2 * (fl * fl);
            if compat {
                // C multiplies its running sum, not the term (Q11).
                let next = (acc + term) * factor;
                let mut take = keep;
                if setup.water == 0.0 {
                    // C skips the term when F_latt is 0 (F_latt², which can underflow, would
                    // skip terms C keeps).
                    take &= !fl.simd_eq(F::ZERO);
                }
                acc = take.select(next, acc);
            } else {
                layer_sum += keep.select(term * factor, F::ZERO);
            }
        }
        self.acc[c] = acc;
        self.layer_sum[c] = layer_sum;
    }
}

/// Σ over every (source, orientation) pair of one pixel vector with directions `d`, several
/// sources: the projections d·a, d·b, d·c of each orientation once, then per pair
/// `h = (d·a)/λ + (−î/λ)·a`, in C's order (source outer).
#[inline(always)]
fn sources_sharing_projections<const N: usize, const SF: u8>(
    prep: &Prepared,
    sources: &[SourceLanes],
    d: V3,
    projections: &mut [[F; 3]],
    batch: &mut [[F; 3]; BATCH],
    eval: impl FnMut([F; 3], F) -> F,
) -> F {
    for (p, cell) in projections.iter_mut().zip(&prep.cells) {
        *p = cell.map(|v| d.dot(&v));
    }
    let projections = &*projections;
    // Pair (source s, orientation o), counted along in C's order.
    let (mut s, mut o) = (0, 0);
    let indices = (0..sources.len() * projections.len()).map(|_| {
        let (src, p) = (&sources[s], &projections[o]);
        let (inv, off) = (F::splat(src.inv_lambda), src.offsets[o]);
        o += 1;
        if o == projections.len() {
            (s, o) = (s + 1, 0);
        }
        [0, 1, 2].map(|i| Pair::<N, SF>::peel(p[i].mul_add(inv, F::splat(off[i]))))
    });
    in_batches(indices, batch, eval)
}

/// Σ over every orientation of one pixel vector with directions `d`, one source:
/// `q = d/λ − î/λ` once, then `h = a·q` per orientation.
#[inline(always)]
fn one_source<const N: usize, const SF: u8>(
    prep: &Prepared,
    src: &SourceLanes,
    d: V3,
    batch: &mut [[F; 3]; BATCH],
    eval: impl FnMut([F; 3], F) -> F,
) -> F {
    let inv = F::splat(src.inv_lambda);
    let q = d.scattering(inv, src.minus_inc_over_lambda.map(F::splat));
    let indices = prep
        .cells
        .iter()
        .map(|cell| cell.map(|v| Pair::<N, SF>::peel(q.dot(&v))));
    in_batches(indices, batch, eval)
}

/// The (source, orientation) pairs in order, [`BATCH`] at a time in two passes: `indices`
/// yields the peeled indices of a batch of pairs, then `eval(x, sum)` adds each evaluation to
/// the running sum, which stays in registers. Each pass's iterations are short independent
/// chains the out-of-order core overlaps, where one pass would wait on the whole chain of one
/// evaluation before starting the next.
#[inline(always)]
fn in_batches(
    mut indices: impl ExactSizeIterator<Item = [F; 3]>,
    batch: &mut [[F; 3]; BATCH],
    mut eval: impl FnMut([F; 3], F) -> F,
) -> F {
    let mut sum = F::ZERO;
    while indices.len() > 0 {
        let len = BATCH.min(indices.len());
        for (slot, x) in batch[..len].iter_mut().zip(&mut indices) {
            *slot = x;
        }
        for &x in &batch[..len] {
            sum = eval(x, sum);
        }
    }
    sum
}

/// The evaluation of one (source, orientation) pair in [`plain_sum`], with the cell count `N`
/// and the source of F `SF` fixed at compile time.
struct Pair<'a, const N: usize, const SF: u8> {
    setup: &'a Setup,
    lattice: &'a Lattice,
    grid: Option<&'a HklGrid>,
    lanes: Option<&'a GridLanes>,
    default_f: F,
}

impl<'a, const N: usize, const SF: u8> Pair<'a, N, SF> {
    #[inline(always)]
    fn new(setup: &'a Setup, prep: &'a Prepared) -> Self {
        Pair {
            setup,
            lattice: &prep.lattice,
            grid: setup.grid.as_deref(),
            lanes: prep.grid.as_ref(),
            default_f: F::splat(setup.default_f),
        }
    }

    /// What multiplies the sums: the lattice's power-of-two constant, and F² when it is one
    /// number (no grid).
    #[inline(always)]
    fn scale(&self) -> f64 {
        self.lattice.scale
            * if SF == DEFAULT_F {
                self.setup.default_f * self.setup.default_f
            } else {
                1.0
            }
    }

    /// The indices the pairs carry: peeled δ with one F for every reflection, else h itself
    /// (F needs it).
    #[inline(always)]
    fn peel(h: F) -> F {
        if SF == DEFAULT_F { h - nearest(h) } else { h }
    }

    /// `sum` plus this pair's F_latt² / scale (times F² from the grid), from the indices `x`
    /// that [`Self::peel`] left.
    #[inline(always)]
    fn add(&self, x: [F; 3], active: &[bool], sum: F, stats: &mut RowStats) -> F {
        let d = if SF == DEFAULT_F {
            x
        } else {
            x.map(|h| h - nearest(h))
        };
        let f2 = if N == 0 {
            square_lattice(self.lattice, d)
        } else {
            polynomial_lattice::<N>(self.lattice, d)
        };
        let fc = match (SF, self.grid, self.lanes) {
            (NEAREST_F, Some(g), Some(lanes)) => lanes.nearest(&g.data, x, self.default_f),
            (TRICUBIC_F, Some(g), Some(lanes)) => {
                lanes.cell_f(self.setup, &g.data, x, active, stats, true)
            }
            _ => return sum + f2,
        };
        f2.mul_add(fc * fc, sum)
    }
}
