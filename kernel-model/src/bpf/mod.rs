//! eBPF: the VM, its assembler and disassembler, maps and helpers (`kernel/bpf/*.c`, `kernel/trace/bpf_trace.c`).
