//! `arch/x86/kernel/alternative.c`: the `text_poke_bp` side that runs on other CPUs — `text_poke_loc_init`
//! (what to emulate for each site) and `poke_int3_handler` (a CPU that hits the temporary `int3` executes the
//! *new* instruction by emulation) — and the batch itself, `text_poke_bp_batch` (int3 → sync → tail → sync → first
//! byte → sync), one step per call from the kernel's live-patch activity.

use super::text_patching_h::{int3_emulate_call, int3_emulate_jcc, int3_emulate_jmp, int3_emulate_ret};
use crate::ptrace::PtRegs;
use crate::event::{CpuStopStep, EventKind, Oops, PokeEmulation, SymAddr};
use crate::kernel_core::{LivePatchStep, PatchJob, TrapAction};
use crate::machine::Machine;
use crate::{CpuId, KernelVa};

/// `struct text_poke_loc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextPokeLoc {
    /// The patched address.
    pub addr: KernelVa,
    /// Length of the new instruction.
    pub len: u8,
    /// The opcode `poke_int3_handler` emulates (NOPs become `jmp +0`).
    pub opcode: u8,
    /// The branch displacement.
    pub disp: i32,
}

const JMP32: u8 = 0xe9;
const JMP8: u8 = 0xeb;
const CALL: u8 = 0xe8;
const RET: u8 = 0xc3;
const INT3: u8 = 0xcc;
const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
const NOP2: [u8; 2] = [0x66, 0x90];

/// Models `text_poke_loc_init`: decode the new instruction into what `poke_int3_handler` must emulate. Only the
/// kernel's cases are accepted (`jmp`/`call` rel, `jcc`, `ret`, `int3`, NOP2/NOP5); anything else is the kernel's
/// `BUG()`, here an error.
pub fn text_poke_loc_init(addr: KernelVa, text: &[u8]) -> Result<TextPokeLoc, String> {
    let rel32 = |b: &[u8]| b.get(1..5).map(|d| i32::from_le_bytes([d[0], d[1], d[2], d[3]]));
    let len = u8::try_from(text.len()).map_err(|_| "too long")?;
    let (opcode, disp) = match text {
        [INT3] => (INT3, 0),
        [RET] => (RET, 0),
        [CALL, ..] | [JMP32, ..] if text.len() == 5 => (text[0], rel32(text).unwrap_or(0)),
        [JMP8, d] => (JMP8, i32::from(*d as i8)),
        [op @ 0x70..=0x7f, d] => (*op, i32::from(*d as i8)),
        [0x0f, op @ 0x80..=0x8f, ..] if text.len() == 6 => {
            (0x70 | (op & 0xf), i32::from_le_bytes([text[2], text[3], text[4], text[5]]))
        }
        t if t == NOP5 => (JMP32, 0),
        t if t == NOP2 => (JMP8, 0),
        _ => return Err(format!("text_poke_loc_init: cannot emulate {text:02x?} (kernel BUG())")),
    };
    Ok(TextPokeLoc { addr, len, opcode, disp })
}

/// Models `poke_int3_handler`: if `regs.ip - 1` is a site of the batch in progress, emulate its new instruction.
/// `None`: not ours (`kprobe_int3_handler` comes next).
pub fn poke_int3_handler(desc: Option<&[TextPokeLoc]>, m: &mut dyn Machine, cpu: CpuId, mut regs: PtRegs) -> Option<TrapAction> {
    let ip = regs.ip() - 1;
    let tp = desc?.iter().find(|tp| tp.addr.0 == ip)?;
    let next = ip + u64::from(tp.len);
    let target = next.wrapping_add_signed(i64::from(tp.disp));
    let PtRegs::X86_64(r) = &mut regs else { return None };
    let sym = |m: &dyn Machine| SymAddr { addr: KernelVa(target), sym: m.kallsyms().format_short(KernelVa(target)) };
    let emulates = match tp.opcode {
        INT3 => return None,
        RET => {
            let _ = int3_emulate_ret(r, m);
            PokeEmulation::Ret
        }
        CALL => {
            let _ = int3_emulate_call(r, target, m);
            PokeEmulation::Call { target: sym(m) }
        }
        JMP32 | JMP8 => {
            int3_emulate_jmp(r, target);
            PokeEmulation::Jmp { target: sym(m) }
        }
        cc @ 0x70..=0x7f => {
            int3_emulate_jcc(r, cc & 0xf, next, tp.disp as i64 as u64);
            PokeEmulation::Jcc
        }
        _ => return Some(TrapAction::Oops { oops: Oops::PokeInt3Bug }),
    };
    m.emit(cpu, EventKind::Stopper { step: CpuStopStep::PokeInt3Handler { ip: KernelVa(ip), emulates } });
    m.set_pt_regs(cpu, &regs);
    Some(TrapAction::Resume)
}

/// The `int3` opcode `text_poke_bp_batch` writes first.
const INT3_INSN_OPCODE: u8 = 0xcc;

/// Models step `step` of `text_poke_bp_batch` (arch/x86/kernel/alternative.c) over `sites`, with `bp_desc` the
/// batch's descriptor (set by step 0, released by the last step). Each writing step is followed by
/// `text_poke_sync()` (the returned [`PatchJob::SyncCores`]).
pub fn text_poke_bp_batch_step(
    bp_desc: &mut Option<Vec<TextPokeLoc>>,
    m: &mut dyn Machine,
    cpu: CpuId,
    sites: &[(KernelVa, Vec<u8>)],
    step: u8,
) -> LivePatchStep {
    let phase = match step {
        0 => {
            let mut locs = Vec::new();
            for (addr, text) in sites {
                match text_poke_loc_init(*addr, text) {
                    Ok(l) => locs.push(l),
                    Err(e) => return LivePatchStep::Failed(Oops::TextPokeBp { why: format!("{}: {e}", m.kallsyms().format(*addr)) }),
                }
            }
            *bp_desc = Some(locs);
            // First step: add an int3 trap to the addresses that will be patched.
            for (addr, _) in sites {
                let _ = m.poke_text(cpu, *addr, &[INT3_INSN_OPCODE]);
            }
            1
        }
        1 => {
            // Second step: update all but the first byte of the patched range.
            for (addr, text) in sites {
                if text.len() > 1 {
                    let _ = m.poke_text(cpu, addr.add(1), &text[1..]);
                }
            }
            2
        }
        2 => {
            // Third step: replace the first byte (int3) by the first byte of the new instruction.
            for (addr, text) in sites {
                if text[0] != INT3_INSN_OPCODE {
                    let _ = m.poke_text(cpu, *addr, &text[..1]);
                }
            }
            3
        }
        _ => {
            *bp_desc = None;
            m.emit(cpu, EventKind::Stopper { step: CpuStopStep::TextPokeBpDone });
            return LivePatchStep::Done;
        }
    };
    m.emit(cpu, EventKind::Stopper { step: CpuStopStep::TextPokeBpStep { phase } });
    LivePatchStep::Job(PatchJob::SyncCores)
}
