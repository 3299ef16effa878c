//! `arch/arm64/kernel/ptrace.c`: `regoffset_table`, `regs_query_register_offset` and `regs_get_kernel_argument`,
//! for the `%REG` and `$argN` fetch arguments of `kprobe_events`.
//!
//! Offsets are byte offsets into arm64's `struct pt_regs` (`arch/arm64/include/asm/ptrace.h`): `regs[31]` at 0,
//! `sp` at 248, `pc` at 256, `pstate` at 264.

use crate::trace::{ArgLocation, RegsQuery};

/// `regoffset_table` (arch/arm64/kernel/ptrace.c): `x0`…`x30` (`GPR_OFFSET_NAME`), `lr` (an alias of `regs[30]`),
/// `sp`, `pc`, `pstate`, in the kernel's order.
pub const REGOFFSET_TABLE: [(&str, usize); 35] = [
    ("x0", 0),
    ("x1", 8),
    ("x2", 16),
    ("x3", 24),
    ("x4", 32),
    ("x5", 40),
    ("x6", 48),
    ("x7", 56),
    ("x8", 64),
    ("x9", 72),
    ("x10", 80),
    ("x11", 88),
    ("x12", 96),
    ("x13", 104),
    ("x14", 112),
    ("x15", 120),
    ("x16", 128),
    ("x17", 136),
    ("x18", 144),
    ("x19", 152),
    ("x20", 160),
    ("x21", 168),
    ("x22", 176),
    ("x23", 184),
    ("x24", 192),
    ("x25", 200),
    ("x26", 208),
    ("x27", 216),
    ("x28", 224),
    ("x29", 232),
    ("x30", 240),
    ("lr", 240),
    ("sp", 248),
    ("pc", 256),
    ("pstate", 264),
];

/// arm64's answers to the probe-argument grammar.
#[derive(Clone, Copy, Debug, Default)]
pub struct Aarch64TraceRegs;

impl RegsQuery for Aarch64TraceRegs {
    /// `regs_query_register_offset` (arch/arm64/kernel/ptrace.c): an exact, case-sensitive `strcmp` over
    /// [`REGOFFSET_TABLE`].
    fn regs_query_register_offset(&self, name: &str) -> Option<usize> {
        REGOFFSET_TABLE.iter().find(|(n, _)| *n == name).map(|&(_, o)| o)
    }

    /// `regs_query_register_name`: the first table entry at `offset` (`x30`, not `lr`).
    fn regs_query_register_name(&self, offset: usize) -> Option<&'static str> {
        REGOFFSET_TABLE.iter().find(|(_, o)| *o == offset).map(|&(n, _)| n)
    }

    /// `regs_get_kernel_argument` (arch/arm64/include/asm/ptrace.h): `x0`…`x7`, and 0 beyond
    /// (`argument_offs` has 8 entries; "n >= NR_REG_ARGUMENTS" returns 0).
    fn regs_get_kernel_argument_offset(&self, n: u32) -> ArgLocation {
        if n < 8 {
            ArgLocation::Reg(n as usize * 8)
        } else {
            ArgLocation::Zero
        }
    }

    /// `regs_return_value`: `regs[0]`.
    fn regs_return_value_offset(&self) -> usize {
        0
    }

    /// arm64 `THREAD_SIZE` = 16 KiB (`THREAD_SHIFT` 14 without KASAN).
    fn thread_size(&self) -> usize {
        16 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_register_names_are_the_kernel_table() {
        let r = Aarch64TraceRegs;
        assert_eq!(r.regs_query_register_offset("x0"), Some(0));
        assert_eq!(r.regs_query_register_offset("x30"), Some(240));
        assert_eq!(r.regs_query_register_offset("lr"), Some(240));
        assert_eq!(r.regs_query_register_offset("sp"), Some(248));
        assert_eq!(r.regs_query_register_offset("pc"), Some(256));
        assert_eq!(r.regs_query_register_offset("pstate"), Some(264));
        assert_eq!(r.regs_query_register_offset("x31"), None);
        assert_eq!(r.regs_query_register_offset("X0"), None, "strcmp is case-sensitive");
        assert_eq!(r.regs_query_register_offset("di"), None, "x86 names are not arm64 names");
        assert_eq!(r.regs_query_register_name(240), Some("x30"));
        assert_eq!(r.regs_get_kernel_argument_offset(7), ArgLocation::Reg(56));
        assert_eq!(r.regs_get_kernel_argument_offset(8), ArgLocation::Zero);
    }
}
