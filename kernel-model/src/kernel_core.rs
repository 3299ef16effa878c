//! The kprobe vocabulary the architectures share with the generic kernel ("linux/kprobes.h as arch sees it"):
//! the generic kernel state an arch hit path operates on ([`KernelCore`]: the kprobe table, per-CPU
//! `current_kprobe`/`kprobe_ctlblk`, insn slots, kretprobe instances, BPF), a hit's handler run ([`HandlerRun`]),
//! and what the arch answers ([`TrapAction`], [`PatchJob`], [`LivePatchStep`]). It sits below `arch/` and the
//! driver (`kernel/`): both import it, it imports neither.

use crate::bpf::runtime::TraceCall;
use crate::trace::trace_kprobe::ProbeHandle;
use crate::event::{EventKind, HitStep, KprobeStatus, KprobeStep, Oops, SymAddr};
use crate::kprobes::{HandlerAction, Kprobes, ProbeId};
use crate::kretprobes::Kretprobes;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::ptrace::PtRegs;
use crate::stop_machine::{StopFn, StopMachine};
use crate::errno::Errno;
use crate::{CpuId, Isa, KernelVa};

/// A stack unwinder (`arch_stack_walk` over frame records): (machine, stack range, regs, max entries, return-address
/// fixup) → addresses. Each arch provides one (`arch::unwinder`).
pub type UnwindFn = fn(&dyn Machine, (u64, u64), &PtRegs, usize, &mut dyn FnMut(u64) -> u64) -> Vec<u64>;

/// A CPU's `current`: the task it runs, if any, with its comm and ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Current {
    /// `task->pid`; `None` while the CPU runs no task (`swapper/N`).
    pub pid: Option<u32>,
    /// `task->comm`.
    pub comm: String,
    /// `task->tgid` and the cred's uid/gid.
    pub ids: crate::bpf::TaskIds,
}

/// What the scheduler does with a CPU after the kernel handled its trap.
#[derive(Clone, Debug)]
pub enum TrapAction {
    /// Return from the exception: the CPU continues in guest code at its (possibly changed) pc.
    Resume,
    /// The kernel is still handling the exception (handlers to run): the CPU stays in model mode.
    Model,
    /// These handlers must run (in model mode, resumable across guest calls): the arch's hit path asks the
    /// driver to run them; the CPU stays in model mode.
    Handlers(Box<HandlerRun>),
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

/// The generic part of `struct kprobe_ctlblk` (per CPU); each arch keeps its own fields (arm64's `saved_irqflag`
/// and 5.10 `ss_ctx` in `arch::aarch64::kprobes::Aarch64Ctlblk`, x86's flags in its kprobe state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KprobeCtlblk {
    /// `kprobe_status`.
    pub kprobe_status: u32,
    /// `prev_kprobe`.
    pub prev_kprobe: PrevKprobe,
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
    pub(crate) probes: Vec<ProbeId>,
    pub(crate) child: usize,
    pub(crate) action: usize,
    pub(crate) ret: u64,
    pub(crate) waiting_call: bool,
    /// A `trace_call_bpf` suspended in a helper that is running guest code (the call `waiting_call` waits for).
    pub(crate) bpf: Option<Box<TraceCall>>,
    /// What the guest call returned (read when it returns, used when the handler resumes).
    pub(crate) call_ret: u64,
    /// The stack pointer at the exception: handlers (and their calls) run on the kernel stack below it, whatever
    /// they do to `regs.sp`.
    pub(crate) entry_sp: u64,
}

impl HandlerRun {
    /// Where a guest call made by a handler (or a BPF helper it runs) starts its stack: below the exception frame.
    pub(crate) fn call_stack(&self) -> u64 {
        self.entry_sp.wrapping_sub(0x400) & !0xf
    }
}

/// Per-CPU kernel state.
#[derive(Clone, Debug, Default)]
pub struct PerCpu {
    /// `current_kprobe`: the table address of the probe being handled.
    pub current_kprobe: Option<KernelVa>,
    /// `kprobe_ctlblk`.
    pub kcb: KprobeCtlblk,
}

/// How the architecture makes a text patch take effect on every CPU.
pub enum PatchJob {
    /// arm64 `aarch64_insn_patch_text`: the function runs under `stop_machine` on every CPU.
    StopMachine(Box<dyn StopFn>),
    /// x86 `text_poke` already wrote the bytes; `text_poke_sync()` = `on_each_cpu(do_sync_core, NULL, 1)`: every
    /// CPU serialises (at its next interrupt-enabled instruction boundary) and the caller waits for all.
    SyncCores,
    /// arm64 `kick_all_cpus_sync()` (kernel/smp.c): `smp_call_function(do_nothing, NULL, 1)`, an IPI to every
    /// *other* CPU (its exception entry and return are context-synchronising); the caller waits for all.
    KickAllCpus,
}

/// What one step of patching live text asks for ([`ArchKernel::patch_live_text_step`]).
pub enum LivePatchStep {
    /// Wait for this job, then take the next step.
    Job(PatchJob),
    /// The patch is complete.
    Done,
    /// The arch refused the patch (the kernel BUG()s).
    Failed(Oops),
}

/// One trace event's hits after `trace_call_bpf` (not a kernel counter: `kept` is what `read()` on a counting perf
/// event of it would add up, `filtered` the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfFilter {
    /// `trace_call_bpf` returned non-zero: the perf sample is submitted.
    pub kept: u64,
    /// It returned 0 (a program returned 0, faulted, or the call was nested): `if (!ret) return 0;`.
    pub filtered: u64,
}

/// The generic half of the kernel, which the ISA-specific half operates on.
pub struct KernelCore {
    /// Which Linux version's behaviour to reproduce.
    profile: KernelProfile,
    /// The kprobes.
    pub kprobes: Kprobes,
    /// Per-CPU state.
    percpu: Vec<PerCpu>,
    /// The `stop_machine` in progress, if any.
    pub stop: Option<StopMachine>,
    /// `on_each_cpu(do_sync_core)` in progress: which CPUs still have the IPI pending.
    pub sync_core_ipi: Option<Vec<bool>>,
    /// What that IPI is (`do_sync_core` or `kick_all_cpus_sync`'s `do_nothing`), as the CPUs that take it log it.
    pub ipi_reason: crate::event::SyncReason,
    /// What each `register_kprobe` call returned, in completion order (probe name, result).
    pub register_results: Vec<(String, Result<(), Errno>)>,
    /// The kretprobes and their instances.
    pub kretprobes: Kretprobes,
    /// BPF programs and maps, and what user space reads from them (trace_pipe, perf records).
    pub bpf: crate::bpf::BpfRuntime,
    /// The task each CPU runs (`current`), by CPU.
    pub current: Vec<Current>,
    /// Every `stack_trace_save_regs` a handler made: (probe name, addresses).
    pub stack_traces: Vec<(String, Vec<u64>)>,
    /// The tracing instance (tracefs kprobe events, ring buffer, error_log).
    pub tracefs: crate::trace::instance::Tracefs,
    /// Per trace event with BPF attached, by name: what `kprobe_perf_func`/`kretprobe_perf_func` did with its hits.
    pub perf_filter: std::collections::BTreeMap<String, PerfFilter>,
    unwind: UnwindFn,
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

    /// A tracefs kprobe event's handler (`kprobe_dispatcher` → `kprobe_trace_func`, or the kretprobe's with `ret`)
    /// on `cpu`, for `current` there.
    pub fn kprobe_trace_func(&mut self, m: &mut dyn Machine, cpu: CpuId, handle: ProbeHandle, regs: &PtRegs, ret: bool) {
        let cur = &self.current[cpu.0];
        let task = (cur.pid.unwrap_or(0), cur.comm.as_str());
        crate::trace::instance::kprobe_trace_func(&mut self.tracefs, self.profile, task, m, cpu, handle, regs, ret);
    }

    /// `current` as BPF helpers see it (`bpf_get_current_pid_tgid`, `bpf_get_current_comm`).
    #[must_use]
    pub fn current_task_info(&self, cpu: CpuId) -> crate::bpf::TaskInfo {
        let cur = &self.current[cpu.0];
        let pid = cur.pid.unwrap_or(0);
        if pid == 0 {
            return crate::bpf::TaskInfo::new(0, &format!("swapper/{cpu}"));
        }
        crate::bpf::TaskInfo::new(pid, &cur.comm).with_ids(cur.ids)
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

    /// The kernel version the model follows.
    #[must_use]
    pub fn profile(&self) -> KernelProfile {
        self.profile
    }

    /// `kprobe_running()`: the probe this CPU is handling (`__this_cpu_read(current_kprobe)`).
    #[must_use]
    pub fn current_kprobe(&self, cpu: CpuId) -> Option<KernelVa> {
        self.percpu[cpu.0].current_kprobe
    }

    /// `kcb->kprobe_status` on `cpu`.
    #[must_use]
    pub fn kprobe_status(&self, cpu: CpuId) -> u32 {
        self.percpu[cpu.0].kcb.kprobe_status
    }

    /// `kcb->kprobe_status = status` on `cpu`.
    pub fn set_kprobe_status(&mut self, cpu: CpuId, status: u32) {
        self.percpu[cpu.0].kcb.kprobe_status = status;
    }

    /// `save_previous_kprobe(kcb)`: the interrupted probe and its status, before a reentered one is stepped.
    pub fn save_previous_kprobe(&mut self, cpu: CpuId) {
        let pcpu = &mut self.percpu[cpu.0];
        pcpu.kcb.prev_kprobe = PrevKprobe { kp: pcpu.current_kprobe, status: pcpu.kcb.kprobe_status };
    }

    /// `restore_previous_kprobe(kcb)`: back to the interrupted probe and its status.
    pub fn restore_previous_kprobe(&mut self, cpu: CpuId) {
        let pcpu = &mut self.percpu[cpu.0];
        pcpu.current_kprobe = pcpu.kcb.prev_kprobe.kp;
        pcpu.kcb.kprobe_status = pcpu.kcb.prev_kprobe.status;
    }

    /// This CPU's `current_kprobe` and `kprobe_ctlblk`, read-only (the debugger's `dt` view, tests).
    #[must_use]
    pub fn per_cpu(&self, cpu: CpuId) -> &PerCpu {
        &self.percpu[cpu.0]
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

}

impl KernelCore {
    /// The generic state of a kernel behaving as `profile` for `isa` on `nr_cpus` CPUs, unwinding with `unwind`.
    #[must_use]
    pub fn new(isa: Isa, profile: KernelProfile, nr_cpus: usize, unwind: UnwindFn) -> KernelCore {
        KernelCore {
            profile,
            kprobes: Kprobes::default(),
            percpu: vec![PerCpu::default(); nr_cpus],
            stop: None,
            sync_core_ipi: None,
            ipi_reason: crate::event::SyncReason::SyncCoreIpi,
            register_results: Vec::new(),
            kretprobes: Kretprobes::default(),
            bpf: crate::bpf::BpfRuntime::new(profile, isa, nr_cpus),
            current: vec![Current::default(); nr_cpus],
            stack_traces: Vec::new(),
            tracefs: crate::trace::instance::Tracefs::new(profile, nr_cpus),
            perf_filter: std::collections::BTreeMap::new(),
            unwind,
            slots_used: Vec::new(),
        }
    }
}

impl KernelCore {
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

    /// The tail of `kprobe_perf_func` / `kretprobe_perf_func` (kernel/trace/trace_kprobe.c, 5.10 and 6.12) once
    /// `trace_call_bpf` over event `probe`'s `prog_array` of `progs` programs returned `ret`: `if (!ret) return;`
    /// filters the hit's perf sample, else it goes on to `perf_trace_buf_submit`. Counted in
    /// [`KernelCore::perf_filter`]; logged when the array holds two or more programs (with one, its `bpf_run`
    /// line's return value decides). An empty array is not `bpf_prog_array_valid`: nothing is filtered.
    pub fn perf_func_filter(&mut self, m: &mut dyn Machine, cpu: CpuId, probe: &str, func: &'static str, progs: usize, ret: u32) {
        if progs == 0 {
            return;
        }
        let c = self.perf_filter.entry(probe.to_string()).or_default();
        if ret == 0 {
            c.filtered += 1;
        } else {
            c.kept += 1;
        }
        if progs >= 2 {
            m.emit(cpu, EventKind::Kprobe { probe: probe.into(), step: KprobeStep::PerfFuncFilter { func, progs, ret } });
        }
    }

    /// Models `stack_trace_save_regs(regs, …)` from a handler of `probe` on `cpu`; a return address that is the
    /// kretprobe trampoline is replaced by the real one (`kretprobe_find_ret_addr`, newest instance first).
    pub fn stack_trace_save_regs(&mut self, m: &mut dyn Machine, cpu: CpuId, probe: &str, regs: &PtRegs) -> Vec<u64> {
        let top = m.stack_top(cpu).0;
        let trampoline = self.kretprobes.trampoline.map(|t| t.0);
        let pending: Vec<u64> = self.current[cpu.0]
            .pid
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
    pub(crate) fn run_simple_actions(
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
                HandlerAction::TraceKprobe(t) => self.kprobe_trace_func(m, cpu, *t, regs, true),
                HandlerAction::StackTraceSaveRegs => {
                    self.stack_trace_save_regs(m, cpu, probe, regs);
                }
                HandlerAction::RunBpf(progs) => {
                    // kretprobe_perf_func: the programs' ANDed return value only filters the perf event.
                    let task = self.current_task_info(cpu);
                    let out = self.bpf.trace_call_bpf(m, cpu, &task, progs, regs);
                    self.perf_func_filter(m, cpu, probe, "kretprobe_perf_func", progs.len(), out.ret);
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

impl KernelCore {
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
        let pid = self.current[cpu.0].pid?;
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
}

fn name_of(k: &KernelCore, rp: usize) -> String {
    k.kretprobes.probes[rp].name.clone()
}
