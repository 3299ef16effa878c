//! The disassembler: one line per instruction in the syntax [`super::asm`] reads, so that
//! `assemble(&disassemble(x)) == x` for every instruction sequence `x`. Jumps are printed as relative offsets
//! (`+N`/`-N` slots). A slot that has no textual form (reserved fields set, unknown opcode, a lone half of an
//! `lddw`) is printed as `.raw 0x…`, its 64-bit little-endian word, which is why the round trip is total.

use super::asm::{assemble, PSEUDO_NAMES};
use super::insn::*;
use std::fmt::Write as _;

/// Disassembles `insns`, one line per instruction (an `lddw` is one line for two slots), each ending in `\n`.
#[must_use]
pub fn disassemble(insns: &[Insn]) -> String {
    let mut out = String::new();
    let mut pc = 0;
    while pc < insns.len() {
        let (line, n) = disasm_at(insns, pc);
        out.push_str(&line);
        out.push('\n');
        pc += n;
    }
    out
}

/// The text of the instruction at `pc` and how many slots it takes (1, or 2 for `lddw`).
#[must_use]
pub fn disasm_at(insns: &[Insn], pc: usize) -> (String, usize) {
    let Some(&insn) = insns.get(pc) else { return (String::new(), 1) };
    let n = if insn.is_lddw() && pc + 1 < insns.len() { 2 } else { 1 };
    let slots = &insns[pc..pc + n];
    if let Some(text) = format_insn(slots) {
        // Keep the text only if it assembles back to exactly these slots.
        if assemble(&text).as_deref() == Ok(slots) {
            return (text, n);
        }
    }
    (format!(".raw {:#018x}", insn.to_u64()), 1)
}

fn reg(r: u8) -> String {
    format!("%r{r}")
}

/// An immediate: small values in decimal, large ones in (signed) hex.
fn imm(v: i32) -> String {
    if (-0x10000..=0x10000).contains(&v) {
        v.to_string()
    } else if v < 0 {
        format!("-{:#x}", v.unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

fn rel(v: i64) -> String {
    if v < 0 {
        v.to_string()
    } else {
        format!("+{v}")
    }
}

fn memop(r: u8, off: i16) -> String {
    match off {
        0 => format!("[{}]", reg(r)),
        o if o < 0 => format!("[{}{o}]", reg(r)),
        o => format!("[{}+{o}]", reg(r)),
    }
}

fn size_name(code: u8) -> &'static str {
    match bpf_size(code) {
        BPF_B => "b",
        BPF_H => "h",
        BPF_W => "w",
        _ => "dw",
    }
}

fn alu_name(op: u8, off: i16) -> Option<&'static str> {
    Some(match (op, off) {
        (BPF_ADD, _) => "add",
        (BPF_SUB, _) => "sub",
        (BPF_MUL, _) => "mul",
        (BPF_DIV, 1) => "sdiv",
        (BPF_DIV, _) => "div",
        (BPF_OR, _) => "or",
        (BPF_AND, _) => "and",
        (BPF_LSH, _) => "lsh",
        (BPF_RSH, _) => "rsh",
        (BPF_MOD, 1) => "smod",
        (BPF_MOD, _) => "mod",
        (BPF_XOR, _) => "xor",
        (BPF_MOV, _) => "mov",
        (BPF_ARSH, _) => "arsh",
        _ => return None,
    })
}

fn jmp_name(op: u8) -> Option<&'static str> {
    Some(match op {
        BPF_JEQ => "jeq",
        BPF_JGT => "jgt",
        BPF_JGE => "jge",
        BPF_JSET => "jset",
        BPF_JNE => "jne",
        BPF_JSGT => "jsgt",
        BPF_JSGE => "jsge",
        BPF_JLT => "jlt",
        BPF_JLE => "jle",
        BPF_JSLT => "jslt",
        BPF_JSLE => "jsle",
        _ => return None,
    })
}

/// The text for `slots` (one instruction), ignoring reserved fields; `None` if the opcode has no mnemonic.
fn format_insn(slots: &[Insn]) -> Option<String> {
    let i = slots[0];
    let (d, s) = (i.dst_reg, i.src_reg);
    let x = bpf_src(i.code) == BPF_X;
    let class = i.class();
    let mut t = String::new();
    match class {
        BPF_ALU | BPF_ALU64 => {
            let sfx = if class == BPF_ALU { "32" } else { "" };
            match bpf_op(i.code) {
                BPF_NEG => write!(t, "neg{sfx} {}", reg(d)).ok()?,
                BPF_END => {
                    let name = match (class, x) {
                        (BPF_ALU64, _) => "bswap",
                        (_, false) => "le",
                        (_, true) => "be",
                    };
                    write!(t, "{name}{} {}", i.imm, reg(d)).ok()?;
                }
                BPF_MOV if x && i.off != 0 => {
                    let to = if class == BPF_ALU { 32 } else { 64 };
                    write!(t, "movsx{}{to} {}, {}", i.off, reg(d), reg(s)).ok()?;
                }
                op => {
                    let name = alu_name(op, i.off)?;
                    let operand = if x { reg(s) } else { imm(i.imm) };
                    write!(t, "{name}{sfx} {}, {operand}", reg(d)).ok()?;
                }
            }
        }
        BPF_JMP | BPF_JMP32 => {
            let sfx = if class == BPF_JMP32 { "32" } else { "" };
            match bpf_op(i.code) {
                BPF_JA if class == BPF_JMP => write!(t, "ja {}", rel(i64::from(i.off))).ok()?,
                BPF_JA => write!(t, "ja32 {}", rel(i64::from(i.imm))).ok()?,
                BPF_CALL if x => write!(t, "call {}", reg(d)).ok()?,
                BPF_CALL => match s {
                    BPF_PSEUDO_CALL => write!(t, "call local {}", rel(i64::from(i.imm))).ok()?,
                    BPF_PSEUDO_KFUNC_CALL => write!(t, "call kfunc {}", imm(i.imm)).ok()?,
                    _ => write!(t, "call {}", imm(i.imm)).ok()?,
                },
                BPF_EXIT => t.push_str("exit"),
                op => {
                    let name = jmp_name(op)?;
                    let operand = if x { reg(s) } else { imm(i.imm) };
                    write!(t, "{name}{sfx} {}, {operand}, {}", reg(d), rel(i64::from(i.off))).ok()?;
                }
            }
        }
        BPF_LD if i.is_lddw() && slots.len() == 2 => {
            let hi = slots[1].imm;
            if s == 0 {
                let v = u64::from(i.imm as u32) | (u64::from(hi as u32) << 32);
                write!(t, "lddw {}, {v:#x}", reg(d)).ok()?;
            } else {
                let name = PSEUDO_NAMES.iter().find(|(_, src)| *src == s)?.0;
                write!(t, "lddw {}, {name} {}", reg(d), imm(i.imm)).ok()?;
                if hi != 0 || name.ends_with("value") {
                    write!(t, ", {}", imm(hi)).ok()?;
                }
            }
        }
        BPF_LDX => {
            let sx = if bpf_mode(i.code) == BPF_MEMSX { "s" } else { "" };
            write!(t, "ldx{sx}{} {}, {}", size_name(i.code), reg(d), memop(s, i.off)).ok()?;
        }
        BPF_ST => write!(t, "st{} {}, {}", size_name(i.code), memop(d, i.off), imm(i.imm)).ok()?,
        BPF_STX if bpf_mode(i.code) == BPF_ATOMIC => {
            let sfx = if bpf_size(i.code) == BPF_W { "32" } else { "" };
            let op = i.imm as u32;
            let (fetch, name) = match op {
                BPF_XCHG => ("", "xchg"),
                BPF_CMPXCHG => ("", "cmpxchg"),
                _ => {
                    let fetch = if op & BPF_FETCH != 0 { "fetch " } else { "" };
                    let name = match u8::try_from(op & !BPF_FETCH).ok()? {
                        BPF_ADD => "add",
                        BPF_OR => "or",
                        BPF_AND => "and",
                        BPF_XOR => "xor",
                        _ => return None,
                    };
                    (fetch, name)
                }
            };
            write!(t, "lock {fetch}{name}{sfx} {}, {}", memop(d, i.off), reg(s)).ok()?;
        }
        BPF_STX => write!(t, "stx{} {}, {}", size_name(i.code), memop(d, i.off), reg(s)).ok()?,
        _ => return None,
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_conformance_syntax() {
        let src = "mov %r0, 1\nadd32 %r0, -3\nsdiv %r1, %r2\nmovsx1632 %r0, %r1\nbe16 %r3\nbswap64 %r0\n\
                   lddw %r0, 0x1122334455667788\nldxw %r0, [%r1+4]\nldxsb %r0, [%r10-1]\nstdw [%r10-8], 5\n\
                   stxb [%r1], %r2\nlock fetch xor32 [%r10-4], %r3\nlock cmpxchg [%r10-8], %r1\n\
                   jeq %r1, 0, +2\nja32 -3\nja +0\ncall 5\ncall local +1\ncall %r2\nmov %r0, 0x7fffffff\n\
                   and %r0, -0x80000000\nlddw %r1, map_fd 3\nlddw %r1, map_value 3, 16\nexit\n";
        let insns = assemble(src).unwrap();
        assert_eq!(disassemble(&insns), src);
    }

    #[test]
    fn unprintable_slots_become_raw() {
        let odd = [Insn::new(0xff, 1, 2, 3, 4), Insn::new(0xb7, 0, 3, 0, 1), Insn::ld_imm64_raw(0, 0, 5)[0]];
        let text = disassemble(&odd);
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().all(|l| l.starts_with(".raw ")), "{text}");
        assert_eq!(assemble(&text).unwrap(), odd);
    }

    #[test]
    fn round_trips_random_words() {
        // A deterministic xorshift generator; any 64-bit words must survive disassemble → assemble.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut words = Vec::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Bias towards valid opcodes and small fields so that most lines are real instructions.
            let code: u8 = [
                0x07, 0x0f, 0x04, 0xb7, 0xbf, 0x3f, 0x9c, 0xdc, 0xd7, 0x18, 0x61, 0x91, 0x7a, 0xdb, 0xc3, 0x05, 0x06,
                0x15, 0x2e, 0x85, 0x8d, 0x95, 0x00,
            ][(x % 23) as usize];
            let w = (x & !0xff) | u64::from(code);
            words.push(if x & 0x100 != 0 { w & 0xffff_ffff_0000_ffff } else { w });
        }
        let insns: Vec<Insn> = words.iter().map(|w| Insn::from_u64(*w)).collect();
        let text = disassemble(&insns);
        assert_eq!(assemble(&text).unwrap(), insns);
    }
}
