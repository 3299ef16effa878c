//! The tracing instance of a run (`struct trace_array`, `kernel/trace/trace.c`): kprobe events, `error_log`, the
//! per-CPU ring buffers and filters, and the hit side of a kprobe event, `kprobe_trace_func`/`kretprobe_trace_func`
//! (`kernel/trace/trace_kprobe.c`). It sits below `kernel_core`, which holds it and runs the hit side from a
//! probe's handlers; the tracefs file operations that queue kprobe-core work are `crate::kernel_trace`'s.

use crate::event::EventKind;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::ptrace::PtRegs;
use crate::trace::error_log::ErrorLog;
use crate::trace::output::{record_line, ProbeIp, TraceFlags, TraceRecord};
use crate::trace::ring_buffer::RingBuffer;
use crate::trace::trace_events_filter::EventFilter;
use crate::trace::trace_kprobe::{ProbeDefinition, ProbeHandle, TraceKprobeConfig, TraceKprobes};
use crate::trace::trace_probe_tmpl::{store_trace_args, FetchContext};
use crate::{CpuId, KernelVa};
use std::collections::BTreeMap;

/// Records each per-CPU buffer keeps (`buffer_size_kb` in records).
pub const RING_BUFFER_RECORDS: usize = 4096;

/// The default `[machine] uptime_ns`: virtual time 0 is one second after boot, so lines are not `0.000000`.
pub const DEFAULT_UPTIME_NS: u64 = 1_000_000_000;

/// `TASK_SIZE` as `probe_mem_read` compares it. The simulated machine has one address space, so the split only
/// names which copy routine reads (`copy_from_user_nofault` or `copy_from_kernel_nofault`).
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// The tracing instance of one run.
#[derive(Clone, Debug)]
pub struct Tracefs {
    /// The kprobe events (`dyn_event` list).
    pub kprobes: TraceKprobes,
    /// `error_log`.
    pub error_log: ErrorLog,
    /// The per-CPU ring buffers.
    pub buffer: RingBuffer,
    /// `tracing_on`.
    pub tracing_on: bool,
    /// Added to virtual time for timestamps (the machine's uptime when the run starts).
    pub uptime_ns: u64,
    pub(crate) filters: BTreeMap<(String, String), EventFilter>,
    /// A rejected filter's file text (`append_filter_err`), until the next write.
    pub(crate) filter_errors: BTreeMap<(String, String), String>,
    /// The core kprobe name of each probe handle.
    pub(crate) names: BTreeMap<ProbeHandle, String>,
    pub(crate) next_handle: u64,
    pub(crate) nr_cpus: usize,
}

impl Tracefs {
    /// An empty instance.
    #[must_use]
    pub fn new(profile: KernelProfile, nr_cpus: usize) -> Tracefs {
        Tracefs {
            kprobes: TraceKprobes::new(profile, TraceKprobeConfig { kprobe_events_on_notrace: true, ..Default::default() }),
            error_log: ErrorLog::new(),
            buffer: RingBuffer::new(nr_cpus as u32, RING_BUFFER_RECORDS),
            tracing_on: true,
            uptime_ns: DEFAULT_UPTIME_NS,
            filters: BTreeMap::new(),
            filter_errors: BTreeMap::new(),
            names: BTreeMap::new(),
            next_handle: 0,
            nr_cpus,
        }
    }

    pub(crate) fn def_of_id(&self, id: u32) -> Option<ProbeDefinition> {
        let ev = self.kprobes.events().iter().find(|e| e.id == id)?;
        self.kprobes.probes().iter().find(|p| p.def.group == ev.group && p.def.event == ev.event).map(|p| p.def.clone())
    }
}

/// The probed context as `process_fetch_insn` reads it.
struct ProbedContext<'a> {
    regs: Vec<u8>,
    sp: u64,
    m: &'a dyn Machine,
    comm: String,
}

impl FetchContext for ProbedContext<'_> {
    fn reg(&self, offset: usize) -> u64 {
        self.regs.get(offset..offset + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }
    fn stack_nth(&self, n: u32) -> Option<u64> {
        self.m.read_u64(KernelVa(self.sp.wrapping_add(u64::from(n) * 8))).ok()
    }
    fn stack_pointer(&self) -> u64 {
        self.sp
    }
    fn entry_arg(&self, _index: u32) -> u64 {
        // [6.12] $argN of a return probe needs the entry data (`FETCH_OP_EDATA`), not wired yet.
        0
    }
    fn read(&self, addr: u64, buf: &mut [u8], _user: bool) -> bool {
        self.m.read(KernelVa(addr), buf).is_ok()
    }
    fn comm(&self) -> String {
        self.comm.clone()
    }
    fn task_size(&self) -> u64 {
        TASK_SIZE
    }
}

/// `kprobe_dispatcher` → `kprobe_trace_func` (`ret` false) or `kretprobe_dispatcher` → `kretprobe_trace_func`
/// (`ret` true, `regs` at the return, its ip the real return address): count the hit, fetch the arguments, apply
/// the event's filter and commit the record to `cpu`'s buffer. `task` is `current`'s (pid, comm) on `cpu`.
#[allow(clippy::too_many_arguments)]
pub fn kprobe_trace_func(
    t: &mut Tracefs,
    profile: KernelProfile,
    task: (u32, &str),
    m: &mut dyn Machine,
    cpu: CpuId,
    handle: ProbeHandle,
    regs: &PtRegs,
    ret: bool,
) {
    t.kprobes.hit(handle);
    let Some((probe, ev)) = t.kprobes.by_handle(handle) else { return };
    if !ev.enabled || !t.tracing_on {
        return;
    }
    let (pid, comm) = task;
    let comm = match comm {
        "" if pid == 0 => "<idle>".to_string(),
        c => c.to_string(),
    };
    let ctx = ProbedContext { regs: regs.to_bytes(), sp: regs.sp(), m: &*m, comm: comm.clone() };
    let args = store_trace_args(&ctx, m.kallsyms(), &probe.def.args);
    let ip = if ret {
        ProbeIp::Kretprobe { func: probe.addr, ret_ip: KernelVa(regs.ip()) }
    } else {
        ProbeIp::Kprobe { ip: probe.addr }
    };
    // The BRK/int3 handler runs with interrupts masked (`d`); the kretprobe trampoline handler does not.
    let flags = if ret { TraceFlags::default() } else { TraceFlags::irqs_off() };
    let rec = TraceRecord {
        cpu: cpu.0 as u32,
        pid,
        comm,
        flags,
        ts_ns: t.uptime_ns + m.now().0,
        event_id: ev.id,
        ip,
        args,
    };
    let key = (ev.group.clone(), ev.event.clone());
    if t.filters.get(&key).is_some_and(|f| !f.matches(&rec)) {
        return;
    }
    let line = record_line(profile, m.kallsyms(), &rec, &|id| t.def_of_id(id));
    t.buffer.commit(rec);
    m.emit(cpu, EventKind::TraceEvent { event: format!("{}/{}", key.0, key.1), line: line.trim_end().to_string() });
}
