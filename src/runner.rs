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
    /// Per BPF event, its hits kept and filtered after `trace_call_bpf`.
    pub perf_filter: std::collections::BTreeMap<String, kernel_model::kernel::PerfFilter>,
    /// What each `register_kprobe` returned.
    pub register_results: Vec<(String, Result<(), kernel_model::errno::Errno>)>,
    /// `show_disasm` functions before the run.
    pub disasm_before: String,
    /// And after it (as memory holds them: patched text shows its breakpoints).
    pub disasm_after: String,
    /// What each `[[script]]` printed (its own run).
    pub scripts: Vec<crate::bpftrace::run::ScriptResult>,
    /// Maps, programs, records and trace_pipe as user space reads them after the run.
    pub bpf: crate::expect::BpfResults,
}

/// An oops the run showed.
struct OopsSeen {
    cpu: usize,
    pc: KernelVa,
    message: String,
    /// The task it killed: `die()` ends `current`, and the log's next event is that task's exit.
    killed: Option<u32>,
}

impl OopsSeen {
    /// Whether `[[expect_oops]]` `e` describes this oops (every key it gives matches).
    fn matches(&self, e: &crate::scenario::ExpectOops) -> bool {
        e.cpu.is_none_or(|c| c == self.cpu)
            && e.pid.is_none_or(|p| self.killed == Some(p))
            && e.message.as_ref().is_none_or(|m| self.message.contains(m.as_str()))
    }
}

impl Report {
    /// The kernel function whose result is recorded under `name`: a kretprobe's, a `register_kprobes()` batch's, or
    /// a kprobe's (trace kprobes that BPF attaches included).
    fn register_fn(&self, name: &str) -> &'static str {
        let spec = &self.scenario.spec;
        let label = |n: &Option<String>, prefix: &str, i: usize| n.clone().unwrap_or_else(|| format!("{prefix}{i}"));
        if spec.kretprobes.iter().enumerate().any(|(i, k)| label(&k.name, "rp", i) == name) {
            "register_kretprobe"
        } else if spec.kprobes.iter().any(|k| k.batch.as_deref() == Some(name)) {
            "register_kprobes"
        } else {
            "register_kprobe"
        }
    }

    /// The registrations the run asked for before it ended, by the name their result is recorded under: each
    /// `[[kprobe]]` (or its `register_kprobes` batch), `[[kretprobe]]`, and the trace kprobe of each assembled
    /// `[[bpf]]` program.
    fn requested_registrations(&self) -> Vec<String> {
        let spec = &self.scenario.spec;
        let started = |at: u64| at < self.summary.vtime;
        let mut names: Vec<String> = Vec::new();
        let kprobes = spec.kprobes.iter().enumerate().filter(|(_, k)| started(k.at));
        for (i, k) in kprobes {
            names.push(k.batch.clone().or_else(|| k.name.clone()).unwrap_or_else(|| format!("p{i}")));
        }
        for (i, k) in spec.kretprobes.iter().enumerate().filter(|(_, k)| started(k.at)) {
            names.push(k.name.clone().unwrap_or_else(|| format!("rp{i}")));
        }
        for (i, b) in spec.bpf.iter().enumerate().filter(|(_, b)| started(b.at) && b.asm.is_some()) {
            if let Some(sym) = b.attach.as_deref().and_then(|a| a.strip_prefix("kprobe/")) {
                let name = match b.attach_mode {
                    crate::scenario::AttachModeSpec::SharedEvent => format!("p_{sym}_0"),
                    // A `#2` suffix (a same-named program on the same function) is not predicted here.
                    crate::scenario::AttachModeSpec::PerfKprobe => {
                        format!("{sym}/{}", b.name.clone().unwrap_or_else(|| format!("prog{i}")))
                    }
                };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names.dedup();
        names
    }

    fn oopses(&self) -> Vec<OopsSeen> {
        let events = self.log.events();
        let killed_calls: Vec<(u32, usize)> =
            self.summary.calls.iter().filter(|c| c.ret.is_none()).map(|c| (c.pid, c.cpu.0)).collect();
        events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let EventKind::Oops { oops } = &e.kind else { return None };
                let killed = events.get(i + 1).and_then(|next| match next.kind {
                    EventKind::TaskExit { pid } if next.cpu == e.cpu && killed_calls.contains(&(pid, e.cpu.0)) => {
                        Some(pid)
                    }
                    _ => None,
                });
                Some(OopsSeen { cpu: e.cpu.0, pc: e.pc, message: oops.to_string(), killed })
            })
            .collect()
    }

    /// Checks the scenario's `expect_*` tables; returns the first mismatch.
    #[must_use]
    pub fn unmet_expectation(&self) -> Option<String> {
        let spec = &self.scenario.spec;
        for e in &spec.expect_tracefs {
            let n = self
                .summary
                .tracefs_errors
                .iter()
                .filter(|(f, errno)| *f == e.file && format!("-{}", errno.name()) == e.errno)
                .count();
            let ok = e.count.map_or(n > 0, |c| c == n);
            if !ok {
                let want = e.count.map_or("at least one".to_string(), |c| c.to_string());
                return Some(format!("tracefs {}: expected {want} write(s) failing with {}, got {n}", e.file, e.errno));
            }
        }
        for e in &spec.expect_kprobe {
            if let Some(want) = &e.registered {
                let result = self.register_results.iter().find(|(n, _)| *n == e.name).map(|(_, r)| *r);
                let got = Some(match result {
                    None => "pending".to_string(),
                    Some(Ok(())) => "0".to_string(),
                    Some(Err(errno)) => format!("-{}", errno.name()),
                });
                let want = match want {
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if got.as_deref() != Some(want.as_str()) {
                    let f = self.register_fn(&e.name);
                    let got = match result {
                        None => format!("{f} never returned"),
                        Some(Ok(())) => format!("{f} returned 0"),
                        Some(Err(errno)) => format!("{f} returned {errno}"),
                    };
                    return Some(format!("kprobe {}: {got}, expected {want}", e.name));
                }
            }
            // A kretprobe's counters are its own: return-handler runs and entries with no free instance.
            let rp = self.kretprobes.iter().find(|r| r.name == e.name);
            let p = self.kprobes.iter().find(|p| p.spec.name == e.name);
            let (nhit, nmissed) = match rp {
                Some(r) => (Some(r.nhit), Some(r.nmissed)),
                None => (p.map(|p| p.nhit), p.map(|p| p.nmissed)),
            };
            // kept/filtered: what kprobe_perf_func / kretprobe_perf_func did after trace_call_bpf (0 if never hit).
            let pf = (p.is_some() || rp.is_some()).then(|| self.perf_filter.get(&e.name).copied().unwrap_or_default());
            let (kept, filtered) = (pf.map(|c| c.kept), pf.map(|c| c.filtered));
            for (what, want, got) in [
                ("nhit", e.nhit, nhit),
                ("nmissed", e.nmissed, nmissed),
                ("kept", e.kept, kept),
                ("filtered", e.filtered, filtered),
            ] {
                match (want, got) {
                    (Some(want), None) => {
                        return Some(format!("kprobe {}: no such probe was registered, expected {what} {want}", e.name));
                    }
                    (Some(want), Some(got)) if got != want => {
                        return Some(format!("kprobe {}: {what} is {got}, expected {want}", e.name));
                    }
                    _ => {}
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
        let list = |v: &[i64]| format!("[{}]", v.iter().map(i64::to_string).collect::<Vec<_>>().join(", "));
        for e in &spec.expect_calls {
            let got: Vec<i64> =
                self.summary.calls.iter().filter(|c| c.pid == e.pid).filter_map(|c| c.ret).map(|r| r as i64).collect();
            if got != e.returns {
                return Some(format!("pid {}: calls returned {}, expected {}", e.pid, list(&got), list(&e.returns)));
            }
            let unfinished = self.summary.unfinished.iter().any(|u| u.pid == e.pid);
            if unfinished != e.unfinished {
                let (is, want) = if unfinished { ("still running", "finish") } else { ("finished", "still be running") };
                return Some(format!("pid {}: {is} when the run ended, expected it to {want}", e.pid));
            }
        }
        if let Some(m) = self.scripts.iter().find_map(crate::bpftrace::run::ScriptResult::mismatch) {
            return Some(m);
        }
        let oopses = self.oopses();
        for e in &spec.expect_oops {
            if !oopses.iter().any(|o| o.matches(e)) {
                let mut want = Vec::new();
                if let Some(c) = e.cpu {
                    want.push(format!("on cpu {c}"));
                }
                if let Some(p) = e.pid {
                    want.push(format!("killing pid {p}"));
                }
                if let Some(m) = &e.message {
                    want.push(format!("with a message containing `{m}`"));
                }
                let seen = match oopses.as_slice() {
                    [] => "the run had none".to_string(),
                    [o, rest @ ..] => {
                        let killed = o.killed.map_or(String::new(), |p| format!(" killing pid {p}"));
                        let more = if rest.is_empty() { String::new() } else { format!(" (and {} more)", rest.len()) };
                        format!("the run had one on cpu {}{killed}: {}{more}", o.cpu, o.message)
                    }
                };
                let want: String = want.iter().map(|w| format!(" {w}")).collect();
                return Some(format!("expected an oops{want}; {seen}"));
            }
        }
        if let Some(msg) = crate::expect::check(spec, &self.bpf) {
            return Some(msg);
        }
        for e in &spec.expect_bpf {
            let found = self.log.events().iter().any(|ev| match &ev.kind {
                EventKind::BpfFault { prog, error } => {
                    *prog == e.prog && e.fault.as_ref().is_some_and(|f| error.to_string().contains(f.as_str()))
                }
                EventKind::BpfLoadFailed { prog, error } => {
                    *prog == e.prog && e.rejected.as_ref().is_some_and(|f| error.contains(f.as_str()))
                }
                _ => false,
            });
            if !found {
                let (what, part) = match (&e.fault, &e.rejected) {
                    (Some(f), _) => ("a run that faulted", f),
                    (None, Some(r)) => ("its load refused", r),
                    (None, None) => unreachable!("validated: exactly one of fault or rejected"),
                };
                return Some(format!("BPF program {}: expected {what} with an error containing `{part}`", e.prog));
            }
        }
        None
    }

    /// Whether an `[[expect_bpf]]` names this refusal or fault.
    fn bpf_expected(&self, prog: &str, error: &str, fault: bool) -> bool {
        self.scenario.spec.expect_bpf.iter().any(|e| {
            let part = if fault { &e.fault } else { &e.rejected };
            e.prog == prog && part.as_ref().is_some_and(|p| error.contains(p.as_str()))
        })
    }

    /// A one-line verdict, naming the file and the place: an unmet expectation, or something that went wrong and
    /// that the scenario does not expect — a registration that returned an errno, an oops (a killed task or
    /// kthread), a BPF load refused or a BPF run that faulted, or the budget ending with a task still running.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        let file = self.scenario.path.display();
        if let Some(msg) = self.unmet_expectation() {
            return Some(format!("{file}: {msg}"));
        }
        if self.log.dropped() > 0 {
            return Some(format!(
                "{file}: the event log is full: it keeps {} events and {} more were dropped (docs/limits.md); shorten the run (budget, repeat)",
                sim::event_log::EventLog::CAP,
                self.log.dropped()
            ));
        }
        let spec = &self.scenario.spec;
        for (f, errno) in &self.summary.tracefs_errors {
            if !spec.expect_tracefs.iter().any(|e| e.file == *f && e.errno == format!("-{}", errno.name())) {
                return Some(format!("{file}: write to tracefs {f} returned {errno}"));
            }
        }
        for (name, r) in &self.register_results {
            let expected = spec.expect_kprobe.iter().any(|e| e.name == *name && e.registered.is_some());
            if let (Err(errno), false) = (r, expected) {
                return Some(format!("{file}: kprobe {name}: {} returned {errno}", self.register_fn(name)));
            }
        }
        let oopses = self.oopses();
        for o in &oopses {
            if !spec.expect_oops.iter().any(|e| o.matches(e)) {
                let killed = o.killed.map_or(String::new(), |p| format!(" (pid {p} killed)"));
                return Some(format!(
                    "{file}: cpu {} oopsed at {}{killed}: {}",
                    o.cpu,
                    self.kallsyms.format(o.pc),
                    o.message
                ));
            }
        }
        for e in self.log.events() {
            match &e.kind {
                EventKind::BpfLoadFailed { prog, error } if !self.bpf_expected(prog, error, false) => {
                    return Some(format!("{file}: loading BPF program {prog} failed: {error}"));
                }
                EventKind::BpfFault { prog, error } if !self.bpf_expected(prog, &error.to_string(), true) => {
                    return Some(format!("{file}: BPF program {prog} faulted: {error}"));
                }
                _ => {}
            }
        }
        if self.summary.end == RunEnd::BudgetExhausted {
            // A registration the run requested and that never returned (stop_machine never completed, say).
            let expected = |name: &str| spec.expect_kprobe.iter().any(|e| e.name == name && e.registered.is_some());
            for name in self.requested_registrations() {
                if !expected(&name) && !self.register_results.iter().any(|(n, _)| *n == name) {
                    return Some(format!(
                        "{file}: kprobe {name}: {} had not returned when the instruction budget of {} ran out",
                        self.register_fn(&name),
                        spec.machine.budget
                    ));
                }
            }
            let expected = |pid: u32| spec.expect_calls.iter().any(|e| e.pid == pid && e.unfinished);
            if let Some(u) = self.summary.unfinished.iter().find(|u| !u.forever && !expected(u.pid)) {
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
            "# {} cpus={} kernel={} quantum={} schedule={} seed={} budget={}",
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
        self.bpf_footer(&mut out);
        if !self.trace_pipe.is_empty() {
            let _ = writeln!(out, "# cat /sys/kernel/debug/tracing/trace_pipe:");
            for line in self.trace_pipe.concat().lines() {
                let _ = writeln!(out, "# {line}");
            }
        }
        for (file, text) in &self.summary.tracefs_reads {
            let root = if file.starts_with("kprobes/") { "/sys/kernel/debug" } else { "/sys/kernel/tracing" };
            let _ = writeln!(out, "# cat {root}/{file}:");
            for line in text.lines() {
                let _ = writeln!(out, "# {line}");
            }
        }
        for sc in &self.scripts {
            out.push_str(&sc.to_text());
        }
        let _ = writeln!(out, "# end: {} at vtime {}", self.summary.end, self.summary.vtime);
        if self.log.dropped() > 0 {
            let _ = writeln!(out, "# log full: {} events dropped after the first {}", self.log.dropped(), sim::event_log::EventLog::CAP);
        }
        let _ = writeln!(out, "# log sha256: {}", self.log.hash());
        out
    }
}

impl Report {
    /// The BPF part of the text footer: `show = ["progs"]`'s `bpftool prog show` with run counts, `show =
    /// ["maps"]`'s `bpftool map show` and `map dump` of every map, and the records consumers received (perf
    /// records through `perf_printer` if the scenario names one).
    fn bpf_footer(&self, out: &mut String) {
        let spec = &self.scenario.spec;
        let show = |what: &str| spec.show.iter().any(|s| s == what);
        if show("progs") {
            // The kernel counts run_cnt only with kernel.bpf_stats_enabled=1 (bpf_prog_run: bpf_stats_enabled_key).
            let _ = writeln!(out, "# BPF program runs (bpf_prog_info run_cnt, as with sysctl kernel.bpf_stats_enabled=1):");
            for p in &self.bpf.progs {
                let _ = writeln!(out, "#   {}: {}  run_cnt {}", p.id, p.name, p.run_cnt);
            }
        }
        if show("maps") {
            for m in &self.bpf.maps {
                let _ = writeln!(out, "# bpftool map show id {}:", m.id);
                for line in crate::bpftool::map::show_plain(m).lines() {
                    let _ = writeln!(out, "#   {line}");
                }
                if crate::bpftool::map::dumpable(m) {
                    let _ = writeln!(out, "# bpftool map dump id {}:", m.id);
                    for line in crate::bpftool::map::dump_plain(m).lines() {
                        let _ = writeln!(out, "#   {line}");
                    }
                }
            }
        }
        let ring: Vec<_> = self.bpf.records.iter().filter(|r| r.buffer == "ringbuf").collect();
        if !ring.is_empty() {
            let _ = writeln!(out, "# ring buffer records (ring_buffer__consume):");
            for r in ring {
                let _ = writeln!(out, "#   {}", r.line());
            }
        }
        if !self.perf_records.is_empty() {
            if spec.perf_printer.as_deref() == Some("execsnoop") {
                // Seed 002's user-space half: its records as execsnoop prints them.
                let _ = writeln!(out, "# perf buffer (as user space prints it):");
                let _ = writeln!(out, "# {}", kernel_model::bpf::runtime::print::EXECSNOOP_HEADER);
                for r in &self.perf_records {
                    let line = kernel_model::bpf::runtime::print::execsnoop_event(&r.data).unwrap_or_else(|| {
                        format!("{} cpu{}: {}", r.map_name, r.cpu, r.data.iter().map(|b| format!("{b:02x}")).collect::<String>())
                    });
                    let _ = writeln!(out, "# {line}");
                }
            } else {
                let _ = writeln!(out, "# perf buffer records (perf_buffer__poll):");
                for r in self.bpf.records.iter().filter(|r| r.buffer == "perf") {
                    let _ = writeln!(out, "#   {}", r.line());
                }
            }
        }
    }

    /// The footer of the JSON view, one line after the events (`"kind": "summary"`): what the text view's `#`
    /// footer says, as values. Addresses and 64-bit values are hex strings, as in the events.
    #[must_use]
    pub fn summary_json(&self) -> String {
        use serde_json::json;
        let hex = |v: u64| format!("{v:#x}");
        let lines = |t: &str| t.lines().map(str::to_string).collect::<Vec<_>>();
        let calls: Vec<_> = self
            .summary
            .calls
            .iter()
            .map(|c| json!({"pid": c.pid, "cpu": c.cpu.0, "iteration": c.iteration, "ret": c.ret.map(hex), "killed": c.ret.is_none()}))
            .collect();
        let kprobes: Vec<_> = self
            .kprobes
            .iter()
            .map(|p| {
                json!({
                    "addr": hex(p.addr.0), "symbol": self.kallsyms.format_short(p.addr), "name": p.spec.name,
                    "class": p.ainsn.class.to_string(), "slot": p.ainsn.slot.map(|s| hex(s.0)),
                    "registered": p.registered, "disabled": p.disabled(), "nhit": p.nhit, "nmissed": p.nmissed,
                })
            })
            .collect();
        let kretprobes: Vec<_> = self
            .kretprobes
            .iter()
            .map(|r| json!({"name": r.name, "maxactive": r.maxactive, "nhit": r.nhit, "nmissed": r.nmissed, "in_use": r.in_use}))
            .collect();
        let perf: Vec<_> = self
            .perf_records
            .iter()
            .map(|r| json!({"map": r.map_name, "cpu": r.cpu, "time_ns": r.time_ns, "data": r.data.iter().map(|b| format!("{b:02x}")).collect::<String>()}))
            .collect();
        let records: Vec<_> = self
            .bpf
            .records
            .iter()
            .map(|r| json!({"buffer": r.buffer, "map": r.map, "map_id": r.map_id, "cpu": r.cpu, "size": r.data.len(), "data": crate::expect::hex(&r.data)}))
            .collect();
        // `bpftool -j map dump` of each dumpable map, with `map show`'s fields.
        let maps: Vec<_> = self
            .bpf
            .maps
            .iter()
            .map(|m| {
                let d = &m.def;
                let elements = crate::bpftool::map::dumpable(m)
                    .then(|| serde_json::from_str::<serde_json::Value>(&crate::bpftool::map::dump_json(m)).ok())
                    .flatten();
                json!({
                    "id": m.id, "type": d.map_type.name(), "name": d.name, "flags": d.flags,
                    "bytes_key": d.key_size, "bytes_value": d.value_size, "max_entries": d.max_entries,
                    "btf_id": m.btf.as_ref().map(|b| b.btf_id), "elements": elements,
                })
            })
            .collect();
        let prog_runs: Vec<_> =
            self.bpf.progs.iter().map(|p| json!({"id": p.id.0, "name": p.name, "run_cnt": p.run_cnt})).collect();
        let reads: Vec<_> = self.summary.tracefs_reads.iter().map(|(f, t)| json!({"file": f, "lines": lines(t)})).collect();
        let v = json!({
            "kind": "summary",
            "end": self.summary.end.to_string(),
            "vtime": self.summary.vtime,
            "calls": calls,
            "kprobes": kprobes,
            "kretprobes": kretprobes,
            "bpftool_prog_list": lines(&self.prog_list),
            "perf_records": perf,
            "records": records,
            "maps": maps,
            "prog_runs": prog_runs,
            "trace_pipe": lines(&self.trace_pipe.concat()),
            "tracefs_reads": reads,
            "events_dropped": self.log.dropped(),
            "log_sha256": self.log.hash(),
            "failure": self.failure(),
        });
        v.to_string()
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
    run_with(scenario, stop_before_turn, false, None)
}

/// What acts on the machine and kernel before a run's first turn ([`run_scenario_with`]).
pub type BeforeRun<'a> = &'a mut dyn FnMut(&mut sim::machine::EmulatedMachine, &mut Kernel);

/// Runs a parsed scenario after `before` acted on the machine and kernel as they are before the first turn (how
/// `probesim trace` loads and attaches its programs); returns them as the run left them.
pub fn run_scenario_with(
    scenario: Scenario,
    before: BeforeRun<'_>,
) -> Result<(Report, sim::machine::EmulatedMachine, Kernel), ScenarioError> {
    run_with(scenario, None, false, Some(before))
}

/// Runs a parsed scenario and records the schedule it took (`report.summary.schedule`), so that it can be
/// written out and replayed exactly (`[schedule_script]`).
pub fn run_scenario_recorded(scenario: Scenario) -> Result<Report, ScenarioError> {
    run_with(scenario, None, true, None).map(|(report, _, _)| report)
}

fn run_with(
    scenario: Scenario,
    stop_before_turn: Option<u64>,
    record_schedule: bool,
    before: Option<BeforeRun<'_>>,
) -> Result<(Report, sim::machine::EmulatedMachine, Kernel), ScenarioError> {
    let mut p = scenario.prepare()?;
    p.config.stop_before_turn = stop_before_turn;
    p.config.record_schedule = record_schedule;
    let m = &scenario.spec.machine;
    let mut kernel = Kernel::new(m.isa, m.kernel, m.cpus);
    kernel.configure_tracefs(m.uptime_ns, m.kprobe_events_on_notrace);
    // get_random_bytes for bpf_get_prandom_u32's per-CPU states: from the scenario's seed, so runs repeat.
    kernel.core.bpf.seed_prandom(m.seed);
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
    if let Some(before) = before {
        before(&mut p.machine, &mut kernel);
    }
    let summary = sim::run::run(&mut p.machine, &mut kernel, &p.tasks, &p.actions, &p.config);
    let kallsyms = p.machine.kallsyms().clone();
    let log = p.machine.take_log();
    let kprobes = kernel.core.kprobes.probes.clone();
    let disasm_after = disasm(&p.machine)?;
    let register_results = kernel.core.register_results.clone();
    let perf_filter = kernel.core.perf_filter.clone();
    let kretprobes = kernel.core.kretprobes.probes.clone();
    let stack_traces = kernel.core.stack_traces.clone();
    let trace_pipe = kernel.core.bpf.trace_pipe().to_vec();
    let prog_list = if kernel.core.bpf.progs().is_empty() { String::new() } else { kernel.core.bpf.prog_list() };
    let perf_records = kernel.core.bpf.perf_records().to_vec();
    let scripts = crate::bpftrace::run::run_scripts(&scenario)?;
    let bpf = bpf_results(&mut kernel, &log);
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
        perf_filter,
        disasm_before,
        disasm_after,
        scripts,
        bpf,
    };
    Ok((report, p.machine, kernel))
}

/// What user space reads of the BPF side after the run: maps, programs, each run's return (from the log), the
/// ring buffers consumed (`ring_buffer__consume` on each) and the perf records as `perf_buffer__poll` delivers them.
fn bpf_results(kernel: &mut Kernel, log: &EventLog) -> crate::expect::BpfResults {
    use crate::bpftool::records::Record;
    let rt = &mut kernel.core.bpf;
    let maps = rt.maps().to_vec();
    let mut records = Vec::new();
    for m in &maps {
        if m.def.map_type == kernel_model::bpf::maps::MapType::Ringbuf {
            for data in rt.ringbuf_drain(m.id) {
                records.push(Record { buffer: "ringbuf", map: m.def.name.clone(), map_id: m.id, cpu: None, data });
            }
        }
    }
    records.extend(rt.perf_records().iter().map(Record::perf));
    let runs = log
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BpfRun { prog, ret, .. } => Some((prog.clone(), *ret)),
            _ => None,
        })
        .collect();
    crate::expect::BpfResults { maps, progs: rt.progs().to_vec(), runs, records, trace_pipe: rt.trace_pipe().to_vec() }
}
