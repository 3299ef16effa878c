//! The x86_64 kernel VA map and its page tables. The image is mapped as Linux maps it, `__START_KERNEL_map`
//! (`0xffffffff_8000_0000`) + PA, so text sits at `0xffffffff_8100_0000` and `-mcmodel=kernel` code links; kprobe
//! slots at `MODULES_VADDR` (`0xffffffff_a000_0000`); stacks in the direct map (`0xffff8880_0000_0000` + PA); the
//! `text_poke` alias at `0xffffc900_0000_0000` + PA.

use crate::memory::{KernelMemory, Layout, Perm, Region, RegionKind, PAGE_SIZE};

const MIB: u64 = 1 << 20;
/// `__START_KERNEL_map`.
const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// `MODULES_VADDR`.
const MODULES_VADDR: u64 = 0xffff_ffff_a000_0000;
/// `PAGE_OFFSET` (the direct map, without KASLR).
const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
/// Base of the text poke alias.
const POKE_BASE: u64 = 0xffff_c900_0000_0000;
/// The PML4 page.
pub const PML4_PA: u64 = MIB;
const PT_AREA: u64 = 2 * MIB;

const PTE_P: u64 = 1;
const PTE_RW: u64 = 1 << 1;
const PTE_US: u64 = 1 << 2;
const PTE_A: u64 = 1 << 5;
const PTE_D: u64 = 1 << 6;
const PTE_G: u64 = 1 << 8;
const PTE_NX: u64 = 1 << 63;

/// The map.
pub fn layout() -> Layout {
    let text_pa = 16 * MIB;
    let text = Region { kind: RegionKind::Text, va: START_KERNEL_MAP + text_pa, pa: text_pa, size: 6 * MIB, perm: Perm::RX };
    let slots = Region { kind: RegionKind::InsnSlots, va: MODULES_VADDR, pa: 22 * MIB, size: MIB, perm: Perm::RX };
    let data_pa = 24 * MIB;
    let data = Region { kind: RegionKind::Data, va: START_KERNEL_MAP + data_pa, pa: data_pa, size: 16 * MIB, perm: Perm::RW };
    let stacks_pa = 40 * MIB;
    let stacks = Region { kind: RegionKind::Stacks, va: PAGE_OFFSET + stacks_pa, pa: stacks_pa, size: 2 * MIB, perm: Perm::RW };
    let tables = Region { kind: RegionKind::PageTables, va: PAGE_OFFSET + PML4_PA, pa: PML4_PA, size: PT_AREA, perm: Perm::RW };
    let alias = |r: &Region| Region { kind: RegionKind::PokeAlias, va: POKE_BASE + r.pa, perm: Perm::RW, ..r.clone() };
    let user = Region { kind: RegionKind::User, va: 0x40_0000, pa: 44 * MIB, size: MIB, perm: Perm::RW };
    let regions = vec![alias(&text), alias(&slots), text, slots, data, stacks, user, tables];
    Layout { regions, poke_base: POKE_BASE, ram_size: 64 * MIB }
}

fn read_u64(mem: &KernelMemory, pa: u64) -> u64 {
    let mut b = [0u8; 8];
    mem.ram.read(pa, &mut b);
    u64::from_le_bytes(b)
}

/// Builds 4-level page tables mapping every region with 4 KiB pages and the region's permissions.
///
/// # Panics
/// If the tables outgrow their area: a layout bug.
pub fn build_page_tables(mem: &KernelMemory) {
    let mut next_table = PML4_PA + PAGE_SIZE;
    let end = PML4_PA + PT_AREA;
    for r in mem.layout.regions.iter().filter(|r| r.kind != RegionKind::PageTables) {
        let mut leaf = PTE_P | PTE_A | PTE_D;
        if r.perm.write {
            leaf |= PTE_RW;
        }
        if !r.perm.exec {
            leaf |= PTE_NX;
        }
        if r.kind == RegionKind::User {
            leaf |= PTE_US;
        } else if r.kind != RegionKind::PokeAlias {
            leaf |= PTE_G;
        }
        for off in (0..r.size).step_by(PAGE_SIZE as usize) {
            let va = r.va + off;
            let mut table = PML4_PA;
            for level in [39u32, 30, 21] {
                let idx = (va >> level) & 0x1ff;
                let entry_pa = table + idx * 8;
                let entry = read_u64(mem, entry_pa);
                table = if entry & PTE_P != 0 {
                    entry & 0x000f_ffff_ffff_f000
                } else {
                    let t = next_table;
                    next_table += PAGE_SIZE;
                    assert!(next_table <= end, "page tables outgrew their area (layout bug)");
                    mem.ram.write(entry_pa, &(t | PTE_P | PTE_RW | PTE_US | PTE_A).to_le_bytes());
                    t
                };
            }
            let idx = (va >> 12) & 0x1ff;
            mem.ram.write(table + idx * 8, &((r.pa + off) | leaf).to_le_bytes());
        }
    }
}
