//! ELF input from outside is bounded by the file: sizes, offsets and names that do not fit give a typed error that
//! names the file, the part and the value, never a panic or an abort.

use goblin::elf::Elf;
use kernel_model::Isa;
use sim::elf::{ElfError, ElfImage};
use sim::machine::{EmulatedMachine, MachineError};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

/// The file offset of symbol `name`'s `st_size` field.
fn st_size_offset(bytes: &[u8], name: &str) -> usize {
    let elf = Elf::parse(bytes).unwrap();
    let symtab = elf.section_headers.iter().find(|sh| sh.sh_type == goblin::elf::section_header::SHT_SYMTAB).unwrap();
    let idx = elf.syms.iter().position(|s| elf.strtab.get_at(s.st_name) == Some(name)).unwrap();
    symtab.sh_offset as usize + idx * 24 + 16
}

fn with_symbol_size(rel: &str, name: &str, size: u64) -> ElfImage {
    let path = fixture(rel);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = st_size_offset(&bytes, name);
    bytes[at..at + 8].copy_from_slice(&size.to_le_bytes());
    ElfImage { path, bytes }
}

fn load_err(isa: Isa, image: ElfImage) -> ElfError {
    match EmulatedMachine::with_images(isa, 1, &[image]) {
        Err(MachineError::LoadElf(e)) => e,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("loaded"),
    }
}

/// `disasm --symbol` and `show_disasm` allocated `st_size` bytes: 2^37 aborted ("memory allocation of 137438953472
/// bytes failed"), 2^64-1 panicked ("capacity overflow"). A symbol is bounded by its section at load time.
#[test]
fn huge_symbol_sizes_are_refused_at_load() {
    for size in [1 << 37, u64::MAX, 0x1_0000] {
        let e = load_err(Isa::Aarch64, with_symbol_size("arm64-icache/arm64-icache.o", "icache_loop", size));
        let msg = e.to_string();
        assert!(matches!(e, ElfError::SymbolSize { size: s, .. } if s == size), "{msg}");
        assert!(msg.contains("arm64-icache.o") && msg.contains("`icache_loop`") && msg.contains(".text"), "{msg}");
    }
    // A linked image (ET_EXEC): sections at their link addresses.
    let e = load_err(Isa::Aarch64, with_symbol_size("arm64-clone/arm64-clone-seed.elf", "__arm64_sys_clone", 1 << 40));
    assert!(matches!(e, ElfError::SymbolSize { .. }), "{e}");
}

/// The size a symbol really has still loads, and the symbol keeps it.
#[test]
fn sizes_inside_the_section_load() {
    let path = fixture("arm64-icache/arm64-icache.o");
    let image = ElfImage::read(&path).unwrap();
    let m = EmulatedMachine::with_images(Isa::Aarch64, 1, &[image]).unwrap();
    use kernel_model::machine::Machine as _;
    let s = m.kallsyms().lookup_name("icache_loop").unwrap();
    assert!(s.size > 0 && s.size < 0x1000, "{s:?}");
}

/// Paths that are not regular files are refused before reading: a directory (what `elf = [""]` names) and a device
/// that never ends (`/dev/zero` used to grow memory without bound).
#[test]
fn only_regular_files_are_read() {
    let e = ElfImage::read(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err();
    assert!(matches!(e, ElfError::NotAFile { what: "a directory", .. }), "{e}");
    let e = ElfImage::read(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(e, ElfError::NotAFile { .. }), "{e}");
    assert!(e.to_string().starts_with("/dev/zero: not a regular file"), "{e}");
}

/// goblin's message comes with the part of the file that is wrong.
#[test]
fn malformed_files_name_the_part() {
    let path = fixture("arm64-icache/arm64-icache.o");
    let good = std::fs::read(&path).unwrap();
    // The section header table cut off.
    let cut = ElfImage { path: path.clone(), bytes: good[..good.len() - 100].to_vec() };
    let msg = load_err(Isa::Aarch64, cut).to_string();
    assert!(msg.contains("section header table at offset"), "{msg}");
    // A symbol table whose extent passes the end of the file.
    let mut bytes = good.clone();
    let elf = Elf::parse(&good).unwrap();
    let (i, _) =
        elf.section_headers.iter().enumerate().find(|(_, sh)| sh.sh_type == goblin::elf::section_header::SHT_SYMTAB).unwrap();
    let at = elf.header.e_shoff as usize + i * 64 + 32;
    bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let msg = load_err(Isa::Aarch64, ElfImage { path, bytes }).to_string();
    assert!(msg.contains(&format!("section #{i} (SHT_SYMTAB)")), "{msg}");
}

/// A linker's zero-sized mark may sit in a section's index with a value just outside it: `ld`'s default script
/// gives `__bss_start` and `_edata` the end of `.data` (0x40300c) while `.bss` starts aligned (0x403010). It is a
/// position, not an extent, and the image loads (docs/fixtures.md's x-default.elf was refused before); the same
/// value with a size is still refused.
#[test]
fn a_zero_sized_mark_just_before_its_section_loads() {
    let with = |size: u64| {
        let mut image = with_symbol_size("tutorial-targets/mydrv-arm64.elf", "mydrv_submitted", size);
        let at = st_size_offset(&image.bytes, "mydrv_submitted") - 8; // st_value
        image.bytes[at..at + 8].copy_from_slice(&0xffff_ffc0_1200_003c_u64.to_le_bytes());
        image
    };
    assert!(EmulatedMachine::with_images(Isa::Aarch64, 1, &[with(0)]).is_ok());
    let e = load_err(Isa::Aarch64, with(8));
    assert!(matches!(e, ElfError::SymbolSize { room: 0, .. }), "{e}");
}
