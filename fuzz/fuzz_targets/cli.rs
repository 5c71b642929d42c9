//! Fuzz target: command lines parsed into jobs; see `nanobragg_fuzz::checks::cli`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::cli(data));
