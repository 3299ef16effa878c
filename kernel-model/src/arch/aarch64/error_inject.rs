//! `arch/arm64/lib/error-inject.c`: how `bpf_override_return` makes the probed function return at once.

use crate::machine::{Machine, MemFault};
use crate::ptrace::PtRegs;

/// Models `override_function_with_return(regs)` (arch/arm64/lib/error-inject.c):
/// `instruction_pointer_set(regs, procedure_link_pointer(regs))`, i.e. `pc = lr` (x30). The return value was set
/// by the caller (`regs_set_return_value`).
pub fn override_function_with_return(regs: &mut PtRegs, _m: &dyn Machine) -> Result<(), MemFault> {
    let r = regs.aarch64_mut();
    r.pc = r.regs[30];
    Ok(())
}
