//! A unit test of a kprobe BPF program: what it prints, how often it ran, what the probed function returned,
//! on both kernel profiles. `cargo insta review` (or `INSTA_UPDATE=always`) accepts a change of output.

use probesim::prelude::*;
use std::path::Path;

fn scenario() -> Scenario {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&dir.join("mydrv.toml")).expect("the scenario loads")
}

#[test]
fn the_program_prints_one_line_per_call_and_return() {
    let report = run(scenario()).expect("the scenario runs");
    report.expect_ok().expect("nothing unexpected happened");
    // pid 100 runs on CPU 0 and its twin pid 101 on CPU 1 (`cpus = [0, 1]`): one good request each.
    assert_eq!(report.returns_of(100), [Some(10)]);
    assert_eq!(report.returns_of(200), [Some(-22_i64 as u64)]);
    assert_eq!(report.kprobe("p_mydrv_submit_0").map(|k| (k.nhit, k.nmissed)), Some((4, 0)));
    insta::assert_snapshot!(report.trace_pipe_lines().join("\n"));
}

#[test]
fn the_output_is_the_same_on_5_10() {
    let mut s = scenario();
    s.spec.machine.kernel = KernelProfile::V5_10;
    let report = run(s).expect("the scenario runs");
    report.expect_ok().expect("nothing unexpected happened");
    let lines = report.trace_pipe_lines();
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert!(lines.iter().any(|l| l.ends_with("bpf_trace_printk: submit returned -22")), "{lines:#?}");
}
