//! `kernel/kallsyms.c`: the kernel's symbol table, for resolving `sym`, `sym+off` and addresses, and for printing
//! addresses the way `%pS` does (`kernel_clone+0x0/0x450`).

use crate::KernelVa;
use std::collections::BTreeMap;

/// What a symbol names, as the type letter of `/proc/kallsyms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum SymbolKind {
    /// Code (`t`/`T`).
    Text,
    /// Data, rodata or bss (`d`/`D`, `r`/`R`, `b`/`B`).
    Data,
}

/// One symbol.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Symbol {
    /// Its name.
    pub name: String,
    /// Its address.
    pub addr: KernelVa,
    /// Its size in bytes (0 if the ELF gave none).
    pub size: u64,
    /// Code or data.
    pub kind: SymbolKind,
    /// Whether it is global (upper-case type letter).
    pub global: bool,
}

impl Symbol {
    /// The `/proc/kallsyms` type letter.
    #[must_use]
    pub fn type_letter(&self) -> char {
        let c = match self.kind {
            SymbolKind::Text => 't',
            SymbolKind::Data => 'd',
        };
        if self.global {
            c.to_ascii_uppercase()
        } else {
            c
        }
    }

    /// Whether `va` lies inside the symbol.
    #[must_use]
    pub fn contains(&self, va: KernelVa) -> bool {
        va >= self.addr && va.0 < self.addr.0 + self.size.max(1)
    }
}

/// Why a symbol expression could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KallsymsError {
    /// No symbol of that name (`register_kprobe` returns -ENOENT).
    #[error("unknown symbol `{0}`")]
    UnknownSymbol(String),
    /// The expression is neither `sym`, `sym+off` nor an address.
    #[error("cannot parse `{0}` as SYMBOL, SYMBOL+OFFSET or 0xADDRESS")]
    BadExpression(String),
}

/// The symbol table, sorted by address; lookups by name go through an ordered index.
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    by_addr: Vec<Symbol>,
    by_name: BTreeMap<String, usize>,
}

impl Kallsyms {
    /// Builds the table. When two symbols share a name the first one wins, as `kallsyms_lookup_name` does.
    #[must_use]
    pub fn new(mut symbols: Vec<Symbol>) -> Kallsyms {
        symbols.sort_by(|a, b| (a.addr, &a.name).cmp(&(b.addr, &b.name)));
        let mut by_name = BTreeMap::new();
        for (i, s) in symbols.iter().enumerate() {
            by_name.entry(s.name.clone()).or_insert(i);
        }
        Kallsyms { by_addr: symbols, by_name }
    }

    /// Adds a symbol (code the kernel itself provides, such as a trampoline).
    pub fn add(&mut self, sym: Symbol) {
        let mut all = std::mem::take(&mut self.by_addr);
        all.push(sym);
        *self = Kallsyms::new(all);
    }

    /// All symbols in address order.
    #[must_use]
    pub fn symbols(&self) -> &[Symbol] {
        &self.by_addr
    }

    /// `kallsyms_lookup_name(name)`.
    #[must_use]
    pub fn lookup_name(&self, name: &str) -> Option<&Symbol> {
        self.by_name.get(name).map(|&i| &self.by_addr[i])
    }

    /// `kallsyms_lookup(addr)`: the symbol containing `va` (the last one starting at or before it, if it has no
    /// size), preferring text symbols and, among equals, global ones.
    #[must_use]
    pub fn lookup(&self, va: KernelVa) -> Option<&Symbol> {
        let end = self.by_addr.partition_point(|s| s.addr <= va);
        let candidates = &self.by_addr[..end];
        candidates.iter().rev().find(|s| s.contains(va) && s.size > 0).or_else(|| {
            let last = candidates.last()?;
            (last.size == 0).then_some(last)
        })
    }

    /// Resolves `sym`, `sym+0x10`, `sym+16` or `0xffff…` to an address.
    pub fn resolve(&self, expr: &str) -> Result<KernelVa, KallsymsError> {
        let expr = expr.trim();
        if let Some(hex) = expr.strip_prefix("0x") {
            return u64::from_str_radix(hex, 16)
                .map(KernelVa)
                .map_err(|_| KallsymsError::BadExpression(expr.to_string()));
        }
        let (name, off) = match expr.split_once('+') {
            Some((n, o)) => (n, parse_int(o).ok_or_else(|| KallsymsError::BadExpression(expr.to_string()))?),
            None => (expr, 0),
        };
        if name.is_empty() {
            return Err(KallsymsError::BadExpression(expr.to_string()));
        }
        let sym = self.lookup_name(name).ok_or_else(|| KallsymsError::UnknownSymbol(name.to_string()))?;
        Ok(sym.addr.add(off))
    }

    /// Formats `va` as `%pS` does: `name+0xoff/0xsize`, or the bare hex address if no symbol covers it.
    #[must_use]
    pub fn format(&self, va: KernelVa) -> String {
        match self.lookup(va) {
            Some(s) => format!("{}+{:#x}/{:#x}", s.name, va.0 - s.addr.0, s.size),
            None => format!("{:#x}", va.0),
        }
    }

    /// Formats `va` as `name+0xoff` (the debugger's short form), or the hex address.
    #[must_use]
    pub fn format_short(&self, va: KernelVa) -> String {
        match self.lookup(va) {
            Some(s) if va == s.addr => s.name.clone(),
            Some(s) => format!("{}+{:#x}", s.name, va.0 - s.addr.0),
            None => format!("{:#x}", va.0),
        }
    }
}

/// Parses `0x10` or `16`.
#[must_use]
pub fn parse_int(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Kallsyms {
        let sym = |name: &str, addr, size| Symbol {
            name: name.into(),
            addr: KernelVa(addr),
            size,
            kind: SymbolKind::Text,
            global: true,
        };
        Kallsyms::new(vec![sym("kernel_clone", 0x1000, 0x450), sym("__arm64_sys_clone", 0x2000, 0x40)])
    }

    #[test]
    fn formats_like_percent_ps() {
        let k = table();
        assert_eq!(k.format(KernelVa(0x1000)), "kernel_clone+0x0/0x450");
        assert_eq!(k.format(KernelVa(0x2010)), "__arm64_sys_clone+0x10/0x40");
        assert_eq!(k.format(KernelVa(0x1500)), "0x1500");
    }

    #[test]
    fn resolves_expressions() {
        let k = table();
        assert_eq!(k.resolve("kernel_clone+0x8"), Ok(KernelVa(0x1008)));
        assert_eq!(k.resolve("kernel_clone+8"), Ok(KernelVa(0x1008)));
        assert_eq!(k.resolve("0x2000"), Ok(KernelVa(0x2000)));
        assert_eq!(k.resolve("nope"), Err(KallsymsError::UnknownSymbol("nope".into())));
        assert!(matches!(k.resolve("kernel_clone+zz"), Err(KallsymsError::BadExpression(_))));
    }
}
