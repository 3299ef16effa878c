//! `arch/arm64/kernel/debug-monitors.c` and the exception entry in front of it (`arch/arm64/kernel/entry.S`,
//! `entry-common.c`, `arch/arm64/mm/fault.c`): how a BRK reaches a break hook.

use crate::profile::KernelProfile;

/// `ESR_ELx_EC_BRK64`.
pub const ESR_ELX_EC_BRK64: u32 = 0x3c;
/// `ESR_ELx_IL`: 32-bit instruction.
pub const ESR_ELX_IL: u32 = 1 << 25;

/// The ESR a `BRK #imm` at EL1 produces: EC 0x3c, IL, ISS = imm16.
#[must_use]
pub fn brk_esr(imm: u16) -> u32 {
    (ESR_ELX_EC_BRK64 << 26) | ESR_ELX_IL | u32::from(imm)
}

/// The call chain from the exception vector to `call_break_hook`, outermost first, named as in seed 000's
/// backtrace (5.10) or as 6.12 names them.
#[must_use]
pub fn brk_entry_frames(profile: KernelProfile) -> Vec<String> {
    let frames: &[&str] = match profile {
        KernelProfile::V5_10 => {
            &["el1_sync", "el1_sync_handler", "el1_dbg", "do_debug_exception", "brk_handler", "call_break_hook"]
        }
        KernelProfile::V6_12 => &[
            "el1h_64_sync",
            "el1h_64_sync_handler",
            "el1_dbg",
            "do_debug_exception",
            "brk_handler",
            "call_el1_break_hook",
        ],
    };
    frames.iter().map(|f| (*f).to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kprobe_brk_esr() {
        assert_eq!(brk_esr(4), 0xf200_0004);
    }
}
