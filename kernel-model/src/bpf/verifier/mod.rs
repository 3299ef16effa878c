//! The BPF verifier (`bpf_check`, kernel/bpf/verifier.c) for kprobe/kretprobe, tracepoint and raw_tracepoint
//! programs, as a privileged (`CAP_BPF` + `CAP_PERFMON`, `allow_ptr_leaks`) loader sees it, per kernel profile.
//!
//! - [`cfg`]: `check_subprogs` + `check_cfg` (jump ranges, unreachable code, back-edges);
//! - `do_check` here: abstract interpretation path by path, one [`regs::RegState`] per register with [`tnum`] and
//!   signed/unsigned bounds, the stack per frame ([`stack`]), pointer kinds, null checks after
//!   `bpf_map_lookup_elem`, helper prototypes ([`helpers`]), ctx rules ([`ctx`]), bpf-to-bpf frames (≤ 8, 512 bytes
//!   combined), ring buffer references, the 1 M processed-instruction limit and state pruning (`is_state_visited`
//!   with `states_equal`/`regsafe` simplified: every scalar is compared as if precise, so it prunes less than the
//!   kernel but never unsoundly; states are only pruned against fully explored ones);
//! - [`log`]: the verifier log and its statistics line.
//!
//! Every refusal message is the kernel's text; the doc comment of the function that emits it names the kernel
//! function. What this model does not do: liveness/precision marks (so `mark_read` is 0 and pruning is coarser),
//! BTF-typed pointers, kfuncs, tail calls, spin locks, packet pointers, variable-offset stack writes.

pub mod cfg;
pub mod ctx;
pub mod helpers;
pub mod log;
pub mod regs;
pub mod stack;
pub mod tnum;

mod check;

use crate::bpf::insn::Insn;
use crate::bpf::maps::MapType;
use crate::profile::KernelProfile;
use crate::Isa;
pub use log::Stats;

/// The program types this verifier knows (`enum bpf_prog_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgType {
    /// `BPF_PROG_TYPE_KPROBE` (kprobes and kretprobes).
    Kprobe,
    /// `BPF_PROG_TYPE_TRACEPOINT`.
    Tracepoint,
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT`.
    RawTracepoint,
}

/// A map the program may refer to by id (what `lddw rX, map_fd ID` names after libbpf's fd fix-up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// Runtime map id.
    pub id: u32,
    /// Its type.
    pub map_type: MapType,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
}

/// What the verifier needs to know about the load (`union bpf_attr` of `BPF_PROG_LOAD` and the kernel).
#[derive(Clone, Debug)]
pub struct VerifierEnv<'a> {
    /// The kernel version.
    pub profile: KernelProfile,
    /// The ISA (for `sizeof(struct pt_regs)`).
    pub isa: Isa,
    /// The program type.
    pub prog_type: ProgType,
    /// Whether the license is GPL-compatible (`prog->gpl_compatible`).
    pub gpl: bool,
    /// The maps that exist.
    pub maps: &'a [MapInfo],
    /// `log_level`: 0, 1 or 2.
    pub log_level: u32,
    /// `env->bpf_capable`: a loader without it has back-edges refused by `check_cfg`.
    pub bpf_capable: bool,
}

impl<'a> VerifierEnv<'a> {
    /// A privileged load of a `prog_type` program.
    #[must_use]
    pub fn new(
        profile: KernelProfile,
        isa: Isa,
        prog_type: ProgType,
        gpl: bool,
        maps: &'a [MapInfo],
    ) -> Self {
        VerifierEnv {
            profile,
            isa,
            prog_type,
            gpl,
            maps,
            log_level: 0,
            bpf_capable: true,
        }
    }
}

/// A refusal: the kernel's message and the instruction it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (insn {pc})")]
pub struct Refusal {
    /// The instruction index.
    pub pc: usize,
    /// The kernel's message (the log's last line before the statistics).
    pub message: String,
}

/// The outcome of [`bpf_check`].
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Accepted, or why not.
    pub result: Result<(), Refusal>,
    /// The log, as `BPF_PROG_LOAD`'s `log_buf` would hold it.
    pub log: String,
    /// The statistics.
    pub stats: Stats,
}

/// `bpf_check` (kernel/bpf/verifier.c): `check_subprogs`, `check_cfg`, `do_check_main`, `check_max_stack_depth`,
/// then `print_verification_stats`.
#[must_use]
pub fn bpf_check(insns: &[Insn], env: &VerifierEnv<'_>) -> Verdict {
    let mut log = log::VerifierLog {
        level: env.log_level,
        text: String::new(),
    };
    if insns.is_empty() {
        // bpf_prog_load: a program of 0 instructions is -EINVAL before the verifier runs.
        log.verbose("program has no instructions");
        return Verdict {
            result: Err(Refusal {
                pc: 0,
                message: "program has no instructions".into(),
            }),
            log: log.text,
            stats: Stats::default(),
        };
    }
    let (result, stats) = match cfg::check(insns, env.bpf_capable) {
        Err(r) => (Err(r), Stats::default()),
        Ok(cfg) => {
            let mut v = check::Verifier::new(insns, env, &cfg, &mut log);
            let r = v.do_check().and_then(|()| v.check_max_stack_depth());
            (r, v.stats)
        }
    };
    if let Err(r) = &result {
        log.verbose(&r.message);
    }
    log.verbose(&stats.line());
    Verdict {
        result,
        log: log.text,
        stats,
    }
}
