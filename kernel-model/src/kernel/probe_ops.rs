//! `unregister_kprobe`, `disable_kprobe`, `enable_kprobe` (kernel/kprobes.c), and `kprobe_mutex`, which
//! serialises them with `register_kprobe`.

use super::*;

/// Which operation on a registered probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeOpKind {
    /// `unregister_kprobe`.
    Unregister,
    /// `disable_kprobe`.
    Disable,
    /// `enable_kprobe`.
    Enable,
}

impl ProbeOpKind {
    pub(super) fn name(self) -> &'static str {
        self.kernel_function().name()
    }

    pub(super) fn kernel_function(self) -> KprobeOpFn {
        match self {
            ProbeOpKind::Unregister => KprobeOpFn::UnregisterKprobe,
            ProbeOpKind::Disable => KprobeOpFn::DisableKprobe,
            ProbeOpKind::Enable => KprobeOpFn::EnableKprobe,
        }
    }
}

/// `unregister_kprobe`/`disable_kprobe`/`enable_kprobe` in progress.
#[derive(Clone, Debug)]
pub(super) struct ProbeOp {
    pub(super) kind: ProbeOpKind,
    pub(super) name: String,
    pub(super) waiting: bool,
    pub(super) frame: KernelVa,
    /// Where it stands with `kprobe_mutex`.
    pub(super) mutex: MutexWait,
}

/// Where an operation stands with `kprobe_mutex`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum MutexWait {
    /// Has not asked for it yet.
    #[default]
    NotYet,
    /// Waits for it (the wait is already logged).
    Waiting,
    /// Holds it.
    Held,
}

/// `kprobe_mutex` (kernel/kprobes.c): `register_kprobe`, `unregister_kprobe`, `disable_kprobe` and
/// `enable_kprobe` each run under it, so one CPU's operation never sees another's half done. The owner is the CPU
/// whose operation holds it; waiters get it in the order they asked (a mutex's FIFO wait list).
#[derive(Clone, Debug, Default)]
pub(super) struct KprobeMutex {
    pub(super) owner: Option<CpuId>,
    pub(super) waiters: std::collections::VecDeque<CpuId>,
}

impl KprobeMutex {
    /// `mutex_lock(&kprobe_mutex)` by the operation on `cpu` (whose state is `wait`), as one model step: `Ok` if
    /// it now holds the mutex, or `Err(owner)` if it waits (`wait` says whether the wait must be logged).
    pub(super) fn lock(&mut self, cpu: CpuId, wait: &mut MutexWait) -> Result<(), CpuId> {
        if *wait == MutexWait::Held {
            return Ok(());
        }
        match self.owner {
            None if self.waiters.front().is_none_or(|w| *w == cpu) => {
                self.waiters.pop_front();
                self.owner = Some(cpu);
                *wait = MutexWait::Held;
                Ok(())
            }
            owner => {
                if !self.waiters.contains(&cpu) {
                    self.waiters.push_back(cpu);
                }
                Err(owner.or_else(|| self.waiters.front().copied()).unwrap_or(cpu))
            }
        }
    }

    /// `mutex_unlock(&kprobe_mutex)` by an operation in state `wait` (a no-op if it did not hold it).
    pub(super) fn unlock(&mut self, wait: &mut MutexWait) {
        if *wait == MutexWait::Held {
            self.owner = None;
            *wait = MutexWait::NotYet;
        }
    }
}

impl Kernel {
    /// Asks `cpu`'s task to unregister, disable or enable the probe called `name`.
    pub fn request_probe_op(&mut self, m: &mut dyn Machine, cpu: CpuId, kind: ProbeOpKind, name: String) {
        let top = m.stack_top(cpu).0;
        let sp = m.pt_regs(cpu).sp();
        let base = if sp <= top && sp > top - 0x4000 { sp } else { top };
        let frame = KernelVa((base - 0x400) & !0xf);
        let acts = &mut self.activities[cpu.0];
        // The task's request waits below whatever preempted the task (its stopper thread, a handler of a hit in
        // its exception context): those run first, as they would on Linux.
        let at = acts
            .iter()
            .position(|a| matches!(a, Activity::Register(_) | Activity::ProbeOp(_) | Activity::Stopper(_) | Activity::Handler(_)))
            .unwrap_or(acts.len());
        acts.insert(at, Activity::ProbeOp(ProbeOp { kind, name, waiting: false, frame, mutex: MutexWait::NotYet }));
    }

    pub(super) fn step_probe_op(&mut self, m: &mut dyn Machine, cpu: CpuId, mut op: ProbeOp) {
        let finish = |k: &mut Kernel, m: &mut dyn Machine, op: &mut ProbeOp, res: Result<(), Errno>| {
            k.kprobe_mutex.unlock(&mut op.mutex);
            let step = KprobeStep::ProbeOpReturned { op: op.kind.kernel_function(), errno: res.err() };
            m.emit(cpu, EventKind::Kprobe { probe: op.name.clone(), step });
            k.leave_model_if_idle(m, cpu);
        };
        // mutex_lock(&kprobe_mutex), then __get_valid_kprobe under it.
        if !self.lock_kprobe_mutex(m, cpu, op.kind.kernel_function(), &op.name, &mut op.mutex) {
            self.activities[cpu.0].push(Activity::ProbeOp(op));
            return;
        }
        let found = self.core.kprobes.probes.iter().find(|p| p.registered && p.spec.name == op.name).map(|p| (p.id, p.addr));
        let Some((id, addr)) = found else {
            // "invalid kprobe": not registered.
            finish(self, m, &mut op, Err(Errno::EINVAL));
            return;
        };
        if op.waiting {
            let Some(ret) = self.take_finished_job() else {
                self.activities[cpu.0].push(Activity::ProbeOp(op));
                return;
            };
            if op.kind == ProbeOpKind::Unregister && ret.is_ok() {
                self.unhash(m, id, addr);
            }
            finish(self, m, &mut op, ret);
            return;
        }
        if self.job_busy() {
            // stop_cpus_mutex.
            self.activities[cpu.0].push(Activity::ProbeOp(op));
            return;
        }
        let k = &mut self.core.kprobes;
        let entry = k.get_kprobe(addr).cloned().expect("a registered probe is in the table");
        let was_armed = !k.entry_disabled(addr);
        let others: Vec<ProbeId> = k.members(&entry).into_iter().filter(|c| *c != id).collect();
        let patch_needed = match op.kind {
            ProbeOpKind::Unregister => {
                if others.is_empty() {
                    was_armed
                } else {
                    // A child of an aggregate leaves the list; the others keep the breakpoint.
                    if let Some(TableEntry::Aggregate { children, .. }) = k.table.get_mut(&addr) {
                        children.retain(|c| *c != id);
                    }
                    k.get_mut(id).registered = false;
                    finish(self, m, &mut op, Ok(()));
                    return;
                }
            }
            ProbeOpKind::Disable => {
                k.get_mut(id).flags |= crate::kprobes::KPROBE_FLAG_DISABLED;
                // The breakpoint goes only when every child is disabled.
                let all_disabled = others.iter().all(|c| k.get(*c).disabled());
                if all_disabled {
                    if let Some(TableEntry::Aggregate { flags, .. }) = k.table.get_mut(&addr) {
                        *flags |= crate::kprobes::KPROBE_FLAG_DISABLED;
                    }
                }
                was_armed && all_disabled
            }
            ProbeOpKind::Enable => {
                k.get_mut(id).flags &= !crate::kprobes::KPROBE_FLAG_DISABLED;
                if let Some(TableEntry::Aggregate { flags, .. }) = k.table.get_mut(&addr) {
                    *flags &= !crate::kprobes::KPROBE_FLAG_DISABLED;
                }
                !was_armed
            }
        };
        if !patch_needed {
            if op.kind == ProbeOpKind::Unregister {
                self.unhash(m, id, addr);
            }
            finish(self, m, &mut op, Ok(()));
            return;
        }
        let job = match op.kind {
            ProbeOpKind::Enable => self.arch.arm_kprobe_job(&mut self.core, m, cpu, id, op.frame),
            _ => self.arch.disarm_kprobe_job(&mut self.core, m, cpu, id, op.frame),
        };
        match job {
            Ok(job) => {
                self.start_job(m, cpu, job);
                op.waiting = true;
                self.activities[cpu.0].push(Activity::ProbeOp(op));
            }
            Err(e) => finish(self, m, &mut op, Err(e)),
        }
    }

    /// `mutex_lock(&kprobe_mutex)` for the operation `op` on `probe` from `cpu`: whether it holds the mutex now.
    /// An operation that must wait stays in model mode and logs the wait once, when it begins.
    pub(super) fn lock_kprobe_mutex(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        op: KprobeOpFn,
        probe: &str,
        wait: &mut MutexWait,
    ) -> bool {
        let before = *wait;
        match self.kprobe_mutex.lock(cpu, wait) {
            Ok(()) => true,
            Err(owner_cpu) => {
                if before == MutexWait::NotYet {
                    *wait = MutexWait::Waiting;
                    m.emit(cpu, EventKind::Kprobe {
                        probe: probe.into(),
                        step: KprobeStep::WaitsForKprobeMutex { op, owner_cpu },
                    });
                }
                false
            }
        }
    }

    /// The bottom half of `unregister_kprobe`: out of the table, slot freed (`free_insn_slot`).
    pub(super) fn unhash(&mut self, m: &mut dyn Machine, id: ProbeId, addr: KernelVa) {
        self.core.kprobes.table.remove(&addr);
        let p = self.core.kprobes.get_mut(id);
        p.registered = false;
        if let Some(slot) = p.ainsn.slot {
            self.core.free_insn_slot(m, slot, self.arch.slot_size());
        }
    }
}
