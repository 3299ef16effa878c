use super::*;
use crate::errno::Errno;
use crate::{CpuId, KernelVa};

fn hit(step: HitStep, status: KprobeStatus) -> EventKind {
    EventKind::KprobeHit { probe: "kp".into(), addr: KernelVa(0xffff_ffc0_1009_6100), step, status }
}

fn kprobe(step: KprobeStep) -> EventKind {
    EventKind::Kprobe { probe: "kp".into(), step }
}

/// The text view is what the snapshots and users read: each variant renders to exactly the line the
/// prose emission sites used to build.
#[test]
fn variants_render_to_their_text_lines() {
    let slot = KernelVa(0xffff_ffc0_13e9_b000);
    let cases: Vec<(EventKind, &str)> = vec![
        (
            kprobe(KprobeStep::RegisterKprobeReturned { errno: None, reason: None }),
            "kp: register_kprobe returned 0",
        ),
        (
            kprobe(KprobeStep::RegisterKprobeReturned {
                errno: Some(Errno::EILSEQ),
                reason: Some("not on an instruction boundary".into()),
            }),
            "kp: register_kprobe returned -EILSEQ (-84): not on an instruction boundary",
        ),
        (
            kprobe(KprobeStep::RegisterKprobesReturned { errno: Some(Errno::ENOENT), unregistering: 2 }),
            "kp: register_kprobes returned -ENOENT (-2); unregistering 2 already registered",
        ),
        (
            kprobe(KprobeStep::ProbeOpReturned { op: KprobeOpFn::DisableKprobe, errno: None }),
            "kp: disable_kprobe returned 0",
        ),
        (kprobe(KprobeStep::ArchPrepareSsSlot { slot }), "kp: arch_prepare_ss_slot: slot ffffffc013e9b000"),
        (
            kprobe(KprobeStep::ArchPrepareSimulate { handler: "simulate_b_bl" }),
            "kp: arch_prepare_simulate: simulate_b_bl",
        ),
        (kprobe(KprobeStep::Armed), "kp: armed"),
        (kprobe(KprobeStep::HandlerCallReturned { ret: 0x1e }), "kp: handler's call returned 0x1e (30)"),
        (
            kprobe(KprobeStep::KretprobeTrampolineHandler { ret_addr: 0xffff_ffc0_1000_0010, retval: 0 }),
            "kp: kretprobe_trampoline_handler: return to 0xffffffc010000010, return value 0x0",
        ),
        (
            kprobe(KprobeStep::StackTraceSaved {
                trace: vec![
                    SymAddr { addr: KernelVa(0x10), sym: "f+0x10".into() },
                    SymAddr { addr: KernelVa(0x20), sym: "g+0x4".into() },
                ],
            }),
            "kp: stack_trace_save_regs: [f+0x10, g+0x4]",
        ),
        (
            hit(HitStep::KprobeBreakpointHandler, KprobeStatus::HitActive),
            "kp@ffffffc010096100: kprobe_breakpoint_handler [KPROBE_HIT_ACTIVE]",
        ),
        (
            hit(HitStep::SetupSinglestepXol { slot }, KprobeStatus::HitSs),
            "kp@ffffffc010096100: setup_singlestep: pc = slot ffffffc013e9b000, DAIF masked [KPROBE_HIT_SS]",
        ),
        (
            hit(HitStep::ReenterMissed { current: None }, KprobeStatus::Reenter),
            "kp@ffffffc010096100: reenter_kprobe: missed, no handlers [KPROBE_REENTER]",
        ),
        (
            hit(HitStep::PostKprobeHandlerDone, KprobeStatus::None),
            "kp@ffffffc010096100: post_kprobe_handler: done [0]",
        ),
        (
            EventKind::Stopper { step: CpuStopStep::CpuStopperThread { stopper: CpuId(3) } },
            "migration/3: cpu_stopper_thread -> multi_cpu_stop",
        ),
        (
            EventKind::Stopper { step: CpuStopStep::RunFn { func: "aarch64_insn_patch_text_cb" } },
            "aarch64_insn_patch_text_cb (is_active)",
        ),
        (
            EventKind::Stopper { step: CpuStopStep::TextPokeBpStep { phase: 2 } },
            "text_poke_bp_batch step 2: all but the first byte; text_poke_sync()",
        ),
        (
            EventKind::Stopper {
                step: CpuStopStep::PokeInt3Handler {
                    ip: KernelVa(0xffff_ffff_8100_0000),
                    emulates: PokeEmulation::Call { target: SymAddr { addr: KernelVa(0), sym: "f".into() } },
                },
            },
            "poke_int3_handler: int3 of text_poke_bp at ffffffff81000000, emulates call f",
        ),
        (
            EventKind::StopMachineState { state: MultiStopState::DisableIrq },
            "all CPUs acked: state -> MULTI_STOP_DISABLE_IRQ",
        ),
        (
            EventKind::PatchCb { role: PatchCbRole::Master, cpu_count: 1 },
            "aarch64_insn_patch_text_cb: master, cpu_count=1",
        ),
        (
            EventKind::IcacheSync { addr: slot, len: 8, why: SyncReason::SyncCoreIpi },
            "ffffffc013e9b000+0x8 (sync_core (text_poke_sync IPI))",
        ),
        (EventKind::SyncSkipped { why: SyncReason::Isb }, "isb skipped by fault injection"),
        (
            EventKind::Oops { oops: Oops::UnexpectedBrk { esr: 0xf200_0004 } },
            "Unexpected kernel BRK exception at EL1; Internal error: BRK handler: f2000004 [#1] SMP",
        ),
        (
            EventKind::Oops {
                oops: Oops::PagingRequest { addr: 0, what: "unmapped fetch".into(), pc: 0xffff_ffc0_1000_0000 },
            },
            "Unable to handle kernel paging request at virtual address 0000000000000000 (unmapped fetch), \
             pc ffffffc010000000",
        ),
        (
            EventKind::Oops { oops: Oops::UnrecoverableKprobe { file: "arch/x86/kernel/kprobes/core.c" } },
            "Unrecoverable kprobe detected. kernel BUG at arch/x86/kernel/kprobes/core.c",
        ),
        (EventKind::Oops { oops: Oops::X86Trap { name: "invalid opcode" } }, "invalid opcode: 0000 [#1] SMP"),
        (
            EventKind::BpfOutput { map: "events".into(), buffer: BpfBuffer::Ringbuf, cpu: 1, size: 16 },
            "ringbuf record of 16 bytes to events (cpu 1)",
        ),
        (
            EventKind::InsnPatch {
                patch: KernelVa(0xffff_ffc0_1234_0000),
                text_addrs: vec![slot],
                new_insns: vec![0xd420_0080],
                insn_cnt: 1,
                cpu_count: 1,
                cpus: vec![
                    PatchCpu { cpu: CpuId(0), at: PatchCpuAt::InsnWrite },
                    PatchCpu {
                        cpu: CpuId(1),
                        at: PatchCpuAt::NotYet { pc: SymAddr { addr: KernelVa(0), sym: "f+0x8".into() } },
                    },
                ],
            },
            "__aarch64_insn_write: aarch64_insn_patch@ffffffc012340000 {text_addrs=[ffffffc013e9b000], \
             new_insns=[d4200080], insn_cnt=1, cpu_count=1}; cpu0: __aarch64_insn_write; \
             cpu1: not yet in aarch64_insn_patch_text_cb (guest pc f+0x8)",
        ),
    ];
    for (event, text) in cases {
        assert_eq!(event.to_string(), text, "{event:?}");
    }
}
