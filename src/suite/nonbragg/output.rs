//! What nonBragg makes of the float image: statistics, the integer and PGM images, and the
//! inverse mode's table of F per sinθ/λ bin.

use rayon::prelude::*;

use super::render::Params;

/// C's image statistics over the region of interest.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Largest pixel (0 if none is positive) and the index of the first pixel holding it.
    pub max: f64,
    /// Index of the maximum pixel, if any pixel is above 0.
    pub max_index: Option<usize>,
    /// Mean, root mean square and rms deviation from the mean (printed by C).
    pub mean: f64,
    /// √(Σx²/(n−1)).
    pub rms: f64,
    /// √(Σ(x−mean)²/(n−1)).
    pub rmsd: f64,
}

/// The statistics of `image` over the region of interest. Default mode: n is the number of
/// pixels in the region. `-compat` (quirk NB2): C's counter is not initialised (it starts at
/// 0 with the reference build) and in `-img` mode is overwritten by the last stol bin's count
/// (`count_override`), and the rmsd loop reads the next pixel's value (the last one reads 0).
pub fn stats(image: &[f32], params: &Params, compat: bool, count_override: Option<usize>) -> Stats {
    if compat {
        return stats_c(image, params, count_override);
    }
    let width = params.pixels[0].max(1);
    let rows = image.par_chunks(width).take(params.pixels[1]).enumerate();
    // Per row: max, its index, Σx, Σx², n; rows added in order.
    let per_row: Vec<(f64, Option<usize>, f64, f64, usize)> = rows
        .map(|(s, values)| {
            let mut r = (0.0f64, None, 0.0f64, 0.0f64, 0usize);
            for (f, &v) in values.iter().enumerate() {
                if params.in_roi(f, s) {
                    let v = f64::from(v);
                    if v > r.0 {
                        (r.0, r.1) = (v, Some(s * width + f));
                    }
                    (r.2, r.3, r.4) = (r.2 + v, r.3 + v * v, r.4 + 1);
                }
            }
            r
        })
        .collect();
    let mut st = Stats::default();
    let (mut sum, mut sumsqr, mut n) = (0.0f64, 0.0f64, 0usize);
    for &(max, at, rs, rq, rn) in &per_row {
        if max > st.max {
            (st.max, st.max_index) = (max, at);
        }
        (sum, sumsqr, n) = (sum + rs, sumsqr + rq, n + rn);
    }
    let nf = n.max(1) as f64;
    st.mean = sum / nf;
    let nf = nf.max(2.0);
    st.rms = (sumsqr / (nf - 1.0)).sqrt();
    let mean = st.mean;
    let dev: f64 = image
        .par_chunks(width)
        .take(params.pixels[1])
        .enumerate()
        .map(|(s, values)| {
            let in_roi = |(f, _): &(usize, &f32)| params.in_roi(*f, s);
            let d = |(_, v): (usize, &f32)| (f64::from(*v) - mean).powi(2);
            values.iter().enumerate().filter(in_roi).map(d).sum::<f64>()
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    st.rmsd = (dev / (n.max(2) as f64 - 1.0)).sqrt();
    st
}

/// [`stats`] as C computes them, serially (quirk NB2).
fn stats_c(image: &[f32], params: &Params, count_override: Option<usize>) -> Stats {
    let [width, height] = params.pixels;
    let mut st = Stats::default();
    let (mut sum, mut sumsqr, mut n) = (0.0f64, 0.0f64, 0usize);
    for s in 0..height {
        for f in 0..width {
            if !params.in_roi(f, s) {
                continue;
            }
            let j = s * width + f;
            let v = f64::from(image[j]);
            if v > st.max {
                st.max = v;
                st.max_index = Some(j);
            }
            sum += v;
            sumsqr += v * v;
            n += 1;
        }
    }
    if let Some(c) = count_override {
        n = c;
    }
    let n = n.max(1) as f64;
    st.mean = sum / n;
    let n = n.max(2.0);
    st.rms = (sumsqr / (n - 1.0)).sqrt();
    let (mut dev, mut m) = (0.0f64, 0usize);
    for s in 0..height {
        for f in 0..width {
            if params.in_roi(f, s) {
                // C's `++j` comes first: the next pixel's value (0 past the end).
                let v = image.get(s * width + f + 1).map_or(0.0, |&v| f64::from(v));
                dev += (v - st.mean) * (v - st.mean);
                m += 1;
            }
        }
    }
    st.rmsd = (dev / (m.max(2) as f64 - 1.0)).sqrt();
    st
}

/// The integer image: `floor((f32)(value·scale + adc + 0.5))` clamped to 0 … 65535 inside
/// the region of interest (C rounds through `floorf`), 0 outside.
pub fn int_image(image: &[f32], params: &Params, scale: f64, adc: f64) -> Vec<u16> {
    per_roi_pixel(image, params, |v| {
        let test = (f64::from(v) * scale + adc).clamp(0.0, 65535.0);
        // NaN clamps to NaN and casts to 0.
        ((test + 0.5) as f32).floor() as u16
    })
}

/// `convert` applied to every pixel of the region of interest (rows in parallel); 0 outside.
fn per_roi_pixel<T: Copy + Default + Send>(
    image: &[f32],
    params: &Params,
    convert: impl Fn(f32) -> T + Sync,
) -> Vec<T> {
    let width = params.pixels[0].max(1);
    let mut out = vec![T::default(); image.len()];
    out.par_chunks_mut(width)
        .zip(image.par_chunks(width))
        .enumerate()
        .for_each(|(s, (row, values))| {
            for (f, (o, &v)) in row.iter_mut().zip(values).enumerate() {
                if params.in_roi(f, s) {
                    *o = convert(v);
                }
            }
        });
    out
}

/// The PGM bytes: `value·scale` truncated, at most 255, inside the region of interest. A
/// negative value is 0 by default; `-compat` keeps the low byte of C's conversion through a
/// 32-bit integer.
pub fn pgm_bytes(image: &[f32], params: &Params, scale: f64, compat: bool) -> Vec<u8> {
    per_roi_pixel(image, params, |v| {
        let test = (f64::from(v) * scale).min(255.0);
        if compat && test < 0.0 {
            // x86-64: cvttsd2si to int, then the low byte (0x80000000 out of range).
            let i = if test > -2147483649.0 {
                test as i32
            } else {
                i32::MIN
            };
            return i as u8;
        }
        test as u8
    })
}

/// One bin of the inverse mode's output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bin {
    /// The bin's node, sinθ/λ in the table's unit.
    pub stol: f64,
    /// Mean, rms deviation, median and median absolute deviation of F.
    pub mean: f64,
    /// RMS deviation from the mean.
    pub rmsd: f64,
    /// Median (`-compat`: 0, as C never computes it).
    pub median: f64,
    /// Median absolute deviation (`-compat`: 0).
    pub mad: f64,
    /// Pixels in the bin.
    pub n: usize,
}

/// F per bin: `values[b]` holds the F of the valid pixels binned to node `b`, in pixel
/// order. Default mode: mean and population rmsd in double, the median and MAD computed.
/// `-compat`: C's `fmean_with_rejection` in float (rejection off), median and MAD 0, an
/// empty bin's mean 0.
pub fn bin_stats(stol: f64, values: &[f32], compat: bool) -> Bin {
    let n = values.len();
    let (mean, rmsd, median, mad) = if n == 0 {
        (0.0, 0.0, 0.0, 0.0)
    } else if compat {
        let mut sum = 0.0f32;
        for &v in values {
            sum += v;
        }
        let avg = sum / n as f32;
        let mut sumd = 0.0f32;
        for &v in values {
            let d = (v - avg).abs();
            sumd += d * d;
        }
        let rmsd = (f64::from(sumd / n as f32)).sqrt() as f32;
        (f64::from(avg), f64::from(rmsd), 0.0, 0.0)
    } else {
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let dev = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>();
        let median = median_of(values.iter().map(|&v| f64::from(v)).collect());
        let mad = median_of(
            values
                .iter()
                .map(|&v| (f64::from(v) - median).abs())
                .collect(),
        );
        (mean, (dev / n as f64).sqrt(), median, mad)
    };
    Bin {
        stol,
        mean,
        rmsd,
        median,
        mad,
        n,
    }
}

/// The median (the mean of the middle two for an even count).
fn median_of(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::nonbragg::render::tests::params;

    #[test]
    fn statistics_default_and_compat() {
        let mut p = params();
        p.pixels = [2, 2];
        p.roi = [0, 2, 0, 2];
        let img = [1.0f32, 2.0, 3.0, 6.0];
        let st = stats(&img, &p, false, None);
        assert_eq!(st.max, 6.0);
        assert_eq!(st.max_index, Some(3));
        assert_eq!(st.mean, 3.0);
        assert!((st.rms - (50.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((st.rmsd - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // NB2: C's rmsd reads the next pixel, the last one 0
        let c = stats(&img, &p, true, None);
        assert_eq!(c.mean, 3.0);
        let want = ((1.0f64 + 0.0 + 9.0 + 9.0) / 3.0).sqrt();
        assert!((c.rmsd - want).abs() < 1e-12);
        // -img under -compat: the mean divides by the last bin's count (here 0: the sum)
        assert_eq!(stats(&img, &p, true, Some(0)).mean, 12.0);
        assert_eq!(stats(&img, &p, false, Some(0)).mean, 3.0);
    }

    #[test]
    fn integer_and_pgm_conversions() {
        let mut p = params();
        p.pixels = [4, 1];
        p.roi = [0, 2, 0, 0];
        let img = [1.0f32, 1e9, -30.0, 5.0];
        assert_eq!(int_image(&img, &p, 2.0, 40.0), vec![42, 65535, 0, 0]);
        // C rounds through float: (0.5 − 2⁻²⁵) + 0.5 is 1 in float, not in double
        let q = [0.5f32 - f32::EPSILON / 4.0];
        let mut one = params();
        one.pixels = [1, 1];
        one.roi = [0, 0, 0, 0];
        assert_eq!(int_image(&q, &one, 1.0, 0.0), vec![1]);
        assert_eq!(pgm_bytes(&img, &p, 0.5, false), vec![0, 255, 0, 0]);
        assert_eq!(pgm_bytes(&img, &p, 0.5, true), vec![0, 255, 241, 0]);
    }

    #[test]
    fn bins() {
        let b = bin_stats(0.1, &[1.0, 2.0, 4.0, 9.0], false);
        assert_eq!((b.mean, b.median, b.n), (4.0, 3.0, 4));
        assert!((b.rmsd - (38.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!(b.mad, 1.5);
        let c = bin_stats(0.1, &[1.0, 2.0, 4.0, 9.0], true);
        assert_eq!((c.mean, c.median, c.mad), (4.0, 0.0, 0.0));
        assert_eq!(bin_stats(0.1, &[], true).mean, 0.0);
    }
}
