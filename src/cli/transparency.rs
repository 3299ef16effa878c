//! `probesim check-transparency`.

use crate::transparency::{all_same, check, render_table, Check};
use kernel_model::profile::KernelProfile;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments.
#[derive(clap::Args, Debug)]
pub struct TransparencyArgs {
    /// The ELF object.
    #[arg(long)]
    pub elf: PathBuf,
    /// The function.
    #[arg(long)]
    pub symbol: String,
    /// Arguments, comma-separated: integers (decimal or 0x hex) or `&symbol` addresses.
    #[arg(long, value_delimiter = ',')]
    pub args: Vec<String>,
    /// Kernel profile.
    #[arg(long, default_value = "5.10")]
    pub kernel: KernelProfile,
    /// CPUs in the machine.
    #[arg(long, default_value_t = 1)]
    pub cpus: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = super::run::Format::Text)]
    pub format: super::run::Format,
}

/// Runs the check; exit 0 only if every probeable instruction is `same`.
pub fn run(a: &TransparencyArgs) -> ExitCode {
    let c = Check { elf: a.elf.clone(), symbol: a.symbol.clone(), args: a.args.clone(), kernel: a.kernel, cpus: a.cpus };
    let v = match check(&c) {
        Ok(v) => v,
        Err(e) => return super::fail(e),
    };
    match a.format {
        super::run::Format::Text => out!("{}", render_table(&c, &v)),
        super::run::Format::Json => {
            outln!("{}", serde_json::to_string_pretty(&v).expect("verdicts serialise"));
        }
    }
    if all_same(&v) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
