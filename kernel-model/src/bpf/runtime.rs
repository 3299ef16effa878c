//! The BPF side of the kernel as the kprobe path reaches it: loaded programs and maps (the `bpf()` syscall's
//! results) and what user space reads back — trace_pipe, perf buffers, ring buffers, and bpftool-like listings.
//! Running the programs (`trace_call_bpf`, the event's `prog_array`) is `runtime/bpf_trace.rs`.

use super::asm::assemble;
use super::error::BpfError;
use super::helpers::{helper_gpl_only, helper_name, map_ptr, value_addr, PerfRecord, TraceFlags};
use super::insn::{Insn, BPF_CALL, BPF_JMP, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};
use super::maps::{BpfMap, MapCreateError, MapDef, MapType, MAP_MEMORY_BUDGET};
use super::object::{license_is_gpl_compatible, AttachPoint, BpfObject, BpfObjectError, MapOrigin};
use super::program::{Program, PseudoResolver};
use super::tag::{prog_tag, tag_hex};
use super::verifier;
use crate::errno::Errno;
use crate::profile::KernelProfile;
use crate::Isa;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod bpf_trace;
pub use bpf_trace::{perf_event_attach_bpf_prog, TraceCall, TraceCallOutcome, TraceCallStep, BPF_TRACE_MAX_PROGS};

/// A loaded program's kernel id (`bpf_prog_info.id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProgId(pub u32);

impl std::fmt::Display for ProgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A loaded program.
#[derive(Clone, Debug)]
pub struct LoadedProg {
    /// Its id.
    pub id: ProgId,
    /// Its full name (the kernel keeps the first 15 bytes as `prog->aux->name`).
    pub name: String,
    /// Its section (or `asm`).
    pub section: String,
    /// Its type and attach point.
    pub attach: AttachPoint,
    /// The loaded instructions.
    pub program: Program,
    /// `bpf_prog_calc_tag`.
    pub tag: [u8; 8],
    /// Ids of the maps it uses (`used_maps`), in first-use order.
    pub map_ids: Vec<u32>,
    /// Whether its license is GPL-compatible.
    pub gpl: bool,
    /// The object it came from.
    pub object: Option<PathBuf>,
    /// Runs (`run_cnt`).
    pub run_cnt: u64,
    /// Nested calls that skipped it (`recursion_misses`, 6.x).
    pub misses: u64,
}

/// A run that stopped with an error the kernel's verifier would have prevented.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("program {prog} (id {id}): {error}")]
pub struct BpfRunError {
    /// The program's name.
    pub prog: String,
    /// Its id.
    pub id: ProgId,
    /// What happened (it names the instruction index).
    pub error: BpfError,
}


/// Loaded programs and maps, per-CPU state and the outputs user space reads.
#[derive(Clone, Debug)]
pub struct BpfRuntime {
    profile: KernelProfile,
    isa: Isa,
    nr_cpus: usize,
    maps: Vec<BpfMap>,
    progs: Vec<LoadedProg>,
    prog_active: Vec<u32>,
    trace: Vec<String>,
    perf: Vec<PerfRecord>,
    /// Per-CPU `bpf_user_rnd_state` (`bpf_get_prandom_u32`), seeded by [`BpfRuntime::seed_prandom`].
    rnd: Vec<super::helpers::RndState>,
    /// Instructions one program run may execute before it is stopped with `BudgetExhausted`.
    pub budget: u64,
    /// Virtual time charged to the CPU per BPF instruction executed (0 to charge nothing).
    pub ticks_per_insn: u64,
    /// The flags column of trace lines ([`TraceFlags::kprobe_default`] for the ISA).
    pub trace_flags: TraceFlags,
    /// Whether loads go through the verifier (true; false only to test the VM's run-time checks, the second
    /// line, with programs the kernel would refuse).
    pub verify: bool,
}

/// Resolves `lddw` pseudo sources against the runtime's maps.
struct Resolver<'a> {
    maps: &'a [BpfMap],
    /// Map ids as the object numbered them (an object's imm is its map index), or `None` for runtime ids.
    object_ids: Option<&'a [u32]>,
    used: Vec<u32>,
}

impl Resolver<'_> {
    fn id(&self, imm: i32) -> Result<u32, String> {
        let id = match self.object_ids {
            Some(ids) => *ids.get(imm as usize).ok_or_else(|| format!("no map {imm} in the object"))?,
            None => imm as u32,
        };
        if self.maps.iter().any(|m| m.id == id) {
            Ok(id)
        } else {
            Err(format!("fd {imm} is not pointing to valid bpf_map"))
        }
    }
}

impl PseudoResolver for Resolver<'_> {
    fn resolve(&mut self, src: u8, imm: i32, next_imm: i32) -> Result<u64, String> {
        let id = self.id(imm)?;
        if !self.used.contains(&id) {
            self.used.push(id);
        }
        let idx = self.maps.iter().position(|m| m.id == id).unwrap_or(0);
        let map = &self.maps[idx];
        match src {
            BPF_PSEUDO_MAP_FD => Ok(map_ptr(id)),
            BPF_PSEUDO_MAP_VALUE => {
                if map.def.map_type != MapType::Array || map.def.max_entries != 1 {
                    return Err(format!("map {} does not support direct value access", map.def.name));
                }
                let off = next_imm as u32;
                if off >= map.def.value_size {
                    return Err(format!("direct value offset of {off} is not allowed"));
                }
                Ok(value_addr(idx, 0, map.def.value_size) + u64::from(off))
            }
            _ => Err(format!("pseudo source {src} is not supported")),
        }
    }
}

impl BpfRuntime {
    /// An empty runtime for a kernel `profile` on `isa` with `nr_cpus` CPUs.
    #[must_use]
    pub fn new(profile: KernelProfile, isa: Isa, nr_cpus: usize) -> BpfRuntime {
        let nr_cpus = nr_cpus.max(1);
        BpfRuntime {
            profile,
            isa,
            nr_cpus,
            maps: Vec::new(),
            progs: Vec::new(),
            prog_active: vec![0; nr_cpus],
            trace: Vec::new(),
            perf: Vec::new(),
            rnd: (0..nr_cpus).map(|c| super::helpers::RndState::seeded(0, c)).collect(),
            budget: 1_000_000,
            ticks_per_insn: 1,
            trace_flags: TraceFlags::kprobe_default(isa),
            verify: true,
        }
    }

    /// Seeds every CPU's `bpf_get_prandom_u32` state from `seed` (the kernel's `get_random_bytes`).
    pub fn seed_prandom(&mut self, seed: u64) {
        for (c, r) in self.rnd.iter_mut().enumerate() {
            *r = super::helpers::RndState::seeded(seed, c);
        }
    }

    /// The kernel profile.
    #[must_use]
    pub fn profile(&self) -> KernelProfile {
        self.profile
    }

    // ---- loading ---------------------------------------------------------------------------------------------------

    /// `BPF_MAP_CREATE`: creates a map; returns its id. Ids count from 1 across maps, as the kernel's idr does.
    pub fn create_map(&mut self, def: MapDef) -> Result<u32, BpfObjectError> {
        self.create_map_in(Path::new("<runtime>"), def)
    }

    fn create_map_in(&mut self, path: &Path, def: MapDef) -> Result<u32, BpfObjectError> {
        let name = def.name.clone();
        let refused = |e: MapCreateError| BpfObjectError::MapCreate {
            path: path.to_path_buf(),
            map: name.clone(),
            reason: e.reason,
            errno: e.errno,
        };
        let def = def.checked(self.profile, self.nr_cpus).map_err(refused)?;
        // bpf_map_area_alloc() failing: the kernel's map_alloc returns -ENOMEM. The model's memory is the budget.
        let bytes = def.memory_bytes(self.nr_cpus);
        let used: u64 = self.maps.iter().map(|m| m.def.memory_bytes(self.nr_cpus)).sum();
        if bytes > MAP_MEMORY_BUDGET.saturating_sub(used) {
            return Err(refused(MapCreateError {
                errno: Errno::ENOMEM,
                reason: format!(
                    "{bytes} bytes do not fit the {MAP_MEMORY_BUDGET}-byte map memory budget ({used} bytes in use; docs/limits.md)"
                ),
            }));
        }
        let id = self.maps.last().map_or(1, |m| m.id + 1);
        self.maps.push(BpfMap::new(id, def, self.nr_cpus));
        Ok(id)
    }

    /// Parses the object bytes `bytes` (named `path` in errors) and loads it ([`BpfRuntime::load`]).
    pub fn load_object(&mut self, path: impl AsRef<Path>, bytes: &[u8]) -> Result<Vec<ProgId>, BpfObjectError> {
        let obj = BpfObject::parse(path, bytes)?;
        self.load(&obj)
    }

    /// `bpf_object__load`: creates the object's maps (global-data maps filled with their sections), then loads
    /// every program. Returns the programs' ids in object order. Nothing is created if a program is refused.
    pub fn load(&mut self, obj: &BpfObject) -> Result<Vec<ProgId>, BpfObjectError> {
        let (maps_before, progs_before) = (self.maps.len(), self.progs.len());
        let res = self.load_inner(obj);
        if res.is_err() {
            self.maps.truncate(maps_before);
            self.progs.truncate(progs_before);
        }
        res
    }

    fn load_inner(&mut self, obj: &BpfObject) -> Result<Vec<ProgId>, BpfObjectError> {
        let mut ids = Vec::new();
        let btf_id = self.maps.iter().filter_map(|m| m.btf.as_ref()).map(|b| b.btf_id).max().unwrap_or(0) + 1;
        for m in &obj.maps {
            let id = self.create_map_in(&obj.path, m.def.clone())?;
            if let (Some(btf), true) = (&obj.btf, m.btf_key_type_id != 0 || m.btf_value_type_id != 0) {
                let (key_type_id, value_type_id) = (m.btf_key_type_id, m.btf_value_type_id);
                let map = self.maps.last_mut().expect("just created");
                map.btf = Some(super::maps::MapBtf { btf: btf.clone(), btf_id, key_type_id, value_type_id });
            }
            if let (MapOrigin::GlobalData { .. }, Some(init)) = (&m.origin, &m.initial) {
                let map = self.maps.last_mut().expect("just created");
                if let Some(v) = map.value_mut(0) {
                    let n = v.len().min(init.len());
                    v[..n].copy_from_slice(&init[..n]);
                }
            }
            ids.push(id);
        }
        let gpl = obj.gpl_compatible();
        let mut out = Vec::new();
        for p in &obj.programs {
            let id = self.load_insns(&obj.path, &p.name, &p.section, p.attach.clone(), &p.insns, Some(&ids), gpl)?;
            self.progs.last_mut().expect("just loaded").object = Some(obj.path.clone());
            out.push(id);
        }
        Ok(out)
    }

    /// Loads a program written in the assembler syntax of [`super::asm`] as a kprobe program with a GPL license.
    /// `lddw %rN, map_fd ID` and `map_value ID, OFF` refer to runtime map ids.
    pub fn load_asm(&mut self, name: &str, text: &str) -> Result<ProgId, BpfObjectError> {
        let path = Path::new("<asm>");
        let insns = assemble(text).map_err(|e| BpfObjectError::InvalidProgram {
            path: path.to_path_buf(),
            prog: name.to_string(),
            reason: e.to_string(),
        })?;
        self.load_insns(path, name, "asm", AttachPoint::Kprobe { symbol: None }, &insns, None, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn load_insns(
        &mut self,
        path: &Path,
        name: &str,
        section: &str,
        attach: AttachPoint,
        insns: &[Insn],
        object_ids: Option<&[u32]>,
        gpl: bool,
    ) -> Result<ProgId, BpfObjectError> {
        // The object's map indices become map ids (libbpf writes the map fds into the instructions).
        let mut insns = insns.to_vec();
        if let Some(ids) = object_ids {
            let mut pc = 0;
            while pc < insns.len() {
                if insns[pc].is_lddw() && matches!(insns[pc].src_reg, BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE) {
                    let idx = insns[pc].imm as usize;
                    let id = *ids.get(idx).ok_or_else(|| BpfObjectError::InvalidProgram {
                        path: path.to_path_buf(),
                        prog: name.to_string(),
                        reason: format!("instruction {pc}: no map {idx} in the object"),
                    })?;
                    insns[pc].imm = id as i32;
                    pc += 2;
                    continue;
                }
                pc += 1;
            }
        }
        // bpf_check(): the verifier runs before the VM ever sees the program (the VM's checks stay a second line).
        let verdict = if self.verify { self.verify(&insns, &attach, gpl, 0).result } else { Ok(()) };
        if let Err(r) = verdict {
            let e = BpfError::VerifierRejected { pc: r.pc, message: r.message };
            return Err(BpfObjectError::InvalidProgram {
                path: path.to_path_buf(),
                prog: name.to_string(),
                reason: e.to_string(),
            });
        }
        let mut resolver = Resolver { maps: &self.maps, object_ids: None, used: Vec::new() };
        let program = Program::load_with(&insns, &mut resolver).map_err(|e| BpfObjectError::InvalidProgram {
            path: path.to_path_buf(),
            prog: name.to_string(),
            reason: e.to_string(),
        })?;
        let map_ids = resolver.used;
        // check_helper_call(): every helper must exist for this program type, and a gpl_only one needs a
        // GPL-compatible license; kfunc calls are not provided.
        let mut pc = 0;
        while pc < insns.len() {
            let i = insns[pc];
            let refuse = |reason: String| BpfObjectError::InvalidProgram {
                path: path.to_path_buf(),
                prog: name.to_string(),
                reason: format!("instruction {pc}: {reason}"),
            };
            if i.code == BPF_JMP | BPF_CALL && i.src_reg == 0 {
                let id = i.imm as u32;
                let Some(helper) = helper_name(id) else {
                    return Err(BpfObjectError::UnknownHelper {
                        path: path.to_path_buf(),
                        prog: name.to_string(),
                        pc,
                        id,
                    });
                };
                if !gpl && helper_gpl_only(id) {
                    return Err(refuse(format!(
                        "cannot call GPL-restricted function {helper}#{id} from non-GPL compatible program"
                    )));
                }
            }
            if i.code == BPF_JMP | BPF_CALL && i.src_reg == BPF_PSEUDO_KFUNC_CALL {
                return Err(refuse(format!("kfunc calls (BTF id {}) are not supported", i.imm)));
            }
            pc += if i.is_lddw() { 2 } else { 1 };
        }
        let id = ProgId(self.progs.last().map_or(1, |p| p.id.0 + 1));
        self.progs.push(LoadedProg {
            id,
            name: name.to_string(),
            section: section.to_string(),
            attach,
            tag: prog_tag(&insns),
            program,
            map_ids,
            gpl,
            object: None,
            run_cnt: 0,
            misses: 0,
        });
        Ok(id)
    }

    /// Runs the verifier ([`super::verifier::bpf_check`]) on `insns` (map references by runtime id) as
    /// `BPF_PROG_LOAD` would for a program of `attach`'s type, against this runtime's maps, logging at `log_level`.
    #[must_use]
    pub fn verify(&self, insns: &[Insn], attach: &AttachPoint, gpl: bool, log_level: u32) -> verifier::Verdict {
        let maps: Vec<verifier::MapInfo> = self
            .maps
            .iter()
            .map(|m| verifier::MapInfo {
                id: m.id,
                map_type: m.def.map_type,
                key_size: m.def.key_size,
                value_size: m.def.value_size,
                max_entries: m.def.max_entries,
            })
            .collect();
        let prog_type = match attach {
            AttachPoint::Kprobe { .. } | AttachPoint::Kretprobe { .. } => verifier::ProgType::Kprobe,
            AttachPoint::Tracepoint { .. } => verifier::ProgType::Tracepoint,
        };
        let mut env = verifier::VerifierEnv::new(self.profile, self.isa, prog_type, gpl, &maps);
        env.log_level = log_level;
        verifier::bpf_check(insns, &env)
    }

    // ---- lookups ---------------------------------------------------------------------------------------------------

    /// The program with id `id`.
    #[must_use]
    pub fn prog(&self, id: ProgId) -> Option<&LoadedProg> {
        self.progs.iter().find(|p| p.id == id)
    }

    /// The first program named `name`.
    #[must_use]
    pub fn prog_by_name(&self, name: &str) -> Option<&LoadedProg> {
        self.progs.iter().find(|p| p.name == name)
    }

    /// Every loaded program, by id.
    #[must_use]
    pub fn progs(&self) -> &[LoadedProg] {
        &self.progs
    }

    /// The map with id `id`.
    #[must_use]
    pub fn map(&self, id: u32) -> Option<&BpfMap> {
        self.maps.iter().find(|m| m.id == id)
    }

    /// The map with id `id`, mutably (user-space updates, opening/closing perf buffers).
    pub fn map_mut(&mut self, id: u32) -> Option<&mut BpfMap> {
        self.maps.iter_mut().find(|m| m.id == id)
    }

    /// The first map named `name` (the kernel's 15-byte name).
    #[must_use]
    pub fn map_by_name(&self, name: &str) -> Option<&BpfMap> {
        self.maps.iter().find(|m| m.def.name == name)
    }

    /// Every map, by id.
    #[must_use]
    pub fn maps(&self) -> &[BpfMap] {
        &self.maps
    }

    // ---- running ---------------------------------------------------------------------------------------------------
    // ---- what user space reads -------------------------------------------------------------------------------------

    /// The trace_pipe entries not yet read, each exactly as `read()` returns it (header, message, the message's
    /// own newline if it has one, and the event's newline).
    #[must_use]
    pub fn trace_pipe(&self) -> &[String] {
        &self.trace
    }

    /// `cat trace_pipe`: the unread entries as one text, consumed.
    pub fn take_trace_pipe(&mut self) -> String {
        std::mem::take(&mut self.trace).concat()
    }

    /// The perf records programs sent, in order.
    #[must_use]
    pub fn perf_records(&self) -> &[PerfRecord] {
        &self.perf
    }

    /// Takes the perf records (what `perf_buffer__poll` would deliver).
    pub fn take_perf_records(&mut self) -> Vec<PerfRecord> {
        std::mem::take(&mut self.perf)
    }

    /// `ring_buffer__consume` on the ring buffer map `id`: the committed records, in order.
    pub fn ringbuf_drain(&mut self, id: u32) -> Vec<Vec<u8>> {
        self.map_mut(id).map(BpfMap::ringbuf_drain).unwrap_or_default()
    }

    /// `bpftool prog list` (plain): `ID: TYPE  name NAME  tag TAG  gpl[ recursion_misses N]`, then
    /// `\txlated NB  not jited  memlock NB  map_ids A,B`. xlated is the loaded length (this runtime does not
    /// rewrite instructions as the verifier's fixups do); there is no JIT; `loaded_at`/`uid` are not modelled.
    #[must_use]
    pub fn prog_list(&self) -> String {
        let mut s = String::new();
        for p in &self.progs {
            let (_, ty) = p.attach.prog_type();
            let name: String = p.name.chars().take(15).collect();
            let _ = write!(s, "{}: {ty}  name {name}  tag {}", p.id, tag_hex(&p.tag));
            if p.gpl {
                s.push_str("  gpl");
            }
            if p.misses > 0 {
                let _ = write!(s, " recursion_misses {}", p.misses);
            }
            let len = p.program.len() * 8;
            // bpf_prog_alloc: round_up(offsetof(struct bpf_prog, insns[len]), PAGE_SIZE); the header is 72 bytes.
            let memlock = (72 + len).div_ceil(4096) * 4096;
            let _ = write!(s, "\n\txlated {len}B  not jited  memlock {memlock}B");
            if !p.map_ids.is_empty() {
                let ids: Vec<String> = p.map_ids.iter().map(u32::to_string).collect();
                let _ = write!(s, "  map_ids {}", ids.join(","));
            }
            s.push('\n');
        }
        s
    }

    /// `bpftool map list` (plain, without memlock, which is not modelled): `ID: TYPE  name NAME  flags 0xF` and
    /// `\tkey KB  value VB  max_entries N`.
    #[must_use]
    pub fn map_list(&self) -> String {
        let mut s = String::new();
        for m in &self.maps {
            let d = &m.def;
            let _ = writeln!(s, "{}: {}  name {}  flags {:#x}", m.id, d.map_type.name(), d.name, d.flags);
            let _ = writeln!(s, "\tkey {}B  value {}B  max_entries {}", d.key_size, d.value_size, d.max_entries);
        }
        s
    }

    /// Whether a license string is GPL-compatible (for programs loaded by other means).
    #[must_use]
    pub fn license_is_gpl(license: &str) -> bool {
        license_is_gpl_compatible(license)
    }
}

/// BCC/libbpf-style printing of perf records, as the seeds' user-space halves print them.
pub mod print {
    /// The header seed 002's execsnoop prints: `printf("%-16s %-6s %3s %s\n", "COMM", "PID", "RET", "ARGS")`.
    pub const EXECSNOOP_HEADER: &str = "COMM             PID    RET ARGS";

    /// Seed 002's `handle_event` for `struct event { char comm[16]; pid_t pid; int retval; int args_count;
    /// unsigned int args_size; char args[320]; }`: `"%-16s %-6d %3d "`, then the arguments with each NUL printed
    /// as a space (stopping after `args_count` of them) and ` ...` if more arguments were left unread.
    #[must_use]
    pub fn execsnoop_event(data: &[u8]) -> Option<String> {
        const TOTAL_MAX_ARGS: i32 = 5;
        let comm = data.get(..16)?;
        let comm_end = comm.iter().position(|&c| c == 0).unwrap_or(16);
        let word = |at: usize| -> Option<i32> { Some(i32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?)) };
        let (pid, retval, args_count, args_size) = (word(16)?, word(20)?, word(24)?, word(28)? as u32);
        let args = data.get(32..).unwrap_or(&[]);
        let mut line = format!("{:<16} {:<6} {:>3} ", String::from_utf8_lossy(&comm[..comm_end]), pid, retval);
        let mut counter = 0;
        let mut bytes = Vec::new();
        for i in 0..args_size as usize {
            if counter >= args_count {
                break;
            }
            let c = *args.get(i)?;
            if c == 0 {
                counter += 1;
                bytes.push(b' ');
            } else {
                bytes.push(c);
            }
        }
        line.push_str(&String::from_utf8_lossy(&bytes));
        if args_count > TOTAL_MAX_ARGS {
            line.push_str(" ...");
        }
        Some(line)
    }

    /// Seed 000's BCC loop, `print("%-18.9f %-16s %-6d %s" % (ts, task, pid, msg))`, over one trace_pipe entry as
    /// `BPF.trace_fields()` splits it; `None` if the entry is not a trace line.
    #[must_use]
    pub fn bcc_trace_fields(entry: &str) -> Option<String> {
        let line = entry.trim_end_matches('\n');
        let (head, msg) = line.split_once(": bpf_trace_printk: ")?;
        let (task_pid, rest) = head.trim_start().split_once(" [")?;
        let (task, pid) = task_pid.trim_end().rsplit_once('-')?;
        let ts = rest.rsplit(' ').next()?;
        let ts: f64 = ts.parse().ok()?;
        Some(format!("{ts:<18.9} {task:<16} {:<6} {msg}", pid.trim()))
    }
}
