//! Fuzz target: the binary `Fdump.bin` structure-factor cache; see `nanobragg_fuzz::checks::fdump`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nanobragg_fuzz::checks::fdump(data));
