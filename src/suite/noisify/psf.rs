//! The detector's point-spread function: each pixel's photons spread over its neighbours.
//!
//! # Kernels
//!
//! The kernel value at offset `(dx, dy)` (pixels) is the PSF integrated over that unit pixel:
//!
//! * Gaussian of full width at half maximum `F` pixels: separable, `K = P(dx)·P(dy)` with
//!   `P(d) = ½[erf((d+½)a) − erf((d−½)a)]`, `a = √(ln 16)/F` (the complementary error function
//!   for `d ≥ 1`, where the difference of two values near 1 would lose the tail).
//! * Fibre-optic taper, `g/2π·(g² + r²)^(−3/2)` with `g = 0.652383013252053·F` (the profile
//!   whose FWHM is `F`): `K` is the difference of the primitive
//!   `atan(xy/(g√(g²+x²+y²)))/2π` at the pixel's four corners.
//!
//! Only offsets within the rendering radius `R` count (`dx² + dy² ≤ R²`).
//!
//! # Radius
//!
//! With `-psf_radius R` every pixel uses `R`. Otherwise (`0`, automatic) a pixel of `I` photons
//! uses the radius beyond which the photons falling are below a tenth of its shot noise:
//! Gaussian `1 + ⌈F·√(ln(10√I)/ln 16)⌉` (the square root of a negative number, `I < 0.01`,
//! taken as 0), fibre `1 + ⌈10·g·√I⌉`; the kernel is made for the brightest pixel. Radii are
//! capped at the larger side of the image.
//!
//! # Photons beyond the radius
//!
//! A pixel's photons outside its radius are summed over the image and spread evenly over all
//! pixels. Here that part is exactly `I·(1 − Σ K over the disc of its radius)`, so the PSF
//! conserves photons, except those that fall beyond the edge of the detector, which are lost
//! (they reach no pixel). C uses the continuous-disc formulas instead (Gaussian
//! `I·exp(−ln 16·R²/F²)`, fibre `I·g/√(g²+R²)`), and its edge test is off by one (NZ6:
//! photons spilling past the right edge land at the start of the next row); [`apply_psf_compat`]
//! reproduces both. Pixels with no photons (`≤ 0`, or NaN) are dropped in both.
//!
//! # Default mode: gathers, row-parallel
//!
//! [`convolve`] computes each output row on its own, so every output pixel sums its
//! contributions in one fixed order, whatever the thread count. For small radii a dense
//! gather runs each kernel offset over whole rows (contiguous, vectorised loops; a source
//! counts where its radius reaches the offset); for large radii a sparse gather visits the
//! source rows within `R` in ascending order, and in each the source pixels (largest radius
//! first, then by column) whose disc reaches the output row, adding `value·kernel row` over
//! the chord that disc cuts from it. Both do the work of the scatter (each source–target pair
//! once); the one with less estimated work runs.

use rayon::prelude::*;

use super::erf::{erf, erfc};
use crate::error::Result;
use crate::lanes::{self, F, LANES};

/// The fibre profile's `g` per pixel of FWHM: `FWHM = 2·√(2^(2/3) − 1)·g`.
pub const FIBER_G_PER_FWHM: f64 = 0.652_383_013_252_053;

/// The automatic radius keeps the photons beyond it below `√I / PHOTON_LOSS_FACTOR`.
const PHOTON_LOSS_FACTOR: f64 = 10.0;

/// The shape of the point-spread function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsfKind {
    /// Gaussian (`-psf gauss`).
    Gauss,
    /// Fibre-optic taper, `g/2π·(g² + r²)^(−3/2)` (`-psf fiber`).
    Fiber,
}

/// A point-spread function, in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Psf {
    /// Its shape.
    pub kind: PsfKind,
    /// Full width at half maximum, in pixels (`-psf_fwhm` µm over the pixel size).
    pub fwhm: f64,
    /// Rendering radius in pixels; 0 chooses it from each pixel's photons (see the module
    /// documentation).
    pub radius: usize,
}

/// What applying the PSF printed in C.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PsfReport {
    /// With the automatic radius: the brightest pixel (`maximum input photon/pixel`).
    pub max_photons: Option<f64>,
    /// With the automatic radius: the radius chosen for the brightest pixel, before the cap at
    /// the image size (`auto-selected psf_radius`).
    pub auto_radius: Option<i64>,
    /// The photons beyond the radii, spread over the image (`adding back … lost photons`);
    /// `None` when the image had no photons and the PSF was skipped (the result is then 0).
    pub lost: Option<f64>,
}

impl Psf {
    /// `g` of the fibre profile, in pixels.
    fn g(&self) -> f64 {
        self.fwhm * FIBER_G_PER_FWHM
    }

    /// The automatic radius for a pixel of `photons` (unbounded; NaN for NaN).
    pub fn auto_radius(&self, photons: f64) -> f64 {
        match self.kind {
            PsfKind::Gauss => {
                let s = ((10.0 * photons.sqrt()).ln() / 16f64.ln()).max(0.0);
                1.0 + (self.fwhm * s.sqrt()).ceil()
            }
            PsfKind::Fiber => 1.0 + (PHOTON_LOSS_FACTOR * self.g() * photons.sqrt()).ceil(),
        }
    }

    /// The largest photon count whose automatic radius is at most `k ≥ 1` (the inverse of
    /// [`Psf::auto_radius`]).
    fn radius_threshold(&self, k: usize) -> f64 {
        let n = (k - 1) as f64;
        match self.kind {
            PsfKind::Gauss => {
                let root = (16f64.ln() * (n / self.fwhm).powi(2)).exp() / 10.0;
                root * root
            }
            PsfKind::Fiber => (n / (PHOTON_LOSS_FACTOR * self.g())).powi(2),
        }
    }

    /// The kernel at offset `(dx, dy)`: the PSF integrated over that pixel (default mode).
    pub fn kernel_value(&self, dx: i64, dy: i64) -> f64 {
        match self.kind {
            PsfKind::Gauss => {
                let a = 16f64.ln().sqrt() / self.fwhm;
                gauss_1d(dx.unsigned_abs() as f64, a) * gauss_1d(dy.unsigned_abs() as f64, a)
            }
            PsfKind::Fiber => fiber_pixel(dx as f64, dy as f64, self.g()),
        }
    }
}

/// `∫ over [d−½, d+½]` of the unit-area Gaussian with `a = √(ln 16)/FWHM`, for `d ≥ 0`.
fn gauss_1d(d: f64, a: f64) -> f64 {
    if d == 0.0 {
        erf(0.5 * a)
    } else {
        0.5 * (erfc((d - 0.5) * a) - erfc((d + 0.5) * a))
    }
}

/// The fibre profile's primitive `∫₀ˣ∫₀ʸ` (C `fiber2D_integ`).
fn fiber_integ(x: f64, y: f64, g: f64) -> f64 {
    ((x * y) / (g * (g * g + x * x + y * y).sqrt())).atan() / 2.0 / std::f64::consts::PI
}

/// The fibre profile integrated over the unit pixel centred at `(x, y)` (C `fiber2D_pixel`
/// with `pix = 1`).
fn fiber_pixel(x: f64, y: f64, g: f64) -> f64 {
    let h = 0.5;
    fiber_integ(x + h, y + h, g) - fiber_integ(x + h, y - h, g) - fiber_integ(x - h, y + h, g)
        + fiber_integ(x - h, y - h, g)
}

/// The rendering radius for the whole image (the kernel's), and the reported values.
/// `None` radius: nothing to blur.
fn kernel_radius<T>(image: &[T], width: usize, height: usize, psf: &Psf) -> (usize, PsfReport)
where
    T: Copy + Into<f64> + Sync,
{
    let cap = width.max(height);
    if psf.radius > 0 {
        return (psf.radius.min(cap), PsfReport::default());
    }
    let max = image
        .par_chunks(width.max(1))
        .map(row_max)
        .reduce(|| 0.0, f64::max);
    let mut report = PsfReport {
        max_photons: Some(max),
        ..PsfReport::default()
    };
    if max <= 0.0 {
        return (0, report);
    }
    let r = psf.auto_radius(max);
    report.auto_radius = Some(if r.is_nan() { 1 } else { r.min(1e18) as i64 });
    let r = if r.is_nan() { 1.0 } else { r.max(1.0) };
    (if r >= cap as f64 { cap } else { r as usize }, report)
}

/// The default-mode kernel: `rows[ady·(2R+1) + R + dx] = K(dx, ady)` for `0 ≤ ady ≤ R`
/// (the kernel is symmetric in `dy`), zero outside the disc of radius `R`, and `disc[r]`, the
/// sum of `K` over the disc of radius `r`.
struct Kernel {
    rows: Vec<f64>,
    disc: Vec<f64>,
}

impl Kernel {
    fn new(psf: &Psf, radius: usize) -> Kernel {
        let n = 2 * radius + 1;
        let r2 = radius * radius;
        let mut rows = vec![0.0; (radius + 1) * n];
        rows.par_chunks_mut(n).enumerate().for_each(|(ady, row)| {
            for adx in 0..=radius {
                if adx * adx + ady * ady > r2 {
                    break;
                }
                let k = psf.kernel_value(adx as i64, ady as i64);
                row[radius + adx] = k;
                row[radius - adx] = k;
            }
        });
        // Each quadrant entry goes to the smallest disc holding it, counted as often as it
        // occurs in the full kernel (once at the centre, twice on an axis, four times off).
        let mut ring = vec![0.0; radius + 1];
        for ady in 0..=radius {
            for adx in 0..=radius {
                let d2 = adx * adx + ady * ady;
                if d2 > r2 {
                    break;
                }
                let copies = match (adx, ady) {
                    (0, 0) => 1.0,
                    (0, _) | (_, 0) => 2.0,
                    _ => 4.0,
                };
                ring[ceil_sqrt(d2)] += copies * rows[ady * n + radius + adx];
            }
        }
        let mut sum = 0.0;
        let disc = ring
            .into_iter()
            .map(|v| {
                sum += v;
                sum
            })
            .collect();
        Kernel { rows, disc }
    }
}

/// `⌊√n⌋` for integers (exact).
fn floor_sqrt(n: usize) -> usize {
    let mut r = (n as f64).sqrt() as usize;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r
}

/// `⌈√n⌉` for integers (exact).
fn ceil_sqrt(n: usize) -> usize {
    let r = floor_sqrt(n);
    if r * r == n { r } else { r + 1 }
}

/// Bytes the default-mode PSF holds besides the images, for the memory check.
fn working_bytes(pixels: usize, radius: usize) -> u64 {
    let kernel = (radius as u64 + 1) * (2 * radius as u64 + 1) * 8;
    kernel + pixels as u64 * (4 + std::mem::size_of::<Source>() as u64)
}

/// A source pixel of the sparse gather: column, radius, photons.
#[derive(Clone, Copy, Debug)]
struct Source {
    x: usize,
    radius: usize,
    value: f64,
}

/// Number of kernel offsets within the disc of radius `r`.
fn disc_taps(r: usize) -> u64 {
    (0..=r)
        .map(|dy| 2 * floor_sqrt(r * r - dy * dy) as u64 + 1)
        .sum::<u64>()
        * 2
        - (2 * r as u64 + 1)
}

/// Relative cost of one kernel tap in the dense gather (contiguous and vectorised, but done
/// for every pixel and every tap of the largest disc). Measured on a 1024² image, radius 2:
/// the dense gather takes ~0.3 ns per tap, the sparse one ~1.4 ns per unit of the estimate
/// below at the old weights (3 per tap, 6 per chord).
const DENSE_TAP_COST: u64 = 1;
/// Sparse gather: cost of visiting one chord of a source's disc (one source row).
const SPARSE_CHORD_COST: u64 = 40;
/// Sparse gather: cost of one tap.
const SPARSE_TAP_COST: u64 = 2;

/// Up to this kernel radius the first pass sums the photons ring by ring (vectorised, one
/// pass per ring); beyond it, pixel by pixel with a binary search for the radius.
const RING_PASS_MAX: usize = 12;

/// The photons of `row` above `threshold` (≥ 0), summed on lanes, and how many pixels.
fn sum_above<T: Copy + Into<f64>>(row: &[T], threshold: f64) -> (f64, u64) {
    let t = F::splat(threshold);
    let mut sum = F::ZERO;
    let mut count = 0;
    for chunk in row.chunks(LANES) {
        let v = lanes::from_fn(|i| chunk.get(i).map_or(0.0, |&v| v.into()));
        let above = v.simd_gt(t);
        sum += above & v;
        count += u64::from(above.to_bitmask().count_ones());
    }
    (sum.to_array().iter().sum(), count)
}

/// The largest value of `row`, at least 0 (NaN ignored), on lanes.
pub(super) fn row_max<T: Copy + Into<f64>>(row: &[T]) -> f64 {
    let mut max = F::ZERO;
    for chunk in row.chunks(LANES) {
        let v = lanes::from_fn(|i| chunk.get(i).map_or(0.0, |&v| v.into()));
        max = v.simd_gt(max).select(v, max);
    }
    max.to_array().into_iter().fold(0.0, f64::max)
}

/// How the output rows are gathered.
enum Plan {
    /// Every offset of the disc: `(dx, dy, threshold, kernel value)`; a source contributes
    /// through the offset when its photons exceed the threshold, i.e. when its radius reaches
    /// the offset's ring `⌈√(dx² + dy²)⌉` (and it has photons).
    Dense(Vec<(i64, i64, f64, f64)>),
    /// Per source row, the sources with photons, largest radius first, then by column.
    Sparse(Vec<Vec<Source>>),
}

/// Apply `psf` to `image` (`width × height`, row-major, photons per pixel), default mode.
///
/// Returns the blurred image and what C would have printed. Deterministic for any thread
/// count. Errors only when the kernel would not fit in memory.
pub fn convolve<T>(
    image: &[T],
    width: usize,
    height: usize,
    psf: &Psf,
) -> Result<(Vec<f64>, PsfReport)>
where
    T: Copy + Into<f64> + Sync,
{
    let mut out = vec![0.0; image.len()];
    let targets: Vec<&mut [f64]> = out.chunks_mut(width.max(1)).collect();
    let (_, report) = convolve_rows(image, width, height, psf, targets, |_, row, target| {
        target.copy_from_slice(row);
    })?;
    Ok((out, report))
}

/// [`convolve`], handing each blurred row to `each(y, row, target)` with its `target` (one per
/// row, in order) instead of storing the image; returns what `each` returned, in row order.
///
/// Two gathers compute the same sums: a dense one, for small radii, that runs every kernel
/// offset over whole rows, and a sparse one, for large radii, that visits each source's disc
/// chord by chord. The one with the smaller estimated work runs (a choice that depends on the
/// image only).
pub fn convolve_rows<T, O, R>(
    image: &[T],
    width: usize,
    height: usize,
    psf: &Psf,
    targets: Vec<O>,
    each: impl Fn(usize, &[f64], O) -> R + Sync,
) -> Result<(Vec<R>, PsfReport)>
where
    T: Copy + Into<f64> + Sync,
    O: Send,
    R: Send,
{
    convolve_with(image, width, height, psf, targets, each, None)
}

/// [`convolve_rows`] with the gather forced (`Some(true)`: dense) for the tests.
fn convolve_with<T, O, R>(
    image: &[T],
    width: usize,
    height: usize,
    psf: &Psf,
    targets: Vec<O>,
    each: impl Fn(usize, &[f64], O) -> R + Sync,
    force_dense: Option<bool>,
) -> Result<(Vec<R>, PsfReport)>
where
    T: Copy + Into<f64> + Sync,
    O: Send,
    R: Send,
{
    let pixels = image.len();
    let width = width.max(1);
    let (radius, mut report) = kernel_radius(image, width, height, psf);
    if radius == 0 || pixels == 0 {
        let zeros = vec![0.0; width];
        let rows = targets
            .into_par_iter()
            .enumerate()
            .map(|(y, o)| each(y, &zeros, o))
            .collect();
        return Ok((rows, report));
    }
    crate::memory::check(
        working_bytes(pixels, radius),
        &format!("a point-spread function of radius {radius} pixels"),
    )?;
    let kernel = Kernel::new(psf, radius);
    let auto = psf.radius == 0;
    // Pixel radii from the thresholds of the automatic rule: r ≤ k ⟺ I ≤ threshold[k−1].
    let thresholds: Vec<f64> = if auto {
        (1..=radius).map(|k| psf.radius_threshold(k)).collect()
    } else {
        Vec::new()
    };
    let radius_of = |v: f64| {
        if auto {
            (thresholds.partition_point(|&t| t < v) + 1).min(radius)
        } else {
            radius
        }
    };
    let taps: Vec<u64> = (0..=radius).map(disc_taps).collect();
    // The sparse gather's work for one source of radius r.
    let cost = |r: usize| SPARSE_TAP_COST * taps[r] + SPARSE_CHORD_COST * (2 * r as u64 + 1);
    // A source reaches ring ρ ≥ 1 (radius ≥ ρ) when its photons exceed ring_threshold[ρ].
    let ring_threshold: Vec<f64> = (0..=radius)
        .map(|rho| match rho {
            _ if !auto || rho < 2 => 0.0,
            _ => thresholds[rho - 2],
        })
        .collect();

    // The photons each disc leaves out, Σ v·(1 − disc[r]) (summed per row, then over rows in
    // order), and the sparse gather's work. With few radii, ring by ring: a source's disc sum
    // is disc[1] plus the rings 2 … r it reaches, so each ring needs the photons and the count
    // of the sources above its threshold.
    let rows: Vec<(f64, u64)> = image
        .par_chunks(width)
        .map(|row| {
            if radius <= RING_PASS_MAX {
                let mut lost = 0.0;
                let mut work = 0;
                for (rho, &threshold) in ring_threshold.iter().enumerate().skip(1) {
                    let (sum, count) = sum_above(row, threshold);
                    let (ring, dcost) = if rho == 1 {
                        (kernel.disc[1], cost(1))
                    } else {
                        (
                            kernel.disc[rho] - kernel.disc[rho - 1],
                            cost(rho) - cost(rho - 1),
                        )
                    };
                    if rho == 1 {
                        lost += sum;
                    }
                    lost -= ring * sum;
                    work += dcost * count;
                }
                (lost.max(0.0), work)
            } else {
                let mut lost = F::ZERO;
                let mut work = 0;
                for chunk in row.chunks(LANES) {
                    lost += lanes::from_fn(|i| match chunk.get(i).map(|&v| v.into()) {
                        Some(v) if v > 0.0 => {
                            let k = radius_of(v);
                            work += cost(k);
                            v * (1.0 - kernel.disc[k])
                        }
                        _ => 0.0,
                    });
                }
                (lost.to_array().iter().sum::<f64>().max(0.0), work)
            }
        })
        .collect();
    let lost: f64 = rows.iter().map(|r| r.0).sum();
    let sparse_work: u64 = rows.iter().map(|r| r.1).sum();
    report.lost = Some(lost);
    let share = lost / pixels as f64;
    let dense_work = DENSE_TAP_COST * pixels as u64 * taps[radius];

    let n = 2 * radius + 1;

    let plan = if force_dense.unwrap_or(dense_work <= sparse_work) {
        let r = radius as i64;
        let offsets = (-r..=r)
            .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
            .filter(|(dx, dy)| dx * dx + dy * dy <= r * r)
            .map(|(dx, dy)| {
                let ring = ceil_sqrt((dx * dx + dy * dy) as usize);
                let threshold = if auto && ring >= 2 {
                    thresholds[ring - 2]
                } else {
                    0.0
                };
                let k = kernel.rows[dy.unsigned_abs() as usize * n + (r + dx) as usize];
                (dx, dy, threshold, k)
            })
            .collect();
        Plan::Dense(offsets)
    } else {
        Plan::Sparse(
            image
                .par_chunks(width)
                .map(|row| {
                    let mut sources: Vec<Source> = row
                        .iter()
                        .enumerate()
                        .filter_map(|(x, &v)| {
                            let value: f64 = v.into();
                            (value > 0.0).then(|| Source {
                                x,
                                radius: radius_of(value),
                                value,
                            })
                        })
                        .collect();
                    sources.sort_by_key(|s| std::cmp::Reverse(s.radius));
                    sources
                })
                .collect(),
        )
    };

    let rows = targets
        .into_par_iter()
        .enumerate()
        .map_init(
            || vec![0.0; width],
            |acc, (y, target)| {
                acc.fill(0.0);
                match &plan {
                    Plan::Dense(offsets) => dense_row(image, width, height, offsets, y, acc),
                    Plan::Sparse(sources) => {
                        sparse_row(sources, &kernel.rows, radius, height, y, acc);
                    }
                }
                for a in acc.iter_mut() {
                    *a += share;
                }
                each(y, acc, target)
            },
        )
        .collect();
    Ok((rows, report))
}

/// Dense gather of output row `y` into `acc`: for each offset `(dx, dy)` in order, source row
/// `y − dy` shifted by `dx`, where the source exceeds the offset's threshold.
#[inline(never)]
fn dense_row<T: Copy + Into<f64>>(
    image: &[T],
    width: usize,
    height: usize,
    offsets: &[(i64, i64, f64, f64)],
    y: usize,
    acc: &mut [f64],
) {
    for &(dx, dy, threshold, k) in offsets {
        let sy = y as i64 - dy;
        if sy < 0 || sy >= height as i64 {
            continue;
        }
        // Output column x takes source column x − dx.
        let (lo, hi) = if dx >= 0 {
            (dx as usize, width)
        } else {
            (0, (width as i64 + dx).max(0) as usize)
        };
        if lo >= hi {
            continue;
        }
        let start = sy as usize * width + (lo as i64 - dx) as usize;
        let src = &image[start..start + (hi - lo)];
        for (o, &v) in acc[lo..hi].iter_mut().zip(src) {
            let v: f64 = v.into();
            *o += if v > threshold { k * v } else { 0.0 };
        }
    }
}

/// Sparse gather of output row `y` into `acc`: the source rows within the radius in ascending
/// order, and in each the sources whose disc reaches row `y`, `value · kernel row` over the
/// chord of the disc.
fn sparse_row(
    rows: &[Vec<Source>],
    kernel_rows: &[f64],
    radius: usize,
    height: usize,
    y: usize,
    acc: &mut [f64],
) {
    let n = 2 * radius + 1;
    let w = acc.len();
    let first = y.saturating_sub(radius);
    let last = (y + radius).min(height - 1);
    for (sy, sources) in rows.iter().enumerate().take(last + 1).skip(first) {
        let ady = y.abs_diff(sy);
        let krow = &kernel_rows[ady * n..(ady + 1) * n];
        for s in sources.iter().take_while(|s| s.radius >= ady) {
            let half = floor_sqrt(s.radius * s.radius - ady * ady);
            let lo = s.x.saturating_sub(half);
            let hi = (s.x + half).min(w - 1);
            // Kernel index of output column x: R + x − s.x.
            let k0 = radius + lo - s.x;
            let v = s.value;
            for (o, k) in acc[lo..=hi].iter_mut().zip(&krow[k0..]) {
                *o += v * k;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// C's apply_psf, serial

/// C `ngauss2D_integ`: `∫₀ˣ∫₀ʸ` of the unit-area Gaussian of FWHM 1.
fn c_gauss_integ(x: f64, y: f64) -> f64 {
    0.125
        * (erf(2.0 * x * 2f64.ln().sqrt())
            * erf(y * 16f64.ln().sqrt())
            * (16f64.ln() / 2f64.ln()).sqrt())
}

/// C `integrate_gauss_over_pixel(x, y, fwhm, 1.0)`.
fn c_gauss_pixel(x: f64, y: f64, fwhm: f64) -> f64 {
    let (x, y, pix) = (x / fwhm, y / fwhm, 1.0 / fwhm);
    c_gauss_integ(x + pix / 2.0, y + pix / 2.0)
        - c_gauss_integ(x + pix / 2.0, y - pix / 2.0)
        - c_gauss_integ(x - pix / 2.0, y + pix / 2.0)
        + c_gauss_integ(x - pix / 2.0, y - pix / 2.0)
}

/// C's `(int)` of a radius computed in double; for the values where C's conversion is
/// undefined, NaN (a Gaussian pixel below 0.01 photons) becomes 1 and values beyond `int` the
/// largest `int`.
fn c_radius(r: f64) -> i64 {
    if r.is_nan() {
        1
    } else {
        r.clamp(i32::MIN as f64, i32::MAX as f64) as i64
    }
}

/// C `apply_psf`, serial and bit for bit: `float` image, `double` kernel and sums, the
/// continuous-disc lost photons, and the edge test that lets spill past the right edge land in
/// the next row (NZ6). `fwhm` in pixels (> 0), `user_radius` 0 for automatic.
pub fn apply_psf_compat(
    inimage: &[f32],
    width: usize,
    height: usize,
    kind: PsfKind,
    fwhm: f64,
    user_radius: usize,
) -> Result<(Vec<f32>, PsfReport)> {
    let pixels = inimage.len();
    let mut report = PsfReport::default();
    let g = fwhm * FIBER_G_PER_FWHM;
    let mut out = vec![0.0f32; pixels + 1];
    let maxwidth = width.max(height) as i64;
    let user = user_radius.min(i32::MAX as usize) as i64;
    let mut psf_radius = user;
    if psf_radius <= 0 {
        let mut max_i = 0.0f64;
        for &v in inimage {
            if max_i < f64::from(v) {
                max_i = f64::from(v);
            }
        }
        report.max_photons = Some(max_i);
        if max_i <= 0.0 {
            out.truncate(pixels);
            return Ok((out, report));
        }
        let lost = max_i.sqrt() / PHOTON_LOSS_FACTOR;
        let r = match kind {
            PsfKind::Gauss => 1.0 + ((-(lost / max_i).ln() / 4f64.ln() / 2.0).sqrt() * fwhm).ceil(),
            PsfKind::Fiber => 1.0 + (g * (max_i / lost)).ceil(),
        };
        psf_radius = c_radius(r);
        report.auto_radius = Some(psf_radius);
        if psf_radius == 0 {
            psf_radius = 1;
        }
    }
    psf_radius = psf_radius.min(maxwidth);
    let kr = psf_radius;
    let size = (2 * kr + 1) as usize;
    crate::memory::check(
        (size * size * 8) as u64,
        &format!("a point-spread function of radius {kr} pixels"),
    )?;
    let mut kernel = vec![0.0f64; size * size];
    for dy in -kr..=kr {
        for dx in -kr..=kr {
            if (dx * dx + dy * dy) as f64 > (kr * kr) as f64 {
                continue;
            }
            let k = (size as i64 * (kr + dy) + kr + dx) as usize;
            kernel[k] = match kind {
                PsfKind::Gauss => c_gauss_pixel(dx as f64, dy as f64, fwhm),
                PsfKind::Fiber => fiber_pixel(dx as f64, dy as f64, g),
            };
        }
    }

    let (w, h) = (width as i64, height as i64);
    let mut total_lost = 0.0f64;
    for (i, &value) in inimage.iter().enumerate() {
        let x0 = i as i64 % w;
        let y0 = i as i64 / w;
        if value <= 0.0 || value.is_nan() {
            continue;
        }
        let v = f64::from(value);
        let mut r = if user != 0 {
            user
        } else {
            let lost = v.sqrt() / PHOTON_LOSS_FACTOR;
            let r = match kind {
                PsfKind::Gauss => 1.0 + ((-(lost / v).ln() / 16f64.ln()).sqrt() * fwhm).ceil(),
                PsfKind::Fiber => 1.0 + (g * (v / lost)).ceil(),
            };
            c_radius(r)
        };
        if r == 0 {
            r = 1;
        }
        r = r.min(maxwidth);
        let lost = match kind {
            PsfKind::Gauss => {
                let rsq = r as f64 / fwhm;
                v * (-16f64.ln() * (rsq * rsq)).exp()
            }
            PsfKind::Fiber => {
                let r2 = (r as i32).wrapping_mul(r as i32);
                v * g / (g * g + f64::from(r2)).sqrt()
            }
        };
        total_lost += lost;
        for dx in -r..=r {
            for dy in -r..=r {
                // A pixel's radius never exceeds the kernel's in C but for rounding; there C
                // would read outside the kernel, here the offset is skipped.
                if dx.abs() > kr || dy.abs() > kr {
                    continue;
                }
                let k = (size as i64 * (size as i64 / 2 + dy) + size as i64 / 2 + dx) as usize;
                let kv = kernel[k];
                if kv == 0.0 || dx * dx + dy * dy > r * r {
                    continue;
                }
                let (x, y) = (x0 + dx, y0 + dy);
                // C: `x > xpixels`, `y > ypixels`, `j > pixels` (one past the end allowed).
                if x < 0 || x > w || y < 0 || y > h {
                    continue;
                }
                let j = y * w + x;
                if j < 0 || j > pixels as i64 {
                    continue;
                }
                let o = &mut out[j as usize];
                *o = (f64::from(*o) + v * kv) as f32;
            }
        }
    }
    report.lost = Some(total_lost);
    let share = total_lost / pixels as f64;
    out.truncate(pixels);
    for o in &mut out {
        *o = (f64::from(*o) + share) as f32;
    }
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn psf(kind: PsfKind, fwhm: f64, radius: usize) -> Psf {
        Psf { kind, fwhm, radius }
    }

    /// The PSF integrated over a unit pixel by 2-D Gauss–Legendre quadrature (reference).
    fn integrate(p: &Psf, dx: f64, dy: f64) -> f64 {
        // 8-point Gauss–Legendre nodes and weights on [−1, 1], on 4×4 sub-squares.
        const X: [f64; 4] = [
            0.183_434_642_495_649_8,
            0.525_532_409_916_329,
            0.796_666_477_413_626_7,
            0.960_289_856_497_536_3,
        ];
        const W: [f64; 4] = [
            0.362_683_783_378_362,
            0.313_706_645_877_887_3,
            0.222_381_034_453_374_5,
            0.101_228_536_290_376_3,
        ];
        let nodes: Vec<(f64, f64)> = X
            .iter()
            .zip(W)
            .flat_map(|(&x, w)| [(x, w), (-x, w)])
            .collect();
        let f = |x: f64, y: f64| {
            let r2 = x * x + y * y;
            match p.kind {
                PsfKind::Gauss => {
                    let a = 16f64.ln() / (p.fwhm * p.fwhm);
                    a / std::f64::consts::PI * (-a * r2).exp()
                }
                PsfKind::Fiber => {
                    let g = p.g();
                    g / std::f64::consts::TAU / (g * g + r2).powf(1.5)
                }
            }
        };
        let sub = 4;
        let hs = 0.5 / sub as f64;
        let mut sum = 0.0;
        for i in 0..sub {
            for j in 0..sub {
                let cx = dx - 0.5 + (2 * i + 1) as f64 * hs;
                let cy = dy - 0.5 + (2 * j + 1) as f64 * hs;
                for &(u, wu) in &nodes {
                    for &(v, wv) in &nodes {
                        sum += wu * wv * f(cx + u * hs, cy + v * hs);
                    }
                }
            }
        }
        sum * hs * hs
    }

    #[test]
    fn kernels_match_numerical_integration_and_sum_below_one() {
        for p in [
            psf(PsfKind::Gauss, 1.5, 6),
            psf(PsfKind::Gauss, 0.46, 3),
            psf(PsfKind::Fiber, 1.0, 8),
            psf(PsfKind::Fiber, 2.7, 5),
        ] {
            let mut sum = 0.0;
            for dy in -(p.radius as i64)..=p.radius as i64 {
                for dx in -(p.radius as i64)..=p.radius as i64 {
                    let k = p.kernel_value(dx, dy);
                    let want = integrate(&p, dx as f64, dy as f64);
                    assert!(
                        (k - want).abs() <= 1e-9 * want.max(1e-6),
                        "{p:?} at ({dx},{dy}): {k} vs {want}"
                    );
                    assert!(k > 0.0);
                    sum += k;
                }
            }
            assert!(sum <= 1.0 && sum > 0.5, "{p:?}: kernel sums to {sum}");
            // The kernel's disc sums grow with the radius and stay below 1.
            let kernel = Kernel::new(&p, p.radius);
            assert!(
                kernel.disc.windows(2).all(|w| w[0] < w[1]),
                "{:?}",
                kernel.disc
            );
            assert!(kernel.disc[p.radius] <= 1.0 + 1e-12);
            let direct: f64 = (-(p.radius as i64)..=p.radius as i64)
                .flat_map(|dy| (-(p.radius as i64)..=p.radius as i64).map(move |dx| (dx, dy)))
                .filter(|(dx, dy)| (dx * dx + dy * dy) as usize <= p.radius * p.radius)
                .map(|(dx, dy)| p.kernel_value(dx, dy))
                .sum();
            assert!((kernel.disc[p.radius] - direct).abs() < 1e-14);
        }
        // A wide Gaussian's kernel over a large radius holds (nearly) all the photons.
        let p = psf(PsfKind::Gauss, 1.0, 6);
        assert!((Kernel::new(&p, 6).disc[6] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn c_gauss_kernel_agrees_with_separable_form() {
        for (dx, dy) in [(0, 0), (1, 0), (1, 2), (3, 3)] {
            let p = psf(PsfKind::Gauss, 1.5, 4);
            let c = c_gauss_pixel(dx as f64, dy as f64, 1.5);
            let k = p.kernel_value(dx, dy);
            assert!((c - k).abs() < 1e-15, "({dx},{dy}): {c} vs {k}");
        }
    }

    #[test]
    fn automatic_radius_rule() {
        let g = psf(PsfKind::Gauss, 1.5, 0);
        // 1 + ⌈1.5·√(ln(10·√146)/ln 16)⌉ = 1 + ⌈1.5·1.3072⌉ = 3 (n07's 146 photons).
        assert_eq!(g.auto_radius(146.0), 3.0);
        assert_eq!(g.auto_radius(0.009), 1.0);
        assert_eq!(
            g.auto_radius(0.001),
            1.0,
            "below 0.01 photons the root is taken as 0"
        );
        assert_eq!(
            g.auto_radius(1.0),
            1.0 + (1.5 * (10f64.ln() / 16f64.ln()).sqrt()).ceil()
        );
        let f = psf(PsfKind::Fiber, 1.0, 0);
        // 1 + ⌈10·0.652383·√100⌉ = 1 + ⌈65.24⌉ = 67.
        assert_eq!(f.auto_radius(100.0), 67.0);
        // The thresholds invert the rule.
        for p in [g, f] {
            for k in 1..16 {
                let t = p.radius_threshold(k);
                assert!(
                    p.auto_radius(t * (1.0 - 1e-12)) <= k as f64,
                    "{p:?} k={k} t={t}"
                );
                let above = t * (1.0 + 1e-9) + 1e-300;
                assert!(p.auto_radius(above) > k as f64, "{p:?} k={k} t={t}");
            }
        }
        // The image's radius: from its brightest pixel, capped at the larger side.
        let image = vec![146.0; 4 * 3];
        assert_eq!(kernel_radius(&image, 4, 3, &g).0, 3);
        assert_eq!(kernel_radius(&image, 4, 3, &f).0, 4);
        assert_eq!(
            kernel_radius(&image, 4, 3, &psf(PsfKind::Fiber, 1.0, 2)).0,
            2
        );
        assert_eq!(kernel_radius(&[0.0; 12], 4, 3, &g).0, 0);
        assert_eq!(kernel_radius(&image, 4, 3, &g).1.auto_radius, Some(3));
    }

    /// Scatter reference for the default-mode convolution.
    fn scatter(image: &[f64], w: usize, h: usize, p: &Psf) -> Vec<f64> {
        let (radius, _) = kernel_radius(image, w, h, p);
        let kernel = Kernel::new(p, radius);
        let mut out = vec![0.0; image.len()];
        let mut lost = 0.0;
        for (i, &v) in image.iter().enumerate() {
            if v <= 0.0 {
                continue;
            }
            let r = if p.radius == 0 {
                (p.auto_radius(v) as usize).min(radius)
            } else {
                radius
            } as i64;
            lost += v * (1.0 - kernel.disc[r as usize]);
            let (x0, y0) = ((i % w) as i64, (i / w) as i64);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (x, y) = (x0 + dx, y0 + dy);
                    if dx * dx + dy * dy > r * r || x < 0 || y < 0 || x >= w as i64 || y >= h as i64
                    {
                        continue;
                    }
                    out[(y * w as i64 + x) as usize] += v * p.kernel_value(dx, dy);
                }
            }
        }
        out.iter().map(|o| o + lost / image.len() as f64).collect()
    }

    fn test_image(w: usize, h: usize) -> Vec<f64> {
        (0..w * h)
            .map(|i| match (i * 7919) % 23 {
                0 => 0.0,
                1 => -3.0,
                2 => 0.005,
                3 => 150.0,
                k => (k as f64 * 1.3) % 9.0,
            })
            .collect()
    }

    #[test]
    fn gather_matches_scatter_and_conserves_photons() {
        let (w, h) = (37, 23);
        let image = test_image(w, h);
        for p in [
            psf(PsfKind::Gauss, 1.5, 0),
            psf(PsfKind::Gauss, 0.46, 0),
            psf(PsfKind::Fiber, 0.4, 0),
            psf(PsfKind::Fiber, 1.0, 5),
        ] {
            let (out, report) = convolve(&image, w, h, &p).unwrap();
            let want = scatter(&image, w, h, &p);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-12 * (1.0 + b.abs()),
                    "{p:?} pixel {i}: {a} vs {b}"
                );
            }
            // Photons are conserved but for those beyond the edges.
            let input: f64 = image.iter().filter(|&&v| v > 0.0).sum();
            let output: f64 = out.iter().sum();
            assert!(
                output <= input * (1.0 + 1e-12) && output > 0.8 * input,
                "{p:?}"
            );
            assert!(report.lost.unwrap() >= 0.0);
        }
        // Far from the edges nothing is lost: one pixel in the middle of a large image (the
        // fibre's automatic radius would reach past the edges, its tail falling off them).
        let (w, h) = (41, 41);
        let mut image = vec![0.0; w * h];
        image[20 * w + 20] = 1000.0;
        for p in [psf(PsfKind::Gauss, 2.0, 0), psf(PsfKind::Fiber, 1.0, 5)] {
            let (out, _) = convolve(&image, w, h, &p).unwrap();
            let total: f64 = out.iter().sum();
            assert!((total - 1000.0).abs() < 1e-9, "{p:?}: {total}");
        }
    }

    #[test]
    fn dense_and_sparse_gathers_agree() {
        let (w, h) = (37, 23);
        let image = test_image(w, h);
        for p in [
            psf(PsfKind::Gauss, 1.5, 0),
            psf(PsfKind::Fiber, 0.4, 0),
            psf(PsfKind::Fiber, 1.0, 3),
        ] {
            let run = |dense| {
                let mut out = vec![0.0; w * h];
                let targets: Vec<&mut [f64]> = out.chunks_mut(w).collect();
                convolve_with(
                    &image,
                    w,
                    h,
                    &p,
                    targets,
                    |_, r, t| t.copy_from_slice(r),
                    Some(dense),
                )
                .unwrap();
                out
            };
            let (dense, sparse) = (run(true), run(false));
            for (a, b) in dense.iter().zip(&sparse) {
                assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "{p:?}: {a} vs {b}");
            }
        }
        assert_eq!(disc_taps(0), 1);
        assert_eq!(disc_taps(1), 5);
        assert_eq!(disc_taps(2), 13);
        assert_eq!(disc_taps(3), 29);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The dense (vectorised) gather against the sparse one and the plain scatter.
        #[test]
        fn gathers_match_the_scatter(
            w in 1usize..24,
            h in 1usize..16,
            seed in any::<u64>(),
            fiber in any::<bool>(),
            fwhm in 0.2f64..3.0,
            radius in 0usize..6,
        ) {
            let p = psf(if fiber { PsfKind::Fiber } else { PsfKind::Gauss }, fwhm, radius);
            let mut z = seed;
            let image: Vec<f64> = (0..w * h)
                .map(|_| {
                    z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    match z >> 60 {
                        0..=3 => 0.0,
                        4 => -2.0,
                        5 => 0.004,
                        6 => 3000.0,
                        _ => (z >> 40) as f64 / (1u64 << 20) as f64 * 40.0,
                    }
                })
                .collect();
            let want = scatter(&image, w, h, &p);
            for dense in [true, false] {
                let mut out = vec![0.0; w * h];
                let targets: Vec<&mut [f64]> = out.chunks_mut(w).collect();
                let copy = |_, r: &[f64], t: &mut [f64]| t.copy_from_slice(r);
                convolve_with(&image, w, h, &p, targets, copy, Some(dense)).unwrap();
                for (a, b) in out.iter().zip(&want) {
                    prop_assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "dense {dense}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn gather_is_thread_count_independent() {
        let (w, h) = (64, 50);
        let image = test_image(w, h);
        let p = psf(PsfKind::Fiber, 0.7, 0);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| convolve(&image, w, h, &p).unwrap())
        };
        let (a, ra) = run(1);
        let (b, rb) = run(3);
        assert_eq!(ra, rb);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn compat_reproduces_the_edge_wrap() {
        // One bright pixel at the right edge of row 0 of a 4×3 image, radius 1: C puts the
        // spill to column 4 into column 0 of the next row; the default mode loses it.
        let mut image = vec![0.0f32; 12];
        image[3] = 100.0;
        let (out, report) = apply_psf_compat(&image, 4, 3, PsfKind::Gauss, 1.0, 1).unwrap();
        let k = |dx, dy| c_gauss_pixel(dx as f64, dy as f64, 1.0);
        let share = report.lost.unwrap() / 12.0;
        let lost = 100.0 * (-16f64.ln()).exp();
        assert_eq!(report.lost, Some(lost));
        let near = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-4;
        assert!(near(out[3], 100.0 * k(0, 0) + share));
        assert!(near(out[2], 100.0 * k(1, 0) + share));
        assert!(near(out[7], 100.0 * k(0, 1) + share));
        assert!(
            near(out[4], 100.0 * k(1, 0) + share),
            "wrapped spill: {}",
            out[4]
        );
        assert!(near(out[0], share));
        let (default, _) = convolve(
            &image.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            4,
            3,
            &psf(PsfKind::Gauss, 1.0, 1),
        )
        .unwrap();
        assert!(
            default[4] < 1e-3 + default[0],
            "default mode loses the spill"
        );
    }

    #[test]
    fn compat_automatic_radius_and_empty_image() {
        let mut image = vec![0.0f32; 128 * 128];
        image[5000] = 146.0;
        let (_, report) = apply_psf_compat(&image, 128, 128, PsfKind::Gauss, 1.5, 0).unwrap();
        assert_eq!(report.max_photons, Some(146.0));
        assert_eq!(report.auto_radius, Some(3));
        let (out, report) = apply_psf_compat(&[0.0; 6], 3, 2, PsfKind::Fiber, 1.0, 0).unwrap();
        assert_eq!(out, [0.0; 6]);
        assert_eq!(report.lost, None);
        let (out, report) = convolve(&[-1.0; 6], 3, 2, &psf(PsfKind::Fiber, 1.0, 0)).unwrap();
        assert_eq!(out, [0.0; 6]);
        assert_eq!(report.lost, None);
    }
}
