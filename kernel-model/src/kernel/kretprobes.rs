//! The generic halves of kretprobes (kernel/kprobes.c): `register_kretprobe`, `pre_handler_kretprobe` (the
//! entry half) and `__kretprobe_trampoline_handler` (the return half).

use super::*;

impl Kernel {
    /// Models `register_kretprobe` (kernel/kprobes.c): the probe must be on a function entry; installs the
    /// trampoline on first use; then registers the kprobe whose pre-handler is `pre_handler_kretprobe`.
    pub fn request_register_kretprobe(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        mut spec: KprobeSpec,
        maxactive: u32,
        entry_handler: Option<Vec<HandlerAction>>,
        handler: Option<Vec<HandlerAction>>,
    ) {
        let on_entry = self.core.kprobes.kprobe_addr(&spec, m.kallsyms()).and_then(|addr| {
            if m.kallsyms().lookup(addr).is_some_and(|s| s.addr == addr) {
                Ok(())
            } else {
                Err(KprobeError::new(
                    Errno::EINVAL,
                    format!("kprobe_on_func_entry: {} is not a function entry", m.kallsyms().format(addr)),
                ))
            }
        });
        if let Err(e) = on_entry {
            m.emit(cpu, EventKind::Kprobe {
                probe: spec.name.clone(),
                step: KprobeStep::RegisterKretprobeReturned { errno: e.errno, reason: e.why.clone() },
            });
            self.core.register_results.push((spec.name.clone(), Err(e.errno)));
            return;
        }
        if self.core.kretprobes.trampoline.is_none() {
            let t = self.arch.install_kretprobe_trampoline(m);
            self.core.kprobes.blacklist.push(m.kallsyms().lookup(t).map(|s| s.name.clone()).unwrap_or_default());
            self.core.kretprobes.trampoline = Some(t);
        }
        let maxactive = if maxactive == 0 { default_maxactive(m.nr_cpus()) } else { maxactive };
        let idx = self.core.kretprobes.probes.len();
        self.core.kretprobes.probes.push(Kretprobe {
            name: spec.name.clone(),
            maxactive,
            in_use: 0,
            nmissed: 0,
            nhit: 0,
            entry_handler,
            handler,
        });
        spec.pre_handler = PreHandler::Kretprobe(idx);
        spec.post_handler = None;
        self.request_register_kprobe(m, cpu, spec);
    }

    /// Models `pre_handler_kretprobe` (kernel/kprobes.c): take a free instance (or count a miss), run the entry
    /// handler, and hijack the return address (`arch_prepare_kretprobe`).
    pub(super) fn pre_handler_kretprobe(&mut self, m: &mut dyn Machine, cpu: CpuId, rp: usize, regs: &mut PtRegs) {
        let r = &mut self.core.kretprobes.probes[rp];
        let name = r.name.clone();
        if r.in_use >= r.maxactive {
            r.nmissed += 1;
            m.emit(cpu, EventKind::Kprobe { probe: name, step: KprobeStep::KretprobeNoFreeInstance });
            return;
        }
        let entry = r.entry_handler.clone().unwrap_or_default();
        if self.core.run_simple_actions(m, cpu, &name, regs, &entry) != 0 {
            m.emit(cpu, EventKind::Kprobe { probe: name, step: KprobeStep::KretprobeEntryHandlerRejected });
            return;
        }
        let Some(trampoline) = self.core.kretprobes.trampoline else { return };
        let (ret_addr, fp) = self.arch.arch_prepare_kretprobe(m, regs, trampoline);
        self.core.kretprobes.probes[rp].in_use += 1;
        let pid = self.core.current[cpu.0].pid.unwrap_or(0);
        self.core.kretprobes.instances.entry(pid).or_default().push(KretprobeInstance { rp, ret_addr, fp });
        m.emit(cpu, EventKind::Kprobe {
            probe: name,
            step: KprobeStep::ArchPrepareKretprobe { ret_addr, trampoline },
        });
    }
}
