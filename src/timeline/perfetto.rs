//! The timeline as Chrome trace-event JSON (`{"traceEvents":[...]}`), which the Perfetto UI and
//! `chrome://tracing` open.
//!
//! - Time: `ts`/`dur` are microseconds, as the format defines them; one vtime tick is one nanosecond, so
//!   `ts = vtime / 1000` as a decimal (vtime 572 → `0.572`). No `displayTimeUnit` is set: Perfetto versions
//!   differ on whether it rescales `ts`.
//! - One process, `probesim` (pid 1); one thread per CPU named `CPU N` (tid N + 1, because Perfetto treats tid 0
//!   as the idle task), sorted by CPU.
//! - Spans are `X` complete events (`cat` = [`super::Category::name`]), properly nested per thread; instants are
//!   `i` events with thread scope; `multi_stop_state` changes are global instants; each stop_machine patch window
//!   is an async `b`/`e` slice; each breakpoint written → hit is an `s`/`f` flow pair (`bp: "e"`, binding to the
//!   enclosing slices); the cumulative kprobe hits and misses are one `C` counter, `kprobes`, with two series.

use super::{event_details, Span, Timeline};
use serde_json::{json, Map, Value};

/// The process id used for every event.
pub const PID: u64 = 1;

/// The thread id of a CPU's track.
#[must_use]
pub fn tid(cpu: usize) -> u64 {
    cpu as u64 + 1
}

/// vtime (ns) → trace-event microseconds.
fn us(vtime: u64) -> Value {
    // Exact for every vtime below 2^53; printed as the shortest decimal that reads back to it.
    json!(vtime as f64 / 1000.0)
}

fn span_event(s: &Span) -> Value {
    let mut args = Map::new();
    args.insert("begin".into(), json!(s.begin.describe()));
    args.insert("end".into(), json!(s.finish.as_ref().map_or("(not in the log)".to_string(), |f| f.describe())));
    args.insert("depth".into(), json!(s.depth));
    if let Some(n) = &s.note {
        args.insert("note".into(), json!(n));
    }
    json!({
        "ph": "X", "name": s.label, "cat": s.category.name(),
        "ts": us(s.start), "dur": us(s.end - s.start),
        "pid": PID, "tid": tid(s.cpu), "args": args,
    })
}

/// Renders `t` as trace-event JSON: one event per line inside `traceEvents`.
///
/// # Panics
/// Never in practice: the values serialise infallibly.
#[must_use]
pub fn render_perfetto(t: &Timeline) -> String {
    let mut ev: Vec<Value> = Vec::new();
    ev.push(json!({"ph": "M", "name": "process_name", "pid": PID, "args": {"name": "probesim"}}));
    ev.push(json!({"ph": "M", "name": "process_sort_index", "pid": PID, "args": {"sort_index": 0}}));
    for lane in &t.lanes {
        ev.push(json!({"ph": "M", "name": "thread_name", "pid": PID, "tid": tid(lane.cpu), "args": {"name": format!("CPU {}", lane.cpu)}}));
        ev.push(json!({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": tid(lane.cpu), "args": {"sort_index": lane.cpu}}));
    }
    for lane in &t.lanes {
        for s in &lane.spans {
            ev.push(span_event(s));
        }
        for i in &lane.instants {
            ev.push(json!({
                "ph": "i", "s": "t", "name": i.label, "cat": i.kind,
                "ts": us(i.vtime), "pid": PID, "tid": tid(i.cpu),
                "args": {"seq": i.event.seq, "vtime": i.event.vtime, "cpu": i.event.cpu, "kind": i.event.kind,
                         "pc": i.event.pc, "text": i.event.text},
            }));
        }
    }
    for m in &t.markers {
        ev.push(json!({
            "ph": "i", "s": "g", "name": m.label, "cat": m.kind, "ts": us(m.vtime), "pid": PID, "tid": tid(m.event.cpu),
            "args": {"event": event_details(&m.event)},
        }));
    }
    for w in &t.windows {
        ev.push(json!({
            "ph": "b", "cat": "stop_machine", "name": w.label, "id": w.index, "ts": us(w.start), "pid": PID,
            "tid": tid(w.begin.cpu), "args": {"patches": w.patches, "begin": w.begin.describe()},
        }));
        let end_cpu = w.finish.as_ref().map_or(w.begin.cpu, |f| f.cpu);
        ev.push(json!({
            "ph": "e", "cat": "stop_machine", "name": w.label, "id": w.index, "ts": us(w.end), "pid": PID,
            "tid": tid(end_cpu),
            "args": {"end": w.finish.as_ref().map_or("(not in the log)".to_string(), |f| f.describe())},
        }));
    }
    for f in &t.flows {
        let name = f.label.split(" written").next().unwrap_or("breakpoint").to_string();
        ev.push(json!({
            "ph": "s", "cat": "brk_flow", "name": name, "id": f.id + 1, "ts": us(f.from.vtime), "pid": PID,
            "tid": tid(f.from_cpu), "bp": "e", "args": {"flow": f.label, "write": f.from.describe()},
        }));
        ev.push(json!({
            "ph": "f", "cat": "brk_flow", "name": name, "id": f.id + 1, "ts": us(f.to.vtime), "pid": PID,
            "tid": tid(f.to_cpu), "bp": "e", "args": {"flow": f.label, "hit": f.to.describe()},
        }));
    }
    for c in &t.counters {
        ev.push(json!({
            "ph": "C", "name": "kprobes", "ts": us(c.vtime), "pid": PID, "args": {"nhit": c.nhit, "nmissed": c.nmissed},
        }));
    }
    let mut out = String::from("{\"traceEvents\":[\n");
    for (i, e) in ev.iter().enumerate() {
        out.push_str(&serde_json::to_string(e).expect("trace events serialise"));
        out.push_str(if i + 1 < ev.len() { ",\n" } else { "\n" });
    }
    let other = json!({
        "generator": "probesim timeline",
        "time": "ts and dur are microseconds; 1 vtime tick = 1 ns, so ts = vtime / 1000",
        "cpus": t.cpus, "events": t.events, "vtime_start": t.start, "vtime_end": t.end,
    });
    out.push_str("],\n\"otherData\":");
    out.push_str(&serde_json::to_string(&other).expect("serialises"));
    out.push_str("}\n");
    out
}
