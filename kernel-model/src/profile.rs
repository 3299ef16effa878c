//! Kernel profiles: the Linux versions whose behaviour the model reproduces. Every behavioural difference is a
//! named method here, so a grep for the method finds every place the versions diverge.

use std::fmt;

/// A Linux version the model reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum KernelProfile {
    /// Linux 5.10 (the seed's RK3588 kernel).
    #[serde(rename = "5.10")]
    V5_10,
    /// Linux 6.12.
    #[serde(rename = "6.12")]
    V6_12,
}

impl KernelProfile {
    /// The version string.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KernelProfile::V5_10 => "5.10",
            KernelProfile::V6_12 => "6.12",
        }
    }
}

impl fmt::Display for KernelProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KernelProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "5.10" => Ok(KernelProfile::V5_10),
            "6.12" => Ok(KernelProfile::V6_12),
            _ => Err(format!("unknown kernel profile `{s}` (expected 5.10 or 6.12)")),
        }
    }
}
