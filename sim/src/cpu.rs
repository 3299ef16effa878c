//! One emulated CPU: a Unicorn instance that runs guest code for a bounded number of instructions and reports why
//! it stopped as a value.
//!
//! Quanta are counted by our own code hook rather than Unicorn's `count` argument: the cost is the same (Unicorn's
//! count is itself a per-instruction hook), but we learn exactly how many instructions retired when a trap ends a
//! quantum early, which virtual time needs. The hook is installed before anything is translated, so it covers every
//! translation block; `count` stays 0 and `timeout` 0 (a timer thread would break determinism).

use crate::arch::IsaBackend;
use crate::uc::{BadAccess, HookState, Uc};
use crate::memory::KernelMemory;
use kernel_model::event::Trap;
use unicorn_engine::unicorn_const::{HookType, MemType};
use unicorn_engine::uc_error;

/// Why [`Cpu::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The quantum's instruction count was reached.
    QuantumDone,
    /// The called function returned to the task-return address.
    Returned,
    /// An exception stopped the CPU; pc is where the exception was taken (arm64: the faulting/BRK instruction;
    /// x86 int3/#DB: the next instruction; x86 faults: the faulting instruction).
    Trap(Trap),
    /// Guest code called a modelled kernel function (it branched to that function's model entry address).
    ModelCall(u64),
}

/// The result of one quantum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// Why it stopped.
    pub outcome: Outcome,
    /// Instructions retired (a trapping instruction counts: it was executed up to the exception).
    pub retired: u64,
}

/// One emulated CPU.
pub struct Cpu {
    /// The instance. Private to `sim`: nothing outside the crate sees Unicorn.
    pub(crate) uc: Uc,
}

impl Cpu {
    /// Creates a CPU over the machine's memory.
    pub fn new(backend: &dyn IsaBackend, mem: &KernelMemory, model_entries: (u64, u64)) -> Result<Cpu, uc_error> {
        let mut uc = backend.new_cpu(mem)?;
        uc.get_data_mut().model_entries = model_entries;
        uc.add_code_hook(1, 0, |uc, addr, _size| {
            let d = uc.get_data_mut();
            if addr >= d.model_entries.0 && addr < d.model_entries.1 {
                // A call into modelled kernel code: stop before "executing" the entry.
                d.model_call = Some(addr);
                uc.emu_stop().expect("emu_stop cannot fail while running");
            } else if d.executed >= d.limit {
                // Ask Unicorn to stop before this instruction executes, exactly as its own `count` does.
                uc.emu_stop().expect("emu_stop cannot fail while running");
            } else {
                d.executed += 1;
            }
        })?;
        uc.add_intr_hook(|uc, intno| {
            uc.get_data_mut().intno = Some(intno);
            uc.emu_stop().expect("emu_stop cannot fail while running");
        })?;
        uc.add_mem_hook(HookType::MEM_INVALID, 1, 0, |uc, ty, addr, _size, _value| {
            let what = match ty {
                MemType::READ_UNMAPPED => "read of unmapped memory",
                MemType::WRITE_UNMAPPED => "write to unmapped memory",
                MemType::FETCH_UNMAPPED => "fetch from unmapped memory",
                MemType::WRITE_PROT => "write to read-only memory",
                MemType::READ_PROT => "read of unreadable memory",
                MemType::FETCH_PROT => "fetch from non-executable memory",
                _ => "invalid access",
            };
            uc.get_data_mut().bad_access = Some(BadAccess { addr, what });
            false
        })?;
        Ok(Cpu { uc })
    }

    /// The current pc.
    ///
    /// # Panics
    /// If Unicorn cannot read its pc: a simulator bug.
    #[must_use]
    pub fn pc(&self) -> u64 {
        self.uc.pc_read().expect("pc readable")
    }

    /// Runs at most `limit` instructions from the current pc, stopping early at `until` (the task-return address)
    /// or at an exception.
    pub fn run(&mut self, backend: &dyn IsaBackend, mem: &KernelMemory, limit: u64, until: u64) -> RunResult {
        let pc = self.pc();
        if pc == until {
            return RunResult { outcome: Outcome::Returned, retired: 0 };
        }
        let entries = self.uc.get_data().model_entries;
        *self.uc.get_data_mut() = HookState { limit, model_entries: entries, ..HookState::default() };
        let res = self.uc.emu_start(pc, until, 0, 0);
        let (retired, intno, access, model_call) = {
            let d = self.uc.get_data();
            (d.executed, d.intno, d.bad_access, d.model_call)
        };
        let outcome = if let Some(addr) = model_call {
            Outcome::ModelCall(addr)
        } else if let Some(intno) = intno {
            Outcome::Trap(backend.trap(&self.uc, mem, intno))
        } else if let Err(e) = res {
            Outcome::Trap(backend.fault(e, access))
        } else if self.pc() == until {
            Outcome::Returned
        } else {
            Outcome::QuantumDone
        };
        RunResult { outcome, retired }
    }

    /// Drops this CPU's translated code for `[va, va+len)`: its next fetch there sees memory as it is now.
    ///
    /// # Panics
    /// If Unicorn rejects the range: a simulator bug.
    pub fn invalidate_translations(&mut self, va: u64, len: u64) {
        self.uc.ctl_remove_cache(va, va + len).expect("ctl_remove_cache on an executable range");
    }
}
