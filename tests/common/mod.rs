//! What the golden-image tests share: where the golden data live, the rows of `cases.json`,
//! and ([`compare`]) how outputs are compared and results reported.

// Every test crate that declares `mod common` compiles all of it and uses only part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub mod compare;

/// The golden directory (`$NANOBRAGG_GOLDEN_DIR`, else `../shared/golden`), made absolute;
/// panics (fails the test) if it holds no `cases.json`.
pub fn golden_dir() -> PathBuf {
    data_dir("NANOBRAGG_GOLDEN_DIR", "golden")
}

/// The golden directory of noisify, nonBragg and nearBragg (`$NANOBRAGG_GOLDEN_SUITE_DIR`, else
/// `../shared/golden_suite`), made absolute; panics if it holds no `cases.json`.
pub fn golden_suite_dir() -> PathBuf {
    data_dir("NANOBRAGG_GOLDEN_SUITE_DIR", "golden_suite")
}

/// `$var`, else `<crate>/../shared/<folder>`, made absolute; it must hold a `cases.json`.
fn data_dir(var: &str, folder: &str) -> PathBuf {
    let dir = match std::env::var_os(var) {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared")
            .join(folder),
    };
    let cases = dir.join("cases.json");
    assert!(
        cases.is_file(),
        "golden data not found: looked for {} (set {var} to the {folder} directory)",
        cases.display()
    );
    fs::canonicalize(&dir)
        .unwrap_or_else(|e| panic!("cannot resolve golden dir {}: {e}", dir.display()))
}

/// The rows of `cases.json`'s `cases` array (at least one).
pub fn case_rows(golden: &Path) -> Vec<Value> {
    let path = golden.join("cases.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
    let rows = json["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no \"cases\" array", path.display()))
        .clone();
    assert!(!rows.is_empty(), "{}: no cases", path.display());
    rows
}
