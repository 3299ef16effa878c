//! The part of BTF (`include/uapi/linux/btf.h`, `kernel/bpf/btf.c`, libbpf's `btf.c`) a loader needs to read
//! BTF-defined maps: the header, the string section and every type kind's record layout, `btf__resolve_size`, and
//! libbpf's `parse_btf_map_def` over a `.maps` `DATASEC`.
//!
//! A map definition in `.maps` is a variable whose type is an anonymous struct of pointer members (bpf_helpers.h):
//! `__uint(name, val)` is `int (*name)[val]` — a pointer to an array whose element count is the value — and
//! `__type(name, T)` is `T *name`, whose size is `sizeof(T)`.

use std::fmt;

/// `BTF_MAGIC`.
pub const BTF_MAGIC: u16 = 0xeb9f;

/// A BTF type kind (`BTF_KIND_*`).
#[allow(missing_docs)] // The variants are the kernel's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Void,
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    fn from_raw(k: u32) -> Option<Kind> {
        Some(match k {
            0 => Kind::Void,
            1 => Kind::Int,
            2 => Kind::Ptr,
            3 => Kind::Array,
            4 => Kind::Struct,
            5 => Kind::Union,
            6 => Kind::Enum,
            7 => Kind::Fwd,
            8 => Kind::Typedef,
            9 => Kind::Volatile,
            10 => Kind::Const,
            11 => Kind::Restrict,
            12 => Kind::Func,
            13 => Kind::FuncProto,
            14 => Kind::Var,
            15 => Kind::Datasec,
            16 => Kind::Float,
            17 => Kind::DeclTag,
            18 => Kind::TypeTag,
            19 => Kind::Enum64,
            _ => return None,
        })
    }
}

/// A struct or union member (`struct btf_member`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its name.
    pub name: String,
    /// Its type id.
    pub type_id: u32,
    /// Bit offset (and bitfield size in the top byte when the kind flag is set).
    pub offset: u32,
}

/// One variable of a `DATASEC` (`struct btf_var_secinfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarSecinfo {
    /// The `VAR`'s type id.
    pub type_id: u32,
    /// Byte offset in the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// One type record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    /// Its kind.
    pub kind: Kind,
    /// Its name (empty for anonymous types).
    pub name: String,
    /// `size` (INT, STRUCT, UNION, ENUM, DATASEC, FLOAT, ENUM64) or `type` (the others) of `struct btf_type`.
    pub size_or_type: u32,
    /// ARRAY: element type, index type, element count.
    pub array: Option<(u32, u32, u32)>,
    /// STRUCT/UNION members.
    pub members: Vec<Member>,
    /// DATASEC variables.
    pub vars: Vec<VarSecinfo>,
    /// INT: the word after the type (`BTF_INT_ENCODING`, `BTF_INT_OFFSET`, `BTF_INT_BITS`).
    pub int_word: u32,
    /// `BTF_INFO_KFLAG`: STRUCT/UNION members carry bitfield sizes in their offsets' top byte.
    pub kflag: bool,
    /// ENUM/ENUM64 values, by name.
    pub enums: Vec<(String, i64)>,
}

/// `BTF_INT_SIGNED`.
pub const BTF_INT_SIGNED: u32 = 1;
/// `BTF_INT_CHAR`.
pub const BTF_INT_CHAR: u32 = 2;
/// `BTF_INT_BOOL`.
pub const BTF_INT_BOOL: u32 = 4;

impl Type {
    /// `BTF_INT_ENCODING(int_word)`.
    #[must_use]
    pub fn int_encoding(&self) -> u32 {
        (self.int_word & 0x0f00_0000) >> 24
    }

    /// `BTF_INT_OFFSET(int_word)`.
    #[must_use]
    pub fn int_offset(&self) -> u32 {
        (self.int_word & 0x00ff_0000) >> 16
    }

    /// `BTF_INT_BITS(int_word)`.
    #[must_use]
    pub fn int_bits(&self) -> u32 {
        self.int_word & 0xff
    }
}

/// Why BTF could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtfError(pub String);

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, BtfError> {
    Err(BtfError(msg.into()))
}

/// A parsed `.BTF` section. Type id `n` is `types[n]`; id 0 is `void`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Btf {
    types: Vec<Type>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, BtfError> {
        let s = self
            .b
            .get(self.at..self.at + 4)
            .ok_or_else(|| BtfError(format!("type section truncated at byte {}", self.at)))?;
        self.at += 4;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Btf {
    /// Parses a `.BTF` section (`btf_parse_hdr`, `btf_parse_str_sec`, `btf_parse_type_sec`).
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let magic = le16(data, 0).ok_or_else(|| BtfError("section shorter than the BTF header".into()))?;
        if magic != BTF_MAGIC {
            return err(format!("bad magic {magic:#06x} (expected {BTF_MAGIC:#06x}; big-endian BTF is not supported)"));
        }
        if data.get(2) != Some(&1) {
            return err(format!("unsupported version {}", data.get(2).copied().unwrap_or(0)));
        }
        let field = |at| le32(data, at).ok_or_else(|| BtfError("section shorter than the BTF header".into()));
        let hdr_len = field(4)? as usize;
        if hdr_len < 24 {
            return err(format!("header length {hdr_len} is below 24"));
        }
        let (type_off, type_len, str_off, str_len) =
            (field(8)? as usize, field(12)? as usize, field(16)? as usize, field(20)? as usize);
        let body = data.get(hdr_len..).ok_or_else(|| BtfError("header length exceeds the section".into()))?;
        let slice = |off: usize, len: usize, what: &str| {
            off.checked_add(len)
                .and_then(|end| body.get(off..end))
                .ok_or_else(|| BtfError(format!("{what} section [{off}, +{len}) is outside the data")))
        };
        let tsec = slice(type_off, type_len, "type")?;
        let ssec = slice(str_off, str_len, "string")?;
        if !ssec.is_empty() && (ssec[0] != 0 || ssec[ssec.len() - 1] != 0) {
            return err("string section must start and end with NUL");
        }
        let name = |off: u32| -> Result<String, BtfError> {
            let off = off as usize;
            let rest =
                ssec.get(off..).ok_or_else(|| BtfError(format!("name offset {off} outside the string section")))?;
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        let mut types = vec![Type {
            kind: Kind::Void,
            name: String::new(),
            size_or_type: 0,
            array: None,
            members: Vec::new(),
            vars: Vec::new(),
            int_word: 0,
            kflag: false,
            enums: Vec::new(),
        }];
        let mut r = Reader { b: tsec, at: 0 };
        while r.at < tsec.len() {
            let id = types.len();
            let name_off = r.u32()?;
            let info = r.u32()?;
            let size_or_type = r.u32()?;
            let vlen = info & 0xffff;
            let raw_kind = (info >> 24) & 0x1f;
            let kind =
                Kind::from_raw(raw_kind).ok_or_else(|| BtfError(format!("type [{id}] has unknown kind {raw_kind}")))?;
            let mut t = Type {
                kind,
                name: name(name_off)?,
                size_or_type,
                array: None,
                members: Vec::new(),
                vars: Vec::new(),
                int_word: 0,
                kflag: info >> 31 != 0,
                enums: Vec::new(),
            };
            match kind {
                Kind::Int => {
                    t.int_word = r.u32()?;
                }
                Kind::Array => {
                    let (e, i, n) = (r.u32()?, r.u32()?, r.u32()?);
                    t.array = Some((e, i, n));
                }
                Kind::Struct | Kind::Union => {
                    for _ in 0..vlen {
                        let (n, ty, off) = (r.u32()?, r.u32()?, r.u32()?);
                        t.members.push(Member { name: name(n)?, type_id: ty, offset: off });
                    }
                }
                Kind::Enum => {
                    for _ in 0..vlen {
                        let (n, v) = (r.u32()?, r.u32()?);
                        // `btf_enum.val` is s32 (unsigned when the kind flag says so; bpftool compares as s64).
                        let v = if t.kflag { i64::from(v) } else { i64::from(v as i32) };
                        t.enums.push((name(n)?, v));
                    }
                }
                Kind::Enum64 => {
                    for _ in 0..vlen {
                        let (n, lo, hi) = (r.u32()?, r.u32()?, r.u32()?);
                        t.enums.push((name(n)?, ((u64::from(hi) << 32) | u64::from(lo)) as i64));
                    }
                }
                Kind::FuncProto => {
                    for _ in 0..vlen {
                        r.u32()?;
                        r.u32()?;
                    }
                }
                Kind::Var | Kind::DeclTag => {
                    r.u32()?;
                }
                Kind::Datasec => {
                    for _ in 0..vlen {
                        let (ty, off, sz) = (r.u32()?, r.u32()?, r.u32()?);
                        t.vars.push(VarSecinfo { type_id: ty, offset: off, size: sz });
                    }
                }
                Kind::Void => return err(format!("type [{id}] has kind 0 (void is only id 0)")),
                Kind::Ptr
                | Kind::Fwd
                | Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::Func
                | Kind::Float
                | Kind::TypeTag => {}
            }
            types.push(t);
        }
        let btf = Btf { types };
        // Every referenced id must exist.
        for (id, t) in btf.types.iter().enumerate().skip(1) {
            let refs: Vec<u32> = match t.kind {
                Kind::Ptr
                | Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::Func
                | Kind::Var
                | Kind::DeclTag
                | Kind::TypeTag => vec![t.size_or_type],
                Kind::Array => t.array.map(|(e, i, _)| vec![e, i]).unwrap_or_default(),
                Kind::Struct | Kind::Union => t.members.iter().map(|m| m.type_id).collect(),
                Kind::Datasec => t.vars.iter().map(|v| v.type_id).collect(),
                _ => Vec::new(),
            };
            if let Some(bad) = refs.iter().find(|&&r| r as usize >= btf.types.len()) {
                return err(format!(
                    "type [{id}] refers to type id {bad}, beyond the last type {}",
                    btf.types.len() - 1
                ));
            }
        }
        Ok(btf)
    }

    /// The type with id `id`.
    #[must_use]
    pub fn get(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Number of types, `void` included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether only `void` is there.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    /// The `DATASEC` named `name`.
    #[must_use]
    pub fn datasec(&self, name: &str) -> Option<&Type> {
        self.types.iter().find(|t| t.kind == Kind::Datasec && t.name == name)
    }

    /// The id of the `DATASEC` named `name`.
    #[must_use]
    pub fn datasec_id(&self, name: &str) -> Option<u32> {
        self.types.iter().position(|t| t.kind == Kind::Datasec && t.name == name).map(|i| i as u32)
    }

    /// libbpf's `btf_fixup_datasec`: clang leaves a global-data `DATASEC`'s variable offsets (and its size) for the
    /// linker; libbpf takes each from the ELF symbol of the variable's name (`offset_of`) and the size from the
    /// section (`size`).
    pub fn fixup_datasec(&mut self, name: &str, size: u32, offset_of: impl Fn(&str) -> Option<u32>) {
        let Some(id) = self.datasec_id(name) else { return };
        let vars = self.types[id as usize].vars.clone();
        let fixed: Vec<VarSecinfo> = vars
            .into_iter()
            .map(|mut v| {
                let var_name = self.get(v.type_id).map(|t| t.name.clone()).unwrap_or_default();
                if let Some(off) = offset_of(&var_name) {
                    v.offset = off;
                }
                v
            })
            .collect();
        let t = &mut self.types[id as usize];
        t.vars = fixed;
        if t.size_or_type == 0 {
            t.size_or_type = size;
        }
    }

    /// Follows typedefs and qualifiers (`btf__resolve_type` / `skip_mods_and_typedefs`).
    pub fn skip_mods(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..32 {
            let t = self.get(id).ok_or_else(|| BtfError(format!("type id {id} does not exist")))?;
            match t.kind {
                Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => id = t.size_or_type,
                _ => return Ok(id),
            }
        }
        err(format!("type chain from id {id} is too deep (a loop?)"))
    }

    /// `btf__resolve_size`: the size in bytes of type `id`.
    pub fn resolve_size(&self, id: u32) -> Result<u64, BtfError> {
        let mut id = id;
        let mut nelems: u64 = 1;
        for _ in 0..32 {
            let t = self.get(id).ok_or_else(|| BtfError(format!("type id {id} does not exist")))?;
            match t.kind {
                Kind::Int | Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64 | Kind::Datasec | Kind::Float => {
                    return nelems
                        .checked_mul(u64::from(t.size_or_type))
                        .ok_or_else(|| BtfError(format!("size of type [{id}] overflows")));
                }
                Kind::Ptr => return Ok(nelems * 8),
                Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::Var | Kind::TypeTag => {
                    id = t.size_or_type;
                }
                Kind::Array => {
                    let (elem, _, n) = t.array.unwrap_or((0, 0, 0));
                    nelems = nelems
                        .checked_mul(u64::from(n))
                        .ok_or_else(|| BtfError(format!("size of array type [{id}] overflows")))?;
                    id = elem;
                }
                _ => return err(format!("type [{id}] ({:?} `{}`) has no size", t.kind, t.name)),
            }
        }
        err("type chain is too deep (a loop?)")
    }
}

/// A map definition as `parse_btf_map_def` (libbpf.c) reads it from the `.maps` struct.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfMapDef {
    /// `__uint(type, …)`.
    pub map_type: Option<u32>,
    /// `__uint(key_size, …)` or `sizeof` of `__type(key, …)`.
    pub key_size: Option<u32>,
    /// `__uint(value_size, …)` or `sizeof` of `__type(value, …)`.
    pub value_size: Option<u32>,
    /// `__uint(max_entries, …)`.
    pub max_entries: Option<u32>,
    /// `__uint(map_flags, …)`.
    pub map_flags: Option<u32>,
    /// `__type(key, T)`: T's id (libbpf's `btf_key_type_id`).
    pub key_type_id: Option<u32>,
    /// `__type(value, T)`: T's id (`btf_value_type_id`).
    pub value_type_id: Option<u32>,
}

impl Btf {
    /// The value of `__uint(name, val)`: `int (*name)[val]`.
    fn uint_member(&self, map: &str, m: &Member) -> Result<u32, BtfError> {
        let t = self.get(m.type_id).ok_or_else(|| BtfError(format!("map '{map}': bad type of field '{}'", m.name)))?;
        if t.kind != Kind::Ptr {
            return err(format!("map '{map}': attr '{}': expected PTR, got {:?}", m.name, t.kind));
        }
        let arr_id = self.skip_mods(t.size_or_type)?;
        let arr = self.get(arr_id).filter(|a| a.kind == Kind::Array);
        match arr.and_then(|a| a.array) {
            Some((_, _, n)) => Ok(n),
            None => err(format!("map '{map}': attr '{}': type [{arr_id}] is not an array", m.name)),
        }
    }

    /// `sizeof(T)` of `__type(name, T)`: `T *name`.
    fn type_member(&self, map: &str, m: &Member) -> Result<u32, BtfError> {
        let t = self.get(m.type_id).ok_or_else(|| BtfError(format!("map '{map}': bad type of field '{}'", m.name)))?;
        if t.kind != Kind::Ptr {
            return err(format!("map '{map}': {} spec is not PTR: {:?}", m.name, t.kind));
        }
        let size = self
            .resolve_size(t.size_or_type)
            .map_err(|e| BtfError(format!("map '{map}': can't determine {} size: {e}", m.name)))?;
        u32::try_from(size).map_err(|_| BtfError(format!("map '{map}': {} size {size} is too large", m.name)))
    }

    /// `parse_btf_map_def`: reads the definition of the `.maps` variable `var_type_id` (a `VAR`).
    pub fn map_def(&self, var_type_id: u32) -> Result<(String, BtfMapDef), BtfError> {
        let var = self
            .get(var_type_id)
            .ok_or_else(|| BtfError(format!("map variable type id {var_type_id} does not exist")))?;
        if var.kind != Kind::Var {
            return err(format!("'.maps' entry [{var_type_id}] is {:?}, expected VAR", var.kind));
        }
        let map = var.name.clone();
        let def_id = self.skip_mods(var.size_or_type)?;
        let def = self.get(def_id).ok_or_else(|| BtfError(format!("map '{map}': bad definition type")))?;
        if def.kind != Kind::Struct {
            return err(format!("map '{map}': unexpected def kind {:?}, expected STRUCT", def.kind));
        }
        let mut out = BtfMapDef::default();
        for m in &def.members {
            let set = |slot: &mut Option<u32>, v: u32| -> Result<(), BtfError> {
                if let Some(old) = *slot {
                    if old != v {
                        return err(format!("map '{map}': conflicting {} {old} != {v}", m.name));
                    }
                }
                *slot = Some(v);
                Ok(())
            };
            match m.name.as_str() {
                "type" => set(&mut out.map_type, self.uint_member(&map, m)?)?,
                "max_entries" => set(&mut out.max_entries, self.uint_member(&map, m)?)?,
                "map_flags" => set(&mut out.map_flags, self.uint_member(&map, m)?)?,
                "key_size" => set(&mut out.key_size, self.uint_member(&map, m)?)?,
                "value_size" => set(&mut out.value_size, self.uint_member(&map, m)?)?,
                "key" => {
                    set(&mut out.key_size, self.type_member(&map, m)?)?;
                    out.key_type_id = self.get(m.type_id).map(|t| t.size_or_type);
                }
                "value" => {
                    set(&mut out.value_size, self.type_member(&map, m)?)?;
                    out.value_type_id = self.get(m.type_id).map(|t| t.size_or_type);
                }
                "numa_node" | "pinning" | "map_extra" => {
                    self.uint_member(&map, m)?;
                }
                other => return err(format!("map '{map}': unknown field '{other}'")),
            }
        }
        Ok((map, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a `.BTF` section from raw type words and a string table.
    pub(crate) fn build(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        b.push(1);
        b.push(0);
        let tlen = (types.len() * 4) as u32;
        for v in [24u32, 0, tlen, tlen, strings.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for w in types {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(strings);
        b
    }

    const fn info(kind: u32, vlen: u32) -> u32 {
        kind << 24 | vlen
    }

    #[test]
    fn parses_a_map_definition() {
        // strings: 0 "", 1 "int", 5 "type", 10 "key", 14 "execs", 20 "max_entries", 32 ".maps"
        let strings = b"\0int\0type\0key\0execs\0max_entries\0.maps\0";
        let types = [
            // [1] int, 4 bytes
            1,
            info(1, 0),
            4,
            0x0100_0020,
            // [2] int[1]
            0,
            info(3, 0),
            0,
            1,
            1,
            1,
            // [3] int (*)[1]
            0,
            info(2, 0),
            2,
            // [4] int[10240]
            0,
            info(3, 0),
            0,
            1,
            1,
            10240,
            // [5] ptr to [4]
            0,
            info(2, 0),
            4,
            // [6] ptr to int (key)
            0,
            info(2, 0),
            1,
            // [7] struct { type; max_entries; key; }
            0,
            info(4, 3),
            24,
            5,
            3,
            0,
            20,
            5,
            64,
            10,
            6,
            128,
            // [8] var execs
            14,
            info(14, 0),
            7,
            1,
            // [9] datasec .maps
            32,
            info(15, 1),
            24,
            8,
            0,
            24,
        ];
        let btf = Btf::parse(&build(&types, strings)).unwrap();
        let sec = btf.datasec(".maps").unwrap();
        assert_eq!(sec.vars.len(), 1);
        let (name, def) = btf.map_def(sec.vars[0].type_id).unwrap();
        assert_eq!(name, "execs");
        assert_eq!(def.map_type, Some(1));
        assert_eq!(def.max_entries, Some(10240));
        assert_eq!(def.key_size, Some(4));
        assert_eq!(btf.resolve_size(4).unwrap(), 4 * 10240);
    }

    #[test]
    fn refuses_malformed_btf() {
        assert!(Btf::parse(&[0x9f, 0xeb]).is_err());
        assert!(Btf::parse(&build(&[], b"\0")).is_ok());
        let mut bad_magic = build(&[], b"\0");
        bad_magic[0] = 0;
        assert!(Btf::parse(&bad_magic).unwrap_err().0.contains("magic"));
        // A pointer to a type that does not exist.
        assert!(Btf::parse(&build(&[0, info(2, 0), 7], b"\0")).unwrap_err().0.contains("refers to type id 7"));
        // A truncated struct.
        assert!(Btf::parse(&build(&[0, info(4, 2), 8, 0, 0], b"\0")).unwrap_err().0.contains("truncated"));
        // Unknown kind.
        assert!(Btf::parse(&build(&[0, info(31, 0), 0], b"\0")).unwrap_err().0.contains("unknown kind"));
    }
}
