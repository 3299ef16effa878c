//! Attaching BPF programs to trace kprobes (kernel/trace/trace_kprobe.c, kernel/trace/bpf_trace.c), in the two
//! ways user space does it:
//!
//! - [`BpfAttachMode::SharedEvent`], BCC's named event: the first program creates the kprobe event `p_<sym>_0`
//!   (`r_<sym>_0` for a return probe; `register_kprobe` with `kprobe_dispatcher` as pre-handler), and every
//!   program opens a perf event on it and `PERF_EVENT_IOC_SET_BPF`s: `perf_event_attach_bpf_prog` appends it to
//!   the event's one `prog_array` (`tp_event->prog_array`), whose results `trace_call_bpf` ANDs.
//! - [`BpfAttachMode::PerfKprobe`], libbpf's `bpf_program__attach_kprobe`: `perf_event_open` on the `kprobe` PMU
//!   → `perf_kprobe_init` → `create_local_trace_kprobe`: a local trace_kprobe per attach, with its own
//!   `struct kprobe` (aggregated with the others at the address by `register_aggr_kprobe`, each pre-handler run)
//!   and a `prog_array` of one. Its event is named after the function and is in no tracefs list; the model labels
//!   it `<sym>/<prog>`.

use super::*;
use crate::bpf::runtime::perf_event_attach_bpf_prog;

/// How a BPF program reaches the function it probes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BpfAttachMode {
    /// BCC's named kprobe event, shared by every program attached to it (one `prog_array`).
    #[default]
    SharedEvent,
    /// libbpf's perf kprobe: a local trace kprobe of its own per attach.
    PerfKprobe,
}

/// The `struct kprobe` of a trace kprobe (`perf_event_open` of a kprobe event): `kprobe_dispatcher` as its
/// pre-handler, `progs` as the event's `prog_array`.
pub(super) fn trace_kprobe_spec(name: String, symbol: &str, pre_handler: PreHandler) -> KprobeSpec {
    KprobeSpec {
        name,
        symbol_name: Some(symbol.to_string()),
        offset: 0,
        addr: None,
        pre_handler,
        post_handler: None,
        disabled: false,
    }
}

/// The `prog_array` of a trace event's pre-handler or, for a trace kretprobe, of its return handler.
fn prog_array<'a>(pre: &'a mut PreHandler, kretprobes: &'a mut [Kretprobe]) -> Option<&'a mut Vec<ProgId>> {
    match pre {
        PreHandler::TraceDispatcher { progs } => Some(progs),
        PreHandler::Kretprobe(rp) => kretprobes.get_mut(*rp)?.handler.as_mut()?.iter_mut().find_map(|a| match a {
            HandlerAction::RunBpf(progs) => Some(progs),
            _ => None,
        }),
        _ => None,
    }
}

impl Kernel {
    /// Loads an assembled BPF program and attaches it (`mode`) as a trace kprobe on `symbol`.
    pub fn request_attach_bpf_asm(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        name: &str,
        text: &str,
        symbol: &str,
        mode: BpfAttachMode,
    ) -> Result<(), crate::bpf::BpfObjectError> {
        let id = self.core.bpf.load_asm(name, text)?;
        self.attach_trace_kprobe(m, cpu, id, name, symbol, false, mode);
        Ok(())
    }

    /// Loads a BPF object (`bytes`, read by the caller from `object`) and attaches (`mode`) its `kprobe/<symbol>`
    /// and `kretprobe/<symbol>` programs as trace kprobes, registered by `cpu`'s task. Returns the loader's error,
    /// if any.
    pub fn request_attach_bpf(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        object: &std::path::Path,
        bytes: &[u8],
        mode: BpfAttachMode,
    ) -> Result<(), crate::bpf::BpfObjectError> {
        let ids = self.core.bpf.load_object(object, bytes)?;
        for id in ids {
            let Some(p) = self.core.bpf.prog(id) else { continue };
            let (name, attach) = (p.name.clone(), p.attach.clone());
            match attach {
                crate::bpf::AttachPoint::Kprobe { symbol: Some(sym) } => {
                    self.attach_trace_kprobe(m, cpu, id, &name, &sym, false, mode);
                }
                crate::bpf::AttachPoint::Kretprobe { symbol: Some(sym) } => {
                    self.attach_trace_kprobe(m, cpu, id, &name, &sym, true, mode);
                }
                other => m.emit(cpu, EventKind::Kprobe {
                    probe: name,
                    step: KprobeStep::BpfAttachUnsupported { attach: format!("{other:?}") },
                }),
            }
        }
        Ok(())
    }

    /// Attaches program `id` to a trace kprobe (or, `ret`, kretprobe) on `sym`: onto the existing shared event
    /// if there is one, else through a new event (`register_kprobe` / `register_kretprobe` in `cpu`'s task).
    #[allow(clippy::too_many_arguments)]
    fn attach_trace_kprobe(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProgId,
        prog: &str,
        sym: &str,
        ret: bool,
        mode: BpfAttachMode,
    ) {
        let event = match mode {
            // BCC's event names: p_<symbol>_0, r_<symbol>_0.
            BpfAttachMode::SharedEvent => format!("{}_{sym}_0", if ret { 'r' } else { 'p' }),
            BpfAttachMode::PerfKprobe => self.unique_event_name(format!("{sym}/{prog}")),
        };
        if mode == BpfAttachMode::SharedEvent && self.perf_event_set_bpf(m, cpu, &event, id, prog) {
            return;
        }
        if ret {
            let kp = trace_kprobe_spec(event, sym, PreHandler::None);
            // kretprobe_dispatcher → kretprobe_perf_func → trace_call_bpf, as the return handler.
            let handler = Some(vec![HandlerAction::RunBpf(vec![id])]);
            self.request_register_kretprobe(m, cpu, kp, 0, None, handler);
        } else {
            let pre = PreHandler::TraceDispatcher { progs: vec![id] };
            self.request_register_kprobe(m, cpu, trace_kprobe_spec(event, sym, pre));
        }
    }

    /// `PERF_EVENT_IOC_SET_BPF` on a new perf event of the trace event `event`, if that event exists (registered,
    /// or its registration pending in some task): `perf_event_attach_bpf_prog` adds program `id` to its
    /// `prog_array`. A refusal (`-E2BIG` past `BPF_TRACE_MAX_PROGS`) is a failed attach. Returns whether the
    /// event existed.
    fn perf_event_set_bpf(&mut self, m: &mut dyn Machine, cpu: CpuId, event: &str, id: ProgId, prog: &str) -> bool {
        let kretprobes = &mut self.core.kretprobes.probes;
        let registered = self.core.kprobes.probes.iter_mut().filter(|p| p.registered).map(|p| &mut p.spec);
        let pending = self.activities.iter_mut().flatten().filter_map(|a| match a {
            Activity::Register(op) => Some(&mut op.spec),
            _ => None,
        });
        let Some(spec) = registered.chain(pending).find(|s| s.name == event) else { return false };
        let Some(array) = prog_array(&mut spec.pre_handler, kretprobes) else { return false };
        match perf_event_attach_bpf_prog(array, id) {
            Ok(progs) => m.emit(cpu, EventKind::Kprobe {
                probe: event.to_string(),
                step: KprobeStep::BpfProgArrayJoined { prog: prog.to_string(), progs },
            }),
            Err(errno) => m.emit(cpu, EventKind::BpfLoadFailed {
                prog: prog.to_string(),
                error: format!("PERF_EVENT_IOC_SET_BPF on {event}: perf_event_attach_bpf_prog returned {errno}"),
            }),
        }
        true
    }

    /// `name`, or `name#2`, `name#3`, … if a probe (registered or pending) already has it: local trace kprobes
    /// are separate events whatever their names, while the model's probes are told apart by name.
    fn unique_event_name(&self, name: String) -> String {
        let taken = |n: &str| {
            self.core.kprobes.probes.iter().any(|p| p.registered && p.spec.name == n)
                || self.activities.iter().flatten().any(|a| matches!(a, Activity::Register(op) if op.spec.name == n))
        };
        if !taken(&name) {
            return name;
        }
        (2..).map(|i| format!("{name}#{i}")).find(|n| !taken(n)).expect("some suffix is free")
    }
}
