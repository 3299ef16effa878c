//! Why a CPU stopped running guest code (`Outcome::Trap`'s detail).

use super::hex_opt;
use serde::Serialize;
use std::fmt;

/// Why a CPU stopped running guest code: a value the scheduler matches on, never an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "trap", rename_all = "snake_case")]
pub enum Trap {
    /// arm64 `BRK #imm` (ESR EC 0x3c, ISS = imm16) at `pc`.
    Brk {
        /// The immediate, decoded from the instruction at pc (Unicorn does not fill ESR).
        imm: u16,
    },
    /// x86 `int3` (#BP); the saved ip is the byte after it.
    Int3,
    /// x86 #DB after a TF single-step.
    Debug,
    /// An undefined instruction (arm64 UNDEF / x86 #UD).
    Undefined,
    /// A memory fault (arm64 data/instruction abort, x86 #PF/#GP).
    MemFault {
        /// Faulting data address, if known.
        #[serde(serialize_with = "hex_opt")]
        addr: Option<u64>,
        /// What happened, in words.
        what: String,
    },
    /// Any other exception the model does not handle.
    Other {
        /// The emulator's exception number.
        intno: u32,
    },
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trap::Brk { imm } => write!(f, "brk #{imm:#x}"),
            Trap::Int3 => f.write_str("int3"),
            Trap::Debug => f.write_str("#DB"),
            Trap::Undefined => f.write_str("undefined instruction"),
            Trap::MemFault { addr: Some(a), what } => write!(f, "{what} at {a:#x}"),
            Trap::MemFault { addr: None, what } => f.write_str(what),
            Trap::Other { intno } => write!(f, "exception {intno}"),
        }
    }
}
