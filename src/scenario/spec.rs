//! The scenario file's tables as serde reads them (`docs/scenarios.md`): strict (`deny_unknown_fields`), each
//! saying in its `expecting` what is accepted. [`super::Scenario::prepare`] turns them into a machine and a run.

#![allow(clippy::wildcard_imports)]

use super::*;

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

impl std::str::FromStr for Schedule {
    type Err = String;
    /// As a scenario spells it (the inverse of `Display`).
    fn from_str(s: &str) -> Result<Schedule, String> {
        match s {
            "round-robin" => Ok(Schedule::RoundRobin),
            "shuffle" => Ok(Schedule::Shuffle),
            _ => Err(format!("`{s}`: expected `round-robin` or `shuffle`")),
        }
    }
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
    /// The process (`task->tgid`): by default each task is its own process (`tgid == pid`); with `cpus`, the
    /// same `tgid` makes the tasks threads of one process.
    pub tgid: Option<u32>,
    /// `cred->uid` (default 0, root).
    #[serde(default)]
    pub uid: u32,
    /// `cred->gid` (default 0).
    #[serde(default)]
    pub gid: u32,
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
    pub(super) fn static_key(&self) -> Option<(kernel_model::event::jump_label::StaticKeyOp, &str)> {
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

    pub(super) fn static_key_count(&self) -> usize {
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

