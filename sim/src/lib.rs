//! `sim`: the emulated machine.
//!
//! One Unicorn instance per CPU over one shared RAM; the kernel memory map of the chosen ISA (arm64 kernel VAs
//! mapped directly, x86_64 through real page tables); kernel code loaded from ELF files; an instruction-cache model
//! that keeps each CPU on stale code until the kernel resynchronises it; a deterministic scheduler whose only clock
//! is instructions retired; and the event log.
//!
//! **API boundary:** no Unicorn type appears in this crate's public API. The kernel model drives the machine
//! through `kernel_model::machine::Machine`, which [`machine::EmulatedMachine`] implements.

mod arch;
pub mod bench;
mod cpu;
pub mod elf;
pub mod event_log;
pub mod machine;
pub mod memory;
pub mod run;
pub mod scheduler;
mod uc;

pub use cpu::{Outcome, RunResult};
