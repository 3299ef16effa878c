//! `probesim disasm ELF --symbol NAME` and `probesim symbols ELF`: the image as the simulator loads it (sections
//! placed, relocations applied, kernel addresses).

use kernel_model::arch::disassemble;
use kernel_model::machine::{GuestMemory as _, Machine as _};
use kernel_model::KernelVa;
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

/// Renders a function's disassembly in the debugger's `u` layout: `address encoding text  <target>`.
#[must_use]
pub fn render_function(machine: &EmulatedMachine, start: KernelVa, size: u64) -> String {
    let syms = machine.kallsyms();
    let mut bytes = vec![0; usize::try_from(size).unwrap_or(0)];
    if machine.read(start, &mut bytes).is_err() {
        return format!("{start}: unreadable\n");
    }
    let mut out = String::new();
    for line in disassemble(machine.isa(), start.0, &bytes) {
        let target = line.target.map(|t| format!("  <{}>", syms.format_short(KernelVa(t)))).unwrap_or_default();
        out.push_str(&format!("{:016x} {:<20} {}{target}\n", line.addr, line.encoding, line.text));
    }
    out
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
    println!("{} [{}]:", sym.name, args.elf.display());
    print!("{}", render_function(&machine, sym.addr, sym.size));
    ExitCode::SUCCESS
}

/// `symbols`: `/proc/kallsyms` format plus sizes.
pub fn symbols(args: &SymbolsArgs) -> ExitCode {
    let machine = match load(&args.elf) {
        Ok(m) => m,
        Err(e) => return super::fail(e),
    };
    for s in machine.kallsyms().symbols() {
        println!("{} {} {:#x} {}", s.addr, s.type_letter(), s.size, s.name);
    }
    ExitCode::SUCCESS
}
