//! The probe_read family (kernel/trace/bpf_trace.c: `bpf_probe_read_{user,kernel}{,_str}`, the compat
//! `bpf_probe_read`) over `copy_from_{user,kernel}_nofault` and `strncpy_from_{user,kernel}_nofault` (mm/maccess.c),
//! and the guest call of `copy_from_kernel_nofault` when the image has one.

use super::*;

impl Env<'_> {
    /// `bpf_probe_read`, `bpf_probe_read_user`, `bpf_probe_read_kernel`: a fault zeroes `dst` and returns the errno.
    pub(super) fn probe_read(&mut self, id: u32, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let (dst, size, src) = (a[0], a[1] as u32 as usize, a[2]);
        self.check_dst(mem, dst, size)?;
        let user = match id {
            BPF_FUNC_PROBE_READ_USER => true,
            BPF_FUNC_PROBE_READ_KERNEL => false,
            _ => self.is_user_addr(mem, src),
        };
        let mut buf = vec![0u8; size];
        let ret = if user { self.copy_user(mem, src, &mut buf) } else { self.copy_kernel(mem, src, &mut buf) };
        if ret < 0 {
            buf.fill(0);
        }
        self.write_mem(mem, dst, &buf)?;
        Ok(ret as u64)
    
    }

    /// `bpf_probe_read_user_str`, `bpf_probe_read_kernel_str`.
    pub(super) fn probe_read_str(&mut self, id: u32, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let (dst, size, src) = (a[0], a[1] as u32 as usize, a[2]);
        self.check_dst(mem, dst, size)?;
        let mut buf = vec![0u8; size];
        let ret = if id == BPF_FUNC_PROBE_READ_USER_STR {
            self.strncpy_user(mem, src, &mut buf)
        } else {
            self.strncpy_kernel(mem, src, &mut buf)
        };
        if ret < 0 {
            // The helper memsets the whole buffer on error.
            buf.fill(0);
            self.write_mem(mem, dst, &buf)?;
        } else {
            // Only the copied bytes are written (the rest of dst keeps what it had).
            let n = if ret == 0 { 1.min(size) } else { ret as usize };
            self.write_mem(mem, dst, &buf[..n])?;
        }
        Ok(ret as u64)
    
    }

    /// `copy_from_kernel_nofault`: 0 or `-errno`.
    pub(super) fn copy_kernel(&mut self, mem: &Memory, src: u64, buf: &mut [u8]) -> i64 {
        if buf.is_empty() {
            return 0;
        }
        if mem.is_mapped(src) {
            return match mem.read(src, buf, self) {
                Ok(()) => 0,
                Err(_) => Errno::EFAULT.negated(),
            };
        }
        if src < task_size(self.isa) {
            // x86's copy_from_kernel_nofault_allowed() refuses user addresses (-ERANGE); on arm64 the kernel-mode
            // access to a TTBR0 address faults under PAN.
            return if crate::arch::info::info(self.isa).nofault_refuses_user_addr { Errno::ERANGE.negated() } else { Errno::EFAULT.negated() };
        }
        match self.m.read(KernelVa(src), buf) {
            Ok(()) => 0,
            Err(_) => Errno::EFAULT.negated(),
        }
    }

    /// Whether `addr` is a user address: below `TASK_SIZE` and not VM memory (the BPF stack, the ctx and map values
    /// are kernel memory in the kernel, whatever VM address they have here).
    pub(super) fn is_user_addr(&self, mem: &Memory, addr: u64) -> bool {
        !mem.is_mapped(addr) && addr < task_size(self.isa)
    }

    /// `copy_from_user_nofault`: 0 or `-EFAULT` (`access_ok` fails for kernel addresses, VM memory included).
    pub(super) fn copy_user(&mut self, mem: &Memory, src: u64, buf: &mut [u8]) -> i64 {
        let end = src.checked_add(buf.len() as u64);
        if !matches!(end, Some(e) if e <= task_size(self.isa)) || mem.is_mapped(src) {
            return Errno::EFAULT.negated();
        }
        match self.m.read(KernelVa(src), buf) {
            Ok(()) => 0,
            Err(_) => Errno::EFAULT.negated(),
        }
    }

    pub(super) fn byte_kernel(&mut self, mem: &Memory, addr: u64) -> Option<u8> {
        let mut b = [0u8; 1];
        (self.copy_kernel(mem, addr, &mut b) == 0).then_some(b[0])
    }

    /// `strncpy_from_kernel_nofault(dst, src, count)`: copies up to and including the NUL, or `count` bytes with
    /// the last replaced by NUL; returns the bytes copied (NUL included) or `-EFAULT` (having written a NUL at the
    /// point of the fault).
    pub(super) fn strncpy_kernel(&mut self, mem: &Memory, src: u64, dst: &mut [u8]) -> i64 {
        let count = dst.len();
        if count == 0 {
            return 0;
        }
        if src < task_size(self.isa) && !mem.is_mapped(src) && crate::arch::info::info(self.isa).nofault_refuses_user_addr {
            return Errno::ERANGE.negated();
        }
        let mut n = 0;
        loop {
            match self.byte_kernel(mem, src.wrapping_add(n as u64)) {
                Some(c) => {
                    dst[n] = c;
                    n += 1;
                    if c == 0 || n == count {
                        break;
                    }
                }
                None => {
                    dst[n] = 0;
                    return Errno::EFAULT.negated();
                }
            }
        }
        dst[n - 1] = 0;
        n as i64
    }

    /// `strncpy_from_user_nofault(dst, src, count)`: the length including the NUL; `count` (with the last byte made
    /// NUL) when no NUL is found within `count` bytes; 0 for an empty string (the kernel does not count its NUL
    /// there); `-EFAULT` on a fault.
    pub(super) fn strncpy_user(&mut self, mem: &Memory, src: u64, dst: &mut [u8]) -> i64 {
        let count = dst.len();
        if count == 0 {
            return 0;
        }
        let mut n = 0usize;
        while n < count {
            let mut b = [0u8; 1];
            if self.copy_user(mem, src.wrapping_add(n as u64), &mut b) != 0 {
                return Errno::EFAULT.negated();
            }
            dst[n] = b[0];
            if b[0] == 0 {
                break;
            }
            n += 1;
        }
        // strncpy_from_user's result is the length without the NUL, or count.
        if n >= count {
            dst[count - 1] = 0;
            count as i64
        } else if n > 0 {
            n as i64 + 1
        } else {
            0
        }
    }

    /// `bpf_probe_read_kernel_common(dst, size, src)` → `copy_from_kernel_nofault(dst, src, size)` as a guest call,
    /// if the image has that function and the read is one the guest can do.
    pub(super) fn probe_read_via_guest(&mut self, mem: &Memory, id: u32, a: [u64; 5]) -> Result<Option<GuestCall>, HelperError> {
        const FUNC: &str = "copy_from_kernel_nofault";
        let (dst, size, src) = (a[0], a[1] as u32 as usize, a[2]);
        let kernel = id == BPF_FUNC_PROBE_READ_KERNEL || (id == BPF_FUNC_PROBE_READ && !self.is_user_addr(mem, src));
        let Some(stack) = self.guest_stack else { return Ok(None) };
        if !kernel || size == 0 || size > GUEST_BOUNCE_MAX || mem.is_mapped(src) {
            return Ok(None);
        }
        let Some(func) = self.m.kallsyms().lookup_name(FUNC).map(|s| s.addr) else { return Ok(None) };
        self.check_dst(mem, dst, size)?;
        // A source the model cannot read would fault in the guest: the helper's -EFAULT comes from the model.
        let mut probe = vec![0u8; size];
        if src < task_size(self.isa) || self.m.read(KernelVa(src), &mut probe).is_err() {
            return Ok(None);
        }
        // The bounce buffer at the top of the free stack, the callee's frames below it.
        let Some(bounce) = stack.checked_sub(size as u64).map(|b| b & !0xf) else { return Ok(None) };
        let mut stack = vec![0u8; CALLEE_STACK + size];
        if self.m.read(KernelVa(bounce.wrapping_sub(CALLEE_STACK as u64)), &mut stack).is_err() {
            return Ok(None);
        }
        let helper = if id == BPF_FUNC_PROBE_READ { "bpf_probe_read" } else { "bpf_probe_read_kernel" };
        Ok(Some(GuestCall {
            helper_id: id,
            helper,
            func,
            func_name: FUNC,
            args: vec![bounce, src, size as u64],
            sp: bounce,
            then: AfterGuestCall::ProbeRead { dst, bounce, size },
        }))
    }

    /// Completes the helper `call` suspended for, now that its guest function returned `ret`: the helper's `r0`.
    pub fn finish_guest_call(&mut self, mem: &mut Memory, call: &GuestCall, ret: u64) -> Result<u64, HelperError> {
        match call.then {
            AfterGuestCall::ProbeRead { dst, bounce, size } => {
                let mut buf = vec![0u8; size];
                if (ret as i64) < 0 || self.m.read(KernelVa(bounce), &mut buf).is_err() {
                    buf.fill(0);
                }
                self.write_mem(mem, dst, &buf)?;
                Ok(ret)
            }
        }
    }
}
