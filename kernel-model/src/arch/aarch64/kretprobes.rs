//! arm64 kretprobes: `arch_prepare_kretprobe` and the return trampoline of each kernel version.
//!
//! - 5.10 (`arch/arm64/kernel/probes/kprobes_trampoline.S`): `kretprobe_trampoline` is a stub that builds a
//!   `struct pt_regs` on the stack, calls `trampoline_probe_handler` (modelled: the stub's `bl` targets a model entry)
//!   and returns to the address it gives back. No exception is taken.
//! - 6.12: `__kretprobe_trampoline` is `brk #KRETPROBES_BRK_IMM` (then `ASM_BUG()`); `kretprobe_breakpoint_handler`
//!   sets the pc to the real return address.

use super::insn::{AARCH64_BREAK_MON, BUG_BRK_IMM, KRETPROBES_BRK_IMM};
use crate::ptrace::PtRegs;
use crate::kernel_core::{KernelCore, TrapAction};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::event::{Oops, SyncReason};
use crate::{CpuId, KernelVa};

/// `PT_REGS_SIZE` of 5.10 arm64 (`sizeof(struct pt_regs)`).
pub const PT_REGS_SIZE: u64 = 0x150;
/// `S_SP`.
const S_SP: u64 = 0xf8;
/// `S_PC`.
const S_PC: u64 = 0x100;
/// `S_PSTATE`.
const S_PSTATE: u64 = 0x108;

/// The 5.10 `kretprobe_trampoline` (kprobes_trampoline.S: `sub sp, sp, #PT_REGS_SIZE; save_all_base_regs;
/// add x29, sp, #S_FP; mov x0, sp; bl trampoline_probe_handler; mov lr, x0; restore_all_base_regs;
/// add sp, sp, #PT_REGS_SIZE; ret`), assembled with `llvm-mc --triple=aarch64 --show-encoding`. Index 28 is the
/// `bl`, filled in at install time.
const TRAMPOLINE_5_10: [u32; 50] = [
    0xd10543ff, 0xa90007e0, 0xa9010fe2, 0xa90217e4, 0xa9031fe6, 0xa90427e8, 0xa9052fea, 0xa90637ec, 0xa9073fee,
    0xa90847f0, 0xa9094ff2, 0xa90a57f4, 0xa90b5ff6, 0xa90c67f8, 0xa90d6ffa, 0xa90e77fc, 0x910543e0, 0xa90f03fe,
    0xd53b4200, 0xd53b4221, 0xaa010000, 0xd5384241, 0xaa010000, 0xd5384201, 0xaa010000, 0xa91003ff, 0x9103a3fd,
    0x910003e0, 0x94000000, 0xaa0003fe, 0xf94087e0, 0x92640c00, 0xd51b4200, 0xa94007e0, 0xa9410fe2, 0xa94217e4,
    0xa9431fe6, 0xa94427e8, 0xa9452fea, 0xa94637ec, 0xa9473fee, 0xa94847f0, 0xa9494ff2, 0xa94a57f4, 0xa94b5ff6,
    0xa94c67f8, 0xa94d6ffa, 0xa94e77fc, 0x910543ff, 0xd65f03c0,
];
const TRAMPOLINE_BL_INDEX: usize = 28;

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Installs the profile's trampoline; returns its address.
pub fn install_trampoline(m: &mut dyn Machine, profile: KernelProfile) -> KernelVa {
    match profile {
        KernelProfile::V5_10 => {
            let entry = m.model_entry("trampoline_probe_handler");
            // Where the stub will be: install a placeholder first to learn the address, then the real code.
            let mut code = TRAMPOLINE_5_10;
            let at = m.install_text("kretprobe_trampoline", &words(&code));
            let bl_pc = at.0 + 4 * TRAMPOLINE_BL_INDEX as u64;
            let imm26 = ((entry.0.wrapping_sub(bl_pc) as i64 >> 2) as u32) & 0x03ff_ffff;
            code[TRAMPOLINE_BL_INDEX] = 0x9400_0000 | imm26;
            // The stub is kernel text written before any CPU ran it, as at boot: plain memory, no patching.
            m.write_text_at_boot(at, &words(&code));
            at
        }
        KernelProfile::V6_12 => {
            let brk = AARCH64_BREAK_MON | (KRETPROBES_BRK_IMM << 5);
            let bug = AARCH64_BREAK_MON | (BUG_BRK_IMM << 5);
            m.install_text("__kretprobe_trampoline", &words(&[brk, bug]))
        }
    }
}

/// Models `arch_prepare_kretprobe`: `ri->ret_addr = lr`; `ri->fp` = the stack pointer (5.10) or x29 (6.12);
/// `lr = trampoline`.
pub fn arch_prepare_kretprobe(profile: KernelProfile, regs: &mut PtRegs, trampoline: KernelVa) -> (u64, u64) {
    let ret = regs.get_by_name("lr").unwrap_or(0);
    let fp = match profile {
        KernelProfile::V5_10 => regs.sp(),
        KernelProfile::V6_12 => regs.get_by_name("fp").unwrap_or(0),
    };
    regs.set_by_name("lr", trampoline.0);
    (ret, fp)
}

/// Models 5.10's `trampoline_probe_handler(regs)`, called by the stub with x0 = the `struct pt_regs` it saved:
/// returns the real return address in x0 and returns to the stub.
pub fn trampoline_probe_handler(k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId) -> TrapAction {
    let mut cpu_regs = m.pt_regs(cpu);
    let frame = KernelVa(cpu_regs.arg(0).unwrap_or(0));
    let mut saved = PtRegs::new(m.isa());
    for i in 0..31u64 {
        let v = m.read_u64(frame.add(8 * i)).unwrap_or(0);
        let name = match i {
            29 => "fp".to_string(),
            30 => "lr".to_string(),
            _ => format!("x{i}"),
        };
        saved.set_by_name(&name, v);
    }
    let sp = m.read_u64(frame.add(S_SP)).unwrap_or(0);
    saved.set_by_name("sp", sp);
    saved.set_by_name("pstate", m.read_u64(frame.add(S_PSTATE)).unwrap_or(0));
    // kretprobe_trampoline_handler(regs, &kretprobe_trampoline, (void *)kernel_stack_pointer(regs)).
    let Some(ret) = k.kretprobe_trampoline_handler(m, cpu, &mut saved, sp) else {
        return TrapAction::Oops { oops: Oops::KretprobeNoInstance };
    };
    let _ = m.write(frame.add(S_PC), &ret.to_le_bytes());
    let _ = m.write(frame, &saved.return_value().to_le_bytes());
    // return orig_ret_address (x0); the `bl` set lr to the stub's next instruction.
    let back = cpu_regs.get_by_name("lr").unwrap_or(0);
    cpu_regs.set_arg(0, ret);
    cpu_regs.set_ip(back);
    m.set_pt_regs(cpu, &cpu_regs);
    TrapAction::Resume
}

/// Models 6.12's `kretprobe_breakpoint_handler` for `BRK #7`: `regs->pc = kretprobe_trampoline_handler(regs,
/// (void *)regs->regs[29])`.
pub fn kretprobe_breakpoint_handler(k: &mut KernelCore, m: &mut dyn Machine, cpu: CpuId, mut regs: PtRegs) -> Option<TrapAction> {
    if Some(KernelVa(regs.ip())) != k.kretprobes.trampoline {
        return None;
    }
    let fp = regs.get_by_name("fp").unwrap_or(0);
    let Some(ret) = k.kretprobe_trampoline_handler(m, cpu, &mut regs, fp) else {
        return Some(TrapAction::Oops { oops: Oops::KretprobeNoInstance });
    };
    regs.set_ip(ret);
    m.set_pt_regs(cpu, &regs);
    m.context_synchronize(cpu, SyncReason::Eret);
    Some(TrapAction::Resume)
}
