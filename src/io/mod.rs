//! File formats read and written by nanoBragg.
//!
//! | Module | Files | Direction |
//! |---|---|---|
//! | [`hkl`] | `-hkl` structure-factor text, the `Fdump.bin` cache | read, write cache |
//! | [`matrix`] | `-mat` MOSFLM orientation matrix | read |
//! | [`sourcefile`] | `-sourcefile` list of X-ray sources | read |
//! | [`smv`] | `-intfile`/`-noisefile` SMV images; `-img`/`-mask` input headers and pixels | both |
//! | [`floatfile`] | `-floatfile` raw little-endian `f32` image | both |
//! | [`pgm`] | `-pgmfile` binary PGM preview | write |
//! | [`png`] | 8-bit greyscale PNG preview | write |
//! | [`atomic`] | write-to-temporary-then-rename used by every writer | write |
//!
//! Every writer goes through [`write_atomic`], so an interrupted run never leaves a
//! half-written file behind and a failed write keeps the previous file. Every reader reads
//! the whole file and validates it without panicking on any input: a bad line gives
//! [`Error::Parse`](crate::error::Error::Parse) with its 1-based number, a bad file as a whole
//! [`Error::Format`](crate::error::Error::Format), an operating-system failure
//! [`Error::Io`](crate::error::Error::Io); all of them name the file. Binary data are
//! little-endian regardless of the host. Where this crate deliberately differs from
//! nanoBragg.c (comments in HKL and source files, SMV byte swapping and header overflow), the
//! module documentation says so.

pub mod atomic;
pub mod floatfile;
pub mod hkl;
pub mod matrix;
pub mod pgm;
pub mod png;
pub mod smv;
pub mod sourcefile;
mod text;

pub use atomic::write_atomic;
pub use floatfile::{read_float_image, write_float_image};
pub use hkl::{HklGrid, read_fdump, read_hkl, write_fdump};
pub use matrix::read_mosflm_matrix;
pub use pgm::write_pgm;
pub use png::write_png_gray8;
pub use smv::{SmvHeader, SmvImage, read_smv, write_smv};
pub use sourcefile::{SourceLine, read_source_file};

/// A fresh, empty scratch directory for one test, unique per process and call.
#[cfg(test)]
pub(crate) fn scratch(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nanobragg-io-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test scratch directory");
    dir
}
