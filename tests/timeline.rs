//! The multi-CPU timeline (issue 6): the model built from seed 000's log, and its three renderings.

use kernel_model::event::{EventKind, HitStep};
use probesim::runner::{self, Report};
use probesim::timeline::{self, kind, Category, Timeline};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SEED: &str = "scenarios/seed000-clone-arm64.toml";
/// arm64 `BRK #4` (KPROBES_BRK_IMM), the word the master writes over `__arm64_sys_clone`.
const BRK4: &str = "d4200080";

fn run(path: &str) -> Report {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    runner::run_file(Path::new(path)).expect("scenario runs")
}

fn timeline_of(r: &Report) -> Timeline {
    Timeline::build(&r.log, &r.kallsyms, r.scenario.spec.machine.cpus)
}

#[test]
fn seed_has_a_lane_per_cpu_and_the_masters_write() {
    let r = run(SEED);
    let t = timeline_of(&r);
    assert_eq!(t.lanes.len(), 8);
    assert_eq!(t.lanes.iter().map(|l| l.cpu).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
    // The master's writes: `insn_patch` instants (the slot's two words, then BRK #4), all on the master CPU.
    let patches = t.instants_of(kind::INSN_PATCH);
    assert!(patches.len() >= 2, "insn_patch instants: {}", patches.len());
    let masters: Vec<&timeline::Span> = t.spans_of(Category::PatchMaster);
    assert_eq!(masters.len(), 2, "one master per stop_machine");
    for p in &patches {
        assert!(
            masters.iter().any(|m| m.cpu == p.cpu && m.start <= p.vtime && p.vtime <= m.end),
            "insn_patch outside the master's span"
        );
    }
    assert!(t.instants_of(kind::TEXT_WRITE).iter().any(|i| i.event.text.ends_with(BRK4)));
    // Two stop_machine windows, each with a stopper on every CPU and seven waiters spinning.
    assert_eq!(t.windows.len(), 2);
    for w in &t.windows {
        let stoppers: BTreeSet<usize> = t
            .spans_of(Category::Stopper)
            .iter()
            .filter(|s| w.start <= s.start && s.end <= w.end)
            .map(|s| s.cpu)
            .collect();
        assert_eq!(stoppers.len(), 8, "stoppers in {}", w.label);
        let waiters = t.spans_of(Category::PatchWaiter).iter().filter(|s| w.start <= s.start && s.end <= w.end).count();
        assert_eq!(waiters, 7, "waiters in {}", w.label);
        assert!(w.label.contains("aarch64_insn_patch_text_cb"), "{}", w.label);
    }
    assert!(t.windows[1].patches.iter().any(|p| p.contains("__arm64_sys_clone") && p.contains(BRK4)));
    // The stop states each CPU went through, nested in its stopper.
    let states: BTreeSet<&str> = t.spans_of(Category::StopState).iter().map(|s| s.label.as_str()).collect();
    for s in ["MULTI_STOP_PREPARE", "MULTI_STOP_DISABLE_IRQ", "MULTI_STOP_RUN"] {
        assert!(states.contains(s), "{s} missing from {states:?}");
    }
    // Tasks, kprobe handling and single-steps are spans too.
    assert_eq!(t.spans_of(Category::Task).len(), 28, "7 tasks x 4 calls");
    assert_eq!(t.spans_of(Category::Handler).len(), 21);
    assert_eq!(t.spans_of(Category::SingleStep).len(), 21);
    assert_eq!(t.spans_of(Category::Register).len(), 1);
    assert!(
        t.lanes[0].tasks.contains(&"bash-3109".to_string()) && t.lanes[0].tasks.contains(&"migration/0".to_string())
    );
}

#[test]
fn seed_flows_from_the_brk_write_to_hits_on_six_cpus() {
    let r = run(SEED);
    let t = timeline_of(&r);
    let brk4: Vec<&timeline::Flow> = t.flows.iter().filter(|f| f.from.text.ends_with(BRK4)).collect();
    let hit_cpus: BTreeSet<usize> = brk4.iter().map(|f| f.to_cpu).collect();
    assert!(hit_cpus.len() >= 6, "BRK #4 flows reach {hit_cpus:?}");
    for f in &brk4 {
        assert_ne!(f.from_cpu, f.to_cpu);
        assert!(f.from.seq < f.to.seq && f.from.vtime <= f.to.vtime);
        assert_eq!(f.to.kind, "trap");
        assert!(f.label.starts_with("BRK #0x4 written by CPU"), "{}", f.label);
        // The arrow ends at the first BRK hit of that CPU at that address.
        let first = t.lanes[f.to_cpu].instants.iter().find(|i| i.kind == kind::BRK_HIT && i.event.seq > f.from.seq);
        assert_eq!(first.map(|i| i.event.seq), Some(f.to.seq));
    }
    // Counters agree with the kernel's own nhit / nmissed.
    let nhit: u64 = r.kprobes.iter().map(|p| p.nhit).sum();
    let nmissed: u64 = r.kprobes.iter().map(|p| p.nmissed).sum();
    assert_eq!(t.totals(), (nhit, nmissed));
    assert_eq!(nhit, 21);
}

#[test]
fn kunit_missed_counts_misses() {
    let r = run("scenarios/kunit/test_kprobe_missed.toml");
    let t = timeline_of(&r);
    assert_eq!(t.totals(), (1, 2));
    assert_eq!(t.spans_of(Category::Missed).len(), 2);
    assert_eq!(t.instants_of(kind::KPROBE_MISS).len(), 2);
    assert_eq!(t.spans_of(Category::HandlerCall).len(), 2);
}

fn perfetto_json(t: &Timeline) -> Value {
    serde_json::from_str(&timeline::render_perfetto(t)).expect("perfetto output is JSON")
}

/// Checks the trace-event JSON: a thread per CPU, properly nested `X` slices per thread, matched flows.
fn check_perfetto(v: &Value, cpus: usize) -> (usize, usize) {
    let events = v["traceEvents"].as_array().expect("traceEvents array");
    let names: BTreeMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| (e["tid"].as_u64().expect("tid"), e["args"]["name"].as_str().expect("name").to_string()))
        .collect();
    assert_eq!(names.len(), cpus);
    for cpu in 0..cpus {
        assert!(names.values().any(|n| *n == format!("CPU {cpu}")), "no thread named CPU {cpu}");
    }
    assert!(events.iter().any(|e| e["ph"] == "M" && e["name"] == "process_name" && e["args"]["name"] == "probesim"));
    // X slices on one thread nest: sorted by (ts, -dur), each either inside or after the previous open ones.
    let mut by_tid: BTreeMap<u64, Vec<(i64, i64)>> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let ns = |k: &str| (e[k].as_f64().expect("number") * 1000.0).round() as i64;
        by_tid.entry(e["tid"].as_u64().expect("tid")).or_default().push((ns("ts"), ns("ts") + ns("dur")));
    }
    for (tid, mut xs) in by_tid {
        xs.sort_by_key(|&(a, b)| (a, std::cmp::Reverse(b)));
        let mut stack: Vec<i64> = Vec::new();
        for (a, b) in xs {
            while stack.last().is_some_and(|&end| end <= a) {
                stack.pop();
            }
            if let Some(&end) = stack.last() {
                assert!(b <= end, "tid {tid}: slice {a}..{b} crosses its parent's end {end}");
            }
            stack.push(b);
        }
    }
    let ids = |ph: &str| -> BTreeSet<u64> {
        events.iter().filter(|e| e["ph"] == ph).map(|e| e["id"].as_u64().expect("flow id")).collect()
    };
    let (s, f) = (ids("s"), ids("f"));
    assert_eq!(s, f, "every flow start has its finish");
    assert_eq!(ids("b"), ids("e"), "every async begin has its end");
    (s.len(), events.iter().filter(|e| e["ph"] == "C").count())
}

#[test]
fn perfetto_trace_parses_with_threads_flows_and_counters() {
    let r = run(SEED);
    let t = timeline_of(&r);
    let v = perfetto_json(&t);
    let (flows, counters) = check_perfetto(&v, 8);
    assert_eq!(flows, t.flows.len());
    assert!(flows >= 6);
    assert!(counters >= 22, "a zero sample and one per hit");
    let events = v["traceEvents"].as_array().expect("array");
    // Timestamps: µs, 1 tick = 1 ns: the BRK #4 text_write at vtime 532 is at ts 0.532.
    let w = events
        .iter()
        .find(|e| {
            e["ph"] == "i" && e["cat"] == "text_write" && e["args"]["text"].as_str().is_some_and(|s| s.ends_with(BRK4))
        })
        .expect("the BRK write instant");
    assert_eq!(w["ts"].as_f64(), Some(w["args"]["vtime"].as_f64().expect("vtime") / 1000.0));
    assert!(events.iter().any(|e| e["ph"] == "b" && e["cat"] == "stop_machine"));
    assert!(events.iter().any(|e| e["ph"] == "i" && e["s"] == "g" && e["name"] == "MULTI_STOP_RUN"));
    let last = events.iter().rfind(|e| e["ph"] == "C").expect("counter");
    assert_eq!(last["args"]["nhit"], 21);
}

#[test]
fn html_is_self_contained_with_lanes_and_key_events() {
    let r = run(SEED);
    let t = timeline_of(&r);
    let html = timeline::render_html(&t, "seed 000: __arm64_sys_clone <kprobe> & stop_machine");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<g class=\"lane\" data-cpu=\"").count(), 8);
    for cpu in 0..8 {
        assert!(html.contains(&format!("<g class=\"lane\" data-cpu=\"{cpu}\"")), "lane {cpu}");
    }
    for needle in [
        "data-kind=\"insn_patch\"",
        "data-kind=\"brk-hit\"",
        "data-kind=\"text_write\"",
        "class=\"flow\"",
        "class=\"window\"",
        "data-kind=\"patch_master\"",
        "data-kind=\"patch_waiter\"",
        "data-kind=\"stopper\"",
        "data-kind=\"stop_state\"",
        "data-kind=\"singlestep\"",
        "class=\"counter\"",
        "data-tip=\"",
        "<script>",
        "addEventListener('wheel'",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert_eq!(html.matches("class=\"flow\"").count(), t.flows.len());
    // The title is escaped.
    assert!(html.contains("&lt;kprobe&gt; &amp; stop_machine"));
    // Nothing fetched: the only URL is the SVG namespace.
    let svg_ns = "http://www.w3.org/2000/svg";
    assert_eq!(html.matches("http").count(), html.matches(svg_ns).count());
    assert_eq!(html.matches(svg_ns).count(), 2, "the timeline and its mini-map");
    for tag in ["<link", "src=", "@import", "url(http", "fetch(", "XMLHttpRequest"] {
        assert!(!html.contains(tag), "{tag} in the HTML");
    }
}

#[test]
fn terminal_rendering_has_a_row_per_cpu() {
    let r = run(SEED);
    let t = timeline_of(&r);
    let plain = timeline::render_terminal(&t, 100, false);
    assert!(!plain.contains('\x1b'));
    let rows: Vec<&str> = plain.lines().filter(|l| l.starts_with("CPU")).collect();
    assert_eq!(rows.len(), 8, "{plain}");
    for row in &rows {
        assert!(row.chars().count() <= 100, "{row}");
        assert!(row.contains('S'), "every CPU runs its stopper: {row}");
    }
    assert!(rows[0].contains('M'), "the master's write on CPU0: {}", rows[0]);
    assert!(rows[1..7].iter().all(|r| r.contains('B')), "BRK hits on CPU1..6");
    assert!(plain.contains("\nlegend ") && plain.contains("flows"));
    let coloured = timeline::render_terminal(&t, 100, true);
    assert!(coloured.contains("\x1b["));
}

#[test]
fn renderings_are_deterministic() {
    let render = || {
        let r = run(SEED);
        let t = timeline_of(&r);
        (timeline::render_html(&t, "seed"), timeline::render_perfetto(&t), timeline::render_terminal(&t, 120, true))
    };
    assert!(render() == render(), "two runs rendered differently");
}

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("readable").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            scenario_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_scenario_renders() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let mut files = Vec::new();
    scenario_files(Path::new("scenarios"), &mut files);
    assert!(files.len() > 5);
    for path in files {
        let Ok(r) = runner::run_file(&path) else { continue }; // bad-input scenarios
        let cpus = r.scenario.spec.machine.cpus;
        let t = timeline_of(&r);
        assert_eq!(t.lanes.len(), cpus, "{}", path.display());
        check_perfetto(&perfetto_json(&t), cpus);
        let html = timeline::render_html(&t, &path.display().to_string());
        assert_eq!(html.matches("<g class=\"lane\" data-cpu=\"").count(), cpus, "{}", path.display());
        // The counters count breakpoint hits as the log shows them (an aggregate probe's hit counts once here,
        // and once in each child's nhit).
        let count = |f: &dyn Fn(&HitStep) -> bool| {
            r.log.events().iter().filter(|e| matches!(&e.kind, EventKind::KprobeHit { step, .. } if f(step))).count()
                as u64
        };
        let hits = count(&HitStep::is_handler_entry);
        let misses = count(&|s| matches!(s, HitStep::ReenterMissed { .. }));
        assert_eq!(t.totals(), (hits, misses), "{}", path.display());
        if r.kprobes.len() <= 1 {
            let nhit: u64 = r.kprobes.iter().map(|p| p.nhit).sum();
            let nmissed: u64 = r.kprobes.iter().map(|p| p.nmissed).sum();
            assert_eq!(t.totals(), (nhit, nmissed), "{}", path.display());
        }
        let _ = timeline::render_terminal(&t, 80, false);
    }
}

/// The timeline reads typed events; it never re-derives meaning from an event's text (issue 10's criterion:
/// `grep -n 'starts_with\|strip_prefix' src/timeline` finds nothing).
#[test]
fn the_timeline_parses_no_event_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/timeline");
    // Every file under src/timeline, subdirectories included (builder/tests.rs).
    let mut files = Vec::new();
    let mut dirs = vec![dir];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("src/timeline exists") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 3);
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        for needle in ["starts_with(", "strip_prefix(", "strip_suffix("] {
            assert!(!text.contains(needle), "{} uses {needle}: match on the typed event instead", path.display());
        }
    }
}

#[test]
fn x86_text_pokes_are_named_as_x86_and_the_legend_lists_only_this_runs_kinds() {
    let r = run("scenarios/text-poke-bp-x86_64.toml");
    let m = &r.scenario.spec.machine;
    let t = Timeline::build(&r.log, &r.kallsyms, m.cpus).with_isa(m.isa);
    let term = timeline::render_terminal(&t, 100, false);
    assert!(term.contains("M text write (text_poke / text_poke_bp)"), "{term}");
    assert!(!term.contains("aarch64"), "an x86 run's timeline names arm64 code: {term}");
    assert!(!term.contains("stop_machine window") && !term.contains("DISABLE_IRQ"), "legend lists absent kinds: {term}");
    let html = timeline::render_html(&t, "x86");
    assert!(html.contains("text write (text_poke / text_poke_bp)"));
    assert!(!html.contains("aarch64") && !html.contains("data-legend=\"patch_master\""), "x86 legend names arm64 kinds");
    assert!(html.contains("data-legend=\"brk-hit\"") && html.contains("data-legend=\"task\""));
}

#[test]
fn terminal_range_and_width() {
    let r = run(SEED);
    let t = Timeline::build(&r.log, &r.kallsyms, r.scenario.spec.machine.cpus);
    let range = timeline::terminal::Range { from: Some(470), to: Some(720) };
    let out = timeline::terminal::render_terminal_range(&t, 60, false, range);
    assert!(out.contains("showing vtime 470..720"), "{out}");
    let cpu0 = out.lines().find(|l| l.starts_with("CPU0 ")).expect("a CPU0 row");
    assert_eq!(cpu0.chars().count(), 60 - 1, "CPU0 row fills the width: {cpu0:?}");
    assert!(out.lines().find(|l| l.starts_with("vtime")).is_some_and(|l| l.chars().count() == 59));
    assert!(out.lines().any(|l| l.trim_start().starts_with("470")), "the axis starts at --from: {out}");
    // The master's write at 532 is inside the range; the first window (vtime ~140..230) is not drawn.
    assert!(cpu0.contains('M'), "{cpu0}");
    let patch = out.lines().find(|l| l.starts_with("patch")).expect("patch row");
    assert!(patch.contains('2') && !patch.contains('1'), "only window #2 is in range: {patch}");
}
