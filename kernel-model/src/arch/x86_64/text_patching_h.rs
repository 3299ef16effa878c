//! `arch/x86/include/asm/text-patching.h`: the `int3_emulate_*` helpers that `poke_int3_handler`
//! (arch/x86/kernel/alternative.c) and the v6.12 `kprobe_emulate_*` handlers (arch/x86/kernel/kprobes/core.c)
//! use to make an `int3` stand for the instruction it replaced.

use super::insn::{CALL_INSN_SIZE, INT3_INSN_SIZE};
use crate::ptrace::x86_64::{
    PtRegs, X86_EFLAGS_CF, X86_EFLAGS_OF, X86_EFLAGS_OF_BIT, X86_EFLAGS_PF, X86_EFLAGS_SF, X86_EFLAGS_SF_BIT, X86_EFLAGS_ZF,
};
use crate::machine::{GuestMemory, MemFault};
use crate::KernelVa;

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

/// `__emulate_cc(flags, cc)` (asm/text-patching.h), the condition test of `int3_emulate_jcc`: `cc` is the low
/// nibble of the `Jcc` opcode (0 O, 1 NO, 2 B, 3 AE, 4 E, 5 NE, 6 BE, 7 A, 8 S, 9 NS, A P, B NP, C L, D GE, E LE, F G).
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
