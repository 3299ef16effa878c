//! `kernel/trace/trace_probe.{c,h}`: the fetch-argument grammar shared by kprobe events, the fetch types, the
//! `ERRORS` message table and `trace_probe_log_err`.
//!
//! Sources: [5.10] `kernel/trace/trace_probe.c` of Rtoax/linux-5.10.13 (@1d9518f1) and `trace_probe.h` of
//! openharmony/kernel_linux_5.10 (@2cabd2fc, a 5.10.y tree); [6.12] `trace_probe.h` of a v6.15+ tree (find_string
//! id 128402474), minus the one entry that blame dates after 6.12 (`TOO_MANY_ARGS`, v6.15). Where the 6.12 parser
//! body is reproduced from memory rather than re-read, the doc comment says so.

mod errors;
mod parse;
mod types;

pub use errors::*;
pub use parse::*;
pub use types::*;

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
