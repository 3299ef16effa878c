//! x86_64: models of `arch/x86/kernel/kprobes/core.c` and `arch/x86/kernel/alternative.c`.

pub mod disasm;
pub mod ptrace;

use super::ArchKernel;
use crate::event::Trap;
use crate::kernel::TrapAction;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::CpuId;

/// The x86 kernel's exception handling.
pub struct X86Kernel {
    #[allow(dead_code)] // Read once x86 kprobes land (issue 5).
    profile: KernelProfile,
}

impl X86Kernel {
    /// For `profile`.
    #[must_use]
    pub fn new(profile: KernelProfile) -> X86Kernel {
        X86Kernel { profile }
    }
}

impl ArchKernel for X86Kernel {
    /// Models the IDT entries (`exc_int3`, `exc_debug`, `exc_page_fault`, …) for an exception in kernel mode.
    /// Exception return is serialising (`iret`), so the CPU fetches current text afterwards.
    fn handle_trap(&mut self, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.context_synchronize(cpu, "iret");
        let message = match trap {
            Trap::Int3 => "int3: 0000 [#1] SMP".to_string(),
            Trap::Debug => "debug: 0000 [#1] SMP".to_string(),
            Trap::Undefined => "invalid opcode: 0000 [#1] SMP".to_string(),
            Trap::MemFault { addr: Some(a), what } => format!("BUG: unable to handle page fault for address: {a:016x} ({what})"),
            Trap::MemFault { addr: None, what } => format!("{what}: 0000 [#1] SMP"),
            other => format!("unhandled exception: {other}"),
        };
        TrapAction::Oops { message }
    }
}
