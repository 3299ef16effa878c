//! `kernel/trace/trace_probe_tmpl.h` and `trace_kprobe.c`'s `process_fetch_insn`: running a parsed fetch argument
//! against the probed CPU's registers and memory, as `store_trace_args` does when a kprobe event fires.
//!
//! The kernel model supplies a [`FetchContext`] (registers by `pt_regs` offset, `copy_from_kernel_nofault`,
//! `copy_from_user_nofault`, `current->comm`); the result is the typed values an event record carries.

use crate::kallsyms::Kallsyms;
use crate::trace::output::{apply_bitfield, FetchedValue};
use crate::trace::trace_probe::{BaseType, FetchArg, FetchOp};
use crate::trace::ArgLocation;
use crate::KernelVa;

/// `MAX_STRING_SIZE` (`PATH_MAX`): the longest string a fetch stores, with its NUL.
pub const MAX_STRING_SIZE: usize = 4096;

/// What a fetch reads from the probed context.
pub trait FetchContext {
    /// The register at this `pt_regs` byte offset (`regs_get_register`).
    fn reg(&self, offset: usize) -> u64;
    /// `regs_get_kernel_stack_nth(regs, n)`: `None` past the stack (the kernel then returns 0).
    fn stack_nth(&self, n: u32) -> Option<u64>;
    /// `kernel_stack_pointer(regs)`.
    fn stack_pointer(&self) -> u64;
    /// [6.12] `$argN` of a return probe: the value the entry handler saved.
    fn entry_arg(&self, index: u32) -> u64;
    /// `copy_from_kernel_nofault` (`user` false) or `copy_from_user_nofault`: false on a fault.
    fn read(&self, addr: u64, buf: &mut [u8], user: bool) -> bool;
    /// `current->comm`.
    fn comm(&self) -> String;
    /// `TASK_SIZE`: kernel-side reads below it go to user memory (`CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE`,
    /// set on arm64 and x86, in both profiles' `probe_mem_read`/`fetch_store_string`).
    fn task_size(&self) -> u64;
}

/// `probe_mem_read` / `probe_mem_read_user`: a kernel read of a user address becomes a user read.
fn mem_read(ctx: &dyn FetchContext, addr: u64, buf: &mut [u8], user: bool) -> bool {
    ctx.read(addr, buf, user || addr < ctx.task_size())
}

fn read_u64(ctx: &dyn FetchContext, addr: u64, user: bool) -> Option<u64> {
    let mut b = [0u8; 8];
    mem_read(ctx, addr, &mut b, user).then(|| u64::from_le_bytes(b))
}

/// Stages 1 and 2 of `process_fetch_insn`: the value the op yields (`FETCH_OP_DEREF` reads an `unsigned long`).
/// `None` is a fault (`-EFAULT`).
fn load(ctx: &dyn FetchContext, op: &FetchOp) -> Option<u64> {
    Some(match op {
        FetchOp::Reg { offset, .. } | FetchOp::Retval(offset) => ctx.reg(*offset),
        FetchOp::Stack(n) => ctx.stack_nth(*n).unwrap_or(0),
        FetchOp::StackPointer => ctx.stack_pointer(),
        FetchOp::Imm(v) => *v,
        FetchOp::SymbolAddr { addr, .. } => addr.0,
        FetchOp::Arg { loc, .. } => match loc {
            ArgLocation::Reg(o) => ctx.reg(*o),
            ArgLocation::StackNth(n) => ctx.stack_nth(*n).unwrap_or(0),
            ArgLocation::Zero => 0,
        },
        FetchOp::EntryArg { index, .. } => ctx.entry_arg(*index),
        FetchOp::Deref { offset, user, base } => read_u64(ctx, load(ctx, base)?.wrapping_add(*offset as u64), *user)?,
        FetchOp::Comm | FetchOp::ImmString(_) => return None,
    })
}

/// `fetch_store_string`/`fetch_store_string_user`: a NUL-terminated string at `addr`, at most
/// `MAX_STRING_SIZE - 1` bytes; `None` if the first byte faults.
fn read_string(ctx: &dyn FetchContext, addr: u64, user: bool) -> Option<String> {
    let mut out = Vec::new();
    for i in 0..MAX_STRING_SIZE as u64 - 1 {
        let mut b = [0u8; 1];
        if !mem_read(ctx, addr.wrapping_add(i), &mut b, user) {
            if i == 0 {
                return None;
            }
            break;
        }
        if b[0] == 0 {
            break;
        }
        out.push(b[0]);
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn scalar(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

/// One element of a non-string argument (stages 3 and 4): `ST_MEM` at `addr`, or `ST_RAW` of `val`; then the
/// bitfield. A faulting read stores 0 (the model's choice: the kernel leaves the reserved bytes as they were).
fn store_scalar(ctx: &dyn FetchContext, a: &FetchArg, mem: Option<(u64, bool)>, val: Option<u64>) -> FetchedValue {
    let size = a.ty.base.size();
    let v = match mem {
        Some((addr, user)) => {
            let mut b = vec![0u8; size];
            if mem_read(ctx, addr, &mut b, user) {
                scalar(&b)
            } else {
                0
            }
        }
        None => val.map_or(0, |v| if size >= 8 { v } else { v & ((1u64 << (size * 8)) - 1) }),
    };
    FetchedValue::Scalar(match a.ty.bitfield {
        Some(bf) => apply_bitfield(bf, v),
        None => v,
    })
}

/// `store_trace_args` for one argument.
#[must_use]
pub fn fetch_arg(ctx: &dyn FetchContext, kallsyms: &Kallsyms, a: &FetchArg) -> FetchedValue {
    let base = a.ty.base;
    let n = a.ty.array.unwrap_or(1) as u64;
    let element = |i: u64| -> FetchedValue {
        match base {
            BaseType::String | BaseType::Ustring => {
                let user_type = base == BaseType::Ustring;
                FetchedValue::String(match &a.fetch {
                    FetchOp::Comm => Some(ctx.comm()),
                    FetchOp::ImmString(s) => Some(s.clone()),
                    FetchOp::Imm(addr) => read_string(ctx, *addr, user_type),
                    FetchOp::Deref { offset, user, base: b } => {
                        load(ctx, b).map(|v| v.wrapping_add(*offset as u64)).and_then(|lval| {
                            if a.ty.array.is_some() {
                                // An array of string pointers: the deref is kept, each slot is a `char *`.
                                let ptr = read_u64(ctx, lval.wrapping_add(i * 8), *user)?;
                                read_string(ctx, ptr, *user || user_type)
                            } else {
                                read_string(ctx, lval, *user || user_type)
                            }
                        })
                    }
                    _ => None,
                })
            }
            BaseType::Symstr => FetchedValue::String(load(ctx, &a.fetch).map(|v| kallsyms.format(KernelVa(v)))),
            _ => match &a.fetch {
                FetchOp::Deref { offset, user, base: b } => {
                    let size = base.size() as u64;
                    match load(ctx, b) {
                        Some(v) => store_scalar(ctx, a, Some((v.wrapping_add(*offset as u64).wrapping_add(i * size), *user)), None),
                        None => FetchedValue::Scalar(0),
                    }
                }
                op => store_scalar(ctx, a, None, load(ctx, op)),
            },
        }
    };
    if a.ty.array.is_some() {
        FetchedValue::Array((0..n).map(element).collect())
    } else {
        element(0)
    }
}

/// `store_trace_args`: every argument of a probe.
#[must_use]
pub fn store_trace_args(ctx: &dyn FetchContext, kallsyms: &Kallsyms, args: &[FetchArg]) -> Vec<FetchedValue> {
    args.iter().map(|a| fetch_arg(ctx, kallsyms, a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::trace_regs::X86_64TraceRegs;
    use crate::kallsyms::{Symbol, SymbolKind};
    use crate::profile::KernelProfile;
    use crate::trace::trace_kprobe::{parse_command, Command, ProbeDefinition};
    use crate::trace::trace_probe::ParseEnv;
    use crate::trace::RegsQuery;
    use std::collections::BTreeMap;

    struct Ctx {
        regs: BTreeMap<usize, u64>,
        mem: BTreeMap<u64, u8>,
        user: BTreeMap<u64, u8>,
    }

    impl Ctx {
        fn put(&mut self, addr: u64, bytes: &[u8], user: bool) {
            for (i, b) in bytes.iter().enumerate() {
                let m = if user { &mut self.user } else { &mut self.mem };
                m.insert(addr + i as u64, *b);
            }
        }
    }

    impl FetchContext for Ctx {
        fn reg(&self, offset: usize) -> u64 {
            self.regs.get(&offset).copied().unwrap_or(0)
        }
        fn stack_nth(&self, n: u32) -> Option<u64> {
            read_u64(self, self.stack_pointer() + u64::from(n) * 8, false)
        }
        fn stack_pointer(&self) -> u64 {
            self.reg(152)
        }
        fn entry_arg(&self, _index: u32) -> u64 {
            0
        }
        fn read(&self, addr: u64, buf: &mut [u8], user: bool) -> bool {
            let m = if user { &self.user } else { &self.mem };
            for (i, b) in buf.iter_mut().enumerate() {
                match m.get(&(addr + i as u64)) {
                    Some(v) => *b = *v,
                    None => return false,
                }
            }
            true
        }
        fn comm(&self) -> String {
            "cat".into()
        }
        fn task_size(&self) -> u64 {
            0x7fff_ffff_f000
        }
    }

    fn def(line: &str, k: &Kallsyms) -> ProbeDefinition {
        let r: &dyn RegsQuery = &X86_64TraceRegs;
        let env = ParseEnv { profile: KernelProfile::V6_12, kallsyms: k, regs: r };
        match parse_command(&env, line) {
            Ok(Some(Command::Create(d))) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fetches_like_store_trace_args() {
        let k = Kallsyms::new(vec![Symbol {
            name: "do_sys_openat2".into(),
            addr: KernelVa(0xffff_ffff_8136_3fa0),
            size: 0x170,
            kind: SymbolKind::Text,
            global: true,
        }]);
        let d = def(
            "p:e do_sys_openat2 fl=+0(%di):x64 dfd=%di:s32 fn=+0(%si):string fu=+0(%si):ustring c=$comm \
             s=$stack1 b=+0(%di):b4@4/8 arr=+0(%di):u8[3] bad=+0(%dx):u64 badstr=+0(%dx):string sym=%ip:symstr imm=\\7",
            &k,
        );
        let mut c = Ctx { regs: BTreeMap::new(), mem: BTreeMap::new(), user: BTreeMap::new() };
        c.regs.insert(112, 0xffff_8880_0000_1000); // di
        c.regs.insert(104, 0x7ffc_0000); // si (a user pointer)
        c.regs.insert(96, 0xffff_8880_dead_0000); // dx (unmapped)
        c.regs.insert(152, 0xffff_8880_0000_2000); // sp
        c.regs.insert(128, 0xffff_ffff_8136_3fa0); // ip
        c.put(0xffff_8880_0000_1000, &0x0120_00f5u64.to_le_bytes(), false);
        c.put(0xffff_8880_0000_2008, &42u64.to_le_bytes(), false);
        c.put(0x7ffc_0000, b"/proc/version\0", true);
        let v = store_trace_args(&c, &k, &d.args);
        assert_eq!(v[0], FetchedValue::Scalar(0x0120_00f5));
        assert_eq!(v[1], FetchedValue::Scalar(0x1000), "s32 keeps the low 32 bits");
        // `+0(%si):string` on a user pointer reads the user string, as `:ustring` does (real-kernel-6.1.md:
        // "reads the user string fine in 6.1 … same result as :ustring"): fetch_store_string's TASK_SIZE check.
        assert_eq!(v[2], FetchedValue::String(Some("/proc/version".into())));
        assert_eq!(v[3], FetchedValue::String(Some("/proc/version".into())));
        assert_eq!(v[4], FetchedValue::String(Some("cat".into())));
        assert_eq!(v[5], FetchedValue::Scalar(42));
        assert_eq!(v[6], FetchedValue::Scalar(0xf), "bits 4..8 of 0xf5");
        assert_eq!(
            v[7],
            FetchedValue::Array(vec![FetchedValue::Scalar(0xf5), FetchedValue::Scalar(0), FetchedValue::Scalar(0x20)])
        );
        assert_eq!(v[8], FetchedValue::Scalar(0), "a faulting read stores 0");
        assert_eq!(v[9], FetchedValue::String(None), "a faulting string prints (fault)");
        assert_eq!(v[10], FetchedValue::String(Some("do_sys_openat2+0x0/0x170".into())));
        assert_eq!(v[11], FetchedValue::Scalar(7));
    }
}
