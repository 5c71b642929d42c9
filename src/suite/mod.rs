//! The rest of the nanoBragg suite: `noisify` (the detector's noise on a float image),
//! `nonBragg` (amorphous background from sinθ/λ tables) and `nearBragg` (the near-field,
//! atom-by-atom image), each a library module and a subcommand of the `nanobragg` binary that
//! takes the C program's command line.
//!
//! [`run`] is the subcommand entry point: it parses the command line with [`options`] against
//! the program's option table, reads the inputs, renders, writes the outputs atomically and
//! prints the C program's log.

use std::io::Write;

use crate::error::Result;

pub mod nearbragg;
pub mod noisify;
pub mod nonbragg;
pub mod options;
pub mod smv;

/// The subcommands, as typed after `nanobragg`.
pub const SUBCOMMANDS: [&str; 3] = ["noisify", "nonbragg", "nearbragg"];

/// Run subcommand `name` (one of [`SUBCOMMANDS`], any case) with the arguments that follow it,
/// printing its log to `out`. `None` when `name` is not a subcommand.
pub fn run(name: &str, argv: &[String], out: &mut dyn Write) -> Option<Result<()>> {
    Some(match name.to_ascii_lowercase().as_str() {
        "noisify" => noisify::main(argv, out),
        "nonbragg" => nonbragg::main(argv, out),
        "nearbragg" => nearbragg::main(argv, out),
        _ => return None,
    })
}
