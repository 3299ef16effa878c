//! `check_cond_jmp_op` and what it calls (kernel/bpf/verifier.c): `is_branch_taken`, `reg_set_min_max`,
//! `mark_ptr_or_null_regs`.

use super::*;

impl<'a, 'l> Verifier<'a, 'l> {
    /// `check_cond_jmp_op`.
    pub(super) fn check_cond_jmp_op(&mut self, s: &mut VState, pc: usize, insn: Insn) -> R<Flow> {
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
    pub(super) fn is_branch_taken(&self, dst: &RegState, src: &RegState, op: u8, is32: bool) -> Option<bool> {
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
}

/// `flip_opcode`: `a op b` ⇔ `b flip(op) a`.
pub(super) fn flip_opcode(op: u8) -> u8 {
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
pub(super) fn refine(reg: &mut RegState, val: u64, op: u8, is32: bool, taken: bool) {
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
pub(super) fn mark_ptr_or_null_regs(s: &mut VState, id: u32, is_null: bool) {
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
