//! Unit tests of [`super`].

use super::*;
use crate::arch::x86_64::kprobes::test_fixtures::*;
use crate::ptrace::x86_64::*;
use crate::machine::GuestMemory;
use crate::KernelVa;

#[test]
fn saved_flags_and_resume_singlestep() {
    let flags = 0x346; // TF | IF | ZF | PF | reserved
    assert_eq!(
        set_current_kprobe_flags(KernelProfile::V5_10, flags, false),
        KprobeSavedFlags { old_flags: 0x300, saved_flags: 0x300 }
    );
    assert_eq!(
        set_current_kprobe_flags(KernelProfile::V5_10, flags, true),
        KprobeSavedFlags { old_flags: 0x300, saved_flags: 0x100 }
    );
    assert_eq!(
        set_current_kprobe_flags(KernelProfile::V6_12, flags, true),
        KprobeSavedFlags { old_flags: 0x200, saved_flags: 0x200 }
    );
    // v6.12: the second int3 after a 3-byte copy at SLOT: ip = SLOT + 4 -> TEXT + 3.
    let mut regs = PtRegs { ip: SLOT + 4, flags: 0x46, ..PtRegs::default() };
    resume_singlestep(KernelVa(TEXT), KernelVa(SLOT), X86_EFLAGS_IF, &mut regs);
    assert_eq!((regs.ip, regs.flags), (TEXT + 3, 0x246));
}

#[test]
fn resume_execution_v5_10() {
    let (mut mem, _) = one_function(&[]);
    let (orig, copy) = (KernelVa(TEXT), KernelVa(SLOT));
    let stepped = |ip: u64| PtRegs { ip, sp: STACK - 8, flags: 0x346, ..PtRegs::default() };

    // call rel32 stepped in the slot: return address and ip are relative to the copy.
    mem.write(KernelVa(STACK - 8), &(SLOT + 5).to_le_bytes()).unwrap();
    let mut regs = stepped(SLOT + 5 + 0x10);
    let r = resume_execution(&[0xe8, 0x10, 0, 0, 0], orig, copy, 0x200, &mut regs, &mut mem).unwrap();
    assert_eq!((regs.ip, mem.u64_at(STACK - 8), r.now_boostable), (TEXT + 5 + 0x10, TEXT + 5, false));
    assert_eq!(regs.flags & X86_EFLAGS_TF, 0);

    // pushf: the pushed flags get TF/IF from old_flags.
    mem.write(KernelVa(STACK - 8), &0x346u64.to_le_bytes()).unwrap();
    let mut regs = stepped(SLOT + 1);
    resume_execution(&[0x9c], orig, copy, 0, &mut regs, &mut mem).unwrap();
    assert_eq!((regs.ip, mem.u64_at(STACK - 8)), (TEXT + 1, 0x046));

    // ret: ip is already right; boostable from now on.
    let mut regs = stepped(0xffff_ffff_8100_9999);
    let r = resume_execution(&[0xc3], orig, copy, 0, &mut regs, &mut mem).unwrap();
    assert_eq!((regs.ip, r.now_boostable), (0xffff_ffff_8100_9999, true));

    // call *%rax: return address rebased, ip kept; not boostable.
    mem.write(KernelVa(STACK - 8), &(SLOT + 2).to_le_bytes()).unwrap();
    let mut regs = stepped(0xffff_ffff_8100_7777);
    let r = resume_execution(&[0xff, 0xd0], orig, copy, 0, &mut regs, &mut mem).unwrap();
    assert_eq!((regs.ip, mem.u64_at(STACK - 8), r.now_boostable), (0xffff_ffff_8100_7777, TEXT + 2, false));

    // notrack jmp *(%rax) and ljmp *(%rax) (ff /5): ip kept, boostable.
    for bytes in [&[0x3e, 0xff, 0x20][..], &[0xff, 0x28]] {
        let mut regs = stepped(0xffff_ffff_8100_5555);
        let r = resume_execution(bytes, orig, copy, 0, &mut regs, &mut mem).unwrap();
        assert_eq!((regs.ip, r.now_boostable), (0xffff_ffff_8100_5555, true), "{bytes:02x?}");
    }

    // Anything else (here a REX-prefixed mov, and a jcc taken in the slot): ip rebased.
    let mut regs = stepped(SLOT + 3);
    resume_execution(&[0x48, 0x89, 0xe5], orig, copy, 0, &mut regs, &mut mem).unwrap();
    assert_eq!(regs.ip, TEXT + 3);
    let mut regs = stepped(SLOT + 2 + 0x10);
    resume_execution(&[0x75, 0x10], orig, copy, 0, &mut regs, &mut mem).unwrap();
    assert_eq!(regs.ip, TEXT + 2 + 0x10);
}
