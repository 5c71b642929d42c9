//! The SMV files of noisify, nonBragg and nearBragg: `{`, `HEADER_BYTES=512;`, `DIM=2;`,
//! `BYTE_ORDER=little_endian;`, `TYPE=…;`, then each program's `KEY=value;` lines (values in C
//! `%g`, see [`g`](crate::cfmt::g)), `}` and a form feed, padded with spaces to 512 bytes (or
//! the next multiple of 512 when the text is longer, where C would overrun its header); then
//! the pixels, little-endian.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};

/// Pixel type of an SMV file, as its `TYPE` key names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmvType {
    /// `TYPE=unsigned_short`: 16-bit pixels.
    UnsignedShort,
    /// `TYPE=long_integer`: 32-bit pixels (noisify `-bits 32`).
    LongInteger,
}

/// The header block: the fixed keys, then `fields` in order (`("SIZE1", "128")`), padded.
pub fn header(kind: SmvType, fields: &[(&str, String)]) -> Vec<u8> {
    let ty = match kind {
        SmvType::UnsignedShort => "unsigned_short",
        SmvType::LongInteger => "long_integer",
    };
    let body: String = fields.iter().map(|(k, v)| format!("{k}={v};\n")).collect();
    let mut text = format!(
        "{{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE={ty};\n{body}}}\x0c"
    );
    if text.len() > 512 {
        let size = text.len().div_ceil(512) * 512;
        text = text.replacen("HEADER_BYTES=512;", &format!("HEADER_BYTES={size};"), 1);
    }
    let mut bytes = text.into_bytes();
    bytes.resize(bytes.len().div_ceil(512) * 512, b' ');
    bytes
}

/// Stage `header` followed by the pixels (`u16` or `u32`, little-endian) at `path`, for the
/// caller to commit; `pixels` must hold `width × height` values.
pub fn stage_image<T: Pixel>(
    path: &Path,
    header: &[u8],
    width: usize,
    height: usize,
    pixels: &[T],
) -> Result<Staged> {
    if width.checked_mul(height) != Some(pixels.len()) {
        let reason = format!("{} pixel values for a {width}×{height} image", pixels.len());
        return Err(Error::invalid_input(path, reason));
    }
    stage(path, |w: &mut dyn Write| {
        w.write_all(header)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in pixels.chunks(1 << 14) {
            buf.clear();
            chunk.iter().for_each(|p| p.put_le(&mut buf));
            w.write_all(&buf)?;
        }
        Ok(())
    })
}

/// A pixel type an SMV file can hold.
pub trait Pixel: Copy {
    /// Append the little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
}

impl Pixel for u16 {
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Pixel for u32 {
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_c_text_padded_to_512() {
        let h = header(
            SmvType::UnsignedShort,
            &[("SIZE1", "4".into()), ("BEAMLINE", "fake".into())],
        );
        assert_eq!(h.len(), 512);
        let text = "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1=4;\nBEAMLINE=fake;\n}\x0c";
        assert_eq!(&h[..text.len()], text.as_bytes());
        assert!(h[text.len()..].iter().all(|&b| b == b' '));
        let long = vec![("X", "9".repeat(600))];
        let h = header(SmvType::LongInteger, &long);
        assert_eq!(h.len(), 1024);
        assert!(h.starts_with(b"{\nHEADER_BYTES=1024;\n"));
    }

    #[test]
    fn image_bytes_and_size_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.img");
        let h = header(SmvType::LongInteger, &[]);
        stage_image(&path, &h, 2, 1, &[1u32, 0x0102_0304])
            .unwrap()
            .commit()
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[512..], &[1, 0, 0, 0, 4, 3, 2, 1]);
        assert!(stage_image(&path, &h, 3, 1, &[1u16, 2]).is_err());
    }
}
