//! `arch/arm64/kernel/probes/kprobes.c`: preparing a probe (decode, XOL slot `{insn, BRK #6}`), arming it
//! (`BRK #4` under `stop_machine`), and the hit path: `kprobe_breakpoint_handler` → pre-handler →
//! `setup_singlestep` (out of line with DAIF masked, or simulated) → `kprobe_breakpoint_ss_handler` →
//! `post_kprobe_handler`.

use super::decode_insn::{arm_kprobe_decode_insn, DecodeOptions, ProbeInsn};
use super::insn::{BRK64_OPCODE_KPROBES, BRK64_OPCODE_KPROBES_SS};
use super::patching::InsnPatchCb;
use crate::ptrace::aarch64::DAIF_MASK;
use super::simulate_insn::{SimulateHandler, SimulateOptions};
use crate::ptrace::PtRegs;
use crate::errno::Errno;
use crate::event::{EventKind, HitStep, KprobeStep, Oops, SyncReason};

/// Where the arm64 kprobe `BUG()`s are.
const KPROBES_C: &str = "arch/arm64/kernel/probes/kprobes.c";
use crate::kernel_core::{HandlerKind, KernelCore, PatchJob, TrapAction};
use crate::kprobes::{
    KprobeError, ProbeId, KPROBE_HIT_ACTIVE, KPROBE_HIT_SS, KPROBE_HIT_SSDONE, KPROBE_REENTER,
};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};

/// `MAX_INSN_SIZE` (words) × 4: one XOL slot.
pub const SLOT_SIZE: u64 = 8;


/// Models `arch_prepare_kprobe` (arch/arm64/kernel/probes/kprobes.c).
/// The part of arm64's `struct arch_specific_insn` the generic probe does not carry: `api.handler`, the simulate
/// handler `arm_kprobe_decode_insn` chose for a probe it simulates, by probed address (an aggregate's members share
/// their first probe's, as they share its `ainsn`). The arch owns it, as Linux's arch-defined struct.
#[derive(Clone, Debug, Default)]
pub struct Aarch64Ainsn {
    handler: std::collections::BTreeMap<KernelVa, SimulateHandler>,
}

/// Models `arch_prepare_kprobe` (arch/arm64/kernel/probes/kprobes.c).
pub fn arch_prepare_kprobe(
    ainsn: &mut Aarch64Ainsn,
    k: &mut KernelCore,
    m: &mut dyn Machine,
    cpu: CpuId,
    id: ProbeId,
    frame: KernelVa,
) -> Result<Option<PatchJob>, KprobeError> {
    let addr = k.kprobes.get(id).addr;
    // if ((unsigned long) p->addr & 0x03) return -EINVAL;
    if addr.0 & 3 != 0 {
        return Err(KprobeError::new(Errno::EINVAL, format!("arch_prepare_kprobe: {addr} is not 4-byte aligned")));
    }
    let unreadable = |_| KprobeError::new(Errno::EINVAL, "arch_prepare_kprobe: cannot read the instruction");
    let opcode = m.read_u32(addr).map_err(unreadable)?;
    k.kprobes.get_mut(id).opcode = opcode.to_le_bytes().to_vec();
    let symbol_start = m.kallsyms().lookup(addr).map(|s| s.addr);
    let decoded =
        arm_kprobe_decode_insn(addr, m, symbol_start, DecodeOptions::for_profile(k.profile())).map_err(unreadable)?;
    let name = k.kprobes.get(id).spec.name.clone();
    match decoded {
        ProbeInsn::InsnRejected => Err(KprobeError::new(
            Errno::EINVAL,
            format!(
                "arm_kprobe_decode_insn: INSN_REJECTED ({opcode:08x}: not steppable, or inside an exclusive \
                 load/store sequence)"
            ),
        )),
        ProbeInsn::InsnGoodNoSlot(h) => {
            // arch_prepare_simulate: insn = NULL, restore = 0.
            let p = k.kprobes.get_mut(id);
            p.ainsn.slot = None;
            p.ainsn.restore = 0;
            p.ainsn.class = format!("simulated:{}", h.name().trim_start_matches("simulate_"));
            ainsn.handler.insert(addr, h);
            m.emit(cpu, EventKind::Kprobe { probe: name, step: KprobeStep::ArchPrepareSimulate { handler: h.name() } });
            Ok(None)
        }
        ProbeInsn::InsnGood => {
            let slot = k
                .get_insn_slot(m, SLOT_SIZE)
                .ok_or_else(|| KprobeError::new(Errno::ENOMEM, "get_insn_slot: no free slot"))?;
            let p = k.kprobes.get_mut(id);
            p.ainsn.slot = Some(slot);
            p.ainsn.restore = addr.0 + 4;
            p.ainsn.class = "xol".into();
            ainsn.handler.remove(&addr);
            m.emit(cpu, EventKind::Kprobe { probe: name, step: KprobeStep::ArchPrepareSsSlot { slot } });
            let addrs = vec![slot, slot.add(4)];
            let insns = vec![opcode, BRK64_OPCODE_KPROBES_SS];
            match k.profile() {
                // 5.10: aarch64_insn_patch_text(addrs, insns, 2) — under stop_machine — then flush_icache_range.
                KernelProfile::V5_10 => Ok(Some(PatchJob::StopMachine(Box::new(
                    InsnPatchCb::new(m, k.profile(), frame, addrs, insns)
                        .map_err(|e| KprobeError::new(e, "aarch64_insn_patch_text"))?,
                )))),
                // 6.12: aarch64_insn_patch_text_nosync() for each word: write + caches_clean_inval_pou, no
                // stop_machine; the BRK exception of the hit is the context synchronisation.
                KernelProfile::V6_12 => {
                    for (a, i) in addrs.iter().zip(insns) {
                        m.poke_text(cpu, *a, &i.to_le_bytes())
                            .map_err(|_| KprobeError::new(Errno::EFAULT, "aarch64_insn_patch_text_nosync"))?;
                        m.flush_icache_range(cpu, *a, 4);
                    }
                    Ok(None)
                }
            }
        }
    }
}

/// The 5.10 tail of `arch_prepare_ss_slot`: `flush_icache_range(slot, slot + 2 words)` (with its IPI to every CPU,
/// `kick_all_cpus_sync`).
pub fn after_slot_patch(k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, id: ProbeId) {
    if let Some(slot) = k.kprobes.get(id).ainsn.slot {
        m.flush_icache_range(cpu, slot, SLOT_SIZE);
        for c in 0..m.nr_cpus() {
            m.context_synchronize(CpuId(c), SyncReason::KickAllCpusSyncIpi);
        }
    }
}

/// Models `arch_arm_kprobe`: `aarch64_insn_patch_text(&addr, &BRK64_OPCODE_KPROBES, 1)`.
pub fn arm_kprobe_job(k: &mut KernelCore, m: &mut dyn Machine, id: ProbeId, frame: KernelVa) -> Result<PatchJob, Errno> {
    let addr = k.kprobes.get(id).addr;
    Ok(PatchJob::StopMachine(Box::new(InsnPatchCb::new(m, k.profile(), frame, vec![addr], vec![BRK64_OPCODE_KPROBES])?)))
}

/// Models `arch_disarm_kprobe`: `aarch64_insn_patch_text(&addr, &p->opcode, 1)`.
pub fn disarm_kprobe_job(k: &mut KernelCore, m: &mut dyn Machine, id: ProbeId, frame: KernelVa) -> Result<PatchJob, Errno> {
    let p = k.kprobes.get(id);
    let opcode = u32::from_le_bytes(p.opcode[..4].try_into().map_err(|_| Errno::EINVAL)?);
    Ok(PatchJob::StopMachine(Box::new(InsnPatchCb::new(m, k.profile(), frame, vec![p.addr], vec![opcode])?)))
}

/// The arch-defined part of arm64's `struct kprobe_ctlblk` (`arch/arm64/include/asm/kprobes.h`), per CPU; the
/// generic part (`kprobe_status`, `prev_kprobe`) is `KernelCore`'s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aarch64Ctlblk {
    /// `saved_irqflag`: the DAIF bits masked for the out-of-line step (`kprobes_save_local_irqflag`).
    pub saved_irqflag: u64,
    /// 5.10's `ss_ctx`: `Some(match_addr)` while a step is pending (`ss_pending`).
    pub ss_ctx: Option<u64>,
}

/// Models `kprobe_breakpoint_handler` (5.10: → `kprobe_handler`) for `BRK #4` at `regs.pc`.
pub fn kprobe_breakpoint_handler(
    ainsn: &Aarch64Ainsn,
    akcb: &mut Aarch64Ctlblk,
    k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, mut regs: PtRegs) -> TrapAction {
    let addr = KernelVa(regs.ip());
    let Some(entry) = k.kprobes.get_kprobe(addr).cloned() else {
        return match k.profile() {
            // "The breakpoint instruction was removed right after we hit it. Another cpu has removed either a
            // probepoint or a debugger breakpoint at this address": return to the original instruction.
            KernelProfile::V5_10 => {
                k.emit_hit(m, cpu, addr, HitStep::NoKprobeBackToInsn);
                TrapAction::Resume
            }
            // WARN_ON_ONCE(!p); return DBG_HOOK_ERROR.
            KernelProfile::V6_12 => TrapAction::Oops { oops: Oops::NoKprobeAt { addr } },
        };
    };
    let _ = entry;
    if let Some(cur) = k.current_kprobe(cpu) {
        // reenter_kprobe.
        let status = k.kprobe_status(cpu);
        return match status {
            KPROBE_HIT_SSDONE | KPROBE_HIT_ACTIVE => {
                k.kprobes.inc_nmissed(addr);
                k.emit_hit(m, cpu, addr, HitStep::ReenterMissed { current: Some(cur) });
                setup_singlestep(ainsn, akcb, k, m, cpu, addr, &mut regs, true)
            }
            KPROBE_HIT_SS | KPROBE_REENTER => TrapAction::Oops {
                oops: match k.profile() {
                    KernelProfile::V5_10 => Oops::UnrecoverableKprobe { file: KPROBES_C },
                    KernelProfile::V6_12 => Oops::FailedToRecoverReenteredKprobes { file: KPROBES_C },
                },
            },
            _ => TrapAction::Oops { oops: Oops::ReenterInvalidStatus { status } },
        };
    }
    k.set_current_kprobe(cpu, Some(addr));
    k.set_kprobe_status(cpu, KPROBE_HIT_ACTIVE);
    k.emit_hit(m, cpu, addr, HitStep::KprobeBreakpointHandler);
    match k.start_handlers(addr, HandlerKind::Pre, regs.clone()) {
        Some(h) => {
            TrapAction::Handlers(Box::new(h))
        }
        None => setup_singlestep(ainsn, akcb, k, m, cpu, addr, &mut regs, false),
    }
}

/// Models `setup_singlestep`: step the original instruction out of line with DAIF masked, or simulate it and run
/// the post-handler in the same exception.
#[allow(clippy::too_many_arguments)]
pub fn setup_singlestep(
    ainsn: &Aarch64Ainsn,
    akcb: &mut Aarch64Ctlblk,
    k: &mut KernelCore,
    m: &mut dyn Machine,
    cpu: CpuId,
    addr: KernelVa,
    regs: &mut PtRegs,
    reenter: bool,
) -> TrapAction {
    if reenter {
        // save_previous_kprobe; set_current_kprobe; status = KPROBE_REENTER.
        k.save_previous_kprobe(cpu);
        k.set_current_kprobe(cpu, Some(addr));
        k.set_kprobe_status(cpu, KPROBE_REENTER);
    } else {
        k.set_kprobe_status(cpu, KPROBE_HIT_SS);
    }
    let first = k.kprobes.first(k.kprobes.get_kprobe(addr).expect("probe exists"));
    let p = k.kprobes.get(first).clone();
    if let Some(slot) = p.ainsn.slot {
        // kprobes_save_local_irqflag: mask all of DAIF for the step.
        let r = regs.aarch64_mut();
        akcb.saved_irqflag = r.pstate & DAIF_MASK;
        r.pstate |= DAIF_MASK;
        if k.profile() == KernelProfile::V5_10 {
            // 5.10 kept kcb->ss_ctx: ss_pending, match_addr = slot + 4.
            akcb.ss_ctx = Some(slot.0 + 4);
        }
        r.pc = slot.0;
        k.emit_hit(m, cpu, addr, HitStep::SetupSinglestepXol { slot });
        m.set_pt_regs(cpu, regs);
        m.context_synchronize(cpu, SyncReason::Eret);
        TrapAction::Resume
    } else {
        // arch_simulate_insn: handler(opcode, addr, regs); post_kprobe_handler.
        let opcode = u32::from_le_bytes(p.opcode[..4].try_into().expect("4-byte opcode"));
        // The handler arm_kprobe_decode_insn stored in arch_specific_insn when the probe was prepared.
        let Some(h) = ainsn.handler.get(&addr).copied() else {
            return TrapAction::Oops { oops: Oops::SimulatePagingRequest { handler: "api.handler (none stored)".into() } };
        };
        let handler = format!("simulate_{}", h.name().trim_start_matches("simulate_"));
        if h.simulate(opcode, regs.aarch64_mut(), m, SimulateOptions::for_profile(k.profile())).is_err() {
            return TrapAction::Oops { oops: Oops::SimulatePagingRequest { handler } };
        }
        k.emit_hit(m, cpu, addr, HitStep::Simulate { handler });
        post_kprobe_handler(k, m, cpu, regs)
    }
}

/// Models `post_kprobe_handler`.
fn post_kprobe_handler(k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, regs: &mut PtRegs) -> TrapAction {
    let Some(cur) = k.current_kprobe(cpu) else {
        m.set_pt_regs(cpu, regs);
        return TrapAction::Resume;
    };
    let first = k.kprobes.first(k.kprobes.get_kprobe(cur).expect("current probe exists"));
    let restore = k.kprobes.get(first).ainsn.restore;
    if restore != 0 {
        regs.set_ip(restore);
    }
    if k.kprobe_status(cpu) == KPROBE_REENTER {
        k.restore_previous_kprobe(cpu);
        k.emit_hit(m, cpu, cur, HitStep::PostKprobeHandlerRestore);
        m.set_pt_regs(cpu, regs);
        m.context_synchronize(cpu, SyncReason::Eret);
        return TrapAction::Resume;
    }
    k.set_kprobe_status(cpu, KPROBE_HIT_SSDONE);
    match k.start_handlers(cur, HandlerKind::Post, regs.clone()) {
        Some(h) => {
            TrapAction::Handlers(Box::new(h))
        }
        None => {
            k.set_current_kprobe(cpu, None);
            k.emit_hit(m, cpu, cur, HitStep::PostKprobeHandlerDone);
            m.set_pt_regs(cpu, regs);
            m.context_synchronize(cpu, SyncReason::Eret);
            TrapAction::Resume
        }
    }
}

/// Models `kprobe_breakpoint_ss_handler` for `BRK #6` at `regs.pc`: is it our step's end?
pub fn kprobe_breakpoint_ss_handler(
    akcb: &mut Aarch64Ctlblk,
    k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, mut regs: PtRegs) -> Option<TrapAction> {
    let pc = regs.ip();
    let ours = match k.profile() {
        // 5.10: kprobe_ss_hit(kcb, addr): ss_pending && match_addr == addr.
        KernelProfile::V5_10 => {
            let hit = akcb.ss_ctx == Some(pc);
            if hit {
                akcb.ss_ctx = None;
            }
            hit
        }
        // 6.12: cur && status & (HIT_SS|REENTER) && addr == &cur->ainsn.api.insn[1].
        KernelProfile::V6_12 => k.current_kprobe(cpu).is_some_and(|cur| {
            let first = k.kprobes.first(k.kprobes.get_kprobe(cur).expect("current probe exists"));
            let slot = k.kprobes.get(first).ainsn.slot;
            k.kprobe_status(cpu) & (KPROBE_HIT_SS | KPROBE_REENTER) != 0
                && slot.is_some_and(|s| s.0 + 4 == pc)
        }),
    };
    if !ours {
        return None;
    }
    // kprobes_restore_local_irqflag.
    let saved = akcb.saved_irqflag;
    let r = regs.aarch64_mut();
    r.pstate = (r.pstate & !DAIF_MASK) | saved;
    let cur = k.current_kprobe(cpu).unwrap_or(KernelVa(0));
    k.emit_hit(m, cpu, cur, HitStep::KprobeBreakpointSsHandler);
    Some(post_kprobe_handler(k, m, cpu, &mut regs))
}

