//! Command-line front end (clap). Each subcommand lives in its own module; `main.rs` only dispatches.

pub mod bench;
pub mod bpf;
pub mod demo;
pub mod explore;
pub mod image;
pub mod run;
pub mod transparency;

use std::process::ExitCode;

/// Prints a one-line error and returns the failure exit code.
pub fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("probesim: {msg}");
    ExitCode::from(2)
}
