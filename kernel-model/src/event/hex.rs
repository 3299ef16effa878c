//! Hex renderings: instruction bytes in the ISA's style and the JSON serialisers for 64-bit values.

use serde::{Serialize, Serializer};
use std::fmt;

/// Bytes shown as hex: arm64 instruction words as numbers (`d4200080`), x86 code as bytes (`0f 1f 44 00 00`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Hex(pub Vec<u8>, pub HexStyle);

/// How [`Hex`] groups its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HexStyle {
    /// Little-endian 32-bit words when the length allows (arm64 instructions).
    #[default]
    Words,
    /// Bytes in memory order (x86 code).
    Bytes,
}

impl Hex {
    /// Renders 4-byte groups as little-endian words in `Words` style, otherwise a byte string.
    #[must_use]
    pub fn render(&self) -> String {
        if self.1 == HexStyle::Words && !self.0.is_empty() && self.0.len().is_multiple_of(4) {
            let words: Vec<String> = self
                .0
                .chunks(4)
                .map(|c| format!("{:08x}", u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            words.join(" ")
        } else {
            self.0.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
        }
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.render())
    }
}

/// Serialises a 64-bit value as a hex string (`"0xffffffc010096100"`): JSON numbers lose precision past 2^53.
pub(crate) fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

pub(crate) fn hex_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => hex(v, s),
        None => s.serialize_none(),
    }
}

pub(crate) fn hex_vec<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| format!("{x:#x}")))
}

pub(crate) fn hex_regs<S: Serializer>(v: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(n, x)| (n, format!("{x:#x}"))))
}
