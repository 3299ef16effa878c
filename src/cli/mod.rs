//! Command-line front end (clap). Each subcommand lives in its own module.

pub mod bpf;
