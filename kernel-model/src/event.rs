//! The event vocabulary: everything a run records. The log itself (sequence numbers, rendering, hashing) lives in
//! `sim::event_log`; these are the typed details. Text and JSON are two views of the same values.

use crate::KernelVa;
use serde::Serialize;
use std::fmt;

/// Why a CPU stopped running guest code: a value the scheduler matches on, never an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "trap", rename_all = "snake_case")]
pub enum Trap {
    /// arm64 `BRK #imm` (ESR EC 0x3c, ISS = imm16) at `pc`.
    Brk {
        /// The immediate, decoded from the instruction at pc (Unicorn does not fill ESR).
        imm: u16,
    },
    /// x86 `int3` (#BP); the saved ip is the byte after it.
    Int3,
    /// x86 #DB after a TF single-step.
    Debug,
    /// An undefined instruction (arm64 UNDEF / x86 #UD).
    Undefined,
    /// A memory fault (arm64 data/instruction abort, x86 #PF/#GP).
    MemFault {
        /// Faulting data address, if known.
        addr: Option<u64>,
        /// What happened, in words.
        what: String,
    },
    /// Any other exception the model does not handle.
    Other {
        /// The emulator's exception number.
        intno: u32,
    },
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trap::Brk { imm } => write!(f, "brk #{imm:#x}"),
            Trap::Int3 => f.write_str("int3"),
            Trap::Debug => f.write_str("#DB"),
            Trap::Undefined => f.write_str("undefined instruction"),
            Trap::MemFault { addr: Some(a), what } => write!(f, "{what} at {a:#x}"),
            Trap::MemFault { addr: None, what } => f.write_str(what),
            Trap::Other { intno } => write!(f, "exception {intno}"),
        }
    }
}

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
        /// The kernel's message.
        message: String,
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
        /// The kernel operation that does it (`isb`, `flush_icache_range`, `sync_core`, …).
        why: String,
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
        why: String,
    },
    /// A free-form model step with a kernel call chain (innermost last), e.g. exception dispatch.
    Call {
        /// Kernel function names, outermost first.
        frames: Vec<String>,
    },
    /// `stop_machine`'s shared state advanced (the last CPU acknowledged the previous one).
    StopMachineState {
        /// The new `multi_stop_state`.
        state: String,
    },
    /// A step of a CPU's stopper thread.
    Stopper {
        /// What it did.
        what: String,
    },
    /// `aarch64_insn_patch_text_cb` on this CPU: entry (with the value `atomic_inc_return` gave) or release.
    PatchCb {
        /// `master` or `waiter`, or `release`/`isb`.
        role: String,
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
        /// Each CPU's innermost frame at this moment (`cpuN: function`).
        cpus: Vec<String>,
    },
    /// A kprobe registration step finished (`register_kprobe` returned, or a phase of it).
    Kprobe {
        /// The probe's name.
        probe: String,
        /// What happened.
        what: String,
    },
    /// A kprobe was hit and handled in this way.
    KprobeHit {
        /// The probe's name.
        probe: String,
        /// The probed address.
        addr: KernelVa,
        /// What the handler did (`pre_handler`, `setup_singlestep`, `simulate_b_bl`, `missed`, …).
        what: String,
        /// `kcb->kprobe_status` afterwards.
        status: String,
    },
    /// A handler recorded the probed context's registers.
    Regs {
        /// (name, value) pairs.
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
        error: String,
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
        buffer: String,
        /// The perf buffer's CPU (the running CPU for a ring buffer).
        cpu: u32,
        /// The record's size in bytes.
        size: u32,
    },
}

/// Bytes shown as hex: arm64 instruction words as numbers (`d4200080`), x86 code as bytes (`0f 1f 44 00 00`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Hex(pub Vec<u8>, pub HexStyle);

/// How [`Hex`] groups its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HexStyle {
    /// Little-endian 32-bit words when the length allows (arm64 instructions).
    #[default]
    Words,
    /// Bytes in memory order (x86 code).
    Bytes,
}

impl Hex {
    /// Renders 4-byte groups as little-endian words in `Words` style, otherwise a byte string.
    #[must_use]
    pub fn render(&self) -> String {
        if self.1 == HexStyle::Words && !self.0.is_empty() && self.0.len().is_multiple_of(4) {
            let words: Vec<String> = self
                .0
                .chunks(4)
                .map(|c| format!("{:08x}", u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            words.join(" ")
        } else {
            self.0.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
        }
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.render())
    }
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
            EventKind::Oops { message } => f.write_str(message),
            EventKind::TextWrite { addr, alias, old, new } => {
                write!(f, "{addr} via {alias}: {} -> {}", old.render(), new.render())
            }
            EventKind::IcacheSync { addr, len, why } => write!(f, "{addr}+{len:#x} ({why})"),
            EventKind::CacheMaintenance { addr, len } => write!(f, "{addr}+{len:#x} dc cvau + ic ivau (broadcast)"),
            EventKind::SyncSkipped { why } => write!(f, "{why} skipped by fault injection"),
            EventKind::Call { frames } => f.write_str(&frames.join(" -> ")),
            EventKind::BudgetExhausted { budget } => write!(f, "instruction budget of {budget} exhausted"),
            EventKind::StopMachineState { state } => write!(f, "all CPUs acked: state -> {state}"),
            EventKind::Stopper { what } => f.write_str(what),
            EventKind::PatchCb { role, cpu_count } => write!(f, "aarch64_insn_patch_text_cb: {role}, cpu_count={cpu_count}"),
            EventKind::InsnPatch { patch, text_addrs, new_insns, insn_cnt, cpu_count, cpus } => {
                let addrs: Vec<String> = text_addrs.iter().map(|a| a.to_string()).collect();
                let insns: Vec<String> = new_insns.iter().map(|i| format!("{i:08x}")).collect();
                write!(
                    f,
                    "__aarch64_insn_write: aarch64_insn_patch@{patch} {{text_addrs=[{}], new_insns=[{}], insn_cnt={insn_cnt}, cpu_count={cpu_count}}}; {}",
                    addrs.join(", "),
                    insns.join(", "),
                    cpus.join("; ")
                )
            }
            EventKind::Kprobe { probe, what } => write!(f, "{probe}: {what}"),
            EventKind::KprobeHit { probe, addr, what, status } => write!(f, "{probe}@{addr}: {what} [{status}]"),
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
            EventKind::BpfFault { prog, error } | EventKind::BpfLoadFailed { prog, error } => {
                write!(f, "{prog}: {error}")
            }
            EventKind::TracePrintk { line } => write!(f, "{}", line.escape_debug()),
            EventKind::BpfOutput { map, buffer, cpu, size } => {
                write!(f, "{buffer} record of {size} bytes to {map} (cpu {cpu})")
            }
        }
    }
}
