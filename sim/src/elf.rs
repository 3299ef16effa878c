//! Loading kernel code from ELF files (goblin) into the machine's text and data regions.
//!
//! Relocatable objects (`ET_REL`, what `gcc -c` makes) are laid out section by section: code sections
//! (`SHF_EXECINSTR`: `.text`, `.text.unlikely`, …) into kernel text, everything else that is allocated into kernel
//! data, in file then section order. Their `RELA` relocations are then applied by the ISA backend. Linked files
//! (`ET_EXEC`) are loaded at their link addresses, which must fall inside the kernel text and data map. Symbols from
//! all files form one namespace, as in a linked kernel; the result feeds [`Kallsyms`].

use crate::arch::IsaBackend;
pub use crate::arch::RelocError;
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
    /// The path is not a regular file (a directory, a device, a pipe): nothing the loader could read to its end.
    #[error("{file}: not a regular file ({what})")]
    NotAFile {
        /// The file.
        file: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// The file is larger than any kernel image the machine could hold.
    #[error("{file}: {size} bytes, more than the {max}-byte limit of an ELF input")]
    FileTooLarge {
        /// The file.
        file: PathBuf,
        /// Its size.
        size: u64,
        /// The limit ([`MAX_ELF_FILE_SIZE`]).
        max: u64,
    },
    /// A symbol's `st_size` reaches past the section that holds it.
    #[error(
        "{file}: symbol `{symbol}` has size {size:#x}, but only {room:#x} bytes of its section {section} follow it"
    )]
    SymbolSize {
        /// The file.
        file: PathBuf,
        /// The symbol.
        symbol: String,
        /// Its `st_size`.
        size: u64,
        /// Its section.
        section: String,
        /// Bytes from the symbol to the section's end.
        room: u64,
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
    /// A relocation's field is not inside the section it relocates.
    #[error("{file}: section {section}+{offset:#x}: relocation outside the section ({size:#x} bytes)")]
    RelocationOutside {
        /// The file.
        file: PathBuf,
        /// The section relocated.
        section: String,
        /// Offset in it.
        offset: u64,
        /// The section's size.
        size: u64,
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
        let at = self.data_next.checked_next_multiple_of(align.max(1))?;
        let end = at.checked_add(size).filter(|&e| e <= self.data_end)?;
        self.data_next = end;
        Some(at)
    }

    fn alloc(&mut self, kind: RegionKind, size: u64, align: u64) -> Option<u64> {
        let (next, end) = match kind {
            RegionKind::Text => (&mut self.text_next, self.text_end),
            RegionKind::User => (&mut self.user_next, self.user_end),
            _ => (&mut self.data_next, self.data_end),
        };
        // Sizes and alignments come from the file: checked, never wrapped.
        let at = next.checked_next_multiple_of(align.max(1))?;
        let new_next = at.checked_add(size).filter(|&e| e <= end)?;
        *next = new_next;
        Some(at)
    }
}

/// The largest ELF input read: the machine's RAM is 64 MiB, so no loadable image is larger than this.
pub const MAX_ELF_FILE_SIZE: u64 = 256 << 20;

/// An ELF file's bytes and the name its errors carry. Reading files is the caller's edge ([`ElfImage::read`]); the
/// loader itself takes bytes.
#[derive(Debug, Clone)]
pub struct ElfImage {
    /// The name errors use (usually the file's path).
    pub path: PathBuf,
    /// The file's contents.
    pub bytes: Vec<u8>,
}

impl ElfImage {
    /// Reads a regular file of at most [`MAX_ELF_FILE_SIZE`] bytes: a directory, a device (`/dev/zero` never ends)
    /// or a FIFO is refused by name before any byte is read.
    pub fn read(path: &Path) -> Result<ElfImage, ElfError> {
        let io = |source| ElfError::ReadFile { file: path.into(), source };
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            let what = if meta.is_dir() { "a directory" } else { "a device, FIFO or socket" };
            return Err(ElfError::NotAFile { file: path.into(), what });
        }
        if meta.len() > MAX_ELF_FILE_SIZE {
            return Err(ElfError::FileTooLarge { file: path.into(), size: meta.len(), max: MAX_ELF_FILE_SIZE });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Ok(ElfImage { path: path.into(), bytes })
    }
}

struct LoadedFile<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    /// Section index → load address.
    section_addr: BTreeMap<usize, u64>,
}

/// A loaded section: name, address, size (in load order), for the kernel's own tables (`__jump_table`).
pub type LoadedSection = (String, u64, u64);

/// What loading produced.
pub(crate) struct Loaded {
    /// Symbols, for `Kallsyms::new`.
    pub symbols: Vec<Symbol>,
    /// Data inside code sections (`[start, end)`), from the ARM ELF mapping symbols `$d` … `$x`: literal pools.
    pub data_in_text: Vec<(u64, u64)>,
    /// Every loaded section.
    pub sections: Vec<LoadedSection>,
}

/// Loads `images` into memory.
pub(crate) fn load(
    images: &[ElfImage],
    backend: &dyn IsaBackend,
    mem: &KernelMemory,
    placement: &mut Placement,
) -> Result<Loaded, ElfError> {
    let mut loaded: Vec<LoadedFile<'_>> =
        images.iter().map(|i| LoadedFile { path: &i.path, bytes: &i.bytes, section_addr: BTreeMap::new() }).collect();
    // Pass 1: place sections and copy their bytes.
    for f in &mut loaded {
        let elf = parse(f.path, f.bytes, backend)?;
        place_sections(f.path, f.bytes, &elf, mem, placement, &mut f.section_addr)?;
    }
    // Pass 2: the global namespace and the symbol table.
    let mut globals: BTreeMap<String, (u64, PathBuf)> = BTreeMap::new();
    let mut symbols = Vec::new();
    let mut data_in_text = Vec::new();
    for f in &loaded {
        let elf = parse(f.path, f.bytes, backend)?;
        collect_symbols(f, &elf, &mut globals, &mut symbols)?;
        data_in_text.extend(mapping_data_ranges(f, &elf));
    }
    // Pass 3: relocations.
    for f in &loaded {
        let elf = parse(f.path, f.bytes, backend)?;
        relocate(f, &elf, &globals, backend, mem)?;
    }
    let mut sections = Vec::new();
    for f in &loaded {
        let elf = parse(f.path, f.bytes, backend)?;
        for (idx, addr) in &f.section_addr {
            let size = elf.section_headers.get(*idx).map_or(0, |sh| sh.sh_size);
            sections.push((section_name(&elf, *idx), *addr, size));
        }
    }
    Ok(Loaded { symbols: fill_missing_sizes(symbols), data_in_text, sections })
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
        let sect_end = if relocatable { base.saturating_add(size) } else { f.section_addr[&shndx].saturating_add(size) };
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
                let end = m.get(i + 1).map_or(sect_end, |(o, _)| base.saturating_add(*o));
                out.push((base.saturating_add(*off), end.min(sect_end)));
            }
        }
    }
    out
}

fn parse<'a>(path: &Path, bytes: &'a [u8], backend: &dyn IsaBackend) -> Result<Elf<'a>, ElfError> {
    let elf = Elf::parse(bytes).map_err(|e| ElfError::ParseElf { file: path.into(), msg: goblin_msg_at(bytes, &e) })?;
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

/// A section's name, or its index when it has none (`#3`): messages never show an empty name or a `?`.
fn section_name(elf: &Elf<'_>, idx: usize) -> String {
    match elf.section_headers.get(idx).and_then(|sh| elf.shdr_strtab.get_at(sh.sh_name)) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => format!("#{idx} (unnamed)"),
    }
}

/// A symbol's name, or its symbol-table index when it has none.
fn symbol_label(name: &str, idx: usize) -> String {
    if name.is_empty() {
        format!("#{idx} (unnamed)")
    } else {
        name.to_string()
    }
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
    symbols: &mut Vec<(Symbol, u64)>,
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
        let addr = if relocatable { base.wrapping_add(s.st_value) } else { s.st_value };
        let exec = elf
            .section_headers
            .get(s.st_shndx)
            .is_some_and(|sh| sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0);
        // Sizes come from the image and are bounded by it: a symbol lies inside the section that holds it.
        let (sect_start, sect_size) = if relocatable {
            (base, elf.section_headers.get(s.st_shndx).map_or(0, |sh| sh.sh_size))
        } else {
            elf.section_headers.get(s.st_shndx).map_or((base, 0), |sh| (sh.sh_addr, sh.sh_size))
        };
        // A zero-sized symbol is a position, not an extent: linkers put marks such as `__bss_start` or `_edata`
        // in a section's index while their value lies just outside it (at the end of the bytes before it).
        let sect_end = sect_start.saturating_add(sect_size);
        let room = if addr < sect_start { 0 } else { sect_end.saturating_sub(addr) };
        if s.st_size > room {
            return Err(ElfError::SymbolSize {
                file: f.path.to_path_buf(),
                symbol: name.to_string(),
                size: s.st_size,
                section: section_name(elf, s.st_shndx),
                room,
            });
        }
        let global = s.st_bind() != sym::STB_LOCAL;
        if global {
            if let Some((_, other)) = globals.get(name) {
                return Err(ElfError::DuplicateSymbol { file: f.path.to_path_buf(), name: name.into(), other: other.clone() });
            }
            globals.insert(name.to_string(), (addr, f.path.to_path_buf()));
        }
        symbols.push((
            Symbol {
                name: name.to_string(),
                addr: KernelVa(addr),
                size: s.st_size,
                kind: if exec { SymbolKind::Text } else { SymbolKind::Data },
                global,
            },
            sect_end,
        ));
    }
    Ok(())
}

/// Assembly functions often lack `.size`: give a sizeless text symbol the distance to the next symbol, or to the end
/// of its section if that comes first (each entry carries its section's end).
fn fill_missing_sizes(mut symbols: Vec<(Symbol, u64)>) -> Vec<Symbol> {
    symbols.sort_by(|(a, _), (b, _)| (a.addr, &a.name).cmp(&(b.addr, &b.name)));
    for i in 0..symbols.len() {
        let (s, sect_end) = &symbols[i];
        if s.size == 0 && s.kind == SymbolKind::Text {
            let next = symbols[i + 1..].iter().find(|(n, _)| n.addr > s.addr).map_or(*sect_end, |(n, _)| n.addr.0);
            let size = next.min(*sect_end).saturating_sub(s.addr.0);
            symbols[i].0.size = size;
        }
    }
    symbols.into_iter().map(|(s, _)| s).collect()
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
        let target_size = elf.section_headers.get(target_idx).map_or(0, |sh| sh.sh_size);
        for r in relocs.iter() {
            let s = elf.syms.get(r.r_sym).ok_or_else(|| ElfError::ParseElf {
                file: f.path.to_path_buf(),
                msg: format!("relocation in {section}+{:#x} names symbol #{} which does not exist", r.r_offset, r.r_sym),
            })?;
            let name = elf.strtab.get_at(s.st_name).unwrap_or("");
            let sym_addr = if s.st_type() == sym::STT_SECTION {
                f.section_addr.get(&s.st_shndx).copied()
            } else if s.st_shndx != 0 {
                f.section_addr.get(&s.st_shndx).map(|b| b.wrapping_add(s.st_value))
            } else {
                globals.get(name).map(|(a, _)| *a)
            };
            let sym_addr = sym_addr.ok_or_else(|| ElfError::UndefinedSymbol {
                file: f.path.to_path_buf(),
                section: section.clone(),
                offset: r.r_offset,
                name: symbol_label(name, r.r_sym),
            })?;
            let place = target_base.wrapping_add(r.r_offset);
            let mut word = [0u8; 8];
            let width = backend.reloc_width(r.r_type).ok_or(ElfError::UnsupportedRelocation {
                file: f.path.to_path_buf(),
                section: section.clone(),
                offset: r.r_offset,
                rtype: r.r_type,
                name: backend.reloc_name(r.r_type),
            })?;
            // The field patched lies inside the section relocated, or the relocation would write its neighbour.
            if r.r_offset.checked_add(width as u64).is_none_or(|end| end > target_size) {
                return Err(ElfError::RelocationOutside {
                    file: f.path.to_path_buf(),
                    section: section.clone(),
                    offset: r.r_offset,
                    size: target_size,
                });
            }
            mem.read(KernelVa(place), &mut word[..width]).map_err(|_| ElfError::TruncatedSection {
                file: f.path.to_path_buf(),
                section: section.clone(),
            })?;
            let addend = r.r_addend.unwrap_or(0);
            backend.apply_reloc(r.r_type, &mut word[..width], sym_addr, addend, place).map_err(|e| match e {
                RelocError::Unsupported(name) => ElfError::UnsupportedRelocation {
                    file: f.path.to_path_buf(),
                    section: section.clone(),
                    offset: r.r_offset,
                    rtype: r.r_type,
                    name,
                },
                RelocError::Overflow(name, value) => ElfError::RelocationOverflow {
                    file: f.path.to_path_buf(),
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

/// goblin's message, preceded by the part of the file that is wrong when a structural walk of the headers finds it
/// (goblin's own messages name a byte count but rarely the header, table or section it was reading).
fn goblin_msg_at(bytes: &[u8], e: &goblin::error::Error) -> String {
    match elf_part_at_fault(bytes) {
        Some(part) => format!("{part}: {e}"),
        None => e.to_string(),
    }
}

/// Walks an ELF64 little-endian file's header, header tables and section extents (the layout of
/// `include/uapi/linux/elf.h`) and names the first part that does not fit in the file.
fn elf_part_at_fault(b: &[u8]) -> Option<String> {
    let u16_at = |o: usize| b.get(o..o + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32_at = |o: usize| b.get(o..o + 4).map(|x| u32::from_le_bytes(x.try_into().expect("4 bytes")));
    let u64_at = |o: usize| b.get(o..o + 8).map(|x| u64::from_le_bytes(x.try_into().expect("8 bytes")));
    let len = b.len() as u64;
    if b.len() < 64 || b[..4] != *b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return Some(format!("ELF header (the file has {len} bytes; an ELF64 little-endian header has 64)"));
    }
    let table = |what: &str, off: u64, num: u64, entsize: u64, want: u64| -> Option<String> {
        if num == 0 {
            return None;
        }
        if entsize != want {
            return Some(format!("{what} (e_*entsize is {entsize}, not {want})"));
        }
        let end = num.checked_mul(entsize).and_then(|n| n.checked_add(off));
        (end.is_none_or(|e| e > len))
            .then(|| format!("{what} at offset {off:#x} ({num} entries of {entsize} bytes) lies past the file's {len} bytes"))
    };
    let (phoff, shoff) = (u64_at(32)?, u64_at(40)?);
    let (phentsize, phnum, shentsize, shnum) = (u16_at(54)?, u16_at(56)?, u16_at(58)?, u16_at(60)?);
    if let Some(m) = table("program header table", phoff, phnum.into(), phentsize.into(), 56) {
        return Some(m);
    }
    if let Some(m) = table("section header table", shoff, shnum.into(), shentsize.into(), 64) {
        return Some(m);
    }
    let shstrndx = usize::from(u16_at(62)?);
    if shnum != 0 && shstrndx >= usize::from(shnum) {
        return Some(format!("e_shstrndx {shstrndx} (there are {shnum} sections)"));
    }
    for i in 0..usize::from(shnum) {
        let h = usize::try_from(shoff).ok()? + i * 64;
        let (ty, off, size, link, entsize) = (u32_at(h + 4)?, u64_at(h + 24)?, u64_at(h + 32)?, u32_at(h + 40)?, u64_at(h + 56)?);
        if ty == section_header::SHT_NOBITS || ty == section_header::SHT_NULL {
            continue;
        }
        let kind = section_header::sht_to_str(ty);
        if off.checked_add(size).is_none_or(|e| e > len) {
            return Some(format!(
                "section #{i} ({kind}) at offset {off:#x} ({size:#x} bytes) lies past the file's {len} bytes"
            ));
        }
        let want = match ty {
            section_header::SHT_SYMTAB | section_header::SHT_DYNSYM => 24,
            section_header::SHT_RELA => 24,
            section_header::SHT_REL => 16,
            _ => 0,
        };
        if want != 0 && (entsize != want || size % want != 0) {
            return Some(format!("section #{i} ({kind}): entry size {entsize}, size {size:#x} (entries are {want} bytes)"));
        }
        if want != 0 && usize::try_from(link).is_ok_and(|l| l >= usize::from(shnum)) {
            return Some(format!("section #{i} ({kind}): sh_link {link} names no section ({shnum} sections)"));
        }
    }
    None
}

/// The ISA an ELF file is for, from its header.
pub fn detect_isa(path: &Path) -> Result<Isa, ElfError> {
    let image = ElfImage::read(path)?;
    detect_isa_of(&image)
}

/// The ISA an ELF image is for, from its header.
pub fn detect_isa_of(image: &ElfImage) -> Result<Isa, ElfError> {
    let path = image.path.as_path();
    let h = Elf::parse_header(&image.bytes)
        .map_err(|e| ElfError::ParseElf { file: path.into(), msg: goblin_msg_at(&image.bytes, &e) })?;
    crate::arch::isa_of_elf_machine(h.e_machine).ok_or_else(|| ElfError::UnsupportedKind {
        file: path.into(),
        what: format!("machine {} (only aarch64 and x86_64)", header::machine_to_str(h.e_machine)),
    })
}
