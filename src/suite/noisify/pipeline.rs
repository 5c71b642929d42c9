//! The image pipeline, independent of files and options: a float image (photons per pixel
//! before scaling) in, the noiseless integer image, the PGM bytes and the noise image out.
//!
//! Default mode ([`NoiseMode::Counter`]), per pixel `i` (row-major index):
//!
//! 1. `photons = fluence·r_e²·scale·value`, rounded to `f32` as C's photon image is (so the
//!    noiseless images equal C's).
//! 2. Noiseless image: with a PSF, `photons` blurred (see [`super::psf`]); then
//!    `ADU = photons·gain + adc`, clipped to `0 … 65535` (16 bits) or `0 … 2³¹−1` (32 bits),
//!    truncated. PGM byte: `min(ADU, 255)`.
//! 3. Noise image: `mean = photons·(1 + flicker·N_f(i))·(1 + calibration·N_c(i))`, then
//!    `n = Poisson(mean)` from `PoissonStreams` keyed by `-seed` (the same deviates as the
//!    main program's noise image for the same seed); with a PSF, `n` blurred; then
//!    `ADU = n·gain + adc + readout·N_r(i)`, clipped (values above the top count as
//!    overloads) and truncated. `N_f`, `N_r` come from `-seed` and `N_c` from `-calib_seed`
//!    through [`NormalStreams`], each its own stream.
//!
//! Rows run in parallel (rayon), [`LANES`] pixels at a time; sums are taken per row and then
//! over rows in order, so every output and every reported number is the same for any thread
//! count. [`NoiseMode::Compat`] runs C's serial program instead ([`super::compat`]).

use rayon::prelude::*;

use super::psf::{self, Psf, PsfReport};
use super::random::{NormalStreams, Stream};
use crate::error::{Error, Result};
use crate::lanes::{self, F, LANES};
use crate::noise::NoiseMode;
use crate::rng::PoissonStreams;

/// The Thomson cross section `r_e²` (m²), C's value.
pub const R_E_SQR: f64 = 7.940_792_480_189_65e-30;

/// The fluence (photons/m²) for which `fluence·r_e² = 1` (C's default, so that the float
/// image is read as photons per pixel).
pub const UNIT_FLUENCE: f64 = 125_932_015_286_227_086_360_700_780_544.0;

/// The calibration seed C uses without `-calib_seed` (stored positive, unlike a given one).
pub const DEFAULT_CALIB_SEED: i64 = 123_456_789;

/// Integer images: 16 or 32 bits per pixel (`-bits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bits {
    /// `unsigned_short` pixels, 0 … 65535.
    #[default]
    Sixteen,
    /// `long_integer` pixels, 0 … 2³¹−1 (C clips there, a signed 32-bit value).
    ThirtyTwo,
}

impl Bits {
    /// The largest pixel value of the noise image (and, in default mode, of the noiseless one).
    pub fn top(self) -> f64 {
        match self {
            Bits::Sixteen => 65535.0,
            Bits::ThirtyTwo => 2_147_483_647.0,
        }
    }
}

/// Everything that turns a float image into detector images. Units in parentheses; the
/// defaults are C's.
#[derive(Clone, Debug, PartialEq)]
pub struct NoisifyParams {
    /// Incident fluence (photons/m²) (`-fluence`); photons = fluence·r_e²·scale·value.
    pub fluence: f64,
    /// Photon scale (1) (`-scale`).
    pub scale: f64,
    /// Make the noise image (not `-nonoise`). Without it flicker, calibration error and
    /// read-out noise are not used.
    pub noise: bool,
    /// Noise seed (`-seed N`; C's generator starts from −N).
    pub seed: i64,
    /// Calibration seed (`-calib_seed N`; C starts from −N); `None`: C's default
    /// ([`DEFAULT_CALIB_SEED`], which C stores without the minus).
    pub calib_seed: Option<i64>,
    /// Beam flicker (fraction) (`-flicker`): each pixel's mean × (1 + flicker·N(0,1)).
    pub flicker: f64,
    /// Calibration error (fraction) (`-calibration`): each pixel's mean × (1 + c·N(0,1)), a
    /// pattern fixed by the calibration seed.
    pub calibration: f64,
    /// Read-out noise (ADU rms) (`-readout`).
    pub readout: f64,
    /// Quantum gain (ADU/photon) (`-gain`).
    pub gain: f64,
    /// ADC offset (ADU) (`-adc`).
    pub adc: f64,
    /// Pixel depth of the integer images (`-bits`).
    pub bits: Bits,
    /// Point-spread function, in pixels (`-psf`, `-psf_fwhm` over `-pixel`, `-psf_radius`).
    pub psf: Option<Psf>,
    /// Make the PGM bytes.
    pub pgm: bool,
    /// Counter-based streams (default) or C's serial program (`-compat`).
    pub mode: NoiseMode,
}

impl Default for NoisifyParams {
    fn default() -> Self {
        NoisifyParams {
            fluence: UNIT_FLUENCE,
            scale: 1.0,
            noise: true,
            seed: 1,
            calib_seed: None,
            flicker: 0.0,
            calibration: 0.03,
            readout: 0.0,
            gain: 1.0,
            adc: 40.0,
            bits: Bits::Sixteen,
            psf: None,
            pgm: true,
            mode: NoiseMode::Counter,
        }
    }
}

impl NoisifyParams {
    /// Photons per unit of the float image: `(fluence·r_e²)·scale`, in C's order.
    pub fn photon_scale(&self) -> f64 {
        (self.fluence * R_E_SQR) * self.scale
    }

    /// The calibration seed as C stores it: `−calib_seed`, or `+123456789` by default.
    pub fn calib_seed_c(&self) -> i64 {
        self.calib_seed
            .map_or(DEFAULT_CALIB_SEED, i64::wrapping_neg)
    }
}

/// An integer image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pixels {
    /// 16-bit pixels.
    U16(Vec<u16>),
    /// 32-bit pixels.
    U32(Vec<u32>),
}

impl Pixels {
    /// Pixel `i` as a number.
    pub fn get(&self, i: usize) -> Option<u32> {
        match self {
            Pixels::U16(v) => v.get(i).map(|&p| u32::from(p)),
            Pixels::U32(v) => v.get(i).copied(),
        }
    }

    /// Number of pixels.
    pub fn len(&self) -> usize {
        match self {
            Pixels::U16(v) => v.len(),
            Pixels::U32(v) => v.len(),
        }
    }

    /// Whether there are no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The numbers C prints while it works.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Report {
    /// Largest value of the float image (0 when none is positive), before scaling.
    pub max_value: f64,
    /// The PSF on the noiseless image (default mode whenever a PSF is given; C only with
    /// `-nonoise`).
    pub noiseless_psf: Option<PsfReport>,
    /// Photons on the noise image before the PSF (the sum of the Poisson deviates).
    pub photons_before_psf: f64,
    /// The PSF on the noise image.
    pub noise_psf: Option<PsfReport>,
    /// Photons on the noise image (after the PSF).
    pub photons: f64,
    /// Noise-image pixels above the top value of the bit depth.
    pub overloads: u64,
}

/// The images made from one float image.
#[derive(Clone, Debug, PartialEq)]
pub struct Noisified {
    /// The noiseless image in ADU (`-intfile`).
    pub int_image: Pixels,
    /// The PGM bytes, `min(noiseless ADU, 255)` (`-pgmfile`), when asked for.
    pub pgm: Option<Vec<u8>>,
    /// The noise image in ADU (`-noisefile`), unless noise is off.
    pub noise_image: Option<Pixels>,
    /// What C prints.
    pub report: Report,
}

/// Turn `float` (`width × height`, row-major) into detector images.
///
/// Errors: `float.len() ≠ width·height` ([`Error::InvalidParams`]), a PSF width that is not a
/// positive number in default mode (C skips the PSF then, and so does compat mode), and a PSF
/// kernel too large for the memory ([`Error::OutOfMemory`]).
///
/// ```
/// use nanobragg::suite::noisify::{NoisifyParams, Pixels, noisify};
///
/// let float = vec![10.0f32; 32 * 16];
/// let out = noisify(&float, 32, 16, &NoisifyParams::default())?;
/// assert_eq!(out.int_image, Pixels::U16(vec![50; 32 * 16])); // 10 photons + ADC 40
/// let Some(Pixels::U16(noise)) = &out.noise_image else { unreachable!() };
/// let mean = noise.iter().map(|&p| f64::from(p)).sum::<f64>() / noise.len() as f64;
/// assert!((mean - 50.0).abs() < 1.0);
/// # Ok::<(), nanobragg::Error>(())
/// ```
pub fn noisify(float: &[f32], width: usize, height: usize, p: &NoisifyParams) -> Result<Noisified> {
    if width.checked_mul(height) != Some(float.len()) {
        return Err(Error::InvalidParams {
            field: "float image",
            reason: format!("{} values for a {width}×{height} image", float.len()),
        });
    }
    let psf = match p.psf {
        Some(psf) if !(psf.fwhm > 0.0 && psf.fwhm.is_finite()) => {
            if p.mode == NoiseMode::Compat {
                None
            } else {
                return Err(Error::InvalidParams {
                    field: "-psf_fwhm",
                    reason: format!("the PSF width must be positive, got {} pixels", psf.fwhm),
                });
            }
        }
        other => other,
    };
    match p.mode {
        NoiseMode::Compat => super::compat::run(float, width, height, p, psf),
        NoiseMode::Counter => run(float, width, height, p, psf),
    }
}

/// Optional output rows: one `Some(row)` per row of `buf`, or `None`s.
fn rows_of<T>(buf: &mut Option<Vec<T>>, width: usize, height: usize) -> Vec<Option<&mut [T]>> {
    match buf {
        Some(v) => v.chunks_mut(width).map(Some).collect(),
        None => (0..height).map(|_| None).collect(),
    }
}

/// An integer image being made, 16 or 32 bits.
enum IntImage {
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl IntImage {
    fn new(bits: Bits, pixels: usize) -> Self {
        match bits {
            Bits::Sixteen => IntImage::U16(vec![0; pixels]),
            Bits::ThirtyTwo => IntImage::U32(vec![0; pixels]),
        }
    }

    fn rows(&mut self, width: usize) -> Vec<IntRow<'_>> {
        match self {
            IntImage::U16(v) => v.chunks_mut(width).map(IntRow::U16).collect(),
            IntImage::U32(v) => v.chunks_mut(width).map(IntRow::U32).collect(),
        }
    }

    fn into_pixels(self) -> Pixels {
        match self {
            IntImage::U16(v) => Pixels::U16(v),
            IntImage::U32(v) => Pixels::U32(v),
        }
    }
}

/// One row of an integer image, or nothing to store.
enum IntRow<'a> {
    U16(&'a mut [u16]),
    U32(&'a mut [u32]),
    None,
}

impl IntRow<'_> {
    /// Store the ADU values `adu` (one per column), clipped to `0 … top` and truncated (NaN
    /// gives 0); returns how many were above `top`.
    #[inline(always)]
    fn put(&mut self, adu: &[f64], top: f64) -> u64 {
        let overloads = adu.iter().map(|&a| u64::from(a > top)).sum();
        match self {
            IntRow::U16(r) => {
                for (o, &a) in r.iter_mut().zip(adu) {
                    *o = a.max(0.0).min(top) as u16;
                }
            }
            IntRow::U32(r) => {
                for (o, &a) in r.iter_mut().zip(adu) {
                    *o = a.max(0.0).min(top) as u32;
                }
            }
            IntRow::None => {}
        }
        overloads
    }
}

/// Store the PGM bytes of noiseless ADU values: the 16-bit pixel clipped at 255, i.e.
/// `⌊min(max(adu, 0), 255)⌋` (NaN gives 0).
#[inline(always)]
fn put_pgm(row: &mut [u8], adu: &[f64]) {
    for (o, &a) in row.iter_mut().zip(adu) {
        *o = a.clamp(0.0, 255.0) as u8;
    }
}

/// `values·gain + adc` into `out`.
#[inline(always)]
fn to_adu(out: &mut [f64], values: &[f64], gain: f64, adc: f64) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = v * gain + adc;
    }
}

/// The sum of `values`, on [`LANES`] partial sums added in lane order at the end.
fn lane_sum(values: &[f64]) -> f64 {
    let mut acc = F::ZERO;
    for chunk in values.chunks(LANES) {
        acc += lanes::from_fn(|i| chunk.get(i).copied().unwrap_or(0.0));
    }
    acc.to_array().iter().sum()
}

/// The noise-model constants of the first pass.
struct Noise {
    poisson: PoissonStreams,
    flicker: Option<(NormalStreams, F)>,
    calibration: Option<(NormalStreams, F)>,
}

impl Noise {
    fn new(p: &NoisifyParams) -> Self {
        let seed = p.seed as u64;
        Noise {
            poisson: PoissonStreams::new(seed),
            flicker: (p.flicker > 0.0).then(|| {
                (
                    NormalStreams::new(seed, Stream::Flicker),
                    F::splat(p.flicker),
                )
            }),
            calibration: (p.calibration > 0.0).then(|| {
                let calib = p.calib_seed_c() as u64;
                let s = NormalStreams::new(calib, Stream::Calibration);
                (s, F::splat(p.calibration))
            }),
        }
    }

    /// The Poisson deviates of the [`LANES`] pixels from index `first` (normal-deviate pairs
    /// from `pair`) with ideal photons `photons`.
    #[inline(always)]
    fn counts(&self, first: u64, pair: u64, photons: F) -> F {
        // Pixels without photons draw 0 whatever their (finite) factors: a vector of them
        // skips the draws, with the same result.
        if photons.simd_eq(F::ZERO).all() {
            return F::ZERO;
        }
        let mut mean = photons;
        if let Some((s, f)) = &self.flicker {
            mean *= F::ONE + *f * F::from(s.normal_lanes(pair));
        }
        if let Some((s, c)) = &self.calibration {
            mean *= F::ONE + *c * F::from(s.normal_lanes(pair));
        }
        let index = std::array::from_fn(|i| first.wrapping_add(i as u64));
        F::from(self.poisson.draw_lanes(index, mean.to_array()))
    }
}

/// The normal-deviate pair of column `x` (even) of row `y`: pairs are numbered row by row,
/// `⌈width/2⌉` per row.
fn pair_index(y: usize, x: usize, width: usize) -> u64 {
    (y as u64)
        .wrapping_mul(width.div_ceil(2) as u64)
        .wrapping_add(x as u64 / 2)
}

/// The noise image's ADU stage.
struct Adu<'a> {
    p: &'a NoisifyParams,
    readout: Option<NormalStreams>,
    width: usize,
}

impl Adu<'_> {
    /// Store the noisy ADU of row `y` from its photons `counts` (after any PSF), using
    /// `scratch` (as long as the row); returns the row's photons and overloads.
    fn row(
        &self,
        out: &mut IntRow<'_>,
        y: usize,
        counts: &[f64],
        scratch: &mut [f64],
    ) -> (f64, u64) {
        let adu = &mut scratch[..counts.len()];
        to_adu(adu, counts, self.p.gain, self.p.adc);
        if let Some(s) = &self.readout {
            for (c, chunk) in adu.chunks_mut(LANES).enumerate() {
                let z = s.normal_lanes(pair_index(y, c * LANES, self.width));
                for (a, z) in chunk.iter_mut().zip(z) {
                    *a += self.p.readout * z;
                }
            }
        }
        (lane_sum(counts), out.put(adu, self.p.bits.top()))
    }
}

/// What one row of the first pass sums.
#[derive(Clone, Copy, Default)]
struct RowSums {
    max: f64,
    photons: f64,
    overloads: u64,
}

/// Default mode.
fn run(
    float: &[f32],
    width: usize,
    height: usize,
    p: &NoisifyParams,
    psf: Option<Psf>,
) -> Result<Noisified> {
    let pixels = float.len();
    let width = width.max(1);
    let scale = p.photon_scale();
    let int_top = p.bits.top();
    let noise = Noise::new(p);
    let adu = Adu {
        p,
        readout: (p.noise && p.readout > 0.0)
            .then(|| NormalStreams::new(p.seed as u64, Stream::Readout)),
        width,
    };
    // Without a PSF one pass makes every image; with one it keeps the photons (noiseless)
    // and the counts (noise) for the blur, which then makes the images row by row.
    let fused = psf.is_none();

    let mut ints = IntImage::new(p.bits, pixels);
    let mut pgm = p.pgm.then(|| vec![0u8; pixels]);
    let mut noisy = p.noise.then(|| IntImage::new(p.bits, pixels));
    // With a unit scale the photon image is the input itself.
    let mut ideal = (!fused && scale != 1.0).then(|| vec![0.0f32; pixels]);
    let mut counts = (!fused && p.noise).then(|| vec![0.0f64; pixels]);

    let sums: Vec<RowSums> = {
        let none = || (0..height).map(|_| IntRow::None).collect::<Vec<_>>();
        let int_rows = if fused { ints.rows(width) } else { none() };
        let noise_rows = match noisy.as_mut() {
            Some(b) if fused => b.rows(width),
            _ => none(),
        };
        let pgm_rows = if fused {
            rows_of(&mut pgm, width, height)
        } else {
            (0..height).map(|_| None).collect()
        };
        let ideal_rows = rows_of(&mut ideal, width, height);
        let count_rows = rows_of(&mut counts, width, height);
        float
            .par_chunks(width)
            .zip(int_rows)
            .zip(noise_rows)
            .zip(pgm_rows)
            .zip(ideal_rows)
            .zip(count_rows)
            .enumerate()
            .map_init(
                || {
                    (
                        vec![0.0f64; width],
                        vec![0.0f64; width],
                        vec![0.0f64; width],
                    )
                },
                |(ph, drawn, scratch),
                 (y, (((((row, mut int), mut noisy), pgm), ideal), counts))| {
                    let n = row.len();
                    let (ph, drawn) = (&mut ph[..n], &mut drawn[..n]);
                    let max = psf::row_max(row);
                    // The photon image is single precision, as in C.
                    if scale == 1.0 {
                        for (o, &v) in ph.iter_mut().zip(row) {
                            *o = f64::from(v);
                        }
                    } else {
                        for (o, &v) in ph.iter_mut().zip(row) {
                            *o = f64::from((f64::from(v) * scale) as f32);
                        }
                    }
                    if fused {
                        let a = &mut scratch[..n];
                        to_adu(a, ph, p.gain, p.adc);
                        int.put(a, int_top);
                        if let Some(g) = pgm {
                            put_pgm(g, a);
                        }
                    } else if let Some(r) = ideal {
                        for (o, &v) in r.iter_mut().zip(ph.iter()) {
                            *o = v as f32;
                        }
                    }
                    let mut sums = RowSums {
                        max,
                        ..RowSums::default()
                    };
                    if !p.noise {
                        return sums;
                    }
                    let base = (y * width) as u64;
                    for (c, (chunk, out)) in
                        ph.chunks(LANES).zip(drawn.chunks_mut(LANES)).enumerate()
                    {
                        let x0 = c * LANES;
                        let photons = lanes::from_fn(|i| chunk.get(i).copied().unwrap_or(0.0));
                        let d = noise.counts(base + x0 as u64, pair_index(y, x0, width), photons);
                        out.copy_from_slice(&d.to_array()[..out.len()]);
                    }
                    if let Some(r) = counts {
                        r.copy_from_slice(drawn);
                        sums.photons = lane_sum(drawn);
                    } else {
                        (sums.photons, sums.overloads) = adu.row(&mut noisy, y, drawn, scratch);
                    }
                    sums
                },
            )
            .collect()
    };
    let mut report = Report {
        max_value: sums
            .iter()
            .fold(0.0, |m, s| if m < s.max { s.max } else { m }),
        photons_before_psf: sums.iter().map(|s| s.photons).sum(),
        overloads: sums.iter().map(|s| s.overloads).sum(),
        ..Report::default()
    };
    report.photons = report.photons_before_psf;

    if let Some(psf) = psf {
        // The noiseless image, blurred and converted row by row.
        let ideal = ideal.unwrap_or_default();
        let photons = if scale == 1.0 { float } else { &ideal[..] };
        let targets: Vec<_> = ints
            .rows(width)
            .into_iter()
            .zip(rows_of(&mut pgm, width, height))
            .collect();
        let convert = |_, row: &[f64], (mut int, pgm): (IntRow<'_>, Option<&mut [u8]>)| {
            let mut a = vec![0.0; row.len()];
            to_adu(&mut a, row, p.gain, p.adc);
            int.put(&a, int_top);
            if let Some(g) = pgm {
                put_pgm(g, &a);
            }
        };
        let (_, r) = psf::convolve_rows(photons, width, height, &psf, targets, convert)?;
        report.noiseless_psf = Some(r);
        drop(ideal);
        if let (Some(counts), Some(noisy)) = (counts, noisy.as_mut()) {
            let targets = noisy.rows(width);
            let convert = |y, row: &[f64], mut int: IntRow<'_>| {
                adu.row(&mut int, y, row, &mut vec![0.0; row.len()])
            };
            let (rows, r) = psf::convolve_rows(&counts, width, height, &psf, targets, convert)?;
            report.noise_psf = Some(r);
            report.photons = rows.iter().map(|r| r.0).sum();
            report.overloads = rows.iter().map(|r| r.1).sum();
        }
    }
    Ok(Noisified {
        int_image: ints.into_pixels(),
        pgm,
        noise_image: noisy.map(IntImage::into_pixels),
        report,
    })
}
