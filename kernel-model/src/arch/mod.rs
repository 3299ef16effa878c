//! ISA-specific parts of the kernel model, one module per ISA with the same files in each (as cranelift's
//! `isa/<arch>`). Generic code reaches them through [`crate::ptrace::PtRegs`]'s methods and the per-ISA trait objects; it never
//! matches on the ISA itself.

pub mod aarch64;
pub mod info;
pub mod x86_64;

use crate::event::Trap;
use crate::errno::Errno;
use crate::kernel_core::{KernelCore, LivePatchStep, PatchJob, TrapAction};
use crate::kprobes::ProbeId;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, Isa, KernelVa};

use crate::ptrace::PtRegs;

/// One disassembled instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisasmLine {
    /// Its address.
    pub addr: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The encoding as printed (arm64: the word `d4200080`; x86: the bytes `0f 1f 44 00 00`).
    pub encoding: String,
    /// The instruction text.
    pub text: String,
    /// A direct branch's target, for symbol annotation.
    pub target: Option<u64>,
}

/// Disassembles `bytes` at `addr` for `isa`.
#[must_use]
pub fn disassemble(isa: Isa, addr: u64, bytes: &[u8]) -> Vec<DisasmLine> {
    match isa {
        Isa::Aarch64 => aarch64::disasm::disassemble(addr, bytes),
        Isa::X86_64 => x86_64::disasm::disassemble(addr, bytes),
    }
}

/// The ISA-specific half of the kernel: exception entry and dispatch, and the arch hooks of the kprobe core
/// (`arch_prepare_kprobe`, `arch_arm_kprobe`, the hit path). Each method operates on the generic state.
pub trait ArchKernel {
    /// Handles an exception `cpu` took in guest code (arm64 `el1_sync`, x86 the IDT entry for the vector).
    fn handle_trap(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, trap: &Trap) -> TrapAction;
    /// `arch_prepare_kprobe`: decode, allocate and fill the XOL slot. Returns a patch job when the slot must be
    /// written under `stop_machine` (arm64 5.10).
    fn arch_prepare_kprobe(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        frame: KernelVa,
    ) -> Result<Option<PatchJob>, crate::kprobes::KprobeError>;
    /// What `arch_prepare_kprobe` does after its slot patch completed (arm64 5.10: `flush_icache_range`).
    fn after_slot_patch(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, id: ProbeId);
    /// `arch_arm_kprobe`: the patch that writes the breakpoint (by `cpu`'s task).
    fn arm_kprobe_job(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        frame: KernelVa,
    ) -> Result<PatchJob, Errno>;
    /// `arch_disarm_kprobe`: the patch that puts the original instruction back.
    fn disarm_kprobe_job(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        id: ProbeId,
        frame: KernelVa,
    ) -> Result<PatchJob, Errno>;
    /// Bytes of one XOL slot.
    fn slot_size(&self) -> u64;
    /// `setup_singlestep` after a pre-handler returned 0: step or simulate (arm64), boost, emulate or step (x86).
    fn setup_singlestep(
        &mut self,
        k: &mut KernelCore,
        m: &mut dyn Machine,
        cpu: CpuId,
        addr: KernelVa,
        regs: &mut PtRegs,
    ) -> TrapAction;
    /// The arch-defined fields of `cpu`'s `struct kprobe_ctlblk` (name, value), for the debugger's `dt` view: arm64's
    /// `saved_irqflag`; x86's flags are in its own per-CPU state.
    fn ctlblk_fields(&self, _cpu: CpuId) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Whether kprobe handlers run in NMI context (`in_nmi()`): x86's int3 handler is NMI-like since 5.10
    /// (commit 0d00449c7a28), and 5.10's `trace_call_bpf` returns 1 without running programs in NMI context (the
    /// early return was removed in v5.11).
    fn kprobe_in_nmi(&self) -> bool {
        false
    }
    /// The call chain from the exception vector to the kprobe handler, outermost first (arm64: `el1_sync` …
    /// `kprobe_breakpoint_handler`; x86: `asm_exc_int3` … `kprobe_int3_handler`).
    fn kprobe_hit_frames(&self) -> Vec<String>;
    /// `arch_prepare_kretprobe`: returns (`ri->ret_addr`, `ri->fp`) and points the return address at the
    /// trampoline.
    fn arch_prepare_kretprobe(&mut self, m: &mut dyn Machine, regs: &mut PtRegs, trampoline: KernelVa) -> (u64, u64);
    /// Installs this kernel's kretprobe trampoline in text; returns its address.
    fn install_kretprobe_trampoline(&mut self, m: &mut dyn Machine) -> KernelVa;
    /// Patch live text: step `step` (0, 1, …) of writing `sites` (address, new bytes) while other CPUs may run
    /// them, by the arch's protocol; `frame` is stack the caller's locals may use. Steps that return a job are
    /// called again with the next step number once the job completed.
    fn patch_live_text_step(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        sites: &[(KernelVa, Vec<u8>)],
        step: u8,
        frame: KernelVa,
    ) -> LivePatchStep;
    /// The kernel function that patches live text (for backtraces and error reasons).
    fn live_patch_fn(&self) -> &'static str;
    /// Runs the modelled kernel function `name` that guest code called (see `Machine::model_entry`).
    fn model_call(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, name: &str) -> TrapAction;
    /// `HAVE_JUMP_LABEL_BATCH` (asm/jump_label.h): `__jump_label_update` queues every site
    /// (`arch_jump_label_transform_queue`) and applies them once (`arch_jump_label_transform_apply`), rather than
    /// calling `arch_jump_label_transform` per site.
    fn jump_label_batch(&self) -> bool;
    /// `arch_jump_label_transform` (or `_queue` when batching) of the site at `code`, whose branch goes to
    /// `target`, to `ty`: writes it (arm64) or queues it (x86), logging the transform first. `Err`: the kernel BUG()s.
    fn jump_label_transform(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        code: KernelVa,
        target: KernelVa,
        ty: crate::event::jump_label::JumpLabelType,
    ) -> Result<(), crate::event::Oops>;
    /// Step `step` of `arch_jump_label_transform_apply` (called again with the next step once a job completed).
    fn jump_label_apply_step(&mut self, m: &mut dyn Machine, cpu: CpuId, step: u8) -> LivePatchStep;
    /// `jump_entry_size(entry)` of the site at `code`, as `jump_label_text_reserved` measures it.
    fn jump_entry_size(&self, m: &dyn Machine, code: KernelVa) -> u64;
}

pub use crate::kernel_core::UnwindFn;

/// Walks `{next frame pointer, return address}` records from `fp` (both ISAs lay frames out this way): the ip, then
/// each return address, at most `max` entries, stopping when the frame pointer leaves `stack`, is misaligned, does
/// not move up, or a return address is 0. `fixup` maps a kretprobe trampoline address to the real one
/// (`kretprobe_find_ret_addr`).
pub(crate) fn walk_frame_records(
    m: &dyn Machine,
    stack: (u64, u64),
    (ip, mut fp, align): (u64, u64, u64),
    max: usize,
    fixup: &mut dyn FnMut(u64) -> u64,
) -> Vec<u64> {
    let mut out = vec![fixup(ip)];
    while out.len() < max && fp >= stack.0 && fp + 16 <= stack.1 && fp.is_multiple_of(align) {
        let (Ok(next), Ok(ret)) = (m.read_u64(KernelVa(fp)), m.read_u64(KernelVa(fp + 8))) else { break };
        if ret == 0 {
            break;
        }
        out.push(fixup(ret));
        if next <= fp {
            break;
        }
        fp = next;
    }
    out
}

/// The ISA's `stack_trace_save_regs` unwinder.
#[must_use]
pub fn unwinder(isa: Isa) -> UnwindFn {
    match isa {
        Isa::Aarch64 => aarch64::stacktrace::unwind,
        Isa::X86_64 => x86_64::stacktrace::unwind,
    }
}

/// The ISA's answers to the probe-argument grammar (`regs_query_register_offset` and friends).
#[must_use]
pub fn trace_regs(isa: Isa) -> &'static dyn crate::trace::RegsQuery {
    match isa {
        Isa::Aarch64 => &aarch64::trace_regs::Aarch64TraceRegs,
        Isa::X86_64 => &x86_64::trace_regs::X86_64TraceRegs,
    }
}

/// The ISA-specific kernel for `isa`.
#[must_use]
pub fn lookup(isa: Isa, profile: KernelProfile) -> Box<dyn ArchKernel> {
    match isa {
        Isa::Aarch64 => Box::new(aarch64::Aarch64Kernel::new(profile)),
        Isa::X86_64 => Box::new(x86_64::X86Kernel::new(profile)),
    }
}
