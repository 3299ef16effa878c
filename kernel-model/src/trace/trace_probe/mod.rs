//! `kernel/trace/trace_probe.{c,h}`: the fetch-argument grammar shared by kprobe events, the fetch types, the
//! `ERRORS` message table and `trace_probe_log_err`.
//!
//! Sources: [5.10] `kernel/trace/trace_probe.c` of Rtoax/linux-5.10.13 (@1d9518f1) and `trace_probe.h` of
//! openharmony/kernel_linux_5.10 (@2cabd2fc, a 5.10.y tree); [6.12] `trace_probe.h` of a v6.15+ tree (find_string
//! id 128402474), minus the one entry that blame dates after 6.12 (`TOO_MANY_ARGS`, v6.15). Where the 6.12 parser
//! body is reproduced from memory rather than re-read, the doc comment says so.

use crate::errno::Errno;
use crate::kallsyms::Kallsyms;
use crate::profile::KernelProfile;
use crate::trace::{ArgLocation, RegsQuery};
use crate::KernelVa;

/// `MAX_TRACE_ARGS`.
pub const MAX_TRACE_ARGS: usize = 128;
/// `MAX_ARGSTR_LEN`: the longest argument body.
pub const MAX_ARGSTR_LEN: usize = 63;
/// `MAX_ARRAY_LEN`.
pub const MAX_ARRAY_LEN: u32 = 64;
/// `MAX_ARG_NAME_LEN`.
pub const MAX_ARG_NAME_LEN: usize = 32;
/// `MAX_EVENT_NAME_LEN` (kernel/trace/trace.h).
pub const MAX_EVENT_NAME_LEN: usize = 64;
/// `FETCH_INSN_MAX`: the instruction buffer of one argument (the last slot holds `FETCH_OP_END`).
pub const FETCH_INSN_MAX: usize = 16;

/// The errno a tracefs write returns: the crate's one errno vocabulary ([`Errno`]), under the name the trace
/// code has always used.
pub type TraceErrno = Errno;

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
const ERRORS_5_10: &[(TpErr, &str)] = &[
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
const ERRORS_6_12: &[(TpErr, &str)] = &[
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

/// A fetch type's base: `probe_fetch_types[]` of trace_probe.c.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[allow(missing_docs)]
pub enum BaseType {
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    X8,
    X16,
    X32,
    X64,
    /// [6.12] `char` (`'%c'`).
    Char,
    /// `string`: a kernel string, stored as `__data_loc char[]`.
    String,
    /// `ustring`: a user string.
    Ustring,
    /// [6.12] `symstr`: the `%pS` text of a value, stored as a string.
    Symstr,
    /// `symbol`: a value printed with `%pS`.
    Symbol,
}

impl BaseType {
    /// Every type in `probe_fetch_types[]` order.
    pub const ALL: [BaseType; 17] = [
        BaseType::String,
        BaseType::Ustring,
        BaseType::Symstr,
        BaseType::U8,
        BaseType::U16,
        BaseType::U32,
        BaseType::U64,
        BaseType::S8,
        BaseType::S16,
        BaseType::S32,
        BaseType::S64,
        BaseType::X8,
        BaseType::X16,
        BaseType::X32,
        BaseType::X64,
        BaseType::Char,
        BaseType::Symbol,
    ];

    /// The type's name in the grammar.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            BaseType::U8 => "u8",
            BaseType::U16 => "u16",
            BaseType::U32 => "u32",
            BaseType::U64 => "u64",
            BaseType::S8 => "s8",
            BaseType::S16 => "s16",
            BaseType::S32 => "s32",
            BaseType::S64 => "s64",
            BaseType::X8 => "x8",
            BaseType::X16 => "x16",
            BaseType::X32 => "x32",
            BaseType::X64 => "x64",
            BaseType::Char => "char",
            BaseType::String => "string",
            BaseType::Ustring => "ustring",
            BaseType::Symstr => "symstr",
            BaseType::Symbol => "symbol",
        }
    }

    /// Whether `find_fetch_type` of `profile` knows the type (`char` and `symstr` arrived after 5.10: neither is in
    /// 5.10's `probe_fetch_types[]`).
    #[must_use]
    pub fn in_profile(self, profile: KernelProfile) -> bool {
        !matches!((self, profile), (BaseType::Char | BaseType::Symstr, KernelProfile::V5_10))
    }

    /// `fetch_type.size`: bytes in the record (strings store a 4-byte `data_loc`; `symbol` is `unsigned long`).
    #[must_use]
    pub fn size(self) -> usize {
        match self {
            BaseType::U8 | BaseType::S8 | BaseType::X8 | BaseType::Char => 1,
            BaseType::U16 | BaseType::S16 | BaseType::X16 => 2,
            BaseType::U32 | BaseType::S32 | BaseType::X32 => 4,
            BaseType::String | BaseType::Ustring | BaseType::Symstr => 4,
            BaseType::U64 | BaseType::S64 | BaseType::X64 | BaseType::Symbol => 8,
        }
    }

    /// `fetch_type.is_signed` (strings are declared signed: `__ASSIGN_FETCH_TYPE("string", …, 1, …)`).
    #[must_use]
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            BaseType::S8
                | BaseType::S16
                | BaseType::S32
                | BaseType::S64
                | BaseType::String
                | BaseType::Ustring
                | BaseType::Symstr
        )
    }

    /// Whether the value is stored as a dynamic string.
    #[must_use]
    pub fn is_string(self) -> bool {
        matches!(self, BaseType::String | BaseType::Ustring | BaseType::Symstr)
    }

    /// `fetch_type.fmt`: the `print fmt` conversion (`PRINT_TYPE_FMT_NAME`), as it appears in the format file.
    #[must_use]
    pub fn print_fmt(self) -> &'static str {
        match self {
            BaseType::U8 | BaseType::U16 | BaseType::U32 => "%u",
            BaseType::U64 => "%Lu",
            BaseType::S8 | BaseType::S16 | BaseType::S32 => "%d",
            BaseType::S64 => "%Ld",
            BaseType::X8 | BaseType::X16 | BaseType::X32 => "0x%x",
            BaseType::X64 => "0x%Lx",
            BaseType::Char => "'%c'",
            BaseType::String | BaseType::Ustring | BaseType::Symstr => "\\\"%s\\\"",
            BaseType::Symbol => "%pS",
        }
    }

    /// `fetch_type.fmttype`: the field type in the format file (`x*` alias `u*`, `symbol` aliases `u64`).
    #[must_use]
    pub fn fmttype(self) -> &'static str {
        match self {
            BaseType::U8 | BaseType::X8 | BaseType::Char => "u8",
            BaseType::U16 | BaseType::X16 => "u16",
            BaseType::U32 | BaseType::X32 => "u32",
            BaseType::U64 | BaseType::X64 | BaseType::Symbol => "u64",
            BaseType::S8 => "s8",
            BaseType::S16 => "s16",
            BaseType::S32 => "s32",
            BaseType::S64 => "s64",
            BaseType::String | BaseType::Ustring | BaseType::Symstr => "__data_loc char[]",
        }
    }

    fn by_name(name: &str, profile: KernelProfile) -> Option<BaseType> {
        BaseType::ALL.into_iter().find(|t| t.name() == name && t.in_profile(profile))
    }
}

/// A bitfield modifier `b<width>@<offset>/<container>` (`FETCH_OP_MOD_BF`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bitfield {
    /// Bit width.
    pub width: u32,
    /// Bit offset within the container.
    pub offset: u32,
    /// Container size in bits (8, 16, 32, 64).
    pub container: u32,
}

/// An argument's type: `:TYPE`, optionally `[N]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FetchType {
    /// The base type (for a bitfield, the unsigned type of its container, as `find_fetch_type` returns).
    pub base: BaseType,
    /// The bitfield modifier.
    pub bitfield: Option<Bitfield>,
    /// `[N]`: an array of N elements (memory fetch arguments only).
    pub array: Option<u32>,
}

impl FetchType {
    /// Bytes the argument takes in the record (`type->size * (count ?: 1)`).
    #[must_use]
    pub fn record_size(&self) -> usize {
        self.base.size() * self.array.unwrap_or(1) as usize
    }

    /// The field type in the format file (`u32[4]` for arrays, as `traceprobe_parse_probe_arg_body` builds
    /// `parg->fmt`).
    #[must_use]
    pub fn field_type(&self) -> String {
        match self.array {
            Some(n) => format!("{}[{n}]", self.base.fmttype()),
            None => self.base.fmttype().to_string(),
        }
    }
}

/// How an argument's value is fetched: the `fetch_insn` program as a tree.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FetchOp {
    /// `%REG` (`FETCH_OP_REG`): the register at this `pt_regs` byte offset.
    Reg {
        /// The name as written.
        name: String,
        /// `regs_query_register_offset(name)`.
        offset: usize,
    },
    /// `$stackN` (`FETCH_OP_STACK`).
    Stack(u32),
    /// `$stack` (`FETCH_OP_STACKP`): the stack pointer.
    StackPointer,
    /// `$retval` (`FETCH_OP_RETVAL`), at this `pt_regs` offset.
    Retval(usize),
    /// `\IMM` or the address of `@ADDR` (`FETCH_OP_IMM`).
    Imm(u64),
    /// `@SYM[+|-offs]` (`FETCH_NOP_SYMBOL` + `FETCH_OP_IMM`): the symbol's address plus the offset, resolved
    /// through kallsyms (`traceprobe_update_arg`).
    SymbolAddr {
        /// The symbol.
        sym: String,
        /// The offset.
        offset: i64,
        /// `kallsyms_lookup_name(sym) + offset`.
        addr: KernelVa,
    },
    /// `$comm` (`FETCH_OP_COMM`).
    Comm,
    /// `\"STRING"` (`FETCH_OP_DATA`).
    ImmString(String),
    /// `$argN` at a function entry (`FETCH_OP_ARG`, N-1): where the arch keeps it.
    Arg {
        /// 0-based.
        index: u32,
        /// `regs_get_kernel_argument`'s location.
        loc: ArgLocation,
    },
    /// [6.12] `$argN` in a return probe (`FETCH_OP_EDATA`): saved at function entry by the kretprobe entry handler.
    EntryArg {
        /// 0-based.
        index: u32,
        /// Where the entry handler reads it.
        loc: ArgLocation,
    },
    /// `+|-[u]OFFS(FETCHARG)` (`FETCH_OP_DEREF`/`FETCH_OP_UDEREF`), and the dereference of `@ADDR`/`@SYM`: read at
    /// `base + offset`. For string types the outermost dereference is where the string is read from.
    Deref {
        /// Byte offset.
        offset: i64,
        /// `u`: user memory.
        user: bool,
        /// The address expression.
        base: Box<FetchOp>,
    },
}

impl FetchOp {
    fn is_deref(&self) -> bool {
        matches!(self, FetchOp::Deref { .. })
    }
}

/// One parsed fetch argument (`struct probe_arg`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FetchArg {
    /// `NAME=` or the default `arg<i+1>`.
    pub name: String,
    /// The body as written (`probe_arg.comm`), for read-back and `SAME_PROBE`.
    pub comm: String,
    /// How to fetch.
    pub fetch: FetchOp,
    /// The type.
    pub ty: FetchType,
    /// Byte offset of the value after the entry head (`probe_arg.offset`).
    pub offset: usize,
}

/// Where the probe sits, as `traceprobe_parse_probe_arg`'s `TPARG_FL_*` flags say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgContext {
    /// `TPARG_FL_RETURN`.
    pub is_return: bool,
    /// `TPARG_FL_FENTRY`: on a function entry (kprobe at offset 0).
    pub fentry: bool,
}

/// What argument parsing needs from the kernel.
pub struct ParseEnv<'a> {
    /// The profile.
    pub profile: KernelProfile,
    /// The symbol table, for `@SYM`.
    pub kallsyms: &'a Kallsyms,
    /// The arch's register names.
    pub regs: &'a dyn RegsQuery,
}

/// An internal failure: errno plus (offset within the current word, error) to log, if any.
pub(crate) struct ArgFail {
    pub(crate) errno: TraceErrno,
    pub(crate) log: Option<(usize, TpErr)>,
}

fn fail(offs: usize, err: TpErr) -> ArgFail {
    ArgFail { errno: Errno::EINVAL.into(), log: Some((offs, err)) }
}

fn fail_errno(errno: impl Into<TraceErrno>, offs: usize, err: TpErr) -> ArgFail {
    ArgFail { errno: errno.into(), log: Some((offs, err)) }
}

/// `kstrtoull(s, 0, …)`: an optional `+`, then `0x` hex, `0` octal or decimal; the whole string must be digits.
#[must_use]
pub fn kstrtoul(s: &str) -> Option<u64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `kstrtol(s, 0, …)`: [`kstrtoul`] with an optional leading `-`, range-checked to `long`.
#[must_use]
pub fn kstrtol(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => {
            let v = kstrtoul(rest)?;
            if v > i64::MAX as u64 + 1 {
                None
            } else {
                Some((v as i64).wrapping_neg())
            }
        }
        None => kstrtoul(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// `kstrtoul(s, 10, …)` (decimal only, as `$stackN`/`$argN` use).
fn kstrtoul10(s: &str) -> Option<u64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `is_good_name` (kernel/trace/trace.h): a C identifier.
#[must_use]
pub fn is_good_name(name: &str) -> bool {
    let mut b = name.bytes();
    match b.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
        _ => return false,
    }
    b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `traceprobe_parse_event_name(&event, &group, buf, offset)`: splits `[GRP/]EVENT` at `offset` in argv[0].
/// Returns (group, event); [6.12] an empty event after `GRP/` means "generate the name" (`None`).
pub(crate) fn parse_event_name(
    profile: KernelProfile,
    text: &str,
    offset: usize,
) -> Result<(Option<String>, Option<String>), ArgFail> {
    let mut offset = offset;
    let mut event = text;
    let mut group = None;
    // [6.12] `slash = strchr(event, '/'); if (!slash) slash = strchr(event, '.');`: `GRP.EVENT` works too.
    let slash = match profile {
        KernelProfile::V5_10 => text.find('/'),
        KernelProfile::V6_12 => text.find('/').or_else(|| text.find('.')),
    };
    if let Some(slash) = slash {
        if slash == 0 {
            return Err(fail(offset, TpErr::NO_GROUP_NAME));
        }
        if slash + 1 > MAX_EVENT_NAME_LEN {
            return Err(fail(offset, TpErr::GROUP_TOO_LONG));
        }
        let g = &text[..slash];
        if !is_good_name(g) {
            return Err(fail(offset, TpErr::BAD_GROUP_NAME));
        }
        group = Some(g.to_string());
        event = &text[slash + 1..];
        offset += slash + 1;
    }
    let len = event.len();
    // [5.10] `len > MAX_EVENT_NAME_LEN`; [6.12] `len >= MAX_EVENT_NAME_LEN` (memory: the name must fit the buffer
    // with its NUL).
    let too_long = match profile {
        KernelProfile::V5_10 => len > MAX_EVENT_NAME_LEN,
        KernelProfile::V6_12 => len >= MAX_EVENT_NAME_LEN,
    };
    if len == 0 {
        if slash.is_some() && profile == KernelProfile::V6_12 {
            return Ok((group, None));
        }
        return Err(fail(offset, TpErr::NO_EVENT_NAME));
    } else if too_long {
        return Err(fail(offset, TpErr::EVENT_TOO_LONG));
    }
    if !is_good_name(event) {
        return Err(fail(offset, TpErr::BAD_EVENT_NAME));
    }
    Ok((group, Some(event.to_string())))
}

/// The fetch-instruction slots one argument has used, to reproduce `TOO_MANY_OPS`.
struct Slots {
    code: usize,
}

impl Slots {
    /// `if (++code == end)`.
    fn bump(&mut self, offs: usize) -> Result<(), ArgFail> {
        self.code += 1;
        if self.code == FETCH_INSN_MAX - 1 {
            return Err(fail(offs, TpErr::TOO_MANY_OPS));
        }
        Ok(())
    }
}

/// `parse_probe_vars` (trace_probe.c): `$retval`, `$stack`, `$stackN`, `$comm`, `$argN`. `arg` is the text after
/// `$`; `offs` points at the `$`.
fn parse_probe_vars(env: &ParseEnv<'_>, arg: &str, ctx: ArgContext, offs: usize) -> Result<FetchOp, ArgFail> {
    let max_stack = (env.regs.thread_size() / 8) as u64;
    if arg == "retval" || (env.profile == KernelProfile::V6_12 && arg.starts_with("retval")) {
        // [6.12] `str_has_prefix(arg, "retval")` (the BTF form `$retval->field` shares the prefix); without
        // CONFIG_PROBE_EVENTS_BTF_ARGS anything but plain `$retval` is treated as plain.
        if !ctx.is_return {
            return Err(fail(offs, TpErr::RETVAL_ON_PROBE));
        }
        return Ok(FetchOp::Retval(env.regs.regs_return_value_offset()));
    }
    if let Some(rest) = arg.strip_prefix("stack") {
        if rest.is_empty() {
            return Ok(FetchOp::StackPointer);
        }
        if rest.as_bytes()[0].is_ascii_digit() {
            let n = kstrtoul10(rest).ok_or_else(|| fail(offs, TpErr::BAD_VAR))?;
            if n > max_stack {
                return Err(fail(offs, TpErr::BAD_STACK_NUM));
            }
            return Ok(FetchOp::Stack(n as u32));
        }
        return Err(fail(offs, TpErr::BAD_VAR));
    }
    if arg == "comm" || (env.profile == KernelProfile::V6_12 && arg == "COMM") {
        return Ok(FetchOp::Comm);
    }
    if let Some(rest) = arg.strip_prefix("arg") {
        match env.profile {
            KernelProfile::V5_10 => {
                // 5.10: only `(flags & TPARG_FL_MASK) == (KERNEL | FENTRY)` reaches the `$argN` branch; anything
                // else falls through to BAD_VAR.
                if ctx.fentry && !ctx.is_return {
                    let n = kstrtoul10(rest).ok_or_else(|| fail(offs, TpErr::BAD_VAR))?;
                    if n == 0 || n > max_stack {
                        return Err(fail(offs, TpErr::BAD_ARG_NUM));
                    }
                    let index = (n - 1) as u32;
                    return Ok(FetchOp::Arg { index, loc: env.regs.regs_get_kernel_argument_offset(index) });
                }
            }
            KernelProfile::V6_12 => {
                // [6.12] (memory, v6.10 "Support $argN in return probe"): the number is checked first, then the
                // place: entry → FETCH_OP_ARG, return → FETCH_OP_EDATA, elsewhere NOFENTRY_ARGS.
                let n = kstrtoul10(rest).ok_or_else(|| fail(offs, TpErr::BAD_VAR))?;
                if n == 0 || n > max_stack {
                    return Err(fail(offs, TpErr::BAD_ARG_NUM));
                }
                let index = (n - 1) as u32;
                let loc = env.regs.regs_get_kernel_argument_offset(index);
                if ctx.fentry && !ctx.is_return {
                    return Ok(FetchOp::Arg { index, loc });
                } else if ctx.is_return {
                    return Ok(FetchOp::EntryArg { index, loc });
                }
                return Err(fail(offs, TpErr::NOFENTRY_ARGS));
            }
        }
    }
    Err(fail(offs, TpErr::BAD_VAR))
}

/// `str_to_immediate`.
fn str_to_immediate(s: &str) -> Option<u64> {
    let first = s.bytes().next()?;
    if first.is_ascii_digit() {
        kstrtoul(s)
    } else if first == b'-' {
        kstrtol(s).map(|v| v as u64)
    } else if first == b'+' {
        kstrtol(&s[1..]).map(|v| v as u64)
    } else {
        None
    }
}

/// `parse_probe_arg` (trace_probe.c): the recursive fetch-argument parser. `offs` is the byte offset of `arg` in
/// the current argv word, for the caret.
fn parse_probe_arg(
    env: &ParseEnv<'_>,
    arg: &str,
    ctx: ArgContext,
    slots: &mut Slots,
    offs: usize,
) -> Result<FetchOp, ArgFail> {
    let b = arg.as_bytes();
    let op = match b.first() {
        Some(b'$') => parse_probe_vars(env, &arg[1..], ctx, offs)?,
        Some(b'%') => match env.regs.regs_query_register_offset(&arg[1..]) {
            Some(offset) => FetchOp::Reg { name: arg[1..].to_string(), offset },
            None => return Err(fail(offs, TpErr::BAD_REG_NAME)),
        },
        Some(b'@') => {
            let base = if b.get(1).is_some_and(u8::is_ascii_digit) {
                let addr = kstrtoul(&arg[1..]).ok_or_else(|| fail(offs, TpErr::BAD_MEM_ADDR))?;
                FetchOp::Imm(addr)
            } else if b.get(1) == Some(&b'+') {
                // kprobes don't support file offsets.
                return Err(fail(offs, TpErr::FILE_ON_KPROBE));
            } else {
                // `FETCH_NOP_SYMBOL` then `FETCH_OP_IMM`: two slots.
                slots.bump(offs)?;
                let text = &arg[1..];
                let (sym, offset) = match text.find(['+', '-']) {
                    Some(i) => (&text[..i], kstrtol(&text[i..])),
                    None => (text, Some(0)),
                };
                // `traceprobe_update_arg` at registration: a bad offset is -EINVAL, an unknown symbol -ENOENT,
                // neither logged.
                let offset = offset.ok_or(ArgFail { errno: Errno::EINVAL.into(), log: None })?;
                let s = env.kallsyms.lookup_name(sym).ok_or(ArgFail { errno: Errno::ENOENT.into(), log: None })?;
                FetchOp::SymbolAddr { sym: sym.to_string(), offset, addr: KernelVa(s.addr.0.wrapping_add(offset as u64)) }
            };
            slots.bump(offs)?;
            FetchOp::Deref { offset: 0, user: false, base: Box::new(base) }
        }
        Some(b'+' | b'-') => {
            let sign = b[0];
            let mut user = false;
            // `arg[1] = arg[0]; arg++` for `u`, then skip a `+`: `rest` is what kstrtol sees.
            let mut rest: String = String::new();
            if b.get(1) == Some(&b'u') {
                user = true;
                rest.push(sign as char);
                rest.push_str(&arg[2..]);
            } else {
                rest.push_str(arg);
            }
            if rest.starts_with('+') {
                rest.remove(0);
            }
            let Some(paren) = rest.find('(') else {
                return Err(fail(offs, TpErr::DEREF_NEED_BRACE));
            };
            let offset = kstrtol(&rest[..paren]).ok_or_else(|| fail(offs, TpErr::BAD_DEREF_OFFS))?;
            // `offs += (tmp + 1 - arg) + (arg[0] != '-' ? 1 : 0)`, with `arg` already advanced (the kernel's
            // caret is one column short after a `u`).
            let offs = offs + paren + 1 + usize::from(!rest.starts_with('-'));
            let inner_all = &rest[paren + 1..];
            let Some(close) = inner_all.rfind(')') else {
                return Err(fail(offs + inner_all.len(), TpErr::DEREF_OPEN_BRACE));
            };
            let inner = parse_probe_arg(env, &inner_all[..close], ctx, slots, offs)?;
            if matches!(inner, FetchOp::Comm | FetchOp::ImmString(_)) {
                return Err(fail(offs, TpErr::COMM_CANT_DEREF));
            }
            slots.bump(offs)?;
            FetchOp::Deref { offset, user, base: Box::new(inner) }
        }
        Some(b'\\') => {
            if b.get(1) == Some(&b'"') {
                // `__parse_imm_string(arg + 2, …, offs + 2)`.
                let s = &arg[2..];
                if !s.ends_with('"') || s.is_empty() {
                    return Err(fail(offs + 2 + s.len(), TpErr::IMMSTR_NO_CLOSE));
                }
                FetchOp::ImmString(s[..s.len() - 1].to_string())
            } else {
                FetchOp::Imm(str_to_immediate(&arg[1..]).ok_or_else(|| fail(offs + 1, TpErr::BAD_IMM))?)
            }
        }
        Some(c) if env.profile == KernelProfile::V6_12 && (c.is_ascii_alphabetic() || *c == b'_') => {
            // [6.12] a bare identifier is a BTF argument; the model has no BTF (memory: parse_btf_arg without a
            // BTF context logs NOSUP_BTFARG and returns -EOPNOTSUPP).
            return Err(fail_errno(Errno::EOPNOTSUPP, offs, TpErr::NOSUP_BTFARG));
        }
        _ => return Err(fail(offs, TpErr::BAD_FETCH_ARG)),
    };
    Ok(op)
}

/// `find_fetch_type(type)`: `None` when the name is unknown. A bitfield `b<w>@<o>/<c>` maps to the unsigned type
/// of its container.
fn find_fetch_type(profile: KernelProfile, t: Option<&str>) -> Option<BaseType> {
    let t = t.unwrap_or("x64"); // DEFAULT_FETCH_TYPE: x<BITS_PER_LONG>
    if let Some(rest) = t.strip_prefix('b') {
        let bs = kstrtoul(&rest[rest.find('/')? + 1..])?;
        return match bs {
            8 => Some(BaseType::U8),
            16 => Some(BaseType::U16),
            32 => Some(BaseType::U32),
            64 => Some(BaseType::U64),
            _ => None,
        };
    }
    BaseType::by_name(t, profile)
}

/// `simple_strtoul(s, &tail, 0)`: the longest numeric prefix (0 if none) and the rest.
fn simple_strtoul(s: &str) -> (u64, &str) {
    let (digits_start, radix) = if s.starts_with("0x") || s.starts_with("0X") {
        (2, 16)
    } else if s.starts_with('0') {
        (0, 8)
    } else {
        (0, 10)
    };
    let body = &s[digits_start..];
    let n = body.bytes().take_while(|c| (*c as char).is_digit(radix)).count();
    if n == 0 && digits_start == 2 {
        // "0x" without digits: simple_strtoul parses the "0".
        return (0, &s[1..]);
    }
    let v = u64::from_str_radix(&body[..n], radix).unwrap_or(if n == 0 { 0 } else { u64::MAX });
    (v, &body[n..])
}

/// `__parse_bitfield_probe_arg`: `b<width>@<offset>/<container>`.
fn parse_bitfield(t: &str, base: BaseType) -> Option<Bitfield> {
    let rest = t.strip_prefix('b')?;
    let (bw, tail) = simple_strtoul(rest);
    if bw == 0 || !tail.starts_with('@') {
        return None;
    }
    let bf = &tail[1..];
    let (bo, tail) = simple_strtoul(bf);
    if tail.len() == bf.len() || !tail.starts_with('/') {
        return None;
    }
    let bits = base.size() as u64 * 8;
    if bits < bw + bo {
        return None;
    }
    Some(Bitfield { width: bw as u32, offset: bo as u32, container: bits as u32 })
}

/// `traceprobe_parse_probe_arg_body`: `FETCHARG[:TYPE[[N]]]` at `offset` in the argv word; `size` is the record
/// size so far (the argument's offset).
fn parse_probe_arg_body(
    env: &ParseEnv<'_>,
    arg: &str,
    size: usize,
    name: String,
    ctx: ArgContext,
    offset: usize,
) -> Result<FetchArg, ArgFail> {
    let p = env.profile;
    let len = arg.len();
    if len > MAX_ARGSTR_LEN {
        return Err(fail(offset, TpErr::ARG_TOO_LONG));
    } else if len == 0 {
        return Err(fail(offset, TpErr::NO_ARG_BODY));
    }
    let comm = arg.to_string();
    // Split `BODY:TYPE[N]`.
    let (body, t, count) = match arg.find(':') {
        None => (arg, None, None),
        Some(colon) => {
            let t_start = colon + 1;
            let tstr = &arg[t_start..];
            match tstr.find('[') {
                None => (&arg[..colon], Some((tstr, t_start)), None),
                Some(lb) => {
                    let t2_start = t_start + lb + 1;
                    let t2 = &arg[t2_start..];
                    let Some(rb) = t2.find(']') else {
                        return Err(fail(offset + t2_start + t2.len(), TpErr::ARRAY_NO_CLOSE));
                    };
                    if rb + 1 != t2.len() {
                        return Err(fail(offset + t2_start + rb + 1, TpErr::BAD_ARRAY_SUFFIX));
                    }
                    let n = kstrtoul(&t2[..rb]).filter(|&n| n != 0 && n <= u64::from(u32::MAX));
                    let Some(n) = n else {
                        return Err(fail(offset + t2_start, TpErr::BAD_ARRAY_NUM));
                    };
                    if n > u64::from(MAX_ARRAY_LEN) {
                        return Err(fail(offset + t2_start, TpErr::ARRAY_TOO_BIG));
                    }
                    (&arg[..colon], Some((&tstr[..lb], t_start)), Some(n as u32))
                }
            }
        }
    };
    let t_off = offset + t.map_or(0, |(_, o)| o);
    let is_comm = body == "$comm" || (p == KernelProfile::V6_12 && body == "$COMM") || body.starts_with("\\\"");
    let base = if is_comm {
        // The type of $comm (and of an immediate string) must be "string", and not an array.
        if count.is_some() || t.is_some_and(|(t, _)| t != "string") {
            return Err(match p {
                KernelProfile::V5_10 => ArgFail { errno: Errno::EINVAL.into(), log: None },
                KernelProfile::V6_12 => fail(t_off, TpErr::NEED_STRING_TYPE),
            });
        }
        BaseType::String
    } else {
        find_fetch_type(p, t.map(|(t, _)| t)).ok_or_else(|| fail(t_off, TpErr::BAD_TYPE))?
    };

    let mut slots = Slots { code: 0 };
    let fetch = parse_probe_arg(env, body, ctx, &mut slots, offset)?;

    // Store operation.
    if base.is_string() {
        if base == BaseType::Symstr {
            let ok = matches!(
                fetch,
                FetchOp::Reg { .. }
                    | FetchOp::Stack(_)
                    | FetchOp::Retval(_)
                    | FetchOp::Arg { .. }
                    | FetchOp::EntryArg { .. }
                    | FetchOp::Deref { user: false, .. }
            );
            if !ok {
                return Err(fail(t_off, TpErr::BAD_SYMSTRING));
            }
        } else {
            let ok = matches!(fetch, FetchOp::Deref { .. } | FetchOp::Imm(_) | FetchOp::Comm | FetchOp::ImmString(_));
            if !ok {
                return Err(fail(t_off, TpErr::BAD_STRING));
            }
        }
        if !fetch.is_deref() || count.is_some() {
            slots.bump(offset).map_err(|_| fail(offset, TpErr::TOO_MANY_OPS))?;
        }
    } else if !fetch.is_deref() {
        slots.bump(offset)?;
    }
    let scode_is_mem = fetch.is_deref() || base.is_string();
    // Modify operation.
    let mut bitfield = None;
    if let Some((tname, _)) = t {
        if tname.starts_with('b') {
            let bf = parse_bitfield(tname, base);
            if bf.is_none() || slots.code + 1 >= FETCH_INSN_MAX - 1 {
                return Err(fail(t_off, TpErr::BAD_BITFIELD));
            }
            slots.code += 1;
            bitfield = bf;
        }
    }
    // Loop (array) operation.
    if count.is_some() {
        // `scode` must be ST_MEM, ST_STRING or ST_USTRING (not ST_RAW, not ST_SYMSTR).
        if !scode_is_mem || base == BaseType::Symstr {
            return Err(fail(t_off, TpErr::BAD_STRING));
        }
        slots.bump(offset)?;
    }
    Ok(FetchArg { name, comm, fetch, ty: FetchType { base, bitfield, array: count }, offset: size })
}

/// `traceprobe_parse_probe_arg(tp, i, arg, flags)`: `[NAME=]FETCHARG[:TYPE]`, argument `i` (0-based), given the
/// arguments parsed so far. Errors are relative to the argument's argv word.
pub(crate) fn parse_probe_arg_word(
    env: &ParseEnv<'_>,
    args: &[FetchArg],
    i: usize,
    word: &str,
    ctx: ArgContext,
) -> Result<FetchArg, ArgFail> {
    let size: usize = args.iter().map(|a| a.ty.record_size()).sum();
    let (name, body, body_off) = match word.find('=') {
        Some(eq) => {
            if eq > MAX_ARG_NAME_LEN {
                return Err(fail(0, TpErr::ARG_NAME_TOO_LONG));
            } else if eq == 0 {
                return Err(fail(0, TpErr::NO_ARG_NAME));
            }
            (word[..eq].to_string(), &word[eq + 1..], eq + 1)
        }
        None => (format!("arg{}", i + 1), word, 0),
    };
    if !is_good_name(&name) {
        return Err(fail(0, TpErr::BAD_ARG_NAME));
    }
    const RESERVED: [&str; 8] = [
        "common_type",
        "common_flags",
        "common_preempt_count",
        "common_pid",
        "common_tgid",
        "__probe_ip",
        "__probe_ret_ip",
        "__probe_func",
    ];
    if RESERVED.contains(&name.as_str()) || args.iter().any(|a| a.name == name) {
        return Err(fail(0, TpErr::USED_ARG_NAME));
    }
    parse_probe_arg_body(env, body, size, name, ctx, body_off)
}

/// The `print fmt` line of the event's format file (`__set_print_fmt`).
#[must_use]
pub fn print_fmt(args: &[FetchArg], is_return: bool) -> String {
    let (fmt, first) = if is_return {
        ("(%lx <- %lx)", "REC->__probe_func, REC->__probe_ret_ip")
    } else {
        ("(%lx)", "REC->__probe_ip")
    };
    let mut s = format!("\"{fmt}");
    for a in args {
        s.push_str(&format!(" {}=", a.name));
        match a.ty.array {
            Some(n) => {
                s.push('{');
                s.push_str(&vec![a.ty.base.print_fmt(); n as usize].join(","));
                s.push('}');
            }
            None => s.push_str(a.ty.base.print_fmt()),
        }
    }
    s.push_str(&format!("\", {first}"));
    for a in args {
        let string = a.ty.base.is_string();
        match a.ty.array {
            Some(n) => {
                for j in 0..n {
                    if string {
                        s.push_str(&format!(", __get_str({}[{j}])", a.name));
                    } else {
                        s.push_str(&format!(", REC->{}[{j}]", a.name));
                    }
                }
            }
            None if string => s.push_str(&format!(", __get_str({})", a.name)),
            None => s.push_str(&format!(", REC->{}", a.name)),
        }
    }
    s
}

/// `trace_probe_compare_arg_type(a, b)`: the 1-based index of the first argument whose type, count or name
/// differs, or 0. Types compare as `fetch_type` pointers, so a bitfield equals its container type.
#[must_use]
pub fn compare_arg_type(a: &[FetchArg], b: &[FetchArg]) -> usize {
    if a.len() < b.len() {
        return a.len() + 1;
    }
    if a.len() > b.len() {
        return b.len() + 1;
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x.ty.base != y.ty.base || x.ty.array != y.ty.array || x.name != y.name {
            return i + 1;
        }
    }
    0
}
