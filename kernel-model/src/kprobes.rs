//! `kernel/kprobes.c`: the generic kprobe core: the table of probes by address, aggregate probes, registration
//! checks with the kernel's errno values, enable/disable, and the missed-hit counters.
//!
//! ```text
//! register_kprobe ─▶ _kprobe_addr ─▶ check_kprobe_address_safe ─▶ arch_prepare_kprobe (decode, XOL slot)
//!        │                                                         (5.10: slot written under stop_machine)
//!        ▼
//!   hash insert ─▶ arm_kprobe (BRK #4 / int3 written under stop_machine or text_poke)
//!        ▼
//!   CPU hits BRK ─▶ pre_handler ─▶ single-step out of line (or simulate) ─▶ post_handler ─▶ resume
//! ```
//!
//! Registration and arming take model time and interleave with other CPUs, so they run as activities in
//! [`crate::kernel`]; this module holds the data and the synchronous checks.

use crate::errno::Errno;
use crate::kallsyms::{Kallsyms, SymbolKind};
use crate::KernelVa;
use std::collections::BTreeMap;

/// `KPROBE_FLAG_GONE`: the probed code went away.
pub const KPROBE_FLAG_GONE: u32 = 1;
/// `KPROBE_FLAG_DISABLED`: registered but not armed.
pub const KPROBE_FLAG_DISABLED: u32 = 2;

pub use crate::event::{KPROBE_HIT_ACTIVE, KPROBE_HIT_SS, KPROBE_HIT_SSDONE, KPROBE_REENTER};

// Names of these values: `event::KprobeStatus`.

/// Why a kprobe operation failed: the kernel's errno and, in words, which check said no.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {why}")]
pub struct KprobeError {
    /// The errno `register_kprobe` returns.
    pub errno: Errno,
    /// Which check failed.
    pub why: String,
}

impl KprobeError {
    /// An error.
    pub fn new(errno: Errno, why: impl Into<String>) -> KprobeError {
        KprobeError { errno, why: why.into() }
    }
}

/// Index of a registered probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ProbeId(pub usize);

/// One step of a scenario-defined handler (a stand-in for the C handler a module would register).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandlerAction {
    /// Call a kernel function on this CPU (guest code), as `kprobe_recursed_target(rand1)` in lib/test_kprobes.c;
    /// a probe hit inside it is a reentry.
    Call {
        /// Its name (for the log).
        name: String,
        /// Its address.
        func: KernelVa,
        /// Integer arguments.
        args: Vec<u64>,
    },
    /// Write a register of the probed context (`regs->x0 = …`).
    SetReg {
        /// The register's kernel name.
        reg: String,
        /// Its new value.
        value: u64,
    },
    /// Record the probed context's registers in the log.
    RecordRegs,
    /// The handler returns this value (non-zero from a pre-handler: "I changed the pc, do not step").
    Return(u64),
    /// `stack_trace_save_regs(regs, …)`: unwind from the probed context; the trace is logged and kept.
    StackTraceSaveRegs,
    /// `trace_call_bpf` over these programs with the probed context (a trace kretprobe's return side).
    RunBpf(Vec<crate::bpf::ProgId>),
    /// `kprobe_dispatcher` → `kprobe_trace_func` (or, as a kretprobe's return handler, `kretprobe_dispatcher` →
    /// `kretprobe_trace_func`) of the tracefs kprobe event probe with this handle (`crate::kernel_trace`).
    TraceKprobe(crate::trace::trace_kprobe::ProbeHandle),
}

/// What a pre-handler is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreHandler {
    /// None registered.
    None,
    /// Scenario actions.
    Actions(Vec<HandlerAction>),
    /// `kprobe_dispatcher` of a trace kprobe (perf/BPF attached, as BCC's `attach_kprobe` makes): it reaches
    /// `kprobe_perf_func` → `trace_call_bpf`, which runs the event's `prog_array`.
    TraceDispatcher {
        /// The BPF programs attached (`call->prog_array`).
        progs: Vec<crate::bpf::ProgId>,
    },
    /// `pre_handler_kretprobe` of the kretprobe with this index.
    Kretprobe(usize),
}

/// What the user asked to register (`struct kprobe` before `register_kprobe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KprobeSpec {
    /// A label for the log.
    pub name: String,
    /// `kp.symbol_name`.
    pub symbol_name: Option<String>,
    /// `kp.offset`.
    pub offset: u64,
    /// `kp.addr`.
    pub addr: Option<KernelVa>,
    /// `kp.pre_handler`.
    pub pre_handler: PreHandler,
    /// `kp.post_handler`.
    pub post_handler: Option<Vec<HandlerAction>>,
    /// Register disabled (`KPROBE_FLAG_DISABLED`).
    pub disabled: bool,
}

/// A registered probe (`struct kprobe` after registration).
#[derive(Clone, Debug)]
pub struct Kprobe {
    /// Its id.
    pub id: ProbeId,
    /// What was asked.
    pub spec: KprobeSpec,
    /// `kp.addr`.
    pub addr: KernelVa,
    /// `kp.flags`.
    pub flags: u32,
    /// `kp.nmissed`.
    pub nmissed: u64,
    /// Times its pre-handler ran (the `nhit` of `kprobe_profile` for trace probes).
    pub nhit: u64,
    /// `kp.opcode`: the original instruction bytes.
    pub opcode: Vec<u8>,
    /// `kp.ainsn`: the architecture's preparation.
    pub ainsn: ArchSpecificInsn,
    /// Whether it is in the table (registered and not yet unregistered).
    pub registered: bool,
}

impl Kprobe {
    /// `kprobe_disabled(p)`.
    #[must_use]
    pub fn disabled(&self) -> bool {
        self.flags & (KPROBE_FLAG_DISABLED | KPROBE_FLAG_GONE) != 0
    }
}

/// `struct arch_specific_insn`, reduced to what every ISA has: where the out-of-line copy lives, where to resume,
/// and how the instruction is handled (for views and `check-transparency`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchSpecificInsn {
    /// `ainsn.api.insn` / `ainsn.insn`: the XOL slot, if the instruction is stepped out of line.
    pub slot: Option<KernelVa>,
    /// `ainsn.api.restore`: the pc after the out-of-line step (0: the handler sets it).
    pub restore: u64,
    /// The class string of `check-transparency` (`"xol"`, `"simulated:b_bl"`, …).
    pub class: String,
}

/// An entry of `kprobe_table`: one probe, or an aggregate of several on the same address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableEntry {
    /// One probe.
    Single(ProbeId),
    /// `aggr_kprobe`: children newest first (`list_add_rcu` at the head), and the aggregate's own flags.
    Aggregate {
        /// Children, head first.
        children: Vec<ProbeId>,
        /// The aggregate's `flags`.
        flags: u32,
    },
}

/// The probes and `kprobe_table`.
#[derive(Clone, Debug, Default)]
pub struct Kprobes {
    /// Every probe ever registered, by id.
    pub probes: Vec<Kprobe>,
    /// `kprobe_table`, by address.
    pub table: BTreeMap<KernelVa, TableEntry>,
    /// Symbols that may not be probed (`NOKPROBE_SYMBOL`, the kprobe blacklist).
    pub blacklist: Vec<String>,
}

impl Kprobes {
    /// The probe.
    #[must_use]
    pub fn get(&self, id: ProbeId) -> &Kprobe {
        &self.probes[id.0]
    }

    /// The probe, mutably.
    pub fn get_mut(&mut self, id: ProbeId) -> &mut Kprobe {
        &mut self.probes[id.0]
    }

    /// Models `get_kprobe(addr)`: the table entry at `addr`.
    #[must_use]
    pub fn get_kprobe(&self, addr: KernelVa) -> Option<&TableEntry> {
        self.table.get(&addr)
    }

    /// The probes of an entry, in the order `aggr_pre_handler` runs them.
    #[must_use]
    pub fn members(&self, entry: &TableEntry) -> Vec<ProbeId> {
        match entry {
            TableEntry::Single(id) => vec![*id],
            TableEntry::Aggregate { children, .. } => children.clone(),
        }
    }

    /// The representative probe of an entry (`p` in the arch handler: the aggregate shares opcode and slot).
    #[must_use]
    pub fn first(&self, entry: &TableEntry) -> ProbeId {
        match entry {
            TableEntry::Single(id) => *id,
            TableEntry::Aggregate { children, .. } => *children.last().expect("an aggregate has children"),
        }
    }

    /// Models `kprobes_inc_nmissed_count(p)`: a plain probe counts the miss; an aggregate counts it on every child.
    pub fn inc_nmissed(&mut self, addr: KernelVa) {
        if let Some(entry) = self.table.get(&addr).cloned() {
            for id in self.members(&entry) {
                self.probes[id.0].nmissed += 1;
            }
        }
    }

    /// Models `_kprobe_addr` (kernel/kprobes.c): exactly one of symbol and address; the symbol must exist.
    pub fn kprobe_addr(&self, spec: &KprobeSpec, syms: &Kallsyms) -> Result<KernelVa, KprobeError> {
        match (&spec.symbol_name, spec.addr) {
            (Some(_), Some(_)) | (None, None) => {
                Err(KprobeError::new(Errno::EINVAL, "_kprobe_addr: exactly one of symbol_name and addr must be set"))
            }
            (None, Some(addr)) => Ok(addr.add(spec.offset)),
            (Some(name), None) => syms.lookup_name(name).map(|s| s.addr.add(spec.offset)).ok_or_else(|| {
                KprobeError::new(Errno::ENOENT, format!("_kprobe_addr: kallsyms_lookup_name(\"{name}\") found nothing"))
            }),
        }
    }

    /// Models `check_kprobe_address_safe` (kernel/kprobes.c): the address must be kernel text and not
    /// blacklisted.
    pub fn check_kprobe_address_safe(&self, addr: KernelVa, is_text: bool, syms: &Kallsyms) -> Result<(), KprobeError> {
        if !is_text {
            return Err(KprobeError::new(
                Errno::EINVAL,
                format!("check_kprobe_address_safe: {} is not kernel text (core_kernel_text)", syms.format(addr)),
            ));
        }
        if let Some(s) = syms.lookup(addr) {
            if s.kind != SymbolKind::Text {
                return Err(KprobeError::new(Errno::EINVAL, format!("check_kprobe_address_safe: {} is data", s.name)));
            }
            if self.blacklist.contains(&s.name) {
                return Err(KprobeError::new(
                    Errno::EINVAL,
                    format!("check_kprobe_address_safe: {} is on the kprobe blacklist", s.name),
                ));
            }
        }
        Ok(())
    }

    /// Models `warn_kprobe_rereg`: the same `struct kprobe` may not be registered twice.
    #[must_use]
    pub fn is_registered(&self, spec: &KprobeSpec) -> bool {
        self.probes.iter().any(|p| p.registered && p.spec.name == spec.name)
    }

    /// Models `register_aggr_kprobe` / `add_new_kprobe`: `p` joins the probe(s) at its address, at the head.
    pub fn add_to_aggregate(&mut self, addr: KernelVa, p: ProbeId) {
        let entry = self.table.get(&addr).cloned().expect("an existing probe");
        let new = match entry {
            TableEntry::Single(old) => {
                let flags = self.probes[old.0].flags & KPROBE_FLAG_DISABLED;
                TableEntry::Aggregate { children: vec![p, old], flags }
            }
            TableEntry::Aggregate { mut children, flags } => {
                children.insert(0, p);
                TableEntry::Aggregate { children, flags }
            }
        };
        self.table.insert(addr, new);
    }

    /// Whether the entry at `addr` is armed (not disabled).
    #[must_use]
    pub fn entry_disabled(&self, addr: KernelVa) -> bool {
        match self.table.get(&addr) {
            Some(TableEntry::Single(id)) => self.probes[id.0].disabled(),
            Some(TableEntry::Aggregate { flags, .. }) => flags & KPROBE_FLAG_DISABLED != 0,
            None => true,
        }
    }
}
