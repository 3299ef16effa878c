//! From the syntax tree to eBPF: one program per probe (a wildcard expands to one per matching function, as
//! bpftrace does without `kprobe_multi`), maps as BPF maps laid out as bpftrace lays them out (v0.21
//! `src/ast/passes/codegen_llvm.cpp`, `src/map.cpp`), and a perf event array carrying `printf` and `exit` records.
//!
//! Conventions of the generated code: `r6` holds the ctx (`struct pt_regs *`) for the whole program; an expression
//! leaves its integer value in `r0`; operands and temporaries live in stack slots (helpers clobber `r1`–`r5`); a
//! string (only `comm` and literals: 16 bytes) lives in a stack buffer.
//!
//! Maps are laid out as [`super::sema`] describes.

use super::ast::*;
use super::sema::*;
use super::{Error, Span};
use kernel_model::bpf::helpers::{
    BPF_FUNC_GET_CURRENT_COMM, BPF_FUNC_GET_CURRENT_PID_TGID, BPF_FUNC_GET_CURRENT_UID_GID, BPF_FUNC_GET_SMP_PROCESSOR_ID, BPF_FUNC_KTIME_GET_NS,
    BPF_FUNC_MAP_DELETE_ELEM, BPF_FUNC_MAP_LOOKUP_ELEM, BPF_FUNC_MAP_UPDATE_ELEM, BPF_FUNC_PERF_EVENT_OUTPUT,
};
use kernel_model::bpf::insn::*;
use kernel_model::trace::{ArgLocation, RegsQuery};
use std::collections::BTreeMap;

/// Compiles parsed action blocks.
pub fn compile(blocks: &[ActionBlock], funcs: &[(String, u64)], regs: &dyn RegsQuery) -> Result<Compiled, Error> {
    let mut out = Compiled { maps: Vec::new(), progs: Vec::new(), printfs: Vec::new(), probe_names: Vec::new(), elapsed: false };
    for b in blocks {
        for s in &b.body {
            collect_maps(s, &mut out.maps)?;
        }
        if let Some(p) = &b.pred {
            collect_expr_maps(p, &mut out.maps)?;
        }
    }
    for b in blocks {
        for p in &b.probes {
            let targets: Vec<(ProbeKind, String, u64)> = match &p.kind {
                ProbeKind::Begin => vec![(ProbeKind::Begin, "BEGIN".into(), 0)],
                ProbeKind::End => vec![(ProbeKind::End, "END".into(), 0)],
                ProbeKind::Kprobe(f) | ProbeKind::Kretprobe(f) => {
                    let ret = matches!(p.kind, ProbeKind::Kretprobe(_));
                    // `f+off`: the function exactly (no wildcard), its name carrying the offset to the attach.
                    let (pat, off) = f.split_once('+').map_or((f.as_str(), None), |(a, o)| (a, Some(o)));
                    if off.is_some() && pat.contains('*') {
                        return Err(Error::at(p.span, "Offset not allowed with wildcard"));
                    }
                    let matched: Vec<&(String, u64)> = funcs.iter().filter(|(n, _)| wildcard_match(pat, n)).collect();
                    if matched.is_empty() {
                        let what = if f.contains('*') { "No probes matched" } else { "Could not resolve symbol" };
                        return Err(Error::at(p.span, format!("{what}: {}{f}", if ret { "kretprobe:" } else { "kprobe:" })));
                    }
                    matched
                        .into_iter()
                        .map(|(n, a)| {
                            let n = &off.map_or(n.clone(), |o| format!("{n}+{o}"));
                            let (k, ty) = if ret { (ProbeKind::Kretprobe(n.clone()), "kretprobe") } else { (ProbeKind::Kprobe(n.clone()), "kprobe") };
                            (k, format!("{ty}:{n}"), *a)
                        })
                        .collect()
                }
            };
            for (kind, name, addr) in targets {
                let probe_id = out.probe_names.len() as i64;
                out.probe_names.push(name.clone());
                let insns = {
                    let mut g = Gen::new(&mut out, regs, &kind, addr, probe_id);
                    g.program(b)?;
                    g.finish()
                };
                out.progs.push(ProgInfo { probe: name, kind, insns });
            }
        }
    }
    Ok(out)
}

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const CTX: u8 = 6;
const FP: u8 = BPF_REG_FP;

/// `BPF_F_CURRENT_CPU`.
const F_CURRENT_CPU: i32 = -1; // as a 32-bit mov: 0xffffffff

/// The code generator of one program.
struct Gen<'a> {
    out: &'a mut Compiled,
    regs: &'a dyn RegsQuery,
    kind: &'a ProbeKind,
    func_addr: u64,
    probe_id: i64,
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, usize)>,
    depth: usize,
    vars: BTreeMap<String, i16>,
    exit: usize,
    span: Span,
}

impl<'a> Gen<'a> {
    fn new(out: &'a mut Compiled, regs: &'a dyn RegsQuery, kind: &'a ProbeKind, func_addr: u64, probe_id: i64) -> Gen<'a> {
        let mut g = Gen {
            out,
            regs,
            kind,
            func_addr,
            probe_id,
            insns: Vec::new(),
            labels: Vec::new(),
            fixups: Vec::new(),
            depth: 0,
            vars: BTreeMap::new(),
            exit: 0,
            span: Span::default(),
        };
        g.exit = g.label();
        g
    }

    fn e(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.insns.len());
    }

    /// A jump to label `l` (`jmp` with `op`, or `ja` when `op` is None).
    fn jmp(&mut self, i: Insn, l: usize) {
        self.fixups.push((self.insns.len(), l));
        self.e(i);
    }

    fn alloc(&mut self, size: usize) -> Result<i16, Error> {
        self.depth += size.div_ceil(8) * 8;
        if self.depth > MAX_BPF_STACK {
            return Err(Error::at(self.span, "the program needs more than the 512 bytes of BPF stack"));
        }
        Ok(-(self.depth as i16))
    }

    fn lddw(&mut self, dst: u8, src: u8, v: u64) {
        let [a, b] = Insn::ld_imm64_raw(dst, src, v);
        self.e(a);
        self.e(b);
    }

    fn mov_imm(&mut self, dst: u8, v: i64) {
        if i32::try_from(v).is_ok() {
            self.e(Insn::mov64_imm(dst, v as i32));
        } else {
            self.lddw(dst, 0, v as u64);
        }
    }

    fn map_fd(&mut self, dst: u8, idx: usize) {
        self.lddw(dst, BPF_PSEUDO_MAP_FD, idx as u64);
    }

    fn fp_ptr(&mut self, dst: u8, off: i16) {
        self.e(Insn::mov64_reg(dst, FP));
        self.e(Insn::alu64_imm(BPF_ADD, dst, i32::from(off)));
    }

    fn call(&mut self, id: u32) {
        self.e(Insn::call_helper(id as i32));
    }

    fn finish(mut self) -> Vec<Insn> {
        self.bind(self.exit);
        self.e(Insn::mov64_imm(R0, 0));
        self.e(Insn::exit());
        for (at, l) in std::mem::take(&mut self.fixups) {
            let target = self.labels[l].expect("every label is bound");
            self.insns[at].off = (target as i64 - at as i64 - 1) as i16;
        }
        self.insns
    }

    fn program(&mut self, b: &ActionBlock) -> Result<(), Error> {
        self.e(Insn::mov64_reg(CTX, R1));
        if let Some(p) = &b.pred {
            self.int(p)?;
            let exit = self.exit;
            self.jmp(Insn::jmp_imm(BPF_JEQ, R0, 0, 0), exit);
        }
        self.stmts(&b.body)
    }

    fn stmts(&mut self, ss: &[Stmt]) -> Result<(), Error> {
        ss.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), Error> {
        match s {
            Stmt::Expr(e) => self.effect(e),
            Stmt::AssignVar { name, value, span } => {
                self.span = *span;
                if type_of(value) != KeyTy::Int {
                    return Err(Error::at(value.span, "only integer variables are supported"));
                }
                self.int(value)?;
                let slot = match self.vars.get(name) {
                    Some(s) => *s,
                    None => {
                        let s = self.alloc(8)?;
                        self.vars.insert(name.clone(), s);
                        s
                    }
                };
                self.e(Insn::stx_mem(BPF_DW, FP, R0, slot));
                Ok(())
            }
            Stmt::AssignMap { map, value } => self.assign_map(map, value),
            Stmt::MapIncr { map, delta } => {
                let v = Expr { kind: ExprKind::Int(*delta), span: map.span };
                let read = Expr { kind: ExprKind::Map(map.clone()), span: map.span };
                let sum = Expr { kind: ExprKind::Binary(BinOp::Add, Box::new(read), Box::new(v)), span: map.span };
                self.assign_map(map, &sum)
            }
            Stmt::Unroll { count, body } => (0..*count).try_for_each(|_| self.stmts(body)),
            Stmt::While { cond, body } => {
                let (top, end) = (self.label(), self.label());
                self.bind(top);
                self.int(cond)?;
                self.jmp(Insn::jmp_imm(BPF_JEQ, R0, 0, 0), end);
                self.stmts(body)?;
                self.jmp(Insn::ja(0), top);
                self.bind(end);
                Ok(())
            }
            Stmt::If { cond, then, els } => {
                let (l_else, l_end) = (self.label(), self.label());
                self.int(cond)?;
                self.jmp(Insn::jmp_imm(BPF_JEQ, R0, 0, 0), l_else);
                self.stmts(then)?;
                self.jmp(Insn::ja(0), l_end);
                self.bind(l_else);
                self.stmts(els)?;
                self.bind(l_end);
                Ok(())
            }
        }
    }

    /// A call statement: `printf`, `exit`, or an aggregation used without a map (refused as bpftrace does).
    fn effect(&mut self, e: &Expr) -> Result<(), Error> {
        self.span = e.span;
        let ExprKind::Call(name, args) = &e.kind else {
            // An expression statement: evaluated for nothing (bpftrace warns; we just compute it).
            return self.int(e);
        };
        match name.as_str() {
            "printf" => self.printf(e, args),
            "exit" => {
                let slot = self.alloc(8)?;
                self.e(Insn::st_mem(BPF_DW, FP, slot, EXIT_RECORD as i32));
                self.perf_output(slot, 8);
                let exit = self.exit;
                self.jmp(Insn::ja(0), exit);
                Ok(())
            }
            "delete" => self.delete(e, args),
            // bpftrace's time() is strftime(3) of the wall clock, read by user space when it handles the record.
            "time" => Err(Error::at(e.span, "time() prints the wall-clock time, which a deterministic probesim run does not have (use elapsed or nsecs)")),
            "clear" | "zero" | "print" => self.map_action(e, name, args),
            _ if agg_kind(e)?.is_some() => {
                Err(Error::at(e.span, format!("{name}() must be assigned directly to a map")))
            }
            _ => Err(Error::at(e.span, format!("Unknown function: {name}"))),
        }
    }

    /// `delete(@m[k])`: `bpf_map_delete_elem(map, &key)` in the program (v0.21 `CodegenLLVM::visit(Call)`,
    /// "delete"); a missing key is the helper's -ENOENT, ignored as bpftrace ignores it.
    fn delete(&mut self, e: &Expr, args: &[Expr]) -> Result<(), Error> {
        let [Expr { kind: ExprKind::Map(m), .. }] = args else {
            return Err(Error::at(e.span, "delete() expects a map with a key: delete(@m[k])"));
        };
        let (idx, info) = self.map_info(m);
        if info.bucketed() || info.array() {
            return Err(Error::at(m.span, format!("delete() on {}: its elements cannot be deleted one by one (use clear)", m.name)));
        }
        let key = self.key(m, &info)?;
        self.map_fd(R1, idx);
        self.fp_ptr(R2, key);
        self.call(BPF_FUNC_MAP_DELETE_ELEM);
        Ok(())
    }

    /// `print(@m)`, `clear(@m)`, `zero(@m)`: user-space operations. As bpftrace does, the program only sends an
    /// async action record `{action id, map}` through the perf buffer and user space performs it when it reads
    /// the record. Only in `END`: probesim's user space reads the buffer once tracing has stopped, which is
    /// exactly when bpftrace handles END's records; an earlier probe's action would see later map contents.
    fn map_action(&mut self, e: &Expr, name: &str, args: &[Expr]) -> Result<(), Error> {
        let [Expr { kind: ExprKind::Map(m), .. }] = args else {
            return Err(Error::at(e.span, format!("{name}() expects a map argument")));
        };
        if !m.keys.is_empty() {
            return Err(Error::at(m.span, format!("The map passed to {name}() should not be indexed by a key")));
        }
        if *self.kind != ProbeKind::End {
            return Err(Error::at(e.span, format!("{name}() outside END is not supported yet by probesim's bpftrace (docs/bpftrace.md)")));
        }
        let (idx, _) = self.map_info(m);
        let id = match name {
            "print" => PRINT_RECORD,
            "clear" => CLEAR_RECORD,
            _ => ZERO_RECORD,
        };
        let slot = self.alloc(16)?;
        self.e(Insn::st_mem(BPF_DW, FP, slot, id as i32));
        self.e(Insn::st_mem(BPF_DW, FP, slot + 8, idx as i32));
        self.perf_output(slot, 16);
        Ok(())
    }

    fn perf_output(&mut self, slot: i16, size: usize) {
        self.e(Insn::mov64_reg(R1, CTX));
        let perf = self.out.perf_map();
        self.map_fd(R2, perf);
        self.e(Insn::alu32_imm(BPF_MOV, R3, F_CURRENT_CPU));
        self.fp_ptr(R4, slot);
        self.e(Insn::mov64_imm(R5, size as i32));
        self.call(BPF_FUNC_PERF_EVENT_OUTPUT);
    }

    fn printf(&mut self, e: &Expr, args: &[Expr]) -> Result<(), Error> {
        let Some(Expr { kind: ExprKind::Str(fmt), .. }) = args.first() else {
            return Err(Error::at(e.span, "printf() requires at least 1 argument, a format string"));
        };
        let rest = &args[1..];
        let convs = super::printer::conversions(fmt).map_err(|m| Error::at(args[0].span, m))?;
        if convs.len() != rest.len() {
            return Err(Error::at(e.span, format!("printf: Expected {} arguments, got {}", convs.len(), rest.len())));
        }
        let types: Vec<KeyTy> = rest.iter().map(type_of).collect();
        for ((c, t), a) in convs.iter().zip(&types).zip(rest) {
            let ok = if *c == 's' { *t != KeyTy::Int } else { *t == KeyTy::Int || *t == KeyTy::Ksym };
            if !ok {
                let ty = if *t == KeyTy::Int { "integer" } else { "string" };
                return Err(Error::at(a.span, format!("printf: %{c} specifier expects a value of a different type, got {ty}")));
            }
        }
        self.out.printfs.push(PrintfInfo { fmt: fmt.clone(), args: types.clone() });
        let id = self.out.printfs.len() as i32;
        let size = 8 + types.iter().map(|t| t.size()).sum::<usize>();
        let base = self.alloc(size)?;
        self.e(Insn::st_mem(BPF_DW, FP, base, id));
        let mut off = base + 8;
        for (a, t) in rest.iter().zip(&types) {
            self.store_value(a, *t, off)?;
            off += t.size() as i16;
        }
        self.perf_output(base, size);
        Ok(())
    }

    /// Evaluates `e` of type `t` into the stack at `off` (8 bytes, or 16 for a string).
    fn store_value(&mut self, e: &Expr, t: KeyTy, off: i16) -> Result<(), Error> {
        if t == KeyTy::Str {
            self.string_into(e, off)
        } else {
            self.int(e)?;
            self.e(Insn::stx_mem(BPF_DW, FP, R0, off));
            Ok(())
        }
    }

    /// Writes the 16-byte string `e` at `off`.
    fn string_into(&mut self, e: &Expr, off: i16) -> Result<(), Error> {
        match &e.kind {
            ExprKind::Builtin(b) if b == "comm" || b == "execname" => {
                self.fp_ptr(R1, off);
                self.e(Insn::mov64_imm(R2, 16));
                self.call(BPF_FUNC_GET_CURRENT_COMM);
                Ok(())
            }
            ExprKind::Str(s) => {
                if s.len() > 15 {
                    return Err(Error::at(e.span, "string literals longer than 15 bytes are not supported here (comm is 16 bytes)"));
                }
                let mut b = [0u8; 16];
                b[..s.len()].copy_from_slice(s.as_bytes());
                for (i, w) in b.chunks(8).enumerate() {
                    let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                    self.lddw(R1, 0, v);
                    self.e(Insn::stx_mem(BPF_DW, FP, R1, off + 8 * i as i16));
                }
                Ok(())
            }
            _ => Err(Error::at(e.span, "expected a string")),
        }
    }

    /// Builds `m`'s key at a new stack slot (the bucket, if any, left for the caller at `keys_size`); returns it.
    fn key(&mut self, m: &MapRef, info: &MapInfo) -> Result<i16, Error> {
        let slot = self.alloc(info.key_size().max(8))?;
        if m.keys.is_empty() {
            match info.key_size() {
                4 => self.e(Insn::st_mem(BPF_W, FP, slot, 0)),
                _ if !info.bucketed() => self.e(Insn::st_mem(BPF_DW, FP, slot, 0)),
                _ => {}
            }
            return Ok(slot);
        }
        if m.keys.len() != info.keys.len() {
            return Err(Error::at(m.span, format!("Argument mismatch for {}: {} keys given, the map has {}", m.name, m.keys.len(), info.keys.len())));
        }
        let mut off = slot;
        for (k, t) in m.keys.iter().zip(&info.keys) {
            self.store_value(k, *t, off)?;
            off += t.size() as i16;
        }
        Ok(slot)
    }

    fn map_info(&self, m: &MapRef) -> (usize, MapInfo) {
        let idx = self.out.maps.iter().position(|x| x.name == m.name).expect("collected before codegen");
        (idx, self.out.maps[idx].clone())
    }

    /// `r0` = the value of `m` for its key, or 0 when absent.
    fn read_map(&mut self, m: &MapRef) -> Result<(), Error> {
        let (idx, info) = self.map_info(m);
        if !matches!(info.kind, ValKind::Int | ValKind::Count | ValKind::Sum | ValKind::Min | ValKind::Max) {
            return Err(Error::at(m.span, format!("{} holds {} values, which cannot be read in a probe", m.name, info.kind.type_name())));
        }
        let key = self.key(m, &info)?;
        self.map_fd(R1, idx);
        self.fp_ptr(R2, key);
        self.call(BPF_FUNC_MAP_LOOKUP_ELEM);
        let done = self.label();
        self.jmp(Insn::jmp_imm(BPF_JEQ, R0, 0, 0), done);
        self.e(Insn::ldx_mem(BPF_DW, R0, R0, 0));
        self.bind(done);
        Ok(())
    }

    fn assign_map(&mut self, m: &MapRef, value: &Expr) -> Result<(), Error> {
        self.span = m.span;
        let (idx, info) = self.map_info(m);
        let agg = agg_kind(value)?;
        // The operand, evaluated first into a slot.
        let vslot = self.alloc(8)?;
        match (&value.kind, agg) {
            (ExprKind::Call(_, args), Some(k)) if k != ValKind::Count => {
                if type_of(&args[0]) != KeyTy::Int {
                    return Err(Error::at(args[0].span, "aggregation argument must be an integer"));
                }
                self.int(&args[0])?;
            }
            (_, Some(_)) => self.e(Insn::mov64_imm(R0, 1)),
            (_, None) => {
                if type_of(value) != KeyTy::Int {
                    return Err(Error::at(value.span, "only integers can be stored in maps"));
                }
                self.int(value)?;
            }
        }
        self.e(Insn::stx_mem(BPF_DW, FP, R0, vslot));
        let key = self.key(m, &info)?;
        if info.bucketed() {
            self.e(Insn::ldx_mem(BPF_DW, R1, FP, vslot));
            self.bucket(info.kind);
            self.e(Insn::stx_mem(BPF_DW, FP, R0, key + info.keys_size() as i16));
        }
        if info.kind == ValKind::Int {
            self.map_fd(R1, idx);
            self.fp_ptr(R2, key);
            self.fp_ptr(R3, vslot);
            self.e(Insn::mov64_imm(R4, 0));
            self.call(BPF_FUNC_MAP_UPDATE_ELEM);
            return Ok(());
        }
        // Look up, or insert zeroes and look up again; then update the value in place.
        let (have, done) = (self.label(), self.label());
        self.map_fd(R1, idx);
        self.fp_ptr(R2, key);
        self.call(BPF_FUNC_MAP_LOOKUP_ELEM);
        self.jmp(Insn::jmp_imm(BPF_JNE, R0, 0, 0), have);
        let zero = self.alloc(info.value_size())?;
        for i in 0..info.value_size() / 8 {
            self.e(Insn::st_mem(BPF_DW, FP, zero + 8 * i as i16, 0));
        }
        self.map_fd(R1, idx);
        self.fp_ptr(R2, key);
        self.fp_ptr(R3, zero);
        self.e(Insn::mov64_imm(R4, 0));
        self.call(BPF_FUNC_MAP_UPDATE_ELEM);
        self.map_fd(R1, idx);
        self.fp_ptr(R2, key);
        self.call(BPF_FUNC_MAP_LOOKUP_ELEM);
        self.jmp(Insn::jmp_imm(BPF_JEQ, R0, 0, 0), done);
        self.bind(have);
        self.e(Insn::ldx_mem(BPF_DW, R1, FP, vslot));
        match info.kind {
            ValKind::Count | ValKind::Sum => self.add_at(0, R1),
            ValKind::Hist | ValKind::Lhist { .. } => {
                // The bucket is in the key; its count goes up by one.
                self.e(Insn::mov64_imm(R1, 1));
                self.add_at(0, R1);
            }
            ValKind::Avg | ValKind::Stats => {
                self.e(Insn::mov64_imm(R2, 1));
                self.add_at(0, R2);
                self.add_at(8, R1);
            }
            ValKind::Min | ValKind::Max => {
                let store = self.label();
                self.e(Insn::ldx_mem(BPF_DW, R2, R0, 0));
                self.e(Insn::ldx_mem(BPF_DW, R3, R0, 8));
                self.jmp(Insn::jmp_imm(BPF_JEQ, R3, 0, 0), store);
                let keep = if info.kind == ValKind::Min { BPF_JSGE } else { BPF_JSLE };
                self.jmp(Insn::jmp_reg(keep, R1, R2, 0), done);
                self.bind(store);
                self.e(Insn::stx_mem(BPF_DW, R0, R1, 0));
                self.e(Insn::st_mem(BPF_DW, R0, 8, 1));
            }
            ValKind::Int => unreachable!("stored above"),
        }
        self.bind(done);
        Ok(())
    }

    /// `*(u64 *)(r0 + off) += reg` on this CPU's copy of a per-CPU value (no atomic needed: bpftrace's aggregations
    /// are per-CPU, and a program is not preempted on its CPU).
    fn add_at(&mut self, off: i16, reg: u8) {
        self.e(Insn::ldx_mem(BPF_DW, R3, R0, off));
        self.e(Insn::alu64_reg(BPF_ADD, R3, reg));
        self.e(Insn::stx_mem(BPF_DW, R0, R3, off));
    }

    /// `r0` = the bucket of the value in `r1`: bpftrace's `log2` (hist with 0 bits: 0 for negatives, 1 for 0,
    /// 2 + floor(log2 v) otherwise) or `lhist`'s linear index (0 below min, 1 + (v - min) / step, buckets + 1 at or
    /// above max). Clobbers r1, r2.
    fn bucket(&mut self, kind: ValKind) {
        let done = self.label();
        match kind {
            ValKind::Lhist { min, max, step } => {
                let buckets = (max - min) / step;
                self.e(Insn::mov64_imm(R0, 0));
                self.mov_imm(R2, min);
                self.jmp(Insn::jmp_reg(BPF_JSLT, R1, R2, 0), done);
                self.e(Insn::mov64_imm(R0, (buckets + 1) as i32));
                self.mov_imm(R2, max);
                self.jmp(Insn::jmp_reg(BPF_JSGE, R1, R2, 0), done);
                self.e(Insn::mov64_reg(R0, R1));
                self.mov_imm(R2, min);
                self.e(Insn::alu64_reg(BPF_SUB, R0, R2));
                self.e(Insn::alu64_imm(BPF_DIV, R0, step as i32));
                self.e(Insn::alu64_imm(BPF_ADD, R0, 1));
            }
            _ => {
                self.e(Insn::mov64_imm(R0, 0));
                self.jmp(Insn::jmp_imm(BPF_JSLT, R1, 0, 0), done);
                self.e(Insn::mov64_imm(R0, 1));
                self.jmp(Insn::jmp_imm(BPF_JEQ, R1, 0, 0), done);
                self.e(Insn::mov64_imm(R0, 2));
                for s in [32, 16, 8, 4, 2, 1] {
                    let skip = self.label();
                    self.e(Insn::mov64_reg(R2, R1));
                    self.e(Insn::alu64_imm(BPF_RSH, R2, s));
                    self.jmp(Insn::jmp_imm(BPF_JEQ, R2, 0, 0), skip);
                    self.e(Insn::mov64_reg(R1, R2));
                    self.e(Insn::alu64_imm(BPF_ADD, R0, s));
                    self.bind(skip);
                }
            }
        }
        self.bind(done);
    }

    fn ctx_load(&mut self, off: usize) {
        self.e(Insn::ldx_mem(BPF_DW, R0, CTX, off as i16));
    }

    fn builtin(&mut self, name: &str, span: Span) -> Result<(), Error> {
        let in_ret = matches!(self.kind, ProbeKind::Kretprobe(_));
        match name {
            "pid" => {
                self.call(BPF_FUNC_GET_CURRENT_PID_TGID);
                self.e(Insn::alu64_imm(BPF_RSH, R0, 32));
            }
            "tid" => {
                self.call(BPF_FUNC_GET_CURRENT_PID_TGID);
                self.e(Insn::alu32_reg(BPF_MOV, R0, R0));
            }
            // bpf_get_current_uid_gid(): gid << 32 | uid (init namespace).
            "uid" => {
                self.call(BPF_FUNC_GET_CURRENT_UID_GID);
                self.e(Insn::alu32_reg(BPF_MOV, R0, R0));
            }
            "gid" => {
                self.call(BPF_FUNC_GET_CURRENT_UID_GID);
                self.e(Insn::alu64_imm(BPF_RSH, R0, 32));
            }
            "cpu" => self.call(BPF_FUNC_GET_SMP_PROCESSOR_ID),
            "nsecs" | "timestamp" => self.call(BPF_FUNC_KTIME_GET_NS),
            "retval" if in_ret => {
                let off = self.regs.regs_return_value_offset();
                self.ctx_load(off);
            }
            "retval" => return Err(Error::at(span, "The retval builtin can only be used with 'kretprobe' and 'uretprobe' probes")),
            "func" => self.mov_imm(R0, self.func_addr as i64),
            "probe" => self.mov_imm(R0, self.probe_id),
            _ if name.starts_with("arg") && name[3..].parse::<u32>().is_ok() => {
                if !matches!(self.kind, ProbeKind::Kprobe(_)) {
                    return Err(Error::at(span, "The arg0 builtin can only be used with 'kprobes', 'uprobes' and 'usdt' probes"));
                }
                let n: u32 = name[3..].parse().unwrap_or(0);
                match self.regs.regs_get_kernel_argument_offset(n) {
                    ArgLocation::Reg(off) => self.ctx_load(off),
                    ArgLocation::Zero => self.e(Insn::mov64_imm(R0, 0)),
                    ArgLocation::StackNth(_) => {
                        return Err(Error::at(span, format!("{name}: arguments passed on the stack are not supported")));
                    }
                }
            }
            "comm" | "execname" => return Err(Error::at(span, "comm is a string here; compare it with a string literal or print it with %s")),
            "elapsed" => self.elapsed()?,
            "kstack" | "curtask" => {
                return Err(Error::at(span, format!("{name} is not supported yet by probesim's bpftrace (docs/bpftrace.md)")));
            }
            _ => return Err(Error::at(span, format!("Unknown identifier: '{name}'"))),
        }
        Ok(())
    }

    /// `elapsed`: `ktime_get_ns()` minus the start time user space stored in the `elapsed` map (key u64 0) when
    /// tracing started, as v0.21's codegen does (it reads the boot clock; the model's monotonic clock has no
    /// suspend, so `bpf_ktime_get_ns` is the same here). A missing start reads as 0.
    fn elapsed(&mut self) -> Result<(), Error> {
        self.out.elapsed = true;
        let (key, start) = (self.alloc(8)?, self.alloc(8)?);
        self.e(Insn::st_mem(BPF_DW, FP, key, 0));
        self.e(Insn::st_mem(BPF_DW, FP, start, 0));
        let m = self.out.elapsed_map();
        self.map_fd(R1, m);
        self.fp_ptr(R2, key);
        self.call(BPF_FUNC_MAP_LOOKUP_ELEM);
        let none = self.label();
        self.jmp(Insn::jmp_imm(BPF_JEQ, R0, 0, 0), none);
        self.e(Insn::ldx_mem(BPF_DW, R0, R0, 0));
        self.e(Insn::stx_mem(BPF_DW, FP, R0, start));
        self.bind(none);
        self.call(BPF_FUNC_KTIME_GET_NS);
        self.e(Insn::ldx_mem(BPF_DW, R1, FP, start));
        self.e(Insn::alu64_reg(BPF_SUB, R0, R1));
        Ok(())
    }

    /// Evaluates an integer expression into `r0`.
    fn int(&mut self, e: &Expr) -> Result<(), Error> {
        match &e.kind {
            ExprKind::Int(v) => self.mov_imm(R0, *v),
            ExprKind::Str(_) => return Err(Error::at(e.span, "a string is not allowed here")),
            ExprKind::Builtin(b) => self.builtin(b, e.span)?,
            ExprKind::Var(v) => {
                let Some(&slot) = self.vars.get(v) else {
                    return Err(Error::at(e.span, format!("Undefined or undeclared variable: ${v}")));
                };
                self.e(Insn::ldx_mem(BPF_DW, R0, FP, slot));
            }
            ExprKind::Map(m) => self.read_map(m)?,
            ExprKind::Call(name, _) => return Err(Error::at(e.span, format!("Unknown function: {name}"))),
            ExprKind::Unary(op, a) => {
                self.int(a)?;
                match op {
                    UnOp::Neg => self.e(Insn::alu64_imm(BPF_NEG, R0, 0)),
                    UnOp::BitNot => self.e(Insn::alu64_imm(BPF_XOR, R0, -1)),
                    UnOp::Not => {
                        self.e(Insn::mov64_reg(R1, R0));
                        self.e(Insn::mov64_imm(R0, 1));
                        self.e(Insn::jmp_imm(BPF_JEQ, R1, 0, 1));
                        self.e(Insn::mov64_imm(R0, 0));
                    }
                }
            }
            ExprKind::Ternary(c, a, b) => {
                let (l_else, l_end) = (self.label(), self.label());
                self.int(c)?;
                self.jmp(Insn::jmp_imm(BPF_JEQ, R0, 0, 0), l_else);
                self.int(a)?;
                self.jmp(Insn::ja(0), l_end);
                self.bind(l_else);
                self.int(b)?;
                self.bind(l_end);
            }
            ExprKind::Binary(op @ (BinOp::LAnd | BinOp::LOr), a, b) => {
                let end = self.label();
                self.int(a)?;
                self.bool_r0();
                let short = if *op == BinOp::LAnd { BPF_JEQ } else { BPF_JNE };
                self.jmp(Insn::jmp_imm(short, R0, 0, 0), end);
                self.int(b)?;
                self.bool_r0();
                self.bind(end);
            }
            ExprKind::Binary(op, a, b) if type_of(a) == KeyTy::Str || type_of(b) == KeyTy::Str => {
                if !matches!(op, BinOp::Eq | BinOp::Ne) || type_of(a) != type_of(b) {
                    return Err(Error::at(e.span, "strings can only be compared (== or !=) with strings"));
                }
                let (sa, sb) = (self.alloc(16)?, self.alloc(16)?);
                self.string_into(a, sa)?;
                self.string_into(b, sb)?;
                let ne = self.label();
                let end = self.label();
                for w in 0..2 {
                    self.e(Insn::ldx_mem(BPF_DW, R1, FP, sa + 8 * w));
                    self.e(Insn::ldx_mem(BPF_DW, R2, FP, sb + 8 * w));
                    self.jmp(Insn::jmp_reg(BPF_JNE, R1, R2, 0), ne);
                }
                self.e(Insn::mov64_imm(R0, i32::from(*op == BinOp::Eq)));
                self.jmp(Insn::ja(0), end);
                self.bind(ne);
                self.e(Insn::mov64_imm(R0, i32::from(*op == BinOp::Ne)));
                self.bind(end);
            }
            ExprKind::Binary(op, a, b) => {
                let tmp = self.alloc(8)?;
                self.int(a)?;
                self.e(Insn::stx_mem(BPF_DW, FP, R0, tmp));
                self.int(b)?;
                self.e(Insn::mov64_reg(R1, R0));
                self.e(Insn::ldx_mem(BPF_DW, R0, FP, tmp));
                let alu = |o: u8| Insn::alu64_reg(o, R0, R1);
                let cmp = match op {
                    BinOp::Add => Some(alu(BPF_ADD)).map(|i| (i, None)),
                    BinOp::Sub => Some((alu(BPF_SUB), None)),
                    BinOp::Mul => Some((alu(BPF_MUL), None)),
                    BinOp::Div => Some((alu(BPF_DIV), None)),
                    BinOp::Mod => Some((alu(BPF_MOD), None)),
                    BinOp::And => Some((alu(BPF_AND), None)),
                    BinOp::Or => Some((alu(BPF_OR), None)),
                    BinOp::Xor => Some((alu(BPF_XOR), None)),
                    BinOp::Shl => Some((alu(BPF_LSH), None)),
                    BinOp::Shr => Some((alu(BPF_RSH), None)),
                    BinOp::Eq => Some((Insn::default(), Some(BPF_JEQ))),
                    BinOp::Ne => Some((Insn::default(), Some(BPF_JNE))),
                    BinOp::Lt => Some((Insn::default(), Some(BPF_JSLT))),
                    BinOp::Le => Some((Insn::default(), Some(BPF_JSLE))),
                    BinOp::Gt => Some((Insn::default(), Some(BPF_JSGT))),
                    BinOp::Ge => Some((Insn::default(), Some(BPF_JSGE))),
                    BinOp::LAnd | BinOp::LOr => None,
                };
                match cmp {
                    Some((_, Some(j))) => {
                        self.e(Insn::mov64_reg(R2, R0));
                        self.e(Insn::mov64_imm(R0, 1));
                        self.e(Insn::jmp_reg(j, R2, R1, 1));
                        self.e(Insn::mov64_imm(R0, 0));
                    }
                    Some((i, None)) => self.e(i),
                    None => unreachable!("handled above"),
                }
            }
        }
        Ok(())
    }

    /// `r0 = r0 != 0`.
    fn bool_r0(&mut self) {
        self.e(Insn::mov64_reg(R1, R0));
        self.e(Insn::mov64_imm(R0, 1));
        self.e(Insn::jmp_imm(BPF_JNE, R1, 0, 1));
        self.e(Insn::mov64_imm(R0, 0));
    }
}
