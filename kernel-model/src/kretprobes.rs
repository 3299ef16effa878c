//! The kretprobe half of `kernel/kprobes.c`: `register_kretprobe`'s checks, `pre_handler_kretprobe` (take an
//! instance, run the entry handler, hijack the return address) and `__kretprobe_trampoline_handler` (find the
//! instance, run the return handler, give back the real return address).

use crate::kprobes::HandlerAction;
use crate::KernelVa;
use std::collections::BTreeMap;

/// A registered kretprobe (`struct kretprobe`).
#[derive(Clone, Debug)]
pub struct Kretprobe {
    /// Its name (also its kprobe's name).
    pub name: String,
    /// `rp->maxactive`.
    pub maxactive: u32,
    /// Instances in use (`maxactive` minus the free pool).
    pub in_use: u32,
    /// `rp->nmissed`: entries with no free instance.
    pub nmissed: u64,
    /// Return-handler runs.
    pub nhit: u64,
    /// `rp->entry_handler`.
    pub entry_handler: Option<Vec<HandlerAction>>,
    /// `rp->handler`.
    pub handler: Option<Vec<HandlerAction>>,
}

/// A live `struct kretprobe_instance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KretprobeInstance {
    /// Index of the kretprobe.
    pub rp: usize,
    /// `ri->ret_addr`: the real return address.
    pub ret_addr: u64,
    /// `ri->fp`: the frame it belongs to (5.10: the stack pointer at entry; 6.12: x29 / the frame pointer).
    pub fp: u64,
}

/// The kretprobes, and each task's `kretprobe_instances` list (LIFO).
#[derive(Clone, Debug, Default)]
pub struct Kretprobes {
    /// By index.
    pub probes: Vec<Kretprobe>,
    /// `current->kretprobe_instances`, by pid; the last element is the list head.
    pub instances: BTreeMap<u32, Vec<KretprobeInstance>>,
    /// The trampoline's address, once installed (`kretprobe_trampoline` / `__kretprobe_trampoline`).
    pub trampoline: Option<KernelVa>,
}

/// Models the default `maxactive` of `register_kretprobe` (kernel/kprobes.c): `max(10, 2 * num_possible_cpus())`
/// when the caller passes `maxactive <= 0`.
#[must_use]
pub fn default_maxactive(nr_cpus: usize) -> u32 {
    u32::try_from((2 * nr_cpus).max(10)).unwrap_or(u32::MAX)
}
