//! Building a [`Timeline`] from the event log: one pass over the typed events, per-CPU open spans, flows from a
//! breakpoint's writer to its hits.

use super::*;
use kernel_model::event::{CpuStopStep, HitStep, KprobeStep, PatchCbRole, SyncReason, Trap};
use kernel_model::stop_machine::MultiStopState;

/// An open span while building.
#[derive(Clone, Debug)]
struct Open {
    begin: EventRef,
    label: String,
    category: Category,
}

/// The per-CPU state of kprobe handling (a stack: handlers can hit probes again).
#[derive(Clone, Debug)]
struct CpuState {
    task: Option<(u32, Open)>,
    register: BTreeMap<String, Open>,
    stopper: Option<Open>,
    state: Option<Open>,
    pending_state: Option<MultiStopState>,
    /// The callback span, its role (`master`/`waiter`) once known, and whether the master wrote.
    callback: Option<(Open, Option<PatchCbRole>, bool)>,
    kprobe: Vec<Open>,
    calls: Vec<Open>,
    /// Kretprobed calls in flight, innermost last.
    kretprobe: Vec<Open>,
    /// The vtime of this CPU's previous event (where a BPF run's span starts).
    last: Option<EventRef>,
}

impl CpuState {
    fn new() -> CpuState {
        CpuState {
            task: None,
            register: BTreeMap::new(),
            stopper: None,
            state: None,
            pending_state: None,
            callback: None,
            kprobe: Vec::new(),
            calls: Vec::new(),
            kretprobe: Vec::new(),
            last: None,
        }
    }
}

/// A breakpoint written to text, waiting for hits.
#[derive(Clone, Debug)]
struct BrkWrite {
    cpu: usize,
    event: EventRef,
    what: String,
    hit: BTreeSet<usize>,
}

struct Builder<'a> {
    syms: &'a Kallsyms,
    lanes: Vec<Lane>,
    cpu: Vec<CpuState>,
    windows: Vec<Window>,
    open_window: Option<(Window, BTreeSet<usize>)>,
    markers: Vec<Marker>,
    flows: Vec<Flow>,
    counters: Vec<CounterSample>,
    brks: BTreeMap<(u64, bool), BrkWrite>,
    pids: BTreeMap<u32, String>,
    nhit: u64,
    nmissed: u64,
}

/// The arm64 `BRK #imm` encoding: `0xd4200000 | imm16 << 5`.
fn arm64_brk_imm(word: u32) -> Option<u32> {
    (word & 0xffe0_001f == 0xd420_0000).then_some((word >> 5) & 0xffff)
}

impl<'a> Builder<'a> {
    fn lane_mut(&mut self, cpu: usize) -> &mut Lane {
        while self.lanes.len() <= cpu {
            let n = self.lanes.len();
            self.lanes.push(Lane {
                cpu: n,
                name: format!("CPU{n}"),
                tasks: Vec::new(),
                spans: Vec::new(),
                instants: Vec::new(),
                max_depth: 0,
            });
            self.cpu.push(CpuState::new());
        }
        &mut self.lanes[cpu]
    }

    fn note_task(&mut self, cpu: usize, name: String) {
        let lane = self.lane_mut(cpu);
        if !lane.tasks.contains(&name) {
            lane.tasks.push(name);
        }
    }

    fn finish(&mut self, cpu: usize, open: Open, end: Option<&EventRef>, at: u64, note: Option<String>) {
        let start = open.begin.vtime;
        self.lane_mut(cpu).spans.push(Span {
            cpu,
            start,
            end: at.max(start),
            label: open.label,
            category: open.category,
            depth: 0,
            begin: open.begin,
            finish: end.cloned(),
            note,
        });
    }

    fn instant(&mut self, cpu: usize, kind: &'static str, label: String, ev: &EventRef) {
        self.lane_mut(cpu).instants.push(Instant { cpu, vtime: ev.vtime, kind, label, event: ev.clone() });
    }

    /// Pops the innermost open kprobe span of one of `cats`, closing whatever is open above it.
    fn pop_kprobe(&mut self, cpu: usize, cats: &[Category], ev: &EventRef) -> Option<Open> {
        let st = &mut self.cpu[cpu].kprobe;
        let idx = st.iter().rposition(|o| cats.contains(&o.category))?;
        let above: Vec<Open> = st.drain(idx + 1..).collect();
        let found = st.pop();
        for o in above.into_iter().rev() {
            self.finish(cpu, o, Some(ev), ev.vtime, Some("closed early: its step never finished".into()));
        }
        found
    }

    fn set_state(&mut self, cpu: usize, ev: &EventRef, inferred: Option<MultiStopState>) {
        let next = self.cpu[cpu].pending_state.take().or(inferred);
        let Some(next) = next.map(|s| s.name().to_string()) else { return };
        if let Some(old) = self.cpu[cpu].state.take() {
            self.finish(cpu, old, Some(ev), ev.vtime, None);
        }
        self.cpu[cpu].state = Some(Open { begin: ev.clone(), label: next, category: Category::StopState });
    }

    fn counter(&mut self, ev: &EventRef) {
        self.counters.push(CounterSample { vtime: ev.vtime, seq: ev.seq, nhit: self.nhit, nmissed: self.nmissed });
    }

    fn event(&mut self, e: &Event) {
        let cpu = e.cpu.0;
        let ev = EventRef::new(e, self.syms);
        self.lane_mut(cpu);
        let prev = self.cpu[cpu].last.replace(ev.clone());
        match &e.kind {
            EventKind::BpfRun { prog, insns, .. } => {
                self.instant(cpu, "bpf_run", format!("{prog}: {insns} insns"), &ev);
                let begin = prev.unwrap_or_else(|| ev.clone());
                let open = Open { begin, label: format!("bpf: {prog} ({insns} insns)"), category: Category::Bpf };
                self.finish(cpu, open, Some(&ev), ev.vtime, None);
            }
            EventKind::TaskCall { pid, comm, func, iteration, .. } => {
                if let Some((_, open)) = self.cpu[cpu].task.take() {
                    self.finish(cpu, open, Some(&ev), ev.vtime, Some("closed early: a new call started".into()));
                }
                self.pids.insert(*pid, comm.clone());
                self.note_task(cpu, format!("{comm}-{pid}"));
                let label = format!("{comm}-{pid} {func} #{iteration}");
                self.cpu[cpu].task = Some((*pid, Open { begin: ev, label, category: Category::Task }));
            }
            EventKind::TaskReturn { pid, .. } => {
                // Kprobe handling never outlives the call it interrupted: anything still open lost its end event.
                let st = &mut self.cpu[cpu];
                let mut open: Vec<Open> = st.kprobe.drain(..).collect();
                open.append(&mut st.calls);
                for o in open.into_iter().rev() {
                    self.finish(
                        cpu,
                        o,
                        Some(&ev),
                        ev.vtime,
                        Some("closed at the task's return: its end is not in the log".into()),
                    );
                }
                if self.cpu[cpu].task.as_ref().is_some_and(|(p, _)| p == pid) {
                    let (_, open) = self.cpu[cpu].task.take().expect("checked");
                    self.finish(cpu, open, Some(&ev), ev.vtime, None);
                }
            }
            EventKind::TaskExit { pid } => {
                if self.cpu[cpu].task.as_ref().is_some_and(|(p, _)| p == pid) {
                    let (_, open) = self.cpu[cpu].task.take().expect("checked");
                    self.finish(cpu, open, Some(&ev), ev.vtime, Some("the task was killed before returning".into()));
                }
                let comm = self.pids.get(pid).cloned().unwrap_or_default();
                self.instant(cpu, "exit", format!("{comm}-{pid} exits"), &ev);
            }
            EventKind::Trap { trap } => self.trap(cpu, e.pc, trap, &ev),
            EventKind::Oops { .. } => {
                // The kernel dies on this CPU: whatever kprobe handling was open ends here.
                let st = &mut self.cpu[cpu];
                let mut open: Vec<Open> = st.kprobe.drain(..).collect();
                open.append(&mut st.calls);
                for o in open.into_iter().rev() {
                    self.finish(cpu, o, Some(&ev), ev.vtime, Some("ended by an oops".into()));
                }
                self.instant(cpu, kind::OOPS, "oops".into(), &ev);
            }
            EventKind::TextWrite { addr, new, old, .. } => {
                let label =
                    format!("text_write {}: {} -> {}", self.syms.format_short(*addr), old.render(), new.render());
                self.instant(cpu, kind::TEXT_WRITE, label, &ev);
                let len = (new.0.len() as u64).max(1);
                let stale: Vec<(u64, bool)> =
                    self.brks.range((addr.0, false)..(addr.0.saturating_add(len), false)).map(|(k, _)| *k).collect();
                for k in stale {
                    self.brks.remove(&k);
                }
                let brk = |what: String| BrkWrite { cpu, event: ev.clone(), what, hit: BTreeSet::new() };
                // arm64: any BRK word. x86: any 0xcc byte (a trap only matches one that executed as int3).
                if !new.0.is_empty() && new.0.len() % 4 == 0 {
                    for (i, c) in new.0.chunks(4).enumerate() {
                        if let Some(imm) = arm64_brk_imm(u32::from_le_bytes([c[0], c[1], c[2], c[3]])) {
                            self.brks.insert((addr.0 + 4 * i as u64, false), brk(format!("BRK #{imm:#x}")));
                        }
                    }
                }
                for (i, b) in new.0.iter().enumerate() {
                    if *b == 0xcc {
                        self.brks.insert((addr.0 + i as u64, true), brk("int3".into()));
                    }
                }
            }
            EventKind::IcacheSync { why, .. } => {
                self.instant(cpu, kind::ICACHE_SYNC, format!("icache_sync ({why})"), &ev);
                let waiting =
                    self.cpu[cpu].callback.as_ref().is_some_and(|(_, role, _)| *role != Some(PatchCbRole::Master));
                if *why == SyncReason::Isb && waiting {
                    self.end_callback(cpu, &ev, None);
                }
            }
            EventKind::CacheMaintenance { .. } => {
                self.instant(cpu, kind::CACHE_MAINT, "flush_icache_range".into(), &ev);
            }
            EventKind::Call { frames } => {
                let inner = frames.last().cloned().unwrap_or_default();
                self.instant(cpu, kind::KCALL, format!("-> {inner}"), &ev);
            }
            EventKind::StopMachineState { state } => {
                self.markers.push(Marker {
                    vtime: ev.vtime,
                    kind: "stop_state",
                    label: state.name().to_string(),
                    event: ev.clone(),
                });
                for c in 0..self.cpu.len() {
                    let st = &mut self.cpu[c];
                    if st.stopper.is_some() && st.state.as_ref().is_none_or(|s| s.label != state.name()) {
                        st.pending_state = Some(*state);
                    }
                }
            }
            EventKind::Stopper { step } => self.stopper(cpu, step, &ev),
            EventKind::PatchCb { role, .. } => {
                self.instant(cpu, "patch_cb", format!("patch_cb: {role}"), &ev);
                let is_master = self.cpu[cpu].callback.as_ref().map(|(_, r, _)| *r == Some(PatchCbRole::Master));
                match (role, is_master) {
                    (PatchCbRole::Master | PatchCbRole::Waiter, Some(_)) => {
                        if let Some((_, r, _)) = self.cpu[cpu].callback.as_mut() {
                            *r = Some(*role);
                        }
                    }
                    // The master releases the waiters (a waiter's wait ends at its isb: see IcacheSync).
                    (PatchCbRole::Release, Some(true)) => self.end_callback(cpu, &ev, None),
                    _ => {}
                }
            }
            EventKind::InsnPatch { text_addrs, new_insns, .. } => {
                if let Some((_, _, wrote)) = self.cpu[cpu].callback.as_mut() {
                    *wrote = true;
                }
                self.instant(cpu, kind::INSN_PATCH, "__aarch64_insn_write".into(), &ev);
                let addrs: Vec<String> = text_addrs.iter().map(|a| self.syms.format_short(*a)).collect();
                let insns: Vec<String> = new_insns.iter().map(|i| format!("{i:08x}")).collect();
                let line = format!("text_addrs=[{}] new_insns=[{}]", addrs.join(", "), insns.join(", "));
                if let Some((w, _)) = self.open_window.as_mut() {
                    if !w.patches.contains(&line) {
                        w.patches.push(line);
                    }
                }
            }
            EventKind::Kprobe { probe, step } => self.kprobe(cpu, probe, step, &ev),
            EventKind::KprobeHit { probe, step, .. } => self.kprobe_hit(cpu, probe, step, &ev),
            EventKind::BudgetExhausted { .. } => {
                self.markers.push(Marker {
                    vtime: ev.vtime,
                    kind: "budget",
                    label: "budget exhausted".into(),
                    event: ev,
                });
            }
            other => {
                // Kinds the timeline does not interpret (registers, skipped syncs, later additions): a plain tick.
                let name = other.name();
                self.instant(cpu, name, name.to_string(), &ev);
            }
        }
    }

    fn trap(&mut self, cpu: usize, pc: KernelVa, trap: &Trap, ev: &EventRef) {
        let (is_bp, int3) = match trap {
            Trap::Brk { .. } => (true, false),
            Trap::Int3 => (true, true),
            _ => (false, false),
        };
        if !is_bp {
            self.instant(cpu, kind::TRAP, trap.to_string(), ev);
            return;
        }
        self.instant(cpu, kind::BRK_HIT, trap.to_string(), ev);
        // The written breakpoint this trap is at: arm64 reports the BRK's own address; x86 may report the byte after.
        let candidates: &[u64] = if int3 { &[pc.0.wrapping_sub(1), pc.0] } else { &[pc.0] };
        let Some(addr) = candidates.iter().copied().find(|a| self.brks.contains_key(&(*a, int3))) else {
            return;
        };
        let b = self.brks.get_mut(&(addr, int3)).expect("found above");
        if b.cpu == cpu || !b.hit.insert(cpu) {
            return;
        }
        let label = format!("{} written by CPU{} -> hit on CPU{cpu}", b.what, b.cpu);
        let flow = Flow {
            id: self.flows.len(),
            from_cpu: b.cpu,
            from: b.event.clone(),
            to_cpu: cpu,
            to: ev.clone(),
            addr,
            label,
        };
        self.flows.push(flow);
    }

    fn end_callback(&mut self, cpu: usize, ev: &EventRef, note: Option<String>) {
        let Some((mut open, role, wrote)) = self.cpu[cpu].callback.take() else { return };
        let func = open.label.clone();
        match role {
            Some(PatchCbRole::Master) => {
                open.category = Category::PatchMaster;
                open.label = if wrote { "master: __aarch64_insn_write".into() } else { format!("master: {func}") };
            }
            Some(PatchCbRole::Waiter) => {
                open.category = Category::PatchWaiter;
                open.label = format!("spinning in {func}");
            }
            _ => {}
        }
        self.finish(cpu, open, Some(ev), ev.vtime, note);
    }

    fn stopper(&mut self, cpu: usize, step: &CpuStopStep, ev: &EventRef) {
        if let CpuStopStep::CpuStopperThread { stopper } = step {
            let thread = format!("migration/{stopper}");
            self.note_task(cpu, thread.clone());
            if let Some(old) = self.cpu[cpu].stopper.take() {
                self.finish(cpu, old, Some(ev), ev.vtime, Some("closed early: the stopper started again".into()));
            }
            self.cpu[cpu].stopper = Some(Open {
                begin: ev.clone(),
                label: format!("{thread}: multi_cpu_stop"),
                category: Category::Stopper,
            });
            self.cpu[cpu].pending_state = None;
            self.cpu[cpu].state =
                Some(Open { begin: ev.clone(), label: MultiStopState::Prepare.name().into(), category: Category::StopState });
            match self.open_window.as_mut() {
                Some((_, active)) => {
                    active.insert(cpu);
                }
                None => {
                    let index = self.windows.len() + 1;
                    let w = Window {
                        index,
                        start: ev.vtime,
                        end: ev.vtime,
                        label: format!("stop_machine #{index}"),
                        begin: ev.clone(),
                        finish: None,
                        patches: Vec::new(),
                    };
                    self.open_window = Some((w, BTreeSet::from([cpu])));
                }
            }
        } else if *step == CpuStopStep::LocalIrqDisable {
            self.instant(cpu, "stopper", step.to_string(), ev);
            self.set_state(cpu, ev, Some(MultiStopState::DisableIrq));
        } else if let CpuStopStep::RunFn { func } = step {
            self.instant(cpu, "stopper", step.to_string(), ev);
            self.set_state(cpu, ev, Some(MultiStopState::Run));
            if let Some((w, _)) = self.open_window.as_mut() {
                w.label = format!("stop_machine #{}: {func}", w.index);
            }
            self.end_callback(cpu, ev, Some("closed early: the callback started again".into()));
            self.cpu[cpu].callback = Some((
                Open { begin: ev.clone(), label: func.to_string(), category: Category::PatchCallback },
                None,
                false,
            ));
        } else if *step == CpuStopStep::MultiCpuStopReturns {
            self.cpu[cpu].pending_state = None;
            self.end_callback(cpu, ev, Some("the callback's end is not in the log".into()));
            if let Some(s) = self.cpu[cpu].state.take() {
                self.finish(cpu, s, Some(ev), ev.vtime, None);
            }
            if let Some(s) = self.cpu[cpu].stopper.take() {
                self.finish(cpu, s, Some(ev), ev.vtime, None);
            }
            let done = match self.open_window.as_mut() {
                Some((_, active)) => {
                    active.remove(&cpu);
                    active.is_empty()
                }
                None => false,
            };
            if done {
                let (mut w, _) = self.open_window.take().expect("checked");
                w.end = ev.vtime;
                w.finish = Some(ev.clone());
                self.windows.push(w);
            }
        } else {
            self.instant(cpu, "stopper", step.to_string(), ev);
        }
    }

    fn kprobe(&mut self, cpu: usize, probe: &str, step: &KprobeStep, ev: &EventRef) {
        let registration_step = matches!(
            step,
            KprobeStep::ArchPrepareSimulate { .. }
                | KprobeStep::ArchPrepareSsSlot { .. }
                | KprobeStep::ArchPrepareKprobe { .. }
                | KprobeStep::JoinsAggr { .. }
        );
        let returned =
            matches!(step, KprobeStep::RegisterKprobeReturned { .. } | KprobeStep::RegisterKretprobeReturned { .. });
        if registration_step && !self.cpu[cpu].register.contains_key(probe) {
            let open =
                Open { begin: ev.clone(), label: format!("register_kprobe({probe})"), category: Category::Register };
            self.cpu[cpu].register.insert(probe.to_string(), open);
        } else if returned {
            if let Some(open) = self.cpu[cpu].register.remove(probe) {
                self.finish(cpu, open, Some(ev), ev.vtime, None);
            }
        } else if let KprobeStep::ArchPrepareKretprobe { .. } = step {
            let open = Open { begin: ev.clone(), label: format!("kretprobe: {probe}"), category: Category::Kretprobe };
            self.cpu[cpu].kretprobe.push(open);
        } else if let KprobeStep::KretprobeTrampolineHandler { .. } = step {
            if let Some(open) = self.cpu[cpu].kretprobe.pop() {
                self.finish(cpu, open, Some(ev), ev.vtime, None);
            }
        } else if let KprobeStep::HandlerCalls { func } = step {
            let open = Open {
                begin: ev.clone(),
                label: format!("{probe} handler calls {func}"),
                category: Category::HandlerCall,
            };
            self.cpu[cpu].calls.push(open);
            return;
        } else if let KprobeStep::HandlerCallReturned { .. } = step {
            if let Some(open) = self.cpu[cpu].calls.pop() {
                self.finish(cpu, open, Some(ev), ev.vtime, None);
            }
            return;
        }
        let label = if probe.is_empty() { step.to_string() } else { format!("{probe}: {step}") };
        self.instant(cpu, "kprobe", label, ev);
    }

    /// The kprobe hit path, arm64 (`kprobe_breakpoint_handler` … `kprobe_breakpoint_ss_handler` →
    /// `post_kprobe_handler`) and x86 (`kprobe_int3_handler` … `resume_singlestep` / `kprobe_debug_handler` →
    /// `kprobe_post_process`), as a stack per CPU since handlers can hit probes again.
    fn kprobe_hit(&mut self, cpu: usize, probe: &str, step: &HitStep, ev: &EventRef) {
        use Category::{Handler, Missed, PostHandler, SingleStep};
        let post = |this: &mut Self, name: &str| {
            let open = Open { begin: ev.clone(), label: format!("{name}: {probe}"), category: PostHandler };
            this.cpu[cpu].kprobe.push(open);
        };
        let close = |this: &mut Self, cats: &[Category]| {
            if let Some(o) = this.pop_kprobe(cpu, cats, ev) {
                // A post-processing step with nothing to run takes no time: no span.
                if o.category != PostHandler || o.begin.vtime < ev.vtime {
                    this.finish(cpu, o, Some(ev), ev.vtime, None);
                }
            }
        };
        match step {
            HitStep::KprobeBreakpointHandler | HitStep::KprobeInt3Handler => {
                self.nhit += 1;
                self.counter(ev);
                let open = Open { begin: ev.clone(), label: format!("{step}: {probe}"), category: Handler };
                self.cpu[cpu].kprobe.push(open);
            }
            HitStep::ReenterMissed { .. } => {
                self.nmissed += 1;
                self.counter(ev);
                self.instant(cpu, kind::KPROBE_MISS, format!("{probe}: reenter_kprobe (missed)"), ev);
                let open =
                    Open { begin: ev.clone(), label: format!("reenter_kprobe (missed): {probe}"), category: Missed };
                self.cpu[cpu].kprobe.push(open);
            }
            HitStep::SetupSinglestepBoosted { .. } => {
                // The boosted copy jumps back by itself: no trap ends the step.
                close(self, &[Handler, Missed]);
                self.instant(cpu, "kprobe_hit", format!("{probe}: {step}"), ev);
            }
            HitStep::SetupSinglestepXol { .. } | HitStep::SetupSinglestepTf { .. } | HitStep::SetupSinglestepInt3 { .. } => {
                close(self, &[Handler, Missed]);
                let label =
                    if matches!(step, HitStep::SetupSinglestepTf { .. }) { "single-step (TF)" } else { "single-step (XOL)" };
                let open = Open { begin: ev.clone(), label: format!("{label}: {probe}"), category: SingleStep };
                self.cpu[cpu].kprobe.push(open);
            }
            HitStep::Simulate { .. } | HitStep::Emulate { .. } => {
                close(self, &[Handler, Missed]);
                self.instant(cpu, "simulate", format!("{probe}: {step}"), ev);
                let tail = if matches!(step, HitStep::Simulate { .. }) { "post_kprobe_handler" } else { "kprobe_post_process" };
                post(self, tail);
            }
            HitStep::KprobeBreakpointSsHandler => {
                close(self, &[SingleStep]);
                post(self, "post_kprobe_handler");
            }
            HitStep::ResumeSinglestep | HitStep::KprobeDebugHandler => {
                close(self, &[SingleStep]);
                post(self, "kprobe_post_process");
            }
            HitStep::PostKprobeHandlerRestore
            | HitStep::PostKprobeHandlerDone
            | HitStep::KprobePostProcessDone
            | HitStep::RestorePreviousKprobe
            | HitStep::PostHandlerDone => close(self, &[PostHandler, Handler]),
            HitStep::PreHandlerSkipSinglestep { .. } => {
                close(self, &[Handler]);
                self.instant(cpu, "kprobe_hit", format!("{probe}: {step}"), ev);
            }
            HitStep::NoKprobeBackToInsn => self.instant(cpu, "kprobe_hit", format!("{probe}: {step}"), ev),
        }
    }

    /// Closes everything still open at the end of the log.
    fn close_all(&mut self, end: u64) {
        const NOTE: &str = "still open at the end of the log";
        for cpu in 0..self.cpu.len() {
            let st = std::mem::replace(&mut self.cpu[cpu], CpuState::new());
            let mut open: Vec<Open> = Vec::new();
            open.extend(st.task.map(|(_, o)| o));
            open.extend(st.register.into_values());
            open.extend(st.stopper);
            open.extend(st.state);
            open.extend(st.callback.map(|(o, _, _)| o));
            open.extend(st.kprobe);
            open.extend(st.calls);
            open.extend(st.kretprobe);
            for o in open {
                self.finish(cpu, o, None, end, Some(NOTE.into()));
            }
        }
        if let Some((mut w, _)) = self.open_window.take() {
            w.end = end;
            self.windows.push(w);
        }
    }
}

/// Sorts a lane's spans, makes them properly nested (a span crossing its enclosing span's end is clipped to it,
/// with a note) and assigns depths.
fn nest(lane: &mut Lane) {
    // Zero-length spans first among those starting together, so they end up siblings rather than children.
    lane.spans.sort_by_key(|s| (s.start, s.end != s.start, std::cmp::Reverse(s.end), s.begin.seq));
    let mut stack: Vec<u64> = Vec::new();
    let mut max_depth = 0;
    for s in &mut lane.spans {
        while stack.last().is_some_and(|&end| end <= s.start) {
            stack.pop();
        }
        if let Some(&parent_end) = stack.last() {
            if s.end > parent_end {
                s.end = parent_end;
                let note = "clipped to the span that encloses it";
                s.note = Some(match s.note.take() {
                    Some(n) => format!("{n}; {note}"),
                    None => note.to_string(),
                });
            }
        }
        s.depth = stack.len();
        max_depth = max_depth.max(s.depth);
        stack.push(s.end);
    }
    lane.max_depth = max_depth;
}

/// Builds the timeline of `log` (see [`Timeline::build`]).
#[must_use]
pub fn build(log: &EventLog, syms: &Kallsyms, cpus: usize) -> Timeline {
    let events = log.events();
    let start = events.first().map_or(0, |e| e.vtime.0);
    let end = events.iter().map(|e| e.vtime.0).max().unwrap_or(start);
    let mut b = Builder {
        syms,
        lanes: Vec::new(),
        cpu: Vec::new(),
        windows: Vec::new(),
        open_window: None,
        markers: Vec::new(),
        flows: Vec::new(),
        counters: vec![CounterSample { vtime: start, seq: 0, nhit: 0, nmissed: 0 }],
        brks: BTreeMap::new(),
        pids: BTreeMap::new(),
        nhit: 0,
        nmissed: 0,
    };
    if cpus > 0 {
        b.lane_mut(cpus - 1);
    }
    for e in events {
        b.event(e);
    }
    b.close_all(end);
    let mut lanes = b.lanes;
    for lane in &mut lanes {
        nest(lane);
        lane.instants.sort_by_key(|i| (i.vtime, i.event.seq));
    }
    Timeline {
        cpus: lanes.len(),
        start,
        end,
        events: events.len(),
        lanes,
        windows: b.windows,
        markers: b.markers,
        flows: b.flows,
        counters: b.counters,
        text_poke_fn: "text write",
    }
}

#[cfg(test)]
mod tests;
