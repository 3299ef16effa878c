//! `probesim disasm ELF --symbol NAME` and `probesim symbols ELF`: the image as the simulator loads it (sections
//! placed, relocations applied, kernel addresses).

use crate::views::render_function;
use kernel_model::machine::Machine as _;
use sim::machine::EmulatedMachine;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `disasm`.
#[derive(clap::Args, Debug)]
pub struct DisasmArgs {
    /// The ELF file.
    pub elf: PathBuf,
    /// The function to disassemble.
    #[arg(long)]
    pub symbol: String,
}

/// Arguments of `symbols`.
#[derive(clap::Args, Debug)]
pub struct SymbolsArgs {
    /// The ELF file.
    pub elf: PathBuf,
}

fn load(elf: &Path) -> Result<EmulatedMachine, String> {
    let isa = sim::elf::detect_isa(elf).map_err(|e| e.to_string())?;
    EmulatedMachine::new(isa, 1, &[elf.to_path_buf()]).map_err(|e| e.to_string())
}

/// `disasm`.
pub fn disasm(args: &DisasmArgs) -> ExitCode {
    let machine = match load(&args.elf) {
        Ok(m) => m,
        Err(e) => return super::fail(e),
    };
    let Some(sym) = machine.kallsyms().lookup_name(&args.symbol).cloned() else {
        return super::fail(format!("{}: unknown symbol `{}`", args.elf.display(), args.symbol));
    };
    outln!("{} [{}]:", sym.name, args.elf.display());
    out!("{}", render_function(&machine, sym.addr, sym.size));
    ExitCode::SUCCESS
}

/// `symbols`: `/proc/kallsyms` format plus sizes.
pub fn symbols(args: &SymbolsArgs) -> ExitCode {
    let machine = match load(&args.elf) {
        Ok(m) => m,
        Err(e) => return super::fail(e),
    };
    for s in machine.kallsyms().symbols() {
        outln!("{} {} {:#x} {}", s.addr, s.type_letter(), s.size, s.name);
    }
    ExitCode::SUCCESS
}
