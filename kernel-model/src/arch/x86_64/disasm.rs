//! x86_64 disassembly (iced-x86, AT&T syntax as objdump prints kernel code).

use super::super::DisasmLine;
use iced_x86::{Decoder, DecoderOptions, FlowControl, Formatter, GasFormatter};

/// Disassembles `bytes` starting at `addr`.
#[must_use]
pub fn disassemble(addr: u64, bytes: &[u8]) -> Vec<DisasmLine> {
    let mut decoder = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
    let mut formatter = GasFormatter::new();
    let mut out = Vec::new();
    while decoder.can_decode() {
        let insn = decoder.decode();
        let start = (insn.ip() - addr) as usize;
        let raw = bytes[start..start + insn.len()].to_vec();
        let mut text = String::new();
        if insn.is_invalid() {
            text = "(bad)".into();
        } else {
            formatter.format(&insn, &mut text);
        }
        let direct = matches!(
            insn.flow_control(),
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch | FlowControl::Call
        ) && insn.near_branch_target() != 0;
        let encoding = raw.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
        out.push(DisasmLine {
            addr: insn.ip(),
            bytes: raw,
            encoding,
            text,
            target: direct.then(|| insn.near_branch_target()),
        });
    }
    out
}
