//! Memory a run needs against memory the machine can give, checked before anything large is
//! allocated.
//!
//! Linux overcommits: allocating a 100 GiB image succeeds, and the process is killed by the
//! kernel when the pages are touched, half-way through the render. [`check`] compares the bytes a
//! run will hold with the smaller of `MemAvailable` (`/proc/meminfo`) and the cgroup's remaining
//! allowance (`memory.max − memory.current`, cgroup v2), so a detector too large for the machine
//! is refused up front with [`Error::OutOfMemory`]. Where neither is readable (other systems)
//! the check passes and allocation failures are left to the allocator.

use std::path::Path;

use crate::error::{Error, Result};

/// Bytes of memory this process can still use, if the system says.
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|kb| kb.trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
        });
    let cgroup = cgroup_allowance(Path::new("/sys/fs/cgroup"));
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `memory.max − memory.current` of the cgroup v2 hierarchy at `root`, if limited.
fn cgroup_allowance(root: &Path) -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(root.join(name)).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?;
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// Refuse a run that needs `needed` bytes when less is available. `what` names the cause for
/// the message (e.g. `-detpixels 100000 x 100000`).
pub fn check(needed: u64, what: &str) -> Result<()> {
    match available() {
        Some(available) if needed > available => Err(Error::OutOfMemory {
            what: what.to_string(),
            needed,
            available,
        }),
        _ => Ok(()),
    }
}

/// Bytes as GiB for messages.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_beyond_the_machine_is_refused_and_named() {
        if available().is_none() {
            return;
        }
        let e = check(u64::MAX / 2, "-detpixels 3000000000 x 3000000000").unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let text = e.to_string();
        assert!(text.contains("-detpixels 3000000000"), "{text}");
        assert!(text.contains("GiB"), "{text}");
        check(1 << 20, "a small image").unwrap();
    }

    #[test]
    fn cgroup_allowance_is_max_minus_current() {
        let dir = crate::io::scratch("cgroup");
        std::fs::write(dir.join("memory.max"), "1000\n").unwrap();
        std::fs::write(dir.join("memory.current"), "300\n").unwrap();
        assert_eq!(cgroup_allowance(&dir), Some(700));
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_allowance(&dir), None);
    }
}
