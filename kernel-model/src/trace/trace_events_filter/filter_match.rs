//! Running a parsed filter: `filter_match_preds` and the `filter_pred_*`/`regex_match_*` callbacks
//! (`kernel/trace/trace_events_filter.c`), `glob_match` (`lib/glob.c`).

use super::*;

impl EventFilter {
    /// Reading the `filter` file (`print_event_filter`).
    #[must_use]
    pub fn read(&self) -> String {
        format!("{}\n", self.filter_string)
    }

    /// `filter_match_preds`: whether the record passes (is kept). `cpu` is the CPU the filter runs on.
    #[must_use]
    pub fn matches(&self, r: &TraceRecord) -> bool {
        let mut i = 0;
        while let Some(pred) = &self.prog[i].pred {
            let m = self.eval(pred, r);
            if m == self.prog[i].when_to_branch {
                i = self.prog[i].target;
            }
            i += 1;
        }
        self.prog[i].target != 0
    }

    fn eval(&self, p: &Pred, r: &TraceRecord) -> bool {
        let field = &self.fields[p.field];
        match field.kind {
            FieldKind::Cpu => {
                let (cpu, cmp) = (i64::from(r.cpu), p.val as i32 as i64);
                match p.op {
                    FilterOp::Eq => cpu == cmp,
                    FilterOp::Ne => cpu != cmp,
                    FilterOp::Lt => cpu < cmp,
                    FilterOp::Le => cpu <= cmp,
                    FilterOp::Gt => cpu > cmp,
                    FilterOp::Ge => cpu >= cmp,
                    _ => false,
                }
            }
            FieldKind::Comm => {
                let mut buf = r.comm.as_bytes().to_vec();
                buf.resize(TASK_COMM_LEN, 0);
                regex_match(p, &buf, TASK_COMM_LEN) ^ p.not
            }
            FieldKind::DynString => {
                let s = match field_value(field.source, r) {
                    Value::Str(Some(s)) => s,
                    _ => String::new(),
                };
                let mut buf = s.into_bytes();
                buf.push(0);
                let len = buf.len();
                regex_match(p, &buf, len) ^ p.not
            }
            FieldKind::Num { size, signed } => {
                let raw = match field_value(field.source, r) {
                    Value::Num(v) => v,
                    Value::Str(_) => 0,
                };
                num_pred(p, raw, size, signed)
            }
        }
    }
}

enum Value {
    Num(u64),
    Str(Option<String>),
}

/// The `TRACE_FLAG_*` bits of `common_flags`.
fn flags_byte(f: &TraceFlags) -> u64 {
    let mut b = 0;
    for (on, bit) in [
        (f.irqs_off, 0x01),
        (f.irqs_nosupport, 0x02),
        (f.need_resched, 0x04),
        (f.hardirq, 0x08),
        (f.softirq, 0x10),
        (f.preempt_resched, 0x20),
        (f.nmi, 0x40),
        (f.bh_off, 0x80),
    ] {
        if on {
            b |= bit;
        }
    }
    b
}

fn field_value(src: FieldSource, r: &TraceRecord) -> Value {
    match src {
        FieldSource::CommonType => Value::Num(u64::from(r.event_id)),
        FieldSource::CommonFlags => Value::Num(flags_byte(&r.flags)),
        FieldSource::CommonPreemptCount => Value::Num(u64::from(r.flags.preempt_count)),
        FieldSource::CommonPid => Value::Num(u64::from(r.pid)),
        FieldSource::ProbeIp => Value::Num(match r.ip {
            ProbeIp::Kprobe { ip } => ip.0,
            ProbeIp::Kretprobe { func, .. } => func.0,
        }),
        FieldSource::ProbeFunc => Value::Num(match r.ip {
            ProbeIp::Kretprobe { func, .. } => func.0,
            ProbeIp::Kprobe { ip } => ip.0,
        }),
        FieldSource::ProbeRetIp => Value::Num(match r.ip {
            ProbeIp::Kretprobe { ret_ip, .. } => ret_ip.0,
            ProbeIp::Kprobe { .. } => 0,
        }),
        FieldSource::Arg(i) => match r.args.get(i) {
            Some(FetchedValue::Scalar(v)) => Value::Num(*v),
            Some(FetchedValue::String(s)) => Value::Str(s.clone()),
            // An array field compares its first bytes as one integer (select_comparison_fn by size); elements are
            // packed little-endian.
            Some(FetchedValue::Array(items)) => Value::Num(items.iter().rev().fold(0u64, |acc, it| match it {
                FetchedValue::Scalar(v) => (acc << 8) | (v & 0xff),
                _ => acc,
            })),
            None => Value::Num(0),
        },
        FieldSource::Cpu => Value::Num(u64::from(r.cpu)),
        FieldSource::Comm => Value::Str(Some(r.comm.clone())),
    }
}

/// `filter_pred_<size>` (equality, with `not`) and `filter_pred_{LT,LE,GT,GE,BAND}_<type>`.
fn num_pred(p: &Pred, raw: u64, size: usize, signed: bool) -> bool {
    let bits = (size.min(8) * 8) as u32;
    let m = |v: u64| if bits >= 64 { v } else { v & ((1u64 << bits) - 1) };
    let sx = |v: u64| if bits >= 64 { v as i64 } else { ((v << (64 - bits)) as i64) >> (64 - bits) };
    let (a, b) = (m(raw), m(p.val));
    match p.op {
        FilterOp::Eq | FilterOp::Ne => (a == b) ^ p.not,
        FilterOp::Band => a & b != 0,
        op if signed => {
            let (a, b) = (sx(raw), sx(p.val));
            match op {
                FilterOp::Lt => a < b,
                FilterOp::Le => a <= b,
                FilterOp::Gt => a > b,
                _ => a >= b,
            }
        }
        FilterOp::Lt => a < b,
        FilterOp::Le => a <= b,
        FilterOp::Gt => a > b,
        _ => a >= b,
    }
}

/// The `regex_match_*` callbacks over a NUL-terminated (or `len`-bounded) buffer.
fn regex_match(p: &Pred, buf: &[u8], len: usize) -> bool {
    let Some((pattern, ty)) = &p.regex else {
        return false;
    };
    let pat = pattern.as_bytes();
    let cstr = |b: &[u8]| -> Vec<u8> { b.iter().take_while(|&&c| c != 0).copied().collect() };
    match ty {
        // strncmp(str, pattern, len) == 0: equal up to the first NUL within len.
        MatchType::Full => cstr(&buf[..len.min(buf.len())]) == pat.iter().copied().take(len).collect::<Vec<_>>(),
        MatchType::Front => {
            if len != 0 && len < pat.len() {
                return false;
            }
            let s = cstr(buf);
            s.len() >= pat.len() && &s[..pat.len()] == pat
        }
        MatchType::Middle => {
            let s = cstr(&buf[..len.min(buf.len())]);
            pat.is_empty() || s.windows(pat.len()).any(|w| w == pat)
        }
        MatchType::End => {
            // `strlen = len - 1; memcmp(str + strlen - r->len, …)`: with a fixed-size buffer (comm) the window
            // sits at the end of the buffer, not of the string, as in the kernel.
            let strlen = len.saturating_sub(1);
            strlen >= pat.len() && buf.get(strlen - pat.len()..strlen) == Some(pat)
        }
        MatchType::Glob => glob_match(pat, &cstr(buf)),
    }
}

/// `glob_match` (lib/glob.c): `*`, `?`, `[...]` with ranges and `!`/`^` negation, `\` escapes.
#[must_use]
pub fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let (mut back_pat, mut back_str) = (None::<usize>, 0usize);
    loop {
        let c = s.get(i).copied();
        let d = pat.get(p).copied();
        let mut matched = false;
        let mut advance_pat = 1;
        match d {
            Some(b'*') => {
                if p + 1 == pat.len() {
                    return true;
                }
                back_pat = Some(p + 1);
                back_str = i;
                p += 1;
                continue;
            }
            Some(b'?') if c.is_some() => matched = true,
            Some(b'[') if c.is_some() => {
                let c = c.unwrap_or(0);
                let mut q = p + 1;
                let inverted = matches!(pat.get(q), Some(b'!') | Some(b'^'));
                if inverted {
                    q += 1;
                }
                let mut m = false;
                let mut first = true;
                while let Some(&a) = pat.get(q) {
                    if a == b']' && !first {
                        break;
                    }
                    first = false;
                    let mut b = a;
                    if pat.get(q + 1) == Some(&b'-') && pat.get(q + 2).is_some_and(|&x| x != b']') {
                        b = pat[q + 2];
                        q += 2;
                    }
                    if a <= c && c <= b {
                        m = true;
                    }
                    q += 1;
                }
                if pat.get(q) == Some(&b']') {
                    matched = m != inverted;
                    advance_pat = q + 1 - p;
                } else {
                    matched = c == b'[';
                }
            }
            Some(b'\\') if pat.get(p + 1).is_some() && c.is_some() => {
                matched = pat[p + 1] == c.unwrap_or(0);
                advance_pat = 2;
            }
            Some(lit) if c == Some(lit) => matched = true,
            None if c.is_none() => return true,
            _ => {}
        }
        if matched {
            p += advance_pat;
            i += 1;
            continue;
        }
        match back_pat {
            Some(bp) if back_str < s.len() => {
                back_str += 1;
                p = bp;
                i = back_str;
            }
            _ => return false,
        }
    }
}

