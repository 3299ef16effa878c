//! Two or more BPF programs on one function (kernel/trace/trace_kprobe.c, kernel/trace/bpf_trace.c), driven
//! through `Kernel`'s public API on the fake machine: a shared event's `prog_array` (one kprobe, results ANDed,
//! `BPF_TRACE_MAX_PROGS`) and libbpf's local perf kprobes (one kprobe each, aggregated, each its own verdict).

use kernel_model::event::{EventKind, Trap};
use kernel_model::kernel::{BpfAttachMode, Kernel, PerfFilter, StepOutcome, TrapAction};
use kernel_model::kprobes::PreHandler;
use kernel_model::profile::KernelProfile;
use kernel_model::testing::FakeMachine;
use kernel_model::{CpuId, Isa};

const CPU0: CpuId = CpuId(0);

/// arm64 `target`: stp x29, x30, [sp, #-16]!; mov x29, sp; mov x0, #0; ldp x29, x30, [sp], #16; ret.
const ARM_TARGET: [u32; 5] = [0xa9bf_7bfd, 0x9100_03fd, 0xd280_0000, 0xa8c1_7bfd, 0xd65f_03c0];

fn arm64() -> (Kernel, FakeMachine, u64) {
    let mut m = FakeMachine::new(Isa::Aarch64, 1);
    let at = m.layout.text + 0x1000;
    let code: Vec<u8> = ARM_TARGET.iter().flat_map(|w| w.to_le_bytes()).collect();
    m.add_function("target", at, &code);
    (Kernel::new(Isa::Aarch64, KernelProfile::V6_12, 1), m, at)
}

/// Runs model steps until the kernel is idle.
fn drive(k: &mut Kernel, m: &mut FakeMachine) {
    for _ in 0..10_000 {
        if k.wants_model_step(m, CPU0, true) {
            assert_eq!(k.step(m, CPU0), StepOutcome::Continue);
        } else if !k.busy(CPU0) {
            return;
        }
    }
    panic!("the kernel never went idle");
}

fn attach(k: &mut Kernel, m: &mut FakeMachine, name: &str, ret: u32, mode: BpfAttachMode) {
    let text = format!("mov %r0, {ret}\nexit\n");
    k.request_attach_bpf_asm(m, CPU0, name, &text, "target", mode).expect("assembles and loads");
}

/// One hit on `target`'s first instruction: the BRK #4 and the handlers, then the out-of-line step's BRK #6.
fn hit(k: &mut Kernel, m: &mut FakeMachine, at: u64) {
    m.regs[0].set_ip(at);
    assert!(matches!(k.handle_trap(m, CPU0, &Trap::Brk { imm: 4 }), TrapAction::Model));
    run_handlers(k, m);
    let slot = m.regs[0].ip();
    m.regs[0].set_ip(slot + 4);
    let _ = k.handle_trap(m, CPU0, &Trap::Brk { imm: 6 });
    run_handlers(k, m);
    assert_eq!(k.core.current_kprobe(CpuId(0)), None, "the hit is over");
}

fn run_handlers(k: &mut Kernel, m: &mut FakeMachine) {
    for _ in 0..100 {
        if !k.wants_model_step(m, CPU0, false) {
            return;
        }
        assert_eq!(k.step(m, CPU0), StepOutcome::Continue);
    }
    panic!("handlers never finished");
}

fn lines(m: &FakeMachine) -> Vec<String> {
    m.events.iter().map(|(_, e)| e.to_string()).collect()
}

fn progs(k: &Kernel, name: &str) -> Vec<u32> {
    let p = k.core.kprobes.probes.iter().find(|p| p.registered && p.spec.name == name).expect("registered");
    match &p.spec.pre_handler {
        PreHandler::TraceDispatcher { progs } => progs.iter().map(|id| id.0).collect(),
        other => panic!("not a trace kprobe: {other:?}"),
    }
}

#[test]
fn a_shared_event_runs_its_prog_array_and_ands_the_results() {
    let (mut k, mut m, at) = arm64();
    // The second attaches while the event's registration is still pending; the third after it returned.
    attach(&mut k, &mut m, "one", 1, BpfAttachMode::SharedEvent);
    attach(&mut k, &mut m, "three", 3, BpfAttachMode::SharedEvent);
    drive(&mut k, &mut m);
    assert_eq!(k.core.register_results.len(), 1, "one register_kprobe, no warn_kprobe_rereg");
    assert_eq!(progs(&k, "p_target_0"), [1, 2]);
    hit(&mut k, &mut m, at);
    assert_eq!(k.core.perf_filter["p_target_0"], PerfFilter { kept: 1, filtered: 0 }, "1 & 3 = 1");
    attach(&mut k, &mut m, "two", 2, BpfAttachMode::SharedEvent);
    assert_eq!(progs(&k, "p_target_0"), [1, 2, 3], "appended: attach order");
    m.events.clear();
    hit(&mut k, &mut m, at);
    assert_eq!(k.core.perf_filter["p_target_0"], PerfFilter { kept: 1, filtered: 1 }, "1 & 3 & 2 = 0");
    let l = lines(&m);
    let runs: Vec<&String> = l.iter().filter(|l| l.contains(" returned 0x")).collect();
    assert_eq!(runs.len(), 3, "every program runs: {l:#?}");
    assert!(l.iter().any(|l| l.contains("trace_call_bpf over 3 programs (results ANDed) returned 0: filtered")));
}

#[test]
fn a_full_prog_array_refuses_with_e2big() {
    let (mut k, mut m, _) = arm64();
    for i in 0..64 {
        attach(&mut k, &mut m, &format!("p{i}"), 1, BpfAttachMode::SharedEvent);
    }
    drive(&mut k, &mut m);
    assert_eq!(progs(&k, "p_target_0").len(), 64);
    attach(&mut k, &mut m, "late", 1, BpfAttachMode::SharedEvent);
    assert_eq!(progs(&k, "p_target_0").len(), 64);
    let refused = m.events.iter().any(|(_, e)| {
        matches!(e, EventKind::BpfLoadFailed { prog, error } if prog == "late" && error.contains("-E2BIG"))
    });
    assert!(refused, "{:#?}", lines(&m));
}

#[test]
fn perf_kprobes_are_separate_events_aggregated_at_the_address() {
    let (mut k, mut m, at) = arm64();
    attach(&mut k, &mut m, "keep", 1, BpfAttachMode::PerfKprobe);
    attach(&mut k, &mut m, "drop", 0, BpfAttachMode::PerfKprobe);
    attach(&mut k, &mut m, "drop", 0, BpfAttachMode::PerfKprobe);
    drive(&mut k, &mut m);
    assert!(k.core.register_results.iter().all(|(_, r)| r.is_ok()), "{:?}", k.core.register_results);
    assert_eq!(progs(&k, "target/keep"), [1]);
    assert_eq!(progs(&k, "target/drop"), [2]);
    assert_eq!(progs(&k, "target/drop#2"), [3], "a second attach of a same-named program is its own event");
    hit(&mut k, &mut m, at);
    for (name, want) in [("target/keep", (1, 0)), ("target/drop", (0, 1)), ("target/drop#2", (0, 1))] {
        assert_eq!(k.core.perf_filter[name], PerfFilter { kept: want.0, filtered: want.1 }, "{name}");
        let p = k.core.kprobes.probes.iter().find(|p| p.spec.name == name).expect("registered");
        assert_eq!(p.nhit, 1, "{name}: its own kprobe_dispatcher ran");
    }
}

/// The `prog_array` of the trace kretprobe `name` (its return handler's `trace_call_bpf`).
fn ret_progs(k: &Kernel, name: &str) -> Vec<u32> {
    let rp = k.core.kretprobes.probes.iter().find(|r| r.name == name).expect("a kretprobe");
    let handler = rp.handler.as_deref().unwrap_or_default();
    handler
        .iter()
        .find_map(|a| match a {
            kernel_model::kprobes::HandlerAction::RunBpf(p) => Some(p.iter().map(|id| id.0).collect()),
            _ => None,
        })
        .expect("a BPF return handler")
}

#[test]
fn an_object_twice_shares_both_its_kprobe_and_kretprobe_events_or_not() {
    let obj = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bpf-tutorial/mydrv_trace.bpf.o");
    let bytes = std::fs::read(&obj).expect("the fixture object is readable");
    for mode in [BpfAttachMode::SharedEvent, BpfAttachMode::PerfKprobe] {
        let mut m = FakeMachine::new(Isa::Aarch64, 1);
        let at = m.layout.text + 0x1000;
        let code: Vec<u8> = ARM_TARGET.iter().flat_map(|w| w.to_le_bytes()).collect();
        m.add_function("mydrv_submit", at, &code);
        let mut k = Kernel::new(Isa::Aarch64, KernelProfile::V6_12, 1);
        k.request_attach_bpf(&mut m, CPU0, &obj, &bytes, mode).expect("loads");
        k.request_attach_bpf(&mut m, CPU0, &obj, &bytes, mode).expect("loads again");
        drive(&mut k, &mut m);
        assert!(k.core.register_results.iter().all(|(_, r)| r.is_ok()), "{:?}", k.core.register_results);
        let ids: Vec<(String, u32)> = k.core.bpf.progs().iter().map(|p| (p.name.clone(), p.id.0)).collect();
        let id = |n: &str, nth: usize| ids.iter().filter(|(name, _)| name == n).nth(nth).expect("loaded").1;
        let (entry, ret) = ("trace_submit", "trace_submit_ret");
        if mode == BpfAttachMode::SharedEvent {
            assert_eq!(k.core.register_results.len(), 2, "p_ and r_ once each");
            assert_eq!(progs(&k, "p_mydrv_submit_0"), [id(entry, 0), id(entry, 1)]);
            assert_eq!(ret_progs(&k, "r_mydrv_submit_0"), [id(ret, 0), id(ret, 1)]);
        } else {
            assert_eq!(k.core.register_results.len(), 4, "one event per attach");
            assert_eq!(progs(&k, &format!("mydrv_submit/{entry}")), [id(entry, 0)]);
            assert_eq!(progs(&k, &format!("mydrv_submit/{entry}#2")), [id(entry, 1)]);
            assert_eq!(ret_progs(&k, &format!("mydrv_submit/{ret}#2")), [id(ret, 1)]);
        }
    }
}
