//! A fake [`Machine`] over flat memory, for unit tests of the model without Unicorn (issue 10 item 7).
//!
//! Compiled for this crate's own unit tests (`cfg(test)`) and, through the `testing` cargo feature, for its
//! integration tests (`kernel-model/tests/*.rs` enable it with the `[dev-dependencies]` self-dependency
//! `kernel-model = { path = ".", features = ["testing"] }`). Nothing in a real run uses it.
//!
//! What it models, as `sim`'s `EmulatedMachine` does (so event sequences read the same):
//! - **Memory**: regions at the ISA's kernel VAs, each read-write, read-only, or *text* (read+execute: direct
//!   writes fault with [`MemFaultKind::WriteProtected`]; [`Machine::poke_text`] writes through a poke alias, logs
//!   `TextWrite`). An access that runs off a region faults at the first unmapped byte.
//! - **Instruction cache**: each poke leaves the range stale on every CPU (on x86, whose icache is coherent with
//!   stores, already invalidated); `flush_icache_range` invalidates it everywhere; `context_synchronize` on a CPU
//!   drops its invalidated ranges (logging `IcacheSync`), after which [`Machine::text_stale_on`] is false there.
//! - **CPUs**: per-CPU [`PtRegs`] (what `pt_regs`/`set_pt_regs` save and restore), `nr_cpus`, a clock that only
//!   [`FakeMachine::advance`] moves, and the ticks charged per CPU.
//! - **Calls**: [`Machine::call_function`] sets the CPU's registers up for the call (pc, sp, arguments, irqs
//!   masked) and records a [`PendingCall`]; the test plays the callee with [`FakeMachine::complete_call`] (the
//!   return value) and then tells the kernel with `Kernel::on_return`.
//! - **Symbols and events**: a [`Kallsyms`] the test fills, and every emitted event in `events`.

use crate::event::{EventKind, Hex, HexStyle, SyncReason};
use crate::kallsyms::{Kallsyms, Symbol, SymbolKind};
use crate::machine::{GuestMemory, Machine, MemFault, MemFaultKind};
use crate::ptrace::PtRegs;
use crate::{CpuId, Isa, KernelVa, VTime};
use std::collections::BTreeMap;

/// `THREAD_SIZE`: each CPU's kernel stack, as in `sim`.
pub const THREAD_SIZE: u64 = 0x4000;

/// Where things live for one ISA (the VAs `sim`'s layouts use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Kernel text (`_text`).
    pub text: u64,
    /// Its size.
    pub text_size: u64,
    /// The kprobe slot area (`alloc_insn_page`): text-like, written only through the poke alias.
    pub slots: u64,
    /// Its size.
    pub slots_size: u64,
    /// Kernel data.
    pub data: u64,
    /// Its size.
    pub data_size: u64,
    /// The stacks: CPU n's stack is `[stacks + n*THREAD_SIZE, stacks + (n+1)*THREAD_SIZE)`.
    pub stacks: u64,
    /// The writable alias of text (`FIX_TEXT_POKE0`, `text_poke`'s mapping): `alias = poke_base + pa`.
    pub poke_base: u64,
}

/// What the fake needs to know of one ISA: data, looked up by ISA (generic code never matches on the ISA; the
/// lead may move these facts into `arch::info::IsaInfo`).
struct IsaFacts {
    isa: Isa,
    layout: Layout,
    /// How `TextWrite` shows bytes (`sim`'s `IsaBackend::text_hex_style`).
    hex_style: HexStyle,
    /// Whether a store to text invalidates every CPU's icache by itself (x86) or needs `flush_icache_range`
    /// (arm64): `sim`'s `IsaBackend::icache_coherent_with_stores`.
    icache_coherent_with_stores: bool,
}

const ISA_FACTS: [IsaFacts; 2] = [
    IsaFacts {
        isa: Isa::Aarch64,
        // sim/src/arch/aarch64/layout.rs.
        layout: Layout {
            text: 0xffff_ffc0_1000_0000,
            text_size: 0x10_0000,
            slots: 0xffff_ffc0_13e9_b000,
            slots_size: 0x1000,
            data: 0xffff_ffc0_1200_0000,
            data_size: 0x1_0000,
            stacks: 0xffff_ffc0_1760_0000,
            poke_base: 0xffff_fffe_0000_0000,
        },
        hex_style: HexStyle::Words,
        icache_coherent_with_stores: false,
    },
    IsaFacts {
        isa: Isa::X86_64,
        // START_KERNEL_MAP + 16M, MODULES_VADDR, the direct map (sim/src/arch/x86_64/layout.rs).
        layout: Layout {
            text: 0xffff_ffff_8100_0000,
            text_size: 0x10_0000,
            slots: 0xffff_ffff_a000_0000,
            slots_size: 0x1000,
            data: 0xffff_ffff_8200_0000,
            data_size: 0x1_0000,
            stacks: 0xffff_8880_0100_0000,
            poke_base: 0xffff_c900_0000_0000,
        },
        hex_style: HexStyle::Bytes,
        icache_coherent_with_stores: true,
    },
];

fn facts(isa: Isa) -> &'static IsaFacts {
    ISA_FACTS.iter().find(|f| f.isa == isa).expect("every Isa has facts")
}

impl Layout {
    /// The layout `sim` gives `isa`.
    #[must_use]
    pub fn for_isa(isa: Isa) -> Layout {
        facts(isa).layout
    }
}

/// How a region may be accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Read and write.
    ReadWrite,
    /// Read only (writes fault); not reachable through the poke alias.
    ReadOnly,
    /// Kernel text or kprobe slots: read-only, written through the poke alias.
    Text,
}

/// One mapped region.
#[derive(Clone, Debug)]
pub struct Region {
    /// Its contents.
    pub bytes: Vec<u8>,
    /// Its permissions.
    pub perm: Perm,
    /// Its "physical" address (the poke alias is `poke_base + pa + offset`).
    pub pa: u64,
}

/// A call made with [`Machine::call_function`] that the test has not yet completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCall {
    /// The calling CPU.
    pub cpu: CpuId,
    /// The callee.
    pub func: KernelVa,
    /// Its arguments.
    pub args: Vec<u64>,
    /// The stack pointer it was given.
    pub sp: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IcacheState {
    /// Written, not yet invalidated: the CPU keeps executing the old bytes even across a context sync.
    Stale,
    /// Invalidated: the CPU fetches the new bytes after its next context synchronisation.
    Invalidated,
}

#[derive(Clone, Debug)]
struct StaleRange {
    va: u64,
    len: u64,
    state: IcacheState,
}

/// The fake machine. Fields are public so tests can arrange and inspect state directly.
#[derive(Clone, Debug)]
pub struct FakeMachine {
    /// The guest ISA.
    pub isa: Isa,
    /// Where things live.
    pub layout: Layout,
    /// Mapped regions by base VA (non-overlapping).
    pub regions: BTreeMap<u64, Region>,
    /// Each CPU's saved registers.
    pub regs: Vec<PtRegs>,
    /// The symbol table.
    pub kallsyms: Kallsyms,
    /// Every event emitted, in order.
    pub events: Vec<(CpuId, EventKind)>,
    /// The virtual clock (moved only by [`FakeMachine::advance`]).
    pub now: u64,
    /// Ticks charged to each CPU.
    pub charged: Vec<u64>,
    /// Calls the kernel started and the test has not completed, oldest first.
    pub pending_calls: Vec<PendingCall>,
    /// Every call the kernel started, oldest first (completed or not).
    pub calls: Vec<PendingCall>,
    icache: Vec<Vec<StaleRange>>,
    next_pa: u64,
    install_cursor: u64,
    model_entries: Vec<String>,
}

impl FakeMachine {
    /// A machine with no memory at all (every access faults) and one CPU: a base for tests that map their own
    /// regions and only need [`GuestMemory`].
    #[must_use]
    pub fn empty(isa: Isa) -> FakeMachine {
        FakeMachine::bare(isa, 1)
    }

    /// Like [`FakeMachine::empty`], with `nr_cpus` CPUs (registers zero).
    #[must_use]
    pub fn bare(isa: Isa, nr_cpus: usize) -> FakeMachine {
        FakeMachine::with_layout(isa, nr_cpus, Layout::for_isa(isa))
    }

    fn with_layout(isa: Isa, nr_cpus: usize, layout: Layout) -> FakeMachine {
        FakeMachine {
            isa,
            layout,
            regions: BTreeMap::new(),
            regs: vec![PtRegs::new(isa); nr_cpus],
            kallsyms: Kallsyms::new(Vec::new()),
            events: Vec::new(),
            now: 0,
            charged: vec![0; nr_cpus],
            pending_calls: Vec::new(),
            calls: Vec::new(),
            icache: vec![Vec::new(); nr_cpus],
            next_pa: 0,
            // install_text puts kernel-provided code in the upper half of text.
            install_cursor: layout.text + layout.text_size / 2,
            model_entries: Vec::new(),
        }
    }

    /// A machine with `nr_cpus` CPUs and `sim`'s layout for `isa`: zeroed text, slot area, data and stacks
    /// mapped; each CPU's `sp` at its stack top with interrupts enabled.
    #[must_use]
    pub fn new(isa: Isa, nr_cpus: usize) -> FakeMachine {
        let l = Layout::for_isa(isa);
        let mut m = FakeMachine::with_layout(isa, nr_cpus, l);
        m.map_with(l.text, vec![0; l.text_size as usize], Perm::Text);
        m.map_with(l.slots, vec![0; l.slots_size as usize], Perm::Text);
        m.map_with(l.data, vec![0; l.data_size as usize], Perm::ReadWrite);
        m.map_with(l.stacks, vec![0; (THREAD_SIZE * nr_cpus as u64) as usize], Perm::ReadWrite);
        for cpu in 0..nr_cpus {
            let top = m.stack_top(CpuId(cpu)).0 - 0x100;
            let r = &mut m.regs[cpu];
            match r {
                PtRegs::Aarch64(a) => {
                    a.sp = top;
                    a.pstate = 0x5; // EL1h, DAIF clear: IRQs enabled.
                }
                PtRegs::X86_64(x) => {
                    x.sp = top;
                    x.flags = 0x246; // IF set.
                }
            }
        }
        m
    }

    /// Maps `bytes` read-write at `base`.
    pub fn map(&mut self, base: u64, bytes: Vec<u8>) {
        self.map_with(base, bytes, Perm::ReadWrite);
    }

    /// Maps `bytes` at `base` with `perm`.
    pub fn map_with(&mut self, base: u64, bytes: Vec<u8>, perm: Perm) {
        let pa = self.next_pa;
        self.next_pa += (bytes.len() as u64 + 0xfff) & !0xfff;
        self.regions.insert(base, Region { bytes, perm, pa });
    }

    /// Maps arm64 instruction words read-only (as text) at `base`.
    pub fn map_words(&mut self, base: u64, words: &[u32]) {
        self.map_with(base, words.iter().flat_map(|w| w.to_le_bytes()).collect(), Perm::Text);
    }

    /// A machine with no CPU state that only holds `words` as text at `base` (a decoder's view of memory).
    #[must_use]
    pub fn with_code(isa: Isa, base: u64, words: &[u32]) -> FakeMachine {
        let mut m = FakeMachine::empty(isa);
        m.map_words(base, words);
        m
    }

    /// The region holding `[va, va+len)`: (base, offset), or the fault at the first unmapped byte.
    fn locate(&self, va: KernelVa, len: usize) -> Result<(u64, usize), MemFault> {
        let unmapped = |at: u64| MemFault { va: KernelVa(at), kind: MemFaultKind::Unmapped };
        let (&base, r) = self.regions.range(..=va.0).next_back().ok_or(unmapped(va.0))?;
        let off = usize::try_from(va.0 - base).map_err(|_| unmapped(va.0))?;
        if off >= r.bytes.len() && len > 0 {
            return Err(unmapped(va.0));
        }
        match off.checked_add(len) {
            Some(end) if end <= r.bytes.len() => Ok((base, off)),
            _ => Err(unmapped(base + r.bytes.len() as u64)),
        }
    }

    /// Writes `data` at `va` whatever the permissions (test setup: code the kernel image was built with).
    ///
    /// # Panics
    /// If `va` is not mapped (a broken test).
    pub fn write_raw(&mut self, va: u64, data: &[u8]) {
        let (base, off) = self.locate(KernelVa(va), data.len()).unwrap_or_else(|e| panic!("write_raw: {e}"));
        self.regions.get_mut(&base).expect("located").bytes[off..off + data.len()].copy_from_slice(data);
    }

    /// Writes a little-endian `u32` at `va` (test setup).
    pub fn put_u32(&mut self, va: u64, v: u32) {
        self.write_raw(va, &v.to_le_bytes());
    }

    /// Writes a little-endian `u64` at `va` (test setup).
    pub fn put_u64(&mut self, va: u64, v: u64) {
        self.write_raw(va, &v.to_le_bytes());
    }

    /// Writes arm64 instruction words at `va` (test setup).
    pub fn write_words(&mut self, va: u64, words: &[u32]) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.write_raw(va, &bytes);
    }

    /// `len` bytes at `va`.
    ///
    /// # Panics
    /// If `va` is not mapped.
    #[must_use]
    pub fn bytes(&self, va: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        self.read(KernelVa(va), &mut b).unwrap_or_else(|e| panic!("bytes: {e}"));
        b
    }

    /// The little-endian `u32` at `va`.
    ///
    /// # Panics
    /// If `va` is not mapped.
    #[must_use]
    pub fn u32_at(&self, va: u64) -> u32 {
        self.read_u32(KernelVa(va)).unwrap_or_else(|e| panic!("u32_at: {e}"))
    }

    /// The little-endian `u64` at `va`.
    ///
    /// # Panics
    /// If `va` is not mapped.
    #[must_use]
    pub fn u64_at(&self, va: u64) -> u64 {
        self.read_u64(KernelVa(va)).unwrap_or_else(|e| panic!("u64_at: {e}"))
    }

    /// Adds a text symbol `name` at `addr` of `size` bytes.
    pub fn add_symbol(&mut self, name: &str, addr: u64, size: u64) {
        self.kallsyms.add(Symbol { name: name.into(), addr: KernelVa(addr), size, kind: SymbolKind::Text, global: true });
    }

    /// Places `code` at `addr` in text with a symbol `name` covering it (test setup of a kernel function).
    pub fn add_function(&mut self, name: &str, addr: u64, code: &[u8]) {
        self.write_raw(addr, code);
        self.add_symbol(name, addr, code.len() as u64);
    }

    /// Advances the virtual clock.
    pub fn advance(&mut self, ticks: u64) {
        self.now += ticks;
    }

    /// Plays the callee of the oldest pending call on `cpu`: it returns `ret` (the return-value register is set,
    /// the pc goes back to the task-return address). The test then calls `Kernel::on_return`.
    ///
    /// # Panics
    /// If `cpu` has no pending call (a broken test).
    pub fn complete_call(&mut self, cpu: CpuId, ret: u64) -> PendingCall {
        let i = self.pending_calls.iter().position(|c| c.cpu == cpu).expect("a pending call on this CPU");
        let call = self.pending_calls.remove(i);
        self.regs[cpu.0].set_return_value(ret);
        call
    }

    /// The kind names of every event, in order (`EventKind::name`).
    #[must_use]
    pub fn event_names(&self) -> Vec<&'static str> {
        self.events.iter().map(|(_, e)| e.name()).collect()
    }

    /// The events on `cpu`, in order.
    #[must_use]
    pub fn events_on(&self, cpu: CpuId) -> Vec<&EventKind> {
        self.events.iter().filter(|(c, _)| *c == cpu).map(|(_, e)| e).collect()
    }

    /// The events whose kind name is `name`.
    #[must_use]
    pub fn kinds(&self, name: &str) -> Vec<&EventKind> {
        self.events.iter().map(|(_, e)| e).filter(|e| e.name() == name).collect()
    }

    fn hex_style(&self) -> HexStyle {
        facts(self.isa).hex_style
    }
}

impl GuestMemory for FakeMachine {
    fn read(&self, va: KernelVa, buf: &mut [u8]) -> Result<(), MemFault> {
        let (base, off) = self.locate(va, buf.len())?;
        buf.copy_from_slice(&self.regions[&base].bytes[off..off + buf.len()]);
        Ok(())
    }

    fn write(&mut self, va: KernelVa, data: &[u8]) -> Result<(), MemFault> {
        let (base, off) = self.locate(va, data.len())?;
        let r = self.regions.get_mut(&base).expect("located");
        if r.perm != Perm::ReadWrite {
            return Err(MemFault { va, kind: MemFaultKind::WriteProtected });
        }
        r.bytes[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }
}

impl Machine for FakeMachine {
    fn isa(&self) -> Isa {
        self.isa
    }

    fn nr_cpus(&self) -> usize {
        self.regs.len()
    }

    fn now(&self) -> VTime {
        VTime(self.now)
    }

    fn charge(&mut self, cpu: CpuId, ticks: u64) {
        self.charged[cpu.0] += ticks;
    }

    fn kallsyms(&self) -> &Kallsyms {
        &self.kallsyms
    }

    fn poke_text(&mut self, cpu: CpuId, va: KernelVa, data: &[u8]) -> Result<KernelVa, MemFault> {
        let (base, off) = self.locate(va, data.len())?;
        let r = self.regions.get_mut(&base).expect("located");
        if r.perm != Perm::Text {
            return Err(MemFault { va, kind: MemFaultKind::Unmapped });
        }
        let alias = self.layout.poke_base + r.pa + off as u64;
        let old = r.bytes[off..off + data.len()].to_vec();
        r.bytes[off..off + data.len()].copy_from_slice(data);
        let state =
            if facts(self.isa).icache_coherent_with_stores { IcacheState::Invalidated } else { IcacheState::Stale };
        for pending in &mut self.icache {
            pending.push(StaleRange { va: va.0, len: data.len() as u64, state });
        }
        let style = self.hex_style();
        self.emit(cpu, EventKind::TextWrite {
            addr: va,
            alias: KernelVa(alias),
            old: Hex(old, style),
            new: Hex(data.to_vec(), style),
        });
        Ok(KernelVa(alias))
    }

    fn flush_icache_range(&mut self, cpu: CpuId, va: KernelVa, len: u64) {
        for pending in &mut self.icache {
            for r in pending.iter_mut().filter(|r| r.va < va.0 + len && va.0 < r.va + r.len) {
                r.state = IcacheState::Invalidated;
            }
        }
        self.emit(cpu, EventKind::CacheMaintenance { addr: va, len });
    }

    fn context_synchronize(&mut self, cpu: CpuId, why: SyncReason) {
        let (ready, still): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.icache[cpu.0]).into_iter().partition(|r| r.state == IcacheState::Invalidated);
        self.icache[cpu.0] = still;
        for r in ready {
            self.emit(cpu, EventKind::IcacheSync { addr: KernelVa(r.va), len: r.len, why });
        }
    }

    fn text_stale_on(&self, cpu: CpuId, va: KernelVa, len: u64) -> bool {
        self.icache[cpu.0].iter().any(|r| r.va < va.0 + len && va.0 < r.va + r.len)
    }

    fn guest_pc(&self, cpu: CpuId) -> u64 {
        self.regs[cpu.0].ip()
    }

    fn pt_regs(&mut self, cpu: CpuId) -> PtRegs {
        self.regs[cpu.0].clone()
    }

    fn set_pt_regs(&mut self, cpu: CpuId, regs: &PtRegs) {
        self.regs[cpu.0] = regs.clone();
    }

    fn insn_slot_area(&self) -> (KernelVa, u64) {
        (KernelVa(self.layout.slots), self.layout.slots_size)
    }

    fn stack_top(&self, cpu: CpuId) -> KernelVa {
        KernelVa(self.layout.stacks + (cpu.0 as u64 + 1) * THREAD_SIZE)
    }

    fn is_kernel_text(&self, va: KernelVa) -> bool {
        (self.layout.text..self.layout.text + self.layout.text_size).contains(&va.0)
    }

    fn install_text(&mut self, name: &str, code: &[u8]) -> KernelVa {
        let va = self.install_cursor;
        self.install_cursor = (va + code.len() as u64 + 15) & !15;
        self.write_raw(va, code);
        self.add_symbol(name, va, code.len() as u64);
        KernelVa(va)
    }

    fn write_text_at_boot(&mut self, va: KernelVa, code: &[u8]) {
        self.write_raw(va.0, code);
    }

    fn model_entry(&mut self, name: &str) -> KernelVa {
        // A page past the text, one 16-byte entry per name (as sim's model-entry page).
        let base = self.layout.text + self.layout.text_size;
        let i = match self.model_entries.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.model_entries.push(name.to_string());
                let i = self.model_entries.len() - 1;
                self.add_symbol(name, base + 16 * i as u64, 16);
                i
            }
        };
        KernelVa(base + 16 * i as u64)
    }

    fn call_function(&mut self, cpu: CpuId, func: KernelVa, args: &[u64], sp: u64) {
        let r = &mut self.regs[cpu.0];
        r.set_ip(func.0);
        for (n, a) in args.iter().enumerate() {
            r.set_arg(n, *a);
        }
        match r {
            PtRegs::Aarch64(a) => a.sp = sp,
            PtRegs::X86_64(x) => x.sp = sp,
        }
        r.mask_irqs();
        let call = PendingCall { cpu, func, args: args.to_vec(), sp };
        self.pending_calls.push(call.clone());
        self.calls.push(call);
    }

    fn emit(&mut self, cpu: CpuId, kind: EventKind) {
        self.events.push((cpu, kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_written_only_through_the_poke_alias_and_goes_stale() {
        let mut m = FakeMachine::new(Isa::Aarch64, 2);
        let t = m.layout.text;
        assert_eq!(m.write(KernelVa(t), &[1]), Err(MemFault { va: KernelVa(t), kind: MemFaultKind::WriteProtected }));
        let alias = m.poke_text(CpuId(0), KernelVa(t + 4), &[1, 2, 3, 4]).unwrap();
        assert_eq!(alias.0, m.layout.poke_base + 4);
        assert_eq!(m.u32_at(t + 4), 0x0403_0201);
        assert!(m.text_stale_on(CpuId(1), KernelVa(t), 8));
        m.context_synchronize(CpuId(1), SyncReason::Isb);
        assert!(m.text_stale_on(CpuId(1), KernelVa(t), 8), "not invalidated yet: a sync does not help");
        m.flush_icache_range(CpuId(0), KernelVa(t + 4), 4);
        m.context_synchronize(CpuId(1), SyncReason::Isb);
        assert!(!m.text_stale_on(CpuId(1), KernelVa(t), 8));
        assert!(m.text_stale_on(CpuId(0), KernelVa(t), 8), "CPU 0 has not synchronised");
        assert_eq!(m.event_names(), ["text_write", "cache_maint", "icache_sync"]);
    }

    #[test]
    fn faults_name_the_first_unmapped_byte() {
        let mut m = FakeMachine::empty(Isa::X86_64);
        m.map(0x1000, vec![0; 16]);
        let mut b = [0; 8];
        assert_eq!(m.read(KernelVa(0x100c), &mut b).unwrap_err().va, KernelVa(0x1010));
        assert_eq!(m.read(KernelVa(0x2000), &mut b).unwrap_err().va, KernelVa(0x2000));
        assert_eq!(m.read(KernelVa(0x10), &mut b).unwrap_err().va, KernelVa(0x10));
        assert!(m.read(KernelVa(0x1008), &mut b).is_ok());
    }

    #[test]
    fn calls_wait_for_the_test_to_complete_them() {
        let mut m = FakeMachine::new(Isa::X86_64, 1);
        m.call_function(CpuId(0), KernelVa(0xffff_ffff_8100_0000), &[7, 8], 0x1000);
        assert_eq!(m.regs[0].arg(1), Some(8));
        assert!(!m.regs[0].irqs_enabled());
        let c = m.complete_call(CpuId(0), 42);
        assert_eq!((c.func.0, c.args), (0xffff_ffff_8100_0000, vec![7, 8]));
        assert_eq!(m.regs[0].return_value(), 42);
        assert!(m.pending_calls.is_empty());
    }
}
