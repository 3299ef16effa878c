//! The jump-label (static key) events: what `kernel/jump_label.c` and each arch's `jump_label.c` did, as typed
//! values rendered here. The site writes and each CPU's resynchronisation are the machine's own `text_write` and
//! `icache_sync` events; these say which kernel function asked for them.

use crate::event::{Hex, SymAddr};
use crate::CpuId;
use serde::Serialize;
use std::fmt;

/// `enum jump_label_type` (include/linux/jump_label.h): what a site should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JumpLabelType {
    /// `JUMP_LABEL_NOP`: fall through.
    Nop,
    /// `JUMP_LABEL_JMP`: branch to the entry's target.
    Jmp,
}

impl JumpLabelType {
    /// `jump_label_type()`: `static_key_enabled(key) ^ jump_entry_is_branch(entry)`.
    #[must_use]
    pub fn of(enabled: bool, branch: bool) -> JumpLabelType {
        if enabled ^ branch {
            JumpLabelType::Jmp
        } else {
            JumpLabelType::Nop
        }
    }
}

impl fmt::Display for JumpLabelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JumpLabelType::Nop => "JUMP_LABEL_NOP",
            JumpLabelType::Jmp => "JUMP_LABEL_JMP",
        })
    }
}

/// The static-key API a task called (kernel/jump_label.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaticKeyOp {
    /// `static_key_enable`.
    Enable,
    /// `static_key_disable`.
    Disable,
    /// `static_key_slow_inc` (`static_branch_inc`).
    SlowInc,
    /// `static_key_slow_dec` (`static_branch_dec`).
    SlowDec,
}

impl StaticKeyOp {
    /// The kernel function's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            StaticKeyOp::Enable => "static_key_enable",
            StaticKeyOp::Disable => "static_key_disable",
            StaticKeyOp::SlowInc => "static_key_slow_inc",
            StaticKeyOp::SlowDec => "static_key_slow_dec",
        }
    }
}

/// One step of the jump-label code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum JumpLabelStep {
    /// `jump_label_init`: the sorted `__jump_table` entries of one key, and `static_key_set_entries`.
    Init {
        /// The key.
        key: SymAddr,
        /// `key->enabled` at boot.
        enabled: i32,
        /// Its sites, sorted by code address, each with its branch bit.
        sites: Vec<(SymAddr, bool)>,
    },
    /// A static-key call changed `key->enabled` (and whether it patches: `jump_label_update`).
    Count {
        /// The call.
        op: StaticKeyOp,
        /// The key.
        key: String,
        /// `key->enabled` before.
        from: i32,
        /// After.
        to: i32,
        /// Whether `jump_label_update(key)` follows.
        update: bool,
    },
    /// A `WARN`/`WARN_ON_ONCE` of kernel/jump_label.c fired (the text is the kernel's, or the condition).
    Warn {
        /// The call.
        op: StaticKeyOp,
        /// What.
        what: String,
    },
    /// The call waits for `jump_label_mutex`, held by another CPU's task.
    WaitsForMutex {
        /// The call.
        op: StaticKeyOp,
        /// The owner.
        owner: CpuId,
    },
    /// `register_kprobe`'s `check_kprobe_address_safe` waits in `jump_label_lock()`.
    KprobeWaits {
        /// The probe.
        probe: String,
        /// The owner of `jump_label_mutex`.
        owner: CpuId,
    },
    /// The arch transform of one site (`arch_jump_label_transform` or `_queue`).
    Transform {
        /// The arch function.
        func: &'static str,
        /// The site.
        code: SymAddr,
        /// What it becomes.
        ty: JumpLabelType,
        /// The instruction there.
        old: Hex,
        /// The new instruction.
        new: Hex,
        /// What writes it (`aarch64_insn_patch_text_nosync`) or queues it (`text_poke_queue`).
        how: &'static str,
    },
    /// `arch_jump_label_transform_apply` and what it calls.
    Apply {
        /// What it calls (`kick_all_cpus_sync`, `text_poke_finish`).
        calls: &'static str,
    },
    /// The call returned; `key->enabled` is final.
    Done {
        /// The call.
        op: StaticKeyOp,
        /// The key.
        key: String,
        /// `key->enabled`.
        enabled: i32,
    },
}

impl fmt::Display for JumpLabelStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JumpLabelStep::Init { key, enabled, sites } => {
                let s: Vec<String> =
                    sites.iter().map(|(a, b)| format!("{}{}", a.sym, if *b { " (branch)" } else { "" })).collect();
                write!(f, "jump_label_init: {} enabled={enabled}: {} site(s): {}", key.sym, sites.len(), s.join(", "))
            }
            JumpLabelStep::Count { op, key, from, to, update } => {
                let then = match (update, from) {
                    (true, _) => ", jump_label_update",
                    (false, -1) => " (atomic_set_release: the update is visible)",
                    (false, _) => ", no patching",
                };
                write!(f, "{}({key}): enabled {from} -> {to}{then}", op.name())
            }
            JumpLabelStep::Warn { op, what } => write!(f, "{}: WARNING: {what}", op.name()),
            JumpLabelStep::WaitsForMutex { op, owner } => {
                write!(f, "{}: waits for jump_label_mutex (held by cpu{owner})", op.name())
            }
            JumpLabelStep::KprobeWaits { probe, owner } => write!(
                f,
                "register_kprobe({probe}): check_kprobe_address_safe waits in jump_label_lock() (held by cpu{owner})"
            ),
            JumpLabelStep::Transform { func, code, ty, old, new, how } => {
                write!(f, "{func}: {} {ty}: {} -> {} ({how})", code.sym, old.render(), new.render())
            }
            JumpLabelStep::Apply { calls } => write!(f, "arch_jump_label_transform_apply: {calls}()"),
            JumpLabelStep::Done { op, key, enabled } => write!(f, "{}({key}) returns: enabled={enabled}", op.name()),
        }
    }
}
