//! `kernel/trace/ring_buffer.c` and the readers of `kernel/trace/trace.c`: one buffer per CPU; `trace` merges them
//! by timestamp without consuming (`trace_find_next_entry`), `trace_pipe` consumes (`trace_consume`).

use crate::trace::output::TraceRecord;
use std::collections::VecDeque;

/// The per-CPU buffers of one trace instance.
#[derive(Clone, Debug)]
pub struct RingBuffer {
    cpus: Vec<VecDeque<TraceRecord>>,
    /// Records each CPU buffer holds before overwriting its oldest (`buffer_size_kb`, counted in records).
    capacity: usize,
    written: Vec<u64>,
}

impl RingBuffer {
    /// `ncpus` buffers of `capacity` records each (overwrite mode, the default).
    #[must_use]
    pub fn new(ncpus: u32, capacity: usize) -> RingBuffer {
        RingBuffer {
            cpus: (0..ncpus).map(|_| VecDeque::new()).collect(),
            capacity: capacity.max(1),
            written: vec![0; ncpus as usize],
        }
    }

    /// `ring_buffer_lock_reserve` + commit on `r.cpu`'s buffer; the oldest record goes when the buffer is full.
    /// Records for a CPU the buffer does not have are dropped.
    pub fn commit(&mut self, r: TraceRecord) {
        let cpu = r.cpu as usize;
        let Some(buf) = self.cpus.get_mut(cpu) else {
            return;
        };
        if buf.len() == self.capacity {
            buf.pop_front();
        }
        buf.push_back(r);
        self.written[cpu] += 1;
    }

    /// `get_total_entries`: (entries in the buffers, entries written), for the `trace` header.
    #[must_use]
    pub fn total_entries(&self) -> (u64, u64) {
        (self.cpus.iter().map(|b| b.len() as u64).sum(), self.written.iter().sum())
    }

    /// The CPU whose head record is next: smallest timestamp, the lowest CPU on ties (`__find_next_entry` takes a
    /// later CPU only if its timestamp is strictly smaller).
    fn next_cpu(&self) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (cpu, b) in self.cpus.iter().enumerate() {
            if let Some(r) = b.front() {
                if best.is_none_or(|(_, ts)| r.ts_ns < ts) {
                    best = Some((cpu, r.ts_ns));
                }
            }
        }
        best.map(|(c, _)| c)
    }

    /// Reading `trace`: every record, merged by timestamp, without consuming.
    #[must_use]
    pub fn iter_merged(&self) -> Vec<&TraceRecord> {
        let mut idx = vec![0usize; self.cpus.len()];
        let mut out = Vec::new();
        loop {
            let mut best: Option<(usize, u64)> = None;
            for (cpu, b) in self.cpus.iter().enumerate() {
                if let Some(r) = b.get(idx[cpu]) {
                    if best.is_none_or(|(_, ts)| r.ts_ns < ts) {
                        best = Some((cpu, r.ts_ns));
                    }
                }
            }
            let Some((cpu, _)) = best else {
                return out;
            };
            out.push(&self.cpus[cpu][idx[cpu]]);
            idx[cpu] += 1;
        }
    }

    /// Reading `trace_pipe`: takes the records, merged by timestamp.
    pub fn consume_all(&mut self) -> Vec<TraceRecord> {
        let mut out = Vec::new();
        while let Some(cpu) = self.next_cpu() {
            if let Some(r) = self.cpus[cpu].pop_front() {
                out.push(r);
            }
        }
        out
    }

    /// Opening `trace` with `O_TRUNC` (`tracing_reset_online_cpus`): empties the buffers and the written count.
    pub fn reset(&mut self) {
        for b in &mut self.cpus {
            b.clear();
        }
        for w in &mut self.written {
            *w = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::output::{ProbeIp, TraceFlags};
    use crate::KernelVa;

    fn rec(cpu: u32, ts: u64) -> TraceRecord {
        TraceRecord {
            cpu,
            pid: 1,
            comm: "init".into(),
            flags: TraceFlags::default(),
            ts_ns: ts,
            event_id: 1,
            ip: ProbeIp::Kprobe { ip: KernelVa(0) },
            args: vec![],
        }
    }

    #[test]
    fn trace_merges_by_timestamp_and_trace_pipe_consumes() {
        let mut rb = RingBuffer::new(2, 3);
        for (cpu, ts) in [(1, 5), (0, 10), (1, 10), (0, 2), (1, 20)] {
            rb.commit(rec(cpu, ts));
        }
        // CPU 0 holds 10, 2 in commit order: the merge takes each buffer in order, by head timestamp.
        let order: Vec<(u32, u64)> = rb.iter_merged().iter().map(|r| (r.cpu, r.ts_ns)).collect();
        assert_eq!(order, vec![(1, 5), (0, 10), (0, 2), (1, 10), (1, 20)]);
        assert_eq!(rb.total_entries(), (5, 5));
        rb.commit(rec(1, 30)); // CPU 1 is full (3): its oldest goes.
        assert_eq!(rb.total_entries(), (5, 6));
        let taken = rb.consume_all();
        assert_eq!(taken.len(), 5);
        assert_eq!(rb.total_entries(), (0, 6));
        assert!(rb.consume_all().is_empty(), "trace_pipe consumed them");
    }
}
