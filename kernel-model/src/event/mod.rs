//! The event vocabulary: everything a run records. The log itself (sequence numbers, rendering, hashing) lives in
//! `sim::event_log`; these are the typed details. Text and JSON are two views of the same values.
//!
//! Each subsystem's typed details sit in their own file with their `Display`: `kprobe.rs` (registration and handler
//! steps), `hit.rs` (the hit path, `kprobe_status`), `stop_machine.rs` (stopper threads, `text_poke_bp_batch`),
//! `patch.rs` (`aarch64_insn_patch_text_cb`, context synchronisation), `bpf.rs`, `trace.rs` (tracefs), `trap.rs`,
//! `oops.rs`, `hex.rs`. [`EventKind`] and its text line are here.

mod bpf;
mod hex;
mod hit;
mod kprobe;
mod oops;
mod patch;
mod stop_machine;
mod trace;
mod trap;
pub mod jump_label;

pub use bpf::BpfBuffer;
pub(crate) use hex::{hex, hex_regs, hex_vec};
use hex::hex_opt;
pub use hex::{Hex, HexStyle};
pub use hit::{HitStep, KprobeStatus, KPROBE_HIT_ACTIVE, KPROBE_HIT_SS, KPROBE_HIT_SSDONE, KPROBE_REENTER};
pub use kprobe::{KprobeOpFn, KprobeStep};
pub use oops::Oops;
pub use patch::{PatchCbRole, PatchCpu, PatchCpuAt, SyncReason};
pub use stop_machine::{CpuStopStep, MultiStopState, PokeEmulation};
pub use trace::TracefsOp;
pub use trap::Trap;

use crate::bpf::error::BpfError;
use crate::KernelVa;
use serde::Serialize;
use std::fmt;

/// What happened. Each variant's fields are its details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A task starts one call of a kernel function.
    TaskCall {
        /// Task pid.
        pid: u32,
        /// Task comm.
        comm: String,
        /// Function called.
        func: String,
        /// Integer arguments.
        #[serde(serialize_with = "hex_vec")]
        args: Vec<u64>,
        /// Which call of the task this is (0-based).
        iteration: u64,
    },
    /// The call returned.
    TaskReturn {
        /// Task pid.
        pid: u32,
        /// Function that returned.
        func: String,
        /// Its return value (x0 / rax).
        #[serde(serialize_with = "hex")]
        ret: u64,
        /// Which call.
        iteration: u64,
    },
    /// A task finished all its calls.
    TaskExit {
        /// Task pid.
        pid: u32,
    },
    /// The CPU stopped in guest code with a trap.
    Trap {
        /// The trap.
        #[serde(flatten)]
        trap: Trap,
    },
    /// The CPU met a condition the kernel would not survive (an oops); its task is killed.
    Oops {
        /// Why; its text is the kernel's message.
        #[serde(flatten)]
        oops: Oops,
    },
    /// Bytes of kernel text were changed through the poke alias.
    TextWrite {
        /// The text address written.
        addr: KernelVa,
        /// The writable alias that took the store.
        alias: KernelVa,
        /// Bytes before.
        old: Hex,
        /// Bytes after.
        new: Hex,
    },
    /// A CPU's instruction cache was resynchronised with memory for a range.
    IcacheSync {
        /// Start of the range.
        addr: KernelVa,
        /// Length in bytes.
        len: u64,
        /// The kernel operation that does it (`isb`, `eret`, `sync_core`, …).
        why: SyncReason,
    },
    /// Cache maintenance to the point of unification over a range (arm64 `flush_icache_range`): broadcast, so every
    /// CPU's stale copy is invalidated, though each still needs a context synchronisation to fetch the new bytes.
    CacheMaintenance {
        /// Start of the range.
        addr: KernelVa,
        /// Length in bytes.
        len: u64,
    },
    /// A fault-injection setting suppressed a resynchronisation the kernel performs.
    SyncSkipped {
        /// The kernel operation that was skipped.
        why: SyncReason,
    },
    /// A free-form model step with a kernel call chain (innermost last), e.g. exception dispatch.
    Call {
        /// Kernel function names, outermost first.
        frames: Vec<String>,
    },
    /// `stop_machine`'s shared state advanced (the last CPU acknowledged the previous one).
    StopMachineState {
        /// The new `multi_stop_state`.
        state: MultiStopState,
    },
    /// A step of a CPU's stopper thread.
    Stopper {
        /// What it did.
        #[serde(flatten)]
        step: CpuStopStep,
    },
    /// `aarch64_insn_patch_text_cb` on this CPU: entry (with the value `atomic_inc_return` gave) or release.
    PatchCb {
        /// `master` or `waiter` on entry, or `release`.
        role: PatchCbRole,
        /// `patch.cpu_count` after this CPU's update.
        cpu_count: u32,
    },
    /// The master's write in `__aarch64_insn_write`: the `struct aarch64_insn_patch` and where every CPU is.
    InsnPatch {
        /// Address of the struct (on the registering task's stack).
        patch: KernelVa,
        /// `text_addrs[]`.
        text_addrs: Vec<KernelVa>,
        /// `new_insns[]`.
        new_insns: Vec<u32>,
        /// `insn_cnt`.
        insn_cnt: u32,
        /// `cpu_count`.
        cpu_count: u32,
        /// Where each CPU is at this moment.
        cpus: Vec<PatchCpu>,
    },
    /// A kprobe registration step finished (`register_kprobe` returned, or a phase of it).
    Kprobe {
        /// The probe's name (or the batch's, for `register_kprobes`).
        probe: String,
        /// What happened.
        #[serde(flatten)]
        step: KprobeStep,
    },
    /// A kprobe was hit and handled in this way.
    KprobeHit {
        /// The probe's name.
        probe: String,
        /// The probed address.
        addr: KernelVa,
        /// What the hit path did.
        #[serde(flatten)]
        step: HitStep,
        /// `kcb->kprobe_status` afterwards.
        status: KprobeStatus,
    },
    /// A handler recorded the probed context's registers.
    Regs {
        /// (name, value) pairs.
        #[serde(serialize_with = "hex_regs")]
        regs: Vec<(String, u64)>,
    },
    /// The run's instruction budget ran out.
    BudgetExhausted {
        /// The budget.
        budget: u64,
    },
    /// A BPF program ran to its `exit` (one element of `bpf_prog_run_array`).
    BpfRun {
        /// The program's name.
        prog: String,
        /// Its id.
        id: u32,
        /// Its return value (`r0`).
        #[serde(serialize_with = "hex")]
        ret: u64,
        /// Instructions executed.
        insns: u64,
        /// Helper calls made.
        helper_calls: u64,
    },
    /// `trace_call_bpf` found `bpf_prog_active` already set on this CPU: no program ran, the event was dropped.
    BpfMiss {
        /// The programs that were skipped.
        progs: Vec<String>,
    },
    /// A BPF program stopped with an error the kernel's verifier would have prevented (counted as returning 0).
    BpfFault {
        /// The program's name.
        prog: String,
        /// The error (it names the instruction index).
        error: BpfError,
    },
    /// `bpf(BPF_PROG_LOAD)` (or an object's load) was refused: nothing was attached. The message names the program
    /// and, for a rejected instruction, its index, as the verifier log would.
    BpfLoadFailed {
        /// The program's name, or the object's path.
        prog: String,
        /// Why.
        error: String,
    },
    /// A line was written to trace_pipe (`bpf_trace_printk`).
    TracePrintk {
        /// The line as trace_pipe shows it, without its trailing newlines.
        line: String,
    },
    /// A BPF program sent a record to a perf buffer or a ring buffer.
    BpfOutput {
        /// The map's name.
        map: String,
        /// `perf` or `ringbuf`.
        buffer: BpfBuffer,
        /// The perf buffer's CPU (the running CPU for a ring buffer). `buffer_cpu` in JSON: `cpu` is the event's.
        #[serde(rename = "buffer_cpu")]
        cpu: u32,
        /// The record's size in bytes.
        size: u32,
    },
    /// A tracefs (or debugfs `kprobes/`) file was written or read on this CPU.
    Tracefs {
        /// The path under `/sys/kernel/tracing/` (`kprobes/…` under `/sys/kernel/debug/`).
        file: String,
        /// What was done.
        op: TracefsOp,
    },
    /// `kprobe_trace_func`/`kretprobe_trace_func` committed a record to this CPU's ring buffer.
    TraceEvent {
        /// `GRP/EVENT`.
        event: String,
        /// The line `trace` prints for it.
        line: String,
    },
    /// A step of a static-key call or of `jump_label_init` (`kernel/jump_label.c`, `arch/*/kernel/jump_label.c`).
    JumpLabel {
        /// What.
        step: crate::event::jump_label::JumpLabelStep,
    },
}

impl EventKind {
    /// The short name used in the text view's kind column.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::TaskCall { .. } => "call",
            EventKind::TaskReturn { .. } => "return",
            EventKind::TaskExit { .. } => "exit",
            EventKind::Trap { .. } => "trap",
            EventKind::Oops { .. } => "oops",
            EventKind::TextWrite { .. } => "text_write",
            EventKind::IcacheSync { .. } => "icache_sync",
            EventKind::CacheMaintenance { .. } => "cache_maint",
            EventKind::SyncSkipped { .. } => "sync_skip",
            EventKind::Call { .. } => "kcall",
            EventKind::BudgetExhausted { .. } => "budget",
            EventKind::StopMachineState { .. } => "stop_state",
            EventKind::Stopper { .. } => "stopper",
            EventKind::PatchCb { .. } => "patch_cb",
            EventKind::InsnPatch { .. } => "insn_patch",
            EventKind::Kprobe { .. } => "kprobe",
            EventKind::KprobeHit { .. } => "kprobe_hit",
            EventKind::Regs { .. } => "regs",
            EventKind::BpfRun { .. } => "bpf_run",
            EventKind::BpfMiss { .. } => "bpf_miss",
            EventKind::BpfFault { .. } => "bpf_fault",
            EventKind::BpfLoadFailed { .. } => "bpf_reject",
            EventKind::TracePrintk { .. } => "trace_printk",
            EventKind::BpfOutput { .. } => "bpf_output",
            EventKind::Tracefs { .. } => "tracefs",
            EventKind::TraceEvent { .. } => "trace_event",
            EventKind::JumpLabel { .. } => "jump_label",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::TaskCall { pid, comm, func, args, iteration } => {
                let args: Vec<String> = args.iter().map(|a| format!("{a:#x}")).collect();
                write!(f, "{comm}-{pid} #{iteration} {func}({})", args.join(", "))
            }
            EventKind::TaskReturn { pid, func, ret, iteration } => {
                write!(f, "pid {pid} #{iteration} {func} = {ret:#x} ({})", *ret as i64)
            }
            EventKind::TaskExit { pid } => write!(f, "pid {pid} done"),
            EventKind::Trap { trap } => write!(f, "{trap}"),
            EventKind::Oops { oops } => write!(f, "{oops}"),
            EventKind::TextWrite { addr, alias, old, new } => {
                write!(f, "{addr} via {alias}: {} -> {}", old.render(), new.render())
            }
            EventKind::IcacheSync { addr, len, why } => write!(f, "{addr}+{len:#x} ({why})"),
            EventKind::CacheMaintenance { addr, len } => write!(f, "{addr}+{len:#x} dc cvau + ic ivau (broadcast)"),
            EventKind::SyncSkipped { why } => write!(f, "{why} skipped by fault injection"),
            EventKind::Call { frames } => f.write_str(&frames.join(" -> ")),
            EventKind::BudgetExhausted { budget } => write!(f, "instruction budget of {budget} exhausted"),
            EventKind::StopMachineState { state } => write!(f, "all CPUs acked: state -> {}", state.name()),
            EventKind::Stopper { step } => write!(f, "{step}"),
            EventKind::PatchCb { role, cpu_count } => write!(f, "aarch64_insn_patch_text_cb: {role}, cpu_count={cpu_count}"),
            EventKind::InsnPatch { patch, text_addrs, new_insns, insn_cnt, cpu_count, cpus } => {
                let addrs: Vec<String> = text_addrs.iter().map(|a| a.to_string()).collect();
                let insns: Vec<String> = new_insns.iter().map(|i| format!("{i:08x}")).collect();
                write!(
                    f,
                    "__aarch64_insn_write: aarch64_insn_patch@{patch} {{text_addrs=[{}], new_insns=[{}], insn_cnt={insn_cnt}, cpu_count={cpu_count}}}; {}",
                    addrs.join(", "),
                    insns.join(", "),
                    cpus.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                )
            }
            EventKind::Kprobe { probe, step } => write!(f, "{probe}: {step}"),
            EventKind::KprobeHit { probe, addr, step, status } => write!(f, "{probe}@{addr}: {step} [{status}]"),
            EventKind::Regs { regs } => {
                let parts: Vec<String> = regs.iter().map(|(n, v)| format!("{n}={v:#x}")).collect();
                f.write_str(&parts.join(" "))
            }
            EventKind::BpfRun { prog, id, ret, insns, helper_calls } => {
                write!(f, "{prog} (id {id}) returned {ret:#x} after {insns} insns, {helper_calls} helper calls")
            }
            EventKind::BpfMiss { progs } => {
                write!(f, "bpf_prog_active already set: skipped {}", progs.join(", "))
            }
            EventKind::BpfFault { prog, error } => write!(f, "{prog}: {error}"),
            EventKind::BpfLoadFailed { prog, error } => write!(f, "{prog}: {error}"),
            EventKind::TracePrintk { line } => write!(f, "{}", line.escape_debug()),
            EventKind::BpfOutput { map, buffer, cpu, size } => {
                write!(f, "{buffer} record of {size} bytes to {map} (cpu {cpu})")
            }
            EventKind::Tracefs { file, op: TracefsOp::Write { text, append, result } } => {
                let redir = if *append { ">>" } else { ">" };
                let rc = match result {
                    Ok(()) => "0".to_string(),
                    Err(e) => e.to_string(),
                };
                write!(f, "echo {:?} {redir} {file} -> {rc}", text)
            }
            EventKind::Tracefs { file, op: TracefsOp::Read { bytes } } => write!(f, "cat {file} ({bytes} bytes)"),
            EventKind::TraceEvent { event, line } => write!(f, "{event}: {}", line.trim_start()),
            EventKind::JumpLabel { step } => write!(f, "{step}"),
        }
    }
}

/// A kernel address with the symbol it resolves to (`func+0x10`), resolved when the event was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SymAddr {
    /// The address.
    pub addr: KernelVa,
    /// `kallsyms` short form of it.
    pub sym: String,
}

#[cfg(test)]
mod tests;
