//! Views of machine state, shared by the CLI and the run report (the debugger's `u`, …).

use kernel_model::arch::disassemble;
use kernel_model::machine::{GuestMemory as _, Machine as _};
use kernel_model::KernelVa;
use sim::machine::EmulatedMachine;

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

