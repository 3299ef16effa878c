//! Unit tests of [`super`].

use super::*;
use crate::arch::x86_64::kprobes::test_fixtures::*;
use crate::ptrace::x86_64::*;
use crate::machine::GuestMemory;
use crate::KernelVa;

#[test]
fn emulate_call_and_its_fixed_return_address() {
    let (mut mem, _) = one_function(&[]);
    let mut regs = regs_at_int3();
    run(&[0xe8, 0x10, 0, 0, 0], &mut regs, &mut mem);
    assert_eq!((regs.ip, regs.sp, mem.u64_at(STACK - 8)), (TEXT + 5 + 0x10, STACK - 8, TEXT + 5));
    // A 6-byte (66-prefixed) call: the target uses the real size, the pushed return address assumes 5 bytes.
    let mut regs = regs_at_int3();
    run(&[0x66, 0xe8, 0x10, 0, 0, 0], &mut regs, &mut mem);
    assert_eq!((regs.ip, mem.u64_at(STACK - 8)), (TEXT + 6 + 0x10, TEXT + 5));
    // Backwards call.
    let mut regs = regs_at_int3();
    run(&[0xe8, 0xfb, 0xff, 0xff, 0xff], &mut regs, &mut mem);
    assert_eq!(regs.ip, TEXT);
}

#[test]
fn emulate_indirect_call_and_jmp() {
    let (mut mem, _) = one_function(&[]);
    // call *%r11 (41 ff d3): REX.B selects r11; the return address uses the real size (v6.7 fix).
    let mut regs = regs_at_int3();
    regs.r11 = 0xffff_ffff_8123_4560;
    let kp = run(&[0x41, 0xff, 0xd3], &mut regs, &mut mem);
    assert_eq!(kp.ainsn.indirect_reg, 11);
    assert_eq!((regs.ip, regs.sp, mem.u64_at(STACK - 8)), (0xffff_ffff_8123_4560, STACK - 8, TEXT + 3));
    // call *%rsp jumps to the old rsp.
    let mut regs = regs_at_int3();
    run(&[0xff, 0xd4], &mut regs, &mut mem);
    assert_eq!((regs.ip, mem.u64_at(STACK - 8)), (STACK, TEXT + 2));
    // jmp *%r11 (41 ff e3)
    let mut regs = regs_at_int3();
    regs.r11 = 0xffff_ffff_8100_1230;
    run(&[0x41, 0xff, 0xe3], &mut regs, &mut mem);
    assert_eq!((regs.ip, regs.sp), (0xffff_ffff_8100_1230, STACK));
    // addrmode order
    let r = PtRegs {
        ax: 0,
        cx: 1,
        dx: 2,
        bx: 3,
        sp: 4,
        bp: 5,
        si: 6,
        di: 7,
        r8: 8,
        r9: 9,
        r10: 10,
        r11: 11,
        r12: 12,
        r13: 13,
        r14: 14,
        r15: 15,
        ..PtRegs::default()
    };
    for i in 0..16u8 {
        assert_eq!(addrmode_reg(&r, i), u64::from(i));
    }
}

#[test]
fn emulate_ret_jmp_and_ifmodifiers() {
    let (mut mem, _) = one_function(&[]);
    mem.write(KernelVa(STACK), &0xffff_ffff_8100_4444u64.to_le_bytes()).unwrap();
    let mut regs = regs_at_int3();
    run(&[0xc3], &mut regs, &mut mem);
    assert_eq!((regs.ip, regs.sp), (0xffff_ffff_8100_4444, STACK + 8));
    // ret $8 pops only the return address (the kernel ignores the immediate).
    let mut regs = regs_at_int3();
    run(&[0xc2, 0x08, 0x00], &mut regs, &mut mem);
    assert_eq!(regs.sp, STACK + 8);
    let mut regs = regs_at_int3();
    run(&[0xeb, 0xfe], &mut regs, &mut mem);
    assert_eq!(regs.ip, TEXT);
    let mut regs = regs_at_int3();
    run(&[0xe9, 0x00, 0x01, 0, 0], &mut regs, &mut mem);
    assert_eq!(regs.ip, TEXT + 5 + 0x100);
    // pushf / popf / cli / sti
    let mut regs = regs_at_int3();
    run(&[0x9c], &mut regs, &mut mem);
    assert_eq!((regs.ip, regs.sp, mem.u64_at(STACK - 8)), (TEXT + 1, STACK - 8, 0x246));
    let mut regs = regs_at_int3();
    mem.write(KernelVa(STACK), &0x8d7u64.to_le_bytes()).unwrap();
    run(&[0x9d], &mut regs, &mut mem);
    assert_eq!((regs.flags, regs.sp, regs.ip), (0x8d7, STACK + 8, TEXT + 1));
    let mut regs = regs_at_int3();
    run(&[0xfa], &mut regs, &mut mem);
    assert_eq!(regs.flags & X86_EFLAGS_IF, 0);
    run(&[0xfb], &mut regs, &mut mem);
    assert_ne!(regs.flags & X86_EFLAGS_IF, 0);
    // A stack fault leaves the registers alone.
    let mut regs = regs_at_int3();
    regs.sp = 0x1000;
    let kp = prepare_one(&[0x9c], C612);
    assert!(EmulateOp::Ifmodifiers.emulate(&kp.ainsn, &mut regs, &mut mem).is_err());
    assert_eq!((regs.sp, regs.ip), (0x1000, TEXT + 1));
}

/// Architectural Jcc semantics (SDM Jcc table), independent of the kernel's mask table.
fn jcc_reference(cc: u8, f: u64) -> bool {
    let (cf, zf, sf, of, pf) = (
        f & X86_EFLAGS_CF != 0,
        f & X86_EFLAGS_ZF != 0,
        f & X86_EFLAGS_SF != 0,
        f & X86_EFLAGS_OF != 0,
        f & X86_EFLAGS_PF != 0,
    );
    let base = match cc >> 1 {
        0 => of,
        1 => cf,
        2 => zf,
        3 => cf || zf,
        4 => sf,
        5 => pf,
        6 => sf != of,
        _ => zf || sf != of,
    };
    base != (cc & 1 == 1)
}

#[test]
fn emulate_jcc_matches_the_architecture_for_every_condition() {
    let bits = [X86_EFLAGS_CF, X86_EFLAGS_PF, X86_EFLAGS_ZF, X86_EFLAGS_SF, X86_EFLAGS_OF];
    for cc in 0..16u8 {
        for combo in 0..32u32 {
            let flags =
                0x202 | bits.iter().enumerate().filter(|(i, _)| combo & (1 << i) != 0).fold(0, |a, (_, b)| a | b);
            assert_eq!(int3_emulate_jcc_taken(flags, cc), jcc_reference(cc, flags), "cc {cc:x} flags {flags:#x}");
        }
    }
    let (mut mem, _) = one_function(&[]);
    // je .+0x12: taken with ZF, else falls through.
    let mut regs = regs_at_int3();
    regs.flags |= X86_EFLAGS_ZF;
    run(&[0x74, 0x10], &mut regs, &mut mem);
    assert_eq!(regs.ip, TEXT + 2 + 0x10);
    let mut regs = regs_at_int3();
    regs.flags &= !X86_EFLAGS_ZF;
    run(&[0x74, 0x10], &mut regs, &mut mem);
    assert_eq!(regs.ip, TEXT + 2);
    // jl rel32 backwards (0f 8c): SF != OF
    let mut regs = regs_at_int3();
    regs.flags = 0x202 | X86_EFLAGS_SF;
    run(&[0x0f, 0x8c, 0x00, 0xff, 0xff, 0xff], &mut regs, &mut mem);
    assert_eq!(regs.ip, (TEXT + 6).wrapping_sub(0x100));
}

#[test]
fn emulate_loop_keeps_the_kernels_post_decrement() {
    let (mut mem, _) = one_function(&[]);
    let loop_with = |bytes: &[u8], cx: u64, flags: u64, mem: &mut Mem| {
        let mut regs = regs_at_int3();
        regs.cx = cx;
        regs.flags = flags;
        let kp = run(bytes, &mut regs, mem);
        (regs.ip - TEXT - u64::from(kp.ainsn.size), regs.cx)
    };
    let fwd = [0xe2, 0x10]; // loop .+0x12
    assert_eq!(loop_with(&fwd, 5, 0x202, &mut mem), (0x10, 4));
    // Hardware: rcx 1 -> 0, not taken. The kernel tests the old value: taken.
    assert_eq!(loop_with(&fwd, 1, 0x202, &mut mem), (0x10, 0));
    // Hardware: rcx 0 -> ~0, taken. Kernel: not taken.
    assert_eq!(loop_with(&fwd, 0, 0x202, &mut mem), (0, u64::MAX));
    // addr32 loop: only ecx, upper half kept.
    assert_eq!(loop_with(&[0x67, 0xe2, 0x10], 0x1_0000_0000, 0x202, &mut mem), (0, 0x1_ffff_ffff));
    assert_eq!(loop_with(&[0x67, 0xe2, 0x10], 0x1_0000_0003, 0x202, &mut mem), (0x10, 0x1_0000_0002));
    // loopne needs ZF clear, loope ZF set.
    assert_eq!(loop_with(&[0xe0, 0x10], 5, 0x202 | X86_EFLAGS_ZF, &mut mem), (0, 4));
    assert_eq!(loop_with(&[0xe0, 0x10], 5, 0x202, &mut mem), (0x10, 4));
    assert_eq!(loop_with(&[0xe1, 0x10], 5, 0x202 | X86_EFLAGS_ZF, &mut mem), (0x10, 4));
    assert_eq!(loop_with(&[0xe1, 0x10], 5, 0x202, &mut mem), (0, 4));
    // jrcxz: no decrement.
    assert_eq!(loop_with(&[0xe3, 0x10], 0, 0x202, &mut mem), (0x10, 0));
    assert_eq!(loop_with(&[0xe3, 0x10], 7, 0x202, &mut mem), (0, 7));
    assert_eq!(loop_with(&[0x67, 0xe3, 0x10], 0x1_0000_0000, 0x202, &mut mem), (0x10, 0x1_0000_0000));
}
