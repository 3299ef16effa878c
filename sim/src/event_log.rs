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
}

impl EventLog {
    /// Appends an event.
    pub fn push(&mut self, vtime: VTime, cpu: CpuId, pc: KernelVa, kind: EventKind) {
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

    /// The readable view: aligned columns `seq vtime cpu pc(symbol+off) kind details`.
    #[must_use]
    pub fn to_text(&self, syms: &Kallsyms) -> String {
        let mut out = String::new();
        for e in &self.events {
            let pc = if e.pc.0 == 0 { "-".to_string() } else { syms.format_short(e.pc) };
            let _ = writeln!(
                out,
                "{:>5} {:>10} cpu{:<2} {:<30} {:<11} {}",
                e.seq,
                e.vtime.0,
                e.cpu.0,
                pc,
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
