//! A minimal PNG encoder for 8-bit greyscale previews (no compression, no dependencies).
//!
//! Layout written (PNG specification, ISO/IEC 15948):
//!
//! * the 8-byte signature `89 50 4E 47 0D 0A 1A 0A`;
//! * chunks, each `length (u32 BE) | type (4 ASCII) | data | CRC-32 (u32 BE) of type+data`:
//!   * `IHDR`: width, height (u32 BE), bit depth 8, colour type 0 (greyscale), compression 0,
//!     filter 0, interlace 0;
//!   * one or more `IDAT` chunks carrying, concatenated, a zlib stream (RFC 1950): header
//!     `78 01`, then the raw scanlines (each prefixed by filter byte 0, "None") packed into
//!     *stored* deflate blocks (RFC 1951 BTYPE=00: a header byte, LEN and its one's
//!     complement NLEN as u16 LE, then up to 65535 literal bytes), then the Adler-32 of the raw
//!     scanlines (u32 BE);
//!   * an empty `IEND`.
//!
//! Files are about 0.1 % larger than the raw pixels, which is acceptable for previews.

use std::io::{self, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};

/// The PNG file signature.
const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
/// Largest payload of a stored deflate block.
const MAX_STORED: usize = 65_535;
/// Largest IDAT payload written per chunk.
const MAX_IDAT: usize = 1 << 20;
/// Largest width or height PNG allows.
const MAX_DIM: usize = (1 << 31) - 1;

/// CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected) lookup table, built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// Continues a CRC-32 over `bytes`; start with `crc = 0`.
pub(crate) fn crc32_update(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Running Adler-32 checksum (RFC 1950).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Adler32 {
    a: u32,
    b: u32,
}

impl Adler32 {
    /// Largest run of bytes before the sums must be reduced modulo 65521 to avoid overflow.
    const NMAX: usize = 5552;
    const MOD: u32 = 65_521;

    /// The checksum of nothing.
    pub(crate) fn new() -> Self {
        Adler32 { a: 1, b: 0 }
    }

    /// Adds `bytes` to the checksum.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for run in bytes.chunks(Self::NMAX) {
            for &x in run {
                self.a += x as u32;
                self.b += self.a;
            }
            self.a %= Self::MOD;
            self.b %= Self::MOD;
        }
    }

    /// The checksum so far.
    pub(crate) fn value(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

/// Writes one chunk with its length and CRC.
fn write_chunk(w: &mut dyn Write, kind: &[u8; 4], data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PNG chunk too long"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(kind)?;
    w.write_all(data)?;
    let crc = crc32_update(crc32_update(0, kind), data);
    w.write_all(&crc.to_be_bytes())
}

/// The zlib stream of stored blocks holding the filtered scanlines of the image.
fn zlib_stored(width: usize, bytes: &[u8]) -> Vec<u8> {
    let rows = bytes.len().checked_div(width).unwrap_or(0);
    let raw_len = rows * (width + 1);
    let blocks = raw_len.div_ceil(MAX_STORED).max(1);
    let mut out = Vec::with_capacity(2 + raw_len + 5 * blocks + 4);
    out.extend_from_slice(&[0x78, 0x01]);

    let mut adler = Adler32::new();
    // Raw stream = for each row: filter byte 0 then the row. Emit it block by block.
    let mut block = Vec::with_capacity(MAX_STORED.min(raw_len));
    let mut emitted = 0usize;
    let mut flush = |block: &mut Vec<u8>, out: &mut Vec<u8>, last: bool| {
        adler.update(block);
        out.push(u8::from(last));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
        block.clear();
    };
    for row in bytes.chunks_exact(width.max(1)).take(rows) {
        for piece in [&[0u8][..], row] {
            let mut piece = piece;
            while !piece.is_empty() {
                let room = MAX_STORED - block.len();
                let take = room.min(piece.len());
                block.extend_from_slice(&piece[..take]);
                piece = &piece[take..];
                emitted += take;
                if block.len() == MAX_STORED && emitted < raw_len {
                    flush(&mut block, &mut out, false);
                }
            }
        }
    }
    flush(&mut block, &mut out, true);
    out.extend_from_slice(&adler.value().to_be_bytes());
    out
}

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
    let invalid = |msg: String| Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, msg));
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
    let mut ihdr = [0u8; 13];
    ihdr[0..4].copy_from_slice(&(width as u32).to_be_bytes());
    ihdr[4..8].copy_from_slice(&(height as u32).to_be_bytes());
    ihdr[8] = 8; // bit depth
    // ihdr[9..13]: colour type 0 (grey), compression 0, filter 0, interlace 0.
    let zlib = zlib_stored(width, bytes);
    stage(path, |w| {
        w.write_all(&SIGNATURE)?;
        write_chunk(w, b"IHDR", &ihdr)?;
        for part in zlib.chunks(MAX_IDAT) {
            write_chunk(w, b"IDAT", part)?;
        }
        write_chunk(w, b"IEND", &[])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;
    use proptest::prelude::*;

    /// A decoded PNG: (width, height, pixels). Panics (test failure) on any inconsistency.
    fn decode(file: &[u8]) -> (u32, u32, Vec<u8>) {
        assert_eq!(file[..8], SIGNATURE);
        let mut pos = 8;
        let mut ihdr = None;
        let mut zlib = Vec::new();
        let mut kinds = Vec::new();
        while pos < file.len() {
            let len = u32::from_be_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = file[pos + 4..pos + 8].try_into().unwrap();
            let data = &file[pos + 8..pos + 8 + len];
            let crc = u32::from_be_bytes(file[pos + 8 + len..pos + 12 + len].try_into().unwrap());
            assert_eq!(
                crc,
                crc32_update(crc32_update(0, &kind), data),
                "CRC of {kind:?}"
            );
            match &kind {
                b"IHDR" => ihdr = Some(data.to_vec()),
                b"IDAT" => zlib.extend_from_slice(data),
                b"IEND" => assert!(data.is_empty()),
                other => panic!("unexpected chunk {other:?}"),
            }
            kinds.push(kind);
            pos += 12 + len;
        }
        assert_eq!(pos, file.len());
        assert_eq!(kinds.first(), Some(b"IHDR"));
        assert_eq!(kinds.last(), Some(b"IEND"));
        let ihdr = ihdr.unwrap();
        assert_eq!(ihdr.len(), 13);
        let w = u32::from_be_bytes(ihdr[0..4].try_into().unwrap());
        let h = u32::from_be_bytes(ihdr[4..8].try_into().unwrap());
        assert_eq!(&ihdr[8..], &[8, 0, 0, 0, 0]);

        // zlib: header, stored blocks, Adler-32.
        assert_eq!((u16::from(zlib[0]) << 8 | u16::from(zlib[1])) % 31, 0);
        assert_eq!(zlib[0] & 0x0f, 8, "deflate");
        let mut p = 2;
        let mut raw = Vec::new();
        loop {
            let hdr = zlib[p];
            assert_eq!(hdr >> 1, 0, "stored block");
            let len = u16::from_le_bytes([zlib[p + 1], zlib[p + 2]]);
            let nlen = u16::from_le_bytes([zlib[p + 3], zlib[p + 4]]);
            assert_eq!(len, !nlen);
            raw.extend_from_slice(&zlib[p + 5..p + 5 + len as usize]);
            p += 5 + len as usize;
            if hdr & 1 == 1 {
                break;
            }
        }
        let mut adler = Adler32::new();
        adler.update(&raw);
        assert_eq!(zlib[p..], adler.value().to_be_bytes());

        let stride = w as usize + 1;
        assert_eq!(raw.len(), stride * h as usize);
        let mut pixels = Vec::new();
        for row in raw.chunks(stride) {
            assert_eq!(row[0], 0, "filter type None");
            pixels.extend_from_slice(&row[1..]);
        }
        (w, h, pixels)
    }

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32_update(0, b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32_update(0, b"IEND"), 0xae42_6082);
        let mut a = Adler32::new();
        a.update(b"Wikipedia");
        assert_eq!(a.value(), 0x11e6_0398);
        let mut big = Adler32::new();
        big.update(&vec![255u8; 100_000]);
        let (mut s1, mut s2) = (1u64, 0u64);
        for _ in 0..100_000 {
            s1 = (s1 + 255) % 65521;
            s2 = (s2 + s1) % 65521;
        }
        assert_eq!(big.value() as u64, (s2 << 16) | s1);
    }

    #[test]
    fn small_image_decodes() {
        let dir = scratch("png");
        let path = dir.join("a.png");
        let pixels: Vec<u8> = (0..12).map(|i| (i * 20) as u8).collect();
        write_png_gray8(&path, 4, 3, &pixels).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert_eq!(decode(&file), (4, 3, pixels));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn multi_block_and_multi_chunk_image_decodes() {
        // 1100×1000 = 1.1 MB: many stored blocks and two IDAT chunks; rows straddle blocks.
        let dir = scratch("pngbig");
        let path = dir.join("big.png");
        let (w, h) = (1100usize, 1000usize);
        let pixels: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
        write_png_gray8(&path, w, h, &pixels).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert_eq!(decode(&file), (w as u32, h as u32, pixels));
        // A single row wider than a stored block.
        let wide: Vec<u8> = (0..70_000).map(|i| (i % 7) as u8).collect();
        write_png_gray8(&path, 70_000, 1, &wide).unwrap();
        assert_eq!(decode(&std::fs::read(&path).unwrap()), (70_000, 1, wide));
        std::fs::remove_dir_all(dir).unwrap();
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
        std::fs::remove_dir_all(dir).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_images_round_trip(w in 1usize..300, h in 1usize..300, seed in any::<u8>()) {
            let pixels: Vec<u8> = (0..w * h).map(|i| (i as u8).wrapping_mul(seed) ^ (i >> 8) as u8).collect();
            let zlib = zlib_stored(w, &pixels);
            // Wrap it as a file the decoder accepts.
            let mut file = SIGNATURE.to_vec();
            let mut ihdr = [0u8; 13];
            ihdr[0..4].copy_from_slice(&(w as u32).to_be_bytes());
            ihdr[4..8].copy_from_slice(&(h as u32).to_be_bytes());
            ihdr[8] = 8;
            write_chunk(&mut file, b"IHDR", &ihdr).unwrap();
            write_chunk(&mut file, b"IDAT", &zlib).unwrap();
            write_chunk(&mut file, b"IEND", &[]).unwrap();
            prop_assert_eq!(decode(&file), (w as u32, h as u32, pixels));
        }
    }
}
