//! Tokens of the bpftrace language (bpftrace's `src/lexer.l`, v0.21): identifiers (with `*` wildcards inside probe
//! names), `$vars`, `@maps`, integers, strings, punctuation; `//` and `/* */` comments.

use super::{Error, Span};

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// An identifier, builtin or keyword (`kprobe`, `if`, `pid`), possibly with `*` wildcards (`mydrv_*`).
    Ident(String),
    /// `$name`.
    Var(String),
    /// `@name` (`@` alone: the empty name).
    Map(String),
    /// An integer literal.
    Int(i64),
    /// A string literal, escapes resolved.
    Str(String),
    /// Punctuation or operator.
    Punct(&'static str),
}

/// A token and where it is.
#[derive(Clone, Debug)]
pub struct Token {
    /// What.
    pub tok: Tok,
    /// Where.
    pub span: Span,
}

const PUNCTS: &[&str] = &[
    "<<=", ">>=", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "++", "--", "+=", "-=", "*=", "/=", "{", "}", "(",
    ")", "[", "]", ",", ";", ":", "?", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<", ">", "=", ".",
];

/// Whether the tokens so far end in `kprobe:` or `kretprobe:` (a probe name follows).
fn after_probe_type(out: &[Token]) -> bool {
    match out {
        [.., Token { tok: Tok::Ident(t), .. }, Token { tok: Tok::Punct(":"), .. }] => {
            matches!(t.as_str(), "kprobe" | "kretprobe" | "k" | "kr")
        }
        _ => false,
    }
}

/// Splits `src` into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if src[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if src[i..].starts_with("/*") {
            let end = src[i + 2..].find("*/").ok_or_else(|| Error::at(Span::new(i, i + 2), "unterminated comment"))?;
            i += end + 4;
            continue;
        }
        let start = i;
        let tok = if c == b'$' || c == b'@' {
            i += 1;
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            let name = src[start + 1..i].to_string();
            if c == b'$' {
                if name.is_empty() {
                    return Err(Error::at(Span::new(start, i), "syntax error, unexpected $"));
                }
                Tok::Var(name)
            } else {
                Tok::Map(name)
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let text = src[start..i].replace('_', "");
            let v = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                u64::from_str_radix(h, 16).ok()
            } else {
                text.parse::<u64>().ok()
            };
            let v = v.ok_or_else(|| Error::at(Span::new(start, i), format!("invalid integer literal: {text}")))?;
            Tok::Int(v as i64)
        } else if ident_char(c) || c == b'*' && after_probe_type(&out) {
            // A probe name may contain `*` wildcards (kprobe:mydrv_*); elsewhere `*` is multiplication.
            let in_probe = after_probe_type(&out);
            while i < b.len() && (ident_char(b[i]) || in_probe && b[i] == b'*') {
                i += 1;
            }
            Tok::Ident(src[start..i].to_string())
        } else if c == b'"' {
            i += 1;
            // Bytes, not chars: a literal may hold any UTF-8 text, copied as it is.
            let mut s: Vec<u8> = Vec::new();
            loop {
                let Some(&d) = b.get(i) else {
                    return Err(Error::at(Span::new(start, i), "unterminated string"));
                };
                i += 1;
                match d {
                    b'"' => break,
                    b'\\' => {
                        let e = b.get(i).copied().unwrap_or(b'\\');
                        i += 1;
                        s.push(match e {
                            b'n' => b'\n',
                            b't' => b'\t',
                            b'r' => b'\r',
                            b'"' => b'"',
                            b'\\' => b'\\',
                            b'0' => 0,
                            _ => {
                                let esc = src.get(i - 1..).and_then(|r| r.chars().next()).unwrap_or('?');
                                return Err(Error::at(Span::new(i - 2, i - 1 + esc.len_utf8()), format!("invalid escape character '\\{esc}'")));
                            }
                        });
                    }
                    _ => s.push(d),
                }
            }
            // The source is UTF-8 and escapes add ASCII, so the bytes are UTF-8.
            Tok::Str(String::from_utf8_lossy(&s).into_owned())
        } else {
            let p = PUNCTS
                .iter()
                .find(|p| src[i..].starts_with(**p))
                .ok_or_else(|| {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    Error::at(Span::new(i, i + ch.len_utf8()), format!("syntax error, unexpected {ch}"))
                })?;
            i += p.len();
            Tok::Punct(p)
        };
        out.push(Token { tok, span: Span::new(start, i) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_only_after_a_colon() {
        let t = lex("kprobe:mydrv_* { @[comm] = count(); $x = 2 * 3; }").unwrap();
        assert_eq!(t[2].tok, Tok::Ident("mydrv_*".into()));
        assert!(t.iter().any(|t| t.tok == Tok::Punct("*")));
        assert!(t.iter().any(|t| t.tok == Tok::Map(String::new())));
    }
}
