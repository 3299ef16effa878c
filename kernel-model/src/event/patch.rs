//! Live text patching details: arm64 `aarch64_insn_patch_text_cb` and the context synchronisations that make a CPU
//! fetch new text.

use super::SymAddr;
use crate::CpuId;
use serde::Serialize;
use std::fmt;

/// This CPU's part in `aarch64_insn_patch_text_cb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchCbRole {
    /// The first CPU in (`atomic_inc_return == 1`): it writes the instructions.
    Master,
    /// Any other CPU: it spins until the master releases it.
    Waiter,
    /// The master's final `atomic_inc`, releasing the waiters.
    Release,
}

impl fmt::Display for PatchCbRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchCbRole::Master => "master",
            PatchCbRole::Waiter => "waiter",
            PatchCbRole::Release => "release",
        })
    }
}

/// Where a CPU is while the master writes in `__aarch64_insn_write`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum PatchCpuAt {
    /// In `__aarch64_insn_write` (the master).
    InsnWrite,
    /// In `aarch64_insn_patch_text_nosync` (flushing or releasing).
    PatchTextNosync,
    /// Spinning in `aarch64_insn_patch_text_cb` (`cpu_relax`).
    CpuRelax,
    /// At the `isb` of `aarch64_insn_patch_text_cb`.
    Isb,
    /// Not in the callback yet.
    NotYet {
        /// Its guest pc.
        pc: SymAddr,
    },
}

/// One CPU's place in an [`EventKind::InsnPatch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatchCpu {
    /// The CPU.
    pub cpu: CpuId,
    /// Where it is.
    #[serde(flatten)]
    pub at: PatchCpuAt,
}

impl fmt::Display for PatchCpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu{}: ", self.cpu)?;
        match &self.at {
            PatchCpuAt::InsnWrite => f.write_str("__aarch64_insn_write"),
            PatchCpuAt::PatchTextNosync => f.write_str("aarch64_insn_patch_text_nosync"),
            PatchCpuAt::CpuRelax => f.write_str("aarch64_insn_patch_text_cb (cpu_relax)"),
            PatchCpuAt::Isb => f.write_str("aarch64_insn_patch_text_cb (isb)"),
            PatchCpuAt::NotYet { pc } => write!(f, "not yet in aarch64_insn_patch_text_cb (guest pc {})", pc.sym),
        }
    }
}

/// The kernel operation that makes a CPU fetch the new bytes of patched text (a context synchronisation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncReason {
    /// arm64 `isb`.
    Isb,
    /// arm64 exception return.
    Eret,
    /// x86 `iret`.
    Iret,
    /// Exception entry.
    ExceptionEntry,
    /// Exception return.
    ExceptionReturn,
    /// arm64 `kick_all_cpus_sync` IPI.
    KickAllCpusSyncIpi,
    /// x86 `text_poke_sync` on the patching CPU: `sync_core`.
    SyncCore,
    /// x86 `text_poke_sync` IPI on another CPU: `sync_core`.
    SyncCoreIpi,
}

impl fmt::Display for SyncReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncReason::Isb => "isb",
            SyncReason::Eret => "eret",
            SyncReason::Iret => "iret",
            SyncReason::ExceptionEntry => "exception entry",
            SyncReason::ExceptionReturn => "exception return",
            SyncReason::KickAllCpusSyncIpi => "kick_all_cpus_sync IPI",
            SyncReason::SyncCore => "sync_core (text_poke_sync)",
            SyncReason::SyncCoreIpi => "sync_core (text_poke_sync IPI)",
        })
    }
}
