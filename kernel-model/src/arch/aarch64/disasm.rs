//! arm64 disassembly (yaxpeax-arm) for the views: one line per 32-bit word, undecodable words shown as `.inst`.

use super::super::DisasmLine;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// The target of a direct branch (B, BL, B.cond, CBZ/CBNZ, TBZ/TBNZ) at `pc`, for symbol annotation.
#[must_use]
pub fn branch_target(pc: u64, w: u32) -> Option<u64> {
    let sext = |v: u32, bits: u32| -> i64 { (i64::from(v) << (64 - bits)) >> (64 - bits) };
    let off = if w & 0x7c00_0000 == 0x1400_0000 {
        sext(w & 0x03ff_ffff, 26)
    } else if w & 0xff00_0010 == 0x5400_0000 || w & 0x7e00_0000 == 0x3400_0000 {
        sext((w >> 5) & 0x7ffff, 19)
    } else if w & 0x7e00_0000 == 0x3600_0000 {
        sext((w >> 5) & 0x3fff, 14)
    } else {
        return None;
    };
    Some(pc.wrapping_add_signed(off * 4))
}

/// Disassembles `bytes` starting at `addr`.
#[must_use]
pub fn disassemble(addr: u64, bytes: &[u8]) -> Vec<DisasmLine> {
    let decoder = InstDecoder::default();
    bytes
        .chunks_exact(4)
        .enumerate()
        .map(|(i, c)| {
            let pc = addr + 4 * i as u64;
            let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let text = match decoder.decode(&mut U8Reader::new(c)) {
                Ok(insn) => insn.to_string(),
                Err(_) => format!(".inst {w:#010x}"),
            };
            DisasmLine { addr: pc, bytes: c.to_vec(), encoding: format!("{w:08x}"), text, target: branch_target(pc, w) }
        })
        .collect()
}
