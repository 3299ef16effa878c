//! `kernel-model`: the Linux kernel's probe machinery, modelled in Rust.
//!
//! This crate is pure: it performs no I/O, reads no clock and knows nothing about Unicorn. It sees the emulated
//! machine only through the consumer-side traits of [`machine`] (the vm-memory pattern), so it can be unit-tested
//! against a flat test memory and driven by `sim` in real runs.
//!
//! Modules are named after the kernel files they model; each modelled function's doc comment names the kernel
//! function and file.

#![forbid(unsafe_code)]

pub mod arch;
pub mod bpf;
pub mod errno;
pub mod event;
pub mod kallsyms;
pub mod kernel;
pub mod kernel_core;
pub mod kernel_trace;
pub mod kprobes;
pub mod kretprobes;
pub mod machine;
pub mod profile;
pub mod ptrace;
pub mod stop_machine;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trace;
pub mod types;

pub use types::{CpuId, Isa, KernelVa, VTime};
