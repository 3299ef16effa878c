//! arm64 exceptions as Unicorn reports them. A BRK arrives as `EXCP_BKPT` (intno 7) with pc at the BRK and no ESR;
//! the kernel's `esr & ESR_ELx_BRK64_ISS_COMMENT_MASK` is recovered by decoding the instruction at pc.

use super::super::BadAccess;
use crate::uc::Uc;
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
                    // If memory no longer holds a BRK, the CPU ran one from a stale translation: the machine takes the
                    // immediate from its icache model ([`brk_from_icache`]).
                    Trap::Brk { imm: brk_imm(insn).unwrap_or(STALE_BRK_IMM) }
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

/// The immediate of a BRK memory no longer holds, until [`brk_from_icache`] finds the bytes the CPU executed
/// (no kernel BRK hook uses it, so a BRK left with it oopses as an unexpected one).
const STALE_BRK_IMM: u16 = 0xffff;

/// `BRK #imm`'s immediate (ESR ISS `[15:0]`), if `insn` is a BRK.
fn brk_imm(insn: u32) -> Option<u16> {
    // The 16-bit field cannot truncate: it is masked to 16 bits.
    (insn & 0xffe0_001f == 0xd420_0000).then_some(((insn >> 5) & 0xffff) as u16)
}

/// A BRK trap as the CPU took it: hardware reports the immediate of the instruction it executed. When memory at
/// `pc` no longer holds a BRK (another CPU has just written the original instruction back), the CPU executed its
/// stale copy: the first of the pre-write words in `stale` (oldest first) that is a BRK.
pub fn brk_from_icache(trap: Trap, mem: &KernelMemory, pc: u64, stale: &[&[u8]]) -> Trap {
    let Trap::Brk { .. } = trap else { return trap };
    let mut w = [0u8; 4];
    if mem.read(KernelVa(pc), &mut w).is_ok() && brk_imm(u32::from_le_bytes(w)).is_some() {
        return trap;
    }
    let executed = stale.iter().find_map(|b| brk_imm(u32::from_le_bytes(b.get(..4)?.try_into().ok()?)));
    executed.map_or(trap, |imm| Trap::Brk { imm })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Ram;

    const BRK4: u32 = 0xd420_0080;
    const BTI_C: u32 = 0xd503_245f;

    fn memory_with(word: u32) -> (KernelMemory, u64) {
        let layout = super::super::layout::layout();
        let mem = KernelMemory { ram: Ram::new(layout.ram_size), layout };
        let pc = super::super::layout::TEXT_VA;
        mem.load(pc, &word.to_le_bytes()).expect("text is mapped");
        (mem, pc)
    }

    #[test]
    fn a_stale_brk_reports_the_immediate_the_cpu_executed() {
        // Memory holds the original instruction again; the CPU's icache still held BRK #4.
        let (mem, pc) = memory_with(BTI_C);
        let stale = BRK4.to_le_bytes();
        let trap = brk_from_icache(Trap::Brk { imm: STALE_BRK_IMM }, &mem, pc, &[&stale]);
        assert_eq!(trap, Trap::Brk { imm: 4 });
        // The oldest pending write that replaced a BRK wins; words that are not BRKs are skipped.
        let older = BTI_C.to_le_bytes();
        let trap = brk_from_icache(Trap::Brk { imm: STALE_BRK_IMM }, &mem, pc, &[&older, &stale]);
        assert_eq!(trap, Trap::Brk { imm: 4 });
    }

    #[test]
    fn a_brk_memory_still_holds_is_taken_from_memory() {
        let (mem, pc) = memory_with(0xd420_00c0);
        let stale = BRK4.to_le_bytes();
        let trap = brk_from_icache(Trap::Brk { imm: 6 }, &mem, pc, &[&stale]);
        assert_eq!(trap, Trap::Brk { imm: 6 });
        // Other traps are not touched.
        assert_eq!(brk_from_icache(Trap::Undefined, &mem, pc, &[&stale]), Trap::Undefined);
    }
}
