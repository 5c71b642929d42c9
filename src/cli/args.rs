//! The clap definition of nanobragg's command line, and order resolution.
//!
//! [`parse`] is the entry point: it runs [`crate::cli::tokens::normalize`] (C-style tokens →
//! `--canonical` tokens), lets clap parse them into [`CliArgs`], then resolves the groups of
//! options where C nanoBragg lets the **last** one on the command line win (`-lambda`/`-energy`,
//! `-noisefile`/`-nonoise`, the conventions, the crystal shapes, the pivot, …) into dedicated
//! fields, using clap's [`ArgMatches::indices_of`]. The consumer reads those resolved fields and
//! never has to care about argv order.
//!
//! Every option C nanoBragg recognises has one field here, named after its C spelling (lower-cased
//! where Rust requires it; the clap id is the field name, the clap long name the C spelling).
//! Valued options are `Option<T>` in the units the user typed (Å, mm, degrees, mrad, µm, eV, …):
//! `None` means "not given", and the default documented on the field applies. Switches are
//! `bool`. Options C parses but never uses are accepted, recorded, and reported in
//! [`CliArgs::warnings`]. No physics happens here: conversion to SI units, validation and the
//! automatic defaults belong to the consumer of [`CliArgs`].
//!
//! The help text is clap's, rendered with every `--name` rewritten to `-name` (both spellings
//! are accepted), so it shows options the way nanoBragg users type them.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::cli::tokens;
use crate::error::{Error, Result};

const H_INPUT: &str = "Structure factors & input files";
const H_CRYSTAL: &str = "Crystal";
const H_SHAPE: &str = "Crystal shape";
const H_MOSAIC: &str = "Mosaicity & rotation";
const H_BEAM: &str = "Beam";
const H_DIVERGENCE: &str = "Divergence & dispersion";
const H_GEOMETRY: &str = "Detector geometry";
const H_DETECTOR: &str = "Detector physics";
const H_SAMPLING: &str = "Sampling";
const H_BACKGROUND: &str = "Background";
const H_OUTPUT: &str = "Output files & scaling";
const H_SEEDS: &str = "Noise & seeds";
const H_DIAGNOSTICS: &str = "Diagnostics";
const H_EXTENSIONS: &str = "nanobragg extensions";

/// Every help heading, in display order.
pub const HELP_HEADINGS: [&str; 14] = [
    H_INPUT,
    H_CRYSTAL,
    H_SHAPE,
    H_MOSAIC,
    H_BEAM,
    H_DIVERGENCE,
    H_GEOMETRY,
    H_DETECTOR,
    H_SAMPLING,
    H_BACKGROUND,
    H_OUTPUT,
    H_SEEDS,
    H_DIAGNOSTICS,
    H_EXTENSIONS,
];

const ABOUT: &str = "Simulates X-ray diffraction images of nanocrystals: a re-implementation of \
James Holton's nanoBragg that accepts the same command lines.";

const AFTER_HELP: &str = "Options are written as in C nanoBragg, with one dash (two dashes also \
work) and values after them, negative numbers included: -misset -12.5 3 0.5. The longer \
spellings C accepts also work (e.g. -matrix, -wavelength, -mosaic_domains, -detector_absorb, \
-adcoffset). When options of one group contradict each other (-lambda/-energy, -noisefile/-nonoise, \
-mosflm/-xds/..., crystal shapes, ...) the last one wins, as in C. Unlike C, unknown options and \
missing values are errors.";

/// Which computation kernel renders the image (`-backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum BackendArg {
    /// Portable one-pixel-at-a-time reference kernel (for checks).
    Scalar,
    /// Explicitly vectorised kernel (default).
    #[default]
    Simd,
}

/// A detector pivot (`-pivot`, and the pivot implied by other options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PivotArg {
    /// Keep the direct-beam spot fixed when rotating the detector.
    Beam,
    /// Keep the point nearest to the sample fixed when rotating the detector.
    Sample,
}

/// The central wavelength as given: the last of `-lambda` and `-energy`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WavelengthArg {
    /// `-lambda`: wavelength in Å.
    Lambda(f64),
    /// `-energy`: photon energy in eV (λ = 12398.42 / E Å).
    Energy(f64),
}

/// The crystal misorientation given with `-misset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MissetArg {
    /// Rotations about lab x, y, z in degrees, applied in that order.
    Angles([f64; 3]),
    /// `-misset random`: a random orientation drawn from `-misset_seed`.
    Random,
}

/// The crystal (spot) shape: the last of `-square_xtal`, `-round_xtal`, `-gauss_xtal`,
/// `-tophat_spots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeArg {
    /// Parallelepiped (`-square_xtal`, C's default).
    Square,
    /// Ellipsoid (`-round_xtal`).
    Round,
    /// Gaussian spots (`-gauss_xtal`).
    Gauss,
    /// Flat-top spots (`-tophat_spots`, `-binary_spots`).
    Tophat,
}

/// The detector convention: the last of the convention switches and the vector options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConventionArg {
    /// `-mosflm` (C's default).
    Mosflm,
    /// `-xds`.
    Xds,
    /// `-adxv`.
    Adxv,
    /// `-denzo`.
    Denzo,
    /// `-dials`.
    Dials,
    /// Any of `-fdet_vector -sdet_vector -odet_vector -beam_vector -polar_vector -spindle_axis
    /// -twotheta_axis -pix0_vector` given after every convention switch.
    Custom,
}

/// What [`parse`] found: a simulation to run, or a text to print before exiting.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseOutcome {
    /// Run the simulation with these arguments.
    Run(Box<CliArgs>),
    /// `-help` or `-version`: print `text` on stdout and exit with `code` (0).
    Exit {
        /// The help or version text.
        text: String,
        /// The process exit status.
        code: u8,
    },
}

/// nanobragg's command line: one field per option, named after nanoBragg's spelling.
///
/// Fields marked "resolved" are not options: [`parse`] fills them from the options of a
/// last-wins group, so they are the ones to read. [`CliArgs::warnings`] lists remarks to show
/// the user (inert options, quirky spellings).
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "nanobragg",
    version,
    about = ABOUT,
    long_about = None,
    after_help = AFTER_HELP,
    allow_negative_numbers = true,
    args_override_self = true,
    disable_help_flag = true,
    disable_version_flag = true,
    max_term_width = 100
)]
pub struct CliArgs {
    // ---------------------------------------------------------------- Structure factors & input
    /// Structure factors: text file of "h k l F" lines (P1). Default: none (the -dump cache is
    /// read if it exists).
    #[arg(long = "hkl", value_name = "FILE", help_heading = H_INPUT)]
    pub hkl: Option<PathBuf>,
    /// Structure factor (electrons) of every reflection missing from -hkl; with a non-zero value
    /// no -hkl is needed. Default: 0.
    #[arg(long = "default_F", value_name = "F", help_heading = H_INPUT)]
    pub default_f: Option<f64>,
    /// Binary cache of the structure factors: written after reading -hkl, read when -hkl is
    /// absent. Default: Fdump.bin.
    #[arg(long = "dump", value_name = "FILE", help_heading = H_INPUT)]
    pub dump: Option<PathBuf>,
    /// MOSFLM orientation matrix (reciprocal vectors × λ); alternative to -cell. Also -matrix.
    /// Default: none.
    #[arg(long = "mat", value_name = "FILE", help_heading = H_INPUT)]
    pub mat: Option<PathBuf>,
    /// SMV image whose header sets the detector geometry (options given here override it).
    /// Default: none.
    #[arg(long = "img", value_name = "FILE", help_heading = H_INPUT)]
    pub img: Option<PathBuf>,
    /// SMV mask image: pixels that are 0 are not rendered; its header also sets the geometry
    /// (-img wins). Default: none.
    #[arg(long = "mask", value_name = "FILE", help_heading = H_INPUT)]
    pub mask: Option<PathBuf>,
    /// Source list: text lines "X Y Z weight λ(m)" replacing the divergence × dispersion grid
    /// (as in C the weights are ignored). Default: none.
    #[arg(long = "sourcefile", value_name = "FILE", help_heading = H_INPUT)]
    pub sourcefile: Option<PathBuf>,
    /// Amorphous scattering table "sinθ/λ F" (for nonBragg). Accepted for compatibility; no
    /// effect in nanoBragg.
    #[arg(long = "stol", value_name = "FILE", help_heading = H_INPUT)]
    pub stol: Option<PathBuf>,
    /// Amorphous scattering table "4·sinθ/λ F". Accepted for compatibility; no effect.
    #[arg(long = "4stol", value_name = "FILE", help_heading = H_INPUT)]
    pub stol4: Option<PathBuf>,
    /// Amorphous scattering table "Q F" (Q = 4π·sinθ/λ). Accepted for compatibility; no effect.
    #[arg(long = "Q", value_name = "FILE", help_heading = H_INPUT)]
    pub q: Option<PathBuf>,
    /// Output file of the amorphous table (used by nonBragg). Accepted for compatibility; no
    /// effect. Default: output.stol.
    #[arg(long = "stolout", value_name = "FILE", help_heading = H_INPUT)]
    pub stolout: Option<PathBuf>,
    /// Force tricubic interpolation of structure factors between reflections. Default: on only
    /// if one of Na, Nb, Nc is 2 or less.
    #[arg(long = "interpolate", help_heading = H_INPUT)]
    pub interpolate_flag: bool,
    /// Disable structure-factor interpolation (the last of -interpolate/-nointerpolate wins).
    #[arg(long = "nointerpolate", help_heading = H_INPUT)]
    pub nointerpolate: bool,

    // ---------------------------------------------------------------- Crystal
    /// Unit cell a b c (Å) α β γ (degrees); alternative to -mat. b and c default to a, angles to
    /// 90° (-cell 100 is a 100 Å cube). Holds the 1 to 6 values given. Default: none.
    #[arg(
        long = "cell",
        num_args = 1..=6,
        value_names = ["A", "B", "C", "ALPHA", "BETA", "GAMMA"],
        help_heading = H_CRYSTAL
    )]
    pub cell: Option<Vec<f64>>,
    /// Crystal misorientation: rotations about lab x, y, z in degrees (applied once, in that
    /// order), or "random" (drawn from -misset_seed). Default: none.
    #[arg(
        long = "misset",
        num_args = 1..=3,
        value_names = ["AX", "AY", "AZ"],
        allow_hyphen_values = true,
        help_heading = H_CRYSTAL
    )]
    pub misset_values: Option<Vec<String>>,
    /// Unit cells along a, b and c (sets -Na -Nb -Nc). Default: 1.
    #[arg(long = "N", value_name = "N", help_heading = H_CRYSTAL)]
    pub n: Option<i32>,
    /// Unit cells along a (values below 1 mean 1). Default: 1.
    #[arg(long = "Na", value_name = "N", help_heading = H_CRYSTAL)]
    pub na: Option<i32>,
    /// Unit cells along b (values below 1 mean 1). Default: 1.
    #[arg(long = "Nb", value_name = "N", help_heading = H_CRYSTAL)]
    pub nb: Option<i32>,
    /// Unit cells along c (values below 1 mean 1). Default: 1.
    #[arg(long = "Nc", value_name = "N", help_heading = H_CRYSTAL)]
    pub nc: Option<i32>,
    /// Crystal full size along a, b and c (mm); alternative to -N (N = ceil(size/edge)). Also
    /// -xtal_size, -samplesize, -sample_size. Default: unset.
    #[arg(long = "xtalsize", value_name = "MM", help_heading = H_CRYSTAL)]
    pub xtalsize: Option<f64>,
    /// Crystal size along a (mm). Also -xtal_x, -sample_thick, -sample_x. Default: unset.
    #[arg(long = "xtal_thick", value_name = "MM", help_heading = H_CRYSTAL)]
    pub xtal_thick: Option<f64>,
    /// Crystal size along b (mm; clipped to -beamsize). Also -xtal_y, -sample_width, -sample_y,
    /// -width. Default: unset.
    #[arg(long = "xtal_width", value_name = "MM", help_heading = H_CRYSTAL)]
    pub xtal_width: Option<f64>,
    /// Crystal size along c (mm; clipped to -beamsize). Also -xtal_z, -sample_height,
    /// -sample_z, -height. Default: unset.
    #[arg(long = "xtal_height", value_name = "MM", help_heading = H_CRYSTAL)]
    pub xtal_height: Option<f64>,
    /// Sample density (g/cm³). Also -sample_density. Accepted for compatibility; no effect.
    #[arg(long = "density", value_name = "G_PER_CM3", help_heading = H_CRYSTAL)]
    pub density: Option<f64>,
    /// Molecular weight (g/mol). Also -molecular_weight. Accepted for compatibility; no effect.
    #[arg(long = "MW", value_name = "G_PER_MOL", help_heading = H_CRYSTAL)]
    pub mw: Option<f64>,

    // ---------------------------------------------------------------- Crystal shape
    /// Parallelepiped crystal: lattice factor is a product of three sincg functions. This is
    /// the default shape (the last shape option wins).
    #[arg(long = "square_xtal", help_heading = H_SHAPE)]
    pub square_xtal: bool,
    /// Ellipsoidal crystal (sinc3 of the fractional-index distance).
    #[arg(long = "round_xtal", help_heading = H_SHAPE)]
    pub round_xtal: bool,
    /// Gaussian spots in reciprocal space: no inter-Bragg side lobes.
    #[arg(long = "gauss_xtal", help_heading = H_SHAPE)]
    pub gauss_xtal: bool,
    /// Flat-top spots clipped at the FWHM: no inter-Bragg maxima. Also -binary_spots.
    #[arg(long = "tophat_spots", help_heading = H_SHAPE)]
    pub tophat_spots: bool,
    /// Factor on the squared spot radius of the round, Gaussian and tophat shapes (ignored by
    /// the square shape). Default: 1.
    #[arg(long = "fudge", value_name = "X", help_heading = H_SHAPE)]
    pub fudge: Option<f64>,

    // ---------------------------------------------------------------- Mosaicity & rotation
    /// Isotropic mosaic spread (degrees): maximum rotation of a domain (90 for a powder). Also
    /// -mosaicity, -mosaic_spread. Default: 0.
    #[arg(long = "mosaic", value_name = "DEG", help_heading = H_MOSAIC)]
    pub mosaic: Option<f64>,
    /// Number of mosaic domains (domain 0 is unrotated). Default: 1 without spread, 10 with.
    #[arg(long = "mosaic_domains", value_name = "N", help_heading = H_MOSAIC)]
    pub mosaic_domains: Option<i32>,
    /// Starting spindle angle (degrees). Default: 0.
    #[arg(long = "phi", value_name = "DEG", help_heading = H_MOSAIC)]
    pub phi: Option<f64>,
    /// Oscillation range about the spindle axis (degrees). Default: auto (0 for a still).
    #[arg(long = "osc", value_name = "DEG", help_heading = H_MOSAIC)]
    pub osc: Option<f64>,
    /// Spindle step (degrees). Default: auto (osc/phisteps).
    #[arg(long = "phistep", value_name = "DEG", help_heading = H_MOSAIC)]
    pub phistep: Option<f64>,
    /// Number of spindle steps. Default: auto (1 for a still, 2 with -osc alone).
    #[arg(long = "phisteps", value_name = "N", help_heading = H_MOSAIC)]
    pub phisteps: Option<i32>,
    /// Spindle (phi) rotation axis, right-handed; normalised. Selects the CUSTOM convention.
    /// Default: per convention (MOSFLM: 0 0 1).
    #[arg(
        long = "spindle_axis",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_MOSAIC
    )]
    pub spindle_axis: Option<Vec<f64>>,

    // ---------------------------------------------------------------- Beam
    /// Central wavelength (Å). Also -wavelength. Default: 1 Å (last of -lambda/-energy wins).
    #[arg(long = "lambda", value_name = "ANGSTROM", help_heading = H_BEAM)]
    pub lambda: Option<f64>,
    /// Photon energy (eV), alternative to -lambda: λ = 12398.42/E Å.
    #[arg(long = "energy", value_name = "EV", help_heading = H_BEAM)]
    pub energy: Option<f64>,
    /// Incident fluence (photons/m²). Default: 1.25932015286227e29 (= 1/r_e²).
    #[arg(long = "fluence", value_name = "PHOTONS_PER_M2", help_heading = H_BEAM)]
    pub fluence: Option<f64>,
    /// Flux (photons/s); with -exposure and -beamsize sets the fluence. Default: 0 (unused).
    #[arg(long = "flux", value_name = "PHOTONS_PER_S", help_heading = H_BEAM)]
    pub flux: Option<f64>,
    /// Exposure time (s), used with -flux. Default: 1 s.
    #[arg(long = "exposure", value_name = "S", help_heading = H_BEAM)]
    pub exposure: Option<f64>,
    /// Side of the square beam (mm), used with -flux; also clips the crystal size along b and c.
    /// Default: 0.1 mm.
    #[arg(long = "beamsize", value_name = "MM", help_heading = H_BEAM)]
    pub beamsize: Option<f64>,
    /// Beam propagation direction (source to sample); normalised. Selects the CUSTOM convention.
    /// Default: per convention (MOSFLM: 1 0 0).
    #[arg(
        long = "beam_vector",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_BEAM
    )]
    pub beam_vector: Option<Vec<f64>>,
    /// Kahn polarization factor (0 = unpolarized, 1 = fully polarized); re-enables the
    /// polarization correction. Default: 0.
    #[arg(long = "polar", value_name = "K", help_heading = H_BEAM)]
    pub polar: Option<f64>,
    /// Turn off the polarization correction (the last of -polar/-nopolar wins).
    #[arg(long = "nopolar", help_heading = H_BEAM)]
    pub nopolar: bool,
    /// Polarization (E-vector) axis; normalised. Selects the CUSTOM convention. Default: per
    /// convention (MOSFLM: 0 0 1).
    #[arg(
        long = "polar_vector",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_BEAM
    )]
    pub polar_vector: Option<Vec<f64>>,
    /// Coherent addition of sources. Accepted for compatibility; no effect in nanoBragg.
    #[arg(long = "coherent", help_heading = H_BEAM)]
    pub coherent: bool,

    // ---------------------------------------------------------------- Divergence & dispersion
    /// Spectral dispersion: full width Δλ/λ in percent. Default: 0.
    #[arg(long = "dispersion", value_name = "PERCENT", help_heading = H_DIVERGENCE)]
    pub dispersion: Option<f64>,
    /// Number of wavelengths across the dispersion. Default: auto.
    #[arg(long = "dispsteps", value_name = "N", help_heading = H_DIVERGENCE)]
    pub dispsteps: Option<i32>,
    /// Beam divergence, horizontal and vertical full range (mrad). Default: 0.
    #[arg(long = "divergence", value_name = "MRAD", help_heading = H_DIVERGENCE)]
    pub divergence: Option<f64>,
    /// Horizontal divergence full range (mrad). Default: auto (0).
    #[arg(long = "hdivrange", value_name = "MRAD", help_heading = H_DIVERGENCE)]
    pub hdivrange: Option<f64>,
    /// Vertical divergence full range (mrad). Default: auto (0).
    #[arg(long = "vdivrange", value_name = "MRAD", help_heading = H_DIVERGENCE)]
    pub vdivrange: Option<f64>,
    /// Horizontal divergence step size (mrad; C's help wrongly calls it a count). Default: auto.
    #[arg(long = "hdivstep", value_name = "MRAD", help_heading = H_DIVERGENCE)]
    pub hdivstep: Option<f64>,
    /// Vertical divergence step size (mrad). Default: auto.
    #[arg(long = "vdivstep", value_name = "MRAD", help_heading = H_DIVERGENCE)]
    pub vdivstep: Option<f64>,
    /// Number of horizontal divergence points. Default: auto.
    #[arg(long = "hdivsteps", value_name = "N", help_heading = H_DIVERGENCE)]
    pub hdivsteps: Option<i32>,
    /// Number of vertical divergence points. Default: auto.
    #[arg(long = "vdivsteps", value_name = "N", help_heading = H_DIVERGENCE)]
    pub vdivsteps: Option<i32>,
    /// Number of divergence points, horizontal and vertical. Default: auto.
    #[arg(long = "divsteps", value_name = "N", help_heading = H_DIVERGENCE)]
    pub divsteps: Option<i32>,
    /// Trim the divergence grid to an ellipse. This is the default (last of -round_div and
    /// -square_div wins).
    #[arg(long = "round_div", help_heading = H_DIVERGENCE)]
    pub round_div_flag: bool,
    /// Use the full rectangular divergence grid.
    #[arg(long = "square_div", help_heading = H_DIVERGENCE)]
    pub square_div: bool,

    // ---------------------------------------------------------------- Detector geometry
    /// Pixel size (mm, square pixels). Default: 0.1 mm.
    #[arg(long = "pixel", value_name = "MM", help_heading = H_GEOMETRY)]
    pub pixel: Option<f64>,
    /// Detector pixels along fast and slow. Default: from -detsize (1024 × 1024).
    #[arg(long = "detpixels", value_name = "N", help_heading = H_GEOMETRY)]
    pub detpixels: Option<i32>,
    /// Detector pixels along fast. Also -detpixels_f. Default: from -detsize_f.
    #[arg(long = "detpixels_x", value_name = "N", help_heading = H_GEOMETRY)]
    pub detpixels_x: Option<i32>,
    /// Detector pixels along slow. Also -detpixels_s. Default: from -detsize_s.
    #[arg(long = "detpixels_y", value_name = "N", help_heading = H_GEOMETRY)]
    pub detpixels_y: Option<i32>,
    /// Detector size along fast and slow (mm); -detpixels wins. Default: 102.4 mm.
    #[arg(long = "detsize", value_name = "MM", help_heading = H_GEOMETRY)]
    pub detsize: Option<f64>,
    /// Detector size along fast (mm). Default: 102.4 mm.
    #[arg(long = "detsize_f", value_name = "MM", help_heading = H_GEOMETRY)]
    pub detsize_f: Option<f64>,
    /// Detector size along slow (mm). Default: 102.4 mm.
    #[arg(long = "detsize_s", value_name = "MM", help_heading = H_GEOMETRY)]
    pub detsize_s: Option<f64>,
    /// Sample to direct-beam spot distance along the beam (mm); requests the beam pivot.
    /// Default: 100 mm.
    #[arg(long = "distance", value_name = "MM", help_heading = H_GEOMETRY)]
    pub distance: Option<f64>,
    /// Sample to detector-plane perpendicular distance (mm); wins over -distance and requests
    /// the sample pivot. Default: derived from -distance.
    #[arg(long = "close_distance", value_name = "MM", help_heading = H_GEOMETRY)]
    pub close_distance: Option<f64>,
    /// Direct-beam position (mm) in the convention's X (MOSFLM: slow axis); requests the beam
    /// pivot. Default: per convention (MOSFLM: detector centre + half a pixel).
    #[arg(long = "Xbeam", value_name = "MM", help_heading = H_GEOMETRY)]
    pub xbeam: Option<f64>,
    /// Direct-beam position (mm) in the convention's Y (MOSFLM: fast axis); requests the beam
    /// pivot. Default: per convention.
    #[arg(long = "Ybeam", value_name = "MM", help_heading = H_GEOMETRY)]
    pub ybeam: Option<f64>,
    /// Near point (foot of the perpendicular from the sample) along fast (mm); requests the
    /// sample pivot; effective only in the CUSTOM convention. Default: derived.
    #[arg(long = "Xclose", value_name = "MM", help_heading = H_GEOMETRY)]
    pub xclose: Option<f64>,
    /// Near point along slow (mm); requests the sample pivot; CUSTOM convention only.
    /// Default: derived.
    #[arg(long = "Yclose", value_name = "MM", help_heading = H_GEOMETRY)]
    pub yclose: Option<f64>,
    /// XDS ORGX: near point along fast (pixels, 1-based centres); requests the sample pivot;
    /// effective in XDS, DIALS and CUSTOM. Default: detector centre.
    #[arg(long = "ORGX", value_name = "PX", help_heading = H_GEOMETRY)]
    pub orgx: Option<f64>,
    /// XDS ORGY: near point along slow (pixels); as -ORGX. Default: detector centre.
    #[arg(long = "ORGY", value_name = "PX", help_heading = H_GEOMETRY)]
    pub orgy: Option<f64>,
    /// Detector rotation pivot: beam or sample. Only the CUSTOM convention honours it (the
    /// others force their own). Default: beam.
    #[arg(long = "pivot", value_name = "PIVOT", ignore_case = true, help_heading = H_GEOMETRY)]
    pub pivot: Option<PivotArg>,
    /// MOSFLM detector convention (the default; beam pivot).
    #[arg(long = "mosflm", help_heading = H_GEOMETRY)]
    pub mosflm: bool,
    /// XDS detector convention (sample pivot; -ORGX/-ORGY place the detector).
    #[arg(long = "xds", help_heading = H_GEOMETRY)]
    pub xds: bool,
    /// ADXV detector convention (beam pivot).
    #[arg(long = "adxv", help_heading = H_GEOMETRY)]
    pub adxv: bool,
    /// DENZO detector convention (beam pivot).
    #[arg(long = "denzo", help_heading = H_GEOMETRY)]
    pub denzo: bool,
    /// DIALS detector convention (sample pivot).
    #[arg(long = "dials", help_heading = H_GEOMETRY)]
    pub dials: bool,
    /// Fast-axis direction of the detector; normalised. Selects the CUSTOM convention.
    /// Default: per convention (MOSFLM: 0 0 1).
    #[arg(
        long = "fdet_vector",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_GEOMETRY
    )]
    pub fdet_vector: Option<Vec<f64>>,
    /// Slow-axis direction of the detector; normalised. Selects CUSTOM. Default: per convention
    /// (MOSFLM: 0 -1 0).
    #[arg(
        long = "sdet_vector",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_GEOMETRY
    )]
    pub sdet_vector: Option<Vec<f64>>,
    /// Detector normal (towards increasing distance); replaced by fast × slow unless of unit
    /// length. Selects CUSTOM. Default: per convention (MOSFLM: 1 0 0).
    #[arg(
        long = "odet_vector",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_GEOMETRY
    )]
    pub odet_vector: Option<Vec<f64>>,
    /// Vector from the sample to the corner of the first pixel (m, also with the
    /// -pix0_vector_mm spelling). Selects CUSTOM; as in C the position is then recomputed.
    /// Default: beam centred on the detector.
    #[arg(
        long = "pix0_vector",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_GEOMETRY
    )]
    pub pix0_vector: Option<Vec<f64>>,
    /// Detector swing about the two-theta axis (degrees); requests the sample pivot. Default: 0.
    #[arg(long = "twotheta", value_name = "DEG", help_heading = H_GEOMETRY)]
    pub twotheta: Option<f64>,
    /// Two-theta rotation axis. Selects CUSTOM (unlike C it does not also set -twotheta).
    /// Default: per convention (MOSFLM: 0 0 -1).
    #[arg(
        long = "twotheta_axis",
        num_args = 3,
        value_names = ["X", "Y", "Z"],
        allow_hyphen_values = true,
        help_heading = H_GEOMETRY
    )]
    pub twotheta_axis: Option<Vec<f64>>,
    /// Detector rotation about lab x (degrees), applied first. Default: 0.
    #[arg(long = "detector_rotx", value_name = "DEG", help_heading = H_GEOMETRY)]
    pub detector_rotx: Option<f64>,
    /// Detector rotation about lab y (degrees), applied second. Default: 0.
    #[arg(long = "detector_roty", value_name = "DEG", help_heading = H_GEOMETRY)]
    pub detector_roty: Option<f64>,
    /// Detector rotation about lab z (degrees), applied third. Default: 0.
    #[arg(long = "detector_rotz", value_name = "DEG", help_heading = H_GEOMETRY)]
    pub detector_rotz: Option<f64>,
    /// Curved detector: every pixel at the same distance from the sample. C needs a dummy value
    /// after it (-curved_det 1); one is accepted and ignored. Default: flat.
    #[arg(long = "curved_det", help_heading = H_GEOMETRY)]
    pub curved_det: bool,

    // ---------------------------------------------------------------- Detector physics
    /// Sensor attenuation length (µm), or inf (or 0) for no absorption. Also -detector_abs.
    /// Default: unset (1/thickness when -detector_thick is given).
    #[arg(
        long = "detector_absorb",
        value_name = "UM",
        value_parser = parse_attenuation,
        help_heading = H_DETECTOR
    )]
    pub detector_absorb: Option<f64>,
    /// Sensor thickness (µm). Default: 0 (no parallax, no absorption).
    #[arg(long = "detector_thick", value_name = "UM", help_heading = H_DETECTOR)]
    pub detector_thick: Option<f64>,
    /// Number of sensor layers. Also -thicksteps. Default: auto (2 when a thickness is given).
    #[arg(long = "detector_thicksteps", value_name = "N", help_heading = H_DETECTOR)]
    pub detector_thicksteps: Option<i32>,
    /// Point pixels: solid angle 1/R² (no pixel area or obliquity). Default: off.
    #[arg(long = "point_pixel", help_heading = H_DETECTOR)]
    pub point_pixel: bool,

    // ---------------------------------------------------------------- Sampling
    /// Sub-pixels per pixel side. Default: auto (from crystal size, wavelength and pixel).
    #[arg(long = "oversample", value_name = "N", help_heading = H_SAMPLING)]
    pub oversample: Option<i32>,
    /// Recompute the sensor absorption for every sub-pixel. Default: off.
    #[arg(long = "oversample_thick", help_heading = H_SAMPLING)]
    pub oversample_thick: bool,
    /// Recompute the polarization factor for every sub-pixel. Default: off.
    #[arg(long = "oversample_polar", help_heading = H_SAMPLING)]
    pub oversample_polar: bool,
    /// Recompute the solid angle for every sub-pixel. Default: off.
    #[arg(long = "oversample_omega", help_heading = H_SAMPLING)]
    pub oversample_omega: bool,
    /// Render only pixels xmin..=xmax (fast) and ymin..=ymax (slow), 0-based; others stay 0.
    /// Default: the whole detector.
    #[arg(
        long = "roi",
        num_args = 4,
        value_names = ["XMIN", "XMAX", "YMIN", "YMAX"],
        allow_hyphen_values = true,
        help_heading = H_SAMPLING
    )]
    pub roi: Option<Vec<i32>>,
    /// Skip scattering at resolution finer than this (Å). Default: 0 (off).
    #[arg(long = "dmin", value_name = "ANGSTROM", help_heading = H_SAMPLING)]
    pub dmin: Option<f64>,

    // ---------------------------------------------------------------- Background
    /// Add the scattering of a water cube of this size around the crystal (µm). Default: 0.
    #[arg(long = "water", value_name = "UM", help_heading = H_BACKGROUND)]
    pub water: Option<f64>,

    // ---------------------------------------------------------------- Output files & scaling
    /// Raw float32 image, photons/pixel (always written). Also -floatimage. Default:
    /// floatimage.bin.
    #[arg(long = "floatfile", value_name = "FILE", help_heading = H_OUTPUT)]
    pub floatfile: Option<PathBuf>,
    /// Noiseless SMV image (always written). Also -intimage. Default: intimage.img.
    #[arg(long = "intfile", value_name = "FILE", help_heading = H_OUTPUT)]
    pub intfile: Option<PathBuf>,
    /// SMV image with Poisson noise; also re-enables it. Also -noiseimage. Default:
    /// noiseimage.img, written unless -nonoise.
    #[arg(long = "noisefile", value_name = "FILE", help_heading = H_OUTPUT)]
    pub noisefile: Option<PathBuf>,
    /// Do not write the noise image (the last of -noisefile/-nonoise wins).
    #[arg(long = "nonoise", help_heading = H_OUTPUT)]
    pub nonoise: bool,
    /// 8-bit PGM preview; also re-enables it. Also -pgmimage. Default: image.pgm, written unless
    /// -nopgm.
    #[arg(long = "pgmfile", value_name = "FILE", help_heading = H_OUTPUT)]
    pub pgmfile: Option<PathBuf>,
    /// Do not write the PGM image (the last of -pgmfile/-pgmscale/-nopgm wins).
    #[arg(long = "nopgm", help_heading = H_OUTPUT)]
    pub nopgm: bool,
    /// Scale factor from photons to the noiseless SMV image. Default: 0 = auto (55000/max).
    #[arg(long = "scale", value_name = "X", help_heading = H_OUTPUT)]
    pub scale: Option<f64>,
    /// Scale factor of the PGM image; also re-enables it. Default: 0 = auto.
    #[arg(long = "pgmscale", value_name = "X", help_heading = H_OUTPUT)]
    pub pgmscale: Option<f64>,
    /// Offset added to the pixels of the SMV images (ADU). Also -adcoffset. Default: 40.
    #[arg(long = "adc", value_name = "ADU", help_heading = H_OUTPUT)]
    pub adc: Option<f64>,

    // ---------------------------------------------------------------- Noise & seeds
    /// Random seed of the Poisson noise. Default: from the clock.
    #[arg(long = "seed", value_name = "N", help_heading = H_SEEDS)]
    pub seed: Option<i64>,
    /// Random seed of the mosaic domain orientations. Default: 12345678.
    #[arg(long = "mosaic_seed", value_name = "N", help_heading = H_SEEDS)]
    pub mosaic_seed: Option<i64>,
    /// Random seed of -misset random (independent of -seed). Default: from the clock.
    #[arg(long = "misset_seed", value_name = "N", help_heading = H_SEEDS)]
    pub misset_seed: Option<i64>,

    // ---------------------------------------------------------------- Diagnostics
    /// Print the computation details of every rendered pixel (turns off the progress meter).
    /// Default: off.
    #[arg(long = "printout", help_heading = H_DIAGNOSTICS)]
    pub printout: bool,
    /// Print details for this one pixel only (fast, slow); also turns on -printout. Default:
    /// all pixels.
    #[arg(
        long = "printout_pixel",
        num_args = 2,
        value_names = ["FAST", "SLOW"],
        allow_hyphen_values = true,
        help_heading = H_DIAGNOSTICS
    )]
    pub printout_pixel: Option<Vec<i32>>,
    /// Show the progress meter. This is the default (the last of -progress/-noprogress wins).
    #[arg(long = "progress", help_heading = H_DIAGNOSTICS)]
    pub progress_flag: bool,
    /// Hide the progress meter.
    #[arg(long = "noprogress", help_heading = H_DIAGNOSTICS)]
    pub noprogress: bool,

    // ---------------------------------------------------------------- nanobragg extensions
    /// Reproduce C nanoBragg's known bugs (for comparisons with it). Default: off (fixed).
    #[arg(long = "compat", help_heading = H_EXTENSIONS)]
    pub compat: bool,
    /// No console log (errors and warnings still go to stderr). Default: off.
    #[arg(long = "quiet", help_heading = H_EXTENSIONS)]
    pub quiet: bool,
    /// Worker threads. Also -threads. Default: all available cores.
    #[arg(long = "nthreads", value_name = "N", help_heading = H_EXTENSIONS)]
    pub nthreads: Option<usize>,
    /// Also write an 8-bit PNG preview of the image. Default: none.
    #[arg(long = "pngfile", value_name = "FILE", help_heading = H_EXTENSIONS)]
    pub pngfile: Option<PathBuf>,
    /// Also write a miniCBF image (Pilatus-style header, byte-offset int32 photon counts: the
    /// noise image, or the integer image without its ADC offset under -nonoise). Default: none.
    #[arg(long = "cbffile", value_name = "FILE", help_heading = H_EXTENSIONS)]
    pub cbffile: Option<PathBuf>,
    /// Also write a NeXus/NXmx HDF5 file with the full geometry, holding every frame of a
    /// series (needs a build with --features hdf5). Default: none.
    #[arg(long = "h5file", value_name = "FILE", help_heading = H_EXTENSIONS)]
    pub h5file: Option<PathBuf>,
    /// Also write the float image as a NumPy .npy file (float32, shape (slow, fast)).
    /// Default: none.
    #[arg(long = "npyfile", value_name = "FILE", help_heading = H_EXTENSIONS)]
    pub npyfile: Option<PathBuf>,
    /// Render a rotation series of N frames: frame i (from 1) covers -phi + (i-1)·-osc over
    /// -osc in -phisteps steps; file names get the frame number (_00001) before the
    /// extension, except the -h5file, which holds every frame. Default: 1 (one image, names
    /// unchanged).
    #[arg(long = "frames", value_name = "N", allow_hyphen_values = true, help_heading = H_EXTENSIONS)]
    pub frames: Option<i64>,
    /// Computation kernel.
    #[arg(
        long = "backend",
        value_enum,
        value_name = "BACKEND",
        default_value_t = BackendArg::Simd,
        help_heading = H_EXTENSIONS
    )]
    pub backend: BackendArg,
    /// Print this help.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::HelpLong)]
    pub help: Option<bool>,
    /// Print the version.
    #[arg(long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,

    // ---------------------------------------------------------------- resolved (not options)
    /// Resolved: central wavelength from the last of -lambda/-energy.
    #[arg(skip)]
    pub wavelength: Option<WavelengthArg>,
    /// Resolved: -misset as angles or random.
    #[arg(skip)]
    pub misset: Option<MissetArg>,
    /// Resolved: unit cells along a, b, c from -N and -Na/-Nb/-Nc (last wins per axis).
    #[arg(skip)]
    pub n_cells: [Option<i32>; 3],
    /// Resolved: crystal size along a, b, c (mm) from -xtalsize and -xtal_thick/-xtal_width/
    /// -xtal_height (last wins per axis).
    #[arg(skip)]
    pub crystal_size: [Option<f64>; 3],
    /// Resolved: crystal shape, the last shape switch.
    #[arg(skip)]
    pub shape: Option<ShapeArg>,
    /// Resolved: polarization correction off (-nopolar last) or on (-polar last).
    #[arg(skip)]
    pub polar_off: Option<bool>,
    /// Resolved: horizontal and vertical divergence ranges (mrad) from -divergence and
    /// -hdivrange/-vdivrange (last wins per direction).
    #[arg(skip)]
    pub divergence_range: [Option<f64>; 2],
    /// Resolved: horizontal and vertical divergence point counts from -divsteps and
    /// -hdivsteps/-vdivsteps (last wins per direction).
    #[arg(skip)]
    pub divergence_steps: [Option<i32>; 2],
    /// Resolved: elliptical divergence trimming on (-round_div last) or off (-square_div last).
    #[arg(skip)]
    pub round_div: Option<bool>,
    /// Resolved: pixel counts along fast and slow from -detpixels and -detpixels_x/-detpixels_y
    /// (last wins per axis).
    #[arg(skip)]
    pub detector_pixels: [Option<i32>; 2],
    /// Resolved: detector sizes along fast and slow (mm) from -detsize and -detsize_f/-detsize_s
    /// (last wins per axis).
    #[arg(skip)]
    pub detector_size: [Option<f64>; 2],
    /// Resolved: convention from the last convention switch or vector option (vectors → CUSTOM).
    #[arg(skip)]
    pub convention: Option<ConventionArg>,
    /// Resolved: pivot requested by the last pivot-setting option, as C records it while
    /// parsing (-distance -Xbeam -Ybeam -mosflm -adxv -denzo -dials -pivot beam → beam;
    /// -close_distance -Xclose -Yclose -ORGX -ORGY -twotheta -xds -pivot sample → sample).
    /// The convention may override it afterwards (spec §2.3); that is the consumer's job.
    #[arg(skip)]
    pub pivot_request: Option<PivotArg>,
    /// Resolved: noise image on (-noisefile last) or off (-nonoise last).
    #[arg(skip)]
    pub noise: Option<bool>,
    /// Resolved: PGM image on (-pgmfile or -pgmscale last) or off (-nopgm last).
    #[arg(skip)]
    pub pgm: Option<bool>,
    /// Resolved: interpolation forced on (-interpolate last) or off (-nointerpolate last).
    #[arg(skip)]
    pub interpolate: Option<bool>,
    /// Resolved: progress meter on (-progress last) or off (-noprogress last).
    #[arg(skip)]
    pub progress: Option<bool>,
    /// Resolved: -detector_absorb was inf or 0 and came before -detector_thick. C then keeps the
    /// thickness with an attenuation of 0, which renders an all-zero image (spec Q30); given
    /// after it, C sets the thickness to 0 instead.
    #[arg(skip)]
    pub detector_absorb_off_first: bool,
    /// Remarks for the user: accepted-but-inert options and C spellings with quirks.
    #[arg(skip)]
    pub warnings: Vec<String>,
}

/// Parses `-detector_absorb`: any value containing "inf" is infinite (as C), else a number.
fn parse_attenuation(s: &str) -> std::result::Result<f64, String> {
    if s.contains("inf") {
        return Ok(f64::INFINITY);
    }
    s.parse::<f64>()
        .map_err(|e| format!("{e} (give a length in µm, or inf)"))
}

/// The position of the last occurrence of `id` on the command line, if it was given there.
fn position(m: &ArgMatches, id: &str) -> Option<usize> {
    if !m.ids().any(|x| x.as_str() == id) {
        return None;
    }
    if m.value_source(id) != Some(ValueSource::CommandLine) {
        return None;
    }
    m.indices_of(id).and_then(Iterator::max)
}

/// The value of the candidate given last on the command line (candidates: clap id and value).
fn last_of<T: Copy>(m: &ArgMatches, candidates: &[(&str, Option<T>)]) -> Option<T> {
    candidates
        .iter()
        .filter_map(|(id, v)| Some((position(m, id)?, (*v)?)))
        .max_by_key(|(p, _)| *p)
        .map(|(_, v)| v)
}

/// Replaces `field` by the values of the last occurrence of the multi-value option `id`.
fn keep_last_occurrence<T>(m: &ArgMatches, id: &str, field: &mut Option<Vec<T>>)
where
    T: Clone + Send + Sync + 'static,
{
    if let Ok(Some(mut occurrences)) = m.try_get_occurrences::<T>(id)
        && let Some(last) = occurrences.next_back()
    {
        *field = Some(last.cloned().collect());
    }
}

/// Inert options and the reason they do nothing.
const INERT: &[(&str, &str, &str)] = &[
    ("coherent", "-coherent", ""),
    ("stol", "-stol", " (the table is used by nonBragg only)"),
    ("stol4", "-4stol", " (the table is used by nonBragg only)"),
    ("q", "-Q", " (the table is used by nonBragg only)"),
    ("stolout", "-stolout", " (used by nonBragg only)"),
    ("density", "-density", " (C recomputes it before use)"),
    ("mw", "-MW", " (C recomputes it before use)"),
];

impl CliArgs {
    /// Fills the resolved fields from the last-wins groups and collects warnings.
    fn resolve(&mut self, m: &ArgMatches) -> Result<()> {
        self.keep_last_values(m);
        self.resolve_beam(m);
        self.resolve_crystal(m)?;
        self.resolve_detector(m);
        self.resolve_switches(m);
        self.collect_warnings(m);
        Ok(())
    }

    /// clap appends the values of a repeated multi-value option; C keeps the last ones.
    fn keep_last_values(&mut self, m: &ArgMatches) {
        for (id, field) in [
            ("cell", &mut self.cell),
            ("spindle_axis", &mut self.spindle_axis),
            ("beam_vector", &mut self.beam_vector),
            ("polar_vector", &mut self.polar_vector),
            ("fdet_vector", &mut self.fdet_vector),
            ("sdet_vector", &mut self.sdet_vector),
            ("odet_vector", &mut self.odet_vector),
            ("pix0_vector", &mut self.pix0_vector),
            ("twotheta_axis", &mut self.twotheta_axis),
        ] {
            keep_last_occurrence(m, id, field);
        }
        keep_last_occurrence(m, "roi", &mut self.roi);
        keep_last_occurrence(m, "printout_pixel", &mut self.printout_pixel);
        keep_last_occurrence(m, "misset_values", &mut self.misset_values);
    }

    /// Wavelength or energy, polarization, divergence: the last of each group wins.
    fn resolve_beam(&mut self, m: &ArgMatches) {
        self.wavelength = last_of(
            m,
            &[
                ("lambda", self.lambda.map(WavelengthArg::Lambda)),
                ("energy", self.energy.map(WavelengthArg::Energy)),
            ],
        );
        self.polar_off = last_of(
            m,
            &[
                ("polar", self.polar.map(|_| false)),
                ("nopolar", self.nopolar.then_some(true)),
            ],
        );
        self.divergence_range = [
            last_of(
                m,
                &[
                    ("divergence", self.divergence),
                    ("hdivrange", self.hdivrange),
                ],
            ),
            last_of(
                m,
                &[
                    ("divergence", self.divergence),
                    ("vdivrange", self.vdivrange),
                ],
            ),
        ];
        self.divergence_steps = [
            last_of(
                m,
                &[("divsteps", self.divsteps), ("hdivsteps", self.hdivsteps)],
            ),
            last_of(
                m,
                &[("divsteps", self.divsteps), ("vdivsteps", self.vdivsteps)],
            ),
        ];
        self.round_div = last_of(
            m,
            &[
                ("round_div_flag", self.round_div_flag.then_some(true)),
                ("square_div", self.square_div.then_some(false)),
            ],
        );
    }

    /// Misset, cell counts, crystal size and shape.
    fn resolve_crystal(&mut self, m: &ArgMatches) -> Result<()> {
        self.misset = match &self.misset_values {
            None => None,
            Some(v) => Some(misset_from(v)?),
        };
        self.n_cells = [self.na, self.nb, self.nc]
            .iter()
            .zip(["na", "nb", "nc"])
            .map(|(v, id)| last_of(m, &[("n", self.n), (id, *v)]))
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or_default();
        self.crystal_size = [
            last_of(
                m,
                &[("xtalsize", self.xtalsize), ("xtal_thick", self.xtal_thick)],
            ),
            last_of(
                m,
                &[("xtalsize", self.xtalsize), ("xtal_width", self.xtal_width)],
            ),
            last_of(
                m,
                &[
                    ("xtalsize", self.xtalsize),
                    ("xtal_height", self.xtal_height),
                ],
            ),
        ];
        self.shape = last_of(
            m,
            &[
                ("square_xtal", self.square_xtal.then_some(ShapeArg::Square)),
                ("round_xtal", self.round_xtal.then_some(ShapeArg::Round)),
                ("gauss_xtal", self.gauss_xtal.then_some(ShapeArg::Gauss)),
                (
                    "tophat_spots",
                    self.tophat_spots.then_some(ShapeArg::Tophat),
                ),
            ],
        );
        Ok(())
    }

    /// Pixels, size, convention, pivot and the sensor's absorption switch.
    fn resolve_detector(&mut self, m: &ArgMatches) {
        self.detector_pixels = [
            last_of(
                m,
                &[
                    ("detpixels", self.detpixels),
                    ("detpixels_x", self.detpixels_x),
                ],
            ),
            last_of(
                m,
                &[
                    ("detpixels", self.detpixels),
                    ("detpixels_y", self.detpixels_y),
                ],
            ),
        ];
        self.detector_size = [
            last_of(
                m,
                &[("detsize", self.detsize), ("detsize_f", self.detsize_f)],
            ),
            last_of(
                m,
                &[("detsize", self.detsize), ("detsize_s", self.detsize_s)],
            ),
        ];
        let custom = |v: &Option<Vec<f64>>| v.as_ref().map(|_| ConventionArg::Custom);
        self.convention = last_of(
            m,
            &[
                ("mosflm", self.mosflm.then_some(ConventionArg::Mosflm)),
                ("xds", self.xds.then_some(ConventionArg::Xds)),
                ("adxv", self.adxv.then_some(ConventionArg::Adxv)),
                ("denzo", self.denzo.then_some(ConventionArg::Denzo)),
                ("dials", self.dials.then_some(ConventionArg::Dials)),
                ("fdet_vector", custom(&self.fdet_vector)),
                ("sdet_vector", custom(&self.sdet_vector)),
                ("odet_vector", custom(&self.odet_vector)),
                ("beam_vector", custom(&self.beam_vector)),
                ("polar_vector", custom(&self.polar_vector)),
                ("spindle_axis", custom(&self.spindle_axis)),
                ("twotheta_axis", custom(&self.twotheta_axis)),
                ("pix0_vector", custom(&self.pix0_vector)),
            ],
        );
        let beam = |given: bool| given.then_some(PivotArg::Beam);
        let sample = |given: bool| given.then_some(PivotArg::Sample);
        self.pivot_request = last_of(
            m,
            &[
                ("distance", beam(self.distance.is_some())),
                ("xbeam", beam(self.xbeam.is_some())),
                ("ybeam", beam(self.ybeam.is_some())),
                ("mosflm", beam(self.mosflm)),
                ("adxv", beam(self.adxv)),
                ("denzo", beam(self.denzo)),
                ("dials", beam(self.dials)),
                ("pivot", self.pivot),
                ("close_distance", sample(self.close_distance.is_some())),
                ("xclose", sample(self.xclose.is_some())),
                ("yclose", sample(self.yclose.is_some())),
                ("orgx", sample(self.orgx.is_some())),
                ("orgy", sample(self.orgy.is_some())),
                ("twotheta", sample(self.twotheta.is_some())),
                ("xds", sample(self.xds)),
            ],
        );
        self.detector_absorb_off_first = match (
            self.detector_absorb,
            position(m, "detector_absorb"),
            position(m, "detector_thick"),
        ) {
            (Some(mu), Some(pa), Some(pt)) => (mu.is_infinite() || mu == 0.0) && pa < pt,
            _ => false,
        };
    }

    /// The on/off pairs: noise image, PGM, interpolation, progress meter.
    fn resolve_switches(&mut self, m: &ArgMatches) {
        self.noise = last_of(
            m,
            &[
                ("noisefile", self.noisefile.as_ref().map(|_| true)),
                ("nonoise", self.nonoise.then_some(false)),
            ],
        );
        self.pgm = last_of(
            m,
            &[
                ("pgmfile", self.pgmfile.as_ref().map(|_| true)),
                ("pgmscale", self.pgmscale.map(|_| true)),
                ("nopgm", self.nopgm.then_some(false)),
            ],
        );
        self.interpolate = last_of(
            m,
            &[
                ("interpolate_flag", self.interpolate_flag.then_some(true)),
                ("nointerpolate", self.nointerpolate.then_some(false)),
            ],
        );
        self.progress = last_of(
            m,
            &[
                ("progress_flag", self.progress_flag.then_some(true)),
                ("noprogress", self.noprogress.then_some(false)),
            ],
        );
    }

    /// Warnings for options C accepts without effect and for deliberate departures from C.
    fn collect_warnings(&mut self, m: &ArgMatches) {
        for (id, spelling, why) in INERT {
            if position(m, id).is_some() {
                self.warnings.push(format!(
                    "{spelling} is accepted for compatibility but has no effect in nanoBragg{why}"
                ));
            }
        }
        if self.printout_pixel.is_some() {
            self.printout = true;
            self.warnings
                .push("-printout_pixel also turns on -printout (as in C nanoBragg)".to_string());
        }
        if self.twotheta_axis.is_some() {
            self.warnings.push(
                "-twotheta_axis only sets the two-theta axis: unlike C nanoBragg it does not also \
                 set -twotheta to the axis' x component nor request the sample pivot"
                    .to_string(),
            );
        }
    }
}

/// Converts the raw `-misset` values (three angles, or one token containing "rand").
fn misset_from(values: &[String]) -> Result<MissetArg> {
    match values {
        [one] if one.contains("rand") => Ok(MissetArg::Random),
        [x, y, z] => {
            let mut angles = [0.0; 3];
            for (slot, text) in angles.iter_mut().zip([x, y, z]) {
                *slot = text.parse::<f64>().map_err(|e| {
                    Error::usage(
                        "-misset",
                        format!(
                            "invalid value '{text}': {e} (give 3 angles in degrees, or random)"
                        ),
                    )
                })?;
            }
            Ok(MissetArg::Angles(angles))
        }
        _ => Err(Error::usage(
            "-misset",
            format!(
                "needs 3 angles in degrees or the word random, got {}",
                values.join(" ")
            ),
        )),
    }
}

/// The full help text, with options shown with a single dash as nanoBragg users type them.
pub fn help_text() -> String {
    tokens::single_dash(&CliArgs::command().render_long_help().to_string())
}

/// The version line, e.g. "nanobragg 0.1.0".
pub fn version_text() -> String {
    let v = CliArgs::command().render_version();
    format!("{} [SIMD: {}]\n", v.trim_end(), crate::cpu::simd_level())
}

/// Parses a nanoBragg command line (argv without the program name).
///
/// Returns [`ParseOutcome::Exit`] for `-help`/`-h`/`--help` and `-version`/`--version`, else
/// the parsed and resolved arguments. Usage errors (unknown option, missing or bad value) are
/// [`Error::Usage`] (exit status 2).
pub fn parse(argv: &[String]) -> Result<ParseOutcome> {
    let normalized = tokens::normalize_detailed(argv)?;
    let program = std::iter::once("nanobragg".to_string());
    let matches = match CliArgs::command().try_get_matches_from(program.chain(normalized.tokens)) {
        Ok(m) => m,
        Err(e) => {
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp => Ok(ParseOutcome::Exit {
                    text: help_text(),
                    code: 0,
                }),
                clap::error::ErrorKind::DisplayVersion => Ok(ParseOutcome::Exit {
                    text: version_text(),
                    code: 0,
                }),
                _ => Err(usage_from_clap(&e)),
            };
        }
    };
    let mut args = CliArgs::from_arg_matches(&matches).map_err(|e| usage_from_clap(&e))?;
    args.warnings = normalized.notes;
    args.resolve(&matches)?;
    if args.compat {
        let c_misset = compat_misset(argv);
        if c_misset != args.misset {
            args.warnings.push(
                "-compat: -misset_seed also acts as -misset with the next three tokens, as in \
                 nanoBragg.c (quirk Q3)"
                    .to_string(),
            );
            args.misset = c_misset;
        }
    }
    Ok(ParseOutcome::Run(Box::new(args)))
}

/// C's `atof`: the longest numeric prefix after leading blanks, 0 when there is none.
fn c_atof(s: &str) -> f64 {
    let t = s.trim_start();
    (1..=t.len())
        .rev()
        .filter(|&n| t.is_char_boundary(n))
        .find_map(|n| {
            t[..n]
                .parse::<f64>()
                .ok()
                .filter(|_| !t[..n].ends_with(['e', 'E']))
        })
        .unwrap_or(0.0)
}

/// nanoBragg.c's reading of `-misset` (spec Q3): every token that starts with `-` and contains
/// `-misset` — `-misset_seed` included — sets a random misset when the next token contains
/// `rand`, else three angles from the next three tokens (read with `atof`) when they exist.
fn compat_misset(argv: &[String]) -> Option<MissetArg> {
    let mut misset = None;
    for (i, tok) in argv.iter().enumerate() {
        if !tok.starts_with('-') || !tok.contains("-misset") {
            continue;
        }
        if argv.get(i + 1).is_some_and(|n| n.contains("rand")) {
            misset = Some(MissetArg::Random);
        } else if i + 3 < argv.len() {
            misset = Some(MissetArg::Angles([
                c_atof(&argv[i + 1]),
                c_atof(&argv[i + 2]),
                c_atof(&argv[i + 3]),
            ]));
        }
    }
    misset
}

/// Turns a clap error into [`Error::Usage`]: the option concerned and clap's message, with
/// options shown with a single dash.
fn usage_from_clap(e: &clap::Error) -> Error {
    use clap::error::{ContextKind, ContextValue};
    let option = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => {
            tokens::single_dash(s.split_whitespace().next().unwrap_or(s))
        }
        _ => "command line".to_string(),
    };
    let rendered = tokens::single_dash(&e.render().to_string());
    let reason = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("; ");
    Error::usage(option, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tokens::OPTIONS;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(s: &str) -> CliArgs {
        match parse(&argv(s)) {
            Ok(ParseOutcome::Run(a)) => *a,
            Ok(ParseOutcome::Exit { text, .. }) => panic!("{s}: unexpected exit: {text}"),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn fail(s: &str) -> String {
        match parse(&argv(s)) {
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{e}");
                e.to_string()
            }
            Ok(o) => panic!("{s}: expected an error, got {o:?}"),
        }
    }

    #[test]
    fn debug_assert() {
        CliArgs::command().debug_assert();
    }

    #[test]
    fn table_matches_clap() {
        let mut cmd = CliArgs::command();
        cmd.build();
        let longs: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
        for s in OPTIONS {
            assert!(longs.contains(&s.name), "{} missing from CliArgs", s.name);
        }
        for l in &longs {
            assert!(
                OPTIONS.iter().any(|s| s.name == *l),
                "--{l} missing from the token table"
            );
        }
    }

    #[test]
    fn every_option_parses_from_its_nanobragg_spelling() {
        for s in OPTIONS {
            if s.name == "help" || s.name == "version" {
                continue;
            }
            let values = match s.arity {
                tokens::Arity::Flag | tokens::Arity::OptionalDummy => String::new(),
                tokens::Arity::Exactly(n) => {
                    let v = match s.name {
                        "pivot" => "sample",
                        "backend" => "scalar",
                        _ => "2",
                    };
                    vec![v; n].join(" ")
                }
                tokens::Arity::Cell => "100 100 100 90 90 90".to_string(),
                tokens::Arity::Misset => "1 -2 3".to_string(),
            };
            let line = format!("-{} {values}", s.name);
            let _parsed = run(&line);
            let m = CliArgs::command()
                .try_get_matches_from(
                    std::iter::once("nanobragg".to_string())
                        .chain(tokens::normalize(&argv(&line)).unwrap_or_default()),
                )
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            let id = CliArgs::command()
                .get_arguments()
                .find(|x| x.get_long() == Some(s.name))
                .map(|x| x.get_id().to_string())
                .unwrap_or_default();
            assert!(position(&m, &id).is_some(), "{line}: {id} not recorded");
        }
    }

    #[test]
    fn representative_values() {
        let a = run(
            "-hkl P1.hkl -lambda 1.0 -detpixels 1024 -cell 100 100 100 90 90 90 -misset -12.5 3 0.5",
        );
        assert_eq!(a.hkl, Some(PathBuf::from("P1.hkl")));
        assert_eq!(a.wavelength, Some(WavelengthArg::Lambda(1.0)));
        assert_eq!(a.detpixels, Some(1024));
        assert_eq!(a.detector_pixels, [Some(1024), Some(1024)]);
        assert_eq!(a.cell, Some(vec![100.0, 100.0, 100.0, 90.0, 90.0, 90.0]));
        assert_eq!(a.misset, Some(MissetArg::Angles([-12.5, 3.0, 0.5])));
        assert_eq!(a.backend, BackendArg::Simd);
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);

        let a = run("-fdet_vector -.5 0 -1e-3 -roi 0 -1 2 3 -printout_pixel 5 6 -Xbeam -0.5");
        assert_eq!(a.fdet_vector, Some(vec![-0.5, 0.0, -1e-3]));
        assert_eq!(a.roi, Some(vec![0, -1, 2, 3]));
        assert_eq!(a.printout_pixel, Some(vec![5, 6]));
        assert!(a.printout);
        assert_eq!(a.xbeam, Some(-0.5));
        assert_eq!(a.convention, Some(ConventionArg::Custom));
        assert_eq!(a.pivot_request, Some(PivotArg::Beam));
        assert!(a.warnings.iter().any(|w| w.contains("-printout_pixel")));
    }

    #[test]
    fn cell_records_what_was_given() {
        assert_eq!(run("-cell 100").cell, Some(vec![100.0]));
        assert_eq!(run("-cell 100 -N 3").cell, Some(vec![100.0]));
        assert_eq!(run("-cell 70 80 90").cell, Some(vec![70.0, 80.0, 90.0]));
    }

    #[test]
    fn aliases_fill_the_canonical_field() {
        let a = run(
            "-matrix a.mat -wavelength 1.5 -mosaic_spread 0.2 -mosaic_domains 7 -adcoffset 10 \
             -detector_absorb 500 -sample_height 0.01 -floatimage f.bin -intimage i.img \
             -noiseimage n.img -pgmimage p.pgm -thicksteps 3 -xtal_size 0.02 -threads 4 \
             -detpixels_f 100 -detpixels_s 50 -binary_spots -molecular_weight 20",
        );
        assert_eq!(a.mat, Some(PathBuf::from("a.mat")));
        assert_eq!(a.lambda, Some(1.5));
        assert_eq!(a.mosaic, Some(0.2));
        assert_eq!(a.mosaic_domains, Some(7));
        assert_eq!(a.adc, Some(10.0));
        assert_eq!(a.detector_absorb, Some(500.0));
        assert_eq!(a.xtal_height, Some(0.01));
        assert_eq!(a.floatfile, Some(PathBuf::from("f.bin")));
        assert_eq!(a.intfile, Some(PathBuf::from("i.img")));
        assert_eq!(a.noisefile, Some(PathBuf::from("n.img")));
        assert_eq!(a.pgmfile, Some(PathBuf::from("p.pgm")));
        assert_eq!(a.detector_thicksteps, Some(3));
        assert_eq!(a.xtalsize, Some(0.02));
        assert_eq!(a.crystal_size, [Some(0.02), Some(0.02), Some(0.02)]);
        assert_eq!(a.nthreads, Some(4));
        assert_eq!(a.detector_pixels, [Some(100), Some(50)]);
        assert_eq!(a.shape, Some(ShapeArg::Tophat));
        assert_eq!(a.noise, Some(true));
        assert_eq!(a.pgm, Some(true));
        assert!(a.warnings.iter().any(|w| w.starts_with("-MW")));

        let a = run("-pix0_vector_mm 0.1 0.2 0.3 -height 0.5 -width 0.4 -detector_abs inf");
        assert_eq!(a.pix0_vector, Some(vec![0.1, 0.2, 0.3]));
        assert_eq!(a.crystal_size, [None, Some(0.4), Some(0.5)]);
        assert_eq!(a.detector_absorb, Some(f64::INFINITY));
        assert!(a.warnings.iter().any(|w| w.contains("metres")));
    }

    #[test]
    fn last_wins_groups() {
        let a = run("-lambda 1 -energy 12398.42");
        assert_eq!(a.wavelength, Some(WavelengthArg::Energy(12398.42)));
        let a = run("-energy 9000 -lambda 2 -lambda 3");
        assert_eq!(a.wavelength, Some(WavelengthArg::Lambda(3.0)));
        assert_eq!(run("-noisefile a.img -nonoise").noise, Some(false));
        assert_eq!(run("-nonoise -noisefile a.img").noise, Some(true));
        assert_eq!(run("-N 1").noise, None);
        assert_eq!(run("-nonoise -nonoise").noise, Some(false));
        assert_eq!(
            run("--mosaic_domains 5 -mosaic_dom 6").mosaic_domains,
            Some(6)
        );
        assert_eq!(run("-nopgm -pgmscale 2").pgm, Some(true));
        assert_eq!(run("-pgmfile x.pgm -nopgm").pgm, Some(false));
        assert_eq!(run("-polar 0.5 -nopolar").polar_off, Some(true));
        assert_eq!(run("-nopolar -polar 0.5").polar_off, Some(false));
        assert_eq!(run("-interpolate -nointerpolate").interpolate, Some(false));
        assert_eq!(run("-nointerpolate -interpolate").interpolate, Some(true));
        assert_eq!(run("-progress -noprogress").progress, Some(false));
        assert_eq!(run("-noprogress -progress").progress, Some(true));
        assert_eq!(run("-round_div -square_div").round_div, Some(false));
        assert_eq!(run("-square_div -round_div").round_div, Some(true));
        assert_eq!(run("-xds -mosflm").convention, Some(ConventionArg::Mosflm));
        assert_eq!(
            run("-mosflm -dials -denzo").convention,
            Some(ConventionArg::Denzo)
        );
        assert_eq!(
            run("-xds -beam_vector 0 0 1").convention,
            Some(ConventionArg::Custom)
        );
        assert_eq!(
            run("-beam_vector 0 0 1 -adxv").convention,
            Some(ConventionArg::Adxv)
        );
        assert_eq!(run("-N 2").convention, None);
        assert_eq!(run("-gauss_xtal -round_xtal").shape, Some(ShapeArg::Round));
        assert_eq!(
            run("-round_xtal -square_xtal").shape,
            Some(ShapeArg::Square)
        );
        assert_eq!(
            run("-distance 100 -pivot sample").pivot_request,
            Some(PivotArg::Sample)
        );
        assert_eq!(
            run("-pivot sample -Xbeam 3").pivot_request,
            Some(PivotArg::Beam)
        );
        assert_eq!(
            run("-dials -twotheta 5").pivot_request,
            Some(PivotArg::Sample)
        );
        assert_eq!(run("-ORGX 5 -mosflm").pivot_request, Some(PivotArg::Beam));
        assert_eq!(
            run("-distance 100 -xds").pivot_request,
            Some(PivotArg::Sample)
        );
        // Q4: -twotheta_axis neither sets two-theta nor the pivot.
        let a = run("-distance 100 -twotheta_axis 5 0 0");
        assert_eq!(a.twotheta, None);
        assert_eq!(a.pivot_request, Some(PivotArg::Beam));
        assert!(a.warnings.iter().any(|w| w.contains("-twotheta_axis")));
        // Per-axis groups.
        assert_eq!(run("-N 5 -Na 3").n_cells, [Some(3), Some(5), Some(5)]);
        assert_eq!(run("-Na 3 -N 5").n_cells, [Some(5), Some(5), Some(5)]);
        assert_eq!(run("-Nc 2").n_cells, [None, None, Some(2)]);
        assert_eq!(
            run("-xtal_x 1 -xtalsize 2 -width 3").crystal_size,
            [Some(2.0), Some(3.0), Some(2.0)]
        );
        assert_eq!(
            run("-divergence 1 -vdivrange 2").divergence_range,
            [Some(1.0), Some(2.0)]
        );
        assert_eq!(
            run("-hdivsteps 4 -divsteps 3").divergence_steps,
            [Some(3), Some(3)]
        );
        assert_eq!(
            run("-detpixels_x 10 -detpixels 20").detector_pixels,
            [Some(20), Some(20)]
        );
        assert_eq!(
            run("-detsize 20 -detsize_s 10").detector_size,
            [Some(20.0), Some(10.0)]
        );
        // Repeated options: the last value wins.
        assert_eq!(
            run("-misset 1 2 3 -misset 4 5 6").misset,
            Some(MissetArg::Angles([4.0, 5.0, 6.0]))
        );
        assert_eq!(
            run("-misset 1 2 3 -misset random").misset,
            Some(MissetArg::Random)
        );
        assert_eq!(run("-cell 1 2 3 -cell 4").cell, Some(vec![4.0]));
        assert_eq!(
            run("-beam_vector 1 0 0 -beam_vector 0 0 1").beam_vector,
            Some(vec![0.0, 0.0, 1.0])
        );
        assert!(run("-detector_abs inf -detector_thick 300").detector_absorb_off_first);
        assert!(!run("-detector_thick 300 -detector_abs inf").detector_absorb_off_first);
        assert!(!run("-detector_abs 500 -detector_thick 300").detector_absorb_off_first);
    }

    #[test]
    fn misset_random_and_seed() {
        let a = run("-misset random -misset_seed 99");
        assert_eq!(a.misset, Some(MissetArg::Random));
        assert_eq!(a.misset_seed, Some(99));
        // Q3: -misset_seed does not fire -misset.
        let a = run("-misset_seed 1");
        assert!(a.misset.is_none());
        assert_eq!(a.misset_seed, Some(1));
        // ... except under -compat, where it does, as in nanoBragg.c.
        let a = run("-compat -misset random -misset_seed 99 -distance 100");
        assert_eq!(a.misset, Some(MissetArg::Angles([99.0, 0.0, 100.0])));
        assert!(a.warnings.iter().any(|w| w.contains("Q3")));
        let a = run("-compat -misset random -misset_seed 99");
        assert_eq!(a.misset, Some(MissetArg::Random));
        assert_eq!(c_atof(" 12.5abc"), 12.5);
        assert_eq!(c_atof("1e"), 1.0);
        assert_eq!(c_atof("-distance"), 0.0);
    }

    #[test]
    fn inert_options_warn() {
        let a = run("-coherent -stol s.dat -4stol s.dat -Q q.dat -stolout o.stol -density 1 -MW 5");
        assert_eq!(a.warnings.len(), 7, "{:?}", a.warnings);
        assert!(
            a.warnings[0].starts_with(
                "-coherent is accepted for compatibility but has no effect in nanoBragg"
            )
        );
        assert!(a.coherent);
        assert_eq!(a.stol4, Some(PathBuf::from("s.dat")));
    }

    #[test]
    fn extensions() {
        let a = run("-compat -quiet -nthreads 3 -pngfile a.png -backend scalar");
        assert!(a.compat && a.quiet);
        assert_eq!(a.nthreads, Some(3));
        assert_eq!(a.pngfile, Some(PathBuf::from("a.png")));
        assert_eq!(a.backend, BackendArg::Scalar);
        assert_eq!(run("--threads 2").nthreads, Some(2));
        assert!(fail("-backend gpu").contains("possible values"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            fail("-lamda 1"),
            "-lamda: unknown option; did you mean -lambda?"
        );
        let e = fail("-N 5 -hkl");
        assert!(e.starts_with("-hkl: missing value"), "{e}");
        let e = fail("-lambda abc");
        assert!(e.starts_with("-lambda: invalid value 'abc'"), "{e}");
        assert!(!e.contains("--"), "{e}");
        let e = fail("-N 1.5");
        assert!(e.starts_with("-N: invalid value '1.5'"), "{e}");
        let e = fail("-pivot middle");
        assert!(e.contains("possible values: beam, sample"), "{e}");
        let e = fail("-misset 1 x 3");
        assert!(e.starts_with("-misset: invalid value 'x'"), "{e}");
        let e = fail("-cell 100 abc");
        assert!(e.starts_with("-cell: invalid value 'abc'"), "{e}");
    }

    #[test]
    fn help_and_version() {
        for s in ["-h", "-help", "--help", "-N 5 -help"] {
            match parse(&argv(s)) {
                Ok(ParseOutcome::Exit { text, code: 0 }) => {
                    assert!(text.contains("-hkl <FILE>"), "{text}")
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        for s in ["-version", "--version"] {
            match parse(&argv(s)) {
                Ok(ParseOutcome::Exit { text, code: 0 }) => {
                    assert!(text.starts_with("nanobragg "), "{text}")
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        assert!(fail("-v").contains("unknown option"));
    }

    #[test]
    fn help_lists_every_option_with_one_dash() {
        let help = help_text();
        for s in OPTIONS {
            let shown = format!("-{}", s.name);
            let found = help.match_indices(&shown).any(|(i, _)| {
                let before = help[..i].chars().next_back();
                let after = help[i + shown.len()..].chars().next();
                !matches!(before, Some(c) if c == '-' || c.is_alphanumeric())
                    && !matches!(after, Some(c) if c == '_' || c.is_alphanumeric())
            });
            assert!(found, "{shown} not in help");
            for alias in s.aliases {
                assert!(help.contains(&format!("-{alias}")), "-{alias} not in help");
            }
        }
        for h in HELP_HEADINGS {
            assert!(help.contains(&format!("{h}:")), "heading {h} not in help");
        }
        for line in help.lines() {
            let t = line.trim_start();
            assert!(!t.starts_with("--"), "double dash left in help: {line}");
        }
        assert!(help.contains("-h, -help"));
        assert!(help.contains("Default: 0 (unpolarized)") || help.contains("Default: 0."));
    }

    /// The "args" arrays of every golden case.
    fn golden_args() -> Vec<Vec<String>> {
        let path = crate::io::golden_dir().join("cases.json");
        let text = std::fs::read_to_string(&path).expect("read cases.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("parse cases.json");
        let cases = json["cases"].as_array().expect("a \"cases\" array");
        assert!(!cases.is_empty(), "{}: no cases", path.display());
        cases
            .iter()
            .map(|case| {
                let args = case["args"].as_array().expect("\"args\" is an array");
                args.iter()
                    .map(|a| a.as_str().expect("arguments are strings").to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn golden_command_lines() {
        let hard_coded = [
            "-cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -N 5 -distance 100 -detpixels 256",
            "-cell 70 80 90 75 85 95 -misset 12 -7 31 -default_F 100 -lambda 1.0 -N 5 -distance 100 -detpixels 256",
            "-cell 100 100 100 90 90 90 -default_F 100 -misset 1 2 3 -lambda 1.0 -N 5 -detector_thick 320 -detector_abs 500 -detector_thicksteps 3 -distance 100 -detpixels 128",
            "-cell 100 100 100 90 90 90 -default_F 100 -misset 5 6 7 -lambda 1.0 -N 5 -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 -beam_vector 1 0 0 -pivot sample -close_distance 95 -Xclose 9 -Yclose 11 -detpixels 192",
            "-cell 100 100 100 90 90 90 -default_F 100 -lambda 1.0 -N 5 -misset random -misset_seed 99 -distance 100 -detpixels 192",
            "-cell 100 100 100 90 90 90 -default_F 100 -misset 5 6 7 -lambda 1.0 -N 5 -roi 20 150 30 120 -distance 100 -detpixels 192",
        ];
        let mut lines: Vec<Vec<String>> = hard_coded.iter().map(|s| argv(s)).collect();
        lines.extend(golden_args());
        for line in &lines {
            match parse(line) {
                Ok(ParseOutcome::Run(a)) => {
                    assert!(a.cell.is_some() || a.mat.is_some(), "{line:?}");
                    assert!(a.warnings.is_empty(), "{line:?}: {:?}", a.warnings);
                }
                other => panic!("{line:?}: {other:?}"),
            }
        }
        let a = run(hard_coded[3]);
        assert_eq!(a.convention, Some(ConventionArg::Custom));
        assert_eq!(a.pivot_request, Some(PivotArg::Sample));
        assert_eq!(a.sdet_vector, Some(vec![0.0, -1.0, 0.0]));
        let a = run(hard_coded[5]);
        assert_eq!(a.roi, Some(vec![20, 150, 30, 120]));
    }
}
