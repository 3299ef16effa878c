//! arm64 instruction predicates and fields used by kprobes: models `arch/arm64/include/asm/insn.h` (with
//! `insn-def.h`, `brk-imm.h` and `debug-monitors.h`), `arch/arm64/lib/insn.c` (v6.12; in v5.10 the same code is
//! `arch/arm64/kernel/insn.c`) and `sign_extend32`/`sign_extend64` of `include/linux/bitops.h`.
//!
//! Every `aarch64_insn_is_*` predicate is the kernel's `(code & mask) == val` with the kernel's exact mask and
//! value (`__AARCH64_INSN_FUNCS`). Masks read from the v5.10.13 `insn.h` and a 6.x `insn.h` (sources: see the
//! `decode_insn` module doc); where a predicate exists only in 6.x its doc says so.
//!
//! Known ways the kernel's masks differ from the architecture (kept on purpose, the kernel is the reference):
//! - `br_auth`/`blr_auth` (`0xFEFFF800`) also match unallocated `BRAAZ`/`BLRAAZ` forms whose Rm is not 31;
//! - `bcond` (`0xFF000010`) does not match `BC.cond` (FEAT_HBC, bit 4 set), so the kernel does not see `BC.cond` as
//!   a branch;
//! - no mask covers the FEAT_PAuth_LR returns (`RETAASPPC`, `RETAASPPCR`, ...), newer than these masks;
//! - `load_ex`/`store_ex` (`0x3F400000`) also match `LDAR`/`STLR` (fixed upstream in 2025, after v6.12).
//!
//! The first three are measured against yaxpeax-arm in `decode_insn`'s tests.

use crate::ptrace::aarch64::{PSR_C_BIT, PSR_N_BIT, PSR_V_BIT, PSR_Z_BIT};

/// `AARCH64_INSN_SIZE`: A64 instructions are always 4 bytes.
pub const AARCH64_INSN_SIZE: u64 = 4;

// ---------------------------------------------------------------------------------------------------------------
// brk-imm.h / insn-def.h / debug-monitors.h
// ---------------------------------------------------------------------------------------------------------------

/// `KPROBES_BRK_IMM` (brk-imm.h): the BRK immediate of an armed kprobe.
pub const KPROBES_BRK_IMM: u32 = 0x004;
/// `UPROBES_BRK_IMM` (brk-imm.h).
pub const UPROBES_BRK_IMM: u32 = 0x005;
/// `KPROBES_BRK_SS_IMM` (brk-imm.h): the BRK after the instruction in an XOL slot (v5.10..[6.16]; renamed
/// `KPROBES_SS_BRK_IMM` in 6.17).
pub const KPROBES_BRK_SS_IMM: u32 = 0x006;
/// `KRETPROBES_BRK_IMM` (brk-imm.h): `brk` in `__kretprobe_trampoline`. Present in v6.12; not in v5.10.
pub const KRETPROBES_BRK_IMM: u32 = 0x007;
/// `FAULT_BRK_IMM` (brk-imm.h).
pub const FAULT_BRK_IMM: u32 = 0x100;
/// `KGDB_DYN_DBG_BRK_IMM` (brk-imm.h).
pub const KGDB_DYN_DBG_BRK_IMM: u32 = 0x400;
/// `KGDB_COMPILED_DBG_BRK_IMM` (brk-imm.h).
pub const KGDB_COMPILED_DBG_BRK_IMM: u32 = 0x401;
/// `BUG_BRK_IMM` (brk-imm.h): `BUG()`/`WARN()`.
pub const BUG_BRK_IMM: u32 = 0x800;
/// `KASAN_BRK_IMM` (brk-imm.h).
pub const KASAN_BRK_IMM: u32 = 0x900;
/// `KASAN_BRK_MASK` (brk-imm.h).
pub const KASAN_BRK_MASK: u32 = 0x0ff;
/// `UBSAN_BRK_IMM` (brk-imm.h, 6.x).
pub const UBSAN_BRK_IMM: u32 = 0x5500;
/// `UBSAN_BRK_MASK` (brk-imm.h, 6.x).
pub const UBSAN_BRK_MASK: u32 = 0x00ff;
/// `CFI_BRK_IMM_BASE` (brk-imm.h, 6.x).
pub const CFI_BRK_IMM_BASE: u32 = 0x8000;

/// `AARCH64_BREAK_MON`: `BRK #0`; the immediate goes in bits `[20:5]` (debug-monitors.h in v5.10, insn-def.h in
/// v6.12).
pub const AARCH64_BREAK_MON: u32 = 0xd420_0000;
/// `AARCH64_BREAK_FAULT`: `BRK #FAULT_BRK_IMM`, what the kernel's instruction generators return on error.
pub const AARCH64_BREAK_FAULT: u32 = AARCH64_BREAK_MON | (FAULT_BRK_IMM << 5);
/// `BRK64_OPCODE_KPROBES` (debug-monitors.h): the word an armed kprobe writes over the probed instruction.
pub const BRK64_OPCODE_KPROBES: u32 = AARCH64_BREAK_MON | (KPROBES_BRK_IMM << 5);
/// `BRK64_OPCODE_KPROBES_SS` (debug-monitors.h): the second word of an XOL slot.
pub const BRK64_OPCODE_KPROBES_SS: u32 = AARCH64_BREAK_MON | (KPROBES_BRK_SS_IMM << 5);
/// `BRK64_OPCODE_UPROBES` (debug-monitors.h).
pub const BRK64_OPCODE_UPROBES: u32 = AARCH64_BREAK_MON | (UPROBES_BRK_IMM << 5);

const _: () = assert!(BRK64_OPCODE_KPROBES == 0xd420_0080);
const _: () = assert!(BRK64_OPCODE_KPROBES_SS == 0xd420_00c0);

// ---------------------------------------------------------------------------------------------------------------
// enums of insn.h
// ---------------------------------------------------------------------------------------------------------------

/// `enum aarch64_insn_encoding_class` (insn.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Aarch64InsnEncodingClass {
    /// `AARCH64_INSN_CLS_UNKNOWN`: unallocated.
    Unknown,
    /// `AARCH64_INSN_CLS_SVE` (6.x only; v5.10 maps op0 = 0b0010 to `UNKNOWN`).
    Sve,
    /// `AARCH64_INSN_CLS_DP_IMM`: data processing, immediate.
    DpImm,
    /// `AARCH64_INSN_CLS_DP_REG`: data processing, register.
    DpReg,
    /// `AARCH64_INSN_CLS_DP_FPSIMD`: data processing, SIMD and FP.
    DpFpsimd,
    /// `AARCH64_INSN_CLS_LDST`: loads and stores.
    Ldst,
    /// `AARCH64_INSN_CLS_BR_SYS`: branch, exception generation and system instructions.
    BrSys,
}

/// `aarch64_insn_encoding_class[]` of lib/insn.c v6.12, indexed by bits `[28:25]`.
const AARCH64_INSN_ENCODING_CLASS: [Aarch64InsnEncodingClass; 16] = {
    use Aarch64InsnEncodingClass::*;
    [
        Unknown, Unknown, Sve, Unknown, Ldst, DpReg, Ldst, DpFpsimd, DpImm, DpImm, BrSys, BrSys, Ldst, DpReg, Ldst,
        DpFpsimd,
    ]
};

/// Models `aarch64_get_insn_class` in arch/arm64/lib/insn.c (v5.10: arch/arm64/kernel/insn.c): the encoding group
/// from bits `[28:25]`. The v6.12 table is used; v5.10's differs only at index 2 (`UNKNOWN` instead of `SVE`), which
/// no kprobes decision depends on. v5.10's `aarch64_insn_is_steppable` tests `== AARCH64_INSN_CLS_BR_SYS`, which is
/// exactly v6.12's [`aarch64_insn_is_class_branch_sys`] (bits `[28:26]` = 0b101).
#[must_use]
pub fn aarch64_get_insn_class(insn: u32) -> Aarch64InsnEncodingClass {
    AARCH64_INSN_ENCODING_CLASS[((insn >> 25) & 0xf) as usize]
}

/// `enum aarch64_insn_hint_cr_op` values (insn.h): `insn & 0xFE0` of a HINT.
pub mod hint {
    /// `AARCH64_INSN_HINT_NOP`.
    pub const AARCH64_INSN_HINT_NOP: u32 = 0x0 << 5;
    /// `AARCH64_INSN_HINT_YIELD`.
    pub const AARCH64_INSN_HINT_YIELD: u32 = 0x1 << 5;
    /// `AARCH64_INSN_HINT_WFE`.
    pub const AARCH64_INSN_HINT_WFE: u32 = 0x2 << 5;
    /// `AARCH64_INSN_HINT_WFI`.
    pub const AARCH64_INSN_HINT_WFI: u32 = 0x3 << 5;
    /// `AARCH64_INSN_HINT_SEV`.
    pub const AARCH64_INSN_HINT_SEV: u32 = 0x4 << 5;
    /// `AARCH64_INSN_HINT_SEVL`.
    pub const AARCH64_INSN_HINT_SEVL: u32 = 0x5 << 5;
    /// `AARCH64_INSN_HINT_XPACLRI`.
    pub const AARCH64_INSN_HINT_XPACLRI: u32 = 0x07 << 5;
    /// `AARCH64_INSN_HINT_PACIA_1716`.
    pub const AARCH64_INSN_HINT_PACIA_1716: u32 = 0x08 << 5;
    /// `AARCH64_INSN_HINT_PACIB_1716`.
    pub const AARCH64_INSN_HINT_PACIB_1716: u32 = 0x0A << 5;
    /// `AARCH64_INSN_HINT_AUTIA_1716`.
    pub const AARCH64_INSN_HINT_AUTIA_1716: u32 = 0x0C << 5;
    /// `AARCH64_INSN_HINT_AUTIB_1716`.
    pub const AARCH64_INSN_HINT_AUTIB_1716: u32 = 0x0E << 5;
    /// `AARCH64_INSN_HINT_PACIAZ`.
    pub const AARCH64_INSN_HINT_PACIAZ: u32 = 0x18 << 5;
    /// `AARCH64_INSN_HINT_PACIASP`.
    pub const AARCH64_INSN_HINT_PACIASP: u32 = 0x19 << 5;
    /// `AARCH64_INSN_HINT_PACIBZ`.
    pub const AARCH64_INSN_HINT_PACIBZ: u32 = 0x1A << 5;
    /// `AARCH64_INSN_HINT_PACIBSP`.
    pub const AARCH64_INSN_HINT_PACIBSP: u32 = 0x1B << 5;
    /// `AARCH64_INSN_HINT_AUTIAZ`.
    pub const AARCH64_INSN_HINT_AUTIAZ: u32 = 0x1C << 5;
    /// `AARCH64_INSN_HINT_AUTIASP`.
    pub const AARCH64_INSN_HINT_AUTIASP: u32 = 0x1D << 5;
    /// `AARCH64_INSN_HINT_AUTIBZ`.
    pub const AARCH64_INSN_HINT_AUTIBZ: u32 = 0x1E << 5;
    /// `AARCH64_INSN_HINT_AUTIBSP`.
    pub const AARCH64_INSN_HINT_AUTIBSP: u32 = 0x1F << 5;
    /// `AARCH64_INSN_HINT_ESB`.
    pub const AARCH64_INSN_HINT_ESB: u32 = 0x10 << 5;
    /// `AARCH64_INSN_HINT_PSB`.
    pub const AARCH64_INSN_HINT_PSB: u32 = 0x11 << 5;
    /// `AARCH64_INSN_HINT_TSB`.
    pub const AARCH64_INSN_HINT_TSB: u32 = 0x12 << 5;
    /// `AARCH64_INSN_HINT_CSDB`.
    pub const AARCH64_INSN_HINT_CSDB: u32 = 0x14 << 5;
    /// `AARCH64_INSN_HINT_CLEARBHB` (6.x only).
    pub const AARCH64_INSN_HINT_CLEARBHB: u32 = 0x16 << 5;
    /// `AARCH64_INSN_HINT_BTI`.
    pub const AARCH64_INSN_HINT_BTI: u32 = 0x20 << 5;
    /// `AARCH64_INSN_HINT_BTIC`.
    pub const AARCH64_INSN_HINT_BTIC: u32 = 0x22 << 5;
    /// `AARCH64_INSN_HINT_BTIJ`.
    pub const AARCH64_INSN_HINT_BTIJ: u32 = 0x24 << 5;
    /// `AARCH64_INSN_HINT_BTIJC`.
    pub const AARCH64_INSN_HINT_BTIJC: u32 = 0x26 << 5;
}
pub use hint::*;

/// `AARCH64_INSN_SPCLREG_DAIF` (`enum aarch64_insn_special_register`, insn.h): the op0:op1:CRn:CRm:op2 field of
/// `MRS/MSR DAIF` as [`aarch64_insn_extract_system_reg`] returns it.
pub const AARCH64_INSN_SPCLREG_DAIF: u32 = 0xDA11;
/// `AARCH64_INSN_SPCLREG_NZCV`.
pub const AARCH64_INSN_SPCLREG_NZCV: u32 = 0xDA10;
/// `AARCH64_INSN_SPCLREG_SP_EL0`.
pub const AARCH64_INSN_SPCLREG_SP_EL0: u32 = 0xC208;
/// `AARCH64_INSN_SPCLREG_CURRENTEL`.
pub const AARCH64_INSN_SPCLREG_CURRENTEL: u32 = 0xC212;

/// `enum aarch64_insn_condition` (insn.h): the condition field of `B.cond`, as `insn & 0xf`.
pub mod cond {
    /// `AARCH64_INSN_COND_EQ` (`==`).
    pub const AARCH64_INSN_COND_EQ: u32 = 0x0;
    /// `AARCH64_INSN_COND_NE` (`!=`).
    pub const AARCH64_INSN_COND_NE: u32 = 0x1;
    /// `AARCH64_INSN_COND_CS` (unsigned `>=`).
    pub const AARCH64_INSN_COND_CS: u32 = 0x2;
    /// `AARCH64_INSN_COND_CC` (unsigned `<`).
    pub const AARCH64_INSN_COND_CC: u32 = 0x3;
    /// `AARCH64_INSN_COND_MI` (`< 0`).
    pub const AARCH64_INSN_COND_MI: u32 = 0x4;
    /// `AARCH64_INSN_COND_PL` (`>= 0`).
    pub const AARCH64_INSN_COND_PL: u32 = 0x5;
    /// `AARCH64_INSN_COND_VS` (overflow).
    pub const AARCH64_INSN_COND_VS: u32 = 0x6;
    /// `AARCH64_INSN_COND_VC` (no overflow).
    pub const AARCH64_INSN_COND_VC: u32 = 0x7;
    /// `AARCH64_INSN_COND_HI` (unsigned `>`).
    pub const AARCH64_INSN_COND_HI: u32 = 0x8;
    /// `AARCH64_INSN_COND_LS` (unsigned `<=`).
    pub const AARCH64_INSN_COND_LS: u32 = 0x9;
    /// `AARCH64_INSN_COND_GE` (signed `>=`).
    pub const AARCH64_INSN_COND_GE: u32 = 0xa;
    /// `AARCH64_INSN_COND_LT` (signed `<`).
    pub const AARCH64_INSN_COND_LT: u32 = 0xb;
    /// `AARCH64_INSN_COND_GT` (signed `>`).
    pub const AARCH64_INSN_COND_GT: u32 = 0xc;
    /// `AARCH64_INSN_COND_LE` (signed `<=`).
    pub const AARCH64_INSN_COND_LE: u32 = 0xd;
    /// `AARCH64_INSN_COND_AL` (always).
    pub const AARCH64_INSN_COND_AL: u32 = 0xe;
}
pub use cond::*;

/// `enum aarch64_insn_imm_type` (insn.h), for [`aarch64_insn_decode_immediate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Aarch64InsnImmType {
    /// `AARCH64_INSN_IMM_ADR`: immhi:immlo of ADR/ADRP (21 bits).
    Adr,
    /// `AARCH64_INSN_IMM_26`: bits `[25:0]`.
    Imm26,
    /// `AARCH64_INSN_IMM_19`: bits `[23:5]`.
    Imm19,
    /// `AARCH64_INSN_IMM_16`: bits `[20:5]`.
    Imm16,
    /// `AARCH64_INSN_IMM_14`: bits `[18:5]`.
    Imm14,
    /// `AARCH64_INSN_IMM_12`: bits `[21:10]`.
    Imm12,
    /// `AARCH64_INSN_IMM_9`: bits `[20:12]`.
    Imm9,
    /// `AARCH64_INSN_IMM_7`: bits `[21:15]`.
    Imm7,
    /// `AARCH64_INSN_IMM_6`: bits `[15:10]`.
    Imm6,
    /// `AARCH64_INSN_IMM_S`: bits `[15:10]`.
    ImmS,
    /// `AARCH64_INSN_IMM_R`: bits `[21:16]`.
    ImmR,
    /// `AARCH64_INSN_IMM_N`: bit 22.
    ImmN,
}

/// `enum aarch64_insn_register_type` (insn.h), for [`aarch64_insn_decode_register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Aarch64InsnRegisterType {
    /// `AARCH64_INSN_REGTYPE_RT`: bits `[4:0]`.
    Rt,
    /// `AARCH64_INSN_REGTYPE_RN`: bits `[9:5]`.
    Rn,
    /// `AARCH64_INSN_REGTYPE_RT2`: bits `[14:10]`.
    Rt2,
    /// `AARCH64_INSN_REGTYPE_RM`: bits `[20:16]`.
    Rm,
    /// `AARCH64_INSN_REGTYPE_RD`: bits `[4:0]`.
    Rd,
    /// `AARCH64_INSN_REGTYPE_RA`: bits `[14:10]`.
    Ra,
    /// `AARCH64_INSN_REGTYPE_RS`: bits `[20:16]` when *encoding*; the kernel's decoder does not handle it.
    Rs,
}

// ---------------------------------------------------------------------------------------------------------------
// __AARCH64_INSN_FUNCS
// ---------------------------------------------------------------------------------------------------------------

/// `__AARCH64_INSN_FUNCS(abbr, mask, val)`: defines `aarch64_insn_is_<abbr>` (`(code & mask) == val`) and
/// `aarch64_insn_get_<abbr>_value` (`val`), with the kernel's `BUILD_BUG_ON(~mask & val)` as a const assertion.
macro_rules! aarch64_insn_funcs {
    ($( $(#[$doc:meta])* ($is:ident, $get:ident, $mask:literal, $val:literal); )*) => {$(
        $(#[$doc])*
        #[doc = concat!(
            "\n\n`(code & ", stringify!($mask), ") == ", stringify!($val), "` (`__AARCH64_INSN_FUNCS`, insn.h)."
        )]
        #[must_use]
        #[inline]
        pub const fn $is(code: u32) -> bool {
            const _: () = {
                let (mask, val): (u32, u32) = ($mask, $val);
                assert!(!mask & val == 0, "BUILD_BUG_ON(~(mask) & (val))");
            };
            (code & $mask) == $val
        }
        #[doc = concat!(
            "`", stringify!($get), "`: the value of `", stringify!($is), "`'s pattern (", stringify!($val), ")."
        )]
        #[must_use]
        #[inline]
        pub const fn $get() -> u32 {
            $val
        }
    )*};
}

aarch64_insn_funcs! {
    /// `aarch64_insn_is_class_branch_sys` (v6.12 insn.h; v5.10 used `aarch64_get_insn_class() == BR_SYS`).
    (aarch64_insn_is_class_branch_sys, aarch64_insn_get_class_branch_sys_value, 0x1c000000, 0x14000000);
    /// `aarch64_insn_is_adr`: ADR.
    (aarch64_insn_is_adr, aarch64_insn_get_adr_value, 0x9F000000, 0x10000000);
    /// `aarch64_insn_is_adrp`: ADRP.
    (aarch64_insn_is_adrp, aarch64_insn_get_adrp_value, 0x9F000000, 0x90000000);
    /// `aarch64_insn_is_prfm`: PRFM (immediate).
    (aarch64_insn_is_prfm, aarch64_insn_get_prfm_value, 0x3FC00000, 0x39800000);
    /// `aarch64_insn_is_prfm_lit`: PRFM (literal).
    (aarch64_insn_is_prfm_lit, aarch64_insn_get_prfm_lit_value, 0xFF000000, 0xD8000000);
    /// `aarch64_insn_is_str_reg`: STR (register).
    (aarch64_insn_is_str_reg, aarch64_insn_get_str_reg_value, 0x3FE0EC00, 0x38206800);
    /// `aarch64_insn_is_ldadd`: LDADD.
    (aarch64_insn_is_ldadd, aarch64_insn_get_ldadd_value, 0x3F20FC00, 0x38200000);
    /// `aarch64_insn_is_cas` (6.x only): CAS.
    (aarch64_insn_is_cas, aarch64_insn_get_cas_value, 0x3FA07C00, 0x08A07C00);
    /// `aarch64_insn_is_ldr_reg`: LDR (register).
    (aarch64_insn_is_ldr_reg, aarch64_insn_get_ldr_reg_value, 0x3FE0EC00, 0x38606800);
    /// `aarch64_insn_is_ldr_lit`: LDR (literal), 32- and 64-bit general-register forms (bit 30 = 64-bit).
    (aarch64_insn_is_ldr_lit, aarch64_insn_get_ldr_lit_value, 0xBF000000, 0x18000000);
    /// `aarch64_insn_is_ldrsw_lit`: LDRSW (literal).
    (aarch64_insn_is_ldrsw_lit, aarch64_insn_get_ldrsw_lit_value, 0xFF000000, 0x98000000);
    /// `aarch64_insn_is_exclusive`: load/store exclusive (LDXR, STXR, LDAXR, STLXR, LDXP, STXP, ...).
    (aarch64_insn_is_exclusive, aarch64_insn_get_exclusive_value, 0x3F800000, 0x08000000);
    /// `aarch64_insn_is_load_ex`: "load exclusive" for the atomic-sequence scan. This v5.10..v6.12 mask also
    /// matches LDAR/LDLAR (bit 23 is not tested); Peilin Ye's 2025 patch narrowed it to `0x3FC00000`.
    (aarch64_insn_is_load_ex, aarch64_insn_get_load_ex_value, 0x3F400000, 0x08400000);
    /// `aarch64_insn_is_store_ex`: "store exclusive" for the atomic-sequence scan; also matches STLR/STLLR in
    /// v5.10..v6.12 (see [`aarch64_insn_is_load_ex`]).
    (aarch64_insn_is_store_ex, aarch64_insn_get_store_ex_value, 0x3F400000, 0x08000000);
    /// `aarch64_insn_is_stp_post`: STP (post-index).
    (aarch64_insn_is_stp_post, aarch64_insn_get_stp_post_value, 0x7FC00000, 0x28800000);
    /// `aarch64_insn_is_ldp_post`: LDP (post-index).
    (aarch64_insn_is_ldp_post, aarch64_insn_get_ldp_post_value, 0x7FC00000, 0x28C00000);
    /// `aarch64_insn_is_stp_pre`: STP (pre-index).
    (aarch64_insn_is_stp_pre, aarch64_insn_get_stp_pre_value, 0x7FC00000, 0x29800000);
    /// `aarch64_insn_is_ldp_pre`: LDP (pre-index).
    (aarch64_insn_is_ldp_pre, aarch64_insn_get_ldp_pre_value, 0x7FC00000, 0x29C00000);
    /// `aarch64_insn_is_add_imm`: ADD (immediate).
    (aarch64_insn_is_add_imm, aarch64_insn_get_add_imm_value, 0x7F000000, 0x11000000);
    /// `aarch64_insn_is_sub_imm`: SUB (immediate).
    (aarch64_insn_is_sub_imm, aarch64_insn_get_sub_imm_value, 0x7F000000, 0x51000000);
    /// `aarch64_insn_is_orr`: ORR (shifted register), of which `MOV Xd, Xm` is an alias.
    (aarch64_insn_is_orr, aarch64_insn_get_orr_value, 0x7F200000, 0x2A000000);
    /// `aarch64_insn_is_b`: B.
    (aarch64_insn_is_b, aarch64_insn_get_b_value, 0xFC000000, 0x14000000);
    /// `aarch64_insn_is_bl`: BL.
    (aarch64_insn_is_bl, aarch64_insn_get_bl_value, 0xFC000000, 0x94000000);
    /// `aarch64_insn_is_cbz`: CBZ (32/64-bit).
    (aarch64_insn_is_cbz, aarch64_insn_get_cbz_value, 0x7F000000, 0x34000000);
    /// `aarch64_insn_is_cbnz`: CBNZ (32/64-bit).
    (aarch64_insn_is_cbnz, aarch64_insn_get_cbnz_value, 0x7F000000, 0x35000000);
    /// `aarch64_insn_is_tbz`: TBZ.
    (aarch64_insn_is_tbz, aarch64_insn_get_tbz_value, 0x7F000000, 0x36000000);
    /// `aarch64_insn_is_tbnz`: TBNZ.
    (aarch64_insn_is_tbnz, aarch64_insn_get_tbnz_value, 0x7F000000, 0x37000000);
    /// `aarch64_insn_is_bcond`: B.cond (bit 4 clear; `BC.cond` does not match).
    (aarch64_insn_is_bcond, aarch64_insn_get_bcond_value, 0xFF000010, 0x54000000);
    /// `aarch64_insn_is_svc`: SVC.
    (aarch64_insn_is_svc, aarch64_insn_get_svc_value, 0xFFE0001F, 0xD4000001);
    /// `aarch64_insn_is_hvc`: HVC.
    (aarch64_insn_is_hvc, aarch64_insn_get_hvc_value, 0xFFE0001F, 0xD4000002);
    /// `aarch64_insn_is_smc`: SMC.
    (aarch64_insn_is_smc, aarch64_insn_get_smc_value, 0xFFE0001F, 0xD4000003);
    /// `aarch64_insn_is_brk`: BRK.
    (aarch64_insn_is_brk, aarch64_insn_get_brk_value, 0xFFE0001F, 0xD4200000);
    /// `aarch64_insn_is_exception`: the whole exception-generation group (SVC/HVC/SMC/BRK/HLT/DCPS*).
    (aarch64_insn_is_exception, aarch64_insn_get_exception_value, 0xFF000000, 0xD4000000);
    /// `aarch64_insn_is_hint`: the HINT space (NOP, YIELD, WFE, WFI, PAC*, AUT*, BTI, ...).
    (aarch64_insn_is_hint, aarch64_insn_get_hint_value, 0xFFFFF01F, 0xD503201F);
    /// `aarch64_insn_is_br`: BR.
    (aarch64_insn_is_br, aarch64_insn_get_br_value, 0xFFFFFC1F, 0xD61F0000);
    /// `aarch64_insn_is_br_auth`: BRAA/BRAB/BRAAZ/BRABZ.
    (aarch64_insn_is_br_auth, aarch64_insn_get_br_auth_value, 0xFEFFF800, 0xD61F0800);
    /// `aarch64_insn_is_blr`: BLR.
    (aarch64_insn_is_blr, aarch64_insn_get_blr_value, 0xFFFFFC1F, 0xD63F0000);
    /// `aarch64_insn_is_blr_auth`: BLRAA/BLRAB/BLRAAZ/BLRABZ.
    (aarch64_insn_is_blr_auth, aarch64_insn_get_blr_auth_value, 0xFEFFF800, 0xD63F0800);
    /// `aarch64_insn_is_ret`: RET.
    (aarch64_insn_is_ret, aarch64_insn_get_ret_value, 0xFFFFFC1F, 0xD65F0000);
    /// `aarch64_insn_is_ret_auth`: RETAA/RETAB.
    (aarch64_insn_is_ret_auth, aarch64_insn_get_ret_auth_value, 0xFFFFFBFF, 0xD65F0BFF);
    /// `aarch64_insn_is_eret`: ERET.
    (aarch64_insn_is_eret, aarch64_insn_get_eret_value, 0xFFFFFFFF, 0xD69F03E0);
    /// `aarch64_insn_is_eret_auth`: ERETAA/ERETAB.
    (aarch64_insn_is_eret_auth, aarch64_insn_get_eret_auth_value, 0xFFFFFBFF, 0xD69F0BFF);
    /// `aarch64_insn_is_mrs`: MRS.
    (aarch64_insn_is_mrs, aarch64_insn_get_mrs_value, 0xFFF00000, 0xD5300000);
    /// `aarch64_insn_is_msr_imm`: MSR (immediate), e.g. `msr daifset, #2`.
    (aarch64_insn_is_msr_imm, aarch64_insn_get_msr_imm_value, 0xFFF8F01F, 0xD500401F);
    /// `aarch64_insn_is_msr_reg`: MSR (register).
    (aarch64_insn_is_msr_reg, aarch64_insn_get_msr_reg_value, 0xFFF00000, 0xD5100000);
    /// `aarch64_insn_is_dmb` (6.x only): DMB.
    (aarch64_insn_is_dmb, aarch64_insn_get_dmb_value, 0xFFFFF0FF, 0xD50330BF);
    /// `aarch64_insn_is_dsb_base` (6.x only): DSB.
    (aarch64_insn_is_dsb_base, aarch64_insn_get_dsb_base_value, 0xFFFFF0FF, 0xD503309F);
    /// `aarch64_insn_is_isb` (6.x only): ISB.
    (aarch64_insn_is_isb, aarch64_insn_get_isb_value, 0xFFFFF0FF, 0xD50330DF);
    /// `aarch64_insn_is_clrex` (6.x only): CLREX.
    (aarch64_insn_is_clrex, aarch64_insn_get_clrex_value, 0xFFFFF0FF, 0xD503305F);
    /// `aarch64_insn_is_bti` (6.x only): BTI with any target (c/j/jc).
    (aarch64_insn_is_bti, aarch64_insn_get_bti_value, 0xFFFFFF3F, 0xD503241F);
}

// ---------------------------------------------------------------------------------------------------------------
// composite predicates (insn.h static inlines in v6.12, insn.c functions in v5.10)
// ---------------------------------------------------------------------------------------------------------------

/// Models `aarch64_insn_is_steppable_hint` (insn.h v6.12; arch/arm64/kernel/insn.c v5.10, same list): a HINT that
/// may run in an XOL slot. Only NOP, XPACLRI, PACIA1716/PACIB1716, PACIAZ/PACIASP/PACIBZ/PACIBSP and the four BTIs;
/// everything else (WFE, WFI, YIELD, SEV, AUTI*, ESB, CSDB, ...) is not.
#[must_use]
pub fn aarch64_insn_is_steppable_hint(insn: u32) -> bool {
    if !aarch64_insn_is_hint(insn) {
        return false;
    }
    matches!(
        insn & 0xFE0,
        AARCH64_INSN_HINT_XPACLRI
            | AARCH64_INSN_HINT_PACIA_1716
            | AARCH64_INSN_HINT_PACIB_1716
            | AARCH64_INSN_HINT_PACIAZ
            | AARCH64_INSN_HINT_PACIASP
            | AARCH64_INSN_HINT_PACIBZ
            | AARCH64_INSN_HINT_PACIBSP
            | AARCH64_INSN_HINT_BTI
            | AARCH64_INSN_HINT_BTIC
            | AARCH64_INSN_HINT_BTIJ
            | AARCH64_INSN_HINT_BTIJC
            | AARCH64_INSN_HINT_NOP
    )
}

/// Models `aarch64_insn_is_branch` (insn.h v6.12; arch/arm64/kernel/insn.c v5.10, same body): B, BL, CBZ, CBNZ,
/// TBZ, TBNZ, RET, RETAA/RETAB, BR, BRA*, BLR, BLRA*, B.cond.
#[must_use]
pub fn aarch64_insn_is_branch(insn: u32) -> bool {
    aarch64_insn_is_b(insn)
        || aarch64_insn_is_bl(insn)
        || aarch64_insn_is_cbz(insn)
        || aarch64_insn_is_cbnz(insn)
        || aarch64_insn_is_tbz(insn)
        || aarch64_insn_is_tbnz(insn)
        || aarch64_insn_is_ret(insn)
        || aarch64_insn_is_ret_auth(insn)
        || aarch64_insn_is_br(insn)
        || aarch64_insn_is_br_auth(insn)
        || aarch64_insn_is_blr(insn)
        || aarch64_insn_is_blr_auth(insn)
        || aarch64_insn_is_bcond(insn)
}

/// Models `aarch64_insn_is_branch_imm` (insn.h / lib/insn.c): the PC-relative immediate branches.
#[must_use]
pub fn aarch64_insn_is_branch_imm(insn: u32) -> bool {
    aarch64_insn_is_b(insn)
        || aarch64_insn_is_bl(insn)
        || aarch64_insn_is_tbz(insn)
        || aarch64_insn_is_tbnz(insn)
        || aarch64_insn_is_cbz(insn)
        || aarch64_insn_is_cbnz(insn)
        || aarch64_insn_is_bcond(insn)
}

/// Models `aarch64_insn_is_adr_adrp` (insn.h).
#[must_use]
pub fn aarch64_insn_is_adr_adrp(insn: u32) -> bool {
    aarch64_insn_is_adr(insn) || aarch64_insn_is_adrp(insn)
}

/// Models `aarch64_insn_uses_literal` (insn.h v6.12; arch/arm64/kernel/insn.c v5.10): LDR/LDRSW (literal),
/// ADR/ADRP and PRFM (literal). SIMD&FP `LDR (literal)` (V = 1) is not covered by these masks.
#[must_use]
pub fn aarch64_insn_uses_literal(insn: u32) -> bool {
    aarch64_insn_is_ldr_lit(insn)
        || aarch64_insn_is_ldrsw_lit(insn)
        || aarch64_insn_is_adr_adrp(insn)
        || aarch64_insn_is_prfm_lit(insn)
}

/// Models `aarch64_insn_gen_hint` (insn.h v6.12 / insn.c v5.10): `HINT #op`.
#[must_use]
pub fn aarch64_insn_gen_hint(op: u32) -> u32 {
    aarch64_insn_get_hint_value() | op
}

/// Models `aarch64_insn_gen_nop`: `0xd503201f`.
#[must_use]
pub fn aarch64_insn_gen_nop() -> u32 {
    aarch64_insn_gen_hint(AARCH64_INSN_HINT_NOP)
}

/// Models `aarch64_insn_is_nop` (insn.h v6.12: `insn == aarch64_insn_gen_nop()`).
#[must_use]
pub fn aarch64_insn_is_nop(insn: u32) -> bool {
    insn == aarch64_insn_gen_nop()
}

/// Models `aarch64_insn_extract_system_reg` (lib/insn.c): the op0:op1:CRn:CRm:op2 field of MRS/MSR,
/// `(insn & 0x1FFFE0) >> 5`.
#[must_use]
pub fn aarch64_insn_extract_system_reg(insn: u32) -> u32 {
    (insn & 0x1FFFE0) >> 5
}

// ---------------------------------------------------------------------------------------------------------------
// immediates and registers (lib/insn.c)
// ---------------------------------------------------------------------------------------------------------------

/// `aarch64_get_imm_shift_mask` (lib/insn.c): the `(mask, shift)` of an immediate field.
fn aarch64_get_imm_shift_mask(ty: Aarch64InsnImmType) -> Option<(u32, u32)> {
    use Aarch64InsnImmType::*;
    Some(match ty {
        Imm26 => ((1 << 26) - 1, 0),
        Imm19 => ((1 << 19) - 1, 5),
        Imm16 => ((1 << 16) - 1, 5),
        Imm14 => ((1 << 14) - 1, 5),
        Imm12 => ((1 << 12) - 1, 10),
        Imm9 => ((1 << 9) - 1, 12),
        Imm7 => ((1 << 7) - 1, 15),
        Imm6 | ImmS => ((1 << 6) - 1, 10),
        ImmR => ((1 << 6) - 1, 16),
        ImmN => (1, 22),
        Adr => return None,
    })
}

/// `ADR_IMM_HILOSPLIT` (lib/insn.c).
const ADR_IMM_HILOSPLIT: u32 = 2;
/// `ADR_IMM_SIZE` (`SZ_2M`).
const ADR_IMM_SIZE: u32 = 2 * 1024 * 1024;
/// `ADR_IMM_LOMASK`.
const ADR_IMM_LOMASK: u32 = (1 << ADR_IMM_HILOSPLIT) - 1;
/// `ADR_IMM_HIMASK`.
const ADR_IMM_HIMASK: u32 = (ADR_IMM_SIZE >> ADR_IMM_HILOSPLIT) - 1;
/// `ADR_IMM_LOSHIFT`.
const ADR_IMM_LOSHIFT: u32 = 29;
/// `ADR_IMM_HISHIFT`.
const ADR_IMM_HISHIFT: u32 = 5;

/// Models `aarch64_insn_decode_immediate` in arch/arm64/lib/insn.c (v5.10: arch/arm64/kernel/insn.c): the raw,
/// unsigned immediate field of `ty` (ADR: immhi:immlo, 21 bits).
#[must_use]
pub fn aarch64_insn_decode_immediate(ty: Aarch64InsnImmType, insn: u32) -> u64 {
    let (mask, shift, insn) = match aarch64_get_imm_shift_mask(ty) {
        Some((mask, shift)) => (mask, shift, insn),
        None => {
            let immlo = (insn >> ADR_IMM_LOSHIFT) & ADR_IMM_LOMASK;
            let immhi = (insn >> ADR_IMM_HISHIFT) & ADR_IMM_HIMASK;
            (ADR_IMM_SIZE - 1, 0, (immhi << ADR_IMM_HILOSPLIT) | immlo)
        }
    };
    u64::from((insn >> shift) & mask)
}

/// Models `aarch64_insn_decode_register` in arch/arm64/lib/insn.c: a 5-bit register field. As in the kernel,
/// `AARCH64_INSN_REGTYPE_RS` is not handled by the decoder (the kernel logs `pr_err` and returns 0; so does this).
#[must_use]
pub fn aarch64_insn_decode_register(ty: Aarch64InsnRegisterType, insn: u32) -> u32 {
    use Aarch64InsnRegisterType::*;
    let shift = match ty {
        Rt | Rd => 0,
        Rn => 5,
        Rt2 | Ra => 10,
        Rm => 16,
        Rs => return 0,
    };
    (insn >> shift) & 0x1f
}

/// Models `aarch64_get_branch_offset` in arch/arm64/lib/insn.c: the byte offset of an immediate branch. The kernel
/// `BUG()`s on any other instruction; this returns `None` instead.
#[must_use]
pub fn aarch64_get_branch_offset(insn: u32) -> Option<i32> {
    // The casts reinterpret the unsigned field as s32, as the kernel's `s32 imm` does.
    if aarch64_insn_is_b(insn) || aarch64_insn_is_bl(insn) {
        let imm = aarch64_insn_decode_immediate(Aarch64InsnImmType::Imm26, insn) as i32;
        return Some((imm << 6) >> 4);
    }
    if aarch64_insn_is_cbz(insn) || aarch64_insn_is_cbnz(insn) || aarch64_insn_is_bcond(insn) {
        let imm = aarch64_insn_decode_immediate(Aarch64InsnImmType::Imm19, insn) as i32;
        return Some((imm << 13) >> 11);
    }
    if aarch64_insn_is_tbz(insn) || aarch64_insn_is_tbnz(insn) {
        let imm = aarch64_insn_decode_immediate(Aarch64InsnImmType::Imm14, insn) as i32;
        return Some((imm << 18) >> 16);
    }
    None
}

// ---------------------------------------------------------------------------------------------------------------
// include/linux/bitops.h
// ---------------------------------------------------------------------------------------------------------------

/// Models `sign_extend32` in include/linux/bitops.h: sign-extends `value` from bit `index` (0..=31).
/// `index` outside 0..=31 is clamped (the kernel's shift would be undefined there).
#[must_use]
pub fn sign_extend32(value: u32, index: u32) -> i32 {
    let shift = 31 - index.min(31);
    ((value << shift) as i32) >> shift
}

/// Models `sign_extend64` in include/linux/bitops.h: sign-extends `value` from bit `index` (0..=63).
/// `index` outside 0..=63 is clamped.
#[must_use]
pub fn sign_extend64(value: u64, index: u32) -> i64 {
    let shift = 63 - index.min(63);
    ((value << shift) as i64) >> shift
}

// ---------------------------------------------------------------------------------------------------------------
// condition checks (lib/insn.c)
// ---------------------------------------------------------------------------------------------------------------

/// `pstate_check_t` (insn.h): a condition evaluated on a PSTATE value (`unsigned long`).
pub type PstateCheckT = fn(u64) -> bool;

/// `__check_eq` (lib/insn.c): Z set.
#[must_use]
pub fn __check_eq(pstate: u64) -> bool {
    (pstate & PSR_Z_BIT) != 0
}

/// `__check_ne` (lib/insn.c): Z clear.
#[must_use]
pub fn __check_ne(pstate: u64) -> bool {
    (pstate & PSR_Z_BIT) == 0
}

/// `__check_cs` (lib/insn.c): C set.
#[must_use]
pub fn __check_cs(pstate: u64) -> bool {
    (pstate & PSR_C_BIT) != 0
}

/// `__check_cc` (lib/insn.c): C clear.
#[must_use]
pub fn __check_cc(pstate: u64) -> bool {
    (pstate & PSR_C_BIT) == 0
}

/// `__check_mi` (lib/insn.c): N set.
#[must_use]
pub fn __check_mi(pstate: u64) -> bool {
    (pstate & PSR_N_BIT) != 0
}

/// `__check_pl` (lib/insn.c): N clear.
#[must_use]
pub fn __check_pl(pstate: u64) -> bool {
    (pstate & PSR_N_BIT) == 0
}

/// `__check_vs` (lib/insn.c): V set.
#[must_use]
pub fn __check_vs(pstate: u64) -> bool {
    (pstate & PSR_V_BIT) != 0
}

/// `__check_vc` (lib/insn.c): V clear.
#[must_use]
pub fn __check_vc(pstate: u64) -> bool {
    (pstate & PSR_V_BIT) == 0
}

/// `__check_hi` (lib/insn.c): C set and Z clear, computed as the kernel does (`pstate &= ~(pstate >> 1)`).
#[must_use]
pub fn __check_hi(pstate: u64) -> bool {
    let pstate = pstate & !(pstate >> 1); // PSR_C_BIT &= ~PSR_Z_BIT
    (pstate & PSR_C_BIT) != 0
}

/// `__check_ls` (lib/insn.c): C clear or Z set.
#[must_use]
pub fn __check_ls(pstate: u64) -> bool {
    let pstate = pstate & !(pstate >> 1); // PSR_C_BIT &= ~PSR_Z_BIT
    (pstate & PSR_C_BIT) == 0
}

/// `__check_ge` (lib/insn.c): N == V (`pstate ^= pstate << 3`).
#[must_use]
pub fn __check_ge(pstate: u64) -> bool {
    let pstate = pstate ^ (pstate << 3); // PSR_N_BIT ^= PSR_V_BIT
    (pstate & PSR_N_BIT) == 0
}

/// `__check_lt` (lib/insn.c): N != V.
#[must_use]
pub fn __check_lt(pstate: u64) -> bool {
    let pstate = pstate ^ (pstate << 3); // PSR_N_BIT ^= PSR_V_BIT
    (pstate & PSR_N_BIT) != 0
}

/// `__check_gt` (lib/insn.c): Z clear and N == V.
#[must_use]
pub fn __check_gt(pstate: u64) -> bool {
    let mut temp = pstate ^ (pstate << 3); // PSR_N_BIT ^= PSR_V_BIT
    temp |= pstate << 1; // PSR_N_BIT |= PSR_Z_BIT
    (temp & PSR_N_BIT) == 0
}

/// `__check_le` (lib/insn.c): Z set or N != V.
#[must_use]
pub fn __check_le(pstate: u64) -> bool {
    let mut temp = pstate ^ (pstate << 3); // PSR_N_BIT ^= PSR_V_BIT
    temp |= pstate << 1; // PSR_N_BIT |= PSR_Z_BIT
    (temp & PSR_N_BIT) != 0
}

/// `__check_al` (lib/insn.c): always.
#[must_use]
pub fn __check_al(_pstate: u64) -> bool {
    true
}

/// Models `aarch32_opcode_cond_checks[16]` in arch/arm64/lib/insn.c (v5.10: arch/arm64/kernel/insn.c), indexed by
/// the condition field. As in the kernel, 0b1111 ("nv") behaves as "al".
#[allow(non_upper_case_globals)]
pub static aarch32_opcode_cond_checks: [PstateCheckT; 16] = [
    __check_eq, __check_ne, __check_cs, __check_cc, __check_mi, __check_pl, __check_vs, __check_vc, __check_hi,
    __check_ls, __check_ge, __check_lt, __check_gt, __check_le, __check_al, __check_al,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brk_opcodes_match_brk_imm_h() {
        assert_eq!(BRK64_OPCODE_KPROBES, 0xd420_0080);
        assert_eq!(BRK64_OPCODE_KPROBES_SS, 0xd420_00c0);
        assert_eq!(BRK64_OPCODE_UPROBES, 0xd420_00a0);
        assert_eq!(AARCH64_BREAK_MON | (KRETPROBES_BRK_IMM << 5), 0xd420_00e0);
        assert_eq!(AARCH64_BREAK_FAULT, 0xd420_2000);
        assert!(aarch64_insn_is_brk(BRK64_OPCODE_KPROBES) && aarch64_insn_is_exception(BRK64_OPCODE_KPROBES));
        assert_eq!(aarch64_insn_decode_immediate(Aarch64InsnImmType::Imm16, BRK64_OPCODE_KPROBES_SS), 6);
    }

    #[test]
    fn nop_and_hint() {
        assert_eq!(aarch64_insn_gen_nop(), 0xd503_201f);
        assert!(aarch64_insn_is_nop(0xd503_201f));
        assert!(aarch64_insn_is_steppable_hint(0xd503_245f)); // bti c
        assert!(aarch64_insn_is_steppable_hint(0xd503_233f)); // paciasp
        assert!(!aarch64_insn_is_steppable_hint(0xd503_23bf)); // autiasp
        assert!(!aarch64_insn_is_steppable_hint(0xd503_207f)); // wfi
        assert!(!aarch64_insn_is_steppable_hint(0xd503_3bbf)); // dmb ish: not a hint at all
    }

    #[test]
    fn sign_extension_like_bitops_h() {
        assert_eq!(sign_extend32(0x0800_0000, 27), -0x0800_0000);
        assert_eq!(sign_extend32(0x07ff_fffc, 27), 0x07ff_fffc);
        assert_eq!(sign_extend32(0x10_0000, 20), -0x10_0000);
        assert_eq!(sign_extend32(0x8000, 15), -0x8000);
        assert_eq!(sign_extend32(0xffff_ffff, 31), -1);
        assert_eq!(sign_extend64(0x10_0000, 20), -0x10_0000);
        assert_eq!(sign_extend64(0x0f_ffff, 20), 0x0f_ffff);
        // Out-of-range indices are clamped rather than panicking.
        assert_eq!(sign_extend32(5, 99), 5);
        assert_eq!(sign_extend64(5, 99), 5);
    }

    #[test]
    fn decode_immediate_and_register() {
        // adr x5, #-1 = 0x70ffffe5: immhi:immlo = all ones (21 bits).
        assert_eq!(aarch64_insn_decode_immediate(Aarch64InsnImmType::Adr, 0x70ff_ffe5), 0x1f_ffff);
        // b #-8 = 0x17fffffe.
        assert_eq!(aarch64_insn_decode_immediate(Aarch64InsnImmType::Imm26, 0x17ff_fffe), 0x3ff_fffe);
        assert_eq!(aarch64_get_branch_offset(0x17ff_fffe), Some(-8));
        assert_eq!(aarch64_get_branch_offset(0xb608_0043), Some(8)); // tbz x3, #33, #8
        assert_eq!(aarch64_get_branch_offset(0x54ff_ffe1), Some(-4)); // b.ne #-4
        assert_eq!(aarch64_get_branch_offset(0xd65f_03c0), None); // ret
        assert_eq!(aarch64_insn_decode_register(Aarch64InsnRegisterType::Rn, 0xd63f_0160), 11); // blr x11
        assert_eq!(aarch64_insn_decode_register(Aarch64InsnRegisterType::Rs, 0xc802_7c20), 0); // as the kernel

        // mrs x0, daif
        assert_eq!(aarch64_insn_extract_system_reg(0xd53b_4220), AARCH64_INSN_SPCLREG_DAIF);
    }

    #[test]
    fn insn_class_table() {
        assert_eq!(aarch64_get_insn_class(0x1400_0002), Aarch64InsnEncodingClass::BrSys); // b
        assert_eq!(aarch64_get_insn_class(0x9100_0420), Aarch64InsnEncodingClass::DpImm); // add x0, x1, #1
        assert_eq!(aarch64_get_insn_class(0xaa01_03e0), Aarch64InsnEncodingClass::DpReg); // mov x0, x1
        assert_eq!(aarch64_get_insn_class(0xa8c1_7bfd), Aarch64InsnEncodingClass::Ldst); // ldp
        assert_eq!(aarch64_get_insn_class(0x0000_0000), Aarch64InsnEncodingClass::Unknown); // udf #0

        // v5.10's BR_SYS test and v6.12's class_branch_sys helper agree on every op0.
        for op0 in 0..16u32 {
            let w = op0 << 25;
            assert_eq!(
                aarch64_get_insn_class(w) == Aarch64InsnEncodingClass::BrSys,
                aarch64_insn_is_class_branch_sys(w)
            );
        }
    }

    /// Each `__check_*` against the architectural ConditionHolds() over all 16 NZCV combinations, with junk in the
    /// other PSTATE bits (DAIF, mode) to show they are ignored.
    #[test]
    fn cond_checks_match_condition_holds() {
        for nzcv in 0..16u64 {
            let pstate = (nzcv << 28) | 0x3c5;
            let (n, z, c, v) = (nzcv & 8 != 0, nzcv & 4 != 0, nzcv & 2 != 0, nzcv & 1 != 0);
            let arch =
                [z, !z, c, !c, n, !n, v, !v, c && !z, !c || z, n == v, n != v, !z && n == v, z || n != v, true, true];
            for (cond, &want) in arch.iter().enumerate() {
                assert_eq!(aarch32_opcode_cond_checks[cond](pstate), want, "cond {cond:#x} nzcv {nzcv:#06b}");
            }
        }
    }
}
