//! Fuzz target: nearBragg atom lists (`-file`); see `nanobragg_fuzz::checks::atom_list`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::atom_list(data));
