//! Running a scenario end to end: load, prepare, run, and judge the result.

use crate::scenario::{Scenario, ScenarioError};
use kernel_model::event::EventKind;
use kernel_model::kallsyms::Kallsyms;
use kernel_model::kernel::Kernel;
use kernel_model::kprobes::Kprobe;
use kernel_model::machine::Machine as _;
use sim::event_log::EventLog;
use sim::run::{RunEnd, RunSummary};
use std::fmt::Write as _;
use kernel_model::KernelVa;
use std::path::Path;

/// Everything a run produced.
pub struct Report {
    /// The scenario.
    pub scenario: Scenario,
    /// The event log.
    pub log: EventLog,
    /// Results and how it ended.
    pub summary: RunSummary,
    /// The kernel's symbols (for rendering).
    pub kallsyms: Kallsyms,
    /// Every kprobe the run registered, with its counters.
    pub kprobes: Vec<Kprobe>,
    /// Every kretprobe, with its counters.
    pub kretprobes: Vec<kernel_model::kretprobes::Kretprobe>,
    /// What `cat trace_pipe` would print.
    pub trace_pipe: Vec<String>,
    /// `bpftool prog list`.
    pub prog_list: String,
    /// What user space read from perf event arrays.
    pub perf_records: Vec<kernel_model::bpf::PerfRecord>,
    /// Stack traces handlers saved.
    pub stack_traces: Vec<(String, Vec<u64>)>,
    /// What each `register_kprobe` returned.
    pub register_results: Vec<(String, Result<(), kernel_model::errno::Errno>)>,
    /// `show_disasm` functions before the run.
    pub disasm_before: String,
    /// And after it (as memory holds them: patched text shows its breakpoints).
    pub disasm_after: String,
}

impl Report {
    /// Checks the scenario's `expect_*` tables; returns the first mismatch.
    #[must_use]
    pub fn unmet_expectation(&self) -> Option<String> {
        let spec = &self.scenario.spec;
        for e in &spec.expect_kprobe {
            if let Some(want) = &e.registered {
                let got = self.register_results.iter().find(|(n, _)| *n == e.name).map(|(_, r)| match r {
                    Ok(()) => "0".to_string(),
                    Err(errno) => format!("-{}", errno.name()),
                });
                let want = match want {
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if got.as_deref() != Some(want.as_str()) {
                    return Some(format!("kprobe {}: register_kprobe returned {got:?}, expected {want}", e.name));
                }
            }
            // A kretprobe's counters are its own: return-handler runs and entries with no free instance.
            let rp = self.kretprobes.iter().find(|r| r.name == e.name);
            let p = self.kprobes.iter().find(|p| p.spec.name == e.name);
            let (nhit, nmissed) = match rp {
                Some(r) => (Some(r.nhit), Some(r.nmissed)),
                None => (p.map(|p| p.nhit), p.map(|p| p.nmissed)),
            };
            for (what, want, got) in [("nhit", e.nhit, nhit), ("nmissed", e.nmissed, nmissed)]
            {
                if let Some(want) = want {
                    if got != Some(want) {
                        return Some(format!("kprobe {}: {what} is {got:?}, expected {want}", e.name));
                    }
                }
            }
        }
        for e in &spec.expect_stacktrace {
            let Some((_, trace)) = self.stack_traces.iter().find(|(p, _)| *p == e.probe) else {
                return Some(format!("no stack trace saved by {}", e.probe));
            };
            let addr = |expr: &String| self.kallsyms.resolve(expr).map(|v| v.0).ok();
            let shown: Vec<String> = trace.iter().map(|a| self.kallsyms.format_short(KernelVa(*a))).collect();
            for (i, expr) in e.starts_with.iter().enumerate() {
                if trace.get(i).copied() != addr(expr) {
                    return Some(format!("{}: stack trace entry {i} is not {expr}: [{}]", e.probe, shown.join(", ")));
                }
            }
            for expr in &e.contains {
                if !addr(expr).is_some_and(|a| trace.contains(&a)) {
                    return Some(format!("{}: stack trace lacks {expr}: [{}]", e.probe, shown.join(", ")));
                }
            }
        }
        for e in &spec.expect_calls {
            let got: Vec<i64> =
                self.summary.calls.iter().filter(|c| c.pid == e.pid).filter_map(|c| c.ret).map(|r| r as i64).collect();
            if got != e.returns {
                return Some(format!("pid {}: calls returned {got:?}, expected {:?}", e.pid, e.returns));
            }
        }
        None
    }

    /// A one-line verdict for failures: an oops, an unexpected budget exhaustion or an unmet expectation, naming
    /// the file and the place.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        let file = self.scenario.path.display();
        if let Some(msg) = self.unmet_expectation() {
            return Some(format!("{file}: {msg}"));
        }
        for e in self.log.events() {
            match &e.kind {
                EventKind::Oops { oops } => {
                    return Some(format!("{file}: cpu {} oopsed at {}: {oops}", e.cpu, self.kallsyms.format(e.pc)));
                }
                EventKind::BpfLoadFailed { prog, error } => {
                    return Some(format!("{file}: loading BPF program {prog} failed: {error}"));
                }
                _ => {}
            }
        }
        if self.summary.end == RunEnd::BudgetExhausted {
            if let Some(u) = self.summary.unfinished.iter().find(|u| !u.forever) {
                return Some(format!(
                    "{file}: instruction budget of {} exhausted with pid {} on cpu {} still at {}",
                    self.scenario.spec.machine.budget,
                    u.pid,
                    u.cpu,
                    self.kallsyms.format(u.pc)
                ));
            }
        }
        None
    }

    /// The readable view: a header, the log, the call results and the log's hash.
    #[must_use]
    pub fn to_text(&self) -> String {
        let m = &self.scenario.spec.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# {} cpus={} kernel={} quantum={} schedule={:?} seed={} budget={}",
            m.isa, m.cpus, m.kernel, m.quantum, m.schedule, m.seed, m.budget
        );
        for line in self.disasm_before.lines() {
            let _ = writeln!(out, "# before: {line}");
        }
        out.push_str(&self.log.to_text(&self.kallsyms));
        for line in self.disasm_after.lines() {
            let _ = writeln!(out, "# after:  {line}");
        }
        let _ = writeln!(out, "# calls:");
        for c in &self.summary.calls {
            match c.ret {
                Some(r) => {
                    let _ = writeln!(out, "#   pid {} cpu{} #{} -> {r:#x} ({})", c.pid, c.cpu, c.iteration, r as i64);
                }
                None => {
                    let _ = writeln!(out, "#   pid {} cpu{} #{} -> killed", c.pid, c.cpu, c.iteration);
                }
            }
        }
        if !self.kprobes.is_empty() {
            let _ = writeln!(out, "# kprobes (debugfs kprobes/list, with nhit/nmissed):");
            for p in &self.kprobes {
                let flags = if !p.registered { "  [unregistered]" } else if p.disabled() { "  [DISABLED]" } else { "" };
                let _ = writeln!(
                    out,
                    "#   {}  k  {}  {}{flags}  class={} slot={} nhit={} nmissed={}",
                    p.addr,
                    self.kallsyms.format_short(p.addr),
                    p.spec.name,
                    p.ainsn.class,
                    p.ainsn.slot.map_or("-".to_string(), |s| s.to_string()),
                    p.nhit,
                    p.nmissed
                );
            }
        }
        for r in &self.kretprobes {
            let _ = writeln!(
                out,
                "#   kretprobe {}: maxactive={} nhit={} nmissed={} in_use={}",
                r.name, r.maxactive, r.nhit, r.nmissed, r.in_use
            );
        }
        if !self.prog_list.is_empty() {
            let _ = writeln!(out, "# bpftool prog list:");
            for line in self.prog_list.lines() {
                let _ = writeln!(out, "#   {line}");
            }
        }
        if !self.perf_records.is_empty() {
            // A BCC-like consumer: execsnoop's records as its tool prints them, others as hex.
            let _ = writeln!(out, "# perf buffer (as user space prints it):");
            let _ = writeln!(out, "# {}", kernel_model::bpf::runtime::print::EXECSNOOP_HEADER);
            for r in &self.perf_records {
                let line = kernel_model::bpf::runtime::print::execsnoop_event(&r.data).unwrap_or_else(|| {
                    format!("{} cpu{}: {}", r.map_name, r.cpu, r.data.iter().map(|b| format!("{b:02x}")).collect::<String>())
                });
                let _ = writeln!(out, "# {line}");
            }
        }
        if !self.trace_pipe.is_empty() {
            let _ = writeln!(out, "# cat /sys/kernel/debug/tracing/trace_pipe:");
            for line in self.trace_pipe.concat().lines() {
                let _ = writeln!(out, "# {line}");
            }
        }
        let _ = writeln!(out, "# end: {:?} at vtime {}", self.summary.end, self.summary.vtime);
        let _ = writeln!(out, "# log sha256: {}", self.log.hash());
        out
    }
}

/// Loads and runs a scenario file.
pub fn run_file(path: &Path) -> Result<Report, ScenarioError> {
    run_scenario(Scenario::load(path)?)
}

/// Runs a parsed scenario.
pub fn run_scenario(scenario: Scenario) -> Result<Report, ScenarioError> {
    run_scenario_until(scenario, None).map(|(report, _, _)| report)
}

/// Runs a parsed scenario, stopping before scheduler turn `stop_before_turn` if given; returns the machine and the
/// kernel as they are then, for the debugger views.
pub fn run_scenario_until(
    scenario: Scenario,
    stop_before_turn: Option<u64>,
) -> Result<(Report, sim::machine::EmulatedMachine, Kernel), ScenarioError> {
    let mut p = scenario.prepare()?;
    p.config.stop_before_turn = stop_before_turn;
    let m = &scenario.spec.machine;
    let mut kernel = Kernel::new(m.isa, m.kernel, m.cpus);
    kernel.set_stop_machine_yield(p.stop_machine_yield);
    let disasm = |machine: &sim::machine::EmulatedMachine| -> Result<String, ScenarioError> {
        let mut out = String::new();
        for name in &scenario.spec.show_disasm {
            let sym = machine.kallsyms().lookup_name(name).cloned().ok_or_else(|| ScenarioError::Invalid {
                file: scenario.path.clone(),
                place: "show_disasm".into(),
                msg: format!("unknown symbol `{name}`"),
            })?;
            let _ = writeln!(out, "u {name}:");
            out.push_str(&crate::views::render_function(machine, sym.addr, sym.size));
        }
        Ok(out)
    };
    let disasm_before = disasm(&p.machine)?;
    let summary = sim::run::run(&mut p.machine, &mut kernel, &p.tasks, &p.actions, &p.config);
    let kallsyms = p.machine.kallsyms().clone();
    let log = p.machine.take_log();
    let kprobes = kernel.core.kprobes.probes.clone();
    let disasm_after = disasm(&p.machine)?;
    let register_results = kernel.core.register_results.clone();
    let kretprobes = kernel.core.kretprobes.probes.clone();
    let stack_traces = kernel.core.stack_traces.clone();
    let trace_pipe = kernel.core.bpf.trace_pipe().to_vec();
    let prog_list = if kernel.core.bpf.progs().is_empty() { String::new() } else { kernel.core.bpf.prog_list() };
    let perf_records = kernel.core.bpf.perf_records().to_vec();
    let report = Report {
        scenario,
        log,
        summary,
        kallsyms,
        kprobes,
        kretprobes,
        stack_traces,
        trace_pipe,
        prog_list,
        perf_records,
        register_results,
        disasm_before,
        disasm_after,
    };
    Ok((report, p.machine, kernel))
}
