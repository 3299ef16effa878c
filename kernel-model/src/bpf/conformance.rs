//! The bpf_conformance suite's `.data` test format and the environment its programs assume, shared by the
//! data-driven test (`tests/bpf_conformance.rs`) and the `probesim bpf-conformance-plugin` command.
//!
//! A file is a sequence of sections opened by `-- NAME` lines (parsed as the suite's `bpf_test_parser.cc` does):
//! `asm` (the program), `raw` (the same as 64-bit words; preferred when present), `mem` (hex bytes of the input
//! buffer), `result` (expected `r0`), `error` (expected error text); `c` and `no register offset` are ignored, as is
//! everything before the first section.

use super::asm::assemble;
use super::error::{AsmError, BpfError, HelperError};
use super::insn::Insn;
use super::memory::{ExternalMemory, Memory, RegionKind};
use super::program::Program;
use super::vm::{run, Exit, Helpers};

/// The budget the suite's programs run with (all of them finish in a few hundred instructions).
pub const DEFAULT_BUDGET: u64 = 1_000_000;

/// One parsed `.data` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestCase {
    /// The `-- asm` section, comments included.
    pub asm: String,
    /// The `-- raw` section's words, if any.
    pub raw: Option<Vec<u64>>,
    /// The `-- mem` bytes (empty if none).
    pub mem: Vec<u8>,
    /// The expected `r0`.
    pub result: Option<u64>,
    /// The expected error text.
    pub error: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Ignore,
    Asm,
    Raw,
    Mem,
    Result,
    Error,
}

/// Parses a `.data` file.
pub fn parse(text: &str) -> Result<TestCase, String> {
    let mut case = TestCase::default();
    let mut section = Section::Ignore;
    let mut raw_words: Vec<u64> = Vec::new();
    let mut mem = String::new();
    let mut saw_raw = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("--") {
            section = match name.trim() {
                "asm" => Section::Asm,
                "raw" => {
                    saw_raw = true;
                    Section::Raw
                }
                "mem" => Section::Mem,
                "result" => Section::Result,
                "error" => Section::Error,
                "c" | "no register offset" | "" => Section::Ignore,
                other => return Err(format!("line {}: unknown section `-- {other}`", n + 1)),
            };
            continue;
        }
        let t = line.trim();
        match section {
            Section::Ignore => {}
            Section::Asm => {
                case.asm.push_str(line);
                case.asm.push('\n');
            }
            Section::Raw => {
                for w in t.split_whitespace() {
                    let v = match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
                        Some(h) => u64::from_str_radix(h, 16),
                        None => w.parse(),
                    };
                    raw_words.push(v.map_err(|_| format!("line {}: bad raw word `{w}`", n + 1))?);
                }
            }
            Section::Mem => {
                mem.push(' ');
                mem.push_str(t);
            }
            Section::Result if !t.is_empty() => {
                let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => t.parse(),
                };
                case.result = Some(v.map_err(|_| format!("line {}: bad result `{t}`", n + 1))?);
            }
            Section::Error if !t.is_empty() => case.error = Some(t.to_string()),
            Section::Result | Section::Error => {}
        }
    }
    case.mem = parse_hex_bytes(&mem)?;
    if saw_raw {
        case.raw = Some(raw_words);
    }
    if case.result.is_none() && case.error.is_none() {
        return Err("no `-- result` or `-- error` section".into());
    }
    Ok(case)
}

/// Parses hex bytes separated by whitespace (`"00 01 ff"`), or run together (`"0001ff"`).
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        let tok = tok.strip_prefix("0x").unwrap_or(tok);
        if !tok.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("bad hex byte `{tok}`"));
        }
        if tok.len() % 2 != 0 && tok.len() != 1 {
            return Err(format!("odd number of hex digits in `{tok}`"));
        }
        if tok.len() == 1 {
            out.push(u8::from_str_radix(tok, 16).map_err(|_| format!("bad hex byte `{tok}`"))?);
            continue;
        }
        for pair in tok.as_bytes().chunks(2) {
            let s = std::str::from_utf8(pair).map_err(|_| format!("bad hex in `{tok}`"))?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| format!("bad hex byte `{s}` in `{tok}`"))?);
        }
    }
    Ok(out)
}

/// Formats bytes as the suite's runner does for its plugin: two hex digits each, space separated.
#[must_use]
pub fn to_hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

impl TestCase {
    /// The program: the `-- raw` words if given, else the assembled `-- asm` section.
    pub fn program(&self) -> Result<Vec<Insn>, AsmError> {
        match &self.raw {
            Some(words) => Ok(words.iter().map(|w| Insn::from_u64(*w)).collect()),
            None => assemble(&self.asm),
        }
    }
}

/// The helpers the suite assumes: #5 is "unwind", which returns its first argument.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConformanceHelpers;

impl ExternalMemory for ConformanceHelpers {}

impl Helpers for ConformanceHelpers {
    fn call(&mut self, id: u32, args: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        match id {
            5 => Ok(args[0]),
            _ => Err(HelperError::Unknown),
        }
    }
}

/// Loads and runs `insns` as the suite's plugins do: the input buffer `mem` mapped writable, `r1` pointing at it
/// and `r2` holding its length.
pub fn run_case(insns: &[Insn], mem: &[u8], budget: u64) -> Result<Exit, BpfError> {
    run_loaded(&Program::load(insns)?, mem.to_vec(), budget)
}

/// Runs an already loaded (verified) program on `mem` (its own copy); what `run_case` does after loading.
pub fn run_loaded(prog: &Program, mem: Vec<u8>, budget: u64) -> Result<Exit, BpfError> {
    let len = mem.len() as u64;
    let mut memory = Memory::new();
    let base = memory.map_owned(RegionKind::Input, mem, true)?;
    run(prog, &mut memory, &mut ConformanceHelpers, &[base, len], budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections() {
        let text = "# header -- not a section\n-- c\nint x;\n-- asm\nmov %r0, %r2 # len\nexit\n-- mem\n00 01\n02\n\
                    -- no register offset\ncall instruction\n-- result\n0x3\n";
        let c = parse(text).unwrap();
        assert_eq!(c.asm, "mov %r0, %r2 # len\nexit\n");
        assert_eq!(c.mem, vec![0, 1, 2]);
        assert_eq!(c.result, Some(3));
        assert_eq!(run_case(&c.program().unwrap(), &c.mem, 100).unwrap().r0, 3);
        let c = parse("-- raw\n0x0000000000000095\n-- error\nbad program\n").unwrap();
        assert_eq!(c.program().unwrap(), vec![Insn::exit()]);
        assert_eq!(c.error.as_deref(), Some("bad program"));
        assert!(parse("-- asm\nexit\n").is_err());
        assert!(parse("-- frob\n").is_err());
    }

    #[test]
    fn hex_bytes() {
        assert_eq!(parse_hex_bytes("00  01 ff\n").unwrap(), vec![0, 1, 0xff]);
        assert_eq!(parse_hex_bytes("0001ff").unwrap(), vec![0, 1, 0xff]);
        assert_eq!(parse_hex_bytes("DD").unwrap(), vec![0xdd]);
        assert!(parse_hex_bytes("0g").is_err());
        assert!(parse_hex_bytes("001").is_err());
        assert_eq!(to_hex_bytes(&[0, 0xab]), "00 ab");
    }
}
