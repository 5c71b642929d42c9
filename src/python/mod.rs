//! The Python module `nanobragg` (cargo feature `python`, built by maturin from
//! `pyproject.toml`; the import package is `python/nanobragg`, this is its native part
//! `nanobragg._nanobragg`).
//!
//! Everything goes through the command line: `simulate` takes a nanoBragg command line,
//! `Simulation` turns keyword arguments into one, and both run
//! [`crate::cli::parse`] and [`crate::cli::to_job`], so options, units, defaults and errors are
//! the command line's. Rendering releases the GIL and runs on rayon (a pool of `threads`
//! threads when asked); the image is bit-identical for any thread count. Errors become Python
//! exceptions with the command line's message (`to_py_err`); a panic becomes `RuntimeError`.

mod simulation;
mod tokens;

use std::panic::{AssertUnwindSafe, catch_unwind};

use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray2, PyArray3};
use pyo3::exceptions::{
    PyFileNotFoundError, PyImportError, PyMemoryError, PyOSError, PyPermissionError,
    PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;

use crate::cli::{self, CliArgs, ParseOutcome};
use crate::engine::{self, Backend};
use crate::error::Error;
use crate::setup::Setup;

/// The Python exception for a library error, with the message the command line prints after
/// `nanobragg: error: `: `ValueError` for usage errors (exit status 2), `OSError` for files
/// that cannot be read, parsed or written (exit status 1; `FileNotFoundError` and
/// `PermissionError` where the system says so), `MemoryError` for a detector larger than the
/// memory, `RuntimeError` for a CPU without the instructions of the build.
fn to_py_err(e: Error) -> PyErr {
    let code = e.exit_code();
    let io_kind = match &e {
        Error::Io { error, .. } => Some(error.kind()),
        _ => None,
    };
    let memory = matches!(e, Error::OutOfMemory { .. });
    let cpu = matches!(e, Error::UnsupportedCpu { .. });
    // Formatted as the binary formats it (anyhow's alternate form, with any source chain).
    let message = format!("{:#}", anyhow::Error::new(e));
    if code == 2 {
        return PyValueError::new_err(message);
    }
    if memory {
        return PyMemoryError::new_err(message);
    }
    if cpu {
        return PyRuntimeError::new_err(message);
    }
    match io_kind {
        Some(std::io::ErrorKind::NotFound) => PyFileNotFoundError::new_err(message),
        Some(std::io::ErrorKind::PermissionDenied) => PyPermissionError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}

/// Why a detached call failed.
enum Failure {
    /// The library's error.
    Nanobragg(Error),
    /// A panic, with its message.
    Panic(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Nanobragg(e)
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Nanobragg(e) => to_py_err(e),
            Failure::Panic(message) => PyRuntimeError::new_err(format!(
                "nanobragg panicked (this is a bug, please report it): {message}"
            )),
        }
    }
}

/// A rayon pool of `threads` threads; `None` (or 0) uses rayon's global pool (all cores, or
/// `RAYON_NUM_THREADS`).
fn thread_pool(threads: Option<usize>) -> PyResult<Option<rayon::ThreadPool>> {
    match threads {
        None | Some(0) => Ok(None),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("nanobragg-{i}"))
            .build()
            .map(Some)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the thread pool: {e}"))),
    }
}

/// Runs `f` without the GIL, on `pool` if given, turning a panic into `RuntimeError` and an
/// [`Error`] into its Python exception.
fn detached<T, F>(py: Python<'_>, pool: Option<&rayon::ThreadPool>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, Failure> + Send,
{
    let outcome = py.detach(move || {
        catch_unwind(AssertUnwindSafe(move || match pool {
            Some(pool) => pool.install(f),
            None => f(),
        }))
        .unwrap_or_else(|panic| Err(Failure::Panic(panic_message(panic.as_ref()))))
    });
    outcome.map_err(PyErr::from)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Parses a command line as the binary does; `-help` and `-version` are a `ValueError` here.
fn parse_args(argv: &[String]) -> PyResult<Box<CliArgs>> {
    match cli::parse(argv).map_err(to_py_err)? {
        ParseOutcome::Run(args) => Ok(args),
        ParseOutcome::Exit { .. } => Err(PyValueError::new_err(
            "-help and -version print a text and exit: use nanobragg.help_text() and \
             nanobragg.__version__",
        )),
    }
}

/// The threads to render with: the argument, else the command line's `-nthreads`.
fn threads_for(threads: Option<usize>, args: &CliArgs) -> Option<usize> {
    threads.or(args.nthreads)
}

/// Fails with [`Error::OutOfMemory`] when `images` float images of a detector of
/// `fpixels × spixels` do not fit in memory.
fn check_memory(fpixels: usize, spixels: usize, images: usize) -> Result<(), Error> {
    let pixels = fpixels as u64 * spixels as u64;
    crate::memory::check(
        pixels.saturating_mul(4).saturating_mul(images as u64),
        &format!("the detector of {fpixels} x {spixels} pixels (-detpixels, -detsize)"),
    )
}

/// Renders frame `index` (from 0) of the rotation series that starts with `setup`.
fn render_frame(setup: &Setup, backend: Backend, index: usize) -> Vec<f32> {
    if index == 0 {
        engine::render(setup, backend).pixels
    } else {
        engine::render(&setup.frame(index), backend).pixels
    }
}

/// A float image as a NumPy array of shape (slow, fast), without copying.
fn image_array<'py>(
    py: Python<'py>,
    pixels: Vec<f32>,
    slow: usize,
    fast: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    Array2::from_shape_vec((slow, fast), pixels)
        .map(|a| a.into_pyarray(py))
        .map_err(|e| PyRuntimeError::new_err(format!("image of the wrong size: {e}")))
}

/// Simulates the float image of a nanoBragg command line.
///
/// `args` is the command line without the program name: a list of tokens
/// (`["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", ...]`, numbers and
/// paths accepted as tokens) or one string split on whitespace. Every option of the `nanobragg`
/// command is accepted, with its units and defaults; output options are accepted and ignored.
///
/// Returns the image that `-floatfile` would write, bit for bit: a float32 array of photons per
/// pixel with shape (slow, fast). With `-frames N` (N > 1) it returns the rotation series,
/// shape (N, slow, fast). Writes no file (not even the `Fdump.bin` structure-factor cache a
/// `-hkl` run of the command leaves) and prints nothing. Input files are read relative to the
/// current directory; as on the command line, without `-hkl` an `Fdump.bin` there is read.
///
/// `threads`: worker threads (default: `-nthreads`, else all cores or `RAYON_NUM_THREADS`).
/// The image is the same for any thread count. The GIL is released while rendering.
///
/// Raises `ValueError` for usage errors (unknown option, bad value, no unit cell, ...) with the
/// command line's message, `OSError` (or `FileNotFoundError`) naming the file (and line) for
/// input files that cannot be read or parsed, `MemoryError` for a detector that does not fit,
/// and `RuntimeError` if the simulator panics.
#[pyfunction]
#[pyo3(signature = (args, threads = None))]
fn simulate<'py>(
    py: Python<'py>,
    args: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let argv = tokens::argv(args)?;
    let args = parse_args(&argv)?;
    let pool = thread_pool(threads_for(threads, &args))?;
    let (pixels, frames, slow, fast) = detached(py, pool.as_ref(), || {
        let job = cli::to_job(&args)?;
        let d = &job.params.detector;
        check_memory(d.fpixels, d.spixels, job.frames)?;
        let setup = Setup::new(&job.params)?;
        let (slow, fast) = (setup.detector.spixels, setup.detector.fpixels);
        let mut pixels = render_frame(&setup, job.backend, 0);
        if job.frames > 1 {
            pixels.reserve_exact(pixels.len() * (job.frames - 1));
            for index in 1..job.frames {
                pixels.extend_from_slice(&render_frame(&setup, job.backend, index));
            }
        }
        Ok((pixels, job.frames, slow, fast))
    })?;
    if frames == 1 {
        return Ok(image_array(py, pixels, slow, fast)?.into_any());
    }
    let series: Bound<'py, PyArray3<f32>> = Array3::from_shape_vec((frames, slow, fast), pixels)
        .map(|a| a.into_pyarray(py))
        .map_err(|e| PyRuntimeError::new_err(format!("series of the wrong size: {e}")))?;
    Ok(series.into_any())
}

/// The `nanobragg -help` text: every option by group, with its unit and default.
#[pyfunction]
fn help_text() -> String {
    cli::args::help_text()
}

/// nanoBragg, the simulator of X-ray diffraction images from nanocrystals, in Rust.
///
/// `simulate(args)` renders the float image of a nanoBragg command line; `Simulation(**params)`
/// builds one from keyword arguments in nanoBragg's spellings and units (Å, mm, degrees) and
/// renders single images, rotation series (`frames`) and output files (`write`).
#[pymodule]
#[pyo3(name = "_nanobragg")]
fn nanobragg_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::cpu::check().map_err(|e| PyImportError::new_err(e.to_string()))?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(help_text, m)?)?;
    m.add_class::<simulation::Simulation>()?;
    m.add_class::<simulation::Frames>()?;
    Ok(())
}
