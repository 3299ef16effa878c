//! Unit tests of [`super`].

use super::*;
use crate::arch::x86_64::kprobes::{emulate::*, resume::*, test_fixtures::*};
use crate::ptrace::x86_64::*;
use crate::kallsyms::{Kallsyms, Symbol, SymbolKind};
use crate::machine::GuestMemory;
use crate::profile::KernelProfile;
use crate::KernelVa;
use std::collections::{BTreeMap, BTreeSet};

/// Encodings from `echo '<insn>' | llvm-mc --triple=x86_64 --show-encoding` (or `as` + `objdump -d`).
/// Columns: v5.10 (PREEMPTION=n), v6.12 defaults (PREEMPTION=y), v6.12 with PREEMPTION=n; no post handler.
#[rustfmt::skip]
const TABLE: &[(&str, &[u8], [&str; 3])] = &[
    ("push %rbp",                 &[0x55],                                   ["boosted", "single-step", "boosted"]),
    ("ret",                       &[0xc3],                                   ["boosted", "emulated:ret", "boosted"]),
    ("ret $8",                    &[0xc2, 0x08, 0x00],                       ["boosted", "emulated:ret", "boosted"]),
    ("call .+5",                  &[0xe8, 0, 0, 0, 0],                       ["single-step", "emulated:call", "emulated:call"]),
    ("data16 call (66 e8 rel32)", &[0x66, 0xe8, 0, 0, 0, 0],                 ["single-step", "emulated:call", "emulated:call"]),
    ("jne .+0x12",                &[0x75, 0x10],                             ["single-step", "emulated:jcc", "emulated:jcc"]),
    ("je .+0x16 (rel32)",         &[0x0f, 0x84, 0x10, 0, 0, 0],              ["single-step", "emulated:jcc", "emulated:jcc"]),
    ("jmp .+0x12",                &[0xeb, 0x10],                             ["single-step", "emulated:jmp", "emulated:jmp"]),
    ("jmp .+0x15 (rel32)",        &[0xe9, 0x10, 0, 0, 0],                    ["single-step", "emulated:jmp", "emulated:jmp"]),
    ("call *%rax",                &[0xff, 0xd0],                             ["single-step", "emulated:call_indirect", "emulated:call_indirect"]),
    ("jmp *%rax",                 &[0xff, 0xe0],                             ["single-step", "emulated:jmp_indirect", "boosted"]),
    ("call *0x0(,%rax,8)",        &[0xff, 0x14, 0xc5, 0, 0, 0, 0],           ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("notrack jmp *0x0(,%rdi,8)", &[0x3e, 0xff, 0x24, 0xfd, 0, 0, 0, 0],     ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("addr32 call *%rax",         &[0x67, 0xff, 0xd0],                       ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("lcall *(%rax)",             &[0xff, 0x18],                             ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("pushf",                     &[0x9c],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
    ("popf",                      &[0x9d],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
    ("cli",                       &[0xfa],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
    ("sti",                       &[0xfb],                                   ["boosted", "emulated:ifmodifiers", "boosted"]),
    ("int3",                      &[0xcc],                                   ["rejected:EINVAL", "rejected:EILSEQ", "rejected:EILSEQ"]),
    ("ud2",                       &[0x0f, 0x0b],                             ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
    ("ud1 %eax,%eax",             &[0x0f, 0xb9, 0xc0],                       ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
    ("int $0x80",                 &[0xcd, 0x80],                             ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
    ("int1",                      &[0xf1],                                   ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
    ("into (i64)",                &[0xce],                                   ["single-step", "rejected:EILSEQ", "rejected:EILSEQ"]),
    ("mov %eax,%ss",              &[0x8e, 0xd0],                             ["rejected:EINVAL", "rejected:EINVAL", "rejected:EINVAL"]),
    ("ljmp $0x10,$0x12345678",    &[0xea, 0x78, 0x56, 0x34, 0x12, 0x10, 0],  ["boosted", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("lcall $0x10,$0x12345678",   &[0x9a, 0x78, 0x56, 0x34, 0x12, 0x10, 0],  ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("iretq",                     &[0x48, 0xcf],                             ["boosted", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("vmcall",                    &[0x0f, 0x01, 0xc1],                       ["single-step", "rejected:EOPNOTSUPP", "rejected:EOPNOTSUPP"]),
    ("loop .",                    &[0xe2, 0xfe],                             ["single-step", "emulated:loop", "emulated:loop"]),
    ("jrcxz .",                   &[0xe3, 0xfe],                             ["single-step", "emulated:loop", "emulated:loop"]),
    ("mov 0x10(%rip),%rax",       &[0x48, 0x8b, 0x05, 0x10, 0, 0, 0],        ["boosted", "single-step", "boosted"]),
    ("endbr64",                   &[0xf3, 0x0f, 0x1e, 0xfa],                 ["single-step", "single-step", "single-step"]),
    ("nopl 0x0(%rax,%rax,1)",     &[0x0f, 0x1f, 0x44, 0, 0],                 ["boosted", "single-step", "boosted"]),
    ("cs nopw 0x0(%rax,%rax,1)",  &[0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0],  ["boosted", "single-step", "boosted"]),
    ("addr32 mov (%eax),%eax",    &[0x67, 0x8b, 0x00],                       ["boosted", "single-step", "single-step"]),
    ("cs mov (%rax),%eax",        &[0x2e, 0x8b, 0x00],                       ["boosted", "single-step", "single-step"]),
    ("vpshufd $0x1b,%xmm0,%xmm0", &[0xc5, 0xf9, 0x70, 0xc0, 0x1b],           ["single-step", "emulated:jcc", "emulated:jcc"]),
    ("vpsubd %xmm0,%xmm0,%xmm0",  &[0xc5, 0xf9, 0xfa, 0xc0],                 ["boosted", "emulated:ifmodifiers", "boosted"]),
    ("vmovdqu (%rsi),%ymm0",      &[0xc5, 0xfe, 0x6f, 0x06],                 ["boosted", "single-step", "boosted"]),
    ("15-byte nopw",              &[0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0],
                                                                             ["single-step", "rejected:ENOSPC", "rejected:ENOSPC"]),
    ("movq $1,0x100(%rsp)",       &[0x48, 0xc7, 0x84, 0x24, 0, 1, 0, 0, 1, 0, 0, 0],
                                                                             ["single-step", "single-step", "single-step"]),
    ("lock xadd %edx,0x0(%rip)",  &[0xf0, 0x0f, 0xc1, 0x15, 0, 0, 0, 0],     ["boosted", "single-step", "boosted"]),
    ("lock incl 0x0(%rip)",       &[0xf0, 0xff, 0x05, 0, 0, 0, 0],           ["single-step", "single-step", "boosted"]),
    ("neg %rax",                  &[0x48, 0xf7, 0xd8],                       ["single-step", "single-step", "boosted"]),
    ("test $1,%eax (f7 /0)",      &[0xf7, 0xc0, 1, 0, 0, 0],                 ["single-step", "single-step", "boosted"]),
    ("divl 0x0(%rip)",            &[0xf7, 0x35, 0, 0, 0, 0],                 ["single-step", "single-step", "boosted"]),
    ("shl $4,%rdi",               &[0x48, 0xc1, 0xe7, 0x04],                 ["single-step", "single-step", "boosted"]),
    ("sal %eax (d1 /6)",          &[0xd1, 0xf0],                             ["single-step", "single-step", "single-step"]),
    ("inc %al",                   &[0xfe, 0xc0],                             ["single-step", "single-step", "boosted"]),
    ("push (%rax) (ff /6)",       &[0xff, 0x30],                             ["single-step", "single-step", "single-step"]),
    ("hlt",                       &[0xf4],                                   ["single-step", "single-step", "single-step"]),
    ("syscall",                   &[0x0f, 0x05],                             ["single-step", "single-step", "single-step"]),
    ("rep stos %rax,%es:(%rdi)",  &[0xf3, 0x48, 0xab],                       ["boosted", "single-step", "boosted"]),
    ("xen emulate prefix + cpuid",&[0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2],
                                                                             ["rejected:EINVAL", "rejected:EINVAL", "rejected:EINVAL"]),
];

#[test]
fn classification_table() {
    let cfgs = [C510, C612, C612_NOPREEMPT];
    let mut failures = Vec::new();
    for (what, bytes, expected) in TABLE {
        for (cfg, want) in cfgs.iter().zip(expected) {
            let got = classify_one(bytes, *cfg, false);
            if class_name(&got) != *want {
                failures.push(format!("{what} ({bytes:02x?}) on {:?}: got {got}, want {want}", cfg));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn post_handler_disables_boosting_in_both() {
    assert_eq!(classify_one(&[0x55], C510, true), X86ProbeClass::SingleStep);
    assert_eq!(classify_one(&[0xc3], C510, true), X86ProbeClass::SingleStep);
    assert_eq!(classify_one(&[0x55], C612_NOPREEMPT, true), X86ProbeClass::SingleStep);
    assert_eq!(classify_one(&[0xc3], C612_NOPREEMPT, true), X86ProbeClass::Emulated(EmulateOp::Ret));
    // v5.10 prepares the boost jump anyway; only setup_singlestep looks at the post handler.
    let (mem, ks) = one_function(&[0x55]);
    let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), true, &mem, &ks, &PristineText, C510).unwrap();
    assert!(kp.ainsn.boostable);
    let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), true, &mem, &ks, &PristineText, C612_NOPREEMPT)
        .unwrap();
    assert!(!kp.ainsn.boostable);
    // With CONFIG_PREEMPTION a v5.10 probe is never boosted at the hit, even if prepared boostable.
    let preempt_510 = X86KprobesConfig { preemption: true, ..C510 };
    assert_eq!(classify_one(&[0x55], preempt_510, false), X86ProbeClass::SingleStep);
}

#[test]
fn kernel_names_and_errnos() {
    assert_eq!(X86ProbeClass::Emulated(EmulateOp::Jcc).kernel_name(), "emulated:jcc");
    assert_eq!(X86ProbeClass::Emulated(EmulateOp::CallIndirect).kernel_name(), "emulated:call_indirect");
    assert_eq!(X86ProbeClass::SingleStep.kernel_name(), "single-step");
    assert_eq!(X86ProbeClass::Boosted.kernel_name(), "boosted");
    let r = X86ProbeClass::Rejected(X86PrepareError::CanProbe(CanProbeError::ExceptionInsn));
    assert_eq!(r.kernel_name(), "rejected");
    assert_eq!(-X86PrepareError::CanProbe(CanProbeError::NoSymbol).errno().value(), -84);
    assert_eq!(-X86PrepareError::Copy(CopyError::Int3).errno().value(), -22);
    assert_eq!(-X86PrepareError::Emulation(EmulationError::Iret).errno().value(), -95);
    assert_eq!(-X86PrepareError::NoSpace.errno().value(), -28);
    assert_eq!(-X86PrepareError::AlternativesTextReserved.errno().value(), -22);
    assert_eq!(EmulateOp::Loop.kernel_function(), "kprobe_emulate_loop");
}


#[test]
fn can_probe_walks_from_the_symbol_start() {
    // push %rbp; mov %rsp,%rbp; pop %rbp; ret
    let (mem, ks) = one_function(&[0x55, 0x48, 0x89, 0xe5, 0x5d]);
    for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
        for ok in [0, 1, 4, 5, 6, 7] {
            assert_eq!(can_probe(KernelVa(TEXT + ok), &mem, &ks, &PristineText, p), Ok(()), "+{ok}");
        }
        for mid in [2, 3] {
            assert_eq!(
                can_probe(KernelVa(TEXT + mid), &mem, &ks, &PristineText, p),
                Err(CanProbeError::NotInstructionBoundary {
                    insn_start: KernelVa(TEXT + 1),
                    insn_end: KernelVa(TEXT + 4)
                })
            );
        }
        assert_eq!(can_probe(KernelVa(TEXT - 1), &mem, &ks, &PristineText, p), Err(CanProbeError::NoSymbol));
    }
    let e = classify(KernelVa(TEXT + 2), KernelVa(SLOT), false, &mem, &ks, &PristineText, C612);
    assert_eq!(class_name(&e), "rejected:EILSEQ");
}

#[test]
fn can_probe_int3_before_the_probe_point() {
    // int3; nop; ret: probing the nop.
    let (mem, ks) = one_function(&[0xcc, 0x90]);
    let at = KernelVa(TEXT + 1);
    assert_eq!(
        can_probe(at, &mem, &ks, &PristineText, KernelProfile::V5_10),
        Err(CanProbeError::ForeignInt3 { addr: KernelVa(TEXT) })
    );
    assert_eq!(can_probe(at, &mem, &ks, &PristineText, KernelProfile::V6_12), Ok(()));
    struct Kgdb;
    impl X86KprobesEnv for Kgdb {
        fn kgdb_has_hit_break(&self, addr: KernelVa) -> bool {
            addr == KernelVa(TEXT)
        }
    }
    assert_eq!(
        can_probe(at, &mem, &ks, &Kgdb, KernelProfile::V6_12),
        Err(CanProbeError::KgdbBreakpoint { addr: KernelVa(TEXT) })
    );
}

/// A kprobe is armed at TEXT (its int3 replaced `push %rbp`).
struct ArmedAtText;
impl X86KprobesEnv for ArmedAtText {
    fn kprobe_opcode(&self, addr: KernelVa) -> Option<u8> {
        (addr == KernelVa(TEXT)).then_some(0x55)
    }
}

#[test]
fn recovery_sees_through_an_armed_kprobe() {
    let (mut mem, ks) = one_function(&[0x55, 0x48, 0x89, 0xe5, 0x5d]);
    mem.write(KernelVa(TEXT), &[INT3_INSN_OPCODE]).unwrap();
    for cfg in [C510, C612] {
        // The walk recovers the original byte, so the next instruction is probeable.
        assert_eq!(can_probe(KernelVa(TEXT + 1), &mem, &ks, &ArmedAtText, cfg.profile), Ok(()));
        // Preparing a second probe at the same address copies the original instruction, not the int3.
        let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &ArmedAtText, cfg).unwrap();
        assert_eq!((kp.opcode, kp.slot_bytes[0]), (0x55, 0x55));
    }
    // Without knowing about the probe, v5.10 sees a foreign int3 and v6.12 refuses to probe an int3.
    assert!(can_probe(KernelVa(TEXT + 1), &mem, &ks, &PristineText, KernelProfile::V5_10).is_err());
    assert_eq!(
        can_probe(KernelVa(TEXT), &mem, &ks, &PristineText, KernelProfile::V6_12),
        Err(CanProbeError::ExceptionInsn)
    );
    assert_eq!(
        class_name(&classify(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &PristineText, C510)),
        "rejected:EINVAL"
    );
}

#[test]
fn recovery_of_ftrace_sites() {
    // A traced function: `call __fentry__` where the NOP5 was, then push %rbp.
    struct Ftrace;
    impl X86KprobesEnv for Ftrace {
        fn ftrace_location(&self, addr: KernelVa) -> Option<KernelVa> {
            (addr.0 >= TEXT && addr.0 < TEXT + 5).then_some(KernelVa(TEXT))
        }
    }
    let (mem, ks) = one_function(&[0xe8, 0x11, 0x22, 0x33, 0x44, 0x55]);
    for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
        let RecoveredInsn::Buf(b) = recover_probed_instruction(KernelVa(TEXT), &mem, &Ftrace, p).unwrap() else {
            panic!("not recovered")
        };
        assert_eq!(&b[..6], &[0x0f, 0x1f, 0x44, 0x00, 0x00, 0x55]);
        assert_eq!(can_probe(KernelVa(TEXT + 5), &mem, &ks, &Ftrace, p), Ok(()));
    }
    // v5.10 warns about (and refuses) an address inside the site; v6.12 just uses the text.
    assert_eq!(
        recover_probed_instruction(KernelVa(TEXT + 2), &mem, &Ftrace, KernelProfile::V5_10),
        Err(RecoverError::InsideFtraceSite { ftrace: KernelVa(TEXT) })
    );
    assert_eq!(
        recover_probed_instruction(KernelVa(TEXT + 2), &mem, &Ftrace, KernelProfile::V6_12),
        Ok(RecoveredInsn::Text)
    );
    // The probe on the site itself copies the NOP5 (without KPROBES_ON_FTRACE it would not get here).
    let kp = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &Ftrace, C612).unwrap();
    assert_eq!(kp.slot_bytes, vec![0x0f, 0x1f, 0x44, 0x00, 0x00, 0xcc]);
}

#[test]
fn alternatives_reserved_is_einval() {
    struct Alt;
    impl X86KprobesEnv for Alt {
        fn alternatives_text_reserved(&self, _s: KernelVa, _e: KernelVa) -> bool {
            true
        }
    }
    let (mem, ks) = one_function(&[0x55]);
    let e = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &Alt, C612).unwrap_err();
    assert_eq!(e, X86PrepareError::AlternativesTextReserved);
    assert_eq!(e.errno(), Errno::EINVAL);
}

#[test]
fn rip_relative_displacement_is_rebased_to_the_slot() {
    // mov 0x10(%rip),%rax at TEXT: the data is at TEXT + 7 + 0x10.
    let bytes = [0x48, 0x8b, 0x05, 0x10, 0, 0, 0];
    let (mem, _) = one_function(&bytes);
    let c = __copy_instruction(KernelVa(TEXT), KernelVa(SLOT), &mem, &PristineText, KernelProfile::V6_12).unwrap();
    let newdisp = i32::from_le_bytes(c.dest[3..7].try_into().unwrap());
    assert_eq!(i64::from(newdisp), (TEXT + 0x10) as i64 - SLOT as i64);
    assert_eq!(SLOT.wrapping_add(7).wrapping_add(i64::from(newdisp) as u64), TEXT + 7 + 0x10);
    assert_eq!(c.len, 7);
    assert_eq!(c.insn.displacement.value, 0x10, "the decoded insn keeps the original displacement");
    // VEX RIP-relative: vpshufb 0x10(%rip),%xmm0,%xmm0 = c4 e2 79 00 05 <disp32>, displacement at offset 5.
    let vex = [0xc4, 0xe2, 0x79, 0x00, 0x05, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let c = copy_instruction_bytes(&vex, KernelVa(TEXT), KernelVa(SLOT)).unwrap();
    assert_eq!(i64::from(i32::from_le_bytes(c.dest[5..9].try_into().unwrap())), (TEXT + 0x10) as i64 - SLOT as i64);
    // A slot more than 2 GiB away: the displacement does not fit, -EINVAL.
    let far = 0xffff_8880_0000_0000;
    let e =
        __copy_instruction(KernelVa(TEXT), KernelVa(far), &mem, &PristineText, KernelProfile::V5_10).unwrap_err();
    assert!(matches!(e, CopyError::DisplacementOverflow { .. }), "{e}");
    let (mem, ks) = one_function(&bytes);
    let e = arch_prepare_kprobe(KernelVa(TEXT), KernelVa(far), false, &mem, &ks, &PristineText, C510).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    // A non-RIP-relative instruction is copied verbatim wherever the slot is.
    let c = copy_instruction_bytes(
        &[0x48, 0x8b, 0x45, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        KernelVa(TEXT),
        KernelVa(far),
    )
    .unwrap();
    assert_eq!(&c.dest[..4], &[0x48, 0x8b, 0x45, 0x08]);
}

#[test]
fn copy_refusals() {
    let pad = |b: &[u8]| {
        let mut a = [0x90u8; MAX_INSN_SIZE];
        a[..b.len()].copy_from_slice(b);
        a
    };
    let t = KernelVa(TEXT);
    let s = KernelVa(SLOT);
    assert_eq!(copy_instruction_bytes(&pad(&[0xcc]), t, s).unwrap_err(), CopyError::Int3);
    assert_eq!(copy_instruction_bytes(&pad(&[0x8e, 0xd0]), t, s).unwrap_err(), CopyError::MaskingException);
    assert_eq!(
        copy_instruction_bytes(&pad(&[0x0f, 0x0b, 0x6b, 0x76, 0x6d, 0x90]), t, s).unwrap_err(),
        CopyError::EmulatePrefix
    );
    // The text is unreadable beyond 3 bytes: copy_from_kernel_nofault(MAX_INSN_SIZE) fails.
    let mut mem = empty_mem();
    mem.map(TEXT, vec![0x55, 0x90, 0x90]);
    assert!(matches!(__copy_instruction(t, s, &mem, &PristineText, KernelProfile::V6_12), Err(CopyError::Read(_))));
}

#[test]
fn slot_layouts() {
    // v5.10 boosted: copy + jmp back to addr+len.
    let kp = prepare_one(&[0x55], C510);
    let rel = (TEXT + 1).wrapping_sub(SLOT + 1 + 5) as i64 as i32;
    let mut want = vec![0x55, 0xe9];
    want.extend_from_slice(&rel.to_le_bytes());
    assert_eq!(kp.slot_bytes, want);
    assert!(kp.ainsn.boostable);
    assert_eq!(kp.ainsn.tp_len, 6);
    // v5.10 not boostable: the copy only (TF single-step needs nothing after it).
    let kp = prepare_one(&[0xe8, 0, 0, 0, 0], C510);
    assert_eq!((kp.slot_bytes.len(), kp.ainsn.boostable), (5, false));
    // v5.10 boostable but too long for the jmp (12 + 5 > 15).
    let kp = prepare_one(&[0x48, 0xc7, 0x84, 0x24, 0, 1, 0, 0, 1, 0, 0, 0], C510);
    assert_eq!((kp.slot_bytes.len(), kp.ainsn.boostable), (12, false));
    // v6.12 with PREEMPTION: copy + int3.
    let kp = prepare_one(&[0x55], C612);
    assert_eq!(kp.slot_bytes, vec![0x55, 0xcc]);
    // v6.12 without PREEMPTION: same boost layout as v5.10.
    let kp = prepare_one(&[0x55], C612_NOPREEMPT);
    assert_eq!(kp.slot_bytes, want);
    // v6.12 emulated instructions still get copy + int3 in the slot (never executed).
    let kp = prepare_one(&[0x75, 0x10], C612);
    assert_eq!(kp.slot_bytes, vec![0x75, 0x10, 0xcc]);
    assert_eq!(
        (kp.ainsn.emulate_op, kp.ainsn.jcc_type, kp.ainsn.rel32, kp.ainsn.size),
        (Some(EmulateOp::Jcc), 5, 0x10, 2)
    );
    // 14 bytes still fit the int3.
    let kp = prepare_one(&[0x66, 0x66, 0x66, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0], C612);
    assert_eq!(kp.slot_bytes.len(), 15);
    // p->opcode is the first byte, which may be a prefix.
    assert_eq!(prepare_one(&[0xf0, 0x0f, 0xc1, 0x15, 0, 0, 0, 0], C612).opcode, 0xf0);
    // v5.10 if_modifier
    assert!(prepare_one(&[0xfa], C510).ainsn.if_modifier);
    assert!(prepare_one(&[0x9d], C510).ainsn.if_modifier);
    assert!(prepare_one(&[0x48, 0xcf], C510).ainsn.if_modifier);
    assert!(!prepare_one(&[0x9c], C510).ainsn.if_modifier);
}

#[test]
fn synthesize_reljump_matches_the_kernel_layout() {
    assert_eq!(synthesize_reljump(KernelVa(0x1000), KernelVa(0x1005)), [0xe9, 0, 0, 0, 0]);
    assert_eq!(synthesize_reljump(KernelVa(0x1000), KernelVa(0x1000)), [0xe9, 0xfb, 0xff, 0xff, 0xff]);
    assert_eq!(synthesize_relcall(KernelVa(0x1000), KernelVa(0x2005)), [0xe8, 0, 0x10, 0, 0]);
}


#[test]
fn arch_adjust_kprobe_addr_skips_endbr_on_v6_12_with_ibt() {
    let (mut mem, _) = one_function(&[0xf3, 0x0f, 0x1e, 0xfa, 0x55]);
    let f = KernelVa(TEXT);
    assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, C612), Ok((KernelVa(TEXT + 4), true)));
    assert_eq!(arch_adjust_kprobe_addr(f, 4, &mem, C612), Ok((KernelVa(TEXT + 4), true)));
    assert_eq!(arch_adjust_kprobe_addr(f, 5, &mem, C612), Ok((KernelVa(TEXT + 5), false)));
    let no_ibt = X86KprobesConfig { kernel_ibt: false, ..C612 };
    assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, no_ibt), Ok((f, true)));
    assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, C510), Ok((f, true)));
    assert_eq!(arch_adjust_kprobe_addr(f, 4, &mem, C510), Ok((KernelVa(TEXT + 4), false)));
    // A poisoned ENDBR (osp nopl (%rax)) counts too.
    mem.write(f, &[0x66, 0x0f, 0x1f, 0x00]).unwrap();
    assert_eq!(arch_adjust_kprobe_addr(f, 0, &mem, C612), Ok((KernelVa(TEXT + 4), true)));
}

#[test]
fn kallsyms_size_reaches_the_next_symbol() {
    let ks = Kallsyms::new(vec![
        text_sym("a", 0x1000, 0x10),
        text_sym("b", 0x1040, 0x8),
        Symbol { name: "d".into(), addr: KernelVa(0x2000), size: 8, kind: SymbolKind::Data, global: false },
    ]);
    assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x1000)), Some((0x40, 0)));
    assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x1030)), Some((0x40, 0x30)), "padding");
    assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x1047)), Some((0xfc0, 7)));
    assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0x2000)), None, "data");
    assert_eq!(kallsyms_lookup_size_offset(&ks, KernelVa(0xfff)), None);
}

#[test]
fn random_text_never_panics() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    let interesting = [
        0x0f, 0x66, 0x67, 0x2e, 0x3e, 0xf0, 0xf3, 0x48, 0x41, 0xc4, 0xc5, 0x62, 0xff, 0xe8, 0xe9, 0xeb, 0x70, 0x75,
        0xe0, 0xe2, 0xe3, 0xc2, 0xc3, 0xcf, 0x9a, 0xea, 0x9c, 0x9d, 0xfa, 0xfb, 0xcc, 0x8e,
    ];
    let mut emulated = 0;
    for round in 0..1500 {
        let mut body = [0u8; 24];
        for b in body.iter_mut() {
            let r = next();
            *b = if r % 3 == 0 { interesting[(r >> 8) as usize % interesting.len()] } else { (r >> 16) as u8 };
        }
        let (mut mem, ks) = one_function(&body);
        for off in 0..8u64 {
            for cfg in [C510, C612, C612_NOPREEMPT] {
                let post = round % 2 == 0;
                let at = KernelVa(TEXT + off);
                let Ok(kp) = arch_prepare_kprobe(at, KernelVa(SLOT), post, &mem, &ks, &PristineText, cfg) else {
                    continue;
                };
                assert!(kp.slot_bytes.len() <= MAX_INSN_SIZE && kp.slot_bytes.len() == kp.ainsn.tp_len);
                let mut regs = PtRegs { ip: at.0 + 1, sp: STACK, flags: next(), cx: next(), ..PtRegs::default() };
                if let Some(op) = kp.ainsn.emulate_op {
                    emulated += 1;
                    let _ = op.emulate(&kp.ainsn, &mut regs, &mut mem);
                }
                if cfg.profile == KernelProfile::V5_10 {
                    let mut regs = PtRegs { ip: SLOT + 3, sp: STACK, ..PtRegs::default() };
                    let _ = resume_execution(&kp.slot_bytes, at, KernelVa(SLOT), 0x200, &mut regs, &mut mem);
                }
            }
        }
    }
    assert!(emulated > 100);
}

// -----------------------------------------------------------------------------------------------------------
// The fixtures: every offset of every function of fixtures/x86-probe-targets/*.objdump.txt
// -----------------------------------------------------------------------------------------------------------

struct Dump {
    mem: Mem,
    kallsyms: Kallsyms,
    /// (name, start, size)
    funcs: Vec<(String, u64, u64)>,
    /// instruction start -> (length, mnemonic text)
    insns: BTreeMap<u64, (usize, String)>,
}

/// Parses `objdump -dr` output: section headers, `<function>:` headers, instruction lines (address, bytes,
/// mnemonic), continuation lines (bytes only) and relocation lines (skipped).
fn parse_objdump(text: &str) -> Dump {
    let mut sections: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut heads: Vec<(String, u64)> = Vec::new();
    let mut insns: BTreeMap<u64, (usize, String)> = BTreeMap::new();
    let mut last_insn: Option<u64> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Disassembly of section ") {
            let base = if name.trim_end_matches(':') == ".text" { TEXT } else { COLD };
            sections.push((base, Vec::new()));
            continue;
        }
        let Some((base, bytes)) = sections.last_mut() else { continue };
        if line.len() > 19 && line.ends_with(">:") && line.as_bytes()[16] == b' ' {
            let off = u64::from_str_radix(&line[..16], 16).unwrap();
            heads.push((line[18..line.len() - 2].to_string(), *base + off));
            continue;
        }
        let t = line.trim_start();
        let Some((addr, rest)) = t.split_once(':') else { continue };
        let (Ok(off), Some(rest)) = (u64::from_str_radix(addr, 16), rest.strip_prefix('\t')) else { continue };
        let (hex, mnemonic) = rest.split_once('\t').unwrap_or((rest, ""));
        let data: Vec<u8> = hex.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
        let at = usize::try_from(off).unwrap();
        if bytes.len() < at + data.len() {
            bytes.resize(at + data.len(), 0);
        }
        bytes[at..at + data.len()].copy_from_slice(&data);
        let va = *base + off;
        if mnemonic.trim().is_empty() {
            let start = last_insn.unwrap();
            insns.get_mut(&start).unwrap().0 += data.len();
        } else {
            insns.insert(va, (data.len(), mnemonic.trim().to_string()));
            last_insn = Some(va);
        }
    }
    let mut funcs = Vec::new();
    for (i, (name, start)) in heads.iter().enumerate() {
        let (base, bytes) = sections.iter().rev().find(|(b, _)| b <= start).unwrap();
        let section_end = base + bytes.len() as u64;
        let end =
            heads.get(i + 1).map(|(_, s)| *s).filter(|s| *s <= section_end && s > start).unwrap_or(section_end);
        funcs.push((name.clone(), *start, end - start));
    }
    let mut mem = empty_mem();
    for (base, mut bytes) in sections {
        // The text goes on after the object (other functions): keep 15-byte reads near the end mapped.
        bytes.extend_from_slice(&[0xcc; 64]);
        mem.map(base, bytes);
    }
    let kallsyms = Kallsyms::new(funcs.iter().map(|(n, a, s)| text_sym(n, *a, *s)).collect());
    Dump { mem, kallsyms, funcs, insns }
}

const PLAIN: &str = include_str!("../../../../../../fixtures/x86-probe-targets/x86-probe-targets.objdump.txt");
const IBT: &str = include_str!("../../../../../../fixtures/x86-probe-targets/x86-probe-targets-ibt.objdump.txt");

#[test]
fn fixture_decoder_agrees_with_objdump() {
    for text in [PLAIN, IBT] {
        let d = parse_objdump(text);
        assert!(d.insns.len() > 150);
        for (&va, (len, mnemonic)) in &d.insns {
            let mut buf = [0u8; MAX_INSN_SIZE];
            d.mem.read(KernelVa(va), &mut buf).unwrap();
            let insn = insn_decode_kernel(&buf).unwrap_or_else(|e| panic!("{va:#x} {mnemonic}: {e}"));
            assert_eq!(insn.len(), *len, "{va:#x} {mnemonic}");
            // The kernel-style field offsets add up to the length.
            let fields = insn_offset_immediate(&insn)
                + usize::from(insn.immediate.nbytes)
                + usize::from(insn.immediate2.nbytes);
            assert_eq!(fields, *len, "{va:#x} {mnemonic}");
            assert_eq!(insn_rip_relative(&insn), mnemonic.contains("(%rip)"), "{va:#x} {mnemonic}");
        }
    }
}

#[test]
fn fixture_every_offset_of_every_function() {
    let cfgs =
        [(C510, false), (C510, true), (C612, false), (C612, true), (C612_NOPREEMPT, false), (C612_NOPREEMPT, true)];
    let mut checked = 0usize;
    for text in [PLAIN, IBT] {
        let d = parse_objdump(text);
        let starts: BTreeSet<u64> = d.insns.keys().copied().collect();
        let mut tally: BTreeMap<(KernelProfile, String), usize> = BTreeMap::new();
        for (name, start, size) in &d.funcs {
            for va in *start..start + size {
                for (cfg, post) in cfgs {
                    let c = classify(KernelVa(va), KernelVa(SLOT), post, &d.mem, &d.kallsyms, &PristineText, cfg);
                    checked += 1;
                    if !starts.contains(&va) {
                        let X86ProbeClass::Rejected(X86PrepareError::CanProbe(
                            CanProbeError::NotInstructionBoundary { insn_start, insn_end },
                        )) = c
                        else {
                            panic!("{name}+{:#x} is mid-instruction but classified {c}", va - start);
                        };
                        assert!(starts.contains(&insn_start.0) && insn_start.0 < va && va < insn_end.0);
                        continue;
                    }
                    let (_, mnemonic) = &d.insns[&va];
                    if !post && cfg != C612_NOPREEMPT {
                        *tally.entry((cfg.profile, class_name(&c))).or_default() += 1;
                    }
                    match (&c, cfg.profile) {
                        // v5.10 accepts every instruction gcc emitted.
                        (X86ProbeClass::Rejected(e), KernelProfile::V5_10) => {
                            panic!("{name}+{:#x} {mnemonic}: v5.10 rejected: {e}", va - start)
                        }
                        // v6.12 rejects only the memory-indirect call/jmp.
                        (X86ProbeClass::Rejected(e), KernelProfile::V6_12) => {
                            assert_eq!(
                                *e,
                                X86PrepareError::Emulation(EmulationError::IndirectMemory),
                                "{name}+{:#x} {mnemonic}",
                                va - start
                            );
                            assert!(
                                mnemonic.contains("*0x0(,")
                                    && (mnemonic.contains("jmp") || mnemonic.contains("call"))
                            );
                        }
                        (X86ProbeClass::Emulated(op), KernelProfile::V6_12) => {
                            let want = if mnemonic.starts_with("call   *%") {
                                EmulateOp::CallIndirect
                            } else if mnemonic.starts_with("call") {
                                EmulateOp::Call
                            } else if mnemonic.starts_with("ret") {
                                EmulateOp::Ret
                            } else if mnemonic.starts_with("jmp") {
                                EmulateOp::Jmp
                            } else {
                                assert!(mnemonic.starts_with('j'), "{mnemonic}");
                                EmulateOp::Jcc
                            };
                            assert_eq!(*op, want, "{mnemonic}");
                        }
                        (X86ProbeClass::Emulated(_), KernelProfile::V5_10) => panic!("v5.10 never emulates"),
                        _ => {}
                    }
                }
            }
        }
        // A few hand-checked totals per object (boundaries only, defaults, no post handler).
        let n = |p: KernelProfile, c: &str| tally.get(&(p, c.to_string())).copied().unwrap_or(0);
        assert!(n(KernelProfile::V6_12, "boosted") == 0, "v6.12 defaults have CONFIG_PREEMPTION");
        assert!(n(KernelProfile::V6_12, "emulated:ret") > 20);
        assert!(n(KernelProfile::V6_12, "emulated:call_indirect") == 2);
        assert!(n(KernelProfile::V6_12, "rejected:EOPNOTSUPP") == 2);
        assert!(n(KernelProfile::V5_10, "boosted") > n(KernelProfile::V5_10, "single-step"));
    }
    assert!(checked > 10_000);
}

#[test]
fn fixture_spot_checks() {
    let d = parse_objdump(IBT);
    let sym = |name: &str| d.kallsyms.lookup_name(name).unwrap().addr.0;
    let at = |name: &str, off: u64, cfg: X86KprobesConfig| {
        class_name(&classify(
            KernelVa(sym(name) + off),
            KernelVa(SLOT),
            false,
            &d.mem,
            &d.kallsyms,
            &PristineText,
            cfg,
        ))
    };
    // dispatch_op+0xf: notrack jmp *0x0(,%rdi,8)
    assert_eq!(at("dispatch_op", 0xf, C510), "single-step");
    assert_eq!(at("dispatch_op", 0xf, C612), "rejected:EOPNOTSUPP");
    // kprobe_stacktrace_target+0x29: call *%rax
    assert_eq!(at("kprobe_stacktrace_target", 0x29, C612), "emulated:call_indirect");
    // branch_mix+0x14: jne; +0x1b: call bump
    assert_eq!(at("branch_mix", 0x14, C612), "emulated:jcc");
    assert_eq!(at("branch_mix", 0x1b, C612), "emulated:call");
    assert_eq!(at("branch_mix", 0x91, C612), "emulated:jmp");
    // kernel_clone+0x20: lock xadd %edx,0x0(%rip) (two-byte opcode 0f c1, boostable in both)
    assert_eq!(at("kernel_clone", 0x20, C510), "boosted");
    assert_eq!(at("kernel_clone", 0x20, C612_NOPREEMPT), "boosted");
    // kprobe_target+0x8: divl 0x0(%rip) (f7 /6): Grp3, boostable only in v6.12
    assert_eq!(at("kprobe_target", 0x8, C510), "single-step");
    assert_eq!(at("kprobe_target", 0x8, C612_NOPREEMPT), "boosted");
    // __x64_sys_clone+0x2e: rep stos
    assert_eq!(at("__x64_sys_clone", 0x2e, C510), "boosted");
    // text_poke_target+0: endbr64 (not skipped by classify; arch_adjust_kprobe_addr does that)
    assert_eq!(at("text_poke_target", 0, C612), "single-step");
    for (name, _, _) in &d.funcs {
        let f = KernelVa(sym(name));
        let mut w = [0u8; 4];
        d.mem.read(f, &mut w).unwrap();
        let want = if w == [0xf3, 0x0f, 0x1e, 0xfa] { f.add(4) } else { f };
        assert_eq!(arch_adjust_kprobe_addr(f, 0, &d.mem, C612).unwrap().0, want, "{name}");
    }
    // The RIP-relative fixture loads rebase to the slot.
    let va = sym("rip_rel_update") + 7; // add 0x0(%rip),%rax
    let kp =
        arch_prepare_kprobe(KernelVa(va), KernelVa(SLOT), false, &d.mem, &d.kallsyms, &PristineText, C510).unwrap();
    let disp = i32::from_le_bytes(kp.slot_bytes[3..7].try_into().unwrap());
    assert_eq!(i64::from(disp), va as i64 - SLOT as i64);
}
