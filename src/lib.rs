//! The `probesim` library: scenarios, the run driver and the renderers behind the `probesim` command.

pub mod cli;
