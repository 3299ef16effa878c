//! Loading a program: decoding, structural checks and `lddw` pseudo-source resolution, ahead of execution.
//!
//! This is the part of `bpf_check` (kernel/bpf/verifier.c) that looks at instructions one by one — unknown opcodes,
//! reserved fields, register numbers, jump targets, `lddw` pairs (`check_subprogs`, `resolve_pseudo_ldimm64`) — not
//! the abstract interpretation: memory safety is instead enforced at run time by [`super::memory`]. The result is a
//! predecoded slot vector the interpreter runs without re-checking fields.

use super::error::BpfError;
use super::insn::*;

/// One predecoded slot: the instruction's fields with `imm` sign-extended to 64 bits, or for `lddw` the whole
/// (resolved) 64-bit immediate. The slot after an `lddw` is never executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i64,
}

/// Resolves the pseudo sources of `lddw` (`src_reg` 1..=6) to the value the program sees, as
/// `resolve_pseudo_ldimm64` (kernel/bpf/verifier.c) replaces a map fd by the map's address.
pub trait PseudoResolver {
    /// The 64-bit value for `lddw` with `src` (`BPF_PSEUDO_MAP_FD`, `BPF_PSEUDO_MAP_VALUE`, …), the first slot's
    /// `imm` and the second slot's `imm` (the offset for the `*_VALUE` forms).
    fn resolve(&mut self, src: u8, imm: i32, next_imm: i32) -> Result<u64, String>;
}

/// A resolver that knows no maps: any pseudo `lddw` is refused.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPseudo;

impl PseudoResolver for NoPseudo {
    fn resolve(&mut self, _src: u8, _imm: i32, _next_imm: i32) -> Result<u64, String> {
        Err("no maps or BTF objects are available".into())
    }
}

/// A loaded program: the instructions as given, and their predecoded form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
    pub(crate) slots: Vec<Slot>,
}

impl Program {
    /// Loads `insns`, refusing pseudo `lddw`s. Models the instruction checks of `bpf_check` (kernel/bpf/verifier.c).
    pub fn load(insns: &[Insn]) -> Result<Program, BpfError> {
        Program::load_with(insns, &mut NoPseudo)
    }

    /// Loads a byte image (a multiple of 8 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, BpfError> {
        Program::load(&decode_bytes(bytes)?)
    }

    /// Loads `insns`, resolving pseudo `lddw`s through `resolver`.
    pub fn load_with(insns: &[Insn], resolver: &mut dyn PseudoResolver) -> Result<Program, BpfError> {
        if insns.is_empty() {
            return Err(BpfError::EmptyProgram);
        }
        if insns.len() > BPF_COMPLEXITY_LIMIT_INSNS {
            return Err(BpfError::ProgramTooLarge { len: insns.len() });
        }
        // Which slots are the second half of an lddw (never a jump target).
        let mut second = vec![false; insns.len()];
        let mut slots = Vec::with_capacity(insns.len());
        let mut pc = 0;
        while pc < insns.len() {
            let insn = insns[pc];
            let mut slot =
                Slot { code: insn.code, dst: insn.dst_reg, src: insn.src_reg, off: insn.off, imm: i64::from(insn.imm) };
            if insn.is_lddw() {
                let next = *insns.get(pc + 1).ok_or(BpfError::IncompleteLddw { pc })?;
                if next.code != 0 || next.dst_reg != 0 || next.src_reg != 0 || next.off != 0 {
                    return Err(BpfError::IncompleteLddw { pc });
                }
                check_dst(pc, insn.dst_reg)?;
                if insn.off != 0 {
                    return Err(BpfError::InvalidInstruction { pc, reason: "lddw uses reserved fields" });
                }
                let value = match insn.src_reg {
                    0 => u64::from(insn.imm as u32) | (u64::from(next.imm as u32) << 32),
                    BPF_PSEUDO_MAP_FD..=BPF_PSEUDO_MAP_IDX_VALUE => {
                        resolver.resolve(insn.src_reg, insn.imm, next.imm).map_err(|reason| {
                            BpfError::UnresolvedPseudo { pc, src: insn.src_reg, imm: insn.imm, reason }
                        })?
                    }
                    _ => return Err(BpfError::InvalidInstruction { pc, reason: "unknown lddw pseudo source" }),
                };
                slot.imm = value as i64;
                slots.push(slot);
                slots.push(Slot { code: 0, dst: 0, src: 0, off: 0, imm: 0 });
                second[pc + 1] = true;
                pc += 2;
                continue;
            }
            check(pc, insn)?;
            slots.push(slot);
            pc += 1;
        }
        // Jump and call targets: inside the program, never into an lddw.
        for (pc, insn) in insns.iter().enumerate() {
            if second[pc] {
                continue;
            }
            if let Some(rel) = branch_offset(*insn) {
                let target = pc as i64 + 1 + rel;
                if target < 0 || target >= insns.len() as i64 || second[target as usize] {
                    return Err(BpfError::JumpOutOfRange { pc, target });
                }
            }
        }
        Ok(Program { insns: insns.to_vec(), slots })
    }

    /// The instructions as loaded (pseudo `lddw`s unresolved).
    #[must_use]
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Number of slots.
    #[must_use]
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the program is empty (never true for a loaded program).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

/// The pc-relative offset of a jump or bpf-to-bpf call, if `insn` is one.
fn branch_offset(insn: Insn) -> Option<i64> {
    let class = insn.class();
    if class != BPF_JMP && class != BPF_JMP32 {
        return None;
    }
    match (class, bpf_op(insn.code)) {
        (BPF_JMP32, BPF_JA) => Some(i64::from(insn.imm)),
        (_, BPF_CALL) if insn.src_reg == BPF_PSEUDO_CALL && bpf_src(insn.code) == BPF_K => Some(i64::from(insn.imm)),
        (_, BPF_CALL | BPF_EXIT) => None,
        _ => Some(i64::from(insn.off)),
    }
}

fn check_reg(pc: usize, reg: u8) -> Result<(), BpfError> {
    if reg >= MAX_BPF_REG {
        return Err(BpfError::InvalidRegister { pc, reg });
    }
    Ok(())
}

/// A register the instruction writes: r0..r9 ("frame pointer is read only").
fn check_dst(pc: usize, reg: u8) -> Result<(), BpfError> {
    if reg >= BPF_REG_FP {
        return Err(BpfError::InvalidRegister { pc, reg });
    }
    Ok(())
}

fn reserved(pc: usize, bad: bool, what: &'static str) -> Result<(), BpfError> {
    if bad {
        return Err(BpfError::InvalidInstruction { pc, reason: what });
    }
    Ok(())
}

/// The per-instruction checks of `do_check` (kernel/bpf/verifier.c: `check_alu_op`, `check_mem_access` operand
/// rules, `check_atomic`, the `BPF_JMP` cases), without the abstract state.
fn check(pc: usize, insn: Insn) -> Result<(), BpfError> {
    let Insn { code, dst_reg: dst, src_reg: src, off, imm } = insn;
    let bad_opcode = || BpfError::InvalidOpcode { pc, code };
    match bpf_class(code) {
        class @ (BPF_ALU | BPF_ALU64) => {
            check_dst(pc, dst)?;
            let op = bpf_op(code);
            let x = bpf_src(code) == BPF_X;
            match op {
                BPF_NEG => reserved(pc, x || src != 0 || off != 0 || imm != 0, "BPF_NEG uses reserved fields"),
                BPF_END => {
                    reserved(pc, src != 0 || off != 0, "BPF_END uses reserved fields")?;
                    reserved(pc, class == BPF_ALU64 && x, "BPF_ALU64 BPF_END must be BPF_TO_LE")?;
                    reserved(pc, !matches!(imm, 16 | 32 | 64), "BPF_END imm must be 16, 32 or 64")
                }
                BPF_ADD | BPF_SUB | BPF_MUL | BPF_DIV | BPF_OR | BPF_AND | BPF_LSH | BPF_RSH | BPF_MOD | BPF_XOR
                | BPF_MOV | BPF_ARSH => {
                    if x {
                        check_reg(pc, src)?;
                        reserved(pc, imm != 0, "BPF_X uses reserved imm")?;
                    } else {
                        reserved(pc, src != 0, "BPF_K uses reserved src_reg")?;
                    }
                    let off_ok = match op {
                        BPF_DIV | BPF_MOD => off == 0 || off == 1,
                        BPF_MOV if x && class == BPF_ALU64 => matches!(off, 0 | 8 | 16 | 32),
                        BPF_MOV if x => matches!(off, 0 | 8 | 16),
                        _ => off == 0,
                    };
                    reserved(pc, !off_ok, "invalid off for this ALU operation")
                }
                _ => Err(bad_opcode()),
            }
        }
        BPF_LDX => {
            let mode = bpf_mode(code);
            if mode != BPF_MEM && !(mode == BPF_MEMSX && bpf_size(code) != BPF_DW) {
                return Err(bad_opcode());
            }
            check_dst(pc, dst)?;
            check_reg(pc, src)?;
            reserved(pc, imm != 0, "BPF_LDX uses reserved imm")
        }
        BPF_ST => {
            if bpf_mode(code) != BPF_MEM {
                return Err(bad_opcode());
            }
            check_reg(pc, dst)?;
            reserved(pc, src != 0, "BPF_ST uses reserved src_reg")
        }
        BPF_STX => {
            check_reg(pc, dst)?;
            check_reg(pc, src)?;
            match bpf_mode(code) {
                BPF_MEM => reserved(pc, imm != 0, "BPF_STX uses reserved imm"),
                BPF_ATOMIC => {
                    if bpf_size(code) != BPF_W && bpf_size(code) != BPF_DW {
                        return Err(bad_opcode());
                    }
                    let op = imm as u32;
                    match op {
                        _ if op == u32::from(BPF_ADD)
                            || op == u32::from(BPF_OR)
                            || op == u32::from(BPF_AND)
                            || op == u32::from(BPF_XOR) =>
                        {
                            Ok(())
                        }
                        _ if op == u32::from(BPF_ADD) | BPF_FETCH
                            || op == u32::from(BPF_OR) | BPF_FETCH
                            || op == u32::from(BPF_AND) | BPF_FETCH
                            || op == u32::from(BPF_XOR) | BPF_FETCH
                            || op == BPF_XCHG =>
                        {
                            check_dst(pc, src)
                        }
                        BPF_CMPXCHG => Ok(()),
                        _ => Err(BpfError::InvalidInstruction { pc, reason: "unknown atomic operation" }),
                    }
                }
                _ => Err(bad_opcode()),
            }
        }
        class @ (BPF_JMP | BPF_JMP32) => {
            let op = bpf_op(code);
            let x = bpf_src(code) == BPF_X;
            match op {
                BPF_JA => {
                    reserved(pc, x || dst != 0 || src != 0, "BPF_JA uses reserved fields")?;
                    if class == BPF_JMP {
                        reserved(pc, imm != 0, "BPF_JA uses reserved imm")
                    } else {
                        reserved(pc, off != 0, "BPF_JMP32 BPF_JA uses reserved off")
                    }
                }
                BPF_CALL if class == BPF_JMP => {
                    if x {
                        // callx: the helper id is in dst_reg (the LLVM encoding; not accepted by Linux).
                        check_reg(pc, dst)?;
                        reserved(pc, src != 0 || off != 0 || imm != 0, "callx uses reserved fields")
                    } else {
                        reserved(pc, dst != 0, "BPF_CALL uses reserved dst_reg")?;
                        match src {
                            0 | BPF_PSEUDO_CALL => reserved(pc, off != 0, "BPF_CALL uses reserved off"),
                            BPF_PSEUDO_KFUNC_CALL => Ok(()),
                            _ => Err(BpfError::InvalidInstruction { pc, reason: "unknown call source" }),
                        }
                    }
                }
                BPF_EXIT if class == BPF_JMP => {
                    reserved(pc, x || dst != 0 || src != 0 || off != 0 || imm != 0, "BPF_EXIT uses reserved fields")
                }
                BPF_JEQ | BPF_JGT | BPF_JGE | BPF_JSET | BPF_JNE | BPF_JSGT | BPF_JSGE | BPF_JLT | BPF_JLE
                | BPF_JSLT | BPF_JSLE => {
                    check_reg(pc, dst)?;
                    if x {
                        check_reg(pc, src)?;
                        reserved(pc, imm != 0, "BPF_X jump uses reserved imm")
                    } else {
                        reserved(pc, src != 0, "BPF_K jump uses reserved src_reg")
                    }
                }
                _ => Err(bad_opcode()),
            }
        }
        BPF_LD => match bpf_mode(code) {
            BPF_ABS | BPF_IND => Err(BpfError::InvalidInstruction {
                pc,
                reason: "legacy packet access (BPF_ABS/BPF_IND) is not supported",
            }),
            _ => Err(bad_opcode()),
        },
        _ => Err(bad_opcode()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(insns: &[Insn]) -> Result<Program, BpfError> {
        Program::load(insns)
    }

    #[test]
    fn refuses_malformed_programs() {
        assert_eq!(load(&[]), Err(BpfError::EmptyProgram));
        assert_eq!(load(&[Insn::new(0xff, 0, 0, 0, 0)]), Err(BpfError::InvalidOpcode { pc: 0, code: 0xff }));
        assert_eq!(load(&[Insn::mov64_imm(11, 0)]), Err(BpfError::InvalidRegister { pc: 0, reg: 11 }));
        assert_eq!(load(&[Insn::mov64_imm(10, 0)]), Err(BpfError::InvalidRegister { pc: 0, reg: 10 }));
        assert_eq!(load(&[Insn::ja(5), Insn::exit()]), Err(BpfError::JumpOutOfRange { pc: 0, target: 6 }));
        assert_eq!(load(&[Insn::ja(-2), Insn::exit()]), Err(BpfError::JumpOutOfRange { pc: 0, target: -1 }));
        let [a, b] = Insn::ld_imm64_raw(0, 0, 7);
        assert_eq!(load(&[a]), Err(BpfError::IncompleteLddw { pc: 0 }));
        // A jump into the middle of an lddw.
        assert_eq!(load(&[Insn::ja(1), a, b, Insn::exit()]), Err(BpfError::JumpOutOfRange { pc: 0, target: 2 }));
        let [m, n] = Insn::ld_imm64_raw(1, BPF_PSEUDO_MAP_FD, 3);
        assert!(matches!(load(&[m, n, Insn::exit()]), Err(BpfError::UnresolvedPseudo { pc: 0, src: 1, imm: 3, .. })));
        assert!(matches!(
            load(&[Insn::new(BPF_ALU64 | BPF_END | BPF_TO_BE, 0, 0, 0, 16)]),
            Err(BpfError::InvalidInstruction { pc: 0, .. })
        ));
        assert!(load(&[Insn::alu64_imm(BPF_DIV, 0, 1), Insn::new(0x37, 0, 0, 2, 1)]).is_err());
        assert!(matches!(load(&[Insn::alu64_imm(BPF_END, 0, 24)]), Err(BpfError::InvalidInstruction { pc: 0, .. })));
        assert!(load(&[Insn::alu64_imm(BPF_END, 0, 16), Insn::exit()]).is_ok(), "bswap16");
        assert!(matches!(load(&[Insn::new(0x20, 0, 0, 0, 0)]), Err(BpfError::InvalidInstruction { pc: 0, .. })));
    }

    struct Maps;
    impl PseudoResolver for Maps {
        fn resolve(&mut self, src: u8, imm: i32, next_imm: i32) -> Result<u64, String> {
            Ok(u64::from(src) << 32 | (imm as u64 & 0xffff) << 16 | next_imm as u64)
        }
    }

    #[test]
    fn resolves_pseudo_lddw() {
        let [m, n] = Insn::ld_imm64_raw(1, BPF_PSEUDO_MAP_VALUE, 8 << 32 | 3);
        let p = Program::load_with(&[m, n, Insn::exit()], &mut Maps).unwrap();
        assert_eq!(p.slots[0].imm, (2u64 << 32 | 3 << 16 | 8) as i64);
        assert_eq!(p.insns()[0], m, "the loaded instructions stay as given");
    }
}
