//! `probesim run SCENARIO`.

use crate::runner;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, one line per event.
    Text,
    /// JSON lines, one event per line (schema in docs/trace-format.md).
    Json,
}

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print only the SHA-256 of the event log.
    #[arg(long)]
    pub hash: bool,
}

/// Runs a scenario and prints its log. Exit 0 on success, 1 if a CPU oopsed or the budget ran out with work
/// left, 2 for bad input.
pub fn run(args: &RunArgs) -> ExitCode {
    let report = match runner::run_file(&args.scenario) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    if args.hash {
        println!("{}", report.log.hash());
    } else {
        match args.format {
            Format::Text => print!("{}", report.to_text()),
            Format::Json => print!("{}", report.log.to_json_lines()),
        }
    }
    match report.failure() {
        Some(msg) => {
            eprintln!("probesim: {msg}");
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}
