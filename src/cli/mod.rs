//! The nanoBragg command line: parsing ([`args`], [`tokens`]), conversion into [`Params`] and
//! [`run::Outputs`] (this module), and running the job ([`run`]).
//!
//! The conversion follows nanoBragg.c's order: an `-mask` header, then an `-img` header set
//! geometry defaults; options override them; then C's "fill in blanks" rules size the
//! detector. Units are converted here, once, to SI (mm → m, Å → m, degrees and mrad → rad,
//! µm → m, eV → m). Input files are read here, so [`Params`] holds data, never paths:
//! the HKL list (and C's `Fdump.bin` cache, announced on the console), the MOSFLM matrix, the
//! source list and the mask. Nothing is written here: the cache an `-hkl` run leaves for the
//! next one is an output like the images ([`run::Outputs::fdump`]), written only when the
//! whole run succeeds. A cache that exists but cannot be read is ignored with a warning, unless
//! nothing else gives structure factors: then its error is the run's.

pub mod args;
mod progress;
pub mod run;
#[doc(hidden)]
pub mod tokens;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::io;
use crate::noise::NoiseMode;
use crate::params::{Convention, Lattice, Misset, Params, Pivot, Shape, SourceSpec};

pub use args::{CliArgs, ParseOutcome, parse};
pub use run::{Job, Outputs, execute};

fn vec3(v: &Option<Vec<f64>>) -> Option<[f64; 3]> {
    v.as_ref().map(|v| [v[0], v[1], v[2]])
}

fn seconds_since_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as i64)
}

/// Geometry read from an SMV header (`-img` or `-mask`, read from `path`), applied before the
/// options.
///
/// A value the simulation cannot use (a pixel size, distance or wavelength that is not a
/// positive number, an angle or beam centre that is not finite) is an [`Error::Format`] naming
/// the file and the key, unless the option that overrides it is given.
fn apply_header(
    img: &io::SmvImage,
    path: &Path,
    is_mask: bool,
    a: &CliArgs,
    p: &mut Params,
) -> Result<()> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let finite = |v: f64| v.is_finite();
    // The header's value of `key`, checked with `usable` unless `option` overrides it.
    let value = |key: &str, option: &str, overridden: bool, usable: &dyn Fn(f64) -> bool| {
        let v = img.value(key);
        match v {
            Some(x) if !overridden && !usable(x) => Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "{key}={} in the header cannot be used (give {option} to override it)",
                    crate::cfmt::g(x)
                ),
            }),
            _ => Ok(v),
        }
    };
    let d = &mut p.detector;
    d.fpixels = img.size1;
    d.spixels = img.size2;
    if let Some(v) = value("PIXEL_SIZE", "-pixel", a.pixel.is_some(), &positive)? {
        d.pixel_size = v / 1000.0;
    }
    d.size = [
        d.pixel_size * d.fpixels as f64,
        d.pixel_size * d.spixels as f64,
    ];
    if let Some(v) = value("DISTANCE", "-distance", a.distance.is_some(), &positive)? {
        d.distance = v / 1000.0;
    }
    let close = a.close_distance.is_some();
    if let Some(v) = value("CLOSE_DISTANCE", "-close_distance", close, &positive)? {
        d.close_distance = Some(v / 1000.0);
    }
    if let Some(v) = value("WAVELENGTH", "-lambda", a.wavelength.is_some(), &positive)? {
        p.beam.wavelength = v / 1e10;
    }
    if let Some(v) = value("BEAM_CENTER_X", "-Xbeam", a.xbeam.is_some(), &finite)? {
        d.beam_center[0] = Some(v / 1000.0);
    }
    if let Some(v) = value("BEAM_CENTER_Y", "-Ybeam", a.ybeam.is_some(), &finite)? {
        d.beam_center[1] = Some(if is_mask {
            d.size[1] - v / 1000.0
        } else {
            v / 1000.0
        });
    }
    if let Some(v) = value("ORGX", "-ORGX", a.orgx.is_some(), &finite)? {
        d.org[0] = Some(v);
    }
    if let Some(v) = value("ORGY", "-ORGY", a.orgy.is_some(), &finite)? {
        d.org[1] = Some(v);
    }
    if let Some(v) = value("PHI", "-phi", a.phi.is_some(), &finite)? {
        p.rotation.phi0 = v.to_radians();
    }
    if let Some(v) = value("OSC_RANGE", "-osc", a.osc.is_some(), &finite)? {
        p.rotation.osc = Some(v.to_radians());
    }
    Ok(())
}

fn nonneg_index(option: &str, v: i32) -> Result<usize> {
    usize::try_from(v)
        .map_err(|_| Error::usage(option, format!("{v} is not a pixel index (must be >= 0)")))
}

fn count(option: &str, v: i32) -> Result<usize> {
    match usize::try_from(v) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::usage(
            option,
            format!("{v} pixels: must be at least 1"),
        )),
    }
}

/// Convert parsed arguments into a runnable job, reading the input files they name.
///
/// The sections of [`Params`] are converted in nanoBragg.c's order: the `-mask` and `-img`
/// headers first (so options override them), then beam, detector, crystal, rotation, sampling
/// and structure factors; then the outputs.
///
/// ```
/// use nanobragg::cli::{self, ParseOutcome};
/// use nanobragg::{engine, setup::Setup};
///
/// let line = "-cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -N 5 -detpixels 64";
/// let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
/// let ParseOutcome::Run(args) = cli::parse(&argv)? else { unreachable!() };
/// let job = cli::to_job(&args)?;
/// assert_eq!(job.params.beam.wavelength, 6.2e-10); // SI units inside
/// let setup = Setup::new(&job.params)?;
/// let image = engine::render(&setup, job.backend);
/// assert_eq!(image.pixels.len(), 64 * 64);
///
/// // Usage errors name the option (exit status 2 on the command line).
/// let bad: Vec<String> = ["-lambda", "fast"].map(String::from).to_vec();
/// let err = cli::parse(&bad).and_then(|_| Ok(())).unwrap_err();
/// assert_eq!(err.exit_code(), 2);
/// assert!(err.to_string().contains("-lambda"), "{err}");
/// # Ok::<(), nanobragg::Error>(())
/// ```
pub fn to_job(a: &CliArgs) -> Result<Job> {
    let started = std::time::Instant::now();
    let mut notes: Vec<String> = a.warnings.iter().map(|w| format!("WARNING: {w}")).collect();
    let mut p = Params {
        compat: a.compat,
        ..Params::default()
    };

    if a.printout || a.printout_pixel.is_some() {
        return Err(Error::Unsupported {
            option: "-printout".into(),
        });
    }
    let backend = match a.backend {
        args::BackendArg::Scalar => Backend::Scalar,
        args::BackendArg::Simd => Backend::Simd,
    };

    // Headers first: the mask, then the image (so -img wins), then the options.
    let mut mask = None;
    if let Some(path) = &a.mask {
        notes.push(format!("reading {}", path.display()));
        let m = io::read_smv(path)?;
        apply_header(&m, path, true, a, &mut p)?;
        mask = Some(m);
    }
    if let Some(path) = &a.img {
        notes.push(format!("reading {}", path.display()));
        let m = io::read_smv(path)?;
        apply_header(&m, path, false, a, &mut p)?;
    }
    beam(a, &mut p, &mut notes)?;
    detector(a, &mut p, mask, &mut notes)?;
    crystal(a, &mut p, &mut notes)?;
    rotation(a, &mut p);
    sampling(a, &mut p)?;
    let fdump = structure_factors(a, &mut p, &mut notes)?;
    let (outputs, frames) = outputs(a, fdump)?;
    p.validate()?;
    Ok(Job {
        params: p,
        outputs,
        backend,
        notes,
        frames,
        progress: a.progress.unwrap_or(true) && !a.quiet,
        read_time: started.elapsed(),
    })
}

/// The beam options (`-lambda`, fluence, polarization, divergence, dispersion, sources).
fn beam(a: &CliArgs, p: &mut Params, notes: &mut Vec<String>) -> Result<()> {
    match a.wavelength {
        Some(args::WavelengthArg::Lambda(l)) => p.beam.wavelength = l * 1e-10,
        Some(args::WavelengthArg::Energy(e)) => p.beam.wavelength = 12398.42 / e * 1e-10,
        None => {}
    }
    if let Some(f) = a.fluence {
        p.beam.fluence = f;
    }
    if let Some(f) = a.flux {
        p.beam.flux = f;
    }
    if let Some(t) = a.exposure {
        p.beam.exposure = t;
    }
    if let Some(w) = a.beamsize {
        p.beam.beam_size = w / 1000.0;
    }
    if let Some(k) = a.polar {
        p.beam.kahn_factor = k;
    }
    p.beam.nopolar = a.polar_off.unwrap_or(false);
    if let Some(d) = a.dispersion {
        p.beam.dispersion = Some(d / 100.0);
    }
    p.beam.dispsteps = a.dispsteps.map(i64::from);
    p.beam.divergence_range = a.divergence_range.map(|r| r.map(|x| x / 1000.0));
    p.beam.divergence_step = [a.hdivstep, a.vdivstep].map(|r| r.map(|x| x / 1000.0));
    p.beam.divergence_steps = a.divergence_steps.map(|n| n.map(i64::from));
    p.beam.round_div = a.round_div.unwrap_or(true);
    p.beam.beam_vector = vec3(&a.beam_vector);
    p.beam.polar_vector = vec3(&a.polar_vector);
    if let Some(path) = &a.sourcefile {
        notes.push(format!("reading {}", path.display()));
        let lines = io::sourcefile::read_source_file(path)?;
        p.beam.sources = Some(
            lines
                .into_iter()
                .map(|l| SourceSpec {
                    position: l.position,
                    weight: l.weight,
                    wavelength: l.lambda_m,
                })
                .collect(),
        );
    }

    Ok(())
}

/// The detector options: size and pixels (C's "fill in blanks"), distance, beam centre,
/// convention and pivot, rotations, vectors, sensor, and the `-mask` pixels.
fn detector(
    a: &CliArgs,
    p: &mut Params,
    mask: Option<io::SmvImage>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let d = &mut p.detector;
    if let Some(px) = a.pixel {
        if !(px.is_finite() && px > 0.0) {
            return Err(Error::usage(
                "-pixel",
                format!("{px} mm: the pixel size must be a positive number"),
            ));
        }
        d.pixel_size = px / 1000.0;
    }
    let mut pixels = [
        (d.fpixels > 0 && (a.mask.is_some() || a.img.is_some())).then_some(d.fpixels),
        (d.spixels > 0 && (a.mask.is_some() || a.img.is_some())).then_some(d.spixels),
    ];
    for (i, name) in [(0, "-detpixels_x"), (1, "-detpixels_y")] {
        if let Some(n) = a.detector_pixels[i] {
            pixels[i] = Some(count(name, n)?);
        }
    }
    // C's "fill in blanks": a pixel count fixes the size; the count is then re-derived.
    let mut counts = [0usize; 2];
    for (i, n_out) in counts.iter_mut().enumerate() {
        if let Some(s) = a.detector_size[i] {
            d.size[i] = s / 1000.0;
        }
        if let Some(n) = pixels[i] {
            d.size[i] = d.pixel_size * n as f64;
        }
        let n = (d.size[i] / d.pixel_size - 0.5).ceil();
        if !(1.0..1e9).contains(&n) {
            let option = if a.detector_pixels[i].is_some() {
                ["-detpixels_x", "-detpixels_y"][i]
            } else {
                "-detsize"
            };
            let problem = if n >= 1e9 {
                format!(
                    "{n} pixels across, more than this build accepts ({} pixels in all)",
                    crate::params::MAX_PIXELS
                )
            } else {
                "no pixels".to_string()
            };
            return Err(Error::usage(
                option,
                format!(
                    "a detector {} mm wide with {} mm pixels has {problem}",
                    d.size[i] * 1000.0,
                    d.pixel_size * 1000.0
                ),
            ));
        }
        *n_out = n as usize;
    }
    [d.fpixels, d.spixels] = counts;
    if let Some(x) = a.distance {
        d.distance = x / 1000.0;
    }
    if let Some(x) = a.close_distance {
        d.close_distance = Some(x / 1000.0);
    }
    if let Some(x) = a.xbeam {
        d.beam_center[0] = Some(x / 1000.0);
    }
    if let Some(x) = a.ybeam {
        d.beam_center[1] = Some(x / 1000.0);
    }
    if let Some(x) = a.xclose {
        d.close_point[0] = Some(x / 1000.0);
    }
    if let Some(x) = a.yclose {
        d.close_point[1] = Some(x / 1000.0);
    }
    if let Some(x) = a.orgx {
        d.org[0] = Some(x);
    }
    if let Some(x) = a.orgy {
        d.org[1] = Some(x);
    }
    d.convention = match a.convention {
        None | Some(args::ConventionArg::Mosflm) => Convention::Mosflm,
        Some(args::ConventionArg::Xds) => Convention::Xds,
        Some(args::ConventionArg::Adxv) => Convention::Adxv,
        Some(args::ConventionArg::Denzo) => Convention::Denzo,
        Some(args::ConventionArg::Dials) => Convention::Dials,
        Some(args::ConventionArg::Custom) => Convention::Custom,
    };
    d.pivot = a.pivot_request.map(|v| match v {
        args::PivotArg::Beam => Pivot::Beam,
        args::PivotArg::Sample => Pivot::Sample,
    });
    if let Some(requested) = d.pivot {
        let forced = match d.convention {
            Convention::Mosflm | Convention::Denzo | Convention::Adxv => Some(Pivot::Beam),
            Convention::Xds | Convention::Dials => Some(Pivot::Sample),
            Convention::Custom => None,
        };
        if a.pivot.is_some() && forced.is_some_and(|f| f != requested) {
            notes.push(format!(
                "WARNING: -pivot {} is overridden: the {:?} convention always pivots about the {}",
                if requested == Pivot::Beam {
                    "beam"
                } else {
                    "sample"
                },
                d.convention,
                if forced == Some(Pivot::Beam) {
                    "direct beam spot"
                } else {
                    "sample"
                },
            ));
        }
    }
    if d.convention == Convention::Custom {
        notes.push(
            "WARNING: a detector or beam vector option selects the CUSTOM convention: the other \
             vectors take nanoBragg's defaults and the MOSFLM beam-centre rules no longer apply"
                .into(),
        );
    }
    d.rotation =
        [a.detector_rotx, a.detector_roty, a.detector_rotz].map(|r| r.unwrap_or(0.0).to_radians());
    d.twotheta = a.twotheta.unwrap_or(0.0).to_radians();
    d.fdet_vector = vec3(&a.fdet_vector);
    d.sdet_vector = vec3(&a.sdet_vector);
    d.odet_vector = vec3(&a.odet_vector);
    d.twotheta_axis = vec3(&a.twotheta_axis);
    if a.pix0_vector.is_some() {
        notes.push(
            "WARNING: -pix0_vector only selects the CUSTOM convention; as in nanoBragg its values \
             are not used (the origin is computed from the beam centre and distance)"
                .into(),
        );
    }
    d.thickness = a.detector_thick.map(|t| t * 1e-6);
    d.thicksteps = a.detector_thicksteps.map(i64::from);
    if let Some(l) = a.detector_absorb {
        if l.is_infinite() || l == 0.0 {
            d.attenuation_length = Some(f64::INFINITY);
            if !a.detector_absorb_off_first {
                d.thickness = Some(0.0);
            }
        } else {
            d.attenuation_length = Some(l * 1e-6);
        }
    }
    d.curved = a.curved_det;
    d.point_pixel = a.point_pixel;
    if let Some(m) = mask {
        if m.data.len() != d.fpixels * d.spixels {
            return Err(Error::usage(
                "-mask",
                format!(
                    "{}: the mask is {} x {} pixels but the detector is {} x {}",
                    a.mask.as_deref().unwrap_or(Path::new("")).display(),
                    m.size1,
                    m.size2,
                    d.fpixels,
                    d.spixels
                ),
            ));
        }
        d.mask = Some(Arc::new(m.data));
    }

    Ok(())
}

/// The crystal: the cell or the `-mat` matrix, misset, cell counts, size, shape.
fn crystal(a: &CliArgs, p: &mut Params, notes: &mut Vec<String>) -> Result<()> {
    let c = &mut p.crystal;
    if let Some(cell) = &a.cell {
        let v = |i: usize| cell.get(i).copied().unwrap_or(0.0);
        let a0 = v(0);
        let len = |x: f64| if x <= 0.0 { a0 } else { x };
        let ang = |x: f64| if x <= 0.0 { 90.0 } else { x };
        c.lattice = Lattice::cell(
            a0 * 1e-10,
            len(v(1)) * 1e-10,
            len(v(2)) * 1e-10,
            ang(v(3)).to_radians(),
            ang(v(4)).to_radians(),
            ang(v(5)).to_radians(),
        );
    }
    if let Some(path) = &a.mat {
        if a.cell.is_some() {
            notes.push("WARNING: -mat gives the orientation and cell; -cell is ignored".into());
        }
        notes.push(format!("reading {}", path.display()));
        let rows = io::read_mosflm_matrix(path)?;
        c.lattice = Lattice::from_mosflm_matrix(&rows, p.beam.wavelength);
    } else if a.cell.is_none() {
        return Err(Error::usage(
            "-cell",
            "no unit cell: give -cell a b c alpha beta gamma (Angstrom, degrees) or -mat FILE",
        ));
    }
    c.misset = match a.misset {
        None => Misset::None,
        Some(args::MissetArg::Angles(v)) => Misset::Angles(v.map(f64::to_radians)),
        Some(args::MissetArg::Random) => Misset::Random {
            seed: a.misset_seed.unwrap_or_else(seconds_since_epoch),
        },
    };
    for i in 0..3 {
        if let Some(n) = a.n_cells[i] {
            c.cells[i] = n as f64;
        }
        c.size[i] = a.crystal_size[i].map(|mm| mm / 1000.0);
    }
    c.shape = match a.shape {
        None | Some(args::ShapeArg::Square) => Shape::Square,
        Some(args::ShapeArg::Round) => Shape::Round,
        Some(args::ShapeArg::Gauss) => Shape::Gauss,
        Some(args::ShapeArg::Tophat) => Shape::Tophat,
    };
    if let Some(f) = a.fudge {
        c.fudge = f;
    }

    Ok(())
}

/// The spindle rotation and the mosaic domains.
fn rotation(a: &CliArgs, p: &mut Params) {
    let r = &mut p.rotation;
    if let Some(x) = a.phi {
        r.phi0 = x.to_radians();
    }
    if let Some(x) = a.osc {
        r.osc = Some(x.to_radians());
    }
    r.phistep = a.phistep.map(f64::to_radians);
    r.phisteps = a.phisteps.map(i64::from);
    r.spindle_axis = vec3(&a.spindle_axis);
    r.mosaic_spread = a.mosaic.map(f64::to_radians);
    r.mosaic_domains = a.mosaic_domains.map(i64::from);
    if let Some(s) = a.mosaic_seed {
        r.mosaic_seed = s;
    }
}

/// Oversampling, the region of interest, the resolution limit and the water background.
fn sampling(a: &CliArgs, p: &mut Params) -> Result<()> {
    let s = &mut p.sampling;
    s.oversample = a.oversample.filter(|&n| n > 0).map(|n| n as u32);
    s.oversample_thick = a.oversample_thick;
    s.oversample_polar = a.oversample_polar;
    s.oversample_omega = a.oversample_omega;
    if let Some(roi) = &a.roi {
        s.roi = Some([
            nonneg_index("-roi", roi[0])?,
            nonneg_index("-roi", roi[1])?,
            nonneg_index("-roi", roi[2])?,
            nonneg_index("-roi", roi[3])?,
        ]);
    }
    if let Some(x) = a.dmin {
        s.dmin = x * 1e-10;
    }
    if let Some(w) = a.water {
        p.water_size = w * 1e-6;
    }

    Ok(())
}

/// Structure factors: the HKL file (and the cache C writes next to it), or the cache. Returns
/// the cache to write once the run has succeeded.
fn structure_factors(
    a: &CliArgs,
    p: &mut Params,
    notes: &mut Vec<String>,
) -> Result<Option<PathBuf>> {
    p.structure_factors.default_f = a.default_f.unwrap_or(0.0);
    p.structure_factors.interpolate = a.interpolate;
    let dump: PathBuf = a.dump.clone().unwrap_or_else(|| "Fdump.bin".into());
    let mut fdump = None;
    // Why an existing cache could not be used: the error when nothing else gives Fs.
    let mut cache_error = None;
    if let Some(path) = &a.hkl {
        notes.push(format!("reading {}", path.display()));
        let grid = io::read_hkl(path, p.structure_factors.default_f)?;
        notes.push(format!(
            "writing dump file for next time: {}",
            dump.display()
        ));
        fdump = Some(dump.clone());
        p.structure_factors.grid = Some(Arc::new(grid));
    } else if dump.exists() {
        match io::read_fdump(&dump) {
            Ok(grid) => {
                notes.push(format!(
                    "reading Fs from {} (the cache a previous -hkl run left here; delete it or \
                     give -hkl to use other structure factors)",
                    dump.display()
                ));
                p.structure_factors.grid = Some(Arc::new(grid));
            }
            Err(e) => {
                notes.push(format!("WARNING: ignoring the structure-factor cache: {e}"));
                cache_error = Some(e);
            }
        }
    }
    if p.structure_factors.grid.is_none() && p.structure_factors.default_f == 0.0 {
        if let Some(e) = cache_error {
            return Err(e);
        }
        return Err(Error::usage(
            "-hkl",
            format!(
                "no structure factors: give -hkl FILE or -default_F F (no {} cache here either)",
                dump.display()
            ),
        ));
    }

    Ok(fdump)
}

/// The output files, their scaling and the noise seed; and the number of frames.
fn outputs(a: &CliArgs, fdump: Option<PathBuf>) -> Result<(Outputs, usize)> {
    let mut outputs = Outputs::default();
    if let Some(f) = &a.floatfile {
        outputs.float = f.clone();
    }
    if let Some(f) = &a.intfile {
        outputs.int = f.clone();
    }
    outputs.noise = a.noise.unwrap_or(true).then(|| {
        a.noisefile
            .clone()
            .unwrap_or_else(|| "noiseimage.img".into())
    });
    outputs.pgm = a
        .pgm
        .unwrap_or(true)
        .then(|| a.pgmfile.clone().unwrap_or_else(|| "image.pgm".into()));
    outputs.png = a.pngfile.clone();
    outputs.cbf = a.cbffile.clone();
    outputs.h5 = a.h5file.clone();
    outputs.npy = a.npyfile.clone();
    if outputs.h5.is_some() && !cfg!(feature = "hdf5") {
        return Err(Error::usage(
            "-h5file",
            "this nanobragg was built without HDF5 support: rebuild it with \
             cargo build --release --features hdf5 (needs the HDF5 library, Debian: libhdf5-dev)",
        ));
    }
    let frames = match a.frames {
        None => 1,
        Some(n) if n >= 1 => usize::try_from(n).map_err(|_| {
            Error::usage(
                "-frames",
                format!("{n} frames is more than this machine can count"),
            )
        })?,
        Some(n) => {
            return Err(Error::usage(
                "-frames",
                format!("the number of frames must be 1 or more, not {n}"),
            ));
        }
    };
    outputs.fdump = fdump;
    outputs.int_scale = a.scale;
    outputs.pgm_scale = a.pgmscale;
    if let Some(adc) = a.adc {
        outputs.adc = adc;
    }
    outputs.seed = a.seed.unwrap_or_else(seconds_since_epoch);
    outputs.noise_mode = if a.compat {
        NoiseMode::Compat
    } else {
        NoiseMode::Counter
    };

    Ok((outputs, frames))
}
