//! Command-line front end (clap). Each subcommand lives in its own module; `main.rs` only dispatches.

/// `print!` for the command-line front end: see [`write_stdout`].
macro_rules! out {
    ($($t:tt)*) => {
        $crate::cli::write_stdout(format_args!($($t)*))
    };
}

/// `println!` for the command-line front end: see [`write_stdout`].
macro_rules! outln {
    () => {
        $crate::cli::write_stdout(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($t)*)))
    };
}

pub mod bench;
pub mod bpf;
pub mod demo;
pub mod explore;
pub mod image;
pub mod museum;
pub mod run;
pub mod trace;
pub mod transparency;

use std::io::Write as _;
use std::process::ExitCode;

/// Writes to standard output. A reader that went away (`probesim run … | head`: `EPIPE`) ends the program quietly
/// with exit status 0, as a filter whose output nobody reads has nothing left to do (`print!` panicked with "failed
/// printing to stdout: Broken pipe"). Any other write error ends it with a one-line message and status 2.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("probesim: standard output: {e}");
        std::process::exit(2);
    }
}

/// Prints a one-line error and returns the failure exit code.
pub fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("probesim: {msg}");
    ExitCode::from(2)
}
