//! `arch/x86/kernel/kprobes/core.c`, the hit side and the arming: `arch_prepare_kprobe` (via [`prepare`]),
//! `arch_arm_kprobe`/`arch_disarm_kprobe` (`text_poke` of `int3` + `text_poke_sync`), `kprobe_int3_handler`,
//! `reenter_kprobe`, `setup_singlestep` (5.10: boost, or TF single-step ending in `kprobe_debug_handler` /
//! `resume_execution`; 6.12: boost, emulate, or step the copy up to the `int3` after it), `kprobe_post_process`.
//!
//! The rest of `core.c` is in the submodules: [`prepare`] (`can_probe`, `__copy_instruction`, `arch_prepare_kprobe`),
//! [`boost`] (`can_boost`), [`emulate`] (`prepare_emulation`, `kprobe_emulate_*`), [`resume`] (`resume_execution`).

pub mod boost;
pub mod emulate;
pub mod prepare;
pub mod resume;
#[cfg(test)]
mod test_fixtures;

use super::insn::{INT3_INSN_OPCODE, MAX_INSN_SIZE};
use self::prepare::{X86Kprobe, X86KprobesConfig, X86KprobesEnv, X86ProbeClass};
use self::resume::{resume_execution, resume_singlestep, set_current_kprobe_flags, KprobeSavedFlags};
use crate::ptrace::x86_64::{X86_EFLAGS_IF, X86_EFLAGS_TF};
use crate::ptrace::PtRegs;
use crate::errno::Errno;
use crate::event::{EventKind, HitStep, KprobeStep, Oops};
use crate::kernel_core::{HandlerKind, KernelCore, PatchJob, TrapAction};
use crate::kprobes::{KprobeError, ProbeId, KPROBE_HIT_ACTIVE, KPROBE_HIT_SS, KPROBE_HIT_SSDONE, KPROBE_REENTER};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};
use std::collections::BTreeMap;

/// One XOL slot: `MAX_INSN_SIZE` bytes (`kprobe_insn_slots.insn_size`).
pub const SLOT_SIZE: u64 = MAX_INSN_SIZE as u64;

/// The x86 half of the kprobe state: each probe's preparation and each CPU's saved flags.
#[derive(Default)]
pub struct X86KprobeState {
    /// `p->ainsn` and the copied bytes, per probe.
    pub probes: BTreeMap<ProbeId, X86Kprobe>,
    /// `kcb->kprobe_old_flags`/`kprobe_saved_flags`, per CPU.
    pub flags: BTreeMap<usize, KprobeSavedFlags>,
    /// `kcb->prev_kprobe.old_flags/saved_flags`, per CPU.
    pub prev_flags: BTreeMap<usize, KprobeSavedFlags>,
}

/// `get_kprobe` as `can_probe`/`__copy_instruction` query it: a registered probe's original first byte.
struct Env<'a>(&'a KernelCore, &'a X86KprobeState);

impl X86KprobesEnv for Env<'_> {
    fn kprobe_opcode(&self, addr: KernelVa) -> Option<u8> {
        let entry = self.0.kprobes.get_kprobe(addr)?;
        let first = self.0.kprobes.first(entry);
        self.1.probes.get(&first).map(|x| x.opcode)
    }
}


/// Models `arch_prepare_kprobe`: `can_probe`, `__copy_instruction`, the slot layout of the profile, and
/// `text_poke(p->ainsn.insn, buf, len)` into the slot.
pub fn arch_prepare_kprobe(
    s: &mut X86KprobeState,
    k: &mut KernelCore,
    m: &mut dyn Machine,
    cpu: CpuId,
    id: ProbeId,
) -> Result<Option<PatchJob>, KprobeError> {
    let cfg = X86KprobesConfig::for_profile(k.profile());
    let addr = k.kprobes.get(id).addr;
    let has_post = k.kprobes.get(id).spec.post_handler.is_some();
    let slot = k.get_insn_slot(m, SLOT_SIZE).ok_or_else(|| KprobeError::new(Errno::ENOMEM, "get_insn_slot: no slot"))?;
    let prepared = prepare::arch_prepare_kprobe(addr, slot, has_post, m, m.kallsyms(), &Env(k, s), cfg);
    let xp = match prepared {
        Ok(xp) => xp,
        Err(e) => {
            k.free_insn_slot(m, slot, SLOT_SIZE);
            return Err(KprobeError::new(e.errno(), format!("arch_prepare_kprobe: {e}")));
        }
    };
    m.poke_text(cpu, slot, &xp.slot_bytes).map_err(|_| KprobeError::new(Errno::EFAULT, "text_poke into the slot"))?;
    let class = X86ProbeClass::of_prepared(&xp, has_post, cfg).kernel_name();
    let p = k.kprobes.get_mut(id);
    p.opcode = vec![xp.opcode];
    p.ainsn.slot = Some(slot);
    p.ainsn.restore = 0;
    p.ainsn.class = class.clone();
    m.emit(cpu, EventKind::Kprobe {
        probe: p.spec.name.clone(),
        step: KprobeStep::ArchPrepareKprobe { slot, len: xp.slot_bytes.len(), class },
    });
    s.probes.insert(id, xp);
    Ok(None)
}

/// Models `arch_arm_kprobe` / `arch_disarm_kprobe`: `text_poke(p->addr, byte, 1); text_poke_sync();`.
pub fn poke_first_byte(k: &KernelCore, m: &mut dyn Machine, cpu: CpuId, id: ProbeId, arm: bool) -> Result<PatchJob, Errno> {
    let p = k.kprobes.get(id);
    let byte = if arm { INT3_INSN_OPCODE } else { *p.opcode.first().ok_or(Errno::EINVAL)? };
    m.poke_text(cpu, p.addr, &[byte]).map_err(|_| Errno::EFAULT)?;
    Ok(PatchJob::SyncCores)
}

fn first_probe(k: &KernelCore, addr: KernelVa) -> ProbeId {
    k.kprobes.first(k.kprobes.get_kprobe(addr).expect("probe exists"))
}

/// `set_current_kprobe(p, regs, kcb)`: current, plus the saved flags.
fn set_current_kprobe(s: &mut X86KprobeState, k: &mut KernelCore, cpu: CpuId, addr: KernelVa, regs: &PtRegs) {
    k.set_current_kprobe(cpu, Some(addr));
    let if_modifier = s.probes.get(&first_probe(k, addr)).is_some_and(|x| x.ainsn.if_modifier);
    let flags = match regs {
        PtRegs::X86_64(r) => r.flags,
        PtRegs::Aarch64(_) => 0,
    };
    s.flags.insert(cpu.0, set_current_kprobe_flags(k.profile(), flags, if_modifier));
}

/// Models `kprobe_int3_handler` for an `int3` whose saved ip is `regs.ip` (one past the `int3`). `None`: not a
/// kprobe's (the caller dies with "int3").
pub fn kprobe_int3_handler(
    s: &mut X86KprobeState,
    k: &mut KernelCore,
    m: &mut dyn Machine,
    cpu: CpuId,
    mut regs: PtRegs,
) -> Option<TrapAction> {
    let addr = KernelVa(regs.ip() - 1);
    if k.kprobes.get_kprobe(addr).is_some() {
        if k.current_kprobe(cpu).is_some() {
            // reenter_kprobe: unlike arm64, a hit during KPROBE_HIT_SS is recoverable.
            return Some(match k.kprobe_status(cpu) {
                KPROBE_HIT_SSDONE | KPROBE_HIT_ACTIVE | KPROBE_HIT_SS => {
                    k.kprobes.inc_nmissed(addr);
                    k.emit_hit(m, cpu, addr, HitStep::ReenterMissed { current: None });
                    setup_singlestep(s, k, m, cpu, addr, &mut regs, true)
                }
                _ => TrapAction::Oops { oops: Oops::UnrecoverableKprobe { file: "arch/x86/kernel/kprobes/core.c" } },
            });
        }
        set_current_kprobe(s, k, cpu, addr, &regs);
        k.set_kprobe_status(cpu, KPROBE_HIT_ACTIVE);
        k.emit_hit(m, cpu, addr, HitStep::KprobeInt3Handler);
        return Some(match k.start_handlers(addr, HandlerKind::Pre, regs.clone()) {
            Some(h) => {
                TrapAction::Handlers(Box::new(h))
            }
            None => setup_singlestep(s, k, m, cpu, addr, &mut regs, false),
        });
    }
    if k.profile() == KernelProfile::V6_12 {
        // kprobe_is_ss(kcb): the int3 after the copy in the slot ends the step.
        if let Some(cur) = k.current_kprobe(cpu) {
            let id = first_probe(k, cur);
            let status = k.kprobe_status(cpu);
            if let Some(x) = s.probes.get(&id) {
                let ss_int3 = x.ainsn.insn.add(u64::from(x.insn.len() as u8));
                if (status == KPROBE_HIT_SS || status == KPROBE_REENTER) && ss_int3 == addr {
                    let saved = s.flags.get(&cpu.0).copied().unwrap_or_default().saved_flags;
                    resume_singlestep(cur, x.ainsn.insn, saved, regs.x86_64_mut());
                    k.emit_hit(m, cpu, cur, HitStep::ResumeSinglestep);
                    return Some(kprobe_post_process(s, k, m, cpu, &mut regs));
                }
            }
        }
    }
    let mut byte = [0u8; 1];
    match m.read(addr, &mut byte).ok().map(|()| byte[0]) {
        // "The breakpoint instruction was removed right after we hit it": go back and run what is there now.
        Some(b) if b != INT3_INSN_OPCODE => {
            regs.set_ip(addr.0);
            m.set_pt_regs(cpu, &regs);
            Some(TrapAction::Resume)
        }
        _ => None,
    }
}

/// Models `setup_singlestep`.
pub fn setup_singlestep(
    s: &mut X86KprobeState,
    k: &mut KernelCore,
    m: &mut dyn Machine,
    cpu: CpuId,
    addr: KernelVa,
    regs: &mut PtRegs,
    reenter: bool,
) -> TrapAction {
    let cfg = X86KprobesConfig::for_profile(k.profile());
    let id = first_probe(k, addr);
    let Some(x) = s.probes.get(&id).cloned() else {
        return TrapAction::Oops { oops: Oops::NoArchPreparation };
    };
    let has_post = k.kprobes.get(id).spec.post_handler.is_some();
    let boost = !cfg.preemption
        && x.ainsn.boostable
        && match k.profile() {
            KernelProfile::V5_10 => !has_post,
            KernelProfile::V6_12 => true,
        };
    if boost {
        // "Boost up -- we can execute copied instructions directly": the slot ends with a jmp back.
        if !reenter {
            k.set_current_kprobe(cpu, None);
        }
        regs.set_ip(x.ainsn.insn.0);
        k.emit_hit(m, cpu, addr, HitStep::SetupSinglestepBoosted { slot: x.ainsn.insn });
        m.set_pt_regs(cpu, regs);
        return TrapAction::Resume;
    }
    if reenter {
        k.save_previous_kprobe(cpu);
        s.prev_flags.insert(cpu.0, s.flags.get(&cpu.0).copied().unwrap_or_default());
        set_current_kprobe(s, k, cpu, addr, regs);
        k.set_kprobe_status(cpu, KPROBE_REENTER);
    } else {
        k.set_kprobe_status(cpu, KPROBE_HIT_SS);
    }
    match k.profile() {
        KernelProfile::V5_10 => {
            // Prepare real single stepping: TF on, IF off; an int3 original is stepped in place.
            let r = regs.x86_64_mut();
            r.flags |= X86_EFLAGS_TF;
            r.flags &= !X86_EFLAGS_IF;
            r.ip = if x.opcode == INT3_INSN_OPCODE { addr.0 } else { x.ainsn.insn.0 };
            k.emit_hit(m, cpu, addr, HitStep::SetupSinglestepTf { slot: x.ainsn.insn });
            m.set_pt_regs(cpu, regs);
            TrapAction::Resume
        }
        KernelProfile::V6_12 => {
            if let Some(op) = x.ainsn.emulate_op {
                if op.emulate(&x.ainsn, regs.x86_64_mut(), m).is_err() {
                    return TrapAction::Oops { oops: Oops::EmulatePageFault { func: op.kernel_function() } };
                }
                k.emit_hit(m, cpu, addr, HitStep::Emulate { func: op.kernel_function() });
                return kprobe_post_process(s, k, m, cpu, regs);
            }
            regs.x86_64_mut().flags &= !X86_EFLAGS_IF;
            regs.set_ip(x.ainsn.insn.0);
            k.emit_hit(m, cpu, addr, HitStep::SetupSinglestepInt3 { slot: x.ainsn.insn });
            m.set_pt_regs(cpu, regs);
            TrapAction::Resume
        }
    }
}

fn restore_previous_kprobe(s: &mut X86KprobeState, k: &mut KernelCore, cpu: CpuId) {
    k.restore_previous_kprobe(cpu);
    s.flags.insert(cpu.0, s.prev_flags.get(&cpu.0).copied().unwrap_or_default());
}

/// Models `kprobe_post_process` (6.12) and the tail of `kprobe_debug_handler` (5.10).
fn kprobe_post_process(s: &mut X86KprobeState, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, regs: &mut PtRegs) -> TrapAction {
    let Some(cur) = k.current_kprobe(cpu) else {
        m.set_pt_regs(cpu, regs);
        return TrapAction::Resume;
    };
    if k.kprobe_status(cpu) == KPROBE_REENTER {
        restore_previous_kprobe(s, k, cpu);
        k.emit_hit(m, cpu, cur, HitStep::RestorePreviousKprobe);
        m.set_pt_regs(cpu, regs);
        return TrapAction::Resume;
    }
    k.set_kprobe_status(cpu, KPROBE_HIT_SSDONE);
    match k.start_handlers(cur, HandlerKind::Post, regs.clone()) {
        Some(h) => {
            TrapAction::Handlers(Box::new(h))
        }
        None => {
            k.set_current_kprobe(cpu, None);
            k.emit_hit(m, cpu, cur, HitStep::KprobePostProcessDone);
            m.set_pt_regs(cpu, regs);
            TrapAction::Resume
        }
    }
}

/// Models 5.10 `kprobe_debug_handler` for the #DB after the TF step: `resume_execution`, the saved flags back,
/// the post-handler. `None`: not a kprobe step.
pub fn kprobe_debug_handler(
    s: &mut X86KprobeState,
    k: &mut KernelCore,
    m: &mut dyn Machine,
    cpu: CpuId,
    mut regs: PtRegs,
) -> Option<TrapAction> {
    if k.profile() != KernelProfile::V5_10 {
        return None;
    }
    let cur = k.current_kprobe(cpu)?;
    let id = first_probe(k, cur);
    let x = s.probes.get(&id)?.clone();
    let flags = s.flags.get(&cpu.0).copied().unwrap_or_default();
    let res = resume_execution(&x.slot_bytes, cur, x.ainsn.insn, flags.old_flags, regs.x86_64_mut(), m);
    match res {
        Ok(r) if r.now_boostable => {
            if let Some(xp) = s.probes.get_mut(&id) {
                xp.ainsn.boostable = true;
            }
        }
        Ok(_) => {}
        Err(_) => return Some(TrapAction::Oops { oops: Oops::EmulatePageFault { func: "resume_execution" } }),
    }
    regs.x86_64_mut().flags |= flags.saved_flags;
    k.emit_hit(m, cpu, cur, HitStep::KprobeDebugHandler);
    Some(kprobe_post_process(s, k, m, cpu, &mut regs))
}

