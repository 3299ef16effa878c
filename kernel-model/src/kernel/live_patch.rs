//! Patching live text from a task (`text_poke_bp` on x86, `aarch64_insn_patch_text` on arm64) as a task's
//! activity: the arch says what each step does ([`ArchKernel::patch_live_text_step`]); this drives it, waiting
//! for each step's patch job (a `stop_machine` or a `text_poke_sync()`) before asking for the next.

use super::*;

/// A live-text patch in progress.
#[derive(Clone, Debug)]
pub(super) struct LivePatchOp {
    pub(super) sites: Vec<(KernelVa, Vec<u8>)>,
    pub(super) step: u8,
    pub(super) waiting: bool,
}

impl Kernel {
    /// Asks `cpu`'s task to patch live text: each site gets its new bytes while other CPUs may execute it, by the
    /// arch's protocol (x86 `text_poke_bp`: a CPU that meets the temporary `int3` has the new instruction
    /// emulated; arm64 `aarch64_insn_patch_text`: under `stop_machine`).
    pub fn request_patch_live_text(&mut self, cpu: CpuId, sites: Vec<(KernelVa, Vec<u8>)>) {
        self.activities[cpu.0].insert(0, Activity::LivePatch(LivePatchOp { sites, step: 0, waiting: false }));
    }

    /// [`Kernel::request_patch_live_text`] under the name the scenario action (`text_poke_bp`) uses.
    pub fn request_text_poke_bp(&mut self, cpu: CpuId, sites: Vec<(KernelVa, Vec<u8>)>) {
        self.request_patch_live_text(cpu, sites);
    }

    pub(super) fn step_live_patch(&mut self, m: &mut dyn Machine, cpu: CpuId, mut op: LivePatchOp) {
        if op.waiting {
            if self.take_finished_job().is_none() {
                self.activities[cpu.0].push(Activity::LivePatch(op));
                return;
            }
            op.waiting = false;
            op.step += 1;
        }
        if self.job_busy() {
            self.activities[cpu.0].push(Activity::LivePatch(op));
            return;
        }
        // The caller's frame, for an arch that keeps its patch description on the stack.
        let top = m.stack_top(cpu).0;
        let sp = m.pt_regs(cpu).sp();
        let base = if sp <= top && sp > top - 0x4000 { sp } else { top };
        let frame = KernelVa((base - 0x400) & !0xf);
        match self.arch.patch_live_text_step(m, cpu, &op.sites, op.step, frame) {
            LivePatchStep::Job(job) => {
                self.start_job(m, cpu, job);
                op.waiting = true;
                self.activities[cpu.0].push(Activity::LivePatch(op));
            }
            LivePatchStep::Done => self.leave_model_if_idle(m, cpu),
            LivePatchStep::Failed(oops) => {
                m.emit(cpu, EventKind::Oops { oops });
                self.leave_model_if_idle(m, cpu);
            }
        }
    }
}
