//! `arch/x86/kernel/unwind_frame.c` (the frame-pointer unwinder, `CONFIG_UNWINDER_FRAME_POINTER`) behind
//! `stack_trace_save_regs`: from the ip, then each `{saved rbp, return address}` frame reached from rbp, with the
//! kretprobe return-address fixup (`kretprobe_find_ret_addr`).

use crate::arch::walk_frame_records;
use crate::ptrace::PtRegs;
use crate::machine::Machine;

/// Unwinds from `regs`: the ip, then each `{saved rbp, return address}` frame reached from rbp.
pub fn unwind(
    m: &dyn Machine,
    stack: (u64, u64),
    regs: &PtRegs,
    max: usize,
    fixup: &mut dyn FnMut(u64) -> u64,
) -> Vec<u64> {
    let fp = regs.get_by_name("bp").unwrap_or(0);
    walk_frame_records(m, stack, (regs.ip(), fp, 8), max, fixup)
}
