//! `nanobragg nearbragg`: nearBragg (11-21-17), the near-field diffraction image of a list of
//! point scatterers, summed atom by atom.
//!
//! For every detector sub-pixel, wavelength and divergence point the amplitude is the sum over
//! source depth samples and atoms of
//! `occupancy·exp(−B·(sinθ/λ)²)·e^{iφ}/(r_src·r_pix)`, with
//! `φ = 2π·(r_src + r_pix)/λ + phase shift`: the exact path from the source point to the atom
//! and on to the sub-pixel, no far-field approximation. Intensities `|A|²` add over
//! sub-pixels, wavelengths and divergence points (`-coherent` adds the amplitudes instead), and
//! the pixel is `I/steps · pixel factor · fluence · r_e²` photons.
//!
//! Layout: [`cli`] (the C command line → [`Params`]), [`atoms`] (the atom list), [`render()`]
//! (the pixel loop; [`Backend::Simd`] puts eight pixels on `f64` lanes, [`Backend::Scalar`] is
//! the reference with `Complex<f64>`; the phase reaches ~10¹² rad and `trig` reduces it
//! exactly, so both give C's sines), and [`main`] (files and the C log).
//!
//! # Differences from the C program
//!
//! Default mode computes the physics; `-compat` reproduces nearBragg.c for every item below.
//! Quirk ids are those of the golden suite's README.
//!
//! - **NR1** (threads race in C): both modes are deterministic for any number of threads.
//! - **NR2** (options without effect): `-nopolar`, `-atoms`, `-beam_vector`, `-polar_vector`
//!   are accepted and ignored in both modes (there is no polarization factor; the beam runs
//!   along +x). `-square_div` gives the full divergence grid in default mode (C never parses
//!   it; `-compat` keeps the round grid). `-dispstep` and `-depthstep`, which C does not parse
//!   either, are unknown options (an error naming the closest spelling, where C ignores them).
//!   `-phi` only reaches the header, as in C. Every other unknown option or stray argument is
//!   an error too; C ignores them.
//! - **NR3** (`-source_depth` in Å while C's help says mm): kept in both modes; the help
//!   says Å.
//! - **NR4** (source offsets): a divergent point source sits at `tan(angle)·D` sideways (C:
//!   `atan(angle)·D`); a plane wave (`-source_distance far`) comes from each divergence
//!   point's direction and the depth samples shift its phase as they shift a point source's
//!   (C ignores both for a plane wave and sums identical copies). Same images without
//!   divergence or depth.
//! - **NR5** (pixel factor of the last sub-pixel applied to the whole pixel): default mode
//!   weights each sub-pixel's intensity by its own factor; with `-coherent` (amplitudes of all
//!   sub-pixels are summed before squaring) it applies the mean of the sub-pixels' factors.
//!   The factor itself is `pixel²·cos/R` with `cos` from the detector normal (`-odet_vector`)
//!   where C uses `distance/R` (equal for the default and the twotheta-rotated detectors and
//!   for a `-pix0_vector` at the detector distance), and `pixel²` on a curved detector.
//! - **NR6** (the "solid angle" line sums `pixel²·distance/R`): default mode prints the
//!   detector's solid angle in steradians.
//! - **NR7** (atom list parsing): default mode reads strictly (see [`atoms`]): comments after
//!   `#`, errors naming file and line for anything else that is not 3 to 6 numbers, and a last
//!   line without a newline reads normally. C reads such lines as atoms with zeros.
//! - **NR8** (int image: offset 40, truncation): kept; default mode clamps negative values
//!   (from `-accumulate` of a negative float image) to 0 where C's conversion wraps.
//! - **NR9** (`-curved_det`): default mode takes it as a switch anywhere on the line (C
//!   ignores it as the last argument) and keeps the curved image on the same side as the flat
//!   one (C's rotation mirrors it: a flat pixel at +z lands at −z).
//! - **NR10** (detector vectors not normalised): kept for the fast, slow and normal vectors,
//!   whose lengths scale the pixel grid (normalising the golden case's 6-digit vectors moves
//!   pixels by 3·10⁻⁷ of their offset, enough to change steep fringes by 4·10⁻⁴); default
//!   mode warns when one is not of unit length (by more than 10⁻⁶), refuses zero vectors,
//!   uses the unit normal for the obliquity factor (NR5) and normalises the spindle axis,
//!   about which C's rotation of a non-unit axis is no rotation.
//! - **NR11** (automatic oversampling from the atom extent): kept; in default mode only real
//!   atoms count (no phantom atoms, see NR7).
//! - **NR12** (coherent normalisation, averaged sin/cos images): kept, apart from NR5's factor.
//!   C multiplies the imported average amplitude by the step count in float precision;
//!   default mode in double.
//! - **NR13** (`-accumulate` reads the output names): kept. Default mode refuses a float,
//!   sin or cos file whose size does not match the detector, where C reads what is there and
//!   prints `fread` errors.
//! - Log: the same lines as C in both modes (in `compat` mode the same text, progress meter
//!   included, which is printed when the render ends), except: the maximum's position is the
//!   pixel centre in default mode (C prints the last sub-pixel's), `counted N atoms` counts
//!   real atoms, `-debug` prints no `blank` lines, C's `fread` error goes to the log, and with
//!   `-printout -debug` the per-atom lines show the running amplitude of the current
//!   wavelength and divergence point (C's running sum carries on across them with
//!   `-coherent`).
//! - Regions (`-roi`) that hold no pixel, detectors without pixels and values that make no
//!   sense (non-positive pixel size or wavelength, zero vectors) are refused in both modes.

use std::io::Write;
use std::path::Path;

use crate::cfmt::{g, g_prec};
use crate::error::{Error, Result};
use crate::io::atomic::{Staged, check_writable};
use crate::io::floatfile::stage_float_image;
use crate::io::read_float_image;
use crate::suite::smv::{self, SmvType};

pub mod atoms;
pub mod cli;
pub mod params;
mod render;
mod scalar;
mod setup;
mod simd;
mod trig;

#[cfg(test)]
mod tests;

pub use atoms::{Atom, AtomList, parse_atoms, read_atoms};
pub use params::{Detector, Params, Roi, Source, Steps};
pub use render::{Backend, Images, Rendered, render, render_onto};

use params::{PI_C, RTD};
use render::Prior;
use setup::Setup;

/// The `nanobragg nearbragg` subcommand: nearBragg.c's command line, its log on `out`.
pub fn main(argv: &[String], out: &mut dyn Write) -> Result<()> {
    let Some(run) = cli::parse(argv)? else {
        write!(out, "{}", cli::help()).map_err(stdout)?;
        return Ok(());
    };
    let mut log = String::new();
    let result = execute(run, &mut log, out);
    out.write_all(log.as_bytes()).map_err(stdout)?;
    result
}

fn stdout(e: std::io::Error) -> Error {
    Error::io("<stdout>", e)
}

/// Append a line to the log.
macro_rules! say {
    ($log:expr, $($arg:tt)*) => {{
        $log.push_str(&format!($($arg)*));
        $log.push('\n');
    }};
}

/// Everything after the command line; the log goes to `log` (flushed to `out` between phases).
fn execute(run: cli::Run, log: &mut String, out: &mut dyn Write) -> Result<()> {
    let mut flush = |log: &mut String| -> Result<()> {
        out.write_all(log.as_bytes()).map_err(stdout)?;
        out.flush().map_err(stdout)?;
        log.clear();
        Ok(())
    };
    let mut params = run.params.clone();
    let compat = params.compat;
    say!(
        log,
        "nearBragg assumption-free diffraction simulator - James Holton 11-21-17"
    );
    for w in &run.warnings {
        say!(log, "{w}");
    }
    let file = run.atom_file.display().to_string();
    let list = read_atoms(&run.atom_file, compat)?;
    if list.atoms.is_empty() && !compat {
        return Err(Error::Format {
            path: run.atom_file.clone(),
            reason: "no atoms in the file".into(),
        });
    }
    say!(log, "counted {} atoms in {file}", list.counted);
    say!(log, "reading {file}");
    if run.debug {
        for (n, a) in list.atoms.iter().enumerate() {
            say!(
                log,
                "initializing: {n} {} {} {} with Z={} B={}",
                g(a.x),
                g(a.y),
                g(a.z),
                g(a.occupancy),
                g(a.b)
            );
        }
    }
    let atoms = &list.atoms;

    // Oversampling: automatic from the atoms' extent (NR11).
    let extent = atoms::extent(atoms);
    let d = params.detector;
    let recommended = params::recommended_oversample(extent, params.lambda0, d.distance, d.pixel);
    if params.oversample == 0 {
        if recommended > params::MAX_OVERSAMPLE as f64 {
            return Err(Error::usage(
                "-oversample",
                format!(
                    "the sample ({} Å) would need {recommended}-fold oversampling; give \
                     -oversample (at most {})",
                    g(extent * 1e10),
                    params::MAX_OVERSAMPLE
                ),
            ));
        }
        params.oversample = recommended as usize;
        say!(log, "auto-selected {}-fold oversampling", params.oversample);
    }
    if (params.oversample as f64) < recommended {
        say!(
            log,
            "WARNING: maximum dimension of sample is {} A",
            g(extent * 1e10)
        );
        say!(
            log,
            "         but reciprocal pixel size is {} A",
            g(params.lambda0 * d.distance / d.pixel * 1e10)
        );
        say!(
            log,
            "         intensity may vary significantly across a pixel!"
        );
        say!(
            log,
            "         recommend -oversample {} to work around this",
            recommended
        );
    }
    params.validate()?;
    render::check_memory(&params)?;

    // Every output must be writable before the render.
    let coherent = params.coherent;
    let mut outputs = vec![&run.float_file, &run.int_file];
    if coherent {
        outputs.extend([&run.sin_file, &run.cos_file]);
    }
    for path in &outputs {
        check_writable(path)?;
    }

    let mut images = Images::zeros(&params);
    if run.accumulate {
        if coherent {
            import(&run.sin_file, &mut images.sin, "sin", "Im(F)", compat, log)?;
            import(&run.cos_file, &mut images.cos, "cos", "Re(F)", compat, log)?;
        } else {
            import(
                &run.float_file,
                &mut images.float,
                "float",
                "image",
                compat,
                log,
            )?;
        }
    }

    for (h, v) in params.divergence_points() {
        say!(log, "divergence deviation: {} {}", g(h), g(v));
    }
    for (i, l) in params.lambdas().iter().enumerate() {
        say!(log, "lambda{i} = {}", g_prec(*l, 15));
    }
    for (i, dd) in params.depths().iter().enumerate() {
        say!(log, "depth{i} = {} A", g(dd * 1e10));
    }
    let divsteps = params.divergence_points().len();
    say!(log, "  {} atoms", atoms.len());
    say!(
        log,
        "  wave={} meters +/- {}% in {} steps",
        g(params.lambda0),
        g(params.dispersion.range * 100.0),
        params.dispersion.count
    );
    say!(
        log,
        "  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)",
        g(d.distance),
        g(run.detsize_x),
        g(run.detsize_y),
        g(d.pixel),
        d.xpixels,
        d.ypixels
    );
    say!(log, "  Xbeam={} Ybeam={}", g(run.xbeam), g(run.ybeam));
    let r = run.roi_log;
    say!(
        log,
        "  roi: {} < z < {} && {} < y < {}",
        r[0],
        r[1],
        r[2],
        r[3]
    );
    for (name, s) in [("hdiv", params.hdiv), ("vdiv", params.vdiv)] {
        say!(
            log,
            "  {name}range={} {name}step={}  radians",
            g(s.range),
            g(s.step)
        );
    }
    say!(log, "  {divsteps} divergence steps");
    match params.source {
        Source::Far => say!(log, "  source is VERY far away"),
        Source::Point { distance } => say!(
            log,
            "  source at {} meters and {} deep in {} depth steps",
            g(distance),
            g(params.depth.range),
            params.depth.count
        ),
    }
    say!(log, "  {} pixel oversample steps", params.oversample);
    say!(log, "  coherent source: {}", u8::from(coherent));
    flush(log)?;

    let before = run.printout.map(|_| images.clone());
    let solid_angle = render_onto(&params, atoms, Backend::Simd, &mut images)?;
    if let (Some(which), Some(before)) = (run.printout, before) {
        printout(&params, atoms, &before, &images, which, run.debug, log)?;
    } else if run.progress {
        let roi = params.roi;
        let rendered = (roi.xmax - roi.xmin + 1) * (roi.ymax - roi.ymin + 1);
        progress(run.roi_log, rendered, log);
    }
    say!(log, "");
    say!(
        log,
        "solid angle subtended by detector = {} steradian ( {}% sphere)",
        g(solid_angle),
        g(100.0 * solid_angle / 4.0 / PI_C)
    );

    // Statistics over the region, in C's order.
    let (w, roi) = (d.xpixels, params.roi);
    let (mut max_i, mut max_at) = (0.0f64, (0.0, 0.0));
    let (mut sum, mut sumsqr, mut sumn) = (0.0f64, 0.0f64, 0usize);
    for y in roi.ymin..=roi.ymax {
        for x in roi.xmin..=roi.xmax {
            let v = f64::from(images.float[y * w + x]);
            if v > max_i {
                max_i = v;
                max_at = max_position(&params, x, y);
            }
            sum += v;
            sumsqr += v * v;
            sumn += 1;
        }
    }
    let avg = sum / sumn.max(1) as f64;
    let rms = (sumsqr / (sumn.max(2) - 1) as f64).sqrt();

    let pixels = d.xpixels * d.ypixels;
    let mut staged: Vec<Staged> = Vec::new();
    say!(
        log,
        "writing {} as {pixels} 4-byte floats",
        run.float_file.display()
    );
    staged.push(stage_float_image(&run.float_file, &images.float)?);
    if coherent {
        say!(
            log,
            "writing {} as {pixels} 4-byte floats",
            run.sin_file.display()
        );
        staged.push(stage_float_image(&run.sin_file, &images.sin)?);
        say!(
            log,
            "writing {} as {pixels} 4-byte floats",
            run.cos_file.display()
        );
        staged.push(stage_float_image(&run.cos_file, &images.cos)?);
    }
    say!(
        log,
        "max_I = {}  at {} {}",
        g(max_i),
        g(max_at.0),
        g(max_at.1)
    );
    say!(log, "mean= {} rms= {}", g(avg), g(rms));
    let scale = if run.scale > 0.0 {
        run.scale
    } else if max_i > 0.0 {
        55000.0 / max_i
    } else {
        1.0
    };
    say!(log, "intfile_scale = {}", g(scale));
    let mut ints = vec![0u16; pixels];
    for y in roi.ymin..=roi.ymax {
        for x in roi.xmin..=roi.xmax {
            ints[y * w + x] = int_pixel(images.float[y * w + x], scale, compat);
        }
    }
    say!(log, "writing {} as 2-byte integers", run.int_file.display());
    let phi = run.phi0 * RTD;
    let header = smv::header(
        SmvType::UnsignedShort,
        &[
            ("SIZE1", d.xpixels.to_string()),
            ("SIZE2", d.ypixels.to_string()),
            ("PIXEL_SIZE", g(d.pixel * 1000.0)),
            ("DISTANCE", g(d.distance * 1000.0)),
            ("WAVELENGTH", g(params.lambda0 * 1e10)),
            ("BEAM_CENTER_X", g(run.xbeam * 1000.0)),
            ("BEAM_CENTER_Y", g((run.detsize_y - run.ybeam) * 1000.0)),
            ("PHI", g(phi)),
            ("OSC_START", g(phi)),
            ("OSC_RANGE", "0".into()),
            ("DETECTOR_SN", "000".into()),
            ("BEAMLINE", "fake".into()),
        ],
    );
    staged.push(smv::stage_image(
        &run.int_file,
        &header,
        d.xpixels,
        d.ypixels,
        &ints,
    )?);
    for s in staged {
        s.commit()?;
    }
    Ok(())
}

/// nearBragg.c's progress meter, printed after the render: the percentages C prints while its
/// pixel counter runs over the rendered pixels (C counts the region with its bounds as given,
/// one more row and column than the detector by default).
fn progress(roi: [i64; 4], rendered: usize, log: &mut String) {
    let total = (roi[1] - roi[0] + 1).saturating_mul(roi[3] - roi[2] + 1);
    if total / 100 <= 0 {
        return;
    }
    let (p20, p100) = (total / 20, total / 100);
    for i in 0..rendered as i64 {
        let edge = 10 * i < total || 10 * i > 9 * total;
        if i % p20 == 0 || (edge && i % p100 == 0) {
            say!(log, "{}% done", i * 100 / total);
        }
    }
}

/// The SMV value of a float pixel: `float·scale + 40`, clipped at 65535, truncated (NR8). C's
/// conversion of a negative value wraps (x86: through a 32-bit integer); default mode clamps
/// at 0.
fn int_pixel(v: f32, scale: f64, compat: bool) -> u16 {
    let test = (f64::from(v) * scale + 40.0).min(65535.0);
    if compat {
        (test as i32) as u16
    } else {
        test.max(0.0) as u16
    }
}

/// Where the log says the maximum is (m): C prints the detector coordinates of the pixel's
/// last sub-pixel, default mode its centre.
fn max_position(params: &Params, x: usize, y: usize) -> (f64, f64) {
    let d = &params.detector;
    if params.compat {
        let os = params.oversample;
        let sp = d.pixel / os as f64;
        let at = |i: usize| sp * (i * os + os - 1) as f64 + sp / 2.0;
        (at(x), at(y))
    } else {
        ((x as f64 + 0.5) * d.pixel, (y as f64 + 0.5) * d.pixel)
    }
}

/// `-accumulate`: read `path` into `image`; a missing file leaves zeros, as in C.
fn import(
    path: &Path,
    image: &mut [f32],
    kind: &str,
    what: &str,
    compat: bool,
    log: &mut String,
) -> Result<()> {
    let data = match read_float_image(path) {
        Ok(data) => data,
        Err(Error::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
            say!(log, "WARNING: no {} {kind}-file to read!", path.display());
            say!(log, "setting initial {what} to all zeroes...");
            return Ok(());
        }
        Err(Error::Format { .. }) if compat => {
            let bytes = crate::io::read_input(path)?;
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        Err(e) => return Err(e),
    };
    let label = if kind == "float" { "intensity" } else { kind };
    say!(log, "importing {label}: {}", path.display());
    if data.len() != image.len() {
        if !compat {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "{} floats, but the detector has {} pixels",
                    data.len(),
                    image.len()
                ),
            });
        }
        if data.len() < image.len() {
            say!(log, "ERROR: fread() did not read all pixels: Success");
        }
    }
    let n = data.len().min(image.len());
    image[..n].copy_from_slice(&data[..n]);
    Ok(())
}

/// `-printout`: the chosen pixels recomputed with the reference kernel, as C prints them.
fn printout(
    params: &Params,
    atoms: &[Atom],
    before: &Images,
    images: &Images,
    which: cli::Printout,
    debug: bool,
    log: &mut String,
) -> Result<()> {
    let setup = Setup::new(params, atoms)?;
    let (w, roi) = (params.detector.xpixels, params.roi);
    for y in roi.ymin..=roi.ymax {
        for x in roi.xmin..=roi.xmax {
            if let cli::Printout::Pixel(px, py) = which
                && (px != x as i64 || py != y as i64)
            {
                continue;
            }
            let j = y * w + x;
            let prior = Prior {
                float: before.float[j],
                sin: before.sin.get(j).copied().unwrap_or(0.0),
                cos: before.cos.get(j).copied().unwrap_or(0.0),
            };
            let mut lines = String::new();
            let mut trace = |i: usize, t: &setup::Term, phase: f64, a: render::Amp| {
                say!(
                    lines,
                    "{i}  {} {} {} -> {} {} {}",
                    g(t.x),
                    g(t.y),
                    g(t.z),
                    g(phase),
                    g(a.re),
                    g(a.im)
                );
            };
            let trace: Option<&mut render::Trace> = if debug { Some(&mut trace) } else { None };
            let o = render::pixel_detail(&setup, x, y, prior, trace);
            log.push_str(&lines);
            let p = o.last.pos;
            let twotheta = (p[1] * p[1] + p[2] * p[2]).sqrt().atan2(p[0]);
            let stol = (twotheta / 2.0).sin() / (params.lambda0 * 1e10);
            let float = f64::from(images.float[j]);
            let (cos, sin) = if params.coherent {
                (images.cos[j], images.sin[j])
            } else {
                (0.0, 0.0)
            };
            let omega = o.last.omega / o.last.airpath / o.last.airpath;
            say!(log, "{x:4} {y:4} : stol = {}", g(stol));
            say!(log, " Fa={}  Fb={}   I = {}", g(o.fa), g(o.fb), g(o.i));
            say!(log, "cos={} sin={}", g(f64::from(cos)), g(f64::from(sin)));
            say!(log, "I/sr   {:>15}", g_prec(float / omega, 10));
            say!(log, "omega  {:>15}", g_prec(omega, 10));
            say!(log, "pixel  {:>15}", g_prec(float, 10));
        }
    }
    Ok(())
}
