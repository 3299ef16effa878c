//! Attaching BPF programs as trace kprobes (kernel/trace/trace_kprobe.c `perf_event_open` of a kprobe event, with
//! `kprobe_dispatcher` as the pre-handler that runs `trace_call_bpf`, kernel/trace/bpf_trace.c).

use super::*;

/// The `struct kprobe` of a trace kprobe (`perf_event_open` of a kprobe event): `kprobe_dispatcher` as its
/// pre-handler, `progs` as the event's `prog_array`.
fn trace_kprobe_spec(name: String, symbol: &str, pre_handler: PreHandler) -> KprobeSpec {
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

impl Kernel {
    /// Loads an assembled BPF program and attaches it as a trace kprobe on `symbol`.
    pub fn request_attach_bpf_asm(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        name: &str,
        text: &str,
        symbol: &str,
    ) -> Result<(), crate::bpf::BpfObjectError> {
        let id = self.core.bpf.load_asm(name, text)?;
        let pre = PreHandler::TraceDispatcher { progs: vec![id] };
        self.request_register_kprobe(m, cpu, trace_kprobe_spec(format!("p_{symbol}_0"), symbol, pre));
        Ok(())
    }

    /// Loads a BPF object (`bytes`, read by the caller from `object`) and attaches its `kprobe/<symbol>` programs as trace kprobes (BCC/libbpf
    /// `attach_kprobe`: `perf_event_open` → `register_kprobe` with `kprobe_dispatcher`), registered by `cpu`'s
    /// task. Returns the loader's error, if any.
    pub fn request_attach_bpf(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        object: &std::path::Path,
        bytes: &[u8],
    ) -> Result<(), crate::bpf::BpfObjectError> {
        let ids = self.core.bpf.load_object(object, bytes)?;
        for id in ids {
            let Some(p) = self.core.bpf.prog(id) else { continue };
            let (name, attach) = (p.name.clone(), p.attach.clone());
            match attach {
                crate::bpf::AttachPoint::Kprobe { symbol: Some(sym) } => {
                    // BCC's event name: p_<symbol>_0.
                    let pre = PreHandler::TraceDispatcher { progs: vec![id] };
                    self.request_register_kprobe(m, cpu, trace_kprobe_spec(format!("p_{sym}_0"), &sym, pre));
                }
                crate::bpf::AttachPoint::Kretprobe { symbol: Some(sym) } => {
                    // BCC's event name for a return probe: r_<symbol>_0.
                    let kp = trace_kprobe_spec(format!("r_{sym}_0"), &sym, PreHandler::None);
                    // kretprobe_dispatcher → kretprobe_perf_func → trace_call_bpf, as the return handler.
                    let handler = Some(vec![HandlerAction::RunBpf(vec![id])]);
                    self.request_register_kretprobe(m, cpu, kp, 0, None, handler);
                }
                other => m.emit(cpu, EventKind::Kprobe {
                    probe: name,
                    step: KprobeStep::BpfAttachUnsupported { attach: format!("{other:?}") },
                }),
            }
        }
        Ok(())
    }
}
