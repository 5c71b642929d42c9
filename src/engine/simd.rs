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

use crate::io::HklGrid;
use crate::params::Shape;
use crate::physics::{
    self,
    lattice::{
        Axis, COSPI, GAUSS_WIDTH, MAX_ROOTS, ROUND_CRYSTAL, SINC3_SERIES_BELOW, SINPI,
        TOPHAT_RADIUS_SQUARED,
    },
};
use crate::setup::Setup;
use crate::vec3::{self, Vec3};

use super::scalar::{self, RowStats};

pub use crate::physics::lattice::POLYNOMIAL_MAX_N;

/// The lane vector: eight f64 (one zmm register with AVX-512, two ymm with AVX2).
pub type F = wide::f64x8;

/// Pixels per vector.
pub const LANES: usize = std::mem::size_of::<F>() / 8;

/// sin(πx) for |x| ≤ ½ (degree-15 odd polynomial over [`SINPI`], relative error ≤ 6.1e-12;
/// scalar twin [`physics::lattice::sinpi`]).
#[inline(always)]
pub fn sinpi(x: F) -> F {
    let x2 = x * x;
    let c = |k: usize| F::splat(SINPI[k]);
    let p = c(7).mul_add(x2, c(6));
    let p = p.mul_add(x2, c(5));
    let p = p.mul_add(x2, c(4));
    let p = p.mul_add(x2, c(3));
    let p = p.mul_add(x2, c(2));
    let p = p.mul_add(x2, c(1));
    let p = p.mul_add(x2, c(0));
    p * x
}

/// Scalar twin of [`sinpi`]: [`physics::lattice::sinpi`].
pub fn sinpi_scalar(x: f64) -> f64 {
    physics::lattice::sinpi(x)
}

/// The nearest integer to each lane, ties to even: one `vroundpd` per register with AVX.
/// (`wide`'s `round` rounds ties away from zero in eight instructions; for the integer peel any
/// nearest integer will do, since |δ| = ½ either way on a tie.)
#[inline(always)]
pub(crate) fn nearest(x: F) -> F {
    x.round_ties_even()
}

/// One axis of the square-crystal lattice factor: (numerator, denominator) of
/// `±sin(πNδ)/sin(πδ)`, with (N, 1) where δ = 0.
#[inline(always)]
pub(crate) fn sincg_parts(delta: F, n: f64) -> (F, F) {
    let nd = delta * F::splat(n);
    let r = nd - nearest(nd);
    let num = sinpi(r);
    let den = sinpi(delta);
    let zero = delta.simd_eq(F::ZERO);
    (zero.select(F::splat(n), num), zero.select(F::ONE, den))
}

/// Three lane vectors: x, y, z.
#[derive(Clone, Copy)]
struct V3 {
    x: F,
    y: F,
    z: F,
}

impl V3 {
    /// The dot product with a vector held as lane vectors.
    #[inline(always)]
    fn dot(&self, a: &V3) -> F {
        self.x.mul_add(a.x, self.y.mul_add(a.y, self.z * a.z))
    }

    #[inline(always)]
    fn dot_scalar(&self, a: Vec3) -> F {
        self.x.mul_add(
            F::splat(a[0]),
            self.y.mul_add(F::splat(a[1]), self.z * F::splat(a[2])),
        )
    }
}

/// Per-source constants.
struct SourceLanes {
    /// −î/λ: q = d/λ − î/λ.
    minus_inc_over_lambda: Vec3,
    inv_lambda: f64,
    incident: Vec3,
    /// Polarization frame: B = unit(p̂ × î), E = unit(î × B).
    b_in: Vec3,
    e_in: Vec3,
    /// Per crystal orientation (a, b, c): (−î/λ)·a, (−î/λ)·b, (−î/λ)·c, so that
    /// h = (d·a)/λ + (−î/λ)·a reuses d·a across sources.
    offsets: Vec<[f64; 3]>,
}

/// Everything the SIMD loop needs beyond [`Setup`], computed once per render.
pub struct Prepared {
    sources: Vec<SourceLanes>,
    /// Orientation row used at each φ step (Q1 under compat for every pixel but the first).
    phi_rows: Vec<usize>,
    /// The lattice-factor method of each axis.
    lattice: Lattice,
    /// The crystal orientations' vectors a, b, c as lane vectors: memory operands of the hot
    /// loop's multiply-adds instead of a broadcast per component and evaluation.
    cells: Vec<[V3; 3]>,
    /// The hot loop of the common case, when the render is one (see [`plain_sum`]).
    plain: Option<PlainSum>,
    /// The structure-factor grid as the lane code addresses it, when there is one.
    grid: Option<GridLanes>,
}

impl Prepared {
    /// Hoist the per-source constants and the φ-row sequence.
    pub fn new(setup: &Setup) -> Self {
        let polar = setup.detector.polar;
        let sources = setup
            .sources
            .iter()
            .map(|s| {
                let inv = 1.0 / s.wavelength;
                let b_in = vec3::unitize(vec3::cross(polar, s.incident)).0;
                let e_in = vec3::unitize(vec3::cross(s.incident, b_in)).0;
                let minus_inc_over_lambda = vec3::scale(s.incident, -inv);
                SourceLanes {
                    minus_inc_over_lambda,
                    offsets: setup
                        .orientations
                        .iter()
                        .map(|cell| cell.map(|v| vec3::dot(minus_inc_over_lambda, v)))
                        .collect(),
                    inv_lambda: inv,
                    incident: s.incident,
                    b_in,
                    e_in,
                }
            })
            .collect();
        let mut state = setup.phi_zero_carry;
        let phi_rows = setup
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
            .collect();
        let lattice = Lattice::new(setup.crystal.cells);
        let grid = GridLanes::new(setup);
        let sf = match (&grid, setup.interpolate) {
            (Some(_), true) => TRICUBIC_F,
            (Some(_), false) => NEAREST_F,
            (None, _) => DEFAULT_F,
        };
        let plain = (!setup.compat
            && setup.shape == Shape::Square
            && !setup.oversample_thick
            && !setup.oversample_polar
            && !setup.oversample_omega)
            .then(|| lattice.plain_kernel(sf));
        let cells = setup
            .orientations
            .iter()
            .map(|cell| {
                cell.map(|v| V3 {
                    x: F::splat(v[0]),
                    y: F::splat(v[1]),
                    z: F::splat(v[2]),
                })
            })
            .collect();
        Prepared {
            sources,
            phi_rows,
            lattice,
            cells,
            plain,
            grid,
        }
    }
}

#[inline(always)]
fn lanes_from(mut f: impl FnMut(usize) -> f64) -> F {
    let mut a = [0.0; LANES];
    for (i, x) in a.iter_mut().enumerate() {
        *x = f(i);
    }
    F::from(a)
}

/// Where [`plain_sum`] takes F from, a const parameter: `-default_F` for every reflection,
/// the nearest reflection of the HKL grid, or tricubic interpolation in it.
const DEFAULT_F: u8 = 0;
const NEAREST_F: u8 = 1;
const TRICUBIC_F: u8 = 2;

/// The lattice factor's method and roots for the three axes (from the scalar
/// [`physics::lattice::Lattice`], roots as lane vectors).
pub(crate) struct Lattice {
    /// Per axis, the roots of its polynomial in w (odd N) or z (even N), padded with zeros.
    roots: [[F; MAX_ROOTS]; 3],
    /// Per axis: the number of roots.
    count: [usize; 3],
    axis: [Axis; 3],
    n: [f64; 3],
    /// `F_latt² = scale × weights × amplitudes²`: the product of the axes' squared leading
    /// coefficients, a power of two.
    pub(crate) scale: f64,
}

impl Lattice {
    pub(crate) fn new(n: [f64; 3]) -> Self {
        let twin = physics::lattice::Lattice::new(n);
        Lattice {
            roots: twin.roots.map(|axis| axis.map(F::splat)),
            count: twin.count,
            axis: twin.axis,
            n,
            scale: twin.scale,
        }
    }

    /// The [`plain_sum`] instance for this lattice: the cell count as a const parameter when
    /// the three axes share one N ≤ [`POLYNOMIAL_MAX_N`], the general [`square_lattice`]
    /// (N = 0) otherwise.
    fn plain_kernel(&self, sf: u8) -> PlainSum {
        let uniform = self.n[0] == self.n[1] && self.n[1] == self.n[2];
        let cells = if uniform && self.axis[0] != Axis::Ratio {
            Axis::cells(self.n[0])
        } else {
            0
        };
        macro_rules! pick {
            ($($n:literal)*) => {
                match (cells, sf) {
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
}

/// cos(πx) for |x| ≤ ½ on each of `M` vectors, `1 + x²·h(x²)` over [`COSPI`] (absolute error
/// ≤ 2.3e-15 with FMA; exactly 1 at 0; scalar twin [`physics::lattice::cospi`]), by
/// Horner's scheme with the `M` chains in lockstep: in the hot loop the three axes (six AVX2
/// registers) give each dependent multiply-add enough independent company to hide its
/// latency, and Horner needs the fewest operations (Estrin's scheme, shorter chains but more
/// operations, measured slower there).
#[inline(always)]
pub fn cospi<const M: usize>(x: [F; M]) -> [F; M] {
    let u = x.map(|x| x * x);
    let mut p = [F::splat(COSPI[0]); M];
    for &k in &COSPI[1..] {
        for m in 0..M {
            p[m] = p[m].mul_add(u[m], F::splat(k));
        }
    }
    std::array::from_fn(|m| p[m].mul_add(u[m], F::ONE))
}

/// One polynomial axis: (amplitude, weight) with
/// `U_{N−1}(cos πδ)² = lead² × weight × amplitude²` (see [`Axis`]), from c = cos πδ.
#[inline(always)]
pub(crate) fn polynomial_axis(axis: Axis, roots: &[F], c: F) -> (F, F) {
    let product = |x: F| roots.iter().fold(F::ONE, |a, &r| a * (x - r));
    if axis == Axis::Odd {
        return (product(c * c), F::ONE);
    }
    let t = c.mul_add(c, F::splat(-0.5));
    let a = product(t * t);
    let a = if axis == Axis::FourTimes { t * a } else { a };
    (a, t + F::splat(0.5))
}

/// The square-crystal F_latt² / [`Lattice::scale`] from the peeled fractional indices δ
/// (|δ| ≤ ½), any mix of polynomial and sine-ratio axes.
#[inline(always)]
pub(crate) fn square_lattice(lattice: &Lattice, d: [F; 3]) -> F {
    let mut amplitude = F::ONE;
    let mut weight = F::ONE;
    for (i, &delta) in d.iter().enumerate() {
        if lattice.axis[i] != Axis::Ratio {
            let [c] = cospi([delta]);
            let roots = &lattice.roots[i][..lattice.count[i]];
            let (a, wt) = polynomial_axis(lattice.axis[i], roots, c);
            amplitude *= a;
            weight *= wt;
        }
    }
    if lattice.axis.contains(&Axis::Ratio) {
        let n = lattice.n;
        let mut num = F::ONE;
        let mut den = F::ONE;
        for i in 0..3 {
            if lattice.axis[i] == Axis::Ratio {
                // Without the δ = 0 guard: one lane exactly on a Bragg peak makes the product
                // of the denominators 0, and only then are the guarded parts recomputed.
                let nd = d[i] * F::splat(n[i]);
                num *= sinpi(nd - nearest(nd));
                den *= sinpi(d[i]);
            }
        }
        if den.simd_eq(F::ZERO).any() {
            (num, den) = (F::ONE, F::ONE);
            for i in 0..3 {
                if lattice.axis[i] == Axis::Ratio {
                    let (a, b) = sincg_parts(d[i], n[i]);
                    num *= a;
                    den *= b;
                }
            }
        }
        amplitude *= num / den;
    }
    weight * (amplitude * amplitude)
}

/// The crystal orientations in C's loop order (φ step, then mosaic domain), with the φ-row
/// sequence of [`Prepared::phi_rows`].
#[derive(Clone, Copy)]
struct Orientations<'a> {
    all: &'a [[Vec3; 3]],
    phi_rows: &'a [usize],
    domains: usize,
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

/// A [`plain_sum`] instance.
type PlainSum = fn(&Setup, &Prepared, &[SourceLanes], &mut Block, bool, &mut RowStats);

/// F_latt² / [`Lattice::scale`] when all three axes have `N` ≤ [`POLYNOMIAL_MAX_N`] unit
/// cells, from the peeled fractional indices δ: the steps of [`polynomial_axis`] with the
/// root count fixed at compile time and the three axes' chains in lockstep. The axes share N,
/// so they share the roots of axis a. (Written out: calling `polynomial_axis` once per axis
/// gives the same image but measured 12 % slower in the hot loop.)
#[inline(always)]
pub(crate) fn polynomial_lattice<const N: usize>(lattice: &Lattice, d: [F; 3]) -> F {
    let c = cospi(d);
    let roots = &lattice.roots[0][..Axis::root_count(N)];
    let product = |x: [F; 3]| {
        let mut a = [F::ONE; 3];
        for &r in roots {
            for i in 0..3 {
                a[i] *= x[i] - r;
            }
        }
        a[0] * a[1] * a[2]
    };
    if Axis::of(N) == Axis::Odd {
        let a = product(c.map(|c| c * c));
        return a * a;
    }
    // t = cos(2πδ)/2 and z = t².
    let t = c.map(|c| c.mul_add(c, F::splat(-0.5)));
    let half = F::splat(0.5);
    let weight = (t[0] + half) * (t[1] + half) * (t[2] + half);
    let a = product(t.map(|t| t * t));
    let a = if Axis::of(N) == Axis::FourTimes {
        a * (t[0] * t[1] * t[2])
    } else {
        a
    };
    weight * (a * a)
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
    let lattice = &prep.lattice;
    let grid = setup.grid.as_deref();
    let default_f = F::splat(setup.default_f);
    // The evaluation of one pair: x holds peeled indices δ with one F for every reflection,
    // else the indices h themselves (F needs them).
    let evaluate = |x: [F; 3], active: &[bool], sum: F, stats: &mut RowStats| -> F {
        let d = if SF == DEFAULT_F {
            x
        } else {
            x.map(|h| h - nearest(h))
        };
        let f2 = if N == 0 {
            square_lattice(lattice, d)
        } else {
            polynomial_lattice::<N>(lattice, d)
        };
        let fc = match (SF, grid, &prep.grid) {
            (NEAREST_F, Some(g), Some(lanes)) => lanes.nearest(&g.data, x, default_f),
            (TRICUBIC_F, Some(g), _) => tricubic_f(setup, prep, g, x, active, stats),
            _ => return sum + f2,
        };
        f2.mul_add(fc * fc, sum)
    };
    // The lattice's power-of-two constant, and F² when it is one number (no grid), multiply
    // the sums.
    let scale = F::splat(
        lattice.scale
            * if SF == DEFAULT_F {
                setup.default_f * setup.default_f
            } else {
                1.0
            },
    );
    // With several sources, d·a, d·b, d·c of each orientation are computed once per vector and
    // shared: h = (d·a)/λ + (−î/λ)·a costs one multiply-add per axis and source.
    let shared = sources.len() > 1;
    if shared {
        block
            .projections
            .resize(setup.orientations.len(), [F::ZERO; 3]);
    }
    let peel = |h: F| if SF == DEFAULT_F { h - nearest(h) } else { h };
    for c in 0..block.nvec {
        let d = V3 {
            x: block.dx[c],
            y: block.dy[c],
            z: block.dz[c],
        };
        let active = &block.active[c * LANES..(c + 1) * LANES];
        let batch = &mut block.batch;
        let eval = |x: [F; 3], sum: F| evaluate(x, active, sum, stats);
        let sum = if shared {
            let projections = &mut block.projections;
            for (p, cell) in projections.iter_mut().zip(&prep.cells) {
                *p = cell.map(|v| d.dot(&v));
            }
            // Pair (source s, orientation o), counted along in C's order.
            let (mut s, mut o) = (0, 0);
            let indices = (0..sources.len() * projections.len()).map(|_| {
                let (src, p) = (&sources[s], &projections[o]);
                let (inv, off) = (F::splat(src.inv_lambda), src.offsets[o]);
                o += 1;
                if o == projections.len() {
                    (s, o) = (s + 1, 0);
                }
                [0, 1, 2].map(|i| peel(p[i].mul_add(inv, F::splat(off[i]))))
            });
            in_batches(indices, batch, eval)
        } else {
            // One source: q = d/λ − î/λ once per vector.
            let inv = F::splat(sources[0].inv_lambda);
            let m = sources[0].minus_inc_over_lambda;
            let q = V3 {
                x: d.x.mul_add(inv, F::splat(m[0])),
                y: d.y.mul_add(inv, F::splat(m[1])),
                z: d.z.mul_add(inv, F::splat(m[2])),
            };
            let indices = prep.cells.iter().map(|cell| cell.map(|v| peel(q.dot(&v))));
            in_batches(indices, batch, eval)
        };
        let term = scale * sum;
        block.layer_sum[c] += if masked {
            block.keep[c].select(term, F::ZERO)
        } else {
            term
        };
    }
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

/// F by tricubic interpolation; lanes outside the range where nanoBragg interpolates take the
/// nearest reflection (or `-default_F`), and the first such evaluation is recorded for the
/// warning.
#[inline(always)]
fn tricubic_f(
    setup: &Setup,
    prep: &Prepared,
    grid: &HklGrid,
    hkl: [F; 3],
    active: &[bool],
    stats: &mut RowStats,
) -> F {
    let Some(t) = &prep.grid else {
        return F::splat(setup.default_f);
    };
    let (f, done) = t.interpolate(&grid.data, hkl, active);
    if done.iter().zip(active).all(|(&d, &a)| d || !a) {
        return f;
    }
    let f = f.to_array();
    let h = hkl.map(|x| x.to_array());
    let mut no_latch = None;
    lanes_from(|i| {
        if done[i] || !active[i] {
            f[i]
        } else {
            let hkl = [h[0][i], h[1][i], h[2][i]];
            let hkl0 = hkl.map(physics::nearest_index);
            scalar::structure_factor(setup, hkl, hkl0, &mut no_latch, stats)
        }
    })
}

/// (Source, orientation) pairs per batch of [`plain_sum`]'s two passes.
const BATCH: usize = 16;

/// F_latt for the crystal shape, per lane (up to its sign, which the intensity does not see).
#[inline(always)]
fn lattice_factor(setup: &Setup, prep: &Prepared, hkl: [F; 3], hkl0: [F; 3]) -> F {
    let n = setup.crystal.cells;
    let d = [hkl[0] - hkl0[0], hkl[1] - hkl0[1], hkl[2] - hkl0[2]];
    match setup.shape {
        Shape::Square => (square_lattice(&prep.lattice, d) * F::splat(prep.lattice.scale)).sqrt(),
        Shape::Round => {
            let r2 = (d[0] * F::splat(n[0] * n[0])).mul_add(
                d[0],
                (d[1] * F::splat(n[1] * n[1])).mul_add(d[1], d[2] * d[2] * F::splat(n[2] * n[2])),
            );
            let x = (r2 * F::splat(setup.fudge)).sqrt() * F::splat(std::f64::consts::PI);
            let (s, c) = x.sin_cos();
            let x2 = x * x;
            let closed = F::splat(3.0) * (s / x - c) / x2;
            let series = F::ONE - x2 / F::splat(10.0) + x2 * x2 / F::splat(280.0);
            let small = x.abs().simd_lt(F::splat(SINC3_SERIES_BELOW));
            small.select(series, closed) * F::splat(n[0] * n[1] * n[2] * ROUND_CRYSTAL)
        }
        Shape::Gauss | Shape::Tophat => {
            let r = &setup.crystal.reciprocal_per_angstrom;
            let comp = |j: usize| {
                d[0].mul_add(
                    F::splat(r[0][j]),
                    d[1].mul_add(F::splat(r[1][j]), d[2] * F::splat(r[2][j])),
                )
            };
            let (x, y, z) = (comp(0), comp(1), comp(2));
            let nnn = n[0] * n[1] * n[2];
            let rad = (x * x + y * y + z * z) * F::splat(nnn * nnn);
            if setup.shape == Shape::Gauss {
                // exp(x) as exp(x/2)²: `wide`'s exp flushes to 0 below −708 where libm still
                // gives subnormals, and under compat a term whose F_latt is exactly 0 is
                // skipped, so the two engines must agree on which values vanish.
                let half =
                    (-(rad / F::splat(GAUSS_WIDTH) * F::splat(setup.fudge)) * F::splat(0.5)).exp();
                half * half * F::splat(nnn)
            } else {
                (rad * F::splat(setup.fudge))
                    .simd_lt(F::splat(TOPHAT_RADIUS_SQUARED))
                    .select(F::splat(nnn), F::ZERO)
            }
        }
    }
}

/// Pixels per block: the row is processed in blocks whose per-pixel buffers stay in L1.
pub const BLOCK: usize = 256;
const VECS: usize = BLOCK / LANES;

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
    let [x0, x1, y0, y1] = setup.roi;
    if s < y0 || s > y1 {
        return stats;
    }
    let stop = (x1 + 1).min(row.len());
    let mut f0 = x0 / LANES * LANES;
    while f0 < stop {
        let end = (f0 + BLOCK).min(stop);
        let q1_first = first.filter(|&(ff, fs)| {
            setup.compat && setup.phi_zero_carry.is_some() && fs == s && ff >= f0 && ff < end
        });
        if state.activate(setup, s, f0, end, q1_first.map(|(ff, _)| ff)) {
            state.run(setup, prep, s, f0, &mut stats);
            let values = &state.value[..end - f0];
            if state.all_active {
                for (out, v) in row[f0..end].iter_mut().zip(values) {
                    *out = *v as f32;
                }
            } else {
                for (i, out) in row[f0..end].iter_mut().enumerate() {
                    if state.active[i] {
                        *out = values[i] as f32;
                    }
                }
            }
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

/// Per-pixel state of one block of a row, as lane vectors: the scratch space of the SIMD loop
/// (about 40 KiB, so one per thread, reused row after row).
pub struct Block {
    nvec: usize,
    active: [bool; BLOCK],
    /// Whether every pixel of the block is rendered (set by [`Block::activate`]).
    all_active: bool,
    mask: [F; VECS],
    dx: [F; VECS],
    dy: [F; VECS],
    dz: [F; VECS],
    qx: [F; VECS],
    qy: [F; VECS],
    qz: [F; VECS],
    keep: [F; VECS],
    /// Product of the factors `-oversample_thick/_polar/_omega` apply to each term.
    factor: [F; VECS],
    acc: [F; VECS],
    layer_sum: [F; VECS],
    total: [F; VECS],
    polar: [F; VECS],
    omega: [F; VECS],
    omega_sum_v: [F; VECS],
    cap: [F; VECS],
    water_acc: [F; VECS],
    /// Peeled indices of a batch of evaluations in [`plain_sum`].
    batch: [[F; 3]; BATCH],
    /// d·a, d·b, d·c per crystal orientation, shared by the sources in [`plain_sum`].
    projections: Vec<[F; 3]>,
    value: [f64; BLOCK],
    /// Σω over the block's rendered sub-pixels.
    omega_total: f64,
}

impl Block {
    /// Fresh scratch space.
    pub fn new() -> Box<Block> {
        Box::new(Block {
            nvec: 0,
            active: [false; BLOCK],
            all_active: false,
            mask: [F::ZERO; VECS],
            dx: [F::ZERO; VECS],
            dy: [F::ZERO; VECS],
            dz: [F::ZERO; VECS],
            qx: [F::ZERO; VECS],
            qy: [F::ZERO; VECS],
            qz: [F::ZERO; VECS],
            keep: [F::ZERO; VECS],
            factor: [F::ZERO; VECS],
            acc: [F::ZERO; VECS],
            layer_sum: [F::ZERO; VECS],
            total: [F::ZERO; VECS],
            polar: [F::ZERO; VECS],
            omega: [F::ZERO; VECS],
            omega_sum_v: [F::ZERO; VECS],
            cap: [F::ZERO; VECS],
            water_acc: [F::ZERO; VECS],
            batch: [[F::ZERO; 3]; BATCH],
            projections: Vec::new(),
            value: [0.0; BLOCK],
            omega_total: 0.0,
        })
    }

    /// Mark the rendered pixels of `f0..end` (minus the Q1 pixel); false when there are none.
    fn activate(
        &mut self,
        setup: &Setup,
        s: usize,
        f0: usize,
        end: usize,
        skip: Option<usize>,
    ) -> bool {
        let n = end - f0;
        self.nvec = n.div_ceil(LANES);
        let [x0, x1, y0, y1] = setup.roi;
        let row_in = s >= y0 && s <= y1;
        let whole = row_in && setup.mask.is_none() && skip.is_none() && f0 >= x0 && end - 1 <= x1;
        let any = if whole {
            // The common case: every pixel of the block is rendered.
            self.active[..n].fill(true);
            self.active[n..self.nvec * LANES].fill(false);
            true
        } else {
            let mask = setup
                .mask
                .as_deref()
                .map(|m| &m[s * setup.detector.fpixels..]);
            let mut any = false;
            for i in 0..self.nvec * LANES {
                let f = f0 + i;
                let on = row_in
                    && i < n
                    && f >= x0
                    && f <= x1
                    && mask.is_none_or(|m| m[f] != 0)
                    && skip != Some(f);
                self.active[i] = on;
                any |= on;
            }
            any
        };
        self.all_active = whole || self.active[..n].iter().all(|&a| a);
        const ON: f64 = f64::from_bits(u64::MAX);
        for c in 0..self.nvec {
            let lanes = &self.active[c * LANES..(c + 1) * LANES];
            self.mask[c] = if lanes.iter().all(|&a| a) {
                F::splat(ON)
            } else {
                lanes_from(|i| if lanes[i] { ON } else { 0.0 })
            };
        }
        any
    }

    /// The loop nest for the block starting at pixel `f0` of row `s`.
    fn run(&mut self, setup: &Setup, prep: &Prepared, s: usize, f0: usize, stats: &mut RowStats) {
        let det = &setup.detector;
        let compat = setup.compat;
        let n = setup.oversample;
        let sub = det.pixel_size / n as f64;
        let layers = setup.layers;
        let nv = self.nvec;
        let thick = layers.thickness > 0.0 || compat;
        let nopolar_kept = setup.nopolar && !compat;

        for c in 0..nv {
            self.acc[c] = F::splat(if compat { setup.water } else { 0.0 });
            self.total[c] = F::ZERO;
            self.polar[c] = F::splat(if setup.nopolar { 1.0 } else { 0.0 });
            self.omega[c] = F::ZERO;
            self.omega_sum_v[c] = F::ZERO;
            self.water_acc[c] = F::ZERO;
        }
        let lane_index = lanes_from(|i| i as f64);
        let orientations = Orientations {
            all: &setup.orientations,
            phi_rows: &prep.phi_rows,
            domains: setup.mosaic.len(),
        };
        for t in 0..layers.count {
            let odet = t as f64 * layers.step;
            for c in 0..nv {
                self.cap[c] = F::splat(if layers.thickness == 0.0 { 1.0 } else { 0.0 });
                self.layer_sum[c] = F::ZERO;
            }
            for sub_s in 0..n {
                let sdet = sub * (s * n + sub_s) as f64 + sub / 2.0;
                let base = det.position(0.0, sdet, odet);
                for sub_f in 0..n {
                    // Stage A: sub-pixel geometry, solid angle, capture fraction.
                    let first_sub = t == 0 && sub_s == 0 && sub_f == 0;
                    let new_omega = first_sub || setup.oversample_omega;
                    let first_of_layer = sub_s == 0 && sub_f == 0 && layers.thickness > 0.0;
                    let new_cap = first_of_layer || (thick && setup.oversample_thick);
                    for c in 0..nv {
                        let start = sub * ((f0 + c * LANES) * n + sub_f) as f64 + sub / 2.0;
                        let fdet = lane_index.mul_add(F::splat(sub * n as f64), F::splat(start));
                        let mut pos = V3 {
                            x: fdet.mul_add(F::splat(det.fdet[0]), F::splat(base[0])),
                            y: fdet.mul_add(F::splat(det.fdet[1]), F::splat(base[1])),
                            z: fdet.mul_add(F::splat(det.fdet[2]), F::splat(base[2])),
                        };
                        if setup.curved {
                            pos = curved(setup, pos, fdet, sdet, odet);
                        }
                        let r2 = pos.x.mul_add(pos.x, pos.y.mul_add(pos.y, pos.z * pos.z));
                        let inv_r = F::ONE / r2.sqrt();
                        let d = V3 {
                            x: pos.x * inv_r,
                            y: pos.y * inv_r,
                            z: pos.z * inv_r,
                        };
                        (self.dx[c], self.dy[c], self.dz[c]) = (d.x, d.y, d.z);
                        if new_omega {
                            self.omega[c] = if setup.point_pixel {
                                inv_r * inv_r
                            } else {
                                F::splat(det.pixel_size * det.pixel_size * det.close_distance)
                                    * (inv_r * inv_r * inv_r)
                            };
                        }
                        self.omega_sum_v[c] += self.omega[c];
                        if new_cap {
                            // As in the scalar engine: |d·ô|, at least the smallest normal.
                            let parallax = d
                                .dot_scalar(det.odet)
                                .abs()
                                .max(F::splat(f64::MIN_POSITIVE));
                            let mu = F::splat(layers.step * layers.mu) / parallax;
                            self.cap[c] = (-(F::splat(t as f64) * mu)).exp()
                                - (-(F::splat((t + 1) as f64) * mu)).exp();
                        }
                    }
                    match prep.plain {
                        // Without dmin every source reaches every rendered pixel: the sources
                        // only set the polarization, and one call sums them all.
                        Some(plain) if setup.dmin == 0.0 => {
                            if !nopolar_kept {
                                for src in &prep.sources {
                                    if !self.polar_pending() {
                                        break;
                                    }
                                    for c in 0..nv {
                                        self.polarize(setup, src, c, self.mask[c]);
                                    }
                                }
                            }
                            plain(setup, prep, &prep.sources, self, false, stats);
                        }
                        Some(plain) => {
                            for src in &prep.sources {
                                self.source_setup(setup, src, nopolar_kept);
                                let src = std::slice::from_ref(src);
                                plain(setup, prep, src, self, true, stats);
                            }
                        }
                        None => {
                            for src in &prep.sources {
                                self.source_setup(setup, src, nopolar_kept);
                                for c in 0..nv {
                                    self.accumulate(setup, prep, orientations, c, stats);
                                }
                            }
                        }
                    }
                    for c in 0..nv {
                        // Water scatters like a flat background: ⟨P·ω·capture⟩ over sub-pixels.
                        self.water_acc[c] += self.polar[c] * self.omega[c] * self.cap[c];
                    }
                }
            }
            if !compat {
                for c in 0..nv {
                    self.total[c] += if setup.oversample_thick {
                        self.layer_sum[c]
                    } else {
                        self.layer_sum[c] * self.cap[c]
                    };
                }
            }
        }
        let inv_steps = 1.0 / setup.steps;
        let water = F::splat(setup.water / (n * n) as f64);
        let mut omega = F::ZERO;
        for c in 0..nv {
            let mut value = if compat {
                let v = F::splat(setup.scale * inv_steps) * self.acc[c];
                if setup.oversample_thick {
                    v
                } else {
                    v * self.cap[c]
                }
            } else {
                F::splat(setup.scale * inv_steps) * self.total[c]
            };
            if !setup.oversample_polar || nopolar_kept {
                value *= self.polar[c];
            }
            if !setup.oversample_omega {
                value *= self.omega[c];
            }
            if !compat && setup.water != 0.0 {
                value += water * self.water_acc[c];
            }
            self.value[c * LANES..(c + 1) * LANES].copy_from_slice(&value.to_array());
            omega = self.mask[c].select(self.omega_sum_v[c], F::ZERO) + omega;
        }
        self.omega_total = omega.reduce_add();
    }

    /// Per source: scattering vectors, the dmin mask, the polarization factor.
    fn source_setup(&mut self, setup: &Setup, src: &SourceLanes, nopolar_kept: bool) {
        let inv = F::splat(src.inv_lambda);
        let m = src.minus_inc_over_lambda.map(F::splat);
        for c in 0..self.nvec {
            let d = V3 {
                x: self.dx[c],
                y: self.dy[c],
                z: self.dz[c],
            };
            let q = V3 {
                x: d.x.mul_add(inv, m[0]),
                y: d.y.mul_add(inv, m[1]),
                z: d.z.mul_add(inv, m[2]),
            };
            (self.qx[c], self.qy[c], self.qz[c]) = (q.x, q.y, q.z);
            // dmin: keep lanes whose resolution 1/|q| is at least dmin.
            let keep = if setup.dmin > 0.0 {
                let stol = q.x.mul_add(q.x, q.y.mul_add(q.y, q.z * q.z)).sqrt() * F::splat(0.5);
                let reject =
                    stol.simd_gt(F::ZERO) & F::splat(setup.dmin).simd_gt(F::splat(0.5) / stol);
                self.mask[c] & !reject
            } else {
                self.mask[c]
            };
            self.keep[c] = keep;
            if !nopolar_kept {
                self.polarize(setup, src, c, keep);
            }
            // The per-term factors change with the sub-pixel and source, not the orientation.
            let mut factor = F::ONE;
            if setup.oversample_thick {
                factor *= self.cap[c];
            }
            if setup.oversample_polar {
                factor *= self.polar[c];
            }
            if setup.oversample_omega {
                factor *= self.omega[c];
            }
            self.factor[c] = factor;
        }
    }

    /// Whether a rendered lane of the block has no polarization factor yet.
    fn polar_pending(&self) -> bool {
        (0..self.nvec).any(|c| (self.mask[c] & self.polar[c].simd_eq(F::ZERO)).any())
    }

    /// The polarization factor of vector `c` from this source, on the lanes of `keep` that
    /// need it: every one with `-oversample_polar`, else those without one yet (C computes it
    /// at the first source that reaches the pixel).
    #[inline(always)]
    fn polarize(&mut self, setup: &Setup, src: &SourceLanes, c: usize, keep: F) {
        let need = if setup.oversample_polar {
            keep
        } else {
            keep & self.polar[c].simd_eq(F::ZERO)
        };
        if !need.any() {
            return;
        }
        let d = V3 {
            x: self.dx[c],
            y: self.dy[c],
            z: self.dz[c],
        };
        let cos2t = d.dot_scalar(src.incident);
        let c2 = cos2t * cos2t;
        let sin2 = F::ONE - c2;
        let cos2psi = if setup.kahn != 0.0 {
            let e = d.dot_scalar(src.e_in);
            let b = d.dot_scalar(src.b_in);
            let (e2, b2) = (e * e, b * b);
            let norm = e2 + b2;
            norm.simd_eq(F::ZERO).select(F::ONE, (e2 - b2) / norm)
        } else {
            F::ONE
        };
        let p = F::splat(0.5) * (F::ONE + c2 - F::splat(setup.kahn) * cos2psi * sin2);
        self.polar[c] = need.select(p, self.polar[c]);
    }

    /// Stage B, the hot loop: every crystal orientation for pixel vector `c` of the block.
    #[inline(always)]
    fn accumulate(
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
            let fl = lattice_factor(setup, prep, hkl, hkl0);
            let fc2 = match grid {
                None => fc2_default,
                Some(g) => {
                    let (f, done) = match &prep.grid {
                        Some(t) if setup.interpolate => t.interpolate(&g.data, hkl, active),
                        _ => (F::ZERO, [false; LANES]),
                    };
                    if done.iter().all(|&d| d) {
                        f * f
                    } else {
                        // Lanes not interpolated: the nearest reflection (or the default F),
                        // and the out-of-range evaluation recorded for the warning.
                        let f = f.to_array();
                        let h = hkl.map(|x| x.to_array());
                        let h0 = hkl0.map(|x| x.to_array());
                        let mut no_latch = None;
                        lanes_from(|i| {
                            let fc = if done[i] {
                                f[i]
                            } else if active[i] {
                                let hkl = [h[0][i], h[1][i], h[2][i]];
                                let hkl0 = [h0[0][i], h0[1][i], h0[2][i]];
                                scalar::structure_factor(setup, hkl, hkl0, &mut no_latch, stats)
                            } else {
                                0.0
                            };
                            fc * fc
                        })
                    }
                }
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

/// Lagrange weights of the four consecutive integer nodes `x0 … x0+3` at `x0 + t`, per lane:
/// the denominators of nanoBragg's `polint` are the constants −6, 2, −2, 6 for such nodes.
#[inline(always)]
fn cubic_weights(t: F) -> [F; 4] {
    let sixth = F::splat(1.0 / 6.0);
    let half = F::splat(0.5);
    let (t1, t2, t3) = (t - F::ONE, t - F::splat(2.0), t - F::splat(3.0));
    [
        -(t1 * t2 * t3) * sixth,
        t * t2 * t3 * half,
        -(t * t1 * t3) * half,
        t * t1 * t2 * sixth,
    ]
}

/// The structure-factor grid as the lane code addresses it: bounds and strides as lane
/// constants, computed once per render.
struct GridLanes {
    /// Smallest h, k, l.
    mins: [f64; 3],
    /// Largest h, k, l.
    maxs: [f64; 3],
    /// `max − min + 1` per axis (nanoBragg's `h_range` …).
    spans: [f64; 3],
    /// Strides of h and k in [`HklGrid::data`](crate::io::HklGrid::data).
    strides: [usize; 2],
}

impl GridLanes {
    fn new(setup: &Setup) -> Option<Self> {
        let g = setup.grid.as_deref().filter(|g| g.count > 0)?;
        let (hr, kr, lr) = g.ranges();
        Some(GridLanes {
            mins: [g.h_min, g.k_min, g.l_min].map(f64::from),
            maxs: [g.h_max, g.k_max, g.l_max].map(f64::from),
            spans: [hr, kr, lr].map(|r| r as f64),
            strides: [(kr + 1) * (lr + 1), lr + 1],
        })
    }

    /// Position in the grid's data of integer-valued (h, k, l), per lane (exact in f64).
    #[inline(always)]
    fn index(&self, hkl: [F; 3]) -> F {
        let [sk, sl] = self.strides.map(|s| F::splat(s as f64));
        let d: [F; 3] = std::array::from_fn(|i| hkl[i] - F::splat(self.mins[i]));
        d[0].mul_add(sk, d[1].mul_add(sl, d[2]))
    }

    /// F of the nearest reflection, `(h0, k0, l0) = ceil(h − ½)` as nanoBragg rounds;
    /// `-default_F` outside the grid (or where an index is NaN).
    #[inline(always)]
    fn nearest(&self, data: &[f64], hkl: [F; 3], default_f: F) -> F {
        let h0 = hkl.map(|x| (x - F::splat(0.5)).ceil());
        let mut inside = F::splat(f64::from_bits(u64::MAX));
        for (i, x) in h0.iter().enumerate() {
            inside &= x.simd_ge(F::splat(self.mins[i])) & x.simd_le(F::splat(self.maxs[i]));
        }
        let at = self.index(h0).to_array();
        let (inside, default_f) = (inside.to_bitmask(), default_f.to_array());
        lanes_from(|i| {
            if inside & (1 << i) != 0 {
                data.get(at[i] as usize).copied().unwrap_or(default_f[i])
            } else {
                default_f[i]
            }
        })
    }

    /// Tricubic interpolation of F at fractional (h, k, l), as nanoBragg.c's `polin3` computes
    /// it (the same 4×4×4 Lagrange interpolant) but with precomputed weights and direct
    /// indexing: 64 multiply-adds instead of 21 `polint` calls with 84 divisions. The range
    /// test, the weights and the first index are lane vectors. Neighbouring pixels usually
    /// share one cube (h, k, l change by about 1 % of an index per pixel): when every lane
    /// of the vector is in range and has the same cube, its 64 values are broadcast and the
    /// sum runs on lane vectors, `F = Σ_l wl ⊙ Σ_(h,k) (wh ⊙ wk)·F[h][k][l]`. Otherwise each
    /// lane's cube is read on its own (`wide` has no gather). Which way a vector goes depends
    /// only on its pixels' h, k, l, never on the region of interest or the thread count.
    /// Returns F and, per lane, whether it was interpolated: lanes that are inactive or outside
    /// the range where nanoBragg interpolates are not.
    #[inline(always)]
    fn interpolate(&self, data: &[f64], hkl: [F; 3], active: &[bool]) -> (F, [bool; LANES]) {
        let mut inside = F::splat(f64::from_bits(u64::MAX));
        for (i, x) in hkl.iter().enumerate() {
            let min = F::splat(self.mins[i]);
            inside &= (*x - min + F::splat(3.0)).simd_le(F::splat(self.spans[i]))
                & (*x - F::splat(2.0)).simd_ge(min);
        }
        let base = [hkl[0].floor(), hkl[1].floor(), hkl[2].floor()].map(|b| b - F::ONE);
        let w = [
            cubic_weights(hkl[0] - base[0]),
            cubic_weights(hkl[1] - base[1]),
            cubic_weights(hkl[2] - base[2]),
        ];
        let [sk, sl] = self.strides;
        let first = self.index(base).to_array();
        let inside = inside.to_bitmask();
        let span = 3 * sk + 3 * sl + 4;
        if inside == (1 << LANES) - 1 && first.iter().all(|&x| x == first[0]) {
            if let Some(cube) = data.get(first[0] as usize..first[0] as usize + span) {
                let mut t = [F::ZERO; 4];
                for a in 0..4 {
                    for b in 0..4 {
                        let whk = w[0][a] * w[1][b];
                        let row = &cube[a * sk + b * sl..a * sk + b * sl + 4];
                        for (t, &v) in t.iter_mut().zip(row) {
                            *t = whk.mul_add(F::splat(v), *t);
                        }
                    }
                }
                let f = w[2][0].mul_add(
                    t[0],
                    w[2][1].mul_add(t[1], w[2][2].mul_add(t[2], w[2][3] * t[3])),
                );
                return (f, std::array::from_fn(|i| active[i]));
            }
        }
        let arrays = |w: &[F; 4]| {
            [
                w[0].to_array(),
                w[1].to_array(),
                w[2].to_array(),
                w[3].to_array(),
            ]
        };
        let (wh, wk, wl) = (arrays(&w[0]), arrays(&w[1]), arrays(&w[2]));
        let mut done = [false; LANES];
        let mut f = [0.0; LANES];
        // A plain loop over the lanes (not a closure), so it stays inlined in the hot loop.
        for i in 0..LANES {
            if !active[i] || inside & (1 << i) == 0 {
                continue;
            }
            let at = first[i] as usize;
            let Some(cube) = data.get(at..at + span) else {
                continue;
            };
            done[i] = true;
            // F = Σ_i wh_i·(Σ_j wk_j·F[i][j][·])·wl: the four l-values of each (i, j) row are
            // contiguous, so the inner sums are 16 four-wide multiply-adds in four independent
            // chains, then four more for h and one four-wide product with the l weights.
            let splat = wide::f64x4::splat;
            let mut t = [wide::f64x4::ZERO; 4];
            for (a, t) in t.iter_mut().enumerate() {
                for (b, w) in wk.iter().enumerate() {
                    let at = a * sk + b * sl;
                    *t = wide::f64x4::from(&cube[at..at + 4]).mul_add(splat(w[i]), *t);
                }
            }
            let mut u = wide::f64x4::ZERO;
            for (t, w) in t.iter().zip(&wh) {
                u = t.mul_add(splat(w[i]), u);
            }
            f[i] = (u * wide::f64x4::from([wl[0][i], wl[1][i], wl[2][i], wl[3][i]])).reduce_add();
        }
        let f = F::from(f);
        (f, done)
    }
}

/// The curved-detector mapping, lane by lane with the scalar code.
fn curved(setup: &Setup, pos: V3, fdet: F, sdet: f64, odet: f64) -> V3 {
    let fd = fdet.to_array();
    let (px, py, pz) = (pos.x.to_array(), pos.y.to_array(), pos.z.to_array());
    let mapped: [Vec3; LANES] =
        std::array::from_fn(|i| scalar::curve(setup, [px[i], py[i], pz[i]], fd[i], sdet, odet));
    V3 {
        x: lanes_from(|i| mapped[i][0]),
        y: lanes_from(|i| mapped[i][1]),
        z: lanes_from(|i| mapped[i][2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics;

    #[test]
    fn sinpi_matches_std_on_the_peeled_range() {
        let mut worst: f64 = 0.0;
        for i in 1..=10000 {
            let x = 0.5 * i as f64 / 10000.0;
            let exact = (std::f64::consts::PI * x).sin();
            worst = worst.max(((sinpi_scalar(x) - exact) / exact).abs());
            let v = sinpi(F::splat(x)).to_array()[0];
            assert!(((v - exact) / exact).abs() < 1e-11, "{x}");
        }
        assert!(worst < 1e-11, "{worst}");
        assert_eq!(sinpi_scalar(0.0), 0.0);
    }

    #[test]
    fn cospi_matches_std_on_the_peeled_range() {
        for i in 0..=10000 {
            let x = 0.5 * i as f64 / 10000.0;
            let exact = (std::f64::consts::PI * x).cos();
            // Without FMA (the x86-64 baseline) `wide` rounds the product and the sum apart.
            let [c] = cospi([F::splat(x)]);
            assert!((c.to_array()[0] - exact).abs() < 1e-14, "{x}");
        }
        assert_eq!(cospi([F::ZERO])[0].to_array()[0], 1.0);
    }

    /// U_{N−1}(c) by its recurrence U_{k+1} = 2c·U_k − U_{k−1}.
    fn chebyshev_u(n: usize, c: f64) -> f64 {
        let (mut prev, mut cur) = (0.0, 1.0);
        for _ in 1..n {
            (prev, cur) = (cur, 2.0 * c * cur - prev);
        }
        cur
    }

    /// Every polynomial axis's root product, weight and leading coefficient against the
    /// recurrence, on and off its roots, and exactly N² at the peak.
    #[test]
    fn root_products_are_the_chebyshev_polynomials() {
        for n in 1..=16 {
            let (axis, lead2) = (Axis::of(n), Axis::lead_squared(n));
            let roots: Vec<F> = Axis::roots(n).into_iter().map(F::splat).collect();
            for i in 0..=2000 {
                let c = -1.0 + i as f64 / 1000.0;
                let (a, w) = polynomial_axis(axis, &roots, F::splat(c));
                let ours = lead2 * (w * a * a).to_array()[0];
                let exact = chebyshev_u(n, c).powi(2);
                let bound = 1e-12 * (n * n) as f64;
                assert!((ours - exact).abs() <= bound, "N {n} c {c}: {ours} {exact}");
            }
            let (a, w) = polynomial_axis(axis, &roots, F::ONE);
            let peak = lead2 * (w * a * a).to_array()[0];
            assert!((peak / (n * n) as f64 - 1.0).abs() < 1e-14, "N {n}: {peak}");
        }
    }

    fn reference_lattice(cells: [f64; 3], hkl: [f64; 3]) -> f64 {
        (0..3)
            .map(|i| {
                let h0 = physics::nearest_index(hkl[i]);
                physics::lattice_factor_axis(hkl[i], h0, cells[i])
            })
            .product::<f64>()
            .powi(2)
    }

    const HKL: [[f64; 3]; 5] = [
        [0.3, -0.2, 0.11],
        [2.0, 3.0, -4.0],
        [7.5, -0.5, 1.25],
        [1e-9, 0.499, -0.0371],
        [12.02, -5.97, 3.333],
    ];

    /// Both lattice-factor methods (polynomial for N ≤ 16, sine ratio above) against the
    /// scalar engine's `sin(πNh)/sin(πh)`, for every N up to 40, odd and even, on and off peaks.
    #[test]
    fn square_lattice_factor_matches_the_scalar_engine() {
        for n in 1..=40 {
            for hkl in HKL {
                let cells = [n as f64, 2.0, (n + 3) as f64];
                let lattice = Lattice::new(cells);
                let d = hkl.map(|h| F::splat(h) - nearest(F::splat(h)));
                let simd = lattice.scale * square_lattice(&lattice, d).to_array()[0];
                let reference = reference_lattice(cells, hkl);
                assert!(
                    (simd - reference).abs() <= 1e-10 * reference.max(1.0),
                    "N {cells:?} hkl {hkl:?}: {simd} {reference}"
                );
            }
        }
    }

    #[test]
    fn cubic_weights_reproduce_polint() {
        let xs = [3.0, 4.0, 5.0, 6.0];
        let ys = [1.5, -2.0, 7.25, 0.5];
        for t in [1.0, 1.3, 1.5, 1.99] {
            let w = cubic_weights(F::splat(t)).map(|w| w.to_array()[0]);
            let fast: f64 = (0..4).map(|i| w[i] * ys[i]).sum();
            let reference = physics::polint(&xs, &ys, 3.0 + t);
            assert!((fast - reference).abs() < 1e-12, "{t}: {fast} {reference}");
        }
    }

    #[test]
    fn peeled_sincg_matches_the_scalar_lattice_factor() {
        for &(h, n) in &[
            (0.3, 5.0),
            (2.27, 10.0),
            (-7.61, 8.0),
            (13.49, 3.0),
            (4.0, 7.0),
            (50.5, 20.0),
        ] {
            let h0 = physics::nearest_index(h);
            let (num, den) = sincg_parts(F::splat(h - h0), n);
            let simd = (num / den).to_array()[0].abs();
            let reference = physics::lattice_factor_axis(h, h0, n).abs();
            assert!(
                (simd - reference).abs() <= 1e-10 * reference.max(1.0),
                "{h} {n}: {simd} {reference}"
            );
        }
    }
}
