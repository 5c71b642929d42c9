//! The float image and what nanoBragg derives from it after the pixel loop: statistics, the
//! 16-bit integer image and the 8-bit greyscale image.
//!
//! Statistics follow nanoBragg.c: mean and rms over the rendered pixels (inside the region of
//! interest and not masked), rmsd about that mean over every pixel of the region (masked ones
//! included), the first pixel that attains the maximum. Sums are taken per row and then over
//! rows in order, so they do not depend on the thread count.

use rayon::prelude::*;

use crate::engine::{Rendered, is_rendered};
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
            for (f, &v) in row.iter().enumerate() {
                if !is_rendered(setup, f, s) {
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

fn in_roi(setup: &Setup, f: usize, s: usize) -> bool {
    let [x0, x1, y0, y1] = setup.roi;
    f >= x0 && f <= x1 && s >= y0 && s <= y1
}

/// The noiseless 16-bit image, pixels `start..start + out.len()` (row-major) into `out`:
/// `v·scale + adc`, clamped to [0, 65535], rounded half up (in f32, as C's `floorf`). Pixels
/// outside the region of interest are 0.
pub fn fill_u16(
    setup: &Setup,
    img: &Rendered,
    scale: f64,
    adc: f64,
    start: usize,
    out: &mut [u16],
) {
    const CHUNK: usize = 4096;
    let w = img.width;
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        let first = start + c * CHUNK;
        let (mut f, mut s) = (first % w, first / w);
        for (o, &v) in out.iter_mut().zip(&img.pixels[first..]) {
            *o = if in_roi(setup, f, s) {
                let t = (v as f64 * scale + adc).clamp(0.0, 65535.0);
                let r = ((t + 0.5) as f32).floor();
                if r.is_nan() { 0 } else { r as u16 }
            } else {
                0
            };
            f += 1;
            if f == w {
                (f, s) = (0, s + 1);
            }
        }
    });
}

/// The 8-bit greyscale image, bytes `start..start + out.len()` (row-major) into `out`:
/// `min(255, v·scale)` truncated; negative and NaN give 0; outside the region of interest 0.
pub fn fill_u8(setup: &Setup, img: &Rendered, scale: f64, start: usize, out: &mut [u8]) {
    const CHUNK: usize = 8192;
    let w = img.width;
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        let first = start + c * CHUNK;
        let (mut f, mut s) = (first % w, first / w);
        for (o, &v) in out.iter_mut().zip(&img.pixels[first..]) {
            *o = if in_roi(setup, f, s) {
                (v as f64 * scale).clamp(0.0, 255.0) as u8
            } else {
                0
            };
            f += 1;
            if f == w {
                (f, s) = (0, s + 1);
            }
        }
    });
}

/// The 8-bit greyscale image: `min(255, v·scale)` truncated; negative and NaN give 0.
pub fn to_u8(setup: &Setup, img: &Rendered, scale: f64) -> Vec<u8> {
    let mut out = vec![0u8; img.pixels.len()];
    fill_u8(setup, img, scale, 0, &mut out);
    out
}
