//! The verifier log (`struct bpf_verifier_log`, kernel/bpf/log.c): level 1 prints each instruction as it is
//! verified (`print_bpf_insn`, kernel/bpf/disasm.c) and the state at branch pops (`from X to Y: …`); level 2 also
//! the registers after each instruction. Both end with the refusal message, or with `print_verification_stats`'s
//! `processed N insns (limit 1000000) max_states_per_insn M total_states T peak_states P mark_read R`.

use crate::bpf::insn::*;

/// The log as it is written.
#[derive(Clone, Debug, Default)]
pub struct VerifierLog {
    /// `BPF_LOG_LEVEL1` = 1, `BPF_LOG_LEVEL2` = 2; 0 logs only the refusal and the statistics.
    pub level: u32,
    /// The text so far.
    pub text: String,
}

impl VerifierLog {
    /// `verbose(env, …)`: always kept (the refusal lines).
    pub fn verbose(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// A line only logged at `level` or above.
    pub fn at(&mut self, level: u32, line: impl FnOnce() -> String) {
        if self.level >= level {
            let l = line();
            self.verbose(&l);
        }
    }
}

fn alu_op(op: u8) -> &'static str {
    // bpf_alu_string[] (kernel/bpf/disasm.c)
    match op {
        BPF_ADD => "+=",
        BPF_SUB => "-=",
        BPF_MUL => "*=",
        BPF_DIV => "/=",
        BPF_OR => "|=",
        BPF_AND => "&=",
        BPF_LSH => "<<=",
        BPF_RSH => ">>=",
        BPF_NEG => "neg",
        BPF_MOD => "%=",
        BPF_XOR => "^=",
        BPF_MOV => "=",
        BPF_ARSH => "s>>=",
        _ => "endian",
    }
}

/// `bpf_alu_string[op >> 4]`, for messages.
#[must_use]
pub fn alu_string(op: u8) -> &'static str {
    alu_op(op)
}

fn jmp_op(op: u8) -> &'static str {
    // bpf_jmp_string[]
    match op {
        BPF_JEQ => "==",
        BPF_JGT => ">",
        BPF_JGE => ">=",
        BPF_JSET => "&",
        BPF_JNE => "!=",
        BPF_JSGT => "s>",
        BPF_JSGE => "s>=",
        BPF_JLT => "<",
        BPF_JLE => "<=",
        BPF_JSLT => "s<",
        BPF_JSLE => "s<=",
        _ => "?",
    }
}

fn size_str(code: u8) -> &'static str {
    match bpf_size(code) {
        BPF_B => "u8",
        BPF_H => "u16",
        BPF_W => "u32",
        _ => "u64",
    }
}

/// `print_bpf_insn` (kernel/bpf/disasm.c) for one instruction; `next_imm` is the second slot's `imm` of an `lddw`;
/// `helper` names a helper call.
#[must_use]
pub fn print_insn(pc: usize, insn: Insn, next_imm: i32, helper: Option<&str>) -> String {
    let Insn {
        code,
        dst_reg: d,
        src_reg: s,
        off,
        imm,
    } = insn;
    let class = bpf_class(code);
    let body = match class {
        BPF_ALU | BPF_ALU64 => {
            let r = if class == BPF_ALU64 { "r" } else { "w" };
            let op = bpf_op(code);
            if op == BPF_NEG {
                format!("{r}{d} = -{r}{d}")
            } else if op == BPF_END {
                let kind = if class == BPF_ALU64 {
                    "bswap"
                } else if bpf_src(code) == BPF_X {
                    "be"
                } else {
                    "le"
                };
                format!("r{d} = {kind}{imm} r{d}")
            } else if bpf_src(code) == BPF_X {
                format!("{r}{d} {} {r}{s}", alu_op(op))
            } else {
                format!("{r}{d} {} {}", alu_op(op), imm)
            }
        }
        BPF_STX if bpf_mode(code) == BPF_MEM => {
            format!("*({} *)(r{d} {:+}) = r{s}", size_str(code), off)
        }
        BPF_STX => format!(
            "lock *({} *)(r{d} {:+}) op{:#x}= r{s}",
            size_str(code),
            off,
            imm
        ),
        BPF_ST => format!("*({} *)(r{d} {:+}) = {imm}", size_str(code), off),
        BPF_LDX => format!("r{d} = *({} *)(r{s} {:+})", size_str(code), off),
        BPF_LD => {
            let v = u64::from(imm as u32) | (u64::from(next_imm as u32) << 32);
            match s {
                BPF_PSEUDO_MAP_FD => format!("r{d} = map[id:{imm}]"),
                BPF_PSEUDO_MAP_VALUE => format!("r{d} = map[id:{imm}][0]+{next_imm}"),
                _ => format!("r{d} = {v:#x}"),
            }
        }
        BPF_JMP | BPF_JMP32 => {
            let op = bpf_op(code);
            let r = if class == BPF_JMP { "r" } else { "w" };
            match op {
                BPF_CALL if s == BPF_PSEUDO_CALL => format!("call pc{:+}", imm),
                BPF_CALL => format!("call {}#{imm}", helper.unwrap_or("unknown")),
                BPF_EXIT => "exit".to_string(),
                BPF_JA if class == BPF_JMP32 => format!("gotol pc{:+}", imm),
                BPF_JA => format!("goto pc{:+}", off),
                _ if bpf_src(code) == BPF_X => {
                    format!("if {r}{d} {} {r}{s} goto pc{:+}", jmp_op(op), off)
                }
                _ => format!("if {r}{d} {} {:#x} goto pc{:+}", jmp_op(op), imm, off),
            }
        }
        _ => format!("unknown opcode {code:02x}"),
    };
    format!("{pc}: ({code:02x}) {body}")
}

/// Verification statistics (`print_verification_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `insn_processed`.
    pub insn_processed: usize,
    /// `max_states_per_insn`.
    pub max_states_per_insn: usize,
    /// `total_states`.
    pub total_states: usize,
    /// `peak_states`.
    pub peak_states: usize,
    /// `mark_read` (this model has no liveness marks: always 0).
    pub mark_read: usize,
}

impl Stats {
    /// The line.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "processed {} insns (limit {}) max_states_per_insn {} total_states {} peak_states {} mark_read {}",
            self.insn_processed,
            BPF_COMPLEXITY_LIMIT_INSNS,
            self.max_states_per_insn,
            self.total_states,
            self.peak_states,
            self.mark_read
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_the_kernel() {
        assert_eq!(
            print_insn(0, Insn::mov64_imm(0, 0), 0, None),
            "0: (b7) r0 = 0"
        );
        assert_eq!(print_insn(3, Insn::exit(), 0, None), "3: (95) exit");
        assert_eq!(print_insn(1, Insn::ja(-2), 0, None), "1: (05) goto pc-2");
        assert_eq!(
            print_insn(2, Insn::call_helper(1), 0, Some("bpf_map_lookup_elem")),
            "2: (85) call bpf_map_lookup_elem#1"
        );
        let s = Stats {
            insn_processed: 2,
            ..Stats::default()
        };
        assert_eq!(s.line(), "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0");
    }
}
