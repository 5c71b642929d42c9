//! Replays the fuzzing corpora: every file under `fuzz/corpus/<target>/` and
//! `fuzz/artifacts/<target>/` goes through the same check the fuzz target runs
//! (`fuzz/src/checks.rs`). A target without corpus files fails, so the corpora cannot silently
//! go missing; an artifact directory is optional (it holds inputs that once failed).

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("list a corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every corpus and artifact file of `target`; fails naming each input whose
/// check panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files(&fuzz.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is missing or empty: the target needs seed inputs"
    );
    let artifacts = files(&fuzz.join("artifacts").join(target));
    let failed: Vec<String> = corpus
        .iter()
        .chain(&artifacts)
        .filter(|path| {
            let data = std::fs::read(path).expect("read a corpus file");
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: the check fails on {failed:#?}"
    );
}

#[test]
fn hkl_parser_corpus() {
    replay("hkl_parser", checks::hkl_parser);
}

#[test]
fn fdump_corpus() {
    replay("fdump", checks::fdump);
}

#[test]
fn matrix_corpus() {
    replay("matrix", checks::matrix);
}

#[test]
fn smv_corpus() {
    replay("smv", checks::smv);
}

#[test]
fn sourcefile_corpus() {
    replay("sourcefile", checks::sourcefile);
}

#[test]
fn cli_corpus() {
    replay("cli", checks::cli);
}

#[test]
fn render_corpus() {
    replay("render", checks::render);
}

#[test]
fn stol_table_corpus() {
    replay("stol_table", checks::stol_table);
}

#[test]
fn atom_list_corpus() {
    replay("atom_list", checks::atom_list);
}

#[test]
fn noisify_corpus() {
    replay("noisify", checks::noisify);
}
