//! The timeline as text: one row per CPU over equal vtime buckets, a row for the stop_machine patch windows and
//! one for `multi_stop_state` changes, a vtime axis, a legend and the breakpoint flows. In each bucket a CPU shows
//! its innermost span; a breakpoint hit (`B`) or the master's write (`M`) in the bucket wins over spans.

use super::{kind, Category, Timeline};
use std::fmt::Write as _;

/// ANSI colours cycled over CPUs.
const COLOURS: [&str; 12] = ["31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96"];

/// Width of the row label column (`CPU12 `).
const LABEL: usize = 7;

/// A vtime range to show (`--from T --to T`); `None` ends are the log's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    /// First vtime shown.
    pub from: Option<u64>,
    /// Last vtime shown.
    pub to: Option<u64>,
}

/// Renders `t` in `width` columns (at least 40 are used), with ANSI colour per CPU if `color`.
#[must_use]
pub fn render_terminal(t: &Timeline, width: usize, color: bool) -> String {
    render_terminal_range(t, width, color, Range::default())
}

/// [`render_terminal`] over the vtimes `range` names: the columns divide that range; spans, instants, windows
/// and markers outside it are left out (a span crossing an end is drawn up to it).
#[must_use]
pub fn render_terminal_range(t: &Timeline, width: usize, color: bool, range: Range) -> String {
    let cols = width.max(40).saturating_sub(LABEL + 1).max(10);
    let t0 = range.from.unwrap_or(t.start);
    let t1 = range.to.unwrap_or(t.end).max(t0);
    let dur = t1 - t0 + 1; // the last tick is inside the last bucket
                           // Column c covers vtimes [t0 + c*dur/cols, t0 + (c+1)*dur/cols).
    let inside = |v: u64| (t0..=t1).contains(&v);
    let col_of = |v: u64| -> usize {
        (((v.clamp(t0, t1) - t0) as u128 * cols as u128 / dur as u128) as usize).min(cols - 1)
    };
    let mut out = String::new();
    let (nhit, nmissed) = t.totals();
    let _ = writeln!(
        out,
        "probesim timeline: {} CPUs, {} events, vtime {}..{} (1 tick = 1 ns)",
        t.cpus, t.events, t.start, t.end
    );
    if range != Range::default() {
        let _ = writeln!(out, "showing vtime {t0}..{t1}");
    }
    let _ = writeln!(out, "{:.1} ticks per column; kprobe nhit={nhit} nmissed={nmissed}", dur as f64 / cols as f64);
    out.push_str(&axis(t0, dur, cols));

    for lane in &t.lanes {
        let mut row: Vec<char> = vec!['.'; cols];
        let mut depth: Vec<Option<usize>> = vec![None; cols];
        for s in lane.spans.iter().filter(|s| s.end >= t0 && s.start <= t1) {
            let (a, b) = (col_of(s.start), if s.end > s.start { col_of(s.end - 1) } else { col_of(s.start) });
            for c in a..=b {
                if depth[c].is_none_or(|d| s.depth >= d) {
                    depth[c] = Some(s.depth);
                    row[c] = s.category.glyph();
                }
            }
        }
        // Instants that matter more than any span: the master's write, then breakpoint hits, then oopses.
        for (k, glyph) in [(kind::INSN_PATCH, 'M'), (kind::TEXT_WRITE, 'M'), (kind::BRK_HIT, 'B'), (kind::OOPS, '!')] {
            for i in lane.instants.iter().filter(|i| i.kind == k && inside(i.vtime)) {
                row[col_of(i.vtime)] = glyph;
            }
        }
        let body: String = row.into_iter().collect();
        let label = format!("{:<LABEL$}", lane.name);
        if color {
            let c = COLOURS[lane.cpu % COLOURS.len()];
            let _ = writeln!(out, "\x1b[1;{c}m{label}\x1b[0m\x1b[{c}m{body}\x1b[0m");
        } else {
            let _ = writeln!(out, "{label}{body}");
        }
    }

    let mut win = vec![' '; cols];
    for w in t.windows.iter().filter(|w| w.end >= t0 && w.start <= t1) {
        let (a, b) = (col_of(w.start), col_of(w.end));
        for c in win.iter_mut().take(b + 1).skip(a) {
            *c = '#';
        }
        let digit = char::from_digit((w.index % 10) as u32, 10).unwrap_or('#');
        win[a] = digit;
    }
    let _ = writeln!(out, "{}", format!("{:<LABEL$}{}", "patch", win.into_iter().collect::<String>()).trim_end());
    let mut st = vec![' '; cols];
    for m in t.markers.iter().filter(|m| inside(m.vtime)) {
        let glyph = match m.label.trim_start_matches("MULTI_STOP_") {
            "DISABLE_IRQ" => 'D',
            "RUN" => 'R',
            "EXIT" => 'E',
            "PREPARE" => 'P',
            _ if m.kind == "budget" => '$',
            _ => '*',
        };
        st[col_of(m.vtime)] = glyph;
    }
    let _ = writeln!(out, "{}", format!("{:<LABEL$}{}", "state", st.into_iter().collect::<String>()).trim_end());
    out.push_str(&axis_labels_only(t0, dur, cols));

    // The legend: only what this run has, wrapped to the width.
    let mut items: Vec<String> = Vec::new();
    let mut seen = String::new();
    let has_cat = |c: Category| t.lanes.iter().any(|l| l.spans.iter().any(|s| s.category == c));
    let has_kind = |k: &str| t.lanes.iter().any(|l| l.instants.iter().any(|i| i.kind == k));
    for cat in Category::ALL.into_iter().filter(|c| has_cat(*c)) {
        let g = cat.glyph();
        if !seen.contains(g) {
            seen.push(g);
            items.push(format!("{g} {}", cat.describe()));
        }
    }
    if !seen.contains('M') && (has_kind(kind::TEXT_WRITE) || has_kind(kind::INSN_PATCH)) {
        items.push(format!("M text write ({})", t.text_poke_fn));
    }
    for (k, item) in [(kind::BRK_HIT, "B breakpoint hit (BRK/int3)"), (kind::OOPS, "! oops")] {
        if has_kind(k) {
            items.push(item.into());
        }
    }
    items.push(". idle".into());
    if !t.windows.is_empty() {
        items.push("patch: # stop_machine window (digit = its number)".into());
    }
    if t.markers.iter().any(|m| m.kind == "stop_state") {
        items.push("state: D DISABLE_IRQ, R RUN, E EXIT".into());
    }
    let limit = width.max(40);
    let mut line = format!("{:<LABEL$}", "legend");
    for item in items {
        if line.len() > LABEL && line.chars().count() + 2 + item.chars().count() > limit {
            let _ = writeln!(out, "{}", line.trim_end());
            line = " ".repeat(LABEL);
        } else if line.len() > LABEL {
            line.push_str("  ");
        }
        line.push_str(&item);
    }
    let _ = writeln!(out, "{}", line.trim_end());

    let _ = writeln!(out, "\nlanes:");
    for lane in &t.lanes {
        let _ = writeln!(
            out,
            "  {:<6} {}",
            lane.name,
            if lane.tasks.is_empty() { "-".to_string() } else { lane.tasks.join(", ") }
        );
    }
    if !t.windows.is_empty() {
        let _ = writeln!(out, "\npatch windows:");
        for w in &t.windows {
            let _ = writeln!(out, "  #{} vtime {}..{}: {}", w.index, w.start, w.end, w.label);
            for p in &w.patches {
                let _ = writeln!(out, "      {p}");
            }
        }
    }
    if !t.flows.is_empty() {
        let _ = writeln!(out, "\nflows (breakpoint written -> first hit on another CPU):");
        let mut groups: Vec<(u64, Vec<&super::Flow>)> = Vec::new();
        for f in &t.flows {
            match groups.iter_mut().find(|(seq, _)| *seq == f.from.seq) {
                Some((_, v)) => v.push(f),
                None => groups.push((f.from.seq, vec![f])),
            }
        }
        for (_, fs) in groups {
            let f0 = fs[0];
            let what = f0.label.split(" written").next().unwrap_or("breakpoint");
            let hits: Vec<String> = fs.iter().map(|f| format!("CPU{}@{}", f.to_cpu, f.to.vtime)).collect();
            let head = format!(
                "  {what} at {:#x} written by CPU{} @{} (seq {}) ->",
                f0.addr, f0.from_cpu, f0.from.vtime, f0.from.seq
            );
            out.push_str(&wrap(&head, &hits, width.max(40), 6));
        }
    }
    out
}

/// The tick row: `|` every 10 columns, with the vtime at each tick on the line above.
fn axis(t0: u64, dur: u64, cols: usize) -> String {
    let mut out = axis_labels_only(t0, dur, cols);
    let mut ticks = String::new();
    for c in 0..cols {
        ticks.push(if c % 10 == 0 { '|' } else { '-' });
    }
    let _ = writeln!(out, "{:<LABEL$}{ticks}", "vtime");
    out
}

fn axis_labels_only(t0: u64, dur: u64, cols: usize) -> String {
    let mut labels = vec![' '; cols];
    for c in (0..cols).step_by(10) {
        let v = (t0 + (dur as u128 * c as u128 / cols as u128) as u64).to_string();
        if c + v.len() <= cols {
            for (k, ch) in v.chars().enumerate() {
                labels[c + k] = ch;
            }
        }
    }
    format!("{}\n", format!("{:<LABEL$}{}", "", labels.into_iter().collect::<String>()).trim_end())
}

/// `head` followed by `items` separated by spaces, wrapped at `width` with continuation lines indented by `indent`.
fn wrap(head: &str, items: &[String], width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut line = head.to_string();
    for it in items {
        if line.chars().count() + 1 + it.chars().count() > width && line.chars().count() > indent {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(indent);
            line.push_str(it);
        } else {
            line.push(' ');
            line.push_str(it);
        }
    }
    out.push_str(&line);
    out.push('\n');
    out
}
