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
