//! What the golden-image tests share: where the golden data live and the rows of `cases.json`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The golden directory (`$NANOBRAGG_GOLDEN_DIR`, else `../shared/golden`), made absolute;
/// panics (fails the test) if it holds no `cases.json`.
pub fn golden_dir() -> PathBuf {
    let dir = match std::env::var_os("NANOBRAGG_GOLDEN_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
    };
    let cases = dir.join("cases.json");
    assert!(
        cases.is_file(),
        "golden data not found: looked for {} (set NANOBRAGG_GOLDEN_DIR to the golden directory)",
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
