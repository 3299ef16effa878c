//! The fetch types (`probe_fetch_types[]`, `struct fetch_type`, bitfields), the fetch instructions of an argument
//! (`struct fetch_insn`), and what the event's format file prints of them (`__set_print_fmt`,
//! `trace_probe_compare_arg_type`) — kernel/trace/trace_probe.{c,h}.

use super::*;

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

    pub(super) fn by_name(name: &str, profile: KernelProfile) -> Option<BaseType> {
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
    pub(super) fn is_deref(&self) -> bool {
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
