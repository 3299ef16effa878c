//! The running half of kernel/trace/bpf_trace.c: `trace_call_bpf` with its per-CPU `bpf_prog_active` guard and
//! `bpf_prog_run_array` (include/linux/bpf.h), the AND of the programs' results.
//!
//! # Calling it from the kprobe path
//!
//! `kprobe_dispatcher` → `kprobe_perf_func` (kernel/trace/trace_kprobe.c) does, for a probe with BPF attached:
//!
//! ```text
//! let orig_ip = regs.ip();
//! let out = runtime.trace_call_bpf(m, cpu, &task, &progs, &mut regs);   // regs: the probe's pt_regs
//! if out.ip_changed { return 1; }          // bpf_override_return: the kprobe skips the single-step
//! if out.ret == 0 { return 0; }            // filtered: no perf sample
//! /* … then the perf event record, if any perf event is open (none in probesim), and return 0 */
//! ```
//!
//! # Version differences
//!
//! - 6.12: a nested call (`bpf_prog_active` already set on this CPU) counts a miss on every program of the array
//!   (`bpf_prog_inc_misses_counters`, shown as `recursion_misses` by bpftool). 5.10 has no such counter.
//! - 5.10 also returned 1 at once `if (in_nmi())`. On arm64 a kprobe's BRK handler is not NMI context, so that
//!   check never fires here; x86 int3 became NMI-like only later (0d00449c7a28), which is why it was removed in
//!   5.11. The model leaves it out for both ISAs.
//! - The trace line's flags column and `bpf_trace_printk`'s accepted formats ([`crate::bpf::printk`]).

use super::{BpfRunError, BpfRuntime, ProgId};
use crate::bpf::error::BpfError;
use crate::bpf::helpers::{value_addr, Env, Ext, GuestCall, TaskInfo, CTX_BASE};
use crate::bpf::maps::MapType;
use crate::bpf::memory::{Memory, RegionKind};
use crate::bpf::vm::{helper_error, resume, VmExit, VmState};
use crate::event::EventKind;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::ptrace::PtRegs;
use crate::errno::Errno;
use crate::CpuId;

/// What `trace_call_bpf` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceCallOutcome {
    /// Its return value: the AND of the programs' returns starting from 1 (0 when nested).
    pub ret: u32,
    /// A program changed the instruction pointer (`bpf_override_return`): `kprobe_perf_func` returns 1 and the
    /// kprobe skips the single-step.
    pub ip_changed: bool,
    /// `bpf_prog_active` was already set on this CPU: nothing ran.
    pub missed: bool,
    /// Programs that stopped with an error (each counted as returning 0).
    pub errors: Vec<BpfRunError>,
}

impl TraceCallOutcome {
    /// What `kprobe_perf_func` (and so `kprobe_dispatcher`, the pre-handler) returns for this outcome when no
    /// perf event is open: 1 if the ip changed, else 0.
    #[must_use]
    pub fn kprobe_perf_func_ret(&self) -> i32 {
        i32::from(self.ip_changed)
    }
}

/// What [`BpfRuntime::trace_call_bpf_resumable`] (or `_resume`) got to.
#[derive(Debug)]
pub enum TraceCallStep {
    /// `trace_call_bpf` returned.
    Done(TraceCallOutcome),
    /// A program's helper continues in guest code: run [`TraceCall::guest_call`] on the CPU, then resume.
    GuestCall(Box<TraceCall>),
}

/// A `trace_call_bpf` stopped inside a helper call that runs guest code: the programs' memory (stack, ctx), the
/// suspended program's VM state and the AND so far.
#[derive(Clone, Debug)]
pub struct TraceCall {
    progs: Vec<ProgId>,
    next: usize,
    ret: u32,
    orig_ip: u64,
    mem: Memory,
    ext: Vec<Ext>,
    out: TraceCallOutcome,
    running: Option<ProgRun>,
    guest_stack: Option<u64>,
}

impl TraceCall {
    /// The guest call the suspended helper waits for.
    #[must_use]
    pub fn guest_call(&self) -> Option<&GuestCall> {
        self.running.as_ref().and_then(|r| r.pending.as_ref())
    }
}

/// One program's run within a `trace_call_bpf`.
#[derive(Clone, Debug)]
struct ProgRun {
    id: ProgId,
    vm: VmState,
    helper_calls: u64,
    /// The guest call its helper is suspended in.
    pending: Option<GuestCall>,
}

impl BpfRuntime {
    /// `bpf_prog_active` of `cpu`.
    #[must_use]
    pub fn bpf_prog_active(&self, cpu: CpuId) -> u32 {
        self.prog_active.get(cpu.0).copied().unwrap_or(0)
    }

    /// `__this_cpu_inc(bpf_prog_active)` from outside a run: what a BPF program (or a `bpf_disable_instrumentation`
    /// section) still executing on `cpu` looks like to a probe that fires meanwhile.
    pub fn bpf_prog_active_inc(&mut self, cpu: CpuId) {
        if let Some(c) = self.prog_active.get_mut(cpu.0) {
            *c += 1;
        }
    }

    /// `__this_cpu_dec(bpf_prog_active)`.
    pub fn bpf_prog_active_dec(&mut self, cpu: CpuId) {
        if let Some(c) = self.prog_active.get_mut(cpu.0) {
            *c = c.saturating_sub(1);
        }
    }

    /// `trace_call_bpf(call, regs)` (kernel/trace/bpf_trace.c) for the programs attached to the probe (`progs`, the
    /// event's `prog_array` in order), on `cpu` with `task` current. `regs` is the probe's `struct pt_regs`; what a
    /// program changed through it (`bpf_override_return`) is written back.
    ///
    /// ```text
    /// if (__this_cpu_inc_return(bpf_prog_active) != 1) { misses++ (6.x); ret = 0; }
    /// else ret = bpf_prog_run_array(prog_array, ctx)      // ret = 1; for each prog: ret &= run(prog)
    /// __this_cpu_dec(bpf_prog_active);
    /// ```
    ///
    /// Emits `BpfMiss` for a nested call, `BpfRun` per program, `TracePrintk`/`BpfOutput` per output and
    /// `BpfFault` for a program that stopped with an error (counted as returning 0). Every helper is answered by the
    /// model; [`BpfRuntime::trace_call_bpf_resumable`] is the variant whose helpers may run guest code.
    pub fn trace_call_bpf(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        task: &TaskInfo,
        progs: &[ProgId],
        regs: &mut PtRegs,
    ) -> TraceCallOutcome {
        match self.trace_call_bpf_begin(m, cpu, task, progs, regs, None) {
            TraceCallStep::Done(out) => out,
            TraceCallStep::GuestCall(_) => unreachable!("helpers answer in the model when guest calls are off"),
        }
    }

    /// [`BpfRuntime::trace_call_bpf`] where a helper may continue in guest code (`bpf_probe_read_kernel` →
    /// `copy_from_kernel_nofault`): then it returns [`TraceCallStep::GuestCall`], the caller runs that call on
    /// `cpu` and continues with [`BpfRuntime::trace_call_bpf_resume`]. `bpf_prog_active` stays raised meanwhile,
    /// exactly as while the kernel's interpreter sits in the helper. `stack` is the top of the kernel stack the call
    /// may use (below the exception frame).
    pub fn trace_call_bpf_resumable(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        task: &TaskInfo,
        progs: &[ProgId],
        regs: &mut PtRegs,
        stack: u64,
    ) -> TraceCallStep {
        self.trace_call_bpf_begin(m, cpu, task, progs, regs, Some(stack))
    }

    /// Continues `call` after its guest call returned `ret` (the function's return register).
    pub fn trace_call_bpf_resume(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        task: &TaskInfo,
        mut call: Box<TraceCall>,
        ret: u64,
        regs: &mut PtRegs,
    ) -> TraceCallStep {
        let pending = call.running.as_mut().and_then(|r| r.pending.take().map(|g| (g, ret)));
        self.drive(m, cpu, task, call, regs, pending)
    }

    fn trace_call_bpf_begin(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        task: &TaskInfo,
        progs: &[ProgId],
        regs: &mut PtRegs,
        guest_stack: Option<u64>,
    ) -> TraceCallStep {
        let mut out = TraceCallOutcome { ret: 0, ip_changed: false, missed: false, errors: Vec::new() };
        self.bpf_prog_active_inc(cpu);
        if self.bpf_prog_active(cpu) != 1 {
            out.missed = true;
            let mut names = Vec::new();
            for id in progs {
                if let Some(p) = self.progs.iter_mut().find(|p| p.id == *id) {
                    // bpf_prog_inc_misses_counters(): 6.x only.
                    if self.profile != KernelProfile::V5_10 {
                        p.misses += 1;
                    }
                    names.push(p.name.clone());
                }
            }
            m.emit(cpu, EventKind::BpfMiss { progs: names });
            self.bpf_prog_active_dec(cpu);
            return TraceCallStep::Done(out);
        }
        let mut mem = Memory::new();
        if let Err(e) = mem.map_owned_at(CTX_BASE, RegionKind::Ctx, regs.to_bytes(), false) {
            // Cannot happen with the fixed layout; report it on the first program.
            if let Some(p) = progs.first().and_then(|id| self.prog(*id)) {
                out.errors.push(BpfRunError { prog: p.name.clone(), id: p.id, error: e });
            }
            self.bpf_prog_active_dec(cpu);
            return TraceCallStep::Done(out);
        }
        let mut ext = Vec::new();
        self.map_global_data(&mut mem, &mut ext);
        let call = Box::new(TraceCall {
            progs: progs.to_vec(),
            next: 0,
            ret: 1,
            orig_ip: regs.ip(),
            mem,
            ext,
            out,
            running: None,
            guest_stack,
        });
        self.drive(m, cpu, task, call, regs, None)
    }

    /// `bpf_prog_run_array` from where `call` stands: runs (or resumes) programs until one suspends or all ran,
    /// then the tail of `trace_call_bpf`.
    fn drive(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        task: &TaskInfo,
        mut call: Box<TraceCall>,
        regs: &mut PtRegs,
        mut resumed: Option<(GuestCall, u64)>,
    ) -> TraceCallStep {
        loop {
            let mut run = match call.running.take() {
                Some(r) => r,
                None => {
                    let Some(&id) = call.progs.get(call.next) else { break };
                    call.next += 1;
                    ProgRun { id, vm: VmState::new(&[CTX_BASE]), helper_calls: 0, pending: None }
                }
            };
            let TraceCall { mem, ext, guest_stack, .. } = &mut *call;
            match self.run_segment(m, cpu, task, &mut run, mem, regs, ext, *guest_stack, resumed.take()) {
                Ok(Some(r0)) => call.ret &= r0 as u32,
                Ok(None) => {
                    call.running = Some(run);
                    return TraceCallStep::GuestCall(call);
                }
                Err(e) => {
                    m.emit(cpu, EventKind::BpfFault { prog: e.prog.clone(), error: e.error.clone() });
                    call.out.errors.push(e);
                    call.ret = 0;
                }
            }
        }
        if let Some(b) = call.mem.find_region(RegionKind::Ctx).and_then(|r| r.data()) {
            regs.update_from_bytes(b);
        }
        self.bpf_prog_active_dec(cpu);
        let TraceCall { mut out, ret, orig_ip, .. } = *call;
        out.ret = ret;
        out.ip_changed = regs.ip() != orig_ip;
        TraceCallStep::Done(out)
    }

    /// Runs one program with `regs` as its ctx, outside `trace_call_bpf` (no `bpf_prog_active` guard, no AND):
    /// returns `r0` or the error. `regs` gets what the program changed. Helpers answer in the model.
    pub fn run_prog(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        task: &TaskInfo,
        id: ProgId,
        regs: &mut PtRegs,
    ) -> Result<u64, BpfRunError> {
        let mut mem = Memory::new();
        let mut ext = Vec::new();
        let unknown = |e| BpfRunError { prog: format!("#{}", id.0), id, error: e };
        mem.map_owned_at(CTX_BASE, RegionKind::Ctx, regs.to_bytes(), false).map_err(unknown)?;
        self.map_global_data(&mut mem, &mut ext);
        let mut run = ProgRun { id, vm: VmState::new(&[CTX_BASE]), helper_calls: 0, pending: None };
        let r = self.run_segment(m, cpu, task, &mut run, &mut mem, regs, &mut ext, None, None);
        if let Some(b) = mem.find_region(RegionKind::Ctx).and_then(|r| r.data()) {
            regs.update_from_bytes(b);
        }
        r.map(|r0| r0.expect("helpers answer in the model when guest calls are off"))
    }

    /// Global-data maps are reachable through `lddw … map_value` constants: map their value at its fixed address.
    fn map_global_data(&self, mem: &mut Memory, ext: &mut Vec<Ext>) {
        for (idx, map) in self.maps.iter().enumerate() {
            if map.def.map_type == MapType::Array && map.def.max_entries == 1 && map.def.flags & 0x400 != 0 {
                let addr = value_addr(idx, 0, map.def.value_size);
                let handle = ext.len() as u64;
                ext.push(Ext::Value { idx, slot: 0 });
                let kind = RegionKind::MapValue { map: map.id, index: 0 };
                let writable = map.def.flags & 0x80 == 0;
                // The fixed layout cannot overlap.
                let _ = mem.map_external_at(addr, kind, handle, u64::from(map.def.value_size), writable);
            }
        }
    }

    /// Runs `run` from where it stands — first completing the helper call it was suspended in with the guest
    /// function's return value (`resumed`) — until it exits (`Some(r0)`), suspends in another helper call (`None`,
    /// with `run.pending` set and a `Call` event naming the chain), or fails.
    #[allow(clippy::too_many_arguments)]
    fn run_segment(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        task: &TaskInfo,
        run: &mut ProgRun,
        mem: &mut Memory,
        regs: &PtRegs,
        ext: &mut Vec<Ext>,
        guest_stack: Option<u64>,
        resumed: Option<(GuestCall, u64)>,
    ) -> Result<Option<u64>, BpfRunError> {
        let id = run.id;
        let Some(pi) = self.progs.iter().position(|p| p.id == id) else {
            return Err(BpfRunError { prog: format!("#{}", id.0), id, error: BpfError::NoSuchProgram { id: id.0 } });
        };
        let BpfRuntime { profile, isa, maps, progs, trace, perf, rnd, budget, ticks_per_insn, trace_flags, .. } = self;
        let prog = &mut progs[pi];
        let rnd_last = rnd.len() - 1;
        if run.vm.executed() == 0 {
            prog.run_cnt += 1;
        }
        let mut env = Env {
            m,
            cpu,
            task,
            profile: *profile,
            isa: *isa,
            flags: *trace_flags,
            maps,
            trace,
            perf,
            ctx_base: CTX_BASE,
            regs_isa: regs,
            ext: std::mem::take(ext),
            helper_calls: run.helper_calls,
            guest_stack,
            guest_call: None,
            rnd: &mut rnd[cpu.0.min(rnd_last)],
        };
        let res = match resumed {
            Some((call, ret)) => env
                .finish_guest_call(mem, &call, ret)
                .map(|r0| run.vm.complete_call(r0))
                .map_err(|e| helper_error(e, run.vm.call_pc(), u64::from(call.helper_id))),
            None => Ok(()),
        }
        .and_then(|()| resume(&prog.program, mem, &mut env, &mut run.vm, *budget));
        run.helper_calls = env.helper_calls;
        run.pending = env.guest_call.take();
        *ext = std::mem::take(&mut env.ext);
        drop(env);
        match res {
            Ok(VmExit::Exit(exit)) => {
                m.charge(cpu, exit.insns.saturating_mul(*ticks_per_insn));
                m.emit(
                    cpu,
                    EventKind::BpfRun {
                        prog: prog.name.clone(),
                        id: prog.id.0,
                        ret: exit.r0,
                        insns: exit.insns,
                        helper_calls: run.helper_calls,
                    },
                );
                Ok(Some(exit.r0))
            }
            Ok(VmExit::Suspended) => {
                let call = run.pending.as_ref().expect("a helper suspends only with a guest call");
                let frames = ["trace_call_bpf", "bpf_prog_run_array", "___bpf_prog_run", call.helper, call.func_name];
                m.emit(cpu, EventKind::Call { frames: frames.map(String::from).to_vec() });
                Ok(None)
            }
            Err(error) => Err(BpfRunError { prog: prog.name.clone(), id: prog.id, error }),
        }
    }
}

/// `BPF_TRACE_MAX_PROGS` (kernel/trace/bpf_trace.c, 5.10 and 6.12): the most programs one event's `prog_array`
/// holds.
pub const BPF_TRACE_MAX_PROGS: usize = 64;

/// `perf_event_attach_bpf_prog` (kernel/trace/bpf_trace.c) for a new perf event of the trace event whose
/// `prog_array` is `array`: `-E2BIG` if it holds `BPF_TRACE_MAX_PROGS` already; `bpf_prog_array_copy` refuses a
/// program it holds (`-EEXIST`) and appends the new one, so programs run in attach order. Returns the array's
/// length after it. (The new perf event has no program yet, so its own `-EEXIST` check cannot fire here; the
/// `kprobe_override` check is not modelled.)
pub fn perf_event_attach_bpf_prog(array: &mut Vec<ProgId>, prog: ProgId) -> Result<usize, Errno> {
    if array.len() >= BPF_TRACE_MAX_PROGS {
        return Err(Errno::E2BIG);
    }
    if array.contains(&prog) {
        return Err(Errno::EEXIST);
    }
    array.push(prog);
    Ok(array.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prog_array_appends_and_refuses_as_bpf_prog_array_copy() {
        let mut a = vec![ProgId(1)];
        assert_eq!(perf_event_attach_bpf_prog(&mut a, ProgId(2)), Ok(2));
        assert_eq!(a, [ProgId(1), ProgId(2)]);
        assert_eq!(perf_event_attach_bpf_prog(&mut a, ProgId(1)), Err(Errno::EEXIST));
        let mut full: Vec<ProgId> = (1..=64).map(ProgId).collect();
        assert_eq!(perf_event_attach_bpf_prog(&mut full, ProgId(65)), Err(Errno::E2BIG));
        assert_eq!(full.len(), BPF_TRACE_MAX_PROGS);
    }
}
