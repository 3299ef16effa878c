//! The minimum of ELF needed to take a program out of an object file (the conformance plugin's `--elf` mode): an
//! ELF64 little-endian object whose first executable `SHT_PROGBITS` section is the program. Relocations against it
//! (map references, as libbpf's `bpf_object__relocate` would resolve) are refused rather than ignored.

use super::error::BpfError;
use super::insn::{decode_bytes, Insn};

const SHT_PROGBITS: u32 = 1;
const SHT_RELA: u32 = 4;
const SHT_REL: u32 = 9;
const SHF_EXECINSTR: u64 = 4;
/// `EM_BPF`.
const EM_BPF: u16 = 247;

fn bad(reason: impl Into<String>) -> BpfError {
    BpfError::InvalidElf { reason: reason.into() }
}

fn get<const N: usize>(b: &[u8], at: u64) -> Result<[u8; N], BpfError> {
    let at = usize::try_from(at).map_err(|_| bad("offset out of range"))?;
    let end = at.checked_add(N).ok_or_else(|| bad("offset out of range"))?;
    let s = b.get(at..end).ok_or_else(|| bad("truncated file"))?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

fn u16_at(b: &[u8], at: u64) -> Result<u16, BpfError> {
    Ok(u16::from_le_bytes(get(b, at)?))
}

fn u32_at(b: &[u8], at: u64) -> Result<u32, BpfError> {
    Ok(u32::from_le_bytes(get(b, at)?))
}

fn u64_at(b: &[u8], at: u64) -> Result<u64, BpfError> {
    Ok(u64::from_le_bytes(get(b, at)?))
}

/// Whether `bytes` starts with the ELF magic.
#[must_use]
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// The instructions of the first executable section of an ELF64 little-endian object.
pub fn program_from_elf(bytes: &[u8]) -> Result<Vec<Insn>, BpfError> {
    if !is_elf(bytes) {
        return Err(bad("no ELF magic"));
    }
    if get::<2>(bytes, 4)? != [2, 1] {
        return Err(bad("not a 64-bit little-endian object"));
    }
    let machine = u16_at(bytes, 18)?;
    if machine != EM_BPF && machine != 0 {
        return Err(bad(format!("e_machine {machine} is not EM_BPF")));
    }
    let shoff = u64_at(bytes, 0x28)?;
    let shentsize = u64::from(u16_at(bytes, 0x3a)?);
    let shnum = u64::from(u16_at(bytes, 0x3c)?);
    if shentsize < 64 {
        return Err(bad("section header entries are too small"));
    }
    let header = |i: u64| shoff.checked_add(i * shentsize).ok_or_else(|| bad("section header out of range"));
    let mut text: Option<(u64, u64, u64)> = None;
    for i in 0..shnum {
        let h = header(i)?;
        let ty = u32_at(bytes, h.saturating_add(4))?;
        let flags = u64_at(bytes, h.saturating_add(8))?;
        let size = u64_at(bytes, h.saturating_add(32))?;
        if ty == SHT_PROGBITS && flags & SHF_EXECINSTR != 0 && size > 0 {
            text = Some((i, u64_at(bytes, h.saturating_add(24))?, size));
            break;
        }
    }
    let (index, offset, size) = text.ok_or_else(|| bad("no executable section"))?;
    for i in 0..shnum {
        let h = header(i)?;
        let ty = u32_at(bytes, h.saturating_add(4))?;
        if (ty == SHT_REL || ty == SHT_RELA)
            && u64::from(u32_at(bytes, h.saturating_add(44))?) == index
            && u64_at(bytes, h.saturating_add(32))? > 0
        {
            return Err(bad("the program has relocations (maps are not supported in --elf mode)"));
        }
    }
    let start = usize::try_from(offset).map_err(|_| bad("section out of range"))?;
    let len = usize::try_from(size).map_err(|_| bad("section out of range"))?;
    let code = start.checked_add(len).and_then(|end| bytes.get(start..end)).ok_or_else(|| bad("truncated section"))?;
    decode_bytes(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::encode_bytes;

    /// A minimal ELF64 object: null section, `.text` with `code`, optionally a `.rel.text` against it.
    fn object(code: &[u8], with_rel: bool) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&1u16.to_le_bytes());
        b[18..20].copy_from_slice(&EM_BPF.to_le_bytes());
        let text_off = b.len() as u64;
        b.extend_from_slice(code);
        let shoff = b.len() as u64;
        let nsec: u16 = if with_rel { 3 } else { 2 };
        b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&nsec.to_le_bytes());
        b.extend_from_slice(&[0u8; 64]);
        let mut sh = [0u8; 64];
        sh[4..8].copy_from_slice(&SHT_PROGBITS.to_le_bytes());
        sh[8..16].copy_from_slice(&(SHF_EXECINSTR | 2).to_le_bytes());
        sh[24..32].copy_from_slice(&text_off.to_le_bytes());
        sh[32..40].copy_from_slice(&(code.len() as u64).to_le_bytes());
        b.extend_from_slice(&sh);
        if with_rel {
            let mut rel = [0u8; 64];
            rel[4..8].copy_from_slice(&SHT_REL.to_le_bytes());
            rel[32..40].copy_from_slice(&16u64.to_le_bytes());
            rel[44..48].copy_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&rel);
        }
        b
    }

    #[test]
    fn extracts_the_text_section() {
        let insns = vec![Insn::mov64_imm(0, 7), Insn::exit()];
        assert_eq!(program_from_elf(&object(&encode_bytes(&insns), false)).unwrap(), insns);
        assert!(matches!(program_from_elf(&object(&encode_bytes(&insns), true)), Err(BpfError::InvalidElf { .. })));
        assert!(program_from_elf(b"\x7fELF").is_err());
        assert!(program_from_elf(&[0u8; 100]).is_err());
        let mut truncated = object(&encode_bytes(&insns), false);
        truncated.truncate(80);
        assert!(program_from_elf(&truncated).is_err());
    }
}
