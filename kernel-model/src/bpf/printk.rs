//! `bpf_trace_printk` (helper 6): the format checks and the formatting, per kernel version.
//!
//! - **5.10** (kernel/trace/bpf_trace.c `bpf_trace_printk`): the last byte of the `fmt_size` bytes must be NUL and
//!   every byte before it printable or space; at most three conversions, each `%d %i %u %x`, with one or two `l`s,
//!   or `%p`, `%pB`, `%pks`, `%pus`, `%s` (one string at most, copied into a 64-byte buffer); no flags, no width,
//!   not even `%%`. Then `vsnprintf` into a 1024-byte buffer.
//! - **6.12** (kernel/bpf/helpers.c `bpf_bprintf_prepare`, then `bstr_printf`): the format ends at the first NUL
//!   within `fmt_size`; `%%` is a literal; optional `[0 +-]` flags and a width; `%d %i %u %x %X` with `l`/`ll`,
//!   `%c`, `%s`, `%pks`/`%pus`, `%p`, `%pK`, `%px`, `%ps`, `%pS`, `%pB`, `%pI4`/`%pi4`/`%pI6`/`%pi6`; at most three
//!   arguments (`MAX_TRACE_PRINTK_VARARGS`); strings are copied into what is left of the 512-byte `bin_args` buffer.
//!
//! Anything else is `-EINVAL`, as in the kernel. The helper returns the formatted length.
//!
//! `%p` and `%pK` print the raw pointer as 16 hex digits, which is what the kernel prints with the
//! `no_hash_pointers` boot option; without it the kernel prints a per-boot siphash of the pointer, which no
//! deterministic simulation can reproduce.

use crate::profile::KernelProfile;

/// `MAX_BPRINTF_BUF` / `BPF_TRACE_PRINTK_SIZE`: the output buffer, NUL included.
pub const PRINTK_BUF: usize = 1024;
/// `MAX_BPRINTF_BIN_ARGS`.
const BIN_ARGS: usize = 512;
/// 5.10's `%s` buffer.
const STR_BUF_510: usize = 64;

/// Where a `%s`-family string is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrSource {
    /// `%s`: user memory below `TASK_SIZE`, kernel memory above (`CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE`).
    Compat,
    /// `%pks`.
    Kernel,
    /// `%pus`.
    User,
}

/// What formatting needs from the machine.
pub trait PrintkEnv {
    /// `strncpy_from_{kernel,user}_nofault` into `max` bytes: the bytes before the NUL (at most `max - 1`), or
    /// `None` if the read faulted.
    fn read_str(&mut self, src: StrSource, addr: u64, max: usize) -> Option<Vec<u8>>;
    /// `copy_from_kernel_nofault` of `len` bytes (for `%pI4`/`%pI6`).
    fn read_kernel(&mut self, addr: u64, len: usize) -> Option<Vec<u8>>;
    /// `%pS` (`with_offset`: `sym+0xoff/0xsize`) or `%ps` (`sym`), or the bare hex address.
    fn symbol(&self, addr: u64, with_offset: bool) -> String;
}

#[derive(Clone, Copy, Debug, Default)]
struct Flags {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: usize,
}

fn pad(out: &mut Vec<u8>, body: &[u8], f: Flags, numeric: bool) {
    let fill = f.width.saturating_sub(body.len());
    if f.left {
        out.extend_from_slice(body);
        out.resize(out.len() + fill, b' ');
    } else if f.zero && numeric {
        // Zeros go after a sign.
        let (sign, digits) = match body.first() {
            Some(b'-' | b'+' | b' ') => body.split_at(1),
            _ => (&body[..0], body),
        };
        out.extend_from_slice(sign);
        out.resize(out.len() + fill, b'0');
        out.extend_from_slice(digits);
    } else {
        out.resize(out.len() + fill, b' ');
        out.extend_from_slice(body);
    }
}

fn int(out: &mut Vec<u8>, conv: u8, size: usize, v: u64, f: Flags) {
    let body = match conv {
        b'd' | b'i' => {
            let s = if size == 4 { i64::from(v as u32 as i32) } else { v as i64 };
            let sign = if s < 0 {
                "-"
            } else if f.plus {
                "+"
            } else if f.space {
                " "
            } else {
                ""
            };
            format!("{sign}{}", s.unsigned_abs())
        }
        b'u' => format!("{}", if size == 4 { u64::from(v as u32) } else { v }),
        b'x' => format!("{:x}", if size == 4 { u64::from(v as u32) } else { v }),
        _ => format!("{:X}", if size == 4 { u64::from(v as u32) } else { v }),
    };
    pad(out, body.as_bytes(), f, true);
}

/// `isspace` of the kernel's ctype: space, `\t`, `\n`, `\v`, `\f`, `\r`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `(isprint(c) || isspace(c)) && isascii(c)`: what a format may contain.
fn printable(c: u8) -> bool {
    (0x20..=0x7e).contains(&c) || is_space(c)
}

/// `fmt[i]` ends a `%p`/`%s` conversion: NUL, `isspace` or `ispunct`.
fn ends_conv(c: u8) -> bool {
    c == 0 || is_space(c) || c.is_ascii_punctuation()
}

fn ip4(b: &[u8], leading_zeros: bool) -> String {
    let parts: Vec<String> = b.iter().map(|x| if leading_zeros { format!("{x:03}") } else { x.to_string() }).collect();
    parts.join(".")
}

fn ip6(b: &[u8], compact: bool) -> String {
    if compact {
        // %pI6: colon-separated 16-bit words (the kernel's %pI6 without 'c' prints all eight words, no shortening).
        b.chunks(2).map(|w| format!("{:02x}{:02x}", w[0], w[1])).collect::<Vec<_>>().join(":")
    } else {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}

/// Formats as `bpf_trace_printk` does on `profile`. `fmt` is the `fmt_size` bytes the program passed. Returns the
/// message (at most 1023 bytes) and the helper's return value, or the errno (positive) for `-errno`.
pub fn trace_printk(
    profile: KernelProfile,
    fmt: &[u8],
    args: [u64; 3],
    env: &mut dyn PrintkEnv,
) -> Result<(Vec<u8>, i64), i64> {
    const EINVAL: i64 = 22;
    let fmt: &[u8] = match profile {
        KernelProfile::V5_10 => match fmt.split_last() {
            Some((0, body)) => body,
            _ => return Err(EINVAL),
        },
        KernelProfile::V6_12 => match fmt.iter().position(|&c| c == 0) {
            Some(n) => &fmt[..n],
            None => return Err(EINVAL),
        },
    };
    let v510 = profile == KernelProfile::V5_10;
    // fmt[i] for i past the end reads the terminating NUL.
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    let mut out: Vec<u8> = Vec::new();
    let mut num_spec = 0usize;
    let mut bin_used = 0usize;
    let mut str_seen = false;
    let mut i = 0usize;
    while i < fmt.len() {
        let c = fmt[i];
        if !printable(c) {
            return Err(EINVAL);
        }
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        if !v510 && at(i + 1) == b'%' {
            out.push(b'%');
            i += 2;
            continue;
        }
        if num_spec >= 3 {
            return Err(EINVAL);
        }
        let arg = args[num_spec];
        i += 1;
        let mut f = Flags::default();
        if !v510 {
            while matches!(at(i), b'0' | b'+' | b'-' | b' ') {
                match at(i) {
                    b'0' => f.zero = true,
                    b'+' => f.plus = true,
                    b'-' => f.left = true,
                    _ => f.space = true,
                }
                i += 1;
            }
            if (b'1'..=b'9').contains(&at(i)) {
                while at(i).is_ascii_digit() {
                    f.width = f.width * 10 + usize::from(at(i) - b'0');
                    i += 1;
                }
            }
        }
        // The string conversions.
        let string_src = if at(i) == b's' {
            Some((StrSource::Compat, 1))
        } else if at(i) == b'p' && matches!(at(i + 1), b'k' | b'u') && at(i + 2) == b's' {
            Some((if at(i + 1) == b'k' { StrSource::Kernel } else { StrSource::User }, 3))
        } else {
            None
        };
        if let Some((src, len)) = string_src {
            i += len - 1;
            if v510 {
                if str_seen {
                    return Err(EINVAL);
                }
                str_seen = true;
            }
            if !ends_conv(at(i + 1)) {
                return Err(EINVAL);
            }
            let max = if v510 { STR_BUF_510 } else { BIN_ARGS - bin_used };
            let s = if max == 0 { return Err(28) } else { env.read_str(src, arg, max).unwrap_or_default() };
            bin_used += s.len() + 1;
            pad(&mut out, &s, f, false);
            num_spec += 1;
            i += 1;
            continue;
        }
        if at(i) == b'p' {
            let next = at(i + 1);
            if ends_conv(next) {
                // %p
                out.extend_from_slice(format!("{arg:016x}").as_bytes());
            } else if next == b'B' {
                let s = env.symbol(arg, true);
                bin_used += s.len() + 1;
                out.extend_from_slice(s.as_bytes());
                i += 1;
            } else if !v510 && matches!(next, b'K' | b'x') {
                out.extend_from_slice(format!("{arg:016x}").as_bytes());
                i += 1;
            } else if !v510 && matches!(next, b's' | b'S') {
                out.extend_from_slice(env.symbol(arg, next == b'S').as_bytes());
                i += 1;
            } else if !v510 && matches!(next, b'i' | b'I') && matches!(at(i + 2), b'4' | b'6') {
                let n = if at(i + 2) == b'4' { 4 } else { 16 };
                let b = env.read_kernel(arg, n).unwrap_or_else(|| vec![0; n]);
                let s = if n == 4 { ip4(&b, next == b'i') } else { ip6(&b, next == b'I') };
                bin_used += s.len() + 1;
                out.extend_from_slice(s.as_bytes());
                i += 2;
            } else {
                return Err(EINVAL);
            }
            bin_used = (bin_used + 3) & !3;
            bin_used += 8;
            num_spec += 1;
            i += 1;
            continue;
        }
        if !v510 && at(i) == b'c' {
            pad(&mut out, &[arg as u8], f, false);
            bin_used += 1;
            num_spec += 1;
            i += 1;
            continue;
        }
        let mut size = 4;
        if at(i) == b'l' {
            size = 8;
            i += 1;
        }
        if at(i) == b'l' {
            size = 8;
            i += 1;
        }
        let conv = at(i);
        let ok = matches!(conv, b'i' | b'd' | b'u' | b'x') || (!v510 && conv == b'X');
        if !ok {
            return Err(EINVAL);
        }
        bin_used = (bin_used + 3) & !3;
        bin_used += size;
        int(&mut out, conv, size, arg, f);
        num_spec += 1;
        i += 1;
    }
    let ret = out.len() as i64;
    out.truncate(PRINTK_BUF - 1);
    Ok((out, ret))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Env;
    impl PrintkEnv for Env {
        fn read_str(&mut self, _src: StrSource, addr: u64, max: usize) -> Option<Vec<u8>> {
            (addr == 0x1000).then(|| b"hello"[..5.min(max - 1)].to_vec())
        }
        fn read_kernel(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
            (addr == 0x2000).then(|| (1..=len as u8).collect())
        }
        fn symbol(&self, addr: u64, with_offset: bool) -> String {
            if with_offset {
                format!("sym+{addr:#x}/0x10")
            } else {
                "sym".into()
            }
        }
    }

    fn p(profile: KernelProfile, fmt: &str, args: [u64; 3]) -> Result<String, i64> {
        let mut f = fmt.as_bytes().to_vec();
        f.push(0);
        trace_printk(profile, &f, args, &mut Env).map(|(s, n)| {
            assert_eq!(n as usize, s.len());
            String::from_utf8(s).unwrap()
        })
    }

    #[test]
    fn formats_like_the_kernel() {
        use KernelProfile::{V5_10, V6_12};
        for pr in [V5_10, V6_12] {
            assert_eq!(p(pr, "Here is YourLand!\n", [0; 3]).unwrap(), "Here is YourLand!\n");
            assert_eq!(p(pr, "%d %u %x", [u64::MAX, 0xffff_fffe, 255]).unwrap(), "-1 4294967294 ff");
            assert_eq!(p(pr, "%ld %llx %lu", [u64::MAX, 0x1_0000_0000, 7]).unwrap(), "-1 100000000 7");
            assert_eq!(p(pr, "s=%s.", [0x1000, 0, 0]).unwrap(), "s=hello.");
            assert_eq!(p(pr, "%s|", [0x9999, 0, 0]).unwrap(), "|", "a faulting string prints empty");
            assert_eq!(p(pr, "%p", [0xffff_0000_1234, 0, 0]).unwrap(), "0000ffff00001234");
            assert_eq!(p(pr, "%pks", [0x1000, 0, 0]).unwrap(), "hello");
            assert_eq!(p(pr, "%d %d %d %d", [1, 2, 3]), Err(22), "four conversions");
            assert_eq!(p(pr, "%q", [0; 3]), Err(22));
            assert_eq!(p(pr, "%hd", [0; 3]), Err(22));
            assert_eq!(p(pr, "%sx", [0x1000, 0, 0]), Err(22), "%s followed by a letter");
            assert_eq!(p(pr, "%pZ", [0; 3]), Err(22));
            assert_eq!(p(pr, "caf\u{e9}", [0; 3]), Err(22), "non-ASCII");
        }
        // 5.10 only: no %%, no width, no %X, one string.
        assert_eq!(p(V5_10, "100%%", [0; 3]), Err(22));
        assert_eq!(p(V5_10, "%5d", [1, 0, 0]), Err(22));
        assert_eq!(p(V5_10, "%X", [1, 0, 0]), Err(22));
        assert_eq!(p(V5_10, "%s %s", [0x1000, 0x1000, 0]), Err(22));
        assert_eq!(p(V5_10, "%pS", [0; 3]), Err(22));
        // 6.12.
        assert_eq!(p(V6_12, "100%%", [0; 3]).unwrap(), "100%");
        assert_eq!(p(V6_12, "[%5d|%-4x|%03u|%+d]", [42, 10, 7]).unwrap_err(), 22, "four specs");
        assert_eq!(p(V6_12, "[%5d|%-4x|%03u]", [42, 10, 7]).unwrap(), "[   42|a   |007]");
        assert_eq!(p(V6_12, "%-6s|%c|%X", [0x1000, 0x41, 0xab]).unwrap(), "hello |A|AB");
        assert_eq!(p(V6_12, "%s %s", [0x1000, 0x1000, 0]).unwrap(), "hello hello");
        assert_eq!(p(V6_12, "%pS %ps", [0x40, 0x40, 0]).unwrap(), "sym+0x40/0x10 sym");
        assert_eq!(p(V6_12, "%pI4 %pi4", [0x2000, 0x2000, 0]).unwrap(), "1.2.3.4 001.002.003.004");
        assert_eq!(p(V6_12, "%08x", [0xabc, 0, 0]).unwrap(), "00000abc");
        assert_eq!(p(V6_12, "%05d", [(-12i64) as u64, 0, 0]).unwrap(), "-0012");
        // The format must be NUL-terminated within fmt_size.
        assert_eq!(trace_printk(V6_12, b"abc", [0; 3], &mut Env), Err(22));
        assert_eq!(trace_printk(V5_10, b"ab\0c\0", [0; 3], &mut Env), Err(22), "5.10 checks every byte");
        assert_eq!(trace_printk(V6_12, b"ab\0c\0", [0; 3], &mut Env).unwrap().0, b"ab");
    }
}
