//! `check-transparency` over every function of every arm64 fixture, under both kernel profiles: every probeable
//! instruction must behave the same probed and unprobed, with hits equal to executions. The class column is checked
//! against an independent classification from the disassembler's mnemonic (yaxpeax-arm), not from our decoder.

use kernel_model::profile::KernelProfile;
use probesim::transparency::{check, Check, InsnVerdict};
use std::path::PathBuf;

/// Runs `check-transparency` on `symbol(args)` of the fixture `obj` (relative to `fixtures/`) on 2 CPUs.
fn verdicts(obj: &str, symbol: &str, args: &[&str], kernel: KernelProfile) -> Vec<InsnVerdict> {
    let c = Check {
        elf: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(obj),
        symbol: symbol.into(),
        args: args.iter().map(|s| (*s).to_string()).collect(),
        kernel,
        cpus: 2,
    };
    check(&c).unwrap_or_else(|e| panic!("{symbol}: {e}"))
}

/// (object, function, arguments) — arguments chosen so the function returns normally.
const CASES: &[(&str, &str, &[&str])] = &[
    ("arm64-probe-targets/arm64-probe-targets.o", "op_double", &["5"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "op_square", &["5"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "op_negate", &["5"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "op_inc", &["5"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "kprobe_stacktrace_internal_target", &[]),
    ("arm64-probe-targets/arm64-probe-targets.o", "kprobe_stacktrace_target", &[]),
    ("arm64-probe-targets/arm64-probe-targets.o", "kprobe_stacktrace_driver", &[]),
    ("arm64-probe-targets/arm64-probe-targets.o", "kprobe_target", &["1234"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "kprobe_target2", &["1234"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "kprobe_recursed_target", &["1234"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "bump", &["7"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "branch_mix", &["0", "0x20", "1", "2"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "branch_mix", &["1", "0", "5", "-1"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "dispatch_op", &["6", "0x1234", "3"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "call_indirect", &["1", "7"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "copy_and_sum", &["&scratch_array", "&sample_array", "8"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "ll_sc_add_return", &["5", "&probe_counter"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "arith", &["3", "4", "5", "64"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "literal_loads", &["0"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "literal_loads", &["1"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "read_daif", &[]),
    ("arm64-probe-targets/arm64-probe-targets.o", "irq_mask_roundtrip", &[]),
    ("arm64-probe-targets/arm64-probe-targets.o", "copy_from_kernel_nofault", &["&scratch_array", "&sample_array", "16"]),
    ("arm64-probe-targets/arm64-probe-targets.o", "copy_from_kernel_nofault", &["&scratch_array", "&sample_array", "7"]),
    ("arm64-clone/arm64-clone.o", "__arm64_sys_clone", &["&clone_regs"]),
    ("arm64-clone/arm64-clone.o", "kernel_clone", &["&clone_regs"]),
    ("arm64-clone/arm64-clone.o", "literal_pool_value", &[]),
    ("arm64-clone/arm64-clone.o", "cpu_relax_loop", &["3"]),
    ("arm64-icache/arm64-icache.o", "icache_value", &[]),
    ("arm64-icache/arm64-icache.o", "icache_loop", &["3"]),
];

/// The class the kernel's rules give an instruction, derived from the disassembler's text alone.
fn class_from_mnemonic(text: &str) -> Option<&'static str> {
    let mnemonic = text.split_whitespace().next().unwrap_or("");
    Some(match mnemonic {
        "b" | "bl" => "simulated:b_bl",
        m if m.starts_with("b.") => "simulated:b_cond",
        "cbz" | "cbnz" => "simulated:cbz_cbnz",
        "tbz" | "tbnz" => "simulated:tbz_tbnz",
        "adr" | "adrp" => "simulated:adr_adrp",
        "br" | "blr" | "ret" => "simulated:br_blr_ret",
        "ldr" if text.contains("$") => "simulated:ldr_literal",
        "ldrsw" if text.contains("$") => "simulated:ldrsw_literal",
        "prfm" if text.contains("$") => "rejected",
        "autiasp" | "autibsp" | "wfi" | "wfe" | "brk" | "svc" | "hvc" | "eret" | "msr" => "rejected",
        "mrs" if text.contains("s3_3_c4_c2_1") || text.contains("daif") => "rejected",
        _ => return None, // xol, or rejected by the atomic-sequence scan: not decidable from one mnemonic
    })
}

const X86_CASES: &[(&str, &[&str])] = &[
    ("text_poke_target", &["10"]),
    ("op_double", &["5"]),
    ("op_square", &["5"]),
    ("op_negate", &["5"]),
    ("op_inc", &["5"]),
    ("kprobe_stacktrace_internal_target", &[]),
    ("kprobe_stacktrace_target", &[]),
    ("kprobe_stacktrace_driver", &[]),
    ("kprobe_target", &["1234"]),
    ("kprobe_target2", &["1234"]),
    ("kprobe_recursed_target", &["1234"]),
    ("rip_rel_update", &["5"]),
    ("bump", &["7"]),
    ("branch_mix", &["0", "0x20", "1", "2"]),
    ("branch_mix", &["1", "0", "5", "-1"]),
    ("dispatch_op", &["6", "0x1234", "3"]),
    ("call_indirect", &["1", "7"]),
    ("copy_and_sum", &["&scratch_array", "&sample_array", "8"]),
    ("__x64_sys_clone", &["&clone_regs"]),
    ("text_poke_detour", &["10"]),
    ("copy_from_kernel_nofault", &["&scratch_array", "&sample_array", "16"]),
    ("copy_from_kernel_nofault", &["&scratch_array", "&sample_array", "7"]),
];

/// The 6.12 class of a direct branch, from the disassembler's AT&T text alone.
fn x86_612_class_from_mnemonic(text: &str) -> Option<&'static str> {
    let mnemonic = text.split_whitespace().next().unwrap_or("");
    let direct = text.split_whitespace().nth(1).is_some_and(|op| op.starts_with("0x"));
    Some(match mnemonic {
        "ret" | "retq" => "emulated:ret",
        "call" | "callq" if direct => "emulated:call",
        "jmp" | "jmpq" if direct => "emulated:jmp",
        m if m.starts_with('j') && m != "jmp" && m != "jmpq" && direct => "emulated:jcc",
        _ => return None,
    })
}

#[test]
fn every_x86_fixture_instruction_is_transparent() {
    let mut checked = 0;
    for obj in ["x86-probe-targets/x86-probe-targets.o", "x86-probe-targets/x86-probe-targets-ibt.o"] {
        for kernel in [KernelProfile::V5_10, KernelProfile::V6_12] {
            for (symbol, args) in X86_CASES {
                for v in &verdicts(obj, symbol, args, kernel) {
                    assert_ne!(v.verdict, "different", "{obj} {kernel} {symbol}+{:#x} {} ({}): {}", v.offset, v.text, v.class, v.why);
                    if kernel == KernelProfile::V6_12 {
                        if let Some(want) = x86_612_class_from_mnemonic(&v.text) {
                            assert_eq!(v.class, want, "{obj} {kernel} {symbol}+{:#x} {}", v.offset, v.text);
                        }
                    } else {
                        assert!(
                            ["boosted", "single-step", "rejected"].contains(&v.class.as_str()),
                            "5.10 has no emulation: {symbol}+{:#x} {} is {}",
                            v.offset,
                            v.text,
                            v.class
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    println!("check-transparency x86_64: {checked} instructions checked");
    assert!(checked > 800, "only {checked} instructions were checked");
}

#[test]
fn every_arm64_fixture_instruction_is_transparent() {
    let mut checked = 0;
    for kernel in [KernelProfile::V5_10, KernelProfile::V6_12] {
        for (obj, symbol, args) in CASES {
            for v in &verdicts(obj, symbol, args, kernel) {
                assert_ne!(v.verdict, "different", "{kernel} {symbol}+{:#x} {} ({}): {}", v.offset, v.text, v.class, v.why);
                if let Some(want) = class_from_mnemonic(&v.text) {
                    assert_eq!(v.class, want, "{kernel} {symbol}+{:#x} {}", v.offset, v.text);
                }
                if v.class == "rejected" {
                    assert_eq!(v.verdict, "rejected");
                }
                checked += 1;
            }
        }
    }
    println!("check-transparency: {checked} instructions checked");
    assert!(checked > 500, "only {checked} instructions were checked");
}
