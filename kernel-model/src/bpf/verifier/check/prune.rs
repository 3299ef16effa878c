//! State pruning (kernel/bpf/verifier.c): `is_state_visited`, `states_equal`, `regsafe`, `stacksafe`,
//! `check_ids`.

use super::*;

impl<'a, 'l> Verifier<'a, 'l> {
    /// `is_state_visited`: infinite-loop detection against states on the current path, pruning against fully
    /// explored ones, and checkpointing (`add_new_state` when ≥ 2 jumps and ≥ 8 instructions since the last).
    pub(super) fn is_state_visited(&mut self, pc: usize, cur: &VState) -> R<bool> {
        let exact_loop = v612(self.p());
        if let Some(list) = self.explored.get(&pc) {
            for e in list.iter().rev() {
                if e.active {
                    let looping = states_maybe_looping(&e.state, cur);
                    let eq = if exact_loop {
                        e.state == *cur
                    } else {
                        states_equal(&e.state, cur)
                    };
                    if looping && eq {
                        return Err(Refusal {
                            pc,
                            message: format!("infinite loop detected at insn {pc}"),
                        });
                    }
                } else if states_equal(&e.state, cur) {
                    return Ok(true);
                }
            }
        }
        let add = self.jmps_processed - self.prev_jmps >= 2
            && self.stats.insn_processed - self.prev_insns >= 8;
        if !add {
            return Ok(false);
        }
        self.prev_jmps = self.jmps_processed;
        self.prev_insns = self.stats.insn_processed;
        let id = self.next_state_id;
        self.next_state_id += 1;
        let list = self.explored.entry(pc).or_default();
        if list.len() >= MAX_STATES_PER_INSN {
            // Evict the oldest fully explored state, else the oldest on the path (a loop that only repeats a
            // state after more checkpoints than are kept then ends at the complexity limit instead).
            let i = list.iter().position(|e| !e.active).unwrap_or(0);
            list.remove(i);
            self.live_states -= 1;
        }
        list.push(Explored {
            state: cur.clone(),
            id,
            active: true,
        });
        self.stats.max_states_per_insn = self.stats.max_states_per_insn.max(list.len());
        self.stats.total_states += 1;
        self.live_states += 1;
        self.stats.peak_states = self.stats.peak_states.max(self.live_states);
        self.path.push((pc, id));
        Ok(false)
    }
}

/// `states_maybe_looping`: same call chain.
pub(super) fn states_maybe_looping(old: &VState, cur: &VState) -> bool {
    old.frames.len() == cur.frames.len()
        && old
            .frames
            .iter()
            .zip(&cur.frames)
            .all(|(a, b)| a.callsite == b.callsite)
}

/// `states_equal` → `func_states_equal` → `regsafe` / `stacksafe` / `refsafe`, without liveness or precision:
/// `cur` is safe if every value it allows `old` allowed too.
pub(super) fn states_equal(old: &VState, cur: &VState) -> bool {
    if !states_maybe_looping(old, cur) || old.refs.len() != cur.refs.len() {
        return false;
    }
    let mut idmap: Vec<(u32, u32)> = Vec::new();
    old.frames.iter().zip(&cur.frames).all(|(o, c)| {
        o.regs
            .iter()
            .zip(&c.regs)
            .all(|(a, b)| regsafe(a, b, &mut idmap))
            && stacksafe(&o.stack, &c.stack, &mut idmap)
    })
}

/// `check_ids`.
pub(super) fn check_ids(old: u32, cur: u32, idmap: &mut Vec<(u32, u32)>) -> bool {
    if old == 0 && cur == 0 {
        return true;
    }
    match idmap.iter().find(|(o, _)| *o == old) {
        Some((_, c)) => *c == cur,
        None => {
            if idmap.iter().any(|(_, c)| *c == cur) {
                return false;
            }
            idmap.push((old, cur));
            true
        }
    }
}

/// `regsafe`.
pub(super) fn regsafe(old: &RegState, cur: &RegState, idmap: &mut Vec<(u32, u32)>) -> bool {
    if old.typ == RegType::NotInit {
        return true;
    }
    if old.typ != cur.typ {
        return false;
    }
    let range_within = old.umin <= cur.umin
        && old.umax >= cur.umax
        && old.smin <= cur.smin
        && old.smax >= cur.smax;
    match old.typ {
        RegType::Scalar => range_within && old.var_off.contains(cur.var_off),
        RegType::PtrToMapValueOrNull | RegType::PtrToMemOrNull => {
            old.off == cur.off
                && old.map == cur.map
                && old.mem_size == cur.mem_size
                && old.var_off == cur.var_off
                && check_ids(old.id, cur.id, idmap)
        }
        _ => {
            old.off == cur.off
                && old.map == cur.map
                && old.mem_size == cur.mem_size
                && old.frameno == cur.frameno
                && old.ref_obj_id == cur.ref_obj_id
                && range_within
                && old.var_off.contains(cur.var_off)
        }
    }
}

/// `stacksafe`.
pub(super) fn stacksafe(old: &Stack, cur: &Stack, idmap: &mut Vec<(u32, u32)>) -> bool {
    for (spi, o) in old.slots.iter().enumerate() {
        let c = cur.slots.get(spi);
        for i in 0..BPF_REG_SIZE {
            let ot = o.types[i];
            if ot == SlotType::Invalid {
                continue;
            }
            let Some(c) = c else { return false };
            let ct = c.types[i];
            if ot == SlotType::Misc && ct == SlotType::Zero {
                continue;
            }
            if ot != ct {
                return false;
            }
        }
        if o.types[0] == SlotType::Spill {
            let Some(c) = c else { return false };
            if !regsafe(&o.spilled, &c.spilled, idmap) {
                return false;
            }
        }
    }
    true
}
