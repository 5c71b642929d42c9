//! Engines: the pixel loop, as a value you choose.
//!
//! [`Backend::Scalar`] is the reference: a plain transcription of nanoBragg.c's pixel loop with
//! no cleverness beyond hoisting what never changes across pixels. Rows are independent, so
//! rows are spread over rayon's threads; each pixel is computed by the same code in the same
//! order whatever the thread count, so the image is bit-identical for 1 or N threads.
//!
//! Both engines have one row kernel shape (`RowKernel`: row index and row slice in,
//! [`RowStats`] out, with per-worker scratch space), so one driver spreads the rows of either
//! over rayon's threads. One case runs serially, in the same driver: `compat` mode with
//! tricubic interpolation, because nanoBragg.c switches interpolation off for the rest of the
//! run at the first out-of-range evaluation (spec Q16), which only has a meaning in the serial
//! raster order.

pub mod scalar;
pub mod simd;

use rayon::prelude::*;

use crate::setup::Setup;

/// Which implementation of the pixel loop to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The reference implementation, one pixel at a time in f64.
    Scalar,
    /// `wide` vectors across consecutive pixels of a row (see [`simd`]).
    #[default]
    Simd,
}

impl Backend {
    /// Every backend, for tests that loop over all of them.
    pub const ALL: [Backend; 2] = [Backend::Scalar, Backend::Simd];
}

/// A rendered float image and what the loop measured on the way.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// Pixels along fast.
    pub width: usize,
    /// Pixels along slow.
    pub height: usize,
    /// Photons per pixel, row-major (fast index fastest).
    pub pixels: Vec<f32>,
    /// Σ of the solid angles of every rendered sub-pixel (sr), before dividing by `steps`.
    pub omega_sum: f64,
    /// The first evaluation that fell outside the structure-factor grid while interpolating:
    /// (h, k, l) and the nearest (h0, k0, l0).
    pub interpolation_miss: Option<([f64; 3], [f64; 3])>,
}

/// Render the float image with the chosen backend.
///
/// Rows are shared out to rayon's threads; the image does not depend on their number. Both
/// backends give the same image to within [`MIN_CORRELATION`] and [`MAX_RELATIVE_ERROR`]
/// (bit for bit on nanoBragg's test cases).
///
/// ```
/// use nanobragg::engine::{self, Backend};
/// use nanobragg::params::{Lattice, Params};
/// use nanobragg::setup::Setup;
///
/// let mut p = Params::default();
/// let right = 90f64.to_radians();
/// p.crystal.lattice = Lattice::cell(50e-10, 50e-10, 50e-10, right, right, right);
/// p.structure_factors.default_f = 100.0;
/// p.detector.set_pixels(32, 24);
/// let setup = Setup::new(&p)?;
/// let fast = engine::render(&setup, Backend::Simd);
/// let reference = engine::render(&setup, Backend::Scalar);
/// assert_eq!((fast.width, fast.height), (32, 24));
/// let (correlation, worst) = engine::agreement(&reference.pixels, &fast.pixels);
/// assert!(correlation >= engine::MIN_CORRELATION && worst <= engine::MAX_RELATIVE_ERROR);
/// # Ok::<(), nanobragg::Error>(())
/// ```
pub fn render(setup: &Setup, backend: Backend) -> Rendered {
    render_observed(setup, backend, &|| {})
}

/// Like [`render`], calling `row_done` after each row (from the worker threads), for progress
/// meters.
pub fn render_observed(setup: &Setup, backend: Backend, row_done: &(dyn Fn() + Sync)) -> Rendered {
    let width = setup.detector.fpixels;
    let height = setup.detector.spixels;
    let mut pixels = vec![0f32; width * height];
    let first = setup.region.first_rendered();
    // C's run-wide interpolation switch (compat) only has a meaning in serial order.
    let serial = setup.compat && setup.interpolate;
    let backend = if serial { Backend::Scalar } else { backend };
    let rows = match backend {
        Backend::Scalar => {
            let kernel = scalar::Rows::new(setup, first, serial);
            render_rows(&kernel, &mut pixels, width, row_done)
        }
        Backend::Simd => render_rows(&simd::Rows::new(setup, first), &mut pixels, width, row_done),
    };
    let rendered = Rendered {
        width,
        height,
        pixels,
        omega_sum: rows.iter().map(|r| r.omega_sum).sum(),
        interpolation_miss: rows.iter().find_map(|r| r.interpolation_miss),
    };
    #[cfg(feature = "check-simd")]
    if backend == Backend::Simd {
        let reference = render(setup, Backend::Scalar);
        let (corr, worst) = agreement(&reference.pixels, &rendered.pixels);
        assert!(
            corr >= MIN_CORRELATION && worst <= MAX_RELATIVE_ERROR,
            "check-simd: SIMD image differs from the scalar one: correlation {corr}, worst \
             relative error {worst}"
        );
    }
    rendered
}

/// What a row reports besides its pixels.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowStats {
    /// Σ ω over the row's rendered sub-pixels.
    pub omega_sum: f64,
    /// First interpolation miss in the row.
    pub interpolation_miss: Option<([f64; 3], [f64; 3])>,
}

/// A backend's row kernel, the one shape both engines give [`render_rows`]: render row `s`
/// into `row` with per-worker scratch space.
trait RowKernel: Sync {
    /// Scratch space, one per worker, reused row after row.
    type Scratch: Send;

    /// Fresh scratch space.
    fn scratch(&self) -> Self::Scratch;

    /// Render row `s` into `row`.
    fn row(&self, scratch: &mut Self::Scratch, s: usize, row: &mut [f32]) -> RowStats;

    /// Whether the rows must run one after the other in raster order, with one scratch space
    /// (the scalar engine's interpolation latch under compat, which is run-wide state).
    fn serial(&self) -> bool {
        false
    }
}

/// Every row of `pixels` through the kernel, calling `row_done` after each: in parallel on
/// rayon's threads, one task per row, unless the kernel is serial. The rows' statistics come
/// back in row order, so their sums do not depend on the thread count.
fn render_rows<K: RowKernel>(
    kernel: &K,
    pixels: &mut [f32],
    width: usize,
    row_done: &(dyn Fn() + Sync),
) -> Vec<RowStats> {
    let row = |scratch: &mut K::Scratch, (s, row): (usize, &mut [f32])| {
        let r = kernel.row(scratch, s, row);
        row_done();
        r
    };
    if kernel.serial() {
        let mut scratch = kernel.scratch();
        let rows = pixels.chunks_mut(width).enumerate();
        return rows.map(|r| row(&mut scratch, r)).collect();
    }
    let rows = pixels.par_chunks_mut(width).enumerate();
    rows.map_init(|| kernel.scratch(), row).collect()
}

/// Agreement required between the SIMD and scalar engines: Pearson correlation.
pub const MIN_CORRELATION: f64 = 0.999_999_9;
/// Agreement required between the SIMD and scalar engines: relative error on every pixel
/// brighter than 1 % of the peak.
pub const MAX_RELATIVE_ERROR: f64 = 1e-6;

/// Compare a candidate image with a reference: (Pearson correlation, worst relative error over
/// the reference pixels brighter than 1 % of its peak). Two constant images correlate 1.
pub fn agreement(reference: &[f32], candidate: &[f32]) -> (f64, f64) {
    let n = reference.len().max(1) as f64;
    let mr = reference.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mc = candidate.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&x, &y) in reference.iter().zip(candidate) {
        let (x, y) = (x as f64 - mr, y as f64 - mc);
        sxy += x * y;
        sxx += x * x;
        syy += y * y;
    }
    let corr = if sxx == 0.0 && syy == 0.0 {
        1.0
    } else {
        sxy / (sxx * syy).sqrt()
    };
    let peak = reference.iter().map(|&v| v as f64).fold(0.0, f64::max);
    let worst = reference
        .iter()
        .zip(candidate)
        .filter(|(x, _)| **x as f64 > 0.01 * peak)
        .map(|(&x, &y)| ((y as f64 - x as f64) / x as f64).abs())
        .fold(0.0, f64::max);
    (corr, worst)
}
