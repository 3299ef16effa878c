//! The arm64 kernel VA map (39-bit VA, 4K pages, as the seed's 5.10 RK3588 kernel): the image at
//! `0xffffffc0_1000_0000` (`_text`), so `__arm64_sys_clone` lands at `ffffffc0_1009_6100`-style addresses; the
//! kprobe slot page at `ffffffc0_13e9_b000`, the address seed 000's `aarch64_insn_patch` dump shows for the slot.

use crate::memory::{Layout, Perm, Region, RegionKind};

/// `_text`.
pub const TEXT_VA: u64 = 0xffff_ffc0_1000_0000;
/// The vmalloc'ed executable page(s) of `alloc_insn_page`.
pub const INSN_SLOTS_VA: u64 = 0xffff_ffc0_13e9_b000;
/// Kernel data (`.data`, `.rodata`, `.bss` and model objects).
pub const DATA_VA: u64 = 0xffff_ffc0_1200_0000;
/// Per-CPU kernel stacks.
pub const STACKS_VA: u64 = 0xffff_ffc0_1760_0000;
/// User memory of the tasks (a low, TTBR0-style address).
pub const USER_VA: u64 = 0x0000_0000_0040_0000;
/// Base of the text poke alias (the model's stand-in for the `FIX_TEXT_POKE0` fixmap slot): alias = base + PA.
pub const POKE_BASE: u64 = 0xffff_fffe_0000_0000;

const MIB: u64 = 1 << 20;

/// The map.
pub fn layout() -> Layout {
    let text = Region { kind: RegionKind::Text, va: TEXT_VA, pa: 16 * MIB, size: 6 * MIB, perm: Perm::RX };
    let slots = Region { kind: RegionKind::InsnSlots, va: INSN_SLOTS_VA, pa: 22 * MIB, size: MIB, perm: Perm::RX };
    let data = Region { kind: RegionKind::Data, va: DATA_VA, pa: 24 * MIB, size: 16 * MIB, perm: Perm::RW };
    let stacks = Region { kind: RegionKind::Stacks, va: STACKS_VA, pa: 40 * MIB, size: 2 * MIB, perm: Perm::RW };
    let alias = |r: &Region| Region { kind: RegionKind::PokeAlias, va: POKE_BASE + r.pa, perm: Perm::RW, ..r.clone() };
    let user = Region { kind: RegionKind::User, va: USER_VA, pa: 44 * MIB, size: MIB, perm: Perm::RW };
    let regions = vec![alias(&text), alias(&slots), text, slots, data, stacks, user];
    Layout { regions, poke_base: POKE_BASE, ram_size: 64 * MIB }
}
