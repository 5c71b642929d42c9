//! A corpus of malformed inputs and bad command lines, with the outcome the `nanobragg` binary
//! must give for each.
//!
//! The input files live in `tests/malformed/` (its README describes each one); a large SMV
//! image is generated at test time. Every row of [`cases`] runs the binary in an empty scratch
//! directory and checks:
//!
//! * the exit status: 0 on success, 1 when an input file cannot be read or is malformed or an
//!   output cannot be written, 2 for a usage error (bad or missing option, value out of range);
//! * that stderr contains the given words: the file (with `:LINE:` for a bad line) or the
//!   option, and the reason;
//! * that nothing panicked, the message does not repeat the operating-system error, and the
//!   run finished within [`TIMEOUT`];
//! * that a failed run left the directory as it was: no new file, no temporary, and every file
//!   the row put there beforehand (a previous output among them) unchanged byte for byte;
//! * that a successful run wrote its float image and left no temporary behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod scratch;
use scratch::scratch_dir;

/// Longest a single run may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A crystal and beam that make a complete, fast command line with `-detpixels 16`.
const BASE: &str = "-cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -N 5 -distance 100";

/// The contents of the corrupt `Fdump.bin` rows put in the working directory.
const GARBAGE_FDUMP: &[u8] = include_bytes!("malformed/fdump_garbage.bin");
/// A previous output that a failed run must keep.
const OLD_OUTPUT: &[u8] = b"the float image of an earlier run";

/// Something in the working directory before the run.
#[derive(Clone, Copy)]
enum Existing {
    File(&'static str, &'static [u8]),
    Dir(&'static str),
}

/// One row of the table.
struct Case {
    name: &'static str,
    /// The command line, split at whitespace: `{BASE}` is replaced by [`BASE`], `{M}` by the
    /// corpus directory and `{G}` by the directory of generated inputs.
    args: &'static str,
    exit: i32,
    /// Words stderr must contain.
    stderr: &'static [&'static str],
    /// Words stdout must contain (warnings of successful runs).
    stdout: &'static [&'static str],
    existing: &'static [Existing],
}

/// A row that must fail with `exit` and mention every word of `stderr`.
fn fails(
    name: &'static str,
    args: &'static str,
    exit: i32,
    stderr: &'static [&'static str],
) -> Case {
    Case {
        name,
        args,
        exit,
        stderr,
        stdout: &[],
        existing: &[],
    }
}

/// A row whose odd input is accepted.
fn succeeds(name: &'static str, args: &'static str) -> Case {
    fails(name, args, 0, &[])
}

impl Case {
    fn with_existing(self, existing: &'static [Existing]) -> Case {
        Case { existing, ..self }
    }

    fn with_stdout(self, stdout: &'static [&'static str]) -> Case {
        Case { stdout, ..self }
    }
}

/// The table. File names are those of `tests/malformed/`.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Existing::{Dir, File};
    vec![
        // ------------------------------------------------------------------ -hkl text
        fails("hkl empty", "-hkl {M}/empty.hkl {BASE} -detpixels 16", 1, &["empty.hkl", "no reflections"]),
        fails("hkl only comments", "-hkl {M}/only_comments.hkl {BASE} -detpixels 16", 1, &["only_comments.hkl", "no reflections"]),
        fails("hkl cut mid-number", "-hkl {M}/cut_mid_number.hkl {BASE} -detpixels 16", 1, &["cut_mid_number.hkl:3:", "F is not a number: \"3.5e\""]),
        fails("hkl cut mid-line", "-hkl {M}/cut_mid_line.hkl {BASE} -detpixels 16", 1, &["cut_mid_line.hkl:3:", "expected 4 columns (h k l F), found 2"]),
        fails("hkl three columns", "-hkl {M}/three_columns.hkl {BASE} -detpixels 16", 1, &["three_columns.hkl:2:", "found 3"]),
        fails("hkl letter index", "-hkl {M}/letter_index.hkl {BASE} -detpixels 16", 1, &["letter_index.hkl:2:", "k is not a number"]),
        fails("hkl fractional index", "-hkl {M}/fractional_index.hkl {BASE} -detpixels 16", 1, &["fractional_index.hkl:2:", "not a whole number"]),
        fails("hkl NaN F", "-hkl {M}/nan_f.hkl {BASE} -detpixels 16", 1, &["nan_f.hkl:2:", "not a finite number"]),
        fails("hkl inf F", "-hkl {M}/inf_f.hkl {BASE} -detpixels 16", 1, &["inf_f.hkl:2:", "not a finite number"]),
        fails("hkl F 1e400", "-hkl {M}/f_1e400.hkl {BASE} -detpixels 16", 1, &["f_1e400.hkl:2:", "not a finite number"]),
        fails("hkl F 1e300", "-hkl {M}/huge_f.hkl {BASE} -detpixels 16", 1, &["huge_f.hkl:2:", "too large"]),
        fails("hkl index 2147483648", "-hkl {M}/index_2147483648.hkl {BASE} -detpixels 16", 1, &["index_2147483648.hkl:2:", "outside the supported range"]),
        fails("hkl index 1e12", "-hkl {M}/index_1e12.hkl {BASE} -detpixels 16", 1, &["index_1e12.hkl:2:", "outside the supported range"]),
        fails("hkl index -inf", "-hkl {M}/index_inf.hkl {BASE} -detpixels 16", 1, &["index_inf.hkl:2:", "not a whole number"]),
        fails("hkl grid over 2^31 cells", "-hkl {M}/huge_grid.hkl {BASE} -detpixels 16", 1, &["huge_grid.hkl", "2^31"]),
        fails("hkl UTF-8 byte-order mark", "-hkl {M}/bom.hkl {BASE} -detpixels 16", 1, &["bom.hkl:1:", "h is not a number"]),
        fails("hkl NUL byte", "-hkl {M}/nul_bytes.hkl {BASE} -detpixels 16", 1, &["nul_bytes.hkl:2:", "k is not a number"]),
        fails("hkl decimal comma", "-hkl {M}/comma_decimal.hkl {BASE} -detpixels 16", 1, &["comma_decimal.hkl:2:", "F is not a number"]),
        fails("hkl random bytes", "-hkl {M}/random_bytes.bin {BASE} -detpixels 16", 1, &["random_bytes.bin:1:"]),
        fails("hkl PNG file", "-hkl {M}/image.png {BASE} -detpixels 16", 1, &["image.png:1:", "expected 4 columns"]),
        fails("hkl directory", "-hkl {M} {BASE} -detpixels 16", 1, &["malformed: ", "directory"]),
        fails("hkl nonexistent", "-hkl {M}/nonexistent.hkl {BASE} -detpixels 16", 1, &["nonexistent.hkl", "No such file"]),
        fails("hkl /dev/null", "-hkl /dev/null {BASE} -detpixels 16", 1, &["/dev/null", "character device"]),
        succeeds("hkl comments, blank lines, extra columns", "-hkl {M}/comments_blank_lines.hkl {BASE} -detpixels 16"),
        succeeds("hkl CRLF line ends", "-hkl {M}/crlf.hkl {BASE} -detpixels 16"),
        succeeds("hkl trailing whitespace", "-hkl {M}/trailing_whitespace.hkl {BASE} -detpixels 16"),
        succeeds("hkl no final newline", "-hkl {M}/no_final_newline.hkl {BASE} -detpixels 16"),
        // ------------------------------------------------------- Fdump.bin cache (-dump)
        fails("fdump truncated", "-dump {M}/fdump_truncated.bin -cell 100 100 100 90 90 90 -lambda 6.2 -detpixels 16", 1, &["fdump_truncated.bin", "truncated"]),
        fails("fdump garbage", "-dump {M}/fdump_garbage.bin -cell 100 100 100 90 90 90 -lambda 6.2 -detpixels 16", 1, &["fdump_garbage.bin", "not an Fdump.bin file"]),
        fails("fdump directory", "-dump {M} -cell 100 100 100 90 90 90 -lambda 6.2 -detpixels 16", 1, &["malformed: ", "directory"]),
        fails("fdump implicit garbage", "-cell 100 100 100 90 90 90 -lambda 6.2 -detpixels 16", 1, &["Fdump.bin", "no form feed"])
            .with_existing(&[File("Fdump.bin", GARBAGE_FDUMP)]),
        succeeds("fdump truncated but -default_F", "-dump {M}/fdump_truncated.bin {BASE} -detpixels 16")
            .with_stdout(&["WARNING: ignoring the structure-factor cache", "truncated"]),
        succeeds("fdump implicit garbage but -default_F", "{BASE} -detpixels 16")
            .with_existing(&[File("Fdump.bin", GARBAGE_FDUMP)])
            .with_stdout(&["WARNING: ignoring the structure-factor cache"]),
        succeeds("fdump unwritable", "-hkl {M}/crlf.hkl -dump /nonexistent/dir/Fdump.bin {BASE} -detpixels 16")
            .with_stdout(&["WARNING: could not write the structure-factor cache: /nonexistent/dir/Fdump.bin"]),
        fails("fdump not written when a parameter is bad", "-hkl {M}/crlf.hkl {BASE} -detpixels 16 -lambda 0", 2, &["-lambda"]),
        fails("fdump not written when an output fails", "-hkl {M}/crlf.hkl {BASE} -detpixels 16 -intfile /nonexistent/dir/x.img", 1, &["/nonexistent/dir/x.img"]),
        // ------------------------------------------------------------- -mat MOSFLM matrix
        fails("mat empty", "-mat {M}/empty.mat -default_F 100 -detpixels 16", 1, &["empty.mat", "found only 0"]),
        fails("mat two rows", "-mat {M}/two_rows.mat -default_F 100 -detpixels 16", 1, &["two_rows.mat", "9 numbers", "found only 6"]),
        fails("mat text value", "-mat {M}/text.mat -default_F 100 -detpixels 16", 1, &["text.mat:2:", "matrix element 5 is not a number"]),
        fails("mat NaN", "-mat {M}/nan.mat -default_F 100 -detpixels 16", 1, &["nan.mat:3:", "not a finite number"]),
        fails("mat 1e400", "-mat {M}/overflow.mat -default_F 100 -detpixels 16", 1, &["overflow.mat:3:", "not a finite number"]),
        fails("mat singular", "-mat {M}/singular.mat -default_F 100 -detpixels 16", 2, &["-mat", "coplanar"]),
        fails("mat random bytes", "-mat {M}/random_bytes.bin -default_F 100 -detpixels 16", 1, &["random_bytes.bin:1:", "not a number"]),
        fails("mat directory", "-mat {M} -default_F 100 -detpixels 16", 1, &["malformed: ", "directory"]),
        fails("mat /dev/null", "-mat /dev/null -default_F 100 -detpixels 16", 1, &["/dev/null", "character device"]),
        succeeds("mat Fortran columns and trailing lines", "-mat {M}/fortran_columns.mat -default_F 100 -lambda 1 -detpixels 16"),
        // ---------------------------------------------------------------------- -sourcefile
        fails("sources empty", "-sourcefile {M}/empty.txt {BASE} -detpixels 16", 1, &["empty.txt", "no sources"]),
        fails("sources text value", "-sourcefile {M}/text_value.txt {BASE} -detpixels 16", 1, &["text_value.txt:2:", "column 3 is not a number"]),
        fails("sources six columns", "-sourcefile {M}/six_columns.txt {BASE} -detpixels 16", 1, &["six_columns.txt:1:", "more than 5 columns"]),
        fails("sources NaN", "-sourcefile {M}/nan_source.txt {BASE} -detpixels 16", 1, &["nan_source.txt:1:", "not a finite number"]),
        fails("sources random bytes", "-sourcefile {M}/random_bytes.bin {BASE} -detpixels 16", 1, &["random_bytes.bin:1:"]),
        succeeds("sources with too few columns", "-sourcefile {M}/few_columns.txt {BASE} -detpixels 16"),
        succeeds("sources CRLF, comments, delimiters", "-sourcefile {M}/sources_crlf_comments.txt {BASE} -detpixels 16"),
        // ------------------------------------------------------------- -img / -mask SMV
        fails("img empty", "-img {M}/empty.img {BASE}", 1, &["empty.img", "not an SMV"]),
        fails("img truncated data", "-img {M}/truncated_data.img {BASE}", 1, &["truncated_data.img", "truncated", "has 100"]),
        fails("img header only", "-img {M}/header_only.img {BASE}", 1, &["header_only.img", "truncated", "has 0"]),
        fails("img large, truncated", "-img {G}/big_truncated.img {BASE}", 1, &["big_truncated.img", "truncated: 1024×1024"]),
        fails("img SIZE1=0", "-img {M}/size_zero.img {BASE}", 1, &["size_zero.img", "SIZE1 is 0"]),
        fails("img SIZE1=-5", "-img {M}/size_negative.img {BASE}", 1, &["size_negative.img", "SIZE1=-5"]),
        fails("img SIZE1=1e9", "-img {M}/size_huge.img {BASE}", 1, &["size_huge.img", "truncated: 1000000000×1000000000"]),
        fails("img SIZE1 text", "-img {M}/size_text.img {BASE}", 1, &["size_text.img", "SIZE1 is 0 or not a number"]),
        fails("img SIZE1=16.5", "-img {M}/size_fraction.img {BASE}", 1, &["size_fraction.img", "SIZE1=16.5"]),
        fails("img header past HEADER_BYTES", "-img {M}/header_overflow.img {BASE}", 1, &["header_overflow.img", "HEADER_BYTES=512 is smaller than the header text"]),
        fails("img HEADER_BYTES text", "-img {M}/header_bytes_text.img {BASE}", 1, &["header_bytes_text.img", "HEADER_BYTES"]),
        fails("img HEADER_BYTES 1e12", "-img {M}/header_bytes_huge.img {BASE}", 1, &["header_bytes_huge.img", "HEADER_BYTES=1e+12"]),
        fails("img no closing brace", "-img {M}/no_closing_brace.img {BASE}", 1, &["no_closing_brace.img", "no closing '}'"]),
        fails("img BYTE_ORDER middle_endian", "-img {M}/middle_endian.img {BASE}", 1, &["middle_endian.img", "BYTE_ORDER=middle_endian"]),
        fails("img TYPE float", "-img {M}/float_type.img {BASE}", 1, &["float_type.img", "TYPE=float"]),
        fails("img no TYPE", "-img {M}/no_type.img {BASE}", 1, &["no_type.img", "no TYPE"]),
        fails("img CRLF header", "-img {M}/crlf_header.img {BASE}", 1, &["crlf_header.img", "not an SMV"]),
        fails("img PNG file", "-img {M}/image.png {BASE}", 1, &["image.png", "not an SMV"]),
        fails("img random bytes", "-img {M}/random_bytes.bin {BASE}", 1, &["random_bytes.bin", "not an SMV"]),
        fails("img directory", "-img {M} {BASE}", 1, &["malformed: ", "directory"]),
        fails("img /dev/null", "-img /dev/null {BASE}", 1, &["/dev/null", "character device"]),
        fails("img PIXEL_SIZE=0", "-img {M}/pixel_size_zero.img {BASE}", 1, &["pixel_size_zero.img", "PIXEL_SIZE=0", "-pixel"]),
        fails("img DISTANCE=nan", "-img {M}/distance_nan.img -cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2", 1, &["distance_nan.img", "DISTANCE=nan", "-distance"]),
        fails("img WAVELENGTH=0", "-img {M}/wavelength_zero.img -cell 100 100 100 90 90 90 -default_F 100 -distance 100", 1, &["wavelength_zero.img", "WAVELENGTH=0", "-lambda"]),
        fails("mask nonexistent", "-mask {M}/none.img {BASE}", 1, &["none.img", "No such file"]),
        fails("mask truncated", "-mask {M}/truncated_data.img {BASE}", 1, &["truncated_data.img", "truncated"]),
        fails("mask of another size", "-mask {M}/mask_8.img {BASE} -detpixels 16", 2, &["-mask", "mask_8.img", "8 x 8"]),
        succeeds("img HEADER_BYTES=1024", "-img {M}/header_1024.img {BASE}"),
        succeeds("mask HEADER_BYTES=1024", "-mask {M}/header_1024.img {BASE}"),
        succeeds("img big-endian", "-img {M}/big_endian.img {BASE}"),
        succeeds("mask big-endian", "-mask {M}/big_endian.img {BASE}"),
        succeeds("img DETECTOR_DIMENSIONS", "-img {M}/detector_dimensions.img {BASE}"),
        succeeds("img PIXEL_SIZE=0 overridden", "-img {M}/pixel_size_zero.img {BASE} -pixel 0.1"),
        succeeds("img DISTANCE=nan overridden", "-img {M}/distance_nan.img {BASE}"),
        succeeds("mask", "-mask {M}/mask_16.img {BASE}"),
        // ------------------------------------------------------- options and their values
        fails("-hkl last", "{BASE} -detpixels 16 -hkl", 2, &["-hkl", "last argument"]),
        fails("-lambda last", "{BASE} -detpixels 16 -lambda", 2, &["-lambda", "last argument"]),
        fails("-floatfile last", "{BASE} -detpixels 16 -floatfile", 2, &["-floatfile", "last argument"]),
        fails("-cell last", "-default_F 100 -detpixels 16 -cell", 2, &["-cell", "1 to 6 values"]),
        fails("-cell before an option", "-cell -default_F 100 -detpixels 16", 2, &["-cell", "followed by the option -default_F"]),
        fails("-cell 100 100 without Fs", "-cell 100 100", 2, &["-hkl", "-default_F"]),
        succeeds("-cell 100 100 (b given, c = a, right angles)", "-cell 100 100 -default_F 100 -lambda 6.2 -distance 100 -detpixels 16"),
        fails("-detpixels with two values", "{BASE} -detpixels 16 16", 2, &["-detpixels", "unexpected value"]),
        fails("misspelt option", "{BASE} -detpixels 16 -lamda 6.2", 2, &["-lamda", "-lambda"]),
        fails("-detpixels -5", "{BASE} -detpixels -5", 2, &["-detpixels", "-5 pixels"]),
        fails("-detpixels 0", "{BASE} -detpixels 0", 2, &["-detpixels", "0 pixels"]),
        fails("-detpixels 1e9", "{BASE} -detpixels 1000000000", 2, &["-detpixels", "more than this build accepts"]),
        fails("-detpixels 100000", "{BASE} -detpixels 100000", 2, &["-detpixels", "more than"]),
        fails("-N nan", "{BASE} -detpixels 16 -N nan", 2, &["-N", "invalid value 'nan'"]),
        fails("-N 1e7", "{BASE} -detpixels 16 -N 1e7", 2, &["-N", "invalid value '1e7'"]),
        succeeds("-N 0 (one isolated cell)", "{BASE} -detpixels 16 -N 0"),
        fails("-lambda 0", "{BASE} -detpixels 16 -lambda 0", 2, &["-lambda", "positive"]),
        fails("-lambda -1", "{BASE} -detpixels 16 -lambda -1", 2, &["-lambda", "positive"]),
        fails("-lambda 1e400", "{BASE} -detpixels 16 -lambda 1e400", 2, &["-lambda", "inf"]),
        fails("-lambda text", "{BASE} -detpixels 16 -lambda abc", 2, &["-lambda", "invalid value 'abc'"]),
        fails("-distance nan", "{BASE} -detpixels 16 -distance nan", 2, &["-distance", "NaN"]),
        fails("-distance 0", "{BASE} -detpixels 16 -distance 0", 2, &["-distance", "positive"]),
        fails("-pixel inf", "{BASE} -detpixels 16 -pixel inf", 2, &["-pixel", "inf mm"]),
        fails("-pixel 0", "{BASE} -detpixels 16 -pixel 0", 2, &["-pixel", "positive"]),
        fails("-oversample 1e9", "{BASE} -detpixels 16 -oversample 1e9", 2, &["-oversample", "invalid value '1e9'"]),
        fails("-oversample 1001", "{BASE} -detpixels 16 -oversample 1001", 2, &["-oversample", "1000"]),
        succeeds("-oversample 0 (automatic)", "{BASE} -detpixels 16 -oversample 0"),
        fails("-default_F nan", "{BASE} -detpixels 16 -default_F nan", 2, &["-default_F", "finite"]),
        fails("-cell angle 180", "{BASE} -detpixels 16 -cell 100 100 100 90 90 180", 2, &["-cell", "between 0 and 180"]),
        fails("-roi empty", "{BASE} -detpixels 16 -roi 5 2 0 3", 2, &["-roi", "empty region"]),
        fails("-misset nan", "{BASE} -detpixels 16 -misset nan 0 0", 2, &["-misset", "finite"]),
        fails("-nthreads -1", "{BASE} -detpixels 16 -nthreads -1", 2, &["-nthreads", "invalid value '-1'"]),
        fails("-default_F 1e30", "{BASE} -detpixels 16 -default_F 1e30", 2, &["-default_F", "more than a float image holds"]),
        fails("-fluence 1e300", "{BASE} -detpixels 16 -fluence 1e300", 2, &["-fluence", "more than a float image holds"]),
        // ------------------------------------------------------------------------- outputs
        fails("-floatfile in a missing directory", "{BASE} -detpixels 16 -floatfile /nonexistent/dir/x.bin", 1, &["/nonexistent/dir/x.bin", "No such file"]),
        fails("-intfile in a missing directory", "{BASE} -detpixels 16 -intfile /nonexistent/dir/x.img", 1, &["/nonexistent/dir/x.img", "No such file"]),
        fails("-noisefile in a missing directory", "{BASE} -detpixels 16 -noisefile /nonexistent/dir/x.img", 1, &["/nonexistent/dir/x.img"]),
        fails("-pgmfile in a missing directory", "{BASE} -detpixels 16 -pgmfile /nonexistent/dir/x.pgm", 1, &["/nonexistent/dir/x.pgm"]),
        fails("-pngfile in a missing directory", "{BASE} -detpixels 16 -pngfile /nonexistent/dir/x.png", 1, &["/nonexistent/dir/x.png"]),
        fails("-floatfile an existing directory", "{BASE} -detpixels 16 -floatfile out", 1, &["out: is a directory"])
            .with_existing(&[Dir("out")]),
        fails("-floatfile .", "{BASE} -detpixels 16 -floatfile .", 1, &[".: is a directory"]),
        fails("-floatfile under a file", "{BASE} -detpixels 16 -floatfile {M}/empty.hkl/x.bin", 1, &["empty.hkl/x.bin", "Not a directory"]),
        fails("previous output kept when another output fails", "{BASE} -detpixels 16 -floatfile out.bin -pngfile /nonexistent/dir/x.png", 1, &["/nonexistent/dir/x.png"])
            .with_existing(&[File("out.bin", OLD_OUTPUT)]),
        fails("previous default outputs kept when the noise file fails", "{BASE} -detpixels 16 -noisefile /nonexistent/dir/x.img", 1, &["/nonexistent/dir/x.img"])
            .with_existing(&[File("floatimage.bin", OLD_OUTPUT), File("intimage.img", OLD_OUTPUT), File("image.pgm", OLD_OUTPUT)]),
        fails("previous output kept on a usage error", "{BASE} -detpixels 16 -floatfile out.bin -lambda 0", 2, &["-lambda"])
            .with_existing(&[File("out.bin", OLD_OUTPUT)]),
        fails("previous output kept on a malformed input", "-hkl {M}/three_columns.hkl {BASE} -detpixels 16 -floatfile out.bin", 1, &["three_columns.hkl:2:"])
            .with_existing(&[File("out.bin", OLD_OUTPUT)]),
        // ------------------------------------------------- nonbragg -stol/-4stol/-Q tables
        fails("stol letter", "nonbragg -stol {M}/stol_letter.stol -detpixels 16", 1, &["stol_letter.stol:2:", "column 2 is not a number: \"abc\""]),
        fails("stol NaN", "nonbragg -stol {M}/stol_nan.stol -detpixels 16", 1, &["stol_nan.stol:2:", "not a finite number"]),
        fails("stol empty", "nonbragg -stol {M}/stol_empty.stol -detpixels 16", 1, &["stol_empty.stol", "no data in the table"]),
        fails("stol not increasing", "nonbragg -4stol {M}/stol_decreasing.stol -detpixels 16", 1, &["stol_decreasing.stol:2:", "must be sorted by increasing"]),
        fails("stol nonexistent", "nonbragg -Q {M}/nonexistent.stol -detpixels 16", 1, &["nonexistent.stol", "No such file"]),
        fails("stol missing", "nonbragg -detpixels 16", 2, &["-stol", "no table"]),
        fails("stol previous output kept", "nonbragg -stol {M}/stol_letter.stol -detpixels 16 -floatfile out.bin", 1, &["stol_letter.stol:2:"])
            .with_existing(&[File("out.bin", OLD_OUTPUT)]),
        // ------------------------------------------------------- nearbragg -file atom lists
        fails("atoms letter", "nearbragg -file {M}/atoms_letter.txt -detpixels 16", 1, &["atoms_letter.txt:2:", "'x' is not a finite number"]),
        fails("atoms two columns", "nearbragg -file {M}/atoms_two_columns.txt -detpixels 16", 1, &["atoms_two_columns.txt:2:", "2 columns"]),
        fails("atoms seven columns", "nearbragg -file {M}/atoms_seven_columns.txt -detpixels 16", 1, &["atoms_seven_columns.txt:1:", "7 columns"]),
        fails("atoms empty", "nearbragg -file {M}/atoms_empty.txt -detpixels 16", 1, &["atoms_empty.txt", "no atoms"]),
        fails("atoms missing", "nearbragg -detpixels 16", 2, &["-file", "required"]),
        // ----------------------------------------------------- float images of the wrong size
        fails("noisify float not whole floats", "noisify -floatfile {M}/float_1001_bytes.bin", 1, &["float_1001_bytes.bin", "1001 bytes is not a whole number of 4-byte floats"]),
        fails("noisify float size mismatch", "noisify -floatfile {M}/float_16x16.bin -detpixels 15", 1, &["float_16x16.bin", "holds 256 pixels", "15x15 = 225"]),
        fails("noisify float rectangle mismatch", "noisify -floatfile {M}/float_16x16.bin -detpixels_x 16 -detpixels_y 17", 1, &["16x17 = 272"]),
        fails("noisify no input", "noisify", 2, &["-floatfile", "no input image"]),
        fails("noisify bits", "noisify -floatfile {M}/float_16x16.bin -bits 8", 2, &["-bits", "16 or 32 bits"]),
        fails("nearbragg accumulate size mismatch", "nearbragg -file {M}/atoms_two_columns.txt -detpixels 16 -accumulate -floatfile {M}/float_1001_bytes.bin", 1, &["atoms_two_columns.txt:2:"]),
    ]
}

/// What a run did.
struct Outcome {
    /// Exit status; `None` when it was killed (timeout) or died of a signal.
    status: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    /// Names in the working directory afterwards, with their contents (`None`: a directory).
    entries: BTreeMap<String, Option<Vec<u8>>>,
}

/// Reads a child's pipe to the end on a thread, so that a chatty child never blocks.
fn drain(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = { pipe }.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn entries(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let contents = e
                .file_type()
                .unwrap()
                .is_file()
                .then(|| fs::read(e.path()).unwrap());
            (e.file_name().to_string_lossy().into_owned(), contents)
        })
        .collect()
}

fn run(case: &Case, dir: &Path, corpus: &str, generated: &str) -> Outcome {
    for e in case.existing {
        match *e {
            Existing::File(name, bytes) => fs::write(dir.join(name), bytes).unwrap(),
            Existing::Dir(name) => fs::create_dir(dir.join(name)).unwrap(),
        }
    }
    let line = case.args.replace("{BASE}", BASE);
    let args = line
        .split_whitespace()
        .map(|t| t.replace("{M}", corpus).replace("{G}", generated));
    let mut child = Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nanobragg");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let start = Instant::now();
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status.code(), false);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        status,
        timed_out,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        entries: entries(dir),
    }
}

/// How the outcome differs from the row's expectation (empty when it matches).
fn problems(case: &Case, o: &Outcome) -> Vec<String> {
    let mut p = Vec::new();
    if o.timed_out {
        p.push(format!("still running after {TIMEOUT:?}"));
    }
    if o.status != Some(case.exit) {
        p.push(format!(
            "exit status {:?}, expected {}",
            o.status, case.exit
        ));
    }
    if o.stderr.contains("panicked") {
        p.push("panicked".into());
    }
    if o.stderr.matches("(os error").count() > 1 {
        p.push("the operating-system error is repeated".into());
    }
    for word in case.stderr {
        if !o.stderr.contains(word) {
            p.push(format!("stderr lacks {word:?}"));
        }
    }
    for word in case.stdout {
        if !o.stdout.contains(word) {
            p.push(format!("stdout lacks {word:?}"));
        }
    }
    let mut entries = o.entries.clone();
    for e in case.existing {
        match *e {
            Existing::File(name, bytes) => match entries.remove(name) {
                Some(Some(now)) if now == bytes => {}
                _ => p.push(format!("{name} existed before the run and was changed")),
            },
            Existing::Dir(name) => {
                if entries.remove(name) != Some(None) {
                    p.push(format!("the directory {name} was changed"));
                }
            }
        }
    }
    if case.exit == 0 {
        if !entries.contains_key("floatimage.bin") {
            p.push("no floatimage.bin written".into());
        }
        entries.retain(|name, _| name.starts_with('.'));
    }
    if !entries.is_empty() {
        let names: Vec<&String> = entries.keys().collect();
        p.push(format!("left behind {names:?}"));
    }
    p
}

/// Writes the inputs too large to commit into `dir`.
fn generate(dir: &Path) {
    // A 1024×1024 SMV image with only half of its pixels.
    let mut header =
        b"{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n\
SIZE1=1024;\nSIZE2=1024;\nPIXEL_SIZE=0.1;\nDISTANCE=100;\nWAVELENGTH=6.2;\n}\x0c"
            .to_vec();
    header.resize(512, b' ');
    header.resize(512 + 1024 * 1024, 1);
    fs::write(dir.join("big_truncated.img"), header).unwrap();
}

#[test]
fn malformed_inputs_and_command_lines() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/malformed");
    let root = scratch_dir("malformed");
    let generated = root.path().join("generated");
    fs::create_dir_all(&generated).unwrap();
    generate(&generated);
    let generated = generated.to_str().unwrap();

    let cases = cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dir = root.path().join(format!("case{i:03}"));
        fs::create_dir(&dir).unwrap();
        let outcome = run(case, &dir, corpus, generated);
        let p = problems(case, &outcome);
        let report = |what: String| {
            format!(
                "{:?} ({}): {what}\n    stderr: {}",
                case.name,
                case.args,
                outcome.stderr.trim_end()
            )
        };
        if !p.is_empty() {
            failures.push(report(p.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
