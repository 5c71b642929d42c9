//! Fuzz target: noisify's pipeline on a float image; see `nanobragg_fuzz::checks::noisify`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::noisify(data));
