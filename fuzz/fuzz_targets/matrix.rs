//! Fuzz target: MOSFLM orientation matrices (`-mat`); see `nanobragg_fuzz::checks::matrix`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::matrix(data));
