//! The kprobe hit path's steps and `kcb->kprobe_status`.

use super::hex;
use crate::KernelVa;
use serde::{Serialize, Serializer};
use std::fmt;

/// `kcb->kprobe_status` (`include/linux/kprobes.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KprobeStatus {
    /// 0: no kprobe being handled.
    None,
    /// `KPROBE_HIT_ACTIVE`.
    HitActive,
    /// `KPROBE_HIT_SS`.
    HitSs,
    /// `KPROBE_REENTER`.
    Reenter,
    /// `KPROBE_HIT_SSDONE`.
    HitSsdone,
    /// A value the kernel never stores.
    Unknown(u32),
}

impl KprobeStatus {
    /// The status a `kcb->kprobe_status` word holds.
    #[must_use]
    pub fn from_kcb(raw: u32) -> KprobeStatus {
        match raw {
            0 => KprobeStatus::None,
            KPROBE_HIT_ACTIVE => KprobeStatus::HitActive,
            KPROBE_HIT_SS => KprobeStatus::HitSs,
            KPROBE_REENTER => KprobeStatus::Reenter,
            KPROBE_HIT_SSDONE => KprobeStatus::HitSsdone,
            other => KprobeStatus::Unknown(other),
        }
    }

    /// The kernel's name (`0` for none, `?` for a value the kernel never stores).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KprobeStatus::None => "0",
            KprobeStatus::HitActive => "KPROBE_HIT_ACTIVE",
            KprobeStatus::HitSs => "KPROBE_HIT_SS",
            KprobeStatus::Reenter => "KPROBE_REENTER",
            KprobeStatus::HitSsdone => "KPROBE_HIT_SSDONE",
            KprobeStatus::Unknown(_) => "?",
        }
    }
}

impl fmt::Display for KprobeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for KprobeStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A step of the kprobe hit path: arm64 `arch/arm64/kernel/probes/kprobes.c`, x86 `arch/x86/kernel/kprobes/core.c`,
/// and the generic tail in `kernel/kprobes.c`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum HitStep {
    /// arm64 `kprobe_breakpoint_handler`: the BRK is a probe's; its pre-handlers run.
    KprobeBreakpointHandler,
    /// x86 `kprobe_int3_handler`: the int3 is a probe's; its pre-handlers run.
    KprobeInt3Handler,
    /// 5.10 arm64 `kprobe_handler` found no probe at the BRK (another CPU removed it; this CPU ran its stale copy):
    /// `kprobe_breakpoint_handler` returns `DBG_HOOK_HANDLED` and the CPU returns to the instruction.
    NoKprobeBackToInsn,
    /// `reenter_kprobe`: a probe hit while another is handled; counted as missed, no handlers run.
    ReenterMissed {
        /// The probe being handled (arm64 shows it).
        current: Option<KernelVa>,
    },
    /// A pre-handler returned non-zero (it changed the pc): no single-step, no post-handler.
    PreHandlerSkipSinglestep {
        /// Its return value.
        #[serde(serialize_with = "hex")]
        ret: u64,
    },
    /// arm64 `setup_singlestep`: the pc goes to the XOL slot with DAIF masked.
    SetupSinglestepXol {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 `setup_singlestep` of a boostable copy: the copy jumps back by itself.
    SetupSinglestepBoosted {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 5.10 `setup_singlestep`: TF single-step of the copy.
    SetupSinglestepTf {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 6.x `setup_singlestep`: the copy is followed by an int3.
    SetupSinglestepInt3 {
        /// The slot.
        slot: KernelVa,
    },
    /// arm64 `arch_simulate_insn`: the `simulate_*` handler ran.
    Simulate {
        /// The handler.
        handler: String,
    },
    /// x86 `kprobe_emulate_*` ran.
    Emulate {
        /// The emulation function.
        func: &'static str,
    },
    /// arm64 `kprobe_breakpoint_ss_handler`: the XOL step is done.
    KprobeBreakpointSsHandler,
    /// x86 6.x `resume_singlestep`: the int3 after the copy.
    ResumeSinglestep,
    /// x86 5.10 `kprobe_debug_handler` → `resume_execution`: the #DB after the TF step.
    KprobeDebugHandler,
    /// arm64 `post_kprobe_handler` of a reentered probe: `restore_previous_kprobe`.
    PostKprobeHandlerRestore,
    /// x86 `kprobe_post_process` of a reentered probe: `restore_previous_kprobe`.
    RestorePreviousKprobe,
    /// arm64 `post_kprobe_handler` with no post-handler to run.
    PostKprobeHandlerDone,
    /// x86 `kprobe_post_process` with no post-handler to run.
    KprobePostProcessDone,
    /// The post-handlers ran.
    PostHandlerDone,
}

impl HitStep {
    /// The step where a hit enters the kprobe handler (`kprobe_breakpoint_handler` / `kprobe_int3_handler`).
    #[must_use]
    pub fn is_handler_entry(&self) -> bool {
        matches!(self, HitStep::KprobeBreakpointHandler | HitStep::KprobeInt3Handler)
    }
}

impl fmt::Display for HitStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HitStep::KprobeBreakpointHandler => f.write_str("kprobe_breakpoint_handler"),
            HitStep::KprobeInt3Handler => f.write_str("kprobe_int3_handler"),
            HitStep::NoKprobeBackToInsn => {
                f.write_str("kprobe_handler: no kprobe (removed by another CPU): back to the instruction")
            }
            HitStep::ReenterMissed { current: Some(cur) } => {
                write!(f, "reenter_kprobe: missed (current {cur}), no handlers")
            }
            HitStep::ReenterMissed { current: None } => f.write_str("reenter_kprobe: missed, no handlers"),
            HitStep::PreHandlerSkipSinglestep { ret } => write!(f, "pre_handler returned {ret}: no single-step"),
            HitStep::SetupSinglestepXol { slot } => write!(f, "setup_singlestep: pc = slot {slot}, DAIF masked"),
            HitStep::SetupSinglestepBoosted { slot } => write!(f, "setup_singlestep: boosted, ip = slot {slot}"),
            HitStep::SetupSinglestepTf { slot } => write!(f, "setup_singlestep: TF single-step of slot {slot}"),
            HitStep::SetupSinglestepInt3 { slot } => {
                write!(f, "setup_singlestep: ip = slot {slot} (int3 after the copy)")
            }
            HitStep::Simulate { handler } => f.write_str(handler),
            HitStep::Emulate { func } => f.write_str(func),
            HitStep::KprobeBreakpointSsHandler => f.write_str("kprobe_breakpoint_ss_handler"),
            HitStep::ResumeSinglestep => f.write_str("resume_singlestep (int3 after the copy)"),
            HitStep::KprobeDebugHandler => f.write_str("kprobe_debug_handler: resume_execution"),
            HitStep::PostKprobeHandlerRestore => f.write_str("post_kprobe_handler: restore_previous_kprobe"),
            HitStep::RestorePreviousKprobe => f.write_str("restore_previous_kprobe"),
            HitStep::PostKprobeHandlerDone => f.write_str("post_kprobe_handler: done"),
            HitStep::KprobePostProcessDone => f.write_str("kprobe_post_process: done"),
            HitStep::PostHandlerDone => f.write_str("post_handler done"),
        }
    }
}

// `kprobe_status` values (include/linux/kprobes.h), recorded in hit events; `crate::kprobes` re-exports them.
/// `KPROBE_HIT_ACTIVE`: a pre-handler is running.
pub const KPROBE_HIT_ACTIVE: u32 = 0x0000_0001;
/// `KPROBE_HIT_SS`: the probed instruction is being stepped out of line.
pub const KPROBE_HIT_SS: u32 = 0x0000_0002;
/// `KPROBE_REENTER`: a probe hit while another was being handled is being stepped.
pub const KPROBE_REENTER: u32 = 0x0000_0004;
/// `KPROBE_HIT_SSDONE`: the step is done; the post-handler is running.
pub const KPROBE_HIT_SSDONE: u32 = 0x0000_0008;
