//! Calls (kernel/bpf/verifier.c): `check_func_call` / `prepare_func_exit`, `check_helper_call` / `check_func_arg`,
//! `check_helper_mem_access`, `check_max_stack_depth`.

use super::*;

impl<'a, 'l> Verifier<'a, 'l> {
    /// `check_func_call`: a bpf-to-bpf call.
    pub(super) fn check_func_call(&mut self, s: &mut VState, pc: usize, insn: Insn) -> R<Flow> {
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
    pub(super) fn check_exit(&mut self, s: &mut VState, pc: usize) -> R<Flow> {
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
    pub(super) fn check_helper_call(&mut self, s: &mut VState, pc: usize, imm: i32) -> R<()> {
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
    pub(super) fn arg_types(&self, at: ArgType) -> (&'static [RegType], &'static str) {
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
    pub(super) fn check_func_arg(
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
    pub(super) fn check_helper_mem_access(
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
    pub(in crate::bpf::verifier) fn check_max_stack_depth(&self) -> R<()> {
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
