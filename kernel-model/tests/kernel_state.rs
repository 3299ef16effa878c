//! The kernel's state machines driven through `Kernel`'s public API against the shared fake machine
//! (`kernel_model::testing`), without Unicorn: register/unregister phases on both ISAs, aggregate probes,
//! `multi_cpu_stop`'s states and its master per profile, the errnos of `register_kprobe`, and the hit path.

use kernel_model::errno::Errno;
use kernel_model::event::Trap;
use kernel_model::kernel::{Kernel, ProbeOpKind, StepOutcome, TrapAction};
use kernel_model::kprobes::{HandlerAction, KprobeSpec, PreHandler};
use kernel_model::machine::Machine;
use kernel_model::profile::KernelProfile;
use kernel_model::testing::FakeMachine;
use kernel_model::{CpuId, Isa, KernelVa};

const CPU0: CpuId = CpuId(0);

fn spec(name: &str, symbol: &str, offset: u64) -> KprobeSpec {
    KprobeSpec {
        name: name.into(),
        symbol_name: Some(symbol.into()),
        offset,
        addr: None,
        pre_handler: PreHandler::Actions(vec![HandlerAction::RecordRegs]),
        post_handler: None,
        disabled: false,
    }
}

/// Runs every CPU's model steps in turn (all CPUs idle: no task) until no CPU is busy; returns the rounds taken.
fn drive(k: &mut Kernel, m: &mut FakeMachine) -> usize {
    for round in 0..10_000 {
        let mut stepped = false;
        for c in 0..m.nr_cpus() {
            if k.wants_model_step(m, CpuId(c), true) {
                assert_eq!(k.step(m, CpuId(c)), StepOutcome::Continue);
                stepped = true;
            }
        }
        if !stepped && (0..m.nr_cpus()).all(|c| !k.busy(CpuId(c))) {
            return round;
        }
    }
    panic!("the kernel never went idle");
}

/// Each event as "cpu kind text", for assertions on order.
fn lines(m: &FakeMachine) -> Vec<String> {
    m.events.iter().map(|(c, e)| format!("{} {} {}", c.0, e.name(), e)).collect()
}

/// The lines whose kind is one of `kinds`.
fn only(m: &FakeMachine, kinds: &[&str]) -> Vec<String> {
    lines(m).into_iter().filter(|l| kinds.contains(&l.split(' ').nth(1).unwrap_or(""))).collect()
}

/// How many `stop_machine` calls ran (each CPU's stopper thread starts once per call).
fn stop_machines(m: &FakeMachine) -> usize {
    lines(m).iter().filter(|l| l.contains("migration/0: cpu_stopper_thread")).count()
}

fn ok(name: &str) -> (String, Result<(), Errno>) {
    (name.to_string(), Ok(()))
}

fn register(k: &mut Kernel, m: &mut FakeMachine, s: KprobeSpec) {
    k.request_register_kprobe(m, CPU0, s);
    drive(k, m);
}

fn op(k: &mut Kernel, m: &mut FakeMachine, kind: ProbeOpKind, name: &str) {
    k.request_probe_op(m, CPU0, kind, name.into());
    drive(k, m);
}

const BRK_KPROBES: u32 = 0xd420_0080; // brk #4
const BRK_KPROBES_SS: u32 = 0xd420_00c0; // brk #6

/// arm64 `target`: stp x29, x30, [sp, #-16]!; mov x29, sp; mov x0, #0; ldp x29, x30, [sp], #16; ret.
const ARM_TARGET: [u32; 5] = [0xa9bf_7bfd, 0x9100_03fd, 0xd280_0000, 0xa8c1_7bfd, 0xd65f_03c0];

fn arm64(profile: KernelProfile, nr_cpus: usize) -> (Kernel, FakeMachine, u64) {
    let mut m = FakeMachine::new(Isa::Aarch64, nr_cpus);
    let at = m.layout.text + 0x1000;
    let code: Vec<u8> = ARM_TARGET.iter().flat_map(|w| w.to_le_bytes()).collect();
    m.add_function("target", at, &code);
    (Kernel::new(Isa::Aarch64, profile, nr_cpus), m, at)
}

/// x86 `target`: push %rbp; mov %rsp,%rbp; xor %eax,%eax; pop %rbp; ret.
const X86_TARGET: [u8; 7] = [0x55, 0x48, 0x89, 0xe5, 0x31, 0xc0, 0x5d];

fn x86(profile: KernelProfile, nr_cpus: usize) -> (Kernel, FakeMachine, u64) {
    let mut m = FakeMachine::new(Isa::X86_64, nr_cpus);
    let at = m.layout.text + 0x1000;
    let mut code = X86_TARGET.to_vec();
    code.push(0xc3);
    m.add_function("target", at, &code);
    (Kernel::new(Isa::X86_64, profile, nr_cpus), m, at)
}


// ---- register / unregister ----------------------------------------------------------------------------------------

#[test]
fn arm64_5_10_register_patches_the_slot_then_the_brk_under_two_stop_machines() {
    let (mut k, mut m, at) = arm64(KernelProfile::V5_10, 2);
    let slot = m.layout.slots;
    k.request_register_kprobe(&mut m, CPU0, spec("p", "target", 4));
    assert!(k.busy(CPU0), "register_kprobe runs in model mode");
    let rounds = drive(&mut k, &mut m);
    assert!(rounds > 4, "the stop_machines take several turns ({rounds})");
    assert_eq!(m.u32_at(slot), ARM_TARGET[1], "slot[0]: the probed instruction");
    assert_eq!(m.u32_at(slot + 4), BRK_KPROBES_SS, "slot[1]: BRK #6");
    assert_eq!(m.u32_at(at + 4), BRK_KPROBES, "the probe address: BRK #4");
    assert_eq!(stop_machines(&m), 2, "5.10: the slot under one stop_machine, the BRK under a second");
    let writes: Vec<String> = only(&m, &["text_write"]);
    assert_eq!(writes.len(), 3);
    assert!(writes[0].contains(&format!("{slot:x} ")) && writes[2].contains(&format!("{:x} ", at + 4)), "{writes:#?}");
    assert_eq!(
        only(&m, &["kprobe"]),
        ["0 kprobe p: arch_prepare_ss_slot: slot ffffffc013e9b000", "0 kprobe p: armed", "0 kprobe p: register_kprobe returned 0"]
    );
    // Every text write happens inside a stop_machine's MULTI_STOP_RUN.
    let l = lines(&m);
    for (i, line) in l.iter().enumerate().filter(|(_, l)| l.contains(" text_write ")) {
        let run = l[..i].iter().rposition(|x| x.contains("MULTI_STOP_RUN")).expect("after a RUN");
        assert!(!l[run..i].iter().any(|x| x.contains("MULTI_STOP_EXIT")), "{line} outside MULTI_STOP_RUN");
    }
    assert_eq!(k.core.register_results, [ok("p")]);
    assert!(!(0..2).any(|c| m.text_stale_on(CpuId(c), KernelVa(at), 8)), "every CPU resynchronised");
    assert!(k.core.stop.is_none());
}

#[test]
fn arm64_6_12_register_writes_the_slot_directly_and_the_brk_under_stop_machine() {
    let (mut k, mut m, at) = arm64(KernelProfile::V6_12, 2);
    let slot = m.layout.slots;
    register(&mut k, &mut m, spec("p", "target", 4));
    assert_eq!((m.u32_at(slot), m.u32_at(slot + 4), m.u32_at(at + 4)), (ARM_TARGET[1], BRK_KPROBES_SS, BRK_KPROBES));
    assert_eq!(stop_machines(&m), 1, "6.12: aarch64_insn_patch_text_nosync for the slot");
    let l = lines(&m);
    let first_stopper = l.iter().position(|x| x.contains("cpu_stopper_thread")).unwrap();
    let slot_writes = l[..first_stopper].iter().filter(|x| x.contains(" text_write ")).count();
    assert_eq!(slot_writes, 2, "both slot words are written before the stop_machine");
    assert_eq!(k.core.register_results, [ok("p")]);
}

#[test]
fn x86_register_writes_int3_and_services_the_text_poke_sync_ipi_on_every_cpu() {
    let (mut k, mut m, at) = x86(KernelProfile::V6_12, 3);
    let slot = m.layout.slots;
    k.request_register_kprobe(&mut m, CPU0, spec("p", "target", 1));
    // Run CPU 0 alone: it posts the IPI and then waits for the other CPUs to take it.
    for _ in 0..20 {
        if k.wants_model_step(&mut m, CPU0, false) {
            let _ = k.step(&mut m, CPU0);
        }
    }
    assert_eq!(m.bytes(at + 1, 1), [0xcc], "the int3 is written");
    assert!(k.busy(CPU0), "register_kprobe waits in text_poke_sync for CPUs 1 and 2");
    assert!(k.core.register_results.is_empty());
    assert_eq!(k.core.sync_core_ipi.as_deref(), Some(&[false, true, true][..]));
    drive(&mut k, &mut m);
    assert_eq!(k.core.register_results, [ok("p")]);
    assert_eq!(m.bytes(slot, 4), [0x48, 0x89, 0xe5, 0xcc], "the copied instruction, then int3 for the step");
    let ipis = only(&m, &["icache_sync"]).into_iter().filter(|l| l.contains("IPI")).collect::<Vec<_>>();
    assert_eq!(ipis.len(), 4, "CPUs 1 and 2 each resync the slot and the probe site: {ipis:#?}");
    assert!(ipis.iter().all(|l| !l.starts_with("0 ")), "the caller runs do_sync_core itself, not by IPI");
    assert!(k.core.sync_core_ipi.is_none());
}

#[test]
fn unregister_restores_the_original_bytes() {
    let (mut k, mut m, at) = arm64(KernelProfile::V6_12, 2);
    register(&mut k, &mut m, spec("p", "target", 4));
    assert_eq!(m.u32_at(at + 4), BRK_KPROBES);
    op(&mut k, &mut m, ProbeOpKind::Unregister, "p");
    assert_eq!(m.u32_at(at + 4), ARM_TARGET[1]);
    assert!(k.core.kprobes.get_kprobe(KernelVa(at + 4)).is_none(), "gone from kprobe_table");

    let (mut k, mut m, at) = x86(KernelProfile::V5_10, 2);
    register(&mut k, &mut m, spec("p", "target", 1));
    assert_eq!(m.bytes(at + 1, 1), [0xcc]);
    op(&mut k, &mut m, ProbeOpKind::Unregister, "p");
    assert_eq!(m.bytes(at, 8), [0x55, 0x48, 0x89, 0xe5, 0x31, 0xc0, 0x5d, 0xc3]);
    assert_eq!(only(&m, &["kprobe"]).last().unwrap(), "0 kprobe p: unregister_kprobe returned 0");
}

#[test]
fn aggregate_probes_stay_armed_until_every_member_is_disabled() {
    let (mut k, mut m, at) = arm64(KernelProfile::V6_12, 2);
    let addr = at + 4;
    register(&mut k, &mut m, spec("a", "target", 4));
    register(&mut k, &mut m, spec("b", "target", 4));
    assert!(lines(&m).iter().any(|l| l.contains("b: ") && l.contains("aggr")), "b joins a's aggregate");
    assert_eq!(stop_machines(&m), 1, "joining patches nothing");
    assert_eq!(k.core.register_results, [ok("a"), ok("b")]);
    assert_eq!(k.core.kprobes.members(k.core.kprobes.get_kprobe(KernelVa(addr)).unwrap()).len(), 2);
    op(&mut k, &mut m, ProbeOpKind::Disable, "a");
    assert_eq!(m.u32_at(addr), BRK_KPROBES, "b still enabled: still armed");
    assert!(!k.core.kprobes.entry_disabled(KernelVa(addr)));
    op(&mut k, &mut m, ProbeOpKind::Disable, "b");
    assert_eq!(m.u32_at(addr), ARM_TARGET[1], "both disabled: disarmed");
    assert!(k.core.kprobes.entry_disabled(KernelVa(addr)));
    op(&mut k, &mut m, ProbeOpKind::Enable, "b");
    assert_eq!(m.u32_at(addr), BRK_KPROBES, "enabled again: armed");
    assert_eq!(stop_machines(&m), 3, "arm, disarm, re-arm");
}

// ---- multi_cpu_stop ------------------------------------------------------------------------------------------------

/// The `stop_machine` states each model step left, and the CPU whose `patch_cb` became master.
fn stop_machine_trace(profile: KernelProfile, nr_cpus: usize) -> (Vec<(usize, String, usize)>, Vec<String>) {
    let mut m = FakeMachine::new(Isa::Aarch64, nr_cpus);
    let at = m.layout.text + 0x1000;
    m.add_function("target", at, &ARM_TARGET.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<_>>());
    let mut k = Kernel::new(Isa::Aarch64, profile, nr_cpus);
    let mut s = spec("p", "target", 0);
    // A simulated instruction (b .+8) needs no slot: the only stop_machine is the BRK's.
    m.write_words(at, &[0x1400_0002]);
    s.offset = 0;
    k.request_register_kprobe(&mut m, CPU0, s);
    let mut trace = Vec::new();
    for _ in 0..1000 {
        let mut stepped = false;
        for c in 0..nr_cpus {
            if k.wants_model_step(&mut m, CpuId(c), true) {
                let _ = k.step(&mut m, CpuId(c));
                stepped = true;
                if let Some(st) = &k.core.stop {
                    let t = (c, st.state.name().to_string(), st.thread_ack);
                    if trace.last().map(|x: &(usize, String, usize)| (&x.1, x.2)) != Some((&t.1, t.2)) {
                        trace.push(t);
                    }
                }
            }
        }
        if !stepped && (0..nr_cpus).all(|c| !k.busy(CpuId(c))) {
            break;
        }
    }
    assert_eq!(k.core.register_results, [ok("p")]);
    assert_eq!(m.u32_at(at), BRK_KPROBES);
    (trace, only(&m, &["patch_cb"]))
}

#[test]
fn multi_cpu_stop_advances_a_state_only_when_every_cpu_acked() {
    let (trace, _) = stop_machine_trace(KernelProfile::V6_12, 3);
    let states: Vec<&str> = trace.iter().map(|t| t.1.as_str()).collect::<Vec<_>>();
    let mut seen: Vec<&str> = states.clone();
    seen.dedup();
    assert_eq!(seen, ["MULTI_STOP_PREPARE", "MULTI_STOP_DISABLE_IRQ", "MULTI_STOP_RUN", "MULTI_STOP_EXIT"]);
    // Within each state, thread_ack counts 3 → 2 → 1 as each CPU acks; the last ack moves the state on (from
    // MULTI_STOP_EXIT to itself: the final acks as each CPU leaves) and resets thread_ack.
    for w in trace.windows(2) {
        let ((_, s0, a0), (_, s1, a1)) = (&w[0], &w[1]);
        if *a1 + 1 == *a0 {
            assert_eq!(s0, s1, "one ack at a time within a state: {trace:?}");
        } else {
            assert_eq!((*a0, *a1), (1, 3), "the state moves on only at the last ack: {trace:?}");
            let order = ["MULTI_STOP_PREPARE", "MULTI_STOP_DISABLE_IRQ", "MULTI_STOP_RUN", "MULTI_STOP_EXIT"];
            let rank = |s: &str| order.iter().position(|o| *o == s).expect("a state");
            assert!(rank(s1) == rank(s0) + 1 || s1 == "MULTI_STOP_EXIT", "states only advance: {trace:?}");
        }
    }
    for st in ["MULTI_STOP_PREPARE", "MULTI_STOP_DISABLE_IRQ", "MULTI_STOP_RUN"] {
        // Each change after the first is one CPU's ack of the state before it.
        let mut acked: Vec<usize> = trace.windows(2).filter(|w| w[0].1 == st).map(|w| w[1].0).collect();
        acked.sort_unstable();
        assert_eq!(acked, [0, 1, 2], "each CPU acks {st} once: {trace:?}");
    }
}

#[test]
fn the_patch_master_is_the_first_cpu_on_5_10_and_the_last_on_6_12() {
    let (_, cb510) = stop_machine_trace(KernelProfile::V5_10, 3);
    let (_, cb612) = stop_machine_trace(KernelProfile::V6_12, 3);
    let role = |cb: &[String], n: usize| cb[n].split("aarch64_insn_patch_text_cb: ").nth(1).unwrap().to_string();
    assert_eq!([role(&cb510, 0), role(&cb510, 1), role(&cb510, 2)], ["master, cpu_count=1", "waiter, cpu_count=2", "waiter, cpu_count=3"]);
    assert_eq!([role(&cb612, 0), role(&cb612, 1), role(&cb612, 2)], ["waiter, cpu_count=1", "waiter, cpu_count=2", "master, cpu_count=3"]);
    assert_eq!(role(&cb510, 3), "release, cpu_count=4");
    assert_eq!(role(&cb612, 3), "release, cpu_count=4");
}

// ---- errnos --------------------------------------------------------------------------------------------------------

fn register_result(k: &mut Kernel, m: &mut FakeMachine, s: KprobeSpec) -> Result<(), Errno> {
    let name = s.name.clone();
    register(k, m, s);
    k.core.register_results.iter().find(|(n, _)| *n == name).expect("a result").1
}

#[test]
fn register_kprobe_errnos() {
    let (mut k, mut m, at) = arm64(KernelProfile::V6_12, 2);
    assert_eq!(register_result(&mut k, &mut m, spec("nosym", "no_such_function", 0)), Err(Errno::ENOENT));
    m.add_function("nokprobe_fn", at + 0x100, &ARM_TARGET[1].to_le_bytes());
    k.core.kprobes.blacklist.push("nokprobe_fn".into());
    assert_eq!(register_result(&mut k, &mut m, spec("black", "nokprobe_fn", 0)), Err(Errno::EINVAL));
    assert_eq!(register_result(&mut k, &mut m, spec("unaligned", "target", 2)), Err(Errno::EINVAL));
    assert_eq!(m.u32_at(at), ARM_TARGET[0], "nothing was patched");
    assert_eq!(stop_machines(&m), 0);

    let (mut k, mut m, at) = x86(KernelProfile::V6_12, 2);
    assert_eq!(register_result(&mut k, &mut m, spec("mid", "target", 2)), Err(Errno::EILSEQ), "inside mov %rsp,%rbp");
    assert_eq!(register_result(&mut k, &mut m, spec("nosym", "nope", 0)), Err(Errno::ENOENT));
    assert_eq!(m.bytes(at, 4), X86_TARGET[..4]);
    assert!(k.core.kprobes.get_kprobe(KernelVa(at + 2)).is_none());
    assert_eq!(register_result(&mut k, &mut m, spec("good", "target", 1)), Ok(()));
}

// ---- the hit path --------------------------------------------------------------------------------------------------

use kernel_model::kprobes::{KPROBE_HIT_ACTIVE, KPROBE_HIT_SS};

fn status(k: &Kernel, cpu: CpuId) -> (Option<KernelVa>, u32) {
    (k.core.current_kprobe(cpu), k.core.kprobe_status(cpu))
}

fn probe<'a>(k: &'a Kernel, name: &str) -> &'a kernel_model::kprobes::Kprobe {
    k.core.kprobes.probes.iter().find(|p| p.spec.name == name).expect("registered")
}

/// Runs `cpu`'s model steps (its handlers) until it leaves model mode.
fn run_handlers(k: &mut Kernel, m: &mut FakeMachine, cpu: CpuId) {
    for _ in 0..100 {
        if !k.wants_model_step(m, cpu, false) {
            return;
        }
        assert_eq!(k.step(m, cpu), StepOutcome::Continue);
    }
    panic!("handlers never finished");
}

#[test]
fn arm64_hit_runs_pre_handler_steps_out_of_line_then_post_handler() {
    let (mut k, mut m, at) = arm64(KernelProfile::V6_12, 2);
    let (addr, slot) = (at + 4, m.layout.slots);
    let mut s = spec("p", "target", 4);
    s.pre_handler = PreHandler::Actions(vec![HandlerAction::SetReg { reg: "x0".into(), value: 7 }]);
    s.post_handler = Some(vec![HandlerAction::RecordRegs]);
    register(&mut k, &mut m, s);
    let cpu = CpuId(1);
    m.regs[1].set_ip(addr);
    m.events.clear();
    // The BRK #4 at the probed address.
    assert!(matches!(k.handle_trap(&mut m, cpu, &Trap::Brk { imm: 4 }), TrapAction::Model), "the pre-handler runs");
    assert_eq!(status(&k, cpu), (Some(KernelVa(addr)), KPROBE_HIT_ACTIVE));
    run_handlers(&mut k, &mut m, cpu);
    // setup_singlestep: out of line in the slot, DAIF masked.
    assert_eq!(status(&k, cpu), (Some(KernelVa(addr)), KPROBE_HIT_SS));
    assert_eq!(m.regs[1].ip(), slot);
    assert_eq!(m.regs[1].get_by_name("x0"), Some(7), "the pre-handler's register write reached the context");
    assert!(!m.regs[1].irqs_enabled());
    // The CPU executes the slot's first word, then meets BRK #6.
    m.regs[1].set_ip(slot + 4);
    assert!(matches!(k.handle_trap(&mut m, cpu, &Trap::Brk { imm: 6 }), TrapAction::Model), "the post-handler runs");
    run_handlers(&mut k, &mut m, cpu);
    assert_eq!(status(&k, cpu).0, None, "reset_current_kprobe");
    assert_eq!(m.regs[1].ip(), addr + 4, "resumes after the probed instruction");
    assert!(m.regs[1].irqs_enabled(), "DAIF restored");
    assert_eq!((probe(&k, "p").nhit, probe(&k, "p").nmissed), (1, 0));
    assert!(!k.busy(cpu));
    assert_eq!(
        only(&m, &["trap", "kprobe_hit"]),
        [
            "1 trap brk #0x4",
            "1 kprobe_hit p@ffffffc010001004: kprobe_breakpoint_handler [KPROBE_HIT_ACTIVE]",
            "1 kprobe_hit p@ffffffc010001004: setup_singlestep: pc = slot ffffffc013e9b000, DAIF masked [KPROBE_HIT_SS]",
            "1 trap brk #0x6",
            "1 kprobe_hit p@ffffffc010001004: kprobe_breakpoint_ss_handler [KPROBE_HIT_SS]",
            "1 kprobe_hit p@ffffffc010001004: post_handler done [KPROBE_HIT_SSDONE]",
        ]
    );
    assert_eq!(m.kinds("regs").len(), 1, "the post-handler recorded the registers once");
}

#[test]
fn arm64_hit_inside_a_handler_call_is_missed_and_restores_the_outer_probe() {
    let (mut k, mut m, at) = arm64(KernelProfile::V6_12, 1);
    // `inner` is another probed function the outer probe's handler calls.
    let inner = at + 0x100;
    m.add_function("inner", inner, &ARM_TARGET.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<_>>());
    let mut outer = spec("outer", "target", 4);
    outer.pre_handler = PreHandler::Actions(vec![HandlerAction::Call { name: "inner".into(), func: KernelVa(inner), args: vec![1] }]);
    register(&mut k, &mut m, outer);
    register(&mut k, &mut m, spec("in", "inner", 4));
    let slots: Vec<u64> = k.core.kprobes.probes.iter().map(|p| p.ainsn.slot.expect("xol").0).collect();
    m.regs[0].set_ip(at + 4);
    assert!(matches!(k.handle_trap(&mut m, CPU0, &Trap::Brk { imm: 4 }), TrapAction::Model));
    assert_eq!(k.step(&mut m, CPU0), StepOutcome::Continue);
    assert!(k.in_guest_call(CPU0), "the handler waits for its call");
    assert_eq!(m.pending_calls.len(), 1);
    assert_eq!(m.regs[0].ip(), inner);
    // The callee hits `in`'s BRK: kprobe_status is KPROBE_HIT_ACTIVE → a reentry, counted as missed.
    m.regs[0].set_ip(inner + 4);
    assert!(matches!(k.handle_trap(&mut m, CPU0, &Trap::Brk { imm: 4 }), TrapAction::Resume), "no handler: step at once");
    assert_eq!(status(&k, CPU0), (Some(KernelVa(inner + 4)), kernel_model::kprobes::KPROBE_REENTER));
    assert_eq!(m.regs[0].ip(), slots[1]);
    m.regs[0].set_ip(slots[1] + 4);
    assert!(matches!(k.handle_trap(&mut m, CPU0, &Trap::Brk { imm: 6 }), TrapAction::Resume));
    assert_eq!(status(&k, CPU0), (Some(KernelVa(at + 4)), KPROBE_HIT_ACTIVE), "restore_previous_kprobe");
    assert_eq!(m.regs[0].ip(), inner + 8);
    // The callee returns 5; the outer handler finishes and steps its own instruction.
    m.complete_call(CPU0, 5);
    assert!(k.on_return(&mut m, CPU0), "the handler's call, consumed by the kernel");
    run_handlers(&mut k, &mut m, CPU0);
    assert_eq!(status(&k, CPU0), (Some(KernelVa(at + 4)), KPROBE_HIT_SS));
    assert_eq!(m.regs[0].ip(), slots[0], "the outer probe's context came back");
    assert_eq!((probe(&k, "outer").nhit, probe(&k, "outer").nmissed), (1, 0));
    assert_eq!((probe(&k, "in").nhit, probe(&k, "in").nmissed), (0, 1));
}

#[test]
fn x86_int3_hit_runs_the_handlers_around_the_step() {
    let (mut k, mut m, at) = x86(KernelProfile::V6_12, 2);
    let (addr, slot) = (at + 1, m.layout.slots);
    let mut s = spec("p", "target", 1);
    s.post_handler = Some(vec![HandlerAction::RecordRegs]);
    register(&mut k, &mut m, s);
    let cpu = CpuId(1);
    m.regs[1].set_ip(addr + 1); // int3 reports the byte after it
    assert!(matches!(k.handle_trap(&mut m, cpu, &Trap::Int3), TrapAction::Model));
    assert_eq!(status(&k, cpu), (Some(KernelVa(addr)), KPROBE_HIT_ACTIVE));
    run_handlers(&mut k, &mut m, cpu);
    assert_eq!(status(&k, cpu), (Some(KernelVa(addr)), KPROBE_HIT_SS));
    assert_eq!(m.regs[1].ip(), slot, "steps the copy in the slot");
    // The copied mov executes; the int3 after it ends the step (6.12).
    m.regs[1].set_ip(slot + 4);
    let a = k.handle_trap(&mut m, cpu, &Trap::Int3);
    assert!(matches!(a, TrapAction::Model), "the post-handler runs");
    run_handlers(&mut k, &mut m, cpu);
    assert_eq!(status(&k, cpu).0, None);
    assert_eq!(m.regs[1].ip(), addr + 3, "resumes after mov %rsp,%rbp");
    assert_eq!(probe(&k, "p").nhit, 1);
}

#[test]
fn x86_5_10_boosts_without_a_post_handler_and_steps_with_tf_with_one() {
    // No post-handler: the slot is the copy plus a jmp back (boosted); the int3 handler returns into it at once.
    let (mut k, mut m, at) = x86(KernelProfile::V5_10, 2);
    let (addr, slot) = (at + 1, m.layout.slots);
    register(&mut k, &mut m, spec("p", "target", 1));
    assert_eq!(m.bytes(slot, 4), [0x48, 0x89, 0xe5, 0xe9], "the copy, then jmp back to the next instruction");
    let rel = i32::from_le_bytes(m.bytes(slot + 4, 4).try_into().unwrap());
    assert_eq!((slot + 8).wrapping_add(rel as i64 as u64), addr + 3);
    m.regs[0].set_ip(addr + 1);
    assert!(matches!(k.handle_trap(&mut m, CPU0, &Trap::Int3), TrapAction::Model));
    run_handlers(&mut k, &mut m, CPU0);
    assert_eq!(status(&k, CPU0).0, None, "boosted: reset_current_kprobe before leaving");
    assert_eq!(m.regs[0].ip(), slot);

    // With a post-handler: no boost, TF single-step, the #DB ends it.
    let (mut k, mut m, at) = x86(KernelProfile::V5_10, 2);
    let (addr, slot) = (at + 1, m.layout.slots);
    let mut s = spec("p", "target", 1);
    s.post_handler = Some(vec![HandlerAction::RecordRegs]);
    register(&mut k, &mut m, s);
    m.regs[0].set_ip(addr + 1);
    assert!(matches!(k.handle_trap(&mut m, CPU0, &Trap::Int3), TrapAction::Model));
    run_handlers(&mut k, &mut m, CPU0);
    assert_eq!(status(&k, CPU0), (Some(KernelVa(addr)), KPROBE_HIT_SS));
    assert_eq!(m.regs[0].ip(), slot);
    assert_ne!(m.regs[0].get_by_name("eflags").expect("eflags") & 0x100, 0, "TF set for the single step");
    m.regs[0].set_ip(slot + 3);
    assert!(matches!(k.handle_trap(&mut m, CPU0, &Trap::Debug), TrapAction::Model), "the post-handler runs");
    run_handlers(&mut k, &mut m, CPU0);
    assert_eq!(status(&k, CPU0).0, None);
    assert_eq!(m.regs[0].ip(), addr + 3, "resume_execution: back after the probed instruction");
    assert_eq!(m.regs[0].get_by_name("eflags").expect("eflags") & 0x100, 0, "TF cleared");
    assert_eq!((probe(&k, "p").nhit, probe(&k, "p").nmissed), (1, 0));
}
