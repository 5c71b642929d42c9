//! SMV (ADSC) images: nanoBragg's `-intfile`/`-noisefile` output and `-img`/`-mask` input.
//!
//! An SMV file is an ASCII header followed by the pixels as unsigned 16-bit integers, fast
//! index varying fastest. The header starts with `{` and a newline, holds `KEY=value;` lines
//! and ends with `}`; it is padded to `HEADER_BYTES` bytes, after which the data begin.
//!
//! # What nanoBragg writes
//!
//! ```text
//! {
//! HEADER_BYTES=512;
//! DIM=2;
//! BYTE_ORDER=little_endian;
//! TYPE=unsigned_short;
//! SIZE1=<fast pixels>;
//! SIZE2=<slow pixels>;
//! PIXEL_SIZE=<mm>;  DISTANCE=<mm>;  WAVELENGTH=<Å>;  (one key per line, in this order:)
//! BEAM_CENTER_X, BEAM_CENTER_Y, ADXV_CENTER_X, ADXV_CENTER_Y, MOSFLM_CENTER_X,
//! MOSFLM_CENTER_Y, DENZO_X_BEAM, DENZO_Y_BEAM (mm),
//! DIALS_ORIGIN=<x>,<y>,<z>            (mm, and no semicolon: nanoBragg's quirk, kept)
//! XDS_ORGX, XDS_ORGY (pixels), CLOSE_DISTANCE (mm), PHI, OSC_START, OSC_RANGE, TWOTHETA (deg)
//! DETECTOR_SN=000;
//! BEAMLINE=fake;
//! }
//! ```
//!
//! Every value is C `%g` (six significant digits, see [`crate::cfmt::g`]). The closing `}` is
//! followed by a form feed and then spaces up to `HEADER_BYTES`. Pixels are little-endian.
//!
//! **Fix of nanoBragg's Q23:** when long `%g` values make the text exceed 512 bytes, nanoBragg
//! writes no padding and still claims `HEADER_BYTES=512`, so readers see misaligned data. Here
//! `HEADER_BYTES` is rounded up to the next multiple of 512 that holds the text and the header
//! says so. Headers that fit (all realistic ones) are byte-identical to nanoBragg's.
//!
//! # Reading (`-img`, `-mask`)
//!
//! [`read_smv`] follows nanoBragg's `GetFrame`: the file must begin with `{\nHEADER_BYT`;
//! `HEADER_BYTES` is looked up in the first 512 bytes; the header is the first `HEADER_BYTES`
//! bytes up to any NUL; `SIZE1`×`SIZE2` pixels follow, with `DETECTOR_DIMENSIONS` used for both
//! when `SIZE1` is missing or 0. [`SmvImage::value`] reproduces nanoBragg's `ValueOf` keyword
//! lookup exactly, quirks included. Unlike nanoBragg the reader swaps bytes of big-endian
//! files, insists on `TYPE=unsigned_short`, and refuses (with an error naming the file) a
//! header that does not fit in `HEADER_BYTES`, truncated data and absurd sizes.

use std::io::Write;
use std::path::Path;

use crate::cfmt::g;
use crate::error::{Error, Result};
use crate::io::atomic::{Staged, stage};
use crate::io::lab::{FrameScan, LabGeometry};
use crate::io::text::atof;
use crate::setup::Setup;

/// The header block size nanoBragg always writes.
const BLOCK: usize = 512;

/// The values of a nanoBragg SMV header, in the units the header uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SmvHeader {
    /// Pixels along the fast axis (`SIZE1`).
    pub size1: usize,
    /// Pixels along the slow axis (`SIZE2`).
    pub size2: usize,
    /// `PIXEL_SIZE`, mm.
    pub pixel_size_mm: f64,
    /// `DISTANCE`, mm.
    pub distance_mm: f64,
    /// `WAVELENGTH`, Å.
    pub wavelength_a: f64,
    /// `BEAM_CENTER_X`, mm (Xbeam as given or defaulted).
    pub beam_center_x_mm: f64,
    /// `BEAM_CENTER_Y`, mm (Ybeam as given or defaulted).
    pub beam_center_y_mm: f64,
    /// `ADXV_CENTER_X`, mm (Fbeam).
    pub adxv_center_x: f64,
    /// `ADXV_CENTER_Y`, mm (detector height − Sbeam).
    pub adxv_center_y: f64,
    /// `MOSFLM_CENTER_X`, mm (Sbeam − pixel/2).
    pub mosflm_center_x: f64,
    /// `MOSFLM_CENTER_Y`, mm (Fbeam − pixel/2).
    pub mosflm_center_y: f64,
    /// `DENZO_X_BEAM`, mm (Sbeam).
    pub denzo_x_beam: f64,
    /// `DENZO_Y_BEAM`, mm (Fbeam).
    pub denzo_y_beam: f64,
    /// `DIALS_ORIGIN`, mm (x, y, z).
    pub dials_origin: [f64; 3],
    /// `XDS_ORGX`, pixels.
    pub xds_orgx: f64,
    /// `XDS_ORGY`, pixels.
    pub xds_orgy: f64,
    /// `CLOSE_DISTANCE`, mm.
    pub close_distance_mm: f64,
    /// `PHI`, degrees.
    pub phi_deg: f64,
    /// `OSC_START`, degrees.
    pub osc_start_deg: f64,
    /// `OSC_RANGE`, degrees.
    pub osc_range_deg: f64,
    /// `TWOTHETA`, degrees.
    pub twotheta_deg: f64,
    /// `ADC_OFFSET` (the pedestal added to every pixel, which dxtbx subtracts), written before
    /// `DETECTOR_SN` when given; nanoBragg.c does not write it.
    pub adc_offset: Option<f64>,
}

impl SmvHeader {
    /// The header text from `{` to `}` plus the form feed, claiming `header_bytes`.
    fn text(&self, header_bytes: usize) -> String {
        let [ox, oy, oz] = self.dials_origin;
        format!(
            "{{\nHEADER_BYTES={header_bytes};\nDIM=2;\nBYTE_ORDER=little_endian;\n\
             TYPE=unsigned_short;\nSIZE1={};\nSIZE2={};\nPIXEL_SIZE={};\nDISTANCE={};\n\
             WAVELENGTH={};\nBEAM_CENTER_X={};\nBEAM_CENTER_Y={};\nADXV_CENTER_X={};\n\
             ADXV_CENTER_Y={};\nMOSFLM_CENTER_X={};\nMOSFLM_CENTER_Y={};\nDENZO_X_BEAM={};\n\
             DENZO_Y_BEAM={};\nDIALS_ORIGIN={},{},{}\nXDS_ORGX={};\nXDS_ORGY={};\n\
             CLOSE_DISTANCE={};\nPHI={};\nOSC_START={};\nOSC_RANGE={};\nTWOTHETA={};\n\
             {}DETECTOR_SN=000;\nBEAMLINE=fake;\n}}\x0c",
            self.size1,
            self.size2,
            g(self.pixel_size_mm),
            g(self.distance_mm),
            g(self.wavelength_a),
            g(self.beam_center_x_mm),
            g(self.beam_center_y_mm),
            g(self.adxv_center_x),
            g(self.adxv_center_y),
            g(self.mosflm_center_x),
            g(self.mosflm_center_y),
            g(self.denzo_x_beam),
            g(self.denzo_y_beam),
            g(ox),
            g(oy),
            g(oz),
            g(self.xds_orgx),
            g(self.xds_orgy),
            g(self.close_distance_mm),
            g(self.phi_deg),
            g(self.osc_start_deg),
            g(self.osc_range_deg),
            g(self.twotheta_deg),
            self.adc_offset
                .map_or_else(String::new, |adc| format!("ADC_OFFSET={};\n", g(adc))),
        )
    }

    /// The header of one simulated frame. Under `compat` it is nanoBragg.c's, byte for byte.
    /// By default the beam centre and distance are the ones dxtbx needs to place the detector
    /// as simulated (it reads `BEAM_CENTER_X/Y` as ADXV-frame values and adds a pixel), and
    /// `ADC_OFFSET` names the pedestal `adc`.
    pub fn for_frame(setup: &Setup, lab: &LabGeometry, scan: &FrameScan, adc: f64) -> SmvHeader {
        let d = &setup.detector;
        let px = d.pixel_size;
        let [fbeam, sbeam] = d.fbeam_sbeam;
        let mut header = SmvHeader {
            size1: d.fpixels,
            size2: d.spixels,
            pixel_size_mm: px * 1000.0,
            distance_mm: d.distance * 1000.0,
            wavelength_a: lab.wavelength_a,
            beam_center_x_mm: d.beam_center[0] * 1000.0,
            beam_center_y_mm: d.beam_center[1] * 1000.0,
            adxv_center_x: fbeam * 1000.0,
            adxv_center_y: (d.size[1] - sbeam) * 1000.0,
            mosflm_center_x: (sbeam - 0.5 * px) * 1000.0,
            mosflm_center_y: (fbeam - 0.5 * px) * 1000.0,
            denzo_x_beam: sbeam * 1000.0,
            denzo_y_beam: fbeam * 1000.0,
            dials_origin: d.dials_origin,
            xds_orgx: d.org[0],
            xds_orgy: d.org[1],
            close_distance_mm: d.close_distance * 1000.0,
            phi_deg: scan.phi_start_deg,
            osc_start_deg: scan.phi_start_deg,
            osc_range_deg: scan.osc_deg,
            twotheta_deg: d.twotheta.to_degrees(),
            adc_offset: None,
        };
        if !setup.compat {
            let px_mm = lab.pixel_size_mm;
            let [cf, cs] = lab.beam_center_px.map(|p| p * px_mm);
            header.beam_center_x_mm = cf - px_mm;
            header.beam_center_y_mm = lab.size[1] as f64 * px_mm - cs + px_mm;
            header.distance_mm = lab.distance_mm;
            header.adc_offset = Some(adc);
        }
        header
    }

    /// The complete header block: text, form feed and space padding, `HEADER_BYTES` long.
    ///
    /// `HEADER_BYTES` is 512 unless the text is longer, in which case it is the next multiple
    /// of 512 that holds it (nanoBragg would write an unpadded, misaligned header instead).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header_bytes = BLOCK;
        let mut text = self.text(header_bytes);
        // Each round strictly grows `header_bytes`, and a longer number adds at most a digit.
        while text.len() > header_bytes {
            header_bytes = text.len().div_ceil(BLOCK) * BLOCK;
            text = self.text(header_bytes);
        }
        let mut out = text.into_bytes();
        out.resize(header_bytes, b' ');
        out
    }
}

/// Writes an SMV image exactly as nanoBragg's `-intfile`/`-noisefile` (little-endian data),
/// atomically (see [`write_atomic`](crate::io::write_atomic)).
///
/// `data` must hold `size1·size2` pixels, fast index varying fastest; otherwise an
/// [`Error::Io`] of kind `InvalidInput` is returned and nothing is written.
///
/// ```
/// use nanobragg::io::{SmvHeader, read_smv, write_smv};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("image.img");
/// let header = SmvHeader { size1: 3, size2: 2, pixel_size_mm: 0.1, distance_mm: 100.0, ..Default::default() };
/// write_smv(&path, &header, &[0, 1, 2, 3, 4, 65535])?;
/// let image = read_smv(&path)?;
/// assert_eq!((image.size1, image.size2, image.header_bytes), (3, 2, 512));
/// assert_eq!(image.data, [0, 1, 2, 3, 4, 65535]);
/// assert_eq!(image.value("PIXEL_SIZE"), Some(0.1));
/// // nanoBragg's lookup takes the last match: CLOSE_DISTANCE (0 here) also ends in DISTANCE.
/// assert_eq!(image.value("DISTANCE"), Some(0.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_smv(path: &Path, header: &SmvHeader, data: &[u16]) -> Result<()> {
    write_smv_with(path, header, data.len(), |start, out| {
        out.copy_from_slice(&data[start..start + out.len()]);
    })
}

/// Like [`write_smv`], but the `pixels` values are produced while writing: `fill(start, out)`
/// stores pixels `start..start + out.len()` into `out`, in order, a block at a time, so the
/// whole 16-bit image never has to be held in memory.
pub fn write_smv_with(
    path: &Path,
    header: &SmvHeader,
    pixels: usize,
    fill: impl FnMut(usize, &mut [u16]),
) -> Result<()> {
    stage_smv_with(path, header, pixels, fill)?.commit()
}

/// Like [`write_smv_with`], but leaves the file staged (see [`stage`]) for the caller to
/// commit.
pub fn stage_smv_with(
    path: &Path,
    header: &SmvHeader,
    pixels: usize,
    mut fill: impl FnMut(usize, &mut [u16]),
) -> Result<Staged> {
    let expected = header.size1.checked_mul(header.size2);
    if expected != Some(pixels) {
        return Err(Error::invalid_input(
            path,
            format!(
                "{} pixel values for a {}×{} SMV header",
                pixels, header.size1, header.size2
            ),
        ));
    }
    const BLOCK: usize = 1 << 18;
    let block = header.to_bytes();
    stage(path, |w: &mut dyn Write| {
        w.write_all(&block)?;
        let mut values = vec![0u16; BLOCK.min(pixels)];
        let mut buf = vec![0u8; 2 * values.len()];
        let mut start = 0;
        while start < pixels {
            let n = BLOCK.min(pixels - start);
            fill(start, &mut values[..n]);
            let bytes = &mut buf[..2 * n];
            for (b, v) in bytes.chunks_exact_mut(2).zip(&values[..n]) {
                b.copy_from_slice(&v.to_le_bytes());
            }
            w.write_all(bytes)?;
            start += n;
        }
        Ok(())
    })
}

/// An SMV image read by [`read_smv`].
#[derive(Clone, Debug, PartialEq)]
pub struct SmvImage {
    /// The header: the first `header_bytes` bytes up to any NUL, padding included
    /// (invalid UTF-8 replaced by U+FFFD).
    pub header: String,
    /// `HEADER_BYTES`: where the pixel data start.
    pub header_bytes: usize,
    /// Pixels along the fast axis (`SIZE1`, or `DETECTOR_DIMENSIONS`).
    pub size1: usize,
    /// Pixels along the slow axis (`SIZE2`, or `DETECTOR_DIMENSIONS`).
    pub size2: usize,
    /// `size1·size2` pixel values in host order, fast index varying fastest.
    pub data: Vec<u16>,
}

impl SmvImage {
    /// Looks a number up in the header with nanoBragg's `ValueOf` semantics.
    ///
    /// Finds the **last** occurrence of `key` anywhere in the header (so `DISTANCE` also
    /// matches inside a later `CLOSE_DISTANCE`, and `ORGX` inside `XDS_ORGX`), then reads the
    /// number after the next `=` like C `atof` (leading whitespace skipped, longest numeric
    /// prefix, 0 when there is none). Returns `None` when `key` is empty or absent, and
    /// `Some(0.0)` when no `=` follows it, as nanoBragg does.
    pub fn value(&self, key: &str) -> Option<f64> {
        header_value(&self.header, key)
    }
}

/// `ValueOf` on a header string (see [`SmvImage::value`]).
fn header_value(header: &str, key: &str) -> Option<f64> {
    if key.is_empty() {
        return None;
    }
    let mut after = None;
    let mut from = 0;
    while let Some(i) = header.get(from..).and_then(|rest| rest.find(key)) {
        from += i + key.len();
        after = Some(from);
    }
    let rest = &header[after?..];
    Some(match rest.find('=') {
        Some(eq) => atof(&rest.as_bytes()[eq + 1..]),
        None => 0.0,
    })
}

/// The value word of the last line that starts with `key=` (e.g. `TYPE`), if any.
fn line_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .map(|v| {
            v.split([';', ' ', '\t', '\r', '\x0c'])
                .next()
                .unwrap_or("")
                .trim()
        })
}

/// The bytes of `block` up to its first NUL (what C's string functions see).
fn c_string(block: &[u8]) -> &[u8] {
    let end = block.iter().position(|b| *b == 0).unwrap_or(block.len());
    &block[..end]
}

/// Converts a header number to a count, refusing NaN, fractions, negatives and huge values.
fn as_count(v: f64, max: usize) -> Option<usize> {
    (v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v <= max as f64).then_some(v as usize)
}

/// Reads an SMV image (`-img`, `-mask`); see the module documentation for the rules.
///
/// Errors ([`Error::Format`], naming the file): no `{\nHEADER_BYT` at the start, a missing or
/// absurd `HEADER_BYTES` (not a whole number, larger than the file, or too small to hold the
/// header text up to its closing `}`), a `TYPE` other than `unsigned_short`, an unknown
/// `BYTE_ORDER`, missing or absurd sizes, and fewer data bytes than `SIZE1·SIZE2·2`.
///
/// A header without `BYTE_ORDER` is taken as little-endian; bytes after the data are ignored.
pub fn read_smv(path: &Path) -> Result<SmvImage> {
    let bytes = crate::io::read_input(path)?;
    let bad = |reason: String| Error::Format {
        path: path.to_path_buf(),
        reason,
    };

    if !bytes.starts_with(b"{\nHEADER_BYT") {
        return Err(bad(
            "not an SMV (ADSC) image: it must start with \"{\" and a line \"HEADER_BYTES=...\""
                .into(),
        ));
    }
    let first = String::from_utf8_lossy(c_string(&bytes[..bytes.len().min(BLOCK)]));
    let raw_hb = header_value(&first, "HEADER_BYTES").unwrap_or(f64::NAN);
    let header_bytes = as_count(raw_hb, bytes.len()).ok_or_else(|| {
        bad(format!(
            "HEADER_BYTES={} is not a whole number of bytes within the file's {} bytes",
            g(raw_hb),
            bytes.len()
        ))
    })?;
    let text = c_string(&bytes[..header_bytes]);
    if !text.contains(&b'}') {
        let end = bytes
            .iter()
            .take(1 << 20)
            .position(|b| *b == b'}' || *b == 0)
            .filter(|&i| bytes[i] == b'}');
        return Err(bad(match end {
            Some(i) => format!(
                "HEADER_BYTES={header_bytes} is smaller than the header text, which ends at \
                 byte {}; the data would be misaligned",
                i + 1
            ),
            None => format!("no closing '}}' in the {header_bytes}-byte header"),
        }));
    }
    let header = String::from_utf8_lossy(text).into_owned();

    let swap = match line_value(&header, "BYTE_ORDER") {
        None => false,
        Some(v) if v.starts_with("little_endian") => false,
        Some(v) if v.starts_with("big_endian") => true,
        Some(v) => {
            return Err(bad(format!(
                "BYTE_ORDER={v} is neither little_endian nor big_endian"
            )));
        }
    };
    match line_value(&header, "TYPE") {
        Some("unsigned_short") => {}
        Some(v) => {
            return Err(bad(format!(
                "TYPE={v} is not supported: only unsigned_short (16-bit) images can be read"
            )));
        }
        None => {
            return Err(bad(
                "no TYPE in the header: only TYPE=unsigned_short images can be read".into(),
            ));
        }
    }

    let max_side = i32::MAX as usize;
    let size = |key: &str| header_value(&header, key);
    let shown = |v: Option<f64>| v.map_or_else(|| "missing".to_string(), g);
    // The values used and, for the error message, where they come from.
    let (raw1, raw2, source) = match size("SIZE1") {
        Some(s1) if s1 != 0.0 => {
            let s2 = size("SIZE2");
            (s1, s2, format!("SIZE1={} SIZE2={}", g(s1), shown(s2)))
        }
        found => {
            let d = size("DETECTOR_DIMENSIONS");
            let size1 = if found.is_some() {
                "0 or not a number"
            } else {
                "missing"
            };
            (
                d.unwrap_or(f64::NAN),
                d,
                format!(
                    "SIZE1 is {size1} and DETECTOR_DIMENSIONS (used instead) is {}",
                    shown(d)
                ),
            )
        }
    };
    let raw2 = raw2.unwrap_or(f64::NAN);
    let (size1, size2) = match (as_count(raw1, max_side), as_count(raw2, max_side)) {
        (Some(a), Some(b)) if a > 0 && b > 0 => (a, b),
        _ => {
            return Err(bad(format!(
                "image size: {source}; the sizes must be positive whole numbers of pixels"
            )));
        }
    };
    let available = bytes.len() - header_bytes;
    let needed = size1.checked_mul(size2).and_then(|n| n.checked_mul(2));
    let needed = match needed {
        Some(n) if n <= available => n,
        _ => {
            return Err(bad(format!(
                "truncated: {size1}×{size2} 16-bit pixels need {} bytes after the \
                 {header_bytes}-byte header, but the file has {available}",
                (size1 as u128) * (size2 as u128) * 2
            )));
        }
    };
    let data = bytes[header_bytes..header_bytes + needed]
        .chunks_exact(2)
        .map(|c| {
            if swap {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .collect();
    Ok(SmvImage {
        header,
        header_bytes,
        size1,
        size2,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{golden_dir, scratch};
    use proptest::prelude::*;
    use std::path::PathBuf;

    /// The header values of golden case p01_cubic (256², 0.1 mm, 100 mm, 6.2 Å, MOSFLM).
    fn p01_header() -> SmvHeader {
        SmvHeader {
            size1: 256,
            size2: 256,
            pixel_size_mm: 0.1,
            distance_mm: 100.0,
            wavelength_a: 6.2,
            beam_center_x_mm: 12.85,
            beam_center_y_mm: 12.85,
            adxv_center_x: 12.9,
            adxv_center_y: 12.7,
            mosflm_center_x: 12.85,
            mosflm_center_y: 12.85,
            denzo_x_beam: 12.9,
            denzo_y_beam: 12.9,
            dials_origin: [-12.9, 12.9, -100.0],
            xds_orgx: 129.5,
            xds_orgy: 129.5,
            close_distance_mm: 100.0,
            phi_deg: 0.0,
            osc_start_deg: 0.0,
            osc_range_deg: 0.0,
            twotheta_deg: 0.0,
            adc_offset: None,
        }
    }

    #[test]
    fn header_matches_nanobragg_byte_for_byte() {
        let block = p01_header().to_bytes();
        assert_eq!(block.len(), 512);
        let text = String::from_utf8(block.clone()).unwrap();
        assert!(text.starts_with("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\n"));
        assert!(text.contains("\nDIALS_ORIGIN=-12.9,12.9,-100\nXDS_ORGX=129.5;\n"));
        assert!(text.contains("BEAMLINE=fake;\n}\x0c    "));
        assert!(text.ends_with(' '));
        let file = std::fs::read(golden_dir().join("p01_cubic/int.img")).unwrap();
        assert_eq!(
            &file[..512],
            &block[..],
            "differs from nanoBragg's int.img header"
        );
    }

    #[test]
    fn golden_int_image_round_trips_bit_for_bit() {
        let golden = golden_dir().join("p01_cubic/int.img");
        let original = std::fs::read(&golden).unwrap();
        let img = read_smv(&golden).unwrap();
        assert_eq!((img.size1, img.size2, img.header_bytes), (256, 256, 512));
        let dir = scratch("smvgold");
        let out = dir.join("int.img");
        write_smv(&out, &p01_header(), &img.data).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), original);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn value_lookup_has_c_semantics() {
        let dir = scratch("smvvalue");
        let path = dir.join("a.img");
        let mut h = p01_header();
        h.close_distance_mm = 123.5;
        h.size1 = 3;
        h.size2 = 2;
        write_smv(&path, &h, &[1, 2, 3, 4, 5, 65535]).unwrap();
        let img = read_smv(&path).unwrap();
        assert_eq!(img.data, [1, 2, 3, 4, 5, 65535]);
        // DISTANCE matches inside the later CLOSE_DISTANCE, ORGX inside XDS_ORGX.
        assert_eq!(img.value("DISTANCE"), Some(123.5));
        assert_eq!(img.value("ORGX"), Some(129.5));
        assert_eq!(img.value("WAVELENGTH"), Some(6.2));
        assert_eq!(img.value("NOPE"), None);
        assert_eq!(img.value(""), None);
        // BEAMLINE=fake: atof of "fake" is 0; text after the last '=' with no '=' → 0.
        assert_eq!(img.value("BEAMLINE"), Some(0.0));
        assert_eq!(img.value("}"), Some(0.0));
        // DIALS_ORIGIN reads the first of the three numbers.
        assert_eq!(img.value("DIALS_ORIGIN"), Some(-12.9));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn golden_mask_loads() {
        let img = read_smv(&golden_dir().join("inputs/mask.img")).unwrap();
        assert_eq!((img.size1, img.size2, img.header_bytes), (256, 256, 512));
        assert_eq!(img.data.len(), 65536);
        assert_eq!(img.value("PIXEL_SIZE"), Some(0.1));
        assert_eq!(img.value("DISTANCE"), Some(100.0));
        assert_eq!(img.value("BEAM_CENTER_Y"), Some(12.8));
        assert_eq!(img.data[0], 1);
    }

    #[test]
    fn long_header_gets_rounded_up() {
        let mut h = p01_header();
        let long = -1.234_567_8e-300;
        h.dials_origin = [long; 3];
        h.beam_center_x_mm = long;
        h.beam_center_y_mm = long;
        h.adxv_center_x = long;
        h.adxv_center_y = long;
        h.mosflm_center_x = long;
        h.mosflm_center_y = long;
        h.denzo_x_beam = long;
        h.denzo_y_beam = long;
        h.xds_orgx = long;
        h.xds_orgy = long;
        h.phi_deg = long;
        h.osc_start_deg = long;
        h.osc_range_deg = long;
        h.twotheta_deg = long;
        h.size1 = 2;
        h.size2 = 2;
        let block = h.to_bytes();
        assert_eq!(block.len(), 1024);
        assert!(block.starts_with(b"{\nHEADER_BYTES=1024;\n"));
        let dir = scratch("smvlong");
        let path = dir.join("l.img");
        write_smv(&path, &h, &[10, 20, 30, 40]).unwrap();
        let img = read_smv(&path).unwrap();
        assert_eq!(img.header_bytes, 1024);
        assert_eq!(img.data, [10, 20, 30, 40]);
        assert_eq!(img.value("TWOTHETA"), Some(-1.23457e-300));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn non_finite_values_are_written_as_c_does() {
        let mut h = p01_header();
        h.distance_mm = f64::NAN;
        h.phi_deg = f64::NEG_INFINITY;
        let text = String::from_utf8(h.to_bytes()).unwrap();
        assert!(text.contains("\nDISTANCE=nan;\n") && text.contains("\nPHI=-inf;\n"));
    }

    #[test]
    fn wrong_pixel_count_is_refused() {
        let dir = scratch("smvcount");
        let path = dir.join("c.img");
        let err = write_smv(&path, &p01_header(), &[0; 10]).unwrap_err();
        assert!(err.to_string().contains("c.img"), "{err}");
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A hand-made SMV file: `header_lines` between `{` and `}`, padded to `hb`, then `data`.
    fn handmade(dir: &Path, name: &str, header_lines: &str, hb: usize, data: &[u8]) -> PathBuf {
        let mut bytes = format!("{{\n{header_lines}}}\x0c").into_bytes();
        if bytes.len() < hb {
            bytes.resize(hb, b' ');
        }
        bytes.extend_from_slice(data);
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn byte_order_type_and_dimensions() {
        let dir = scratch("smvread");
        let data = [0x01u8, 0x02, 0x03, 0x04];
        let big = handmade(
            &dir,
            "big.img",
            "HEADER_BYTES=512;\nBYTE_ORDER=big_endian;\nTYPE=unsigned_short;\nSIZE1=2;\nSIZE2=1;\n",
            512,
            &data,
        );
        assert_eq!(read_smv(&big).unwrap().data, [0x0102, 0x0304]);
        let little = handmade(
            &dir,
            "little.img",
            "HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1=1;\nSIZE2=2;\n",
            512,
            &data,
        );
        assert_eq!(read_smv(&little).unwrap().data, [0x0201, 0x0403]);
        let dims = handmade(
            &dir,
            "dims.img",
            "HEADER_BYTES=256;\nTYPE=unsigned_short;\nDETECTOR_DIMENSIONS=1;\n",
            256,
            &data,
        );
        let img = read_smv(&dims).unwrap();
        assert_eq!((img.size1, img.size2, img.header_bytes), (1, 1, 256));
        assert_eq!(img.data, [0x0201]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn format_error(path: &Path) -> String {
        match read_smv(path) {
            Err(e @ Error::Format { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
                msg
            }
            other => panic!(
                "expected a format error for {}, got {other:?}",
                path.display()
            ),
        }
    }

    #[test]
    fn malformed_files_are_errors_naming_the_file() {
        let dir = scratch("smvbad");
        let std_lines = "HEADER_BYTES=512;\nTYPE=unsigned_short;\n";
        let cases: Vec<(&str, PathBuf, &str)> = vec![
            (
                "type",
                handmade(
                    &dir,
                    "t.img",
                    "HEADER_BYTES=512;\nTYPE=signed_long;\nSIZE1=1;\nSIZE2=1;\n",
                    512,
                    &[0; 4],
                ),
                "TYPE=signed_long",
            ),
            (
                "truncated",
                handmade(
                    &dir,
                    "tr.img",
                    &format!("{std_lines}SIZE1=4;\nSIZE2=4;\n"),
                    512,
                    &[0; 31],
                ),
                "truncated",
            ),
            (
                "overflow",
                handmade(
                    &dir,
                    "o.img",
                    &format!("{std_lines}SIZE1=2147483647;\nSIZE2=2147483647;\n"),
                    512,
                    &[0; 8],
                ),
                "truncated",
            ),
            (
                "absurd size",
                handmade(
                    &dir,
                    "a.img",
                    &format!("{std_lines}SIZE1=1e30;\nSIZE2=-3;\n"),
                    512,
                    &[0; 8],
                ),
                "SIZE1=1e+30",
            ),
            (
                "no size",
                handmade(&dir, "n.img", std_lines, 512, &[0; 8]),
                "missing",
            ),
            (
                "header too small",
                handmade(
                    &dir,
                    "s.img",
                    "HEADER_BYTES=16;\nTYPE=unsigned_short;\nSIZE1=1;\nSIZE2=1;\n",
                    512,
                    &[0; 8],
                ),
                "smaller than the header text",
            ),
            (
                "header beyond file",
                handmade(
                    &dir,
                    "b.img",
                    "HEADER_BYTES=99999;\nSIZE1=1;\nSIZE2=1;\n",
                    512,
                    &[0; 8],
                ),
                "HEADER_BYTES=99999",
            ),
            (
                "fractional header",
                handmade(
                    &dir,
                    "f.img",
                    "HEADER_BYTES=512.5;\nSIZE1=1;\nSIZE2=1;\n",
                    512,
                    &[0; 8],
                ),
                "HEADER_BYTES=512.5",
            ),
            (
                "byte order",
                handmade(
                    &dir,
                    "bo.img",
                    &format!("{std_lines}BYTE_ORDER=middle_endian;\nSIZE1=1;\nSIZE2=1;\n"),
                    512,
                    &[0; 8],
                ),
                "middle_endian",
            ),
        ];
        for (what, path, needle) in cases {
            let msg = format_error(&path);
            assert!(msg.contains(needle), "{what}: {msg}");
        }
        let not_smv = dir.join("x.img");
        std::fs::write(&not_smv, b"P5\n2 2\n255\n\0\0\0\0").unwrap();
        assert!(format_error(&not_smv).contains("not an SMV"));
        std::fs::write(&not_smv, b"").unwrap();
        format_error(&not_smv);
        assert!(matches!(
            read_smv(&dir.join("missing.img")),
            Err(Error::Io { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn garbage_never_panics(
            tail in proptest::collection::vec(any::<u8>(), 0..700),
            hb in prop_oneof![Just("512".to_string()), "[0-9.e+-]{0,6}"],
        ) {
            let dir = scratch("smvfuzz");
            let path = dir.join("g.img");
            let mut bytes = format!("{{\nHEADER_BYTES={hb};\nTYPE=unsigned_short;\n").into_bytes();
            bytes.extend_from_slice(&tail);
            std::fs::write(&path, &bytes).unwrap();
            let _ = read_smv(&path);
            std::fs::remove_dir_all(dir).unwrap();
        }

        #[test]
        fn value_never_panics(header in "\\PC{0,80}", key in "\\PC{0,6}") {
            let _ = header_value(&header, &key);
        }

        #[test]
        fn write_read_round_trip(
            w in 1usize..20, h in 1usize..20, seed in any::<u16>(), dist in -1e6f64..1e6,
        ) {
            let dir = scratch("smvrt");
            let path = dir.join("r.img");
            let data: Vec<u16> = (0..w * h).map(|i| (i as u16).wrapping_mul(seed)).collect();
            let mut hd = p01_header();
            hd.size1 = w;
            hd.size2 = h;
            hd.close_distance_mm = dist;
            write_smv(&path, &hd, &data).unwrap();
            let img = read_smv(&path).unwrap();
            prop_assert_eq!((img.size1, img.size2), (w, h));
            prop_assert_eq!(&img.data, &data);
            prop_assert_eq!(img.value("CLOSE_DISTANCE"), Some(g(dist).parse::<f64>().unwrap()));
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
