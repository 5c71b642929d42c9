//! Fuzz target: nonBragg tables (`-stol`, `-4stol`, `-Q`); see `nanobragg_fuzz::checks::stol_table`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::stol_table(data));
