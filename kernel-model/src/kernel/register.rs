//! `register_kprobe` and `register_kprobes` (kernel/kprobes.c): the phases of one registration (address and
//! checks, `prepare_kprobe`, into the table, `arm_kprobe`), each a model step in the task's context, and
//! `register_kprobes`' rollback of the members already registered when one fails.

use super::*;

/// A registration in progress (`register_kprobe` in a task's context).
#[derive(Clone, Debug)]
pub(super) struct RegisterOp {
    pub(super) spec: KprobeSpec,
    /// The `register_kprobes()` call this registration is part of, if any.
    pub(super) batch: Option<String>,
    pub(super) phase: RegPhase,
    pub(super) id: Option<ProbeId>,
    /// Stack frame for the patch struct (`aarch64_insn_patch_text`'s locals).
    pub(super) frame: KernelVa,
    /// Where it stands with `kprobe_mutex`.
    pub(super) mutex: MutexWait,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RegPhase {
    Start,
    WaitSlot,
    Insert,
    WaitArm,
}

impl Kernel {
    /// Asks `cpu`'s current task to call `register_kprobe(spec)` (as a perf_event_open or a module init would).
    /// The registration runs in model mode on that CPU from its next turn.
    pub fn request_register_kprobe(&mut self, m: &mut dyn Machine, cpu: CpuId, spec: KprobeSpec) {
        self.request_register(m, cpu, spec, None);
    }

    /// Asks `cpu`'s task to call `register_kprobes(kps, n)` (kernel/kprobes.c): the probes register in order; on
    /// the first failure the ones already registered are unregistered and the call returns that error. The call's
    /// result is recorded under `batch`.
    pub fn request_register_kprobes(&mut self, m: &mut dyn Machine, cpu: CpuId, batch: &str, specs: Vec<KprobeSpec>) {
        if specs.is_empty() {
            // if (num <= 0) return -EINVAL;
            self.core.register_results.push((batch.to_string(), Err(Errno::EINVAL)));
            return;
        }
        self.batches.insert(batch.to_string(), Vec::new());
        for spec in specs {
            self.request_register(m, cpu, spec, Some(batch.to_string()));
        }
    }

    pub(super) fn request_register(&mut self, m: &mut dyn Machine, cpu: CpuId, spec: KprobeSpec, batch: Option<String>) {
        // The call's frame sits below whatever the CPU's stack holds now, as a syscall's would.
        let sp = m.pt_regs(cpu).sp();
        let top = m.stack_top(cpu).0;
        let base = if sp <= top && sp > top - 0x4000 { sp } else { top };
        let frame = KernelVa((base - 0x400) & !0xf);
        // Registrations requested by one task run one after another, in request order: a later request waits
        // below the earlier ones (the innermost activity runs first).
        let acts = &mut self.activities[cpu.0];
        let at = acts.iter().position(|a| matches!(a, Activity::Register(_))).unwrap_or(acts.len());
        acts.insert(at, Activity::Register(RegisterOp {
            spec,
            batch,
            phase: RegPhase::Start,
            id: None,
            frame,
            mutex: MutexWait::NotYet,
        }));
    }

    /// The `register_kprobes` loop around one member's result: remember a success; on a failure, drop the members
    /// not yet registered and unregister the ones that were (in reverse order), and return the error.
    pub(super) fn register_kprobes_step(&mut self, m: &mut dyn Machine, cpu: CpuId, batch: &str, name: &str, res: Result<(), Errno>) {
        let acts = &mut self.activities[cpu.0];
        let pending = acts.iter().any(|a| matches!(a, Activity::Register(op) if op.batch.as_deref() == Some(batch)));
        match res {
            Ok(()) => {
                self.batches.entry(batch.to_string()).or_default().push(name.to_string());
                if !pending {
                    m.emit(cpu, EventKind::Kprobe {
                        probe: batch.into(),
                        step: KprobeStep::RegisterKprobesReturned { errno: None, unregistering: 0 },
                    });
                    self.core.register_results.push((batch.to_string(), Ok(())));
                }
            }
            Err(e) => {
                acts.retain(|a| !matches!(a, Activity::Register(op) if op.batch.as_deref() == Some(batch)));
                let done = self.batches.remove(batch).unwrap_or_default();
                m.emit(cpu, EventKind::Kprobe {
                    probe: batch.into(),
                    step: KprobeStep::RegisterKprobesReturned { errno: Some(e), unregistering: done.len() },
                });
                self.core.register_results.push((batch.to_string(), Err(e)));
                for n in done.into_iter().rev() {
                    self.request_probe_op(m, cpu, ProbeOpKind::Unregister, n);
                }
            }
        }
    }

    pub(super) fn step_register(&mut self, m: &mut dyn Machine, cpu: CpuId, mut op: RegisterOp) {
        let finish = |k: &mut Kernel, m: &mut dyn Machine, op: &mut RegisterOp, res: Result<(), KprobeError>| {
            // mutex_unlock(&kprobe_mutex) before the return.
            k.kprobe_mutex.unlock(&mut op.mutex);
            let step = match &res {
                Ok(()) => KprobeStep::RegisterKprobeReturned { errno: None, reason: None },
                Err(e) => KprobeStep::RegisterKprobeReturned { errno: Some(e.errno), reason: Some(e.why.clone()) },
            };
            m.emit(cpu, EventKind::Kprobe { probe: op.spec.name.clone(), step });
            let res = res.map_err(|e| e.errno);
            k.core.register_results.push((op.spec.name.clone(), res));
            if let (Err(_), Some(id)) = (res, op.id) {
                k.core.kprobes.get_mut(id).registered = false;
            }
            if let Some(batch) = &op.batch {
                k.register_kprobes_step(m, cpu, batch, &op.spec.name, res);
            }
            k.leave_model_if_idle(m, cpu);
        };
        if op.phase == RegPhase::Start && !self.lock_kprobe_mutex(m, cpu, KprobeOpFn::RegisterKprobe, &op.spec.name, &mut op.mutex) {
            self.activities[cpu.0].push(Activity::Register(op));
            return;
        }
        match op.phase {
            // text_mutex / stop_cpus_mutex: wait while another patch is in progress.
            RegPhase::Start if self.job_busy() => self.activities[cpu.0].push(Activity::Register(op)),
            // check_kprobe_address_safe: jump_label_lock() while another task's static-key call holds it.
            RegPhase::Start if self.kprobe_waits_jump_label_lock(m, cpu, &op.spec.name.clone()) => {
                self.activities[cpu.0].push(Activity::Register(op));
            }
            RegPhase::Start => match self.register_start(m, cpu, &mut op) {
                Ok(true) => self.activities[cpu.0].push(Activity::Register(op)),
                Ok(false) => finish(self, m, &mut op, Ok(())),
                Err(e) => finish(self, m, &mut op, Err(e)),
            },
            RegPhase::WaitSlot | RegPhase::WaitArm => {
                let Some(ret) = self.take_finished_job() else {
                    self.activities[cpu.0].push(Activity::Register(op));
                    return;
                };
                if let Err(e) = ret {
                    let why = format!("{} failed", self.arch.live_patch_fn());
                    finish(self, m, &mut op, Err(KprobeError::new(e, why)));
                    return;
                }
                if op.phase == RegPhase::WaitSlot {
                    let id = op.id.expect("prepared");
                    self.arch.after_slot_patch(&mut self.core, m, cpu, id);
                    op.phase = RegPhase::Insert;
                    self.activities[cpu.0].push(Activity::Register(op));
                } else {
                    m.emit(cpu, EventKind::Kprobe { probe: op.spec.name.clone(), step: KprobeStep::Armed });
                    finish(self, m, &mut op, Ok(()));
                }
            }
            RegPhase::Insert => {
                if self.job_busy() {
                    // stop_cpus_mutex: another stop_machine is in progress.
                    self.activities[cpu.0].push(Activity::Register(op));
                    return;
                }
                let id = op.id.expect("prepared");
                let addr = self.core.kprobes.get(id).addr;
                self.core.kprobes.table.insert(addr, TableEntry::Single(id));
                if self.core.kprobes.get(id).disabled() {
                    finish(self, m, &mut op, Ok(()));
                    return;
                }
                // arm_kprobe → arch_arm_kprobe.
                match self.arch.arm_kprobe_job(&mut self.core, m, cpu, id, op.frame) {
                    Ok(job) => {
                        self.start_job(m, cpu, job);
                        op.phase = RegPhase::WaitArm;
                        self.activities[cpu.0].push(Activity::Register(op));
                    }
                    Err(e) => {
                        self.core.kprobes.table.remove(&addr);
                        finish(self, m, &mut op, Err(KprobeError::new(e, "arm_kprobe failed")));
                    }
                }
            }
        }
    }

    /// The synchronous part of `register_kprobe`: address, checks, `prepare_kprobe`. Returns whether the
    /// registration continues (waits for patching) or is complete.
    pub(super) fn register_start(&mut self, m: &mut dyn Machine, cpu: CpuId, op: &mut RegisterOp) -> Result<bool, KprobeError> {
        let k = &mut self.core.kprobes;
        let addr = k.kprobe_addr(&op.spec, m.kallsyms())?;
        if k.is_registered(&op.spec) {
            return Err(KprobeError::new(Errno::EINVAL, "warn_kprobe_rereg: this kprobe is already registered"));
        }
        k.check_kprobe_address_safe(addr, m.is_kernel_text(addr), m.kallsyms())?;
        // check_kprobe_address_safe (kernel/kprobes.c, 5.10 and 6.12): `jump_label_text_reserved(p->addr,
        // p->addr)` → -EINVAL.
        if let Some(site) = self.jump_label_text_reserved(m, addr, addr) {
            let why = format!("check_kprobe_address_safe: jump_label_text_reserved: {} is the jump label at {}", m.kallsyms().format(addr), m.kallsyms().format(site));
            return Err(KprobeError::new(Errno::EINVAL, why));
        }
        let k = &mut self.core.kprobes;
        let id = ProbeId(k.probes.len());
        let flags = if op.spec.disabled { crate::kprobes::KPROBE_FLAG_DISABLED } else { 0 };
        k.probes.push(crate::kprobes::Kprobe {
            id,
            spec: op.spec.clone(),
            addr,
            flags,
            nmissed: 0,
            nhit: 0,
            opcode: Vec::new(),
            ainsn: Default::default(),
            registered: true,
        });
        op.id = Some(id);
        if k.get_kprobe(addr).is_some() {
            // register_aggr_kprobe: shares the existing probe's opcode and slot; no patching.
            let first = k.first(k.get_kprobe(addr).expect("checked"));
            let (opcode, ainsn) = (k.get(first).opcode.clone(), k.get(first).ainsn.clone());
            let p = k.get_mut(id);
            p.opcode = opcode;
            p.ainsn = ainsn;
            k.add_to_aggregate(addr, id);
            m.emit(cpu, EventKind::Kprobe { probe: op.spec.name.clone(), step: KprobeStep::JoinsAggr { addr } });
            return Ok(false);
        }
        match self.arch.arch_prepare_kprobe(&mut self.core, m, cpu, id, op.frame) {
            Err(e) => Err(e),
            Ok(Some(job)) => {
                self.start_job(m, cpu, job);
                op.phase = RegPhase::WaitSlot;
                Ok(true)
            }
            Ok(None) => {
                op.phase = RegPhase::Insert;
                Ok(true)
            }
        }
    }
}
