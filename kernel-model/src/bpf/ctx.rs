//! The kprobe program's context: the probed CPU's `struct pt_regs`, laid out byte for byte as the kernel's, so a
//! program compiled against the kernel headers (`PT_REGS_PARM1(ctx)` is `ctx->regs[0]` on arm64, `ctx->di` on
//! x86_64) reads the fields it expects.
//!
//! - arm64 (`arch/arm64/include/asm/ptrace.h`): `regs[31]`, `sp`, `pc`, `pstate` (the `user_pt_regs` head), then
//!   `orig_x0`, `syscallno` (s32; `NO_SYSCALL` = -1, as `kernel_entry` stores for an EL1 exception), `unused2`,
//!   `sdei_ttbr1`, `pmr_save`, `stackframe[2]`, `lockdep_hardirqs`, `exit_rcu`: 336 bytes (`S_FRAME_SIZE` of 5.10).
//!   The tail is zero except `syscallno`.
//! - x86_64 (`arch/x86/include/asm/ptrace.h`): `r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs
//!   flags sp ss`, 168 bytes; `orig_ax` = -1 (an exception without error code), `cs` = `__KERNEL_CS` (0x10), `ss` =
//!   `__KERNEL_DS` (0x18).
//!
//! Only the fields the model's [`PtRegs`] carries are written back after a run.

use crate::ptrace::PtRegs;

/// Byte offsets of (return-value register, instruction pointer, link register or stack pointer) in the image:
/// what `bpf_override_return` touches.
#[must_use]
pub fn override_offsets(regs: &PtRegs) -> (usize, usize, usize) {
    match regs {
        // regs[0], pc, regs[30] (lr)
        PtRegs::Aarch64(_) => (0, 32 * 8, 30 * 8),
        // ax, ip, sp
        PtRegs::X86_64(_) => (10 * 8, 16 * 8, 19 * 8),
    }
}
