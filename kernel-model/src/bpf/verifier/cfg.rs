//! The control-flow checks that run before the abstract interpretation: `check_subprogs` (subprogram boundaries,
//! jump ranges, each subprogram ending in `exit` or a jump) and `check_cfg` (a depth-first walk: unreachable
//! instructions, and back-edges, refused only when the loader is not `bpf_capable` — since 5.3 a privileged
//! loader's loops are checked by the state exploration instead, which must prove them bounded), both in
//! kernel/bpf/verifier.c. They also mark the prune points (`mark_prune_point`): jump targets, the instruction after
//! a conditional jump and after a call.

use super::Refusal;
use crate::bpf::insn::*;

/// What the CFG pass learned.
#[derive(Clone, Debug)]
pub struct Cfg {
    /// The first instruction of each subprogram, ascending; `[0]` is the main program.
    pub subprog_starts: Vec<usize>,
    /// Prune points.
    pub prune: Vec<bool>,
    /// The second slot of an `lddw`.
    pub ldimm_second: Vec<bool>,
}

impl Cfg {
    /// Index of the subprogram containing `pc`.
    #[must_use]
    pub fn subprog_of(&self, pc: usize) -> usize {
        self.subprog_starts.partition_point(|&s| s <= pc) - 1
    }
}

fn refuse(pc: usize, message: String) -> Refusal {
    Refusal { pc, message }
}

/// The successors of the instruction at `t` as `check_cfg`'s `visit_insn` pushes them: (fallthrough, jump target).
fn successors(insns: &[Insn], t: usize) -> (Option<i64>, Option<i64>) {
    let i = insns[t];
    let class = i.class();
    let next = if i.is_lddw() {
        t as i64 + 2
    } else {
        t as i64 + 1
    };
    if class != BPF_JMP && class != BPF_JMP32 {
        return (Some(next), None);
    }
    match bpf_op(i.code) {
        BPF_EXIT => (None, None),
        BPF_CALL if i.src_reg == BPF_PSEUDO_CALL => {
            (Some(next), Some(t as i64 + 1 + i64::from(i.imm)))
        }
        BPF_CALL => (Some(next), None),
        BPF_JA if class == BPF_JMP32 => (None, Some(t as i64 + 1 + i64::from(i.imm))),
        BPF_JA => (None, Some(t as i64 + 1 + i64::from(i.off))),
        _ => (Some(next), Some(t as i64 + 1 + i64::from(i.off))),
    }
}

/// `check_subprogs` then `check_cfg`.
pub fn check(insns: &[Insn], bpf_capable: bool) -> Result<Cfg, Refusal> {
    let n = insns.len();
    let mut ldimm_second = vec![false; n];
    let mut pc = 0;
    while pc < n {
        if insns[pc].is_lddw() {
            if pc + 1 >= n {
                // resolve_pseudo_ldimm64
                return Err(refuse(pc, "invalid bpf_ld_imm64 insn".into()));
            }
            ldimm_second[pc + 1] = true;
            pc += 2;
        } else {
            pc += 1;
        }
    }
    // check_subprogs: add_subprog for every pseudo call target.
    let mut starts = vec![0usize];
    for (t, i) in insns.iter().enumerate() {
        if ldimm_second[t] || i.code != BPF_JMP | BPF_CALL || i.src_reg != BPF_PSEUDO_CALL {
            continue;
        }
        let target = t as i64 + 1 + i64::from(i.imm);
        if target < 0 || target >= n as i64 {
            // add_subprog
            return Err(refuse(t, "call to invalid destination".into()));
        }
        starts.push(target as usize);
    }
    starts.sort_unstable();
    starts.dedup();
    let cfg = Cfg {
        subprog_starts: starts.clone(),
        prune: vec![false; n],
        ldimm_second,
    };
    // Jumps stay inside their subprogram; each subprogram ends with an exit or a jump.
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(n);
        for t in start..end {
            let i = insns[t];
            if cfg.ldimm_second[t] || (i.class() != BPF_JMP && i.class() != BPF_JMP32) {
                continue;
            }
            let op = bpf_op(i.code);
            if op == BPF_CALL || op == BPF_EXIT {
                continue;
            }
            let (_, Some(target)) = successors(insns, t) else {
                continue;
            };
            if target < start as i64 || target >= end as i64 {
                return Err(refuse(
                    t,
                    format!("jump out of range from insn {t} to {target}"),
                ));
            }
        }
        let last = insns[end - 1].code;
        if last != BPF_JMP | BPF_EXIT && last != BPF_JMP | BPF_JA && last != BPF_JMP32 | BPF_JA {
            return Err(refuse(end - 1, "last insn is not an exit or jmp".into()));
        }
    }
    // check_cfg: iterative DFS with DISCOVERED / EXPLORED marks.
    let mut cfg = cfg;
    const DISCOVERED: u8 = 1;
    const EXPLORED: u8 = 2;
    let mut state = vec![0u8; n];
    let mut stack: Vec<(usize, u8)> = vec![(0, 0)];
    state[0] = DISCOVERED;
    while let Some(&mut (t, ref mut step)) = stack.last_mut() {
        let (fall, jump) = successors(insns, t);
        let is_cond = jump.is_some() && fall.is_some() && bpf_op(insns[t].code) != BPF_CALL;
        let is_call = bpf_op(insns[t].code) == BPF_CALL && (insns[t].class() == BPF_JMP);
        let edges = [fall, jump];
        if *step as usize >= edges.len() {
            state[t] = EXPLORED;
            stack.pop();
            continue;
        }
        let e = edges[*step as usize];
        *step += 1;
        let Some(w) = e else { continue };
        // A call's target starts a subprogram, explored from the call; the callee returns to the fallthrough.
        if w < 0 || w >= n as i64 {
            return Err(refuse(t, format!("jump out of range from insn {t} to {w}")));
        }
        let w = w as usize;
        if cfg.ldimm_second[w] {
            return Err(refuse(
                t,
                format!("jump into the middle of ldimm64 insn {w}"),
            ));
        }
        if jump == Some(w as i64) {
            cfg.prune[w] = true;
        }
        if (is_cond || is_call) && fall == Some(w as i64) {
            cfg.prune[w] = true;
        }
        match state[w] {
            0 => {
                state[w] = DISCOVERED;
                stack.push((w, 0));
            }
            DISCOVERED if !bpf_capable => {
                return Err(refuse(t, format!("back-edge from insn {t} to {w}")))
            }
            _ => {}
        }
    }
    for (t, s) in state.iter().enumerate() {
        if *s != EXPLORED && !cfg.ldimm_second[t] {
            return Err(refuse(t, format!("unreachable insn {t}")));
        }
    }
    Ok(cfg)
}
