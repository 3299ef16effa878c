//! eBPF: the VM, its assembler and disassembler, maps and helpers (`kernel/bpf/*.c`, `kernel/trace/bpf_trace.c`).
//!
//! - [`insn`]: `struct bpf_insn` and the opcode constants of the uapi headers.
//! - [`program`]: loading (the per-instruction checks of `bpf_check`, `lddw` pseudo-source resolution) into a
//!   predecoded form.
//! - [`vm`]: the interpreter (`___bpf_prog_run`), with the [`Helpers`] interface its user implements.
//! - [`memory`]: the bounds-checked virtual address space (stacks, ctx, input, map values, guest windows).
//! - [`asm`] / [`disasm`]: the bpf_conformance text syntax, both ways; `assemble(disassemble(x)) == x`.
//! - [`conformance`]: the suite's `.data` format and the environment its programs assume; [`elf`]: the minimum
//!   of ELF to take a program out of an object.
//! - [`object`] (with [`btf`]): real BPF objects as clang writes them — programs by section, BTF-defined and
//!   legacy maps, global data, map relocations, license — read as libbpf's `bpf_object__open` does.
//! - [`maps`]: hash, per-CPU hash, array, per-CPU array, perf event array and ring buffer maps with the kernel's semantics.
//! - [`helpers`]: the helpers kprobe programs call, by kernel id; [`printk`]: `bpf_trace_printk`'s formats;
//!   the ctx is a `struct pt_regs` image ([`crate::ptrace::PtRegs::to_bytes`]); [`tag`]: `bpf_prog_calc_tag`.
//! - [`runtime`]: [`BpfRuntime`] — loading, `trace_call_bpf` with its `bpf_prog_active` guard, trace_pipe, perf
//!   and ring buffer records, bpftool-like listings.
//!
//! **Why our own VM rather than the `rbpf` crate.** rbpf's interpreter checks each access against three fixed
//! ranges (the input `mem`, a metadata buffer and one stack) and hands helpers raw host addresses as `u64`s, so a
//! helper that dereferences a program-supplied pointer is dereferencing host memory; it has no notion of regions
//! that helpers create during a run (the map value `bpf_map_lookup_elem` returns must be a pointer the program can
//! then load through), nor of storage that lives outside the VM (map values aliasing the map, windows onto guest
//! kernel memory), nor of per-frame stacks. It also lacks parts of the ISA the suite tests (atomics, signed
//! division, `movsx`, `bswap`, sign-extending loads, `gotol`, `callx`: 223 of 313 cases per the suite's README)
//! and its errors are strings rather than values naming the instruction. Patching all of that would mean
//! replacing its memory model, i.e. most of it; an interpreter is a few hundred lines, and owning it lets every
//! instruction and error model the kernel's (`___bpf_prog_run`, the verifier's messages) and stay deterministic.
//! Speed comes from predecoding (checks done once at load, `lddw` fused) and one `match` on the opcode byte.

pub mod asm;
pub mod btf;
pub mod conformance;
pub mod disasm;
pub mod elf;
pub mod error;
pub mod helpers;
pub mod insn;
pub mod maps;
pub mod memory;
pub mod object;
pub mod printk;
pub mod program;
pub mod runtime;
pub mod tag;
pub mod verifier;
pub mod vm;

pub use asm::assemble;
pub use disasm::disassemble;
pub use error::{AccessError, AsmError, BpfError, HelperError};
pub use insn::Insn;
pub use memory::{Backing, ExternalMemory, GuestWindow, Memory, NoExternal, Region, RegionKind};
pub use program::{NoPseudo, Program, PseudoResolver};
pub use helpers::{PerfRecord, TaskIds, TaskInfo, TraceFlags};
pub use maps::{BpfMap, MapDef, MapType};
pub use object::{AttachPoint, BpfObject, BpfObjectError};
pub use runtime::{BpfRunError, BpfRuntime, LoadedProg, ProgId, TraceCallOutcome};
pub use vm::{run, Exit, Helpers, NoHelpers};
