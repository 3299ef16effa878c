//! `arch/x86/kernel/ptrace.c`: `regoffset_table`, `regs_query_register_offset` and
//! `arch/x86/include/asm/ptrace.h`'s `regs_get_kernel_argument`, for the `%REG` and `$argN` fetch arguments.
//!
//! Offsets are byte offsets into x86_64's `struct pt_regs`: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di
//! orig_ax ip cs flags sp ss, 8 bytes each.

use crate::trace::{ArgLocation, RegsQuery};

/// `offsetof(struct pt_regs, …)` on x86_64.
mod off {
    pub const R15: usize = 0;
    pub const R14: usize = 8;
    pub const R13: usize = 16;
    pub const R12: usize = 24;
    pub const BP: usize = 32;
    pub const BX: usize = 40;
    pub const R11: usize = 48;
    pub const R10: usize = 56;
    pub const R9: usize = 64;
    pub const R8: usize = 72;
    pub const AX: usize = 80;
    pub const CX: usize = 88;
    pub const DX: usize = 96;
    pub const SI: usize = 104;
    pub const DI: usize = 112;
    pub const ORIG_AX: usize = 120;
    pub const IP: usize = 128;
    pub const CS: usize = 136;
    pub const FLAGS: usize = 144;
    pub const SP: usize = 152;
    pub const SS: usize = 160;
}

/// `regoffset_table` (arch/x86/kernel/ptrace.c), in the kernel's order for `CONFIG_X86_64` (the `ds`/`es`/`fs`/`gs`
/// entries are `CONFIG_X86_32` only).
pub const REGOFFSET_TABLE: [(&str, usize); 21] = [
    ("r15", off::R15),
    ("r14", off::R14),
    ("r13", off::R13),
    ("r12", off::R12),
    ("r11", off::R11),
    ("r10", off::R10),
    ("r9", off::R9),
    ("r8", off::R8),
    ("bx", off::BX),
    ("cx", off::CX),
    ("dx", off::DX),
    ("si", off::SI),
    ("di", off::DI),
    ("bp", off::BP),
    ("ax", off::AX),
    ("orig_ax", off::ORIG_AX),
    ("ip", off::IP),
    ("cs", off::CS),
    ("flags", off::FLAGS),
    ("sp", off::SP),
    ("ss", off::SS),
];

/// `argument_offs` of `regs_get_kernel_argument` (arch/x86/include/asm/ptrace.h, x86_64): the SysV argument
/// registers.
const ARGUMENT_OFFS: [usize; 6] = [off::DI, off::SI, off::DX, off::CX, off::R8, off::R9];

/// x86_64's answers to the probe-argument grammar.
#[derive(Clone, Copy, Debug, Default)]
pub struct X86_64TraceRegs;

impl RegsQuery for X86_64TraceRegs {
    /// `regs_query_register_offset` (arch/x86/kernel/ptrace.c): an exact `strcmp` over [`REGOFFSET_TABLE`].
    fn regs_query_register_offset(&self, name: &str) -> Option<usize> {
        REGOFFSET_TABLE.iter().find(|(n, _)| *n == name).map(|&(_, o)| o)
    }

    /// `regs_query_register_name`.
    fn regs_query_register_name(&self, offset: usize) -> Option<&'static str> {
        REGOFFSET_TABLE.iter().find(|(_, o)| *o == offset).map(|&(n, _)| n)
    }

    /// `regs_get_kernel_argument`: di, si, dx, cx, r8, r9; beyond that
    /// `regs_get_kernel_stack_nth(regs, n - (NR_REG_ARGUMENTS - 1))` (slot 0 is the return address).
    fn regs_get_kernel_argument_offset(&self, n: u32) -> ArgLocation {
        match ARGUMENT_OFFS.get(n as usize) {
            Some(&o) => ArgLocation::Reg(o),
            None => ArgLocation::StackNth(n - (ARGUMENT_OFFS.len() as u32 - 1)),
        }
    }

    /// `regs_return_value`: `ax`.
    fn regs_return_value_offset(&self) -> usize {
        off::AX
    }

    /// x86_64 `THREAD_SIZE` = 16 KiB (`THREAD_SIZE_ORDER` 2 without KASAN).
    fn thread_size(&self) -> usize {
        16 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_register_names_are_the_kernel_table() {
        let r = X86_64TraceRegs;
        assert_eq!(r.regs_query_register_offset("di"), Some(112));
        assert_eq!(r.regs_query_register_offset("si"), Some(104));
        assert_eq!(r.regs_query_register_offset("ax"), Some(80));
        assert_eq!(r.regs_query_register_offset("ip"), Some(128));
        assert_eq!(r.regs_query_register_offset("sp"), Some(152));
        assert_eq!(r.regs_query_register_offset("flags"), Some(144));
        assert_eq!(r.regs_query_register_offset("rdi"), None, "the kernel names drop the r prefix");
        assert_eq!(r.regs_query_register_offset("zz"), None);
        assert_eq!(r.regs_query_register_offset("x0"), None, "arm64 names are not x86 names");
        assert_eq!(r.regs_get_kernel_argument_offset(0), ArgLocation::Reg(112));
        assert_eq!(r.regs_get_kernel_argument_offset(5), ArgLocation::Reg(64));
        assert_eq!(r.regs_get_kernel_argument_offset(6), ArgLocation::StackNth(1));
    }
}
