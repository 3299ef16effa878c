//! `die()` on a CPU (arch/*/kernel/traps.c, kernel/exit.c): whom the oops kills.

use super::*;

/// Whom an oops killed: `current` on the CPU when it died ([`Kernel::oops_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum OopsVictim {
    /// The CPU's task (with every handler running in its exception context); the CPU goes on with its next task.
    Task,
    /// The CPU's stopper thread (`migration/N`): the context it had preempted runs again, and the `stop_machine`
    /// it belonged to can never complete.
    Stopper,
}

impl Kernel {
    /// The kernel died on `cpu` (the oops is already logged): `die()` → `make_task_dead()` (arch/*/kernel/traps.c,
    /// kernel/exit.c) ends `current`, and with it every kprobe handler running in its exception context, including
    /// one waiting for a guest call that will never return. If `current` was the stopper thread (its
    /// `stop_machine_yield` call, or a handler hit inside it, faulted), that kthread dies: the CPU switches back to
    /// what it had preempted, and since it never acknowledges `multi_stop_state` again, the other CPUs spin in
    /// `multi_cpu_stop` until the run's budget ends, as on Linux. `current_kprobe` is left as the dead context left
    /// it, as Linux leaves it.
    pub fn oops_on(&mut self, m: &mut dyn Machine, cpu: CpuId) -> OopsVictim {
        let acts = &mut self.activities[cpu.0];
        while matches!(acts.last(), Some(Activity::Handler(_))) {
            acts.pop();
        }
        if !matches!(acts.last(), Some(Activity::Stopper(_))) {
            return OopsVictim::Task;
        }
        let Some(Activity::Stopper(run)) = acts.pop() else { unreachable!("matched above") };
        m.set_pt_regs(cpu, &run.saved);
        m.emit(cpu, EventKind::Stopper { step: CpuStopStep::StopperKilled { stopper: cpu } });
        OopsVictim::Stopper
    }
}
