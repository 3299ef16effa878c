//! What generic code asks of the ISA that is a constant or a function of registers and memory, not kernel state
//! ([`IsaInfo`]): `TASK_SIZE`, the `copy_from_kernel_nofault` rule, a kprobe program's trace flags,
//! `override_function_with_return`. It imports nothing of the kernel driver, so `bpf/` can ask it without a cycle
//! through `arch/mod.rs` (which sees `KernelCore`).

use crate::machine::{Machine, MemFault};
use crate::ptrace::PtRegs;
use crate::Isa;

/// What generic code asks of the ISA that is a constant or a function of registers and memory rather than kernel
/// state: one table per ISA (`aarch64::info::INFO`, `x86_64::info::INFO`), selected by [`info`].
pub struct IsaInfo {
    /// `TASK_SIZE`: user addresses are below it (arm64 with 48-bit VAs; x86_64 `TASK_SIZE_MAX`, both in
    /// `arch/*/include/asm/processor.h`).
    pub task_size: u64,
    /// Whether `copy_from_kernel_nofault` refuses an address below `TASK_SIZE` with -ERANGE before touching it (x86
    /// `copy_from_kernel_nofault_allowed`, arch/x86/mm/maccess.c). Otherwise the access is made and faults (arm64:
    /// a kernel-mode access to a TTBR0 address under PAN), -EFAULT.
    pub nofault_refuses_user_addr: bool,
    /// Whether a kprobe program runs with interrupts masked: the `d` of its `bpf_trace_printk` flags column.
    pub kprobe_irqs_off: bool,
    /// The preemption depth a kprobe program's `bpf_trace_printk` line shows.
    pub kprobe_preempt_depth: u8,
    /// The functions that write kernel text through a writable alias, as a timeline labels its writes:
    /// `__aarch64_insn_write` (arch/arm64/kernel/patching.c), `text_poke` / `text_poke_bp`
    /// (arch/x86/kernel/alternative.c).
    pub text_poke_fn: &'static str,
    /// `override_function_with_return(regs)` (`arch/*/lib/error-inject.c`), for `bpf_override_return`.
    pub override_function_with_return: fn(&mut PtRegs, &dyn Machine) -> Result<(), MemFault>,
}

/// The ISA's [`IsaInfo`].
#[must_use]
pub fn info(isa: Isa) -> &'static IsaInfo {
    match isa {
        Isa::Aarch64 => &super::aarch64::info::INFO,
        Isa::X86_64 => &super::x86_64::info::INFO,
    }
}
