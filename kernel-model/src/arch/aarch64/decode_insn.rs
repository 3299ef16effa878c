//! Models `arch/arm64/kernel/probes/decode-insn.c` and `decode-insn.h`: whether a kprobe may be placed on an
//! instruction, and how it will be executed: out of line in an XOL slot (`INSN_GOOD`), simulated in the BRK handler
//! (`INSN_GOOD_NO_SLOT`, with a [`SimulateHandler`]), or not at all (`INSN_REJECTED`, so `arch_prepare_kprobe`
//! returns `-EINVAL`).
//!
//! v5.10 vs v6.12, checked against the kernel sources listed at the end of this comment:
//! - `aarch64_insn_is_steppable`: v5.10 tests `aarch64_get_insn_class(insn) == AARCH64_INSN_CLS_BR_SYS`, v6.12
//!   `aarch64_insn_is_class_branch_sys(insn)`; both are "bits `[28:26]` == 0b101". The rest of the function and every
//!   mask it uses are identical.
//! - LDR/LDRSW (literal): v5.10 decodes them at the end of `arm_probe_decode_insn`; v6.12-rc4's commit acc450aa0709
//!   ("arm64: probes: Remove broken LDR (literal) uprobe support", Cc: stable) moved them to the front of
//!   `arm_kprobe_decode_insn`. They are neither steppable nor matched by any earlier test, so the kprobe result is
//!   the same in both; this file follows v6.12.
//! - The atomic-sequence scan (`is_probed_address_atomic`, `MAX_ATOMIC_CONTEXT_SIZE` = 32) is unchanged from v5.10
//!   to v6.12, including the `load_ex`/`store_ex` masks that also match LDAR/STLR. A 2025 patch (after v6.12)
//!   narrows those masks; [`DecodeOptions::ldst_ex_masks`] can select it.
//! - Not in v6.12 and not modelled: `simulate_nop` (Liao Chang's NOP simulation, posted September 2024, after the
//!   6.12 merge window; absent from the v6.12 decode-insn.c read).
//!
//! So for kprobes the decode result is the same on v5.10 and v6.12; [`DecodeOptions::V5_10`] and
//! [`DecodeOptions::V6_12`] are equal and exist so callers can name the profile.
//!
//! Sources read: torvalds/linux `decode-insn.c` @14762109 (v6.12 state: class helper, LDR literal in
//! `arm_kprobe_decode_insn`) and `decode-insn.h`; a v5.1x `decode-insn.c` and the 6.6-stable backport mail of
//! acc450aa0709 (pre-v6.12 placement); v5.10.13 `insn.h`, `kernel/insn.c` and `ptrace.h` (Rtoax/linux-5.10.13
//! mirror); a 6.x `insn.h` (gregkh/linux) and `lib/insn.c` (torvalds/linux); `simulate-insn.c` @53c8b29a (pre-fix)
//! and the 6.11-stable mail of 50f813e57601 (the v6.12 literal loads); the bpf-next patch ab327cc841cb.

use crate::arch::aarch64::insn::*;
use crate::arch::aarch64::simulate_insn::SimulateHandler;
use crate::machine::{GuestMemory, MemFault};
use crate::profile::KernelProfile;
use crate::KernelVa;

/// `MAX_ATOMIC_CONTEXT_SIZE` (decode-insn.h): `128 / sizeof(kprobe_opcode_t)` = 32 instructions, "ARM strongly
/// recommends a limit of 128 bytes between LoadExcl and StoreExcl instructions in a single thread of execution".
pub const MAX_ATOMIC_CONTEXT_SIZE: u64 = 128 / AARCH64_INSN_SIZE;

/// `enum probe_insn` (decode-insn.h), with the handler `arm_probe_decode_insn` stores in `api->handler` for
/// `INSN_GOOD_NO_SLOT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ProbeInsn {
    /// `INSN_REJECTED` (0): the instruction may not be probed.
    InsnRejected,
    /// `INSN_GOOD_NO_SLOT` (1): supported, simulated by this handler; no XOL slot.
    InsnGoodNoSlot(SimulateHandler),
    /// `INSN_GOOD` (2): supported, executed out of line from an XOL slot.
    InsnGood,
}

impl ProbeInsn {
    /// The kernel's numeric enum value (`INSN_REJECTED` = 0, `INSN_GOOD_NO_SLOT` = 1, `INSN_GOOD` = 2).
    #[must_use]
    pub fn kernel_value(self) -> u32 {
        match self {
            ProbeInsn::InsnRejected => 0,
            ProbeInsn::InsnGoodNoSlot(_) => 1,
            ProbeInsn::InsnGood => 2,
        }
    }

    /// The kernel's enumerator name.
    #[must_use]
    pub fn kernel_name(self) -> &'static str {
        match self {
            ProbeInsn::InsnRejected => "INSN_REJECTED",
            ProbeInsn::InsnGoodNoSlot(_) => "INSN_GOOD_NO_SLOT",
            ProbeInsn::InsnGood => "INSN_GOOD",
        }
    }
}

/// Which `load_ex`/`store_ex` masks the atomic-sequence scan uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum LdStExMasks {
    /// v5.10..v6.12: mask `0x3F400000` (bit 23 untested), so LDAR/LDLAR count as "load exclusive" and STLR/STLLR
    /// as "store exclusive".
    Wide,
    /// Commit ab327cc841cb ("arm64: insn: Add BIT(23) to {load,store}_ex's mask", Peilin Ye, 2025, via bpf-next):
    /// mask `0x3FC00000`, only real exclusives. Not in v5.10 or v6.12.
    Narrow,
}

/// The kernel-version-dependent parts of decoding (the lead's kernel profile picks one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DecodeOptions {
    /// The masks of `aarch64_insn_is_load_ex`/`aarch64_insn_is_store_ex` in the atomic-sequence scan.
    pub ldst_ex_masks: LdStExMasks,
}

impl DecodeOptions {
    /// v5.10 (checked against v5.10.13).
    pub const V5_10: DecodeOptions = DecodeOptions { ldst_ex_masks: LdStExMasks::Wide };
    /// v6.12.
    pub const V6_12: DecodeOptions = DecodeOptions { ldst_ex_masks: LdStExMasks::Wide };

    /// The options of `profile`.
    #[must_use]
    pub fn for_profile(profile: KernelProfile) -> DecodeOptions {
        match profile {
            KernelProfile::V5_10 => DecodeOptions::V5_10,
            KernelProfile::V6_12 => DecodeOptions::V6_12,
        }
    }
}

/// Models `aarch64_insn_is_steppable` (static) in arch/arm64/kernel/probes/decode-insn.c: may `insn` run from an XOL
/// slot? In the branch/exception/system class: not branches, MSR (imm/reg), exception generation, ERET/ERETAA/AB;
/// MRS unless it reads DAIF; HINT only if whitelisted; everything else yes. Outside it: not literal loads/ADR/ADRP/
/// PRFM (literal), not load/store exclusives; everything else yes.
#[must_use]
pub fn aarch64_insn_is_steppable(insn: u32) -> bool {
    // Branch instructions will write a new value into the PC which is likely to be relative to the XOL address
    // and therefore invalid. Deliberate generation of an exception during stepping is also not currently safe.
    // Lastly, MSR instructions can do any number of nasty things we can't handle during single-stepping.
    if aarch64_insn_is_class_branch_sys(insn) {
        if aarch64_insn_is_branch(insn)
            || aarch64_insn_is_msr_imm(insn)
            || aarch64_insn_is_msr_reg(insn)
            || aarch64_insn_is_exception(insn)
            || aarch64_insn_is_eret(insn)
            || aarch64_insn_is_eret_auth(insn)
        {
            return false;
        }
        // The MRS instruction may not return a correct value when executing in the single-stepping environment.
        // We do make one exception, for reading the DAIF bits.
        if aarch64_insn_is_mrs(insn) {
            return aarch64_insn_extract_system_reg(insn) != AARCH64_INSN_SPCLREG_DAIF;
        }
        // The HINT instruction is steppable only if it is in whitelist.
        if aarch64_insn_is_hint(insn) {
            return aarch64_insn_is_steppable_hint(insn);
        }
        return true;
    }
    // Instructions which load PC relative literals are not going to work when executed from an XOL slot.
    // Instructions doing an exclusive load/store are not going to complete successfully when single-step
    // exception handling happens in the middle of the sequence.
    if aarch64_insn_uses_literal(insn) || aarch64_insn_is_exclusive(insn) {
        return false;
    }
    true
}

/// Models `arm_probe_decode_insn` in arch/arm64/kernel/probes/decode-insn.c (v6.12, shared with uprobes):
/// `INSN_GOOD` if steppable; otherwise the first simulate handler that matches, in the kernel's order (B.cond,
/// CBZ/CBNZ, TBZ/TBNZ, ADR/ADRP, B/BL, BR/BLR/RET); otherwise `INSN_REJECTED`. LDR/LDRSW (literal) are handled by
/// [`arm_kprobe_decode_insn`] before this is called (see the module doc for v5.10's placement).
#[must_use]
pub fn arm_probe_decode_insn(insn: u32) -> ProbeInsn {
    // Instructions reading or modifying the PC won't work from the XOL slot.
    if aarch64_insn_is_steppable(insn) {
        return ProbeInsn::InsnGood;
    }
    let handler = if aarch64_insn_is_bcond(insn) {
        SimulateHandler::BCond
    } else if aarch64_insn_is_cbz(insn) || aarch64_insn_is_cbnz(insn) {
        SimulateHandler::CbzCbnz
    } else if aarch64_insn_is_tbz(insn) || aarch64_insn_is_tbnz(insn) {
        SimulateHandler::TbzTbnz
    } else if aarch64_insn_is_adr_adrp(insn) {
        SimulateHandler::AdrAdrp
    } else if aarch64_insn_is_b(insn) || aarch64_insn_is_bl(insn) {
        SimulateHandler::BBl
    } else if aarch64_insn_is_br(insn) || aarch64_insn_is_blr(insn) || aarch64_insn_is_ret(insn) {
        SimulateHandler::BrBlrRet
    } else {
        // Instruction cannot be stepped out-of-line and we don't (yet) simulate it.
        return ProbeInsn::InsnRejected;
    };
    ProbeInsn::InsnGoodNoSlot(handler)
}

/// `aarch64_insn_is_load_ex` under `masks`.
fn is_load_ex(insn: u32, masks: LdStExMasks) -> bool {
    match masks {
        LdStExMasks::Wide => aarch64_insn_is_load_ex(insn),
        LdStExMasks::Narrow => (insn & 0x3FC0_0000) == 0x0840_0000,
    }
}

/// `aarch64_insn_is_store_ex` under `masks`.
fn is_store_ex(insn: u32, masks: LdStExMasks) -> bool {
    match masks {
        LdStExMasks::Wide => aarch64_insn_is_store_ex(insn),
        LdStExMasks::Narrow => (insn & 0x3FC0_0000) == 0x0800_0000,
    }
}

/// Models `is_probed_address_atomic` (static) in arch/arm64/kernel/probes/decode-insn.c: walks the instruction
/// words from `scan_start` down to `scan_end` (both inclusive, 4-byte steps); the first store-exclusive means "not
/// in an atomic sequence", the first load-exclusive means "inside one". Reads live guest text, as the kernel does
/// (`le32_to_cpu(*scan_start)`); an unreadable word is returned as `Err` (in the kernel it would be an Oops). The walk
/// is bounded by `MAX_ATOMIC_CONTEXT_SIZE + 1` words, which every kernel caller satisfies.
pub fn is_probed_address_atomic(
    mem: &dyn GuestMemory,
    scan_start: KernelVa,
    scan_end: KernelVa,
    opts: DecodeOptions,
) -> Result<bool, MemFault> {
    let mut scan = scan_start;
    for _ in 0..=MAX_ATOMIC_CONTEXT_SIZE {
        if scan < scan_end {
            break;
        }
        let insn = mem.read_u32(scan)?;
        // atomic region starts from exclusive load and ends with exclusive store.
        if is_store_ex(insn, opts.ldst_ex_masks) {
            return Ok(false);
        } else if is_load_ex(insn, opts.ldst_ex_masks) {
            return Ok(true);
        }
        if scan.0 < AARCH64_INSN_SIZE {
            break;
        }
        scan = KernelVa(scan.0 - AARCH64_INSN_SIZE);
    }
    Ok(false)
}

/// Models `arm_kprobe_decode_insn` in arch/arm64/kernel/probes/decode-insn.c: reads the instruction at `addr`
/// (`le32_to_cpu(*addr)`), decodes LDR/LDRSW (literal) as simulated, everything else through
/// [`arm_probe_decode_insn`], then, unless already rejected, rejects a probe inside a load/store-exclusive sequence.
///
/// `symbol_start` is the start of the symbol containing `addr`, as `kallsyms_lookup_size_offset` finds it (for the
/// model's table: `kallsyms.lookup(addr).map(|s| s.addr)`); `None` ("no symbol") skips the atomic check, as in the
/// kernel. The scan covers the words between the symbol start and `addr`, at most `MAX_ATOMIC_CONTEXT_SIZE` of them.
///
/// `addr` is expected 4-byte aligned (`arch_prepare_kprobe` returns `-EINVAL` before calling this otherwise).
pub fn arm_kprobe_decode_insn(
    addr: KernelVa,
    mem: &dyn GuestMemory,
    symbol_start: Option<KernelVa>,
    opts: DecodeOptions,
) -> Result<ProbeInsn, MemFault> {
    let insn = mem.read_u32(addr)?;
    let decoded = if aarch64_insn_is_ldr_lit(insn) {
        ProbeInsn::InsnGoodNoSlot(SimulateHandler::LdrLiteral)
    } else if aarch64_insn_is_ldrsw_lit(insn) {
        ProbeInsn::InsnGoodNoSlot(SimulateHandler::LdrswLiteral)
    } else {
        arm_probe_decode_insn(insn)
    };

    // If there's a symbol defined in front of and near enough to the probe address assume it is the entry point
    // to this code and use it to further limit how far back we search when determining if we're in an atomic
    // sequence. If we could not find any symbol skip the atomic test altogether.
    let scan_end = symbol_start.map(|start| {
        let offset = addr.0.wrapping_sub(start.0);
        let words = if offset < MAX_ATOMIC_CONTEXT_SIZE * AARCH64_INSN_SIZE {
            offset / AARCH64_INSN_SIZE
        } else {
            MAX_ATOMIC_CONTEXT_SIZE
        };
        KernelVa(addr.0.wrapping_sub(words * AARCH64_INSN_SIZE))
    });

    if decoded != ProbeInsn::InsnRejected {
        if let Some(scan_end) = scan_end {
            // `addr - 1` in kprobe_opcode_t units.
            if addr.0 >= AARCH64_INSN_SIZE
                && is_probed_address_atomic(mem, KernelVa(addr.0 - AARCH64_INSN_SIZE), scan_end, opts)?
            {
                return Ok(ProbeInsn::InsnRejected);
            }
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeInsn::{InsnGood as Xol, InsnGoodNoSlot as Sim, InsnRejected as Rej};
    use SimulateHandler::*;

    /// A flat little-endian buffer at `base`; everything else is unmapped.
    use crate::testing::FakeMachine;

    /// Text-only memory of `len` zero bytes at `base` (writes fault, as text does).
    fn flat_text(base: u64, len: usize) -> FakeMachine {
        let mut m = FakeMachine::empty(crate::Isa::Aarch64);
        m.map_with(base, vec![0; len], crate::testing::Perm::Text);
        m
    }

    /// Text-only memory holding `words` at `base`.
    fn with_code(base: u64, words: &[u32]) -> FakeMachine {
        FakeMachine::with_code(crate::Isa::Aarch64, base, words)
    }

    const TEXT: u64 = 0xffff_8000_1001_0000;

    /// arm_kprobe_decode_insn on a lone word (no symbol, so no atomic scan).
    fn classify(word: u32) -> ProbeInsn {
        let m = with_code(TEXT, &[word]);
        arm_kprobe_decode_insn(KernelVa(TEXT), &m, None, DecodeOptions::V6_12).unwrap()
    }

    /// Every class of the decoder, with encodings produced by LLVM's assembler. Recipe (LLVM 14):
    ///
    /// ```text
    /// printf 'b #8\nbl #-8\nbc.eq #8\n...' > t.s
    /// llvm-mc --triple=aarch64 -mattr=+v8.5a,+pauth,+bti,+hbc,+lse --show-encoding t.s
    /// ```
    ///
    /// (`#imm` operands give complete encodings for PC-relative forms; the printed bytes are little-endian.)
    /// Expected classes follow decode-insn.c v6.12 / v5.10 (identical for kprobes). Notable rows:
    /// `bc.eq` (FEAT_HBC) and `ldr s0, <lit>` are stepped out of line because the kernel's masks miss them;
    /// `ldar`/`stlr`/`cas` are steppable (bit 23 set, not "exclusive"); exclusives are rejected per instruction.
    #[rustfmt::skip]
    const ENCODINGS: &[(&str, u32, ProbeInsn)] = &[
        ("b #8", 0x1400_0002, Sim(BBl)),
        ("b #-8", 0x17ff_fffe, Sim(BBl)),
        ("bl #-8", 0x97ff_fffe, Sim(BBl)),
        ("bl #0x100", 0x9400_0040, Sim(BBl)),
        ("b.eq #8", 0x5400_0040, Sim(BCond)),
        ("b.ne #-4", 0x54ff_ffe1, Sim(BCond)),
        ("b.al #8", 0x5400_004e, Sim(BCond)),
        ("cbz x1, #8", 0xb400_0041, Sim(CbzCbnz)),
        ("cbz w1, #-8", 0x34ff_ffc1, Sim(CbzCbnz)),
        ("cbnz w2, #-4", 0x35ff_ffe2, Sim(CbzCbnz)),
        ("cbnz x2, #16", 0xb500_0082, Sim(CbzCbnz)),
        ("tbz x3, #33, #8", 0xb608_0043, Sim(TbzTbnz)),
        ("tbz w3, #0, #-8", 0x3607_ffc3, Sim(TbzTbnz)),
        ("tbnz w4, #3, #8", 0x3718_0044, Sim(TbzTbnz)),
        ("tbnz x4, #63, #-4", 0xb7ff_ffe4, Sim(TbzTbnz)),
        ("adr x5, #8", 0x1000_0045, Sim(AdrAdrp)),
        ("adr x5, #-1", 0x70ff_ffe5, Sim(AdrAdrp)),
        ("adrp x6, #4096", 0xb000_0006, Sim(AdrAdrp)),
        ("adrp x6, #-8192", 0xd0ff_ffe6, Sim(AdrAdrp)),
        ("ldr w7, #8", 0x1800_0047, Sim(LdrLiteral)),
        ("ldr x8, #-8", 0x58ff_ffc8, Sim(LdrLiteral)),
        ("ldrsw x9, #8", 0x9800_0049, Sim(LdrswLiteral)),
        ("br x10", 0xd61f_0140, Sim(BrBlrRet)),
        ("blr x11", 0xd63f_0160, Sim(BrBlrRet)),
        ("ret", 0xd65f_03c0, Sim(BrBlrRet)),
        ("ret x12", 0xd65f_0180, Sim(BrBlrRet)),
        ("blr x30", 0xd63f_03c0, Sim(BrBlrRet)),
        ("add x0, x1, #1", 0x9100_0420, Xol),
        ("sub sp, sp, #0x40", 0xd101_03ff, Xol),
        ("ldp x29, x30, [sp], #16", 0xa8c1_7bfd, Xol),
        ("stp x29, x30, [sp, #-16]!", 0xa9bf_7bfd, Xol),
        ("mov x29, sp", 0x9100_03fd, Xol),
        ("mov x0, x1", 0xaa01_03e0, Xol),
        ("ldr x0, [x1, x2]", 0xf862_6820, Xol),
        ("ldr x0, [x1, #8]", 0xf940_0420, Xol),
        ("str w0, [sp, #12]", 0xb900_0fe0, Xol),
        ("nop", 0xd503_201f, Xol),
        ("bti", 0xd503_241f, Xol),
        ("bti c", 0xd503_245f, Xol),
        ("bti j", 0xd503_249f, Xol),
        ("bti jc", 0xd503_24df, Xol),
        ("paciasp", 0xd503_233f, Xol),
        ("pacibsp", 0xd503_237f, Xol),
        ("paciaz", 0xd503_231f, Xol),
        ("pacia1716", 0xd503_211f, Xol),
        ("xpaclri", 0xd503_20ff, Xol),
        ("dmb ish", 0xd503_3bbf, Xol),
        ("dsb sy", 0xd503_3f9f, Xol),
        ("isb", 0xd503_3fdf, Xol),
        ("clrex", 0xd503_3f5f, Xol),
        ("mrs x0, tpidr_el1", 0xd538_d080, Xol),
        ("mrs x0, nzcv", 0xd53b_4200, Xol),
        ("mrs x0, sp_el0", 0xd538_4100, Xol),
        ("dc civac, x0", 0xd50b_7e20, Xol),
        ("ldar x0, [x1]", 0xc8df_fc20, Xol),
        ("stlr x0, [x1]", 0xc89f_fc20, Xol),
        ("cas x0, x1, [x2]", 0xc8a0_7c41, Xol),
        ("ldadd x0, x1, [x2]", 0xf820_0041, Xol),
        ("ldr s0, #8", 0x1c00_0040, Xol),
        ("bc.eq #8", 0x5400_0050, Xol),
        ("prfm pldl1keep, #8", 0xd800_0040, Rej),
        ("braa x1, x2", 0xd71f_0822, Rej),
        ("braaz x1", 0xd61f_083f, Rej),
        ("blraa x1, x2", 0xd73f_0822, Rej),
        ("blraaz x1", 0xd63f_083f, Rej),
        ("retaa", 0xd65f_0bff, Rej),
        ("retab", 0xd65f_0fff, Rej),
        ("eret", 0xd69f_03e0, Rej),
        ("eretaa", 0xd69f_0bff, Rej),
        ("autiasp", 0xd503_23bf, Rej),
        ("autia1716", 0xd503_219f, Rej),
        ("wfi", 0xd503_207f, Rej),
        ("wfe", 0xd503_205f, Rej),
        ("yield", 0xd503_203f, Rej),
        ("sev", 0xd503_209f, Rej),
        ("sevl", 0xd503_20bf, Rej),
        ("csdb", 0xd503_229f, Rej),
        ("esb", 0xd503_221f, Rej),
        ("hint #0x7f", 0xd503_2fff, Rej),
        ("mrs x0, daif", 0xd53b_4220, Rej),
        ("msr daifset, #2", 0xd503_42df, Rej),
        ("msr daifclr, #2", 0xd503_42ff, Rej),
        ("msr daif, x0", 0xd51b_4220, Rej),
        ("msr tpidr_el1, x0", 0xd518_d080, Rej),
        ("brk #0", 0xd420_0000, Rej),
        ("brk #4", 0xd420_0080, Rej),
        ("brk #6", 0xd420_00c0, Rej),
        ("brk #0x800", 0xd421_0000, Rej),
        ("svc #0", 0xd400_0001, Rej),
        ("hvc #0", 0xd400_0002, Rej),
        ("smc #0", 0xd400_0003, Rej),
        ("hlt #0", 0xd440_0000, Rej),
        ("ldxr x0, [x1]", 0xc85f_7c20, Rej),
        ("stxr w2, x0, [x1]", 0xc802_7c20, Rej),
        ("ldaxr w0, [x1]", 0x885f_fc20, Rej),
        ("stlxr w2, w0, [x1]", 0x8802_fc20, Rej),
        ("ldxp x0, x1, [x2]", 0xc87f_0440, Rej),
        ("stxp w3, x0, x1, [x2]", 0xc823_0440, Rej),
        ("ldxrb w0, [x1]", 0x085f_7c20, Rej),
    ];

    #[test]
    fn encoding_table_matches_kernel_classes() {
        let mut seen = std::collections::BTreeSet::new();
        for &(asm, word, want) in ENCODINGS {
            let got = classify(word);
            assert_eq!(got, want, "{asm} = {word:#010x}");
            // The same via arm_probe_decode_insn for everything that is not a literal load.
            if !aarch64_insn_is_ldr_lit(word) && !aarch64_insn_is_ldrsw_lit(word) {
                assert_eq!(arm_probe_decode_insn(word), want, "{asm}");
            }
            seen.insert(got);
        }
        // Every outcome, including every simulate handler, is covered.
        for h in [AdrAdrp, BBl, BCond, BrBlrRet, CbzCbnz, TbzTbnz, LdrLiteral, LdrswLiteral] {
            assert!(seen.contains(&Sim(h)), "{}", h.name());
        }
        assert!(seen.contains(&Xol) && seen.contains(&Rej));
        assert_eq!((Rej.kernel_value(), Sim(BBl).kernel_value(), Xol.kernel_value()), (0, 1, 2));
    }

    #[test]
    fn steppable_rules() {
        // MRS: only DAIF is refused; MSR of anything is refused.
        assert!(!aarch64_insn_is_steppable(0xd53b_4220)); // mrs x0, daif
        assert!(aarch64_insn_is_steppable(0xd53b_4200)); // mrs x0, nzcv
        assert!(!aarch64_insn_is_steppable(0xd518_d080)); // msr tpidr_el1, x0
                                                          // Every HINT: steppable exactly when whitelisted.
        for crm_op2 in 0..128u32 {
            let w = 0xd503_201f | (crm_op2 << 5);
            assert_eq!(aarch64_insn_is_steppable(w), aarch64_insn_is_steppable_hint(w), "{w:#x}");
        }
        // Outside branch/sys: literal users and exclusives refused.
        assert!(!aarch64_insn_is_steppable(0xd800_0040)); // prfm (literal)
        assert!(!aarch64_insn_is_steppable(0xc85f_7c20)); // ldxr
        assert!(aarch64_insn_is_steppable(0xc8df_fc20)); // ldar
    }

    /// `retry: ldxr x0,[x1]; add x0,x0,#1; stxr w2,x0,[x1]; cbnz w2,retry; ret` as the whole symbol.
    fn atomic_inc() -> Vec<u32> {
        vec![0xc85f_7c20, 0x9100_0400, 0xc802_7c20, 0x35ff_ffa2, 0xd65f_03c0]
    }

    #[test]
    fn atomic_sequence_is_rejected() {
        let code = atomic_inc();
        let m = with_code(TEXT, &code);
        let sym = Some(KernelVa(TEXT));
        let decode = |off: u64| arm_kprobe_decode_insn(KernelVa(TEXT + off), &m, sym, DecodeOptions::V6_12).unwrap();
        assert_eq!(decode(0), Rej, "ldxr itself: exclusive, rejected per instruction");
        assert_eq!(decode(4), Rej, "add inside ldxr..stxr: atomic sequence");
        assert_eq!(decode(8), Rej, "stxr itself");
        assert_eq!(decode(12), Sim(CbzCbnz), "cbnz after stxr: the scan stops at the store-exclusive");
        assert_eq!(decode(16), Sim(BrBlrRet));
        // Without a symbol the kernel skips the scan altogether.
        let add = arm_kprobe_decode_insn(KernelVa(TEXT + 4), &m, None, DecodeOptions::V6_12).unwrap();
        assert_eq!(add, Xol);
        // The v5.10 profile behaves the same.
        let add = arm_kprobe_decode_insn(KernelVa(TEXT + 4), &m, sym, DecodeOptions::V5_10).unwrap();
        assert_eq!(add, Rej);
    }

    #[test]
    fn scan_stops_at_symbol_start() {
        // The ldxr belongs to the previous function; the probed function starts right after it.
        let m = with_code(TEXT, &[0xc85f_7c20, 0xd503_201f, 0x9100_0400]);
        let here = |sym: u64, addr: u64| {
            arm_kprobe_decode_insn(KernelVa(addr), &m, Some(KernelVa(sym)), DecodeOptions::V6_12).unwrap()
        };
        assert_eq!(here(TEXT + 4, TEXT + 8), Xol, "scan ends at the symbol start");
        assert_eq!(here(TEXT + 4, TEXT + 4), Xol, "probe at the symbol start scans nothing");
        assert_eq!(here(TEXT, TEXT + 8), Rej, "same bytes, symbol covering the ldxr");
    }

    #[test]
    fn scan_window_is_max_atomic_context_size() {
        // ldxr followed by 40 nops, all one symbol.
        let mut code = vec![0xc85f_7c20];
        code.extend([0xd503_201f_u32; 40]);
        let m = with_code(TEXT, &code);
        let at = |n: u64| {
            arm_kprobe_decode_insn(KernelVa(TEXT + 4 * n), &m, Some(KernelVa(TEXT)), DecodeOptions::V6_12).unwrap()
        };
        assert_eq!(MAX_ATOMIC_CONTEXT_SIZE, 32);
        assert_eq!(at(1), Rej);
        assert_eq!(at(31), Rej, "offset 124 < 128: scan back to the symbol start");
        assert_eq!(at(32), Rej, "offset 128: scan the last 32 words, which still include the ldxr");
        assert_eq!(at(33), Xol, "offset 132: the ldxr is 33 words back, outside the window");
        assert_eq!(at(40), Xol);
    }

    #[test]
    fn ldar_quirk_and_narrow_masks() {
        // ldar x0,[x1]; add x0,x0,#1 -- LDAR matches v6.12's load_ex mask, so the add is refused.
        let m = with_code(TEXT, &[0xc8df_fc20, 0x9100_0400]);
        let sym = Some(KernelVa(TEXT));
        let wide = arm_kprobe_decode_insn(KernelVa(TEXT + 4), &m, sym, DecodeOptions::V6_12).unwrap();
        assert_eq!(wide, Rej);
        let narrow = DecodeOptions { ldst_ex_masks: LdStExMasks::Narrow };
        assert_eq!(arm_kprobe_decode_insn(KernelVa(TEXT + 4), &m, sym, narrow).unwrap(), Xol);
        // ldxr; stlr; add -- STLR matches store_ex and ends the scan (wide masks only).
        let m = with_code(TEXT, &[0xc85f_7c20, 0xc89f_fc20, 0x9100_0400]);
        assert_eq!(arm_kprobe_decode_insn(KernelVa(TEXT + 8), &m, sym, DecodeOptions::V6_12).unwrap(), Xol);
        assert_eq!(arm_kprobe_decode_insn(KernelVa(TEXT + 8), &m, sym, narrow).unwrap(), Rej);
    }

    #[test]
    fn memory_faults_are_typed() {
        // The probed word itself unreadable.
        let m = flat_text(TEXT, 0);
        assert!(arm_kprobe_decode_insn(KernelVa(TEXT), &m, None, DecodeOptions::V6_12).is_err());
        // A preceding word unreadable: only read when the scan runs.
        let m = with_code(TEXT, &[0x9100_0400]);
        let sym = Some(KernelVa(TEXT - 8));
        assert!(arm_kprobe_decode_insn(KernelVa(TEXT), &m, sym, DecodeOptions::V6_12).is_err());
        // A rejected instruction never scans, so nothing before it is read.
        let m = with_code(TEXT, &[BRK64_OPCODE_KPROBES]);
        assert_eq!(arm_kprobe_decode_insn(KernelVa(TEXT), &m, sym, DecodeOptions::V6_12).unwrap(), Rej);
        // Addresses near zero do not wrap or panic.
        let m = with_code(0, &[0x9100_0400, 0x9100_0400]);
        assert_eq!(arm_kprobe_decode_insn(KernelVa(4), &m, Some(KernelVa(0)), DecodeOptions::V6_12).unwrap(), Xol);
        assert_eq!(arm_kprobe_decode_insn(KernelVa(0), &m, Some(KernelVa(8)), DecodeOptions::V6_12).unwrap(), Xol);
    }

    #[test]
    fn never_panics_on_any_word_sample() {
        let mut x: u32 = 0x1234_5678;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let _ = arm_probe_decode_insn(x);
            let _ = classify(x);
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // Cross-check against an independent decoder (yaxpeax-arm 0.5).
    // -----------------------------------------------------------------------------------------------------------

    use yaxpeax_arch::{Decoder, U8Reader};
    use yaxpeax_arm::armv8::a64::{InstDecoder, Opcode, Operand};

    fn yax(word: u32) -> Option<yaxpeax_arm::armv8::a64::Instruction> {
        let bytes = word.to_le_bytes();
        InstDecoder::default().decode(&mut U8Reader::new(&bytes)).ok()
    }

    /// What yaxpeax calls a branch of the kinds `aarch64_insn_is_branch` covers.
    fn yax_is_branch(op: Opcode) -> bool {
        use Opcode::*;
        matches!(
            op,
            B | BL
                | Bcc(_)
                | CBZ
                | CBNZ
                | TBZ
                | TBNZ
                | BR
                | BLR
                | RET
                | BRAA
                | BRAAZ
                | BRAB
                | BRABZ
                | BLRAA
                | BLRAAZ
                | BLRAB
                | BLRABZ
                | RETAA
                | RETAB
        )
    }

    /// The words of the sample: a stride over all of u32, a multiplicative-hash permutation sample, every top byte
    /// with pseudo-random low bits, and every opc/op2/op3 of the unconditional-branch-(register) group with several
    /// Rn and op4 values.
    fn sample() -> Vec<u32> {
        let mut v: Vec<u32> = (0..=u32::MAX).step_by(1021).collect();
        v.extend((0..1_000_000u32).map(|i| i.wrapping_mul(0x9E37_79B1)));
        let mut x: u32 = 0xdead_beef;
        for top in 0..=255u32 {
            for _ in 0..4096 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                v.push((top << 24) | (x & 0x00ff_ffff));
            }
        }
        for hi in 0..(1u32 << 16) {
            for rn in [0u32, 1, 30, 31] {
                for op4 in [0u32, 1, 0x1e, 0x1f] {
                    v.push(0xd600_0000 | (hi << 10) | (rn << 5) | op4);
                }
            }
        }
        v
    }

    /// `aarch64_insn_is_branch` and the per-kind predicates agree with yaxpeax-arm over ~7.3M words, apart from the
    /// documented places where the kernel's masks are looser or older than the architecture:
    /// - kernel-only: encodings yaxpeax rejects as unallocated that `br_auth`/`blr_auth` still match (BRAAZ/BLRAAZ
    ///   family with Rm != 31);
    /// - yaxpeax-only: `BC.cond` (FEAT_HBC), which the kernel's `bcond` mask excludes (so a kprobe on it is stepped
    ///   out of line), and FEAT_PAuth_LR returns (`RETAASPPC`...), newer than the kernel's masks.
    #[test]
    fn branch_class_agrees_with_yaxpeax() {
        use std::collections::BTreeMap;
        let mut kernel_only: BTreeMap<&str, u64> = BTreeMap::new();
        let mut yax_only: BTreeMap<String, u64> = BTreeMap::new();
        let mut agreed_branches = 0u64;
        let words = sample();
        for &w in &words {
            let inst = yax(w);
            let op = inst.as_ref().map(|i| i.opcode);
            let k = aarch64_insn_is_branch(w);
            let y = op.is_some_and(yax_is_branch);
            // Per-kind agreement on the simulated kinds.
            let kinds = [
                (aarch64_insn_is_b(w), op == Some(Opcode::B)),
                (aarch64_insn_is_bl(w), op == Some(Opcode::BL)),
                (aarch64_insn_is_bcond(w), matches!(op, Some(Opcode::Bcc(_)))),
                (aarch64_insn_is_cbz(w), op == Some(Opcode::CBZ)),
                (aarch64_insn_is_cbnz(w), op == Some(Opcode::CBNZ)),
                (aarch64_insn_is_tbz(w), op == Some(Opcode::TBZ)),
                (aarch64_insn_is_tbnz(w), op == Some(Opcode::TBNZ)),
                (aarch64_insn_is_br(w), op == Some(Opcode::BR)),
                (aarch64_insn_is_blr(w), op == Some(Opcode::BLR)),
                (aarch64_insn_is_ret(w), op == Some(Opcode::RET)),
                (aarch64_insn_is_ret_auth(w), matches!(op, Some(Opcode::RETAA | Opcode::RETAB))),
                (aarch64_insn_is_adr(w), op == Some(Opcode::ADR)),
                (aarch64_insn_is_adrp(w), op == Some(Opcode::ADRP)),
            ];
            for (i, (kk, yy)) in kinds.iter().enumerate() {
                assert_eq!(kk, yy, "kind #{i} disagrees on {w:#010x} (yaxpeax: {op:?})");
            }
            match (k, y) {
                (true, true) => agreed_branches += 1,
                (false, false) => {}
                (true, false) => {
                    let why = if op.is_none() && (aarch64_insn_is_br_auth(w) || aarch64_insn_is_blr_auth(w)) {
                        "br/blr_auth mask matches an unallocated encoding"
                    } else {
                        panic!("kernel says branch, yaxpeax says {op:?}: {w:#010x}")
                    };
                    *kernel_only.entry(why).or_default() += 1;
                }
                (false, true) => unreachable!("yax_is_branch covers only kinds the kernel has"),
            }
            // Branches yaxpeax knows that the kernel's list does not.
            if let Some(op) = op {
                if matches!(
                    op,
                    Opcode::BCcc(_) | Opcode::RETAASPPC | Opcode::RETABSPPC | Opcode::RETAASPPCR | Opcode::RETABSPPCR
                ) {
                    assert!(!k);
                    let name = match op {
                        Opcode::BCcc(_) => "BC.cond".to_string(),
                        other => format!("{other:?}"),
                    };
                    *yax_only.entry(name).or_default() += 1;
                }
            }
        }
        eprintln!(
            "yaxpeax cross-check: {} words, {agreed_branches} branches agreed, \
             kernel-only {kernel_only:?}, yaxpeax-only {yax_only:?}",
            words.len()
        );
        assert!(words.len() > 7_000_000);
        assert!(agreed_branches > 100_000, "{agreed_branches}");
        assert!(kernel_only.values().sum::<u64>() > 0, "the loose br_auth/blr_auth masks show up in the sample");
        assert!(yax_only.get("BC.cond").copied().unwrap_or(0) > 0, "BC.cond shows up in the sample");
        // BC.cond: the kernel steps it out of line (it is in the branch/sys class but matches no exclusion).
        assert_eq!(classify(0x5400_0050), Xol);
    }

    /// The simulated PC-relative kinds compute the same target as yaxpeax's decoded offset, on every sampled word
    /// the kernel simulates with a PC-relative handler.
    #[test]
    fn simulated_offsets_agree_with_yaxpeax() {
        use crate::ptrace::aarch64::PtRegs;
        use crate::arch::aarch64::simulate_insn::SimulateOptions;
        let pc: u64 = 0xffff_8000_1234_5678 & !3;
        let mut checked = 0u64;
        let mut x: u32 = 0x0bad_cafe;
        for _ in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Bias towards the PC-relative groups: keep the top byte from a small set.
            let tops = [
                0x10u32, 0x30, 0x50, 0x70, 0x90, 0xb0, 0xd0, 0xf0, 0x14, 0x17, 0x94, 0x97, 0x34, 0x35, 0xb4, 0xb5,
                0x36, 0x37, 0xb6, 0xb7, 0x54,
            ];
            let w = (tops[(x >> 24) as usize % tops.len()] << 24) | (x & 0x00ff_ffff);
            let Sim(h) = arm_probe_decode_insn(w) else { continue };
            let Some(inst) = yax(w) else { panic!("kernel simulates {w:#010x}, yaxpeax cannot decode it") };
            let off = inst.operands.iter().find_map(|o| match o {
                Operand::PCOffset(off) => Some(*off),
                _ => None,
            });
            let Some(off) = off else { panic!("no PC offset for {w:#010x}: {inst:?}") };
            // Make every conditional branch taken: all flags for b.cond is not enough, so pick per kind.
            let mut regs = PtRegs { pc, ..PtRegs::default() };
            match h {
                SimulateHandler::BCond => {
                    // Find a PSTATE under which the condition holds (every condition has one).
                    let cond = (w & 0xf) as usize;
                    regs.pstate =
                        (0..16u64).map(|nzcv| nzcv << 28).find(|&p| aarch32_opcode_cond_checks[cond](p)).unwrap_or(0);
                }
                SimulateHandler::CbzCbnz => {
                    let rt = (w & 0x1f) as usize;
                    if rt < 31 {
                        regs.regs[rt] = if w & (1 << 24) != 0 { 1 } else { 0 };
                    } else if w & (1 << 24) != 0 {
                        continue; // cbnz xzr: never taken
                    }
                }
                SimulateHandler::TbzTbnz => {
                    let rt = (w & 0x1f) as usize;
                    if rt < 31 {
                        regs.regs[rt] = if w & (1 << 24) != 0 { u64::MAX } else { 0 };
                    } else if w & (1 << 24) != 0 {
                        continue;
                    }
                }
                _ => {}
            }
            let m = flat_text(0, 0);
            h.simulate(w, &mut regs, &m, SimulateOptions::V6_12).unwrap();
            let rd = (w & 0x1f) as usize;
            match h {
                SimulateHandler::AdrAdrp if rd == 31 => {}
                SimulateHandler::AdrAdrp if w & 0x8000_0000 != 0 => {
                    assert_eq!(regs.regs[rd], (pc & !0xfff).wrapping_add_signed(off), "{w:#010x}");
                }
                SimulateHandler::AdrAdrp => assert_eq!(regs.regs[rd], pc.wrapping_add_signed(off), "{w:#010x}"),
                _ => assert_eq!(regs.pc, pc.wrapping_add_signed(off), "{w:#010x} ({})", h.name()),
            }
            checked += 1;
        }
        assert!(checked > 100_000, "{checked}");
    }
}
