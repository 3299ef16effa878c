//! `arch/x86/kernel/jump_label.c`: x86 has `HAVE_JUMP_LABEL_BATCH` in both profiles. `arch_jump_label_transform_queue`
//! checks the site holds what it should (else the kernel BUG()s), builds the new instruction and
//! `text_poke_queue`s it; `arch_jump_label_transform_apply` is `text_poke_finish()`, which runs
//! `text_poke_bp_batch` over the queue (the `int3` protocol of [`super::text_patching`], reused as is).
//!
//! 5.10: every site is 5 bytes (`JUMP_LABEL_NOP_SIZE`): the 5-byte atomic NOP or `jmp rel32`
//! (`__jump_label_set_jump_code`). Since v5.13 ("x86/jump_label: Allow short NOPs", in 6.12) a site is 2 or 5
//! bytes, as decoded (`arch_jump_entry_size`), and `__jump_label_patch` uses `jmp rel8`/`jmp rel32` and
//! `x86_nops[size]` accordingly.

use super::insn::insn_decode_kernel;
use crate::event::{EventKind, Hex, HexStyle, Oops, SymAddr};
use crate::event::jump_label::{JumpLabelStep, JumpLabelType};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};

/// `JUMP_LABEL_NOP_SIZE` (5.10 asm/jump_label.h).
pub const JUMP_LABEL_NOP_SIZE: u64 = 5;

/// `x86_nops[2]` / `BYTES_NOP2` (asm/nops.h, x86_64).
const NOP2: [u8; 2] = [0x66, 0x90];
/// `x86_nops[5]` / 5.10 `ideal_nops[NOP_ATOMIC5]` = `P6_NOP5_ATOMIC` (what `STATIC_KEY_INIT_NOP` is on x86_64).
const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
const JMP8_INSN_OPCODE: u8 = 0xeb;
const JMP32_INSN_OPCODE: u8 = 0xe9;

/// Models `jump_entry_size()` for the profile: 5.10 `JUMP_LABEL_NOP_SIZE`; 6.12 `arch_jump_entry_size`, the length
/// `insn_decode_kernel` gives (the kernel `BUG_ON`s anything but 2 or 5; here 0 is returned for it, and
/// [`queue`] refuses the site).
#[must_use]
pub fn jump_entry_size(profile: KernelProfile, m: &dyn Machine, code: KernelVa) -> u64 {
    match profile {
        KernelProfile::V5_10 => JUMP_LABEL_NOP_SIZE,
        KernelProfile::V6_12 => {
            let mut buf = [0u8; 15];
            if m.read(code, &mut buf).is_err() {
                return 0;
            }
            match insn_decode_kernel(&buf).map(|i| i.len()) {
                Ok(n @ (2 | 5)) => n as u64,
                _ => 0,
            }
        }
    }
}

/// `text_gen_insn(JMP8/JMP32_INSN_OPCODE, addr, dest)` (asm/text-patching.h).
fn text_gen_jmp(size: u64, addr: u64, dest: u64) -> Vec<u8> {
    let rel = dest.wrapping_sub(addr + size) as i64;
    if size == 2 {
        vec![JMP8_INSN_OPCODE, rel as i8 as u8]
    } else {
        let mut v = vec![JMP32_INSN_OPCODE];
        v.extend_from_slice(&(rel as i32).to_le_bytes());
        v
    }
}

/// Models `arch_jump_label_transform_queue` (arch/x86/kernel/jump_label.c): 5.10 `__jump_label_set_jump_code(entry,
/// type, 0)` / 6.12 `__jump_label_patch(entry, type)` — the site must hold the NOP when it becomes a jump and the
/// jump when it becomes a NOP, else `pr_crit("jump_label: Fatal kernel bug, unexpected op …")` and `BUG()` — then
/// `text_poke_queue(addr, code, size, NULL)` appends it to `tp_vec`. Returns the queued site.
pub fn queue(
    profile: KernelProfile,
    m: &mut dyn Machine,
    cpu: CpuId,
    code: KernelVa,
    target: KernelVa,
    ty: JumpLabelType,
) -> Result<(KernelVa, Vec<u8>), Oops> {
    let size = jump_entry_size(profile, m, code);
    let sym = SymAddr { addr: code, sym: m.kallsyms().format_short(code) };
    let mut cur = vec![0u8; size.max(JUMP_LABEL_NOP_SIZE) as usize];
    let _ = m.read(code, &mut cur);
    if size == 0 {
        // arch_jump_entry_size: BUG_ON(insn.length != 2 && insn.length != 5).
        return Err(Oops::JumpLabelUnexpectedOp { at: sym, found: Hex(cur, HexStyle::Bytes), expect: Hex(NOP5.to_vec(), HexStyle::Bytes) });
    }
    cur.truncate(size as usize);
    let jmp = text_gen_jmp(size, code.0, target.0);
    let nop = if size == 2 { NOP2.to_vec() } else { NOP5.to_vec() };
    let (expect, new) = match ty {
        JumpLabelType::Jmp => (nop, jmp),
        JumpLabelType::Nop => (jmp, nop),
    };
    if cur != expect {
        return Err(Oops::JumpLabelUnexpectedOp { at: sym, found: Hex(cur, HexStyle::Bytes), expect: Hex(expect, HexStyle::Bytes) });
    }
    let step = JumpLabelStep::Transform {
        func: "arch_jump_label_transform_queue",
        code: sym,
        ty,
        old: Hex(cur, HexStyle::Bytes),
        new: Hex(new.clone(), HexStyle::Bytes),
        how: "text_poke_queue",
    };
    m.emit(cpu, EventKind::JumpLabel { step });
    Ok((code, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_are_encoded_as_the_assembler_did() {
        // fixtures/x86-jump-label: 6.12 jl_fast_unlikely `eb 0e` at 0x40 → 0x50; 5.10 `e9 0b 00 00 00`.
        assert_eq!(text_gen_jmp(2, 0x40, 0x50), vec![0xeb, 0x0e]);
        assert_eq!(text_gen_jmp(5, 0x40, 0x50), vec![0xe9, 0x0b, 0, 0, 0]);
        assert_eq!(text_gen_jmp(5, 0x50, 0x40), vec![0xe9, 0xeb, 0xff, 0xff, 0xff]);
    }
}
