//! BPF results a scenario can show and assert (issue 12): `show = ["maps", "progs"]`, `perf_printer`, and the
//! `[[expect_map]]`, `[[expect_trace_pipe]]`, `[[expect_record]]` and `[[expect_prog]]` tables, checked after the
//! run against [`BpfResults`]. Each mismatch is one line naming the table and what differed (docs/scenarios.md).

use crate::bpftool::records::Record;
use kernel_model::bpf::maps::{BpfMap, MapType};
use kernel_model::bpf::runtime::LoadedProg;
use serde::Deserialize;

/// A key or value as a scenario writes it: an integer (little-endian, the map's key or value size) or a hex
/// string (`"2a 00 00 00"`, spaces optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "an integer or a hex string such as \"2a 00 00 00\"")]
pub enum Bytes {
    /// An integer.
    Int(i64),
    /// Hex bytes.
    Hex(String),
}

impl Bytes {
    /// The bytes for a field of `size` bytes, or why not.
    pub fn encode(&self, size: usize) -> Result<Vec<u8>, String> {
        match self {
            Bytes::Int(v) => {
                let b = v.to_le_bytes();
                let fits = size >= 8 || {
                    let bits = 8 * size as u32;
                    let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << bits) - 1);
                    (lo..=hi).contains(v)
                };
                if size == 0 || !fits {
                    return Err(format!("{v} does not fit in {size} bytes"));
                }
                let mut out = b[..size.min(8)].to_vec();
                out.resize(size, if *v < 0 { 0xff } else { 0 });
                Ok(out)
            }
            Bytes::Hex(s) => {
                let b = parse_hex(s)?;
                if b.len() != size {
                    return Err(format!("\"{s}\" is {} bytes, the field is {size}", b.len()));
                }
                Ok(b)
            }
        }
    }
}

/// Hex bytes, spaces optional (`"2a 00"`, `"2a00"`).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = digits.strip_prefix("0x").unwrap_or(&digits);
    if !digits.is_ascii() {
        return Err(format!("\"{s}\": not hex bytes"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("\"{s}\": an odd number of hex digits"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| format!("\"{s}\": not hex bytes")))
        .collect()
}

/// `a b c` hex, as the failure lines show bytes.
#[must_use]
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// `[[expect_map]]`: a map's element (or its absence, or the element count).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_map]] table (map, key, value or values or absent, cpu, count)")]
pub struct ExpectMap {
    /// The map's name (the kernel's: at most 15 bytes; global data maps are `<obj>.bss` etc.).
    pub map: String,
    /// The key (arrays: the index).
    pub key: Option<Bytes>,
    /// The value (a per-CPU map: every CPU's, unless `cpu` is given).
    pub value: Option<Bytes>,
    /// A per-CPU map's value on this CPU only.
    pub cpu: Option<usize>,
    /// A per-CPU map's values, one per CPU.
    pub values: Option<Vec<Bytes>>,
    /// The key is not in the map.
    #[serde(default)]
    pub absent: bool,
    /// The number of elements `bpftool map dump` finds.
    pub count: Option<usize>,
}

/// `[[expect_trace_pipe]]`: a trace_pipe line; the tables match lines in their order (each after the previous one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_trace_pipe]] table (message or regex)")]
pub struct ExpectTracePipe {
    /// The exact message (after `bpf_trace_printk: `).
    pub message: Option<String>,
    /// A regular expression the whole line matches (`regex` crate syntax; unanchored unless it says `^…$`).
    pub regex: Option<String>,
}

/// `[[expect_record]]`: a ring buffer or perf buffer record as the consumer receives it, or how many there are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_record]] table (map, index, size, starts_with, data, count)")]
pub struct ExpectRecord {
    /// The ring buffer or perf event array map.
    pub map: String,
    /// Which record of that map (from 0, in delivery order).
    pub index: Option<usize>,
    /// Its size as the callback gets it.
    pub size: Option<usize>,
    /// Its leading bytes (hex).
    pub starts_with: Option<String>,
    /// All its bytes (hex).
    pub data: Option<String>,
    /// The number of records the map delivered.
    pub count: Option<usize>,
}

/// `[[expect_prog]]`: a loaded program's run count (`run_cnt`) and return values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_prog]] table (prog, run_cnt, returns)")]
pub struct ExpectProg {
    /// The program's name.
    pub prog: String,
    /// How many times it ran.
    pub run_cnt: Option<u64>,
    /// What each run returned, in order.
    pub returns: Option<Vec<i64>>,
}

/// What `show` may list.
pub const SHOW_ITEMS: [&str; 2] = ["maps", "progs"];

/// The BPF side of a finished run, as user space reads it.
#[derive(Clone, Debug, Default)]
pub struct BpfResults {
    /// Every map, as the run left it.
    pub maps: Vec<BpfMap>,
    /// Every program, with `run_cnt`.
    pub progs: Vec<LoadedProg>,
    /// Each program's runs: (name, r0), in order.
    pub runs: Vec<(String, u64)>,
    /// Ring buffer records then perf records, as the consumers got them.
    pub records: Vec<Record>,
    /// trace_pipe entries.
    pub trace_pipe: Vec<String>,
}

/// Checks what a scenario's tables are before the run: exactly one of `message`/`regex`, valid regexes, `show`
/// items. Returns (place, message).
pub fn validate(spec: &crate::scenario::ScenarioSpec) -> Result<(), (String, String)> {
    for (i, s) in spec.show.iter().enumerate() {
        if !SHOW_ITEMS.contains(&s.as_str()) {
            return Err((format!("show[{i}]"), format!("`{s}`: expected one of {}", SHOW_ITEMS.join(", "))));
        }
    }
    if let Some(p) = &spec.perf_printer {
        if p != "execsnoop" {
            return Err(("perf_printer".into(), format!("`{p}`: the only printer is `execsnoop`")));
        }
    }
    for (i, e) in spec.expect_trace_pipe.iter().enumerate() {
        match (&e.message, &e.regex) {
            (Some(_), None) => {}
            (None, Some(r)) => {
                regex::Regex::new(r).map_err(|err| (format!("expect_trace_pipe[{i}].regex"), err.to_string().replace('\n', " ")))?;
            }
            _ => return Err((format!("expect_trace_pipe[{i}]"), "needs exactly one of `message` or `regex`".into())),
        }
    }
    for (i, e) in spec.expect_map.iter().enumerate() {
        let n = usize::from(e.value.is_some()) + usize::from(e.values.is_some()) + usize::from(e.absent);
        if e.key.is_some() != (n == 1) || (e.key.is_none() && e.count.is_none()) {
            return Err((
                format!("expect_map[{i}]"),
                "needs a key with exactly one of `value`, `values` or `absent`, or a `count`".into(),
            ));
        }
        if e.cpu.is_some() && e.value.is_none() {
            return Err((format!("expect_map[{i}].cpu"), "goes with `value`".into()));
        }
    }
    for (i, e) in spec.expect_record.iter().enumerate() {
        let about_one = e.size.is_some() || e.starts_with.is_some() || e.data.is_some();
        if (e.index.is_none() && (about_one || e.count.is_none())) || (e.index.is_some() && !about_one) {
            return Err((
                format!("expect_record[{i}]"),
                "needs an `index` with `size`, `starts_with` or `data`, or a `count`".into(),
            ));
        }
        for (what, h) in [("starts_with", &e.starts_with), ("data", &e.data)] {
            if let Some(h) = h {
                parse_hex(h).map_err(|m| (format!("expect_record[{i}].{what}"), m))?;
            }
        }
    }
    Ok(())
}

fn map_check(e: &ExpectMap, map: &BpfMap) -> Option<String> {
    let name = &e.map;
    let d = &map.def;
    let entries = map.entries();
    let per_cpu = d.map_type == MapType::PercpuArray;
    let ncpu = if per_cpu { map.nr_cpus().max(1) } else { 1 };
    if let Some(want) = e.count {
        let got = entries.len() / ncpu;
        if got != want {
            return Some(format!("map {name}: {got} element(s), expected {want}"));
        }
    }
    let key = match e.key.as_ref()?.encode(d.key_size as usize) {
        Ok(k) => k,
        Err(m) => return Some(format!("map {name}: key {m}")),
    };
    let values: Vec<&Vec<u8>> = entries.iter().filter(|(k, _)| *k == key).map(|(_, v)| v).collect();
    let k = hex(&key);
    if e.absent {
        return (!values.is_empty()).then(|| format!("map {name}: key {k} is present ({}), expected absent", hex(values[0])));
    }
    if values.is_empty() {
        return Some(format!("map {name}: no element with key {k}"));
    }
    let vsize = d.value_size as usize;
    let enc = |b: &Bytes| b.encode(vsize).map_err(|m| format!("map {name}: value {m}"));
    if let Some(Err(m)) = e.value.as_ref().map(enc) {
        return Some(m);
    }
    let wants: Vec<(Option<usize>, Vec<u8>)> = match (&e.value, &e.values, e.cpu) {
        (Some(v), _, Some(c)) => vec![(Some(c), enc(v).ok()?)],
        (Some(v), _, None) if per_cpu => (0..ncpu).map(|c| (Some(c), enc(v).unwrap_or_default())).collect(),
        (Some(v), _, None) => match enc(v) {
            Ok(b) => vec![(None, b)],
            Err(m) => return Some(m),
        },
        (None, Some(vs), _) => {
            if vs.len() != ncpu {
                return Some(format!("map {name}: {} values given, the map has {ncpu} CPU copies", vs.len()));
            }
            let mut out = Vec::new();
            for (c, v) in vs.iter().enumerate() {
                match enc(v) {
                    Ok(b) => out.push((Some(c), b)),
                    Err(m) => return Some(m),
                }
            }
            out
        }
        _ => return None,
    };
    for (cpu, want) in wants {
        let at = cpu.unwrap_or(0);
        let Some(got) = values.get(at) else {
            return Some(format!("map {name}: key {k} has no value for CPU {at}"));
        };
        if **got != want {
            let on = cpu.filter(|_| per_cpu).map_or(String::new(), |c| format!(" on CPU {c}"));
            return Some(format!("map {name}: key {k}{on}: value is {}, expected {}", hex(got), hex(&want)));
        }
    }
    None
}

/// The first unmet BPF expectation, as one line.
#[must_use]
pub fn check(spec: &crate::scenario::ScenarioSpec, r: &BpfResults) -> Option<String> {
    for e in &spec.expect_map {
        let Some(map) = r.maps.iter().find(|m| m.def.name == e.map) else {
            let names: Vec<&str> = r.maps.iter().map(|m| m.def.name.as_str()).collect();
            return Some(format!("map {}: no such map (maps: {})", e.map, names.join(", ")));
        };
        if let Some(m) = map_check(e, map) {
            return Some(m);
        }
    }
    let lines: Vec<String> = r.trace_pipe.concat().lines().map(str::to_string).collect();
    let mut from = 0;
    for (i, e) in spec.expect_trace_pipe.iter().enumerate() {
        let re = e.regex.as_ref().and_then(|r| regex::Regex::new(r).ok());
        let hit = lines.iter().enumerate().skip(from).find(|(_, l)| match (&e.message, &re) {
            (Some(m), _) => l.split_once(": bpf_trace_printk: ").map(|(_, msg)| msg) == Some(m.as_str()),
            (None, Some(re)) => re.is_match(l),
            _ => false,
        });
        match hit {
            Some((at, _)) => from = at + 1,
            None => {
                let want = e.message.as_ref().map_or_else(
                    || format!("line matching /{}/", e.regex.clone().unwrap_or_default()),
                    |m| format!("line with the message `{m}`"),
                );
                let after = if i == 0 { String::new() } else { " after the previous expected line".to_string() };
                return Some(format!("trace_pipe: no {want}{after} ({} line(s) in all)", lines.len()));
            }
        }
    }
    for e in &spec.expect_record {
        let recs: Vec<&Record> = r.records.iter().filter(|x| x.map == e.map).collect();
        if let Some(want) = e.count {
            if recs.len() != want {
                return Some(format!("records of {}: {} delivered, expected {want}", e.map, recs.len()));
            }
        }
        let Some(i) = e.index else { continue };
        let Some(rec) = recs.get(i) else {
            return Some(format!("records of {}: no record {i} ({} delivered)", e.map, recs.len()));
        };
        if let Some(size) = e.size {
            if rec.data.len() != size {
                return Some(format!("records of {}: record {i} has size {}, expected {size}", e.map, rec.data.len()));
            }
        }
        if let Some(want) = e.starts_with.as_deref().and_then(|h| parse_hex(h).ok()) {
            if !rec.data.starts_with(&want) {
                let got = &rec.data[..want.len().min(rec.data.len())];
                return Some(format!("records of {}: record {i} starts {}, expected {}", e.map, hex(got), hex(&want)));
            }
        }
        if let Some(want) = e.data.as_deref().and_then(|h| parse_hex(h).ok()) {
            if rec.data != want {
                return Some(format!("records of {}: record {i} is {}, expected {}", e.map, hex(&rec.data), hex(&want)));
            }
        }
    }
    for e in &spec.expect_prog {
        let Some(p) = r.progs.iter().find(|p| p.name == e.prog) else {
            return Some(format!("BPF program {}: not loaded", e.prog));
        };
        if let Some(want) = e.run_cnt {
            if p.run_cnt != want {
                return Some(format!("BPF program {}: run_cnt is {}, expected {want}", e.prog, p.run_cnt));
            }
        }
        if let Some(want) = &e.returns {
            let got: Vec<i64> = r.runs.iter().filter(|(n, _)| *n == e.prog).map(|(_, r0)| *r0 as i64).collect();
            if got != *want {
                let l = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
                return Some(format!("BPF program {}: runs returned [{}], expected [{}]", e.prog, l(&got), l(want)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    /// Bad input is an error naming it, never a panic (a multi-byte character used to be sliced through).
    #[test]
    fn hex_bytes_are_checked_before_they_are_sliced() {
        assert_eq!(parse_hex("2a 00"), Ok(vec![0x2a, 0]));
        assert_eq!(parse_hex("0x2a00"), Ok(vec![0x2a, 0]));
        assert!(parse_hex("aé0").is_err());
        assert!(parse_hex("é").is_err());
        assert!(parse_hex("2a0").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
