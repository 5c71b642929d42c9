//! `Simulation`, a simulation built from keyword arguments, and `Frames`, its rotation series.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use numpy::PyArray2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::{
    Failure, check_memory, detached, image_array, parse_args, render_frame, thread_pool,
    threads_for, tokens,
};
use crate::cli::{self, CliArgs, Job};
use crate::engine::Backend;
use crate::error::Error;
use crate::setup::Setup;

/// A nanoBragg simulation, built from keyword arguments in nanoBragg's spellings and units.
///
/// Each keyword is a command-line option: `name=value` is `-name value`, a tuple or list gives
/// several values (`cell=(100, 100, 100, 90, 90, 90)`), `True` gives the flag alone
/// (`nopolar=True`), `False` and `None` leave the option out. A trailing underscore is dropped,
/// for names Python reserves (`lambda_=6.2`, or `wavelength=6.2`). Units are the command
/// line's: Å, mm, degrees, mrad, µm, eV. Keywords are read in the order given, and where
/// options contradict each other the last wins, as on the command line. Paths may be `str` or
/// `os.PathLike` and are relative to the current directory.
///
///     sim = nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), default_F=100,
///                                lambda_=6.2, N=5, distance=100, detpixels=256)
///     image = sim.render()          # float32, shape (256, 256)
///
/// The options are checked, the input files read (`hkl`, `mat`, `sourcefile`, `img`, `mask`)
/// and the simulation prepared once, here: a bad option raises `ValueError` with the command
/// line's message, an unreadable or malformed file `OSError` naming it (and the line).
#[pyclass(module = "nanobragg", frozen)]
pub struct Simulation {
    /// The keyword arguments as given (a copy).
    params: Py<PyDict>,
    /// Built by `from_args` (no keyword arguments).
    from_args: bool,
    /// The command line.
    argv: Vec<String>,
    /// The parsed command line.
    args: Box<CliArgs>,
    /// The job of the command line (its outputs are not used by `render` and `frames`).
    job: Job,
    /// The prepared simulation.
    setup: Arc<Setup>,
}

impl Simulation {
    fn build(
        py: Python<'_>,
        params: Bound<'_, PyDict>,
        argv: Vec<String>,
        from_args: bool,
    ) -> PyResult<Self> {
        let args = parse_args(&argv)?;
        let (job, setup) = detached(py, None, || {
            let job = cli::to_job(&args)?;
            let setup = Setup::new(&job.params)?;
            Ok((job, setup))
        })?;
        Ok(Simulation {
            params: params.unbind(),
            from_args,
            argv,
            args,
            job,
            setup: Arc::new(setup),
        })
    }
}

#[pymethods]
impl Simulation {
    #[new]
    #[pyo3(signature = (**params))]
    fn new(py: Python<'_>, params: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let params = match params {
            Some(p) => p.copy()?,
            None => PyDict::new(py),
        };
        let argv = tokens::keyword_tokens(Some(&params))?;
        Simulation::build(py, params, argv, false)
    }

    /// A simulation from a nanoBragg command line: a list of tokens or one string split on
    /// whitespace, as `simulate` takes it.
    #[staticmethod]
    fn from_args(py: Python<'_>, args: &Bound<'_, PyAny>) -> PyResult<Self> {
        let argv = tokens::argv(args)?;
        Simulation::build(py, PyDict::new(py), argv, true)
    }

    /// The nanoBragg command line the keyword arguments stand for, as a list of tokens.
    #[getter]
    fn args(&self) -> Vec<String> {
        self.argv.clone()
    }

    /// The keyword arguments as given (a copy; empty for `from_args`).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.params.bind(py).copy()
    }

    /// The image shape, (slow, fast) pixels.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.setup.detector.spixels, self.setup.detector.fpixels)
    }

    /// Pixels along the fast axis (image columns).
    #[getter]
    fn fpixels(&self) -> usize {
        self.setup.detector.fpixels
    }

    /// Pixels along the slow axis (image rows).
    #[getter]
    fn spixels(&self) -> usize {
        self.setup.detector.spixels
    }

    /// The pixel size in mm.
    #[getter]
    fn pixel_size(&self) -> f64 {
        self.job.params.detector.pixel_size * 1000.0
    }

    /// The detector size in mm, (fast, slow): the pixel counts times the pixel size.
    #[getter]
    fn detsize(&self) -> (f64, f64) {
        let d = &self.setup.detector;
        let px = self.job.params.detector.pixel_size * 1000.0;
        (d.fpixels as f64 * px, d.spixels as f64 * px)
    }

    /// What the command line prints before its log: warnings (inert or overridden options)
    /// and the input files read.
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.job.notes.clone()
    }

    /// Renders the float image: a float32 array of photons per pixel, shape (slow, fast),
    /// bit-identical to what `-floatfile` writes for the same options. Writes no file.
    ///
    /// `threads`: worker threads (default: the `nthreads` option, else all cores or
    /// `RAYON_NUM_THREADS`); the image is the same for any count. The GIL is released.
    #[pyo3(signature = (threads = None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let pool = thread_pool(threads_for(threads, &self.args))?;
        let (fast, slow) = (self.fpixels(), self.spixels());
        let pixels = detached(py, pool.as_ref(), || {
            check_memory(fast, slow, 1)?;
            Ok(render_frame(&self.setup, self.job.backend, 0))
        })?;
        image_array(py, pixels, slow, fast)
    }

    /// The rotation series of `n` frames, as the command line's `-frames n` renders it: frame
    /// i (from 0) covers `phi + i·osc` over `osc` in `phisteps` steps; frame 0 is `render()`.
    ///
    /// Returns an iterator (with `len()`) that renders each frame when it is asked for, so a
    /// long series is not held in memory: `list(sim.frames(3))` gives three float32 arrays of
    /// shape (slow, fast). The setup is shared by every frame. `threads` as for `render`.
    #[pyo3(signature = (n, threads = None))]
    fn frames(&self, n: usize, threads: Option<usize>) -> PyResult<Frames> {
        Ok(Frames {
            setup: Arc::clone(&self.setup),
            backend: self.job.backend,
            pool: thread_pool(threads_for(threads, &self.args))?,
            count: n,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs the command line's whole pipeline and writes the files named by the keyword
    /// arguments, in the command line's spellings:
    /// `floatfile`, `intfile`, `noisefile`, `pgmfile`, `pngfile`, `cbffile`, `npyfile`,
    /// `h5file` (builds with HDF5 only) and the options that shape them: `nonoise`, `nopgm`,
    /// `scale`, `pgmscale`, `adc`, `seed`, `nthreads`. Options of the simulation itself are
    /// refused (`ValueError`): give them to `Simulation(...)`.
    ///
    /// Only the files named are written, in the current directory unless the path says
    /// otherwise: not the command line's default `floatimage.bin`, `intimage.img`,
    /// `noiseimage.img` and `image.pgm` unless named, and not the `Fdump.bin` cache unless
    /// `dump` was given to the simulation. As on the command line, the noise image (and the
    /// miniCBF counts, which are drawn from it) uses `seed`, by default the clock, and
    /// `nonoise=True` makes the CBF hold the integer image instead.
    ///
    /// `frames`: a rotation series of that many frames (default: the simulation's `frames`
    /// option, else 1); each file name gets the frame number before its extension
    /// (`sim.cbf` → `sim_00001.cbf`, ...) and an `h5file` holds every frame.
    ///
    /// Returns the console log the command line would print (the lines about files it writes
    /// only for the files named). Raises `OSError` naming a file that cannot be written; no
    /// partial file is left behind.
    #[pyo3(signature = (frames = None, threads = None, **outputs))]
    fn write(
        &self,
        py: Python<'_>,
        frames: Option<i64>,
        threads: Option<usize>,
        outputs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let mut extra = Vec::new();
        if let Some(outputs) = outputs {
            let base = format!("{:?}", self.args);
            for (key, value) in outputs.iter() {
                let key: String = key.extract()?;
                let mut tokens = Vec::new();
                tokens::option_tokens(&key, &value, &mut tokens)?;
                let probe = parse_args(&[self.argv.as_slice(), &tokens].concat())?;
                if format!("{:?}", without_outputs(&probe, &self.args)) != base {
                    return Err(PyValueError::new_err(format!(
                        "write(): {key}= is not an output option; give the simulation's options \
                         to Simulation(...)"
                    )));
                }
                extra.extend(tokens);
            }
        }
        if let Some(n) = frames {
            extra.extend(["-frames".to_string(), n.to_string()]);
        }
        let args = parse_args(&[self.argv.as_slice(), &extra].concat())?;
        let pool = thread_pool(threads_for(threads, &args))?;
        let params = &self.job.params;
        detached(py, pool.as_ref(), || {
            let mut job = cli::to_job(&args)?;
            // The simulation as prepared (the same options; a clock-drawn `-misset random`
            // stays the one `render` shows).
            job.params = params.clone();
            write_files(&args, job)
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        if self.from_args {
            let argv = PyList::new(py, &self.argv)?;
            return Ok(format!("nanobragg.Simulation.from_args({})", argv.repr()?));
        }
        let mut parts = Vec::new();
        for (key, value) in self.params.bind(py).iter() {
            parts.push(format!("{}={}", key.str()?, value.repr()?));
        }
        Ok(format!("nanobragg.Simulation({})", parts.join(", ")))
    }
}

/// `a` with every output option (files, scaling, seeds of the noise, frames, threads, console)
/// taken from `base`: what is left are the options of the simulation.
fn without_outputs(a: &CliArgs, base: &CliArgs) -> CliArgs {
    let mut p = a.clone();
    p.floatfile.clone_from(&base.floatfile);
    p.intfile.clone_from(&base.intfile);
    p.noisefile.clone_from(&base.noisefile);
    p.nonoise = base.nonoise;
    p.noise = base.noise;
    p.pgmfile.clone_from(&base.pgmfile);
    p.nopgm = base.nopgm;
    p.pgm = base.pgm;
    p.scale = base.scale;
    p.pgmscale = base.pgmscale;
    p.adc = base.adc;
    p.seed = base.seed;
    p.pngfile.clone_from(&base.pngfile);
    p.cbffile.clone_from(&base.cbffile);
    p.h5file.clone_from(&base.h5file);
    p.npyfile.clone_from(&base.npyfile);
    p.frames = base.frames;
    p.nthreads = base.nthreads;
    p.quiet = base.quiet;
    p.progress_flag = base.progress_flag;
    p.noprogress = base.noprogress;
    p.progress = base.progress;
    p.warnings.clone_from(&base.warnings);
    p
}

/// Runs `job`, writing only the files `args` names; returns the console log.
///
/// The command line always writes a float and an integer image, and by default a noise image
/// and a PGM: those not named go to a scratch directory removed afterwards (the noise image
/// only when a CBF or NXmx file needs its counts), the PGM is dropped, and so is the
/// structure-factor cache unless `-dump` names it.
fn write_files(args: &CliArgs, mut job: Job) -> Result<String, Failure> {
    let mut scratch = Scratch::default();
    job.progress = false;
    let o = &mut job.outputs;
    if args.floatfile.is_none() {
        o.float = scratch.path()?.join("floatimage.bin");
    }
    if args.intfile.is_none() {
        o.int = scratch.path()?.join("intimage.img");
    }
    if args.noisefile.is_none() && o.noise.is_some() {
        o.noise = if o.cbf.is_some() || o.h5.is_some() {
            Some(scratch.path()?.join("noiseimage.img"))
        } else {
            None
        };
    }
    if args.pgmfile.is_none() {
        o.pgm = None;
    }
    if args.dump.is_none() {
        o.fdump = None;
        job.notes
            .retain(|n| !n.starts_with("writing dump file for next time"));
    }
    let mut log = Vec::new();
    cli::execute(&job, &mut log)?;
    let log = String::from_utf8_lossy(&log);
    Ok(match &scratch.dir {
        Some(dir) => {
            let dir = dir.display().to_string();
            log.lines()
                .filter(|l| !l.contains(&dir))
                .map(|l| format!("{l}\n"))
                .collect()
        }
        None => log.into_owned(),
    })
}

/// A private directory for the outputs nobody asked for, created when first needed and removed
/// with everything in it when dropped.
#[derive(Default)]
struct Scratch {
    dir: Option<PathBuf>,
}

impl Scratch {
    fn path(&mut self) -> Result<&Path, Error> {
        if self.dir.is_none() {
            self.dir = Some(create_scratch_dir()?);
        }
        Ok(self.dir.as_deref().unwrap_or(Path::new(".")))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn create_scratch_dir() -> Result<PathBuf, Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last = None;
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("nanobragg-py-{}-{n}-{nanos}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((dir, e)),
            Err(e) => return Err(Error::io(dir, e)),
        }
    }
    let (dir, e) = last.unwrap_or_else(|| (base, std::io::ErrorKind::AlreadyExists.into()));
    Err(Error::io(dir, e))
}

/// The frames of a rotation series (`Simulation.frames(n)`), rendered one by one as they are
/// iterated: float32 arrays of shape (slow, fast). `len()` is the number of frames left.
#[pyclass(module = "nanobragg", frozen)]
pub struct Frames {
    setup: Arc<Setup>,
    backend: Backend,
    pool: Option<rayon::ThreadPool>,
    count: usize,
    next: AtomicUsize,
}

#[pymethods]
impl Frames {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray2<f32>>>> {
        let count = self.count;
        let Ok(index) = self
            .next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |i| {
                (i < count).then_some(i + 1)
            })
        else {
            return Ok(None);
        };
        let (fast, slow) = (self.setup.detector.fpixels, self.setup.detector.spixels);
        let pixels = detached(py, self.pool.as_ref(), || {
            check_memory(fast, slow, 1)?;
            Ok(render_frame(&self.setup, self.backend, index))
        })?;
        image_array(py, pixels, slow, fast).map(Some)
    }

    fn __len__(&self) -> usize {
        self.count.saturating_sub(self.next.load(Ordering::SeqCst))
    }

    fn __repr__(&self) -> String {
        format!(
            "<nanobragg.Frames: {} of {} frames left>",
            self.__len__(),
            self.count
        )
    }
}
