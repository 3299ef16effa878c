//! tracefs file operations (`kernel/trace/`).

use crate::errno::Errno;
use serde::Serialize;

/// A tracefs file operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TracefsOp {
    /// `echo TEXT > FILE` (`append` false: `O_TRUNC`) or `echo TEXT >> FILE`.
    Write {
        /// What was written.
        text: String,
        /// `>>`.
        append: bool,
        /// What `write(2)` (or `open(O_TRUNC)`) returned.
        result: Result<(), Errno>,
    },
    /// `cat FILE`.
    Read {
        /// How many bytes it gave.
        bytes: usize,
    },
}
