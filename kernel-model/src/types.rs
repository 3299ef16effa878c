//! Newtypes for the identifiers and address spaces the model passes around.

use serde::Serialize;
use std::fmt;

/// A kernel virtual address, as the kernel (and the user) sees it.
///
/// Serialised as a hex string (`"0xffffffc010096100"`): as a JSON number `jq` would round it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KernelVa(pub u64);

impl Serialize for KernelVa {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#x}", self.0))
    }
}

impl KernelVa {
    /// The address `n` bytes further on (wrapping, as pointer arithmetic in the kernel).
    #[must_use]
    #[allow(clippy::should_implement_trait)] // Named like the kernel's pointer arithmetic, not `+`.
    pub fn add(self, n: u64) -> KernelVa {
        KernelVa(self.0.wrapping_add(n))
    }
}

impl fmt::Debug for KernelVa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

impl fmt::Display for KernelVa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The index of an emulated CPU (`smp_processor_id()`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct CpuId(pub usize);

impl fmt::Display for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Virtual time: instructions retired by all CPUs plus the fixed costs of model steps. The only clock in a run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct VTime(pub u64);

impl VTime {
    /// Nanoseconds on the kernel's clock: one virtual tick is one nanosecond (documented in ARCHITECTURE.md).
    #[must_use]
    pub fn as_ns(self) -> u64 {
        self.0
    }
}

/// The guest instruction-set architecture, chosen per scenario at run time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, serde::Deserialize)]
pub enum Isa {
    /// arm64 (AArch64), the seed's architecture.
    #[serde(rename = "aarch64", alias = "arm64")]
    Aarch64,
    /// x86_64.
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Isa {
    /// The name used in scenarios and output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Isa::Aarch64 => "aarch64",
            Isa::X86_64 => "x86_64",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
