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
    (0..n).map(|seed| ScheduleChoice { schedule: Schedule::Shuffle, seed, quantum, jitter: true }).collect()
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
    let clean = explore::run_one(&s, shuffles(1, 50)[0], &Invariant::ALL).expect("runs");
    assert!(clean.violations.is_empty(), "{:?}", clean.violations);
    let text = std::fs::read_to_string("scenarios/kunit/test_kprobe.toml").expect("readable").replace(
        r#"pre = [{ call = "kprobe_recursed_target", args = [1234] }]"#,
        r#"pre = [{ set_reg = { reg = "x0", value = 3000 } }]"#,
    );
    s = Scenario::parse(Path::new("scenarios/kunit/test_kprobe.toml"), &text).expect("parses");
    let bad = explore::run_one(&s, shuffles(1, 50)[0], &[Invariant::CallsAsUnprobed]).expect("runs");
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
    let cx = explore::shrink(&old, bad.choice, inv[0], 300).expect("runs").expect("the recorded schedule reproduces it");
    assert!(cx.choice_points.1 < cx.choice_points.0, "shrinking removed no choice point: {:?}", cx.choice_points);
    let original = std::fs::read_to_string("scenarios/stop-machine-yield-5.10.toml").expect("readable");
    let text = explore::counterexample_toml(&original, &cx, "test", None).expect("TOML");
    let replay = Scenario::parse(Path::new("scenarios/stop-machine-yield-5.10.counterexample.toml"), &text).expect("parses");
    let report = runner::run_scenario(replay.clone()).expect("runs");
    let v = explore::check(&replay, &report, &inv, None).expect("checks");
    assert_eq!(v.len(), 1, "the written counterexample does not reproduce the violation");
    assert_eq!(v[0].detail, cx.violation.detail);
}
