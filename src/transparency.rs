//! `check-transparency`: is a kprobe invisible to the code it probes? For every instruction of a function,
//! register a counting kprobe there, run the function, and compare the final registers, the return value and the
//! data memory with an unprobed run; the probe's hit count must equal the number of times the instruction executed
//! in the unprobed run.

use kernel_model::arch::disassemble;
use kernel_model::ptrace::PtRegs;
use kernel_model::kernel::Kernel;
use kernel_model::kprobes::{KprobeSpec, PreHandler};
use kernel_model::machine::{GuestMemory as _, Machine as _};
use kernel_model::profile::KernelProfile;
use kernel_model::{CpuId, Isa, KernelVa};
use rayon::prelude::*;
use serde::Serialize;
use sim::machine::{EmulatedMachine, MachineError};
use sim::run::{Action, ActionOp, Repeat, RunConfig, RunEnd, Task};
use sim::scheduler::Policy;
use std::path::PathBuf;

/// Why the check could not run.
#[derive(Debug, thiserror::Error)]
pub enum TransparencyError {
    /// The image did not load.
    #[error(transparent)]
    BuildMachine(#[from] MachineError),
    /// ELF problems before loading.
    #[error(transparent)]
    ReadElf(#[from] sim::elf::ElfError),
    /// No such function.
    #[error("{file}: unknown symbol `{name}`")]
    UnknownSymbol {
        /// The ELF file.
        file: PathBuf,
        /// The symbol.
        name: String,
    },
    /// The unprobed call itself fails.
    #[error("{file}: {name}({args:?}) does not return normally without probes (trap or budget)")]
    BaselineFails {
        /// The ELF file.
        file: PathBuf,
        /// The function.
        name: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// An argument is neither an integer nor `&symbol`.
    #[error("--args: `{0}` is neither an integer nor &symbol")]
    BadArg(String),
}

/// One instruction's result (the JSON contract: exactly these keys).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InsnVerdict {
    /// Offset from the symbol.
    pub offset: u64,
    /// The encoding, hex.
    pub encoding: String,
    /// arm64: `"rejected"`, `"xol"` or `"simulated:<name>"`; x86: `"rejected"`, `"boosted"`, `"single-step"` or
    /// `"emulated:<op>"`.
    pub class: String,
    /// Probe hits in the probed run.
    pub hits: u64,
    /// Executions of the instruction in the unprobed run.
    pub expected_hits: u64,
    /// `"same"`, `"different"` or `"rejected"`.
    pub verdict: String,
    /// Disassembly (text view only).
    #[serde(skip)]
    pub text: String,
    /// What differed (text view only).
    #[serde(skip)]
    pub why: String,
}

/// Settings of a check.
#[derive(Clone, Debug)]
pub struct Check {
    /// The object.
    pub elf: PathBuf,
    /// The function.
    pub symbol: String,
    /// Its arguments: integers, or `&symbol` for an address in the image.
    pub args: Vec<String>,
    /// The profile.
    pub kernel: KernelProfile,
    /// CPUs in the machine (the function runs on CPU 0).
    pub cpus: usize,
}

const BUDGET: u64 = 2_000_000;

struct Outcome {
    regs: PtRegs,
    data: Vec<u8>,
    ret: Option<u64>,
    hits: u64,
    class: String,
    registered: bool,
}

/// Resolves `--args` against the loaded image.
fn resolve_args(c: &Check, machine: &EmulatedMachine) -> Result<Vec<u64>, TransparencyError> {
    c.args
        .iter()
        .map(|a| match a.strip_prefix('&') {
            Some(sym) => machine.kallsyms().resolve(sym).map(|v| v.0).map_err(|_| TransparencyError::UnknownSymbol {
                file: c.elf.clone(),
                name: sym.to_string(),
            }),
            // Negative integers are passed as two's complement, as C does.
            None => match a.strip_prefix('-') {
                Some(n) => kernel_model::kallsyms::parse_int(n).map(|v| v.wrapping_neg()),
                None => kernel_model::kallsyms::parse_int(a),
            }
            .ok_or_else(|| TransparencyError::BadArg(a.clone())),
        })
        .collect()
}

fn run_once(c: &Check, isa: Isa, probe_offset: Option<u64>) -> Result<Outcome, TransparencyError> {
    let mut machine = EmulatedMachine::new(isa, c.cpus, std::slice::from_ref(&c.elf))?;
    let args = resolve_args(c, &machine)?;
    let sym = machine
        .kallsyms()
        .lookup_name(&c.symbol)
        .cloned()
        .ok_or_else(|| TransparencyError::UnknownSymbol { file: c.elf.clone(), name: c.symbol.clone() })?;
    let mut kernel = Kernel::new(isa, c.kernel, c.cpus);
    let task = Task {
        cpu: CpuId(0),
        pid: 1,
        comm: "transparency".into(),
        ids: kernel_model::bpf::TaskIds { tgid: 1, uid: 0, gid: 0 },
        func_name: c.symbol.clone(),
        func: sym.addr,
        args,
        repeat: Repeat::Times(1),
        start_at: 0,
    };
    let actions: Vec<Action> = probe_offset
        .map(|off| Action {
            at: 0,
            cpu: CpuId(0),
            op: ActionOp::RegisterKprobe(KprobeSpec {
                name: format!("{}+{off:#x}", c.symbol),
                symbol_name: Some(c.symbol.clone()),
                offset: off,
                addr: None,
                pre_handler: PreHandler::Actions(Vec::new()),
                post_handler: None,
                disabled: false,
            }),
        })
        .into_iter()
        .collect();
    let cfg = RunConfig { quantum: 100, policy: Policy::RoundRobin, budget: BUDGET, stop_before_turn: None, quantum_jitter: false, script: None, record_schedule: false };
    let summary = sim::run::run(&mut machine, &mut kernel, &[task], &actions, &cfg);
    let ret = (summary.end == RunEnd::Completed).then(|| summary.calls.first().and_then(|c| c.ret)).flatten();
    let probe = kernel.core.kprobes.probes.first();
    Ok(Outcome {
        regs: machine.pt_regs(CpuId(0)),
        data: machine.data_region(),
        ret,
        hits: probe.map_or(0, |p| p.nhit),
        class: probe
            .filter(|p| p.registered)
            .map_or_else(|| "rejected".to_string(), |p| p.ainsn.class.clone()),
        registered: kernel.core.register_results.first().is_some_and(|(_, r)| r.is_ok()),
    })
}

/// Runs the check over every instruction of the function, in parallel, results in offset order.
pub fn check(c: &Check) -> Result<Vec<InsnVerdict>, TransparencyError> {
    let isa = sim::elf::detect_isa(&c.elf)?;
    let mut machine = EmulatedMachine::new(isa, 1, std::slice::from_ref(&c.elf))?;
    let sym = machine
        .kallsyms()
        .lookup_name(&c.symbol)
        .cloned()
        .ok_or_else(|| TransparencyError::UnknownSymbol { file: c.elf.clone(), name: c.symbol.clone() })?;
    let mut bytes = vec![0; usize::try_from(sym.size).unwrap_or(0)];
    machine.read(sym.addr, &mut bytes).map_err(|_| TransparencyError::UnknownSymbol {
        file: c.elf.clone(),
        name: c.symbol.clone(),
    })?;
    // Instructions only: words the `$d` mapping symbols mark as data (literal pools) are not instructions.
    let lines: Vec<_> =
        disassemble(isa, sym.addr.0, &bytes).into_iter().filter(|l| !machine.is_data_in_text(KernelVa(l.addr))).collect();
    let args = resolve_args(c, &machine)?;
    let counts = machine.count_executions(CpuId(0), sym.addr, &args, BUDGET).ok_or_else(|| {
        TransparencyError::BaselineFails { file: c.elf.clone(), name: c.symbol.clone(), args: c.args.clone() }
    })?;
    let baseline = run_once(c, isa, None)?;
    if baseline.ret.is_none() {
        return Err(TransparencyError::BaselineFails { file: c.elf.clone(), name: c.symbol.clone(), args: c.args.clone() });
    }
    let results: Vec<Result<InsnVerdict, TransparencyError>> = lines
        .par_iter()
        .map(|line| {
            let offset = line.addr - sym.addr.0;
            let expected_hits = counts.get(&line.addr).copied().unwrap_or(0);
            let probed = run_once(c, isa, Some(offset))?;
            let mut why = Vec::new();
            let verdict = if !probed.registered {
                "rejected"
            } else {
                if probed.ret != baseline.ret {
                    why.push(format!("return {:x?} vs {:x?}", probed.ret, baseline.ret));
                }
                if probed.regs != baseline.regs {
                    let diff: Vec<String> = probed
                        .regs
                        .named()
                        .into_iter()
                        .zip(baseline.regs.named())
                        .filter(|(a, b)| a.1 != b.1)
                        .map(|(a, b)| format!("{}={:#x} (unprobed {:#x})", a.0, a.1, b.1))
                        .collect();
                    why.push(format!("registers: {}", diff.join(", ")));
                }
                if probed.data != baseline.data {
                    why.push("data memory differs".into());
                }
                if probed.hits != expected_hits {
                    why.push(format!("{} hits, executed {expected_hits} times", probed.hits));
                }
                if why.is_empty() { "same" } else { "different" }
            };
            Ok(InsnVerdict {
                offset,
                encoding: line.encoding.replace(' ', ""),
                class: probed.class,
                hits: probed.hits,
                expected_hits,
                verdict: verdict.into(),
                text: line.text.clone(),
                why: why.join("; "),
            })
        })
        .collect();
    results.into_iter().collect()
}

/// Whether every probeable instruction behaved the same.
#[must_use]
pub fn all_same(v: &[InsnVerdict]) -> bool {
    v.iter().all(|r| r.verdict != "different")
}

/// The text table.
#[must_use]
pub fn render_table(c: &Check, v: &[InsnVerdict]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "check-transparency {} {}({:?}) kernel {}", c.elf.display(), c.symbol, c.args, c.kernel);
    let _ = writeln!(
        out,
        "{:>6}  {:<8}  {:<34} {:<24} {:>5} {:>8}  verdict",
        "offset", "encoding", "instruction", "class", "hits", "expected"
    );
    for r in v {
        let _ = writeln!(
            out,
            "{:>#6x}  {:<8}  {:<34} {:<24} {:>5} {:>8}  {}{}",
            r.offset,
            r.encoding,
            r.text,
            r.class,
            r.hits,
            r.expected_hits,
            r.verdict,
            if r.why.is_empty() { String::new() } else { format!(" ({})", r.why) }
        );
    }
    let same = v.iter().filter(|r| r.verdict == "same").count();
    let rejected = v.iter().filter(|r| r.verdict == "rejected").count();
    let different = v.len() - same - rejected;
    let _ = writeln!(out, "{same} same, {different} different, {rejected} rejected");
    out
}

