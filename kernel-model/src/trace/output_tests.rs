//! The renderers against the lines a real 6.1 kernel printed (`../shared/notes/real-kernel-6.1.md`): records that
//! correspond to those runs must render to exactly those lines.

use super::*;
use crate::arch::aarch64::trace_regs::Aarch64TraceRegs;
use crate::arch::x86_64::trace_regs::X86_64TraceRegs;
use crate::kallsyms::{Symbol, SymbolKind};
use crate::trace::trace_kprobe::{parse_command, Command};
use crate::trace::trace_probe::ParseEnv;
use crate::trace::RegsQuery;

fn sym(name: &str, addr: u64, size: u64) -> Symbol {
    Symbol { name: name.into(), addr: KernelVa(addr), size, kind: SymbolKind::Text, global: true }
}

fn x86_syms() -> Kallsyms {
    Kallsyms::new(vec![
        sym("kernel_clone", 0xffff_ffff_810a_0a60, 0x430),
        sym("do_sys_openat2", 0xffff_ffff_8136_3fa0, 0x170),
        sym("__x64_sys_openat", 0xffff_ffff_8136_4200, 0xa0),
        sym("vfs_read", 0xffff_ffff_8136_69e0, 0x310),
    ])
}

fn arm64_syms() -> Kallsyms {
    Kallsyms::new(vec![
        sym("kernel_clone", 0xffff_8000_0809_24f0, 0x4b0),
        sym("do_sys_openat2", 0xffff_8000_0830_0000, 0x190),
        sym("__arm64_sys_openat", 0xffff_8000_0830_0400, 0xbc),
        sym("vfs_read", 0xffff_8000_0831_0000, 0x2d0),
    ])
}

fn def(k: &Kallsyms, regs: &dyn RegsQuery, line: &str) -> ProbeDefinition {
    let env = ParseEnv { profile: KernelProfile::V6_12, kallsyms: k, regs };
    match parse_command(&env, line) {
        Ok(Some(Command::Create(d))) => d,
        other => panic!("{line}: {other:?}"),
    }
}

fn va(k: &Kallsyms, s: &str, off: u64) -> KernelVa {
    k.lookup_name(s).unwrap().addr.add(off)
}

fn rec(cpu: u32, comm: &str, pid: u32, flags: TraceFlags, ts_ns: u64, ip: ProbeIp, args: Vec<FetchedValue>) -> TraceRecord {
    TraceRecord { cpu, pid, comm: comm.into(), flags, ts_ns, event_id: 1338, ip, args }
}

fn s(v: &str) -> FetchedValue {
    FetchedValue::String(Some(v.into()))
}

/// The records of the notes' runs, rendered: (profile-independent expected line from the notes, rendered line).
fn rendered_real_lines() -> Vec<(&'static str, String)> {
    let p = KernelProfile::V6_12;
    let (kx, ka) = (x86_syms(), arm64_syms());
    let (rx, ra): (&dyn RegsQuery, &dyn RegsQuery) = (&X86_64TraceRegs, &Aarch64TraceRegs);
    let none = TraceFlags::default();
    let d = TraceFlags::irqs_off();
    let zff = TraceFlags { nmi: true, hardirq: true, preempt_count: 0xff, ..TraceFlags::default() };
    let myprobe_x = def(&kx, rx, "p:myprobe kernel_clone clone_flags=+0(%di):x64");
    let myprobe2_x = def(&kx, rx, "p:myprobe2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string");
    let myret_x = def(&kx, rx, "r:myret do_sys_openat2 $retval");
    let myoff5 = def(&kx, rx, "p:myoff5 vfs_read+5");
    let myextra = def(
        &kx,
        rx,
        "p:myextra do_sys_openat2 fn_s=+0(%si):string fn_u=+0(%si):ustring a1=$arg1:s32 comm=$comm ptr=%si sym=+0(%si):symbol",
    );
    let myretx = def(&kx, rx, "r:myretx do_sys_openat2 ret=$retval:s32 comm=$comm");
    let myprobe_a = def(&ka, ra, "p:myprobe kernel_clone clone_flags=+0(%x0):x64");
    let myprobe2_a = def(&ka, ra, "p:myprobe2 do_sys_openat2 dfd=%x0:s32 filename=+0(%x1):string");
    let myret_a = def(&ka, ra, "r:myret do_sys_openat2 $retval");
    let myoff8 = def(&ka, ra, "p:myoff8 vfs_read+8");
    let kp = |k: &Kallsyms, s: &str, o| ProbeIp::Kprobe { ip: va(k, s, o) };
    let kr = |k: &Kallsyms, f: &str, r: &str, o| ProbeIp::Kretprobe { func: va(k, f, 0), ret_ip: va(k, r, o) };
    let neg100 = FetchedValue::Scalar(u64::from(-100i32 as u32));
    vec![
        (
            "            init-1       [000] .....     4.068782: myprobe: (kernel_clone+0x0/0x430) clone_flags=0x1200000",
            print_kprobe_line(p, &kx, &myprobe_x, &rec(0, "init", 1, none, 4_068_782_000, kp(&kx, "kernel_clone", 0), vec![FetchedValue::Scalar(0x120_0000)])),
        ),
        (
            "             cat-139     [001] .....     4.076633: myprobe2: (do_sys_openat2+0x0/0x170) dfd=-100 filename=\"events/kprobes/enable\"",
            print_kprobe_line(p, &kx, &myprobe2_x, &rec(1, "cat", 139, none, 4_076_633_000, kp(&kx, "do_sys_openat2", 0), vec![neg100.clone(), s("events/kprobes/enable")])),
        ),
        (
            "             cat-139     [001] .....     4.077350: myret: (__x64_sys_openat+0x6a/0xa0 <- do_sys_openat2) arg1=0x3",
            print_kprobe_line(p, &kx, &myret_x, &rec(1, "cat", 139, none, 4_077_350_000, kr(&kx, "do_sys_openat2", "__x64_sys_openat", 0x6a), vec![FetchedValue::Scalar(3)])),
        ),
        (
            "             cat-139     [001] ..Zff     4.077840: myoff5: (vfs_read+0x5/0x310)",
            print_kprobe_line(p, &kx, &myoff5, &rec(1, "cat", 139, zff, 4_077_840_000, kp(&kx, "vfs_read", 5), vec![])),
        ),
        (
            "        kthreadd-2       [000] .....     4.100256: myprobe: (kernel_clone+0x0/0x430) clone_flags=0x800700",
            print_kprobe_line(p, &kx, &myprobe_x, &rec(0, "kthreadd", 2, none, 4_100_256_000, kp(&kx, "kernel_clone", 0), vec![FetchedValue::Scalar(0x80_0700)])),
        ),
        (
            "            init-1       [001] d....     2.121985: myprobe: (kernel_clone+0x0/0x4b0) clone_flags=0x1200000",
            print_kprobe_line(p, &ka, &myprobe_a, &rec(1, "init", 1, d, 2_121_985_000, kp(&ka, "kernel_clone", 0), vec![FetchedValue::Scalar(0x120_0000)])),
        ),
        (
            "             cat-138     [000] d....     2.135358: myprobe2: (do_sys_openat2+0x0/0x190) dfd=-100 filename=\"events/kprobes/enable\"",
            print_kprobe_line(p, &ka, &myprobe2_a, &rec(0, "cat", 138, d, 2_135_358_000, kp(&ka, "do_sys_openat2", 0), vec![neg100.clone(), s("events/kprobes/enable")])),
        ),
        (
            "             cat-138     [000] .....     2.135849: myret: (__arm64_sys_openat+0x70/0xbc <- do_sys_openat2) arg1=0x3",
            print_kprobe_line(p, &ka, &myret_a, &rec(0, "cat", 138, none, 2_135_849_000, kr(&ka, "do_sys_openat2", "__arm64_sys_openat", 0x70), vec![FetchedValue::Scalar(3)])),
        ),
        (
            "            init-1       [001] d....     2.131101: myoff8: (vfs_read+0x8/0x2d0)",
            print_kprobe_line(p, &ka, &myoff8, &rec(1, "init", 1, d, 2_131_101_000, kp(&ka, "vfs_read", 8), vec![])),
        ),
        (
            "             cat-710     [000] .....     9.249900: myextra: (do_sys_openat2+0x0/0x170) fn_s=\"/proc/version\" fn_u=\"/proc/version\" a1=-100 comm=\"cat\" ptr=0x7ffc8c2ddf90 sym=0x65762f636f72702f",
            print_kprobe_line(p, &kx, &myextra, &rec(0, "cat", 710, none, 9_249_900_000, kp(&kx, "do_sys_openat2", 0), vec![
                s("/proc/version"), s("/proc/version"), neg100, s("cat"),
                FetchedValue::Scalar(0x7ffc_8c2d_df90), FetchedValue::Scalar(0x6576_2f63_6f72_702f),
            ])),
        ),
        (
            "             cat-711     [000] .....     9.257982: myretx: (__x64_sys_openat+0x6a/0xa0 <- do_sys_openat2) ret=-2 comm=\"cat\"",
            print_kprobe_line(p, &kx, &myretx, &rec(0, "cat", 711, none, 9_257_982_000, kr(&kx, "do_sys_openat2", "__x64_sys_openat", 0x6a), vec![FetchedValue::Scalar(u64::from(-2i32 as u32)), s("cat")])),
        ),
    ]
}

#[test]
fn event_lines_match_the_real_kernel_byte_for_byte() {
    for (want, got) in rendered_real_lines() {
        assert_eq!(got, format!("{want}\n"));
    }
}

#[test]
fn event_lines_keep_the_column_layout() {
    // Field by field: comm right-aligned to column 16, `-PID` padded to 7, `[CPU]` at 25, flags at 31, the
    // timestamp's `:` at 49 — on every line of the notes.
    for (want, got) in rendered_real_lines() {
        for line in [want, got.trim_end()] {
            assert_eq!(&line[16..17], "-", "{line}");
            assert_eq!((&line[25..26], &line[29..30]), ("[", "]"), "{line}");
            assert_eq!(&line[49..51], ": ", "{line}");
        }
    }
}

#[test]
fn five_ten_has_four_flag_columns() {
    let k = x86_syms();
    let d = def(&k, &X86_64TraceRegs, "p:myprobe kernel_clone clone_flags=+0(%di):x64");
    let r = rec(0, "init", 1, TraceFlags::default(), 4_068_782_000, ProbeIp::Kprobe { ip: va(&k, "kernel_clone", 0) }, vec![FetchedValue::Scalar(0x120_0000)]);
    assert_eq!(
        print_kprobe_line(KernelProfile::V5_10, &k, &d, &r),
        "            init-1       [000] ....     4.068782: myprobe: (kernel_clone+0x0/0x430) clone_flags=0x1200000\n"
    );
    let f = TraceFlags { irqs_off: true, bh_off: true, preempt_count: 0x21, ..TraceFlags::default() };
    assert_eq!(f.render(KernelProfile::V6_12), "D..12");
    assert_eq!(f.render(KernelProfile::V5_10), "d..21");
}

#[test]
fn header_per_profile() {
    let h = trace_header(KernelProfile::V6_12, 34, 34, 2);
    // real-kernel-6.1.md, "Trace header", byte for byte.
    assert_eq!(
        h,
        "# tracer: nop\n#\n# entries-in-buffer/entries-written: 34/34   #P:2\n#\n\
#                                _-----=> irqs-off/BH-disabled\n\
#                               / _----=> need-resched\n\
#                              | / _---=> hardirq/softirq\n\
#                              || / _--=> preempt-depth\n\
#                              ||| / _-=> migrate-disable\n\
#                              |||| /     delay\n\
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n\
#              | |         |   |||||     |         |\n"
    );
    let h5 = trace_header(KernelProfile::V5_10, 1, 2, 4);
    assert!(h5.contains("#P:4") && !h5.contains("migrate-disable") && !h5.contains("BH-disabled"));
    assert!(h5.contains("#           TASK-PID     CPU#  ||||   TIMESTAMP  FUNCTION\n"));
}

/// The myprobe / myprobe2 / myret format files of the notes (`␉` = TAB).
fn formats() -> Vec<String> {
    let k = x86_syms();
    let r: &dyn RegsQuery = &X86_64TraceRegs;
    vec![
        event_format(&def(&k, r, "p:myprobe kernel_clone clone_flags=+0(%di):x64"), 1338),
        event_format(&def(&k, r, "p:myprobe2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string"), 1339),
        event_format(&def(&k, r, "r:myret do_sys_openat2 $retval"), 1340),
    ]
}

#[test]
fn format_files_match_the_real_kernel() {
    let f = formats();
    assert_eq!(
        f[0],
        "name: myprobe\nID: 1338\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\
\n\
\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;\n\
\tfield:u64 clone_flags;\toffset:16;\tsize:8;\tsigned:0;\n\
\n\
print fmt: \"(%lx) clone_flags=0x%Lx\", REC->__probe_ip, REC->clone_flags\n"
    );
    assert!(f[1].contains("\tfield:s32 dfd;\toffset:16;\tsize:4;\tsigned:1;\n"));
    assert!(f[1].contains("\tfield:__data_loc char[] filename;\toffset:20;\tsize:4;\tsigned:1;\n"));
    assert!(f[1].ends_with(
        "print fmt: \"(%lx) dfd=%d filename=\\\"%s\\\"\", REC->__probe_ip, REC->dfd, __get_str(filename)\n"
    ));
    assert!(f[2].contains("\tfield:unsigned long __probe_func;\toffset:8;\tsize:8;\tsigned:0;\n"));
    assert!(f[2].contains("\tfield:unsigned long __probe_ret_ip;\toffset:16;\tsize:8;\tsigned:0;\n"));
    assert!(f[2].contains("\tfield:u64 arg1;\toffset:24;\tsize:8;\tsigned:0;\n"));
    assert!(f[2].ends_with("print fmt: \"(%lx <- %lx) arg1=0x%Lx\", REC->__probe_func, REC->__probe_ret_ip, REC->arg1\n"));
    // Arrays split as TYPE NAME[N]; bitfields show their container type.
    let k = x86_syms();
    let a = event_format(&def(&k, &X86_64TraceRegs, "p:arr vfs_read a=+0(%di):u8[4] b=+0(%si):b3@1/16"), 1);
    assert!(a.contains("\tfield:u8 a[4];\toffset:16;\tsize:4;\tsigned:0;\n"));
    assert!(a.contains("\tfield:u16 b;\toffset:20;\tsize:2;\tsigned:0;\n"));
    assert!(a.contains("a={%u,%u,%u,%u} b=%u\", REC->__probe_ip, REC->a[0], REC->a[1], REC->a[2], REC->a[3], REC->b"));
}

#[test]
fn profile_and_list_lines() {
    assert_eq!(kprobe_profile_line("myprobe", 8, 0), "  myprobe                                                    8               0\n");
    let k = x86_syms();
    let ftrace = KprobeListFlags { ftrace: true, ..KprobeListFlags::default() };
    let lines = [
        kprobes_list_line(KernelVa(0xffff_ffff_810a_0a60), false, Some(("kernel_clone", 0)), None, ftrace, &k),
        kprobes_list_line(KernelVa(0xffff_ffff_8136_3fa0), true, Some(("do_sys_openat2", 0)), None, ftrace, &k),
        kprobes_list_line(KernelVa(0xffff_ffff_8136_69e5), false, Some(("vfs_read", 5)), None, KprobeListFlags { optimized: true, ..KprobeListFlags::default() }, &k),
        kprobes_list_line(KernelVa(0xffff_ffff_810a_0a60), false, Some(("kernel_clone", 0)), None, KprobeListFlags { disabled: true, ftrace: true, ..KprobeListFlags::default() }, &k),
        kprobes_list_line(KernelVa(0xffff_8000_0809_24f0), false, Some(("kernel_clone", 0)), None, KprobeListFlags::default(), &k),
        kprobes_list_line(KernelVa(0xffff_8000_0809_24f0), false, Some(("kernel_clone", 0)), None, KprobeListFlags { disabled: true, ..KprobeListFlags::default() }, &k),
    ];
    let want = [
        "ffffffff810a0a60  k  kernel_clone+0x0    [FTRACE]\n",
        "ffffffff81363fa0  r  do_sys_openat2+0x0    [FTRACE]\n",
        "ffffffff813669e5  k  vfs_read+0x5    [OPTIMIZED]\n",
        "ffffffff810a0a60  k  kernel_clone+0x0    [DISABLED][FTRACE]\n",
        "ffff8000080924f0  k  kernel_clone+0x0    \n",
        "ffff8000080924f0  k  kernel_clone+0x0    [DISABLED]\n",
    ];
    for (g, w) in lines.iter().zip(want) {
        assert_eq!(g, w);
    }
}

#[test]
fn type_printing() {
    let k = x86_syms();
    let p = |t, v| print_type(t, &FetchedValue::Scalar(v), &k);
    assert_eq!(p(BaseType::U8, 0x1ff), "255");
    assert_eq!(p(BaseType::S8, 0xff), "-1");
    assert_eq!(p(BaseType::S64, u64::MAX), "-1");
    assert_eq!(p(BaseType::X16, 0x1_beef), "0xbeef");
    assert_eq!(p(BaseType::U64, u64::MAX), "18446744073709551615");
    assert_eq!(p(BaseType::Char, 0x41), "'A'");
    assert_eq!(p(BaseType::Symbol, 0xffff_ffff_810a_0a70), "kernel_clone+0x10/0x430");
    assert_eq!(print_type(BaseType::String, &FetchedValue::String(None), &k), "(fault)");
    let bf = Bitfield { width: 4, offset: 2, container: 32 };
    assert_eq!(apply_bitfield(bf, 0b11_1100), 0b1111);
    assert_eq!(apply_bitfield(Bitfield { width: 64, offset: 0, container: 64 }, u64::MAX), u64::MAX);
}

#[test]
fn rendered_output_appears_in_the_notes_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/notes/real-kernel-6.1.md");
    let notes = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e} (this test needs the notes)"));
    let notes = notes.replace('␉', "\t");
    for (_, got) in rendered_real_lines() {
        assert!(notes.contains(&got), "not in the notes: {got:?}");
    }
    assert!(notes.contains(&trace_header(KernelProfile::V6_12, 34, 34, 2)[..]), "header");
    // The myprobe format file (the notes show the x86 ID).
    assert!(notes.contains(&formats()[0]), "format file");
    assert!(notes.contains(&kprobe_profile_line("myprobe", 8, 0)));
}

#[test]
fn blacklist_and_trace_file() {
    assert_eq!(
        kprobes_blacklist_line(KernelVa(0xffff_ffff_81c0_0990), KernelVa(0xffff_ffff_81c0_09b0), "asm_exc_divide_error"),
        "0xffffffff81c00990-0xffffffff81c009b0\tasm_exc_divide_error\n"
    );
    assert_eq!(kprobes_enabled_file(false), "1\n");
    let k = x86_syms();
    let d = def(&k, &X86_64TraceRegs, "p:myprobe kernel_clone clone_flags=+0(%di):x64");
    let mut rb = crate::trace::ring_buffer::RingBuffer::new(2, 16);
    let ip = ProbeIp::Kprobe { ip: va(&k, "kernel_clone", 0) };
    rb.commit(rec(1, "sh", 5, TraceFlags::default(), 2_000, ip, vec![FetchedValue::Scalar(1)]));
    rb.commit(rec(0, "init", 1, TraceFlags::default(), 1_000, ip, vec![FetchedValue::Scalar(2)]));
    let text = trace_file(KernelProfile::V6_12, &k, rb.total_entries(), &rb.iter_merged(), 2, &|id| (id == 1338).then(|| d.clone()));
    assert!(text.starts_with("# tracer: nop\n#\n# entries-in-buffer/entries-written: 2/2   #P:2\n"));
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("init-1") && lines[0].ends_with("clone_flags=0x2"), "merged by timestamp: {lines:?}");
    assert!(lines[1].contains("sh-5"));
}
