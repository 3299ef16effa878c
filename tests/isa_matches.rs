//! ARCHITECTURE.md's invariant "generic code never matches on the ISA", checked: no file of `kernel-model/src`,
//! `sim/src` or `src` outside the per-ISA directories (`kernel-model/src/arch/`, `sim/src/arch/`) may test an
//! `Isa` value (`Isa::Aarch64 =>`, `== Isa::X86_64`, `matches!(isa, Isa::…)`, `if let Isa::…`). What differs per
//! ISA is asked of the arch (`ArchKernel`, `arch::info::IsaInfo`, `PtRegs`'s methods) or of `sim`'s `IsaBackend`.
//!
//! The allow-list names the few lines that *define* the ISA or select its implementation, each with its reason;
//! an entry that no longer matches anything fails too, so the list cannot go stale.

use std::path::{Path, PathBuf};

/// Roots scanned, relative to the workspace root.
const ROOTS: &[&str] = &["kernel-model/src", "sim/src", "src"];
/// Per-ISA directories: the one place ISA matches belong.
const ISA_DIRS: &[&str] = &["kernel-model/src/arch", "sim/src/arch"];

/// (file, trimmed line, why it may test the ISA).
const ALLOWED: &[(&str, &str, &str)] = &[
    ("kernel-model/src/types.rs", "Isa::Aarch64 => \"aarch64\",", "the Isa type's own name"),
    ("kernel-model/src/types.rs", "Isa::X86_64 => \"x86_64\",", "the Isa type's own name"),
    (
        "kernel-model/src/ptrace/mod.rs",
        "Isa::Aarch64 => PtRegs::Aarch64(aarch64::PtRegs::default()),",
        "PtRegs::new selects the ISA's register layout",
    ),
    (
        "kernel-model/src/ptrace/mod.rs",
        "Isa::X86_64 => PtRegs::X86_64(x86_64::PtRegs::default()),",
        "PtRegs::new selects the ISA's register layout",
    ),
];

const VARIANTS: &[&str] = &["Isa::Aarch64", "Isa::X86_64"];

/// Whether `line` (comment stripped) tests an `Isa` value: a match arm or or-pattern, a comparison, `matches!`
/// or `if let`/`let … else` on a variant.
fn tests_isa(line: &str) -> bool {
    for v in VARIANTS {
        let mut from = 0;
        while let Some(i) = line[from..].find(v) {
            let at = from + i;
            let end = at + v.len();
            from = end;
            // `Isa::X86_64Foo` is another identifier.
            if line[end..].chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let before = line[..at].trim_end();
            let before = before.strip_suffix("kernel_model::").unwrap_or(before).trim_end();
            let after = line[end..].trim_start();
            let arm = after.starts_with("=>") || after.starts_with('|') || before.ends_with('|');
            let compare = before.ends_with("==")
                || before.ends_with("!=")
                || after.starts_with("==")
                || after.starts_with("!=");
            let pattern = line[..at].contains("matches!(") || before.ends_with("if let") || before.ends_with("let");
            if arm || compare || pattern {
                return true;
            }
        }
    }
    false
}

fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every (file, line number, trimmed line) in the generic modules that tests an ISA.
fn isa_matches(root: &Path) -> Vec<(String, usize, String)> {
    let mut files = Vec::new();
    for r in ROOTS {
        rust_files(&root.join(r), &mut files);
    }
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
        if ISA_DIRS.iter().any(|d| rel.starts_with(&format!("{d}/"))) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for (n, line) in text.lines().enumerate() {
            let code = strip_comment(line);
            if tests_isa(code) {
                found.push((rel.clone(), n + 1, code.trim().to_string()));
            }
        }
    }
    found
}

#[test]
fn generic_code_never_matches_on_the_isa() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = isa_matches(root);
    let bad: Vec<String> = found
        .iter()
        .filter(|(f, _, l)| !ALLOWED.iter().any(|(af, al, _)| af == f && al == l))
        .map(|(f, n, l)| format!("{f}:{n}: {l}"))
        .collect();
    assert!(
        bad.is_empty(),
        "generic code matches on the ISA (ask the arch: ArchKernel, arch::info::IsaInfo, PtRegs, or sim's IsaBackend):\n{}",
        bad.join("\n")
    );
    let stale: Vec<String> = ALLOWED
        .iter()
        .filter(|(af, al, _)| !found.iter().any(|(f, _, l)| af == f && al == l))
        .map(|(f, l, why)| format!("{f}: {l} ({why})"))
        .collect();
    assert!(stale.is_empty(), "allow-list entries that match nothing (remove them):\n{}", stale.join("\n"));
}

#[test]
fn the_detector_sees_each_form_of_isa_test() {
    for hit in [
        "Isa::Aarch64 => 1 << 48,",
        "kernel_model::Isa::X86_64 => HexStyle::Bytes,",
        "Isa::Aarch64 | Isa::X86_64 => {}",
        "if self.isa == Isa::X86_64 {",
        "if Isa::Aarch64 != isa {",
        "matches!(isa, Isa::Aarch64)",
        "if let Isa::X86_64 = isa {",
    ] {
        assert!(tests_isa(hit), "missed: {hit}");
    }
    for miss in [
        "for isa in [Isa::Aarch64, Isa::X86_64] {",
        "let mut r = PtRegs::new(Isa::X86_64);",
        "kernel_model::Isa::Aarch64,",
        "Isa::X86_64Ext => {}",
    ] {
        assert!(!tests_isa(miss), "false positive: {miss}");
    }
}
