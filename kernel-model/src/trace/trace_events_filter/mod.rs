//! `kernel/trace/trace_events_filter.c`: the event filter language (`events/<grp>/<ev>/filter`), its parser
//! (`calc_stack`, `predicate_parse`, `parse_pred`), the predicate program and `filter_match_preds`, and the errors as
//! the kernel reports them (the write's errno, the `filter` file's `^`/`parse_error:` text, the `error_log` entry).
//!
//! Source: [5.10] Rtoax/linux-5.10.13 `kernel/trace/trace_events_filter.c` (@411c0a3d); [6.12] the error table of
//! the v6.6 cpumask series (find_string id 67196193451). The 6.12-only syntax (cpumasks, `.function`, `CPUS{…}`) is
//! not modelled; both profiles parse the 5.10 language.
//!
//! `parse.rs`: `calc_stack`, `filter_parse_regex`, `parse_pred`, `predicate_parse`; `filter_match.rs`:
//! `filter_match_preds` and the `filter_pred_*`/`regex_match_*` callbacks.

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


mod filter_match;
mod parse;
#[cfg(test)]
mod tests;

use parse::{calc_stack, predicate_parse};
pub use filter_match::glob_match;
