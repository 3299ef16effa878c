use super::*;
use crate::arch::x86_64::trace_regs::X86_64TraceRegs;
use crate::kallsyms::{Kallsyms, Symbol, SymbolKind};
use crate::trace::error_log::render_entry;
use crate::trace::trace_kprobe::{parse_command, Command};
use crate::trace::trace_probe::ParseEnv;
use crate::KernelVa;

fn myprobe2() -> ProbeDefinition {
    let k = Kallsyms::new(vec![Symbol {
        name: "do_sys_openat2".into(),
        addr: KernelVa(0xffff_ffff_8136_3fa0),
        size: 0x170,
        kind: SymbolKind::Text,
        global: true,
    }]);
    let env = ParseEnv { profile: KernelProfile::V6_12, kallsyms: &k, regs: &X86_64TraceRegs };
    match parse_command(&env, "p:myprobe2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string") {
        Ok(Some(Command::Create(d))) => d,
        other => panic!("{other:?}"),
    }
}

fn rec(pid: u32, cpu: u32, comm: &str, dfd: i32, file: &str) -> TraceRecord {
    TraceRecord {
        cpu,
        pid,
        comm: comm.into(),
        flags: TraceFlags::default(),
        ts_ns: 0,
        event_id: 1339,
        ip: ProbeIp::Kprobe { ip: KernelVa(0xffff_ffff_8136_3fa0) },
        args: vec![FetchedValue::Scalar(u64::from(dfd as u32)), FetchedValue::String(Some(file.into()))],
    }
}

#[test]
fn the_notes_filters() {
    // real-kernel-6.1.md, "Filter": `common_pid != 1` keeps only the child's line; reading it back.
    let d = myprobe2();
    let f = apply_event_filter(KernelProfile::V6_12, &d, "common_pid != 1\n").unwrap().unwrap();
    assert_eq!(f.read(), "common_pid != 1\n");
    assert!(!f.matches(&rec(1, 0, "init", -100, "/proc/version")));
    assert!(f.matches(&rec(164, 0, "cat", -100, "/proc/cmdline")));
    let g = apply_event_filter(KernelProfile::V6_12, &d, "filename ~ \"*cmdline*\"").unwrap().unwrap();
    assert!(g.matches(&rec(164, 0, "cat", -100, "/proc/cmdline")));
    assert!(!g.matches(&rec(1, 0, "init", -100, "/dev/null")));
    // The bad filter: EINVAL, the filter file text and the error_log entry.
    for p in [KernelProfile::V5_10, KernelProfile::V6_12] {
        let e = apply_event_filter(p, &d, "nosuchfield == 1").unwrap_err();
        assert_eq!(e.errno, Errno::EINVAL);
        assert_eq!(e.filter_file, "nosuchfield == 1\n            ^\nparse_error: Field not found\n\n");
        assert_eq!(
            render_entry(4_786_925_000, &e.log),
            "[    4.786925] event filter parse error: error: Field not found\n  Command: nosuchfield == 1\n                       ^\n"
        );
    }
    assert_eq!(apply_event_filter(KernelProfile::V6_12, &d, "0").unwrap(), None, "`0` clears the filter");
}

#[test]
fn precedence_and_negation() {
    let d = myprobe2();
    let f = |s: &str| apply_event_filter(KernelProfile::V6_12, &d, s).unwrap().unwrap();
    let r1 = rec(1, 0, "init", 3, "a");
    let r2 = rec(2, 1, "cat", -100, "b");
    // && binds tighter than ||.
    let e = f("common_pid == 2 || dfd == 3 && cpu == 1");
    assert!(e.matches(&r2));
    assert!(!e.matches(&r1), "dfd == 3 but cpu is 0");
    assert!(f("!(common_pid == 1)").matches(&r2));
    assert!(!f("!(common_pid == 1 || dfd < 0)").matches(&r2));
    assert!(f("dfd < 0").matches(&r2), "s32 compares signed");
    assert!(f("dfd & 0x2").matches(&r1));
    assert!(f("comm == \"cat\"").matches(&r2));
    assert!(f("COMM ~ \"ca*\"").matches(&r2));
    assert!(f("filename ~ \"[ab]\"").matches(&r1));
    assert!(f("filename != \"a\"").matches(&r2));
    assert!(f("filename ~ \"!a\"").matches(&r2), "a leading ! in a glob inverts");
}

#[test]
fn parse_errors_and_their_errnos() {
    let d = myprobe2();
    let e = |s: &str| {
        let e = apply_event_filter(KernelProfile::V6_12, &d, s).unwrap_err();
        (e.errno, e.log.message, e.log.pos)
    };
    let inval = Errno::EINVAL;
    assert_eq!(e("dfd =< 1"), (inval, "Invalid operator", 5));
    assert_eq!(e("dfd == \"x\""), (inval, "Expecting numeric field", 8));
    assert_eq!(e("filename == 1"), (inval, "Expecting string field", 13));
    assert_eq!(e("dfd == 1x"), (inval, "Illegal integer value", 8));
    assert_eq!(e("dfd == x"), (inval, "Invalid value (did you forget quotes)?", 8));
    assert_eq!(e("dfd ~ 1"), (inval, "Illegal operation for field type", 7));
    assert_eq!(e("filename < \"a\""), (inval, "Illegal operation for field type", 12));
    // calc_stack's codes come back as the write's errno: -1 EPERM, -2 ENOENT, -3 ESRCH.
    assert_eq!(e("(dfd == 1"), (Errno::ENOENT, "Too many '('", 0));
    assert_eq!(e("dfd == 1)"), (Errno::EPERM, "Too few '('", 8));
    assert_eq!(e("filename == \"x"), (Errno::ESRCH, "Missing matching quote", 12));
    assert_eq!(e("dfd == 1 & dfd == 2").1, "Too many terms in predicate expression");
}

#[test]
fn glob() {
    assert!(glob_match(b"*cmd*", b"/proc/cmdline"));
    assert!(glob_match(b"a?c", b"abc"));
    assert!(!glob_match(b"a?c", b"ac"));
    assert!(glob_match(b"[!x]b", b"ab"));
    assert!(glob_match(b"a\\*", b"a*"));
    assert!(!glob_match(b"a\\*", b"ab"));
}
