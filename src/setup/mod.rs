//! Setup: everything the pixel loop needs, computed once from [`Params`].
//!
//! In nanoBragg.c's order (spec §3.0): sampling rules (φ, divergence, dispersion, sensor
//! layers, mosaic domains), detector placement, interpolation choice, the lattice, crystal size
//! and automatic oversampling, sources, mosaic domain rotations, the normalisation `steps`, the
//! water background. What C recomputes inside its loops but never changes across pixels is
//! hoisted here: the crystal's real-space vectors for every (φ step, mosaic domain) pair, and
//! each source's incident direction and wavelength.
//!
//! The console notes nanoBragg prints while setting up are collected in [`Setup::log`].

pub mod crystal;
pub mod detector;
mod region;
pub(crate) mod sampling;

use std::sync::Arc;

use crate::cfmt::g;
use crate::error::{Error, Result};
use crate::io::hkl::HklGrid;
use crate::params::{AVOGADRO, Params, R_E_SQR, Shape};
use crate::rng::{self, NrRng};
use crate::vec3::{self, IDENTITY, Mat3, Vec3};

pub use crystal::CrystalSetup;
pub use detector::DetectorGeometry;
pub use region::Region;

/// Most sources (divergence points × wavelengths, or source-file lines).
pub const MAX_SOURCES: f64 = 1e6;
/// Most crystal orientations (φ steps × mosaic domains).
pub const MAX_ORIENTATIONS: f64 = 1e7;
/// Most sensor layers.
pub const MAX_LAYERS: f64 = 1e4;
/// Largest automatic oversampling accepted (an explicit `-oversample` is checked by
/// [`Params::validate`]).
pub const MAX_AUTO_OVERSAMPLE: usize = 100;

/// One incident beam direction and wavelength.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Source {
    /// Unit vector of propagation towards the sample (`−unit(source position)`).
    pub incident: Vec3,
    /// Wavelength (m).
    pub wavelength: f64,
}

/// Sensor layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layers {
    /// Number of layers.
    pub count: usize,
    /// Thickness of one layer (m); layer t spans depth `[t·step, (t+1)·step]`.
    pub step: f64,
    /// Total sensor thickness (m); 0 = no absorption modelled.
    pub thickness: f64,
    /// Attenuation coefficient μ (1/m).
    pub mu: f64,
}

/// The prepared simulation.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Detector geometry.
    pub detector: DetectorGeometry,
    /// The crystal.
    pub crystal: CrystalSetup,
    /// Sources (directions and wavelengths).
    pub sources: Vec<Source>,
    /// Spindle angles φ (rad).
    pub phi: Vec<f64>,
    /// Mosaic domain rotations (domain 0 is the identity).
    pub mosaic: Vec<Mat3>,
    /// Real-space a, b, c (m) for φ step k and domain m at index `k·domains + m`.
    pub orientations: Vec<[Vec3; 3]>,
    /// nanoBragg.c quirk Q1 (`compat` only): at φ = 0 C does not rotate the crystal and keeps
    /// the orientation of the most recent non-zero φ. Between pixels that is the last non-zero
    /// φ step, whose index this holds (`None` when no φ is non-zero, or not in compat mode).
    pub phi_zero_carry: Option<usize>,
    /// Spot shape.
    pub shape: Shape,
    /// Shape fudge factor.
    pub fudge: f64,
    /// Structure-factor grid.
    pub grid: Option<Arc<HklGrid>>,
    /// F outside the grid.
    pub default_f: f64,
    /// Tricubic interpolation of F.
    pub interpolate: bool,
    /// Sub-pixels per pixel edge.
    pub oversample: usize,
    /// C's normalisation: sources × domains × φ steps × oversample².
    pub steps: f64,
    /// Sensor layers.
    pub layers: Layers,
    /// r_e²·Φ: converts electrons² per steradian to photons.
    pub scale: f64,
    /// Water background: compat adds this to the accumulator before scaling (C); otherwise it
    /// is the photons per steradian added after scaling.
    pub water: f64,
    /// Fluence (photons/m²).
    pub fluence: f64,
    /// Kahn factor.
    pub kahn: f64,
    /// Polarization correction off.
    pub nopolar: bool,
    /// Recompute absorption per sub-pixel.
    pub oversample_thick: bool,
    /// Recompute polarization per sub-pixel and source.
    pub oversample_polar: bool,
    /// Recompute solid angle per sub-pixel.
    pub oversample_omega: bool,
    /// Solid angle 1/R².
    pub point_pixel: bool,
    /// Curved detector.
    pub curved: bool,
    /// Resolution cut (m), 0 = off.
    pub dmin: f64,
    /// The rendered pixels: region of interest and mask.
    pub region: Region,
    /// Reproduce nanoBragg.c's bugs.
    pub compat: bool,
    /// The values nanoBragg reports: φ start and range (rad).
    pub phi_report: [f64; 2],
    /// Mosaic spread (rad); 0 when the crystal is perfect.
    pub mosaic_spread: f64,
    /// Spindle step between consecutive φ values (rad).
    pub phi_step: f64,
    /// Console notes in nanoBragg's order.
    pub log: Vec<String>,
}

/// Refuse sample counts that would not fit in memory or time.
fn limit(field: &'static str, n: f64, max: f64) -> Result<()> {
    if n <= max {
        Ok(())
    } else {
        Err(Error::InvalidParams {
            field,
            reason: format!("{n} samples is more than the {max} this build accepts"),
        })
    }
}

/// Refuse parameters whose brightest possible pixel overflows the `f32` float image (which
/// would turn it into `inf`, the 16-bit image into 0 and the noise image into overloads).
/// Bound: `(r_e²·Φ·F_max²·(NaNbNc)² + water)·ω_max·(1 + |K|)`, with `ω_max` the solid angle of a
/// pixel at the closest distance; no simulation of a real crystal comes near it.
fn brightest_pixel_fits(
    p: &Params,
    crystal: &crystal::CrystalSetup,
    det: &detector::DetectorGeometry,
    scale: f64,
    water: f64,
) -> Result<()> {
    let grid_max = p
        .structure_factors
        .grid
        .as_ref()
        .map_or(0.0, |g| g.data.iter().fold(0.0f64, |m, f| m.max(f.abs())));
    let f_max = grid_max.max(p.structure_factors.default_f.abs());
    let nnn: f64 = crystal.cells.iter().product();
    let close = det.close_distance;
    let omega_max = if p.detector.point_pixel {
        1.0 / (close * close)
    } else {
        det.pixel_size * det.pixel_size / (close * close)
    };
    let peak =
        (scale * f_max * f_max * nnn * nnn + water) * omega_max * (1.0 + p.beam.kahn_factor.abs());
    if peak.is_finite() && peak <= f64::from(f32::MAX) {
        return Ok(());
    }
    Err(Error::InvalidParams {
        field: "-fluence, -default_F",
        reason: format!(
            "the brightest pixel could reach {} photons, more than a float image holds \
             ({:e}); lower -fluence (or -flux, -exposure), -default_F or the HKL's F, or -N",
            crate::cfmt::g(peak),
            f32::MAX
        ),
    })
}

/// Refuse geometries where the pixel loop has no meaning: a detector plane through the sample
/// (every pixel's solid angle and direction degenerate), or a polarization vector along an
/// incident beam with a Kahn factor (the polarization plane is undefined).
fn degenerate_geometry(
    p: &Params,
    det: &detector::DetectorGeometry,
    sources: &[Source],
) -> Result<()> {
    if det.close_distance.abs() < 1e-6 * det.pixel_size {
        return Err(Error::InvalidParams {
            field: "-distance",
            reason: format!(
                "the detector plane passes through the sample (its distance from the sample is \
                 {} m); check -distance, -pix0_vector, -odet_vector and the beam centre",
                g(det.close_distance)
            ),
        });
    }
    let polarized = p.beam.kahn_factor != 0.0 && !p.beam.nopolar;
    if polarized
        && sources
            .iter()
            .any(|s| vec3::norm(vec3::cross(det.polar, s.incident)) < 1e-6)
    {
        return Err(Error::InvalidParams {
            field: "-polar_vector",
            reason: "the polarization vector is parallel to an incident beam, so the Kahn \
                     factor has no plane to act in; give another -polar_vector, or -polar 0"
                .into(),
        });
    }
    Ok(())
}

/// The completed horizontal and vertical divergence grids and the dispersion grid.
fn beam_grids(p: &Params) -> ([sampling::Grid; 2], sampling::Grid) {
    let div = |i: usize| {
        let b = &p.beam;
        sampling::complete(
            b.divergence_steps[i],
            b.divergence_range[i],
            b.divergence_step[i],
            1.0,
            -1.0,
        )
    };
    let disp = sampling::complete(p.beam.dispsteps, p.beam.dispersion, None, 1.0, 0.0);
    ([div(0), div(1)], disp)
}

fn source_list(
    p: &Params,
    det: &DetectorGeometry,
    grids: &([sampling::Grid; 2], sampling::Grid),
    log: &mut Vec<String>,
) -> Result<Vec<Source>> {
    const SOURCE_DISTANCE: f64 = 10.0;
    let lambda0 = p.beam.wavelength;
    let beam = det.beam;
    let mut raw: Vec<(Vec3, f64)> = Vec::new();
    if let Some(list) = &p.beam.sources {
        limit("-sourcefile", list.len() as f64, MAX_SOURCES)?;
        for s in list {
            let pos = [0, 1, 2].map(|i| s.position[i].unwrap_or(-SOURCE_DISTANCE * beam[i]));
            raw.push((pos, s.wavelength.unwrap_or(lambda0)));
        }
    } else {
        let ([hd, vd], disp) = *grids;
        limit(
            "-hdivsteps/-vdivsteps/-dispsteps",
            hd.steps as f64 * vd.steps as f64 * disp.steps as f64,
            MAX_SOURCES,
        )?;
        let mut kept = Vec::new();
        for i in 0..hd.steps {
            for j in 0..vd.steps {
                let h = hd.step * i as f64 - hd.range / 2.0;
                let v = vd.step * j as f64 - vd.range / 2.0;
                let mut test = (h * h - hd.step * hd.step / 4.0 * (1 - hd.steps % 2) as f64)
                    / hd.range
                    / hd.range;
                test += (v * v - vd.step * vd.step / 4.0 * (1 - vd.steps % 2) as f64)
                    / vd.range
                    / vd.range;
                if p.beam.round_div && test * 4.0 > 1.1 {
                    continue;
                }
                log.push(format!("divergence deviation: {} {}", g(h), g(v)));
                kept.push((h, v));
            }
        }
        let lambdas: Vec<f64> = (0..disp.steps)
            .map(|k| lambda0 * (1.0 + disp.step * k as f64 - disp.range / 2.0))
            .collect();
        for (k, l) in lambdas.iter().enumerate() {
            log.push(format!("lambda{k} = {}", crate::cfmt::g_prec(*l, 15)));
        }
        for (h, v) in kept {
            let start = vec3::scale(beam, -SOURCE_DISTANCE);
            let pos = vec3::rotate_axis(vec3::rotate_axis(start, det.polar, v), det.vert, h);
            for &l in &lambdas {
                raw.push((pos, l));
            }
        }
    }
    if raw.is_empty() {
        return Err(Error::InvalidParams {
            field: "-hdivrange, -vdivrange",
            reason: "the elliptical trim of the divergence grid leaves no source: use more \
                     -hdivsteps/-vdivsteps, smaller steps, or -square_div"
                .into(),
        });
    }
    log.push(format!("  created a total of {} sources:", raw.len()));
    let weight = 1.0 / raw.len().max(1) as f64;
    Ok(raw
        .iter()
        .map(|&(pos, wavelength)| {
            let w = if p.beam.sources.is_some() {
                1.0
            } else {
                weight
            };
            log.push(format!(
                "{} {} {}   {} {}",
                g(pos[0]),
                g(pos[1]),
                g(pos[2]),
                g(w),
                g(wavelength)
            ));
            Source {
                incident: vec3::scale(vec3::unitize(pos).0, -1.0),
                wavelength,
            }
        })
        .collect())
}

impl Setup {
    /// Prepare a simulation. Fails only when `params` does not validate.
    pub fn new(p: &Params) -> Result<Setup> {
        p.validate()?;
        let mut log = Vec::new();
        let compat = p.compat;

        // Sampling rules (C: "default sampling logic").
        let phi = sampling::complete_phi(p.rotation.phisteps, p.rotation.osc, p.rotation.phistep);
        limit("-phisteps", phi.steps as f64, MAX_ORIENTATIONS)?;
        let layers = sensor_layers(p, &mut log)?;
        let (domains, spread) = mosaic_domains(p, &mut log);

        limit(
            "-mosaic_domains",
            domains as f64 * phi.steps as f64,
            MAX_ORIENTATIONS,
        )?;
        let det = detector::place(
            &p.detector,
            detector::VectorOverrides {
                beam: p.beam.beam_vector,
                polar: p.beam.polar_vector,
                spindle: p.rotation.spindle_axis,
            },
            compat,
        );
        log.extend(det.log.iter().cloned());

        let interpolate = interpolation(p, &mut log);

        let crystal = crystal::build(p);
        log.extend(crystal.log.iter().cloned());

        let oversample = oversampling(p, &det, &crystal, &mut log)?;
        let cells = crystal.cells;
        let volume = crystal.size.iter().product::<f64>();
        log.push(format!(
            "approximate MW = {}",
            g(volume * 1.2e6 * AVOGADRO / (cells[0] * cells[1] * cells[2]))
        ));

        for t in 0..layers.count {
            log.push(format!("thick{t} = {} um", g(layers.step * t as f64 * 1e6)));
        }
        let phis: Vec<f64> = (0..phi.steps)
            .map(|k| p.rotation.phi0 + phi.step * k as f64)
            .collect();
        for (k, f) in phis.iter().enumerate() {
            log.push(format!("phi{k} = {}", g(f.to_degrees())));
        }

        let grids = beam_grids(p);
        let sources = source_list(p, &det, &grids, &mut log)?;
        degenerate_geometry(p, &det, &sources)?;

        let mosaic = mosaic_rotations(p, domains, spread);
        log.push(format!("  created a total of {domains} mosaic domains"));

        let orientations = orientations(&crystal.real, det.spindle, &mosaic, spread, &phis);
        let phi_zero_carry = phi_zero_carry(&phis, compat);

        let steps = (sources.len() * domains * phis.len() * oversample * oversample) as f64;

        let (fluence, scale, water) = fluence_scale_water(p);
        brightest_pixel_fits(p, &crystal, &det, scale, water)?;

        let region = Region::new(
            det.fpixels,
            det.spixels,
            p.sampling.roi,
            p.detector.mask.clone(),
        );

        let mut setup = Setup {
            detector: det,
            crystal,
            sources,
            phi: phis,
            mosaic,
            orientations,
            phi_zero_carry,
            shape: p.crystal.shape,
            fudge: p.crystal.fudge,
            grid: p.structure_factors.grid.clone(),
            default_f: p.structure_factors.default_f,
            interpolate,
            oversample,
            steps,
            layers,
            scale,
            water,
            fluence,
            kahn: p.beam.kahn_factor,
            nopolar: p.beam.nopolar,
            oversample_thick: p.sampling.oversample_thick,
            oversample_polar: p.sampling.oversample_polar,
            oversample_omega: p.sampling.oversample_omega,
            point_pixel: p.detector.point_pixel,
            curved: p.detector.curved,
            dmin: p.sampling.dmin,
            region,
            compat,
            phi_report: [p.rotation.phi0, phi.range],
            mosaic_spread: spread,
            phi_step: phi.step,
            log: Vec::new(),
        };
        setup.summary(&mut log, p, &grids, spread);
        setup.log = log;
        Ok(setup)
    }

    /// The setup of frame `index` (from 0) of a rotation series that starts with this one:
    /// frame i covers φ0 + i·osc to φ0 + (i + 1)·osc in the same steps (`-frames`). Frame 0 is
    /// this setup.
    ///
    /// ```
    /// # use nanobragg::{engine, params::{Lattice, Params}, setup::Setup};
    /// let mut params = Params::default();
    /// let right = 90f64.to_radians();
    /// params.crystal.lattice = Lattice::cell(50e-10, 50e-10, 50e-10, right, right, right);
    /// params.structure_factors.default_f = 100.0;
    /// params.detector.set_pixels(16, 16);
    /// params.rotation.osc = Some(1f64.to_radians());
    /// let setup = Setup::new(&params)?;
    /// let sweep: Vec<_> = (0..3)
    ///     .map(|i| engine::render(&setup.frame(i), engine::Backend::Simd))
    ///     .collect();
    /// assert!((setup.frame_phi(2) - 2f64.to_radians()).abs() < 1e-12);
    /// assert_eq!(sweep.len(), 3);
    /// # Ok::<(), nanobragg::Error>(())
    /// ```
    pub fn frame(&self, index: usize) -> Setup {
        self.at_phi(self.frame_phi(index))
    }

    /// The spindle angle (rad) at which frame `index` (from 0) of the series starts.
    pub fn frame_phi(&self, index: usize) -> f64 {
        let [phi0, osc] = self.phi_report;
        phi0 + osc * index as f64
    }

    /// This setup with the rotation moved to start at `phi0` (rad): the spindle angles keep
    /// their steps, the crystal orientations follow. Everything else (detector, sources,
    /// structure factors, mosaic domains) is shared; a rotation series calls this per frame.
    pub fn at_phi(&self, phi0: f64) -> Setup {
        let phis: Vec<f64> = (0..self.phi.len())
            .map(|k| phi0 + self.phi_step * k as f64)
            .collect();
        let mut frame = Setup {
            orientations: orientations(
                &self.crystal.real,
                self.detector.spindle,
                &self.mosaic,
                self.mosaic_spread,
                &phis,
            ),
            phi_zero_carry: phi_zero_carry(&phis, self.compat),
            phi_report: [phi0, self.phi_report[1]],
            log: Vec::new(),
            ..self.clone()
        };
        frame.phi = phis;
        frame
    }

    fn summary(
        &self,
        log: &mut Vec<String>,
        p: &Params,
        grids: &([sampling::Grid; 2], sampling::Grid),
        spread: f64,
    ) {
        let d = &self.detector;
        let hkls = self.grid.as_ref().map_or(0, |g| g.count);
        log.push(format!(
            "  {hkls} initialized hkls (all others ={})",
            g(self.default_f)
        ));
        let shape = match self.shape {
            Shape::Round => "ellipsoidal",
            Shape::Square => "parallelpiped",
            Shape::Gauss => "gaussian",
            Shape::Tophat => "tophat-spot",
        };
        let c = self.crystal.cells;
        log.push(format!(
            "  {shape} xtal: {:.0}x{:.0}x{:.0} cells",
            c[0], c[1], c[2]
        ));
        let disp = grids.1;
        log.push(format!(
            "  wave={} meters +/- {}% in {} steps",
            g(p.beam.wavelength),
            g(disp.range * 100.0),
            disp.steps
        ));
        if self.nopolar {
            log.push("  polarization effect disabled".into());
        } else {
            log.push(format!("  Kahn polarization factor: {:.6}", self.kahn));
        }
        if self.curved {
            log.push("  curved detector: all pixels same distance from origin".into());
        }
        if self.point_pixel {
            log.push("  pixel obliquity effect disabled".into());
        }
        log.push(format!(
            "  incident fluence: {} photons/m^2",
            g(self.fluence)
        ));
        log.push(format!(
            "  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)",
            g(d.distance),
            g(d.size[0]),
            g(d.size[1]),
            g(d.pixel_size),
            d.fpixels,
            d.spixels
        ));
        log.push(format!(
            "  sensor is {} m thick in {} layers with mu= {}",
            g(self.layers.thickness),
            self.layers.count,
            g(self.layers.mu)
        ));
        log.push(format!(
            "  Xbeam={} Ybeam={}",
            g(d.beam_center[0]),
            g(d.beam_center[1])
        ));
        log.push(format!(
            "  Fbeam={} Sbeam={}",
            g(d.fbeam_sbeam[0]),
            g(d.fbeam_sbeam[1])
        ));
        log.push(format!(
            "  Xclose={} Yclose={}",
            g(d.close_point[0]),
            g(d.close_point[1])
        ));
        log.push(format!(
            "  Fclose={} Sclose={}",
            g(d.fclose_sclose[0]),
            g(d.fclose_sclose[1])
        ));
        let v3 = |v: Vec3| format!("{} {} {}", g(v[0]), g(v[1]), g(v[2]));
        log.push(format!("  DIRECTION_OF_DETECTOR_X-AXIS= {}", v3(d.fdet)));
        log.push(format!("  DIRECTION_OF_DETECTOR_Y-AXIS= {}", v3(d.sdet)));
        log.push(format!("  DIRECTION_OF_DETECTOR_Z-AXIS= {}", v3(d.odet)));
        log.push(format!("  INCIDENT_BEAM_DIRECTION= {}", v3(d.beam)));
        log.push(format!("  spindle ROTATION_AXIS= {}", v3(d.spindle)));
        log.push(format!(
            "  POLARIZATION_PLANE_NORMAL= {}",
            v3(vec3::cross(d.beam, d.polar))
        ));
        log.push(format!("  dials origin= {}", v3(d.dials_origin)));
        let r = self.region.bounds();
        log.push(format!(
            "  roi: {} < x < {} && {} < y < {}",
            r[0], r[1], r[2], r[3]
        ));
        let [hd, vd] = grids.0;
        log.push(format!(
            "  hdivrange={} hdivstep={}  radians",
            g(hd.range),
            g(hd.step)
        ));
        log.push(format!(
            "  vdivrange={} vdivstep={}  radians",
            g(vd.range),
            g(vd.step)
        ));
        log.push(format!("  {} sources", self.sources.len()));
        log.push(format!(
            "  {} mosaic domains over mosaic spread of {} degrees",
            self.mosaic.len(),
            g(spread.to_degrees())
        ));
        log.push(format!(
            "  {} phi steps from {} to {} degrees",
            self.phi.len(),
            g(self.phi_report[0].to_degrees()),
            g((self.phi_report[0] + self.phi_report[1]).to_degrees())
        ));
        let mut s = format!("  {0}x{0} pixel oversample steps", self.oversample);
        for (on, name) in [
            (self.oversample_thick, " +thick"),
            (self.oversample_polar, " +polar"),
            (self.oversample_omega, " +omega"),
        ] {
            if on {
                s.push_str(name);
            }
        }
        log.push(s);
    }
}

/// The sensor's layers (C: "detector thickness" sampling) and its attenuation.
fn sensor_layers(p: &Params, log: &mut Vec<String>) -> Result<Layers> {
    let thick = sampling::complete_thickness(
        p.detector.thicksteps,
        p.detector.thickness.unwrap_or(0.0),
        None,
    );
    limit("-detector_thicksteps", thick.steps as f64, MAX_LAYERS)?;
    let mut layers = Layers {
        count: thick.steps,
        step: thick.step,
        thickness: thick.range,
        mu: 0.0,
    };
    if !p.compat && layers.thickness > 0.0 {
        // Q10 fixed: n layers of thickness/n each, covering exactly the sensor.
        layers.step = layers.thickness / layers.count as f64;
    }
    match p.detector.attenuation_length {
        Some(l) if l.is_infinite() || l == 0.0 => layers.mu = 0.0,
        Some(l) => layers.mu = 1.0 / l,
        None if layers.thickness > 0.0 => {
            layers.mu = 1.0 / layers.thickness;
            log.push(format!(
                "WARNING: setting detector attenuation depth to {} m",
                g(layers.mu)
            ));
        }
        None => {}
    }
    if layers.thickness > 0.0 && layers.mu == 0.0 {
        log.push(
            "WARNING: a sensor with no absorption (-detector_abs inf or 0) captures no photons"
                .to_string(),
        );
    }
    Ok(layers)
}

/// The number of mosaic domains and the spread they sample (C's fix-ups of the two options).
fn mosaic_domains(p: &Params, log: &mut Vec<String>) -> (usize, f64) {
    match (
        p.rotation.mosaic_domains.filter(|&n| n > 0),
        p.rotation.mosaic_spread,
    ) {
        (None, None) => (1, 0.0),
        (None, Some(s)) if s <= 0.0 => (1, 0.0),
        (None, Some(s)) => {
            log.push(
                "WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains"
                    .into(),
            );
            (10, s)
        }
        (Some(_), None) => {
            log.push("WARNING: no mosaic spread specified.  setting mosaic_domains = 1".into());
            (1, 0.0)
        }
        (Some(_), Some(s)) if s <= 0.0 => {
            log.push("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1".into());
            (1, 0.0)
        }
        (Some(n), Some(s)) => (n as usize, s),
    }
}

/// Whether structure factors are interpolated: as asked, or auto-selected for small crystals.
fn interpolation(p: &Params, log: &mut Vec<String>) -> bool {
    let has_grid = p.structure_factors.grid.is_some();
    match p.structure_factors.interpolate {
        Some(on) => on && has_grid,
        None => {
            let on = p.crystal.cells.iter().any(|&n| n <= 2.0);
            log.push(if on {
                "auto-selected tricubic interpolation of structure factors".into()
            } else {
                "auto-selected no interpolation".into()
            });
            on && has_grid
        }
    }
}

/// The sub-pixel grid per pixel axis: as asked, or nanoBragg's rule from the crystal size and
/// the reciprocal pixel size (refused above [`MAX_AUTO_OVERSAMPLE`]).
fn oversampling(
    p: &Params,
    det: &DetectorGeometry,
    crystal: &CrystalSetup,
    log: &mut Vec<String>,
) -> Result<usize> {
    let reciprocal_pixel = p.beam.wavelength * det.distance / det.pixel_size;
    let max_size = crystal.size.iter().cloned().fold(0.0, f64::max);
    let recommended = ((3.0 * max_size / reciprocal_pixel).ceil() as i64).max(1) as usize;
    let oversample = match p.sampling.oversample.filter(|&n| n > 0) {
        Some(n) => n as usize,
        None => {
            if recommended > MAX_AUTO_OVERSAMPLE {
                return Err(Error::InvalidParams {
                    field: "-oversample",
                    reason: format!(
                        "the crystal is so large that nanoBragg's rule would sample each \
                         pixel {recommended} x {recommended} times; give -oversample N"
                    ),
                });
            }
            log.push(format!("auto-selected {recommended}-fold oversampling"));
            recommended
        }
    };
    if oversample < recommended {
        log.push(format!(
            "WARNING: maximum dimension of sample is {} A",
            g(max_size * 1e10)
        ));
        log.push(format!(
            "         but reciprocal pixel size is {} A",
            g(reciprocal_pixel * 1e10)
        ));
        log.push("         intensity may vary significantly across a pixel!".into());
        log.push(format!(
            "         recommend -oversample {recommended} to work around this"
        ));
    }
    Ok(oversample)
}

/// The mosaic domains' rotations: the identity first, then C's random umats from the seed.
fn mosaic_rotations(p: &Params, domains: usize, spread: f64) -> Vec<Mat3> {
    let mut rng = NrRng::new();
    let mut seed = -p.rotation.mosaic_seed;
    (0..domains)
        .map(|m| {
            let u = rng::mosaic_rotation_umat(&mut rng, spread as f32, &mut seed);
            if m == 0 { IDENTITY } else { u }
        })
        .collect()
}

/// The fluence (from -flux·-exposure/-beamsize² when given), the scale r_e²·Φ and the water
/// background per steradian (a cube of -water with F = 2.57 per molecule of 18 g/mol).
fn fluence_scale_water(p: &Params) -> (f64, f64, f64) {
    let mut fluence = p.beam.fluence;
    if p.beam.flux != 0.0 && p.beam.exposure > 0.0 && p.beam.beam_size >= 0.0 {
        fluence = p.beam.flux * p.beam.exposure / p.beam.beam_size / p.beam.beam_size;
    }
    let scale = R_E_SQR * fluence;
    const WATER_F: f64 = 2.57;
    const WATER_MW: f64 = 18.0;
    let w = p.water_size;
    let water = WATER_F * WATER_F * scale * w * w * w * 1e6 * AVOGADRO / WATER_MW;
    (fluence, scale, water)
}

/// The real-space cell of every (φ, mosaic domain) pair, φ outermost: each vector rotated by φ
/// about the spindle (not at all at φ = 0), then by the domain's rotation when the crystal is
/// mosaic (C: the loops over `phi_tic` and `mos_tic`).
fn orientations(
    real: &[Vec3; 3],
    spindle: Vec3,
    mosaic: &[Mat3],
    spread: f64,
    phis: &[f64],
) -> Vec<[Vec3; 3]> {
    let orient = |phi_value: f64, m: usize| -> [Vec3; 3] {
        real.map(|v| {
            let vp = if phi_value != 0.0 {
                vec3::rotate_axis(v, spindle, phi_value)
            } else {
                v
            };
            if spread > 0.0 {
                vec3::mat_vec(&mosaic[m], vp)
            } else {
                vp
            }
        })
    };
    phis.iter()
        .flat_map(|&f| (0..mosaic.len()).map(move |m| (f, m)))
        .map(|(f, m)| orient(f, m))
        .collect()
}

/// Under `compat`, the last φ step with a rotation, whose orientation C carries into a φ = 0
/// step (quirk Q1).
fn phi_zero_carry(phis: &[f64], compat: bool) -> Option<usize> {
    if compat {
        phis.iter().rposition(|&f| f != 0.0)
    } else {
        None
    }
}
