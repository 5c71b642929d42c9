//! `-compat`: noisify.c's program, serial and bit for bit.
//!
//! * The photon image is `float`: `(float)((fluence·r_e²)·scale·value)`.
//! * One process-wide generator state ([`NrRng`]: one `ran1` shuffle table, one Gaussian
//!   spare, one `poidev` cache) serves the seed variables `seed` (`−N`) and `calib_seed`
//!   (`−N`, or `+123456789` by default, which `ran1` then starts as seed 1: NZ3), drawn in C's
//!   order per pixel: flicker `gaussdev(&seed)`, calibration `gaussdev(&calib_seed)`, Poisson
//!   `poidev(&seed)`; then, after the PSF, read-out noise `gaussdev(&seed)` per pixel. So the
//!   calibration deviate is the flicker draw's spare (NZ4) and the calibration pattern depends
//!   on `-seed` (NZ5).
//! * The noiseless image is blurred only with `-nonoise` (NZ8) and clipped at 65535 also in
//!   32-bit mode (NZ7); the noise image clips at 2³¹−1 in 32-bit mode.
//! * The PSF is C's `apply_psf` ([`apply_psf_compat`]), edge wrap (NZ6) included.
//! * ADU are truncated (NZ10). Where C's conversion is undefined (negative or NaN ADU) the
//!   pixel is 0.

use super::pipeline::{Bits, Noisified, NoisifyParams, Pixels, Report};
use super::psf::{Psf, apply_psf_compat};
use crate::error::Result;
use crate::rng::NrRng;

/// C's clipping and casts of one ADU value: `(int16, int32, over 2³¹−1, over 65535)`.
fn c_pixel(adu: f64) -> (u16, u32, bool, bool) {
    let mut adu = adu;
    let over32 = adu > 2_147_483_647.0;
    if over32 {
        adu = 2_147_483_647.0;
    }
    let int32 = adu as u32;
    let over16 = adu > 65535.0;
    if over16 {
        adu = 65535.0;
    }
    (adu as u16, int32, over32, over16)
}

/// Run noisify.c on `float` (`width × height`; the caller checked the size). `psf` is `None`
/// also when its width is not positive (C skips it then).
pub(super) fn run(
    float: &[f32],
    width: usize,
    height: usize,
    p: &NoisifyParams,
    psf: Option<Psf>,
) -> Result<Noisified> {
    let pixels = float.len();
    let mut report = Report::default();
    let k = p.photon_scale();
    let mut max_i = 0.0f64;
    let mut photons: Vec<f32> = float
        .iter()
        .map(|&v| {
            let v = f64::from(v);
            if max_i < v {
                max_i = v;
            }
            (k * v) as f32
        })
        .collect();
    report.max_value = max_i;

    if !p.noise
        && let Some(psf) = psf
    {
        let (blurred, r) =
            apply_psf_compat(&photons, width, height, psf.kind, psf.fwhm, psf.radius)?;
        photons = blurred;
        report.noiseless_psf = Some(r);
    }

    // Noiseless image: clipped at 65535 in both depths (NZ7).
    let mut int16 = vec![0u16; pixels];
    let mut int32 = vec![0u32; pixels];
    for (i, &photon) in photons.iter().enumerate() {
        let mut adu = f64::from(photon) * p.gain + p.adc;
        if adu > 2_147_483_647.0 {
            adu = 2_147_483_647.0;
        }
        if adu > 65535.0 {
            adu = 65535.0;
        }
        int32[i] = adu as u32;
        int16[i] = adu as u16;
    }
    let pgm = p
        .pgm
        .then(|| int16.iter().map(|&v| v.min(255) as u8).collect());
    let int_image = match p.bits {
        Bits::Sixteen => Pixels::U16(int16),
        Bits::ThirtyTwo => Pixels::U32(int32),
    };
    if !p.noise {
        return Ok(Noisified {
            int_image,
            pgm,
            noise_image: None,
            report,
        });
    }

    let mut rng = NrRng::new();
    let mut seed = p.seed.wrapping_neg();
    let mut calib_seed = p.calib_seed_c();
    let mut sum = 0.0f64;
    for photon in photons.iter_mut() {
        let mut photons0 = f64::from(*photon);
        if p.flicker > 0.0 {
            photons0 *= 1.0 + p.flicker * f64::from(rng.gaussdev(&mut seed));
        }
        if p.calibration > 0.0 {
            photons0 *= 1.0 + p.calibration * f64::from(rng.gaussdev(&mut calib_seed));
        }
        *photon = rng.poidev(photons0 as f32, &mut seed);
        sum += f64::from(*photon);
    }
    report.photons_before_psf = sum;

    if let Some(psf) = psf {
        let (blurred, r) =
            apply_psf_compat(&photons, width, height, psf.kind, psf.fwhm, psf.radius)?;
        photons = blurred;
        report.noise_psf = Some(r);
    }

    let mut noise16 = vec![0u16; pixels];
    let mut noise32 = vec![0u32; pixels];
    let mut sum = 0.0f64;
    let mut overloads = 0u64;
    for (i, &photon) in photons.iter().enumerate() {
        sum += f64::from(photon);
        let mut adu = f64::from(photon) * p.gain + p.adc;
        if p.readout > 0.0 {
            adu += p.readout * f64::from(rng.gaussdev(&mut seed));
        }
        let (v16, v32, over32, over16) = c_pixel(adu);
        noise16[i] = v16;
        noise32[i] = v32;
        overloads += u64::from(match p.bits {
            Bits::Sixteen => over16,
            Bits::ThirtyTwo => over32,
        });
    }
    report.photons = sum;
    report.overloads = overloads;
    let noise_image = match p.bits {
        Bits::Sixteen => Pixels::U16(noise16),
        Bits::ThirtyTwo => Pixels::U32(noise32),
    };
    Ok(Noisified {
        int_image,
        pgm,
        noise_image: Some(noise_image),
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::NoiseMode;
    use crate::suite::noisify::psf::PsfKind;
    use crate::suite::noisify::{noisify, pipeline::DEFAULT_CALIB_SEED};

    fn compat_params() -> NoisifyParams {
        NoisifyParams {
            mode: NoiseMode::Compat,
            ..NoisifyParams::default()
        }
    }

    /// noisify.c's noise loops written out by hand for a tiny image (the reference the stream
    /// order is checked against): flicker, calibration and Poisson per pixel, then read-out
    /// noise per pixel, all from one shared generator.
    fn reference(float: &[f32], p: &NoisifyParams) -> (Vec<u16>, f64) {
        let mut rng = NrRng::new();
        let mut seed: i64 = -p.seed;
        let mut calib: i64 = p.calib_seed.map_or(DEFAULT_CALIB_SEED, |c| -c);
        let mut counts = Vec::new();
        for &v in float {
            let mut m = f64::from((p.photon_scale() * f64::from(v)) as f32);
            m *= 1.0 + p.flicker * f64::from(rng.gaussdev(&mut seed));
            m *= 1.0 + p.calibration * f64::from(rng.gaussdev(&mut calib));
            counts.push(rng.poidev(m as f32, &mut seed));
        }
        let mut sum = 0.0;
        let pixels = counts
            .iter()
            .map(|&n| {
                sum += f64::from(n);
                let adu =
                    f64::from(n) * p.gain + p.adc + p.readout * f64::from(rng.gaussdev(&mut seed));
                adu.clamp(0.0, 65535.0) as u16
            })
            .collect();
        (pixels, sum)
    }

    #[test]
    fn stream_order_matches_hand_written_reference() {
        let float = [
            0.0f32, 0.5, 3.0, 11.9, 12.5, 80.0, 400.0, 2.5, 7.0, 1000.0, 0.25, 30.0,
        ];
        for (seed, calib) in [(1, None), (12345, Some(999)), (77, Some(2024))] {
            let p = NoisifyParams {
                seed,
                calib_seed: calib,
                flicker: 0.05,
                calibration: 0.1,
                readout: 2.5,
                gain: 1.7,
                adc: 100.0,
                ..compat_params()
            };
            let out = noisify(&float, 4, 3, &p).unwrap();
            let (want, sum) = reference(&float, &p);
            assert_eq!(out.noise_image, Some(Pixels::U16(want)), "seed {seed}");
            assert_eq!(out.report.photons, sum);
        }
    }

    #[test]
    fn calibration_seed_is_ignored_with_flicker_and_tied_to_seed() {
        let float: Vec<f32> = (0..64).map(|i| 20.0 + i as f32).collect();
        let run = |seed, calib, flicker| {
            let p = NoisifyParams {
                seed,
                calib_seed: Some(calib),
                flicker,
                calibration: 0.1,
                ..compat_params()
            };
            noisify(&float, 8, 8, &p).unwrap().noise_image
        };
        // NZ4: with flicker the calibration deviate is the flicker draw's spare.
        assert_eq!(run(5, 1, 0.05), run(5, 77, 0.05));
        // Without flicker the calibration seed matters.
        assert_ne!(run(5, 1, 0.0), run(5, 77, 0.0));
        // The default calibration seed acts as seed 1 (NZ3).
        let default = NoisifyParams {
            seed: 5,
            calibration: 0.1,
            ..compat_params()
        };
        let one = NoisifyParams {
            calib_seed: Some(1),
            ..default.clone()
        };
        assert_eq!(
            noisify(&float, 8, 8, &default).unwrap().noise_image,
            noisify(&float, 8, 8, &one).unwrap().noise_image
        );
    }

    #[test]
    fn noiseless_image_clips_at_65535_in_32_bits_and_psf_only_without_noise() {
        let float = [1e6f32, 10.0, 0.0, 3.0];
        let p = NoisifyParams {
            bits: Bits::ThirtyTwo,
            calibration: 0.0,
            ..compat_params()
        };
        let out = noisify(&float, 2, 2, &p).unwrap();
        assert_eq!(out.int_image, Pixels::U32(vec![65535, 50, 40, 43]));
        let Some(Pixels::U32(noise)) = out.noise_image else {
            panic!("no 32-bit noise image")
        };
        assert!(noise[0] > 900_000 && noise[0] < 1_100_000);
        let psf = Some(Psf {
            kind: PsfKind::Gauss,
            fwhm: 1.0,
            radius: 1,
        });
        let with_noise = noisify(&float, 2, 2, &NoisifyParams { psf, ..p.clone() }).unwrap();
        assert_eq!(
            with_noise.int_image, out.int_image,
            "NZ8: noiseless image not blurred"
        );
        assert!(with_noise.report.noise_psf.is_some());
        let without = NoisifyParams {
            psf,
            noise: false,
            ..p
        };
        let blurred = noisify(&float, 2, 2, &without).unwrap();
        assert_ne!(blurred.int_image, out.int_image);
        assert!(blurred.report.noiseless_psf.is_some() && blurred.noise_image.is_none());
    }

    #[test]
    fn negative_and_nan_adu_are_zero() {
        assert_eq!(c_pixel(-5.0), (0, 0, false, false));
        assert_eq!(c_pixel(f64::NAN), (0, 0, false, false));
        assert_eq!(c_pixel(70000.9), (65535, 70000, false, true));
        assert_eq!(c_pixel(3e9), (65535, 2_147_483_647, true, true));
    }
}
