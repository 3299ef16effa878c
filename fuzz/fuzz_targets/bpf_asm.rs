//! The eBPF assembler (bpf_conformance text syntax), and the disassembler on what it produced.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(insns) = kernel_model::bpf::asm::assemble(text) {
        let _ = kernel_model::bpf::disassemble(&insns);
    }
});
