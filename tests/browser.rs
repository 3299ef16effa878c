//! The timeline HTML in a real browser: headless Chromium (Debian's `chromium`, which `.ci/run` installs) loads
//! the seed scenario's timeline, runs its script, and the DOM it dumps must have every CPU lane and the key events,
//! the event list, and (state set through the URL fragment, as a shared link would) a selection highlighted in list
//! and graph, a search hiding the rows that do not match, two markers measuring 332 ns, the zoom to a selected event,
//! and CPU/kind filters dimming the graph.
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
    let dom = dump_dom(browser, dir, &html, "");
    for cpu in 0..8 {
        assert!(dom.contains(&format!("class=\"lane\" data-cpu=\"{cpu}\"")), "lane of CPU{cpu} missing from the DOM");
    }
    for kind in ["insn_patch", "brk-hit", "brk-flow", "patch_master", "patch_waiter", "stopper", "singlestep", "bpf_run", "bpf_prog"] {
        assert!(dom.contains(&format!("data-kind=\"{kind}\"")), "no {kind} element in the DOM");
    }
    assert!(dom.len() > 50_000, "the DOM is suspiciously small ({} bytes)", dom.len());
    // The legend lists only the kinds this run has: seed 000 has no missed hit and no kretprobe.
    assert!(dom.contains("data-legend=\"patch_master\""), "legend lacks the master's callback");
    assert!(!dom.contains("data-legend=\"missed\"") && !dom.contains("data-legend=\"kretprobe\""), "legend lists absent kinds");
    // The event list: one row per span and instant, none hidden without a filter.
    let rows = dom.matches("<tr class=\"ev").count();
    assert!(rows > 300, "the event list has {rows} rows");
    assert!(!dom.contains("hidden=\"\""), "no row is hidden without a filter");
    assert!(dom.contains(&format!("data-shown=\"{rows}\"")), "the count shows every row");
    println!("browser test: {} rendered the seed timeline ({} bytes of DOM, {rows} event rows)", browser, dom.len());

    // State from the URL fragment: a selected breakpoint hit (the list row and the graph element are both
    // highlighted, and the view zooms to it), a search, and two markers measuring virtual time.
    let page = std::fs::read_to_string(&html).expect("reads the HTML");
    let hit = page.match_indices("<tr class=\"ev\" data-id=\"").map(|(i, _)| &page[i..]).find(|r| r.split("data-tip").next().unwrap_or("").contains("data-kind=\"brk-hit\""));
    let hit = hit.expect("a breakpoint-hit row");
    let id = &hit["<tr class=\"ev\" data-id=\"".len()..];
    let id = &id[..id.find('"').expect("id ends")];
    let dom = dump_dom(browser, dir, &html, &format!("#t0=100&t1=700&q=brk&sel={id}&m1=200&m2=532"));
    let row = |d: &str| d.match_indices("<tr class=\"ev").map(|(i, _)| d[i..].split("</tr>").next().unwrap_or("").to_string()).collect::<Vec<_>>();
    let all = row(&dom);
    let sel: Vec<&String> = all.iter().filter(|r| r.starts_with("<tr class=\"ev sel\"")).collect();
    assert_eq!(sel.len(), 1, "exactly one selected row");
    assert!(sel[0].contains(&format!("data-id=\"{id}\"")), "the selected row is {id}: {}", sel[0]);
    assert!(dom.contains(&format!("class=\"instant ik-brk-hit sel\" data-id=\"{id}\"")), "the graph's tick of {id} is highlighted");
    let shown: Vec<&String> = all.iter().filter(|r| !r.contains("hidden=\"\"")).collect();
    assert!(!shown.is_empty() && shown.len() < all.len(), "the search hides some rows: {} of {}", shown.len(), all.len());
    for r in &shown {
        assert!(r.to_lowercase().contains("brk"), "a row shown for search `brk` lacks it: {r}");
    }
    assert!(dom.contains(&format!("data-shown=\"{}\"", shown.len())), "the count says how many rows match");
    assert!(dom.contains("data-delta=\"332\""), "markers at 200 and 532 measure 332 ns");
    assert!(dom.contains("\u{394} 332 ns"), "the measure is printed");
    assert!(!dom.contains("id=\"mark1\" class=\"vmark\" x1=\"-10\""), "marker A is drawn in the zoomed view");

    // Selecting an event without a range (what a click on its row does) zooms the graph to it: ±20 ns.
    let t_hit: f64 = {
        let at = hit.find("data-t0=\"").expect("row has data-t0") + "data-t0=\"".len();
        hit[at..].split('"').next().and_then(|v| v.parse().ok()).expect("numeric vtime")
    };
    let dom = dump_dom(browser, dir, &html, &format!("#sel={id}"));
    let axis = dom.split("<g id=\"axis\" class=\"axis\">").nth(1).and_then(|a| a.split("</g>").next()).expect("axis group");
    let ticks: Vec<f64> = axis.split("<text").skip(1).filter_map(|t| t.split('>').nth(1)?.split('<').next()?.parse().ok()).collect();
    assert!(ticks.len() >= 2, "axis ticks: {axis}");
    assert!(ticks.iter().all(|v| (v - t_hit).abs() <= 20.0), "view zoomed to vtime {t_hit}: ticks {ticks:?}");
    assert!(dom.contains("<tr class=\"ev sel\""), "the row is selected");

    // Filters by CPU and kind, and an explicit zoom range.
    let dom = dump_dom(browser, dir, &html, "#t0=500&t1=700&cpu=3&kind=brk-hit");
    let all = row(&dom);
    let shown: Vec<&String> = all.iter().filter(|r| !r.contains("hidden=\"\"")).collect();
    assert!(!shown.is_empty(), "CPU3 has breakpoint hits");
    for r in &shown {
        assert!(r.contains("data-cpu=\"3\" data-kind=\"brk-hit\""), "filtered row is not a CPU3 brk-hit: {r}");
    }
    // The graph follows the filter: CPU3's hits stay, the other elements are dimmed.
    let ticks: Vec<&str> = dom.match_indices("<line class=\"instant ik-brk-hit").map(|(i, _)| dom[i..].split("data-t=").next().unwrap_or("")).collect();
    assert!(ticks.iter().any(|t| t.contains("data-cpu=\"3\"") && !t.contains(" dim\"")), "CPU3's hits are not dimmed");
    assert!(ticks.iter().filter(|t| !t.contains("data-cpu=\"3\"")).all(|t| t.contains("ik-brk-hit dim\"")), "other CPUs' hits are dimmed");
}

/// Loads `html` (with a URL fragment) in headless Chromium, lets its script run, and returns the DOM.
fn dump_dom(browser: &str, dir: &Path, html: &Path, fragment: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1400,1000",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("chromium-profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", html.display()))
        .output()
        .expect("Chromium runs");
    assert!(out.status.success(), "Chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
