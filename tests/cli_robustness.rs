//! Random command lines never make the library panic: parsing, conversion to `Params`, setup
//! and (for small images) rendering either succeed or return a typed error.

use nanobragg::cli::tokens::{Arity, OPTIONS, OptionSpec};
use nanobragg::cli::{self, ParseOutcome};
use nanobragg::engine::{self, Backend};
use nanobragg::setup::Setup;
use proptest::prelude::*;

/// Options whose values name files, or which write files or are slow by nature, are left out:
/// the test must not touch the working directory.
const SKIP: &[&str] = &[
    "hkl",
    "dump",
    "mat",
    "img",
    "mask",
    "sourcefile",
    "stol",
    "4stol",
    "Q",
    "stolout",
    "floatfile",
    "intfile",
    "noisefile",
    "pgmfile",
    "pngfile",
    "printout",
    "printout_pixel",
    "nthreads",
];

const VALUES: &[&str] = &[
    "0", "1", "2", "-1", "3", "7", "16", "90", "100", "-0.5", "1e309", "-1e309", "nan", "inf",
    "abc", "random", "0.001", "1e-12", "45", "180", "", "-", "1e6", "0.1", "-90",
];

/// One option with a plausible number of values (its own arity most of the time).
fn option() -> impl Strategy<Value = Vec<String>> {
    let specs: Vec<&'static OptionSpec> =
        OPTIONS.iter().filter(|o| !SKIP.contains(&o.name)).collect();
    (
        prop::sample::select(specs),
        prop::collection::vec(prop::sample::select(VALUES), 0..7),
        0..10u8,
    )
        .prop_map(|(spec, values, dice)| {
            let wanted = match spec.arity {
                Arity::Flag | Arity::OptionalDummy => 0,
                Arity::Exactly(n) => n,
                Arity::Cell => 6,
                Arity::Misset => 3,
            };
            // Mostly the right number of values; sometimes a wrong one.
            let n = if dice < 8 {
                wanted.min(values.len())
            } else {
                values.len()
            };
            let mut v = vec![format!("-{}", spec.name)];
            v.extend(values.iter().take(n).map(|s| s.to_string()));
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_command_lines_do_not_panic(options in prop::collection::vec(option(), 0..8)) {
        // A base that makes most lines complete, so setup and rendering are exercised too.
        let mut argv: Vec<String> = "-cell 60 70 80 90 90 90 -default_F 10 -detpixels 8 -nonoise"
            .split_whitespace()
            .map(str::to_string)
            .collect();
        argv.extend(options.into_iter().flatten());
        let Ok(ParseOutcome::Run(args)) = cli::parse(&argv) else { return Ok(()) };
        let Ok(job) = cli::to_job(&args) else { return Ok(()) };
        let Ok(setup) = Setup::new(&job.params) else { return Ok(()) };
        let d = &setup.detector;
        let work = (d.fpixels * d.spixels * setup.oversample * setup.oversample) as f64
            * setup.sources.len() as f64
            * setup.orientations.len() as f64
            * setup.layers.count as f64;
        if work < 2e5 {
            let img = engine::render(&setup, Backend::Scalar);
            prop_assert_eq!(img.pixels.len(), d.fpixels * d.spixels);
        }
    }
}
