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

/// `[machine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [machine] table (isa, cpus, kernel, quantum, …)")]
pub struct MachineSpec {
    /// `"aarch64"` (or `"arm64"`) or `"x86_64"`.
    pub isa: Isa,
    /// Number of CPUs.
    pub cpus: usize,
    /// Kernel profile, `"5.10"` (default) or `"6.12"`.
    #[serde(default = "default_kernel")]
    pub kernel: KernelProfile,
    /// Instructions per scheduling quantum.
    #[serde(default = "default_quantum")]
    pub quantum: u64,
    /// `"round-robin"` (default) or `"shuffle"`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Seed of the shuffled schedule (and of the quantum jitter).
    #[serde(default)]
    pub seed: u64,
    /// Draw each quantum's length from 1..=quantum (seeded): CPUs drift out of lockstep.
    #[serde(default)]
    pub quantum_jitter: bool,
    /// Instruction budget of the whole run.
    #[serde(default = "default_budget")]
    pub budget: u64,
    /// A kernel function `multi_cpu_stop`'s `stop_machine_yield()` calls on every loop iteration (default: none,
    /// an inline `cpu_relax()`).
    #[serde(default)]
    pub stop_machine_yield: Option<String>,
    /// Nanoseconds since boot at virtual time 0 (trace timestamps are this plus virtual time).
    #[serde(default = "default_uptime_ns")]
    pub uptime_ns: u64,
    /// `CONFIG_KPROBE_EVENTS_ON_NOTRACE` (default on here: no fixture has ftrace call sites yet, and with it off
    /// `kprobe_events` refuses every function without one).
    #[serde(default = "default_true")]
    pub kprobe_events_on_notrace: bool,
}

fn default_uptime_ns() -> u64 {
    kernel_model::kernel_trace::DEFAULT_UPTIME_NS
}

fn default_true() -> bool {
    true
}

/// `[[tracefs]]`: a task writes or reads a tracefs file (`/sys/kernel/tracing/…`, `kprobes/…` in debugfs) on a
/// CPU at a virtual time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[tracefs]] table (at, cpu, write + text [+ append] or read)")]
pub struct TracefsSpec {
    /// When.
    #[serde(default)]
    pub at: u64,
    /// On which CPU.
    #[serde(default)]
    pub cpu: usize,
    /// The file written (`echo text > file`).
    pub write: Option<String>,
    /// What is written.
    pub text: Option<String>,
    /// `>>` instead of `>`.
    #[serde(default)]
    pub append: bool,
    /// The file read (`cat file`); its text is kept for the report.
    pub read: Option<String>,
}

/// `[[expect_tracefs]]`: a write to `file` that fails with `errno` (any other failing write fails the run).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_tracefs]] table (file, errno, count)")]
pub struct ExpectTracefs {
    /// The file.
    pub file: String,
    /// The errno name, e.g. `"-EINVAL"`.
    pub errno: String,
    /// How many writes fail so (default: at least one).
    pub count: Option<usize>,
}

/// Interleaving policy names.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// CPUs in order every round.
    #[default]
    RoundRobin,
    /// A seeded shuffle per round.
    Shuffle,
}

impl std::fmt::Display for Schedule {
    /// As a scenario spells it (`round-robin`, `shuffle`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Schedule::RoundRobin => "round-robin",
            Schedule::Shuffle => "shuffle",
        })
    }
}

fn default_kernel() -> KernelProfile {
    KernelProfile::V5_10
}
fn default_quantum() -> u64 {
    100
}
fn default_budget() -> u64 {
    10_000_000
}

/// `[image]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [image] table with elf = [\"file.o\", …]")]
pub struct ImageSpec {
    /// ELF files, relative to the scenario file.
    pub elf: Vec<PathBuf>,
}

/// A task's repeat count: a number or `"forever"`.
#[derive(Debug, Clone)]
pub enum RepeatSpec {
    /// This many calls.
    Times(u64),
    /// `"forever"`.
    Word(String),
}

/// A task argument: an integer, or a string (`"0x10"`, `"&symbol"`, `"&symbol+8"`).
#[derive(Debug, Clone)]
pub enum ArgSpec {
    /// An integer.
    Int(i64),
    /// A string form.
    Text(String),
}

/// Deserialises an integer-or-string value with a message that says what is accepted (serde's untagged enums say
/// only "did not match any variant").
struct IntOrText<T> {
    expecting: &'static str,
    int: fn(i64) -> Option<T>,
    text: fn(String) -> T,
}

impl<'de, T> serde::de::Visitor<'de> for IntOrText<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        (self.int)(v).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        // Beyond i64 only as two's complement, as C passes it.
        self.visit_i64(v as i64)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.text)(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for ArgSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrText {
            expecting: "an integer, a string such as \"0x10\", or an address \"&symbol\" / \"&symbol+8\"",
            int: |v| Some(ArgSpec::Int(v)),
            text: ArgSpec::Text,
        })
    }
}

impl<'de> Deserialize<'de> for RepeatSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrText {
            expecting: "a number of calls (0 or more) or \"forever\"",
            int: |v| u64::try_from(v).ok().map(RepeatSpec::Times),
            text: RepeatSpec::Word,
        })
    }
}

/// `[[task]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[task]] table (cpu or cpus, pid, call, args, …)")]
pub struct TaskSpec {
    /// One CPU…
    pub cpu: Option<usize>,
    /// …or several (one task each, pids counting up from `pid`).
    pub cpus: Option<Vec<usize>>,
    /// The pid (the first, with `cpus`).
    pub pid: u32,
    /// The comm.
    #[serde(default = "default_comm")]
    pub comm: String,
    /// The function to call: `symbol`, `symbol+off` or an address.
    pub call: String,
    /// Arguments.
    #[serde(default)]
    pub args: Vec<ArgSpec>,
    /// Number of calls (default 1) or `"forever"`.
    #[serde(default)]
    pub repeat: Option<RepeatSpec>,
    /// Virtual time of the first call (default 0).
    #[serde(default)]
    pub at: u64,
}

fn default_comm() -> String {
    "probesim".into()
}

/// `poke = { addr = "…", words = ["…"] }` or `bytes = "cc 90"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { addr = \"sym\", words = [\"…\"] } or { addr = \"sym\", bytes = \"…\" }")]
pub struct PokeSpec {
    /// Where.
    pub addr: String,
    /// 32-bit instruction words in hex (arm64).
    #[serde(default)]
    pub words: Vec<String>,
    /// Bytes in hex, space-separated or not (x86).
    #[serde(default)]
    pub bytes: Option<String>,
}

/// `flush_icache_range = { addr = "…", len = 4 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { addr = \"sym\", len = 4 }")]
pub struct RangeSpec {
    /// Start.
    pub addr: String,
    /// Length in bytes.
    pub len: u64,
}

/// `text_poke_bp = { addr = "…", jmp_to = "…" }` or `{ addr = "…", bytes = "0f 1f 44 00 00" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { addr = \"sym\", jmp_to = \"sym\" } or { addr = \"sym\", bytes = \"…\" }")]
pub struct TextPokeBpSpec {
    /// The site.
    pub addr: String,
    /// New bytes, hex.
    pub bytes: Option<String>,
    /// Or: a `jmp rel32` to this symbol.
    pub jmp_to: Option<String>,
}

/// `[[action]]`: exactly one of the operations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[action]] table (at, cpu and one operation)")]
pub struct ActionSpec {
    /// Virtual time at which it fires (at the CPU's first scheduling point at or after it).
    pub at: u64,
    /// The CPU performing it.
    pub cpu: usize,
    /// Write text through the poke alias.
    pub poke: Option<PokeSpec>,
    /// Cache maintenance to the point of unification.
    pub flush_icache_range: Option<RangeSpec>,
    /// A context synchronisation (`isb`/`sync_core`) on the CPU.
    #[serde(default)]
    pub isb: bool,
    /// Fault injection: ignore the CPU's next N context synchronisations.
    pub skip_syncs: Option<u32>,
    /// `unregister_kprobe` of the named probe.
    pub unregister_kprobe: Option<String>,
    /// `disable_kprobe` of the named probe.
    pub disable_kprobe: Option<String>,
    /// `enable_kprobe` of the named probe.
    pub enable_kprobe: Option<String>,
    /// x86 `text_poke_bp`: patch a live instruction (int3 first, emulated for CPUs that hit it).
    pub text_poke_bp: Option<TextPokeBpSpec>,
    /// `static_key_enable` of the `struct static_key` symbol.
    pub static_key_enable: Option<String>,
    /// `static_key_disable`.
    pub static_key_disable: Option<String>,
    /// `static_key_slow_inc` (`static_branch_inc`).
    pub static_key_slow_inc: Option<String>,
    /// `static_key_slow_dec` (`static_branch_dec`).
    pub static_key_slow_dec: Option<String>,
}

impl ActionSpec {
    /// The static-key call, if this action is one: the operation and the key's symbol.
    fn static_key(&self) -> Option<(kernel_model::event::jump_label::StaticKeyOp, &str)> {
        use kernel_model::event::jump_label::StaticKeyOp as Op;
        [
            (Op::Enable, &self.static_key_enable),
            (Op::Disable, &self.static_key_disable),
            (Op::SlowInc, &self.static_key_slow_inc),
            (Op::SlowDec, &self.static_key_slow_dec),
        ]
        .into_iter()
        .find_map(|(op, k)| k.as_deref().map(|k| (op, k)))
    }

    fn static_key_count(&self) -> usize {
        [&self.static_key_enable, &self.static_key_disable, &self.static_key_slow_inc, &self.static_key_slow_dec]
            .iter()
            .filter(|k| k.is_some())
            .count()
    }
}

/// One step of a handler: exactly one key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a handler step: a table with one of call, set_reg, record_regs, ret, stack_trace_save_regs")]
pub struct ActionStepSpec {
    /// Call a kernel function (`symbol`), with `args`.
    pub call: Option<String>,
    /// Arguments of `call`.
    #[serde(default)]
    pub args: Vec<ArgSpec>,
    /// Set a register of the probed context: `{ reg = "x0", value = 1 }`.
    pub set_reg: Option<SetRegSpec>,
    /// Record the probed context's registers.
    #[serde(default)]
    pub record_regs: bool,
    /// The handler's return value.
    pub ret: Option<u64>,
    /// `stack_trace_save_regs(regs, …)`.
    #[serde(default)]
    pub stack_trace_save_regs: bool,
}

/// `set_reg = { reg = "x0", value = 1 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { reg = \"x0\", value = 1 }")]
pub struct SetRegSpec {
    /// Register name (`x0`…, `pc`, `rax`…).
    pub reg: String,
    /// Value.
    pub value: u64,
}

/// `[[kprobe]]`: a `register_kprobe` call made by `cpu`'s task at virtual time `at`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[kprobe]] table (name, symbol or addr, offset, pre, post, …)")]
pub struct KprobeEntrySpec {
    /// A label (defaults to `p<index>`).
    pub name: Option<String>,
    /// `kp.symbol_name`.
    pub symbol: Option<String>,
    /// `kp.addr` (`"0x…"`).
    pub addr: Option<String>,
    /// `kp.offset`.
    #[serde(default)]
    pub offset: u64,
    /// The registering CPU.
    #[serde(default)]
    pub cpu: usize,
    /// When it registers.
    #[serde(default)]
    pub at: u64,
    /// A trace kprobe (perf/BPF attached): the pre-handler is `kprobe_dispatcher`.
    #[serde(default)]
    pub trace: bool,
    /// Pre-handler steps.
    pub pre: Option<Vec<ActionStepSpec>>,
    /// Post-handler steps.
    pub post: Option<Vec<ActionStepSpec>>,
    /// Register disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Register with the other `[[kprobe]]`s of the same batch in one `register_kprobes()` call (they share `cpu`
    /// and `at`; the call's result is recorded under the batch name).
    pub batch: Option<String>,
}

/// `[[expect_kprobe]]`: what a probe's registration and counters must be at the end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_kprobe]] table (name, registered, nhit, nmissed, kept, filtered)")]
pub struct ExpectKprobe {
    /// The probe's name.
    pub name: String,
    /// `register_kprobe`'s result: `0`, an errno name such as `"-EINVAL"`, or `"pending"` (it had not returned when
    /// the budget ran out).
    #[serde(default)]
    pub registered: Option<toml::Value>,
    /// Expected hits.
    pub nhit: Option<u64>,
    /// Expected misses.
    pub nmissed: Option<u64>,
    /// Expected hits of this BPF event whose `trace_call_bpf` returned non-zero (perf sample kept).
    pub kept: Option<u64>,
    /// Expected hits whose `trace_call_bpf` returned 0 (perf sample filtered).
    pub filtered: Option<u64>,
}

/// `[[expect_stacktrace]]`: a stack trace a handler of `probe` saved (the first one it saved).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_stacktrace]] table (probe, starts_with, contains)")]
pub struct ExpectStacktrace {
    /// The probe whose handler saved it.
    pub probe: String,
    /// The expected leading entries, as `symbol+offset` expressions.
    #[serde(default)]
    pub starts_with: Vec<String>,
    /// Entries that must appear somewhere.
    #[serde(default)]
    pub contains: Vec<String>,
}

/// `[[expect_calls]]`: the return values of a task's calls, in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_calls]] table (pid, returns, unfinished)")]
pub struct ExpectCalls {
    /// The task.
    pub pid: u32,
    /// Its calls' return values (a killed call returns nothing).
    #[serde(default)]
    pub returns: Vec<i64>,
    /// The task is still running when the instruction budget ends (so the run ending there is expected).
    #[serde(default)]
    pub unfinished: bool,
}

/// `[[expect_oops]]`: an oops the run must show. Every oops of a run must be expected by one of these, or the run
/// fails. All keys are optional; each given one must match.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_oops]] table (cpu, pid, message)")]
pub struct ExpectOops {
    /// The CPU it happened on.
    pub cpu: Option<usize>,
    /// The task it killed (absent: any task, or none, as when a stopper thread dies).
    pub pid: Option<u32>,
    /// A part of the kernel's message.
    pub message: Option<String>,
}

/// `[[expect_bpf]]`: a BPF program's load was refused, or one of its runs faulted (or ran out of its instruction
/// budget). Every refusal and every fault of a run must be expected, or the run fails.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect_bpf]] table (prog, and fault or rejected)")]
pub struct ExpectBpf {
    /// The program's name (or, for an object the loader refused, its path as the log shows it).
    pub prog: String,
    /// A part of the run-time error of at least one of its runs (`"out-of-bounds read"`, `"instruction budget"`).
    pub fault: Option<String>,
    /// A part of the load error (`"unknown helper"`).
    pub rejected: Option<String>,
}

/// `[[kretprobe]]`: a `register_kretprobe` call made by `cpu`'s task at virtual time `at`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[kretprobe]] table (name, symbol, offset, maxactive, entry, handler, …)")]
pub struct KretprobeEntrySpec {
    /// A label (defaults to `rp<index>`).
    pub name: Option<String>,
    /// `rp.kp.symbol_name`.
    pub symbol: String,
    /// `rp.kp.offset` (must leave the probe on the function entry).
    #[serde(default)]
    pub offset: u64,
    /// The registering CPU.
    #[serde(default)]
    pub cpu: usize,
    /// When it registers.
    #[serde(default)]
    pub at: u64,
    /// `rp.maxactive` (0: the kernel's default).
    #[serde(default)]
    pub maxactive: u32,
    /// `rp.entry_handler` steps.
    pub entry: Option<Vec<ActionStepSpec>>,
    /// `rp.handler` steps.
    pub handler: Option<Vec<ActionStepSpec>>,
}

/// `[[bpf]]`: `cpu`'s task loads a BPF object at `at` and attaches its `kprobe/<symbol>` programs (as BCC's
/// `attach_kprobe` or libbpf's auto-attach do).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[bpf]] table (object, or asm with name and attach)")]
pub struct BpfSpec {
    /// The object (clang `-target bpf`), relative to the scenario…
    pub object: Option<PathBuf>,
    /// …or a program in the conformance assembler syntax.
    pub asm: Option<String>,
    /// The assembled program's name.
    pub name: Option<String>,
    /// Where an assembled program attaches: `kprobe/<symbol>`.
    pub attach: Option<String>,
    /// How each program reaches its function: `"shared_event"` (the default: BCC's kprobe event `p_<sym>_0`, whose
    /// one `prog_array` every program attached to it joins) or `"perf_kprobe"` (libbpf's `perf_event_open` on the
    /// `kprobe` PMU: a trace kprobe of its own, labelled `<sym>/<prog>`).
    #[serde(default)]
    pub attach_mode: AttachModeSpec,
    /// The loading CPU.
    #[serde(default)]
    pub cpu: usize,
    /// When.
    #[serde(default)]
    pub at: u64,
}

/// `[[bpf]] attach_mode`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachModeSpec {
    /// [`kernel_model::kernel::BpfAttachMode::SharedEvent`].
    #[default]
    SharedEvent,
    /// [`kernel_model::kernel::BpfAttachMode::PerfKprobe`].
    PerfKprobe,
}

/// `[[script]]`: a bpftrace program run on the scenario (as `probesim trace` runs it, docs/bpftrace.md), with the
/// output it must print.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[script]] table (program, and optional expect)")]
pub struct ScriptSpec {
    /// The program text.
    pub program: String,
    /// Its exact standard output (a difference fails the run).
    pub expect: Option<String>,
}

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario: [machine], [image], then [[task]], [[kprobe]], … tables")]
pub struct ScenarioSpec {
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// The machine.
    pub machine: MachineSpec,
    /// The kernel image.
    pub image: ImageSpec,
    /// Tasks.
    #[serde(default, rename = "task")]
    pub tasks: Vec<TaskSpec>,
    /// Actions.
    #[serde(default, rename = "action")]
    pub actions: Vec<ActionSpec>,
    /// Kprobe registrations.
    #[serde(default, rename = "kprobe")]
    pub kprobes: Vec<KprobeEntrySpec>,
    /// Kretprobe registrations.
    #[serde(default, rename = "kretprobe")]
    pub kretprobes: Vec<KretprobeEntrySpec>,
    /// BPF objects to load and attach.
    #[serde(default)]
    pub bpf: Vec<BpfSpec>,
    /// bpftrace programs run on the scenario, each in a run of its own.
    #[serde(default, rename = "script")]
    pub scripts: Vec<ScriptSpec>,
    /// Expectations on kprobes (checked after the run; a mismatch fails it).
    #[serde(default)]
    pub expect_kprobe: Vec<ExpectKprobe>,
    /// Expectations on call results.
    #[serde(default)]
    pub expect_calls: Vec<ExpectCalls>,
    /// Expectations on saved stack traces.
    #[serde(default)]
    pub expect_stacktrace: Vec<ExpectStacktrace>,
    /// Oopses the run shows (any other fails it).
    #[serde(default)]
    pub expect_oops: Vec<ExpectOops>,
    /// BPF load refusals and run faults the run shows (any other fails it).
    #[serde(default)]
    pub expect_bpf: Vec<ExpectBpf>,
    /// BPF map contents the run must leave ([`crate::expect`]).
    #[serde(default)]
    pub expect_map: Vec<crate::expect::ExpectMap>,
    /// trace_pipe lines, in order.
    #[serde(default)]
    pub expect_trace_pipe: Vec<crate::expect::ExpectTracePipe>,
    /// Ring buffer and perf buffer records.
    #[serde(default)]
    pub expect_record: Vec<crate::expect::ExpectRecord>,
    /// BPF program run counts and return values.
    #[serde(default)]
    pub expect_prog: Vec<crate::expect::ExpectProg>,
    /// What the report adds after the run: `maps` (`bpftool map show` and `map dump` of each), `progs`
    /// (`bpftool prog show` with run counts).
    #[serde(default)]
    pub show: Vec<String>,
    /// How the report prints perf records: as hex (default) or with a tool's own printer (`execsnoop`).
    #[serde(default)]
    pub perf_printer: Option<String>,
    /// An explicit schedule to replay (what `probesim explore` writes for a counterexample): each round's CPU
    /// order and each quantum length, in order; after it the run goes on round-robin.
    #[serde(default)]
    pub schedule_script: Option<ScheduleScriptSpec>,
    /// Functions whose disassembly the report shows before and after the run (the debugger's `u`).
    #[serde(default)]
    pub show_disasm: Vec<String>,
    /// Tracefs writes and reads.
    #[serde(default)]
    pub tracefs: Vec<TracefsSpec>,
    /// Tracefs writes expected to fail.
    #[serde(default)]
    pub expect_tracefs: Vec<ExpectTracefs>,
}

/// `[schedule_script]`: a schedule written out (sim's `scheduler::Script`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, expecting = "a [schedule_script] table with rounds = [[cpu, …], …] and quanta = [n, …]")]
pub struct ScheduleScriptSpec {
    /// Each round's CPU order.
    #[serde(default)]
    pub rounds: Vec<Vec<usize>>,
    /// Each quantum length, in the order the run asks for them.
    #[serde(default)]
    pub quanta: Vec<u64>,
    /// Preemptions, `[round, cpu, len]`: that CPU's turn in that round (from 0) runs at most `len` instructions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<[u64; 3]>,
}

impl ScheduleScriptSpec {
    /// The script as the scheduler takes it.
    #[must_use]
    pub fn to_script(&self) -> sim::scheduler::Script {
        let cuts = self
            .cuts
            .iter()
            .map(|&[round, cpu, len]| sim::scheduler::Cut {
                round: usize::try_from(round).unwrap_or(usize::MAX),
                cpu: usize::try_from(cpu).unwrap_or(usize::MAX),
                len,
            })
            .collect();
        sim::scheduler::Script { rounds: self.rounds.clone(), quanta: self.quanta.clone(), cuts }
    }

    /// A recorded script as a scenario spells it.
    #[must_use]
    pub fn from_script(s: &sim::scheduler::Script) -> ScheduleScriptSpec {
        let cuts = s.cuts.iter().map(|c| [c.round as u64, c.cpu as u64, c.len]).collect();
        ScheduleScriptSpec { rounds: s.rounds.clone(), quanta: s.quanta.clone(), cuts }
    }
}

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
                tasks.push(Task {
                    cpu: CpuId(cpu),
                    pid: t.pid + k as u32,
                    comm: t.comm.clone(),
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
mod tests {
    use super::*;

    const HEAD: &str = "[machine]\nisa = \"aarch64\"\ncpus = 1\n[image]\nelf = [\"x.o\"]\n";

    fn error(body: &str) -> String {
        // Top-level keys go before the tables.
        let text = if body.starts_with('[') { format!("{HEAD}{body}") } else { format!("{body}{HEAD}") };
        match Scenario::parse(Path::new("s.toml"), &text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    /// Every message says what is accepted, never a Rust type, a `Debug` value or serde's internals.
    #[test]
    fn messages_say_what_is_accepted() {
        let cases = [
            ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nargs = [true]\n", "s.toml:10:9: invalid type: boolean `true`, expected an integer, a string such as \"0x10\", or an address \"&symbol\" / \"&symbol+8\""),
            ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nargs = [{ a = 1 }]\n", "s.toml:10:9: invalid type: table, expected an integer, a string such as \"0x10\", or an address \"&symbol\" / \"&symbol+8\""),
            ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nrepeat = -1\n", "s.toml:10:10: invalid value: integer `-1`, expected a number of calls (0 or more) or \"forever\""),
            ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nrepeat = \"often\"\n", "s.toml: task[0].repeat: `often`: expected a number of calls (0 or more) or \"forever\""),
            ("task = [5]\n", "s.toml:1:9: invalid type: integer `5`, expected a [[task]] table (cpu or cpus, pid, call, args, …)"),
            ("[[kprobe]]\nsymbol = \"f\"\npre = [5]\n", "s.toml:8:8: invalid type: integer `5`, expected a handler step: a table with one of call, set_reg, record_regs, ret, stack_trace_save_regs"),
            ("[[expect_oops]]\ncpu = -1\n", "s.toml:7:7: invalid value: integer `-1`, expected a non-negative integer"),
            ("kprobe = 3\n", "s.toml:1:10: invalid type: integer `3`, expected an array"),
            ("[[expect_kprobe]]\nname = \"p\"\nregistered = true\n", "s.toml: expect_kprobe[0].registered: expected 0, an errno name such as \"-EINVAL\", or \"pending\" (never returned)"),
            ("[[expect_kprobe]]\nname = \"p\"\nregistered = \"EINVAL\"\n", "s.toml: expect_kprobe[0].registered: expected 0, an errno name such as \"-EINVAL\", or \"pending\" (never returned)"),
            ("[[expect_bpf]]\nprog = \"p\"\n", "s.toml: expect_bpf[0]: needs exactly one of `fault` or `rejected`"),
            ("[[bpf]]\nasm = \"exit\"\nattach_mode = \"libbpf\"\n", "s.toml:8:15: unknown variant `libbpf`, expected `shared_event` or `perf_kprobe`"),
        ];
        for (body, want) in cases {
            assert_eq!(error(body), want, "for\n{body}");
        }
        let machine = Scenario::parse(Path::new("s.toml"), "machine = 5\n[image]\nelf = []\n").err().map(|e| e.to_string());
        assert_eq!(machine.as_deref(), Some("s.toml:1:11: invalid type: integer `5`, expected a [machine] table (isa, cpus, kernel, quantum, …)"));
        let empty = Scenario::parse(Path::new("s.toml"), "[machine]\nisa = \"aarch64\"\ncpus = 1\n[image]\nelf = [\"\"]\n");
        assert_eq!(empty.err().map(|e| e.to_string()).as_deref(), Some("s.toml: image.elf[0]: an empty path; give an ELF file's path"));
    }

    #[test]
    fn good_values_still_parse() {
        let body = "[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nargs = [-1, 18446744073709551615, \"0x10\", \"&f\"]\nrepeat = \"forever\"\n\
                    [[expect_kprobe]]\nname = \"p\"\nregistered = \"-ENOENT\"\n[[expect_kprobe]]\nname = \"q\"\nregistered = 0\n";
        let s = Scenario::parse(Path::new("s.toml"), &format!("{HEAD}{body}")).expect("valid");
        assert!(matches!(s.spec.tasks[0].repeat, Some(RepeatSpec::Word(_))));
        assert!(matches!(s.spec.tasks[0].args[..], [ArgSpec::Int(-1), ArgSpec::Int(-1), ArgSpec::Text(_), ArgSpec::Text(_)]));
    }
}
