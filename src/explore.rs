//! Schedule exploration: one scenario run under many schedules (seeded shuffles, quantum jitter, quanta), in
//! parallel, grouped by trace hash, with invariants checked on every run.
//!
//! Every run is still a deterministic function of its scenario: a schedule is just a `[machine]` override
//! ([`ScheduleChoice`]), so any run `explore` reports can be replayed with `probesim run` and the same overrides.

use crate::runner::{self, Report};
use crate::scenario::{Schedule, Scenario, ScenarioError};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// One schedule: the `[machine]` settings that decide the interleaving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleChoice {
    /// Round-robin or shuffled rounds.
    pub schedule: Schedule,
    /// The seed of the shuffle and of the jitter.
    pub seed: u64,
    /// Instructions per quantum.
    pub quantum: u64,
    /// Whether each quantum's length is drawn from `1..=quantum`.
    pub jitter: bool,
}

impl ScheduleChoice {
    /// The schedule as `probesim run` overrides spell it.
    #[must_use]
    pub fn as_args(&self) -> String {
        let name = match self.schedule {
            Schedule::RoundRobin => "round-robin",
            Schedule::Shuffle => "shuffle",
        };
        let jitter = if self.jitter { " --jitter" } else { "" };
        format!("--schedule {name} --seed {} --quantum {}{jitter}", self.seed, self.quantum)
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
        s
    }
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
}

impl Invariant {
    /// Every built-in invariant.
    pub const ALL: [Invariant; 2] = [Invariant::RunAsExpected, Invariant::CallsAsUnprobed];

    /// Its name on the command line and in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Invariant::RunAsExpected => "run-as-expected",
            Invariant::CallsAsUnprobed => "calls-as-unprobed",
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
    s.spec.actions.retain(|a| a.unregister_kprobe.is_none() && a.disable_kprobe.is_none() && a.enable_kprobe.is_none());
    s
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
    let mut violations = Vec::new();
    for inv in invariants {
        match inv {
            Invariant::RunAsExpected => {
                if let Some(f) = report.failure() {
                    violations.push(Violation { invariant: *inv, detail: f });
                }
            }
            Invariant::CallsAsUnprobed => {
                let base = runner::run_scenario(choice.apply(&unprobed(scenario)))?;
                let (got, want) = (sorted_returns(&report), sorted_returns(&base));
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
    Ok(RunOutcome { choice, hash: report.log.hash(), vtime: report.summary.vtime, violations })
}

/// Runs every schedule (in parallel; the result is in schedule order and does not depend on thread timing).
///
/// # Errors
/// The first preparation error, if the scenario is bad input.
pub fn explore(scenario: &Scenario, choices: &[ScheduleChoice], invariants: &[Invariant]) -> Result<Exploration, ScenarioError> {
    let runs: Result<Vec<RunOutcome>, ScenarioError> =
        choices.par_iter().map(|c| run_one(scenario, *c, invariants)).collect();
    Ok(Exploration { runs: runs? })
}
