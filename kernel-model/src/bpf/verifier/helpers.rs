//! Helper prototypes (`struct bpf_func_proto`, include/linux/bpf.h) and which helpers each program type may call
//! (`kprobe_prog_func_proto`, `tp_prog_func_proto`, `raw_tp_prog_func_proto` → `bpf_tracing_func_proto` →
//! `bpf_base_func_proto`, kernel/trace/bpf_trace.c and kernel/bpf/helpers.c).
//!
//! The table lists the helpers the runtime provides plus a few the kernel knows that tracing programs may not call
//! (to get the kernel's "cannot use helper" message rather than "invalid func").

use super::ProgType;
use crate::bpf::helpers::*;

/// `enum bpf_arg_type`, the kinds used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// `ARG_DONTCARE`: no argument.
    DontCare,
    /// `ARG_CONST_MAP_PTR`.
    ConstMapPtr,
    /// `ARG_PTR_TO_MAP_KEY`: `key_size` initialised bytes.
    PtrToMapKey,
    /// `ARG_PTR_TO_MAP_VALUE`: `value_size` initialised bytes.
    PtrToMapValue,
    /// `ARG_PTR_TO_MEM` (`| MEM_RDONLY` in 6.12): initialised memory of the next argument's size.
    PtrToMem,
    /// `ARG_PTR_TO_UNINIT_MEM`: memory the helper writes, of the next argument's size.
    PtrToUninitMem,
    /// `ARG_CONST_SIZE`: a bounded, non-zero size.
    ConstSize,
    /// `ARG_CONST_SIZE_OR_ZERO`.
    ConstSizeOrZero,
    /// `ARG_CONST_ALLOC_SIZE_OR_ZERO`: a known constant.
    ConstAllocSizeOrZero,
    /// `ARG_PTR_TO_CTX`.
    PtrToCtx,
    /// `ARG_PTR_TO_ALLOC_MEM` (5.10) / `ARG_PTR_TO_RINGBUF_MEM` (6.12): a reserved ring buffer record.
    PtrToAllocMem,
    /// `ARG_ANYTHING`: any initialised value.
    Anything,
}

/// `enum bpf_return_type`, the kinds used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetType {
    /// `RET_INTEGER`.
    Integer,
    /// `RET_VOID`.
    Void,
    /// `RET_PTR_TO_MAP_VALUE_OR_NULL`.
    PtrToMapValueOrNull,
    /// `RET_PTR_TO_ALLOC_MEM_OR_NULL` (ring buffer reserve; acquires a reference).
    PtrToAllocMemOrNull,
}

/// `struct bpf_func_proto`.
#[derive(Clone, Copy, Debug)]
pub struct FuncProto {
    /// `BPF_FUNC_*`.
    pub id: u32,
    /// The kernel name (`func_id_name`).
    pub name: &'static str,
    /// `gpl_only`.
    pub gpl_only: bool,
    /// `ret_type`.
    pub ret: RetType,
    /// `arg1_type` … `arg5_type`.
    pub args: [ArgType; 5],
    /// Whether it releases the reference its first argument holds (`OBJ_RELEASE` / `is_release_function`).
    pub release: bool,
    /// Which tracing programs may call it.
    pub tracing: bool,
}

use ArgType::*;

const fn p(
    id: u32,
    name: &'static str,
    gpl_only: bool,
    ret: RetType,
    args: [ArgType; 5],
) -> FuncProto {
    FuncProto {
        id,
        name,
        gpl_only,
        ret,
        args,
        release: false,
        tracing: true,
    }
}

/// The prototypes (`bpf_map_lookup_elem_proto`, `bpf_probe_read_kernel_proto`, … as the kernel defines them).
pub const PROTOS: &[FuncProto] = &[
    p(
        BPF_FUNC_MAP_LOOKUP_ELEM,
        "bpf_map_lookup_elem",
        false,
        RetType::PtrToMapValueOrNull,
        [ConstMapPtr, PtrToMapKey, DontCare, DontCare, DontCare],
    ),
    p(
        BPF_FUNC_MAP_UPDATE_ELEM,
        "bpf_map_update_elem",
        false,
        RetType::Integer,
        [ConstMapPtr, PtrToMapKey, PtrToMapValue, Anything, DontCare],
    ),
    p(
        BPF_FUNC_MAP_DELETE_ELEM,
        "bpf_map_delete_elem",
        false,
        RetType::Integer,
        [ConstMapPtr, PtrToMapKey, DontCare, DontCare, DontCare],
    ),
    p(
        BPF_FUNC_PROBE_READ,
        "bpf_probe_read",
        true,
        RetType::Integer,
        [
            PtrToUninitMem,
            ConstSizeOrZero,
            Anything,
            DontCare,
            DontCare,
        ],
    ),
    p(
        BPF_FUNC_KTIME_GET_NS,
        "bpf_ktime_get_ns",
        false,
        RetType::Integer,
        [DontCare; 5],
    ),
    p(
        BPF_FUNC_TRACE_PRINTK,
        "bpf_trace_printk",
        true,
        RetType::Integer,
        [PtrToMem, ConstSize, DontCare, DontCare, DontCare],
    ),
    p(
        BPF_FUNC_GET_PRANDOM_U32,
        "bpf_get_prandom_u32",
        false,
        RetType::Integer,
        [DontCare; 5],
    ),
    p(
        BPF_FUNC_GET_SMP_PROCESSOR_ID,
        "bpf_get_smp_processor_id",
        false,
        RetType::Integer,
        [DontCare; 5],
    ),
    p(
        BPF_FUNC_GET_CURRENT_PID_TGID,
        "bpf_get_current_pid_tgid",
        false,
        RetType::Integer,
        [DontCare; 5],
    ),
    p(
        15,
        "bpf_get_current_uid_gid",
        false,
        RetType::Integer,
        [DontCare; 5],
    ),
    p(
        BPF_FUNC_GET_CURRENT_COMM,
        "bpf_get_current_comm",
        false,
        RetType::Integer,
        [PtrToUninitMem, ConstSize, DontCare, DontCare, DontCare],
    ),
    p(
        BPF_FUNC_PERF_EVENT_OUTPUT,
        "bpf_perf_event_output",
        true,
        RetType::Integer,
        [PtrToCtx, ConstMapPtr, Anything, PtrToMem, ConstSizeOrZero],
    ),
    p(
        BPF_FUNC_GET_CURRENT_TASK,
        "bpf_get_current_task",
        true,
        RetType::Integer,
        [DontCare; 5],
    ),
    FuncProto {
        tracing: false,
        ..p(
            44,
            "bpf_xdp_adjust_head",
            false,
            RetType::Integer,
            [PtrToCtx, Anything, DontCare, DontCare, DontCare],
        )
    },
    p(
        BPF_FUNC_OVERRIDE_RETURN,
        "bpf_override_return",
        true,
        RetType::Integer,
        [PtrToCtx, Anything, DontCare, DontCare, DontCare],
    ),
    p(
        BPF_FUNC_PROBE_READ_USER,
        "bpf_probe_read_user",
        true,
        RetType::Integer,
        [
            PtrToUninitMem,
            ConstSizeOrZero,
            Anything,
            DontCare,
            DontCare,
        ],
    ),
    p(
        BPF_FUNC_PROBE_READ_KERNEL,
        "bpf_probe_read_kernel",
        true,
        RetType::Integer,
        [
            PtrToUninitMem,
            ConstSizeOrZero,
            Anything,
            DontCare,
            DontCare,
        ],
    ),
    p(
        BPF_FUNC_PROBE_READ_USER_STR,
        "bpf_probe_read_user_str",
        true,
        RetType::Integer,
        [
            PtrToUninitMem,
            ConstSizeOrZero,
            Anything,
            DontCare,
            DontCare,
        ],
    ),
    p(
        BPF_FUNC_PROBE_READ_KERNEL_STR,
        "bpf_probe_read_kernel_str",
        true,
        RetType::Integer,
        [
            PtrToUninitMem,
            ConstSizeOrZero,
            Anything,
            DontCare,
            DontCare,
        ],
    ),
    p(
        BPF_FUNC_RINGBUF_OUTPUT,
        "bpf_ringbuf_output",
        false,
        RetType::Integer,
        [ConstMapPtr, PtrToMem, ConstSizeOrZero, Anything, DontCare],
    ),
    p(
        BPF_FUNC_RINGBUF_RESERVE,
        "bpf_ringbuf_reserve",
        false,
        RetType::PtrToAllocMemOrNull,
        [
            ConstMapPtr,
            ConstAllocSizeOrZero,
            Anything,
            DontCare,
            DontCare,
        ],
    ),
    FuncProto {
        release: true,
        ..p(
            BPF_FUNC_RINGBUF_SUBMIT,
            "bpf_ringbuf_submit",
            false,
            RetType::Void,
            [PtrToAllocMem, Anything, DontCare, DontCare, DontCare],
        )
    },
    FuncProto {
        release: true,
        ..p(
            BPF_FUNC_RINGBUF_DISCARD,
            "bpf_ringbuf_discard",
            false,
            RetType::Void,
            [PtrToAllocMem, Anything, DontCare, DontCare, DontCare],
        )
    },
    // kernel/bpf/helpers.c: bpf_get_current_uid_gid_proto, bpf_ktime_get_boot_ns_proto (both in
    // bpf_tracing_func_proto's list in 5.10 and 6.12).
    p(BPF_FUNC_GET_CURRENT_UID_GID, "bpf_get_current_uid_gid", false, RetType::Integer, [DontCare; 5]),
    p(BPF_FUNC_KTIME_GET_BOOT_NS, "bpf_ktime_get_boot_ns", false, RetType::Integer, [DontCare; 5]),
];

/// `__BPF_FUNC_MAX_ID`: ids at or above it are "invalid func" (5.10 ends at `bpf_ima_inode_hash` = 157 (+1);
/// 6.12 at `bpf_cgrp_storage_delete` = 211 (+1)).
#[must_use]
pub fn func_max_id(profile: crate::profile::KernelProfile) -> u32 {
    if profile >= crate::profile::KernelProfile::V6_12 {
        212
    } else {
        158
    }
}

/// `env->ops->get_func_proto(func_id, prog)`: the prototype, if the program type may call it. `None` with a
/// name: the kernel knows the helper but this type may not call it.
pub fn get_func_proto(
    id: u32,
    _prog: ProgType,
) -> Result<&'static FuncProto, Option<&'static str>> {
    match PROTOS.iter().find(|p| p.id == id) {
        Some(p) if p.tracing => Ok(p),
        Some(p) => Err(Some(p.name)),
        None => Err(None),
    }
}
