//! arm64 (AArch64) guest: EL1h with the MMU off, kernel VAs mapped directly (Unicorn accepts them), Cortex-A72
//! model (ARMv8.0, like the seed's RK3588 cores without pointer authentication: `paciasp`/`autiasp` and `bti` are
//! hint-space NOPs).

mod layout;
mod regs;
mod reloc;
mod traps;

use super::{BadAccess, IsaBackend};
use crate::uc::Uc;
use crate::arch::RelocError;
use crate::memory::{KernelMemory, Layout, RegionKind};
use kernel_model::ptrace::PtRegs;
use kernel_model::event::{HexStyle, Trap};
use kernel_model::machine::MemFault;
use kernel_model::Isa;
use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::{uc_error, Unicorn};

/// The arm64 backend.
pub struct Aarch64;

impl IsaBackend for Aarch64 {
    fn isa(&self) -> Isa {
        Isa::Aarch64
    }

    fn layout(&self) -> Layout {
        layout::layout()
    }

    fn init_ram(&self, _mem: &KernelMemory) {}

    fn new_cpu(&self, mem: &KernelMemory) -> Result<Uc, uc_error> {
        let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::ARM, crate::uc::HookState::default())?;
        crate::uc::set_tcg_buffer_size(&mut uc, crate::uc::TCG_BUFFER_SIZE)?;
        regs::select_model(&mut uc)?;
        for r in &mem.layout.regions {
            if r.kind == RegionKind::PageTables {
                continue;
            }
            let prot = match (r.perm.write, r.perm.exec) {
                (true, _) => Prot::READ | Prot::WRITE,
                (false, true) => Prot::READ | Prot::EXEC,
                (false, false) => Prot::READ,
            };
            // SAFETY: the pointer covers `r.size` bytes of the machine's RAM, which outlives every CPU (the machine
            // drops its CPUs first). Several instances may map it; they all run on one thread.
            unsafe { uc.mem_map_ptr(r.va, r.size, prot, mem.ram.host_ptr(r.pa).cast())? };
        }
        regs::init_system_registers(&mut uc)?;
        Ok(uc)
    }

    fn pt_regs(&self, uc: &Uc) -> PtRegs {
        PtRegs::Aarch64(regs::read(uc))
    }

    fn set_pt_regs(&self, uc: &mut Uc, regs: &PtRegs) {
        let PtRegs::Aarch64(r) = regs else { panic!("arm64 CPU given non-arm64 pt_regs (simulator bug)") };
        regs::write(uc, r);
    }

    fn prepare_call(
        &self,
        uc: &mut Uc,
        _mem: &KernelMemory,
        func: u64,
        args: &[u64],
        stack_top: u64,
        ret: u64,
    ) -> Result<(), MemFault> {
        let mut r = regs::read(uc);
        r.regs = [0; 31];
        for (i, a) in args.iter().take(8).enumerate() {
            r.regs[i] = *a;
        }
        r.regs[30] = ret;
        r.sp = stack_top & !0xf;
        r.pc = func;
        r.pstate = kernel_model::ptrace::aarch64::PSR_MODE_EL1H;
        regs::write(uc, &r);
        Ok(())
    }

    fn return_value(&self, uc: &Uc) -> u64 {
        regs::read(uc).regs[0]
    }

    fn trap(&self, uc: &Uc, mem: &KernelMemory, intno: u32) -> Trap {
        traps::classify(uc, mem, intno)
    }

    fn trap_from_icache(&self, trap: Trap, mem: &KernelMemory, pc: u64, stale: &[&[u8]]) -> Trap {
        traps::brk_from_icache(trap, mem, pc, stale)
    }

    fn fault(&self, err: uc_error, access: Option<BadAccess>) -> Trap {
        traps::classify_error(err, access)
    }

    fn icache_coherent_with_stores(&self) -> bool {
        false
    }

    fn reloc_width(&self, rtype: u32) -> Option<usize> {
        reloc::width(rtype)
    }

    fn reloc_name(&self, rtype: u32) -> &'static str {
        reloc::name(rtype)
    }

    fn apply_reloc(&self, rtype: u32, field: &mut [u8], sym: u64, addend: i64, place: u64) -> Result<(), RelocError> {
        reloc::apply(rtype, field, sym, addend, place)
    }

    fn task_return_insn(&self) -> &'static [u8] {
        // `udf #0`: never executed (emulation stops at this address), and would fault loudly if it were.
        &[0, 0, 0, 0]
    }

    fn text_hex_style(&self) -> HexStyle {
        HexStyle::Words
    }

    fn elf_machine(&self) -> u16 {
        goblin::elf::header::EM_AARCH64
    }
}
