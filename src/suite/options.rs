//! The command lines of noisify, nonBragg and nearBragg, taken as their C programs take them.
//!
//! The C programs test every argument that starts with `-` against every option with
//! `strstr`, so an option matches wherever its name appears in the argument, and one argument
//! can set several options. The spellings users type are those names, some of them shortened
//! (`-psf_fw` for `-psf_fwhm`, `-readnoi` for `-readnoise`). Here each option lists the
//! spellings it accepts: a spelling marked as a prefix matches every argument that starts with
//! it (`-psf_fw`, `-psf_fwhm`), the others only themselves. Where several spellings match, the
//! longest wins. An argument that matches none is a usage error that names the closest
//! accepted spelling, where C would silently ignore it.
//!
//! Values follow their option as separate arguments, as many as the option takes, and may
//! start with `-` (`-sdet_vector 0 -1 0`). Arguments that are not options are collected in
//! order ([`Args::positional`]); each program decides what they mean.

use crate::error::{Error, Result};
use crate::spelling::edit_distance;

/// One option of a C program.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The spellings it accepts, dash included; the first is the name shown in the help and
    /// used to look it up in [`Args`].
    pub names: &'static [&'static str],
    /// Whether an argument that only starts with one of the spellings matches too (C's `strstr`
    /// on a shortened name such as `-psf_fw`).
    pub prefix: bool,
    /// The placeholder of each value in the help (`"FILE"`, `"MM"`, `"X Y Z"`); empty for a
    /// switch. The number of values is the number of words in it.
    pub values: &'static str,
    /// One line of help.
    pub help: &'static str,
}

impl Spec {
    /// How many values follow the option.
    pub fn arity(&self) -> usize {
        self.values.split_whitespace().count()
    }

    /// The length of the longest spelling `arg` matches, if any.
    fn matches(&self, arg: &str) -> Option<usize> {
        self.names
            .iter()
            .filter(|n| arg == **n || (self.prefix && arg.starts_with(**n)))
            .map(|n| n.len())
            .max()
    }
}

/// One option as it appeared on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The option's name (the first spelling of its [`Spec`]).
    pub name: &'static str,
    /// The argument as typed.
    pub typed: String,
    /// Its values.
    pub values: Vec<String>,
}

/// A parsed command line: the options in the order given and the other arguments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args {
    /// Every option occurrence, in command-line order.
    pub items: Vec<Item>,
    /// Arguments that are not options, in order.
    pub positional: Vec<String>,
}

/// What a command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// `-help`, `-h` or `--help`: print this text and stop.
    Help(String),
    /// Run with these arguments.
    Run(Args),
}

/// Parse `argv` (without the program name) against `specs`. `program` names the subcommand in
/// messages and `about` heads the help text.
pub fn parse(program: &str, about: &str, argv: &[String], specs: &[Spec]) -> Result<Parsed> {
    let mut args = Args::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        if ["-help", "-h", "--help", "-?"].contains(&arg.as_str()) {
            return Ok(Parsed::Help(help(program, about, specs)));
        }
        if !arg.starts_with('-') || arg.len() < 2 || arg.parse::<f64>().is_ok() {
            args.positional.push(arg.clone());
            continue;
        }
        let spec = specs
            .iter()
            .filter_map(|s| s.matches(arg).map(|len| (len, s)))
            .max_by_key(|(len, _)| *len)
            .map(|(_, s)| s)
            .ok_or_else(|| unknown(program, arg, specs))?;
        let n = spec.arity();
        if argv.len() - i < n {
            let reason = format!("needs {n} value(s): {}", spec.values);
            return Err(Error::usage(arg, reason));
        }
        args.items.push(Item {
            name: spec.names[0],
            typed: arg.clone(),
            values: argv[i..i + n].to_vec(),
        });
        i += n;
    }
    Ok(Parsed::Run(args))
}

/// The usage error for an argument no option matches, with the closest spelling.
fn unknown(program: &str, arg: &str, specs: &[Spec]) -> Error {
    let closest = specs
        .iter()
        .flat_map(|s| s.names.iter())
        .map(|n| (edit_distance(arg, n), *n))
        .filter(|(d, _)| *d <= (arg.chars().count() / 3 + 1).clamp(1, 4))
        .min();
    let reason = match closest {
        Some((_, name)) => format!("unknown option of {program}; did you mean {name}?"),
        None => format!("unknown option of {program} (run nanobragg {program} -help for the list)"),
    };
    Error::usage(arg, reason)
}

/// The help text: `about`, then one line per option.
pub fn help(program: &str, about: &str, specs: &[Spec]) -> String {
    let mut text = format!("{about}\n\nUsage: nanobragg {program} [OPTIONS]\n\nOptions:\n");
    let rows: Vec<(String, &str)> = specs
        .iter()
        .map(|s| (format!("{} {}", s.names.join(", "), s.values), s.help))
        .collect();
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).min(40);
    for (left, help) in rows {
        text += &format!("  {:width$}  {help}\n", left.trim_end());
    }
    text + "  -help  Print this help\n"
}

impl Args {
    /// The last occurrence of option `name` (C keeps the last value given).
    pub fn last(&self, name: &str) -> Option<&Item> {
        self.items.iter().rev().find(|it| it.name == name)
    }

    /// Whether option `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.last(name).is_some()
    }

    /// Every occurrence of option `name`, in order (repeatable options such as `-ignore`).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |it| it.name == name)
    }

    /// The last value of option `name` as text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.last(name)
            .and_then(|it| it.values.last())
            .map(String::as_str)
    }

    /// The values of the last occurrence of option `name` as finite numbers.
    pub fn numbers(&self, name: &str) -> Result<Option<Vec<f64>>> {
        self.last(name).map(Item::numbers).transpose()
    }

    /// The single value of the last occurrence of option `name` as a finite number.
    pub fn number(&self, name: &str) -> Result<Option<f64>> {
        Ok(self.numbers(name)?.and_then(|v| v.first().copied()))
    }

    /// The single value of the last occurrence of option `name` as a whole number ≥ 0.
    pub fn count(&self, name: &str) -> Result<Option<usize>> {
        self.last(name).map(|it| it.count(0)).transpose()
    }
}

impl Item {
    /// Every value as a finite number; an error names the option and the value.
    pub fn numbers(&self) -> Result<Vec<f64>> {
        self.values
            .iter()
            .map(|v| match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(Error::usage(
                    &self.typed,
                    format!("expected a finite number, got '{v}'"),
                )),
            })
            .collect()
    }

    /// Value `i` as a whole number, negative allowed (C's `atoi` of a well-formed number).
    pub fn integer(&self, i: usize) -> Result<i64> {
        let v = &self.values[i];
        v.trim()
            .parse::<i64>()
            .map_err(|_| Error::usage(&self.typed, format!("expected a whole number, got '{v}'")))
    }

    /// Value `i` as a whole number ≥ 0.
    pub fn count(&self, i: usize) -> Result<usize> {
        let v = &self.values[i];
        v.trim().parse::<usize>().map_err(|_| {
            let reason = format!("expected a whole number of at least 0, got '{v}'");
            Error::usage(&self.typed, reason)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        Spec {
            names: &["-distance"],
            prefix: false,
            values: "MM",
            help: "sample to detector",
        },
        Spec {
            names: &["-psf_fwhm", "-psf_fw", "-psf_size", "-psf_si"],
            prefix: true,
            values: "UM",
            help: "spread",
        },
        Spec {
            names: &["-psf"],
            prefix: false,
            values: "KIND",
            help: "kind",
        },
        Spec {
            names: &["-sdet_vector"],
            prefix: false,
            values: "X Y Z",
            help: "slow axis",
        },
        Spec {
            names: &["-nonoise"],
            prefix: false,
            values: "",
            help: "no noise",
        },
    ];

    fn run(line: &str) -> Result<Args> {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        match parse("noisify", "about", &argv, SPECS)? {
            Parsed::Run(a) => Ok(a),
            Parsed::Help(_) => panic!("help"),
        }
    }

    #[test]
    fn spellings_values_and_order() {
        let a = run("in.bin -psf gauss -psf_fwhm_um 30 -sdet_vector 0 -1 0 -nonoise -psf_si 40")
            .unwrap();
        assert_eq!(a.positional, ["in.bin"]);
        assert_eq!(a.text("-psf"), Some("gauss"));
        assert_eq!(a.number("-psf_fwhm").unwrap(), Some(40.0));
        assert_eq!(a.all("-psf_fwhm").count(), 2);
        assert_eq!(
            a.numbers("-sdet_vector").unwrap(),
            Some(vec![0.0, -1.0, 0.0])
        );
        assert!(a.has("-nonoise") && !a.has("-distance"));
    }

    #[test]
    fn errors_name_the_option() {
        let e = run("-distnace 100").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "-distnace: unknown option of noisify; did you mean -distance?"
        );
        let e = run("-sdet_vector 0 1").unwrap_err().to_string();
        assert_eq!(e, "-sdet_vector: needs 3 value(s): X Y Z");
        let e = run("-distance far")
            .unwrap()
            .number("-distance")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "-distance: expected a finite number, got 'far'"
        );
        assert!(
            run("-distance_x 5").is_err(),
            "exact spellings do not match longer words"
        );
    }

    #[test]
    fn help_lists_every_option() {
        let argv = vec!["-distance".to_string(), "1".into(), "-help".into()];
        let Parsed::Help(text) = parse("noisify", "about", &argv, SPECS).unwrap() else {
            panic!("no help");
        };
        for s in SPECS {
            assert!(text.contains(s.names[0]), "{text}");
        }
    }
}
