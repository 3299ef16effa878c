//! A recursive-descent parser for bpftrace's grammar (`src/parser.yy`, v0.21), the subset in docs/bpftrace.md:
//! action blocks with probe lists and predicates, statements separated by `;`, C operator precedence.

use super::ast::*;
use super::lexer::{Tok, Token};
use super::{Error, Span};

/// Parses a token list into action blocks.
pub fn parse(tokens: &[Token], src_len: usize) -> Result<Vec<ActionBlock>, Error> {
    let mut p = Parser { t: tokens, i: 0, end: src_len, depth: 0 };
    let mut blocks = Vec::new();
    while p.i < p.t.len() {
        blocks.push(p.action_block()?);
    }
    if blocks.is_empty() {
        return Err(Error::at(Span::new(0, 0), "syntax error, unexpected end of file"));
    }
    Ok(blocks)
}

struct Parser<'a> {
    t: &'a [Token],
    i: usize,
    end: usize,
    /// Nesting of expressions and blocks so far (the parser recurses; [`MAX_DEPTH`] bounds it).
    depth: usize,
}

/// The deepest nesting of expressions and blocks a program may have (docs/limits.md): deeper input is an error, not
/// a stack overflow.
const MAX_DEPTH: usize = 256;

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|t| &t.tok)
    }

    fn span(&self) -> Span {
        self.t.get(self.i).map_or(Span::new(self.end, self.end), |t| t.span)
    }

    fn prev_end(&self) -> usize {
        self.i.checked_sub(1).and_then(|i| self.t.get(i)).map_or(0, |t| t.span.end)
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn eat(&mut self, p: &str) -> bool {
        let yes = self.is(p);
        if yes {
            self.i += 1;
        }
        yes
    }

    fn unexpected(&self, expecting: &str) -> Error {
        let what = match self.peek() {
            None => "end of file".to_string(),
            Some(Tok::Punct(p)) => p.to_string(),
            Some(Tok::Ident(s)) => format!("identifier {s}"),
            Some(Tok::Var(s)) => format!("variable ${s}"),
            Some(Tok::Map(s)) => format!("map @{s}"),
            Some(Tok::Int(v)) => format!("integer {v}"),
            Some(Tok::Str(_)) => "string".to_string(),
        };
        let exp = if expecting.is_empty() { String::new() } else { format!(", expecting {expecting}") };
        Error::at(self.span(), format!("syntax error, unexpected {what}{exp}"))
    }

    fn expect(&mut self, p: &str) -> Result<(), Error> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.unexpected(p))
        }
    }

    fn action_block(&mut self) -> Result<ActionBlock, Error> {
        let mut probes = vec![self.probe()?];
        while self.eat(",") {
            probes.push(self.probe()?);
        }
        let pred = if self.eat("/") {
            let e = self.expr_no_div()?;
            self.expect("/")?;
            Some(e)
        } else {
            None
        };
        let body = self.block()?;
        Ok(ActionBlock { probes, pred, body })
    }

    fn probe(&mut self) -> Result<Probe, Error> {
        let start = self.span();
        let Some(Tok::Ident(ty)) = self.peek().cloned() else { return Err(self.unexpected("probe")) };
        self.i += 1;
        let kind = match ty.as_str() {
            "BEGIN" => ProbeKind::Begin,
            "END" => ProbeKind::End,
            "kprobe" | "k" | "kretprobe" | "kr" => {
                self.expect(":")?;
                let Some(Tok::Ident(f)) = self.peek().cloned() else { return Err(self.unexpected("function name")) };
                self.i += 1;
                if ty.starts_with("kr") {
                    ProbeKind::Kretprobe(f)
                } else if self.eat("+") {
                    // `kprobe:FUNC+OFFSET` (v0.21 probe grammar: kprobes only).
                    let Some(Tok::Int(off)) = self.peek().cloned() else { return Err(self.unexpected("offset")) };
                    self.i += 1;
                    ProbeKind::Kprobe(format!("{f}+{off}"))
                } else {
                    ProbeKind::Kprobe(f)
                }
            }
            _ => {
                return Err(Error::at(start, format!("Invalid probe type: {ty}")));
            }
        };
        Ok(Probe { kind, span: Span::new(start.start, self.prev_end()) })
    }

    /// Runs `f` one nesting level deeper, refusing input nested past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::at(self.span(), format!("nested too deeply (more than {MAX_DEPTH} levels)")));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn block(&mut self) -> Result<Vec<Stmt>, Error> {
        self.nested(Self::block_inner)
    }

    fn block_inner(&mut self) -> Result<Vec<Stmt>, Error> {
        self.expect("{")?;
        let mut stmts = Vec::new();
        loop {
            while self.eat(";") {}
            if self.eat("}") {
                return Ok(stmts);
            }
            let s = self.stmt()?;
            let block_like = matches!(s, Stmt::If { .. } | Stmt::Unroll { .. } | Stmt::While { .. });
            stmts.push(s);
            if !block_like && !self.eat(";") && !self.is("}") {
                return Err(self.unexpected(";"));
            }
        }
    }

    fn stmt(&mut self) -> Result<Stmt, Error> {
        if matches!(self.peek(), Some(Tok::Ident(k)) if k == "unroll") {
            let start = self.span();
            self.i += 1;
            self.expect("(")?;
            let n = self.expr()?;
            self.expect(")")?;
            let ExprKind::Int(count) = n.kind else {
                return Err(Error::at(n.span, "unroll takes an integer literal"));
            };
            // v0.21 semantic_analyser.cpp, visit(Unroll).
            if count > 100 {
                return Err(Error::at(Span::new(start.start, n.span.end + 1), "unroll maximum value is 100"));
            }
            if count < 1 {
                return Err(Error::at(Span::new(start.start, n.span.end + 1), "unroll minimum value is 1"));
            }
            let body = self.block()?;
            return Ok(Stmt::Unroll { count, body });
        }
        if matches!(self.peek(), Some(Tok::Ident(k)) if k == "while") {
            self.i += 1;
            self.expect("(")?;
            let cond = self.expr()?;
            self.expect(")")?;
            let body = self.block()?;
            return Ok(Stmt::While { cond, body });
        }
        if matches!(self.peek(), Some(Tok::Ident(k)) if k == "if") {
            self.i += 1;
            self.expect("(")?;
            let cond = self.expr()?;
            self.expect(")")?;
            let then = self.block()?;
            let els = if matches!(self.peek(), Some(Tok::Ident(k)) if k == "else") {
                self.i += 1;
                if matches!(self.peek(), Some(Tok::Ident(k)) if k == "if") {
                    vec![self.stmt()?]
                } else {
                    self.block()?
                }
            } else {
                Vec::new()
            };
            return Ok(Stmt::If { cond, then, els });
        }
        match self.peek().cloned() {
            Some(Tok::Var(name)) if matches!(self.t.get(self.i + 1).map(|t| &t.tok), Some(Tok::Punct("="))) => {
                let span = self.span();
                self.i += 2;
                let value = self.expr()?;
                Ok(Stmt::AssignVar { name, value, span })
            }
            Some(Tok::Map(_)) => {
                let save = self.i;
                let map = self.map_ref()?;
                if self.eat("=") {
                    let value = self.expr()?;
                    return Ok(Stmt::AssignMap { map, value });
                }
                for (op, delta) in [("++", 1), ("--", -1)] {
                    if self.eat(op) {
                        return Ok(Stmt::MapIncr { map, delta });
                    }
                }
                for (op, bop) in [("+=", BinOp::Add), ("-=", BinOp::Sub)] {
                    if self.is(op) {
                        let sp = self.span();
                        self.i += 1;
                        let rhs = self.expr()?;
                        let span = Span::new(map.span.start, rhs.span.end);
                        let lhs = Expr { kind: ExprKind::Map(map.clone()), span: map.span };
                        let _ = sp;
                        let value = Expr { kind: ExprKind::Binary(bop, Box::new(lhs), Box::new(rhs)), span };
                        return Ok(Stmt::AssignMap { map, value });
                    }
                }
                self.i = save;
                Ok(Stmt::Expr(self.expr()?))
            }
            _ => Ok(Stmt::Expr(self.expr()?)),
        }
    }

    fn map_ref(&mut self) -> Result<MapRef, Error> {
        let sp = self.span();
        let Some(Tok::Map(name)) = self.peek().cloned() else { return Err(self.unexpected("map")) };
        self.i += 1;
        let mut keys = Vec::new();
        if self.eat("[") {
            keys.push(self.expr()?);
            while self.eat(",") {
                keys.push(self.expr()?);
            }
            self.expect("]")?;
        }
        Ok(MapRef { name: format!("@{name}"), keys, span: Span::new(sp.start, self.prev_end()) })
    }

    fn expr(&mut self) -> Result<Expr, Error> {
        self.ternary(true)
    }

    /// A predicate's expression: `/` closes it, so it is not division there (as in bpftrace, parenthesise to divide).
    fn expr_no_div(&mut self) -> Result<Expr, Error> {
        self.ternary(false)
    }

    fn ternary(&mut self, div: bool) -> Result<Expr, Error> {
        let c = self.binary(0, div)?;
        if self.eat("?") {
            let a = self.ternary(div)?;
            self.expect(":")?;
            let b = self.ternary(div)?;
            let span = Span::new(c.span.start, b.span.end);
            return Ok(Expr { kind: ExprKind::Ternary(Box::new(c), Box::new(a), Box::new(b)), span });
        }
        Ok(c)
    }

    fn binop(&self, div: bool) -> Option<(BinOp, u8)> {
        let Some(Tok::Punct(p)) = self.peek() else { return None };
        Some(match *p {
            "||" => (BinOp::LOr, 1),
            "&&" => (BinOp::LAnd, 2),
            "|" => (BinOp::Or, 3),
            "^" => (BinOp::Xor, 4),
            "&" => (BinOp::And, 5),
            "==" => (BinOp::Eq, 6),
            "!=" => (BinOp::Ne, 6),
            "<" => (BinOp::Lt, 7),
            "<=" => (BinOp::Le, 7),
            ">" => (BinOp::Gt, 7),
            ">=" => (BinOp::Ge, 7),
            "<<" => (BinOp::Shl, 8),
            ">>" => (BinOp::Shr, 8),
            "+" => (BinOp::Add, 9),
            "-" => (BinOp::Sub, 9),
            "*" => (BinOp::Mul, 10),
            "/" if div => (BinOp::Div, 10),
            "%" => (BinOp::Mod, 10),
            _ => return None,
        })
    }

    /// Precedence climbing over C's binary operators.
    fn binary(&mut self, min: u8, div: bool) -> Result<Expr, Error> {
        let mut lhs = self.unary(div)?;
        while let Some((op, prec)) = self.binop(div) {
            if prec <= min {
                break;
            }
            self.i += 1;
            let rhs = self.binary(prec, div)?;
            let span = Span::new(lhs.span.start, rhs.span.end);
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span };
        }
        Ok(lhs)
    }

    fn unary(&mut self, div: bool) -> Result<Expr, Error> {
        self.nested(|p| p.unary_inner(div))
    }

    fn unary_inner(&mut self, div: bool) -> Result<Expr, Error> {
        let sp = self.span();
        for (p, op) in [("-", UnOp::Neg), ("!", UnOp::Not), ("~", UnOp::BitNot)] {
            if self.eat(p) {
                let e = self.unary(div)?;
                let span = Span::new(sp.start, e.span.end);
                return Ok(Expr { kind: ExprKind::Unary(op, Box::new(e)), span });
            }
        }
        self.primary(div)
    }

    fn primary(&mut self, div: bool) -> Result<Expr, Error> {
        let sp = self.span();
        let kind = match self.peek().cloned() {
            Some(Tok::Int(v)) => {
                self.i += 1;
                ExprKind::Int(v)
            }
            Some(Tok::Str(s)) => {
                self.i += 1;
                ExprKind::Str(s)
            }
            Some(Tok::Var(v)) => {
                self.i += 1;
                ExprKind::Var(v)
            }
            Some(Tok::Map(_)) => {
                let m = self.map_ref()?;
                return Ok(Expr { span: m.span, kind: ExprKind::Map(m) });
            }
            Some(Tok::Punct("(")) => {
                self.i += 1;
                let e = self.ternary(true)?;
                self.expect(")")?;
                let _ = div;
                return Ok(Expr { kind: e.kind, span: Span::new(sp.start, self.prev_end()) });
            }
            Some(Tok::Ident(name)) => {
                self.i += 1;
                if self.eat("(") {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        args.push(self.expr()?);
                        while self.eat(",") {
                            args.push(self.expr()?);
                        }
                        self.expect(")")?;
                    }
                    ExprKind::Call(name, args)
                } else {
                    ExprKind::Builtin(name)
                }
            }
            _ => return Err(self.unexpected("")),
        };
        Ok(Expr { kind, span: Span::new(sp.start, self.prev_end()) })
    }
}
