//! The command line as a filter: a reader that closes the pipe early (`probesim run … | head`) ends probesim quietly.

use std::process::{Command, Stdio};

/// `print!` to a closed pipe panicked ("failed printing to stdout: Broken pipe", status 101). Now: status 0, nothing
/// on stderr. The scenario prints ~100 KiB, more than a pipe buffers, so a write fails whatever the timing.
#[test]
fn closed_stdout_ends_quietly() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/limits/cpus-128-arm64.toml");
    for format in ["text", "json"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_probesim"))
            .args(["run", scenario, "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("probesim starts");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("probesim ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: stderr: {stderr}");
        assert!(stderr.is_empty(), "{format}: stderr: {stderr}");
    }
}

/// `--summary` prints the footer the full text view ends with, and nothing before it.
#[test]
fn summary_is_the_footer_of_the_full_report() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/tutorial/ebpf-author-arm64.toml");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_probesim")).arg("run").arg(scenario).args(extra).output().expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let (full, summary) = (run(&[]), run(&["--summary"]));
    assert!(summary.starts_with("# calls:\n"), "{summary}");
    assert!(full.ends_with(&summary), "the summary is not the full report's footer");
    assert!(summary.lines().all(|l| l.starts_with('#')), "{summary}");
    assert!(summary.contains("# end: completed at vtime"), "{summary}");
}
