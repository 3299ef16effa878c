//! `probesim trace SCENARIO -e 'PROGRAM'` / `-f FILE.bt`: a bpftrace program on the scenario's machine, image and
//! tasks, printed as bpftrace prints it (docs/bpftrace.md).

use crate::bpftrace::{trace, TraceOptions};
use crate::scenario::Scenario;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `trace`.
#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// The scenario (TOML): machine, image and tasks. Its own `[[bpf]]` programs are replaced by the one-liner.
    pub scenario: PathBuf,
    /// The program text.
    #[arg(short = 'e', value_name = "PROGRAM", conflicts_with = "file", required_unless_present = "file")]
    pub program: Option<String>,
    /// A program file (`.bt`).
    #[arg(short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print each program's bytecode (the project's assembler syntax) and its maps; run nothing.
    #[arg(short = 'd')]
    pub dump: bool,
}

/// Runs `probesim trace`.
pub fn run(a: &TraceArgs) -> ExitCode {
    let (src, name) = match (&a.program, &a.file) {
        (Some(p), _) => (p.clone(), "stdin".to_string()),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) => (s, f.display().to_string()),
            Err(e) => return super::fail(format!("{}: {e}", f.display())),
        },
        (None, None) => return super::fail("give a program with -e or -f"),
    };
    let scenario = match Scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    match trace(scenario, &src, &name, &TraceOptions { dump: a.dump }) {
        Ok(out) => {
            out!("{}", out.stdout);
            match out.error {
                Some(e) => {
                    eprint!("{}", if e.ends_with('\n') { e } else { format!("{e}\n") });
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => super::fail(e),
    }
}
