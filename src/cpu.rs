//! The SIMD level this build was compiled for, and a start-up check that the CPU has it.
//!
//! `wide` chooses its instructions when it is compiled (`cfg(target_feature)`), not at run
//! time, so a binary built for AVX2 would die with SIGILL on a CPU without it. [`check`] turns
//! that into a clean error before any vector code runs.

use crate::error::{Error, Result};

/// Instruction-set features compiled into this build, in the order they are checked.
const COMPILED: &[(&str, bool)] = &[
    ("sse4.1", cfg!(target_feature = "sse4.1")),
    ("avx", cfg!(target_feature = "avx")),
    ("avx2", cfg!(target_feature = "avx2")),
    ("fma", cfg!(target_feature = "fma")),
    ("avx512f", cfg!(target_feature = "avx512f")),
];

/// A short name of the compiled SIMD level, e.g. `"avx2+fma (f64x4)"`.
pub fn simd_level() -> String {
    let on: Vec<&str> = COMPILED
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .filter(|n| ["avx2", "fma", "avx512f"].contains(n))
        .collect();
    let lanes = crate::engine::simd::LANES;
    if on.is_empty() {
        format!("x86-64 baseline (f64x{lanes})")
    } else {
        format!("{} (f64x{lanes})", on.join("+"))
    }
}

/// Fail cleanly when the CPU lacks an instruction set this binary was compiled to use.
pub fn check() -> Result<()> {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let present = |name: &str| match name {
            "sse4.1" => std::arch::is_x86_feature_detected!("sse4.1"),
            "avx" => std::arch::is_x86_feature_detected!("avx"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            _ => true,
        };
        let missing: Vec<&str> = COMPILED
            .iter()
            .filter(|(name, compiled)| *compiled && !present(name))
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::UnsupportedCpu {
                missing: missing.join(", "),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_test_machine_runs_what_was_compiled() {
        super::check().expect("tests run on the CPU they were built for");
        assert!(super::simd_level().contains("f64x"));
    }
}
