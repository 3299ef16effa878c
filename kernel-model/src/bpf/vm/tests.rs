use super::*;
use crate::bpf::asm::assemble;
use crate::bpf::error::AccessError;
use crate::bpf::memory::{stack_top, GuestWindow, NoExternal, RegionKind};
use crate::machine::{GuestMemory, MemFault};
use crate::KernelVa;

fn exec_with<H: Helpers>(
    src: &str,
    mem: &mut Memory,
    helpers: &mut H,
    args: &[u64],
    budget: u64,
) -> Result<Exit, BpfError> {
    let prog = Program::load(&assemble(src).unwrap())?;
    run(&prog, mem, helpers, args, budget)
}

fn exec(src: &str) -> Result<u64, BpfError> {
    exec_with(src, &mut Memory::new(), &mut NoHelpers, &[], 10_000).map(|e| e.r0)
}

fn r0(src: &str) -> u64 {
    exec(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn division_and_modulo_follow_rfc_9669() {
    // By zero: div gives 0, mod leaves the dividend (32-bit ops zero-extend it).
    assert_eq!(r0("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit"), 0);
    assert_eq!(r0("mov %r0, 7\ndiv %r0, 0\nexit"), 0);
    assert_eq!(r0("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit"), 7);
    assert_eq!(r0("mov %r0, -1\nmov %r1, 0\nmod32 %r0, %r1\nexit"), 0xffff_ffff);
    assert_eq!(r0("mov %r0, -7\nmov %r1, 0\nsdiv %r0, %r1\nexit"), 0);
    assert_eq!(r0("mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1\nexit"), -7i64 as u64);
    // Signed: truncation towards zero, remainder has the dividend's sign, INT_MIN / -1 wraps.
    assert_eq!(r0("mov %r0, -7\nsdiv %r0, 2\nexit"), -3i64 as u64);
    assert_eq!(r0("mov %r0, -7\nsmod %r0, 2\nexit"), -1i64 as u64);
    assert_eq!(r0("mov %r0, 7\nsmod %r0, -2\nexit"), 1);
    assert_eq!(r0("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit"), 0x8000_0000_0000_0000);
    assert_eq!(r0("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit"), 0);
    assert_eq!(r0("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit"), 0x8000_0000);
    // Unsigned with a negative immediate: the immediate is sign-extended to 64 bits first.
    assert_eq!(r0("mov %r0, -1\ndiv %r0, -1\nexit"), 1);
    assert_eq!(r0("mov32 %r0, -1\ndiv32 %r0, -1\nexit"), 1);
}

#[test]
fn alu_edge_cases() {
    assert_eq!(r0("mov %r0, 1\nlsh %r0, 65\nexit"), 2, "shift amounts are masked");
    assert_eq!(r0("mov32 %r0, 1\nlsh32 %r0, 33\nexit"), 2);
    assert_eq!(r0("mov %r0, -16\narsh32 %r0, 2\nexit"), 0xffff_fffc);
    assert_eq!(r0("mov %r0, -16\narsh %r0, 2\nexit"), -4i64 as u64);
    assert_eq!(r0("mov %r0, -1\nadd32 %r0, 1\nexit"), 0, "32-bit results are zero-extended");
    assert_eq!(r0("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit"), 0xffff_ffff_ffff_ff80);
    assert_eq!(r0("mov %r1, 0x8000\nmovsx1632 %r0, %r1\nexit"), 0xffff_8000);
    assert_eq!(r0("lddw %r1, 0x80000000\nmovsx3264 %r0, %r1\nexit"), 0xffff_ffff_8000_0000);
    assert_eq!(r0("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit"), 0x8877);
    assert_eq!(r0("lddw %r0, 0x1122334455667788\nle32 %r0\nexit"), 0x5566_7788);
    assert_eq!(r0("lddw %r0, 0x1122334455667788\nbswap64 %r0\nexit"), 0x8877_6655_4433_2211);
    assert_eq!(r0("mov %r0, 5\nneg %r0\nexit"), -5i64 as u64);
    assert_eq!(r0("mov %r0, 5\nneg32 %r0\nexit"), 0xffff_fffb);
}

#[test]
fn memory_errors_name_the_instruction() {
    assert_eq!(
        exec("mov %r1, 0\nldxw %r0, [%r1+16]\nexit"),
        Err(BpfError::OutOfBounds { pc: 1, addr: 16, size: 4, write: false })
    );
    // Just below the 512-byte stack.
    assert_eq!(
        exec("mov %r0, 0\nstxb [%r10-513], %r0\nexit"),
        Err(BpfError::OutOfBounds { pc: 1, addr: stack_top(0) - 513, size: 1, write: true })
    );
    assert_eq!(r0("stdw [%r10-512], 9\nldxdw %r0, [%r10-512]\nexit"), 9);
    // A read-only ctx.
    let mut mem = Memory::new();
    let ctx = mem.map_owned(RegionKind::Ctx, vec![1, 2, 3, 4], false).unwrap();
    let e = exec_with("ldxw %r0, [%r1]\nstb [%r1+1], 0\nexit", &mut mem, &mut NoHelpers, &[ctx], 100);
    assert_eq!(e, Err(BpfError::OutOfBounds { pc: 1, addr: ctx + 1, size: 1, write: true }));
    // An access straddling the end of a region.
    let e = exec_with("ldxdw %r0, [%r1]\nexit", &mut mem, &mut NoHelpers, &[ctx], 100);
    assert_eq!(e, Err(BpfError::OutOfBounds { pc: 0, addr: ctx, size: 8, write: false }));
    // Atomics on a read-only region fail as writes.
    let e = exec_with("mov %r2, 1\nlock add32 [%r1], %r2\nexit", &mut mem, &mut NoHelpers, &[ctx], 100);
    assert_eq!(e, Err(BpfError::OutOfBounds { pc: 1, addr: ctx, size: 4, write: true }));
}

#[test]
fn budget_is_enforced() {
    assert_eq!(
        exec_with("mov %r0, 0\nja -1\nexit", &mut Memory::new(), &mut NoHelpers, &[], 50),
        Err(BpfError::BudgetExhausted { pc: 1, budget: 50 })
    );
    let e = exec_with("mov %r0, 1\nlddw %r1, 5\nexit", &mut Memory::new(), &mut NoHelpers, &[], 3).unwrap();
    assert_eq!(e, Exit { r0: 1, insns: 3 });
    assert_eq!(
        exec_with("mov %r0, 1\nexit", &mut Memory::new(), &mut NoHelpers, &[], 1),
        Err(BpfError::BudgetExhausted { pc: 1, budget: 1 })
    );
}

#[test]
fn falling_off_the_end_is_an_error() {
    assert_eq!(exec("mov %r0, 1"), Err(BpfError::FellOffEnd { pc: 1 }));
}

#[test]
fn bpf_to_bpf_calls() {
    // The callee gets its own stack and r10; r6-r9 come back; it may use the caller's stack through a pointer.
    let src = "
        mov %r6, 6
        stdw [%r10-8], 100
        mov %r1, %r10
        add %r1, -8
        call local f
        jne %r6, 6, fail
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        exit
    fail:
        mov %r0, -1
        exit
    f:
        mov %r6, 0
        stdw [%r10-8], 5
        ldxdw %r0, [%r1]
        ldxdw %r2, [%r10-8]
        add %r0, %r2
        stxdw [%r1], %r0
        exit";
    assert_eq!(r0(src), 105 + 105);
    // A callee's stack is gone after it returns.
    let dangling = "call local f\nldxdw %r0, [%r0]\nexit\nf:\nmov %r0, %r10\nadd %r0, -8\nexit";
    assert!(matches!(exec(dangling), Err(BpfError::OutOfBounds { pc: 1, write: false, .. })));
}

#[test]
fn call_depth_is_limited_to_max_call_frames() {
    // f recurses r1 times: 7 nested calls (8 frames) work, 8 do not.
    let src = |n: u32| {
        format!("mov %r1, {n}\ncall local f\nexit\nf:\njeq %r1, 0, +3\nsub %r1, 1\ncall local f\nadd %r0, 1\nexit")
    };
    assert_eq!(r0(&src(6)), 6);
    assert_eq!(exec(&src(7)), Err(BpfError::CallDepthExceeded { pc: 5, max: MAX_CALL_FRAMES }));
    assert_eq!(MAX_CALL_FRAMES, 8);
}

#[test]
fn unknown_helpers_are_named() {
    assert_eq!(exec("mov %r0, 0\ncall 77\nexit"), Err(BpfError::UnknownHelper { pc: 1, id: 77 }));
    assert_eq!(
        exec("lddw %r1, 0x100000005\ncall %r1\nexit"),
        Err(BpfError::UnknownHelper { pc: 2, id: 0x1_0000_0005 })
    );
    assert_eq!(exec("call kfunc 9\nexit"), Err(BpfError::UnknownKfunc { pc: 0, btf_id: 9 }));
}

/// A toy kernel layer: one array map whose values live in the helpers object (external regions), a
/// `bpf_trace_printk` that reads its format from VM memory, and `bpf_probe_read_kernel` from a guest.
struct Kernel {
    values: Vec<[u8; 8]>,
    printed: Vec<String>,
    guest: FlatGuest,
}

type FlatGuest = crate::testing::FakeMachine;

const GUEST_BASE: u64 = 0xffff_8000_0000_0000;

/// Read-only guest memory holding `bytes` at [`GUEST_BASE`].
#[allow(non_snake_case)]
fn FlatGuest(bytes: Vec<u8>) -> FlatGuest {
    let mut m = crate::testing::FakeMachine::empty(crate::Isa::Aarch64);
    m.map_with(GUEST_BASE, bytes, crate::testing::Perm::ReadOnly);
    m
}

impl ExternalMemory for Kernel {
    fn read_external(&mut self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        let v = &self.values[handle as usize];
        buf.copy_from_slice(&v[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write_external(&mut self, handle: u64, offset: u64, data: &[u8]) -> Result<(), MemFault> {
        self.values[handle as usize][offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
}

impl Helpers for Kernel {
    fn call(&mut self, id: u32, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        match id {
            // bpf_map_lookup_elem(map, key): one map (id 1), u32 keys.
            1 => {
                let key = mem.load(a[1], 4, self)? as usize;
                if key >= self.values.len() {
                    return Ok(0);
                }
                let kind = RegionKind::MapValue { map: 1, index: key as u64 };
                if let Some(r) = mem.find_region(kind) {
                    return Ok(r.base());
                }
                mem.map_external(kind, key as u64, 8, true).map_err(|e| HelperError::Failed(e.to_string()))
            }
            // bpf_probe_read_kernel(dst, size, unsafe_ptr): -EFAULT (and a zeroed dst) on a bad source.
            113 => {
                let mut buf = vec![0u8; a[1] as usize];
                let ret = match self.guest.read(KernelVa(a[2]), &mut buf) {
                    Ok(()) => 0,
                    Err(_) => {
                        buf.fill(0);
                        -14i64 as u64
                    }
                };
                mem.write(a[0], &buf, self)?;
                Ok(ret)
            }
            // bpf_trace_printk(fmt, fmt_size, ...)
            6 => {
                let fmt = mem.read_cstr(a[0], a[1] as usize, self)?;
                self.printed.push(String::from_utf8_lossy(&fmt).replace("%d", &a[2].to_string()));
                Ok(fmt.len() as u64)
            }
            _ => Err(HelperError::Unknown),
        }
    }
}

#[test]
fn helpers_can_map_regions_and_use_vm_memory() {
    let mut k = Kernel { values: vec![[0; 8]; 4], printed: Vec::new(), guest: FlatGuest((0..64).collect()) };
    let src = "
        stw [%r10-4], 2            # key = 2
        mov %r2, %r10
        add %r2, -4
        call 1                     # bpf_map_lookup_elem(map, &key)
        jeq %r0, 0, out
        mov %r6, %r0
        mov %r1, 40
        lock add [%r6], %r1        # *value += 40
        call 1                     # the same element again: the same pointer
        jne %r0, %r6, out
        mov %r1, %r10
        add %r1, -16
        mov %r2, 8
        lddw %r3, 0xffff800000000008
        call 113                   # bpf_probe_read_kernel(fp-16, 8, guest+8)
        ldxdw %r7, [%r10-16]
        stdw [%r10-24], 0x253d78   # \"x=%\"
        stb [%r10-21], 0x64        # \"d\"
        stb [%r10-20], 0
        mov %r1, %r10
        add %r1, -24
        mov %r2, 8
        ldxdw %r3, [%r6]
        call 6                     # bpf_trace_printk(\"x=%d\", 8, *value)
        mov %r0, %r7
    out:
        exit";
    let mut mem = Memory::new();
    let e = exec_with(src, &mut mem, &mut k, &[], 1000).unwrap();
    assert_eq!(e.r0, u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]));
    assert_eq!(u64::from_le_bytes(k.values[2]), 40, "the store went to the map's own storage");
    assert_eq!(k.printed, vec!["x=40".to_string()]);
    // A guest fault in probe_read is the helper's business (-EFAULT), not the VM's.
    let src = "mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 0\ncall 113\nexit";
    assert_eq!(exec_with(src, &mut mem, &mut k, &[], 100).unwrap().r0, -14i64 as u64);
    // But a helper's own bad access to VM memory is reported at the call instruction.
    let src = "mov %r1, 0\nmov %r2, 8\nlddw %r3, 0xffff800000000000\ncall 113\nexit";
    assert_eq!(
        exec_with(src, &mut mem, &mut k, &[], 100),
        Err(BpfError::OutOfBounds { pc: 4, addr: 0, size: 8, write: true })
    );
}

#[test]
fn guest_windows_are_readable_by_programs() {
    let mut guest = FlatGuest((0..64).collect());
    let mut mem = Memory::new();
    let ctx = mem.map_external_at(GUEST_BASE + 16, RegionKind::Ctx, GUEST_BASE + 16, 16, false).unwrap();
    struct G<'a>(GuestWindow<'a>);
    impl ExternalMemory for G<'_> {
        fn read_external(&mut self, h: u64, o: u64, b: &mut [u8]) -> Result<(), MemFault> {
            self.0.read_external(h, o, b)
        }
    }
    impl Helpers for G<'_> {
        fn call(&mut self, _: u32, _: [u64; 5], _: &mut Memory) -> Result<u64, HelperError> {
            Err(HelperError::Unknown)
        }
    }
    let mut env = G(GuestWindow(&mut guest));
    let e = exec_with("ldxb %r0, [%r1+3]\nexit", &mut mem, &mut env, &[ctx], 10).unwrap();
    assert_eq!(e.r0, 19);
    assert!(mem.read(ctx, &mut [0u8; 1], &mut NoExternal).is_err());
    assert_eq!(mem.write(ctx, &[1], &mut NoExternal), Err(AccessError { addr: ctx, size: 1, write: true }));
}

#[test]
fn random_programs_never_panic() {
    // Deterministic xorshift; words biased towards real opcodes and small register numbers so that many programs
    // load and actually run (and fault, loop, call, divide by zero...).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const CODES: [u8; 40] = [
        0x07, 0x0f, 0x17, 0x1f, 0x27, 0x37, 0x3f, 0x97, 0x9f, 0x04, 0x0c, 0x34, 0x3c, 0x94, 0x9c, 0xb7, 0xbf, 0xbc,
        0xc7, 0xcf, 0xd4, 0xdc, 0xd7, 0x87, 0x18, 0x61, 0x69, 0x71, 0x79, 0x91, 0x62, 0x7a, 0x73, 0x7b, 0xdb, 0xc3,
        0x05, 0x15, 0x85, 0x95,
    ];
    let (mut loaded, mut ran) = (0, 0);
    for _ in 0..20_000 {
        let len = (next() % 12 + 1) as usize;
        let mut insns = Vec::with_capacity(len);
        for i in 0..len {
            let w = next();
            let code = if w & 7 == 0 { (w >> 8) as u8 } else { CODES[(w % CODES.len() as u64) as usize] };
            let (dst, src) = ((w >> 16) as u8 % 11, (w >> 20) as u8 % 11);
            let off = match (w >> 24) & 3 {
                0 => 0,
                1 => ((w >> 32) as i16) % 4,
                2 => -((w >> 32) as i16 & 0x1ff),
                _ => (w >> 32) as i16,
            };
            let imm = match (w >> 26) & 3 {
                0 => ((w >> 40) as i32) % 64,
                1 => [0xe1, 0xf1, 0x01, 0x00, 0x51, 16, 32, 64][((w >> 40) % 8) as usize],
                _ => (w >> 32) as i32,
            };
            let insn = Insn::new(code, dst, src, off, imm);
            // Mostly clear the fields the loader insists are zero, so that many programs load.
            let insn = if (w >> 60) == 0 { insn } else { sanitize(insn, i, len, w) };
            insns.push(insn);
        }
        if next() % 4 != 0 {
            *insns.last_mut().unwrap() = Insn::exit();
        }
        let Ok(prog) = Program::load(&insns) else { continue };
        loaded += 1;
        let mut mem = Memory::new();
        let base = mem.map_owned(RegionKind::Input, vec![0xa5; 32], true).unwrap();
        let mut h = crate::bpf::conformance::ConformanceHelpers;
        if run(&prog, &mut mem, &mut h, &[base, 32], 200).is_ok() {
            ran += 1;
        }
        // Whatever loaded must also disassemble and reassemble to itself.
        assert_eq!(assemble(&crate::bpf::disasm::disassemble(prog.insns())).unwrap(), insns);
    }
    assert!(loaded > 1_000 && ran > 100, "loaded {loaded}, ran to exit {ran}");
    println!("random programs: {loaded} loaded, {ran} ran to exit");
}

/// Clears reserved fields and pulls jump offsets into the program, keeping the instruction's kind.
fn sanitize(mut i: Insn, pc: usize, len: usize, w: u64) -> Insn {
    let x = i.code & BPF_X != 0;
    let span = len as i64;
    let rel = |v: i64| ((v.rem_euclid(span)) - pc as i64 - 1) as i16;
    match i.class() {
        BPF_ALU | BPF_ALU64 => {
            if x {
                i.imm = 0
            } else {
                i.src_reg = 0
            }
            i.off = match i.code & 0xf0 {
                BPF_DIV | BPF_MOD => i.off & 1,
                BPF_MOV if x => [0, 8, 16, 32][(w % 4) as usize],
                _ => 0,
            };
            if i.code & 0xf0 == BPF_NEG {
                i.src_reg = 0;
                i.imm = 0;
            }
            if i.code & 0xf0 == BPF_END {
                i.imm = [16, 32, 64][(w % 3) as usize];
                i.src_reg = 0;
            }
            if i.dst_reg == 10 {
                i.dst_reg = 0;
            }
        }
        BPF_LDX => i.imm = 0,
        BPF_ST => i.src_reg = 0,
        BPF_STX if i.code & 0xe0 == BPF_MEM => i.imm = 0,
        BPF_JMP | BPF_JMP32 => match i.code & 0xf0 {
            BPF_CALL => {
                i.dst_reg = 0;
                i.off = 0;
                i.src_reg &= 1;
                i.imm = if i.src_reg == 1 { i32::from(rel(i64::from(i.imm))) } else { i.imm.rem_euclid(8) };
            }
            BPF_EXIT => i = Insn::exit(),
            _ => {
                if x {
                    i.imm = 0
                } else {
                    i.src_reg = 0
                }
                i.off = rel(i64::from(i.off));
            }
        },
        _ => {}
    }
    i
}

/// A helper 99 that suspends the run (as a helper whose kernel code runs in the guest does); 98 answers at once.
struct Suspending {
    calls: Vec<[u64; 5]>,
}

impl ExternalMemory for Suspending {}

impl Helpers for Suspending {
    fn call(&mut self, id: u32, args: [u64; 5], _: &mut Memory) -> Result<u64, HelperError> {
        self.calls.push(args);
        if id == 98 {
            Ok(args[0] + 1)
        } else {
            Err(HelperError::Unknown)
        }
    }

    fn call_resumable(
        &mut self,
        id: u32,
        args: [u64; 5],
        mem: &mut Memory,
    ) -> Result<HelperReturn, HelperError> {
        if id == 99 {
            self.calls.push(args);
            return Ok(HelperReturn::Suspend);
        }
        self.call(id, args, mem).map(HelperReturn::Value)
    }
}

#[test]
fn a_suspended_run_resumes_with_its_registers_frames_and_stack() {
    // main stores 5 on its stack and calls sub(7); sub keeps 100 in r6 and 11 on its own stack, calls helper 99
    // (suspends) and, resumed with r0 = 1000, returns r0 + r6 + its stack slot + r1 (= 7, the helper's arg, still
    // in r1); main adds its own stack slot and r6 (restored to 3 by the call's exit).
    let src = "
        mov %r6, 3
        stdw [%r10-8], 5
        mov %r1, 7
        call local sub
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        add %r0, %r6
        exit
        sub:
        mov %r6, 100
        stdw [%r10-8], 11
        call 99
        add %r0, %r6
        ldxdw %r2, [%r10-8]
        add %r0, %r2
        add %r0, %r1
        exit";
    let prog = Program::load(&assemble(src).unwrap()).unwrap();
    let mut mem = Memory::new();
    let mut h = Suspending { calls: Vec::new() };
    let mut st = VmState::new(&[]);
    assert_eq!(
        resume(&prog, &mut mem, &mut h, &mut st, 1000),
        Ok(VmExit::Suspended)
    );
    assert_eq!(h.calls, [[7, 0, 0, 0, 0]]);
    assert_eq!((st.call_pc(), st.executed()), (10, 7));
    st.complete_call(1000);
    let exit = resume(&prog, &mut mem, &mut h, &mut st, 1000).unwrap();
    assert_eq!(
        exit,
        VmExit::Exit(Exit {
            r0: 1000 + 100 + 11 + 7 + 5 + 3,
            insns: 16
        })
    );
}

#[test]
fn the_budget_counts_every_segment_of_a_suspended_run() {
    let prog = Program::load(&assemble("call 99\nmov %r0, 1\nmov %r0, 2\nexit").unwrap()).unwrap();
    let mut mem = Memory::new();
    let mut h = Suspending { calls: Vec::new() };
    let mut st = VmState::new(&[]);
    assert_eq!(
        resume(&prog, &mut mem, &mut h, &mut st, 3),
        Ok(VmExit::Suspended)
    );
    assert_eq!(
        resume(&prog, &mut mem, &mut h, &mut st, 3),
        Err(BpfError::BudgetExhausted { pc: 3, budget: 3 })
    );
}

#[test]
#[should_panic(expected = "cannot be resumed")]
fn run_refuses_a_helper_that_suspends() {
    let _ = exec_with(
        "call 99\nexit",
        &mut Memory::new(),
        &mut Suspending { calls: Vec::new() },
        &[],
        10,
    );
}
