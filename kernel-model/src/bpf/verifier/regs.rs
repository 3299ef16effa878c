//! `struct bpf_reg_state` (include/linux/bpf_verifier.h): a register's type, fixed offset, `tnum` and
//! signed/unsigned 64-bit bounds, and the 32-bit halves as 6.12 tracks them (5.10 tracks them too, since 5.7), with
//! `__update_reg_bounds` / `__reg_deduce_bounds` / `__reg_bound_offset` of kernel/bpf/verifier.c.

use super::tnum::{Tnum, UNKNOWN};
use crate::profile::KernelProfile;

/// `enum bpf_reg_type`, the kinds this verifier models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegType {
    /// `NOT_INIT`: never written.
    NotInit,
    /// `SCALAR_VALUE`.
    Scalar,
    /// `PTR_TO_CTX`: the program's `struct pt_regs *` (or tracepoint record, raw_tp args).
    PtrToCtx,
    /// `PTR_TO_STACK`: `r10` plus an offset.
    PtrToStack,
    /// `CONST_PTR_TO_MAP`: what `lddw rX, map_fd N` loads.
    ConstPtrToMap,
    /// `PTR_TO_MAP_VALUE`.
    PtrToMapValue,
    /// `PTR_TO_MAP_VALUE_OR_NULL`: `bpf_map_lookup_elem`'s result before a null check.
    PtrToMapValueOrNull,
    /// `PTR_TO_MEM` (6.12: `| MEM_RINGBUF` for ring buffer memory).
    PtrToMem,
    /// `PTR_TO_MEM_OR_NULL` (`bpf_ringbuf_reserve`'s result before a null check).
    PtrToMemOrNull,
}

impl RegType {
    /// Whether a null check turns it into a pointer (`type_may_be_null`).
    #[must_use]
    pub fn may_be_null(self) -> bool {
        matches!(self, RegType::PtrToMapValueOrNull | RegType::PtrToMemOrNull)
    }

    /// Whether it is a pointer (`__is_pointer_value`).
    #[must_use]
    pub fn is_pointer(self) -> bool {
        !matches!(self, RegType::NotInit | RegType::Scalar)
    }

    /// `reg_type_str`: 5.10's table (`inv` for scalars) or 6.12's function (`scalar`, `ringbuf_` prefix).
    #[must_use]
    pub fn name(self, profile: KernelProfile, ringbuf: bool) -> &'static str {
        let v612 = profile >= KernelProfile::V6_12;
        match self {
            RegType::NotInit => "?",
            RegType::Scalar if v612 => "scalar",
            RegType::Scalar => "inv",
            RegType::PtrToCtx => "ctx",
            RegType::PtrToStack => "fp",
            RegType::ConstPtrToMap => "map_ptr",
            RegType::PtrToMapValue => "map_value",
            RegType::PtrToMapValueOrNull => "map_value_or_null",
            RegType::PtrToMem if v612 && ringbuf => "ringbuf_mem",
            RegType::PtrToMem => "mem",
            RegType::PtrToMemOrNull if v612 && ringbuf => "ringbuf_mem_or_null",
            RegType::PtrToMemOrNull => "mem_or_null",
        }
    }
}

/// `struct bpf_reg_state`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegState {
    /// Its type.
    pub typ: RegType,
    /// The fixed part of a pointer's offset (`reg->off`).
    pub off: i32,
    /// Known bits (the variable part of a pointer's offset; a scalar's value).
    pub var_off: Tnum,
    /// `smin_value`.
    pub smin: i64,
    /// `smax_value`.
    pub smax: i64,
    /// `umin_value`.
    pub umin: u64,
    /// `umax_value`.
    pub umax: u64,
    /// `s32_min_value`.
    pub s32_min: i32,
    /// `s32_max_value`.
    pub s32_max: i32,
    /// `u32_min_value`.
    pub u32_min: u32,
    /// `u32_max_value`.
    pub u32_max: u32,
    /// `id`: pointers that came from one `_OR_NULL` source share it, so one null check marks them all.
    pub id: u32,
    /// `ref_obj_id`: the acquired reference (ring buffer records).
    pub ref_obj_id: u32,
    /// For map pointers and map values: the runtime map id (`map_ptr`).
    pub map: u32,
    /// For `PTR_TO_MEM`: `mem_size`.
    pub mem_size: u32,
    /// `MEM_RINGBUF`.
    pub ringbuf: bool,
    /// For `PTR_TO_STACK`: the frame it points into (`frameno`).
    pub frameno: u8,
}

impl Default for RegState {
    fn default() -> Self {
        RegState::not_init()
    }
}

impl RegState {
    /// `__mark_reg_not_init`.
    #[must_use]
    pub fn not_init() -> RegState {
        let mut r = RegState::unknown();
        r.typ = RegType::NotInit;
        r
    }

    /// `__mark_reg_unknown`: a scalar with no knowledge.
    #[must_use]
    pub fn unknown() -> RegState {
        RegState {
            typ: RegType::Scalar,
            off: 0,
            var_off: UNKNOWN,
            smin: i64::MIN,
            smax: i64::MAX,
            umin: 0,
            umax: u64::MAX,
            s32_min: i32::MIN,
            s32_max: i32::MAX,
            u32_min: 0,
            u32_max: u32::MAX,
            id: 0,
            ref_obj_id: 0,
            map: 0,
            mem_size: 0,
            ringbuf: false,
            frameno: 0,
        }
    }

    /// `__mark_reg_known`: the scalar `v`.
    #[must_use]
    pub fn known(v: u64) -> RegState {
        let mut r = RegState::unknown();
        r.set_known(v);
        r
    }

    /// A pointer of `typ` at offset 0 with a known variable part (`__mark_reg_known_zero` then the type).
    #[must_use]
    pub fn pointer(typ: RegType) -> RegState {
        let mut r = RegState::known(0);
        r.typ = typ;
        r
    }

    fn set_known(&mut self, v: u64) {
        self.var_off = Tnum::constant(v);
        self.smin = v as i64;
        self.smax = v as i64;
        self.umin = v;
        self.umax = v;
        self.s32_min = v as u32 as i32;
        self.s32_max = v as u32 as i32;
        self.u32_min = v as u32;
        self.u32_max = v as u32;
    }

    /// `tnum_is_const(reg->var_off)` of a scalar.
    #[must_use]
    pub fn is_const(&self) -> bool {
        self.typ == RegType::Scalar && self.var_off.is_const()
    }

    /// `register_is_null`.
    #[must_use]
    pub fn is_null(&self) -> bool {
        self.is_const() && self.var_off.value == 0
    }

    /// `__update_reg_bounds` (64- and 32-bit halves) from `var_off`.
    pub fn update_bounds(&mut self) {
        let v = self.var_off;
        let sign = 1u64 << 63;
        self.smin = self.smin.max((v.value | (v.mask & sign)) as i64);
        self.smax = self.smax.min((v.value | (v.mask & !sign)) as i64);
        self.umin = self.umin.max(v.value);
        self.umax = self.umax.min(v.value | v.mask);
        let s = v.subreg();
        let sign32 = 1u64 << 31;
        self.s32_min = self
            .s32_min
            .max((s.value | (s.mask & sign32)) as u32 as i32);
        self.s32_max = self
            .s32_max
            .min((s.value | (s.mask & !sign32 & 0xffff_ffff)) as u32 as i32);
        self.u32_min = self.u32_min.max(s.value as u32);
        self.u32_max = self.u32_max.min((s.value | s.mask) as u32);
    }

    /// `__reg64_deduce_bounds`: signed and unsigned bounds inform each other when the sign bit is known.
    pub fn deduce_bounds(&mut self) {
        if self.smin >= 0 || self.smax < 0 {
            self.smin = self.smin.max(self.umin as i64);
            self.umin = self.smin as u64;
            self.smax = self.smax.min(self.umax as i64);
            self.umax = self.smax as u64;
            return;
        }
        if (self.umax as i64) >= 0 {
            self.smin = self.umin as i64;
            self.umax = self.umax.min(self.smax as u64);
            self.smax = self.umax as i64;
        } else if (self.umin as i64) < 0 {
            self.umin = self.umin.max(self.smin as u64);
            self.smin = self.umin as i64;
            self.smax = self.umax as i64;
        }
    }

    /// `__reg_bound_offset`: `var_off` narrowed to the unsigned range.
    pub fn bound_offset(&mut self) {
        self.var_off = self.var_off.intersect(Tnum::range(self.umin, self.umax));
    }

    /// `reg_bounds_sync`.
    pub fn sync(&mut self) {
        self.update_bounds();
        self.deduce_bounds();
        self.bound_offset();
        self.update_bounds();
        if self.umin > self.umax || self.smin > self.smax {
            // An impossible state (a branch that cannot be taken): keep it self-consistent.
            let v = self.var_off.value;
            self.set_known(v);
        }
    }

    /// A scalar whose 64 bits are `var_off` (bounds recomputed from it).
    #[must_use]
    pub fn from_tnum(t: Tnum) -> RegState {
        let mut r = RegState::unknown();
        r.var_off = t;
        r.sync();
        r
    }

    /// `zext_32_to_64` after a 32-bit operation: the upper half is zero.
    pub fn zext32(&mut self) {
        let t = self.var_off.subreg();
        *self = RegState::from_tnum(t);
    }

    /// The register as the verifier log prints it (`print_verifier_state`), per profile.
    #[must_use]
    pub fn render(&self, profile: KernelProfile) -> String {
        let v612 = profile >= KernelProfile::V6_12;
        let t = self.typ.name(profile, self.ringbuf);
        match self.typ {
            RegType::Scalar if self.var_off.is_const() => {
                if v612 {
                    format!("{}", self.var_off.value as i64)
                } else {
                    format!("inv{}", self.var_off.value as i64)
                }
            }
            RegType::Scalar => {
                let mut parts = Vec::new();
                if !v612 {
                    parts.push(format!("id={}", self.id));
                }
                if self.smin != i64::MIN && self.smin != self.umin as i64 {
                    parts.push(format!("smin={}", self.smin));
                }
                if self.smax != i64::MAX && self.smax != self.umax as i64 {
                    parts.push(format!("smax={}", self.smax));
                }
                if self.umin != 0 {
                    parts.push(format!("umin={}", self.umin));
                }
                if self.umax != u64::MAX {
                    parts.push(format!("umax={}", self.umax));
                }
                if !self.var_off.is_unknown() {
                    parts.push(format!("var_off={}", self.var_off.render()));
                }
                format!("{t}({})", parts.join(","))
            }
            RegType::PtrToStack if self.var_off.is_const() => format!("fp{}", self.off),
            _ => {
                let mut parts = Vec::new();
                if !v612 || self.id != 0 {
                    parts.push(format!("id={}", self.id));
                }
                if !v612 || self.off != 0 {
                    parts.push(format!("off={}", self.off));
                }
                if matches!(
                    self.typ,
                    RegType::ConstPtrToMap | RegType::PtrToMapValue | RegType::PtrToMapValueOrNull
                ) {
                    parts.push(format!("map_id={}", self.map));
                }
                if !v612 {
                    parts.push(format!("imm={}", self.var_off.value as i64));
                }
                format!("{t}({})", parts.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_var_off() {
        let r = RegState::from_tnum(Tnum::new(0, 0xff));
        assert_eq!((r.umin, r.umax, r.smin, r.smax), (0, 255, 0, 255));
        let mut r = RegState::unknown();
        r.umax = 100;
        r.sync();
        assert_eq!((r.smin, r.smax), (0, 100));
        assert_eq!(r.var_off, Tnum::new(0, 127));
        assert_eq!(RegState::known(7).render(KernelProfile::V6_12), "7");
        assert_eq!(RegState::known(7).render(KernelProfile::V5_10), "inv7");
    }
}
