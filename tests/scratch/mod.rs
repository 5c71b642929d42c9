//! Scratch directories for the integration tests.

use tempfile::TempDir;

/// A fresh scratch directory `nanobragg-<what>-*` in the temp directory, removed with everything
/// in it when the returned guard is dropped, whether the test passes or fails.
pub fn scratch_dir(what: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("nanobragg-{what}-"))
        .tempdir()
        .expect("create a scratch directory")
}
