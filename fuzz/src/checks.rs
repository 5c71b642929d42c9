//! Checks run on arbitrary bytes, one public function per fuzz target, shared by the libFuzzer
//! binaries in `fuzz/fuzz_targets/` and by the corpus replay test `tests/fuzz_corpus.rs`.
//!
//! A check panics only on a defect of the library: a panic inside it, an `Ok` result that
//! breaks an invariant of its type, a NaN or infinite pixel, or the SIMD engine disagreeing with
//! the scalar reference beyond the crate's thresholds. Errors returned for bad input are the
//! expected outcome and pass.
//!
//! The readers take paths, so a check writes its input to a scratch file first: one file per
//! name and thread, in a temporary directory removed when the thread ends, overwritten on every
//! call.
//!
//! Two guards keep every input within the memory a fuzzer process can afford: HKL text and
//! `Fdump.bin` headers whose index ranges would make the reader allocate a grid of more than
//! [`MAX_GRID_CELLS`] cells are skipped (the readers accept grids of up to 2³¹ cells, 16 GiB),
//! and rendered cases are kept to [`MAX_RENDER_WORK`] inner-loop evaluations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use nanobragg::cli::{self, ParseOutcome};
use nanobragg::engine::{self, Backend, MAX_RELATIVE_ERROR, MIN_CORRELATION};
use nanobragg::io::{self, HklGrid, SmvHeader};
use nanobragg::noise::NoiseMode;
use nanobragg::params::{
    Convention, Lattice, Misset, Params, Pivot, Shape, SourceSpec, StructureFactors,
};
use nanobragg::setup::Setup;
use nanobragg::suite::nearbragg::parse_atoms;
use nanobragg::suite::noisify::{self, NoisifyParams, Pixels, Psf, PsfKind};
use nanobragg::suite::nonbragg::{StolTable, TableUnit};

/// Largest structure-factor grid (cells, padding included) a check lets a reader allocate.
pub const MAX_GRID_CELLS: u64 = 1 << 22;

/// Largest render a check runs: sub-pixels × sources × orientations × sensor layers.
pub const MAX_RENDER_WORK: usize = 20_000;

/// Most detector pixels along either axis of a rendered case.
const MAX_RENDER_SIDE: usize = 24;

/// Most argv tokens taken from one command-line input.
const MAX_ARGV_TOKENS: usize = 128;

/// Largest |h|, |k| or |l| the HKL readers accept.
const MAX_INDEX: i64 = nanobragg::io::hkl::MAX_INDEX as i64;

/// This thread's scratch directory, created on first use and removed when the thread ends. Per
/// thread, because the corpus tests replay several targets on parallel threads and the checks
/// reuse file names.
fn scratch_dir() -> PathBuf {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::Builder::new()
            .prefix("nanobragg-fuzz-")
            .tempdir()
            .expect("create the fuzzing scratch directory");
    }
    DIR.with(|dir| dir.path().to_path_buf())
}

/// The scratch file `name`, holding `data`.
fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, data).expect("write a fuzzing scratch file");
    path
}

/// HKL and `Fdump.bin` column separators (ASCII whitespace and vertical tab).
fn is_hkl_separator(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

/// Padded grid cells for inclusive index bounds per axis: `Π (max − min + 2)`.
fn padded_cells(bounds: [(i64, i64); 3]) -> u64 {
    bounds
        .iter()
        .map(|&(min, max)| (max - min + 2).max(1) as u64)
        .fold(1, u64::saturating_mul)
}

/// An upper bound on the cells of the grid `read_hkl` would allocate for `data`: the bounding
/// box of the first three columns of every line, where a column that contains a digit but does
/// not parse as a number may hold any index (a number beyond ±`MAX_INDEX` or not finite is
/// refused before the grid is allocated).
fn hkl_grid_cells_bound(data: &[u8]) -> u64 {
    let mut bounds = [(i64::MAX, i64::MIN); 3];
    for line in data.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let columns = text.split(is_hkl_separator).filter(|t| !t.is_empty());
        for (axis, token) in columns.take(3).enumerate() {
            let (min, max) = match token.parse::<f64>() {
                Ok(v) if v.abs() <= MAX_INDEX as f64 => (v.floor() as i64, v.ceil() as i64),
                Err(_) if token.bytes().any(|b| b.is_ascii_digit()) => (-MAX_INDEX, MAX_INDEX),
                _ => continue,
            };
            let (lo, hi) = &mut bounds[axis];
            *lo = (*lo).min(min);
            *hi = (*hi).max(max);
        }
    }
    if bounds.iter().any(|&(lo, hi)| lo > hi) {
        return 1;
    }
    padded_cells(bounds)
}

/// The padded grid cells `read_fdump` would allocate for `data`: those of a header of six
/// integers before the first form feed within the first 256 bytes, giving ordered bounds within
/// ±`MAX_INDEX` (any other header is refused before the grid is allocated).
fn fdump_header_cells(data: &[u8]) -> Option<u64> {
    let ff = data.iter().take(256).position(|&c| c == 0x0c)?;
    let header = String::from_utf8_lossy(&data[..ff]);
    let numbers: Vec<i64> = header
        .split(is_hkl_separator)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<i32>().map(i64::from))
        .collect::<Result<_, _>>()
        .ok()?;
    let b: [i64; 6] = numbers.try_into().ok()?;
    let bounds = [(b[0], b[1]), (b[2], b[3]), (b[4], b[5])];
    let valid = |(min, max): (i64, i64)| min <= max && min >= -MAX_INDEX && max <= MAX_INDEX;
    bounds.into_iter().all(valid).then(|| padded_cells(bounds))
}

/// Invariants of any grid a reader returns.
fn check_grid(grid: &HklGrid) {
    let axes = [
        (grid.h_min, grid.h_max),
        (grid.k_min, grid.k_max),
        (grid.l_min, grid.l_max),
    ];
    for (min, max) in axes {
        assert!(min <= max, "unordered bounds in {axes:?}");
        assert!(
            i64::from(min) >= -MAX_INDEX && i64::from(max) <= MAX_INDEX,
            "bounds {axes:?} beyond ±{MAX_INDEX}"
        );
    }
    let (hr, kr, lr) = grid.ranges();
    assert_eq!(
        grid.data.len(),
        (hr + 1) * (kr + 1) * (lr + 1),
        "grid data do not match the bounds {axes:?}"
    );
    assert!(grid.count > 0, "a grid without reflections");
    let corner = grid
        .index(grid.h_max, grid.k_max, grid.l_max)
        .expect("the upper corner lies inside the grid");
    assert!(corner < grid.data.len());
    assert_eq!(grid.index(grid.h_min, grid.k_min, grid.l_min), Some(0));
    assert_eq!(
        grid.get(grid.h_max.saturating_add(1), grid.k_min, grid.l_min),
        None
    );
}

/// `write_fdump` followed by `read_fdump` gives the same grid, bit for bit.
fn check_fdump_round_trip(grid: &HklGrid) {
    let path = scratch_dir().join("round-trip.Fdump");
    io::write_fdump(&path, grid).expect("write_fdump of a grid a reader returned");
    let back = io::read_fdump(&path).expect("read_fdump of a file write_fdump wrote");
    let bits = |g: &HklGrid| g.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        (
            back.h_min, back.h_max, back.k_min, back.k_max, back.l_min, back.l_max
        ),
        (
            grid.h_min, grid.h_max, grid.k_min, grid.k_max, grid.l_min, grid.l_max
        )
    );
    assert!(
        bits(&back) == bits(grid),
        "Fdump round trip changed the data"
    );
    let (hr, kr, lr) = grid.ranges();
    assert_eq!(back.count, hr * kr * lr);
}

/// HKL text (`-hkl`): read without and with a default F; both grids agree cell by cell, the
/// unlisted core cells hold the default, the spare slabs hold 0, and the grid survives an
/// `Fdump.bin` round trip.
pub fn hkl_parser(data: &[u8]) {
    const DEFAULT_F: f64 = 7.5;
    if hkl_grid_cells_bound(data) > MAX_GRID_CELLS {
        return;
    }
    let path = scratch_file("input.hkl", data);
    let plain = io::read_hkl(&path, 0.0);
    let filled = io::read_hkl(&path, DEFAULT_F);
    let (plain, filled) = match (plain, filled) {
        (Ok(p), Ok(f)) => (p, f),
        (Err(_), Err(_)) => return,
        (p, f) => panic!("default_F changed whether the file reads: {p:?} / {f:?}"),
    };
    check_grid(&plain);
    assert_eq!(plain.ranges(), filled.ranges());
    assert_eq!(plain.count, filled.count);
    let (hr, kr, lr) = plain.ranges();
    for (i, (&p, &f)) in plain.data.iter().zip(&filled.data).enumerate() {
        assert!(p.is_finite(), "non-finite F at cell {i}");
        let l0 = i % (lr + 1);
        let k0 = i / (lr + 1) % (kr + 1);
        let h0 = i / ((lr + 1) * (kr + 1));
        let core = h0 < hr && k0 < kr && l0 < lr;
        if core {
            assert!(
                p == f || (p == 0.0 && f == DEFAULT_F),
                "core cell {i}: {p} without default_F, {f} with it"
            );
        } else {
            assert!(p == 0.0 && f == 0.0, "spare slab cell {i} holds {p} / {f}");
        }
    }
    check_fdump_round_trip(&plain);
}

/// `Fdump.bin` cache (binary, read when `-hkl` is absent): an accepted file has exactly the
/// data its header announces and survives a write/read round trip.
pub fn fdump(data: &[u8]) {
    if fdump_header_cells(data).is_some_and(|cells| cells > MAX_GRID_CELLS) {
        return;
    }
    let path = scratch_file("input.Fdump", data);
    let Ok(grid) = io::read_fdump(&path) else {
        return;
    };
    check_grid(&grid);
    assert!(
        grid.data.len() * 8 < data.len(),
        "{} cells read from a {}-byte file",
        grid.data.len(),
        data.len()
    );
    check_fdump_round_trip(&grid);
}

/// MOSFLM orientation matrix (`-mat`): nine finite numbers.
pub fn matrix(data: &[u8]) {
    let path = scratch_file("input.mat", data);
    if let Ok(rows) = io::read_mosflm_matrix(&path) {
        assert!(
            rows.iter().flatten().all(|v| v.is_finite()),
            "non-finite matrix element in {rows:?}"
        );
    }
}

/// SMV image (`-img`, `-mask`): an accepted image holds exactly `SIZE1·SIZE2` pixels taken from
/// the bytes after the header in one byte order, its header lookups work for every key
/// nanoBragg reads, and its pixels survive a write/read round trip.
pub fn smv(data: &[u8]) {
    const KEYS: &[&str] = &[
        "HEADER_BYTES",
        "SIZE1",
        "SIZE2",
        "DETECTOR_DIMENSIONS",
        "PIXEL_SIZE",
        "DISTANCE",
        "CLOSE_DISTANCE",
        "WAVELENGTH",
        "BEAM_CENTER_X",
        "BEAM_CENTER_Y",
        "ORGX",
        "ORGY",
        "PHI",
        "OSC_RANGE",
        "",
    ];
    let path = scratch_file("input.smv", data);
    let Ok(img) = io::read_smv(&path) else {
        return;
    };
    assert!(
        img.size1 > 0 && img.size2 > 0,
        "empty image {}x{}",
        img.size1,
        img.size2
    );
    assert_eq!(img.data.len(), img.size1 * img.size2);
    let end = img.header_bytes + 2 * img.data.len();
    assert!(
        end <= data.len(),
        "{end} bytes of header and pixels in a {}-byte file",
        data.len()
    );
    assert!(img.header.contains('}'), "header without its closing brace");
    let raw = &data[img.header_bytes..end];
    let little: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let big: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    assert!(
        img.data == little || img.data == big,
        "pixels are not the file's bytes"
    );
    for key in KEYS {
        let _ = img.value(key);
    }
    let header = SmvHeader {
        size1: img.size1,
        size2: img.size2,
        ..SmvHeader::default()
    };
    let copy = scratch_dir().join("round-trip.smv");
    io::write_smv(&copy, &header, &img.data).expect("write_smv of an image read_smv returned");
    let back = io::read_smv(&copy).expect("read_smv of a file write_smv wrote");
    assert_eq!((back.size1, back.size2), (img.size1, img.size2));
    assert!(back.data == img.data, "SMV round trip changed the pixels");
}

/// Source list (`-sourcefile`): at least one source, at most one per line, every value finite.
pub fn sourcefile(data: &[u8]) {
    let path = scratch_file("input.sources", data);
    let Ok(sources) = io::read_source_file(&path) else {
        return;
    };
    let lines = data.split(|&b| b == b'\n').count();
    assert!(
        !sources.is_empty() && sources.len() <= lines,
        "{} sources from {lines} lines",
        sources.len()
    );
    for s in &sources {
        let values = s.position.iter().chain([&s.weight, &s.lambda_m]).flatten();
        for v in values {
            assert!(v.is_finite(), "non-finite value in {s:?}");
        }
    }
}

/// nonBragg table (`-stol`, `-4stol`, `-Q`): read in both modes without panicking; a table
/// read in default mode has increasing abscissae, and F interpolated anywhere in its range is
/// finite.
pub fn stol_table(data: &[u8]) {
    let path = scratch_file("input.stol", data);
    for unit in [TableUnit::Stol, TableUnit::FourStol, TableUnit::Q] {
        let _ = StolTable::read(&path, unit, true);
        let Ok(table) = StolTable::read(&path, unit, false) else {
            continue;
        };
        assert!(
            table.is_increasing(),
            "default mode accepted a table out of order"
        );
        let (first, _) = table.node(0);
        let (last, _) = table.node(table.nodes() - 1);
        for i in 0..=8 {
            let stol = first + (last - first) * f64::from(i) / 8.0;
            let f = table.interpolate(stol);
            assert!(f.is_finite(), "F({stol}) = {f}");
        }
    }
}

/// nearBragg atom list (`-file`): parsed in both modes without panicking; in default mode
/// every atom is finite and there is at most one per line.
pub fn atom_list(data: &[u8]) {
    let path = Path::new("input.atoms");
    let _ = parse_atoms(data, path, true);
    let Ok(list) = parse_atoms(data, path, false) else {
        return;
    };
    let lines = data.split(|&b| b == b'\n').count();
    assert!(!list.atoms.is_empty() && list.atoms.len() <= lines);
    for a in &list.atoms {
        let values = [a.x, a.y, a.z, a.occupancy, a.b, a.phase];
        assert!(
            values.iter().all(|v| v.is_finite()),
            "non-finite atom {a:?}"
        );
    }
}

/// noisify: the input bytes as a float image (the widest square, or a row when fewer than four
/// pixels) through the pipeline, with and without a point-spread function, in both modes;
/// every image has one value per pixel.
pub fn noisify(data: &[u8]) {
    let floats: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .take(64 * 64)
        .collect();
    let side = (floats.len() as f64).sqrt() as usize;
    let (w, h) = if side >= 2 {
        (side, side)
    } else {
        (floats.len(), 1)
    };
    let image = &floats[..w * h];
    let psf = Psf {
        kind: PsfKind::Gauss,
        fwhm: 1.5,
        radius: 0,
    };
    for mode in [NoiseMode::Counter, NoiseMode::Compat] {
        for psf in [None, Some(psf)] {
            let p = NoisifyParams {
                psf,
                mode,
                ..NoisifyParams::default()
            };
            let Ok(out) = noisify::noisify(image, w, h, &p) else {
                continue;
            };
            let len = |px: &Pixels| match px {
                Pixels::U16(v) => v.len(),
                Pixels::U32(v) => v.len(),
            };
            assert_eq!(len(&out.int_image), w * h);
            assert_eq!(out.noise_image.as_ref().map(len), Some(w * h));
        }
    }
}

/// Input files the command-line check substitutes for any path the command line names.
struct CliFixtures {
    hkl: PathBuf,
    mat: PathBuf,
    smv: PathBuf,
    sources: PathBuf,
    /// A valid `Fdump.bin` cache, read when `-dump` is given without `-hkl`.
    cache: PathBuf,
    /// Where the cache is written when `-hkl` is given.
    written_cache: PathBuf,
    /// A path that never exists: no cache, as when `-dump` is absent in an empty directory.
    absent_cache: PathBuf,
}

/// The command-line fixtures, written once per process.
fn cli_fixtures() -> &'static CliFixtures {
    static FIXTURES: OnceLock<CliFixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let hkl = scratch_file(
            "cli.hkl",
            b"# h k l F\n0 0 1 120.5\n1 0 0 80\n-1 2 3 45.25\n0 -2 1 10\n",
        );
        let mat = scratch_file(
            "cli.mat",
            b"0.0112073677 -0.0056240975 0.0033326311\n\
              0.0052260814 0.0080631106 -0.0170123994\n\
              0.0026284664 0.0079486872 0.0196153019\n",
        );
        let sources = scratch_file("cli.sources", b"-10 0 0 1 1e-10\n-10 0.002 0 1 1.02e-10\n");
        let smv = scratch_dir().join("cli.smv");
        let header = SmvHeader {
            size1: 8,
            size2: 6,
            pixel_size_mm: 0.1,
            distance_mm: 100.0,
            wavelength_a: 1.0,
            beam_center_x_mm: 0.4,
            beam_center_y_mm: 0.3,
            xds_orgx: 4.0,
            xds_orgy: 3.0,
            close_distance_mm: 100.0,
            osc_range_deg: 0.1,
            ..SmvHeader::default()
        };
        let mask: Vec<u16> = (0..48).map(|i| u16::from(i % 5 != 0)).collect();
        io::write_smv(&smv, &header, &mask).expect("write the SMV fixture");
        let cache = scratch_dir().join("cli-cache.Fdump");
        let grid = io::read_hkl(&hkl, 0.0).expect("read the HKL fixture");
        io::write_fdump(&cache, &grid).expect("write the Fdump fixture");
        CliFixtures {
            hkl,
            mat,
            smv,
            sources,
            cache,
            written_cache: scratch_dir().join("cli-written.Fdump"),
            absent_cache: scratch_dir().join("cli-absent.Fdump"),
        }
    })
}

/// Command line: the input split at ASCII whitespace into argv tokens is parsed and, when it
/// asks for a run, converted into a job. Input files named on the command line are replaced by
/// fixtures in the scratch directory, so nothing outside it is read or written.
pub fn cli(data: &[u8]) {
    let argv: Vec<String> = data
        .split(u8::is_ascii_whitespace)
        .filter(|t| !t.is_empty())
        .take(MAX_ARGV_TOKENS)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let mut args = match cli::parse(&argv) {
        Ok(ParseOutcome::Run(args)) => args,
        Ok(ParseOutcome::Exit { text, code }) => {
            assert!(
                !text.is_empty() && code == 0,
                "exit {code} with text {text:?}"
            );
            return;
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            return;
        }
    };
    let files = cli_fixtures();
    let substitute = |path: &mut Option<PathBuf>, fixture: &Path| {
        if path.is_some() {
            *path = Some(fixture.to_path_buf());
        }
    };
    substitute(&mut args.hkl, &files.hkl);
    substitute(&mut args.mat, &files.mat);
    substitute(&mut args.img, &files.smv);
    substitute(&mut args.mask, &files.smv);
    substitute(&mut args.sourcefile, &files.sources);
    args.dump = Some(match (&args.hkl, &args.dump) {
        (Some(_), _) => files.written_cache.clone(),
        (None, Some(_)) => files.cache.clone(),
        (None, None) => files.absent_cache.clone(),
    });
    match cli::to_job(&args) {
        Ok(job) => {
            job.params
                .validate()
                .expect("to_job returned parameters that do not validate");
            let d = &job.params.detector;
            assert!(d.fpixels > 0 && d.spixels > 0);
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}

/// Reads choices from fuzzer bytes; past the end every byte reads as 0, which selects the
/// first choice or the plainest value everywhere.
struct Choices<'a> {
    bytes: std::slice::Iter<'a, u8>,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        self.bytes.next().copied().unwrap_or(0)
    }

    /// `true` for an odd byte.
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// An integer in `lo..=hi`.
    fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + usize::from(self.byte()) % (hi - lo + 1)
    }

    /// A value in `[lo, hi]` with 16-bit resolution.
    fn float(&mut self, lo: f64, hi: f64) -> f64 {
        let t = f64::from(u16::from_le_bytes([self.byte(), self.byte()])) / f64::from(u16::MAX);
        lo + (hi - lo) * t
    }

    /// An angle in degrees within `±limit`, as radians.
    fn angle(&mut self, limit: f64) -> f64 {
        self.float(-limit, limit).to_radians()
    }

    /// `Some(value())` for an odd byte.
    fn maybe<T>(&mut self, value: impl FnOnce(&mut Self) -> T) -> Option<T> {
        self.flag().then(|| value(self))
    }

    /// A unit vector from two angles.
    fn direction(&mut self) -> [f64; 3] {
        let (theta, phi) = (self.angle(180.0), self.angle(180.0));
        [
            theta.sin() * phi.cos(),
            theta.sin() * phi.sin(),
            theta.cos(),
        ]
    }

    /// A right-handed orthonormal triad: the lab axes rotated about a random axis.
    fn triad(&mut self) -> [[f64; 3]; 3] {
        let axis = self.direction();
        let angle = self.angle(180.0);
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]].map(|v| rotate(v, axis, angle))
    }
}

/// `v` rotated by `angle` about the unit vector `axis` (Rodrigues).
fn rotate(v: [f64; 3], axis: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    let dot = v[0] * axis[0] + v[1] * axis[1] + v[2] * axis[2];
    let cross = [
        axis[1] * v[2] - axis[2] * v[1],
        axis[2] * v[0] - axis[0] * v[2],
        axis[0] * v[1] - axis[1] * v[0],
    ];
    [0, 1, 2].map(|i| v[i] * c + cross[i] * s + axis[i] * dot * (1.0 - c))
}

/// A small structure-factor grid: up to five indices per axis around the origin.
fn small_grid(c: &mut Choices) -> HklGrid {
    let mut bounds = [0i32; 6];
    for axis in 0..3 {
        let min = -(c.int(0, 3) as i32);
        bounds[2 * axis] = min;
        bounds[2 * axis + 1] = min + c.int(0, 4) as i32;
    }
    let mut grid = HklGrid {
        h_min: bounds[0],
        h_max: bounds[1],
        k_min: bounds[2],
        k_max: bounds[3],
        l_min: bounds[4],
        l_max: bounds[5],
        ..HklGrid::default()
    };
    let (hr, kr, lr) = grid.ranges();
    grid.data = vec![0.0; (hr + 1) * (kr + 1) * (lr + 1)];
    for h in grid.h_min..=grid.h_max {
        for k in grid.k_min..=grid.k_max {
            for l in grid.l_min..=grid.l_max {
                let i = grid.index(h, k, l).expect("inside the bounds");
                grid.data[i] = f64::from(c.byte());
            }
        }
    }
    grid.count = hr * kr * lr;
    grid
}

/// A (count, range, step) sampling request that completes to at most four samples.
fn sampling_triple(c: &mut Choices, max_range: f64) -> (Option<i64>, Option<f64>, Option<f64>) {
    let steps = c.maybe(|c| c.int(0, 3) as i64);
    let range = c.maybe(|c| c.float(0.0, max_range));
    let step = c.maybe(|c| match range {
        Some(r) if r > 0.0 => r / c.int(1, 3) as f64,
        _ => c.float(0.0, max_range),
    });
    (steps, range, step)
}

/// A small simulation decoded from fuzzer bytes: cell or reciprocal lattice, missets, N, shape,
/// structure factors, wavelength, dispersion, divergence or a source list, every detector
/// convention, pivot, rotation, two-theta, sensor, mask and region of interest, φ sweeps,
/// mosaicity, oversampling and the compat switch. `validate` may still refuse it.
fn small_params(c: &mut Choices) -> Params {
    let mut p = Params {
        compat: c.flag(),
        ..Params::default()
    };

    // Beam first: a reciprocal lattice is scaled by the wavelength.
    let b = &mut p.beam;
    b.wavelength = c.float(0.5, 3.0) * 1e-10;
    if c.flag() {
        b.fluence = c.float(1e20, 1e30);
    }
    if c.flag() {
        b.flux = c.float(1e8, 1e14);
        b.exposure = c.float(0.0, 10.0);
        b.beam_size = c.float(1e-6, 1e-3);
    }
    b.kahn_factor = c.maybe(|c| c.float(-1.0, 1.0)).unwrap_or(0.0);
    b.nopolar = c.flag();
    let (dispsteps, dispersion, _) = sampling_triple(c, 0.1);
    (b.dispsteps, b.dispersion) = (dispsteps, dispersion);
    for axis in 0..2 {
        let (n, range, step) = sampling_triple(c, 5e-3);
        b.divergence_steps[axis] = n;
        b.divergence_range[axis] = range;
        b.divergence_step[axis] = step;
    }
    b.round_div = !c.flag();
    if c.flag() {
        let n = c.int(1, 3);
        b.sources = Some(
            (0..n)
                .map(|_| SourceSpec {
                    position: [0; 3].map(|_| c.maybe(|c| c.float(-10.0, 10.0))),
                    weight: c.maybe(|c| c.float(0.0, 2.0)),
                    wavelength: c.maybe(|c| c.float(0.5, 3.0) * 1e-10),
                })
                .collect(),
        );
    }
    b.beam_vector = c.maybe(Choices::direction);
    b.polar_vector = c.maybe(Choices::direction);

    // Crystal.
    let x = &mut p.crystal;
    x.lattice = if c.flag() {
        let axes = c.triad();
        let lengths = [0; 3].map(|_| c.float(20.0, 200.0));
        let mut rows = [[0.0; 3]; 3];
        for (j, (axis, length)) in axes.iter().zip(lengths).enumerate() {
            let skew = c.direction();
            for i in 0..3 {
                rows[i][j] = (axis[i] + 0.3 * skew[i]) / length * p.beam.wavelength * 1e10;
            }
        }
        Lattice::from_mosflm_matrix(&rows, p.beam.wavelength)
    } else {
        let lengths = [0; 3].map(|_| c.float(5.0, 300.0) * 1e-10);
        let angles = [0; 3].map(|_| c.float(50.0, 130.0).to_radians());
        Lattice::Cell { lengths, angles }
    };
    x.misset = match c.int(0, 2) {
        0 => Misset::None,
        1 => Misset::Angles([0; 3].map(|_| c.angle(180.0))),
        _ => Misset::Random {
            seed: i64::from(c.byte()) - 128,
        },
    };
    // Whole numbers as on the command line, now and then a fraction, which `Params` allows.
    x.cells = [0; 3].map(|_| match c.byte() {
        n @ 0..250 => f64::from(n % 25),
        n => f64::from(n % 25) + 0.5,
    });
    x.size = [0; 3].map(|_| c.maybe(|c| c.float(0.0, 5e-8)));
    x.shape = [Shape::Square, Shape::Round, Shape::Gauss, Shape::Tophat][c.int(0, 3)];
    x.fudge = c.maybe(|c| c.float(0.1, 3.0)).unwrap_or(1.0);

    p.structure_factors = StructureFactors {
        grid: c.maybe(|c| Arc::new(small_grid(c))),
        default_f: c.maybe(|c| c.float(0.0, 1000.0)).unwrap_or(0.0),
        interpolate: [None, Some(true), Some(false)][c.int(0, 2)],
    };
    if p.structure_factors.grid.is_none() && p.structure_factors.default_f == 0.0 {
        p.structure_factors.default_f = 100.0;
    }

    // Detector.
    let d = &mut p.detector;
    d.pixel_size = c.float(0.05, 0.2) * 1e-3;
    d.set_pixels(c.int(1, MAX_RENDER_SIDE), c.int(1, MAX_RENDER_SIDE));
    d.distance = c.float(20.0, 300.0) * 1e-3;
    d.close_distance = c.maybe(|c| c.float(20.0, 300.0) * 1e-3);
    d.convention = [
        Convention::Mosflm,
        Convention::Denzo,
        Convention::Adxv,
        Convention::Xds,
        Convention::Dials,
        Convention::Custom,
    ][c.int(0, 5)];
    d.pivot = [None, Some(Pivot::Beam), Some(Pivot::Sample)][c.int(0, 2)];
    let size = d.size;
    d.beam_center = [0, 1].map(|i| c.maybe(|c| c.float(-0.2, 1.2) * size[i]));
    d.close_point = [0, 1].map(|i| c.maybe(|c| c.float(-0.2, 1.2) * size[i]));
    d.org = [d.fpixels, d.spixels].map(|n| c.maybe(|c| c.float(-0.2, 1.2) * n as f64));
    d.rotation = [0; 3].map(|_| c.maybe(|c| c.angle(30.0)).unwrap_or(0.0));
    d.twotheta = c.maybe(|c| c.angle(60.0)).unwrap_or(0.0);
    if c.flag() {
        let [f, s, o] = c.triad();
        (d.fdet_vector, d.sdet_vector, d.odet_vector) = (Some(f), Some(s), Some(o));
    }
    d.twotheta_axis = c.maybe(Choices::direction);
    d.thickness = c.maybe(|c| c.float(0.0, 500e-6));
    d.thicksteps = c.maybe(|c| c.int(0, 3) as i64);
    d.attenuation_length = match c.int(0, 3) {
        0 => None,
        1 => Some(f64::INFINITY),
        2 => Some(0.0),
        _ => Some(c.float(10e-6, 1e-3)),
    };
    d.curved = c.flag();
    d.point_pixel = c.flag();
    if c.flag() {
        let pixels = d.fpixels * d.spixels;
        let mask = (0..pixels).map(|_| u16::from(c.flag())).collect();
        d.mask = Some(Arc::new(mask));
    }

    // Rotation and mosaicity.
    let r = &mut p.rotation;
    r.phi0 = c.angle(180.0);
    let (phisteps, osc, phistep) = sampling_triple(c, 2f64.to_radians());
    (r.phisteps, r.osc, r.phistep) = (phisteps, osc, phistep);
    r.spindle_axis = c.maybe(Choices::direction);
    r.mosaic_spread = c.maybe(|c| c.angle(2.0).abs());
    r.mosaic_domains = c.maybe(|c| c.int(0, 4) as i64);
    r.mosaic_seed = i64::from(c.byte());

    // Sampling and background.
    let s = &mut p.sampling;
    s.oversample = c.maybe(|c| c.int(0, 2) as u32);
    s.oversample_thick = c.flag();
    s.oversample_polar = c.flag();
    s.oversample_omega = c.flag();
    s.roi = c.maybe(|c| {
        let (x0, y0) = (c.int(0, MAX_RENDER_SIDE), c.int(0, MAX_RENDER_SIDE));
        [x0, x0 + c.int(0, 8), y0, y0 + c.int(0, 8)]
    });
    s.dmin = c.maybe(|c| c.float(0.0, 5e-10)).unwrap_or(0.0);
    p.water_size = c.maybe(|c| c.float(0.0, 100e-6)).unwrap_or(0.0);
    p
}

/// Rendering: a small simulation decoded from the bytes, if it validates, renders with the
/// scalar and the SIMD engine without a NaN or infinite pixel (except where `compat` keeps C's
/// overflowing running sum), with nothing outside the mask and region of interest, and the two
/// images agree within the crate's thresholds.
pub fn render(data: &[u8]) {
    let params = small_params(&mut Choices { bytes: data.iter() });
    let Ok(setup) = Setup::new(&params) else {
        return;
    };
    let d = &setup.detector;
    let work = d.fpixels
        * d.spixels
        * setup.oversample
        * setup.oversample
        * setup.sources.len()
        * setup.orientations.len()
        * setup.layers.count;
    if work > MAX_RENDER_WORK {
        return;
    }
    // Under `compat`, -oversample_thick/_polar/_omega multiply C's running sum instead of each
    // term (README, Q11), which can overflow as it does in nanoBragg.c.
    let sampling = &params.sampling;
    let running_sum = params.compat
        && (sampling.oversample_thick || sampling.oversample_polar || sampling.oversample_omega);
    let reference = engine::render(&setup, Backend::Scalar);
    let candidate = engine::render(&setup, Backend::Simd);
    for (name, image) in [("scalar", &reference), ("SIMD", &candidate)] {
        assert_eq!(image.pixels.len(), d.fpixels * d.spixels);
        for (i, &v) in image.pixels.iter().enumerate() {
            let (f, s) = (i % d.fpixels, i / d.fpixels);
            assert!(
                v.is_finite() || running_sum,
                "{name} pixel ({f}, {s}) is {v} for {params:?}"
            );
            assert!(
                v == 0.0 || setup.region.is_rendered(f, s),
                "{name} pixel ({f}, {s}) outside the region or mask is {v} for {params:?}"
            );
        }
    }
    let overflowed = || {
        let mut pixels = reference.pixels.iter().chain(&candidate.pixels);
        pixels.any(|v| !v.is_finite())
    };
    if reference.pixels.iter().all(|&v| v == 0.0) || overflowed() {
        return;
    }
    let (correlation, worst) = engine::agreement(&reference.pixels, &candidate.pixels);
    assert!(
        correlation >= MIN_CORRELATION && worst <= MAX_RELATIVE_ERROR,
        "SIMD image differs from the scalar one: correlation {correlation}, worst relative \
         error {worst} for {params:?}"
    );
}
