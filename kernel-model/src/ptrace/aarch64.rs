//! `arch/arm64/include/asm/ptrace.h`: the register frame saved by `kernel_entry`.

/// PSTATE.D/A/I/F: the DAIF interrupt mask bits.
pub const PSR_D_BIT: u64 = 0x200;
/// PSTATE.A.
pub const PSR_A_BIT: u64 = 0x100;
/// PSTATE.I.
pub const PSR_I_BIT: u64 = 0x80;
/// PSTATE.F.
pub const PSR_F_BIT: u64 = 0x40;
/// `DAIF_MASK`.
pub const DAIF_MASK: u64 = PSR_D_BIT | PSR_A_BIT | PSR_I_BIT | PSR_F_BIT;
/// PSTATE.N.
pub const PSR_N_BIT: u64 = 0x8000_0000;
/// PSTATE.Z.
pub const PSR_Z_BIT: u64 = 0x4000_0000;
/// PSTATE.C.
pub const PSR_C_BIT: u64 = 0x2000_0000;
/// PSTATE.V.
pub const PSR_V_BIT: u64 = 0x1000_0000;
/// EL1 with SP_EL1 (`PSR_MODE_EL1h`).
pub const PSR_MODE_EL1H: u64 = 0x5;

/// arm64 `struct pt_regs` (the part the probe code uses).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PtRegs {
    /// x0..x30 (x29 = fp, x30 = lr).
    pub regs: [u64; 31],
    /// The interrupted context's stack pointer.
    pub sp: u64,
    /// The interrupted pc (ELR_EL1).
    pub pc: u64,
    /// The interrupted PSTATE (SPSR_EL1).
    pub pstate: u64,
}

const NAMES: [&str; 31] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17",
    "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp", "lr",
];

impl PtRegs {
    /// Argument `n` of AAPCS64 (x0..x7).
    #[must_use]
    pub fn arg(&self, n: usize) -> Option<u64> {
        (n < 8).then(|| self.regs[n])
    }

    /// Sets argument `n`.
    pub fn set_arg(&mut self, n: usize, v: u64) -> bool {
        if n < 8 {
            self.regs[n] = v;
        }
        n < 8
    }

    fn slot(&mut self, name: &str) -> Option<&mut u64> {
        match name {
            "sp" => Some(&mut self.sp),
            "pc" => Some(&mut self.pc),
            "pstate" => Some(&mut self.pstate),
            "fp" | "x29" => Some(&mut self.regs[29]),
            "lr" | "x30" => Some(&mut self.regs[30]),
            _ => {
                let n: usize = name.strip_prefix('x')?.parse().ok()?;
                self.regs.get_mut(n)
            }
        }
    }

    /// Reads a register by name.
    #[must_use]
    pub fn get_by_name(&self, name: &str) -> Option<u64> {
        self.clone().slot(name).map(|v| *v)
    }

    /// Writes a register by name.
    pub fn set_by_name(&mut self, name: &str, v: u64) -> bool {
        self.slot(name).map(|s| *s = v).is_some()
    }

    /// (name, value) pairs: x0..x28, fp, lr, sp, pc, pstate.
    #[must_use]
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<_> = NAMES.iter().copied().zip(self.regs.iter().copied()).collect();
        v.extend([("sp", self.sp), ("pc", self.pc), ("pstate", self.pstate)]);
        v
    }
}

/// `sizeof(struct pt_regs)` on arm64 (`S_FRAME_SIZE` of 5.10).
pub const PT_REGS_SIZE: usize = 336;
/// Byte offset of `regs[n]` in the image.
#[must_use]
pub const fn offset_of_reg(n: usize) -> usize {
    n * 8
}
/// Byte offset of `sp` in the image.
pub const OFFSET_SP: usize = 31 * 8;
/// Byte offset of `pc` in the image.
pub const OFFSET_PC: usize = 32 * 8;
/// Byte offset of `pstate` in the image.
pub const OFFSET_PSTATE: usize = 33 * 8;
/// Byte offset of `syscallno` (s32) in the image.
pub const OFFSET_SYSCALLNO: usize = 35 * 8;

impl PtRegs {
    /// The kernel's `struct pt_regs` bytes: the `user_pt_regs` head from these registers, `orig_x0` = 0,
    /// `syscallno` = `NO_SYSCALL` (-1), the rest zero.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; PT_REGS_SIZE];
        for (i, v) in self.regs.iter().enumerate() {
            super::put(&mut b, offset_of_reg(i), *v);
        }
        super::put(&mut b, OFFSET_SP, self.sp);
        super::put(&mut b, OFFSET_PC, self.pc);
        super::put(&mut b, OFFSET_PSTATE, self.pstate);
        b[OFFSET_SYSCALLNO..OFFSET_SYSCALLNO + 4].copy_from_slice(&(-1i32).to_le_bytes());
        b
    }

    /// Reads `regs[]`, `sp`, `pc` and `pstate` back from a `struct pt_regs` image.
    pub fn update_from_bytes(&mut self, b: &[u8]) {
        for i in 0..31 {
            self.regs[i] = super::take(b, offset_of_reg(i));
        }
        self.sp = super::take(b, OFFSET_SP);
        self.pc = super::take(b, OFFSET_PC);
        self.pstate = super::take(b, OFFSET_PSTATE);
    }
}
