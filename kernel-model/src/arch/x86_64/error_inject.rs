//! `arch/x86/lib/error-inject.c`: how `bpf_override_return` makes the probed function return at once.

use crate::machine::{Machine, MemFault};
use crate::ptrace::PtRegs;
use crate::KernelVa;

/// Models `override_function_with_return(regs)` (arch/x86/lib/error-inject.c): `regs->ip = just_return_func`,
/// a bare `ret` that returns from the probed function. Without that symbol in the image, the model does the `ret`
/// itself: `ip` = the return address at `sp`, `sp += 8`. The return value was set by the caller
/// (`regs_set_return_value`).
pub fn override_function_with_return(regs: &mut PtRegs, m: &dyn Machine) -> Result<(), MemFault> {
    let target = m.kallsyms().lookup_name("just_return_func").map(|s| s.addr.0);
    let r = regs.x86_64_mut();
    match target {
        Some(t) => r.ip = t,
        None => {
            r.ip = m.read_u64(KernelVa(r.sp))?;
            r.sp += 8;
        }
    }
    Ok(())
}
