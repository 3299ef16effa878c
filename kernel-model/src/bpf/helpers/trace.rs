//! The tracing helpers of kernel/trace/bpf_trace.c: `bpf_trace_printk` (through [`crate::bpf::printk`]),
//! `bpf_perf_event_output`, `bpf_override_return`, `bpf_get_current_task`.

use super::*;

/// Reads for `bpf_trace_printk`'s `%s`/`%pI4`, through the same rules as the probe_read helpers.
struct PrintkReader<'e, 'a> {
    env: &'e mut Env<'a>,
    mem: &'e Memory,
}

impl PrintkEnv for PrintkReader<'_, '_> {
    fn read_str(&mut self, src: StrSource, addr: u64, max: usize) -> Option<Vec<u8>> {
        let user = match src {
            StrSource::User => true,
            StrSource::Kernel => false,
            StrSource::Compat => self.env.is_user_addr(self.mem, addr),
        };
        let mut buf = vec![0u8; max];
        let n = if user {
            self.env.strncpy_user(self.mem, addr, &mut buf)
        } else {
            self.env.strncpy_kernel(self.mem, addr, &mut buf)
        };
        if n < 0 {
            return None;
        }
        let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
        buf.truncate(end);
        Some(buf)
    }

    fn read_kernel(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        (self.env.copy_kernel(self.mem, addr, &mut buf) == 0).then_some(buf)
    }

    fn symbol(&self, addr: u64, with_offset: bool) -> String {
        let k = self.env.m.kallsyms();
        if with_offset {
            k.format(KernelVa(addr))
        } else {
            match k.lookup(KernelVa(addr)) {
                Some(s) => s.name.clone(),
                None => format!("{addr:#x}"),
            }
        }
    }
}

impl Env<'_> {
    /// `BPF_CALL_5(bpf_trace_printk, fmt, fmt_size, arg1, arg2, arg3)`: a trace_pipe line.
    pub(super) fn trace_printk(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let fmt = self.read_mem(mem, a[0], a[1] as u32 as usize)?;
        let profile = self.profile;
        let res = {
            let mut r = PrintkReader { env: self, mem };
            printk::trace_printk(profile, &fmt, [a[2], a[3], a[4]], &mut r)
        };
        match res {
            Ok((msg, ret)) => {
                let body = String::from_utf8_lossy(&msg).into_owned();
                let line = trace_line(
                    self.profile,
                    &self.flags,
                    &self.task.comm,
                    self.task.pid,
                    self.cpu.0,
                    self.m.now().as_ns(),
                    "bpf_trace_printk",
                    &body,
                );
                self.m.emit(self.cpu, EventKind::TracePrintk { line: line.trim_end_matches('\n').to_string() });
                self.trace.push(line);
                Ok(ret as u64)
            }
            // printk reports a positive errno number (its own vocabulary, kernel/trace/bpf_trace.c).
            Err(e) => Ok((-e) as u64),
        }
    
    }

    /// `bpf_get_current_task`: `current` (its `task_struct` address).
    pub(super) fn get_current_task(&mut self, _a: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        Ok(self.task.task_struct.0)
    }

    /// `BPF_CALL_5(bpf_perf_event_output, regs, map, flags, data, size)` (`__bpf_perf_event_output`).
    pub(super) fn perf_event_output(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        if a[0] != self.ctx_base {
            return Err(HelperError::Failed("argument 1 of bpf_perf_event_output must be the ctx".into()));
        }
        let idx = self.map_idx(a[1])?;
        if self.maps[idx].def.map_type != MapType::PerfEventArray {
            return Err(HelperError::Failed("bpf_perf_event_output needs a perf event array".into()));
        }
        let data = self.read_mem(mem, a[3], a[4] as usize)?;
        match self.maps[idx].perf_index(a[2], self.cpu.0) {
            Ok(cpu) => {
                let (map_id, map_name) = (self.maps[idx].id, self.maps[idx].def.name.clone());
                let size = data.len();
                self.perf.push(PerfRecord { map_id, map_name, cpu, data, time_ns: self.m.now().as_ns() });
                self.emit_output(idx, BpfBuffer::Perf, cpu, size);
                Ok(0)
            }
            Err(e) => Ok(neg(e)),
        }
    
    }

    /// `BPF_CALL_2(bpf_override_return, regs, rc)`.
    pub(super) fn override_return(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        if a[0] != self.ctx_base {
            return Err(HelperError::Failed("argument 1 of bpf_override_return must be the ctx".into()));
        }
        let not_mapped = || HelperError::Failed("the ctx is not mapped".into());
        let b = mem.region_mut(self.ctx_base).and_then(|r| r.data_mut()).ok_or_else(not_mapped)?;
        let mut regs = self.regs_isa.clone();
        regs.update_from_bytes(b);
        // regs_set_return_value(regs, rc); override_function_with_return(regs)
        regs.set_return_value(a[1]);
        b.copy_from_slice(&regs.to_bytes());
        (crate::arch::info::info(self.isa).override_function_with_return)(&mut regs, &*self.m).map_err(|e| {
            HelperError::Failed(format!("bpf_override_return: cannot pop the return address: {e}"))
        })?;
        let b = mem.region_mut(self.ctx_base).and_then(|r| r.data_mut()).ok_or_else(not_mapped)?;
        b.copy_from_slice(&regs.to_bytes());
        Ok(0)
    
    }
}
