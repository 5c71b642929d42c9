//! miniCBF images, as Pilatus and Eiger detectors write them, for DIALS/dxtbx and fabio.
//!
//! A miniCBF file is a CIF text header followed by one MIME-style binary section holding the
//! pixels as signed 32-bit integers compressed with CBF's byte-offset scheme. The geometry is not
//! described by CIF categories (that is full imgCIF) but by `# Key value` comment lines in the
//! `_array_data.header_contents` text field. Lines end in CR LF, as Pilatus writes them.
//!
//! # What is written
//!
//! ```text
//! ###CBF: VERSION 1.5
//!
//! data_<file stem>
//!
//! _array_data.header_convention "GENERIC_MINI"
//! _array_data.header_contents
//! ;
//! # Detector: nanobragg simulation
//! # Pixel_size 172e-6 m x 172e-6 m
//! # Silicon sensor, thickness 0.000450 m          (only with a simulated sensor)
//! # Exposure_time 1.0000000 s
//! # Exposure_period 1.0000000 s
//! # Count_cutoff 1048576 counts
//! # Wavelength 1.0000 A
//! # Detector_distance 0.15000 m
//! # Beam_xy (385.00, 385.00) pixels
//! # Start_angle 0.0000 deg.
//! # Angle_increment 0.1000 deg.
//! # Phi 0.0000 deg.
//! # Oscillation_axis X, CW
//! ;
//!
//! _array_data.data
//! ;
//! --CIF-BINARY-FORMAT-SECTION--
//! Content-Type: application/octet-stream;
//!      conversions="x-CBF_BYTE_OFFSET"
//! Content-Transfer-Encoding: BINARY
//! X-Binary-Size: <compressed bytes>
//! X-Binary-ID: 1
//! X-Binary-Element-Type: "signed 32-bit integer"
//! X-Binary-Element-Byte-Order: LITTLE_ENDIAN
//! Content-MD5: <base64 of the MD5 digest of the compressed bytes>
//! X-Binary-Number-of-Elements: <fast · slow>
//! X-Binary-Size-Fastest-Dimension: <fast>
//! X-Binary-Size-Second-Dimension: <slow>
//! X-Binary-Size-Padding: 4095
//!
//! 0C 1A 04 D5, the compressed pixels, 4095 NUL bytes
//! --CIF-BINARY-FORMAT-SECTION----
//! ;
//! ```
//!
//! `GENERIC_MINI` is the convention dxtbx keeps for simulated detectors: it makes dxtbx read
//! the file with its plain `FormatCBFMini` class. `PILATUS_1.2` would select
//! `FormatCBFMiniPilatus`, which expects a real Pilatus: it masks the gaps between the modules
//! (and fails on an image size that is not a whole number of modules) and requires a timestamp
//! line. fabio reads either.
//!
//! # The header values
//!
//! * `Pixel_size` in µm (`e-6 m`), `Detector_distance` in m (the distance along the detector
//!   normal), `Wavelength` in Å, angles in degrees, times in s.
//! * `Beam_xy` is [`LabGeometry::beam_center_px`] unchanged: dxtbx places the beam at
//!   `Beam_xy · pixel size` mm from the outer corner of the first pixel along fast and slow, with
//!   the detector fast along +x and slow along −y, which is that field's meaning.
//! * `Start_angle`/`Phi` and `Angle_increment` are the frame's φ start and oscillation.
//!   `Exposure_period` (which dxtbx requires) and `Exposure_time` are both the exposure time.
//! * `Count_cutoff` is [`COUNT_CUTOFF`], the 2²⁰ depth of the Pilatus counter: dxtbx takes it as
//!   the top of the trusted range (the overload value), so DIALS treats the brightest pixels as
//!   it would those of a real detector. Larger counts are still written unchanged.
//! * The `Silicon sensor` line is there only when a sensor thickness is simulated: dxtbx then
//!   applies a parallax correction for silicon of that thickness.
//! * Numbers are written with fixed decimals (trailing zeros trimmed down to the Pilatus
//!   widths), with enough of them that the geometry survives to well below 10⁻³ px and mm:
//!   C `%g`'s six significant digits would not. Non-finite values are not expected.
//!
//! # What miniCBF cannot say
//!
//! A Pilatus-style header has no axis vectors: readers assume a detector normal to the beam,
//! fast along +x, slow along −y, no two-theta, and a single +x spindle. Other geometries (see
//! [`LabGeometry::single_panel_limits`]) are written as if they were that one; the caller warns
//! about it, this module does not.
//!
//! # Byte-offset compression
//!
//! [`compress_byte_offset`] implements CBFlib's `x-CBF_BYTE_OFFSET`: starting from a base of 0,
//! each value is stored as its difference `d` from the previous one, in the smallest of
//!
//! * one byte, when −127 ≤ d ≤ 127;
//! * the byte 0x80, then `d` as a little-endian `i16`, when −32767 ≤ d ≤ 32767;
//! * 0x80, the `i16` 0x8000 (−2¹⁵), then `d` as a little-endian `i32`.
//!
//! The byte 0x80 (−128) and the `i16` −2¹⁵ are the escapes, which is why those ranges are
//! symmetric. The differences are taken modulo 2³² (wrapping `i32` arithmetic), so every one of
//! them fits in the 32-bit form and the 64-bit form that CBFlib adds for wider elements (the
//! `i32` −2³¹ as a third escape, then an `i64`) is never written: readers add the differences in
//! 32-bit arithmetic and get the values back exactly. dxtbx and fabio (its `int32` decoder) do
//! exactly that, and neither of them understands the 64-bit form. The one case they and CBFlib
//! disagree on is a difference of exactly −2³¹ (a jump from 0 to `i32::MIN`, or from −1 to
//! `i32::MAX`), which CBFlib takes for the 64-bit escape; photon counts (non-negative, with
//! small negative flags at most) never make it.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};
use crate::io::lab::{FrameScan, LabGeometry};

/// `Count_cutoff`: the counter depth of a Pilatus detector (2²⁰), which dxtbx takes as the
/// overload value.
pub const COUNT_CUTOFF: i32 = 1 << 20;

/// The bytes that open the binary data of a CBF binary section.
const BINARY_START: [u8; 4] = [0x0C, 0x1A, 0x04, 0xD5];

/// NUL bytes written after the compressed data (`X-Binary-Size-Padding`), as Pilatus does.
const PADDING: usize = 4095;

/// The MIME boundary that closes the binary section, and the end of the CIF text field.
const FOOTER: &[u8] = b"\r\n--CIF-BINARY-FORMAT-SECTION----\r\n;\r\n";

/// Writes a miniCBF image (see the module documentation) atomically: [`stage_cbf`], then
/// [`Staged::commit`].
pub fn write_cbf(
    path: &Path,
    geometry: &LabGeometry,
    frame: &FrameScan,
    counts: &[i32],
) -> Result<()> {
    stage_cbf(path, geometry, frame, counts)?.commit()
}

/// Stages a miniCBF image (see the module documentation) holding `counts`, fast index varying
/// fastest, for the caller to commit.
///
/// `counts` must hold `size[0]·size[1]` values of `geometry`; otherwise an [`Error::Io`] of kind
/// `InvalidInput` is returned and nothing is written.
pub fn stage_cbf(
    path: &Path,
    geometry: &LabGeometry,
    frame: &FrameScan,
    counts: &[i32],
) -> Result<Staged> {
    let [fast, slow] = geometry.size;
    if fast.checked_mul(slow) != Some(counts.len()) {
        return Err(Error::invalid_input(
            path,
            format!(
                "{} count values for a {fast}×{slow} miniCBF image",
                counts.len()
            ),
        ));
    }
    let compressed = compress_byte_offset(counts);
    let mut text = header_text(&block_name(path), geometry, frame);
    text.push_str(&binary_header(&compressed, fast, slow));
    stage(path, |w: &mut dyn Write| {
        w.write_all(text.as_bytes())?;
        w.write_all(&BINARY_START)?;
        w.write_all(&compressed)?;
        w.write_all(&[0; PADDING])?;
        w.write_all(FOOTER)
    })
}

/// The CIF data block name: the file stem with anything but ASCII letters, digits, `.`, `_`
/// and `-` replaced by `_` (CIF names cannot hold blanks), or `image` when it is empty.
fn block_name(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "image".to_string()
    } else {
        name
    }
}

/// `x` with `max` decimals, trailing zeros trimmed down to `min` decimals (and the point with
/// them when `min` is 0); a value that prints as zero loses its minus sign.
fn fixed(x: f64, min: usize, max: usize) -> String {
    let mut s = format!("{x:.max$}");
    if let Some(point) = s.find('.') {
        let shortest = point + 1 + min;
        while s.len() > shortest && s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s.starts_with('-') && s[1..].bytes().all(|b| b == b'0' || b == b'.') {
        s.remove(0);
    }
    s
}

/// The CIF text from `###CBF` to the end of `_array_data.header_contents`, then the opening
/// of `_array_data.data`, up to the MIME boundary.
fn header_text(name: &str, geometry: &LabGeometry, frame: &FrameScan) -> String {
    let pixel_um = fixed(geometry.pixel_size_mm * 1e3, 0, 6);
    let exposure = fixed(frame.exposure_s, 7, 9);
    let [beam_x, beam_y] = geometry.beam_center_px.map(|v| fixed(v, 2, 6));
    let phi = fixed(frame.phi_start_deg, 4, 8);
    let mut lines = vec![
        "###CBF: VERSION 1.5".to_string(),
        String::new(),
        format!("data_{name}"),
        String::new(),
        "_array_data.header_convention \"GENERIC_MINI\"".to_string(),
        "_array_data.header_contents".to_string(),
        ";".to_string(),
        "# Detector: nanobragg simulation".to_string(),
        format!("# Pixel_size {pixel_um}e-6 m x {pixel_um}e-6 m"),
    ];
    if let Some((thickness_mm, _)) = geometry.sensor {
        let thickness = fixed(thickness_mm * 1e-3, 6, 10);
        lines.push(format!("# Silicon sensor, thickness {thickness} m"));
    }
    lines.extend([
        format!("# Exposure_time {exposure} s"),
        format!("# Exposure_period {exposure} s"),
        format!("# Count_cutoff {COUNT_CUTOFF} counts"),
        format!("# Wavelength {} A", fixed(geometry.wavelength_a, 4, 8)),
        format!(
            "# Detector_distance {} m",
            fixed(geometry.distance_mm * 1e-3, 5, 9)
        ),
        format!("# Beam_xy ({beam_x}, {beam_y}) pixels"),
        format!("# Start_angle {phi} deg."),
        format!("# Angle_increment {} deg.", fixed(frame.osc_deg, 4, 8)),
        format!("# Phi {phi} deg."),
        "# Oscillation_axis X, CW".to_string(),
        ";".to_string(),
        String::new(),
        "_array_data.data".to_string(),
        ";".to_string(),
        String::new(),
    ]);
    lines.join("\r\n")
}

/// The MIME header of the binary section, from the boundary to the blank line that precedes
/// the data.
fn binary_header(compressed: &[u8], fast: usize, slow: usize) -> String {
    [
        "--CIF-BINARY-FORMAT-SECTION--".to_string(),
        "Content-Type: application/octet-stream;".to_string(),
        "     conversions=\"x-CBF_BYTE_OFFSET\"".to_string(),
        "Content-Transfer-Encoding: BINARY".to_string(),
        format!("X-Binary-Size: {}", compressed.len()),
        "X-Binary-ID: 1".to_string(),
        "X-Binary-Element-Type: \"signed 32-bit integer\"".to_string(),
        "X-Binary-Element-Byte-Order: LITTLE_ENDIAN".to_string(),
        format!("Content-MD5: {}", base64(&md5(compressed))),
        format!("X-Binary-Number-of-Elements: {}", fast * slow),
        format!("X-Binary-Size-Fastest-Dimension: {fast}"),
        format!("X-Binary-Size-Second-Dimension: {slow}"),
        format!("X-Binary-Size-Padding: {PADDING}"),
        String::new(),
        String::new(),
    ]
    .join("\r\n")
}

/// Compresses `values` with CBF's byte-offset scheme (see the module documentation).
pub fn compress_byte_offset(values: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() + values.len() / 8 + 16);
    let mut previous = 0i32;
    for &value in values {
        let delta = value.wrapping_sub(previous);
        previous = value;
        if (-127..=127).contains(&delta) {
            out.push(delta as i8 as u8);
            continue;
        }
        out.push(0x80);
        if (-32767..=32767).contains(&delta) {
            out.extend_from_slice(&(delta as i16).to_le_bytes());
            continue;
        }
        out.extend_from_slice(&i16::MIN.to_le_bytes());
        out.extend_from_slice(&delta.to_le_bytes());
    }
    out
}

/// Standard base64 (RFC 4648, with `=` padding), as MIME's `Content-MD5` wants it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for j in 0..4 {
            if j <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * j)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The MD5 digest of `data` (RFC 1321), for `Content-MD5`.
fn md5(data: &[u8]) -> [u8; 16] {
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let whole = data.len() - data.len() % 64;
    for block in data[..whole].chunks_exact(64) {
        md5_block(&mut state, block);
    }
    // The last partial block, the 0x80 marker, zeros to 56 mod 64, the length in bits.
    let mut tail = data[whole..].to_vec();
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&(data.len() as u64).wrapping_mul(8).to_le_bytes());
    for block in tail.chunks_exact(64) {
        md5_block(&mut state, block);
    }
    let mut digest = [0u8; 16];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    digest
}

/// One 64-byte block of MD5.
fn md5_block(state: &mut [u32; 4], block: &[u8]) {
    const SHIFTS: [[u32; 4]; 4] = [
        [7, 12, 17, 22],
        [5, 9, 14, 20],
        [4, 11, 16, 23],
        [6, 10, 15, 21],
    ];
    // ⌊|sin(i + 1)| · 2³²⌋.
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];
    let mut m = [0u32; 16];
    for (word, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a.wrapping_add(f).wrapping_add(K[i]).wrapping_add(m[g]);
        (a, d, c) = (d, c, b);
        b = b.wrapping_add(sum.rotate_left(SHIFTS[i / 16][i % 4]));
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;
    use proptest::prelude::*;

    /// Decodes byte-offset data as dxtbx and fabio do (32-bit wrapping sums, no 64-bit form);
    /// `None` if it is truncated.
    fn decompress(mut packed: &[u8]) -> Option<Vec<i32>> {
        fn take<const N: usize>(packed: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = packed.split_first_chunk::<N>()?;
            *packed = rest;
            Some(*head)
        }
        let mut values = Vec::new();
        let mut current = 0i32;
        while !packed.is_empty() {
            let [b] = take::<1>(&mut packed)?;
            let mut delta = i32::from(b as i8);
            if b == 0x80 {
                delta = i32::from(i16::from_le_bytes(take(&mut packed)?));
                if delta == i32::from(i16::MIN) {
                    delta = i32::from_le_bytes(take(&mut packed)?);
                }
            }
            current = current.wrapping_add(delta);
            values.push(current);
        }
        Some(values)
    }

    fn geometry(size: [usize; 2], sensor: Option<(f64, f64)>) -> LabGeometry {
        LabGeometry {
            wavelength_a: 1.2345678,
            beam: [0.0, 0.0, -1.0],
            polarization: [0.0, 1.0, 0.0],
            polarization_fraction: 0.0,
            fast: [1.0, 0.0, 0.0],
            slow: [0.0, -1.0, 0.0],
            normal: [0.0, 0.0, -1.0],
            origin_mm: [-29.799, 15.755, -123.456789],
            pixel_size_mm: 0.172,
            size,
            beam_center_px: [173.25, 91.6],
            distance_mm: 123.456789,
            spindle: [1.0, 0.0, 0.0],
            twotheta: (0.0, [1.0, 0.0, 0.0]),
            sensor,
        }
    }

    const FRAME: FrameScan = FrameScan {
        number: 3,
        phi_start_deg: 12.5,
        osc_deg: 0.25,
        exposure_s: 0.5,
    };

    /// Splits a written file into its text, the compressed data and what follows them.
    fn split(bytes: &[u8]) -> (String, &[u8], &[u8]) {
        let start = bytes
            .windows(4)
            .position(|w| w == BINARY_START)
            .expect("binary start");
        let text = String::from_utf8(bytes[..start].to_vec()).unwrap();
        let size: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Binary-Size: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let data = &bytes[start + 4..start + 4 + size];
        (text, data, &bytes[start + 4 + size..])
    }

    #[test]
    fn byte_offset_widths_and_escapes() {
        let cases: [(&[i32], &[u8]); 11] = [
            (&[0, 127, 0, -127], &[0x00, 0x7f, 0x81, 0x81]),
            (&[128], &[0x80, 0x80, 0x00]),
            (&[-128], &[0x80, 0x80, 0xff]),
            (&[32767], &[0x80, 0xff, 0x7f]),
            (&[-32767], &[0x80, 0x01, 0x80]),
            (&[32768], &[0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00]),
            (&[-32768], &[0x80, 0x00, 0x80, 0x00, 0x80, 0xff, 0xff]),
            (&[i32::MAX], &[0x80, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f]),
            (&[i32::MIN], &[0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80]),
            // Differences wrap: from i32::MAX to i32::MIN is +1.
            (
                &[i32::MAX, i32::MIN],
                &[0x80, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x01],
            ),
            (
                &[-2, i32::MAX],
                &[0xfe, 0x80, 0x00, 0x80, 0x01, 0x00, 0x00, 0x80],
            ),
        ];
        for (values, bytes) in cases {
            assert_eq!(compress_byte_offset(values), bytes, "{values:?}");
        }
        // Differences, not values: 1000, 1001, 999 is one 3-byte step and two 1-byte ones.
        assert_eq!(
            compress_byte_offset(&[1000, 1001, 999]),
            [0x80, 0xe8, 0x03, 0x01, 0xfe]
        );
        assert!(compress_byte_offset(&[]).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn byte_offset_round_trips(values in proptest::collection::vec(
            prop_oneof![
                -300i32..300,
                -70_000i32..70_000,
                any::<i32>(),
                Just(i32::MIN),
                Just(i32::MAX),
                Just(0),
            ],
            0..200,
        )) {
            prop_assert_eq!(decompress(&compress_byte_offset(&values)), Some(values));
        }
    }

    #[test]
    fn md5_matches_rfc_1321() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
            (
                b"The quick brown fox jumps over the lazy dog",
                "9e107d9d372bb6826bd81d3542a419d6",
            ),
        ];
        for (input, hex) in cases {
            let got: String = md5(input).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(got, hex, "{:?}", String::from_utf8_lossy(input));
        }
        assert_eq!(base64(&md5(b"")), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn base64_matches_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, encoded) in cases {
            assert_eq!(base64(input.as_bytes()), encoded);
        }
    }

    #[test]
    fn fixed_trims_to_the_minimum_width() {
        assert_eq!(fixed(0.15, 5, 9), "0.15000");
        assert_eq!(fixed(0.123456789, 5, 9), "0.123456789");
        assert_eq!(fixed(172.0, 0, 6), "172");
        assert_eq!(fixed(172.5, 0, 6), "172.5");
        assert_eq!(fixed(385.0, 2, 6), "385.00");
        assert_eq!(fixed(-0.00000001, 4, 6), "0.0000");
        assert_eq!(fixed(-1.5, 4, 6), "-1.5000");
        assert_eq!(fixed(1e-4 * 1e3, 0, 6), "0.1");
    }

    #[test]
    fn block_names_are_cif_names() {
        assert_eq!(block_name(Path::new("dir/image_001.cbf")), "image_001");
        assert_eq!(block_name(Path::new("a b/é x.cbf")), "__x");
        assert_eq!(block_name(Path::new("/")), "image");
    }

    #[test]
    fn writes_header_and_data() {
        let dir = scratch("cbf");
        let path = dir.join("sim_00003.cbf");
        let counts: Vec<i32> = (0..12 * 7)
            .map(|i| match i {
                5 => -1,
                17 => 40_000,
                30 => 2_000_000_000,
                _ => (i * 37) % 251,
            })
            .collect();
        write_cbf(
            &path,
            &geometry([12, 7], Some((0.45, 0.3))),
            &FRAME,
            &counts,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (text, data, rest) = split(&bytes);
        assert!(text.starts_with("###CBF: VERSION 1.5\r\n\r\ndata_sim_00003\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'), "bare LF");
        for line in [
            "_array_data.header_convention \"GENERIC_MINI\"",
            "# Pixel_size 172e-6 m x 172e-6 m",
            "# Silicon sensor, thickness 0.000450 m",
            "# Exposure_time 0.5000000 s",
            "# Exposure_period 0.5000000 s",
            "# Count_cutoff 1048576 counts",
            "# Wavelength 1.2345678 A",
            "# Detector_distance 0.123456789 m",
            "# Beam_xy (173.25, 91.60) pixels",
            "# Start_angle 12.5000 deg.",
            "# Angle_increment 0.2500 deg.",
            "# Phi 12.5000 deg.",
            "X-Binary-Element-Type: \"signed 32-bit integer\"",
            "X-Binary-Number-of-Elements: 84",
            "X-Binary-Size-Fastest-Dimension: 12",
            "X-Binary-Size-Second-Dimension: 7",
            "X-Binary-Size-Padding: 4095",
        ] {
            assert!(text.contains(&format!("\r\n{line}\r\n")), "{line}\n{text}");
        }
        assert!(text.contains(&format!("\r\nContent-MD5: {}\r\n", base64(&md5(data)))));
        assert!(text.ends_with("X-Binary-Size-Padding: 4095\r\n\r\n"));
        assert_eq!(decompress(data), Some(counts));
        assert_eq!(&rest[..PADDING], &[0; PADDING][..]);
        assert_eq!(&rest[PADDING..], FOOTER);
    }

    #[test]
    fn sensor_line_only_with_a_sensor() {
        let dir = scratch("cbfnosensor");
        let path = dir.join("a.cbf");
        write_cbf(&path, &geometry([2, 1], None), &FRAME, &[1, 2]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (text, _, _) = split(&bytes);
        assert!(!text.contains("Silicon"), "{text}");
    }

    #[test]
    fn wrong_count_is_refused_before_writing() {
        let dir = scratch("cbfcount");
        let path = dir.join("bad.cbf");
        let err = stage_cbf(&path, &geometry([3, 2], None), &FRAME, &[0; 5]).unwrap_err();
        match &err {
            Error::Io { error, .. } => {
                assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().contains("5 count values for a 3×2"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&*dir).unwrap().count(), 0);
    }
}
