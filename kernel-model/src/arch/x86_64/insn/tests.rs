use super::*;

fn dec(bytes: &[u8]) -> Insn {
    insn_decode_kernel(bytes).unwrap_or_else(|e| panic!("{bytes:02x?}: {e}"))
}

#[test]
fn lengths_and_fields_of_common_kernel_instructions() {
    // `echo 'mov 0x10(%rip),%rax' | llvm-mc --triple=x86_64 --show-encoding` -> [0x48,0x8b,0x05,0x10,0,0,0]
    let i = dec(&[0x48, 0x8b, 0x05, 0x10, 0, 0, 0]);
    assert_eq!(i.len(), 7);
    assert_eq!(i.rex_prefix, InsnField { value: 0x48, nbytes: 1 });
    assert_eq!(i.opcode_bytes(), vec![0x8b]);
    assert_eq!(i.modrm, InsnField { value: 0x05, nbytes: 1 });
    assert!(insn_rip_relative(&i));
    assert_eq!(insn_offset_displacement(&i), 3);
    assert_eq!(i.displacement, InsnField { value: 0x10, nbytes: 4 });
    assert_eq!(i.opnd_bytes, 8);

    // call rel32 / jne rel8 / je rel32: the branch offset is the immediate.
    let c = dec(&[0xe8, 0xfb, 0xff, 0xff, 0xff]);
    assert_eq!((c.len(), c.immediate), (5, InsnField { value: -5, nbytes: 4 }));
    assert_eq!(c.modrm.nbytes, 0);
    let j = dec(&[0x75, 0xf0]);
    assert_eq!((j.len(), j.immediate), (2, InsnField { value: -16, nbytes: 1 }));
    let jl = dec(&[0x0f, 0x84, 0x10, 0, 0, 0]);
    assert_eq!((jl.len(), jl.opcode_bytes(), jl.immediate.value), (6, vec![0x0f, 0x84], 0x10));

    // lock xadd %edx,0x0(%rip): f0 0f c1 15 <disp32>
    let x = dec(&[0xf0, 0x0f, 0xc1, 0x15, 0, 0, 0, 0]);
    assert_eq!(x.len(), 8);
    assert_eq!(x.for_each_insn_prefix(), vec![0xf0]);
    assert_eq!(x.prefixes.bytes(), [0xf0, 0, 0, 0xf0]);
    assert!(insn_rip_relative(&x));
    assert_eq!(insn_offset_displacement(&x), 4);

    // notrack jmp *0x0(,%rdi,8): 3e ff 24 fd <disp32>
    let n = dec(&[0x3e, 0xff, 0x24, 0xfd, 0, 0, 0, 0]);
    assert_eq!((n.len(), n.modrm.value, n.sib.value, n.displacement.nbytes), (8, 0x24, 0xfd, 4));
    assert!(!insn_rip_relative(&n));

    // movabs $imm64,%rax: immediate1 + immediate2, 4 bytes each.
    let m = dec(&[0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!((m.len(), m.immediate.nbytes, m.immediate2.nbytes), (10, 4, 4));
    assert_eq!(m.immediate.value, 0x0403_0201);

    // movabs 0x...,%eax (moffs): no ModRM, moffset1/2.
    let mo = dec(&[0xa1, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!((mo.len(), mo.modrm.nbytes, mo.immediate.nbytes, mo.immediate2.nbytes), (9, 0, 4, 4));

    // enter $0x10,$0: two immediates.
    let e = dec(&[0xc8, 0x10, 0x00, 0x00]);
    assert_eq!(
        (e.immediate, e.immediate2),
        (InsnField { value: 0x10, nbytes: 2 }, InsnField { value: 0, nbytes: 1 })
    );
}

#[test]
fn prefixes_follow_insn_get_prefixes() {
    // data16 data16 cs nopw 0x0(%rax,%rax,1): 66 66 2e 0f 1f 84 00 00 00 00 00
    let i = dec(&[0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0]);
    assert_eq!(i.len(), 11);
    assert_eq!(i.prefixes.nbytes, 3);
    // distinct [66, 2e], last prefix 2e in bytes[3]
    assert_eq!(i.prefixes.bytes(), [0x66, 0x2e, 0, 0x2e]);
    assert_eq!(i.for_each_insn_prefix(), vec![0x66, 0x2e]);
    assert_eq!(i.opnd_bytes, 2);
    // addr32 mov (%eax),%eax: 67 8b 00
    let a = dec(&[0x67, 0x8b, 0x00]);
    assert_eq!(a.addr_bytes, 4);
    // The swap: 2e 66 2e 90 -> distinct [2e, 66], last is 2e -> bytes[3] = 2e.
    let s = dec(&[0x66, 0x2e, 0x66, 0x90]);
    assert_eq!(s.prefixes.bytes(), [0x66, 0x2e, 0, 0x66]);
}

#[test]
fn vex_opcode_is_the_byte_after_the_prefix() {
    // vpshufd $0x1b,%xmm0,%xmm0: c5 f9 70 c0 1b
    let v = dec(&[0xc5, 0xf9, 0x70, 0xc0, 0x1b]);
    assert!(insn_is_avx(&v) && !insn_is_evex(&v));
    assert_eq!((v.opcode.byte(0), v.opcode.nbytes, v.len()), (0x70, 1, 5));
    assert_eq!(v.vex_prefix.bytes(), [0xc5, 0xf9, 0x79, 0]);
    assert_eq!(v.immediate, InsnField { value: 0x1b, nbytes: 1 });
    // EVEX vpshufd: 62 f1 7d 48 70 c0 1b
    let e = dec(&[0x62, 0xf1, 0x7d, 0x48, 0x70, 0xc0, 0x1b]);
    assert!(insn_is_evex(&e));
    assert_eq!((e.opcode.byte(0), e.len()), (0x70, 7));
}

#[test]
fn emulate_prefix_is_part_of_the_instruction() {
    // ud2; .ascii "xen"; cpuid  (Xen's XEN_EMULATE_PREFIX cpuid)
    let i = dec(&[0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2]);
    assert!(insn_has_emulate_prefix(&i));
    assert_eq!((i.len(), i.opcode_bytes()), (7, vec![0x0f, 0xa2]));
    let k = dec(&[0x0f, 0x0b, 0x6b, 0x76, 0x6d, 0x90]);
    assert_eq!(k.len(), 6);
    // A bare ud2 is two bytes.
    assert_eq!(dec(&[0x0f, 0x0b, 0x90]).len(), 2);
}

#[test]
fn i64_opcodes_decode_the_kernels_way() {
    // ljmp $0x10,$0x12345678 in 32-bit encoding: ea 78 56 34 12 10 00 (7 bytes for the kernel)
    let j = dec(&[0xea, 0x78, 0x56, 0x34, 0x12, 0x10, 0x00]);
    assert_eq!((j.len(), j.immediate.nbytes, j.immediate2.nbytes), (7, 4, 2));
    let c = dec(&[0x66, 0x9a, 0x78, 0x56, 0x10, 0x00]);
    assert_eq!(c.len(), 6);
    assert_eq!(dec(&[0x1f]).len(), 1);
    assert!(insn_masking_exception(&dec(&[0x1f])));
    assert_eq!(dec(&[0x82, 0xc0, 0x01]).len(), 3);
    assert_eq!(dec(&[0xd4, 0x0a]).len(), 2);
    assert_eq!(insn_decode_kernel(&[0x48, 0xea, 1, 2, 3, 4, 5, 6]), Err(InsnError::Invalid));
}

#[test]
fn masking_and_exception_predicates() {
    // mov %eax,%ss: 8e d0
    assert!(insn_masking_exception(&dec(&[0x8e, 0xd0])));
    // mov %eax,%ds: 8e d8 (reg 3) is not masking
    assert!(!insn_masking_exception(&dec(&[0x8e, 0xd8])));
    for bytes in [&[0x0f, 0x0b][..], &[0x0f, 0xb9, 0xc0], &[0x0f, 0xff, 0xc0], &[0xcc], &[0xcd, 0x80], &[0xf1]] {
        assert!(is_exception_insn(&dec(bytes)), "{bytes:02x?}");
    }
    // INTO (ce) is an (i64) opcode: the kernel decodes it as one byte.
    assert!(is_exception_insn(&dec(&[0xce])));
    assert!(!is_exception_insn(&dec(&[0x90])));
}

#[test]
fn errors_never_panic() {
    assert_eq!(insn_decode_kernel(&[]), Err(InsnError::Truncated { available: 0 }));
    assert_eq!(insn_decode_kernel(&[0x48]), Err(InsnError::Truncated { available: 1 }));
    assert_eq!(insn_decode_kernel(&[0xe8, 0, 0]), Err(InsnError::Truncated { available: 3 }));
    assert_eq!(insn_decode_kernel(&[0x66; 15]), Err(InsnError::Truncated { available: 15 }));
    // Every 1-, 2- and 3-byte pattern of "interesting" bytes: no panic, and any success is self-consistent.
    let interesting = [
        0x00, 0x0f, 0x26, 0x38, 0x3a, 0x40, 0x48, 0x4f, 0x62, 0x66, 0x67, 0x8f, 0x9a, 0xc4, 0xc5, 0xcc, 0xe8, 0xea,
        0xf0, 0xf3, 0xff, 0x05, 0x24, 0x84, 0xc0,
    ];
    for &a in &interesting {
        for &b in &interesting {
            for &c in &interesting {
                let mut buf = [a, b, c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                if let Ok(i) = insn_decode_kernel(&buf) {
                    assert!(!i.is_empty() && i.len() <= MAX_INSN_SIZE);
                    assert!(insn_offset_immediate(&i) <= i.len(), "{buf:02x?}");
                }
                buf[3] = 0xff;
                let _ = insn_decode_kernel(&buf[..4]);
            }
        }
    }
}

#[test]
fn vex_is4_byte_is_an_immediate() {
    // vpblendvb %xmm2,%xmm1,%xmm0,%xmm0: c4 e3 79 4c c1 20 (register selector in imm8[7:4])
    let i = dec(&[0xc4, 0xe3, 0x79, 0x4c, 0xc1, 0x20]);
    assert_eq!(
        (i.len(), i.opcode.byte(0), i.modrm.value, i.immediate),
        (6, 0x4c, 0xc1, InsnField { value: 0x20, nbytes: 1 })
    );
    // vzeroupper: no ModRM.
    let z = dec(&[0xc5, 0xf8, 0x77]);
    assert_eq!((z.len(), z.modrm.nbytes), (3, 0));
    // A REX byte before a legacy prefix: the kernel's scan and the hardware disagree.
    assert_eq!(
        insn_decode_kernel(&[0x48, 0x66, 0x89, 0xc0, 0x90, 0x90, 0x90, 0x90, 0x90]),
        Err(InsnError::Invalid)
    );
}

#[test]
fn random_bytes_never_panic() {
    // xorshift64*: deterministic pseudo-random instruction buffers.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut ok = 0;
    for _ in 0..100_000 {
        let mut buf = [0u8; MAX_INSN_SIZE];
        for chunk in buf.chunks_mut(8) {
            let r = next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        let cut = (next() % 16) as usize;
        if let Ok(i) = insn_decode_kernel(&buf[..cut]) {
            ok += 1;
            assert!(!i.is_empty() && i.len() <= cut);
            let fields =
                insn_offset_immediate(&i) + usize::from(i.immediate.nbytes) + usize::from(i.immediate2.nbytes);
            assert_eq!(fields, i.len(), "{:02x?}", i.bytes());
        }
    }
    assert!(ok > 10_000);
}

#[test]
fn endbr() {
    let endbr64 = u32::from_le_bytes([0xf3, 0x0f, 0x1e, 0xfa]);
    let endbr32 = u32::from_le_bytes([0xf3, 0x0f, 0x1e, 0xfb]);
    let poison = u32::from_le_bytes([0x66, 0x0f, 0x1f, 0x00]);
    assert!(is_endbr(endbr64, true) && is_endbr(endbr32, true) && is_endbr(poison, true));
    assert!(!is_endbr(endbr64, false));
    assert!(!is_endbr(u32::from_le_bytes([0x0f, 0x1f, 0x44, 0x00]), true));
}
