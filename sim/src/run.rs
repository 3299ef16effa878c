//! The run loop: tasks call kernel functions on CPUs; the scheduler interleaves the CPUs in quanta; traps go to the
//! kernel model; scenario actions fire at virtual times. Same inputs, same log.

use crate::machine::EmulatedMachine;
use crate::scheduler::{Policy, Scheduler, Script};
use crate::cpu::Outcome;
use kernel_model::event::{EventKind, Oops, SyncReason};
use kernel_model::kernel::{Kernel, OopsVictim, StepOutcome, TrapAction};
use kernel_model::kprobes::KprobeSpec;
use kernel_model::machine::Machine;
use kernel_model::{CpuId, KernelVa};
use std::collections::VecDeque;

/// How many times a task calls its function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// This many calls.
    Times(u64),
    /// Until the run's budget ends.
    Forever,
}

/// A task: a thread (pid, comm) that calls one kernel function on one CPU.
#[derive(Clone, Debug)]
pub struct Task {
    /// The CPU it runs on.
    pub cpu: CpuId,
    /// Its pid.
    pub pid: u32,
    /// Its comm (`task->comm`, at most 15 characters).
    pub comm: String,
    /// Its process (`tgid`) and credentials (`uid`, `gid`).
    pub ids: kernel_model::bpf::TaskIds,
    /// The function's name, for the log.
    pub func_name: String,
    /// The function's address.
    pub func: KernelVa,
    /// Its integer arguments.
    pub args: Vec<u64>,
    /// How many calls.
    pub repeat: Repeat,
    /// The first call starts at the CPU's first turn at or after this virtual time.
    pub start_at: u64,
}

/// Something the scenario makes a CPU's kernel do at a virtual time (model mode, between quanta).
#[derive(Clone, Debug)]
pub enum ActionOp {
    /// Write bytes over text through the poke alias (no cache maintenance).
    PokeText {
        /// Where.
        addr: KernelVa,
        /// What.
        bytes: Vec<u8>,
    },
    /// `flush_icache_range(addr, addr + len)` (cache maintenance, broadcast).
    FlushIcacheRange {
        /// Start.
        addr: KernelVa,
        /// Length.
        len: u64,
    },
    /// A context-synchronisation event on the CPU (`isb` / `sync_core`).
    Isb,
    /// Fault injection: the CPU ignores its next `n` context synchronisations.
    SkipSyncs(u32),
    /// The CPU's task calls `register_kprobe`.
    RegisterKprobe(KprobeSpec),
    /// The CPU's task calls `register_kprobes` with these probes; the call's result is recorded under the name.
    RegisterKprobes(String, Vec<KprobeSpec>),
    /// The CPU's task patches live text with x86 `text_poke_bp`.
    TextPokeBp(Vec<(KernelVa, Vec<u8>)>),
    /// The CPU's task calls a static-key function on the key at this address (named so in the log).
    StaticKey(kernel_model::event::jump_label::StaticKeyOp, KernelVa, String),
    /// The CPU's task loads a BPF object (its path and the file's bytes) and attaches its kprobe programs.
    AttachBpf(std::path::PathBuf, std::sync::Arc<Vec<u8>>, kernel_model::kernel::BpfAttachMode),
    /// The CPU's task loads an assembled BPF program and attaches it to a kprobe on `symbol`.
    AttachBpfAsm {
        /// Program name.
        name: String,
        /// Assembly text.
        text: String,
        /// The probed function.
        symbol: String,
        /// Onto a shared event or a perf kprobe of its own.
        mode: kernel_model::kernel::BpfAttachMode,
    },
    /// The CPU's task unregisters, disables or enables a probe by name.
    ProbeOp(kernel_model::kernel::ProbeOpKind, String),
    /// The CPU's task calls `register_kretprobe`.
    RegisterKretprobe {
        /// The kprobe part (symbol, offset; its pre-handler is replaced).
        kp: KprobeSpec,
        /// `maxactive` (0: the kernel's default).
        maxactive: u32,
        /// `entry_handler`.
        entry: Option<Vec<kernel_model::kprobes::HandlerAction>>,
        /// `handler`.
        handler: Option<Vec<kernel_model::kprobes::HandlerAction>>,
    },
    /// The CPU's task writes a tracefs file (`echo text > file`, `>>` with `append`).
    TracefsWrite {
        /// The path under `/sys/kernel/tracing/`.
        file: String,
        /// What.
        text: String,
        /// `>>`.
        append: bool,
    },
    /// The CPU's task reads a tracefs file (`cat file`); the text is in [`RunSummary::tracefs_reads`].
    TracefsRead {
        /// The path under `/sys/kernel/tracing/`.
        file: String,
    },
}

/// An action at a time on a CPU.
#[derive(Clone, Debug)]
pub struct Action {
    /// Fires at the first scheduling point of `cpu` at or after this virtual time.
    pub at: u64,
    /// The CPU whose kernel performs it.
    pub cpu: CpuId,
    /// What.
    pub op: ActionOp,
}

/// Run settings.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Instructions per quantum.
    pub quantum: u64,
    /// Interleaving policy.
    pub policy: Policy,
    /// Total instructions all CPUs may retire.
    pub budget: u64,
    /// Stop just before this scheduler turn (to look at the machine as it was before an event).
    pub stop_before_turn: Option<u64>,
    /// Draw each quantum's length from `1..=quantum` with the seeded generator.
    pub quantum_jitter: bool,
    /// Replay this schedule instead of the policy (then round-robin once it ends).
    pub script: Option<Script>,
    /// Record the schedule the run took ([`RunSummary::schedule`]).
    pub record_schedule: bool,
}

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every task finished.
    Completed,
    /// The instruction budget ran out first.
    BudgetExhausted,
    /// Stopped at `RunConfig::stop_before_turn`.
    Stopped,
}

impl std::fmt::Display for RunEnd {
    /// As the text log's footer says it: `completed`, `budget exhausted`, `stopped`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunEnd::Completed => "completed",
            RunEnd::BudgetExhausted => "budget exhausted",
            RunEnd::Stopped => "stopped",
        })
    }
}

/// A call's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// The task's pid.
    pub pid: u32,
    /// The CPU.
    pub cpu: CpuId,
    /// Which call of the task.
    pub iteration: u64,
    /// The return value, or `None` if the task was killed.
    pub ret: Option<u64>,
}

/// What a run produced besides the log.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// How it ended.
    pub end: RunEnd,
    /// Instructions retired by all CPUs (plus model costs).
    pub vtime: u64,
    /// Every call's result, in completion order.
    pub calls: Vec<CallResult>,
    /// Tasks still running when the run ended (after a budget exhaustion).
    pub unfinished: Vec<Unfinished>,
    /// The schedule the run took, if [`RunConfig::record_schedule`] asked for it.
    pub schedule: Option<Script>,
    /// Each tracefs read, in order: the file and what it gave.
    pub tracefs_reads: Vec<(String, String)>,
    /// Each failed tracefs write: the file and the errno.
    pub tracefs_errors: Vec<(String, kernel_model::trace::trace_probe::TraceErrno)>,
}

/// A task that had not finished when the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfinished {
    /// Its CPU.
    pub cpu: CpuId,
    /// Its pid.
    pub pid: u32,
    /// Where the CPU was.
    pub pc: KernelVa,
    /// Whether the task was meant to run forever (so not finishing is expected).
    pub forever: bool,
}

/// What the run's tracefs actions gave.
#[derive(Default)]
struct TracefsOut {
    reads: Vec<(String, String)>,
    errors: Vec<(String, kernel_model::trace::trace_probe::TraceErrno)>,
}

struct Running {
    task: Task,
    iteration: u64,
}

/// Runs `tasks` to completion or until the budget ends.
pub fn run(
    machine: &mut EmulatedMachine,
    kernel: &mut Kernel,
    tasks: &[Task],
    actions: &[Action],
    cfg: &RunConfig,
) -> RunSummary {
    let nr_cpus = machine.nr_cpus();
    let mut queues: Vec<VecDeque<Task>> = vec![VecDeque::new(); nr_cpus];
    for t in tasks {
        queues[t.cpu.0].push_back(t.clone());
    }
    let mut actions: Vec<(usize, Action)> = actions.iter().cloned().enumerate().collect();
    actions.sort_by_key(|(i, a)| (a.at, *i));
    let mut actions: VecDeque<Action> = actions.into_iter().map(|(_, a)| a).collect();

    // Boot: jump_label_init sorts the image's __jump_table.
    let jump_tables = machine.section_ranges("__jump_table");
    if !jump_tables.is_empty() {
        kernel.jump_label_init(machine, &jump_tables);
    }
    let mut running: Vec<Option<Running>> = (0..nr_cpus).map(|_| None).collect();
    let mut calls = Vec::new();
    let mut tracefs = TracefsOut::default();
    for cpu in 0..nr_cpus {
        start_next(machine, kernel, &mut queues[cpu], &mut running[cpu], CpuId(cpu), 0);
    }
    let mut scheduler = Scheduler::new(cfg.policy, nr_cpus);
    if let Some(script) = &cfg.script {
        scheduler = scheduler.replay(script.clone());
    }
    if cfg.record_schedule {
        scheduler = scheduler.record();
    }
    let mut turn = 0u64;
    let mut rounds = 0u64;
    let end = 'outer: loop {
        let kernel_busy = (0..nr_cpus).any(|c| kernel.busy(CpuId(c)));
        let queued = queues.iter().any(|q| !q.is_empty());
        if running.iter().all(Option::is_none) && actions.is_empty() && !kernel_busy && !queued {
            break RunEnd::Completed;
        }
        // Every round costs at least one tick, so the budget bounds rounds too; counting them makes that a
        // guarantee rather than a consequence.
        rounds += 1;
        if machine.now().0 >= cfg.budget || rounds > cfg.budget {
            let cpu = running.iter().position(Option::is_some).unwrap_or(0);
            machine.emit(CpuId(cpu), EventKind::BudgetExhausted { budget: cfg.budget });
            break 'outer RunEnd::BudgetExhausted;
        }
        let idle_round = running.iter().all(Option::is_none) && !kernel_busy;
        if idle_round {
            // Nothing runs until the next task's start time or the next action's: let the clock reach the
            // earlier, so both happen at their time and in their order.
            let next_task = queues.iter().filter_map(|q| q.front()).map(|t| t.start_at).min();
            match actions.front().map(|a| a.at) {
                None => {
                    let next = next_task.unwrap_or(0);
                    machine.charge(CpuId(0), next.saturating_sub(machine.now().0).max(1));
                }
                Some(next_action) => {
                    let next = next_task.map_or(next_action, |t| t.min(next_action));
                    machine.charge(CpuId(0), next.saturating_sub(machine.now().0));
                }
            }
        }
        for cpu in scheduler.next_round() {
            let id = CpuId(cpu);
            turn += 1;
            if cfg.stop_before_turn == Some(turn) {
                break 'outer RunEnd::Stopped;
            }
            machine.set_turn(turn);
            if running[cpu].is_none() && !kernel.busy(id) {
                start_next(machine, kernel, &mut queues[cpu], &mut running[cpu], id, 0);
            }
            while actions.front().is_some_and(|a| a.at <= machine.now().0 && a.cpu == id) {
                let a = actions.pop_front().expect("front exists");
                perform(machine, kernel, id, &a.op, &mut tracefs);
            }
            if idle_round {
                continue;
            }
            if kernel.wants_model_step(machine, id, running[cpu].is_none()) {
                if kernel.step(machine, id) == StepOutcome::Oops && kernel.oops_on(machine, id) == OopsVictim::Task {
                    kill_task(machine, kernel, &mut queues[cpu], &mut running[cpu], &mut calls, id);
                }
                continue;
            }
            let used = machine.now().0;
            if used >= cfg.budget {
                continue;
            }
            if running[cpu].is_none() {
                // No task: the CPU runs guest code only for the kernel (a handler's or the stop loop's call).
                if kernel.in_guest_call(id) {
                    let q = scheduler.quantum(cpu, cfg.quantum, cfg.quantum_jitter);
                    let result = machine.run_quantum(id, q.min(cfg.budget - used));
                    charge_empty_turn(machine, id, &result);
                    kernel_only_outcome(machine, kernel, id, result.outcome);
                }
                continue;
            }
            let r = running[cpu].as_mut().expect("checked above");
            let q = scheduler.quantum(cpu, cfg.quantum, cfg.quantum_jitter);
            let result = machine.run_quantum(id, q.min(cfg.budget - used));
            charge_empty_turn(machine, id, &result);
            match result.outcome {
                Outcome::QuantumDone => {}
                Outcome::Returned if kernel.on_return(machine, id) => {}
                Outcome::Returned => {
                    let ret = machine.return_value(id);
                    machine.emit(
                        id,
                        EventKind::TaskReturn {
                            pid: r.task.pid,
                            func: r.task.func_name.clone(),
                            ret,
                            iteration: r.iteration,
                        },
                    );
                    calls.push(CallResult { pid: r.task.pid, cpu: id, iteration: r.iteration, ret: Some(ret) });
                    let next = r.iteration + 1;
                    let again = match r.task.repeat {
                        Repeat::Times(n) => next < n,
                        Repeat::Forever => true,
                    };
                    if again {
                        r.iteration = next;
                        call(machine, kernel, id, r);
                    } else {
                        machine.emit(id, EventKind::TaskExit { pid: r.task.pid });
                        running[cpu] = None;
                        start_next(machine, kernel, &mut queues[cpu], &mut running[cpu], id, 0);
                    }
                }
                Outcome::ModelCall(_) | Outcome::Trap(_) => {
                    let action = match result.outcome {
                        Outcome::ModelCall(addr) => kernel.model_call(machine, id, KernelVa(addr)),
                        Outcome::Trap(trap) => kernel.handle_trap(machine, id, &trap),
                        _ => unreachable!("matched above"),
                    };
                    if matches!(action, TrapAction::Oops { .. }) && kernel.oops_on(machine, id) == OopsVictim::Task {
                        kill_task(machine, kernel, &mut queues[cpu], &mut running[cpu], &mut calls, id);
                    }
                }
            }
        }
    };
    let unfinished = running
        .iter()
        .enumerate()
        .filter_map(|(cpu, r)| {
            let r = r.as_ref()?;
            Some(Unfinished {
                cpu: CpuId(cpu),
                pid: r.task.pid,
                pc: machine.pc(CpuId(cpu)),
                forever: r.task.repeat == Repeat::Forever,
            })
        })
        .collect();
    let schedule = cfg.record_schedule.then(|| scheduler.recorded());
    RunSummary {
        end,
        vtime: machine.now().0,
        calls,
        unfinished,
        schedule,
        tracefs_reads: tracefs.reads,
        tracefs_errors: tracefs.errors,
    }
}

/// Handles how a CPU with no task stopped while running guest code for the kernel.
fn kernel_only_outcome(machine: &mut EmulatedMachine, kernel: &mut Kernel, id: CpuId, outcome: Outcome) {
    let action = match outcome {
        Outcome::QuantumDone => return,
        Outcome::Returned => {
            kernel.on_return(machine, id);
            return;
        }
        Outcome::ModelCall(addr) => kernel.model_call(machine, id, KernelVa(addr)),
        Outcome::Trap(trap) => kernel.handle_trap(machine, id, &trap),
    };
    if matches!(action, TrapAction::Oops { .. }) && kernel.oops_on(machine, id) == OopsVictim::Task {
        machine.reset_cpu(id);
    }
}

/// A turn in guest code that trapped before retiring anything (a fault on its first instruction) still costs
/// virtual time, so the clock always moves and the budget always ends a run. (A return at once ends a call: that
/// is progress, and costs nothing, as before.)
fn charge_empty_turn(machine: &mut EmulatedMachine, id: CpuId, result: &crate::cpu::RunResult) {
    if result.retired == 0 && matches!(result.outcome, Outcome::Trap(_) | Outcome::ModelCall(_)) {
        machine.charge(id, 1);
    }
}

/// `die()`: the CPU's task (if it has one) is killed and the CPU goes on with its next task.
fn kill_task(
    machine: &mut EmulatedMachine,
    kernel: &mut Kernel,
    queue: &mut VecDeque<Task>,
    slot: &mut Option<Running>,
    calls: &mut Vec<CallResult>,
    cpu: CpuId,
) {
    let Some(r) = slot.take() else { return };
    calls.push(CallResult { pid: r.task.pid, cpu, iteration: r.iteration, ret: None });
    machine.emit(cpu, EventKind::TaskExit { pid: r.task.pid });
    machine.reset_cpu(cpu);
    start_next(machine, kernel, queue, slot, cpu, 0);
}

fn start_next(
    machine: &mut EmulatedMachine,
    kernel: &mut Kernel,
    queue: &mut VecDeque<Task>,
    slot: &mut Option<Running>,
    cpu: CpuId,
    iteration: u64,
) {
    if queue.front().is_some_and(|t| t.start_at > machine.now().0) {
        return;
    }
    if let Some(task) = queue.pop_front() {
        if task.repeat == Repeat::Times(0) {
            return start_next(machine, kernel, queue, slot, cpu, iteration);
        }
        let r = slot.insert(Running { task, iteration });
        call(machine, kernel, cpu, r);
    }
}

fn call(machine: &mut EmulatedMachine, kernel: &mut Kernel, cpu: CpuId, r: &Running) {
    kernel.set_current_task(cpu, Some(r.task.pid), &r.task.comm, r.task.ids);
    machine
        .prepare_call(cpu, r.task.func, &r.task.args)
        .expect("the stack region is mapped and writable");
    machine.emit(
        cpu,
        EventKind::TaskCall {
            pid: r.task.pid,
            comm: r.task.comm.clone(),
            func: r.task.func_name.clone(),
            args: r.task.args.clone(),
            iteration: r.iteration,
        },
    );
}

fn perform(machine: &mut EmulatedMachine, kernel: &mut Kernel, cpu: CpuId, op: &ActionOp, out: &mut TracefsOut) {
    match op {
        ActionOp::TracefsWrite { file, text, append } => {
            if let Err(e) = kernel.tracefs_write(machine, cpu, file, text, *append) {
                out.errors.push((file.clone(), e));
            }
        }
        ActionOp::TracefsRead { file } => {
            let text = kernel.tracefs_read(machine, cpu, file).unwrap_or_default();
            out.reads.push((file.clone(), text));
        }
        ActionOp::PokeText { addr, bytes } => {
            if let Err(fault) = machine.poke_text(cpu, *addr, bytes) {
                machine.emit(cpu, EventKind::Oops { oops: Oops::TextPokeFailed { fault: fault.to_string() } });
            }
        }
        ActionOp::FlushIcacheRange { addr, len } => machine.flush_icache_range(cpu, *addr, *len),
        ActionOp::Isb => machine.context_synchronize(cpu, SyncReason::Isb),
        ActionOp::SkipSyncs(n) => machine.skip_next_syncs(cpu, *n),
        ActionOp::RegisterKprobe(spec) => kernel.request_register_kprobe(machine, cpu, spec.clone()),
        ActionOp::RegisterKprobes(batch, specs) => kernel.request_register_kprobes(machine, cpu, batch, specs.clone()),
        ActionOp::TextPokeBp(sites) => kernel.request_text_poke_bp(cpu, sites.clone()),
        ActionOp::StaticKey(op, key, name) => kernel.request_static_key(cpu, *op, *key, name),
        ActionOp::AttachBpfAsm { name, text, symbol, mode } => {
            if let Err(e) = kernel.request_attach_bpf_asm(machine, cpu, name, text, symbol, *mode) {
                machine.emit(cpu, EventKind::BpfLoadFailed { prog: name.clone(), error: e.to_string() });
            }
        }
        ActionOp::AttachBpf(path, bytes, mode) => {
            if let Err(e) = kernel.request_attach_bpf(machine, cpu, path, bytes, *mode) {
                machine.emit(cpu, EventKind::BpfLoadFailed { prog: path.display().to_string(), error: e.to_string() });
            }
        }
        ActionOp::ProbeOp(kind, name) => kernel.request_probe_op(machine, cpu, *kind, name.clone()),
        ActionOp::RegisterKretprobe { kp, maxactive, entry, handler } => {
            kernel.request_register_kretprobe(machine, cpu, kp.clone(), *maxactive, entry.clone(), handler.clone());
        }
    }
}
