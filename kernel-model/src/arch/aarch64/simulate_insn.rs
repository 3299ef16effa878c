//! Models `arch/arm64/kernel/probes/simulate-insn.c` (and `simulate-insn.h`): the software simulation of the
//! instructions a kprobe cannot step out of line (`INSN_GOOD_NO_SLOT`).
//!
//! Each `simulate_*` takes the probed opcode, the probed context's registers and guest memory. The kernel's
//! handlers take `(u32 opcode, long addr, struct pt_regs *regs)` where `addr` is the probe address; they are only
//! called from the kprobe BRK handler, where `regs->pc == addr` (BRK does not advance the PC), so here `addr` is read
//! from `regs.pc` on entry. Some handlers use `addr`, others `instruction_pointer(regs)`; with `pc == addr` the two
//! agree, and the code below keeps the kernel's choice in each place anyway.
//!
//! Register 31: the kernel's `set_x_reg`/`get_x_reg` (v5.10 and v6.12) go through `pt_regs_write_reg` /
//! `pt_regs_read_reg` of asm/ptrace.h, which treat 31 as XZR: writes are dropped and reads return 0. SP is never
//! touched by these handlers (`ret`/`br` through register 31 branch to address 0, as XZR reads zero).
//!
//! Memory: only the literal loads touch memory. The kernel dereferences the literal address directly (a plain C
//! load in v5.10, `READ_ONCE` in v6.12) with no exception-table entry, inside the BRK exception handler; a fault
//! there is a kernel data abort in kernel mode, i.e. an Oops. The model returns it as `Err(MemFault)` and leaves the
//! registers untouched (the kernel faults before `set_x_reg` and before the PC update); deciding what the Oops
//! does is the caller's business.

use crate::arch::aarch64::insn::{aarch32_opcode_cond_checks, sign_extend32, sign_extend64};
use crate::ptrace::aarch64::PtRegs;
use crate::machine::{GuestMemory, MemFault};
use crate::profile::KernelProfile;
use crate::KernelVa;

/// The signature of a modelled simulate handler (`void (*)(u32 opcode, long addr, struct pt_regs *)` with the
/// probe address taken from `regs.pc`, plus guest memory and a typed fault).
pub type ProbesHandlerFn = fn(u32, &mut PtRegs, &dyn GuestMemory) -> Result<(), MemFault>;

/// Which simulate handler `arm_probe_decode_insn`/`arm_kprobe_decode_insn` stored in `api->handler`.
/// Serialises as the kernel function name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum SimulateHandler {
    /// `simulate_adr_adrp`.
    #[serde(rename = "simulate_adr_adrp")]
    AdrAdrp,
    /// `simulate_b_bl`.
    #[serde(rename = "simulate_b_bl")]
    BBl,
    /// `simulate_b_cond`.
    #[serde(rename = "simulate_b_cond")]
    BCond,
    /// `simulate_br_blr_ret`.
    #[serde(rename = "simulate_br_blr_ret")]
    BrBlrRet,
    /// `simulate_cbz_cbnz`.
    #[serde(rename = "simulate_cbz_cbnz")]
    CbzCbnz,
    /// `simulate_tbz_tbnz`.
    #[serde(rename = "simulate_tbz_tbnz")]
    TbzTbnz,
    /// `simulate_ldr_literal`.
    #[serde(rename = "simulate_ldr_literal")]
    LdrLiteral,
    /// `simulate_ldrsw_literal`.
    #[serde(rename = "simulate_ldrsw_literal")]
    LdrswLiteral,
}

impl SimulateHandler {
    /// The kernel function's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            SimulateHandler::AdrAdrp => "simulate_adr_adrp",
            SimulateHandler::BBl => "simulate_b_bl",
            SimulateHandler::BCond => "simulate_b_cond",
            SimulateHandler::BrBlrRet => "simulate_br_blr_ret",
            SimulateHandler::CbzCbnz => "simulate_cbz_cbnz",
            SimulateHandler::TbzTbnz => "simulate_tbz_tbnz",
            SimulateHandler::LdrLiteral => "simulate_ldr_literal",
            SimulateHandler::LdrswLiteral => "simulate_ldrsw_literal",
        }
    }

    /// The handler function under `opts` (only `simulate_ldr_literal` differs between kernels).
    #[must_use]
    pub fn function(self, opts: SimulateOptions) -> ProbesHandlerFn {
        match self {
            SimulateHandler::AdrAdrp => simulate_adr_adrp,
            SimulateHandler::BBl => simulate_b_bl,
            SimulateHandler::BCond => simulate_b_cond,
            SimulateHandler::BrBlrRet => simulate_br_blr_ret,
            SimulateHandler::CbzCbnz => simulate_cbz_cbnz,
            SimulateHandler::TbzTbnz => simulate_tbz_tbnz,
            SimulateHandler::LdrLiteral => match opts.ldr_literal_w_load {
                LdrLiteralWLoad::U32 => simulate_ldr_literal,
                LdrLiteralWLoad::U64Truncated => simulate_ldr_literal_u64_load,
            },
            SimulateHandler::LdrswLiteral => simulate_ldrsw_literal,
        }
    }

    /// Runs the handler: `p->ainsn.api.handler((u32)p->opcode, (long)p->addr, regs)` of `arch_simulate_insn`
    /// (arch/arm64/kernel/probes/kprobes.c), with `regs.pc` = the probe address on entry.
    pub fn simulate(
        self,
        opcode: u32,
        regs: &mut PtRegs,
        mem: &dyn GuestMemory,
        opts: SimulateOptions,
    ) -> Result<(), MemFault> {
        self.function(opts)(opcode, regs, mem)
    }
}

/// How `simulate_ldr_literal` loads a 32-bit (`W`) literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum LdrLiteralWLoad {
    /// Before commit 50f813e57601 ("arm64: probes: Fix simulate_ldr*_literal()", v6.12-rc4, Cc: stable): a plain
    /// 64-bit load truncated to 32 bits. Same value on little-endian, but it also touches the 4 bytes after the
    /// literal, so it faults where a 4-byte load would not. This is v5.10.13's code; whether a given later 5.10.y
    /// carries the stable backport was not verified.
    U64Truncated,
    /// v6.12: `READ_ONCE(*(u32 *)load_addr)`.
    U32,
}

/// The kernel-version-dependent parts of simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SimulateOptions {
    /// The width of the `LDR Wt, <literal>` load.
    pub ldr_literal_w_load: LdrLiteralWLoad,
}

impl SimulateOptions {
    /// v5.10.13 (`simulate-insn.c` before the October 2024 fix).
    pub const V5_10: SimulateOptions = SimulateOptions { ldr_literal_w_load: LdrLiteralWLoad::U64Truncated };
    /// v6.12.
    pub const V6_12: SimulateOptions = SimulateOptions { ldr_literal_w_load: LdrLiteralWLoad::U32 };

    /// The options of `profile`.
    #[must_use]
    pub fn for_profile(profile: KernelProfile) -> SimulateOptions {
        match profile {
            KernelProfile::V5_10 => SimulateOptions::V5_10,
            KernelProfile::V6_12 => SimulateOptions::V6_12,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// displacement macros and register helpers of simulate-insn.c
// ---------------------------------------------------------------------------------------------------------------

/// `bbl_displacement(insn)`: `sign_extend32((insn & 0x3ffffff) << 2, 27)`.
fn bbl_displacement(insn: u32) -> i32 {
    sign_extend32((insn & 0x3ff_ffff) << 2, 27)
}

/// `bcond_displacement(insn)`: `sign_extend32(((insn >> 5) & 0x7ffff) << 2, 20)`.
fn bcond_displacement(insn: u32) -> i32 {
    sign_extend32(((insn >> 5) & 0x7ffff) << 2, 20)
}

/// `cbz_displacement(insn)`: `sign_extend32(((insn >> 5) & 0x7ffff) << 2, 20)`.
fn cbz_displacement(insn: u32) -> i32 {
    sign_extend32(((insn >> 5) & 0x7ffff) << 2, 20)
}

/// `tbz_displacement(insn)`: `sign_extend32(((insn >> 5) & 0x3fff) << 2, 15)`.
fn tbz_displacement(insn: u32) -> i32 {
    sign_extend32(((insn >> 5) & 0x3fff) << 2, 15)
}

/// `ldr_displacement(insn)`: `sign_extend32(((insn >> 5) & 0x7ffff) << 2, 20)`.
fn ldr_displacement(insn: u32) -> i32 {
    sign_extend32(((insn >> 5) & 0x7ffff) << 2, 20)
}

/// `pt_regs_read_reg` (asm/ptrace.h): "31 means XZR, not SP".
fn pt_regs_read_reg(regs: &PtRegs, r: u32) -> u64 {
    if r == 31 {
        0
    } else {
        regs.regs.get(r as usize).copied().unwrap_or(0)
    }
}

/// `pt_regs_write_reg` (asm/ptrace.h): writes to register 31 (XZR) are dropped.
fn pt_regs_write_reg(regs: &mut PtRegs, r: u32, val: u64) {
    if r != 31 {
        if let Some(slot) = regs.regs.get_mut(r as usize) {
            *slot = val;
        }
    }
}

/// `set_x_reg` (simulate-insn.c).
fn set_x_reg(regs: &mut PtRegs, reg: u32, val: u64) {
    pt_regs_write_reg(regs, reg, val);
}

/// `set_w_reg` (simulate-insn.c): writes `lower_32_bits(val)`, zero-extended.
fn set_w_reg(regs: &mut PtRegs, reg: u32, val: u64) {
    pt_regs_write_reg(regs, reg, u64::from(val as u32));
}

/// `get_x_reg` (simulate-insn.c).
fn get_x_reg(regs: &PtRegs, reg: u32) -> u64 {
    pt_regs_read_reg(regs, reg)
}

/// `get_w_reg` (simulate-insn.c).
fn get_w_reg(regs: &PtRegs, reg: u32) -> u32 {
    pt_regs_read_reg(regs, reg) as u32
}

/// `instruction_pointer(regs)` (asm/ptrace.h).
fn instruction_pointer(regs: &PtRegs) -> u64 {
    regs.pc
}

/// `instruction_pointer_set(regs, val)` (asm/ptrace.h).
fn instruction_pointer_set(regs: &mut PtRegs, val: u64) {
    regs.pc = val;
}

/// `addr + disp` with C's `long + int` semantics (wrapping on the address space).
fn offset(addr: u64, disp: i32) -> u64 {
    addr.wrapping_add_signed(i64::from(disp))
}

/// `check_cbz` (simulate-insn.c): bit 31 (sf) picks the X or W register.
fn check_cbz(opcode: u32, regs: &PtRegs) -> bool {
    let xn = opcode & 0x1f;
    if opcode & (1 << 31) != 0 {
        get_x_reg(regs, xn) == 0
    } else {
        get_w_reg(regs, xn) == 0
    }
}

/// `check_cbnz` (simulate-insn.c).
fn check_cbnz(opcode: u32, regs: &PtRegs) -> bool {
    let xn = opcode & 0x1f;
    if opcode & (1 << 31) != 0 {
        get_x_reg(regs, xn) != 0
    } else {
        get_w_reg(regs, xn) != 0
    }
}

/// `bit_pos` of `check_tbz`/`check_tbnz`: `((opcode & (1 << 31)) >> 26) | ((opcode >> 19) & 0x1f)` (b5:b40).
fn tb_bit_pos(opcode: u32) -> u32 {
    ((opcode & (1 << 31)) >> 26) | ((opcode >> 19) & 0x1f)
}

/// `check_tbz` (simulate-insn.c): the tested bit of the X register is clear.
fn check_tbz(opcode: u32, regs: &PtRegs) -> bool {
    let xn = opcode & 0x1f;
    ((get_x_reg(regs, xn) >> tb_bit_pos(opcode)) & 0x1) == 0
}

/// `check_tbnz` (simulate-insn.c).
fn check_tbnz(opcode: u32, regs: &PtRegs) -> bool {
    let xn = opcode & 0x1f;
    ((get_x_reg(regs, xn) >> tb_bit_pos(opcode)) & 0x1) != 0
}

// ---------------------------------------------------------------------------------------------------------------
// instruction simulation functions
// ---------------------------------------------------------------------------------------------------------------

/// Models `simulate_adr_adrp` in arch/arm64/kernel/probes/simulate-insn.c: `Xd = addr + imm` (ADR) or
/// `Xd = (imm << 12) + (addr & ~0xfff)` (ADRP, bit 31), imm = immhi:immlo sign-extended from bit 20; then
/// `PC = instruction_pointer(regs) + 4`. Never fails.
pub fn simulate_adr_adrp(opcode: u32, regs: &mut PtRegs, _mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let xn = opcode & 0x1f;
    let imm = u64::from(((opcode >> 3) & 0x1f_fffc) | ((opcode >> 29) & 0x3));
    let imm = sign_extend64(imm, 20);
    let val = if opcode & 0x8000_0000 != 0 {
        (imm.wrapping_shl(12) as u64).wrapping_add(addr & 0xffff_ffff_ffff_f000)
    } else {
        (imm as u64).wrapping_add(addr)
    };
    set_x_reg(regs, xn, val);
    instruction_pointer_set(regs, instruction_pointer(regs).wrapping_add(4));
    Ok(())
}

/// Models `simulate_b_bl` in arch/arm64/kernel/probes/simulate-insn.c: for BL (bit 31) `x30 = addr + 4`; then
/// `PC = addr + bbl_displacement`. Never fails.
pub fn simulate_b_bl(opcode: u32, regs: &mut PtRegs, _mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let disp = bbl_displacement(opcode);
    // Link register is x30
    if opcode & (1 << 31) != 0 {
        set_x_reg(regs, 30, addr.wrapping_add(4));
    }
    instruction_pointer_set(regs, offset(addr, disp));
    Ok(())
}

/// Models `simulate_b_cond` in arch/arm64/kernel/probes/simulate-insn.c: evaluates
/// `aarch32_opcode_cond_checks[opcode & 0xf](regs->pstate & 0xffffffff)`; `PC = addr + (taken ? disp : 4)`.
/// Never fails.
pub fn simulate_b_cond(opcode: u32, regs: &mut PtRegs, _mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let mut disp = 4;
    if aarch32_opcode_cond_checks[(opcode & 0xf) as usize](regs.pstate & 0xffff_ffff) {
        disp = bcond_displacement(opcode);
    }
    instruction_pointer_set(regs, offset(addr, disp));
    Ok(())
}

/// Models `simulate_br_blr_ret` in arch/arm64/kernel/probes/simulate-insn.c: `PC = Xn` first ("in case we're doing
/// a `blr lr`"), then for BLR (`((opcode >> 21) & 0x3) == 1`) `x30 = addr + 4`. Xn = 31 reads as XZR (0). Never
/// fails.
pub fn simulate_br_blr_ret(opcode: u32, regs: &mut PtRegs, _mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let xn = (opcode >> 5) & 0x1f;
    // update pc first in case we're doing a "blr lr"
    instruction_pointer_set(regs, get_x_reg(regs, xn));
    // Link register is x30
    if ((opcode >> 21) & 0x3) == 1 {
        set_x_reg(regs, 30, addr.wrapping_add(4));
    }
    Ok(())
}

/// Models `simulate_cbz_cbnz` in arch/arm64/kernel/probes/simulate-insn.c: bit 24 selects CBNZ, bit 31 the X or W
/// compare; `PC = addr + (cond ? cbz_displacement : 4)`. Never fails.
pub fn simulate_cbz_cbnz(opcode: u32, regs: &mut PtRegs, _mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let mut disp = 4;
    if opcode & (1 << 24) != 0 {
        if check_cbnz(opcode, regs) {
            disp = cbz_displacement(opcode);
        }
    } else if check_cbz(opcode, regs) {
        disp = cbz_displacement(opcode);
    }
    instruction_pointer_set(regs, offset(addr, disp));
    Ok(())
}

/// Models `simulate_tbz_tbnz` in arch/arm64/kernel/probes/simulate-insn.c: bit 24 selects TBNZ; the tested bit is
/// b5:b40 of the X register; `PC = addr + (cond ? tbz_displacement : 4)`. Never fails.
pub fn simulate_tbz_tbnz(opcode: u32, regs: &mut PtRegs, _mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let mut disp = 4;
    if opcode & (1 << 24) != 0 {
        if check_tbnz(opcode, regs) {
            disp = tbz_displacement(opcode);
        }
    } else if check_tbz(opcode, regs) {
        disp = tbz_displacement(opcode);
    }
    instruction_pointer_set(regs, offset(addr, disp));
    Ok(())
}

/// Models `simulate_ldr_literal` in arch/arm64/kernel/probes/simulate-insn.c as of v6.12: loads
/// `READ_ONCE(*(u64 *)load_addr)` into Xt (bit 30) or `READ_ONCE(*(u32 *)load_addr)` into Wt (zero-extended),
/// `load_addr = addr + ldr_displacement`; then `PC += 4`. Rt = 31 still performs the load (`READ_ONCE` is not
/// elided) and discards it. A faulting load returns `Err` with `regs` unchanged (see the module doc).
pub fn simulate_ldr_literal(opcode: u32, regs: &mut PtRegs, mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let xn = opcode & 0x1f;
    let load_addr = KernelVa(offset(addr, ldr_displacement(opcode)));
    if opcode & (1 << 30) != 0 {
        // x0-x30
        let val = mem.read_u64(load_addr)?;
        set_x_reg(regs, xn, val);
    } else {
        // w0-w30
        let val = mem.read_u32(load_addr)?;
        set_w_reg(regs, xn, u64::from(val));
    }
    instruction_pointer_set(regs, instruction_pointer(regs).wrapping_add(4));
    Ok(())
}

/// Models `simulate_ldr_literal` in arch/arm64/kernel/probes/simulate-insn.c as of v5.10.13, before commit
/// 50f813e57601: `u64 *load_addr` is dereferenced for both forms and the W form keeps `lower_32_bits`. The value is
/// the same as [`simulate_ldr_literal`]'s on little-endian; the load is 8 bytes wide for the W form too. (The real
/// compiler could elide the plain load when Rt = 31; the model always performs it.)
pub fn simulate_ldr_literal_u64_load(opcode: u32, regs: &mut PtRegs, mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let xn = opcode & 0x1f;
    let load_addr = KernelVa(offset(addr, ldr_displacement(opcode)));
    let val = mem.read_u64(load_addr)?;
    if opcode & (1 << 30) != 0 {
        set_x_reg(regs, xn, val);
    } else {
        set_w_reg(regs, xn, val);
    }
    instruction_pointer_set(regs, instruction_pointer(regs).wrapping_add(4));
    Ok(())
}

/// Models `simulate_ldrsw_literal` in arch/arm64/kernel/probes/simulate-insn.c: Xt = the `s32` at
/// `addr + ldr_displacement`, sign-extended; then `PC += 4`. Same in v5.10 and v6.12 (4-byte load in both). A
/// faulting load returns `Err` with `regs` unchanged.
pub fn simulate_ldrsw_literal(opcode: u32, regs: &mut PtRegs, mem: &dyn GuestMemory) -> Result<(), MemFault> {
    let addr = regs.pc;
    let xn = opcode & 0x1f;
    let load_addr = KernelVa(offset(addr, ldr_displacement(opcode)));
    let val = mem.read_u32(load_addr)? as i32;
    set_x_reg(regs, xn, i64::from(val) as u64);
    instruction_pointer_set(regs, instruction_pointer(regs).wrapping_add(4));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptrace::aarch64::{PSR_C_BIT, PSR_N_BIT, PSR_V_BIT, PSR_Z_BIT};
    use crate::machine::MemFaultKind;

    /// A flat little-endian buffer at `base`; everything else is unmapped.
    use crate::testing::FakeMachine;

    /// Read-write memory of `len` zero bytes at `base`; an access running off its end faults there.
    fn flat_mem(base: u64, len: usize) -> FakeMachine {
        let mut m = FakeMachine::empty(crate::Isa::Aarch64);
        m.map(base, vec![0; len]);
        m
    }

    const ADDR: u64 = 0xffff_8000_1000_0100;

    fn regs_at(pc: u64) -> PtRegs {
        let mut r = PtRegs { pc, ..PtRegs::default() };
        for (i, x) in r.regs.iter_mut().enumerate() {
            *x = 0x1111_0000_0000_0000 | i as u64;
        }
        r.sp = 0xffff_8000_0800_0000;
        r
    }

    fn none() -> FakeMachine {
        flat_mem(0, 0)
    }

    // Encodings below are from `llvm-mc --triple=aarch64 --show-encoding` (see decode_insn.rs tests for the recipe).

    #[test]
    fn b_and_bl() {
        let m = none();
        let mut r = regs_at(ADDR);
        simulate_b_bl(0x1400_0002, &mut r, &m).unwrap(); // b #8
        assert_eq!(r.pc, ADDR + 8);
        assert_eq!(r.regs[30], regs_at(0).regs[30], "b does not link");

        let mut r = regs_at(ADDR);
        simulate_b_bl(0x97ff_fffe, &mut r, &m).unwrap(); // bl #-8
        assert_eq!(r.pc, ADDR - 8);
        assert_eq!(r.regs[30], ADDR + 4);

        // Extremes of the 26-bit field: +128M-4 and -128M.
        let mut r = regs_at(ADDR);
        simulate_b_bl(0x15ff_ffff, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 0x7ff_fffc);
        let mut r = regs_at(ADDR);
        simulate_b_bl(0x1600_0000, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR - 0x800_0000);
    }

    #[test]
    fn b_cond_taken_and_not() {
        let m = none();
        // b.eq #8 = 0x54000040
        let mut r = regs_at(ADDR);
        r.pstate = PSR_Z_BIT | 0x3c5;
        simulate_b_cond(0x5400_0040, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 8);
        let mut r = regs_at(ADDR);
        r.pstate = 0x3c5;
        simulate_b_cond(0x5400_0040, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
        // b.ne #-4 = 0x54ffffe1, Z clear: taken backwards.
        let mut r = regs_at(ADDR);
        simulate_b_cond(0x54ff_ffe1, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR - 4);
        // b.gt: N == V and Z clear.
        let bgt = 0x5400_004c;
        let mut r = regs_at(ADDR);
        r.pstate = PSR_N_BIT | PSR_V_BIT;
        simulate_b_cond(bgt, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 8);
        let mut r = regs_at(ADDR);
        r.pstate = PSR_N_BIT;
        simulate_b_cond(bgt, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
        // b.hi: C set and Z clear.
        let bhi = 0x5400_0048;
        let mut r = regs_at(ADDR);
        r.pstate = PSR_C_BIT | PSR_Z_BIT;
        simulate_b_cond(bhi, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
        // Condition 0b1111 ("nv") behaves as "al" in the kernel's table.
        let mut r = regs_at(ADDR);
        simulate_b_cond(0x5400_004f, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 8);
        // Only the low 32 bits of pstate are looked at.
        let mut r = regs_at(ADDR);
        r.pstate = PSR_Z_BIT << 32;
        simulate_b_cond(0x5400_0040, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
    }

    #[test]
    fn cbz_cbnz_x_and_w() {
        let m = none();
        // cbz x1, #8 = 0xb4000041: x1 has high bits set, low 32 zero -> X compare is non-zero: not taken.
        let mut r = regs_at(ADDR);
        r.regs[1] = 0x1_0000_0000;
        simulate_cbz_cbnz(0xb400_0041, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
        // cbz w1, #-8 = 0x34ffffc1: same register, W compare sees zero: taken.
        let mut r = regs_at(ADDR);
        r.regs[1] = 0x1_0000_0000;
        simulate_cbz_cbnz(0x34ff_ffc1, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR - 8);
        // cbnz w2, #-4 = 0x35ffffe2.
        let mut r = regs_at(ADDR);
        r.regs[2] = 0xffff_ffff_0000_0000;
        simulate_cbz_cbnz(0x35ff_ffe2, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
        // cbnz x2, #16 = 0xb5000082.
        let mut r = regs_at(ADDR);
        r.regs[2] = 0xffff_ffff_0000_0000;
        simulate_cbz_cbnz(0xb500_0082, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 16);
        // Register 31 is XZR: `cbz xzr` is always taken, `cbnz xzr` never.
        let mut r = regs_at(ADDR);
        simulate_cbz_cbnz(0xb400_005f, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 8);
        let mut r = regs_at(ADDR);
        simulate_cbz_cbnz(0xb500_005f, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
    }

    #[test]
    fn tbz_tbnz_bit_positions() {
        let m = none();
        // tbz x3, #33, #8 = 0xb6080043.
        let mut r = regs_at(ADDR);
        r.regs[3] = !(1u64 << 33);
        simulate_tbz_tbnz(0xb608_0043, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 8);
        let mut r = regs_at(ADDR);
        r.regs[3] = 1u64 << 33;
        simulate_tbz_tbnz(0xb608_0043, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
        // tbz w3, #0, #-8 = 0x3607ffc3.
        let mut r = regs_at(ADDR);
        r.regs[3] = 2;
        simulate_tbz_tbnz(0x3607_ffc3, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR - 8);
        // tbnz w4, #3, #8 = 0x37180044.
        let mut r = regs_at(ADDR);
        r.regs[4] = 8;
        simulate_tbz_tbnz(0x3718_0044, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 8);
        // tbnz x4, #63, #-4 = 0xb7ffffe4.
        let mut r = regs_at(ADDR);
        r.regs[4] = 1 << 63;
        simulate_tbz_tbnz(0xb7ff_ffe4, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR - 4);
        let mut r = regs_at(ADDR);
        r.regs[4] = !(1 << 63);
        simulate_tbz_tbnz(0xb7ff_ffe4, &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR + 4);
        // Most negative 14-bit displacement: -32K.
        let mut r = regs_at(ADDR);
        r.regs[0] = 0;
        simulate_tbz_tbnz(0x3600_0000 | (0x2000 << 5), &mut r, &m).unwrap();
        assert_eq!(r.pc, ADDR - 0x8000);
    }

    #[test]
    fn adr_adrp() {
        let m = none();
        // adr x5, #8 = 0x10000045.
        let mut r = regs_at(ADDR);
        simulate_adr_adrp(0x1000_0045, &mut r, &m).unwrap();
        assert_eq!((r.regs[5], r.pc), (ADDR + 8, ADDR + 4));
        // adr x5, #-1 = 0x70ffffe5.
        let mut r = regs_at(ADDR);
        simulate_adr_adrp(0x70ff_ffe5, &mut r, &m).unwrap();
        assert_eq!(r.regs[5], ADDR - 1);
        // adrp x6, #4096 = 0xb0000006: relative to the 4K page of the probe address.
        let mut r = regs_at(ADDR);
        simulate_adr_adrp(0xb000_0006, &mut r, &m).unwrap();
        assert_eq!(r.regs[6], (ADDR & !0xfff) + 0x1000);
        // adrp x6, #-8192 = 0xd0ffffe6.
        let mut r = regs_at(ADDR);
        simulate_adr_adrp(0xd0ff_ffe6, &mut r, &m).unwrap();
        assert_eq!(r.regs[6], (ADDR & !0xfff) - 0x2000);
        // adr xzr-encoding (Rd = 31) writes nothing, SP untouched.
        let mut r = regs_at(ADDR);
        let before = r.clone();
        simulate_adr_adrp(0x1000_005f, &mut r, &m).unwrap();
        assert_eq!((r.regs, r.sp, r.pc), (before.regs, before.sp, ADDR + 4));
    }

    #[test]
    fn br_blr_ret() {
        let m = none();
        // br x10 = 0xd61f0140.
        let mut r = regs_at(ADDR);
        r.regs[10] = 0xffff_8000_2000_0000;
        simulate_br_blr_ret(0xd61f_0140, &mut r, &m).unwrap();
        assert_eq!(r.pc, 0xffff_8000_2000_0000);
        assert_eq!(r.regs[30], regs_at(0).regs[30]);
        // blr x11 = 0xd63f0160.
        let mut r = regs_at(ADDR);
        r.regs[11] = 0xffff_8000_3000_0000;
        simulate_br_blr_ret(0xd63f_0160, &mut r, &m).unwrap();
        assert_eq!((r.pc, r.regs[30]), (0xffff_8000_3000_0000, ADDR + 4));
        // ret = 0xd65f03c0.
        let mut r = regs_at(ADDR);
        r.regs[30] = 0xffff_8000_4000_0000;
        simulate_br_blr_ret(0xd65f_03c0, &mut r, &m).unwrap();
        assert_eq!(r.pc, 0xffff_8000_4000_0000);
        // blr x30 ("blr lr"): the PC is taken before x30 is overwritten.
        let mut r = regs_at(ADDR);
        r.regs[30] = 0xffff_8000_5000_0000;
        simulate_br_blr_ret(0xd63f_03c0, &mut r, &m).unwrap();
        assert_eq!((r.pc, r.regs[30]), (0xffff_8000_5000_0000, ADDR + 4));
        // Rn = 31 is XZR, not SP: `br` through it goes to 0.
        let mut r = regs_at(ADDR);
        simulate_br_blr_ret(0xd61f_03e0, &mut r, &m).unwrap();
        assert_eq!(r.pc, 0);
    }

    #[test]
    fn ldr_literal_x_w_and_faults() {
        let lit = ADDR + 8;
        let mut m = flat_mem(ADDR & !0xfff, 0x1000);
        m.put_u64(lit, 0x8877_6655_4433_2211);
        m.put_u64(ADDR - 8, 0xdead_beef_cafe_f00d);
        // ldr w7, #8 = 0x18000047: zero-extended low word.
        let mut r = regs_at(ADDR);
        simulate_ldr_literal(0x1800_0047, &mut r, &m).unwrap();
        assert_eq!((r.regs[7], r.pc), (0x4433_2211, ADDR + 4));
        // ldr x8, #-8 = 0x58ffffc8.
        let mut r = regs_at(ADDR);
        simulate_ldr_literal(0x58ff_ffc8, &mut r, &m).unwrap();
        assert_eq!(r.regs[8], 0xdead_beef_cafe_f00d);
        // Rt = 31: the load happens, the value is dropped.
        let mut r = regs_at(ADDR);
        let before = r.clone();
        simulate_ldr_literal(0x5800_005f, &mut r, &m).unwrap();
        assert_eq!((r.regs, r.sp, r.pc), (before.regs, before.sp, ADDR + 4));
        // The v5.10.13 variant loads the same value on little-endian.
        let mut r = regs_at(ADDR);
        simulate_ldr_literal_u64_load(0x1800_0047, &mut r, &m).unwrap();
        assert_eq!(r.regs[7], 0x4433_2211);

        // A W literal in the last 4 bytes of the mapping: v6.12 loads 4 bytes (fine), v5.10.13 loads 8 (faults).
        let end = (ADDR & !0xfff) + 0x1000;
        let probe = end - 0x100;
        let word_w = 0x1800_0000 | (((0x100 - 4) / 4) << 5) | 7; // ldr w7, #0xfc
        m.put_u32(end - 4, 0xabcd_ef01);
        let mut r = regs_at(probe);
        simulate_ldr_literal(word_w, &mut r, &m).unwrap();
        assert_eq!(r.regs[7], 0xabcd_ef01);
        let mut r = regs_at(probe);
        let before = r.clone();
        let err = SimulateHandler::LdrLiteral.simulate(word_w, &mut r, &m, SimulateOptions::V5_10).unwrap_err();
        assert_eq!(err.kind, MemFaultKind::Unmapped);
        assert_eq!(r, before, "registers untouched on a faulting load");

        // Unmapped literal: typed fault, registers untouched.
        let mut r = regs_at(ADDR);
        let before = r.clone();
        assert!(simulate_ldr_literal(0x5880_0008, &mut r, &m).is_err()); // ldr x8, #-1M
        assert_eq!(r, before);
    }

    #[test]
    fn ldrsw_literal_sign_extends() {
        let mut m = flat_mem(ADDR & !0xfff, 0x1000);
        m.put_u32(ADDR + 8, 0x8000_0001);
        m.put_u32(ADDR + 12, 0x7fff_ffff);
        // ldrsw x9, #8 = 0x98000049.
        let mut r = regs_at(ADDR);
        simulate_ldrsw_literal(0x9800_0049, &mut r, &m).unwrap();
        assert_eq!((r.regs[9], r.pc), (0xffff_ffff_8000_0001, ADDR + 4));
        let mut r = regs_at(ADDR);
        simulate_ldrsw_literal(0x9800_0069, &mut r, &m).unwrap(); // ldrsw x9, #12
        assert_eq!(r.regs[9], 0x7fff_ffff);
        let mut r = regs_at(ADDR);
        let before = r.clone();
        assert!(simulate_ldrsw_literal(0x9880_0009, &mut r, &m).is_err());
        assert_eq!(r, before);
    }

    #[test]
    fn handler_names_and_dispatch() {
        let all = [
            SimulateHandler::AdrAdrp,
            SimulateHandler::BBl,
            SimulateHandler::BCond,
            SimulateHandler::BrBlrRet,
            SimulateHandler::CbzCbnz,
            SimulateHandler::TbzTbnz,
            SimulateHandler::LdrLiteral,
            SimulateHandler::LdrswLiteral,
        ];
        for h in all {
            assert!(h.name().starts_with("simulate_"));
        }
        let m = none();
        let mut r = regs_at(ADDR);
        SimulateHandler::BBl.simulate(0x1400_0002, &mut r, &m, SimulateOptions::V6_12).unwrap();
        assert_eq!(r.pc, ADDR + 8);
    }
}
