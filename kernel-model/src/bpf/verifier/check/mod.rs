//! `do_check` and what it calls (kernel/bpf/verifier.c): `check_alu_op` / `adjust_reg_min_max_vals`,
//! `check_mem_access`, `check_stack_write` / `check_stack_read`, `check_cond_jmp_op` / `is_branch_taken` /
//! `reg_set_min_max` / `mark_ptr_or_null_regs`, `check_helper_call` / `check_func_arg`, `check_func_call` /
//! `prepare_func_exit`, `check_return_code`, `check_reference_leak`, `is_state_visited` and
//! `check_max_stack_depth`.
//!
//! Here: the `Verifier`'s state, `do_check` and the per-instruction dispatch (`step`); by what they check:
//! `alu.rs`, `mem.rs`, `jmp.rs`, `call.rs` (helpers, subprograms, exit, stack depth) and `prune.rs`
//! (`is_state_visited`, `states_equal`).

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

mod alu;
mod call;
mod jmp;
mod mem;
mod prune;

use alu::*;

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
}
