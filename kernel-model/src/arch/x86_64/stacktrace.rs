//! `arch/x86/kernel/unwind_frame.c` (the frame-pointer unwinder, `CONFIG_UNWINDER_FRAME_POINTER`) behind
//! `stack_trace_save_regs`: from the ip, then each `{saved rbp, return address}` frame reached from rbp, with the
//! kretprobe return-address fixup (`kretprobe_find_ret_addr`).

use crate::arch::PtRegs;
use crate::machine::Machine;
use crate::KernelVa;

/// Unwinds from `regs` (see the arm64 unwinder, whose frame records have the same `{fp, return}` shape).
pub fn unwind(
    m: &dyn Machine,
    stack: (u64, u64),
    regs: &PtRegs,
    max: usize,
    fixup: &mut dyn FnMut(u64) -> u64,
) -> Vec<u64> {
    let mut out = vec![fixup(regs.ip())];
    let mut fp = regs.get_by_name("bp").unwrap_or(0);
    while out.len() < max && fp >= stack.0 && fp + 16 <= stack.1 && fp.is_multiple_of(8) {
        let (Ok(next), Ok(ret)) = (m.read_u64(KernelVa(fp)), m.read_u64(KernelVa(fp + 8))) else { break };
        if ret == 0 {
            break;
        }
        out.push(fixup(ret));
        if next <= fp {
            break;
        }
        fp = next;
    }
    out
}
