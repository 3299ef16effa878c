//! `arch/arm64/kernel/jump_label.c`: a site is one instruction, `nop` or `b target`, rewritten in place by
//! `aarch64_insn_patch_text_nosync` (no `stop_machine`: the architecture allows NOP ↔ B to be modified while other
//! CPUs execute it). 5.10 patches each site with `arch_jump_label_transform` and stops there; since v6.11 ("arm64:
//! jump_label: Ensure patched jump_labels are visible to all CPUs", in 6.12) arm64 has `HAVE_JUMP_LABEL_BATCH`:
//! `arch_jump_label_transform_queue` writes the site and `arch_jump_label_transform_apply` calls
//! `kick_all_cpus_sync()`, so every CPU takes an exception (a context synchronisation) before the call returns.

use super::insn::{AARCH64_BREAK_FAULT, AARCH64_INSN_SIZE};
use crate::event::{EventKind, Hex, HexStyle, Oops, SymAddr, SyncReason};
use crate::event::jump_label::{JumpLabelStep, JumpLabelType};
use crate::kernel_core::{LivePatchStep, PatchJob};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};

/// `aarch64_insn_gen_nop()` (arch/arm64/include/asm/insn.h): `hint #0`.
pub const AARCH64_INSN_NOP: u32 = 0xd503_201f;

/// `aarch64_insn_get_b_value()`: `B imm26`.
const AARCH64_INSN_B: u32 = 0x1400_0000;

/// Models `aarch64_insn_gen_branch_imm(pc, addr, AARCH64_INSN_BRANCH_NOLINK)` (arch/arm64/kernel/insn.c; 6.12
/// arch/arm64/lib/insn.c): `B` with a word offset in ±128 MiB, or `AARCH64_BREAK_FAULT` if unaligned or out of
/// range (the kernel also `pr_err`s).
#[must_use]
pub fn aarch64_insn_gen_branch_imm(pc: u64, addr: u64) -> u32 {
    if pc & 0x3 != 0 || addr & 0x3 != 0 {
        return AARCH64_BREAK_FAULT;
    }
    let offset = addr.wrapping_sub(pc) as i64;
    if !(-(128 << 20)..(128 << 20)).contains(&offset) {
        return AARCH64_BREAK_FAULT;
    }
    AARCH64_INSN_B | (((offset >> 2) as u32) & 0x03ff_ffff)
}

/// Whether the profile's arm64 has `HAVE_JUMP_LABEL_BATCH`.
#[must_use]
pub fn batch(profile: KernelProfile) -> bool {
    match profile {
        KernelProfile::V5_10 => false,
        KernelProfile::V6_12 => true,
    }
}

/// Models `arch_jump_label_transform` (5.10) / `arch_jump_label_transform_queue` (6.12): the new instruction, then
/// `aarch64_insn_patch_text_nosync(addr, insn)`: `aarch64_insn_write` through the fixmap alias, then
/// `__flush_icache_range` (5.10) / `caches_clean_inval_pou` (6.12) over the word — `dc cvau`, `ic ivau` broadcast,
/// `dsb ish`, and an `isb` on this CPU only. Other CPUs fetch the new word at their next context synchronisation.
pub fn transform(
    profile: KernelProfile,
    m: &mut dyn Machine,
    cpu: CpuId,
    code: KernelVa,
    target: KernelVa,
    ty: JumpLabelType,
) -> Result<(), Oops> {
    let insn = match ty {
        JumpLabelType::Jmp => aarch64_insn_gen_branch_imm(code.0, target.0),
        JumpLabelType::Nop => AARCH64_INSN_NOP,
    };
    let old = m.read_u32(code).unwrap_or(0);
    let func = if batch(profile) { "arch_jump_label_transform_queue" } else { "arch_jump_label_transform" };
    let step = JumpLabelStep::Transform {
        func,
        code: SymAddr { addr: code, sym: m.kallsyms().format_short(code) },
        ty,
        old: Hex(old.to_le_bytes().to_vec(), HexStyle::Words),
        new: Hex(insn.to_le_bytes().to_vec(), HexStyle::Words),
        how: "aarch64_insn_patch_text_nosync",
    };
    m.emit(cpu, EventKind::JumpLabel { step });
    // aarch64_insn_patch_text_nosync: "A64 instructions must be word aligned" (-EINVAL, which
    // arch_jump_label_transform ignores).
    if !code.0.is_multiple_of(AARCH64_INSN_SIZE) {
        return Ok(());
    }
    if m.poke_text(cpu, code, &insn.to_le_bytes()).is_ok() {
        m.flush_icache_range(cpu, code, AARCH64_INSN_SIZE);
        m.context_synchronize(cpu, SyncReason::Isb);
    }
    Ok(())
}

/// Models `arch_jump_label_transform_apply` (6.12): `kick_all_cpus_sync()`, waiting for every other CPU.
pub fn apply_step(m: &mut dyn Machine, cpu: CpuId, step: u8) -> LivePatchStep {
    if step > 0 {
        return LivePatchStep::Done;
    }
    m.emit(cpu, EventKind::JumpLabel { step: JumpLabelStep::Apply { calls: "kick_all_cpus_sync" } });
    LivePatchStep::Job(PatchJob::KickAllCpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_encodings_match_the_fixture() {
        // fixtures/arm64-jump-label: jl_fast_unlikely's `b 3c` at 0x30 is 14000003.
        assert_eq!(aarch64_insn_gen_branch_imm(0x30, 0x3c), 0x1400_0003);
        assert_eq!(aarch64_insn_gen_branch_imm(0x3c, 0x30), 0x17ff_fffd);
        assert_eq!(aarch64_insn_gen_branch_imm(0x30, 0x3e), AARCH64_BREAK_FAULT);
        assert_eq!(aarch64_insn_gen_branch_imm(0, 128 << 20), AARCH64_BREAK_FAULT);
    }
}
