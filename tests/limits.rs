//! Resource bounds of docs/limits.md, checked from outside: the biggest machine runs inside a 24 GiB address space.

use std::process::Command;

/// 128 CPUs (the most a machine has) run under `ulimit -v 24 GiB`. Before each Unicorn instance's translator buffer
/// was bounded (`sim::uc::TCG_BUFFER_SIZE`), 64 CPUs reserved 64 GiB and Unicorn's C code exited with "Could not
/// allocate dynamic translator buffer".
#[test]
fn cpus_128_run_in_24_gib_of_address_space() {
    let exe = env!("CARGO_BIN_EXE_probesim");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/limits/cpus-128-arm64.toml");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" run \"$1\"", 24 * 1024 * 1024))
        .arg(exe)
        .arg(scenario)
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "status {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# end: completed"), "{stdout}");
}
