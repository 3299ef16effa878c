//! Moving registers between a Unicorn x86_64 CPU and the kernel's `struct pt_regs`; enabling paging.

use crate::uc::Uc;
use kernel_model::ptrace::x86_64::PtRegs;
use unicorn_engine::uc_error;
use unicorn_engine::RegisterX86 as R;

/// Selects one `pt_regs` field.
type Field = fn(&mut PtRegs) -> &mut u64;

const MAP: [(R, Field); 18] = [
    (R::R15, |r| &mut r.r15),
    (R::R14, |r| &mut r.r14),
    (R::R13, |r| &mut r.r13),
    (R::R12, |r| &mut r.r12),
    (R::RBP, |r| &mut r.bp),
    (R::RBX, |r| &mut r.bx),
    (R::R11, |r| &mut r.r11),
    (R::R10, |r| &mut r.r10),
    (R::R9, |r| &mut r.r9),
    (R::R8, |r| &mut r.r8),
    (R::RAX, |r| &mut r.ax),
    (R::RCX, |r| &mut r.cx),
    (R::RDX, |r| &mut r.dx),
    (R::RSI, |r| &mut r.si),
    (R::RDI, |r| &mut r.di),
    (R::RIP, |r| &mut r.ip),
    (R::EFLAGS, |r| &mut r.flags),
    (R::RSP, |r| &mut r.sp),
];

/// Reads all registers.
///
/// # Panics
/// If Unicorn refuses a register it defines: a simulator bug.
pub fn read(uc: &Uc) -> PtRegs {
    let mut r = PtRegs::default();
    for (id, field) in MAP {
        *field(&mut r) = uc.reg_read(id).expect("x86 register readable");
    }
    r
}

/// Writes all registers.
///
/// # Panics
/// If Unicorn refuses a register it defines: a simulator bug.
pub fn write(uc: &mut Uc, r: &PtRegs) {
    let mut r = r.clone();
    for (id, field) in MAP {
        let v = *field(&mut r);
        uc.reg_write(id, v).expect("x86 register writable");
    }
}

const MSR_EFER: u32 = 0xc000_0080;
const EFER_NXE: u64 = 1 << 11;
const CR0_PE: u64 = 1;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_PGE: u64 = 1 << 7;

/// Writes a model-specific register (`uc_x86_msr { u32 rid; u64 value; }`).
fn wrmsr(uc: &mut Uc, rid: u32, value: u64) -> Result<(), uc_error> {
    let mut msr = [0u8; 16];
    msr[..4].copy_from_slice(&rid.to_le_bytes());
    msr[8..].copy_from_slice(&value.to_le_bytes());
    uc.reg_write_long(R::MSR, &msr)
}

fn rdmsr(uc: &Uc, rid: u32) -> Result<u64, uc_error> {
    let mut msr = [0u8; 16];
    msr[..4].copy_from_slice(&rid.to_le_bytes());
    // SAFETY: `uc_x86_msr` is 16 bytes; Unicorn reads `rid` and writes `value` inside the buffer.
    let err = unsafe {
        unicorn_engine::uc_reg_read(uc.get_handle(), R::MSR as i32, msr.as_mut_ptr().cast())
    };
    Result::<(), uc_error>::from(err)?;
    Ok(u64::from_le_bytes(msr[8..].try_into().expect("8 bytes")))
}

/// Turns on long-mode paging as Linux runs: EFER.NXE, CR4.PAE|PGE, CR3 = the shared PML4, CR0.PG|WP|PE.
pub fn enable_paging(uc: &mut Uc, pml4: u64) -> Result<(), uc_error> {
    let efer = rdmsr(uc, MSR_EFER)?;
    wrmsr(uc, MSR_EFER, efer | EFER_NXE)?;
    let cr4 = uc.reg_read(R::CR4)?;
    uc.reg_write(R::CR4, cr4 | CR4_PAE | CR4_PGE)?;
    uc.reg_write(R::CR3, pml4)?;
    let cr0 = uc.reg_read(R::CR0)?;
    uc.reg_write(R::CR0, cr0 | CR0_PG | CR0_WP | CR0_PE)
}
