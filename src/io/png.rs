//! 8-bit greyscale PNG previews (`-pngfile`), encoded by the `png` crate.
//!
//! The image is written as one greyscale 8-bit frame with the crate's adaptive row filters and
//! its default deflate compression; diffraction previews (mostly dark, a few bright spots)
//! shrink to a few per cent of their raw size.

use std::io;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};

/// Largest width or height PNG allows.
const MAX_DIM: usize = (1 << 31) - 1;

/// Writes `bytes` (`width·height` grey levels, row by row) as an 8-bit greyscale PNG,
/// atomically.
///
/// Fails with an [`Error::Io`] of kind `InvalidInput`, writing nothing, when a dimension is 0
/// or above 2³¹−1 or when `bytes` does not hold `width·height` values.
pub fn write_png_gray8(path: &Path, width: usize, height: usize, bytes: &[u8]) -> Result<()> {
    stage_png_gray8(path, width, height, bytes)?.commit()
}

/// Like [`write_png_gray8`], but leaves the file staged (see [`stage`]) for the caller to
/// commit.
pub fn stage_png_gray8(path: &Path, width: usize, height: usize, bytes: &[u8]) -> Result<Staged> {
    let invalid = |msg: String| Error::invalid_input(path, msg);
    if width == 0 || height == 0 || width > MAX_DIM || height > MAX_DIM {
        return Err(invalid(format!(
            "a PNG cannot be {width}×{height} pixels (each side must be 1 to 2147483647)"
        )));
    }
    if width.checked_mul(height) != Some(bytes.len()) {
        return Err(invalid(format!(
            "{} pixel bytes for a {width}×{height} PNG",
            bytes.len()
        )));
    }
    stage(path, |w| {
        let mut encoder = png::Encoder::new(w, width as u32, height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(io::Error::other)?;
        writer.write_image_data(bytes).map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;
    use proptest::prelude::*;

    /// A decoded 8-bit greyscale PNG: (width, height, pixels).
    fn decode(file: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut reader = png::Decoder::new(io::Cursor::new(file))
            .read_info()
            .expect("a valid PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a buffer size")];
        let info = reader.next_frame(&mut pixels).expect("one frame");
        assert_eq!(
            (info.color_type, info.bit_depth),
            (png::ColorType::Grayscale, png::BitDepth::Eight)
        );
        pixels.truncate(info.buffer_size());
        (info.width, info.height, pixels)
    }

    #[test]
    fn small_image_decodes() {
        let dir = scratch("png");
        let path = dir.join("a.png");
        let pixels: Vec<u8> = (0..12).map(|i| (i * 20) as u8).collect();
        write_png_gray8(&path, 4, 3, &pixels).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert!(file.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(decode(&file), (4, 3, pixels));
    }

    #[test]
    fn a_dark_preview_is_compressed() {
        let dir = scratch("pngbig");
        let path = dir.join("big.png");
        let (w, h) = (1100usize, 1000usize);
        let pixels: Vec<u8> = (0..w * h)
            .map(|i| if i % 997 == 0 { 255 } else { 3 })
            .collect();
        write_png_gray8(&path, w, h, &pixels).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert!(file.len() < w * h / 20, "{} bytes", file.len());
        assert_eq!(decode(&file), (w as u32, h as u32, pixels));
    }

    #[test]
    fn bad_dimensions_are_refused() {
        let dir = scratch("pngbad");
        let path = dir.join("x.png");
        for (w, h, n) in [(0, 5, 0), (5, 0, 0), (2, 2, 3), (usize::MAX, 2, 4)] {
            let err = write_png_gray8(&path, w, h, &vec![0; n]).unwrap_err();
            assert!(err.to_string().contains("x.png"), "{err}");
        }
        assert!(!path.exists());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_images_round_trip(w in 1usize..200, h in 1usize..200, seed in any::<u8>()) {
            let dir = scratch("pngprop");
            let path = dir.join("r.png");
            let pixels: Vec<u8> = (0..w * h)
                .map(|i| (i as u8).wrapping_mul(seed) ^ (i >> 8) as u8)
                .collect();
            write_png_gray8(&path, w, h, &pixels).unwrap();
            let file = std::fs::read(&path).unwrap();
            prop_assert_eq!(decode(&file), (w as u32, h as u32, pixels));
        }
    }
}
