//! x86_64 ELF relocations (System V AMD64 psABI), as `arch/x86/kernel/module.c` applies them.

use super::super::fits_signed;
use crate::arch::RelocError;

const R_X86_64_64: u32 = 1;
const R_X86_64_PC32: u32 = 2;
const R_X86_64_PLT32: u32 = 4;
const R_X86_64_32: u32 = 10;
const R_X86_64_32S: u32 = 11;
const R_X86_64_PC64: u32 = 24;

/// The relocation's name.
pub fn name(rtype: u32) -> &'static str {
    match rtype {
        R_X86_64_64 => "R_X86_64_64",
        R_X86_64_PC32 => "R_X86_64_PC32",
        R_X86_64_PLT32 => "R_X86_64_PLT32",
        R_X86_64_32 => "R_X86_64_32",
        R_X86_64_32S => "R_X86_64_32S",
        R_X86_64_PC64 => "R_X86_64_PC64",
        _ => "unknown",
    }
}

/// Width in bytes of the patched field.
pub fn width(rtype: u32) -> Option<usize> {
    match rtype {
        R_X86_64_64 | R_X86_64_PC64 => Some(8),
        R_X86_64_PC32 | R_X86_64_PLT32 | R_X86_64_32 | R_X86_64_32S => Some(4),
        _ => None,
    }
}

/// Applies a relocation.
pub fn apply(rtype: u32, field: &mut [u8], s: u64, a: i64, p: u64) -> Result<(), RelocError> {
    let n = name(rtype);
    let sa = i128::from(s) + i128::from(a);
    let prel = sa - i128::from(p);
    // Kernel VAs are "negative" 64-bit values: view S+A as a signed 64-bit address for the 32S check.
    let sa_signed = i128::from(sa as u64 as i64);
    match rtype {
        R_X86_64_64 => field.copy_from_slice(&(sa as u64).to_le_bytes()),
        R_X86_64_PC64 => field.copy_from_slice(&(prel as u64).to_le_bytes()),
        R_X86_64_PC32 | R_X86_64_PLT32 => {
            let v = i128::from(prel as u64 as i64);
            if !fits_signed(v, 32) {
                return Err(RelocError::Overflow(n, v));
            }
            field.copy_from_slice(&(v as i32).to_le_bytes());
        }
        R_X86_64_32S => {
            if !fits_signed(sa_signed, 32) {
                return Err(RelocError::Overflow(n, sa_signed));
            }
            field.copy_from_slice(&(sa_signed as i32).to_le_bytes());
        }
        R_X86_64_32 => {
            if !(0..1i128 << 32).contains(&sa) {
                return Err(RelocError::Overflow(n, sa));
            }
            field.copy_from_slice(&(sa as u32).to_le_bytes());
        }
        _ => return Err(RelocError::Unsupported(n)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_addresses_fit_32s_but_not_32() {
        let mut f = [0u8; 4];
        apply(R_X86_64_32S, &mut f, 0xffff_ffff_8200_0010, 0, 0).unwrap();
        assert_eq!(u32::from_le_bytes(f), 0x8200_0010);
        assert!(matches!(apply(R_X86_64_32, &mut f, 0xffff_ffff_8200_0010, 0, 0), Err(RelocError::Overflow(..))));
    }

    #[test]
    fn pc32_is_relative() {
        let mut f = [0u8; 4];
        apply(R_X86_64_PLT32, &mut f, 0xffff_ffff_8100_0100, -4, 0xffff_ffff_8100_0010).unwrap();
        assert_eq!(i32::from_le_bytes(f), 0xec);
    }
}
