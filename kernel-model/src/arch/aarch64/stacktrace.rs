//! `arch/arm64/kernel/stacktrace.c`: the frame-record unwinder behind `stack_trace_save_regs`, with the
//! kretprobe return-address fixup (`kretprobe_find_ret_addr`) that keeps a trace through the trampoline correct.

use crate::arch::PtRegs;
use crate::machine::Machine;
use crate::KernelVa;

/// Unwinds from `regs`: the pc, then each frame record `{fp, lr}` reached from x29, at most `max` entries, stopping
/// when the frame pointer leaves the CPU's stack. `fixup` maps a trampoline return address to the real one.
pub fn unwind(
    m: &dyn Machine,
    stack: (u64, u64),
    regs: &PtRegs,
    max: usize,
    fixup: &mut dyn FnMut(u64) -> u64,
) -> Vec<u64> {
    let mut out = vec![fixup(regs.ip())];
    let mut fp = regs.get_by_name("fp").unwrap_or(0);
    while out.len() < max && fp >= stack.0 && fp + 16 <= stack.1 && fp.is_multiple_of(16) {
        let (Ok(next), Ok(lr)) = (m.read_u64(KernelVa(fp)), m.read_u64(KernelVa(fp + 8))) else { break };
        if lr == 0 {
            break;
        }
        out.push(fixup(lr));
        if next <= fp {
            break;
        }
        fp = next;
    }
    out
}
