//! The map helpers (kernel/bpf/helpers.c: `bpf_map_lookup_elem`, `bpf_map_update_elem`, `bpf_map_delete_elem`),
//! which call the map's ops ([`crate::bpf::maps`]).

use super::*;

impl Env<'_> {
    /// `BPF_CALL_2(bpf_map_lookup_elem, map, key)`: a pointer to the value (an external region backed by the map) or NULL.
    pub(super) fn map_lookup_elem(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let idx = self.map_idx(a[0])?;
        let (ks, ty) = (self.maps[idx].def.key_size as usize, self.maps[idx].def.map_type);
        if matches!(ty, MapType::PerfEventArray | MapType::Ringbuf) {
            return Err(HelperError::Failed(format!("map type {} has no lookup from programs", ty.name())));
        }
        let key = self.read_mem(mem, a[1], ks)?;
        match self.maps[idx].lookup(&key, self.cpu.0) {
            Some(slot) => self.value_ptr(mem, idx, slot),
            None => Ok(0),
        }
    
    }

    /// `BPF_CALL_4(bpf_map_update_elem, map, key, value, flags)`.
    pub(super) fn map_update_elem(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let idx = self.map_idx(a[0])?;
        let (ks, vs) = (self.maps[idx].def.key_size as usize, self.maps[idx].def.value_size as usize);
        let key = self.read_mem(mem, a[1], ks)?;
        let value = self.read_mem(mem, a[2], vs)?;
        Ok(match self.maps[idx].update(&key, &value, a[3], self.cpu.0) {
            Ok(()) => 0,
            Err(e) => neg(e),
        })
    
    }

    /// `BPF_CALL_2(bpf_map_delete_elem, map, key)`.
    pub(super) fn map_delete_elem(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let idx = self.map_idx(a[0])?;
        let key = self.read_mem(mem, a[1], self.maps[idx].def.key_size as usize)?;
        Ok(match self.maps[idx].delete(&key) {
            Ok(()) => 0,
            Err(e) => neg(e),
        })
    
    }
}
