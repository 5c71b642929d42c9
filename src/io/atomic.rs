//! Atomic file replacement: write to a hidden temporary file next to the target, then rename.
//!
//! A reader (or a crash) therefore sees either the complete old file or the complete new one,
//! never a half-written image. The temporary file lives in the target's directory (so the
//! rename never crosses file systems) and is named `.<target name>.<pid>.<n>.tmp`, where `n`
//! is a per-process counter so that threads writing the same target do not collide. The data
//! are flushed but not fsync'ed: this protects against partial files, not against power loss.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Per-process counter making temporary names unique across threads.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file when dropped, unless it has been renamed into place.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the original error is what the caller needs to see.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates a fresh temporary file next to `target`; returns it and its path.
fn create_temp(target: &Path) -> io::Result<(File, PathBuf)> {
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{pid}.{n}.tmp"));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// Writes `path` atomically: `write` fills a buffered temporary file in the same directory,
/// which is renamed over `path` when everything succeeded.
///
/// On any error (from `write`, the flush or the rename) the temporary file is removed, an
/// existing `path` is left untouched, and the returned [`Error::Io`] names `path`.
///
/// ```no_run
/// use std::path::Path;
/// nanobragg::io::atomic::write_atomic(Path::new("out.txt"), |w| w.write_all(b"hello\n"))?;
/// # Ok::<(), nanobragg::error::Error>(())
/// ```
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let (file, tmp) = create_temp(path).map_err(|e| Error::io(path, e))?;
    let mut guard = TempGuard {
        path: tmp,
        armed: true,
    };
    let result = (|| {
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        drop(file);
        fs::rename(&guard.path, path)
    })();
    match result {
        Ok(()) => {
            guard.armed = false;
            Ok(())
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_replaces() {
        let dir = scratch("replace");
        let target = dir.join("a.bin");
        write_atomic(&target, |w| w.write_all(b"first")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"first");
        write_atomic(&target, |w| w.write_all(b"second, longer")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second, longer");
        assert_eq!(entries(&dir), ["a.bin"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn failure_keeps_old_file_and_removes_temp() {
        let dir = scratch("fail");
        let target = dir.join("a.bin");
        fs::write(&target, b"old").unwrap();
        let err = write_atomic(&target, |w| {
            w.write_all(&[0u8; 100_000])?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a.bin") && msg.contains("boom"), "{msg}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(entries(&dir), ["a.bin"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn panic_in_writer_removes_temp() {
        let dir = scratch("panic");
        let target = dir.join("p.bin");
        let r = std::panic::catch_unwind(|| {
            let _ = write_atomic(&target, |_| panic!("writer panicked"));
        });
        assert!(r.is_err());
        assert!(entries(&dir).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rename_onto_directory_fails_cleanly() {
        let dir = scratch("dir");
        let target = dir.join("sub");
        fs::create_dir(&target).unwrap();
        let err = write_atomic(&target, |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("sub"));
        assert_eq!(entries(&dir), ["sub"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_directory_and_bad_names_are_errors() {
        let dir = scratch("missing");
        let err = write_atomic(&dir.join("no/such/dir/x.img"), |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(write_atomic(Path::new("/"), |_| Ok(())).is_err());
        assert!(write_atomic(Path::new(""), |_| Ok(())).is_err());
        fs::remove_dir_all(dir).unwrap();
    }
}
