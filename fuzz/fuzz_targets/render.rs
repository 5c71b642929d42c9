//! Fuzz target: small renders by both engines; see `nanobragg_fuzz::checks::render`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::render(data));
