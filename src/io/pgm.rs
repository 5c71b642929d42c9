//! Binary PGM preview images (`-pgmfile`, default `image.pgm`).
//!
//! nanoBragg writes a "P5" portable grey map with exactly this header
//!
//! ```text
//! P5
//! <width> <height>
//! # pixels scaled by <pgm_scale as %g>
//! 255
//! ```
//!
//! followed by `width·height` bytes, one per pixel, fast index varying fastest. Each byte is
//! `min(255, value·pgm_scale)` truncated (computed by the caller).

use std::path::Path;

use crate::cfmt::g;
use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};

/// The PGM header nanoBragg writes, comment line and maximum value included.
pub fn pgm_header(width: usize, height: usize, pgm_scale: f64) -> String {
    format!(
        "P5\n{width} {height}\n# pixels scaled by {}\n255\n",
        g(pgm_scale)
    )
}

/// Writes a binary PGM exactly as nanoBragg does, atomically.
///
/// `bytes` must hold `width·height` pixels; otherwise an [`Error::Io`] of kind
/// `InvalidInput` is returned and nothing is written.
pub fn write_pgm(
    path: &Path,
    width: usize,
    height: usize,
    pgm_scale: f64,
    bytes: &[u8],
) -> Result<()> {
    if width.checked_mul(height) != Some(bytes.len()) {
        return Err(Error::invalid_input(
            path,
            format!("{} pixel bytes for a {width}×{height} PGM", bytes.len()),
        ));
    }
    write_pgm_with(path, width, height, pgm_scale, |start, out| {
        out.copy_from_slice(&bytes[start..start + out.len()]);
    })
}

/// Like [`write_pgm`], but the `width·height` bytes are produced while writing:
/// `fill(start, out)` stores bytes `start..start + out.len()` into `out`, a block at a time.
pub fn write_pgm_with(
    path: &Path,
    width: usize,
    height: usize,
    pgm_scale: f64,
    fill: impl FnMut(usize, &mut [u8]),
) -> Result<()> {
    stage_pgm_with(path, width, height, pgm_scale, fill)?.commit()
}

/// Like [`write_pgm_with`], but leaves the file staged (see [`stage`]) for the caller to
/// commit.
pub fn stage_pgm_with(
    path: &Path,
    width: usize,
    height: usize,
    pgm_scale: f64,
    mut fill: impl FnMut(usize, &mut [u8]),
) -> Result<Staged> {
    let Some(total) = width.checked_mul(height) else {
        return Err(Error::invalid_input(
            path,
            format!("a {width}×{height} PGM is too large"),
        ));
    };
    const BLOCK: usize = 1 << 17;
    let header = pgm_header(width, height, pgm_scale);
    stage(path, |w| {
        w.write_all(header.as_bytes())?;
        let mut buf = vec![0u8; BLOCK.min(total)];
        let mut start = 0;
        while start < total {
            let n = BLOCK.min(total - start);
            fill(start, &mut buf[..n]);
            w.write_all(&buf[..n])?;
            start += n;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;

    #[test]
    fn header_and_layout() {
        let dir = scratch("pgm");
        let path = dir.join("image.pgm");
        write_pgm(&path, 3, 2, 3.8627312, &[0, 1, 2, 253, 254, 255]).unwrap();
        let mut want = b"P5\n3 2\n# pixels scaled by 3.86273\n255\n".to_vec();
        want.extend_from_slice(&[0, 1, 2, 253, 254, 255]);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert_eq!(
            pgm_header(1, 1, 1e-7),
            "P5\n1 1\n# pixels scaled by 1e-07\n255\n"
        );
        let err = write_pgm(&path, 4, 4, 1.0, &[0; 3]).unwrap_err();
        assert!(err.to_string().contains("image.pgm"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn matches_golden_header() {
        let golden = crate::io::golden_dir().join("p01_cubic/image.pgm");
        let file = std::fs::read(golden).unwrap();
        let dir = scratch("pgmgold");
        let path = dir.join("image.pgm");
        let header = pgm_header(256, 256, 3.86273);
        write_pgm(&path, 256, 256, 3.86273, &file[header.len()..]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), file);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
