//! What a program learns about `current` and the clock (kernel/bpf/helpers.c): `bpf_get_smp_processor_id`,
//! `bpf_get_current_pid_tgid`, `bpf_get_current_uid_gid`, `bpf_get_current_comm`, `bpf_ktime_get_ns`,
//! `bpf_ktime_get_boot_ns`.

use super::*;

impl Env<'_> {
    /// `bpf_ktime_get_ns`: `ktime_get_mono_fast_ns()`, the virtual clock (1 ns per tick).
    pub(super) fn ktime_get_ns(&mut self, _a: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        Ok(self.m.now().as_ns())
    }

    /// `bpf_get_smp_processor_id`.
    pub(super) fn get_smp_processor_id(&mut self, _a: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        Ok(self.cpu.0 as u64)
    }

    /// `bpf_get_current_pid_tgid`: `tgid << 32 | pid`.
    pub(super) fn get_current_pid_tgid(&mut self, _a: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        Ok(u64::from(self.task.tgid) << 32 | u64::from(self.task.pid))
    }

    /// `BPF_CALL_2(bpf_get_current_comm, buf, size)`: `strscpy_pad` of the 16-byte comm.
    pub(super) fn get_current_comm(&mut self, a: [u64; 5], mem: &mut Memory) -> Result<u64, HelperError> {
        let size = a[1] as u32 as usize;
        let mut buf = vec![0u8; size];
        let comm = self.task.comm.as_bytes();
        let n = comm.len().min(15).min(size.saturating_sub(1));
        buf[..n].copy_from_slice(&comm[..n]);
        self.write_mem(mem, a[0], &buf)?;
        Ok(0)
    
    }

    /// `BPF_CALL_0(bpf_get_current_uid_gid)` (kernel/bpf/helpers.c): `(u64)gid << 32 | uid` of `current_cred()`, in
    /// the init user namespace. Simulated tasks have no credentials of their own: every one is root (uid 0, gid 0).
    pub(super) fn get_current_uid_gid(&mut self, _a: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        // `from_kuid(&init_user_ns, current_uid())`: ids as the init namespace sees them, the only one modelled.
        Ok(u64::from(self.task.gid) << 32 | u64::from(self.task.uid))
    }

    /// `BPF_CALL_0(bpf_ktime_get_boot_ns)` (kernel/bpf/helpers.c, since 5.8): `ktime_get_boot_fast_ns()`,
    /// `CLOCK_BOOTTIME`, which differs from `ktime_get_ns`'s `CLOCK_MONOTONIC` by the time spent suspended — none
    /// here, so the same virtual clock.
    pub(super) fn ktime_get_boot_ns(&mut self, _a: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        Ok(self.m.now().as_ns())
    }
}
