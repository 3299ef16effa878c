//! Views of machine state, shared by the CLI and the run report (the debugger's `u`, …).

use kernel_model::arch::disassemble;
use kernel_model::machine::{GuestMemory as _, Machine as _};
use kernel_model::KernelVa;
use sim::machine::EmulatedMachine;

/// Renders a function's disassembly in the debugger's `u` layout: `address encoding text  <target>`.
#[must_use]
pub fn render_function(machine: &EmulatedMachine, start: KernelVa, size: u64) -> String {
    let syms = machine.kallsyms();
    let mut bytes = vec![0; usize::try_from(size).unwrap_or(0)];
    if machine.read(start, &mut bytes).is_err() {
        return format!("{start}: unreadable\n");
    }
    let mut out = String::new();
    for line in disassemble(machine.isa(), start.0, &bytes) {
        let target = line.target.map(|t| format!("  <{}>", syms.format_short(KernelVa(t)))).unwrap_or_default();
        out.push_str(&format!("{:016x} {:<20} {}{target}\n", line.addr, line.encoding, line.text));
    }
    out
}


/// The longest instruction of any ISA the model runs (x86: 15 bytes; arm64: 4).
const MAX_INSN_LEN: u64 = 15;

/// Like [`render_function`] over the instructions that *start* in `[start, start + size)`: enough bytes past the
/// window are read that its last instruction decodes whole (not `48 c7 (bad)` cut at the window's end).
#[must_use]
pub fn render_window(machine: &EmulatedMachine, start: KernelVa, size: u64) -> String {
    let end = start.0.saturating_add(size);
    // Fall back to the exact window if the bytes after it cannot be read (end of a mapping).
    let text = render_function(machine, start, size + MAX_INSN_LEN);
    let text = if text.ends_with(": unreadable\n") { render_function(machine, start, size) } else { text };
    text.lines()
        .filter(|l| u64::from_str_radix(l.get(..16).unwrap_or(""), 16).is_ok_and(|a| a < end))
        .map(|l| format!("{l}\n"))
        .collect()
}


use kernel_model::event::{EventKind, KprobeStatus};
use kernel_model::kernel::Kernel;
use kernel_model::CpuId;
use sim::event_log::{Event, EventLog};
use std::fmt::Write as _;

/// Which event the views look at (`--at`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `event:K`: the event with sequence number K.
    Event(u64),
    /// `write:N`: the master's Nth write of a patch (`__aarch64_insn_write`), 1-based.
    Write(usize),
    /// `hit:N` or `hit:N:PROBE`: the Nth kprobe hit (of PROBE), 1-based.
    Hit(usize, Option<String>),
}

impl std::str::FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Selector, String> {
        let bad = || format!("`{s}`: expected event:K, write:N or hit:N[:PROBE]");
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let (n, probe) = match rest.split_once(':') {
            Some((n, p)) => (n, Some(p.to_string())),
            None => (rest, None),
        };
        let n: u64 = n.parse().map_err(|_| bad())?;
        match (kind, probe) {
            ("event", None) => Ok(Selector::Event(n)),
            ("write", None) if n > 0 => Ok(Selector::Write(n as usize)),
            ("hit", p) if n > 0 => Ok(Selector::Hit(n as usize, p)),
            _ => Err(bad()),
        }
    }
}

/// The selector as the user writes it (`write:1`, `hit:2:kp`), for messages.
impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Event(k) => write!(f, "event:{k}"),
            Selector::Write(n) => write!(f, "write:{n}"),
            Selector::Hit(n, None) => write!(f, "hit:{n}"),
            Selector::Hit(n, Some(p)) => write!(f, "hit:{n}:{p}"),
        }
    }
}

/// The event a selector names.
#[must_use]
pub fn find_event<'a>(log: &'a EventLog, sel: &Selector) -> Option<&'a Event> {
    let events = log.events();
    match sel {
        Selector::Event(k) => events.get(usize::try_from(*k).ok()?),
        Selector::Write(n) => events.iter().filter(|e| matches!(e.kind, EventKind::InsnPatch { .. })).nth(n - 1),
        Selector::Hit(n, probe) => events
            .iter()
            .filter(|e| match &e.kind {
                EventKind::KprobeHit { probe: p, step, .. } => {
                    step.is_handler_entry()
                        && probe.as_ref().is_none_or(|want| p.split('+').any(|x| x == want))
                }
                _ => false,
            })
            .nth(n - 1),
    }
}

/// One debugger view (`--show`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// `u`: disassembly around the CPU's pc, current bytes.
    U,
    /// `kn`: every CPU's backtrace.
    Kn,
    /// `r`: the CPU's registers.
    R,
    /// `db[:ADDR]`: bytes.
    Db(Option<u64>),
    /// `dd[:ADDR]`: 32-bit words.
    Dd(Option<u64>),
    /// `dt`: the structures the event concerns (`aarch64_insn_patch`, `kprobe`, `kprobe_ctlblk`).
    Dt,
}

/// Parses `u,kn,r,db,dd:0x…,dt`.
pub fn parse_views(s: &str) -> Result<Vec<View>, String> {
    s.split(',')
        .map(|v| {
            let (name, addr) = match v.split_once(':') {
                Some((n, a)) => {
                    let a = kernel_model::kallsyms::parse_int(a).ok_or_else(|| format!("`{a}` is not an address"))?;
                    (n, Some(a))
                }
                None => (v, None),
            };
            Ok(match name.trim() {
                "u" => View::U,
                "kn" => View::Kn,
                "r" => View::R,
                "db" => View::Db(addr),
                "dd" => View::Dd(addr),
                "dt" => View::Dt,
                other => return Err(format!("unknown view `{other}` (u, kn, r, db, dd, dt)")),
            })
        })
        .collect()
}

/// The address `db`/`dd`/`dt` look at by default: the patch struct of an `insn_patch` event, else the pc.
fn default_addr(event: &Event) -> u64 {
    match &event.kind {
        EventKind::InsnPatch { patch, .. } => patch.0,
        EventKind::TextWrite { addr, .. } | EventKind::KprobeHit { addr, .. } => addr.0,
        _ => event.pc.0,
    }
}

/// `ffffffc0`1761bab0`: the debugger's address form.
fn tick(a: u64) -> String {
    format!("{:08x}`{:08x}", a >> 32, a & 0xffff_ffff)
}

/// Renders the requested views of `machine`/`kernel` as they were just before `event`.
#[must_use]
pub fn render_views(machine: &mut EmulatedMachine, kernel: &Kernel, event: &Event, views: &[View]) -> String {
    let cpu = event.cpu;
    let mut out = String::new();
    let _ = writeln!(out, "at event #{} (vtime {}, cpu{}): {} {}", event.seq, event.vtime.0, cpu, event.kind.name(), event.kind);
    for v in views {
        match v {
            View::U => {
                let pc = machine.pc(cpu);
                let syms = machine.kallsyms().clone();
                let start = syms.lookup(pc).map_or(pc.0.saturating_sub(16), |s| s.addr.0.max(pc.0.saturating_sub(32)));
                let _ = writeln!(out, "\nu {} (cpu{cpu} pc {}):", syms.format_short(pc), tick(pc.0));
                for line in render_window(machine, KernelVa(start), 64).lines() {
                    let here = line.starts_with(&format!("{:016x}", pc.0));
                    let _ = writeln!(out, "{} {line}", if here { ">" } else { " " });
                }
            }
            View::Kn => {
                let _ = writeln!(out, "\nkn:");
                for c in 0..machine.nr_cpus() {
                    let id = CpuId(c);
                    let _ = writeln!(out, "Switched to CPU{c}:");
                    let model = kernel.backtrace(id);
                    let in_stopper = model.iter().any(|f| f == "cpu_stopper_thread");
                    let mut frames: Vec<String> = model.into_iter().rev().collect();
                    // The stopper is a thread of its own (its stack ends at ret_from_fork); any other model frames
                    // run on top of the interrupted guest code, whose frames follow.
                    if !in_stopper {
                        let regs = machine.pt_regs(id);
                        let top = machine.stack_top(id).0;
                        let unwind = kernel_model::arch::unwinder(machine.isa());
                        let trace = unwind(machine, (top - 0x4000, top), &regs, 8, &mut |a| a);
                        let ret = machine.task_return().0;
                        frames.extend(
                            trace
                                .iter()
                                .take_while(|a| **a != ret && **a != 0)
                                .map(|a| machine.kallsyms().format(KernelVa(*a))),
                        );
                    }
                    for (i, f) in frames.iter().enumerate() {
                        let _ = writeln!(out, "  {i:02x} lk!{f}");
                    }
                }
            }
            View::R => {
                let regs = machine.pt_regs(cpu);
                let _ = writeln!(out, "\nr (cpu{cpu}):");
                // The flags register is printed once, decoded, after the others.
                let named: Vec<(&str, u64)> = regs.named().into_iter().filter(|(n, _)| *n != regs.flags_name()).collect();
                for chunk in named.chunks(4) {
                    let line: Vec<String> = chunk.iter().map(|(n, v)| format!("{n}={v:#018x}")).collect();
                    let _ = writeln!(out, "{}", line.join(" "));
                }
                let _ = writeln!(out, "{}", regs.describe_flags());
            }
            View::Db(addr) | View::Dd(addr) => {
                let a = addr.unwrap_or_else(|| default_addr(event)) & !0xf;
                let words = matches!(v, View::Dd(_));
                let _ = writeln!(out, "\n{} {}", if words { "dd" } else { "db" }, tick(a));
                for row in 0..8u64 {
                    let mut b = [0u8; 16];
                    if machine.read(KernelVa(a + 16 * row), &mut b).is_err() {
                        let _ = writeln!(out, "{}  ????????", tick(a + 16 * row));
                        continue;
                    }
                    let body = if words {
                        b.chunks(4).map(|c| format!("{:08x}", u32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect::<Vec<_>>().join(" ")
                    } else {
                        let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
                        let ascii: String = b.iter().map(|&x| if (0x20..0x7f).contains(&x) { x as char } else { '.' }).collect();
                        format!("{}-{}  {ascii}", hex[..8].join(" "), hex[8..].join(" "))
                    };
                    let _ = writeln!(out, "{}  {body}", tick(a + 16 * row));
                }
            }
            View::Dt => render_dt(&mut out, machine, kernel, event),
        }
    }
    out
}

fn render_dt(out: &mut String, machine: &mut EmulatedMachine, kernel: &Kernel, event: &Event) {
    if let EventKind::InsnPatch { patch, .. } = &event.kind {
        let rd64 = |m: &EmulatedMachine, a: u64| m.read_u64(KernelVa(a)).unwrap_or(0);
        let rd32 = |m: &EmulatedMachine, a: u64| m.read_u32(KernelVa(a)).unwrap_or(0);
        let (p, cnt) = (patch.0, rd32(machine, patch.0 + 0x10));
        let addrs = rd64(machine, p);
        let insns = rd64(machine, p + 8);
        let targets: Vec<String> = (0..u64::from(cnt)).map(|i| tick(rd64(machine, addrs + 8 * i))).collect();
        let words: Vec<String> = (0..u64::from(cnt)).map(|i| format!("{:08x}", rd32(machine, insns + 4 * i))).collect();
        let _ = writeln!(out, "\ndt lk!aarch64_insn_patch {}", tick(p));
        let _ = writeln!(out, "    +0x000 text_addrs      : {} -> [{}]", tick(addrs), targets.join(", "));
        let _ = writeln!(out, "    +0x008 new_insns       : {} -> [{}]", tick(insns), words.join(", "));
        let _ = writeln!(out, "    +0x010 insn_cnt        : {cnt}");
        let _ = writeln!(out, "    +0x014 cpu_count       : {}", rd32(machine, p + 0x14));
    }
    let addr = match &event.kind {
        EventKind::KprobeHit { addr, .. } => Some(*addr),
        _ => None,
    };
    for p in kernel.core.kprobes.probes.iter().filter(|p| addr.is_none_or(|a| a == p.addr)) {
        let _ = writeln!(out, "\ndt lk!kprobe ({})", p.spec.name);
        let _ = writeln!(out, "    addr            : {} {}", tick(p.addr.0), machine.kallsyms().format(p.addr));
        let _ = writeln!(out, "    symbol_name     : {}", p.spec.symbol_name.as_deref().unwrap_or("(null)"));
        let _ = writeln!(out, "    offset          : {:#x}", p.spec.offset);
        let _ = writeln!(out, "    flags           : {:#x}", p.flags);
        let _ = writeln!(out, "    nmissed         : {}", p.nmissed);
        let opcode: String = p.opcode.iter().rev().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "    opcode          : {opcode}");
        let _ = writeln!(out, "    ainsn.insn      : {}", p.ainsn.slot.map_or("(null)".into(), |s| tick(s.0)));
        let _ = writeln!(out, "    ainsn.restore   : {:#x}", p.ainsn.restore);
    }
    for p in kernel.core.kprobes.probes.iter().filter(|p| addr.is_none_or(|a| a == p.addr)) {
        if let kernel_model::kprobes::PreHandler::TraceDispatcher { progs } = &p.spec.pre_handler {
            let names: Vec<String> = progs
                .iter()
                .map(|id| kernel.core.bpf.prog(*id).map_or(format!("#{}", id.0), |pr| format!("{} (id {})", pr.name, id.0)))
                .collect();
            let _ = writeln!(out, "\ndt lk!trace_event_call (kprobes/{})", p.spec.name);
            let _ = writeln!(out, "    class           : kprobe event class (TRACE_EVENT_FL_KPROBE)");
            let _ = writeln!(out, "    print_fmt       : \"(%lx)\", REC->__probe_ip");
            let _ = writeln!(out, "    prog_array      : [{}]", names.join(", "));
        }
    }
    let c = event.cpu.0;
    let pc = kernel.core.per_cpu(event.cpu);
    let _ = writeln!(out, "\ndt lk!kprobe_ctlblk (cpu{c})");
    let _ = writeln!(out, "    current_kprobe  : {}", pc.current_kprobe.map_or("(null)".into(), |a| tick(a.0)));
    let _ = writeln!(out, "    kprobe_status   : {}", KprobeStatus::from_kcb(pc.kcb.kprobe_status));
    for (name, value) in kernel.arch_ctlblk_fields(event.cpu) {
        let _ = writeln!(out, "    {name:<16}: {value}");
    }
    let _ = writeln!(out, "    prev_kprobe     : {{kp = {}, status = {}}}", pc.kcb.prev_kprobe.kp.map_or("(null)".into(), |a| tick(a.0)), KprobeStatus::from_kcb(pc.kcb.prev_kprobe.status));
}
