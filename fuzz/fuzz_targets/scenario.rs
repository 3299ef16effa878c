//! Scenario TOML: parse, then prepare (build the machine, load its ELF and BPF files, resolve every name) without
//! running. The scenario "lives" in `scenarios/`, so the seeds' relative fixture paths resolve.
#![no_main]

use libfuzzer_sys::fuzz_target;
use probesim::scenario::Scenario;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/fuzz-input.toml"));
    if let Ok(s) = Scenario::parse(path, text) {
        let _ = s.prepare();
    }
});
