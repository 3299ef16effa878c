//! BPF object files as clang writes them (`clang -target bpf -O2 -g -c`), read as libbpf's `bpf_object__open`
//! does (tools/lib/bpf/libbpf.c: `bpf_object__elf_collect`, `bpf_object__init_maps`, `bpf_object__collect_relos`):
//!
//! - **programs**: every executable section is a program section; each global `FUNC` symbol in it is one program,
//!   named by the symbol. The section name gives the type and attach point (libbpf's `section_defs`):
//!   `kprobe/<sym>`, `kretprobe/<sym>`, `tracepoint/<cat>/<name>` (or `tp/`), bare `kprobe`/`kretprobe`, and BCC's
//!   `.bpf.fn.<name>` (a kprobe program attached by the user). `.text` holds subprograms, which this loader does not
//!   link (a `BPF_PSEUDO_CALL` relocation is refused as unsupported); any other executable section is an error.
//! - **maps**: BTF-defined maps from the `.maps` `DATASEC` ([`super::btf`]), legacy `struct bpf_map_def`s in the
//!   `maps` section, and one internal array map per global-data section (`.rodata*`, `.data*`, `.bss*`) that a
//!   program references, named as libbpf names it (`execsnoo.rodata`: the object name cut so the whole fits 15 bytes).
//! - **relocations** (`SHT_REL`, the only kind BPF objects use): `R_BPF_64_64` on an `lddw` against a map symbol
//!   becomes `BPF_PSEUDO_MAP_FD` (imm = the map's index in [`BpfObject::maps`] until load), against a data section
//!   `BPF_PSEUDO_MAP_VALUE` with the byte offset in the second slot; anything else is
//!   [`BpfObjectError::UnsupportedRelocation`].
//! - the `license` string and the legacy `version` word. `.BTF.ext` func/line info is ignored; CO-RE relocations in it
//!   are refused (they need the running kernel's BTF).
//!
//! The ELF reader is our own (ELF64 little-endian, section headers, `.symtab`, `SHT_REL`): `goblin` is not a
//! dependency of this crate, and a BPF object needs nothing more.

use super::btf::{Btf, BtfMapDef};
use super::insn::{decode_bytes, Insn, BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};
use super::maps::{MapDef, MapType};
use crate::errno::Errno;
use std::path::{Path, PathBuf};

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_REL: u32 = 9;
const SHT_NOBITS: u32 = 8;
const SHF_EXECINSTR: u64 = 4;
const EM_BPF: u16 = 247;
const STT_FUNC: u8 = 2;
const STT_SECTION: u8 = 3;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;

/// `R_BPF_64_64`: the 64-bit immediate of an `lddw`.
pub const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the 32-bit immediate of a `call` (a bpf-to-bpf call).
pub const R_BPF_64_32: u32 = 10;

/// Why an object could not be opened or loaded. Every variant names the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BpfObjectError {
    /// The file could not be read (by the caller: this crate does no I/O).
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// Not an ELF64 little-endian BPF relocatable object, or its headers are inconsistent.
    #[error("{path}: malformed ELF: {reason}")]
    MalformedElf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The `.BTF` section (needed for `.maps`) is malformed, or a map's BTF definition is.
    #[error("{path}: malformed BTF in section {section}: {reason}")]
    MalformedBtf {
        /// The file.
        path: PathBuf,
        /// `.BTF` or `.maps`.
        section: String,
        /// What is wrong.
        reason: String,
    },
    /// An executable section whose name names no program type this loader knows.
    #[error(
        "{path}: section {section}: unknown program type (expected kprobe/, kretprobe/, tracepoint/, tp/ or .bpf.fn.)"
    )]
    UnknownSection {
        /// The file.
        path: PathBuf,
        /// The section name.
        section: String,
    },
    /// A relocation this loader does not perform.
    #[error("{path}: section {section}, instruction {insn}: unsupported relocation type {rtype} against `{symbol}`: {reason}")]
    UnsupportedRelocation {
        /// The file.
        path: PathBuf,
        /// The program section.
        section: String,
        /// Instruction index (8-byte slots) the relocation applies to.
        insn: usize,
        /// `R_BPF_*`.
        rtype: u32,
        /// The symbol's name.
        symbol: String,
        /// Why it is unsupported.
        reason: String,
    },
    /// A map definition the kernel's `map_create` would refuse.
    #[error("{path}: map {map}: {reason}")]
    InvalidMap {
        /// The file (or `<runtime>` for a map created directly).
        path: PathBuf,
        /// The map's name.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// `bpf(BPF_MAP_CREATE)` failed: a size check of `map_create` or the map type's `map_alloc_check`/`map_alloc`
    /// (`kernel/bpf/syscall.c`, `arraymap.c`, `hashtab.c`, `ringbuf.c`), or the allocation (`-ENOMEM`).
    #[error("{path}: map {map}: {reason}: {errno}")]
    MapCreate {
        /// The file (or `<runtime>` for a map created directly).
        path: PathBuf,
        /// The map's name.
        map: String,
        /// Which check failed.
        reason: String,
        /// What the kernel returns.
        errno: Errno,
    },
    /// A program the loader (the instruction checks of `bpf_check`) refused.
    #[error("{path}: program {prog}: {reason}")]
    InvalidProgram {
        /// The file (or `<asm>`).
        path: PathBuf,
        /// The program's name.
        prog: String,
        /// The loader's or assembler's message (it names the instruction).
        reason: String,
    },
    /// A call to a helper the runtime does not provide (the verifier's `invalid func unknown#N`).
    #[error("{path}: program {prog}: instruction {pc}: {}", super::helpers::not_modelled(*id))]
    UnknownHelper {
        /// The file (or `<asm>`).
        path: PathBuf,
        /// The program's name.
        prog: String,
        /// Instruction index of the call.
        pc: usize,
        /// The helper id.
        id: u32,
    },
}

/// A program's type and what it attaches to, from its section name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttachPoint {
    /// `kprobe/<symbol>` (`BPF_PROG_TYPE_KPROBE`).
    Kprobe {
        /// The probed symbol (`None` for a bare `kprobe` section or BCC's `.bpf.fn.`: attached by the user).
        symbol: Option<String>,
    },
    /// `kretprobe/<symbol>` (`BPF_PROG_TYPE_KPROBE`, return probe).
    Kretprobe {
        /// The probed function.
        symbol: Option<String>,
    },
    /// `tracepoint/<category>/<name>` (`BPF_PROG_TYPE_TRACEPOINT`).
    Tracepoint {
        /// The category (`syscalls`).
        category: String,
        /// The event (`sys_enter_execve`).
        name: String,
    },
}

impl AttachPoint {
    /// `enum bpf_prog_type` and its bpftool name.
    #[must_use]
    pub fn prog_type(&self) -> (u32, &'static str) {
        match self {
            AttachPoint::Kprobe { .. } | AttachPoint::Kretprobe { .. } => (2, "kprobe"),
            AttachPoint::Tracepoint { .. } => (5, "tracepoint"),
        }
    }

    /// libbpf's section-name rules.
    fn from_section(name: &str) -> Option<AttachPoint> {
        let sym = |s: &str| (!s.is_empty()).then(|| s.to_string());
        if let Some(s) = name.strip_prefix("kprobe/") {
            return Some(AttachPoint::Kprobe { symbol: sym(s) });
        }
        if let Some(s) = name.strip_prefix("kretprobe/") {
            return Some(AttachPoint::Kretprobe { symbol: sym(s) });
        }
        if let Some(s) = name.strip_prefix("tracepoint/").or_else(|| name.strip_prefix("tp/")) {
            let (c, n) = s.split_once('/')?;
            return Some(AttachPoint::Tracepoint { category: c.to_string(), name: n.to_string() });
        }
        match name {
            "kprobe" => Some(AttachPoint::Kprobe { symbol: None }),
            "kretprobe" => Some(AttachPoint::Kretprobe { symbol: None }),
            _ if name.starts_with(".bpf.fn.") => Some(AttachPoint::Kprobe { symbol: None }),
            _ => None,
        }
    }
}

/// Where a map's definition came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapOrigin {
    /// A `.maps` variable described by BTF.
    Btf,
    /// A `struct bpf_map_def` in the legacy `maps` section.
    Legacy,
    /// The internal map of a global-data section (its initial contents are [`ObjMap::initial`]).
    GlobalData {
        /// `.rodata`, `.data`, `.bss`, …
        section: String,
    },
}

/// A map the object defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjMap {
    /// The definition (name truncated as the kernel keeps it is done at creation).
    pub def: MapDef,
    /// Its origin.
    pub origin: MapOrigin,
    /// A global-data map's initial value (the section's bytes; zeros for `.bss`).
    pub initial: Option<Vec<u8>>,
    /// `btf_key_type_id` libbpf passes to `BPF_MAP_CREATE` (0: none): `__type(key, T)`'s T.
    pub btf_key_type_id: u32,
    /// `btf_value_type_id` (0: none): `__type(value, T)`'s T, or a global-data map's `DATASEC`
    /// (`bpf_map_find_btf_info` finds internal maps' types by the section name).
    pub btf_value_type_id: u32,
}

/// A program of the object, relocated against the object's map indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjProgram {
    /// The function symbol's name.
    pub name: String,
    /// The section it lives in.
    pub section: String,
    /// What it attaches to.
    pub attach: AttachPoint,
    /// Its instructions; map references are `lddw` with `BPF_PSEUDO_MAP_FD`/`BPF_PSEUDO_MAP_VALUE` and imm = an
    /// index into [`BpfObject::maps`].
    pub insns: Vec<Insn>,
}

/// An opened (not yet loaded) BPF object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfObject {
    /// The file it came from.
    pub path: PathBuf,
    /// libbpf's object name: the file name up to its first `.` (`execsnoop` for `execsnoop.bpf.o`).
    pub name: String,
    /// The `license` section's string (libbpf defaults to none; BCC passes "GPL").
    pub license: String,
    /// The legacy `version` section, if any.
    pub kern_version: Option<u32>,
    /// Its maps, in definition order (`.maps` in BTF order, then legacy `maps`, then global data on first use).
    pub maps: Vec<ObjMap>,
    /// Its programs, in section order then symbol offset.
    pub programs: Vec<ObjProgram>,
    /// Its `.BTF`, which the kernel keeps for maps created with BTF type ids (`map->btf`).
    pub btf: Option<std::sync::Arc<Btf>>,
}

struct Section {
    name: String,
    sh_type: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
}

#[derive(Clone)]
struct Sym {
    name: String,
    value: u64,
    size: u64,
    kind: u8,
    bind: u8,
    shndx: u16,
}

struct Elf<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    sections: Vec<Section>,
    syms: Vec<Sym>,
}

fn get<const N: usize>(b: &[u8], at: u64) -> Option<[u8; N]> {
    let at = usize::try_from(at).ok()?;
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(b: &[u8], at: u64) -> Option<u16> {
    get::<2>(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: u64) -> Option<u32> {
    get::<4>(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: u64) -> Option<u64> {
    get::<8>(b, at).map(u64::from_le_bytes)
}

fn cstr(b: &[u8], at: u64) -> Option<String> {
    let rest = b.get(usize::try_from(at).ok()?..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

impl<'a> Elf<'a> {
    fn bad(&self, reason: impl Into<String>) -> BpfObjectError {
        BpfObjectError::MalformedElf { path: self.path.to_path_buf(), reason: reason.into() }
    }

    fn parse(path: &'a Path, bytes: &'a [u8]) -> Result<Elf<'a>, BpfObjectError> {
        let mut elf = Elf { path, bytes, sections: Vec::new(), syms: Vec::new() };
        if !bytes.starts_with(b"\x7fELF") {
            return Err(elf.bad("no ELF magic"));
        }
        if bytes.get(4..6) != Some(&[2, 1]) {
            return Err(elf.bad("not an ELF64 little-endian object"));
        }
        let short = || BpfObjectError::MalformedElf {
            path: path.to_path_buf(),
            reason: "file shorter than the ELF header".into(),
        };
        let e_type = u16_at(bytes, 16).ok_or_else(short)?;
        let machine = u16_at(bytes, 18).ok_or_else(short)?;
        if e_type != 1 {
            return Err(elf.bad(format!("e_type {e_type} is not ET_REL")));
        }
        if machine != EM_BPF {
            return Err(elf.bad(format!("e_machine {machine} is not EM_BPF (247)")));
        }
        let shoff = u64_at(bytes, 0x28).ok_or_else(short)?;
        let shentsize = u64::from(u16_at(bytes, 0x3a).ok_or_else(short)?);
        let shnum = u64::from(u16_at(bytes, 0x3c).ok_or_else(short)?);
        let shstrndx = u64::from(u16_at(bytes, 0x3e).ok_or_else(short)?);
        if shentsize < 64 {
            return Err(elf.bad(format!("e_shentsize {shentsize} is below 64")));
        }
        let mut raw = Vec::new();
        for i in 0..shnum {
            let h = shoff.checked_add(i * shentsize).ok_or_else(|| elf.bad("section header table out of range"))?;
            let f = |o: u64| -> Option<u64> { u64_at(bytes, h + o) };
            let w = |o: u64| -> Option<u32> { u32_at(bytes, h + o) };
            let hdr = (|| Some((w(0)?, w(4)?, f(8)?, f(24)?, f(32)?, w(40)?, w(44)?)))()
                .ok_or_else(|| elf.bad(format!("section header {i} is outside the file")))?;
            raw.push(hdr);
        }
        let strtab =
            raw.get(shstrndx as usize).ok_or_else(|| elf.bad(format!("e_shstrndx {shstrndx} out of range")))?;
        let (str_off, str_size) = (strtab.3, strtab.4);
        for (i, &(name_off, sh_type, flags, offset, size, link, info)) in raw.iter().enumerate() {
            if name_off as u64 >= str_size && i != 0 {
                return Err(elf.bad(format!("section {i}'s name offset {name_off} is outside .shstrtab")));
            }
            let name = cstr(bytes, str_off + u64::from(name_off))
                .ok_or_else(|| elf.bad(format!("section {i} has no name")))?;
            if sh_type != SHT_NOBITS
                && sh_type != 0
                && !matches!(offset.checked_add(size), Some(end) if end <= bytes.len() as u64)
            {
                return Err(elf.bad(format!("section {name} [{offset:#x}, +{size:#x}) is outside the file")));
            }
            elf.sections.push(Section { name, sh_type, flags, offset, size, link, info });
        }
        // The symbol table.
        if let Some(symtab) = elf.sections.iter().position(|s| s.sh_type == SHT_SYMTAB) {
            let s = &elf.sections[symtab];
            let strsec = elf.sections.get(s.link as usize).filter(|t| t.sh_type == SHT_STRTAB);
            let strsec = strsec.ok_or_else(|| elf.bad(".symtab's sh_link is not a string table"))?;
            let (stroff, strsize) = (strsec.offset, strsec.size);
            let n = s.size / 24;
            let mut syms = Vec::new();
            for i in 0..n {
                let at = s.offset + i * 24;
                let name_off = u64::from(u32_at(bytes, at).ok_or_else(|| elf.bad("truncated .symtab"))?);
                let st_info = bytes[(at + 4) as usize];
                let shndx = u16_at(bytes, at + 6).ok_or_else(|| elf.bad("truncated .symtab"))?;
                let value = u64_at(bytes, at + 8).ok_or_else(|| elf.bad("truncated .symtab"))?;
                let size = u64_at(bytes, at + 16).ok_or_else(|| elf.bad("truncated .symtab"))?;
                if name_off >= strsize && name_off != 0 {
                    return Err(elf.bad(format!("symbol {i}'s name offset is outside .strtab")));
                }
                let mut name = cstr(bytes, stroff + name_off).unwrap_or_default();
                let kind = st_info & 0xf;
                if kind == STT_SECTION && name.is_empty() {
                    name = elf.sections.get(shndx as usize).map(|s| s.name.clone()).unwrap_or_default();
                }
                syms.push(Sym { name, value, size, kind, bind: st_info >> 4, shndx });
            }
            elf.syms = syms;
        }
        Ok(elf)
    }

    fn data(&self, idx: usize) -> &'a [u8] {
        let s = &self.sections[idx];
        // `parse` checked the extent of every section with bytes; SHT_NOBITS and SHT_NULL sections have none (a
        // SHT_NULL section named `license` used to index past the file: found by fuzz/bpf_object).
        if s.sh_type == SHT_NOBITS || s.sh_type == 0 {
            return &[];
        }
        let (start, end) = (s.offset as usize, s.offset.saturating_add(s.size) as usize);
        self.bytes.get(start..end).unwrap_or(&[])
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }
}

/// Whether a global-data section (`.rodata`, `.rodata.*`, `.data*`, `.bss*`) holds writable data.
fn global_data_kind(name: &str) -> Option<bool> {
    let is = |p: &str| name == p || name.starts_with(&format!("{p}."));
    if is(".rodata") {
        Some(false)
    } else if is(".data") || is(".bss") {
        Some(true)
    } else {
        None
    }
}

/// The largest BPF object file a caller should read (a BPF object's programs and maps are far smaller); the
/// crate itself does no I/O: callers read the file and [`BpfObject::parse`] the bytes.
pub const MAX_OBJECT_FILE_SIZE: u64 = 64 << 20;

impl BpfObject {
    /// Parses object bytes; `path` names them in errors and gives the object's name.
    pub fn parse(path: impl AsRef<Path>, bytes: &[u8]) -> Result<BpfObject, BpfObjectError> {
        let path = path.as_ref();
        let elf = Elf::parse(path, bytes)?;
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = file_name.split('.').next().unwrap_or_default().to_string();
        let mut obj = BpfObject {
            path: path.to_path_buf(),
            name,
            license: String::new(),
            kern_version: None,
            maps: Vec::new(),
            programs: Vec::new(),
            btf: None,
        };
        if let Some(i) = elf.find("license") {
            let d = elf.data(i);
            let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
            obj.license = String::from_utf8_lossy(&d[..end]).into_owned();
        }
        if let Some(i) = elf.find("version") {
            obj.kern_version = u32_at(elf.data(i), 0);
        }
        let btf = match elf.find(".BTF") {
            Some(i) => Some(Btf::parse(elf.data(i)).map_err(|e| BpfObjectError::MalformedBtf {
                path: path.to_path_buf(),
                section: ".BTF".into(),
                reason: e.0,
            })?),
            None => None,
        };
        // CO-RE relocations (`.BTF.ext` core_relo, from `__builtin_preserve_access_index`) would need the kernel's
        // BTF to resolve; refuse them rather than run programs with unrelocated field offsets.
        if let Some(i) = elf.find(".BTF.ext") {
            let d = elf.data(i);
            let hdr_len = u32_at(d, 4).unwrap_or(0);
            let core_len = if hdr_len >= 32 { u32_at(d, 28).unwrap_or(0) } else { 0 };
            if core_len > 0 {
                return Err(BpfObjectError::UnsupportedRelocation {
                    path: path.to_path_buf(),
                    section: ".BTF.ext".into(),
                    insn: 0,
                    rtype: 0,
                    symbol: String::new(),
                    reason: format!("{core_len} bytes of CO-RE relocations (BPF_CORE_READ) are not supported"),
                });
            }
        }
        // Map symbols: (section index, symbol value) -> map index.
        let mut map_syms: Vec<(usize, u64, String, usize)> = Vec::new();
        if let Some(maps_sec) = elf.find(".maps") {
            let btf = btf.as_ref().ok_or_else(|| BpfObjectError::MalformedBtf {
                path: path.to_path_buf(),
                section: ".maps".into(),
                reason: "the object has a .maps section but no .BTF (libbpf: BTF is required)".into(),
            })?;
            let bad = |reason: String| BpfObjectError::MalformedBtf {
                path: path.to_path_buf(),
                section: ".maps".into(),
                reason,
            };
            let sec = btf.datasec(".maps").ok_or_else(|| bad("no DATASEC .maps in .BTF".into()))?;
            for v in &sec.vars {
                let (name, bdef) = btf.map_def(v.type_id).map_err(|e| bad(e.0))?;
                let def = map_def_from_btf(path, &name, &bdef)?;
                // clang leaves DATASEC offsets 0; libbpf's btf_fixup_datasec takes them from the ELF symbols.
                let offset = elf
                    .syms
                    .iter()
                    .find(|s| s.shndx as usize == maps_sec && s.name == name && s.kind != STT_SECTION)
                    .map(|s| s.value)
                    .ok_or_else(|| bad(format!("map '{name}': no ELF symbol in .maps")))?;
                map_syms.push((maps_sec, offset, name, obj.maps.len()));
                obj.maps.push(ObjMap {
                    def,
                    origin: MapOrigin::Btf,
                    initial: None,
                    btf_key_type_id: bdef.key_type_id.unwrap_or(0),
                    btf_value_type_id: bdef.value_type_id.unwrap_or(0),
                });
            }
        }
        if let Some(legacy) = elf.find("maps") {
            let data = elf.data(legacy);
            let mut syms: Vec<&Sym> =
                elf.syms.iter().filter(|s| s.shndx as usize == legacy && s.kind != STT_SECTION).collect();
            syms.sort_by_key(|s| s.value);
            for s in syms {
                let def_size = if s.size > 0 { s.size } else { 20 };
                if def_size < 16 {
                    return Err(BpfObjectError::InvalidMap {
                        path: path.to_path_buf(),
                        map: s.name.clone(),
                        reason: format!("struct bpf_map_def of {def_size} bytes is too small"),
                    });
                }
                let w = |i: u64| u32_at(data, s.value + 4 * i);
                let short = || BpfObjectError::MalformedElf {
                    path: path.to_path_buf(),
                    reason: format!("map {} at maps+{:#x} is outside the section", s.name, s.value),
                };
                let (t, k, v, n) = (
                    w(0).ok_or_else(short)?,
                    w(1).ok_or_else(short)?,
                    w(2).ok_or_else(short)?,
                    w(3).ok_or_else(short)?,
                );
                let flags = if def_size >= 20 { w(4).unwrap_or(0) } else { 0 };
                let def = MapDef::new(
                    &s.name,
                    MapType::from_raw(t).ok_or_else(|| BpfObjectError::InvalidMap {
                        path: path.to_path_buf(),
                        map: s.name.clone(),
                        reason: format!("unsupported map type {t}"),
                    })?,
                    k,
                    v,
                    n,
                    flags,
                );
                map_syms.push((legacy, s.value, s.name.clone(), obj.maps.len()));
                obj.maps.push(ObjMap {
                    def,
                    origin: MapOrigin::Legacy,
                    initial: None,
                    btf_key_type_id: 0,
                    btf_value_type_id: 0,
                });
            }
        }
        // Programs.
        for (si, sec) in elf.sections.iter().enumerate() {
            if sec.sh_type != SHT_PROGBITS || sec.flags & SHF_EXECINSTR == 0 || sec.size == 0 {
                continue;
            }
            if sec.name == ".text" {
                continue;
            }
            let attach = AttachPoint::from_section(&sec.name).ok_or_else(|| BpfObjectError::UnknownSection {
                path: path.to_path_buf(),
                section: sec.name.clone(),
            })?;
            if sec.size % 8 != 0 {
                return Err(elf.bad(format!("program section {} is {} bytes, not a multiple of 8", sec.name, sec.size)));
            }
            let mut insns = decode_bytes(elf.data(si)).map_err(|e| elf.bad(format!("section {}: {e}", sec.name)))?;
            // Relocations against this section.
            for rs in elf.sections.iter().filter(|r| r.sh_type == SHT_REL && r.info as usize == si) {
                let rel_data = bytes.get(rs.offset as usize..rs.offset.saturating_add(rs.size) as usize).unwrap_or(&[]);
                for rel in rel_data.chunks_exact(16) {
                    let r_offset = u64::from_le_bytes(rel[..8].try_into().unwrap_or_default());
                    let r_info = u64::from_le_bytes(rel[8..].try_into().unwrap_or_default());
                    let (sym_idx, rtype) = ((r_info >> 32) as usize, r_info as u32);
                    let insn = (r_offset / 8) as usize;
                    let sym = elf.syms.get(sym_idx).cloned().ok_or_else(|| {
                        elf.bad(format!("relocation in {} refers to symbol {sym_idx}, beyond .symtab", rs.name))
                    })?;
                    let unsupported = |reason: &str| BpfObjectError::UnsupportedRelocation {
                        path: path.to_path_buf(),
                        section: sec.name.clone(),
                        insn,
                        rtype,
                        symbol: sym.name.clone(),
                        reason: reason.to_string(),
                    };
                    if r_offset % 8 != 0 || insn >= insns.len() {
                        return Err(
                            elf.bad(format!("relocation offset {r_offset:#x} in {} is not an instruction", rs.name))
                        );
                    }
                    match rtype {
                        R_BPF_64_64 => {
                            if !insns[insn].is_lddw() || insn + 1 >= insns.len() {
                                return Err(unsupported("R_BPF_64_64 does not apply to an lddw"));
                            }
                            let target = sym.shndx as usize;
                            if let Some(&(_, _, _, map_idx)) =
                                map_syms.iter().find(|(s, v, _, _)| *s == target && *v == sym.value)
                            {
                                insns[insn].src_reg = BPF_PSEUDO_MAP_FD;
                                insns[insn].imm = map_idx as i32;
                                continue;
                            }
                            let tsec = elf.sections.get(target).ok_or_else(|| unsupported("symbol in no section"))?;
                            if let Some(writable) = global_data_kind(&tsec.name) {
                                let map_idx = match obj.maps.iter().position(
                                    |m| matches!(&m.origin, MapOrigin::GlobalData { section } if *section == tsec.name),
                                ) {
                                    Some(i) => i,
                                    None => {
                                        // `.bss` has no bytes in the file: its map starts zeroed, so its initial
                                        // value is empty (a 1 TiB `.bss` must not become a 1 TiB buffer here).
                                        let initial = if tsec.sh_type == SHT_NOBITS {
                                            Vec::new()
                                        } else {
                                            elf.data(target).to_vec()
                                        };
                                        let mut map = global_data_map(path, &obj.name, &tsec.name, writable, tsec.size, initial)?;
                                        map.btf_value_type_id = btf
                                            .as_ref()
                                            .and_then(|b| b.datasec_id(&tsec.name))
                                            .unwrap_or(0);
                                        obj.maps.push(map);
                                        obj.maps.len() - 1
                                    }
                                };
                                let off = i64::from(insns[insn].imm) + sym.value as i64;
                                insns[insn].src_reg = BPF_PSEUDO_MAP_VALUE;
                                insns[insn].imm = map_idx as i32;
                                insns[insn + 1].imm = off as i32;
                                continue;
                            }
                            if tsec.flags & SHF_EXECINSTR != 0 {
                                return Err(unsupported("function pointers (BPF_PSEUDO_FUNC) are not supported"));
                            }
                            return Err(unsupported(&format!(
                                "symbol in section {} is neither a map nor global data",
                                tsec.name
                            )));
                        }
                        R_BPF_64_32 => {
                            let reason = if insns[insn].src_reg == BPF_PSEUDO_CALL {
                                "bpf-to-bpf calls to subprograms are not linked by this loader (use __always_inline)"
                            } else {
                                "R_BPF_64_32 on an instruction that is not a call"
                            };
                            return Err(unsupported(reason));
                        }
                        _ => return Err(unsupported("only R_BPF_64_64 on lddw is supported in program sections")),
                    }
                }
            }
            // One program per global function symbol in the section.
            let mut funcs: Vec<&Sym> = elf
                .syms
                .iter()
                .filter(|s| {
                    s.shndx as usize == si && s.kind == STT_FUNC && (s.bind == STB_GLOBAL || s.bind == STB_WEAK)
                })
                .collect();
            funcs.sort_by_key(|s| s.value);
            if funcs.is_empty() {
                return Err(elf.bad(format!("program section {} has no global function symbol", sec.name)));
            }
            for (k, f) in funcs.iter().enumerate() {
                let start = (f.value / 8) as usize;
                let end = if f.size > 0 {
                    start + (f.size / 8) as usize
                } else {
                    funcs.get(k + 1).map_or(insns.len(), |n| (n.value / 8) as usize)
                };
                let body = insns.get(start..end).ok_or_else(|| {
                    elf.bad(format!(
                        "function {} [{:#x}, +{:#x}) is outside section {}",
                        f.name, f.value, f.size, sec.name
                    ))
                })?;
                let name = match sec.name.strip_prefix(".bpf.fn.") {
                    Some(n) if f.name.is_empty() => n.to_string(),
                    _ => f.name.clone(),
                };
                obj.programs.push(ObjProgram {
                    name,
                    section: sec.name.clone(),
                    attach: attach.clone(),
                    insns: body.to_vec(),
                });
            }
        }
        // btf_fixup_datasec() for the global-data sections that became maps.
        let mut btf = btf;
        if let Some(b) = btf.as_mut() {
            for m in &obj.maps {
                let MapOrigin::GlobalData { section } = &m.origin else { continue };
                let Some(si) = elf.find(section) else { continue };
                let offset_of = |name: &str| {
                    elf.syms
                        .iter()
                        .find(|s| s.shndx as usize == si && s.name == name && s.kind != STT_SECTION)
                        .and_then(|s| u32::try_from(s.value).ok())
                };
                b.fixup_datasec(section, m.def.value_size, offset_of);
            }
        }
        obj.btf = btf.map(std::sync::Arc::new);
        Ok(obj)
    }

    /// The program named `name`.
    #[must_use]
    pub fn program(&self, name: &str) -> Option<&ObjProgram> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// Whether the license is GPL-compatible (`license_is_gpl_compatible`, kernel/module.c): gpl-only helpers such
    /// as `bpf_trace_printk` and `bpf_probe_read_*` need it.
    #[must_use]
    pub fn gpl_compatible(&self) -> bool {
        license_is_gpl_compatible(&self.license)
    }
}

/// `license_is_gpl_compatible` (include/linux/license.h).
#[must_use]
pub fn license_is_gpl_compatible(license: &str) -> bool {
    matches!(license, "GPL" | "GPL v2" | "GPL and additional rights" | "Dual BSD/GPL" | "Dual MIT/GPL" | "Dual MPL/GPL")
}

/// libbpf's internal map for a global-data section: a one-element array holding the section
/// (`bpf_object__init_internal_map`), named `<obj name[..8]><section>`; `.rodata` is read-only to programs.
/// libbpf's `bpf_object__init_internal_map`: a one-element array whose value is the section (`size` bytes).
/// `value_size` is a `__u32` in `union bpf_attr`: a section larger than that is refused with `-E2BIG`, as
/// `array_map_alloc_check` refuses a value above its bound; smaller ones meet that check in `map_create`.
fn global_data_map(
    path: &Path,
    obj_name: &str,
    section: &str,
    writable: bool,
    size: u64,
    initial: Vec<u8>,
) -> Result<ObjMap, BpfObjectError> {
    // libbpf: pfx_len = min(BPF_OBJ_NAME_LEN - strlen(section) - 1, strlen(obj->name)).
    let pfx: String = obj_name.chars().take(15usize.saturating_sub(section.len())).collect();
    let name = format!("{pfx}{section}");
    let value_size = u32::try_from(size.max(1)).map_err(|_| BpfObjectError::MapCreate {
        path: path.to_path_buf(),
        map: name.clone(),
        reason: format!("global data section {section} of {size} bytes exceeds a map's 32-bit value_size"),
        errno: Errno::E2BIG,
    })?;
    // BPF_F_MMAPABLE (0x400), plus BPF_F_RDONLY_PROG (0x80) for .rodata.
    let flags = if writable { 0x400 } else { 0x480 };
    let def = MapDef::new(&name, MapType::Array, 4, value_size, 1, flags);
    Ok(ObjMap {
        def,
        origin: MapOrigin::GlobalData { section: section.to_string() },
        initial: Some(initial),
        btf_key_type_id: 0,
        btf_value_type_id: 0,
    })
}

fn map_def_from_btf(path: &Path, name: &str, d: &BtfMapDef) -> Result<MapDef, BpfObjectError> {
    let bad = |reason: String| BpfObjectError::InvalidMap { path: path.to_path_buf(), map: name.to_string(), reason };
    let t = d.map_type.ok_or_else(|| bad("no map type".into()))?;
    let ty = MapType::from_raw(t).ok_or_else(|| bad(format!("unsupported map type {t}")))?;
    Ok(MapDef::new(
        name,
        ty,
        d.key_size.unwrap_or(0),
        d.value_size.unwrap_or(0),
        d.max_entries.unwrap_or(0),
        d.map_flags.unwrap_or(0),
    ))
}
