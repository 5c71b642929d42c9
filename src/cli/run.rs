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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cfmt::g;
use crate::engine::{self, Backend, Rendered};
use crate::error::{Error, Result};
use crate::image;
use crate::io;
use crate::io::lab::{FrameScan, LabGeometry};
use crate::noise::{self, NoiseMode};
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
    /// The per-frame files of frame `number` (from 1) of a series of `frames`, in nanoBragg's
    /// order of writing them (float, int, PGM, noise), then PNG, CBF and npy.
    fn frame_paths(&self, number: usize, frames: usize) -> FramePaths {
        let name = |p: &PathBuf| frame_path(p, number, frames);
        FramePaths {
            float: name(&self.float),
            int: name(&self.int),
            pgm: self.pgm.as_ref().map(name),
            noise: self.noise.as_ref().map(name),
            png: self.png.as_ref().map(name),
            cbf: self.cbf.as_ref().map(name),
            npy: self.npy.as_ref().map(name),
        }
    }
}

/// The files one frame writes.
struct FramePaths {
    float: PathBuf,
    int: PathBuf,
    pgm: Option<PathBuf>,
    noise: Option<PathBuf>,
    png: Option<PathBuf>,
    cbf: Option<PathBuf>,
    npy: Option<PathBuf>,
}

impl FramePaths {
    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.pgm, &self.noise, &self.png, &self.cbf, &self.npy]
            .into_iter()
            .flatten()
            .chain([&self.float, &self.int])
    }
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

/// The SMV header of one frame. Under `compat` it is nanoBragg.c's, byte for byte. By default
/// the beam centre and distance are the ones dxtbx needs to place the detector as simulated
/// (it reads `BEAM_CENTER_X/Y` as ADXV-frame values and adds a pixel), and `ADC_OFFSET` says
/// which pedestal to subtract.
fn smv_header(
    setup: &Setup,
    params: &Params,
    lab: &LabGeometry,
    scan: &FrameScan,
    adc: f64,
) -> io::smv::SmvHeader {
    let d = &setup.detector;
    let px = d.pixel_size;
    let [fbeam, sbeam] = d.fbeam_sbeam;
    let mut header = io::smv::SmvHeader {
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
        phi_deg: scan.phi_start_deg,
        osc_start_deg: scan.phi_start_deg,
        osc_range_deg: scan.osc_deg,
        twotheta_deg: d.twotheta.to_degrees(),
        adc_offset: None,
    };
    if !setup.compat {
        let px_mm = lab.pixel_size_mm;
        let [cf, cs] = lab.beam_center_px.map(|p| p * px_mm);
        header.beam_center_x_mm = cf - px_mm;
        header.beam_center_y_mm = lab.size[1] as f64 * px_mm - cs + px_mm;
        header.distance_mm = lab.distance_mm;
        header.adc_offset = Some(adc);
    }
    header
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
        let scan = frame_scan(job, &setup, index);
        let frame_setup = (index > 0).then(|| setup.at_phi(scan.phi_start_deg.to_radians()));
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

/// The spindle range of frame `index` (from 0).
fn frame_scan(job: &Job, setup: &Setup, index: usize) -> FrameScan {
    let [phi0, osc] = setup.phi_report;
    FrameScan {
        number: index + 1,
        phi_start_deg: (phi0 + osc * index as f64).to_degrees(),
        osc_deg: osc.to_degrees(),
        exposure_s: if job.params.beam.exposure > 0.0 {
            job.params.beam.exposure
        } else {
            1.0
        },
    }
}

/// Before anything is rendered: every output can be created, and the console says which
/// geometry the simple formats (SMV, miniCBF) cannot carry.
fn check_outputs(job: &Job, setup: &Setup, lab: &LabGeometry, out: &mut dyn Write) -> Result<()> {
    let o = &job.outputs;
    for number in [1, job.frames] {
        for path in o.frame_paths(number, job.frames).all() {
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
        let (job, setup) = (self.job, self.setup);
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
        let paths = job.outputs.frame_paths(self.scan.number, job.frames);
        let mut noise_time = Duration::ZERO;
        let (staged, summary, counts) = self.stage_files(rendered, &paths, &mut noise_time, out)?;
        if series.wants_counts() {
            let counts = match counts {
                Some(c) => c,
                None => self.integer_counts(rendered)?,
            };
            series.add(self.index, &self.scan, &counts, &rendered.pixels)?;
        }
        for file in staged {
            file.commit()?;
        }
        let time = FrameTime {
            render: Duration::ZERO,
            noise: noise_time,
            write: clock.elapsed().saturating_sub(noise_time),
        };
        Ok((summary, time))
    }

    /// The integer image without its ADC offset, as photon counts (CBF and NXmx under
    /// `-nonoise`).
    fn integer_counts(&self, rendered: &Rendered) -> Result<Vec<i32>> {
        let stats = image::stats(self.setup, rendered);
        let scale = image::int_scale(self.job.outputs.int_scale, &stats);
        let mut ints = vec![0u16; rendered.pixels.len()];
        image::fill_u16(self.setup, rendered, scale, 0.0, 0, &mut ints);
        Ok(ints.into_iter().map(i32::from).collect())
    }

    /// Stages every per-frame file; returns them in commit order, the summary line and the
    /// photon counts of the noise image when the series file wants them.
    fn stage_files(
        &self,
        rendered: &Rendered,
        paths: &FramePaths,
        noise_time: &mut Duration,
        out: &mut dyn Write,
    ) -> Result<(Vec<io::Staged>, String, Option<Vec<i32>>)> {
        let (job, setup) = (self.job, self.setup);
        let o = &job.outputs;
        let header = smv_header(setup, &job.params, self.lab, &self.scan, o.adc);
        let want_counts = o.cbf.is_some() || job.outputs.h5.is_some();
        // Writing files is mostly the kernel copying into the page cache: each file is written
        // on a background thread while the next output is computed or written. The 16-bit
        // image is converted block by block as it is written, so besides the float image at
        // most the noise image (32 MiB at 4096²) is held — less than nanoBragg.c, which keeps
        // the float, 16-bit and 8-bit images for the whole run.
        // The files are renamed into place in nanoBragg's order of writing them (float, int,
        // PGM, noise), so when two outputs name the same file the one nanoBragg writes last
        // wins.
        std::thread::scope(|scope| {
            let mut staged = Vec::new();
            let pixels = &rendered.pixels;
            let (w, h) = (rendered.width, rendered.height);
            line(
                out,
                &format!(
                    "writing {} as {} 4-byte floats",
                    paths.float.display(),
                    pixels.len()
                ),
            )?;
            let writer = scope.spawn(|| io::floatfile::stage_float_image(&paths.float, pixels));
            let npy_writer = paths
                .npy
                .as_ref()
                .map(|p| scope.spawn(move || io::npy::stage_npy_f32(p, w, h, pixels)));
            // The statistics need only the float image: computed while it is being written.
            let stats = image::stats(setup, rendered);
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
                &format!("writing {} as 2-byte integers", paths.int.display()),
            )?;
            let header = &header;
            let int_writer = scope.spawn(move || {
                io::smv::stage_smv_with(&paths.int, header, pixels.len(), |start, block| {
                    image::fill_u16(setup, rendered, int_scale, o.adc, start, block)
                })
            });
            let pgm_scale = (paths.pgm.is_some() || paths.png.is_some())
                .then(|| image::pgm_scale(o.pgm_scale, &stats, int_scale));
            let mut pgm_writer = None;
            if let Some(scale) = pgm_scale {
                line(out, &format!("pgm_scale = {}", g(scale)))?;
                if let Some(p) = &paths.pgm {
                    line(out, &format!("writing {} as 1-byte integers", p.display()))?;
                    pgm_writer = Some(scope.spawn(move || {
                        io::pgm::stage_pgm_with(p, w, h, scale, |start, block| {
                            image::fill_u8(setup, rendered, scale, start, block)
                        })
                    }));
                }
                if let Some(p) = &paths.png {
                    line(
                        out,
                        &format!("writing {} as an 8-bit greyscale PNG", p.display()),
                    )?;
                }
            }
            // The noise image needs only the float image: computed while the integer and PGM
            // images are converted and written.
            let [x0, x1, y0, y1] = setup.roi;
            let clock = Instant::now();
            let noise = paths.noise.as_ref().map(|_| {
                noise::noise_image(
                    pixels,
                    w,
                    (x0, x1, y0, y1),
                    noise::frame_seed(o.seed, self.index),
                    o.adc,
                    o.noise_mode,
                    want_counts,
                )
            });
            *noise_time = clock.elapsed();
            staged.push(join(writer)?);
            let mut summary = format!(
                "frame {} of {}: phi {} to {} deg, max_I = {}",
                self.scan.number,
                job.frames,
                g(self.scan.phi_start_deg),
                g(self.scan.phi_start_deg + self.scan.osc_deg),
                g(stats.max)
            );
            let mut noise_file = None;
            let mut counts = None;
            if let (Some(p), Some(n)) = (&paths.noise, noise) {
                let photons = format!(
                    "{} photons on noise image ({} overloads)",
                    g(n.photons),
                    n.overloads
                );
                line(out, &photons)?;
                summary.push_str(&format!(", {photons}"));
                line(out, &format!("writing {} as 2-byte integers", p.display()))?;
                noise_file = Some(io::smv::stage_smv_with(
                    p,
                    header,
                    n.pixels.len(),
                    |start, block| block.copy_from_slice(&n.pixels[start..start + block.len()]),
                )?);
                counts = want_counts.then_some(n.counts);
            }
            staged.push(join(int_writer)?);
            if let Some(pgm_writer) = pgm_writer {
                staged.push(join(pgm_writer)?);
            }
            staged.extend(noise_file);
            if let (Some(scale), Some(p)) = (pgm_scale, &paths.png) {
                let bytes = image::to_u8(setup, rendered, scale);
                staged.push(io::png::stage_png_gray8(p, w, h, &bytes)?);
            }
            if let Some(p) = &paths.cbf {
                let what = if counts.is_some() {
                    "noise image"
                } else {
                    "integer image without its offset"
                };
                line(
                    out,
                    &format!("writing {} as miniCBF photon counts ({what})", p.display()),
                )?;
                if counts.is_none() {
                    counts = Some(self.integer_counts(rendered)?);
                }
                let c = counts.as_deref().unwrap_or_default();
                staged.push(io::cbf::stage_cbf(p, self.lab, &self.scan, c)?);
            }
            if let Some(npy) = npy_writer {
                line(
                    out,
                    &format!(
                        "writing {} as a NumPy float32 array",
                        paths
                            .npy
                            .as_ref()
                            .map_or_else(String::new, |p| p.display().to_string())
                    ),
                )?;
                staged.push(join(npy)?);
            }
            Ok((staged, summary, counts))
        })
    }
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

/// Wait for a writer thread and pass on its result.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn line(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(|e| Error::io("<stdout>", e))
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
