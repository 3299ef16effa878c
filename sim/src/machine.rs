//! The emulated machine: CPUs, RAM, the loaded image, the instruction-cache model, the virtual clock and the event
//! log. It implements `kernel_model::machine::Machine`, the only way the kernel model touches hardware.
//!
//! ## The instruction-cache model
//! Each Unicorn instance keeps its own translated code and never drops it when memory changes, which is close to a
//! real CPU that keeps fetching old instructions until its icache is invalidated and it synchronises its context.
//! So every text write leaves each CPU with a *pending* range in one of two states:
//! - `Stale` (arm64): the CPU's icache may hold old bytes; only cache maintenance to the point of unification
//!   (`flush_icache_range`: `dc cvau` + `ic ivau`, broadcast) moves it on;
//! - `Invalidated` (arm64 after maintenance; x86 at once, its icache being coherent with stores): the CPU fetches
//!   the new bytes at its next context-synchronisation event (`isb`, exception entry/return, x86 `sync_core`),
//!   where the machine calls `ctl_remove_cache` on exactly that instance.
//!
//! Unicorn may also drop translations on its own; that only makes a CPU see new bytes earlier, never later, so
//! every resynchronisation the kernel performs is honoured and visible in the log.

use crate::arch::{lookup, IsaBackend};
use crate::cpu::{Cpu, RunResult};
use crate::elf::{self, ElfError, ElfImage, Placement};
use crate::event_log::EventLog;
use crate::memory::{KernelMemory, Ram, RegionKind, PAGE_SIZE};
use kernel_model::ptrace::PtRegs;
use kernel_model::event::{EventKind, Hex, SyncReason};
use kernel_model::kallsyms::{Kallsyms, Symbol, SymbolKind};
use kernel_model::machine::{GuestMemory, Machine, MemFault, MemFaultKind};
use kernel_model::{CpuId, Isa, KernelVa, VTime};
use std::path::PathBuf;

/// `THREAD_SIZE`: each CPU's kernel stack.
pub const THREAD_SIZE: u64 = 0x4000;

/// Why a machine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// An image file failed to load.
    #[error(transparent)]
    LoadElf(#[from] ElfError),
    /// More CPUs than the stack region holds.
    #[error("{0} CPUs requested; the machine supports 1 to {1}")]
    BadCpuCount(usize, usize),
    /// The emulator refused to create a CPU (a simulator bug or an exhausted host).
    #[error("cannot create CPU {cpu}: unicorn error {err}")]
    CreateCpu {
        /// Which CPU.
        cpu: usize,
        /// The emulator's error, as text (its type stays private to `sim`).
        err: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Stale,
    Invalidated,
}

#[derive(Clone, Debug)]
struct PendingRange {
    va: u64,
    len: u64,
    state: Pending,
    /// What memory held before the write: what a CPU that translated the range earlier may still execute.
    old: Vec<u8>,
}

/// The machine.
pub struct EmulatedMachine {
    // Field order matters: CPUs map the RAM, so they are dropped before it.
    cpus: Vec<Cpu>,
    backend: Box<dyn IsaBackend>,
    mem: KernelMemory,
    kallsyms: Kallsyms,
    log: EventLog,
    clock: u64,
    icache: Vec<Vec<PendingRange>>,
    skip_syncs: Vec<u32>,
    task_return: u64,
    placement: Placement,
    data_in_text: Vec<(u64, u64)>,
    sections: Vec<elf::LoadedSection>,
    builtins_next: u64,
    model_entries: (u64, u64),
    model_entries_next: u64,
}

/// The symbol of the address calls return to; the emulator stops there.
pub const TASK_RETURN_SYMBOL: &str = "probesim_task_return";

impl EmulatedMachine {
    /// Builds a machine with `nr_cpus` CPUs of `isa` and the given ELF files loaded.
    pub fn new(isa: Isa, nr_cpus: usize, files: &[PathBuf]) -> Result<EmulatedMachine, MachineError> {
        let images = files.iter().map(|f| ElfImage::read(f)).collect::<Result<Vec<_>, _>>()?;
        EmulatedMachine::with_images(isa, nr_cpus, &images)
    }

    /// Builds a machine with `nr_cpus` CPUs of `isa` and the given ELF images (bytes already read) loaded.
    pub fn with_images(isa: Isa, nr_cpus: usize, images: &[ElfImage]) -> Result<EmulatedMachine, MachineError> {
        let backend = lookup(isa);
        let layout = backend.layout();
        let mem = KernelMemory { ram: Ram::new(layout.ram_size), layout };
        let max_cpus = (mem.layout.region(RegionKind::Stacks).size / THREAD_SIZE) as usize;
        if nr_cpus == 0 || nr_cpus > max_cpus {
            return Err(MachineError::BadCpuCount(nr_cpus, max_cpus));
        }
        backend.init_ram(&mem);
        // The last text pages: code the modelled kernel provides (its first half) and model-entry addresses (its
        // second half), an empty guard page (Unicorn discards the translation containing `until - 1` after each
        // run), and the task-return address.
        let mut placement = Placement::new(&mem, 3 * PAGE_SIZE);
        let loaded = elf::load(images, backend.as_ref(), &mem, &mut placement)?;
        let mut symbols = loaded.symbols;
        let text = mem.layout.region(RegionKind::Text);
        let task_return = text.va + text.size - PAGE_SIZE;
        mem.load(task_return, backend.task_return_insn()).expect("task-return page is in text");
        symbols.push(Symbol {
            name: TASK_RETURN_SYMBOL.into(),
            addr: KernelVa(task_return),
            size: PAGE_SIZE,
            kind: SymbolKind::Text,
            global: true,
        });
        let builtins = text.va + text.size - 3 * PAGE_SIZE;
        let model_entries = (builtins + PAGE_SIZE / 2, builtins + PAGE_SIZE);
        let mut cpus = Vec::with_capacity(nr_cpus);
        for cpu in 0..nr_cpus {
            let new = Cpu::new(backend.as_ref(), &mem, model_entries);
            cpus.push(new.map_err(|err| MachineError::CreateCpu { cpu, err: format!("{err:?}") })?);
        }
        Ok(EmulatedMachine {
            cpus,
            backend,
            mem,
            kallsyms: Kallsyms::new(symbols),
            log: EventLog::default(),
            clock: 0,
            icache: vec![Vec::new(); nr_cpus],
            skip_syncs: vec![0; nr_cpus],
            task_return,
            placement,
            data_in_text: loaded.data_in_text,
            sections: loaded.sections,
            builtins_next: builtins,
            model_entries,
            model_entries_next: model_entries.0,
        })
    }

    /// Where the loaded sections named `name` are (address, size), in load order: how the kernel finds its own
    /// tables (`__start___jump_table` … `__stop___jump_table` in a linked image).
    #[must_use]
    pub fn section_ranges(&self, name: &str) -> Vec<(KernelVa, u64)> {
        self.sections.iter().filter(|(n, _, _)| n == name).map(|(_, a, s)| (KernelVa(*a), *s)).collect()
    }

    /// The event log so far.
    #[must_use]
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Sets the scheduler turn the next events belong to (see `EventLog::turn_of`).
    pub fn set_turn(&mut self, turn: u64) {
        self.log.set_turn(turn);
    }

    /// Takes the event log.
    pub fn take_log(&mut self) -> EventLog {
        std::mem::take(&mut self.log)
    }


    /// Allocates `size` bytes of kernel data (zeroed), for objects the scenario or model creates.
    pub fn alloc_data(&mut self, size: u64, align: u64) -> Option<KernelVa> {
        self.placement.alloc_data(size, align).map(KernelVa)
    }

    /// Sets `cpu` up to call `func(args…)` returning to the task-return address.
    pub fn prepare_call(&mut self, cpu: CpuId, func: KernelVa, args: &[u64]) -> Result<(), MemFault> {
        let top = Machine::stack_top(self, cpu).0;
        let ret = self.task_return;
        self.backend.prepare_call(&mut self.cpus[cpu.0].uc, &self.mem, func.0, args, top, ret)
    }

    /// Runs `cpu` in guest mode for at most `limit` instructions; advances the clock by what retired.
    pub fn run_quantum(&mut self, cpu: CpuId, limit: u64) -> RunResult {
        let mut r = self.cpus[cpu.0].run(self.backend.as_ref(), &self.mem, limit, self.task_return);
        self.clock += r.retired;
        if let crate::cpu::Outcome::Trap(trap) = &r.outcome {
            // The trap was classified from memory; the CPU may have executed its stale copy of the bytes.
            let pc = self.cpus[cpu.0].pc();
            let stale: Vec<&[u8]> = self.icache[cpu.0]
                .iter()
                .filter(|p| pc >= p.va && pc < p.va + p.len)
                .filter_map(|p| p.old.get(usize::try_from(pc - p.va).ok()?..))
                .collect();
            if !stale.is_empty() {
                r.outcome = crate::cpu::Outcome::Trap(self.backend.trap_from_icache(trap.clone(), &self.mem, pc, &stale));
            }
        }
        r
    }

    /// The return value after a call returned.
    #[must_use]
    pub fn return_value(&self, cpu: CpuId) -> u64 {
        self.backend.return_value(&self.cpus[cpu.0].uc)
    }

    /// `cpu`'s pc.
    #[must_use]
    pub fn pc(&self, cpu: CpuId) -> KernelVa {
        KernelVa(self.cpus[cpu.0].pc())
    }

    /// Replaces `cpu`'s instance with a fresh one (after an oops: Unicorn keeps x86 exception state across runs
    /// that a real CPU would have cleared by delivering the exception). Its translations go with it.
    ///
    /// # Panics
    /// If Unicorn cannot create an instance it created before: a simulator bug.
    pub fn reset_cpu(&mut self, cpu: CpuId) {
        self.cpus[cpu.0] = Cpu::new(self.backend.as_ref(), &self.mem, self.model_entries).expect("re-creating a CPU");
        self.icache[cpu.0].clear();
    }

    /// Whether `va` lies in data inside a code section (a literal pool, per the `$d` mapping symbols): not an
    /// instruction, though the kernel cannot tell and would let a kprobe be placed there.
    #[must_use]
    pub fn is_data_in_text(&self, va: KernelVa) -> bool {
        self.data_in_text.iter().any(|&(s, e)| va.0 >= s && va.0 < e)
    }

    /// The bytes of the kernel data region (`.data`, `.bss`, …): what a function wrote to globals.
    #[must_use]
    pub fn data_region(&self) -> Vec<u8> {
        let r = self.mem.layout.region(RegionKind::Data);
        let mut buf = vec![0; usize::try_from(r.size).expect("region fits")];
        self.mem.ram.read(r.pa, &mut buf);
        buf
    }

    /// Calls `func(args…)` on `cpu` one instruction per step and counts how often each address executed.
    /// Returns `None` if the call trapped or did not return within `budget` instructions.
    pub fn count_executions(
        &mut self,
        cpu: CpuId,
        func: KernelVa,
        args: &[u64],
        budget: u64,
    ) -> Option<std::collections::BTreeMap<u64, u64>> {
        self.prepare_call(cpu, func, args).ok()?;
        let mut counts = std::collections::BTreeMap::new();
        // An x86 string instruction with a rep prefix runs as one step per iteration with its pc unchanged; it is
        // one execution of the instruction (a kprobe on it hits once).
        let mut continuing_at = None;
        for _ in 0..budget {
            let pc = self.cpus[cpu.0].pc();
            let r = self.run_quantum(cpu, 1);
            if r.retired == 1 && continuing_at != Some(pc) {
                *counts.entry(pc).or_insert(0) += 1;
            }
            continuing_at = (self.cpus[cpu.0].pc() == pc).then_some(pc);
            match r.outcome {
                crate::cpu::Outcome::Returned => return Some(counts),
                crate::cpu::Outcome::QuantumDone => {}
                crate::cpu::Outcome::Trap(_) | crate::cpu::Outcome::ModelCall(_) => return None,
            }
        }
        None
    }

    /// Fault injection: `cpu` ignores its next `n` context synchronisations.
    pub fn skip_next_syncs(&mut self, cpu: CpuId, n: u32) {
        self.skip_syncs[cpu.0] += n;
    }

    /// The task-return address.
    #[must_use]
    pub fn task_return(&self) -> KernelVa {
        KernelVa(self.task_return)
    }
}

impl GuestMemory for EmulatedMachine {
    fn read(&self, va: KernelVa, buf: &mut [u8]) -> Result<(), MemFault> {
        self.mem.read(va, buf)
    }

    fn write(&mut self, va: KernelVa, data: &[u8]) -> Result<(), MemFault> {
        self.mem.write(va, data)
    }
}

impl Machine for EmulatedMachine {
    fn isa(&self) -> Isa {
        self.backend.isa()
    }

    fn nr_cpus(&self) -> usize {
        self.cpus.len()
    }

    fn now(&self) -> VTime {
        VTime(self.clock)
    }

    fn charge(&mut self, _cpu: CpuId, ticks: u64) {
        self.clock += ticks;
    }

    fn kallsyms(&self) -> &Kallsyms {
        &self.kallsyms
    }

    fn poke_text(&mut self, cpu: CpuId, va: KernelVa, data: &[u8]) -> Result<KernelVa, MemFault> {
        let len = data.len() as u64;
        let alias = self
            .mem
            .layout
            .poke_alias(va.0, len)
            .ok_or(MemFault { va, kind: MemFaultKind::Unmapped })?;
        let mut old = vec![0; data.len()];
        self.mem.read(va, &mut old)?;
        self.mem.write(KernelVa(alias), data)?;
        let state = if self.backend.icache_coherent_with_stores() { Pending::Invalidated } else { Pending::Stale };
        for pending in &mut self.icache {
            pending.push(PendingRange { va: va.0, len, state, old: old.clone() });
        }
        let style = self.backend.text_hex_style();
        let (old, new) = (Hex(old, style), Hex(data.to_vec(), style));
        self.emit(cpu, EventKind::TextWrite { addr: va, alias: KernelVa(alias), old, new });
        Ok(KernelVa(alias))
    }

    fn flush_icache_range(&mut self, cpu: CpuId, va: KernelVa, len: u64) {
        for pending in &mut self.icache {
            for r in pending.iter_mut() {
                if r.va < va.0 + len && va.0 < r.va + r.len {
                    r.state = Pending::Invalidated;
                }
            }
        }
        self.emit(cpu, EventKind::CacheMaintenance { addr: va, len });
    }

    fn context_synchronize(&mut self, cpu: CpuId, why: SyncReason) {
        if !self.icache[cpu.0].iter().any(|r| r.state == Pending::Invalidated) {
            return;
        }
        if self.skip_syncs[cpu.0] > 0 {
            self.skip_syncs[cpu.0] -= 1;
            self.emit(cpu, EventKind::SyncSkipped { why });
            return;
        }
        let (ready, still): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.icache[cpu.0]).into_iter().partition(|r| r.state == Pending::Invalidated);
        self.icache[cpu.0] = still;
        for r in ready {
            self.cpus[cpu.0].invalidate_translations(r.va, r.len);
            self.emit(cpu, EventKind::IcacheSync { addr: KernelVa(r.va), len: r.len, why });
        }
    }

    fn guest_pc(&self, cpu: CpuId) -> u64 {
        self.cpus[cpu.0].pc()
    }

    fn text_stale_on(&self, cpu: CpuId, va: KernelVa, len: u64) -> bool {
        self.icache[cpu.0].iter().any(|r| r.va < va.0 + len && va.0 < r.va + r.len)
    }

    fn pt_regs(&mut self, cpu: CpuId) -> PtRegs {
        self.backend.pt_regs(&self.cpus[cpu.0].uc)
    }

    fn set_pt_regs(&mut self, cpu: CpuId, regs: &PtRegs) {
        self.backend.set_pt_regs(&mut self.cpus[cpu.0].uc, regs);
    }

    fn insn_slot_area(&self) -> (KernelVa, u64) {
        let r = self.mem.layout.region(RegionKind::InsnSlots);
        (KernelVa(r.va), r.size)
    }

    fn stack_top(&self, cpu: CpuId) -> KernelVa {
        let stacks = self.mem.layout.region(RegionKind::Stacks);
        KernelVa(stacks.va + (cpu.0 as u64 + 1) * THREAD_SIZE)
    }

    fn is_kernel_text(&self, va: KernelVa) -> bool {
        let r = self.mem.layout.region(RegionKind::Text);
        // The task-return page is the machine's, not the kernel image's.
        r.contains(va.0, 1) && va.0 < self.task_return
    }

    fn install_text(&mut self, name: &str, code: &[u8]) -> KernelVa {
        let at = self.builtins_next.next_multiple_of(16);
        assert!(at + code.len() as u64 <= self.model_entries.0, "kernel builtin code outgrew its half page");
        self.mem.load(at, code).expect("builtins page is mapped");
        self.builtins_next = at + code.len() as u64;
        self.kallsyms.add(Symbol {
            name: name.into(),
            addr: KernelVa(at),
            size: code.len() as u64,
            kind: SymbolKind::Text,
            global: true,
        });
        KernelVa(at)
    }

    fn write_text_at_boot(&mut self, va: KernelVa, code: &[u8]) {
        self.mem.load(va.0, code).expect("boot-time text is mapped");
        for cpu in &mut self.cpus {
            cpu.invalidate_translations(va.0, code.len() as u64);
        }
    }

    fn model_entry(&mut self, name: &str) -> KernelVa {
        let at = self.model_entries_next;
        assert!(at + 4 <= self.model_entries.1, "too many model entries");
        self.model_entries_next += 4;
        self.kallsyms.add(Symbol { name: name.into(), addr: KernelVa(at), size: 4, kind: SymbolKind::Text, global: true });
        KernelVa(at)
    }

    fn call_function(&mut self, cpu: CpuId, func: KernelVa, args: &[u64], sp: u64) {
        let ret = self.task_return;
        self.backend
            .prepare_call(&mut self.cpus[cpu.0].uc, &self.mem, func.0, args, sp, ret)
            .expect("kernel stacks are mapped");
        // A handler's callee runs in the exception context: interrupts stay masked.
        let mut regs = self.backend.pt_regs(&self.cpus[cpu.0].uc);
        regs.mask_irqs();
        self.backend.set_pt_regs(&mut self.cpus[cpu.0].uc, &regs);
    }

    fn emit(&mut self, cpu: CpuId, kind: EventKind) {
        let pc = self.pc(cpu);
        self.log.push(VTime(self.clock), cpu, pc, kind);
    }
}
