//! `kernel/jump_label.c` over the fake machine: `jump_label_init` sorts a `__jump_table` in guest memory, a
//! static-key call patches the sites by the arch's protocol per profile, `jump_label_text_reserved` covers a site.

use kernel_model::event::{EventKind, SyncReason};
use kernel_model::event::jump_label::StaticKeyOp;
use kernel_model::kernel::{Kernel, StepOutcome};
use kernel_model::machine::{GuestMemory, Machine};
use kernel_model::profile::KernelProfile;
use kernel_model::testing::{FakeMachine, Layout};
use kernel_model::{CpuId, Isa, KernelVa};

const NOP: u32 = 0xd503_201f;

/// Two keys (A at data+0x100, B at data+0x110), sites at text+0x0 (key B) and text+0x10 (key A, target +0x8),
/// the table at data+0x200 in that (unsorted) order.
fn machine(nr: usize) -> (FakeMachine, Layout) {
    let mut m = FakeMachine::new(Isa::Aarch64, nr);
    let l = Layout::for_isa(Isa::Aarch64);
    m.write_words(l.text, &[NOP, 0xd65f_03c0, 0, 0, NOP, 0xd65f_03c0]);
    m.add_symbol("site_b", l.text, 0x10);
    m.add_symbol("site_a", l.text + 0x10, 0x10);
    m.add_symbol("key_a", l.data + 0x100, 0x10);
    m.add_symbol("key_b", l.data + 0x110, 0x10);
    let entry = |m: &mut FakeMachine, at: u64, code: u64, target: u64, key: u64| {
        m.put_u32(at, code.wrapping_sub(at) as u32);
        m.put_u32(at + 4, target.wrapping_sub(at + 4) as u32);
        m.put_u64(at + 8, key.wrapping_sub(at + 8));
    };
    entry(&mut m, l.data + 0x200, l.text, l.text + 0x8, l.data + 0x110);
    entry(&mut m, l.data + 0x210, l.text + 0x10, l.text + 0x18, l.data + 0x100);
    (m, l)
}

fn drive(k: &mut Kernel, m: &mut FakeMachine) {
    for _ in 0..1000 {
        for c in 0..m.nr_cpus() {
            if k.wants_model_step(m, CpuId(c), true) {
                assert_eq!(k.step(m, CpuId(c)), StepOutcome::Continue);
            }
        }
        if (0..m.nr_cpus()).all(|c| !k.busy(CpuId(c))) {
            return;
        }
    }
    panic!("the static-key call never finished");
}

#[test]
fn init_sorts_the_table_in_place_and_sets_entries() {
    let (mut m, l) = machine(2);
    let mut k = Kernel::new(Isa::Aarch64, KernelProfile::V6_12, 2);
    k.jump_label_init(&mut m, &[(KernelVa(l.data + 0x200), 0x20)]);
    // key_a (the lower address) first: its entry now sits in the first slot, rebased.
    let first = l.data + 0x200;
    assert_eq!(first.wrapping_add(i64::from(m.u32_at(first) as i32) as u64), l.text + 0x10);
    assert_eq!((first + 8).wrapping_add(m.u64_at(first + 8)), l.data + 0x100);
    assert_eq!(m.u64_at(l.data + 0x108), first, "key_a->entries");
    assert_eq!(m.u64_at(l.data + 0x118), first + 0x10, "key_b->entries");
    let codes: Vec<u64> = k.jump_labels().entries().iter().map(|e| e.code.0).collect();
    assert_eq!(codes, vec![l.text + 0x10, l.text]);
}

#[test]
fn enable_writes_b_and_6_12_kicks_every_other_cpu() {
    for (profile, kicks) in [(KernelProfile::V5_10, 0), (KernelProfile::V6_12, 1)] {
        let (mut m, l) = machine(2);
        let mut k = Kernel::new(Isa::Aarch64, profile, 2);
        k.jump_label_init(&mut m, &[(KernelVa(l.data + 0x200), 0x20)]);
        k.request_static_key(CpuId(0), StaticKeyOp::Enable, KernelVa(l.data + 0x100), "key_a");
        drive(&mut k, &mut m);
        assert_eq!(m.u32_at(l.text + 0x10), 0x1400_0002, "b +8 at site_a ({profile:?})");
        assert_eq!(m.u32_at(l.text), NOP, "key_b's site untouched");
        assert_eq!(m.read_u32(KernelVa(l.data + 0x100)).unwrap(), 1, "key_a->enabled");
        let kicked = m
            .events_on(CpuId(1))
            .iter()
            .filter(|e| matches!(e, EventKind::IcacheSync { why: SyncReason::KickAllCpusSyncIpi, .. }))
            .count();
        assert_eq!(kicked, kicks, "{profile:?}");
        assert!(k.jump_label_text_reserved(&m, KernelVa(l.text + 0x10), KernelVa(l.text + 0x10)).is_some());
        assert!(k.jump_label_text_reserved(&m, KernelVa(l.text + 0x14), KernelVa(l.text + 0x14)).is_none());
    }
}

#[test]
fn an_unbalanced_dec_differs_between_profiles() {
    for (profile, after) in [(KernelProfile::V5_10, -1), (KernelProfile::V6_12, 0)] {
        let (mut m, l) = machine(1);
        let mut k = Kernel::new(Isa::Aarch64, profile, 1);
        k.jump_label_init(&mut m, &[(KernelVa(l.data + 0x200), 0x20)]);
        k.request_static_key(CpuId(0), StaticKeyOp::SlowDec, KernelVa(l.data + 0x100), "key_a");
        drive(&mut k, &mut m);
        assert_eq!(m.read_u32(KernelVa(l.data + 0x100)).unwrap() as i32, after, "{profile:?}");
        assert_eq!(m.u32_at(l.text + 0x10), NOP, "no site changes ({profile:?})");
    }
}
