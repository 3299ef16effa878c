//! Errors of the eBPF VM, its loader and its assembler. Every error about an instruction names its index (`pc`,
//! counted in 8-byte slots from 0, as the verifier's log does).

/// Why a program was refused at load time or stopped at run time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BpfError {
    /// The byte image is not a whole number of 8-byte instructions.
    #[error("program of {len} bytes is not a multiple of 8")]
    TruncatedProgram {
        /// Its length in bytes.
        len: usize,
    },
    /// No instructions at all.
    #[error("empty program")]
    EmptyProgram,
    /// More slots than `BPF_COMPLEXITY_LIMIT_INSNS`.
    #[error("program of {len} instructions is too large")]
    ProgramTooLarge {
        /// Its length in slots.
        len: usize,
    },
    /// An opcode the ISA does not define (`bpf_check`'s "unknown opcode").
    #[error("unknown opcode {code:#04x} at instruction {pc}")]
    InvalidOpcode {
        /// Instruction index.
        pc: usize,
        /// The opcode byte.
        code: u8,
    },
    /// A defined opcode with fields the ISA reserves or forbids.
    #[error("invalid instruction at {pc}: {reason}")]
    InvalidInstruction {
        /// Instruction index.
        pc: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A register number above r10, or a write to the read-only r10.
    #[error("invalid register r{reg} at instruction {pc}")]
    InvalidRegister {
        /// Instruction index.
        pc: usize,
        /// The register number.
        reg: u8,
    },
    /// A jump or bpf-to-bpf call whose target is outside the program or inside an `lddw`.
    #[error("jump out of range from instruction {pc} to {target}")]
    JumpOutOfRange {
        /// Instruction index.
        pc: usize,
        /// The target slot.
        target: i64,
    },
    /// An `lddw` without its second slot, or with a malformed one.
    #[error("incomplete lddw at instruction {pc}")]
    IncompleteLddw {
        /// Instruction index.
        pc: usize,
    },
    /// An `lddw` with a pseudo source (map fd, map value, BTF id, …) the loader could not resolve.
    #[error("cannot resolve lddw pseudo source {src} (imm {imm}) at instruction {pc}: {reason}")]
    UnresolvedPseudo {
        /// Instruction index.
        pc: usize,
        /// `src_reg` (`BPF_PSEUDO_*`).
        src: u8,
        /// The first slot's `imm`.
        imm: i32,
        /// Why.
        reason: String,
    },
    /// An ELF object the loader cannot take the program from.
    #[error("invalid ELF object: {reason}")]
    InvalidElf {
        /// Why.
        reason: String,
    },
    /// A load or store outside every region the program may access (or a store to a read-only one).
    #[error("out-of-bounds {} of {size} bytes at {addr:#x} (instruction {pc})", if *write { "write" } else { "read" })]
    OutOfBounds {
        /// Instruction index.
        pc: usize,
        /// Virtual address accessed.
        #[serde(serialize_with = "hex")]
        addr: u64,
        /// Access size in bytes.
        size: u64,
        /// Whether it was a store.
        write: bool,
    },
    /// The instruction budget ran out before the program exited.
    #[error("instruction budget of {budget} exhausted at instruction {pc}")]
    BudgetExhausted {
        /// Index of the instruction that was not executed.
        pc: usize,
        /// The budget.
        budget: u64,
    },
    /// A call to a helper the environment does not provide.
    #[error("unknown helper {id} called at instruction {pc}")]
    UnknownHelper {
        /// Instruction index.
        pc: usize,
        /// Helper id (`imm`, or the register value for `callx`).
        id: u64,
    },
    /// A kfunc call (`BPF_PSEUDO_KFUNC_CALL`) the environment does not provide.
    #[error("unknown kfunc (BTF id {btf_id}) called at instruction {pc}")]
    UnknownKfunc {
        /// Instruction index.
        pc: usize,
        /// The kfunc's BTF id.
        btf_id: u32,
    },
    /// A helper refused to continue.
    #[error("helper {id} failed at instruction {pc}: {message}")]
    HelperFailed {
        /// Instruction index.
        pc: usize,
        /// Helper id.
        id: u64,
        /// The helper's message.
        message: String,
    },
    /// A bpf-to-bpf call beyond `MAX_CALL_FRAMES` frames.
    #[error("call stack of more than {max} frames at instruction {pc}")]
    CallDepthExceeded {
        /// Instruction index of the call.
        pc: usize,
        /// `MAX_CALL_FRAMES`.
        max: usize,
    },
    /// Execution ran past the last instruction.
    #[error("execution fell off the end of the program at instruction {pc}")]
    FellOffEnd {
        /// The slot index past the end.
        pc: usize,
    },
    /// A run was asked for a program id nothing was loaded under.
    #[error("no program with id {id}")]
    NoSuchProgram {
        /// The id.
        id: u32,
    },
    /// The verifier (`bpf_check`, [`super::verifier`]) refused the program: the kernel's message, as the last
    /// line of its log before the statistics.
    #[error("{message} (insn {pc})")]
    VerifierRejected {
        /// Instruction index the message is about.
        pc: usize,
        /// The kernel's message.
        message: String,
    },
    /// A region could not be mapped where asked (overlap, null page, or address-space wrap).
    #[error("cannot map a region of {len} bytes at {base:#x}: {reason}")]
    BadRegion {
        /// Requested base.
        #[serde(serialize_with = "hex")]
        base: u64,
        /// Requested length.
        len: u64,
        /// Why.
        reason: &'static str,
    },
}

/// A failed memory access outside the interpreter loop (by a helper), before an instruction index is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad {} of {size} bytes at {addr:#x}", if *write { "write" } else { "read" })]
pub struct AccessError {
    /// Virtual address accessed.
    pub addr: u64,
    /// Access size in bytes.
    pub size: u64,
    /// Whether it was a store.
    pub write: bool,
}

impl AccessError {
    /// The same failure, as the error of the instruction at `pc`.
    #[must_use]
    pub fn at(self, pc: usize) -> BpfError {
        BpfError::OutOfBounds { pc, addr: self.addr, size: self.size, write: self.write }
    }
}

/// Why a helper call did not return a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    /// The environment has no helper of that id: the VM reports [`BpfError::UnknownHelper`].
    #[error("unknown helper")]
    Unknown,
    /// The helper made a bad access to VM memory it was not allowed to recover from.
    #[error(transparent)]
    Fault(#[from] AccessError),
    /// Any other failure that must stop the program.
    #[error("{0}")]
    Failed(String),
}

/// An assembler error: the 1-based source line, its text and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}: `{text}`")]
pub struct AsmError {
    /// 1-based line number in the source.
    pub line: usize,
    /// The offending line, trimmed.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// Serialises an address or value as `0x…` (as the event log does).
fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}
