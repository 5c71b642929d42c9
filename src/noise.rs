//! The Poisson-noise image (nanoBragg's `noiseimage.img`).
//!
//! After the pixel loop nanoBragg turns the float image (photons per pixel) into a noisy
//! detector image: for every pixel inside the region of interest, in raster order, it draws
//! `n = poidev(photons)`, adds `n` to the photon total, adds the ADC offset, clips values above
//! 65535 to 65535 (counting an overload) and stores the result truncated to `u16`. Pixels outside
//! the ROI are 0. No `-scale` is applied: one count is one photon.
//!
//! Two ways of drawing the deviates are offered ([`NoiseMode`]):
//!
//! * [`NoiseMode::Counter`] (default): each pixel's deviate is
//!   [`crate::rng::poisson`]`(seed, slow·width + fast, photons)`, a pure function of the seed
//!   and the pixel index. Rows are processed in parallel with rayon and the photon total is
//!   summed per row, then over rows in order, so the output is identical for any thread count.
//! * [`NoiseMode::Compat`]: C's serial sequence — one shared [`NrRng`] and the seed variable
//!   `-seed` (as C stores it), `poidev` per ROI pixel in raster order, float rounding as in C —
//!   reproducing nanoBragg's noise image exactly.
//!
//! Conversion to `u16` truncates toward zero; negative values and NaN become 0 (C's cast is
//! undefined there and on x86-64 wraps negative values modulo 65536).

use rayon::prelude::*;

use crate::lanes::LANES;
use crate::rng::{NrRng, PoissonStreams};

/// How Poisson deviates are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseMode {
    /// Counter-based deviates keyed by seed and pixel index; identical for any thread count.
    #[default]
    Counter,
    /// C's serial `ran1`/`poidev` sequence, bit-compatible with nanoBragg.
    Compat,
}

/// A noisy detector image and its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseImage {
    /// Pixel values, row-major, same length as the float image.
    pub pixels: Vec<u16>,
    /// Sum of the Poisson deviates over the ROI (before the ADC offset and clipping); C prints
    /// it as `<photons> photons on noise image`.
    pub photons: f64,
    /// Number of ROI pixels clipped to 65535.
    pub overloads: u64,
    /// The photon counts themselves (the deviates, without the ADC offset and not clipped at
    /// 65535; saturated at `i32::MAX`), for photon-counting formats such as CBF; empty unless
    /// asked for.
    pub counts: Vec<i32>,
}

/// Whether pixel `(fast, slow)` lies inside the inclusive ROI `[fast_min, fast_max, slow_min,
/// slow_max]`.
fn in_roi(fast: usize, slow: usize, roi: [usize; 4]) -> bool {
    let [fmin, fmax, smin, smax] = roi;
    fast >= fmin && fast <= fmax && slow >= smin && slow <= smax
}

/// Add the ADC offset to a deviate, clip at 65535 and truncate to `u16`; returns the pixel and
/// whether it overloaded.
fn to_pixel(n: f64, adc: f64) -> (u16, bool) {
    let v = n + adc;
    if v > 65535.0 {
        (65535, true)
    } else {
        // `as` truncates toward zero and saturates: negative values and NaN give 0.
        (v as u16, false)
    }
}

/// Simulate Poisson noise on a float image.
///
/// `float` holds photons per pixel, row-major with `width` pixels per row (a trailing partial
/// row, if any, is treated as a short row). `roi = [fast_min, fast_max, slow_min, slow_max]`
/// are inclusive pixel indices; only pixels inside draw a deviate, the others are 0. `seed` is
/// the user's `-seed` value: [`NoiseMode::Counter`] keys the generator with `seed as u64`,
/// [`NoiseMode::Compat`] starts C's generator from the internal value `-seed` with a fresh
/// [`NrRng`]. `adc` is added to every deviate before clipping at 65535.
///
/// With `counts` the deviates are also kept in [`NoiseImage::counts`]. With `width == 0` no
/// pixel can be addressed and the result is all zeros.
///
/// ```
/// use nanobragg::noise::{NoiseMode, noise_image};
///
/// let photons = vec![100.0f32; 64 * 8];
/// let a = noise_image(&photons, 64, [0, 63, 0, 7], 1, 10.0, NoiseMode::Counter, true);
/// let b = noise_image(&photons, 64, [0, 63, 0, 7], 1, 10.0, NoiseMode::Counter, true);
/// assert_eq!(a.pixels, b.pixels); // keyed by seed and pixel: the same on any thread count
/// assert!(a.pixels.iter().zip(&a.counts).all(|(&p, &n)| i32::from(p) == n + 10));
/// let mean = a.photons / photons.len() as f64;
/// assert!((mean - 100.0).abs() < 3.0);
/// ```
pub fn noise_image(
    float: &[f32],
    width: usize,
    roi: [usize; 4],
    seed: i64,
    adc: f64,
    mode: NoiseMode,
    counts: bool,
) -> NoiseImage {
    let mut image = match mode {
        NoiseMode::Compat => {
            let mut rng = NrRng::new();
            let mut seed_c = seed.wrapping_neg();
            noise_image_compat(&mut rng, &mut seed_c, float, width, roi, adc, counts)
        }
        NoiseMode::Counter => noise_image_counter(float, width, roi, seed as u64, adc, counts),
    };
    if width == 0 && counts {
        image.counts = vec![0; float.len()];
    }
    image
}

/// The noise seed of frame `index` (from 0) of a series: the user's `seed` for the first frame
/// (so a single image keeps it), and for the others a value mixed from the seed and the index
/// (SplitMix64's finaliser, kept to 31 bits and non-zero so that C's generator under `-compat`
/// takes it too). Frames of one series, and series of neighbouring seeds, draw unrelated noise.
pub fn frame_seed(seed: i64, index: usize) -> i64 {
    if index == 0 {
        return seed;
    }
    let mut z = (seed as u64) ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z & 0x7fff_ffff) as i64).max(1)
}

/// A deviate as a photon count: NaN and negative values are 0, large ones saturate.
fn to_count(n: f64) -> i32 {
    n as i32
}

/// C-compatible noise pass with caller-supplied generator state.
///
/// `rng` is the process-global state of nanoBragg's generators and `seed_c` the C-internal seed
/// variable (`-seed n` is stored as `-n`); both are advanced exactly as nanoBragg advances them.
/// [`noise_image`] in [`NoiseMode::Compat`] calls this with a fresh [`NrRng`]; passing the
/// state left by earlier draws (mosaic domains, random misset) matters only for a non-negative
/// internal seed, which does not re-initialise C's shared shuffle table. Other arguments are as
/// for [`noise_image`].
pub fn noise_image_compat(
    rng: &mut NrRng,
    seed_c: &mut i64,
    float: &[f32],
    width: usize,
    roi: [usize; 4],
    adc: f64,
    counts: bool,
) -> NoiseImage {
    let mut pixels = vec![0u16; float.len()];
    let mut kept = vec![0i32; if counts { float.len() } else { 0 }];
    let mut photons = 0.0f64;
    let mut overloads = 0u64;
    if width > 0 {
        for (slow, (out_row, in_row)) in pixels
            .chunks_mut(width)
            .zip(float.chunks(width))
            .enumerate()
        {
            for (fast, (out, &value)) in out_row.iter_mut().zip(in_row).enumerate() {
                if !in_roi(fast, slow, roi) {
                    continue;
                }
                // C: `double test = poidev(floatimage[imgidx], &seed);`
                let n = f64::from(rng.poidev(value, seed_c));
                if counts {
                    kept[slow * width + fast] = to_count(n);
                }
                photons += n;
                let (pixel, overload) = to_pixel(n, adc);
                *out = pixel;
                overloads += u64::from(overload);
            }
        }
    }
    NoiseImage {
        pixels,
        photons,
        overloads,
        counts: kept,
    }
}

/// Counter-based noise pass: rows in parallel, deterministic reduction.
fn noise_image_counter(
    float: &[f32],
    width: usize,
    roi: [usize; 4],
    key: u64,
    adc: f64,
    counts: bool,
) -> NoiseImage {
    let mut pixels = vec![0u16; float.len()];
    if width == 0 {
        return NoiseImage {
            pixels,
            photons: 0.0,
            overloads: 0,
            counts: Vec::new(),
        };
    }
    let mut kept = vec![0i32; if counts { float.len() } else { 0 }];
    let mut count_rows: Vec<Option<&mut [i32]>> = if counts {
        kept.chunks_mut(width).map(Some).collect()
    } else {
        (0..float.len().div_ceil(width)).map(|_| None).collect()
    };
    let streams = PoissonStreams::new(key);
    let row_stats: Vec<(f64, u64)> = pixels
        .par_chunks_mut(width)
        .zip(float.par_chunks(width))
        .zip(count_rows.par_iter_mut())
        .enumerate()
        .map(|(slow, ((out_row, in_row), count_row))| {
            let mut photons = 0.0f64;
            let mut overloads = 0u64;
            if slow < roi[2] || slow > roi[3] {
                return (photons, overloads);
            }
            let base = (slow as u64).wrapping_mul(width as u64);
            let chunks = out_row.chunks_mut(LANES).zip(in_row.chunks(LANES));
            for (c, (outs, values)) in chunks.enumerate() {
                let f0 = LANES * c;
                // A vector of pixels inside the ROI needs no per-pixel test.
                let inside = values.len() == LANES && f0 >= roi[0] && f0 + LANES - 1 <= roi[1];
                let index = std::array::from_fn(|i| base.wrapping_add((f0 + i) as u64));
                let mean = std::array::from_fn(|i| {
                    let take = inside || (i < values.len() && in_roi(f0 + i, slow, roi));
                    if take { f64::from(values[i]) } else { 0.0 }
                });
                let draws = streams.draw_lanes(index, mean);
                for (i, out) in outs.iter_mut().enumerate() {
                    if !inside && !in_roi(f0 + i, slow, roi) {
                        continue;
                    }
                    let n = draws[i];
                    if let Some(row) = count_row.as_deref_mut() {
                        row[f0 + i] = to_count(n);
                    }
                    photons += n;
                    let (pixel, overload) = to_pixel(n, adc);
                    *out = pixel;
                    overloads += u64::from(overload);
                }
            }
            (photons, overloads)
        })
        .collect();
    let (photons, overloads) = row_stats
        .iter()
        .fold((0.0f64, 0u64), |(p, o), &(rp, ro)| (p + rp, o + ro));
    drop(count_rows);
    NoiseImage {
        pixels,
        photons,
        overloads,
        counts: kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::poisson;

    /// The 4×3 image of the C harness.
    const IMAGE: [f32; 12] = [
        0.0, 0.5, 5.0, 11.9, 12.0, 50.0, 1000.0, 2e6, 70000.0, 65495.5, 3.25, 123.456,
    ];

    // Expected values: nanoBragg.c's noise loop (with its own poidev/ran1) in a C harness,
    // compiled with gcc -O3, on the image above.

    #[test]
    fn compat_full_roi_matches_c() {
        let img = noise_image(&IMAGE, 4, [0, 3, 0, 2], 7, 40.0, NoiseMode::Compat, false);
        assert_eq!(
            img.pixels,
            [40, 40, 46, 53, 50, 72, 1085, 65535, 65535, 65304, 45, 167]
        );
        assert_eq!(img.photons, 2136879.75);
        assert_eq!(img.overloads, 2);
    }

    #[test]
    fn compat_partial_roi_matches_c() {
        let img = noise_image(&IMAGE, 4, [1, 2, 1, 2], 7, 40.0, NoiseMode::Compat, false);
        assert_eq!(img.pixels, [0, 0, 0, 0, 0, 94, 973, 0, 0, 65463, 44, 0]);
        assert_eq!(img.photons, 66414.0);
        assert_eq!(img.overloads, 0);
    }

    #[test]
    fn compat_negative_values_clamp_to_zero() {
        // Same draws as C with seed 0 and adc -100 (C gives 2135389.5 photons, 2 overloads);
        // C's x86 cast would wrap the negative pixels, here they are 0.
        let img = noise_image(&IMAGE, 4, [0, 3, 0, 2], 0, -100.0, NoiseMode::Compat, false);
        assert_eq!(img.photons, 2135389.5);
        assert_eq!(img.overloads, 2);
        assert_eq!(
            img.pixels,
            [0, 0, 0, 0, 0, 0, 859, 65535, 65535, 64901, 0, 6]
        );
    }

    fn counter_image(threads: usize, float: &[f32], width: usize) -> NoiseImage {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let height = float.len() / width;
        pool.install(|| {
            noise_image(
                float,
                width,
                [3, width - 4, 2, height - 3],
                1234,
                40.0,
                NoiseMode::Counter,
                false,
            )
        })
    }

    #[test]
    fn counter_is_thread_count_independent() {
        let (width, height) = (97, 61);
        let float: Vec<f32> = (0..width * height)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => 0.37,
                2 => 8.5,
                3 => 33.0,
                4 => 2.5e4,
                5 => 7.0e4,
                _ => (i % 1000) as f32 * 1.5,
            })
            .collect();
        let one = counter_image(1, &float, width);
        let three = counter_image(3, &float, width);
        assert_eq!(one, three);
        assert_eq!(one.photons.to_bits(), three.photons.to_bits());
        assert!(one.overloads > 0);
        // Outside the ROI everything is 0; inside, at least the ADC offset.
        for (i, &p) in one.pixels.iter().enumerate() {
            let (fast, slow) = (i % width, i / width);
            if in_roi(fast, slow, [3, width - 4, 2, height - 3]) {
                assert!(p >= 40);
            } else {
                assert_eq!(p, 0);
            }
        }
    }

    #[test]
    fn counter_pixels_follow_rng_poisson() {
        let img = noise_image(&IMAGE, 4, [0, 3, 0, 2], 9, 0.0, NoiseMode::Counter, false);
        let mut photons = 0.0;
        let mut overloads = 0;
        for (i, &v) in IMAGE.iter().enumerate() {
            let n = poisson(9, i as u64, f64::from(v));
            photons += n;
            overloads += u64::from(n > 65535.0);
            assert_eq!(img.pixels[i], n.min(65535.0) as u16);
        }
        assert_eq!(img.photons, photons);
        assert_eq!(img.overloads, overloads);
        assert!(overloads >= 2);
    }

    #[test]
    fn roi_exclusion_and_overloads() {
        for mode in [NoiseMode::Counter, NoiseMode::Compat] {
            let float = vec![1e5f32; 5 * 4];
            let img = noise_image(&float, 5, [1, 3, 1, 2], 3, 40.0, mode, false);
            assert_eq!(img.overloads, 6, "{mode:?}");
            for (i, &p) in img.pixels.iter().enumerate() {
                let inside = (1..=3).contains(&(i % 5)) && (1..=2).contains(&(i / 5));
                assert_eq!(p, if inside { 65535 } else { 0 }, "{mode:?} pixel {i}");
            }
            // An empty ROI draws nothing.
            let img = noise_image(&float, 5, [3, 1, 0, 3], 3, 40.0, mode, false);
            assert!(img.pixels.iter().all(|&p| p == 0));
            assert_eq!((img.photons, img.overloads), (0.0, 0));
        }
    }

    #[test]
    fn counts_are_the_deviates_without_offset_or_clipping() {
        for mode in [NoiseMode::Counter, NoiseMode::Compat] {
            let roi = [1, 3, 0, 2];
            let with = noise_image(&IMAGE, 4, roi, 9, 40.0, mode, true);
            let without = noise_image(&IMAGE, 4, roi, 9, 40.0, mode, false);
            assert!(without.counts.is_empty());
            assert_eq!(with.pixels, without.pixels, "{mode:?}");
            assert_eq!(with.counts.len(), IMAGE.len());
            let mut sum = 0.0;
            for (i, (&count, &pixel)) in with.counts.iter().zip(&with.pixels).enumerate() {
                if i % 4 == 0 {
                    assert_eq!((count, pixel), (0, 0), "{mode:?}: outside the ROI");
                } else if pixel < 65535 {
                    assert_eq!(f64::from(count) + 40.0, f64::from(pixel), "{mode:?} {i}");
                } else {
                    assert!(count > 65535 - 40, "{mode:?}: {count} at an overload");
                }
                sum += f64::from(count);
            }
            assert_eq!(sum, with.photons, "{mode:?}");
            assert!(with.overloads > 0);
        }
    }

    #[test]
    fn zero_mean_pixels_get_the_adc_offset() {
        let float = vec![0.0f32; 12];
        let img = noise_image(&float, 4, [0, 3, 0, 2], 1, 40.0, NoiseMode::Counter, false);
        assert!(img.pixels.iter().all(|&p| p == 40));
        assert_eq!(img.photons, 0.0);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let float = [f32::NAN, f32::INFINITY, -5.0, f32::MAX, 1.0, 2.0, 3.0];
        for mode in [NoiseMode::Counter, NoiseMode::Compat] {
            let img = noise_image(&float, 0, [0, 10, 0, 10], i64::MIN, f64::NAN, mode, false);
            assert_eq!(img.pixels, [0; 7]);
            let img = noise_image(
                &float,
                3,
                [0, usize::MAX, 0, usize::MAX],
                i64::MIN,
                0.0,
                mode,
                false,
            );
            assert_eq!(img.pixels.len(), 7);
            assert_eq!(img.pixels[0], 0, "{mode:?}: NaN mean gives 0");
            if mode == NoiseMode::Counter {
                // C's inf + sqrt(inf)*gaussdev may be NaN; the counter generator returns inf.
                assert_eq!(img.pixels[1], 65535, "infinite mean overloads");
            }
            let img = noise_image(&[], 4, [0, 3, 0, 2], 5, 40.0, mode, false);
            assert!(img.pixels.is_empty());
        }
    }
}
