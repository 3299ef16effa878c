//! The verifier corpus: every `tests/verifier/*.s` (the assembler syntax of `docs/bpf-asm.md`) is verified under
//! both kernel profiles, and its header says what the kernel does with it:
//!
//! ```text
//! # expect: accept                        (both profiles)
//! # expect: refuse <the kernel's message> (both profiles)
//! # expect 5.10: refuse …                 (one profile; then `expect 6.12:` too)
//! # map: hash|array|ringbuf|perf_event_array KEY VALUE ENTRIES   (map id 1, 2, … in order)
//! # prog: kprobe|tracepoint|raw_tp        (default kprobe)
//! # license: MIT                          (default GPL)
//! # isa: aarch64                          (default x86_64)
//! # capable: no                           (a loader without CAP_BPF)
//! ```
//!
//! A refusal must be the log's message line exactly, followed by the statistics line. Also: every fixture's BPF
//! object loads through the verifier under both profiles and ISAs.

use kernel_model::bpf::maps::MapType;
use kernel_model::bpf::verifier::{bpf_check, MapInfo, ProgType, VerifierEnv};
use kernel_model::bpf::{assemble, BpfRuntime};
use kernel_model::profile::KernelProfile;
use kernel_model::Isa;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verifier");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "s"))
        .collect();
    v.sort();
    v
}

fn header<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix(": "))
        .map(str::trim)
        .collect()
}

fn map_type(s: &str) -> MapType {
    match s {
        "hash" => MapType::Hash,
        "array" => MapType::Array,
        "ringbuf" => MapType::Ringbuf,
        "perf_event_array" => MapType::PerfEventArray,
        _ => panic!("unknown map type {s}"),
    }
}

#[test]
fn corpus_matches_the_kernel() {
    let files = corpus();
    let (mut accepts, mut refuses, mut failures) = (0, 0, Vec::new());
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let insns = assemble(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let maps: Vec<MapInfo> = header(&text, "map")
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let f: Vec<&str> = m.split_whitespace().collect();
                MapInfo {
                    id: i as u32 + 1,
                    map_type: map_type(f[0]),
                    key_size: f[1].parse().unwrap(),
                    value_size: f[2].parse().unwrap(),
                    max_entries: f[3].parse().unwrap(),
                }
            })
            .collect();
        let prog_type = match header(&text, "prog").first().copied() {
            None | Some("kprobe") => ProgType::Kprobe,
            Some("tracepoint") => ProgType::Tracepoint,
            Some("raw_tp") => ProgType::RawTracepoint,
            Some(o) => panic!("{name}: unknown prog {o}"),
        };
        let isa = if header(&text, "isa").first() == Some(&"aarch64") {
            Isa::Aarch64
        } else {
            Isa::X86_64
        };
        let gpl = header(&text, "license").first().is_none_or(|l| *l == "GPL");
        for profile in [KernelProfile::V5_10, KernelProfile::V6_12] {
            let key = format!("expect {}", profile.name());
            let expect = header(&text, &key)
                .first()
                .or(header(&text, "expect").first())
                .copied();
            let expect = expect.unwrap_or_else(|| panic!("{name}: no expect line for {profile}"));
            let mut env = VerifierEnv::new(profile, isa, prog_type, gpl, &maps);
            env.bpf_capable = header(&text, "capable").first() != Some(&"no");
            env.log_level = 1;
            let v = bpf_check(&insns, &env);
            let last: Vec<&str> = v.log.lines().rev().take(2).collect();
            assert!(
                last[0].starts_with("processed "),
                "{name}: the log ends with the statistics: {}",
                v.log
            );
            let got = match &v.result {
                Ok(()) => "accept".to_string(),
                Err(r) => {
                    assert_eq!(
                        last[1], r.message,
                        "{name}: the message is the log's last line before the stats"
                    );
                    format!("refuse {}", r.message)
                }
            };
            if got != expect {
                failures.push(format!(
                    "{name} ({profile}): expected `{expect}`, got `{got}`"
                ));
            }
            if expect == "accept" {
                accepts += 1;
            } else {
                refuses += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks differ:\n{}",
        failures.len(),
        accepts + refuses,
        failures.join("\n")
    );
    assert!(files.len() >= 40, "the corpus has {} programs", files.len());
    eprintln!(
        "{} programs: {} accept and {} refuse checks over both profiles",
        files.len(),
        accepts,
        refuses
    );
}

#[test]
fn log_levels_print_instructions_and_states() {
    let insns =
        assemble("mov %r0, 0\nldxdw %r2, [%r1+0]\njeq %r2, 0, +1\nmov %r0, 1\nexit").unwrap();
    let mut env = VerifierEnv::new(
        KernelProfile::V6_12,
        Isa::X86_64,
        ProgType::Kprobe,
        true,
        &[],
    );
    assert_eq!(
        bpf_check(&insns, &env).log.lines().count(),
        1,
        "level 0: the statistics only"
    );
    env.log_level = 1;
    let log = bpf_check(&insns, &env).log;
    assert!(
        log.starts_with(
            "0: (b7) r0 = 0\n1: (79) r2 = *(u64 *)(r1 +0)\n2: (15) if r2 == 0x0 goto pc+1\n"
        ),
        "{log}"
    );
    assert!(
        log.contains("from 2 to 4: R0=0 R1=ctx() R2=0 R10=fp0\n"),
        "{log}"
    );
    assert!(log.ends_with("processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"), "{log}");
    env.log_level = 2;
    let log = bpf_check(&insns, &env).log;
    assert!(log.contains("1: R0=0 R1=ctx() R10=fp0\n"), "{log}");
    env.profile = KernelProfile::V5_10;
    let log = bpf_check(&insns, &env).log;
    assert!(
        log.contains("1: R0=inv0 R1=ctx(id=0,off=0,imm=0) R10=fp0\n"),
        "{log}"
    );
}

#[test]
fn every_fixture_object_is_accepted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut objects = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("bpf-")
        {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "o") {
                objects.push(f);
            }
        }
    }
    objects.sort();
    assert!(objects.len() >= 4, "{objects:?}");
    for obj in &objects {
        for profile in [KernelProfile::V5_10, KernelProfile::V6_12] {
            for isa in [Isa::Aarch64, Isa::X86_64] {
                let mut rt = BpfRuntime::new(profile, isa, 2);
                let bytes = std::fs::read(obj).expect("fixture readable");
                let ids = rt
                    .load_object(obj, &bytes)
                    .unwrap_or_else(|e| panic!("{} ({profile}, {isa:?}): {e}", obj.display()));
                assert!(!ids.is_empty());
            }
        }
    }
}
