//! The layering invariants ARCHITECTURE.md states ("Layers"), checked on the source: every `crate::…`, `super::…`,
//! `self::…` and child-module path in a file is an edge from its module to the module file it names; an edge may go
//! down or stay in its layer, never up, so no import cycle spans layers. And no source file is over 900 lines
//! outside its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers of one crate, bottom first: each is a list of module-path prefixes (`""` the crate root, `"arch"` the
/// module and everything under it). The longest matching prefix decides a module's layer.
struct Crate {
    src: &'static str,
    layers: &'static [(&'static str, &'static [&'static str])],
}

const KERNEL_MODEL: Crate = Crate {
    src: "kernel-model/src",
    layers: &[
        // The vocabulary everything speaks: ids, errnos, profiles, registers, events, the hardware boundary.
        (
            "vocabulary",
            &["", "types", "errno", "profile", "ptrace", "event", "machine", "kallsyms", "bpf::error"],
        ),
        // What an ISA is (IsaInfo tables and their error-injection facts): generic subsystems may ask it.
        ("isa facts", &["arch::info", "arch::aarch64::info", "arch::x86_64::info", "arch::aarch64::error_inject", "arch::x86_64::error_inject"]),
        // Models of kernel data structures and subsystems, each usable without the kprobe core.
        ("subsystems", &["kprobes", "kretprobes", "stop_machine", "trace", "bpf"]),
        // linux/kprobes.h as arch sees it.
        ("kernel_core", &["kernel_core"]),
        // The ISAs, behind ArchKernel.
        ("arch", &["arch"]),
        // The driver the scheduler calls, and tracefs file operations that queue its work.
        ("driver", &["kernel", "kernel_trace"]),
        // The shared fake Machine (tests only).
        ("testing", &["testing"]),
    ],
};

const SIM: Crate = Crate {
    src: "sim/src",
    layers: &[
        ("leaves", &["uc", "memory", "event_log", "scheduler"]),
        ("isa backends", &["arch"]),
        ("cpu and loader", &["cpu", "elf"]),
        ("machine", &["machine", "bench"]),
        ("run loop", &["run"]),
        // lib.rs re-exports `cpu`'s Outcome and RunResult; modules name them by their home.
        ("crate root", &[""]),
    ],
};

const PROBESIM: Crate = Crate {
    src: "src",
    layers: &[
        // expect holds the [[expect_*]] tables the scenario parses and the checks on what bpftool shows: one layer.
        ("inputs and views", &["", "scenario", "expect", "bpftool", "object_file", "timeline", "views", "transparency"]),
        // bpftrace's scripts run through the runner, and the runner runs a scenario's [[script]]s: one layer.
        ("runner", &["runner", "api", "bpftrace"]),
        ("explore", &["explore", "museum"]),
        ("cli", &["cli", "main", "prelude"]),
    ],
};

/// Files allowed over the line limit (none: a file that grows past it is split by what it models).
const OVER_LIMIT_ALLOWED: &[&str] = &[];

const MAX_LINES: usize = 900;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file (`arch/x86_64/kprobes/prepare.rs` → `arch::x86_64::kprobes::prepare`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib") {
        parts.push(stem.to_string());
    }
    parts
}

/// The source with comments, string and char literals blanked (so paths in docs and strings are not edges).
fn code_only(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= b.len() {
                        break;
                    }
                    if b[j] == b'"' && b[j + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): only the former closes with a quote.
                let close = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..].iter().position(|&c| c == b'\'').map(|p| i + 2 + p)
                } else {
                    let ch_len = s[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 1 + ch_len)
                };
                match close {
                    Some(c) => {
                        out.push_str("' '");
                        i = c + 1;
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            _ => {
                let ch = s[i..].chars().next().expect("in bounds");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Cuts an inline `#[cfg(test)] mod NAME { … }` (to the end of the file: tests come last) and returns the rest.
fn without_inline_tests(code: &str) -> &str {
    let mut from = 0;
    while let Some(p) = code[from..].find("#[cfg(test)]") {
        let at = from + p;
        let rest = code[at + "#[cfg(test)]".len()..].trim_start();
        if let Some(after_mod) = rest.strip_prefix("mod ") {
            let name_end = after_mod.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after_mod.len());
            if after_mod[name_end..].trim_start().starts_with('{') {
                return &code[..at];
            }
        }
        from = at + 1;
    }
    code
}

/// Paths a file names: `use` trees expanded, plus every inline `crate::`/`super::` path. Each is its segments.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    // `use` declarations (also `pub use`, `pub(crate) use`).
    let mut i = 0;
    while let Some(p) = code[i..].find("use ") {
        let at = i + p;
        i = at + 4;
        if at > 0 && ident(bytes[at - 1]) {
            continue;
        }
        let Some(end) = code[at..].find(';') else { break };
        expand(&[], &code[at + 4..at + end], &mut out);
        i = at + end;
    }
    // Inline paths.
    for key in ["crate::", "super::"] {
        let mut i = 0;
        while let Some(p) = code[i..].find(key) {
            let at = i + p;
            i = at + key.len();
            if at > 0 && (ident(bytes[at - 1]) || bytes[at - 1] == b':') {
                continue;
            }
            let mut end = at;
            while end < bytes.len() && (ident(bytes[end]) || bytes[end] == b':') {
                end += 1;
            }
            out.push(code[at..end].split("::").filter(|s| !s.is_empty()).map(str::to_string).collect());
        }
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`, `x as y`, `self`) into paths.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    if let Some(open) = tree.find('{') {
        let head: Vec<String> =
            tree[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        let mut base = prefix.to_vec();
        base.extend(head);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[start..k], out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[start..], out);
    } else {
        // `x as y` names `x`; `self` in a group names the group's module.
        let leaf = tree.split_whitespace().collect::<Vec<_>>();
        let leaf = match leaf.iter().position(|w| *w == "as") {
            Some(k) => leaf[..k].concat(),
            None => leaf.concat(),
        };
        let mut p = prefix.to_vec();
        p.extend(leaf.split("::").filter(|s| !s.is_empty() && *s != "self").map(str::to_string));
        if !p.is_empty() {
            out.push(p);
        }
    }
}

/// The module file a path names, seen from `module`: the longest prefix that is a module of the crate.
fn resolve(modules: &BTreeSet<Vec<String>>, module: &[String], path: &[String]) -> Option<Vec<String>> {
    let (mut base, rest): (Vec<String>, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("super" | "self") => {
            let mut base = module.to_vec();
            let mut k = 0;
            while k < path.len() && (path[k] == "super" || path[k] == "self") {
                if path[k] == "super" {
                    base.pop();
                }
                k += 1;
            }
            (base, &path[k..])
        }
        // A child module named without `self::` (`use kprobe::KprobeStep` in `event/mod.rs`).
        Some(first) => {
            let mut child = module.to_vec();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            (module.to_vec(), path)
        }
        None => return None,
    };
    base.extend(rest.iter().cloned());
    (0..=base.len()).rev().map(|n| base[..n].to_vec()).find(|m| modules.contains(m))
}

fn layer_of(c: &Crate, module: &[String]) -> usize {
    let name = module.join("::");
    let mut best: Option<(usize, usize)> = None;
    for (li, (_, prefixes)) in c.layers.iter().enumerate() {
        for p in *prefixes {
            let matches = if p.is_empty() { name.is_empty() } else { name == *p || name.starts_with(&format!("{p}::")) };
            if matches && best.is_none_or(|(len, _)| p.len() >= len) {
                best = Some((p.len(), li));
            }
        }
    }
    best.unwrap_or_else(|| panic!("{}: module `{name}` is in no layer; add it to tests/layers.rs", c.src)).1
}

/// Module → modules it names (test modules excluded: `tests.rs`, `*_tests.rs`, `test_fixtures.rs` and inline
/// `mod tests`).
fn graph(c: &Crate) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = root().join(c.src);
    let files = rust_files(&src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut g = BTreeMap::new();
    for f in &files {
        let m = module_of(&src, f);
        let last = m.last().map_or("", String::as_str);
        if last == "tests" || last.ends_with("_tests") || last == "test_fixtures" {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("readable source");
        let code = code_only(&text);
        let mut to = BTreeSet::new();
        for p in paths_in(without_inline_tests(&code)) {
            if let Some(t) = resolve(&modules, &m, &p) {
                let is_test = t.last().is_some_and(|l| l == "tests" || l.ends_with("_tests") || l == "test_fixtures");
                if t != m && !is_test {
                    to.insert(t);
                }
            }
        }
        g.insert(m, to);
    }
    g
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "(crate root)".into()
    } else {
        m.join("::")
    }
}

/// Strongly connected components with more than one module (Tarjan, iterative over sorted maps: deterministic).
fn cycles(g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct T<'a> {
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on: BTreeSet<&'a Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a Vec<String>) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let Some((w, _)) = t.g.get_key_value(w) else { continue };
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on: BTreeSet::new(), out: Vec::new() };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn check_layers(c: &Crate) {
    let g = graph(c);
    assert!(g.len() > 5, "{}: found only {} modules", c.src, g.len());
    let mut up = Vec::new();
    for (from, tos) in &g {
        let lf = layer_of(c, from);
        for to in tos {
            let lt = layer_of(c, to);
            if lt > lf {
                up.push(format!(
                    "  {} ({}) -> {} ({})",
                    show(from),
                    c.layers[lf].0,
                    show(to),
                    c.layers[lt].0
                ));
            }
        }
    }
    assert!(up.is_empty(), "{}: imports from a lower layer into a higher one:\n{}", c.src, up.join("\n"));
    // Implied by the above; stated for the reader: every import cycle stays inside one layer.
    for comp in cycles(&g) {
        let layers: BTreeSet<usize> = comp.iter().map(|m| layer_of(c, m)).collect();
        assert_eq!(layers.len(), 1, "{}: an import cycle spans layers: {:?}", c.src, comp.iter().map(|m| show(m)).collect::<Vec<_>>());
    }
}

#[test]
fn kernel_model_imports_go_down_the_layers() {
    check_layers(&KERNEL_MODEL);
}

#[test]
fn sim_imports_go_down_the_layers() {
    check_layers(&SIM);
}

#[test]
fn probesim_imports_go_down_the_layers() {
    check_layers(&PROBESIM);
}

/// The checker itself: a `use` tree, a child module, `super::`, and paths in comments and strings that are not edges.
#[test]
fn the_import_parser_reads_use_trees_and_skips_text() {
    let code = code_only(
        "use crate::a::{b::{C, D}, e as f};\nuse kid::X;\n// crate::nope::Y\nlet s = \"crate::nor\"; let c = '\"'; \
         fn g<'a>(x: &'a super::h::I) {}\n",
    );
    let mut got: Vec<String> = paths_in(&code).into_iter().map(|p| p.join("::")).collect();
    got.sort();
    assert_eq!(got, ["crate::a", "crate::a::b::C", "crate::a::b::D", "crate::a::e", "kid::X", "super::h::I"]);
    assert!(!code.contains("nope") && !code.contains("nor"));
    let modules: BTreeSet<Vec<String>> =
        [vec![], vec!["a".to_string()], vec!["m".into()], vec!["m".into(), "kid".into()]].into_iter().collect();
    let m = vec!["m".to_string()];
    assert_eq!(resolve(&modules, &m, &["kid".into(), "X".into()]), Some(vec!["m".into(), "kid".into()]));
    assert_eq!(resolve(&modules, &m, &["crate".into(), "a".into(), "b".into()]), Some(vec!["a".into()]));
    assert_eq!(resolve(&modules, &m, &["std".into(), "fmt".into()]), None);
}

/// Lines of a file outside its tests: a whole test file counts 0, an inline `#[cfg(test)] mod` is cut.
fn lines_outside_tests(path: &Path) -> usize {
    let name = path.file_stem().map_or(String::new(), |s| s.to_string_lossy().into_owned());
    if name == "tests" || name.ends_with("_tests") || name == "test_fixtures" {
        return 0;
    }
    let text = std::fs::read_to_string(path).expect("readable source");
    let cut = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    cut.lines().count()
}

#[test]
fn no_source_file_is_over_900_lines_outside_tests() {
    let root = root();
    let mut over = Vec::new();
    for dir in ["kernel-model/src", "sim/src", "src"] {
        for f in rust_files(&root.join(dir)) {
            let rel = f.strip_prefix(&root).expect("under root").to_string_lossy().into_owned();
            let n = lines_outside_tests(&f);
            if n > MAX_LINES && !OVER_LIMIT_ALLOWED.contains(&rel.as_str()) {
                over.push(format!("  {rel}: {n} lines"));
            }
        }
    }
    assert!(over.is_empty(), "split these by what they model (limit {MAX_LINES} lines outside tests):\n{}", over.join("\n"));
}
