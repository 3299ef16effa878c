//! The timeline HTML in a real browser: headless Chromium (Debian's `chromium`, which `.ci/run` installs) loads
//! the seed scenario's timeline, runs its script, and the DOM it dumps must have every CPU lane and the key events.
//! On a developer machine without Chromium the test says so and passes; under CI (`CI` set) a missing browser fails.

use probesim::{runner, timeline};
use std::path::Path;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
}

#[test]
fn seed_timeline_renders_in_chromium() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI must have Chromium (.ci/run installs it)");
        println!("browser test: no Chromium on this machine, not run");
        return;
    };
    let report = runner::run_file(Path::new("scenarios/seed000-clone-arm64.toml")).expect("seed scenario runs");
    let t = timeline::Timeline::build(&report.log, &report.kallsyms, 8);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let html = dir.join("seed000-timeline.html");
    std::fs::write(&html, timeline::render_html(&t, "seed000")).expect("writes the HTML");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("chromium-profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("Chromium runs");
    assert!(out.status.success(), "Chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    for cpu in 0..8 {
        assert!(dom.contains(&format!("class=\"lane\" data-cpu=\"{cpu}\"")), "lane of CPU{cpu} missing from the DOM");
    }
    for kind in ["insn_patch", "brk-hit", "brk-flow", "patch_master", "patch_waiter", "stopper", "singlestep", "bpf_run"] {
        assert!(dom.contains(&format!("data-kind=\"{kind}\"")), "no {kind} element in the DOM");
    }
    assert!(dom.len() > 50_000, "the DOM is suspiciously small ({} bytes)", dom.len());
    println!("browser test: {} rendered the seed timeline ({} bytes of DOM)", browser, dom.len());
}
