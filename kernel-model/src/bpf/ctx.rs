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

use crate::arch::PtRegs;

/// `sizeof(struct pt_regs)` on arm64.
pub const ARM64_PT_REGS_SIZE: usize = 336;
/// `sizeof(struct pt_regs)` on x86_64.
pub const X86_64_PT_REGS_SIZE: usize = 168;
/// x86 `__KERNEL_CS`.
const KERNEL_CS: u64 = 0x10;
/// x86 `__KERNEL_DS`.
const KERNEL_DS: u64 = 0x18;

fn put(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn take(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The kernel's `struct pt_regs` bytes for `regs`.
#[must_use]
pub fn to_bytes(regs: &PtRegs) -> Vec<u8> {
    match regs {
        PtRegs::Aarch64(r) => {
            let mut b = vec![0u8; ARM64_PT_REGS_SIZE];
            for (i, v) in r.regs.iter().enumerate() {
                put(&mut b, i * 8, *v);
            }
            put(&mut b, 31 * 8, r.sp);
            put(&mut b, 32 * 8, r.pc);
            put(&mut b, 33 * 8, r.pstate);
            // orig_x0 at 34*8 stays 0; syscallno = NO_SYSCALL, unused2 = 0.
            b[35 * 8..35 * 8 + 4].copy_from_slice(&(-1i32).to_le_bytes());
            b
        }
        PtRegs::X86_64(r) => {
            let mut b = vec![0u8; X86_64_PT_REGS_SIZE];
            let fields = [
                r.r15,
                r.r14,
                r.r13,
                r.r12,
                r.bp,
                r.bx,
                r.r11,
                r.r10,
                r.r9,
                r.r8,
                r.ax,
                r.cx,
                r.dx,
                r.si,
                r.di,
                u64::MAX,
                r.ip,
                KERNEL_CS,
                r.flags,
                r.sp,
                KERNEL_DS,
            ];
            for (i, v) in fields.iter().enumerate() {
                put(&mut b, i * 8, *v);
            }
            b
        }
    }
}

/// Writes the fields of `b` (a `struct pt_regs` image) back into `regs`.
pub fn from_bytes(regs: &mut PtRegs, b: &[u8]) {
    match regs {
        PtRegs::Aarch64(r) => {
            for i in 0..31 {
                r.regs[i] = take(b, i * 8);
            }
            r.sp = take(b, 31 * 8);
            r.pc = take(b, 32 * 8);
            r.pstate = take(b, 33 * 8);
        }
        PtRegs::X86_64(r) => {
            let f = |i: usize| take(b, i * 8);
            r.r15 = f(0);
            r.r14 = f(1);
            r.r13 = f(2);
            r.r12 = f(3);
            r.bp = f(4);
            r.bx = f(5);
            r.r11 = f(6);
            r.r10 = f(7);
            r.r9 = f(8);
            r.r8 = f(9);
            r.ax = f(10);
            r.cx = f(11);
            r.dx = f(12);
            r.si = f(13);
            r.di = f(14);
            r.ip = f(16);
            r.flags = f(18);
            r.sp = f(19);
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Isa;

    #[test]
    fn layouts_round_trip() {
        for isa in [Isa::Aarch64, Isa::X86_64] {
            let mut r = PtRegs::new(isa);
            r.set_arg(0, 0x1111);
            r.set_arg(1, 0x2222);
            r.set_ip(0xffff_0000_0000_1000);
            let b = to_bytes(&r);
            let mut back = PtRegs::new(isa);
            from_bytes(&mut back, &b);
            assert_eq!(back, r);
        }
        let mut r = PtRegs::new(Isa::X86_64);
        r.set_arg(0, 0xd1);
        let b = to_bytes(&r);
        assert_eq!(take(&b, 14 * 8), 0xd1, "di is the 15th field");
        assert_eq!(take(&b, 15 * 8), u64::MAX, "orig_ax");
    }
}
