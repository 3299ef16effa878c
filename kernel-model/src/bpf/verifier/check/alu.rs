//! `check_alu_op` and `adjust_reg_min_max_vals` (kernel/bpf/verifier.c): scalar and pointer arithmetic, bounds
//! tracking through `tnum`s.

use super::*;

impl<'a, 'l> Verifier<'a, 'l> {
    /// `check_alu_op`.
    pub(super) fn check_alu_op(&mut self, s: &mut VState, pc: usize, insn: Insn) -> R<()> {
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
    pub(super) fn adjust_reg_min_max_vals(
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
}

pub(super) trait Also: Sized {
    fn also(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Also for RegState {
    fn also(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

/// The low 32 bits of a scalar, zero-extended (`coerce_reg_to_size(reg, 4)`).
pub(super) fn trunc32(r: &RegState) -> RegState {
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
pub(super) fn scalar_op(a: &RegState, b: &RegState, op: u8, bits: u8) -> RegState {
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
