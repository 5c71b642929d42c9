//! The float image and what nanoBragg derives from it after the pixel loop: statistics, the
//! 16-bit integer image and the 8-bit greyscale image.
//!
//! Statistics follow nanoBragg.c: mean and rms over the rendered pixels (inside the region of
//! interest and not masked), rmsd about that mean over every pixel of the region (masked ones
//! included), the first pixel that attains the maximum. Sums are taken per row and then over
//! rows in order, so they do not depend on the thread count.

use rayon::prelude::*;

use crate::engine::Rendered;
use crate::setup::Setup;

/// Statistics of the float image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Largest pixel value (0 if none is positive).
    pub max: f64,
    /// Where it is: fast and slow position (m) of that pixel's last sub-pixel, as C prints it.
    pub max_position: [f64; 2],
    /// Mean over rendered pixels.
    pub mean: f64,
    /// `sqrt(Σv²/(N−1))`.
    pub rms: f64,
    /// `sqrt(Σ(v−mean)²/(M−1))` over the whole region of interest.
    pub rmsd: f64,
    /// Number of rendered pixels.
    pub rendered: usize,
}

/// Compute nanoBragg's statistics.
pub fn stats(setup: &Setup, img: &Rendered) -> Stats {
    let w = img.width;
    let [x0, x1, y0, y1] = setup.roi;
    let rows: Vec<(f64, f64, usize, f64, usize)> = img
        .pixels
        .par_chunks(w)
        .enumerate()
        .map(|(s, row)| {
            let (mut sum, mut sumsq, mut n, mut max, mut at) = (0.0, 0.0, 0, 0.0, usize::MAX);
            if s < y0 || s > y1 || x0 > x1 {
                return (sum, sumsq, n, max, at);
            }
            let mask = setup.mask.as_deref().map(|m| &m[s * w..(s + 1) * w]);
            for (f, &v) in row.iter().enumerate().take(x1 + 1).skip(x0) {
                if mask.is_some_and(|m| m[f] == 0) {
                    continue;
                }
                let v = v as f64;
                if v > max {
                    max = v;
                    at = f;
                }
                sum += v;
                sumsq += v * v;
                n += 1;
            }
            (sum, sumsq, n, max, at)
        })
        .collect();
    let mut max = 0.0;
    let mut max_at = None;
    let (mut sum, mut sumsq, mut n) = (0.0, 0.0, 0usize);
    for (s, &(rs, rq, rn, rmax, rat)) in rows.iter().enumerate() {
        sum += rs;
        sumsq += rq;
        n += rn;
        if rmax > max {
            max = rmax;
            max_at = Some((rat, s));
        }
    }
    let mean = sum / n.max(1) as f64;
    let rms = (sumsq / (n.max(2) - 1) as f64).sqrt();
    let dev: Vec<(f64, usize)> = if x0 <= x1 && y0 <= y1 {
        img.pixels
            .par_chunks(w)
            .enumerate()
            .filter(|(s, _)| *s >= y0 && *s <= y1)
            .map(|(_, row)| {
                let part = &row[x0..=x1.min(w - 1)];
                (
                    part.iter().map(|&v| (v as f64 - mean).powi(2)).sum(),
                    part.len(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let devsum: f64 = dev.iter().map(|d| d.0).sum();
    let m: usize = dev.iter().map(|d| d.1).sum();
    let rmsd = (devsum / (m.max(2) - 1) as f64).sqrt();
    let ov = setup.oversample;
    let sub = setup.detector.pixel_size / ov as f64;
    let max_position = max_at.map_or([0.0, 0.0], |(f, s)| {
        [
            sub * (f * ov + ov - 1) as f64 + sub / 2.0,
            sub * (s * ov + ov - 1) as f64 + sub / 2.0,
        ]
    });
    Stats {
        max,
        max_position,
        mean,
        rms,
        rmsd,
        rendered: n,
    }
}

/// The integer-image scale: the user's, or 55000/max (1 when max ≤ 0).
pub fn int_scale(user: Option<f64>, stats: &Stats) -> f64 {
    match user.filter(|&s| s > 0.0) {
        Some(s) => s,
        None if stats.max > 0.0 => 55000.0 / stats.max,
        None => 1.0,
    }
}

/// The PGM scale: the user's, or 250/(5·rmsd), or the integer scale when rmsd is 0.
pub fn pgm_scale(user: Option<f64>, stats: &Stats, int_scale: f64) -> f64 {
    match user.filter(|&s| s > 0.0) {
        Some(s) => s,
        None if stats.rmsd > 0.0 => 250.0 / (5.0 * stats.rmsd),
        None => int_scale,
    }
}

/// Fill `out` (pixels `start..start + out.len()`, row-major) with `convert(v)` inside the region
/// of interest and 0 outside, in parallel chunks of `chunk` pixels. Each row is cut into its
/// three segments (left of, inside, right of the region), so the conversion runs as a tight
/// loop the compiler vectorises.
fn fill_region<T: Copy + Default + Send>(
    setup: &Setup,
    img: &Rendered,
    start: usize,
    out: &mut [T],
    chunk: usize,
    convert: impl Fn(f32) -> T + Sync,
) {
    let w = img.width;
    let [x0, x1, y0, y1] = setup.roi;
    out.par_chunks_mut(chunk).enumerate().for_each(|(c, out)| {
        let first = start + c * chunk;
        let mut i = first;
        let end = first + out.len();
        while i < end {
            let s = i / w;
            let row = s * w;
            let row_end = (row + w).min(end);
            let (lo, hi) = if s >= y0 && s <= y1 && x0 <= x1 {
                (
                    (row + x0).clamp(i, row_end),
                    (row + x1 + 1).clamp(i, row_end),
                )
            } else {
                (row_end, row_end)
            };
            out[i - first..lo - first].fill(T::default());
            for (o, &v) in out[lo - first..hi - first]
                .iter_mut()
                .zip(&img.pixels[lo..hi])
            {
                *o = convert(v);
            }
            out[hi - first..row_end - first].fill(T::default());
            i = row_end;
        }
    });
}

/// The noiseless 16-bit image, pixels `start..start + out.len()` (row-major) into `out`:
/// `v·scale + adc`, clamped to [0, 65535], rounded half up (in f32, as C's `floorf`); NaN gives
/// 0. Pixels outside the region of interest are 0.
pub fn fill_u16(
    setup: &Setup,
    img: &Rendered,
    scale: f64,
    adc: f64,
    start: usize,
    out: &mut [u16],
) {
    // `as` truncates toward zero (floor for these positive values) and maps NaN to 0.
    fill_region(setup, img, start, out, 4096, |v| {
        ((v as f64 * scale + adc).clamp(0.0, 65535.0) + 0.5) as f32 as u16
    });
}

/// The 8-bit greyscale image, bytes `start..start + out.len()` (row-major) into `out`:
/// `min(255, v·scale)` truncated; negative and NaN give 0; outside the region of interest 0.
pub fn fill_u8(setup: &Setup, img: &Rendered, scale: f64, start: usize, out: &mut [u8]) {
    fill_region(setup, img, start, out, 8192, |v| {
        (v as f64 * scale).clamp(0.0, 255.0) as u8
    });
}

/// The 8-bit greyscale image: `min(255, v·scale)` truncated; negative and NaN give 0.
pub fn to_u8(setup: &Setup, img: &Rendered, scale: f64) -> Vec<u8> {
    let mut out = vec![0u8; img.pixels.len()];
    fill_u8(setup, img, scale, 0, &mut out);
    out
}
