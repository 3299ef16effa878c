//! `kernel/trace/trace_kprobe.c`: the `kprobe_events` grammar (`__trace_kprobe_create`, `dyn_event_release`), the
//! list of kprobe events, `kprobe_events` read-back (`trace_kprobe_show`), `kprobe_profile`, and registration
//! (`register_trace_kprobe`, `append_trace_kprobe`, `__register_trace_kprobe`) through a [`KprobeRegistrar`] the
//! kernel model supplies.
//!
//! Sources: [5.10] Rtoax/linux-5.10.13 `kernel/trace/trace_kprobe.c` (@4145aee3); [6.12] the v6.6+ additions
//! (`validate_probe_symbol`, `BAD_MAXACT_TYPE`, `GRP/` with an empty event) are reproduced from memory of the
//! upstream source and marked so.

use crate::errno::Errno;
use crate::kallsyms::Kallsyms;
use crate::profile::KernelProfile;
use crate::trace::trace_probe::{
    compare_arg_type, kstrtol, kstrtoul, parse_event_name, parse_probe_arg_word, print_fmt, ArgContext, ArgFail,
    ErrorLogEntry, FetchArg, ParseEnv, ProbeError, ProbeLog, TpErr, TraceErrno, MAX_EVENT_NAME_LEN, MAX_TRACE_ARGS,
};
use crate::KernelVa;

/// `KPROBE_EVENT_SYSTEM`: the default group.
pub const KPROBE_EVENT_SYSTEM: &str = "kprobes";
/// `KRETPROBE_MAXACTIVE_MAX`.
pub const KRETPROBE_MAXACTIVE_MAX: u32 = 4096;

/// `p` or `r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProbeKind {
    /// `p`: a kprobe.
    Kprobe,
    /// `r[MAXACTIVE]` or `p … SYM%return`: a kretprobe.
    Kretprobe {
        /// `MAXACTIVE` as written (`None`: the kernel's default, see [`kretprobe_default_maxactive`]).
        maxactive: Option<u32>,
    },
}

/// Where a probe goes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProbeTarget {
    /// `[MOD:]SYM[+offs]`.
    Symbol {
        /// `MOD:` (kept as written; the model has no module table, so the symbol resolves through kallsyms).
        module: Option<String>,
        /// The symbol.
        sym: String,
        /// The offset.
        offset: u64,
    },
    /// `MEMADDR`.
    Addr(KernelVa),
}

impl ProbeTarget {
    /// `trace_kprobe_symbol(tk)`: the symbol text as the kernel keeps it (`MOD:SYM`), or `unknown`.
    #[must_use]
    pub fn symbol_text(&self) -> String {
        match self {
            ProbeTarget::Symbol { module: Some(m), sym, .. } => format!("{m}:{sym}"),
            ProbeTarget::Symbol { sym, .. } => sym.clone(),
            ProbeTarget::Addr(_) => "unknown".into(),
        }
    }

    fn offset(&self) -> u64 {
        match self {
            ProbeTarget::Symbol { offset, .. } => *offset,
            ProbeTarget::Addr(_) => 0,
        }
    }
}

/// One parsed `p`/`r` definition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProbeDefinition {
    /// Kprobe or kretprobe.
    pub kind: ProbeKind,
    /// The group (`kprobes` by default).
    pub group: String,
    /// The event name (given, or `p_<sym>_<off>` / `r_<sym>_<off>` / `p_0x<addr>`).
    pub event: String,
    /// The probe point.
    pub target: ProbeTarget,
    /// The fetch arguments.
    pub args: Vec<FetchArg>,
}

impl ProbeDefinition {
    /// Whether it is a return probe.
    #[must_use]
    pub fn is_return(&self) -> bool {
        matches!(self.kind, ProbeKind::Kretprobe { .. })
    }

    /// The event's `print fmt`.
    #[must_use]
    pub fn print_fmt(&self) -> String {
        print_fmt(&self.args, self.is_return())
    }

    /// The entry's size after the common fields: `sizeof(struct kprobe_trace_entry_head)` (or the kretprobe head)
    /// plus the arguments' bytes, on a 64-bit kernel.
    #[must_use]
    pub fn head_size(&self) -> usize {
        if self.is_return() {
            24
        } else {
            16
        }
    }
}

/// One line of `kprobe_events`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Command {
    /// `p…`/`r…`.
    Create(ProbeDefinition),
    /// `-:[GRP/]EVENT [ARGS]`.
    Delete {
        /// The group, if given.
        group: Option<String>,
        /// The event.
        event: String,
        /// Further words, which must match the probe's head (`trace_kprobe_match_command_head`).
        args: Vec<String>,
    },
}

/// `max(10, 2 * num_possible_cpus())`: `register_kretprobe`'s maxactive when none is given (CONFIG_PREEMPTION),
/// which `trace_kprobe_show` then prints (`r10:` on 2 CPUs).
#[must_use]
pub fn kretprobe_default_maxactive(ncpus: u32) -> u32 {
    10u32.max(2 * ncpus)
}

/// `sanitize_event_name`: `:` and `.` become `_` (the kernel's loop never looks at the first character).
fn sanitize_event_name(name: &str) -> String {
    name.char_indices().map(|(i, c)| if i > 0 && (c == ':' || c == '.') { '_' } else { c }).collect()
}

fn log_fail(log: &ProbeLog, f: ArgFail) -> ProbeError {
    ProbeError { errno: f.errno, log: f.log.map(|(o, e)| log.err(o, e)) }
}

/// `argv_split`: words separated by whitespace.
fn argv_split(line: &str) -> Vec<&str> {
    line.split_ascii_whitespace().collect()
}

/// `create_or_delete_trace_kprobe` for one command line: parses it into a [`Command`] (no side effects). Returns
/// `Ok(None)` for an empty line. `-ECANCELED` (not a kprobe command) becomes `-EINVAL`, unlogged.
pub fn parse_command(env: &ParseEnv<'_>, line: &str) -> Result<Option<Command>, ProbeError> {
    let argv = argv_split(line);
    if argv.is_empty() {
        return Ok(None);
    }
    if argv[0].starts_with('-') {
        return parse_delete(&argv).map(Some);
    }
    trace_kprobe_create(env, &argv).map(|d| Some(Command::Create(d)))
}

/// `dyn_event_release`'s parse of `-:[GRP/]EVENT`.
fn parse_delete(argv: &[&str]) -> Result<Command, ProbeError> {
    let Some(spec) = argv[0].strip_prefix("-:") else {
        return Err(ProbeError::silent(Errno::EINVAL));
    };
    let (group, event) = match spec.split_once('/') {
        Some((g, e)) => (Some(g.to_string()), e),
        None => (None, spec),
    };
    if event.is_empty() {
        return Err(ProbeError::silent(Errno::EINVAL));
    }
    Ok(Command::Delete { group, event: event.to_string(), args: argv[1..].iter().map(|s| (*s).to_string()).collect() })
}

/// `__trace_kprobe_create(argc, argv)` up to (not including) `register_trace_kprobe`: the whole grammar, the
/// symbol checks done at parse time, and the arguments.
fn trace_kprobe_create(env: &ParseEnv<'_>, argv: &[&str]) -> Result<ProbeDefinition, ProbeError> {
    let p = env.profile;
    let a0 = argv[0];
    let mut is_return = match a0.as_bytes()[0] {
        b'r' => true,
        b'p' => false,
        _ => return Err(ProbeError::silent(Errno::EINVAL)), // -ECANCELED
    };
    if argv.len() < 2 {
        return Err(ProbeError::silent(Errno::EINVAL)); // -ECANCELED
    }
    let mut log = ProbeLog::new(p, "trace_kprobe", argv);
    let einval = |log: &ProbeLog, off, e| ProbeError::logged(Errno::EINVAL, log.err(off, e));

    let event_at = a0[1..].find(':').map(|i| i + 2); // byte index of the event text in argv[0]
    let mut maxactive = None;
    if a0.as_bytes().get(1).is_some_and(u8::is_ascii_digit) {
        if !is_return {
            let e = match p {
                KernelProfile::V5_10 => TpErr::MAXACT_NO_KPROBE,
                KernelProfile::V6_12 => TpErr::BAD_MAXACT_TYPE,
            };
            return Err(einval(&log, 1, e));
        }
        let num = match event_at {
            Some(e) => &a0[1..e - 1],
            None => &a0[1..],
        };
        if num.len() > MAX_EVENT_NAME_LEN - 1 {
            return Err(einval(&log, 1, TpErr::BAD_MAXACT));
        }
        let n = kstrtoul(num).and_then(|n| u32::try_from(n).ok()).filter(|&n| n != 0);
        let Some(n) = n else {
            return Err(einval(&log, 1, TpErr::BAD_MAXACT));
        };
        if n > KRETPROBE_MAXACTIVE_MAX {
            return Err(einval(&log, 1, TpErr::MAXACT_TOO_BIG));
        }
        maxactive = Some(n);
    }

    // Try to parse an address; if that fails, read a symbol.
    let mut ctx = ArgContext { is_return, fentry: false };
    let target = if let Some(addr) = kstrtoul(argv[1]) {
        ProbeTarget::Addr(KernelVa(addr))
    } else {
        log.set_index(1);
        let a1 = argv[1];
        if a1.contains('/') && a1.contains(':') {
            return Err(ProbeError::silent(Errno::EINVAL)); // a uprobe: -ECANCELED
        }
        let mut symbol = a1;
        if let Some(pct) = symbol.find('%') {
            if &symbol[pct..] == "%return" {
                symbol = &symbol[..pct];
                is_return = true;
            } else {
                return Err(einval(&log, pct, TpErr::BAD_ADDR_SUFFIX));
            }
        }
        // traceprobe_split_symbol_offset.
        let (sym_text, offset) = match symbol.find(['+', '-']) {
            Some(i) => (&symbol[..i], kstrtol(&symbol[i..])),
            None => (symbol, Some(0)),
        };
        let offset = match offset {
            Some(o) if o >= 0 && o <= i64::from(u32::MAX) => o as u64,
            _ => return Err(einval(&log, 0, TpErr::BAD_PROBE_ADDR)),
        };
        let (module, sym) = match sym_text.split_once(':') {
            Some((m, s)) => (Some(m.to_string()), s.to_string()),
            None => (None, sym_text.to_string()),
        };
        let count = env.kallsyms.symbols().iter().filter(|s| s.name == sym).count();
        if p == KernelProfile::V6_12 {
            // validate_probe_symbol (v6.6, memory): 0 matches → -ENOENT, several → -EADDRNOTAVAIL.
            if count > 1 {
                return Err(ProbeError::logged(Errno::EADDRNOTAVAIL, log.err(0, TpErr::NON_UNIQ_SYMBOL)));
            } else if count == 0 {
                return Err(ProbeError::logged(Errno::ENOENT, log.err(0, TpErr::BAD_PROBE_ADDR)));
            }
        }
        ctx.is_return = is_return;
        // kprobe_on_func_entry(NULL, symbol, offset): the symbol exists and `arch_kprobe_on_func_entry(offset)`,
        // which is `offset == 0` on both ISAs (x86 without IBT).
        let on_entry = count > 0 && offset == 0;
        match p {
            KernelProfile::V5_10 => {
                ctx.fentry = on_entry;
                if offset != 0 && is_return && !on_entry {
                    return Err(einval(&log, 0, TpErr::BAD_RETPROBE));
                }
            }
            KernelProfile::V6_12 => {
                ctx.fentry = on_entry && !is_return;
                if !on_entry && is_return {
                    return Err(einval(&log, 0, TpErr::BAD_RETPROBE));
                }
            }
        }
        ProbeTarget::Symbol { module, sym, offset }
    };

    log.set_index(0);
    let mut group = KPROBE_EVENT_SYSTEM.to_string();
    let mut event = None;
    if let Some(at) = event_at {
        let (g, e) = parse_event_name(p, &a0[at..], at).map_err(|f| log_fail(&log, f))?;
        if let Some(g) = g {
            group = g;
        }
        event = e;
    }
    let event = event.unwrap_or_else(|| {
        let c = if is_return { 'r' } else { 'p' };
        let mut name = match &target {
            ProbeTarget::Symbol { .. } => format!("{c}_{}_{}", target.symbol_text(), target.offset()),
            // "%c_0x%p": the kernel hashes the pointer; the model prints it raw (as with `no_hash_pointers`).
            ProbeTarget::Addr(a) => format!("{c}_0x{:016x}", a.0),
        };
        name.truncate(MAX_EVENT_NAME_LEN - 1);
        sanitize_event_name(&name)
    });

    let words = &argv[2..];
    if p == KernelProfile::V6_12 && words.len() > MAX_TRACE_ARGS {
        // [6.12] `if (argc > MAX_TRACE_ARGS) return -E2BIG;` without a log entry (the TOO_MANY_ARGS entry came in
        // v6.15, 57faaa04804c); 5.10 silently ignores arguments past MAX_TRACE_ARGS.
        return Err(ProbeError::silent(Errno::E2BIG));
    }
    let mut args: Vec<FetchArg> = Vec::new();
    for (i, w) in words.iter().take(MAX_TRACE_ARGS).enumerate() {
        log.set_index(i + 2);
        let a = parse_probe_arg_word(env, &args, i, w, ctx).map_err(|f| log_fail(&log, f))?;
        args.push(a);
    }
    let kind = if is_return { ProbeKind::Kretprobe { maxactive } } else { ProbeKind::Kprobe };
    Ok(ProbeDefinition { kind, group, event, target, args })
}

/// A handle the registrar gives a registered kprobe/kretprobe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ProbeHandle(pub u64);

/// What registration returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The handle.
    pub handle: ProbeHandle,
    /// For kretprobes, the maxactive `register_kretprobe` settled on (shown by `kprobe_events`); 0 for kprobes.
    pub maxactive: u32,
}

/// The kprobe core as `__register_trace_kprobe` sees it. The lead wires this to the kernel model's
/// `register_kprobe`/`register_kretprobe` (same patching, same BRK/int3 path).
pub trait KprobeRegistrar {
    /// `register_kprobe(&tk->rp.kp)` or `register_kretprobe(&tk->rp)` at `addr` (the event starts disabled,
    /// `KPROBE_FLAG_DISABLED`). Errors are the core's: `-EILSEQ` off an instruction boundary, `-EINVAL` for a
    /// blacklisted or otherwise refused address, `-ENOENT`, …
    fn register(&mut self, def: &ProbeDefinition, addr: KernelVa) -> Result<Registered, TraceErrno>;
    /// `unregister_kprobe`/`unregister_kretprobe`.
    fn unregister(&mut self, handle: ProbeHandle);
    /// `ftrace_location_range(start, end)`: whether the function has an ftrace call site (for
    /// `within_notrace_func`).
    fn ftrace_location_range(&self, start: KernelVa, end: KernelVa) -> bool;
}

/// Machine settings trace_kprobe depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceKprobeConfig {
    /// `CONFIG_KPROBE_EVENTS_ON_NOTRACE` (off in distro kernels: functions without an ftrace location are refused).
    pub kprobe_events_on_notrace: bool,
    /// The first event ID `register_trace_event` hands out.
    pub first_event_id: u32,
}

impl Default for TraceKprobeConfig {
    fn default() -> TraceKprobeConfig {
        TraceKprobeConfig { kprobe_events_on_notrace: false, first_event_id: 1000 }
    }
}

/// One registered probe of an event (`struct trace_kprobe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceKprobe {
    /// What was written.
    pub def: ProbeDefinition,
    /// The resolved address.
    pub addr: KernelVa,
    /// The registrar's handle.
    pub handle: ProbeHandle,
    /// The effective maxactive (kretprobes).
    pub maxactive: u32,
    /// `nhit`.
    pub nhit: u64,
    /// `kp.nmissed` (plus `rp.nmissed` for return probes).
    pub nmissed: u64,
}

/// An event (`struct trace_probe_event`): name, ID, enable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KprobeEvent {
    /// Group.
    pub group: String,
    /// Name.
    pub event: String,
    /// `call->event.type`, the `id` file.
    pub id: u32,
    /// `TP_FLAG_TRACE | TP_FLAG_PROFILE` set.
    pub enabled: bool,
}

/// The kprobe events (the `dyn_event` list restricted to `trace_kprobe_ops`), in creation order.
#[derive(Clone, Debug)]
pub struct TraceKprobes {
    profile: KernelProfile,
    config: TraceKprobeConfig,
    probes: Vec<TraceKprobe>,
    events: Vec<KprobeEvent>,
    next_event_id: u32,
    /// Lines printed to dmesg (`pr_warn`), oldest first.
    pub dmesg: Vec<String>,
}

impl TraceKprobes {
    /// An empty list.
    #[must_use]
    pub fn new(profile: KernelProfile, config: TraceKprobeConfig) -> TraceKprobes {
        TraceKprobes {
            profile,
            config,
            probes: Vec::new(),
            events: Vec::new(),
            next_event_id: config.first_event_id,
            dmesg: Vec::new(),
        }
    }

    /// The probes, in `dyn_event` order.
    #[must_use]
    pub fn probes(&self) -> &[TraceKprobe] {
        &self.probes
    }

    /// The events.
    #[must_use]
    pub fn events(&self) -> &[KprobeEvent] {
        &self.events
    }

    /// `find_trace_kprobe(event, group)`.
    #[must_use]
    pub fn find_event(&self, group: &str, event: &str) -> Option<&KprobeEvent> {
        self.events.iter().find(|e| e.group == group && e.event == event)
    }

    /// Sets an event's enable state (`enable_trace_kprobe`/`disable_trace_kprobe`; the lead arms the kprobes).
    /// Returns false if there is no such event.
    pub fn set_enabled(&mut self, group: &str, event: &str, enabled: bool) -> bool {
        match self.events.iter_mut().find(|e| e.group == group && e.event == event) {
            Some(e) => {
                e.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// `kprobe_dispatcher`'s `raw_cpu_inc(*tk->nhit)`.
    pub fn hit(&mut self, handle: ProbeHandle) {
        if let Some(p) = self.probes.iter_mut().find(|p| p.handle == handle) {
            p.nhit += 1;
        }
    }

    /// The probe a handle belongs to, and its event.
    #[must_use]
    pub fn by_handle(&self, handle: ProbeHandle) -> Option<(&TraceKprobe, &KprobeEvent)> {
        let p = self.probes.iter().find(|p| p.handle == handle)?;
        let e = self.find_event(&p.def.group, &p.def.event)?;
        Some((p, e))
    }

    /// `probes_write` → `trace_parse_run_command`: runs each line of `text` (text after `#` is a comment);
    /// stops at the first failing line, whose error (and `error_log` entry) it returns.
    pub fn write(
        &mut self,
        env: &ParseEnv<'_>,
        reg: &mut dyn KprobeRegistrar,
        text: &str,
    ) -> Result<(), ProbeError> {
        for line in text.split('\n') {
            let line = line.split('#').next().unwrap_or("");
            match parse_command(env, line)? {
                None => {}
                Some(Command::Create(def)) => self.register_trace_kprobe(env.kallsyms, reg, def, line)?,
                Some(Command::Delete { group, event, args }) => self.release(reg, group.as_deref(), &event, &args)?,
            }
        }
        Ok(())
    }

    /// `probes_open` with `O_TRUNC` (`echo > kprobe_events`): `dyn_events_release_all`, `-EBUSY` (and nothing
    /// removed) if any event is enabled.
    pub fn truncate(&mut self, reg: &mut dyn KprobeRegistrar) -> Result<(), ProbeError> {
        if self.events.iter().any(|e| e.enabled) {
            return Err(ProbeError::silent(Errno::EBUSY));
        }
        for p in self.probes.drain(..) {
            reg.unregister(p.handle);
        }
        self.events.clear();
        Ok(())
    }

    /// `dyn_event_release` → `trace_kprobe_release` → `unregister_trace_kprobe` for every match.
    fn release(
        &mut self,
        reg: &mut dyn KprobeRegistrar,
        group: Option<&str>,
        event: &str,
        args: &[String],
    ) -> Result<(), ProbeError> {
        let mut ret: Result<(), ProbeError> = Err(ProbeError::silent(Errno::ENOENT));
        let mut i = 0;
        while i < self.probes.len() {
            let p = &self.probes[i];
            let matches = p.def.event == event
                && group.is_none_or(|g| g == p.def.group)
                && match_command_head(p, args);
            if !matches {
                i += 1;
                continue;
            }
            let siblings = self.probes.iter().filter(|q| q.def.group == p.def.group && q.def.event == p.def.event).count();
            let enabled = self.find_event(&p.def.group, &p.def.event).is_some_and(|e| e.enabled);
            if siblings == 1 && enabled {
                return Err(ProbeError::silent(Errno::EBUSY));
            }
            let p = self.probes.remove(i);
            reg.unregister(p.handle);
            if siblings == 1 {
                self.events.retain(|e| !(e.group == p.def.group && e.event == p.def.event));
            }
            ret = Ok(());
        }
        ret
    }

    /// `register_trace_kprobe` (and `append_trace_kprobe` for an existing event), then
    /// `__trace_kprobe_create`'s mapping of registration errors to `error_log` entries.
    fn register_trace_kprobe(
        &mut self,
        kallsyms: &Kallsyms,
        reg: &mut dyn KprobeRegistrar,
        def: ProbeDefinition,
        line: &str,
    ) -> Result<(), ProbeError> {
        let argv = argv_split(line);
        let mut log = ProbeLog::new(self.profile, "trace_kprobe", &argv);
        let existing = self.events.iter().position(|e| e.group == def.group && e.event == def.event);
        if let Some(_ev) = existing {
            let first = self
                .probes
                .iter()
                .find(|p| p.def.group == def.group && p.def.event == def.event)
                .cloned();
            if let Some(old) = first {
                if old.def.is_return() != def.is_return() {
                    log.set_index(0);
                    return Err(ProbeError::logged(Errno::EEXIST, log.err(0, TpErr::DIFF_PROBE_TYPE)));
                }
                // append_trace_kprobe.
                let diff = compare_arg_type(&def.args, &old.def.args);
                if diff != 0 {
                    log.set_index(diff + 1);
                    return Err(ProbeError::logged(Errno::EEXIST, log.err(0, TpErr::DIFF_ARG_TYPE)));
                }
                let same = self.probes.iter().any(|p| {
                    p.def.group == def.group
                        && p.def.event == def.event
                        && p.def.target.symbol_text() == def.target.symbol_text()
                        && p.def.target.offset() == def.target.offset()
                        && p.def.args.iter().zip(&def.args).all(|(a, b)| a.comm == b.comm)
                });
                if same {
                    log.set_index(0);
                    return Err(ProbeError::logged(Errno::EEXIST, log.err(0, TpErr::SAME_PROBE)));
                }
            }
            return match self.__register(kallsyms, reg, &def) {
                Ok(r) => {
                    self.push(def, r);
                    Ok(())
                }
                Err(e) => Err(self.map_register_error(&mut log, e)),
            };
        }
        // register_kprobe_event: the event type is allocated (and stays used) even if the kprobe then fails.
        let id = self.next_event_id;
        self.next_event_id += 1;
        match self.__register(kallsyms, reg, &def) {
            Ok(r) => {
                self.events.push(KprobeEvent { group: def.group.clone(), event: def.event.clone(), id, enabled: false });
                self.push(def, r);
                Ok(())
            }
            Err(e) => Err(self.map_register_error(&mut log, e)),
        }
    }

    fn push(&mut self, def: ProbeDefinition, r: (KernelVa, Registered)) {
        let (addr, r) = r;
        self.probes.push(TraceKprobe { def, addr, handle: r.handle, maxactive: r.maxactive, nhit: 0, nmissed: 0 });
    }

    /// `if (ret == -EILSEQ) BAD_INSN_BNDRY; else if (ret == -ENOENT) BAD_PROBE_ADDR; else if (ret != -ENOMEM &&
    /// ret != -EEXIST) FAIL_REG_PROBE`, all at argv[1].
    fn map_register_error(&self, log: &mut ProbeLog, e: TraceErrno) -> ProbeError {
        log.set_index(1);
        let err = match e {
            Errno::EILSEQ => Some(TpErr::BAD_INSN_BNDRY),
            Errno::ENOENT => Some(TpErr::BAD_PROBE_ADDR),
            Errno::ENOMEM | Errno::EEXIST => None,
            _ => Some(TpErr::FAIL_REG_PROBE),
        };
        ProbeError { errno: e, log: err.map(|err| log.err(0, err)) }
    }

    /// `__register_trace_kprobe`: resolve the address (`kallsyms_lookup_name`, `-ENOENT`), refuse notrace
    /// functions unless `CONFIG_KPROBE_EVENTS_ON_NOTRACE`, then register.
    fn __register(
        &mut self,
        kallsyms: &Kallsyms,
        reg: &mut dyn KprobeRegistrar,
        def: &ProbeDefinition,
    ) -> Result<(KernelVa, Registered), TraceErrno> {
        let addr = match &def.target {
            ProbeTarget::Addr(a) => *a,
            ProbeTarget::Symbol { sym, offset, .. } => {
                kallsyms.lookup_name(sym).ok_or(Errno::ENOENT)?.addr.add(*offset)
            }
        };
        if !self.config.kprobe_events_on_notrace {
            // within_notrace_func: the function containing addr has no ftrace location.
            if let Some(f) = kallsyms.lookup(addr).filter(|s| s.size > 0) {
                let end = KernelVa(f.addr.0 + f.size - 1);
                if !reg.ftrace_location_range(f.addr, end) {
                    self.dmesg.push(format!("trace_kprobe: Could not probe notrace function {}", def.target.symbol_text()));
                    return Err(Errno::EINVAL);
                }
            }
        }
        reg.register(def, addr).map(|r| (addr, r))
    }

    /// Reading `kprobe_events` (also `dynamic_events`): `trace_kprobe_show` for every probe.
    #[must_use]
    pub fn read_kprobe_events(&self) -> String {
        let mut s = String::new();
        for p in &self.probes {
            s.push(if p.def.is_return() { 'r' } else { 'p' });
            if p.def.is_return() && p.maxactive != 0 {
                s.push_str(&p.maxactive.to_string());
            }
            s.push_str(&format!(":{}/{}", p.def.group, p.def.event));
            match &p.def.target {
                // " 0x%p": hashed by the real kernel; raw here.
                ProbeTarget::Addr(a) => s.push_str(&format!(" 0x{:016x}", a.0)),
                ProbeTarget::Symbol { offset, .. } if *offset != 0 => {
                    s.push_str(&format!(" {}+{}", p.def.target.symbol_text(), offset));
                }
                ProbeTarget::Symbol { .. } => s.push_str(&format!(" {}", p.def.target.symbol_text())),
            }
            for a in &p.def.args {
                s.push_str(&format!(" {}={}", a.name, a.comm));
            }
            s.push('\n');
        }
        s
    }

    /// Reading `kprobe_profile`: `"  %-44s %15lu %15lu\n"` (name, nhit, nmissed) per probe.
    #[must_use]
    pub fn read_kprobe_profile(&self) -> String {
        self.probes.iter().map(|p| format!("  {:<44} {:>15} {:>15}\n", p.def.event, p.nhit, p.nmissed)).collect()
    }
}

/// `trace_kprobe_match_command_head`: no words match; otherwise the first is the probe point as written
/// (`SYM`, `SYM+OFFS` or `0xADDR`) and the rest are `NAME=BODY` of the first arguments.
fn match_command_head(p: &TraceKprobe, args: &[String]) -> bool {
    let Some((head, rest)) = args.split_first() else {
        return true;
    };
    let point = match &p.def.target {
        ProbeTarget::Addr(a) => format!("0x{:x}", a.0),
        ProbeTarget::Symbol { offset: 0, .. } => p.def.target.symbol_text(),
        ProbeTarget::Symbol { offset, .. } => format!("{}+{offset}", p.def.target.symbol_text()),
    };
    if *head != point {
        return false;
    }
    if p.def.args.len() < rest.len() {
        return false;
    }
    p.def.args.iter().zip(rest).all(|(a, w)| format!("{}={}", a.name, a.comm) == *w)
}

/// Convenience for tests and callers: the error-log entry of a failed write, if any.
#[must_use]
pub fn error_entry(e: &ProbeError) -> Option<&ErrorLogEntry> {
    e.log.as_ref()
}

#[cfg(test)]
#[path = "trace_kprobe_tests.rs"]
mod tests;
