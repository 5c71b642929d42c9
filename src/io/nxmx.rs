//! NeXus/NXmx HDF5 output: every frame of a series in one file that DIALS/dxtbx reads with its
//! `FormatNXmx` class (feature `hdf5`, which needs the HDF5 C library).
//!
//! # Layout
//!
//! ```text
//! /entry                                   NXentry  @default = "data"
//!   definition = "NXmx", start_time, end_time (ISO 8601 UTC)
//!   /source                                NXsource: name
//!   /data                                  NXdata  @signal = "data"  @auxiliary_signals
//!     data          i32 [frames, slow, fast]  photon counts (the Poisson image)
//!     float_image   f32 [frames, slow, fast]  expected photons (the noiseless image)
//!   /instrument                            NXinstrument: name
//!     /beam                                NXbeam
//!       incident_wavelength (Å), incident_polarization_stokes [I, Q, U, V]
//!     /detector                            NXdetector
//!       depends_on = /entry/instrument/detector/transformations/two_theta
//!       description, type, sensor_material = "Si", sensor_thickness (mm),
//!       saturation_value, underload_value, count_time (s), frame_time (s),
//!       distance (mm), beam_center_x, beam_center_y (pixels)
//!       /transformations                   NXtransformations
//!         two_theta      rotation (deg) about the two-theta axis, depends on "."
//!       /module                            NXdetector_module
//!         data_origin [0, 0], data_size [slow, fast], data_stride [1, 1]
//!         module_offset         translation (mm), depends on two_theta
//!         fast_pixel_direction  translation (mm, the pixel pitch), depends on module_offset
//!         slow_pixel_direction  translation (mm, the pixel pitch), depends on module_offset
//!   /sample                                NXsample
//!     name, depends_on = /entry/sample/transformations/phi
//!     /transformations                     NXtransformations
//!       phi [frames] (deg, each frame's start), phi_end [frames], phi_increment_set
//! ```
//!
//! Both images are chunked one frame per chunk and, where the HDF5 library has the deflate
//! filter, compressed with shuffle + deflate. `data` is the dataset dxtbx reads: it follows
//! `@signal`, and readers that ignore `@signal` take the first dataset by name, which is also
//! `data`.
//!
//! # Geometry
//!
//! NeXus vectors are in the McStas frame (z along the beam, y up); dxtbx turns them into its
//! laboratory frame by the 180° rotation about y, `(x, y, z)_McStas = (−X, Y, −Z)_DIALS`, and
//! [`LabGeometry`] is already in the DIALS frame, so every vector is written through that
//! rotation. dxtbx puts a single-module panel's origin at the translation of the chain that
//! `fast_pixel_direction` depends on (`module_offset` → `two_theta`), and takes its fast and
//! slow axes as the rotations of that chain applied to the `vector`s of
//! `fast_pixel_direction` and `slow_pixel_direction`. The writer undoes the two-theta rotation
//! on [`LabGeometry::fast`], [`slow`](LabGeometry::slow) and
//! [`origin_mm`](LabGeometry::origin_mm) (which already include it), so that the chain gives
//! them back: the panel origin is the outer corner of pixel (0, 0), dxtbx's convention, not its
//! centre. Any other detector rotation stays in the module's vectors.
//!
//! The spindle is one rotation axis, `phi`, whose value per frame is the frame's start angle
//! and `phi_end` its end, from which dxtbx reads the scan's start and oscillation width.
//!
//! dxtbx requires a positive `sensor_thickness`: without a thick sensor it is 1 nm, whose
//! parallax correction is negligible (dxtbx cannot express an infinitely thin sensor in NXmx).
//! dxtbx takes the sensor's attenuation from its own tables for silicon, not from
//! [`LabGeometry::sensor`], and ignores the polarization (NeXus's Stokes vector `[1, K cos 2χ,
//! K sin 2χ, 0]`, with χ the angle of the E-vector from McStas x and K nanoBragg's polarization
//! fraction). Photon counts are valid from 0 up to `saturation_value` = `i32::MAX`, where
//! [`crate::noise`] saturates them.
//!
//! # Staging
//!
//! The HDF5 library writes to a path of its own, so the file is built in a hidden scratch file
//! next to the target (`.<name>.<pid>.<n>.nxmx.tmp`; in the system's temporary directory when
//! the target is a device or named pipe) and [`NxmxWriter::finish`] copies it into a
//! [`Staged`] file through [`stage`](crate::io::stage), removing the scratch file. The caller
//! commits the result with the run's other outputs. Dropping the writer, or any error, removes
//! the scratch file and leaves the target untouched.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, Group, Location};
use hdf5_metno as hdf5;

use crate::error::{Error, Result};
use crate::io::Staged;
use crate::io::lab::{FrameScan, LabGeometry};
use crate::vec3::{self, Vec3};

/// Where the detector's own transformations live.
const DETECTOR_AXES: &str = "/entry/instrument/detector/transformations";
/// The rotation axis of the detector.
const TWO_THETA: &str = "/entry/instrument/detector/transformations/two_theta";
/// The translation placing the module.
const MODULE_OFFSET: &str = "/entry/instrument/detector/module/module_offset";
/// The goniometer's rotation axis.
const PHI: &str = "/entry/sample/transformations/phi";
/// The `sensor_thickness` of a detector without a thick sensor: dxtbx requires the field and
/// a positive value; at 1 nm its parallax correction is below 10⁻¹¹ mm.
const THIN_SENSOR_MM: f64 = 1e-6;
/// Deflate level of the images (after the shuffle filter).
const DEFLATE_LEVEL: u8 = 4;

/// An NXmx file being written: one frame at a time, every frame of a series in one file.
///
/// ```no_run
/// # fn demo(geometry: &nanobragg::io::lab::LabGeometry,
/// #         scans: &[nanobragg::io::lab::FrameScan],
/// #         images: &[(Vec<i32>, Vec<f32>)]) -> nanobragg::error::Result<()> {
/// use nanobragg::io::nxmx::NxmxWriter;
/// let mut file = NxmxWriter::create("series.h5".as_ref(), geometry, scans.len())?;
/// for (i, (scan, (counts, float))) in scans.iter().zip(images).enumerate() {
///     file.write_frame(i, scan, counts, float)?;
/// }
/// file.finish()?.commit()
/// # }
/// ```
#[derive(Debug)]
pub struct NxmxWriter {
    // The HDF5 handles come before the scratch file so that they close before it is removed.
    h5: Handles,
    /// Pixels along fast and slow.
    size: [usize; 2],
    /// The scan of every frame written so far.
    scans: Vec<Option<FrameScan>>,
    target: PathBuf,
    scratch: Scratch,
}

/// The open file and the objects written after [`NxmxWriter::create`].
#[derive(Debug)]
struct Handles {
    file: hdf5::File,
    entry: Group,
    detector: Group,
    sample_axes: Group,
    data: Dataset,
    float: Dataset,
    phi: Dataset,
    phi_end: Dataset,
}

impl NxmxWriter {
    /// Creates the file (built in a scratch file beside `path`, staged by
    /// [`finish`](Self::finish)) with the geometry, for `frames` frames.
    ///
    /// Fails with an [`Error::Io`] naming `path` when `path` is a directory or its directory
    /// cannot be written, when the geometry has no pixels or `frames` is 0, or when HDF5 fails.
    pub fn create(path: &Path, geometry: &LabGeometry, frames: usize) -> Result<NxmxWriter> {
        let [fast, slow] = geometry.size;
        if frames == 0 || fast == 0 || slow == 0 {
            return Err(invalid(
                path,
                format!("cannot write {frames} frames of {fast} × {slow} pixels"),
            ));
        }
        let scratch = Scratch::new(path).map_err(|e| Error::io(path, e))?;
        let open = || -> hdf5::Result<Handles> {
            let file = hdf5::File::create(&scratch.path)?;
            // The images keep the handles that `write_layout` made: they carry the chunk cache.
            let (entry, data, float) = write_layout(&file, geometry, frames)?;
            Ok(Handles {
                detector: file.group("/entry/instrument/detector")?,
                sample_axes: file.group("/entry/sample/transformations")?,
                data,
                float,
                phi: file.dataset(PHI)?,
                phi_end: file.dataset("/entry/sample/transformations/phi_end")?,
                entry,
                file,
            })
        };
        // On failure the handles close before the scratch file is removed.
        let h5 = open().map_err(|e| h5_error(path, &e))?;
        Ok(NxmxWriter {
            h5,
            size: geometry.size,
            scans: vec![None; frames],
            target: path.to_path_buf(),
            scratch,
        })
    }

    /// Writes frame `index` (0-based): `counts` (photon counts, slow × fast with fast varying
    /// fastest) into `/entry/data/data`, `float` (expected photons) into
    /// `/entry/data/float_image`, and the frame's spindle angles from `scan`. A frame may be
    /// written again; the last write counts.
    pub fn write_frame(
        &mut self,
        index: usize,
        scan: &FrameScan,
        counts: &[i32],
        float: &[f32],
    ) -> Result<()> {
        let frames = self.scans.len();
        let [fast, slow] = self.size;
        if index >= frames {
            return Err(invalid(
                &self.target,
                format!("frame {index} is outside the {frames} frames of the file"),
            ));
        }
        let pixels = fast * slow;
        if counts.len() != pixels || float.len() != pixels {
            return Err(invalid(
                &self.target,
                format!(
                    "frame {index} has {} counts and {} float pixels, not {fast} × {slow}",
                    counts.len(),
                    float.len()
                ),
            ));
        }
        let h5 = &self.h5;
        let write = || -> hdf5::Result<()> {
            // Row by row: the crate writes only arrays of the selection's rank, and a row is a
            // slice. Each dataset's chunk cache holds the frame's chunk until it is complete.
            for (s, (c, f)) in counts.chunks(fast).zip(float.chunks(fast)).enumerate() {
                h5.data.write_slice(c, (index, s, ..))?;
                h5.float.write_slice(f, (index, s, ..))?;
            }
            let end = scan.phi_start_deg + scan.osc_deg;
            h5.phi
                .write_slice(&[scan.phi_start_deg][..], index..index + 1)?;
            h5.phi_end.write_slice(&[end][..], index..index + 1)
        };
        write().map_err(|e| h5_error(&self.target, &e))?;
        self.scans[index] = Some(*scan);
        Ok(())
    }

    /// Completes the file (exposure, oscillation, end time), closes it and stages it as the
    /// target; the caller commits the returned [`Staged`] file. Fails, leaving the target
    /// untouched and removing the scratch file, if a frame was never written.
    pub fn finish(self) -> Result<Staged> {
        let NxmxWriter {
            h5,
            scans,
            target,
            scratch,
            ..
        } = self;
        let written: Option<Vec<FrameScan>> = scans.iter().copied().collect();
        let Some(first) = written.as_ref().and_then(|s| s.first().copied()) else {
            let missing = scans.iter().position(Option::is_none).unwrap_or(0);
            drop(h5);
            return Err(invalid(
                &target,
                format!("frame {missing} of {} was never written", scans.len()),
            ));
        };
        let complete = || -> hdf5::Result<()> {
            let Handles {
                file,
                entry,
                detector,
                sample_axes,
                ..
            } = &h5;
            scalar_f64(detector, "count_time", first.exposure_s, Some("s"))?;
            scalar_f64(detector, "frame_time", first.exposure_s, Some("s"))?;
            scalar_f64(sample_axes, "phi_increment_set", first.osc_deg, Some("deg"))?;
            scalar_str(entry, "end_time", &utc_now())?;
            // Flushing writes the chunk caches while errors can still be seen (closing a
            // dataset drops them silently).
            file.flush()
        };
        let flushed = complete();
        // Every object closes before the file, which only then is complete on disk.
        let Handles {
            file,
            entry,
            detector,
            sample_axes,
            data,
            float,
            phi,
            phi_end,
        } = h5;
        drop((entry, detector, sample_axes, data, float, phi, phi_end));
        let closed = flushed.and_then(|()| file.close());
        closed.map_err(|e| h5_error(&target, &e))?;
        let staged = crate::io::stage(&target, |w| {
            let mut h5 = fs::File::open(&scratch.path)?;
            io::copy(&mut h5, w)?;
            Ok(())
        })?;
        drop(scratch);
        Ok(staged)
    }
}

/// The HDF5 scratch file, removed when dropped while armed.
#[derive(Debug)]
struct Scratch {
    path: PathBuf,
    armed: bool,
}

impl Scratch {
    /// Reserves a fresh scratch name for `target` (see the module documentation).
    fn new(target: &Path) -> io::Result<Scratch> {
        let dir = match fs::metadata(target) {
            Ok(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory, not a file",
                ));
            }
            Ok(m) if !m.is_file() => std::env::temp_dir(),
            _ => match target.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            },
        };
        let (_, path) = crate::io::atomic::create_temp_in(&dir, target, "nxmx.tmp")?;
        Ok(Scratch { path, armed: true })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the original error is what the caller needs to see.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// An [`Error::Io`] on `path` for a request the file cannot hold.
fn invalid(path: &Path, reason: String) -> Error {
    Error::invalid_input(path, reason)
}

/// An HDF5 failure as an [`Error::Io`] naming the target.
fn h5_error(path: &Path, e: &hdf5::Error) -> Error {
    Error::io(path, io::Error::other(format!("HDF5: {e}")))
}

/// A vector of DIALS's laboratory frame in NeXus's McStas frame (and back: the map is its own
/// inverse).
fn mcstas(v: Vec3) -> Vec3 {
    [-v[0], v[1], -v[2]]
}

/// Writes every group, the geometry and the empty image datasets; returns `/entry` and the
/// two images.
fn write_layout(
    file: &hdf5::File,
    g: &LabGeometry,
    frames: usize,
) -> hdf5::Result<(Group, Dataset, Dataset)> {
    let entry = nx_group(file, "entry", "NXentry")?;
    attr_str(&entry, "default", "data")?;
    scalar_str(&entry, "definition", "NXmx")?;
    scalar_str(&entry, "start_time", &utc_now())?;

    let source = nx_group(&entry, "source", "NXsource")?;
    scalar_str(&source, "name", "nanoBragg simulation")?;

    let instrument = nx_group(&entry, "instrument", "NXinstrument")?;
    scalar_str(&instrument, "name", "nanoBragg")?;
    write_beam(&instrument, g)?;
    write_detector(&instrument, g)?;
    write_sample(&entry, g, frames)?;

    let data = nx_group(&entry, "data", "NXdata")?;
    attr_str(&data, "signal", "data")?;
    let aux = [text("float_image")?];
    data.new_attr_builder()
        .with_data(&aux[..])
        .create("auxiliary_signals")?;
    let [fast, slow] = g.size;
    let counts = image::<i32>(&data, "data", [frames, slow, fast])?;
    attr_str(&counts, "units", "counts")?;
    attr_str(&counts, "long_name", "photon counts")?;
    let float = image::<f32>(&data, "float_image", [frames, slow, fast])?;
    attr_str(&float, "units", "counts")?;
    attr_str(&float, "long_name", "expected photons (noiseless)")?;
    Ok((entry, counts, float))
}

/// `/entry/instrument/beam`.
fn write_beam(instrument: &Group, g: &LabGeometry) -> hdf5::Result<()> {
    let beam = nx_group(instrument, "beam", "NXbeam")?;
    scalar_f64(
        &beam,
        "incident_wavelength",
        g.wavelength_a,
        Some("angstrom"),
    )?;
    let e = mcstas(g.polarization);
    let chi = e[1].atan2(e[0]);
    let k = g.polarization_fraction;
    let stokes = [1.0, k * (2.0 * chi).cos(), k * (2.0 * chi).sin(), 0.0];
    beam.new_dataset_builder()
        .with_data(&stokes[..])
        .create("incident_polarization_stokes")?;
    Ok(())
}

/// `/entry/instrument/detector` with its module and transformations.
fn write_detector(instrument: &Group, g: &LabGeometry) -> hdf5::Result<()> {
    let detector = nx_group(instrument, "detector", "NXdetector")?;
    scalar_str(&detector, "depends_on", TWO_THETA)?;
    scalar_str(
        &detector,
        "description",
        "nanoBragg simulated pixel-array detector",
    )?;
    scalar_str(&detector, "type", "pixel")?;
    scalar_str(&detector, "sensor_material", "Si")?;
    let thickness = g.sensor.map_or(THIN_SENSOR_MM, |(t, _)| t);
    scalar_f64(&detector, "sensor_thickness", thickness, Some("mm"))?;
    scalar_i32(&detector, "saturation_value", i32::MAX)?;
    scalar_i32(&detector, "underload_value", 0)?;
    scalar_f64(&detector, "distance", g.distance_mm, Some("mm"))?;
    scalar_f64(
        &detector,
        "beam_center_x",
        g.beam_center_px[0],
        Some("pixel"),
    )?;
    scalar_f64(
        &detector,
        "beam_center_y",
        g.beam_center_px[1],
        Some("pixel"),
    )?;

    // The two-theta rotation, undone on the vectors that already include it. A degenerate axis
    // leaves the rotation in the vectors (exact either way).
    let (angle, axis) = g.twotheta;
    let unit = (vec3::norm(axis) - 1.0).abs() < 1e-6;
    let (angle, axis) = if unit && angle.is_finite() {
        (angle, axis)
    } else {
        (0.0, [1.0, 0.0, 0.0])
    };
    let undo = |v: Vec3| {
        if angle == 0.0 {
            v
        } else {
            vec3::rotate_axis(v, axis, -angle.to_radians())
        }
    };
    let axes = nx_group(&detector, "transformations", "NXtransformations")?;
    debug_assert_eq!(axes.name(), DETECTOR_AXES);
    transformation(
        &axes,
        "two_theta",
        Value::Fixed(angle),
        "rotation",
        axis,
        ".",
    )?;

    let module = nx_group(&detector, "module", "NXdetector_module")?;
    let [fast, slow] = g.size;
    let ints = |name: &str, v: [i64; 2]| {
        module
            .new_dataset_builder()
            .with_data(&v[..])
            .create(name)
            .map(drop)
    };
    let dim = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    ints("data_origin", [0, 0])?;
    ints("data_size", [dim(slow), dim(fast)])?;
    ints("data_stride", [1, 1])?;
    let (direction, length) = vec3::unitize(undo(g.origin_mm));
    let direction = if length > 0.0 {
        direction
    } else {
        [0.0, 0.0, -1.0]
    };
    let offset = transformation(
        &module,
        "module_offset",
        Value::Fixed(length),
        "translation",
        direction,
        TWO_THETA,
    )?;
    debug_assert_eq!(offset.name(), MODULE_OFFSET);
    let px = g.pixel_size_mm;
    transformation(
        &module,
        "fast_pixel_direction",
        Value::Fixed(px),
        "translation",
        undo(g.fast),
        MODULE_OFFSET,
    )?;
    transformation(
        &module,
        "slow_pixel_direction",
        Value::Fixed(px),
        "translation",
        undo(g.slow),
        MODULE_OFFSET,
    )?;
    Ok(())
}

/// `/entry/sample` with the spindle.
fn write_sample(entry: &Group, g: &LabGeometry, frames: usize) -> hdf5::Result<()> {
    let sample = nx_group(entry, "sample", "NXsample")?;
    scalar_str(&sample, "name", "nanoBragg crystal")?;
    scalar_str(&sample, "depends_on", PHI)?;
    let axes = nx_group(&sample, "transformations", "NXtransformations")?;
    let zeros = vec![0.0; frames];
    transformation(
        &axes,
        "phi",
        Value::PerFrame(&zeros),
        "rotation",
        g.spindle,
        ".",
    )?;
    let end = axes
        .new_dataset_builder()
        .with_data(&zeros[..])
        .create("phi_end")?;
    attr_str(&end, "units", "deg")?;
    Ok(())
}

/// An NXtransformations axis with its
/// type, `vector` (given in the DIALS frame, written in McStas), zero offset and units (mm for
/// translations, degrees for rotations).
fn transformation(
    parent: &Group,
    name: &str,
    value: Value,
    kind: &str,
    vector: Vec3,
    depends_on: &str,
) -> hdf5::Result<Dataset> {
    let ds = match value {
        Value::Fixed(v) => {
            let ds = parent.new_dataset::<f64>().create(name)?;
            ds.write_scalar(&v)?;
            ds
        }
        Value::PerFrame(values) => parent
            .new_dataset_builder()
            .with_data(values)
            .create(name)?,
    };
    let units = if kind == "rotation" { "deg" } else { "mm" };
    attr_str(&ds, "units", units)?;
    attr_str(&ds, "transformation_type", kind)?;
    attr_f64s(&ds, "vector", &mcstas(vector))?;
    attr_f64s(&ds, "offset", &[0.0; 3])?;
    attr_str(&ds, "offset_units", "mm")?;
    attr_str(&ds, "depends_on", depends_on)?;
    Ok(ds)
}

/// The value of a transformation: one fixed value (a scalar dataset), or one per frame.
enum Value<'a> {
    Fixed(f64),
    PerFrame(&'a [f64]),
}

/// An image dataset of `shape` = [frames, slow, fast], one chunk per frame, compressed where
/// the library can, with a chunk cache holding a frame while it is written row by row.
fn image<T: hdf5::H5Type>(parent: &Group, name: &str, shape: [usize; 3]) -> hdf5::Result<Dataset> {
    let [_, slow, fast] = shape;
    let chunk_bytes = slow * fast * std::mem::size_of::<T>();
    let mut builder = parent
        .new_dataset::<T>()
        .chunk([1, slow, fast])
        // One slot per chunk is plenty: frames are written one after the other.
        .chunk_cache(521, chunk_bytes + (1 << 20), 1.0);
    if hdf5::filters::deflate_available() {
        builder = builder.shuffle().deflate(DEFLATE_LEVEL);
    }
    builder.shape(shape).create(name)
}

/// A child group with its `NX_class`.
fn nx_group(parent: &Group, name: &str, class: &str) -> hdf5::Result<Group> {
    let group = parent.create_group(name)?;
    attr_str(&group, "NX_class", class)?;
    Ok(group)
}

/// A variable-length UTF-8 string.
fn text(s: &str) -> hdf5::Result<VarLenUnicode> {
    s.parse()
        .map_err(|e| hdf5::Error::from(format!("string {s:?}: {e}")))
}

/// A scalar string attribute.
fn attr_str(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&text(value)?)
}

/// A one-dimensional `f64` attribute.
fn attr_f64s(loc: &Location, name: &str, values: &[f64]) -> hdf5::Result<()> {
    loc.new_attr_builder().with_data(values).create(name)?;
    Ok(())
}

/// A scalar string dataset.
fn scalar_str(parent: &Group, name: &str, value: &str) -> hdf5::Result<()> {
    parent
        .new_dataset::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&text(value)?)
}

/// A scalar `f64` dataset, with its units when it has any.
fn scalar_f64(parent: &Group, name: &str, value: f64, units: Option<&str>) -> hdf5::Result<()> {
    let ds = parent.new_dataset::<f64>().create(name)?;
    ds.write_scalar(&value)?;
    if let Some(units) = units {
        attr_str(&ds, "units", units)?;
    }
    Ok(())
}

/// A scalar `i32` dataset.
fn scalar_i32(parent: &Group, name: &str, value: i32) -> hdf5::Result<()> {
    parent
        .new_dataset::<i32>()
        .create(name)?
        .write_scalar(&value)
}

/// The current time as ISO 8601 UTC (`2024-05-01T12:00:00Z`).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    iso8601(secs)
}

/// Seconds since the Unix epoch as ISO 8601 UTC (proleptic Gregorian calendar).
fn iso8601(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch;

    /// A MOSFLM-like 1024² detector 100 mm from the sample, beam on its centre.
    pub(super) fn mosflm_like() -> LabGeometry {
        LabGeometry {
            wavelength_a: 1.0,
            beam: [0.0, 0.0, -1.0],
            polarization: [0.0, 1.0, 0.0],
            polarization_fraction: 0.99,
            fast: [1.0, 0.0, 0.0],
            slow: [0.0, -1.0, 0.0],
            normal: [0.0, 0.0, -1.0],
            origin_mm: [-51.25, 51.25, -100.0],
            pixel_size_mm: 0.1,
            size: [1024, 1024],
            beam_center_px: [512.5, 512.5],
            distance_mm: 100.0,
            spindle: [1.0, 0.0, 0.0],
            twotheta: (0.0, [1.0, 0.0, 0.0]),
            sensor: None,
        }
    }

    /// [`mosflm_like`] on a 20° two-theta arm about (1, 0, 0), with a non-square detector, a
    /// tilted spindle and a thick sensor.
    pub(super) fn tilted() -> LabGeometry {
        let mut g = mosflm_like();
        let axis = [1.0, 0.0, 0.0];
        let tt = 20.0_f64;
        let rot = |v: Vec3| vec3::rotate_axis(v, axis, tt.to_radians());
        g.size = [1000, 800];
        g.origin_mm = [-50.0, 30.0, -100.0];
        g.fast = rot(g.fast);
        g.slow = rot(g.slow);
        g.normal = rot(g.normal);
        g.origin_mm = rot(g.origin_mm);
        g.twotheta = (tt, axis);
        // Where the beam meets the plane, from the corner, in pixels.
        let t = vec3::dot(g.origin_mm, g.normal) / vec3::dot(g.beam, g.normal);
        let hit = vec3::sub(vec3::scale(g.beam, t), g.origin_mm);
        g.beam_center_px = [
            vec3::dot(hit, g.fast) / g.pixel_size_mm,
            vec3::dot(hit, g.slow) / g.pixel_size_mm,
        ];
        g.distance_mm = vec3::dot(g.origin_mm, g.normal);
        g.spindle = vec3::unitize([0.0, -1.0, 0.2]).0;
        g.sensor = Some((0.45, 0.3));
        g
    }

    fn scans(n: usize) -> Vec<FrameScan> {
        (0..n)
            .map(|i| FrameScan {
                number: i + 1,
                phi_start_deg: 10.0 + 0.5 * i as f64,
                osc_deg: 0.5,
                exposure_s: 2.0,
            })
            .collect()
    }

    fn images(g: &LabGeometry, frame: usize) -> (Vec<i32>, Vec<f32>) {
        let n = g.size[0] * g.size[1];
        let counts: Vec<i32> = (0..n)
            .map(|i| ((i * 7 + frame * 1_000_003) % 65_537) as i32)
            .collect();
        let float = counts.iter().map(|&c| c as f32 * 0.25 + 0.1).collect();
        (counts, float)
    }

    /// Writes `frames` frames of `g` to `path` and commits the file.
    pub(super) fn write(path: &Path, g: &LabGeometry, frames: usize) {
        let mut w = NxmxWriter::create(path, g, frames).unwrap();
        // Out of order, to show the frames land by index.
        for i in (0..frames).rev() {
            let (counts, float) = images(g, i);
            w.write_frame(i, &scans(frames)[i], &counts, &float)
                .unwrap();
        }
        w.finish().unwrap().commit().unwrap();
    }

    fn read_str(file: &hdf5::File, path: &str) -> String {
        file.dataset(path)
            .unwrap()
            .read_scalar::<VarLenUnicode>()
            .unwrap()
            .to_string()
    }

    fn attr_string(ds: &Location, name: &str) -> String {
        ds.attr(name)
            .unwrap()
            .read_scalar::<VarLenUnicode>()
            .unwrap()
            .to_string()
    }

    fn attr_vec(ds: &Location, name: &str) -> Vec3 {
        let v = ds.attr(name).unwrap().read_raw::<f64>().unwrap();
        [v[0], v[1], v[2]]
    }

    /// A 4×4-free replica of dxtbx's reading of a transformation chain: the rotation and the
    /// translation of the chain starting at `path`, in the DIALS frame.
    fn chain(file: &hdf5::File, path: &str) -> (crate::vec3::Mat3, Vec3) {
        let mut rot = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let mut shift = [0.0; 3];
        let mut at = path.to_string();
        // T = T_n … T_1: apply each transformation, innermost (first) first.
        while at != "." {
            let ds = file.dataset(&at).unwrap();
            let value = ds.read_raw::<f64>().unwrap()[0];
            let vector = mcstas(attr_vec(&ds, "vector"));
            let offset = mcstas(attr_vec(&ds, "offset"));
            let (r, t) = match attr_string(&ds, "transformation_type").as_str() {
                "rotation" => (vec3::axis_matrix(vector, value.to_radians()), offset),
                _ => (
                    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                    vec3::add(vec3::scale(vector, value), offset),
                ),
            };
            // (r, t) ∘ (rot, shift)
            shift = vec3::add(vec3::mat_vec(&r, shift), t);
            rot = vec3::mat_mul(&r, &rot);
            at = attr_string(&ds, "depends_on");
        }
        (rot, shift)
    }

    fn assert_near(a: Vec3, b: Vec3, what: &str) {
        let d = vec3::norm(vec3::sub(a, b));
        assert!(d < 1e-12, "{what}: {a:?} != {b:?}");
    }

    fn check(g: &LabGeometry, frames: usize) {
        let dir = scratch("nxmx");
        let path = dir.join("series.h5");
        write(&path, g, frames);
        // Only the target is left.
        let names: Vec<_> = fs::read_dir(&*dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["series.h5"]);

        let file = hdf5::File::open(&path).unwrap();
        assert_eq!(read_str(&file, "/entry/definition"), "NXmx");
        let [fast, slow] = g.size;
        let data = file.dataset("/entry/data/data").unwrap();
        let float = file.dataset("/entry/data/float_image").unwrap();
        assert_eq!(data.shape(), [frames, slow, fast]);
        assert_eq!(float.shape(), [frames, slow, fast]);
        assert_eq!(data.chunk(), Some(vec![1, slow, fast]));
        let all = data.read_raw::<i32>().unwrap();
        let all_float = float.read_raw::<f32>().unwrap();
        for i in 0..frames {
            let (counts, fl) = images(g, i);
            let n = fast * slow;
            assert!(all[i * n..(i + 1) * n] == counts[..], "frame {i}");
            assert!(all_float[i * n..(i + 1) * n] == fl[..], "float frame {i}");
        }
        let phi = file.dataset(PHI).unwrap().read_raw::<f64>().unwrap();
        let phi_end = file
            .dataset("/entry/sample/transformations/phi_end")
            .unwrap()
            .read_raw::<f64>()
            .unwrap();
        let s = scans(frames);
        for i in 0..frames {
            assert_eq!(phi[i], s[i].phi_start_deg);
            assert_eq!(phi_end[i], s[i].phi_start_deg + s[i].osc_deg);
        }

        // The chain gives the geometry back, as dxtbx composes it.
        let module = "/entry/instrument/detector/module";
        let fast_ds = file
            .dataset(&format!("{module}/fast_pixel_direction"))
            .unwrap();
        let slow_ds = file
            .dataset(&format!("{module}/slow_pixel_direction"))
            .unwrap();
        let (rot, origin) = chain(&file, &attr_string(&fast_ds, "depends_on"));
        assert_near(origin, g.origin_mm, "origin");
        let f = vec3::mat_vec(&rot, mcstas(attr_vec(&fast_ds, "vector")));
        let s = vec3::mat_vec(&rot, mcstas(attr_vec(&slow_ds, "vector")));
        assert_near(f, g.fast, "fast");
        assert_near(s, g.slow, "slow");
        assert_eq!(fast_ds.read_scalar::<f64>().unwrap(), g.pixel_size_mm);
        let size = file
            .dataset(&format!("{module}/data_size"))
            .unwrap()
            .read_raw::<i64>()
            .unwrap();
        assert_eq!(size, [slow as i64, fast as i64]);
        let spindle = mcstas(attr_vec(&file.dataset(PHI).unwrap(), "vector"));
        assert_near(spindle, g.spindle, "spindle");
    }

    #[test]
    fn a_series_reads_back_with_its_geometry() {
        check(&mosflm_like(), 3);
    }

    #[test]
    fn a_two_theta_detector_reads_back_with_its_geometry() {
        check(&tilted(), 2);
        check(&tilted(), 1);
    }

    #[test]
    fn failures_leave_nothing_behind() {
        let dir = scratch("nxmx-fail");
        let g = mosflm_like();
        let path = dir.join("a.h5");
        fs::write(&path, b"old").unwrap();
        let mut w = NxmxWriter::create(&path, &g, 2).unwrap();
        let (counts, float) = images(&g, 0);
        let err = w
            .write_frame(0, &scans(1)[0], &counts[1..], &float)
            .unwrap_err();
        assert!(err.to_string().contains("a.h5"), "{err}");
        assert_eq!(err.exit_code(), 1);
        assert!(w.write_frame(2, &scans(3)[2], &counts, &float).is_err());
        w.write_frame(0, &scans(1)[0], &counts, &float).unwrap();
        let err = w.finish().unwrap_err();
        assert!(err.to_string().contains("frame 1 of 2"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(&*dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.h5"]);
        // Dropping an unfinished writer removes its scratch file too.
        drop(NxmxWriter::create(&path, &g, 1).unwrap());
        assert_eq!(fs::read_dir(&*dir).unwrap().count(), 1);
        // A directory, a missing directory and no frames are refused.
        assert!(NxmxWriter::create(&dir, &g, 1).is_err());
        assert!(NxmxWriter::create(&dir.join("no/such.h5"), &g, 1).is_err());
        assert!(NxmxWriter::create(&dir.join("b.h5"), &g, 0).is_err());
        assert_eq!(fs::read_dir(&*dir).unwrap().count(), 1);
    }

    #[test]
    fn the_writer_can_move_to_a_writer_thread() {
        fn send<T: Send>() {}
        send::<NxmxWriter>();
    }

    #[test]
    fn timestamps_are_iso_8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
        assert_eq!(iso8601(1_704_067_199), "2023-12-31T23:59:59Z");
    }
}
