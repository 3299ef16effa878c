//! Moving registers between a Unicorn arm64 CPU and the kernel's `struct pt_regs`.

use crate::uc::Uc;
use kernel_model::ptrace::aarch64::{PtRegs, PSR_MODE_EL1H};
use unicorn_engine::uc_error;
use unicorn_engine::unicorn_const::Arm64CpuModel;
use unicorn_engine::RegisterARM64;

/// Unicorn's id of `xN` (x0..x28 are contiguous; x29/x30 are not).
fn x(n: usize) -> i32 {
    match n {
        29 => RegisterARM64::X29 as i32,
        30 => RegisterARM64::X30 as i32,
        // n <= 28 here, so the cast cannot truncate.
        _ => RegisterARM64::X0 as i32 + n as i32,
    }
}

/// Reads all registers.
///
/// # Panics
/// If Unicorn refuses to read a register it defines: a simulator bug.
pub fn read(uc: &Uc) -> PtRegs {
    let get = |id: i32| uc.reg_read(id).expect("arm64 register readable");
    let mut r = PtRegs::default();
    for (n, slot) in r.regs.iter_mut().enumerate() {
        *slot = get(x(n));
    }
    r.sp = get(RegisterARM64::SP as i32);
    r.pc = get(RegisterARM64::PC as i32);
    r.pstate = get(RegisterARM64::PSTATE as i32);
    r
}

/// Writes all registers.
///
/// # Panics
/// If Unicorn refuses to write a register it defines: a simulator bug.
pub fn write(uc: &mut Uc, r: &PtRegs) {
    for (n, v) in r.regs.iter().enumerate() {
        uc.reg_write(x(n), *v).expect("arm64 register writable");
    }
    // PSTATE first: it selects which banked SP `SP` names.
    uc.reg_write(RegisterARM64::PSTATE as i32, r.pstate).expect("PSTATE writable");
    uc.reg_write(RegisterARM64::SP as i32, r.sp).expect("SP writable");
    uc.reg_write(RegisterARM64::PC as i32, r.pc).expect("PC writable");
}

/// Selects the CPU model (must precede any mapping) and puts the CPU at EL1h.
pub fn select_model(uc: &mut Uc) -> Result<(), uc_error> {
    uc.ctl_set_cpu_model(Arm64CpuModel::A72 as i32)
}

/// Enables FP/SIMD at EL1 (`CPACR_EL1.FPEN`), so compiler-generated SIMD moves do not trap, and enters EL1h.
pub fn init_system_registers(uc: &mut Uc) -> Result<(), uc_error> {
    uc.reg_write(RegisterARM64::CPACR_EL1 as i32, 3 << 20)?;
    uc.reg_write(RegisterARM64::PSTATE as i32, PSR_MODE_EL1H)
}
