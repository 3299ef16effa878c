//! `probesim`: watch and test, deterministically, how Linux installs and fires kernel probes.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use probesim::cli;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "probesim", version, about = "Deterministic multi-CPU simulator of Linux kernel probes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main demo: seed 000's kprobe on __arm64_sys_clone, patched, hit and traced on 8 arm64 CPUs.
    Demo(cli::demo::DemoArgs),
    /// Run a scenario and print its event log.
    Run(cli::run::RunArgs),
    /// Run a bpftrace program (-e 'PROGRAM' or -f FILE.bt) on a scenario, printed as bpftrace prints it.
    Trace(cli::trace::TraceArgs),
    /// Run a scenario under many schedules: distinct traces, invariants checked on each.
    Explore(cli::explore::ExploreArgs),
    /// Upstream kernel changes the model reproduces: each exhibit's before/after scenarios and its symptom.
    Museum(cli::museum::MuseumArgs),
    /// Disassemble a function of an ELF file as loaded at kernel addresses.
    Disasm(cli::image::DisasmArgs),
    /// List an ELF file's symbols as loaded (kallsyms format).
    Symbols(cli::image::SymbolsArgs),
    /// Probe every instruction of a function and compare with an unprobed run.
    CheckTransparency(cli::transparency::TransparencyArgs),
    /// eBPF assembler and disassembler (the bpf_conformance text syntax).
    #[command(subcommand)]
    Bpf(cli::bpf::BpfCommand),
    /// A plugin for the bpf_conformance runner: program as base16 on stdin, r0 in hex on stdout.
    BpfConformancePlugin(cli::bpf::PluginArgs),
    /// Measure simulation speed against bare Unicorn, and batch parallelism.
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Demo(a) => cli::demo::demo(a),
        Command::Run(a) => cli::run::run(a),
        Command::Trace(a) => cli::trace::run(a),
        Command::Explore(a) => cli::explore::run(a),
        Command::Museum(a) => cli::museum::run(a),
        Command::Disasm(a) => cli::image::disasm(a),
        Command::Symbols(a) => cli::image::symbols(a),
        Command::Bench(a) => cli::bench::bench(a),
        Command::Bpf(c) => cli::bpf::run_bpf(c),
        Command::BpfConformancePlugin(a) => cli::bpf::run_plugin(a),
        Command::CheckTransparency(a) => cli::transparency::run(a),
    }
}
