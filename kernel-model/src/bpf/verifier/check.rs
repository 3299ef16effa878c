//! `do_check` and what it calls (kernel/bpf/verifier.c): `check_alu_op` / `adjust_reg_min_max_vals`,
//! `check_mem_access`, `check_stack_write` / `check_stack_read`, `check_cond_jmp_op` / `is_branch_taken` /
//! `reg_set_min_max` / `mark_ptr_or_null_regs`, `check_helper_call` / `check_func_arg`, `check_func_call` /
//! `prepare_func_exit`, `check_return_code`, `check_reference_leak`, `is_state_visited` and
//! `check_max_stack_depth`.

use super::cfg::Cfg;
use super::ctx;
use super::helpers::{self, ArgType, FuncProto, RetType};
use super::log::{self, print_insn, Stats, VerifierLog};
use super::regs::{RegState, RegType};
use super::stack::{SlotType, Stack, BPF_REG_SIZE};
use super::tnum::Tnum;
use super::{Refusal, VerifierEnv};
use crate::bpf::insn::*;
use crate::bpf::maps::MapType;
use crate::profile::KernelProfile;
use std::collections::BTreeMap;

/// `BPF_COMPLEXITY_LIMIT_JMP_SEQ`.
const BPF_COMPLEXITY_LIMIT_JMP_SEQ: usize = 8192;
/// `BPF_MAX_VAR_OFF`.
const BPF_MAX_VAR_OFF: i64 = 1 << 29;
/// `BPF_MAX_VAR_SIZ`.
const BPF_MAX_VAR_SIZ: u64 = 1 << 29;
/// How many explored states per instruction are kept and compared (the kernel evicts by hit/miss counts).
const MAX_STATES_PER_INSN: usize = 64;

/// `struct bpf_func_state`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Frame {
    regs: [RegState; MAX_BPF_REG as usize],
    stack: Stack,
    /// The call instruction's index (`callsite`), `usize::MAX` for the main program.
    callsite: usize,
    subprog: usize,
}

/// `struct bpf_verifier_state`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct VState {
    frames: Vec<Frame>,
    /// Acquired references: (id, instruction that acquired it).
    refs: Vec<(u32, usize)>,
}

impl VState {
    fn cur(&self) -> &Frame {
        self.frames.last().expect("a frame")
    }
    fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a frame")
    }
}

struct Explored {
    state: VState,
    id: u64,
    /// On the path being explored (`branches > 0`).
    active: bool,
}

struct Pending {
    pc: usize,
    prev: usize,
    state: VState,
    path_len: usize,
}

enum Flow {
    Next(usize),
    Exit,
}

pub(super) struct Verifier<'a, 'l> {
    insns: &'a [Insn],
    env: &'a VerifierEnv<'a>,
    cfg: &'a Cfg,
    log: &'l mut VerifierLog,
    pub(super) stats: Stats,
    explored: BTreeMap<usize, Vec<Explored>>,
    path: Vec<(usize, u64)>,
    pending: Vec<Pending>,
    next_state_id: u64,
    next_id: u32,
    jmps_processed: usize,
    prev_jmps: usize,
    prev_insns: usize,
    live_states: usize,
    stack_depth: Vec<usize>,
    /// Static call graph: (caller subprog, callee subprog).
    calls: Vec<(usize, usize)>,
}

type R<T> = Result<T, Refusal>;

fn v612(p: KernelProfile) -> bool {
    p >= KernelProfile::V6_12
}

impl<'a, 'l> Verifier<'a, 'l> {
    pub(super) fn new(
        insns: &'a [Insn],
        env: &'a VerifierEnv<'a>,
        cfg: &'a Cfg,
        log: &'l mut VerifierLog,
    ) -> Self {
        Verifier {
            insns,
            env,
            cfg,
            log,
            stats: Stats::default(),
            explored: BTreeMap::new(),
            path: Vec::new(),
            pending: Vec::new(),
            next_state_id: 0,
            next_id: 0,
            jmps_processed: 0,
            prev_jmps: 0,
            prev_insns: 0,
            live_states: 0,
            stack_depth: vec![0; cfg.subprog_starts.len()],
            calls: Vec::new(),
        }
    }

    fn p(&self) -> KernelProfile {
        self.env.profile
    }

    fn tname(&self, r: &RegState) -> &'static str {
        r.typ.name(self.p(), r.ringbuf)
    }

    // ---- do_check ------------------------------------------------------------------------------------------------

    /// `do_check`: the main loop over instructions, path by path.
    pub(super) fn do_check(&mut self) -> R<()> {
        let mut regs: [RegState; MAX_BPF_REG as usize] = Default::default();
        regs[1] = RegState::pointer(RegType::PtrToCtx);
        regs[BPF_REG_FP as usize] = RegState::pointer(RegType::PtrToStack);
        let mut cur = VState {
            frames: vec![Frame {
                regs,
                stack: Stack::default(),
                callsite: usize::MAX,
                subprog: 0,
            }],
            refs: vec![],
        };
        let mut pc = 0usize;
        loop {
            self.stats.insn_processed += 1;
            if self.stats.insn_processed > BPF_COMPLEXITY_LIMIT_INSNS {
                return Err(Refusal {
                    pc,
                    message: format!(
                        "BPF program is too large. Processed {} insn",
                        self.stats.insn_processed
                    ),
                });
            }
            let mut pruned = false;
            if self.cfg.prune[pc] {
                pruned = self.is_state_visited(pc, &cur)?;
            }
            let flow = if pruned {
                self.log.at(1, || format!("{pc}: safe"));
                Flow::Exit
            } else {
                if self.log.level >= 2 {
                    let s = self.render_state(&cur);
                    self.log.verbose(&format!("{pc}:{s}"));
                }
                let insn = self.insns[pc];
                let next_imm = self.insns.get(pc + 1).map_or(0, |i| i.imm);
                let name = (insn.code == BPF_JMP | BPF_CALL && insn.src_reg == 0)
                    .then(|| {
                        helpers::PROTOS
                            .iter()
                            .find(|p| p.id == insn.imm as u32)
                            .map(|p| p.name)
                    })
                    .flatten();
                self.log.at(1, || print_insn(pc, insn, next_imm, name));
                self.step(&mut cur, pc)?
            };
            match flow {
                Flow::Next(n) => pc = n,
                Flow::Exit => {
                    let Some(p) = self.pending.pop() else {
                        return Ok(());
                    };
                    for (ipc, id) in self.path.drain(p.path_len..) {
                        if let Some(list) = self.explored.get_mut(&ipc) {
                            if let Some(e) = list.iter_mut().find(|e| e.id == id) {
                                e.active = false;
                            }
                        }
                    }
                    cur = p.state;
                    pc = p.pc;
                    if self.log.level >= 1 {
                        let s = self.render_state(&cur);
                        self.log
                            .verbose(&format!("from {} to {}:{}", p.prev, p.pc, s));
                    }
                }
            }
        }
    }

    fn render_state(&self, s: &VState) -> String {
        let mut out = String::new();
        let f = s.cur();
        for (i, r) in f.regs.iter().enumerate() {
            if r.typ != RegType::NotInit {
                out.push_str(&format!(" R{i}={}", r.render(self.p())));
            }
        }
        for (spi, slot) in f.stack.slots.iter().enumerate() {
            let off = -8 * (spi as i32 + 1);
            if slot.types[0] == SlotType::Spill {
                out.push_str(&format!(" fp{off}={}", slot.spilled.render(self.p())));
            } else if slot.types.iter().any(|t| *t != SlotType::Invalid) {
                // print_verifier_state prints slot_type[0] (the byte nearest the frame pointer) first.
                let t: String = slot
                    .types
                    .iter()
                    .rev()
                    .map(|t| match t {
                        SlotType::Invalid => '?',
                        SlotType::Misc => 'm',
                        SlotType::Zero => '0',
                        SlotType::Spill => 'r',
                    })
                    .collect();
                out.push_str(&format!(" fp{off}={t}"));
            }
        }
        out
    }

    /// `is_state_visited`: infinite-loop detection against states on the current path, pruning against fully
    /// explored ones, and checkpointing (`add_new_state` when ≥ 2 jumps and ≥ 8 instructions since the last).
    fn is_state_visited(&mut self, pc: usize, cur: &VState) -> R<bool> {
        let exact_loop = v612(self.p());
        if let Some(list) = self.explored.get(&pc) {
            for e in list.iter().rev() {
                if e.active {
                    let looping = states_maybe_looping(&e.state, cur);
                    let eq = if exact_loop {
                        e.state == *cur
                    } else {
                        states_equal(&e.state, cur)
                    };
                    if looping && eq {
                        return Err(Refusal {
                            pc,
                            message: format!("infinite loop detected at insn {pc}"),
                        });
                    }
                } else if states_equal(&e.state, cur) {
                    return Ok(true);
                }
            }
        }
        let add = self.jmps_processed - self.prev_jmps >= 2
            && self.stats.insn_processed - self.prev_insns >= 8;
        if !add {
            return Ok(false);
        }
        self.prev_jmps = self.jmps_processed;
        self.prev_insns = self.stats.insn_processed;
        let id = self.next_state_id;
        self.next_state_id += 1;
        let list = self.explored.entry(pc).or_default();
        if list.len() >= MAX_STATES_PER_INSN {
            // Evict the oldest fully explored state, else the oldest on the path (a loop that only repeats a
            // state after more checkpoints than are kept then ends at the complexity limit instead).
            let i = list.iter().position(|e| !e.active).unwrap_or(0);
            list.remove(i);
            self.live_states -= 1;
        }
        list.push(Explored {
            state: cur.clone(),
            id,
            active: true,
        });
        self.stats.max_states_per_insn = self.stats.max_states_per_insn.max(list.len());
        self.stats.total_states += 1;
        self.live_states += 1;
        self.stats.peak_states = self.stats.peak_states.max(self.live_states);
        self.path.push((pc, id));
        Ok(false)
    }

    fn push_stack(&mut self, pc: usize, prev: usize, state: VState) -> R<()> {
        if self.pending.len() + 1 > BPF_COMPLEXITY_LIMIT_JMP_SEQ {
            return Err(Refusal {
                pc: prev,
                message: format!(
                    "The sequence of {} jumps is too complex.",
                    self.pending.len() + 1
                ),
            });
        }
        self.pending.push(Pending {
            pc,
            prev,
            state,
            path_len: self.path.len(),
        });
        Ok(())
    }

    // ---- registers -----------------------------------------------------------------------------------------------

    /// `check_reg_arg(..., SRC_OP)`.
    fn src(&self, s: &VState, pc: usize, r: u8) -> R<RegState> {
        if r >= MAX_BPF_REG {
            return Err(Refusal {
                pc,
                message: format!("R{r} is invalid"),
            });
        }
        let reg = &s.cur().regs[r as usize];
        if reg.typ == RegType::NotInit {
            return Err(Refusal {
                pc,
                message: format!("R{r} !read_ok"),
            });
        }
        Ok(reg.clone())
    }

    /// `check_reg_arg(..., DST_OP)`.
    fn dst_ok(pc: usize, r: u8) -> R<()> {
        if r >= MAX_BPF_REG {
            return Err(Refusal {
                pc,
                message: format!("R{r} is invalid"),
            });
        }
        if r == BPF_REG_FP {
            return Err(Refusal {
                pc,
                message: "frame pointer is read only".into(),
            });
        }
        Ok(())
    }

    fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    // ---- one instruction -----------------------------------------------------------------------------------------

    fn step(&mut self, s: &mut VState, pc: usize) -> R<Flow> {
        let insn = self.insns[pc];
        let class = insn.class();
        match class {
            BPF_ALU | BPF_ALU64 => {
                self.check_alu_op(s, pc, insn)?;
                Ok(Flow::Next(pc + 1))
            }
            BPF_LDX => {
                let src = self.src(s, pc, insn.src_reg)?;
                Self::dst_ok(pc, insn.dst_reg)?;
                let size = i64::from(size_bytes(insn.code));
                let val = self.check_mem_access(
                    s,
                    pc,
                    insn.src_reg,
                    &src,
                    i64::from(insn.off),
                    size,
                    false,
                    None,
                )?;
                let mut val = val.unwrap_or_else(RegState::unknown);
                if bpf_mode(insn.code) == BPF_MEMSX {
                    val = RegState::unknown();
                }
                s.cur_mut().regs[insn.dst_reg as usize] = val;
                Ok(Flow::Next(pc + 1))
            }
            BPF_STX => {
                let v = self.src(s, pc, insn.src_reg)?;
                let d = self.src(s, pc, insn.dst_reg)?;
                let size = i64::from(size_bytes(insn.code));
                if bpf_mode(insn.code) == BPF_ATOMIC {
                    // check_atomic
                    if d.typ == RegType::PtrToCtx {
                        let what = if v612(self.p()) {
                            "BPF_ATOMIC"
                        } else {
                            "BPF_XADD"
                        };
                        return Err(Refusal {
                            pc,
                            message: format!(
                                "{what} stores into R{} {} is not allowed",
                                insn.dst_reg,
                                self.tname(&d)
                            ),
                        });
                    }
                    self.check_mem_access(
                        s,
                        pc,
                        insn.dst_reg,
                        &d,
                        i64::from(insn.off),
                        size,
                        false,
                        None,
                    )?;
                    self.check_mem_access(
                        s,
                        pc,
                        insn.dst_reg,
                        &d,
                        i64::from(insn.off),
                        size,
                        true,
                        Some(RegState::unknown()),
                    )?;
                    let op = insn.imm as u32;
                    if op == BPF_CMPXCHG {
                        s.cur_mut().regs[0] = RegState::unknown();
                    } else if op & BPF_FETCH != 0 {
                        s.cur_mut().regs[insn.src_reg as usize] = RegState::unknown();
                    }
                } else {
                    self.check_mem_access(
                        s,
                        pc,
                        insn.dst_reg,
                        &d,
                        i64::from(insn.off),
                        size,
                        true,
                        Some(v),
                    )?;
                }
                Ok(Flow::Next(pc + 1))
            }
            BPF_ST => {
                let d = self.src(s, pc, insn.dst_reg)?;
                if d.typ == RegType::PtrToCtx {
                    // check_st / do_check: is_ctx_reg
                    return Err(Refusal {
                        pc,
                        message: format!(
                            "BPF_ST stores into R{} {} is not allowed",
                            insn.dst_reg,
                            self.tname(&d)
                        ),
                    });
                }
                let size = i64::from(size_bytes(insn.code));
                let mut v = RegState::known(insn.imm as i64 as u64);
                v.id = u32::MAX; // an immediate, not a register: never a spill of a register
                self.check_mem_access(
                    s,
                    pc,
                    insn.dst_reg,
                    &d,
                    i64::from(insn.off),
                    size,
                    true,
                    Some(v),
                )?;
                Ok(Flow::Next(pc + 1))
            }
            BPF_LD => {
                if !insn.is_lddw() {
                    return Err(Refusal {
                        pc,
                        message: "BPF_LD_[ABS|IND] instructions not allowed for this program type"
                            .into(),
                    });
                }
                Self::dst_ok(pc, insn.dst_reg)?;
                let next = self.insns[pc + 1];
                let reg = match insn.src_reg {
                    0 => RegState::known(
                        u64::from(insn.imm as u32) | (u64::from(next.imm as u32) << 32),
                    ),
                    BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE => {
                        let id = insn.imm as u32;
                        let Some(m) = self.env.maps.iter().find(|m| m.id == id) else {
                            // resolve_pseudo_ldimm64
                            return Err(Refusal {
                                pc,
                                message: format!(
                                    "fd {} is not pointing to valid bpf_map",
                                    insn.imm
                                ),
                            });
                        };
                        if insn.src_reg == BPF_PSEUDO_MAP_FD {
                            let mut r = RegState::pointer(RegType::ConstPtrToMap);
                            r.map = m.id;
                            r
                        } else {
                            let mut r = RegState::pointer(RegType::PtrToMapValue);
                            r.map = m.id;
                            r.off = next.imm;
                            r
                        }
                    }
                    _ => RegState::unknown(),
                };
                s.cur_mut().regs[insn.dst_reg as usize] = reg;
                Ok(Flow::Next(pc + 2))
            }
            BPF_JMP | BPF_JMP32 => {
                self.jmps_processed += 1;
                let op = bpf_op(insn.code);
                match op {
                    BPF_CALL if class == BPF_JMP => {
                        if bpf_src(insn.code) != BPF_K {
                            return Err(Refusal {
                                pc,
                                message: "BPF_CALL uses reserved fields".into(),
                            });
                        }
                        match insn.src_reg {
                            BPF_PSEUDO_CALL => self.check_func_call(s, pc, insn),
                            BPF_PSEUDO_KFUNC_CALL => {
                                for r in 0..=5 {
                                    s.cur_mut().regs[r] = RegState::not_init();
                                }
                                s.cur_mut().regs[0] = RegState::unknown();
                                Ok(Flow::Next(pc + 1))
                            }
                            _ => {
                                self.check_helper_call(s, pc, insn.imm)?;
                                Ok(Flow::Next(pc + 1))
                            }
                        }
                    }
                    BPF_EXIT if class == BPF_JMP => self.check_exit(s, pc),
                    BPF_JA => {
                        let off = if class == BPF_JMP32 {
                            i64::from(insn.imm)
                        } else {
                            i64::from(insn.off)
                        };
                        Ok(Flow::Next((pc as i64 + 1 + off) as usize))
                    }
                    _ => self.check_cond_jmp_op(s, pc, insn),
                }
            }
            _ => Err(Refusal {
                pc,
                message: format!("unknown insn class {class}"),
            }),
        }
    }

    // ---- ALU -----------------------------------------------------------------------------------------------------

    /// `check_alu_op`.
    fn check_alu_op(&mut self, s: &mut VState, pc: usize, insn: Insn) -> R<()> {
        let op = bpf_op(insn.code);
        let is64 = insn.class() == BPF_ALU64;
        let d = insn.dst_reg;
        let x = bpf_src(insn.code) == BPF_X;
        if op == BPF_END || op == BPF_NEG {
            let v = self.src(s, pc, d)?;
            Self::dst_ok(pc, d)?;
            let r = if op == BPF_NEG && v.is_const() {
                let n = v.var_off.value.wrapping_neg();
                RegState::known(if is64 { n } else { u64::from(n as u32) })
            } else {
                RegState::unknown()
            };
            s.cur_mut().regs[d as usize] = r;
            return Ok(());
        }
        if op == BPF_MOV {
            let val = if x {
                let v = self.src(s, pc, insn.src_reg)?;
                Self::dst_ok(pc, d)?;
                if insn.off != 0 {
                    RegState::unknown()
                } else if is64 {
                    v
                } else if v.typ.is_pointer() {
                    RegState::unknown().also(|r| r.zext32())
                } else {
                    trunc32(&v)
                }
            } else {
                Self::dst_ok(pc, d)?;
                if is64 {
                    RegState::known(insn.imm as i64 as u64)
                } else {
                    RegState::known(u64::from(insn.imm as u32))
                }
            };
            s.cur_mut().regs[d as usize] = val;
            return Ok(());
        }
        let src = if x {
            self.src(s, pc, insn.src_reg)?
        } else {
            if (op == BPF_DIV || op == BPF_MOD) && insn.imm == 0 {
                return Err(Refusal {
                    pc,
                    message: "div by zero".into(),
                });
            }
            if matches!(op, BPF_LSH | BPF_RSH | BPF_ARSH) {
                let bits = if is64 { 64 } else { 32 };
                if insn.imm < 0 || insn.imm >= bits {
                    return Err(Refusal {
                        pc,
                        message: format!("invalid shift {}", insn.imm),
                    });
                }
            }
            if is64 {
                RegState::known(insn.imm as i64 as u64)
            } else {
                RegState::known(u64::from(insn.imm as u32))
            }
        };
        let dst = self.src(s, pc, d)?;
        Self::dst_ok(pc, d)?;
        let out = self.adjust_reg_min_max_vals(pc, d, dst, src, op, is64)?;
        s.cur_mut().regs[d as usize] = out;
        Ok(())
    }

    /// `adjust_reg_min_max_vals` → `adjust_ptr_min_max_vals` / `adjust_scalar_min_max_vals`.
    fn adjust_reg_min_max_vals(
        &mut self,
        pc: usize,
        d: u8,
        dst: RegState,
        src: RegState,
        op: u8,
        is64: bool,
    ) -> R<RegState> {
        let refuse = |m: String| Err(Refusal { pc, message: m });
        if dst.typ.is_pointer() && src.typ.is_pointer() {
            if op == BPF_SUB {
                return Ok(RegState::unknown());
            }
            return refuse(format!(
                "R{d} pointer {} pointer prohibited",
                log::alu_string(op)
            ));
        }
        if dst.typ.is_pointer() || src.typ.is_pointer() {
            let (ptr, off, scalar_dst) = if dst.typ.is_pointer() {
                (dst, src, false)
            } else {
                (src, dst, true)
            };
            if !is64 {
                if op == BPF_SUB {
                    return Ok(RegState::unknown().also(|r| r.zext32()));
                }
                return refuse(format!("R{d} 32-bit pointer arithmetic prohibited"));
            }
            if ptr.typ.may_be_null() {
                return refuse(format!(
                    "R{d} pointer arithmetic on {} prohibited, null-check it first",
                    self.tname(&ptr)
                ));
            }
            if ptr.typ == RegType::ConstPtrToMap
                && !(v612(self.p()) && off.is_null() && op == BPF_ADD)
            {
                return refuse(format!(
                    "R{d} pointer arithmetic on {} prohibited",
                    self.tname(&ptr)
                ));
            }
            match op {
                BPF_ADD => {}
                BPF_SUB if scalar_dst => {
                    return refuse(format!("R{d} tried to subtract pointer from scalar"))
                }
                BPF_SUB => {}
                BPF_AND | BPF_OR | BPF_XOR => {
                    return refuse(format!(
                        "R{d} bitwise operator {} on pointer prohibited",
                        log::alu_string(op)
                    ))
                }
                _ => {
                    return refuse(format!(
                        "R{d} pointer arithmetic with {} operator prohibited",
                        log::alu_string(op)
                    ))
                }
            }
            let mut r = ptr.clone();
            if off.is_const() {
                let v = off.var_off.value as i64;
                let v = if op == BPF_SUB { v.wrapping_neg() } else { v };
                let n = i64::from(ptr.off) + v;
                if n.abs() >= BPF_MAX_VAR_OFF {
                    return refuse(format!(
                        "value {v} makes {} pointer be out of bounds",
                        self.tname(&ptr)
                    ));
                }
                r.off = n as i32;
                return Ok(r);
            }
            // A variable offset: var_off and bounds of the variable part.
            let (vo, lo, hi) = if op == BPF_ADD {
                (
                    ptr.var_off.add(off.var_off),
                    ptr.smin.checked_add(off.smin),
                    ptr.smax.checked_add(off.smax),
                )
            } else {
                (
                    ptr.var_off.sub(off.var_off),
                    ptr.smin.checked_sub(off.smax),
                    ptr.smax.checked_sub(off.smin),
                )
            };
            let mut v = RegState::from_tnum(vo);
            if let (Some(lo), Some(hi)) = (lo, hi) {
                v.smin = v.smin.max(lo);
                v.smax = v.smax.min(hi);
                v.sync();
            }
            r.var_off = v.var_off;
            r.smin = v.smin;
            r.smax = v.smax;
            r.umin = v.umin;
            r.umax = v.umax;
            r.id = self.new_id();
            return Ok(r);
        }
        Ok(if is64 {
            scalar_op(&dst, &src, op, 64)
        } else {
            trunc32(&scalar_op(&trunc32(&dst), &trunc32(&src), op, 32))
        })
    }

    // ---- memory --------------------------------------------------------------------------------------------------

    /// `check_mem_access`: a load (returns the loaded value) or a store of `val` through register `regno`.
    #[allow(clippy::too_many_arguments)]
    fn check_mem_access(
        &mut self,
        s: &mut VState,
        pc: usize,
        regno: u8,
        reg: &RegState,
        insn_off: i64,
        size: i64,
        write: bool,
        val: Option<RegState>,
    ) -> R<Option<RegState>> {
        let refuse = |m: String| Err(Refusal { pc, message: m });
        let off = i64::from(reg.off) + insn_off;
        match reg.typ {
            RegType::PtrToCtx => {
                // check_ctx_reg
                if reg.off != 0 {
                    return refuse(format!(
                        "dereference of modified ctx ptr R{regno} off={} disallowed",
                        reg.off
                    ));
                }
                if !reg.var_off.is_const() || reg.var_off.value != 0 {
                    return refuse(format!(
                        "variable ctx access var_off={} disallowed",
                        reg.var_off.render()
                    ));
                }
                // check_ctx_access
                if !ctx::is_valid_access(
                    self.env.prog_type,
                    self.env.isa,
                    self.p(),
                    insn_off,
                    size,
                    write,
                ) {
                    return refuse(format!(
                        "invalid bpf_context access off={insn_off} size={size}"
                    ));
                }
                Ok(Some(RegState::from_tnum(
                    Tnum::new(0, u64::MAX).cast(size as u8),
                )))
            }
            RegType::PtrToStack => {
                // check_ptr_alignment: the stack is always strict.
                let reg_off = reg
                    .var_off
                    .add(Tnum::constant((i64::from(reg.off) + insn_off) as u64));
                if !reg_off.is_aligned(size as u64) {
                    return refuse(format!(
                        "misaligned stack access off {}+{}+{} size {}",
                        reg.var_off.render(),
                        reg.off,
                        insn_off,
                        size
                    ));
                }
                if !reg.var_off.is_const() {
                    // check_stack_access (5.10) / the variable-offset forms (not modelled for stores in 6.12)
                    return refuse(format!(
                        "variable stack access var_off={} off={} size={}",
                        reg.var_off.render(),
                        off,
                        size
                    ));
                }
                let off = off + reg.var_off.value as i64;
                if off < -(MAX_BPF_STACK as i64) || off + size > 0 {
                    return refuse(if v612(self.p()) {
                        // check_stack_access_within_bounds
                        format!(
                            "invalid{} stack R{regno} off={off} size={size}",
                            if write { " write to" } else { " read from" }
                        )
                    } else {
                        // check_stack_access
                        format!("invalid stack off={off} size={size}")
                    });
                }
                let frameno = reg.frameno as usize;
                let subprog = s.frames[frameno].subprog;
                self.stack_depth[subprog] = self.stack_depth[subprog].max((-off) as usize);
                let off = off as i32;
                if write {
                    let v = val.unwrap_or_else(RegState::unknown);
                    self.check_stack_write(s, pc, frameno, off, size as usize, v)?;
                    Ok(None)
                } else {
                    self.check_stack_read(s, frameno, off, size as usize)
                        .map(Some)
                        .map_err(|m| Refusal { pc, message: m })
                }
            }
            RegType::PtrToMapValue | RegType::PtrToMem => {
                let limit = if reg.typ == RegType::PtrToMem {
                    i64::from(reg.mem_size)
                } else {
                    i64::from(
                        self.env
                            .maps
                            .iter()
                            .find(|m| m.id == reg.map)
                            .map_or(0, |m| m.value_size),
                    )
                };
                self.check_region(pc, regno, reg, off, size, limit, false)?;
                Ok(Some(RegState::from_tnum(
                    Tnum::new(0, u64::MAX).cast(size as u8),
                )))
            }
            _ => refuse(format!("R{regno} invalid mem access '{}'", self.tname(reg))),
        }
    }

    /// `check_map_access` / `check_mem_region_access` with `__check_map_access` / `__check_mem_access`.
    #[allow(clippy::too_many_arguments)]
    fn check_region(
        &self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        limit: i64,
        zero_ok: bool,
    ) -> R<()> {
        let err = |o: i64| {
            let message = if reg.typ == RegType::PtrToMem {
                format!("invalid access to memory, mem_size={limit} off={o} size={size}")
            } else {
                format!("invalid access to map value, value_size={limit} off={o} size={size}")
            };
            Err(Refusal { pc, message })
        };
        let check = |o: i64| {
            if o < 0 || (size == 0 && !zero_ok) || o + size > limit {
                err(o)
            } else {
                Ok(())
            }
        };
        if reg.var_off.is_const() {
            return check(off + reg.var_off.value as i64);
        }
        if reg.smin < 0 && (reg.smin == i64::MIN || off + reg.smin < 0) {
            return Err(Refusal {
                pc,
                message: format!(
                    "R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."
                ),
            });
        }
        check(reg.smin + off)?;
        if reg.umax >= BPF_MAX_VAR_OFF as u64 {
            return Err(Refusal {
                pc,
                message: format!(
                    "R{regno} unbounded memory access, make sure to bounds check any such access"
                ),
            });
        }
        check(reg.umax as i64 + off)
    }

    /// `check_stack_write` (`check_stack_write_fixed_off` in 6.12).
    fn check_stack_write(
        &mut self,
        s: &mut VState,
        pc: usize,
        frameno: usize,
        off: i32,
        size: usize,
        v: RegState,
    ) -> R<()> {
        let stack = &mut s.frames[frameno].stack;
        let from_reg = v.id != u32::MAX;
        if size == BPF_REG_SIZE && from_reg {
            stack.spill(off, v);
            return Ok(());
        }
        if v.typ.is_pointer() {
            return Err(Refusal {
                pc,
                message: "invalid size of register spill".into(),
            });
        }
        let t = if v.is_null() && (from_reg || v612(self.p())) {
            SlotType::Zero
        } else {
            SlotType::Misc
        };
        if size == BPF_REG_SIZE && v612(self.p()) && !from_reg {
            // 6.12 spills an 8-byte immediate store as a known scalar.
            let mut k = v;
            k.id = 0;
            stack.spill(off, k);
            return Ok(());
        }
        stack.write_bytes(off, size, t);
        Ok(())
    }

    /// `check_stack_read` (`check_stack_read_fixed_off` in 6.12). Errors are the message.
    fn check_stack_read(
        &self,
        s: &VState,
        frameno: usize,
        off: i32,
        size: usize,
    ) -> Result<RegState, String> {
        let stack = &s.frames[frameno].stack;
        let slot = (-off - 1) as usize;
        if !v612(self.p()) && stack.allocated() <= slot {
            return Err(format!("invalid read from stack off {off}+0 size {size}"));
        }
        if let Some(sp) = stack.spilled(off) {
            if size == BPF_REG_SIZE {
                return Ok(sp.spilled.clone());
            }
            if sp.spilled.typ != RegType::Scalar {
                return Err("invalid size of register fill".into());
            }
            return Ok(RegState::from_tnum(Tnum::new(0, u64::MAX).cast(size as u8)));
        }
        let mut zero = true;
        for i in 0..size as i32 {
            match stack.byte(off + i) {
                SlotType::Zero => {}
                SlotType::Misc => zero = false,
                _ => return Err(format!("invalid read from stack off {off}+{i} size {size}")),
            }
        }
        Ok(if zero {
            RegState::known(0)
        } else {
            RegState::unknown()
        })
    }

    // ---- jumps ---------------------------------------------------------------------------------------------------

    /// `check_cond_jmp_op`.
    fn check_cond_jmp_op(&mut self, s: &mut VState, pc: usize, insn: Insn) -> R<Flow> {
        let op = bpf_op(insn.code);
        let is32 = insn.class() == BPF_JMP32;
        let dst = self.src(s, pc, insn.dst_reg)?;
        let src = if bpf_src(insn.code) == BPF_X {
            self.src(s, pc, insn.src_reg)?
        } else if is32 {
            RegState::known(u64::from(insn.imm as u32))
        } else {
            RegState::known(insn.imm as i64 as u64)
        };
        let target = (pc as i64 + 1 + i64::from(insn.off)) as usize;
        let pred = self.is_branch_taken(&dst, &src, op, is32);
        match pred {
            Some(true) => return Ok(Flow::Next(target)),
            Some(false) => return Ok(Flow::Next(pc + 1)),
            None => {}
        }
        let mut taken = s.clone();
        // Null checks: `if rX == 0` / `if rX != 0` on a maybe-null pointer.
        if dst.typ.may_be_null() && src.is_null() && (op == BPF_JEQ || op == BPF_JNE) && !is32 {
            let (null_side, nonnull_side) = if op == BPF_JEQ {
                (&mut taken, &mut *s)
            } else {
                (&mut *s, &mut taken)
            };
            mark_ptr_or_null_regs(null_side, dst.id, true);
            mark_ptr_or_null_regs(nonnull_side, dst.id, false);
        } else if dst.typ == RegType::Scalar && src.is_const() {
            refine(
                &mut taken.cur_mut().regs[insn.dst_reg as usize],
                src.var_off.value,
                op,
                is32,
                true,
            );
            refine(
                &mut s.cur_mut().regs[insn.dst_reg as usize],
                src.var_off.value,
                op,
                is32,
                false,
            );
        } else if src.typ == RegType::Scalar && dst.is_const() && bpf_src(insn.code) == BPF_X {
            let f = flip_opcode(op);
            refine(
                &mut taken.cur_mut().regs[insn.src_reg as usize],
                dst.var_off.value,
                f,
                is32,
                true,
            );
            refine(
                &mut s.cur_mut().regs[insn.src_reg as usize],
                dst.var_off.value,
                f,
                is32,
                false,
            );
        }
        self.push_stack(target, pc, taken)?;
        Ok(Flow::Next(pc + 1))
    }

    /// `is_branch_taken`: `Some(true)` if always taken, `Some(false)` if never, `None` if unknown.
    fn is_branch_taken(&self, dst: &RegState, src: &RegState, op: u8, is32: bool) -> Option<bool> {
        if dst.typ.is_pointer() {
            // A pointer that cannot be null compared with 0.
            let not_null = if v612(self.p()) {
                !dst.typ.may_be_null() && dst.typ != RegType::Scalar
            } else {
                dst.typ == RegType::PtrToMapValue
            };
            if not_null && src.is_null() {
                return match op {
                    BPF_JEQ => Some(false),
                    BPF_JNE => Some(true),
                    _ => None,
                };
            }
            return None;
        }
        if src.typ != RegType::Scalar || !src.var_off.is_const() {
            return None;
        }
        let val = src.var_off.value;
        let r = if is32 { trunc32(dst) } else { dst.clone() };
        let (val, sval) = if is32 {
            (u64::from(val as u32), i64::from(val as u32 as i32))
        } else {
            (val, val as i64)
        };
        let (smin, smax) = if is32 {
            (i64::from(r.s32_min), i64::from(r.s32_max))
        } else {
            (r.smin, r.smax)
        };
        let yes_no = |yes: bool, no: bool| {
            if yes {
                Some(true)
            } else if no {
                Some(false)
            } else {
                None
            }
        };
        match op {
            BPF_JEQ => {
                if r.var_off.is_const() {
                    Some(r.var_off.value == val)
                } else {
                    yes_no(
                        false,
                        val < r.umin || val > r.umax || !r.var_off.contains(Tnum::constant(val)),
                    )
                }
            }
            BPF_JNE => {
                if r.var_off.is_const() {
                    Some(r.var_off.value != val)
                } else {
                    yes_no(
                        val < r.umin || val > r.umax || !r.var_off.contains(Tnum::constant(val)),
                        false,
                    )
                }
            }
            BPF_JSET => yes_no(
                r.var_off.value & val != 0,
                (r.var_off.value | r.var_off.mask) & val == 0,
            ),
            BPF_JGT => yes_no(r.umin > val, r.umax <= val),
            BPF_JGE => yes_no(r.umin >= val, r.umax < val),
            BPF_JLT => yes_no(r.umax < val, r.umin >= val),
            BPF_JLE => yes_no(r.umax <= val, r.umin > val),
            BPF_JSGT => yes_no(smin > sval, smax <= sval),
            BPF_JSGE => yes_no(smin >= sval, smax < sval),
            BPF_JSLT => yes_no(smax < sval, smin >= sval),
            BPF_JSLE => yes_no(smax <= sval, smin > sval),
            _ => None,
        }
    }

    // ---- calls ---------------------------------------------------------------------------------------------------

    /// `check_func_call`: a bpf-to-bpf call.
    fn check_func_call(&mut self, s: &mut VState, pc: usize, insn: Insn) -> R<Flow> {
        if s.frames.len() >= MAX_CALL_FRAMES {
            return Err(Refusal {
                pc,
                message: format!(
                    "the call stack of {} frames is too deep",
                    s.frames.len() + 1
                ),
            });
        }
        let target = (pc as i64 + 1 + i64::from(insn.imm)) as usize;
        let callee_sub = self.cfg.subprog_of(target);
        let caller_sub = s.cur().subprog;
        if !self.calls.contains(&(caller_sub, callee_sub)) {
            self.calls.push((caller_sub, callee_sub));
        }
        let mut regs: [RegState; MAX_BPF_REG as usize] = Default::default();
        regs[1..=5].clone_from_slice(&s.cur().regs[1..=5]);
        let mut fp = RegState::pointer(RegType::PtrToStack);
        fp.frameno = s.frames.len() as u8;
        regs[BPF_REG_FP as usize] = fp;
        for r in 0..=5 {
            s.cur_mut().regs[r] = RegState::not_init();
        }
        s.frames.push(Frame {
            regs,
            stack: Stack::default(),
            callsite: pc,
            subprog: callee_sub,
        });
        Ok(Flow::Next(target))
    }

    /// `BPF_EXIT`: `prepare_func_exit` for a subprogram; for the main program `check_reference_leak` and
    /// `check_return_code`.
    fn check_exit(&mut self, s: &mut VState, pc: usize) -> R<Flow> {
        let r0 = self.src(s, pc, 0)?;
        if s.frames.len() > 1 {
            let callee = s.frames.pop().expect("a frame");
            let caller = s.cur_mut();
            caller.regs[0] = r0;
            return Ok(Flow::Next(callee.callsite + 1));
        }
        if let Some((id, at)) = s.refs.first() {
            return Err(Refusal {
                pc,
                message: format!("Unreleased reference id={id} alloc_insn={at}"),
            });
        }
        // check_return_code: kprobe, tracepoint and raw_tracepoint programs may return anything (the
        // privileged loader may even return a pointer: `allow_ptr_leaks`).
        Ok(Flow::Exit)
    }

    /// `check_helper_call`.
    fn check_helper_call(&mut self, s: &mut VState, pc: usize, imm: i32) -> R<()> {
        let id = imm as u32;
        let p = self.p();
        let fnp = match helpers::get_func_proto(id, self.env.prog_type) {
            Ok(f) => f,
            Err(known) => {
                if imm < 0 || id >= helpers::func_max_id(p) {
                    return Err(Refusal {
                        pc,
                        message: format!("invalid func unknown#{imm}"),
                    });
                }
                if known.is_none() && crate::bpf::helpers::kernel_helper_name(id).is_some() {
                    // A helper the kernel has and probesim does not model: say so, not "unknown func".
                    return Err(Refusal { pc, message: crate::bpf::helpers::not_modelled(id) });
                }
                let name = known.unwrap_or("unknown");
                let message = if v612(p) {
                    format!("program of this type cannot use helper {name}#{id}")
                } else {
                    format!("unknown func {name}#{id}")
                };
                return Err(Refusal { pc, message });
            }
        };
        if !self.env.gpl && fnp.gpl_only {
            return Err(Refusal {
                pc,
                message: "cannot call GPL-restricted function from non-GPL compatible program"
                    .into(),
            });
        }
        let mut meta_map: Option<u32> = None;
        let mut release_id = 0u32;
        let mut alloc_size = 0u32;
        for (k, at) in fnp.args.iter().enumerate() {
            let regno = (k + 1) as u8;
            if *at == ArgType::DontCare {
                continue;
            }
            let reg = self.src(s, pc, regno)?;
            self.check_func_arg(
                s,
                pc,
                fnp,
                k,
                regno,
                &reg,
                &mut meta_map,
                &mut release_id,
                &mut alloc_size,
            )?;
        }
        // check_map_func_compatibility
        if let Some(mid) = meta_map {
            let m = self.env.maps.iter().find(|m| m.id == mid).expect("checked");
            let ok = match m.map_type {
                MapType::Ringbuf => matches!(
                    id,
                    crate::bpf::helpers::BPF_FUNC_RINGBUF_OUTPUT
                        | crate::bpf::helpers::BPF_FUNC_RINGBUF_RESERVE
                ),
                MapType::PerfEventArray => id == crate::bpf::helpers::BPF_FUNC_PERF_EVENT_OUTPUT,
                _ => !matches!(
                    id,
                    crate::bpf::helpers::BPF_FUNC_RINGBUF_OUTPUT
                        | crate::bpf::helpers::BPF_FUNC_RINGBUF_RESERVE
                        | crate::bpf::helpers::BPF_FUNC_PERF_EVENT_OUTPUT
                ),
            };
            if !ok {
                return Err(Refusal {
                    pc,
                    message: format!(
                        "cannot pass map_type {} into func {}#{}",
                        m.map_type.raw(),
                        fnp.name,
                        id
                    ),
                });
            }
        }
        if fnp.release {
            // release_reference: every copy of the record becomes unusable.
            s.refs.retain(|(r, _)| *r != release_id);
            for f in &mut s.frames {
                for r in f.regs.iter_mut() {
                    if r.ref_obj_id == release_id {
                        *r = RegState::unknown();
                    }
                }
                for sl in &mut f.stack.slots {
                    if sl.spilled.ref_obj_id == release_id {
                        sl.spilled = RegState::unknown();
                    }
                }
            }
        }
        for r in 1..=5 {
            s.cur_mut().regs[r] = RegState::not_init();
        }
        let r0 = match fnp.ret {
            RetType::Integer => RegState::unknown(),
            RetType::Void => RegState::not_init(),
            RetType::PtrToMapValueOrNull => {
                let mut r = RegState::pointer(RegType::PtrToMapValueOrNull);
                r.map = meta_map.unwrap_or(0);
                r.id = self.new_id();
                r
            }
            RetType::PtrToAllocMemOrNull => {
                let mut r = RegState::pointer(RegType::PtrToMemOrNull);
                r.mem_size = alloc_size;
                r.ringbuf = true;
                // `regs[BPF_REG_0].id = ++env->id_gen`, then acquire_reference_state takes the next id.
                let _ = self.new_id();
                let id = self.new_id();
                r.id = id;
                r.ref_obj_id = id;
                s.refs.push((id, pc));
                r
            }
        };
        s.cur_mut().regs[0] = r0;
        Ok(())
    }

    /// The register types an argument kind accepts (`compatible_reg_types`) and how the log lists them.
    fn arg_types(&self, at: ArgType) -> (&'static [RegType], &'static str) {
        use RegType::*;
        let p612 = v612(self.p());
        match at {
            ArgType::ConstMapPtr => (&[ConstPtrToMap], "map_ptr"),
            ArgType::PtrToCtx => (&[PtrToCtx], "ctx"),
            ArgType::PtrToMapKey | ArgType::PtrToMapValue if p612 => (
                &[PtrToStack, PtrToMapValue, PtrToMem],
                "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_",
            ),
            ArgType::PtrToMapKey | ArgType::PtrToMapValue => {
                (&[PtrToStack, PtrToMapValue], "fp, pkt, pkt_meta, map_value")
            }
            ArgType::PtrToMem | ArgType::PtrToUninitMem if p612 => (
                &[PtrToStack, PtrToMapValue, PtrToMem],
                "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_",
            ),
            ArgType::PtrToMem | ArgType::PtrToUninitMem => (
                &[PtrToStack, PtrToMapValue, PtrToMem],
                "fp, pkt, pkt_meta, map_value, mem, rdonly_buf, rdwr_buf",
            ),
            ArgType::PtrToAllocMem if p612 => (&[PtrToMem], "ringbuf_mem"),
            ArgType::PtrToAllocMem => (&[PtrToMem], "mem"),
            ArgType::ConstSize | ArgType::ConstSizeOrZero | ArgType::ConstAllocSizeOrZero => {
                (&[Scalar], if p612 { "scalar" } else { "inv" })
            }
            ArgType::Anything | ArgType::DontCare => (&[], ""),
        }
    }

    /// `check_func_arg`.
    #[allow(clippy::too_many_arguments)]
    fn check_func_arg(
        &mut self,
        s: &mut VState,
        pc: usize,
        fnp: &FuncProto,
        k: usize,
        regno: u8,
        reg: &RegState,
        meta_map: &mut Option<u32>,
        release_id: &mut u32,
        alloc_size: &mut u32,
    ) -> R<()> {
        let at = fnp.args[k];
        if at == ArgType::Anything {
            return Ok(());
        }
        // check_reg_type
        let (ok, list) = self.arg_types(at);
        if !ok.contains(&reg.typ)
            || (at == ArgType::PtrToAllocMem && v612(self.p()) && !reg.ringbuf)
        {
            return Err(Refusal {
                pc,
                message: format!("R{regno} type={} expected={list}", self.tname(reg)),
            });
        }
        match at {
            ArgType::ConstMapPtr => *meta_map = Some(reg.map),
            ArgType::PtrToMapKey | ArgType::PtrToMapValue => {
                let m = meta_map.and_then(|id| self.env.maps.iter().find(|m| m.id == id));
                let Some(m) = m else {
                    return Err(Refusal {
                        pc,
                        message: "invalid map_ptr to access map->key".into(),
                    });
                };
                let size = if at == ArgType::PtrToMapKey {
                    m.key_size
                } else {
                    m.value_size
                };
                self.check_helper_mem_access(s, pc, regno, reg, i64::from(size), false, false)?;
            }
            ArgType::PtrToMem | ArgType::PtrToUninitMem => {} // checked with the size argument
            ArgType::ConstSize | ArgType::ConstSizeOrZero => {
                let zero_ok = at == ArgType::ConstSizeOrZero;
                let mem_reg_no = regno - 1;
                let mem_reg = s.cur().regs[mem_reg_no as usize].clone();
                let raw = fnp.args[k - 1] == ArgType::PtrToUninitMem;
                // check_mem_size_reg
                if reg.smin < 0 {
                    return Err(Refusal {
                        pc,
                        message: format!(
                            "R{regno} min value is negative, either use unsigned or 'var &= const'"
                        ),
                    });
                }
                if reg.umin == 0 && !zero_ok {
                    if v612(self.p()) {
                        return Err(Refusal {
                            pc,
                            message: format!(
                                "R{regno} invalid zero-sized read: u64=[{},{}]",
                                reg.umin as i64, reg.umax as i64
                            ),
                        });
                    }
                    self.check_helper_mem_access(s, pc, mem_reg_no, &mem_reg, 0, false, raw)?;
                }
                if reg.umax >= BPF_MAX_VAR_SIZ {
                    return Err(Refusal {
                        pc,
                        message: format!("R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'"),
                    });
                }
                // A variable size disables raw mode (meta = NULL): the whole range must be initialised.
                let raw = raw && reg.var_off.is_const();
                self.check_helper_mem_access(
                    s,
                    pc,
                    mem_reg_no,
                    &mem_reg,
                    reg.umax as i64,
                    zero_ok,
                    raw,
                )?;
            }
            ArgType::ConstAllocSizeOrZero => {
                if !reg.var_off.is_const() {
                    return Err(Refusal {
                        pc,
                        message: format!("R{regno} is not a known constant'"),
                    });
                }
                *alloc_size = reg.var_off.value as u32;
            }
            ArgType::PtrToAllocMem => {
                if reg.ref_obj_id == 0 || !s.refs.iter().any(|(r, _)| *r == reg.ref_obj_id) {
                    return Err(Refusal {
                        pc,
                        message: format!(
                            "R{regno} must be referenced when passed to release function"
                        ),
                    });
                }
                if reg.off != 0 || !reg.var_off.is_const() || reg.var_off.value != 0 {
                    return Err(Refusal {
                        pc,
                        message: format!(
                            "R{regno} must have zero offset when passed to release func"
                        ),
                    });
                }
                *release_id = reg.ref_obj_id;
            }
            _ => {}
        }
        Ok(())
    }

    /// `check_helper_mem_access`: `size` bytes at `reg` that the helper reads (`raw`: writes).
    #[allow(clippy::too_many_arguments)]
    fn check_helper_mem_access(
        &mut self,
        s: &mut VState,
        pc: usize,
        regno: u8,
        reg: &RegState,
        size: i64,
        zero_ok: bool,
        raw: bool,
    ) -> R<()> {
        match reg.typ {
            RegType::PtrToStack => {
                let (min_off, max_off) = if reg.var_off.is_const() {
                    let o = i64::from(reg.off) + reg.var_off.value as i64;
                    (o, o)
                } else {
                    (i64::from(reg.off) + reg.smin, i64::from(reg.off) + reg.smax)
                };
                let p = self.p();
                // check_stack_boundary (5.10) / check_stack_access_within_bounds (6.12)
                if min_off >= 0
                    || min_off < -(MAX_BPF_STACK as i64)
                    || max_off + size > 0
                    || (size == 0 && !zero_ok)
                {
                    let message = if v612(p) {
                        format!(
                            "invalid indirect access to stack R{regno} off={min_off} size={size}"
                        )
                    } else {
                        format!("invalid stack type R{regno} off={min_off} access_size={size}")
                    };
                    return Err(Refusal { pc, message });
                }
                if size == 0 {
                    return Ok(());
                }
                let frameno = reg.frameno as usize;
                let subprog = s.frames[frameno].subprog;
                self.stack_depth[subprog] = self.stack_depth[subprog].max((-min_off) as usize);
                let stack = &mut s.frames[frameno].stack;
                if raw {
                    stack.write_bytes(min_off as i32, size as usize, SlotType::Misc);
                    return Ok(());
                }
                for b in min_off..max_off + size {
                    let t = stack.byte(b as i32);
                    if t == SlotType::Invalid {
                        let i = b - min_off;
                        let message = if v612(p) {
                            format!("invalid indirect read from stack R{regno} off {min_off}+{i} size {size}")
                        } else {
                            format!(
                                "invalid indirect read from stack off {min_off}+{i} size {size}"
                            )
                        };
                        return Err(Refusal { pc, message });
                    }
                }
                Ok(())
            }
            RegType::PtrToMapValue | RegType::PtrToMem => {
                let limit = if reg.typ == RegType::PtrToMem {
                    i64::from(reg.mem_size)
                } else {
                    i64::from(
                        self.env
                            .maps
                            .iter()
                            .find(|m| m.id == reg.map)
                            .map_or(0, |m| m.value_size),
                    )
                };
                self.check_region(
                    pc,
                    regno,
                    reg,
                    i64::from(reg.off),
                    size,
                    limit,
                    zero_ok || size == 0,
                )
            }
            _ => Err(Refusal {
                pc,
                message: format!("R{regno} invalid mem access '{}'", self.tname(reg)),
            }),
        }
    }

    /// `check_max_stack_depth`: the deepest chain of calls and its combined stack (each frame rounded up to 32
    /// bytes, at least 32) within `MAX_BPF_STACK`.
    pub(super) fn check_max_stack_depth(&self) -> R<()> {
        fn walk(v: &Verifier<'_, '_>, sub: usize, frame: usize, depth: usize) -> R<()> {
            if frame >= MAX_CALL_FRAMES {
                return Err(Refusal {
                    pc: v.cfg.subprog_starts[sub],
                    message: format!("the call stack of {} frames is too deep !", frame + 1),
                });
            }
            let depth = depth + v.stack_depth[sub].max(1).div_ceil(32) * 32;
            if depth > MAX_BPF_STACK {
                return Err(Refusal {
                    pc: v.cfg.subprog_starts[sub],
                    message: format!(
                        "combined stack size of {} calls is {}. Too large",
                        frame + 1,
                        depth
                    ),
                });
            }
            for &(caller, callee) in &v.calls {
                if caller == sub {
                    walk(v, callee, frame + 1, depth)?;
                }
            }
            Ok(())
        }
        walk(self, 0, 0, 0)
    }
}

trait Also: Sized {
    fn also(self, f: impl FnOnce(&mut Self)) -> Self;
}
impl Also for RegState {
    fn also(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

/// The low 32 bits of a scalar, zero-extended (`coerce_reg_to_size(reg, 4)`).
fn trunc32(r: &RegState) -> RegState {
    if r.typ.is_pointer() {
        return RegState::unknown().also(|x| x.zext32());
    }
    let mut out = RegState::from_tnum(r.var_off.cast(4));
    if r.umax <= u64::from(u32::MAX) {
        out.umin = out.umin.max(r.umin);
        out.umax = out.umax.min(r.umax);
        out.smin = out.umin as i64;
        out.smax = out.umax as i64;
        out.sync();
    }
    out
}

/// `adjust_scalar_min_max_vals` on 64-bit values (`bits` = 32 for an ALU32 operation on zero-extended halves).
fn scalar_op(a: &RegState, b: &RegState, op: u8, bits: u8) -> RegState {
    let known = b.var_off.is_const();
    if !known && !matches!(op, BPF_ADD | BPF_SUB | BPF_AND) {
        return RegState::unknown();
    }
    let mut r = RegState::unknown();
    match op {
        BPF_ADD => {
            r.var_off = a.var_off.add(b.var_off);
            if let (Some(lo), Some(hi)) = (a.smin.checked_add(b.smin), a.smax.checked_add(b.smax)) {
                r.smin = lo;
                r.smax = hi;
            }
            if let (Some(lo), Some(hi)) = (a.umin.checked_add(b.umin), a.umax.checked_add(b.umax)) {
                r.umin = lo;
                r.umax = hi;
            }
        }
        BPF_SUB => {
            r.var_off = a.var_off.sub(b.var_off);
            if let (Some(lo), Some(hi)) = (a.smin.checked_sub(b.smax), a.smax.checked_sub(b.smin)) {
                r.smin = lo;
                r.smax = hi;
            }
            if a.umin >= b.umax {
                r.umin = a.umin - b.umax;
                r.umax = a.umax - b.umin;
            }
        }
        BPF_AND => {
            r.var_off = a.var_off.and(b.var_off);
            r.umin = r.var_off.value;
            r.umax = a.umax.min(b.umax);
            if a.smin >= 0 && b.smin >= 0 {
                r.smin = r.umin as i64;
                r.smax = r.umax as i64;
            }
        }
        BPF_OR => {
            r.var_off = a.var_off.or(b.var_off);
            r.umin = a.umin.max(b.umin);
            r.umax = r.var_off.value | r.var_off.mask;
        }
        BPF_XOR => {
            r.var_off = a.var_off.xor(b.var_off);
        }
        BPF_MUL => {
            r.var_off = a.var_off.mul(b.var_off);
            if a.smin >= 0 && a.umax <= u64::from(u32::MAX) && b.umax <= u64::from(u32::MAX) {
                r.umin = a.umin * b.umin;
                r.umax = a.umax * b.umax;
            }
        }
        BPF_LSH => {
            let k = b.var_off.value as u8;
            r.var_off = a.var_off.lshift(k);
            if k < 64 && a.umax <= (u64::MAX >> k) {
                r.umin = a.umin << k;
                r.umax = a.umax << k;
            }
        }
        BPF_RSH => {
            let k = b.var_off.value as u8;
            r.var_off = a.var_off.rshift(k);
            r.umin = a.umin >> k;
            r.umax = a.umax >> k;
        }
        BPF_ARSH => {
            let k = b.var_off.value as u8;
            r.var_off = if bits == 32 {
                Tnum::new(a.var_off.value, a.var_off.mask).arshift(k, 32)
            } else {
                a.var_off.arshift(k, 64)
            };
            if bits == 64 {
                r.smin = a.smin >> k;
                r.smax = a.smax >> k;
            }
        }
        _ => return RegState::unknown(), // BPF_DIV, BPF_MOD: __mark_reg_unknown
    }
    if bits == 32 {
        r.var_off = r.var_off.cast(4);
        if r.umax > u64::from(u32::MAX) {
            r.umin = 0;
            r.umax = u64::from(u32::MAX);
        }
        r.smin = r.umin as i64;
        r.smax = r.umax as i64;
    }
    r.sync();
    r
}

/// `flip_opcode`: `a op b` ⇔ `b flip(op) a`.
fn flip_opcode(op: u8) -> u8 {
    match op {
        BPF_JGT => BPF_JLT,
        BPF_JLT => BPF_JGT,
        BPF_JGE => BPF_JLE,
        BPF_JLE => BPF_JGE,
        BPF_JSGT => BPF_JSLT,
        BPF_JSLT => BPF_JSGT,
        BPF_JSGE => BPF_JSLE,
        BPF_JSLE => BPF_JSGE,
        o => o,
    }
}

/// `reg_set_min_max` for one side: what `reg op val` being `taken` says about `reg`.
fn refine(reg: &mut RegState, val: u64, op: u8, is32: bool, taken: bool) {
    if is32 && reg.umax > u64::from(u32::MAX) {
        return; // only a register known to fit in 32 bits is refined by a 32-bit comparison
    }
    let (val, sval) = if is32 {
        (u64::from(val as u32), i64::from(val as u32 as i32))
    } else {
        (val, val as i64)
    };
    let signed_ok = !is32 || reg.smax <= i64::from(i32::MAX);
    // Normalise to the taken form of an opcode.
    let (op, neg) = match (op, taken) {
        (o, true) => (o, false),
        (BPF_JEQ, false) => (BPF_JNE, false),
        (BPF_JNE, false) => (BPF_JEQ, false),
        (BPF_JGT, false) => (BPF_JLE, false),
        (BPF_JLE, false) => (BPF_JGT, false),
        (BPF_JGE, false) => (BPF_JLT, false),
        (BPF_JLT, false) => (BPF_JGE, false),
        (BPF_JSGT, false) => (BPF_JSLE, false),
        (BPF_JSLE, false) => (BPF_JSGT, false),
        (BPF_JSGE, false) => (BPF_JSLT, false),
        (BPF_JSLT, false) => (BPF_JSGE, false),
        (o, false) => (o, true),
    };
    match op {
        BPF_JSET if neg => reg.var_off = reg.var_off.and(Tnum::constant(!val)),
        BPF_JSET => {}
        BPF_JEQ => {
            *reg = RegState::known(val).also(|r| {
                r.id = reg.id;
            });
            return;
        }
        BPF_JNE => {
            if reg.umin == val {
                reg.umin = val.saturating_add(1);
            } else if reg.umax == val {
                reg.umax = val.saturating_sub(1);
            }
        }
        BPF_JGT => reg.umin = reg.umin.max(val.saturating_add(1)),
        BPF_JGE => reg.umin = reg.umin.max(val),
        BPF_JLT => reg.umax = reg.umax.min(val.saturating_sub(1)),
        BPF_JLE => reg.umax = reg.umax.min(val),
        BPF_JSGT if signed_ok => reg.smin = reg.smin.max(sval.saturating_add(1)),
        BPF_JSGE if signed_ok => reg.smin = reg.smin.max(sval),
        BPF_JSLT if signed_ok => reg.smax = reg.smax.min(sval.saturating_sub(1)),
        BPF_JSLE if signed_ok => reg.smax = reg.smax.min(sval),
        _ => {}
    }
    reg.sync();
}

/// `mark_ptr_or_null_regs`: every register and spill sharing `id` becomes null (a known 0) or the pointer.
fn mark_ptr_or_null_regs(s: &mut VState, id: u32, is_null: bool) {
    let fix = |r: &mut RegState| {
        if r.typ.may_be_null() && r.id == id {
            if is_null {
                *r = RegState::known(0);
            } else {
                r.typ = match r.typ {
                    RegType::PtrToMapValueOrNull => RegType::PtrToMapValue,
                    _ => RegType::PtrToMem,
                };
                if r.ref_obj_id == 0 {
                    r.id = 0;
                }
            }
        }
    };
    for f in &mut s.frames {
        f.regs.iter_mut().for_each(fix);
        for sl in &mut f.stack.slots {
            if sl.types[0] == SlotType::Spill {
                fix(&mut sl.spilled);
            }
        }
    }
    if is_null {
        // A null reservation holds no reference (release_reference_state in the == NULL branch).
        s.refs.retain(|(r, _)| *r != id);
    }
}

/// `states_maybe_looping`: same call chain.
fn states_maybe_looping(old: &VState, cur: &VState) -> bool {
    old.frames.len() == cur.frames.len()
        && old
            .frames
            .iter()
            .zip(&cur.frames)
            .all(|(a, b)| a.callsite == b.callsite)
}

/// `states_equal` → `func_states_equal` → `regsafe` / `stacksafe` / `refsafe`, without liveness or precision:
/// `cur` is safe if every value it allows `old` allowed too.
fn states_equal(old: &VState, cur: &VState) -> bool {
    if !states_maybe_looping(old, cur) || old.refs.len() != cur.refs.len() {
        return false;
    }
    let mut idmap: Vec<(u32, u32)> = Vec::new();
    old.frames.iter().zip(&cur.frames).all(|(o, c)| {
        o.regs
            .iter()
            .zip(&c.regs)
            .all(|(a, b)| regsafe(a, b, &mut idmap))
            && stacksafe(&o.stack, &c.stack, &mut idmap)
    })
}

/// `check_ids`.
fn check_ids(old: u32, cur: u32, idmap: &mut Vec<(u32, u32)>) -> bool {
    if old == 0 && cur == 0 {
        return true;
    }
    match idmap.iter().find(|(o, _)| *o == old) {
        Some((_, c)) => *c == cur,
        None => {
            if idmap.iter().any(|(_, c)| *c == cur) {
                return false;
            }
            idmap.push((old, cur));
            true
        }
    }
}

/// `regsafe`.
fn regsafe(old: &RegState, cur: &RegState, idmap: &mut Vec<(u32, u32)>) -> bool {
    if old.typ == RegType::NotInit {
        return true;
    }
    if old.typ != cur.typ {
        return false;
    }
    let range_within = old.umin <= cur.umin
        && old.umax >= cur.umax
        && old.smin <= cur.smin
        && old.smax >= cur.smax;
    match old.typ {
        RegType::Scalar => range_within && old.var_off.contains(cur.var_off),
        RegType::PtrToMapValueOrNull | RegType::PtrToMemOrNull => {
            old.off == cur.off
                && old.map == cur.map
                && old.mem_size == cur.mem_size
                && old.var_off == cur.var_off
                && check_ids(old.id, cur.id, idmap)
        }
        _ => {
            old.off == cur.off
                && old.map == cur.map
                && old.mem_size == cur.mem_size
                && old.frameno == cur.frameno
                && old.ref_obj_id == cur.ref_obj_id
                && range_within
                && old.var_off.contains(cur.var_off)
        }
    }
}

/// `stacksafe`.
fn stacksafe(old: &Stack, cur: &Stack, idmap: &mut Vec<(u32, u32)>) -> bool {
    for (spi, o) in old.slots.iter().enumerate() {
        let c = cur.slots.get(spi);
        for i in 0..BPF_REG_SIZE {
            let ot = o.types[i];
            if ot == SlotType::Invalid {
                continue;
            }
            let Some(c) = c else { return false };
            let ct = c.types[i];
            if ot == SlotType::Misc && ct == SlotType::Zero {
                continue;
            }
            if ot != ct {
                return false;
            }
        }
        if o.types[0] == SlotType::Spill {
            let Some(c) = c else { return false };
            if !regsafe(&o.spilled, &c.spilled, idmap) {
                return false;
            }
        }
    }
    true
}
