//! Raw float images (`-floatfile`, default `floatimage.bin`).
//!
//! The file is nothing but the pixel values as IEEE-754 single precision, 4 bytes each,
//! little-endian (nanoBragg writes host order, which is little-endian on every machine it is
//! run on), fast index varying fastest: value `s·Nf + f` is pixel (f, s). There is no header,
//! so the dimensions must come from elsewhere. Units are photons per pixel.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};

/// Writes `data` as raw little-endian `f32` values, atomically (see
/// [`write_atomic`](crate::io::write_atomic)).
pub fn write_float_image(path: &Path, data: &[f32]) -> Result<()> {
    stage_float_image(path, data)?.commit()
}

/// Like [`write_float_image`], but leaves the file staged (see [`stage`]) for the caller to
/// commit.
pub fn stage_float_image(path: &Path, data: &[f32]) -> Result<Staged> {
    const CHUNK: usize = 1 << 18;
    stage(path, |w| {
        let mut buf = vec![0u8; 4 * data.len().min(CHUNK)];
        for chunk in data.chunks(CHUNK) {
            let bytes = &mut buf[..4 * chunk.len()];
            for (b, v) in bytes.chunks_exact_mut(4).zip(chunk) {
                b.copy_from_slice(&v.to_le_bytes());
            }
            w.write_all(bytes)?;
        }
        Ok(())
    })
}

/// Reads a raw little-endian `f32` image written by [`write_float_image`] or nanoBragg.
///
/// Fails with [`Error::Format`] when the length is not a multiple of 4 bytes.
pub fn read_float_image(path: &Path) -> Result<Vec<f32>> {
    let bytes = crate::io::read_input(path)?;
    if bytes.len() % 4 != 0 {
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes is not a whole number of 4-byte floats (truncated or not a float image)",
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;

    #[test]
    fn round_trip_including_specials() {
        let dir = scratch("float");
        let path = dir.join("f.bin");
        let data: Vec<f32> = (0..40_000)
            .map(|i| i as f32 * 0.25 - 7.0)
            .chain([
                f32::INFINITY,
                f32::NEG_INFINITY,
                -0.0,
                f32::MIN_POSITIVE / 2.0,
            ])
            .collect();
        write_float_image(&path, &data).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            4 * data.len() as u64
        );
        let back = read_float_image(&path).unwrap();
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // Little-endian on disk: 1.0f32 = 0x3f800000.
        write_float_image(&path, &[1.0]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), [0, 0, 0x80, 0x3f]);
        write_float_image(&path, &[]).unwrap();
        assert!(read_float_image(&path).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_length_and_missing_file() {
        let dir = scratch("floatbad");
        let path = dir.join("f.bin");
        std::fs::write(&path, [1u8, 2, 3, 4, 5]).unwrap();
        let err = read_float_image(&path).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert!(err.to_string().contains("f.bin"));
        let err = read_float_image(&dir.join("nope.bin")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
