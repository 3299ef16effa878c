//! `kernel/trace/trace_events_filter.c`: the event filter language (`events/<grp>/<ev>/filter`), its parser
//! (`calc_stack`, `predicate_parse`, `parse_pred`), the predicate program and `filter_match_preds`, and the errors as
//! the kernel reports them (the write's errno, the `filter` file's `^`/`parse_error:` text, the `error_log` entry).
//!
//! Source: [5.10] Rtoax/linux-5.10.13 `kernel/trace/trace_events_filter.c` (@411c0a3d); [6.12] the error table of
//! the v6.6 cpumask series (find_string id 67196193451). The 6.12-only syntax (cpumasks, `.function`, `CPUS{…}`) is
//! not modelled; both profiles parse the 5.10 language.

use crate::profile::KernelProfile;
use crate::trace::output::{FetchedValue, ProbeIp, TraceFlags, TraceRecord};
use crate::trace::trace_kprobe::ProbeDefinition;
use crate::trace::trace_probe::{kstrtol, kstrtoul, ErrorLogEntry, TraceErrno};
use crate::errno::Errno;

/// `MAX_FILTER_STR_VAL`.
pub const MAX_FILTER_STR_VAL: usize = 256;
/// `TASK_COMM_LEN`.
pub const TASK_COMM_LEN: usize = 16;

macro_rules! filt_errors {
    ($($name:ident),* $(,)?) => {
        /// `FILT_ERR_*` (the union of both profiles' lists).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
        #[allow(non_camel_case_types, missing_docs)]
        pub enum FiltErr { $($name),* }

        impl FiltErr {
            /// The kernel's name (`FILT_ERR_` dropped).
            #[must_use]
            pub fn code(self) -> &'static str {
                match self { $(FiltErr::$name => stringify!($name)),* }
            }
        }
    };
}

filt_errors!(
    NONE, INVALID_OP, TOO_MANY_OPEN, TOO_MANY_CLOSE, MISSING_QUOTE, MISSING_BRACE_OPEN, MISSING_BRACE_CLOSE,
    OPERAND_TOO_LONG, EXPECT_STRING, EXPECT_DIGIT, ILLEGAL_FIELD_OP, FIELD_NOT_FOUND, ILLEGAL_INTVAL,
    BAD_SUBSYS_FILTER, TOO_MANY_PREDS, INVALID_FILTER, INVALID_CPULIST, IP_FIELD_ONLY, INVALID_VALUE, NO_FUNCTION,
    ERRNO, NO_FILTER,
);

/// [5.10] `ERRORS`, in order.
const ERRORS_5_10: &[(FiltErr, &str)] = &[
    (FiltErr::NONE, "No error"),
    (FiltErr::INVALID_OP, "Invalid operator"),
    (FiltErr::TOO_MANY_OPEN, "Too many '('"),
    (FiltErr::TOO_MANY_CLOSE, "Too few '('"),
    (FiltErr::MISSING_QUOTE, "Missing matching quote"),
    (FiltErr::OPERAND_TOO_LONG, "Operand too long"),
    (FiltErr::EXPECT_STRING, "Expecting string field"),
    (FiltErr::EXPECT_DIGIT, "Expecting numeric field"),
    (FiltErr::ILLEGAL_FIELD_OP, "Illegal operation for field type"),
    (FiltErr::FIELD_NOT_FOUND, "Field not found"),
    (FiltErr::ILLEGAL_INTVAL, "Illegal integer value"),
    (FiltErr::BAD_SUBSYS_FILTER, "Couldn't find or set field in one of a subsystem's events"),
    (FiltErr::TOO_MANY_PREDS, "Too many terms in predicate expression"),
    (FiltErr::INVALID_FILTER, "Meaningless filter expression"),
    (FiltErr::IP_FIELD_ONLY, "Only 'ip' field is supported for function trace"),
    (FiltErr::INVALID_VALUE, "Invalid value (did you forget quotes)?"),
    (FiltErr::ERRNO, "Error"),
    (FiltErr::NO_FILTER, "No filter found"),
];

/// [6.12] `ERRORS` (v6.6+: brace, cpulist and function entries), in order.
const ERRORS_6_12: &[(FiltErr, &str)] = &[
    (FiltErr::NONE, "No error"),
    (FiltErr::INVALID_OP, "Invalid operator"),
    (FiltErr::TOO_MANY_OPEN, "Too many '('"),
    (FiltErr::TOO_MANY_CLOSE, "Too few '('"),
    (FiltErr::MISSING_QUOTE, "Missing matching quote"),
    (FiltErr::MISSING_BRACE_OPEN, "Missing '{'"),
    (FiltErr::MISSING_BRACE_CLOSE, "Missing '}'"),
    (FiltErr::OPERAND_TOO_LONG, "Operand too long"),
    (FiltErr::EXPECT_STRING, "Expecting string field"),
    (FiltErr::EXPECT_DIGIT, "Expecting numeric field"),
    (FiltErr::ILLEGAL_FIELD_OP, "Illegal operation for field type"),
    (FiltErr::FIELD_NOT_FOUND, "Field not found"),
    (FiltErr::ILLEGAL_INTVAL, "Illegal integer value"),
    (FiltErr::BAD_SUBSYS_FILTER, "Couldn't find or set field in one of a subsystem's events"),
    (FiltErr::TOO_MANY_PREDS, "Too many terms in predicate expression"),
    (FiltErr::INVALID_FILTER, "Meaningless filter expression"),
    (FiltErr::INVALID_CPULIST, "Invalid cpulist"),
    (FiltErr::IP_FIELD_ONLY, "Only 'ip' field is supported for function trace"),
    (FiltErr::INVALID_VALUE, "Invalid value (did you forget quotes)?"),
    (FiltErr::NO_FUNCTION, "Function not found"),
    (FiltErr::ERRNO, "Error"),
    (FiltErr::NO_FILTER, "No filter found"),
];

impl FiltErr {
    /// The profile's `err_text[]` entry.
    #[must_use]
    pub fn message(self, profile: KernelProfile) -> Option<&'static str> {
        let t = match profile {
            KernelProfile::V5_10 => ERRORS_5_10,
            KernelProfile::V6_12 => ERRORS_6_12,
        };
        t.iter().find(|(e, _)| *e == self).map(|&(_, m)| m)
    }
}

/// `OPS`, in the kernel's matching order (`<=` before `<`, `>=` before `>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[allow(missing_docs)]
pub enum FilterOp {
    Glob,
    Ne,
    Eq,
    Le,
    Lt,
    Ge,
    Gt,
    Band,
}

const OPS: [(FilterOp, &str); 8] = [
    (FilterOp::Glob, "~"),
    (FilterOp::Ne, "!="),
    (FilterOp::Eq, "=="),
    (FilterOp::Le, "<="),
    (FilterOp::Lt, "<"),
    (FilterOp::Ge, ">="),
    (FilterOp::Gt, ">"),
    (FilterOp::Band, "&"),
];

/// Where a filter field's value comes from in a kprobe record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FieldSource {
    /// `common_type`: the event ID.
    CommonType,
    /// `common_flags`.
    CommonFlags,
    /// `common_preempt_count`.
    CommonPreemptCount,
    /// `common_pid`.
    CommonPid,
    /// `__probe_ip`.
    ProbeIp,
    /// `__probe_func`.
    ProbeFunc,
    /// `__probe_ret_ip`.
    ProbeRetIp,
    /// The event's argument of this index.
    Arg(usize),
    /// `CPU`/`cpu` (`FILTER_CPU`): the CPU running the filter.
    Cpu,
    /// `COMM`/`comm` (`FILTER_COMM`): `current->comm`.
    Comm,
}

/// `filter_assign_type` and the field's size/signedness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FieldKind {
    /// `FILTER_OTHER`: compared as an integer of this size.
    Num {
        /// Bytes.
        size: usize,
        /// `is_signed`.
        signed: bool,
    },
    /// `FILTER_DYN_STRING` (`__data_loc char[]`).
    DynString,
    /// `FILTER_CPU`.
    Cpu,
    /// `FILTER_COMM`.
    Comm,
}

impl FieldKind {
    fn is_string(self) -> bool {
        matches!(self, FieldKind::DynString | FieldKind::Comm)
    }
}

/// One field a filter can name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FilterField {
    /// Its name.
    pub name: String,
    /// Its filter type.
    pub kind: FieldKind,
    /// Where the value comes from.
    pub source: FieldSource,
}

/// The fields `trace_find_event_field` searches for a kprobe event, in its order: the event's own fields, then
/// `ftrace_generic_fields` (`CPU`, `cpu`, `COMM`, `comm`), then `ftrace_common_fields`.
#[must_use]
pub fn event_filter_fields(def: &ProbeDefinition) -> Vec<FilterField> {
    let f = |name: &str, kind, source| FilterField { name: name.into(), kind, source };
    let ul = FieldKind::Num { size: 8, signed: false };
    let mut v = Vec::new();
    if def.is_return() {
        v.push(f("__probe_func", ul, FieldSource::ProbeFunc));
        v.push(f("__probe_ret_ip", ul, FieldSource::ProbeRetIp));
    } else {
        v.push(f("__probe_ip", ul, FieldSource::ProbeIp));
    }
    for (i, a) in def.args.iter().enumerate() {
        let kind = if a.ty.base.is_string() {
            FieldKind::DynString
        } else {
            FieldKind::Num { size: a.ty.record_size(), signed: a.ty.base.is_signed() }
        };
        v.push(f(&a.name, kind, FieldSource::Arg(i)));
    }
    v.push(f("CPU", FieldKind::Cpu, FieldSource::Cpu));
    v.push(f("cpu", FieldKind::Cpu, FieldSource::Cpu));
    v.push(f("COMM", FieldKind::Comm, FieldSource::Comm));
    v.push(f("comm", FieldKind::Comm, FieldSource::Comm));
    v.push(f("common_type", FieldKind::Num { size: 2, signed: false }, FieldSource::CommonType));
    v.push(f("common_flags", FieldKind::Num { size: 1, signed: false }, FieldSource::CommonFlags));
    v.push(f("common_preempt_count", FieldKind::Num { size: 1, signed: false }, FieldSource::CommonPreemptCount));
    v.push(f("common_pid", FieldKind::Num { size: 4, signed: true }, FieldSource::CommonPid));
    v
}

/// `enum regex_type` as `filter_parse_regex` picks it (only for `~`; `==`/`!=` match in full).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum MatchType {
    /// `regex_match_full`.
    Full,
    /// `regex_match_front` (`abc*`).
    Front,
    /// `regex_match_middle` (`*abc*`).
    Middle,
    /// `regex_match_end` (`*abc`).
    End,
    /// `regex_match_glob` (anything else with `*`, `?`, `[`, `\`).
    Glob,
}

/// One predicate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pred {
    /// Index into the field list.
    pub field: usize,
    /// The operator.
    pub op: FilterOp,
    /// `pred->not` (`!=`, or a `!` at the start of a `~` pattern).
    pub not: bool,
    /// The integer operand (`pred->val`), for numeric fields.
    pub val: u64,
    /// The string operand and how it matches.
    pub regex: Option<(String, MatchType)>,
}

/// `struct prog_entry`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProgEntry {
    /// `None` for the TRUE/FALSE terminators.
    pub pred: Option<Pred>,
    /// Branch when the predicate's result equals this.
    pub when_to_branch: bool,
    /// Where to branch (one less than the entry executed next), or the result for a terminator.
    pub target: usize,
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventFilter {
    /// The filter string as written (stripped).
    pub filter_string: String,
    /// The program: N predicates, then TRUE, then FALSE.
    pub prog: Vec<ProgEntry>,
    /// The fields the predicates index.
    pub fields: Vec<FilterField>,
}

/// A rejected filter: the write's errno, what the `filter` file then reads, and the `error_log` entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {filter_file:?}")]
pub struct FilterError {
    /// What `write(2)` returns.
    pub errno: TraceErrno,
    /// The `filter` file's text after the failed write (`append_filter_err`, then `print_event_filter`'s `\n`).
    pub filter_file: String,
    /// The `error_log` entry (`event filter parse error`).
    pub log: ErrorLogEntry,
}

struct ParseError {
    lasterr: Option<FiltErr>,
    pos: usize,
}

/// Why `process_preds` failed: the (negative) value it returned.
enum Ret {
    Errno(i32),
}

fn isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `calc_stack`: (parens, preds) or (error code -1/-2/-3, position).
fn calc_stack(s: &[u8]) -> Result<(usize, usize), (i32, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut is_pred = false;
    let mut nr_preds = 0;
    let mut open = 1i32;
    let mut last_quote = 0;
    let mut max_open = 1;
    let mut quote = 0u8;
    let mut i = 0;
    while at(i) != 0 {
        let c = at(i);
        if isspace(c) {
            i += 1;
            continue;
        }
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' => {
                quote = c;
                last_quote = i;
            }
            b'|' | b'&' if at(i + 1) == c => {
                is_pred = false;
                i += 1;
                continue;
            }
            b'(' => {
                is_pred = false;
                open += 1;
                max_open = max_open.max(open);
                i += 1;
                continue;
            }
            b')' => {
                is_pred = false;
                if open == 1 {
                    return Err((-1, i));
                }
                open -= 1;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !is_pred {
            nr_preds += 1;
            is_pred = true;
        }
        i += 1;
    }
    if quote != 0 {
        return Err((-3, last_quote));
    }
    if open != 1 {
        let mut level = open;
        let mut q = 0u8;
        while i > 1 {
            i -= 1;
            let c = at(i);
            if q != 0 {
                if c == q {
                    q = 0;
                }
                continue;
            }
            match c {
                b'(' => {
                    if level == open {
                        return Err((-2, i));
                    }
                    level -= 1;
                }
                b')' => level += 1,
                b'\'' | b'"' => q = c,
                _ => {}
            }
        }
        return Err((-2, 0));
    }
    Ok((max_open as usize, nr_preds))
}

/// `filter_parse_regex`: the match type and search text of a `~` pattern, and whether it started with `!`.
fn filter_parse_regex(pattern: &str) -> (MatchType, String, bool) {
    let (not, buff) = match pattern.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let b = buff.as_bytes();
    if b.first().is_some_and(u8::is_ascii_digit) {
        return (MatchType::Full, buff.to_string(), not); // MATCH_INDEX matches in full
    }
    let mut ty = MatchType::Full;
    let mut end = b.len();
    for (i, &c) in b.iter().enumerate() {
        if c == b'*' {
            if i == 0 {
                ty = MatchType::End;
            } else if i == b.len() - 1 {
                ty = if ty == MatchType::End { MatchType::Middle } else { MatchType::Front };
                end = i;
                break;
            } else {
                return (MatchType::Glob, buff.to_string(), not);
            }
        } else if b"[?\\".contains(&c) {
            return (MatchType::Glob, buff.to_string(), not);
        }
    }
    let start = usize::from(b.first() == Some(&b'*'));
    (ty, buff[start.min(end)..end].to_string(), not)
}

/// `parse_pred`: one `FIELD OP VALUE` at byte `at` of `s`; `pos` is `ptr - str` (one past `at`). Returns the bytes
/// consumed.
fn parse_pred(
    s: &[u8],
    at: usize,
    pos: usize,
    fields: &[FilterField],
    pe: &mut ParseError,
) -> Result<(usize, Pred), Ret> {
    let str_ = &s[at..];
    let c = |i: usize| str_.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while isspace(c(i)) {
        i += 1;
    }
    let start = i;
    while c(i).is_ascii_alphanumeric() || c(i) == b'_' {
        i += 1;
    }
    if i == start {
        return Err(Ret::Errno(-1));
    }
    let name = std::str::from_utf8(&str_[start..i]).unwrap_or("");
    let Some(field) = fields.iter().position(|f| f.name == name) else {
        *pe = ParseError { lasterr: Some(FiltErr::FIELD_NOT_FOUND), pos: pos + i };
        return Err(Ret::Errno(-22));
    };
    while isspace(c(i)) {
        i += 1;
    }
    let Some(&(op, optext)) = OPS.iter().find(|(_, t)| str_[i.min(str_.len())..].starts_with(t.as_bytes())) else {
        *pe = ParseError { lasterr: Some(FiltErr::INVALID_OP), pos: pos + i };
        return Err(Ret::Errno(-22));
    };
    i += optext.len();
    while isspace(c(i)) {
        i += 1;
    }
    let s0 = i;
    let kind = fields[field].kind;
    let einval = |pe: &mut ParseError, e, p| {
        *pe = ParseError { lasterr: Some(e), pos: p };
        Err(Ret::Errno(-22))
    };
    let mut pred = Pred { field, op, not: false, val: 0, regex: None };
    if c(i) == b'\'' || c(i) == b'"' {
        let q = c(i);
        match op {
            FilterOp::Ne => pred.not = true,
            FilterOp::Glob | FilterOp::Eq => {}
            _ => return einval(pe, FiltErr::ILLEGAL_FIELD_OP, pos + i),
        }
        if !kind.is_string() {
            return einval(pe, FiltErr::EXPECT_DIGIT, pos + i);
        }
        i += 1;
        while c(i) != 0 && c(i) != q {
            i += 1;
        }
        if c(i) == 0 {
            return einval(pe, FiltErr::MISSING_QUOTE, pos + i);
        }
        let len = i - (s0 + 1);
        if len >= MAX_FILTER_STR_VAL {
            return einval(pe, FiltErr::OPERAND_TOO_LONG, pos + i);
        }
        let pattern = String::from_utf8_lossy(&str_[s0 + 1..i]).into_owned();
        // filter_build_regex.
        pred.regex = Some(if op == FilterOp::Glob {
            let (t, search, not) = filter_parse_regex(&pattern);
            pred.not = not;
            (search, t)
        } else {
            (pattern, MatchType::Full)
        });
        i += 1;
    } else if c(i).is_ascii_digit() || c(i) == b'-' {
        if kind.is_string() {
            return einval(pe, FiltErr::EXPECT_STRING, pos + i);
        }
        if op == FilterOp::Glob {
            return einval(pe, FiltErr::ILLEGAL_FIELD_OP, pos + i);
        }
        if c(i) == b'-' {
            i += 1;
        }
        while c(i).is_ascii_alphanumeric() {
            i += 1;
        }
        let len = i - s0;
        if len >= 24 {
            return einval(pe, FiltErr::OPERAND_TOO_LONG, pos + i);
        }
        let num = std::str::from_utf8(&str_[s0..i]).unwrap_or("");
        let signed = matches!(kind, FieldKind::Num { signed: true, .. });
        let v = if signed { kstrtol(num).map(|v| v as u64) } else { kstrtoul(num) };
        let Some(v) = v else {
            return einval(pe, FiltErr::ILLEGAL_INTVAL, pos + s0);
        };
        pred.val = v;
        if op == FilterOp::Ne && kind != FieldKind::Cpu {
            pred.not = true;
        }
    } else {
        return einval(pe, FiltErr::INVALID_VALUE, pos + i);
    }
    Ok((i, pred))
}

/// `update_preds`.
fn update_preds(prog: &mut [ProgEntry], n: usize, invert: bool) {
    let t = prog[n].target;
    let s = prog[t].target;
    prog[t].when_to_branch = invert;
    prog[t].target = n;
    prog[n].target = s;
}

const INVERT: u32 = 1;
const PROCESS_AND: u32 = 2;
const PROCESS_OR: u32 = 4;

/// `predicate_parse` (first, second and third pass).
fn predicate_parse(
    s: &[u8],
    nr_parens: usize,
    nr_preds: usize,
    fields: &[FilterField],
    pe: &mut ParseError,
) -> Result<Vec<ProgEntry>, Ret> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let nr_preds = nr_preds + 2;
    let mut prog: Vec<ProgEntry> = Vec::new();
    let mut inverts: Vec<bool> = Vec::new();
    let mut stack: Vec<u32> = vec![0];
    let mut invert = false;
    let mut ptr = 0usize;
    // `target` is an int that starts at N-1 (-1 for the first): usize::MAX stands for -1.
    'outer: while at(ptr) != 0 {
        let next = ptr;
        ptr += 1;
        let ch = at(next);
        if isspace(ch) {
            continue;
        }
        match ch {
            b'(' => {
                if stack.len() - 1 > nr_parens {
                    return Err(Ret::Errno(-22));
                }
                stack.push(u32::from(invert));
                continue;
            }
            b'!' if !matches!(at(next + 1), b'=' | b'~') => {
                invert = !invert;
                continue;
            }
            _ => {}
        }
        if prog.len() >= nr_preds {
            *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_PREDS), pos: next };
            return Err(Ret::Errno(-22));
        }
        inverts.push(invert);
        let n = prog.len();
        let (len, pred) = parse_pred(s, next, ptr, fields, pe)?;
        prog.push(ProgEntry { pred: Some(pred), when_to_branch: false, target: n.wrapping_sub(1) });
        ptr = next + len;
        let n = prog.len();
        loop {
            let next = ptr;
            ptr += 1;
            let ch = at(next);
            if isspace(ch) {
                continue;
            }
            match ch {
                b')' | 0 => {}
                b'&' | b'|' if at(next + 1) == ch => ptr += 1,
                _ => {
                    *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_PREDS), pos: next };
                    return Err(Ret::Errno(-1));
                }
            }
            let top = *stack.last().unwrap_or(&0);
            invert = top & INVERT != 0;
            if top & PROCESS_AND != 0 {
                update_preds(&mut prog, n - 1, invert);
                if let Some(t) = stack.last_mut() {
                    *t &= !PROCESS_AND;
                }
            }
            if ch == b'&' {
                if let Some(t) = stack.last_mut() {
                    *t |= PROCESS_AND;
                }
                continue 'outer;
            }
            if stack.last().is_some_and(|t| t & PROCESS_OR != 0) {
                update_preds(&mut prog, n - 1, !invert);
                if let Some(t) = stack.last_mut() {
                    *t &= !PROCESS_OR;
                }
            }
            if ch == b'|' {
                if let Some(t) = stack.last_mut() {
                    *t |= PROCESS_OR;
                }
                continue 'outer;
            }
            if ch == 0 {
                ptr = next + 1;
                break 'outer;
            }
            if stack.len() == 1 {
                *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_CLOSE), pos: ptr };
                return Err(Ret::Errno(-1));
            }
            stack.pop();
        }
    }
    if stack.len() != 1 {
        *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_OPEN), pos: ptr };
        return Err(Ret::Errno(-1));
    }
    let n = prog.len();
    if n == 0 {
        *pe = ParseError { lasterr: Some(FiltErr::NO_FILTER), pos: ptr };
        return Err(Ret::Errno(-22));
    }
    prog.push(ProgEntry { pred: None, when_to_branch: false, target: 1 }); // TRUE
    prog.push(ProgEntry { pred: None, when_to_branch: false, target: 0 }); // FALSE
    prog[n - 1].target = n;
    prog[n - 1].when_to_branch = false;
    // Second pass.
    let mut i = n - 1;
    while i > 0 {
        i -= 1;
        let t = prog[i].target;
        if prog[i].when_to_branch == prog[t].when_to_branch {
            prog[i].target = prog[t].target;
        }
    }
    // Third pass.
    for (i, e) in prog.iter_mut().take(n).enumerate() {
        e.when_to_branch ^= inverts[i];
        if e.target <= i {
            return Err(Ret::Errno(-22));
        }
    }
    Ok(prog)
}

/// `apply_event_filter(file, filter_string)` → `create_filter` → `process_preds` for a kprobe event. `Ok(None)`
/// is the filter `0` (which removes the filter).
pub fn apply_event_filter(
    profile: KernelProfile,
    def: &ProbeDefinition,
    filter_string: &str,
) -> Result<Option<EventFilter>, FilterError> {
    let fstr = filter_string.trim_matches(|c: char| c.is_ascii_whitespace());
    if fstr == "0" {
        return Ok(None);
    }
    let fields = event_filter_fields(def);
    let bytes = fstr.as_bytes();
    let mut pe = ParseError { lasterr: None, pos: 0 };
    let result: Result<(), i32> = match calc_stack(bytes) {
        Err((code, index)) => {
            pe = ParseError {
                lasterr: Some(match code {
                    -3 => FiltErr::MISSING_QUOTE,
                    -2 => FiltErr::TOO_MANY_OPEN,
                    _ => FiltErr::TOO_MANY_CLOSE,
                }),
                pos: index,
            };
            Err(code)
        }
        Ok((_, 0)) => Err(-22),
        Ok((parens, preds)) => match predicate_parse(bytes, parens, preds, &fields, &mut pe) {
            Ok(prog) => return Ok(Some(EventFilter { filter_string: fstr.to_string(), prog, fields })),
            Err(Ret::Errno(e)) => Err(e),
        },
    };
    let code = result.err().unwrap_or(-22);
    Err(append_filter_err(profile, fstr, &pe, code))
}

/// `append_filter_err`: the `filter` file text and the `error_log` entry; the errno is `process_preds`' return.
fn append_filter_err(profile: KernelProfile, fstr: &str, pe: &ParseError, code: i32) -> FilterError {
    // calc_stack's codes are negated errnos (-1 EPERM, -2 ENOENT, -3 ESRCH); anything else is -EINVAL.
    let errno = Errno::from_value(-code).filter(|_| (-3..=-1).contains(&code)).unwrap_or(Errno::EINVAL);
    let mut pos = pe.pos.min(fstr.len());
    if pos > 0 {
        pos += 1; // "indexing is off by one"
    }
    let (file, err, log_pos) = match pe.lasterr {
        Some(e) if e != FiltErr::NONE => (
            format!("{fstr}\n{:>pos$}\nparse_error: {}\n\n", "^", e.message(profile).unwrap_or("")),
            e,
            pe.pos,
        ),
        // `lasterr` 0: "Error: (%d)" of it, and the log gets FILT_ERR_ERRNO at 0.
        _ => (format!("{fstr}\nError: (0)\n\n"), FiltErr::ERRNO, 0),
    };
    let log = ErrorLogEntry {
        subsystem: "event filter parse error",
        code: err.code(),
        message: err.message(profile).unwrap_or(""),
        command: fstr.to_string(),
        pos: log_pos,
    };
    FilterError { errno, filter_file: file, log }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::trace_regs::X86_64TraceRegs;
    use crate::kallsyms::{Kallsyms, Symbol, SymbolKind};
    use crate::trace::error_log::render_entry;
    use crate::trace::trace_kprobe::{parse_command, Command};
    use crate::trace::trace_probe::ParseEnv;
    use crate::KernelVa;

    fn myprobe2() -> ProbeDefinition {
        let k = Kallsyms::new(vec![Symbol {
            name: "do_sys_openat2".into(),
            addr: KernelVa(0xffff_ffff_8136_3fa0),
            size: 0x170,
            kind: SymbolKind::Text,
            global: true,
        }]);
        let env = ParseEnv { profile: KernelProfile::V6_12, kallsyms: &k, regs: &X86_64TraceRegs };
        match parse_command(&env, "p:myprobe2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string") {
            Ok(Some(Command::Create(d))) => d,
            other => panic!("{other:?}"),
        }
    }

    fn rec(pid: u32, cpu: u32, comm: &str, dfd: i32, file: &str) -> TraceRecord {
        TraceRecord {
            cpu,
            pid,
            comm: comm.into(),
            flags: TraceFlags::default(),
            ts_ns: 0,
            event_id: 1339,
            ip: ProbeIp::Kprobe { ip: KernelVa(0xffff_ffff_8136_3fa0) },
            args: vec![FetchedValue::Scalar(u64::from(dfd as u32)), FetchedValue::String(Some(file.into()))],
        }
    }

    #[test]
    fn the_notes_filters() {
        // real-kernel-6.1.md, "Filter": `common_pid != 1` keeps only the child's line; reading it back.
        let d = myprobe2();
        let f = apply_event_filter(KernelProfile::V6_12, &d, "common_pid != 1\n").unwrap().unwrap();
        assert_eq!(f.read(), "common_pid != 1\n");
        assert!(!f.matches(&rec(1, 0, "init", -100, "/proc/version")));
        assert!(f.matches(&rec(164, 0, "cat", -100, "/proc/cmdline")));
        let g = apply_event_filter(KernelProfile::V6_12, &d, "filename ~ \"*cmdline*\"").unwrap().unwrap();
        assert!(g.matches(&rec(164, 0, "cat", -100, "/proc/cmdline")));
        assert!(!g.matches(&rec(1, 0, "init", -100, "/dev/null")));
        // The bad filter: EINVAL, the filter file text and the error_log entry.
        for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
            let e = apply_event_filter(p, &d, "nosuchfield == 1").unwrap_err();
            assert_eq!(e.errno, Errno::EINVAL);
            assert_eq!(e.filter_file, "nosuchfield == 1\n            ^\nparse_error: Field not found\n\n");
            assert_eq!(
                render_entry(4_786_925_000, &e.log),
                "[    4.786925] event filter parse error: error: Field not found\n  Command: nosuchfield == 1\n                       ^\n"
            );
        }
        assert_eq!(apply_event_filter(KernelProfile::V6_12, &d, "0").unwrap(), None, "`0` clears the filter");
    }

    #[test]
    fn precedence_and_negation() {
        let d = myprobe2();
        let f = |s: &str| apply_event_filter(KernelProfile::V6_12, &d, s).unwrap().unwrap();
        let r1 = rec(1, 0, "init", 3, "a");
        let r2 = rec(2, 1, "cat", -100, "b");
        // && binds tighter than ||.
        let e = f("common_pid == 2 || dfd == 3 && cpu == 1");
        assert!(e.matches(&r2));
        assert!(!e.matches(&r1), "dfd == 3 but cpu is 0");
        assert!(f("!(common_pid == 1)").matches(&r2));
        assert!(!f("!(common_pid == 1 || dfd < 0)").matches(&r2));
        assert!(f("dfd < 0").matches(&r2), "s32 compares signed");
        assert!(f("dfd & 0x2").matches(&r1));
        assert!(f("comm == \"cat\"").matches(&r2));
        assert!(f("COMM ~ \"ca*\"").matches(&r2));
        assert!(f("filename ~ \"[ab]\"").matches(&r1));
        assert!(f("filename != \"a\"").matches(&r2));
        assert!(f("filename ~ \"!a\"").matches(&r2), "a leading ! in a glob inverts");
    }

    #[test]
    fn parse_errors_and_their_errnos() {
        let d = myprobe2();
        let e = |s: &str| {
            let e = apply_event_filter(KernelProfile::V6_12, &d, s).unwrap_err();
            (e.errno, e.log.message, e.log.pos)
        };
        let inval = Errno::EINVAL;
        assert_eq!(e("dfd =< 1"), (inval, "Invalid operator", 5));
        assert_eq!(e("dfd == \"x\""), (inval, "Expecting numeric field", 8));
        assert_eq!(e("filename == 1"), (inval, "Expecting string field", 13));
        assert_eq!(e("dfd == 1x"), (inval, "Illegal integer value", 8));
        assert_eq!(e("dfd == x"), (inval, "Invalid value (did you forget quotes)?", 8));
        assert_eq!(e("dfd ~ 1"), (inval, "Illegal operation for field type", 7));
        assert_eq!(e("filename < \"a\""), (inval, "Illegal operation for field type", 12));
        // calc_stack's codes come back as the write's errno: -1 EPERM, -2 ENOENT, -3 ESRCH.
        assert_eq!(e("(dfd == 1"), (Errno::ENOENT, "Too many '('", 0));
        assert_eq!(e("dfd == 1)"), (Errno::EPERM, "Too few '('", 8));
        assert_eq!(e("filename == \"x"), (Errno::ESRCH, "Missing matching quote", 12));
        assert_eq!(e("dfd == 1 & dfd == 2").1, "Too many terms in predicate expression");
    }

    #[test]
    fn glob() {
        assert!(glob_match(b"*cmd*", b"/proc/cmdline"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"[!x]b", b"ab"));
        assert!(glob_match(b"a\\*", b"a*"));
        assert!(!glob_match(b"a\\*", b"ab"));
    }
}
