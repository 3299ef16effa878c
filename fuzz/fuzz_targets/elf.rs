//! The ELF loader: detect the ISA, place sections, collect symbols, apply relocations, then disassemble every
//! symbol as `probesim disasm` does.
#![no_main]

use kernel_model::machine::Machine as _;
use libfuzzer_sys::fuzz_target;
use sim::elf::ElfImage;
use sim::machine::EmulatedMachine;

fuzz_target!(|data: &[u8]| {
    let image = ElfImage { path: "fuzz.o".into(), bytes: data.to_vec() };
    let Ok(isa) = sim::elf::detect_isa_of(&image) else { return };
    let Ok(machine) = EmulatedMachine::with_images(isa, 1, &[image]) else { return };
    for s in machine.kallsyms().symbols() {
        let _ = probesim::views::render_function(&machine, s.addr, s.size);
    }
});
