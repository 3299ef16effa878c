//! The data-driven harness: every `scenarios/**/*.toml` is run and its readable trace (or its error) is kept as an
//! insta snapshot. A scenario that shows wrong behaviour today is snapshotted as it is, with a FIXME in its
//! description; none is ever skipped.

use probesim::runner;
use std::path::Path;

fn render(path: &Path) -> String {
    let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path);
    // Scenarios under scenarios/errors/ show bad input and failing runs; every other one must succeed, and its
    // expectations (`expect_*`) must hold.
    let must_pass = !rel.starts_with("scenarios/errors");
    match runner::run_file(rel) {
        Ok(report) => {
            let mut out = report.to_text();
            if let Some(f) = report.failure() {
                assert!(!must_pass, "{f}");
                out.push_str(&format!("# FAILURE: {f}\n"));
            }
            out
        }
        Err(e) => {
            assert!(!must_pass, "{e}");
            format!("# ERROR: {e}\n")
        }
    }
}

#[test]
fn scenarios() {
    // insta's glob runs relative to this file; scenario paths in messages are made relative to the repo root.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    insta::glob!("../scenarios", "**/*.toml", |path| {
        insta::assert_snapshot!(render(path));
    });
}
