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
    s.push_str("<div class=\"legend\">");
    for c in Category::ALL {
        let _ = write!(s, "<span><i class=\"sw sw-{}\"></i>{}</span>", c.name(), esc(c.describe()));
    }
    s.push_str("<span><i class=\"sw tick-insn\"></i>master write</span><span><i class=\"sw tick-brk\"></i>breakpoint hit</span>");
    s.push_str("<span><i class=\"sw tick-flow\"></i>breakpoint written → hit</span><span><i class=\"sw tick-win\"></i>stop_machine window</span>");
    s.push_str("</div>\n<p class=\"hint\">wheel: zoom · drag: pan · double-click: reset · click: pin details · hover: tooltip</p>\n</header>\n");

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
    let _ = writeln!(s, "<text class=\"row-title\" x=\"8\" y=\"{}\">stop_machine</text>", AXIS_H + WIN_H - 5.0);

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

    // Lanes.
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
            let _ = write!(
                s,
                "\n<rect class=\"span cat-{c}\" data-kind=\"{c}\" data-t0=\"{}\" data-t1=\"{}\" data-depth=\"{}\" data-label=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>",
                sp.start,
                sp.end,
                sp.depth,
                esc(&sp.label),
                f(x0),
                f(sy),
                f((x1 - x0).max(1.0)),
                ROW_H - 1.0,
                esc(&span_details(sp)),
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
            let tip = esc(&format!("{}\n{}", i.label, event_details(&i.event)));
            let _ = write!(
                s,
                "\n<line class=\"instant ik-{k}\" data-kind=\"{k}\" data-t=\"{}\" x1=\"{xi}\" x2=\"{xi}\" y1=\"{}\" y2=\"{}\" data-tip=\"{tip}\"/>",
                i.vtime,
                f(ly + 1.0),
                f(ly + lh - 1.0),
                k = i.kind
            );
            if matches!(
                i.kind,
                super::kind::BRK_HIT | super::kind::INSN_PATCH | super::kind::TEXT_WRITE | super::kind::OOPS
            ) {
                let _ = write!(
                    s,
                    "<circle class=\"head ik-{k}\" data-t=\"{}\" cx=\"{xi}\" cy=\"{}\" r=\"3.5\" data-tip=\"{tip}\"/>",
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
        "<line id=\"cursor\" x1=\"-10\" x2=\"-10\" y1=\"{AXIS_H}\" y2=\"{}\"/><text id=\"cursor-t\" x=\"-10\" y=\"{}\"></text>",
        f(counter_top + COUNTER_H),
        AXIS_H - 1.0
    );
    s.push_str(
        "</svg>\n</div>\n<div id=\"tip\"></div>\n<pre id=\"details\">click an element to pin its details here</pre>\n",
    );
    s.push_str("<script>\n");
    s.push_str(JS);
    s.push_str("</script>\n</body>\n</html>\n");
    s
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
.instant{stroke:#999;stroke-width:1;opacity:.55}
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
"#;

const JS: &str = r#"(function () {
  'use strict';
  var svg = document.getElementById('tl');
  var NS = svg.namespaceURI;
  var T0 = +svg.getAttribute('data-t0'), T1 = +svg.getAttribute('data-t1');
  var LW = +svg.getAttribute('data-lw'), RM = +svg.getAttribute('data-rm');
  var AXH = +svg.getAttribute('data-axis-h');
  var wrap = document.getElementById('wrap');
  var tip = document.getElementById('tip'), details = document.getElementById('details');
  var axis = document.getElementById('axis'), clip = document.getElementById('cliprect');
  var cursor = document.getElementById('cursor'), cursorT = document.getElementById('cursor-t');
  var W = +svg.getAttribute('width'), scale = 1, off = T0;
  function q(sel) { return Array.prototype.slice.call(svg.querySelectorAll(sel)); }
  var rects = q('rect[data-t0]'), labels = q('text[data-t0]'), lines = q('line[data-t]');
  var dots = q('circle[data-t]'), marks = q('text[data-t]'), flows = q('path.flow'), fullw = q('rect.lane-bg');
  var lanes = q('g.lane').map(function (g) {
    return { sub: g.querySelector('.lane-sub'), spans: Array.prototype.slice.call(g.querySelectorAll('rect.span')).map(function (r) {
      return { t0: +r.getAttribute('data-t0'), t1: +r.getAttribute('data-t1'), d: +r.getAttribute('data-depth'), label: r.getAttribute('data-label') };
    }) };
  });
  function X(t) { return LW + (t - off) * scale; }
  function plotW() { return W - LW - RM; }
  function fit() {
    W = Math.max(600, wrap.clientWidth || W);
    svg.setAttribute('width', W);
    clip.setAttribute('width', plotW());
    fullw.forEach(function (r) { r.setAttribute('width', W); });
  }
  function reset() { fit(); scale = plotW() / Math.max(1, T1 - T0); off = T0; update(); }
  function nice(raw) {
    var m = Math.pow(10, Math.floor(Math.log10(raw))), n = raw / m;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * m;
  }
  function fmt(v) { return (Math.round(v * 1000) / 1000).toString(); }
  function drawAxis() {
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    var tLeft = off, tRight = off + plotW() / scale;
    var step = nice(Math.max((tRight - tLeft) / 10, 1e-3));
    for (var v = Math.ceil(tLeft / step) * step; v <= tRight; v += step) {
      var x = X(v);
      var l = document.createElementNS(NS, 'line');
      l.setAttribute('x1', x); l.setAttribute('x2', x); l.setAttribute('y1', AXH - 8); l.setAttribute('y2', AXH);
      axis.appendChild(l);
      var t = document.createElementNS(NS, 'text');
      t.setAttribute('x', x + 2); t.setAttribute('y', AXH - 12); t.textContent = fmt(v);
      axis.appendChild(t);
    }
  }
  function update() {
    rects.forEach(function (r) {
      var x0 = X(+r.getAttribute('data-t0')), x1 = X(+r.getAttribute('data-t1'));
      r.setAttribute('x', x0); r.setAttribute('width', Math.max(1, x1 - x0));
    });
    labels.forEach(function (t) {
      var x0 = Math.max(X(+t.getAttribute('data-t0')), LW), x1 = Math.min(X(+t.getAttribute('data-t1')), W - RM);
      t.setAttribute('x', x0 + 3);
      t.style.display = (x1 - x0 - 6 > t.textContent.length * 6.1) ? '' : 'none';
    });
    lines.forEach(function (l) { var x = X(+l.getAttribute('data-t')); l.setAttribute('x1', x); l.setAttribute('x2', x); });
    dots.forEach(function (c) { c.setAttribute('cx', X(+c.getAttribute('data-t'))); });
    marks.forEach(function (t) { t.setAttribute('x', X(+t.getAttribute('data-t')) + 2); });
    flows.forEach(function (p) {
      var x0 = X(+p.getAttribute('data-t0')), x1 = X(+p.getAttribute('data-t1'));
      var y0 = +p.getAttribute('data-y0'), y1 = +p.getAttribute('data-y1'), my = (y0 + y1) / 2;
      p.setAttribute('d', 'M' + x0 + ',' + y0 + ' C' + x0 + ',' + my + ' ' + x1 + ',' + my + ' ' + x1 + ',' + y1);
    });
    drawAxis();
  }
  function mouseX(e) { return e.clientX - svg.getBoundingClientRect().left; }
  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var mx = Math.max(mouseX(e), LW), t = off + (mx - LW) / scale;
    var minScale = plotW() / Math.max(1, T1 - T0) / 4;
    scale = Math.min(Math.max(scale * Math.exp(-e.deltaY * 0.0015), minScale), 400);
    off = t - (mx - LW) / scale;
    update(); hover(e);
  }, { passive: false });
  var drag = null;
  svg.addEventListener('mousedown', function (e) {
    if (e.button !== 0) return;
    drag = { x: e.clientX, off: off, moved: false };
    svg.classList.add('dragging');
  });
  window.addEventListener('mousemove', function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x;
    if (Math.abs(dx) > 2) drag.moved = true;
    off = drag.off - dx / scale;
    update();
  });
  window.addEventListener('mouseup', function (e) {
    if (!drag) return;
    var moved = drag.moved;
    drag = null;
    svg.classList.remove('dragging');
    if (!moved) {
      var el = e.target.closest ? e.target.closest('[data-tip]') : null;
      if (el) details.textContent = el.getAttribute('data-tip');
    }
  });
  svg.addEventListener('dblclick', reset);
  function hover(e) {
    var el = e.target.closest ? e.target.closest('[data-tip]') : null;
    if (el && !drag) {
      tip.textContent = el.getAttribute('data-tip');
      tip.style.display = 'block';
      var tx = e.clientX + 14, ty = e.clientY + 14;
      if (tx + tip.offsetWidth > window.innerWidth) tx = Math.max(0, e.clientX - tip.offsetWidth - 10);
      if (ty + tip.offsetHeight > window.innerHeight) ty = Math.max(0, e.clientY - tip.offsetHeight - 10);
      tip.style.left = tx + 'px'; tip.style.top = ty + 'px';
    } else {
      tip.style.display = 'none';
    }
    var mx = mouseX(e);
    if (mx < LW || mx > W - RM) { leave(); return; }
    var t = off + (mx - LW) / scale;
    cursor.setAttribute('x1', mx); cursor.setAttribute('x2', mx);
    cursorT.setAttribute('x', mx + 3); cursorT.textContent = 'vtime ' + fmt(t);
    lanes.forEach(function (l) {
      var best = null;
      l.spans.forEach(function (s) { if (s.t0 <= t && t <= s.t1 && (!best || s.d >= best.d)) best = s; });
      var lb = best ? best.label : 'idle'; l.sub.textContent = lb.length > 30 ? lb.slice(0, 29) + '\u2026' : lb;
    });
  }
  function leave() {
    cursor.setAttribute('x1', -10); cursor.setAttribute('x2', -10); cursorT.textContent = '';
    lanes.forEach(function (l) { var d = l.sub.getAttribute('data-default'); l.sub.textContent = d.length > 30 ? d.slice(0, 29) + '\u2026' : d; });
  }
  svg.addEventListener('mousemove', hover);
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; leave(); });
  window.addEventListener('resize', function () { var w = plotW(); fit(); scale = scale * plotW() / w; update(); });
  reset();
})();
"#;
