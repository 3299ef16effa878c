//! Scenarios: TOML files describing a machine, an image, tasks and actions (format in `docs/scenarios.md`).
//! Parsing is strict: unknown keys, bad values and unknown symbols are errors that name the file and the place.

use kernel_model::kallsyms::{parse_int, KallsymsError};
use kernel_model::kernel::ProbeOpKind;
use kernel_model::kprobes::{HandlerAction, KprobeSpec, PreHandler};
use kernel_model::machine::Machine as _;
use kernel_model::profile::KernelProfile;
use kernel_model::{CpuId, Isa, KernelVa};
use serde::Deserialize;
use sim::machine::{EmulatedMachine, MachineError};
use sim::run::{Action, ActionOp, Repeat, RunConfig, Task};
use sim::scheduler::Policy;
use std::path::{Path, PathBuf};

/// Why a scenario could not be loaded or prepared.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    ReadFile {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrongly typed value.
    #[error("{file}:{line}:{column}: {msg}")]
    ParseToml {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        msg: String,
    },
    /// A value is well-typed but not acceptable.
    #[error("{file}: {place}: {msg}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Where (e.g. `task[2].args[0]`).
        place: String,
        /// What is wrong.
        msg: String,
    },
    /// The machine could not be built (usually an ELF problem, which names its file).
    #[error("{file}: {source}")]
    BuildMachine {
        /// The scenario file.
        file: PathBuf,
        /// Why.
        source: MachineError,
    },
}

mod spec;
pub use spec::*;

/// A parsed scenario and where it came from.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub spec: ScenarioSpec,
}

/// A scenario made ready to run: the machine built, names resolved.
pub struct Prepared {
    /// The machine with the image loaded.
    pub machine: EmulatedMachine,
    /// Tasks.
    pub tasks: Vec<Task>,
    /// Actions.
    pub actions: Vec<Action>,
    /// Run settings.
    pub config: RunConfig,
    /// `stop_machine_yield`'s function, resolved.
    pub stop_machine_yield: Option<KernelVa>,
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::ReadFile { file: path.into(), source })?;
        Scenario::parse(path, &text)
    }

    /// Parses scenario text; `path` is used for messages and relative ELF paths.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let spec: ScenarioSpec = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            ScenarioError::ParseToml { file: path.into(), line, column, msg: plain_message(e.message()) }
        })?;
        let s = Scenario { path: path.into(), spec };
        s.validate()?;
        Ok(s)
    }

    fn invalid(&self, place: impl Into<String>, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { file: self.path.clone(), place: place.into(), msg: msg.into() }
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let m = &self.spec.machine;
        if m.cpus == 0 {
            return Err(self.invalid("machine.cpus", "must be at least 1"));
        }
        if m.quantum == 0 {
            return Err(self.invalid("machine.quantum", "must be at least 1"));
        }
        for (i, p) in self.spec.image.elf.iter().enumerate() {
            if p.as_os_str().is_empty() {
                return Err(self.invalid(format!("image.elf[{i}]"), "an empty path; give an ELF file's path"));
            }
        }
        for (i, e) in self.spec.expect_kprobe.iter().enumerate() {
            let ok = match &e.registered {
                None => true,
                Some(toml::Value::Integer(v)) => *v == 0,
                Some(toml::Value::String(v)) => {
                    v == "0" || v == "pending" || v.strip_prefix("-E").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
                }
                Some(_) => false,
            };
            if !ok {
                return Err(self.invalid(
                    format!("expect_kprobe[{i}].registered"),
                    "expected 0, an errno name such as \"-EINVAL\", or \"pending\" (never returned)",
                ));
            }
        }
        if self.spec.image.elf.is_empty() {
            return Err(self.invalid("image.elf", "names no ELF file"));
        }
        for (i, t) in self.spec.tasks.iter().enumerate() {
            let cpus = self.task_cpus(i, t)?;
            if let Some(&c) = cpus.iter().find(|&&c| c >= m.cpus) {
                return Err(self.invalid(format!("task[{i}]"), format!("CPU {c} does not exist ({} CPUs)", m.cpus)));
            }
            if t.comm.len() > 15 {
                return Err(self.invalid(format!("task[{i}].comm"), "longer than TASK_COMM_LEN - 1 (15)"));
            }
            if let Some(RepeatSpec::Word(w)) = &t.repeat {
                if w != "forever" {
                    return Err(self.invalid(
                        format!("task[{i}].repeat"),
                        format!("`{w}`: expected a number of calls (0 or more) or \"forever\""),
                    ));
                }
            }
        }
        for (i, k) in self.spec.kprobes.iter().enumerate() {
            if k.cpu >= m.cpus {
                return Err(self.invalid(format!("kprobe[{i}].cpu"), format!("CPU {} does not exist", k.cpu)));
            }
            if let Some(b) = &k.batch {
                let first = self.spec.kprobes.iter().find(|o| o.batch.as_ref() == Some(b)).expect("k itself");
                if (first.cpu, first.at) != (k.cpu, k.at) {
                    return Err(self.invalid(format!("kprobe[{i}].batch"), format!("members of batch `{b}` must share cpu and at")));
                }
            }
            if k.trace && k.pre.is_some() {
                return Err(self.invalid(format!("kprobe[{i}]"), "a trace kprobe's pre-handler is kprobe_dispatcher; drop `pre`"));
            }
            for (j, step) in k.pre.iter().flatten().chain(k.post.iter().flatten()).enumerate() {
                let n = usize::from(step.call.is_some())
                    + usize::from(step.set_reg.is_some())
                    + usize::from(step.record_regs)
                    + usize::from(step.ret.is_some())
                    + usize::from(step.stack_trace_save_regs);
                if n != 1 {
                    return Err(self.invalid(
                        format!("kprobe[{i}] handler step {j}"),
                        "needs exactly one of call, set_reg, record_regs, ret, stack_trace_save_regs",
                    ));
                }
            }
        }
        crate::expect::validate(&self.spec).map_err(|(place, msg)| self.invalid(place, msg))?;
        for (i, e) in self.spec.expect_bpf.iter().enumerate() {
            if e.fault.is_some() == e.rejected.is_some() {
                return Err(self.invalid(format!("expect_bpf[{i}]"), "needs exactly one of `fault` or `rejected`"));
            }
        }
        for (i, k) in self.spec.kretprobes.iter().enumerate() {
            if k.cpu >= m.cpus {
                return Err(self.invalid(format!("kretprobe[{i}].cpu"), format!("CPU {} does not exist", k.cpu)));
            }
        }
        for (i, a) in self.spec.actions.iter().enumerate() {
            if a.cpu >= m.cpus {
                return Err(self.invalid(format!("action[{i}].cpu"), format!("CPU {} does not exist", a.cpu)));
            }
            let n = usize::from(a.poke.is_some())
                + usize::from(a.flush_icache_range.is_some())
                + usize::from(a.isb)
                + usize::from(a.skip_syncs.is_some())
                + usize::from(a.unregister_kprobe.is_some())
                + usize::from(a.disable_kprobe.is_some())
                + usize::from(a.enable_kprobe.is_some())
                + usize::from(a.text_poke_bp.is_some())
                + a.static_key_count();
            if n != 1 {
                return Err(self.invalid(
                    format!("action[{i}]"),
                    "needs exactly one of poke, flush_icache_range, isb, skip_syncs, unregister_kprobe, \
                     disable_kprobe, enable_kprobe, text_poke_bp, static_key_enable, static_key_disable, \
                     static_key_slow_inc, static_key_slow_dec",
                ));
            }
        }
        Ok(())
    }

    fn task_cpus(&self, i: usize, t: &TaskSpec) -> Result<Vec<usize>, ScenarioError> {
        match (t.cpu, &t.cpus) {
            (Some(c), None) => Ok(vec![c]),
            (None, Some(cs)) if !cs.is_empty() => Ok(cs.clone()),
            _ => Err(self.invalid(format!("task[{i}]"), "needs exactly one of `cpu` or a non-empty `cpus`")),
        }
    }

    /// The ELF files, resolved against the scenario's directory.
    #[must_use]
    pub fn elf_paths(&self) -> Vec<PathBuf> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        self.spec.image.elf.iter().map(|p| dir.join(p)).collect()
    }

    /// Builds the machine and resolves every name.
    pub fn prepare(&self) -> Result<Prepared, ScenarioError> {
        let m = &self.spec.machine;
        let machine = EmulatedMachine::new(m.isa, m.cpus, &self.elf_paths())
            .map_err(|source| ScenarioError::BuildMachine { file: self.path.clone(), source })?;
        let resolve = |place: String, expr: &str| -> Result<KernelVa, ScenarioError> {
            machine.kallsyms().resolve(expr).map_err(|e| match e {
                KallsymsError::UnknownSymbol(s) => self.invalid(place, format!("unknown symbol `{s}`")),
                other @ KallsymsError::BadExpression(_) => self.invalid(place, other.to_string()),
            })
        };
        let mut tasks = Vec::new();
        for (i, t) in self.spec.tasks.iter().enumerate() {
            let func = resolve(format!("task[{i}].call"), &t.call)?;
            let args = self.args(&format!("task[{i}]"), &t.args, &resolve)?;
            let repeat = match &t.repeat {
                None => Repeat::Times(1),
                Some(RepeatSpec::Times(n)) => Repeat::Times(*n),
                Some(RepeatSpec::Word(_)) => Repeat::Forever,
            };
            for (k, cpu) in self.task_cpus(i, t)?.into_iter().enumerate() {
                let pid = t.pid + k as u32;
                tasks.push(Task {
                    cpu: CpuId(cpu),
                    pid,
                    comm: t.comm.clone(),
                    ids: kernel_model::bpf::TaskIds { tgid: t.tgid.unwrap_or(pid), uid: t.uid, gid: t.gid },
                    func_name: t.call.clone(),
                    func,
                    args: args.clone(),
                    repeat,
                    start_at: t.at,
                });
            }
        }
        let mut actions = Vec::new();
        for (i, a) in self.spec.actions.iter().enumerate() {
            let op = if let Some(p) = &a.poke {
                let addr = resolve(format!("action[{i}].poke.addr"), &p.addr)?;
                let bytes = self.poke_bytes(i, p)?;
                ActionOp::PokeText { addr, bytes }
            } else if let Some(r) = &a.flush_icache_range {
                ActionOp::FlushIcacheRange { addr: resolve(format!("action[{i}].flush_icache_range.addr"), &r.addr)?, len: r.len }
            } else if a.isb {
                ActionOp::Isb
            } else if let Some(n) = &a.unregister_kprobe {
                ActionOp::ProbeOp(ProbeOpKind::Unregister, n.clone())
            } else if let Some(n) = &a.disable_kprobe {
                ActionOp::ProbeOp(ProbeOpKind::Disable, n.clone())
            } else if let Some(n) = &a.enable_kprobe {
                ActionOp::ProbeOp(ProbeOpKind::Enable, n.clone())
            } else if let Some(t) = &a.text_poke_bp {
                let place = format!("action[{i}].text_poke_bp");
                let addr = resolve(format!("{place}.addr"), &t.addr)?;
                let bytes = match (&t.bytes, &t.jmp_to) {
                    (Some(b), None) => self.hex_bytes(&place, b)?,
                    (None, Some(to)) => {
                        let to = resolve(format!("{place}.jmp_to"), to)?;
                        let rel = to.0.wrapping_sub(addr.0 + 5) as i64;
                        let rel = i32::try_from(rel).map_err(|_| self.invalid(&place, "jmp target out of rel32 range"))?;
                        let mut v = vec![0xe9];
                        v.extend_from_slice(&rel.to_le_bytes());
                        v
                    }
                    _ => return Err(self.invalid(&place, "needs exactly one of `bytes` or `jmp_to`")),
                };
                ActionOp::TextPokeBp(vec![(addr, bytes)])
            } else if let Some((op, key)) = a.static_key() {
                let addr = resolve(format!("action[{i}].{}", op.name()), key)?;
                ActionOp::StaticKey(op, addr, key.to_string())
            } else {
                ActionOp::SkipSyncs(a.skip_syncs.unwrap_or(1))
            };
            actions.push(Action { at: a.at, cpu: CpuId(a.cpu), op });
        }
        for (i, k) in self.spec.kprobes.iter().enumerate() {
            let place = format!("kprobe[{i}]");
            let steps = |list: &Option<Vec<ActionStepSpec>>| self.handler_steps(&place, list, &resolve);
            let addr = match &k.addr {
                Some(a) => Some(KernelVa(
                    parse_int(a).ok_or_else(|| self.invalid(format!("{place}.addr"), format!("`{a}` is not an address")))?,
                )),
                None => None,
            };
            let pre_handler = if k.trace {
                PreHandler::TraceDispatcher { progs: Vec::new() }
            } else {
                steps(&k.pre)?.map_or(PreHandler::None, PreHandler::Actions)
            };
            let spec = KprobeSpec {
                name: k.name.clone().unwrap_or_else(|| format!("p{i}")),
                symbol_name: k.symbol.clone(),
                offset: k.offset,
                addr,
                pre_handler,
                post_handler: steps(&k.post)?,
                disabled: k.disabled,
            };
            match &k.batch {
                None => actions.push(Action { at: k.at, cpu: CpuId(k.cpu), op: ActionOp::RegisterKprobe(spec) }),
                Some(b) => {
                    let existing = actions.iter_mut().find_map(|a| match &mut a.op {
                        ActionOp::RegisterKprobes(name, specs) if name == b => Some(specs),
                        _ => None,
                    });
                    match existing {
                        Some(specs) => specs.push(spec),
                        None => actions.push(Action {
                            at: k.at,
                            cpu: CpuId(k.cpu),
                            op: ActionOp::RegisterKprobes(b.clone(), vec![spec]),
                        }),
                    }
                }
            }
        }
        for (i, k) in self.spec.kretprobes.iter().enumerate() {
            let place = format!("kretprobe[{i}]");
            let name = k.name.clone().unwrap_or_else(|| format!("rp{i}"));
            let kp = KprobeSpec {
                name,
                symbol_name: Some(k.symbol.clone()),
                offset: k.offset,
                addr: None,
                pre_handler: PreHandler::None,
                post_handler: None,
                disabled: false,
            };
            let entry = self.handler_steps(&place, &k.entry, &resolve)?;
            let handler = self.handler_steps(&place, &k.handler, &resolve)?;
            actions.push(Action {
                at: k.at,
                cpu: CpuId(k.cpu),
                op: ActionOp::RegisterKretprobe { kp, maxactive: k.maxactive, entry, handler },
            });
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        for (i, b) in self.spec.bpf.iter().enumerate() {
            if b.cpu >= m.cpus {
                return Err(self.invalid(format!("bpf[{i}].cpu"), format!("CPU {} does not exist", b.cpu)));
            }
            let mode = match b.attach_mode {
                AttachModeSpec::SharedEvent => kernel_model::kernel::BpfAttachMode::SharedEvent,
                AttachModeSpec::PerfKprobe => kernel_model::kernel::BpfAttachMode::PerfKprobe,
            };
            let op = match (&b.object, &b.asm) {
                (Some(object), None) => {
                    let path = dir.join(object);
                    // Read and parse once here so a bad object is a scenario error naming it, not a failure mid-run.
                    let bytes = crate::object_file::read_bpf_object(&path)
                        .and_then(|b| kernel_model::bpf::BpfObject::parse(&path, &b).map(|_| b))
                        .map_err(|e| self.invalid(format!("bpf[{i}].object"), e.to_string()))?;
                    ActionOp::AttachBpf(path, std::sync::Arc::new(bytes), mode)
                }
                (None, Some(text)) => {
                    let name = b.name.clone().unwrap_or_else(|| format!("prog{i}"));
                    let symbol = b
                        .attach
                        .as_deref()
                        .and_then(|a| a.strip_prefix("kprobe/"))
                        .ok_or_else(|| self.invalid(format!("bpf[{i}].attach"), "an asm program needs attach = \"kprobe/<symbol>\""))?
                        .to_string();
                    kernel_model::bpf::assemble(text)
                        .map_err(|e| self.invalid(format!("bpf[{i}].asm"), e.to_string()))?;
                    ActionOp::AttachBpfAsm { name, text: text.clone(), symbol, mode }
                }
                _ => return Err(self.invalid(format!("bpf[{i}]"), "needs exactly one of `object` or `asm`")),
            };
            actions.push(Action { at: b.at, cpu: CpuId(b.cpu), op });
        }
        for (i, t) in self.spec.tracefs.iter().enumerate() {
            if t.cpu >= m.cpus {
                return Err(self.invalid(format!("tracefs[{i}].cpu"), format!("CPU {} does not exist", t.cpu)));
            }
            let op = match (&t.write, &t.text, &t.read) {
                (Some(file), Some(text), None) => {
                    ActionOp::TracefsWrite { file: file.clone(), text: text.clone(), append: t.append }
                }
                (None, None, Some(file)) if !t.append => ActionOp::TracefsRead { file: file.clone() },
                _ => return Err(self.invalid(format!("tracefs[{i}]"), "needs `write` and `text` (and optional `append`), or `read`")),
            };
            actions.push(Action { at: t.at, cpu: CpuId(t.cpu), op });
        }
        let policy = match m.schedule {
            // Jitter needs the seeded generator even in round-robin order.
            Schedule::RoundRobin if m.quantum_jitter => Policy::Jitter { seed: m.seed },
            Schedule::RoundRobin => Policy::RoundRobin,
            Schedule::Shuffle => Policy::Shuffle { seed: m.seed },
        };
        let config = RunConfig {
            quantum: m.quantum,
            policy,
            budget: m.budget,
            stop_before_turn: None,
            quantum_jitter: m.quantum_jitter,
            script: self.spec.schedule_script.as_ref().map(ScheduleScriptSpec::to_script),
            record_schedule: false,
        };
        let stop_machine_yield = match &m.stop_machine_yield {
            Some(f) => Some(resolve("machine.stop_machine_yield".into(), f)?),
            None => None,
        };
        Ok(Prepared { machine, tasks, actions, config, stop_machine_yield })
    }

    fn handler_steps(
        &self,
        place: &str,
        list: &Option<Vec<ActionStepSpec>>,
        resolve: &dyn Fn(String, &str) -> Result<KernelVa, ScenarioError>,
    ) -> Result<Option<Vec<HandlerAction>>, ScenarioError> {
        let Some(list) = list else { return Ok(None) };
        let mut out = Vec::new();
        for (j, st) in list.iter().enumerate() {
            out.push(if let Some(name) = &st.call {
                let func = resolve(format!("{place} handler step {j}"), name)?;
                let args = self.args(&format!("{place} handler step {j}"), &st.args, resolve)?;
                HandlerAction::Call { name: name.clone(), func, args }
            } else if let Some(r) = &st.set_reg {
                HandlerAction::SetReg { reg: r.reg.clone(), value: r.value }
            } else if st.record_regs {
                HandlerAction::RecordRegs
            } else if st.stack_trace_save_regs {
                HandlerAction::StackTraceSaveRegs
            } else {
                HandlerAction::Return(st.ret.unwrap_or(0))
            });
        }
        Ok(Some(out))
    }

    fn args(
        &self,
        place: &str,
        args: &[ArgSpec],
        resolve: &dyn Fn(String, &str) -> Result<KernelVa, ScenarioError>,
    ) -> Result<Vec<u64>, ScenarioError> {
        let mut out = Vec::new();
        for (j, a) in args.iter().enumerate() {
            let place = format!("{place}.args[{j}]");
            out.push(match a {
                // Negative integers are passed as two's complement, as C does.
                ArgSpec::Int(v) => *v as u64,
                ArgSpec::Text(s) => match s.strip_prefix('&') {
                    Some(sym) => resolve(place, sym)?.0,
                    None => parse_int(s).ok_or_else(|| self.invalid(place, format!("`{s}` is not an integer or &symbol")))?,
                },
            });
        }
        Ok(out)
    }

    fn hex_bytes(&self, place: &str, b: &str) -> Result<Vec<u8>, ScenarioError> {
        let hex: String = b.split_whitespace().collect();
        if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
            return Err(self.invalid(place, "bytes must be pairs of hex digits"));
        }
        (0..hex.len())
            .step_by(2)
            .map(|k| {
                u8::from_str_radix(&hex[k..k + 2], 16)
                    .map_err(|_| self.invalid(place, format!("`{}` is not a hex byte", &hex[k..k + 2])))
            })
            .collect()
    }

    fn poke_bytes(&self, i: usize, p: &PokeSpec) -> Result<Vec<u8>, ScenarioError> {
        let place = format!("action[{i}].poke");
        let mut out = Vec::new();
        for w in &p.words {
            let v = u32::from_str_radix(w.trim_start_matches("0x"), 16)
                .map_err(|_| self.invalid(&place, format!("`{w}` is not a 32-bit hex word")))?;
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(b) = &p.bytes {
            out.extend(self.hex_bytes(&place, b)?);
        }
        if out.is_empty() {
            return Err(self.invalid(&place, "needs `words` or `bytes`"));
        }
        Ok(out)
    }
}

/// The TOML parser's message with Rust's type names (`expected usize`) replaced by what a scenario may write.
fn plain_message(msg: &str) -> String {
    const NAMES: [(&str, &str); 9] = [
        ("expected usize", "expected a non-negative integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer below 2^32"),
        ("expected u16", "expected a non-negative integer below 65536"),
        ("expected u8", "expected a non-negative integer below 256"),
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
    ];
    let mut out = msg.trim_end().replace("invalid type: map,", "invalid type: table,").replace("invalid type: sequence,", "invalid type: array,");
    for (rust, plain) in NAMES {
        if let Some(head) = out.strip_suffix(rust) {
            out = format!("{head}{plain}");
        }
    }
    out
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
