//! Atomic file replacement: write to a hidden temporary file next to the target, then rename.
//!
//! A reader (or a crash) therefore sees either the complete old file or the complete new one,
//! never a half-written image. The temporary file lives in the target's directory (so the
//! rename never crosses file systems) and is named `.<target name>.<pid>.<n>.tmp`, where `n`
//! is a per-process counter so that threads writing the same target do not collide. The data
//! are flushed but not fsync'ed: this protects against partial files, not against power loss.
//!
//! Writing takes two steps, so that a program writing several files can make them all appear
//! only once every one of them has been written: [`stage`] writes the temporary file and
//! returns a [`Staged`] file, and [`Staged::commit`] renames it into place. Dropping a
//! [`Staged`] file without committing it removes the temporary and leaves the target as it
//! was. [`write_atomic`] does both steps.
//!
//! Targets that are not regular files are handled apart. An existing directory is refused
//! before anything is written. An existing device or named pipe (`/dev/null`, a FIFO another
//! program reads) is written directly by [`stage`], with nothing left to commit: renaming over
//! it would replace the device node with a regular file, and a stream cannot be taken back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Per-process counter making temporary names unique across threads.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file when dropped, unless it has been renamed into place.
#[derive(Debug)]
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
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    create_temp_in(dir, target, "tmp")
}

/// Creates a fresh file `.<target name>.<pid>.<n>.<suffix>` in `dir`; returns it and its path.
pub(crate) fn create_temp_in(
    dir: &Path,
    target: &Path,
    suffix: &str,
) -> io::Result<(File, PathBuf)> {
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{pid}.{n}.{suffix}"));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// Runs `write` on a buffered `file` and flushes it.
fn fill(file: File, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    out.into_inner().map_err(io::IntoInnerError::into_error)?;
    Ok(())
}

/// A file written by [`stage`] and not yet renamed into place.
#[derive(Debug)]
#[must_use = "a staged file is removed unless it is committed"]
pub struct Staged {
    target: PathBuf,
    /// The temporary file; `None` when the data went straight to a device or named pipe.
    temp: Option<TempGuard>,
}

impl Staged {
    /// The target path.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Renames the temporary file over the target. On failure the temporary file is removed,
    /// the target is left as it was, and the [`Error::Io`] names the target.
    pub fn commit(mut self) -> Result<()> {
        if let Some(guard) = &mut self.temp {
            fs::rename(&guard.path, &self.target).map_err(|e| Error::io(&self.target, e))?;
            guard.armed = false;
        }
        Ok(())
    }
}

/// Writes the contents of `path` into a buffered temporary file in the same directory, to be
/// renamed over `path` by [`Staged::commit`] (see the module documentation for directories,
/// devices and named pipes).
///
/// On any error (from `write` or the flush) the temporary file is removed, an existing `path`
/// is left untouched, and the returned [`Error::Io`] names `path`.
pub fn stage(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<Staged> {
    let err = |e| Error::io(path, e);
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory, not a file",
            )));
        }
        Ok(m) if !m.is_file() => {
            let file = OpenOptions::new().write(true).open(path).map_err(err)?;
            fill(file, write).map_err(err)?;
            return Ok(Staged {
                target: path.to_path_buf(),
                temp: None,
            });
        }
        _ => {}
    }
    let (file, tmp) = create_temp(path).map_err(err)?;
    let guard = TempGuard {
        path: tmp,
        armed: true,
    };
    fill(file, write).map_err(err)?;
    Ok(Staged {
        target: path.to_path_buf(),
        temp: Some(guard),
    })
}

/// Checks, before any work is done, that `path` can be written: it is not a directory, and its
/// directory accepts a new file (a temporary is created and removed). An existing device or
/// named pipe is taken as writable without opening it.
pub fn check_writable(path: &Path) -> Result<()> {
    let err = |e| Error::io(path, e);
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory, not a file",
        ))),
        Ok(m) if !m.is_file() => Ok(()),
        _ => {
            let (file, tmp) = create_temp(path).map_err(err)?;
            drop(file);
            fs::remove_file(&tmp).map_err(err)
        }
    }
}

/// Writes `path` atomically: [`stage`], then [`Staged::commit`].
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
    stage(path, write)?.commit()
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
    fn staged_files_appear_only_when_committed() {
        let dir = scratch("staged");
        let old = dir.join("old.bin");
        fs::write(&old, b"old").unwrap();
        let a = stage(&old, |w| w.write_all(b"new")).unwrap();
        let b = stage(&dir.join("b.bin"), |w| w.write_all(b"b")).unwrap();
        assert_eq!(fs::read(&old).unwrap(), b"old");
        assert_eq!(a.path(), old);
        // Dropping a staged file abandons it; committing the other puts it in place.
        drop(a);
        b.commit().unwrap();
        assert_eq!(fs::read(&old).unwrap(), b"old");
        assert_eq!(fs::read(dir.join("b.bin")).unwrap(), b"b");
        assert_eq!(entries(&dir), ["b.bin", "old.bin"]);
        // A directory is refused before anything is written.
        let mut called = false;
        let err = stage(&dir, |_| {
            called = true;
            Ok(())
        })
        .unwrap_err();
        assert!(
            !called && err.to_string().contains("is a directory"),
            "{err}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    /// A device node is written in place, not replaced by a regular file. Creating one takes
    /// `mknod` and root; without them the test has nothing to check.
    #[cfg(unix)]
    #[test]
    fn devices_are_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let dir = scratch("device");
        let null = dir.join("null");
        let made = std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .is_ok_and(|s| s.success());
        if made {
            write_atomic(&null, |w| w.write_all(&[1u8; 10_000])).unwrap();
            let kind = fs::symlink_metadata(&null).unwrap().file_type();
            assert!(kind.is_char_device(), "the device node was replaced");
            assert_eq!(entries(&dir), ["null"]);
        }
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
