//! `kernel/jump_label.c`: the `__jump_table` read from guest memory and sorted at boot (`jump_label_init`), the
//! static-key calls a task makes (`static_key_enable`/`_disable`, `static_key_slow_inc`/`_dec` counting
//! `key->enabled`, which lives in guest memory), `jump_label_update` handing each site of the key to the arch
//! transform ([`ArchKernel::jump_label_transform`], then `arch_jump_label_transform_apply` when the arch batches),
//! and `jump_label_text_reserved` for kprobes.
//!
//! Layouts (64-bit, `CONFIG_HAVE_ARCH_JUMP_LABEL_RELATIVE`, both ISAs and profiles): `struct jump_entry { s32 code;
//! s32 target; long key; }`, each field relative to its own address, `key`'s bit 0 the branch bit and bit 1 the
//! "init" bit; `struct static_key { atomic_t enabled; union { unsigned long type; struct jump_entry *entries; … }; }`
//! with the `JUMP_TYPE_*` bits in the low two bits of the union.

use super::*;
use crate::event::jump_label::{JumpLabelStep, JumpLabelType, StaticKeyOp};

/// `sizeof(struct jump_entry)`.
pub const JUMP_ENTRY_SIZE: u64 = 16;
/// Offset of the `entries`/`type` union in `struct static_key`.
const STATIC_KEY_ENTRIES: u64 = 8;
/// `JUMP_TYPE_MASK`.
const JUMP_TYPE_MASK: u64 = 3;

/// One `struct jump_entry`, decoded (`jump_entry_code`, `jump_entry_target`, `jump_entry_key`, the flag bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JumpEntry {
    /// The site.
    pub code: KernelVa,
    /// Where its branch goes.
    pub target: KernelVa,
    /// The `struct static_key`.
    pub key: KernelVa,
    /// `jump_entry_is_branch`: the site's code is the likely path's negation (`static_branch_likely` on a true key,
    /// `arch_static_branch(key, true)`).
    pub branch: bool,
    /// `jump_entry_is_init`.
    pub init: bool,
}

impl JumpEntry {
    /// Decodes the entry stored at `at`.
    fn read(m: &dyn Machine, at: KernelVa) -> Option<JumpEntry> {
        let code = m.read_u32(at).ok()? as i32;
        let target = m.read_u32(at.add(4)).ok()? as i32;
        let key = m.read_u64(at.add(8)).ok()? as i64;
        Some(JumpEntry {
            code: KernelVa(at.0.wrapping_add_signed(i64::from(code))),
            target: KernelVa(at.0.wrapping_add(4).wrapping_add_signed(i64::from(target))),
            key: KernelVa(at.0.wrapping_add(8).wrapping_add_signed(key & !3)),
            branch: key & 1 != 0,
            init: key & 2 != 0,
        })
    }

    /// Encodes it at `at` (what `jump_label_swap` leaves: each offset rebased to its new slot).
    fn write(&self, m: &mut dyn Machine, at: KernelVa) -> bool {
        let code = self.code.0.wrapping_sub(at.0) as i32;
        let target = self.target.0.wrapping_sub(at.0 + 4) as i32;
        let key = self.key.0.wrapping_sub(at.0 + 8) | u64::from(self.branch) | (u64::from(self.init) << 1);
        m.write(at, &code.to_le_bytes()).is_ok()
            && m.write(at.add(4), &target.to_le_bytes()).is_ok()
            && m.write(at.add(8), &key.to_le_bytes()).is_ok()
    }
}

/// The kernel's jump-label state: the sorted table and `jump_label_mutex`.
#[derive(Clone, Debug, Default)]
pub struct JumpLabels {
    /// Every entry, sorted by (key, code) as `jump_label_sort_entries` leaves them.
    entries: Vec<JumpEntry>,
    /// `jump_label_mutex`'s owner.
    mutex: Option<CpuId>,
    /// The kprobes whose wait in `jump_label_lock()` was logged (each once).
    waits_logged: std::collections::BTreeSet<String>,
}

impl JumpLabels {
    /// The sorted entries.
    #[must_use]
    pub fn entries(&self) -> &[JumpEntry] {
        &self.entries
    }

    fn of_key(&self, key: KernelVa) -> Vec<JumpEntry> {
        self.entries.iter().filter(|e| e.key == key).copied().collect()
    }
}

/// `static_key_count()`: `key->enabled`, with -1 (the first enable in progress) counting as 1.
fn static_key_count(enabled: i32) -> i32 {
    if enabled >= 0 {
        enabled
    } else {
        1
    }
}

/// Where a static-key call is.
#[derive(Clone, Debug)]
enum Phase {
    /// The lockless fast path.
    Start,
    /// Waiting for / holding `jump_label_mutex`: the locked part.
    Lock,
    /// `__jump_label_update`: the next site to transform.
    Update { sites: Vec<JumpEntry>, next: usize },
    /// `arch_jump_label_transform_apply`: its step, and whether it waits for a job.
    Apply { step: u8, waiting: bool },
    /// After `jump_label_update`: the final `key->enabled`, then unlock.
    Finish,
}

/// A static-key call in progress (a task's activity).
#[derive(Clone, Debug)]
pub(super) struct StaticKeyCall {
    op: StaticKeyOp,
    key: KernelVa,
    name: String,
    phase: Phase,
    wait_logged: bool,
    /// Whether the call set `key->enabled` to -1 (an enable from 0: set to 1 when the update is done).
    enabling: bool,
}

impl StaticKeyCall {
    /// The kernel function, for backtraces.
    pub(super) fn func(&self) -> &'static str {
        self.op.name()
    }
}

impl Kernel {
    /// Models `jump_label_init` (kernel/jump_label.c): reads the `__jump_table` entries in `tables` (each object's
    /// section, in load order, as the linker would concatenate them), sorts them by key then code
    /// (`jump_label_sort_entries`/`jump_label_cmp`) and writes them back in place, clears the init bit (no site is
    /// in init text), and points each key's `entries` at its first entry (`static_key_set_entries`, keeping the
    /// `JUMP_TYPE_*` bits). `arch_jump_label_transform_static` changes nothing here: arm64's does nothing, and x86's
    /// compile-time NOP is already the ideal one.
    pub fn jump_label_init(&mut self, m: &mut dyn Machine, tables: &[(KernelVa, u64)]) {
        let slots: Vec<KernelVa> =
            tables.iter().flat_map(|(va, len)| (0..len / JUMP_ENTRY_SIZE).map(move |i| va.add(i * JUMP_ENTRY_SIZE))).collect();
        let mut entries: Vec<JumpEntry> = slots.iter().filter_map(|at| JumpEntry::read(m, *at)).collect();
        entries.sort_by_key(|e| (e.key, e.code));
        for (e, at) in entries.iter_mut().zip(&slots) {
            e.init = false;
            e.write(m, *at);
        }
        let mut first = 0;
        while first < entries.len() {
            let key = entries[first].key;
            let n = entries[first..].iter().take_while(|e| e.key == key).count();
            let ty = m.read_u64(key.add(STATIC_KEY_ENTRIES)).unwrap_or(0) & JUMP_TYPE_MASK;
            let _ = m.write(key.add(STATIC_KEY_ENTRIES), &(slots[first].0 | ty).to_le_bytes());
            let sym = |m: &dyn Machine, a: KernelVa| SymAddr { addr: a, sym: m.kallsyms().format_short(a) };
            let sites = entries[first..first + n].iter().map(|e| (sym(m, e.code), e.branch)).collect();
            let enabled = m.read_u32(key).unwrap_or(0) as i32;
            m.emit(CpuId(0), EventKind::JumpLabel { step: JumpLabelStep::Init { key: sym(m, key), enabled, sites } });
            first += n;
        }
        self.jump_labels.entries = entries;
    }

    /// Models `jump_label_text_reserved(start, end)` (kernel/jump_label.c, `__jump_label_text_reserved` over the
    /// core kernel's entries): whether a site overlaps `[start, end]` (`addr_conflict`: 5.10 measures a site as
    /// `JUMP_LABEL_NOP_SIZE`, 6.12 as `jump_entry_size`).
    #[must_use]
    pub fn jump_label_text_reserved(&self, m: &dyn Machine, start: KernelVa, end: KernelVa) -> Option<KernelVa> {
        self.jump_labels
            .entries
            .iter()
            .find(|e| e.code.0 <= end.0 && e.code.0 + self.arch.jump_entry_size(m, e.code) > start.0)
            .map(|e| e.code)
    }

    /// `jump_label_lock()` in `check_kprobe_address_safe` for the kprobe `probe` on `cpu`: whether it must wait
    /// (another CPU's static-key call holds `jump_label_mutex`), logged once per probe.
    pub(super) fn kprobe_waits_jump_label_lock(&mut self, m: &mut dyn Machine, cpu: CpuId, probe: &str) -> bool {
        let Some(owner) = self.jump_labels.mutex.filter(|o| *o != cpu) else { return false };
        if self.jump_labels.waits_logged.insert(probe.to_string()) {
            Self::jl_emit(m, cpu, JumpLabelStep::KprobeWaits { probe: probe.to_string(), owner });
        }
        true
    }

    /// The jump-label state (the sorted table).
    #[must_use]
    pub fn jump_labels(&self) -> &JumpLabels {
        &self.jump_labels
    }

    /// Asks `cpu`'s task to call `op` on the `struct static_key` at `key` (`name` for the log).
    pub fn request_static_key(&mut self, cpu: CpuId, op: StaticKeyOp, key: KernelVa, name: &str) {
        let call = StaticKeyCall { op, key, name: name.to_string(), phase: Phase::Start, wait_logged: false, enabling: false };
        self.activities[cpu.0].insert(0, Activity::StaticKey(call));
    }

    fn key_enabled(m: &dyn Machine, key: KernelVa) -> i32 {
        m.read_u32(key).unwrap_or(0) as i32
    }

    fn set_key_enabled(m: &mut dyn Machine, key: KernelVa, v: i32) {
        let _ = m.write(key, &v.to_le_bytes());
    }

    fn jl_emit(m: &mut dyn Machine, cpu: CpuId, step: JumpLabelStep) {
        m.emit(cpu, EventKind::JumpLabel { step });
    }

    /// Sets `key->enabled` from `from` to `to`, logging it.
    fn jl_count(m: &mut dyn Machine, cpu: CpuId, c: &StaticKeyCall, from: i32, to: i32, update: bool) {
        Self::set_key_enabled(m, c.key, to);
        Self::jl_emit(m, cpu, JumpLabelStep::Count { op: c.op, key: c.name.clone(), from, to, update });
    }

    fn jl_warn(m: &mut dyn Machine, cpu: CpuId, c: &StaticKeyCall, what: &str) {
        Self::jl_emit(m, cpu, JumpLabelStep::Warn { op: c.op, what: what.to_string() });
    }

    /// The lockless part: `Some(())` if the call is complete without `jump_label_mutex`.
    fn static_key_fast_path(&self, m: &mut dyn Machine, cpu: CpuId, c: &StaticKeyCall) -> Option<()> {
        let v = Self::key_enabled(m, c.key);
        match c.op {
            // static_key_enable_cpuslocked: already enabled.
            StaticKeyOp::Enable if v > 0 => {
                if v != 1 {
                    Self::jl_warn(m, cpu, c, "WARN_ON_ONCE(atomic_read(&key->enabled) != 1)");
                }
                Some(())
            }
            // static_key_disable_cpuslocked: not exactly 1.
            StaticKeyOp::Disable if v != 1 => {
                if v != 0 {
                    Self::jl_warn(m, cpu, c, "WARN_ON_ONCE(atomic_read(&key->enabled) != 0)");
                }
                Some(())
            }
            // 5.10 the cmpxchg loop of static_key_slow_inc_cpuslocked; 6.12 static_key_fast_inc_not_disabled.
            StaticKeyOp::SlowInc if v > 0 => {
                Self::jl_count(m, cpu, c, v, v + 1, false);
                Some(())
            }
            StaticKeyOp::SlowDec => match self.core.profile() {
                // static_key_slow_try_dec: atomic_fetch_add_unless(&key->enabled, -1, 1).
                KernelProfile::V5_10 => {
                    if v == 1 {
                        return None;
                    }
                    Self::jl_count(m, cpu, c, v, v - 1, false);
                    if v < 0 {
                        Self::jl_warn(m, cpu, c, "jump label: negative count!");
                    }
                    Some(())
                }
                // static_key_dec_not_one.
                KernelProfile::V6_12 => {
                    if v < 0 {
                        Self::jl_warn(m, cpu, c, "WARN_ON_ONCE(v < 0)");
                    }
                    if v == 0 {
                        Self::jl_warn(m, cpu, c, "WARN_ON_ONCE(v == 0)");
                        return Some(());
                    }
                    if v <= 1 {
                        return None;
                    }
                    Self::jl_count(m, cpu, c, v, v - 1, false);
                    Some(())
                }
            },
            _ => None,
        }
    }

    /// The part under `jump_label_mutex`: whether `jump_label_update` follows.
    fn static_key_locked(&self, m: &mut dyn Machine, cpu: CpuId, c: &mut StaticKeyCall) -> bool {
        let v = Self::key_enabled(m, c.key);
        match c.op {
            StaticKeyOp::Enable | StaticKeyOp::SlowInc if v == 0 => {
                // atomic_set(&key->enabled, -1) (6.12 inc: atomic_cmpxchg(&key->enabled, 0, -1)).
                Self::jl_count(m, cpu, c, 0, -1, true);
                c.enabling = true;
                true
            }
            StaticKeyOp::Enable => false,
            StaticKeyOp::SlowInc => {
                // 5.10 atomic_inc; 6.12 static_key_fast_inc_not_disabled under WARN_ON_ONCE.
                if v > 0 {
                    Self::jl_count(m, cpu, c, v, v + 1, false);
                } else {
                    Self::jl_warn(m, cpu, c, "WARN_ON_ONCE(!static_key_fast_inc_not_disabled(key))");
                }
                false
            }
            // atomic_cmpxchg(&key->enabled, 1, 0).
            StaticKeyOp::Disable if v == 1 => {
                Self::jl_count(m, cpu, c, 1, 0, true);
                true
            }
            StaticKeyOp::Disable => false,
            StaticKeyOp::SlowDec => {
                if self.core.profile() == KernelProfile::V6_12 && (v == -1 || v == 0) {
                    let what = if v == -1 { "WARN_ON_ONCE(val == -1)" } else { "WARN_ON_ONCE(val == 0)" };
                    Self::jl_warn(m, cpu, c, what);
                    return false;
                }
                // atomic_dec_and_test(&key->enabled).
                Self::jl_count(m, cpu, c, v, v - 1, v - 1 == 0);
                v - 1 == 0
            }
        }
    }

    pub(super) fn step_static_key(&mut self, m: &mut dyn Machine, cpu: CpuId, mut c: StaticKeyCall) {
        match c.phase.clone() {
            Phase::Start => {
                if self.static_key_fast_path(m, cpu, &c).is_some() {
                    return self.static_key_return(m, cpu, &c);
                }
                c.phase = Phase::Lock;
            }
            Phase::Lock => {
                if let Some(owner) = self.jump_labels.mutex.filter(|o| *o != cpu) {
                    if !c.wait_logged {
                        Self::jl_emit(m, cpu, JumpLabelStep::WaitsForMutex { op: c.op, owner });
                        c.wait_logged = true;
                    }
                } else {
                    self.jump_labels.mutex = Some(cpu);
                    if self.static_key_locked(m, cpu, &mut c) {
                        // jump_label_update → __jump_label_update over static_key_entries(key).
                        c.phase = Phase::Update { sites: self.jump_labels.of_key(c.key), next: 0 };
                    } else {
                        self.jump_labels.mutex = None;
                        return self.static_key_return(m, cpu, &c);
                    }
                }
            }
            Phase::Update { sites, next } => {
                if let Some(e) = sites.get(next) {
                    // jump_label_can_update: only kernel text (an init site after boot is skipped too).
                    if m.is_kernel_text(e.code) && !e.init {
                        let enabled = static_key_count(Self::key_enabled(m, c.key)) > 0;
                        let ty = JumpLabelType::of(enabled, e.branch);
                        if let Err(oops) = self.arch.jump_label_transform(m, cpu, e.code, e.target, ty) {
                            m.emit(cpu, EventKind::Oops { oops });
                            self.jump_labels.mutex = None;
                            return self.leave_model_if_idle(m, cpu);
                        }
                    }
                    c.phase = Phase::Update { sites, next: next + 1 };
                } else {
                    c.phase = if self.arch.jump_label_batch() { Phase::Apply { step: 0, waiting: false } } else { Phase::Finish };
                }
            }
            Phase::Apply { mut step, waiting } => {
                if waiting {
                    if self.take_finished_job().is_none() {
                        self.activities[cpu.0].push(Activity::StaticKey(c));
                        return;
                    }
                    step += 1;
                }
                if self.job_busy() {
                    c.phase = Phase::Apply { step, waiting: false };
                } else {
                    match self.arch.jump_label_apply_step(m, cpu, step) {
                        LivePatchStep::Job(job) => {
                            self.start_job(m, cpu, job);
                            c.phase = Phase::Apply { step, waiting: true };
                        }
                        LivePatchStep::Done => c.phase = Phase::Finish,
                        LivePatchStep::Failed(oops) => {
                            m.emit(cpu, EventKind::Oops { oops });
                            self.jump_labels.mutex = None;
                            return self.leave_model_if_idle(m, cpu);
                        }
                    }
                }
            }
            Phase::Finish => {
                if c.enabling {
                    // atomic_set_release(&key->enabled, 1).
                    Self::jl_count(m, cpu, &c, -1, 1, false);
                }
                self.jump_labels.mutex = None;
                return self.static_key_return(m, cpu, &c);
            }
        }
        self.activities[cpu.0].push(Activity::StaticKey(c));
    }

    fn static_key_return(&mut self, m: &mut dyn Machine, cpu: CpuId, c: &StaticKeyCall) {
        let enabled = Self::key_enabled(m, c.key);
        Self::jl_emit(m, cpu, JumpLabelStep::Done { op: c.op, key: c.name.clone(), enabled });
        self.leave_model_if_idle(m, cpu);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_key_count_treats_enabling_as_one() {
        assert_eq!(static_key_count(-1), 1);
        assert_eq!(static_key_count(0), 0);
        assert_eq!(static_key_count(3), 3);
    }

    #[test]
    fn jump_label_type_is_enabled_xor_branch() {
        assert_eq!(JumpLabelType::of(false, false), JumpLabelType::Nop);
        assert_eq!(JumpLabelType::of(true, false), JumpLabelType::Jmp);
        assert_eq!(JumpLabelType::of(true, true), JumpLabelType::Nop);
        assert_eq!(JumpLabelType::of(false, true), JumpLabelType::Jmp);
    }
}
