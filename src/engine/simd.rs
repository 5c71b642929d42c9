//! The SIMD engine: `LANES` consecutive pixels of a detector row in one `wide` vector, and the
//! loop over crystal orientations moved outside the loop over pixels.
//!
//! # How it maps onto nanoBragg.c's loop
//!
//! C walks one pixel at a time and runs the whole loop nest inside it. Here lane `i` of vector
//! `c` holds pixel `f0 + 8c + i` of a block of up to [`BLOCK`] pixels of row `s`, and the loop
//! nest is reordered so that the innermost loop runs over the pixels of the block:
//!
//! ```text
//! for each block of the row (BLOCK pixels, L1-resident buffers)
//!   for each layer t, sub-pixel (subS, subF):          C: thick_tic, subS, subF
//!     for each vector of pixels:                       (stage A: geometry)
//!       P = pix0 + Fdet·f̂ + Sdet·ŝ + Odet·ô;  d = P/|P|;  ω;  capture fraction
//!     for each source:                                 C: source
//!       for each vector:  q = d/λ − î/λ;  dmin mask;  polarization (first source)
//!       for each (φ, domain) orientation:              C: phi_tic, mos_tic
//!         for each vector:                             (stage B: the hot loop)
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
//!   loop they are nine broadcast scalars. Per source, `1/λ`, `−î/λ` and the polarization frame
//!   (`B = p̂×î`, `E = î×B`) are computed once.
//! * **Integer peel.** For an integer N, `sin(πNh)/sin(πh) = ±sin(πNδ)/sin(πδ)` with
//!   `δ = h − h0` (h0 the nearest integer, `nearest`: two additions), so |δ| ≤ ½. Only
//!   F_latt² enters the intensity, so signs are dropped.
//! * **Chebyshev recurrence (N ≤ [`CHEBYSHEV_MAX_N`]).** `sin(Nθ)/sin θ = U_{N−1}(cos θ)`, the
//!   Chebyshev polynomial of the second kind, with θ = πδ. [`cospi`] is a near-minimax
//!   polynomial (absolute error ≤ 8e-15, exactly 1 at 0) evaluated by Estrin's scheme. The
//!   recurrence `U_{k+1} = 2c·U_k − U_{k−1}` runs only to m = ⌊N/2⌋, then
//!   `U_{2m−1} = U_{m−1}·(2U_m − 2c·U_{m−1})` (N even) or `U_{2m} = (U_m − U_{m−1})(U_m + U_{m−1})`
//!   (N odd): about N/2 multiply-adds, no division and no special case at the peak, where
//!   c = 1 gives exactly N. The three axes' recurrences are interleaved and, when all three
//!   share N, unrolled at compile time (`recurrence`) so their chains stay in registers. In C,
//!   per axis: `c = cospi(h-h0); u0 = 1; u1 = 2*c; for (k = 2; k <= m; k++)
//!   { t = 2*c*u1 - u0; u0 = u1; u1 = t; }  F = (Na & 1) ? (u1-u0)*(u1+u0) : u0*(2*u1 - 2*c*u0);`
//! * **Sine ratio (larger N).** `sin(πNδ) = ±sin(πr)` with `r = Nδ − nearest(Nδ)`; both sines
//!   have arguments in [−π/2, π/2], so no range reduction is needed: [`sinpi`] is an odd Taylor
//!   polynomial of degree 15 (relative error ≤ 6e-12 on [−½, ½]). The axes share one
//!   division, `(num_a·num_b·num_c / den_a·den_b·den_c)`, with `num = N, den = 1` on a lane where
//!   δ = 0 exactly (a Bragg peak).
//! * **Polarization without trigonometry.** C's `cos(2ψ)` with `ψ = −atan2(d·B, d·E)` is
//!   `(E² − B²)/(E² + B²)`.
//! * **Masks.** Pixels outside the region of interest or masked, the lanes past the end of the
//!   row, and dmin-rejected sources are lane masks: the arithmetic runs on every lane and
//!   `select` keeps or discards the result. In `compat` mode C's running-sum multiplications and
//!   its `F_latt == 0` shortcut become selects too.
//! * **Gathers.** `wide` has no gather: structure factors from an HKL grid are looked up lane by
//!   lane (scalar loads); tricubic interpolation computes its range test, weights and first
//!   index as lane vectors and reads each lane's 4×4×4 cube with four-wide loads.
//!
//! # What goes to the scalar engine
//!
//! * `compat` with tricubic interpolation: C's run-wide interpolation switch is serial
//!   ([`super::render`] hands the whole image to the scalar engine).
//! * `compat` with a φ sweep through φ = 0: the image's first rendered pixel (C's very first
//!   evaluation starts from the unrotated crystal, spec Q1).
//! * The curved detector maps each sub-pixel with the scalar [`super::scalar::curve`], lane by
//!   lane; the rest of its loop stays vectorised.

use crate::params::Shape;
use crate::setup::Setup;
use crate::vec3::{self, Vec3};

use super::scalar::{self, RowStats};

/// The lane vector: eight f64 (one zmm register with AVX-512, two ymm with AVX2).
pub type F = wide::f64x8;

/// Pixels per vector.
pub const LANES: usize = std::mem::size_of::<F>() / 8;

/// Odd Taylor coefficients of sin(πx): c_k = (−1)^k π^(2k+1)/(2k+1)!, k = 0…7.
const SINPI: [f64; 8] = [
    std::f64::consts::PI,
    -5.167712780049969,
    2.550164039877345,
    -0.5992645293207919,
    0.08214588661112819,
    -0.007370430945714348,
    0.00046630280576761234,
    -2.1915353447830204e-05,
];

/// sin(πx) for |x| ≤ ½ (degree-15 odd polynomial, relative error ≤ 6e-12).
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

/// Scalar twin of [`sinpi`], for tests.
pub fn sinpi_scalar(x: f64) -> f64 {
    let x2 = x * x;
    let mut p = SINPI[7];
    for &c in SINPI[..7].iter().rev() {
        p = p.mul_add(x2, c);
    }
    p * x
}

/// 1.5·2⁵²: adding and subtracting it rounds an f64 of magnitude below 2⁵¹ to the nearest
/// integer (ties to even), two additions on every SIMD level.
const ROUNDER: f64 = 6755399441055744.0;

/// The nearest integer to each lane, for |x| < 2⁵¹ (Miller indices are far below: |h| ≤ 2|a|/λ).
/// `wide`'s `round` rounds ties away from zero in eight instructions per register; for the
/// integer peel any nearest integer will do, since |δ| = ½ either way on a tie.
#[inline(always)]
fn nearest(x: F) -> F {
    let r = F::splat(ROUNDER);
    (x + r) - r
}

/// One axis of the square-crystal lattice factor: (numerator, denominator) of
/// `±sin(πNδ)/sin(πδ)`, with (N, 1) where δ = 0.
#[inline(always)]
fn sincg_parts(delta: F, n: f64) -> (F, F) {
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
}

/// Everything the SIMD loop needs beyond [`Setup`], computed once per render.
pub struct Prepared {
    sources: Vec<SourceLanes>,
    /// Orientation row used at each φ step (Q1 under compat for every pixel but the first).
    phi_rows: Vec<usize>,
    /// The lattice-factor method of each axis.
    lattice: LatticePlan,
    /// The grid as interpolation addresses it, when interpolating.
    tricubic: Option<Tricubic>,
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
                SourceLanes {
                    minus_inc_over_lambda: vec3::scale(s.incident, -inv),
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
        Prepared {
            sources,
            phi_rows,
            lattice: LatticePlan::new(setup.crystal.cells),
            tricubic: Tricubic::new(setup),
        }
    }
}

/// How the square-crystal lattice factor is computed on each axis, from its cell count N.
struct LatticePlan {
    /// The axis enters the lattice factor (N > 1).
    axes: [bool; 3],
    /// ⌊N/2⌋ where the Chebyshev recurrence gives the axis's factor, else 0.
    half: [usize; 3],
    /// N is odd.
    odd: [bool; 3],
    /// The largest of `half`.
    half_max: usize,
    /// Some axis uses the recurrence.
    recurrence: bool,
    /// Every axis uses the recurrence with the same N.
    uniform: bool,
    /// Some axis uses the sine ratio.
    ratio: bool,
}

impl LatticePlan {
    fn new(n: [f64; 3]) -> Self {
        let axes = n.map(|n| n > 1.0);
        let recurrence = [0, 1, 2].map(|i| axes[i] && n[i] <= CHEBYSHEV_MAX_N);
        let half = [0, 1, 2].map(|i| if recurrence[i] { n[i] as usize / 2 } else { 0 });
        LatticePlan {
            axes,
            half,
            odd: n.map(|n| n % 2.0 == 1.0),
            half_max: half.into_iter().max().unwrap_or(0),
            recurrence: recurrence.contains(&true),
            uniform: recurrence.iter().all(|&r| r) && n[0] == n[1] && n[1] == n[2],
            ratio: (0..3).any(|i| axes[i] && !recurrence[i]),
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

/// Largest N for which an axis's lattice factor is the Chebyshev recurrence (N − 2 multiply-adds
/// after one cosine); above it the two sines and a shared division are cheaper.
pub const CHEBYSHEV_MAX_N: f64 = 16.0;

/// cos(πx) = 1 + x²·h(x²) on |x| ≤ ½: coefficients of h, a degree-6 polynomial in x² fitted
/// at Chebyshev nodes (near-minimax; absolute error of cos ≤ 8e-15, and exactly 1 at x = 0).
const COSPI: [f64; 7] = [
    -4.934802200544648,
    4.058712126404739,
    -1.3352627680800373,
    0.2353306116770197,
    -0.025806677017856293,
    0.001928311247304769,
    -0.00010093924017583586,
];

/// cos(πx) for |x| ≤ ½ (absolute error ≤ 8e-15; exactly 1 at 0).
#[inline(always)]
pub fn cospi(x: F) -> F {
    // Estrin's scheme: five dependent operations instead of Horner's eight.
    let c = |k: usize| F::splat(COSPI[k]);
    let u = x * x;
    let u2 = u * u;
    let u4 = u2 * u2;
    let p01 = c(1).mul_add(u, c(0));
    let p23 = c(3).mul_add(u, c(2));
    let p45 = c(5).mul_add(u, c(4));
    let q0 = p23.mul_add(u2, p01);
    let q1 = c(6).mul_add(u2, p45);
    q1.mul_add(u4, q0).mul_add(u, F::ONE)
}

/// `STEPS` steps of `U_{k+1} = 2c·U_k − U_{k−1}` on each axis, from `(U_{k−1}, U_k)`.
#[inline(always)]
fn recurrence<const STEPS: usize>(
    two_c: [F; 3],
    mut prev: [F; 3],
    mut cur: [F; 3],
) -> ([F; 3], [F; 3]) {
    for _ in 0..STEPS {
        for i in 0..3 {
            let next = two_c[i].mul_add(cur[i], -prev[i]);
            prev[i] = cur[i];
            cur[i] = next;
        }
    }
    (prev, cur)
}

/// The square-crystal |F_latt| from the peeled fractional indices δ (|δ| ≤ ½).
#[inline(always)]
fn square_lattice(plan: &LatticePlan, n: [f64; 3], d: [F; 3]) -> F {
    let mut f = F::ONE;
    // U_{N−1} from the recurrence run only to m = ⌊N/2⌋, the three axes' chains interleaved:
    // U_{2m−1} = U_{m−1}·(U_m − U_{m−2}) = U_{m−1}·(2U_m − 2c·U_{m−1}), U_{2m} = U_m² − U_{m−1}².
    let half = plan.half;
    if plan.recurrence {
        let two_c = [0, 1, 2].map(|i| {
            if half[i] > 0 {
                let c = cospi(d[i]);
                c + c
            } else {
                F::ZERO
            }
        });
        let mut prev = [F::ONE; 3];
        let mut cur = two_c;
        if plan.uniform {
            // The common case, every axis with the same N: the loop unrolled at compile time
            // for each ⌊N/2⌋ up to 8, so the nine chains stay in registers.
            (prev, cur) = match plan.half_max {
                1 => (prev, cur),
                2 => recurrence::<1>(two_c, prev, cur),
                3 => recurrence::<2>(two_c, prev, cur),
                4 => recurrence::<3>(two_c, prev, cur),
                5 => recurrence::<4>(two_c, prev, cur),
                6 => recurrence::<5>(two_c, prev, cur),
                7 => recurrence::<6>(two_c, prev, cur),
                _ => recurrence::<7>(two_c, prev, cur),
            };
        } else {
            for k in 2..=plan.half_max {
                for i in 0..3 {
                    if k <= half[i] {
                        let next = two_c[i].mul_add(cur[i], -prev[i]);
                        prev[i] = cur[i];
                        cur[i] = next;
                    }
                }
            }
        }
        for i in 0..3 {
            if half[i] > 0 {
                f *= if plan.odd[i] {
                    (cur[i] - prev[i]) * (cur[i] + prev[i])
                } else {
                    prev[i] * two_c[i].mul_add(-prev[i], cur[i] + cur[i])
                };
            }
        }
    }
    if plan.ratio {
        let mut num = F::ONE;
        let mut den = F::ONE;
        for i in 0..3 {
            if plan.axes[i] && half[i] == 0 {
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
                if plan.axes[i] && half[i] == 0 {
                    let (a, b) = sincg_parts(d[i], n[i]);
                    num *= a;
                    den *= b;
                }
            }
        }
        f *= num / den;
    }
    f
}

/// F_latt for the crystal shape, per lane (up to its sign, which the intensity does not see).
#[inline(always)]
fn lattice_factor(setup: &Setup, prep: &Prepared, hkl: [F; 3], hkl0: [F; 3]) -> F {
    let n = setup.crystal.cells;
    let d = [hkl[0] - hkl0[0], hkl[1] - hkl0[1], hkl[2] - hkl0[2]];
    match setup.shape {
        Shape::Square => square_lattice(&prep.lattice, n, d),
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
            let small = x.abs().simd_lt(F::splat(0.01));
            small.select(series, closed) * F::splat(n[0] * n[1] * n[2] * 0.723601254558268)
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
                let half = (-(rad / F::splat(0.63) * F::splat(setup.fudge)) * F::splat(0.5)).exp();
                half * half * F::splat(nnn)
            } else {
                (rad * F::splat(setup.fudge))
                    .simd_lt(F::splat(0.3969))
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
            if state.active[..end - f0].iter().all(|&a| a) {
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
                    for src in &prep.sources {
                        self.source_setup(setup, src, nopolar_kept);
                        for &row in &prep.phi_rows {
                            for m in 0..setup.mosaic.len() {
                                let cell = &setup.orientations[row * setup.mosaic.len() + m];
                                self.accumulate(setup, prep, cell, stats);
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
            let need = if setup.oversample_polar {
                keep
            } else {
                keep & self.polar[c].simd_eq(F::ZERO)
            };
            if !nopolar_kept && need.any() {
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

    /// Stage B, the hot loop: one crystal orientation over every pixel vector of the block.
    #[inline(always)]
    fn accumulate(
        &mut self,
        setup: &Setup,
        prep: &Prepared,
        cell: &[Vec3; 3],
        stats: &mut RowStats,
    ) {
        let compat = setup.compat;
        let grid = setup.grid.as_ref().filter(|g| g.count > 0);
        let fc2_default = F::splat(setup.default_f * setup.default_f);
        let all_kept = setup.dmin == 0.0;
        let plain = !compat
            && setup.shape == Shape::Square
            && !setup.oversample_thick
            && !setup.oversample_polar
            && !setup.oversample_omega
            && grid.is_none();
        let [a, b, c3] = cell.map(|v| v.map(F::splat));
        let half = F::splat(0.5);
        for c in 0..self.nvec {
            let (qx, qy, qz) = (self.qx[c], self.qy[c], self.qz[c]);
            let dot = |v: [F; 3]| qx.mul_add(v[0], qy.mul_add(v[1], qz * v[2]));
            let hkl = [dot(a), dot(b), dot(c3)];
            if plain {
                // The common case: square crystal, default F, no per-term factors.
                let d = hkl.map(|x| x - nearest(x));
                let fl = square_lattice(&prep.lattice, setup.crystal.cells, d);
                let term = fc2_default * (fl * fl);
                self.layer_sum[c] += if all_kept {
                    term
                } else {
                    self.keep[c].select(term, F::ZERO)
                };
                continue;
            }
            let hkl0 = hkl.map(|x| (x - half).ceil());
            let fl = lattice_factor(setup, prep, hkl, hkl0);
            let fc2 = match grid {
                None => fc2_default,
                Some(g) => {
                    let active = &self.active[c * LANES..(c + 1) * LANES];
                    let (f, done) = match &prep.tricubic {
                        Some(t) => t.interpolate(&g.data, hkl, active),
                        None => (F::ZERO, [false; LANES]),
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
            let keep = self.keep[c];
            if compat {
                // C multiplies its running sum, not the term (Q11).
                let next = (self.acc[c] + term) * self.factor[c];
                let mut take = keep;
                if setup.water == 0.0 {
                    // C skips the term when F_latt is 0 (F_latt², which can underflow, would
                    // skip terms C keeps).
                    take &= !fl.simd_eq(F::ZERO);
                }
                self.acc[c] = take.select(next, self.acc[c]);
            } else {
                self.layer_sum[c] += keep.select(term * self.factor[c], F::ZERO);
            }
        }
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

/// The structure-factor grid as tricubic interpolation addresses it.
struct Tricubic {
    /// Smallest h, k, l.
    mins: [f64; 3],
    /// `max − min + 1` per axis (nanoBragg's `h_range` …).
    spans: [f64; 3],
    /// Strides of h and k in [`HklGrid::data`](crate::io::HklGrid::data).
    strides: [usize; 2],
}

impl Tricubic {
    fn new(setup: &Setup) -> Option<Self> {
        let g = setup
            .grid
            .as_deref()
            .filter(|g| g.count > 0 && setup.interpolate)?;
        let (hr, kr, lr) = g.ranges();
        Some(Tricubic {
            mins: [g.h_min, g.k_min, g.l_min].map(f64::from),
            spans: [hr, kr, lr].map(|r| r as f64),
            strides: [(kr + 1) * (lr + 1), lr + 1],
        })
    }

    /// Tricubic interpolation of F at fractional (h, k, l), as nanoBragg.c's `polin3` computes
    /// it (the same 4×4×4 Lagrange interpolant) but with precomputed weights and direct
    /// indexing: 64 multiply-adds instead of 21 `polint` calls with 84 divisions. The range
    /// test, the weights and the first index are lane vectors; the 4×4×4 cube is read lane by
    /// lane (`wide` has no gather). Returns F and, per lane, whether it was interpolated:
    /// lanes that are inactive or outside the range where nanoBragg interpolates are not.
    #[inline(always)]
    fn interpolate(&self, data: &[f64], hkl: [F; 3], active: &[bool]) -> (F, [bool; LANES]) {
        let mut inside = F::splat(f64::from_bits(u64::MAX));
        for (i, x) in hkl.iter().enumerate() {
            let min = F::splat(self.mins[i]);
            inside &= (*x - min + F::splat(3.0)).simd_le(F::splat(self.spans[i]))
                & (*x - F::splat(2.0)).simd_ge(min);
        }
        let base = hkl.map(|x| x.floor() - F::ONE);
        let [wh, wk, wl] = [0, 1, 2].map(|i| cubic_weights(hkl[i] - base[i]));
        let [sk, sl] = self.strides;
        let first = (base[0] - F::splat(self.mins[0])).mul_add(
            F::splat(sk as f64),
            (base[1] - F::splat(self.mins[1]))
                .mul_add(F::splat(sl as f64), base[2] - F::splat(self.mins[2])),
        );
        let whk: [[[f64; LANES]; 4]; 4] = wh.map(|a| wk.map(|b| (a * b).to_array()));
        let wl: [[f64; LANES]; 4] = wl.map(|w| w.to_array());
        let first = first.to_array();
        let inside = inside.to_array();
        let mut done = [false; LANES];
        let f = lanes_from(|i| {
            if !active[i] || inside[i] == 0.0 {
                return 0.0;
            }
            let at = first[i] as usize;
            let Some(cube) = data.get(at..at + 3 * sk + 3 * sl + 4) else {
                return 0.0;
            };
            done[i] = true;
            // F = Σ_l w_l · (Σ_ij wh_i·wk_j · F[i][j][l]): the four l-values of each (i, j) row
            // are contiguous, so the inner sum is 16 four-wide multiply-adds.
            let mut acc = wide::f64x4::ZERO;
            for (a, row_a) in whk.iter().enumerate() {
                for (b, w) in row_a.iter().enumerate() {
                    let at = a * sk + b * sl;
                    let row = wide::f64x4::from(&cube[at..at + 4]);
                    acc = row.mul_add(wide::f64x4::splat(w[i]), acc);
                }
            }
            (acc * wide::f64x4::from([wl[0][i], wl[1][i], wl[2][i], wl[3][i]])).reduce_add()
        });
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
            assert!(
                (cospi(F::splat(x)).to_array()[0] - exact).abs() < 1e-14,
                "{x}"
            );
        }
        assert_eq!(cospi(F::ZERO).to_array()[0], 1.0);
    }

    /// Both lattice-factor methods (recurrence for N ≤ 16, sine ratio above) against the
    /// scalar engine's `sin(πNh)/sin(πh)`, for every N up to 40, odd and even, on and off peaks.
    #[test]
    fn square_lattice_factor_matches_the_scalar_engine() {
        for n in 2..=40 {
            for &(x, y, z) in &[
                (0.3, -0.2, 0.11),
                (2.0, 3.0, -4.0),
                (7.5, -0.5, 1.25),
                (1e-9, 0.499, -0.0371),
                (12.02, -5.97, 3.333),
            ] {
                let cells = [n as f64, 2.0, (n + 3) as f64];
                let plan = LatticePlan::new(cells);
                let hkl = [x, y, z];
                let d = hkl.map(|h| F::splat(h) - nearest(F::splat(h)));
                let simd = square_lattice(&plan, cells, d).to_array()[0].powi(2);
                let reference: f64 = (0..3)
                    .map(|i| {
                        let h0 = physics::nearest_index(hkl[i]);
                        physics::lattice_factor_axis(hkl[i], h0, cells[i])
                    })
                    .product::<f64>()
                    .powi(2);
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
