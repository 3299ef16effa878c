//! `struct pt_regs`: a CPU's registers as the kernel saves them at exception entry, and their byte layout (the
//! kernel ABI a kprobe program reads through its ctx). Generic code (`machine.rs`, `bpf/`, the kernel driver) uses
//! [`PtRegs`] and its methods; the per-ISA layouts are [`aarch64`] (`arch/arm64/include/asm/ptrace.h`) and
//! [`x86_64`] (`arch/x86/include/asm/ptrace.h`). This module imports nothing from `arch/`: it sits below it.
//!
//! The byte images ([`PtRegs::to_bytes`]) are laid out byte for byte as the kernel's, so a program compiled against
//! the kernel headers (`PT_REGS_PARM1(ctx)` is `ctx->regs[0]` on arm64, `ctx->di` on x86_64) reads the fields it
//! expects:
//!
//! - arm64: `regs[31]`, `sp`, `pc`, `pstate` (the `user_pt_regs` head), then `orig_x0`, `syscallno` (s32;
//!   `NO_SYSCALL` = -1, as `kernel_entry` stores for an EL1 exception), `unused2`, `sdei_ttbr1`, `pmr_save`,
//!   `stackframe[2]`, `lockdep_hardirqs`, `exit_rcu`: 336 bytes (`S_FRAME_SIZE` of 5.10). The tail is zero except
//!   `syscallno`.
//! - x86_64: `r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss`, 168 bytes; `orig_ax` =
//!   -1 (an exception without error code), `cs` = `__KERNEL_CS` (0x10), `ss` = `__KERNEL_DS` (0x18).
//!
//! Only the fields the model's [`PtRegs`] carries are written back from an image.
//!
//! [`PtRegs::new`] is the one place here that selects the ISA's layout.

pub mod aarch64;
pub mod x86_64;

use crate::Isa;

pub(crate) fn put(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn take(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// A CPU's saved registers at exception entry: the kernel's `struct pt_regs`, for the running ISA.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum PtRegs {
    /// arm64 `struct pt_regs`.
    Aarch64(aarch64::PtRegs),
    /// x86_64 `struct pt_regs`.
    X86_64(x86_64::PtRegs),
}

impl PtRegs {
    /// Zeroed registers for `isa`.
    #[must_use]
    pub fn new(isa: Isa) -> PtRegs {
        match isa {
            Isa::Aarch64 => PtRegs::Aarch64(aarch64::PtRegs::default()),
            Isa::X86_64 => PtRegs::X86_64(x86_64::PtRegs::default()),
        }
    }

    /// The arm64 registers, for arm64 code. Any other ISA here is a simulator bug.
    pub fn aarch64_mut(&mut self) -> &mut aarch64::PtRegs {
        match self {
            PtRegs::Aarch64(r) => r,
            PtRegs::X86_64(_) => panic!("arm64 code given x86 registers (simulator bug)"),
        }
    }

    /// The x86_64 registers, for x86 code. Any other ISA here is a simulator bug.
    pub fn x86_64_mut(&mut self) -> &mut x86_64::PtRegs {
        match self {
            PtRegs::X86_64(r) => r,
            PtRegs::Aarch64(_) => panic!("x86 code given arm64 registers (simulator bug)"),
        }
    }

    /// `instruction_pointer(regs)`.
    #[must_use]
    pub fn ip(&self) -> u64 {
        match self {
            PtRegs::Aarch64(r) => r.pc,
            PtRegs::X86_64(r) => r.ip,
        }
    }

    /// `instruction_pointer_set(regs, ip)`.
    pub fn set_ip(&mut self, ip: u64) {
        match self {
            PtRegs::Aarch64(r) => r.pc = ip,
            PtRegs::X86_64(r) => r.ip = ip,
        }
    }

    /// `kernel_stack_pointer(regs)`.
    #[must_use]
    pub fn sp(&self) -> u64 {
        match self {
            PtRegs::Aarch64(r) => r.sp,
            PtRegs::X86_64(r) => r.sp,
        }
    }

    /// `regs_get_kernel_argument(regs, n)`: the n-th integer argument of the C calling convention.
    #[must_use]
    pub fn arg(&self, n: usize) -> Option<u64> {
        match self {
            PtRegs::Aarch64(r) => r.arg(n),
            PtRegs::X86_64(r) => r.arg(n),
        }
    }

    /// Sets the n-th integer argument register; false if the convention has no such register.
    pub fn set_arg(&mut self, n: usize, v: u64) -> bool {
        match self {
            PtRegs::Aarch64(r) => r.set_arg(n, v),
            PtRegs::X86_64(r) => r.set_arg(n, v),
        }
    }

    /// `regs_return_value(regs)`.
    #[must_use]
    pub fn return_value(&self) -> u64 {
        match self {
            PtRegs::Aarch64(r) => r.regs[0],
            PtRegs::X86_64(r) => r.ax,
        }
    }

    /// `regs_set_return_value(regs, rc)`.
    pub fn set_return_value(&mut self, rc: u64) {
        match self {
            PtRegs::Aarch64(r) => r.regs[0] = rc,
            PtRegs::X86_64(r) => r.ax = rc,
        }
    }

    /// The kernel's `struct pt_regs` bytes for these registers (what a kprobe program's ctx points to).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PtRegs::Aarch64(r) => r.to_bytes(),
            PtRegs::X86_64(r) => r.to_bytes(),
        }
    }

    /// Writes the fields of `b` (a `struct pt_regs` image) back into these registers; only the fields this model
    /// carries are read.
    pub fn update_from_bytes(&mut self, b: &[u8]) {
        match self {
            PtRegs::Aarch64(r) => r.update_from_bytes(b),
            PtRegs::X86_64(r) => r.update_from_bytes(b),
        }
    }

    /// Reads a register by its kernel name (`x0`…`x30`, `sp`, `pc`, `pstate`; `ax`, `rdi`, `ip`, `flags`, …).
    #[must_use]
    pub fn get_by_name(&self, name: &str) -> Option<u64> {
        match self {
            PtRegs::Aarch64(r) => r.get_by_name(name),
            PtRegs::X86_64(r) => r.get_by_name(name),
        }
    }

    /// Writes a register by name; false if there is no such register.
    pub fn set_by_name(&mut self, name: &str, v: u64) -> bool {
        match self {
            PtRegs::Aarch64(r) => r.set_by_name(name, v),
            PtRegs::X86_64(r) => r.set_by_name(name, v),
        }
    }

    /// Whether the interrupted context had interrupts enabled (arm64 PSTATE.I clear; x86 EFLAGS.IF set).
    #[must_use]
    pub fn irqs_enabled(&self) -> bool {
        match self {
            PtRegs::Aarch64(r) => r.pstate & aarch64::PSR_I_BIT == 0,
            PtRegs::X86_64(r) => r.flags & x86_64::X86_EFLAGS_IF != 0,
        }
    }

    /// Masks interrupts in these registers (the state of a handler's nested call).
    pub fn mask_irqs(&mut self) {
        match self {
            PtRegs::Aarch64(r) => r.pstate |= aarch64::DAIF_MASK,
            PtRegs::X86_64(r) => r.flags &= !x86_64::X86_EFLAGS_IF,
        }
    }

    /// The name of the flags register in [`PtRegs::named`]: `pstate` (arm64) or `eflags` (x86_64).
    #[must_use]
    pub fn flags_name(&self) -> &'static str {
        match self {
            PtRegs::Aarch64(_) => "pstate",
            PtRegs::X86_64(_) => "eflags",
        }
    }

    /// The flags register decoded as a debugger's `r` shows it: `pstate=0x… - N Z C V - D A I F EL1` (arm64, the
    /// `PSR_*_BIT`s of arch/arm64/include/uapi/asm/ptrace.h) or `eflags=0x… [ZF IF]` (x86_64, the `X86_EFLAGS_*`
    /// of arch/x86/include/uapi/asm/processor-flags.h).
    #[must_use]
    pub fn describe_flags(&self) -> String {
        match self {
            PtRegs::Aarch64(r) => {
                let p = r.pstate;
                let bit = |b: u32, c: &'static str| if p >> b & 1 == 1 { c } else { "-" };
                format!(
                    "pstate={p:#018x} - {} {} {} {} - {} {} {} {} EL{}",
                    bit(31, "N"),
                    bit(30, "Z"),
                    bit(29, "C"),
                    bit(28, "V"),
                    bit(9, "D"),
                    bit(8, "A"),
                    bit(7, "I"),
                    bit(6, "F"),
                    (p >> 2) & 3
                )
            }
            PtRegs::X86_64(r) => {
                let f = r.flags;
                let names = [(0, "CF"), (2, "PF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (11, "OF")];
                let set: Vec<&str> = names.iter().filter(|(b, _)| f >> b & 1 == 1).map(|(_, n)| *n).collect();
                format!("eflags={f:#010x} [{}]", set.join(" "))
            }
        }
    }

    /// All registers as (name, value) pairs, in the order a debugger's `r` prints them.
    #[must_use]
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        match self {
            PtRegs::Aarch64(r) => r.named(),
            PtRegs::X86_64(r) => r.named(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip() {
        for isa in [Isa::Aarch64, Isa::X86_64] {
            let mut r = PtRegs::new(isa);
            r.set_arg(0, 0x1111);
            r.set_arg(1, 0x2222);
            r.set_ip(0xffff_0000_0000_1000);
            let b = r.to_bytes();
            let mut back = PtRegs::new(isa);
            back.update_from_bytes(&b);
            assert_eq!(back, r);
        }
        let mut r = PtRegs::new(Isa::X86_64);
        r.set_arg(0, 0xd1);
        let b = r.to_bytes();
        assert_eq!(b.len(), x86_64::PT_REGS_SIZE);
        assert_eq!(take(&b, 14 * 8), 0xd1, "di is the 15th field");
        assert_eq!(take(&b, 15 * 8), u64::MAX, "orig_ax");
        assert_eq!(PtRegs::new(Isa::Aarch64).to_bytes().len(), aarch64::PT_REGS_SIZE);
    }

    #[test]
    fn return_value_round_trips() {
        for isa in [Isa::Aarch64, Isa::X86_64] {
            let mut r = PtRegs::new(isa);
            r.set_return_value(0xfffffffffffffff4);
            assert_eq!(r.return_value(), 0xfffffffffffffff4);
        }
    }
}
