//! Determinism is a contract: the same scenario gives a bit-identical event log, run after run; another seed gives
//! another interleaving.

use probesim::runner;
use probesim::scenario::Scenario;
use std::collections::BTreeSet;
use std::path::Path;

fn demo() -> Scenario {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    Scenario::load(Path::new("scenarios/demo-clone-arm64.toml")).expect("demo scenario parses")
}

#[test]
fn twenty_runs_one_hash() {
    let hashes: BTreeSet<String> =
        (0..20).map(|_| runner::run_scenario(demo()).expect("demo runs").log.hash()).collect();
    assert_eq!(hashes.len(), 1, "the demo gave {} different logs in 20 runs", hashes.len());
}

#[test]
fn another_seed_another_interleaving() {
    let with_seed = |seed: u64| {
        let mut s = demo();
        s.spec.machine.schedule = probesim::scenario::Schedule::Shuffle;
        s.spec.machine.seed = seed;
        s.spec.machine.quantum = 3;
        let r = runner::run_scenario(s).expect("demo runs");
        let pids: Vec<(u32, Option<u64>)> = r.summary.calls.iter().map(|c| (c.pid, c.ret)).collect();
        (r.log.hash(), pids)
    };
    let (h1, p1) = with_seed(1);
    let (h1_again, _) = with_seed(1);
    let (h2, p2) = with_seed(2);
    assert_eq!(h1, h1_again, "same seed, same log");
    assert_ne!(h1, h2, "another seed must interleave differently");
    assert_ne!(p1, p2, "and here the interleaving decides which task gets which pid");
}
