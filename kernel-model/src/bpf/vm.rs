//! The interpreter, modelled on `___bpf_prog_run` in kernel/bpf/core.c: eleven 64-bit registers, a dispatch on
//! the opcode byte per instruction, bpf-to-bpf calls with a frame (and a 512-byte stack) each, helper calls through
//! [`Helpers`], and every memory access checked by [`Memory`].
//!
//! Semantics are RFC 9669's where it defines them (the kernel agrees for every program its verifier accepts):
//! division by zero yields 0, modulo by zero leaves the dividend (truncated to 32 bits in `BPF_ALU`), signed
//! `INT_MIN / -1` wraps to `INT_MIN` and `INT_MIN % -1` is 0, shift amounts are masked to the operand width, and
//! the immediate of a 64-bit operation or jump is sign-extended. `r1`-`r5` are left as they are by calls (the
//! verifier forbids reading them afterwards); `r6`-`r9` and `r10` are restored on return from a bpf-to-bpf call.

use super::error::{BpfError, HelperError};
use super::insn::*;
use super::memory::{stack_top, ExternalMemory, Memory};
use super::program::{Program, Slot};

/// Opcode bytes as the kernel's interpreter labels them (`ALU64_ADD_X`, `JMP_JEQ_K`, `LDX_MEM_DW`, …).
#[allow(missing_docs)]
mod op {
    use super::super::insn::*;
    pub const ALU64_ADD_K: u8 = BPF_ALU64 | BPF_ADD | BPF_K;
    pub const ALU64_ADD_X: u8 = BPF_ALU64 | BPF_ADD | BPF_X;
    pub const ALU64_SUB_K: u8 = BPF_ALU64 | BPF_SUB | BPF_K;
    pub const ALU64_SUB_X: u8 = BPF_ALU64 | BPF_SUB | BPF_X;
    pub const ALU64_MUL_K: u8 = BPF_ALU64 | BPF_MUL | BPF_K;
    pub const ALU64_MUL_X: u8 = BPF_ALU64 | BPF_MUL | BPF_X;
    pub const ALU64_DIV_K: u8 = BPF_ALU64 | BPF_DIV | BPF_K;
    pub const ALU64_DIV_X: u8 = BPF_ALU64 | BPF_DIV | BPF_X;
    pub const ALU64_OR_K: u8 = BPF_ALU64 | BPF_OR | BPF_K;
    pub const ALU64_OR_X: u8 = BPF_ALU64 | BPF_OR | BPF_X;
    pub const ALU64_AND_K: u8 = BPF_ALU64 | BPF_AND | BPF_K;
    pub const ALU64_AND_X: u8 = BPF_ALU64 | BPF_AND | BPF_X;
    pub const ALU64_LSH_K: u8 = BPF_ALU64 | BPF_LSH | BPF_K;
    pub const ALU64_LSH_X: u8 = BPF_ALU64 | BPF_LSH | BPF_X;
    pub const ALU64_RSH_K: u8 = BPF_ALU64 | BPF_RSH | BPF_K;
    pub const ALU64_RSH_X: u8 = BPF_ALU64 | BPF_RSH | BPF_X;
    pub const ALU64_NEG_K: u8 = BPF_ALU64 | BPF_NEG | BPF_K;
    pub const ALU64_MOD_K: u8 = BPF_ALU64 | BPF_MOD | BPF_K;
    pub const ALU64_MOD_X: u8 = BPF_ALU64 | BPF_MOD | BPF_X;
    pub const ALU64_XOR_K: u8 = BPF_ALU64 | BPF_XOR | BPF_K;
    pub const ALU64_XOR_X: u8 = BPF_ALU64 | BPF_XOR | BPF_X;
    pub const ALU64_MOV_K: u8 = BPF_ALU64 | BPF_MOV | BPF_K;
    pub const ALU64_MOV_X: u8 = BPF_ALU64 | BPF_MOV | BPF_X;
    pub const ALU64_ARSH_K: u8 = BPF_ALU64 | BPF_ARSH | BPF_K;
    pub const ALU64_ARSH_X: u8 = BPF_ALU64 | BPF_ARSH | BPF_X;
    pub const ALU_ADD_K: u8 = BPF_ALU | BPF_ADD | BPF_K;
    pub const ALU_ADD_X: u8 = BPF_ALU | BPF_ADD | BPF_X;
    pub const ALU_SUB_K: u8 = BPF_ALU | BPF_SUB | BPF_K;
    pub const ALU_SUB_X: u8 = BPF_ALU | BPF_SUB | BPF_X;
    pub const ALU_MUL_K: u8 = BPF_ALU | BPF_MUL | BPF_K;
    pub const ALU_MUL_X: u8 = BPF_ALU | BPF_MUL | BPF_X;
    pub const ALU_DIV_K: u8 = BPF_ALU | BPF_DIV | BPF_K;
    pub const ALU_DIV_X: u8 = BPF_ALU | BPF_DIV | BPF_X;
    pub const ALU_OR_K: u8 = BPF_ALU | BPF_OR | BPF_K;
    pub const ALU_OR_X: u8 = BPF_ALU | BPF_OR | BPF_X;
    pub const ALU_AND_K: u8 = BPF_ALU | BPF_AND | BPF_K;
    pub const ALU_AND_X: u8 = BPF_ALU | BPF_AND | BPF_X;
    pub const ALU_LSH_K: u8 = BPF_ALU | BPF_LSH | BPF_K;
    pub const ALU_LSH_X: u8 = BPF_ALU | BPF_LSH | BPF_X;
    pub const ALU_RSH_K: u8 = BPF_ALU | BPF_RSH | BPF_K;
    pub const ALU_RSH_X: u8 = BPF_ALU | BPF_RSH | BPF_X;
    pub const ALU_NEG_K: u8 = BPF_ALU | BPF_NEG | BPF_K;
    pub const ALU_MOD_K: u8 = BPF_ALU | BPF_MOD | BPF_K;
    pub const ALU_MOD_X: u8 = BPF_ALU | BPF_MOD | BPF_X;
    pub const ALU_XOR_K: u8 = BPF_ALU | BPF_XOR | BPF_K;
    pub const ALU_XOR_X: u8 = BPF_ALU | BPF_XOR | BPF_X;
    pub const ALU_MOV_K: u8 = BPF_ALU | BPF_MOV | BPF_K;
    pub const ALU_MOV_X: u8 = BPF_ALU | BPF_MOV | BPF_X;
    pub const ALU_ARSH_K: u8 = BPF_ALU | BPF_ARSH | BPF_K;
    pub const ALU_ARSH_X: u8 = BPF_ALU | BPF_ARSH | BPF_X;
    pub const ALU_END_TO_LE: u8 = BPF_ALU | BPF_END | BPF_TO_LE;
    pub const ALU_END_TO_BE: u8 = BPF_ALU | BPF_END | BPF_TO_BE;
    pub const ALU64_END_TO_LE: u8 = BPF_ALU64 | BPF_END | BPF_TO_LE;
    pub const JMP_JEQ_K: u8 = BPF_JMP | BPF_JEQ | BPF_K;
    pub const JMP_JEQ_X: u8 = BPF_JMP | BPF_JEQ | BPF_X;
    pub const JMP_JGT_K: u8 = BPF_JMP | BPF_JGT | BPF_K;
    pub const JMP_JGT_X: u8 = BPF_JMP | BPF_JGT | BPF_X;
    pub const JMP_JGE_K: u8 = BPF_JMP | BPF_JGE | BPF_K;
    pub const JMP_JGE_X: u8 = BPF_JMP | BPF_JGE | BPF_X;
    pub const JMP_JSET_K: u8 = BPF_JMP | BPF_JSET | BPF_K;
    pub const JMP_JSET_X: u8 = BPF_JMP | BPF_JSET | BPF_X;
    pub const JMP_JNE_K: u8 = BPF_JMP | BPF_JNE | BPF_K;
    pub const JMP_JNE_X: u8 = BPF_JMP | BPF_JNE | BPF_X;
    pub const JMP_JSGT_K: u8 = BPF_JMP | BPF_JSGT | BPF_K;
    pub const JMP_JSGT_X: u8 = BPF_JMP | BPF_JSGT | BPF_X;
    pub const JMP_JSGE_K: u8 = BPF_JMP | BPF_JSGE | BPF_K;
    pub const JMP_JSGE_X: u8 = BPF_JMP | BPF_JSGE | BPF_X;
    pub const JMP_JLT_K: u8 = BPF_JMP | BPF_JLT | BPF_K;
    pub const JMP_JLT_X: u8 = BPF_JMP | BPF_JLT | BPF_X;
    pub const JMP_JLE_K: u8 = BPF_JMP | BPF_JLE | BPF_K;
    pub const JMP_JLE_X: u8 = BPF_JMP | BPF_JLE | BPF_X;
    pub const JMP_JSLT_K: u8 = BPF_JMP | BPF_JSLT | BPF_K;
    pub const JMP_JSLT_X: u8 = BPF_JMP | BPF_JSLT | BPF_X;
    pub const JMP_JSLE_K: u8 = BPF_JMP | BPF_JSLE | BPF_K;
    pub const JMP_JSLE_X: u8 = BPF_JMP | BPF_JSLE | BPF_X;
    pub const JMP32_JEQ_K: u8 = BPF_JMP32 | BPF_JEQ | BPF_K;
    pub const JMP32_JEQ_X: u8 = BPF_JMP32 | BPF_JEQ | BPF_X;
    pub const JMP32_JGT_K: u8 = BPF_JMP32 | BPF_JGT | BPF_K;
    pub const JMP32_JGT_X: u8 = BPF_JMP32 | BPF_JGT | BPF_X;
    pub const JMP32_JGE_K: u8 = BPF_JMP32 | BPF_JGE | BPF_K;
    pub const JMP32_JGE_X: u8 = BPF_JMP32 | BPF_JGE | BPF_X;
    pub const JMP32_JSET_K: u8 = BPF_JMP32 | BPF_JSET | BPF_K;
    pub const JMP32_JSET_X: u8 = BPF_JMP32 | BPF_JSET | BPF_X;
    pub const JMP32_JNE_K: u8 = BPF_JMP32 | BPF_JNE | BPF_K;
    pub const JMP32_JNE_X: u8 = BPF_JMP32 | BPF_JNE | BPF_X;
    pub const JMP32_JSGT_K: u8 = BPF_JMP32 | BPF_JSGT | BPF_K;
    pub const JMP32_JSGT_X: u8 = BPF_JMP32 | BPF_JSGT | BPF_X;
    pub const JMP32_JSGE_K: u8 = BPF_JMP32 | BPF_JSGE | BPF_K;
    pub const JMP32_JSGE_X: u8 = BPF_JMP32 | BPF_JSGE | BPF_X;
    pub const JMP32_JLT_K: u8 = BPF_JMP32 | BPF_JLT | BPF_K;
    pub const JMP32_JLT_X: u8 = BPF_JMP32 | BPF_JLT | BPF_X;
    pub const JMP32_JLE_K: u8 = BPF_JMP32 | BPF_JLE | BPF_K;
    pub const JMP32_JLE_X: u8 = BPF_JMP32 | BPF_JLE | BPF_X;
    pub const JMP32_JSLT_K: u8 = BPF_JMP32 | BPF_JSLT | BPF_K;
    pub const JMP32_JSLT_X: u8 = BPF_JMP32 | BPF_JSLT | BPF_X;
    pub const JMP32_JSLE_K: u8 = BPF_JMP32 | BPF_JSLE | BPF_K;
    pub const JMP32_JSLE_X: u8 = BPF_JMP32 | BPF_JSLE | BPF_X;
    pub const JMP_JA: u8 = BPF_JMP | BPF_JA;
    pub const JMP32_JA: u8 = BPF_JMP32 | BPF_JA;
    pub const JMP_CALL: u8 = BPF_JMP | BPF_CALL;
    pub const JMP_CALLX: u8 = BPF_JMP | BPF_CALL | BPF_X;
    pub const JMP_EXIT: u8 = BPF_JMP | BPF_EXIT;
    pub const LD_IMM_DW: u8 = BPF_LD | BPF_IMM | BPF_DW;
    pub const LDX_MEM_B: u8 = BPF_LDX | BPF_MEM | BPF_B;
    pub const LDX_MEM_H: u8 = BPF_LDX | BPF_MEM | BPF_H;
    pub const LDX_MEM_W: u8 = BPF_LDX | BPF_MEM | BPF_W;
    pub const LDX_MEM_DW: u8 = BPF_LDX | BPF_MEM | BPF_DW;
    pub const LDX_MEMSX_B: u8 = BPF_LDX | BPF_MEMSX | BPF_B;
    pub const LDX_MEMSX_H: u8 = BPF_LDX | BPF_MEMSX | BPF_H;
    pub const LDX_MEMSX_W: u8 = BPF_LDX | BPF_MEMSX | BPF_W;
    pub const ST_MEM_B: u8 = BPF_ST | BPF_MEM | BPF_B;
    pub const ST_MEM_H: u8 = BPF_ST | BPF_MEM | BPF_H;
    pub const ST_MEM_W: u8 = BPF_ST | BPF_MEM | BPF_W;
    pub const ST_MEM_DW: u8 = BPF_ST | BPF_MEM | BPF_DW;
    pub const STX_MEM_B: u8 = BPF_STX | BPF_MEM | BPF_B;
    pub const STX_MEM_H: u8 = BPF_STX | BPF_MEM | BPF_H;
    pub const STX_MEM_W: u8 = BPF_STX | BPF_MEM | BPF_W;
    pub const STX_MEM_DW: u8 = BPF_STX | BPF_MEM | BPF_DW;
    pub const STX_ATOMIC_W: u8 = BPF_STX | BPF_ATOMIC | BPF_W;
    pub const STX_ATOMIC_DW: u8 = BPF_STX | BPF_ATOMIC | BPF_DW;
}

/// What the VM's user provides: the helper functions (and, as [`ExternalMemory`], the storage of external regions
/// such as map values).
///
/// A helper gets the call's `r1`-`r5` and the VM's [`Memory`]; with it a helper can read and write VM memory
/// (`mem.read(addr, buf, self)`), map new regions (a map value for `bpf_map_lookup_elem`) and find them again
/// ([`Memory::find_region`]). What a helper returns becomes `r0`.
pub trait Helpers: ExternalMemory {
    /// Calls helper `id` (`BPF_CALL` with `src_reg` 0, or `callx`): the `JMP_CALL` case of `___bpf_prog_run`.
    fn call(&mut self, id: u32, args: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError>;

    /// Calls the kfunc with BTF id `btf_id` (`BPF_PSEUDO_KFUNC_CALL`). None by default.
    fn call_kfunc(&mut self, btf_id: u32, args: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let _ = (btf_id, args, mem);
        Err(HelperError::Unknown)
    }

    /// Calls helper `id` where its work may continue outside the VM: a helper whose kernel implementation runs
    /// kernel text (`bpf_probe_read_kernel` → `copy_from_kernel_nofault`) answers [`HelperReturn::Suspend`], the
    /// run stops after the call instruction ([`VmExit::Suspended`]), and [`resume`] continues it once the caller
    /// has the helper's result ([`VmState::complete_call`]). By default every helper answers at once.
    fn call_resumable(&mut self, id: u32, args: [u64; 5], mem: &mut Memory) -> Result<HelperReturn, HelperError> {
        self.call(id, args, mem).map(HelperReturn::Value)
    }
}

/// What a helper call answered (see [`Helpers::call_resumable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperReturn {
    /// The helper returned: this becomes `r0`.
    Value(u64),
    /// The helper continues in guest code; the run stops until its result is known.
    Suspend,
}

/// An environment with no helpers and no external storage.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHelpers;

impl ExternalMemory for NoHelpers {}

impl Helpers for NoHelpers {
    fn call(&mut self, _id: u32, _args: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        Err(HelperError::Unknown)
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// `r0` at the program's final `exit`.
    pub r0: u64,
    /// Instructions executed (each `lddw` counts once), for charging virtual time.
    pub insns: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    ret: usize,
    saved: [u64; 4],
}

/// Where a run stands: registers, bpf-to-bpf call frames, next instruction and instructions executed so far.
/// A run that stopped at a helper call ([`VmExit::Suspended`]) keeps its state here (and its stack in the
/// [`Memory`]) until [`resume`] continues it.
#[derive(Clone, Debug)]
pub struct VmState {
    regs: [u64; 16],
    frames: [Frame; MAX_CALL_FRAMES],
    depth: usize,
    pc: usize,
    executed: u64,
}

impl VmState {
    /// A run about to start with `r1`.. set from `args` (at most five; `r1` is the context by convention), `r10`
    /// at the top of frame 0's stack and every other register zero.
    #[must_use]
    pub fn new(args: &[u64]) -> VmState {
        let mut regs = [0u64; 16];
        for (r, a) in regs[1..6].iter_mut().zip(args) {
            *r = *a;
        }
        regs[usize::from(BPF_REG_FP)] = stack_top(0);
        VmState { regs, frames: [Frame::default(); MAX_CALL_FRAMES], depth: 0, pc: 0, executed: 0 }
    }

    /// The suspended helper call returned `r0`.
    pub fn complete_call(&mut self, r0: u64) {
        self.regs[0] = r0;
    }

    /// The index of the instruction the run stopped at (the helper call), for error messages.
    #[must_use]
    pub fn call_pc(&self) -> usize {
        self.pc.saturating_sub(1)
    }

    /// Instructions executed so far.
    #[must_use]
    pub fn executed(&self) -> u64 {
        self.executed
    }
}

/// How [`resume`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmExit {
    /// The outermost `exit`.
    Exit(Exit),
    /// A helper answered [`HelperReturn::Suspend`]; the state is saved.
    Suspended,
}

/// Runs `prog` with `r1`.. set from `args` (at most five; `r1` is the context by convention), `r10` at the top of
/// frame 0's stack and every other register zero, until its outermost `exit`, an error, or `budget` instructions.
///
/// Models `___bpf_prog_run` (kernel/bpf/core.c) as entered through `bpf_prog_run`; bpf-to-bpf calls model the
/// interpreter's `JMP_CALL_ARGS`, where each callee runs with a fresh stack.
///
/// # Panics
/// If a helper answers [`HelperReturn::Suspend`]: only [`resume`] can continue such a run.
pub fn run<H: Helpers + ?Sized>(
    prog: &Program,
    mem: &mut Memory,
    helpers: &mut H,
    args: &[u64],
    budget: u64,
) -> Result<Exit, BpfError> {
    let mut st = VmState::new(args);
    match resume(prog, mem, helpers, &mut st, budget)? {
        VmExit::Exit(e) => Ok(e),
        VmExit::Suspended => panic!("a helper suspended a run that cannot be resumed (use vm::resume)"),
    }
}

/// Starts or continues the run `st` of `prog` until its outermost `exit`, an error, `budget` instructions in all,
/// or a helper call that suspends it. `mem` must be the memory the run started with (its stack frames live there).
pub fn resume<H: Helpers + ?Sized>(
    prog: &Program,
    mem: &mut Memory,
    helpers: &mut H,
    st: &mut VmState,
    budget: u64,
) -> Result<VmExit, BpfError> {
    let slots: &[Slot] = &prog.slots;
    if st.executed == 0 {
        // Starting (a suspended run has executed at least its helper call).
        mem.enter_frame(0);
    }
    // The loop works on locals (the hot path); a suspension writes them back.
    let mut regs = st.regs;
    let mut frames = st.frames;
    let mut depth = st.depth;
    let mut executed = st.executed;
    let mut pc = st.pc;
    macro_rules! suspend {
        () => {{
            *st = VmState { regs, frames, depth, pc, executed };
            return Ok(VmExit::Suspended);
        }};
    }

    loop {
        let cur = pc;
        let s = match slots.get(pc) {
            Some(s) => s,
            None => return Err(BpfError::FellOffEnd { pc }),
        };
        if executed == budget {
            return Err(BpfError::BudgetExhausted { pc, budget });
        }
        executed += 1;
        pc += 1;
        let d = usize::from(s.dst & 15);
        let sv = regs[usize::from(s.src & 15)];
        let imm = s.imm as u64;

        macro_rules! jump {
            ($cond:expr) => {
                if $cond {
                    pc = pc.wrapping_add_signed(isize::from(s.off));
                }
            };
        }
        macro_rules! alu32 {
            ($f:expr, $b:expr) => {{
                let f: fn(u32, u32) -> u32 = $f;
                regs[d] = u64::from(f(regs[d] as u32, $b as u32));
            }};
        }
        macro_rules! ldx {
            ($size:expr) => {
                regs[d] = mem.load(sv.wrapping_add(s.off as i64 as u64), $size, helpers).map_err(|e| e.at(cur))?
            };
        }
        macro_rules! st {
            ($size:expr, $v:expr) => {
                mem.store(regs[d].wrapping_add(s.off as i64 as u64), $size, $v, helpers).map_err(|e| e.at(cur))?
            };
        }

        match s.code {
            // ---- BPF_ALU64 ----
            op::ALU64_ADD_X => regs[d] = regs[d].wrapping_add(sv),
            op::ALU64_ADD_K => regs[d] = regs[d].wrapping_add(imm),
            op::ALU64_SUB_X => regs[d] = regs[d].wrapping_sub(sv),
            op::ALU64_SUB_K => regs[d] = regs[d].wrapping_sub(imm),
            op::ALU64_MUL_X => regs[d] = regs[d].wrapping_mul(sv),
            op::ALU64_MUL_K => regs[d] = regs[d].wrapping_mul(imm),
            op::ALU64_DIV_X => regs[d] = div64(regs[d], sv, s.off),
            op::ALU64_DIV_K => regs[d] = div64(regs[d], imm, s.off),
            op::ALU64_MOD_X => regs[d] = mod64(regs[d], sv, s.off),
            op::ALU64_MOD_K => regs[d] = mod64(regs[d], imm, s.off),
            op::ALU64_OR_X => regs[d] |= sv,
            op::ALU64_OR_K => regs[d] |= imm,
            op::ALU64_AND_X => regs[d] &= sv,
            op::ALU64_AND_K => regs[d] &= imm,
            op::ALU64_XOR_X => regs[d] ^= sv,
            op::ALU64_XOR_K => regs[d] ^= imm,
            op::ALU64_LSH_X => regs[d] <<= sv & 63,
            op::ALU64_LSH_K => regs[d] <<= imm & 63,
            op::ALU64_RSH_X => regs[d] >>= sv & 63,
            op::ALU64_RSH_K => regs[d] >>= imm & 63,
            op::ALU64_ARSH_X => regs[d] = ((regs[d] as i64) >> (sv & 63)) as u64,
            op::ALU64_ARSH_K => regs[d] = ((regs[d] as i64) >> (imm & 63)) as u64,
            op::ALU64_NEG_K => regs[d] = (regs[d] as i64).wrapping_neg() as u64,
            op::ALU64_MOV_X => {
                regs[d] = match s.off {
                    8 => sv as i8 as u64,
                    16 => sv as i16 as u64,
                    32 => sv as i32 as u64,
                    _ => sv,
                }
            }
            op::ALU64_MOV_K => regs[d] = imm,
            op::ALU64_END_TO_LE => {
                regs[d] = match s.imm {
                    16 => u64::from((regs[d] as u16).swap_bytes()),
                    32 => u64::from((regs[d] as u32).swap_bytes()),
                    _ => regs[d].swap_bytes(),
                }
            }

            // ---- BPF_ALU: 32-bit, result zero-extended ----
            op::ALU_ADD_X => alu32!(u32::wrapping_add, sv),
            op::ALU_ADD_K => alu32!(u32::wrapping_add, imm),
            op::ALU_SUB_X => alu32!(u32::wrapping_sub, sv),
            op::ALU_SUB_K => alu32!(u32::wrapping_sub, imm),
            op::ALU_MUL_X => alu32!(u32::wrapping_mul, sv),
            op::ALU_MUL_K => alu32!(u32::wrapping_mul, imm),
            op::ALU_DIV_X => regs[d] = u64::from(div32(regs[d] as u32, sv as u32, s.off)),
            op::ALU_DIV_K => regs[d] = u64::from(div32(regs[d] as u32, imm as u32, s.off)),
            op::ALU_MOD_X => regs[d] = u64::from(mod32(regs[d] as u32, sv as u32, s.off)),
            op::ALU_MOD_K => regs[d] = u64::from(mod32(regs[d] as u32, imm as u32, s.off)),
            op::ALU_OR_X => alu32!(|a, b| a | b, sv),
            op::ALU_OR_K => alu32!(|a, b| a | b, imm),
            op::ALU_AND_X => alu32!(|a, b| a & b, sv),
            op::ALU_AND_K => alu32!(|a, b| a & b, imm),
            op::ALU_XOR_X => alu32!(|a, b| a ^ b, sv),
            op::ALU_XOR_K => alu32!(|a, b| a ^ b, imm),
            op::ALU_LSH_X => alu32!(|a, b| a << (b & 31), sv),
            op::ALU_LSH_K => alu32!(|a, b| a << (b & 31), imm),
            op::ALU_RSH_X => alu32!(|a, b| a >> (b & 31), sv),
            op::ALU_RSH_K => alu32!(|a, b| a >> (b & 31), imm),
            op::ALU_ARSH_X => alu32!(|a, b| ((a as i32) >> (b & 31)) as u32, sv),
            op::ALU_ARSH_K => alu32!(|a, b| ((a as i32) >> (b & 31)) as u32, imm),
            op::ALU_NEG_K => regs[d] = u64::from((regs[d] as i32).wrapping_neg() as u32),
            op::ALU_MOV_X => {
                regs[d] = u64::from(match s.off {
                    8 => sv as i8 as u32,
                    16 => sv as i16 as u32,
                    _ => sv as u32,
                })
            }
            op::ALU_MOV_K => regs[d] = u64::from(imm as u32),
            op::ALU_END_TO_LE => {
                regs[d] = match s.imm {
                    16 => u64::from(regs[d] as u16),
                    32 => u64::from(regs[d] as u32),
                    _ => regs[d],
                }
            }
            op::ALU_END_TO_BE => {
                regs[d] = match s.imm {
                    16 => u64::from((regs[d] as u16).swap_bytes()),
                    32 => u64::from((regs[d] as u32).swap_bytes()),
                    _ => regs[d].swap_bytes(),
                }
            }

            // ---- BPF_JMP ----
            op::JMP_JA => pc = pc.wrapping_add_signed(isize::from(s.off)),
            op::JMP32_JA => pc = pc.wrapping_add_signed(s.imm as isize),
            op::JMP_JEQ_X => jump!(regs[d] == sv),
            op::JMP_JEQ_K => jump!(regs[d] == imm),
            op::JMP_JNE_X => jump!(regs[d] != sv),
            op::JMP_JNE_K => jump!(regs[d] != imm),
            op::JMP_JGT_X => jump!(regs[d] > sv),
            op::JMP_JGT_K => jump!(regs[d] > imm),
            op::JMP_JGE_X => jump!(regs[d] >= sv),
            op::JMP_JGE_K => jump!(regs[d] >= imm),
            op::JMP_JLT_X => jump!(regs[d] < sv),
            op::JMP_JLT_K => jump!(regs[d] < imm),
            op::JMP_JLE_X => jump!(regs[d] <= sv),
            op::JMP_JLE_K => jump!(regs[d] <= imm),
            op::JMP_JSET_X => jump!(regs[d] & sv != 0),
            op::JMP_JSET_K => jump!(regs[d] & imm != 0),
            op::JMP_JSGT_X => jump!((regs[d] as i64) > (sv as i64)),
            op::JMP_JSGT_K => jump!((regs[d] as i64) > s.imm),
            op::JMP_JSGE_X => jump!((regs[d] as i64) >= (sv as i64)),
            op::JMP_JSGE_K => jump!((regs[d] as i64) >= s.imm),
            op::JMP_JSLT_X => jump!((regs[d] as i64) < (sv as i64)),
            op::JMP_JSLT_K => jump!((regs[d] as i64) < s.imm),
            op::JMP_JSLE_X => jump!((regs[d] as i64) <= (sv as i64)),
            op::JMP_JSLE_K => jump!((regs[d] as i64) <= s.imm),

            // ---- BPF_JMP32: compare the low 32 bits ----
            op::JMP32_JEQ_X => jump!(regs[d] as u32 == sv as u32),
            op::JMP32_JEQ_K => jump!(regs[d] as u32 == imm as u32),
            op::JMP32_JNE_X => jump!(regs[d] as u32 != sv as u32),
            op::JMP32_JNE_K => jump!(regs[d] as u32 != imm as u32),
            op::JMP32_JGT_X => jump!(regs[d] as u32 > sv as u32),
            op::JMP32_JGT_K => jump!(regs[d] as u32 > imm as u32),
            op::JMP32_JGE_X => jump!(regs[d] as u32 >= sv as u32),
            op::JMP32_JGE_K => jump!(regs[d] as u32 >= imm as u32),
            op::JMP32_JLT_X => jump!((regs[d] as u32) < sv as u32),
            op::JMP32_JLT_K => jump!((regs[d] as u32) < imm as u32),
            op::JMP32_JLE_X => jump!(regs[d] as u32 <= sv as u32),
            op::JMP32_JLE_K => jump!(regs[d] as u32 <= imm as u32),
            op::JMP32_JSET_X => jump!(regs[d] as u32 & sv as u32 != 0),
            op::JMP32_JSET_K => jump!(regs[d] as u32 & imm as u32 != 0),
            op::JMP32_JSGT_X => jump!(regs[d] as i32 > sv as i32),
            op::JMP32_JSGT_K => jump!(regs[d] as i32 > imm as i32),
            op::JMP32_JSGE_X => jump!(regs[d] as i32 >= sv as i32),
            op::JMP32_JSGE_K => jump!(regs[d] as i32 >= imm as i32),
            op::JMP32_JSLT_X => jump!((regs[d] as i32) < sv as i32),
            op::JMP32_JSLT_K => jump!((regs[d] as i32) < imm as i32),
            op::JMP32_JSLE_X => jump!(regs[d] as i32 <= sv as i32),
            op::JMP32_JSLE_K => jump!(regs[d] as i32 <= imm as i32),

            // ---- calls and exit ----
            op::JMP_CALL => match s.src {
                0 => match call_helper(helpers, mem, cur, u64::from(s.imm as u32), &regs)? {
                    HelperReturn::Value(v) => regs[0] = v,
                    HelperReturn::Suspend => suspend!(),
                },
                BPF_PSEUDO_CALL => {
                    if depth + 1 >= MAX_CALL_FRAMES {
                        return Err(BpfError::CallDepthExceeded { pc: cur, max: MAX_CALL_FRAMES });
                    }
                    frames[depth] = Frame { ret: pc, saved: [regs[6], regs[7], regs[8], regs[9]] };
                    depth += 1;
                    mem.enter_frame(depth);
                    regs[usize::from(BPF_REG_FP)] = stack_top(depth);
                    pc = pc.wrapping_add_signed(s.imm as isize);
                }
                _ => {
                    let btf_id = s.imm as u32;
                    let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
                    regs[0] = helpers.call_kfunc(btf_id, args, mem).map_err(|e| match e {
                        HelperError::Unknown => BpfError::UnknownKfunc { pc: cur, btf_id },
                        HelperError::Fault(a) => a.at(cur),
                        HelperError::Failed(message) => {
                            BpfError::HelperFailed { pc: cur, id: u64::from(btf_id), message }
                        }
                    })?;
                }
            },
            op::JMP_CALLX => match call_helper(helpers, mem, cur, regs[d], &regs)? {
                HelperReturn::Value(v) => regs[0] = v,
                HelperReturn::Suspend => suspend!(),
            },
            op::JMP_EXIT => {
                if depth == 0 {
                    st.executed = executed;
                    return Ok(VmExit::Exit(Exit { r0: regs[0], insns: executed }));
                }
                depth -= 1;
                let f = frames[depth];
                regs[6..10].copy_from_slice(&f.saved);
                regs[usize::from(BPF_REG_FP)] = stack_top(depth);
                mem.leave_to_frame(depth);
                pc = f.ret;
            }

            // ---- BPF_LD: lddw ----
            op::LD_IMM_DW => {
                regs[d] = imm;
                pc += 1;
            }

            // ---- BPF_LDX ----
            op::LDX_MEM_B => ldx!(1),
            op::LDX_MEM_H => ldx!(2),
            op::LDX_MEM_W => ldx!(4),
            op::LDX_MEM_DW => ldx!(8),
            op::LDX_MEMSX_B => {
                ldx!(1);
                regs[d] = regs[d] as i8 as u64;
            }
            op::LDX_MEMSX_H => {
                ldx!(2);
                regs[d] = regs[d] as i16 as u64;
            }
            op::LDX_MEMSX_W => {
                ldx!(4);
                regs[d] = regs[d] as i32 as u64;
            }

            // ---- BPF_ST / BPF_STX ----
            op::ST_MEM_B => st!(1, imm),
            op::ST_MEM_H => st!(2, imm),
            op::ST_MEM_W => st!(4, imm),
            op::ST_MEM_DW => st!(8, imm),
            op::STX_MEM_B => st!(1, sv),
            op::STX_MEM_H => st!(2, sv),
            op::STX_MEM_W => st!(4, sv),
            op::STX_MEM_DW => st!(8, sv),
            op::STX_ATOMIC_W => atomic(&mut regs, mem, helpers, *s, 4).map_err(|e| e.at(cur))?,
            op::STX_ATOMIC_DW => atomic(&mut regs, mem, helpers, *s, 8).map_err(|e| e.at(cur))?,

            // The loader refused every other opcode; the slot after an lddw is never reached.
            code => return Err(BpfError::InvalidOpcode { pc: cur, code }),
        }
    }
}

/// `BPF_DIV`: unsigned (`off` 0) or signed (`off` 1); by zero gives 0, `INT64_MIN / -1` wraps.
#[inline]
fn div64(a: u64, b: u64, off: i16) -> u64 {
    match (b, off) {
        (0, _) => 0,
        (_, 0) => a / b,
        _ => (a as i64).wrapping_div(b as i64) as u64,
    }
}

/// `BPF_MOD`: unsigned or signed (result has the dividend's sign); by zero leaves the dividend.
#[inline]
fn mod64(a: u64, b: u64, off: i16) -> u64 {
    match (b, off) {
        (0, _) => a,
        (_, 0) => a % b,
        _ => (a as i64).wrapping_rem(b as i64) as u64,
    }
}

/// 32-bit `BPF_DIV`.
#[inline]
fn div32(a: u32, b: u32, off: i16) -> u32 {
    match (b, off) {
        (0, _) => 0,
        (_, 0) => a / b,
        _ => (a as i32).wrapping_div(b as i32) as u32,
    }
}

/// 32-bit `BPF_MOD`.
#[inline]
fn mod32(a: u32, b: u32, off: i16) -> u32 {
    match (b, off) {
        (0, _) => a,
        (_, 0) => a % b,
        _ => (a as i32).wrapping_rem(b as i32) as u32,
    }
}

/// A helper call (`BPF_CALL` with `src_reg` 0 or `callx`); `id` is checked to fit the helper id space.
fn call_helper<H: Helpers + ?Sized>(
    helpers: &mut H,
    mem: &mut Memory,
    pc: usize,
    id: u64,
    regs: &[u64; 16],
) -> Result<HelperReturn, BpfError> {
    let id32 = u32::try_from(id).map_err(|_| BpfError::UnknownHelper { pc, id })?;
    let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
    helpers.call_resumable(id32, args, mem).map_err(|e| helper_error(e, pc, id))
}

/// A helper's error as the run's error at instruction `pc`.
#[must_use]
pub fn helper_error(e: HelperError, pc: usize, id: u64) -> BpfError {
    match e {
        HelperError::Unknown => BpfError::UnknownHelper { pc, id },
        HelperError::Fault(a) => a.at(pc),
        HelperError::Failed(message) => BpfError::HelperFailed { pc, id, message },
    }
}

/// `BPF_STX | BPF_ATOMIC`: the `STX_ATOMIC_W`/`STX_ATOMIC_DW` cases of `___bpf_prog_run`. The VM runs one program
/// at a time, so read-modify-write is atomic by construction.
#[inline]
fn atomic<E: ExternalMemory + ?Sized>(
    regs: &mut [u64; 16],
    mem: &mut Memory,
    ext: &mut E,
    s: Slot,
    size: usize,
) -> Result<(), super::error::AccessError> {
    let addr = regs[usize::from(s.dst & 15)].wrapping_add(s.off as i64 as u64);
    let mask = if size == 4 { u64::from(u32::MAX) } else { u64::MAX };
    let src = usize::from(s.src & 15);
    let sv = regs[src] & mask;
    let old = mem.load(addr, size, ext)?;
    let op = s.imm as u32;
    let new = match op & !BPF_FETCH {
        o if o == u32::from(BPF_ADD) => old.wrapping_add(sv) & mask,
        o if o == u32::from(BPF_OR) => old | sv,
        o if o == u32::from(BPF_AND) => old & sv,
        o if o == u32::from(BPF_XOR) => old ^ sv,
        o if o == BPF_XCHG & !BPF_FETCH => sv,
        _ => {
            // BPF_CMPXCHG: compare with r0, old value to r0.
            if old == regs[0] & mask {
                mem.store(addr, size, sv, ext)?;
            }
            regs[0] = old;
            return Ok(());
        }
    };
    mem.store(addr, size, new, ext)?;
    if op & BPF_FETCH != 0 {
        regs[src] = old;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
