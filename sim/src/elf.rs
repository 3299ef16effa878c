//! Loading kernel code from ELF files (goblin) into the machine's text and data regions.
//!
//! Relocatable objects (`ET_REL`, what `gcc -c` makes) are laid out section by section: code sections
//! (`SHF_EXECINSTR`: `.text`, `.text.unlikely`, …) into kernel text, everything else that is allocated into kernel
//! data, in file then section order. Their `RELA` relocations are then applied by the ISA backend. Linked files
//! (`ET_EXEC`) are loaded at their link addresses, which must fall inside the kernel text and data map. Symbols from
//! all files form one namespace, as in a linked kernel; the result feeds [`Kallsyms`].

use crate::arch::IsaBackend;
use crate::memory::{KernelMemory, RegionKind};
use goblin::elf::{header, section_header, sym, Elf};
use kernel_model::kallsyms::{Symbol, SymbolKind};
use kernel_model::{Isa, KernelVa};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why an ELF file could not be loaded. Each variant names the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    ReadFile {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// goblin rejected the file.
    #[error("{file}: malformed ELF: {msg}")]
    ParseElf {
        /// The file.
        file: PathBuf,
        /// goblin's message.
        msg: String,
    },
    /// The file is for another machine than the scenario's ISA.
    #[error("{file}: ELF machine is {found}, but the scenario's ISA is {expected}")]
    WrongMachine {
        /// The file.
        file: PathBuf,
        /// `e_machine` found, as a name.
        found: String,
        /// The scenario's ISA.
        expected: Isa,
    },
    /// Not 64-bit little-endian, or not `ET_REL`/`ET_EXEC`.
    #[error("{file}: unsupported ELF kind: {what}")]
    UnsupportedKind {
        /// The file.
        file: PathBuf,
        /// What is unsupported.
        what: String,
    },
    /// A section's bytes lie outside the file.
    #[error("{file}: section {section} lies outside the file")]
    TruncatedSection {
        /// The file.
        file: PathBuf,
        /// The section name.
        section: String,
    },
    /// Text or data does not fit its region.
    #[error("{file}: section {section} ({size:#x} bytes) does not fit the kernel {region:?} region")]
    RegionFull {
        /// The file.
        file: PathBuf,
        /// The section name.
        section: String,
        /// Its size.
        size: u64,
        /// The region.
        region: RegionKind,
    },
    /// A linked file's segment is outside the kernel map.
    #[error("{file}: section {section} is linked at {addr:#x}, outside the kernel text and data map")]
    OutsideMap {
        /// The file.
        file: PathBuf,
        /// The section name.
        section: String,
        /// Its link address.
        addr: u64,
    },
    /// A relocation names a symbol no loaded file defines.
    #[error("{file}: section {section}+{offset:#x}: undefined symbol `{name}`")]
    UndefinedSymbol {
        /// The file.
        file: PathBuf,
        /// The section relocated.
        section: String,
        /// Offset in it.
        offset: u64,
        /// The symbol.
        name: String,
    },
    /// A relocation type the ISA backend does not implement.
    #[error("{file}: section {section}+{offset:#x}: unsupported relocation type {rtype} ({name})")]
    UnsupportedRelocation {
        /// The file.
        file: PathBuf,
        /// The section relocated.
        section: String,
        /// Offset in it.
        offset: u64,
        /// The type number.
        rtype: u32,
        /// Its name, if known.
        name: &'static str,
    },
    /// A relocation's value does not fit its field.
    #[error("{file}: section {section}+{offset:#x}: relocation {name} value {value:#x} out of range")]
    RelocationOverflow {
        /// The file.
        file: PathBuf,
        /// The section relocated.
        section: String,
        /// Offset in it.
        offset: u64,
        /// The type name.
        name: &'static str,
        /// The value that did not fit.
        value: i128,
    },
    /// Two files define the same global symbol.
    #[error("{file}: global symbol `{name}` is already defined by {other}")]
    DuplicateSymbol {
        /// The file.
        file: PathBuf,
        /// The symbol.
        name: String,
        /// The file that defined it first.
        other: PathBuf,
    },
}

/// A relocation the ISA backend could not apply.
#[derive(Debug, PartialEq, Eq)]
pub enum RelocError {
    /// Unknown type.
    Unsupported(&'static str),
    /// Value out of range for the field.
    Overflow(&'static str, i128),
}

/// Where the loader puts things: bump allocators over the text and data regions.
#[derive(Debug)]
pub struct Placement {
    text_next: u64,
    text_end: u64,
    data_next: u64,
    data_end: u64,
    user_next: u64,
    user_end: u64,
}

impl Placement {
    /// Starts at the beginning of text and data; `text_reserved` bytes at the end of text are kept for the machine.
    #[must_use]
    pub fn new(mem: &KernelMemory, text_reserved: u64) -> Placement {
        let t = mem.layout.region(RegionKind::Text);
        let d = mem.layout.region(RegionKind::Data);
        let u = mem.layout.region(RegionKind::User);
        Placement {
            text_next: t.va,
            text_end: t.va + t.size - text_reserved,
            data_next: d.va,
            data_end: d.va + d.size,
            user_next: u.va,
            user_end: u.va + u.size,
        }
    }

    /// First free data address (for objects the machine allocates after loading).
    #[must_use]
    pub fn data_next(&self) -> u64 {
        self.data_next
    }

    /// Allocates `size` bytes of data aligned to `align` (a power of two).
    pub fn alloc_data(&mut self, size: u64, align: u64) -> Option<u64> {
        let at = self.data_next.next_multiple_of(align.max(1));
        (at + size <= self.data_end).then(|| {
            self.data_next = at + size;
            at
        })
    }

    fn alloc(&mut self, kind: RegionKind, size: u64, align: u64) -> Option<u64> {
        let (next, end) = match kind {
            RegionKind::Text => (&mut self.text_next, self.text_end),
            RegionKind::User => (&mut self.user_next, self.user_end),
            _ => (&mut self.data_next, self.data_end),
        };
        let at = next.next_multiple_of(align.max(1));
        (at + size <= end).then(|| {
            *next = at + size;
            at
        })
    }
}

struct LoadedFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Section index → load address.
    section_addr: BTreeMap<usize, u64>,
}

/// What loading produced.
pub(crate) struct Loaded {
    /// Symbols, for `Kallsyms::new`.
    pub symbols: Vec<Symbol>,
    /// Data inside code sections (`[start, end)`), from the ARM ELF mapping symbols `$d` … `$x`: literal pools.
    pub data_in_text: Vec<(u64, u64)>,
}

/// Loads `files` into memory.
pub(crate) fn load(
    files: &[PathBuf],
    backend: &dyn IsaBackend,
    mem: &KernelMemory,
    placement: &mut Placement,
) -> Result<Loaded, ElfError> {
    let mut loaded = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|source| ElfError::ReadFile { file: path.clone(), source })?;
        loaded.push(LoadedFile { path: path.clone(), bytes, section_addr: BTreeMap::new() });
    }
    // Pass 1: place sections and copy their bytes.
    for f in &mut loaded {
        let elf = parse(&f.path, &f.bytes, backend)?;
        place_sections(&f.path, &f.bytes, &elf, mem, placement, &mut f.section_addr)?;
    }
    // Pass 2: the global namespace and the symbol table.
    let mut globals: BTreeMap<String, (u64, PathBuf)> = BTreeMap::new();
    let mut symbols = Vec::new();
    let mut data_in_text = Vec::new();
    for f in &loaded {
        let elf = parse(&f.path, &f.bytes, backend)?;
        collect_symbols(f, &elf, &mut globals, &mut symbols)?;
        data_in_text.extend(mapping_data_ranges(f, &elf));
    }
    // Pass 3: relocations.
    for f in &loaded {
        let elf = parse(&f.path, &f.bytes, backend)?;
        relocate(f, &elf, &globals, backend, mem)?;
    }
    fill_missing_sizes(&mut symbols);
    Ok(Loaded { symbols, data_in_text })
}

/// The `$d` ranges of code sections: from each `$d` mapping symbol to the next mapping symbol or the section end.
fn mapping_data_ranges(f: &LoadedFile, elf: &Elf<'_>) -> Vec<(u64, u64)> {
    let mut marks: BTreeMap<usize, Vec<(u64, bool)>> = BTreeMap::new();
    for s in elf.syms.iter() {
        let name = elf.strtab.get_at(s.st_name).unwrap_or("");
        let is_data = name == "$d" || name.starts_with("$d.");
        let is_code = name == "$x" || name.starts_with("$x.");
        if (is_data || is_code) && f.section_addr.contains_key(&s.st_shndx) {
            marks.entry(s.st_shndx).or_default().push((s.st_value, is_data));
        }
    }
    let relocatable = elf.header.e_type == header::ET_REL;
    let mut out = Vec::new();
    for (shndx, mut m) in marks {
        let base = if relocatable { f.section_addr[&shndx] } else { 0 };
        let size = elf.section_headers.get(shndx).map_or(0, |sh| sh.sh_size);
        let sect_end = if relocatable { base + size } else { f.section_addr[&shndx] + size };
        let exec = elf
            .section_headers
            .get(shndx)
            .is_some_and(|sh| sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0);
        if !exec {
            continue;
        }
        m.sort_unstable();
        for (i, (off, is_data)) in m.iter().enumerate() {
            if *is_data {
                let end = m.get(i + 1).map_or(sect_end, |(o, _)| base + o);
                out.push((base + off, end));
            }
        }
    }
    out
}

fn parse<'a>(path: &Path, bytes: &'a [u8], backend: &dyn IsaBackend) -> Result<Elf<'a>, ElfError> {
    let elf = Elf::parse(bytes).map_err(|e| ElfError::ParseElf { file: path.into(), msg: e.to_string() })?;
    if !elf.is_64 || !elf.little_endian {
        return Err(ElfError::UnsupportedKind { file: path.into(), what: "not ELF64 little-endian".into() });
    }
    if elf.header.e_machine != backend.elf_machine() {
        return Err(ElfError::WrongMachine {
            file: path.into(),
            found: header::machine_to_str(elf.header.e_machine).to_string(),
            expected: backend.isa(),
        });
    }
    if !matches!(elf.header.e_type, header::ET_REL | header::ET_EXEC) {
        return Err(ElfError::UnsupportedKind {
            file: path.into(),
            what: format!("e_type {} (only ET_REL objects and ET_EXEC images)", header::et_to_str(elf.header.e_type)),
        });
    }
    Ok(elf)
}

fn section_name(elf: &Elf<'_>, idx: usize) -> String {
    elf.section_headers
        .get(idx)
        .and_then(|sh| elf.shdr_strtab.get_at(sh.sh_name))
        .unwrap_or("?")
        .to_string()
}

fn place_sections(
    path: &Path,
    bytes: &[u8],
    elf: &Elf<'_>,
    mem: &KernelMemory,
    placement: &mut Placement,
    section_addr: &mut BTreeMap<usize, u64>,
) -> Result<(), ElfError> {
    let relocatable = elf.header.e_type == header::ET_REL;
    for (idx, sh) in elf.section_headers.iter().enumerate() {
        // Only code and data are loaded: notes (`.note.gnu.property`) and the like are allocated but not kernel memory.
        let loadable = matches!(sh.sh_type, section_header::SHT_PROGBITS | section_header::SHT_NOBITS);
        if sh.sh_flags & u64::from(section_header::SHF_ALLOC) == 0 || sh.sh_size == 0 || !loadable {
            continue;
        }
        let name = section_name(elf, idx);
        let exec = sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0;
        // `.user*` sections hold the tasks' user memory (strings and arrays a syscall's arguments point at).
        let region = if exec {
            RegionKind::Text
        } else if name == ".user" || name.starts_with(".user.") {
            RegionKind::User
        } else {
            RegionKind::Data
        };
        let addr = if relocatable {
            let align = if exec { sh.sh_addralign.max(4) } else { sh.sh_addralign.max(1) };
            placement.alloc(region, sh.sh_size, align).ok_or(ElfError::RegionFull {
                file: path.into(),
                section: name.clone(),
                size: sh.sh_size,
                region,
            })?
        } else {
            if mem.layout.find(sh.sh_addr, sh.sh_size).is_none() {
                return Err(ElfError::OutsideMap { file: path.into(), section: name, addr: sh.sh_addr });
            }
            sh.sh_addr
        };
        section_addr.insert(idx, addr);
        if sh.sh_type != section_header::SHT_NOBITS {
            let start = usize::try_from(sh.sh_offset).unwrap_or(usize::MAX);
            let data = start
                .checked_add(usize::try_from(sh.sh_size).unwrap_or(usize::MAX))
                .and_then(|end| bytes.get(start..end))
                .ok_or_else(|| ElfError::TruncatedSection { file: path.into(), section: name.clone() })?;
            mem.load(addr, data).map_err(|_| ElfError::OutsideMap { file: path.into(), section: name, addr })?;
        }
    }
    Ok(())
}

/// Symbols the kernel's kallsyms would not list: assembler-local labels and mapping symbols.
fn is_listed(name: &str) -> bool {
    !name.is_empty() && !name.starts_with(".L") && !name.starts_with('$') && !name.starts_with("__UNIQUE_ID")
}

fn collect_symbols(
    f: &LoadedFile,
    elf: &Elf<'_>,
    globals: &mut BTreeMap<String, (u64, PathBuf)>,
    symbols: &mut Vec<Symbol>,
) -> Result<(), ElfError> {
    for s in elf.syms.iter() {
        let Some(&base) = f.section_addr.get(&s.st_shndx) else { continue };
        let t = s.st_type();
        if !matches!(t, sym::STT_FUNC | sym::STT_OBJECT | sym::STT_NOTYPE) {
            continue;
        }
        let name = elf.strtab.get_at(s.st_name).unwrap_or("");
        if !is_listed(name) {
            continue;
        }
        let relocatable = elf.header.e_type == header::ET_REL;
        let addr = if relocatable { base + s.st_value } else { s.st_value };
        let exec = elf
            .section_headers
            .get(s.st_shndx)
            .is_some_and(|sh| sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0);
        let global = s.st_bind() != sym::STB_LOCAL;
        if global {
            if let Some((_, other)) = globals.get(name) {
                return Err(ElfError::DuplicateSymbol { file: f.path.clone(), name: name.into(), other: other.clone() });
            }
            globals.insert(name.to_string(), (addr, f.path.clone()));
        }
        symbols.push(Symbol {
            name: name.to_string(),
            addr: KernelVa(addr),
            size: s.st_size,
            kind: if exec { SymbolKind::Text } else { SymbolKind::Data },
            global,
        });
    }
    Ok(())
}

/// Assembly functions often lack `.size`: give a sizeless text symbol the distance to the next symbol.
fn fill_missing_sizes(symbols: &mut [Symbol]) {
    symbols.sort_by(|a, b| (a.addr, &a.name).cmp(&(b.addr, &b.name)));
    for i in 0..symbols.len() {
        if symbols[i].size == 0 && symbols[i].kind == SymbolKind::Text {
            if let Some(next) = symbols[i + 1..].iter().find(|s| s.addr > symbols[i].addr) {
                symbols[i].size = next.addr.0 - symbols[i].addr.0;
            }
        }
    }
}

fn relocate(
    f: &LoadedFile,
    elf: &Elf<'_>,
    globals: &BTreeMap<String, (u64, PathBuf)>,
    backend: &dyn IsaBackend,
    mem: &KernelMemory,
) -> Result<(), ElfError> {
    if elf.header.e_type != header::ET_REL {
        return Ok(());
    }
    for (reloc_shdr, relocs) in &elf.shdr_relocs {
        let Some(target_idx) = elf.section_headers.get(*reloc_shdr).map(|sh| sh.sh_info as usize) else { continue };
        let Some(&target_base) = f.section_addr.get(&target_idx) else { continue };
        let section = section_name(elf, target_idx);
        for r in relocs.iter() {
            let s = elf.syms.get(r.r_sym).ok_or_else(|| ElfError::ParseElf {
                file: f.path.clone(),
                msg: format!("relocation in {section}+{:#x} names symbol #{} which does not exist", r.r_offset, r.r_sym),
            })?;
            let name = elf.strtab.get_at(s.st_name).unwrap_or("");
            let sym_addr = if s.st_type() == sym::STT_SECTION {
                f.section_addr.get(&s.st_shndx).copied()
            } else if s.st_shndx != 0 {
                f.section_addr.get(&s.st_shndx).map(|b| b + s.st_value)
            } else {
                globals.get(name).map(|(a, _)| *a)
            };
            let sym_addr = sym_addr.ok_or_else(|| ElfError::UndefinedSymbol {
                file: f.path.clone(),
                section: section.clone(),
                offset: r.r_offset,
                name: name.to_string(),
            })?;
            let place = target_base + r.r_offset;
            let mut word = [0u8; 8];
            let width = backend.reloc_width(r.r_type).ok_or(ElfError::UnsupportedRelocation {
                file: f.path.clone(),
                section: section.clone(),
                offset: r.r_offset,
                rtype: r.r_type,
                name: backend.reloc_name(r.r_type),
            })?;
            mem.read(KernelVa(place), &mut word[..width]).map_err(|_| ElfError::TruncatedSection {
                file: f.path.clone(),
                section: section.clone(),
            })?;
            let addend = r.r_addend.unwrap_or(0);
            backend.apply_reloc(r.r_type, &mut word[..width], sym_addr, addend, place).map_err(|e| match e {
                RelocError::Unsupported(name) => ElfError::UnsupportedRelocation {
                    file: f.path.clone(),
                    section: section.clone(),
                    offset: r.r_offset,
                    rtype: r.r_type,
                    name,
                },
                RelocError::Overflow(name, value) => ElfError::RelocationOverflow {
                    file: f.path.clone(),
                    section: section.clone(),
                    offset: r.r_offset,
                    name,
                    value,
                },
            })?;
            mem.load(place, &word[..width]).expect("relocated place was just read");
        }
    }
    Ok(())
}

/// The ISA an ELF file is for, from its header.
pub fn detect_isa(path: &Path) -> Result<Isa, ElfError> {
    let bytes = std::fs::read(path).map_err(|source| ElfError::ReadFile { file: path.into(), source })?;
    let h = Elf::parse_header(&bytes).map_err(|e| ElfError::ParseElf { file: path.into(), msg: e.to_string() })?;
    crate::arch::isa_of_elf_machine(h.e_machine).ok_or_else(|| ElfError::UnsupportedKind {
        file: path.into(),
        what: format!("machine {} (only aarch64 and x86_64)", header::machine_to_str(h.e_machine)),
    })
}
