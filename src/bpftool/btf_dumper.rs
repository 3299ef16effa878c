//! bpftool's `btf_dumper.c` (tools/bpf/bpftool/btf_dumper.c, bpftool v7.x): a value printed through its BTF type,
//! as `bpftool map dump` shows BTF-typed keys and values — integers in decimal, `char` arrays holding a
//! NUL-terminated printable string as a string, structs as objects, enums by name, bitfields in hex, global-data
//! sections as `{".bss": [{"var": value}]}`. `plain` is `is_plain_text` (plain dumps; `-j` output quotes pointers
//! and bitfields differently).

use super::json_writer::JsonWriter;
use kernel_model::bpf::btf::{Btf, Kind, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED};

/// `struct btf_dumper`.
pub struct BtfDumper<'a> {
    /// The types.
    pub btf: &'a Btf,
    /// `is_plain_text`.
    pub plain: bool,
    /// How deep the dump is (types nest through members, arrays and modifiers; crafted BTF can loop, which the
    /// kernel's BTF check refuses at load: here a dump deeper than [`MAX_TYPE_DEPTH`] fails).
    pub depth: std::cell::Cell<u32>,
}

/// The deepest type nesting a dump follows (bpftool's own dumper has no limit: the kernel refused a looping BTF).
pub const MAX_TYPE_DEPTH: u32 = 64;

/// Why a value could not be printed (bpftool's negative returns; the element is then cut where it stopped).
#[derive(Debug)]
pub struct DumpError;

fn bytes(data: &[u8], at: usize, n: usize) -> Result<&[u8], DumpError> {
    data.get(at..at + n).ok_or(DumpError)
}

fn le(data: &[u8], n: usize) -> Result<u64, DumpError> {
    let b = bytes(data, 0, n)?;
    Ok(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

impl BtfDumper<'_> {
    /// `btf_dumper_type`.
    pub fn dump(&self, jw: &mut JsonWriter, type_id: u32, data: &[u8]) -> Result<(), DumpError> {
        self.do_type(jw, type_id, 0, data)
    }

    /// `btf_int128_print`.
    fn int128(&self, jw: &mut JsonWriter, v: u128) {
        let (upper, lower) = ((v >> 64) as u64, v as u64);
        let text = if upper == 0 { format!("{lower:#x}") } else { format!("{upper:#x}{lower:016x}") };
        if self.plain {
            jw.raw(&text);
        } else {
            jw.raw(&format!("\"{text}\""));
        }
    }

    /// `btf_dumper_bitfield` (little-endian): the `nr_bits` bits from `bit_offset` of `data`.
    fn bitfield(&self, jw: &mut JsonWriter, nr_bits: u32, bit_offset: u32, data: &[u8]) -> Result<(), DumpError> {
        let bits_to_copy = bit_offset + nr_bits;
        let n = bits_to_copy.div_ceil(8).min(16) as usize;
        let mut buf = [0u8; 16];
        buf[..n].copy_from_slice(bytes(data, 0, n)?);
        let v = u128::from_le_bytes(buf);
        let (left, right) = (128u32.saturating_sub(bits_to_copy), 128u32.saturating_sub(nr_bits));
        let v = v.checked_shl(left).unwrap_or(0).checked_shr(right).unwrap_or(0);
        self.int128(jw, v);
        Ok(())
    }

    /// `btf_dumper_int`.
    fn int(&self, jw: &mut JsonWriter, id: u32, bit_offset: u32, data: &[u8]) -> Result<(), DumpError> {
        let t = self.btf.get(id).ok_or(DumpError)?;
        let nr_bits = t.int_bits();
        if bit_offset != 0 || t.int_offset() != 0 || nr_bits % 8 != 0 {
            // btf_dumper_int_bits()
            let total = bit_offset + t.int_offset();
            let data = data.get((total / 8) as usize..).ok_or(DumpError)?;
            return self.bitfield(jw, nr_bits, total % 8, data);
        }
        if nr_bits == 128 {
            let v = u128::from_le_bytes(bytes(data, 0, 16)?.try_into().map_err(|_| DumpError)?);
            self.int128(jw, v);
            return Ok(());
        }
        let n = (nr_bits / 8) as usize;
        match t.int_encoding() {
            0 | BTF_INT_SIGNED if matches!(nr_bits, 8 | 16 | 32 | 64) => {
                let v = le(data, n)?;
                if t.int_encoding() == 0 {
                    jw.raw(&v.to_string());
                } else {
                    let shift = 64 - nr_bits;
                    jw.raw(&(((v << shift) as i64) >> shift).to_string());
                }
            }
            0 | BTF_INT_SIGNED => return self.bitfield(jw, nr_bits, 0, data),
            BTF_INT_CHAR => {
                let c = *data.first().ok_or(DumpError)?;
                if (0x20..0x7f).contains(&c) {
                    jw.raw(&format!("\"{}\"", c as char));
                } else if self.plain {
                    jw.raw(&format!("{c:#x}"));
                } else {
                    jw.raw(&format!("\"\\u00{c:02x}\""));
                }
            }
            BTF_INT_BOOL => jw.raw(if *data.first().ok_or(DumpError)? != 0 { "true" } else { "false" }),
            _ => return Err(DumpError),
        }
        Ok(())
    }

    /// `is_str_array`: a `char` array (qualifiers skipped, typedefs not) holding a NUL within its length and only
    /// printable bytes before it.
    fn is_str_array(&self, elem: u32, nelems: u32, data: &[u8]) -> bool {
        if nelems == 0 {
            return false;
        }
        let mut id = elem;
        let mut t = self.btf.get(id);
        let mut steps = 0;
        while let Some(m) = t.filter(|m| matches!(m.kind, Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag)) {
            steps += 1;
            if steps > MAX_TYPE_DEPTH {
                return false;
            }
            id = m.size_or_type;
            t = self.btf.get(id);
        }
        let Some(t) = t else { return false };
        if t.kind != Kind::Int || t.size_or_type != 1 || (t.int_encoding() != BTF_INT_CHAR && t.name != "char") {
            return false;
        }
        for &c in data.iter().take(nelems as usize) {
            if c == 0 {
                return true;
            }
            if c <= 0x1f || c >= 0x7f {
                return false;
            }
        }
        false
    }

    fn do_type(&self, jw: &mut JsonWriter, id: u32, bit_offset: u32, data: &[u8]) -> Result<(), DumpError> {
        let d = self.depth.get();
        if d >= MAX_TYPE_DEPTH {
            return Err(DumpError);
        }
        self.depth.set(d + 1);
        let r = self.do_type_inner(jw, id, bit_offset, data);
        self.depth.set(d);
        r
    }

    fn do_type_inner(&self, jw: &mut JsonWriter, id: u32, bit_offset: u32, data: &[u8]) -> Result<(), DumpError> {
        let t = self.btf.get(id).ok_or(DumpError)?;
        match t.kind {
            Kind::Int => self.int(jw, id, bit_offset, data),
            Kind::Struct | Kind::Union => {
                jw.start_object();
                let mut ret = Ok(());
                for m in &t.members {
                    let (bit_offset, bitfield_size) =
                        if t.kflag { (m.offset & 0x00ff_ffff, m.offset >> 24) } else { (m.offset, 0) };
                    jw.name(&m.name);
                    let Some(d) = data.get((bit_offset / 8) as usize..) else {
                        ret = Err(DumpError);
                        break;
                    };
                    ret = if bitfield_size != 0 {
                        self.bitfield(jw, bitfield_size, bit_offset % 8, d)
                    } else {
                        self.do_type(jw, m.type_id, bit_offset % 8, d)
                    };
                    if ret.is_err() {
                        break;
                    }
                }
                jw.end_object();
                ret
            }
            Kind::Array => {
                let (elem, _, n) = t.array.ok_or(DumpError)?;
                if self.is_str_array(elem, n, data) {
                    let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
                    jw.string(&String::from_utf8_lossy(&data[..end]));
                    return Ok(());
                }
                let size = self.btf.resolve_size(elem).map_err(|_| DumpError)? as usize;
                jw.start_array();
                let mut ret = Ok(());
                for i in 0..n as usize {
                    ret = data.get(i * size..).ok_or(DumpError).and_then(|d| self.do_type(jw, elem, 0, d));
                    if ret.is_err() {
                        break;
                    }
                }
                jw.end_array();
                ret
            }
            Kind::Enum | Kind::Enum64 => {
                let n = t.size_or_type as usize;
                if !matches!(n, 1 | 2 | 4 | 8) {
                    return Err(DumpError);
                }
                let shift = 64 - 8 * n as u32;
                let v = ((le(data, n)? << shift) as i64) >> shift;
                match t.enums.iter().find(|(_, val)| *val == v) {
                    Some((name, _)) => jw.string(name),
                    None => jw.raw(&v.to_string()),
                }
                Ok(())
            }
            Kind::Ptr => {
                let v = le(data, 8)?;
                if self.plain {
                    // glibc's %p: "(nil)" for NULL.
                    jw.raw(&if v == 0 { "\"(nil)\"".to_string() } else { format!("\"{v:#x}\"") });
                } else {
                    jw.raw(&v.to_string());
                }
                Ok(())
            }
            Kind::Void => {
                jw.raw("(unknown)");
                Ok(())
            }
            Kind::Fwd => {
                jw.raw("(fwd-kind-invalid)");
                Err(DumpError)
            }
            Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict => {
                // btf_dumper_modifier(): btf__resolve_type, same bit offset.
                let actual = self.btf.skip_mods(id).map_err(|_| DumpError)?;
                self.do_type(jw, actual, bit_offset, data)
            }
            Kind::Var => {
                jw.start_object();
                jw.name(&t.name);
                let ret = self.do_type(jw, t.size_or_type, bit_offset, data);
                jw.end_object();
                ret
            }
            Kind::Datasec => {
                jw.start_object();
                jw.name(&t.name);
                jw.start_array();
                let mut ret = Ok(());
                for v in &t.vars {
                    ret = data.get(v.offset as usize..).ok_or(DumpError).and_then(|d| self.do_type(jw, v.type_id, 0, d));
                    if ret.is_err() {
                        break;
                    }
                }
                jw.end_array();
                jw.end_object();
                ret
            }
            _ => {
                jw.raw("(unsupported-kind)");
                Err(DumpError)
            }
        }
    }
}
