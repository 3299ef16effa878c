//! `kernel/stop_machine.c`: `stop_machine_cpuslocked` → `stop_cpus` → each CPU's stopper thread (`migration/N`,
//! `cpu_stopper_thread`) runs `multi_cpu_stop`, whose states advance only when every CPU has acknowledged the
//! current one (`ack_state`). Each scheduler turn of a stopper CPU is one iteration of `multi_cpu_stop`'s loop, so
//! CPUs reach each state at different virtual times and the callback runs interleaved with other CPUs.

use crate::errno::Errno;
use crate::event::{CpuStopStep, EventKind};
use crate::machine::Machine;
use crate::CpuId;

pub use crate::event::MultiStopState;

/// The state machine's order (`multi_cpu_stop`'s `set_state(msdata, msdata->state + 1)`); the type and its names
/// live in [`crate::event`], which records it.
impl MultiStopState {
    fn next(self) -> MultiStopState {
        match self {
            MultiStopState::None => MultiStopState::Prepare,
            MultiStopState::Prepare => MultiStopState::DisableIrq,
            MultiStopState::DisableIrq => MultiStopState::Run,
            MultiStopState::Run | MultiStopState::Exit => MultiStopState::Exit,
        }
    }
}

/// The function `stop_machine` runs on the active CPUs, as a resumable state machine (its steps interleave with
/// other CPUs).
pub trait StopFn {
    /// The kernel function's name (e.g. `aarch64_insn_patch_text_cb`).
    fn name(&self) -> &'static str;
    /// Runs one step of the function on `cpu`; `Some(result)` when the function returns.
    fn step(&mut self, m: &mut dyn Machine, cpu: CpuId) -> Option<Result<(), Errno>>;
    /// The function's current call chain on `cpu`, below `multi_cpu_stop` (for backtraces).
    fn frames(&self, cpu: CpuId) -> Vec<&'static str>;
}

/// Where one CPU's stopper is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopperPhase {
    /// Work queued; the stopper thread has not run yet (the CPU is still in whatever it was doing).
    Queued,
    /// In `multi_cpu_stop`'s loop, having seen `curstate`.
    Looping {
        /// The state this CPU last acknowledged.
        curstate: MultiStopState,
        /// Whether the callback is running on this CPU.
        in_fn: bool,
    },
    /// Returned from `multi_cpu_stop`; the work is done.
    Done,
}

/// One `stop_machine` call in progress (`struct multi_stop_data` plus `struct cpu_stop_done`).
pub struct StopMachine {
    /// `msdata.state`.
    pub state: MultiStopState,
    /// `msdata.num_threads`.
    pub num_threads: usize,
    /// `msdata.thread_ack`.
    pub thread_ack: usize,
    /// `done.nr_todo`.
    pub nr_todo: usize,
    /// `done.ret`.
    pub ret: Result<(), Errno>,
    /// Per CPU.
    pub stoppers: Vec<StopperPhase>,
    /// The function (`msdata.fn`), run on every CPU (`active_cpus` = `cpu_online_mask`).
    pub func: Box<dyn StopFn>,
}

/// What a stopper step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopperStep {
    /// Still inside `multi_cpu_stop`.
    Running,
    /// `multi_cpu_stop` returned on this CPU (`cpu_stop_signal_done`).
    Exited,
}

impl StopMachine {
    /// Models `stop_machine_cpuslocked(fn, data, cpu_online_mask)` up to `queue_stop_cpus_work`:
    /// `set_state(MULTI_STOP_PREPARE)` and one work item queued per online CPU.
    #[must_use]
    pub fn new(nr_cpus: usize, func: Box<dyn StopFn>) -> StopMachine {
        StopMachine {
            state: MultiStopState::Prepare,
            num_threads: nr_cpus,
            thread_ack: nr_cpus,
            nr_todo: nr_cpus,
            ret: Ok(()),
            stoppers: vec![StopperPhase::Queued; nr_cpus],
            func,
        }
    }

    /// Whether `wait_for_completion(&done)` has returned.
    #[must_use]
    pub fn completed(&self) -> bool {
        self.nr_todo == 0
    }

    /// Models `ack_state`: the last CPU to acknowledge advances the state (`set_state`).
    fn ack_state(&mut self, m: &mut dyn Machine, cpu: CpuId) {
        self.thread_ack -= 1;
        if self.thread_ack == 0 {
            self.state = self.state.next();
            self.thread_ack = self.num_threads;
            m.emit(cpu, EventKind::StopMachineState { state: self.state });
        }
    }

    /// One iteration of `multi_cpu_stop`'s loop on `cpu` (or one step of the callback inside it).
    pub fn step(&mut self, m: &mut dyn Machine, cpu: CpuId) -> StopperStep {
        match self.stoppers[cpu.0] {
            StopperPhase::Queued => {
                // cpu_stopper_thread picks the work and calls multi_cpu_stop: curstate = MULTI_STOP_NONE.
                self.stoppers[cpu.0] = StopperPhase::Looping { curstate: MultiStopState::None, in_fn: false };
                m.emit(cpu, EventKind::Stopper { step: CpuStopStep::CpuStopperThread { stopper: cpu } });
                StopperStep::Running
            }
            StopperPhase::Looping { curstate, in_fn: true } => {
                if let Some(ret) = self.func.step(m, cpu) {
                    if ret.is_err() {
                        self.ret = ret;
                    }
                    self.stoppers[cpu.0] = StopperPhase::Looping { curstate, in_fn: false };
                    self.ack_state(m, cpu);
                }
                StopperStep::Running
            }
            StopperPhase::Looping { curstate, in_fn: false } => {
                // stop_machine_yield(); newstate = READ_ONCE(msdata->state);
                let newstate = self.state;
                if newstate == curstate {
                    return StopperStep::Running;
                }
                match newstate {
                    MultiStopState::DisableIrq => {
                        // local_irq_disable(); hard_irq_disable();
                        m.emit(cpu, EventKind::Stopper { step: CpuStopStep::LocalIrqDisable });
                    }
                    MultiStopState::Run => {
                        self.stoppers[cpu.0] = StopperPhase::Looping { curstate: newstate, in_fn: true };
                        m.emit(cpu, EventKind::Stopper { step: CpuStopStep::RunFn { func: self.func.name() } });
                        return StopperStep::Running;
                    }
                    _ => {}
                }
                self.ack_state(m, cpu);
                if newstate == MultiStopState::Exit {
                    // local_irq_restore; return err; cpu_stop_signal_done.
                    self.stoppers[cpu.0] = StopperPhase::Done;
                    self.nr_todo -= 1;
                    m.emit(cpu, EventKind::Stopper { step: CpuStopStep::MultiCpuStopReturns });
                    return StopperStep::Exited;
                }
                self.stoppers[cpu.0] = StopperPhase::Looping { curstate: newstate, in_fn: false };
                StopperStep::Running
            }
            StopperPhase::Done => StopperStep::Exited,
        }
    }

    /// Whether `cpu` is in `multi_cpu_stop`'s loop proper (not in the callback): where `stop_machine_yield` runs.
    #[must_use]
    pub fn in_loop(&self, cpu: CpuId) -> bool {
        matches!(self.stoppers[cpu.0], StopperPhase::Looping { in_fn: false, .. })
    }

    /// `cpu`'s stopper call chain, outermost first, as seed 000's per-CPU backtraces show it.
    #[must_use]
    pub fn frames(&self, cpu: CpuId) -> Vec<&'static str> {
        let mut f = vec!["ret_from_fork", "kthread", "smpboot_thread_fn", "cpu_stopper_thread", "multi_cpu_stop"];
        if let StopperPhase::Looping { in_fn: true, .. } = self.stoppers[cpu.0] {
            f.extend(self.func.frames(cpu));
        }
        f
    }
}
