//! x86_64 guest: ring 0, long mode with real 4-level page tables built in the shared RAM (Unicorn cannot fetch at
//! kernel VAs without paging), one CR3 for all CPUs; text read+execute, data and stacks no-execute, as Linux maps
//! them. Unicorn's `mem_*` calls take physical addresses here; the machine only ever touches RAM by PA.

mod layout;
mod regs;
mod reloc;
mod traps;

use super::{BadAccess, IsaBackend};
use crate::uc::Uc;
use crate::arch::RelocError;
use crate::memory::{KernelMemory, Layout};
use kernel_model::ptrace::PtRegs;
use kernel_model::event::{HexStyle, Trap};
use kernel_model::machine::MemFault;
use kernel_model::{Isa, KernelVa};
use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::{uc_error, Unicorn};

/// The x86_64 backend.
pub struct X86_64;

impl IsaBackend for X86_64 {
    fn isa(&self) -> Isa {
        Isa::X86_64
    }

    fn layout(&self) -> Layout {
        layout::layout()
    }

    fn init_ram(&self, mem: &KernelMemory) {
        layout::build_page_tables(mem);
    }

    fn new_cpu(&self, mem: &KernelMemory) -> Result<Uc, uc_error> {
        let mut uc = Unicorn::new_with_data(Arch::X86, Mode::MODE_64, crate::uc::HookState::default())?;
        crate::uc::set_tcg_buffer_size(&mut uc, crate::uc::TCG_BUFFER_SIZE)?;
        // SAFETY: the pointer covers all of the machine's RAM, which outlives every CPU (the machine drops its CPUs
        // first). All instances map it at PA 0 and run on one thread.
        unsafe { uc.mem_map_ptr(0, mem.ram.size(), Prot::ALL, mem.ram.host_ptr(0).cast())? };
        regs::enable_paging(&mut uc, layout::PML4_PA)?;
        Ok(uc)
    }

    fn pt_regs(&self, uc: &Uc) -> PtRegs {
        PtRegs::X86_64(regs::read(uc))
    }

    fn set_pt_regs(&self, uc: &mut Uc, regs: &PtRegs) {
        let PtRegs::X86_64(r) = regs else { panic!("x86_64 CPU given non-x86 pt_regs (simulator bug)") };
        regs::write(uc, r);
    }

    fn prepare_call(
        &self,
        uc: &mut Uc,
        mem: &KernelMemory,
        func: u64,
        args: &[u64],
        stack_top: u64,
        ret: u64,
    ) -> Result<(), MemFault> {
        let mut r = regs::read(uc);
        for (i, a) in args.iter().take(6).enumerate() {
            r.set_arg(i, *a);
        }
        // At a function's first instruction (rsp + 8) is 16-byte aligned and [rsp] is the return address.
        r.sp = (stack_top & !0xf) - 8;
        mem.write(KernelVa(r.sp), &ret.to_le_bytes())?;
        r.ip = func;
        // Kernel threads run with interrupts enabled (EFLAGS.IF); bit 1 is reserved-set.
        r.flags = 0x202;
        regs::write(uc, &r);
        Ok(())
    }

    fn return_value(&self, uc: &Uc) -> u64 {
        regs::read(uc).ax
    }

    fn trap(&self, uc: &Uc, _mem: &KernelMemory, intno: u32) -> Trap {
        traps::classify(uc, intno)
    }

    fn fault(&self, err: uc_error, access: Option<BadAccess>) -> Trap {
        traps::classify_error(err, access)
    }

    fn icache_coherent_with_stores(&self) -> bool {
        true
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
        // `ud2`: never executed (emulation stops at this address), and would fault loudly if it were.
        &[0x0f, 0x0b, 0xcc, 0xcc]
    }

    fn text_hex_style(&self) -> HexStyle {
        HexStyle::Bytes
    }

    fn elf_machine(&self) -> u16 {
        goblin::elf::header::EM_X86_64
    }
}
