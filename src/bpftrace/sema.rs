//! What the program means before code is generated: the types of values and map keys, what each `@map` holds
//! (from how it is assigned: bpftrace's semantic analyser, v0.21 `src/ast/passes/semantic_analyser.cpp`), the
//! compiled program's parts, and wildcard matching of probe names.
//!
//! Maps, as v0.21's `CodegenLLVM::get_map_type`: a keyless `count()` is a one-element `BPF_MAP_TYPE_PERCPU_ARRAY`,
//! every other aggregation a `BPF_MAP_TYPE_PERCPU_HASH` (keyless: key u64 0), a plain integer a `BPF_MAP_TYPE_HASH`;
//! the printer reduces the CPUs' copies. `hist`/`lhist` keys carry the bucket as a trailing u64, as bpftrace's do;
//! `avg`/`stats` values are `{count, total}`, `min`/`max` values `{value, set}`.

use super::ast::*;
use super::Error;
use kernel_model::bpf::insn::Insn;

/// The type of a map key component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTy {
    /// A 64-bit integer.
    Int,
    /// A 16-byte string (`comm`).
    Str,
    /// A kernel address printed as its symbol (`func`).
    Ksym,
    /// A probe id printed as its name (`probe`).
    Probe,
}

impl KeyTy {
    /// Its name as bpftrace v0.21 prints types (`SizedType`'s `typestr`): `int64`, `string[16]`, `ksym_t`, `probe_t`.
    #[must_use]
    pub fn type_name(self) -> &'static str {
        match self {
            KeyTy::Int => "int64",
            KeyTy::Str => "string[16]",
            KeyTy::Ksym => "ksym_t",
            KeyTy::Probe => "probe_t",
        }
    }

    /// Bytes it takes in a key or record.
    #[must_use]
    pub fn size(self) -> usize {
        if self == KeyTy::Str { 16 } else { 8 }
    }
}

/// What a map holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValKind {
    /// A plain integer (`@x = e`).
    Int,
    /// `count()`.
    Count,
    /// `sum(e)`.
    Sum,
    /// `min(e)`.
    Min,
    /// `max(e)`.
    Max,
    /// `avg(e)`.
    Avg,
    /// `stats(e)`.
    Stats,
    /// `hist(e)` (power-of-two buckets).
    Hist,
    /// `lhist(e, min, max, step)`.
    Lhist {
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
        /// Bucket width.
        step: i64,
    },
}

impl ValKind {
    /// Its name as bpftrace v0.21 prints types: `int64`, `count_t`, `sum_t`, `min_t`, `max_t`, `avg_t`, `stats_t`,
    /// `hist_t`, `lhist_t`.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            ValKind::Int => "int64",
            ValKind::Count => "count_t",
            ValKind::Sum => "sum_t",
            ValKind::Min => "min_t",
            ValKind::Max => "max_t",
            ValKind::Avg => "avg_t",
            ValKind::Stats => "stats_t",
            ValKind::Hist => "hist_t",
            ValKind::Lhist { .. } => "lhist_t",
        }
    }
}

/// One `@map` of the program.
#[derive(Clone, Debug)]
pub struct MapInfo {
    /// `@name` (`@` for the unnamed one).
    pub name: String,
    /// Key components.
    pub keys: Vec<KeyTy>,
    /// What it holds.
    pub kind: ValKind,
}

impl MapInfo {
    /// A keyless `count()`: a one-element `BPF_MAP_TYPE_PERCPU_ARRAY` (v0.21 `CodegenLLVM::get_map_type`).
    #[must_use]
    pub fn array(&self) -> bool {
        self.keys.is_empty() && self.kind == ValKind::Count
    }

    /// An aggregation: per-CPU (`PERCPU_ARRAY` or `PERCPU_HASH`); plain integers are a shared `HASH`.
    #[must_use]
    pub fn percpu(&self) -> bool {
        self.kind != ValKind::Int
    }

    pub(crate) fn bucketed(&self) -> bool {
        matches!(self.kind, ValKind::Hist | ValKind::Lhist { .. })
    }

    /// Bytes of the key part the program's keys fill (without a histogram's bucket).
    #[must_use]
    pub fn keys_size(&self) -> usize {
        self.keys.iter().map(|k| k.size()).sum()
    }

    /// The BPF map's key size: 4 for the array; the keys, or a u64 0 for a keyless map, then a histogram's
    /// bucket.
    #[must_use]
    pub fn key_size(&self) -> usize {
        if self.array() {
            4
        } else if self.bucketed() {
            self.keys_size() + 8
        } else {
            self.keys_size().max(8)
        }
    }

    /// The BPF map's value size.
    #[must_use]
    pub fn value_size(&self) -> usize {
        match self.kind {
            ValKind::Min | ValKind::Max | ValKind::Avg | ValKind::Stats => 16,
            _ => 8,
        }
    }

    /// The map definition (bpftrace's default `max_map_keys` is 4096).
    #[must_use]
    pub fn def(&self) -> kernel_model::bpf::MapDef {
        use kernel_model::bpf::MapType;
        let (ty, n) = if self.array() {
            (MapType::PercpuArray, 1)
        } else if self.percpu() {
            (MapType::PercpuHash, 4096)
        } else {
            (MapType::Hash, 4096)
        };
        kernel_model::bpf::MapDef::new(&self.name, ty, self.key_size() as u32, self.value_size() as u32, n, 0)
    }
}

/// One loaded program: the probe it serves and its instructions.
#[derive(Clone, Debug)]
pub struct ProgInfo {
    /// The probe as bpftrace names it (`kprobe:mydrv_submit`, `BEGIN`).
    pub probe: String,
    /// The resolved kind (a function name, never a wildcard).
    pub kind: ProbeKind,
    /// The bytecode; map references are `lddw map_fd IDX` with IDX an index into [`Compiled::maps`] (the perf
    /// event array is the last).
    pub insns: Vec<Insn>,
}

/// A `printf` call site: its format and argument types, by record id (index + 1; id 0 is `exit`).
#[derive(Clone, Debug)]
pub struct PrintfInfo {
    /// The format.
    pub fmt: String,
    /// Argument types.
    pub args: Vec<KeyTy>,
}

/// A compiled program.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The `@maps`, in order of first appearance (the perf event array `printf_buf`… comes after them).
    pub maps: Vec<MapInfo>,
    /// The programs.
    pub progs: Vec<ProgInfo>,
    /// `printf` sites, by record id − 1.
    pub printfs: Vec<PrintfInfo>,
    /// Probe names by `probe` id.
    pub probe_names: Vec<String>,
    /// `elapsed` is used: the object has the `elapsed` map (after the perf event array).
    pub elapsed: bool,
}

impl Compiled {
    /// The object index of the perf event array.
    #[must_use]
    pub fn perf_map(&self) -> usize {
        self.maps.len()
    }

    /// The object index of the `elapsed` map (the start time, key u64 0), after the perf event array.
    #[must_use]
    pub fn elapsed_map(&self) -> usize {
        self.maps.len() + 1
    }

    /// How many probes bpftrace reports attaching (`Attaching N probes...`): every program, BEGIN and END included.
    #[must_use]
    pub fn nr_probes(&self) -> usize {
        self.progs.len()
    }
}

/// Record id of `exit()` in the perf buffer.
pub const EXIT_RECORD: u64 = 0;
/// Record id of `print(@m)` (then the map's index); bpftrace's async action ids sit above its printf ids too.
pub const PRINT_RECORD: u64 = 30001;
/// Record id of `clear(@m)`.
pub const CLEAR_RECORD: u64 = 30002;
/// Record id of `zero(@m)`.
pub const ZERO_RECORD: u64 = 30003;

/// bpftrace's wildcard match (`*` any run of characters).
pub(crate) fn wildcard_match(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s[first.len()..].ends_with(last) || s.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The type of an expression's value.
pub(crate) fn type_of(e: &Expr) -> KeyTy {
    match &e.kind {
        ExprKind::Str(_) => KeyTy::Str,
        ExprKind::Builtin(b) if b == "comm" || b == "execname" => KeyTy::Str,
        ExprKind::Builtin(b) if b == "func" => KeyTy::Ksym,
        ExprKind::Builtin(b) if b == "probe" => KeyTy::Probe,
        _ => KeyTy::Int,
    }
}

pub(crate) fn agg_kind(e: &Expr) -> Result<Option<ValKind>, Error> {
    let ExprKind::Call(name, args) = &e.kind else { return Ok(None) };
    let want = |n: usize| -> Result<(), Error> {
        if args.len() == n {
            Ok(())
        } else {
            Err(Error::at(e.span, format!("{name}() requires {n} argument{} ({} provided)", if n == 1 { "" } else { "s" }, args.len())))
        }
    };
    let lit = |i: usize| -> Result<i64, Error> {
        match &args[i].kind {
            ExprKind::Int(v) => Ok(*v),
            ExprKind::Unary(UnOp::Neg, x) => match x.kind {
                ExprKind::Int(v) => Ok(-v),
                _ => Err(Error::at(args[i].span, format!("{name}: invalid argument: expected an integer literal"))),
            },
            _ => Err(Error::at(args[i].span, format!("{name}: invalid argument: expected an integer literal"))),
        }
    };
    Ok(Some(match name.as_str() {
        "count" => {
            want(0)?;
            ValKind::Count
        }
        "sum" | "min" | "max" | "avg" | "stats" | "hist" | "quantize" => {
            want(1)?;
            match name.as_str() {
                "sum" => ValKind::Sum,
                "min" => ValKind::Min,
                "max" => ValKind::Max,
                "avg" => ValKind::Avg,
                "stats" => ValKind::Stats,
                _ => ValKind::Hist,
            }
        }
        "lhist" | "lquantize" => {
            want(4)?;
            let (min, max, step) = (lit(1)?, lit(2)?, lit(3)?);
            if step <= 0 || max <= min {
                return Err(Error::at(e.span, "lhist() step must be >= 1 and max must be greater than min"));
            }
            // bpftrace v0.21 (semantic_analyser.cpp): "lhist() too many buckets, will exceed 1000 buckets".
            if (i128::from(max) - i128::from(min)) / i128::from(step) > 1000 {
                return Err(Error::at(e.span, "lhist() too many buckets, will exceed 1000 buckets"));
            }
            ValKind::Lhist { min, max, step }
        }
        _ => return Ok(None),
    }))
}

fn note_map(maps: &mut Vec<MapInfo>, m: &MapRef, kind: Option<ValKind>) -> Result<(), Error> {
    let keys: Vec<KeyTy> = m.keys.iter().map(type_of).collect();
    match maps.iter_mut().find(|x| x.name == m.name) {
        Some(x) => {
            if x.keys != keys && !keys.is_empty() {
                return Err(Error::at(m.span, {
                    let names = |k: &[KeyTy]| format!("[{}]", k.iter().map(|t| t.type_name()).collect::<Vec<_>>().join(", "));
                    format!("Argument mismatch for {}: trying to access with arguments: {} when map expects arguments: {}", m.name, names(&keys), names(&x.keys))
                }));
            }
            if let Some(k) = kind {
                if x.kind != k && !(x.kind == ValKind::Int && kind == Some(ValKind::Int)) {
                    return Err(Error::at(m.span, format!("Type mismatch for {}: trying to assign value of type '{}' when map already contains a value of type '{}'", m.name, k.type_name(), x.kind.type_name())));
                }
            }
        }
        None => maps.push(MapInfo { name: m.name.clone(), keys, kind: kind.unwrap_or(ValKind::Int) }),
    }
    Ok(())
}

pub(crate) fn collect_maps(s: &Stmt, maps: &mut Vec<MapInfo>) -> Result<(), Error> {
    match s {
        Stmt::AssignMap { map, value } => {
            let kind = agg_kind(value)?.unwrap_or(ValKind::Int);
            for k in &map.keys {
                collect_expr_maps(k, maps)?;
            }
            if let ExprKind::Call(_, args) = &value.kind {
                for a in args {
                    collect_expr_maps(a, maps)?;
                }
            } else {
                collect_expr_maps(value, maps)?;
            }
            note_map(maps, map, Some(kind))
        }
        Stmt::MapIncr { map, .. } => note_map(maps, map, Some(ValKind::Int)),
        Stmt::Expr(e) | Stmt::AssignVar { value: e, .. } => collect_expr_maps(e, maps),
        Stmt::Unroll { body, .. } => body.iter().try_for_each(|s| collect_maps(s, maps)),
        Stmt::While { cond, body } => {
            collect_expr_maps(cond, maps)?;
            body.iter().try_for_each(|s| collect_maps(s, maps))
        }
        Stmt::If { cond, then, els } => {
            collect_expr_maps(cond, maps)?;
            for s in then.iter().chain(els) {
                collect_maps(s, maps)?;
            }
            Ok(())
        }
    }
}

pub(crate) fn collect_expr_maps(e: &Expr, maps: &mut Vec<MapInfo>) -> Result<(), Error> {
    match &e.kind {
        ExprKind::Map(m) => {
            for k in &m.keys {
                collect_expr_maps(k, maps)?;
            }
            if !maps.iter().any(|x| x.name == m.name) {
                // Read before any assignment: an integer map (assignments seen later may refine nothing).
                note_map(maps, m, None)?;
            }
            Ok(())
        }
        ExprKind::Binary(_, a, b) => {
            collect_expr_maps(a, maps)?;
            collect_expr_maps(b, maps)
        }
        ExprKind::Unary(_, a) => collect_expr_maps(a, maps),
        ExprKind::Ternary(a, b, c) => {
            collect_expr_maps(a, maps)?;
            collect_expr_maps(b, maps)?;
            collect_expr_maps(c, maps)
        }
        ExprKind::Call(_, args) => args.iter().try_for_each(|a| collect_expr_maps(a, maps)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("mydrv_*", "mydrv_submit"));
        assert!(wildcard_match("*sum", "mydrv_checksum"));
        assert!(wildcard_match("my*_*", "mydrv_submit"));
        assert!(!wildcard_match("mydrv_*", "other"));
        assert!(wildcard_match("f", "f"));
    }
}
