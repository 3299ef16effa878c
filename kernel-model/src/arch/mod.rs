//! ISA-specific parts of the kernel model, one module per ISA with the same files in each (as cranelift's
//! `isa/<arch>`). Generic code reaches them through [`PtRegs`]'s methods and the per-ISA trait objects; it never
//! matches on the ISA itself.

pub mod aarch64;
pub mod x86_64;

use crate::event::Trap;
use crate::errno::Errno;
use crate::kernel::{KernelCore, PatchJob, TrapAction};
use crate::kprobes::ProbeId;
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, Isa, KernelVa};

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
    /// Starts a `text_poke_bp` batch (x86): the sites and their new bytes become `bp_desc` for `poke_int3_handler`.
    fn text_poke_bp_begin(&mut self, m: &mut dyn Machine, sites: &[(KernelVa, Vec<u8>)]) -> Result<(), String>;
    /// Ends the batch (`bp_desc` released).
    fn text_poke_bp_end(&mut self);
    /// Runs the modelled kernel function `name` that guest code called (see `Machine::model_entry`).
    fn model_call(&mut self, k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, name: &str) -> TrapAction;
}

/// An unwinder: (machine, stack bounds, regs, max entries, return-address fixup) → addresses.
pub type UnwindFn = fn(&dyn Machine, (u64, u64), &PtRegs, usize, &mut dyn FnMut(u64) -> u64) -> Vec<u64>;

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

/// The ISA-specific kernel for `isa`.
#[must_use]
pub fn lookup(isa: Isa, profile: KernelProfile) -> Box<dyn ArchKernel> {
    match isa {
        Isa::Aarch64 => Box::new(aarch64::Aarch64Kernel::new(profile)),
        Isa::X86_64 => Box::new(x86_64::X86Kernel::new(profile)),
    }
}

/// A CPU's saved registers at exception entry: the kernel's `struct pt_regs`, for the running ISA.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum PtRegs {
    /// arm64 `struct pt_regs`.
    Aarch64(aarch64::ptrace::PtRegs),
    /// x86_64 `struct pt_regs`.
    X86_64(x86_64::ptrace::PtRegs),
}

impl PtRegs {
    /// Zeroed registers for `isa`.
    #[must_use]
    pub fn new(isa: Isa) -> PtRegs {
        match isa {
            Isa::Aarch64 => PtRegs::Aarch64(aarch64::ptrace::PtRegs::default()),
            Isa::X86_64 => PtRegs::X86_64(x86_64::ptrace::PtRegs::default()),
        }
    }

    /// The arm64 registers, for arm64 code. Any other ISA here is a simulator bug.
    pub fn aarch64_mut(&mut self) -> &mut aarch64::ptrace::PtRegs {
        match self {
            PtRegs::Aarch64(r) => r,
            PtRegs::X86_64(_) => panic!("arm64 code given x86 registers (simulator bug)"),
        }
    }

    /// The x86_64 registers, for x86 code. Any other ISA here is a simulator bug.
    pub fn x86_64_mut(&mut self) -> &mut x86_64::ptrace::PtRegs {
        match self {
            PtRegs::X86_64(r) => r,
            PtRegs::Aarch64(_) => panic!("x86 code given arm64 registers (simulator bug)"),
        }
    }

    /// `instruction_pointer(regs)`.
    #[must_use]
    pub fn ip(&self) -> u64 {
        match self {
            PtRegs::Aarch64(r) => r.pc,
            PtRegs::X86_64(r) => r.ip,
        }
    }

    /// `instruction_pointer_set(regs, ip)`.
    pub fn set_ip(&mut self, ip: u64) {
        match self {
            PtRegs::Aarch64(r) => r.pc = ip,
            PtRegs::X86_64(r) => r.ip = ip,
        }
    }

    /// `kernel_stack_pointer(regs)`.
    #[must_use]
    pub fn sp(&self) -> u64 {
        match self {
            PtRegs::Aarch64(r) => r.sp,
            PtRegs::X86_64(r) => r.sp,
        }
    }

    /// `regs_get_kernel_argument(regs, n)`: the n-th integer argument of the C calling convention.
    #[must_use]
    pub fn arg(&self, n: usize) -> Option<u64> {
        match self {
            PtRegs::Aarch64(r) => r.arg(n),
            PtRegs::X86_64(r) => r.arg(n),
        }
    }

    /// Sets the n-th integer argument register; false if the convention has no such register.
    pub fn set_arg(&mut self, n: usize, v: u64) -> bool {
        match self {
            PtRegs::Aarch64(r) => r.set_arg(n, v),
            PtRegs::X86_64(r) => r.set_arg(n, v),
        }
    }

    /// `regs_return_value(regs)`.
    #[must_use]
    pub fn return_value(&self) -> u64 {
        match self {
            PtRegs::Aarch64(r) => r.regs[0],
            PtRegs::X86_64(r) => r.ax,
        }
    }

    /// Reads a register by its kernel name (`x0`…`x30`, `sp`, `pc`, `pstate`; `ax`, `rdi`, `ip`, `flags`, …).
    #[must_use]
    pub fn get_by_name(&self, name: &str) -> Option<u64> {
        match self {
            PtRegs::Aarch64(r) => r.get_by_name(name),
            PtRegs::X86_64(r) => r.get_by_name(name),
        }
    }

    /// Writes a register by name; false if there is no such register.
    pub fn set_by_name(&mut self, name: &str, v: u64) -> bool {
        match self {
            PtRegs::Aarch64(r) => r.set_by_name(name, v),
            PtRegs::X86_64(r) => r.set_by_name(name, v),
        }
    }

    /// Whether the interrupted context had interrupts enabled (arm64 PSTATE.I clear; x86 EFLAGS.IF set).
    #[must_use]
    pub fn irqs_enabled(&self) -> bool {
        match self {
            PtRegs::Aarch64(r) => r.pstate & aarch64::ptrace::PSR_I_BIT == 0,
            PtRegs::X86_64(r) => r.flags & x86_64::ptrace::X86_EFLAGS_IF != 0,
        }
    }

    /// Masks interrupts in these registers (the state of a handler's nested call).
    pub fn mask_irqs(&mut self) {
        match self {
            PtRegs::Aarch64(r) => r.pstate |= aarch64::ptrace::DAIF_MASK,
            PtRegs::X86_64(r) => r.flags &= !x86_64::ptrace::X86_EFLAGS_IF,
        }
    }

    /// All registers as (name, value) pairs, in the order a debugger's `r` prints them.
    #[must_use]
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        match self {
            PtRegs::Aarch64(r) => r.named(),
            PtRegs::X86_64(r) => r.named(),
        }
    }
}
