//! The kernel as the scheduler sees it: what happens when a CPU traps, and which CPUs are in modelled kernel code.

use crate::arch::{self, ArchKernel};
use crate::event::{EventKind, Trap};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, Isa};

/// What the scheduler does with a CPU after the kernel handled its trap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapAction {
    /// Return from the exception: the CPU continues in guest code at its (possibly changed) pc.
    Resume,
    /// The kernel died on this CPU (`die()`); the task is killed.
    Oops {
        /// The kernel's message.
        message: String,
    },
}

/// The modelled kernel of one run.
pub struct Kernel {
    /// Which Linux version's behaviour to reproduce.
    pub profile: KernelProfile,
    arch: Box<dyn ArchKernel>,
}

impl Kernel {
    /// A kernel for `isa` behaving as `profile`.
    #[must_use]
    pub fn new(isa: Isa, profile: KernelProfile) -> Kernel {
        Kernel { profile, arch: arch::lookup(isa, profile) }
    }

    /// Handles an exception taken by `cpu` in guest code, as the kernel's exception entry path does.
    pub fn handle_trap(&mut self, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.emit(cpu, EventKind::Trap { trap: trap.clone() });
        let action = self.arch.handle_trap(m, cpu, trap);
        if let TrapAction::Oops { message } = &action {
            m.emit(cpu, EventKind::Oops { message: message.clone() });
        }
        action
    }
}
