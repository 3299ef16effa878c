//! Running a bpftrace program on a scenario, as `bpftrace` does on a live system (v0.21 `BPFtrace::run`): load
//! every program and map (the verifier runs on each), attach the probes, print `Attaching N probes...`, fire
//! `BEGIN`, trace while the scenario's tasks run, fire `END`, then print `"\n\n"` and every map.
//!
//! `BEGIN` and `END` run as bpftrace's own process (comm `bpftrace`, pid [`BPFTRACE_PID`]) on the CPU that
//! attaches the probes: the CPU of the scenario's first `[[bpf]]`, else its last CPU. The scenario's own `[[bpf]]`
//! programs and the expectations about them are dropped: the one-liner replaces them. `exit()` ends the printing
//! of records (bpftrace stops polling); if `BEGIN` exits, the tasks do not run at all.

use super::sema::{Compiled, MapInfo, ProgInfo, CLEAR_RECORD, PRINT_RECORD, ZERO_RECORD};
use super::printer;
use super::ast::ProbeKind;
use crate::scenario::Scenario;
use kernel_model::bpf::object::{MapOrigin, ObjMap, ObjProgram};
use kernel_model::bpf::{AttachPoint, BpfObject, MapDef, MapType, ProgId, TaskInfo};
use kernel_model::kernel::Kernel;
use kernel_model::ptrace::PtRegs;
use kernel_model::CpuId;
use std::fmt::Write as _;

/// The pid `BEGIN`/`END` see (bpftrace's own process).
pub const BPFTRACE_PID: u32 = 4242;

/// Options of `probesim trace`.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// `-d`: print each program's bytecode (and run nothing).
    pub dump: bool,
}

/// What a trace printed.
#[derive(Clone, Debug, Default)]
pub struct TraceOutput {
    /// Standard output, as bpftrace's.
    pub stdout: String,
    /// A compile error (rendered as bpftrace renders it) or a run that failed (the runner's verdict).
    pub error: Option<String>,
}

fn obj_of(c: &Compiled, path: &std::path::Path) -> BpfObject {
    let mut maps: Vec<ObjMap> =
        c.maps.iter().map(|m| ObjMap { def: m.def(), origin: MapOrigin::Btf, initial: None, btf_key_type_id: 0, btf_value_type_id: 0 }).collect();
    // bpftrace's perf event array for printf/exit records: one entry per CPU (max_entries 0 → nr_cpus).
    maps.push(ObjMap { def: MapDef::new("printf", MapType::PerfEventArray, 4, 4, 0, 0), origin: MapOrigin::Btf, initial: None, btf_key_type_id: 0, btf_value_type_id: 0 });
    if c.elapsed {
        maps.push(ObjMap { def: MapDef::new("elapsed", MapType::Hash, 8, 8, 1, 0), origin: MapOrigin::Btf, initial: None, btf_key_type_id: 0, btf_value_type_id: 0 });
    }
    let programs = c
        .progs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let attach = match &p.kind {
                ProbeKind::Kprobe(f) => AttachPoint::Kprobe { symbol: Some(f.clone()) },
                ProbeKind::Kretprobe(f) => AttachPoint::Kretprobe { symbol: Some(f.clone()) },
                _ => AttachPoint::Kprobe { symbol: None },
            };
            let name: String = p.probe.chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' }).collect();
            ObjProgram { name: format!("{name}_{}", i + 1), section: p.probe.clone(), attach, insns: p.insns.clone() }
        })
        .collect();
    BpfObject { path: path.to_path_buf(), name: "bpftrace".into(), license: "GPL".into(), kern_version: None, btf: None, maps, programs }
}

/// `-d`: each program's probe and bytecode in the project's assembler syntax.
#[must_use]
pub fn dump(c: &Compiled) -> String {
    let mut s = String::new();
    for (i, m) in c.maps.iter().enumerate() {
        let d = m.def();
        let _ = writeln!(s, "; map_fd {i}: {} {} key {}B value {}B max_entries {}", m.name, d.map_type.name(), d.key_size, d.value_size, d.max_entries);
    }
    let _ = writeln!(s, "; map_fd {}: printf perf_event_array", c.perf_map());
    if c.elapsed {
        let _ = writeln!(s, "; map_fd {}: elapsed hash key 8B value 8B max_entries 1", c.elapsed_map());
    }
    for p in &c.progs {
        let _ = writeln!(s, "\n{}:", p.probe);
        s.push_str(&kernel_model::bpf::disassemble(&p.insns));
    }
    s
}

fn prog_id(c: &Compiled, ids: &[ProgId], want: fn(&ProgInfo) -> bool) -> Vec<ProgId> {
    c.progs.iter().zip(ids).filter(|(p, _)| want(p)).map(|(_, id)| *id).collect()
}

/// User space storing the start time `elapsed` counts from (the `elapsed` map's key 0) when tracing starts,
/// just before BEGIN runs.
fn start_elapsed(m: &dyn kernel_model::machine::Machine, k: &mut Kernel, c: &Compiled) {
    if !c.elapsed {
        return;
    }
    let now = m.now().as_ns();
    let id = k.core.bpf.maps().iter().rev().find(|x| x.def.name == "elapsed").map(|x| x.id);
    if let Some(map) = id.and_then(|id| k.core.bpf.map_mut(id)) {
        let _ = map.update(&0u64.to_le_bytes(), &now.to_le_bytes(), 0, 0);
    }
}

/// Runs `BEGIN` (or `END`) programs `ids` on `cpu` as bpftrace's process; returns whether a run failed.
fn fire(m: &mut dyn kernel_model::machine::Machine, k: &mut Kernel, cpu: CpuId, ids: &[ProgId]) -> Option<String> {
    let task = TaskInfo::new(BPFTRACE_PID, "bpftrace");
    for id in ids {
        let mut regs = PtRegs::new(m.isa());
        if let Err(e) = k.core.bpf.run_prog(m, cpu, &task, *id, &mut regs) {
            return Some(e.to_string());
        }
    }
    None
}

/// User space performing an async map action read from the perf buffer (v0.21 `perf_event_printer` →
/// `print_map`, `clear_map`, `zero_map` in src/bpftrace.cpp): `print` prints the map as at exit
/// (`TextOutput::map`); `clear` deletes every element (an array's values are zeroed: its elements cannot be
/// deleted); `zero` zeroes every value and keeps the keys. Returns what it printed.
fn map_action(kernel: &mut Kernel, c: &Compiled, info: &MapInfo, map_id: u32, action: u64, ksym: printer::Ksym<'_>) -> String {
    let Some(map) = kernel.core.bpf.map_mut(map_id) else { return String::new() };
    if action == PRINT_RECORD {
        return printer::print_map(c, info, &map.entries(), ksym);
    }
    if action == CLEAR_RECORD && map.def.map_type != MapType::PercpuArray {
        for (k, _) in map.entries() {
            let _ = map.delete(&k);
        }
        return String::new();
    }
    for slot in 0..map.nr_slots() {
        if let Some(v) = map.value_mut(slot) {
            v.fill(0);
        }
    }
    String::new()
}

/// What one `[[script]]` printed.
#[derive(Clone, Debug)]
pub struct ScriptResult {
    /// Its index in the scenario.
    pub index: usize,
    /// The program.
    pub program: String,
    /// What it printed.
    pub out: TraceOutput,
    /// The output it must print.
    pub expect: Option<String>,
}

impl ScriptResult {
    /// Why the script fails the run: an error, or output other than `expect` (naming the first differing line).
    #[must_use]
    pub fn mismatch(&self) -> Option<String> {
        if let Some(e) = &self.out.error {
            return Some(format!("script[{}]: {}", self.index, e.lines().next().unwrap_or("")));
        }
        let want = self.expect.as_ref()?;
        if *want == self.out.stdout {
            return None;
        }
        let (got, exp): (Vec<&str>, Vec<&str>) = (self.out.stdout.lines().collect(), want.lines().collect());
        let n = got.iter().zip(&exp).take_while(|(a, b)| a == b).count();
        Some(format!(
            "script[{}]: output line {} is {:?}, expected {:?}",
            self.index,
            n + 1,
            got.get(n).copied().unwrap_or("<end>"),
            exp.get(n).copied().unwrap_or("<end>")
        ))
    }

    /// The report's lines for it: the program, then its output, each line behind `# `.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = format!("# bpftrace script[{}]: {}\n", self.index, self.program.trim().replace('\n', " "));
        for line in self.out.stdout.lines().chain(self.out.error.iter().flat_map(|e| e.lines())) {
            let _ = writeln!(s, "# {line}");
        }
        s
    }
}

/// Runs each `[[script]]` of `scenario` in a run of its own (the scenario without its scripts).
pub fn run_scripts(scenario: &Scenario) -> Result<Vec<ScriptResult>, crate::scenario::ScenarioError> {
    let mut base = scenario.clone();
    base.spec.scripts.clear();
    let mut out = Vec::new();
    for (index, sc) in scenario.spec.scripts.iter().enumerate() {
        let t = trace(base.clone(), &sc.program, "stdin", &TraceOptions::default())?;
        out.push(ScriptResult { index, program: sc.program.clone(), out: t, expect: sc.expect.clone() });
    }
    Ok(out)
}

/// Compiles `src` (named `filename` in errors: `stdin` for `-e`) and runs it on `scenario`.
pub fn trace(mut scenario: Scenario, src: &str, filename: &str, opts: &TraceOptions) -> Result<TraceOutput, crate::scenario::ScenarioError> {
    let cpu = CpuId(scenario.spec.bpf.first().map_or(scenario.spec.machine.cpus.saturating_sub(1), |b| b.cpu));
    scenario.spec.bpf.clear();
    scenario.spec.expect_bpf.clear();
    scenario.spec.expect_kprobe.clear();
    let mut scratch = scenario.prepare()?;
    let spec = &scenario.spec.machine;
    let funcs: Vec<(String, u64)> = {
        use kernel_model::machine::Machine as _;
        let syms = scratch.machine.kallsyms().symbols();
        syms.iter()
            .filter(|s| s.kind == kernel_model::kallsyms::SymbolKind::Text && !s.name.starts_with("probesim_"))
            .map(|s| (s.name.clone(), s.addr.0))
            .collect()
    };
    let regs = kernel_model::arch::trace_regs(spec.isa);
    let compiled = match super::compile(src, &funcs, regs) {
        Ok(c) => c,
        Err(e) => return Ok(TraceOutput { stdout: String::new(), error: Some(e.render(filename, src)) }),
    };
    let obj = obj_of(&compiled, std::path::Path::new(filename));
    // Load once on a scratch kernel: a program the verifier refuses stops here, as bpftrace stops before attaching.
    let mut k0 = Kernel::new(spec.isa, spec.kernel, spec.cpus);
    let ids0 = match k0.core.bpf.load(&obj) {
        Ok(ids) => ids,
        Err(e) => return Ok(TraceOutput { stdout: String::new(), error: Some(format!("ERROR: Error loading program: {e}\n")) }),
    };
    if opts.dump {
        return Ok(TraceOutput { stdout: dump(&compiled), error: None });
    }
    let n = compiled.nr_probes();
    let mut out = format!("Attaching {n} probe{}...\n", if n == 1 { "" } else { "s" });
    let is_begin = |p: &ProgInfo| p.kind == ProbeKind::Begin;
    let is_end = |p: &ProgInfo| p.kind == ProbeKind::End;
    // BEGIN exiting at once: nothing else runs (the probes are attached and detached with no event between).
    let begin_exits = {
        start_elapsed(&scratch.machine, &mut k0, &compiled);
        let fault = fire(&mut scratch.machine, &mut k0, cpu, &prog_id(&compiled, &ids0, is_begin));
        fault.is_none() && k0.core.bpf.perf_records().iter().any(|r| r.data.get(..8) == Some(&[0; 8]))
    };
    let (mut machine, mut kernel, failure) = if begin_exits {
        (scratch.machine, k0, None)
    } else {
        drop(scratch);
        drop(k0);
        let mut attached: Option<Result<Vec<ProgId>, String>> = None;
        let mut begin_fault = None;
        let (report, machine, kernel) = crate::runner::run_scenario_with(scenario, &mut |m, k| {
            match k.request_attach_prog(m, cpu, &obj) {
                Ok((ids, _)) => {
                    start_elapsed(m, k, &compiled);
                    begin_fault = fire(m, k, cpu, &prog_id(&compiled, &ids, is_begin));
                    attached = Some(Ok(ids));
                }
                Err(e) => attached = Some(Err(e.to_string())),
            }
        })?;
        let failure = match attached {
            Some(Err(e)) => Some(format!("ERROR: Error loading program: {e}")),
            _ => begin_fault.or_else(|| report.failure()),
        };
        (machine, kernel, failure)
    };
    // The perf buffer, in the order records were written: nothing after an exit() but what END prints.
    let before_end = kernel.core.bpf.take_perf_records();
    let ids: Vec<ProgId> = kernel.core.bpf.progs().iter().map(|p| p.id).collect();
    let end_fault = fire(&mut machine, &mut kernel, cpu, &prog_id(&compiled, &ids, is_end));
    let failure = failure.or(end_fault);
    let at_end = kernel.core.bpf.take_perf_records();
    let ksym_table: Vec<(u64, String)> = {
        use kernel_model::machine::Machine as _;
        machine.kallsyms().symbols().iter().map(|s| (s.addr.0, s.name.clone())).collect()
    };
    let ksym = |a: u64| ksym_table.iter().find(|(x, _)| *x == a).map_or(format!("0x{a:x}"), |(_, n)| n.clone());
    // The kernel ids of the program's @maps, by object index.
    let map_ids: Vec<u32> =
        kernel.core.bpf.maps().iter().filter(|m| m.def.map_type != MapType::PerfEventArray).map(|m| m.id).collect();
    for records in [before_end, at_end] {
        for r in records.iter().filter(|r| r.map_name == "printf") {
            let id = r.data.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
            if matches!(id, PRINT_RECORD | CLEAR_RECORD | ZERO_RECORD) {
                let idx = r.data.get(8..16).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))) as usize;
                if let (Some(info), Some(&mid)) = (compiled.maps.get(idx), map_ids.get(idx)) {
                    out.push_str(&map_action(&mut kernel, &compiled, info, mid, id, &ksym));
                }
                continue;
            }
            match printer::perf_record(&compiled, &r.data, &ksym) {
                Some(text) => out.push_str(&text),
                None => break,
            }
        }
    }
    out.push_str("\n\n");
    let entries: Vec<printer::Entries> =
        map_ids.iter().map(|id| kernel.core.bpf.map(*id).map(|m| m.entries()).unwrap_or_default()).collect();
    out.push_str(&printer::print_maps(&compiled, &entries, &ksym));
    Ok(TraceOutput { stdout: out, error: failure })
}
