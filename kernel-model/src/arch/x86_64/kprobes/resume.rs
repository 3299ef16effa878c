//! Models what `arch/x86/kernel/kprobes/core.c` does around the out-of-line step: the flags
//! `set_current_kprobe` saves in `struct kprobe_ctlblk`, v6.12 `resume_singlestep` (at the `int3` after the
//! copy) and v5.10 `resume_execution` (the fixups after a TF single-step, from `kprobe_debug_handler`).

use super::emulate::skip_prefixes;
use crate::arch::x86_64::insn::*;
use crate::ptrace::x86_64::{PtRegs, X86_EFLAGS_IF, X86_EFLAGS_TF};
use crate::machine::{GuestMemory, MemFault};
use crate::profile::KernelProfile;
use crate::KernelVa;

/// `kcb->kprobe_old_flags` and `kcb->kprobe_saved_flags` (struct kprobe_ctlblk, arch/x86/include/asm/kprobes.h).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct KprobeSavedFlags {
    /// `kprobe_old_flags`.
    pub old_flags: u64,
    /// `kprobe_saved_flags`: OR-ed back into `regs->flags` when the step completes.
    pub saved_flags: u64,
}

/// Models the flags half of `set_current_kprobe(p, regs, kcb)` (arch/x86/kernel/kprobes/core.c). v5.10: both =
/// `flags & (TF|IF)`, and for an IF modifier `IF` is dropped from `saved_flags` (so the instruction's own effect on
/// IF survives). v6.12: both = `flags & IF`.
#[must_use]
pub fn set_current_kprobe_flags(profile: KernelProfile, regs_flags: u64, if_modifier: bool) -> KprobeSavedFlags {
    match profile {
        KernelProfile::V5_10 => {
            let old = regs_flags & (X86_EFLAGS_TF | X86_EFLAGS_IF);
            let saved = if if_modifier { old & !X86_EFLAGS_IF } else { old };
            KprobeSavedFlags { old_flags: old, saved_flags: saved }
        }
        KernelProfile::V6_12 => {
            let f = regs_flags & X86_EFLAGS_IF;
            KprobeSavedFlags { old_flags: f, saved_flags: f }
        }
    }
}

/// Models v6.12 `resume_singlestep(p, regs, kcb)` (arch/x86/kernel/kprobes/core.c), at the second `int3` (in the slot,
/// after the copy): restore the saved IF and move `ip` from the slot back to the original text: `ip += (orig_ip -
/// copy_ip) - INT3_INSN_SIZE`.
pub fn resume_singlestep(orig_ip: KernelVa, copy_ip: KernelVa, saved_flags: u64, regs: &mut PtRegs) {
    regs.flags |= saved_flags;
    regs.ip = regs.ip.wrapping_add(orig_ip.0.wrapping_sub(copy_ip.0)).wrapping_sub(INT3_INSN_SIZE as u64);
}

/// What v5.10 `resume_execution` changed besides the registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ResumeExecution {
    /// It set `p->ainsn.boostable = true` (after `ret`/`lret`/`iret`/`jmp far absolute`/`jmp *`): later hits
    /// without a post handler run the copy directly (the slot has no `jmp` back, none is needed).
    pub now_boostable: bool,
}

/// Models v5.10 `resume_execution(p, regs, kcb)` (arch/x86/kernel/kprobes/core.c), called from
/// `kprobe_debug_handler` after the copy at `copy_ip` (bytes `copy`, i.e. `p->ainsn.insn`) was single-stepped with
/// TF. Clears TF and fixes the state up as if the instruction had run at `orig_ip`:
///
/// - `pushf` (`9c`): the pushed flags lose TF and IF and get `old_flags` back;
/// - `ret`/`ret imm16`/`lret`/`lret imm16`/`iret`/`jmp far absolute` (`c2 c3 ca cb cf ea`): `ip` is already
///   right; mark boostable;
/// - `call rel` (`e8`): the return address on the stack is rebased from the copy to the original, and so is `ip`;
/// - `ff /2`, `ff /3` (`call *`, near or far): rebase the return address; `ip` is right;
/// - `ff /4`, `ff /5` (`jmp *`): `ip` is right; mark boostable;
/// - everything else: `ip += orig_ip - copy_ip`.
///
/// The caller then ORs `kcb->kprobe_saved_flags` into `regs.flags` (`kprobe_debug_handler`).
pub fn resume_execution(
    copy: &[u8],
    orig_ip: KernelVa,
    copy_ip: KernelVa,
    old_flags: u64,
    regs: &mut PtRegs,
    mem: &mut dyn GuestMemory,
) -> Result<ResumeExecution, MemFault> {
    let tos = KernelVa(regs.sp);
    let rebase = |v: u64| orig_ip.0.wrapping_add(v.wrapping_sub(copy_ip.0));
    let i = skip_prefixes(copy);
    let op = copy.get(i).copied().unwrap_or(0);
    let modrm = copy.get(i + 1).copied().unwrap_or(0);
    regs.flags &= !X86_EFLAGS_TF;
    let mut out = ResumeExecution::default();
    match op {
        0x9c => {
            let v = mem.read_u64(tos)?;
            let v = (v & !(X86_EFLAGS_TF | X86_EFLAGS_IF)) | old_flags;
            mem.write(tos, &v.to_le_bytes())?;
        }
        0xc2 | 0xc3 | 0xca | 0xcb | 0xcf | 0xea => {
            out.now_boostable = true;
            return Ok(out);
        }
        0xe8 => {
            let v = mem.read_u64(tos)?;
            mem.write(tos, &rebase(v).to_le_bytes())?;
        }
        0xff if modrm & 0x30 == 0x10 => {
            // call absolute, indirect: fix return addr; ip is correct. But this is not boostable.
            let v = mem.read_u64(tos)?;
            mem.write(tos, &rebase(v).to_le_bytes())?;
            return Ok(out);
        }
        0xff if modrm & 0x31 == 0x20 || modrm & 0x31 == 0x21 => {
            // jmp near and far, absolute indirect: ip is correct. And this is boostable.
            out.now_boostable = true;
            return Ok(out);
        }
        _ => {}
    }
    regs.ip = regs.ip.wrapping_add(orig_ip.0.wrapping_sub(copy_ip.0));
    Ok(out)
}

#[cfg(test)]
mod tests;
