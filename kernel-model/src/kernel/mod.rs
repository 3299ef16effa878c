//! The modelled kernel as the scheduler sees it: per-CPU kprobe state, the activities CPUs perform in model mode
//! (registering a probe, running a stopper thread, running probe handlers), and what happens when a CPU traps.
//!
//! A CPU is in **guest mode** (Unicorn runs its code) unless it has an activity that needs it: then it is in
//! **model mode** and each scheduler turn runs one step of its innermost activity. Activities stack: a registering
//! task waits in `stop_machine` while its CPU's stopper thread runs on top of it; a kprobe handler that calls a
//! kernel function waits while the CPU runs that function in guest mode.

use crate::arch::{self, ArchKernel};
use crate::ptrace::PtRegs;
use crate::bpf::runtime::{ProgId, TraceCall, TraceCallStep};
use crate::errno::Errno;
use crate::event::{CpuStopStep, EventKind, HitStep, KprobeOpFn, KprobeStatus, KprobeStep, Oops, SymAddr, SyncReason, Trap};
use crate::kprobes::{HandlerAction, KprobeError, KprobeSpec, Kprobes, PreHandler, ProbeId, TableEntry};
use crate::kretprobes::{default_maxactive, Kretprobe, KretprobeInstance, Kretprobes};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::stop_machine::{StopFn, StopMachine, StopperPhase, StopperStep};
use crate::{CpuId, Isa, KernelVa};

/// What a model step ([`Kernel::step`]) left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum StepOutcome {
    /// The CPU goes on (more model steps, or back to guest code).
    Continue,
    /// The step oopsed (already logged): the CPU's task dies.
    Oops,
}

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

/// What the scheduler does with a CPU after the kernel handled its trap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapAction {
    /// Return from the exception: the CPU continues in guest code at its (possibly changed) pc.
    Resume,
    /// The kernel is still handling the exception (handlers to run): the CPU stays in model mode.
    Model,
    /// The kernel died on this CPU (`die()`); the task is killed.
    Oops {
        /// Why (its text is the kernel's message).
        oops: Oops,
    },
}

/// `struct prev_kprobe`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrevKprobe {
    /// `kp`: the table address of the interrupted probe.
    pub kp: Option<KernelVa>,
    /// `status`.
    pub status: u32,
}

/// `struct kprobe_ctlblk` (per CPU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KprobeCtlblk {
    /// `kprobe_status`.
    pub kprobe_status: u32,
    /// `saved_irqflag`: the DAIF bits masked for the out-of-line step.
    pub saved_irqflag: u64,
    /// `prev_kprobe`.
    pub prev_kprobe: PrevKprobe,
    /// 5.10's `ss_ctx`: `Some(match_addr)` while a step is pending (`ss_pending`).
    pub ss_ctx: Option<u64>,
}

/// Which handler a [`HandlerRun`] is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerKind {
    /// `pre_handler` (`aggr_pre_handler` over the children).
    Pre,
    /// `post_handler` (`aggr_post_handler`).
    Post,
}

/// Handlers of one hit in progress, resumable across nested guest calls.
#[derive(Clone, Debug)]
pub struct HandlerRun {
    /// The exception context (`struct pt_regs *regs`).
    pub regs: PtRegs,
    /// The probed address (the table entry).
    pub addr: KernelVa,
    /// Which handler.
    pub kind: HandlerKind,
    probes: Vec<ProbeId>,
    child: usize,
    action: usize,
    ret: u64,
    waiting_call: bool,
    /// A `trace_call_bpf` suspended in a helper that is running guest code (the call `waiting_call` waits for).
    bpf: Option<Box<TraceCall>>,
    /// What the guest call returned (read when it returns, used when the handler resumes).
    call_ret: u64,
    /// The stack pointer at the exception: handlers (and their calls) run on the kernel stack below it, whatever
    /// they do to `regs.sp`.
    entry_sp: u64,
}

impl HandlerRun {
    /// Where a guest call made by a handler (or a BPF helper it runs) starts its stack: below the exception frame.
    fn call_stack(&self) -> u64 {
        self.entry_sp.wrapping_sub(0x400) & !0xf
    }
}

/// A registration in progress (`register_kprobe` in a task's context).
#[derive(Clone, Debug)]
struct RegisterOp {
    spec: KprobeSpec,
    /// The `register_kprobes()` call this registration is part of, if any.
    batch: Option<String>,
    phase: RegPhase,
    id: Option<ProbeId>,
    /// Stack frame for the patch struct (`aarch64_insn_patch_text`'s locals).
    frame: KernelVa,
    /// Where it stands with `kprobe_mutex`.
    mutex: MutexWait,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RegPhase {
    Start,
    WaitSlot,
    Insert,
    WaitArm,
}

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
    fn name(self) -> &'static str {
        self.kernel_function().name()
    }

    fn kernel_function(self) -> KprobeOpFn {
        match self {
            ProbeOpKind::Unregister => KprobeOpFn::UnregisterKprobe,
            ProbeOpKind::Disable => KprobeOpFn::DisableKprobe,
            ProbeOpKind::Enable => KprobeOpFn::EnableKprobe,
        }
    }
}

/// `unregister_kprobe`/`disable_kprobe`/`enable_kprobe` in progress.
#[derive(Clone, Debug)]
struct ProbeOp {
    kind: ProbeOpKind,
    name: String,
    waiting: bool,
    frame: KernelVa,
    /// Where it stands with `kprobe_mutex`.
    mutex: MutexWait,
}

/// Where an operation stands with `kprobe_mutex`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum MutexWait {
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
struct KprobeMutex {
    owner: Option<CpuId>,
    waiters: std::collections::VecDeque<CpuId>,
}

impl KprobeMutex {
    /// `mutex_lock(&kprobe_mutex)` by the operation on `cpu` (whose state is `wait`), as one model step: `Ok` if
    /// it now holds the mutex, or `Err(owner)` if it waits (`wait` says whether the wait must be logged).
    fn lock(&mut self, cpu: CpuId, wait: &mut MutexWait) -> Result<(), CpuId> {
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
    fn unlock(&mut self, wait: &mut MutexWait) {
        if *wait == MutexWait::Held {
            self.owner = None;
            *wait = MutexWait::NotYet;
        }
    }
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

/// `text_poke_bp_batch` in progress (x86 `arch/x86/kernel/alternative.c`): int3 first, then the tail bytes,
/// then the first byte, each step followed by `text_poke_sync()`.
#[derive(Clone, Debug)]
struct TextPokeBpOp {
    sites: Vec<(KernelVa, Vec<u8>)>,
    step: u8,
    waiting: bool,
}

#[derive(Clone, Debug)]
enum Activity {
    Register(RegisterOp),
    TextPokeBp(TextPokeBpOp),
    ProbeOp(ProbeOp),
    Stopper(StopperRun),
    Handler(HandlerRun),
}

/// Per-CPU kernel state.
#[derive(Clone, Debug, Default)]
pub struct PerCpu {
    /// `current_kprobe`: the table address of the probe being handled.
    pub current_kprobe: Option<KernelVa>,
    /// `kprobe_ctlblk`.
    pub kcb: KprobeCtlblk,
    activities: Vec<Activity>,
}

/// How the architecture makes a text patch take effect on every CPU.
pub enum PatchJob {
    /// arm64 `aarch64_insn_patch_text`: the function runs under `stop_machine` on every CPU.
    StopMachine(Box<dyn StopFn>),
    /// x86 `text_poke` already wrote the bytes; `text_poke_sync()` = `on_each_cpu(do_sync_core, NULL, 1)`: every
    /// CPU serialises (at its next interrupt-enabled instruction boundary) and the caller waits for all.
    SyncCores,
}

/// The generic half of the kernel, which the ISA-specific half operates on.
pub struct KernelCore {
    /// Which Linux version's behaviour to reproduce.
    pub profile: KernelProfile,
    /// The kprobes.
    pub kprobes: Kprobes,
    /// Per-CPU state.
    pub percpu: Vec<PerCpu>,
    /// The `stop_machine` in progress, if any.
    pub stop: Option<StopMachine>,
    /// `on_each_cpu(do_sync_core)` in progress: which CPUs still have the IPI pending.
    pub sync_core_ipi: Option<Vec<bool>>,
    /// What each `register_kprobe` call returned, in completion order (probe name, result).
    pub register_results: Vec<(String, Result<(), Errno>)>,
    /// The kretprobes and their instances.
    pub kretprobes: Kretprobes,
    /// BPF programs and maps, and what user space reads from them (trace_pipe, perf records).
    pub bpf: crate::bpf::BpfRuntime,
    /// The pid of the task each CPU runs (`current`), if any.
    pub current_task: Vec<Option<u32>>,
    /// Its comm.
    pub current_comm: Vec<String>,
    /// Every `stack_trace_save_regs` a handler made: (probe name, addresses).
    pub stack_traces: Vec<(String, Vec<u64>)>,
    unwind: crate::arch::UnwindFn,
    slots_used: Vec<bool>,
}

impl KernelCore {
    /// Models `get_insn_slot()` (kernel/kprobes.c): a free slot of `size` bytes in the executable slot area.
    pub fn get_insn_slot(&mut self, m: &dyn Machine, size: u64) -> Option<KernelVa> {
        let (base, len) = m.insn_slot_area();
        let n = (len / size) as usize;
        if self.slots_used.len() < n {
            self.slots_used.resize(n, false);
        }
        let i = self.slots_used.iter().position(|u| !u)?;
        self.slots_used[i] = true;
        Some(base.add(i as u64 * size))
    }

    /// `current` as BPF helpers see it (`bpf_get_current_pid_tgid`, `bpf_get_current_comm`).
    #[must_use]
    pub fn current_task_info(&self, cpu: CpuId) -> crate::bpf::TaskInfo {
        let pid = self.current_task[cpu.0].unwrap_or(0);
        let comm = if pid == 0 { format!("swapper/{cpu}") } else { self.current_comm[cpu.0].clone() };
        crate::bpf::TaskInfo::new(pid, &comm)
    }

    /// Records a step of the hit path of the probe at `addr` on `cpu`, with the status it left.
    pub fn emit_hit(&self, m: &mut dyn Machine, cpu: CpuId, addr: KernelVa, step: HitStep) {
        let status = KprobeStatus::from_kcb(self.percpu[cpu.0].kcb.kprobe_status);
        m.emit(cpu, EventKind::KprobeHit { probe: self.probe_name(addr), addr, step, status });
    }

    /// Models `free_insn_slot()`.
    pub fn free_insn_slot(&mut self, m: &dyn Machine, slot: KernelVa, size: u64) {
        let (base, _) = m.insn_slot_area();
        let i = ((slot.0 - base.0) / size) as usize;
        if let Some(u) = self.slots_used.get_mut(i) {
            *u = false;
        }
    }

    /// Models `set_current_kprobe` / `reset_current_kprobe`.
    pub fn set_current_kprobe(&mut self, cpu: CpuId, kp: Option<KernelVa>) {
        self.percpu[cpu.0].current_kprobe = kp;
    }

    /// The name of the probe(s) at `addr`, for the log.
    #[must_use]
    pub fn probe_name(&self, addr: KernelVa) -> String {
        match self.kprobes.get_kprobe(addr) {
            Some(e) => {
                let names: Vec<String> =
                    self.kprobes.members(e).iter().map(|id| self.kprobes.get(*id).spec.name.clone()).collect();
                names.join("+")
            }
            None => format!("{addr}"),
        }
    }

    /// Models `__kretprobe_trampoline_handler` (kernel/kprobes.c): takes the current task's newest instance, sets
    /// the real return address in `regs`, runs the return handler, recycles the instance. Returns the real return
    /// address, or `None` if the task has no instance (the kernel BUG()s).
    pub fn kretprobe_trampoline_handler(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        regs: &mut PtRegs,
        frame_pointer: u64,
    ) -> Option<u64> {
        let pid = self.current_task[cpu.0]?;
        let ri = self.kretprobes.instances.get_mut(&pid)?.pop()?;
        if ri.fp != frame_pointer {
            m.emit(cpu, EventKind::Kprobe {
                probe: self.kretprobes.probes[ri.rp].name.clone(),
                step: KprobeStep::KretprobeFpMismatch { instance_fp: ri.fp, frame_pointer },
            });
        }
        regs.set_ip(ri.ret_addr);
        let rp = &mut self.kretprobes.probes[ri.rp];
        rp.in_use -= 1;
        rp.nhit += 1;
        let (name, actions) = (rp.name.clone(), rp.handler.clone().unwrap_or_default());
        m.emit(cpu, EventKind::Kprobe {
            probe: name,
            step: KprobeStep::KretprobeTrampolineHandler { ret_addr: ri.ret_addr, retval: regs.return_value() },
        });
        self.run_simple_actions(m, cpu, &name_of(self, ri.rp), regs, &actions);
        Some(ri.ret_addr)
    }

    /// Starts running the pre- or post-handlers of the probe(s) at `addr` for a hit on `cpu`. Returns the handler
    /// run to step, or `None` if there is nothing to run (no handler registered).
    #[must_use]
    pub fn start_handlers(&self, addr: KernelVa, kind: HandlerKind, regs: PtRegs) -> Option<HandlerRun> {
        let entry = self.kprobes.get_kprobe(addr)?;
        let probes: Vec<ProbeId> = self
            .kprobes
            .members(entry)
            .into_iter()
            .filter(|id| {
                let p = self.kprobes.get(*id);
                !p.disabled()
                    && match kind {
                        HandlerKind::Pre => p.spec.pre_handler != crate::kprobes::PreHandler::None,
                        HandlerKind::Post => p.spec.post_handler.is_some(),
                    }
            })
            .collect();
        (!probes.is_empty()).then_some(HandlerRun {
            addr,
            kind,
            probes,
            child: 0,
            action: 0,
            ret: 0,
            waiting_call: false,
            bpf: None,
            call_ret: 0,
            entry_sp: regs.sp(),
            regs,
        })
    }
}

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

/// The modelled kernel of one run.
pub struct Kernel {
    /// The generic state.
    pub core: KernelCore,
    arch: Box<dyn ArchKernel>,
    stop_machine_yield: Option<KernelVa>,
    /// `register_kprobes` calls in progress: the members registered so far.
    batches: std::collections::BTreeMap<String, Vec<String>>,
    /// `kprobe_mutex`.
    kprobe_mutex: KprobeMutex,
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
            core: KernelCore {
                profile,
                kprobes: Kprobes::default(),
                percpu: vec![PerCpu::default(); nr_cpus],
                stop: None,
                sync_core_ipi: None,
                register_results: Vec::new(),
                kretprobes: Kretprobes::default(),
                bpf: crate::bpf::BpfRuntime::new(profile, isa, nr_cpus),
                current_task: vec![None; nr_cpus],
                current_comm: vec![String::new(); nr_cpus],
                stack_traces: Vec::new(),
                unwind: arch::unwinder(isa),
                slots_used: Vec::new(),
            },
            arch: arch::lookup(isa, profile),
            stop_machine_yield: None,
            batches: std::collections::BTreeMap::new(),
            kprobe_mutex: KprobeMutex::default(),
        }
    }

    /// The profile.
    #[must_use]
    pub fn profile(&self) -> KernelProfile {
        self.core.profile
    }

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

    fn request_register(&mut self, m: &mut dyn Machine, cpu: CpuId, spec: KprobeSpec, batch: Option<String>) {
        // The call's frame sits below whatever the CPU's stack holds now, as a syscall's would.
        let sp = m.pt_regs(cpu).sp();
        let top = m.stack_top(cpu).0;
        let base = if sp <= top && sp > top - 0x4000 { sp } else { top };
        let frame = KernelVa((base - 0x400) & !0xf);
        // Registrations requested by one task run one after another, in request order: a later request waits
        // below the earlier ones (the innermost activity runs first).
        let acts = &mut self.core.percpu[cpu.0].activities;
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
    fn register_kprobes_step(&mut self, m: &mut dyn Machine, cpu: CpuId, batch: &str, name: &str, res: Result<(), Errno>) {
        let acts = &mut self.core.percpu[cpu.0].activities;
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

    fn preemptible(&self, m: &mut dyn Machine, cpu: CpuId, idle: bool) -> bool {
        let acts = &self.core.percpu[cpu.0].activities;
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
            && !self.core.percpu[cpu.0].activities.iter().any(|a| matches!(a, Activity::Stopper(_)));
        let ipi_pending = self.core.sync_core_ipi.as_ref().is_some_and(|p| p[cpu.0]);
        if ipi_pending && self.preemptible(m, cpu, idle) {
            // The IPI arrives: do_sync_core(); the interrupt's return is itself serialising.
            m.context_synchronize(cpu, SyncReason::SyncCoreIpi);
            if let Some(p) = self.core.sync_core_ipi.as_mut() {
                p[cpu.0] = false;
            }
        }
        if stopper_queued && self.preemptible(m, cpu, idle) {
            let saved = m.pt_regs(cpu);
            self.core.percpu[cpu.0].activities.push(Activity::Stopper(StopperRun {
                saved,
                waiting_call: false,
                yielded: false,
            }));
            return true;
        }
        match self.core.percpu[cpu.0].activities.last() {
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
        match self.core.percpu[cpu.0].activities.last() {
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
        !self.core.percpu[cpu.0].activities.is_empty()
    }

    /// Runs one model step on `cpu` (call after [`Kernel::wants_model_step`] said so; a queued stopper thread has
    /// then already preempted the CPU: `migration/N` has the highest priority).
    ///
    /// Returns [`StepOutcome::Oops`] when the step died (an oops in a handler's continuation, e.g. a fault while
    /// simulating or emulating the probed instruction): the caller kills the CPU's task, as `die()` does.
    pub fn step(&mut self, m: &mut dyn Machine, cpu: CpuId) -> StepOutcome {
        m.charge(cpu, MODEL_STEP_TICKS);
        let Some(top) = self.core.percpu[cpu.0].activities.pop() else { return StepOutcome::Continue };
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
                    self.core.percpu[cpu.0].activities.push(Activity::Stopper(run));
                    return StepOutcome::Continue;
                }
                run.yielded = false;
                match stop.step(m, cpu) {
                    StopperStep::Running => self.core.percpu[cpu.0].activities.push(Activity::Stopper(run)),
                    StopperStep::Exited => {
                        // Switch back to what the stopper preempted.
                        m.set_pt_regs(cpu, &run.saved);
                        self.leave_model_if_idle(m, cpu);
                    }
                }
            }
            Activity::Register(op) => self.step_register(m, cpu, op),
            Activity::ProbeOp(op) => self.step_probe_op(m, cpu, op),
            Activity::TextPokeBp(op) => self.step_text_poke_bp(m, cpu, op),
            Activity::Handler(h) => return self.step_handler(m, cpu, h),
        }
        StepOutcome::Continue
    }

    /// The kernel died on `cpu` (the oops is already logged): `die()` → `make_task_dead()` (arch/*/kernel/traps.c,
    /// kernel/exit.c) ends `current`, and with it every kprobe handler running in its exception context, including
    /// one waiting for a guest call that will never return. If `current` was the stopper thread (its
    /// `stop_machine_yield` call, or a handler hit inside it, faulted), that kthread dies: the CPU switches back to
    /// what it had preempted, and since it never acknowledges `multi_stop_state` again, the other CPUs spin in
    /// `multi_cpu_stop` until the run's budget ends, as on Linux. `current_kprobe` is left as the dead context left
    /// it, as Linux leaves it.
    pub fn oops_on(&mut self, m: &mut dyn Machine, cpu: CpuId) -> OopsVictim {
        let acts = &mut self.core.percpu[cpu.0].activities;
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
        if self.core.percpu[cpu.0].activities.is_empty() {
            // Back to the interrupted task through the exception return: a context-synchronisation event.
            m.context_synchronize(cpu, SyncReason::Eret);
        }
    }

    fn step_register(&mut self, m: &mut dyn Machine, cpu: CpuId, mut op: RegisterOp) {
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
            self.core.percpu[cpu.0].activities.push(Activity::Register(op));
            return;
        }
        match op.phase {
            // text_mutex / stop_cpus_mutex: wait while another patch is in progress.
            RegPhase::Start if self.job_busy() => self.core.percpu[cpu.0].activities.push(Activity::Register(op)),
            RegPhase::Start => match self.register_start(m, cpu, &mut op) {
                Ok(true) => self.core.percpu[cpu.0].activities.push(Activity::Register(op)),
                Ok(false) => finish(self, m, &mut op, Ok(())),
                Err(e) => finish(self, m, &mut op, Err(e)),
            },
            RegPhase::WaitSlot | RegPhase::WaitArm => {
                let Some(ret) = self.take_finished_job() else {
                    self.core.percpu[cpu.0].activities.push(Activity::Register(op));
                    return;
                };
                if let Err(e) = ret {
                    finish(self, m, &mut op, Err(KprobeError::new(e, "aarch64_insn_patch_text failed")));
                    return;
                }
                if op.phase == RegPhase::WaitSlot {
                    let id = op.id.expect("prepared");
                    self.arch.after_slot_patch(&mut self.core, m, cpu, id);
                    op.phase = RegPhase::Insert;
                    self.core.percpu[cpu.0].activities.push(Activity::Register(op));
                } else {
                    m.emit(cpu, EventKind::Kprobe { probe: op.spec.name.clone(), step: KprobeStep::Armed });
                    finish(self, m, &mut op, Ok(()));
                }
            }
            RegPhase::Insert => {
                if self.job_busy() {
                    // stop_cpus_mutex: another stop_machine is in progress.
                    self.core.percpu[cpu.0].activities.push(Activity::Register(op));
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
                        self.core.percpu[cpu.0].activities.push(Activity::Register(op));
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
    fn register_start(&mut self, m: &mut dyn Machine, cpu: CpuId, op: &mut RegisterOp) -> Result<bool, KprobeError> {
        let k = &mut self.core.kprobes;
        let addr = k.kprobe_addr(&op.spec, m.kallsyms())?;
        if k.is_registered(&op.spec) {
            return Err(KprobeError::new(Errno::EINVAL, "warn_kprobe_rereg: this kprobe is already registered"));
        }
        k.check_kprobe_address_safe(addr, m.is_kernel_text(addr), m.kallsyms())?;
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

    fn step_handler(&mut self, m: &mut dyn Machine, cpu: CpuId, mut h: HandlerRun) -> StepOutcome {
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
                        if self.core.profile == KernelProfile::V5_10 && self.arch.kprobe_in_nmi() {
                            // 5.10 trace_call_bpf: `if (in_nmi()) return 1;` — on x86 the int3 handler is NMI-like,
                            // so the programs do not run at all (fixed in v5.11).
                            m.emit(cpu, EventKind::Kprobe {
                                probe: p.spec.name.clone(),
                                step: KprobeStep::TraceCallBpfInNmi,
                            });
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
                        TraceCallStep::Done(_) => {}
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
                        self.core.percpu[cpu.0].activities.push(Activity::Handler(h));
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
        match self.after_handler(m, cpu, h.kind, h.addr, h.regs, h.ret) {
            TrapAction::Resume => self.leave_model_if_idle(m, cpu),
            TrapAction::Model => {}
            TrapAction::Oops { oops } => {
                m.emit(cpu, EventKind::Oops { oops });
                return StepOutcome::Oops;
            }
        }
        StepOutcome::Continue
    }

    /// `trace_call_bpf` for handler run `h`: begun, or — back from a helper's guest call — resumed where the
    /// programs stopped.
    fn handler_trace_call_bpf(
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
    fn start_bpf_guest_call(&mut self, m: &mut dyn Machine, cpu: CpuId, mut h: HandlerRun, call: Box<TraceCall>) {
        let g = call.guest_call().expect("a suspended trace_call_bpf waits for a guest call");
        m.call_function(cpu, g.func, &g.args, g.sp);
        h.waiting_call = true;
        h.bpf = Some(call);
        self.core.percpu[cpu.0].activities.push(Activity::Handler(h));
    }

    /// Asks `cpu`'s task to patch live text with `text_poke_bp` (x86): each site gets its new bytes while other
    /// CPUs may execute it; a CPU that meets the temporary `int3` has the new instruction emulated.
    pub fn request_text_poke_bp(&mut self, cpu: CpuId, sites: Vec<(KernelVa, Vec<u8>)>) {
        self.core.percpu[cpu.0].activities.insert(0, Activity::TextPokeBp(TextPokeBpOp { sites, step: 0, waiting: false }));
    }

    fn step_text_poke_bp(&mut self, m: &mut dyn Machine, cpu: CpuId, mut op: TextPokeBpOp) {
        if op.waiting {
            if self.take_finished_job().is_none() {
                self.core.percpu[cpu.0].activities.push(Activity::TextPokeBp(op));
                return;
            }
            op.waiting = false;
            op.step += 1;
        }
        if self.job_busy() {
            self.core.percpu[cpu.0].activities.push(Activity::TextPokeBp(op));
            return;
        }
        let step = match op.step {
            0 => {
                if let Err(why) = self.arch.text_poke_bp_begin(m, &op.sites) {
                    m.emit(cpu, EventKind::Oops { oops: Oops::TextPokeBp { why } });
                    self.leave_model_if_idle(m, cpu);
                    return;
                }
                // First step: add an int3 trap to the addresses that will be patched.
                for (addr, _) in &op.sites {
                    let _ = m.poke_text(cpu, *addr, &[0xcc]);
                }
                1
            }
            1 => {
                // Second step: update all but the first byte of the patched range.
                for (addr, text) in &op.sites {
                    if text.len() > 1 {
                        let _ = m.poke_text(cpu, addr.add(1), &text[1..]);
                    }
                }
                2
            }
            2 => {
                // Third step: replace the first byte (int3) by the first byte of the new instruction.
                for (addr, text) in &op.sites {
                    if text[0] != 0xcc {
                        let _ = m.poke_text(cpu, *addr, &text[..1]);
                    }
                }
                3
            }
            _ => {
                self.arch.text_poke_bp_end();
                m.emit(cpu, EventKind::Stopper { step: CpuStopStep::TextPokeBpDone });
                self.leave_model_if_idle(m, cpu);
                return;
            }
        };
        m.emit(cpu, EventKind::Stopper { step: CpuStopStep::TextPokeBpStep { phase: step } });
        self.start_job(m, cpu, PatchJob::SyncCores);
        op.waiting = true;
        self.core.percpu[cpu.0].activities.push(Activity::TextPokeBp(op));
    }

    /// Asks `cpu`'s task to unregister, disable or enable the probe called `name`.
    pub fn request_probe_op(&mut self, m: &mut dyn Machine, cpu: CpuId, kind: ProbeOpKind, name: String) {
        let top = m.stack_top(cpu).0;
        let sp = m.pt_regs(cpu).sp();
        let base = if sp <= top && sp > top - 0x4000 { sp } else { top };
        let frame = KernelVa((base - 0x400) & !0xf);
        let acts = &mut self.core.percpu[cpu.0].activities;
        // The task's request waits below whatever preempted the task (its stopper thread, a handler of a hit in
        // its exception context): those run first, as they would on Linux.
        let at = acts
            .iter()
            .position(|a| matches!(a, Activity::Register(_) | Activity::ProbeOp(_) | Activity::Stopper(_) | Activity::Handler(_)))
            .unwrap_or(acts.len());
        acts.insert(at, Activity::ProbeOp(ProbeOp { kind, name, waiting: false, frame, mutex: MutexWait::NotYet }));
    }

    fn step_probe_op(&mut self, m: &mut dyn Machine, cpu: CpuId, mut op: ProbeOp) {
        let finish = |k: &mut Kernel, m: &mut dyn Machine, op: &mut ProbeOp, res: Result<(), Errno>| {
            k.kprobe_mutex.unlock(&mut op.mutex);
            let step = KprobeStep::ProbeOpReturned { op: op.kind.kernel_function(), errno: res.err() };
            m.emit(cpu, EventKind::Kprobe { probe: op.name.clone(), step });
            k.leave_model_if_idle(m, cpu);
        };
        // mutex_lock(&kprobe_mutex), then __get_valid_kprobe under it.
        if !self.lock_kprobe_mutex(m, cpu, op.kind.kernel_function(), &op.name, &mut op.mutex) {
            self.core.percpu[cpu.0].activities.push(Activity::ProbeOp(op));
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
                self.core.percpu[cpu.0].activities.push(Activity::ProbeOp(op));
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
            self.core.percpu[cpu.0].activities.push(Activity::ProbeOp(op));
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
                self.core.percpu[cpu.0].activities.push(Activity::ProbeOp(op));
            }
            Err(e) => finish(self, m, &mut op, Err(e)),
        }
    }

    /// `mutex_lock(&kprobe_mutex)` for the operation `op` on `probe` from `cpu`: whether it holds the mutex now.
    /// An operation that must wait stays in model mode and logs the wait once, when it begins.
    fn lock_kprobe_mutex(
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
    fn unhash(&mut self, m: &mut dyn Machine, id: ProbeId, addr: KernelVa) {
        self.core.kprobes.table.remove(&addr);
        let p = self.core.kprobes.get_mut(id);
        p.registered = false;
        if let Some(slot) = p.ainsn.slot {
            self.core.free_insn_slot(m, slot, self.arch.slot_size());
        }
    }

    /// Models `pre_handler_kretprobe` (kernel/kprobes.c): take a free instance (or count a miss), run the entry
    /// handler, and hijack the return address (`arch_prepare_kretprobe`).
    fn pre_handler_kretprobe(&mut self, m: &mut dyn Machine, cpu: CpuId, rp: usize, regs: &mut PtRegs) {
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
        let pid = self.core.current_task[cpu.0].unwrap_or(0);
        self.core.kretprobes.instances.entry(pid).or_default().push(KretprobeInstance { rp, ret_addr, fp });
        m.emit(cpu, EventKind::Kprobe {
            probe: name,
            step: KprobeStep::ArchPrepareKretprobe { ret_addr, trampoline },
        });
    }

    /// `cpu` now runs task `pid` (`current`).
    pub fn set_current_task(&mut self, cpu: CpuId, pid: Option<u32>, comm: &str) {
        self.core.current_task[cpu.0] = pid;
        self.core.current_comm[cpu.0] = comm.to_string();
    }

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

    /// Loads a BPF object and attaches its `kprobe/<symbol>` programs as trace kprobes (BCC/libbpf
    /// `attach_kprobe`: `perf_event_open` → `register_kprobe` with `kprobe_dispatcher`), registered by `cpu`'s
    /// task. Returns the loader's error, if any.
    pub fn request_attach_bpf(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        object: &std::path::Path,
    ) -> Result<(), crate::bpf::BpfObjectError> {
        let ids = self.core.bpf.load_object(object)?;
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

    /// Guest code on `cpu` branched to a model entry (`addr`): runs that modelled kernel function.
    pub fn model_call(&mut self, m: &mut dyn Machine, cpu: CpuId, addr: KernelVa) -> TrapAction {
        let name = m.kallsyms().lookup(addr).map(|s| s.name.clone()).unwrap_or_default();
        let action = self.arch.model_call(&mut self.core, m, cpu, &name);
        if let TrapAction::Oops { oops } = &action {
            m.emit(cpu, EventKind::Oops { oops: oops.clone() });
        }
        action
    }

    /// Continues the hit path after the pre- or post-handlers ran (the tail of `kprobe_breakpoint_handler` /
    /// `kprobe_int3_handler`, or of `post_kprobe_handler` / `kprobe_post_process`): `Resume` back to guest code,
    /// `Model` if more handlers were pushed, `Oops` if simulating or emulating the probed instruction faulted.
    fn after_handler(
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
        let (addr, step) = match self.core.percpu[cpu.0].activities.last_mut() {
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

    /// Handles an exception taken by `cpu` in guest code, as the kernel's exception entry path does.
    pub fn handle_trap(&mut self, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction {
        m.emit(cpu, EventKind::Trap { trap: trap.clone() });
        let action = self.arch.handle_trap(&mut self.core, m, cpu, trap);
        match &action {
            TrapAction::Oops { oops } => m.emit(cpu, EventKind::Oops { oops: oops.clone() }),
            TrapAction::Model => {}
            TrapAction::Resume => {}
        }
        action
    }

    /// Pushes a handler run onto `cpu` (the arch hit path calls this when handlers must run).
    pub fn push_handler(core: &mut KernelCore, cpu: CpuId, h: HandlerRun) {
        core.percpu[cpu.0].activities.push(Activity::Handler(h));
    }

    /// A one-line description of where `cpu` is in modelled kernel code (innermost frame), if anywhere.
    #[must_use]
    pub fn backtrace(&self, cpu: CpuId) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.core.percpu[cpu.0].activities {
            match a {
                Activity::Register(_) => out.push("register_kprobe".to_string()),
                Activity::ProbeOp(op) => out.push(op.kind.name().to_string()),
                Activity::TextPokeBp(_) => out.push("text_poke_bp_batch".to_string()),
                Activity::Stopper(_) => {
                    if let Some(s) = &self.core.stop {
                        out.extend(s.frames(cpu).into_iter().map(String::from));
                    }
                }
                Activity::Handler(_) => out.push("kprobe_breakpoint_handler".to_string()),
            }
        }
        out
    }
}

fn name_of(k: &KernelCore, rp: usize) -> String {
    k.kretprobes.probes[rp].name.clone()
}

impl KernelCore {
    /// Models `stack_trace_save_regs(regs, …)` from a handler of `probe` on `cpu`; a return address that is the
    /// kretprobe trampoline is replaced by the real one (`kretprobe_find_ret_addr`, newest instance first).
    pub fn stack_trace_save_regs(&mut self, m: &mut dyn Machine, cpu: CpuId, probe: &str, regs: &PtRegs) -> Vec<u64> {
        let top = m.stack_top(cpu).0;
        let trampoline = self.kretprobes.trampoline.map(|t| t.0);
        let pending: Vec<u64> = self.current_task[cpu.0]
            .and_then(|pid| self.kretprobes.instances.get(&pid))
            .map(|v| v.iter().rev().map(|ri| ri.ret_addr).collect())
            .unwrap_or_default();
        let mut next = pending.into_iter();
        let mut fixup = |a: u64| if Some(a) == trampoline { next.next().unwrap_or(a) } else { a };
        let trace = (self.unwind)(m, (top - 0x4000, top), regs, 16, &mut fixup);
        let trace_syms =
            trace.iter().map(|a| SymAddr { addr: KernelVa(*a), sym: m.kallsyms().format_short(KernelVa(*a)) }).collect();
        m.emit(cpu, EventKind::Kprobe { probe: probe.into(), step: KprobeStep::StackTraceSaved { trace: trace_syms } });
        self.stack_traces.push((probe.into(), trace.clone()));
        trace
    }

    /// Runs handler actions that need no guest call (entry and return handlers); returns the handler's return
    /// value.
    fn run_simple_actions(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        probe: &str,
        regs: &mut PtRegs,
        actions: &[HandlerAction],
    ) -> u64 {
        let mut ret = 0;
        for a in actions {
            match a {
                HandlerAction::SetReg { reg, value } => {
                    regs.set_by_name(reg, *value);
                }
                HandlerAction::RecordRegs => {
                    let named = regs.named().into_iter().map(|(n, v)| (n.to_string(), v)).collect();
                    m.emit(cpu, EventKind::Regs { regs: named });
                }
                HandlerAction::Return(v) => ret = *v,
                HandlerAction::StackTraceSaveRegs => {
                    self.stack_trace_save_regs(m, cpu, probe, regs);
                }
                HandlerAction::RunBpf(progs) => {
                    // kretprobe_perf_func: the program's return value only filters the perf event.
                    let task = self.current_task_info(cpu);
                    self.bpf.trace_call_bpf(m, cpu, &task, progs, regs);
                }
                HandlerAction::Call { name, .. } => {
                    m.emit(cpu, EventKind::Kprobe {
                        probe: probe.into(),
                        step: KprobeStep::KretprobeCallSkipped { func: name.clone() },
                    });
                }
            }
        }
        ret
    }
}
