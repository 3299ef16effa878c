//! The event vocabulary: everything a run records. The log itself (sequence numbers, rendering, hashing) lives in
//! `sim::event_log`; these are the typed details. Text and JSON are two views of the same values.

use crate::bpf::error::BpfError;
use crate::errno::Errno;
use crate::{CpuId, KernelVa};
use serde::{Serialize, Serializer};
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
        #[serde(serialize_with = "hex_opt")]
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
        step: crate::event_jump_label::JumpLabelStep,
    },
}

/// A tracefs file operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TracefsOp {
    /// `echo TEXT > FILE` (`append` false: `O_TRUNC`) or `echo TEXT >> FILE`.
    Write {
        /// What was written.
        text: String,
        /// `>>`.
        append: bool,
        /// What `write(2)` (or `open(O_TRUNC)`) returned.
        result: Result<(), crate::trace::trace_probe::TraceErrno>,
    },
    /// `cat FILE`.
    Read {
        /// How many bytes it gave.
        bytes: usize,
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

// ---- typed details ---------------------------------------------------------------------------------------------

/// Serialises a 64-bit value as a hex string (`"0xffffffc010096100"`): JSON numbers lose precision past 2^53.
pub(crate) fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

fn hex_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => hex(v, s),
        None => s.serialize_none(),
    }
}

fn hex_vec<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| format!("{x:#x}")))
}

fn hex_regs<S: Serializer>(v: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(n, x)| (n, format!("{x:#x}"))))
}

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

/// Which kind of buffer a BPF program's record went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BpfBuffer {
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (`bpf_perf_event_output`).
    Perf,
    /// `BPF_MAP_TYPE_RINGBUF` (`bpf_ringbuf_output` / `_submit`).
    Ringbuf,
}

impl fmt::Display for BpfBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BpfBuffer::Perf => "perf",
            BpfBuffer::Ringbuf => "ringbuf",
        })
    }
}

/// `0` or `-ENOENT (-2)`: how the log shows a kernel function's `int` result.
struct Ret(Option<Errno>);

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("0"),
            Some(e) => write!(f, "{e}"),
        }
    }
}

/// `kcb->kprobe_status` (`include/linux/kprobes.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KprobeStatus {
    /// 0: no kprobe being handled.
    None,
    /// `KPROBE_HIT_ACTIVE`.
    HitActive,
    /// `KPROBE_HIT_SS`.
    HitSs,
    /// `KPROBE_REENTER`.
    Reenter,
    /// `KPROBE_HIT_SSDONE`.
    HitSsdone,
    /// A value the kernel never stores.
    Unknown(u32),
}

impl KprobeStatus {
    /// The status a `kcb->kprobe_status` word holds.
    #[must_use]
    pub fn from_kcb(raw: u32) -> KprobeStatus {
        match raw {
            0 => KprobeStatus::None,
            KPROBE_HIT_ACTIVE => KprobeStatus::HitActive,
            KPROBE_HIT_SS => KprobeStatus::HitSs,
            KPROBE_REENTER => KprobeStatus::Reenter,
            KPROBE_HIT_SSDONE => KprobeStatus::HitSsdone,
            other => KprobeStatus::Unknown(other),
        }
    }

    /// The kernel's name (`0` for none, `?` for a value the kernel never stores).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KprobeStatus::None => "0",
            KprobeStatus::HitActive => "KPROBE_HIT_ACTIVE",
            KprobeStatus::HitSs => "KPROBE_HIT_SS",
            KprobeStatus::Reenter => "KPROBE_REENTER",
            KprobeStatus::HitSsdone => "KPROBE_HIT_SSDONE",
            KprobeStatus::Unknown(_) => "?",
        }
    }
}

impl fmt::Display for KprobeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for KprobeStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
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

/// Which of `unregister_kprobe`, `disable_kprobe`, `enable_kprobe` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KprobeOpFn {
    /// `register_kprobe`.
    RegisterKprobe,
    /// `unregister_kprobe`.
    UnregisterKprobe,
    /// `disable_kprobe`.
    DisableKprobe,
    /// `enable_kprobe`.
    EnableKprobe,
}

impl KprobeOpFn {
    /// The kernel function's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KprobeOpFn::RegisterKprobe => "register_kprobe",
            KprobeOpFn::UnregisterKprobe => "unregister_kprobe",
            KprobeOpFn::DisableKprobe => "disable_kprobe",
            KprobeOpFn::EnableKprobe => "enable_kprobe",
        }
    }
}

/// A step of registering, arming, running or removing a kprobe or kretprobe (`kernel/kprobes.c`, the arch's
/// `arch_prepare_*`, `kernel/trace/trace_kprobe.c`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum KprobeStep {
    /// `register_kprobe` returned: 0, or the errno and which check refused.
    RegisterKprobeReturned {
        /// The error, if it failed.
        errno: Option<Errno>,
        /// Which check refused, in the kernel's terms.
        reason: Option<String>,
    },
    /// `register_kretprobe` returned an error.
    RegisterKretprobeReturned {
        /// The error.
        errno: Errno,
        /// Which check refused.
        reason: String,
    },
    /// `register_kprobes` returned; on an error the probes already registered are unregistered.
    RegisterKprobesReturned {
        /// The error, if it failed.
        errno: Option<Errno>,
        /// How many probes of the batch are unregistered again.
        unregistering: usize,
    },
    /// `unregister_kprobe`/`disable_kprobe`/`enable_kprobe` returned.
    ProbeOpReturned {
        /// Which function.
        op: KprobeOpFn,
        /// The error, if it failed.
        errno: Option<Errno>,
    },
    /// The operation (`register_kprobe`, `unregister_kprobe`, `disable_kprobe`, `enable_kprobe`) waits for
    /// `kprobe_mutex` (kernel/kprobes.c), which the operation on `owner_cpu` holds. Emitted once, when it starts
    /// waiting.
    WaitsForKprobeMutex {
        /// Which operation waits.
        op: KprobeOpFn,
        /// The CPU whose operation holds the mutex.
        owner_cpu: CpuId,
    },
    /// arm64 `arch_prepare_kprobe`: the instruction is simulated (`arm_kprobe_decode_insn` → `INSN_GOOD_NO_SLOT`).
    ArchPrepareSimulate {
        /// The `simulate_*` handler stored in `arch_specific_insn`.
        handler: &'static str,
    },
    /// arm64 `arch_prepare_ss_slot`: the instruction is copied to an XOL slot.
    ArchPrepareSsSlot {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 `arch_prepare_kprobe` → `arch_copy_kprobe`: the copy in its slot.
    ArchPrepareKprobe {
        /// The slot.
        slot: KernelVa,
        /// Bytes in the slot.
        len: usize,
        /// How the probe will run (boostable, emulated, single-stepped …), in the kernel's terms.
        class: String,
    },
    /// `register_aggr_kprobe`: the probe joins the aggregate at an already probed address.
    JoinsAggr {
        /// The probed address.
        addr: KernelVa,
    },
    /// `arm_kprobe` done: the breakpoint is in place.
    Armed,
    /// A handler calls a kernel function (guest code).
    HandlerCalls {
        /// The function.
        func: String,
    },
    /// The handler's kernel call returned.
    HandlerCallReturned {
        /// Its return value.
        #[serde(serialize_with = "hex")]
        ret: u64,
    },
    /// A BPF helper's kernel call (e.g. `copy_from_kernel_nofault`) returned to the helper.
    HelperCallReturned {
        /// The function called.
        func: &'static str,
        /// The helper that called it.
        helper: &'static str,
        /// Its return value.
        #[serde(serialize_with = "hex")]
        ret: u64,
    },
    /// 5.10 `trace_call_bpf`: `in_nmi()` (x86's int3 handler is NMI-like) returns 1 without running the programs.
    TraceCallBpfInNmi,
    /// `PERF_EVENT_IOC_SET_BPF` → `perf_event_attach_bpf_prog` (kernel/trace/bpf_trace.c): `prog` joins the
    /// event's `prog_array` (`bpf_prog_array_copy` appends it), which then holds `progs` programs.
    BpfProgArrayJoined {
        /// The program.
        prog: String,
        /// The array's length after it.
        progs: usize,
    },
    /// `kprobe_perf_func` / `kretprobe_perf_func` (kernel/trace/trace_kprobe.c) after `trace_call_bpf` over an
    /// event's `prog_array` of `progs` (two or more) programs: `ret`, their results ANDed (`bpf_prog_run_array`),
    /// keeps the hit's perf sample or (0) filters it.
    PerfFuncFilter {
        /// `kprobe_perf_func` or `kretprobe_perf_func`.
        func: &'static str,
        /// The array's length.
        progs: usize,
        /// `trace_call_bpf`'s return.
        ret: u32,
    },
    /// `trace_kprobe` attach for a program type the model does not attach yet.
    BpfAttachUnsupported {
        /// The attach point, as the loader names it.
        attach: String,
    },
    /// `pre_handler_kretprobe`: no free instance (`nmissed++`).
    KretprobeNoFreeInstance,
    /// `pre_handler_kretprobe`: the entry handler returned non-zero; the instance is recycled.
    KretprobeEntryHandlerRejected,
    /// `arch_prepare_kretprobe`: the return address is replaced by the trampoline.
    ArchPrepareKretprobe {
        /// The original return address.
        #[serde(serialize_with = "hex")]
        ret_addr: u64,
        /// `kretprobe_trampoline` / `__kretprobe_trampoline`.
        trampoline: KernelVa,
    },
    /// `__kretprobe_trampoline_handler`'s WARN: the instance's frame pointer is not the one returning.
    KretprobeFpMismatch {
        /// The instance's recorded frame pointer.
        #[serde(serialize_with = "hex")]
        instance_fp: u64,
        /// The frame pointer at the trampoline.
        #[serde(serialize_with = "hex")]
        frame_pointer: u64,
    },
    /// `__kretprobe_trampoline_handler`: the probed function returned.
    KretprobeTrampolineHandler {
        /// Where it returns to.
        #[serde(serialize_with = "hex")]
        ret_addr: u64,
        /// Its return value.
        #[serde(serialize_with = "hex")]
        retval: u64,
    },
    /// A kretprobe's handler asked for a kernel call, which the model does not run there.
    KretprobeCallSkipped {
        /// The function it asked for.
        func: String,
    },
    /// `stack_trace_save_regs` from a handler.
    StackTraceSaved {
        /// The trace, innermost first.
        trace: Vec<SymAddr>,
    },
}

impl fmt::Display for KprobeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KprobeStep::RegisterKprobeReturned { errno: None, .. } => f.write_str("register_kprobe returned 0"),
            KprobeStep::RegisterKprobeReturned { errno: Some(e), reason } => {
                write!(f, "register_kprobe returned {e}: {}", reason.as_deref().unwrap_or(""))
            }
            KprobeStep::RegisterKretprobeReturned { errno, reason } => {
                write!(f, "register_kretprobe returned {errno}: {reason}")
            }
            KprobeStep::RegisterKprobesReturned { errno: None, .. } => f.write_str("register_kprobes returned 0"),
            KprobeStep::RegisterKprobesReturned { errno: Some(e), unregistering } => {
                write!(f, "register_kprobes returned {e}; unregistering {unregistering} already registered")
            }
            KprobeStep::ProbeOpReturned { op, errno } => write!(f, "{} returned {}", op.name(), Ret(*errno)),
            KprobeStep::WaitsForKprobeMutex { op, owner_cpu } => {
                write!(f, "{} waits for kprobe_mutex (held by cpu{owner_cpu})", op.name())
            }
            KprobeStep::ArchPrepareSimulate { handler } => write!(f, "arch_prepare_simulate: {handler}"),
            KprobeStep::ArchPrepareSsSlot { slot } => write!(f, "arch_prepare_ss_slot: slot {slot}"),
            KprobeStep::ArchPrepareKprobe { slot, len, class } => {
                write!(f, "arch_prepare_kprobe: slot {slot} ({len} bytes), {class}")
            }
            KprobeStep::JoinsAggr { addr } => write!(f, "joins the probe at {addr} (aggr_kprobe)"),
            KprobeStep::Armed => f.write_str("armed"),
            KprobeStep::HandlerCalls { func } => write!(f, "handler calls {func}"),
            KprobeStep::HandlerCallReturned { ret } => write!(f, "handler's call returned {ret:#x} ({ret})"),
            KprobeStep::HelperCallReturned { func, helper, ret } => {
                write!(f, "{func} returned {ret:#x} ({}) to {helper}", *ret as i64)
            }
            KprobeStep::TraceCallBpfInNmi => {
                f.write_str("trace_call_bpf: in_nmi() (int3 is NMI-like): return 1, programs not run")
            }
            KprobeStep::BpfProgArrayJoined { prog, progs } => {
                write!(f, "PERF_EVENT_IOC_SET_BPF: {prog} joins the event's prog_array ({progs} programs)")
            }
            KprobeStep::PerfFuncFilter { func, progs, ret } => {
                let verdict = if *ret == 0 { "filtered: no perf sample" } else { "kept: the perf sample is submitted" };
                write!(f, "{func}: trace_call_bpf over {progs} programs (results ANDed) returned {ret}: {verdict}")
            }
            KprobeStep::BpfAttachUnsupported { attach } => {
                write!(f, "BPF program attach point {attach} is not attached by the model yet")
            }
            KprobeStep::KretprobeNoFreeInstance => f.write_str("pre_handler_kretprobe: no free instance (nmissed++)"),
            KprobeStep::KretprobeEntryHandlerRejected => {
                f.write_str("entry_handler returned non-zero: instance recycled")
            }
            KprobeStep::ArchPrepareKretprobe { ret_addr, trampoline } => {
                write!(f, "arch_prepare_kretprobe: ret_addr {ret_addr:#x} -> {trampoline}")
            }
            KprobeStep::KretprobeFpMismatch { instance_fp, frame_pointer } => {
                write!(f, "WARN: kretprobe instance fp {instance_fp:#x} != frame pointer {frame_pointer:#x}")
            }
            KprobeStep::KretprobeTrampolineHandler { ret_addr, retval } => {
                write!(f, "kretprobe_trampoline_handler: return to {ret_addr:#x}, return value {retval:#x}")
            }
            KprobeStep::KretprobeCallSkipped { func } => {
                write!(f, "kretprobe handlers cannot call kernel functions in this model (skipped {func})")
            }
            KprobeStep::StackTraceSaved { trace } => {
                let shown: Vec<&str> = trace.iter().map(|a| a.sym.as_str()).collect();
                write!(f, "stack_trace_save_regs: [{}]", shown.join(", "))
            }
        }
    }
}

/// A step of the kprobe hit path: arm64 `arch/arm64/kernel/probes/kprobes.c`, x86 `arch/x86/kernel/kprobes/core.c`,
/// and the generic tail in `kernel/kprobes.c`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum HitStep {
    /// arm64 `kprobe_breakpoint_handler`: the BRK is a probe's; its pre-handlers run.
    KprobeBreakpointHandler,
    /// x86 `kprobe_int3_handler`: the int3 is a probe's; its pre-handlers run.
    KprobeInt3Handler,
    /// 5.10 arm64 `kprobe_handler` found no probe at the BRK (another CPU removed it; this CPU ran its stale copy):
    /// `kprobe_breakpoint_handler` returns `DBG_HOOK_HANDLED` and the CPU returns to the instruction.
    NoKprobeBackToInsn,
    /// `reenter_kprobe`: a probe hit while another is handled; counted as missed, no handlers run.
    ReenterMissed {
        /// The probe being handled (arm64 shows it).
        current: Option<KernelVa>,
    },
    /// A pre-handler returned non-zero (it changed the pc): no single-step, no post-handler.
    PreHandlerSkipSinglestep {
        /// Its return value.
        #[serde(serialize_with = "hex")]
        ret: u64,
    },
    /// arm64 `setup_singlestep`: the pc goes to the XOL slot with DAIF masked.
    SetupSinglestepXol {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 `setup_singlestep` of a boostable copy: the copy jumps back by itself.
    SetupSinglestepBoosted {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 5.10 `setup_singlestep`: TF single-step of the copy.
    SetupSinglestepTf {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 6.x `setup_singlestep`: the copy is followed by an int3.
    SetupSinglestepInt3 {
        /// The slot.
        slot: KernelVa,
    },
    /// arm64 `arch_simulate_insn`: the `simulate_*` handler ran.
    Simulate {
        /// The handler.
        handler: String,
    },
    /// x86 `kprobe_emulate_*` ran.
    Emulate {
        /// The emulation function.
        func: &'static str,
    },
    /// arm64 `kprobe_breakpoint_ss_handler`: the XOL step is done.
    KprobeBreakpointSsHandler,
    /// x86 6.x `resume_singlestep`: the int3 after the copy.
    ResumeSinglestep,
    /// x86 5.10 `kprobe_debug_handler` → `resume_execution`: the #DB after the TF step.
    KprobeDebugHandler,
    /// arm64 `post_kprobe_handler` of a reentered probe: `restore_previous_kprobe`.
    PostKprobeHandlerRestore,
    /// x86 `kprobe_post_process` of a reentered probe: `restore_previous_kprobe`.
    RestorePreviousKprobe,
    /// arm64 `post_kprobe_handler` with no post-handler to run.
    PostKprobeHandlerDone,
    /// x86 `kprobe_post_process` with no post-handler to run.
    KprobePostProcessDone,
    /// The post-handlers ran.
    PostHandlerDone,
}

impl HitStep {
    /// The step where a hit enters the kprobe handler (`kprobe_breakpoint_handler` / `kprobe_int3_handler`).
    #[must_use]
    pub fn is_handler_entry(&self) -> bool {
        matches!(self, HitStep::KprobeBreakpointHandler | HitStep::KprobeInt3Handler)
    }
}

impl fmt::Display for HitStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HitStep::KprobeBreakpointHandler => f.write_str("kprobe_breakpoint_handler"),
            HitStep::KprobeInt3Handler => f.write_str("kprobe_int3_handler"),
            HitStep::NoKprobeBackToInsn => {
                f.write_str("kprobe_handler: no kprobe (removed by another CPU): back to the instruction")
            }
            HitStep::ReenterMissed { current: Some(cur) } => {
                write!(f, "reenter_kprobe: missed (current {cur}), no handlers")
            }
            HitStep::ReenterMissed { current: None } => f.write_str("reenter_kprobe: missed, no handlers"),
            HitStep::PreHandlerSkipSinglestep { ret } => write!(f, "pre_handler returned {ret}: no single-step"),
            HitStep::SetupSinglestepXol { slot } => write!(f, "setup_singlestep: pc = slot {slot}, DAIF masked"),
            HitStep::SetupSinglestepBoosted { slot } => write!(f, "setup_singlestep: boosted, ip = slot {slot}"),
            HitStep::SetupSinglestepTf { slot } => write!(f, "setup_singlestep: TF single-step of slot {slot}"),
            HitStep::SetupSinglestepInt3 { slot } => {
                write!(f, "setup_singlestep: ip = slot {slot} (int3 after the copy)")
            }
            HitStep::Simulate { handler } => f.write_str(handler),
            HitStep::Emulate { func } => f.write_str(func),
            HitStep::KprobeBreakpointSsHandler => f.write_str("kprobe_breakpoint_ss_handler"),
            HitStep::ResumeSinglestep => f.write_str("resume_singlestep (int3 after the copy)"),
            HitStep::KprobeDebugHandler => f.write_str("kprobe_debug_handler: resume_execution"),
            HitStep::PostKprobeHandlerRestore => f.write_str("post_kprobe_handler: restore_previous_kprobe"),
            HitStep::RestorePreviousKprobe => f.write_str("restore_previous_kprobe"),
            HitStep::PostKprobeHandlerDone => f.write_str("post_kprobe_handler: done"),
            HitStep::KprobePostProcessDone => f.write_str("kprobe_post_process: done"),
            HitStep::PostHandlerDone => f.write_str("post_handler done"),
        }
    }
}

/// What `poke_int3_handler` emulated for a `text_poke_bp` site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "insn", rename_all = "snake_case")]
pub enum PokeEmulation {
    /// `int3_emulate_ret`.
    Ret,
    /// `int3_emulate_call`.
    Call {
        /// The target.
        target: SymAddr,
    },
    /// `int3_emulate_jmp`.
    Jmp {
        /// The target.
        target: SymAddr,
    },
    /// `int3_emulate_jcc`.
    Jcc,
}

impl fmt::Display for PokeEmulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PokeEmulation::Ret => f.write_str("ret"),
            PokeEmulation::Call { target } => write!(f, "call {}", target.sym),
            PokeEmulation::Jmp { target } => write!(f, "jmp {}", target.sym),
            PokeEmulation::Jcc => f.write_str("jcc"),
        }
    }
}

/// A step of a CPU's stopper thread (`kernel/stop_machine.c`) or of x86's `text_poke_bp_batch`
/// (`arch/x86/kernel/alternative.c`), which live text patching runs instead of `stop_machine`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum CpuStopStep {
    /// `die()` killed this CPU's stopper thread (`migration/N`): its `stop_machine` can never complete.
    StopperKilled {
        /// The stopper's CPU.
        stopper: CpuId,
    },
    /// `cpu_stopper_thread` (`migration/N`) picks the work and calls `multi_cpu_stop`.
    CpuStopperThread {
        /// The stopper's CPU (the N of `migration/N`).
        stopper: CpuId,
    },
    /// `multi_cpu_stop` in `MULTI_STOP_DISABLE_IRQ`: `local_irq_disable`.
    LocalIrqDisable,
    /// `multi_cpu_stop` in `MULTI_STOP_RUN` on an active CPU: the stop function runs.
    RunFn {
        /// The function (`aarch64_insn_patch_text_cb`, …).
        func: &'static str,
    },
    /// `multi_cpu_stop` returns; `cpu_stop_signal_done`.
    MultiCpuStopReturns,
    /// `stop_machine_yield` calls a function whose text this CPU has not resynchronised after a patch.
    StaleYield {
        /// The function.
        func: SymAddr,
    },
    /// One step of `text_poke_bp_batch`, then `text_poke_sync()`.
    TextPokeBpStep {
        /// 1: int3 at every site; 2: all but the first byte; 3: the first byte.
        phase: u8,
    },
    /// `text_poke_bp_batch` is done; `bp_desc` released.
    TextPokeBpDone,
    /// `poke_int3_handler` met the int3 of a `text_poke_bp` site and emulated its new instruction.
    PokeInt3Handler {
        /// The site.
        ip: KernelVa,
        /// What it emulated.
        emulates: PokeEmulation,
    },
}

impl fmt::Display for CpuStopStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuStopStep::CpuStopperThread { stopper } => {
                write!(f, "migration/{stopper}: cpu_stopper_thread -> multi_cpu_stop")
            }
            CpuStopStep::LocalIrqDisable => f.write_str("local_irq_disable"),
            CpuStopStep::RunFn { func } => write!(f, "{func} (is_active)"),
            CpuStopStep::StopperKilled { stopper } => {
                write!(f, "migration/{stopper} killed by the oops: its stop_machine can never complete")
            }
            CpuStopStep::MultiCpuStopReturns => f.write_str("multi_cpu_stop returns; cpu_stop_signal_done"),
            CpuStopStep::StaleYield { func } => write!(
                f,
                "stop_machine_yield -> {}: patched text this CPU has not resynchronised with \
                 (it may run the old or the new bytes; the model runs its stale copy)",
                func.sym
            ),
            CpuStopStep::TextPokeBpStep { phase } => {
                let what = match phase {
                    1 => "step 1: int3 at every site",
                    2 => "step 2: all but the first byte",
                    _ => "step 3: the first byte",
                };
                write!(f, "text_poke_bp_batch {what}; text_poke_sync()")
            }
            CpuStopStep::TextPokeBpDone => f.write_str("text_poke_bp_batch: done, bp_desc released"),
            CpuStopStep::PokeInt3Handler { ip, emulates } => {
                write!(f, "poke_int3_handler: int3 of text_poke_bp at {ip}, emulates {emulates}")
            }
        }
    }
}

/// This CPU's part in `aarch64_insn_patch_text_cb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchCbRole {
    /// The first CPU in (`atomic_inc_return == 1`): it writes the instructions.
    Master,
    /// Any other CPU: it spins until the master releases it.
    Waiter,
    /// The master's final `atomic_inc`, releasing the waiters.
    Release,
}

impl fmt::Display for PatchCbRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchCbRole::Master => "master",
            PatchCbRole::Waiter => "waiter",
            PatchCbRole::Release => "release",
        })
    }
}

/// Where a CPU is while the master writes in `__aarch64_insn_write`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum PatchCpuAt {
    /// In `__aarch64_insn_write` (the master).
    InsnWrite,
    /// In `aarch64_insn_patch_text_nosync` (flushing or releasing).
    PatchTextNosync,
    /// Spinning in `aarch64_insn_patch_text_cb` (`cpu_relax`).
    CpuRelax,
    /// At the `isb` of `aarch64_insn_patch_text_cb`.
    Isb,
    /// Not in the callback yet.
    NotYet {
        /// Its guest pc.
        pc: SymAddr,
    },
}

/// One CPU's place in an [`EventKind::InsnPatch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatchCpu {
    /// The CPU.
    pub cpu: CpuId,
    /// Where it is.
    #[serde(flatten)]
    pub at: PatchCpuAt,
}

impl fmt::Display for PatchCpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu{}: ", self.cpu)?;
        match &self.at {
            PatchCpuAt::InsnWrite => f.write_str("__aarch64_insn_write"),
            PatchCpuAt::PatchTextNosync => f.write_str("aarch64_insn_patch_text_nosync"),
            PatchCpuAt::CpuRelax => f.write_str("aarch64_insn_patch_text_cb (cpu_relax)"),
            PatchCpuAt::Isb => f.write_str("aarch64_insn_patch_text_cb (isb)"),
            PatchCpuAt::NotYet { pc } => write!(f, "not yet in aarch64_insn_patch_text_cb (guest pc {})", pc.sym),
        }
    }
}

/// The kernel operation that makes a CPU fetch the new bytes of patched text (a context synchronisation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncReason {
    /// arm64 `isb`.
    Isb,
    /// arm64 exception return.
    Eret,
    /// x86 `iret`.
    Iret,
    /// Exception entry.
    ExceptionEntry,
    /// Exception return.
    ExceptionReturn,
    /// arm64 `kick_all_cpus_sync` IPI.
    KickAllCpusSyncIpi,
    /// x86 `text_poke_sync` on the patching CPU: `sync_core`.
    SyncCore,
    /// x86 `text_poke_sync` IPI on another CPU: `sync_core`.
    SyncCoreIpi,
}

impl fmt::Display for SyncReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncReason::Isb => "isb",
            SyncReason::Eret => "eret",
            SyncReason::Iret => "iret",
            SyncReason::ExceptionEntry => "exception entry",
            SyncReason::ExceptionReturn => "exception return",
            SyncReason::KickAllCpusSyncIpi => "kick_all_cpus_sync IPI",
            SyncReason::SyncCore => "sync_core (text_poke_sync)",
            SyncReason::SyncCoreIpi => "sync_core (text_poke_sync IPI)",
        })
    }
}

/// `enum multi_stop_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiStopState {
    /// `MULTI_STOP_NONE`.
    None,
    /// `MULTI_STOP_PREPARE`.
    Prepare,
    /// `MULTI_STOP_DISABLE_IRQ`.
    DisableIrq,
    /// `MULTI_STOP_RUN`.
    Run,
    /// `MULTI_STOP_EXIT`.
    Exit,
}

impl MultiStopState {
    /// The kernel's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MultiStopState::None => "MULTI_STOP_NONE",
            MultiStopState::Prepare => "MULTI_STOP_PREPARE",
            MultiStopState::DisableIrq => "MULTI_STOP_DISABLE_IRQ",
            MultiStopState::Run => "MULTI_STOP_RUN",
            MultiStopState::Exit => "MULTI_STOP_EXIT",
        }
    }
}

// `kprobe_status` values (include/linux/kprobes.h), recorded in hit events; `crate::kprobes` re-exports them.
/// `KPROBE_HIT_ACTIVE`: a pre-handler is running.
pub const KPROBE_HIT_ACTIVE: u32 = 0x0000_0001;
/// `KPROBE_HIT_SS`: the probed instruction is being stepped out of line.
pub const KPROBE_HIT_SS: u32 = 0x0000_0002;
/// `KPROBE_REENTER`: a probe hit while another was being handled is being stepped.
pub const KPROBE_REENTER: u32 = 0x0000_0004;
/// `KPROBE_HIT_SSDONE`: the step is done; the post-handler is running.
pub const KPROBE_HIT_SSDONE: u32 = 0x0000_0008;

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(step: HitStep, status: KprobeStatus) -> EventKind {
        EventKind::KprobeHit { probe: "kp".into(), addr: KernelVa(0xffff_ffc0_1009_6100), step, status }
    }

    fn kprobe(step: KprobeStep) -> EventKind {
        EventKind::Kprobe { probe: "kp".into(), step }
    }

    /// The text view is what the snapshots and users read: each variant renders to exactly the line the
    /// prose emission sites used to build.
    #[test]
    fn variants_render_to_their_text_lines() {
        let slot = KernelVa(0xffff_ffc0_13e9_b000);
        let cases: Vec<(EventKind, &str)> = vec![
            (
                kprobe(KprobeStep::RegisterKprobeReturned { errno: None, reason: None }),
                "kp: register_kprobe returned 0",
            ),
            (
                kprobe(KprobeStep::RegisterKprobeReturned {
                    errno: Some(Errno::EILSEQ),
                    reason: Some("not on an instruction boundary".into()),
                }),
                "kp: register_kprobe returned -EILSEQ (-84): not on an instruction boundary",
            ),
            (
                kprobe(KprobeStep::RegisterKprobesReturned { errno: Some(Errno::ENOENT), unregistering: 2 }),
                "kp: register_kprobes returned -ENOENT (-2); unregistering 2 already registered",
            ),
            (
                kprobe(KprobeStep::ProbeOpReturned { op: KprobeOpFn::DisableKprobe, errno: None }),
                "kp: disable_kprobe returned 0",
            ),
            (kprobe(KprobeStep::ArchPrepareSsSlot { slot }), "kp: arch_prepare_ss_slot: slot ffffffc013e9b000"),
            (
                kprobe(KprobeStep::ArchPrepareSimulate { handler: "simulate_b_bl" }),
                "kp: arch_prepare_simulate: simulate_b_bl",
            ),
            (kprobe(KprobeStep::Armed), "kp: armed"),
            (kprobe(KprobeStep::HandlerCallReturned { ret: 0x1e }), "kp: handler's call returned 0x1e (30)"),
            (
                kprobe(KprobeStep::KretprobeTrampolineHandler { ret_addr: 0xffff_ffc0_1000_0010, retval: 0 }),
                "kp: kretprobe_trampoline_handler: return to 0xffffffc010000010, return value 0x0",
            ),
            (
                kprobe(KprobeStep::StackTraceSaved {
                    trace: vec![
                        SymAddr { addr: KernelVa(0x10), sym: "f+0x10".into() },
                        SymAddr { addr: KernelVa(0x20), sym: "g+0x4".into() },
                    ],
                }),
                "kp: stack_trace_save_regs: [f+0x10, g+0x4]",
            ),
            (
                hit(HitStep::KprobeBreakpointHandler, KprobeStatus::HitActive),
                "kp@ffffffc010096100: kprobe_breakpoint_handler [KPROBE_HIT_ACTIVE]",
            ),
            (
                hit(HitStep::SetupSinglestepXol { slot }, KprobeStatus::HitSs),
                "kp@ffffffc010096100: setup_singlestep: pc = slot ffffffc013e9b000, DAIF masked [KPROBE_HIT_SS]",
            ),
            (
                hit(HitStep::ReenterMissed { current: None }, KprobeStatus::Reenter),
                "kp@ffffffc010096100: reenter_kprobe: missed, no handlers [KPROBE_REENTER]",
            ),
            (
                hit(HitStep::PostKprobeHandlerDone, KprobeStatus::None),
                "kp@ffffffc010096100: post_kprobe_handler: done [0]",
            ),
            (
                EventKind::Stopper { step: CpuStopStep::CpuStopperThread { stopper: CpuId(3) } },
                "migration/3: cpu_stopper_thread -> multi_cpu_stop",
            ),
            (
                EventKind::Stopper { step: CpuStopStep::RunFn { func: "aarch64_insn_patch_text_cb" } },
                "aarch64_insn_patch_text_cb (is_active)",
            ),
            (
                EventKind::Stopper { step: CpuStopStep::TextPokeBpStep { phase: 2 } },
                "text_poke_bp_batch step 2: all but the first byte; text_poke_sync()",
            ),
            (
                EventKind::Stopper {
                    step: CpuStopStep::PokeInt3Handler {
                        ip: KernelVa(0xffff_ffff_8100_0000),
                        emulates: PokeEmulation::Call { target: SymAddr { addr: KernelVa(0), sym: "f".into() } },
                    },
                },
                "poke_int3_handler: int3 of text_poke_bp at ffffffff81000000, emulates call f",
            ),
            (
                EventKind::StopMachineState { state: MultiStopState::DisableIrq },
                "all CPUs acked: state -> MULTI_STOP_DISABLE_IRQ",
            ),
            (
                EventKind::PatchCb { role: PatchCbRole::Master, cpu_count: 1 },
                "aarch64_insn_patch_text_cb: master, cpu_count=1",
            ),
            (
                EventKind::IcacheSync { addr: slot, len: 8, why: SyncReason::SyncCoreIpi },
                "ffffffc013e9b000+0x8 (sync_core (text_poke_sync IPI))",
            ),
            (EventKind::SyncSkipped { why: SyncReason::Isb }, "isb skipped by fault injection"),
            (
                EventKind::Oops { oops: Oops::UnexpectedBrk { esr: 0xf200_0004 } },
                "Unexpected kernel BRK exception at EL1; Internal error: BRK handler: f2000004 [#1] SMP",
            ),
            (
                EventKind::Oops {
                    oops: Oops::PagingRequest { addr: 0, what: "unmapped fetch".into(), pc: 0xffff_ffc0_1000_0000 },
                },
                "Unable to handle kernel paging request at virtual address 0000000000000000 (unmapped fetch), \
                 pc ffffffc010000000",
            ),
            (
                EventKind::Oops { oops: Oops::UnrecoverableKprobe { file: "arch/x86/kernel/kprobes/core.c" } },
                "Unrecoverable kprobe detected. kernel BUG at arch/x86/kernel/kprobes/core.c",
            ),
            (EventKind::Oops { oops: Oops::X86Trap { name: "invalid opcode" } }, "invalid opcode: 0000 [#1] SMP"),
            (
                EventKind::BpfOutput { map: "events".into(), buffer: BpfBuffer::Ringbuf, cpu: 1, size: 16 },
                "ringbuf record of 16 bytes to events (cpu 1)",
            ),
            (
                EventKind::InsnPatch {
                    patch: KernelVa(0xffff_ffc0_1234_0000),
                    text_addrs: vec![slot],
                    new_insns: vec![0xd420_0080],
                    insn_cnt: 1,
                    cpu_count: 1,
                    cpus: vec![
                        PatchCpu { cpu: CpuId(0), at: PatchCpuAt::InsnWrite },
                        PatchCpu {
                            cpu: CpuId(1),
                            at: PatchCpuAt::NotYet { pc: SymAddr { addr: KernelVa(0), sym: "f+0x8".into() } },
                        },
                    ],
                },
                "__aarch64_insn_write: aarch64_insn_patch@ffffffc012340000 {text_addrs=[ffffffc013e9b000], \
                 new_insns=[d4200080], insn_cnt=1, cpu_count=1}; cpu0: __aarch64_insn_write; \
                 cpu1: not yet in aarch64_insn_patch_text_cb (guest pc f+0x8)",
            ),
        ];
        for (event, text) in cases {
            assert_eq!(event.to_string(), text, "{event:?}");
        }
    }
}
