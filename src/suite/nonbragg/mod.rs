//! `nonbragg`: not written yet.

use std::io::Write;

use crate::error::{Error, Result};

/// The `nanobragg nonbragg` subcommand.
pub fn main(_argv: &[String], _out: &mut dyn Write) -> Result<()> {
    Err(Error::Unsupported {
        option: "nonbragg".into(),
    })
}
