//! What user space sees of the simulated kernel's BPF objects after a run, printed as the tools print it: bpftool
//! (tools/bpf/bpftool: `map show`, `map dump`, its JSON writer and BTF dumper) and libbpf's ring/perf buffer
//! consumers. The kernel side (maps, programs, records) is `kernel_model::bpf`; this is the user-space half.

pub mod btf_dumper;
pub mod json_writer;
pub mod map;
pub mod records;
