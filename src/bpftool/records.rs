//! What a libbpf consumer receives from the two BPF output buffers, after the run:
//!
//! - `ring_buffer__consume` (tools/lib/bpf/ringbuf.c `ringbuf_process_ring`): each committed, non-discarded record
//!   in order, its callback given `(data, len)` with `len` the record header's length — exactly what the program
//!   reserved.
//! - `perf_buffer__poll` (tools/lib/bpf/libbpf.c `perf_buffer__process_record`): each `PERF_RECORD_SAMPLE` with
//!   `(cpu, data, size)`, `size` being the `PERF_SAMPLE_RAW` size, which the kernel pads so the sample stays
//!   u64-aligned (`perf_prepare_sample`: `round_up(size + sizeof(u32), sizeof(u64)) - sizeof(u32)`,
//!   kernel/events/core.c). The padding's bytes are what the perf ring held (the kernel skips them); the model
//!   shows them as zeros.

use std::fmt::Write as _;

/// One record as the consumer's callback receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `ringbuf` or `perf`.
    pub buffer: &'static str,
    /// The map's name.
    pub map: String,
    /// The map's id.
    pub map_id: u32,
    /// The perf buffer's CPU (perf records only).
    pub cpu: Option<usize>,
    /// The bytes the callback gets (`size` of them).
    pub data: Vec<u8>,
}

/// The `PERF_SAMPLE_RAW` size of a `len`-byte `bpf_perf_event_output`.
#[must_use]
pub fn perf_raw_size(len: usize) -> usize {
    (len + 4).next_multiple_of(8) - 4
}

impl Record {
    /// A perf record as `perf_buffer__poll` delivers it (padded).
    #[must_use]
    pub fn perf(r: &kernel_model::bpf::PerfRecord) -> Record {
        let mut data = r.data.clone();
        data.resize(perf_raw_size(r.data.len()), 0);
        Record { buffer: "perf", map: r.map_name.clone(), map_id: r.map_id, cpu: Some(r.cpu), data }
    }

    /// One line: `ringbuf NAME (id N) size S: HEX` or `perf NAME (id N) cpu C size S: HEX`.
    #[must_use]
    pub fn line(&self) -> String {
        let mut s = format!("{} {} (id {})", self.buffer, self.map, self.map_id);
        if let Some(c) = self.cpu {
            let _ = write!(s, " cpu {c}");
        }
        let hex: Vec<String> = self.data.iter().map(|b| format!("{b:02x}")).collect();
        let _ = write!(s, " size {}: {}", self.data.len(), hex.join(" "));
        s
    }
}
