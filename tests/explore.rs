//! `probesim explore`: schedules are `[machine]` overrides, runs are replayable, invariants catch what they claim.

use probesim::explore::{self, Invariant, ScheduleChoice};
use probesim::runner;
use probesim::scenario::{Schedule, Scenario};
use std::path::Path;

fn load(rel: &str) -> Scenario {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    Scenario::load(Path::new(rel)).expect("scenario parses")
}

fn shuffles(n: u64, quantum: u64) -> Vec<ScheduleChoice> {
    (0..n).map(|seed| ScheduleChoice::seeded(Schedule::Shuffle, seed, quantum, true)).collect()
}

#[test]
fn every_explored_schedule_replays_bit_for_bit_and_exploring_is_deterministic() {
    let s = load("scenarios/stop-machine-yield-5.10.toml");
    let choices = shuffles(12, s.spec.machine.quantum);
    // (5.10 lets a CPU run text being patched here: that invariant is the next test's.)
    let inv = [Invariant::RunAsExpected, Invariant::CallsAsUnprobed];
    let a = explore::explore(&s, &choices, &inv).expect("runs");
    let b = explore::explore(&s, &choices, &inv).expect("runs");
    let hashes = |e: &explore::Exploration| e.runs.iter().map(|r| r.hash.clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&a), hashes(&b), "the same schedules gave different traces");
    assert!(a.by_trace().len() > 1, "12 shuffled, jittered schedules gave one trace: the schedule is not applied");
    for r in &a.runs {
        let replay = runner::run_scenario(r.choice.apply(&s)).expect("replays");
        assert_eq!(replay.log.hash(), r.hash, "{} does not replay", r.choice.as_args());
        assert!(r.violations.is_empty(), "{}: {:?}", r.choice.as_args(), r.violations);
    }
}

#[test]
fn calls_as_unprobed_catches_a_handler_that_changes_a_result() {
    // test_kprobe's probe, whose pre-handler (at entry, where x0 is the argument) changes kprobe_target's argument
    // from 1234 to 3000: the call returns 3000/3 = 1000, where without the probe it returns 1234/3 = 411.
    let mut s = load("scenarios/kunit/test_kprobe.toml");
    let clean = explore::run_one(&s, shuffles(1, 50)[0].clone(), &Invariant::ALL).expect("runs");
    assert!(clean.violations.is_empty(), "{:?}", clean.violations);
    let text = std::fs::read_to_string("scenarios/kunit/test_kprobe.toml").expect("readable").replace(
        r#"pre = [{ call = "kprobe_recursed_target", args = [1234] }]"#,
        r#"pre = [{ set_reg = { reg = "x0", value = 3000 } }]"#,
    );
    s = Scenario::parse(Path::new("scenarios/kunit/test_kprobe.toml"), &text).expect("parses");
    let bad = explore::run_one(&s, shuffles(1, 50)[0].clone(), &[Invariant::CallsAsUnprobed]).expect("runs");
    assert_eq!(bad.violations.len(), 1, "{:?}", bad.violations);
    assert_eq!(bad.violations[0].detail, "calls returned [0x3e8], without probes [0x19b]");
}

#[test]
fn five_ten_first_cpu_master_writes_text_another_cpu_runs_and_six_twelve_never_does() {
    let inv = [Invariant::NoExecutionOfTextBeingPatched];
    let old = load("scenarios/stop-machine-yield-5.10.toml");
    let new = load("scenarios/stop-machine-yield-6.12.toml");
    let choices = shuffles(24, old.spec.machine.quantum);
    let found = explore::explore(&old, &choices, &inv).expect("runs");
    let bad = found.first_violation().expect("5.10's first-CPU master lets a CPU run the text being written");
    assert!(bad.violations[0].detail.contains("executes cpu_relax_loop+"), "{}", bad.violations[0].detail);
    let fixed = explore::explore(&new, &choices, &inv).expect("runs");
    assert!(fixed.first_violation().is_none(), "6.12's last-CPU master: {:?}", fixed.first_violation());

    // The first violation shrinks to a script that still breaks it, and the scenario written out replays it.
    let cx = explore::shrink(&old, &bad.choice, inv[0], 300).expect("runs").expect("the recorded schedule reproduces it");
    assert!(cx.choice_points.1 < cx.choice_points.0, "shrinking removed no choice point: {:?}", cx.choice_points);
    let original = std::fs::read_to_string("scenarios/stop-machine-yield-5.10.toml").expect("readable");
    let text = explore::counterexample_toml(&original, &cx, "test", None).expect("TOML");
    let replay = Scenario::parse(Path::new("scenarios/stop-machine-yield-5.10.counterexample.toml"), &text).expect("parses");
    let report = runner::run_scenario(replay.clone()).expect("runs");
    let v = explore::check(&replay, &report, &inv, None).expect("checks");
    assert_eq!(v.len(), 1, "the written counterexample does not reproduce the violation");
    assert_eq!(v[0].detail, cx.violation.detail);
}

/// Delay-bounded schedules: all ≤ K-delay perturbations of round-robin in a window, each replayable with
/// `probesim run --delay`, the undelayed one first.
#[test]
fn delay_bounded_schedules_are_every_perturbation_of_the_window_and_replay() {
    use explore::Delay;
    let s = load("scenarios/stop-machine-yield-6.12.toml");
    let (cpus, q) = (s.spec.machine.cpus, s.spec.machine.quantum);
    let window = explore::patch_window(&s, q).expect("the round-robin run patches text");
    assert!(!window.is_empty());
    let points = window.len() * cpus;
    let one = explore::delay_schedules(cpus, q, window.clone(), &[], 1, 100_000).expect("bounded");
    assert_eq!(one.len(), 1 + points);
    assert!(one[0].delays.is_empty());
    let two = explore::delay_schedules(cpus, q, window.clone(), &[], 2, 100_000).expect("bounded");
    assert_eq!(two.len(), 1 + points + points * (points - 1) / 2);
    // With a cut length each turn has two ways to be delayed; two delays of one turn are never combined.
    let cut = explore::delay_schedules(cpus, q, window.clone(), &[3], 2, 100_000).expect("bounded");
    assert_eq!(cut.len(), 1 + 2 * points + 4 * points * (points - 1) / 2);
    assert!(explore::delay_schedules(cpus, q, window.clone(), &[], 2, 10).is_err(), "the bound is not enforced");

    // A lost turn and a cut change the trace, and `probesim run --delay` spells what explore ran.
    let picked = [&one[1 + points / 2], &cut[2 + points]];
    let inv = [Invariant::RunAsExpected];
    for c in picked {
        let r = explore::run_one(&s, (*c).clone(), &inv).expect("runs");
        let replay = runner::run_scenario(c.apply(&s)).expect("replays");
        assert_eq!(replay.log.hash(), r.hash);
        for d in &c.delays {
            assert_eq!(d.to_string().parse::<Delay>().expect("parses"), *d);
        }
    }
    let base = explore::run_one(&s, one[0].clone(), &inv).expect("runs");
    let lost = explore::run_one(&s, one[1 + points / 2].clone(), &inv).expect("runs");
    assert_ne!(base.hash, lost.hash, "a lost turn inside the patch window changed nothing: delays are not applied");
    assert!("3:1:0".parse::<Delay>().is_err() && "3".parse::<Delay>().is_err() && "a:1".parse::<Delay>().is_err());
}

/// The replay line `explore` prints is a `probesim run` command line that gives the same trace, also when it has
/// to turn the scenario's own `quantum_jitter = true` off (`--no-jitter`) or take turns away (`--delay`).
#[test]
fn the_printed_replay_command_gives_the_same_trace() {
    let path = "scenarios/stop-machine-yield-6.12.toml";
    let s = load(path);
    assert!(s.spec.machine.quantum_jitter, "the scenario must jitter for this test to mean something");
    let q = s.spec.machine.quantum;
    let window = explore::patch_window(&s, q).expect("patches");
    let delayed = explore::delay_schedules(s.spec.machine.cpus, q, window, &[4], 1, 100_000).expect("bounded");
    for c in [ScheduleChoice::seeded(Schedule::Shuffle, 5, q, false), delayed[3].clone(), delayed[8].clone()] {
        let want = explore::run_one(&s, c.clone(), &[]).expect("runs").hash;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_probesim"))
            .arg("run")
            .arg(path)
            .args(c.as_args().split(' '))
            .arg("--hash")
            .output()
            .expect("probesim runs");
        assert!(out.status.success(), "{}: {}", c.as_args(), String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "probesim run {path} {}", c.as_args());
    }
}

/// Delays from the command line are bounded before anything is built: a CPU the machine lacks or a far round is an
/// error naming it, a huge window is counted and refused, not allocated.
#[test]
fn delays_out_of_range_are_refused_not_allocated() {
    use explore::{check_delays, Delay};
    let d = |round, cpu| Delay { round, cpu, cut: None };
    assert!(check_delays(4, &[d(3, 1), d(1_000_000, 3)]).is_ok());
    assert!(check_delays(4, &[d(3, 4)]).unwrap_err().contains("no cpu 4"));
    assert!(check_delays(4, &[d(4_000_000_000, 0)]).unwrap_err().contains("rounds past 1000000"));
    let huge = explore::delay_schedules(8, 10, 0..usize::MAX, &[1, 2, 3], 2, 20_000);
    assert!(matches!(huge, Err(explore::DelayError::TooMany { .. })), "{huge:?}");
}
