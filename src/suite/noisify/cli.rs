//! `nanobragg noisify`: the command line, the files and the log. The image work is
//! [`super::noisify`]'s.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::pipeline::{Bits, Noisified, NoisifyParams, Pixels, R_E_SQR};
use super::psf::{Psf, PsfKind, PsfReport};
use crate::cfmt::{f_prec, g};
use crate::error::{Error, Result};
use crate::io::SmvImage;
use crate::io::atomic::{Staged, check_writable, stage};
use crate::noise::NoiseMode;
use crate::suite::options::{self, Args, Item, Parsed, Spec};
use crate::suite::smv::{self, SmvType};

const ABOUT: &str = "nanobragg noisify: turn an ideal image (raw float32, photons per pixel) into \
detector images: the noiseless integer image, a PGM preview and the noise image (flicker, \
calibration error, Poisson noise, point-spread function, gain, ADC offset, read-out noise). \
Port of James Holton's noisify.c; -compat reproduces the C program exactly.";

/// Option table: every spelling noisify.c accepts (its `strstr` tests, as prefixes where C
/// matches a shortened name).
const SPECS: &[Spec] = &[
    Spec {
        names: &["-floatfile", "-floatimage", "-bin"],
        prefix: true,
        values: "FILE",
        help: "input image, raw little-endian float32 (an argument containing floatimage.bin also names it)",
    },
    Spec {
        names: &["-header"],
        prefix: true,
        values: "FILE",
        help: "SMV file: its size, pixel, distance and beam centre are used and its header is copied into the outputs",
    },
    Spec {
        names: &["-detpixels"],
        prefix: false,
        values: "N",
        help: "image is N x N pixels (default: from the file length)",
    },
    Spec {
        names: &["-detpixels_x"],
        prefix: true,
        values: "N",
        help: "pixels along x (fast); the other side follows from the file length",
    },
    Spec {
        names: &["-detpixels_y"],
        prefix: true,
        values: "N",
        help: "pixels along y (slow)",
    },
    Spec {
        names: &["-distance"],
        prefix: true,
        values: "MM",
        help: "sample-detector distance (header only; default 100)",
    },
    Spec {
        names: &["-detsize"],
        prefix: false,
        values: "MM",
        help: "detector size (no effect: the size is pixels x pixel size)",
    },
    Spec {
        names: &["-detsize_x"],
        prefix: true,
        values: "MM",
        help: "detector width (no effect)",
    },
    Spec {
        names: &["-detsize_y"],
        prefix: true,
        values: "MM",
        help: "detector height (no effect)",
    },
    Spec {
        names: &["-pixel"],
        prefix: true,
        values: "MM",
        help: "pixel size (header, and the PSF width in pixels; default 0.1)",
    },
    Spec {
        names: &["-Xbeam"],
        prefix: true,
        values: "MM",
        help: "beam centre x (header only; default the detector centre)",
    },
    Spec {
        names: &["-Ybeam"],
        prefix: true,
        values: "MM",
        help: "beam centre y (header only; BEAM_CENTER_Y = height - Ybeam)",
    },
    Spec {
        names: &["-lambda"],
        prefix: true,
        values: "A",
        help: "wavelength (header only; default 1)",
    },
    Spec {
        names: &["-phi"],
        prefix: true,
        values: "DEG",
        help: "spindle start angle (header only; default 0)",
    },
    Spec {
        names: &["-osc"],
        prefix: true,
        values: "DEG",
        help: "oscillation range (header only; default 1)",
    },
    Spec {
        names: &["-fluence"],
        prefix: true,
        values: "PH/M2",
        help: "photons = fluence * r_e^2 * scale * value (default 1.2593e29: fluence * r_e^2 = 1)",
    },
    Spec {
        names: &["-scale"],
        prefix: true,
        values: "S",
        help: "photon scale applied to the input (default 1)",
    },
    Spec {
        names: &["-seed"],
        prefix: true,
        values: "N",
        help: "seed of the noise (default: the clock)",
    },
    Spec {
        names: &["-calibration"],
        prefix: true,
        values: "FRACTION",
        help: "rms calibration error per pixel, a fixed pattern (default 0.03)",
    },
    Spec {
        names: &["-calib_seed"],
        prefix: true,
        values: "N",
        help: "seed of the calibration pattern (default 123456789)",
    },
    Spec {
        names: &["-flicker"],
        prefix: true,
        values: "FRACTION",
        help: "rms beam flicker per pixel (default 0)",
    },
    Spec {
        names: &["-readout", "-readout_noise", "-readnoise", "-readnoi"],
        prefix: true,
        values: "ADU",
        help: "rms read-out noise (default 0)",
    },
    Spec {
        names: &["-badpix_seed"],
        prefix: true,
        values: "N",
        help: "accepted, no effect (as in C)",
    },
    Spec {
        names: &["-hotpix_seed"],
        prefix: true,
        values: "N",
        help: "accepted, no effect (as in C)",
    },
    Spec {
        names: &["-nonoise"],
        prefix: true,
        values: "",
        help: "no noise image: no calibration error, flicker or read-out noise",
    },
    Spec {
        names: &["-gain"],
        prefix: true,
        values: "ADU/PHOTON",
        help: "quantum gain (default 1)",
    },
    Spec {
        names: &["-adc", "-adcoffset"],
        prefix: true,
        values: "ADU",
        help: "ADC offset added to every pixel (default 40)",
    },
    Spec {
        names: &["-bits"],
        prefix: true,
        values: "16|32",
        help: "bits per pixel of the SMV images (default 16)",
    },
    Spec {
        names: &["-psf"],
        prefix: false,
        values: "gauss|fiber",
        help: "point-spread function (Gaussian or fibre-optic), applied to the photon counts",
    },
    Spec {
        names: &[
            "-psf_fwhm",
            "-psf_fw",
            "-psf_size",
            "-psf_si",
            "-psf_width",
            "-psf_wi",
        ],
        prefix: true,
        values: "UM",
        help: "PSF full width at half maximum (default 46)",
    },
    Spec {
        names: &["-psf_radius", "-psf_rad"],
        prefix: true,
        values: "PIXELS",
        help: "PSF rendering radius (default 0: automatic, from each pixel's photons)",
    },
    Spec {
        names: &["-intfile", "-intimage"],
        prefix: true,
        values: "FILE",
        help: "noiseless SMV image (default intimage.img)",
    },
    Spec {
        names: &["-noisefile", "-noiseimage"],
        prefix: true,
        values: "FILE",
        help: "noise SMV image (default noiseimage.img)",
    },
    Spec {
        names: &["-pgmfile", "-pgmimage"],
        prefix: true,
        values: "FILE",
        help: "PGM of the noiseless image, clipped at 255 (default image.pgm)",
    },
    Spec {
        names: &["-nopgm"],
        prefix: true,
        values: "",
        help: "no PGM",
    },
    Spec {
        names: &["-compat"],
        prefix: false,
        values: "",
        help: "reproduce noisify.c exactly (serial random numbers, C's quirks)",
    },
];

/// `-bits` as given.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Depth {
    Bits(Bits),
    /// Another value, accepted with `-compat` only: C then writes a header without its first
    /// lines and no pixels.
    Other(i64),
}

/// The PSF options.
#[derive(Clone, Copy, Debug)]
struct PsfOptions {
    kind: Option<PsfKind>,
    /// The FWHM in metres, as C stores it (`float`).
    fwhm: f32,
    radius: usize,
}

/// The header-only geometry, as C holds it (metres, Å, degrees).
#[derive(Clone, Copy, Debug)]
struct Geometry {
    distance: f64,
    pixel: f64,
    xbeam: Option<f64>,
    ybeam: Option<f64>,
    lambda: f64,
    phi: f64,
    osc: f64,
}

/// A parsed command line.
#[derive(Debug)]
struct Command {
    params: NoisifyParams,
    input: PathBuf,
    header: Option<PathBuf>,
    /// `-detpixels`, `-detpixels_x/_y` in command-line order: `(x, y)`, `None` for unchanged.
    sizes: Vec<(Option<usize>, Option<usize>)>,
    geometry: Geometry,
    psf: PsfOptions,
    depth: Depth,
    int_file: PathBuf,
    noise_file: PathBuf,
    pgm_file: Option<PathBuf>,
    /// Lines C prints while parsing, before its banner.
    early: Vec<String>,
}

/// The value of a number option, or its default.
fn number(args: &Args, name: &str, default: f64) -> Result<f64> {
    Ok(args.number(name)?.unwrap_or(default))
}

/// The single value of `item` as a whole number (C `atoi`, but strict).
fn integer(item: &Item) -> Result<i64> {
    let v = &item.values[0];
    v.trim()
        .parse::<i64>()
        .map_err(|_| Error::usage(&item.typed, format!("expected a whole number, got '{v}'")))
}

/// The single value of `item` as a count of at least 1.
fn positive_count(item: &Item) -> Result<usize> {
    match item.count(0)? {
        0 => Err(Error::usage(&item.typed, "must be at least 1")),
        n => Ok(n),
    }
}

fn seconds_since_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as i64)
}

fn parse(args: &Args) -> Result<Command> {
    let compat = args.has("-compat");
    let mode = if compat {
        NoiseMode::Compat
    } else {
        NoiseMode::Counter
    };
    let mut early = Vec::new();

    // The input: -floatfile, or an argument containing "floatimage.bin" (NZ1).
    let mut positional = None;
    for arg in &args.positional {
        if !arg.contains("floatimage.bin") {
            return Err(Error::usage(
                arg,
                "unexpected argument; name the input with -floatfile FILE (a file name \
                 containing floatimage.bin may also stand alone)",
            ));
        }
        if positional.is_some() {
            return Err(Error::usage(arg, "a second input image; give one"));
        }
        positional = Some(PathBuf::from(arg));
    }
    let input = match (positional, args.text("-floatfile")) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "-floatfile",
                "the input is named twice (also by an argument containing floatimage.bin)",
            ));
        }
        (Some(p), None) => p,
        (None, Some(f)) => PathBuf::from(f),
        (None, None) => {
            return Err(Error::usage(
                "-floatfile",
                "no input image: give -floatfile FILE (raw float32, photons per pixel)",
            ));
        }
    };

    let mut sizes = Vec::new();
    for item in &args.items {
        match item.name {
            "-detpixels" => {
                let n = positive_count(item)?;
                sizes.push((Some(n), Some(n)));
            }
            "-detpixels_x" => sizes.push((Some(positive_count(item)?), None)),
            "-detpixels_y" => sizes.push((None, Some(positive_count(item)?))),
            _ => {}
        }
    }
    // Parsed for their errors only (C ignores them but for the header it never writes).
    for name in ["-detsize", "-detsize_x", "-detsize_y"] {
        args.number(name)?;
    }
    for name in ["-badpix_seed", "-hotpix_seed"] {
        if let Some(item) = args.last(name) {
            integer(item)?;
        }
    }

    let pixel = number(args, "-pixel", 0.1)? / 1000.0;
    if pixel <= 0.0 {
        return Err(Error::usage("-pixel", "the pixel size must be positive"));
    }
    let geometry = Geometry {
        distance: number(args, "-distance", 100.0)? / 1000.0,
        pixel,
        xbeam: args.number("-Xbeam")?.map(|v| v / 1000.0),
        ybeam: args.number("-Ybeam")?.map(|v| v / 1000.0),
        lambda: number(args, "-lambda", 1.0)?,
        phi: number(args, "-phi", 0.0)?,
        osc: number(args, "-osc", 1.0)?,
    };

    let kind = match args.text("-psf") {
        None => None,
        // C tests "gauss", then "fiber": the later match wins.
        Some(t) if t.contains("fiber") => Some(PsfKind::Fiber),
        Some(t) if t.contains("gauss") => Some(PsfKind::Gauss),
        Some(t) if compat => {
            early.push(format!("WARNING: unknown psf type: {t}"));
            None
        }
        Some(t) => {
            return Err(Error::usage(
                "-psf",
                format!("unknown point-spread function '{t}'; use gauss or fiber"),
            ));
        }
    };
    let fwhm_um = number(args, "-psf_fwhm", 46.0)?;
    let radius = number(args, "-psf_radius", 0.0)?;
    if radius < 0.0 {
        return Err(Error::usage(
            "-psf_radius",
            "the radius must be 0 (automatic) or more pixels",
        ));
    }
    if kind.is_some() && fwhm_um <= 0.0 && !compat {
        return Err(Error::usage(
            "-psf_fwhm",
            "the PSF width must be positive (C would skip the PSF silently)",
        ));
    }
    let psf = PsfOptions {
        kind,
        fwhm: (fwhm_um / 1e6) as f32,
        // C: `psf_radius = atof(…)` into an int.
        radius: radius.min(i32::MAX as f64) as usize,
    };

    let depth = match args.last("-bits") {
        None => Depth::Bits(Bits::Sixteen),
        Some(item) => match integer(item)? {
            16 => Depth::Bits(Bits::Sixteen),
            32 => Depth::Bits(Bits::ThirtyTwo),
            n if compat => Depth::Other(n),
            n => {
                return Err(Error::usage(
                    &item.typed,
                    format!("{n} bits: the SMV images have 16 or 32 bits per pixel"),
                ));
            }
        },
    };

    let seed = match args.last("-seed") {
        Some(item) => integer(item)?,
        None => seconds_since_epoch(),
    };
    let calib_seed = args.last("-calib_seed").map(integer).transpose()?;
    let noise = !args.has("-nonoise");
    let params = NoisifyParams {
        fluence: number(args, "-fluence", super::UNIT_FLUENCE)?,
        scale: number(args, "-scale", 1.0)?,
        noise,
        seed,
        calib_seed,
        flicker: if noise {
            number(args, "-flicker", 0.0)?
        } else {
            0.0
        },
        calibration: if noise {
            number(args, "-calibration", 0.03)?
        } else {
            0.0
        },
        readout: if noise {
            number(args, "-readout", 0.0)?
        } else {
            0.0
        },
        gain: number(args, "-gain", 1.0)?,
        adc: number(args, "-adc", 40.0)?,
        bits: match depth {
            Depth::Bits(b) => b,
            Depth::Other(_) => Bits::Sixteen,
        },
        psf: None,
        pgm: !args.has("-nopgm"),
        mode,
    };
    let file = |name: &str, default: &str| PathBuf::from(args.text(name).unwrap_or(default));
    Ok(Command {
        input,
        header: args.text("-header").map(PathBuf::from),
        sizes,
        geometry,
        psf,
        depth,
        int_file: file("-intfile", "intimage.img"),
        noise_file: file("-noisefile", "noiseimage.img"),
        pgm_file: params.pgm.then(|| file("-pgmfile", "image.pgm")),
        params,
        early,
    })
}

/// Read a raw little-endian float32 image, as [`crate::io::read_float_image`] does (same
/// errors), but straight into the floats: the file is read in blocks, not held whole as bytes.
fn read_floats(path: &Path) -> Result<Vec<f32>> {
    use std::io::Read;
    let os_error = |e| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(os_error)?;
    let meta = file.metadata().map_err(os_error)?;
    if !meta.is_file() {
        // Devices, pipes and the like: the shared reader knows what to refuse.
        return crate::io::read_float_image(path);
    }
    let bad_length = |len: u64| Error::Format {
        path: path.to_path_buf(),
        reason: format!(
            "{len} bytes is not a whole number of 4-byte floats (truncated or not a float image)"
        ),
    };
    if meta.len() % 4 != 0 {
        return Err(bad_length(meta.len()));
    }
    let mut out = Vec::new();
    // The length is a hint; a failed reservation only means growing in steps.
    let _ = out.try_reserve_exact(usize::try_from(meta.len() / 4).unwrap_or(0));
    let mut buf = vec![0u8; 1 << 16];
    let mut kept = 0;
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf[kept..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(os_error(e)),
        };
        total += n as u64;
        let have = kept + n;
        let whole = have / 4 * 4;
        let start = out.len();
        out.resize(start + whole / 4, 0.0);
        for (o, b) in out[start..].iter_mut().zip(buf[..whole].chunks_exact(4)) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        buf.copy_within(whole..have, 0);
        kept = have - whole;
    }
    if kept != 0 {
        return Err(bad_length(total));
    }
    Ok(out)
}

/// An SMV header to take geometry from and copy (`-header`).
struct HeaderFile {
    /// The first `HEADER_BYTES` bytes, verbatim.
    block: Vec<u8>,
    /// The same as text, for `ValueOf`-style look-ups.
    smv: SmvImage,
}

impl HeaderFile {
    /// Read the header of `path` as C's `GetFrame` does: the file must start like an ADSC
    /// header and hold `HEADER_BYTES` bytes; the pixels are not needed.
    fn read(path: &Path) -> Result<HeaderFile> {
        let bytes = crate::io::read_input(path)?;
        let bad = |reason: String| Error::Format {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() < 512 || !bytes.starts_with(b"{\nHEADER_BYT") {
            return Err(bad(
                "does not look like an SMV (ADSC) image: it must start with \"{\" and \
                 \"HEADER_BYTES=\" and hold at least 512 bytes"
                    .into(),
            ));
        }
        let text = |block: &[u8]| {
            let end = block.iter().position(|&b| b == 0).unwrap_or(block.len());
            String::from_utf8_lossy(&block[..end]).into_owned()
        };
        let first = SmvImage {
            header: text(&bytes[..512]),
            header_bytes: 512,
            size1: 0,
            size2: 0,
            data: Vec::new(),
        };
        let size = first.value("HEADER_BYTES").unwrap_or(f64::NAN);
        if !(size >= 1.0 && size <= bytes.len() as f64 && size.fract() == 0.0) {
            return Err(bad(format!(
                "HEADER_BYTES={} is not a whole number of bytes within the file's {} bytes",
                g(size),
                bytes.len()
            )));
        }
        let size = size as usize;
        let block = bytes[..size].to_vec();
        let smv = SmvImage {
            header: text(&block),
            header_bytes: size,
            ..first
        };
        Ok(HeaderFile { block, smv })
    }

    /// `SIZE1 × SIZE2` (or `DETECTOR_DIMENSIONS`), checked.
    fn size(&self, path: &Path) -> Result<(usize, usize)> {
        let count = |key: &str| {
            self.smv
                .value(key)
                .filter(|v| *v >= 1.0 && *v <= 1e9 && v.fract() == 0.0)
                .map(|v| v as usize)
        };
        let size = match (count("SIZE1"), count("SIZE2")) {
            (Some(w), Some(h)) => Some((w, h)),
            _ => count("DETECTOR_DIMENSIONS").map(|n| (n, n)),
        };
        size.ok_or_else(|| Error::Format {
            path: path.to_path_buf(),
            reason: "no usable SIZE1 and SIZE2 (or DETECTOR_DIMENSIONS) in the header".into(),
        })
    }
}

/// Replace the value of the header line `KEY=…;` in `block`, keeping its length (the space
/// padding after the header text absorbs the difference). Returns whether it could.
fn set_header_value(block: &mut Vec<u8>, key: &str, value: &str) -> bool {
    let needle = format!("\n{key}=");
    let Some(at) = block
        .windows(needle.len())
        .rposition(|w| w == needle.as_bytes())
    else {
        return false;
    };
    let start = at + needle.len();
    let Some(len) = block[start..].iter().position(|&b| b == b';' || b == b'\n') else {
        return false;
    };
    if &block[start..start + len] == value.as_bytes() {
        return true;
    }
    let size = block.len();
    let mut out = Vec::with_capacity(size + value.len());
    out.extend_from_slice(&block[..start]);
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&block[start + len..]);
    if out.len() > size {
        if !out[size..].iter().all(|&b| b == b' ') {
            return false;
        }
        out.truncate(size);
    } else {
        out.resize(size, b' ');
    }
    *block = out;
    true
}

/// Size, geometry and pixel count, resolved as C does; the lines C prints on the way.
struct Layout {
    width: usize,
    height: usize,
    geometry: Geometry,
    guessed: bool,
}

/// The largest divisor of `n` not above its square root (C's guess, NZ9).
fn c_guess(n: usize) -> (usize, usize) {
    let mut x = (n as f64).sqrt() as usize;
    while x > 1 && n % x != 0 {
        x -= 1;
    }
    let x = x.max(1);
    (x, n / x)
}

fn layout(
    cmd: &Command,
    values: usize,
    header: Option<&HeaderFile>,
    compat: bool,
) -> Result<Layout> {
    let mut geometry = cmd.geometry;
    let input = cmd.input.display();
    if values == 0 {
        return Err(Error::Format {
            path: cmd.input.clone(),
            reason: "holds no pixels".into(),
        });
    }
    let (mut x, mut y) = (0, 0);
    for &(sx, sy) in &cmd.sizes {
        x = sx.unwrap_or(x);
        y = sy.unwrap_or(y);
    }
    if let (Some(h), Some(path)) = (header, cmd.header.as_deref()) {
        (x, y) = h.size(path)?;
        if let Some(v) = h.smv.value("PIXEL_SIZE") {
            geometry.pixel = v / 1000.0;
        }
        if !(geometry.pixel > 0.0 && geometry.pixel.is_finite()) {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "PIXEL_SIZE={} is not a positive size",
                    g(geometry.pixel * 1e3)
                ),
            });
        }
        if let Some(v) = h.smv.value("DISTANCE") {
            geometry.distance = v / 1000.0;
        }
        if let Some(v) = h.smv.value("BEAM_CENTER_X") {
            geometry.xbeam = Some(v / 1000.0);
        }
        if let Some(v) = h.smv.value("BEAM_CENTER_Y") {
            geometry.ybeam = Some(geometry.pixel * y as f64 - v / 1000.0);
        }
    }
    let guessed = x == 0 && y == 0;
    if guessed {
        let root = (values as f64).sqrt().round() as usize;
        if root * root == values {
            (x, y) = (root, root);
        } else if compat {
            (x, y) = c_guess(values);
        } else {
            let (cx, cy) = c_guess(values);
            return Err(Error::usage(
                "-detpixels",
                format!(
                    "{input} holds {values} pixels, not a square number: give the size with \
                     -detpixels_x and -detpixels_y (C would guess {cx}x{cy})"
                ),
            ));
        }
    } else if x == 0 || y == 0 {
        let given = x.max(y);
        if values % given != 0 {
            return Err(Error::Format {
                path: cmd.input.clone(),
                reason: format!(
                    "holds {values} pixels, not a whole number of rows of {given}; check \
                     -detpixels_x/-detpixels_y"
                ),
            });
        }
        // The other side follows from the pixel count.
        let other = values / given;
        if x == 0 {
            x = other;
        } else {
            y = other;
        }
    }
    if x.checked_mul(y) != Some(values) {
        let from = if header.is_some() {
            "the header's SIZE1 x SIZE2"
        } else {
            "the -detpixels options"
        };
        return Err(Error::Format {
            path: cmd.input.clone(),
            reason: format!(
                "holds {values} pixels, but {from} make {x}x{y} = {} pixels",
                x as u128 * y as u128
            ),
        });
    }
    Ok(Layout {
        width: x,
        height: y,
        geometry,
        guessed,
    })
}

/// Write `text` to the log.
fn say(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("standard output", e))
}

/// The SMV header block of the outputs.
fn smv_header(cmd: &Command, lay: &Layout, header: Option<&HeaderFile>, compat: bool) -> Vec<u8> {
    if let Some(h) = header {
        let mut block = h.block.clone();
        if !compat {
            // NZ7: the copied header must describe the pixels that follow.
            let ty = match cmd.depth {
                Depth::Bits(Bits::ThirtyTwo) => "long_integer",
                _ => "unsigned_short",
            };
            set_header_value(&mut block, "TYPE", ty);
            set_header_value(&mut block, "BYTE_ORDER", "little_endian");
        }
        return block;
    }
    let geo = &lay.geometry;
    let detsize_y = geo.pixel * lay.height as f64;
    let xbeam = geo.xbeam.unwrap_or(geo.pixel * lay.width as f64 / 2.0);
    let ybeam = geo.ybeam.unwrap_or(detsize_y / 2.0);
    let fields = [
        ("SIZE1", lay.width.to_string()),
        ("SIZE2", lay.height.to_string()),
        ("PIXEL_SIZE", g(geo.pixel * 1000.0)),
        ("DISTANCE", g(geo.distance * 1000.0)),
        ("WAVELENGTH", g(geo.lambda)),
        ("BEAM_CENTER_X", g(xbeam * 1000.0)),
        ("BEAM_CENTER_Y", g((detsize_y - ybeam) * 1000.0)),
        ("PHI", g(geo.phi)),
        ("OSC_START", g(geo.phi)),
        ("OSC_RANGE", g(geo.osc)),
        ("DETECTOR_SN", "000".into()),
        ("BEAMLINE", "fake".into()),
    ];
    match cmd.depth {
        Depth::Bits(Bits::Sixteen) => smv::header(SmvType::UnsignedShort, &fields),
        Depth::Bits(Bits::ThirtyTwo) => smv::header(SmvType::LongInteger, &fields),
        Depth::Other(_) => {
            // C prints only the keys after TYPE, then pads to 512 bytes (NZ7).
            let mut text: Vec<u8> = fields
                .iter()
                .map(|(k, v)| format!("{k}={v};\n"))
                .collect::<String>()
                .into_bytes();
            text.extend_from_slice(b"}\x0c");
            if text.len() < 512 {
                text.resize(512, b' ');
            }
            text
        }
    }
}

/// Stage one SMV image: `header`, then the pixels little-endian (none for a `-bits` other
/// than 16 and 32, as C).
fn stage_smv(
    path: &Path,
    header: &[u8],
    lay: &Layout,
    pixels: &Pixels,
    depth: Depth,
) -> Result<Staged> {
    if pixels.len() != lay.width * lay.height {
        let reason = format!(
            "{} pixel values for a {}×{} image",
            pixels.len(),
            lay.width,
            lay.height
        );
        return Err(Error::invalid_input(path, reason));
    }
    match (depth, pixels) {
        (Depth::Other(_), _) => stage(path, |w| w.write_all(header)),
        (_, Pixels::U16(v)) => stage_le(path, header, v, u16::to_le_bytes),
        (_, Pixels::U32(v)) => stage_le(path, header, v, u32::to_le_bytes),
    }
}

/// Stage `header` and `values` as `N`-byte little-endian numbers, converted a block at a time
/// (a loop the compiler vectorises; [`smv::stage_image`] writes the same bytes).
fn stage_le<T: Copy, const N: usize>(
    path: &Path,
    header: &[u8],
    values: &[T],
    to_le: impl Fn(T) -> [u8; N],
) -> Result<Staged> {
    const BLOCK: usize = 1 << 15;
    stage(path, |w| {
        w.write_all(header)?;
        let mut buf = vec![0u8; N * BLOCK.min(values.len())];
        for block in values.chunks(BLOCK) {
            let bytes = &mut buf[..N * block.len()];
            for (b, &v) in bytes.chunks_exact_mut(N).zip(block) {
                b.copy_from_slice(&to_le(v));
            }
            w.write_all(bytes)?;
        }
        Ok(())
    })
}

/// The lines of C's `apply_psf`.
fn psf_lines(r: &PsfReport) -> String {
    let mut s = String::new();
    if let Some(max) = r.max_photons {
        s += &format!("  maximum input photon/pixel: {}\n", g(max));
        if r.lost.is_none() {
            return s + "WARNING: no photons, PSF skipped\n";
        }
        if let Some(radius) = r.auto_radius {
            s += &format!("  auto-selected psf_radius = {radius} pixels\n");
        }
    }
    if let Some(lost) = r.lost {
        s += &format!("adding back {} lost photons\n", g(lost));
    }
    s
}

/// `nanobragg noisify ARGS…`.
pub fn main(argv: &[String], out: &mut dyn Write) -> Result<()> {
    let args = match options::parse("noisify", ABOUT, argv, SPECS)? {
        Parsed::Help(text) => return say(out, &text),
        Parsed::Run(args) => args,
    };
    let mut cmd = parse(&args)?;
    let compat = cmd.params.mode == NoiseMode::Compat;
    let header = cmd.header.as_deref().map(HeaderFile::read).transpose()?;
    let float = read_floats(&cmd.input)?;
    let lay = layout(&cmd, float.len(), header.as_ref(), compat)?;
    let geo = lay.geometry;
    let psf_on = cmd.psf.kind.is_some();
    cmd.params.psf = cmd.psf.kind.map(|kind| Psf {
        kind,
        fwhm: f64::from(cmd.psf.fwhm) / geo.pixel,
        radius: cmd.psf.radius,
    });
    let p = &cmd.params;

    // Every output must be writable before the work starts.
    let noise_out = p.noise;
    check_writable(&cmd.int_file)?;
    if let Some(pgm) = &cmd.pgm_file {
        check_writable(pgm)?;
    }
    if noise_out {
        check_writable(&cmd.noise_file)?;
    }

    let mut log = String::new();
    for line in &cmd.early {
        log += line;
        log.push('\n');
    }
    log += "noisify - add noise to pixels - James Holton 3-19-16\n";
    if let Some(path) = &cmd.header {
        log += &format!("taking header from {0}\nreading {0}\n", path.display());
    }
    if lay.guessed {
        log += "WARNING: guessing xy pixel dimensions.\n";
    }
    let input = cmd.input.display();
    let (w, h) = (lay.width, lay.height);
    let (detsize_x, detsize_y) = (geo.pixel * w as f64, geo.pixel * h as f64);
    log += &format!("importing {} pixel intensites: {input}\n", w * h);
    log += &format!(
        "  distance={} detsize={}x{}  pixel={} meters ({w}x{h} pixels)\n",
        g(geo.distance),
        g(detsize_x),
        g(detsize_y),
        g(geo.pixel)
    );
    log += &format!(
        "  Xbeam={} Ybeam={}\n",
        g(geo.xbeam.unwrap_or(detsize_x / 2.0)),
        g(geo.ybeam.unwrap_or(detsize_y / 2.0))
    );
    let fwhm_um = f64::from(cmd.psf.fwhm) * 1e6;
    match cmd.psf.kind {
        Some(PsfKind::Gauss) => log += &format!("  Gaussian PSF fwhm = {} um ", g(fwhm_um)),
        Some(PsfKind::Fiber) => log += &format!("  fiber PSF fwhm = {} um ", g(fwhm_um)),
        None => {}
    }
    if psf_on {
        if cmd.psf.radius == 0 {
            log += "  with automatic rendering radius\n";
        }
        log += &format!("  with rendering radius: {}\n", cmd.psf.radius);
    }
    log += &format!("  seed: {}\n", p.seed.wrapping_neg());
    log += &format!("  calibration noise seed: {}\n", p.calib_seed_c());
    log += &format!("  calibration_noise = {} %\n", g(p.calibration * 100.0));
    log += &format!("  input file scale = {}\n", g(p.scale));
    log += &format!("  readout_noise = {} ADU\n", g(p.readout));
    log += &format!("  flicker_noise = {} %\n", g(p.flicker * 100.0));
    log += &format!("  quantum_gain = {} ADU/photon\n", g(p.gain));
    log += &format!("  adc_offset = {} ADU\n\n", g(p.adc));
    say(out, &log)?;
    log.clear();

    let negatives: Vec<f32> = float.iter().copied().filter(|&v| v < 0.0).collect();
    if compat {
        for v in &negatives {
            log += &format!(
                "WARNING: negative intensity in {input}: {}\n",
                g(f64::from(*v))
            );
        }
    } else if let Some(lowest) = negatives.iter().copied().reduce(f32::min) {
        log += &format!(
            "WARNING: {} negative intensities in {input} (lowest {})\n",
            negatives.len(),
            g(f64::from(lowest))
        );
    }

    let result: Noisified = super::noisify(&float, w, h, p)?;
    drop(float);
    let report = &result.report;
    let max = report.max_value;
    log += &format!(
        "maximum value in input file: {} ( {} on photon scale)\n",
        g(max),
        g(max * p.scale * p.fluence * R_E_SQR)
    );
    if let Some(r) = &report.noiseless_psf {
        log += &format!(
            "  applying PSF to noiseless image width = {} pixels\n",
            g(f64::from(cmd.psf.fwhm) / geo.pixel)
        );
        log += &psf_lines(r);
    }

    let header_block = smv_header(&cmd, &lay, header.as_ref(), compat);
    let bytes = match cmd.depth {
        Depth::Bits(Bits::Sixteen) => Some(2),
        Depth::Bits(Bits::ThirtyTwo) => Some(4),
        Depth::Other(_) => None,
    };
    let mut staged = Vec::new();
    if let Some(b) = bytes {
        log += &format!(
            "writing {} as {} {b}-byte integers\n",
            cmd.int_file.display(),
            w * h
        );
    }
    staged.push(stage_smv(
        &cmd.int_file,
        &header_block,
        &lay,
        &result.int_image,
        cmd.depth,
    )?);
    if let (Some(path), Some(pgm)) = (&cmd.pgm_file, &result.pgm) {
        log += &format!("writing {} as 1-byte integers\n", path.display());
        staged.push(crate::io::pgm::stage_pgm_with(
            path,
            w,
            h,
            1.0,
            |start, buf| {
                buf.copy_from_slice(&pgm[start..start + buf.len()]);
            },
        )?);
    }
    if let Some(noise) = &result.noise_image {
        if let Some(r) = &report.noise_psf {
            log += &format!(
                "{} photons on noise image before PSF\n",
                f_prec(report.photons_before_psf, 0)
            );
            log += &format!("  applying PSF width = {} um\n", g(fwhm_um));
            log += &psf_lines(r);
        }
        let overloads = if bytes.is_some() { report.overloads } else { 0 };
        log += &format!(
            "{} photons on noise image ({overloads} overloads)\n",
            f_prec(report.photons, 0)
        );
        if let Some(b) = bytes {
            log += &format!(
                "writing {} as {b}-byte integers\n",
                cmd.noise_file.display()
            );
        }
        staged.push(stage_smv(
            &cmd.noise_file,
            &header_block,
            &lay,
            noise,
            cmd.depth,
        )?);
    }
    for s in staged {
        s.commit()?;
    }
    say(out, &log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::noisify::DEFAULT_CALIB_SEED;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn parsed(line: &str) -> Result<Command> {
        match options::parse("noisify", ABOUT, &argv(line), SPECS)? {
            Parsed::Run(a) => parse(&a),
            Parsed::Help(_) => panic!("help"),
        }
    }

    #[test]
    fn spellings_reach_their_options() {
        let c = parsed(
            "my_floatimage.bin -psf_fw 30 -psf gaussian -readnoise 2 -psf_rad 4.7 -adcoffset 12 \
             -noiseimage n.img -intimage i.img -pgmimage p.pgm -seed 5 -calib_seed 9 -bits 32",
        )
        .unwrap();
        assert_eq!(c.input, PathBuf::from("my_floatimage.bin"));
        assert_eq!(c.psf.kind, Some(PsfKind::Gauss));
        assert_eq!(c.psf.fwhm, 30e-6f32);
        assert_eq!(c.psf.radius, 4);
        assert_eq!(c.params.readout, 2.0);
        assert_eq!(c.params.adc, 12.0);
        assert_eq!(c.params.seed, 5);
        assert_eq!(c.params.calib_seed, Some(9));
        assert_eq!(c.params.calib_seed_c(), -9);
        assert_eq!(c.depth, Depth::Bits(Bits::ThirtyTwo));
        assert_eq!(
            (c.int_file, c.noise_file, c.pgm_file),
            ("i.img".into(), "n.img".into(), Some("p.pgm".into()))
        );
        let c = parsed("-bin x.bin -nonoise -nopgm -readout 3 -calibration 0.2").unwrap();
        assert!(!c.params.noise && c.pgm_file.is_none());
        assert_eq!((c.params.readout, c.params.calibration), (0.0, 0.0));
        assert_eq!(c.params.calib_seed_c(), DEFAULT_CALIB_SEED);
        let c = parsed("-floatfile x.bin -detpixels_x 160 -detpixels 7 -detpixels_y 96").unwrap();
        assert_eq!(
            c.sizes,
            [(Some(160), None), (Some(7), Some(7)), (None, Some(96))]
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for (line, needle) in [
            ("-floatfile x.bin -bits 8", "16 or 32"),
            ("-floatfile x.bin -psf airy", "unknown point-spread"),
            ("-floatfile x.bin -psf", "needs 1 value"),
            (
                "-floatfile x.bin -psf gauss -psf_fwhm 0",
                "must be positive",
            ),
            ("-floatfile x.bin -psf_radius -1", "radius"),
            ("-floatfile x.bin -seed 1.5", "whole number"),
            ("-floatfile x.bin -detpixels 0", "at least 1"),
            ("-floatfile x.bin -pixel 0", "positive"),
            ("-floatfile x.bin -scale abc", "finite number"),
            ("-floatfile x.bin stray", "unexpected argument"),
            ("a_floatimage.bin -floatfile x.bin", "named twice"),
            ("-seed 4", "no input image"),
            (
                "-floatfile x.bin -noisefle n.img",
                "did you mean -noisefile",
            ),
        ] {
            let e = parsed(line)
                .err()
                .unwrap_or_else(|| panic!("{line}: accepted"));
            assert_eq!(e.exit_code(), 2, "{line}: {e}");
            assert!(e.to_string().contains(needle), "{line}: {e}");
        }
        // -compat accepts what C accepts.
        let c = parsed("-floatfile x.bin -bits 8 -psf airy -compat").unwrap();
        assert_eq!(c.depth, Depth::Other(8));
        assert_eq!(c.psf.kind, None);
        assert_eq!(c.early, ["WARNING: unknown psf type: airy"]);
    }

    #[test]
    fn size_rules() {
        let cmd = |line: &str| parsed(&format!("-floatfile x.bin {line}")).unwrap();
        let lay = |line: &str, n: usize, compat: bool| {
            layout(&cmd(line), n, None, compat).map(|l| (l.width, l.height, l.guessed))
        };
        assert_eq!(lay("", 16384, false).unwrap(), (128, 128, true));
        assert_eq!(lay("", 15360, true).unwrap(), (120, 128, true), "NZ9");
        let e = lay("", 15360, false).unwrap_err();
        assert!(
            e.to_string().contains("-detpixels_x") && e.exit_code() == 2,
            "{e}"
        );
        assert_eq!(
            lay("-detpixels_x 160", 15360, false).unwrap(),
            (160, 96, false)
        );
        assert_eq!(
            lay("-detpixels_y 96", 15360, false).unwrap(),
            (160, 96, false)
        );
        assert!(lay("-detpixels_x 7", 15360, false).is_err());
        assert!(lay("-detpixels 100", 15360, false).is_err());
        assert!(lay("", 0, true).is_err());
        assert_eq!(c_guess(7), (1, 7));
        assert_eq!(c_guess(12), (3, 4));
    }

    #[test]
    fn header_values_are_rewritten_in_place() {
        let mut block = smv::header(SmvType::UnsignedShort, &[("SIZE1", "4".into())]);
        assert!(set_header_value(&mut block, "TYPE", "long_integer"));
        assert_eq!(block.len(), 512);
        let text = String::from_utf8_lossy(&block);
        assert!(text.contains("\nTYPE=long_integer;\nSIZE1=4;\n}"), "{text}");
        assert!(set_header_value(&mut block, "TYPE", "unsigned_short"));
        assert_eq!(
            block,
            smv::header(SmvType::UnsignedShort, &[("SIZE1", "4".into())])
        );
        assert!(!set_header_value(&mut block, "NOPE", "1"));
        let mut full = b"{\nTYPE=a;\n}".to_vec();
        assert!(
            !set_header_value(&mut full, "TYPE", "longer"),
            "no padding to absorb it"
        );
    }
}
