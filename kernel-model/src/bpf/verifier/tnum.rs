//! Tristate numbers (`kernel/bpf/tnum.c`): a 64-bit value whose bits are each known 0, known 1 or unknown.
//! `value` holds the known-1 bits, `mask` the unknown ones; `value & mask == 0`. Every function is the kernel's,
//! operation for operation.

/// `struct tnum` (include/linux/tnum.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tnum {
    /// Known-1 bits.
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

/// `tnum_unknown`.
pub const UNKNOWN: Tnum = Tnum {
    value: 0,
    mask: u64::MAX,
};

#[allow(clippy::should_implement_trait)] // the kernel's names (tnum_add, …), by value
impl Tnum {
    /// `TNUM(v, m)`.
    #[must_use]
    pub const fn new(value: u64, mask: u64) -> Tnum {
        Tnum { value, mask }
    }

    /// `tnum_const`.
    #[must_use]
    pub const fn constant(value: u64) -> Tnum {
        Tnum { value, mask: 0 }
    }

    /// `tnum_range`: the tnum covering `[min, max]`.
    #[must_use]
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        // special case, needed because 1ULL << 64 is undefined
        if bits > 63 {
            return UNKNOWN;
        }
        // e.g. if chi = 4, bits = 3, delta = (1<<3) - 1 = 7.
        let delta = (1u64 << bits) - 1;
        Tnum::new(min & !delta, delta)
    }

    /// `tnum_lshift`.
    #[must_use]
    pub fn lshift(self, shift: u8) -> Tnum {
        Tnum::new(
            self.value.wrapping_shl(u32::from(shift)),
            self.mask.wrapping_shl(u32::from(shift)),
        )
    }

    /// `tnum_rshift`.
    #[must_use]
    pub fn rshift(self, shift: u8) -> Tnum {
        Tnum::new(
            self.value.wrapping_shr(u32::from(shift)),
            self.mask.wrapping_shr(u32::from(shift)),
        )
    }

    /// `tnum_arshift`: `insn_bitness` 32 or 64.
    #[must_use]
    pub fn arshift(self, min_shift: u8, insn_bitness: u8) -> Tnum {
        // if a.value is negative, arithmetic shifting by minimum shift will have larger negative offset compared
        // to more shifting. If a.value is nonnegative, arithmetic shifting by minimum shift will have larger
        // positive offset compare to more shifting.
        let s = u32::from(min_shift);
        if insn_bitness == 32 {
            Tnum::new(
                u64::from(((self.value as u32) as i32).wrapping_shr(s) as u32),
                u64::from(((self.mask as u32) as i32).wrapping_shr(s) as u32),
            )
        } else {
            Tnum::new(
                (self.value as i64).wrapping_shr(s) as u64,
                (self.mask as i64).wrapping_shr(s) as u64,
            )
        }
    }

    /// `tnum_add`.
    #[must_use]
    pub fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum::new(sv & !mu, mu)
    }

    /// `tnum_sub`.
    #[must_use]
    pub fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum::new(dv & !mu, mu)
    }

    /// `tnum_neg` (6.x; 5.10 computes `0 - a` with `tnum_sub`, the same value).
    #[must_use]
    pub fn neg(self) -> Tnum {
        Tnum::constant(0).sub(self)
    }

    /// `tnum_and`.
    #[must_use]
    pub fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum::new(v, alpha & beta & !v)
    }

    /// `tnum_or`.
    #[must_use]
    pub fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum::new(v, mu & !v)
    }

    /// `tnum_xor`.
    #[must_use]
    pub fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum::new(v & !mu, mu)
    }

    /// `tnum_mul` (the 6.x shift-and-add form; its result is never less precise than 5.10's `hma`).
    #[must_use]
    pub fn mul(self, b: Tnum) -> Tnum {
        let mut a = self;
        let mut b = b;
        let acc_v = a.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::new(0, 0);
        while a.value != 0 || a.mask != 0 {
            // LSB of tnum a is a certain 1
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum::new(0, b.mask));
            } else if a.mask & 1 != 0 {
                // LSB of tnum a is uncertain
                acc_m = acc_m.add(Tnum::new(0, b.value | b.mask));
            }
            // Note: no case for LSB is certain 0
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::new(acc_v, 0).add(acc_m)
    }

    /// `tnum_intersect`: what is known in both.
    #[must_use]
    pub fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum::new(v & !mu, mu)
    }

    /// `tnum_cast`: the low `size` bytes.
    #[must_use]
    pub fn cast(self, size: u8) -> Tnum {
        if size >= 8 {
            return self;
        }
        let m = (1u64 << (u32::from(size) * 8)) - 1;
        Tnum::new(self.value & m, self.mask & m)
    }

    /// `tnum_is_aligned`.
    #[must_use]
    pub fn is_aligned(self, size: u64) -> bool {
        if size == 0 {
            return true;
        }
        (self.value | self.mask) & (size - 1) == 0
    }

    /// `tnum_in`: whether every value `b` can take is one `self` can take.
    #[must_use]
    pub fn contains(self, b: Tnum) -> bool {
        if b.mask & !self.mask != 0 {
            return false;
        }
        b.value & !self.mask == self.value
    }

    /// `tnum_is_const`.
    #[must_use]
    pub fn is_const(self) -> bool {
        self.mask == 0
    }

    /// `tnum_equals_const`.
    #[must_use]
    pub fn equals_const(self, v: u64) -> bool {
        self.is_const() && self.value == v
    }

    /// `tnum_is_unknown`.
    #[must_use]
    pub fn is_unknown(self) -> bool {
        self.mask == u64::MAX
    }

    /// `tnum_subreg`: the low 32 bits.
    #[must_use]
    pub fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// `tnum_clear_subreg`.
    #[must_use]
    pub fn clear_subreg(self) -> Tnum {
        self.rshift(32).lshift(32)
    }

    /// `tnum_with_subreg`: the high 32 bits of `self`, the low 32 of `sub`.
    #[must_use]
    pub fn with_subreg(self, sub: Tnum) -> Tnum {
        self.clear_subreg().or(sub.subreg())
    }

    /// `tnum_const_subreg`.
    #[must_use]
    pub fn const_subreg(self, v: u32) -> Tnum {
        self.with_subreg(Tnum::constant(u64::from(v)))
    }

    /// `tnum_strn`: `(0x%llx; 0x%llx)`.
    #[must_use]
    pub fn render(self) -> String {
        format!("(0x{:x}; 0x{:x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_the_kernels() {
        assert_eq!(Tnum::range(0, 7), Tnum::new(0, 7));
        assert_eq!(Tnum::range(4, 5), Tnum::new(4, 1));
        assert_eq!(Tnum::range(0, u64::MAX), UNKNOWN);
        let a = Tnum::new(0, 3); // 0..=3
        assert_eq!(a.add(Tnum::constant(4)), Tnum::new(4, 3));
        assert_eq!(a.add(a), Tnum::new(0, 7));
        assert_eq!(Tnum::constant(10).sub(Tnum::constant(3)), Tnum::constant(7));
        assert_eq!(a.and(Tnum::constant(1)), Tnum::new(0, 1));
        assert_eq!(a.or(Tnum::constant(4)), Tnum::new(4, 3));
        assert_eq!(Tnum::constant(6).mul(Tnum::constant(7)), Tnum::constant(42));
        assert!(a.contains(Tnum::constant(2)));
        assert!(!a.contains(Tnum::constant(4)));
        assert_eq!(
            Tnum::constant(0x8000_0000).arshift(4, 32),
            Tnum::constant(0xf800_0000)
        );
        assert!(Tnum::new(8, 16).is_aligned(8));
        assert!(!Tnum::new(8, 4).is_aligned(8));
        assert_eq!(UNKNOWN.cast(1), Tnum::new(0, 0xff));
        assert_eq!(Tnum::constant(5).neg(), Tnum::constant(5u64.wrapping_neg()));
    }
}
