//! Test fixtures shared by the unit tests of [`super::prepare`], [`super::boost`], [`super::emulate`] and
//! [`super::resume`]: flat guest memory, a one-function kernel, and the configurations.

use super::prepare::*;
use crate::ptrace::x86_64::PtRegs;
use crate::kallsyms::{Kallsyms, Symbol, SymbolKind};
use crate::KernelVa;

/// Where the test kernel text lives (`__START_KERNEL_map + 16M`, as on a real x86_64 kernel).
pub(crate) const TEXT: u64 = 0xffff_ffff_8100_0000;
/// `.text.unlikely` of the fixtures.
pub(crate) const COLD: u64 = 0xffff_ffff_8110_0000;
/// A kprobe slot in the module area (`MODULES_VADDR`), within ±2 GiB of the text like `module_alloc` memory.
pub(crate) const SLOT: u64 = 0xffff_ffff_a000_0000;
/// A kernel stack.
pub(crate) const STACK: u64 = 0xffff_c900_0001_0000;

pub(crate) const C510: X86KprobesConfig = X86KprobesConfig::V5_10;
pub(crate) const C612: X86KprobesConfig = X86KprobesConfig::V6_12;
pub(crate) const C612_NOPREEMPT: X86KprobesConfig = X86KprobesConfig { preemption: false, ..X86KprobesConfig::V6_12 };

/// Mapped regions (read-write); everything else faults: the shared fake machine.
pub(crate) type Mem = crate::testing::FakeMachine;

/// No memory yet (`map` adds regions).
pub(crate) fn empty_mem() -> Mem {
    Mem::empty(crate::Isa::X86_64)
}

pub(crate) fn text_sym(name: &str, addr: u64, size: u64) -> Symbol {
    Symbol { name: name.into(), addr: KernelVa(addr), size, kind: SymbolKind::Text, global: true }
}

/// A function `f` at TEXT holding `body` then `ret` and NOP padding, followed by function `g`; plus a stack.
pub(crate) fn one_function(body: &[u8]) -> (Mem, Kallsyms) {
    let mut text = body.to_vec();
    text.push(0xc3);
    text.resize(text.len() + 32, 0x90);
    let size = text.len() as u64;
    text.extend_from_slice(&[0xc3; 16]);
    let mut mem = empty_mem();
    mem.map(TEXT, text);
    mem.map(STACK - 0x1000, vec![0; 0x2000]);
    let ks = Kallsyms::new(vec![text_sym("f", TEXT, size), text_sym("g", TEXT + size, 16)]);
    (mem, ks)
}

pub(crate) fn class_name(c: &X86ProbeClass) -> String {
    match c {
        X86ProbeClass::Rejected(e) => format!("rejected:{}", e.errno_name()),
        other => other.kernel_name(),
    }
}

pub(crate) fn classify_one(body: &[u8], cfg: X86KprobesConfig, post: bool) -> X86ProbeClass {
    let (mem, ks) = one_function(body);
    classify(KernelVa(TEXT), KernelVa(SLOT), post, &mem, &ks, &PristineText, cfg)
}

pub(crate) fn prepare_one(body: &[u8], cfg: X86KprobesConfig) -> X86Kprobe {
    let (mem, ks) = one_function(body);
    arch_prepare_kprobe(KernelVa(TEXT), KernelVa(SLOT), false, &mem, &ks, &PristineText, cfg)
        .unwrap_or_else(|e| panic!("{body:02x?}: {e}"))
}


pub(crate) fn regs_at_int3() -> PtRegs {
    PtRegs { ip: TEXT + 1, sp: STACK, flags: 0x246, ..PtRegs::default() }
}

pub(crate) fn run(bytes: &[u8], regs: &mut PtRegs, mem: &mut Mem) -> X86Kprobe {
    let kp = prepare_one(bytes, C612);
    let op = kp.ainsn.emulate_op.expect("emulated");
    op.emulate(&kp.ainsn, regs, mem).unwrap();
    kp
}
