//! `noisify`: detector images from an ideal image — a port of James Holton's `noisify.c`
//! (6-28-21).
//!
//! The input is a float image in photons per pixel (raw float32, what `-floatfile` of the
//! simulators writes). Out come the noiseless integer image (`-intfile`, default
//! `intimage.img`), its PGM preview (`-pgmfile`, `image.pgm`; `-nopgm`) and the noise image
//! (`-noisefile`, `noiseimage.img`; `-nonoise`), as 16- or 32-bit SMV (`-bits`).
//!
//! * [`noisify`] is the image pipeline on an in-memory image with [`NoisifyParams`]; the
//!   simulator can call it on the image it has just rendered, in the same process.
//! * [`psf`] holds the point-spread functions and their convolution.
//! * [`main`] is `nanobragg noisify`: C's command line (every spelling `noisify.c` accepts,
//!   see `golden_suite/README.md`, "noisify — options as parsed"), the files and C's log.
//!
//! # Pipeline
//!
//! 1. photons = fluence·r_e²·scale·value, rounded to `f32` as C's photon image is.
//! 2. Noiseless image: photons (blurred by the PSF, if any) → ADU = photons·gain + adc,
//!    clipped to 0 … 65535 (16 bits) or 0 … 2³¹−1 (32 bits), truncated; PGM byte
//!    `min(ADU, 255)`.
//! 3. Noise image: mean = photons·(1 + flicker·N_f)·(1 + calibration·N_c) → Poisson → PSF →
//!    ADU = counts·gain + adc + readout·N_r, clipped (overloads counted for the bit depth),
//!    truncated.
//!
//! # Random numbers (default mode)
//!
//! Every deviate is a pure function of (seed, stream, pixel), never of the order in which
//! pixels are visited:
//!
//! * Poisson: `rng::PoissonStreams` keyed by `-seed`, pixel index `y·W + x` — the
//!   deviates the main program's noise image draws for the same seed.
//! * Normal deviates N_f (flicker, `-seed`), N_c (calibration, `-calib_seed`; C's default
//!   123456789) and N_r (read-out, `-seed`), each its own stream: the seed and the stream
//!   number are hashed (SplitMix64's finaliser) into a key that starts a SplitMix64 sequence;
//!   the pixels of row `y` go in pairs, pair `p = y·⌈W/2⌉ + x/2` taking elements `2p+1` and
//!   `2p+2` as two 53-bit uniforms, whose Box–Muller transform gives the deviates of its even
//!   (cosine) and odd (sine) column.
//!
//! Rows run in parallel (rayon), eight pixels at a time; sums are taken per row and then over
//! rows in order, and the PSF gathers each output row in a fixed order ([`psf`]), so every
//! output and every number in the log is the same for any thread count. `-compat` runs C's
//! serial program instead, bit for bit.
//!
//! # Differences from the C program (default mode)
//!
//! * **NZ4, NZ5** — every stream is independent: the calibration pattern depends only on
//!   `-calib_seed` (C: with `-flicker` the calibration factor is the flicker draw's spare
//!   Gaussian, and otherwise the pattern still depends on `-seed` through the shared `ran1`
//!   table). Noise images therefore differ from C's pixel by pixel (same statistics); `-compat`
//!   reproduces C's. The default calibration seed is C's 123456789 (NZ3: calibration error is
//!   on by default, 3 %, as in C).
//! * **Poisson deviates** are exact for all means (C switches to an unrounded Gaussian above
//!   10⁶ photons, so its 32-bit images hold non-integer counts truncated).
//! * **NZ6** — PSF photons that spill past an edge of the detector are lost (they reach no
//!   pixel; C puts spill past the right edge into the first column of the next row and writes
//!   spill past the last pixel outside the image).
//! * **PSF photons beyond the radius** are `I·(1 − Σ kernel over the disc)`, so apart from the
//!   edges the PSF conserves photons exactly (C uses the continuous-disc formulas, which do
//!   not match the pixel disc it renders). The Gaussian kernel is computed in a separable,
//!   cancellation-free form (same values to 1e-15). A Gaussian pixel below 0.01 photons gets
//!   radius 1 (C's formula takes the root of a negative number and its `int` conversion is
//!   undefined).
//! * **NZ8** — with a PSF the noiseless image is blurred too (C blurs it only with `-nonoise`,
//!   so the same `-intfile` came out sharp or blurred depending on `-nonoise`; a PSF is a
//!   property of the detector, not of the noise). The log then also shows the noiseless
//!   blur's lines.
//! * **NZ7** — `-bits 32`: the noiseless image is clipped at 2³¹−1 like the noise image (C
//!   clips it at 65535); a header copied with `-header` gets `TYPE=long_integer` with
//!   `-bits 32` (and `BYTE_ORDER=little_endian`, the order of the pixels written), rewritten in
//!   place with the padding absorbing the length change; `-bits` other than 16 and 32 is a
//!   usage error (C writes a header without its first five lines and no pixels; `-compat`
//!   does the same).
//! * **NZ9** — a size guessed from the file length must be a square (`n = k²`); otherwise
//!   the run stops with a usage error asking for `-detpixels_x/_y` (C takes the largest
//!   divisor below √n: 160×96 became 120×128). `-compat` guesses like C.
//! * **NZ10** — ADU are truncated as in C; negative and NaN ADU become 0 (undefined in C), in
//!   both modes.
//! * **NZ1** — arguments are matched by the spellings C accepts (exact or as the prefixes C
//!   tests), not by substring anywhere; an unknown option is a usage error naming the closest
//!   spelling. The input is `-floatfile` or one argument containing `floatimage.bin`; any other
//!   stray argument, or both, is a usage error. **NZ11** — `-psf` without a value is a usage
//!   error.
//! * **Sizes and inputs** are checked: the float file must hold exactly width × height values
//!   (C reads what is there, zero-filling or ignoring the rest); `-detpixels_x` alone must
//!   divide the pixel count; an empty file, a `-header` file that is not SMV or has no sizes
//!   or a non-positive pixel size, and a non-positive `-pixel` are errors. An unknown `-psf`
//!   type, a `-psf_fwhm` ≤ 0 with `-psf`, a negative `-psf_radius` and a non-integer seed are
//!   usage errors (C warns, skips silently or carries on with undefined values). `-compat` keeps C's warnings for `-psf` and `-bits` and skips
//!   a PSF of width ≤ 0, but refuses the same malformed inputs.
//! * **Log** — the lines are C's, except that negative input values are summarised in one
//!   warning (C prints one line per pixel; `-compat` does too). Outputs are written only when
//!   all are ready (atomically), after the log's "writing" lines.
//! * **NZ2** — without `-seed` the noise is seeded from the clock, as in C (the seed is printed).
//! * **NZ12** — `BEAM_CENTER_Y` is the detector height minus `-Ybeam`, as in C (the SMV
//!   convention); `-detsize` has no effect (as in C, where the size is always pixels × pixel).
//! * `-header`: its first `HEADER_BYTES` bytes are copied (512 for every SMV file nanoBragg
//!   writes), its pixels need not be there; its `WAVELENGTH` is not used (C reads it, divided
//!   by 10¹⁰, into the wavelength of the header it would make, which `-header` replaces).

mod cli;
mod compat;
mod erf;
mod pipeline;
pub mod psf;
mod random;

pub use cli::main;
pub use pipeline::{
    Bits, DEFAULT_CALIB_SEED, Noisified, NoisifyParams, Pixels, R_E_SQR, Report, UNIT_FLUENCE,
    noisify,
};
pub use psf::{Psf, PsfKind, PsfReport};

#[cfg(test)]
mod tests;
