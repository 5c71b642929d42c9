//! Fuzz target: HKL structure-factor text (`-hkl`); see `nanobragg_fuzz::checks::hkl_parser`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::hkl_parser(data));
