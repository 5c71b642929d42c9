//! nearBragg's command line: the option table and its resolution into [`Params`] the way
//! nearBragg.c's argument loop and set-up code do it (units, defaults, the order options are
//! given in, the step rules).

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::suite::options::{self, Args, Parsed, Spec};

use super::params::{
    DEFAULT_FLUENCE, Detector, MAX_SIDE, Params, RTD, Roi, Source, Steps, default_pix0,
    rotate_axis, unit,
};

const fn opt(
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

/// Every option nearBragg.c parses, with the spellings it matches (`strstr`: the names, and
/// longer words that start with them, except the five C compares whole), plus this program's
/// `-compat` and `-square_div`/`-round_div`.
pub(crate) const SPECS: &[Spec] = &[
    opt(
        &["-file"],
        true,
        "FILE",
        "atom list: x y z [occupancy [B [phase]]] per line (Å, Å², degrees)",
    ),
    opt(&["-atoms"], true, "N", "accepted and ignored, as in C"),
    opt(
        &["-source_distance", "-source_dist"],
        true,
        "MM|far",
        "source distance upstream (mm, default 10 m), or far: a plane wave",
    ),
    opt(
        &["-source_depth"],
        true,
        "ANGSTROM",
        "source depth along the beam (Å, as C reads it)",
    ),
    opt(
        &["-depthsteps"],
        true,
        "N",
        "source depth samples (added coherently)",
    ),
    opt(
        &["-lambda", "-wave"],
        true,
        "ANGSTROM",
        "wavelength (Å, default 1)",
    ),
    opt(
        &["-energy"],
        true,
        "EV",
        "photon energy instead of the wavelength (eV)",
    ),
    opt(&["-dispersion"], true, "PERCENT", "spectral width Δλ/λ (%)"),
    opt(&["-dispsteps"], true, "N", "wavelengths across the width"),
    opt(
        &["-divergence"],
        true,
        "MRAD",
        "horizontal and vertical divergence range (mrad)",
    ),
    opt(
        &["-hdivrange"],
        true,
        "MRAD",
        "horizontal divergence range (mrad)",
    ),
    opt(
        &["-vdivrange"],
        true,
        "MRAD",
        "vertical divergence range (mrad)",
    ),
    opt(
        &["-hdivstep"],
        false,
        "MRAD",
        "horizontal divergence step (mrad)",
    ),
    opt(
        &["-vdivstep"],
        false,
        "MRAD",
        "vertical divergence step (mrad)",
    ),
    opt(&["-hdivsteps"], true, "N", "horizontal divergence points"),
    opt(&["-vdivsteps"], true, "N", "vertical divergence points"),
    opt(&["-divsteps"], true, "N", "divergence points each way"),
    opt(
        &["-square_div"],
        true,
        "",
        "full divergence grid (default mode; C always rounds it)",
    ),
    opt(
        &["-round_div"],
        true,
        "",
        "elliptical divergence grid (the default)",
    ),
    opt(
        &["-fluence"],
        true,
        "PHOTONS/M2",
        "incident fluence (default 1.25932015286227e29)",
    ),
    opt(
        &["-distance"],
        true,
        "MM",
        "sample to detector distance (mm, default 100)",
    ),
    opt(
        &["-detsize"],
        false,
        "MM",
        "detector size (mm, default 102.4)",
    ),
    opt(
        &["-detsize_x"],
        true,
        "MM",
        "detector size along the fast axis (mm)",
    ),
    opt(
        &["-detsize_y"],
        true,
        "MM",
        "detector size along the slow axis (mm)",
    ),
    opt(&["-detpixels"], false, "N", "detector size in pixels"),
    opt(&["-detpixels_x"], true, "N", "pixels along the fast axis"),
    opt(&["-detpixels_y"], true, "N", "pixels along the slow axis"),
    opt(&["-pixel"], true, "MM", "pixel size (mm, default 0.1)"),
    opt(
        &["-Xbeam"],
        true,
        "MM",
        "direct beam position along the fast axis (mm, default centre)",
    ),
    opt(
        &["-Ybeam"],
        true,
        "MM",
        "direct beam position along the slow axis (mm, default centre)",
    ),
    opt(
        &["-twotheta"],
        true,
        "DEG",
        "rotate the detector about the spindle axis (degrees)",
    ),
    opt(
        &["-spindle_axis"],
        true,
        "X Y Z",
        "axis of -twotheta (default 0 0 1)",
    ),
    opt(
        &["-fdet_vector"],
        true,
        "X Y Z",
        "fast axis of the detector (default 0 0 1)",
    ),
    opt(
        &["-sdet_vector"],
        true,
        "X Y Z",
        "slow axis of the detector (default 0 -1 0)",
    ),
    opt(
        &["-odet_vector"],
        true,
        "X Y Z",
        "detector normal (default 1 0 0)",
    ),
    opt(
        &["-pix0_vector"],
        true,
        "X Y Z",
        "position of the first pixel's corner (m)",
    ),
    opt(
        &["-beam_vector"],
        true,
        "X Y Z",
        "accepted and ignored, as in C (the beam runs along +x)",
    ),
    opt(
        &["-polar_vector"],
        true,
        "X Y Z",
        "accepted and ignored, as in C (no polarization factor)",
    ),
    opt(
        &["-curved_det"],
        true,
        "",
        "every pixel at the detector distance, facing the sample",
    ),
    opt(
        &["-point_pixel"],
        true,
        "",
        "no pixel area or obliquity factor",
    ),
    opt(
        &["-nopolar"],
        true,
        "",
        "accepted; there is no polarization factor anyway",
    ),
    opt(
        &["-oversample"],
        true,
        "N",
        "sub-pixels per pixel side (default: automatic)",
    ),
    opt(
        &["-roi"],
        true,
        "XMIN XMAX YMIN YMAX",
        "render only these pixels (inclusive)",
    ),
    opt(
        &["-phi"],
        false,
        "DEG",
        "spindle angle written to the SMV header",
    ),
    opt(
        &["-floatfile"],
        true,
        "FILE",
        "float image (default floatimage.bin)",
    ),
    opt(
        &["-intfile"],
        true,
        "FILE",
        "SMV image (default intimage.img)",
    ),
    opt(
        &["-sinfile"],
        true,
        "FILE",
        "imaginary amplitude image, -coherent (default sinimage.bin)",
    ),
    opt(
        &["-cosfile"],
        true,
        "FILE",
        "real amplitude image, -coherent (default cosimage.bin)",
    ),
    opt(
        &["-scale"],
        true,
        "FACTOR",
        "SMV counts per photon (default 55000/max)",
    ),
    opt(
        &["-coherent"],
        true,
        "",
        "add amplitudes of everything, wavelengths included",
    ),
    opt(
        &["-accumulate"],
        true,
        "",
        "add to the float image (or sin/cos images) already there",
    ),
    opt(&["-printout"], true, "", "print pixel values"),
    opt(&["-printout_pixel"], true, "F S", "print only this pixel"),
    opt(&["-noprogress"], true, "", "no progress meter"),
    opt(
        &["-progress"],
        true,
        "",
        "progress meter (not printed by this program)",
    ),
    opt(
        &["-debug"],
        true,
        "",
        "print each atom as read, and per atom with -printout",
    ),
    opt(
        &["-compat"],
        false,
        "",
        "reproduce nearBragg.c, quirks included",
    ),
];

const ABOUT: &str = "nearbragg: near-field diffraction of a list of point scatterers, \
atom by atom (nearBragg 11-21-17)";

/// Which pixels the printout shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Printout {
    /// Every pixel of the region.
    All,
    /// Pixel (fast, slow).
    Pixel(i64, i64),
}

/// A resolved command line: the parameters (oversample still to be chosen from the atoms),
/// the files and what only the log and the header use.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The parameters; `oversample` is 0 when it is to be chosen from the atoms.
    pub params: Params,
    /// `-file`.
    pub atom_file: PathBuf,
    /// `-floatfile`, `-intfile`, `-sinfile`, `-cosfile`.
    pub float_file: PathBuf,
    /// SMV output.
    pub int_file: PathBuf,
    /// Imaginary amplitudes output.
    pub sin_file: PathBuf,
    /// Real amplitudes output.
    pub cos_file: PathBuf,
    /// `-accumulate`.
    pub accumulate: bool,
    /// `-scale` (≤ 0: automatic).
    pub scale: f64,
    /// `-printout`.
    pub printout: Option<Printout>,
    /// `-debug`.
    pub debug: bool,
    /// The progress meter (`-noprogress` turns it off).
    pub progress: bool,
    /// Beam centre (m) for the log and header.
    pub xbeam: f64,
    /// Beam centre (m).
    pub ybeam: f64,
    /// Detector height (m) for the header's BEAM_CENTER_Y.
    pub detsize_x: f64,
    /// Detector height (m).
    pub detsize_y: f64,
    /// `-phi` (rad), header only.
    pub phi0: f64,
    /// The region as C prints it (`roi: 0 < z < 1024 …`).
    pub roi_log: [i64; 4],
    /// Warnings for the log.
    pub warnings: Vec<String>,
}

/// nearBragg.c's variables as its argument loop leaves them.
struct Raw {
    file: Option<String>,
    xbeam: Option<f64>,
    ybeam: Option<f64>,
    fdet: [f64; 3],
    sdet: [f64; 3],
    odet: [f64; 3],
    spindle: [f64; 3],
    pix0: Option<[f64; 3]>,
    hdivrange: f64,
    vdivrange: f64,
    hdivstep: f64,
    vdivstep: f64,
    hdivsteps: i64,
    vdivsteps: i64,
    distance: f64,
    twotheta: Option<f64>,
    far: bool,
    source_distance: f64,
    source_depth: f64,
    depthsteps: i64,
    detsize: [f64; 2],
    detpixels: [usize; 2],
    curved: bool,
    pixel: f64,
    point_pixel: bool,
    oversample: usize,
    roi: [i64; 4],
    lambda0: f64,
    fluence: f64,
    dispersion: f64,
    dispsteps: i64,
    phi0: f64,
    round_div: bool,
    float_file: String,
    int_file: String,
    sin_file: String,
    cos_file: String,
    scale: f64,
    coherent: bool,
    printout: Option<Printout>,
    debug: bool,
    progress: bool,
    accumulate: bool,
}

impl Default for Raw {
    fn default() -> Self {
        Raw {
            file: None,
            xbeam: None,
            ybeam: None,
            fdet: [0.0, 0.0, 1.0],
            sdet: [0.0, -1.0, 0.0],
            odet: [1.0, 0.0, 0.0],
            spindle: [0.0, 0.0, 1.0],
            pix0: None,
            hdivrange: -1.0,
            vdivrange: -1.0,
            hdivstep: -1.0,
            vdivstep: -1.0,
            hdivsteps: -1,
            vdivsteps: -1,
            distance: 100.0e-3,
            twotheta: None,
            far: false,
            source_distance: 10.0,
            source_depth: 0.0,
            depthsteps: -1,
            detsize: [102.4e-3, 102.4e-3],
            detpixels: [0, 0],
            curved: false,
            pixel: 0.1e-3,
            point_pixel: false,
            oversample: 0,
            roi: [-1; 4],
            lambda0: 1.0e-10,
            fluence: DEFAULT_FLUENCE,
            dispersion: 0.0,
            dispsteps: -1,
            phi0: 0.0,
            round_div: true,
            float_file: "floatimage.bin".into(),
            int_file: "intimage.img".into(),
            sin_file: "sinimage.bin".into(),
            cos_file: "cosimage.bin".into(),
            scale: 0.0,
            coherent: false,
            printout: None,
            debug: false,
            progress: true,
            accumulate: false,
        }
    }
}

/// Parse `argv` (the arguments after `nearbragg`).
pub fn parse(argv: &[String]) -> Result<Option<Run>> {
    let args = match options::parse("nearbragg", ABOUT, argv, SPECS)? {
        Parsed::Help(_) => return Ok(None),
        Parsed::Run(args) => args,
    };
    resolve(&args, argv).map(Some)
}

/// The help text.
pub fn help() -> String {
    options::help("nearbragg", ABOUT, SPECS)
}

fn resolve(args: &Args, argv: &[String]) -> Result<Run> {
    if let Some(p) = args.positional.first() {
        return Err(Error::usage(
            p,
            "unexpected argument (nearbragg takes only options)",
        ));
    }
    let compat = args.has("-compat");
    let mut o = Raw::default();
    for item in &args.items {
        let num = |i: usize| -> Result<f64> { Ok(item.numbers()?[i]) };
        let vec3 = || -> Result<[f64; 3]> {
            let v = item.numbers()?;
            Ok([v[0], v[1], v[2]])
        };
        match item.name {
            "-file" => o.file = Some(item.values[0].clone()),
            "-atoms" => {
                item.integer(0)?;
            }
            "-Xbeam" => o.xbeam = Some(num(0)? / 1000.0),
            "-Ybeam" => o.ybeam = Some(num(0)? / 1000.0),
            "-fdet_vector" => o.fdet = vec3()?,
            "-sdet_vector" => o.sdet = vec3()?,
            "-odet_vector" => o.odet = vec3()?,
            "-spindle_axis" => o.spindle = vec3()?,
            "-pix0_vector" => o.pix0 = Some(vec3()?),
            "-beam_vector" | "-polar_vector" => {
                vec3()?;
            }
            "-divergence" => {
                o.hdivrange = num(0)? / 1000.0;
                o.vdivrange = o.hdivrange;
            }
            "-hdivrange" => o.hdivrange = num(0)? / 1000.0,
            "-vdivrange" => o.vdivrange = num(0)? / 1000.0,
            "-hdivstep" => o.hdivstep = num(0)? / 1000.0,
            "-vdivstep" => o.vdivstep = num(0)? / 1000.0,
            "-hdivsteps" => o.hdivsteps = item.integer(0)?,
            "-vdivsteps" => o.vdivsteps = item.integer(0)?,
            "-divsteps" => {
                o.hdivsteps = item.integer(0)?;
                o.vdivsteps = o.hdivsteps;
            }
            "-square_div" => o.round_div = false,
            "-round_div" => o.round_div = true,
            "-distance" => o.distance = num(0)? / 1000.0,
            "-twotheta" => o.twotheta = Some(num(0)? / RTD),
            "-source_distance" => {
                if item.values[0].contains("far") {
                    o.far = true;
                    o.source_distance = 0.0;
                    o.source_depth = 0.0;
                } else {
                    o.far = false;
                    o.source_distance = num(0)? / 1000.0;
                }
            }
            "-source_depth" => o.source_depth = num(0)? * 1e-10,
            "-depthsteps" => o.depthsteps = item.integer(0)?,
            "-detsize" => o.detsize = [num(0)? / 1000.0; 2],
            "-detsize_x" => o.detsize[0] = num(0)? / 1000.0,
            "-detsize_y" => o.detsize[1] = num(0)? / 1000.0,
            "-detpixels" => o.detpixels = [item.count(0)?; 2],
            "-detpixels_x" => o.detpixels[0] = item.count(0)?,
            "-detpixels_y" => o.detpixels[1] = item.count(0)?,
            "-curved_det" => {
                // C wants another argument after it (NR9).
                let last = argv.last().is_some_and(|a| *a == item.typed);
                o.curved = !(compat && last);
            }
            "-pixel" => o.pixel = num(0)? / 1000.0,
            "-point_pixel" => o.point_pixel = true,
            "-noprogress" => o.progress = false,
            "-progress" => o.progress = true,
            "-nopolar" | "-compat" => {}
            "-oversample" => o.oversample = item.count(0)?,
            "-roi" => {
                o.roi = [
                    item.integer(0)?,
                    item.integer(1)?,
                    item.integer(2)?,
                    item.integer(3)?,
                ]
            }
            "-lambda" => o.lambda0 = num(0)? / 1.0e10,
            "-energy" => o.lambda0 = (12398.42 / num(0)?) / 1.0e10,
            "-fluence" => o.fluence = num(0)?,
            "-dispersion" => o.dispersion = num(0)? / 100.0,
            "-dispsteps" => o.dispsteps = item.integer(0)?,
            "-phi" => o.phi0 = num(0)? / RTD,
            "-floatfile" => o.float_file = item.values[0].clone(),
            "-intfile" => o.int_file = item.values[0].clone(),
            "-sinfile" => o.sin_file = item.values[0].clone(),
            "-cosfile" => o.cos_file = item.values[0].clone(),
            "-scale" => o.scale = num(0)?,
            "-coherent" => o.coherent = true,
            "-printout" => {
                if o.printout.is_none() {
                    o.printout = Some(Printout::All);
                }
            }
            "-printout_pixel" => {
                let (x, y) = (item.integer(0)?, item.integer(1)?);
                o.printout = Some(if x < 0 {
                    Printout::All
                } else {
                    Printout::Pixel(x, y)
                });
            }
            "-debug" => o.debug = true,
            "-accumulate" => o.accumulate = true,
            other => unreachable!("option {other} has no handler"),
        }
    }
    build(o, compat)
}

/// nearBragg.c's set-up after the argument loop.
fn build(o: Raw, compat: bool) -> Result<Run> {
    let Some(file) = o.file else {
        return Err(Error::usage(
            "-file",
            "the atom list is required (usage: nanobragg nearbragg -file atom_list.txt)",
        ));
    };
    if !(o.pixel.is_finite() && o.pixel > 0.0) {
        return Err(Error::usage("-pixel", "the pixel size must be positive"));
    }
    let pixel = o.pixel;
    let mut detsize = o.detsize;
    let mut npix = [0usize; 2];
    for i in 0..2 {
        if o.detpixels[i] > 0 {
            detsize[i] = pixel * o.detpixels[i] as f64;
        }
        let n = (detsize[i] / pixel).ceil();
        if !(n >= 1.0 && n <= MAX_SIDE as f64) {
            let what = if i == 0 { "-detsize_x" } else { "-detsize_y" };
            return Err(Error::usage(
                what,
                format!("the detector needs 1 to {MAX_SIDE} pixels per side, not {n}"),
            ));
        }
        npix[i] = n as usize;
    }
    let xbeam = o.xbeam.unwrap_or((detsize[0] - pixel) / 2.0);
    let ybeam = o.ybeam.unwrap_or((detsize[1] + pixel) / 2.0);
    let (mut f, mut s, mut od, mut axis) = (o.fdet, o.sdet, o.odet, o.spindle);
    let mut warnings = Vec::new();
    if !compat {
        // The vectors are taken as given (NR10: their lengths scale the pixel pitch), as
        // nearBragg.c does and its images need; default mode refuses zero vectors, says when
        // one is not of unit length, and turns the detector about a unit spindle axis.
        for (v, name) in [
            (f, "-fdet_vector"),
            (s, "-sdet_vector"),
            (od, "-odet_vector"),
        ] {
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            if unit(v).is_none() {
                return Err(Error::usage(name, "the vector must be finite and not zero"));
            }
            if (n - 1.0).abs() > 1e-6 {
                warnings.push(format!(
                    "WARNING: {name} has length {}; taken as given, it scales the pixel pitch",
                    crate::cfmt::g(n)
                ));
            }
        }
        if o.twotheta.is_some() {
            axis = unit(axis)
                .ok_or_else(|| Error::usage("-spindle_axis", "the axis must not be zero"))?;
        }
    }
    if let Some(angle) = o.twotheta {
        f = rotate_axis(f, axis, angle);
        s = rotate_axis(s, axis, angle);
        od = rotate_axis(od, axis, angle);
    }
    let pix0 = o
        .pix0
        .unwrap_or_else(|| default_pix0(xbeam, ybeam, o.distance, f, s, od));
    let roi_log = [
        if o.roi[0] < 0 { 0 } else { o.roi[0] },
        if o.roi[1] < 0 {
            npix[0] as i64
        } else {
            o.roi[1]
        },
        if o.roi[2] < 0 { 0 } else { o.roi[2] },
        if o.roi[3] < 0 {
            npix[1] as i64
        } else {
            o.roi[3]
        },
    ];
    let clamp = |v: i64, n: usize| v.clamp(0, n as i64 - 1) as usize;
    if roi_log[0] > roi_log[1]
        || roi_log[2] > roi_log[3]
        || roi_log[0] >= npix[0] as i64
        || roi_log[2] >= npix[1] as i64
    {
        return Err(Error::usage(
            "-roi",
            "the region holds no pixel of the detector (XMIN XMAX YMIN YMAX, inclusive)",
        ));
    }
    let roi = Roi {
        xmin: clamp(roi_log[0], npix[0]),
        xmax: clamp(roi_log[1], npix[0]),
        ymin: clamp(roi_log[2], npix[1]),
        ymax: clamp(roi_log[3], npix[1]),
    };
    let params = Params {
        lambda0: o.lambda0,
        dispersion: Steps::resolve(o.dispersion, -1.0, o.dispsteps, "-dispsteps")?,
        hdiv: Steps::resolve(o.hdivrange, o.hdivstep, o.hdivsteps, "-hdivsteps")?,
        vdiv: Steps::resolve(o.vdivrange, o.vdivstep, o.vdivsteps, "-vdivsteps")?,
        round_div: o.round_div || compat,
        source: if o.far {
            Source::Far
        } else {
            Source::Point {
                distance: o.source_distance,
            }
        },
        depth: Steps::resolve(o.source_depth, -1.0, o.depthsteps, "-depthsteps")?,
        fluence: o.fluence,
        detector: Detector {
            xpixels: npix[0],
            ypixels: npix[1],
            pixel,
            distance: o.distance,
            fdet: f,
            sdet: s,
            odet: od,
            pix0,
            curved: o.curved,
            point_pixel: o.point_pixel,
        },
        oversample: o.oversample,
        roi,
        coherent: o.coherent,
        compat,
    };
    Ok(Run {
        params,
        atom_file: file.into(),
        float_file: o.float_file.into(),
        int_file: o.int_file.into(),
        sin_file: o.sin_file.into(),
        cos_file: o.cos_file.into(),
        accumulate: o.accumulate,
        scale: o.scale,
        printout: o.printout,
        debug: o.debug,
        progress: o.progress,
        xbeam,
        ybeam,
        detsize_x: detsize[0],
        detsize_y: detsize[1],
        phi0: o.phi0,
        roi_log,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<Run> {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&argv).map(|r| r.expect("not help"))
    }

    #[test]
    fn c_defaults() {
        let r = run("-file a.txt").unwrap();
        let p = &r.params;
        assert_eq!((p.detector.xpixels, p.detector.ypixels), (1024, 1024));
        assert_eq!(p.source, Source::Point { distance: 10.0 });
        assert_eq!(
            (r.xbeam, r.ybeam),
            ((102.4e-3 - 0.1e-3) / 2.0, (102.4e-3 + 0.1e-3) / 2.0)
        );
        assert_eq!(p.detector.pix0, [0.1, r.ybeam, -r.xbeam]);
        assert_eq!(r.roi_log, [0, 1024, 0, 1024]);
        assert_eq!(p.roi.xmax, 1023);
        assert_eq!(p.oversample, 0);
        assert_eq!(r.float_file, PathBuf::from("floatimage.bin"));
        assert!(run("-distance 100").is_err(), "-file is required");
    }

    #[test]
    fn spellings_units_and_order() {
        let r = run(
            "-file a -source_dist far -source_depth 2000 -depthsteps 3 -wavelength 1.5 \
             -detpixels_x 160 -detpixels_y 96 -pixel 0.172 -divergence 0.5 -hdivrange 0.2 \
             -divsteps 3 -curved_detector -printout_pixel 3 4",
        )
        .unwrap();
        let p = &r.params;
        assert_eq!(p.source, Source::Far);
        assert_eq!(p.depth.count, 3);
        assert!((p.depth.step - 1000e-10).abs() < 1e-22);
        assert_eq!(p.lambda0, 1.5 / 1e10);
        assert_eq!((p.detector.xpixels, p.detector.ypixels), (160, 96));
        assert_eq!((p.hdiv.range, p.vdiv.range), (0.2e-3, 0.5e-3));
        assert!(p.detector.curved);
        assert_eq!(r.printout, Some(Printout::Pixel(3, 4)));
        // Exact names only: -detsize_z is not -detsize; -dispstep is not parsed (NR2).
        assert!(run("-file a -detsize_z 5").is_err());
        assert!(run("-file a -dispstep 3").is_err());
        assert!(run("-file a -energy 12398.42").unwrap().params.lambda0 == 1e-10);
        assert!(run("-file a -roi 5 4 0 10").is_err());
        assert!(run("-file a extra").is_err());
    }

    #[test]
    fn twotheta_rotates_the_detector_about_the_spindle() {
        let r = run("-file a -twotheta 90").unwrap();
        let d = r.params.detector;
        // The normal (1,0,0) turns to (0,1,0) about z; the fast axis z stays.
        assert!((d.odet[1] - 1.0).abs() < 1e-12 && d.odet[0].abs() < 1e-12);
        assert_eq!(d.fdet, [0.0, 0.0, 1.0]);
        // The vectors are taken as given (NR10); default mode says so when one is not of unit
        // length and refuses zero vectors.
        let r = run("-file a -fdet_vector 0 0 2").unwrap();
        assert_eq!(r.params.detector.fdet, [0.0, 0.0, 2.0]);
        assert_eq!(r.warnings.len(), 1);
        let r = run("-file a -fdet_vector 0 0 2 -compat").unwrap();
        assert!(r.warnings.is_empty());
        assert!(run("-file a -sdet_vector 0 0 0").is_err());
        // A non-unit spindle axis is normalised in default mode.
        let a = run("-file a -twotheta 90 -spindle_axis 0 0 3")
            .unwrap()
            .params
            .detector;
        assert!((a.odet[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn curved_det_as_last_argument_in_compat() {
        assert!(
            !run("-file a -compat -curved_det")
                .unwrap()
                .params
                .detector
                .curved
        );
        assert!(run("-file a -curved_det").unwrap().params.detector.curved);
    }
}
