//! Fuzz target: source lists (`-sourcefile`); see `nanobragg_fuzz::checks::sourcefile`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::sourcefile(data));
