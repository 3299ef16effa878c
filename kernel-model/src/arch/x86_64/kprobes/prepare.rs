//! Models the instruction side of `arch/x86/kernel/kprobes/core.c`: where a kprobe may go (`can_probe`), how the
//! probed instruction is copied into its slot (`__copy_instruction`, with the RIP-relative fixup), whether the copy
//! can run without a second trap (`can_boost`), which instructions v6.12 emulates instead of stepping
//! (`prepare_emulation` and the `kprobe_emulate_*` handlers, with `int3_emulate_*` of `asm/text-patching.h`), the
//! slot layout (`prepare_boost` in v5.10, `prepare_singlestep` in v6.12), and v5.10's fixups after a TF single-step
//! (`resume_execution`). [`arch_prepare_kprobe`] strings them together; [`X86ProbeClass`] summarises the result.
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
//! - the kernel's own table decoder: see [`super::insn`] for where iced-x86 stands in for it;
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

use super::insn::*;
use super::ptrace::{PtRegs, X86_EFLAGS_IF, X86_EFLAGS_TF};
use crate::kallsyms::{Kallsyms, SymbolKind};
use crate::machine::{GuestMemory, MemFault};
use crate::profile::KernelProfile;
use crate::KernelVa;
use std::fmt;

// ---------------------------------------------------------------------------------------------------------------
// Constants: asm/processor-flags.h, errno
// ---------------------------------------------------------------------------------------------------------------

/// `X86_EFLAGS_CF` (uapi/asm/processor-flags.h).
pub const X86_EFLAGS_CF: u64 = 1 << 0;
/// `X86_EFLAGS_PF`.
pub const X86_EFLAGS_PF: u64 = 1 << 2;
/// `X86_EFLAGS_AF`.
pub const X86_EFLAGS_AF: u64 = 1 << 4;
/// `X86_EFLAGS_ZF`.
pub const X86_EFLAGS_ZF: u64 = 1 << 6;
/// `X86_EFLAGS_SF_BIT`.
pub const X86_EFLAGS_SF_BIT: u32 = 7;
/// `X86_EFLAGS_SF`.
pub const X86_EFLAGS_SF: u64 = 1 << X86_EFLAGS_SF_BIT;
/// `X86_EFLAGS_OF_BIT`.
pub const X86_EFLAGS_OF_BIT: u32 = 11;
/// `X86_EFLAGS_OF`.
pub const X86_EFLAGS_OF: u64 = 1 << X86_EFLAGS_OF_BIT;

/// `ENOENT` (uapi/asm-generic/errno-base.h).
pub const ENOENT: i32 = 2;
/// `ENOMEM`.
pub const ENOMEM: i32 = 12;
/// `EINVAL`.
pub const EINVAL: i32 = 22;
/// `ENOSPC`.
pub const ENOSPC: i32 = 28;
/// `EILSEQ` (uapi/asm-generic/errno.h).
pub const EILSEQ: i32 = 84;
/// `EOPNOTSUPP`.
pub const EOPNOTSUPP: i32 = 95;

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
    /// The instruction at `addr` does not decode (v6.12 `insn_decode_kernel` < 0; see [`super::insn`] for v5.10).
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

/// The pure part of `__copy_instruction`, after `copy_from_kernel_nofault`: `recovered` holds the original bytes
/// of the instruction at `src`, which will run at `real`.
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
// can_boost
// ---------------------------------------------------------------------------------------------------------------

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

/// `test_bit(op, twobyte_is_boostable)`.
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

// ---------------------------------------------------------------------------------------------------------------
// struct arch_specific_insn, prepare_emulation (v6.12), is_IF_modifier (v5.10)
// ---------------------------------------------------------------------------------------------------------------

/// The `p->ainsn.emulate_op` handlers of v6.12 (`kprobe_emulate_<op>` in arch/x86/kernel/kprobes/core.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmulateOp {
    /// `kprobe_emulate_ifmodifiers`: `cli`, `sti`, `pushf`, `popf`.
    Ifmodifiers,
    /// `kprobe_emulate_ret`: `ret`, `ret imm16`, `lret`, `lret imm16` (all as a near `ret`).
    Ret,
    /// `kprobe_emulate_call`: `call rel32` (or `rel16`).
    Call,
    /// `kprobe_emulate_jmp`: `jmp rel8/rel32`.
    Jmp,
    /// `kprobe_emulate_jcc`: `jcc rel8/rel32`.
    Jcc,
    /// `kprobe_emulate_loop`: `loopne`, `loope`, `loop`, `jrcxz`/`jecxz`.
    Loop,
    /// `kprobe_emulate_call_indirect`: `call *%reg`.
    CallIndirect,
    /// `kprobe_emulate_jmp_indirect`: `jmp *%reg`.
    JmpIndirect,
}

impl EmulateOp {
    /// The `<op>` of `kprobe_emulate_<op>`.
    #[must_use]
    pub fn suffix(self) -> &'static str {
        match self {
            EmulateOp::Ifmodifiers => "ifmodifiers",
            EmulateOp::Ret => "ret",
            EmulateOp::Call => "call",
            EmulateOp::Jmp => "jmp",
            EmulateOp::Jcc => "jcc",
            EmulateOp::Loop => "loop",
            EmulateOp::CallIndirect => "call_indirect",
            EmulateOp::JmpIndirect => "jmp_indirect",
        }
    }

    /// The kernel function's name.
    #[must_use]
    pub fn kernel_function(self) -> &'static str {
        match self {
            EmulateOp::Ifmodifiers => "kprobe_emulate_ifmodifiers",
            EmulateOp::Ret => "kprobe_emulate_ret",
            EmulateOp::Call => "kprobe_emulate_call",
            EmulateOp::Jmp => "kprobe_emulate_jmp",
            EmulateOp::Jcc => "kprobe_emulate_jcc",
            EmulateOp::Loop => "kprobe_emulate_loop",
            EmulateOp::CallIndirect => "kprobe_emulate_call_indirect",
            EmulateOp::JmpIndirect => "kprobe_emulate_jmp_indirect",
        }
    }

    /// Runs the handler: `p->ainsn.emulate_op(p, regs)` in v6.12 `setup_singlestep`, with `regs.ip` one past the
    /// probe address (just after the `int3`) on entry. Stack accesses go through `mem`; on a fault the registers
    /// are left unchanged (the kernel would Oops inside the `int3` handler).
    pub fn emulate(
        self,
        ainsn: &ArchSpecificInsn,
        regs: &mut PtRegs,
        mem: &mut dyn GuestMemory,
    ) -> Result<(), MemFault> {
        match self {
            EmulateOp::Ifmodifiers => kprobe_emulate_ifmodifiers(ainsn, regs, mem),
            EmulateOp::Ret => kprobe_emulate_ret(ainsn, regs, mem),
            EmulateOp::Call => kprobe_emulate_call(ainsn, regs, mem),
            EmulateOp::Jmp => {
                kprobe_emulate_jmp(ainsn, regs);
                Ok(())
            }
            EmulateOp::Jcc => {
                kprobe_emulate_jcc(ainsn, regs);
                Ok(())
            }
            EmulateOp::Loop => {
                kprobe_emulate_loop(ainsn, regs);
                Ok(())
            }
            EmulateOp::CallIndirect => kprobe_emulate_call_indirect(ainsn, regs, mem),
            EmulateOp::JmpIndirect => {
                kprobe_emulate_jmp_indirect(ainsn, regs);
                Ok(())
            }
        }
    }
}

/// `struct arch_specific_insn` (arch/x86/include/asm/kprobes.h), both versions' fields. In v6.12 `opcode`,
/// `jcc.type`, `loop.type` and `indirect.reg` share one byte (a union); they are separate here and only the one the
/// handler uses is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ArchSpecificInsn {
    /// `insn`: the slot address.
    pub insn: KernelVa,
    /// `boostable`: the slot ends with a `jmp` back (set at prepare time; v5.10's `resume_execution` may set it
    /// later too).
    pub boostable: bool,
    /// v5.10 `if_modifier`: `cli`/`sti`/`iret`/`popf` (`is_IF_modifier`).
    pub if_modifier: bool,
    /// `tp_len`: bytes written to the slot.
    pub tp_len: usize,
    /// v6.12 `emulate_op`.
    pub emulate_op: Option<EmulateOp>,
    /// v6.12 `size`: the instruction length (set only when `prepare_emulation` succeeds).
    pub size: u8,
    /// v6.12 `opcode` (for `kprobe_emulate_ifmodifiers`).
    pub opcode: u8,
    /// v6.12 `rel32`: the sign-extended branch displacement.
    pub rel32: i32,
    /// v6.12 `jcc.type`: the condition code (`opcode & 0xf`).
    pub jcc_type: u8,
    /// v6.12 `loop.type`: `opcode & 3` (0 LOOPNE, 1 LOOPE, 2 LOOP, 3 JCXZ).
    pub loop_type: u8,
    /// v6.12 `loop.asize`: the address size in bits (`addr_bytes * 8`).
    pub loop_asize: u8,
    /// v6.12 `indirect.reg`: the register number of `call/jmp *%reg` (REX.B included).
    pub indirect_reg: u8,
}

/// Why v6.12 `prepare_emulation` returned -EOPNOTSUPP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmulationError {
    /// `9a`: "far call absolute -- segment is not supported".
    #[error("far call absolute: segment is not supported")]
    FarCallAbsolute,
    /// `ea`: "far jmp absolute -- segment is not supported".
    #[error("far jmp absolute: segment is not supported")]
    FarJmpAbsolute,
    /// `cc`: int3 (already refused by `can_probe` in v6.12).
    #[error("int3")]
    Int3,
    /// `cf`: "iret -- in-kernel IRET is not supported".
    #[error("in-kernel IRET is not supported")]
    Iret,
    /// `0f 01` with ModRM.reg = 0 and mod = 3 (VMCALL, VMLAUNCH, VMRESUME, VMXOFF, ...): "VM extensions - not
    /// supported".
    #[error("VM extensions are not supported")]
    VmExtension,
    /// `ff /3` (far call) or `ff /5` (far jmp) indirect.
    #[error("far indirect call/jmp")]
    FarIndirect,
    /// `ff /2` or `ff /4` with an address-size prefix: "Don't support different size".
    #[error("indirect call/jmp with a different address size")]
    IndirectAddressSize,
    /// `ff /2` or `ff /4` through memory: "TODO: support memory addressing".
    #[error("indirect call/jmp through memory")]
    IndirectMemory,
}

/// Models v6.12 `prepare_emulation(p, insn)` (arch/x86/kernel/kprobes/core.c): picks the `emulate_op` for
/// instructions that change `ip` or `IF` and fills its parameters; sets `size` on success.
pub fn prepare_emulation(insn: &Insn, ainsn: &mut ArchSpecificInsn) -> Result<(), EmulationError> {
    let opcode = insn.opcode.byte(0);
    match opcode {
        0xfa | 0xfb | 0x9c | 0x9d => {
            // IF modifiers must be emulated since it will enable interrupt while int3 single stepping.
            ainsn.emulate_op = Some(EmulateOp::Ifmodifiers);
            ainsn.opcode = opcode;
        }
        0xc2 | 0xc3 | 0xca | 0xcb => ainsn.emulate_op = Some(EmulateOp::Ret),
        0x9a => return Err(EmulationError::FarCallAbsolute),
        0xea => return Err(EmulationError::FarJmpAbsolute),
        0xcc => return Err(EmulationError::Int3),
        0xcf => return Err(EmulationError::Iret),
        0xe8 => {
            ainsn.emulate_op = Some(EmulateOp::Call);
            ainsn.rel32 = insn.immediate.value; // s16 or s32, already sign-extended
        }
        0xeb | 0xe9 => {
            ainsn.emulate_op = Some(EmulateOp::Jmp);
            ainsn.rel32 = insn.immediate.value;
        }
        0x70..=0x7f => {
            ainsn.emulate_op = Some(EmulateOp::Jcc);
            ainsn.jcc_type = opcode & 0xf;
            ainsn.rel32 = insn.immediate.value;
        }
        0x0f => {
            let op2 = insn.opcode.byte(1);
            let modrm = insn.modrm.byte(0);
            if op2 & 0xf0 == 0x80 {
                ainsn.emulate_op = Some(EmulateOp::Jcc);
                ainsn.jcc_type = op2 & 0xf;
                ainsn.rel32 = insn.immediate.value;
            } else if op2 == 0x01 && x86_modrm_reg(modrm) == 0 && x86_modrm_mod(modrm) == 3 {
                return Err(EmulationError::VmExtension);
            }
        }
        0xe0..=0xe3 => {
            ainsn.emulate_op = Some(EmulateOp::Loop);
            ainsn.loop_type = opcode & 0x3;
            ainsn.loop_asize = insn.addr_bytes.wrapping_mul(8);
            ainsn.rel32 = i32::from(insn.immediate.value as i8);
        }
        0xff => {
            // "Since the 0xff is an extended group opcode, the instruction is determined by the MOD/RM byte."
            let modrm = insn.modrm.byte(0);
            if modrm & 0x30 == 0x10 {
                if modrm & 0x8 == 0x8 {
                    return Err(EmulationError::FarIndirect); // far call
                }
                ainsn.emulate_op = Some(EmulateOp::CallIndirect);
            } else if modrm & 0x30 == 0x20 {
                if modrm & 0x8 == 0x8 {
                    return Err(EmulationError::FarIndirect); // far jmp
                }
                ainsn.emulate_op = Some(EmulateOp::JmpIndirect);
            }
            if ainsn.emulate_op.is_some() {
                if insn.addr_bytes != 8 {
                    return Err(EmulationError::IndirectAddressSize);
                }
                if x86_modrm_mod(modrm) != 3 {
                    return Err(EmulationError::IndirectMemory);
                }
                ainsn.indirect_reg = x86_modrm_rm(modrm);
                if x86_rex_b(insn.rex_prefix.byte(0)) {
                    ainsn.indirect_reg += 8;
                }
            }
        }
        _ => {}
    }
    ainsn.size = insn.length;
    Ok(())
}

/// v5.10 `skip_prefixes(insn)` (arch/x86/kernel/kprobes/core.c): the index of the first byte after the legacy
/// prefixes and one REX prefix. (It does not know VEX: a VEX instruction's first byte after prefixes is `c4`/`c5`.)
#[must_use]
pub fn skip_prefixes(bytes: &[u8]) -> usize {
    let mut i = 0;
    while bytes.get(i).is_some_and(|&b| inat_is_legacy_prefix(b)) {
        i += 1;
    }
    if bytes.get(i).is_some_and(|&b| inat_is_rex_prefix(b)) {
        i += 1;
    }
    i
}

/// Models v5.10 `is_IF_modifier(insn)` (arch/x86/kernel/kprobes/core.c): after [`skip_prefixes`], `cli`, `sti`,
/// `iret` or `popf`.
#[allow(non_snake_case)]
#[must_use]
pub fn is_IF_modifier(bytes: &[u8]) -> bool {
    matches!(bytes.get(skip_prefixes(bytes)), Some(0xfa | 0xfb | 0xcf | 0x9d))
}

// ---------------------------------------------------------------------------------------------------------------
// slot layout: synthesize_reljump, prepare_boost (v5.10), prepare_singlestep (v6.12)
// ---------------------------------------------------------------------------------------------------------------

/// `__synthesize_relative_insn(dest, from, to, op)`: `op` followed by `(s32)(to - (from + 5))`, truncated
/// without a range check as in the kernel.
#[must_use]
pub fn synthesize_relative_insn(from: KernelVa, to: KernelVa, op: u8) -> [u8; 5] {
    let raddr = to.0.wrapping_sub(from.0.wrapping_add(5)) as i64 as i32;
    let d = raddr.to_le_bytes();
    [op, d[0], d[1], d[2], d[3]]
}

/// `synthesize_reljump(dest, from, to)`: a `jmp rel32` at `from` to `to`.
#[must_use]
pub fn synthesize_reljump(from: KernelVa, to: KernelVa) -> [u8; 5] {
    synthesize_relative_insn(from, to, JMP32_INSN_OPCODE)
}

/// `synthesize_relcall(dest, from, to)`: a `call rel32` at `from` to `to`.
#[must_use]
pub fn synthesize_relcall(from: KernelVa, to: KernelVa) -> [u8; 5] {
    synthesize_relative_insn(from, to, CALL_INSN_OPCODE)
}

/// Models v5.10 `prepare_boost(buf, p, insn)`: if `can_boost` and a `jmp rel32` fits after the instruction in
/// the [`MAX_INSN_SIZE`] slot, append a jump from the slot back to `addr + len` and set `boostable`. Returns the
/// slot length. (The post handler does not matter here in v5.10; `setup_singlestep` checks it at hit time.)
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

/// Models v6.12 `prepare_singlestep(buf, p, insn)`: boost (append `jmp rel32` back, set `boostable`) if
/// `!CONFIG_PREEMPTION && !p->post_handler && can_boost` and it fits; otherwise append an `int3` for the
/// single-step trap, failing with -ENOSPC ([`None`]) if the instruction fills the whole slot. Returns the slot
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
    /// The (negative) errno `arch_prepare_kprobe` returns.
    #[must_use]
    pub fn errno(&self) -> i32 {
        -match self {
            X86PrepareError::AlternativesTextReserved | X86PrepareError::Copy(_) => EINVAL,
            X86PrepareError::CanProbe(_) => EILSEQ,
            X86PrepareError::Emulation(_) => EOPNOTSUPP,
            X86PrepareError::NoSpace => ENOSPC,
        }
    }

    /// The errno's name (`"EILSEQ"`, ...).
    #[must_use]
    pub fn errno_name(&self) -> &'static str {
        match self {
            X86PrepareError::AlternativesTextReserved | X86PrepareError::Copy(_) => "EINVAL",
            X86PrepareError::CanProbe(_) => "EILSEQ",
            X86PrepareError::Emulation(_) => "EOPNOTSUPP",
            X86PrepareError::NoSpace => "ENOSPC",
        }
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
    /// [`resume_execution`]); v6.12 boosts when `boostable` (only ever set under the same conditions), then
    /// emulates if there is an `emulate_op`, else single-steps.
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

// ---------------------------------------------------------------------------------------------------------------
// Hit path pieces: saved flags, int3_emulate_*, kprobe_emulate_* (v6.12), resume_singlestep (v6.12),
// resume_execution (v5.10)
// ---------------------------------------------------------------------------------------------------------------

/// `kcb->kprobe_old_flags` and `kcb->kprobe_saved_flags` (struct kprobe_ctlblk).
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

/// `int3_emulate_jmp(regs, ip)` (asm/text-patching.h).
pub fn int3_emulate_jmp(regs: &mut PtRegs, ip: u64) {
    regs.ip = ip;
}

/// `int3_emulate_push(regs, val)` (asm/text-patching.h): `sp -= 8; *(unsigned long *)sp = val`. (The `int3` entry
/// leaves a gap below the interrupted stack, so this cannot clobber `pt_regs`.)
pub fn int3_emulate_push(regs: &mut PtRegs, val: u64, mem: &mut dyn GuestMemory) -> Result<(), MemFault> {
    let sp = regs.sp.wrapping_sub(8);
    mem.write(KernelVa(sp), &val.to_le_bytes())?;
    regs.sp = sp;
    Ok(())
}

/// `int3_emulate_pop(regs)` (asm/text-patching.h).
pub fn int3_emulate_pop(regs: &mut PtRegs, mem: &dyn GuestMemory) -> Result<u64, MemFault> {
    let val = mem.read_u64(KernelVa(regs.sp))?;
    regs.sp = regs.sp.wrapping_add(8);
    Ok(val)
}

/// `int3_emulate_call(regs, func)` (asm/text-patching.h): pushes `regs->ip - INT3_INSN_SIZE + CALL_INSN_SIZE` (a
/// 5-byte call is assumed) and jumps to `func`.
pub fn int3_emulate_call(regs: &mut PtRegs, func: u64, mem: &mut dyn GuestMemory) -> Result<(), MemFault> {
    let ret = regs.ip.wrapping_sub(INT3_INSN_SIZE as u64).wrapping_add(CALL_INSN_SIZE as u64);
    int3_emulate_push(regs, ret, mem)?;
    int3_emulate_jmp(regs, func);
    Ok(())
}

/// `int3_emulate_ret(regs)` (asm/text-patching.h).
pub fn int3_emulate_ret(regs: &mut PtRegs, mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let ip = int3_emulate_pop(regs, mem)?;
    int3_emulate_jmp(regs, ip);
    Ok(())
}

/// The condition test of `int3_emulate_jcc` (asm/text-patching.h): `cc` is the low nibble of the `Jcc` opcode
/// (0 O, 1 NO, 2 B, 3 AE, 4 E, 5 NE, 6 BE, 7 A, 8 S, 9 NS, A P, B NP, C L, D GE, E LE, F G).
#[must_use]
pub fn int3_emulate_jcc_taken(flags: u64, cc: u8) -> bool {
    const JCC_MASK: [u64; 6] =
        [X86_EFLAGS_OF, X86_EFLAGS_CF, X86_EFLAGS_ZF, X86_EFLAGS_CF | X86_EFLAGS_ZF, X86_EFLAGS_SF, X86_EFLAGS_PF];
    let cc = cc & 0xf;
    let invert = cc & 1 != 0;
    let matched = if cc < 0xc {
        flags & JCC_MASK[usize::from(cc >> 1)] != 0
    } else {
        let m = ((flags & X86_EFLAGS_SF) >> X86_EFLAGS_SF_BIT) ^ ((flags & X86_EFLAGS_OF) >> X86_EFLAGS_OF_BIT) != 0;
        m || (cc >= 0xe && flags & X86_EFLAGS_ZF != 0)
    };
    matched != invert
}

/// `int3_emulate_jcc(regs, cc, ip, disp)` (asm/text-patching.h): `ip + disp` if the condition holds on
/// `regs->flags`, else `ip`.
pub fn int3_emulate_jcc(regs: &mut PtRegs, cc: u8, ip: u64, disp: u64) {
    let ip = if int3_emulate_jcc_taken(regs.flags, cc) { ip.wrapping_add(disp) } else { ip };
    int3_emulate_jmp(regs, ip);
}

/// `regs->ip - INT3_INSN_SIZE + p->ainsn.size`: the address after the probed instruction, from the `int3` handler.
fn next_ip(ainsn: &ArchSpecificInsn, regs: &PtRegs) -> u64 {
    regs.ip.wrapping_sub(INT3_INSN_SIZE as u64).wrapping_add(u64::from(ainsn.size))
}

/// `(long)p->ainsn.rel32`, as added to an `unsigned long`.
fn rel(ainsn: &ArchSpecificInsn) -> u64 {
    i64::from(ainsn.rel32) as u64
}

/// Models v6.12 `kprobe_emulate_ifmodifiers`: `cli` clears IF, `sti` sets it, `pushf` pushes `regs->flags`, `popf`
/// loads `regs->flags` from the stack (unfiltered); then `ip` moves past the instruction.
pub fn kprobe_emulate_ifmodifiers(
    ainsn: &ArchSpecificInsn,
    regs: &mut PtRegs,
    mem: &mut dyn GuestMemory,
) -> Result<(), MemFault> {
    match ainsn.opcode {
        0xfa => regs.flags &= !X86_EFLAGS_IF,
        0xfb => regs.flags |= X86_EFLAGS_IF,
        0x9c => {
            let flags = regs.flags;
            int3_emulate_push(regs, flags, mem)?;
        }
        0x9d => regs.flags = int3_emulate_pop(regs, mem)?,
        _ => {}
    }
    regs.ip = next_ip(ainsn, regs);
    Ok(())
}

/// Models v6.12 `kprobe_emulate_ret`: `int3_emulate_ret` (the `imm16` of `ret imm16` is not applied, and `lret`
/// pops no `cs`: exactly as the kernel).
pub fn kprobe_emulate_ret(
    _ainsn: &ArchSpecificInsn,
    regs: &mut PtRegs,
    mem: &mut dyn GuestMemory,
) -> Result<(), MemFault> {
    int3_emulate_ret(regs, mem)
}

/// Models v6.12 `kprobe_emulate_call`: `int3_emulate_call(regs, ip_after + rel32)`; the pushed return address is
/// `probe + 5` whatever the instruction's size.
pub fn kprobe_emulate_call(
    ainsn: &ArchSpecificInsn,
    regs: &mut PtRegs,
    mem: &mut dyn GuestMemory,
) -> Result<(), MemFault> {
    let func = next_ip(ainsn, regs).wrapping_add(rel(ainsn));
    int3_emulate_call(regs, func, mem)
}

/// Models v6.12 `kprobe_emulate_jmp`.
pub fn kprobe_emulate_jmp(ainsn: &ArchSpecificInsn, regs: &mut PtRegs) {
    let ip = next_ip(ainsn, regs).wrapping_add(rel(ainsn));
    int3_emulate_jmp(regs, ip);
}

/// Models v6.12 `kprobe_emulate_jcc`: `int3_emulate_jcc(regs, jcc.type, ip_after, rel32)`.
pub fn kprobe_emulate_jcc(ainsn: &ArchSpecificInsn, regs: &mut PtRegs) {
    let ip = next_ip(ainsn, regs);
    int3_emulate_jcc(regs, ainsn.jcc_type, ip, rel(ainsn));
}

/// Models v6.12 `kprobe_emulate_loop`, including its post-decrement (the *old* count is compared with 0) and its
/// partial write-back of `cx` for 32-bit (and 16-bit) address sizes. JCXZ (`type` 3) tests without decrementing;
/// LOOPNE (0) also needs ZF clear, LOOPE (1) ZF set.
pub fn kprobe_emulate_loop(ainsn: &ArchSpecificInsn, regs: &mut PtRegs) {
    let ip = next_ip(ainsn, regs);
    let cx = regs.cx;
    let mut matched = if ainsn.loop_type != 3 {
        // LOOP*: match = ((*(uN *)&regs->cx)--) != 0
        match ainsn.loop_asize {
            32 => {
                let old = cx as u32;
                regs.cx = (cx & !0xffff_ffff) | u64::from(old.wrapping_sub(1));
                old != 0
            }
            64 => {
                regs.cx = cx.wrapping_sub(1);
                cx != 0
            }
            _ => {
                let old = cx as u16;
                regs.cx = (cx & !0xffff) | u64::from(old.wrapping_sub(1));
                old != 0
            }
        }
    } else {
        // JCXZ
        match ainsn.loop_asize {
            32 => cx as u32 == 0,
            64 => cx == 0,
            _ => cx as u16 == 0,
        }
    };
    if ainsn.loop_type == 0 {
        matched = matched && regs.flags & X86_EFLAGS_ZF == 0; // LOOPNE
    } else if ainsn.loop_type == 1 {
        matched = matched && regs.flags & X86_EFLAGS_ZF != 0; // LOOPE
    }
    let ip = if matched { ip.wrapping_add(rel(ainsn)) } else { ip };
    int3_emulate_jmp(regs, ip);
}

/// `regs_get_register(regs, addrmode_regoffs[reg])` (arch/x86/kernel/kprobes/core.c): register number `reg` in
/// ModRM/REX order (ax, cx, dx, bx, sp, bp, si, di, r8..r15).
#[must_use]
pub fn addrmode_reg(regs: &PtRegs, reg: u8) -> u64 {
    match reg & 0xf {
        0 => regs.ax,
        1 => regs.cx,
        2 => regs.dx,
        3 => regs.bx,
        4 => regs.sp,
        5 => regs.bp,
        6 => regs.si,
        7 => regs.di,
        8 => regs.r8,
        9 => regs.r9,
        10 => regs.r10,
        11 => regs.r11,
        12 => regs.r12,
        13 => regs.r13,
        14 => regs.r14,
        _ => regs.r15,
    }
}

/// Models v6.12 `kprobe_emulate_call_indirect` (with v6.7's fix): push `ip_after` (the real size), jump to the
/// register's value (read before the push, so `call *%rsp` jumps to the old `rsp`).
pub fn kprobe_emulate_call_indirect(
    ainsn: &ArchSpecificInsn,
    regs: &mut PtRegs,
    mem: &mut dyn GuestMemory,
) -> Result<(), MemFault> {
    let ret = next_ip(ainsn, regs);
    let target = addrmode_reg(regs, ainsn.indirect_reg);
    int3_emulate_push(regs, ret, mem)?;
    int3_emulate_jmp(regs, target);
    Ok(())
}

/// Models v6.12 `kprobe_emulate_jmp_indirect`.
pub fn kprobe_emulate_jmp_indirect(ainsn: &ArchSpecificInsn, regs: &mut PtRegs) {
    let target = addrmode_reg(regs, ainsn.indirect_reg);
    int3_emulate_jmp(regs, target);
}

/// Models v6.12 `resume_singlestep(p, regs, kcb)`, at the second `int3` (in the slot, after the copy): restore the
/// saved IF and move `ip` from the slot back to the original text: `ip += (orig_ip - copy_ip) - INT3_INSN_SIZE`.
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
mod tests {
    use super::*;
    use crate::kallsyms::Symbol;
    use crate::machine::MemFaultKind;
    use std::collections::{BTreeMap, BTreeSet};

    /// Where the test kernel text lives (`__START_KERNEL_map + 16M`, as on a real x86_64 kernel).
    const TEXT: u64 = 0xffff_ffff_8100_0000;
    /// `.text.unlikely` of the fixtures.
    const COLD: u64 = 0xffff_ffff_8110_0000;
    /// A kprobe slot in the module area (`MODULES_VADDR`), within ±2 GiB of the text like `module_alloc` memory.
    const SLOT: u64 = 0xffff_ffff_a000_0000;
    /// A kernel stack.
    const STACK: u64 = 0xffff_c900_0001_0000;

    const C510: X86KprobesConfig = X86KprobesConfig::V5_10;
    const C612: X86KprobesConfig = X86KprobesConfig::V6_12;
    const C612_NOPREEMPT: X86KprobesConfig = X86KprobesConfig { preemption: false, ..X86KprobesConfig::V6_12 };

    /// Mapped regions; everything else faults.
    #[derive(Default)]
    struct Mem {
        regions: BTreeMap<u64, Vec<u8>>,
    }

    impl Mem {
        fn map(&mut self, base: u64, bytes: Vec<u8>) {
            self.regions.insert(base, bytes);
        }
        fn locate(&self, va: u64, len: usize) -> Option<(u64, usize)> {
            let (&base, bytes) = self.regions.range(..=va).next_back()?;
            let off = usize::try_from(va - base).ok()?;
            (off.checked_add(len)? <= bytes.len()).then_some((base, off))
        }
        fn u64_at(&self, va: u64) -> u64 {
            self.read_u64(KernelVa(va)).unwrap()
        }
    }

    impl GuestMemory for Mem {
        fn read(&self, va: KernelVa, buf: &mut [u8]) -> Result<(), MemFault> {
            let (base, off) = self.locate(va.0, buf.len()).ok_or(MemFault { va, kind: MemFaultKind::Unmapped })?;
            buf.copy_from_slice(&self.regions[&base][off..off + buf.len()]);
            Ok(())
        }
        fn write(&mut self, va: KernelVa, data: &[u8]) -> Result<(), MemFault> {
            let (base, off) = self.locate(va.0, data.len()).ok_or(MemFault { va, kind: MemFaultKind::Unmapped })?;
            self.regions.get_mut(&base).unwrap()[off..off + data.len()].copy_from_slice(data);
            Ok(())
        }
    }

    fn text_sym(name: &str, addr: u64, size: u64) -> Symbol {
        Symbol { name: name.into(), addr: KernelVa(addr), size, kind: SymbolKind::Text, global: true }
    }

    /// A function `f` at TEXT holding `body` then `ret` and NOP padding, followed by function `g`; plus a stack.
    fn one_function(body: &[u8]) -> (Mem, Kallsyms) {
        let mut text = body.to_vec();
        text.push(0xc3);
        text.resize(text.len() + 32, 0x90);
        let size = text.len() as u64;
        text.extend_from_slice(&[0xc3; 16]);
        let mut mem = Mem::default();
        mem.map(TEXT, text);
        mem.map(STACK - 0x1000, vec![0; 0x2000]);
        let ks = Kallsyms::new(vec![text_sym("f", TEXT, size), text_sym("g", TEXT + size, 16)]);
        (mem, ks)
    }

    fn class_name(c: &X86ProbeClass) -> String {
        match c {
            X86ProbeClass::Rejected(e) => format!("rejected:{}", e.errno_name()),
            other => other.kernel_name(),
        }
    }

    fn classify_one(body: &[u8], cfg: X86KprobesConfig, post: bool) -> X86ProbeClass {
        let (mem, ks) = one_function(body);
        classify(KernelVa(TEXT), KernelVa(SLOT), post, &mem, &ks, &PristineText, cfg)
    }

    fn prepare_one(body: &[u8], cfg: X86KprobesConfig) -> X86Kprobe {
        let (mem, ks) = one_function(body);
        arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &PristineText, cfg)
            .unwrap_or_else(|e| panic!("{body:02x?}: {e}"))
    }

    /// Encodings from `echo '<insn>' | llvm-mc --triple=x86_64 --show-encoding` (or `as` + `objdump -d`).
    /// Columns: v5.10 (PREEMPTION=n), v6.12 defaults (PREEMPTION=y), v6.12 with PREEMPTION=n; no post handler.
    #[rustfmt::skip]
    const TABLE: &[(&str, &[u8], [&str; 3])] = &[
        ("push %rbp",                 &[0x55],                                   ["boosted", "single-step", "boosted"]),
        ("ret",                       &[0xc3],                                   ["boosted", "emulated:ret", "boosted"]),
        ("ret $8",                    &[0xc2, 0x08, 0x00],                       ["boosted", "emulated:ret", "boosted"]),
        ("call .+5",                  &[0xe8, 0, 0, 0, 0],                       ["single-step", "emulated:call", "emulated:call"]),
        ("data16 call (66 e8 rel32)", &[0x66, 0xe8, 0, 0, 0, 0],                 ["single-step", "emulated:call", "emulated:call"]),
        ("jne .+0x12",                &[0x75, 0x10],                             ["single-step", "emulated:jcc", "emulated:jcc"]),
        ("je .+0x16 (rel32)",         &[0x0f, 0x84, 0x10, 0, 0, 0],              ["single-step", "emulated:jcc", "emulated:jcc"]),
        ("jmp .+0x12",                &[0xeb, 0x10],                             ["single-step", "emulated:jmp", "emulated:jmp"]),
        ("jmp .+0x15 (rel32)",        &[0xe9, 0x10, 0, 0, 0],                    ["single-step", "emulated:jmp", "emulated:jmp"]),
        ("call *%rax",                &[0xff, 0xd0],                             ["single-step", "emulated:call_indirect", "emulated:call_indirect"]),
        ("jmp *%rax",                 &[0xff, 0xe0],                             ["single-step", "emulated:jmp_indirect", "boosted"]),
        ("call *0x0(,%rax,8)",        &[0xff, 0x14, 0xc5, 0, 0, 0, 0],           ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("notrack jmp *0x0(,%rdi,8)", &[0x3e, 0xff, 0x24, 0xfd, 0, 0, 0, 0],     ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("addr32 call *%rax",         &[0x67, 0xff, 0xd0],                       ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("lcall *(%rax)",             &[0xff, 0x18],                             ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("pushf",                     &[0x9c],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
        ("popf",                      &[0x9d],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
        ("cli",                       &[0xfa],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
        ("sti",                       &[0xfb],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
        ("int3",                      &[0xcc],                                   ["rejected:EINVAL", "rejected:EILSEQ", "rejected:EILSEQ"]),
        ("ud2",                       &[0x0f, 0x0b],                             ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
        ("ud1 %eax,%eax",             &[0x0f, 0xb9, 0xc0],                       ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
        ("int $0x80",                 &[0xcd, 0x80],                             ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
        ("int1",                      &[0xf1],                                   ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
        ("into (i64)",                &[0xce],                                   ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
        ("mov %eax,%ss",              &[0x8e, 0xd0],                             ["rejected:EINVAL", "rejected:EINVAL", "rejected:EINVAL"]),
        ("ljmp $0x10,$0x12345678",    &[0xea, 0x78, 0x56, 0x34, 0x12, 0x10, 0],  ["boosted", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("lcall $0x10,$0x12345678",   &[0x9a, 0x78, 0x56, 0x34, 0x12, 0x10, 0],  ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("iretq",                     &[0x48, 0xcf],                             ["boosted", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("vmcall",                    &[0x0f, 0x01, 0xc1],                       ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
        ("loop .",                    &[0xe2, 0xfe],                             ["single-step", "emulated:loop", "emulated:loop"]),
        ("jrcxz .",                   &[0xe3, 0xfe],                             ["single-step", "emulated:loop", "emulated:loop"]),
        ("mov 0x10(%rip),%rax",       &[0x48, 0x8b, 0x05, 0x10, 0, 0, 0],        ["boosted", "single-step", "boosted"]),
        ("endbr64",                   &[0xf3, 0x0f, 0x1e, 0xfa],                 ["single-step", "single-step", "single-step"]),
        ("nopl 0x0(%rax,%rax,1)",     &[0x0f, 0x1f, 0x44, 0, 0],                 ["boosted", "single-step", "boosted"]),
        ("cs nopw 0x0(%rax,%rax,1)",  &[0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0],  ["boosted", "single-step", "boosted"]),
        ("addr32 mov (%eax),%eax",    &[0x67, 0x8b, 0x00],                       ["boosted", "single-step", "single-step"]),
        ("cs mov (%rax),%eax",        &[0x2e, 0x8b, 0x00],                       ["boosted", "single-step", "single-step"]),
        ("vpshufd $0x1b,%xmm0,%xmm0", &[0xc5, 0xf9, 0x70, 0xc0, 0x1b],           ["single-step", "emulated:jcc", "emulated:jcc"]),
        ("vpsubd %xmm0,%xmm0,%xmm0",  &[0xc5, 0xf9, 0xfa, 0xc0],                 ["boosted", "emulated:ifmodifiers", "boosted"]),
        ("vmovdqu (%rsi),%ymm0",      &[0xc5, 0xfe, 0x6f, 0x06],                 ["boosted", "single-step", "boosted"]),
        ("15-byte nopw",              &[0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0],
                                                                                 ["single-step", "rejected:ENOSPC", "rejected:ENOSPC"]),
        ("movq $1,0x100(%rsp)",       &[0x48, 0xc7, 0x84, 0x24, 0, 1, 0, 0, 1, 0, 0, 0],
                                                                                 ["single-step", "single-step", "single-step"]),
        ("lock xadd %edx,0x0(%rip)",  &[0xf0, 0x0f, 0xc1, 0x15, 0, 0, 0, 0],     ["boosted", "single-step", "boosted"]),
        ("lock incl 0x0(%rip)",       &[0xf0, 0xff, 0x05, 0, 0, 0, 0],           ["single-step", "single-step", "boosted"]),
        ("neg %rax",                  &[0x48, 0xf7, 0xd8],                       ["single-step", "single-step", "boosted"]),
        ("test $1,%eax (f7 /0)",      &[0xf7, 0xc0, 1, 0, 0, 0],                 ["single-step", "single-step", "boosted"]),
        ("divl 0x0(%rip)",            &[0xf7, 0x35, 0, 0, 0, 0],                 ["single-step", "single-step", "boosted"]),
        ("shl $4,%rdi",               &[0x48, 0xc1, 0xe7, 0x04],                 ["single-step", "single-step", "boosted"]),
        ("sal %eax (d1 /6)",          &[0xd1, 0xf0],                             ["single-step", "single-step", "single-step"]),
        ("inc %al",                   &[0xfe, 0xc0],                             ["single-step", "single-step", "boosted"]),
        ("push (%rax) (ff /6)",       &[0xff, 0x30],                             ["single-step", "single-step", "single-step"]),
        ("hlt",                       &[0xf4],                                   ["single-step", "single-step", "single-step"]),
        ("syscall",                   &[0x0f, 0x05],                             ["single-step", "single-step", "single-step"]),
        ("rep stos %rax,%es:(%rdi)",  &[0xf3, 0x48, 0xab],                       ["boosted", "single-step", "boosted"]),
        ("xen emulate prefix + cpuid",&[0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2],
                                                                                 ["rejected:EINVAL", "rejected:EINVAL", "rejected:EINVAL"]),
    ];

    #[test]
    fn classification_table() {
        let cfgs = [C510, C612, C612_NOPREEMPT];
        let mut failures = Vec::new();
        for (what, bytes, expected) in TABLE {
            for (cfg, want) in cfgs.iter().zip(expected) {
                let got = classify_one(bytes, *cfg, false);
                if class_name(&got) != *want {
                    failures.push(format!("{what} ({bytes:02x?}) on {:?}: got {got}, want {want}", cfg));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn post_handler_disables_boosting_in_both() {
        assert_eq!(classify_one(&[0x55], C510, true), X86ProbeClass::SingleStep);
        assert_eq!(classify_one(&[0xc3], C510, true), X86ProbeClass::SingleStep);
        assert_eq!(classify_one(&[0x55], C612_NOPREEMPT, true), X86ProbeClass::SingleStep);
        assert_eq!(classify_one(&[0xc3], C612_NOPREEMPT, true), X86ProbeClass::Emulated(EmulateOp::Ret));
        // v5.10 prepares the boost jump anyway; only setup_singlestep looks at the post handler.
        let (mem, ks) = one_function(&[0x55]);
        let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), true, &mem, &ks, &PristineText, C510).unwrap();
        assert!(kp.ainsn.boostable);
        let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), true, &mem, &ks, &PristineText, C612_NOPREEMPT)
            .unwrap();
        assert!(!kp.ainsn.boostable);
        // With CONFIG_PREEMPTION a v5.10 probe is never boosted at the hit, even if prepared boostable.
        let preempt_510 = X86KprobesConfig { preemption: true, ..C510 };
        assert_eq!(classify_one(&[0x55], preempt_510, false), X86ProbeClass::SingleStep);
    }

    #[test]
    fn kernel_names_and_errnos() {
        assert_eq!(X86ProbeClass::Emulated(EmulateOp::Jcc).kernel_name(), "emulated:jcc");
        assert_eq!(X86ProbeClass::Emulated(EmulateOp::CallIndirect).kernel_name(), "emulated:call_indirect");
        assert_eq!(X86ProbeClass::SingleStep.kernel_name(), "single-step");
        assert_eq!(X86ProbeClass::Boosted.kernel_name(), "boosted");
        let r = X86ProbeClass::Rejected(X86PrepareError::CanProbe(CanProbeError::ExceptionInsn));
        assert_eq!(r.kernel_name(), "rejected");
        assert_eq!(X86PrepareError::CanProbe(CanProbeError::NoSymbol).errno(), -84);
        assert_eq!(X86PrepareError::Copy(CopyError::Int3).errno(), -22);
        assert_eq!(X86PrepareError::Emulation(EmulationError::Iret).errno(), -95);
        assert_eq!(X86PrepareError::NoSpace.errno(), -28);
        assert_eq!(X86PrepareError::AlternativesTextReserved.errno(), -22);
        assert_eq!(EmulateOp::Loop.kernel_function(), "kprobe_emulate_loop");
    }

    #[test]
    fn twobyte_table_matches_the_kernel_rows() {
        // Spot checks against the W() rows: 0f 05 syscall no, 0f 1f nop yes, 0f 0b ud2 no, 0f 40..4f cmov yes,
        // 0f 80..8f jcc no, 0f a2 cpuid no, 0f af imul yes, 0f b6 movzx yes, 0f c1 xadd yes, 0f c7 grp9 no.
        for (op, want) in [
            (0x05, false),
            (0x1f, true),
            (0x0b, false),
            (0x45, true),
            (0x84, false),
            (0xa2, false),
            (0xaf, true),
            (0xb6, true),
            (0xc1, true),
            (0xc7, false),
            (0x1e, false),
            (0xff, false),
            (0x02, true),
        ] {
            assert_eq!(twobyte_is_boostable(op), want, "0f {op:02x}");
        }
        // Row sums 5+1+4+1+16+0+14+6+0+16+11+13+10+10+9+10.
        assert_eq!((0..=255u8).filter(|&op| twobyte_is_boostable(op)).count(), 126);
    }

    #[test]
    fn can_boost_honours_the_exception_table() {
        struct Extable;
        impl X86KprobesEnv for Extable {
            fn search_exception_tables(&self, addr: KernelVa) -> bool {
                addr == KernelVa(TEXT)
            }
        }
        let insn = insn_decode_kernel(&[0x55]).unwrap();
        for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
            assert!(can_boost(&insn, KernelVa(TEXT + 1), &Extable, p));
            assert!(!can_boost(&insn, KernelVa(TEXT), &Extable, p));
        }
        let (mem, ks) = one_function(&[0x48, 0x8b, 0x07]);
        let c = classify(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &Extable, C510);
        assert_eq!(c, X86ProbeClass::SingleStep);
    }

    #[test]
    fn can_probe_walks_from_the_symbol_start() {
        // push %rbp; mov %rsp,%rbp; pop %rbp; ret
        let (mem, ks) = one_function(&[0x55, 0x48, 0x89, 0xe5, 0x5d]);
        for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
            for ok in [0, 1, 4, 5, 6, 7] {
                assert_eq!(can_probe(KernelVa(TEXT + ok), &mem, &ks, &PristineText, p), Ok(()), "+{ok}");
            }
            for mid in [2, 3] {
                assert_eq!(
                    can_probe(KernelVa(TEXT + mid), &mem, &ks, &PristineText, p),
                    Err(CanProbeError::NotInstructionBoundary {
                        insn_start: KernelVa(TEXT + 1),
                        insn_end: KernelVa(TEXT + 4)
                    })
                );
            }
            assert_eq!(can_probe(KernelVa(TEXT - 1), &mem, &ks, &PristineText, p), Err(CanProbeError::NoSymbol));
        }
        let e = classify(KernelVa(TEXT + 2), KernelVa(SLOT), false, &mem, &ks, &PristineText, C612);
        assert_eq!(class_name(&e), "rejected:EILSEQ");
    }

    #[test]
    fn can_probe_int3_before_the_probe_point() {
        // int3; nop; ret: probing the nop.
        let (mem, ks) = one_function(&[0xcc, 0x90]);
        let at = KernelVa(TEXT + 1);
        assert_eq!(
            can_probe(at, &mem, &ks, &PristineText, KernelProfile::V5_10),
            Err(CanProbeError::ForeignInt3 { addr: KernelVa(TEXT) })
        );
        assert_eq!(can_probe(at, &mem, &ks, &PristineText, KernelProfile::V6_12), Ok(()));
        struct Kgdb;
        impl X86KprobesEnv for Kgdb {
            fn kgdb_has_hit_break(&self, addr: KernelVa) -> bool {
                addr == KernelVa(TEXT)
            }
        }
        assert_eq!(
            can_probe(at, &mem, &ks, &Kgdb, KernelProfile::V6_12),
            Err(CanProbeError::KgdbBreakpoint { addr: KernelVa(TEXT) })
        );
    }

    /// A kprobe is armed at TEXT (its int3 replaced `push %rbp`).
    struct ArmedAtText;
    impl X86KprobesEnv for ArmedAtText {
        fn kprobe_opcode(&self, addr: KernelVa) -> Option<u8> {
            (addr == KernelVa(TEXT)).then_some(0x55)
        }
    }

    #[test]
    fn recovery_sees_through_an_armed_kprobe() {
        let (mut mem, ks) = one_function(&[0x55, 0x48, 0x89, 0xe5, 0x5d]);
        mem.write(KernelVa(TEXT), &[INT3_INSN_OPCODE]).unwrap();
        for cfg in [C510, C612] {
            // The walk recovers the original byte, so the next instruction is probeable.
            assert_eq!(can_probe(KernelVa(TEXT + 1), &mem, &ks, &ArmedAtText, cfg.profile), Ok(()));
            // Preparing a second probe at the same address copies the original instruction, not the int3.
            let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &ArmedAtText, cfg).unwrap();
            assert_eq!((kp.opcode, kp.slot_bytes[0]), (0x55, 0x55));
        }
        // Without knowing about the probe, v5.10 sees a foreign int3 and v6.12 refuses to probe an int3.
        assert!(can_probe(KernelVa(TEXT + 1), &mem, &ks, &PristineText, KernelProfile::V5_10).is_err());
        assert_eq!(
            can_probe(KernelVa(TEXT), &mem, &ks, &PristineText, KernelProfile::V6_12),
            Err(CanProbeError::ExceptionInsn)
        );
        assert_eq!(
            class_name(&classify(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &PristineText, C510)),
            "rejected:EINVAL"
        );
    }

    #[test]
    fn recovery_of_ftrace_sites() {
        // A traced function: `call __fentry__` where the NOP5 was, then push %rbp.
        struct Ftrace;
        impl X86KprobesEnv for Ftrace {
            fn ftrace_location(&self, addr: KernelVa) -> Option<KernelVa> {
                (addr.0 >= TEXT && addr.0 < TEXT + 5).then_some(KernelVa(TEXT))
            }
        }
        let (mem, ks) = one_function(&[0xe8, 0x11, 0x22, 0x33, 0x44, 0x55]);
        for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
            let RecoveredInsn::Buf(b) = recover_probed_instruction(KernelVa(TEXT), &mem, &Ftrace, p).unwrap() else {
                panic!("not recovered")
            };
            assert_eq!(&b[..6], &[0x0f, 0x1f, 0x44, 0x00, 0x00, 0x55]);
            assert_eq!(can_probe(KernelVa(TEXT + 5), &mem, &ks, &Ftrace, p), Ok(()));
        }
        // v5.10 warns about (and refuses) an address inside the site; v6.12 just uses the text.
        assert_eq!(
            recover_probed_instruction(KernelVa(TEXT + 2), &mem, &Ftrace, KernelProfile::V5_10),
            Err(RecoverError::InsideFtraceSite { ftrace: KernelVa(TEXT) })
        );
        assert_eq!(
            recover_probed_instruction(KernelVa(TEXT + 2), &mem, &Ftrace, KernelProfile::V6_12),
            Ok(RecoveredInsn::Text)
        );
        // The probe on the site itself copies the NOP5 (without KPROBES_ON_FTRACE it would not get here).
        let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &Ftrace, C612).unwrap();
        assert_eq!(kp.slot_bytes, vec![0x0f, 0x1f, 0x44, 0x00, 0x00, 0xcc]);
    }

    #[test]
    fn alternatives_reserved_is_einval() {
        struct Alt;
        impl X86KprobesEnv for Alt {
            fn alternatives_text_reserved(&self, _s: KernelVa, _e: KernelVa) -> bool {
                true
            }
        }
        let (mem, ks) = one_function(&[0x55]);
        let e = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &Alt, C612).unwrap_err();
        assert_eq!(e, X86PrepareError::AlternativesTextReserved);
        assert_eq!(e.errno(), -EINVAL);
    }

    #[test]
    fn rip_relative_displacement_is_rebased_to_the_slot() {
        // mov 0x10(%rip),%rax at TEXT: the data is at TEXT + 7 + 0x10.
        let bytes = [0x48, 0x8b, 0x05, 0x10, 0, 0, 0];
        let (mem, _) = one_function(&bytes);
        let c = __copy_instruction(KernelVa(TEXT), KernelVa(SLOT), &mem, &PristineText, KernelProfile::V6_12).unwrap();
        let newdisp = i32::from_le_bytes(c.dest[3..7].try_into().unwrap());
        assert_eq!(i64::from(newdisp), (TEXT + 0x10) as i64 - SLOT as i64);
        assert_eq!(SLOT.wrapping_add(7).wrapping_add(i64::from(newdisp) as u64), TEXT + 7 + 0x10);
        assert_eq!(c.len, 7);
        assert_eq!(c.insn.displacement.value, 0x10, "the decoded insn keeps the original displacement");
        // VEX RIP-relative: vpshufb 0x10(%rip),%xmm0,%xmm0 = c4 e2 79 00 05 <disp32>, displacement at offset 5.
        let vex = [0xc4, 0xe2, 0x79, 0x00, 0x05, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let c = copy_instruction_bytes(&vex, KernelVa(TEXT), KernelVa(SLOT)).unwrap();
        assert_eq!(i64::from(i32::from_le_bytes(c.dest[5..9].try_into().unwrap())), (TEXT + 0x10) as i64 - SLOT as i64);
        // A slot more than 2 GiB away: the displacement does not fit, -EINVAL.
        let far = 0xffff_8880_0000_0000;
        let e =
            __copy_instruction(KernelVa(TEXT), KernelVa(far), &mem, &PristineText, KernelProfile::V5_10).unwrap_err();
        assert!(matches!(e, CopyError::DisplacementOverflow { .. }), "{e}");
        let (mem, ks) = one_function(&bytes);
        let e = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(far), false, &mem, &ks, &PristineText, C510).unwrap_err();
        assert_eq!(e.errno(), -EINVAL);
        // A non-RIP-relative instruction is copied verbatim wherever the slot is.
        let c = copy_instruction_bytes(
            &[0x48, 0x8b, 0x45, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            KernelVa(TEXT),
            KernelVa(far),
        )
        .unwrap();
        assert_eq!(&c.dest[..4], &[0x48, 0x8b, 0x45, 0x08]);
    }

    #[test]
    fn copy_refusals() {
        let pad = |b: &[u8]| {
            let mut a = [0x90u8; MAX_INSN_SIZE];
            a[..b.len()].copy_from_slice(b);
            a
        };
        let t = KernelVa(TEXT);
        let s = KernelVa(SLOT);
        assert_eq!(copy_instruction_bytes(&pad(&[0xcc]), t, s).unwrap_err(), CopyError::Int3);
        assert_eq!(copy_instruction_bytes(&pad(&[0x8e, 0xd0]), t, s).unwrap_err(), CopyError::MaskingException);
        assert_eq!(
            copy_instruction_bytes(&pad(&[0x0f, 0x0b, 0x6b, 0x76, 0x6d, 0x90]), t, s).unwrap_err(),
            CopyError::EmulatePrefix
        );
        // The text is unreadable beyond 3 bytes: copy_from_kernel_nofault(MAX_INSN_SIZE) fails.
        let mut mem = Mem::default();
        mem.map(TEXT, vec![0x55, 0x90, 0x90]);
        assert!(matches!(__copy_instruction(t, s, &mem, &PristineText, KernelProfile::V6_12), Err(CopyError::Read(_))));
    }

    #[test]
    fn slot_layouts() {
        // v5.10 boosted: copy + jmp back to addr+len.
        let kp = prepare_one(&[0x55], C510);
        let rel = (TEXT + 1).wrapping_sub(SLOT + 1 + 5) as i64 as i32;
        let mut want = vec![0x55, 0xe9];
        want.extend_from_slice(&rel.to_le_bytes());
        assert_eq!(kp.slot_bytes, want);
        assert!(kp.ainsn.boostable);
        assert_eq!(kp.ainsn.tp_len, 6);
        // v5.10 not boostable: the copy only (TF single-step needs nothing after it).
        let kp = prepare_one(&[0xe8, 0, 0, 0, 0], C510);
        assert_eq!((kp.slot_bytes.len(), kp.ainsn.boostable), (5, false));
        // v5.10 boostable but too long for the jmp (12 + 5 > 15).
        let kp = prepare_one(&[0x48, 0xc7, 0x84, 0x24, 0, 1, 0, 0, 1, 0, 0, 0], C510);
        assert_eq!((kp.slot_bytes.len(), kp.ainsn.boostable), (12, false));
        // v6.12 with PREEMPTION: copy + int3.
        let kp = prepare_one(&[0x55], C612);
        assert_eq!(kp.slot_bytes, vec![0x55, 0xcc]);
        // v6.12 without PREEMPTION: same boost layout as v5.10.
        let kp = prepare_one(&[0x55], C612_NOPREEMPT);
        assert_eq!(kp.slot_bytes, want);
        // v6.12 emulated instructions still get copy + int3 in the slot (never executed).
        let kp = prepare_one(&[0x75, 0x10], C612);
        assert_eq!(kp.slot_bytes, vec![0x75, 0x10, 0xcc]);
        assert_eq!(
            (kp.ainsn.emulate_op, kp.ainsn.jcc_type, kp.ainsn.rel32, kp.ainsn.size),
            (Some(EmulateOp::Jcc), 5, 0x10, 2)
        );
        // 14 bytes still fit the int3.
        let kp = prepare_one(&[0x66, 0x66, 0x66, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0], C612);
        assert_eq!(kp.slot_bytes.len(), 15);
        // p->opcode is the first byte, which may be a prefix.
        assert_eq!(prepare_one(&[0xf0, 0x0f, 0xc1, 0x15, 0, 0, 0, 0], C612).opcode, 0xf0);
        // v5.10 if_modifier
        assert!(prepare_one(&[0xfa], C510).ainsn.if_modifier);
        assert!(prepare_one(&[0x9d], C510).ainsn.if_modifier);
        assert!(prepare_one(&[0x48, 0xcf], C510).ainsn.if_modifier);
        assert!(!prepare_one(&[0x9c], C510).ainsn.if_modifier);
    }

    #[test]
    fn synthesize_reljump_matches_the_kernel_layout() {
        assert_eq!(synthesize_reljump(KernelVa(0x1000), KernelVa(0x1005)), [0xe9, 0, 0, 0, 0]);
        assert_eq!(synthesize_reljump(KernelVa(0x1000), KernelVa(0x1000)), [0xe9, 0xfb, 0xff, 0xff, 0xff]);
        assert_eq!(synthesize_relcall(KernelVa(0x1000), KernelVa(0x2005)), [0xe8, 0, 0x10, 0, 0]);
    }

    fn regs_at_int3() -> PtRegs {
        PtRegs { ip: TEXT + 1, sp: STACK, flags: 0x246, ..PtRegs::default() }
    }

    fn run(bytes: &[u8], regs: &mut PtRegs, mem: &mut Mem) -> X86Kprobe {
        let kp = prepare_one(bytes, C612);
        let op = kp.ainsn.emulate_op.expect("emulated");
        op.emulate(&kp.ainsn, regs, mem).unwrap();
        kp
    }

    #[test]
    fn emulate_call_and_its_fixed_return_address() {
        let (mut mem, _) = one_function(&[]);
        let mut regs = regs_at_int3();
        run(&[0xe8, 0x10, 0, 0, 0], &mut regs, &mut mem);
        assert_eq!((regs.ip, regs.sp, mem.u64_at(STACK - 8)), (TEXT + 5 + 0x10, STACK - 8, TEXT + 5));
        // A 6-byte (66-prefixed) call: the target uses the real size, the pushed return address assumes 5 bytes.
        let mut regs = regs_at_int3();
        run(&[0x66, 0xe8, 0x10, 0, 0, 0], &mut regs, &mut mem);
        assert_eq!((regs.ip, mem.u64_at(STACK - 8)), (TEXT + 6 + 0x10, TEXT + 5));
        // Backwards call.
        let mut regs = regs_at_int3();
        run(&[0xe8, 0xfb, 0xff, 0xff, 0xff], &mut regs, &mut mem);
        assert_eq!(regs.ip, TEXT);
    }

    #[test]
    fn emulate_indirect_call_and_jmp() {
        let (mut mem, _) = one_function(&[]);
        // call *%r11 (41 ff d3): REX.B selects r11; the return address uses the real size (v6.7 fix).
        let mut regs = regs_at_int3();
        regs.r11 = 0xffff_ffff_8123_4560;
        let kp = run(&[0x41, 0xff, 0xd3], &mut regs, &mut mem);
        assert_eq!(kp.ainsn.indirect_reg, 11);
        assert_eq!((regs.ip, regs.sp, mem.u64_at(STACK - 8)), (0xffff_ffff_8123_4560, STACK - 8, TEXT + 3));
        // call *%rsp jumps to the old rsp.
        let mut regs = regs_at_int3();
        run(&[0xff, 0xd4], &mut regs, &mut mem);
        assert_eq!((regs.ip, mem.u64_at(STACK - 8)), (STACK, TEXT + 2));
        // jmp *%r11 (41 ff e3)
        let mut regs = regs_at_int3();
        regs.r11 = 0xffff_ffff_8100_1230;
        run(&[0x41, 0xff, 0xe3], &mut regs, &mut mem);
        assert_eq!((regs.ip, regs.sp), (0xffff_ffff_8100_1230, STACK));
        // addrmode order
        let r = PtRegs {
            ax: 0,
            cx: 1,
            dx: 2,
            bx: 3,
            sp: 4,
            bp: 5,
            si: 6,
            di: 7,
            r8: 8,
            r9: 9,
            r10: 10,
            r11: 11,
            r12: 12,
            r13: 13,
            r14: 14,
            r15: 15,
            ..PtRegs::default()
        };
        for i in 0..16u8 {
            assert_eq!(addrmode_reg(&r, i), u64::from(i));
        }
    }

    #[test]
    fn emulate_ret_jmp_and_ifmodifiers() {
        let (mut mem, _) = one_function(&[]);
        mem.write(KernelVa(STACK), &0xffff_ffff_8100_4444u64.to_le_bytes()).unwrap();
        let mut regs = regs_at_int3();
        run(&[0xc3], &mut regs, &mut mem);
        assert_eq!((regs.ip, regs.sp), (0xffff_ffff_8100_4444, STACK + 8));
        // ret $8 pops only the return address (the kernel ignores the immediate).
        let mut regs = regs_at_int3();
        run(&[0xc2, 0x08, 0x00], &mut regs, &mut mem);
        assert_eq!(regs.sp, STACK + 8);
        let mut regs = regs_at_int3();
        run(&[0xeb, 0xfe], &mut regs, &mut mem);
        assert_eq!(regs.ip, TEXT);
        let mut regs = regs_at_int3();
        run(&[0xe9, 0x00, 0x01, 0, 0], &mut regs, &mut mem);
        assert_eq!(regs.ip, TEXT + 5 + 0x100);
        // pushf / popf / cli / sti
        let mut regs = regs_at_int3();
        run(&[0x9c], &mut regs, &mut mem);
        assert_eq!((regs.ip, regs.sp, mem.u64_at(STACK - 8)), (TEXT + 1, STACK - 8, 0x246));
        let mut regs = regs_at_int3();
        mem.write(KernelVa(STACK), &0x8d7u64.to_le_bytes()).unwrap();
        run(&[0x9d], &mut regs, &mut mem);
        assert_eq!((regs.flags, regs.sp, regs.ip), (0x8d7, STACK + 8, TEXT + 1));
        let mut regs = regs_at_int3();
        run(&[0xfa], &mut regs, &mut mem);
        assert_eq!(regs.flags & X86_EFLAGS_IF, 0);
        run(&[0xfb], &mut regs, &mut mem);
        assert_ne!(regs.flags & X86_EFLAGS_IF, 0);
        // A stack fault leaves the registers alone.
        let mut regs = regs_at_int3();
        regs.sp = 0x1000;
        let kp = prepare_one(&[0x9c], C612);
        assert!(EmulateOp::Ifmodifiers.emulate(&kp.ainsn, &mut regs, &mut mem).is_err());
        assert_eq!((regs.sp, regs.ip), (0x1000, TEXT + 1));
    }

    /// Architectural Jcc semantics (SDM Jcc table), independent of the kernel's mask table.
    fn jcc_reference(cc: u8, f: u64) -> bool {
        let (cf, zf, sf, of, pf) = (
            f & X86_EFLAGS_CF != 0,
            f & X86_EFLAGS_ZF != 0,
            f & X86_EFLAGS_SF != 0,
            f & X86_EFLAGS_OF != 0,
            f & X86_EFLAGS_PF != 0,
        );
        let base = match cc >> 1 {
            0 => of,
            1 => cf,
            2 => zf,
            3 => cf || zf,
            4 => sf,
            5 => pf,
            6 => sf != of,
            _ => zf || sf != of,
        };
        base != (cc & 1 == 1)
    }

    #[test]
    fn emulate_jcc_matches_the_architecture_for_every_condition() {
        let bits = [X86_EFLAGS_CF, X86_EFLAGS_PF, X86_EFLAGS_ZF, X86_EFLAGS_SF, X86_EFLAGS_OF];
        for cc in 0..16u8 {
            for combo in 0..32u32 {
                let flags =
                    0x202 | bits.iter().enumerate().filter(|(i, _)| combo & (1 << i) != 0).fold(0, |a, (_, b)| a | b);
                assert_eq!(int3_emulate_jcc_taken(flags, cc), jcc_reference(cc, flags), "cc {cc:x} flags {flags:#x}");
            }
        }
        let (mut mem, _) = one_function(&[]);
        // je .+0x12: taken with ZF, else falls through.
        let mut regs = regs_at_int3();
        regs.flags |= X86_EFLAGS_ZF;
        run(&[0x74, 0x10], &mut regs, &mut mem);
        assert_eq!(regs.ip, TEXT + 2 + 0x10);
        let mut regs = regs_at_int3();
        regs.flags &= !X86_EFLAGS_ZF;
        run(&[0x74, 0x10], &mut regs, &mut mem);
        assert_eq!(regs.ip, TEXT + 2);
        // jl rel32 backwards (0f 8c): SF != OF
        let mut regs = regs_at_int3();
        regs.flags = 0x202 | X86_EFLAGS_SF;
        run(&[0x0f, 0x8c, 0x00, 0xff, 0xff, 0xff], &mut regs, &mut mem);
        assert_eq!(regs.ip, (TEXT + 6).wrapping_sub(0x100));
    }

    #[test]
    fn emulate_loop_keeps_the_kernels_post_decrement() {
        let (mut mem, _) = one_function(&[]);
        let loop_with = |bytes: &[u8], cx: u64, flags: u64, mem: &mut Mem| {
            let mut regs = regs_at_int3();
            regs.cx = cx;
            regs.flags = flags;
            let kp = run(bytes, &mut regs, mem);
            (regs.ip - TEXT - u64::from(kp.ainsn.size), regs.cx)
        };
        let fwd = [0xe2, 0x10]; // loop .+0x12
        assert_eq!(loop_with(&fwd, 5, 0x202, &mut mem), (0x10, 4));
        // Hardware: rcx 1 -> 0, not taken. The kernel tests the old value: taken.
        assert_eq!(loop_with(&fwd, 1, 0x202, &mut mem), (0x10, 0));
        // Hardware: rcx 0 -> ~0, taken. Kernel: not taken.
        assert_eq!(loop_with(&fwd, 0, 0x202, &mut mem), (0, u64::MAX));
        // addr32 loop: only ecx, upper half kept.
        assert_eq!(loop_with(&[0x67, 0xe2, 0x10], 0x1_0000_0000, 0x202, &mut mem), (0, 0x1_ffff_ffff));
        assert_eq!(loop_with(&[0x67, 0xe2, 0x10], 0x1_0000_0003, 0x202, &mut mem), (0x10, 0x1_0000_0002));
        // loopne needs ZF clear, loope ZF set.
        assert_eq!(loop_with(&[0xe0, 0x10], 5, 0x202 | X86_EFLAGS_ZF, &mut mem), (0, 4));
        assert_eq!(loop_with(&[0xe0, 0x10], 5, 0x202, &mut mem), (0x10, 4));
        assert_eq!(loop_with(&[0xe1, 0x10], 5, 0x202 | X86_EFLAGS_ZF, &mut mem), (0x10, 4));
        assert_eq!(loop_with(&[0xe1, 0x10], 5, 0x202, &mut mem), (0, 4));
        // jrcxz: no decrement.
        assert_eq!(loop_with(&[0xe3, 0x10], 0, 0x202, &mut mem), (0x10, 0));
        assert_eq!(loop_with(&[0xe3, 0x10], 7, 0x202, &mut mem), (0, 7));
        assert_eq!(loop_with(&[0x67, 0xe3, 0x10], 0x1_0000_0000, 0x202, &mut mem), (0x10, 0x1_0000_0000));
    }

    #[test]
    fn saved_flags_and_resume_singlestep() {
        let flags = 0x346; // TF | IF | ZF | PF | reserved
        assert_eq!(
            set_current_kprobe_flags(KernelProfile::V5_10, flags, false),
            KprobeSavedFlags { old_flags: 0x300, saved_flags: 0x300 }
        );
        assert_eq!(
            set_current_kprobe_flags(KernelProfile::V5_10, flags, true),
            KprobeSavedFlags { old_flags: 0x300, saved_flags: 0x100 }
        );
        assert_eq!(
            set_current_kprobe_flags(KernelProfile::V6_12, flags, true),
            KprobeSavedFlags { old_flags: 0x200, saved_flags: 0x200 }
        );
        // v6.12: the second int3 after a 3-byte copy at SLOT: ip = SLOT + 4 -> TEXT + 3.
        let mut regs = PtRegs { ip: SLOT + 4, flags: 0x46, ..PtRegs::default() };
        resume_singlestep(KernelVa(TEXT), KernelVa(SLOT), X86_EFLAGS_IF, &mut regs);
        assert_eq!((regs.ip, regs.flags), (TEXT + 3, 0x246));
    }

    #[test]
    fn resume_execution_v5_10() {
        let (mut mem, _) = one_function(&[]);
        let (orig, copy) = (KernelVa(TEXT), KernelVa(SLOT));
        let stepped = |ip: u64| PtRegs { ip, sp: STACK - 8, flags: 0x346, ..PtRegs::default() };

        // call rel32 stepped in the slot: return address and ip are relative to the copy.
        mem.write(KernelVa(STACK - 8), &(SLOT + 5).to_le_bytes()).unwrap();
        let mut regs = stepped(SLOT + 5 + 0x10);
        let r = resume_execution(&[0xe8, 0x10, 0, 0, 0], orig, copy, 0x200, &mut regs, &mut mem).unwrap();
        assert_eq!((regs.ip, mem.u64_at(STACK - 8), r.now_boostable), (TEXT + 5 + 0x10, TEXT + 5, false));
        assert_eq!(regs.flags & X86_EFLAGS_TF, 0);

        // pushf: the pushed flags get TF/IF from old_flags.
        mem.write(KernelVa(STACK - 8), &0x346u64.to_le_bytes()).unwrap();
        let mut regs = stepped(SLOT + 1);
        resume_execution(&[0x9c], orig, copy, 0, &mut regs, &mut mem).unwrap();
        assert_eq!((regs.ip, mem.u64_at(STACK - 8)), (TEXT + 1, 0x046));

        // ret: ip is already right; boostable from now on.
        let mut regs = stepped(0xffff_ffff_8100_9999);
        let r = resume_execution(&[0xc3], orig, copy, 0, &mut regs, &mut mem).unwrap();
        assert_eq!((regs.ip, r.now_boostable), (0xffff_ffff_8100_9999, true));

        // call *%rax: return address rebased, ip kept; not boostable.
        mem.write(KernelVa(STACK - 8), &(SLOT + 2).to_le_bytes()).unwrap();
        let mut regs = stepped(0xffff_ffff_8100_7777);
        let r = resume_execution(&[0xff, 0xd0], orig, copy, 0, &mut regs, &mut mem).unwrap();
        assert_eq!((regs.ip, mem.u64_at(STACK - 8), r.now_boostable), (0xffff_ffff_8100_7777, TEXT + 2, false));

        // notrack jmp *(%rax) and ljmp *(%rax) (ff /5): ip kept, boostable.
        for bytes in [&[0x3e, 0xff, 0x20][..], &[0xff, 0x28]] {
            let mut regs = stepped(0xffff_ffff_8100_5555);
            let r = resume_execution(bytes, orig, copy, 0, &mut regs, &mut mem).unwrap();
            assert_eq!((regs.ip, r.now_boostable), (0xffff_ffff_8100_5555, true), "{bytes:02x?}");
        }

        // Anything else (here a REX-prefixed mov, and a jcc taken in the slot): ip rebased.
        let mut regs = stepped(SLOT + 3);
        resume_execution(&[0x48, 0x89, 0xe5], orig, copy, 0, &mut regs, &mut mem).unwrap();
        assert_eq!(regs.ip, TEXT + 3);
        let mut regs = stepped(SLOT + 2 + 0x10);
        resume_execution(&[0x75, 0x10], orig, copy, 0, &mut regs, &mut mem).unwrap();
        assert_eq!(regs.ip, TEXT + 2 + 0x10);
    }

    #[test]
    fn arch_adjust_kprobe_addr_skips_endbr_on_v6_12_with_ibt() {
        let (mut mem, _) = one_function(&[0xf3, 0x0f, 0x1e, 0xfa, 0x55]);
        let f = KernelVa(TEXT);
        assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, C612), Ok((KernelVa(TEXT + 4), true)));
        assert_eq!(arch_adjust_kprobe_addr(f, 4, &mem, C612), Ok((KernelVa(TEXT + 4), true)));
        assert_eq!(arch_adjust_kprobe_addr(f, 5, &mem, C612), Ok((KernelVa(TEXT + 5), false)));
        let no_ibt = X86KprobesConfig { kernel_ibt: false, ..C612 };
        assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, no_ibt), Ok((f, true)));
        assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, C510), Ok((f, true)));
        assert_eq!(arch_adjust_kprobe_addr(f, 4, &mem, C510), Ok((KernelVa(TEXT + 4), false)));
        // A poisoned ENDBR (osp nopl (%rax)) counts too.
        mem.write(f, &[0x66, 0x0f, 0x1f, 0x00]).unwrap();
        assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, C612), Ok((KernelVa(TEXT + 4), true)));
    }

    #[test]
    fn kallsyms_size_reaches_the_next_symbol() {
        let ks = Kallsyms::new(vec![
            text_sym("a", 0x1000, 0x10),
            text_sym("b", 0x1040, 0x8),
            Symbol { name: "d".into(), addr: KernelVa(0x2000), size: 8, kind: SymbolKind::Data, global: false },
        ]);
        assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x1000)), Some((0x40, 0)));
        assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x1030)), Some((0x40, 0x30)), "padding");
        assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x1047)), Some((0xfc0, 7)));
        assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x2000)), None, "data");
        assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0xfff)), None);
    }

    #[test]
    fn random_text_never_panics() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        };
        let interesting = [
            0x0f, 0x66, 0x67, 0x2e, 0x3e, 0xf0, 0xf3, 0x48, 0x41, 0xc4, 0xc5, 0x62, 0xff, 0xe8, 0xe9, 0xeb, 0x70, 0x75,
            0xe0, 0xe2, 0xe3, 0xc2, 0xc3, 0xcf, 0x9a, 0xea, 0x9c, 0x9d, 0xfa, 0xfb, 0xcc, 0x8e,
        ];
        let mut emulated = 0;
        for round in 0..1500 {
            let mut body = [0u8; 24];
            for b in body.iter_mut() {
                let r = next();
                *b = if r % 3 == 0 { interesting[(r >> 8) as usize % interesting.len()] } else { (r >> 16) as u8 };
            }
            let (mut mem, ks) = one_function(&body);
            for off in 0..8u64 {
                for cfg in [C510, C612, C612_NOPREEMPT] {
                    let post = round % 2 == 0;
                    let at = KernelVa(TEXT + off);
                    let Ok(kp) = arch_prepare_kprobe(at, KernelVa(SLOT), post, &mem, &ks, &PristineText, cfg) else {
                        continue;
                    };
                    assert!(kp.slot_bytes.len() <= MAX_INSN_SIZE && kp.slot_bytes.len() == kp.ainsn.tp_len);
                    let mut regs = PtRegs { ip: at.0 + 1, sp: STACK, flags: next(), cx: next(), ..PtRegs::default() };
                    if let Some(op) = kp.ainsn.emulate_op {
                        emulated += 1;
                        let _ = op.emulate(&kp.ainsn, &mut regs, &mut mem);
                    }
                    if cfg.profile == KernelProfile::V5_10 {
                        let mut regs = PtRegs { ip: SLOT + 3, sp: STACK, ..PtRegs::default() };
                        let _ = resume_execution(&kp.slot_bytes, at, KernelVa(SLOT), 0x200, &mut regs, &mut mem);
                    }
                }
            }
        }
        assert!(emulated > 100);
    }

    // -----------------------------------------------------------------------------------------------------------
    // The fixtures: every offset of every function of fixtures/x86-probe-targets/*.objdump.txt
    // -----------------------------------------------------------------------------------------------------------

    struct Dump {
        mem: Mem,
        kallsyms: Kallsyms,
        /// (name, start, size)
        funcs: Vec<(String, u64, u64)>,
        /// instruction start -> (length, mnemonic text)
        insns: BTreeMap<u64, (usize, String)>,
    }

    /// Parses `objdump -dr` output: section headers, `<function>:` headers, instruction lines (address, bytes,
    /// mnemonic), continuation lines (bytes only) and relocation lines (skipped).
    fn parse_objdump(text: &str) -> Dump {
        let mut sections: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut heads: Vec<(String, u64)> = Vec::new();
        let mut insns: BTreeMap<u64, (usize, String)> = BTreeMap::new();
        let mut last_insn: Option<u64> = None;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("Disassembly of section ") {
                let base = if name.trim_end_matches(':') == ".text" { TEXT } else { COLD };
                sections.push((base, Vec::new()));
                continue;
            }
            let Some((base, bytes)) = sections.last_mut() else { continue };
            if line.len() > 19 && line.ends_with(">:") && line.as_bytes()[16] == b' ' {
                let off = u64::from_str_radix(&line[..16], 16).unwrap();
                heads.push((line[18..line.len() - 2].to_string(), *base + off));
                continue;
            }
            let t = line.trim_start();
            let Some((addr, rest)) = t.split_once(':') else { continue };
            let (Ok(off), Some(rest)) = (u64::from_str_radix(addr, 16), rest.strip_prefix('\t')) else { continue };
            let (hex, mnemonic) = rest.split_once('\t').unwrap_or((rest, ""));
            let data: Vec<u8> = hex.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
            let at = usize::try_from(off).unwrap();
            if bytes.len() < at + data.len() {
                bytes.resize(at + data.len(), 0);
            }
            bytes[at..at + data.len()].copy_from_slice(&data);
            let va = *base + off;
            if mnemonic.trim().is_empty() {
                let start = last_insn.unwrap();
                insns.get_mut(&start).unwrap().0 += data.len();
            } else {
                insns.insert(va, (data.len(), mnemonic.trim().to_string()));
                last_insn = Some(va);
            }
        }
        let mut funcs = Vec::new();
        for (i, (name, start)) in heads.iter().enumerate() {
            let (base, bytes) = sections.iter().rev().find(|(b, _)| b <= start).unwrap();
            let section_end = base + bytes.len() as u64;
            let end =
                heads.get(i + 1).map(|(_, s)| *s).filter(|s| *s <= section_end && s > start).unwrap_or(section_end);
            funcs.push((name.clone(), *start, end - start));
        }
        let mut mem = Mem::default();
        for (base, mut bytes) in sections {
            // The text goes on after the object (other functions): keep 15-byte reads near the end mapped.
            bytes.extend_from_slice(&[0xcc; 64]);
            mem.map(base, bytes);
        }
        let kallsyms = Kallsyms::new(funcs.iter().map(|(n, a, s)| text_sym(n, *a, *s)).collect());
        Dump { mem, kallsyms, funcs, insns }
    }

    const PLAIN: &str = include_str!("../../../../fixtures/x86-probe-targets/x86-probe-targets.objdump.txt");
    const IBT: &str = include_str!("../../../../fixtures/x86-probe-targets/x86-probe-targets-ibt.objdump.txt");

    #[test]
    fn fixture_decoder_agrees_with_objdump() {
        for text in [PLAIN, IBT] {
            let d = parse_objdump(text);
            assert!(d.insns.len() > 150);
            for (&va, (len, mnemonic)) in &d.insns {
                let mut buf = [0u8; MAX_INSN_SIZE];
                d.mem.read(KernelVa(va), &mut buf).unwrap();
                let insn = insn_decode_kernel(&buf).unwrap_or_else(|e| panic!("{va:#x} {mnemonic}: {e}"));
                assert_eq!(insn.len(), *len, "{va:#x} {mnemonic}");
                // The kernel-style field offsets add up to the length.
                let fields = insn_offset_immediate(&insn)
                    + usize::from(insn.immediate.nbytes)
                    + usize::from(insn.immediate2.nbytes);
                assert_eq!(fields, *len, "{va:#x} {mnemonic}");
                assert_eq!(insn_rip_relative(&insn), mnemonic.contains("(%rip)"), "{va:#x} {mnemonic}");
            }
        }
    }

    #[test]
    fn fixture_every_offset_of_every_function() {
        let cfgs =
            [(C510, false), (C510, true), (C612, false), (C612, true), (C612_NOPREEMPT, false), (C612_NOPREEMPT, true)];
        let mut checked = 0usize;
        for text in [PLAIN, IBT] {
            let d = parse_objdump(text);
            let starts: BTreeSet<u64> = d.insns.keys().copied().collect();
            let mut tally: BTreeMap<(KernelProfile, String), usize> = BTreeMap::new();
            for (name, start, size) in &d.funcs {
                for va in *start..start + size {
                    for (cfg, post) in cfgs {
                        let c = classify(KernelVa(va), KernelVa(SLOT), post, &d.mem, &d.kallsyms, &PristineText, cfg);
                        checked += 1;
                        if !starts.contains(&va) {
                            let X86ProbeClass::Rejected(X86PrepareError::CanProbe(
                                CanProbeError::NotInstructionBoundary { insn_start, insn_end },
                            )) = c
                            else {
                                panic!("{name}+{:#x} is mid-instruction but classified {c}", va - start);
                            };
                            assert!(starts.contains(&insn_start.0) && insn_start.0 < va && va < insn_end.0);
                            continue;
                        }
                        let (_, mnemonic) = &d.insns[&va];
                        if !post && cfg != C612_NOPREEMPT {
                            *tally.entry((cfg.profile, class_name(&c))).or_default() += 1;
                        }
                        match (&c, cfg.profile) {
                            // v5.10 accepts every instruction gcc emitted.
                            (X86ProbeClass::Rejected(e), KernelProfile::V5_10) => {
                                panic!("{name}+{:#x} {mnemonic}: v5.10 rejected: {e}", va - start)
                            }
                            // v6.12 rejects only the memory-indirect call/jmp.
                            (X86ProbeClass::Rejected(e), KernelProfile::V6_12) => {
                                assert_eq!(
                                    *e,
                                    X86PrepareError::Emulation(EmulationError::IndirectMemory),
                                    "{name}+{:#x} {mnemonic}",
                                    va - start
                                );
                                assert!(
                                    mnemonic.contains("*0x0(,")
                                        && (mnemonic.contains("jmp") || mnemonic.contains("call"))
                                );
                            }
                            (X86ProbeClass::Emulated(op), KernelProfile::V6_12) => {
                                let want = if mnemonic.starts_with("call   *%") {
                                    EmulateOp::CallIndirect
                                } else if mnemonic.starts_with("call") {
                                    EmulateOp::Call
                                } else if mnemonic.starts_with("ret") {
                                    EmulateOp::Ret
                                } else if mnemonic.starts_with("jmp") {
                                    EmulateOp::Jmp
                                } else {
                                    assert!(mnemonic.starts_with('j'), "{mnemonic}");
                                    EmulateOp::Jcc
                                };
                                assert_eq!(*op, want, "{mnemonic}");
                            }
                            (X86ProbeClass::Emulated(_), KernelProfile::V5_10) => panic!("v5.10 never emulates"),
                            _ => {}
                        }
                    }
                }
            }
            // A few hand-checked totals per object (boundaries only, defaults, no post handler).
            let n = |p: KernelProfile, c: &str| tally.get(&(p, c.to_string())).copied().unwrap_or(0);
            assert!(n(KernelProfile::V6_12, "boosted") == 0, "v6.12 defaults have CONFIG_PREEMPTION");
            assert!(n(KernelProfile::V6_12, "emulated:ret") > 20);
            assert!(n(KernelProfile::V6_12, "emulated:call_indirect") == 2);
            assert!(n(KernelProfile::V6_12, "rejected:EOPNOTSUPP") == 2);
            assert!(n(KernelProfile::V5_10, "boosted") > n(KernelProfile::V5_10, "single-step"));
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn fixture_spot_checks() {
        let d = parse_objdump(IBT);
        let sym = |name: &str| d.kallsyms.lookup_name(name).unwrap().addr.0;
        let at = |name: &str, off: u64, cfg: X86KprobesConfig| {
            class_name(&classify(
                KernelVa(sym(name) + off),
                KernelVa(SLOT),
                false,
                &d.mem,
                &d.kallsyms,
                &PristineText,
                cfg,
            ))
        };
        // dispatch_op+0xf: notrack jmp *0x0(,%rdi,8)
        assert_eq!(at("dispatch_op", 0xf, C510), "single-step");
        assert_eq!(at("dispatch_op", 0xf, C612), "rejected:EOPNOTSUPP");
        // kprobe_stacktrace_target+0x29: call *%rax
        assert_eq!(at("kprobe_stacktrace_target", 0x29, C612), "emulated:call_indirect");
        // branch_mix+0x14: jne; +0x1b: call bump
        assert_eq!(at("branch_mix", 0x14, C612), "emulated:jcc");
        assert_eq!(at("branch_mix", 0x1b, C612), "emulated:call");
        assert_eq!(at("branch_mix", 0x91, C612), "emulated:jmp");
        // kernel_clone+0x20: lock xadd %edx,0x0(%rip) (two-byte opcode 0f c1, boostable in both)
        assert_eq!(at("kernel_clone", 0x20, C510), "boosted");
        assert_eq!(at("kernel_clone", 0x20, C612_NOPREEMPT), "boosted");
        // kprobe_target+0x8: divl 0x0(%rip) (f7 /6): Grp3, boostable only in v6.12
        assert_eq!(at("kprobe_target", 0x8, C510), "single-step");
        assert_eq!(at("kprobe_target", 0x8, C612_NOPREEMPT), "boosted");
        // __x64_sys_clone+0x2e: rep stos
        assert_eq!(at("__x64_sys_clone", 0x2e, C510), "boosted");
        // text_poke_target+0: endbr64 (not skipped by classify; arch_adjust_kprobe_addr does that)
        assert_eq!(at("text_poke_target", 0, C612), "single-step");
        for (name, _, _) in &d.funcs {
            let f = KernelVa(sym(name));
            let mut w = [0u8; 4];
            d.mem.read(f, &mut w).unwrap();
            let want = if w == [0xf3, 0x0f, 0x1e, 0xfa] { f.add(4) } else { f };
            assert_eq!(arch_adjust_kprobe_addr(f, 0, &d.mem, C612).unwrap().0, want, "{name}");
        }
        // The RIP-relative fixture loads rebase to the slot.
        let va = sym("rip_rel_update") + 7; // add 0x0(%rip),%rax
        let kp =
            arch_prepare_kprobe(KernelVa(va), KernelVa(SLOT), false, &d.mem, &d.kallsyms, &PristineText, C510).unwrap();
        let disp = i32::from_le_bytes(kp.slot_bytes[3..7].try_into().unwrap());
        assert_eq!(i64::from(disp), va as i64 - SLOT as i64);
    }
}
