//! The debugger views at a chosen event, replayed deterministically: at the 5.10 master's first write in the seed
//! scenario, seven CPUs spin in `aarch64_insn_patch_text_cb`, the master is in `__aarch64_insn_write`, and the
//! patch struct on the registering task's stack reads as seed 000's `dt`/`dd` did.

use probesim::scenario::Scenario;
use probesim::{runner, views};
use std::path::Path;

#[test]
fn views_at_the_masters_write() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let scenario = Scenario::load(Path::new("scenarios/seed000-clone-arm64.toml")).expect("seed scenario parses");
    let full = runner::run_scenario(scenario.clone()).expect("seed runs");
    let sel: views::Selector = "write:1".parse().expect("selector parses");
    let event = views::find_event(&full.log, &sel).expect("a master write").clone();
    let turn = full.log.turn_of(event.seq).expect("event has a turn");
    let (_, mut machine, kernel) = runner::run_scenario_until(scenario, Some(turn)).expect("replay runs");
    let shown = views::render_views(&mut machine, &kernel, &event, &views::parse_views("kn,dt,dd").expect("views"));
    assert!(shown.contains("+0x014 cpu_count       : 8"), "{shown}");
    assert!(shown.contains("d503245f d42000c0"), "the insns[] array beside the struct: {shown}");
    assert_eq!(shown.matches("  00 lk!aarch64_insn_patch_text_cb").count(), 7, "seven CPUs spin in the callback");
    assert_eq!(shown.matches("  00 lk!__aarch64_insn_write").count(), 1, "one master writes");
    insta::assert_snapshot!(shown);
}

#[test]
fn selectors_parse_and_reject() {
    assert_eq!("event:3".parse::<views::Selector>(), Ok(views::Selector::Event(3)));
    assert_eq!("hit:2:kp".parse::<views::Selector>(), Ok(views::Selector::Hit(2, Some("kp".into()))));
    assert!("write:0".parse::<views::Selector>().is_err());
    assert!("nonsense".parse::<views::Selector>().is_err());
    assert!(views::parse_views("u,zz").is_err());
}

#[test]
fn x86_views_decode_whole_and_print_plainly() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let scenario = Scenario::load(Path::new("scenarios/bpf-on-int3-x86_64-6.12.toml")).expect("x86 scenario parses");
    let full = runner::run_scenario(scenario.clone()).expect("x86 scenario runs");
    let sel: views::Selector = "hit:1".parse().expect("selector parses");
    assert_eq!(sel.to_string(), "hit:1", "messages quote the selector in its own syntax");
    assert!(views::find_event(&full.log, &"hit:2".parse().expect("parses")).is_none(), "one hit only");
    let event = views::find_event(&full.log, &sel).expect("a hit").clone();
    let turn = full.log.turn_of(event.seq).expect("event has a turn");
    let (_, mut machine, kernel) = runner::run_scenario_until(scenario, Some(turn)).expect("replay runs");
    let shown = views::render_views(&mut machine, &kernel, &event, &views::parse_views("u,r,dt").expect("views"));
    assert!(!shown.contains("(bad)"), "the u view decodes its last instruction whole: {shown}");
    assert_eq!(shown.matches("eflags").count(), 1, "eflags once, decoded: {shown}");
    assert!(shown.contains("eflags=0x00000202 [IF]"), "{shown}");
    assert!(shown.contains("symbol_name     : kprobe_target\n"), "no Debug text: {shown}");
    assert!(!shown.contains("Some("), "no Debug text: {shown}");
}
