//! The float image and what nanoBragg derives from it after the pixel loop: statistics, the
//! 16-bit integer image and the 8-bit greyscale image.
//!
//! Statistics follow nanoBragg.c: mean and rms over the rendered pixels (inside the region of
//! interest and not masked), rmsd about that mean over every pixel of the region (masked ones
//! included), the first pixel that attains the maximum. Sums are taken per row (on eight
//! lanes, whose partial sums are added in lane order) and then over rows in order, so they do
//! not depend on the thread count.

use crate::engine::Rendered;
use crate::lanes::{self, F, LANES};
use crate::setup::Setup;
use rayon::prelude::*;

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

/// Compute nanoBragg's statistics. Each row's sums run on eight lanes (eight partial sums
/// added in lane order at the end of the row).
///
/// ```
/// use nanobragg::{engine, image, params::Lattice, params::Params, setup::Setup};
///
/// let mut p = Params::default();
/// let right = 90f64.to_radians();
/// p.crystal.lattice = Lattice::cell(50e-10, 50e-10, 50e-10, right, right, right);
/// p.structure_factors.default_f = 100.0;
/// p.detector.set_pixels(20, 10);
/// p.sampling.roi = Some([0, 9, 0, 9]);
/// let setup = Setup::new(&p)?;
/// let rendered = engine::render(&setup, engine::Backend::Simd);
/// let stats = image::stats(&setup, &rendered);
/// assert_eq!(stats.rendered, 100);
/// assert!(stats.max >= stats.mean && stats.mean > 0.0);
/// // The integer image's scale nanoBragg picks when -scale is not given.
/// let scale = image::int_scale(None, &stats);
/// let mut counts = vec![0u16; rendered.pixels.len()];
/// image::fill_u16(&setup, &rendered, scale, 40.0, 0, &mut counts);
/// assert_eq!(counts[10], 0); // outside the region of interest
/// # Ok::<(), nanobragg::Error>(())
/// ```
pub fn stats(setup: &Setup, img: &Rendered) -> Stats {
    let w = img.width;
    let region = &setup.region;
    let rows: Vec<(f64, f64, usize, f64, usize)> = img
        .pixels
        .par_chunks(w)
        .enumerate()
        .map(|(s, row)| {
            if !region.slow().contains(&s) {
                return (0.0, 0.0, 0, 0.0, usize::MAX);
            }
            let range = region.fast();
            let mask = region.row_mask(s);
            let (mut sum, mut sumsq, mut max) = (F::ZERO, F::ZERO, F::ZERO);
            let mut n = 0;
            for f in range.clone().step_by(LANES) {
                let end = (f + LANES).min(range.end);
                let v = if end - f == LANES && mask.is_none() {
                    n += LANES;
                    lanes::widen(&row[f..end])
                } else {
                    let keep = |i: usize| f + i < end && mask.is_none_or(|m| m[f + i] != 0);
                    n += (0..LANES).filter(|&i| keep(i)).count();
                    lanes::mask(keep) & lanes::widen(&row[f..end])
                };
                sum += v;
                sumsq = v.mul_add(v, sumsq);
                // `>` leaves NaN out, as nanoBragg's `if (v > max)` does.
                max = v.simd_gt(max).select(v, max);
            }
            let max = max
                .to_array()
                .into_iter()
                .fold(0.0, |m, v| if v > m { v } else { m });
            // The first rendered pixel that attains it.
            let at = if max > 0.0 {
                range
                    .clone()
                    .find(|&f| f64::from(row[f]) == max && mask.is_none_or(|m| m[f] != 0))
                    .unwrap_or(usize::MAX)
            } else {
                usize::MAX
            };
            (sum.reduce_add(), sumsq.reduce_add(), n, max, at)
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
    let dev: Vec<(f64, usize)> = img
        .pixels
        .par_chunks(w)
        .enumerate()
        .filter(|(s, _)| region.slow().contains(s))
        .map(|(_, row)| {
            let range = region.fast();
            let mut dev = F::ZERO;
            for f in range.clone().step_by(LANES) {
                let end = (f + LANES).min(range.end);
                let d = lanes::widen(&row[f..end]) - F::splat(mean);
                let d = if end - f == LANES {
                    d
                } else {
                    lanes::mask(|i| f + i < end) & d
                };
                dev = d.mul_add(d, dev);
            }
            (dev.reduce_add(), range.len())
        })
        .collect();
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

/// Fill `out` (pixels `start..start + out.len()`, row-major) with the converted pixels inside
/// the region of interest and 0 outside, in parallel chunks of `chunk` pixels. Each row is cut
/// into its three segments (left of, inside, right of the region); `convert(src, dst)` converts
/// the inside segment.
fn fill_region<T: Copy + Default + Send>(
    setup: &Setup,
    img: &Rendered,
    start: usize,
    out: &mut [T],
    chunk: usize,
    convert: impl Fn(&[f32], &mut [T]) + Sync,
) {
    let w = img.width;
    let (fast, slow) = (setup.region.fast(), setup.region.slow());
    out.par_chunks_mut(chunk).enumerate().for_each(|(c, out)| {
        let first = start + c * chunk;
        let mut i = first;
        let end = first + out.len();
        while i < end {
            let s = i / w;
            let row = s * w;
            let row_end = (row + w).min(end);
            let (lo, hi) = if slow.contains(&s) && !fast.is_empty() {
                (
                    (row + fast.start).clamp(i, row_end),
                    (row + fast.end).clamp(i, row_end),
                )
            } else {
                (row_end, row_end)
            };
            out[i - first..lo - first].fill(T::default());
            convert(&img.pixels[lo..hi], &mut out[lo - first..hi - first]);
            out[hi - first..row_end - first].fill(T::default());
            i = row_end;
        }
    });
}

/// One pixel of the noiseless 16-bit image: `v·scale + adc`, clamped to [0, 65535], rounded
/// half up in f32 (as C's `floorf(v + 0.5)` on a float); NaN gives 0.
pub fn u16_pixel(v: f32, scale: f64, adc: f64) -> u16 {
    // `as` truncates toward zero (floor for these positive values) and maps NaN to 0.
    ((v as f64 * scale + adc).clamp(0.0, 65535.0) + 0.5) as f32 as u16
}

/// One pixel of the 8-bit greyscale image: `min(255, v·scale)` truncated; negative and NaN
/// give 0.
pub fn u8_pixel(v: f32, scale: f64) -> u8 {
    (v as f64 * scale).clamp(0.0, 255.0) as u8
}

/// Convert every pixel of `src` into `dst` (same length): [`LANES`] pixels at a time as f64
/// lanes with `lanes_rule`, the remainder one by one with `pixel`.
#[inline(always)]
fn by_lanes<T: Copy>(
    src: &[f32],
    dst: &mut [T],
    lanes_rule: impl Fn(F) -> [T; LANES],
    pixel: impl Fn(f32) -> T,
) {
    let (src8, mut dst8) = (src.chunks_exact(LANES), dst.chunks_exact_mut(LANES));
    let src_tail = src8.remainder();
    for (s, d) in src8.zip(&mut dst8) {
        d.copy_from_slice(&lanes_rule(lanes::widen(s)));
    }
    for (s, d) in src_tail.iter().zip(dst8.into_remainder()) {
        *d = pixel(*s);
    }
}

/// [`u16_pixel`] of every pixel of `src` into `dst` (same length), eight pixels on lanes at a
/// time: the clamp is a lane `max`/`min` (`max` maps NaN to 0), after which the value lies in
/// [0.5, 65535.5] and the truncation needs no saturation. The compiler does not vectorise the
/// scalar form (its casts saturate).
fn u16_pixels(src: &[f32], dst: &mut [u16], scale: f64, adc: f64) {
    let (scale_v, adc_v) = (F::splat(scale), F::splat(adc));
    by_lanes(
        src,
        dst,
        |v| {
            let x = (v * scale_v + adc_v).max(F::ZERO).min(F::splat(65535.0));
            lanes::truncate_in_range(x + F::splat(0.5)).map(|i| i as u16)
        },
        |v| u16_pixel(v, scale, adc),
    );
}

/// [`u8_pixel`] of every pixel of `src` into `dst` (same length), eight pixels on lanes at a
/// time, as [`u16_pixels`]: truncated in f64 first, the whole numbers 0…255 convert exactly.
fn u8_pixels(src: &[f32], dst: &mut [u8], scale: f64) {
    let scale_v = F::splat(scale);
    by_lanes(
        src,
        dst,
        |v| {
            let x = (v * scale_v).max(F::ZERO).min(F::splat(255.0)).trunc();
            lanes::truncate_in_range(x).map(|i| i as u8)
        },
        |v| u8_pixel(v, scale),
    );
}

/// The noiseless 16-bit image, pixels `start..start + out.len()` (row-major) into `out`:
/// [`u16_pixel`] inside the region of interest, 0 outside.
pub fn fill_u16(
    setup: &Setup,
    img: &Rendered,
    scale: f64,
    adc: f64,
    start: usize,
    out: &mut [u16],
) {
    fill_region(setup, img, start, out, 4096, |src, dst| {
        u16_pixels(src, dst, scale, adc)
    });
}

/// The 8-bit greyscale image, bytes `start..start + out.len()` (row-major) into `out`:
/// [`u8_pixel`] inside the region of interest, 0 outside.
pub fn fill_u8(setup: &Setup, img: &Rendered, scale: f64, start: usize, out: &mut [u8]) {
    fill_region(setup, img, start, out, 8192, |src, dst| {
        u8_pixels(src, dst, scale)
    });
}

/// The 8-bit greyscale image: `min(255, v·scale)` truncated; negative and NaN give 0.
pub fn to_u8(setup: &Setup, img: &Rendered, scale: f64) -> Vec<u8> {
    let mut out = vec![0u8; img.pixels.len()];
    fill_u8(setup, img, scale, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Lattice, Params};
    use crate::setup::Region;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// nanoBragg's statistics pixel by pixel, in scan order: the reference for [`stats`].
    fn naive(
        roi: [usize; 4],
        mask: Option<&[u16]>,
        img: &Rendered,
    ) -> (f64, Option<(usize, usize)>, f64, f64, f64, usize) {
        let [x0, x1, y0, y1] = roi;
        let (mut sum, mut sumsq, mut n, mut max, mut at) = (0.0, 0.0, 0, 0.0, None);
        for s in y0..=y1.min(img.height - 1) {
            for f in x0..=x1.min(img.width - 1) {
                if mask.is_some_and(|m| m[s * img.width + f] == 0) {
                    continue;
                }
                let v = f64::from(img.pixels[s * img.width + f]);
                if v > max {
                    max = v;
                    at = Some((f, s));
                }
                sum += v;
                sumsq += v * v;
                n += 1;
            }
        }
        let mean = sum / n.max(1) as f64;
        let (mut dev, mut m) = (0.0, 0);
        for s in y0..=y1.min(img.height - 1) {
            for f in x0..=x1.min(img.width - 1) {
                dev += (f64::from(img.pixels[s * img.width + f]) - mean).powi(2);
                m += 1;
            }
        }
        let rms = (sumsq / (n.max(2) - 1) as f64).sqrt();
        let rmsd = (dev / (m.max(2) - 1) as f64).sqrt();
        (max, at, mean, rms, rmsd, n)
    }

    /// Values where the conversions clamp, round or meet NaN and infinities.
    const SPECIAL: [f32; 14] = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.0,
        -1.0,
        0.49999997,
        0.5,
        254.99998,
        255.0,
        65534.5,
        65535.0,
        1e30,
        f32::MIN_POSITIVE,
    ];

    /// The lane conversions of `src` agree with the per-pixel rules, pixel by pixel.
    fn assert_lanes_match_pixels(src: &[f32], scale: f64, adc: f64) {
        let mut d16 = vec![0u16; src.len()];
        let mut d8 = vec![0u8; src.len()];
        u16_pixels(src, &mut d16, scale, adc);
        u8_pixels(src, &mut d8, scale);
        for (i, &v) in src.iter().enumerate() {
            assert_eq!(
                d16[i],
                u16_pixel(v, scale, adc),
                "16-bit: {v} {scale} {adc}"
            );
            assert_eq!(d8[i], u8_pixel(v, scale), "8-bit: {v} {scale}");
        }
    }

    #[test]
    fn lane_conversions_match_the_pixel_rules_on_special_values() {
        for (scale, adc) in [(1.0, 0.0), (1.0, 40.0), (0.999999, 0.5), (-3.0, 10.0)] {
            assert_lanes_match_pixels(&SPECIAL, scale, adc);
        }
        assert_eq!(u16_pixel(f32::NAN, 1.0, 40.0), 0);
        assert_eq!(u16_pixel(65534.5, 1.0, 0.0), 65535);
        assert_eq!(u16_pixel(1e30, 1.0, 0.0), 65535);
        assert_eq!(u8_pixel(254.99998, 1.0), 254);
        assert_eq!(u8_pixel(-1.0, 1.0), 0);
    }

    proptest! {
        #[test]
        fn lane_conversions_match_the_pixel_rules(
            bits in proptest::collection::vec(any::<u32>(), 0..40),
            scale in -1e6f64..1e6,
            adc in -100f64..1000.0,
        ) {
            let src: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
            assert_lanes_match_pixels(&src, scale, adc);
        }

        #[test]
        fn lane_conversions_match_on_pixel_like_values(
            values in proptest::collection::vec(0f32..70000.0, 0..40),
            scale in 0.001f64..100.0,
            adc in 0f64..100.0,
        ) {
            assert_lanes_match_pixels(&values, scale, adc);
        }

        #[test]
        fn lane_sums_match_the_pixel_loop(
            width in 1usize..40,
            height in 1usize..6,
            seed in any::<u64>(),
            roi in prop::array::uniform4(0usize..45),
            masked in any::<bool>(),
        ) {
            let mut p = Params::default();
            p.detector.set_pixels(width, height);
            let right = std::f64::consts::FRAC_PI_2;
            p.crystal.lattice = Lattice::cell(50e-10, 50e-10, 50e-10, right, right, right);
            p.structure_factors.default_f = 1.0;
            let mut setup = Setup::new(&p).expect("valid parameters");
            let [a, b, c, d] = roi;
            let roi = [a.min(b), a.max(b), c.min(d), c.max(d)];
            let mut x = seed | 1;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let pixels: Vec<f32> = (0..width * height)
                .map(|_| match next() % 10 {
                    0 => f32::NAN,
                    1 => 0.0,
                    2 => -1.5,
                    r => (next() % 1000) as f32 / 7.0 + r as f32,
                })
                .collect();
            let mask = masked.then(|| Arc::new((0..width * height).map(|_| (next() % 3) as u16).collect::<Vec<_>>()));
            setup.region = Region::new(width, height, Some(roi), mask.clone());
            let img = Rendered { width, height, pixels, omega_sum: 0.0, interpolation_miss: None };
            let got = stats(&setup, &img);
            let (max, at, mean, rms, rmsd, n) = naive(roi, mask.as_deref().map(|m| m.as_slice()), &img);
            prop_assert_eq!(got.max, max);
            prop_assert_eq!(got.rendered, n);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs() || (a.is_nan() && b.is_nan());
            prop_assert!(close(got.mean, mean), "{} {}", got.mean, mean);
            prop_assert!(close(got.rms, rms), "{} {}", got.rms, rms);
            prop_assert!(close(got.rmsd, rmsd), "{} {}", got.rmsd, rmsd);
            let sub = setup.detector.pixel_size / setup.oversample as f64;
            let position = at.map_or([0.0, 0.0], |(f, s)| {
                let o = setup.oversample;
                [sub * (f * o + o - 1) as f64 + sub / 2.0, sub * (s * o + o - 1) as f64 + sub / 2.0]
            });
            prop_assert_eq!(got.max_position, position);
        }
    }
}
