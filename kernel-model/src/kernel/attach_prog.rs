//! Loading a program set built in memory (a front end's bytecode and maps, as `bpftrace` hands libbpf a
//! `bpf_object`) and attaching its kprobe/kretprobe programs: the `perf_event_open` of a kprobe PMU event and
//! `PERF_EVENT_IOC_SET_BPF` (kernel/trace/trace_kprobe.c `create_local_trace_kprobe`, kernel/trace/bpf_trace.c
//! `perf_event_attach_bpf_prog`), which end in the same `register_kprobe`/`register_kretprobe` with
//! `kprobe_dispatcher` that [`Kernel::request_attach_bpf`] uses.

use super::trace_kprobe::trace_kprobe_spec;
use super::*;
use crate::bpf::{AttachPoint, BpfObject, BpfObjectError};

impl Kernel {
    /// Loads `obj` (its maps are created, each program goes through the verifier: `bpf_object__load`) and asks
    /// `cpu`'s task to attach every program whose attach point names a symbol: `Kprobe` as a trace kprobe whose
    /// pre-handler runs it (`kprobe_dispatcher` → `kprobe_perf_func` → `trace_call_bpf`), `Kretprobe` as a
    /// kretprobe whose return handler does (`kretprobe_dispatcher` → `kretprobe_perf_func`). Programs without a
    /// symbol are only loaded (the caller runs them, as bpftrace runs `BEGIN`/`END` through its own uprobes).
    /// Returns the programs' ids in object order, and the ids of the maps it created in object order.
    pub fn request_attach_prog(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        obj: &BpfObject,
    ) -> Result<(Vec<ProgId>, Vec<u32>), BpfObjectError> {
        let first_map = self.core.bpf.maps().last().map_or(1, |m| m.id + 1);
        let ids = self.core.bpf.load(obj)?;
        let map_ids = (0..obj.maps.len() as u32).map(|i| first_map + i).collect();
        for (p, &id) in obj.programs.iter().zip(&ids) {
            match &p.attach {
                AttachPoint::Kprobe { symbol: Some(sym) } => {
                    // libbpf's `kprobe/FUNC+OFFSET` section form: the offset goes to `kprobe.offset`.
                    let (func, offset) = match sym.split_once('+').map(|(f, o)| (f, parse_offset(o))) {
                        Some((f, Some(o))) => (f.to_string(), o),
                        _ => (sym.clone(), 0),
                    };
                    let pre = PreHandler::TraceDispatcher { progs: vec![id] };
                    let spec = KprobeSpec { offset, ..trace_kprobe_spec(format!("p_{func}_{offset}"), &func, pre) };
                    self.request_register_kprobe(m, cpu, spec);
                }
                AttachPoint::Kretprobe { symbol: Some(sym) } => {
                    let spec = trace_kprobe_spec(format!("r_{sym}_0"), sym, PreHandler::None);
                    self.request_register_kretprobe(m, cpu, spec, 0, None, Some(vec![HandlerAction::RunBpf(vec![id])]));
                }
                _ => {}
            }
        }
        Ok((ids, map_ids))
    }
}

/// `OFFSET` of `FUNC+OFFSET`: decimal or `0x` hex (libbpf `sscanf("%li")`).
fn parse_offset(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}
