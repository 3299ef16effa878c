//! The `ERRORS` message table of `kernel/trace/trace_probe.h` (per kernel version), `trace_probe_log_err`'s
//! log entry, and a failed tracefs command's error.

use super::*;

macro_rules! tp_errors {
    ($($name:ident),* $(,)?) => {
        /// `TP_ERR_*`: the `ERRORS` list of `trace_probe.h` (the union of both profiles' lists).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
        #[allow(non_camel_case_types, missing_docs)]
        pub enum TpErr { $($name),* }

        impl TpErr {
            /// The kernel's name (`TP_ERR_` dropped).
            #[must_use]
            pub fn code(self) -> &'static str {
                match self { $(TpErr::$name => stringify!($name)),* }
            }
        }
    };
}

tp_errors!(
    FILE_NOT_FOUND, NO_REGULAR_FILE, BAD_REFCNT, REFCNT_OPEN_BRACE, BAD_REFCNT_SUFFIX, BAD_UPROBE_OFFS,
    MAXACT_NO_KPROBE, BAD_MAXACT_TYPE, BAD_MAXACT, MAXACT_TOO_BIG, BAD_PROBE_ADDR, NON_UNIQ_SYMBOL, BAD_RETPROBE,
    NO_TRACEPOINT, BAD_TP_NAME, BAD_ADDR_SUFFIX, NO_GROUP_NAME, GROUP_TOO_LONG, BAD_GROUP_NAME, NO_EVENT_NAME,
    EVENT_TOO_LONG, BAD_EVENT_NAME, EVENT_EXIST, RETVAL_ON_PROBE, NO_RETVAL, BAD_STACK_NUM, BAD_ARG_NUM, BAD_VAR,
    BAD_REG_NAME, BAD_MEM_ADDR, BAD_IMM, IMMSTR_NO_CLOSE, FILE_ON_KPROBE, BAD_FILE_OFFS, SYM_ON_UPROBE,
    TOO_MANY_OPS, DEREF_NEED_BRACE, BAD_DEREF_OFFS, DEREF_OPEN_BRACE, COMM_CANT_DEREF, BAD_FETCH_ARG,
    ARRAY_NO_CLOSE, BAD_ARRAY_SUFFIX, BAD_ARRAY_NUM, ARRAY_TOO_BIG, BAD_TYPE, BAD_STRING, BAD_SYMSTRING,
    BAD_BITFIELD, ARG_NAME_TOO_LONG, NO_ARG_NAME, BAD_ARG_NAME, USED_ARG_NAME, ARG_TOO_LONG, NO_ARG_BODY,
    BAD_INSN_BNDRY, FAIL_REG_PROBE, DIFF_PROBE_TYPE, DIFF_ARG_TYPE, SAME_PROBE, NO_EVENT_INFO, BAD_ATTACH_EVENT,
    BAD_ATTACH_ARG, NO_EP_FILTER, NOSUP_BTFARG, NO_BTFARG, NO_BTF_ENTRY, BAD_VAR_ARGS, NOFENTRY_ARGS, DOUBLE_ARGS,
    ARGS_2LONG, ARGIDX_2BIG, NO_PTR_STRCT, NOSUP_DAT_ARG, BAD_HYPHEN, NO_BTF_FIELD, BAD_BTF_TID, BAD_TYPE4STR,
    NEED_STRING_TYPE, TOO_MANY_ARGS, TOO_MANY_EARGS,
);

/// [5.10] `ERRORS` (openharmony/kernel_linux_5.10 `kernel/trace/trace_probe.h` @2cabd2fc), in order.
pub(super) const ERRORS_5_10: &[(TpErr, &str)] = &[
    (TpErr::FILE_NOT_FOUND, "Failed to find the given file"),
    (TpErr::NO_REGULAR_FILE, "Not a regular file"),
    (TpErr::BAD_REFCNT, "Invalid reference counter offset"),
    (TpErr::REFCNT_OPEN_BRACE, "Reference counter brace is not closed"),
    (TpErr::BAD_REFCNT_SUFFIX, "Reference counter has wrong suffix"),
    (TpErr::BAD_UPROBE_OFFS, "Invalid uprobe offset"),
    (TpErr::MAXACT_NO_KPROBE, "Maxactive is not for kprobe"),
    (TpErr::BAD_MAXACT, "Invalid maxactive number"),
    (TpErr::MAXACT_TOO_BIG, "Maxactive is too big"),
    (TpErr::BAD_PROBE_ADDR, "Invalid probed address or symbol"),
    (TpErr::BAD_RETPROBE, "Retprobe address must be an function entry"),
    (TpErr::BAD_ADDR_SUFFIX, "Invalid probed address suffix"),
    (TpErr::NO_GROUP_NAME, "Group name is not specified"),
    (TpErr::GROUP_TOO_LONG, "Group name is too long"),
    (TpErr::BAD_GROUP_NAME, "Group name must follow the same rules as C identifiers"),
    (TpErr::NO_EVENT_NAME, "Event name is not specified"),
    (TpErr::EVENT_TOO_LONG, "Event name is too long"),
    (TpErr::BAD_EVENT_NAME, "Event name must follow the same rules as C identifiers"),
    (TpErr::EVENT_EXIST, "Given group/event name is already used by another event"),
    (TpErr::RETVAL_ON_PROBE, "$retval is not available on probe"),
    (TpErr::BAD_STACK_NUM, "Invalid stack number"),
    (TpErr::BAD_ARG_NUM, "Invalid argument number"),
    (TpErr::BAD_VAR, "Invalid $-valiable specified"),
    (TpErr::BAD_REG_NAME, "Invalid register name"),
    (TpErr::BAD_MEM_ADDR, "Invalid memory address"),
    (TpErr::BAD_IMM, "Invalid immediate value"),
    (TpErr::IMMSTR_NO_CLOSE, "String is not closed with '\"'"),
    (TpErr::FILE_ON_KPROBE, "File offset is not available with kprobe"),
    (TpErr::BAD_FILE_OFFS, "Invalid file offset value"),
    (TpErr::SYM_ON_UPROBE, "Symbol is not available with uprobe"),
    (TpErr::TOO_MANY_OPS, "Dereference is too much nested"),
    (TpErr::DEREF_NEED_BRACE, "Dereference needs a brace"),
    (TpErr::BAD_DEREF_OFFS, "Invalid dereference offset"),
    (TpErr::DEREF_OPEN_BRACE, "Dereference brace is not closed"),
    (TpErr::COMM_CANT_DEREF, "$comm can not be dereferenced"),
    (TpErr::BAD_FETCH_ARG, "Invalid fetch argument"),
    (TpErr::ARRAY_NO_CLOSE, "Array is not closed"),
    (TpErr::BAD_ARRAY_SUFFIX, "Array has wrong suffix"),
    (TpErr::BAD_ARRAY_NUM, "Invalid array size"),
    (TpErr::ARRAY_TOO_BIG, "Array number is too big"),
    (TpErr::BAD_TYPE, "Unknown type is specified"),
    (TpErr::BAD_STRING, "String accepts only memory argument"),
    (TpErr::BAD_BITFIELD, "Invalid bitfield"),
    (TpErr::ARG_NAME_TOO_LONG, "Argument name is too long"),
    (TpErr::NO_ARG_NAME, "Argument name is not specified"),
    (TpErr::BAD_ARG_NAME, "Argument name must follow the same rules as C identifiers"),
    (TpErr::USED_ARG_NAME, "This argument name is already used"),
    (TpErr::ARG_TOO_LONG, "Argument expression is too long"),
    (TpErr::NO_ARG_BODY, "No argument expression"),
    (TpErr::BAD_INSN_BNDRY, "Probe point is not an instruction boundary"),
    (TpErr::FAIL_REG_PROBE, "Failed to register probe event"),
    (TpErr::DIFF_PROBE_TYPE, "Probe type is different from existing probe"),
    (TpErr::DIFF_ARG_TYPE, "Argument type or name is different from existing probe"),
    (TpErr::SAME_PROBE, "There is already the exact same probe event"),
];

/// [6.12] `ERRORS` (`kernel/trace/trace_probe.h`, post-6.10 tree, find_string id 128402474), in order.
pub(super) const ERRORS_6_12: &[(TpErr, &str)] = &[
    (TpErr::FILE_NOT_FOUND, "Failed to find the given file"),
    (TpErr::NO_REGULAR_FILE, "Not a regular file"),
    (TpErr::BAD_REFCNT, "Invalid reference counter offset"),
    (TpErr::REFCNT_OPEN_BRACE, "Reference counter brace is not closed"),
    (TpErr::BAD_REFCNT_SUFFIX, "Reference counter has wrong suffix"),
    (TpErr::BAD_UPROBE_OFFS, "Invalid uprobe offset"),
    (TpErr::BAD_MAXACT_TYPE, "Maxactive is only for function exit"),
    (TpErr::BAD_MAXACT, "Invalid maxactive number"),
    (TpErr::MAXACT_TOO_BIG, "Maxactive is too big"),
    (TpErr::BAD_PROBE_ADDR, "Invalid probed address or symbol"),
    (TpErr::NON_UNIQ_SYMBOL, "The symbol is not unique"),
    (TpErr::BAD_RETPROBE, "Retprobe address must be an function entry"),
    (TpErr::NO_TRACEPOINT, "Tracepoint is not found"),
    (TpErr::BAD_TP_NAME, "Invalid character in tracepoint name"),
    (TpErr::BAD_ADDR_SUFFIX, "Invalid probed address suffix"),
    (TpErr::NO_GROUP_NAME, "Group name is not specified"),
    (TpErr::GROUP_TOO_LONG, "Group name is too long"),
    (TpErr::BAD_GROUP_NAME, "Group name must follow the same rules as C identifiers"),
    (TpErr::NO_EVENT_NAME, "Event name is not specified"),
    (TpErr::EVENT_TOO_LONG, "Event name is too long"),
    (TpErr::BAD_EVENT_NAME, "Event name must follow the same rules as C identifiers"),
    (TpErr::EVENT_EXIST, "Given group/event name is already used by another event"),
    (TpErr::RETVAL_ON_PROBE, "$retval is not available on probe"),
    (TpErr::NO_RETVAL, "This function returns 'void' type"),
    (TpErr::BAD_STACK_NUM, "Invalid stack number"),
    (TpErr::BAD_ARG_NUM, "Invalid argument number"),
    (TpErr::BAD_VAR, "Invalid $-valiable specified"),
    (TpErr::BAD_REG_NAME, "Invalid register name"),
    (TpErr::BAD_MEM_ADDR, "Invalid memory address"),
    (TpErr::BAD_IMM, "Invalid immediate value"),
    (TpErr::IMMSTR_NO_CLOSE, "String is not closed with '\"'"),
    (TpErr::FILE_ON_KPROBE, "File offset is not available with kprobe"),
    (TpErr::BAD_FILE_OFFS, "Invalid file offset value"),
    (TpErr::SYM_ON_UPROBE, "Symbol is not available with uprobe"),
    (TpErr::TOO_MANY_OPS, "Dereference is too much nested"),
    (TpErr::DEREF_NEED_BRACE, "Dereference needs a brace"),
    (TpErr::BAD_DEREF_OFFS, "Invalid dereference offset"),
    (TpErr::DEREF_OPEN_BRACE, "Dereference brace is not closed"),
    (TpErr::COMM_CANT_DEREF, "$comm can not be dereferenced"),
    (TpErr::BAD_FETCH_ARG, "Invalid fetch argument"),
    (TpErr::ARRAY_NO_CLOSE, "Array is not closed"),
    (TpErr::BAD_ARRAY_SUFFIX, "Array has wrong suffix"),
    (TpErr::BAD_ARRAY_NUM, "Invalid array size"),
    (TpErr::ARRAY_TOO_BIG, "Array number is too big"),
    (TpErr::BAD_TYPE, "Unknown type is specified"),
    (TpErr::BAD_STRING, "String accepts only memory argument"),
    (TpErr::BAD_SYMSTRING, "Symbol String doesn't accept data/userdata"),
    (TpErr::BAD_BITFIELD, "Invalid bitfield"),
    (TpErr::ARG_NAME_TOO_LONG, "Argument name is too long"),
    (TpErr::NO_ARG_NAME, "Argument name is not specified"),
    (TpErr::BAD_ARG_NAME, "Argument name must follow the same rules as C identifiers"),
    (TpErr::USED_ARG_NAME, "This argument name is already used"),
    (TpErr::ARG_TOO_LONG, "Argument expression is too long"),
    (TpErr::NO_ARG_BODY, "No argument expression"),
    (TpErr::BAD_INSN_BNDRY, "Probe point is not an instruction boundary"),
    (TpErr::FAIL_REG_PROBE, "Failed to register probe event"),
    (TpErr::DIFF_PROBE_TYPE, "Probe type is different from existing probe"),
    (TpErr::DIFF_ARG_TYPE, "Argument type or name is different from existing probe"),
    (TpErr::SAME_PROBE, "There is already the exact same probe event"),
    (TpErr::NO_EVENT_INFO, "This requires both group and event name to attach"),
    (TpErr::BAD_ATTACH_EVENT, "Attached event does not exist"),
    (TpErr::BAD_ATTACH_ARG, "Attached event does not have this field"),
    (TpErr::NO_EP_FILTER, "No filter rule after 'if'"),
    (TpErr::NOSUP_BTFARG, "BTF is not available or not supported"),
    (TpErr::NO_BTFARG, "This variable is not found at this probe point"),
    (TpErr::NO_BTF_ENTRY, "No BTF entry for this probe point"),
    (TpErr::BAD_VAR_ARGS, "$arg* must be an independent parameter without name etc."),
    (TpErr::NOFENTRY_ARGS, "$arg* can be used only on function entry or exit"),
    (TpErr::DOUBLE_ARGS, "$arg* can be used only once in the parameters"),
    (TpErr::ARGS_2LONG, "$arg* failed because the argument list is too long"),
    (TpErr::ARGIDX_2BIG, "$argN index is too big"),
    (TpErr::NO_PTR_STRCT, "This is not a pointer to union/structure."),
    (TpErr::NOSUP_DAT_ARG, "Non pointer structure/union argument is not supported."),
    (TpErr::BAD_HYPHEN, "Failed to parse single hyphen. Forgot '>'?"),
    (TpErr::NO_BTF_FIELD, "This field is not found."),
    (TpErr::BAD_BTF_TID, "Failed to get BTF type info."),
    (TpErr::BAD_TYPE4STR, "This type does not fit for string."),
    (TpErr::NEED_STRING_TYPE, "$comm and immediate-string only accepts string type"),
    // `TOO_MANY_ARGS` ("Too many arguments are specified") is in the tree read but arrived in v6.15 (commit
    // 57faaa04804c, 2025-03-27, "Log error for exceeding the number of arguments"), so it is not in 6.12.
    (TpErr::TOO_MANY_EARGS, "Too many entry arguments specified"),
];

impl TpErr {
    /// The profile's `trace_probe_err_text[]` entry, or `None` if the profile has no such error.
    #[must_use]
    pub fn message(self, profile: KernelProfile) -> Option<&'static str> {
        let table = match profile {
            KernelProfile::V5_10 => ERRORS_5_10,
            KernelProfile::V6_12 => ERRORS_6_12,
        };
        table.iter().find(|(e, _)| *e == self).map(|&(_, m)| m)
    }
}

/// One `error_log` entry as `tracing_log_err` stores it (kernel/trace/trace.c): the subsystem (`loc`), the message,
/// the command re-joined from argv, and the caret position within the command.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ErrorLogEntry {
    /// `trace_probe_log.subsystem`, e.g. `trace_kprobe`.
    pub subsystem: &'static str,
    /// Which error, by its kernel name (`BAD_INSN_BNDRY` for `TP_ERR_BAD_INSN_BNDRY`, `FIELD_NOT_FOUND` for
    /// `FILT_ERR_FIELD_NOT_FOUND`).
    pub code: &'static str,
    /// Its text in the profile.
    pub message: &'static str,
    /// The command: argv joined by single spaces.
    pub command: String,
    /// The caret's column within `command`.
    pub pos: usize,
}

/// `struct trace_probe_log`: the command being parsed and which argv word errors point into.
#[derive(Clone, Debug)]
pub struct ProbeLog {
    profile: KernelProfile,
    subsystem: &'static str,
    argv: Vec<String>,
    index: usize,
}

impl ProbeLog {
    /// `trace_probe_log_init(subsystem, argc, argv)`.
    #[must_use]
    pub fn new(profile: KernelProfile, subsystem: &'static str, argv: &[&str]) -> ProbeLog {
        ProbeLog { profile, subsystem, argv: argv.iter().map(|s| (*s).to_string()).collect(), index: 0 }
    }

    /// `trace_probe_log_set_index`.
    pub fn set_index(&mut self, index: usize) {
        self.index = index;
    }

    /// `__trace_probe_log_err(offset, err)`: the position is the start of argv[index] plus `offset`; an index past
    /// the last word puts the caret one past the command's end (the kernel's `pos = len; offset = 0`, where `len`
    /// counts the terminating NUL).
    #[must_use]
    pub fn err(&self, offset: usize, err: TpErr) -> ErrorLogEntry {
        let mut len = 0;
        let mut pos = 0;
        for (i, a) in self.argv.iter().enumerate() {
            if i == self.index {
                pos = len;
            }
            len += a.len() + 1;
        }
        let pos = if self.index >= self.argv.len() { len } else { pos + offset };
        ErrorLogEntry {
            subsystem: self.subsystem,
            code: err.code(),
            message: err.message(self.profile).unwrap_or("(error not in this profile)"),
            command: self.argv.join(" "),
            pos,
        }
    }
}

/// A failed tracefs command: the errno the write returns, and the `error_log` entry, if the kernel logs one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{errno}{}", .log.as_ref().map(|l| format!(": {}", l.message)).unwrap_or_default())]
pub struct ProbeError {
    /// What `write(2)` returns.
    pub errno: TraceErrno,
    /// What `error_log` gains.
    pub log: Option<ErrorLogEntry>,
}

impl ProbeError {
    /// An error with a log entry.
    #[must_use]
    pub fn logged(errno: impl Into<TraceErrno>, entry: ErrorLogEntry) -> ProbeError {
        ProbeError { errno: errno.into(), log: Some(entry) }
    }

    /// An error the kernel does not log.
    #[must_use]
    pub fn silent(errno: impl Into<TraceErrno>) -> ProbeError {
        ProbeError { errno: errno.into(), log: None }
    }
}
