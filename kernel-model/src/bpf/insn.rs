//! The eBPF instruction encoding: `struct bpf_insn` and the opcode constants of `include/uapi/linux/bpf_common.h`
//! and `include/uapi/linux/bpf.h`, with the kernel's names (RFC 9669 uses the same values).
//!
//! An instruction is 8 bytes, little-endian: `code:8 dst_reg:4 src_reg:4 off:16 imm:32` (the low nibble of byte 1
//! is `dst_reg`). `lddw` (`BPF_LD | BPF_IMM | BPF_DW`) takes two slots; the second carries the upper 32 bits of the
//! immediate in its `imm` and must otherwise be zero.

use super::error::BpfError;

// ---- include/uapi/linux/bpf_common.h -------------------------------------------------------------------------------

/// `BPF_LD`: non-standard load (only `lddw` in eBPF; `BPF_ABS`/`BPF_IND` are legacy packet loads).
pub const BPF_LD: u8 = 0x00;
/// `BPF_LDX`: load into a register from memory.
pub const BPF_LDX: u8 = 0x01;
/// `BPF_ST`: store an immediate to memory.
pub const BPF_ST: u8 = 0x02;
/// `BPF_STX`: store a register to memory (and atomics).
pub const BPF_STX: u8 = 0x03;
/// `BPF_ALU`: 32-bit arithmetic.
pub const BPF_ALU: u8 = 0x04;
/// `BPF_JMP`: 64-bit jumps, calls and exit.
pub const BPF_JMP: u8 = 0x05;

/// `BPF_W`: 32-bit access.
pub const BPF_W: u8 = 0x00;
/// `BPF_H`: 16-bit access.
pub const BPF_H: u8 = 0x08;
/// `BPF_B`: 8-bit access.
pub const BPF_B: u8 = 0x10;

/// `BPF_IMM`: immediate (with `BPF_LD | BPF_DW`: `lddw`).
pub const BPF_IMM: u8 = 0x00;
/// `BPF_ABS`: legacy packet load at an absolute offset.
pub const BPF_ABS: u8 = 0x20;
/// `BPF_IND`: legacy packet load at a register-relative offset.
pub const BPF_IND: u8 = 0x40;
/// `BPF_MEM`: regular load/store.
pub const BPF_MEM: u8 = 0x60;

/// `BPF_ADD`.
pub const BPF_ADD: u8 = 0x00;
/// `BPF_SUB`.
pub const BPF_SUB: u8 = 0x10;
/// `BPF_MUL`.
pub const BPF_MUL: u8 = 0x20;
/// `BPF_DIV` (`off` = 1: signed, `sdiv`).
pub const BPF_DIV: u8 = 0x30;
/// `BPF_OR`.
pub const BPF_OR: u8 = 0x40;
/// `BPF_AND`.
pub const BPF_AND: u8 = 0x50;
/// `BPF_LSH`.
pub const BPF_LSH: u8 = 0x60;
/// `BPF_RSH`.
pub const BPF_RSH: u8 = 0x70;
/// `BPF_NEG`.
pub const BPF_NEG: u8 = 0x80;
/// `BPF_MOD` (`off` = 1: signed, `smod`).
pub const BPF_MOD: u8 = 0x90;
/// `BPF_XOR`.
pub const BPF_XOR: u8 = 0xa0;

/// `BPF_JA`: unconditional jump.
pub const BPF_JA: u8 = 0x00;
/// `BPF_JEQ`.
pub const BPF_JEQ: u8 = 0x10;
/// `BPF_JGT`.
pub const BPF_JGT: u8 = 0x20;
/// `BPF_JGE`.
pub const BPF_JGE: u8 = 0x30;
/// `BPF_JSET`.
pub const BPF_JSET: u8 = 0x40;

/// `BPF_K`: the operand is the 32-bit immediate.
pub const BPF_K: u8 = 0x00;
/// `BPF_X`: the operand is `src_reg`.
pub const BPF_X: u8 = 0x08;

// ---- include/uapi/linux/bpf.h --------------------------------------------------------------------------------------

/// `BPF_JMP32`: 32-bit jumps (and `gotol`, `BPF_JMP32 | BPF_JA` with a 32-bit `imm` offset).
pub const BPF_JMP32: u8 = 0x06;
/// `BPF_ALU64`: 64-bit arithmetic.
pub const BPF_ALU64: u8 = 0x07;

/// `BPF_DW`: 64-bit access.
pub const BPF_DW: u8 = 0x18;
/// `BPF_MEMSX`: sign-extending load.
pub const BPF_MEMSX: u8 = 0x80;
/// `BPF_ATOMIC`: atomic read-modify-write (`BPF_STX` only), operation in `imm`.
pub const BPF_ATOMIC: u8 = 0xc0;

/// `BPF_MOV` (`off` = 8/16/32 with `BPF_X`: `movsx`).
pub const BPF_MOV: u8 = 0xb0;
/// `BPF_ARSH`: arithmetic (sign-preserving) right shift.
pub const BPF_ARSH: u8 = 0xc0;
/// `BPF_END`: byte swap; `BPF_ALU` with `BPF_TO_LE`/`BPF_TO_BE`, `BPF_ALU64` is an unconditional `bswap`.
pub const BPF_END: u8 = 0xd0;
/// `BPF_TO_LE`: convert to little-endian.
pub const BPF_TO_LE: u8 = 0x00;
/// `BPF_TO_BE`: convert to big-endian.
pub const BPF_TO_BE: u8 = 0x08;

/// `BPF_JNE`.
pub const BPF_JNE: u8 = 0x50;
/// `BPF_JLT`.
pub const BPF_JLT: u8 = 0xa0;
/// `BPF_JLE`.
pub const BPF_JLE: u8 = 0xb0;
/// `BPF_JSGT`.
pub const BPF_JSGT: u8 = 0x60;
/// `BPF_JSGE`.
pub const BPF_JSGE: u8 = 0x70;
/// `BPF_JSLT`.
pub const BPF_JSLT: u8 = 0xc0;
/// `BPF_JSLE`.
pub const BPF_JSLE: u8 = 0xd0;
/// `BPF_CALL`: helper, bpf-to-bpf or kfunc call (`BPF_X`: `callx`).
pub const BPF_CALL: u8 = 0x80;
/// `BPF_EXIT`: return from the function (or the program).
pub const BPF_EXIT: u8 = 0x90;

/// `BPF_FETCH`: atomic op also returns the old value in `src_reg`.
pub const BPF_FETCH: u32 = 0x01;
/// `BPF_XCHG`: atomic exchange (`0xe0 | BPF_FETCH`).
pub const BPF_XCHG: u32 = 0xe0 | BPF_FETCH;
/// `BPF_CMPXCHG`: atomic compare-and-exchange against `r0` (`0xf0 | BPF_FETCH`).
pub const BPF_CMPXCHG: u32 = 0xf0 | BPF_FETCH;

/// `BPF_PSEUDO_MAP_FD`: `lddw` `src_reg`, `imm` is a map fd; loads the map pointer.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `BPF_PSEUDO_MAP_VALUE`: `lddw` `src_reg`, `imm` is a map fd, next `imm` an offset; loads a map value address.
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// `BPF_PSEUDO_BTF_ID`: `lddw` `src_reg`, `imm` is a BTF id of a kernel variable.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// `BPF_PSEUDO_FUNC`: `lddw` `src_reg`, `imm` is a pc-relative instruction offset of a subprogram.
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// `BPF_PSEUDO_MAP_IDX`: like `BPF_PSEUDO_MAP_FD` with an index into `fd_array`.
pub const BPF_PSEUDO_MAP_IDX: u8 = 5;
/// `BPF_PSEUDO_MAP_IDX_VALUE`: like `BPF_PSEUDO_MAP_VALUE` with an index into `fd_array`.
pub const BPF_PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// `BPF_PSEUDO_CALL`: `call` `src_reg` for a bpf-to-bpf call, `imm` is pc-relative.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// `BPF_PSEUDO_KFUNC_CALL`: `call` `src_reg` for a kernel function call, `imm` is a BTF id.
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// `MAX_BPF_REG` (`__MAX_BPF_REG`): r0..r10.
pub const MAX_BPF_REG: u8 = 11;
/// `BPF_REG_FP` (`BPF_REG_10`): the read-only frame pointer.
pub const BPF_REG_FP: u8 = 10;
/// `MAX_BPF_STACK` (include/linux/filter.h): stack bytes per frame.
pub const MAX_BPF_STACK: usize = 512;
/// `MAX_CALL_FRAMES` (include/linux/bpf_verifier.h): the deepest bpf-to-bpf call chain, main program included.
pub const MAX_CALL_FRAMES: usize = 8;
/// `BPF_COMPLEXITY_LIMIT_INSNS` (include/linux/bpf.h): the largest program the loader accepts, in slots.
pub const BPF_COMPLEXITY_LIMIT_INSNS: usize = 1_000_000;

/// `BPF_CLASS(code)`.
#[must_use]
pub const fn bpf_class(code: u8) -> u8 {
    code & 0x07
}

/// `BPF_SIZE(code)`.
#[must_use]
pub const fn bpf_size(code: u8) -> u8 {
    code & 0x18
}

/// `BPF_MODE(code)`.
#[must_use]
pub const fn bpf_mode(code: u8) -> u8 {
    code & 0xe0
}

/// `BPF_OP(code)`.
#[must_use]
pub const fn bpf_op(code: u8) -> u8 {
    code & 0xf0
}

/// `BPF_SRC(code)`.
#[must_use]
pub const fn bpf_src(code: u8) -> u8 {
    code & 0x08
}

/// Bytes accessed by a load/store of `BPF_SIZE` `size`.
#[must_use]
pub const fn size_bytes(size: u8) -> u8 {
    match size & 0x18 {
        BPF_W => 4,
        BPF_H => 2,
        BPF_B => 1,
        _ => 8,
    }
}

/// One instruction slot: the kernel's `struct bpf_insn`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Insn {
    /// `code`: class, size/mode or operation and source.
    pub code: u8,
    /// `dst_reg` (4 bits).
    pub dst_reg: u8,
    /// `src_reg` (4 bits).
    pub src_reg: u8,
    /// `off`: signed offset (memory displacement, jump offset, or an operation variant).
    pub off: i16,
    /// `imm`: signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// An instruction from its fields (`dst` and `src` are truncated to 4 bits, as the bitfields do).
    #[must_use]
    pub const fn new(code: u8, dst_reg: u8, src_reg: u8, off: i16, imm: i32) -> Insn {
        Insn { code, dst_reg: dst_reg & 0x0f, src_reg: src_reg & 0x0f, off, imm }
    }

    /// Decodes 8 little-endian bytes.
    #[must_use]
    pub const fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst_reg: b[1] & 0x0f,
            src_reg: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes as 8 little-endian bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 8] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [self.code, (self.dst_reg & 0x0f) | (self.src_reg << 4), o[0], o[1], i[0], i[1], i[2], i[3]]
    }

    /// Decodes the 64-bit little-endian word form used by the `-- raw` sections of the conformance suite.
    #[must_use]
    pub const fn from_u64(w: u64) -> Insn {
        Insn::from_bytes(w.to_le_bytes())
    }

    /// The 64-bit little-endian word form.
    #[must_use]
    pub const fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    /// `BPF_CLASS(code)`.
    #[must_use]
    pub const fn class(self) -> u8 {
        bpf_class(self.code)
    }

    /// Whether this is the first slot of a two-slot `lddw` (`BPF_LD | BPF_IMM | BPF_DW`).
    #[must_use]
    pub const fn is_lddw(self) -> bool {
        self.code == BPF_LD | BPF_IMM | BPF_DW
    }

    /// `BPF_ALU64_REG(op, dst, src)`.
    #[must_use]
    pub const fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU64 | op | BPF_X, dst, src, 0, 0)
    }

    /// `BPF_ALU64_IMM(op, dst, imm)`.
    #[must_use]
    pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
    }

    /// `BPF_ALU32_REG(op, dst, src)`.
    #[must_use]
    pub const fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU | op | BPF_X, dst, src, 0, 0)
    }

    /// `BPF_ALU32_IMM(op, dst, imm)`.
    #[must_use]
    pub const fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
    }

    /// `BPF_MOV64_IMM(dst, imm)`.
    #[must_use]
    pub const fn mov64_imm(dst: u8, imm: i32) -> Insn {
        Insn::alu64_imm(BPF_MOV, dst, imm)
    }

    /// `BPF_MOV64_REG(dst, src)`.
    #[must_use]
    pub const fn mov64_reg(dst: u8, src: u8) -> Insn {
        Insn::alu64_reg(BPF_MOV, dst, src)
    }

    /// `BPF_LD_IMM64_RAW(dst, src, imm)`: the two slots of `lddw`.
    #[must_use]
    pub const fn ld_imm64_raw(dst: u8, src: u8, imm: u64) -> [Insn; 2] {
        [
            Insn::new(BPF_LD | BPF_DW | BPF_IMM, dst, src, 0, imm as u32 as i32),
            Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }

    /// `BPF_LDX_MEM(size, dst, src, off)`.
    #[must_use]
    pub const fn ldx_mem(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(BPF_LDX | size | BPF_MEM, dst, src, off, 0)
    }

    /// `BPF_STX_MEM(size, dst, src, off)`.
    #[must_use]
    pub const fn stx_mem(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(BPF_STX | size | BPF_MEM, dst, src, off, 0)
    }

    /// `BPF_ST_MEM(size, dst, off, imm)`.
    #[must_use]
    pub const fn st_mem(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
        Insn::new(BPF_ST | size | BPF_MEM, dst, 0, off, imm)
    }

    /// `BPF_ATOMIC_OP(size, op, dst, src, off)`.
    #[must_use]
    pub const fn atomic_op(size: u8, op: u32, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(BPF_STX | size | BPF_ATOMIC, dst, src, off, op as i32)
    }

    /// `BPF_JMP_IMM(op, dst, imm, off)`.
    #[must_use]
    pub const fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(BPF_JMP | op | BPF_K, dst, 0, off, imm)
    }

    /// `BPF_JMP_REG(op, dst, src, off)`.
    #[must_use]
    pub const fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(BPF_JMP | op | BPF_X, dst, src, off, 0)
    }

    /// `BPF_JMP_A(off)`.
    #[must_use]
    pub const fn ja(off: i16) -> Insn {
        Insn::new(BPF_JMP | BPF_JA, 0, 0, off, 0)
    }

    /// `BPF_EMIT_CALL(id)`: a helper call.
    #[must_use]
    pub const fn call_helper(id: i32) -> Insn {
        Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, id)
    }

    /// `BPF_CALL_REL(imm)`: a bpf-to-bpf call `imm + 1` slots ahead.
    #[must_use]
    pub const fn call_rel(imm: i32) -> Insn {
        Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, imm)
    }

    /// `BPF_EXIT_INSN()`.
    #[must_use]
    pub const fn exit() -> Insn {
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }
}

/// Splits a byte image into instructions; its length must be a multiple of 8.
pub fn decode_bytes(bytes: &[u8]) -> Result<Vec<Insn>, BpfError> {
    let chunks = bytes.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return Err(BpfError::TruncatedProgram { len: bytes.len() });
    }
    Ok(chunks.map(|c| Insn::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect())
}

/// The byte image of `insns`.
#[must_use]
pub fn encode_bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_uapi_headers() {
        // Spot checks against include/uapi/linux/bpf.h and RFC 9669's opcode table.
        assert_eq!(BPF_ALU64 | BPF_MOV | BPF_K, 0xb7);
        assert_eq!(BPF_ALU64 | BPF_MOV | BPF_X, 0xbf);
        assert_eq!(BPF_ALU | BPF_ADD | BPF_K, 0x04);
        assert_eq!(BPF_LD | BPF_IMM | BPF_DW, 0x18);
        assert_eq!(BPF_LDX | BPF_MEM | BPF_DW, 0x79);
        assert_eq!(BPF_LDX | BPF_MEMSX | BPF_B, 0x91);
        assert_eq!(BPF_STX | BPF_ATOMIC | BPF_DW, 0xdb);
        assert_eq!(BPF_STX | BPF_ATOMIC | BPF_W, 0xc3);
        assert_eq!(BPF_JMP | BPF_CALL, 0x85);
        assert_eq!(BPF_JMP | BPF_EXIT, 0x95);
        assert_eq!(BPF_JMP32 | BPF_JA, 0x06);
        assert_eq!(BPF_ALU | BPF_END | BPF_TO_BE, 0xdc);
        assert_eq!(BPF_ALU64 | BPF_END | BPF_TO_LE, 0xd7);
        assert_eq!(BPF_JMP | BPF_JSLE | BPF_X, 0xdd);
        assert_eq!(BPF_XCHG, 0xe1);
        assert_eq!(BPF_CMPXCHG, 0xf1);
    }

    #[test]
    fn encodes_like_struct_bpf_insn() {
        // mov %r0, 1
        assert_eq!(Insn::mov64_imm(0, 1).to_bytes(), [0xb7, 0, 0, 0, 1, 0, 0, 0]);
        // ldxdw %r2, [%r1-8]: dst in the low nibble, src in the high nibble
        assert_eq!(Insn::ldx_mem(BPF_DW, 2, 1, -8).to_bytes(), [0x79, 0x12, 0xf8, 0xff, 0, 0, 0, 0]);
        // The `-- raw` words of lddw.data.
        let [a, b] = Insn::ld_imm64_raw(0, 0, 0x1122_3344_5566_7788);
        assert_eq!(a.to_u64(), 0x5566_7788_0000_0018);
        assert_eq!(b.to_u64(), 0x1122_3344_0000_0000);
        assert_eq!(Insn::exit().to_u64(), 0x95);
    }

    #[test]
    fn bytes_round_trip() {
        for w in [0u64, 0x95, u64::MAX, 0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210] {
            assert_eq!(Insn::from_u64(w).to_u64(), w);
        }
        let insns = vec![Insn::mov64_imm(3, -7), Insn::exit()];
        assert_eq!(decode_bytes(&encode_bytes(&insns)).unwrap(), insns);
        assert!(matches!(decode_bytes(&[0; 9]), Err(BpfError::TruncatedProgram { len: 9 })));
    }

    #[test]
    fn field_helpers() {
        let code = BPF_LDX | BPF_MEM | BPF_H;
        assert_eq!(bpf_class(code), BPF_LDX);
        assert_eq!(bpf_mode(code), BPF_MEM);
        assert_eq!(bpf_size(code), BPF_H);
        assert_eq!(size_bytes(BPF_DW), 8);
        assert_eq!(size_bytes(BPF_B), 1);
        assert_eq!(bpf_op(BPF_JMP | BPF_JSGT | BPF_X), BPF_JSGT);
        assert_eq!(bpf_src(BPF_JMP | BPF_JSGT | BPF_X), BPF_X);
    }
}
