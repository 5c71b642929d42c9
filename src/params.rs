//! `Params`: everything a simulation needs, as plain data in SI units.
//!
//! Lengths are metres, angles radians, wavelengths metres, fluence photons/m². Values that
//! nanoBragg chooses automatically when the user leaves them out are `Option`s here and are
//! resolved by [`crate::setup`] with the C program's rules, so a `Params` built in code behaves
//! exactly like the same command line. Input files are read before a `Params` exists: it holds
//! the reflections and the orientation matrix themselves, never paths.
//!
//! ```
//! use nanobragg::params::{Lattice, Params};
//! let mut p = Params::default();
//! p.crystal.lattice = Lattice::cell(100e-10, 100e-10, 100e-10, 90f64.to_radians(), 90f64.to_radians(), 90f64.to_radians());
//! p.crystal.cells = [5.0; 3];
//! p.structure_factors.default_f = 100.0;
//! p.beam.wavelength = 6.2e-10;
//! p.detector.set_pixels(64, 64);
//! p.validate().unwrap();
//! let setup = nanobragg::setup::Setup::new(&p).unwrap();
//! let image = nanobragg::engine::render(&setup, nanobragg::engine::Backend::Scalar);
//! assert_eq!(image.pixels.len(), 64 * 64);
//! assert!(image.pixels.iter().all(|v| v.is_finite() && *v >= 0.0));
//! ```

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::hkl::HklGrid;
use crate::vec3::Vec3;

/// Classical electron radius squared, m² (nanoBragg's `r_e_sqr`).
pub const R_E_SQR: f64 = 7.94079248018965e-30;
/// The default fluence: 1/r_e², so that r_e²·Φ = 1 (photons/m²).
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;
/// Avogadro's number as nanoBragg writes it.
pub const AVOGADRO: f64 = 6.02214179e23;

/// All inputs of one simulation.
#[derive(Clone, Debug, Default)]
pub struct Params {
    /// The crystal: lattice, orientation, size and spot shape.
    pub crystal: Crystal,
    /// Structure factors.
    pub structure_factors: StructureFactors,
    /// The incident beam.
    pub beam: Beam,
    /// The detector.
    pub detector: Detector,
    /// Rotation and mosaicity sampling.
    pub rotation: Rotation,
    /// Sub-pixel sampling and region of interest.
    pub sampling: Sampling,
    /// Water background: edge of a cube of water around the crystal, m (0 = none).
    pub water_size: f64,
    /// Reproduce nanoBragg.c's known bugs (the COMPAT items of the README) instead of the physics.
    pub compat: bool,
}

/// How the unit cell and its orientation are given.
#[derive(Clone, Debug, PartialEq)]
pub enum Lattice {
    /// Cell constants: a, b, c in metres, α, β, γ in radians (`-cell`), in nanoBragg's
    /// canonical orientation (a* along x, b* in the x-y plane).
    Cell {
        /// Edge lengths a, b, c (m).
        lengths: [f64; 3],
        /// Angles α, β, γ (rad).
        angles: [f64; 3],
    },
    /// Reciprocal vectors a*, b*, c* in the lab frame (m⁻¹), e.g. from a MOSFLM matrix (`-mat`).
    Reciprocal([Vec3; 3]),
}

impl Lattice {
    /// A cell from its constants (metres and radians).
    pub fn cell(a: f64, b: f64, c: f64, alpha: f64, beta: f64, gamma: f64) -> Self {
        Lattice::Cell {
            lengths: [a, b, c],
            angles: [alpha, beta, gamma],
        }
    }

    /// Reciprocal vectors from a MOSFLM A matrix (rows x, y, z; columns a*, b*, c*; units
    /// Å⁻¹·λ) and the wavelength in metres.
    pub fn from_mosflm_matrix(rows: &[[f64; 3]; 3], wavelength: f64) -> Self {
        let per_metre = 1.0 / wavelength;
        let col = |j: usize| {
            [
                rows[0][j] * per_metre,
                rows[1][j] * per_metre,
                rows[2][j] * per_metre,
            ]
        };
        Lattice::Reciprocal([col(0), col(1), col(2)])
    }
}

impl Default for Lattice {
    fn default() -> Self {
        Lattice::Cell {
            lengths: [0.0; 3],
            angles: [std::f64::consts::FRAC_PI_2; 3],
        }
    }
}

/// A rotation applied once to the crystal at setup (`-misset`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Misset {
    /// No extra rotation.
    #[default]
    None,
    /// Rotate a*, b*, c* about lab x, then y, then z (radians).
    Angles([f64; 3]),
    /// A random orientation drawn with C's generator from this `-misset_seed` value.
    Random {
        /// The user's seed (C stores its negative).
        seed: i64,
    },
}

/// Crystal shape, which sets the lattice (spot) transform.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// Parallelepiped: product of three `sin(πNh)/sin(πh)`.
    #[default]
    Square,
    /// Ellipsoid: `sinc3` of the fractional-index radius.
    Round,
    /// Gaussian spots without side lobes.
    Gauss,
    /// Flat-top spots.
    Tophat,
}

/// The crystal.
#[derive(Clone, Debug)]
pub struct Crystal {
    /// Unit cell and orientation.
    pub lattice: Lattice,
    /// Extra orientation.
    pub misset: Misset,
    /// Unit cells along a, b, c (`-N`, `-Na` …), before sizes are applied; values ≤ 1 mean 1.
    pub cells: [f64; 3],
    /// Crystal size along a, b, c in metres (`-xtalsize` …); overrides `cells` where > 0.
    pub size: [Option<f64>; 3],
    /// Spot shape.
    pub shape: Shape,
    /// Multiplies the squared radius of round, Gaussian and top-hat spots.
    pub fudge: f64,
}

impl Default for Crystal {
    fn default() -> Self {
        Crystal {
            lattice: Lattice::default(),
            misset: Misset::None,
            cells: [1.0; 3],
            size: [None; 3],
            shape: Shape::Square,
            fudge: 1.0,
        }
    }
}

/// Structure factors of the unit cell.
#[derive(Clone, Debug, Default)]
pub struct StructureFactors {
    /// Reflections on a dense grid (from an HKL file or `Fdump.bin`), if any.
    pub grid: Option<Arc<HklGrid>>,
    /// F for every reflection outside the grid (electrons).
    pub default_f: f64,
    /// Tricubic interpolation between reflections: `None` chooses as nanoBragg does
    /// (on when any of Na, Nb, Nc ≤ 2 and there is a grid).
    pub interpolate: Option<bool>,
}

/// The incident beam.
#[derive(Clone, Debug)]
pub struct Beam {
    /// Central wavelength (m).
    pub wavelength: f64,
    /// Fluence (photons/m²), used unless `flux` gives it.
    pub fluence: f64,
    /// Flux (photons/s); when non-zero with `exposure` > 0, fluence = flux·exposure/beam_size².
    pub flux: f64,
    /// Exposure time (s).
    pub exposure: f64,
    /// Side of the square beam (m); also clips the crystal size along b and c.
    pub beam_size: f64,
    /// Kahn polarization factor (0 = unpolarized).
    pub kahn_factor: f64,
    /// Polarization correction switched off (`-nopolar`).
    pub nopolar: bool,
    /// Spectral dispersion Δλ/λ, full width (fraction, not percent).
    pub dispersion: Option<f64>,
    /// Number of wavelengths across the dispersion.
    pub dispsteps: Option<i64>,
    /// Divergence: horizontal and vertical full ranges (rad).
    pub divergence_range: [Option<f64>; 2],
    /// Divergence: horizontal and vertical steps (rad).
    pub divergence_step: [Option<f64>; 2],
    /// Divergence: horizontal and vertical point counts.
    pub divergence_steps: [Option<i64>; 2],
    /// Trim the divergence grid to an ellipse (`-round_div`, the default).
    pub round_div: bool,
    /// Explicit sources (`-sourcefile`): these replace the divergence × dispersion grid.
    pub sources: Option<Vec<SourceSpec>>,
    /// Direction of propagation (`-beam_vector`); `None` takes the convention's.
    pub beam_vector: Option<Vec3>,
    /// E-vector axis (`-polar_vector`); `None` takes the convention's.
    pub polar_vector: Option<Vec3>,
}

impl Default for Beam {
    fn default() -> Self {
        Beam {
            wavelength: 1e-10,
            fluence: DEFAULT_FLUENCE,
            flux: 0.0,
            exposure: 1.0,
            beam_size: 1e-4,
            kahn_factor: 0.0,
            nopolar: false,
            dispersion: None,
            dispsteps: None,
            divergence_range: [None; 2],
            divergence_step: [None; 2],
            divergence_steps: [None; 2],
            round_div: true,
            sources: None,
            beam_vector: None,
            polar_vector: None,
        }
    }
}

/// One line of a source file; missing values take nanoBragg's defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceSpec {
    /// Source position relative to the sample (any unit: only the direction matters).
    pub position: [Option<f64>; 3],
    /// Relative intensity (nanoBragg ignores it).
    pub weight: Option<f64>,
    /// Wavelength (m).
    pub wavelength: Option<f64>,
}

/// Detector conventions: basis vectors, beam-centre mapping and pivot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Convention {
    /// MOSFLM (nanoBragg's default): beam along +x, ½-pixel centre shift.
    #[default]
    Mosflm,
    /// DENZO: MOSFLM axes without the ½-pixel shift.
    Denzo,
    /// ADXV: beam along +z, slow axis measured from the far edge.
    Adxv,
    /// XDS: beam along +z, origin from ORGX/ORGY.
    Xds,
    /// DIALS: as XDS with the spindle along +y.
    Dials,
    /// Vectors given explicitly.
    Custom,
}

/// Which point stays fixed when the detector is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pivot {
    /// The direct-beam spot stays where the beam centre says.
    Beam,
    /// The foot of the perpendicular from the sample stays put.
    Sample,
}

/// The detector.
#[derive(Clone, Debug)]
pub struct Detector {
    /// Pixel pitch (m).
    pub pixel_size: f64,
    /// Pixels along the fast axis.
    pub fpixels: usize,
    /// Pixels along the slow axis.
    pub spixels: usize,
    /// Detector size along fast and slow (m); the beam-centre defaults use it.
    pub size: [f64; 2],
    /// Sample to direct-beam spot along the beam (m).
    pub distance: f64,
    /// Sample to detector plane, perpendicular (m); wins over `distance` when given.
    pub close_distance: Option<f64>,
    /// Convention.
    pub convention: Convention,
    /// Pivot requested on the command line (only CUSTOM honours it, as in nanoBragg).
    pub pivot: Option<Pivot>,
    /// Beam centre X, Y (m), meaning per convention.
    pub beam_center: [Option<f64>; 2],
    /// Near point Xclose, Yclose (m).
    pub close_point: [Option<f64>; 2],
    /// XDS origin ORGX, ORGY (pixels).
    pub org: [Option<f64>; 2],
    /// Rotations about lab x, y, z (rad).
    pub rotation: [f64; 3],
    /// Two-theta swing (rad).
    pub twotheta: f64,
    /// Explicit fast, slow and normal axes (`-fdet_vector` …).
    pub fdet_vector: Option<Vec3>,
    /// Explicit slow axis.
    pub sdet_vector: Option<Vec3>,
    /// Explicit normal.
    pub odet_vector: Option<Vec3>,
    /// Explicit two-theta axis.
    pub twotheta_axis: Option<Vec3>,
    /// Sensor thickness (m), layers and attenuation length (m).
    pub thickness: Option<f64>,
    /// Number of sensor layers.
    pub thicksteps: Option<i64>,
    /// Attenuation length (m); `Some(inf)` or 0 means no absorption.
    pub attenuation_length: Option<f64>,
    /// All pixels at the same distance (`-curved_det`).
    pub curved: bool,
    /// Solid angle 1/R² (`-point_pixel`).
    pub point_pixel: bool,
    /// Pixels rendered only where the mask is non-zero (row-major, fast fastest).
    pub mask: Option<Arc<Vec<u16>>>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector {
            pixel_size: 1e-4,
            fpixels: 1024,
            spixels: 1024,
            size: [102.4e-3, 102.4e-3],
            distance: 0.1,
            close_distance: None,
            convention: Convention::Mosflm,
            pivot: None,
            beam_center: [None; 2],
            close_point: [None; 2],
            org: [None; 2],
            rotation: [0.0; 3],
            twotheta: 0.0,
            fdet_vector: None,
            sdet_vector: None,
            odet_vector: None,
            twotheta_axis: None,
            thickness: None,
            thicksteps: None,
            attenuation_length: None,
            curved: false,
            point_pixel: false,
            mask: None,
        }
    }
}

impl Detector {
    /// Set the pixel counts and the matching detector size (`-detpixels_f/_s`).
    pub fn set_pixels(&mut self, fpixels: usize, spixels: usize) {
        self.fpixels = fpixels;
        self.spixels = spixels;
        self.size = [
            self.pixel_size * fpixels as f64,
            self.pixel_size * spixels as f64,
        ];
    }
}

/// Crystal rotation (φ) and mosaic sampling.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// First spindle angle (rad).
    pub phi0: f64,
    /// Oscillation range (rad).
    pub osc: Option<f64>,
    /// Step (rad).
    pub phistep: Option<f64>,
    /// Number of steps.
    pub phisteps: Option<i64>,
    /// Spindle axis (`-spindle_axis`); `None` takes the convention's.
    pub spindle_axis: Option<Vec3>,
    /// Mosaic spread: radius of the spherical cap of domain rotations (rad).
    pub mosaic_spread: Option<f64>,
    /// Number of mosaic domains.
    pub mosaic_domains: Option<i64>,
    /// Seed of the domain orientations (the user's value; C stores its negative).
    pub mosaic_seed: i64,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            phi0: 0.0,
            osc: None,
            phistep: None,
            phisteps: None,
            spindle_axis: None,
            mosaic_spread: None,
            mosaic_domains: None,
            mosaic_seed: 12345678,
        }
    }
}

/// Sub-pixel sampling and the rendered region.
#[derive(Clone, Debug, Default)]
pub struct Sampling {
    /// Sub-pixels per pixel edge; `None` chooses from crystal size as nanoBragg does.
    pub oversample: Option<u32>,
    /// Recompute absorption per sub-pixel.
    pub oversample_thick: bool,
    /// Recompute polarization per sub-pixel and source.
    pub oversample_polar: bool,
    /// Recompute the solid angle per sub-pixel.
    pub oversample_omega: bool,
    /// Region of interest: fast min, fast max, slow min, slow max (inclusive pixel indices).
    pub roi: Option<[usize; 4]>,
    /// Skip scattering finer than this resolution (m); 0 = off.
    pub dmin: f64,
}

fn positive(field: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParams {
            field,
            reason: format!("must be a positive finite number, got {v}"),
        })
    }
}

fn finite(field: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParams {
            field,
            reason: format!("must be finite, got {v}"),
        })
    }
}

/// Largest image the library agrees to allocate (pixels).
pub const MAX_PIXELS: usize = 1 << 30;

impl Params {
    /// Check that the parameters describe a simulation that can run: positive sizes and
    /// wavelength, a cell, a structure-factor source, a region inside the detector.
    pub fn validate(&self) -> Result<()> {
        match &self.crystal.lattice {
            Lattice::Cell { lengths, angles } => {
                for &l in lengths {
                    positive("-cell", l)?;
                }
                for &a in angles {
                    finite("-cell", a)?;
                    if a <= 0.0 || a >= std::f64::consts::PI {
                        return Err(Error::InvalidParams {
                            field: "-cell",
                            reason: "cell angles must lie strictly between 0 and 180 degrees"
                                .into(),
                        });
                    }
                }
            }
            Lattice::Reciprocal(v) => {
                for x in v.iter().flatten() {
                    finite("-mat", *x)?;
                }
                let vol = crate::vec3::dot(v[0], crate::vec3::cross(v[1], v[2]));
                if vol == 0.0 || !vol.is_finite() {
                    return Err(Error::InvalidParams {
                        field: "-mat",
                        reason: "the reciprocal vectors are coplanar (zero cell volume)".into(),
                    });
                }
            }
        }
        if let Misset::Angles(a) = self.crystal.misset {
            for x in a {
                finite("-misset", x)?;
            }
        }
        for &n in &self.crystal.cells {
            finite("-N", n)?;
            if n > 1.0 && n.fract() != 0.0 {
                // nanoBragg counts whole unit cells (-N is read with atoi); the lattice factor
                // sin(πNh)/sin(πh) is only periodic in h for whole N.
                return Err(Error::InvalidParams {
                    field: "-N",
                    reason: format!("{n} is not a whole number of unit cells"),
                });
            }
            if n > 1e6 {
                return Err(Error::InvalidParams {
                    field: "-N",
                    reason: format!("{n} unit cells is more than the supported 1e6"),
                });
            }
        }
        for s in self.crystal.size.iter().flatten() {
            finite("-xtalsize", *s)?;
        }
        finite("-fudge", self.crystal.fudge)?;
        finite("-default_F", self.structure_factors.default_f)?;
        if self.structure_factors.grid.is_none() && self.structure_factors.default_f == 0.0 {
            return Err(Error::InvalidParams {
                field: "-hkl",
                reason:
                    "no structure factors: give -hkl FILE, or -default_F F for every reflection"
                        .into(),
            });
        }
        positive("-lambda", self.beam.wavelength)?;
        finite("-fluence", self.beam.fluence)?;
        finite("-flux", self.beam.flux)?;
        finite("-exposure", self.beam.exposure)?;
        finite("-beamsize", self.beam.beam_size)?;
        finite("-polar", self.beam.kahn_factor)?;
        let d = &self.detector;
        positive("-pixel", d.pixel_size)?;
        positive("-distance", d.distance)?;
        if let Some(c) = d.close_distance {
            positive("-close_distance", c)?;
        }
        if d.fpixels == 0 || d.spixels == 0 {
            return Err(Error::InvalidParams {
                field: "-detpixels",
                reason: "the detector must have at least one pixel on each axis".into(),
            });
        }
        if d.fpixels
            .checked_mul(d.spixels)
            .is_none_or(|n| n > MAX_PIXELS)
        {
            return Err(Error::InvalidParams {
                field: "-detpixels",
                reason: format!(
                    "{} x {} pixels is more than the {MAX_PIXELS} this build accepts",
                    d.fpixels, d.spixels
                ),
            });
        }
        for v in d
            .beam_center
            .iter()
            .chain(&d.close_point)
            .chain(&d.org)
            .flatten()
        {
            finite("-Xbeam/-Ybeam", *v)?;
        }
        for v in d.rotation.iter().chain([&d.twotheta]) {
            finite("-detector_rot", *v)?;
        }
        if let Some(mask) = &d.mask
            && mask.len() != d.fpixels * d.spixels
        {
            return Err(Error::InvalidParams {
                field: "-mask",
                reason: format!(
                    "mask has {} pixels but the detector has {} x {}",
                    mask.len(),
                    d.fpixels,
                    d.spixels
                ),
            });
        }
        finite("-phi", self.rotation.phi0)?;
        finite("-dmin", self.sampling.dmin)?;
        finite("-water", self.water_size)?;
        if let Some(n) = self.sampling.oversample
            && n > 1000
        {
            return Err(Error::InvalidParams {
                field: "-oversample",
                reason: format!("{n} sub-pixels per edge is more than the supported 1000"),
            });
        }
        if let Some([x0, x1, y0, y1]) = self.sampling.roi
            && (x0 > x1 || y0 > y1)
        {
            return Err(Error::InvalidParams {
                field: "-roi",
                reason: format!("empty region: x {x0}..{x1}, y {y0}..{y1}"),
            });
        }
        Ok(())
    }
}
