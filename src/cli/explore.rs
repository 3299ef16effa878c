//! `probesim explore SCENARIO`: the scenario under many schedules, grouped by trace, invariants checked.

use crate::explore::{self, Invariant, ScheduleChoice};
use crate::scenario::{Scenario, Schedule};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Which schedules to generate for each seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A seeded shuffle of the CPU order every round.
    Shuffle,
    /// Round-robin order, each quantum's length drawn from 1..=quantum.
    Jitter,
    /// Both: shuffled order and jittered quanta.
    Both,
}

/// Arguments of `explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Seeds to run, `A..B` (B excluded) or a single count `N` (= `0..N`).
    #[arg(long, default_value = "0..64", value_parser = parse_seeds)]
    pub seeds: std::ops::Range<u64>,
    /// How each seed perturbs the schedule.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub mode: Mode,
    /// Quanta to try (comma-separated); default: the scenario's.
    #[arg(long, value_delimiter = ',')]
    pub quantum: Vec<u64>,
    /// How many distinct traces to list.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
}

fn parse_seeds(s: &str) -> Result<std::ops::Range<u64>, String> {
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| format!("`{t}` is not a seed number"));
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a >= b {
                return Err(format!("`{s}` is an empty range"));
            }
            Ok(a..b)
        }
        None => Ok(0..num(s)?.max(1)),
    }
}

/// Runs the exploration and prints what it found. Exit 0 if every run kept every invariant, 1 if one broke one,
/// 2 for bad input.
pub fn run(args: &ExploreArgs) -> ExitCode {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    let m = &scenario.spec.machine;
    let quanta = if args.quantum.is_empty() { vec![m.quantum] } else { args.quantum.clone() };
    if quanta.contains(&0) {
        return super::fail("--quantum: a quantum is at least 1 instruction");
    }
    let mut choices = Vec::new();
    for &quantum in &quanta {
        for seed in args.seeds.clone() {
            let (schedule, jitter) = match args.mode {
                Mode::Shuffle => (Schedule::Shuffle, false),
                Mode::Jitter => (Schedule::RoundRobin, true),
                Mode::Both => (Schedule::Shuffle, true),
            };
            choices.push(ScheduleChoice { schedule, seed, quantum, jitter });
        }
    }
    let found = match explore::explore(&scenario, &choices, &Invariant::ALL) {
        Ok(f) => f,
        Err(e) => return super::fail(e),
    };
    let groups = found.by_trace();
    let bad = found.runs.iter().filter(|r| !r.violations.is_empty()).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} schedules, {} distinct traces; invariants {}: {bad} runs broke one",
        args.scenario.display(),
        found.runs.len(),
        groups.len(),
        Invariant::ALL.map(Invariant::name).join(", ")
    );
    // Largest groups first; ties in hash order (deterministic).
    let mut listed: Vec<(&str, &Vec<usize>)> = groups.iter().map(|(h, v)| (*h, v)).collect();
    listed.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    for (hash, idx) in listed.iter().take(args.show) {
        let first = &found.runs[idx[0]];
        let verdict = if first.violations.is_empty() { "ok".to_string() } else { format!("BROKEN {}", first.violations[0].invariant.name()) };
        let _ = writeln!(out, "  {} ×{:<4} vtime {:<8} {verdict}  e.g. {}", &hash[..12], idx.len(), first.vtime, first.choice.as_args());
    }
    if listed.len() > args.show {
        let _ = writeln!(out, "  … {} more traces", listed.len() - args.show);
    }
    if let Some(r) = found.first_violation() {
        for v in &r.violations {
            let _ = writeln!(out, "first violation ({}): {}", v.invariant.name(), v.detail);
        }
        let _ = writeln!(out, "replay: probesim run {} {}", args.scenario.display(), r.choice.as_args());
    }
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(out.as_bytes());
    if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
