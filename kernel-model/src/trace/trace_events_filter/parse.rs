//! The filter parser of `kernel/trace/trace_events_filter.c`: `calc_stack`, `filter_parse_regex`, `parse_pred`,
//! `predicate_parse`.

use super::*;

/// `calc_stack`: (parens, preds) or (error code -1/-2/-3, position).
pub(super) fn calc_stack(s: &[u8]) -> Result<(usize, usize), (i32, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut is_pred = false;
    let mut nr_preds = 0;
    let mut open = 1i32;
    let mut last_quote = 0;
    let mut max_open = 1;
    let mut quote = 0u8;
    let mut i = 0;
    while at(i) != 0 {
        let c = at(i);
        if isspace(c) {
            i += 1;
            continue;
        }
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' => {
                quote = c;
                last_quote = i;
            }
            b'|' | b'&' if at(i + 1) == c => {
                is_pred = false;
                i += 1;
                continue;
            }
            b'(' => {
                is_pred = false;
                open += 1;
                max_open = max_open.max(open);
                i += 1;
                continue;
            }
            b')' => {
                is_pred = false;
                if open == 1 {
                    return Err((-1, i));
                }
                open -= 1;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !is_pred {
            nr_preds += 1;
            is_pred = true;
        }
        i += 1;
    }
    if quote != 0 {
        return Err((-3, last_quote));
    }
    if open != 1 {
        let mut level = open;
        let mut q = 0u8;
        while i > 1 {
            i -= 1;
            let c = at(i);
            if q != 0 {
                if c == q {
                    q = 0;
                }
                continue;
            }
            match c {
                b'(' => {
                    if level == open {
                        return Err((-2, i));
                    }
                    level -= 1;
                }
                b')' => level += 1,
                b'\'' | b'"' => q = c,
                _ => {}
            }
        }
        return Err((-2, 0));
    }
    Ok((max_open as usize, nr_preds))
}

/// `filter_parse_regex`: the match type and search text of a `~` pattern, and whether it started with `!`.
pub(super) fn filter_parse_regex(pattern: &str) -> (MatchType, String, bool) {
    let (not, buff) = match pattern.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let b = buff.as_bytes();
    if b.first().is_some_and(u8::is_ascii_digit) {
        return (MatchType::Full, buff.to_string(), not); // MATCH_INDEX matches in full
    }
    let mut ty = MatchType::Full;
    let mut end = b.len();
    for (i, &c) in b.iter().enumerate() {
        if c == b'*' {
            if i == 0 {
                ty = MatchType::End;
            } else if i == b.len() - 1 {
                ty = if ty == MatchType::End { MatchType::Middle } else { MatchType::Front };
                end = i;
                break;
            } else {
                return (MatchType::Glob, buff.to_string(), not);
            }
        } else if b"[?\\".contains(&c) {
            return (MatchType::Glob, buff.to_string(), not);
        }
    }
    let start = usize::from(b.first() == Some(&b'*'));
    (ty, buff[start.min(end)..end].to_string(), not)
}

/// `parse_pred`: one `FIELD OP VALUE` at byte `at` of `s`; `pos` is `ptr - str` (one past `at`). Returns the bytes
/// consumed.
pub(super) fn parse_pred(
    s: &[u8],
    at: usize,
    pos: usize,
    fields: &[FilterField],
    pe: &mut ParseError,
) -> Result<(usize, Pred), Ret> {
    let str_ = &s[at..];
    let c = |i: usize| str_.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while isspace(c(i)) {
        i += 1;
    }
    let start = i;
    while c(i).is_ascii_alphanumeric() || c(i) == b'_' {
        i += 1;
    }
    if i == start {
        return Err(Ret::Errno(-1));
    }
    let name = std::str::from_utf8(&str_[start..i]).unwrap_or("");
    let Some(field) = fields.iter().position(|f| f.name == name) else {
        *pe = ParseError { lasterr: Some(FiltErr::FIELD_NOT_FOUND), pos: pos + i };
        return Err(Ret::Errno(-22));
    };
    while isspace(c(i)) {
        i += 1;
    }
    let Some(&(op, optext)) = OPS.iter().find(|(_, t)| str_[i.min(str_.len())..].starts_with(t.as_bytes())) else {
        *pe = ParseError { lasterr: Some(FiltErr::INVALID_OP), pos: pos + i };
        return Err(Ret::Errno(-22));
    };
    i += optext.len();
    while isspace(c(i)) {
        i += 1;
    }
    let s0 = i;
    let kind = fields[field].kind;
    let einval = |pe: &mut ParseError, e, p| {
        *pe = ParseError { lasterr: Some(e), pos: p };
        Err(Ret::Errno(-22))
    };
    let mut pred = Pred { field, op, not: false, val: 0, regex: None };
    if c(i) == b'\'' || c(i) == b'"' {
        let q = c(i);
        match op {
            FilterOp::Ne => pred.not = true,
            FilterOp::Glob | FilterOp::Eq => {}
            _ => return einval(pe, FiltErr::ILLEGAL_FIELD_OP, pos + i),
        }
        if !kind.is_string() {
            return einval(pe, FiltErr::EXPECT_DIGIT, pos + i);
        }
        i += 1;
        while c(i) != 0 && c(i) != q {
            i += 1;
        }
        if c(i) == 0 {
            return einval(pe, FiltErr::MISSING_QUOTE, pos + i);
        }
        let len = i - (s0 + 1);
        if len >= MAX_FILTER_STR_VAL {
            return einval(pe, FiltErr::OPERAND_TOO_LONG, pos + i);
        }
        let pattern = String::from_utf8_lossy(&str_[s0 + 1..i]).into_owned();
        // filter_build_regex.
        pred.regex = Some(if op == FilterOp::Glob {
            let (t, search, not) = filter_parse_regex(&pattern);
            pred.not = not;
            (search, t)
        } else {
            (pattern, MatchType::Full)
        });
        i += 1;
    } else if c(i).is_ascii_digit() || c(i) == b'-' {
        if kind.is_string() {
            return einval(pe, FiltErr::EXPECT_STRING, pos + i);
        }
        if op == FilterOp::Glob {
            return einval(pe, FiltErr::ILLEGAL_FIELD_OP, pos + i);
        }
        if c(i) == b'-' {
            i += 1;
        }
        while c(i).is_ascii_alphanumeric() {
            i += 1;
        }
        let len = i - s0;
        if len >= 24 {
            return einval(pe, FiltErr::OPERAND_TOO_LONG, pos + i);
        }
        let num = std::str::from_utf8(&str_[s0..i]).unwrap_or("");
        let signed = matches!(kind, FieldKind::Num { signed: true, .. });
        let v = if signed { kstrtol(num).map(|v| v as u64) } else { kstrtoul(num) };
        let Some(v) = v else {
            return einval(pe, FiltErr::ILLEGAL_INTVAL, pos + s0);
        };
        pred.val = v;
        if op == FilterOp::Ne && kind != FieldKind::Cpu {
            pred.not = true;
        }
    } else {
        return einval(pe, FiltErr::INVALID_VALUE, pos + i);
    }
    Ok((i, pred))
}

/// `update_preds`.
pub(super) fn update_preds(prog: &mut [ProgEntry], n: usize, invert: bool) {
    let t = prog[n].target;
    let s = prog[t].target;
    prog[t].when_to_branch = invert;
    prog[t].target = n;
    prog[n].target = s;
}

pub(super) const INVERT: u32 = 1;
pub(super) const PROCESS_AND: u32 = 2;
pub(super) const PROCESS_OR: u32 = 4;

/// `predicate_parse` (first, second and third pass).
pub(super) fn predicate_parse(
    s: &[u8],
    nr_parens: usize,
    nr_preds: usize,
    fields: &[FilterField],
    pe: &mut ParseError,
) -> Result<Vec<ProgEntry>, Ret> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let nr_preds = nr_preds + 2;
    let mut prog: Vec<ProgEntry> = Vec::new();
    let mut inverts: Vec<bool> = Vec::new();
    let mut stack: Vec<u32> = vec![0];
    let mut invert = false;
    let mut ptr = 0usize;
    // `target` is an int that starts at N-1 (-1 for the first): usize::MAX stands for -1.
    'outer: while at(ptr) != 0 {
        let next = ptr;
        ptr += 1;
        let ch = at(next);
        if isspace(ch) {
            continue;
        }
        match ch {
            b'(' => {
                if stack.len() - 1 > nr_parens {
                    return Err(Ret::Errno(-22));
                }
                stack.push(u32::from(invert));
                continue;
            }
            b'!' if !matches!(at(next + 1), b'=' | b'~') => {
                invert = !invert;
                continue;
            }
            _ => {}
        }
        if prog.len() >= nr_preds {
            *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_PREDS), pos: next };
            return Err(Ret::Errno(-22));
        }
        inverts.push(invert);
        let n = prog.len();
        let (len, pred) = parse_pred(s, next, ptr, fields, pe)?;
        prog.push(ProgEntry { pred: Some(pred), when_to_branch: false, target: n.wrapping_sub(1) });
        ptr = next + len;
        let n = prog.len();
        loop {
            let next = ptr;
            ptr += 1;
            let ch = at(next);
            if isspace(ch) {
                continue;
            }
            match ch {
                b')' | 0 => {}
                b'&' | b'|' if at(next + 1) == ch => ptr += 1,
                _ => {
                    *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_PREDS), pos: next };
                    return Err(Ret::Errno(-1));
                }
            }
            let top = *stack.last().unwrap_or(&0);
            invert = top & INVERT != 0;
            if top & PROCESS_AND != 0 {
                update_preds(&mut prog, n - 1, invert);
                if let Some(t) = stack.last_mut() {
                    *t &= !PROCESS_AND;
                }
            }
            if ch == b'&' {
                if let Some(t) = stack.last_mut() {
                    *t |= PROCESS_AND;
                }
                continue 'outer;
            }
            if stack.last().is_some_and(|t| t & PROCESS_OR != 0) {
                update_preds(&mut prog, n - 1, !invert);
                if let Some(t) = stack.last_mut() {
                    *t &= !PROCESS_OR;
                }
            }
            if ch == b'|' {
                if let Some(t) = stack.last_mut() {
                    *t |= PROCESS_OR;
                }
                continue 'outer;
            }
            if ch == 0 {
                ptr = next + 1;
                break 'outer;
            }
            if stack.len() == 1 {
                *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_CLOSE), pos: ptr };
                return Err(Ret::Errno(-1));
            }
            stack.pop();
        }
    }
    if stack.len() != 1 {
        *pe = ParseError { lasterr: Some(FiltErr::TOO_MANY_OPEN), pos: ptr };
        return Err(Ret::Errno(-1));
    }
    let n = prog.len();
    if n == 0 {
        *pe = ParseError { lasterr: Some(FiltErr::NO_FILTER), pos: ptr };
        return Err(Ret::Errno(-22));
    }
    prog.push(ProgEntry { pred: None, when_to_branch: false, target: 1 }); // TRUE
    prog.push(ProgEntry { pred: None, when_to_branch: false, target: 0 }); // FALSE
    prog[n - 1].target = n;
    prog[n - 1].when_to_branch = false;
    // Second pass.
    let mut i = n - 1;
    while i > 0 {
        i -= 1;
        let t = prog[i].target;
        if prog[i].when_to_branch == prog[t].when_to_branch {
            prog[i].target = prog[t].target;
        }
    }
    // Third pass.
    for (i, e) in prog.iter_mut().take(n).enumerate() {
        e.when_to_branch ^= inverts[i];
        if e.target <= i {
            return Err(Ret::Errno(-22));
        }
    }
    Ok(prog)
}

