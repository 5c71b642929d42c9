//! Fuzz target: SMV images (`-img`, `-mask`); see `nanobragg_fuzz::checks::smv`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::smv(data));
