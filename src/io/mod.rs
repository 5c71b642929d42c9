//! File formats read and written by nanoBragg.
//!
//! | Module | Files | Direction |
//! |---|---|---|
//! | [`hkl`] | `-hkl` structure-factor text, the `Fdump.bin` cache | read, write cache |
//! | [`matrix`] | `-mat` MOSFLM orientation matrix | read |
//! | [`sourcefile`] | `-sourcefile` list of X-ray sources | read |
//! | [`smv`] | `-intfile`/`-noisefile` SMV images; `-img`/`-mask` input headers and pixels | both |
//! | [`cbf`] | miniCBF (Pilatus-style) images of photon counts, for DIALS and fabio | write |
//! | [`floatfile`] | `-floatfile` raw little-endian `f32` image | both |
//! | [`npy`] | the float image as a NumPy `.npy` file | write |
//! | [`pgm`] | `-pgmfile` binary PGM preview | write |
//! | [`png`] | 8-bit greyscale PNG preview | write |
//! | [`nxmx`] | `-h5file` NeXus/NXmx HDF5 series of count and float images (feature `hdf5`) | write |
//! | [`frame`] | every output file of one rendered frame, staged together; frame file names | write |
//! | [`lab`] | the experiment in DIALS's laboratory frame, for the image headers | — |
//! | [`atomic`] | write-to-temporary-then-rename used by every writer | write |
//!
//! Every writer goes through [`stage`], so an interrupted run never leaves a half-written file
//! behind and a failed write keeps the previous file. The writers the command line uses also
//! have a `stage_*` form that returns the [`Staged`] file uncommitted, so that a run commits
//! its outputs only once all of them were written. Every reader reads the whole file and
//! validates it without panicking on any input: a bad line gives [`Error::Parse`] with its
//! 1-based number, a bad file as a whole [`Error::Format`], an operating-system failure
//! [`Error::Io`]; all of them name the file. Inputs are regular files or pipes
//! (`-hkl <(zcat x.hkl.gz)`); a device or socket is refused rather than read until memory runs
//! out (`-hkl /dev/zero`). Binary data are little-endian regardless of the host. Where this
//! crate deliberately differs from nanoBragg.c (comments in HKL and source files,
//! SMV byte swapping and header overflow), the module documentation says so.

pub mod atomic;
pub mod cbf;
pub mod floatfile;
pub mod frame;
pub mod hkl;
pub mod lab;
pub mod matrix;
pub mod npy;
#[cfg(feature = "hdf5")]
pub mod nxmx;
pub mod pgm;
pub mod png;
pub mod smv;
pub mod sourcefile;
mod text;

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

pub use atomic::{Staged, stage, write_atomic};
pub use floatfile::{read_float_image, write_float_image};
pub use hkl::{HklGrid, read_fdump, read_hkl, write_fdump};
pub use matrix::read_mosflm_matrix;
pub use pgm::write_pgm;
pub use png::write_png_gray8;
pub use smv::{SmvHeader, SmvImage, read_smv, write_smv};
pub use sourcefile::{SourceLine, read_source_file};

/// Reads a whole input file (see the module documentation for what is refused).
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>> {
    let os_error = |e| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(os_error)?;
    let meta = file.metadata().map_err(os_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        let what = if kind.is_char_device() {
            Some("a character device")
        } else if kind.is_block_device() {
            Some("a block device")
        } else if kind.is_socket() {
            Some("a socket")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!("is {what}, not a file"),
            });
        }
    }
    let mut bytes = Vec::new();
    // The size is a hint (0 for pipes); a failed reservation only means reading in steps.
    let _ = bytes.try_reserve_exact(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(os_error)?;
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn devices_are_refused() {
        let err = super::read_input(super::Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("is a character device"), "{err}");
    }
}

/// The golden data of the C program (`$NANOBRAGG_GOLDEN_DIR`, else `../shared/golden` beside
/// the crate), as the integration tests find them; panics (fails the test) if it is missing.
#[cfg(test)]
pub(crate) fn golden_dir() -> std::path::PathBuf {
    let dir = match std::env::var_os("NANOBRAGG_GOLDEN_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
    };
    assert!(
        dir.join("cases.json").is_file(),
        "golden data not found in {} (set NANOBRAGG_GOLDEN_DIR to the golden directory)",
        dir.display()
    );
    dir
}

/// A fresh, empty scratch directory for one test, unique per call, removed with its contents
/// when dropped (whether the test passes or fails). It dereferences to its path.
#[cfg(test)]
pub(crate) fn scratch(name: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("nanobragg-io-{name}-"))
        .tempdir()
        .expect("create a test scratch directory");
    Scratch(dir)
}

/// A test's scratch directory; see [`scratch`].
#[cfg(test)]
pub(crate) struct Scratch(tempfile::TempDir);

#[cfg(test)]
impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        self.0.path()
    }
}

#[cfg(test)]
impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        self.0.path()
    }
}
