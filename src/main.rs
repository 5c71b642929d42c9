//! The `nanobragg` command: nanoBragg command lines in, diffraction images out.
//!
//! Exit status: 0 on success, 2 for usage errors (bad options, missing inputs, invalid
//! parameters), 1 for runtime failures (an input file cannot be read or parsed, an output
//! cannot be written).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use nanobragg::cli::{self, ParseOutcome};

fn run() -> anyhow::Result<ExitCode> {
    nanobragg::cpu::check()?;
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some((name, rest)) = argv.split_first() {
        let stdout = std::io::stdout();
        if let Some(done) = nanobragg::suite::run(name, rest, &mut stdout.lock()) {
            done?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let args = match cli::parse(&argv)? {
        ParseOutcome::Exit { text, code } => {
            print!("{text}");
            return Ok(ExitCode::from(code));
        }
        ParseOutcome::Run(args) => args,
    };
    if let Some(n) = args.nthreads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    let job = cli::to_job(&args)?;
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let mut sink = std::io::sink();
    let out: &mut dyn Write = if args.quiet { &mut sink } else { &mut lock };
    cli::execute(&job, out)?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            let code = e
                .downcast_ref::<nanobragg::Error>()
                .map_or(1, nanobragg::Error::exit_code);
            eprintln!("nanobragg: error: {e:#}");
            ExitCode::from(code)
        }
    }
}
