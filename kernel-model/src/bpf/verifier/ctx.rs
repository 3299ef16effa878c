//! Context access rules per program type: `kprobe_prog_is_valid_access`, `tp_prog_is_valid_access` and
//! `raw_tp_prog_is_valid_access` (kernel/trace/bpf_trace.c). The size of a kprobe program's ctx is
//! `sizeof(struct pt_regs)` of the ISA, asked of [`crate::ptrace::PtRegs`].

use super::ProgType;
use crate::profile::KernelProfile;
use crate::ptrace::PtRegs;
use crate::Isa;

/// `PERF_MAX_TRACE_SIZE` (include/linux/trace_events.h): 2048 in 5.10, 8192 in 6.12.
#[must_use]
pub fn perf_max_trace_size(profile: KernelProfile) -> i64 {
    if profile >= KernelProfile::V6_12 {
        8192
    } else {
        2048
    }
}

/// `MAX_BPF_FUNC_ARGS` (include/linux/bpf.h).
pub const MAX_BPF_FUNC_ARGS: i64 = 12;

/// `sizeof(struct pt_regs)` on `isa`.
#[must_use]
pub fn pt_regs_size(isa: Isa) -> i64 {
    PtRegs::new(isa).to_bytes().len() as i64
}

/// `<type>_is_valid_access(off, size, type)`: whether a ctx access of `size` bytes at `off` is allowed.
#[must_use]
pub fn is_valid_access(
    prog: ProgType,
    isa: Isa,
    profile: KernelProfile,
    off: i64,
    size: i64,
    write: bool,
) -> bool {
    match prog {
        // kprobe_prog_is_valid_access
        ProgType::Kprobe => {
            let sz = pt_regs_size(isa);
            if off < 0 || off >= sz || write || off % size != 0 {
                return false;
            }
            // Assertion for 32 bit to make sure last 8 byte access (BPF_DW) to the last 4 byte member is
            // disallowed.
            off + size <= sz
        }
        // tp_prog_is_valid_access: the first 8 bytes (the common fields' header) are not the program's.
        ProgType::Tracepoint => {
            !(off < 8 || off >= perf_max_trace_size(profile) || write || off % size != 0)
        }
        // raw_tp_prog_is_valid_access
        ProgType::RawTracepoint => {
            (0..8 * MAX_BPF_FUNC_ARGS).contains(&off) && !write && off % size == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kprobe_ctx_is_pt_regs() {
        let p = KernelProfile::V6_12;
        assert_eq!(pt_regs_size(Isa::X86_64), 168);
        assert!(is_valid_access(
            ProgType::Kprobe,
            Isa::X86_64,
            p,
            160,
            8,
            false
        ));
        assert!(!is_valid_access(
            ProgType::Kprobe,
            Isa::X86_64,
            p,
            168,
            8,
            false
        ));
        assert!(!is_valid_access(
            ProgType::Kprobe,
            Isa::X86_64,
            p,
            4,
            8,
            false
        ));
        assert!(!is_valid_access(
            ProgType::Kprobe,
            Isa::X86_64,
            p,
            0,
            8,
            true
        ));
        assert!(is_valid_access(
            ProgType::Kprobe,
            Isa::Aarch64,
            p,
            328,
            8,
            false
        ));
        assert!(!is_valid_access(
            ProgType::Kprobe,
            Isa::Aarch64,
            p,
            4000,
            8,
            false
        ));
        assert!(!is_valid_access(
            ProgType::Tracepoint,
            Isa::X86_64,
            p,
            0,
            8,
            false
        ));
    }
}
