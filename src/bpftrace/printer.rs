//! User space: what bpftrace prints (v0.21 `src/output.cpp` `TextOutput`, `src/bpftrace.cpp` `print_map*`,
//! `src/printf.cpp`). `printf` records come from the perf event array; maps are read back at the end and printed
//! in name order (`bytecode_.maps()` is a `std::map`), each sorted as bpftrace sorts it: plain, `count` and `sum` maps
//! by value, `min`/`max` by value, `avg`/`stats` by average, `hist`/`lhist` by their total count — ascending.
//! Equal values keep key order (bpftrace's `std::sort` leaves them in hash order, which is not deterministic).

use super::sema::{Compiled, KeyTy, MapInfo, ValKind, EXIT_RECORD};
use std::fmt::Write as _;

/// The conversion characters of a printf format (`%%` skipped), or bpftrace's complaint.
pub fn conversions(fmt: &str) -> Result<Vec<char>, String> {
    Ok(specs(fmt)?.into_iter().filter_map(|p| match p {
        Piece::Spec { conv, .. } => Some(conv),
        Piece::Lit(_) => None,
    }).collect())
}

#[derive(Debug)]
enum Piece {
    Lit(String),
    Spec { flags: String, width: Option<usize>, prec: Option<usize>, conv: char },
}

fn specs(fmt: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if it.peek() == Some(&'%') {
            it.next();
            lit.push('%');
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = it.peek().filter(|f| "-+ #0".contains(**f)) {
            flags.push(f);
            it.next();
        }
        let num = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut s = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                s.push(d);
                it.next();
            }
            s.parse::<usize>().ok()
        };
        let width = num(&mut it);
        let prec = if it.peek() == Some(&'.') {
            it.next();
            Some(num(&mut it).unwrap_or(0))
        } else {
            None
        };
        while it.peek().is_some_and(|l| "hlzjt".contains(*l)) {
            it.next();
        }
        let conv = it.next().ok_or("printf: Invalid format string: a conversion is missing")?;
        if !"diuxXocsp".contains(conv) {
            return Err(format!("printf: Unknown conversion specifier: %{conv}"));
        }
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        out.push(Piece::Spec { flags, width, prec, conv });
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// A decoded printf argument.
enum Arg {
    Int(u64),
    Str(String),
}

fn pad(s: String, flags: &str, width: Option<usize>, zero_ok: bool) -> String {
    let w = width.unwrap_or(0);
    if s.chars().count() >= w {
        return s;
    }
    let n = w - s.chars().count();
    if flags.contains('-') {
        format!("{s}{}", " ".repeat(n))
    } else if flags.contains('0') && zero_ok {
        let (sign, digits) = if s.starts_with('-') || s.starts_with('+') { s.split_at(1) } else { ("", s.as_str()) };
        format!("{sign}{}{digits}", "0".repeat(n))
    } else {
        format!("{}{s}", " ".repeat(n))
    }
}

fn format_printf(fmt: &str, args: &[Arg]) -> String {
    let Ok(pieces) = specs(fmt) else { return fmt.to_string() };
    let mut out = String::new();
    let mut args = args.iter();
    for p in pieces {
        match p {
            Piece::Lit(s) => out.push_str(&s),
            Piece::Spec { flags, width, prec, conv } => {
                let arg = args.next();
                let v = match arg {
                    Some(Arg::Int(v)) => *v,
                    _ => 0,
                };
                let s = match conv {
                    'd' | 'i' => {
                        let x = v as i64;
                        let sign = if x >= 0 && flags.contains('+') { "+" } else if x >= 0 && flags.contains(' ') { " " } else { "" };
                        format!("{sign}{x}")
                    }
                    'u' => v.to_string(),
                    'x' => format!("{}{v:x}", if flags.contains('#') && v != 0 { "0x" } else { "" }),
                    'X' => format!("{}{v:X}", if flags.contains('#') && v != 0 { "0X" } else { "" }),
                    'o' => format!("{v:o}"),
                    'p' => format!("0x{v:x}"),
                    'c' => char::from(v as u8).to_string(),
                    _ => match arg {
                        Some(Arg::Str(s)) => prec.map_or(s.clone(), |p| s.chars().take(p).collect()),
                        _ => String::new(),
                    },
                };
                out.push_str(&pad(s, &flags, width, conv != 's' && conv != 'c'));
            }
        }
    }
    out
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
}

fn str_at(b: &[u8], at: usize) -> String {
    let s = b.get(at..at + 16).unwrap_or(&[]);
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

/// Resolves kernel addresses to symbol names (bpftrace's `resolve_ksym`).
pub type Ksym<'a> = &'a dyn Fn(u64) -> String;

fn value_str(c: &Compiled, t: KeyTy, b: &[u8], at: usize, ksym: Ksym<'_>) -> String {
    match t {
        KeyTy::Int => (u64_at(b, at) as i64).to_string(),
        KeyTy::Str => str_at(b, at),
        KeyTy::Ksym => ksym(u64_at(b, at)),
        KeyTy::Probe => c.probe_names.get(u64_at(b, at) as usize).cloned().unwrap_or_default(),
    }
}

/// What a perf record prints; `None` for `exit()`.
#[must_use]
pub fn perf_record(c: &Compiled, data: &[u8], ksym: Ksym<'_>) -> Option<String> {
    let id = u64_at(data, 0);
    if id == EXIT_RECORD {
        return None;
    }
    let Some(p) = c.printfs.get(id as usize - 1) else { return Some(String::new()) };
    let mut at = 8;
    let mut args = Vec::new();
    for t in &p.args {
        args.push(match t {
            KeyTy::Int => Arg::Int(u64_at(data, at)),
            _ => Arg::Str(value_str(c, *t, data, at, ksym)),
        });
        at += t.size();
    }
    Some(format_printf(&p.fmt, &args))
}

/// `hist_index_label(index, k)` with k = 0.
fn hist_label(index: usize) -> String {
    let mut power = index as u32 - 1;
    let decade = power / 10;
    let suffix = ["", "K", "M", "G", "T", "P", "E"][decade as usize % 7];
    power -= 10 * decade;
    format!("{}{suffix}", 1u64 << power)
}

/// `lhist_index_label(number, step)`.
fn lhist_label(number: i64, step: i64) -> String {
    const KILO: i64 = 1024;
    const MEGA: i64 = 1024 * 1024;
    if step % KILO != 0 || number == 0 {
        return number.to_string();
    }
    if number % MEGA == 0 {
        format!("{}M", number / MEGA)
    } else if number % KILO == 0 {
        format!("{}K", number / KILO)
    } else {
        number.to_string()
    }
}

fn bar_line(header: &str, count: u64, max: u64) -> String {
    let bar = (count as f32 / max as f32 * 52.0) as usize;
    format!("{header:<16}{count:>8} |{:<52}|\n", "@".repeat(bar))
}

/// `TextOutput::hist_to_str` (k = 0): buckets from the first to the last non-empty one.
fn hist_str(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0);
    let (Some(lo), Some(hi)) = (values.iter().position(|&v| v > 0), values.iter().rposition(|&v| v > 0)) else {
        return String::new();
    };
    let mut s = String::new();
    for (i, &v) in values.iter().enumerate().take(hi + 1).skip(lo) {
        let header = match i {
            0 => "(..., 0)".to_string(),
            1 | 2 => format!("[{}]", i - 1),
            _ => format!("[{}, {})", hist_label(i - 1), hist_label(i)),
        };
        s.push_str(&bar_line(&header, v, max));
    }
    s
}

/// `TextOutput::lhist_to_str`.
fn lhist_str(values: &[u64], min: i64, max: i64, step: i64) -> String {
    let buckets = ((max - min) / step) as usize;
    let top = values.iter().copied().max().unwrap_or(0);
    let (Some(lo), Some(hi)) = (values.iter().position(|&v| v > 0), values.iter().rposition(|&v| v > 0)) else {
        return String::new();
    };
    let mut s = String::new();
    for (i, &v) in values.iter().enumerate().take(hi + 1).skip(lo) {
        let header = if i == 0 {
            format!("(..., {})", lhist_label(min, step))
        } else if i == buckets + 1 {
            format!("[{}, ...)", lhist_label(max, step))
        } else {
            let lo = (i as i64 - 1) * step + min;
            format!("[{}, {})", lhist_label(lo, step), lhist_label(lo + step, step))
        };
        s.push_str(&bar_line(&header, v, top));
    }
    s
}

/// A map's entries as user space reads them: (key, value) per element, a per-CPU array's copies one per CPU.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn key_str(c: &Compiled, m: &MapInfo, key: &[u8], ksym: Ksym<'_>) -> String {
    if m.keys.is_empty() {
        return m.name.clone();
    }
    let mut at = 0;
    let parts: Vec<String> = m
        .keys
        .iter()
        .map(|t| {
            let s = value_str(c, *t, key, at, ksym);
            at += t.size();
            s
        })
        .collect();
    format!("{}[{}]", m.name, parts.join(", "))
}

/// One map as `print_map` prints it at exit.
#[must_use]
pub fn print_map(c: &Compiled, m: &MapInfo, entries: &Entries, ksym: Ksym<'_>) -> String {
    let i64_at = |b: &[u8], at: usize| u64_at(b, at) as i64;
    // Reduce per-CPU copies (same key) and group histogram buckets under their key prefix.
    let mut grouped: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    for (k, v) in entries {
        let kp = if matches!(m.kind, ValKind::Hist | ValKind::Lhist { .. }) { k[..m.keys_size()].to_vec() } else { k.clone() };
        match grouped.iter_mut().find(|(g, _)| *g == kp) {
            Some((_, vs)) => vs.push([k.as_slice(), v.as_slice()].concat()),
            None => grouped.push((kp, vec![[k.as_slice(), v.as_slice()].concat()])),
        }
    }
    let ks = m.key_size();
    let val = |kv: &Vec<u8>, at: usize| i64_at(&kv[ks..], at);
    match m.kind {
        ValKind::Hist | ValKind::Lhist { .. } => {
            let mut rows: Vec<(String, Vec<u64>, u64)> = grouped
                .iter()
                .map(|(k, kvs)| {
                    let mut values = vec![0u64; if let ValKind::Lhist { min, max, step } = m.kind { ((max - min) / step) as usize + 2 } else { 0 }];
                    for kv in kvs {
                        let b = u64_at(kv, m.keys_size()) as usize;
                        if values.len() <= b {
                            values.resize(b + 1, 0);
                        }
                        values[b] += val(kv, 0) as u64;
                    }
                    let total = values.iter().sum();
                    (key_str(c, m, k, ksym), values, total)
                })
                .collect();
            rows.sort_by_key(|r| r.2);
            let elems: Vec<String> = rows
                .iter()
                .map(|(k, values, _)| {
                    let body = match m.kind {
                        ValKind::Lhist { min, max, step } => lhist_str(values, min, max, step),
                        _ => hist_str(values),
                    };
                    format!("{k}: \n{body}")
                })
                .collect();
            format!("{}\n", elems.join("\n"))
        }
        ValKind::Avg | ValKind::Stats => {
            let mut rows: Vec<(String, i64, i64, i64)> = grouped
                .iter()
                .map(|(k, kvs)| {
                    let count: i64 = kvs.iter().map(|kv| val(kv, 0)).sum();
                    let total: i64 = kvs.iter().map(|kv| val(kv, 8)).sum();
                    let avg = if count != 0 { total / count } else { 0 };
                    (key_str(c, m, k, ksym), count, total, avg)
                })
                .collect();
            rows.sort_by_key(|r| r.3);
            let elems: Vec<String> = rows
                .iter()
                .map(|(k, count, total, avg)| {
                    if m.kind == ValKind::Stats {
                        format!("{k}: count {count}, average {avg}, total {total}")
                    } else {
                        format!("{k}: {avg}")
                    }
                })
                .collect();
            format!("{}\n\n", elems.join("\n"))
        }
        ValKind::Int | ValKind::Count | ValKind::Sum | ValKind::Min | ValKind::Max => {
            let mut rows: Vec<(String, i64)> = grouped
                .iter()
                .map(|(k, kvs)| {
                    let v = match m.kind {
                        ValKind::Min | ValKind::Max => {
                            let set: Vec<i64> = kvs.iter().filter(|kv| val(kv, 8) != 0).map(|kv| val(kv, 0)).collect();
                            if m.kind == ValKind::Min { set.iter().copied().min() } else { set.iter().copied().max() }
                                .unwrap_or(0)
                        }
                        _ => kvs.iter().map(|kv| val(kv, 0)).sum(),
                    };
                    (key_str(c, m, k, ksym), v)
                })
                .collect();
            if m.kind == ValKind::Count {
                rows.sort_by_key(|r| r.1 as u64);
            } else {
                rows.sort_by_key(|r| r.1);
            }
            let elems: Vec<String> = rows.iter().map(|(k, v)| {
                let v = if m.kind == ValKind::Count { (*v as u64).to_string() } else { v.to_string() };
                format!("{k}: {v}")
            }).collect();
            format!("{}\n", elems.join("\n"))
        }
    }
}

/// Every map, in name order, as bpftrace prints them at exit (after its `"\n\n"`).
#[must_use]
pub fn print_maps(c: &Compiled, maps: &[Entries], ksym: Ksym<'_>) -> String {
    let mut order: Vec<usize> = (0..c.maps.len()).collect();
    order.sort_by(|&a, &b| c.maps[a].name.cmp(&c.maps[b].name));
    let mut s = String::new();
    for i in order {
        let _ = write!(s, "{}", print_map(c, &c.maps[i], &maps[i], ksym));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_formats_like_c() {
        let args = [Arg::Str("bash".into()), Arg::Int(42), Arg::Int(-22i64 as u64)];
        assert_eq!(format_printf("%-8s|%6d|%d|%%\n", &args), "bash    |    42|-22|%\n");
        assert_eq!(format_printf("%05d %x", &[Arg::Int(42), Arg::Int(255)]), "00042 ff");
    }

    #[test]
    fn hist_labels() {
        assert_eq!(hist_label(3), "4");
        assert_eq!(hist_label(11), "1K");
        assert_eq!(hist_str(&[0, 0, 1, 2]), format!("[1]                    1 |{:<52}|\n[2, 4)                 2 |{}|\n", "@".repeat(26), "@".repeat(52)));
    }
}
