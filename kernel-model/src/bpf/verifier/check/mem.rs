//! `check_mem_access`, `check_stack_write`, `check_stack_read` (kernel/bpf/verifier.c): loads and stores
//! through ctx, stack, map value and packet pointers.

use super::*;

impl<'a, 'l> Verifier<'a, 'l> {
    /// `check_mem_access`: a load (returns the loaded value) or a store of `val` through register `regno`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_mem_access(
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
    pub(super) fn check_region(
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
    pub(super) fn check_stack_write(
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
    pub(super) fn check_stack_read(
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
}
