//! x86_64: models of `arch/x86/kernel/kprobes/core.c` and `arch/x86/kernel/alternative.c`.

pub mod ptrace;
