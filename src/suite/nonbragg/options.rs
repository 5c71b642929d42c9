//! nonBragg's command line: the option table and the settings it builds, in C's order.
//!
//! Every spelling C accepts is listed (the exact names `-detsize`, `-detpixels`, `-polar`,
//! `-phi`, `-phistep`, `-stol`, `-4stol`, `-Q`, `-hdivstep`, `-vdivstep`, `-MW`; prefixes where
//! C's name is shortened, such as `-thick…`, `-sample_den…`, `-molecular…`, `-wave…`). The
//! options are applied in command-line order, so the last value wins and the pivot is that of
//! the last BEAM option (`-distance`, `-Xbeam`, `-Ybeam`) or SAMPLE option (`-close_distance`,
//! `-Xclose`, `-Yclose`, `-ORGX`, `-ORGY`, `-twotheta`) unless a later `-pivot` says otherwise
//! (quirk NB13). Under `-compat`, `-twotheta_axis` also sets two-theta to its first component
//! and the pivot to SAMPLE, as C's substring match does (quirk NB5).

use std::path::PathBuf;

use super::geometry::{Pivot, Spread};
use super::table::TableUnit;
use crate::error::{Error, Result};
use crate::io::SmvImage;
use crate::suite::options::{Args, Item, Spec};

/// Degrees per radian as C computes it (`180.0*M_1_PI`).
pub const RTD: f64 = 180.0 * std::f64::consts::FRAC_1_PI;

/// Avogadro's number as C has it.
pub const AVOGADRO: f64 = 6.02214179e23;

const fn spec(
    names: &'static [&'static str],
    prefix: bool,
    values: &'static str,
    help: &'static str,
) -> Spec {
    Spec {
        names,
        prefix,
        values,
        help,
    }
}

/// nonBragg's options.
#[rustfmt::skip]
pub const SPECS: &[Spec] = &[
    spec(&["-stol"], false, "FILE", "table of sin(theta)/lambda (1/A) and F per molecule"),
    spec(&["-4stol"], false, "FILE", "table of 4*sin(theta)/lambda (1/A) and F"),
    spec(&["-Q"], false, "FILE", "table of Q = 4*pi*sin(theta)/lambda (1/A) and F"),
    spec(&["-samplesize", "-sample_size"], false, "MM", "all three sample dimensions"),
    spec(&["-sample_thick", "-sample_x", "-thick", "-thickness", "-sample_thickness"], true, "MM", "sample thickness along the beam"),
    spec(&["-sample_width", "-sample_y", "-width"], false, "MM", "sample width"),
    spec(&["-sample_heigh", "-sample_z", "-heigh", "-height", "-sample_height"], true, "MM", "sample height"),
    spec(&["-density", "-sample_den", "-sample_density"], true, "G/CM3", "sample density (default 1)"),
    spec(&["-molecules", "-sample_molecules"], false, "N", "molecules in the beam (overrides the density)"),
    spec(&["-MW"], false, "G/MOL", "molecular weight (default 18)"),
    spec(&["-molecular", "-molecular_weight"], true, "G/MOL", "molecular weight (default 18)"),
    spec(&["-lambda"], false, "A", "wavelength (default 1)"),
    spec(&["-wave", "-wavelength"], true, "A", "wavelength (default 1)"),
    spec(&["-energy"], false, "EV", "photon energy instead of the wavelength"),
    spec(&["-fluence"], false, "PH/M2", "integrated beam intensity (default 1.2593e29)"),
    spec(&["-flux"], false, "PH/S", "beam intensity: fluence = flux*exposure/beamsize^2"),
    spec(&["-exposure"], false, "S", "exposure time (default 1)"),
    spec(&["-beamsize"], false, "MM", "beam size, also clips the sample (default 0.1)"),
    spec(&["-dispersion"], false, "PERCENT", "spectral dispersion"),
    spec(&["-dispsteps"], false, "N", "wavelengths across the dispersion"),
    spec(&["-divergence"], false, "MRAD", "horizontal and vertical divergence"),
    spec(&["-hdivrange"], false, "MRAD", "horizontal divergence"),
    spec(&["-vdivrange"], false, "MRAD", "vertical divergence"),
    spec(&["-hdivstep"], false, "MRAD", "horizontal divergence step"),
    spec(&["-vdivstep"], false, "MRAD", "vertical divergence step"),
    spec(&["-hdivsteps"], false, "N", "horizontal divergence points"),
    spec(&["-vdivsteps"], false, "N", "vertical divergence points"),
    spec(&["-divsteps"], false, "N", "divergence points in both directions"),
    spec(&["-round_div"], false, "", "drop divergence points outside the ellipse (default)"),
    spec(&["-square_div"], false, "", "keep the whole divergence grid"),
    spec(&["-source_distance"], false, "MM", "distance of the sources (default 10 m)"),
    spec(&["-sourcefile"], false, "FILE", "sources: X Y Z (m) weight lambda (m) per line"),
    spec(&["-polar"], false, "K", "Kahn polarization factor (default 0: unpolarised)"),
    spec(&["-nopolar"], false, "", "no polarization factor"),
    spec(&["-polar_vector"], false, "X Y Z", "polarization axis (default 0 0 1)"),
    spec(&["-distance"], false, "MM", "distance along the beam (default 100; beam pivot)"),
    spec(&["-close_distance"], false, "MM", "distance to the detector plane (sample pivot)"),
    spec(&["-Xbeam"], false, "MM", "beam centre along fast (beam pivot)"),
    spec(&["-Ybeam"], false, "MM", "beam centre along slow (beam pivot)"),
    spec(&["-Xclose"], false, "MM", "near point along fast (sample pivot)"),
    spec(&["-Yclose"], false, "MM", "near point along slow (sample pivot)"),
    spec(&["-ORGX"], false, "PIXELS", "near point along fast in pixels (sample pivot)"),
    spec(&["-ORGY"], false, "PIXELS", "near point along slow in pixels (sample pivot)"),
    spec(&["-pivot"], false, "sample|beam", "the point the detector turns about"),
    spec(&["-detector_rotx"], false, "DEG", "detector rotation about x"),
    spec(&["-detector_roty"], false, "DEG", "detector rotation about y"),
    spec(&["-detector_rotz"], false, "DEG", "detector rotation about z"),
    spec(&["-twotheta"], false, "DEG", "detector two-theta (sample pivot)"),
    spec(&["-twotheta_axis"], false, "X Y Z", "two-theta axis (default 0 1 0)"),
    spec(&["-fdet_vector"], false, "X Y Z", "fast axis (default 0 0 1)"),
    spec(&["-sdet_vector"], false, "X Y Z", "slow axis (default 0 -1 0)"),
    spec(&["-beam_vector"], false, "X Y Z", "beam direction (default 1 0 0)"),
    spec(&["-odet_vector"], false, "X Y Z", "ignored: the normal is fast x slow"),
    spec(&["-pix0_vector"], false, "X Y Z", "ignored: either pivot sets the origin"),
    spec(&["-spindle_axis"], false, "X Y Z", "ignored"),
    spec(&["-detsize"], false, "MM", "detector size (default 102.4)"),
    spec(&["-detsize_x"], false, "MM", "detector size along fast"),
    spec(&["-detsize_y"], false, "MM", "detector size along slow"),
    spec(&["-detpixels"], false, "N", "pixels per side"),
    spec(&["-detpixels_x", "-detpixels_f"], false, "N", "pixels along fast"),
    spec(&["-detpixels_y", "-detpixels_s"], false, "N", "pixels along slow"),
    spec(&["-pixel"], false, "MM", "pixel size (default 0.1)"),
    spec(&["-curved_det"], false, "", "every pixel at the same distance from the sample"),
    spec(&["-point_pixel"], false, "", "solid angle 1/R^2 (no pixel area, no obliquity)"),
    spec(&["-oversample"], false, "N", "sub-pixels per pixel side"),
    spec(&["-roi"], false, "XMIN XMAX YMIN YMAX", "render only these pixels (inclusive)"),
    spec(&["-phi"], false, "DEG", "header only: phi"),
    spec(&["-osc"], false, "DEG", "header only: oscillation range"),
    spec(&["-phistep"], false, "DEG", "header only"),
    spec(&["-phisteps"], false, "N", "header only"),
    spec(&["-floatfile", "-floatimage"], false, "FILE", "photons per pixel, raw float32 (floatimage.bin)"),
    spec(&["-intfile", "-intimage"], false, "FILE", "SMV image float*scale+adc, rounded (intimage.img)"),
    spec(&["-noisefile", "-noiseimage"], false, "FILE", "SMV image with Poisson noise (noiseimage.img)"),
    spec(&["-pgmfile", "-pgmimage"], false, "FILE", "PGM preview (image.pgm)"),
    spec(&["-nonoise"], false, "", "no noise image"),
    spec(&["-nopgm"], false, "", "no PGM preview (C ignores it; so does -compat)"),
    spec(&["-scale"], false, "FACTOR", "int image scale (default 55000/max)"),
    spec(&["-pgmscale"], false, "FACTOR", "PGM scale (default 250/(5*rmsd))"),
    spec(&["-adc"], true, "ADU", "ADC offset (default 40)"),
    spec(&["-gain"], false, "ADU/PH", "-img: ADU per photon (default 1)"),
    spec(&["-seed"], false, "N", "noise seed (default: the clock)"),
    spec(&["-Fmap"], false, "", "store the interpolated F instead of photons"),
    spec(&["-img"], true, "FILE", "inverse mode: read an SMV image and write F per stol bin"),
    spec(&["-stolout"], true, "FILE", "-img: the table of F per stol bin (output.stol)"),
    spec(&["-ignore"], false, "VALUE", "-img: pixels of this value are invalid (repeatable)"),
    spec(&["-noreject"], false, "", "no outlier rejection (there is none)"),
    spec(&["-coherent"], false, "", "ignored"),
    spec(&["-printout"], false, "", "print pixel values"),
    spec(&["-printout_pixel"], false, "F S", "print the values of one pixel"),
    spec(&["-progress"], false, "", "ignored (no progress meter)"),
    spec(&["-noprogress"], false, "", "ignored (no progress meter)"),
    spec(&["-compat"], false, "", "reproduce the C program, quirks included"),
];

/// The settings of one run, as C holds them after its option loop (SI units).
#[derive(Clone, Debug)]
pub struct Config {
    /// `-compat`.
    pub compat: bool,
    /// Sample thickness (along the beam), width, height (m): C's sample_x, _y, _z.
    pub sample: [f64; 3],
    /// g/m³.
    pub density: f64,
    /// `-molecules` (0: from the density).
    pub molecules: f64,
    /// g/mol.
    pub molecular_weight: f64,
    /// Beam centre, near point (m) and ORGX/ORGY (pixels).
    pub beam_center: [Option<f64>; 2],
    /// Near point (m).
    pub close_point: [Option<f64>; 2],
    /// ORGX, ORGY.
    pub org: [Option<f64>; 2],
    /// The pivot.
    pub pivot: Pivot,
    /// Detector, beam and polarization vectors, the two-theta axis.
    pub fdet: [f64; 3],
    /// Slow axis.
    pub sdet: [f64; 3],
    /// Beam.
    pub beam: [f64; 3],
    /// Polarization axis.
    pub polar_vector: [f64; 3],
    /// Two-theta axis.
    pub twotheta_axis: [f64; 3],
    /// Distance (m).
    pub distance: f64,
    /// Close distance (m).
    pub close_distance: Option<f64>,
    /// Source distance (m).
    pub source_distance: f64,
    /// Two-theta, rotations (rad).
    pub twotheta: f64,
    /// Rotations about x, y, z (rad).
    pub rotation: [f64; 3],
    /// Detector size (m).
    pub detsize: [f64; 2],
    /// Pixel counts given (`-detpixels…` or the `-img` header).
    pub pixels: [Option<usize>; 2],
    /// Pixel size (m).
    pub pixel_size: f64,
    /// `-curved_det`, `-point_pixel`, `-Fmap`.
    pub curved: bool,
    /// Point pixel.
    pub point_pixel: bool,
    /// Fmap.
    pub fmap: bool,
    /// Kahn factor and `-nopolar`.
    pub polarization: f64,
    /// `-nopolar`.
    pub nopolar: bool,
    /// `-oversample` (≤ 0: 1).
    pub oversample: i64,
    /// `-roi` (C's values; negative: default).
    pub roi: [i64; 4],
    /// λ0 (m).
    pub lambda0: f64,
    /// Fluence, flux, exposure, beam size (SI).
    pub fluence: f64,
    /// Flux (photons/s).
    pub flux: f64,
    /// Exposure (s).
    pub exposure: f64,
    /// Beam size (m).
    pub beamsize: f64,
    /// Divergence and dispersion.
    pub spread: Spread,
    /// ADC offset, gain.
    pub adc: f64,
    /// Gain (ADU/photon).
    pub gain: f64,
    /// φ (rad), oscillation (rad, if given), φ step and count (header only).
    pub phi0: f64,
    /// Oscillation.
    pub osc: Option<f64>,
    /// φ step.
    pub phistep: Option<f64>,
    /// φ steps.
    pub phisteps: Option<i64>,
    /// `-img`, `-ignore`, `-stolout`.
    pub img: Option<PathBuf>,
    /// Ignored values.
    pub ignore: Vec<f64>,
    /// `-stolout`.
    pub stolout: PathBuf,
    /// The table and its unit.
    pub table: Option<(PathBuf, TableUnit)>,
    /// `-sourcefile`.
    pub sourcefile: Option<PathBuf>,
    /// Output names.
    pub floatfile: PathBuf,
    /// Int image.
    pub intfile: PathBuf,
    /// Noise image.
    pub noisefile: PathBuf,
    /// PGM.
    pub pgmfile: PathBuf,
    /// Write the noise image.
    pub noise: bool,
    /// Write the PGM.
    pub pgm: bool,
    /// `-scale`, `-pgmscale` (≤ 0: automatic).
    pub intfile_scale: f64,
    /// PGM scale.
    pub pgm_scale: f64,
    /// `-seed` (the user's value).
    pub seed: Option<i64>,
    /// `-printout`, `-printout_pixel`.
    pub printout: bool,
    /// The pixel to print.
    pub printout_pixel: Option<(i64, i64)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compat: false,
            sample: [1e-4; 3],
            density: 1.0e6,
            molecules: 0.0,
            molecular_weight: 18.0,
            beam_center: [None; 2],
            close_point: [None; 2],
            org: [None; 2],
            pivot: Pivot::Beam,
            fdet: [0.0, 0.0, 1.0],
            sdet: [0.0, -1.0, 0.0],
            beam: [1.0, 0.0, 0.0],
            polar_vector: [0.0, 0.0, 1.0],
            twotheta_axis: [0.0, 1.0, 0.0],
            distance: 100.0e-3,
            close_distance: None,
            source_distance: 10.0,
            twotheta: 0.0,
            rotation: [0.0; 3],
            detsize: [102.4e-3; 2],
            pixels: [None; 2],
            pixel_size: 0.1e-3,
            curved: false,
            point_pixel: false,
            fmap: false,
            polarization: 0.0,
            nopolar: false,
            oversample: -1,
            roi: [-1; 4],
            lambda0: 1.0e-10,
            fluence: 125932015286227086360700780544.0,
            flux: 0.0,
            exposure: 1.0,
            beamsize: 1e-4,
            spread: Spread {
                round: true,
                ..Spread::default()
            },
            adc: 40.0,
            gain: 1.0,
            phi0: 0.0,
            osc: None,
            phistep: None,
            phisteps: None,
            img: None,
            ignore: Vec::new(),
            stolout: "output.stol".into(),
            table: None,
            sourcefile: None,
            floatfile: "floatimage.bin".into(),
            intfile: "intimage.img".into(),
            noisefile: "noiseimage.img".into(),
            pgmfile: "image.pgm".into(),
            noise: true,
            pgm: true,
            intfile_scale: 0.0,
            pgm_scale: 0.0,
            seed: None,
            printout: false,
            printout_pixel: None,
        }
    }
}

/// A pixel count: a whole number of at least 1.
fn count(item: &Item) -> Result<usize> {
    match item.integer(0)? {
        n if n >= 1 => usize::try_from(n).map_err(|_| Error::usage(&item.typed, "too large")),
        n => Err(Error::usage(
            &item.typed,
            format!("expected at least 1 pixel, got {n}"),
        )),
    }
}

impl Config {
    /// Apply the `-img` header as C does before the options: size, pixel, distances,
    /// wavelength, beam centre, ORGX/ORGY, φ, oscillation (its TWOTHETA is read by C into a
    /// variable nothing uses).
    pub fn apply_header(&mut self, img: &SmvImage) {
        self.pixels = [Some(img.size1), Some(img.size2)];
        if let Some(v) = img.value("PIXEL_SIZE").filter(|v| !v.is_nan()) {
            self.pixel_size = v / 1000.0;
        }
        self.detsize = [
            self.pixel_size * img.size1 as f64,
            self.pixel_size * img.size2 as f64,
        ];
        let get = |k: &str| img.value(k).filter(|v| !v.is_nan());
        if let Some(v) = get("DISTANCE") {
            self.distance = v / 1000.0;
        }
        if let Some(v) = get("CLOSE_DISTANCE") {
            self.close_distance = Some(v / 1000.0);
        }
        if let Some(v) = get("WAVELENGTH") {
            self.lambda0 = v / 1e10;
        }
        if let Some(v) = get("BEAM_CENTER_X") {
            self.beam_center[0] = Some(v / 1000.0);
        }
        if let Some(v) = get("BEAM_CENTER_Y") {
            self.beam_center[1] = Some(self.detsize[1] - v / 1000.0);
        }
        if let Some(v) = get("ORGX") {
            self.org[0] = Some(v);
        }
        if let Some(v) = get("ORGY") {
            self.org[1] = Some(v);
        }
        if let Some(v) = get("PHI") {
            self.phi0 = v / RTD;
        }
        if let Some(v) = get("OSC_RANGE") {
            self.osc = Some(v / RTD);
        }
    }

    /// Apply the options in command-line order.
    pub fn apply(&mut self, args: &Args) -> Result<()> {
        if let Some(p) = args.positional.first() {
            return Err(Error::usage(
                p,
                "unexpected argument (every nonbragg input follows an option)",
            ));
        }
        for (k, item) in args.items.iter().enumerate() {
            // NB6: C honours -curved_det only when another argument follows it.
            let last = k + 1 == args.items.len();
            if self.compat && last && item.name == "-curved_det" {
                continue;
            }
            self.apply_one(item)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, item: &Item) -> Result<()> {
        let num = |i: usize| -> Result<f64> { Ok(item.numbers()?[i]) };
        let v3 = || -> Result<[f64; 3]> {
            let v = item.numbers()?;
            Ok([v[0], v[1], v[2]])
        };
        let path = || PathBuf::from(&item.values[0]);
        match item.name {
            "-stol" => self.table = Some((path(), TableUnit::Stol)),
            "-4stol" => self.table = Some((path(), TableUnit::FourStol)),
            "-Q" => self.table = Some((path(), TableUnit::Q)),
            "-samplesize" => self.sample = [num(0)? / 1000.0; 3],
            "-sample_thick" => self.sample[0] = num(0)? / 1000.0,
            "-sample_width" => self.sample[1] = num(0)? / 1000.0,
            "-sample_heigh" => self.sample[2] = num(0)? / 1000.0,
            "-density" => self.density = num(0)? * 1e6,
            "-molecules" => self.molecules = num(0)?,
            "-MW" | "-molecular" => self.molecular_weight = num(0)?,
            "-Xbeam" | "-Ybeam" => {
                self.beam_center[usize::from(item.name == "-Ybeam")] = Some(num(0)? / 1000.0);
                self.pivot = Pivot::Beam;
            }
            "-Xclose" | "-Yclose" => {
                self.close_point[usize::from(item.name == "-Yclose")] = Some(num(0)? / 1000.0);
                self.pivot = Pivot::Sample;
            }
            "-ORGX" | "-ORGY" => {
                self.org[usize::from(item.name == "-ORGY")] = Some(num(0)?);
                self.pivot = Pivot::Sample;
            }
            "-pivot" => {
                let v = &item.values[0];
                let (sample, beam) = (v.contains("sample"), v.contains("beam"));
                if beam {
                    self.pivot = Pivot::Beam;
                } else if sample {
                    self.pivot = Pivot::Sample;
                } else if !self.compat {
                    return Err(Error::usage(
                        &item.typed,
                        format!("expected sample or beam, got '{v}'"),
                    ));
                }
            }
            "-fdet_vector" => self.fdet = v3()?,
            "-sdet_vector" => self.sdet = v3()?,
            "-beam_vector" => self.beam = v3()?,
            "-polar_vector" => self.polar_vector = v3()?,
            "-twotheta_axis" => {
                self.twotheta_axis = v3()?;
                if self.compat {
                    // NB5: C's "-twotheta" test matches this option too.
                    self.twotheta = num(0)? / RTD;
                    self.pivot = Pivot::Sample;
                }
            }
            "-odet_vector" | "-pix0_vector" | "-spindle_axis" => {
                v3()?;
            }
            "-distance" => {
                self.distance = num(0)? / 1000.0;
                self.pivot = Pivot::Beam;
            }
            "-close_distance" => {
                self.close_distance = Some(num(0)? / 1000.0);
                self.pivot = Pivot::Sample;
            }
            "-source_distance" => self.source_distance = num(0)? / 1000.0,
            "-twotheta" => {
                self.twotheta = num(0)? / RTD;
                self.pivot = Pivot::Sample;
            }
            "-detector_rotx" => self.rotation[0] = num(0)? / RTD,
            "-detector_roty" => self.rotation[1] = num(0)? / RTD,
            "-detector_rotz" => self.rotation[2] = num(0)? / RTD,
            "-detsize" => self.detsize = [num(0)? / 1000.0; 2],
            "-detsize_x" => self.detsize[0] = num(0)? / 1000.0,
            "-detsize_y" => self.detsize[1] = num(0)? / 1000.0,
            "-detpixels" => self.pixels = [Some(count(item)?); 2],
            "-detpixels_x" => self.pixels[0] = Some(count(item)?),
            "-detpixels_y" => self.pixels[1] = Some(count(item)?),
            "-pixel" => self.pixel_size = num(0)? / 1000.0,
            "-curved_det" => self.curved = true,
            "-point_pixel" => self.point_pixel = true,
            "-Fmap" => self.fmap = true,
            "-polar" => {
                self.polarization = num(0)?;
                self.nopolar = false;
            }
            "-nopolar" => self.nopolar = true,
            "-oversample" => self.oversample = item.integer(0)?,
            "-roi" => {
                self.roi = [
                    item.integer(0)?,
                    item.integer(1)?,
                    item.integer(2)?,
                    item.integer(3)?,
                ]
            }
            "-lambda" | "-wave" => self.lambda0 = num(0)? / 1.0e10,
            "-energy" => self.lambda0 = (12398.42 / num(0)?) / 1.0e10,
            "-fluence" => self.fluence = num(0)?,
            "-flux" => self.flux = num(0)?,
            "-exposure" => self.exposure = num(0)?,
            "-beamsize" => self.beamsize = num(0)? / 1000.0,
            "-dispersion" => self.spread.dispersion = num(0)? / 100.0,
            "-dispsteps" => self.spread.dispsteps = Some(item.integer(0)?),
            "-divergence" => {
                let r = num(0)? / 1000.0;
                self.spread.hrange = Some(r);
                self.spread.vrange = Some(r);
            }
            "-hdivrange" => self.spread.hrange = Some(num(0)? / 1000.0),
            "-vdivrange" => self.spread.vrange = Some(num(0)? / 1000.0),
            "-hdivstep" => self.spread.hstep = Some(num(0)? / 1000.0),
            "-vdivstep" => self.spread.vstep = Some(num(0)? / 1000.0),
            "-hdivsteps" => self.spread.hsteps = Some(item.integer(0)?),
            "-vdivsteps" => self.spread.vsteps = Some(item.integer(0)?),
            "-divsteps" => {
                let n = item.integer(0)?;
                self.spread.hsteps = Some(n);
                self.spread.vsteps = Some(n);
            }
            "-round_div" => self.spread.round = true,
            "-square_div" => self.spread.round = false,
            "-adc" => self.adc = num(0)?,
            "-gain" => self.gain = num(0)?,
            "-phi" => self.phi0 = num(0)? / RTD,
            "-osc" => self.osc = Some(num(0)? / RTD),
            "-phistep" => self.phistep = Some(num(0)? / RTD),
            "-phisteps" => self.phisteps = Some(item.integer(0)?),
            "-img" => self.img = Some(path()),
            "-ignore" => self.ignore.push(num(0)?),
            "-stolout" => self.stolout = path(),
            "-sourcefile" => self.sourcefile = Some(path()),
            "-floatfile" => self.floatfile = path(),
            "-intfile" => self.intfile = path(),
            "-pgmfile" => self.pgmfile = path(),
            "-noisefile" => {
                self.noisefile = path();
                self.noise = true;
            }
            "-nonoise" => self.noise = false,
            "-nopgm" => self.pgm = self.compat,
            "-scale" => self.intfile_scale = num(0)?,
            "-pgmscale" => self.pgm_scale = num(0)?,
            "-printout" => self.printout = true,
            "-printout_pixel" => {
                self.printout = true;
                self.printout_pixel = Some((item.integer(0)?, item.integer(1)?));
            }
            "-seed" => self.seed = Some(item.integer(0)?),
            "-compat" | "-noreject" | "-coherent" | "-progress" | "-noprogress" => {}
            other => {
                return Err(Error::Unsupported {
                    option: other.into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::options::{Parsed, parse};

    fn config(line: &str) -> Result<Config> {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        let Parsed::Run(args) = parse("nonbragg", "about", &argv, SPECS)? else {
            panic!("help");
        };
        let mut c = Config {
            compat: args.has("-compat"),
            ..Config::default()
        };
        c.apply(&args)?;
        Ok(c)
    }

    #[test]
    fn spellings() {
        let c = config(
            "-stol w.stol -thickness 0.5 -sample_density 0.92 -molecular_weight 18.015 \
             -wavelength 1.3 -heighth 0.2 -sample_y 0.3 -adc_offset 12 -stoloutfile x.stol",
        )
        .unwrap();
        assert_eq!(c.sample, [0.5e-3, 0.3e-3, 0.2e-3]);
        assert_eq!(c.density, 0.92e6);
        assert_eq!(c.molecular_weight, 18.015);
        assert!((c.lambda0 - 1.3e-10).abs() < 1e-25);
        assert_eq!(c.adc, 12.0);
        assert_eq!(c.stolout, PathBuf::from("x.stol"));
        assert_eq!(c.table, Some((PathBuf::from("w.stol"), TableUnit::Stol)));
        let c = config("-Q a.q -MW 20 -detpixels_f 7 -detpixels_s 9").unwrap();
        assert_eq!(c.table.unwrap().1, TableUnit::Q);
        assert_eq!(c.pixels, [Some(7), Some(9)]);
        for bad in [
            "-MWx 3",
            "-stolx a",
            "-detsizes 3",
            "-polarx 1",
            "-dispstep 3",
            "-phix 1",
        ] {
            assert!(config(bad).is_err(), "{bad}");
        }
        assert!(config("-detpixels 0").is_err());
        assert!(config("-stol a stray").is_err());
    }

    /// NB13: the last pivot option wins; NB5 only under -compat.
    #[test]
    fn pivot_order() {
        let c = config("-distance 100 -twotheta 20 -ORGX 3 -distance 90").unwrap();
        assert_eq!(c.pivot, Pivot::Beam);
        let c = config("-Xbeam 3 -close_distance 90").unwrap();
        assert_eq!(c.pivot, Pivot::Sample);
        let c = config("-ORGX 3 -pivot beam").unwrap();
        assert_eq!(c.pivot, Pivot::Beam);
        let c = config("-pivot beam -ORGX 3").unwrap();
        assert_eq!(c.pivot, Pivot::Sample);
        let c = config("-twotheta 20 -twotheta_axis 0 0 -1").unwrap();
        assert!((c.twotheta * RTD - 20.0).abs() < 1e-12);
        let c = config("-compat -twotheta 20 -distance 5 -twotheta_axis 0 0 -1").unwrap();
        assert_eq!(c.twotheta, 0.0);
        assert_eq!(c.pivot, Pivot::Sample);
        assert!(config("-pivot middle").is_err());
    }

    #[test]
    fn noise_and_pgm_switches() {
        let c = config("-nonoise -noisefile n.img").unwrap();
        assert!(c.noise);
        let c = config("-noisefile n.img -nonoise").unwrap();
        assert!(!c.noise);
        assert!(!config("-nopgm").unwrap().pgm);
        assert!(config("-compat -nopgm").unwrap().pgm, "C ignores -nopgm");
        assert!(config("-curved_det").unwrap().curved);
        assert!(!config("-compat -curved_det").unwrap().curved, "NB6");
        assert!(config("-curved_det -compat").unwrap().curved);
    }
}
