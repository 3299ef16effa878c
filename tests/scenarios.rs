//! The data-driven harness: every `scenarios/**/*.toml` is run and its readable trace (or its error) is kept as an
//! insta snapshot. Every run must pass (what went wrong in it expected by its `expect_*` tables); input errors are
//! kept as snapshots of their message. A scenario that shows wrong behaviour today is snapshotted as it is, with a
//! FIXME in its description; none is ever skipped.

use probesim::runner;
use std::path::Path;
use std::sync::Mutex;

/// Runs that failed, and scenarios outside scenarios/errors/ that were refused: reported together at the end.
static FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn fail(msg: String) {
    FAILURES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(msg);
}

fn render(path: &Path) -> String {
    let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path);
    match runner::run_file(rel) {
        // Every run must pass: what went wrong in it (an errno, an oops, a BPF fault, the budget) must be expected
        // by its `expect_*` tables, and those must hold. Scenarios under scenarios/errors/ show failing runs by
        // expecting what they show.
        Ok(report) => {
            if let Some(f) = report.failure() {
                fail(f);
            }
            report.to_text()
        }
        // Bad input is refused before the run; scenarios/errors/ keeps each message as a snapshot.
        Err(e) => {
            if !rel.starts_with("scenarios/errors") {
                fail(e.to_string());
            }
            format!("# ERROR: {e}\n")
        }
    }
}

#[test]
fn scenarios() {
    // insta's glob runs relative to this file; scenario paths in messages are made relative to the repo root.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    insta::glob!("../scenarios", "**/*.toml", |path| {
        insta::assert_snapshot!(render(path));
    });
    let failures = std::mem::take(&mut *FAILURES.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    assert!(failures.is_empty(), "{} scenario(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// The other half of the judging: every run under scenarios/errors/ passes only because it expects what went wrong.
/// Stripped of those expectations (errnos, oopses, BPF refusals and faults, a task left running by the budget), each
/// must fail, with a one-line reason.
#[test]
fn errors_fail_unless_expected() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let mut runs = 0;
    let mut entries: Vec<_> = std::fs::read_dir("scenarios/errors").expect("scenarios/errors exists").flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let Ok(mut scenario) = probesim::scenario::Scenario::load(&path) else { continue };
        let spec = &mut scenario.spec;
        spec.expect_oops.clear();
        spec.expect_bpf.clear();
        spec.expect_kprobe.retain(|e| e.registered.as_ref().is_none_or(|r| r.as_integer() == Some(0)));
        for e in &mut spec.expect_calls {
            e.unfinished = false;
        }
        spec.expect_calls.retain(|e| !e.returns.is_empty());
        let Ok(report) = runner::run_scenario(scenario) else { continue };
        runs += 1;
        let failure = report.failure();
        assert!(failure.is_some(), "{}: passes without expecting its error", path.display());
        assert!(!failure.is_some_and(|f| f.contains('\n')), "{}: the reason is one line", path.display());
    }
    assert!(runs >= 10, "only {runs} runs under scenarios/errors/");
}

/// A run whose registration returns an errno the scenario does not expect fails with one line naming the probe and
/// the errno (what `probesim run` prints on stderr before exiting 1).
#[test]
fn unexpected_errno_is_one_line_naming_the_probe() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let text = r#"
[machine]
isa = "aarch64"
cpus = 1
[image]
elf = ["../fixtures/arm64-probe-targets/arm64-probe-targets.o"]
[[bpf]]
name = "count"
attach = "kprobe/op_doubel"
asm = "mov %r0, 0\nexit\n"
"#;
    let scenario = probesim::scenario::Scenario::parse(Path::new("scenarios/typo.toml"), text).expect("valid");
    let report = runner::run_scenario(scenario).expect("runs");
    assert_eq!(
        report.failure().as_deref(),
        Some("scenarios/typo.toml: kprobe p_op_doubel_0: register_kprobe returned -ENOENT (-2)")
    );
}

/// A tracefs write that fails with an errno the scenario does not expect fails the run, in one line naming the
/// file and the errno; with its `[[expect_tracefs]]` the same run passes, and a wrong count is reported.
#[test]
fn unexpected_tracefs_errno_fails_the_run() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let path = std::path::Path::new("scenarios/tracefs/errors-x86_64-5.10.toml");
    let scenario = probesim::scenario::Scenario::load(path).expect("loads");
    let report = runner::run_scenario(scenario.clone()).expect("runs");
    assert_eq!(report.failure(), None);
    let mut bare = scenario.clone();
    bare.spec.expect_tracefs.clear();
    let failure = runner::run_scenario(bare).expect("runs").failure().expect("fails without its expectations");
    assert_eq!(
        failure,
        "scenarios/tracefs/errors-x86_64-5.10.toml: write to tracefs kprobe_events returned -ENOENT (-2)"
    );
    let mut wrong = scenario;
    wrong.spec.expect_tracefs[1].count = Some(2);
    let failure = runner::run_scenario(wrong).expect("runs").failure().expect("a wrong count fails");
    assert!(failure.ends_with("tracefs kprobe_events: expected 2 write(s) failing with -EINVAL, got 3"), "{failure}");
}
