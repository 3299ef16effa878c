//! The ring buffer helpers (kernel/bpf/ringbuf.c: `bpf_ringbuf_output`, `bpf_ringbuf_reserve`, `bpf_ringbuf_submit`,
//! `bpf_ringbuf_discard`) over [`crate::bpf::maps::RingBuf`].

use super::*;

impl Env<'_> {
    /// `BPF_CALL_4(bpf_ringbuf_output, map, data, size, flags)`.
    pub(super) fn ringbuf_output(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let idx = self.map_idx(a[0])?;
        if self.maps[idx].def.map_type != MapType::Ringbuf {
            return Err(HelperError::Failed("bpf_ringbuf_output needs a ring buffer".into()));
        }
        let data = self.read_mem(mem, a[1], a[2] as usize)?;
        // BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP
        if a[3] & !3 != 0 {
            return Ok(neg(Errno::EINVAL));
        }
        let Some(pos) = self.maps[idx].ringbuf_reserve(data.len() as u64) else {
            return Ok(neg(Errno::EAGAIN));
        };
        if let Some(rec) = self.maps[idx].ringbuf_record_mut(pos) {
            rec.copy_from_slice(&data);
        }
        self.maps[idx].ringbuf_commit(pos, false);
        self.emit_output(idx, BpfBuffer::Ringbuf, self.cpu.0, data.len());
        Ok(0)
    
    }

    /// `BPF_CALL_3(bpf_ringbuf_reserve, map, size, flags)`: the record (an external region) or NULL.
    pub(super) fn ringbuf_reserve(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let idx = self.map_idx(a[0])?;
        if self.maps[idx].def.map_type != MapType::Ringbuf {
            return Err(HelperError::Failed("bpf_ringbuf_reserve needs a ring buffer".into()));
        }
        if a[2] != 0 {
            return Ok(0);
        }
        let Some(pos) = self.maps[idx].ringbuf_reserve(a[1]) else { return Ok(0) };
        let addr = ring_addr(idx, pos);
        let handle = self.ext.len() as u64;
        self.ext.push(Ext::Ring { idx, pos });
        let kind = RegionKind::MapValue { map: self.maps[idx].id, index: pos | 1 << 63 };
        mem.map_external_at(addr, kind, handle, a[1], true).map_err(|e| HelperError::Failed(e.to_string()))?;
        Ok(addr)
    
    }

    /// `bpf_ringbuf_submit` / `bpf_ringbuf_discard` (`bpf_ringbuf_commit`).
    pub(super) fn ringbuf_commit(&mut self, id: u32, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let (base, idx, pos) = self.ring_record(mem, a[0])?;
        let discard = id == BPF_FUNC_RINGBUF_DISCARD;
        let n = self.maps[idx].ringbuf_commit(pos, discard).unwrap_or(0);
        mem.unmap(base);
        if !discard {
            self.emit_output(idx, BpfBuffer::Ringbuf, self.cpu.0, n);
        }
        Ok(0)
    
    }

    /// The ring buffer record a program passes to submit/discard.
    pub(super) fn ring_record(&self, mem: &Memory, sample: u64) -> Result<(u64, usize, u64), HelperError> {
        let bad = || HelperError::Failed(format!("{sample:#x} is not a reserved ring buffer record"));
        let r = mem.region_containing(sample).filter(|r| r.base() == sample).ok_or_else(bad)?;
        let Backing::External { handle } = r.backing() else { return Err(bad()) };
        match self.ext.get(*handle as usize) {
            Some(Ext::Ring { idx, pos }) => Ok((r.base(), *idx, *pos)),
            _ => Err(bad()),
        }
    }
}
