//! Models the preparation side of `arch/x86/kernel/kprobes/core.c`: where a kprobe may go (`can_probe`), how the
//! probed instruction is copied into its slot (`__copy_instruction`, with the RIP-relative fixup), the slot layout
//! (`prepare_boost` in v5.10, `prepare_singlestep` in v6.12), and [`arch_prepare_kprobe`], which strings them
//! together with the sibling modules' parts: whether the copy can run without a second trap
//! ([`super::boost::can_boost`]), which instructions v6.12 emulates instead of stepping
//! ([`super::emulate::prepare_emulation`] and the `kprobe_emulate_*` handlers, over the `int3_emulate_*` of
//! `asm/text-patching.h` in [`crate::arch::x86_64::text_patching_h`]) and v5.10's fixups after a TF single-step
//! ([`super::resume::resume_execution`]). [`X86ProbeClass`] summarises the result. The tables below cover all four
//! modules.
//!
//! # v5.10 versus v6.12
//!
//! | | v5.10 (checked against v5.10.13) | v6.12 |
//! |---|---|---|
//! | single-step | TF: the slot holds the copy only; `#DB` after it runs `resume_execution` | `int3`: the slot holds the copy and an `int3`; the second `int3` runs `resume_singlestep` (commit 6256e668b7af, v5.13) |
//! | instructions that touch `ip` or `IF` | stepped out of line, then fixed up by `resume_execution` | emulated by `prepare_emulation`'s handlers, never stepped |
//! | boosting | decided at prepare time (`prepare_boost`, regardless of `post_handler`); used if `!CONFIG_PREEMPTION && !post_handler`; `resume_execution` also *turns it on* after the first step of `ret`/`lret`/`iret`/`jmp far`/`jmp *` | decided at prepare time (`prepare_singlestep`) only if `!CONFIG_PREEMPTION && !post_handler` |
//! | `can_boost` prefixes | checks `inat_is_address_size_prefix(insn->attr)` and `opcode != 0x2e`, both dead code (the attribute and the opcode are never a prefix), so `0x2e`/`0x67`-prefixed instructions *are* boostable | rejects any `0x2e` or `0x67` prefix (one-byte opcodes only) |
//! | `can_boost` one-byte opcodes | `switch (opcode & 0xf0)`: Grp2/3/4/5 never boostable, `ret`/`lret`/`iret`/`jmp far abs` boostable | explicit list; Grp2 unless `/6`, Grp3 unless `/1`, Grp4 `/0 /1`, Grp5 `/0 /1 /4` (v6.9 "Boost more instructions from grp2/3/4/5"); `ret` etc. boostable |
//! | `can_probe` | any `int3` before the probe point in the function: reject (so, on kernels built with `CONFIG_SLS`/`RETHUNK`, any point after an `int3` padding a `ret`) | only a kgdb `int3` (v6.0, "Fix kprobes instruction boudary check with CONFIG_RETHUNK"); plus the probed instruction may not be INT*/UD* (`is_exception_insn`, v6.9) |
//! | flags saved at the hit | `TF` and `IF`; `IF` dropped from the restored copy for IF modifiers (`cli`, `sti`, `popf`, `iret`) | `IF` only |
//! | probe on a function's ENDBR | probed as is (no IBT in the kernel) | `arch_adjust_kprobe_addr` moves offset 0 to +4 with `CONFIG_X86_KERNEL_IBT` |
//!
//! # Errno of each failure (`register_kprobe` → `prepare_kprobe` → `arch_prepare_kprobe`)
//!
//! | failure | v5.10 | v6.12 |
//! |---|---|---|
//! | `alternatives_text_reserved` | -EINVAL | -EINVAL |
//! | `can_probe`: no symbol, unreadable bytes, undecodable instruction, not an instruction boundary | -EILSEQ | -EILSEQ |
//! | `can_probe`: an `int3` earlier in the function | -EILSEQ | -EILSEQ only for a kgdb breakpoint, else ignored |
//! | probed instruction is `int3` | -EINVAL (`__copy_instruction`) | -EILSEQ (`is_exception_insn`) |
//! | probed instruction is UD0/UD1/UD2/INT n/INTO/INT1 | accepted (the exception is raised from the slot) | -EILSEQ |
//! | Xen/KVM emulate prefix; `MOV SS`/`POP SS`; RIP-relative displacement does not fit s32 from the slot | -EINVAL | -EINVAL |
//! | `lcall`/`ljmp` absolute (`9a`/`ea`), `iret` (`cf`), VMX `0f 01 /0` (mod 3), `call`/`jmp` far indirect (`ff /3`, `ff /5`), `call`/`jmp *` through memory or with `0x67` | accepted | -EOPNOTSUPP (`prepare_emulation`) |
//! | 15-byte instruction (no room for the `int3`) | accepted | -ENOSPC (`prepare_singlestep`) |
//! | no free slot (`get_insn_slot`) | -ENOMEM | -ENOMEM (not modelled: the caller supplies the slot address) |
//!
//! Outside this file: a symbol that does not exist is -ENOENT (`_kprobe_addr`/`kprobe_lookup_name`); an address
//! outside kernel text, on the blacklist, in a jump label/static call site, or (without `KPROBES_ON_FTRACE`) on an
//! ftrace site is -EINVAL (`check_kprobe_address_safe`). With `KPROBES_ON_FTRACE` a probe exactly on an ftrace
//! site does not come here at all (`arch_prepare_kprobe_ftrace`: no slot, no `int3`).
//!
//! # Left out (documented, not modelled)
//! - optprobes (`__recover_optprobed_insn`, `setup_detour_execution`): no probe is ever jump-optimised here;
//! - `CONFIG_CFI_CLANG`'s check in v6.12 `can_probe` (the `movl`/`addl` before a kCFI `ud2`, `is_cfi_trap`): the
//!   model assumes gcc-built kernels (`CFI_CLANG=n`);
//! - `CONFIG_KGDB`: the environment answers `kgdb_has_hit_break`;
//! - the kernel's own table decoder: see [`crate::arch::x86_64::insn`] for where iced-x86 stands in for it;
//! - v5.10: `clear_btf`/`restore_btf` (`DEBUGCTLMSR_BTF`), which only matter when a task is block-stepping.
//!
//! # Kernel bugs kept on purpose
//! - v6.12 `kprobe_emulate_loop` decrements `cx` with a post-decrement and tests the *old* value: `loop` with
//!   `rcx == 1` is taken (hardware: not taken), and with `rcx == 0` it is not (hardware: taken, `rcx` wraps). With
//!   `addr32` only the low 32 bits of `rcx` are written back.
//! - v6.12 `kprobe_emulate_call` pushes `ip - INT3_INSN_SIZE + CALL_INSN_SIZE` (`int3_emulate_call`), i.e. assumes
//!   a 5-byte call; a prefixed `call rel32` gets a return address inside itself. (`kprobe_emulate_call_indirect`
//!   uses the real size since v6.7's fix, in v6.12.)
//! - v6.12 `prepare_emulation` switches on `opcode.bytes[0]`, which for a VEX/EVEX instruction is the opcode after
//!   the prefix: VEX `vpshufd` (`70`) is emulated as `jo`, VEX `vpsubd` (`fa`) as `cli`, and so on.
//! - v5.10 `can_boost` treats `jmp far absolute` (`ea`, invalid in 64-bit mode) as boostable.
//!
//! Sources read: v5.10.13 `arch/x86/kernel/kprobes/core.c`, `arch/x86/lib/insn.c`, `asm/insn.h`, `asm/kprobes.h`
//! (Rtoax/linux-5.10.13); a v6.1-era `core.c` (int3 single-step, `prepare_emulation`, `int3_emulate_jcc`) plus the
//! v6.2..v6.12 patches to it: "Fix 1 byte conditional jump target" (Nadav Amit, 2023), "fix incorrect return
//! address calculation in kprobe_emulate_call_indirect" (Jinghao Jia, v6.7-rc8), "Prohibit kprobing on INT and UD"
//! (e884edbb844f) and "Boost more instructions from grp2/3/4/5" (290eb13f1a65) (Jinghao Jia, v6.9; the final v2
//! patch mails were read); the v6.14 patch that removes x86 `alloc_insn_page` (its context shows v6.12's
//! `prepare_singlestep`); a post-v6.12 `core.c` (a C→Rust transcription) confirming that the above survived; a
//! v6.9-era `asm/text-patching.h`; `kernel/Kconfig.preempt` (`PREEMPT_DYNAMIC` default y on x86, so
//! `CONFIG_PREEMPTION=y`). The v6.12 `core.c` file itself was not found in the searchable corpus: v6.12 is
//! reconstructed as v6.1 + the listed patches, each of which was read.

use super::boost::can_boost;
use super::emulate::{is_IF_modifier, prepare_emulation, ArchSpecificInsn, EmulateOp, EmulationError};
use crate::arch::x86_64::insn::*;
use crate::kallsyms::{Kallsyms, SymbolKind};
use crate::machine::{GuestMemory, MemFault};
use crate::profile::KernelProfile;
use crate::KernelVa;
use crate::errno::Errno;
use std::fmt;

/// `x86_nops[5]` (v6.12, `BYTES_NOP5`) / `ideal_nops[NOP_ATOMIC5]` (v5.10 on P6-NOP CPUs): the 5-byte NOP an
/// ftrace site holds when not traced, which `__recover_probed_insn` substitutes.
pub const X86_NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];

// ---------------------------------------------------------------------------------------------------------------
// Configuration and environment
// ---------------------------------------------------------------------------------------------------------------

/// The kernel version and the `CONFIG_*` choices that change x86 kprobe preparation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct X86KprobesConfig {
    /// The kernel version.
    pub profile: KernelProfile,
    /// `CONFIG_PREEMPTION`: when set, no probe is ever boosted.
    pub preemption: bool,
    /// `CONFIG_X86_KERNEL_IBT` (v6.12 only; v5.10 has no kernel IBT): `is_endbr` and so `arch_adjust_kprobe_addr`.
    pub kernel_ibt: bool,
}

impl X86KprobesConfig {
    /// v5.10 with the Kconfig defaults: `PREEMPT_NONE`, and `PREEMPT_DYNAMIC` does not exist yet (v5.12), so
    /// `CONFIG_PREEMPTION=n` and probes are boosted.
    pub const V5_10: X86KprobesConfig =
        X86KprobesConfig { profile: KernelProfile::V5_10, preemption: false, kernel_ibt: false };
    /// v6.12 with the Kconfig defaults on x86_64: `PREEMPT_DYNAMIC=y` (default y with `HAVE_PREEMPT_DYNAMIC_CALL`)
    /// selects `PREEMPT_BUILD` and so `CONFIG_PREEMPTION=y` even though the boot-time model is "none": no probe is
    /// boosted (checked against a 6.12.104 default `auto.conf` report). `X86_KERNEL_IBT` is `def_bool y` with a
    /// capable compiler (from memory, not re-read).
    pub const V6_12: X86KprobesConfig =
        X86KprobesConfig { profile: KernelProfile::V6_12, preemption: true, kernel_ibt: true };

    /// The defaults of `profile`.
    #[must_use]
    pub fn for_profile(profile: KernelProfile) -> X86KprobesConfig {
        match profile {
            KernelProfile::V5_10 => X86KprobesConfig::V5_10,
            KernelProfile::V6_12 => X86KprobesConfig::V6_12,
        }
    }
}

/// What `kprobes/core.c` asks the rest of the kernel about an address. The defaults describe pristine text: no
/// kprobe, no ftrace site, no exception-table entry, no alternatives, no kgdb breakpoint.
pub trait X86KprobesEnv {
    /// `get_kprobe(addr)`: if a kprobe is registered at `addr`, the original first byte it saved (`kp->opcode`).
    fn kprobe_opcode(&self, _addr: KernelVa) -> Option<u8> {
        None
    }
    /// `ftrace_location(addr)`: the start of the ftrace call site (`__fentry__` NOP) that contains `addr`, if any.
    fn ftrace_location(&self, _addr: KernelVa) -> Option<KernelVa> {
        None
    }
    /// `search_exception_tables(addr)`: whether `addr` has an exception-table entry (a faulting access is fixed
    /// up there, so its copy may not run from the slot).
    fn search_exception_tables(&self, _addr: KernelVa) -> bool {
        false
    }
    /// `alternatives_text_reserved(start, end)`: whether `[start, end]` overlaps a SMP-alternatives lock prefix
    /// site.
    fn alternatives_text_reserved(&self, _start: KernelVa, _end: KernelVa) -> bool {
        false
    }
    /// `kgdb_has_hit_break(addr)` (v6.12 with `CONFIG_KGDB`): a kgdb software breakpoint is installed at `addr`.
    fn kgdb_has_hit_break(&self, _addr: KernelVa) -> bool {
        false
    }
}

/// Pristine kernel text: every [`X86KprobesEnv`] query answers "nothing here".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PristineText;

impl X86KprobesEnv for PristineText {}

// ---------------------------------------------------------------------------------------------------------------
// kallsyms, recovery
// ---------------------------------------------------------------------------------------------------------------

/// Models `kallsyms_lookup_size_offset(addr, &size, &offset)` (kernel/kallsyms.c) as `can_probe` uses it: the
/// symbol is the last one at or below `addr`, and it extends to the next symbol at a higher address (kallsyms does
/// not store ELF sizes, so alignment padding after a function belongs to it); the last symbol extends over its own
/// size. Returns `(size, offset)`, or `None` if `addr` is before every symbol, in a data symbol, or past the last
/// one.
#[must_use]
pub fn kallsyms_lookup_size_offset(kallsyms: &Kallsyms, addr: KernelVa) -> Option<(u64, u64)> {
    let syms = kallsyms.symbols();
    let end = syms.partition_point(|s| s.addr <= addr);
    let sym = syms.get(..end)?.last()?;
    if sym.kind != SymbolKind::Text {
        return None;
    }
    let size = match syms.get(end..)?.iter().find(|s| s.addr > sym.addr) {
        Some(next) => next.addr.0 - sym.addr.0,
        None => sym.size,
    };
    let offset = addr.0 - sym.addr.0;
    (offset < size.max(1)).then_some((size, offset))
}

/// Where `recover_probed_instruction` found the original bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveredInsn {
    /// Nothing has modified `addr`: decode the text itself (the kernel returns `addr`).
    Text,
    /// The original bytes, rebuilt in the caller's buffer (the kernel returns `buf`): the current
    /// [`MAX_INSN_SIZE`] bytes with byte 0 replaced by the kprobe's saved opcode, or the first 5 replaced by
    /// [`X86_NOP5`] on an ftrace site.
    Buf([u8; MAX_INSN_SIZE]),
}

/// Why `recover_probed_instruction` returned 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    /// `copy_from_kernel_nofault` of [`MAX_INSN_SIZE`] bytes failed.
    #[error("cannot read the original instruction: {0}")]
    Fault(MemFault),
    /// v5.10 only: `addr` is inside, not at the start of, the ftrace site at `ftrace` (`WARN_ON(faddr && faddr !=
    /// addr)`).
    #[error("inside the ftrace site at {ftrace:?} (WARN in __recover_probed_insn)")]
    InsideFtraceSite {
        /// The ftrace site's start.
        ftrace: KernelVa,
    },
}

/// Models `recover_probed_instruction` → `__recover_probed_insn` (arch/x86/kernel/kprobes/core.c): the original
/// instruction at `addr` even if a kprobe's `int3` or ftrace has patched it. `__recover_optprobed_insn` is not
/// modelled (no optprobes).
///
/// v5.10: `faddr = ftrace_location(addr)` and an address inside (not at) an ftrace site fails; v6.12: `faddr =
/// ftrace_location(addr) == addr`.
pub fn recover_probed_instruction(
    addr: KernelVa,
    mem: &dyn GuestMemory,
    env: &dyn X86KprobesEnv,
    profile: KernelProfile,
) -> Result<RecoveredInsn, RecoverError> {
    let kp = env.kprobe_opcode(addr);
    let faddr = env.ftrace_location(addr);
    let on_ftrace = match profile {
        KernelProfile::V5_10 => match faddr {
            Some(f) if f != addr => return Err(RecoverError::InsideFtraceSite { ftrace: f }),
            Some(_) => true,
            None => false,
        },
        KernelProfile::V6_12 => faddr == Some(addr),
    };
    // "Use the current code if it is not modified by Kprobe and it cannot be modified by ftrace."
    if kp.is_none() && !on_ftrace {
        return Ok(RecoveredInsn::Text);
    }
    let mut buf = [0u8; MAX_INSN_SIZE];
    mem.read(addr, &mut buf).map_err(RecoverError::Fault)?;
    if on_ftrace {
        buf[..X86_NOP5.len()].copy_from_slice(&X86_NOP5);
    } else if let Some(opcode) = kp {
        buf[0] = opcode;
    }
    Ok(RecoveredInsn::Buf(buf))
}

/// The bytes the kernel's decoder sees for `rec` at `addr`: the recovered buffer, or the text itself. For text the
/// decoder dereferences only the bytes it needs, so this reads up to [`MAX_INSN_SIZE`] bytes and stops at the first
/// unreadable one (an instruction that needs it then fails to decode).
fn decoder_bytes(addr: KernelVa, rec: &RecoveredInsn, mem: &dyn GuestMemory) -> Vec<u8> {
    match rec {
        RecoveredInsn::Buf(b) => b.to_vec(),
        RecoveredInsn::Text => {
            let mut buf = [0u8; MAX_INSN_SIZE];
            if mem.read(addr, &mut buf).is_ok() {
                return buf.to_vec();
            }
            let mut out = Vec::with_capacity(MAX_INSN_SIZE);
            for i in 0..MAX_INSN_SIZE as u64 {
                let mut b = [0u8; 1];
                if mem.read(addr.add(i), &mut b).is_err() {
                    break;
                }
                out.push(b[0]);
            }
            out
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// can_probe, arch_adjust_kprobe_addr
// ---------------------------------------------------------------------------------------------------------------

/// Why `can_probe` returned false (`arch_prepare_kprobe` then returns -EILSEQ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanProbeError {
    /// `kallsyms_lookup_size_offset` found no symbol.
    #[error("no symbol contains the address")]
    NoSymbol,
    /// The instruction at `addr` could not be recovered.
    #[error("cannot recover the instruction at {addr:?}: {source}")]
    Recover {
        /// The instruction's address.
        addr: KernelVa,
        /// Why.
        source: RecoverError,
    },
    /// The instruction at `addr` does not decode (v6.12 `insn_decode_kernel` < 0; see
    /// [`crate::arch::x86_64::insn`] for v5.10).
    #[error("cannot decode the instruction at {addr:?}: {source}")]
    Decode {
        /// The instruction's address.
        addr: KernelVa,
        /// Why.
        source: InsnError,
    },
    /// v5.10: an `int3` that is not a kprobe's precedes the probe point in the function ("Another debugging
    /// subsystem might insert this breakpoint").
    #[error("foreign int3 at {addr:?} before the probe point")]
    ForeignInt3 {
        /// The `int3`'s address.
        addr: KernelVa,
    },
    /// v6.12 with `CONFIG_KGDB`: a kgdb breakpoint precedes the probe point.
    #[error("kgdb breakpoint at {addr:?} before the probe point")]
    KgdbBreakpoint {
        /// The breakpoint's address.
        addr: KernelVa,
    },
    /// The address is inside the instruction `[insn_start, insn_end)`.
    #[error("not an instruction boundary: inside the instruction at {insn_start:?}..{insn_end:?}")]
    NotInstructionBoundary {
        /// The start of the instruction that covers the address.
        insn_start: KernelVa,
        /// Its end.
        insn_end: KernelVa,
    },
    /// v6.12: the probed instruction is INT3/INT n/INTO/INT1/UD0/UD1/UD2 (`is_exception_insn`).
    #[error("INT and UD instructions may not be probed")]
    ExceptionInsn,
}

/// Models `can_probe(paddr)` (static in arch/x86/kernel/kprobes/core.c): decode from the start of the symbol
/// containing `paddr` (recovering instructions other probes or ftrace patched) and check that `paddr` is an
/// instruction boundary. Returns `Ok(())` where the kernel returns true.
///
/// - v5.10: any `int3` met before `paddr` fails; the instruction at `paddr` is not examined.
/// - v6.12: an `int3` before `paddr` fails only if kgdb put it there; then the instruction at `paddr` is decoded
///   and INT*/UD* fail (`is_exception_insn`). The `CONFIG_CFI_CLANG` check is not modelled.
pub fn can_probe(
    paddr: KernelVa,
    mem: &dyn GuestMemory,
    kallsyms: &Kallsyms,
    env: &dyn X86KprobesEnv,
    profile: KernelProfile,
) -> Result<(), CanProbeError> {
    let (_size, offset) = kallsyms_lookup_size_offset(kallsyms, paddr).ok_or(CanProbeError::NoSymbol)?;
    let mut addr = KernelVa(paddr.0 - offset);
    let mut prev = addr;
    while addr < paddr {
        let rec = recover_probed_instruction(addr, mem, env, profile)
            .map_err(|source| CanProbeError::Recover { addr, source })?;
        let insn = insn_decode_kernel(&decoder_bytes(addr, &rec, mem))
            .map_err(|source| CanProbeError::Decode { addr, source })?;
        if insn.opcode.byte(0) == INT3_INSN_OPCODE {
            match profile {
                KernelProfile::V5_10 => return Err(CanProbeError::ForeignInt3 { addr }),
                KernelProfile::V6_12 if env.kgdb_has_hit_break(addr) => {
                    return Err(CanProbeError::KgdbBreakpoint { addr })
                }
                KernelProfile::V6_12 => {}
            }
        }
        prev = addr;
        addr = addr.add(insn.len() as u64);
    }
    if addr != paddr {
        return Err(CanProbeError::NotInstructionBoundary { insn_start: prev, insn_end: addr });
    }
    if profile == KernelProfile::V6_12 {
        let rec = recover_probed_instruction(addr, mem, env, profile)
            .map_err(|source| CanProbeError::Recover { addr, source })?;
        let insn = insn_decode_kernel(&decoder_bytes(addr, &rec, mem))
            .map_err(|source| CanProbeError::Decode { addr, source })?;
        if is_exception_insn(&insn) {
            return Err(CanProbeError::ExceptionInsn);
        }
    }
    Ok(())
}

/// Models `arch_adjust_kprobe_addr(addr, offset, &on_func_entry)` (v6.12 arch/x86/kernel/kprobes/core.c, called by
/// `_kprobe_addr` in kernel/kprobes.c with `addr` = the symbol's start): if the function starts with an ENDBR
/// (`is_endbr(*(u32 *)addr)`), a probe at offset 0 or 4 goes to offset 4 and counts as on the function entry;
/// otherwise only offset 0 is the entry. Returns `(probe address, on_func_entry)`.
///
/// v5.10 has no such hook: the address is `addr + offset` and `arch_kprobe_on_func_entry(offset)` is `!offset`.
/// The read of the first four bytes is a plain dereference in the kernel; a fault here is returned as `Err`.
pub fn arch_adjust_kprobe_addr(
    addr: KernelVa,
    offset: u64,
    mem: &dyn GuestMemory,
    cfg: X86KprobesConfig,
) -> Result<(KernelVa, bool), MemFault> {
    if cfg.profile == KernelProfile::V5_10 {
        return Ok((addr.add(offset), offset == 0));
    }
    let mut w = [0u8; 4];
    mem.read(addr, &mut w)?;
    if is_endbr(u32::from_le_bytes(w), cfg.kernel_ibt) {
        let on_func_entry = offset == 0 || offset == ENDBR_INSN_SIZE;
        let offset = if on_func_entry { ENDBR_INSN_SIZE } else { offset };
        Ok((addr.add(offset), on_func_entry))
    } else {
        Ok((addr.add(offset), offset == 0))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// __copy_instruction
// ---------------------------------------------------------------------------------------------------------------

/// Why `__copy_instruction` returned 0 (`arch_copy_kprobe` then returns -EINVAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// `recover_probed_instruction` failed.
    #[error("cannot recover the instruction: {0}")]
    Recover(RecoverError),
    /// `copy_from_kernel_nofault(dest, recovered, MAX_INSN_SIZE)` failed.
    #[error("cannot read {MAX_INSN_SIZE} bytes of the instruction: {0}")]
    Read(MemFault),
    /// The copy does not decode (v6.12 `insn_decode_kernel` < 0).
    #[error("cannot decode the instruction: {0}")]
    Decode(InsnError),
    /// "We can not probe force emulate prefixed instruction".
    #[error("Xen/KVM force-emulate prefixed instruction")]
    EmulatePrefix,
    /// "Another subsystem puts a breakpoint, failed to recover".
    #[error("the instruction is an int3 that is not a kprobe's")]
    Int3,
    /// "We should not singlestep on the exception masking instructions" (`insn_masking_exception`).
    #[error("MOV SS / POP SS suppresses the single-step trap")]
    MaskingException,
    /// "Kprobes error: new displacement does not fit into s32".
    #[error("Kprobes error: new displacement does not fit into s32 ({newdisp:#x})")]
    DisplacementOverflow {
        /// `src + disp - real`.
        newdisp: i64,
    },
}

/// The result of `__copy_instruction`: the slot bytes so far (`dest`, all [`MAX_INSN_SIZE`] copied, the
/// displacement fixed), the decoded instruction, and its length (the kernel's return value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedInsn {
    /// `dest`: the recovered bytes with a RIP-relative displacement rewritten for `real`.
    pub dest: [u8; MAX_INSN_SIZE],
    /// The instruction as decoded from `dest` (its `displacement` is the *original* one, as in the kernel, where
    /// the fixup writes `dest` after decoding).
    pub insn: Insn,
    /// `insn->length`.
    pub len: usize,
}

/// Models `__copy_instruction(dest, src, real, insn)` (arch/x86/kernel/kprobes/core.c): recover the instruction at
/// `src`, copy [`MAX_INSN_SIZE`] bytes, decode, refuse emulate-prefixed, `int3` and MOV/POP SS instructions, and
/// for RIP-relative addressing rewrite the displacement so the copy at `real` (the slot) reaches the same target:
/// `newdisp = src + disp - real`, which must fit in s32.
pub fn __copy_instruction(
    src: KernelVa,
    real: KernelVa,
    mem: &dyn GuestMemory,
    env: &dyn X86KprobesEnv,
    profile: KernelProfile,
) -> Result<CopiedInsn, CopyError> {
    let rec = recover_probed_instruction(src, mem, env, profile).map_err(CopyError::Recover)?;
    let recovered = match rec {
        RecoveredInsn::Buf(b) => b,
        RecoveredInsn::Text => {
            // "This can access kernel text if given address is not recovered"
            let mut b = [0u8; MAX_INSN_SIZE];
            mem.read(src, &mut b).map_err(CopyError::Read)?;
            b
        }
    };
    copy_instruction_bytes(&recovered, src, real)
}

/// The pure part of `__copy_instruction` (arch/x86/kernel/kprobes/core.c), after `copy_from_kernel_nofault`:
/// `recovered` holds the original bytes of the instruction at `src`, which will run at `real`.
pub fn copy_instruction_bytes(
    recovered: &[u8; MAX_INSN_SIZE],
    src: KernelVa,
    real: KernelVa,
) -> Result<CopiedInsn, CopyError> {
    let mut dest = *recovered;
    let insn = insn_decode_kernel(&dest).map_err(CopyError::Decode)?;
    if insn_has_emulate_prefix(&insn) {
        return Err(CopyError::EmulatePrefix);
    }
    if insn.opcode.byte(0) == INT3_INSN_OPCODE {
        return Err(CopyError::Int3);
    }
    if insn_masking_exception(&insn) {
        return Err(CopyError::MaskingException);
    }
    if insn_rip_relative(&insn) {
        let newdisp = (src.0 as i64).wrapping_add(i64::from(insn.displacement.value)).wrapping_sub(real.0 as i64);
        let Ok(disp32) = i32::try_from(newdisp) else {
            return Err(CopyError::DisplacementOverflow { newdisp });
        };
        let off = insn_offset_displacement(&insn);
        if let Some(field) = dest.get_mut(off..off + 4) {
            field.copy_from_slice(&disp32.to_le_bytes());
        }
    }
    let len = insn.len();
    Ok(CopiedInsn { dest, insn, len })
}

// ---------------------------------------------------------------------------------------------------------------
// slot layout: synthesize_reljump, prepare_boost (v5.10), prepare_singlestep (v6.12)
// ---------------------------------------------------------------------------------------------------------------

/// `__synthesize_relative_insn(dest, from, to, op)` (arch/x86/kernel/kprobes/core.c): `op` followed by `(s32)(to -
/// (from + 5))`, truncated without a range check as in the kernel.
#[must_use]
pub fn synthesize_relative_insn(from: KernelVa, to: KernelVa, op: u8) -> [u8; 5] {
    let raddr = to.0.wrapping_sub(from.0.wrapping_add(5)) as i64 as i32;
    let d = raddr.to_le_bytes();
    [op, d[0], d[1], d[2], d[3]]
}

/// `synthesize_reljump(dest, from, to)` (arch/x86/kernel/kprobes/core.c): a `jmp rel32` at `from` to `to`.
#[must_use]
pub fn synthesize_reljump(from: KernelVa, to: KernelVa) -> [u8; 5] {
    synthesize_relative_insn(from, to, JMP32_INSN_OPCODE)
}

/// `synthesize_relcall(dest, from, to)` (arch/x86/kernel/kprobes/core.c): a `call rel32` at `from` to `to`.
#[must_use]
pub fn synthesize_relcall(from: KernelVa, to: KernelVa) -> [u8; 5] {
    synthesize_relative_insn(from, to, CALL_INSN_OPCODE)
}

/// Models v5.10 `prepare_boost(buf, p, insn)` (arch/x86/kernel/kprobes/core.c): if `can_boost` and a `jmp rel32` fits
/// after the instruction in the [`MAX_INSN_SIZE`] slot, append a jump from the slot back to `addr + len` and set
/// `boostable`. Returns the slot length. (The post handler does not matter here in v5.10; `setup_singlestep` checks it
/// at hit time.)
pub fn prepare_boost(
    buf: &mut [u8; MAX_INSN_SIZE],
    addr: KernelVa,
    ainsn: &mut ArchSpecificInsn,
    insn: &Insn,
    env: &dyn X86KprobesEnv,
) -> usize {
    let mut len = insn.len();
    if can_boost(insn, addr, env, KernelProfile::V5_10) && MAX_INSN_SIZE - len >= JMP32_INSN_SIZE {
        let jmp = synthesize_reljump(ainsn.insn.add(len as u64), addr.add(insn.len() as u64));
        buf[len..len + JMP32_INSN_SIZE].copy_from_slice(&jmp);
        len += JMP32_INSN_SIZE;
        ainsn.boostable = true;
    } else {
        ainsn.boostable = false;
    }
    len
}

/// Models v6.12 `prepare_singlestep(buf, p, insn)` (arch/x86/kernel/kprobes/core.c): boost (append `jmp rel32` back,
/// set `boostable`) if `!CONFIG_PREEMPTION && !p->post_handler && can_boost` and it fits; otherwise append an `int3`
/// for the single-step trap, failing with -ENOSPC ([`None`]) if the instruction fills the whole slot. Returns the slot
/// length.
#[allow(clippy::too_many_arguments)]
pub fn prepare_singlestep(
    buf: &mut [u8; MAX_INSN_SIZE],
    addr: KernelVa,
    ainsn: &mut ArchSpecificInsn,
    insn: &Insn,
    has_post_handler: bool,
    preemption: bool,
    env: &dyn X86KprobesEnv,
) -> Option<usize> {
    let mut len = insn.len();
    if !preemption
        && !has_post_handler
        && can_boost(insn, addr, env, KernelProfile::V6_12)
        && MAX_INSN_SIZE - len >= JMP32_INSN_SIZE
    {
        let jmp = synthesize_reljump(ainsn.insn.add(len as u64), addr.add(insn.len() as u64));
        buf[len..len + JMP32_INSN_SIZE].copy_from_slice(&jmp);
        len += JMP32_INSN_SIZE;
        ainsn.boostable = true;
    } else {
        // Otherwise, put an int3 for trapping singlestep
        if MAX_INSN_SIZE - len < INT3_INSN_SIZE {
            return None;
        }
        buf[len] = INT3_INSN_OPCODE;
        len += INT3_INSN_SIZE;
    }
    Some(len)
}

// ---------------------------------------------------------------------------------------------------------------
// arch_prepare_kprobe and the classification
// ---------------------------------------------------------------------------------------------------------------

/// Why `arch_prepare_kprobe` failed; [`X86PrepareError::errno`] is its return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum X86PrepareError {
    /// `alternatives_text_reserved(p->addr, p->addr)`: -EINVAL.
    #[error("address is reserved by SMP alternatives")]
    AlternativesTextReserved,
    /// `!can_probe(p->addr)`: -EILSEQ.
    #[error("can_probe: {0}")]
    CanProbe(CanProbeError),
    /// `__copy_instruction` returned 0: `arch_copy_kprobe` returns -EINVAL.
    #[error("__copy_instruction: {0}")]
    Copy(CopyError),
    /// v6.12 `prepare_emulation`: -EOPNOTSUPP.
    #[error("prepare_emulation: {0}")]
    Emulation(EmulationError),
    /// v6.12 `prepare_singlestep`: no room for the `int3`, -ENOSPC.
    #[error("prepare_singlestep: no room for the int3 after a {MAX_INSN_SIZE}-byte instruction")]
    NoSpace,
}

impl X86PrepareError {
    /// The errno `arch_prepare_kprobe` returns (negated).
    #[must_use]
    pub fn errno(&self) -> Errno {
        match self {
            X86PrepareError::AlternativesTextReserved | X86PrepareError::Copy(_) => Errno::EINVAL,
            X86PrepareError::CanProbe(_) => Errno::EILSEQ,
            X86PrepareError::Emulation(_) => Errno::EOPNOTSUPP,
            X86PrepareError::NoSpace => Errno::ENOSPC,
        }
    }

    /// The errno's name (`"EILSEQ"`, ...).
    #[must_use]
    pub fn errno_name(&self) -> &'static str {
        self.errno().name()
    }
}

/// The arch part of a prepared `struct kprobe` on x86: what `arch_prepare_kprobe` leaves in `p->opcode` and
/// `p->ainsn`, and the bytes it `text_poke`s into the slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Kprobe {
    /// `p->addr`.
    pub addr: KernelVa,
    /// `p->opcode`: the first byte of the original instruction (the byte the `int3` replaces; may be a prefix).
    pub opcode: u8,
    /// `p->ainsn`.
    pub ainsn: ArchSpecificInsn,
    /// `buf[0..tp_len]`: what is written to the slot at `ainsn.insn`.
    pub slot_bytes: Vec<u8>,
    /// The probed instruction (decoded from the copy).
    pub insn: Insn,
}

/// Models `arch_prepare_kprobe(p)` → `arch_copy_kprobe(p)` (arch/x86/kernel/kprobes/core.c) for a probe at `addr`
/// whose slot (`get_insn_slot()`) is at `slot`. `has_post_handler` is `p->post_handler != NULL`. Nothing is
/// written: the slot contents are returned in [`X86Kprobe::slot_bytes`].
///
/// v5.10: `can_probe` → `__copy_instruction` → `prepare_boost` → `is_IF_modifier`. v6.12: `can_probe` →
/// (`memset(&p->ainsn, 0)`) → `__copy_instruction` → `prepare_emulation` → `prepare_singlestep`.
#[allow(clippy::too_many_arguments)]
pub fn arch_prepare_kprobe(
    addr: KernelVa,
    slot: KernelVa,
    has_post_handler: bool,
    mem: &dyn GuestMemory,
    kallsyms: &Kallsyms,
    env: &dyn X86KprobesEnv,
    cfg: X86KprobesConfig,
) -> Result<X86Kprobe, X86PrepareError> {
    if env.alternatives_text_reserved(addr, addr) {
        return Err(X86PrepareError::AlternativesTextReserved);
    }
    can_probe(addr, mem, kallsyms, env, cfg.profile).map_err(X86PrepareError::CanProbe)?;
    let mut ainsn = ArchSpecificInsn { insn: slot, ..ArchSpecificInsn::default() };

    // arch_copy_kprobe()
    let copied = __copy_instruction(addr, slot, mem, env, cfg.profile).map_err(X86PrepareError::Copy)?;
    let mut buf = copied.dest;
    let insn = copied.insn;
    let len = match cfg.profile {
        KernelProfile::V5_10 => {
            let len = prepare_boost(&mut buf, addr, &mut ainsn, &insn, env);
            ainsn.if_modifier = is_IF_modifier(&buf);
            len
        }
        KernelProfile::V6_12 => {
            prepare_emulation(&insn, &mut ainsn).map_err(X86PrepareError::Emulation)?;
            prepare_singlestep(&mut buf, addr, &mut ainsn, &insn, has_post_handler, cfg.preemption, env)
                .ok_or(X86PrepareError::NoSpace)?
        }
    };
    ainsn.tp_len = len;
    Ok(X86Kprobe { addr, opcode: buf[0], ainsn, slot_bytes: buf[..len].to_vec(), insn })
}

/// How a kprobe on an instruction is handled, for one kernel configuration: what `setup_singlestep` does at a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X86ProbeClass {
    /// `arch_prepare_kprobe` fails (`register_kprobe` returns [`X86PrepareError::errno`]).
    Rejected(X86PrepareError),
    /// The copy runs from the slot and jumps back; no second trap, no post handler.
    Boosted,
    /// The copy is single-stepped out of line: TF and `#DB` in v5.10, a second `int3` in v6.12.
    SingleStep,
    /// v6.12: emulated in the `int3` handler by `kprobe_emulate_<op>`.
    Emulated(EmulateOp),
}

impl X86ProbeClass {
    /// `"rejected"`, `"boosted"`, `"single-step"` or `"emulated:<op>"` with `<op>` the `kprobe_emulate_<op>`
    /// suffix (e.g. `"emulated:jcc"`).
    #[must_use]
    pub fn kernel_name(&self) -> String {
        match self {
            X86ProbeClass::Rejected(_) => "rejected".into(),
            X86ProbeClass::Boosted => "boosted".into(),
            X86ProbeClass::SingleStep => "single-step".into(),
            X86ProbeClass::Emulated(op) => format!("emulated:{}", op.suffix()),
        }
    }

    /// What `setup_singlestep` does with a prepared probe at its first hit (not reentered). v5.10 boosts when
    /// `!CONFIG_PREEMPTION && boostable && !post_handler` (its `boostable` may turn on later, see
    /// [`super::resume::resume_execution`]); v6.12 boosts when `boostable` (only ever set under the same
    /// conditions), then emulates if there is an `emulate_op`, else single-steps.
    #[must_use]
    pub fn of_prepared(kp: &X86Kprobe, has_post_handler: bool, cfg: X86KprobesConfig) -> X86ProbeClass {
        match cfg.profile {
            KernelProfile::V5_10 => {
                if !cfg.preemption && kp.ainsn.boostable && !has_post_handler {
                    X86ProbeClass::Boosted
                } else {
                    X86ProbeClass::SingleStep
                }
            }
            KernelProfile::V6_12 => {
                if !cfg.preemption && kp.ainsn.boostable {
                    X86ProbeClass::Boosted
                } else if let Some(op) = kp.ainsn.emulate_op {
                    X86ProbeClass::Emulated(op)
                } else {
                    X86ProbeClass::SingleStep
                }
            }
        }
    }
}

impl fmt::Display for X86ProbeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            X86ProbeClass::Rejected(e) => write!(f, "rejected (-{}: {e})", e.errno_name()),
            other => f.write_str(&other.kernel_name()),
        }
    }
}

/// [`arch_prepare_kprobe`] followed by [`X86ProbeClass::of_prepared`].
#[allow(clippy::too_many_arguments)]
#[must_use]
pub fn classify(
    addr: KernelVa,
    slot: KernelVa,
    has_post_handler: bool,
    mem: &dyn GuestMemory,
    kallsyms: &Kallsyms,
    env: &dyn X86KprobesEnv,
    cfg: X86KprobesConfig,
) -> X86ProbeClass {
    match arch_prepare_kprobe(addr, slot, has_post_handler, mem, kallsyms, env, cfg) {
        Ok(kp) => X86ProbeClass::of_prepared(&kp, has_post_handler, cfg),
        Err(e) => X86ProbeClass::Rejected(e),
    }
}

#[cfg(test)]
mod tests;
