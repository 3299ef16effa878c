//! The `probesim` library: scenarios, the run driver and the command-line front end behind the `probesim` binary.

#![forbid(unsafe_code)]

pub mod bpftool;
pub mod cli;
pub mod expect;
pub mod explore;
pub mod object_file;
pub mod runner;
pub mod scenario;
pub mod transparency;
pub mod views;
pub mod timeline;
