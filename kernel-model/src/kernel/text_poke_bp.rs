//! x86 `text_poke_bp_batch` (arch/x86/kernel/alternative.c) as a task's activity: int3, tail bytes, first byte,
//! each followed by `text_poke_sync()`.

use super::*;

/// `text_poke_bp_batch` in progress (x86 `arch/x86/kernel/alternative.c`): int3 first, then the tail bytes,
/// then the first byte, each step followed by `text_poke_sync()`.
#[derive(Clone, Debug)]
pub(super) struct TextPokeBpOp {
    pub(super) sites: Vec<(KernelVa, Vec<u8>)>,
    pub(super) step: u8,
    pub(super) waiting: bool,
}

impl Kernel {
    /// Asks `cpu`'s task to patch live text with `text_poke_bp` (x86): each site gets its new bytes while other
    /// CPUs may execute it; a CPU that meets the temporary `int3` has the new instruction emulated.
    pub fn request_text_poke_bp(&mut self, cpu: CpuId, sites: Vec<(KernelVa, Vec<u8>)>) {
        self.core.percpu[cpu.0].activities.insert(0, Activity::TextPokeBp(TextPokeBpOp { sites, step: 0, waiting: false }));
    }

    pub(super) fn step_text_poke_bp(&mut self, m: &mut dyn Machine, cpu: CpuId, mut op: TextPokeBpOp) {
        if op.waiting {
            if self.take_finished_job().is_none() {
                self.core.percpu[cpu.0].activities.push(Activity::TextPokeBp(op));
                return;
            }
            op.waiting = false;
            op.step += 1;
        }
        if self.job_busy() {
            self.core.percpu[cpu.0].activities.push(Activity::TextPokeBp(op));
            return;
        }
        let step = match op.step {
            0 => {
                if let Err(why) = self.arch.text_poke_bp_begin(m, &op.sites) {
                    m.emit(cpu, EventKind::Oops { oops: Oops::TextPokeBp { why } });
                    self.leave_model_if_idle(m, cpu);
                    return;
                }
                // First step: add an int3 trap to the addresses that will be patched.
                for (addr, _) in &op.sites {
                    let _ = m.poke_text(cpu, *addr, &[0xcc]);
                }
                1
            }
            1 => {
                // Second step: update all but the first byte of the patched range.
                for (addr, text) in &op.sites {
                    if text.len() > 1 {
                        let _ = m.poke_text(cpu, addr.add(1), &text[1..]);
                    }
                }
                2
            }
            2 => {
                // Third step: replace the first byte (int3) by the first byte of the new instruction.
                for (addr, text) in &op.sites {
                    if text[0] != 0xcc {
                        let _ = m.poke_text(cpu, *addr, &text[..1]);
                    }
                }
                3
            }
            _ => {
                self.arch.text_poke_bp_end();
                m.emit(cpu, EventKind::Stopper { step: CpuStopStep::TextPokeBpDone });
                self.leave_model_if_idle(m, cpu);
                return;
            }
        };
        m.emit(cpu, EventKind::Stopper { step: CpuStopStep::TextPokeBpStep { phase: step } });
        self.start_job(m, cpu, PatchJob::SyncCores);
        op.waiting = true;
        self.core.percpu[cpu.0].activities.push(Activity::TextPokeBp(op));
    }
}
