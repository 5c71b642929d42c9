//! Fuzzing harness of nanobragg: the checks each fuzz target runs on its input (see [`checks`]).
//! The same file is compiled into the corpus replay test of the main crate.

pub mod checks;
