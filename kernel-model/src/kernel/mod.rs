//! The modelled kernel as the scheduler sees it: per-CPU kprobe state, the activities CPUs perform in model mode
//! (registering a probe, running a stopper thread, running probe handlers), and what happens when a CPU traps.
//!
//! A CPU is in **guest mode** (Unicorn runs its code) unless it has an activity that needs it: then it is in
//! **model mode** and each scheduler turn runs one step of its innermost activity. Activities stack: a registering
//! task waits in `stop_machine` while its CPU's stopper thread runs on top of it; a kprobe handler that calls a
//! kernel function waits while the CPU runs that function in guest mode.

mod attach_prog;
mod die;
mod handlers;
mod jump_label;
mod kretprobes;
mod live_patch;
mod probe_ops;
mod register;
mod trace_kprobe;
pub use trace_kprobe::BpfAttachMode;

pub use die::OopsVictim;
pub use jump_label::{JumpEntry, JumpLabels};
pub use probe_ops::ProbeOpKind;
use probe_ops::{KprobeMutex, MutexWait, ProbeOp};
use register::RegisterOp;
use live_patch::LivePatchOp;

use crate::arch::{self, ArchKernel};
use crate::ptrace::PtRegs;
use crate::bpf::runtime::{ProgId, TraceCall, TraceCallStep};
use crate::errno::Errno;
use crate::event::{CpuStopStep, EventKind, HitStep, KprobeOpFn, KprobeStep, SymAddr, SyncReason, Trap};
use crate::kprobes::{HandlerAction, KprobeError, KprobeSpec, PreHandler, ProbeId, TableEntry};
use crate::kretprobes::{default_maxactive, Kretprobe, KretprobeInstance};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::stop_machine::{StopMachine, StopperPhase, StopperStep};
use crate::{CpuId, Isa, KernelVa};

pub use crate::kernel_core::{
    HandlerKind, HandlerRun, KernelCore, KprobeCtlblk, LivePatchStep, PatchJob, PerCpu, PerfFilter, PrevKprobe,
    TrapAction,
};

/// What a model step ([`Kernel::step`]) left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum StepOutcome {
    /// The CPU goes on (more model steps, or back to guest code).
    Continue,
    /// The step oopsed (already logged): the CPU's task dies.
    Oops,
}

/// This CPU's stopper thread (`migration/N`) inside `stop_machine`.
#[derive(Clone, Debug)]
struct StopperRun {
    /// The registers of whatever it preempted (restored when it exits, as a context switch back would).
    saved: PtRegs,
    /// Whether it is waiting for `stop_machine_yield`'s guest call to return.
    waiting_call: bool,
    /// Whether `stop_machine_yield` already ran in this loop iteration.
    yielded: bool,
}

#[derive(Clone, Debug)]
enum Activity {
    Register(RegisterOp),
    LivePatch(LivePatchOp),
    ProbeOp(ProbeOp),
    Stopper(StopperRun),
    Handler(HandlerRun),
    StaticKey(jump_label::StaticKeyCall),
}

/// The modelled kernel of one run.
pub struct Kernel {
    /// The generic state.
    pub core: KernelCore,
    /// Each CPU's model-mode activities, innermost last.
    activities: Vec<Vec<Activity>>,
    arch: Box<dyn ArchKernel>,
    stop_machine_yield: Option<KernelVa>,
    /// `register_kprobes` calls in progress: the members registered so far.
    batches: std::collections::BTreeMap<String, Vec<String>>,
    /// `kprobe_mutex`.
    kprobe_mutex: KprobeMutex,
    /// The `__jump_table` and `jump_label_mutex`.
    jump_labels: JumpLabels,
}

/// The argument `stop_machine_yield`'s modelled call passes (`cpu_relax_loop(1)`: one `cpu_relax()`, as
/// `stop_machine_yield` does).
pub const STOP_MACHINE_YIELD_ARG: u64 = 1;

/// Cost, in virtual ticks, of one model step (documented in ARCHITECTURE.md).
pub const MODEL_STEP_TICKS: u64 = 1;

impl Kernel {
    /// A kernel for `isa` behaving as `profile`, on `nr_cpus` CPUs.
    #[must_use]
    pub fn new(isa: Isa, profile: KernelProfile, nr_cpus: usize) -> Kernel {
        Kernel {
            core: KernelCore::new(isa, profile, nr_cpus, arch::unwinder(isa)),
            activities: vec![Vec::new(); nr_cpus],
            arch: arch::lookup(isa, profile),
            stop_machine_yield: None,
            batches: std::collections::BTreeMap::new(),
            kprobe_mutex: KprobeMutex::default(),
            jump_labels: JumpLabels::default(),
        }
    }

    /// The arch-defined fields of `cpu`'s `kprobe_ctlblk` (name, value), as the debugger's `dt` view shows them.
    #[must_use]
    pub fn arch_ctlblk_fields(&self, cpu: CpuId) -> Vec<(&'static str, String)> {
        self.arch.ctlblk_fields(cpu)
    }

    /// The profile.
    #[must_use]
    pub fn profile(&self) -> KernelProfile {
        self.core.profile()
    }

    fn preemptible(&self, m: &mut dyn Machine, cpu: CpuId, idle: bool) -> bool {
        let acts = &self.activities[cpu.0];
        if acts.iter().any(|a| matches!(a, Activity::Handler(_))) {
            return false;
        }
        idle || !acts.is_empty() || m.pt_regs(cpu).irqs_enabled()
    }

    /// Whether `cpu` must take a model step this turn (rather than run guest code); `idle` says it has no task.
    pub fn wants_model_step(&mut self, m: &mut dyn Machine, cpu: CpuId, idle: bool) -> bool {
        let stopper_queued = self
            .core
            .stop
            .as_ref()
            .is_some_and(|s| s.stoppers[cpu.0] == StopperPhase::Queued)
            && !self.activities[cpu.0].iter().any(|a| matches!(a, Activity::Stopper(_)));
        let ipi_pending = self.core.sync_core_ipi.as_ref().is_some_and(|p| p[cpu.0]);
        if ipi_pending && self.preemptible(m, cpu, idle) {
            // The IPI arrives: do_sync_core(); the interrupt's return is itself serialising.
            m.context_synchronize(cpu, self.core.ipi_reason);
            if let Some(p) = self.core.sync_core_ipi.as_mut() {
                p[cpu.0] = false;
            }
        }
        if stopper_queued && self.preemptible(m, cpu, idle) {
            let saved = m.pt_regs(cpu);
            self.activities[cpu.0].push(Activity::Stopper(StopperRun {
                saved,
                waiting_call: false,
                yielded: false,
            }));
            return true;
        }
        match self.activities[cpu.0].last() {
            None => false,
            Some(Activity::Handler(h)) => !h.waiting_call,
            Some(Activity::Stopper(s)) => !s.waiting_call,
            Some(_) => true,
        }
    }

    /// Whether `cpu` is running guest code on behalf of modelled kernel code (a handler's or the stop loop's call),
    /// so it must run even without a task.
    #[must_use]
    pub fn in_guest_call(&self, cpu: CpuId) -> bool {
        match self.activities[cpu.0].last() {
            Some(Activity::Handler(h)) => h.waiting_call,
            Some(Activity::Stopper(s)) => s.waiting_call,
            _ => false,
        }
    }

    /// Makes `multi_cpu_stop`'s `stop_machine_yield()` call the kernel function at `func` (with argument [`STOP_MACHINE_YIELD_ARG`]) on
    /// every iteration of the stop loop, instead of an inline `cpu_relax()`: code other CPUs run inside
    /// `stop_machine` before they reach the callback.
    pub fn set_stop_machine_yield(&mut self, func: Option<KernelVa>) {
        self.stop_machine_yield = func;
    }

    /// Whether `cpu` has any activity (used to decide whether a run is finished).
    #[must_use]
    pub fn busy(&self, cpu: CpuId) -> bool {
        !self.activities[cpu.0].is_empty()
    }

    /// Runs one model step on `cpu` (call after [`Kernel::wants_model_step`] said so; a queued stopper thread has
    /// then already preempted the CPU: `migration/N` has the highest priority).
    ///
    /// Returns [`StepOutcome::Oops`] when the step died (an oops in a handler's continuation, e.g. a fault while
    /// simulating or emulating the probed instruction): the caller kills the CPU's task, as `die()` does.
    pub fn step(&mut self, m: &mut dyn Machine, cpu: CpuId) -> StepOutcome {
        m.charge(cpu, MODEL_STEP_TICKS);
        let Some(top) = self.activities[cpu.0].pop() else { return StepOutcome::Continue };
        match top {
            Activity::Stopper(mut run) => {
                let stop = self.core.stop.as_mut().expect("a stopper runs only during stop_machine");
                if let (Some(func), false, true) = (self.stop_machine_yield, run.yielded, stop.in_loop(cpu)) {
                    // stop_machine_yield(cpumask): a call into kernel text, on the stopper's own stack.
                    let sp = m.stack_top(cpu).0 - 0x2000;
                    let size = m.kallsyms().lookup(func).map_or(4, |s| s.size.max(4));
                    if m.text_stale_on(cpu, func, size) {
                        let func = SymAddr { addr: func, sym: m.kallsyms().format_short(func) };
                        m.emit(cpu, EventKind::Stopper { step: CpuStopStep::StaleYield { func } });
                    }
                    m.call_function(cpu, func, &[STOP_MACHINE_YIELD_ARG], sp);
                    run.waiting_call = true;
                    run.yielded = true;
                    self.activities[cpu.0].push(Activity::Stopper(run));
                    return StepOutcome::Continue;
                }
                run.yielded = false;
                match stop.step(m, cpu) {
                    StopperStep::Running => self.activities[cpu.0].push(Activity::Stopper(run)),
                    StopperStep::Exited => {
                        // Switch back to what the stopper preempted.
                        m.set_pt_regs(cpu, &run.saved);
                        self.leave_model_if_idle(m, cpu);
                    }
                }
            }
            Activity::Register(op) => self.step_register(m, cpu, op),
            Activity::ProbeOp(op) => self.step_probe_op(m, cpu, op),
            Activity::LivePatch(op) => self.step_live_patch(m, cpu, op),
            Activity::StaticKey(c) => self.step_static_key(m, cpu, c),
            Activity::Handler(h) => return self.step_handler(m, cpu, h),
        }
        StepOutcome::Continue
    }

    /// Starts a patch job for `cpu`'s task (the caller then waits for [`Kernel::job_done`]).
    fn start_job(&mut self, m: &mut dyn Machine, cpu: CpuId, job: PatchJob) {
        match job {
            PatchJob::StopMachine(f) => self.core.stop = Some(StopMachine::new(m.nr_cpus(), f)),
            PatchJob::SyncCores => {
                let mut pending = vec![true; m.nr_cpus()];
                // on_each_cpu runs the function on the calling CPU directly.
                m.context_synchronize(cpu, SyncReason::SyncCore);
                pending[cpu.0] = false;
                self.core.sync_core_ipi = Some(pending);
                self.core.ipi_reason = SyncReason::SyncCoreIpi;
            }
            PatchJob::KickAllCpus => {
                let mut pending = vec![true; m.nr_cpus()];
                pending[cpu.0] = false;
                self.core.sync_core_ipi = Some(pending);
                self.core.ipi_reason = SyncReason::KickAllCpusSyncIpi;
            }
        }
    }

    /// Whether a job is in progress (`stop_cpus_mutex` / `text_mutex`: one at a time).
    fn job_busy(&self) -> bool {
        self.core.stop.is_some() || self.core.sync_core_ipi.is_some()
    }

    /// If the job in progress is complete, ends it and returns its result.
    fn take_finished_job(&mut self) -> Option<Result<(), Errno>> {
        if self.core.stop.as_ref().is_some_and(StopMachine::completed) {
            return self.core.stop.take().map(|s| s.ret);
        }
        if self.core.sync_core_ipi.as_ref().is_some_and(|p| p.iter().all(|x| !x)) {
            self.core.sync_core_ipi = None;
            return Some(Ok(()));
        }
        None
    }

    fn leave_model_if_idle(&mut self, m: &mut dyn Machine, cpu: CpuId) {
        if self.activities[cpu.0].is_empty() {
            // Back to the interrupted task through the exception return: a context-synchronisation event.
            m.context_synchronize(cpu, SyncReason::Eret);
        }
    }

    /// `cpu` now runs task `pid` (`current`), a thread of process `ids.tgid` with `ids`' uid and gid.
    pub fn set_current_task(&mut self, cpu: CpuId, pid: Option<u32>, comm: &str, ids: crate::bpf::TaskIds) {
        self.core.current[cpu.0] = crate::kernel_core::Current { pid, comm: comm.to_string(), ids };
    }

    /// Guest code on `cpu` branched to a model entry (`addr`): runs that modelled kernel function.
    pub fn model_call(&mut self, m: &mut dyn Machine, cpu: CpuId, addr: KernelVa) -> TrapAction {
        let name = m.kallsyms().lookup(addr).map(|s| s.name.clone()).unwrap_or_default();
        let action = self.arch.model_call(&mut self.core, m, cpu, &name);
        self.take_action(m, cpu, action)
    }

    /// Handles an exception taken by `cpu` in guest code, as the kernel's exception entry path does.
    pub fn handle_trap(&mut self, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.emit(cpu, EventKind::Trap { trap: trap.clone() });
        let action = self.arch.handle_trap(&mut self.core, m, cpu, trap);
        self.take_action(m, cpu, action)
    }

    /// What the scheduler sees of an arch's answer: handlers it asked for are pushed onto `cpu` (the CPU stays in
    /// model mode), an oops is logged.
    fn take_action(&mut self, m: &mut dyn Machine, cpu: CpuId, action: TrapAction) -> TrapAction {
        match action {
            TrapAction::Handlers(h) => {
                self.activities[cpu.0].push(Activity::Handler(*h));
                TrapAction::Model
            }
            TrapAction::Oops { oops } => {
                m.emit(cpu, EventKind::Oops { oops: oops.clone() });
                TrapAction::Oops { oops }
            }
            other => other,
        }
    }

    /// A one-line description of where `cpu` is in modelled kernel code (innermost frame), if anywhere.
    #[must_use]
    pub fn backtrace(&self, cpu: CpuId) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.activities[cpu.0] {
            match a {
                Activity::Register(_) => out.push("register_kprobe".to_string()),
                Activity::ProbeOp(op) => out.push(op.kind.name().to_string()),
                Activity::LivePatch(_) => out.push(self.arch.live_patch_fn().to_string()),
                Activity::Stopper(_) => {
                    if let Some(s) = &self.core.stop {
                        out.extend(s.frames(cpu).into_iter().map(String::from));
                    }
                }
                Activity::Handler(_) => out.push("kprobe_breakpoint_handler".to_string()),
                Activity::StaticKey(c) => out.push(c.func().to_string()),
            }
        }
        out
    }
}

