//! x86 exceptions as Unicorn reports them: vector numbers through the interrupt hook (no IDT delivery).

use super::super::BadAccess;
use crate::uc::Uc;
use kernel_model::event::Trap;
use unicorn_engine::{uc_error, RegisterX86};

const X86_TRAP_DE: u32 = 0;
const X86_TRAP_DB: u32 = 1;
const X86_TRAP_BP: u32 = 3;
const X86_TRAP_UD: u32 = 6;
const X86_TRAP_DF: u32 = 8;
const X86_TRAP_GP: u32 = 13;
const X86_TRAP_PF: u32 = 14;

/// Classifies an interrupt-hook exception.
pub fn classify(uc: &Uc, intno: u32) -> Trap {
    match intno {
        X86_TRAP_BP => Trap::Int3,
        X86_TRAP_DB => Trap::Debug,
        X86_TRAP_UD => Trap::Undefined,
        X86_TRAP_PF => Trap::MemFault { addr: uc.reg_read(RegisterX86::CR2).ok(), what: "page fault (#PF)".into() },
        X86_TRAP_GP => Trap::MemFault { addr: None, what: "general protection fault (#GP)".into() },
        X86_TRAP_DE => Trap::MemFault { addr: None, what: "divide error (#DE)".into() },
        X86_TRAP_DF => Trap::MemFault { addr: None, what: "double fault (#DF)".into() },
        _ => Trap::Other { intno },
    }
}

/// Classifies an `emu_start` error.
pub fn classify_error(err: uc_error, access: Option<BadAccess>) -> Trap {
    if err == uc_error::INSN_INVALID {
        return Trap::Undefined;
    }
    Trap::MemFault { addr: access.map(|a| a.addr), what: format!("{err:?}") }
}
