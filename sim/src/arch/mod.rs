//! The guest ISAs, one module per ISA with the same files in each (`layout.rs`, `regs.rs`, `reloc.rs`, `traps.rs`),
//! behind [`IsaBackend`], chosen at run time by [`lookup`] (as cranelift's `isa::lookup`). Nothing outside this
//! module matches on the ISA.

mod aarch64;
mod x86_64;

use crate::uc::Uc;
use crate::memory::{KernelMemory, Layout};
use kernel_model::ptrace::PtRegs;
use kernel_model::event::{HexStyle, Trap};
use kernel_model::machine::MemFault;
use kernel_model::Isa;
use unicorn_engine::uc_error;

pub(crate) use crate::uc::BadAccess;

/// A relocation the ISA backend could not apply.
#[derive(Debug, PartialEq, Eq)]
pub enum RelocError {
    /// Unknown type.
    Unsupported(&'static str),
    /// Value out of range for the field.
    Overflow(&'static str, i128),
}


/// Everything ISA-specific the machine needs.
pub trait IsaBackend {
    /// Which ISA.
    fn isa(&self) -> Isa;
    /// The kernel virtual memory map.
    fn layout(&self) -> Layout;
    /// Prepares RAM before any CPU exists (x86: builds the page tables).
    fn init_ram(&self, mem: &KernelMemory);
    /// Creates one CPU's Unicorn instance with the shared RAM mapped and system registers set.
    fn new_cpu(&self, mem: &KernelMemory) -> Result<Uc, uc_error>;
    /// Reads the CPU's registers as `pt_regs`.
    fn pt_regs(&self, uc: &Uc) -> PtRegs;
    /// Writes the CPU's registers from `pt_regs`.
    fn set_pt_regs(&self, uc: &mut Uc, regs: &PtRegs);
    /// Sets up a C call of `func(args…)` that returns to `ret` on the stack whose top is `stack_top`.
    fn prepare_call(
        &self,
        uc: &mut Uc,
        mem: &KernelMemory,
        func: u64,
        args: &[u64],
        stack_top: u64,
        ret: u64,
    ) -> Result<(), MemFault>;
    /// The return value register after a call returned.
    fn return_value(&self, uc: &Uc) -> u64;
    /// Classifies an exception reported by Unicorn's interrupt hook.
    fn trap(&self, uc: &Uc, mem: &KernelMemory, intno: u32) -> Trap;
    /// The trap as the CPU took it, given what its instruction cache held at `pc`: `stale` lists, oldest first, the
    /// bytes from `pc` on that memory held before each text write this CPU has not yet resynchronised with.
    /// [`IsaBackend::trap`] read memory, which may already hold newer bytes than the ones the CPU executed; an ISA
    /// whose trap depends on the instruction's bytes takes them from the stale copy. By default, unchanged.
    fn trap_from_icache(&self, trap: Trap, _mem: &KernelMemory, _pc: u64, _stale: &[&[u8]]) -> Trap {
        trap
    }
    /// Classifies an `emu_start` error (Unicorn reports some faults that way, with no interrupt).
    fn fault(&self, err: uc_error, access: Option<BadAccess>) -> Trap;
    /// Whether an instruction fetch sees a data store without explicit cache maintenance (x86: yes, after a
    /// serialising instruction; arm64: no, the icache must be invalidated to the point of unification first).
    fn icache_coherent_with_stores(&self) -> bool;
    /// Byte width of the field a relocation type patches, or `None` if unsupported.
    fn reloc_width(&self, rtype: u32) -> Option<usize>;
    /// The relocation's ELF name.
    fn reloc_name(&self, rtype: u32) -> &'static str;
    /// Applies relocation `rtype` to `field` (S = `sym`, A = `addend`, P = `place`).
    fn apply_reloc(&self, rtype: u32, field: &mut [u8], sym: u64, addend: i64, place: u64) -> Result<(), RelocError>;
    /// Bytes of a "stop here" instruction for the reserved task-return page (never executed: emulation ends there).
    fn task_return_insn(&self) -> &'static [u8];
    /// How text bytes are shown in the log: arm64 as 32-bit instruction words, x86 as bytes.
    fn text_hex_style(&self) -> HexStyle;
    /// The ELF header's `e_machine` for this ISA (`EM_AARCH64`, `EM_X86_64`).
    fn elf_machine(&self) -> u16;
}

/// The backend for `isa`.
#[must_use]
pub fn lookup(isa: Isa) -> Box<dyn IsaBackend> {
    match isa {
        Isa::Aarch64 => Box::new(aarch64::Aarch64),
        Isa::X86_64 => Box::new(x86_64::X86_64),
    }
}

/// The ISA whose backend answers `e_machine`, if any.
#[must_use]
pub fn isa_of_elf_machine(e_machine: u16) -> Option<Isa> {
    let backends: [&dyn IsaBackend; 2] = [&aarch64::Aarch64, &x86_64::X86_64];
    backends.into_iter().find(|b| b.elf_machine() == e_machine).map(|b| b.isa())
}

/// Range check helper shared by relocation code.
pub(crate) fn fits_signed(v: i128, bits: u32) -> bool {
    let lim = 1i128 << (bits - 1);
    (-lim..lim).contains(&v)
}
