//! The SIMD engine: `LANES` consecutive pixels of a detector row in one `wide` vector, the
//! per-pixel geometry computed once per block of pixels and reused by every source and
//! crystal orientation.
//!
//! # How it maps onto nanoBragg.c's loop
//!
//! C walks one pixel at a time and runs the whole loop nest inside it. Here lane `i` of vector
//! `c` holds pixel `f0 + 8c + i` of a block of up to [`BLOCK`] pixels of row `s`; each stage of
//! the loop nest runs over every vector of the block before the next stage starts, and the
//! orientations, innermost as in C, run with one vector's sum in registers:
//!
//! ```text
//! for each block of the row (BLOCK pixels, L1-resident buffers)
//!   for each layer t, sub-pixel (subS, subF):          C: thick_tic, subS, subF
//!     for each vector of pixels:                       (stage A: geometry)
//!       P = pix0 + Fdet·f̂ + Sdet·ŝ + Odet·ô;  d = P/|P|;  ω;  capture fraction
//!     for each source:                                 C: source
//!       for each vector:  q = d/λ − î/λ;  dmin mask;  polarization (first source)
//!       for each vector:                               (stage B: the hot loop)
//!         for each (φ, domain) orientation:            C: phi_tic, mos_tic
//!           h = a·q, k = b·q, l = c·q;  F_latt², F_cell²;  accumulate
//!   for each vector: scale, polarization, ω, capture → pixel values
//! ```
//!
//! For any one pixel the terms are accumulated in exactly C's order (layer, sub-pixel, source,
//! φ, domain), so C's order-dependent `compat` behaviours (running-sum multiplications) carry
//! over unchanged; only the interleaving between pixels differs, and pixels are independent.
//!
//! # Where each step lives
//!
//! This file: [`render_row`] (a row in blocks of [`BLOCK`] pixels) and the loop nest above in
//! C's order (`Block::run`: layers, sub-pixels, then sources × orientations). Then, one file
//! per step, entry points first and leaves after them:
//!
//! * `block.rs`: [`Block`], the per-pixel state of one block as lane vectors, and the steps
//!   outside the hot loop (rendered-pixel masks, stage A's geometry, ω and capture fraction,
//!   per-source q, dmin and polarization, water, the finished values).
//! * `hot.rs`: stage B, the (source, orientation) sums: the batched `plain_sum` of the common
//!   case and the general `Block::accumulate`.
//! * `lattice.rs`: the lattice factor on lanes (`cospi`, `sinpi`, the Chebyshev root products,
//!   the sine ratio, the round, Gaussian and top-hat shapes), the twin of
//!   [`physics::lattice`].
//! * `grid.rs`: structure factors from the HKL grid on lanes (nearest reflection, tricubic
//!   interpolation).
//! * `prepared.rs`: [`Prepared`], what is computed once per render (per-source constants, C's
//!   φ rows, the cells as lane vectors, which `plain_sum` instance runs).
//!
//! The lane vector itself, [`F`] with [`LANES`] lanes, and its helpers are `crate::lanes`.
//!
//! # Techniques
//!
//! * **Hoisting.** The crystal's real-space vectors for every (φ step, mosaic domain) pair are
//!   computed once per run (setup), not per pixel, sub-pixel and source as in C; inside the hot
//!   loop they are nine lane vectors read as memory operands. Per source, `1/λ`, `−î/λ` and the
//!   polarization frame (`B = p̂×î`, `E = î×B`) are computed once.
//! * **Integer peel.** For an integer N, `sin(πNh)/sin(πh) = ±sin(πNδ)/sin(πδ)` with
//!   `δ = h − h0` (h0 the nearest integer, `nearest`: one rounding instruction), so |δ| ≤ ½. Only
//!   F_latt² enters the intensity, so signs are dropped. The subtraction is exact (Sterbenz),
//!   so δ has exactly h's error ([`physics::lattice`] §1).
//! * **Chebyshev polynomial as a root product (N ≤ [`POLYNOMIAL_MAX_N`]).**
//!   `sin(Nθ)/sin θ = U_{N−1}(cos θ)`, the Chebyshev polynomial of the second kind, with
//!   θ = πδ. [`cospi`] is `1 + x²·h(x²)`, h of degree 6 (absolute error ≤ 2.3e-15, exactly 1
//!   at 0). Its coefficients [`COSPI`] are the least-squares fit of the *error of cos*,
//!   `Σ_k (u_k·h(u_k) − (cos(π√u_k) − 1))²`, at the 60 Chebyshev nodes
//!   `u_k = (1 + cos((2k+1)π/120))/8` of u = x² on [0, ¼], solved exactly and rounded to f64;
//!   [`physics::lattice`] §2 has the recipe, which regenerates them bit for bit, and its
//!   traps (fitting h itself unweighted puts the top coefficient 0.5 % off). [`SINPI`] are
//!   Taylor coefficients, `(−1)^k·fl(fl(π̂^(2k+1))/(2k+1)!)`.
//!   U_{N−1}'s roots are known, `cos(kπ/N)`, so it is evaluated as a product over them in
//!   w = c² (odd N) or, for even N = 2M, through `U_{2M−1}(c) = 2c·U_{M−1}(2c² − 1)` in
//!   z = t² with t = c² − ½, which halves the roots (see [`Axis`]): each root costs a
//!   subtraction, which runs beside the multiply-adds, and a multiplication, and the leading
//!   coefficients, powers of two (`lead² = 4^(N−1)`), multiply the finished sum. No division
//!   and no special case at the peak. Cost per axis from δ, counting each fma, multiplication
//!   and addition as one: odd N has (N − 1)/2 roots and takes `N + 8` operations (cospi's 8,
//!   w, two per root); even N = 2M has ⌊(M − 1)/2⌋ roots and takes `N/2 + 10`. So N = 15
//!   costs 23 and N = 16 costs 18: odd N is the expensive kind, not "about N/4 + 10"
//!   (the table of roots, leading coefficients and costs for every N ≤ 16 is in
//!   [`physics::lattice`] §3). In C, per axis for N = 10 (roots r₁ = cos²(π/5)/4,
//!   r₂ = cos²(2π/5)/4): `c = cospi(h - rint(h)); t = fma(c, c, -0.5); z = t*t;
//!   A = (z - r1)*(z - r2); W = t + 0.5;` then `F_latt² = 2^54·(W_h·W_k·W_l)·(A_h·A_k·A_l)²`.
//! * **The hot loop as straight-line code.** In the common case (square crystal, no per-term
//!   factors, no compat) a monomorphised `plain_sum` runs every (source, orientation) pair
//!   of one pixel vector with N (when the three axes share one) and the source of F (one
//!   `-default_F`, the nearest reflection of the HKL grid, or tricubic interpolation) fixed at
//!   compile time and the sum in registers. It works in two passes per batch of pairs (the
//!   indices, then the polynomials and F), so the out-of-order core overlaps independent
//!   evaluations instead of waiting on the chain of one; the three axes' chains advance in
//!   lockstep. Without dmin every source reaches every pixel, so one call covers
//!   all sources; with dmin each source is a call whose sum is masked. With several sources
//!   in one call, `h = q·a = (d·a)/λ + (−î/λ)·a`: the projections d·a, d·b, d·c of each
//!   orientation are computed once per pixel vector, and `(−î/λ)·a` once per run, so a source
//!   costs three multiply-adds per evaluation instead of twelve (C: `h = dot_product(a,
//!   scattering)` with `scattering = (diffracted − incident)/λ`, expanded). Everything else (compat,
//!   other shapes, per-term factors) runs the general loop, one evaluation at a time.
//! * **Sine ratio (larger N).** `sin(πNδ) = ±sin(πr)` with `r = Nδ − nearest(Nδ)`; both sines
//!   have arguments in [−π/2, π/2], so no range reduction is needed: [`sinpi`] is an odd Taylor
//!   polynomial of degree 15 (relative error ≤ 6.1e-12 on [−½, ½]; 21 operations per axis
//!   with the two sines). The axes share one
//!   division, `(num_a·num_b·num_c / den_a·den_b·den_c)`, with `num = N, den = 1` on a lane where
//!   δ = 0 exactly (a Bragg peak).
//! * **Polarization without trigonometry.** C's `cos(2ψ)` with `ψ = −atan2(d·B, d·E)` is
//!   `(E² − B²)/(E² + B²)`.
//! * **Masks.** Pixels outside the region of interest or masked, the lanes past the end of the
//!   row, and dmin-rejected sources are lane masks: the arithmetic runs on every lane and
//!   `select` keeps or discards the result. In `compat` mode C's running-sum multiplications and
//!   its `F_latt == 0` shortcut become selects too.
//! * **Gathers.** `wide` has no gather: structure factors from an HKL grid are looked up lane by
//!   lane (the nearest reflection's range test and index are lane vectors, then one scalar load
//!   per lane); tricubic interpolation computes its range test, weights and first index as
//!   lane vectors and reads each lane's 4×4×4 cube with four-wide loads, except where every
//!   lane of a vector has the same cube: then its 64 values are broadcast and the weighted
//!   sum runs on lane vectors.
//!
//! # What goes to the scalar engine
//!
//! * `compat` with tricubic interpolation: C's run-wide interpolation switch is serial
//!   ([`super::render`] hands the whole image to the scalar engine).
//! * `compat` with a φ sweep through φ = 0: the image's first rendered pixel (C's very first
//!   evaluation starts from the unrotated crystal, spec Q1).
//! * The curved detector maps each sub-pixel with the scalar [`super::scalar::curve`], lane by
//!   lane; the rest of its loop stays vectorised.
//!
//! # C compatibility hazards of hoisting
//!
//! nanoBragg.c carries state from one evaluation to the next that a hoisted or blocked loop
//! no longer has. Three of its quirks depend on that state; `compat` mode reproduces them and
//! the default mode fixes them. A C port that hoists must handle each one explicitly:
//!
//! * **φ = 0 carry-over (Q1).** C rotates its working cell only `if (phi != 0.0)`; at a φ step
//!   of exactly 0 it keeps the cell of the last non-zero φ it rotated to, which is the last
//!   non-zero step of the *previous* sweep (previous source, sub-pixel or pixel), except at the
//!   very first evaluation of the run, where the cell is still unrotated. Hoisting the cells
//!   into a table indexed by (φ step, domain) loses that state. Under compat,
//!   [`Prepared::new`] builds `phi_rows`, the table row C really uses at each φ step (the last
//!   non-zero row seen, starting from `setup.phi_zero_carry`, the last non-zero step of a whole
//!   sweep), and [`render_row`] hands the image's first rendered pixel to the scalar engine,
//!   whose `pixel` starts with no carried rotation (`last_phi = None`). A C port indexes its
//!   hoisted table through the same map, and computes the first pixel's first sweep with the
//!   unrotated cell at φ = 0. (Under OpenMP each C thread carries its own state: compare with
//!   `OMP_NUM_THREADS=1`.)
//! * **Running-sum factors (Q11).** With `-oversample_thick`, `-oversample_polar` or
//!   `-oversample_omega`, C multiplies its running sum, not the term, after every term:
//!   `I += term; I *= capture; I *= polar; I *= omega;`. The result then depends on the order
//!   and the number of terms, including the terms C skips (`F_latt == 0` without water, and
//!   dmin-rejected sources, skip the multiplications too). Any reordering, partial sum per
//!   source or per batch, or term skipped differently changes a compat image. So under compat
//!   the hot loop is the general `Block::accumulate`, which keeps one running sum `acc` per
//!   pixel vector in C's order (layer, sub-pixel, source, φ, domain) and computes
//!   `acc = (acc + term)·factor` with `select` for the skipped lanes. The factors also
//!   keep C's "last value" rule: without the switches, ω and the polarization are those of
//!   the first sub-pixel and the first source that reaches the pixel. The batched
//!   `plain_sum` runs only without compat and without the switches; the default mode
//!   multiplies each term by its own factors.
//! * **Sensor layers (Q10).** C resets its capture fraction at each layer's first sub-pixel
//!   and multiplies the sum over *all* layers by the value left at the end, the last layer's;
//!   with `-oversample_thick` it multiplies the running sum (Q11). Hoisting the capture
//!   fraction per layer (one multiplication per layer's sum, the physics) therefore changes
//!   the image. Under compat `Block::run` keeps `acc` across layers and multiplies it by
//!   `cap` (the last layer's) once at the end; in the default mode each layer's `layer_sum`
//!   is multiplied by its own capture fraction and added to `total`. (In C a sensor of no
//!   thickness has capture 1, except that `-oversample_thick` recomputes it as 0: the scalar
//!   engine's `thick` test.)
//!
//! # The pixel-blocked layout in C
//!
//! The same loop in C, for a port into nanoBragg.c (one OpenMP thread per row; `BLOCK` = 256
//! pixels along the row, starting on multiples of 8 so that a pixel's value does not depend
//! on the region of interest; every buffer is `double[BLOCK]`, about 40 KiB per thread):
//!
//! ```c
//! for (f0 = roi_xmin / 8 * 8; f0 <= roi_xmax; f0 += BLOCK) {
//!   n = min(BLOCK, roi_xmax + 1 - f0);         /* and a mask of the rendered pixels */
//!   for (i = 0; i < n; i++) { total[i] = water_acc[i] = omega[i] = 0; polar[i] = nopolar; }
//!   for (t = 0; t < thicksteps; t++) {
//!     for (i = 0; i < n; i++) { cap[i] = (thickness == 0); layer_sum[i] = 0; }
//!     for (subS = 0; subS < oversample; subS++) for (subF = 0; subF < oversample; subF++) {
//!       for (i = 0; i < n; i++) {              /* per-pixel geometry, once per block */
//!         P = pix0 + Fdet(f0+i, subF)·f + Sdet(subS)·s + t·Δz·o;  d[i] = P/|P|;
//!         if (first sub-pixel || oversample_omega) omega[i] = …;
//!         if (first sub-pixel of layer t && thickness > 0 || oversample_thick) cap[i] = …;
//!       }
//!       for (src = 0; src < sources; src++) {  /* then sources × orientations */
//!         for (i = 0; i < n; i++) { q[i] = d[i]/λ − î/λ; keep[i] = dmin test;
//!                                   if (keep[i] && polar[i] == 0) polar[i] = P(î, d[i]); }
//!         for (i = 0; i < n; i++) {
//!           double sum = 0;                   /* in registers */
//!           for (o = 0; o < phisteps·domains; o++) {    /* φ outer, domain inner */
//!             h = dot(a[o], q[i]); k = …; l = …;
//!             sum += F_cell²·F_latt²/scale;   /* root product, no leading coefficient */
//!           }
//!           if (keep[i]) layer_sum[i] += scale·sum;
//!         }
//!       }
//!       for (i = 0; i < n; i++) water_acc[i] += polar[i]·omega[i]·cap[i];
//!     }
//!     for (i = 0; i < n; i++) total[i] += layer_sum[i]·cap[i];
//!   }
//!   for (i = 0; i < n; i++)
//!     image[s][f0+i] = (r_e²Φ/steps)·total[i]·polar[i]·omega[i] + water/oversample²·water_acc[i];
//! }
//! ```
//!
//! The order of the sums, per pixel: `total = Σ_t cap_t · Σ_(subS, subF) Σ_src scale·F²·
//! (Σ_φ Σ_domain F_latt²/scale)`, where C itself keeps one running sum over (subS, subF,
//! src, φ, domain). With one F for every reflection `scale·F²` is one constant. Without dmin
//! every source reaches every pixel, and this engine sums all sources into one `sum` before
//! the single `layer_sum += scale·sum`; with several sources it computes `d·a, d·b, d·c`
//! once per pixel and orientation and `h = fma(d·a, 1/λ, (−î/λ)·a)` per source. Each of
//! these regroupings changes the last bits only (the sums have no cancellation), which is why
//! the engines are compared with a tolerance, not bit for bit. They are not allowed under
//! compat with the per-term factors or layers (above): there, accumulate each term in C's
//! order. The lattice factor itself ([`physics::lattice`], `examples/port_to_c/`) is the
//! same bit for bit in C, Rust's scalar twin and these lanes.
//!
//! [`physics::lattice`]: crate::physics::lattice
//! [`COSPI`]: crate::physics::lattice::COSPI
//! [`SINPI`]: crate::physics::lattice::SINPI
//! [`Axis`]: crate::physics::lattice::Axis

mod block;
mod grid;
mod hot;
mod lattice;
mod prepared;

use crate::setup::Setup;

use super::{RowKernel, RowStats, scalar};
use block::SubPixel;
use hot::Orientations;

pub use crate::lanes::{F, LANES};
pub use crate::physics::lattice::POLYNOMIAL_MAX_N;
pub use block::{BLOCK, Block};
#[cfg(test)]
pub(crate) use lattice::{
    Lattice, nearest, polynomial_axis, polynomial_lattice, sincg_parts, square_lattice,
};
pub use lattice::{cospi, sinpi, sinpi_scalar};
pub use prepared::Prepared;

/// Render one row `s` with the SIMD kernel into `row`, using `state` (one per thread, see
/// [`Block::new`]) as scratch space.
pub fn render_row(
    setup: &Setup,
    prep: &Prepared,
    state: &mut Block,
    s: usize,
    row: &mut [f32],
    first: Option<(usize, usize)>,
) -> RowStats {
    let mut stats = RowStats::default();
    // Only the region of interest is visited: the time is proportional to its area. Vectors
    // start on multiples of LANES, so a pixel's value does not depend on the region.
    let fast = setup.region.fast();
    if !setup.region.slow().contains(&s) || fast.is_empty() {
        return stats;
    }
    let stop = fast.end;
    let mut f0 = fast.start / LANES * LANES;
    while f0 < stop {
        let end = (f0 + BLOCK).min(stop);
        let q1_first = first.filter(|&(ff, fs)| {
            setup.compat && setup.phi_zero_carry.is_some() && fs == s && ff >= f0 && ff < end
        });
        if state.activate(setup, s, f0, end, q1_first.map(|(ff, _)| ff)) {
            state.run(setup, prep, s, f0, &mut stats);
            state.store(&mut row[f0..end]);
            stats.omega_sum += state.omega_total;
        }
        if let Some((ff, _)) = q1_first {
            // C's very first evaluation (Q1): the scalar engine handles that pixel.
            let r = scalar::render_row_range(setup, s, row, ff..ff + 1, first, None);
            stats.omega_sum += r.omega_sum;
        }
        f0 = end;
    }
    stats
}

impl Block {
    /// The loop nest for the block starting at pixel `f0` of row `s`, in C's order: layers,
    /// sub-pixel rows and columns, then sources × orientations.
    fn run(&mut self, setup: &Setup, prep: &Prepared, s: usize, f0: usize, stats: &mut RowStats) {
        let det = &setup.detector;
        let n = setup.oversample;
        let sub = det.pixel_size / n as f64;
        let layers = setup.layers;
        self.start(setup);
        for t in 0..layers.count {
            let odet = t as f64 * layers.step;
            self.start_layer(setup);
            for sub_s in 0..n {
                let sdet = sub * (s * n + sub_s) as f64 + sub / 2.0;
                let base = det.position(0.0, sdet, odet);
                for sub_f in 0..n {
                    let sp = SubPixel {
                        t,
                        sub_s,
                        sub_f,
                        sdet,
                        odet,
                        base,
                    };
                    self.geometry(setup, f0, &sp);
                    self.sources(setup, prep, stats);
                    self.add_water();
                }
            }
            if !setup.compat {
                self.end_layer(setup);
            }
        }
        self.finish(setup);
    }

    /// Sources × orientations for the current sub-pixel (C: source, phi_tic, mos_tic): the
    /// batched `hot::plain_sum` where the render allows it, else the general loop.
    fn sources(&mut self, setup: &Setup, prep: &Prepared, stats: &mut RowStats) {
        let nopolar_kept = setup.nopolar && !setup.compat;
        match prep.plain {
            // Without dmin every source reaches every rendered pixel: the sources only set
            // the polarization, and one call sums them all.
            Some(plain) if setup.dmin == 0.0 => {
                if !nopolar_kept {
                    self.polarize_all(setup, &prep.sources);
                }
                plain(setup, prep, &prep.sources, self, false, stats);
            }
            Some(plain) => {
                for src in &prep.sources {
                    self.source_setup(setup, src, nopolar_kept);
                    plain(setup, prep, std::slice::from_ref(src), self, true, stats);
                }
            }
            None => {
                let orientations = Orientations {
                    all: &setup.orientations,
                    phi_rows: &prep.phi_rows,
                    domains: setup.mosaic.len(),
                };
                for src in &prep.sources {
                    self.source_setup(setup, src, nopolar_kept);
                    for c in 0..self.nvec {
                        self.accumulate(setup, prep, orientations, c, stats);
                    }
                }
            }
        }
    }

    /// The block's rendered pixel values into `out` (its part of the row).
    fn store(&self, out: &mut [f32]) {
        let values = &self.value[..out.len()];
        if self.all_active {
            for (out, v) in out.iter_mut().zip(values) {
                *out = *v as f32;
            }
        } else {
            for (i, out) in out.iter_mut().enumerate() {
                if self.active[i] {
                    *out = values[i] as f32;
                }
            }
        }
    }
}

/// The SIMD engine as the drivers of [`super::render`] call it.
pub(super) struct Rows<'a> {
    setup: &'a Setup,
    prep: Prepared,
    first: Option<(usize, usize)>,
}

impl<'a> Rows<'a> {
    pub(super) fn new(setup: &'a Setup, first: Option<(usize, usize)>) -> Self {
        Rows {
            setup,
            prep: Prepared::new(setup),
            first,
        }
    }
}

impl RowKernel for Rows<'_> {
    type Scratch = Box<Block>;

    fn scratch(&self) -> Box<Block> {
        Block::new()
    }

    fn row(&self, block: &mut Box<Block>, s: usize, row: &mut [f32]) -> RowStats {
        render_row(self.setup, &self.prep, block, s, row, self.first)
    }
}
