//! The consumer-side view of the emulated machine (the vm-memory pattern): what the kernel model needs from the
//! hardware, and nothing more. `sim` provides it over Unicorn; tests may provide it over a flat buffer.
//!
//! **Architecture invariant:** nothing here names an emulator type. The model reads and writes guest memory, saves
//! and restores a CPU's `pt_regs`, patches text through the poke alias, resynchronises a CPU's instruction cache and
//! records events; it never runs guest code itself (the scheduler does).

use crate::ptrace::PtRegs;
use crate::event::{EventKind, SyncReason};
use crate::kallsyms::Kallsyms;
use crate::{CpuId, Isa, KernelVa, VTime};

/// A failed guest memory access by modelled kernel code: the kernel's `copy_{from,to}_kernel_nofault` returns
/// `-EFAULT` for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at {va:?}")]
pub struct MemFault {
    /// The first address that could not be accessed.
    pub va: KernelVa,
    /// What kind of access failed.
    pub kind: MemFaultKind,
}

/// Why a model access faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemFaultKind {
    /// Nothing is mapped there.
    Unmapped,
    /// A write to read-only memory (kernel text is read+execute; writes go through the poke alias).
    WriteProtected,
}

impl std::fmt::Display for MemFaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemFaultKind::Unmapped => "unmapped",
            MemFaultKind::WriteProtected => "write to read-only memory",
        })
    }
}

/// Guest memory as kernel code sees it: kernel virtual addresses, with the page permissions of the real kernel.
pub trait GuestMemory {
    /// Reads `buf.len()` bytes at `va`.
    fn read(&self, va: KernelVa, buf: &mut [u8]) -> Result<(), MemFault>;
    /// Writes `data` at `va`; kernel text is read-only here, as on real hardware.
    fn write(&mut self, va: KernelVa, data: &[u8]) -> Result<(), MemFault>;

    /// Reads a little-endian `u32` (an arm64 instruction word).
    fn read_u32(&self, va: KernelVa) -> Result<u32, MemFault> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian `u64`.
    fn read_u64(&self, va: KernelVa) -> Result<u64, MemFault> {
        let mut b = [0u8; 8];
        self.read(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// The whole machine as the kernel model drives it.
pub trait Machine: GuestMemory {
    /// The guest ISA.
    fn isa(&self) -> Isa;
    /// Number of CPUs (`num_online_cpus()`).
    fn nr_cpus(&self) -> usize;
    /// The virtual clock.
    fn now(&self) -> VTime;
    /// Charges `ticks` of virtual time to `cpu` for a model step (modelled kernel code costs time too).
    fn charge(&mut self, cpu: CpuId, ticks: u64);
    /// The kernel's symbol table.
    fn kallsyms(&self) -> &Kallsyms;
    /// Writes `data` over kernel text at `va` through the writable alias (arm64 `FIX_TEXT_POKE0`, x86 `text_poke`'s
    /// temporary mapping), as `cpu`. No CPU's instruction cache is updated. Returns the alias address written.
    fn poke_text(&mut self, cpu: CpuId, va: KernelVa, data: &[u8]) -> Result<KernelVa, MemFault>;
    /// Cache maintenance by `cpu` over `[va, va+len)` to the point of unification (arm64 `dc cvau` + `ic ivau`,
    /// broadcast to the inner-shareable domain): every CPU's stale copy of the range is invalidated, but a CPU only
    /// fetches the new bytes after its next context synchronisation.
    fn flush_icache_range(&mut self, cpu: CpuId, va: KernelVa, len: u64);
    /// A context-synchronisation event on `cpu` (arm64 `isb`, exception entry or return; x86 `sync_core`): from
    /// now on it fetches the current bytes of every invalidated range. `why` names the kernel operation.
    fn context_synchronize(&mut self, cpu: CpuId, why: SyncReason);
    /// Whether `cpu` has not yet resynchronised with text written in `[va, va+len)`: it may still execute the old
    /// bytes there.
    fn text_stale_on(&self, cpu: CpuId, va: KernelVa, len: u64) -> bool;
    /// `cpu`'s program counter as the emulator holds it (where its guest code is or last was).
    fn guest_pc(&self, cpu: CpuId) -> u64;
    /// Saves `cpu`'s registers as exception entry does (`kernel_entry`).
    fn pt_regs(&mut self, cpu: CpuId) -> PtRegs;
    /// Restores `cpu`'s registers as exception return does (`kernel_exit`).
    fn set_pt_regs(&mut self, cpu: CpuId, regs: &PtRegs);
    /// The executable area kprobe slots are allocated from (`alloc_insn_page`): start and length.
    fn insn_slot_area(&self) -> (KernelVa, u64);
    /// The top of `cpu`'s kernel stack (`THREAD_SIZE` bytes below it are the stack).
    fn stack_top(&self, cpu: CpuId) -> KernelVa;
    /// `core_kernel_text(addr)`: whether `addr` lies in the kernel image's code.
    fn is_kernel_text(&self, va: KernelVa) -> bool;
    /// Installs code the kernel itself provides (e.g. `kretprobe_trampoline`) in kernel text, with a symbol.
    fn install_text(&mut self, name: &str, code: &[u8]) -> KernelVa;
    /// Overwrites kernel text before it ever ran (boot-time setup of code the kernel provides), bypassing the
    /// poke alias and the icache model. Never for patching live text.
    fn write_text_at_boot(&mut self, va: KernelVa, code: &[u8]);
    /// An address that, when guest code branches to it, stops the CPU and calls the modelled kernel function
    /// `name` (the scheduler reports it to the kernel as a model call).
    fn model_entry(&mut self, name: &str) -> KernelVa;
    /// Sets `cpu` up to call `func(args…)` on the stack `sp`, returning to the task-return address; the CPU runs it
    /// in guest mode from its next turn (a kernel function called from modelled code, e.g. by a probe handler).
    fn call_function(&mut self, cpu: CpuId, func: KernelVa, args: &[u64], sp: u64);
    /// Records an event on `cpu` at the current virtual time.
    fn emit(&mut self, cpu: CpuId, kind: EventKind);
}
