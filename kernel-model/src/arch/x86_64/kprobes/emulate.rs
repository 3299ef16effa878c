//! Models the emulation half of `arch/x86/kernel/kprobes/core.c`: `struct arch_specific_insn`, v6.12
//! `prepare_emulation` and its `kprobe_emulate_*` handlers (instructions that touch `ip` are emulated at the
//! `int3`, never stepped), and v5.10 `skip_prefixes`/`is_IF_modifier`.

use crate::arch::x86_64::insn::*;
use crate::ptrace::x86_64::{PtRegs, X86_EFLAGS_IF, X86_EFLAGS_ZF};
use crate::arch::x86_64::text_patching_h::*;
use crate::machine::{GuestMemory, MemFault};
use crate::KernelVa;

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

/// `regs->ip - INT3_INSN_SIZE + p->ainsn.size`: the address after the probed instruction, from the `int3` handler.
fn next_ip(ainsn: &ArchSpecificInsn, regs: &PtRegs) -> u64 {
    regs.ip.wrapping_sub(INT3_INSN_SIZE as u64).wrapping_add(u64::from(ainsn.size))
}

/// `(long)p->ainsn.rel32`, as added to an `unsigned long`.
fn rel(ainsn: &ArchSpecificInsn) -> u64 {
    i64::from(ainsn.rel32) as u64
}

/// Models v6.12 `kprobe_emulate_ifmodifiers` (arch/x86/kernel/kprobes/core.c): `cli` clears IF, `sti` sets it, `pushf`
/// pushes `regs->flags`, `popf` loads `regs->flags` from the stack (unfiltered); then `ip` moves past the instruction.
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

/// Models v6.12 `kprobe_emulate_ret` (arch/x86/kernel/kprobes/core.c): `int3_emulate_ret` (the `imm16` of `ret imm16`
/// is not applied, and `lret` pops no `cs`: exactly as the kernel).
pub fn kprobe_emulate_ret(
    _ainsn: &ArchSpecificInsn,
    regs: &mut PtRegs,
    mem: &mut dyn GuestMemory,
) -> Result<(), MemFault> {
    int3_emulate_ret(regs, mem)
}

/// Models v6.12 `kprobe_emulate_call` (arch/x86/kernel/kprobes/core.c): `int3_emulate_call(regs, ip_after + rel32)`;
/// the pushed return address is `probe + 5` whatever the instruction's size.
pub fn kprobe_emulate_call(
    ainsn: &ArchSpecificInsn,
    regs: &mut PtRegs,
    mem: &mut dyn GuestMemory,
) -> Result<(), MemFault> {
    let func = next_ip(ainsn, regs).wrapping_add(rel(ainsn));
    int3_emulate_call(regs, func, mem)
}

/// Models v6.12 `kprobe_emulate_jmp` (arch/x86/kernel/kprobes/core.c).
pub fn kprobe_emulate_jmp(ainsn: &ArchSpecificInsn, regs: &mut PtRegs) {
    let ip = next_ip(ainsn, regs).wrapping_add(rel(ainsn));
    int3_emulate_jmp(regs, ip);
}

/// Models v6.12 `kprobe_emulate_jcc` (arch/x86/kernel/kprobes/core.c): `int3_emulate_jcc(regs, jcc.type, ip_after,
/// rel32)`.
pub fn kprobe_emulate_jcc(ainsn: &ArchSpecificInsn, regs: &mut PtRegs) {
    let ip = next_ip(ainsn, regs);
    int3_emulate_jcc(regs, ainsn.jcc_type, ip, rel(ainsn));
}

/// Models v6.12 `kprobe_emulate_loop` (arch/x86/kernel/kprobes/core.c), including its post-decrement (the *old* count
/// is compared with 0) and its partial write-back of `cx` for 32-bit (and 16-bit) address sizes. JCXZ (`type` 3) tests
/// without decrementing; LOOPNE (0) also needs ZF clear, LOOPE (1) ZF set.
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

/// Models v6.12 `kprobe_emulate_call_indirect` (arch/x86/kernel/kprobes/core.c) (with v6.7's fix): push `ip_after` (the
/// real size), jump to the register's value (read before the push, so `call *%rsp` jumps to the old `rsp`).
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

/// Models v6.12 `kprobe_emulate_jmp_indirect` (arch/x86/kernel/kprobes/core.c).
pub fn kprobe_emulate_jmp_indirect(ainsn: &ArchSpecificInsn, regs: &mut PtRegs) {
    let target = addrmode_reg(regs, ainsn.indirect_reg);
    int3_emulate_jmp(regs, target);
}

#[cfg(test)]
mod tests;
