//! Reference measurements for `probesim bench`: the same guest call run by one bare Unicorn instance, with no
//! hooks and no quanta, so the cost of the simulator's scheduling shows as a ratio.

use crate::arch::lookup;
use crate::uc::HookState;
use crate::elf::{self, ElfError, Placement};
use crate::memory::{KernelMemory, Ram, RegionKind, PAGE_SIZE};
use kernel_model::kallsyms::Kallsyms;
use kernel_model::Isa;
use std::path::PathBuf;
use std::time::Duration;

/// Times one uninterrupted call of `func(args…)` on a bare instance (no hooks, `count = 0`): wall time only; the
/// instruction count is the caller's (from a simulated run of the same call). Returns `None` if the call faulted.
#[allow(clippy::disallowed_methods)] // Benchmarks measure wall time; nothing here reaches a trace.
pub fn time_bare_call(isa: Isa, files: &[PathBuf], func: &str, args: &[u64]) -> Result<Option<Duration>, ElfError> {
    let backend = lookup(isa);
    let layout = backend.layout();
    let mem = KernelMemory { ram: Ram::new(layout.ram_size), layout };
    backend.init_ram(&mem);
    let mut placement = Placement::new(&mem, 2 * PAGE_SIZE);
    let images = files.iter().map(|f| elf::ElfImage::read(f)).collect::<Result<Vec<_>, _>>()?;
    let syms = Kallsyms::new(elf::load(&images, backend.as_ref(), &mem, &mut placement)?.symbols);
    let Some(f) = syms.lookup_name(func) else { return Ok(None) };
    let text = mem.layout.region(RegionKind::Text);
    let ret = text.va + text.size - PAGE_SIZE;
    let stack_top = mem.layout.region(RegionKind::Stacks).va + 0x4000;
    let mut uc = backend.new_cpu(&mem).expect("bare CPU");
    let _: &HookState = uc.get_data();
    backend.prepare_call(&mut uc, &mem, f.addr.0, args, stack_top, ret).expect("stack mapped");
    let start = std::time::Instant::now();
    let res = uc.emu_start(f.addr.0, ret, 0, 0);
    let elapsed = start.elapsed();
    Ok((res.is_ok() && uc.pc_read().ok() == Some(ret)).then_some(elapsed))
}
