//! Schedule exploration: one scenario run under many schedules (seeded shuffles, quantum jitter, quanta, or every
//! schedule with at most K delays), in parallel, grouped by trace hash, with invariants checked on every run.
//!
//! Every run is still a deterministic function of its scenario: a schedule is just a `[machine]` override
//! ([`ScheduleChoice`]), so any run `explore` reports can be replayed with `probesim run` and the same overrides.
//!
//! The systematic mode is **delay-bounded scheduling** (Emmi, Qadeer and Rakamarić, "Delay-bounded scheduling",
//! POPL 2011): the deterministic round-robin scheduler, perturbed at most K times, each perturbation (a *delay*)
//! taking one CPU's turn away in one round. Within a window of rounds every schedule with ≤ K delays is run, so a
//! bug that needs one slow CPU at the wrong moment is found with K = 1, whatever a random seed would have drawn.

use crate::runner::{self, Report};
use crate::scenario::{ScheduleScriptSpec, Schedule, Scenario, ScenarioError};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// One schedule: the `[machine]` settings that decide the interleaving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleChoice {
    /// Round-robin or shuffled rounds.
    pub schedule: Schedule,
    /// The seed of the shuffle and of the jitter.
    pub seed: u64,
    /// Instructions per quantum.
    pub quantum: u64,
    /// Whether each quantum's length is drawn from `1..=quantum`.
    pub jitter: bool,
    /// Turns taken away from the round-robin order (only with `schedule = RoundRobin`, no jitter).
    pub delays: Vec<Delay>,
}

/// A delay: `cpu` loses its turn in scheduler round `round` (counted from 0), or with `cut`, its turn there runs at
/// most that many instructions (a preemption inside the quantum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Delay {
    /// The round.
    pub round: usize,
    /// The CPU.
    pub cpu: usize,
    /// `None`: the whole turn is lost; `Some(n)`: the turn is cut to `n` instructions.
    pub cut: Option<u64>,
}

impl std::fmt::Display for Delay {
    /// As `probesim run --delay` takes it: `ROUND:CPU` or `ROUND:CPU:LEN`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.round, self.cpu)?;
        match self.cut {
            Some(n) => write!(f, ":{n}"),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for Delay {
    type Err = String;
    fn from_str(s: &str) -> Result<Delay, String> {
        let bad = || {
            format!("`{s}`: a delay is ROUND:CPU (cpu loses its turn in that round, e.g. `12:3`) or ROUND:CPU:LEN (its turn runs at most LEN ≥ 1 instructions)")
        };
        let mut parts = s.split(':').map(|t| t.trim().parse::<u64>().map_err(|_| bad()));
        let (round, cpu) = (parts.next().ok_or_else(bad)??, parts.next().ok_or_else(bad)??);
        let cut = parts.next().transpose()?;
        if parts.next().is_some() || cut == Some(0) {
            return Err(bad());
        }
        let idx = |v: u64| usize::try_from(v).map_err(|_| bad());
        Ok(Delay { round: idx(round)?, cpu: idx(cpu)?, cut })
    }
}

impl ScheduleChoice {
    /// A seeded or round-robin schedule without delays.
    #[must_use]
    pub fn seeded(schedule: Schedule, seed: u64, quantum: u64, jitter: bool) -> ScheduleChoice {
        ScheduleChoice { schedule, seed, quantum, jitter, delays: Vec::new() }
    }

    /// Round-robin with `quantum`, `delays` taken away.
    #[must_use]
    pub fn delayed(quantum: u64, delays: Vec<Delay>) -> ScheduleChoice {
        ScheduleChoice { schedule: Schedule::RoundRobin, seed: 0, quantum, jitter: false, delays }
    }

    /// The schedule as `probesim run` overrides spell it.
    #[must_use]
    pub fn as_args(&self) -> String {
        // Both ways spelt out: the scenario's own `quantum_jitter` must not decide a replay.
        let jitter = if self.jitter { " --jitter" } else { " --no-jitter" };
        let delays: String = self.delays.iter().map(|d| format!(" --delay {d}")).collect();
        format!("--schedule {} --seed {} --quantum {}{jitter}{delays}", self.schedule, self.seed, self.quantum)
    }

    /// `scenario` with this schedule.
    #[must_use]
    pub fn apply(&self, scenario: &Scenario) -> Scenario {
        let mut s = scenario.clone();
        let m = &mut s.spec.machine;
        m.schedule = self.schedule;
        m.seed = self.seed;
        m.quantum = self.quantum;
        m.quantum_jitter = self.jitter;
        if !self.delays.is_empty() {
            let cpus = m.cpus;
            s.spec.schedule_script = Some(delay_script(cpus, &self.delays));
        }
        s
    }
}

/// The last round a delay may name (`probesim run --delay`, `explore --window`): a script holds every round up to
/// its last delay, so a far one would be a large allocation; a million rounds is far past any patch window.
pub const MAX_DELAY_ROUND: usize = 1_000_000;

/// Checks `delays` against a machine of `cpus` CPUs: each names a CPU it has and a round up to [`MAX_DELAY_ROUND`].
///
/// # Errors
/// The first delay that does not, in words.
pub fn check_delays(cpus: usize, delays: &[Delay]) -> Result<(), String> {
    for d in delays {
        if d.cpu >= cpus {
            return Err(format!("{d}: the machine has CPUs 0..{cpus}, no cpu {}", d.cpu));
        }
        if d.round > MAX_DELAY_ROUND {
            return Err(format!("{d}: rounds past {MAX_DELAY_ROUND} are not delayed (docs/limits.md)"));
        }
    }
    Ok(())
}

/// The script of round-robin rounds with `delays` applied: lost turns left out of their round, cut turns as
/// `cuts` (round-robin after the last delayed round).
#[must_use]
pub fn delay_script(cpus: usize, delays: &[Delay]) -> ScheduleScriptSpec {
    let lost = |round: usize, cpu: usize| delays.iter().any(|d| d.round == round && d.cpu == cpu && d.cut.is_none());
    let last = delays.iter().filter(|d| d.cut.is_none()).map(|d| d.round + 1).max().unwrap_or(0);
    let rounds = (0..last).map(|r| (0..cpus).filter(|&c| !lost(r, c)).collect()).collect();
    let cuts = delays.iter().filter_map(|d| Some([d.round as u64, d.cpu as u64, d.cut?])).collect();
    ScheduleScriptSpec { rounds, quanta: Vec::new(), cuts }
}

/// Why delay-bounded schedules could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum DelayError {
    /// The base run could not be prepared.
    #[error(transparent)]
    Scenario(Box<ScenarioError>),
    /// The base run patches no text, so there is no window to put delays in.
    #[error("the round-robin run patches no text (no stop_machine or text write): give the rounds with --window A..B")]
    NoPatchWindow,
    /// More schedules than the bound allows.
    #[error("{count} schedules with at most {k} delays in rounds {from}..{to} on {cpus} CPUs, more than --max-schedules {max}: narrow --window or lower --delays")]
    TooMany {
        /// How many there would be.
        count: u128,
        /// The delay bound.
        k: usize,
        /// The window.
        from: usize,
        /// Its end (excluded).
        to: usize,
        /// CPUs.
        cpus: usize,
        /// The bound.
        max: usize,
    },
}

impl From<ScenarioError> for DelayError {
    fn from(e: ScenarioError) -> DelayError {
        DelayError::Scenario(Box::new(e))
    }
}

/// The rounds of the round-robin run of `scenario` (with `quantum`) in which the kernel patches text: from the first
/// `stop_machine` step or text write to the last, as scheduler rounds.
///
/// # Errors
/// If the scenario cannot be prepared, or patches nothing.
pub fn patch_window(scenario: &Scenario, quantum: u64) -> Result<std::ops::Range<usize>, DelayError> {
    use kernel_model::event::EventKind;
    let base = ScheduleChoice::seeded(Schedule::RoundRobin, 0, quantum, false).apply(scenario);
    let cpus = base.spec.machine.cpus.max(1);
    let report = runner::run_scenario(base)?;
    let rounds: Vec<usize> = report
        .log
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Stopper { .. }
                    | EventKind::StopMachineState { .. }
                    | EventKind::PatchCb { .. }
                    | EventKind::InsnPatch { .. }
                    | EventKind::TextWrite { .. }
            )
        })
        // Turns count from 1, a whole round-robin round is `cpus` turns.
        .filter_map(|e| report.log.turn_of(e.seq))
        .map(|t| usize::try_from(t.saturating_sub(1)).unwrap_or(usize::MAX) / cpus)
        .collect();
    match (rounds.iter().min(), rounds.iter().max()) {
        (Some(&a), Some(&b)) => Ok(a..b + 1),
        _ => Err(DelayError::NoPatchWindow),
    }
}

/// Every schedule with at most `k` delays in `window` (round-robin with `quantum` otherwise), the undelayed one
/// first, then by number of delays and lexicographically. The delays of one schedule are on different turns; a
/// turn's delay is its loss or, for each length in `cuts`, its cut to that length. At most
/// `sum over i ≤ k of C(rounds × cpus × (1 + cuts), i)` schedules.
///
/// # Errors
/// If that bound is more than `max`.
pub fn delay_schedules(
    cpus: usize,
    quantum: u64,
    window: std::ops::Range<usize>,
    cuts: &[u64],
    k: usize,
    max: usize,
) -> Result<Vec<ScheduleChoice>, DelayError> {
    let kinds: Vec<Option<u64>> = std::iter::once(None).chain(cuts.iter().filter(|&&l| l >= 1 && l < quantum).map(|&l| Some(l))).collect();
    // Counted before anything is built: a huge window is refused, not allocated.
    let n = (window.len() as u128).saturating_mul(cpus as u128).saturating_mul(kinds.len() as u128);
    let mut count: u128 = 1;
    let mut c: u128 = 1; // C(n, i)
    for i in 1..=(k as u128).min(n) {
        c = c.saturating_mul(n + 1 - i) / i;
        count = count.saturating_add(c);
    }
    if count > max as u128 {
        return Err(DelayError::TooMany { count, k, from: window.start, to: window.end, cpus, max });
    }
    let points: Vec<Delay> = window
        .clone()
        .flat_map(|round| (0..cpus).map(move |cpu| (round, cpu)))
        .flat_map(|(round, cpu)| kinds.iter().map(move |&cut| Delay { round, cpu, cut }))
        .collect();
    let mut out = vec![ScheduleChoice::delayed(quantum, Vec::new())];
    // Combinations of `points`, by size; two delays of one turn are one too many.
    let mut idx: Vec<usize> = Vec::new();
    for size in 1..=k.min(points.len()) {
        idx.clear();
        idx.extend(0..size);
        loop {
            let delays: Vec<Delay> = idx.iter().map(|&i| points[i]).collect();
            if delays.windows(2).all(|w| (w[0].round, w[0].cpu) != (w[1].round, w[1].cpu)) {
                out.push(ScheduleChoice::delayed(quantum, delays));
            }
            // Next combination: the rightmost index that can move, moves; the ones after it follow it.
            let Some(pos) = (0..size).rev().find(|&p| idx[p] < points.len() - size + p) else { break };
            idx[pos] += 1;
            for q in pos + 1..size {
                idx[q] = idx[q - 1] + 1;
            }
        }
    }
    Ok(out)
}

/// A property every run must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// The run ends as the scenario expects: no unexpected oops, errno, BPF fault or budget exhaustion, and every
    /// `expect_*` holds (`Report::failure`).
    RunAsExpected,
    /// The calls return what they return without probes under the same schedule (the same multiset of values:
    /// probes shift timing, so which call gets which value may differ, but no value may appear or vanish).
    CallsAsUnprobed,
    /// While the master writes in `__aarch64_insn_write`, no other CPU executes the text being written. In this
    /// model the only guest code a CPU inside `multi_cpu_stop` runs is `stop_machine_yield`'s function: a CPU not
    /// yet in the callback whose pc is in that function, while the write lands in the same function, breaks it.
    /// (5.10's first-CPU master allows it; v5.18's "Fixup last cpu should be master" closed it.)
    NoExecutionOfTextBeingPatched,
}

impl Invariant {
    /// Every built-in invariant.
    pub const ALL: [Invariant; 3] =
        [Invariant::RunAsExpected, Invariant::CallsAsUnprobed, Invariant::NoExecutionOfTextBeingPatched];

    /// Its name on the command line and in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Invariant::RunAsExpected => "run-as-expected",
            Invariant::CallsAsUnprobed => "calls-as-unprobed",
            Invariant::NoExecutionOfTextBeingPatched => "no-execution-of-text-being-patched",
        }
    }
}

/// A broken invariant in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which.
    pub invariant: Invariant,
    /// What happened, in one line.
    pub detail: String,
}

/// The result of one schedule.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The schedule.
    pub choice: ScheduleChoice,
    /// The trace's fingerprint (`EventLog::hash`).
    pub hash: String,
    /// Virtual time at the end.
    pub vtime: u64,
    /// Invariants it broke.
    pub violations: Vec<Violation>,
}

/// Everything an exploration found.
#[derive(Clone, Debug)]
pub struct Exploration {
    /// One outcome per schedule, in the order the schedules were given.
    pub runs: Vec<RunOutcome>,
}

impl Exploration {
    /// Runs grouped by trace: hash → indices into `runs`, in schedule order.
    #[must_use]
    pub fn by_trace(&self) -> BTreeMap<&str, Vec<usize>> {
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.runs.iter().enumerate() {
            groups.entry(r.hash.as_str()).or_default().push(i);
        }
        groups
    }

    /// The first run (in schedule order) that broke an invariant.
    #[must_use]
    pub fn first_violation(&self) -> Option<&RunOutcome> {
        self.runs.iter().find(|r| !r.violations.is_empty())
    }
}

/// The scenario with every probe, BPF program and expectation on them removed: what the calls return "without
/// probes". Tasks, actions that are not probe operations and the machine stay as they are.
#[must_use]
pub fn unprobed(scenario: &Scenario) -> Scenario {
    let mut s = scenario.clone();
    s.spec.kprobes.clear();
    s.spec.kretprobes.clear();
    s.spec.bpf.clear();
    s.spec.expect_kprobe.clear();
    s.spec.expect_stacktrace.clear();
    s.spec.tracefs.clear();
    s.spec.expect_tracefs.clear();
    s.spec.actions.retain(|a| a.unregister_kprobe.is_none() && a.disable_kprobe.is_none() && a.enable_kprobe.is_none());
    s
}

/// Every arm64 patch write (`InsnPatch`, the master in `__aarch64_insn_write`) paired with each other CPU that had
/// not yet entered `aarch64_insn_patch_text_cb` then, and that CPU's guest pc: the window 5.10's first-CPU master
/// leaves open (`museum`'s symptom and [`Invariant::NoExecutionOfTextBeingPatched`] both read it).
pub fn writes_before_all_arrive(
    r: &Report,
) -> impl Iterator<Item = (&sim::event_log::Event, &[kernel_model::KernelVa], kernel_model::CpuId, &kernel_model::event::SymAddr)> {
    use kernel_model::event::{EventKind, PatchCpuAt};
    r.log.events().iter().flat_map(|e| {
        let (addrs, cpus): (&[kernel_model::KernelVa], &[kernel_model::event::PatchCpu]) = match &e.kind {
            EventKind::InsnPatch { text_addrs, cpus, .. } => (text_addrs, cpus),
            _ => (&[], &[]),
        };
        cpus.iter().filter_map(move |c| match &c.at {
            PatchCpuAt::NotYet { pc } if c.cpu != e.cpu => Some((e, addrs, c.cpu, pc)),
            _ => None,
        })
    })
}

/// [`Invariant::NoExecutionOfTextBeingPatched`] over a run's log: the first write another CPU was executing.
fn text_being_patched_executed(scenario: &Scenario, r: &Report) -> Option<String> {
    let name = scenario.spec.machine.stop_machine_yield.as_deref()?;
    let f = r.kallsyms.lookup_name(name)?;
    let inside = |a: kernel_model::KernelVa| a.0 >= f.addr.0 && a.0 < f.addr.0 + f.size.max(1);
    writes_before_all_arrive(r).find_map(|(e, addrs, cpu, pc)| {
        let written = addrs.iter().copied().find(|a| inside(*a))?;
        inside(pc.addr).then(|| {
            format!(
                "event {}: cpu{} writes {written} ({}) while cpu{cpu} executes {} outside aarch64_insn_patch_text_cb",
                e.seq,
                e.cpu,
                r.kallsyms.format_short(written),
                pc.sym
            )
        })
    })
}

fn sorted_returns(r: &Report) -> Vec<Option<u64>> {
    let mut v: Vec<Option<u64>> = r.summary.calls.iter().map(|c| c.ret).collect();
    v.sort_unstable();
    v
}

/// Runs one schedule and checks `invariants` on it.
///
/// # Errors
/// If the scenario cannot be prepared (bad input): the same error for every schedule.
pub fn run_one(scenario: &Scenario, choice: ScheduleChoice, invariants: &[Invariant]) -> Result<RunOutcome, ScenarioError> {
    let report = runner::run_scenario(choice.apply(scenario))?;
    let violations = check(scenario, &report, invariants, Some(&choice))?;
    Ok(RunOutcome { choice, hash: report.log.hash(), vtime: report.summary.vtime, violations })
}

/// Checks `invariants` on a finished run of `scenario` (`choice`: the schedule the unprobed baseline uses; `None`
/// runs the baseline as the scenario itself is scheduled).
///
/// # Errors
/// If the unprobed baseline cannot be prepared.
pub fn check(
    scenario: &Scenario,
    report: &Report,
    invariants: &[Invariant],
    choice: Option<&ScheduleChoice>,
) -> Result<Vec<Violation>, ScenarioError> {
    let mut violations = Vec::new();
    for inv in invariants {
        match inv {
            Invariant::RunAsExpected => {
                if let Some(f) = report.failure() {
                    violations.push(Violation { invariant: *inv, detail: f });
                }
            }
            Invariant::NoExecutionOfTextBeingPatched => {
                if let Some(detail) = text_being_patched_executed(scenario, report) {
                    violations.push(Violation { invariant: *inv, detail });
                }
            }
            Invariant::CallsAsUnprobed => {
                let base = unprobed(scenario);
                let base = runner::run_scenario(choice.map_or(base.clone(), |c| c.apply(&base)))?;
                let (got, want) = (sorted_returns(report), sorted_returns(&base));
                if got != want {
                    let show = |v: &[Option<u64>]| {
                        v.iter().map(|r| r.map_or("killed".to_string(), |x| format!("{x:#x}"))).collect::<Vec<_>>().join(",")
                    };
                    violations.push(Violation {
                        invariant: *inv,
                        detail: format!("calls returned [{}], without probes [{}]", show(&got), show(&want)),
                    });
                }
            }
        }
    }
    Ok(violations)
}

/// Runs every schedule (in parallel; the result is in schedule order and does not depend on thread timing).
///
/// # Errors
/// The first preparation error, if the scenario is bad input.
pub fn explore(scenario: &Scenario, choices: &[ScheduleChoice], invariants: &[Invariant]) -> Result<Exploration, ScenarioError> {
    let runs: Result<Vec<RunOutcome>, ScenarioError> =
        choices.par_iter().map(|c| run_one(scenario, c.clone(), invariants)).collect();
    Ok(Exploration { runs: runs? })
}

/// A violating schedule shrunk to few choice points, ready to be written out as a scenario.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The schedule: replaying it (then round-robin) still breaks the invariant.
    pub script: ScheduleScriptSpec,
    /// The quantum the replay falls back to after the script.
    pub quantum: u64,
    /// What the shrunk run broke.
    pub violation: Violation,
    /// Choice points (rounds not in CPU order, quanta not of the default length) before and after shrinking.
    pub choice_points: (usize, usize),
    /// Runs the shrinking took.
    pub runs: usize,
}

/// The scenario replaying `script`, falling back to round-robin with `quantum` after it.
#[must_use]
pub fn scripted(scenario: &Scenario, script: &ScheduleScriptSpec, quantum: u64) -> Scenario {
    let mut s = scenario.clone();
    let m = &mut s.spec.machine;
    m.schedule = Schedule::RoundRobin;
    m.quantum = quantum;
    m.quantum_jitter = false;
    s.spec.schedule_script = Some(script.clone());
    s
}

fn choice_points(script: &ScheduleScriptSpec, quantum: u64) -> usize {
    let rounds = script.rounds.iter().filter(|r| !r.iter().copied().eq(0..r.len())).count();
    rounds + script.quanta.iter().filter(|&&q| q != quantum).count()
}

/// Shrinks the schedule `choice`, which breaks `invariant`, to a script with as few choice points as `max_runs`
/// replays find: shortest prefixes of rounds and quanta (round-robin after them), then every round put back in
/// CPU order and every quantum back to its default length where the violation survives it.
///
/// # Errors
/// If the scenario cannot be prepared.
pub fn shrink(
    scenario: &Scenario,
    choice: &ScheduleChoice,
    invariant: Invariant,
    max_runs: usize,
) -> Result<Option<Counterexample>, ScenarioError> {
    let recorded = runner::run_scenario_recorded(choice.apply(scenario))?;
    let full = ScheduleScriptSpec::from_script(&recorded.summary.schedule.clone().unwrap_or_default());
    let q = choice.quantum;
    let runs = std::cell::Cell::new(0usize);
    let violates = |script: &ScheduleScriptSpec| -> Result<Option<Violation>, ScenarioError> {
        runs.set(runs.get() + 1);
        let s = scripted(scenario, script, q);
        let report = runner::run_scenario(s.clone())?;
        Ok(check(&s, &report, &[invariant], None)?.into_iter().next())
    };
    let Some(mut violation) = violates(&full)? else { return Ok(None) };
    let before = choice_points(&full, q);
    let mut best = full;
    // Shortest prefix of rounds, then of quanta (binary search: a prefix that still breaks it is kept).
    for which in [0, 1] {
        let len = |s: &ScheduleScriptSpec| if which == 0 { s.rounds.len() } else { s.quanta.len() };
        let (mut lo, mut hi) = (0, len(&best));
        while lo < hi && runs.get() < max_runs {
            let mid = (lo + hi) / 2;
            let mut cand = best.clone();
            if which == 0 {
                cand.rounds.truncate(mid);
            } else {
                cand.quanta.truncate(mid);
            }
            match violates(&cand)? {
                Some(v) => {
                    hi = mid;
                    best = cand;
                    violation = v;
                }
                None => lo = mid + 1,
            }
        }
    }
    // Each remaining choice point back to the default, latest first, where the violation survives.
    for i in (0..best.rounds.len()).rev() {
        let n = best.rounds[i].len();
        if runs.get() >= max_runs || best.rounds[i].iter().copied().eq(0..n) {
            continue;
        }
        let mut cand = best.clone();
        cand.rounds[i] = (0..n).collect();
        if let Some(v) = violates(&cand)? {
            best = cand;
            violation = v;
        }
    }
    for i in (0..best.quanta.len()).rev() {
        if runs.get() >= max_runs || best.quanta[i] == q {
            continue;
        }
        let mut cand = best.clone();
        cand.quanta[i] = q;
        if let Some(v) = violates(&cand)? {
            best = cand;
            violation = v;
        }
    }
    let after = choice_points(&best, q);
    Ok(Some(Counterexample { script: best, quantum: q, violation, choice_points: (before, after), runs: runs.get() }))
}

/// The scenario file `original` (its TOML text) with the counterexample's schedule, as `probesim run` replays it.
/// Relative paths stay valid when the file is written to the same directory; `absolute_paths` makes image and
/// BPF object paths absolute (resolved against `base`, the original's directory) for a file written elsewhere.
///
/// # Errors
/// If `original` is not TOML (it parsed once as a scenario, so this is not expected).
pub fn counterexample_toml(
    original: &str,
    cx: &Counterexample,
    found_by: &str,
    absolute_paths: Option<&std::path::Path>,
) -> Result<String, toml::de::Error> {
    let mut doc: toml::Table = toml::from_str(original)?;
    let desc = doc.get("description").and_then(|d| d.as_str()).unwrap_or("").trim().to_string();
    doc.insert(
        "description".into(),
        toml::Value::String(format!(
            "Counterexample found by `{found_by}` and shrunk ({} → {} choice points): {}: {}\n\nThe original scenario:\n{desc}\n",
            cx.choice_points.0,
            cx.choice_points.1,
            cx.violation.invariant.name(),
            cx.violation.detail
        )),
    );
    if let Some(toml::Value::Table(m)) = doc.get_mut("machine") {
        m.insert("schedule".into(), toml::Value::String("round-robin".into()));
        m.insert("quantum".into(), toml::Value::Integer(i64::try_from(cx.quantum).unwrap_or(i64::MAX)));
        m.insert("quantum_jitter".into(), toml::Value::Boolean(false));
    }
    if let Some(base) = absolute_paths {
        let abs = |v: &mut toml::Value| {
            if let Some(p) = v.as_str() {
                *v = toml::Value::String(base.join(p).display().to_string());
            }
        };
        if let Some(toml::Value::Array(elfs)) = doc.get_mut("image").and_then(|i| i.get_mut("elf")) {
            elfs.iter_mut().for_each(abs);
        }
        if let Some(toml::Value::Array(bpfs)) = doc.get_mut("bpf") {
            for b in bpfs {
                if let Some(o) = b.get_mut("object") {
                    abs(o);
                }
            }
        }
    }
    let script = toml::Value::try_from(&cx.script).expect("a script serialises");
    doc.insert("schedule_script".into(), script);
    Ok(toml::to_string(&doc).expect("a TOML table serialises"))
}
