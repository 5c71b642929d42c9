//! Running a prepared job: setup, render, statistics, output files and the console log.
//!
//! The console lines are nanoBragg's (spec §7), written to `out`; `-quiet` passes a sink.
//! Output files are staged with [`crate::io::atomic::stage`] (written to temporaries next to
//! them) and renamed into place only once every one of them has been written, so a failed run
//! leaves neither a partial nor a new file behind and keeps the files it would have replaced.
//! (Only a rename failing after all files were written, which takes the directory changing
//! under the run, can leave the outputs renamed before it in place.)

use std::io::Write;
use std::path::PathBuf;

use crate::cfmt::g;
use crate::engine::{self, Backend};
use crate::error::{Error, Result};
use crate::image;
use crate::io;
use crate::noise::{self, NoiseMode};
use crate::params::Params;
use crate::setup::Setup;

/// Which files to write and how to scale them.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// Raw float image (always written).
    pub float: PathBuf,
    /// Noiseless SMV image (always written).
    pub int: PathBuf,
    /// Poisson-noise SMV image, if wanted.
    pub noise: Option<PathBuf>,
    /// 8-bit PGM, if wanted.
    pub pgm: Option<PathBuf>,
    /// 8-bit PNG preview (same scaling as the PGM), if wanted.
    pub png: Option<PathBuf>,
    /// Structure-factor cache to leave for the next run (nanoBragg's `Fdump.bin` after reading
    /// `-hkl`), if any. Failing to write it is a warning, not an error.
    pub fdump: Option<PathBuf>,
    /// Integer-image scale (`None`: 55000/max).
    pub int_scale: Option<f64>,
    /// PGM scale (`None`: 250/(5·rmsd)).
    pub pgm_scale: Option<f64>,
    /// Offset added to integer and noise pixels.
    pub adc: f64,
    /// Noise seed (the user's value).
    pub seed: i64,
    /// How noise deviates are drawn.
    pub noise_mode: NoiseMode,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            float: "floatimage.bin".into(),
            int: "intimage.img".into(),
            noise: Some("noiseimage.img".into()),
            pgm: Some("image.pgm".into()),
            png: None,
            fdump: None,
            int_scale: None,
            pgm_scale: None,
            adc: 40.0,
            seed: 0,
            noise_mode: NoiseMode::Counter,
        }
    }
}

/// A complete run: parameters, outputs, engine and console lines gathered while reading inputs.
#[derive(Clone, Debug)]
pub struct Job {
    /// The physics.
    pub params: Params,
    /// The files.
    pub outputs: Outputs,
    /// The engine.
    pub backend: Backend,
    /// Lines to print before the setup log (warnings, files read).
    pub notes: Vec<String>,
}

fn smv_header(setup: &Setup, params: &Params) -> io::smv::SmvHeader {
    let d = &setup.detector;
    let px = d.pixel_size;
    let [fbeam, sbeam] = d.fbeam_sbeam;
    io::smv::SmvHeader {
        size1: d.fpixels,
        size2: d.spixels,
        pixel_size_mm: px * 1000.0,
        distance_mm: d.distance * 1000.0,
        wavelength_a: params.beam.wavelength * 1e10,
        beam_center_x_mm: d.beam_center[0] * 1000.0,
        beam_center_y_mm: d.beam_center[1] * 1000.0,
        adxv_center_x: fbeam * 1000.0,
        adxv_center_y: (d.size[1] - sbeam) * 1000.0,
        mosflm_center_x: (sbeam - 0.5 * px) * 1000.0,
        mosflm_center_y: (fbeam - 0.5 * px) * 1000.0,
        denzo_x_beam: sbeam * 1000.0,
        denzo_y_beam: fbeam * 1000.0,
        dials_origin: d.dials_origin,
        xds_orgx: d.org[0],
        xds_orgy: d.org[1],
        close_distance_mm: d.close_distance * 1000.0,
        phi_deg: setup.phi_report[0].to_degrees(),
        osc_start_deg: setup.phi_report[0].to_degrees(),
        osc_range_deg: setup.phi_report[1].to_degrees(),
        twotheta_deg: d.twotheta.to_degrees(),
    }
}

/// Wait for a writer thread and pass on its result.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn line(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(|e| Error::io("<stdout>", e))
}

/// Bytes per pixel the run holds: the float image, the noise image, the PNG preview.
fn bytes_per_pixel(outputs: &Outputs) -> u64 {
    4 + if outputs.noise.is_some() { 2 } else { 0 } + if outputs.png.is_some() { 1 } else { 0 }
}

/// Run a job, writing the console log to `out`.
pub fn execute(job: &Job, out: &mut dyn Write) -> Result<()> {
    let d = &job.params.detector;
    crate::memory::check(
        (d.fpixels as u64 * d.spixels as u64).saturating_mul(bytes_per_pixel(&job.outputs)),
        &format!(
            "the detector of {} x {} pixels (-detpixels, -detsize)",
            d.fpixels, d.spixels
        ),
    )?;
    for n in &job.notes {
        line(out, n)?;
    }
    line(
        out,
        "nanoBragg nanocrystal diffraction simulator - James Holton and Ken Frankel 5-17-17",
    )?;
    let setup = Setup::new(&job.params)?;
    for l in &setup.log {
        line(out, l)?;
    }
    if job.outputs.noise.is_some() {
        line(out, "\n  noise image paramters:")?;
        line(out, &format!("  seed: {}", -job.outputs.seed))?;
        line(
            out,
            &format!("  water droplet size: {} m", g(job.params.water_size)),
        )?;
    }
    let rendered = engine::render(&setup, job.backend);
    if let Some((hkl, hkl0)) = rendered.interpolation_miss {
        line(
            out,
            &format!(
                "WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: {},{},{},{},{},{} ",
                g(hkl[0]),
                g(hkl[1]),
                g(hkl[2]),
                hkl0[0],
                hkl0[1],
                hkl0[2]
            ),
        )?;
        line(
            out,
            if setup.compat {
                "WARNING: further warnings will not be printed! (interpolation is off for the rest of the run)"
            } else {
                "WARNING: further warnings will not be printed! (those evaluations use the nearest reflection)"
            },
        )?;
    }
    line(out, "")?;
    let omega = rendered.omega_sum / setup.steps;
    line(
        out,
        &format!(
            "solid angle subtended by detector = {} steradian ( {}% sphere)",
            g(omega),
            g(100.0 * omega / 4.0 / std::f64::consts::PI)
        ),
    )?;
    let o = &job.outputs;
    let header = smv_header(&setup, &job.params);
    // Writing files is mostly the kernel copying into the page cache: each file is written on
    // a background thread while the next output is computed or written. The 16-bit image is
    // converted block by block as it is written, so besides the float image at most the noise
    // image (32 MiB at 4096²) is held — less than nanoBragg.c, which keeps the float, 16-bit and
    // 8-bit images for the whole run.
    // The files are renamed into place in nanoBragg's order of writing them (float, int, PGM,
    // noise), so when two outputs name the same file the one nanoBragg writes last wins.
    let staged = std::thread::scope(|scope| -> Result<Vec<io::Staged>> {
        let mut staged = Vec::new();
        let pixels = &rendered.pixels;
        let (w, h) = (rendered.width, rendered.height);
        line(
            out,
            &format!(
                "writing {} as {} 4-byte floats",
                o.float.display(),
                pixels.len()
            ),
        )?;
        let writer = scope.spawn(|| io::floatfile::stage_float_image(&o.float, pixels));
        // The statistics need only the float image: computed while it is being written.
        let stats = image::stats(&setup, &rendered);
        line(
            out,
            &format!(
                "max_I = {}  at {} {}",
                g(stats.max),
                g(stats.max_position[0]),
                g(stats.max_position[1])
            ),
        )?;
        line(
            out,
            &format!(
                "mean= {} rms= {} rmsd= {}",
                g(stats.mean),
                g(stats.rms),
                g(stats.rmsd)
            ),
        )?;
        let int_scale = image::int_scale(o.int_scale, &stats);
        line(out, &format!("intfile_scale = {}", g(int_scale)))?;
        line(
            out,
            &format!("writing {} as 2-byte integers", o.int.display()),
        )?;
        let header = &header;
        let (setup_ref, rendered_ref) = (&setup, &rendered);
        let int_writer = scope.spawn(move || {
            io::smv::stage_smv_with(&o.int, header, pixels.len(), |start, block| {
                image::fill_u16(setup_ref, rendered_ref, int_scale, o.adc, start, block)
            })
        });
        let pgm_scale = (o.pgm.is_some() || o.png.is_some())
            .then(|| image::pgm_scale(o.pgm_scale, &stats, int_scale));
        let mut pgm_writer = None;
        if let Some(scale) = pgm_scale {
            line(out, &format!("pgm_scale = {}", g(scale)))?;
            if let Some(p) = &o.pgm {
                line(out, &format!("writing {} as 1-byte integers", p.display()))?;
                pgm_writer = Some(scope.spawn(move || {
                    io::pgm::stage_pgm_with(p, w, h, scale, |start, block| {
                        image::fill_u8(setup_ref, rendered_ref, scale, start, block)
                    })
                }));
            }
            if let Some(p) = &o.png {
                line(
                    out,
                    &format!("writing {} as an 8-bit greyscale PNG", p.display()),
                )?;
            }
        }
        // The noise image needs only the float image: computed while the integer and PGM
        // images are converted and written.
        let [x0, x1, y0, y1] = setup.roi;
        let noise = o
            .noise
            .as_ref()
            .map(|_| noise::noise_image(pixels, w, (x0, x1, y0, y1), o.seed, o.adc, o.noise_mode));
        staged.push(join(writer)?);
        let mut noise_file = None;
        if let (Some(p), Some(n)) = (&o.noise, noise) {
            line(
                out,
                &format!(
                    "{} photons on noise image ({} overloads)",
                    g(n.photons),
                    n.overloads
                ),
            )?;
            line(out, &format!("writing {} as 2-byte integers", p.display()))?;
            noise_file = Some(io::smv::stage_smv_with(
                p,
                header,
                n.pixels.len(),
                |start, block| block.copy_from_slice(&n.pixels[start..start + block.len()]),
            )?);
        }
        staged.push(join(int_writer)?);
        if let Some(pgm_writer) = pgm_writer {
            staged.push(join(pgm_writer)?);
        }
        staged.extend(noise_file);
        if let (Some(scale), Some(p)) = (pgm_scale, &o.png) {
            let bytes = image::to_u8(&setup, &rendered, scale);
            staged.push(io::png::stage_png_gray8(p, w, h, &bytes)?);
        }
        Ok(staged)
    })?;
    let cache_warning =
        |e: Error| format!("WARNING: could not write the structure-factor cache: {e}");
    let cache = match (&o.fdump, &job.params.structure_factors.grid) {
        (Some(path), Some(grid)) => match io::hkl::stage_fdump(path, grid) {
            Ok(staged) => Some(staged),
            Err(e) => {
                line(out, &cache_warning(e))?;
                None
            }
        },
        _ => None,
    };
    for file in staged {
        file.commit()?;
    }
    if let Some(Err(e)) = cache.map(io::Staged::commit) {
        line(out, &cache_warning(e))?;
    }
    Ok(())
}
