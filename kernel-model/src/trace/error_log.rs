//! `kernel/trace/trace.c`: `tracing_log_err` and the `error_log` file (`tracing_err_log_seq_show`).

use crate::trace::trace_probe::ErrorLogEntry;
use std::collections::VecDeque;

/// `TRACING_LOG_ERRS_MAX`: the log keeps the last 16 entries.
pub const TRACING_LOG_ERRS_MAX: usize = 16;
/// `CMD_PREFIX`.
pub const CMD_PREFIX: &str = "  Command: ";

/// The `error_log` file of one trace instance.
#[derive(Clone, Debug, Default)]
pub struct ErrorLog {
    entries: VecDeque<(u64, ErrorLogEntry)>,
}

impl ErrorLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> ErrorLog {
        ErrorLog::default()
    }

    /// `tracing_log_err` at `ts_ns` (`local_clock()`); the oldest entry goes when the log is full.
    pub fn push(&mut self, ts_ns: u64, entry: ErrorLogEntry) {
        if self.entries.len() == TRACING_LOG_ERRS_MAX {
            self.entries.pop_front();
        }
        self.entries.push_back((ts_ns, entry));
    }

    /// Writing to `error_log` with `O_TRUNC` clears it (`clear_tracing_err_log`).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries.
    pub fn entries(&self) -> impl Iterator<Item = &(u64, ErrorLogEntry)> {
        self.entries.iter()
    }

    /// Reading `error_log`.
    #[must_use]
    pub fn read(&self) -> String {
        self.entries.iter().map(|(ts, e)| render_entry(*ts, e)).collect()
    }
}

/// `tracing_err_log_seq_show` for one entry: `"[%5llu.%06u] %s%s"` (seconds, microseconds truncated, `loc` =
/// `"<subsystem>: error: "`, the message), then `"\n" CMD_PREFIX "%s\n"`, then `tracing_err_log_show_pos`:
/// `CMD_PREFIX`'s width plus `pos` spaces and `^`.
#[must_use]
pub fn render_entry(ts_ns: u64, e: &ErrorLogEntry) -> String {
    let sec = ts_ns / 1_000_000_000;
    let usec = (ts_ns % 1_000_000_000) / 1000;
    format!(
        "[{sec:5}.{usec:06}] {}: error: {}\n{CMD_PREFIX}{}\n{}^\n",
        e.subsystem,
        e.message,
        e.command,
        " ".repeat(CMD_PREFIX.len() + e.pos)
    )
}
