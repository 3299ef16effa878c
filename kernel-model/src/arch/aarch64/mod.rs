//! arm64: models of `arch/arm64/kernel/probes/*.c`, `arch/arm64/kernel/patching.c` (5.10: `insn.c`) and
//! `arch/arm64/kernel/debug-monitors.c`.

pub mod disasm;
pub mod error_inject;
pub mod info;
pub mod debug_monitors;
pub mod decode_insn;
pub mod insn;
pub mod jump_label;
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
use crate::kernel_core::{KernelCore, LivePatchStep, PatchJob, TrapAction};
use crate::kprobes::ProbeId;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};
use std::collections::BTreeMap;

/// The arm64 kernel: exception entry, break hooks and kprobes.
pub struct Aarch64Kernel {
    profile: KernelProfile,
    /// The arch's own part of each probe's `arch_specific_insn`.
    ainsn: kprobes::Aarch64Ainsn,
    /// The arch's own part of each CPU's `kprobe_ctlblk`, by CPU number.
    kcb: BTreeMap<usize, kprobes::Aarch64Ctlblk>,
}

impl Aarch64Kernel {
    /// For `profile`.
    #[must_use]
    pub fn new(profile: KernelProfile) -> Aarch64Kernel {
        Aarch64Kernel { profile, ainsn: kprobes::Aarch64Ainsn::default(), kcb: BTreeMap::new() }
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
                    insn::KPROBES_BRK_IMM => {
                        let akcb = self.kcb.entry(cpu.0).or_default();
                        Some(kprobes::kprobe_breakpoint_handler(&self.ainsn, akcb, k, m, cpu, regs))
                    },
                    insn::KPROBES_BRK_SS_IMM => {
                        kprobes::kprobe_breakpoint_ss_handler(self.kcb.entry(cpu.0).or_default(), k, m, cpu, regs)
                    }
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
        kprobes::arch_prepare_kprobe(&mut self.ainsn, k, m, cpu, id, frame)
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
        let akcb = self.kcb.entry(cpu.0).or_default();
        kprobes::setup_singlestep(&self.ainsn, akcb, k, m, cpu, addr, regs, false)
    }

    fn ctlblk_fields(&self, cpu: CpuId) -> Vec<(&'static str, String)> {
        let akcb = self.kcb.get(&cpu.0).copied().unwrap_or_default();
        vec![("saved_irqflag", format!("{:#x}", akcb.saved_irqflag))]
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

    /// `aarch64_insn_patch_text(addrs, insns, cnt)` (arch/arm64/kernel/patching.c): every site's new
    /// instruction word(s) written under `stop_machine` by `aarch64_insn_patch_text_cb`.
    fn patch_live_text_step(
        &mut self,
        m: &mut dyn Machine,
        _cpu: CpuId,
        sites: &[(KernelVa, Vec<u8>)],
        step: u8,
        frame: KernelVa,
    ) -> LivePatchStep {
        if step > 0 {
            return LivePatchStep::Done;
        }
        let (mut addrs, mut insns) = (Vec::new(), Vec::new());
        for (addr, bytes) in sites {
            if bytes.is_empty() || bytes.len() % 4 != 0 || addr.0 % 4 != 0 {
                let why = format!("{}: not whole aligned instruction words", m.kallsyms().format(*addr));
                return LivePatchStep::Failed(Oops::TextPokeBp { why });
            }
            for (i, w) in bytes.chunks_exact(4).enumerate() {
                addrs.push(addr.add(4 * i as u64));
                insns.push(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            }
        }
        match patching::InsnPatchCb::new(m, self.profile, frame, addrs, insns) {
            Ok(cb) => LivePatchStep::Job(PatchJob::StopMachine(Box::new(cb))),
            Err(e) => LivePatchStep::Failed(Oops::TextPokeBp { why: format!("aarch64_insn_patch_text: {e}") }),
        }
    }

    fn live_patch_fn(&self) -> &'static str {
        "aarch64_insn_patch_text"
    }

    fn model_call(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, name: &str) -> TrapAction {
        match name {
            "trampoline_probe_handler" => kretprobes::trampoline_probe_handler(k, m, cpu),
            other => TrapAction::Oops { oops: Oops::NoModelledFunction { name: other.to_string() } },
        }
    }

    fn jump_label_batch(&self) -> bool {
        jump_label::batch(self.profile)
    }

    fn jump_label_transform(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        code: KernelVa,
        target: KernelVa,
        ty: crate::event::jump_label::JumpLabelType,
    ) -> Result<(), Oops> {
        jump_label::transform(self.profile, m, cpu, code, target, ty)
    }

    fn jump_label_apply_step(&mut self, m: &mut dyn Machine, cpu: CpuId, step: u8) -> LivePatchStep {
        jump_label::apply_step(m, cpu, step)
    }

    /// `JUMP_LABEL_NOP_SIZE` = `AARCH64_INSN_SIZE` in both profiles.
    fn jump_entry_size(&self, _m: &dyn Machine, _code: KernelVa) -> u64 {
        insn::AARCH64_INSN_SIZE
    }
}
