//! `probesim`: the command-line program.
fn main() {}
