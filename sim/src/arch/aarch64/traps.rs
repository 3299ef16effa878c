//! arm64 exceptions as Unicorn reports them. A BRK arrives as `EXCP_BKPT` (intno 7) with pc at the BRK and no ESR;
//! the kernel's `esr & ESR_ELx_BRK64_ISS_COMMENT_MASK` is recovered by decoding the instruction at pc.

use super::super::BadAccess;
use crate::cpu::Uc;
use crate::memory::KernelMemory;
use kernel_model::event::Trap;
use kernel_model::KernelVa;
use unicorn_engine::uc_error;

/// QEMU's `EXCP_UDEF`.
const EXCP_UDEF: u32 = 1;
/// QEMU's `EXCP_PREFETCH_ABORT`.
const EXCP_PREFETCH_ABORT: u32 = 3;
/// QEMU's `EXCP_DATA_ABORT`.
const EXCP_DATA_ABORT: u32 = 4;
/// QEMU's `EXCP_BKPT`.
const EXCP_BKPT: u32 = 7;

/// Classifies an interrupt-hook exception.
pub fn classify(uc: &Uc, mem: &KernelMemory, intno: u32) -> Trap {
    match intno {
        EXCP_BKPT => {
            let pc = uc.pc_read().unwrap_or(0);
            let mut w = [0u8; 4];
            match mem.read(KernelVa(pc), &mut w) {
                Ok(()) => {
                    let insn = u32::from_le_bytes(w);
                    if insn & 0xffe0_001f == 0xd420_0000 {
                        // The 16-bit field cannot truncate: it is masked to 16 bits.
                        Trap::Brk { imm: ((insn >> 5) & 0xffff) as u16 }
                    } else {
                        // The CPU ran a BRK from a stale translation: memory no longer holds it.
                        Trap::Brk { imm: stale_brk_imm(uc) }
                    }
                }
                Err(_) => Trap::Other { intno },
            }
        }
        EXCP_UDEF => Trap::Undefined,
        EXCP_PREFETCH_ABORT => Trap::MemFault { addr: uc.pc_read().ok(), what: "instruction abort".into() },
        EXCP_DATA_ABORT => Trap::MemFault { addr: None, what: "data abort".into() },
        _ => Trap::Other { intno },
    }
}

/// A BRK whose word memory no longer holds has an unknown immediate; report the ESR-less fallback.
fn stale_brk_imm(_uc: &Uc) -> u16 {
    0xffff
}

/// Classifies an `emu_start` error.
pub fn classify_error(err: uc_error, access: Option<BadAccess>) -> Trap {
    let what = match err {
        uc_error::INSN_INVALID => return Trap::Undefined,
        uc_error::READ_UNMAPPED | uc_error::WRITE_UNMAPPED | uc_error::FETCH_UNMAPPED => "translation fault",
        uc_error::READ_PROT | uc_error::WRITE_PROT | uc_error::FETCH_PROT => "permission fault",
        uc_error::READ_UNALIGNED | uc_error::WRITE_UNALIGNED | uc_error::FETCH_UNALIGNED => "alignment fault",
        _ => "exception",
    };
    let what = match access {
        Some(a) => format!("{what} ({})", a.what),
        None => what.to_string(),
    };
    Trap::MemFault { addr: access.map(|a| a.addr), what }
}
