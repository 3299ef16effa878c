//! arm64: models of `arch/arm64/kernel/probes/*.c`, `arch/arm64/kernel/patching.c` (5.10: `insn.c`) and
//! `arch/arm64/kernel/debug-monitors.c`.

pub mod disasm;
pub mod error_inject;
pub mod info;
pub mod debug_monitors;
pub mod decode_insn;
pub mod insn;
pub mod simulate_insn;
pub mod stacktrace;
pub mod kprobes;
pub mod kretprobes;
pub mod patching;
pub mod trace_regs;

use super::ArchKernel;
use crate::ptrace::PtRegs;
use crate::errno::Errno;
use crate::event::{EventKind, Oops, SyncReason, Trap};
use crate::kernel::{KernelCore, PatchJob, TrapAction};
use crate::kprobes::ProbeId;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};

/// The arm64 kernel: exception entry, break hooks and kprobes.
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
    /// Models `el1_sync` → `el1_sync_handler` → `el1_dbg` → `do_debug_exception` → `brk_handler` →
    /// `call_break_hook` for BRKs, and the oops paths for other exceptions. Exception entry is a
    /// context-synchronisation event.
    fn handle_trap(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.context_synchronize(cpu, SyncReason::ExceptionEntry);
        let regs = m.pt_regs(cpu);
        let pc = regs.ip();
        match trap {
            Trap::Brk { imm } => {
                let hook = match u32::from(*imm) {
                    insn::KPROBES_BRK_IMM => Some(kprobes::kprobe_breakpoint_handler(k, m, cpu, regs)),
                    insn::KPROBES_BRK_SS_IMM => kprobes::kprobe_breakpoint_ss_handler(k, m, cpu, regs),
                    // 6.12 only: 5.10 has no KRETPROBES_BRK_IMM hook.
                    insn::KRETPROBES_BRK_IMM if self.profile == KernelProfile::V6_12 => {
                        kretprobes::kretprobe_breakpoint_handler(k, m, cpu, regs)
                    }
                    _ => None,
                };
                hook.unwrap_or_else(|| {
                    let mut frames = debug_monitors::brk_entry_frames(self.profile);
                    frames.push("(no hook)".into());
                    m.emit(cpu, EventKind::Call { frames });
                    TrapAction::Oops { oops: Oops::UnexpectedBrk { esr: debug_monitors::brk_esr(*imm) } }
                })
            }
            Trap::Undefined => {
                TrapAction::Oops { oops: Oops::UndefInstr }
            }
            Trap::MemFault { addr, what } => {
                TrapAction::Oops { oops: Oops::PagingRequest { addr: addr.unwrap_or(0), what: what.clone(), pc } }
            }
            other => TrapAction::Oops { oops: Oops::UnhandledException { trap: other.clone() } },
        }
    }

    fn arch_prepare_kprobe(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        frame: KernelVa,
    ) -> Result<Option<PatchJob>, crate::kprobes::KprobeError> {
        kprobes::arch_prepare_kprobe(k, m, cpu, id, frame)
    }

    fn after_slot_patch(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, id: ProbeId) {
        kprobes::after_slot_patch(k, m, cpu, id);
    }

    fn arm_kprobe_job(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        _cpu: CpuId,
        id: ProbeId,
        frame: KernelVa,
    ) -> Result<PatchJob, Errno> {
        kprobes::arm_kprobe_job(k, m, id, frame)
    }

    fn disarm_kprobe_job(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        _cpu: CpuId,
        id: ProbeId,
        frame: KernelVa,
    ) -> Result<PatchJob, Errno> {
        kprobes::disarm_kprobe_job(k, m, id, frame)
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
        kprobes::setup_singlestep(k, m, cpu, addr, regs, false)
    }

    fn kprobe_hit_frames(&self) -> Vec<String> {
        let mut f = debug_monitors::brk_entry_frames(self.profile);
        f.push("kprobe_breakpoint_handler".into());
        f
    }

    fn arch_prepare_kretprobe(&mut self, _m: &mut dyn Machine, regs: &mut PtRegs, trampoline: KernelVa) -> (u64, u64) {
        kretprobes::arch_prepare_kretprobe(self.profile, regs, trampoline)
    }

    fn install_kretprobe_trampoline(&mut self, m: &mut dyn Machine) -> KernelVa {
        kretprobes::install_trampoline(m, self.profile)
    }

    fn text_poke_bp_begin(&mut self, _m: &mut dyn Machine, _sites: &[(KernelVa, Vec<u8>)]) -> Result<(), String> {
        Err("text_poke_bp is x86's protocol; arm64 patches live text with aarch64_insn_patch_text".into())
    }

    fn text_poke_bp_end(&mut self) {}

    fn model_call(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, name: &str) -> TrapAction {
        match name {
            "trampoline_probe_handler" => kretprobes::trampoline_probe_handler(k, m, cpu),
            other => TrapAction::Oops { oops: Oops::NoModelledFunction { name: other.to_string() } },
        }
    }
}
