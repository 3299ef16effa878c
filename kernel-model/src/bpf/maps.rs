//! BPF maps with the kernel's semantics: `kernel/bpf/hashtab.c` (preallocated `BPF_MAP_TYPE_HASH`),
//! `kernel/bpf/arraymap.c` (`ARRAY`, `PERCPU_ARRAY`, and the fd array behind `PERF_EVENT_ARRAY`) and
//! `kernel/bpf/ringbuf.c` (`RINGBUF`), plus the creation checks of `map_create`/`*_map_alloc_check`.
//!
//! Values live here, not in the VM: a program's `bpf_map_lookup_elem` gets a pointer to an external VM region
//! whose reads and writes come back to [`BpfMap::value`]/[`BpfMap::value_mut`], so the program writes the map's
//! own storage, as in the kernel. Element storage is a slab of `max_entries` values (a preallocated hash map's
//! elements): a deleted element's slot goes to a free list and is reused by a later insert, and a pointer a
//! program kept still reads that slot — the kernel's prealloc behaviour. One difference: an update of an existing
//! hash key writes the value in place, where the kernel swaps in a spare element (`htab->extra_elems`), so a stale
//! pointer would keep the old value there.
//!
//! Iteration (dumps, `map_entries`) is in key order (a `BTreeMap`), not the kernel's bucket order, so that output
//! is deterministic without modelling `jhash`.

use std::collections::BTreeMap;

use crate::errno::Errno;
use crate::profile::KernelProfile;

/// `BPF_ANY`: create or update.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST`: update only.
pub const BPF_EXIST: u64 = 2;
/// `BPF_F_LOCK`.
pub const BPF_F_LOCK: u64 = 4;
/// `BPF_F_INDEX_MASK` of `bpf_perf_event_output`'s flags.
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`.
pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
/// The header in front of each ring buffer record (`BPF_RINGBUF_HDR_SZ`).
pub const BPF_RINGBUF_HDR_SZ: u64 = 8;
/// `PAGE_SIZE`.
const PAGE_SIZE: u64 = 4096;
/// `KMALLOC_MAX_SIZE` on arm64 and x86_64 with 4 KiB pages: `1 << (MAX_PAGE_ORDER + PAGE_SHIFT)` = 4 MiB
/// (`include/linux/slab.h`).
pub const KMALLOC_MAX_SIZE: u64 = 4 << 20;
/// `PCPU_MIN_UNIT_SIZE` (`include/linux/percpu.h`): 32 KiB, the bound of a per-CPU value.
pub const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
/// `MAX_BPF_STACK` (`include/linux/filter.h`).
pub const MAX_BPF_STACK: u64 = 512;
/// `sizeof(struct htab_elem)` on 64-bit kernels without lock debugging (`kernel/bpf/hashtab.c`): the list node,
/// the freelist/batch union, the rcu/lru union and the hash, rounded to the 8-byte-aligned key.
pub const HTAB_ELEM_SIZE: u64 = 48;
/// `sizeof(struct bucket)` (`kernel/bpf/hashtab.c`): an `hlist_nulls_head` and a raw spinlock.
pub const HTAB_BUCKET_SIZE: u64 = 16;
/// Bytes all maps of one runtime may hold (docs/limits.md). The kernel's limit is memory itself (`bpf_map_area_alloc`
/// fails and `map_create` returns `-ENOMEM`); the model stands in a fixed budget so that a map definition cannot take
/// the host down.
pub const MAP_MEMORY_BUDGET: u64 = 1 << 30;

/// Why `map_create` refused a definition: the kernel's errno and, for people, which check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {errno}")]
pub struct MapCreateError {
    /// The errno `bpf(BPF_MAP_CREATE)` returns.
    pub errno: Errno,
    /// Which check failed, with the values.
    pub reason: String,
}

fn refuse(errno: Errno, reason: String) -> Result<MapDef, MapCreateError> {
    Err(MapCreateError { errno, reason })
}

/// The map types modelled (`enum bpf_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH` (1).
    Hash,
    /// `BPF_MAP_TYPE_ARRAY` (2).
    Array,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (4).
    PerfEventArray,
    /// `BPF_MAP_TYPE_PERCPU_HASH` (5): one value per CPU per key (kernel/bpf/hashtab.c `htab_percpu_map_*`).
    PercpuHash,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY` (6).
    PercpuArray,
    /// `BPF_MAP_TYPE_RINGBUF` (27).
    Ringbuf,
}

impl MapType {
    /// From `enum bpf_map_type`.
    #[must_use]
    pub fn from_raw(t: u32) -> Option<MapType> {
        Some(match t {
            1 => MapType::Hash,
            2 => MapType::Array,
            4 => MapType::PerfEventArray,
            5 => MapType::PercpuHash,
            6 => MapType::PercpuArray,
            27 => MapType::Ringbuf,
            _ => return None,
        })
    }

    /// The `enum bpf_map_type` value.
    #[must_use]
    pub fn raw(self) -> u32 {
        match self {
            MapType::Hash => 1,
            MapType::Array => 2,
            MapType::PerfEventArray => 4,
            MapType::PercpuHash => 5,
            MapType::PercpuArray => 6,
            MapType::Ringbuf => 27,
        }
    }

    /// bpftool's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::PerfEventArray => "perf_event_array",
            MapType::PercpuHash => "percpu_hash",
            MapType::PercpuArray => "percpu_array",
            MapType::Ringbuf => "ringbuf",
        }
    }
}

/// A map definition (`union bpf_attr` for `BPF_MAP_CREATE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Its name (the kernel keeps the first 15 bytes).
    pub name: String,
    /// Its type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of elements (the ring buffer's size in bytes).
    pub max_entries: u32,
    /// `map_flags`.
    pub flags: u32,
}

impl MapDef {
    /// A definition.
    #[must_use]
    pub fn new(name: &str, map_type: MapType, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapDef {
        MapDef { name: name.to_string(), map_type, key_size, value_size, max_entries, flags }
    }

    /// What libbpf and `map_create` (`kernel/bpf/syscall.c`) do before a map exists: libbpf sizes a perf event
    /// array with no `max_entries` to the number of CPUs; then each type's `map_alloc_check` and the size checks of
    /// its `map_alloc` refuse bad sizes with the kernel's errno. Allocation itself (`-ENOMEM`) is
    /// [`MapDef::memory_bytes`] against the runtime's budget.
    pub fn checked(mut self, profile: KernelProfile, nr_cpus: usize) -> Result<MapDef, MapCreateError> {
        use Errno::{E2BIG, EINVAL};
        self.name = self.name.chars().take(15).collect();
        let (k, v, n) = (self.key_size, self.value_size, self.max_entries);
        let (k64, v64) = (u64::from(k), u64::from(v));
        let percpu_too_big = |v: u64| v.next_multiple_of(8) > PCPU_MIN_UNIT_SIZE;
        match self.map_type {
            // kernel/bpf/hashtab.c: htab_map_alloc_check() (a per-CPU value is at most PCPU_MIN_UNIT_SIZE), then
            // htab_map_alloc()'s bucket count.
            MapType::Hash | MapType::PercpuHash => {
                if self.map_type == MapType::PercpuHash && percpu_too_big(v64) {
                    return refuse(E2BIG, format!("percpu value_size {v} exceeds PCPU_MIN_UNIT_SIZE ({PCPU_MIN_UNIT_SIZE})"));
                }
                if n == 0 || k == 0 || v == 0 {
                    return refuse(EINVAL, format!("hash map needs key_size, value_size and max_entries > 0 (got {k}, {v}, {n})"));
                }
                if profile == KernelProfile::V5_10 {
                    // 5.10: "eBPF programs initialize keys on stack, so they cannot be larger than max stack size".
                    if k64 > MAX_BPF_STACK {
                        return refuse(E2BIG, format!("key_size {k} exceeds MAX_BPF_STACK ({MAX_BPF_STACK})"));
                    }
                    if v64 >= KMALLOC_MAX_SIZE - MAX_BPF_STACK - HTAB_ELEM_SIZE {
                        return refuse(E2BIG, format!("value_size {v} reaches KMALLOC_MAX_SIZE - MAX_BPF_STACK - sizeof(struct htab_elem)"));
                    }
                } else if k64 + v64 >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE {
                    return refuse(E2BIG, format!("key_size {k} + value_size {v} reaches KMALLOC_MAX_SIZE - sizeof(struct htab_elem)"));
                }
                // htab_map_alloc(): "prevent zero size kmalloc and check for u32 overflow".
                let n_buckets = u64::from(n).next_power_of_two();
                if n_buckets > u64::from(u32::MAX) / HTAB_BUCKET_SIZE {
                    return refuse(E2BIG, format!("max_entries {n}: {n_buckets} buckets overflow the bucket array"));
                }
            }
            // kernel/bpf/arraymap.c: array_map_alloc_check().
            MapType::Array | MapType::PercpuArray => {
                if n == 0 || k != 4 || v == 0 {
                    return refuse(EINVAL, format!("array map needs key_size 4, value_size > 0, max_entries > 0 (got {k}, {v}, {n})"));
                }
                if profile == KernelProfile::V5_10 {
                    // "if value_size is bigger, the user space won't be able to access the elements".
                    if v64 > KMALLOC_MAX_SIZE {
                        return refuse(E2BIG, format!("value_size {v} exceeds KMALLOC_MAX_SIZE ({KMALLOC_MAX_SIZE})"));
                    }
                } else if v64 > i32::MAX as u64 {
                    // "avoid overflow on round_up(map->value_size)".
                    return refuse(E2BIG, format!("value_size {v} exceeds INT_MAX"));
                }
                if self.map_type == MapType::PercpuArray && percpu_too_big(v64) {
                    return refuse(E2BIG, format!("percpu value_size {v} exceeds PCPU_MIN_UNIT_SIZE ({PCPU_MIN_UNIT_SIZE})"));
                }
            }
            // kernel/bpf/arraymap.c: fd_array_map_alloc_check() (value_size 4), then array_map_alloc_check().
            MapType::PerfEventArray => {
                if n == 0 {
                    self.max_entries = u32::try_from(nr_cpus).unwrap_or(u32::MAX);
                }
                if self.key_size != 4 || self.value_size != 4 {
                    return refuse(EINVAL, format!("perf event array needs key_size 4 and value_size 4 (got {k}, {v})"));
                }
            }
            // kernel/bpf/ringbuf.c: ringbuf_map_alloc().
            MapType::Ringbuf => {
                if k != 0 || v != 0 || !n.is_power_of_two() || u64::from(n) % PAGE_SIZE != 0 {
                    return refuse(
                        EINVAL,
                        format!("ringbuf needs key_size 0, value_size 0 and a power-of-2, page-aligned max_entries (got {k}, {v}, {n})"),
                    );
                }
            }
        }
        Ok(self)
    }

    /// Bytes the kernel's `map_alloc` asks `bpf_map_area_alloc` (and the per-CPU allocator) for: what the runtime's
    /// budget is charged. Array: `array_map_alloc()` (`round_up(value_size, 8)` per element, per CPU for a per-CPU
    /// array plus its pointer array); hash: `htab_map_alloc()` + `prealloc_init()` (buckets, and
    /// `max_entries + num_possible_cpus` preallocated elements); perf event array: one pointer per entry; ringbuf:
    /// `bpf_ringbuf_area_alloc()` (the data pages, and the consumer, producer and header pages).
    #[must_use]
    pub fn memory_bytes(&self, nr_cpus: usize) -> u64 {
        let (k, v, n) = (u128::from(self.key_size), u128::from(self.value_size), u128::from(self.max_entries));
        let cpus = nr_cpus.max(1) as u128;
        let r8 = |x: u128| x.next_multiple_of(8);
        let bytes = match self.map_type {
            MapType::Array => n * r8(v),
            MapType::PercpuArray => n * 8 + n * r8(v) * cpus,
            MapType::Hash => {
                let elem = u128::from(HTAB_ELEM_SIZE) + r8(k) + r8(v);
                n.next_power_of_two() * u128::from(HTAB_BUCKET_SIZE) + (n + cpus) * elem
            }
            // htab_map_alloc() for a per-CPU hash: each element holds a pointer to its per-CPU values.
            MapType::PercpuHash => {
                let elem = u128::from(HTAB_ELEM_SIZE) + r8(k) + 8;
                n.next_power_of_two() * u128::from(HTAB_BUCKET_SIZE) + (n + cpus) * elem + (n + cpus) * r8(v) * cpus
            }
            MapType::PerfEventArray => n * 8,
            MapType::Ringbuf => n + 3 * u128::from(PAGE_SIZE),
        };
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

/// A ring buffer record waiting for `bpf_ringbuf_submit`/`discard`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    data: Vec<u8>,
}

/// `struct bpf_ringbuf` reduced to positions and records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RingBuf {
    producer: u64,
    consumer: u64,
    /// Reserved, not yet committed, by position.
    pending: BTreeMap<u64, Pending>,
    /// Committed records in position order: (position, data, discarded). A record reserved earlier but still
    /// pending blocks the consumer, as the kernel's BUSY bit does.
    committed: BTreeMap<u64, (Vec<u8>, bool)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Storage {
    Hash { index: BTreeMap<Vec<u8>, usize>, slots: Vec<Vec<u8>>, free: Vec<usize> },
    /// Elements back to back, each `round_up(value_size, 8)` bytes (per-CPU arrays: each CPU's copy in turn).
    Array { values: Vec<u8>, stride: usize, count: usize },
    PerfEventArray { open: Vec<bool> },
    Ringbuf(RingBuf),
}

/// The BTF a map was created with (`map->btf`, `btf_key_type_id`, `btf_value_type_id`): `map_create` keeps it
/// only when a key or value type id is given (kernel/bpf/syscall.c), as libbpf gives for `__type(key/value, T)` and
/// for global-data maps (their `DATASEC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapBtf {
    /// The object's BTF.
    pub btf: std::sync::Arc<super::btf::Btf>,
    /// Its id (`bpf_map_info.btf_id`). The simulated kernel has no vmlinux BTF, so objects' BTF count from 1.
    pub btf_id: u32,
    /// `btf_key_type_id` (0: none).
    pub key_type_id: u32,
    /// `btf_value_type_id`.
    pub value_type_id: u32,
}

/// One map instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfMap {
    /// Its kernel id.
    pub id: u32,
    /// Its definition.
    pub def: MapDef,
    /// Its BTF, if created with type ids.
    pub btf: Option<MapBtf>,
    nr_cpus: usize,
    storage: Storage,
}

/// `round_up(x, 8)`.
fn round8(x: u32) -> usize {
    (x as usize + 7) & !7
}

impl BpfMap {
    /// A new, empty map (arrays zero-filled; a perf event array with a buffer open on every CPU, as
    /// `perf_buffer__new` leaves it).
    #[must_use]
    pub fn new(id: u32, def: MapDef, nr_cpus: usize) -> BpfMap {
        let v = round8(def.value_size);
        let storage = match def.map_type {
            MapType::Hash | MapType::PercpuHash => {
                Storage::Hash { index: BTreeMap::new(), slots: Vec::new(), free: Vec::new() }
            }
            MapType::Array | MapType::PercpuArray => {
                let copies = if def.map_type == MapType::PercpuArray { nr_cpus } else { 1 };
                let count = def.max_entries as usize * copies;
                Storage::Array { values: vec![0; count * v], stride: v, count }
            }
            MapType::PerfEventArray => {
                Storage::PerfEventArray { open: (0..def.max_entries as usize).map(|i| i < nr_cpus).collect() }
            }
            MapType::Ringbuf => Storage::Ringbuf(RingBuf::default()),
        };
        BpfMap { id, def, btf: None, nr_cpus, storage }
    }

    /// Number of possible CPUs (a per-CPU map's copies).
    #[must_use]
    pub fn nr_cpus(&self) -> usize {
        self.nr_cpus
    }

    /// Number of value slots (for laying out their VM addresses).
    #[must_use]
    pub fn nr_slots(&self) -> usize {
        match &self.storage {
            Storage::Hash { .. } => self.def.max_entries as usize * self.copies(),
            Storage::Array { count, .. } => *count,
            _ => 0,
        }
    }

    /// The value stored in `slot` (what a lookup's pointer reads; `value_size` bytes).
    #[must_use]
    pub fn value(&self, slot: usize) -> Option<&[u8]> {
        let n = self.def.value_size as usize;
        match &self.storage {
            Storage::Hash { slots, .. } => slots.get(slot).map(|v| &v[..n]),
            Storage::Array { values, stride, count } => {
                (slot < *count).then(|| &values[slot * stride..slot * stride + n])
            }
            _ => None,
        }
    }

    /// The value in `slot`, mutably.
    pub fn value_mut(&mut self, slot: usize) -> Option<&mut [u8]> {
        let n = self.def.value_size as usize;
        match &mut self.storage {
            Storage::Hash { slots, .. } => slots.get_mut(slot).map(|v| &mut v[..n]),
            Storage::Array { values, stride, count } => {
                (slot < *count).then(|| &mut values[slot * *stride..slot * *stride + n])
            }
            _ => None,
        }
    }

    /// Values per element: one per CPU for a per-CPU hash (an element's copies are consecutive slots), else one.
    fn copies(&self) -> usize {
        if self.def.map_type == MapType::PercpuHash { self.nr_cpus } else { 1 }
    }

    fn array_index(&self, key: &[u8]) -> Option<usize> {
        let idx = u32::from_le_bytes(key.get(..4)?.try_into().ok()?);
        (idx < self.def.max_entries).then_some(idx as usize)
    }

    /// `map->ops->map_lookup_elem` from a program on `cpu`: the slot of the element, or `None` (NULL).
    /// `htab_map_lookup_elem`, `array_map_lookup_elem` (index ≥ max_entries → NULL),
    /// `percpu_array_map_lookup_elem` (this CPU's copy).
    #[must_use]
    pub fn lookup(&self, key: &[u8], cpu: usize) -> Option<usize> {
        match &self.storage {
            // htab_percpu_map_lookup_elem(): this CPU's copy.
            Storage::Hash { index, .. } => index.get(key).map(|&s| s + cpu.min(self.copies() - 1)),
            Storage::Array { .. } => {
                let i = self.array_index(key)?;
                Some(if self.def.map_type == MapType::PercpuArray {
                    i * self.nr_cpus + cpu.min(self.nr_cpus - 1)
                } else {
                    i
                })
            }
            _ => None,
        }
    }

    /// `map->ops->map_update_elem` from a program on `cpu` (`htab_map_update_elem`, `array_map_update_elem`):
    /// `Err(errno)` as the kernel returns it (positive here).
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: usize) -> Result<(), Errno> {
        let vsize = self.def.value_size as usize;
        let value = value.get(..vsize).ok_or(Errno::EINVAL)?;
        match self.def.map_type {
            MapType::Hash | MapType::PercpuHash => {
                if flags & !BPF_F_LOCK > BPF_EXIST {
                    return Err(Errno::EINVAL);
                }
                let max = self.def.max_entries as usize;
                let copies = self.copies();
                let Storage::Hash { index, slots, free } = &mut self.storage else { unreachable!() };
                // check_flags()
                let old = index.get(key).copied();
                match (old, flags & !BPF_F_LOCK) {
                    (Some(_), BPF_NOEXIST) => return Err(Errno::EEXIST),
                    (None, BPF_EXIST) => return Err(Errno::ENOENT),
                    _ => {}
                }
                let slot = match old {
                    Some(s) => s,
                    None => {
                        // alloc_htab_elem(): the preallocated freelist is empty when max_entries elements exist.
                        let s = match free.pop() {
                            Some(s) => s,
                            None if slots.len() < max * copies => {
                                slots.extend((0..copies).map(|_| vec![0; round8(self.def.value_size)]));
                                slots.len() - copies
                            }
                            None => return Err(Errno::E2BIG),
                        };
                        // pcpu_init_value(): a new element's other CPUs' copies start zeroed.
                        for c in 0..copies {
                            slots[s + c].fill(0);
                        }
                        index.insert(key.to_vec(), s);
                        s
                    }
                };
                // pcpu_copy_value() from a program (!onallcpus): only this CPU's copy.
                let slot = slot + if copies > 1 { cpu.min(copies - 1) } else { 0 };
                slots[slot][..vsize].copy_from_slice(value);
                Ok(())
            }
            MapType::Array | MapType::PercpuArray => {
                if flags & !BPF_F_LOCK > BPF_EXIST {
                    return Err(Errno::EINVAL);
                }
                let i = u32::from_le_bytes(key.get(..4).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?);
                if i >= self.def.max_entries {
                    return Err(Errno::E2BIG);
                }
                if flags & !BPF_F_LOCK == BPF_NOEXIST {
                    return Err(Errno::EEXIST);
                }
                let slot = self.lookup(key, cpu).ok_or(Errno::E2BIG)?;
                self.value_mut(slot).ok_or(Errno::EINVAL)?.copy_from_slice(value);
                Ok(())
            }
            // Programs may not update these (the verifier refuses); user space goes through the fd paths.
            MapType::PerfEventArray | MapType::Ringbuf => Err(Errno::EOPNOTSUPP),
        }
    }

    /// `map->ops->map_delete_elem` (`htab_map_delete_elem`; arrays return `-EINVAL`).
    pub fn delete(&mut self, key: &[u8]) -> Result<(), Errno> {
        match &mut self.storage {
            Storage::Hash { index, free, .. } => {
                let slot = index.remove(key).ok_or(Errno::ENOENT)?;
                free.push(slot);
                Ok(())
            }
            Storage::Array { .. } => Err(Errno::EINVAL),
            Storage::PerfEventArray { open } => {
                let i = u32::from_le_bytes(key.get(..4).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?);
                match open.get_mut(i as usize) {
                    Some(o) if *o => {
                        *o = false;
                        Ok(())
                    }
                    Some(_) => Err(Errno::ENOENT),
                    None => Err(Errno::E2BIG),
                }
            }
            Storage::Ringbuf(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    /// The elements as (key, value) in key order; a per-CPU array or hash lists each CPU's copy as its own value.
    #[must_use]
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let n = self.def.value_size as usize;
        match &self.storage {
            Storage::Hash { index, slots, .. } => index
                .iter()
                .flat_map(|(k, &s)| (0..self.copies()).map(move |c| (k.clone(), slots[s + c][..n].to_vec())))
                .collect(),
            Storage::Array { values, stride, .. } => values
                .chunks((*stride).max(1))
                .enumerate()
                .map(|(i, v)| {
                    let idx = if self.def.map_type == MapType::PercpuArray { i / self.nr_cpus } else { i };
                    ((idx as u32).to_le_bytes().to_vec(), v[..n].to_vec())
                })
                .collect(),
            Storage::PerfEventArray { open } => open
                .iter()
                .enumerate()
                .filter(|(_, o)| **o)
                .map(|(i, _)| ((i as u32).to_le_bytes().to_vec(), (i as u32).to_le_bytes().to_vec()))
                .collect(),
            Storage::Ringbuf(_) => Vec::new(),
        }
    }

    /// Number of elements (hash: present keys; array: max_entries).
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Hash { index, .. } => index.len(),
            _ => self.entries().len(),
        }
    }

    /// Whether there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ---- perf event array ------------------------------------------------------------------------------------------

    /// `__bpf_perf_event_output`'s checks: the buffer index a record from `cpu` with `flags` goes to, or the errno.
    pub fn perf_index(&self, flags: u64, cpu: usize) -> Result<usize, Errno> {
        let Storage::PerfEventArray { open } = &self.storage else { return Err(Errno::EINVAL) };
        if flags & !BPF_F_INDEX_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        let mut index = flags & BPF_F_INDEX_MASK;
        if index == BPF_F_CURRENT_CPU {
            index = cpu as u64;
        }
        if index >= u64::from(self.def.max_entries) {
            return Err(Errno::E2BIG);
        }
        if !open[index as usize] {
            return Err(Errno::ENOENT);
        }
        // The event behind index i is the perf buffer opened on CPU i (`event->oncpu != cpu`).
        if index as usize != cpu {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(index as usize)
    }

    /// User space opens (or, with `false`, closes) the perf buffer of `index`.
    pub fn set_perf_open(&mut self, index: usize, open_it: bool) {
        if let Storage::PerfEventArray { open } = &mut self.storage {
            if let Some(o) = open.get_mut(index) {
                *o = open_it;
            }
        }
    }

    // ---- ring buffer -----------------------------------------------------------------------------------------------

    /// `__bpf_ringbuf_reserve`: reserves `size` bytes, returning the record's position, or `None` (NULL) when the
    /// record does not fit in the free space (`new_prod_pos - cons_pos > rb->mask`).
    pub fn ringbuf_reserve(&mut self, size: u64) -> Option<u64> {
        let cap = u64::from(self.def.max_entries);
        let Storage::Ringbuf(rb) = &mut self.storage else { return None };
        if size > cap.saturating_sub(BPF_RINGBUF_HDR_SZ) {
            return None;
        }
        let total = (size + BPF_RINGBUF_HDR_SZ + 7) & !7;
        let new_prod = rb.producer + total;
        if new_prod - rb.consumer > cap - 1 {
            return None;
        }
        let pos = rb.producer;
        rb.producer = new_prod;
        rb.pending.insert(pos, Pending { data: vec![0; size as usize] });
        Some(pos)
    }

    /// The bytes of the pending record at `pos`.
    #[must_use]
    pub fn ringbuf_record(&self, pos: u64) -> Option<&[u8]> {
        match &self.storage {
            Storage::Ringbuf(rb) => rb.pending.get(&pos).map(|p| &p.data[..]),
            _ => None,
        }
    }

    /// The bytes of the pending record at `pos`, mutably.
    pub fn ringbuf_record_mut(&mut self, pos: u64) -> Option<&mut [u8]> {
        match &mut self.storage {
            Storage::Ringbuf(rb) => rb.pending.get_mut(&pos).map(|p| &mut p.data[..]),
            _ => None,
        }
    }

    /// `bpf_ringbuf_commit`: submits (or discards) the record at `pos`. Returns its size, or `None` if no record is
    /// pending there.
    pub fn ringbuf_commit(&mut self, pos: u64, discard: bool) -> Option<usize> {
        let Storage::Ringbuf(rb) = &mut self.storage else { return None };
        let p = rb.pending.remove(&pos)?;
        let n = p.data.len();
        rb.committed.insert(pos, (p.data, discard));
        Some(n)
    }

    /// User space consumes (`ring_buffer__consume`): every committed, non-discarded record up to the first one
    /// still reserved, in order; the consumer position advances past them.
    pub fn ringbuf_drain(&mut self) -> Vec<Vec<u8>> {
        let Storage::Ringbuf(rb) = &mut self.storage else { return Vec::new() };
        let mut out = Vec::new();
        let first_busy = rb.pending.keys().next().copied().unwrap_or(u64::MAX);
        let ready: Vec<u64> = rb.committed.keys().copied().filter(|&p| p < first_busy).collect();
        for pos in ready {
            if let Some((data, discarded)) = rb.committed.remove(&pos) {
                let total = (data.len() as u64 + BPF_RINGBUF_HDR_SZ + 7) & !7;
                rb.consumer = pos + total;
                if !discarded {
                    out.push(data);
                }
            }
        }
        out
    }

    /// Bytes reserved and not yet consumed.
    #[must_use]
    pub fn ringbuf_used(&self) -> u64 {
        match &self.storage {
            Storage::Ringbuf(rb) => rb.producer - rb.consumer,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(max: u32) -> BpfMap {
        BpfMap::new(1, MapDef::new("h", MapType::Hash, 4, 8, max, 0).checked(KernelProfile::V6_12, 2).unwrap(), 2)
    }

    #[test]
    fn a_percpu_hash_keeps_one_value_per_cpu() {
        let def = MapDef::new("p", MapType::PercpuHash, 4, 8, 2, 0).checked(KernelProfile::V6_12, 2).unwrap();
        let mut m = BpfMap::new(1, def, 2);
        let k = 7u32.to_le_bytes();
        // A program on CPU 1 inserts: only CPU 1's copy gets the value (pcpu_init_value zeroes the others).
        m.update(&k, &5u64.to_le_bytes(), BPF_ANY, 1).unwrap();
        let (s0, s1) = (m.lookup(&k, 0).unwrap(), m.lookup(&k, 1).unwrap());
        assert_ne!(s0, s1);
        assert_eq!(m.value(s0).unwrap(), &[0; 8]);
        assert_eq!(m.value(s1).unwrap(), &5u64.to_le_bytes());
        m.update(&k, &3u64.to_le_bytes(), BPF_ANY, 0).unwrap();
        let values: Vec<Vec<u8>> = m.entries().into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, vec![3u64.to_le_bytes().to_vec(), 5u64.to_le_bytes().to_vec()]);
        assert_eq!(m.len(), 1);
        m.update(&8u32.to_le_bytes(), &[0; 8], BPF_ANY, 0).unwrap();
        assert_eq!(m.update(&9u32.to_le_bytes(), &[0; 8], BPF_ANY, 0), Err(Errno::E2BIG));
        m.delete(&k).unwrap();
        assert!(m.lookup(&k, 1).is_none());
        m.update(&9u32.to_le_bytes(), &[1; 8], BPF_ANY, 1).unwrap();
        assert_eq!(m.value(m.lookup(&9u32.to_le_bytes(), 0).unwrap()).unwrap(), &[0; 8]);
    }

    #[test]
    fn hash_update_flags_and_capacity() {
        let mut m = hash(2);
        let k = |i: u32| i.to_le_bytes();
        assert_eq!(m.update(&k(1), &[1; 8], BPF_EXIST, 0), Err(Errno::ENOENT));
        assert_eq!(m.update(&k(1), &[1; 8], BPF_NOEXIST, 0), Ok(()));
        assert_eq!(m.update(&k(1), &[2; 8], BPF_NOEXIST, 0), Err(Errno::EEXIST));
        assert_eq!(m.update(&k(1), &[2; 8], BPF_EXIST, 0), Ok(()));
        assert_eq!(m.update(&k(2), &[3; 8], BPF_ANY, 0), Ok(()));
        assert_eq!(m.update(&k(3), &[4; 8], BPF_ANY, 0), Err(Errno::E2BIG), "full");
        assert_eq!(m.update(&k(2), &[5; 8], BPF_ANY, 0), Ok(()), "an existing key can still be updated when full");
        assert_eq!(m.update(&k(3), &[4; 8], 3, 0), Err(Errno::EINVAL));
        let s1 = m.lookup(&k(1), 0).unwrap();
        assert_eq!(m.value(s1), Some(&[2u8; 8][..]));
        assert_eq!(m.delete(&k(1)), Ok(()));
        assert_eq!(m.delete(&k(1)), Err(Errno::ENOENT));
        assert_eq!(m.lookup(&k(1), 0), None);
        assert_eq!(m.update(&k(3), &[4; 8], BPF_ANY, 0), Ok(()));
        assert_eq!(m.lookup(&k(3), 0), Some(s1), "the freed element is reused");
        assert_eq!(m.entries().len(), 2);
    }

    #[test]
    fn arrays() {
        let mut a = BpfMap::new(2, MapDef::new("a", MapType::Array, 4, 4, 3, 0).checked(KernelProfile::V6_12, 2).unwrap(), 2);
        assert_eq!(a.lookup(&3u32.to_le_bytes(), 0), None);
        assert_eq!(a.update(&1u32.to_le_bytes(), &[9, 0, 0, 0], BPF_NOEXIST, 0), Err(Errno::EEXIST));
        assert_eq!(a.update(&3u32.to_le_bytes(), &[9, 0, 0, 0], BPF_ANY, 0), Err(Errno::E2BIG));
        assert_eq!(a.update(&1u32.to_le_bytes(), &[9, 0, 0, 0], BPF_EXIST, 0), Ok(()));
        assert_eq!(a.delete(&1u32.to_le_bytes()), Err(Errno::EINVAL));
        let mut p = BpfMap::new(3, MapDef::new("p", MapType::PercpuArray, 4, 8, 1, 0).checked(KernelProfile::V6_12, 2).unwrap(), 2);
        let (c0, c1) = (p.lookup(&0u32.to_le_bytes(), 0).unwrap(), p.lookup(&0u32.to_le_bytes(), 1).unwrap());
        assert_ne!(c0, c1);
        p.value_mut(c1).unwrap()[0] = 7;
        assert_eq!(p.value(c0).unwrap()[0], 0);
        assert!(MapDef::new("x", MapType::Array, 8, 4, 1, 0).checked(KernelProfile::V6_12, 1).is_err());
        assert!(MapDef::new("x", MapType::Ringbuf, 0, 0, 4000, 0).checked(KernelProfile::V6_12, 1).is_err());
        assert_eq!(MapDef::new("x", MapType::PerfEventArray, 4, 4, 0, 0).checked(KernelProfile::V6_12, 4).unwrap().max_entries, 4);
    }

    fn refused(def: MapDef, profile: KernelProfile) -> Errno {
        def.checked(profile, 4).expect_err("refused").errno
    }

    /// The creation checks of `map_create` with the kernel's errnos (issue 11, finding 3: `max_entries =
    /// 0x7fffffff` aborted allocating 51 GB; a huge `value_size` hung).
    #[test]
    fn map_create_checks_use_the_kernels_errnos() {
        use KernelProfile::{V5_10, V6_12};
        let def = |t, k, v, n| MapDef::new("m", t, k, v, n, 0);
        for p in [V5_10, V6_12] {
            // Zero sizes: -EINVAL (htab_map_alloc_check, array_map_alloc_check).
            assert_eq!(refused(def(MapType::Hash, 0, 8, 1), p), Errno::EINVAL);
            assert_eq!(refused(def(MapType::Hash, 4, 8, 0), p), Errno::EINVAL);
            assert_eq!(refused(def(MapType::Array, 4, 0, 1), p), Errno::EINVAL);
            assert_eq!(refused(def(MapType::Array, 4, 8, 0), p), Errno::EINVAL);
            // A hash element must be kmalloc-able: -E2BIG.
            assert_eq!(refused(def(MapType::Hash, 4, u32::MAX, 1), p), Errno::E2BIG);
            // More buckets than a u32-sized bucket array holds: -E2BIG (htab_map_alloc).
            assert_eq!(refused(def(MapType::Hash, 4, 8, 0x7fff_ffff), p), Errno::E2BIG);
            assert!(def(MapType::Hash, 4, 8, 1 << 27).checked(p, 4).is_ok());
            assert_eq!(refused(def(MapType::Hash, 4, 8, (1 << 27) + 1), p), Errno::E2BIG);
            // Per-CPU values are bounded by PCPU_MIN_UNIT_SIZE: -E2BIG.
            assert_eq!(refused(def(MapType::PercpuArray, 4, 32 * 1024 + 1, 1), p), Errno::E2BIG);
            assert!(def(MapType::PercpuArray, 4, 32 * 1024, 1).checked(p, 4).is_ok());
            // Ring buffers: a power of two, page aligned: -EINVAL.
            assert_eq!(refused(def(MapType::Ringbuf, 0, 0, 4096 * 3), p), Errno::EINVAL);
            assert_eq!(refused(def(MapType::Ringbuf, 0, 0, 2048), p), Errno::EINVAL);
        }
        // Array values: KMALLOC_MAX_SIZE on 5.10, INT_MAX since (mmapable arrays may be large).
        assert_eq!(refused(def(MapType::Array, 4, (4 << 20) + 1, 1), V5_10), Errno::E2BIG);
        assert!(def(MapType::Array, 4, (4 << 20) + 1, 1).checked(V6_12, 4).is_ok());
        assert_eq!(refused(def(MapType::Array, 4, 0x8000_0000, 1), V6_12), Errno::E2BIG);
        // 5.10's hash keys live on the BPF stack.
        assert_eq!(refused(def(MapType::Hash, 513, 8, 1), V5_10), Errno::E2BIG);
        assert!(def(MapType::Hash, 513, 8, 1).checked(V6_12, 4).is_ok());
    }

    /// What the budget is charged: the kernel's allocation sizes, without overflow.
    #[test]
    fn memory_bytes_follow_map_alloc() {
        assert_eq!(MapDef::new("a", MapType::Array, 4, 5, 10, 0).memory_bytes(2), 80);
        assert_eq!(MapDef::new("p", MapType::PercpuArray, 4, 8, 10, 0).memory_bytes(2), 80 + 160);
        assert_eq!(MapDef::new("h", MapType::Hash, 4, 8, 3, 0).memory_bytes(1), 4 * 16 + 4 * (48 + 8 + 8));
        assert_eq!(MapDef::new("a", MapType::Array, 4, u32::MAX, u32::MAX, 0).memory_bytes(128), (u64::from(u32::MAX) * (u64::from(u32::MAX) + 1)));
        assert_eq!(MapDef::new("p", MapType::PercpuArray, 4, u32::MAX, u32::MAX, 0).memory_bytes(usize::MAX), u64::MAX);
    }

    #[test]
    fn ringbuf_reserve_commit_drain() {
        let mut r = BpfMap::new(4, MapDef::new("rb", MapType::Ringbuf, 0, 0, 4096, 0).checked(KernelProfile::V6_12, 1).unwrap(), 1);
        let a = r.ringbuf_reserve(100).unwrap();
        let b = r.ringbuf_reserve(10).unwrap();
        assert_eq!(b, a + 112);
        assert!(r.ringbuf_reserve(4000).is_none(), "does not fit");
        r.ringbuf_record_mut(b).unwrap()[0] = 1;
        r.ringbuf_commit(b, false).unwrap();
        assert!(r.ringbuf_drain().is_empty(), "the earlier record is still reserved");
        r.ringbuf_commit(a, true).unwrap();
        assert_eq!(
            r.ringbuf_drain(),
            vec![{
                let mut v = vec![0; 10];
                v[0] = 1;
                v
            }]
        );
        assert_eq!(r.ringbuf_used(), 0);
    }
}
