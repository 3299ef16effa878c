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

/// Errno values the map operations return (negated by the helpers).
pub mod errno {
    /// `ENOENT`.
    pub const ENOENT: i64 = 2;
    /// `E2BIG`.
    pub const E2BIG: i64 = 7;
    /// `EAGAIN`.
    pub const EAGAIN: i64 = 11;
    /// `EFAULT`.
    pub const EFAULT: i64 = 14;
    /// `EBUSY`.
    pub const EBUSY: i64 = 16;
    /// `EEXIST`.
    pub const EEXIST: i64 = 17;
    /// `EINVAL`.
    pub const EINVAL: i64 = 22;
    /// `ERANGE`.
    pub const ERANGE: i64 = 34;
    /// `EOPNOTSUPP`.
    pub const EOPNOTSUPP: i64 = 95;
}

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

/// The map types modelled (`enum bpf_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH` (1).
    Hash,
    /// `BPF_MAP_TYPE_ARRAY` (2).
    Array,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (4).
    PerfEventArray,
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

    /// What libbpf and `map_create` do before a map exists: libbpf sizes a perf event array with no
    /// `max_entries` to the number of CPUs; the kernel's `*_map_alloc_check` refuses bad sizes with `EINVAL`.
    pub fn checked(mut self, nr_cpus: usize) -> Result<MapDef, String> {
        self.name = self.name.chars().take(15).collect();
        let (k, v, n) = (self.key_size, self.value_size, self.max_entries);
        match self.map_type {
            MapType::Hash => {
                if n == 0 || k == 0 || v == 0 {
                    return Err(format!(
                        "hash map needs key_size, value_size and max_entries > 0 (got {k}, {v}, {n}): -EINVAL"
                    ));
                }
                if k > 512 {
                    return Err(format!("key_size {k} exceeds MAX_BPF_STACK: -E2BIG"));
                }
            }
            MapType::Array | MapType::PercpuArray => {
                if n == 0 || k != 4 || v == 0 {
                    return Err(format!(
                        "array map needs key_size 4, value_size > 0, max_entries > 0 (got {k}, {v}, {n}): -EINVAL"
                    ));
                }
                if self.map_type == MapType::PercpuArray && v > 32768 {
                    return Err(format!("percpu value_size {v} exceeds PCPU_MIN_UNIT_SIZE: -E2BIG"));
                }
            }
            MapType::PerfEventArray => {
                if n == 0 {
                    self.max_entries = nr_cpus as u32;
                }
                if self.key_size != 4 || self.value_size != 4 {
                    return Err(format!("perf event array needs key_size 4 and value_size 4 (got {k}, {v}): -EINVAL"));
                }
            }
            MapType::Ringbuf => {
                if k != 0 || v != 0 || !n.is_power_of_two() || u64::from(n) % PAGE_SIZE != 0 {
                    return Err(format!(
                        "ringbuf needs key_size 0, value_size 0 and a power-of-2, page-aligned max_entries (got {k}, {v}, {n}): -EINVAL"
                    ));
                }
            }
        }
        Ok(self)
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
    Array { values: Vec<Vec<u8>> },
    PerfEventArray { open: Vec<bool> },
    Ringbuf(RingBuf),
}

/// One map instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfMap {
    /// Its kernel id.
    pub id: u32,
    /// Its definition.
    pub def: MapDef,
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
            MapType::Hash => Storage::Hash { index: BTreeMap::new(), slots: Vec::new(), free: Vec::new() },
            MapType::Array => Storage::Array { values: vec![vec![0; v]; def.max_entries as usize] },
            MapType::PercpuArray => Storage::Array { values: vec![vec![0; v]; def.max_entries as usize * nr_cpus] },
            MapType::PerfEventArray => {
                Storage::PerfEventArray { open: (0..def.max_entries as usize).map(|i| i < nr_cpus).collect() }
            }
            MapType::Ringbuf => Storage::Ringbuf(RingBuf::default()),
        };
        BpfMap { id, def, nr_cpus, storage }
    }

    /// Number of value slots (for laying out their VM addresses).
    #[must_use]
    pub fn nr_slots(&self) -> usize {
        match &self.storage {
            Storage::Hash { .. } => self.def.max_entries as usize,
            Storage::Array { values } => values.len(),
            _ => 0,
        }
    }

    /// The value stored in `slot` (what a lookup's pointer reads; `value_size` bytes).
    #[must_use]
    pub fn value(&self, slot: usize) -> Option<&[u8]> {
        let n = self.def.value_size as usize;
        match &self.storage {
            Storage::Hash { slots, .. } => slots.get(slot).map(|v| &v[..n]),
            Storage::Array { values } => values.get(slot).map(|v| &v[..n]),
            _ => None,
        }
    }

    /// The value in `slot`, mutably.
    pub fn value_mut(&mut self, slot: usize) -> Option<&mut [u8]> {
        let n = self.def.value_size as usize;
        match &mut self.storage {
            Storage::Hash { slots, .. } => slots.get_mut(slot).map(|v| &mut v[..n]),
            Storage::Array { values } => values.get_mut(slot).map(|v| &mut v[..n]),
            _ => None,
        }
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
            Storage::Hash { index, .. } => index.get(key).copied(),
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
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: usize) -> Result<(), i64> {
        let vsize = self.def.value_size as usize;
        let value = value.get(..vsize).ok_or(errno::EINVAL)?;
        match self.def.map_type {
            MapType::Hash => {
                if flags & !BPF_F_LOCK > BPF_EXIST {
                    return Err(errno::EINVAL);
                }
                let max = self.def.max_entries as usize;
                let Storage::Hash { index, slots, free } = &mut self.storage else { unreachable!() };
                // check_flags()
                let old = index.get(key).copied();
                match (old, flags & !BPF_F_LOCK) {
                    (Some(_), BPF_NOEXIST) => return Err(errno::EEXIST),
                    (None, BPF_EXIST) => return Err(errno::ENOENT),
                    _ => {}
                }
                let slot = match old {
                    Some(s) => s,
                    None => {
                        // alloc_htab_elem(): the preallocated freelist is empty when max_entries elements exist.
                        let s = match free.pop() {
                            Some(s) => s,
                            None if slots.len() < max => {
                                slots.push(vec![0; round8(self.def.value_size)]);
                                slots.len() - 1
                            }
                            None => return Err(errno::E2BIG),
                        };
                        index.insert(key.to_vec(), s);
                        s
                    }
                };
                slots[slot][..vsize].copy_from_slice(value);
                Ok(())
            }
            MapType::Array | MapType::PercpuArray => {
                if flags & !BPF_F_LOCK > BPF_EXIST {
                    return Err(errno::EINVAL);
                }
                let i = u32::from_le_bytes(key.get(..4).ok_or(errno::EINVAL)?.try_into().map_err(|_| errno::EINVAL)?);
                if i >= self.def.max_entries {
                    return Err(errno::E2BIG);
                }
                if flags & !BPF_F_LOCK == BPF_NOEXIST {
                    return Err(errno::EEXIST);
                }
                let slot = self.lookup(key, cpu).ok_or(errno::E2BIG)?;
                self.value_mut(slot).ok_or(errno::EINVAL)?.copy_from_slice(value);
                Ok(())
            }
            // Programs may not update these (the verifier refuses); user space goes through the fd paths.
            MapType::PerfEventArray | MapType::Ringbuf => Err(errno::EOPNOTSUPP),
        }
    }

    /// `map->ops->map_delete_elem` (`htab_map_delete_elem`; arrays return `-EINVAL`).
    pub fn delete(&mut self, key: &[u8]) -> Result<(), i64> {
        match &mut self.storage {
            Storage::Hash { index, free, .. } => {
                let slot = index.remove(key).ok_or(errno::ENOENT)?;
                free.push(slot);
                Ok(())
            }
            Storage::Array { .. } => Err(errno::EINVAL),
            Storage::PerfEventArray { open } => {
                let i = u32::from_le_bytes(key.get(..4).ok_or(errno::EINVAL)?.try_into().map_err(|_| errno::EINVAL)?);
                match open.get_mut(i as usize) {
                    Some(o) if *o => {
                        *o = false;
                        Ok(())
                    }
                    Some(_) => Err(errno::ENOENT),
                    None => Err(errno::E2BIG),
                }
            }
            Storage::Ringbuf(_) => Err(errno::EOPNOTSUPP),
        }
    }

    /// The elements as (key, value) in key order; a per-CPU array lists each CPU's copy as its own value.
    #[must_use]
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let n = self.def.value_size as usize;
        match &self.storage {
            Storage::Hash { index, slots, .. } => {
                index.iter().map(|(k, &s)| (k.clone(), slots[s][..n].to_vec())).collect()
            }
            Storage::Array { values } => values
                .iter()
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
    pub fn perf_index(&self, flags: u64, cpu: usize) -> Result<usize, i64> {
        let Storage::PerfEventArray { open } = &self.storage else { return Err(errno::EINVAL) };
        if flags & !BPF_F_INDEX_MASK != 0 {
            return Err(errno::EINVAL);
        }
        let mut index = flags & BPF_F_INDEX_MASK;
        if index == BPF_F_CURRENT_CPU {
            index = cpu as u64;
        }
        if index >= u64::from(self.def.max_entries) {
            return Err(errno::E2BIG);
        }
        if !open[index as usize] {
            return Err(errno::ENOENT);
        }
        // The event behind index i is the perf buffer opened on CPU i (`event->oncpu != cpu`).
        if index as usize != cpu {
            return Err(errno::EOPNOTSUPP);
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
        BpfMap::new(1, MapDef::new("h", MapType::Hash, 4, 8, max, 0).checked(2).unwrap(), 2)
    }

    #[test]
    fn hash_update_flags_and_capacity() {
        let mut m = hash(2);
        let k = |i: u32| i.to_le_bytes();
        assert_eq!(m.update(&k(1), &[1; 8], BPF_EXIST, 0), Err(errno::ENOENT));
        assert_eq!(m.update(&k(1), &[1; 8], BPF_NOEXIST, 0), Ok(()));
        assert_eq!(m.update(&k(1), &[2; 8], BPF_NOEXIST, 0), Err(errno::EEXIST));
        assert_eq!(m.update(&k(1), &[2; 8], BPF_EXIST, 0), Ok(()));
        assert_eq!(m.update(&k(2), &[3; 8], BPF_ANY, 0), Ok(()));
        assert_eq!(m.update(&k(3), &[4; 8], BPF_ANY, 0), Err(errno::E2BIG), "full");
        assert_eq!(m.update(&k(2), &[5; 8], BPF_ANY, 0), Ok(()), "an existing key can still be updated when full");
        assert_eq!(m.update(&k(3), &[4; 8], 3, 0), Err(errno::EINVAL));
        let s1 = m.lookup(&k(1), 0).unwrap();
        assert_eq!(m.value(s1), Some(&[2u8; 8][..]));
        assert_eq!(m.delete(&k(1)), Ok(()));
        assert_eq!(m.delete(&k(1)), Err(errno::ENOENT));
        assert_eq!(m.lookup(&k(1), 0), None);
        assert_eq!(m.update(&k(3), &[4; 8], BPF_ANY, 0), Ok(()));
        assert_eq!(m.lookup(&k(3), 0), Some(s1), "the freed element is reused");
        assert_eq!(m.entries().len(), 2);
    }

    #[test]
    fn arrays() {
        let mut a = BpfMap::new(2, MapDef::new("a", MapType::Array, 4, 4, 3, 0).checked(2).unwrap(), 2);
        assert_eq!(a.lookup(&3u32.to_le_bytes(), 0), None);
        assert_eq!(a.update(&1u32.to_le_bytes(), &[9, 0, 0, 0], BPF_NOEXIST, 0), Err(errno::EEXIST));
        assert_eq!(a.update(&3u32.to_le_bytes(), &[9, 0, 0, 0], BPF_ANY, 0), Err(errno::E2BIG));
        assert_eq!(a.update(&1u32.to_le_bytes(), &[9, 0, 0, 0], BPF_EXIST, 0), Ok(()));
        assert_eq!(a.delete(&1u32.to_le_bytes()), Err(errno::EINVAL));
        let mut p = BpfMap::new(3, MapDef::new("p", MapType::PercpuArray, 4, 8, 1, 0).checked(2).unwrap(), 2);
        let (c0, c1) = (p.lookup(&0u32.to_le_bytes(), 0).unwrap(), p.lookup(&0u32.to_le_bytes(), 1).unwrap());
        assert_ne!(c0, c1);
        p.value_mut(c1).unwrap()[0] = 7;
        assert_eq!(p.value(c0).unwrap()[0], 0);
        assert!(MapDef::new("x", MapType::Array, 8, 4, 1, 0).checked(1).is_err());
        assert!(MapDef::new("x", MapType::Ringbuf, 0, 0, 4000, 0).checked(1).is_err());
        assert_eq!(MapDef::new("x", MapType::PerfEventArray, 4, 4, 0, 0).checked(4).unwrap().max_entries, 4);
    }

    #[test]
    fn ringbuf_reserve_commit_drain() {
        let mut r = BpfMap::new(4, MapDef::new("rb", MapType::Ringbuf, 0, 0, 4096, 0).checked(1).unwrap(), 1);
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
