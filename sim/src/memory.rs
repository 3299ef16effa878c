//! Guest physical memory and the kernel's virtual memory map.
//!
//! One page-aligned host buffer is the machine's RAM. Every CPU's Unicorn instance maps the same buffer (arm64: one
//! `mem_map_ptr` per region at its kernel VA; x86_64: at PA 0, with real page tables), so a store by any CPU, or by
//! the model, is visible to all at once. Kernel text and the kprobe slot area are mapped read+execute; writes to them
//! go through a separate writable **poke alias** (arm64 `FIX_TEXT_POKE0`, x86 `text_poke`'s mapping), so a stray
//! guest store to text faults as on real hardware.

use kernel_model::machine::{MemFault, MemFaultKind};
use kernel_model::KernelVa;

/// Page size (4 KiB granule on both ISAs).
pub const PAGE_SIZE: u64 = 0x1000;

/// Access rights of a region as the guest sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Perm {
    /// Read + execute (kernel text, kprobe slots).
    pub const RX: Perm = Perm { read: true, write: false, exec: true };
    /// Read + write, never execute (data, stacks, the poke alias).
    pub const RW: Perm = Perm { read: true, write: true, exec: false };
}

/// What a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RegionKind {
    /// The kernel image's code (`_stext`..`_etext`).
    Text,
    /// Executable pages for kprobe out-of-line slots and trampolines (`alloc_insn_page`).
    InsnSlots,
    /// Kernel data, rodata and bss of the image, and objects the model allocates.
    Data,
    /// Per-CPU kernel stacks.
    Stacks,
    /// User memory of the tasks (below `TASK_SIZE`): what `copy_from_user` and `bpf_probe_read_user` reach.
    User,
    /// x86 page tables (not mapped at any kernel VA the model uses).
    PageTables,
    /// The writable alias of text and slots used by text patching.
    PokeAlias,
}

/// One contiguous VA range backed by a contiguous PA range of the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// What the region holds.
    pub kind: RegionKind,
    /// Kernel virtual address of the first byte.
    pub va: u64,
    /// Offset of the first byte in the host buffer (the guest physical address).
    pub pa: u64,
    /// Size in bytes (a multiple of [`PAGE_SIZE`]).
    pub size: u64,
    /// Guest permissions.
    pub perm: Perm,
}

impl Region {
    /// Whether `va..va+len` lies inside the region.
    #[must_use]
    pub fn contains(&self, va: u64, len: u64) -> bool {
        va >= self.va && va.checked_add(len).is_some_and(|end| end <= self.va + self.size)
    }
}

/// The kernel virtual memory map of one ISA.
#[derive(Clone, Debug)]
pub struct Layout {
    /// All regions, poke aliases included.
    pub regions: Vec<Region>,
    /// VA of the poke alias for PA 0: `alias(va) = poke_base + pa(va)`.
    pub poke_base: u64,
    /// Total RAM size.
    pub ram_size: u64,
}

impl Layout {
    /// The region of `kind` (the first, for kinds with one region).
    ///
    /// # Panics
    /// If the layout has no such region: a simulator bug.
    #[must_use]
    pub fn region(&self, kind: RegionKind) -> &Region {
        self.regions.iter().find(|r| r.kind == kind).expect("layout has every region kind it uses")
    }

    /// The region containing all of `va..va+len`.
    #[must_use]
    pub fn find(&self, va: u64, len: u64) -> Option<&Region> {
        self.regions.iter().find(|r| r.kind != RegionKind::PageTables && r.contains(va, len))
    }

    /// Translates a VA to a PA, if mapped.
    #[must_use]
    pub fn translate(&self, va: u64, len: u64) -> Option<(u64, &Region)> {
        self.find(va, len).map(|r| (r.pa + (va - r.va), r))
    }

    /// The poke-alias VA of patchable text at `va` (text or kprobe slots), if it is patchable.
    #[must_use]
    pub fn poke_alias(&self, va: u64, len: u64) -> Option<u64> {
        let (pa, r) = self.translate(va, len)?;
        matches!(r.kind, RegionKind::Text | RegionKind::InsnSlots).then_some(self.poke_base + pa)
    }
}

/// The machine's RAM: one anonymous, page-aligned host mapping shared by every emulated CPU. Pages are zero and
/// materialise on first touch, so a large RAM costs nothing until used.
pub struct Ram {
    ptr: std::ptr::NonNull<u8>,
    size: usize,
}

impl Ram {
    /// Maps `size` bytes of zeroed RAM.
    ///
    /// # Panics
    /// If the host cannot map it.
    #[must_use]
    pub fn new(size: u64) -> Ram {
        let size = usize::try_from(size).expect("RAM size fits the host");
        // SAFETY: an anonymous private mapping with no address hint has no preconditions; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(ptr != libc::MAP_FAILED, "cannot map {size} bytes of guest RAM");
        let ptr = std::ptr::NonNull::new(ptr.cast::<u8>()).expect("mmap never returns null on success");
        Ram { ptr, size }
    }

    /// Size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size as u64
    }

    /// The host pointer of physical address `pa`, for `mem_map_ptr`.
    pub(crate) fn host_ptr(&self, pa: u64) -> *mut u8 {
        assert!(pa <= self.size as u64, "PA {pa:#x} outside RAM");
        // SAFETY: `pa` is within the allocation (checked above).
        unsafe { self.ptr.as_ptr().add(pa as usize) }
    }

    fn check(&self, pa: u64, len: usize) {
        assert!(
            pa.checked_add(len as u64).is_some_and(|end| end <= self.size as u64),
            "physical access {pa:#x}+{len:#x} outside RAM: the layout is wrong (simulator bug)"
        );
    }

    /// Reads physical memory.
    pub fn read(&self, pa: u64, buf: &mut [u8]) {
        self.check(pa, buf.len());
        // SAFETY: in bounds (checked); all CPUs run on this thread, so no store races with this copy. Unicorn may
        // hold the same memory mapped, which is why we copy through raw pointers and never hand out references.
        unsafe { std::ptr::copy_nonoverlapping(self.host_ptr(pa), buf.as_mut_ptr(), buf.len()) }
    }

    /// Writes physical memory.
    pub fn write(&self, pa: u64, data: &[u8]) {
        self.check(pa, data.len());
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.host_ptr(pa), data.len()) }
    }
}

impl Drop for Ram {
    fn drop(&mut self) {
        // SAFETY: mapped in `new` with this size; every Unicorn instance that mapped it is dropped first (the
        // machine drops its CPUs before its RAM).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.size) };
    }
}

/// Kernel-VA access to RAM with the guest's permissions: what modelled kernel code may do.
pub struct KernelMemory {
    /// The RAM.
    pub ram: Ram,
    /// The VA map.
    pub layout: Layout,
}

impl KernelMemory {
    /// Reads at a kernel VA.
    pub fn read(&self, va: KernelVa, buf: &mut [u8]) -> Result<(), MemFault> {
        let (pa, _) = self
            .layout
            .translate(va.0, buf.len() as u64)
            .ok_or(MemFault { va, kind: MemFaultKind::Unmapped })?;
        self.ram.read(pa, buf);
        Ok(())
    }

    /// Writes at a kernel VA, refusing read-only regions.
    pub fn write(&self, va: KernelVa, data: &[u8]) -> Result<(), MemFault> {
        let (pa, r) = self
            .layout
            .translate(va.0, data.len() as u64)
            .ok_or(MemFault { va, kind: MemFaultKind::Unmapped })?;
        if !r.perm.write {
            return Err(MemFault { va, kind: MemFaultKind::WriteProtected });
        }
        self.ram.write(pa, data);
        Ok(())
    }

    /// Writes at a kernel VA regardless of permissions: for loading the image, never for modelled code.
    pub fn load(&self, va: u64, data: &[u8]) -> Result<(), MemFault> {
        let (pa, _) = self
            .layout
            .translate(va, data.len() as u64)
            .ok_or(MemFault { va: KernelVa(va), kind: MemFaultKind::Unmapped })?;
        self.ram.write(pa, data);
        Ok(())
    }
}
