//! The fetch-argument grammar of kernel/trace/trace_probe.c: `traceprobe_parse_probe_arg` and its helpers
//! (`parse_probe_vars`, `parse_probe_arg`, `__parse_bitfield_probe_arg`), `traceprobe_parse_event_name`, and the
//! kernel's `kstrto*` number parsing.

use super::*;

/// Where the probe sits, as `traceprobe_parse_probe_arg`'s `TPARG_FL_*` flags say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgContext {
    /// `TPARG_FL_RETURN`.
    pub is_return: bool,
    /// `TPARG_FL_FENTRY`: on a function entry (kprobe at offset 0).
    pub fentry: bool,
}

/// What argument parsing needs from the kernel.
pub struct ParseEnv<'a> {
    /// The profile.
    pub profile: KernelProfile,
    /// The symbol table, for `@SYM`.
    pub kallsyms: &'a Kallsyms,
    /// The arch's register names.
    pub regs: &'a dyn RegsQuery,
}

/// An internal failure: errno plus (offset within the current word, error) to log, if any.
pub(crate) struct ArgFail {
    pub(crate) errno: TraceErrno,
    pub(crate) log: Option<(usize, TpErr)>,
}

pub(super) fn fail(offs: usize, err: TpErr) -> ArgFail {
    ArgFail { errno: Errno::EINVAL, log: Some((offs, err)) }
}

pub(super) fn fail_errno(errno: impl Into<TraceErrno>, offs: usize, err: TpErr) -> ArgFail {
    ArgFail { errno: errno.into(), log: Some((offs, err)) }
}

/// `kstrtoull(s, 0, …)`: an optional `+`, then `0x` hex, `0` octal or decimal; the whole string must be digits.
#[must_use]
pub fn kstrtoul(s: &str) -> Option<u64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `kstrtol(s, 0, …)`: [`kstrtoul`] with an optional leading `-`, range-checked to `long`.
#[must_use]
pub fn kstrtol(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => {
            let v = kstrtoul(rest)?;
            if v > i64::MAX as u64 + 1 {
                None
            } else {
                Some((v as i64).wrapping_neg())
            }
        }
        None => kstrtoul(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// `kstrtoul(s, 10, …)` (decimal only, as `$stackN`/`$argN` use).
pub(super) fn kstrtoul10(s: &str) -> Option<u64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `is_good_name` (kernel/trace/trace.h): a C identifier.
#[must_use]
pub fn is_good_name(name: &str) -> bool {
    let mut b = name.bytes();
    match b.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
        _ => return false,
    }
    b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `traceprobe_parse_event_name(&event, &group, buf, offset)`: splits `[GRP/]EVENT` at `offset` in argv[0].
/// Returns (group, event); [6.12] an empty event after `GRP/` means "generate the name" (`None`).
pub(crate) fn parse_event_name(
    profile: KernelProfile,
    text: &str,
    offset: usize,
) -> Result<(Option<String>, Option<String>), ArgFail> {
    let mut offset = offset;
    let mut event = text;
    let mut group = None;
    // [6.12] `slash = strchr(event, '/'); if (!slash) slash = strchr(event, '.');`: `GRP.EVENT` works too.
    let slash = match profile {
        KernelProfile::V5_10 => text.find('/'),
        KernelProfile::V6_12 => text.find('/').or_else(|| text.find('.')),
    };
    if let Some(slash) = slash {
        if slash == 0 {
            return Err(fail(offset, TpErr::NO_GROUP_NAME));
        }
        if slash + 1 > MAX_EVENT_NAME_LEN {
            return Err(fail(offset, TpErr::GROUP_TOO_LONG));
        }
        let g = &text[..slash];
        if !is_good_name(g) {
            return Err(fail(offset, TpErr::BAD_GROUP_NAME));
        }
        group = Some(g.to_string());
        event = &text[slash + 1..];
        offset += slash + 1;
    }
    let len = event.len();
    // [5.10] `len > MAX_EVENT_NAME_LEN`; [6.12] `len >= MAX_EVENT_NAME_LEN` (memory: the name must fit the buffer
    // with its NUL).
    let too_long = match profile {
        KernelProfile::V5_10 => len > MAX_EVENT_NAME_LEN,
        KernelProfile::V6_12 => len >= MAX_EVENT_NAME_LEN,
    };
    if len == 0 {
        if slash.is_some() && profile == KernelProfile::V6_12 {
            return Ok((group, None));
        }
        return Err(fail(offset, TpErr::NO_EVENT_NAME));
    } else if too_long {
        return Err(fail(offset, TpErr::EVENT_TOO_LONG));
    }
    if !is_good_name(event) {
        return Err(fail(offset, TpErr::BAD_EVENT_NAME));
    }
    Ok((group, Some(event.to_string())))
}

/// The fetch-instruction slots one argument has used, to reproduce `TOO_MANY_OPS`.
pub(super) struct Slots {
    code: usize,
}

impl Slots {
    /// `if (++code == end)`.
    fn bump(&mut self, offs: usize) -> Result<(), ArgFail> {
        self.code += 1;
        if self.code == FETCH_INSN_MAX - 1 {
            return Err(fail(offs, TpErr::TOO_MANY_OPS));
        }
        Ok(())
    }
}

/// `parse_probe_vars` (trace_probe.c): `$retval`, `$stack`, `$stackN`, `$comm`, `$argN`. `arg` is the text after
/// `$`; `offs` points at the `$`.
pub(super) fn parse_probe_vars(env: &ParseEnv<'_>, arg: &str, ctx: ArgContext, offs: usize) -> Result<FetchOp, ArgFail> {
    let max_stack = (env.regs.thread_size() / 8) as u64;
    if arg == "retval" || (env.profile == KernelProfile::V6_12 && arg.starts_with("retval")) {
        // [6.12] `str_has_prefix(arg, "retval")` (the BTF form `$retval->field` shares the prefix); without
        // CONFIG_PROBE_EVENTS_BTF_ARGS anything but plain `$retval` is treated as plain.
        if !ctx.is_return {
            return Err(fail(offs, TpErr::RETVAL_ON_PROBE));
        }
        return Ok(FetchOp::Retval(env.regs.regs_return_value_offset()));
    }
    if let Some(rest) = arg.strip_prefix("stack") {
        if rest.is_empty() {
            return Ok(FetchOp::StackPointer);
        }
        if rest.as_bytes()[0].is_ascii_digit() {
            let n = kstrtoul10(rest).ok_or_else(|| fail(offs, TpErr::BAD_VAR))?;
            if n > max_stack {
                return Err(fail(offs, TpErr::BAD_STACK_NUM));
            }
            return Ok(FetchOp::Stack(n as u32));
        }
        return Err(fail(offs, TpErr::BAD_VAR));
    }
    if arg == "comm" || (env.profile == KernelProfile::V6_12 && arg == "COMM") {
        return Ok(FetchOp::Comm);
    }
    if let Some(rest) = arg.strip_prefix("arg") {
        match env.profile {
            KernelProfile::V5_10 => {
                // 5.10: only `(flags & TPARG_FL_MASK) == (KERNEL | FENTRY)` reaches the `$argN` branch; anything
                // else falls through to BAD_VAR.
                if ctx.fentry && !ctx.is_return {
                    let n = kstrtoul10(rest).ok_or_else(|| fail(offs, TpErr::BAD_VAR))?;
                    if n == 0 || n > max_stack {
                        return Err(fail(offs, TpErr::BAD_ARG_NUM));
                    }
                    let index = (n - 1) as u32;
                    return Ok(FetchOp::Arg { index, loc: env.regs.regs_get_kernel_argument_offset(index) });
                }
            }
            KernelProfile::V6_12 => {
                // [6.12] (memory, v6.10 "Support $argN in return probe"): the number is checked first, then the
                // place: entry → FETCH_OP_ARG, return → FETCH_OP_EDATA, elsewhere NOFENTRY_ARGS.
                let n = kstrtoul10(rest).ok_or_else(|| fail(offs, TpErr::BAD_VAR))?;
                if n == 0 || n > max_stack {
                    return Err(fail(offs, TpErr::BAD_ARG_NUM));
                }
                let index = (n - 1) as u32;
                let loc = env.regs.regs_get_kernel_argument_offset(index);
                if ctx.fentry && !ctx.is_return {
                    return Ok(FetchOp::Arg { index, loc });
                } else if ctx.is_return {
                    return Ok(FetchOp::EntryArg { index, loc });
                }
                return Err(fail(offs, TpErr::NOFENTRY_ARGS));
            }
        }
    }
    Err(fail(offs, TpErr::BAD_VAR))
}

/// `str_to_immediate`.
pub(super) fn str_to_immediate(s: &str) -> Option<u64> {
    let first = s.bytes().next()?;
    if first.is_ascii_digit() {
        kstrtoul(s)
    } else if first == b'-' {
        kstrtol(s).map(|v| v as u64)
    } else if first == b'+' {
        kstrtol(&s[1..]).map(|v| v as u64)
    } else {
        None
    }
}

/// `parse_probe_arg` (trace_probe.c): the recursive fetch-argument parser. `offs` is the byte offset of `arg` in
/// the current argv word, for the caret.
pub(super) fn parse_probe_arg(
    env: &ParseEnv<'_>,
    arg: &str,
    ctx: ArgContext,
    slots: &mut Slots,
    offs: usize,
) -> Result<FetchOp, ArgFail> {
    let b = arg.as_bytes();
    let op = match b.first() {
        Some(b'$') => parse_probe_vars(env, &arg[1..], ctx, offs)?,
        Some(b'%') => match env.regs.regs_query_register_offset(&arg[1..]) {
            Some(offset) => FetchOp::Reg { name: arg[1..].to_string(), offset },
            None => return Err(fail(offs, TpErr::BAD_REG_NAME)),
        },
        Some(b'@') => {
            let base = if b.get(1).is_some_and(u8::is_ascii_digit) {
                let addr = kstrtoul(&arg[1..]).ok_or_else(|| fail(offs, TpErr::BAD_MEM_ADDR))?;
                FetchOp::Imm(addr)
            } else if b.get(1) == Some(&b'+') {
                // kprobes don't support file offsets.
                return Err(fail(offs, TpErr::FILE_ON_KPROBE));
            } else {
                // `FETCH_NOP_SYMBOL` then `FETCH_OP_IMM`: two slots.
                slots.bump(offs)?;
                let text = &arg[1..];
                let (sym, offset) = match text.find(['+', '-']) {
                    Some(i) => (&text[..i], kstrtol(&text[i..])),
                    None => (text, Some(0)),
                };
                // `traceprobe_update_arg` at registration: a bad offset is -EINVAL, an unknown symbol -ENOENT,
                // neither logged.
                let offset = offset.ok_or(ArgFail { errno: Errno::EINVAL, log: None })?;
                let s = env.kallsyms.lookup_name(sym).ok_or(ArgFail { errno: Errno::ENOENT, log: None })?;
                FetchOp::SymbolAddr { sym: sym.to_string(), offset, addr: KernelVa(s.addr.0.wrapping_add(offset as u64)) }
            };
            slots.bump(offs)?;
            FetchOp::Deref { offset: 0, user: false, base: Box::new(base) }
        }
        Some(b'+' | b'-') => {
            let sign = b[0];
            let mut user = false;
            // `arg[1] = arg[0]; arg++` for `u`, then skip a `+`: `rest` is what kstrtol sees.
            let mut rest: String = String::new();
            if b.get(1) == Some(&b'u') {
                user = true;
                rest.push(sign as char);
                rest.push_str(&arg[2..]);
            } else {
                rest.push_str(arg);
            }
            if rest.starts_with('+') {
                rest.remove(0);
            }
            let Some(paren) = rest.find('(') else {
                return Err(fail(offs, TpErr::DEREF_NEED_BRACE));
            };
            let offset = kstrtol(&rest[..paren]).ok_or_else(|| fail(offs, TpErr::BAD_DEREF_OFFS))?;
            // `offs += (tmp + 1 - arg) + (arg[0] != '-' ? 1 : 0)`, with `arg` already advanced (the kernel's
            // caret is one column short after a `u`).
            let offs = offs + paren + 1 + usize::from(!rest.starts_with('-'));
            let inner_all = &rest[paren + 1..];
            let Some(close) = inner_all.rfind(')') else {
                return Err(fail(offs + inner_all.len(), TpErr::DEREF_OPEN_BRACE));
            };
            let inner = parse_probe_arg(env, &inner_all[..close], ctx, slots, offs)?;
            if matches!(inner, FetchOp::Comm | FetchOp::ImmString(_)) {
                return Err(fail(offs, TpErr::COMM_CANT_DEREF));
            }
            slots.bump(offs)?;
            FetchOp::Deref { offset, user, base: Box::new(inner) }
        }
        Some(b'\\') => {
            if b.get(1) == Some(&b'"') {
                // `__parse_imm_string(arg + 2, …, offs + 2)`.
                let s = &arg[2..];
                if !s.ends_with('"') || s.is_empty() {
                    return Err(fail(offs + 2 + s.len(), TpErr::IMMSTR_NO_CLOSE));
                }
                FetchOp::ImmString(s[..s.len() - 1].to_string())
            } else {
                FetchOp::Imm(str_to_immediate(&arg[1..]).ok_or_else(|| fail(offs + 1, TpErr::BAD_IMM))?)
            }
        }
        Some(c) if env.profile == KernelProfile::V6_12 && (c.is_ascii_alphabetic() || *c == b'_') => {
            // [6.12] a bare identifier is a BTF argument; the model has no BTF (memory: parse_btf_arg without a
            // BTF context logs NOSUP_BTFARG and returns -EOPNOTSUPP).
            return Err(fail_errno(Errno::EOPNOTSUPP, offs, TpErr::NOSUP_BTFARG));
        }
        _ => return Err(fail(offs, TpErr::BAD_FETCH_ARG)),
    };
    Ok(op)
}

/// `find_fetch_type(type)`: `None` when the name is unknown. A bitfield `b<w>@<o>/<c>` maps to the unsigned type
/// of its container.
pub(super) fn find_fetch_type(profile: KernelProfile, t: Option<&str>) -> Option<BaseType> {
    let t = t.unwrap_or("x64"); // DEFAULT_FETCH_TYPE: x<BITS_PER_LONG>
    if let Some(rest) = t.strip_prefix('b') {
        let bs = kstrtoul(&rest[rest.find('/')? + 1..])?;
        return match bs {
            8 => Some(BaseType::U8),
            16 => Some(BaseType::U16),
            32 => Some(BaseType::U32),
            64 => Some(BaseType::U64),
            _ => None,
        };
    }
    BaseType::by_name(t, profile)
}

/// `simple_strtoul(s, &tail, 0)`: the longest numeric prefix (0 if none) and the rest.
pub(super) fn simple_strtoul(s: &str) -> (u64, &str) {
    let (digits_start, radix) = if s.starts_with("0x") || s.starts_with("0X") {
        (2, 16)
    } else if s.starts_with('0') {
        (0, 8)
    } else {
        (0, 10)
    };
    let body = &s[digits_start..];
    let n = body.bytes().take_while(|c| (*c as char).is_digit(radix)).count();
    if n == 0 && digits_start == 2 {
        // "0x" without digits: simple_strtoul parses the "0".
        return (0, &s[1..]);
    }
    let v = u64::from_str_radix(&body[..n], radix).unwrap_or(if n == 0 { 0 } else { u64::MAX });
    (v, &body[n..])
}

/// `__parse_bitfield_probe_arg`: `b<width>@<offset>/<container>`.
pub(super) fn parse_bitfield(t: &str, base: BaseType) -> Option<Bitfield> {
    let rest = t.strip_prefix('b')?;
    let (bw, tail) = simple_strtoul(rest);
    if bw == 0 || !tail.starts_with('@') {
        return None;
    }
    let bf = &tail[1..];
    let (bo, tail) = simple_strtoul(bf);
    if tail.len() == bf.len() || !tail.starts_with('/') {
        return None;
    }
    let bits = base.size() as u64 * 8;
    if bits < bw + bo {
        return None;
    }
    Some(Bitfield { width: bw as u32, offset: bo as u32, container: bits as u32 })
}

/// `traceprobe_parse_probe_arg_body`: `FETCHARG[:TYPE[[N]]]` at `offset` in the argv word; `size` is the record
/// size so far (the argument's offset).
pub(super) fn parse_probe_arg_body(
    env: &ParseEnv<'_>,
    arg: &str,
    size: usize,
    name: String,
    ctx: ArgContext,
    offset: usize,
) -> Result<FetchArg, ArgFail> {
    let p = env.profile;
    let len = arg.len();
    if len > MAX_ARGSTR_LEN {
        return Err(fail(offset, TpErr::ARG_TOO_LONG));
    } else if len == 0 {
        return Err(fail(offset, TpErr::NO_ARG_BODY));
    }
    let comm = arg.to_string();
    // Split `BODY:TYPE[N]`.
    let (body, t, count) = match arg.find(':') {
        None => (arg, None, None),
        Some(colon) => {
            let t_start = colon + 1;
            let tstr = &arg[t_start..];
            match tstr.find('[') {
                None => (&arg[..colon], Some((tstr, t_start)), None),
                Some(lb) => {
                    let t2_start = t_start + lb + 1;
                    let t2 = &arg[t2_start..];
                    let Some(rb) = t2.find(']') else {
                        return Err(fail(offset + t2_start + t2.len(), TpErr::ARRAY_NO_CLOSE));
                    };
                    if rb + 1 != t2.len() {
                        return Err(fail(offset + t2_start + rb + 1, TpErr::BAD_ARRAY_SUFFIX));
                    }
                    let n = kstrtoul(&t2[..rb]).filter(|&n| n != 0 && n <= u64::from(u32::MAX));
                    let Some(n) = n else {
                        return Err(fail(offset + t2_start, TpErr::BAD_ARRAY_NUM));
                    };
                    if n > u64::from(MAX_ARRAY_LEN) {
                        return Err(fail(offset + t2_start, TpErr::ARRAY_TOO_BIG));
                    }
                    (&arg[..colon], Some((&tstr[..lb], t_start)), Some(n as u32))
                }
            }
        }
    };
    let t_off = offset + t.map_or(0, |(_, o)| o);
    let is_comm = body == "$comm" || (p == KernelProfile::V6_12 && body == "$COMM") || body.starts_with("\\\"");
    let base = if is_comm {
        // The type of $comm (and of an immediate string) must be "string", and not an array.
        if count.is_some() || t.is_some_and(|(t, _)| t != "string") {
            return Err(match p {
                KernelProfile::V5_10 => ArgFail { errno: Errno::EINVAL, log: None },
                KernelProfile::V6_12 => fail(t_off, TpErr::NEED_STRING_TYPE),
            });
        }
        BaseType::String
    } else {
        find_fetch_type(p, t.map(|(t, _)| t)).ok_or_else(|| fail(t_off, TpErr::BAD_TYPE))?
    };

    let mut slots = Slots { code: 0 };
    let fetch = parse_probe_arg(env, body, ctx, &mut slots, offset)?;

    // Store operation.
    if base.is_string() {
        if base == BaseType::Symstr {
            let ok = matches!(
                fetch,
                FetchOp::Reg { .. }
                    | FetchOp::Stack(_)
                    | FetchOp::Retval(_)
                    | FetchOp::Arg { .. }
                    | FetchOp::EntryArg { .. }
                    | FetchOp::Deref { user: false, .. }
            );
            if !ok {
                return Err(fail(t_off, TpErr::BAD_SYMSTRING));
            }
        } else {
            let ok = matches!(fetch, FetchOp::Deref { .. } | FetchOp::Imm(_) | FetchOp::Comm | FetchOp::ImmString(_));
            if !ok {
                return Err(fail(t_off, TpErr::BAD_STRING));
            }
        }
        if !fetch.is_deref() || count.is_some() {
            slots.bump(offset).map_err(|_| fail(offset, TpErr::TOO_MANY_OPS))?;
        }
    } else if !fetch.is_deref() {
        slots.bump(offset)?;
    }
    let scode_is_mem = fetch.is_deref() || base.is_string();
    // Modify operation.
    let mut bitfield = None;
    if let Some((tname, _)) = t {
        if tname.starts_with('b') {
            let bf = parse_bitfield(tname, base);
            if bf.is_none() || slots.code + 1 >= FETCH_INSN_MAX - 1 {
                return Err(fail(t_off, TpErr::BAD_BITFIELD));
            }
            slots.code += 1;
            bitfield = bf;
        }
    }
    // Loop (array) operation.
    if count.is_some() {
        // `scode` must be ST_MEM, ST_STRING or ST_USTRING (not ST_RAW, not ST_SYMSTR).
        if !scode_is_mem || base == BaseType::Symstr {
            return Err(fail(t_off, TpErr::BAD_STRING));
        }
        slots.bump(offset)?;
    }
    Ok(FetchArg { name, comm, fetch, ty: FetchType { base, bitfield, array: count }, offset: size })
}

/// `traceprobe_parse_probe_arg(tp, i, arg, flags)`: `[NAME=]FETCHARG[:TYPE]`, argument `i` (0-based), given the
/// arguments parsed so far. Errors are relative to the argument's argv word.
pub(crate) fn parse_probe_arg_word(
    env: &ParseEnv<'_>,
    args: &[FetchArg],
    i: usize,
    word: &str,
    ctx: ArgContext,
) -> Result<FetchArg, ArgFail> {
    let size: usize = args.iter().map(|a| a.ty.record_size()).sum();
    let (name, body, body_off) = match word.find('=') {
        Some(eq) => {
            if eq > MAX_ARG_NAME_LEN {
                return Err(fail(0, TpErr::ARG_NAME_TOO_LONG));
            } else if eq == 0 {
                return Err(fail(0, TpErr::NO_ARG_NAME));
            }
            (word[..eq].to_string(), &word[eq + 1..], eq + 1)
        }
        None => (format!("arg{}", i + 1), word, 0),
    };
    if !is_good_name(&name) {
        return Err(fail(0, TpErr::BAD_ARG_NAME));
    }
    const RESERVED: [&str; 8] = [
        "common_type",
        "common_flags",
        "common_preempt_count",
        "common_pid",
        "common_tgid",
        "__probe_ip",
        "__probe_ret_ip",
        "__probe_func",
    ];
    if RESERVED.contains(&name.as_str()) || args.iter().any(|a| a.name == name) {
        return Err(fail(0, TpErr::USED_ARG_NAME));
    }
    parse_probe_arg_body(env, body, size, name, ctx, body_off)
}
