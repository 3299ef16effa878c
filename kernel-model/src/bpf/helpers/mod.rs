//! The helpers a kprobe program can call, with their kernel ids (`__BPF_FUNC_MAPPER` in include/uapi/linux/bpf.h)
//! and semantics (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c, kernel/bpf/ringbuf.c, mm/maccess.c):
//!
//! | id | helper | notes |
//! | --- | --- | --- |
//! | 1, 2, 3 | `map_lookup_elem`, `map_update_elem`, `map_delete_elem` | a lookup returns a pointer to an external VM region backed by the map's own storage |
//! | 4 | `probe_read` | the compat helper: user memory below `TASK_SIZE`, kernel memory above (arm64 and x86 select `ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE`) |
//! | 5 | `ktime_get_ns` | the virtual clock, 1 ns per tick |
//! | 6 | `trace_printk` | [`super::printk`]; appends a trace_pipe line |
//! | 7 | `get_prandom_u32` | `prandom_u32_state` on the CPU's state, seeded from the scenario's seed ([`RndState`]) |
//! | 8 | `get_smp_processor_id` | |
//! | 14 | `get_current_pid_tgid` | `tgid << 32 \| pid` |
//! | 15 | `get_current_uid_gid` | `gid << 32 \| uid` of `current_cred()`: every simulated task runs as root (0, 0) |
//! | 16 | `get_current_comm` | `strscpy_pad` of the 16-byte comm |
//! | 25 | `perf_event_output` | `__bpf_perf_event_output`'s checks; the record is kept by the runtime |
//! | 35 | `get_current_task` | the task's `task_struct` address in guest memory |
//! | 58 | `override_return` | `regs_set_return_value` + `override_function_with_return` on the ctx |
//! | 112, 113 | `probe_read_user`, `probe_read_kernel` | `copy_from_{user,kernel}_nofault`; a fault zeroes the buffer and returns `-EFAULT` |
//! | 114, 115 | `probe_read_user_str`, `probe_read_kernel_str` | `strncpy_from_{user,kernel}_nofault` |
//! | 125 | `ktime_get_boot_ns` | `ktime_get_boot_fast_ns`: the virtual clock (the machine never suspends, so boot time is monotonic time) |
//! | 130–133 | `ringbuf_output`, `ringbuf_reserve`, `ringbuf_submit`, `ringbuf_discard` | |
//!
//! `probe_read_kernel` (and `probe_read` of a kernel address) runs the guest's own `copy_from_kernel_nofault` when
//! the image has one and the caller can run guest code (`Env::guest_stack`): the run suspends
//! ([`HelperReturn::Suspend`]), the CPU executes the function — where a kprobe on it hits, inside the BPF
//! program — and `Env::finish_guest_call` completes the helper with the function's return value. The guest copies
//! into a bounce buffer on the CPU's kernel stack, below the exception frame (the BPF stack is host memory here,
//! where the kernel's interpreter keeps it on that same kernel stack); a source that would fault is answered by the
//! model (`-EFAULT`) without the call, since the guest has no exception-table fixup.
//!
//! "Kernel memory" for a read is, in order: the VM's own memory (the BPF stack, the ctx, map values — all kernel
//! memory in the real kernel), then guest memory through [`GuestMemory`]. "User memory" is guest memory below
//! `TASK_SIZE` only.

use super::error::{AccessError, HelperError};
use super::maps::{BpfMap, MapType};
use crate::errno::Errno;
use super::memory::{Backing, ExternalMemory, Memory, RegionKind};
use super::printk::{self, PrintkEnv, StrSource};
use super::vm::{HelperReturn, Helpers};
use crate::ptrace::PtRegs;
use crate::event::{BpfBuffer, EventKind};
use crate::machine::{Machine, MemFault, MemFaultKind};
use crate::profile::KernelProfile;
use crate::{CpuId, Isa, KernelVa};

/// `BPF_FUNC_map_lookup_elem`.
pub const BPF_FUNC_MAP_LOOKUP_ELEM: u32 = 1;
/// `BPF_FUNC_map_update_elem`.
pub const BPF_FUNC_MAP_UPDATE_ELEM: u32 = 2;
/// `BPF_FUNC_map_delete_elem`.
pub const BPF_FUNC_MAP_DELETE_ELEM: u32 = 3;
/// `BPF_FUNC_probe_read`.
pub const BPF_FUNC_PROBE_READ: u32 = 4;
/// `BPF_FUNC_ktime_get_ns`.
pub const BPF_FUNC_KTIME_GET_NS: u32 = 5;
/// `BPF_FUNC_trace_printk`.
pub const BPF_FUNC_TRACE_PRINTK: u32 = 6;
/// `BPF_FUNC_get_prandom_u32`.
pub const BPF_FUNC_GET_PRANDOM_U32: u32 = 7;
/// `BPF_FUNC_get_smp_processor_id`.
pub const BPF_FUNC_GET_SMP_PROCESSOR_ID: u32 = 8;
/// `BPF_FUNC_get_current_pid_tgid`.
pub const BPF_FUNC_GET_CURRENT_PID_TGID: u32 = 14;
/// `BPF_FUNC_get_current_uid_gid`.
pub const BPF_FUNC_GET_CURRENT_UID_GID: u32 = 15;
/// `BPF_FUNC_get_current_comm`.
pub const BPF_FUNC_GET_CURRENT_COMM: u32 = 16;
/// `BPF_FUNC_perf_event_output`.
pub const BPF_FUNC_PERF_EVENT_OUTPUT: u32 = 25;
/// `BPF_FUNC_get_current_task`.
pub const BPF_FUNC_GET_CURRENT_TASK: u32 = 35;
/// `BPF_FUNC_override_return`.
pub const BPF_FUNC_OVERRIDE_RETURN: u32 = 58;
/// `BPF_FUNC_probe_read_user`.
pub const BPF_FUNC_PROBE_READ_USER: u32 = 112;
/// `BPF_FUNC_probe_read_kernel`.
pub const BPF_FUNC_PROBE_READ_KERNEL: u32 = 113;
/// `BPF_FUNC_probe_read_user_str`.
pub const BPF_FUNC_PROBE_READ_USER_STR: u32 = 114;
/// `BPF_FUNC_probe_read_kernel_str`.
pub const BPF_FUNC_PROBE_READ_KERNEL_STR: u32 = 115;
/// `BPF_FUNC_ktime_get_boot_ns`.
pub const BPF_FUNC_KTIME_GET_BOOT_NS: u32 = 125;
/// `BPF_FUNC_ringbuf_output`.
pub const BPF_FUNC_RINGBUF_OUTPUT: u32 = 130;
/// `BPF_FUNC_ringbuf_reserve`.
pub const BPF_FUNC_RINGBUF_RESERVE: u32 = 131;
/// `BPF_FUNC_ringbuf_submit`.
pub const BPF_FUNC_RINGBUF_SUBMIT: u32 = 132;
/// `BPF_FUNC_ringbuf_discard`.
pub const BPF_FUNC_RINGBUF_DISCARD: u32 = 133;

pub use ids::{kernel_helper_name, KERNEL_HELPER_NAMES};
pub use random::RndState;

/// What a program is told about helper `id` that probesim does not model: `helper N (name) is not modelled by
/// probesim` when the kernel has it, else the kernel's own `invalid func unknown#N`.
#[must_use]
pub fn not_modelled(id: u32) -> String {
    match kernel_helper_name(id) {
        Some(name) => format!("helper {id} ({name}) is not modelled by probesim (docs/bpf-helpers.md)"),
        None => format!("invalid func unknown#{id}"),
    }
}

/// Every helper the runtime provides, with its kernel name.
pub const HELPERS: &[(u32, &str)] = &[
    (BPF_FUNC_MAP_LOOKUP_ELEM, "bpf_map_lookup_elem"),
    (BPF_FUNC_MAP_UPDATE_ELEM, "bpf_map_update_elem"),
    (BPF_FUNC_MAP_DELETE_ELEM, "bpf_map_delete_elem"),
    (BPF_FUNC_PROBE_READ, "bpf_probe_read"),
    (BPF_FUNC_KTIME_GET_NS, "bpf_ktime_get_ns"),
    (BPF_FUNC_TRACE_PRINTK, "bpf_trace_printk"),
    (BPF_FUNC_GET_PRANDOM_U32, "bpf_get_prandom_u32"),
    (BPF_FUNC_GET_SMP_PROCESSOR_ID, "bpf_get_smp_processor_id"),
    (BPF_FUNC_GET_CURRENT_PID_TGID, "bpf_get_current_pid_tgid"),
    (BPF_FUNC_GET_CURRENT_UID_GID, "bpf_get_current_uid_gid"),
    (BPF_FUNC_GET_CURRENT_COMM, "bpf_get_current_comm"),
    (BPF_FUNC_PERF_EVENT_OUTPUT, "bpf_perf_event_output"),
    (BPF_FUNC_GET_CURRENT_TASK, "bpf_get_current_task"),
    (BPF_FUNC_OVERRIDE_RETURN, "bpf_override_return"),
    (BPF_FUNC_PROBE_READ_USER, "bpf_probe_read_user"),
    (BPF_FUNC_PROBE_READ_KERNEL, "bpf_probe_read_kernel"),
    (BPF_FUNC_PROBE_READ_USER_STR, "bpf_probe_read_user_str"),
    (BPF_FUNC_PROBE_READ_KERNEL_STR, "bpf_probe_read_kernel_str"),
    (BPF_FUNC_KTIME_GET_BOOT_NS, "bpf_ktime_get_boot_ns"),
    (BPF_FUNC_RINGBUF_OUTPUT, "bpf_ringbuf_output"),
    (BPF_FUNC_RINGBUF_RESERVE, "bpf_ringbuf_reserve"),
    (BPF_FUNC_RINGBUF_SUBMIT, "bpf_ringbuf_submit"),
    (BPF_FUNC_RINGBUF_DISCARD, "bpf_ringbuf_discard"),
];

/// Whether helper `id` is `gpl_only` in its `bpf_func_proto` (the verifier refuses it to a program whose license is
/// not GPL-compatible): the probe_read family, trace_printk, perf_event_output, get_current_task, override_return.
#[must_use]
pub fn helper_gpl_only(id: u32) -> bool {
    matches!(
        id,
        BPF_FUNC_PROBE_READ
            | BPF_FUNC_TRACE_PRINTK
            | BPF_FUNC_PERF_EVENT_OUTPUT
            | BPF_FUNC_GET_CURRENT_TASK
            | BPF_FUNC_OVERRIDE_RETURN
            | BPF_FUNC_PROBE_READ_USER
            | BPF_FUNC_PROBE_READ_KERNEL
            | BPF_FUNC_PROBE_READ_USER_STR
            | BPF_FUNC_PROBE_READ_KERNEL_STR
    )
}

/// The kernel name of helper `id`, if the runtime provides it.
#[must_use]
pub fn helper_name(id: u32) -> Option<&'static str> {
    HELPERS.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

/// Where map "pointers" (what `lddw rX, map_fd N` loads, `struct bpf_map *` in the kernel) start; map id `n` is
/// `MAP_PTR_BASE + n * MAP_PTR_STRIDE`. Nothing is mapped there: a program dereferencing one faults.
pub const MAP_PTR_BASE: u64 = 0xffff_a000_0000_0000;
/// Distance between two map pointers.
pub const MAP_PTR_STRIDE: u64 = 0x1000;
/// Where map values are mapped in the VM: map index `i`'s window is `MAP_VALUE_BASE + (i << 36)`; slot `s` sits at
/// `s * value_stride(value_size)` in it, so a value keeps its address for the map's lifetime and a page-aligned
/// guard follows each value.
pub const MAP_VALUE_BASE: u64 = 1 << 44;
/// Where the ctx (`struct pt_regs`) is mapped.
pub const CTX_BASE: u64 = 0x3000_0000;

/// `TASK_SIZE`: user addresses are below it ([`crate::arch::info::IsaInfo::task_size`]).
#[must_use]
pub fn task_size(isa: Isa) -> u64 {
    crate::arch::info::info(isa).task_size
}

/// The pointer value of map `id`.
#[must_use]
pub fn map_ptr(id: u32) -> u64 {
    MAP_PTR_BASE + u64::from(id) * MAP_PTR_STRIDE
}

/// Distance between two values of a map with values of `value_size` bytes.
#[must_use]
pub fn value_stride(value_size: u32) -> u64 {
    ((u64::from(value_size) + 0xfff) & !0xfff) + 0x1000
}

/// The VM address of slot `slot` of the map at index `idx`.
#[must_use]
pub fn value_addr(idx: usize, slot: usize, value_size: u32) -> u64 {
    MAP_VALUE_BASE + ((idx as u64) << 36) + slot as u64 * value_stride(value_size)
}

/// The VM address of the ring buffer record at position `pos` of the map at index `idx`.
fn ring_addr(idx: usize, pos: u64) -> u64 {
    MAP_VALUE_BASE + ((idx as u64) << 36) + ((pos & ((1 << 34) - 1)) << 1)
}

/// The running task, as the helpers see `current`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// `task->pid` (the thread id).
    pub pid: u32,
    /// `task->tgid` (the process id).
    pub tgid: u32,
    /// `task->comm` (at most 15 bytes are used).
    pub comm: String,
    /// The address of its `struct task_struct` in guest memory (`bpf_get_current_task`).
    pub task_struct: KernelVa,
    /// `current_uid()`: its cred's `uid` (init namespace).
    pub uid: u32,
    /// `current_gid()`.
    pub gid: u32,
}

/// Where [`TaskInfo::new`] pretends task_structs are: `TASK_STRUCT_BASE + pid * 0x2000`. Nothing is mapped there
/// unless the machine maps it, so reading through it gives `-EFAULT`.
pub const TASK_STRUCT_BASE: u64 = 0xffff_ff80_1000_0000;

impl TaskInfo {
    /// A single-threaded task (`tgid == pid`) with a synthetic `task_struct` address.
    #[must_use]
    pub fn new(pid: u32, comm: &str) -> TaskInfo {
        TaskInfo {
            pid,
            tgid: pid,
            comm: comm.to_string(),
            task_struct: KernelVa(TASK_STRUCT_BASE + u64::from(pid) * 0x2000),
            uid: 0,
            gid: 0,
        }
    }

    /// The same task as a thread of process `tgid`, running with `uid`/`gid`.
    #[must_use]
    pub fn with_ids(self, ids: TaskIds) -> TaskInfo {
        TaskInfo { tgid: ids.tgid, uid: ids.uid, gid: ids.gid, ..self }
    }
}

/// The ids of a task besides its pid: `task->tgid` (its process) and its cred's `uid`/`gid`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskIds {
    /// `task->tgid`.
    pub tgid: u32,
    /// `cred->uid`.
    pub uid: u32,
    /// `cred->gid`.
    pub gid: u32,
}

/// The trace line's flag characters (`trace_print_lat_fmt`): irqs-off, need-resched, hard/softirq, preempt depth and
/// (since 5.14) migrate-disable depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceFlags {
    /// `d` when interrupts were off.
    pub irqs_off: bool,
    /// `N` when a reschedule is pending.
    pub need_resched: bool,
    /// `.`, `s` (softirq), `h` (hardirq), `H` (hardirq in softirq), `z`/`Z` (NMI).
    pub irq_context: char,
    /// Preemption depth (`preempt_count() & 0xf`), printed in hex or `.`.
    pub preempt: u8,
    /// Migrate-disable depth, printed in hex or `.` (6.x only).
    pub migrate: u8,
}

impl TraceFlags {
    /// What the real kernels print for a bpf_trace_printk from a kprobe program: interrupts masked or not and the
    /// preemption depth as the ISA answers them ([`crate::arch::info::IsaInfo`], where the observations are cited);
    /// migrate-disable depth 1 (`bpf_prog_run_array`, 6.x).
    #[must_use]
    pub fn kprobe_default(isa: Isa) -> TraceFlags {
        let info = crate::arch::info::info(isa);
        TraceFlags {
            irqs_off: info.kprobe_irqs_off,
            need_resched: false,
            irq_context: '.',
            preempt: info.kprobe_preempt_depth,
            migrate: 1,
        }
    }

    /// The flags column for `profile` (4 characters in 5.10, 5 since 5.14).
    #[must_use]
    pub fn render(&self, profile: KernelProfile) -> String {
        let hex = |n: u8| if n == 0 { '.' } else { char::from_digit(u32::from(n & 0xf), 16).unwrap_or('.') };
        let mut s = String::new();
        s.push(if self.irqs_off { 'd' } else { '.' });
        s.push(if self.need_resched { 'N' } else { '.' });
        s.push(self.irq_context);
        s.push(hex(self.preempt));
        if profile != KernelProfile::V5_10 {
            s.push(hex(self.migrate));
        }
        s
    }
}

/// A trace event line as `trace_pipe` returns it (kernel/trace/trace_output.c `trace_print_context`):
/// `"%16s-%-7d [%03d] <flags> %5lu.%06lu: <event>: <body>\n"`. The pid width 7 is what seed 000's 5.10.110 kernel
/// and real 6.1 print alike.
#[must_use]
#[allow(clippy::too_many_arguments)] // The fields of the trace entry, as the kernel's printf takes them.
pub fn trace_line(
    profile: KernelProfile,
    flags: &TraceFlags,
    comm: &str,
    pid: u32,
    cpu: usize,
    ns: u64,
    event: &str,
    body: &str,
) -> String {
    let (secs, usecs) = (ns / 1_000_000_000, (ns % 1_000_000_000) / 1000);
    format!("{comm:>16}-{pid:<7} [{cpu:03}] {} {secs:>5}.{usecs:06}: {event}: {body}\n", flags.render(profile))
}

/// A record a program sent with `bpf_perf_event_output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerfRecord {
    /// The perf event array's id.
    pub map_id: u32,
    /// Its name.
    pub map_name: String,
    /// The perf buffer (CPU) it went to.
    pub cpu: usize,
    /// The program's bytes (`PERF_SAMPLE_RAW`).
    pub data: Vec<u8>,
    /// When (virtual ns).
    pub time_ns: u64,
}

/// What an external region's handle names.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ext {
    Value { idx: usize, slot: usize },
    Ring { idx: usize, pos: u64 },
}

/// The environment one program run sees: the machine, `current`, the maps and the outputs.
pub(crate) struct Env<'a> {
    pub m: &'a mut dyn Machine,
    pub cpu: CpuId,
    pub task: &'a TaskInfo,
    pub profile: KernelProfile,
    pub isa: Isa,
    pub flags: TraceFlags,
    pub maps: &'a mut Vec<BpfMap>,
    pub trace: &'a mut Vec<String>,
    pub perf: &'a mut Vec<PerfRecord>,
    /// The ctx region's base and the registers' ISA (for `override_return`).
    pub ctx_base: u64,
    pub regs_isa: &'a PtRegs,
    pub ext: Vec<Ext>,
    pub helper_calls: u64,
    /// Where a helper may continue in guest code: the top of the kernel stack free for its call (below the
    /// exception frame), or `None` when the caller cannot suspend the run and resume it later.
    pub guest_stack: Option<u64>,
    /// The guest call a helper suspended the run for.
    pub guest_call: Option<GuestCall>,
    /// This CPU's `bpf_user_rnd_state`.
    pub rnd: &'a mut RndState,
}

/// A helper's work that continues in guest code: the CPU calls `func(args)` on the stack at `sp`; then
/// `Env::finish_guest_call` completes the helper with the function's return value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestCall {
    /// The helper's id.
    pub helper_id: u32,
    /// The helper's kernel name.
    pub helper: &'static str,
    /// The kernel function it calls.
    pub func: KernelVa,
    /// That function's name.
    pub func_name: &'static str,
    /// Its integer arguments.
    pub args: Vec<u64>,
    /// The stack pointer it starts with.
    pub sp: u64,
    then: AfterGuestCall,
}

/// What the helper does with the guest function's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterGuestCall {
    /// `bpf_probe_read_kernel_common`: copy the bounce buffer to the program's `dst`, zeroed if the copy failed.
    ProbeRead { dst: u64, bounce: u64, size: usize },
}

/// The largest probe_read that goes through the guest's bounce buffer (the kernel stack has room for it).
const GUEST_BOUNCE_MAX: usize = 4096;
/// Stack the guest callee may use below the bounce buffer (checked mapped before the call).
const CALLEE_STACK: usize = 0x200;

fn neg(e: Errno) -> u64 {
    e.negated() as u64
}

fn fault(va: u64) -> MemFault {
    MemFault { va: KernelVa(va), kind: MemFaultKind::Unmapped }
}

impl ExternalMemory for Env<'_> {
    fn read_external(&mut self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        let src = match self.ext.get(handle as usize) {
            Some(Ext::Value { idx, slot }) => self.maps.get(*idx).and_then(|m| m.value(*slot)),
            Some(Ext::Ring { idx, pos }) => self.maps.get(*idx).and_then(|m| m.ringbuf_record(*pos)),
            None => None,
        }
        .ok_or_else(|| fault(offset))?;
        let o = offset as usize;
        buf.copy_from_slice(src.get(o..o + buf.len()).ok_or_else(|| fault(offset))?);
        Ok(())
    }

    fn write_external(&mut self, handle: u64, offset: u64, data: &[u8]) -> Result<(), MemFault> {
        let dst = match self.ext.get(handle as usize).copied() {
            Some(Ext::Value { idx, slot }) => self.maps.get_mut(idx).and_then(|m| m.value_mut(slot)),
            Some(Ext::Ring { idx, pos }) => self.maps.get_mut(idx).and_then(|m| m.ringbuf_record_mut(pos)),
            None => None,
        }
        .ok_or_else(|| fault(offset))?;
        let o = offset as usize;
        dst.get_mut(o..o + data.len()).ok_or_else(|| fault(offset))?.copy_from_slice(data);
        Ok(())
    }
}

mod ids;
mod maps;
mod probe_read;
mod random;
mod ringbuf;
mod task;
mod trace;

impl Env<'_> {
    pub(super) fn map_idx(&self, ptr: u64) -> Result<usize, HelperError> {
        let rel = ptr.wrapping_sub(MAP_PTR_BASE);
        if rel & (MAP_PTR_STRIDE - 1) == 0 {
            let id = rel / MAP_PTR_STRIDE;
            if let Some(i) = self.maps.iter().position(|m| u64::from(m.id) == id) {
                return Ok(i);
            }
        }
        Err(HelperError::Failed(format!("{ptr:#x} is not a map pointer (the verifier requires CONST_PTR_TO_MAP)")))
    }

    pub(super) fn read_mem(&mut self, mem: &Memory, addr: u64, len: usize) -> Result<Vec<u8>, HelperError> {
        Ok(mem.read_vec(addr, len, self)?)
    }

    pub(super) fn write_mem(&mut self, mem: &mut Memory, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        Ok(mem.write(addr, data, self)?)
    }

    /// The destination of a probe_read must be writable VM memory (`ARG_PTR_TO_UNINIT_MEM`).
    pub(super) fn check_dst(&mut self, mem: &Memory, addr: u64, len: usize) -> Result<(), HelperError> {
        if len == 0 {
            return Ok(());
        }
        let r_end = addr.checked_add(len as u64).ok_or(AccessError { addr, size: len as u64, write: true })?;
        let ok = mem.is_mapped(addr) && mem.is_mapped(r_end - 1);
        if !ok {
            return Err(AccessError { addr, size: len as u64, write: true }.into());
        }
        Ok(())
    }

    /// Maps the value in `slot` of map `idx` (once per run) and returns its address.
    pub(super) fn value_ptr(&mut self, mem: &mut Memory, idx: usize, slot: usize) -> Result<u64, HelperError> {
        let map = &self.maps[idx];
        let addr = value_addr(idx, slot, map.def.value_size);
        if mem.region_containing(addr).is_some() {
            return Ok(addr);
        }
        // BPF_F_RDONLY_PROG
        let writable = map.def.flags & 0x80 == 0;
        let kind = RegionKind::MapValue { map: map.id, index: slot as u64 };
        let (len, handle) = (u64::from(map.def.value_size), self.ext.len() as u64);
        self.ext.push(Ext::Value { idx, slot });
        mem.map_external_at(addr, kind, handle, len, writable).map_err(|e| HelperError::Failed(e.to_string()))?;
        Ok(addr)
    }

    pub(super) fn emit_output(&mut self, idx: usize, buffer: BpfBuffer, cpu: usize, size: usize) {
        let map = self.maps[idx].def.name.clone();
        self.m
            .emit(self.cpu, EventKind::BpfOutput { map, buffer, cpu: cpu as u32, size: size as u32 });
    }
}

impl Helpers for Env<'_> {
    fn call_resumable(&mut self, id: u32, a: [u64; 5], mem: &mut Memory) -> Result<HelperReturn, HelperError> {
        if matches!(id, BPF_FUNC_PROBE_READ | BPF_FUNC_PROBE_READ_KERNEL) {
            if let Some(call) = self.probe_read_via_guest(mem, id, a)? {
                self.helper_calls += 1;
                self.guest_call = Some(call);
                return Ok(HelperReturn::Suspend);
            }
        }
        self.call(id, a, mem).map(HelperReturn::Value)
    }

    fn call(&mut self, id: u32, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        self.helper_calls += 1;
        match id {
            BPF_FUNC_MAP_LOOKUP_ELEM => self.map_lookup_elem(a, mem),
            BPF_FUNC_MAP_UPDATE_ELEM => self.map_update_elem(a, mem),
            BPF_FUNC_MAP_DELETE_ELEM => self.map_delete_elem(a, mem),
            BPF_FUNC_PROBE_READ | BPF_FUNC_PROBE_READ_USER | BPF_FUNC_PROBE_READ_KERNEL => self.probe_read(id, a, mem),
            BPF_FUNC_PROBE_READ_USER_STR | BPF_FUNC_PROBE_READ_KERNEL_STR => self.probe_read_str(id, a, mem),
            BPF_FUNC_KTIME_GET_NS => self.ktime_get_ns(a, mem),
            BPF_FUNC_TRACE_PRINTK => self.trace_printk(a, mem),
            BPF_FUNC_GET_PRANDOM_U32 => self.get_prandom_u32(a, mem),
            BPF_FUNC_GET_SMP_PROCESSOR_ID => self.get_smp_processor_id(a, mem),
            BPF_FUNC_GET_CURRENT_PID_TGID => self.get_current_pid_tgid(a, mem),
            BPF_FUNC_GET_CURRENT_COMM => self.get_current_comm(a, mem),
            BPF_FUNC_GET_CURRENT_UID_GID => self.get_current_uid_gid(a, mem),
            BPF_FUNC_KTIME_GET_BOOT_NS => self.ktime_get_boot_ns(a, mem),
            BPF_FUNC_GET_CURRENT_TASK => self.get_current_task(a, mem),
            BPF_FUNC_PERF_EVENT_OUTPUT => self.perf_event_output(a, mem),
            BPF_FUNC_OVERRIDE_RETURN => self.override_return(a, mem),
            BPF_FUNC_RINGBUF_OUTPUT => self.ringbuf_output(a, mem),
            BPF_FUNC_RINGBUF_RESERVE => self.ringbuf_reserve(a, mem),
            BPF_FUNC_RINGBUF_SUBMIT | BPF_FUNC_RINGBUF_DISCARD => self.ringbuf_commit(id, a, mem),
            _ => Err(HelperError::Unknown),
        }
    }
}
