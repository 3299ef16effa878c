//! The BPF runtime end to end against a flat test machine: the fixtures' real clang-built objects (seed 000's BCC
//! hello, seed 002's execsnoop, a counters object with legacy/per-CPU/ring buffer maps and global data), map
//! semantics through programs, `trace_call_bpf`'s guard and AND, `bpf_override_return`, and every bad-input case
//! as a typed error naming the file/section/program and instruction.

use kernel_model::ptrace::PtRegs;
use kernel_model::bpf::helpers::{TaskInfo, TraceFlags};
use kernel_model::bpf::maps::{MapDef, MapType, BPF_ANY};
use kernel_model::errno::Errno;
use kernel_model::bpf::object::{AttachPoint, BpfObject, BpfObjectError, MapOrigin};
use kernel_model::bpf::runtime::{print, BpfRuntime, ProgId, TraceCallStep};
use kernel_model::bpf::BpfError;
use kernel_model::event::{BpfBuffer, EventKind};
use kernel_model::kallsyms::{Kallsyms, Symbol, SymbolKind};
use kernel_model::machine::GuestMemory;
use kernel_model::profile::KernelProfile;
use kernel_model::{CpuId, Isa, KernelVa};
use std::path::PathBuf;
use kernel_model::testing::FakeMachine;

// ---- a flat machine ------------------------------------------------------------------------------------------------

/// The shared fake machine with two CPUs, no memory (tests map what they need) and two kernel functions.
fn test_machine(isa: Isa) -> FakeMachine {
    let mut m = FakeMachine::bare(isa, 2);
    m.add_symbol("__arm64_sys_clone", 0xffff_ffc0_1009_6100, 0x40);
    m.add_symbol("do_sys_openat2", 0xffff_ffc0_1020_0000, 0x190);
    m
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

/// The crate does no I/O: tests read the fixture and parse its bytes.
fn open_object(path: PathBuf) -> Result<BpfObject, BpfObjectError> {
    let bytes = std::fs::read(&path).map_err(|e| BpfObjectError::Io { path: path.clone(), message: e.to_string() })?;
    BpfObject::parse(&path, &bytes)
}

fn load_object(rt: &mut BpfRuntime, path: PathBuf) -> Result<Vec<kernel_model::bpf::ProgId>, BpfObjectError> {
    rt.load(&open_object(path)?)
}

const CPU0: CpuId = CpuId(0);

// ---- seed 000: BCC hello -------------------------------------------------------------------------------------------

/// The 87 bytes seed 000's `strace -e read=6` shows BCC reading from trace_pipe (5.10.110, RK3588): the seed's
/// hex dump, verbatim. (Its text rendering collapses the two spaces before the timestamp.)
const SEED_000_HEX: &str = "20 20 20 20 20 20 20 20 20 20 20 20 62 61 73 68
                            2d 33 31 30 39 20 20 20 20 5b 30 30 30 5d 20 64
                            2e 2e 2e 20 20 31 33 35 30 2e 30 34 33 34 39 33
                            3a 20 62 70 66 5f 74 72 61 63 65 5f 70 72 69 6e
                            74 6b 3a 20 48 65 72 65 20 69 73 20 59 6f 75 72
                            4c 61 6e 64 21 0a 0a";
const SEED_000_READ: &str = "            bash-3109    [000] d...  1350.043493: bpf_trace_printk: Here is YourLand!\n\n";

#[test]
fn the_expected_line_is_the_seed_bytes() {
    let bytes: Vec<u8> = SEED_000_HEX.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
    assert_eq!(bytes.len(), 87);
    assert_eq!(bytes, SEED_000_READ.as_bytes());
}

#[test]
fn hello_object_loads_as_bcc_loads_it() {
    let obj = open_object(fixture("bpf-hello/hello.bpf.o")).unwrap();
    assert_eq!(obj.name, "hello");
    assert_eq!(obj.license, "GPL");
    assert!(obj.maps.is_empty());
    assert_eq!(obj.programs.len(), 1);
    let p = &obj.programs[0];
    assert_eq!(p.name, "hello");
    assert_eq!(p.section, "kprobe/__arm64_sys_clone");
    assert_eq!(p.attach, AttachPoint::Kprobe { symbol: Some("__arm64_sys_clone".into()) });
    assert_eq!(p.insns.len(), 16, "seed 000's BPF_PROG_LOAD had insn_cnt=16");
}

#[test]
fn hello_prints_the_seed_000_trace_pipe_line() {
    let mut m = test_machine(Isa::Aarch64);
    m.now = 1_350_043_493_000; // 1350.043493 s
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    let ids = load_object(&mut rt, fixture("bpf-hello/hello.bpf.o")).unwrap();
    assert_eq!(ids, vec![ProgId(1)]);
    let task = TaskInfo::new(3109, "bash");
    let mut regs = PtRegs::new(Isa::Aarch64);
    regs.set_ip(0xffff_ffc0_1009_6100);
    let before = regs.clone();
    let out = rt.trace_call_bpf(&mut m, CPU0, &task, &ids, &mut regs);
    assert_eq!(out.ret, 0, "hello returns 0: the event is filtered");
    assert!(!out.ip_changed && !out.missed && out.errors.is_empty());
    assert_eq!(out.kprobe_perf_func_ret(), 0);
    assert_eq!(regs, before);
    assert_eq!(rt.trace_pipe(), [SEED_000_READ.to_string()]);
    assert_eq!(SEED_000_READ.len(), 87);
    assert_eq!(rt.take_trace_pipe(), SEED_000_READ);
    assert!(rt.trace_pipe().is_empty(), "reading trace_pipe consumes");
    // Events: the printk line, then the run.
    let names: Vec<&str> = m.events.iter().map(|(_, e)| e.name()).collect();
    assert_eq!(names, ["trace_printk", "bpf_run"]);
    assert_eq!(
        m.events[1].1,
        EventKind::BpfRun { prog: "hello".into(), id: 1, ret: 0, insns: 16 - 2, helper_calls: 1 },
        "16 slots, two of them lddw second halves"
    );
    assert_eq!(m.charged.iter().sum::<u64>(), 14);
    assert_eq!(bcc_line(SEED_000_READ), "1350.043493000     bash             3109   Here is YourLand!");
}

fn bcc_line(entry: &str) -> String {
    print::bcc_trace_fields(entry).unwrap()
}

#[test]
fn hello_on_6_12_and_x86_has_the_newer_flags() {
    let mut m = test_machine(Isa::Aarch64);
    m.now = 6_651_037_000;
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let ids = load_object(&mut rt, fixture("bpf-hello/hello.bpf.o")).unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    rt.trace_call_bpf(&mut m, CpuId(1), &TaskInfo::new(706, "bpf_hello"), &ids, &mut regs);
    // real-kernel-6.1.md, arm64: "       bpf_hello-706     [001] d...1     6.651037: bpf_trace_printk: Here is YourLand!"
    assert_eq!(
        rt.trace_pipe(),
        ["       bpf_hello-706     [001] d...1     6.651037: bpf_trace_printk: Here is YourLand!\n\n".to_string()]
    );
    let mut m = test_machine(Isa::X86_64);
    m.now = 9_426_796_000;
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::X86_64, 2);
    let ids = load_object(&mut rt, fixture("bpf-hello/hello.bpf.o")).unwrap();
    let mut regs = PtRegs::new(Isa::X86_64);
    rt.trace_call_bpf(&mut m, CPU0, &TaskInfo::new(717, "bpf_hello"), &ids, &mut regs);
    // real-kernel-6.1.md, x86_64 (an ftrace-based kprobe).
    assert_eq!(
        rt.take_trace_pipe(),
        "       bpf_hello-717     [000] ...21     9.426796: bpf_trace_printk: Here is YourLand!\n\n"
    );
    assert_eq!(TraceFlags::kprobe_default(Isa::X86_64).render(KernelProfile::V5_10), "...2");
}

#[test]
fn prog_list_has_the_kernel_tag() {
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    load_object(&mut rt, fixture("bpf-hello/hello.bpf.o")).unwrap();
    load_object(&mut rt, fixture("bpf-execsnoop/execsnoop.bpf.o")).unwrap();
    // Tags cross-checked with sha1sum over the section bytes (map lddws: src_reg set, imm zeroed, as
    // bpf_prog_calc_tag hashes them).
    assert_eq!(
        rt.prog_list(),
        "1: kprobe  name hello  tag 692e7f7aa8f18bf6  gpl\n\txlated 128B  not jited  memlock 4096B\n\
         2: kprobe  name execve_entry  tag bd23746f7577d1ff  gpl\n\txlated 1304B  not jited  memlock 4096B  map_ids 1,3\n\
         3: kprobe  name execve_exit  tag 3edc27d53ab6bef1  gpl\n\txlated 256B  not jited  memlock 4096B  map_ids 1,2\n"
    );
    assert_eq!(
        rt.map_list(),
        "1: hash  name execs  flags 0x0\n\tkey 4B  value 352B  max_entries 10240\n\
         2: perf_event_array  name events  flags 0x0\n\tkey 4B  value 4B  max_entries 2\n\
         3: array  name execsnoo.rodata  flags 0x480\n\tkey 4B  value 352B  max_entries 1\n"
    );
}

// ---- seed 002: execsnoop -------------------------------------------------------------------------------------------

const UREGS: u64 = 0xffff_ff80_0800_0000; // the user's struct pt_regs on the task's kernel stack
const USER: u64 = 0x0000_aaaa_0000_0000; // user memory: strings and argv

/// Sets up an execve("/bin/sh", ["/bin/sh", "-c", "which ps", NULL]) as `__arm64_sys_execve` sees it.
fn execve_machine(argv: &[&str]) -> FakeMachine {
    let mut m = test_machine(Isa::Aarch64);
    let mut user = vec![0u8; 0x1000];
    let argv_at = 0x800usize;
    let mut at = 0x10usize;
    let mut ptrs = Vec::new();
    for a in argv {
        user[at..at + a.len()].copy_from_slice(a.as_bytes());
        ptrs.push(USER + at as u64);
        at += a.len() + 1;
    }
    ptrs.push(0);
    for (i, p) in ptrs.iter().enumerate() {
        user[argv_at + 8 * i..argv_at + 8 * i + 8].copy_from_slice(&p.to_le_bytes());
    }
    m.map(USER, user);
    let mut uregs = vec![0u8; 336];
    uregs[..8].copy_from_slice(&(USER + 0x10).to_le_bytes()); // x0: filename
    uregs[8..16].copy_from_slice(&(USER + argv_at as u64).to_le_bytes()); // x1: argv
    m.map(UREGS, uregs);
    m
}

#[test]
fn execsnoop_object_has_btf_maps_and_two_programs() {
    let obj = open_object(fixture("bpf-execsnoop/execsnoop.bpf.o")).unwrap();
    assert_eq!(obj.license, "Dual BSD/GPL");
    assert!(obj.gpl_compatible());
    let maps: Vec<(&str, MapType, u32, u32, u32, &MapOrigin)> = obj
        .maps
        .iter()
        .map(|m| (m.def.name.as_str(), m.def.map_type, m.def.key_size, m.def.value_size, m.def.max_entries, &m.origin))
        .collect();
    assert_eq!(
        maps,
        [
            ("execs", MapType::Hash, 4, 352, 10240, &MapOrigin::Btf),
            ("events", MapType::PerfEventArray, 4, 4, 0, &MapOrigin::Btf),
            ("execsnoo.rodata", MapType::Array, 4, 352, 1, &MapOrigin::GlobalData { section: ".rodata".into() }),
        ]
    );
    let progs: Vec<(&str, &AttachPoint)> = obj.programs.iter().map(|p| (p.name.as_str(), &p.attach)).collect();
    assert_eq!(
        progs,
        [
            ("execve_entry", &AttachPoint::Kprobe { symbol: Some("__arm64_sys_execve".into()) }),
            ("execve_exit", &AttachPoint::Kretprobe { symbol: Some("__arm64_sys_execve".into()) }),
        ]
    );
}

#[test]
fn execsnoop_reads_strings_and_emits_a_perf_record() {
    let mut m = execve_machine(&["/bin/sh", "-c", "which ps"]);
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    let ids = load_object(&mut rt, fixture("bpf-execsnoop/execsnoop.bpf.o")).unwrap();
    let (entry, exit) = (ids[0], ids[1]);
    let task = TaskInfo::new(276_871, "sh");
    // kprobe at __arm64_sys_execve entry: x0 = the user's pt_regs.
    let mut regs = PtRegs::new(Isa::Aarch64);
    regs.set_arg(0, UREGS);
    let out = rt.trace_call_bpf(&mut m, CpuId(1), &task, &[entry], &mut regs);
    assert_eq!((out.ret, out.errors.len()), (0, 0), "{:?}", out.errors);
    let execs = rt.map_by_name("execs").unwrap();
    let entries = execs.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, 276_871u32.to_le_bytes());
    let v = &entries[0].1;
    assert_eq!(&v[16..20], &276_871i32.to_le_bytes(), "event->pid");
    assert_eq!(&v[24..28], &3i32.to_le_bytes(), "args_count");
    assert_eq!(&v[28..32], &20u32.to_le_bytes(), "args_size, NULs included");
    assert_eq!(&v[32..52], b"/bin/sh\0-c\0which ps\0");
    assert!(rt.perf_records().is_empty());
    // A second exec by the same pid while the first is in flight: BPF_NOEXIST fails, the program returns early.
    let out = rt.trace_call_bpf(&mut m, CpuId(1), &task, &[entry], &mut regs);
    assert_eq!(out.ret, 0);
    // kretprobe: x0 = the return value.
    let mut regs = PtRegs::new(Isa::Aarch64);
    regs.set_arg(0, 0);
    let out = rt.trace_call_bpf(&mut m, CpuId(1), &task, &[exit], &mut regs);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(rt.map_by_name("execs").unwrap().is_empty(), "deleted at exit");
    let recs = rt.take_perf_records();
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].map_name.as_str(), recs[0].cpu, recs[0].data.len()), ("events", 1, 32 + 20));
    assert_eq!(print::EXECSNOOP_HEADER, "COMM             PID    RET ARGS");
    // Seed 002's line is "sh               276871   0 /bin/sh -c which ps"; print_args turns the last NUL into a
    // space too, which the web page does not show.
    assert_eq!(print::execsnoop_event(&recs[0].data).unwrap(), "sh               276871   0 /bin/sh -c which ps ");
    let outputs = m.kinds("bpf_output");
    assert_eq!(outputs, [&EventKind::BpfOutput { map: "events".into(), buffer: BpfBuffer::Perf, cpu: 1, size: 52 }]);
}

#[test]
fn execsnoop_truncates_long_argument_lists() {
    let mut m = execve_machine(&["/usr/bin/env", "a", "b", "c", "d", "e", "f"]);
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let ids = load_object(&mut rt, fixture("bpf-execsnoop/execsnoop.bpf.o")).unwrap();
    let task = TaskInfo::new(42, "bash");
    let mut regs = PtRegs::new(Isa::Aarch64);
    regs.set_arg(0, UREGS);
    rt.trace_call_bpf(&mut m, CPU0, &task, &ids[..1], &mut regs);
    let mut regs = PtRegs::new(Isa::Aarch64);
    regs.set_arg(0, (-2i64) as u64);
    rt.trace_call_bpf(&mut m, CPU0, &task, &ids[1..], &mut regs);
    let recs = rt.take_perf_records();
    assert_eq!(print::execsnoop_event(&recs[0].data).unwrap(), "bash             42      -2 /usr/bin/env a b c d  ...");
}

#[test]
fn execsnoop_user_fault_gives_an_empty_string() {
    // argv[1] points to unmapped user memory: bpf_probe_read_user_str returns -EFAULT, zeroes its buffer, and the
    // program's `ret > ARGSIZE` check stops there.
    let mut m = execve_machine(&["/bin/true"]);
    let argv = USER + 0x800;
    m.write(KernelVa(argv + 8), &0x0000_aaaa_dead_0000u64.to_le_bytes()).unwrap();
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    let ids = load_object(&mut rt, fixture("bpf-execsnoop/execsnoop.bpf.o")).unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    regs.set_arg(0, UREGS);
    let out = rt.trace_call_bpf(&mut m, CPU0, &TaskInfo::new(7, "x"), &ids[..1], &mut regs);
    assert!(out.errors.is_empty());
    let v = &rt.map_by_name("execs").unwrap().entries()[0].1;
    assert_eq!(&v[24..28], &1i32.to_le_bytes(), "only the filename was counted");
    assert_eq!(&v[32..42], b"/bin/true\0");
}

// ---- the counters object: legacy maps, per-CPU array, ring buffer, global data ---------------------------------------

#[test]
fn counters_object_uses_every_map_kind() {
    let mut m = test_machine(Isa::Aarch64);
    let name_at = 0xffff_ff80_0900_0000u64;
    m.map(name_at, b"/etc/passwd\0".to_vec());
    m.now = 5_000_000_123;
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let obj = open_object(fixture("bpf-hello/counters.bpf.o")).unwrap();
    let kinds: Vec<(&str, MapType, &MapOrigin)> =
        obj.maps.iter().map(|m| (m.def.name.as_str(), m.def.map_type, &m.origin)).collect();
    assert_eq!(
        kinds,
        [
            ("percpu_hits", MapType::PercpuArray, &MapOrigin::Btf),
            ("samples", MapType::Ringbuf, &MapOrigin::Btf),
            ("hits", MapType::Array, &MapOrigin::Legacy),
            ("counters.rodata", MapType::Array, &MapOrigin::GlobalData { section: ".rodata".into() }),
            ("counters.bss", MapType::Array, &MapOrigin::GlobalData { section: ".bss".into() }),
        ]
    );
    let ids = rt.load(&obj).unwrap();
    let task = TaskInfo { pid: 1001, tgid: 1000, comm: "cat".into(), task_struct: KernelVa(0), uid: 0, gid: 0 };
    for cpu in [CpuId(0), CpuId(1), CpuId(1)] {
        let mut regs = PtRegs::new(Isa::Aarch64);
        regs.set_arg(1, name_at);
        let out = rt.trace_call_bpf(&mut m, cpu, &task, &ids, &mut regs);
        assert_eq!((out.ret, out.errors.len()), (1, 0), "{:?}", out.errors);
    }
    // Legacy array with the atomic add: 3. Per-CPU: 1 on CPU 0, 2 on CPU 1. .bss counter: 3.
    let hits = rt.map_by_name("hits").unwrap();
    assert_eq!(hits.entries()[0].1, 3u64.to_le_bytes());
    let pc = rt.map_by_name("percpu_hits").unwrap().entries();
    assert_eq!((pc[0].1.clone(), pc[1].1.clone()), (1u64.to_le_bytes().to_vec(), 2u64.to_le_bytes().to_vec()));
    assert_eq!(rt.map_by_name("counters.bss").unwrap().entries()[0].1, 3u64.to_le_bytes());
    // trace_printk with a .rodata format, %d and a %s on the BPF stack.
    assert_eq!(
        rt.trace_pipe()[2],
        "             cat-1001    [001] d...1     5.000000: bpf_trace_printk: open #3 by 1000: /etc/passwd\n\n"
    );
    // The ring buffer records.
    let samples_id = rt.map_by_name("samples").unwrap().id;
    let recs = rt.ringbuf_drain(samples_id);
    assert_eq!(recs.len(), 3);
    assert_eq!(&recs[2][..4], &1000u32.to_le_bytes(), "tgid");
    assert_eq!(&recs[2][4..8], &1u32.to_le_bytes(), "cpu");
    assert_eq!(&recs[2][8..16], &5_000_000_123u64.to_le_bytes(), "ktime_get_ns");
    assert_eq!(&recs[2][16..28], b"/etc/passwd\0");
    assert!(rt.ringbuf_drain(samples_id).is_empty());
    // Filtering through the const volatile in .rodata: set it as a loader would before load, via the map.
    let ro = rt.map_by_name("counters.rodata").unwrap().id;
    rt.map_mut(ro).unwrap().value_mut(0).unwrap()[..4].copy_from_slice(&999u32.to_le_bytes());
    let mut regs = PtRegs::new(Isa::Aarch64);
    assert_eq!(rt.trace_call_bpf(&mut m, CPU0, &task, &ids, &mut regs).ret, 0, "pid 1000 is filtered out");
    // The filtered run counted nothing (bpftool's rendering of these maps is src/bpftool's, tested there).
    assert_eq!(rt.map_by_name("counters.bss").unwrap().entries()[0].1, 3u64.to_le_bytes());
    let pc = rt.map_by_name("percpu_hits").unwrap().entries();
    assert_eq!((pc[0].1.clone(), pc[1].1.clone()), (1u64.to_le_bytes().to_vec(), 2u64.to_le_bytes().to_vec()));
}

// ---- trace_call_bpf: guard, AND, override ------------------------------------------------------------------------

fn ret_prog(rt: &mut BpfRuntime, name: &str, r0: i32) -> ProgId {
    rt.load_asm(name, &format!("mov %r0, {r0}\nexit")).unwrap()
}

#[test]
fn nested_call_returns_zero_and_counts_a_miss() {
    for profile in [KernelProfile::V5_10, KernelProfile::V6_12] {
        let mut m = test_machine(Isa::Aarch64);
        let mut rt = BpfRuntime::new(profile, Isa::Aarch64, 2);
        let p = ret_prog(&mut rt, "one", 1);
        let task = TaskInfo::new(1, "init");
        let mut regs = PtRegs::new(Isa::Aarch64);
        // A program is still running on CPU 0 (bpf_prog_active == 1) when the probe fires there.
        rt.bpf_prog_active_inc(CPU0);
        let out = rt.trace_call_bpf(&mut m, CPU0, &task, &[p], &mut regs);
        assert_eq!((out.ret, out.missed), (0, true));
        assert_eq!(rt.bpf_prog_active(CPU0), 1, "restored by __this_cpu_dec");
        assert_eq!(m.kinds("bpf_miss"), [&EventKind::BpfMiss { progs: vec!["one".into()] }]);
        assert!(m.kinds("bpf_run").is_empty());
        let misses = rt.prog(p).unwrap().misses;
        assert_eq!(misses, if profile == KernelProfile::V5_10 { 0 } else { 1 }, "{profile}");
        if profile == KernelProfile::V6_12 {
            assert!(rt.prog_list().contains("gpl recursion_misses 1\n"));
        }
        // Another CPU is not affected.
        let out = rt.trace_call_bpf(&mut m, CpuId(1), &task, &[p], &mut regs);
        assert_eq!((out.ret, out.missed), (1, false));
        rt.bpf_prog_active_dec(CPU0);
        assert_eq!(rt.trace_call_bpf(&mut m, CPU0, &task, &[p], &mut regs).ret, 1);
        assert_eq!(rt.bpf_prog_active(CPU0), 0);
    }
}

#[test]
fn a_helper_running_guest_code_keeps_bpf_prog_active_raised() {
    // bpf_probe_read_kernel(fp-8, 8, SRC) with copy_from_kernel_nofault in the image: the run suspends for the
    // guest call, a trace_call_bpf on the same CPU meanwhile is a miss (on another CPU it runs), and the resumed
    // helper copies what the guest wrote into its bounce buffer.
    const SRC: u64 = 0xffff_ffc0_1200_0000;
    const FUNC: u64 = 0xffff_ffc0_1000_03f0;
    const SP: u64 = 0xffff_ffc0_1400_4000;
    for (guest_ret, want) in [(0u64, 0x0807_0605_0403_0201u64), (-14i64 as u64, 0)] {
        let mut m = test_machine(Isa::Aarch64);
        let text = |name: &str, addr: u64| Symbol {
            name: name.into(),
            addr: KernelVa(addr),
            size: 0xf0,
            kind: SymbolKind::Text,
            global: true,
        };
        m.kallsyms = Kallsyms::new(vec![text("copy_from_kernel_nofault", FUNC)]);
        m.map(SRC, (1..=8).collect());
        m.map(SP - 0x1000, vec![0; 0x1000]);
        let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
        let src = format!("mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nlddw %r3, {SRC:#x}\ncall 113\nldxdw %r0, [%r10-8]\nexit");
        let reader = rt.load_asm("reader", &src).unwrap();
        let other = ret_prog(&mut rt, "other", 1);
        let task = TaskInfo::new(1, "init");
        let mut regs = PtRegs::new(Isa::Aarch64);
        regs.set_by_name("sp", SP);
        let step = rt.trace_call_bpf_resumable(&mut m, CPU0, &task, &[reader], &mut regs, SP - 0x400);
        let TraceCallStep::GuestCall(call) = step else {
            panic!("expected a guest call, got {step:?}")
        };
        let g = call.guest_call().unwrap().clone();
        let bounce = (SP - 0x400 - 8) & !0xf;
        assert_eq!(
            (g.func, g.func_name, g.helper),
            (
                KernelVa(FUNC),
                "copy_from_kernel_nofault",
                "bpf_probe_read_kernel"
            )
        );
        assert_eq!(
            (g.args.as_slice(), g.sp),
            ([bounce, SRC, 8].as_slice(), bounce)
        );
        assert_eq!(
            rt.bpf_prog_active(CPU0),
            1,
            "raised while the helper runs guest code"
        );
        // A probe with BPF fires inside the guest function: on this CPU the guard makes it a miss.
        let nested = rt.trace_call_bpf(
            &mut m,
            CPU0,
            &task,
            &[other],
            &mut PtRegs::new(Isa::Aarch64),
        );
        assert_eq!((nested.ret, nested.missed), (0, true));
        assert_eq!(rt.prog(other).unwrap().misses, 1);
        let elsewhere = rt.trace_call_bpf(
            &mut m,
            CpuId(1),
            &task,
            &[other],
            &mut PtRegs::new(Isa::Aarch64),
        );
        assert_eq!((elsewhere.ret, elsewhere.missed), (1, false));
        // The guest function copies (or fails) and returns.
        if guest_ret == 0 {
            let mut b = [0u8; 8];
            m.read(KernelVa(SRC), &mut b).unwrap();
            m.write(KernelVa(bounce), &b).unwrap();
        }
        let step = rt.trace_call_bpf_resume(&mut m, CPU0, &task, call, guest_ret, &mut regs);
        let TraceCallStep::Done(out) = step else {
            panic!("expected the end, got {step:?}")
        };
        assert!(!out.missed && out.errors.is_empty());
        assert_eq!(rt.bpf_prog_active(CPU0), 0);
        let runs: Vec<_> = m
            .kinds("bpf_run")
            .into_iter()
            .filter_map(|e| match e {
                EventKind::BpfRun {
                    prog,
                    ret,
                    insns,
                    helper_calls,
                    ..
                } if prog == "reader" => Some((*ret, *insns, *helper_calls)),
                _ => None,
            })
            .collect();
        // A failed copy zeroes the destination (bpf_probe_read_kernel_common's memset).
        assert_eq!(runs, [(want, 7, 1)]);
        assert_eq!(rt.prog(reader).unwrap().run_cnt, 1);
    }
}

#[test]
fn results_are_anded_starting_from_one() {
    let mut m = test_machine(Isa::Aarch64);
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let (one, three, two, zero) = (
        ret_prog(&mut rt, "one", 1),
        ret_prog(&mut rt, "three", 3),
        ret_prog(&mut rt, "two", 2),
        ret_prog(&mut rt, "zero", 0),
    );
    let task = TaskInfo::new(1, "init");
    let mut regs = PtRegs::new(Isa::Aarch64);
    let mut call = |ids: &[ProgId]| rt.trace_call_bpf(&mut m, CPU0, &task, ids, &mut regs).ret;
    assert_eq!(call(&[]), 1, "an empty array");
    assert_eq!(call(&[one, three]), 1);
    assert_eq!(call(&[one, two]), 0, "2 has bit 0 clear: filtered, though 'other values alias to 1'");
    assert_eq!(call(&[zero, one]), 0);
    assert_eq!(m.kinds("bpf_run").len(), 6, "every program runs, even after a 0");
}

#[test]
fn override_return_changes_ip_and_return_value() {
    let mut m = test_machine(Isa::Aarch64);
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let p = rt.load_asm("inject", "mov %r2, -12\ncall 58\nmov %r0, 0\nexit").unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    regs.set_ip(0xffff_ffc0_1020_0000);
    regs.set_by_name("lr", 0xffff_ffc0_1030_0040);
    regs.set_arg(0, 5);
    let out = rt.trace_call_bpf(&mut m, CPU0, &TaskInfo::new(1, "a"), &[p], &mut regs);
    assert!(out.ip_changed);
    assert_eq!(out.kprobe_perf_func_ret(), 1, "kprobe_perf_func returns 1: skip the single-step");
    assert_eq!(regs.ip(), 0xffff_ffc0_1030_0040, "arm64: pc = lr");
    assert_eq!(regs.return_value(), (-12i64) as u64);
    // x86 without just_return_func: the return address is popped.
    let mut m = test_machine(Isa::X86_64);
    m.map(0xffff_c900_0000_0ff8, 0xffff_ffff_8100_1234u64.to_le_bytes().to_vec());
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::X86_64, 2);
    let p = rt.load_asm("inject", "mov %r2, -12\ncall 58\nmov %r0, 0\nexit").unwrap();
    let mut regs = PtRegs::new(Isa::X86_64);
    regs.set_ip(0xffff_ffff_8120_0000);
    regs.set_by_name("sp", 0xffff_c900_0000_0ff8);
    let out = rt.trace_call_bpf(&mut m, CPU0, &TaskInfo::new(1, "a"), &[p], &mut regs);
    assert!(out.ip_changed);
    assert_eq!(
        (regs.ip(), regs.sp(), regs.return_value()),
        (0xffff_ffff_8100_1234, 0xffff_c900_0000_1000, (-12i64) as u64)
    );
}

// ---- helpers through asm programs --------------------------------------------------------------------------------

#[test]
fn map_helpers_through_a_program() {
    let mut m = test_machine(Isa::Aarch64);
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let h = rt.create_map(MapDef::new("h", MapType::Hash, 4, 8, 1, 0)).unwrap();
    let out = rt.create_map(MapDef::new("out", MapType::Array, 4, 16, 8, 0)).unwrap();
    // Update key 7 with NOEXIST twice, update key 8 (full), delete 7 twice; store each result in out[i].
    let prog = format!(
        "stw [%r10-4], 7
         stdw [%r10-16], 0x55
         lddw %r1, map_fd {h}
         mov %r2, %r10
         add %r2, -4
         mov %r3, %r10
         add %r3, -16
         mov %r4, 1
         call 2
         mov %r6, %r0
         stw [%r10-20], 0
         lddw %r1, map_fd {out}
         mov %r2, %r10
         add %r2, -20
         call 1
         jeq %r0, 0, fail
         stxdw [%r0], %r6
         stw [%r10-20], 1
         lddw %r1, map_fd {h}
         mov %r2, %r10
         add %r2, -4
         mov %r3, %r10
         add %r3, -16
         mov %r4, 1
         call 2
         mov %r6, %r0
         lddw %r1, map_fd {out}
         mov %r2, %r10
         add %r2, -20
         call 1
         jeq %r0, 0, fail
         stxdw [%r0], %r6
         stw [%r10-4], 8
         lddw %r1, map_fd {h}
         mov %r2, %r10
         add %r2, -4
         mov %r3, %r10
         add %r3, -16
         mov %r4, 0
         call 2
         mov %r6, %r0
         stw [%r10-20], 2
         lddw %r1, map_fd {out}
         mov %r2, %r10
         add %r2, -20
         call 1
         jeq %r0, 0, fail
         stxdw [%r0], %r6
         stw [%r10-4], 7
         lddw %r1, map_fd {h}
         mov %r2, %r10
         add %r2, -4
         call 3
         mov %r6, %r0
         lddw %r1, map_fd {h}
         mov %r2, %r10
         add %r2, -4
         call 3
         mov %r7, %r0
         stw [%r10-20], 3
         lddw %r1, map_fd {out}
         mov %r2, %r10
         add %r2, -20
         call 1
         jeq %r0, 0, fail
         stxdw [%r0], %r6
         stxdw [%r0+8], %r7
         mov %r0, 1
         exit
         fail:
         mov %r0, 0
         exit"
    );
    let p = rt.load_asm("maps", &prog).unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    let r = rt.run_prog(&mut m, CPU0, &TaskInfo::new(1, "a"), p, &mut regs);
    assert_eq!(r, Ok(1));
    let e = rt.map(out).unwrap().entries();
    let w = |i: usize, o: usize| i64::from_le_bytes(e[i].1[o..o + 8].try_into().unwrap());
    assert_eq!([w(0, 0), w(1, 0), w(2, 0), w(3, 0), w(3, 8)], [0, Errno::EEXIST.negated(), Errno::E2BIG.negated(), 0, Errno::ENOENT.negated()]);
    assert_eq!(rt.prog(p).unwrap().map_ids, [h, out]);
    // User-space view and update of the same map.
    rt.map_mut(h).unwrap().update(&9u32.to_le_bytes(), &[1; 8], BPF_ANY, 0).unwrap();
    assert_eq!(rt.map(h).unwrap().len(), 1);
}

#[test]
fn task_and_time_helpers() {
    let mut m = test_machine(Isa::Aarch64);
    m.now = 123_456;
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    let out = rt.create_map(MapDef::new("out", MapType::Array, 4, 48, 1, 0)).unwrap();
    let prog = format!(
        "stw [%r10-4], 0
         lddw %r1, map_fd {out}
         mov %r2, %r10
         add %r2, -4
         call 1
         jeq %r0, 0, +14
         mov %r6, %r0
         call 14
         stxdw [%r6], %r0
         call 5
         stxdw [%r6+8], %r0
         call 8
         stxdw [%r6+16], %r0
         call 35
         stxdw [%r6+24], %r0
         mov %r1, %r6
         add %r1, 32
         mov %r2, 16
         call 16
         mov %r0, 0
         exit"
    );
    let p = rt.load_asm("who", &prog).unwrap();
    let task = TaskInfo {
        pid: 11,
        tgid: 10,
        comm: "a-very-long-command-name".into(),
        task_struct: KernelVa(0xffff_ff80_0000_4000),
        uid: 0,
        gid: 0,
    };
    let mut regs = PtRegs::new(Isa::Aarch64);
    assert_eq!(rt.run_prog(&mut m, CpuId(1), &task, p, &mut regs), Ok(0));
    let v = rt.map(out).unwrap().entries()[0].1.clone();
    let w = |i: usize| u64::from_le_bytes(v[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!((w(0), w(1), w(2), w(3)), (10 << 32 | 11, 123_456, 1, 0xffff_ff80_0000_4000));
    assert_eq!(&v[32..48], b"a-very-long-com\0", "comm is 15 bytes and a NUL");
}

#[test]
fn probe_read_faults_zero_the_buffer() {
    let mut m = test_machine(Isa::Aarch64);
    m.map(0xffff_ff80_0000_0000, b"kernel!\0".to_vec());
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let out = rt.create_map(MapDef::new("out", MapType::Array, 4, 32, 1, 0)).unwrap();
    // r6 = value; probe_read_kernel(value, 8, good) ; probe_read_kernel(value+8, 8, bad) after filling it with 0xff;
    // probe_read_kernel_str(value+16, 16, good); results into r7, r8, r9 -> value[24..32] gets r8.
    let prog = format!(
        "stw [%r10-4], 0
         lddw %r1, map_fd {out}
         mov %r2, %r10
         add %r2, -4
         call 1
         jeq %r0, 0, out
         mov %r6, %r0
         mov %r1, %r6
         mov %r2, 8
         lddw %r3, 0xffffff8000000000
         call 113
         mov %r7, %r0
         stdw [%r6+8], -1
         mov %r1, %r6
         add %r1, 8
         mov %r2, 8
         lddw %r3, 0xffffff8000010000
         call 113
         mov %r8, %r0
         mov %r1, %r6
         add %r1, 16
         mov %r2, 8
         lddw %r3, 0xffffff8000000000
         call 115
         stxdw [%r6+24], %r8
         mov %r0, %r7
         out:
         exit"
    );
    let p = rt.load_asm("reads", &prog).unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    assert_eq!(rt.run_prog(&mut m, CPU0, &TaskInfo::new(1, "a"), p, &mut regs), Ok(0));
    let v = rt.map(out).unwrap().entries()[0].1.clone();
    assert_eq!(&v[..8], b"kernel!\0");
    assert_eq!(&v[8..16], &[0; 8], "a faulting read zeroes the destination");
    assert_eq!(&v[16..24], b"kernel!\0", "str copies up to and including the NUL");
    assert_eq!(i64::from_le_bytes(v[24..32].try_into().unwrap()), Errno::EFAULT.negated());
}

#[test]
fn perf_event_output_checks_like_the_kernel() {
    let mut m = test_machine(Isa::Aarch64);
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let ev = rt.create_map(MapDef::new("ev", MapType::PerfEventArray, 4, 4, 0, 0)).unwrap();
    assert_eq!(rt.map(ev).unwrap().def.max_entries, 2, "sized to the CPUs");
    let out = rt.create_map(MapDef::new("out", MapType::Array, 4, 8, 8, 0)).unwrap();
    // For each flags value in r7..: perf_event_output(ctx, ev, flags, &data, 8); results to out[i].
    let mut prog = String::from("mov %r6, %r1\nstdw [%r10-8], 0x1234\n");
    for (i, flags) in ["0xffffffff", "0", "1", "2", "0x100000000"].iter().enumerate() {
        prog.push_str(&format!(
            "mov %r1, %r6
             lddw %r2, map_fd {ev}
             lddw %r3, {flags}
             mov %r4, %r10
             add %r4, -8
             mov %r5, 8
             call 25
             mov %r9, %r0
             stw [%r10-12], {i}
             lddw %r1, map_fd {out}
             mov %r2, %r10
             add %r2, -12
             call 1
             jeq %r0, 0, +1
             stxdw [%r0], %r9
             "
        ));
    }
    prog.push_str("mov %r0, 0\nexit");
    let p = rt.load_asm("perf", &prog).unwrap();
    // CPU 0's buffer is closed by user space.
    rt.map_mut(ev).unwrap().set_perf_open(0, false);
    let mut regs = PtRegs::new(Isa::Aarch64);
    assert_eq!(rt.run_prog(&mut m, CpuId(1), &TaskInfo::new(1, "a"), p, &mut regs), Ok(0));
    let e = rt.map(out).unwrap().entries();
    let r: Vec<i64> = (0..5).map(|i| i64::from_le_bytes(e[i].1[..8].try_into().unwrap())).collect();
    // BPF_F_CURRENT_CPU -> buffer 1: ok; index 0: closed; index 1 = this CPU: ok; index 2 >= max_entries;
    // a flag outside BPF_F_INDEX_MASK.
    assert_eq!(r, [0, Errno::ENOENT.negated(), 0, Errno::E2BIG.negated(), Errno::EINVAL.negated()]);
    rt.map_mut(ev).unwrap().set_perf_open(0, true);
    assert_eq!(rt.run_prog(&mut m, CpuId(1), &TaskInfo::new(1, "a"), p, &mut regs), Ok(0));
    let e = rt.map(out).unwrap().entries();
    assert_eq!(i64::from_le_bytes(e[1].1[..8].try_into().unwrap()), Errno::EOPNOTSUPP.negated(), "another CPU's buffer");
    let recs = rt.take_perf_records();
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r.cpu == 1 && r.data == 0x1234u64.to_le_bytes()));
}

#[test]
fn ring_buffer_helpers() {
    let mut m = test_machine(Isa::Aarch64);
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let rb = rt.create_map(MapDef::new("rb", MapType::Ringbuf, 0, 0, 4096, 0)).unwrap();
    let prog = format!(
        "lddw %r1, map_fd {rb}
         mov %r2, 8
         mov %r3, 0
         call 131
         jeq %r0, 0, fail
         stdw [%r0], 0x11
         mov %r1, %r0
         mov %r2, 0
         call 133
         stdw [%r10-8], 0x22
         lddw %r1, map_fd {rb}
         mov %r2, %r10
         add %r2, -8
         mov %r3, 8
         mov %r4, 0
         call 130
         jne %r0, 0, fail
         lddw %r1, map_fd {rb}
         mov %r2, 5000
         mov %r3, 0
         call 131
         jeq %r0, 0, +4
         mov %r1, %r0
         mov %r2, 0
         call 133
         ja fail
         lddw %r1, map_fd {rb}
         mov %r2, 4
         mov %r3, 0
         call 131
         jeq %r0, 0, fail
         mov %r6, %r0
         stw [%r6], 0x33
         mov %r1, %r6
         mov %r2, 0
         call 132
         mov %r0, 1
         exit
         fail:
         mov %r0, 0
         exit"
    );
    let p = rt.load_asm("rb", &prog).unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    assert_eq!(rt.run_prog(&mut m, CPU0, &TaskInfo::new(1, "a"), p, &mut regs), Ok(1));
    assert_eq!(
        rt.ringbuf_drain(rb),
        [0x22u64.to_le_bytes().to_vec(), 0x33u32.to_le_bytes().to_vec()],
        "discarded: gone"
    );
    // A submitted record is no longer accessible: the verifier refuses the access (release_reference makes
    // every copy of the pointer a scalar), and the VM faults if the verifier is bypassed.
    let late = format!(
        "lddw %r1, map_fd {rb}\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +5\nmov %r6, %r0\n\
         mov %r1, %r0\nmov %r2, 0\ncall 132\nstdw [%r6], 1\nmov %r0, 0\nexit"
    );
    let e = rt.load_asm("late", &late).unwrap_err();
    assert_eq!(e.to_string(), "<asm>: program late: R6 invalid mem access 'scalar' (insn 10)");
    rt.verify = false;
    let q = rt
        .load_asm(
            "late",
            &format!(
                "lddw %r1, map_fd {rb}\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +5\nmov %r6, %r0\n\
                 mov %r1, %r0\nmov %r2, 0\ncall 132\nstdw [%r6], 1\nmov %r0, 0\nexit"
            ),
        )
        .unwrap();
    let e = rt.run_prog(&mut m, CPU0, &TaskInfo::new(1, "a"), q, &mut regs).unwrap_err();
    assert!(matches!(e.error, BpfError::OutOfBounds { pc: 10, write: true, .. }), "{e}");
}

#[test]
fn bad_printk_formats_return_einval_and_print_nothing() {
    let mut m = test_machine(Isa::Aarch64);
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    // "%n\0" on the stack.
    let p = rt.load_asm("bad", "stw [%r10-4], 0x6e25\nmov %r1, %r10\nadd %r1, -4\nmov %r2, 3\ncall 6\nexit").unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    assert_eq!(rt.run_prog(&mut m, CPU0, &TaskInfo::new(1, "a"), p, &mut regs), Ok(Errno::EINVAL.negated() as u64));
    assert!(rt.trace_pipe().is_empty());
}

// ---- bad input: typed errors --------------------------------------------------------------------------------------

fn hello_bytes() -> Vec<u8> {
    std::fs::read(fixture("bpf-hello/hello.bpf.o")).unwrap()
}

fn execsnoop_bytes() -> Vec<u8> {
    std::fs::read(fixture("bpf-execsnoop/execsnoop.bpf.o")).unwrap()
}

/// Replaces every occurrence of `from` (same length as `to`).
fn replace(b: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let hits: Vec<usize> = b.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
    assert!(!hits.is_empty(), "pattern present");
    for at in hits {
        b[at..at + to.len()].copy_from_slice(to);
    }
}

#[test]
fn malformed_elf_is_refused() {
    let e = BpfObject::parse("x.o", b"not an elf").unwrap_err();
    assert!(matches!(e, BpfObjectError::MalformedElf { .. }), "{e}");
    assert_eq!(e.to_string(), "x.o: malformed ELF: no ELF magic");
    let mut b = hello_bytes();
    b.truncate(0x100);
    let e = BpfObject::parse("hello.bpf.o", &b).unwrap_err();
    assert!(e.to_string().starts_with("hello.bpf.o: malformed ELF: section header 0 is outside the file"), "{e}");
    let mut b = hello_bytes();
    b[18] = 183; // EM_AARCH64
    let e = BpfObject::parse("hello.bpf.o", &b).unwrap_err();
    assert_eq!(e.to_string(), "hello.bpf.o: malformed ELF: e_machine 183 is not EM_BPF (247)");
    let e = open_object(fixture("bpf-hello/missing.o")).unwrap_err();
    assert!(matches!(e, BpfObjectError::Io { .. }));
}

#[test]
fn malformed_btf_is_refused() {
    let mut b = execsnoop_bytes();
    replace(&mut b, &[0x9f, 0xeb, 0x01, 0x00], &[0x9f, 0xeb, 0x02, 0x00]);
    let e = BpfObject::parse("execsnoop.bpf.o", &b).unwrap_err();
    assert_eq!(e.to_string(), "execsnoop.bpf.o: malformed BTF in section .BTF: unsupported version 2");
    // A BTF-defined map with a field libbpf does not know.
    let mut b = execsnoop_bytes();
    replace(&mut b, b"\0max_entries\0", b"\0max_entrieZ\0");
    let e = BpfObject::parse("execsnoop.bpf.o", &b).unwrap_err();
    assert_eq!(
        e.to_string(),
        "execsnoop.bpf.o: malformed BTF in section .maps: map 'execs': unknown field 'max_entrieZ'"
    );
}

#[test]
fn unknown_section_is_refused() {
    let mut b = hello_bytes();
    replace(&mut b, b"kprobe/__arm64_sys_clone\0", b"socket/__arm64_sys_clone\0");
    let e = BpfObject::parse("hello.bpf.o", &b).unwrap_err();
    assert_eq!(
        e,
        BpfObjectError::UnknownSection { path: "hello.bpf.o".into(), section: "socket/__arm64_sys_clone".into() }
    );
}

#[test]
fn unsupported_relocation_names_section_and_instruction() {
    let mut b = execsnoop_bytes();
    // The second relocation of .relkprobe/__arm64_sys_execve: r_offset 0x50 (insn 10, the .rodata lddw), made
    // R_BPF_64_32.
    let mut from = 0x50u64.to_le_bytes().to_vec();
    from.extend_from_slice(&(9u64 << 32 | 1).to_le_bytes());
    let mut to = 0x50u64.to_le_bytes().to_vec();
    to.extend_from_slice(&(9u64 << 32 | 10).to_le_bytes());
    replace(&mut b, &from, &to);
    let e = BpfObject::parse("execsnoop.bpf.o", &b).unwrap_err();
    match &e {
        BpfObjectError::UnsupportedRelocation { section, insn, rtype, symbol, .. } => {
            assert_eq!(
                (section.as_str(), *insn, *rtype, symbol.as_str()),
                ("kprobe/__arm64_sys_execve", 10, 10, ".rodata")
            );
        }
        other => panic!("{other}"),
    }
    assert!(e
        .to_string()
        .contains("section kprobe/__arm64_sys_execve, instruction 10: unsupported relocation type 10"));
}

#[test]
fn core_relocations_are_refused() {
    let mut b = execsnoop_bytes();
    // .BTF.ext header: hdr_len 32, func_info 0/36, line_info 36/1652, core_relo 1688/0 -> 16 bytes.
    let head = |core_len: u32| {
        let mut v = vec![0x9f, 0xeb, 1, 0];
        for w in [32u32, 0, 36, 36, 1652, 1688, core_len] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v
    };
    replace(&mut b, &head(0), &head(16));
    let e = BpfObject::parse("execsnoop.bpf.o", &b).unwrap_err();
    assert!(matches!(&e, BpfObjectError::UnsupportedRelocation { section, .. } if section == ".BTF.ext"), "{e}");
}

#[test]
fn unknown_helper_is_refused_at_load_and_at_run() {
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let e = rt.load_asm("nohelp", "mov %r0, 0\ncall 999\nexit").unwrap_err();
    assert_eq!(e.to_string(), "<asm>: program nohelp: invalid func unknown#999 (insn 1)");
    // A helper the kernel has that probesim does not model: the verifier says so (not "unknown func").
    let e = rt.load_asm("nohelp", "call 27\nexit").unwrap_err();
    assert_eq!(
        e.to_string(),
        "<asm>: program nohelp: helper 27 (bpf_get_stackid) is not modelled by probesim (docs/bpf-helpers.md) (insn 0)"
    );
    // Without the verifier, the loader's helper table refuses it the same way.
    rt.verify = false;
    let e = rt.load_asm("nohelp", "call 27\nexit").unwrap_err();
    assert_eq!(e, BpfObjectError::UnknownHelper { path: "<asm>".into(), prog: "nohelp".into(), pc: 0, id: 27 });
    assert_eq!(
        e.to_string(),
        "<asm>: program nohelp: instruction 0: helper 27 (bpf_get_stackid) is not modelled by probesim (docs/bpf-helpers.md)"
    );
    rt.verify = true;
    // callx is not an instruction Linux accepts; without the verifier it reaches the helper table at run time.
    let e = rt.load_asm("callx", "mov %r2, 77\ncall %r2\nexit").unwrap_err();
    assert_eq!(e.to_string(), "<asm>: program callx: BPF_CALL uses reserved fields (insn 1)");
    rt.verify = false;
    let p = rt.load_asm("callx", "mov %r2, 77\ncall %r2\nexit").unwrap();
    let mut m = test_machine(Isa::Aarch64);
    let mut regs = PtRegs::new(Isa::Aarch64);
    let task = TaskInfo::new(1, "a");
    let err = rt.run_prog(&mut m, CPU0, &task, p, &mut regs).unwrap_err();
    assert_eq!((err.prog.as_str(), &err.error), ("callx", &BpfError::UnknownHelper { pc: 1, id: 77 }));
    assert_eq!(err.to_string(), "program callx (id 1): unknown helper 77 called at instruction 1");
    // In trace_call_bpf the error is reported and the program counts as returning 0.
    let out = rt.trace_call_bpf(&mut m, CPU0, &task, &[p], &mut regs);
    assert_eq!((out.ret, out.errors.len()), (0, 1));
    assert_eq!(
        m.kinds("bpf_fault"),
        [&EventKind::BpfFault { prog: "callx".into(), error: BpfError::UnknownHelper { pc: 1, id: 77 } }]
    );
}

#[test]
fn out_of_bounds_and_infinite_loops_name_program_and_instruction() {
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    rt.budget = 10_000;
    // The verifier refuses all three at load, with the kernel's messages…
    let refused = |rt: &mut BpfRuntime, name: &str, src: &str| rt.load_asm(name, src).unwrap_err().to_string();
    assert_eq!(
        refused(&mut rt, "oob", "mov %r0, 0\nldxdw %r0, [%r1+336]\nexit"),
        "<asm>: program oob: invalid bpf_context access off=336 size=8 (insn 1)"
    );
    assert_eq!(
        refused(&mut rt, "ctxwrite", "stdw [%r1], 1\nmov %r0, 0\nexit"),
        "<asm>: program ctxwrite: BPF_ST stores into R1 ctx is not allowed (insn 0)"
    );
    assert_eq!(
        refused(&mut rt, "spin", "mov %r0, 0\nadd %r0, 1\nja -2\nexit"),
        "<asm>: program spin: unreachable insn 3 (insn 3)"
    );
    // …and the VM, the second line, stops them at run time when the verifier is bypassed.
    rt.verify = false;
    let oob = rt.load_asm("oob", "mov %r0, 0\nldxdw %r0, [%r1+336]\nexit").unwrap();
    let ro = rt.load_asm("ctxwrite", "stdw [%r1], 1\nmov %r0, 0\nexit").unwrap();
    let spin = rt.load_asm("spin", "mov %r0, 0\nadd %r0, 1\nja -2\nexit").unwrap();
    let mut m = test_machine(Isa::Aarch64);
    let mut regs = PtRegs::new(Isa::Aarch64);
    let task = TaskInfo::new(1, "a");
    let e = rt.run_prog(&mut m, CPU0, &task, oob, &mut regs).unwrap_err();
    assert!(matches!(e.error, BpfError::OutOfBounds { pc: 1, size: 8, write: false, .. }), "{e}");
    assert_eq!(e.prog, "oob");
    let e = rt.run_prog(&mut m, CPU0, &task, ro, &mut regs).unwrap_err();
    assert!(matches!(e.error, BpfError::OutOfBounds { pc: 0, write: true, .. }), "the ctx is read-only: {e}");
    let e = rt.run_prog(&mut m, CPU0, &task, spin, &mut regs).unwrap_err();
    assert_eq!((e.prog.as_str(), e.error), ("spin", BpfError::BudgetExhausted { pc: 2, budget: 10_000 }));
}

#[test]
fn gpl_only_helpers_need_a_gpl_license() {
    let mut b = hello_bytes();
    replace(&mut b, b"!\n\0GPL\0", b"!\n\0MIT\0");
    let obj = BpfObject::parse("hello.bpf.o", &b).unwrap();
    assert_eq!(obj.license, "MIT");
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    let e = rt.load(&obj).unwrap_err();
    assert_eq!(
        e.to_string(),
        "hello.bpf.o: program hello: cannot call GPL-restricted function from non-GPL compatible program (insn 13)"
    );
    assert!(rt.progs().is_empty() && rt.maps().is_empty(), "a failed load leaves nothing behind");
}

#[test]
fn bad_maps_and_map_references_are_refused() {
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let e = rt.create_map(MapDef::new("arr", MapType::Array, 8, 4, 1, 0)).unwrap_err();
    assert!(e.to_string().contains("map arr: array map needs key_size 4"), "{e}");
    let e = rt.load_asm("nomap", "lddw %r1, map_fd 99\nmov %r0, 0\nexit").unwrap_err();
    assert!(matches!(e, BpfObjectError::InvalidProgram { .. }), "{e}");
    assert!(e.to_string().contains("fd 99 is not pointing to valid bpf_map"), "{e}");
    // A program writing the read-only .rodata of a loaded object.
    let mut m = test_machine(Isa::Aarch64);
    load_object(&mut rt, fixture("bpf-execsnoop/execsnoop.bpf.o")).unwrap();
    let ro = rt.map_by_name("execsnoo.rodata").unwrap().id;
    let p = rt.load_asm("rowrite", &format!("lddw %r1, map_value {ro}, 8\nstw [%r1], 1\nmov %r0, 0\nexit")).unwrap();
    let mut regs = PtRegs::new(Isa::Aarch64);
    let e = rt.run_prog(&mut m, CPU0, &TaskInfo::new(1, "a"), p, &mut regs).unwrap_err();
    assert!(matches!(e.error, BpfError::OutOfBounds { pc: 2, write: true, .. }), "{e}");
}

/// A map larger than the runtime's memory budget fails as a failed `bpf_map_area_alloc` does: `-ENOMEM`
/// (issue 11, finding 3: `max_entries = 0x7fffffff` aborted allocating 51 GB). The budget is shared by all maps.
#[test]
fn map_memory_is_budgeted() {
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let e = rt.create_map(MapDef::new("big", MapType::Array, 4, 24, 0x7fff_ffff, 0)).unwrap_err();
    assert!(matches!(e, BpfObjectError::MapCreate { errno: Errno::ENOMEM, .. }), "{e}");
    assert!(e.to_string().contains("map big:") && e.to_string().ends_with("-ENOMEM (-12)"), "{e}");
    // A per-CPU array's cost is per CPU.
    let e = rt.create_map(MapDef::new("pc", MapType::PercpuArray, 4, 32 * 1024, 1 << 14, 0)).unwrap_err();
    assert!(matches!(e, BpfObjectError::MapCreate { errno: Errno::ENOMEM, .. }), "{e}");
    // Two maps of 600 MiB: the second does not fit what the first left.
    let half = MapDef::new("half", MapType::Array, 4, 1 << 20, 600, 0);
    rt.create_map(half.clone()).unwrap();
    let e = rt.create_map(half).unwrap_err();
    assert!(matches!(e, BpfObjectError::MapCreate { errno: Errno::ENOMEM, .. }), "{e}");
}

/// Sizes the kernel refuses before allocating keep its errno (a huge `value_size` used to hang).
#[test]
fn map_create_refusals_carry_the_errno() {
    let mut rt = BpfRuntime::new(KernelProfile::V5_10, Isa::Aarch64, 2);
    let e = rt.create_map(MapDef::new("v", MapType::Array, 4, u32::MAX, 1, 0)).unwrap_err();
    assert!(matches!(e, BpfObjectError::MapCreate { errno: Errno::E2BIG, .. }), "{e}");
    let e = rt.create_map(MapDef::new("z", MapType::Hash, 4, 8, 0, 0)).unwrap_err();
    assert_eq!(e.to_string(), "<runtime>: map z: hash map needs key_size, value_size and max_entries > 0 (got 4, 8, 0): -EINVAL (-22)");
}

/// A `.bss` of 1 TiB in a BPF object: its global-data map cannot hold it (`value_size` is 32 bits), refused with
/// `-E2BIG`; one of 1.5 GiB meets array_map_alloc_check (5.10: KMALLOC_MAX_SIZE) or the budget (6.12: -ENOMEM). No
/// buffer of the section's size is ever allocated.
#[test]
fn huge_bss_is_refused() {
    let path = fixture("bpf-hello/counters.bpf.o");
    let good = std::fs::read(&path).unwrap();
    let with_bss_size = |size: u64| {
        let mut b = good.clone();
        let shoff = u64::from_le_bytes(b[40..48].try_into().unwrap()) as usize;
        let shnum = u16::from_le_bytes(b[60..62].try_into().unwrap()) as usize;
        let shstr = u16::from_le_bytes(b[62..64].try_into().unwrap()) as usize;
        let so = u64::from_le_bytes(b[shoff + shstr * 64 + 24..shoff + shstr * 64 + 32].try_into().unwrap()) as usize;
        for i in 0..shnum {
            let h = shoff + i * 64;
            let n = u32::from_le_bytes(b[h..h + 4].try_into().unwrap()) as usize;
            if b[so + n..].starts_with(b".bss\0") {
                b[h + 32..h + 40].copy_from_slice(&size.to_le_bytes());
            }
        }
        b
    };
    let e = BpfObject::parse("counters.bpf.o", &with_bss_size(1 << 40)).unwrap_err();
    assert!(matches!(e, BpfObjectError::MapCreate { errno: Errno::E2BIG, .. }), "{e}");
    assert!(e.to_string().contains(".bss"), "{e}");
    let obj = BpfObject::parse("counters.bpf.o", &with_bss_size(3 << 29)).unwrap();
    for (profile, errno) in [(KernelProfile::V5_10, Errno::E2BIG), (KernelProfile::V6_12, Errno::ENOMEM)] {
        let mut rt = BpfRuntime::new(profile, Isa::Aarch64, 2);
        let e = rt.load(&obj).unwrap_err();
        assert!(matches!(e, BpfObjectError::MapCreate { errno: got, .. } if got == errno), "{profile:?}: {e}");
        assert!(rt.maps().is_empty(), "nothing is left created");
    }
}

/// Inputs the fuzz targets (fuzz/) found: each parses to a typed error or an object, never a panic.
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        // A SHT_NULL section named `license` with an extent past the file: `data()` indexed out of bounds.
        if let Ok(obj) = BpfObject::parse(&path, &bytes) {
            let _ = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2).load(&obj);
        }
        n += 1;
    }
    assert!(n > 0);
}
