//! The multi-CPU timeline: one lane per CPU made of spans (a task's call, the stopper thread and its
//! `multi_stop_state`s, the patch callback, kprobe handling) and instants (the master's write, BRK hits, cache
//! maintenance), plus flows from the CPU that wrote a breakpoint to the CPUs that hit it, and cumulative kprobe
//! counters. Built from the event log alone, deterministically; [`html`], [`perfetto`] and [`terminal`] render
//! the same [`Timeline`] three ways (see `docs/timeline.md`).
//!
//! The model is here; `builder.rs` derives it from the typed events.
//!
//! Times are virtual ticks (`vtime`): 1 tick = 1 ns on the kernel's clock.

pub mod html;
pub mod perfetto;
pub mod terminal;

pub use html::render_html;
pub use perfetto::render_perfetto;
pub use terminal::render_terminal;

mod builder;
pub use builder::build;

use kernel_model::event::EventKind;
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

