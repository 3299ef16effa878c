//! bpftrace one-liners (scenarios/bpftrace/*.bt) compiled to eBPF, verified, attached and run on both ISAs'
//! machine (scenarios/bpftrace/mydrv-{arm64,x86_64}.toml): one insta snapshot per program with what
//! `probesim trace SCENARIO -f FILE` prints for each ISA. Programs under errors/ must fail (to compile, in the
//! verifier or to attach), with bpftrace's error text; every other one must run without a failure (a verifier
//! refusal, a BPF fault, …).

use probesim::bpftrace::{trace, TraceOptions};
use probesim::scenario::Scenario;
use std::fmt::Write as _;
use std::path::Path;

const MACHINES: &[&str] = &["scenarios/bpftrace/mydrv-arm64.toml", "scenarios/bpftrace/mydrv-x86_64.toml"];

fn render(path: &Path, failures: &mut Vec<String>) -> String {
    let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path);
    let src = std::fs::read_to_string(rel).expect("readable program");
    let want_error = rel.components().any(|c| c.as_os_str() == "errors");
    let mut out = String::new();
    for machine in MACHINES {
        let scenario = Scenario::load(Path::new(machine)).expect("the machine scenario loads");
        let t = trace(scenario, &src, &rel.display().to_string(), &TraceOptions::default()).expect("the scenario runs");
        let _ = writeln!(out, "$ probesim trace {machine} -f {}", rel.display());
        out.push_str(&t.stdout);
        if let Some(e) = &t.error {
            let _ = writeln!(out, "[stderr]");
            out.push_str(e);
        }
        if want_error != t.error.is_some() {
            failures.push(format!("{} on {machine}: error {:?}", rel.display(), t.error));
        }
    }
    out
}

#[test]
fn one_liners() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let mut failures = Vec::new();
    insta::glob!("../scenarios/bpftrace", "**/*.bt", |path| {
        insta::assert_snapshot!(render(path, &mut failures));
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
