use super::*;
use kernel_model::event::{Hex, HexStyle, KprobeStatus};
use kernel_model::{CpuId, VTime};

fn log(events: Vec<(u64, usize, u64, EventKind)>) -> EventLog {
    let mut l = EventLog::default();
    for (t, cpu, pc, k) in events {
        l.push(VTime(t), CpuId(cpu), KernelVa(pc), k);
    }
    l
}

#[test]
fn brk_encoding() {
    assert_eq!(arm64_brk_imm(0xd420_0080), Some(4));
    assert_eq!(arm64_brk_imm(0xd420_00c0), Some(6));
    assert_eq!(arm64_brk_imm(0xd503_245f), None);
}

#[test]
fn flows_go_to_other_cpus_once() {
    let w = EventKind::TextWrite {
        addr: KernelVa(0x1000),
        alias: KernelVa(0x9000),
        old: Hex(vec![0x5f, 0x24, 0x03, 0xd5], HexStyle::Words),
        new: Hex(0xd420_0080u32.to_le_bytes().to_vec(), HexStyle::Words),
    };
    let brk = || EventKind::Trap { trap: Trap::Brk { imm: 4 } };
    let l = log(vec![
        (1, 0, 0x1000, w),
        (2, 0, 0x1000, brk()),
        (3, 1, 0x1000, brk()),
        (4, 1, 0x1000, brk()),
        (5, 2, 0x2000, brk()),
    ]);
    let t = build(&l, &Kallsyms::new(Vec::new()), 3);
    assert_eq!(t.lanes.len(), 3);
    assert_eq!(t.flows.len(), 1);
    assert_eq!((t.flows[0].from_cpu, t.flows[0].to_cpu, t.flows[0].to.seq), (0, 1, 2));
    assert_eq!(t.instants_of(kind::BRK_HIT).len(), 4);
}

#[test]
fn kprobe_spans_nest_and_count() {
    let hit = |step: HitStep| EventKind::KprobeHit {
        probe: "kp".into(),
        addr: KernelVa(0x1000),
        step,
        status: KprobeStatus::HitActive,
    };
    let slot = KernelVa(0x8000);
    let l = log(vec![
        (0, 0, 0, EventKind::TaskCall { pid: 1, comm: "t".into(), func: "f".into(), args: vec![], iteration: 0 }),
        (5, 0, 0x1000, hit(HitStep::KprobeBreakpointHandler)),
        (6, 0, 0, EventKind::Kprobe { probe: "kp".into(), step: KprobeStep::HandlerCalls { func: "g".into() } }),
        (7, 0, 0x1000, hit(HitStep::ReenterMissed { current: Some(KernelVa(0x1000)) })),
        (7, 0, 0x1000, hit(HitStep::SetupSinglestepXol { slot })),
        (9, 0, 0x1000, hit(HitStep::KprobeBreakpointSsHandler)),
        (9, 0, 0x1000, hit(HitStep::PostKprobeHandlerRestore)),
        (12, 0, 0, EventKind::Kprobe { probe: "kp".into(), step: KprobeStep::HandlerCallReturned { ret: 0 } }),
        (13, 0, 0x1000, hit(HitStep::SetupSinglestepXol { slot })),
        (15, 0, 0x1000, hit(HitStep::KprobeBreakpointSsHandler)),
        (15, 0, 0x1000, hit(HitStep::PostKprobeHandlerDone)),
        (20, 0, 0, EventKind::TaskReturn { pid: 1, func: "f".into(), ret: 0, iteration: 0 }),
    ]);
    let t = build(&l, &Kallsyms::new(Vec::new()), 1);
    let spans: Vec<(Category, u64, u64, usize)> =
        t.lanes[0].spans.iter().map(|s| (s.category, s.start, s.end, s.depth)).collect();
    assert_eq!(
        spans,
        vec![
            (Category::Task, 0, 20, 0),
            (Category::Handler, 5, 13, 1),
            (Category::HandlerCall, 6, 12, 2),
            (Category::Missed, 7, 7, 3),
            (Category::SingleStep, 7, 9, 3),
            (Category::SingleStep, 13, 15, 1),
        ]
    );
    assert_eq!(t.totals(), (1, 1));
}
