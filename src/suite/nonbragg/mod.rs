//! `nonbragg`: amorphous scattering (water, air, any glass) from a table of the structure
//! factor F against sinθ/λ — nonBragg.c (4-22-18) of the nanoBragg suite.
//!
//! The sample is a block of `molecules = V·ρ·N_A/MW` molecules (the beam size clips its height
//! and width, quirk NB14), each scattering like one electron times F(sinθ/λ). Every pixel gets
//! `Σ sign(F)·F²·P·ω·weight × r_e²·fluence·molecules/steps` over its sub-pixels and the sources
//! (see [`mod@render`]); the outputs are the float image (photons per pixel), an SMV integer
//! image, an SMV image with Poisson noise and a PGM preview. The inverse mode (`-img F.img`)
//! turns an observed SMV image back into F per pixel and writes the mean F per sinθ/λ bin
//! (`-stolout`, default `output.stol`).
//!
//! The library side is separate from the command line: [`Params`] and [`StolTable`] describe
//! a render, [`render()`] and [`add_background`] compute the float image (the latter adds it
//! to an existing image, as the main simulator can), and [`main`] parses C's command line,
//! reads the files, renders, writes the outputs atomically and prints C's log.
//!
//! # Differences from the C program
//!
//! Default mode (`-compat` reproduces C, except where noted):
//!
//! * **NB1** the PGM holds exactly W·H pixel bytes (C writes 2·W·H from a W·H buffer; the tail
//!   is other heap memory, which no mode can reproduce, so `-compat` writes W·H too).
//!   `-nopgm` is honoured (C ignores it; so does `-compat`).
//! * **NB2** statistics: the mean, rms and rmsd (printed, and the default PGM scale 250/(5·rmsd))
//!   count the pixels of the region of interest and read each pixel's own value (summed row by
//!   row); in `-img` mode the mean divides by the pixel count, not by the last bin's count. `-compat`: C's
//!   counter (0 at the start with the reference build), its off-by-one rmsd loop and, in `-img`
//!   mode, the last bin's count.
//! * **NB3** kept: noise is on by default and, without `-seed`, seeded from the clock (the seed
//!   is printed, as C prints it, so a run can be repeated); of `-noisefile` and `-nonoise` the
//!   later one wins. Default-mode noise is drawn from counter-based streams keyed by the seed
//!   and the pixel index (the same image for any thread count); `-compat` draws C's serial
//!   `ran1`/`poidev` sequence.
//! * **NB4** `-img`: no heap address is printed (C prints `mmap(file) = 0x…`); the median and
//!   MAD columns of `output.stol` are computed (C prints uninitialised variables, 0 with the
//!   reference build; `-compat` prints 0); the observed photons are turned into F with the
//!   pixel's Σ P·ω·weight over all sub-pixels and sources and binned by the mean sinθ/λ (C uses
//!   the last sub-pixel's and source's P, ω and sinθ/λ; identical with one source and no
//!   oversampling); the bin statistics are computed in double (C: float). Outlier rejection
//!   stays off, as in C where nothing can turn it on. Both modes honour the SMV file's
//!   `BYTE_ORDER`. The header's TWOTHETA is ignored, as in C.
//! * **NB5** `-twotheta_axis` sets only the axis (C's substring match also sets two-theta to
//!   the axis' first component and the pivot to SAMPLE; `-compat` does too). The axis is
//!   normalised (C uses it as given; `-compat` too).
//! * **NB6** `-curved_det` works as the last argument too (C, and `-compat`, need another
//!   argument after it). The curved mapping itself is kept.
//! * **NB7** kept: `-point_pixel` gives ω = 1/R².
//! * **NB8** C's sensor-thickness code is unreachable; there is none here.
//! * **NB9** kept: the region of interest is inclusive; pixels outside it are 0 everywhere.
//! * **NB10** `-dispstep` is a usage error (C silently ignores it) naming `-dispsteps`; a bare
//!   divergence count still spans 1 radian.
//! * **NB11** kept: the integer image rounds (through C's `floorf` on a float), the noise image
//!   truncates.
//! * **NB12** kept: the default beam centre is ((W−1)·p/2, (H+1)·p/2).
//! * **NB13** kept: the pivot is that of the last BEAM or SAMPLE option, unless `-pivot` comes
//!   later.
//! * **NB14** kept: the beam size clips the sample's height and width before the molecule
//!   count; `-molecules` overrides the density.
//! * **NB15** F is found per point (a bucket search), so the result does not depend on pixel
//!   order; for the strictly increasing tables default mode accepts this is the node C's walk
//!   finds. Tables that do not increase strictly are refused with the file and line;
//!   `-compat` accepts them and walks serially as C does (also when a wavelength could carry
//!   sinθ/λ past the padding, e.g. λ = 0 from NB17). Each interval's Lagrange cubic is
//!   evaluated in power form, equal to C's `polint` to rounding: the float images of all
//!   twelve golden cases are bit-identical to C's.
//! * **NB16** kept: a negative F gives −F².
//! * **NB17** the table and source files are read strictly: blank lines and `#` comments are
//!   skipped, a word that is not a number is an error naming the file and line, a missing F or
//!   source column is missing whether or not the line ends with a newline. `-compat` reads
//!   them as C's `read_text_file` does.
//! * **NB18** kept: `-Fmap` stores the F of the last sub-pixel and source.
//! * Kept: the derived distance and beam centre (log, SMV header, the curved detector's radius)
//!   use C's `ratio = b̂·R_xyz(ô)`, without the two-theta swing.
//! * `-pivot` needs a value containing `sample` or `beam` (C ignores any other).
//! * Pixel counts: `-detpixels N` (and the `-img` header) give exactly N pixels (C recomputes
//!   ⌈N·p/p⌉, which is N+1 for many sizes, e.g. 13 pixels of 0.1 mm); a size from `-detsize`
//!   is ⌈size/p⌉ ignoring a rounding error of 10⁻⁹ pixel. `-compat`: C's formula.
//! * Checked up front, with a usage error: a missing table (C: usage, exit 9), a wavelength or
//!   energy that is not positive, a non-positive pixel size, `-gain 0` with `-img`,
//!   `-beamsize 0` with `-flux`, an `-img` image whose size differs from the detector's,
//!   unknown options and stray arguments (C ignores them), an option missing its value (C
//!   ignores it). Absurd sizes are refused in both modes.
//! * No progress meter (`-progress`/`-noprogress` are accepted); `-printout` prints the
//!   pixel's F and its sum Σ sign(F)F²Pω (C prints uninitialised variables there).
//! * The log goes to `out`; files are written only once everything has been computed, so an
//!   error leaves no partial output.

use std::io::Write;
use std::path::Path;

use crate::cfmt::{f_prec, g, g_prec};
use crate::error::{Error, Result};
use crate::io::atomic::{Staged, check_writable, stage};
use crate::noise::{NoiseMode, noise_image};
use crate::suite::options::{Parsed, parse};
use crate::suite::smv::{self, SmvType};

pub mod geometry;
pub mod options;
pub mod output;
pub mod render;
pub mod table;
mod text;

pub use geometry::{Pivot, Source};
pub use options::Config;
pub use render::{Params, R_E_SQR, Rendered, add_background, render};
pub use table::{StolTable, TableUnit};

use geometry::{DetectorSpec, Placed};
use options::{AVOGADRO, RTD, SPECS};

const ABOUT: &str = "nanobragg nonbragg: amorphous material diffraction (nonBragg.c, James Holton \
                     and Ken Frankel)\nEvery pixel gets the scattering of the sample's molecules, \
                     F(sin(theta)/lambda) interpolated from a table.";

/// Writes one line of the log.
fn line(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(|e| Error::io("<stdout>", e))
}

/// The `nanobragg nonbragg` subcommand: C's command line, log and files.
pub fn main(argv: &[String], out: &mut dyn Write) -> Result<()> {
    let args = match parse("nonbragg", ABOUT, argv, SPECS)? {
        Parsed::Help(text) => {
            return out
                .write_all(text.as_bytes())
                .map_err(|e| Error::io("<stdout>", e));
        }
        Parsed::Run(args) => args,
    };
    let mut cfg = Config {
        compat: args.has("-compat"),
        ..Config::default()
    };
    // C reads the -img file before the other options, which then override its header.
    let observed = match args.text("-img") {
        Some(path) => {
            line(out, &format!("reading {path}"))?;
            let img = crate::io::read_smv(Path::new(path))?;
            cfg.apply_header(&img);
            Some(img)
        }
        None => None,
    };
    cfg.apply(&args)?;
    run(&cfg, observed.as_ref(), out)
}

/// The run after option parsing (C's `main` from the banner on).
fn run(cfg: &Config, observed: Option<&crate::io::SmvImage>, out: &mut dyn Write) -> Result<()> {
    let compat = cfg.compat;
    line(
        out,
        "nonBragg amorphous material diffraction simulator - James Holton and Ken Frankel 3-19-16",
    )?;
    let Some((table_path, unit)) = cfg.table.clone() else {
        return Err(Error::usage(
            "-stol",
            "no table of F given: use -stol FILE (sin(theta)/lambda), -4stol FILE or -Q FILE",
        ));
    };

    // Detector size.
    let px = cfg.pixel_size;
    if !(px.is_finite() && px > 0.0) {
        return Err(Error::usage("-pixel", "the pixel size must be positive"));
    }
    let mut detsize = cfg.detsize;
    let mut pixels = [0usize; 2];
    for k in 0..2 {
        if let Some(n) = cfg.pixels[k] {
            detsize[k] = px * n as f64;
        }
        let r = detsize[k] / px;
        pixels[k] = match cfg.pixels[k] {
            Some(n) if !compat => n,
            _ => pixel_count(r, compat).ok_or_else(|| {
                Error::usage(
                    ["-detsize_x", "-detsize_y"][k],
                    format!(
                        "{} mm of {} mm pixels is not a detector size",
                        g(detsize[k] * 1e3),
                        g(px * 1e3)
                    ),
                )
            })?,
        };
    }
    let npix = pixels[0]
        .checked_mul(pixels[1])
        .filter(|&n| n <= render::MAX_PIXELS)
        .ok_or_else(|| {
            Error::usage(
                "-detpixels",
                format!("{}x{} pixels is too many", pixels[0], pixels[1]),
            )
        })?;
    let what = format!("-detpixels {} x {}", pixels[0], pixels[1]);
    crate::memory::check(
        npix as u64 * if observed.is_some() { 24 } else { 12 },
        &what,
    )?;
    if let Some(img) = observed
        && [img.size1, img.size2] != pixels
    {
        return Err(Error::usage(
            "-img",
            format!(
                "the image is {}x{} pixels but the detector {}x{}",
                img.size1, img.size2, pixels[0], pixels[1]
            ),
        ));
    }
    let roi = [
        if cfg.roi[0] < 0 { 0 } else { cfg.roi[0] },
        if cfg.roi[1] < 0 {
            pixels[0] as i64
        } else {
            cfg.roi[1]
        },
        if cfg.roi[2] < 0 { 0 } else { cfg.roi[2] },
        if cfg.roi[3] < 0 {
            pixels[1] as i64
        } else {
            cfg.roi[3]
        },
    ];

    // Beam and sample.
    if !compat {
        if !(cfg.lambda0.is_finite() && cfg.lambda0 > 0.0) {
            return Err(Error::usage("-lambda", "the wavelength must be positive"));
        }
        if cfg.flux != 0.0 && cfg.beamsize == 0.0 {
            return Err(Error::usage(
                "-beamsize",
                "a beam of size 0 makes the fluence infinite",
            ));
        }
        if observed.is_some() && cfg.gain == 0.0 {
            return Err(Error::usage("-gain", "the gain must not be 0"));
        }
    }
    let mut fluence = cfg.fluence;
    if cfg.flux != 0.0 && cfg.exposure > 0.0 && cfg.beamsize >= 0.0 {
        fluence = cfg.flux * cfg.exposure / cfg.beamsize / cfg.beamsize;
    }
    let mut sample = cfg.sample;
    if cfg.beamsize >= 0.0 {
        for (k, word) in [(1, "high"), (2, "wide")] {
            if cfg.beamsize < sample[k] {
                line(
                    out,
                    &format!(
                        "WARNING: clipping sample ({} m {word}) with beam ({} m)",
                        g(sample[k]),
                        g(cfg.beamsize)
                    ),
                )?;
                sample[k] = cfg.beamsize;
            }
        }
    }
    let volume = sample[0] * sample[1] * sample[2];
    let mut density = cfg.density;
    if cfg.molecules != 0.0 {
        density = cfg.molecules / volume / AVOGADRO * cfg.molecular_weight;
    }
    let molecules = volume * density * AVOGADRO / cfg.molecular_weight;

    // Sampling grids and the detector.
    let grids = cfg.spread.grids();
    let placed = geometry::place(&DetectorSpec {
        pixels,
        pixel_size: px,
        size: detsize,
        distance: cfg.distance,
        close_distance: cfg.close_distance,
        beam_center: cfg.beam_center,
        close_point: cfg.close_point,
        org: cfg.org,
        pivot: cfg.pivot,
        fdet: cfg.fdet,
        sdet: cfg.sdet,
        beam: cfg.beam,
        polar: cfg.polar_vector,
        rotation: cfg.rotation,
        twotheta: cfg.twotheta,
        twotheta_axis: cfg.twotheta_axis,
        unit_axis: !compat,
    });
    line(
        out,
        match placed.pivot {
            Pivot::Sample => "pivoting detector around sample",
            Pivot::Beam => "pivoting detector around direct beam spot",
        },
    )?;

    // The table and the sources.
    line(out, &format!("reading {}", table_path.display()))?;
    let table = StolTable::read(&table_path, unit, compat)?;
    let (sources, divsteps) = sources(cfg, &placed, &grids, out)?;
    line(
        out,
        &format!("  created a total of {} sources:", sources.len()),
    )?;
    for s in &sources {
        let p = s.position;
        line(
            out,
            &format!(
                "{} {} {}   {} {}",
                g(p[0]),
                g(p[1]),
                g(p[2]),
                g(s.weight),
                g(s.lambda)
            ),
        )?;
    }
    let oversample = if cfg.oversample <= 0 {
        1
    } else {
        cfg.oversample
    };
    let oversample = usize::try_from(oversample)
        .ok()
        .filter(|&n| n <= 10_000)
        .ok_or_else(|| Error::usage("-oversample", "at most 10000 sub-pixels per side"))?;

    let params = Params {
        pixels,
        pixel_size: px,
        pix0: placed.pix0,
        fdet: placed.fdet,
        sdet: placed.sdet,
        beam: placed.beam,
        distance: placed.distance,
        close_distance: placed.close_distance,
        curved: cfg.curved,
        point_pixel: cfg.point_pixel,
        oversample,
        roi,
        sources,
        kahn: (!cfg.nopolar).then_some(cfg.polarization),
        polar_axis: placed.polar,
        fluence,
        molecules,
        fmap: cfg.fmap,
    };

    // The parameters, as C prints them.
    let seed = cfg.seed.unwrap_or_else(seconds_since_epoch);
    let mut log = vec![
        format!(
            "  {} initialized F points (will cubic-spline interpolate between them)",
            table.nodes()
        ),
        format!(
            "  wave={} meters +/- {}% in {} steps",
            g(cfg.lambda0),
            g(grids.disp.range * 100.0),
            grids.disp.steps
        ),
        if cfg.nopolar {
            "  polarization effect disabled".to_string()
        } else {
            format!(
                "  Kahn polarization factor: {}",
                f_prec(cfg.polarization, 6)
            )
        },
    ];
    if cfg.curved {
        log.push("  curved detector: all pixels same distance from origin".into());
    }
    if cfg.point_pixel {
        log.push("  pixel obliquity effect disabled".into());
    }
    if cfg.fmap {
        log.push("  Fmap mode: plotting structure factor at every pixel".into());
    }
    let v3 = |v: [f64; 3]| format!("{} {} {}", g(v[0]), g(v[1]), g(v[2]));
    log.extend([
        format!("  incident fluence: {} photons/m^2", g(fluence)),
        format!(
            "  sample is {} m thick x {} m high x {} m wide, {} g/cm^3 and {} g/mol ({} molecules)",
            g(sample[0]),
            g(sample[1]),
            g(sample[2]),
            g(density / 1e6),
            g(cfg.molecular_weight),
            g(molecules)
        ),
        format!(
            "  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)",
            g(placed.distance),
            g(detsize[0]),
            g(detsize[1]),
            g(px),
            pixels[0],
            pixels[1]
        ),
        format!(
            "  Xbeam={} Ybeam={}",
            g(placed.beam_center[0]),
            g(placed.beam_center[1])
        ),
        format!("  detector origin: {}", v3(placed.pix0)),
        format!("  DIRECTION_OF_DETECTOR_X-AXIS= {}", v3(placed.fdet)),
        format!("  DIRECTION_OF_DETECTOR_Y-AXIS= {}", v3(placed.sdet)),
        format!("  INCIDENT_BEAM_DIRECTION= {}", v3(placed.beam)),
        format!("  POLARIZATION_PLANE_NORMAL= {}", v3(placed.polar)),
        format!(
            "  roi: {} < x < {} && {} < y < {}",
            roi[0], roi[1], roi[2], roi[3]
        ),
        format!(
            "  hdivrange={} hdivstep={}  radians",
            g(grids.h.range),
            g(grids.h.step)
        ),
        format!(
            "  vdivrange={} vdivstep={}  radians",
            g(grids.v.range),
            g(grids.v.step)
        ),
        format!("  {divsteps} divergence steps"),
        format!("  {} sources", params.sources.len()),
        format!("  {oversample} pixel oversample steps"),
    ]);
    if cfg.noise {
        log.extend([
            "".into(),
            "  noise image paramters:".into(),
            format!("  seed: {}", seed.wrapping_neg()),
        ]);
    }
    for l in &log {
        line(out, l)?;
    }

    // Every output must be writable before the work.
    let mut outputs = vec![cfg.floatfile.as_path(), cfg.intfile.as_path()];
    if cfg.pgm {
        outputs.push(cfg.pgmfile.as_path());
    }
    if cfg.noise {
        outputs.push(cfg.noisefile.as_path());
    }
    if observed.is_some() {
        outputs.push(cfg.stolout.as_path());
    }
    for p in &outputs {
        check_writable(p)?;
    }

    // The render.
    let mut staged: Vec<Staged> = Vec::new();
    let mut printout: Vec<String> = Vec::new();
    let (image, count_override) = if let Some(img) = observed {
        let inv = inverse::Inverse::new(cfg, &params, &table, img);
        let mut image = vec![0.0f32; npix];
        let (per_pixel, omega) =
            render::add_background_detailed(&params, &table, &mut image, true, |j, sums, _| {
                inv.pixel(j, sums)
            })?;
        if cfg.printout {
            printout_lines(cfg, &params, &table, &mut printout)?;
        }
        for l in &printout {
            line(out, l)?;
        }
        line(out, "")?;
        line(out, &solid_angle(omega))?;
        let (lines, text, last) = inv.bins(&per_pixel);
        for l in &lines {
            line(out, l)?;
        }
        staged.push(stage(&cfg.stolout, |w| w.write_all(text.as_bytes()))?);
        line(
            out,
            &format!(
                "wrote {} as {} lines of text",
                cfg.stolout.display(),
                text.lines().count()
            ),
        )?;
        (image, Some(last))
    } else {
        let (image, r) = render(&params, &table)?;
        if cfg.printout {
            printout_lines(cfg, &params, &table, &mut printout)?;
        }
        for l in &printout {
            line(out, l)?;
        }
        line(out, "")?;
        line(out, &solid_angle(r.omega_sum))?;
        (image, None)
    };

    // Statistics, then the outputs, computed and staged side by side.
    let st = output::stats(&image, &params, compat, count_override);
    let (mx, my) = st.max_index.map_or((0.0, 0.0), |j| {
        let sub = px / oversample as f64;
        let at = |p: usize| sub * (p * oversample + oversample - 1) as f64 + sub / 2.0;
        (at(j % pixels[0]), at(j / pixels[0]))
    });
    let mut intfile_scale = cfg.intfile_scale;
    if intfile_scale <= 0.0 {
        intfile_scale = if st.max > 0.0 { 55000.0 / st.max } else { 1.0 };
    }
    let mut pgm_scale = cfg.pgm_scale;
    if pgm_scale <= 0.0 {
        pgm_scale = if st.rmsd > 0.0 {
            250.0 / (5.0 * st.rmsd)
        } else {
            intfile_scale
        };
    }
    let header = smv_header(cfg, &params, &placed, detsize);
    let stage_int = || {
        let ints = output::int_image(&image, &params, intfile_scale, cfg.adc);
        smv::stage_image(&cfg.intfile, &header, pixels[0], pixels[1], &ints)
    };
    let stage_pgm = || -> Result<Option<Staged>> {
        if !cfg.pgm {
            return Ok(None);
        }
        let bytes = output::pgm_bytes(&image, &params, pgm_scale, compat);
        let fill = |start: usize, buf: &mut [u8]| {
            buf.copy_from_slice(&bytes[start..start + buf.len()]);
        };
        crate::io::pgm::stage_pgm_with(&cfg.pgmfile, pixels[0], pixels[1], pgm_scale, fill)
            .map(Some)
    };
    let stage_noise = || -> Result<Option<(Staged, f64, u64)>> {
        if !cfg.noise {
            return Ok(None);
        }
        let roi_u = roi.map(|v| usize::try_from(v).unwrap_or(0));
        let mode = if compat {
            NoiseMode::Compat
        } else {
            NoiseMode::Counter
        };
        let noisy = noise_image(&image, pixels[0], roi_u, seed, cfg.adc, mode, false);
        let file = smv::stage_image(&cfg.noisefile, &header, pixels[0], pixels[1], &noisy.pixels)?;
        Ok(Some((file, noisy.photons, noisy.overloads)))
    };
    let (float_file, (int_file, (pgm_file, noise_file))) = rayon::join(
        || crate::io::floatfile::stage_float_image(&cfg.floatfile, &image),
        || rayon::join(stage_int, || rayon::join(stage_pgm, stage_noise)),
    );
    let (pgm_file, noise_file) = (pgm_file?, noise_file?);
    staged.extend([float_file?, int_file?]);

    let mut log = vec![
        format!(
            "writing {} as {npix} 4-byte floats",
            cfg.floatfile.display()
        ),
        format!("max_I = {}  at {} {}", g(st.max), g(mx), g(my)),
        format!(
            "mean= {} rms= {} rmsd= {}",
            g(st.mean),
            g(st.rms),
            g(st.rmsd)
        ),
        format!("intfile_scale = {}", g(intfile_scale)),
        format!("writing {} as 2-byte integers", cfg.intfile.display()),
        format!("pgm_scale = {}", g(pgm_scale)),
    ];
    if let Some(file) = pgm_file {
        log.push(format!(
            "writing {} as 1-byte integers",
            cfg.pgmfile.display()
        ));
        staged.push(file);
    }
    if let Some((file, photons, overloads)) = noise_file {
        log.push(format!(
            "{} photons on noise image ({overloads} overloads)",
            f_prec(photons, 0)
        ));
        log.push(format!(
            "writing {} as 2-byte integers",
            cfg.noisefile.display()
        ));
        staged.push(file);
    }
    for l in &log {
        line(out, l)?;
    }
    for s in staged {
        s.commit()?;
    }
    Ok(())
}

/// C's line about Σ ω.
fn solid_angle(omega: f64) -> String {
    format!(
        "solid angle subtended by detector = {} steradian ( {}% sphere)",
        g(omega),
        g(100.0 * omega / 4.0 / std::f64::consts::PI)
    )
}

/// Pixels along one side from size/pitch `r`: C's ⌈r⌉ under `-compat`, otherwise ⌈r⌉ after
/// forgiving a rounding error of 10⁻⁹ pixel. `None` when not a count.
fn pixel_count(r: f64, compat: bool) -> Option<usize> {
    let n = if !compat && (r - r.round()).abs() <= 1e-9 * r.abs().max(1.0) {
        r.round()
    } else {
        r.ceil()
    };
    (n.is_finite() && n >= 1.0 && n <= render::MAX_PIXELS as f64).then_some(n as usize)
}

/// The clock as a seed (C: `seed = -time()`, i.e. the user's value is the time).
fn seconds_since_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as i64)
}

/// The sources: from `-sourcefile` or the divergence and dispersion grids, logging as C
/// does. Returns them with C's divergence count (−1 with a source file).
fn sources(
    cfg: &Config,
    placed: &Placed,
    grids: &geometry::Grids,
    out: &mut dyn Write,
) -> Result<(Vec<Source>, i64)> {
    const MAX_SOURCES: usize = 1_000_000;
    let default_at = |k: usize| -cfg.source_distance * placed.beam[k];
    if let Some(path) = &cfg.sourcefile {
        let rows: Vec<[f64; 5]> = if cfg.compat {
            let bytes = crate::io::read_input(path)?;
            text::c_rows(&bytes, 5)
                .into_iter()
                .map(|(_, v)| [v[0], v[1], v[2], v[3], v[4]])
                .collect()
        } else {
            crate::io::read_source_file(path)?
                .iter()
                .map(|s| {
                    let [x, y, z] = s.position.map(|v| v.unwrap_or(f64::NAN));
                    [
                        x,
                        y,
                        z,
                        s.weight.unwrap_or(f64::NAN),
                        s.lambda_m.unwrap_or(f64::NAN),
                    ]
                })
                .collect()
        };
        if rows.is_empty() {
            return Err(Error::Format {
                path: path.clone(),
                reason: "no sources listed (expected lines of X Y Z weight lambda)".into(),
            });
        }
        if rows.len() > MAX_SOURCES {
            return Err(Error::Format {
                path: path.clone(),
                reason: format!("{} sources is more than {MAX_SOURCES}", rows.len()),
            });
        }
        let mut list = Vec::with_capacity(rows.len());
        for (k, r) in rows.iter().enumerate() {
            let or = |v: f64, d: f64| if v.is_nan() { d } else { v };
            let s = Source {
                position: [
                    or(r[0], default_at(0)),
                    or(r[1], default_at(1)),
                    or(r[2], default_at(2)),
                ],
                weight: or(r[3], 1.0),
                lambda: or(r[4], cfg.lambda0),
            };
            if !cfg.compat && (s.lambda.is_nan() || s.lambda <= 0.0) {
                return Err(Error::Format {
                    path: path.clone(),
                    reason: format!(
                        "source {} has wavelength {} m; it must be positive",
                        k + 1,
                        g(s.lambda)
                    ),
                });
            }
            list.push(s);
        }
        return Ok((list, -1));
    }
    let grid = grids
        .h
        .steps
        .saturating_mul(grids.v.steps)
        .saturating_mul(grids.disp.steps);
    if grid > MAX_SOURCES {
        return Err(Error::usage(
            "-divsteps",
            format!(
                "{} x {} divergence points x {} wavelengths is more than {MAX_SOURCES} sources",
                grids.h.steps, grids.v.steps, grids.disp.steps
            ),
        ));
    }
    let points = geometry::divergence_points(grids, cfg.spread.round);
    let lambdas = geometry::wavelengths(&grids.disp, cfg.lambda0);
    for l in geometry::grid_log(&points, &lambdas) {
        line(out, &l)?;
    }
    if !cfg.compat
        && let Some(bad) = lambdas.iter().find(|l| l.is_nan() || **l <= 0.0)
    {
        return Err(Error::usage(
            "-dispersion",
            format!("the dispersion gives a wavelength of {} m", g(*bad)),
        ));
    }
    let list = geometry::grid_sources(&points, &lambdas, placed, cfg.source_distance);
    Ok((list, points.len() as i64))
}

/// The SMV header of the integer and noise images.
fn smv_header(cfg: &Config, params: &Params, placed: &Placed, detsize: [f64; 2]) -> Vec<u8> {
    let px = params.pixel_size;
    let osc = crate::setup::sampling::complete_phi(cfg.phisteps, cfg.osc, cfg.phistep).range;
    let fields = [
        ("SIZE1", params.pixels[0].to_string()),
        ("SIZE2", params.pixels[1].to_string()),
        ("PIXEL_SIZE", g(px * 1000.0)),
        ("DISTANCE", g(placed.distance * 1000.0)),
        ("WAVELENGTH", g(cfg.lambda0 * 1e10)),
        ("BEAM_CENTER_X", g(placed.beam_center[0] * 1000.0)),
        (
            "BEAM_CENTER_Y",
            g((detsize[1] - placed.beam_center[1]) * 1000.0),
        ),
        ("ORGX", g(placed.close_point[0] / px)),
        ("ORGY", g(placed.close_point[1] / px)),
        ("CLOSE_DISTANCE", g(placed.close_distance * 1000.0)),
        ("PHI", g(cfg.phi0 * RTD)),
        ("OSC_START", g(cfg.phi0 * RTD)),
        ("OSC_RANGE", g(osc * RTD)),
        ("TWOTHETA", g(cfg.twotheta * RTD)),
        ("DETECTOR_SN", "000".into()),
        ("BEAMLINE", "fake".into()),
    ];
    smv::header(SmvType::UnsignedShort, &fields)
}

/// `-printout`: C's lines for the chosen pixel (every pixel without `-printout_pixel`).
fn printout_lines(
    cfg: &Config,
    params: &Params,
    table: &StolTable,
    lines: &mut Vec<String>,
) -> Result<()> {
    let width = params.pixels[0];
    let mut scratch = vec![0.0f32; params.len()];
    let steps = params.steps();
    let lambda0 = cfg.lambda0;
    let (kept, _) =
        render::add_background_detailed(params, table, &mut scratch, true, |j, s, value| {
            let (f, sl) = ((j % width) as i64, (j / width) as i64);
            if cfg.printout_pixel.is_some_and(|p| p != (f, sl)) {
                return None;
            }
            let pos = s.last_position;
            let twotheta = (pos[1] * pos[1] + pos[2] * pos[2]).sqrt().atan2(pos[0]);
            let test = (twotheta / 2.0).sin() / (lambda0 * 1e10);
            let w = |x: f64| format!("{:>15}", g_prec(x, 10));
            Some([
                format!("{f:>4} {sl:>4} : stol = {} or {}", g(s.last_stol), g(test)),
                format!(" F={}    I = {}", g(s.last_f), g(s.intensity)),
                format!("I/steps {}", w(s.intensity / steps)),
                format!("polar   {}", w(s.last_polar)),
                format!("omega   {}", w(s.last_omega)),
                format!("pixel   {}", w(f64::from(value))),
            ])
        })?;
    lines.extend(kept.into_iter().flatten().flatten().flatten());
    Ok(())
}

mod inverse {
    //! `-img`: observed pixels back to F, binned by sinθ/λ.

    use super::output::{Bin, bin_stats};
    use super::render::{PixelSums, R_E_SQR};
    use super::{Config, Params, StolTable};
    use crate::cfmt::g;
    use crate::io::SmvImage;

    /// What the inverse mode needs per pixel.
    pub struct Inverse<'a> {
        compat: bool,
        table: &'a StolTable,
        data: &'a [u16],
        ignore: Vec<f64>,
        adc: f64,
        gain: f64,
        scale: f64,
        steps: f64,
        fluence: f64,
        molecules: f64,
    }

    /// One pixel: its F and its bin (`None`: invalid).
    pub type Pixel = (f32, Option<usize>);

    impl<'a> Inverse<'a> {
        pub fn new(cfg: &Config, params: &Params, table: &'a StolTable, img: &'a SmvImage) -> Self {
            Inverse {
                compat: cfg.compat,
                table,
                data: &img.data,
                ignore: cfg.ignore.clone(),
                adc: cfg.adc,
                gain: cfg.gain,
                scale: params.fluence * R_E_SQR * params.molecules,
                steps: params.steps(),
                fluence: params.fluence,
                molecules: params.molecules,
            }
        }

        /// F and bin of pixel `j` from its sums.
        pub fn pixel(&self, j: usize, s: &PixelSums) -> Pixel {
            let obs = self.data.get(j).copied().unwrap_or(0);
            let (f, stol, nearest) = if self.compat {
                // C: float deviate, P and ω of the last sub-pixel and source.
                let dev = ((f64::from(f32::from(obs)) - self.adc) / self.gain) as f32;
                let sign: f32 = if dev < 0.0 { -1.0 } else { 1.0 };
                let dev = f64::from(dev.abs());
                let f = f64::from(sign)
                    * (dev / s.last_polar / s.last_omega / self.fluence / R_E_SQR / self.molecules
                        * self.steps)
                        .sqrt();
                let node = s.node.unwrap_or_else(|| self.table.nearest(s.last_stol));
                (f as f32, s.last_stol, node)
            } else {
                let dev = (f64::from(obs) - self.adc) / self.gain;
                let f =
                    dev.signum() * (dev.abs() * self.steps / (s.polar_omega * self.scale)).sqrt();
                let stol = s.stol_sum / self.steps;
                (f as f32, stol, self.table.nearest(stol))
            };
            let ignored = self.ignore.iter().any(|&v| {
                if self.compat {
                    // C stores the value in an unsigned short.
                    f32::from(obs) == f32::from(v as u16)
                } else {
                    f64::from(obs) == v
                }
            });
            if ignored {
                return (f, None);
            }
            let mut bin = nearest;
            let (x0, x1) = (self.table.node(bin).0, self.table.node(bin + 1).0);
            if stol > (x0 + x1) / 2.0 {
                bin += 1;
            }
            (f, Some(bin))
        }

        /// The bins: the log lines (warnings for bins of 100 pixels or fewer), the text of
        /// the output file, and the last bin's count (C's pixel counter afterwards).
        pub fn bins(&self, pixels: &[Option<Pixel>]) -> (Vec<String>, String, usize) {
            let nodes = self.table.nodes();
            let mut values: Vec<Vec<f32>> = vec![Vec::new(); nodes];
            for (f, bin) in pixels.iter().flatten() {
                if let Some(b) = bin
                    && let Some(v) = values.get_mut(*b)
                {
                    v.push(*f);
                }
            }
            let (mut log, mut text, mut last) = (Vec::new(), String::new(), 0);
            let mult = self.table.multiplier();
            for (b, v) in values.iter().enumerate().take(nodes - 2).skip(2) {
                let stol = self.table.node(b).0 / mult;
                let Bin {
                    mean,
                    rmsd,
                    median,
                    mad,
                    n,
                    ..
                } = bin_stats(stol, v, self.compat);
                if n > 100 {
                    text += &format!(
                        "{} {} {}   {} {}  {n}\n",
                        g(stol),
                        g(mean),
                        g(rmsd),
                        g(median),
                        g(mad)
                    );
                } else {
                    log.push(format!(
                        "WARNING: not enough pixels in bin= {b} n={n} stol= {} median= {} avg_arej= {}",
                        g(stol),
                        g(median),
                        g(mean)
                    ));
                }
                last = n;
            }
            (log, text, last)
        }
    }
}

#[cfg(test)]
mod tests;
