//! argv normalisation: nanoBragg's C-style command line → clap-ready tokens.
//!
//! C nanoBragg recognises options with `strstr(argv[i], "-name")`, i.e. "the token contains this
//! text", with a handful of exact-length guards (`-N`, `-MW`, `-Q`, `-phi`, `-stol`, `-4stol`,
//! `-polar`, `-mosaic`, `-phistep`, `-detsize`, `-hdivstep`, `-vdivstep`, `-detpixels`,
//! `-detector_thick`). Users therefore type single-dash long options, C's abbreviations and its
//! accidental aliases (`-matrix`, `-wavelength`, `-mosaic_domains`, `-adcoffset`, …), and
//! negative numbers as values (`-misset -12.5 3 0.5`). clap can do none of that, so this module
//! rewrites the user's argv before clap sees it:
//!
//! * [`OPTIONS`] is the table of every option: its canonical name (the C spelling, which is also
//!   the clap long name in [`crate::cli::args::CliArgs`]), the other exact spellings, the C
//!   prefix patterns (a token that *starts with* a pattern selects the option; the longest
//!   matching pattern wins, exact spellings beat patterns) and how many values it takes.
//! * [`normalize`] walks argv once. A token that starts with `-` and is not a number (`-0.5`,
//!   `-1e-3`, `-.5` are numbers) is an option: it is looked up in the table and replaced by
//!   `--<canonical>`. Its values are taken from the following tokens exactly as typed; a value
//!   of a one-value option is attached (`--lambda=-1`) and values of multi-value options follow
//!   the option, so clap can never mistake a value for an option or vice versa.
//! * Unlike C, unknown options, missing values and stray values are usage errors; an unknown
//!   option gets a "did you mean" suggestion from an edit distance computed here.
//!
//! Deliberate departures from C's substring matching (spec §8): `-misset_seed` does not also
//! fire `-misset` (Q3), `-twotheta_axis` does not also fire `-twotheta` (Q4) and
//! `-printout_pixel` selects only `-printout_pixel` (the implied `-printout` is restored in
//! [`crate::cli::args`], Q5). Matching is by prefix, not anywhere in the token, and is
//! case-sensitive as in C.

use crate::error::{Error, Result};
use crate::spelling::edit_distance;

/// How many values an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// A switch without value.
    Flag,
    /// Exactly this many values.
    Exactly(usize),
    /// `-cell`: one to six numbers; like C, the list stops at the first token starting with `-`.
    Cell,
    /// `-misset`: three angles, or a single token containing `rand` (C's `-misset random`).
    Misset,
    /// `-curved_det`: a switch; C requires a dummy token after it, which is swallowed if present.
    OptionalDummy,
}

/// One command-line option of nanoBragg (or a nanobragg extension).
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// Canonical name without dashes: the C spelling and the clap long name.
    pub name: &'static str,
    /// Other spellings accepted only as whole tokens (without dashes).
    pub exact: &'static [&'static str],
    /// C `strstr` patterns (without the dash): any token starting with one selects this option.
    pub prefixes: &'static [&'static str],
    /// Documented full spellings besides `name` (shown in the help, used for suggestions).
    pub aliases: &'static [&'static str],
    /// Number of values.
    pub arity: Arity,
    /// Whether `name` itself is also a C prefix pattern (C tests it with `strstr`).
    pub name_is_prefix: bool,
}

impl OptionSpec {
    /// All prefix patterns of this option, including `name` when C matches it by prefix.
    pub fn patterns(&self) -> impl Iterator<Item = &'static str> + use<> {
        let own: Option<&'static str> = self.name_is_prefix.then_some(self.name);
        own.into_iter().chain(self.prefixes.iter().copied())
    }
}

const fn spec(
    name: &'static str,
    exact: &'static [&'static str],
    prefixes: &'static [&'static str],
    aliases: &'static [&'static str],
    arity: Arity,
) -> OptionSpec {
    OptionSpec {
        name,
        exact,
        prefixes,
        aliases,
        arity,
        name_is_prefix: false,
    }
}

/// C matches by prefix (`strstr`): the canonical spelling is also the pattern.
const fn pre(name: &'static str, arity: Arity) -> OptionSpec {
    OptionSpec {
        name,
        exact: &[],
        prefixes: &[],
        aliases: &[],
        arity,
        name_is_prefix: true,
    }
}

/// Matched only as the whole token (C's exact-length guards, and nanobragg extensions).
const fn exact(name: &'static str, arity: Arity) -> OptionSpec {
    spec(name, &[], &[], &[], arity)
}

const ONE: Arity = Arity::Exactly(1);
const THREE: Arity = Arity::Exactly(3);
const FLAG: Arity = Arity::Flag;

/// Every option the command line accepts, in help order.
///
/// Canonical names are C nanoBragg's spellings; `help` and `version` are handled by clap.
pub static OPTIONS: &[OptionSpec] = &[
    // Structure factors & input files
    pre("hkl", ONE),
    pre("default_F", ONE),
    pre("dump", ONE),
    spec("mat", &[], &["mat"], &["matrix"], ONE),
    pre("img", ONE),
    pre("mask", ONE),
    pre("sourcefile", ONE),
    exact("stol", ONE),
    exact("4stol", ONE),
    exact("Q", ONE),
    pre("stolout", ONE),
    pre("interpolate", FLAG),
    pre("nointerpolate", FLAG),
    // Crystal
    pre("cell", Arity::Cell),
    pre("misset", Arity::Misset),
    exact("N", ONE),
    pre("Na", ONE),
    pre("Nb", ONE),
    pre("Nc", ONE),
    spec(
        "xtalsize",
        &[],
        &["xtalsize", "xtal_size", "samplesize", "sample_size"],
        &["xtal_size", "samplesize", "sample_size"],
        ONE,
    ),
    spec(
        "xtal_thick",
        &[],
        &["xtal_thick", "xtal_x", "sample_thick", "sample_x"],
        &["xtal_x", "sample_thick", "sample_x"],
        ONE,
    ),
    spec(
        "xtal_width",
        &[],
        &["xtal_width", "xtal_y", "sample_width", "sample_y", "width"],
        &["xtal_y", "sample_width", "sample_y", "width"],
        ONE,
    ),
    spec(
        "xtal_height",
        &[],
        &["xtal_heigh", "xtal_z", "sample_heigh", "sample_z", "heigh"],
        &["xtal_z", "sample_height", "sample_z", "height"],
        ONE,
    ),
    spec(
        "density",
        &[],
        &["density", "sample_den"],
        &["sample_density"],
        ONE,
    ),
    spec("MW", &[], &["molec"], &["molecular_weight"], ONE),
    // Crystal shape
    pre("square_xtal", FLAG),
    pre("round_xtal", FLAG),
    pre("gauss_xtal", FLAG),
    spec(
        "tophat_spots",
        &[],
        &["tophat_spots", "binary_spots"],
        &["binary_spots"],
        FLAG,
    ),
    pre("fudge", ONE),
    // Mosaicity & rotation
    spec(
        "mosaic",
        &[],
        &["mosaici", "mosaic_spr"],
        &["mosaicity", "mosaic_spread"],
        ONE,
    ),
    spec("mosaic_domains", &[], &["mosaic_dom"], &[], ONE),
    exact("phi", ONE),
    pre("osc", ONE),
    exact("phistep", ONE),
    pre("phisteps", ONE),
    pre("spindle_axis", THREE),
    // Beam
    spec("lambda", &[], &["lambda", "wave"], &["wavelength"], ONE),
    pre("energy", ONE),
    pre("fluence", ONE),
    pre("flux", ONE),
    pre("exposure", ONE),
    pre("beamsize", ONE),
    pre("beam_vector", THREE),
    exact("polar", ONE),
    pre("nopolar", FLAG),
    pre("polar_vector", THREE),
    pre("coherent", FLAG),
    // Divergence & dispersion
    pre("dispersion", ONE),
    pre("dispsteps", ONE),
    pre("divergence", ONE),
    pre("hdivrange", ONE),
    pre("vdivrange", ONE),
    exact("hdivstep", ONE),
    exact("vdivstep", ONE),
    pre("hdivsteps", ONE),
    pre("vdivsteps", ONE),
    pre("divsteps", ONE),
    pre("round_div", FLAG),
    pre("square_div", FLAG),
    // Detector geometry
    pre("pixel", ONE),
    exact("detpixels", ONE),
    spec(
        "detpixels_x",
        &[],
        &["detpixels_x", "detpixels_f"],
        &["detpixels_f"],
        ONE,
    ),
    spec(
        "detpixels_y",
        &[],
        &["detpixels_y", "detpixels_s"],
        &["detpixels_s"],
        ONE,
    ),
    exact("detsize", ONE),
    pre("detsize_f", ONE),
    pre("detsize_s", ONE),
    pre("distance", ONE),
    pre("close_distance", ONE),
    pre("Xbeam", ONE),
    pre("Ybeam", ONE),
    pre("Xclose", ONE),
    pre("Yclose", ONE),
    pre("ORGX", ONE),
    pre("ORGY", ONE),
    pre("pivot", ONE),
    pre("mosflm", FLAG),
    pre("xds", FLAG),
    pre("adxv", FLAG),
    pre("denzo", FLAG),
    pre("dials", FLAG),
    pre("fdet_vector", THREE),
    pre("sdet_vector", THREE),
    pre("odet_vector", THREE),
    spec(
        "pix0_vector",
        &[],
        &["pix0_vector"],
        &["pix0_vector_mm"],
        THREE,
    ),
    pre("twotheta", ONE),
    pre("twotheta_axis", THREE),
    pre("detector_rotx", ONE),
    pre("detector_roty", ONE),
    pre("detector_rotz", ONE),
    pre("curved_det", Arity::OptionalDummy),
    // Detector physics
    spec(
        "detector_absorb",
        &[],
        &["detector_abs"],
        &["detector_abs"],
        ONE,
    ),
    exact("detector_thick", ONE),
    spec(
        "detector_thicksteps",
        &[],
        &["detector_thicksteps", "thicksteps"],
        &["thicksteps"],
        ONE,
    ),
    pre("point_pixel", FLAG),
    // Sampling
    pre("oversample", ONE),
    pre("oversample_thick", FLAG),
    pre("oversample_polar", FLAG),
    pre("oversample_omega", FLAG),
    pre("roi", Arity::Exactly(4)),
    pre("dmin", ONE),
    // Background
    pre("water", ONE),
    // Output files & scaling
    spec(
        "floatfile",
        &[],
        &["floatfile", "floatimage"],
        &["floatimage"],
        ONE,
    ),
    spec("intfile", &[], &["intfile", "intimage"], &["intimage"], ONE),
    spec(
        "noisefile",
        &[],
        &["noisefile", "noiseimage"],
        &["noiseimage"],
        ONE,
    ),
    pre("nonoise", FLAG),
    spec("pgmfile", &[], &["pgmfile", "pgmimage"], &["pgmimage"], ONE),
    pre("nopgm", FLAG),
    pre("scale", ONE),
    pre("pgmscale", ONE),
    spec("adc", &[], &["adc"], &["adcoffset"], ONE),
    // Noise & seeds
    pre("seed", ONE),
    pre("mosaic_seed", ONE),
    pre("misset_seed", ONE),
    // Diagnostics
    pre("printout", FLAG),
    pre("printout_pixel", Arity::Exactly(2)),
    pre("progress", FLAG),
    pre("noprogress", FLAG),
    // nanobragg extensions (exact spellings only)
    exact("compat", FLAG),
    exact("quiet", FLAG),
    spec("nthreads", &["threads"], &[], &["threads"], ONE),
    exact("pngfile", ONE),
    exact("cbffile", ONE),
    exact("h5file", ONE),
    exact("npyfile", ONE),
    exact("frames", ONE),
    exact("backend", ONE),
    // clap's own
    spec("help", &["h"], &[], &["h"], FLAG),
    exact("version", FLAG),
];

/// Spellings C nanoBragg silently ignores although its documentation or users use them, with
/// the option that was most likely meant.
const IGNORED_BY_C: &[(&str, &str)] = &[
    ("hdiv", "hdivrange"),
    ("vdiv", "vdivrange"),
    ("dispstep", "dispsteps"),
    ("detsize_x", "detsize_f"),
    ("detsize_y", "detsize_s"),
    ("xdet_vector", "fdet_vector"),
    ("ydet_vector", "sdet_vector"),
    ("zdet_vector", "odet_vector"),
    ("detector_twotheta", "twotheta"),
    ("thick", "detector_thick"),
    ("trace_pixel", "printout_pixel"),
    ("source_distance", ""),
    ("source_dist", ""),
    ("precision", ""),
];

/// The result of [`normalize_detailed`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Normalized {
    /// clap-ready tokens (without the program name).
    pub tokens: Vec<String>,
    /// Remarks about quirky spellings the user typed, in argv order (become `CliArgs::warnings`).
    pub notes: Vec<String>,
}

/// Looks up an option name (dashes already stripped): exact spellings first, then the longest
/// matching C prefix pattern.
pub fn lookup(name: &str) -> Option<&'static OptionSpec> {
    if name.is_empty() {
        return None;
    }
    if let Some(s) = OPTIONS
        .iter()
        .find(|s| s.name == name || s.exact.contains(&name))
    {
        return Some(s);
    }
    OPTIONS
        .iter()
        .flat_map(|s| s.patterns().map(move |p| (p, s)))
        .filter(|(p, _)| !p.is_empty() && name.starts_with(*p))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, s)| s)
}

/// True when `token` is a number (possibly negative), e.g. `-0.5`, `-1e-3`, `-.5`, `12`.
pub fn is_number(token: &str) -> bool {
    let body = token
        .strip_prefix('-')
        .or_else(|| token.strip_prefix('+'))
        .unwrap_or(token);
    let starts_ok = matches!(body.as_bytes(), [b'0'..=b'9', ..] | [b'.', b'0'..=b'9', ..]);
    starts_ok && body.parse::<f64>().is_ok()
}

/// True when `token` is written like an option: starts with `-` and is not a number.
pub fn is_option_like(token: &str) -> bool {
    token.starts_with('-') && !is_number(token)
}

/// Turns the user's argv (without the program name) into clap-ready tokens.
///
/// Every option token is replaced by `--<canonical>`; values are passed through untouched.
/// Errors ([`Error::Usage`]): unknown option (with a suggestion), missing values, stray values.
pub fn normalize(argv: &[String]) -> Result<Vec<String>> {
    normalize_detailed(argv).map(|n| n.tokens)
}

/// [`normalize`], also returning remarks about quirky C spellings (e.g. `-pix0_vector_mm`).
pub fn normalize_detailed(argv: &[String]) -> Result<Normalized> {
    let mut out = Normalized::default();
    let mut i = 0;
    // The last option seen and how many values it took, for stray-value messages.
    let mut previous: Option<(String, &'static OptionSpec)> = None;
    while i < argv.len() {
        let token = &argv[i];
        i += 1;
        if !is_option_like(token) {
            return Err(stray_value(token, previous.as_ref()));
        }
        let stripped = token
            .strip_prefix("--")
            .or_else(|| token.strip_prefix('-'))
            .unwrap_or(token);
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (stripped, None),
        };
        let Some(opt) = lookup(name) else {
            return Err(unknown_option(token, name));
        };
        previous = Some((token.clone(), opt));
        let canonical = format!("--{}", opt.name);
        if let Some(v) = inline {
            if opt.arity != Arity::Exactly(1) {
                return Err(Error::usage(
                    token.as_str(),
                    match opt.arity {
                        Arity::Flag | Arity::OptionalDummy => "takes no value".to_string(),
                        _ => format!(
                            "takes {}; write them after -{} separated by spaces",
                            values_wanted(opt.arity),
                            opt.name
                        ),
                    },
                ));
            }
            out.tokens.push(format!("{canonical}={v}"));
            continue;
        }
        if opt.name == "pix0_vector" && name.starts_with("pix0_vector_mm") {
            out.notes.push(format!(
                "{token} is the same as -pix0_vector: its values are in metres, not mm (as in C nanoBragg)"
            ));
        }
        match opt.arity {
            Arity::Flag => {
                out.tokens.push(canonical);
                if opt.name == "help" || opt.name == "version" {
                    // Like clap, stop at help/version: whatever follows is not checked.
                    return Ok(out);
                }
            }
            Arity::OptionalDummy => {
                out.tokens.push(canonical);
                if let Some(next) = argv.get(i)
                    && !is_option_like(next)
                {
                    i += 1;
                }
            }
            Arity::Exactly(n) => {
                let values = take_values(argv, i, n);
                if values.len() < n {
                    return Err(missing_values(
                        token,
                        opt,
                        values.len(),
                        argv.get(i + values.len()),
                    ));
                }
                i += n;
                if n == 1 {
                    out.tokens.push(format!("{canonical}={}", values[0]));
                } else {
                    out.tokens.push(canonical);
                    out.tokens.extend(values.iter().map(|v| v.to_string()));
                }
            }
            Arity::Misset => {
                if let Some(next) = argv.get(i)
                    && next.contains("rand")
                {
                    i += 1;
                    out.tokens.push(format!("{canonical}={next}"));
                    continue;
                }
                let values = take_values(argv, i, 3);
                if values.len() < 3 {
                    return Err(missing_values(
                        token,
                        opt,
                        values.len(),
                        argv.get(i + values.len()),
                    ));
                }
                i += 3;
                out.tokens.push(canonical);
                out.tokens.extend(values.iter().map(|v| v.to_string()));
            }
            Arity::Cell => {
                let count = argv[i..]
                    .iter()
                    .take(6)
                    .take_while(|t| !t.starts_with('-'))
                    .count();
                if count == 0 {
                    return Err(missing_values(token, opt, 0, argv.get(i)));
                }
                out.tokens.push(canonical);
                out.tokens.extend(argv[i..i + count].iter().cloned());
                i += count;
            }
        }
    }
    Ok(out)
}

/// Up to `n` tokens from `argv[start..]` that can be values (stops at the first option).
fn take_values(argv: &[String], start: usize, n: usize) -> Vec<&str> {
    argv.get(start..)
        .unwrap_or_default()
        .iter()
        .take(n)
        .take_while(|t| !is_option_like(t))
        .map(String::as_str)
        .collect()
}

/// Human description of what an option expects.
fn values_wanted(arity: Arity) -> String {
    match arity {
        Arity::Flag | Arity::OptionalDummy => "no value".to_string(),
        Arity::Exactly(1) => "1 value".to_string(),
        Arity::Exactly(n) => format!("{n} values"),
        Arity::Cell => "1 to 6 values (a [b c [alpha beta gamma]])".to_string(),
        Arity::Misset => {
            "3 values (rotations about x, y, z in degrees) or the word random".to_string()
        }
    }
}

fn missing_values(token: &str, opt: &OptionSpec, got: usize, next: Option<&String>) -> Error {
    let found = match next {
        None if got == 0 => "but it is the last argument".to_string(),
        None => format!("but only {got} follow before the end of the command line"),
        Some(n) if got == 0 => format!("but it is followed by the option {n}"),
        Some(n) => format!("but only {got} follow before the option {n}"),
    };
    Error::usage(
        token,
        format!("missing value: needs {}, {found}", values_wanted(opt.arity)),
    )
}

fn stray_value(token: &str, previous: Option<&(String, &'static OptionSpec)>) -> Error {
    let reason = match previous {
        None => {
            "unexpected value: every value must follow its option (e.g. -hkl P1.hkl)".to_string()
        }
        Some((typed, opt)) => format!(
            "unexpected value after {typed}, which takes {}",
            values_wanted(opt.arity)
        ),
    };
    Error::usage(token, reason)
}

fn unknown_option(token: &str, name: &str) -> Error {
    if name.is_empty() {
        return Error::usage(
            token,
            "unknown option; options are written like -hkl or --hkl (run nanobragg -help)",
        );
    }
    if let Some((_, meant)) = IGNORED_BY_C.iter().find(|(n, _)| *n == name) {
        let reason = if meant.is_empty() {
            "unknown option (C nanoBragg silently ignores it); remove it".to_string()
        } else {
            format!("unknown option (C nanoBragg silently ignores it); did you mean -{meant}?")
        };
        return Error::usage(token, reason);
    }
    let reason = match suggest(name) {
        Some(s) if s.eq_ignore_ascii_case(name) => {
            format!("unknown option (options are case-sensitive); did you mean -{s}?")
        }
        Some(s) => format!("unknown option; did you mean -{s}?"),
        None => "unknown option (run nanobragg -help for the list)".to_string(),
    };
    Error::usage(token, reason)
}

/// The accepted spelling closest to `name` (without dashes), if any is reasonably close.
pub fn suggest(name: &str) -> Option<&'static str> {
    // A spelling C only accepts exactly, typed with something appended (-phi0, -polarization).
    let extended = OPTIONS
        .iter()
        .filter(|s| !s.name_is_prefix)
        .flat_map(|s| std::iter::once(&s.name).chain(s.exact.iter()))
        .filter(|cand| {
            name.strip_prefix(**cand).is_some_and(|rest| {
                cand.len() >= 2 || !rest.starts_with(|c: char| c.is_ascii_alphabetic())
            })
        })
        .max_by_key(|cand| cand.len());
    if let Some(cand) = extended {
        return Some(cand);
    }
    let lower = name.to_lowercase();
    let max = (name.chars().count() / 3 + 1).clamp(1, 4);
    OPTIONS
        .iter()
        .flat_map(|s| std::iter::once(&s.name).chain(s.aliases.iter()))
        .map(|cand| {
            let insensitive = edit_distance(&lower, &cand.to_lowercase());
            let sensitive = edit_distance(name, cand);
            // Abbreviations ("-oversamp", "-detpix") are likely meant as the longer option.
            let prefix_bonus = usize::from(!cand.to_lowercase().starts_with(&lower));
            ((insensitive, prefix_bonus, sensitive, cand.len()), *cand)
        })
        .filter(|((d, _, _, _), _)| *d <= max)
        .min_by_key(|(key, _)| *key)
        .map(|(_, cand)| cand)
}

/// Rewrites `--name` to `-name` for every option of [`OPTIONS`] (and its exact spellings), so
/// clap's help and error texts show options the way nanoBragg users type them.
pub fn single_dash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(pos) = rest.find("--") {
        let before = &rest[..pos];
        out.push_str(before);
        let last = before.chars().next_back().or(prev);
        let after = &rest[pos + 2..];
        let ident_len = after
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(after.len(), |(k, _)| k);
        let ident = &after[..ident_len];
        let boundary_ok =
            !matches!(last, Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let known = OPTIONS
            .iter()
            .any(|s| s.name == ident || s.exact.contains(&ident));
        if boundary_ok && known && !ident.is_empty() {
            out.push('-');
            out.push_str(ident);
        } else {
            out.push_str("--");
            out.push_str(ident);
        }
        prev = ident.chars().next_back().or(Some('-'));
        rest = &after[ident_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn norm(s: &str) -> Vec<String> {
        match normalize(&argv(s)) {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match normalize(&argv(s)) {
            Ok(t) => panic!("{s}: expected an error, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn canon(token: &str) -> &'static str {
        match lookup(token.trim_start_matches('-')) {
            Some(s) => s.name,
            None => panic!("{token} not recognised"),
        }
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for s in OPTIONS {
            assert!(seen.insert(s.name), "duplicate {}", s.name);
            assert_eq!(canon(s.name), s.name, "canonical {}", s.name);
            for a in s.aliases.iter().chain(s.exact) {
                assert_eq!(canon(a), s.name, "alias {a}");
            }
            for p in s.patterns() {
                assert!(!p.is_empty(), "{} has an empty prefix", s.name);
            }
        }
    }

    #[test]
    fn c_aliases_map_to_canonical() {
        let cases = [
            ("-matrix", "mat"),
            ("-wavelength", "lambda"),
            ("-wave", "lambda"),
            ("-mosaic_spread", "mosaic"),
            ("-mosaicity", "mosaic"),
            ("-mosaic_domains", "mosaic_domains"),
            ("-mosaic_dom", "mosaic_domains"),
            ("-adcoffset", "adc"),
            ("-detector_absorb", "detector_absorb"),
            ("-detector_abs", "detector_absorb"),
            ("-detector_absorption", "detector_absorb"),
            ("-sample_height", "xtal_height"),
            ("-height", "xtal_height"),
            ("-heigh", "xtal_height"),
            ("-xtal_z", "xtal_height"),
            ("-width", "xtal_width"),
            ("-sample_y", "xtal_width"),
            ("-sample_thick", "xtal_thick"),
            ("-sample_x", "xtal_thick"),
            ("-floatimage", "floatfile"),
            ("-intimage", "intfile"),
            ("-noiseimage", "noisefile"),
            ("-pgmimage", "pgmfile"),
            ("-pix0_vector_mm", "pix0_vector"),
            ("-thicksteps", "detector_thicksteps"),
            ("-detector_thicksteps", "detector_thicksteps"),
            ("-xtal_size", "xtalsize"),
            ("-samplesize", "xtalsize"),
            ("-sample_size", "xtalsize"),
            ("-sample_density", "density"),
            ("-molecular_weight", "MW"),
            ("-binary_spots", "tophat_spots"),
            ("-detpixels_f", "detpixels_x"),
            ("-detpixels_s", "detpixels_y"),
            ("-oscillation", "osc"),
            ("-hklfile", "hkl"),
            ("-threads", "nthreads"),
            ("--threads", "nthreads"),
            ("-h", "help"),
            ("-help", "help"),
            ("--help", "help"),
            ("-version", "version"),
            ("-dump_pixel", "dump"),
            ("-pixelsize", "pixel"),
        ];
        for (tok, want) in cases {
            assert_eq!(canon(tok), want, "{tok}");
        }
    }

    #[test]
    fn exact_guards_and_longest_prefix() {
        for (tok, want) in [
            ("-misset_seed", "misset_seed"),
            ("-misset", "misset"),
            ("-twotheta_axis", "twotheta_axis"),
            ("-twotheta", "twotheta"),
            ("-printout_pixel", "printout_pixel"),
            ("-printout", "printout"),
            ("-oversample_thick", "oversample_thick"),
            ("-oversample", "oversample"),
            ("-mosaic_seed", "mosaic_seed"),
            ("-phisteps", "phisteps"),
            ("-phistep", "phistep"),
            ("-phi", "phi"),
            ("-hdivsteps", "hdivsteps"),
            ("-hdivstep", "hdivstep"),
            ("-detpixels", "detpixels"),
            ("-detsize", "detsize"),
            ("-detector_thick", "detector_thick"),
            ("-polar", "polar"),
            ("-polar_vector", "polar_vector"),
            ("-stolout", "stolout"),
            ("-N", "N"),
            ("-Na", "Na"),
            ("-pgmscale", "pgmscale"),
            ("-noprogress", "noprogress"),
            ("-nointerpolate", "nointerpolate"),
        ] {
            assert_eq!(canon(tok), want, "{tok}");
        }
        for tok in [
            "phix",
            "polarx",
            "detsizex",
            "detpixelsx",
            "Nx",
            "stolx",
            "Qx",
            "MWx",
            "mosaicx",
            "detector_thickness",
            "thick",
            "hdiv",
            "n",
            "compatx",
            "",
        ] {
            assert!(lookup(tok).is_none(), "{tok} should be unknown");
        }
    }

    #[test]
    fn numbers() {
        for t in ["-0.5", "-1e-3", "-.5", "12", "-12.5", "1e30", "+3", "-5."] {
            assert!(is_number(t), "{t}");
        }
        for t in [
            "-hkl", "-e", "-inf", "-nan", "-", "--", "-.", "-1x", "random",
        ] {
            assert!(!is_number(t), "{t}");
        }
    }

    #[test]
    fn values_pass_through() {
        assert_eq!(
            norm("-misset -12.5 3 0.5 -lambda -1e-3 -hkl P1.hkl"),
            [
                "--misset",
                "-12.5",
                "3",
                "0.5",
                "--lambda=-1e-3",
                "--hkl=P1.hkl"
            ]
        );
        assert_eq!(
            norm("-fdet_vector -.5 0 -1 -roi 1 2 3 4 -printout_pixel 5 6"),
            [
                "--fdet_vector",
                "-.5",
                "0",
                "-1",
                "--roi",
                "1",
                "2",
                "3",
                "4",
                "--printout_pixel",
                "5",
                "6"
            ]
        );
        assert_eq!(norm("--hkl=x.hkl -nonoise"), ["--hkl=x.hkl", "--nonoise"]);
    }

    #[test]
    fn cell_counts() {
        assert_eq!(norm("-cell 100"), ["--cell", "100"]);
        assert_eq!(norm("-cell 100 -N 5"), ["--cell", "100", "--N=5"]);
        assert_eq!(
            norm("-cell 70 80 90 75 85 95 -N 5"),
            ["--cell", "70", "80", "90", "75", "85", "95", "--N=5"]
        );
        let e = err("-cell 1 2 3 4 5 6 7");
        assert!(e.contains("unexpected value after -cell"), "{e}");
        let e = err("-cell -hkl x");
        assert!(e.contains("missing value"), "{e}");
    }

    #[test]
    fn misset_forms() {
        assert_eq!(norm("-misset random"), ["--misset=random"]);
        assert_eq!(
            norm("-misset randomize -N 2"),
            ["--misset=randomize", "--N=2"]
        );
        let e = err("-misset 1 2");
        assert!(e.starts_with("-misset: missing value"), "{e}");
        assert!(e.contains("random"), "{e}");
        // Q3: -misset_seed is only the seed.
        assert_eq!(norm("-misset_seed 99"), ["--misset_seed=99"]);
    }

    #[test]
    fn missing_values_are_errors() {
        let e = err("-lambda 1 -hkl");
        assert_eq!(
            e,
            "-hkl: missing value: needs 1 value, but it is the last argument"
        );
        let e = err("-hkl -lambda 1");
        assert!(e.contains("followed by the option -lambda"), "{e}");
        let e = err("-beam_vector 1 0");
        assert!(
            e.starts_with("-beam_vector: missing value: needs 3 values"),
            "{e}"
        );
        let e = err("-detector_abs");
        assert!(e.starts_with("-detector_abs: missing value"), "{e}");
        let e = err("-roi 1 2 3 -nonoise");
        assert!(e.contains("needs 4 values, but only 3 follow"), "{e}");
    }

    #[test]
    fn unknown_options_suggest() {
        assert_eq!(
            err("-lamda 1"),
            "-lamda: unknown option; did you mean -lambda?"
        );
        assert!(err("-distnace 100").ends_with("did you mean -distance?"));
        assert!(err("-xbeam 3").contains("case-sensitive); did you mean -Xbeam?"));
        assert!(err("-hdiv 1").contains("did you mean -hdivrange?"));
        assert!(err("-detsize_x 1").contains("did you mean -detsize_f?"));
        assert!(err("-oversamp 2").ends_with("did you mean -oversample?"));
        assert!(err("-detector_thickness 5").ends_with("did you mean -detector_thick?"));
        assert!(err("-phi0 5").ends_with("did you mean -phi?"));
        assert!(err("-N5").ends_with("did you mean -N?"));
        assert!(!err("-hello").contains("did you mean -h?"));
        assert!(err("-zzzzzzzzzzzz").contains("run nanobragg -help"));
        assert!(err("5").contains("unexpected value"));
        assert!(err("-nonoise=1").contains("takes no value"));
    }

    #[test]
    fn curved_det_dummy() {
        assert_eq!(norm("-curved_det 1 -N 2"), ["--curved_det", "--N=2"]);
        assert_eq!(norm("-curved_det -N 2"), ["--curved_det", "--N=2"]);
        assert_eq!(norm("-curved_det"), ["--curved_det"]);
    }

    #[test]
    fn help_stops_processing() {
        assert_eq!(norm("-help -bogus"), ["--help"]);
        assert_eq!(norm("-N 2 -h"), ["--N=2", "--help"]);
    }

    #[test]
    fn pix0_mm_note() {
        let n = normalize_detailed(&argv("-pix0_vector_mm 0.1 0 0")).unwrap_or_default();
        assert_eq!(n.tokens, ["--pix0_vector", "0.1", "0", "0"]);
        assert_eq!(n.notes.len(), 1);
        assert!(n.notes[0].contains("metres"));
    }

    #[test]
    fn single_dash_rewrite() {
        assert_eq!(
            single_dash("  --hkl <FILE>  use --lambda, not --bogus; a--hkl x [aliases: --threads]"),
            "  -hkl <FILE>  use -lambda, not --bogus; a--hkl x [aliases: -threads]"
        );
        assert_eq!(single_dash("'--N <N>'"), "'-N <N>'");
    }
}
