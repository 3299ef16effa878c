//! x86_64's answers to generic code's ISA questions ([`crate::arch::info::IsaInfo`]).

use crate::arch::info::IsaInfo;

/// x86_64's answers to generic code ([`IsaInfo`]).
///
/// The trace flags are what the real kernels print for a `bpf_trace_printk` from a kprobe program: 6.1's
/// ftrace-based kprobe on `__x64_sys_clone` printed `...21` (interrupts on, preempt depth 2, migrate-disable 1);
/// 5.10 prints the first four of those.
pub const INFO: IsaInfo = IsaInfo {
    task_size: (1 << 47) - 4096,
    nofault_refuses_user_addr: true,
    kprobe_irqs_off: false,
    kprobe_preempt_depth: 2,
    text_poke_fn: "text_poke / text_poke_bp",
    override_function_with_return: super::error_inject::override_function_with_return,
};
