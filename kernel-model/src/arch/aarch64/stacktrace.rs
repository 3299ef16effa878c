//! `arch/arm64/kernel/stacktrace.c`: the frame-record unwinder behind `stack_trace_save_regs`, with the
//! kretprobe return-address fixup (`kretprobe_find_ret_addr`) that keeps a trace through the trampoline correct.

use crate::arch::walk_frame_records;
use crate::ptrace::PtRegs;
use crate::machine::Machine;

/// Unwinds from `regs`: the pc, then each frame record `{fp, lr}` reached from x29 (16-byte aligned, as AAPCS64
/// keeps them).
pub fn unwind(
    m: &dyn Machine,
    stack: (u64, u64),
    regs: &PtRegs,
    max: usize,
    fixup: &mut dyn FnMut(u64) -> u64,
) -> Vec<u64> {
    let fp = regs.get_by_name("fp").unwrap_or(0);
    walk_frame_records(m, stack, (regs.ip(), fp, 16), max, fixup)
}
