//! x86_64: models of `arch/x86/kernel/kprobes/core.c` and `arch/x86/kernel/alternative.c`.

pub mod disasm;
pub mod error_inject;
pub mod info;
pub mod insn;
pub mod jump_label;
pub mod kprobes;
pub mod kretprobes;
pub mod text_patching;
pub mod text_patching_h;
pub mod stacktrace;
pub mod trace_regs;

use super::ArchKernel;
use crate::ptrace::PtRegs;
use crate::errno::Errno;
use crate::event::{Oops, SyncReason, Trap};
use crate::kernel_core::{KernelCore, LivePatchStep, PatchJob, TrapAction};
use crate::kprobes::ProbeId;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};

/// The x86 kernel: exception entry (IDT vectors) and kprobes.
pub struct X86Kernel {
    profile: KernelProfile,
    kp: kprobes::X86KprobeState,
    bp_desc: Option<Vec<text_patching::TextPokeLoc>>,
    /// `tp_vec`: what `text_poke_queue` queued for the next `text_poke_bp_batch` (alternative.c).
    tp_vec: Vec<(KernelVa, Vec<u8>)>,
}

impl X86Kernel {
    /// For `profile`.
    #[must_use]
    pub fn new(profile: KernelProfile) -> X86Kernel {
        X86Kernel { profile, kp: kprobes::X86KprobeState::default(), bp_desc: None, tp_vec: Vec::new() }
    }
}

impl ArchKernel for X86Kernel {
    /// Models the IDT entries for an exception in kernel mode: `exc_int3` → `kprobe_int3_handler`, `exc_debug` →
    /// `kprobe_debug_handler` (5.10), `exc_page_fault`, … Exception return (`iret`) is serialising.
    fn handle_trap(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.context_synchronize(cpu, SyncReason::Iret);
        let regs = m.pt_regs(cpu);
        let handled = match trap {
            // do_int3: poke_int3_handler first, then kprobe_int3_handler.
            Trap::Int3 => text_patching::poke_int3_handler(self.bp_desc.as_deref(), m, cpu, regs.clone())
                .or_else(|| kprobes::kprobe_int3_handler(&mut self.kp, k, m, cpu, regs)),
            Trap::Debug => kprobes::kprobe_debug_handler(&mut self.kp, k, m, cpu, regs),
            _ => None,
        };
        if let Some(action) = handled {
            return action;
        }
        let oops = match trap {
            Trap::Int3 => Oops::X86Trap { name: "int3" },
            Trap::Debug => Oops::X86Trap { name: "debug" },
            Trap::Undefined => Oops::X86Trap { name: "invalid opcode" },
            Trap::MemFault { addr: Some(a), what } => Oops::PageFault { addr: *a, what: what.clone() },
            Trap::MemFault { addr: None, what } => Oops::Fault { what: what.clone() },
            other => Oops::UnhandledException { trap: other.clone() },
        };
        TrapAction::Oops { oops }
    }

    fn arch_prepare_kprobe(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        _frame: KernelVa,
    ) -> Result<Option<PatchJob>, crate::kprobes::KprobeError> {
        kprobes::arch_prepare_kprobe(&mut self.kp, k, m, cpu, id)
    }

    fn after_slot_patch(&mut self, _k: &mut KernelCore, _m: &mut dyn Machine, _cpu: CpuId, _id: ProbeId) {}

    fn arm_kprobe_job(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        _frame: KernelVa,
    ) -> Result<PatchJob, Errno> {
        kprobes::poke_first_byte(k, m, cpu, id, true)
    }

    fn disarm_kprobe_job(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        _frame: KernelVa,
    ) -> Result<PatchJob, Errno> {
        kprobes::poke_first_byte(k, m, cpu, id, false)
    }

    fn slot_size(&self) -> u64 {
        kprobes::SLOT_SIZE
    }

    fn setup_singlestep(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        addr: KernelVa,
        regs: &mut PtRegs,
    ) -> TrapAction {
        kprobes::setup_singlestep(&mut self.kp, k, m, cpu, addr, regs, false)
    }

    fn kprobe_in_nmi(&self) -> bool {
        // exc_int3 → irqentry_nmi_enter: int3 is NMI-like (0d00449c7a28, in both profiles).
        true
    }

    fn kprobe_hit_frames(&self) -> Vec<String> {
        ["asm_exc_int3", "exc_int3", "do_int3", "kprobe_int3_handler"].map(String::from).to_vec()
    }

    fn arch_prepare_kretprobe(&mut self, m: &mut dyn Machine, regs: &mut PtRegs, trampoline: KernelVa) -> (u64, u64) {
        kretprobes::arch_prepare_kretprobe(m, regs, trampoline)
    }

    fn install_kretprobe_trampoline(&mut self, m: &mut dyn Machine) -> KernelVa {
        kretprobes::install_trampoline(m, self.profile)
    }

    fn patch_live_text_step(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        sites: &[(KernelVa, Vec<u8>)],
        step: u8,
        _frame: KernelVa,
    ) -> LivePatchStep {
        text_patching::text_poke_bp_batch_step(&mut self.bp_desc, m, cpu, sites, step)
    }

    fn live_patch_fn(&self) -> &'static str {
        "text_poke_bp_batch"
    }

    fn model_call(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, name: &str) -> TrapAction {
        match name {
            "trampoline_handler" | "arch_rethook_trampoline_callback" => kretprobes::trampoline_callback(k, m, cpu),
            other => TrapAction::Oops { oops: Oops::NoModelledFunction { name: other.to_string() } },
        }
    }

    /// x86 defines `HAVE_JUMP_LABEL_BATCH` in both profiles.
    fn jump_label_batch(&self) -> bool {
        true
    }

    fn jump_label_transform(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        code: KernelVa,
        target: KernelVa,
        ty: crate::event::jump_label::JumpLabelType,
    ) -> Result<(), Oops> {
        // text_poke_queue → text_poke_flush(addr): a full or out-of-order queue is flushed first; one key's sites
        // are sorted (jump_label_init) and few, so neither happens here.
        let site = jump_label::queue(self.profile, m, cpu, code, target, ty)?;
        self.tp_vec.push(site);
        Ok(())
    }

    /// `arch_jump_label_transform_apply` → `text_poke_finish()` → `text_poke_flush(NULL)`: `text_poke_bp_batch`
    /// over `tp_vec` if it holds anything, then `tp_vec_nr = 0`.
    fn jump_label_apply_step(&mut self, m: &mut dyn Machine, cpu: CpuId, step: u8) -> LivePatchStep {
        if step == 0 {
            let calls = "text_poke_finish";
            m.emit(cpu, crate::event::EventKind::JumpLabel { step: crate::event::jump_label::JumpLabelStep::Apply { calls } });
            if self.tp_vec.is_empty() {
                return LivePatchStep::Done;
            }
        }
        let sites = std::mem::take(&mut self.tp_vec);
        let r = text_patching::text_poke_bp_batch_step(&mut self.bp_desc, m, cpu, &sites, step);
        if !matches!(r, LivePatchStep::Done | LivePatchStep::Failed(_)) {
            self.tp_vec = sites;
        }
        r
    }

    fn jump_entry_size(&self, m: &dyn Machine, code: KernelVa) -> u64 {
        jump_label::jump_entry_size(self.profile, m, code)
    }
}
