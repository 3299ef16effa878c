//! The kernel side of tracefs kprobe events: `kernel/trace/trace_kprobe.c`'s glue to the kprobe core
//! (`__register_trace_kprobe` → `register_kprobe`/`register_kretprobe` with `KPROBE_FLAG_DISABLED`,
//! `enable_trace_kprobe` → `enable_kprobe`), `kprobe_dispatcher` → `kprobe_trace_func` and `kretprobe_dispatcher` →
//! `kretprobe_trace_func` (`store_trace_args` over the probed CPU's `pt_regs` and memory, then
//! `trace_event_buffer_commit` into the per-CPU ring buffer), and the tracefs files as reads and writes a task does
//! on a CPU at a virtual time (`kernel/trace/trace.c`, `trace_events.c`, `kernel/kprobes.c`'s debugfs).
//!
//! Registration: the write runs `trace_kprobe`'s synchronous checks (grammar, `kallsyms_lookup_name`,
//! `check_kprobe_address_safe`, function entry for return probes) and then queues the core's `register_kprobe`
//! activity on the writing CPU (disabled, so no patching); `echo 1 > enable` queues `enable_kprobe`, which arms
//! through the same patch protocol as any kprobe. Errors the core finds only while preparing the probe (an
//! instruction boundary, say) are the activity's result, in the log and in the run's register results, not the
//! write's errno.

use crate::errno::Errno;
use crate::event::{EventKind, TracefsOp};
use crate::kernel::{Kernel, ProbeOpKind};
use crate::kprobes::{HandlerAction, KprobeSpec, Kprobes, PreHandler};
use crate::machine::Machine;
use crate::trace::output::{
    event_format, event_id_file, kprobe_profile_line, kprobes_enabled_file, kprobes_list_line, record_line,
    trace_file, KprobeListFlags,
};
use crate::trace::trace_events_filter::apply_event_filter;
use crate::trace::trace_kprobe::{
    KprobeRegistrar, ProbeDefinition, ProbeHandle, ProbeKind, Registered, TraceKprobeConfig, TraceKprobes,
};
use crate::trace::trace_probe::{ParseEnv, TraceErrno};
use crate::{CpuId, KernelVa};

pub use crate::trace::instance::{kprobe_trace_func, Tracefs, DEFAULT_UPTIME_NS, RING_BUFFER_RECORDS};

/// What the write asked of the core, applied once `trace_kprobe` is done with it.
enum CoreOp {
    Register { handle: ProbeHandle, def: ProbeDefinition, addr: KernelVa, maxactive: u32 },
    Unregister(ProbeHandle),
}

/// `KprobeRegistrar` over the kernel model: the synchronous half of `register_kprobe`/`register_kretprobe`.
struct CoreRegistrar<'a> {
    kprobes: &'a Kprobes,
    m: &'a dyn Machine,
    next_handle: &'a mut u64,
    ops: Vec<CoreOp>,
}

impl KprobeRegistrar for CoreRegistrar<'_> {
    fn register(&mut self, def: &ProbeDefinition, addr: KernelVa) -> Result<Registered, TraceErrno> {
        self.kprobes
            .check_kprobe_address_safe(addr, self.m.is_kernel_text(addr), self.m.kallsyms())
            .map_err(|e| e.errno)?;
        let maxactive = match def.kind {
            ProbeKind::Kprobe => 0,
            ProbeKind::Kretprobe { maxactive } => {
                // register_kretprobe: kprobe_on_func_entry.
                if self.m.kallsyms().lookup(addr).is_none_or(|s| s.addr != addr) {
                    return Err(Errno::EINVAL);
                }
                maxactive.filter(|&n| n != 0).unwrap_or_else(|| crate::kretprobes::default_maxactive(self.m.nr_cpus()))
            }
        };
        let handle = ProbeHandle(*self.next_handle);
        *self.next_handle += 1;
        self.ops.push(CoreOp::Register { handle, def: def.clone(), addr, maxactive });
        Ok(Registered { handle, maxactive })
    }

    fn unregister(&mut self, handle: ProbeHandle) {
        self.ops.push(CoreOp::Unregister(handle));
    }

    fn ftrace_location_range(&self, _start: KernelVa, _end: KernelVa) -> bool {
        // No fixture has an ftrace call site yet (issue 19 item 3).
        false
    }
}

/// A tracefs path split into what it names.
enum File<'a> {
    KprobeEvents,
    KprobeProfile,
    Trace,
    TracePipe,
    ErrorLog,
    TracingOn,
    EventsEnable,
    GroupEnable(&'a str),
    Event { group: &'a str, event: &'a str, leaf: &'a str },
    KprobesList,
    KprobesEnabled,
}

fn parse_file(path: &str) -> Option<File<'_>> {
    let path = path.trim_start_matches("/sys/kernel/tracing/").trim_start_matches("/sys/kernel/debug/");
    Some(match path {
        "kprobe_events" | "dynamic_events" => File::KprobeEvents,
        "kprobe_profile" => File::KprobeProfile,
        "trace" => File::Trace,
        "trace_pipe" => File::TracePipe,
        "error_log" => File::ErrorLog,
        "tracing_on" => File::TracingOn,
        "events/enable" => File::EventsEnable,
        "kprobes/list" => File::KprobesList,
        "kprobes/enabled" => File::KprobesEnabled,
        _ => {
            let rest = path.strip_prefix("events/")?;
            let parts: Vec<&str> = rest.split('/').collect();
            match parts.as_slice() {
                [g, "enable"] => File::GroupEnable(g),
                [g, e, leaf @ ("enable" | "filter" | "format" | "id")] => File::Event { group: g, event: e, leaf },
                _ => return None,
            }
        }
    })
}

/// `kstrtobool`-ish for the `0`/`1` files.
fn bool_text(text: &str) -> Result<bool, TraceErrno> {
    match text.trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(Errno::EINVAL),
    }
}

impl Kernel {
    /// Machine settings: the uptime at virtual time 0 and `CONFIG_KPROBE_EVENTS_ON_NOTRACE`. Call before any write.
    pub fn configure_tracefs(&mut self, uptime_ns: u64, kprobe_events_on_notrace: bool) {
        let profile = self.core.profile();
        let t = &mut self.core.tracefs;
        t.uptime_ns = uptime_ns;
        let config = TraceKprobeConfig { kprobe_events_on_notrace, ..Default::default() };
        t.kprobes = TraceKprobes::new(profile, config);
    }

    /// `cpu`'s task writes `text` to tracefs file `file` (`echo text > file`, or `>>` with `append`); returns what
    /// `write(2)` returns and logs it.
    pub fn tracefs_write(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        file: &str,
        text: &str,
        append: bool,
    ) -> Result<(), TraceErrno> {
        let result = self.tracefs_write_inner(m, cpu, file, text, append);
        m.emit(cpu, EventKind::Tracefs {
            file: file.to_string(),
            op: TracefsOp::Write { text: text.to_string(), append, result },
        });
        result
    }

    fn tracefs_write_inner(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        file: &str,
        text: &str,
        append: bool,
    ) -> Result<(), TraceErrno> {
        let now = self.core.tracefs.uptime_ns + m.now().0;
        let Some(f) = parse_file(file) else { return Err(Errno::ENOENT) };
        match f {
            File::KprobeEvents => {
                let profile = self.core.profile();
                let regs = crate::arch::trace_regs(m.isa());
                let core = &mut self.core;
                let mut reg = CoreRegistrar {
                    kprobes: &core.kprobes,
                    m: &*m,
                    next_handle: &mut core.tracefs.next_handle,
                    ops: Vec::new(),
                };
                let env = ParseEnv { profile, kallsyms: m.kallsyms(), regs };
                let mut res = if append { Ok(()) } else { core.tracefs.kprobes.truncate(&mut reg) };
                if res.is_ok() {
                    res = core.tracefs.kprobes.write(&env, &mut reg, text);
                }
                let ops = std::mem::take(&mut reg.ops);
                if let Err(e) = &res {
                    if let Some(entry) = &e.log {
                        core.tracefs.error_log.push(now, entry.clone());
                    }
                }
                self.apply_core_ops(m, cpu, ops);
                res.map_err(|e| e.errno)
            }
            File::Trace => {
                if !append {
                    self.core.tracefs.buffer.reset();
                }
                Ok(())
            }
            File::ErrorLog => {
                if !append {
                    self.core.tracefs.error_log.clear();
                }
                Ok(())
            }
            File::TracingOn => {
                self.core.tracefs.tracing_on = bool_text(text)?;
                Ok(())
            }
            File::EventsEnable => self.enable_events(m, cpu, None, None, bool_text(text)?),
            File::GroupEnable(g) => self.enable_events(m, cpu, Some(g), None, bool_text(text)?),
            File::Event { group, event, leaf: "enable" } => {
                self.enable_events(m, cpu, Some(group), Some(event), bool_text(text)?)
            }
            File::Event { group, event, leaf: "filter" } => {
                let profile = self.core.profile();
                let t = &mut self.core.tracefs;
                let key = (group.to_string(), event.to_string());
                let def = t
                    .kprobes
                    .probes()
                    .iter()
                    .find(|p| p.def.group == group && p.def.event == event)
                    .map(|p| p.def.clone())
                    .ok_or(Errno::ENOENT)?;
                t.filter_errors.remove(&key);
                match apply_event_filter(profile, &def, text) {
                    Ok(Some(f)) => {
                        t.filters.insert(key, f);
                        Ok(())
                    }
                    Ok(None) => {
                        t.filters.remove(&key);
                        Ok(())
                    }
                    Err(e) => {
                        t.filters.remove(&key);
                        t.filter_errors.insert(key, e.filter_file.clone());
                        t.error_log.push(now, e.log.clone());
                        Err(e.errno)
                    }
                }
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `enable_trace_kprobe`/`disable_trace_kprobe` for the matching events: `enable_kprobe`/`disable_kprobe` of
    /// each of their probes, as the core's activities on `cpu`.
    fn enable_events(
        &mut self,
        m: &mut dyn Machine,
        cpu: CpuId,
        group: Option<&str>,
        event: Option<&str>,
        on: bool,
    ) -> Result<(), TraceErrno> {
        let t = &mut self.core.tracefs;
        let evs: Vec<(String, String, bool)> = t
            .kprobes
            .events()
            .iter()
            .filter(|e| group.is_none_or(|g| g == e.group) && event.is_none_or(|n| n == e.event))
            .map(|e| (e.group.clone(), e.event.clone(), e.enabled))
            .collect();
        if evs.is_empty() && event.is_some() {
            return Err(Errno::ENOENT);
        }
        let mut names = Vec::new();
        for (g, e, was) in evs {
            t.kprobes.set_enabled(&g, &e, on);
            if was == on {
                continue;
            }
            for p in t.kprobes.probes().iter().filter(|p| p.def.group == g && p.def.event == e) {
                if let Some(n) = t.names.get(&p.handle) {
                    names.push(n.clone());
                }
            }
        }
        let kind = if on { ProbeOpKind::Enable } else { ProbeOpKind::Disable };
        // request_probe_op queues in front of earlier requests; queue in reverse so they run in order.
        for n in names.into_iter().rev() {
            self.request_probe_op(m, cpu, kind, n);
        }
        Ok(())
    }

    fn apply_core_ops(&mut self, m: &mut dyn Machine, cpu: CpuId, ops: Vec<CoreOp>) {
        for op in ops {
            match op {
                CoreOp::Register { handle, def, addr, maxactive } => {
                    let base = format!("{}/{}", def.group, def.event);
                    let taken = self.core.tracefs.names.values().any(|n| *n == base);
                    let name = if taken { format!("{base}#{}", handle.0) } else { base };
                    self.core.tracefs.names.insert(handle, name.clone());
                    let action = vec![HandlerAction::TraceKprobe(handle)];
                    let spec = KprobeSpec {
                        name,
                        symbol_name: None,
                        offset: 0,
                        addr: Some(addr),
                        pre_handler: PreHandler::Actions(action.clone()),
                        post_handler: None,
                        disabled: true,
                    };
                    if def.is_return() {
                        self.request_register_kretprobe(m, cpu, spec, maxactive, None, Some(action));
                    } else {
                        self.request_register_kprobe(m, cpu, spec);
                    }
                }
                CoreOp::Unregister(handle) => {
                    if let Some(n) = self.core.tracefs.names.remove(&handle) {
                        self.request_probe_op(m, cpu, ProbeOpKind::Unregister, n);
                    }
                }
            }
        }
    }

    /// `cpu`'s task reads tracefs file `file` (`cat file`); returns its text (empty and `-ENOENT` for no such file)
    /// and logs the read.
    pub fn tracefs_read(&mut self, m: &mut dyn Machine, cpu: CpuId, file: &str) -> Result<String, TraceErrno> {
        let text = self.tracefs_read_inner(m, file);
        let bytes = text.as_ref().map_or(0, String::len);
        m.emit(cpu, EventKind::Tracefs { file: file.to_string(), op: TracefsOp::Read { bytes } });
        text
    }

    fn tracefs_read_inner(&mut self, m: &mut dyn Machine, file: &str) -> Result<String, TraceErrno> {
        let profile = self.core.profile();
        let t = &mut self.core.tracefs;
        let Some(f) = parse_file(file) else { return Err(Errno::ENOENT) };
        Ok(match f {
            File::KprobeEvents => t.kprobes.read_kprobe_events(),
            File::KprobeProfile => t
                .kprobes
                .probes()
                .iter()
                .map(|p| {
                    let core_name = t.names.get(&p.handle);
                    let kp = self.core.kprobes.probes.iter().find(|k| Some(&k.spec.name) == core_name);
                    let rp = self.core.kretprobes.probes.iter().find(|r| Some(&r.name) == core_name);
                    let nmissed = kp.map_or(0, |k| k.nmissed) + rp.map_or(0, |r| r.nmissed);
                    kprobe_profile_line(&p.def.event, p.nhit, nmissed)
                })
                .collect(),
            File::Trace => {
                let t = &self.core.tracefs;
                trace_file(profile, m.kallsyms(), t.buffer.total_entries(), &t.buffer.iter_merged(), t.nr_cpus as u32, &|id| t.def_of_id(id))
            }
            File::TracePipe => {
                let recs = t.buffer.consume_all();
                let t = &self.core.tracefs;
                recs.iter().map(|r| record_line(profile, m.kallsyms(), r, &|id| t.def_of_id(id))).collect()
            }
            File::ErrorLog => t.error_log.read(),
            File::TracingOn => if t.tracing_on { "1\n" } else { "0\n" }.to_string(),
            File::EventsEnable | File::GroupEnable(_) => {
                let states: Vec<bool> = t
                    .kprobes
                    .events()
                    .iter()
                    .filter(|e| !matches!(f, File::GroupEnable(g) if g != e.group))
                    .map(|e| e.enabled)
                    .collect();
                // event_enable_read / system_enable_read: 0, 1, or X for a mix.
                match (states.iter().all(|&b| b), states.iter().any(|&b| b)) {
                    (true, _) if !states.is_empty() => "1\n",
                    (_, true) => "X\n",
                    _ => "0\n",
                }
                .to_string()
            }
            File::Event { group, event, leaf } => {
                let ev = t.kprobes.find_event(group, event).ok_or(Errno::ENOENT)?.clone();
                let key = (group.to_string(), event.to_string());
                match leaf {
                    "enable" => if ev.enabled { "1\n" } else { "0\n" }.to_string(),
                    "id" => event_id_file(ev.id),
                    "format" => event_format(&t.def_of_id(ev.id).ok_or(Errno::ENOENT)?, ev.id),
                    _ => match (t.filters.get(&key), t.filter_errors.get(&key)) {
                        (Some(f), _) => f.read(),
                        (None, Some(text)) => text.clone(),
                        (None, None) => "none\n".to_string(),
                    },
                }
            }
            File::KprobesList => {
                let k = m.kallsyms();
                self.core
                    .kprobes
                    .probes
                    .iter()
                    .filter(|p| p.registered)
                    .map(|p| {
                        let sym = k.lookup(p.addr).map(|s| (s.name.as_str(), p.addr.0 - s.addr.0));
                        let flags = KprobeListFlags { disabled: p.disabled(), ..Default::default() };
                        kprobes_list_line(p.addr, matches!(p.spec.pre_handler, PreHandler::Kretprobe(_)), sym, None, flags, k)
                    })
                    .collect()
            }
            File::KprobesEnabled => kprobes_enabled_file(false).to_string(),
        })
    }
}

