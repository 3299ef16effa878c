//! x86 kretprobes: `arch_prepare_kretprobe` (hijack the return address on the stack) and the return trampolines,
//! assembled with `llvm-mc --triple=x86_64 --show-encoding` from the kernel's source:
//!
//! - 5.10 `kretprobe_trampoline` (arch/x86/kernel/kprobes/core.c): `pushq %rsp; pushfq; SAVE_REGS_STRING;
//!   movq %rsp, %rdi; call trampoline_handler; movq %rax, 19*8(%rsp); RESTORE_REGS_STRING; popfq; ret`.
//! - 6.12 `arch_rethook_trampoline` (arch/x86/kernel/rethook.c): `pushq $arch_rethook_trampoline; pushq
//!   $__KERNEL_DS; pushq %rsp; pushfq; SAVE_REGS_STRING; movq %rsp, %rdi; call arch_rethook_trampoline_callback;
//!   RESTORE_REGS_STRING; addq $16, %rsp; popfq; ret`.
//!
//! The `call` targets a model entry: the C function runs in the model, the stub's instructions run in the guest.

use crate::ptrace::PtRegs;
use crate::event::Oops;
use crate::kernel_core::{KernelCore, TrapAction};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::{CpuId, KernelVa};

const SAVE: [u8; 31] = [
    0x48, 0x83, 0xec, 0x18, 0x57, 0x56, 0x52, 0x51, 0x50, 0x41, 0x50, 0x41, 0x51, 0x41, 0x52, 0x41, 0x53, 0x53, 0x55,
    0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57, 0x48, 0x89, 0xe7, 0x00,
];
const RESTORE: [u8; 27] = [
    0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0x41, 0x5b, 0x41, 0x5a, 0x41, 0x59, 0x41, 0x58, 0x58,
    0x59, 0x5a, 0x5e, 0x5f, 0x48, 0x83, 0xc4, 0x18,
];

/// Offsets in `struct pt_regs` (x86_64).
const PT_IP: u64 = 16 * 8;
const PT_FLAGS: u64 = 18 * 8;
const PT_SP: u64 = 19 * 8;
const PT_SS: u64 = 20 * 8;
const PT_REGS_SIZE: u64 = 21 * 8;

fn stub(profile: KernelProfile, self_addr: u64, call_at_target: u64, base: u64) -> Vec<u8> {
    let mut code = Vec::new();
    if profile == KernelProfile::V6_12 {
        code.push(0x68); // pushq $arch_rethook_trampoline (imm32, sign-extended)
        code.extend_from_slice(&(self_addr as u32).to_le_bytes());
        code.extend_from_slice(&[0x6a, 0x18]); // pushq $__KERNEL_DS
    }
    code.extend_from_slice(&[0x54, 0x9c]); // pushq %rsp; pushfq
    code.extend_from_slice(&SAVE[..30]);
    let call_end = base + code.len() as u64 + 5;
    code.push(0xe8);
    code.extend_from_slice(&(call_at_target.wrapping_sub(call_end) as u32).to_le_bytes());
    if profile == KernelProfile::V5_10 {
        code.extend_from_slice(&[0x48, 0x89, 0x84, 0x24, 0x98, 0x00, 0x00, 0x00]); // movq %rax, 19*8(%rsp)
    }
    code.extend_from_slice(&RESTORE);
    if profile == KernelProfile::V6_12 {
        code.extend_from_slice(&[0x48, 0x83, 0xc4, 0x10]); // addq $16, %rsp
    }
    code.extend_from_slice(&[0x9d, 0xc3]); // popfq; ret
    code
}

/// Installs the profile's trampoline; returns its address.
pub fn install_trampoline(m: &mut dyn Machine, profile: KernelProfile) -> KernelVa {
    let (name, callee) = match profile {
        KernelProfile::V5_10 => ("kretprobe_trampoline", "trampoline_handler"),
        KernelProfile::V6_12 => ("arch_rethook_trampoline", "arch_rethook_trampoline_callback"),
    };
    let entry = m.model_entry(callee);
    let placeholder = stub(profile, 0, 0, 0);
    let at = m.install_text(name, &placeholder);
    m.write_text_at_boot(at, &stub(profile, at.0, entry.0, at.0));
    at
}

/// Models `arch_prepare_kretprobe` (5.10) / `arch_rethook_prepare` (6.12): `ret_addr = *sp; fp = sp;
/// *sp = trampoline`.
pub fn arch_prepare_kretprobe(m: &mut dyn Machine, regs: &mut PtRegs, trampoline: KernelVa) -> (u64, u64) {
    let sp = regs.sp();
    let ret = m.read_u64(KernelVa(sp)).unwrap_or(0);
    let _ = m.write(KernelVa(sp), &trampoline.0.to_le_bytes());
    (ret, sp)
}

/// Reads the `struct pt_regs` the stub saved at `frame`.
fn read_frame(m: &dyn Machine, frame: KernelVa) -> PtRegs {
    let mut regs = PtRegs::new(m.isa());
    let names = [
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    ];
    for (i, n) in names.iter().enumerate() {
        regs.set_by_name(n, m.read_u64(frame.add(8 * i as u64)).unwrap_or(0));
    }
    regs.set_by_name("ip", m.read_u64(frame.add(PT_IP)).unwrap_or(0));
    regs.set_by_name("flags", m.read_u64(frame.add(PT_FLAGS)).unwrap_or(0));
    regs.set_by_name("sp", m.read_u64(frame.add(PT_SP)).unwrap_or(0));
    regs
}

/// Models the C function the stub calls (`trampoline_handler` in 5.10, `arch_rethook_trampoline_callback` in
/// 6.12), then returns to the stub as its `call` expects.
pub fn trampoline_callback(k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId) -> TrapAction {
    let mut cpu_regs = m.pt_regs(cpu);
    let frame = KernelVa(cpu_regs.arg(0).unwrap_or(0));
    let mut saved = read_frame(m, frame);
    let trampoline = k.kretprobes.trampoline.map_or(0, |t| t.0);
    // regs->ip = trampoline (the unwinder's view); the frame pointer is &regs->sp (5.10) / regs + 1 (6.12).
    saved.set_ip(trampoline);
    let fp = match k.profile() {
        KernelProfile::V5_10 => frame.0 + PT_SP,
        KernelProfile::V6_12 => {
            saved.set_by_name("sp", saved.sp() + 16);
            frame.0 + PT_REGS_SIZE
        }
    };
    let Some(ret) = k.kretprobe_trampoline_handler(m, cpu, &mut saved, fp) else {
        return TrapAction::Oops { oops: Oops::KretprobeNoInstance };
    };
    let _ = m.write(frame.add(PT_IP), &ret.to_le_bytes());
    if k.profile() == KernelProfile::V6_12 {
        // arch_rethook_fixup_return: the fake return address becomes the real one; FLAGS copied to SS.
        let _ = m.write(KernelVa(fp), &ret.to_le_bytes());
        let flags = m.read_u64(frame.add(PT_FLAGS)).unwrap_or(0);
        let _ = m.write(frame.add(PT_SS), &flags.to_le_bytes());
    }
    // Return to the stub: rax = the real return address (5.10 uses it), ip = the call's return address.
    let r = cpu_regs.x86_64_mut();
    r.ax = ret;
    let back = m.read_u64(KernelVa(r.sp)).unwrap_or(0);
    r.ip = back;
    r.sp += 8;
    m.set_pt_regs(cpu, &cpu_regs);
    TrapAction::Resume
}
