//! The timeline as one self-contained HTML file: inline SVG, CSS and JavaScript, nothing fetched.
//!
//! A lane per CPU (`<g class="lane" data-cpu="N">`), spans as rectangles coloured by category
//! (`class="span cat-…"`, `data-kind` = category), instants as ticks (`class="instant"`, `data-kind` =
//! `insn_patch`, `text_write`, `brk-hit`, …), breakpoint flows as arrows (`class="flow"`), stop_machine patch
//! windows as bands (`class="window"`), `multi_stop_state` changes as dashed lines (`class="marker"`), and the
//! cumulative kprobe counters as a step chart (`class="counter"`). Every element carries its vtimes
//! (`data-t0`/`data-t1` or `data-t`) and its tooltip (`data-tip`); the script re-lays the x axis on zoom (wheel)
//! and pan (drag), shows tooltips, pins details on click, and names what each CPU runs at the cursor.

use super::{escape_xml as esc, event_details, span_details, Category, Timeline};
use std::fmt::Write as _;

const W: f64 = 1400.0;
const LW: f64 = 200.0;
const RM: f64 = 16.0;
const AXIS_H: f64 = 34.0;
const WIN_H: f64 = 18.0;
const HEAD: f64 = 9.0;
const PAD: f64 = 4.0;
const ROW_H: f64 = 14.0;
const GAP: f64 = 2.0;
const MIN_LANE_H: f64 = 40.0;
const COUNTER_H: f64 = 46.0;

fn colour(c: Category) -> &'static str {
    match c {
        Category::Task => "#9ecae1",
        Category::Register => "#c7e9c0",
        Category::Stopper => "#fdd0a2",
        Category::StopState => "#fdae6b",
        Category::PatchMaster => "#d62728",
        Category::PatchWaiter => "#bcbddc",
        Category::PatchCallback => "#dadaeb",
        Category::Handler => "#74c476",
        Category::HandlerCall => "#a1d99b",
        Category::SingleStep => "#fd8d3c",
        Category::PostHandler => "#31a354",
        Category::Missed => "#e6550d",
        Category::Bpf => "#6a51a3",
        Category::Kretprobe => "#c6dbef",
    }
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `target` ticks over `dur`.
fn tick_step(dur: f64, target: f64) -> f64 {
    let raw = (dur / target).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    (f * mag).max(1.0)
}

fn f(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// Renders `t` as a self-contained HTML page titled `title`.
#[must_use]
pub fn render_html(t: &Timeline, title: &str) -> String {
    let t0 = t.start as f64;
    let dur = t.duration() as f64;
    let scale = (W - LW - RM) / dur;
    let x = |v: u64| LW + (v as f64 - t0) * scale;

    // Vertical layout.
    let lanes_top = AXIS_H + WIN_H;
    let mut lane_y: Vec<(f64, f64)> = Vec::new();
    let mut y = lanes_top;
    for lane in &t.lanes {
        let h = (HEAD + PAD + (lane.max_depth as f64 + 1.0) * ROW_H + PAD).max(MIN_LANE_H);
        lane_y.push((y, h));
        y += h + GAP;
    }
    let lanes_bottom = y;
    let counter_top = lanes_bottom + 4.0;
    let height = counter_top + COUNTER_H + 8.0;

    let mut s = String::new();
    let (nhit, nmissed) = t.totals();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{CSS}",
        esc(title)
    );
    for c in Category::ALL {
        let _ = writeln!(s, ".cat-{n}{{fill:{col}}} .sw-{n}{{background:{col}}}", n = c.name(), col = colour(c));
    }
    s.push_str("</style>\n</head>\n<body>\n<header>\n");
    let _ = writeln!(s, "<h1>{}</h1>", esc(title));
    let _ = writeln!(
        s,
        "<p class=\"summary\">{} CPUs · {} events · vtime {}..{} (1 tick = 1 ns) · {} patch window(s) · {} breakpoint flow(s) · kprobe nhit {nhit} · nmissed {nmissed}</p>",
        t.cpus,
        t.events,
        t.start,
        t.end,
        t.windows.len(),
        t.flows.len()
    );
    // The legend lists only what this run has.
    s.push_str("<div class=\"legend\">");
    let has_cat = |c: Category| t.lanes.iter().any(|l| l.spans.iter().any(|s| s.category == c));
    let has_kind = |k: &str| t.lanes.iter().any(|l| l.instants.iter().any(|i| i.kind == k));
    for c in Category::ALL.into_iter().filter(|c| has_cat(*c)) {
        let _ = write!(s, "<span data-legend=\"{}\"><i class=\"sw sw-{}\"></i>{}</span>", c.name(), c.name(), esc(c.describe()));
    }
    if has_kind(super::kind::INSN_PATCH) || has_kind(super::kind::TEXT_WRITE) {
        let _ = write!(s, "<span data-legend=\"text_write\"><i class=\"sw tick-insn\"></i>text write ({})</span>", esc(t.text_poke_fn));
    }
    if has_kind(super::kind::BRK_HIT) {
        s.push_str("<span data-legend=\"brk-hit\"><i class=\"sw tick-brk\"></i>breakpoint hit</span>");
    }
    if !t.flows.is_empty() {
        s.push_str("<span data-legend=\"brk-flow\"><i class=\"sw tick-flow\"></i>breakpoint written → hit</span>");
    }
    if !t.windows.is_empty() {
        s.push_str("<span data-legend=\"patch_window\"><i class=\"sw tick-win\"></i>stop_machine window</span>");
    }
    s.push_str("</div>\n<p class=\"hint\">wheel or +/-: zoom · drag or ←/→: pan · 0 or double-click: reset · click: select (list follows) · shift-click or m: marker · Esc: clear markers · the view is kept in the URL</p>\n");
    s.push_str("<div id=\"controls\"><input id=\"q\" type=\"search\" placeholder=\"search events\" size=\"28\">");
    let mut kinds: Vec<&str> = t.lanes.iter().flat_map(|l| l.instants.iter().map(|i| i.kind)).collect();
    kinds.extend(Category::ALL.into_iter().filter(|c| has_cat(*c)).map(Category::name));
    kinds.sort_unstable();
    kinds.dedup();
    let mut probes: Vec<&str> = t
        .lanes
        .iter()
        .flat_map(|l| l.instants.iter().map(|i| i.event.probe.as_str()).chain(l.spans.iter().map(|s| s.begin.probe.as_str())))
        .filter(|p| !p.is_empty())
        .collect();
    probes.sort_unstable();
    probes.dedup();
    s.push_str(" <select id=\"f-cpu\"><option value=\"\">all CPUs</option>");
    for l in &t.lanes {
        let _ = write!(s, "<option value=\"{}\">{}</option>", l.cpu, esc(&l.name));
    }
    s.push_str("</select> <select id=\"f-kind\"><option value=\"\">all kinds</option>");
    for k in &kinds {
        let _ = write!(s, "<option value=\"{k}\">{k}</option>", k = esc(k));
    }
    s.push_str("</select> <select id=\"f-probe\"><option value=\"\">all probes</option>");
    for p in &probes {
        let _ = write!(s, "<option value=\"{p}\">{p}</option>", p = esc(p));
    }
    s.push_str("</select> <span id=\"count\"></span> <span id=\"measure\">markers: none</span></div>\n");
    let _ = writeln!(
        s,
        "<svg id=\"mini\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1000 20\" preserveAspectRatio=\"none\" style=\"margin-left:{LW}px;width:calc(100% - {}px)\">",
        f(LW + RM)
    );
    let mx = |v: u64| (v.saturating_sub(t.start)) as f64 * 1000.0 / dur;
    s.push_str("<rect class=\"mini-bg\" x=\"0\" y=\"0\" width=\"1000\" height=\"20\"/>");
    for lane in &t.lanes {
        for sp in lane.spans.iter().filter(|sp| sp.depth == 0) {
            let y = 1.0 + 18.0 * lane.cpu as f64 / t.lanes.len().max(1) as f64;
            let _ = write!(
                s,
                "<rect class=\"cat-{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                sp.category.name(),
                f(mx(sp.start)),
                f(y),
                f((mx(sp.end) - mx(sp.start)).max(0.5)),
                f((18.0 / t.lanes.len().max(1) as f64).max(1.0))
            );
        }
    }
    for w in &t.windows {
        // At least 3 of 1000 units: a 40 ns window in a 100 µs run stays visible.
        let _ = write!(s, "<rect class=\"mini-win\" data-kind=\"patch_window\" x=\"{}\" y=\"0\" width=\"{}\" height=\"20\"/>", f(mx(w.start)), f((mx(w.end) - mx(w.start)).max(3.0)));
    }
    for i in t.instants_of(super::kind::BRK_HIT) {
        let _ = write!(s, "<rect class=\"mini-brk\" x=\"{}\" y=\"14\" width=\"1\" height=\"6\"/>", f(mx(i.vtime)));
    }
    s.push_str("<rect id=\"mini-view\" x=\"0\" y=\"0\" width=\"1000\" height=\"20\"/></svg>\n</header>\n");

    let _ = writeln!(
        s,
        "<div id=\"wrap\">\n<svg id=\"tl\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" data-t0=\"{}\" data-t1=\"{}\" data-lw=\"{LW}\" data-rm=\"{RM}\" data-axis-h=\"{AXIS_H}\" data-bottom=\"{}\">",
        f(W),
        f(height),
        t.start,
        t.start + t.duration(),
        f(counter_top + COUNTER_H)
    );
    let _ = writeln!(
        s,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"7\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L8,4 L0,8 z\" class=\"arrowhead\"/></marker><clipPath id=\"clip\"><rect id=\"cliprect\" x=\"{LW}\" y=\"0\" width=\"{}\" height=\"{}\"/></clipPath></defs>",
        f(W - LW - RM),
        f(height)
    );

    // Axis (the script redraws it on zoom/pan).
    s.push_str("<g id=\"axis\" class=\"axis\">");
    let step = tick_step(dur, 10.0);
    let mut v = (t0 / step).ceil() * step;
    while v <= t0 + dur {
        let xv = LW + (v - t0) * scale;
        let _ = write!(
            s,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{AXIS_H}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            AXIS_H - 8.0,
            f(xv + 2.0),
            AXIS_H - 12.0,
            f(v),
            x = f(xv)
        );
        v += step;
    }
    s.push_str("</g>\n");
    let _ = writeln!(s, "<text class=\"axis-title\" x=\"8\" y=\"{}\">vtime (ns)</text>", AXIS_H - 12.0);
    if !t.windows.is_empty() {
        let _ = writeln!(s, "<text class=\"row-title\" x=\"8\" y=\"{}\">stop_machine</text>", AXIS_H + WIN_H - 5.0);
    }

    // Patch windows: a band over every lane and a slice in their own row.
    s.push_str("<g class=\"windows\" clip-path=\"url(#clip)\">");
    for w in &t.windows {
        let mut tip = format!(
            "{}\nvtime {}..{} ({} ns)\nbegin: {}",
            w.label,
            w.start,
            w.end,
            w.end - w.start,
            w.begin.describe()
        );
        if let Some(e) = &w.finish {
            tip.push_str(&format!("\nend:   {}", e.describe()));
        }
        for p in &w.patches {
            tip.push_str(&format!("\npatch: {p}"));
        }
        let (x0, x1) = (x(w.start), x(w.end));
        let _ = write!(
            s,
            "<rect class=\"window\" data-kind=\"patch_window\" data-t0=\"{}\" data-t1=\"{}\" x=\"{}\" y=\"{AXIS_H}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>",
            w.start,
            w.end,
            f(x0),
            f((x1 - x0).max(1.0)),
            f(lanes_bottom - AXIS_H),
            esc(&tip)
        );
        let _ = write!(
            s,
            "<rect class=\"window-slice\" data-kind=\"patch_window\" data-t0=\"{}\" data-t1=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>",
            w.start,
            w.end,
            f(x0),
            AXIS_H + 2.0,
            f((x1 - x0).max(1.0)),
            WIN_H - 4.0,
            esc(&tip)
        );
        let _ = write!(
            s,
            "<text class=\"tl\" data-t0=\"{}\" data-t1=\"{}\" x=\"{}\" y=\"{}\">{}</text>",
            w.start,
            w.end,
            f(x0 + 3.0),
            AXIS_H + WIN_H - 6.0,
            esc(&w.label)
        );
    }
    s.push_str("</g>\n");

    // Lanes. Every span and instant has an id (`data-id`) shared with its row in the event list.
    let mut rows: Vec<(u64, u64, String, String)> = Vec::new();
    let mut next_id = 0usize;
    for (lane, &(ly, lh)) in t.lanes.iter().zip(&lane_y) {
        let sub = if lane.tasks.is_empty() { "idle".to_string() } else { lane.tasks.join(", ") };
        let _ = writeln!(s, "<g class=\"lane\" data-cpu=\"{}\" data-name=\"{}\">", lane.cpu, esc(&lane.name));
        let _ = writeln!(
            s,
            "<rect class=\"lane-bg{}\" x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            if lane.cpu % 2 == 1 { " odd" } else { "" },
            f(ly),
            f(W),
            f(lh)
        );
        s.push_str("<g clip-path=\"url(#clip)\">");
        for sp in &lane.spans {
            let (x0, x1) = (x(sp.start), x(sp.end));
            let sy = ly + HEAD + PAD + sp.depth as f64 * ROW_H;
            let id = format!("e{next_id}");
            next_id += 1;
            rows.push((sp.start, sp.begin.seq, id.clone(), row_html(&id, lane.cpu, sp.category.name(), &sp.begin.probe, sp.start, sp.end, sp.begin.seq, &sp.label, &span_details(sp))));
            let _ = write!(
                s,
                "\n<rect class=\"span cat-{c}\" data-id=\"{id}\" data-cpu=\"{lc}\" data-probe=\"{pr}\" data-kind=\"{c}\" data-t0=\"{}\" data-t1=\"{}\" data-depth=\"{}\" data-label=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>",
                sp.start,
                sp.end,
                sp.depth,
                esc(&sp.label),
                f(x0),
                f(sy),
                f((x1 - x0).max(1.0)),
                ROW_H - 1.0,
                esc(&span_details(sp)),
                lc = lane.cpu,
                pr = esc(&sp.begin.probe),
                c = sp.category.name()
            );
            let _ = write!(
                s,
                "<text class=\"tl\" data-t0=\"{}\" data-t1=\"{}\" x=\"{}\" y=\"{}\">{}</text>",
                sp.start,
                sp.end,
                f(x0 + 3.0),
                f(sy + ROW_H - 4.0),
                esc(&sp.label)
            );
        }
        for i in &lane.instants {
            let xi = f(x(i.vtime));
            let id = format!("e{next_id}");
            next_id += 1;
            let details = format!("{}\n{}", i.label, event_details(&i.event));
            rows.push((i.vtime, i.event.seq, id.clone(), row_html(&id, lane.cpu, i.kind, &i.event.probe, i.vtime, i.vtime, i.event.seq, &i.label, &details)));
            let tip = esc(&details);
            let important = matches!(
                i.kind,
                super::kind::BRK_HIT | super::kind::INSN_PATCH | super::kind::TEXT_WRITE | super::kind::OOPS
            );
            // Ordinary ticks stay in the lane's top strip, so they never cross the span labels below it.
            let y2 = if important { ly + lh - 1.0 } else { ly + HEAD + PAD - 1.0 };
            let _ = write!(
                s,
                "\n<line class=\"instant ik-{k}\" data-id=\"{id}\" data-cpu=\"{lc}\" data-probe=\"{pr}\" data-kind=\"{k}\" data-t=\"{}\" x1=\"{xi}\" x2=\"{xi}\" y1=\"{}\" y2=\"{}\" data-tip=\"{tip}\"/>",
                i.vtime,
                f(ly + 1.0),
                f(y2),
                lc = lane.cpu,
                pr = esc(&i.event.probe),
                k = i.kind
            );
            if matches!(
                i.kind,
                super::kind::BRK_HIT | super::kind::INSN_PATCH | super::kind::TEXT_WRITE | super::kind::OOPS
            ) {
                let _ = write!(
                    s,
                    "<circle class=\"head ik-{k}\" data-id=\"{id}\" data-t=\"{}\" cx=\"{xi}\" cy=\"{}\" r=\"3.5\" data-tip=\"{tip}\"/>",
                    i.vtime,
                    f(ly + HEAD / 2.0 + 1.0),
                    k = i.kind
                );
            }
        }
        s.push_str("\n</g>\n");
        let _ = writeln!(s, "<text class=\"lane-name\" x=\"8\" y=\"{}\">{}</text>", f(ly + 15.0), esc(&lane.name));
        let _ = writeln!(
            s,
            "<text class=\"lane-sub\" x=\"8\" y=\"{}\" data-default=\"{}\">{}</text>",
            f(ly + 30.0),
            esc(&sub),
            esc(&truncate(&sub, 30))
        );
        s.push_str("</g>\n");
    }

    // Global markers: multi_stop_state changes.
    s.push_str("<g class=\"markers\" clip-path=\"url(#clip)\">");
    for m in &t.markers {
        let xm = f(x(m.vtime));
        let tip = esc(&format!("{}: {}\n{}", m.kind, m.label, event_details(&m.event)));
        let _ = write!(
            s,
            "\n<line class=\"marker\" data-kind=\"{}\" data-t=\"{}\" x1=\"{xm}\" x2=\"{xm}\" y1=\"{AXIS_H}\" y2=\"{}\" data-tip=\"{tip}\"/>",
            m.kind,
            m.vtime,
            f(lanes_bottom)
        );
        let letter = m.label.trim_start_matches("MULTI_STOP_").chars().next().unwrap_or('*');
        let _ = write!(
            s,
            "<text class=\"marker-label\" data-t=\"{}\" x=\"{xm}\" y=\"{}\" data-tip=\"{tip}\">{}</text>",
            m.vtime,
            f(lanes_bottom - 2.0),
            esc(&letter.to_string())
        );
    }
    s.push_str("\n</g>\n");

    // Flows: breakpoint written → hit.
    s.push_str("<g class=\"flows\" clip-path=\"url(#clip)\">");
    for fl in &t.flows {
        let (fy, fh) = lane_y[fl.from_cpu];
        let (ty, _) = lane_y[fl.to_cpu];
        let y0 = fy + fh / 2.0;
        let y1 = ty + HEAD / 2.0 + 1.0;
        let (x0, x1) = (x(fl.from.vtime), x(fl.to.vtime));
        let my = (y0 + y1) / 2.0;
        let tip = esc(&format!("{}\nwrite: {}\nhit:   {}", fl.label, fl.from.describe(), fl.to.describe()));
        let _ = write!(
            s,
            "\n<path class=\"flow\" data-kind=\"brk-flow\" data-from-cpu=\"{}\" data-to-cpu=\"{}\" data-t0=\"{}\" data-t1=\"{}\" data-y0=\"{}\" data-y1=\"{}\" d=\"M{},{} C{},{} {},{} {},{}\" marker-end=\"url(#arrow)\" data-tip=\"{tip}\"/>",
            fl.from_cpu,
            fl.to_cpu,
            fl.from.vtime,
            fl.to.vtime,
            f(y0),
            f(y1),
            f(x0),
            f(y0),
            f(x0),
            f(my),
            f(x1),
            f(my),
            f(x1),
            f(y1)
        );
    }
    s.push_str("\n</g>\n");

    // Counters: cumulative hits and misses as two step charts, each on its own scale.
    let row = (COUNTER_H - 6.0) / 2.0;
    let (nhit_max, nmissed_max) = t.totals();
    let _ = writeln!(
        s,
        "<text class=\"row-title\" x=\"8\" y=\"{}\">kprobe nhit (max {nhit_max})</text>",
        f(counter_top + row - 4.0)
    );
    let _ = writeln!(
        s,
        "<text class=\"row-title miss\" x=\"8\" y=\"{}\">kprobe nmissed (max {nmissed_max})</text>",
        f(counter_top + 2.0 * row + 2.0)
    );
    s.push_str("<g class=\"counters\" clip-path=\"url(#clip)\">");
    let end = t.start + t.duration();
    for (i, c) in t.counters.iter().enumerate() {
        let next = t.counters.get(i + 1).map_or(end, |n| n.vtime);
        if next <= c.vtime && i + 1 < t.counters.len() {
            continue;
        }
        let next = next.max(c.vtime);
        for (kind, v, max, base, class) in [
            ("nhit", c.nhit, nhit_max, counter_top + row, "counter"),
            ("nmissed", c.nmissed, nmissed_max, counter_top + 2.0 * row + 4.0, "counter miss"),
        ] {
            if v == 0 {
                continue;
            }
            let h = (v as f64 / max.max(1) as f64) * (row - 2.0);
            let _ = write!(
                s,
                "\n<rect class=\"{class}\" data-kind=\"{kind}\" data-t0=\"{}\" data-t1=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"kprobe {kind} = {v} from vtime {} (seq {})\"/>",
                c.vtime,
                next,
                f(x(c.vtime)),
                f(base - h),
                f((x(next) - x(c.vtime)).max(1.0)),
                f(h),
                c.vtime,
                c.seq
            );
        }
    }
    s.push_str("\n</g>\n");
    let _ = writeln!(
        s,
        "<line id=\"mark1\" class=\"vmark\" x1=\"-10\" x2=\"-10\" y1=\"{AXIS_H}\" y2=\"{b}\"/><line id=\"mark2\" class=\"vmark\" x1=\"-10\" x2=\"-10\" y1=\"{AXIS_H}\" y2=\"{b}\"/>",
        b = f(counter_top + COUNTER_H)
    );
    let _ = writeln!(
        s,
        "<line id=\"cursor\" x1=\"-10\" x2=\"-10\" y1=\"{AXIS_H}\" y2=\"{}\"/><text id=\"cursor-t\" x=\"-10\" y=\"{}\"></text>",
        f(counter_top + COUNTER_H),
        AXIS_H - 1.0
    );
    s.push_str(
        "</svg>\n</div>\n<div id=\"tip\"></div>\n<pre id=\"details\">click an element to pin its details here</pre>\n",
    );
    // The event list: every span and instant in (vtime, seq) order, one row each.
    rows.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    s.push_str("<div id=\"list\"><table><thead><tr><th>vtime</th><th>seq</th><th>cpu</th><th>kind</th><th>probe</th><th>what</th></tr></thead><tbody>\n");
    for r in &rows {
        s.push_str(&r.3);
    }
    s.push_str("</tbody></table></div>\n");
    s.push_str("<script>\n");
    s.push_str(JS);
    s.push_str("</script>\n</body>\n</html>\n");
    s
}

/// One row of the event list (`<tr class="ev" data-id=…>`), carrying what the filters test.
#[allow(clippy::too_many_arguments)]
fn row_html(id: &str, cpu: usize, kind: &str, probe: &str, t0: u64, t1: u64, seq: u64, label: &str, details: &str) -> String {
    let vt = if t1 > t0 { format!("{t0}..{t1}") } else { t0.to_string() };
    format!(
        "<tr class=\"ev\" data-id=\"{id}\" data-cpu=\"{cpu}\" data-kind=\"{k}\" data-probe=\"{p}\" data-t0=\"{t0}\" data-t1=\"{t1}\" data-tip=\"{tip}\"><td>{vt}</td><td>{seq}</td><td>CPU{cpu}</td><td>{k}</td><td>{p}</td><td>{l}</td></tr>\n",
        k = esc(kind),
        p = esc(probe),
        tip = esc(details),
        l = esc(label)
    )
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

const CSS: &str = r#"body{margin:0;font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#222;background:#fff}
header{padding:8px 12px 4px}
h1{font-size:15px;margin:0 0 4px}
.summary,.hint{margin:2px 0;color:#444}
.hint{color:#777}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:4px 0}
.legend span{white-space:nowrap}
.sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle;border:1px solid #0003}
.tick-insn{background:#7b1fa2}.tick-brk{background:#c00}.tick-flow{background:#444}.tick-win{background:#ffeb3b80}
#wrap{overflow:hidden;border-top:1px solid #ddd}
svg{display:block;user-select:none;cursor:grab}
svg.dragging{cursor:grabbing}
svg text{font:10px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;fill:#222}
.axis line{stroke:#888}
.axis text,.axis-title,.row-title{fill:#555}
.row-title.miss{fill:#b30}
.lane-bg{fill:#fafafa}.lane-bg.odd{fill:#f1f3f6}
.lane-name{font-weight:bold;font-size:12px}
.lane-sub{fill:#555}
.span{stroke:#0004;stroke-width:.5}
.span:hover{stroke:#000;stroke-width:1.2}
.tl{pointer-events:none;fill:#111}
.instant{stroke:#666;stroke-width:1.5;opacity:.7}
.instant.ik-brk-hit{stroke:#c00;stroke-width:2;opacity:.9}
.instant.ik-insn_patch{stroke:#7b1fa2;stroke-width:2;opacity:.9}
.instant.ik-text_write{stroke:#7b1fa2;stroke-width:1.5;opacity:.8}
.instant.ik-icache_sync{stroke:#2e7d32}
.instant.ik-cache_maint{stroke:#00838f}
.instant.ik-oops{stroke:#000;stroke-width:3;opacity:1}
.head.ik-brk-hit{fill:#c00}.head.ik-insn_patch,.head.ik-text_write{fill:#7b1fa2}.head.ik-oops{fill:#000}
.window{fill:#ffeb3b;opacity:.18}
.window-slice{fill:#fbc02d;stroke:#0004}
.marker{stroke:#555;stroke-dasharray:3 3;stroke-width:1}
.marker-label{fill:#555;font-size:9px}
.flow{fill:none;stroke:#444;stroke-width:1.2;opacity:.75}
.flow:hover{stroke:#c00;opacity:1;stroke-width:2}
.arrowhead{fill:#444}
.counter{fill:#3182bd;opacity:.8}.counter.miss{fill:#e6550d}
#cursor{stroke:#e91e63;stroke-width:1;pointer-events:none}
#cursor-t{fill:#e91e63;pointer-events:none}
#tip{position:fixed;display:none;pointer-events:none;background:#fffff0;border:1px solid #999;padding:4px 6px;white-space:pre;max-width:90vw;overflow:hidden;font-size:11px;box-shadow:2px 2px 4px #0003;z-index:10}
#details{margin:8px 12px;padding:6px;border:1px solid #ddd;background:#fafafa;white-space:pre-wrap;min-height:3em}

.tl{paint-order:stroke;stroke:#fffc;stroke-width:2.5px;stroke-linejoin:round}
.axis text{paint-order:stroke;stroke:#fff;stroke-width:3px}
#controls{margin:4px 0;display:flex;gap:6px;align-items:center;flex-wrap:wrap}
#controls input,#controls select{font:inherit}
#measure{color:#0b57d0;font-weight:bold}
#mini{display:block;height:20px;border:1px solid #ccc;cursor:pointer;margin-top:4px}
.mini-bg{fill:#f6f6f6}.mini-win{fill:#fbc02d;opacity:.9}.mini-brk{fill:#c00}
#mini-view{fill:#0b57d022;stroke:#0b57d0;stroke-width:1;vector-effect:non-scaling-stroke}
.vmark{stroke:#0b57d0;stroke-width:1.5;stroke-dasharray:6 2;pointer-events:none}
.sel{stroke:#000 !important;stroke-width:2.5 !important;opacity:1 !important}
.dim{opacity:.12 !important}
.flow.offscreen{stroke-dasharray:4 2}
#list{max-height:320px;overflow:auto;margin:0 12px 12px;border:1px solid #ddd}
#list table{border-collapse:collapse;width:100%}
#list th{position:sticky;top:0;background:#eee;text-align:left;padding:2px 6px}
#list td{padding:1px 6px;white-space:nowrap;border-bottom:1px solid #f0f0f0}
#list tr.ev{cursor:pointer}#list tr.ev:hover{background:#eef3fd}
#list tr.ev.sel{background:#ffe08a}
"#;

const JS: &str = include_str!("html.js");
