//! `probesim demo`: seed 000's story on one screen — a kprobe on `__arm64_sys_clone` patched under `stop_machine`
//! on 8 arm64 CPUs running Linux 5.10, its hits, the hello BPF program's `trace_pipe` lines — and where to look next.

use crate::runner::{self, Report};
use kernel_model::event::EventKind;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The scenario the demo runs (seed 000, `BCC`'s HelloYourLand.py).
const SCENARIO: &str = "scenarios/seed000-clone-arm64.toml";

/// Arguments of `demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to write the HTML timeline.
    #[arg(long, value_name = "FILE", default_value = "target/probesim-demo/seed000.html")]
    pub html: PathBuf,
}

/// Runs the demo scenario and prints its story.
pub fn demo(args: &DemoArgs) -> ExitCode {
    // The scenario lives in the repository; run from anywhere inside it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = if Path::new(SCENARIO).exists() { PathBuf::from(SCENARIO) } else { root.join(SCENARIO) };
    let report = match runner::run_file(&scenario) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    if let Some(msg) = report.failure() {
        eprintln!("probesim: {msg}");
        return ExitCode::from(1);
    }
    let t = crate::timeline::Timeline::build(&report.log, &report.kallsyms, report.scenario.spec.machine.cpus);
    let html = crate::timeline::render_html(&t, SCENARIO);
    if let Some(dir) = args.html.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return super::fail(format!("{}: cannot create: {e}", dir.display()));
        }
    }
    if let Err(e) = std::fs::write(&args.html, html) {
        return super::fail(format!("{}: cannot write: {e}", args.html.display()));
    }
    use std::io::Write as _;
    // A closed pipe (`| head`) ends the output quietly.
    let _ = std::io::stdout().write_all(story(&report, &args.html).as_bytes());
    ExitCode::SUCCESS
}

/// The demo's text: what happened, in the order the kernel did it, with the figures of this run.
fn story(r: &Report, html: &Path) -> String {
    let m = &r.scenario.spec.machine;
    let mut out = String::new();
    let _ = writeln!(out, "probesim demo: seed 000, BCC's HelloYourLand.py on {} arm64 CPUs, Linux {}", m.cpus, m.kernel);
    let _ = writeln!(out, "  ({SCENARIO}: CPUs 0-6 call __arm64_sys_clone in a loop; CPU7 loads hello.bpf.o)\n");

    let patches: Vec<_> = r
        .log
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::InsnPatch { text_addrs, new_insns, insn_cnt, cpu_count, .. } => {
                Some((e, text_addrs.clone(), new_insns.clone(), *insn_cnt, *cpu_count))
            }
            _ => None,
        })
        .collect();
    let mut seen = Vec::new();
    let mut step = 1;
    for (e, addrs, insns, cnt, cpu_count) in &patches {
        if seen.contains(addrs) {
            continue;
        }
        seen.push(addrs.clone());
        let what = if *cnt == 2 {
            "register_kprobe: the out-of-line slot {insn, BRK #6}"
        } else {
            "arm_kprobe: BRK #4 over the probed instruction"
        };
        let words: Vec<String> = insns.iter().map(|i| format!("{i:08x}")).collect();
        let at: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "{step}. {what}, written under stop_machine");
        let _ = writeln!(
            out,
            "   t={:<5} cpu{} (master) __aarch64_insn_write [{}] <- [{}], cpu_count={cpu_count}",
            e.vtime.0,
            e.cpu,
            at.join(", "),
            words.join(", ")
        );
        step += 1;
    }
    if let Some(p) = r.kprobes.first() {
        let before = instruction_at(&r.disasm_before, p.addr);
        let after = instruction_at(&r.disasm_after, p.addr);
        if let (Some(b), Some(a)) = (before, after) {
            let _ = writeln!(out, "   {}: {b}  ->  {a}", p.addr);
        }
    }
    let chain = r.log.events().iter().find_map(|e| match &e.kind {
        EventKind::Call { frames } if frames.last().is_some_and(|f| f == "trace_call_bpf") => Some(frames.join(" -> ")),
        _ => None,
    });
    if let Some(p) = r.kprobes.first() {
        let _ = writeln!(out, "{step}. every later call takes the debug exception ({} hits, {} missed):", p.nhit, p.nmissed);
        if let Some(c) = chain {
            let _ = writeln!(out, "   {c}");
        }
        let _ = writeln!(out, "   then steps the original instruction out of line from slot {}", p.ainsn.slot.map_or("-".into(), |s| s.to_string()));
        step += 1;
    }
    let runs = r.log.events().iter().filter(|e| matches!(e.kind, EventKind::BpfRun { .. })).count();
    let lines: Vec<&str> = r.trace_pipe.iter().flat_map(|l| l.lines()).filter(|l| !l.trim().is_empty()).collect();
    let _ = writeln!(out, "{step}. the hello program ran {runs} times; cat trace_pipe:");
    for l in lines.iter().take(3) {
        let _ = writeln!(out, "   {}", l.trim_start());
    }
    if lines.len() > 3 {
        let _ = writeln!(out, "   … {} more", lines.len() - 3);
    }
    let rets: Vec<u64> = r.summary.calls.iter().filter_map(|c| c.ret).collect();
    if let (Some(lo), Some(hi)) = (rets.iter().min(), rets.iter().max()) {
        let _ = writeln!(
            out,
            "\n{} calls of __arm64_sys_clone returned pids {lo}..={hi}, each once; the run took {} virtual ticks.",
            rets.len(),
            r.summary.vtime
        );
    }
    let _ = writeln!(out, "Same inputs, same trace: log sha256 {}", r.log.hash());
    let _ = writeln!(out, "\nLook next:");
    let _ = writeln!(out, "  the timeline   {} (open it in a browser)", html.display());
    let _ = writeln!(out, "  in a terminal  ./probesim run {SCENARIO} --timeline");
    let _ = writeln!(out, "  the BRK write  ./probesim run {SCENARIO} --at write:3 --show u,kn,dd");
    let _ = writeln!(out, "  every event    ./probesim run {SCENARIO}");
    let _ = writeln!(out, "  more stories   ls scenarios/ (docs/scenarios.md says how to write one)");
    out
}

/// The disassembly text of the instruction at `addr` in a `render_function` listing (`ADDR WORD  MNEMONIC…`).
fn instruction_at(listing: &str, addr: kernel_model::KernelVa) -> Option<String> {
    let key = format!("{:016x}", addr.0);
    let line = listing.lines().find(|l| l.starts_with(&key))?;
    let rest = line[key.len()..].trim();
    let (word, insn) = rest.split_once(char::is_whitespace)?;
    Some(format!("{word} ({})", insn.trim()))
}
