//! `arch/x86/include/asm/ptrace.h`: the register frame saved on exception entry.

/// EFLAGS.TF, the single-step trap flag.
pub const X86_EFLAGS_TF: u64 = 0x100;
/// EFLAGS.IF.
pub const X86_EFLAGS_IF: u64 = 0x200;

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

/// x86_64 `struct pt_regs` (names as in the kernel).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[allow(missing_docs)] // The fields are the architectural registers, named as in the kernel.
pub struct PtRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub bp: u64,
    pub bx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub ax: u64,
    pub cx: u64,
    pub dx: u64,
    pub si: u64,
    pub di: u64,
    pub ip: u64,
    pub flags: u64,
    pub sp: u64,
}

impl PtRegs {
    fn slot(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "r15" => &mut self.r15,
            "r14" => &mut self.r14,
            "r13" => &mut self.r13,
            "r12" => &mut self.r12,
            "bp" | "rbp" => &mut self.bp,
            "bx" | "rbx" => &mut self.bx,
            "r11" => &mut self.r11,
            "r10" => &mut self.r10,
            "r9" => &mut self.r9,
            "r8" => &mut self.r8,
            "ax" | "rax" => &mut self.ax,
            "cx" | "rcx" => &mut self.cx,
            "dx" | "rdx" => &mut self.dx,
            "si" | "rsi" => &mut self.si,
            "di" | "rdi" => &mut self.di,
            "ip" | "rip" => &mut self.ip,
            "flags" | "eflags" => &mut self.flags,
            "sp" | "rsp" => &mut self.sp,
            _ => return None,
        })
    }

    /// Argument `n` of the SysV ABI (rdi, rsi, rdx, rcx, r8, r9).
    #[must_use]
    pub fn arg(&self, n: usize) -> Option<u64> {
        [self.di, self.si, self.dx, self.cx, self.r8, self.r9].get(n).copied()
    }

    /// Sets argument `n`.
    pub fn set_arg(&mut self, n: usize, v: u64) -> bool {
        let name = ["di", "si", "dx", "cx", "r8", "r9"].get(n);
        name.is_some_and(|name| self.set_by_name(name, v))
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

    /// (name, value) pairs in `show_regs` order.
    #[must_use]
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("rax", self.ax), ("rbx", self.bx), ("rcx", self.cx), ("rdx", self.dx), ("rsi", self.si),
            ("rdi", self.di), ("rbp", self.bp), ("rsp", self.sp), ("r8", self.r8), ("r9", self.r9),
            ("r10", self.r10), ("r11", self.r11), ("r12", self.r12), ("r13", self.r13), ("r14", self.r14),
            ("r15", self.r15), ("rip", self.ip), ("eflags", self.flags),
        ]
    }
}

/// `sizeof(struct pt_regs)` on x86_64.
pub const PT_REGS_SIZE: usize = 168;
/// x86 `__KERNEL_CS`.
const KERNEL_CS: u64 = 0x10;
/// x86 `__KERNEL_DS`.
const KERNEL_DS: u64 = 0x18;

impl PtRegs {
    /// The kernel's `struct pt_regs` bytes, in field order; `orig_ax` = -1, `cs` = `__KERNEL_CS`, `ss` =
    /// `__KERNEL_DS`.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; PT_REGS_SIZE];
        let fields = [
            self.r15,
            self.r14,
            self.r13,
            self.r12,
            self.bp,
            self.bx,
            self.r11,
            self.r10,
            self.r9,
            self.r8,
            self.ax,
            self.cx,
            self.dx,
            self.si,
            self.di,
            u64::MAX,
            self.ip,
            KERNEL_CS,
            self.flags,
            self.sp,
            KERNEL_DS,
        ];
        for (i, v) in fields.iter().enumerate() {
            super::put(&mut b, i * 8, *v);
        }
        b
    }

    /// Reads the fields this model carries back from a `struct pt_regs` image.
    pub fn update_from_bytes(&mut self, b: &[u8]) {
        let f = |i: usize| super::take(b, i * 8);
        self.r15 = f(0);
        self.r14 = f(1);
        self.r13 = f(2);
        self.r12 = f(3);
        self.bp = f(4);
        self.bx = f(5);
        self.r11 = f(6);
        self.r10 = f(7);
        self.r9 = f(8);
        self.r8 = f(9);
        self.ax = f(10);
        self.cx = f(11);
        self.dx = f(12);
        self.si = f(13);
        self.di = f(14);
        self.ip = f(16);
        self.flags = f(18);
        self.sp = f(19);
    }
}
