//! `probesim run SCENARIO`.

use crate::runner;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, one line per event.
    Text,
    /// JSON lines, one event per line (schema in docs/trace-format.md).
    Json,
}

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print only the SHA-256 of the event log.
    #[arg(long)]
    pub hash: bool,
    /// Print only the report's footer (call results, kprobes, BPF, trace_pipe, how the run ended, the hash), not
    /// the events.
    #[arg(long, alias = "quiet", conflicts_with_all = ["hash", "timeline"])]
    pub summary: bool,
    /// Also write the multi-CPU timeline as one self-contained HTML file (inline SVG; zoom, pan, hover).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write the timeline as Chrome trace-event JSON (opens in Perfetto UI).
    #[arg(long, value_name = "FILE")]
    pub perfetto: Option<PathBuf>,
    /// Print the timeline in the terminal instead of the event log.
    #[arg(long)]
    pub timeline: bool,
    /// Show the machine just before an event: `event:K`, `write:N` (the master's Nth patch write) or
    /// `hit:N[:PROBE]` (the Nth kprobe hit). Use with --show.
    #[arg(long, value_name = "SELECTOR")]
    pub at: Option<crate::views::Selector>,
    /// Debugger views at --at: u (disassembly), kn (backtraces of every CPU), r (registers), db/dd[:ADDR]
    /// (memory), dt (structures). Default with --at: u,kn,r,dd,dt. Without --at: what the report adds after the
    /// run, `maps` (bpftool map show + map dump of every BPF map) and `progs` (BPF program run counts), as a
    /// scenario's `show = [...]` does.
    #[arg(long, value_name = "VIEWS")]
    pub show: Option<String>,
    /// With --timeline: the width in columns (at least 40).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(40..))]
    pub width: u16,
    /// With --timeline: start the view at this vtime (default: the first event's).
    #[arg(long, value_name = "T")]
    pub from: Option<u64>,
    /// With --timeline: end the view at this vtime (default: the last event's).
    #[arg(long, value_name = "T")]
    pub to: Option<u64>,
    /// Override `[machine] schedule` (`round-robin` or `shuffle`).
    #[arg(long, value_parser = parse_schedule)]
    pub schedule: Option<crate::scenario::Schedule>,
    /// Override `[machine] seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override `[machine] quantum`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub quantum: Option<u64>,
    /// Override `[machine] quantum_jitter` (turn it on).
    #[arg(long, conflicts_with = "no_jitter")]
    pub jitter: bool,
    /// Override `[machine] quantum_jitter` (turn it off).
    #[arg(long)]
    pub no_jitter: bool,
    /// Take a turn away from the round-robin order: `ROUND:CPU` (CPU loses its turn in scheduler round ROUND,
    /// counted from 0), as `probesim explore --mode delays` prints its schedules. Repeatable; needs round-robin
    /// without --jitter.
    #[arg(long = "delay", value_name = "ROUND:CPU")]
    pub delay: Vec<crate::explore::Delay>,
    /// A `kprobe_events` definition (`'p:myprobe kernel_clone arg1=%x0'`), written (`>>`) at t=0 on CPU 0; all
    /// events are then enabled (`echo 1 > events/enable`). Repeatable.
    #[arg(long = "kprobe-event", value_name = "DEF")]
    pub kprobe_event: Vec<String>,
    /// A tracefs file to print after the run (`trace`, `trace_pipe`, `kprobe_profile`, `kprobes/list`,
    /// `events/kprobes/<e>/format`, …). Repeatable.
    #[arg(long = "cat", value_name = "FILE")]
    pub cat: Vec<String>,
}

fn parse_schedule(s: &str) -> Result<crate::scenario::Schedule, String> {
    s.parse()
}

impl RunArgs {
    /// Loads the scenario with the command line's `[machine]` overrides applied.
    fn load(&self) -> Result<crate::scenario::Scenario, crate::scenario::ScenarioError> {
        let mut s = crate::scenario::Scenario::load(&self.scenario)?;
        let m = &mut s.spec.machine;
        if let Some(v) = self.schedule {
            m.schedule = v;
        }
        if let Some(v) = self.seed {
            m.seed = v;
        }
        if let Some(v) = self.quantum {
            m.quantum = v;
        }
        if self.jitter {
            m.quantum_jitter = true;
        }
        if self.no_jitter {
            m.quantum_jitter = false;
        }
        if !self.delay.is_empty() {
            if m.schedule != crate::scenario::Schedule::RoundRobin || m.quantum_jitter {
                return Err(crate::scenario::ScenarioError::Invalid {
                    file: self.scenario.clone(),
                    place: "--delay".into(),
                    msg: "delays perturb the round-robin order: use them with --schedule round-robin and --no-jitter".into(),
                });
            }
            if s.spec.schedule_script.is_some() {
                return Err(crate::scenario::ScenarioError::Invalid {
                    file: self.scenario.clone(),
                    place: "--delay".into(),
                    msg: "the scenario has its own [schedule_script]; delays apply to round-robin only".into(),
                });
            }
            if let Err(msg) = crate::explore::check_delays(m.cpus, &self.delay) {
                return Err(crate::scenario::ScenarioError::Invalid { file: self.scenario.clone(), place: "--delay".into(), msg });
            }
            s.spec.schedule_script = Some(crate::explore::delay_script(m.cpus, &self.delay));
        }
        let tracefs = |write: &str, text: &str| crate::scenario::TracefsSpec {
            at: 0,
            cpu: 0,
            write: Some(write.to_string()),
            text: Some(text.to_string()),
            append: true,
            read: None,
        };
        for def in &self.kprobe_event {
            s.spec.tracefs.push(tracefs("kprobe_events", def));
        }
        if !self.kprobe_event.is_empty() {
            s.spec.tracefs.push(tracefs("events/enable", "1"));
        }
        if let (None, Some(items)) = (&self.at, &self.show) {
            for item in items.split(',') {
                if !s.spec.show.iter().any(|x| x == item) {
                    s.spec.show.push(item.to_string());
                }
            }
        }
        Ok(s)
    }
}

/// Runs a scenario and prints its log. Exit 0 on success; 1, with one line on stderr, if the run failed (an unmet
/// expectation, or an errno, oops, BPF refusal or fault, or budget exhaustion the scenario does not expect); 2 for
/// bad input.
pub fn run(args: &RunArgs) -> ExitCode {
    if let Some(sel) = &args.at {
        return at(args, sel);
    }
    if let Some(bad) = args.show.iter().flat_map(|s| s.split(',')).find(|v| !crate::expect::SHOW_ITEMS.contains(v)) {
        return super::fail(format!(
            "--show {bad}: without --at, --show takes {}; the debugger views (u, kn, r, db, dd, dt) need --at SELECTOR (event:K, write:N or hit:N[:PROBE]): they show the machine just before that event",
            crate::expect::SHOW_ITEMS.join(", ")
        ));
    }
    if (args.width != 100 || args.from.is_some() || args.to.is_some()) && !args.timeline {
        return super::fail("--width, --from and --to shape the terminal timeline: use them with --timeline");
    }
    if let (Some(a), Some(b)) = (args.from, args.to) {
        if a >= b {
            return super::fail(format!("--from {a} --to {b}: the range is empty (--from must be below --to)"));
        }
    }
    let (report, mut machine, mut kernel) = match args.load().and_then(|s| runner::run_scenario_until(s, None)) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    // `--cat FILE`: read after the run, on CPU 0.
    let mut cats = String::new();
    for file in &args.cat {
        let root = if file.starts_with("kprobes/") { "/sys/kernel/debug" } else { "/sys/kernel/tracing" };
        cats.push_str(&format!("# cat {root}/{file}\n"));
        match kernel.tracefs_read(&mut machine, kernel_model::CpuId(0), file) {
            Ok(text) => cats.push_str(&text),
            Err(e) => cats.push_str(&format!("cat: {file}: {e}\n")),
        }
    }
    if args.html.is_some() || args.perfetto.is_some() || args.timeline {
        let m = &report.scenario.spec.machine;
        let t = crate::timeline::Timeline::build(&report.log, &report.kallsyms, m.cpus).with_isa(m.isa);
        let title = report.scenario.path.display().to_string();
        for (path, text) in [
            (&args.html, args.html.as_ref().map(|_| crate::timeline::render_html(&t, &title))),
            (&args.perfetto, args.perfetto.as_ref().map(|_| crate::timeline::render_perfetto(&t))),
        ] {
            if let (Some(path), Some(text)) = (path, text) {
                if let Err(e) = std::fs::write(path, text) {
                    return super::fail(format!("{}: cannot write: {e}", path.display()));
                }
            }
        }
        if args.timeline {
            use std::io::IsTerminal as _;
            let range = crate::timeline::terminal::Range { from: args.from, to: args.to };
            let color = std::io::stdout().is_terminal();
            out!("{}", crate::timeline::terminal::render_terminal_range(&t, usize::from(args.width), color, range));
            return match report.failure() {
                Some(msg) => {
                    eprintln!("probesim: {msg}");
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            };
        }
    }
    if args.hash {
        outln!("{}", report.log.hash());
    } else {
        match args.format {
            Format::Text if args.summary => {
                let text = report.to_text();
                let footer = text.find("\n# calls:\n").map_or(text.as_str(), |i| &text[i + 1..]);
                out!("{footer}");
            }
            Format::Text => {
                use std::io::IsTerminal as _;
                let text = report.to_text();
                if std::io::stdout().is_terminal() {
                    out!("{}", colour_by_cpu(&text));
                } else {
                    out!("{text}");
                }
            }
            Format::Json if args.summary => out!("{}\n", report.summary_json()),
            Format::Json => out!("{}{}\n", report.log.to_json_lines(), report.summary_json()),
        }
    }
    out!("{cats}");
    match report.failure() {
        Some(msg) => {
            eprintln!("probesim: {msg}");
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}

/// `--at SELECTOR --show VIEWS`: run once to find the event, replay up to just before it, show the views.
fn at(args: &RunArgs, sel: &crate::views::Selector) -> ExitCode {
    let views = match crate::views::parse_views(args.show.as_deref().unwrap_or("u,kn,r,dd,dt")) {
        Ok(v) => v,
        Err(e) => return super::fail(format!("--show: {e}")),
    };
    let scenario = match args.load() {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    let full = match runner::run_scenario(scenario.clone()) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    let Some(event) = crate::views::find_event(&full.log, sel).cloned() else {
        return super::fail(format!("{}: no event matches --at {sel}", args.scenario.display()));
    };
    let turn = full.log.turn_of(event.seq).unwrap_or(0).max(1);
    let (_, mut machine, kernel) = match runner::run_scenario_until(scenario, Some(turn)) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    out!("{}", crate::views::render_views(&mut machine, &kernel, &event, &views));
    ExitCode::SUCCESS
}

/// Colours each event line by its CPU (ANSI; only on a terminal, never in files or snapshots).
fn colour_by_cpu(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        let cpu = line.split_whitespace().nth(2).and_then(|c| c.strip_prefix("cpu")).and_then(|n| n.parse::<usize>().ok());
        match cpu {
            Some(n) if !line.starts_with('#') => {
                out.push_str(&format!("\x1b[{}m{line}\x1b[0m\n", 31 + n % 6));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
