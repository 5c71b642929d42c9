//! # nanobragg
//!
//! A re-implementation of James Holton's nanoBragg, the simulator of X-ray diffraction images
//! from nanocrystals, built to give the same images as the C program from the same command
//! lines, many times faster.
//!
//! nanoBragg sums, for every detector pixel, the scattering of a crystal of `Na × Nb × Nc` unit
//! cells: for each sub-pixel, sensor layer, source, spindle angle φ and mosaic domain it forms
//! the scattering vector `q = (d̂ − î)/λ`, the fractional Miller indices `h = a·q`, the lattice
//! transform of the crystal shape and the structure factor of the nearest (or interpolated)
//! reflection, and accumulates `F_cell²·F_latt²`; the sum is scaled by `r_e²·Φ`, the solid
//! angle, the polarization factor and the sensor's capture fraction, giving photons per pixel.
//!
//! The pipeline, one module each:
//!
//! * [`cli`]: nanoBragg's command line → [`params::Params`] (plain data, SI units) and the output
//!   files; input files are read there.
//! * [`setup`]: detector placement, sources, crystal orientations, sampling rules, the
//!   normalisation — everything that does not change across pixels.
//! * [`engine`]: the pixel loop, chosen as a [`engine::Backend`] value.
//! * [`image`]: statistics and integer/greyscale conversions; [`noise`] the Poisson image.
//! * [`io`]: file formats (HKL, `Fdump.bin`, MOSFLM matrix, SMV, PGM, PNG, raw float).
//!
//! [`params::Params`] documents a complete example of rendering an image in code.
//!
//! Where nanoBragg.c is wrong the default computes the physics and `compat` mode reproduces
//! the C program; the README lists every difference.

pub(crate) mod cfmt;
#[cfg(feature = "cli")]
pub mod cli;
#[doc(hidden)]
pub mod cpu;
pub mod engine;
pub mod error;
pub mod image;
pub mod io;
pub(crate) mod lanes;
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) mod memory;
pub mod noise;
pub mod params;
pub mod physics;
/// The Python module `nanobragg` (pyo3, numpy), built by maturin from `pyproject.toml`.
#[cfg(feature = "python")]
mod python;
pub(crate) mod rng;
pub mod setup;
pub(crate) mod spelling;
pub mod suite;
pub mod vec3;

pub use error::{Error, Result};
