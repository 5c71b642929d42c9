//! The pixel loop: rows over rayon's threads, pixels of a row in blocks of [`LANES`], and for
//! each sub-pixel the amplitudes of every wavelength and divergence point from a kernel
//! ([`Backend::Simd`]: the pixels of the block on lanes; [`Backend::Scalar`]: the reference,
//! one pixel at a time with `Complex<f64>`). Everything else (sub-pixel placement, the pixel
//! factor, the sums over sub-pixels, the normalisation) is this file's, shared by both.
//!
//! Each pixel depends only on its inputs, so the images do not depend on the number of
//! threads; the solid-angle total is summed row by row in order.

use num_complex::Complex;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::lanes::LANES;

use super::atoms::Atom;
use super::params::{Params, R_E_SQR};
use super::setup::{Setup, Sub, Term};
use super::{scalar, simd};

/// A complex amplitude.
pub type Amp = Complex<f64>;

/// Which kernel computes the amplitudes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// One pixel at a time, `std` sin/cos, nearBragg.c's arithmetic: the reference.
    Scalar,
    /// Eight pixels on `f64` lanes.
    #[default]
    Simd,
}

/// The images of a render, row-major, fast index fastest.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    /// Photons per pixel.
    pub float: Vec<f32>,
    /// Average imaginary amplitude per pixel (`-coherent` only, else empty).
    pub sin: Vec<f32>,
    /// Average real amplitude per pixel (`-coherent` only, else empty).
    pub cos: Vec<f32>,
}

impl Images {
    /// All-zero images for `params` (sin and cos only when coherent).
    pub fn zeros(params: &Params) -> Images {
        let n = params.detector.xpixels * params.detector.ypixels;
        let amp = if params.coherent { n } else { 0 };
        Images {
            float: vec![0.0; n],
            sin: vec![0.0; amp],
            cos: vec![0.0; amp],
        }
    }
}

/// Refuse a detector whose images do not fit in memory (before allocating them).
pub(crate) fn check_memory(params: &Params) -> Result<()> {
    let d = &params.detector;
    let pixels = (d.xpixels as u64).saturating_mul(d.ypixels as u64);
    // float + int, and sin + cos when coherent; twice that for the printout's copy.
    let per_pixel = if params.coherent { 14 } else { 6 };
    crate::memory::check(
        pixels.saturating_mul(per_pixel).saturating_mul(2),
        &format!("a {}×{} detector", d.xpixels, d.ypixels),
    )
}

/// A finished render.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// The images.
    pub images: Images,
    /// What the log's solid-angle line reports (steradians; in `compat` mode C's sum of
    /// pixel factors, NR6).
    pub solid_angle: f64,
}

/// Render `atoms` with `params` from zero.
pub fn render(params: &Params, atoms: &[Atom], backend: Backend) -> Result<Rendered> {
    params.validate()?;
    check_memory(params)?;
    let mut images = Images::zeros(params);
    let solid_angle = render_onto(params, atoms, backend, &mut images)?;
    Ok(Rendered {
        images,
        solid_angle,
    })
}

/// Render `atoms` with `params`, adding to `images` (`-accumulate`: the float image, or with
/// `-coherent` the amplitudes of the sin/cos images, which enter before squaring). Pixels
/// outside the region keep their values. Returns the solid-angle total.
pub fn render_onto(
    params: &Params,
    atoms: &[Atom],
    backend: Backend,
    images: &mut Images,
) -> Result<f64> {
    params.validate()?;
    let (w, h) = (params.detector.xpixels, params.detector.ypixels);
    let n = w * h;
    let amp = if params.coherent { n } else { 0 };
    if images.float.len() != n || images.sin.len() != amp || images.cos.len() != amp {
        return Err(Error::InvalidParams {
            field: "images",
            reason: format!("the images to add to do not hold {w}×{h} pixels"),
        });
    }
    let setup = Setup::new(params, atoms)?;
    let mut rows = Vec::with_capacity(h);
    let mut sin = images.sin.chunks_mut(w);
    let mut cos = images.cos.chunks_mut(w);
    for (y, float) in images.float.chunks_mut(w).enumerate() {
        let (s, c) = if params.coherent {
            (
                sin.next().unwrap_or_default(),
                cos.next().unwrap_or_default(),
            )
        } else {
            (Default::default(), Default::default())
        };
        if (params.roi.ymin..=params.roi.ymax).contains(&y) {
            rows.push((y, float, s, c));
        }
    }
    let solid: Vec<f64> = rows
        .into_par_iter()
        .map(|(y, float, sin, cos)| render_row(&setup, backend, y, float, sin, cos))
        .collect();
    Ok(solid.iter().sum())
}

/// One row of the region; returns its solid-angle sum.
fn render_row(
    setup: &Setup,
    backend: Backend,
    y: usize,
    float: &mut [f32],
    sin: &mut [f32],
    cos: &mut [f32],
) -> f64 {
    let roi = setup.params.roi;
    let mut amps = vec![[Amp::default(); LANES]; setup.n_amplitudes()];
    let mut kernel = |pos: &[[f64; 3]; LANES], n: usize, amps: &mut [[Amp; LANES]]| match backend {
        Backend::Scalar => scalar::amplitudes(setup, pos, n, amps, None),
        Backend::Simd => simd::amplitudes(setup, pos, amps),
    };
    let mut solid = 0.0;
    let mut x0 = roi.xmin;
    while x0 <= roi.xmax {
        let n = LANES.min(roi.xmax + 1 - x0);
        let prior = |i: usize| Prior {
            float: float[x0 + i],
            sin: sin.get(x0 + i).copied().unwrap_or(0.0),
            cos: cos.get(x0 + i).copied().unwrap_or(0.0),
        };
        let priors: [Prior; LANES] = std::array::from_fn(|i| prior(i.min(n - 1)));
        let (out, s) = block(setup, &mut kernel, x0, y, n, &priors, &mut amps);
        solid += s;
        for (i, o) in out.iter().take(n).enumerate() {
            float[x0 + i] = o.float;
            if setup.params.coherent {
                sin[x0 + i] = o.sin;
                cos[x0 + i] = o.cos;
            }
        }
        x0 += n;
    }
    solid
}

/// A pixel's values before this render.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Prior {
    pub float: f32,
    pub sin: f32,
    pub cos: f32,
}

/// A rendered pixel, with what the printout shows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PixelOut {
    pub float: f32,
    pub sin: f32,
    pub cos: f32,
    /// The summed intensity before normalisation.
    pub i: f64,
    /// The normalised coherent amplitude (0 when incoherent, as C prints it).
    pub fa: f64,
    pub fb: f64,
    /// The last sub-pixel.
    pub last: Sub,
}

/// Per-pixel sums over sub-pixels.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    i: f64,
    re: f64,
    im: f64,
    omega_sum: f64,
    last: Sub,
}

/// The amplitude kernel: positions of up to [`LANES`] sub-pixels (`n` of them real), and one
/// amplitude per wavelength and divergence point for each.
type Kernel<'k> = dyn FnMut(&[[f64; 3]; LANES], usize, &mut [[Amp; LANES]]) + 'k;

/// Pixels `x0 … x0+n−1` of row `y` (n ≤ [`LANES`]); returns them and their solid-angle sum.
fn block(
    setup: &Setup,
    kernel: &mut Kernel,
    x0: usize,
    y: usize,
    n: usize,
    priors: &[Prior; LANES],
    amps: &mut [[Amp; LANES]],
) -> ([PixelOut; LANES], f64) {
    let p = setup.params;
    let os = p.oversample;
    let mut acc = [Acc::default(); LANES];
    let mut solid = 0.0;
    for suby in 0..os {
        for subz in 0..os {
            let subs: [Sub; LANES] =
                std::array::from_fn(|i| setup.sub(x0 + i.min(n - 1), y, suby, subz));
            kernel(&subs.map(|s| s.pos), n, amps);
            for (lane, (a, sub)) in acc.iter_mut().zip(&subs).take(n).enumerate() {
                solid += sub.solid;
                a.omega_sum += sub.omega;
                a.last = *sub;
                if p.coherent {
                    for amp in amps.iter() {
                        a.re += amp[lane].re;
                        a.im += amp[lane].im;
                    }
                } else if p.compat {
                    // C adds every |A|² to one sum and applies the last sub-pixel's factor to
                    // it at the end (NR5).
                    for amp in amps.iter() {
                        a.i += amp[lane].re * amp[lane].re + amp[lane].im * amp[lane].im;
                    }
                } else {
                    let isub: f64 = amps
                        .iter()
                        .map(|amp| amp[lane].re * amp[lane].re + amp[lane].im * amp[lane].im)
                        .sum();
                    a.i += isub * sub.omega;
                }
            }
        }
    }
    let out = std::array::from_fn(|i| finish(setup, &acc[i], priors[i]));
    (out, solid)
}

/// Normalise a pixel's sums and add them to its prior values.
fn finish(setup: &Setup, acc: &Acc, prior: Prior) -> PixelOut {
    let p = setup.params;
    let steps = setup.steps;
    let (mut fa, mut fb, mut i) = (0.0, 0.0, acc.i);
    let (mut sin, mut cos) = (prior.sin, prior.cos);
    // The pixel factor: C's is the last sub-pixel's (NR5); default mode applied each
    // sub-pixel's own already when incoherent, and takes their mean for coherent sums.
    let omega = if p.compat {
        acc.last.omega
    } else if p.coherent {
        acc.omega_sum / (p.oversample * p.oversample) as f64
    } else {
        1.0
    };
    if p.coherent {
        (fa, fb) = (acc.re, acc.im);
        // The prior average amplitudes count as if summed over as many steps (NR12); C
        // multiplies the float by the int in float precision.
        if p.compat {
            let st = setup.steps_int as f32;
            fa += f64::from(prior.cos * st);
            fb += f64::from(prior.sin * st);
        } else {
            fa += f64::from(prior.cos) * steps;
            fb += f64::from(prior.sin) * steps;
        }
        cos = (fa / steps) as f32;
        sin = (fb / steps) as f32;
        fa /= steps.sqrt();
        fb /= steps.sqrt();
        i = fa * fa + fb * fb;
    }
    let value = i / steps * omega * p.fluence * R_E_SQR;
    PixelOut {
        float: (f64::from(prior.float) + value) as f32,
        sin,
        cos,
        i,
        fa,
        fb,
        last: acc.last,
    }
}

/// One atom's contribution as the debug printout shows it: index, term, phase and the running
/// amplitude of the current wavelength and divergence point.
pub(crate) type Trace<'t> = dyn FnMut(usize, &Term, f64, Amp) + 't;

/// Pixel (x, y) recomputed with the scalar kernel, for the printout; `trace` sees every atom.
pub(crate) fn pixel_detail(
    setup: &Setup,
    x: usize,
    y: usize,
    prior: Prior,
    mut trace: Option<&mut Trace>,
) -> PixelOut {
    let mut amps = vec![[Amp::default(); LANES]; setup.n_amplitudes()];
    let mut kernel = |pos: &[[f64; 3]; LANES], n: usize, amps: &mut [[Amp; LANES]]| {
        scalar::amplitudes(setup, pos, n, amps, trace.as_deref_mut());
    };
    let priors = [prior; LANES];
    block(setup, &mut kernel, x, y, 1, &priors, &mut amps).0[0]
}
