//! Steps of registering, arming, running and removing kprobes and kretprobes (`kernel/kprobes.c`).

use super::{hex, SymAddr};
use crate::errno::Errno;
use crate::{CpuId, KernelVa};
use serde::Serialize;
use std::fmt;

/// `0` or `-ENOENT (-2)`: how the log shows a kernel function's `int` result.
struct Ret(Option<Errno>);

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("0"),
            Some(e) => write!(f, "{e}"),
        }
    }
}

/// Which of `unregister_kprobe`, `disable_kprobe`, `enable_kprobe` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KprobeOpFn {
    /// `register_kprobe`.
    RegisterKprobe,
    /// `unregister_kprobe`.
    UnregisterKprobe,
    /// `disable_kprobe`.
    DisableKprobe,
    /// `enable_kprobe`.
    EnableKprobe,
}

impl KprobeOpFn {
    /// The kernel function's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KprobeOpFn::RegisterKprobe => "register_kprobe",
            KprobeOpFn::UnregisterKprobe => "unregister_kprobe",
            KprobeOpFn::DisableKprobe => "disable_kprobe",
            KprobeOpFn::EnableKprobe => "enable_kprobe",
        }
    }
}

/// A step of registering, arming, running or removing a kprobe or kretprobe (`kernel/kprobes.c`, the arch's
/// `arch_prepare_*`, `kernel/trace/trace_kprobe.c`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum KprobeStep {
    /// `register_kprobe` returned: 0, or the errno and which check refused.
    RegisterKprobeReturned {
        /// The error, if it failed.
        errno: Option<Errno>,
        /// Which check refused, in the kernel's terms.
        reason: Option<String>,
    },
    /// `register_kretprobe` returned an error.
    RegisterKretprobeReturned {
        /// The error.
        errno: Errno,
        /// Which check refused.
        reason: String,
    },
    /// `register_kprobes` returned; on an error the probes already registered are unregistered.
    RegisterKprobesReturned {
        /// The error, if it failed.
        errno: Option<Errno>,
        /// How many probes of the batch are unregistered again.
        unregistering: usize,
    },
    /// `unregister_kprobe`/`disable_kprobe`/`enable_kprobe` returned.
    ProbeOpReturned {
        /// Which function.
        op: KprobeOpFn,
        /// The error, if it failed.
        errno: Option<Errno>,
    },
    /// The operation (`register_kprobe`, `unregister_kprobe`, `disable_kprobe`, `enable_kprobe`) waits for
    /// `kprobe_mutex` (kernel/kprobes.c), which the operation on `owner_cpu` holds. Emitted once, when it starts
    /// waiting.
    WaitsForKprobeMutex {
        /// Which operation waits.
        op: KprobeOpFn,
        /// The CPU whose operation holds the mutex.
        owner_cpu: CpuId,
    },
    /// arm64 `arch_prepare_kprobe`: the instruction is simulated (`arm_kprobe_decode_insn` → `INSN_GOOD_NO_SLOT`).
    ArchPrepareSimulate {
        /// The `simulate_*` handler stored in `arch_specific_insn`.
        handler: &'static str,
    },
    /// arm64 `arch_prepare_ss_slot`: the instruction is copied to an XOL slot.
    ArchPrepareSsSlot {
        /// The slot.
        slot: KernelVa,
    },
    /// x86 `arch_prepare_kprobe` → `arch_copy_kprobe`: the copy in its slot.
    ArchPrepareKprobe {
        /// The slot.
        slot: KernelVa,
        /// Bytes in the slot.
        len: usize,
        /// How the probe will run (boostable, emulated, single-stepped …), in the kernel's terms.
        class: String,
    },
    /// `register_aggr_kprobe`: the probe joins the aggregate at an already probed address.
    JoinsAggr {
        /// The probed address.
        addr: KernelVa,
    },
    /// `arm_kprobe` done: the breakpoint is in place.
    Armed,
    /// A handler calls a kernel function (guest code).
    HandlerCalls {
        /// The function.
        func: String,
    },
    /// The handler's kernel call returned.
    HandlerCallReturned {
        /// Its return value.
        #[serde(serialize_with = "hex")]
        ret: u64,
    },
    /// A BPF helper's kernel call (e.g. `copy_from_kernel_nofault`) returned to the helper.
    HelperCallReturned {
        /// The function called.
        func: &'static str,
        /// The helper that called it.
        helper: &'static str,
        /// Its return value.
        #[serde(serialize_with = "hex")]
        ret: u64,
    },
    /// 5.10 `trace_call_bpf`: `in_nmi()` (x86's int3 handler is NMI-like) returns 1 without running the programs.
    TraceCallBpfInNmi,
    /// `PERF_EVENT_IOC_SET_BPF` → `perf_event_attach_bpf_prog` (kernel/trace/bpf_trace.c): `prog` joins the
    /// event's `prog_array` (`bpf_prog_array_copy` appends it), which then holds `progs` programs.
    BpfProgArrayJoined {
        /// The program.
        prog: String,
        /// The array's length after it.
        progs: usize,
    },
    /// `kprobe_perf_func` / `kretprobe_perf_func` (kernel/trace/trace_kprobe.c) after `trace_call_bpf` over an
    /// event's `prog_array` of `progs` (two or more) programs: `ret`, their results ANDed (`bpf_prog_run_array`),
    /// keeps the hit's perf sample or (0) filters it.
    PerfFuncFilter {
        /// `kprobe_perf_func` or `kretprobe_perf_func`.
        func: &'static str,
        /// The array's length.
        progs: usize,
        /// `trace_call_bpf`'s return.
        ret: u32,
    },
    /// `trace_kprobe` attach for a program type the model does not attach yet.
    BpfAttachUnsupported {
        /// The attach point, as the loader names it.
        attach: String,
    },
    /// `pre_handler_kretprobe`: no free instance (`nmissed++`).
    KretprobeNoFreeInstance,
    /// `pre_handler_kretprobe`: the entry handler returned non-zero; the instance is recycled.
    KretprobeEntryHandlerRejected,
    /// `arch_prepare_kretprobe`: the return address is replaced by the trampoline.
    ArchPrepareKretprobe {
        /// The original return address.
        #[serde(serialize_with = "hex")]
        ret_addr: u64,
        /// `kretprobe_trampoline` / `__kretprobe_trampoline`.
        trampoline: KernelVa,
    },
    /// `__kretprobe_trampoline_handler`'s WARN: the instance's frame pointer is not the one returning.
    KretprobeFpMismatch {
        /// The instance's recorded frame pointer.
        #[serde(serialize_with = "hex")]
        instance_fp: u64,
        /// The frame pointer at the trampoline.
        #[serde(serialize_with = "hex")]
        frame_pointer: u64,
    },
    /// `__kretprobe_trampoline_handler`: the probed function returned.
    KretprobeTrampolineHandler {
        /// Where it returns to.
        #[serde(serialize_with = "hex")]
        ret_addr: u64,
        /// Its return value.
        #[serde(serialize_with = "hex")]
        retval: u64,
    },
    /// A kretprobe's handler asked for a kernel call, which the model does not run there.
    KretprobeCallSkipped {
        /// The function it asked for.
        func: String,
    },
    /// `stack_trace_save_regs` from a handler.
    StackTraceSaved {
        /// The trace, innermost first.
        trace: Vec<SymAddr>,
    },
}

impl fmt::Display for KprobeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KprobeStep::RegisterKprobeReturned { errno: None, .. } => f.write_str("register_kprobe returned 0"),
            KprobeStep::RegisterKprobeReturned { errno: Some(e), reason } => {
                write!(f, "register_kprobe returned {e}: {}", reason.as_deref().unwrap_or(""))
            }
            KprobeStep::RegisterKretprobeReturned { errno, reason } => {
                write!(f, "register_kretprobe returned {errno}: {reason}")
            }
            KprobeStep::RegisterKprobesReturned { errno: None, .. } => f.write_str("register_kprobes returned 0"),
            KprobeStep::RegisterKprobesReturned { errno: Some(e), unregistering } => {
                write!(f, "register_kprobes returned {e}; unregistering {unregistering} already registered")
            }
            KprobeStep::ProbeOpReturned { op, errno } => write!(f, "{} returned {}", op.name(), Ret(*errno)),
            KprobeStep::WaitsForKprobeMutex { op, owner_cpu } => {
                write!(f, "{} waits for kprobe_mutex (held by cpu{owner_cpu})", op.name())
            }
            KprobeStep::ArchPrepareSimulate { handler } => write!(f, "arch_prepare_simulate: {handler}"),
            KprobeStep::ArchPrepareSsSlot { slot } => write!(f, "arch_prepare_ss_slot: slot {slot}"),
            KprobeStep::ArchPrepareKprobe { slot, len, class } => {
                write!(f, "arch_prepare_kprobe: slot {slot} ({len} bytes), {class}")
            }
            KprobeStep::JoinsAggr { addr } => write!(f, "joins the probe at {addr} (aggr_kprobe)"),
            KprobeStep::Armed => f.write_str("armed"),
            KprobeStep::HandlerCalls { func } => write!(f, "handler calls {func}"),
            KprobeStep::HandlerCallReturned { ret } => write!(f, "handler's call returned {ret:#x} ({ret})"),
            KprobeStep::HelperCallReturned { func, helper, ret } => {
                write!(f, "{func} returned {ret:#x} ({}) to {helper}", *ret as i64)
            }
            KprobeStep::TraceCallBpfInNmi => {
                f.write_str("trace_call_bpf: in_nmi() (int3 is NMI-like): return 1, programs not run")
            }
            KprobeStep::BpfProgArrayJoined { prog, progs } => {
                write!(f, "PERF_EVENT_IOC_SET_BPF: {prog} joins the event's prog_array ({progs} programs)")
            }
            KprobeStep::PerfFuncFilter { func, progs, ret } => {
                let verdict = if *ret == 0 { "filtered: no perf sample" } else { "kept: the perf sample is submitted" };
                write!(f, "{func}: trace_call_bpf over {progs} programs (results ANDed) returned {ret}: {verdict}")
            }
            KprobeStep::BpfAttachUnsupported { attach } => {
                write!(f, "BPF program attach point {attach} is not attached by the model yet")
            }
            KprobeStep::KretprobeNoFreeInstance => f.write_str("pre_handler_kretprobe: no free instance (nmissed++)"),
            KprobeStep::KretprobeEntryHandlerRejected => {
                f.write_str("entry_handler returned non-zero: instance recycled")
            }
            KprobeStep::ArchPrepareKretprobe { ret_addr, trampoline } => {
                write!(f, "arch_prepare_kretprobe: ret_addr {ret_addr:#x} -> {trampoline}")
            }
            KprobeStep::KretprobeFpMismatch { instance_fp, frame_pointer } => {
                write!(f, "WARN: kretprobe instance fp {instance_fp:#x} != frame pointer {frame_pointer:#x}")
            }
            KprobeStep::KretprobeTrampolineHandler { ret_addr, retval } => {
                write!(f, "kretprobe_trampoline_handler: return to {ret_addr:#x}, return value {retval:#x}")
            }
            KprobeStep::KretprobeCallSkipped { func } => {
                write!(f, "kretprobe handlers cannot call kernel functions in this model (skipped {func})")
            }
            KprobeStep::StackTraceSaved { trace } => {
                let shown: Vec<&str> = trace.iter().map(|a| a.sym.as_str()).collect();
                write!(f, "stack_trace_save_regs: [{}]", shown.join(", "))
            }
        }
    }
}
