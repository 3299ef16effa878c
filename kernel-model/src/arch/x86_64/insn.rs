//! x86 instruction analysis as kprobes sees it: models the parts of `arch/x86/include/asm/insn.h`,
//! `arch/x86/lib/insn.c`, `arch/x86/include/asm/inat.h`, `arch/x86/include/asm/text-patching.h` (the `*_INSN_*`
//! constants), `arch/x86/include/asm/emulate_prefix.h` and `arch/x86/include/asm/ibt.h` that
//! `arch/x86/kernel/kprobes/core.c` uses.
//!
//! # How decoding is done
//!
//! The kernel decodes with its own table-driven decoder (`insn_get_length` in v5.10, `insn_decode_kernel` in
//! v6.12), generated from `x86-opcode-map.txt`. This model does not carry those tables. Instead:
//!
//! - **length and validity** come from iced-x86 (64-bit mode, `DecoderOptions::NO_INVALID_CHECK`, so that like the
//!   kernel's decoder it accepts e.g. a `LOCK` prefix on a non-lockable instruction);
//! - **the fields kprobes reads** (`prefixes`, `rex_prefix`, `vex_prefix`, `opcode`, `modrm`, `sib`,
//!   `displacement`, `immediate`, `opnd_bytes`, `addr_bytes`, `emulate_prefix_size`) are filled by following the
//!   kernel's own scan in `insn_get_prefixes`/`insn_get_opcode`/`insn_get_modrm`/`insn_get_sib`/
//!   `insn_get_displacement` byte for byte. Whether a ModRM byte is present (the kernel's `inat_has_modrm`) is
//!   inferred from iced's layout: a ModRM byte exists when bytes remain after the opcode that are neither the
//!   immediates nor a `moffs` displacement.
//!
//! Kernel quirks this keeps on purpose (they decide kprobes behaviour):
//! - for VEX/EVEX instructions `opcode.bytes[0]` is the opcode byte *after* the VEX prefix and `opcode.nbytes` is 1
//!   (`/* VEX has only 1 byte for opcode */`), so kprobes' one-byte opcode switches see e.g. VEX `vpshufd` (`c5 f9
//!   70 ..`) as opcode `0x70`;
//! - the Xen/KVM "force emulate" prefixes (`ud2; .ascii "xen"` / `"kvm"`) are part of the next instruction
//!   (`emulate_prefix_size` = 5);
//! - legacy prefixes are recorded as in `insn_get_prefixes`: at most four *distinct* prefixes in
//!   `prefixes.bytes[]`, the last one moved to `bytes[3]`, repeats only counted in `prefixes.nbytes`;
//! - before commit "x86: Stop decoding i64 instructions in x86-64 mode at opcode" (April 2025, after v6.12) the
//!   kernel decodes the one-byte opcodes that are invalid in 64-bit mode (`(i64)` in the opcode map, e.g. `0x9a`
//!   CALLF and `0xea` JMPF with a 6-byte far pointer) with their 32-bit operand layout. iced calls them invalid; this
//!   model decodes them the kernel's way ([`kernel_i64_fallback`]), since kprobes has explicit rules for them.
//!
//! When the kernel's byte scan and iced's layout do not add up to the same length (e.g. a REX byte *before* a
//! legacy prefix, which the CPU ignores but the kernel's scan takes for the REX of an opcode `0x66`), the
//! instruction is reported as [`InsnError::Invalid`].
//!
//! Known divergences (documented, not modelled): encodings where the kernel's tables and the hardware disagree on
//! the length (e.g. `MOV CRn` with a ModRM `mod` other than 3, which the kernel decoder treats as a memory operand,
//! or AMD XOP `8f` forms, which the kernel decodes as `POP Ev`), and other encodings iced rejects: those are
//! reported as [`InsnError::Invalid`]. In v6.12 the kernel's `insn_decode_kernel` would also fail on most of them;
//! v5.10's `insn_get_length` has no error return and would compute *some* length. Compiler output never contains
//! them.
//!
//! # Constants
//!
//! `MAX_INSN_SIZE` is **15** (`asm/insn.h`, both v5.10 and v6.12); x86 `asm/kprobes.h` does not redefine it, so
//! the kprobe instruction slot (`kprobe_insn_slots`) and every `buf[MAX_INSN_SIZE]` in `kprobes/core.c` are 15
//! bytes, not 16.
//!
//! Sources read: v5.10.13 `arch/x86/lib/insn.c`, `asm/insn.h`, `asm/kprobes.h` (Rtoax/linux-5.10.13 mirror); a
//! v6.9-era `asm/text-patching.h` (torvalds/linux, same `int3_emulate_*` and constants as v6.12); the April 2025
//! `INAT_INV64` patch mail (for the pre-patch (i64) behaviour); recent `asm/insn.h` excerpts showing
//! `POP_SS_OPCODE 0x1f` unchanged through v6.15.

use iced_x86::{Decoder, DecoderError, DecoderOptions};

// ---------------------------------------------------------------------------------------------------------------
// Constants: asm/insn.h, asm/text-patching.h, asm/emulate_prefix.h, asm/ibt.h
// ---------------------------------------------------------------------------------------------------------------

/// `MAX_INSN_SIZE` (asm/insn.h): the longest x86 instruction, 15 bytes. Also the size of a kprobe instruction slot
/// and of the buffers in `kprobes/core.c` on x86 (v5.10 and v6.12).
pub const MAX_INSN_SIZE: usize = 15;

/// `INT3_INSN_SIZE` (asm/text-patching.h).
pub const INT3_INSN_SIZE: usize = 1;
/// `INT3_INSN_OPCODE` (asm/text-patching.h): the breakpoint an armed kprobe writes over the first byte.
pub const INT3_INSN_OPCODE: u8 = 0xCC;
/// `RET_INSN_SIZE` (asm/text-patching.h).
pub const RET_INSN_SIZE: usize = 1;
/// `RET_INSN_OPCODE` (asm/text-patching.h).
pub const RET_INSN_OPCODE: u8 = 0xC3;
/// `CALL_INSN_SIZE` (asm/text-patching.h): `call rel32`.
pub const CALL_INSN_SIZE: usize = 5;
/// `CALL_INSN_OPCODE` (asm/text-patching.h).
pub const CALL_INSN_OPCODE: u8 = 0xE8;
/// `JMP32_INSN_SIZE` (asm/text-patching.h): `jmp rel32`.
pub const JMP32_INSN_SIZE: usize = 5;
/// `JMP32_INSN_OPCODE` (asm/text-patching.h).
pub const JMP32_INSN_OPCODE: u8 = 0xE9;
/// `JMP8_INSN_SIZE` (asm/text-patching.h): `jmp rel8`.
pub const JMP8_INSN_SIZE: usize = 2;
/// `JMP8_INSN_OPCODE` (asm/text-patching.h).
pub const JMP8_INSN_OPCODE: u8 = 0xEB;
/// `DISP32_SIZE` (asm/text-patching.h).
pub const DISP32_SIZE: usize = 4;

/// `POP_SS_OPCODE` (asm/insn.h). The kernel defines it as `0x1f`, which is `POP DS`; `POP SS` is `0x17`. Both are
/// invalid in 64-bit mode, so only the `MOV_SREG_OPCODE` half of [`insn_masking_exception`] matters on x86_64.
/// Unchanged from v5.10 to at least v6.15.
pub const POP_SS_OPCODE: u8 = 0x1f;
/// `MOV_SREG_OPCODE` (asm/insn.h): `MOV Sreg, r/m16` (`8e /r`).
pub const MOV_SREG_OPCODE: u8 = 0x8e;

/// `__XEN_EMULATE_PREFIX` (asm/emulate_prefix.h): `ud2a; .ascii "xen"`.
pub const XEN_EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, 0x78, 0x65, 0x6e];
/// `__KVM_EMULATE_PREFIX` (asm/emulate_prefix.h): `ud2; .ascii "kvm"`.
pub const KVM_EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, 0x6b, 0x76, 0x6d];

/// `gen_endbr()` (asm/ibt.h, v6.12): `endbr64` (`f3 0f 1e fa`) as a little-endian `u32`.
pub const ENDBR64_U32: u32 = 0xfa1e_0ff3;
/// `gen_endbr_poison()` (asm/ibt.h, v6.12): the "OSP NOP3" (`66 0f 1f 00`) that `apply_seal_endbr` writes over
/// ENDBRs of functions that are never called indirectly.
pub const ENDBR_POISON_U32: u32 = 0x001f_0f66;
/// `ENDBR_INSN_SIZE` (asm/ibt.h) with `CONFIG_X86_KERNEL_IBT=y`.
pub const ENDBR_INSN_SIZE: u64 = 4;

/// Models `is_endbr(u32 val)` (asm/ibt.h, v6.12): the ENDBR poison, `endbr64` or `endbr32`. Without
/// `CONFIG_X86_KERNEL_IBT` the kernel's stub returns false for everything, which `kernel_ibt` selects. v5.10 has no
/// `is_endbr` (kernel IBT support arrived in v5.18).
#[must_use]
pub fn is_endbr(val: u32, kernel_ibt: bool) -> bool {
    if !kernel_ibt {
        return false;
    }
    if val == ENDBR_POISON_U32 {
        return true;
    }
    (val & !0x0100_0000) == ENDBR64_U32
}

// ---------------------------------------------------------------------------------------------------------------
// ModRM / SIB / REX / VEX field macros (asm/insn.h)
// ---------------------------------------------------------------------------------------------------------------

/// `X86_MODRM_MOD(modrm)`.
#[must_use]
pub const fn x86_modrm_mod(modrm: u8) -> u8 {
    (modrm & 0xc0) >> 6
}
/// `X86_MODRM_REG(modrm)`.
#[must_use]
pub const fn x86_modrm_reg(modrm: u8) -> u8 {
    (modrm & 0x38) >> 3
}
/// `X86_MODRM_RM(modrm)`.
#[must_use]
pub const fn x86_modrm_rm(modrm: u8) -> u8 {
    modrm & 0x07
}
/// `X86_SIB_SCALE(sib)`.
#[must_use]
pub const fn x86_sib_scale(sib: u8) -> u8 {
    (sib & 0xc0) >> 6
}
/// `X86_SIB_INDEX(sib)`.
#[must_use]
pub const fn x86_sib_index(sib: u8) -> u8 {
    (sib & 0x38) >> 3
}
/// `X86_SIB_BASE(sib)`.
#[must_use]
pub const fn x86_sib_base(sib: u8) -> u8 {
    sib & 0x07
}
/// `X86_REX_W(rex)`.
#[must_use]
pub const fn x86_rex_w(rex: u8) -> bool {
    rex & 8 != 0
}
/// `X86_REX_R(rex)`.
#[must_use]
pub const fn x86_rex_r(rex: u8) -> bool {
    rex & 4 != 0
}
/// `X86_REX_X(rex)`.
#[must_use]
pub const fn x86_rex_x(rex: u8) -> bool {
    rex & 2 != 0
}
/// `X86_REX_B(rex)`.
#[must_use]
pub const fn x86_rex_b(rex: u8) -> bool {
    rex & 1 != 0
}
/// `X86_VEX_W(vex)`: VEX3 byte 2 (and EVEX byte 3 as the kernel reads it).
#[must_use]
pub const fn x86_vex_w(vex: u8) -> bool {
    vex & 0x80 != 0
}

// ---------------------------------------------------------------------------------------------------------------
// inat.h predicates on single bytes (the subset kprobes needs)
// ---------------------------------------------------------------------------------------------------------------

/// `inat_is_legacy_prefix(inat_get_opcode_attribute(b))` (inat.h): the eleven legacy prefixes `66 f3 f2 f0 2e 3e
/// 26 64 65 36 67` (`INAT_PFX_OPNDSZ` .. `INAT_PFX_ADDRSZ`, i.e. `attr <= INAT_LGCPFX_MAX`).
#[must_use]
pub const fn inat_is_legacy_prefix(b: u8) -> bool {
    matches!(b, 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3)
}

/// `inat_is_address_size_prefix` (inat.h) applied to byte `b`'s attribute: `0x67`.
#[must_use]
pub const fn inat_is_address_size_prefix(b: u8) -> bool {
    b == 0x67
}

/// `inat_is_operand_size_prefix` (inat.h) applied to byte `b`'s attribute: `0x66`.
#[must_use]
pub const fn inat_is_operand_size_prefix(b: u8) -> bool {
    b == 0x66
}

/// `inat_is_rex_prefix` (inat.h) in 64-bit mode: `0x40..=0x4f`.
#[must_use]
pub const fn inat_is_rex_prefix(b: u8) -> bool {
    b & 0xf0 == 0x40
}

/// `inat_is_vex_prefix` (inat.h) in 64-bit mode: `c4` (VEX3), `c5` (VEX2), `62` (EVEX). (In 32-bit mode the kernel
/// also checks ModRM.mod, because they double as LES/LDS/BOUND; that never applies to x86_64 kernel text.)
#[must_use]
pub const fn inat_is_vex_prefix(b: u8) -> bool {
    matches!(b, 0xc4 | 0xc5 | 0x62)
}

// ---------------------------------------------------------------------------------------------------------------
// struct insn
// ---------------------------------------------------------------------------------------------------------------

/// `struct insn_field` (asm/insn.h): a value (sign-extended for displacements and immediates), viewed as four
/// little-endian bytes, and how many bytes of the instruction it occupies. The kernel's `got` flag is implicit: a
/// decoded [`Insn`] has every field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InsnField {
    /// `value` (`insn_value_t`, an `int`).
    pub value: i32,
    /// `nbytes`.
    pub nbytes: u8,
}

impl InsnField {
    /// `bytes[4]`, the union view of `value`.
    #[must_use]
    pub fn bytes(&self) -> [u8; 4] {
        self.value.to_le_bytes()
    }

    /// Byte `i` of the union view (`field.bytes[i]`), 0 past the end.
    #[must_use]
    pub fn byte(&self, i: usize) -> u8 {
        self.bytes().get(i).copied().unwrap_or(0)
    }

    fn set_byte(&mut self, i: usize, b: u8) {
        let mut bytes = self.bytes();
        if let Some(slot) = bytes.get_mut(i) {
            *slot = b;
        }
        self.value = i32::from_le_bytes(bytes);
    }
}

/// A decoded instruction: the fields of the kernel's `struct insn` (asm/insn.h) that kprobes reads, in 64-bit mode
/// (`insn->x86_64` = 1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The decoded bytes (`kaddr[0..length]`); the rest is zero.
    pub kaddr: [u8; MAX_INSN_SIZE],
    /// `emulate_prefix_size`: 5 after a Xen/KVM force-emulate prefix, else 0.
    pub emulate_prefix_size: u8,
    /// `prefixes`: up to four distinct legacy prefixes in `bytes[0..4]`, the last prefix in `bytes[3]`;
    /// `nbytes` counts every legacy prefix byte, repeats included.
    pub prefixes: InsnField,
    /// `rex_prefix`: the REX byte in `bytes[0]`, if `nbytes` = 1.
    pub rex_prefix: InsnField,
    /// `vex_prefix`: the VEX/EVEX bytes (2, 3 or 4). For VEX2 the kernel fakes a VEX3-like `bytes[2]`
    /// (`b2 & 0x7f`).
    pub vex_prefix: InsnField,
    /// `opcode`: 1 to 3 opcode bytes (`0f`, `0f 38`, `0f 3a` escapes); always 1 byte after a VEX prefix.
    pub opcode: InsnField,
    /// `modrm`.
    pub modrm: InsnField,
    /// `sib`.
    pub sib: InsnField,
    /// `displacement`, sign-extended.
    pub displacement: InsnField,
    /// `immediate` (union with `immediate1` and `moffset1`), sign-extended.
    pub immediate: InsnField,
    /// `immediate2` (union with `moffset2`).
    pub immediate2: InsnField,
    /// `opnd_bytes`: 4, 2 after `0x66`, 8 after REX.W/VEX.W. (The kernel's `insn_get_modrm` also sets 8 for
    /// `(f64)`/`(d64)` opcodes such as `call`/`jmp`/`push`; this model does not, as kprobes never reads it for
    /// those.)
    pub opnd_bytes: u8,
    /// `addr_bytes`: 8, or 4 after an address-size prefix (`0x67`).
    pub addr_bytes: u8,
    /// `length`.
    pub length: u8,
}

/// Why an instruction could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum InsnError {
    /// The buffer ended inside the instruction (v6.12 `insn_decode` returns `-ENODATA`; v5.10 leaves fields
    /// "not got").
    #[error("instruction runs past the {available}-byte buffer")]
    Truncated {
        /// How many bytes were available.
        available: usize,
    },
    /// iced-x86 rejects the encoding and it is not one of the (i64) opcodes the kernel's decoder accepts
    /// (v6.12 `insn_decode` would mostly return `-EINVAL`).
    #[error("invalid or unsupported instruction encoding")]
    Invalid,
}

impl Insn {
    /// The instruction length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.length)
    }

    /// Never true for a decoded instruction (here for clippy's `len_without_is_empty`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The instruction's bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        self.kaddr.get(..self.len()).unwrap_or(&self.kaddr)
    }

    /// The opcode bytes (`opcode.bytes[0..opcode.nbytes]`).
    #[must_use]
    pub fn opcode_bytes(&self) -> Vec<u8> {
        let n = usize::from(self.opcode.nbytes).min(4);
        self.opcode.bytes()[..n].to_vec()
    }

    /// The distinct legacy prefixes as `for_each_insn_prefix` (asm/insn.h) visits them: `prefixes.bytes[i]` for
    /// `i` in 0..4 until the first zero.
    #[must_use]
    pub fn for_each_insn_prefix(&self) -> Vec<u8> {
        self.prefixes.bytes().iter().copied().take_while(|&b| b != 0).collect()
    }
}

/// `insn_is_avx` (asm/insn.h): a VEX or EVEX prefix is present.
#[must_use]
pub fn insn_is_avx(insn: &Insn) -> bool {
    insn.vex_prefix.value != 0
}

/// `insn_is_evex` (asm/insn.h).
#[must_use]
pub fn insn_is_evex(insn: &Insn) -> bool {
    insn.vex_prefix.nbytes == 4
}

/// `insn_has_emulate_prefix` (asm/insn.h).
#[must_use]
pub fn insn_has_emulate_prefix(insn: &Insn) -> bool {
    insn.emulate_prefix_size != 0
}

/// `insn_rip_relative` (arch/x86/lib/insn.c): in 64-bit mode, a ModRM byte with `mod` = 00 and `r/m` = 101. Like
/// the kernel this looks only at the ModRM byte, not at what the operand means.
#[must_use]
pub fn insn_rip_relative(insn: &Insn) -> bool {
    insn.modrm.nbytes != 0 && (insn.modrm.byte(0) & 0xc7) == 0x5
}

/// `insn_masking_exception` (asm/insn.h): `POP SS` (as the kernel spells it, [`POP_SS_OPCODE`] = `0x1f`) or
/// `MOV SS, r/m` (`8e /2`): instructions after which the CPU suppresses a single-step trap (SDM Vol.3A 6.8.3).
#[must_use]
pub fn insn_masking_exception(insn: &Insn) -> bool {
    let op = insn.opcode.byte(0);
    op == POP_SS_OPCODE || (op == MOV_SREG_OPCODE && x86_modrm_reg(insn.modrm.byte(0)) == 2)
}

/// `is_exception_insn` (static inline in arch/x86/kernel/kprobes/core.c, v6.9+; absent in v5.10): UD0 (`0f ff`),
/// UD1 (`0f b9`), UD2 (`0f 0b`), INT3 (`cc`), INT n (`cd`), INTO (`ce`), INT1 (`f1`). Looks at opcode bytes only,
/// so the VEX quirk applies (a VEX instruction with opcode byte `cc`..`ce`/`f1` matches too).
#[must_use]
pub fn is_exception_insn(insn: &Insn) -> bool {
    let b0 = insn.opcode.byte(0);
    if b0 == 0x0f {
        let b1 = insn.opcode.byte(1);
        return b1 == 0xff || b1 == 0xb9 || b1 == 0x0b;
    }
    b0 == 0xcc || b0 == 0xcd || b0 == 0xce || b0 == 0xf1
}

/// `insn_offset_rex_prefix` (asm/insn.h). Includes `emulate_prefix_size`, so it is the physical offset (kprobes
/// refuses emulate-prefixed instructions before using any offset).
#[must_use]
pub fn insn_offset_rex_prefix(insn: &Insn) -> usize {
    usize::from(insn.emulate_prefix_size) + usize::from(insn.prefixes.nbytes)
}
/// `insn_offset_vex_prefix` (asm/insn.h).
#[must_use]
pub fn insn_offset_vex_prefix(insn: &Insn) -> usize {
    insn_offset_rex_prefix(insn) + usize::from(insn.rex_prefix.nbytes)
}
/// `insn_offset_opcode` (asm/insn.h).
#[must_use]
pub fn insn_offset_opcode(insn: &Insn) -> usize {
    insn_offset_vex_prefix(insn) + usize::from(insn.vex_prefix.nbytes)
}
/// `insn_offset_modrm` (asm/insn.h).
#[must_use]
pub fn insn_offset_modrm(insn: &Insn) -> usize {
    insn_offset_opcode(insn) + usize::from(insn.opcode.nbytes)
}
/// `insn_offset_sib` (asm/insn.h).
#[must_use]
pub fn insn_offset_sib(insn: &Insn) -> usize {
    insn_offset_modrm(insn) + usize::from(insn.modrm.nbytes)
}
/// `insn_offset_displacement` (asm/insn.h).
#[must_use]
pub fn insn_offset_displacement(insn: &Insn) -> usize {
    insn_offset_sib(insn) + usize::from(insn.sib.nbytes)
}
/// `insn_offset_immediate` (asm/insn.h).
#[must_use]
pub fn insn_offset_immediate(insn: &Insn) -> usize {
    insn_offset_displacement(insn) + usize::from(insn.displacement.nbytes)
}

// ---------------------------------------------------------------------------------------------------------------
// decoding
// ---------------------------------------------------------------------------------------------------------------

/// The kernel's pre-2025 decoding of the one-byte opcodes marked `(i64)` in `x86-opcode-map.txt`, which iced
/// rejects in 64-bit mode: how many immediate bytes follow and whether a ModRM byte does. Returns `None` for any
/// other opcode.
///
/// - `06 07 0e 16 17 1e 1f` (PUSH/POP seg), `27 2f 37 3f` (DAA/DAS/AAA/AAS), `60 61` (PUSHA/POPA), `ce` (INTO):
///   no operands;
/// - `d6`: no entry in the opcode map (attribute 0): one byte;
/// - `d4 d5` (AAM/AAD Ib): one immediate byte;
/// - `82` (Grp1 Eb,Ib): ModRM + one immediate byte;
/// - `9a` (CALLF Ap), `ea` (JMPF Ap): `__get_immptr`: a 4-byte offset (2 with `0x66`) and a 2-byte selector; with
///   `opnd_bytes` = 8 (REX.W) the kernel fails (`ptr16:64 is not exist`).
#[must_use]
pub fn kernel_i64_fallback(opcode: u8, opnd_bytes: u8) -> Option<(bool, usize)> {
    match opcode {
        0x06 | 0x07 | 0x0e | 0x16 | 0x17 | 0x1e | 0x1f | 0x27 | 0x2f | 0x37 | 0x3f | 0x60 | 0x61 | 0xce | 0xd6 => {
            Some((false, 0))
        }
        0xd4 | 0xd5 => Some((false, 1)),
        0x82 => Some((true, 1)),
        0x9a | 0xea => match opnd_bytes {
            2 => Some((false, 4)),
            4 => Some((false, 6)),
            _ => None,
        },
        _ => None,
    }
}

/// Reads `n` (1, 2 or 4) bytes at `off` as a sign-extended little-endian value, as `get_next(signed char|short|
/// int, insn)`.
fn read_signed(buf: &[u8], off: usize, n: usize) -> Option<i32> {
    let b = buf.get(off..off.checked_add(n)?)?;
    Some(match n {
        1 => i32::from(b[0] as i8),
        2 => i32::from(i16::from_le_bytes([b[0], b[1]])),
        4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        _ => return None,
    })
}

/// Models `insn_decode_kernel()` (v6.12; `insn_decode(insn, kaddr, MAX_INSN_SIZE, INSN_MODE_KERN)` in
/// arch/x86/lib/insn.c) and, for v5.10, `kernel_insn_init(insn, kaddr, MAX_INSN_SIZE)` + `insn_get_length(insn)`:
/// decodes one 64-bit instruction from `buf` (at most [`MAX_INSN_SIZE`] bytes are looked at).
///
/// See the module documentation for how iced-x86 and the kernel's field scan are combined.
pub fn insn_decode_kernel(buf: &[u8]) -> Result<Insn, InsnError> {
    let buf = buf.get(..MAX_INSN_SIZE).unwrap_or(buf);
    let truncated = InsnError::Truncated { available: buf.len() };
    let mut insn = Insn {
        kaddr: [0; MAX_INSN_SIZE],
        emulate_prefix_size: 0,
        prefixes: InsnField::default(),
        rex_prefix: InsnField::default(),
        vex_prefix: InsnField::default(),
        opcode: InsnField::default(),
        modrm: InsnField::default(),
        sib: InsnField::default(),
        displacement: InsnField::default(),
        immediate: InsnField::default(),
        immediate2: InsnField::default(),
        opnd_bytes: 4,
        addr_bytes: 8,
        length: 0,
    };

    // insn_get_emulate_prefix()
    let mut pos = 0usize;
    if buf.starts_with(&XEN_EMULATE_PREFIX) || buf.starts_with(&KVM_EMULATE_PREFIX) {
        insn.emulate_prefix_size = 5;
        pos = 5;
    }
    let start = pos;

    // insn_get_prefixes(): legacy prefixes.
    let mut nb = 0usize;
    let mut lb = 0u8;
    let mut b = *buf.get(pos).ok_or(truncated)?;
    while inat_is_legacy_prefix(b) {
        let seen = (0..nb).any(|i| insn.prefixes.byte(i) == b);
        if !seen {
            if nb == 4 {
                // "Invalid instruction": the kernel stops scanning; this byte becomes the opcode.
                break;
            }
            insn.prefixes.set_byte(nb, b);
            nb += 1;
            if inat_is_address_size_prefix(b) {
                insn.addr_bytes ^= 12;
            } else if inat_is_operand_size_prefix(b) {
                insn.opnd_bytes ^= 6;
            }
        }
        insn.prefixes.nbytes = insn.prefixes.nbytes.saturating_add(1);
        pos += 1;
        lb = b;
        b = *buf.get(pos).ok_or(truncated)?;
    }
    // "Set the last prefix"
    if lb != 0 && lb != insn.prefixes.byte(3) {
        let last = insn.prefixes.byte(3);
        if last != 0 {
            for i in 0..nb {
                if insn.prefixes.byte(i) == lb {
                    insn.prefixes.set_byte(i, last);
                }
            }
        }
        insn.prefixes.set_byte(3, lb);
    }

    // REX
    if inat_is_rex_prefix(b) {
        insn.rex_prefix = InsnField { value: i32::from(b), nbytes: 1 };
        pos += 1;
        if x86_rex_w(b) {
            insn.opnd_bytes = 8;
        }
        b = *buf.get(pos).ok_or(truncated)?;
    }

    // VEX / EVEX
    if inat_is_vex_prefix(b) {
        let n = match b {
            0x62 => 4,
            0xc4 => 3,
            _ => 2,
        };
        let vex = buf.get(pos..pos + n).ok_or(truncated)?;
        let mut field = InsnField { value: 0, nbytes: n as u8 };
        for (i, &v) in vex.iter().enumerate() {
            field.set_byte(i, v);
        }
        if n == 2 {
            field.set_byte(2, vex[1] & 0x7f);
        } else if x86_vex_w(vex[n - 1]) {
            insn.opnd_bytes = 8;
        }
        insn.vex_prefix = field;
        pos += n;
    }

    // insn_get_opcode()
    let op = *buf.get(pos).ok_or(truncated)?;
    insn.opcode.set_byte(0, op);
    insn.opcode.nbytes = 1;
    pos += 1;
    if !insn_is_avx(&insn) && op == 0x0f {
        let op2 = *buf.get(pos).ok_or(truncated)?;
        insn.opcode.set_byte(1, op2);
        insn.opcode.nbytes = 2;
        pos += 1;
        if op2 == 0x38 || op2 == 0x3a {
            let op3 = *buf.get(pos).ok_or(truncated)?;
            insn.opcode.set_byte(2, op3);
            insn.opcode.nbytes = 3;
            pos += 1;
        }
    }
    let opcode_end = pos;

    // Length and operand layout: iced, or the kernel's (i64) decoding.
    let body = buf.get(start..).unwrap_or(&[]);
    let mut decoder = Decoder::with_ip(64, body, 0, DecoderOptions::NO_INVALID_CHECK);
    let decoded = decoder.decode();
    let (has_modrm, imm_sizes, moffs_size): (bool, [usize; 2], usize) = if decoded.is_invalid() {
        let i64_layout = (insn.opcode.nbytes == 1 && !insn_is_avx(&insn))
            .then(|| kernel_i64_fallback(op, insn.opnd_bytes))
            .flatten();
        match i64_layout {
            Some((modrm, imm)) => match (op, imm) {
                (0x9a | 0xea, 6) => (modrm, [4, 2], 0),
                (0x9a | 0xea, 4) => (modrm, [2, 2], 0),
                _ => (modrm, [imm, 0], 0),
            },
            None if decoder.last_error() == DecoderError::NoMoreBytes => return Err(truncated),
            None => return Err(InsnError::Invalid),
        }
    } else {
        let co = decoder.get_constant_offsets(&decoded);
        let total = start + decoded.len();
        let imms = [co.immediate_size(), co.immediate_size2()];
        let moffs = if co.has_displacement() && start + co.displacement_offset() == opcode_end {
            co.displacement_size()
        } else {
            0
        };
        let rest = total.saturating_sub(opcode_end);
        let has_modrm = moffs == 0 && rest > imms[0] + imms[1];
        (has_modrm, imms, moffs)
    };

    // insn_get_modrm() / insn_get_sib() / insn_get_displacement()
    if has_modrm {
        let modrm = *buf.get(pos).ok_or(truncated)?;
        insn.modrm = InsnField { value: i32::from(modrm), nbytes: 1 };
        pos += 1;
        let (mo, rm) = (x86_modrm_mod(modrm), x86_modrm_rm(modrm));
        if insn.addr_bytes != 2 && mo != 3 && rm == 4 {
            let sib = *buf.get(pos).ok_or(truncated)?;
            insn.sib = InsnField { value: i32::from(sib), nbytes: 1 };
            pos += 1;
        }
        let base = x86_sib_base(insn.sib.byte(0));
        let disp_len = match mo {
            3 => 0,
            1 => 1,
            _ if (mo == 0 && rm == 5) || mo == 2 || (mo == 0 && base == 5) => 4,
            _ => 0,
        };
        if disp_len != 0 {
            let value = read_signed(buf, pos, disp_len).ok_or(truncated)?;
            insn.displacement = InsnField { value, nbytes: disp_len as u8 };
            pos += disp_len;
        }
    }

    // insn_get_immediate(): moffset1/2, immediate(1)/2.
    if moffs_size != 0 {
        let first = moffs_size.min(4);
        insn.immediate = InsnField { value: read_signed(buf, pos, first).ok_or(truncated)?, nbytes: first as u8 };
        pos += first;
        if moffs_size == 8 {
            insn.immediate2 = InsnField { value: read_signed(buf, pos, 4).ok_or(truncated)?, nbytes: 4 };
            pos += 4;
        }
    } else {
        match imm_sizes[0] {
            0 => {}
            8 => {
                insn.immediate = InsnField { value: read_signed(buf, pos, 4).ok_or(truncated)?, nbytes: 4 };
                insn.immediate2 = InsnField { value: read_signed(buf, pos + 4, 4).ok_or(truncated)?, nbytes: 4 };
                pos += 8;
            }
            n => {
                insn.immediate = InsnField { value: read_signed(buf, pos, n).ok_or(truncated)?, nbytes: n as u8 };
                pos += n;
            }
        }
        if imm_sizes[1] != 0 {
            let n = imm_sizes[1];
            insn.immediate2 = InsnField { value: read_signed(buf, pos, n).ok_or(truncated)?, nbytes: n as u8 };
            pos += n;
        }
    }

    // The length: iced's (plus the emulate prefix), or the kernel's scan for the (i64) fallback.
    let length = if decoded.is_invalid() { pos } else { start + decoded.len() };
    if length > buf.len() || length > MAX_INSN_SIZE {
        return Err(truncated);
    }
    // iced does not count the trailing register-selector byte of the VEX "is4" forms (`vpblendvb`, `vblendvps`,
    // ...: operand `Lx` in the kernel's opcode map, which the kernel decodes as an imm8) or the 3DNow! suffix
    // opcode byte as an immediate; the kernel does. One unexplained trailing byte is therefore an imm8.
    if pos + 1 == length && imm_sizes == [0, 0] && moffs_size == 0 {
        insn.immediate = InsnField { value: read_signed(buf, pos, 1).ok_or(truncated)?, nbytes: 1 };
        pos += 1;
    }
    if pos != length {
        // The kernel's byte scan and the hardware layout disagree (e.g. a REX byte before a legacy prefix, which
        // the CPU ignores but the kernel's scan takes as the REX of an opcode `0x66`): see the module doc.
        return Err(InsnError::Invalid);
    }
    insn.length = length as u8;
    insn.kaddr[..length].copy_from_slice(&buf[..length]);
    Ok(insn)
}

#[cfg(test)]
mod tests;
