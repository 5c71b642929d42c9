//! NumPy `.npy` files of the floating-point image, for `numpy.load`.
//!
//! The file is NumPy format version 1.0:
//!
//! * the magic string `\x93NUMPY`, then the version bytes 1 and 0;
//! * the length of the header text as a little-endian `u16`;
//! * the header text, a Python dict literal
//!   `{'descr': '<f4', 'fortran_order': False, 'shape': (slow, fast), }` padded with spaces and
//!   ended by `\n` so that the data start at a multiple of 64 bytes, as NumPy aligns them;
//! * the pixels as little-endian `f32`, in C order: fast index varying fastest, so that
//!   `image[s, f]` is pixel (f, s).
//!
//! Version 2.0 differs only in a `u32` header length, for headers over 65535 bytes; a header
//! holding two sizes is never longer than about a hundred bytes, so version 1.0 always suffices.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};

/// The alignment of the data, which the padded header provides.
const ALIGN: usize = 64;

/// Writes the float image as a NumPy `.npy` file atomically: [`stage_npy_f32`], then
/// [`Staged::commit`].
pub fn write_npy_f32(path: &Path, fast: usize, slow: usize, data: &[f32]) -> Result<()> {
    stage_npy_f32(path, fast, slow, data)?.commit()
}

/// Stages the float image as a NumPy .npy file: dtype `'<f4'`, C order, shape (slow, fast)
/// (see the module documentation), for the caller to commit.
///
/// `data` must hold `fast·slow` values, fast index varying fastest; otherwise an [`Error::Io`]
/// of kind `InvalidInput` is returned and nothing is written.
pub fn stage_npy_f32(path: &Path, fast: usize, slow: usize, data: &[f32]) -> Result<Staged> {
    if fast.checked_mul(slow) != Some(data.len()) {
        return Err(Error::invalid_input(
            path,
            format!("{} values for a {fast}×{slow} .npy image", data.len()),
        ));
    }
    let header = header(fast, slow);
    stage(path, |w: &mut dyn Write| {
        w.write_all(&header)?;
        const BLOCK: usize = 1 << 16;
        let mut buf = Vec::with_capacity(4 * BLOCK.min(data.len()));
        for chunk in data.chunks(BLOCK) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&buf)?;
        }
        Ok(())
    })
}

/// Everything before the data: magic, version, header length and the padded header text.
fn header(fast: usize, slow: usize) -> Vec<u8> {
    const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";
    let mut text =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({slow}, {fast}), }}");
    let prefix = MAGIC.len() + 2;
    let total = (prefix + text.len() + 1).next_multiple_of(ALIGN);
    text.extend(std::iter::repeat_n(' ', total - prefix - text.len() - 1));
    text.push('\n');
    // Two numbers cannot make the text anywhere near 65535 bytes (see the module docs).
    let len = u16::try_from(text.len()).expect("a .npy header of two sizes fits in a u16");
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;

    #[test]
    fn exact_bytes_of_a_2x3_image() {
        let dir = scratch("npy");
        let path = dir.join("img.npy");
        // Three fast pixels, two slow rows.
        let data = [0.0f32, 1.0, -2.5, 1e30, f32::INFINITY, 0.1];
        write_npy_f32(&path, 3, 2, &data).unwrap();
        let mut expected = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        expected.extend_from_slice(dict.as_bytes());
        // Spaces and a newline up to byte 128, where the data start.
        expected.resize(127, b' ');
        expected.push(b'\n');
        for v in data {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        // The same bytes as numpy 1.24's `numpy.save` writes for this array.
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn header_is_aligned_for_every_size() {
        for (fast, slow) in [
            (0, 0),
            (1, 1),
            (3, 2),
            (4096, 4096),
            (usize::MAX, usize::MAX),
        ] {
            let h = header(fast, slow);
            assert_eq!(h.len() % ALIGN, 0, "{fast}×{slow}");
            assert_eq!(usize::from(u16::from_le_bytes([h[8], h[9]])), h.len() - 10);
            assert_eq!(h.last(), Some(&b'\n'));
            let text = std::str::from_utf8(&h[10..]).unwrap();
            assert!(
                text.contains(&format!("'shape': ({slow}, {fast}), }}")),
                "{text}"
            );
        }
    }

    #[test]
    fn wrong_length_is_refused_before_writing() {
        let dir = scratch("npylen");
        let err = stage_npy_f32(&dir.join("bad.npy"), 3, 2, &[0.0; 7]).unwrap_err();
        match &err {
            Error::Io { error, .. } => {
                assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("7 values for a 3×2"), "{err}");
        assert_eq!(std::fs::read_dir(&*dir).unwrap().count(), 0);
    }
}
