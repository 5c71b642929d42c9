//! Fuzz the HKL text reader: any bytes must give a grid or a clean error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("nanobragg-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("input.hkl");
    if std::fs::write(&path, data).is_ok() {
        if let Ok(grid) = nanobragg::io::hkl::read_hkl(&path, 0.0) {
            assert!(grid.h_min <= grid.h_max && grid.k_min <= grid.k_max && grid.l_min <= grid.l_max);
        }
    }
});
