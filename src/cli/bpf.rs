//! `probesim bpf …` and `probesim bpf-conformance-plugin`.
//!
//! Program text formats:
//! - *assembly*: the bpf_conformance syntax ([`kernel_model::bpf::asm`]); `bpf asm` also takes a suite `.data`
//!   file and uses its `-- raw` words, or else its `-- asm` section;
//! - *base16*: the instructions' bytes as two-digit hex numbers separated by whitespace, what the suite's runner
//!   writes to a plugin's standard input; `bpf asm` prints one 8-byte instruction per line;
//! - *binary*: the raw little-endian image (a multiple of 8 bytes), or an ELF object (first executable section).

use kernel_model::bpf::conformance::{parse, parse_hex_bytes, run_case, DEFAULT_BUDGET};
use kernel_model::bpf::elf::{is_elf, program_from_elf};
use kernel_model::bpf::insn::{decode_bytes, Insn, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};
use kernel_model::bpf::{AttachPoint, BpfObject, BpfRuntime, MapDef, MapType};
use kernel_model::profile::KernelProfile;
use kernel_model::Isa;
use kernel_model::bpf::{assemble, disassemble};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `probesim bpf …`.
#[derive(clap::Subcommand, Debug)]
pub enum BpfCommand {
    /// Assemble FILE (bpf_conformance syntax, or a suite `.data` file) and print base16 text, one instruction
    /// per line, as the bpf-conformance plugin reads it. FILE `-` is standard input.
    Asm {
        /// The source file.
        file: PathBuf,
    },
    /// Disassemble FILE: base16 text (as `bpf asm` prints it), a raw binary image (multiple of 8 bytes) or an ELF
    /// object (its first executable section). FILE `-` is standard input.
    Disasm {
        /// The program file.
        file: PathBuf,
    },
    /// Verify FILE as `BPF_PROG_LOAD` would (kernel/bpf/verifier.c): an ELF object (every program, with its
    /// maps and license) or an assembly source (a GPL kprobe program). Prints the verifier log and exits 1 if the
    /// kernel would refuse a program.
    Verify {
        /// The object or source file.
        file: PathBuf,
        /// `log_level`: 1 prints each instruction and the state at branches, 2 also the state before each one.
        #[arg(long, default_value_t = 1)]
        log_level: u32,
        /// The kernel profile.
        #[arg(long, default_value = "6.12")]
        kernel: KernelProfile,
        /// The ISA (its `struct pt_regs` is a kprobe program's ctx): aarch64 or x86_64.
        #[arg(long, default_value = "aarch64")]
        isa: String,
    },
}

/// `probesim bpf verify`: the log of each program, and whether all were accepted.
fn verify(file: &Path, log_level: u32, kernel: KernelProfile, isa: &str) -> Result<(String, bool), String> {
    let isa = match isa {
        "aarch64" | "arm64" => Isa::Aarch64,
        "x86_64" | "x86" => Isa::X86_64,
        o => return Err(format!("unknown ISA `{o}` (expected aarch64 or x86_64)")),
    };
    let bytes = read_input(file)?;
    let mut rt = BpfRuntime::new(kernel, isa, 2);
    let mut progs = Vec::new();
    if is_elf(&bytes) {
        let obj = BpfObject::parse(file, &bytes).map_err(|e| e.to_string())?;
        let mut ids = Vec::new();
        for m in &obj.maps {
            ids.push(rt.create_map(m.def.clone()).map_err(|e| e.to_string())?);
        }
        for p in &obj.programs {
            // libbpf writes the map fds into the instructions: here, the runtime's map ids.
            let mut insns = p.insns.clone();
            let mut pc = 0;
            while pc < insns.len() {
                if insns[pc].is_lddw() && matches!(insns[pc].src_reg, BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE) {
                    if let Some(id) = ids.get(insns[pc].imm as usize) {
                        insns[pc].imm = *id as i32;
                    }
                    pc += 1;
                }
                pc += 1;
            }
            progs.push((p.name.clone(), p.attach.clone(), insns, obj.gpl_compatible()));
        }
    } else {
        let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", file.display()))?;
        let insns = assemble_source(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        // `# map: TYPE KEY VALUE ENTRIES` lines (as in kernel-model/tests/verifier/) create maps 1, 2, …
        for (n, line) in text.lines().filter_map(|l| l.strip_prefix("# map:")).enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let map_type = match f.first().copied() {
                Some("hash") => MapType::Hash,
                Some("array") => MapType::Array,
                Some("percpu_array") => MapType::PercpuArray,
                Some("perf_event_array") => MapType::PerfEventArray,
                Some("ringbuf") => MapType::Ringbuf,
                _ => return Err(format!("{}: `# map:{line}`: unknown map type", file.display())),
            };
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok());
            let (Some(k), Some(v), Some(e)) = (num(1), num(2), num(3)) else {
                return Err(format!("{}: `# map:{line}`: expected TYPE KEY VALUE ENTRIES", file.display()));
            };
            rt.create_map(MapDef::new(&format!("map{}", n + 1), map_type, k, v, e, 0)).map_err(|e| e.to_string())?;
        }
        progs.push(("asm".to_string(), AttachPoint::Kprobe { symbol: None }, insns, true));
    }
    let mut out = String::new();
    let mut ok = true;
    let many = progs.len() > 1;
    for (name, attach, insns, gpl) in &progs {
        let v = rt.verify(insns, attach, *gpl, log_level);
        if many {
            out.push_str(&format!("-- program {name} ({})\n", attach.prog_type().1));
        }
        out.push_str(&v.log);
        ok &= v.result.is_ok();
    }
    Ok((out, ok))
}

/// Arguments of `probesim bpf-conformance-plugin`, the plugin protocol of the bpf_conformance suite's runner:
/// the program as base16 text on standard input, the input memory as base16 text in the first argument; prints the
/// final `r0` in hex and exits 0, or prints the error on standard error and exits non-zero.
#[derive(clap::Args, Debug)]
pub struct PluginArgs {
    /// The input memory as base16 text (`"00 01 02"`); `r1` points at it, `r2` holds its length.
    pub memory_hex: Option<String>,
    /// Standard input is an ELF object (raw, or base16 text of its bytes) instead of base16 instructions.
    #[arg(long)]
    pub elf: bool,
    /// Further runner arguments: the runner passes its (often empty) plugin options string; empty ones are ignored.
    #[arg(hide = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

fn read_input(file: &Path) -> Result<Vec<u8>, String> {
    if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("standard input: {e}"))?;
        Ok(buf)
    } else {
        std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))
    }
}

/// Whether `bytes` looks like base16 text: hex digits, `0x` prefixes and whitespace only.
fn is_base16(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    !text.trim().is_empty()
        && text.split_whitespace().all(|t| {
            let t = t.strip_prefix("0x").unwrap_or(t);
            !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// The instructions in `bytes`: ELF, base16 text or a raw image.
fn program_from_bytes(bytes: &[u8]) -> Result<Vec<Insn>, String> {
    if is_elf(bytes) {
        return program_from_elf(bytes).map_err(|e| e.to_string());
    }
    let image = if is_base16(bytes) {
        parse_hex_bytes(std::str::from_utf8(bytes).unwrap_or_default())?
    } else {
        bytes.to_vec()
    };
    decode_bytes(&image).map_err(|e| e.to_string())
}

/// The instructions of an assembly source or a `.data` file.
fn assemble_source(text: &str) -> Result<Vec<Insn>, String> {
    if text.lines().any(|l| l.trim_end() == "-- asm" || l.trim_end() == "-- raw") {
        let case = parse(text)?;
        return case.program().map_err(|e| e.to_string());
    }
    assemble(text).map_err(|e| e.to_string())
}

fn base16_lines(insns: &[Insn]) -> String {
    let mut out = String::new();
    for i in insns {
        let b = i.to_bytes();
        out.push_str(&b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" "));
        out.push('\n');
    }
    out
}

/// `probesim bpf asm|disasm|verify`.
pub fn run_bpf(cmd: &BpfCommand) -> ExitCode {
    let result = match cmd {
        BpfCommand::Asm { file } => read_input(file)
            .and_then(|b| String::from_utf8(b).map_err(|_| format!("{}: not UTF-8 text", file.display())))
            .and_then(|text| assemble_source(&text).map_err(|e| format!("{}: {e}", file.display())))
            .map(|insns| base16_lines(&insns)),
        BpfCommand::Disasm { file } => read_input(file)
            .and_then(|b| program_from_bytes(&b).map_err(|e| format!("{}: {e}", file.display())))
            .map(|insns| disassemble(&insns)),
        BpfCommand::Verify { file, log_level, kernel, isa } => {
            return match verify(file, *log_level, *kernel, isa) {
                Ok((log, ok)) => {
                    print!("{log}");
                    if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => super::fail(e),
            };
        }
    };
    match result {
        Ok(text) => {
            out!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

/// The plugin's work: the final `r0`, or the error text.
fn plugin(args: &PluginArgs, stdin: &[u8]) -> Result<u64, String> {
    if let Some(extra) = args.rest.iter().find(|a| !a.trim().is_empty()) {
        return Err(format!("unexpected argument `{extra}`"));
    }
    let memory = parse_hex_bytes(args.memory_hex.as_deref().unwrap_or(""))?;
    let insns = if args.elf {
        let image = if is_elf(stdin) {
            stdin.to_vec()
        } else {
            parse_hex_bytes(std::str::from_utf8(stdin).map_err(|_| "standard input is neither ELF nor base16 text")?)?
        };
        program_from_elf(&image).map_err(|e| e.to_string())?
    } else {
        let text = std::str::from_utf8(stdin).map_err(|_| "standard input is not base16 text")?;
        decode_bytes(&parse_hex_bytes(text)?).map_err(|e| e.to_string())?
    };
    run_case(&insns, &memory, DEFAULT_BUDGET).map(|exit| exit.r0).map_err(|e| e.to_string())
}

/// `probesim bpf-conformance-plugin [MEMORY-HEX] [--elf]`.
pub fn run_plugin(args: &PluginArgs) -> ExitCode {
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        return super::fail(format!("standard input: {e}"));
    }
    match plugin(args, &stdin) {
        Ok(r0) => {
            let mut out = std::io::stdout();
            if writeln!(out, "{r0:x}").and_then(|()| out.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(mem: &str) -> PluginArgs {
        PluginArgs { memory_hex: Some(mem.into()), elf: false, rest: vec![String::new()] }
    }

    #[test]
    fn plugin_runs_base16_programs() {
        // mov %r0, %r2 ; exit — r2 is the memory length.
        let prog = base16_lines(&assemble("mov %r0, %r2\nexit").unwrap());
        assert_eq!(plugin(&args("00 01 02"), prog.as_bytes()), Ok(3));
        // The runner's own spacing: two spaces after each byte.
        let spaced = "bf  20  00  00  00  00  00  00  95  00  00  00  00  00  00  00  \n";
        assert_eq!(plugin(&args(""), spaced.as_bytes()), Ok(0));
        assert!(plugin(&args(""), b"zz").is_err());
        let bad = base16_lines(&assemble("ldxb %r0, [%r1+5]\nexit").unwrap());
        assert!(plugin(&args("00"), bad.as_bytes()).unwrap_err().contains("out-of-bounds"));
    }

    #[test]
    fn disasm_accepts_text_and_binary() {
        let insns = assemble("mov %r0, 1\nexit").unwrap();
        let text = base16_lines(&insns);
        assert_eq!(program_from_bytes(text.as_bytes()), Ok(insns.clone()));
        let raw: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
        assert_eq!(program_from_bytes(&raw), Ok(insns));
    }

    #[test]
    fn verify_prints_the_log_and_the_verdict() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel-model/tests/verifier");
        let (log, ok) = verify(&dir.join("refuse_r0_never_set.s"), 1, KernelProfile::V6_12, "aarch64").unwrap();
        assert!(!ok);
        assert_eq!(
            log,
            "0: (95) exit\nR0 !read_ok\n\
             processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
        );
        let (log, ok) = verify(&dir.join("refuse_scalar_deref.s"), 0, KernelProfile::V5_10, "x86_64").unwrap();
        assert!(!ok && log.starts_with("R2 invalid mem access 'inv'\n"), "{log}");
        let (_, ok) = verify(&dir.join("accept_map_lookup_null_checked.s"), 2, KernelProfile::V6_12, "aarch64").unwrap();
        assert!(ok, "the `# map:` header creates the map");
        let obj = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bpf-hello/hello.bpf.o");
        let (log, ok) = verify(&obj, 1, KernelProfile::V5_10, "aarch64").unwrap();
        assert!(ok && log.contains("call bpf_trace_printk#6"), "{log}");
        assert!(verify(&obj, 1, KernelProfile::V5_10, "mips").is_err());
    }
}
