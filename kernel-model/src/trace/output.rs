//! The text the kernel prints for kprobe events: the `trace` header (`print_trace_header` /
//! `print_func_help_header_irq`, kernel/trace/trace.c), event lines (`trace_print_context` and
//! `trace_print_lat_fmt` in kernel/trace/trace_output.c; `print_kprobe_event`/`print_kretprobe_event` and the
//! `print_type_*` functions of trace_kprobe.c/trace_probe.c), the event `format` file (`f_show`,
//! kernel/trace/trace_events.c) and `kprobes/list` (`report_probe`, kernel/kprobes.c).
//!
//! Everything takes typed values and returns the exact text.

use crate::kallsyms::Kallsyms;
use crate::profile::KernelProfile;
use crate::trace::trace_kprobe::ProbeDefinition;
use crate::trace::trace_probe::{BaseType, Bitfield, FetchArg};
use crate::KernelVa;

/// `entry->flags` and `entry->preempt_count` of `struct trace_entry`, as typed values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TraceFlags {
    /// `TRACE_FLAG_IRQS_OFF`.
    pub irqs_off: bool,
    /// `TRACE_FLAG_BH_OFF` (6.x; 5.10 has no such flag).
    pub bh_off: bool,
    /// `TRACE_FLAG_IRQS_NOSUPPORT`.
    pub irqs_nosupport: bool,
    /// `TRACE_FLAG_NEED_RESCHED`.
    pub need_resched: bool,
    /// `TRACE_FLAG_PREEMPT_RESCHED`.
    pub preempt_resched: bool,
    /// `TRACE_FLAG_NMI`.
    pub nmi: bool,
    /// `TRACE_FLAG_HARDIRQ`.
    pub hardirq: bool,
    /// `TRACE_FLAG_SOFTIRQ`.
    pub softirq: bool,
    /// `entry->preempt_count`: low nibble the preempt depth, high nibble (6.x) the migrate-disable depth.
    pub preempt_count: u8,
}

impl TraceFlags {
    /// `d....` on arm64's BRK path (irqs masked).
    #[must_use]
    pub fn irqs_off() -> TraceFlags {
        TraceFlags { irqs_off: true, ..TraceFlags::default() }
    }

    /// `trace_print_lat_fmt`: 5 columns on 6.x (irqs-off/BH, need-resched, hard/softirq, preempt depth,
    /// migrate-disable), 4 on 5.10 (no BH flag; the whole `preempt_count` in one `%x`).
    #[must_use]
    pub fn render(&self, profile: KernelProfile) -> String {
        let v6 = profile == KernelProfile::V6_12;
        let irqs_off = if v6 && self.irqs_off && self.bh_off {
            'D'
        } else if self.irqs_off {
            'd'
        } else if v6 && self.bh_off {
            'b'
        } else if self.irqs_nosupport {
            'X'
        } else {
            '.'
        };
        let need_resched = match (self.need_resched, self.preempt_resched) {
            (true, true) => 'N',
            (true, false) => 'n',
            (false, true) => 'p',
            (false, false) => '.',
        };
        let hardsoft = match (self.nmi, self.hardirq, self.softirq) {
            (true, true, _) => 'Z',
            (true, false, _) => 'z',
            (false, true, true) => 'H',
            (false, true, false) => 'h',
            (false, false, true) => 's',
            (false, false, false) => '.',
        };
        let mut s = format!("{irqs_off}{need_resched}{hardsoft}");
        let pc = self.preempt_count;
        if v6 {
            s.push_str(&if pc & 0xf != 0 { format!("{:x}", pc & 0xf) } else { ".".into() });
            s.push_str(&if pc & 0xf0 != 0 { format!("{:x}", (pc >> 4) & 0xf) } else { ".".into() });
        } else {
            s.push_str(&if pc != 0 { format!("{pc:x}") } else { ".".into() });
        }
        s
    }
}

/// A fetched value as stored in the record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FetchedValue {
    /// A scalar (the stored bytes, zero-extended; bitfields already extracted).
    Scalar(u64),
    /// A string; `None` when the fetch faulted (the stored length is 0).
    String(Option<String>),
    /// `TYPE[N]`.
    Array(Vec<FetchedValue>),
}

/// What an event record carries besides the common fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProbeIp {
    /// `struct kprobe_trace_entry_head`: `ip` = the probe address.
    Kprobe {
        /// `entry->ip`.
        ip: KernelVa,
    },
    /// `struct kretprobe_trace_entry_head`: `func` = the probed function, `ret_ip` = where it returns to.
    Kretprobe {
        /// `entry->func`.
        func: KernelVa,
        /// `entry->ret_ip`.
        ret_ip: KernelVa,
    },
}

/// One ring-buffer record of a kprobe event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TraceRecord {
    /// The CPU whose buffer holds it.
    pub cpu: u32,
    /// `entry->pid`.
    pub pid: u32,
    /// The task's comm (`trace_find_cmdline`).
    pub comm: String,
    /// Flags and preempt count.
    pub flags: TraceFlags,
    /// The ring-buffer timestamp (trace clock, ns).
    pub ts_ns: u64,
    /// `entry->type`: the event ID.
    pub event_id: u32,
    /// The head.
    pub ip: ProbeIp,
    /// The fetched arguments, in the event's argument order.
    pub args: Vec<FetchedValue>,
}

/// `FETCH_OP_MOD_BF` on a fetched container value: `(v << lshift) >> rshift` in the container's width.
#[must_use]
pub fn apply_bitfield(bf: Bitfield, raw: u64) -> u64 {
    let bits = bf.container;
    let lshift = bits - (bf.width + bf.offset);
    let rshift = bits - bf.width;
    let v = if bits == 64 { raw } else { raw & ((1u64 << bits) - 1) };
    ((v << (64 - bits + lshift)) >> (64 - bits)) >> rshift
}

fn mask(v: u64, size: usize) -> u64 {
    if size >= 8 {
        v
    } else {
        v & ((1u64 << (size * 8)) - 1)
    }
}

fn sign_extend(v: u64, size: usize) -> i64 {
    let shift = 64 - size * 8;
    ((v << shift) as i64) >> shift
}

/// `print_type_<type>` for one value.
#[must_use]
pub fn print_type(ty: BaseType, v: &FetchedValue, kallsyms: &Kallsyms) -> String {
    match (ty, v) {
        (BaseType::String | BaseType::Ustring | BaseType::Symstr, FetchedValue::String(s)) => match s {
            Some(s) => format!("\"{s}\""),
            None => "(fault)".into(),
        },
        (_, FetchedValue::Scalar(raw)) => {
            let size = ty.size();
            let raw = *raw;
            match ty {
                BaseType::U8 | BaseType::U16 | BaseType::U32 | BaseType::U64 => mask(raw, size).to_string(),
                BaseType::S8 | BaseType::S16 | BaseType::S32 | BaseType::S64 => sign_extend(raw, size).to_string(),
                BaseType::X8 | BaseType::X16 | BaseType::X32 | BaseType::X64 => format!("0x{:x}", mask(raw, size)),
                BaseType::Char => format!("'{}'", char::from(raw as u8)),
                BaseType::Symbol => kallsyms.format(KernelVa(raw)),
                BaseType::String | BaseType::Ustring | BaseType::Symstr => "(fault)".into(),
            }
        }
        (_, other) => format!("{other:?}"),
    }
}

/// `trace_probe_print_args`: `" name=value"` per argument, arrays as `{a,b,…}`.
#[must_use]
pub fn print_args(args: &[FetchArg], values: &[FetchedValue], kallsyms: &Kallsyms) -> String {
    let mut s = String::new();
    for (a, v) in args.iter().zip(values) {
        s.push_str(&format!(" {}=", a.name));
        match (a.ty.array, v) {
            (Some(_), FetchedValue::Array(items)) => {
                let parts: Vec<String> = items.iter().map(|i| print_type(a.ty.base, i, kallsyms)).collect();
                s.push_str(&format!("{{{}}}", parts.join(",")));
            }
            _ => s.push_str(&print_type(a.ty.base, v, kallsyms)),
        }
    }
    s
}

/// `ns2usecs` then `" %5lu.%06lu: "`: the timestamp column (microseconds rounded to nearest).
#[must_use]
pub fn timestamp(ts_ns: u64) -> String {
    let us = (ts_ns + 500) / 1000;
    format!(" {:5}.{:06}: ", us / 1_000_000, us % 1_000_000)
}

/// `trace_print_context`: `"%16s-%-7d "`, `"[%03d] "`, the flags, the timestamp.
#[must_use]
pub fn print_context(profile: KernelProfile, r: &TraceRecord) -> String {
    format!("{:>16}-{:<7} [{:03}] {}{}", r.comm, r.pid, r.cpu, r.flags.render(profile), timestamp(r.ts_ns))
}

/// `seq_print_ip_sym` with `TRACE_ITER_SYM_OFFSET`: `sym+0xoff/0xsize` (or `0x…`); `0` prints as `0`.
fn ip_sym_offset(kallsyms: &Kallsyms, va: KernelVa) -> String {
    if va.0 == 0 {
        return "0".into();
    }
    kallsyms.format(va)
}

/// `seq_print_ip_sym` without the offset: the bare symbol name (`%ps`).
fn ip_sym(kallsyms: &Kallsyms, va: KernelVa) -> String {
    if va.0 == 0 {
        return "0".into();
    }
    match kallsyms.lookup(va) {
        Some(s) => s.name.clone(),
        None => format!("0x{:x}", va.0),
    }
}

/// One `trace`/`trace_pipe` line of a kprobe event (with its `\n`): the context, then `print_kprobe_event`
/// (`EVENT: (sym+off/size) args`) or `print_kretprobe_event` (`EVENT: (retsite+off/size <- func) args`).
#[must_use]
pub fn print_kprobe_line(profile: KernelProfile, kallsyms: &Kallsyms, def: &ProbeDefinition, r: &TraceRecord) -> String {
    let head = match r.ip {
        ProbeIp::Kprobe { ip } => format!("({})", ip_sym_offset(kallsyms, ip)),
        ProbeIp::Kretprobe { func, ret_ip } => {
            format!("({} <- {})", ip_sym_offset(kallsyms, ret_ip), ip_sym(kallsyms, func))
        }
    };
    format!("{}{}: {}{}\n", print_context(profile, r), def.event, head, print_args(&def.args, &r.args, kallsyms))
}

/// The `trace` file header for the nop tracer (`print_trace_header` → `print_func_help_header_irq`, no TGID).
/// `entries`/`written` are `# entries-in-buffer/entries-written`, `ncpus` is `#P`.
#[must_use]
pub fn trace_header(profile: KernelProfile, entries: u64, written: u64, ncpus: u32) -> String {
    let mut s = format!("# tracer: nop\n#\n# entries-in-buffer/entries-written: {entries}/{written}   #P:{ncpus}\n#\n");
    match profile {
        // v5.17+ (BH-disabled, migrate-disable column), as the real 6.1 printed it.
        KernelProfile::V6_12 => s.push_str(
            "#                                _-----=> irqs-off/BH-disabled\n\
             #                               / _----=> need-resched\n\
             #                              | / _---=> hardirq/softirq\n\
             #                              || / _--=> preempt-depth\n\
             #                              ||| / _-=> migrate-disable\n\
             #                              |||| /     delay\n\
             #           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n\
             #              | |         |   |||||     |         |\n",
        ),
        // 5.10: the 7-wide PID header of "tracing: Make the space reserved for the pid wider" (v5.10), four flag
        // columns, no migrate-disable (added in v5.13).
        KernelProfile::V5_10 => s.push_str(
            "#                                _-----=> irqs-off\n\
             #                               / _----=> need-resched\n\
             #                              | / _---=> hardirq/softirq\n\
             #                              || / _--=> preempt-depth\n\
             #                              ||| /     delay\n\
             #           TASK-PID     CPU#  ||||   TIMESTAMP  FUNCTION\n\
             #              | |         |   ||||      |         |\n",
        ),
    }
    s
}

/// `"  %-44s %15lu %15lu\n"`: one `kprobe_profile` line.
#[must_use]
pub fn kprobe_profile_line(event: &str, nhit: u64, nmissed: u64) -> String {
    format!("  {event:<44} {nhit:>15} {nmissed:>15}\n")
}

/// The state `report_probe` prints after the symbol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KprobeListFlags {
    /// `[GONE]`.
    pub gone: bool,
    /// `[DISABLED]` (not printed for gone probes).
    pub disabled: bool,
    /// `[OPTIMIZED]`.
    pub optimized: bool,
    /// `[FTRACE]`.
    pub ftrace: bool,
}

/// One `/sys/kernel/debug/kprobes/list` line (`report_probe`): `"%px  %s  %s+0x%x  %s "` then the flags.
/// `kretprobe`: the probe's pre-handler is `pre_handler_kretprobe` (`r`), else `k`.
#[must_use]
pub fn kprobes_list_line(
    addr: KernelVa,
    kretprobe: bool,
    sym: Option<(&str, u64)>,
    module: Option<&str>,
    flags: KprobeListFlags,
    kallsyms: &Kallsyms,
) -> String {
    let t = if kretprobe { "r" } else { "k" };
    let mut s = match sym {
        Some((name, off)) => format!("{:016x}  {t}  {name}+0x{off:x}  {} ", addr.0, module.unwrap_or(" ")),
        None => format!("{:016x}  {t}  {} ", addr.0, kallsyms.format(addr)),
    };
    if flags.gone {
        s.push_str("[GONE]");
    }
    if flags.disabled && !flags.gone {
        s.push_str("[DISABLED]");
    }
    if flags.optimized {
        s.push_str("[OPTIMIZED]");
    }
    if flags.ftrace {
        s.push_str("[FTRACE]");
    }
    s.push('\n');
    s
}

/// One `/sys/kernel/debug/kprobes/blacklist` line (`kprobe_blacklist_seq_show`): `"0x%px-0x%px\t%ps\n"`.
#[must_use]
pub fn kprobes_blacklist_line(start: KernelVa, end: KernelVa, sym: &str) -> String {
    format!("0x{:016x}-0x{:016x}\t{sym}\n", start.0, end.0)
}

/// `/sys/kernel/debug/kprobes/enabled` (`read_enabled_file_bool`): `1` unless all kprobes are disarmed.
#[must_use]
pub fn kprobes_enabled_file(all_disarmed: bool) -> &'static str {
    if all_disarmed {
        "0\n"
    } else {
        "1\n"
    }
}

/// Reading `trace`: the header, then the records merged by timestamp (`RingBuffer::iter_merged`, not consumed);
/// `totals` is `RingBuffer::total_entries` (entries shown, entries written). `event` maps an event ID to its
/// definition; records of unknown IDs print as the kernel's `trace_nop_print` (`type: N`). It takes the records,
/// not the buffer: the buffer stores this module's records, so this module does not import it.
#[must_use]
pub fn trace_file(
    profile: KernelProfile,
    kallsyms: &Kallsyms,
    totals: (u64, u64),
    records: &[&TraceRecord],
    ncpus: u32,
    event: &dyn Fn(u32) -> Option<ProbeDefinition>,
) -> String {
    let (entries, written) = totals;
    let mut s = trace_header(profile, entries, written, ncpus);
    for r in records {
        s.push_str(&record_line(profile, kallsyms, r, event));
    }
    s
}

/// One record as `print_trace_line` prints it.
#[must_use]
pub fn record_line(
    profile: KernelProfile,
    kallsyms: &Kallsyms,
    r: &TraceRecord,
    event: &dyn Fn(u32) -> Option<ProbeDefinition>,
) -> String {
    match event(r.event_id) {
        Some(def) => print_kprobe_line(profile, kallsyms, &def, r),
        None => format!("{}type: {}\n", print_context(profile, r), r.event_id),
    }
}

/// One `field:` line of a format file (`f_show`): array types split as `TYPE NAME[N]`, `__data_loc` kept whole.
fn field_line(ty: &str, name: &str, offset: usize, size: usize, signed: bool) -> String {
    let arr = if ty.starts_with("__data_loc") { None } else { ty.find('[') };
    let decl = match arr {
        Some(i) => format!("{} {name}{}", &ty[..i], &ty[i..]),
        None => format!("{ty} {name}"),
    };
    format!("\tfield:{decl};\toffset:{offset};\tsize:{size};\tsigned:{};\n", u8::from(signed))
}

/// `events/<group>/<event>/format` of a kprobe event on a 64-bit kernel: the common fields of `struct
/// trace_entry`, then `__probe_ip` (or `__probe_func`, `__probe_ret_ip`), then the arguments at
/// `sizeof(head) + probe_arg.offset`, then `print fmt`.
#[must_use]
pub fn event_format(def: &ProbeDefinition, id: u32) -> String {
    let mut s = format!("name: {}\nID: {id}\nformat:\n", def.event);
    s.push_str(&field_line("unsigned short", "common_type", 0, 2, false));
    s.push_str(&field_line("unsigned char", "common_flags", 2, 1, false));
    s.push_str(&field_line("unsigned char", "common_preempt_count", 3, 1, false));
    s.push_str(&field_line("int", "common_pid", 4, 4, true));
    s.push('\n');
    if def.is_return() {
        s.push_str(&field_line("unsigned long", "__probe_func", 8, 8, false));
        s.push_str(&field_line("unsigned long", "__probe_ret_ip", 16, 8, false));
    } else {
        s.push_str(&field_line("unsigned long", "__probe_ip", 8, 8, false));
    }
    let head = def.head_size();
    for a in &def.args {
        s.push_str(&field_line(&a.ty.field_type(), &a.name, head + a.offset, a.ty.record_size(), a.ty.base.is_signed()));
    }
    s.push_str(&format!("\nprint fmt: {}\n", def.print_fmt()));
    s
}

/// The `id` file.
#[must_use]
pub fn event_id_file(id: u32) -> String {
    format!("{id}\n")
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
