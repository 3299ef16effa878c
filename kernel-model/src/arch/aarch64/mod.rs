//! arm64: models of `arch/arm64/kernel/probes/*.c`, `arch/arm64/kernel/patching.c` (5.10: `insn.c`) and
//! `arch/arm64/kernel/debug-monitors.c`.

pub mod ptrace;
