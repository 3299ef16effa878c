//! The VM's address space: bounds-checked regions at virtual addresses.
//!
//! A BPF program sees pointers as plain `u64`s. Here every address is *virtual*: it is looked up in a small table
//! of regions, and a load or store must fall entirely inside one region (and a store inside a writable one), or it
//! fails with [`AccessError`] (the VM turns it into [`BpfError::OutOfBounds`] naming the instruction). No host
//! pointer is ever formed from a program value.
//!
//! Layout (all fixed, so runs are reproducible):
//! - `[0, PAGE_SIZE)` is never mapped: a NULL dereference always faults.
//! - Frame `n`'s 512-byte stack is `[stack_top(n) - 512, stack_top(n))` with
//!   `stack_top(n) = STACK_BASE + (n + 1) * STACK_STRIDE`; the rest of each stride is an unmapped guard, so one
//!   frame cannot overrun into another. Only the frames of the current call chain are accessible.
//! - Other regions (ctx, input buffer, map values, guest windows, helper scratch) are either placed by the caller
//!   ([`Memory::map_owned_at`]) or handed out upwards from `REGION_BASE`, page-aligned with an unmapped guard page
//!   after each.
//!
//! A region's bytes are either owned by the memory ([`Backing::Owned`]) or live outside it
//! ([`Backing::External`]): the VM's user serves those through [`ExternalMemory`] (the helpers object implements
//! it), which is how a map value returned by `bpf_map_lookup_elem` aliases the map's own storage, and how a window
//! onto guest kernel memory (a kprobe's `pt_regs`, say) is read live through [`crate::machine::GuestMemory`]
//! ([`GuestWindow`]).

use super::error::{AccessError, BpfError};
use super::insn::{MAX_BPF_STACK, MAX_CALL_FRAMES};
use crate::machine::{GuestMemory, MemFault, MemFaultKind};
use crate::KernelVa;
use std::cell::Cell;

/// The unmapped page at address 0 (and the alignment of regions).
pub const PAGE_SIZE: u64 = 0x1000;
/// Start of the stack area.
pub const STACK_BASE: u64 = 0x1000_0000;
/// Distance between two frames' stacks; the part above the 512 bytes is an unmapped guard.
pub const STACK_STRIDE: u64 = 0x1000;
/// End of the stack area.
pub const STACK_END: u64 = STACK_BASE + MAX_CALL_FRAMES as u64 * STACK_STRIDE;
/// Where automatically placed regions start.
pub const REGION_BASE: u64 = 0x2000_0000;

/// The frame pointer (`r10`) of call frame `frame` (0 = the program's own frame): one past its stack's last byte.
#[must_use]
pub const fn stack_top(frame: usize) -> u64 {
    STACK_BASE + (frame as u64 + 1) * STACK_STRIDE
}

/// What a region holds; a tag for finding it again (e.g. a helper returning the same pointer for the same map
/// element twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionKind {
    /// The program's context (`r1` at entry): `struct pt_regs`, a `__sk_buff`, …
    Ctx,
    /// An input buffer (the conformance suite's `-- mem`).
    Input,
    /// The value of one map element.
    MapValue {
        /// The map's id.
        map: u32,
        /// The element (array index, or the hash map's slot), as the map layer numbers them.
        index: u64,
    },
    /// A window onto guest kernel memory.
    Guest,
    /// Anything else, numbered by the user.
    Other(u64),
}

/// Where a region's bytes live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// In the memory itself.
    Owned(Vec<u8>),
    /// Outside: accesses go to [`ExternalMemory`] with this handle and the offset into the region.
    External {
        /// The user's name for the storage (a [`GuestWindow`] takes it as the guest address of the first byte).
        handle: u64,
    },
}

/// One mapped region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    base: u64,
    len: u64,
    writable: bool,
    kind: RegionKind,
    backing: Backing,
}

impl Region {
    /// Its first address.
    #[must_use]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Its length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether programs and helpers may store to it.
    #[must_use]
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Its tag.
    #[must_use]
    pub fn kind(&self) -> RegionKind {
        self.kind
    }

    /// Where its bytes live.
    #[must_use]
    pub fn backing(&self) -> &Backing {
        &self.backing
    }

    /// Its bytes, if owned.
    #[must_use]
    pub fn data(&self) -> Option<&[u8]> {
        match &self.backing {
            Backing::Owned(v) => Some(v),
            Backing::External { .. } => None,
        }
    }

    /// Its bytes, mutably, if owned (the length cannot change).
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        match &mut self.backing {
            Backing::Owned(v) => Some(v),
            Backing::External { .. } => None,
        }
    }

    /// Takes the bytes back, if owned.
    #[must_use]
    pub fn into_data(self) -> Option<Vec<u8>> {
        match self.backing {
            Backing::Owned(v) => Some(v),
            Backing::External { .. } => None,
        }
    }

    fn hits(&self, addr: u64, size: u64) -> bool {
        let off = addr.wrapping_sub(self.base);
        off < self.len && size <= self.len - off
    }

    fn overlaps(&self, base: u64, end: u64) -> bool {
        base < self.base + self.len && self.base < end
    }
}

/// Storage for [`Backing::External`] regions, provided by the VM's user (usually its helpers object).
pub trait ExternalMemory {
    /// Reads `buf.len()` bytes at `offset` into the region named `handle`.
    fn read_external(&mut self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        let _ = buf;
        Err(MemFault { va: KernelVa(handle.wrapping_add(offset)), kind: MemFaultKind::Unmapped })
    }

    /// Writes `data` at `offset` into the region named `handle`.
    fn write_external(&mut self, handle: u64, offset: u64, data: &[u8]) -> Result<(), MemFault> {
        let _ = data;
        Err(MemFault { va: KernelVa(handle.wrapping_add(offset)), kind: MemFaultKind::Unmapped })
    }
}

/// No external storage: every access to an external region fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoExternal;

impl ExternalMemory for NoExternal {}

/// External storage that is guest kernel memory: the handle is the guest address of the region's first byte.
/// Reads and writes go through [`GuestMemory`] with its page permissions (kernel text stays read-only).
pub struct GuestWindow<'a>(pub &'a mut dyn GuestMemory);

impl ExternalMemory for GuestWindow<'_> {
    fn read_external(&mut self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        self.0.read(KernelVa(handle.wrapping_add(offset)), buf)
    }

    fn write_external(&mut self, handle: u64, offset: u64, data: &[u8]) -> Result<(), MemFault> {
        self.0.write(KernelVa(handle.wrapping_add(offset)), data)
    }
}

/// The VM's memory: the per-frame stacks plus a table of regions.
#[derive(Clone, Debug)]
pub struct Memory {
    /// Up to `MAX_CALL_FRAMES` stacks of `MAX_BPF_STACK` bytes, frame 0 first, allocated as calls first reach them
    /// (most programs never leave frame 0).
    stack: Vec<u8>,
    /// Bytes of `stack` a run may have written (what `enter_frame` must zero again).
    dirty: usize,
    /// How many frames' stacks are accessible (the current call chain).
    frames: usize,
    regions: Vec<Region>,
    next_base: u64,
    /// Index of the region hit last (a one-entry lookup cache).
    last: Cell<usize>,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory::new()
    }
}

enum Loc {
    Stack(usize),
    Owned(usize, usize),
    External(u64, u64),
}

impl Memory {
    /// An address space with zeroed stacks (frame 0 accessible) and no regions.
    #[must_use]
    pub fn new() -> Memory {
        Memory {
            stack: vec![0; MAX_BPF_STACK],
            dirty: 0,
            frames: 1,
            regions: Vec::new(),
            next_base: REGION_BASE,
            last: Cell::new(0),
        }
    }

    // ---- regions ---------------------------------------------------------------------------------------------------

    /// Maps `data` at the next free address; returns its base.
    pub fn map_owned(&mut self, kind: RegionKind, data: Vec<u8>, writable: bool) -> Result<u64, BpfError> {
        let len = data.len() as u64;
        let base = self.free_base(len)?;
        self.insert(Region { base, len, writable, kind, backing: Backing::Owned(data) })
    }

    /// Maps `data` at `base`.
    pub fn map_owned_at(
        &mut self,
        base: u64,
        kind: RegionKind,
        data: Vec<u8>,
        writable: bool,
    ) -> Result<u64, BpfError> {
        let len = data.len() as u64;
        self.insert(Region { base, len, writable, kind, backing: Backing::Owned(data) })
    }

    /// Maps `len` bytes of external storage `handle` at the next free address; returns its base.
    pub fn map_external(&mut self, kind: RegionKind, handle: u64, len: u64, writable: bool) -> Result<u64, BpfError> {
        let base = self.free_base(len)?;
        self.insert(Region { base, len, writable, kind, backing: Backing::External { handle } })
    }

    /// Maps `len` bytes of external storage `handle` at `base` (a guest window at its own guest address, say).
    pub fn map_external_at(
        &mut self,
        base: u64,
        kind: RegionKind,
        handle: u64,
        len: u64,
        writable: bool,
    ) -> Result<u64, BpfError> {
        self.insert(Region { base, len, writable, kind, backing: Backing::External { handle } })
    }

    /// Removes the region starting at `base` and returns it.
    pub fn unmap(&mut self, base: u64) -> Option<Region> {
        let i = self.regions.iter().position(|r| r.base == base)?;
        self.last.set(0);
        Some(self.regions.remove(i))
    }

    /// All regions, in mapping order (the stacks are not regions).
    #[must_use]
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region containing `addr`.
    #[must_use]
    pub fn region_containing(&self, addr: u64) -> Option<&Region> {
        self.regions.iter().find(|r| r.hits(addr, 1))
    }

    /// The first region tagged `kind`.
    #[must_use]
    pub fn find_region(&self, kind: RegionKind) -> Option<&Region> {
        self.regions.iter().find(|r| r.kind == kind)
    }

    /// The region starting at `base`, mutably (to refill its bytes between runs).
    pub fn region_mut(&mut self, base: u64) -> Option<&mut Region> {
        self.regions.iter_mut().find(|r| r.base == base)
    }

    /// Whether `addr` is inside the stack area, a region, or neither (for helpers that must tell VM pointers
    /// from guest pointers).
    #[must_use]
    pub fn is_mapped(&self, addr: u64) -> bool {
        self.stack_off(addr, 1).is_some() || self.region_containing(addr).is_some()
    }

    fn free_base(&self, len: u64) -> Result<u64, BpfError> {
        let exhausted = BpfError::BadRegion { base: self.next_base, len, reason: "address space exhausted" };
        let mut base = self.next_base;
        loop {
            let end = base.checked_add(len).ok_or(exhausted.clone())?;
            match self.regions.iter().find(|r| r.overlaps(base, end.max(base.saturating_add(1)))) {
                None => return Ok(base),
                Some(r) => {
                    base = align_up(r.base + r.len).and_then(|a| a.checked_add(PAGE_SIZE)).ok_or(exhausted.clone())?;
                }
            }
        }
    }

    fn insert(&mut self, region: Region) -> Result<u64, BpfError> {
        let (base, len) = (region.base, region.len);
        let bad = |reason| BpfError::BadRegion { base, len, reason };
        let end = base.checked_add(len).ok_or(bad("wraps the address space"))?;
        if base < PAGE_SIZE {
            return Err(bad("the null page is never mapped"));
        }
        if base < STACK_END && STACK_BASE < end.max(base.saturating_add(1)) {
            return Err(bad("overlaps the stack area"));
        }
        if self.regions.iter().any(|r| r.overlaps(base, end.max(base.saturating_add(1)))) {
            return Err(bad("overlaps another region"));
        }
        if let Some(next) = align_up(end).and_then(|a| a.checked_add(PAGE_SIZE)) {
            if base >= self.next_base {
                self.next_base = next;
            }
        }
        self.regions.push(region);
        Ok(base)
    }

    // ---- stacks ----------------------------------------------------------------------------------------------------

    /// Frame `frame`'s stack bytes (lowest address first).
    #[must_use]
    pub fn stack(&self, frame: usize) -> Option<&[u8]> {
        self.stack.get(frame * MAX_BPF_STACK..(frame + 1) * MAX_BPF_STACK)
    }

    /// How many frames' stacks are accessible now.
    #[must_use]
    pub fn active_frames(&self) -> usize {
        self.frames
    }

    /// Makes frame `frame` the innermost accessible one, with a zeroed stack (on a call, and at program entry).
    pub(crate) fn enter_frame(&mut self, frame: usize) {
        let (lo, hi) = (frame * MAX_BPF_STACK, (frame + 1) * MAX_BPF_STACK);
        if self.stack.len() < hi {
            self.stack.resize(hi, 0);
        }
        if lo < self.dirty {
            self.stack[lo..hi].fill(0);
        }
        self.dirty = self.dirty.max(hi);
        self.frames = frame + 1;
    }

    /// Makes frame `frame` the innermost accessible one again (on a return to it).
    pub(crate) fn leave_to_frame(&mut self, frame: usize) {
        self.frames = frame + 1;
    }

    #[inline]
    fn stack_off(&self, addr: u64, size: u64) -> Option<usize> {
        let rel = addr.wrapping_sub(STACK_BASE);
        if rel >= self.frames as u64 * STACK_STRIDE {
            return None;
        }
        let in_frame = rel & (STACK_STRIDE - 1);
        let lo = STACK_STRIDE - MAX_BPF_STACK as u64;
        if in_frame < lo || size > STACK_STRIDE - in_frame {
            return None;
        }
        Some((rel / STACK_STRIDE) as usize * MAX_BPF_STACK + (in_frame - lo) as usize)
    }

    // ---- accesses --------------------------------------------------------------------------------------------------

    #[inline]
    fn find(&self, addr: u64, size: u64) -> Option<usize> {
        let last = self.last.get();
        if let Some(r) = self.regions.get(last) {
            if r.hits(addr, size) {
                return Some(last);
            }
        }
        let i = self.regions.iter().position(|r| r.hits(addr, size))?;
        self.last.set(i);
        Some(i)
    }

    #[inline]
    fn locate(&self, addr: u64, size: u64, write: bool) -> Result<Loc, AccessError> {
        if let Some(o) = self.stack_off(addr, size) {
            return Ok(Loc::Stack(o));
        }
        let err = AccessError { addr, size, write };
        let i = self.find(addr, size).ok_or(err)?;
        let r = &self.regions[i];
        if write && !r.writable {
            return Err(err);
        }
        let off = addr - r.base;
        Ok(match r.backing {
            Backing::Owned(_) => Loc::Owned(i, off as usize),
            Backing::External { handle } => Loc::External(handle, off),
        })
    }

    /// Reads `buf.len()` bytes at `addr`. A zero-length read always succeeds.
    pub fn read<E: ExternalMemory + ?Sized>(&self, addr: u64, buf: &mut [u8], ext: &mut E) -> Result<(), AccessError> {
        if buf.is_empty() {
            return Ok(());
        }
        let err = AccessError { addr, size: buf.len() as u64, write: false };
        let n = buf.len();
        match self.locate(addr, n as u64, false)? {
            Loc::Stack(o) => buf.copy_from_slice(self.stack.get(o..o + n).ok_or(err)?),
            Loc::Owned(i, o) => {
                let data = self.regions[i].data().ok_or(err)?;
                buf.copy_from_slice(data.get(o..o + n).ok_or(err)?);
            }
            Loc::External(h, o) => ext.read_external(h, o, buf).map_err(|_| err)?,
        }
        Ok(())
    }

    /// Writes `data` at `addr`. A zero-length write always succeeds.
    pub fn write<E: ExternalMemory + ?Sized>(
        &mut self,
        addr: u64,
        data: &[u8],
        ext: &mut E,
    ) -> Result<(), AccessError> {
        if data.is_empty() {
            return Ok(());
        }
        let err = AccessError { addr, size: data.len() as u64, write: true };
        let n = data.len();
        match self.locate(addr, n as u64, true)? {
            Loc::Stack(o) => self.stack.get_mut(o..o + n).ok_or(err)?.copy_from_slice(data),
            Loc::Owned(i, o) => {
                let bytes = self.regions[i].data_mut().ok_or(err)?;
                bytes.get_mut(o..o + n).ok_or(err)?.copy_from_slice(data);
            }
            Loc::External(h, o) => ext.write_external(h, o, data).map_err(|_| err)?,
        }
        Ok(())
    }

    /// Loads a little-endian value of `size` (1, 2, 4 or 8) bytes at `addr`, zero-extended.
    #[inline]
    pub fn load<E: ExternalMemory + ?Sized>(&self, addr: u64, size: usize, ext: &mut E) -> Result<u64, AccessError> {
        let size = size.min(8);
        if let Some(o) = self.stack_off(addr, size as u64) {
            if let Some(v) = self.stack.get(o..).and_then(|b| get_le(b, size)) {
                return Ok(v);
            }
        }
        self.load_slow(addr, size, ext)
    }

    fn load_slow<E: ExternalMemory + ?Sized>(&self, addr: u64, size: usize, ext: &mut E) -> Result<u64, AccessError> {
        let err = AccessError { addr, size: size as u64, write: false };
        match self.locate(addr, size as u64, false)? {
            Loc::Owned(i, o) => {
                self.regions[i].data().and_then(|d| d.get(o..)).and_then(|b| get_le(b, size)).ok_or(err)
            }
            _ => {
                let mut b = [0u8; 8];
                self.read(addr, &mut b[..size], ext)?;
                Ok(u64::from_le_bytes(b))
            }
        }
    }

    /// Stores the low `size` (1, 2, 4 or 8) bytes of `value` at `addr`, little-endian.
    #[inline]
    pub fn store<E: ExternalMemory + ?Sized>(
        &mut self,
        addr: u64,
        size: usize,
        value: u64,
        ext: &mut E,
    ) -> Result<(), AccessError> {
        let size = size.min(8);
        if let Some(o) = self.stack_off(addr, size as u64) {
            if let Some(b) = self.stack.get_mut(o..o + size) {
                b.copy_from_slice(&value.to_le_bytes()[..size]);
                return Ok(());
            }
        }
        self.store_slow(addr, size, value, ext)
    }

    fn store_slow<E: ExternalMemory + ?Sized>(
        &mut self,
        addr: u64,
        size: usize,
        value: u64,
        ext: &mut E,
    ) -> Result<(), AccessError> {
        let bytes = value.to_le_bytes();
        self.write(addr, &bytes[..size], ext)
    }

    /// Reads `len` bytes at `addr` into a new vector.
    pub fn read_vec<E: ExternalMemory + ?Sized>(
        &self,
        addr: u64,
        len: usize,
        ext: &mut E,
    ) -> Result<Vec<u8>, AccessError> {
        // Check the whole range before allocating, so a huge bogus length cannot exhaust host memory.
        if len > 0 {
            self.locate(addr, len as u64, false)?;
        }
        let mut v = vec![0; len];
        self.read(addr, &mut v, ext)?;
        Ok(v)
    }

    /// Reads a NUL-terminated string of at most `max` bytes at `addr` (without the NUL), as
    /// `strncpy_from_kernel_nofault` does; it is an error if no NUL is found within `max` bytes.
    pub fn read_cstr<E: ExternalMemory + ?Sized>(
        &self,
        addr: u64,
        max: usize,
        ext: &mut E,
    ) -> Result<Vec<u8>, AccessError> {
        let mut out = Vec::new();
        for i in 0..max as u64 {
            let mut b = [0u8; 1];
            self.read(addr.wrapping_add(i), &mut b, ext)?;
            if b[0] == 0 {
                return Ok(out);
            }
            out.push(b[0]);
        }
        Err(AccessError { addr, size: max as u64, write: false })
    }
}

/// The little-endian value of `size` (1, 2, 4, 8) bytes at the start of `b`.
#[inline]
fn get_le(b: &[u8], size: usize) -> Option<u64> {
    Some(match size {
        1 => u64::from(*b.first()?),
        2 => u64::from(u16::from_le_bytes(b.get(..2)?.try_into().ok()?)),
        4 => u64::from(u32::from_le_bytes(b.get(..4)?.try_into().ok()?)),
        _ => u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
    })
}

fn align_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_frames_are_separate_and_guarded() {
        let mut m = Memory::new();
        let top0 = stack_top(0);
        m.store(top0 - 8, 8, 0x1122_3344_5566_7788, &mut NoExternal).unwrap();
        assert_eq!(m.load(top0 - 8, 8, &mut NoExternal).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(m.load(top0 - 512, 1, &mut NoExternal).unwrap(), 0);
        // Below the 512 bytes, above the top, or straddling the top: guard.
        assert!(m.load(top0 - 513, 1, &mut NoExternal).is_err());
        assert!(m.load(top0, 1, &mut NoExternal).is_err());
        assert!(m.load(top0 - 4, 8, &mut NoExternal).is_err());
        // Frame 1 is not part of the call chain yet.
        assert!(m.load(stack_top(1) - 8, 8, &mut NoExternal).is_err());
        m.enter_frame(1);
        assert_eq!(m.load(stack_top(1) - 8, 8, &mut NoExternal).unwrap(), 0);
        assert_eq!(m.load(top0 - 8, 8, &mut NoExternal).unwrap(), 0x1122_3344_5566_7788);
        m.leave_to_frame(0);
        assert!(m.load(stack_top(1) - 8, 8, &mut NoExternal).is_err());
    }

    #[test]
    fn regions_are_bounds_checked_and_placed_apart() {
        let mut m = Memory::new();
        let a = m.map_owned(RegionKind::Input, vec![1, 2, 3, 4], true).unwrap();
        let b = m.map_owned(RegionKind::Ctx, vec![9; 16], false).unwrap();
        assert_eq!(a, REGION_BASE);
        assert!(b >= a + 2 * PAGE_SIZE, "a guard page separates regions");
        assert_eq!(m.load(a, 4, &mut NoExternal).unwrap(), 0x0403_0201);
        assert_eq!(m.load(a + 3, 2, &mut NoExternal), Err(AccessError { addr: a + 3, size: 2, write: false }));
        assert_eq!(m.store(b, 1, 0, &mut NoExternal), Err(AccessError { addr: b, size: 1, write: true }));
        assert!(m.load(0, 1, &mut NoExternal).is_err());
        assert!(m.load(u64::MAX, 8, &mut NoExternal).is_err());
        assert!(matches!(
            m.map_owned_at(a + 2, RegionKind::Other(0), vec![0; 2], true),
            Err(BpfError::BadRegion { .. })
        ));
        assert!(matches!(m.map_owned_at(0, RegionKind::Other(0), vec![0; 2], true), Err(BpfError::BadRegion { .. })));
        assert!(matches!(
            m.map_owned_at(STACK_BASE + 8, RegionKind::Other(0), vec![0; 2], true),
            Err(BpfError::BadRegion { .. })
        ));
        assert!(matches!(
            m.map_owned_at(u64::MAX - 1, RegionKind::Other(0), vec![0; 8], true),
            Err(BpfError::BadRegion { .. })
        ));
        assert_eq!(m.find_region(RegionKind::Ctx).map(Region::base), Some(b));
        assert_eq!(m.unmap(a).and_then(Region::into_data), Some(vec![1, 2, 3, 4]));
        assert!(m.load(a, 1, &mut NoExternal).is_err());
        assert!(m.read_vec(b, 1 << 40, &mut NoExternal).is_err());
    }

    /// Read-only guest memory holding `bytes` at 0xffff_0000.
    #[allow(non_snake_case)]
    fn Flat(bytes: Vec<u8>) -> crate::testing::FakeMachine {
        let mut m = crate::testing::FakeMachine::empty(crate::Isa::Aarch64);
        m.map_with(0xffff_0000, bytes, crate::testing::Perm::ReadOnly);
        m
    }

    #[test]
    fn guest_windows_read_live_guest_memory() {
        let mut guest = Flat((0u8..64).collect());
        let mut m = Memory::new();
        let base = m.map_external_at(0xffff_0010, RegionKind::Guest, 0xffff_0010, 8, true).unwrap();
        let mut w = GuestWindow(&mut guest);
        assert_eq!(m.load(base, 2, &mut w).unwrap(), 0x1110);
        assert!(m.store(base, 1, 0, &mut w).is_err(), "the guest refuses the write");
        assert!(m.load(base, 1, &mut NoExternal).is_err(), "no external storage, no access");
        assert_eq!(m.read_cstr(base, 4, &mut w), Err(AccessError { addr: base, size: 4, write: false }));
    }
}
