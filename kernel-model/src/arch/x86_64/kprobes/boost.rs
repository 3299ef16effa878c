//! Models `can_boost` and `twobyte_is_boostable` of `arch/x86/kernel/kprobes/core.c`: whether the copy of a
//! probed instruction can run from its slot and jump back without a second trap (a "boosted" kprobe).

use super::prepare::X86KprobesEnv;
use crate::arch::x86_64::insn::*;
use crate::profile::KernelProfile;
use crate::KernelVa;

/// `twobyte_is_boostable[256 / 32]` (arch/x86/kernel/kprobes/core.c, identical in v5.10 and v6.12): bit `op` is set
/// if two-byte opcode `0f op` may be boosted. Rows as in the kernel's `W()` table, two 16-opcode rows per word.
pub const TWOBYTE_IS_BOOSTABLE: [u32; 8] = {
    const fn w(row: [u8; 16]) -> u32 {
        let mut v = 0u32;
        let mut i = 0;
        while i < 16 {
            v |= (row[i] as u32) << i;
            i += 1;
        }
        v
    }
    const ROWS: [[u8; 16]; 16] = [
        [0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0], // 00
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // 10
        [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 20
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 30
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], // 40
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 50
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1], // 60
        [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1], // 70
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 80
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], // 90
        [1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1], // a0
        [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1], // b0
        [1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], // c0
        [0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1], // d0
        [0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1], // e0
        [0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0], // f0
    ];
    let mut out = [0u32; 8];
    let mut i = 0;
    while i < 8 {
        out[i] = w(ROWS[2 * i]) | (w(ROWS[2 * i + 1]) << 16);
        i += 1;
    }
    out
};

/// `test_bit(op, twobyte_is_boostable)` (arch/x86/kernel/kprobes/core.c).
#[must_use]
pub fn twobyte_is_boostable(op: u8) -> bool {
    TWOBYTE_IS_BOOSTABLE[usize::from(op / 32)] & (1 << (op % 32)) != 0
}

/// Models `can_boost(insn, addr)` (arch/x86/kernel/kprobes/core.c): may the copy of `insn` (probed at `addr`) run
/// from the slot followed by a `jmp` back, with no second trap?
///
/// Both versions: not if `addr` has an exception-table entry; a two-byte opcode (`0f xx`) per
/// [`TWOBYTE_IS_BOOSTABLE`], before any prefix check; three-byte opcodes never. One-byte opcodes differ, see the
/// module documentation.
#[must_use]
pub fn can_boost(insn: &Insn, addr: KernelVa, env: &dyn X86KprobesEnv, profile: KernelProfile) -> bool {
    if env.search_exception_tables(addr) {
        return false; // Page fault may occur on this address.
    }
    if insn.opcode.nbytes == 2 {
        return twobyte_is_boostable(insn.opcode.byte(1));
    }
    if insn.opcode.nbytes != 1 {
        return false;
    }
    let opcode = insn.opcode.byte(0);
    match profile {
        KernelProfile::V5_10 => can_boost_one_byte_v5_10(opcode),
        KernelProfile::V6_12 => {
            // "Can't boost Address-size override prefix and CS override prefix"
            if insn.for_each_insn_prefix().iter().any(|&p| p == 0x2e || inat_is_address_size_prefix(p)) {
                return false;
            }
            let reg = x86_modrm_reg(insn.modrm.byte(0));
            match opcode {
                0x62
                | 0x70..=0x7f
                | 0x9a
                | 0xcc..=0xce
                | 0xd6
                | 0xd8..=0xdf
                | 0xe0..=0xe3
                | 0xe8
                | 0xe9
                | 0xeb
                | 0xf0..=0xf4 => false,
                // Grp2: "AMD uses nnn == 110 as SHL/SAL, but Intel makes it reserved."
                0xc0 | 0xc1 | 0xd0..=0xd3 => reg != 0b110,
                // Grp3: "AMD uses nnn == 001 as TEST, but Intel makes it reserved."
                0xf6 | 0xf7 => reg != 0b001,
                // Grp4: only INC and DEC
                0xfe => reg == 0b000 || reg == 0b001,
                // Grp5: only INC, DEC and indirect JMP
                0xff => reg == 0b000 || reg == 0b001 || reg == 0b100,
                _ => true,
            }
        }
    }
}

/// v5.10's one-byte opcode rules (after its dead prefix checks: `inat_is_address_size_prefix(insn->attr)` tests
/// the *opcode's* attribute, and `opcode != 0x2e` can never fail, since both are prefixes).
fn can_boost_one_byte_v5_10(opcode: u8) -> bool {
    match opcode & 0xf0 {
        0x60 => opcode != 0x62,                                     // can't boost "bound"
        0x70 => false,                                              // can't boost conditional jump
        0x90 => opcode != 0x9a,                                     // can't boost call far
        0xc0 => (0xc1 < opcode && opcode < 0xcc) || opcode == 0xcf, // can't boost software-interruptions
        0xd0 => opcode == 0xd4 || opcode == 0xd5 || opcode == 0xd7, // can boost AA* and XLAT
        0xe0 => (opcode & 0x04) != 0 || opcode == 0xea,             // can boost in/out and absolute jmps
        0xf0 => opcode == 0xf5 || (0xf7 < opcode && opcode < 0xfe), // clear and set flags are boostable
        _ => opcode != 0x2e && opcode != 0x9a,                      // CS override prefix and call are not boostable
    }
}


#[cfg(test)]
mod tests;
