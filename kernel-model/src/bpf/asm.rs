//! An assembler for the syntax of the bpf_conformance suite (Alan-Jowett/bpf_conformance, the same dialect as
//! uBPF's and rbpf's): one instruction per line, `#` comments, `label:` lines, `%rN` registers.
//!
//! ```text
//! mov %r0, 1              add32 %r1, %r2          sdiv %r0, -3          movsx1664 %r0, %r1
//! neg %r0                 le16 %r0  be64 %r0      bswap32 %r0           lddw %r0, 0x1122334455667788
//! ldxw %r0, [%r1+4]       ldxsb %r0, [%r10-1]     stdw [%r10-8], 5      stxb [%r1], %r2
//! lock add [%r1], %r2     lock fetch xor32 [%r10-4], %r3    lock xchg [..], %r1    lock cmpxchg [..], %r1
//! ja +2   ja label        ja32 label (gotol)      jeq %r1, 0, label     jsgt32 %r1, %r2, -3
//! call 5  call helper 5   call local func         call %r2 (callx)      call kfunc 42        exit
//! lddw %r1, map_fd 3      lddw %r1, map_value 3, 16                     .raw 0x0000000000000095
//! ```
//!
//! Immediates are decimal or `0x` hex, optionally signed; a 32-bit immediate may be given as its unsigned bit
//! pattern (`0xffffffff` is -1). Jump targets are `+N`/`-N`/`N` (slots, relative to the next instruction) or a
//! label; the label `exit` names the first `exit` instruction unless the source defines it. `swap16/32/64` are
//! accepted for `bswap16/32/64`, `gotol` for `ja32`, `call runtime N` for `call kfunc N`. `.raw W` emits one slot
//! whose 64-bit little-endian word is `W` (what the disassembler prints for slots it cannot express).

use super::error::AsmError;
use super::insn::*;
use std::collections::BTreeMap;

/// Which field of a slot a label fills in.
#[derive(Clone, Copy)]
enum Field {
    Off,
    Imm,
}

struct Fixup {
    slot: usize,
    label: String,
    field: Field,
    line: usize,
    text: String,
}

/// A jump target as written.
enum Target {
    Rel(i64),
    Label(String),
}

/// Assembles `source` into instructions (two slots per `lddw`).
pub fn assemble(source: &str) -> Result<Vec<Insn>, AsmError> {
    let mut out: Vec<Insn> = Vec::new();
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_exit: Option<usize> = None;
    let mut fixups: Vec<Fixup> = Vec::new();

    for (i, raw_line) in source.lines().enumerate() {
        let line_no = i + 1;
        let code = raw_line.split('#').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        let err = |message: String| AsmError { line: line_no, text: raw_line.trim().to_string(), message };
        let mut rest = code;
        // Leading `label:` (possibly followed by an instruction on the same line).
        if let Some((head, tail)) = rest.split_once(':') {
            let name = head.trim();
            if is_label(name) && !tail.trim_start().starts_with(':') {
                if labels.insert(name.to_string(), out.len()).is_some() {
                    return Err(err(format!("duplicate label `{name}`")));
                }
                rest = tail.trim();
                if rest.is_empty() {
                    continue;
                }
            }
        }
        let (mnemonic, operands) = match rest.split_once(char::is_whitespace) {
            Some((m, o)) => (m, o.trim()),
            None => (rest, ""),
        };
        let mnemonic = mnemonic.to_ascii_lowercase();
        let ops: Vec<&str> =
            if operands.is_empty() { Vec::new() } else { operands.split(',').map(str::trim).collect() };
        let slot = out.len();
        let mut target: Option<(Target, Field)> = None;
        let insns = encode(&mnemonic, &ops, &mut target).map_err(err)?;
        if mnemonic == "exit" && first_exit.is_none() {
            first_exit = Some(slot);
        }
        match target {
            Some((Target::Label(label), field)) => {
                fixups.push(Fixup { slot, label, field, line: line_no, text: raw_line.trim().to_string() })
            }
            Some((Target::Rel(_), _)) | None => {}
        }
        out.extend(insns);
    }

    if let Some(e) = first_exit {
        labels.entry("exit".to_string()).or_insert(e);
    }
    for f in fixups {
        let err = |message: String| AsmError { line: f.line, text: f.text.clone(), message };
        let target = *labels.get(&f.label).ok_or_else(|| err(format!("unknown label `{}`", f.label)))?;
        let rel = target as i64 - f.slot as i64 - 1;
        let insn = &mut out[f.slot];
        match f.field {
            Field::Off => insn.off = i16::try_from(rel).map_err(|_| err(format!("jump of {rel} slots is too far")))?,
            Field::Imm => insn.imm = i32::try_from(rel).map_err(|_| err(format!("jump of {rel} slots is too far")))?,
        }
    }
    Ok(out)
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn want(ops: &[&str], n: usize, mnemonic: &str) -> Result<(), String> {
    if ops.len() != n {
        return Err(format!("`{mnemonic}` takes {n} operand(s), got {}", ops.len()));
    }
    Ok(())
}

/// Parses `%rN` (or `rN`), N in 0..=15 (r11-r15 exist only so that invalid programs can be written).
fn reg(s: &str) -> Result<u8, String> {
    let t = s.trim();
    let n = t
        .strip_prefix("%r")
        .or_else(|| t.strip_prefix('r'))
        .ok_or_else(|| format!("expected a register, got `{t}`"))?;
    match n.parse::<u8>() {
        Ok(r) if r < 16 && !n.starts_with('+') => Ok(r),
        _ => Err(format!("invalid register `{t}`")),
    }
}

/// Parses a signed decimal or `0x` hex integer.
fn int(s: &str) -> Result<i128, String> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => i128::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) => body.parse::<i128>().ok(),
        None => None,
    };
    let v = v.ok_or_else(|| format!("invalid number `{t}`"))?;
    Ok(if neg { -v } else { v })
}

/// A 32-bit immediate: -2^31..2^32 (values above `i32::MAX` are bit patterns).
fn imm32(s: &str) -> Result<i32, String> {
    let v = int(s)?;
    if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
        return Err(format!("immediate `{}` does not fit in 32 bits", s.trim()));
    }
    Ok(v as u32 as i32)
}

/// A 64-bit immediate: -2^63..2^64.
fn imm64(s: &str) -> Result<u64, String> {
    let v = int(s)?;
    if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
        return Err(format!("immediate `{}` does not fit in 64 bits", s.trim()));
    }
    Ok(v as u64)
}

/// A 16-bit offset: -2^15..2^16.
fn off16(s: &str) -> Result<i16, String> {
    let v = int(s)?;
    if v < i128::from(i16::MIN) || v > i128::from(u16::MAX) {
        return Err(format!("offset `{}` does not fit in 16 bits", s.trim()));
    }
    Ok(v as u16 as i16)
}

/// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
fn mem_operand(s: &str) -> Result<(u8, i16), String> {
    let t = s.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(|| format!("expected a memory operand `[%rN+off]`, got `{t}`"))?
        .trim();
    match inner.find(['+', '-']) {
        Some(i) => {
            let (r, o) = inner.split_at(i);
            Ok((reg(r)?, off16(&o.replace(' ', ""))?))
        }
        None => Ok((reg(inner)?, 0)),
    }
}

fn target(s: &str) -> Result<Target, String> {
    let t = s.trim();
    if t.starts_with(['+', '-']) || t.starts_with(|c: char| c.is_ascii_digit()) {
        Ok(Target::Rel(int(t).map_err(|_| format!("invalid jump target `{t}`"))? as i64))
    } else if is_label(t) {
        Ok(Target::Label(t.to_string()))
    } else {
        Err(format!("invalid jump target `{t}`"))
    }
}

fn rel_off(t: &Target) -> Result<i16, String> {
    match t {
        Target::Rel(v) => i16::try_from(*v).map_err(|_| format!("jump offset {v} does not fit in 16 bits")),
        Target::Label(_) => Ok(0),
    }
}

fn rel_imm(t: &Target) -> Result<i32, String> {
    match t {
        Target::Rel(v) => i32::try_from(*v).map_err(|_| format!("jump offset {v} does not fit in 32 bits")),
        Target::Label(_) => Ok(0),
    }
}

fn alu_op(name: &str) -> Option<(u8, i16)> {
    Some(match name {
        "add" => (BPF_ADD, 0),
        "sub" => (BPF_SUB, 0),
        "mul" => (BPF_MUL, 0),
        "div" => (BPF_DIV, 0),
        "sdiv" => (BPF_DIV, 1),
        "or" => (BPF_OR, 0),
        "and" => (BPF_AND, 0),
        "lsh" => (BPF_LSH, 0),
        "rsh" => (BPF_RSH, 0),
        "mod" => (BPF_MOD, 0),
        "smod" => (BPF_MOD, 1),
        "xor" => (BPF_XOR, 0),
        "mov" => (BPF_MOV, 0),
        "arsh" => (BPF_ARSH, 0),
        _ => return None,
    })
}

fn jmp_op(name: &str) -> Option<u8> {
    Some(match name {
        "jeq" => BPF_JEQ,
        "jgt" => BPF_JGT,
        "jge" => BPF_JGE,
        "jset" => BPF_JSET,
        "jne" => BPF_JNE,
        "jsgt" => BPF_JSGT,
        "jsge" => BPF_JSGE,
        "jlt" => BPF_JLT,
        "jle" => BPF_JLE,
        "jslt" => BPF_JSLT,
        "jsle" => BPF_JSLE,
        _ => return None,
    })
}

fn size_suffix(s: &str) -> Option<u8> {
    Some(match s {
        "b" => BPF_B,
        "h" => BPF_H,
        "w" => BPF_W,
        "dw" => BPF_DW,
        _ => return None,
    })
}

/// The `lddw` pseudo sources by name.
pub(crate) const PSEUDO_NAMES: [(&str, u8); 6] = [
    ("map_fd", BPF_PSEUDO_MAP_FD),
    ("map_value", BPF_PSEUDO_MAP_VALUE),
    ("btf_id", BPF_PSEUDO_BTF_ID),
    ("func", BPF_PSEUDO_FUNC),
    ("map_idx", BPF_PSEUDO_MAP_IDX),
    ("map_idx_value", BPF_PSEUDO_MAP_IDX_VALUE),
];

fn encode(m: &str, ops: &[&str], tgt: &mut Option<(Target, Field)>) -> Result<Vec<Insn>, String> {
    let one = |i: Insn| Ok(vec![i]);
    // exit
    if m == "exit" {
        want(ops, 0, m)?;
        return one(Insn::exit());
    }
    if m == ".raw" {
        want(ops, 1, m)?;
        return one(Insn::from_u64(imm64(ops[0])?));
    }
    // lddw
    if m == "lddw" {
        if ops.len() != 2 && ops.len() != 3 {
            return Err("`lddw` takes 2 operands (or a pseudo source and an offset)".into());
        }
        let dst = reg(ops[0])?;
        let (src, lo, hi) = match ops[1].split_once(char::is_whitespace) {
            Some((kind, v)) => {
                let src = PSEUDO_NAMES
                    .iter()
                    .find(|(n, _)| *n == kind)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| format!("unknown lddw pseudo source `{kind}`"))?;
                let hi = if ops.len() == 3 { imm32(ops[2])? } else { 0 };
                (src, imm32(v)?, hi)
            }
            None => {
                if ops.len() == 3 {
                    return Err("a plain `lddw` takes 2 operands".into());
                }
                let v = imm64(ops[1])?;
                (0, v as u32 as i32, (v >> 32) as u32 as i32)
            }
        };
        return Ok(vec![Insn::new(BPF_LD | BPF_IMM | BPF_DW, dst, src, 0, lo), Insn::new(0, 0, 0, 0, hi)]);
    }
    // neg / neg32
    if m == "neg" || m == "neg32" {
        want(ops, 1, m)?;
        let class = if m == "neg" { BPF_ALU64 } else { BPF_ALU };
        return one(Insn::new(class | BPF_NEG | BPF_K, reg(ops[0])?, 0, 0, 0));
    }
    // byte swaps
    for (prefix, code) in [
        ("le", BPF_ALU | BPF_END | BPF_TO_LE),
        ("be", BPF_ALU | BPF_END | BPF_TO_BE),
        ("bswap", BPF_ALU64 | BPF_END | BPF_TO_LE),
        ("swap", BPF_ALU64 | BPF_END | BPF_TO_LE),
    ] {
        if let Some(width @ ("16" | "32" | "64")) = m.strip_prefix(prefix) {
            want(ops, 1, m)?;
            return one(Insn::new(code, reg(ops[0])?, 0, 0, width.parse().unwrap_or(64)));
        }
    }
    // movsx
    if let Some(suffix) = m.strip_prefix("movsx") {
        let (class, off) = match suffix {
            "832" => (BPF_ALU, 8),
            "1632" => (BPF_ALU, 16),
            "864" => (BPF_ALU64, 8),
            "1664" => (BPF_ALU64, 16),
            "3264" => (BPF_ALU64, 32),
            _ => return Err(format!("unknown mnemonic `{m}`")),
        };
        want(ops, 2, m)?;
        return one(Insn::new(class | BPF_MOV | BPF_X, reg(ops[0])?, reg(ops[1])?, off, 0));
    }
    // ALU
    let (base, is32) = match m.strip_suffix("32") {
        Some(b) => (b, true),
        None => (m, false),
    };
    if let Some((op, off)) = alu_op(base) {
        want(ops, 2, m)?;
        let class = if is32 { BPF_ALU } else { BPF_ALU64 };
        let dst = reg(ops[0])?;
        return one(if ops[1].trim_start().starts_with('%') {
            Insn::new(class | op | BPF_X, dst, reg(ops[1])?, off, 0)
        } else {
            Insn::new(class | op | BPF_K, dst, 0, off, imm32(ops[1])?)
        });
    }
    // conditional jumps
    if let Some(op) = jmp_op(base) {
        want(ops, 3, m)?;
        let class = if is32 { BPF_JMP32 } else { BPF_JMP };
        let dst = reg(ops[0])?;
        let t = target(ops[2])?;
        let off = rel_off(&t)?;
        let insn = if ops[1].trim_start().starts_with('%') {
            Insn::new(class | op | BPF_X, dst, reg(ops[1])?, off, 0)
        } else {
            Insn::new(class | op | BPF_K, dst, 0, off, imm32(ops[1])?)
        };
        *tgt = Some((t, Field::Off));
        return one(insn);
    }
    match m {
        "ja" => {
            want(ops, 1, m)?;
            let t = target(ops[0])?;
            let insn = Insn::ja(rel_off(&t)?);
            *tgt = Some((t, Field::Off));
            return one(insn);
        }
        "ja32" | "gotol" => {
            want(ops, 1, m)?;
            let t = target(ops[0])?;
            let insn = Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, rel_imm(&t)?);
            *tgt = Some((t, Field::Imm));
            return one(insn);
        }
        "call" => {
            want(ops, 1, m)?;
            let words: Vec<&str> = ops[0].split_whitespace().collect();
            return match words.as_slice() {
                [r] if r.starts_with('%') => one(Insn::new(BPF_JMP | BPF_CALL | BPF_X, reg(r)?, 0, 0, 0)),
                [id] | ["helper", id] => one(Insn::call_helper(imm32(id)?)),
                ["local", t] => {
                    let t = target(t)?;
                    let insn = Insn::call_rel(rel_imm(&t)?);
                    *tgt = Some((t, Field::Imm));
                    one(insn)
                }
                ["kfunc" | "runtime", id] => {
                    one(Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, imm32(id)?))
                }
                _ => Err(format!("invalid call operand `{}`", ops[0])),
            };
        }
        "lock" => {
            if ops.len() != 2 {
                return Err("`lock` takes `[fetch] OP [%rN+off], %rM`".into());
            }
            let words: Vec<&str> = ops[0].split_whitespace().collect();
            let (fetch, opname, memop) = match words.as_slice() {
                ["fetch", o, mo] => (true, *o, *mo),
                [o, mo] => (false, *o, *mo),
                _ => return Err(format!("invalid lock operands `{}`", ops[0])),
            };
            let (opbase, size) = match opname.strip_suffix("32") {
                Some(b) => (b, BPF_W),
                None => (opname, BPF_DW),
            };
            let aop: u32 = match opbase {
                "add" => u32::from(BPF_ADD),
                "or" => u32::from(BPF_OR),
                "and" => u32::from(BPF_AND),
                "xor" => u32::from(BPF_XOR),
                "xchg" => BPF_XCHG,
                "cmpxchg" => BPF_CMPXCHG,
                _ => return Err(format!("unknown atomic operation `{opname}`")),
            };
            let aop = if fetch { aop | BPF_FETCH } else { aop };
            let (dst, off) = mem_operand(memop)?;
            return one(Insn::atomic_op(size, aop, dst, reg(ops[1])?, off));
        }
        _ => {}
    }
    // loads and stores
    if let Some(sz) = m.strip_prefix("ldxs").and_then(size_suffix) {
        want(ops, 2, m)?;
        if sz == BPF_DW {
            return Err("there is no sign-extending 64-bit load".into());
        }
        let (src, off) = mem_operand(ops[1])?;
        return one(Insn::new(BPF_LDX | BPF_MEMSX | sz, reg(ops[0])?, src, off, 0));
    }
    if let Some(sz) = m.strip_prefix("ldx").and_then(size_suffix) {
        want(ops, 2, m)?;
        let (src, off) = mem_operand(ops[1])?;
        return one(Insn::ldx_mem(sz, reg(ops[0])?, src, off));
    }
    if let Some(sz) = m.strip_prefix("stx").and_then(size_suffix) {
        want(ops, 2, m)?;
        let (dst, off) = mem_operand(ops[0])?;
        return one(Insn::stx_mem(sz, dst, reg(ops[1])?, off));
    }
    if let Some(sz) = m.strip_prefix("st").and_then(size_suffix) {
        want(ops, 2, m)?;
        let (dst, off) = mem_operand(ops[0])?;
        return one(Insn::st_mem(sz, dst, off, imm32(ops[1])?));
    }
    Err(format!("unknown mnemonic `{m}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asm1(s: &str) -> Insn {
        let v = assemble(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v[0]
    }

    #[test]
    fn encodes_the_conformance_syntax() {
        assert_eq!(asm1("mov %r0, 1"), Insn::mov64_imm(0, 1));
        assert_eq!(asm1("mov32 %r0, %r1"), Insn::alu32_reg(BPF_MOV, 0, 1));
        assert_eq!(asm1("add32 %r0, -3"), Insn::alu32_imm(BPF_ADD, 0, -3));
        assert_eq!(asm1("mov %r0, 0x80000000"), Insn::mov64_imm(0, i32::MIN));
        assert_eq!(asm1("sdiv32 %r0, %r1"), Insn::new(0x3c, 0, 1, 1, 0));
        assert_eq!(asm1("smod %r0, -2"), Insn::new(0x97, 0, 0, 1, -2));
        assert_eq!(asm1("movsx1664 %r0, %r1"), Insn::new(0xbf, 0, 1, 16, 0));
        assert_eq!(asm1("movsx832 %r0, %r1"), Insn::new(0xbc, 0, 1, 8, 0));
        assert_eq!(asm1("neg32 %r0"), Insn::new(0x84, 0, 0, 0, 0));
        assert_eq!(asm1("be16 %r3"), Insn::new(0xdc, 3, 0, 0, 16));
        assert_eq!(asm1("le64 %r0"), Insn::new(0xd4, 0, 0, 0, 64));
        assert_eq!(asm1("swap32 %r0"), asm1("bswap32 %r0"));
        assert_eq!(asm1("bswap32 %r0"), Insn::new(0xd7, 0, 0, 0, 32));
        assert_eq!(asm1("ldxdw %r0, [%r1+8]"), Insn::ldx_mem(BPF_DW, 0, 1, 8));
        assert_eq!(asm1("ldxh %r0, [%r1]"), Insn::ldx_mem(BPF_H, 0, 1, 0));
        assert_eq!(asm1("ldxsw %r0, [%r10-4]"), Insn::new(0x81, 0, 10, -4, 0));
        assert_eq!(asm1("stdw [%r10-16], 0xab"), Insn::st_mem(BPF_DW, 10, -16, 0xab));
        assert_eq!(asm1("stxb [%r0+1], %r9"), Insn::stx_mem(BPF_B, 0, 9, 1));
        assert_eq!(asm1("lock add [%r10-8], %r1"), Insn::new(0xdb, 10, 1, -8, 0));
        assert_eq!(asm1("lock fetch and32 [%r10-8], %r1"), Insn::new(0xc3, 10, 1, -8, 0x51));
        assert_eq!(asm1("lock xchg [%r10-8], %r1"), Insn::new(0xdb, 10, 1, -8, 0xe1));
        assert_eq!(asm1("lock cmpxchg32 [%r10-8], %r1"), Insn::new(0xc3, 10, 1, -8, 0xf1));
        assert_eq!(asm1("jeq %r1, 0x80000000, +1"), Insn::jmp_imm(BPF_JEQ, 1, i32::MIN, 1));
        assert_eq!(asm1("jsgt32 %r1, %r2, -3"), Insn::new(0x6e, 1, 2, -3, 0));
        assert_eq!(asm1("jsge32 %r1, %r2, -3"), Insn::new(0x7e, 1, 2, -3, 0));
        assert_eq!(asm1("call 5"), Insn::call_helper(5));
        assert_eq!(asm1("call %r2"), Insn::new(0x8d, 2, 0, 0, 0));
        assert_eq!(asm1("call kfunc 7"), Insn::new(0x85, 0, 2, 0, 7));
        assert_eq!(asm1(".raw 0x95"), Insn::exit());
        assert_eq!(asm1("exit # done"), Insn::exit());
        assert_eq!(assemble("lddw %r0, 2147483648").unwrap(), Insn::ld_imm64_raw(0, 0, 0x8000_0000).to_vec());
        assert_eq!(assemble("lddw %r0, -1").unwrap(), Insn::ld_imm64_raw(0, 0, u64::MAX).to_vec());
        assert_eq!(
            assemble("lddw %r1, map_value 3, 16").unwrap(),
            vec![Insn::new(0x18, 1, 2, 0, 3), Insn::new(0, 0, 0, 0, 16)]
        );
    }

    #[test]
    fn resolves_labels() {
        let p = assemble("mov %r1, 0\nja L2\nL1:\nmov %r2, 0\nexit\nL2: mov %r0, 0\nja32 L1\ncall local L1\n").unwrap();
        assert_eq!(p[1], Insn::ja(2));
        assert_eq!(p[5], Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, -4));
        assert_eq!(p[6], Insn::call_rel(-5));
        // `exit` names the first exit.
        let p = assemble("ja exit\nmov %r0, 1\nexit\nexit").unwrap();
        assert_eq!(p[0], Insn::ja(1));
    }

    #[test]
    fn reports_line_numbers() {
        let e = assemble("mov %r0, 1\n\nfrob %r0\n").unwrap_err();
        assert_eq!((e.line, e.text.as_str()), (3, "frob %r0"));
        let e = assemble("ja nowhere\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("nowhere"));
        assert!(assemble("mov %r0, 0x100000000").is_err());
        assert!(assemble("mov %r16, 1").is_err());
        assert!(assemble("ldxw %r0, [%r1+70000]").is_err());
        assert!(assemble("L:\nL:\nexit").is_err());
        assert!(assemble("add %r0").is_err());
    }
}
