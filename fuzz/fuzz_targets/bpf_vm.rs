//! The eBPF VM on arbitrary bytecode and memory: the first byte gives the memory length (0..=255 bytes, taken from
//! the end of the input), the rest is the program. Loading verifies it; running is bounded by a budget.
#![no_main]

use kernel_model::bpf::{conformance, insn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mem_len, rest)) = data.split_first() else { return };
    let mem_len = usize::from(mem_len).min(rest.len());
    let (prog, mem) = rest.split_at(rest.len() - mem_len);
    let Ok(insns) = insn::decode_bytes(prog) else { return };
    let _ = conformance::run_case(&insns, mem, 10_000);
});
