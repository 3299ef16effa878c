//! AArch64 ELF relocations (ELF for the Arm 64-bit Architecture, "Relocation operations"), as the kernel's module
//! loader applies them (`arch/arm64/kernel/module.c`).

use super::super::fits_signed;
use crate::arch::RelocError;

const R_AARCH64_ABS64: u32 = 257;
const R_AARCH64_ABS32: u32 = 258;
const R_AARCH64_PREL64: u32 = 260;
const R_AARCH64_PREL32: u32 = 261;
const R_AARCH64_MOVW_UABS_G0: u32 = 263;
const R_AARCH64_MOVW_UABS_G0_NC: u32 = 264;
const R_AARCH64_MOVW_UABS_G1: u32 = 265;
const R_AARCH64_MOVW_UABS_G1_NC: u32 = 266;
const R_AARCH64_MOVW_UABS_G2: u32 = 267;
const R_AARCH64_MOVW_UABS_G2_NC: u32 = 268;
const R_AARCH64_MOVW_UABS_G3: u32 = 269;
const R_AARCH64_LD_PREL_LO19: u32 = 273;
const R_AARCH64_ADR_PREL_LO21: u32 = 274;
const R_AARCH64_ADR_PREL_PG_HI21: u32 = 275;
const R_AARCH64_ADR_PREL_PG_HI21_NC: u32 = 276;
const R_AARCH64_ADD_ABS_LO12_NC: u32 = 277;
const R_AARCH64_LDST8_ABS_LO12_NC: u32 = 278;
const R_AARCH64_TSTBR14: u32 = 279;
const R_AARCH64_CONDBR19: u32 = 280;
const R_AARCH64_JUMP26: u32 = 282;
const R_AARCH64_CALL26: u32 = 283;
const R_AARCH64_LDST16_ABS_LO12_NC: u32 = 284;
const R_AARCH64_LDST32_ABS_LO12_NC: u32 = 285;
const R_AARCH64_LDST64_ABS_LO12_NC: u32 = 286;
const R_AARCH64_LDST128_ABS_LO12_NC: u32 = 299;

/// The relocation's name.
pub fn name(rtype: u32) -> &'static str {
    match rtype {
        R_AARCH64_ABS64 => "R_AARCH64_ABS64",
        R_AARCH64_ABS32 => "R_AARCH64_ABS32",
        R_AARCH64_PREL64 => "R_AARCH64_PREL64",
        R_AARCH64_PREL32 => "R_AARCH64_PREL32",
        R_AARCH64_MOVW_UABS_G0 => "R_AARCH64_MOVW_UABS_G0",
        R_AARCH64_MOVW_UABS_G0_NC => "R_AARCH64_MOVW_UABS_G0_NC",
        R_AARCH64_MOVW_UABS_G1 => "R_AARCH64_MOVW_UABS_G1",
        R_AARCH64_MOVW_UABS_G1_NC => "R_AARCH64_MOVW_UABS_G1_NC",
        R_AARCH64_MOVW_UABS_G2 => "R_AARCH64_MOVW_UABS_G2",
        R_AARCH64_MOVW_UABS_G2_NC => "R_AARCH64_MOVW_UABS_G2_NC",
        R_AARCH64_MOVW_UABS_G3 => "R_AARCH64_MOVW_UABS_G3",
        R_AARCH64_LD_PREL_LO19 => "R_AARCH64_LD_PREL_LO19",
        R_AARCH64_ADR_PREL_LO21 => "R_AARCH64_ADR_PREL_LO21",
        R_AARCH64_ADR_PREL_PG_HI21 => "R_AARCH64_ADR_PREL_PG_HI21",
        R_AARCH64_ADR_PREL_PG_HI21_NC => "R_AARCH64_ADR_PREL_PG_HI21_NC",
        R_AARCH64_ADD_ABS_LO12_NC => "R_AARCH64_ADD_ABS_LO12_NC",
        R_AARCH64_LDST8_ABS_LO12_NC => "R_AARCH64_LDST8_ABS_LO12_NC",
        R_AARCH64_TSTBR14 => "R_AARCH64_TSTBR14",
        R_AARCH64_CONDBR19 => "R_AARCH64_CONDBR19",
        R_AARCH64_JUMP26 => "R_AARCH64_JUMP26",
        R_AARCH64_CALL26 => "R_AARCH64_CALL26",
        R_AARCH64_LDST16_ABS_LO12_NC => "R_AARCH64_LDST16_ABS_LO12_NC",
        R_AARCH64_LDST32_ABS_LO12_NC => "R_AARCH64_LDST32_ABS_LO12_NC",
        R_AARCH64_LDST64_ABS_LO12_NC => "R_AARCH64_LDST64_ABS_LO12_NC",
        R_AARCH64_LDST128_ABS_LO12_NC => "R_AARCH64_LDST128_ABS_LO12_NC",
        _ => "unknown",
    }
}

/// Width in bytes of the patched field.
pub fn width(rtype: u32) -> Option<usize> {
    match rtype {
        R_AARCH64_ABS64 | R_AARCH64_PREL64 => Some(8),
        _ if name(rtype) != "unknown" => Some(4),
        _ => None,
    }
}

fn insert(field: &mut [u8], mask: u32, value: u32) {
    let w = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
    field[..4].copy_from_slice(&((w & !mask) | (value & mask)).to_le_bytes());
}

/// Applies a relocation.
pub fn apply(rtype: u32, field: &mut [u8], s: u64, a: i64, p: u64) -> Result<(), RelocError> {
    let n = name(rtype);
    let sa = i128::from(s) + i128::from(a);
    let prel = sa - i128::from(p);
    let page = |x: i128| x & !0xfff;
    // Bit-field extraction below masks before narrowing, so the casts cannot lose set bits.
    match rtype {
        R_AARCH64_ABS64 => field.copy_from_slice(&(sa as u64).to_le_bytes()),
        R_AARCH64_PREL64 => field.copy_from_slice(&(prel as u64).to_le_bytes()),
        R_AARCH64_ABS32 => {
            if !(fits_signed(sa, 32) || (0..1i128 << 32).contains(&sa)) {
                return Err(RelocError::Overflow(n, sa));
            }
            field.copy_from_slice(&(sa as u32).to_le_bytes());
        }
        R_AARCH64_PREL32 => {
            if !(fits_signed(prel, 32) || (0..1i128 << 32).contains(&prel)) {
                return Err(RelocError::Overflow(n, prel));
            }
            field.copy_from_slice(&(prel as u32).to_le_bytes());
        }
        R_AARCH64_MOVW_UABS_G0 | R_AARCH64_MOVW_UABS_G0_NC | R_AARCH64_MOVW_UABS_G1 | R_AARCH64_MOVW_UABS_G1_NC
        | R_AARCH64_MOVW_UABS_G2 | R_AARCH64_MOVW_UABS_G2_NC | R_AARCH64_MOVW_UABS_G3 => {
            let shift = match rtype {
                R_AARCH64_MOVW_UABS_G0 | R_AARCH64_MOVW_UABS_G0_NC => 0,
                R_AARCH64_MOVW_UABS_G1 | R_AARCH64_MOVW_UABS_G1_NC => 16,
                R_AARCH64_MOVW_UABS_G2 | R_AARCH64_MOVW_UABS_G2_NC => 32,
                _ => 48,
            };
            let checked = matches!(rtype, R_AARCH64_MOVW_UABS_G0 | R_AARCH64_MOVW_UABS_G1 | R_AARCH64_MOVW_UABS_G2);
            if checked && (sa < 0 || sa >> (shift + 16) != 0) {
                return Err(RelocError::Overflow(n, sa));
            }
            insert(field, 0xffff << 5, (((sa as u64) >> shift) as u32 & 0xffff) << 5);
        }
        R_AARCH64_LD_PREL_LO19 | R_AARCH64_CONDBR19 => {
            if !fits_signed(prel, 21) || prel & 3 != 0 {
                return Err(RelocError::Overflow(n, prel));
            }
            insert(field, 0x7ffff << 5, ((prel >> 2) as u32 & 0x7ffff) << 5);
        }
        R_AARCH64_TSTBR14 => {
            if !fits_signed(prel, 16) || prel & 3 != 0 {
                return Err(RelocError::Overflow(n, prel));
            }
            insert(field, 0x3fff << 5, ((prel >> 2) as u32 & 0x3fff) << 5);
        }
        R_AARCH64_JUMP26 | R_AARCH64_CALL26 => {
            if !fits_signed(prel, 28) || prel & 3 != 0 {
                return Err(RelocError::Overflow(n, prel));
            }
            insert(field, 0x03ff_ffff, (prel >> 2) as u32 & 0x03ff_ffff);
        }
        R_AARCH64_ADR_PREL_LO21 | R_AARCH64_ADR_PREL_PG_HI21 | R_AARCH64_ADR_PREL_PG_HI21_NC => {
            let v = if rtype == R_AARCH64_ADR_PREL_LO21 { prel } else { (page(sa) - page(i128::from(p))) >> 12 };
            if rtype != R_AARCH64_ADR_PREL_PG_HI21_NC && !fits_signed(v, 21) {
                return Err(RelocError::Overflow(n, v));
            }
            let v = v as u32;
            insert(field, (3 << 29) | (0x7ffff << 5), ((v & 3) << 29) | (((v >> 2) & 0x7ffff) << 5));
        }
        R_AARCH64_ADD_ABS_LO12_NC | R_AARCH64_LDST8_ABS_LO12_NC | R_AARCH64_LDST16_ABS_LO12_NC
        | R_AARCH64_LDST32_ABS_LO12_NC | R_AARCH64_LDST64_ABS_LO12_NC | R_AARCH64_LDST128_ABS_LO12_NC => {
            let scale = match rtype {
                R_AARCH64_LDST16_ABS_LO12_NC => 1,
                R_AARCH64_LDST32_ABS_LO12_NC => 2,
                R_AARCH64_LDST64_ABS_LO12_NC => 3,
                R_AARCH64_LDST128_ABS_LO12_NC => 4,
                _ => 0,
            };
            let lo12 = (sa as u64 & 0xfff) as u32;
            insert(field, 0xfff << 10, (lo12 >> scale) << 10);
        }
        _ => return Err(RelocError::Unsupported(n)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(f: &[u8]) -> u32 {
        u32::from_le_bytes([f[0], f[1], f[2], f[3]])
    }

    #[test]
    fn call26_encodes_word_offset() {
        // bl . (0x94000000) relocated to a target 0x100 bytes ahead.
        let mut f = 0x9400_0000u32.to_le_bytes();
        apply(R_AARCH64_CALL26, &mut f, 0x1100, 0, 0x1000).unwrap();
        assert_eq!(word(&f), 0x9400_0040);
    }

    #[test]
    fn adrp_add_pair() {
        let (sym, place) = (0xffff_ffc0_1200_0123u64, 0xffff_ffc0_1000_0ff8u64);
        let mut adrp = 0x9000_0000u32.to_le_bytes(); // adrp x0, 0
        apply(R_AARCH64_ADR_PREL_PG_HI21, &mut adrp, sym, 0, place).unwrap();
        let pages = ((sym & !0xfff) - (place & !0xfff)) >> 12;
        let w = word(&adrp);
        let imm = (((w >> 5) & 0x7ffff) << 2) | ((w >> 29) & 3);
        assert_eq!(u64::from(imm), pages);
        let mut add = 0x9100_0000u32.to_le_bytes(); // add x0, x0, #0
        apply(R_AARCH64_ADD_ABS_LO12_NC, &mut add, sym, 0, place).unwrap();
        assert_eq!((word(&add) >> 10) & 0xfff, 0x123);
    }

    #[test]
    fn branch_out_of_range_is_an_error() {
        let mut f = 0x1400_0000u32.to_le_bytes();
        assert!(matches!(apply(R_AARCH64_JUMP26, &mut f, 0x1000_0000, 0, 0), Err(RelocError::Overflow(..))));
        assert!(matches!(apply(9999, &mut f, 0, 0, 0), Err(RelocError::Unsupported(_))));
    }
}
