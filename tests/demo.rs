//! `probesim demo` (the README's first command): the seed's story on one screen, naming the timeline it wrote.

use std::process::Command;

#[test]
fn the_demo_fits_one_screen_and_names_the_timeline_it_wrote() {
    let html = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-timeline.html");
    let _ = std::fs::remove_file(&html);
    let out = Command::new(env!("CARGO_BIN_EXE_probesim"))
        .args(["demo", "--html"])
        .arg(&html)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("probesim runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines = text.lines().count();
    assert!(lines <= 40, "the demo prints {lines} lines, more than a screen:\n{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 200), "a line is wider than a wide terminal:\n{text}");
    // The story's landmarks: both patch windows, the BRK, the hit chain, the BPF program's output.
    for want in [
        "the out-of-line slot {insn, BRK #6}",
        "d503245f (hint #0x22)  ->  d4200080 (brk #0x4)",
        "kprobe_breakpoint_handler -> kprobe_dispatcher -> kprobe_perf_func -> trace_call_bpf",
        "(21 hits, 0 missed)",
        "bpf_trace_printk: Here is YourLand!",
    ] {
        assert!(text.contains(want), "the demo does not show `{want}`:\n{text}");
    }
    assert!(text.contains(&html.display().to_string()), "the demo does not name its timeline file:\n{text}");
    let page = std::fs::read_to_string(&html).expect("the timeline file was written");
    assert!(page.contains("<svg"), "the timeline file has no drawing");
}
