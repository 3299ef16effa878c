//! Why the kernel died on a CPU: `die()`, `BUG()` and fatal `WARN`s, each rendered as the kernel's message.

use super::{hex, Hex, SymAddr, Trap};
use crate::KernelVa;
use serde::Serialize;
use std::fmt;

/// Why the kernel died on a CPU (`die()`, `BUG()`, or a fatal `WARN` in the modelled path). Its text is the
/// kernel's message for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "oops", rename_all = "snake_case")]
pub enum Oops {
    /// arm64 `brk_handler`: no break hook claimed the BRK (`die("Oops - BRK")`).
    UnexpectedBrk {
        /// The ESR the kernel prints (`brk_esr(imm)`).
        esr: u32,
    },
    /// arm64 `do_undefinstr` in kernel mode.
    UndefInstr,
    /// arm64 `__do_kernel_fault`: a data or instruction abort in kernel mode.
    PagingRequest {
        /// The faulting address (0 if unknown).
        #[serde(serialize_with = "hex")]
        addr: u64,
        /// What the CPU reported.
        what: String,
        /// The pc. `fault_pc` in JSON: `pc` is the event's.
        #[serde(serialize_with = "hex", rename = "fault_pc")]
        pc: u64,
    },
    /// x86 `do_int3` / `exc_debug` / `exc_invalid_op`: a trap in kernel mode no handler claimed.
    X86Trap {
        /// The kernel's name for it (`int3`, `debug`, `invalid opcode`).
        name: &'static str,
    },
    /// x86 `page_fault_oops` with a known address.
    PageFault {
        /// The faulting address.
        #[serde(serialize_with = "hex")]
        addr: u64,
        /// What the CPU reported.
        what: String,
    },
    /// An x86 fault without an address (`#GP`, …).
    Fault {
        /// What the CPU reported.
        what: String,
    },
    /// An exception the model does not handle.
    UnhandledException {
        /// The trap.
        trap: Trap,
    },
    /// Guest code called a modelled kernel function that does not exist.
    NoModelledFunction {
        /// Its name.
        name: String,
    },
    /// `__kretprobe_trampoline_handler` found no instance for the returning task (`BUG_ON`).
    KretprobeNoInstance,
    /// arm64 6.x `kprobe_breakpoint_handler`: `WARN_ON_ONCE(!p)` — no probe at the BRK (`DBG_HOOK_ERROR`).
    NoKprobeAt {
        /// The BRK's address.
        addr: KernelVa,
    },
    /// `reenter_kprobe` while single-stepping: "Unrecoverable kprobe detected" (`BUG()`).
    UnrecoverableKprobe {
        /// The kernel source file the `BUG()` is in.
        file: &'static str,
    },
    /// arm64 6.x `reenter_kprobe`: "Failed to recover from reentered kprobes" (`BUG()`).
    FailedToRecoverReenteredKprobes {
        /// The kernel source file.
        file: &'static str,
    },
    /// `reenter_kprobe` with a status the kernel never stores (`WARN_ON(1)`).
    ReenterInvalidStatus {
        /// The status.
        status: u32,
    },
    /// arm64 `arch_simulate_insn`: the simulated instruction's memory access faulted.
    SimulatePagingRequest {
        /// The `simulate_*` handler.
        handler: String,
    },
    /// x86 emulation of the probed instruction (`kprobe_emulate_*`, `resume_execution`) faulted.
    EmulatePageFault {
        /// The function.
        func: &'static str,
    },
    /// x86 `poke_int3_handler` met a site whose new instruction it cannot emulate (`BUG()`).
    PokeInt3Bug,
    /// x86 hit path for a probe the model never prepared (a simulator bug, reported, never hidden).
    NoArchPreparation,
    /// `text_poke_bp` refused the batch.
    TextPokeBp {
        /// Why.
        why: String,
    },
    /// A scenario's `poke_text` action faulted.
    TextPokeFailed {
        /// The fault.
        fault: String,
    },
    /// x86 `__jump_label_patch` (5.10 `__jump_label_set_jump_code`) found neither the expected NOP nor the jump.
    JumpLabelUnexpectedOp {
        /// The site.
        at: SymAddr,
        /// What is there.
        found: Hex,
        /// What was expected.
        expect: Hex,
    },
}

impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Oops::UnexpectedBrk { esr } => {
                write!(f, "Unexpected kernel BRK exception at EL1; Internal error: BRK handler: {esr:08x} [#1] SMP")
            }
            Oops::UndefInstr => f.write_str("Internal error: Oops - undefined instruction: 0 [#1] SMP"),
            Oops::PagingRequest { addr, what, pc } => write!(
                f,
                "Unable to handle kernel paging request at virtual address {addr:016x} ({what}), pc {pc:016x}"
            ),
            Oops::X86Trap { name } => write!(f, "{name}: 0000 [#1] SMP"),
            Oops::PageFault { addr, what } => {
                write!(f, "BUG: unable to handle page fault for address: {addr:016x} ({what})")
            }
            Oops::Fault { what } => write!(f, "{what}: 0000 [#1] SMP"),
            Oops::UnhandledException { trap } => write!(f, "unhandled exception: {trap}"),
            Oops::NoModelledFunction { name } => write!(f, "no modelled function `{name}`"),
            Oops::KretprobeNoInstance => {
                f.write_str("kretprobe_trampoline_handler: no kretprobe instance: kernel BUG")
            }
            Oops::NoKprobeAt { addr } => write!(
                f,
                "WARNING: kprobe_breakpoint_handler: no kprobe at {addr}; Unexpected kernel BRK exception at EL1"
            ),
            Oops::UnrecoverableKprobe { file } => write!(f, "Unrecoverable kprobe detected. kernel BUG at {file}"),
            Oops::FailedToRecoverReenteredKprobes { file } => {
                write!(f, "Failed to recover from reentered kprobes. kernel BUG at {file}")
            }
            Oops::ReenterInvalidStatus { status } => write!(f, "WARNING: reenter_kprobe: invalid status {status:#x}"),
            Oops::SimulatePagingRequest { handler } => {
                write!(f, "Unable to handle kernel paging request in {handler}")
            }
            Oops::EmulatePageFault { func } => write!(f, "BUG: page fault in {func}"),
            Oops::PokeInt3Bug => f.write_str("poke_int3_handler: kernel BUG"),
            Oops::NoArchPreparation => f.write_str("kprobe without arch preparation (simulator bug)"),
            Oops::TextPokeBp { why } => write!(f, "text_poke_bp: {why}"),
            Oops::TextPokeFailed { fault } => write!(f, "text poke failed: {fault}"),
            Oops::JumpLabelUnexpectedOp { at, found, expect } => write!(
                f,
                "jump_label: Fatal kernel bug, unexpected op at {} [{}] ({} != {}); kernel BUG",
                at.sym,
                at.addr,
                found.render(),
                expect.render()
            ),
        }
    }
}
