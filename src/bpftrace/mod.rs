//! bpftrace one-liners on the simulated kernel (issue #14): the language (bpftrace v0.21's syntax, the subset in
//! docs/bpftrace.md) is lexed ([`lexer`]), parsed ([`parser`] into [`ast`]) and compiled to eBPF bytecode
//! ([`codegen`]) with BPF maps for its `@maps` and a perf event array for `printf`/`exit`. [`run`] loads the programs
//! through the kernel's BPF load path (the verifier), attaches them as trace kprobes/kretprobes
//! (`Kernel::request_attach_prog`), runs the scenario, and [`printer`] prints what user space reads back — perf
//! records and map contents — exactly as bpftrace's `TextOutput` does.

pub mod ast;
pub mod codegen;
pub mod lexer;
pub mod parser;
pub mod printer;
pub mod run;
pub mod sema;

pub use sema::{Compiled, KeyTy, MapInfo, ProgInfo, ValKind};
pub use run::{trace, TraceOptions, TraceOutput};

/// A byte range of the program text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// `start..end`.
    #[must_use]
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// A compile error at a place in the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where.
    pub span: Span,
    /// What (bpftrace's wording where it has one).
    pub msg: String,
}

impl Error {
    /// An error at `span`.
    pub fn at(span: Span, msg: impl Into<String>) -> Error {
        Error { span, msg: msg.into() }
    }

    /// bpftrace's `Log::log_with_location` (src/log.cpp, v0.21): `FILE:LINE:COL-COL: ERROR: msg`, the source
    /// line (tabs as 4 spaces) and a marker line of `~` under the span (columns 1-based, the end exclusive); a span
    /// over several lines prints `FILE:L1-L2: ERROR: msg` alone.
    #[must_use]
    pub fn render(&self, filename: &str, src: &str) -> String {
        // Spans are byte offsets; keep them on character boundaries (start down, end up) so slicing never splits a
        // character.
        let floor = |mut p: usize| {
            p = p.min(src.len());
            while !src.is_char_boundary(p) {
                p -= 1;
            }
            p
        };
        let ceil = |mut p: usize| {
            p = p.min(src.len());
            while !src.is_char_boundary(p) {
                p += 1;
            }
            p
        };
        let span = Span::new(floor(self.span.start), ceil(self.span.end));
        let line_of = |pos: usize| src[..pos.min(src.len())].matches('\n').count() + 1;
        let line_start = |pos: usize| src[..pos.min(src.len())].rfind('\n').map_or(0, |i| i + 1);
        let (l1, l2) = (line_of(span.start), line_of(span.end.max(span.start)));
        if l1 < l2 {
            return format!("{filename}:{l1}-{l2}: ERROR: {}\n", self.msg);
        }
        let ls = line_start(span.start);
        let (c1, c2) = (span.start - ls + 1, span.end.max(span.start + 1) - ls + 1);
        let srcline = src[ls..].split('\n').next().unwrap_or("");
        let mut out = format!("{filename}:{l1}:{c1}-{c2}: ERROR: {}\n", self.msg);
        if srcline.is_empty() {
            return out;
        }
        out.push_str(&srcline.replace('\t', "    "));
        out.push('\n');
        for (x, ch) in srcline.chars().enumerate().take(c2 - 1) {
            let marker = if x < c1 - 1 { ' ' } else { '~' };
            let n = if ch == '\t' { 4 } else { 1 };
            out.extend(std::iter::repeat_n(marker, n));
        }
        out.push('\n');
        out
    }
}

/// Lexes, parses and compiles `src` against the kernel's function symbols (`(name, address)`, for wildcards and
/// `func`) with `regs` giving `struct pt_regs` offsets.
pub fn compile(src: &str, funcs: &[(String, u64)], regs: &dyn kernel_model::trace::RegsQuery) -> Result<Compiled, Error> {
    let tokens = lexer::lex(src)?;
    let blocks = parser::parse(&tokens, src.len())?;
    codegen::compile(&blocks, funcs, regs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_with_a_tilde_marker() {
        let src = "kprobe:f { foo(); }";
        let e = Error::at(Span::new(11, 14), "Unknown function: foo");
        assert_eq!(
            e.render("stdin", src),
            "stdin:1:12-15: ERROR: Unknown function: foo\nkprobe:f { foo(); }\n           ~~~\n"
        );
    }
}
