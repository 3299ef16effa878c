//! The `probesim` library: scenarios, the run driver and the command-line front end behind the `probesim` binary.
//!
//! # Testing a BPF program from your own `cargo test`
//!
//! A scenario (a file, or a string in the test) says which kernel image, which CPUs, which tasks call what and which
//! programs attach; [`prelude::run`] runs it deterministically and the [`Report`](runner::Report) says what user
//! space would see. Relative paths in a scenario string resolve against the directory of the path given with it.
//!
//! ```
//! use probesim::prelude::*;
//! use std::path::Path;
//!
//! let toml = r#"
//! [machine]
//! isa = "aarch64"
//! cpus = 2
//! kernel = "6.12"
//!
//! [image]
//! elf = ["../fixtures/tutorial-targets/mydrv-arm64.o"]
//!
//! [[bpf]]
//! object = "../fixtures/bpf-tutorial/mydrv_trace.bpf.o"
//!
//! [[task]]
//! cpus = [0, 1]
//! pid = 100
//! comm = "mydrvctl"
//! call = "mydrv_submit"
//! args = ["&mydrv_req_ok"]
//! at = 500
//! "#;
//! let mut scenario = Scenario::parse(Path::new("scenarios/my-test.toml"), toml)?;
//! scenario.spec.machine.quantum = 50; // any machine setting can be changed before the run
//! let report = run(scenario)?;
//! report.expect_ok()?;
//! assert_eq!(report.returns_of(100), [Some(10)]);
//! assert_eq!(report.kprobe("p_mydrv_submit_0").map(|k| k.nhit), Some(2));
//! assert!(report.trace_pipe_lines()[0].ends_with("bpf_trace_printk: submit #1 len=4"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod api;
pub mod bpftool;
pub mod cli;
pub mod expect;
pub mod explore;
pub mod museum;
pub mod object_file;
pub mod runner;
pub mod scenario;
pub mod transparency;
pub mod views;
pub mod timeline;
pub mod bpftrace;
pub mod prelude;
