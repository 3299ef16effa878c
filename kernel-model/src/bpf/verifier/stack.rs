//! A frame's stack as the verifier sees it (`struct bpf_stack_state`, include/linux/bpf_verifier.h): 8-byte slots
//! below the frame pointer, each byte `STACK_INVALID` (never written), `STACK_MISC`, `STACK_ZERO` or part of a
//! `STACK_SPILL` (a whole register saved with its state). `allocated_stack` grows as the program writes deeper;
//! `MAX_BPF_STACK` (512) bytes at most.

use super::regs::RegState;

/// `enum bpf_stack_slot_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotType {
    /// `STACK_INVALID`: nothing written.
    Invalid,
    /// `STACK_SPILL`: a register spilled whole.
    Spill,
    /// `STACK_MISC`: written, value unknown.
    Misc,
    /// `STACK_ZERO`: written with zero.
    Zero,
}

/// `BPF_REG_SIZE`.
pub const BPF_REG_SIZE: usize = 8;

/// One 8-byte slot: `slot_type[8]` (index `i` is the byte at `-8*(spi+1) + i`) and `spilled_ptr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StackSlot {
    /// Per-byte types.
    pub types: [SlotType; BPF_REG_SIZE],
    /// The spilled register, for `STACK_SPILL`.
    pub spilled: RegState,
}

/// A frame's stack: `stack[spi]` covers bytes `[-8*(spi+1), -8*spi)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stack {
    /// The allocated slots (`allocated_stack / BPF_REG_SIZE`).
    pub slots: Vec<StackSlot>,
}

impl Stack {
    /// `allocated_stack`.
    #[must_use]
    pub fn allocated(&self) -> usize {
        self.slots.len() * BPF_REG_SIZE
    }

    /// `grow_stack_state`: enough slots for byte offset `off` (negative).
    pub fn grow(&mut self, off: i32) {
        let need = ((-off) as usize).div_ceil(BPF_REG_SIZE);
        while self.slots.len() < need {
            self.slots.push(StackSlot {
                types: [SlotType::Invalid; BPF_REG_SIZE],
                spilled: RegState::not_init(),
            });
        }
    }

    /// `(spi, byte index in slot)` of byte offset `off` (negative).
    #[must_use]
    pub fn locate(off: i32) -> (usize, usize) {
        let slot = (-off - 1) as usize;
        (slot / BPF_REG_SIZE, BPF_REG_SIZE - 1 - slot % BPF_REG_SIZE)
    }

    /// The type of the byte at `off`, `STACK_INVALID` beyond `allocated_stack`.
    #[must_use]
    pub fn byte(&self, off: i32) -> SlotType {
        let (spi, i) = Stack::locate(off);
        self.slots
            .get(spi)
            .map_or(SlotType::Invalid, |s| s.types[i])
    }

    /// Marks `size` bytes from `off` as `t`; a slot that was a spill and is partly overwritten loses the spill
    /// (its other bytes become `STACK_MISC`, as `check_stack_write_fixed_off` does).
    pub fn write_bytes(&mut self, off: i32, size: usize, t: SlotType) {
        self.grow(off);
        for k in 0..size as i32 {
            let (spi, i) = Stack::locate(off + k);
            let slot = &mut self.slots[spi];
            if slot.types.contains(&SlotType::Spill) {
                for b in &mut slot.types {
                    if *b == SlotType::Spill {
                        *b = SlotType::Misc;
                    }
                }
                slot.spilled = RegState::not_init();
            }
            slot.types[i] = t;
        }
    }

    /// `save_register_state`: an aligned 8-byte spill of `reg` at `off`.
    pub fn spill(&mut self, off: i32, reg: RegState) {
        self.grow(off);
        let (spi, _) = Stack::locate(off);
        self.slots[spi] = StackSlot {
            types: [SlotType::Spill; BPF_REG_SIZE],
            spilled: reg,
        };
    }

    /// The spilled register at `off`, if the slot holding it is a spill.
    #[must_use]
    pub fn spilled(&self, off: i32) -> Option<&StackSlot> {
        let (spi, _) = Stack::locate(off);
        self.slots
            .get(spi)
            .filter(|s| s.types[0] == SlotType::Spill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_bytes() {
        let mut s = Stack::default();
        assert_eq!(Stack::locate(-1), (0, 7));
        assert_eq!(Stack::locate(-8), (0, 0));
        assert_eq!(Stack::locate(-9), (1, 7));
        s.write_bytes(-4, 4, SlotType::Misc);
        assert_eq!(s.allocated(), 8);
        assert_eq!(s.byte(-4), SlotType::Misc);
        assert_eq!(s.byte(-8), SlotType::Invalid);
        s.spill(-16, RegState::known(3));
        assert!(s.spilled(-16).is_some());
        s.write_bytes(-16, 1, SlotType::Misc);
        assert!(s.spilled(-16).is_none());
        assert_eq!(s.byte(-15), SlotType::Misc);
    }
}
