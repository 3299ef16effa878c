//! Unit tests of [`super`].

use super::*;
use crate::arch::x86_64::kprobes::{prepare::*, test_fixtures::*};
use crate::profile::KernelProfile;
use crate::KernelVa;

#[test]
fn twobyte_table_matches_the_kernel_rows() {
    // Spot checks against the W() rows: 0f 05 syscall no, 0f 1f nop yes, 0f 0b ud2 no, 0f 40..4f cmov yes,
    // 0f 80..8f jcc no, 0f a2 cpuid no, 0f af imul yes, 0f b6 movzx yes, 0f c1 xadd yes, 0f c7 grp9 no.
    for (op, want) in [
        (0x05, false),
        (0x1f, true),
        (0x0b, false),
        (0x45, true),
        (0x84, false),
        (0xa2, false),
        (0xaf, true),
        (0xb6, true),
        (0xc1, true),
        (0xc7, false),
        (0x1e, false),
        (0xff, false),
        (0x02, true),
    ] {
        assert_eq!(twobyte_is_boostable(op), want, "0f {op:02x}");
    }
    // Row sums 5+1+4+1+16+0+14+6+0+16+11+13+10+10+9+10.
    assert_eq!((0..=255u8).filter(|&op| twobyte_is_boostable(op)).count(), 126);
}

#[test]
fn can_boost_honours_the_exception_table() {
    struct Extable;
    impl X86KprobesEnv for Extable {
        fn search_exception_tables(&self, addr: KernelVa) -> bool {
            addr == KernelVa(TEXT)
        }
    }
    let insn = insn_decode_kernel(&[0x55]).unwrap();
    for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
        assert!(can_boost(&insn, KernelVa(TEXT + 1), &Extable, p));
        assert!(!can_boost(&insn, KernelVa(TEXT), &Extable, p));
    }
    let (mem, ks) = one_function(&[0x48, 0x8b, 0x07]);
    let c = classify(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &Extable, C510);
    assert_eq!(c, X86ProbeClass::SingleStep);
}
