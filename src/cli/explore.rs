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
    /// Systematic: every round-robin schedule with at most --delays delays (a CPU losing its turn in a round) in
    /// the patch window (or --window); --seeds is not used.
    Delays,
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
    /// Where to write the shrunk counterexample (default: target/probesim-explore/<scenario>.counterexample.toml).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Replays the shrinking may spend.
    #[arg(long, default_value_t = 300)]
    pub shrink_runs: usize,
    /// With --mode delays: the most delays per schedule.
    #[arg(long, default_value_t = 1)]
    pub delays: usize,
    /// With --mode delays: the scheduler rounds to put delays in, `A..B` (default: the rounds in which the
    /// round-robin run patches text).
    #[arg(long, value_name = "A..B", value_parser = parse_window)]
    pub window: Option<std::ops::Range<usize>>,
    /// With --mode delays: cut lengths (comma-separated, each < the quantum): besides losing its turn, a delayed
    /// turn may be cut to each of these many instructions (a preemption inside the quantum).
    #[arg(long, value_delimiter = ',')]
    pub cuts: Vec<u64>,
    /// With --mode delays: refuse to run more schedules than this.
    #[arg(long, default_value_t = 20_000)]
    pub max_schedules: usize,
}

fn parse_window(s: &str) -> Result<std::ops::Range<usize>, String> {
    let num = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("`{t}` is not a round number"));
    let (a, b) = s.split_once("..").ok_or_else(|| format!("`{s}`: a window is A..B (rounds, B excluded)"))?;
    let (a, b) = (num(a)?, num(b)?);
    if a >= b {
        return Err(format!("`{s}` is an empty range"));
    }
    if b > crate::explore::MAX_DELAY_ROUND + 1 {
        return Err(format!("`{s}`: rounds past {} are not delayed (docs/limits.md)", crate::explore::MAX_DELAY_ROUND));
    }
    Ok(a..b)
}

/// Shrinks the violating schedule and writes it out as a scenario; returns where.
fn write_counterexample(
    args: &ExploreArgs,
    scenario: &Scenario,
    choice: &ScheduleChoice,
    inv: Invariant,
) -> Result<Option<(PathBuf, explore::Counterexample)>, String> {
    let Some(cx) = explore::shrink(scenario, choice, inv, args.shrink_runs).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let stem = args.scenario.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    let path = args.write.clone().unwrap_or_else(|| {
        PathBuf::from("target/probesim-explore").join(format!("{stem}.counterexample.toml"))
    });
    let from = args.scenario.parent().unwrap_or(std::path::Path::new("."));
    let to = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let same_dir = std::fs::canonicalize(from).ok().zip(std::fs::canonicalize(to).ok()).is_some_and(|(a, b)| a == b);
    let base = if same_dir { None } else { Some(std::fs::canonicalize(from).map_err(|e| format!("{}: {e}", from.display()))?) };
    let original = std::fs::read_to_string(&args.scenario).map_err(|e| format!("{}: cannot read: {e}", args.scenario.display()))?;
    let found_by = format!("probesim explore {} {}", args.scenario.display(), choice.as_args());
    let text = explore::counterexample_toml(&original, &cx, &found_by, base.as_deref())
        .map_err(|e| format!("{}: {e}", args.scenario.display()))?;
    std::fs::create_dir_all(to).map_err(|e| format!("{}: cannot create: {e}", to.display()))?;
    std::fs::write(&path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    Ok(Some((path, cx)))
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
    let mut window_note = String::new();
    for &quantum in &quanta {
        if args.mode == Mode::Delays {
            let window = match args.window.clone() {
                Some(w) => w,
                None => match explore::patch_window(&scenario, quantum) {
                    Ok(w) => w,
                    Err(e) => return super::fail(format!("{}: {e}", args.scenario.display())),
                },
            };
            let _ = write!(window_note, " (quantum {quantum}: ≤ {} delays in rounds {}..{})", args.delays, window.start, window.end);
            match explore::delay_schedules(m.cpus, quantum, window, &args.cuts, args.delays, args.max_schedules) {
                Ok(c) => choices.extend(c),
                Err(e) => return super::fail(format!("{}: {e}", args.scenario.display())),
            }
            continue;
        }
        for seed in args.seeds.clone() {
            let (schedule, jitter) = match args.mode {
                Mode::Shuffle => (Schedule::Shuffle, false),
                Mode::Jitter => (Schedule::RoundRobin, true),
                Mode::Both | Mode::Delays => (Schedule::Shuffle, true),
            };
            choices.push(ScheduleChoice::seeded(schedule, seed, quantum, jitter));
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
        "{}: {} schedules{window_note}, {} distinct traces; invariants {}: {bad} runs broke one",
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
        let inv = r.violations[0].invariant;
        match write_counterexample(args, &scenario, &r.choice, inv) {
            Ok(Some((path, cx))) => {
                let _ = writeln!(
                    out,
                    "shrunk in {} replays: {} → {} choice points ({} rounds, {} quanta scripted): {}",
                    cx.runs,
                    cx.choice_points.0,
                    cx.choice_points.1,
                    cx.script.rounds.len(),
                    cx.script.quanta.len(),
                    cx.violation.detail
                );
                let _ = writeln!(out, "counterexample: {} (probesim run it; --timeline shows the race)", path.display());
            }
            Ok(None) => {
                let _ = writeln!(out, "the recorded schedule did not reproduce the violation (a bug: please report it)");
            }
            Err(e) => return super::fail(e),
        }
    }
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(out.as_bytes());
    if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
