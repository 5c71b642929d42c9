//! Every output file of one rendered frame, written together.
//!
//! [`stage_frame`] turns a rendered float image into the files a run asks for — the raw float
//! image, the noiseless 16-bit SMV image, the 8-bit PGM and PNG previews, the Poisson-noise SMV
//! image, the miniCBF photon counts and the NumPy array — and returns them staged (written to
//! temporaries beside their targets, see [`crate::io::atomic`]) in nanoBragg's order of
//! writing them (float, int, PGM, noise, then PNG, CBF, npy), for the caller to commit once
//! every one of them was written. It also returns what was computed on the way (statistics,
//! scales, noise totals) so the caller can report it.
//!
//! Writing is mostly the kernel copying into the page cache, so each file is written on a
//! background thread while the next output is computed: the float image (and the npy) while
//! the statistics are taken, the 16-bit and 8-bit images while the noise is drawn. The 16-bit
//! image is converted block by block as it is written, so besides the float image at most the
//! noise image (32 MiB at 4096²) is held.
//!
//! [`frame_path`] names the files of frame i of a series.

use std::path::{Path, PathBuf};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use crate::engine::Rendered;
use crate::error::Result;
use crate::image::{self, Stats};
use crate::io::lab::{FrameScan, LabGeometry};
use crate::io::smv::SmvHeader;
use crate::io::{self, Staged};
use crate::noise::{self, NoiseImage, NoiseMode};
use crate::setup::Setup;

/// The files of one frame; `None` skips a file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameFiles {
    /// Raw float32 image, photons per pixel.
    pub float: Option<PathBuf>,
    /// Noiseless SMV image: `photons·int_scale + adc`.
    pub int: Option<PathBuf>,
    /// 8-bit PGM preview.
    pub pgm: Option<PathBuf>,
    /// Poisson-noise SMV image.
    pub noise: Option<PathBuf>,
    /// 8-bit PNG preview (the PGM's scaling).
    pub png: Option<PathBuf>,
    /// miniCBF photon counts: the noise image without its pedestal, or without a noise image
    /// the integer image without its offset.
    pub cbf: Option<PathBuf>,
    /// The float image as a NumPy `.npy`.
    pub npy: Option<PathBuf>,
}

impl FrameFiles {
    /// Every file named, for checks before a run.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [
            &self.float,
            &self.int,
            &self.pgm,
            &self.noise,
            &self.png,
            &self.cbf,
            &self.npy,
        ]
        .into_iter()
        .flatten()
    }
}

/// How one frame's integer images are scaled and its noise drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    /// Photons to 16-bit counts (`None`: nanoBragg's 55000/max).
    pub int_scale: Option<f64>,
    /// Photons to 8-bit grey levels (`None`: nanoBragg's 250/(5·rmsd)).
    pub pgm_scale: Option<f64>,
    /// Pedestal added to the SMV pixels.
    pub adc: f64,
    /// The frame's noise seed (see [`noise::frame_seed`]).
    pub seed: i64,
    /// How the Poisson deviates are drawn.
    pub noise_mode: NoiseMode,
}

/// What [`stage_frame`] computed on the way.
#[derive(Clone, Debug)]
pub struct FrameReport {
    /// Statistics of the float image (nanoBragg's `max_I`, mean, rms, rmsd).
    pub stats: Stats,
    /// The 16-bit scale used.
    pub int_scale: f64,
    /// The 8-bit scale used, when a PGM or PNG was written.
    pub pgm_scale: Option<f64>,
    /// Photons and overloads of the noise image, when one was drawn.
    pub noise: Option<(f64, u64)>,
    /// The photon counts, when asked for (`counts` of [`stage_frame`]) or written to a CBF.
    pub counts: Option<Vec<i32>>,
    /// Time spent drawing the noise.
    pub noise_time: Duration,
}

/// Stages the files of one frame (see the module documentation); `header` is the frame's SMV
/// header and `counts` asks for the photon counts in the report (for an NXmx series).
pub fn stage_frame(
    setup: &Setup,
    rendered: &Rendered,
    frame: (&LabGeometry, &FrameScan),
    files: &FrameFiles,
    scaling: &Scaling,
    header: &SmvHeader,
    counts: bool,
) -> Result<(Vec<Staged>, FrameReport)> {
    let pixels = &rendered.pixels;
    let (w, h) = (rendered.width, rendered.height);
    let want_counts = counts || files.cbf.is_some();
    std::thread::scope(|scope| {
        let float = spawn_on(scope, &files.float, |p| {
            io::floatfile::stage_float_image(p, pixels)
        });
        let npy = spawn_on(scope, &files.npy, |p| {
            io::npy::stage_npy_f32(p, w, h, pixels)
        });
        let stats = image::stats(setup, rendered);
        let int_scale = image::int_scale(scaling.int_scale, &stats);
        let int = spawn_on(scope, &files.int, move |p| {
            io::smv::stage_smv_with(p, header, pixels.len(), |start, block| {
                image::fill_u16(setup, rendered, int_scale, scaling.adc, start, block)
            })
        });
        let pgm_scale = (files.pgm.is_some() || files.png.is_some())
            .then(|| image::pgm_scale(scaling.pgm_scale, &stats, int_scale));
        let pgm = match pgm_scale {
            Some(scale) => spawn_on(scope, &files.pgm, move |p| {
                io::pgm::stage_pgm_with(p, w, h, scale, |start, block| {
                    image::fill_u8(setup, rendered, scale, start, block)
                })
            }),
            None => None,
        };
        let clock = Instant::now();
        let noisy = files
            .noise
            .as_ref()
            .map(|_| noise_image(setup, rendered, scaling, want_counts));
        let noise_time = clock.elapsed();

        let mut staged = Vec::new();
        staged.extend(join(float)?);
        staged.extend(join(int)?);
        staged.extend(join(pgm)?);
        let mut report = FrameReport {
            stats,
            int_scale,
            pgm_scale,
            noise: None,
            counts: None,
            noise_time,
        };
        if let (Some(p), Some(n)) = (&files.noise, noisy) {
            staged.push(io::smv::stage_smv_with(
                p,
                header,
                n.pixels.len(),
                |start, block| block.copy_from_slice(&n.pixels[start..start + block.len()]),
            )?);
            report.noise = Some((n.photons, n.overloads));
            report.counts = want_counts.then_some(n.counts);
        }
        if let (Some(scale), Some(p)) = (pgm_scale, &files.png) {
            let bytes = image::to_u8(setup, rendered, scale);
            staged.push(io::png::stage_png_gray8(p, w, h, &bytes)?);
        }
        if want_counts && report.counts.is_none() {
            report.counts = Some(integer_counts(setup, rendered, int_scale));
        }
        if let (Some(p), Some(c)) = (&files.cbf, &report.counts) {
            let (lab, scan) = frame;
            staged.push(io::cbf::stage_cbf(p, lab, scan, c)?);
        }
        staged.extend(join(npy)?);
        Ok((staged, report))
    })
}

/// The noise image of the frame's region of interest.
fn noise_image(setup: &Setup, rendered: &Rendered, s: &Scaling, counts: bool) -> NoiseImage {
    noise::noise_image(
        &rendered.pixels,
        rendered.width,
        setup.region.bounds(),
        s.seed,
        s.adc,
        s.noise_mode,
        counts,
    )
}

/// The integer image without its ADC offset, as photon counts (CBF and NXmx without noise).
pub fn integer_counts(setup: &Setup, rendered: &Rendered, int_scale: f64) -> Vec<i32> {
    let mut ints = vec![0u16; rendered.pixels.len()];
    image::fill_u16(setup, rendered, int_scale, 0.0, 0, &mut ints);
    ints.into_iter().map(i32::from).collect()
}

/// The name of frame `number` (from 1) of a series of `frames`: the path itself for a single
/// image, else the number with at least five digits (as many as the largest number needs)
/// before the extension: `sim.cbf` → `sim_00001.cbf`.
pub fn frame_path(path: &Path, number: usize, frames: usize) -> PathBuf {
    if frames <= 1 {
        return path.to_path_buf();
    }
    let width = frames.to_string().len().max(5);
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let mut name = format!("{stem}_{number:0width$}");
    if let Some(ext) = path.extension() {
        name.push('.');
        name.push_str(&ext.to_string_lossy());
    }
    path.with_file_name(name)
}

/// Writes the file at `path`, if any, on a thread of `scope`.
fn spawn_on<'scope, 'env, F>(
    scope: &'scope Scope<'scope, 'env>,
    path: &'env Option<PathBuf>,
    write: F,
) -> Option<ScopedJoinHandle<'scope, Result<Staged>>>
where
    F: FnOnce(&'env Path) -> Result<Staged> + Send + 'scope,
{
    path.as_deref().map(|p| scope.spawn(move || write(p)))
}

/// Waits for a writer thread, if any, and passes on its result.
fn join(handle: Option<ScopedJoinHandle<'_, Result<Staged>>>) -> Result<Option<Staged>> {
    handle
        .map(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names_carry_the_number_before_the_extension() {
        let name = |p: &str, n, frames| frame_path(Path::new(p), n, frames);
        assert_eq!(name("sim.cbf", 1, 1), Path::new("sim.cbf"));
        assert_eq!(name("sim.cbf", 7, 10), Path::new("sim_00007.cbf"));
        assert_eq!(name("dir/a.b.img", 3, 3), Path::new("dir/a.b_00003.img"));
        assert_eq!(name("out", 2, 2), Path::new("out_00002"));
        // More frames than five digits hold: every name of the series widens alike.
        assert_eq!(name("s.img", 7, 123_456), Path::new("s_000007.img"));
        assert_eq!(name("s.img", 123_456, 123_456), Path::new("s_123456.img"));
        let names: std::collections::HashSet<PathBuf> =
            (1..=100_001).map(|n| name("s.img", n, 100_001)).collect();
        assert_eq!(names.len(), 100_001, "frame names collide");
    }
}
