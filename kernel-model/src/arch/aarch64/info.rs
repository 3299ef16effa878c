//! arm64's answers to generic code's ISA questions ([`crate::arch::info::IsaInfo`]).

use crate::arch::info::IsaInfo;

/// arm64's answers to generic code ([`IsaInfo`]).
///
/// The trace flags are what the real kernels print for a `bpf_trace_printk` from a kprobe program: the BRK handler
/// runs with interrupts masked; 5.10 (seed 000, 5.10.110) prints `d...`, 6.1 (observed, real-kernel-6.1.md)
/// `d...1` (migrate_disable in `bpf_prog_run_array`), used for 6.12 too.
pub const INFO: IsaInfo = IsaInfo {
    task_size: 1 << 48,
    nofault_refuses_user_addr: false,
    kprobe_irqs_off: true,
    kprobe_preempt_depth: 0,
    text_poke_fn: "__aarch64_insn_write",
    override_function_with_return: super::error_inject::override_function_with_return,
};
