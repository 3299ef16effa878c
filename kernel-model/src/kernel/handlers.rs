//! Running the probe handlers of one hit (`aggr_pre_handler`/`aggr_post_handler`, kernel/kprobes.c), resumable
//! across guest calls, and what follows them (`after_handler`); the handler actions that need no guest call.

use super::*;

impl Kernel {
    pub(super) fn step_handler(&mut self, m: &mut dyn Machine, cpu: CpuId, mut h: HandlerRun) -> StepOutcome {
        while let Some(&id) = h.probes.get(h.child) {
            let p = self.core.kprobes.get(id).clone();
            let actions: &[HandlerAction] = match (&h.kind, &p.spec.pre_handler, &p.spec.post_handler) {
                (HandlerKind::Pre, crate::kprobes::PreHandler::Actions(a), _) => a,
                (HandlerKind::Post, _, Some(a)) => a,
                (HandlerKind::Pre, PreHandler::Kretprobe(rp), _) => {
                    let rp = *rp;
                    self.core.kprobes.get_mut(id).nhit += 1;
                    self.pre_handler_kretprobe(m, cpu, rp, &mut h.regs);
                    h.child += 1;
                    continue;
                }
                (HandlerKind::Pre, PreHandler::TraceDispatcher { progs }, _) => {
                    if h.bpf.is_none() {
                        // kprobe_dispatcher: nhit++; kprobe_perf_func → trace_call_bpf(call, regs).
                        self.core.kprobes.get_mut(id).nhit += 1;
                        let mut frames = self.arch.kprobe_hit_frames();
                        frames.extend(["kprobe_dispatcher", "kprobe_perf_func", "trace_call_bpf"].map(String::from));
                        m.emit(cpu, EventKind::Call { frames });
                        if self.core.profile() == KernelProfile::V5_10 && self.arch.kprobe_in_nmi() {
                            // 5.10 trace_call_bpf: `if (in_nmi()) return 1;` — on x86 the int3 handler is NMI-like,
                            // so the programs do not run at all (fixed in v5.11).
                            m.emit(cpu, EventKind::Kprobe {
                                probe: p.spec.name.clone(),
                                step: KprobeStep::TraceCallBpfInNmi,
                            });
                            self.core.perf_func_filter(m, cpu, &p.spec.name, "kprobe_perf_func", progs.len(), 1);
                            h.child += 1;
                            continue;
                        }
                    }
                    match self.handler_trace_call_bpf(m, cpu, &mut h, progs) {
                        TraceCallStep::GuestCall(call) => {
                            self.start_bpf_guest_call(m, cpu, h, call);
                            return StepOutcome::Continue;
                        }
                        TraceCallStep::Done(out) if out.ip_changed => {
                            // bpf_override_return: "the kprobe skips single-step".
                            h.ret = 1;
                            break;
                        }
                        TraceCallStep::Done(out) => {
                            self.core.perf_func_filter(m, cpu, &p.spec.name, "kprobe_perf_func", progs.len(), out.ret);
                        }
                    }
                    h.child += 1;
                    continue;
                }
                _ => &[],
            };
            if h.action == 0 && h.kind == HandlerKind::Pre && h.bpf.is_none() {
                self.core.kprobes.get_mut(id).nhit += 1;
            }
            if let Some(a) = actions.get(h.action) {
                h.action += 1;
                match a {
                    HandlerAction::Call { name, func, args } => {
                        m.call_function(cpu, *func, args, h.call_stack());
                        m.emit(cpu, EventKind::Kprobe { probe: p.spec.name.clone(), step: KprobeStep::HandlerCalls { func: name.clone() } });
                        h.waiting_call = true;
                        self.activities[cpu.0].push(Activity::Handler(h));
                        return StepOutcome::Continue;
                    }
                    HandlerAction::SetReg { reg, value } => {
                        h.regs.set_by_name(reg, *value);
                    }
                    HandlerAction::RecordRegs => {
                        let regs = h.regs.named().into_iter().map(|(n, v)| (n.to_string(), v)).collect();
                        m.emit(cpu, EventKind::Regs { regs });
                    }
                    HandlerAction::Return(v) => h.ret = *v,
                    HandlerAction::TraceKprobe(t) => {
                        self.core.kprobe_trace_func(m, cpu, *t, &h.regs, false);
                    }
                    HandlerAction::StackTraceSaveRegs => {
                        let regs = h.regs.clone();
                        self.core.stack_trace_save_regs(m, cpu, &p.spec.name, &regs);
                    }
                    HandlerAction::RunBpf(progs) => {
                        match self.handler_trace_call_bpf(m, cpu, &mut h, progs) {
                            TraceCallStep::GuestCall(call) => {
                                // Come back to this action when the guest call returns.
                                h.action -= 1;
                                self.start_bpf_guest_call(m, cpu, h, call);
                                return StepOutcome::Continue;
                            }
                            TraceCallStep::Done(out) if out.ip_changed => h.ret = 1,
                            TraceCallStep::Done(_) => {}
                        }
                    }
                }
                continue;
            }
            // This child's handler returned h.ret.
            if h.kind == HandlerKind::Pre && h.ret != 0 {
                // aggr_pre_handler: a non-zero return stops the chain.
                break;
            }
            h.child += 1;
            h.action = 0;
        }
        let action = self.after_handler(m, cpu, h.kind, h.addr, h.regs, h.ret);
        match self.take_action(m, cpu, action) {
            TrapAction::Resume => self.leave_model_if_idle(m, cpu),
            TrapAction::Model | TrapAction::Handlers(_) => {}
            TrapAction::Oops { .. } => return StepOutcome::Oops,
        }
        StepOutcome::Continue
    }

    /// `trace_call_bpf` for handler run `h`: begun, or — back from a helper's guest call — resumed where the
    /// programs stopped.
    pub(super) fn handler_trace_call_bpf(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        h: &mut HandlerRun,
        progs: &[ProgId],
    ) -> TraceCallStep {
        let (task, stack) = (self.core.current_task_info(cpu), h.call_stack());
        match h.bpf.take() {
            Some(call) => self.core.bpf.trace_call_bpf_resume(m, cpu, &task, call, h.call_ret, &mut h.regs),
            None => self.core.bpf.trace_call_bpf_resumable(m, cpu, &task, progs, &mut h.regs, stack),
        }
    }

    /// A BPF helper of handler run `h` continues in guest code: `cpu` calls the function (on the kernel stack below
    /// the exception frame, interrupts masked, `current_kprobe` still set) and `h` waits for it to return.
    pub(super) fn start_bpf_guest_call(&mut self, m: &mut dyn Machine, cpu: CpuId, mut h: HandlerRun, call: Box<TraceCall>) {
        let g = call.guest_call().expect("a suspended trace_call_bpf waits for a guest call");
        m.call_function(cpu, g.func, &g.args, g.sp);
        h.waiting_call = true;
        h.bpf = Some(call);
        self.activities[cpu.0].push(Activity::Handler(h));
    }

    /// Continues the hit path after the pre- or post-handlers ran (the tail of `kprobe_breakpoint_handler` /
    /// `kprobe_int3_handler`, or of `post_kprobe_handler` / `kprobe_post_process`): `Resume` back to guest code,
    /// `Model` if more handlers were pushed, `Oops` if simulating or emulating the probed instruction faulted.
    pub(super) fn after_handler(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        kind: HandlerKind,
        addr: KernelVa,
        mut regs: PtRegs,
        ret: u64,
    ) -> TrapAction {
        match kind {
            HandlerKind::Pre if ret == 0 => self.arch.setup_singlestep(&mut self.core, m, cpu, addr, &mut regs),
            HandlerKind::Pre => {
                // The pre-handler changed the pc: reset_current_kprobe, no step, no post-handler.
                self.core.set_current_kprobe(cpu, None);
                self.core.emit_hit(m, cpu, addr, HitStep::PreHandlerSkipSinglestep { ret });
                m.set_pt_regs(cpu, &regs);
                TrapAction::Resume
            }
            HandlerKind::Post => {
                self.core.set_current_kprobe(cpu, None);
                self.core.emit_hit(m, cpu, addr, HitStep::PostHandlerDone);
                m.set_pt_regs(cpu, &regs);
                m.context_synchronize(cpu, SyncReason::ExceptionReturn);
                TrapAction::Resume
            }
        }
    }

    /// The guest call on `cpu` returned. Returns true if it was a handler's nested call (the kernel consumes it),
    /// false if it was the task's own call.
    pub fn on_return(&mut self, m: &mut dyn Machine, cpu: CpuId) -> bool {
        let (addr, step) = match self.activities[cpu.0].last_mut() {
            Some(Activity::Handler(h)) if h.waiting_call => {
                h.waiting_call = false;
                let ret = m.pt_regs(cpu).return_value();
                h.call_ret = ret;
                let step = match h.bpf.as_ref().and_then(|c| c.guest_call()) {
                    // A BPF helper's callee: the helper completes when the handler resumes.
                    Some(g) => KprobeStep::HelperCallReturned { func: g.func_name, helper: g.helper, ret },
                    None => KprobeStep::HandlerCallReturned { ret },
                };
                (h.addr, step)
            }
            Some(Activity::Stopper(s)) if s.waiting_call => {
                s.waiting_call = false;
                return true;
            }
            _ => return false,
        };
        m.emit(cpu, EventKind::Kprobe { probe: self.core.probe_name(addr), step });
        true
    }
}
