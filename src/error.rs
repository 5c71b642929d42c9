//! Typed errors of the library.
//!
//! Every error names what the user has to fix: the option, or the file and line. The binary maps
//! [`Error::exit_code`] to the process exit status: 2 for usage errors (the command line or the
//! parameters are wrong), 1 for runtime failures (a file cannot be read, parsed or written).

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a command line and the files on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command-line option is unknown, misspelled, missing its value or has a bad value.
    #[error("{option}: {reason}")]
    Usage {
        /// The option as the user typed it (or the closest description of it).
        option: String,
        /// What is wrong and, where possible, what to do instead.
        reason: String,
    },
    /// A parameter is outside the range the simulation can handle.
    #[error("invalid parameter {field}: {reason}")]
    InvalidParams {
        /// The parameter (named like its command-line option).
        field: &'static str,
        /// Why the value is refused.
        reason: String,
    },
    /// An option whose physics is not implemented yet.
    #[error("{option} is not supported yet")]
    Unsupported {
        /// The option as nanoBragg spells it.
        option: String,
    },
    /// A malformed line in an input file.
    #[error("{}:{line}: {reason}", path.display())]
    Parse {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A malformed input file where no single line is to blame (empty, truncated, bad header).
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file being read.
        path: PathBuf,
        /// What is wrong with the file.
        reason: String,
    },
    /// The CPU lacks instructions this binary was compiled to use.
    #[error(
        "this CPU lacks {missing}, which this build of nanobragg was compiled for; rebuild with \
         RUSTFLAGS=\"-C target-cpu=native\" cargo build --release"
    )]
    UnsupportedCpu {
        /// The missing instruction-set features.
        missing: String,
    },
    /// The run needs more memory than the machine can give it.
    #[error(
        "{what}: the images need {}, but only {} of memory is available",
        crate::memory::gib(*needed),
        crate::memory::gib(*available)
    )]
    OutOfMemory {
        /// What makes the run large (the option and its values).
        what: String,
        /// Bytes the run would hold.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A file could not be opened, read or written.
    ///
    /// The message already includes the operating-system error, so it is not also returned by
    /// [`std::error::Error::source`] (error reporters that print the chain would repeat it).
    #[error("{}: {error}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating-system error.
        error: std::io::Error,
    },
}

impl Error {
    /// Process exit status for this error: 2 for usage errors, 1 for runtime failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. } | Error::InvalidParams { .. } | Error::Unsupported { .. } => 2,
            Error::Parse { .. }
            | Error::Format { .. }
            | Error::Io { .. }
            | Error::OutOfMemory { .. }
            | Error::UnsupportedCpu { .. } => 1,
        }
    }

    /// Shorthand for an [`Error::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    /// An [`Error::Io`] of kind `InvalidInput` for `path`: a writer given data that does not fit
    /// the file it was asked for (nothing is written).
    pub fn invalid_input(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        let error = std::io::Error::new(std::io::ErrorKind::InvalidInput, reason.into());
        Error::io(path, error)
    }

    /// Shorthand for an [`Error::Usage`].
    pub fn usage(option: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Usage {
            option: option.into(),
            reason: reason.into(),
        }
    }
}
