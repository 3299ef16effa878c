//! `kernel/trace/`: the tracefs side of kprobes, as pure functions over typed values.
//!
//! - [`trace_probe`] models `kernel/trace/trace_probe.{c,h}`: fetch-argument grammar, fetch types, the error table
//!   and `trace_probe_log_err`.
//! - [`trace_kprobe`] models `kernel/trace/trace_kprobe.c`: the `kprobe_events` command grammar, the event list
//!   (`dyn_event`), `kprobe_events` read-back, `kprobe_profile`, and registration through a caller-supplied
//!   [`trace_kprobe::KprobeRegistrar`].
//! - [`error_log`] models `tracing_log_err` and the `error_log` file of `kernel/trace/trace.c`.
//! - [`output`] models the text the kernel prints: the `trace` header (`kernel/trace/trace.c`), event lines
//!   (`kernel/trace/trace_output.c`, `print_kprobe_event`), `events/kprobes/<e>/format`, `kprobes/list`
//!   (`kernel/kprobes.c`, `report_probe`).
//! - [`ring_buffer`] models the per-CPU buffers that `trace` and `trace_pipe` read.
//! - [`trace_probe_tmpl`] runs a parsed argument against registers and memory (`store_trace_args`).
//! - [`trace_events_filter`] models `kernel/trace/trace_events_filter.c`: the `filter` language and its errors.
//!
//! Register names are ISA-specific; generic code asks a [`RegsQuery`] (implemented per ISA in
//! `arch/<isa>/trace_regs.rs`) and never matches on the ISA.

pub mod error_log;
pub mod instance;
pub mod output;
pub mod ring_buffer;
pub mod trace_events_filter;
pub mod trace_kprobe;
pub mod trace_probe;
pub mod trace_probe_tmpl;

/// Where the arch keeps the Nth function argument (`regs_get_kernel_argument`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ArgLocation {
    /// In `struct pt_regs` at this byte offset.
    Reg(usize),
    /// `regs_get_kernel_stack_nth(regs, n)`.
    StackNth(u32),
    /// The arch returns 0 for this argument.
    Zero,
}

/// The arch half of the probe-argument grammar: `arch/<isa>/kernel/ptrace.c`'s `regs_query_register_offset`,
/// `regs_get_kernel_argument` and the constants `trace_probe.c` reads from the arch. Offsets are byte offsets into
/// the arch's `struct pt_regs`.
pub trait RegsQuery {
    /// `regs_query_register_offset(name)`: the byte offset of register `name` (without `%`) in `struct pt_regs`,
    /// or `None` (the kernel's `-EINVAL`).
    fn regs_query_register_offset(&self, name: &str) -> Option<usize>;
    /// `regs_query_register_name(offset)`: the inverse, for printing.
    fn regs_query_register_name(&self, offset: usize) -> Option<&'static str>;
    /// Where `regs_get_kernel_argument(regs, n)` (0-based) reads from.
    fn regs_get_kernel_argument_offset(&self, n: u32) -> ArgLocation;
    /// `regs_return_value`'s register, as a `pt_regs` byte offset.
    fn regs_return_value_offset(&self) -> usize;
    /// `THREAD_SIZE`, which bounds `$stackN` (`PARAM_MAX_STACK = THREAD_SIZE / sizeof(long)`).
    fn thread_size(&self) -> usize;
}
