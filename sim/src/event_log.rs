//! The event log: every event of a run, stamped with a sequence number, the virtual time, the CPU and its pc.
//! The text and JSON-lines views render the same values; the hash of the JSON view is a run's fingerprint.

use kernel_model::event::EventKind;
use kernel_model::kallsyms::Kallsyms;
use kernel_model::{CpuId, KernelVa, VTime};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Position in the log, from 0.
    pub seq: u64,
    /// Virtual time when it happened.
    pub vtime: VTime,
    /// The CPU it happened on.
    pub cpu: CpuId,
    /// That CPU's pc at the time.
    pub pc: KernelVa,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The log of a run.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    events: Vec<Event>,
    /// The scheduler turn each event was recorded in (not part of the event: a replay coordinate).
    turns: Vec<u64>,
    turn: u64,
    /// Events not kept because the log was full ([`EventLog::CAP`]).
    dropped: u64,
}

impl EventLog {
    /// The most events a log keeps (docs/limits.md): a run that records more keeps the first `CAP`, counts the rest
    /// and fails with a message saying so, rather than growing without bound.
    pub const CAP: usize = 4_000_000;

    /// Appends an event (or counts it as dropped once the log holds [`EventLog::CAP`]).
    pub fn push(&mut self, vtime: VTime, cpu: CpuId, pc: KernelVa, kind: EventKind) {
        if self.events.len() >= Self::CAP {
            self.dropped += 1;
            return;
        }
        let seq = self.events.len() as u64;
        self.events.push(Event { seq, vtime, cpu, pc, kind });
        self.turns.push(self.turn);
    }

    /// Sets the scheduler turn later events belong to.
    pub fn set_turn(&mut self, turn: u64) {
        self.turn = turn;
    }

    /// The scheduler turn event `seq` was recorded in: replaying the same scenario and stopping before that turn
    /// gives the machine as it was just before the event.
    #[must_use]
    pub fn turn_of(&self, seq: u64) -> Option<u64> {
        self.turns.get(usize::try_from(seq).ok()?).copied()
    }

    /// How many events were not kept because the log was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// All events in order.
    #[must_use]
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// JSON lines, one event per line.
    ///
    /// # Panics
    /// Never in practice: events serialise infallibly.
    #[must_use]
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for e in &self.events {
            out.push_str(&serde_json::to_string(e).expect("events serialise"));
            out.push('\n');
        }
        out
    }

    /// The readable view: a header row, then one line per event in columns sized to their content
    /// (`seq vtime cpu pc(symbol+off) kind event`), so a long symbol name widens its column instead of pushing the
    /// rest of its line out of line.
    #[must_use]
    pub fn to_text(&self, syms: &Kallsyms) -> String {
        let pcs: Vec<String> = self
            .events
            .iter()
            .map(|e| if e.pc.0 == 0 { "-".to_string() } else { syms.format_short(e.pc) })
            .collect();
        let digits = |v: u64| v.to_string().len();
        let last = self.events.last();
        // `seq` at least 4 wide: the header row's first character becomes its `#`.
        let w_seq = digits(last.map_or(0, |e| e.seq)).max(4);
        let w_vtime = digits(last.map_or(0, |e| e.vtime.0)).max("vtime".len());
        let w_cpu = 3 + digits(self.events.iter().map(|e| e.cpu.0 as u64).max().unwrap_or(0));
        let w_pc = pcs.iter().map(String::len).max().unwrap_or(0).max("pc".len());
        let w_kind = self.events.iter().map(|e| e.kind.name().len()).max().unwrap_or(0).max("kind".len());
        let mut out = String::new();
        let header = format!("{:>w_seq$} {:>w_vtime$} {:<w_cpu$} {:<w_pc$} {:<w_kind$} event", "seq", "vtime", "cpu", "pc", "kind");
        let _ = writeln!(out, "#{}", &header[1..]);
        for (e, pc) in self.events.iter().zip(&pcs) {
            let cpu = format!("cpu{}", e.cpu.0);
            let _ = writeln!(
                out,
                "{:>w_seq$} {:>w_vtime$} {cpu:<w_cpu$} {pc:<w_pc$} {:<w_kind$} {}",
                e.seq,
                e.vtime.0,
                e.kind.name(),
                e.kind
            );
        }
        out
    }

    /// SHA-256 of the JSON view: equal logs, equal hashes.
    #[must_use]
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.to_json_lines().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_counts_what_it_drops() {
        let mut log = EventLog::default();
        for i in 0..EventLog::CAP as u64 + 3 {
            log.push(VTime(i), CpuId(0), KernelVa(0), EventKind::TaskExit { pid: 1 });
        }
        assert_eq!(log.events().len(), EventLog::CAP);
        assert_eq!(log.dropped(), 3);
    }
    use kernel_model::errno::Errno;
    use kernel_model::bpf::BpfError;
    use kernel_model::event::{BpfBuffer, HitStep, KprobeStatus, KprobeStep};

    /// Addresses and 64-bit values are hex strings in JSON (as numbers, `jq` rounds them past 2^53); the typed
    /// fields of a step sit next to `kind`, tagged by `step`.
    #[test]
    fn json_has_typed_fields_and_hex_addresses() {
        let mut log = EventLog::default();
        let (pc, addr) = (KernelVa(0xffff_ffc0_1009_6100), KernelVa(0xffff_ffc0_1009_6104));
        let hit = HitStep::SetupSinglestepXol { slot: KernelVa(0xffff_ffc0_13e9_b000) };
        let kind = EventKind::KprobeHit { probe: "kp".into(), addr, step: hit, status: KprobeStatus::HitSs };
        log.push(VTime(7), CpuId(1), pc, kind);
        let step = KprobeStep::RegisterKprobeReturned { errno: Some(Errno::EILSEQ), reason: Some("mid-insn".into()) };
        log.push(VTime(8), CpuId(0), KernelVa(0), EventKind::Kprobe { probe: "kp".into(), step });
        let ret = EventKind::TaskReturn { pid: 7, func: "f".into(), ret: u64::MAX - 1, iteration: 0 };
        log.push(VTime(9), CpuId(0), pc, ret);
        let out = EventKind::BpfOutput { map: "m".into(), buffer: BpfBuffer::Perf, cpu: 3, size: 8 };
        log.push(VTime(10), CpuId(0), pc, out);
        let error = BpfError::OutOfBounds { pc: 2, addr: 0x1000_1008, size: 8, write: false };
        log.push(VTime(11), CpuId(0), pc, EventKind::BpfFault { prog: "p".into(), error });
        let json = log.to_json_lines();
        let lines: Vec<&str> = json.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"seq":0,"vtime":7,"cpu":1,"pc":"0xffffffc010096100","kind":"kprobe_hit","probe":"kp","addr":"0xffffffc010096104","step":"setup_singlestep_xol","slot":"0xffffffc013e9b000","status":"KPROBE_HIT_SS"}"#,
                r#"{"seq":1,"vtime":8,"cpu":0,"pc":"0x0","kind":"kprobe","probe":"kp","step":"register_kprobe_returned","errno":"EILSEQ","reason":"mid-insn"}"#,
                r#"{"seq":2,"vtime":9,"cpu":0,"pc":"0xffffffc010096100","kind":"task_return","pid":7,"func":"f","ret":"0xfffffffffffffffe","iteration":0}"#,
                // The event's own keys (`cpu`, `pc`) are never repeated by a kind's fields.
                r#"{"seq":3,"vtime":10,"cpu":0,"pc":"0xffffffc010096100","kind":"bpf_output","map":"m","buffer":"perf","buffer_cpu":3,"size":8}"#,
                r#"{"seq":4,"vtime":11,"cpu":0,"pc":"0xffffffc010096100","kind":"bpf_fault","prog":"p","error":{"type":"out_of_bounds","pc":2,"addr":"0x10001008","size":8,"write":false}}"#,
            ]
        );
    }
}
