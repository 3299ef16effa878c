//! The syntax tree (bpftrace's `src/ast/ast.h`, the subset probesim compiles).

use super::Span;

/// What a probe attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// `BEGIN`: runs once before the others fire.
    Begin,
    /// `END`: runs once after tracing stops.
    End,
    /// `kprobe:FUNC` (FUNC may hold `*` wildcards, matched against kallsyms).
    Kprobe(String),
    /// `kretprobe:FUNC`.
    Kretprobe(String),
}

/// One probe of an action block's probe list.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Its kind.
    pub kind: ProbeKind,
    /// Where it is written.
    pub span: Span,
}

/// `probe[, probe…] /predicate/ { statements }`.
#[derive(Clone, Debug)]
pub struct ActionBlock {
    /// The probes.
    pub probes: Vec<Probe>,
    /// The predicate.
    pub pred: Option<Expr>,
    /// The statements.
    pub body: Vec<Stmt>,
}

/// A map reference `@name[key, …]`.
#[derive(Clone, Debug)]
pub struct MapRef {
    /// The name with its `@` (`@` alone for the unnamed map).
    pub name: String,
    /// Key expressions (none: a keyless map).
    pub keys: Vec<Expr>,
    /// Where.
    pub span: Span,
}

/// A statement.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// An expression evaluated for its effect (`printf(…)`, `exit()`).
    Expr(Expr),
    /// `$x = e`.
    AssignVar {
        /// The name without `$`.
        name: String,
        /// The value.
        value: Expr,
        /// Where the variable is written.
        span: Span,
    },
    /// `@m[k] = e` (e may be an aggregation call: `count()`, `hist(x)`, …).
    AssignMap {
        /// The map.
        map: MapRef,
        /// The value.
        value: Expr,
    },
    /// `@m[k]++` (and `--`): bpftrace's shorthand for `+= 1`.
    MapIncr {
        /// The map.
        map: MapRef,
        /// +1 or -1.
        delta: i64,
    },
    /// `if (c) { … } else { … }`.
    If {
        /// Condition.
        cond: Expr,
        /// Then.
        then: Vec<Stmt>,
        /// Else (an `else if` is one nested `If`).
        els: Vec<Stmt>,
    },
    /// `unroll (N) { … }`: the body N times over (1 ≤ N ≤ 100), unrolled at compile time.
    Unroll {
        /// N.
        count: i64,
        /// The body.
        body: Vec<Stmt>,
    },
    /// `while (c) { … }`: a loop in the bytecode (a back-edge the verifier must bound: kernel 5.3+).
    While {
        /// Condition.
        cond: Expr,
        /// The body.
        body: Vec<Stmt>,
    },
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    And,
    /// `|`
    Or,
    /// `^`
    Xor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&`
    LAnd,
    /// `||`
    LOr,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-`
    Neg,
    /// `!`
    Not,
    /// `~`
    BitNot,
}

/// An expression.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// An integer.
    Int(i64),
    /// A string literal.
    Str(String),
    /// A builtin (`pid`, `comm`, `arg0`, …) by its name.
    Builtin(String),
    /// `$x`.
    Var(String),
    /// `@m[k]` read.
    Map(MapRef),
    /// `a op b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `op a`.
    Unary(UnOp, Box<Expr>),
    /// `c ? a : b`.
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `f(args)`.
    Call(String, Vec<Expr>),
}
