//! The Unicorn handle type and the state its hooks share (below `arch/` and `cpu.rs`, which both use them), and
//! the translator-buffer setting every instance gets.

use unicorn_engine::unicorn_const::ControlType;
use unicorn_engine::{uc_error, Unicorn};

/// Bytes of translated-code buffer each CPU's Unicorn instance reserves (QEMU's `code_gen_buffer`, set with
/// `UC_CTL_TCG_BUFFER_SIZE`). Unicorn's default on 64-bit hosts is 1 GiB per instance, so 64 CPUs reserved 64 GiB of
/// address space and failed under a 24 GiB limit ("Could not allocate dynamic translator buffer"). Kernel functions
/// under test translate to a few hundred KiB; when the buffer fills, QEMU flushes it and translates again, which
/// costs time but not correctness. Measured in docs/limits.md.
pub const TCG_BUFFER_SIZE: u32 = 32 << 20;

/// Sets the translator buffer of an instance that is not initialised yet (Unicorn initialises lazily, at the first
/// call that needs the engine: call this right after `Unicorn::new`, before any map or CPU-model control).
pub(crate) fn set_tcg_buffer_size<D>(uc: &mut Unicorn<'_, D>, bytes: u32) -> Result<(), uc_error> {
    // unicorn-engine 2.1.5 has no safe wrapper for `uc_ctl_set_tcg_buffer_size`; this is the C macro's expansion.
    // SAFETY: the handle is live (owned by `uc`); `UC_CTL_TCG_BUFFER_SIZE` as a write takes one `uint32_t` vararg.
    unsafe {
        unicorn_engine::uc_ctl(
            uc.get_handle().cast(),
            ControlType(ControlType::TCG_BUFFER_SIZE.0 | ControlType::IO_WRITE.0),
            bytes,
        )
    }
    .into()
}

/// A Unicorn instance carrying our per-run hook state.
pub type Uc = Unicorn<'static, HookState>;

/// State shared with the hooks of one instance.
#[derive(Default, Debug)]
pub struct HookState {
    /// Instructions that began executing in this `emu_start`.
    pub(crate) executed: u64,
    /// Stop before the instruction that would exceed this.
    pub(crate) limit: u64,
    /// The exception the interrupt hook saw, if any.
    pub(crate) intno: Option<u32>,
    /// The last access Unicorn refused.
    pub(crate) bad_access: Option<BadAccess>,
    /// The model-entry address the CPU branched to, if any.
    pub(crate) model_call: Option<u64>,
    /// The address range of model entries (`[start, end)`): branching there calls modelled kernel code.
    pub(crate) model_entries: (u64, u64),
}

/// A memory access Unicorn refused (from the invalid-memory hook), for reporting faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAccess {
    /// The address.
    pub addr: u64,
    /// Unicorn's access type, as text.
    pub what: &'static str,
}

