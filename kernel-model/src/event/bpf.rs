//! BPF output details (`kernel/trace/bpf_trace.c`, `kernel/bpf/ringbuf.c`).

use serde::Serialize;
use std::fmt;

/// Which kind of buffer a BPF program's record went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BpfBuffer {
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (`bpf_perf_event_output`).
    Perf,
    /// `BPF_MAP_TYPE_RINGBUF` (`bpf_ringbuf_output` / `_submit`).
    Ringbuf,
}

impl fmt::Display for BpfBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BpfBuffer::Perf => "perf",
            BpfBuffer::Ringbuf => "ringbuf",
        })
    }
}
