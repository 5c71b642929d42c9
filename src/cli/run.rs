//! Running a prepared job: setup, render, statistics, output files and the console log.
//!
//! The order of work: the setup (detector, sources, orientations, structure factors) is done
//! once; then each frame of the series is rendered, its outputs computed and written, and its
//! files renamed into place; an NXmx file collects every frame and is renamed into place at
//! the end. Every output is checked for writability before the first render, so a run that
//! cannot write its results fails at once.
//!
//! The console lines are nanoBragg's (spec §7), written to `out`; `-quiet` passes a sink. For a
//! series the first frame prints them all and each later frame one summary line. The log ends
//! with the time split (setup, render, noise, writing). Output files are staged with
//! [`crate::io::atomic::stage`] (written to temporaries next to them) and renamed into place
//! only once every file of the frame has been written, so a failed run leaves neither a
//! partial nor a new file of that frame behind and keeps the files it would have replaced.
//! (Only a rename failing after all files were written, which takes the directory changing
//! under the run, can leave the outputs renamed before it in place.)

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cfmt::g;
use crate::engine::{self, Backend, Rendered};
use crate::error::{Error, Result};
use crate::io;
use crate::io::frame::{FrameFiles, FrameReport, Scaling};
use crate::io::lab::{FrameScan, LabGeometry};
use crate::io::smv::SmvHeader;
use crate::noise::{self, NoiseMode};

pub use crate::io::frame::frame_path;
use crate::params::Params;
use crate::setup::Setup;

use super::progress::Progress;

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
    /// miniCBF photon counts (the noise image, else the integer image without its offset).
    pub cbf: Option<PathBuf>,
    /// NeXus/NXmx HDF5 file holding every frame (feature `hdf5`).
    pub h5: Option<PathBuf>,
    /// The float image as a NumPy `.npy`.
    pub npy: Option<PathBuf>,
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
            cbf: None,
            h5: None,
            npy: None,
            fdump: None,
            int_scale: None,
            pgm_scale: None,
            adc: 40.0,
            seed: 0,
            noise_mode: NoiseMode::Counter,
        }
    }
}

impl Outputs {
    /// The files of frame `number` (from 1) of a series of `frames` (see
    /// [`io::frame::frame_path`]).
    fn frame_files(&self, number: usize, frames: usize) -> FrameFiles {
        let name = |p: &PathBuf| Some(frame_path(p, number, frames));
        FrameFiles {
            float: name(&self.float),
            int: name(&self.int),
            pgm: self.pgm.as_ref().and_then(name),
            noise: self.noise.as_ref().and_then(name),
            png: self.png.as_ref().and_then(name),
            cbf: self.cbf.as_ref().and_then(name),
            npy: self.npy.as_ref().and_then(name),
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
    /// Frames of the rotation series (1: a single image).
    pub frames: usize,
    /// Show a progress meter on a terminal (for runs over about a second).
    pub progress: bool,
    /// Time spent reading the command line's input files (HKL, `Fdump.bin`, matrix, …).
    pub read_time: Duration,
}

/// Bytes per pixel the run holds: the float image, the noise image, the counts, the PNG.
fn bytes_per_pixel(outputs: &Outputs) -> u64 {
    let noise = if outputs.noise.is_some() { 2 } else { 0 };
    let counts = if outputs.cbf.is_some() || outputs.h5.is_some() {
        4
    } else {
        0
    };
    let png = if outputs.png.is_some() { 1 } else { 0 };
    4 + noise + counts + png
}

/// Run a job, writing the console log to `out`.
pub fn execute(job: &Job, out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
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
    let lab = LabGeometry::new(
        &setup,
        job.params.beam.wavelength,
        job.params.beam.kahn_factor,
    );
    check_outputs(job, &setup, &lab, out)?;
    if job.outputs.noise.is_some() {
        line(out, "\n  noise image paramters:")?;
        line(out, &format!("  seed: {}", -job.outputs.seed))?;
        line(
            out,
            &format!("  water droplet size: {} m", g(job.params.water_size)),
        )?;
    }
    let mut timings = Timings {
        setup: job.read_time + started.elapsed(),
        frames: Vec::with_capacity(job.frames),
    };
    let progress = Progress::new(job.progress, job.frames * d.spixels);
    let mut series = SeriesFile::create(job, &lab)?;
    for index in 0..job.frames {
        let exposure = job.params.beam.exposure;
        let scan = FrameScan::of(&setup, index, if exposure > 0.0 { exposure } else { 1.0 });
        let frame_setup = (index > 0).then(|| setup.frame(index));
        let frame_setup = frame_setup.as_ref().unwrap_or(&setup);
        let clock = Instant::now();
        let rendered = engine::render_observed(frame_setup, job.backend, &|| progress.row());
        let render = clock.elapsed();
        let mut sink = std::io::sink();
        let log: &mut dyn Write = if index == 0 { &mut *out } else { &mut sink };
        let frame = Frame {
            job,
            setup: frame_setup,
            lab: &lab,
            scan,
            index,
        };
        let (summary, mut time) = frame.write(&rendered, &mut series, log)?;
        time.render = render;
        timings.frames.push(time);
        if index > 0 {
            progress.suspend(|| line(out, &summary))?;
        }
    }
    progress.finish();
    let clock = Instant::now();
    series.finish()?;
    if let Some(last) = timings.frames.last_mut() {
        last.write += clock.elapsed();
    }
    write_fdump_cache(job, out)?;
    line(out, &timings.report())
}

/// Before anything is rendered: every output can be created, and the console says which
/// geometry the simple formats (SMV, miniCBF) cannot carry.
fn check_outputs(job: &Job, setup: &Setup, lab: &LabGeometry, out: &mut dyn Write) -> Result<()> {
    let o = &job.outputs;
    for number in [1, job.frames] {
        for path in o.frame_files(number, job.frames).paths() {
            io::atomic::check_writable(path)?;
        }
    }
    if let Some(h5) = &o.h5 {
        io::atomic::check_writable(h5)?;
    }
    if setup.compat {
        return Ok(());
    }
    let rotation = job.frames > 1 || setup.phi_report[1] != 0.0;
    let limits = lab.single_panel_limits(rotation);
    if !limits.is_empty() {
        let formats = if o.cbf.is_some() {
            "SMV and CBF"
        } else {
            "SMV"
        };
        line(
            out,
            &format!(
                "WARNING: the {formats} headers cannot express {}: programs reading them \
                 (DIALS, XDS, adxv) will see another geometry; write -h5file (NeXus/NXmx) for \
                 this experiment",
                limits.join(", ")
            ),
        )?;
    }
    Ok(())
}

/// Leaves the structure-factor cache for the next run; failing to is a warning.
fn write_fdump_cache(job: &Job, out: &mut dyn Write) -> Result<()> {
    let (Some(path), Some(grid)) = (&job.outputs.fdump, &job.params.structure_factors.grid) else {
        return Ok(());
    };
    if let Err(e) = io::hkl::stage_fdump(path, grid).and_then(io::Staged::commit) {
        line(
            out,
            &format!("WARNING: could not write the structure-factor cache: {e}"),
        )?;
    }
    Ok(())
}

/// The NXmx file of the run, which holds every frame (feature `hdf5`).
struct SeriesFile {
    #[cfg(feature = "hdf5")]
    nxmx: Option<io::nxmx::NxmxWriter>,
}

impl SeriesFile {
    #[cfg(feature = "hdf5")]
    fn create(job: &Job, lab: &LabGeometry) -> Result<SeriesFile> {
        let nxmx = match &job.outputs.h5 {
            Some(path) => Some(io::nxmx::NxmxWriter::create(path, lab, job.frames)?),
            None => None,
        };
        Ok(SeriesFile { nxmx })
    }

    #[cfg(not(feature = "hdf5"))]
    fn create(_job: &Job, _lab: &LabGeometry) -> Result<SeriesFile> {
        Ok(SeriesFile {})
    }

    /// Whether the file wants photon counts.
    fn wants_counts(&self) -> bool {
        #[cfg(feature = "hdf5")]
        return self.nxmx.is_some();
        #[cfg(not(feature = "hdf5"))]
        false
    }

    #[cfg(feature = "hdf5")]
    fn add(&mut self, index: usize, scan: &FrameScan, counts: &[i32], float: &[f32]) -> Result<()> {
        match &mut self.nxmx {
            Some(w) => w.write_frame(index, scan, counts, float),
            None => Ok(()),
        }
    }

    #[cfg(not(feature = "hdf5"))]
    fn add(&mut self, _: usize, _: &FrameScan, _: &[i32], _: &[f32]) -> Result<()> {
        Ok(())
    }

    #[cfg(feature = "hdf5")]
    fn finish(self) -> Result<()> {
        match self.nxmx {
            Some(w) => w.finish()?.commit(),
            None => Ok(()),
        }
    }

    #[cfg(not(feature = "hdf5"))]
    fn finish(self) -> Result<()> {
        Ok(())
    }
}

/// One frame of the run, rendered and ready for its outputs.
struct Frame<'a> {
    job: &'a Job,
    setup: &'a Setup,
    lab: &'a LabGeometry,
    scan: FrameScan,
    index: usize,
}

impl Frame<'_> {
    /// Computes and writes the frame's outputs, logging nanoBragg's lines to `out`; returns the
    /// one-line summary of the frame and the time spent on noise and writing.
    fn write(
        &self,
        rendered: &Rendered,
        series: &mut SeriesFile,
        out: &mut dyn Write,
    ) -> Result<(String, FrameTime)> {
        let (job, setup, o) = (self.job, self.setup, &self.job.outputs);
        let clock = Instant::now();
        interpolation_warning(setup, rendered, out)?;
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
        let files = o.frame_files(self.scan.number, job.frames);
        let scaling = Scaling {
            int_scale: o.int_scale,
            pgm_scale: o.pgm_scale,
            adc: o.adc,
            seed: noise::frame_seed(o.seed, self.index),
            noise_mode: o.noise_mode,
        };
        let header = SmvHeader::for_frame(setup, self.lab, &self.scan, o.adc);
        let (staged, report) = io::frame::stage_frame(
            setup,
            rendered,
            (self.lab, &self.scan),
            &files,
            &scaling,
            &header,
            series.wants_counts(),
        )?;
        report_files(&files, rendered, &report, out)?;
        if let Some(counts) = &report.counts {
            series.add(self.index, &self.scan, counts, &rendered.pixels)?;
        }
        for file in staged {
            file.commit()?;
        }
        let mut summary = format!(
            "frame {} of {}: phi {} to {} deg, max_I = {}",
            self.scan.number,
            job.frames,
            g(self.scan.phi_start_deg),
            g(self.scan.phi_start_deg + self.scan.osc_deg),
            g(report.stats.max)
        );
        if let Some((photons, overloads)) = report.noise {
            summary.push_str(&format!(
                ", {} photons on noise image ({overloads} overloads)",
                g(photons)
            ));
        }
        let time = FrameTime {
            render: Duration::ZERO,
            noise: report.noise_time,
            write: clock.elapsed().saturating_sub(report.noise_time),
        };
        Ok((summary, time))
    }
}

/// nanoBragg's lines about the files of a frame and what was computed for them, in its order.
fn report_files(
    files: &FrameFiles,
    rendered: &Rendered,
    report: &FrameReport,
    out: &mut dyn Write,
) -> Result<()> {
    let name = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    if let Some(f) = name(&files.float) {
        let n = rendered.pixels.len();
        line(out, &format!("writing {f} as {n} 4-byte floats"))?;
    }
    let s = &report.stats;
    line(
        out,
        &format!(
            "max_I = {}  at {} {}",
            g(s.max),
            g(s.max_position[0]),
            g(s.max_position[1])
        ),
    )?;
    line(
        out,
        &format!("mean= {} rms= {} rmsd= {}", g(s.mean), g(s.rms), g(s.rmsd)),
    )?;
    line(out, &format!("intfile_scale = {}", g(report.int_scale)))?;
    if let Some(f) = name(&files.int) {
        line(out, &format!("writing {f} as 2-byte integers"))?;
    }
    if let Some(scale) = report.pgm_scale {
        line(out, &format!("pgm_scale = {}", g(scale)))?;
        if let Some(f) = name(&files.pgm) {
            line(out, &format!("writing {f} as 1-byte integers"))?;
        }
        if let Some(f) = name(&files.png) {
            line(out, &format!("writing {f} as an 8-bit greyscale PNG"))?;
        }
    }
    if let (Some(f), Some((photons, overloads))) = (name(&files.noise), report.noise) {
        line(
            out,
            &format!(
                "{} photons on noise image ({overloads} overloads)",
                g(photons)
            ),
        )?;
        line(out, &format!("writing {f} as 2-byte integers"))?;
    }
    if let Some(f) = name(&files.cbf) {
        let what = if report.noise.is_some() {
            "noise image"
        } else {
            "integer image without its offset"
        };
        line(
            out,
            &format!("writing {f} as miniCBF photon counts ({what})"),
        )?;
    }
    if let Some(f) = name(&files.npy) {
        line(out, &format!("writing {f} as a NumPy float32 array"))?;
    }
    Ok(())
}

/// nanoBragg's warning for an interpolation that fell off the structure-factor grid.
fn interpolation_warning(setup: &Setup, rendered: &Rendered, out: &mut dyn Write) -> Result<()> {
    let Some((hkl, hkl0)) = rendered.interpolation_miss else {
        return Ok(());
    };
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
    )
}

/// Where one frame's time went.
#[derive(Clone, Copy, Debug)]
struct FrameTime {
    render: Duration,
    noise: Duration,
    write: Duration,
}

/// Where the run's time went.
struct Timings {
    /// Reading inputs and preparing the simulation.
    setup: Duration,
    frames: Vec<FrameTime>,
}

impl Timings {
    /// The log's last line: the time split, and for a series the first (cold) frame apart
    /// from the mean of the others (warm) and the rate.
    fn report(&self) -> String {
        let s = |d: Duration| format!("{:.3}", d.as_secs_f64());
        let split = |t: &FrameTime| {
            format!(
                "render {} s, noise {} s, writing {} s",
                s(t.render),
                s(t.noise),
                s(t.write)
            )
        };
        let Some((first, rest)) = self.frames.split_first() else {
            return format!("timings: setup {} s", s(self.setup));
        };
        if rest.is_empty() {
            return format!("timings: setup {} s, {}", s(self.setup), split(first));
        }
        let n = rest.len() as u32;
        let mean = FrameTime {
            render: rest.iter().map(|t| t.render).sum::<Duration>() / n,
            noise: rest.iter().map(|t| t.noise).sum::<Duration>() / n,
            write: rest.iter().map(|t| t.write).sum::<Duration>() / n,
        };
        let total: Duration = self
            .frames
            .iter()
            .map(|t| t.render + t.noise + t.write)
            .sum();
        format!(
            "timings: setup {} s; first frame: {}; each later frame: {}; {} frames in {} s, \
             {:.2} frames/s",
            s(self.setup),
            split(first),
            split(&mean),
            self.frames.len(),
            s(total),
            self.frames.len() as f64 / total.as_secs_f64().max(1e-9)
        )
    }
}

fn line(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(|e| Error::io("<stdout>", e))
}
