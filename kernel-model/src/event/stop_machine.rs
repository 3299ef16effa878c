//! Steps of `kernel/stop_machine.c` and x86's `text_poke_bp_batch` (`arch/x86/kernel/alternative.c`).

use super::SymAddr;
use crate::{CpuId, KernelVa};
use serde::Serialize;
use std::fmt;

/// A step of a CPU's stopper thread (`kernel/stop_machine.c`) or of x86's `text_poke_bp_batch`
/// (`arch/x86/kernel/alternative.c`), which live text patching runs instead of `stop_machine`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum CpuStopStep {
    /// `die()` killed this CPU's stopper thread (`migration/N`): its `stop_machine` can never complete.
    StopperKilled {
        /// The stopper's CPU.
        stopper: CpuId,
    },
    /// `cpu_stopper_thread` (`migration/N`) picks the work and calls `multi_cpu_stop`.
    CpuStopperThread {
        /// The stopper's CPU (the N of `migration/N`).
        stopper: CpuId,
    },
    /// `multi_cpu_stop` in `MULTI_STOP_DISABLE_IRQ`: `local_irq_disable`.
    LocalIrqDisable,
    /// `multi_cpu_stop` in `MULTI_STOP_RUN` on an active CPU: the stop function runs.
    RunFn {
        /// The function (`aarch64_insn_patch_text_cb`, …).
        func: &'static str,
    },
    /// `multi_cpu_stop` returns; `cpu_stop_signal_done`.
    MultiCpuStopReturns,
    /// `stop_machine_yield` calls a function whose text this CPU has not resynchronised after a patch.
    StaleYield {
        /// The function.
        func: SymAddr,
    },
    /// One step of `text_poke_bp_batch`, then `text_poke_sync()`.
    TextPokeBpStep {
        /// 1: int3 at every site; 2: all but the first byte; 3: the first byte.
        phase: u8,
    },
    /// `text_poke_bp_batch` is done; `bp_desc` released.
    TextPokeBpDone,
    /// `poke_int3_handler` met the int3 of a `text_poke_bp` site and emulated its new instruction.
    PokeInt3Handler {
        /// The site.
        ip: KernelVa,
        /// What it emulated.
        emulates: PokeEmulation,
    },
}

impl fmt::Display for CpuStopStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuStopStep::CpuStopperThread { stopper } => {
                write!(f, "migration/{stopper}: cpu_stopper_thread -> multi_cpu_stop")
            }
            CpuStopStep::LocalIrqDisable => f.write_str("local_irq_disable"),
            CpuStopStep::RunFn { func } => write!(f, "{func} (is_active)"),
            CpuStopStep::StopperKilled { stopper } => {
                write!(f, "migration/{stopper} killed by the oops: its stop_machine can never complete")
            }
            CpuStopStep::MultiCpuStopReturns => f.write_str("multi_cpu_stop returns; cpu_stop_signal_done"),
            CpuStopStep::StaleYield { func } => write!(
                f,
                "stop_machine_yield -> {}: patched text this CPU has not resynchronised with \
                 (it may run the old or the new bytes; the model runs its stale copy)",
                func.sym
            ),
            CpuStopStep::TextPokeBpStep { phase } => {
                let what = match phase {
                    1 => "step 1: int3 at every site",
                    2 => "step 2: all but the first byte",
                    _ => "step 3: the first byte",
                };
                write!(f, "text_poke_bp_batch {what}; text_poke_sync()")
            }
            CpuStopStep::TextPokeBpDone => f.write_str("text_poke_bp_batch: done, bp_desc released"),
            CpuStopStep::PokeInt3Handler { ip, emulates } => {
                write!(f, "poke_int3_handler: int3 of text_poke_bp at {ip}, emulates {emulates}")
            }
        }
    }
}

/// What `poke_int3_handler` emulated for a `text_poke_bp` site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "insn", rename_all = "snake_case")]
pub enum PokeEmulation {
    /// `int3_emulate_ret`.
    Ret,
    /// `int3_emulate_call`.
    Call {
        /// The target.
        target: SymAddr,
    },
    /// `int3_emulate_jmp`.
    Jmp {
        /// The target.
        target: SymAddr,
    },
    /// `int3_emulate_jcc`.
    Jcc,
}

impl fmt::Display for PokeEmulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PokeEmulation::Ret => f.write_str("ret"),
            PokeEmulation::Call { target } => write!(f, "call {}", target.sym),
            PokeEmulation::Jmp { target } => write!(f, "jmp {}", target.sym),
            PokeEmulation::Jcc => f.write_str("jcc"),
        }
    }
}

/// `enum multi_stop_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiStopState {
    /// `MULTI_STOP_NONE`.
    None,
    /// `MULTI_STOP_PREPARE`.
    Prepare,
    /// `MULTI_STOP_DISABLE_IRQ`.
    DisableIrq,
    /// `MULTI_STOP_RUN`.
    Run,
    /// `MULTI_STOP_EXIT`.
    Exit,
}

impl MultiStopState {
    /// The kernel's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MultiStopState::None => "MULTI_STOP_NONE",
            MultiStopState::Prepare => "MULTI_STOP_PREPARE",
            MultiStopState::DisableIrq => "MULTI_STOP_DISABLE_IRQ",
            MultiStopState::Run => "MULTI_STOP_RUN",
            MultiStopState::Exit => "MULTI_STOP_EXIT",
        }
    }
}
