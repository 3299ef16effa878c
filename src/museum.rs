//! A museum of kernel changes the model reproduces: each exhibit a pair of scenarios, the kernel before and after an
//! upstream change, and a symptom — a predicate over the run's typed events — that the first shows and the second
//! does not. The exhibits are data (`museum/exhibits.toml`); `probesim museum` runs them, `tests/museum.rs` too.

use crate::runner::{self, Report};
use crate::scenario::{Scenario, ScenarioError};
use kernel_model::event::{EventKind, Trap};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What the "before" run shows and the "after" run must not.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Symptom {
    /// arm64 `aarch64_insn_patch_text_cb`: the master writes while another CPU has not entered the callback (it is
    /// still in `multi_cpu_stop`, free to run the text being written).
    MasterWritesBeforeAllCpusArrive,
    /// A kprobe with a BPF program is hit, and the program never runs.
    BpfSkippedOnHit,
    /// x86 steps the copied instruction with TF and takes a #DB (`kprobe_debug_handler`).
    TfSingleStep,
    /// The kernel oopses (`die()`).
    Oops,
}

impl Symptom {
    /// Whether `report` shows it; with the first event that does, as `seq: text`.
    #[must_use]
    pub fn seen(self, report: &Report) -> Option<String> {
        let events = report.log.events();
        let first = |pred: &dyn Fn(&EventKind) -> bool| events.iter().find(|e| pred(&e.kind)).map(|e| format!("event {}: {}", e.seq, e.kind));
        match self {
            Symptom::MasterWritesBeforeAllCpusArrive => crate::explore::writes_before_all_arrive(report)
                .next()
                .map(|(e, _, cpu, pc)| format!("event {}: cpu{} writes while cpu{cpu}: not yet in aarch64_insn_patch_text_cb (guest pc {})", e.seq, e.cpu, pc.sym)),
            Symptom::BpfSkippedOnHit => {
                let hit = events.iter().any(|e| matches!(e.kind, EventKind::KprobeHit { .. }));
                let ran = events.iter().any(|e| matches!(e.kind, EventKind::BpfRun { .. }));
                let has_bpf = !report.scenario.spec.bpf.is_empty();
                (has_bpf && hit && !ran).then(|| "kprobe hits, no bpf_run event".to_string())
            }
            Symptom::TfSingleStep => first(&|k| matches!(k, EventKind::Trap { trap: Trap::Debug })),
            Symptom::Oops => first(&|k| matches!(k, EventKind::Oops { .. })),
        }
    }

    /// In words, for the report.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Symptom::MasterWritesBeforeAllCpusArrive => "the master writes before every CPU is in the callback",
            Symptom::BpfSkippedOnHit => "the probe is hit and its BPF program never runs",
            Symptom::TfSingleStep => "the step out of line ends in a #DB trap (TF single-step)",
            Symptom::Oops => "the kernel oopses",
        }
    }
}

/// One exhibit.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exhibit {
    /// Short name.
    pub name: String,
    /// The upstream change, as its commit is titled (with id where known).
    pub change: String,
    /// The release it entered.
    pub version: String,
    /// What goes wrong before, and what the change does.
    pub story: String,
    /// The scenario of the kernel before (relative to the museum file).
    pub before: PathBuf,
    /// After.
    pub after: PathBuf,
    /// What the first shows and the second must not.
    pub symptom: Symptom,
}

/// The museum file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Museum {
    /// The exhibits, in order.
    #[serde(rename = "exhibit")]
    pub exhibits: Vec<Exhibit>,
}

/// Why the museum could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MuseumError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a museum.
    #[error("{file}: {msg}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// An exhibit's scenario is bad input.
    #[error(transparent)]
    Scenario(Box<ScenarioError>),
}

impl From<ScenarioError> for MuseumError {
    fn from(e: ScenarioError) -> MuseumError {
        MuseumError::Scenario(Box::new(e))
    }
}

/// What one exhibit's pair showed.
#[derive(Clone, Debug)]
pub struct Visit {
    /// The symptom in the "before" run (its first event), if seen.
    pub before: Option<String>,
    /// In the "after" run.
    pub after: Option<String>,
}

impl Visit {
    /// The exhibit shows what it claims: the symptom before, and not after.
    #[must_use]
    pub fn holds(&self) -> bool {
        self.before.is_some() && self.after.is_none()
    }
}

impl Museum {
    /// Reads `path`.
    ///
    /// # Errors
    /// If it cannot be read or is not a museum file.
    pub fn load(path: &Path) -> Result<Museum, MuseumError> {
        let text = std::fs::read_to_string(path).map_err(|source| MuseumError::Read { file: path.into(), source })?;
        let mut m: Museum = toml::from_str(&text).map_err(|e| MuseumError::Parse { file: path.into(), msg: e.to_string() })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for x in &mut m.exhibits {
            x.before = lexical(&dir.join(&x.before));
            x.after = lexical(&dir.join(&x.after));
        }
        Ok(m)
    }
}

/// `a/b/../c` as `a/c`, without touching the file system (paths print as a user would type them).
fn lexical(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Runs an exhibit's two scenarios and looks for its symptom in each.
///
/// # Errors
/// If a scenario is bad input.
pub fn visit(x: &Exhibit) -> Result<Visit, MuseumError> {
    let run = |p: &Path| -> Result<Option<String>, MuseumError> {
        let report = runner::run_scenario(Scenario::load(p)?)?;
        Ok(x.symptom.seen(&report))
    };
    Ok(Visit { before: run(&x.before)?, after: run(&x.after)? })
}
