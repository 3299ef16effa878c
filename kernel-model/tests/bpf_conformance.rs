//! Data-driven conformance test: every case of the bpf_conformance suite in `../shared/bpf-conformance/tests`
//! (relative to the workspace) is assembled, loaded and run; `r0` (or the error) must match. Each program must
//! also survive disassemble → assemble unchanged. Without the shared directory the test says so and passes.

use kernel_model::bpf::conformance::{parse, run_case, DEFAULT_BUDGET};
use kernel_model::bpf::{assemble, disassemble};
use std::path::PathBuf;

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpf-conformance/tests")
}

/// Runs one `.data` file; `Err` describes the failure.
fn check(text: &str) -> Result<(), String> {
    let case = parse(text)?;
    let insns = case.program().map_err(|e| format!("assembler: {e}"))?;
    if case.raw.is_some() {
        // The asm must agree with the raw words.
        let from_asm = assemble(&case.asm).map_err(|e| format!("assembler: {e}"))?;
        if from_asm != insns {
            return Err("-- asm and -- raw differ".into());
        }
    }
    let text = disassemble(&insns);
    match assemble(&text) {
        Ok(again) if again == insns => {}
        Ok(_) => return Err(format!("disassembly does not round-trip:\n{text}")),
        Err(e) => return Err(format!("disassembly does not reassemble ({e}):\n{text}")),
    }
    match (run_case(&insns, &case.mem, DEFAULT_BUDGET), &case.result, &case.error) {
        (Ok(exit), Some(want), None) if exit.r0 == *want => Ok(()),
        (Ok(exit), Some(want), None) => Err(format!("r0 = {:#x}, expected {want:#x}", exit.r0)),
        (Ok(exit), _, Some(err)) => Err(format!("r0 = {:#x}, expected error `{err}`", exit.r0)),
        (Err(e), _, Some(err)) if e.to_string().contains(err.as_str()) => Ok(()),
        (Err(e), _, _) => Err(format!("error: {e}")),
        (Ok(_), None, None) => Err("no expectation".into()),
    }
}

#[test]
fn bpf_conformance_suite() {
    let dir = suite_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("bpf conformance: suite not found at {}, skipped (0 cases run)", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0usize, Vec::new());
    for f in &files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let result = std::fs::read_to_string(f).map_err(|e| e.to_string()).and_then(|t| check(&t));
        match result {
            Ok(()) => passed += 1,
            Err(why) => failed.push(format!("{name}: {why}")),
        }
    }
    for f in &failed {
        println!("FAIL {f}");
    }
    println!("bpf conformance: {passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "{} of {} conformance cases failed", failed.len(), files.len());
    assert!(passed > 0, "no .data files in {}", dir.display());
}
