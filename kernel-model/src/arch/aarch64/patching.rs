//! `arch/arm64/kernel/patching.c` (in 5.10: `arch/arm64/kernel/insn.c`): `aarch64_insn_patch_text` under
//! `stop_machine`, its callback's `cpu_count` protocol, `aarch64_insn_patch_text_nosync` and `__aarch64_insn_write`
//! through the fixmap alias.

use super::insn::AARCH64_INSN_SIZE;
use crate::errno::Errno;
use crate::event::{EventKind, PatchCbRole, PatchCpu, PatchCpuAt, SymAddr, SyncReason};
use crate::machine::Machine;
use crate::profile::KernelProfile;
use crate::stop_machine::StopFn;
use crate::{CpuId, KernelVa};

/// Offsets of `struct aarch64_insn_patch` { `void **text_addrs`; `u32 *new_insns`; `int insn_cnt`;
/// `atomic_t cpu_count`; }.
pub mod layout {
    /// `text_addrs`.
    pub const TEXT_ADDRS: u64 = 0x0;
    /// `new_insns`.
    pub const NEW_INSNS: u64 = 0x8;
    /// `insn_cnt`.
    pub const INSN_CNT: u64 = 0x10;
    /// `cpu_count`.
    pub const CPU_COUNT: u64 = 0x14;
    /// Where the caller's `insns[]` array sits relative to the struct in our frame (as in seed 000's dump).
    pub const INSNS_ARRAY: u64 = 0x40;
    /// Where the caller's `addrs[]` array sits.
    pub const ADDRS_ARRAY: u64 = 0x48;
}

/// Where one CPU is in `aarch64_insn_patch_text_cb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CbPhase {
    /// Not entered yet.
    Enter,
    /// The master, about to write `new_insns[i]` (`__aarch64_insn_write`).
    Write(usize),
    /// The master, about to clean/invalidate the caches for `text_addrs[i]`.
    Flush(usize),
    /// The master, about to release the others (`atomic_inc(&pp->cpu_count)`).
    Release,
    /// Waiting for the release (`while (atomic_read(&pp->cpu_count) <= num_online_cpus()) cpu_relax();`).
    Spin,
    /// Released; about to `isb()`.
    Isb,
}

/// `aarch64_insn_patch_text_cb` over one `struct aarch64_insn_patch` that lives in guest memory.
pub struct InsnPatchCb {
    profile: KernelProfile,
    /// Address of the struct.
    pub patch: KernelVa,
    /// `text_addrs[]`.
    pub text_addrs: Vec<KernelVa>,
    /// `new_insns[]`.
    pub new_insns: Vec<u32>,
    phases: Vec<CbPhase>,
}

impl InsnPatchCb {
    /// Models the start of `aarch64_insn_patch_text(addrs, insns, cnt)`: the caller's `struct aarch64_insn_patch
    /// patch = { .text_addrs, .new_insns, .insn_cnt, .cpu_count = ATOMIC_INIT(0) }` on its stack at `frame`, with
    /// the caller's `insns[]`/`addrs[]` arrays beside it.
    pub fn new(
        m: &mut dyn Machine,
        profile: KernelProfile,
        frame: KernelVa,
        text_addrs: Vec<KernelVa>,
        new_insns: Vec<u32>,
    ) -> Result<InsnPatchCb, Errno> {
        if text_addrs.is_empty() {
            return Err(Errno::EINVAL);
        }
        let insns_va = frame.add(layout::INSNS_ARRAY);
        let addrs_va = frame.add(layout::ADDRS_ARRAY);
        let mut w = |va: KernelVa, bytes: &[u8]| m.write(va, bytes).map_err(|_| Errno::EFAULT);
        for (i, insn) in new_insns.iter().enumerate() {
            w(insns_va.add(4 * i as u64), &insn.to_le_bytes())?;
        }
        for (i, a) in text_addrs.iter().enumerate() {
            w(addrs_va.add(8 * i as u64), &a.0.to_le_bytes())?;
        }
        w(frame.add(layout::TEXT_ADDRS), &addrs_va.0.to_le_bytes())?;
        w(frame.add(layout::NEW_INSNS), &insns_va.0.to_le_bytes())?;
        w(frame.add(layout::INSN_CNT), &(text_addrs.len() as u32).to_le_bytes())?;
        w(frame.add(layout::CPU_COUNT), &0u32.to_le_bytes())?;
        let n = m.nr_cpus();
        Ok(InsnPatchCb { profile, patch: frame, text_addrs, new_insns, phases: vec![CbPhase::Enter; n] })
    }

    fn cpu_count(&self, m: &dyn Machine) -> u32 {
        m.read_u32(self.patch.add(layout::CPU_COUNT)).expect("patch struct is mapped")
    }

    fn set_cpu_count(&self, m: &mut dyn Machine, v: u32) {
        m.write(self.patch.add(layout::CPU_COUNT), &v.to_le_bytes()).expect("patch struct is mapped");
    }

    /// Whether `count` (from `atomic_inc_return`) makes this CPU the master: the first CPU in 5.10, the last
    /// since v5.18 ("arm64: patching: Fixup last cpu should be master", in 6.12).
    fn is_master(&self, count: u32, nr_cpus: u32) -> bool {
        match self.profile {
            KernelProfile::V5_10 => count == 1,
            KernelProfile::V6_12 => count == nr_cpus,
        }
    }

    fn where_is(&self, m: &dyn Machine, cpu: CpuId) -> PatchCpuAt {
        match self.phases.get(cpu.0) {
            Some(CbPhase::Write(_)) => PatchCpuAt::InsnWrite,
            Some(CbPhase::Flush(_) | CbPhase::Release) => PatchCpuAt::PatchTextNosync,
            Some(CbPhase::Spin) => PatchCpuAt::CpuRelax,
            Some(CbPhase::Isb) => PatchCpuAt::Isb,
            Some(CbPhase::Enter) | None => {
                // Not in the callback yet: still in multi_cpu_stop's loop, or still in the code it preempted.
                let pc = KernelVa(m.guest_pc(cpu));
                PatchCpuAt::NotYet { pc: SymAddr { addr: pc, sym: m.kallsyms().format_short(pc) } }
            }
        }
    }
}

impl StopFn for InsnPatchCb {
    fn name(&self) -> &'static str {
        "aarch64_insn_patch_text_cb"
    }

    /// Models one step of `aarch64_insn_patch_text_cb` on `cpu`.
    fn step(&mut self, m: &mut dyn Machine, cpu: CpuId) -> Option<Result<(), Errno>> {
        let nr = m.nr_cpus() as u32;
        match self.phases[cpu.0] {
            CbPhase::Enter => {
                let count = self.cpu_count(m) + 1;
                self.set_cpu_count(m, count);
                let master = self.is_master(count, nr);
                m.emit(cpu, EventKind::PatchCb { role: if master { PatchCbRole::Master } else { PatchCbRole::Waiter }, cpu_count: count });
                self.phases[cpu.0] = if master { CbPhase::Write(0) } else { CbPhase::Spin };
                None
            }
            CbPhase::Write(i) => {
                // aarch64_insn_patch_text_nosync → aarch64_insn_write → __aarch64_insn_write:
                // patch_map(addr, FIX_TEXT_POKE0); copy_to_kernel_nofault; patch_unmap.
                let addr = self.text_addrs[i];
                let others = (0..m.nr_cpus()).map(|c| PatchCpu { cpu: CpuId(c), at: self.where_is(m, CpuId(c)) }).collect();
                m.emit(
                    cpu,
                    EventKind::InsnPatch {
                        patch: self.patch,
                        text_addrs: self.text_addrs.clone(),
                        new_insns: self.new_insns.clone(),
                        insn_cnt: self.text_addrs.len() as u32,
                        cpu_count: self.cpu_count(m),
                        cpus: others,
                    },
                );
                if !addr.0.is_multiple_of(AARCH64_INSN_SIZE) {
                    return Some(Err(Errno::EINVAL));
                }
                if m.poke_text(cpu, addr, &self.new_insns[i].to_le_bytes()).is_err() {
                    return Some(Err(Errno::EFAULT));
                }
                self.phases[cpu.0] = CbPhase::Flush(i);
                None
            }
            CbPhase::Flush(i) => {
                // 5.10: __flush_icache_range(addr, addr + 4); 6.12: caches_clean_inval_pou.
                m.flush_icache_range(cpu, self.text_addrs[i], AARCH64_INSN_SIZE);
                self.phases[cpu.0] = if i + 1 < self.text_addrs.len() { CbPhase::Write(i + 1) } else { CbPhase::Release };
                None
            }
            CbPhase::Release => {
                // "Notify other processors with an additional increment."
                let count = self.cpu_count(m) + 1;
                self.set_cpu_count(m, count);
                m.emit(cpu, EventKind::PatchCb { role: PatchCbRole::Release, cpu_count: count });
                Some(Ok(()))
            }
            CbPhase::Spin => {
                if self.cpu_count(m) > nr {
                    self.phases[cpu.0] = CbPhase::Isb;
                }
                None
            }
            CbPhase::Isb => {
                m.context_synchronize(cpu, SyncReason::Isb);
                Some(Ok(()))
            }
        }
    }

    fn frames(&self, cpu: CpuId) -> Vec<&'static str> {
        match self.phases[cpu.0] {
            CbPhase::Write(_) => vec![
                "aarch64_insn_patch_text_cb",
                "aarch64_insn_patch_text_nosync",
                "aarch64_insn_write",
                "__aarch64_insn_write",
            ],
            CbPhase::Flush(_) | CbPhase::Release => {
                vec!["aarch64_insn_patch_text_cb", "aarch64_insn_patch_text_nosync"]
            }
            CbPhase::Spin | CbPhase::Isb | CbPhase::Enter => vec!["aarch64_insn_patch_text_cb"],
        }
    }
}
