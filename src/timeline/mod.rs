//! The multi-CPU timeline: one lane per CPU made of spans (a task's call, the stopper thread and its
//! `multi_stop_state`s, the patch callback, kprobe handling) and instants (the master's write, BRK hits, cache
//! maintenance), plus flows from the CPU that wrote a breakpoint to the CPUs that hit it, and cumulative kprobe
//! counters. Built from the event log alone, deterministically; [`html`], [`perfetto`] and [`terminal`] render
//! the same [`Timeline`] three ways (see `docs/timeline.md`).
//!
//! Times are virtual ticks (`vtime`): 1 tick = 1 ns on the kernel's clock.

pub mod html;
pub mod perfetto;
pub mod terminal;

pub use html::render_html;
pub use perfetto::render_perfetto;
pub use terminal::render_terminal;

use kernel_model::event::{CpuStopStep, EventKind, HitStep, KprobeStep, PatchCbRole, SyncReason, Trap};
use kernel_model::stop_machine::MultiStopState;
use kernel_model::kallsyms::Kallsyms;
use kernel_model::KernelVa;
use sim::event_log::{Event, EventLog};
use std::collections::{BTreeMap, BTreeSet};

/// What a span is; decides its colour and its terminal character.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// A task running one call (`task_call` → `task_return`).
    Task,
    /// `register_kprobe` on the registering CPU (first registration step → "register_kprobe returned").
    Register,
    /// The CPU's stopper thread in `multi_cpu_stop` (`migration/N`).
    Stopper,
    /// One `multi_stop_state` as this CPU saw it, inside the stopper.
    StopState,
    /// The patch callback on the CPU that writes (`master: __aarch64_insn_write`).
    PatchMaster,
    /// The patch callback on a CPU that waits for the master (`spinning in aarch64_insn_patch_text_cb`).
    PatchWaiter,
    /// A stop_machine callback whose role the log does not say.
    PatchCallback,
    /// `kprobe_breakpoint_handler` and the pre-handler, up to `setup_singlestep` (or simulation).
    Handler,
    /// A kernel function a handler calls (`handler calls f` → `handler's call returned`).
    HandlerCall,
    /// The probed instruction stepping out of line: `setup_singlestep` → `kprobe_breakpoint_ss_handler`.
    SingleStep,
    /// `post_kprobe_handler` and the post-handler.
    PostHandler,
    /// A reentered hit counted as missed (`reenter_kprobe`), up to its single-step.
    Missed,
    /// A BPF program running (`bpf_prog_run_array`): from the CPU's previous event to its `bpf_run`.
    Bpf,
    /// A kretprobed function running: `arch_prepare_kretprobe` → `__kretprobe_trampoline_handler`.
    Kretprobe,
}

impl Category {
    /// Every category, in legend order.
    pub const ALL: [Category; 14] = [
        Category::Task,
        Category::Register,
        Category::Stopper,
        Category::StopState,
        Category::PatchMaster,
        Category::PatchWaiter,
        Category::PatchCallback,
        Category::Handler,
        Category::HandlerCall,
        Category::SingleStep,
        Category::PostHandler,
        Category::Missed,
        Category::Bpf,
        Category::Kretprobe,
    ];

    /// The name used as `data-kind`, Perfetto `cat` and in the legend.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Category::Task => "task",
            Category::Register => "register",
            Category::Stopper => "stopper",
            Category::StopState => "stop_state",
            Category::PatchMaster => "patch_master",
            Category::PatchWaiter => "patch_waiter",
            Category::PatchCallback => "patch_callback",
            Category::Handler => "handler",
            Category::HandlerCall => "handler_call",
            Category::SingleStep => "singlestep",
            Category::PostHandler => "post_handler",
            Category::Missed => "missed",
            Category::Bpf => "bpf_prog",
            Category::Kretprobe => "kretprobe",
        }
    }

    /// A short description for legends.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Category::Task => "task running a call",
            Category::Register => "register_kprobe",
            Category::Stopper => "stopper thread (migration/N: multi_cpu_stop)",
            Category::StopState => "multi_stop_state as this CPU saw it",
            Category::PatchMaster => "master: __aarch64_insn_write",
            Category::PatchWaiter => "spinning in the patch callback",
            Category::PatchCallback => "stop_machine callback",
            Category::Handler => "kprobe handler (BRK/int3) + pre-handler",
            Category::HandlerCall => "a call made by a handler",
            Category::SingleStep => "single-step (XOL, or TF on x86 5.10)",
            Category::PostHandler => "post-processing + post-handler",
            Category::Missed => "reentered hit (nmissed++)",
            Category::Bpf => "BPF program running",
            Category::Kretprobe => "kretprobed function, entry → return",
        }
    }

    /// The terminal rendering's character.
    #[must_use]
    pub fn glyph(self) -> char {
        match self {
            Category::Task => '=',
            Category::Register => 'r',
            Category::Stopper | Category::StopState => 'S',
            Category::PatchMaster => 'M',
            Category::PatchWaiter => '~',
            Category::PatchCallback => 'C',
            Category::Handler => 'H',
            Category::HandlerCall => 'c',
            Category::SingleStep => 's',
            Category::PostHandler => 'p',
            Category::Missed => 'x',
            Category::Bpf => 'b',
            Category::Kretprobe => 'k',
        }
    }
}

/// Instant kinds (`data-kind` values) the renderings single out.
pub mod kind {
    /// The master's write: `__aarch64_insn_write` with the `struct aarch64_insn_patch`.
    pub const INSN_PATCH: &str = "insn_patch";
    /// Bytes of text changed through the poke alias.
    pub const TEXT_WRITE: &str = "text_write";
    /// A BRK or int3 trap (a breakpoint hit).
    pub const BRK_HIT: &str = "brk-hit";
    /// Any other trap.
    pub const TRAP: &str = "trap";
    /// A CPU's icache resynchronised.
    pub const ICACHE_SYNC: &str = "icache_sync";
    /// Broadcast cache maintenance.
    pub const CACHE_MAINT: &str = "cache_maint";
    /// A kernel call chain.
    pub const KCALL: &str = "kcall";
    /// A reentered kprobe hit (missed).
    pub const KPROBE_MISS: &str = "kprobe-miss";
    /// An oops.
    pub const OOPS: &str = "oops";
}

/// An event as the renderings quote it (tooltips, Perfetto args).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRef {
    /// Position in the log.
    pub seq: u64,
    /// Virtual time.
    pub vtime: u64,
    /// CPU.
    pub cpu: usize,
    /// The kind's short name (`kind` column of the text view).
    pub kind: &'static str,
    /// The pc as `symbol+off` (or `-`).
    pub pc: String,
    /// The event's details, as the text view prints them.
    pub text: String,
    /// The kprobe it concerns (`kprobe`/`kprobe_hit` events), or empty.
    pub probe: String,
}

impl EventRef {
    fn new(e: &Event, syms: &Kallsyms) -> EventRef {
        EventRef {
            seq: e.seq,
            vtime: e.vtime.0,
            cpu: e.cpu.0,
            kind: e.kind.name(),
            pc: if e.pc.0 == 0 { "-".to_string() } else { syms.format_short(e.pc) },
            text: e.kind.to_string(),
            probe: match &e.kind {
                EventKind::Kprobe { probe, .. } | EventKind::KprobeHit { probe, .. } => probe.clone(),
                _ => String::new(),
            },
        }
    }

    /// One line: `seq 572 vtime 572 cpu0 trap @__arm64_sys_clone: brk #0x4`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("seq {} vtime {} cpu{} {} @{}: {}", self.seq, self.vtime, self.cpu, self.kind, self.pc, self.text)
    }
}

/// A span of time on one CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The CPU.
    pub cpu: usize,
    /// Start vtime.
    pub start: u64,
    /// End vtime (≥ start).
    pub end: u64,
    /// What ran (`bash-3109 __arm64_sys_clone #0`, `migration/0: multi_cpu_stop`, …).
    pub label: String,
    /// Its category.
    pub category: Category,
    /// Nesting depth in its lane (0 = outermost).
    pub depth: usize,
    /// The event that opened it.
    pub begin: EventRef,
    /// The event that closed it; `None` if it was still open when the log ended.
    pub finish: Option<EventRef>,
    /// Anything unusual (closed early, clipped to its parent, open at the end).
    pub note: Option<String>,
}

/// A point event on one CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instant {
    /// The CPU.
    pub cpu: usize,
    /// Its vtime.
    pub vtime: u64,
    /// `data-kind` (see [`kind`]; otherwise the event kind's name).
    pub kind: &'static str,
    /// Short label.
    pub label: String,
    /// The event.
    pub event: EventRef,
}

/// A global marker (a `multi_stop_state` change, the budget running out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Its vtime.
    pub vtime: u64,
    /// `stop_state` or `budget`.
    pub kind: &'static str,
    /// `MULTI_STOP_RUN`, …
    pub label: String,
    /// The event.
    pub event: EventRef,
}

/// A patch window: from the first stopper's start to the last stopper's exit of one `stop_machine`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// 1-based index.
    pub index: usize,
    /// Start vtime.
    pub start: u64,
    /// End vtime.
    pub end: u64,
    /// `stop_machine #1: aarch64_insn_patch_text_cb`.
    pub label: String,
    /// First stopper start.
    pub begin: EventRef,
    /// Last stopper exit (`None` if the log ended first).
    pub finish: Option<EventRef>,
    /// What was patched (`text_addrs` / `new_insns`, symbolised), one line each.
    pub patches: Vec<String>,
}

/// An arrow from an event on one CPU to an event on another: a breakpoint written by one CPU, hit by another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// 0-based, in log order of the hit.
    pub id: usize,
    /// The writing CPU.
    pub from_cpu: usize,
    /// The `text_write`.
    pub from: EventRef,
    /// The CPU that hit it.
    pub to_cpu: usize,
    /// The trap.
    pub to: EventRef,
    /// The breakpoint's address.
    pub addr: u64,
    /// `BRK #0x4 written by CPU0 -> hit on CPU2`.
    pub label: String,
}

/// Cumulative kprobe counters after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterSample {
    /// Its vtime.
    pub vtime: u64,
    /// The event's seq.
    pub seq: u64,
    /// Hits so far (`kprobe_hit` "kprobe_breakpoint_handler").
    pub nhit: u64,
    /// Misses so far (`kprobe_hit` "reenter_kprobe…").
    pub nmissed: u64,
}

/// One CPU's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    /// The CPU.
    pub cpu: usize,
    /// `CPU0`.
    pub name: String,
    /// What ran on it, in order of first appearance (`bash-3109`, `migration/0`).
    pub tasks: Vec<String>,
    /// Spans, sorted by (start, longest first); properly nested.
    pub spans: Vec<Span>,
    /// Instants, in log order.
    pub instants: Vec<Instant>,
    /// The deepest span's depth.
    pub max_depth: usize,
}

/// The whole timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Number of lanes (CPUs).
    pub cpus: usize,
    /// First event's vtime (0 for an empty log).
    pub start: u64,
    /// Last event's vtime.
    pub end: u64,
    /// Number of events read.
    pub events: usize,
    /// One per CPU.
    pub lanes: Vec<Lane>,
    /// stop_machine patch windows.
    pub windows: Vec<Window>,
    /// Global markers.
    pub markers: Vec<Marker>,
    /// Breakpoint written → hit.
    pub flows: Vec<Flow>,
    /// Cumulative kprobe counters (starts with a zero sample at `start`).
    pub counters: Vec<CounterSample>,
    /// What writes kernel text on this run's ISA (`__aarch64_insn_write`, `text_poke / text_poke_bp`), asked of
    /// the ISA by [`Timeline::with_isa`]; `text write` when the ISA is not known.
    pub text_poke_fn: &'static str,
}

impl Timeline {
    /// Builds the timeline of `log` for a machine of `cpus` CPUs (more lanes are added if events name more).
    #[must_use]
    pub fn build(log: &EventLog, syms: &Kallsyms, cpus: usize) -> Timeline {
        build(log, syms, cpus)
    }

    /// Names the run's ISA, so text writes are labelled with the ISA's own patching function.
    #[must_use]
    pub fn with_isa(mut self, isa: kernel_model::Isa) -> Timeline {
        self.text_poke_fn = kernel_model::arch::info::info(isa).text_poke_fn;
        self
    }

    /// Every instant of a kind, across lanes, in (vtime, seq) order.
    #[must_use]
    pub fn instants_of(&self, kind: &str) -> Vec<&Instant> {
        let mut v: Vec<&Instant> =
            self.lanes.iter().flat_map(|l| l.instants.iter()).filter(|i| i.kind == kind).collect();
        v.sort_by_key(|i| (i.vtime, i.event.seq));
        v
    }

    /// Every span of a category, across lanes, in (start, cpu) order.
    #[must_use]
    pub fn spans_of(&self, category: Category) -> Vec<&Span> {
        let mut v: Vec<&Span> =
            self.lanes.iter().flat_map(|l| l.spans.iter()).filter(|s| s.category == category).collect();
        v.sort_by_key(|s| (s.start, s.cpu, s.begin.seq));
        v
    }

    /// The last counter sample (total hits and misses).
    #[must_use]
    pub fn totals(&self) -> (u64, u64) {
        self.counters.last().map_or((0, 0), |c| (c.nhit, c.nmissed))
    }

    /// Duration covered, at least 1 tick (for scaling).
    #[must_use]
    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start).max(1)
    }
}

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

/// Escapes text for HTML/XML content and attribute values.
#[must_use]
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    out
}

/// A span's tooltip / details text.
#[must_use]
pub fn span_details(s: &Span) -> String {
    let mut t = format!(
        "{}\n{} on CPU{}, vtime {}..{} ({} ns)\nbegin: {}",
        s.label,
        s.category.name(),
        s.cpu,
        s.start,
        s.end,
        s.end - s.start,
        s.begin.describe()
    );
    match &s.finish {
        Some(f) => t.push_str(&format!("\nend:   {}", f.describe())),
        None => t.push_str("\nend:   (not in the log)"),
    }
    if let Some(n) = &s.note {
        t.push_str(&format!("\nnote: {n}"));
    }
    t
}

/// An event's tooltip / details text (long `;`-separated texts, like `insn_patch`'s CPU list, one part a line).
#[must_use]
pub fn event_details(e: &EventRef) -> String {
    let text = if e.text.len() > 100 { e.text.replace("; ", "\n  ") } else { e.text.clone() };
    let text = if e.kind == "kcall" { text.replace(" -> ", "\n  -> ") } else { text };
    format!("seq {} · vtime {} · cpu{} · {}\npc {}\n{}", e.seq, e.vtime, e.cpu, e.kind, e.pc, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_model::event::{Hex, HexStyle, KprobeStatus};
    use kernel_model::{CpuId, VTime};

    fn log(events: Vec<(u64, usize, u64, EventKind)>) -> EventLog {
        let mut l = EventLog::default();
        for (t, cpu, pc, k) in events {
            l.push(VTime(t), CpuId(cpu), KernelVa(pc), k);
        }
        l
    }

    #[test]
    fn brk_encoding() {
        assert_eq!(arm64_brk_imm(0xd420_0080), Some(4));
        assert_eq!(arm64_brk_imm(0xd420_00c0), Some(6));
        assert_eq!(arm64_brk_imm(0xd503_245f), None);
    }

    #[test]
    fn flows_go_to_other_cpus_once() {
        let w = EventKind::TextWrite {
            addr: KernelVa(0x1000),
            alias: KernelVa(0x9000),
            old: Hex(vec![0x5f, 0x24, 0x03, 0xd5], HexStyle::Words),
            new: Hex(0xd420_0080u32.to_le_bytes().to_vec(), HexStyle::Words),
        };
        let brk = || EventKind::Trap { trap: Trap::Brk { imm: 4 } };
        let l = log(vec![
            (1, 0, 0x1000, w),
            (2, 0, 0x1000, brk()),
            (3, 1, 0x1000, brk()),
            (4, 1, 0x1000, brk()),
            (5, 2, 0x2000, brk()),
        ]);
        let t = build(&l, &Kallsyms::new(Vec::new()), 3);
        assert_eq!(t.lanes.len(), 3);
        assert_eq!(t.flows.len(), 1);
        assert_eq!((t.flows[0].from_cpu, t.flows[0].to_cpu, t.flows[0].to.seq), (0, 1, 2));
        assert_eq!(t.instants_of(kind::BRK_HIT).len(), 4);
    }

    #[test]
    fn kprobe_spans_nest_and_count() {
        let hit = |step: HitStep| EventKind::KprobeHit {
            probe: "kp".into(),
            addr: KernelVa(0x1000),
            step,
            status: KprobeStatus::HitActive,
        };
        let slot = KernelVa(0x8000);
        let l = log(vec![
            (0, 0, 0, EventKind::TaskCall { pid: 1, comm: "t".into(), func: "f".into(), args: vec![], iteration: 0 }),
            (5, 0, 0x1000, hit(HitStep::KprobeBreakpointHandler)),
            (6, 0, 0, EventKind::Kprobe { probe: "kp".into(), step: KprobeStep::HandlerCalls { func: "g".into() } }),
            (7, 0, 0x1000, hit(HitStep::ReenterMissed { current: Some(KernelVa(0x1000)) })),
            (7, 0, 0x1000, hit(HitStep::SetupSinglestepXol { slot })),
            (9, 0, 0x1000, hit(HitStep::KprobeBreakpointSsHandler)),
            (9, 0, 0x1000, hit(HitStep::PostKprobeHandlerRestore)),
            (12, 0, 0, EventKind::Kprobe { probe: "kp".into(), step: KprobeStep::HandlerCallReturned { ret: 0 } }),
            (13, 0, 0x1000, hit(HitStep::SetupSinglestepXol { slot })),
            (15, 0, 0x1000, hit(HitStep::KprobeBreakpointSsHandler)),
            (15, 0, 0x1000, hit(HitStep::PostKprobeHandlerDone)),
            (20, 0, 0, EventKind::TaskReturn { pid: 1, func: "f".into(), ret: 0, iteration: 0 }),
        ]);
        let t = build(&l, &Kallsyms::new(Vec::new()), 1);
        let spans: Vec<(Category, u64, u64, usize)> =
            t.lanes[0].spans.iter().map(|s| (s.category, s.start, s.end, s.depth)).collect();
        assert_eq!(
            spans,
            vec![
                (Category::Task, 0, 20, 0),
                (Category::Handler, 5, 13, 1),
                (Category::HandlerCall, 6, 12, 2),
                (Category::Missed, 7, 7, 3),
                (Category::SingleStep, 7, 9, 3),
                (Category::SingleStep, 13, 15, 1),
            ]
        );
        assert_eq!(t.totals(), (1, 1));
    }
}
