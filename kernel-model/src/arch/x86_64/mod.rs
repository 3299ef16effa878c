//! x86_64: models of `arch/x86/kernel/kprobes/core.c` and `arch/x86/kernel/alternative.c`.

pub mod disasm;
pub mod insn;
pub mod kprobes_core;
pub mod ptrace;

use super::{ArchKernel, PtRegs};
use crate::errno::Errno;
use crate::event::Trap;
use crate::kernel::{HandlerKind, KernelCore, PatchJob, TrapAction};
use crate::kprobes::ProbeId;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};

/// The x86 kernel's exception handling. Kprobes on x86 are not modelled yet (issue 5): registering one fails.
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
    fn handle_trap(&mut self, _k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.context_synchronize(cpu, "iret");
        let message = match trap {
            Trap::Int3 => "int3: 0000 [#1] SMP".to_string(),
            Trap::Debug => "debug: 0000 [#1] SMP".to_string(),
            Trap::Undefined => "invalid opcode: 0000 [#1] SMP".to_string(),
            Trap::MemFault { addr: Some(a), what } => {
                format!("BUG: unable to handle page fault for address: {a:016x} ({what})")
            }
            Trap::MemFault { addr: None, what } => format!("{what}: 0000 [#1] SMP"),
            other => format!("unhandled exception: {other}"),
        };
        TrapAction::Oops { message }
    }

    fn arch_prepare_kprobe(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        _frame: KernelVa,
    ) -> Result<Option<PatchJob>, crate::kprobes::KprobeError> {
        let _ = (k, m, cpu, id);
        Err(crate::kprobes::KprobeError::new(Errno::EINVAL, "x86 arch_prepare_kprobe is not modelled yet (issue 5)"))
    }

    fn after_slot_patch(&mut self, _k: &mut KernelCore, _m: &mut dyn Machine, _cpu: CpuId, _id: ProbeId) {}

    fn arm_kprobe_job(
        &mut self,
        _k: &mut KernelCore,
        _m: &mut dyn Machine,
        _id: ProbeId,
        _frame: KernelVa,
    ) -> Result<PatchJob, Errno> {
        Err(Errno::EINVAL)
    }

    fn disarm_kprobe_job(
        &mut self,
        _k: &mut KernelCore,
        _m: &mut dyn Machine,
        _id: ProbeId,
        _frame: KernelVa,
    ) -> Result<PatchJob, Errno> {
        Err(Errno::EINVAL)
    }

    fn slot_size(&self) -> u64 {
        16
    }

    fn after_handler(
        &mut self,
        _k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        _kind: HandlerKind,
        _addr: KernelVa,
        regs: PtRegs,
        _ret: u64,
    ) -> Option<PtRegs> {
        m.set_pt_regs(cpu, &regs);
        Some(regs)
    }

    fn brk_entry_frames(&self) -> Vec<String> {
        vec!["asm_exc_int3".into(), "exc_int3".into()]
    }

    fn arch_prepare_kretprobe(&mut self, regs: &mut PtRegs, _trampoline: KernelVa) -> (u64, u64) {
        (0, regs.sp())
    }

    fn install_kretprobe_trampoline(&mut self, m: &mut dyn Machine) -> KernelVa {
        // Not modelled yet (issue 5): an int3 so that a return through it is loud.
        m.install_text("__kretprobe_trampoline", &[0xcc])
    }

    fn model_call(&mut self, _k: &mut KernelCore, _m: &mut dyn Machine, _cpu: CpuId, name: &str) -> TrapAction {
        TrapAction::Oops { message: format!("x86 model call `{name}` is not modelled yet") }
    }
}
