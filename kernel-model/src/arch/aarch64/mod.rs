//! arm64: models of `arch/arm64/kernel/probes/*.c`, `arch/arm64/kernel/patching.c` (5.10: `insn.c`) and
//! `arch/arm64/kernel/debug-monitors.c`.

pub mod disasm;
pub mod ptrace;
pub mod debug_monitors;
pub mod decode_insn;
pub mod insn;
pub mod simulate_insn;

use super::ArchKernel;
use crate::event::{EventKind, Trap};
use crate::kernel::TrapAction;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::CpuId;

/// The arm64 kernel's exception handling.
pub struct Aarch64Kernel {
    profile: KernelProfile,
}

impl Aarch64Kernel {
    /// For `profile`.
    #[must_use]
    pub fn new(profile: KernelProfile) -> Aarch64Kernel {
        Aarch64Kernel { profile }
    }
}

impl ArchKernel for Aarch64Kernel {
    /// Models `el1_sync` → `el1_sync_handler` and the handler for the exception class. Exception entry is a
    /// context-synchronisation event, so the CPU fetches current text after it returns.
    fn handle_trap(&mut self, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.context_synchronize(cpu, "exception entry");
        let pc = m.pt_regs(cpu).ip();
        match trap {
            Trap::Brk { imm } => {
                m.emit(cpu, EventKind::Call { frames: debug_monitors::brk_entry_frames(self.profile) });
                // No break hook claims the immediate: `brk_handler` warns and `do_debug_exception` dies.
                TrapAction::Oops {
                    message: format!(
                        "Unexpected kernel BRK exception at EL1; Internal error: BRK handler: {:08x} [#1] SMP",
                        debug_monitors::brk_esr(*imm)
                    ),
                }
            }
            Trap::Undefined => {
                TrapAction::Oops { message: "Internal error: Oops - undefined instruction: 0 [#1] SMP".into() }
            }
            Trap::MemFault { addr, what } => TrapAction::Oops {
                message: format!(
                    "Unable to handle kernel paging request at virtual address {:016x} ({what}), pc {pc:016x}",
                    addr.unwrap_or(0)
                ),
            },
            other => TrapAction::Oops { message: format!("unhandled exception: {other}") },
        }
    }
}
