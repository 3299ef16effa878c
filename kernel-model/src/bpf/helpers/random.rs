//! `bpf_get_prandom_u32` (kernel/bpf/core.c `bpf_user_rnd_u32`): `prandom_u32_state` (lib/random32.c, the
//! Tausworthe generator of L'Ecuyer) on this CPU's `bpf_user_rnd_state`. The kernel seeds each CPU's state once,
//! from `get_random_bytes`, when the first program using the helper is loaded (`bpf_user_rnd_init_once` →
//! `prandom_seed_full_state`); here the bytes come from the scenario's seed ([`RndState::seeded`]), so runs repeat.

use super::*;

/// `struct rnd_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RndState {
    s: [u32; 4],
}

/// `__seed(x, m)`: each component must be at least its minimum.
fn seed_component(x: u32, m: u32) -> u32 {
    if x < m {
        x + m
    } else {
        x
    }
}

/// SplitMix64, standing in for `get_random_bytes`.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RndState {
    /// `prandom_seed_full_state` for `cpu`: seeds from `seed` and the CPU number, then `prandom_warmup` (ten
    /// rounds).
    #[must_use]
    pub fn seeded(seed: u64, cpu: usize) -> RndState {
        let mut x = seed ^ ((cpu as u64) << 32) ^ 0x6270_665f_726e_6421;
        let (a, b) = (splitmix64(&mut x), splitmix64(&mut x));
        let mut st = RndState {
            s: [
                seed_component(a as u32, 2),
                seed_component((a >> 32) as u32, 8),
                seed_component(b as u32, 16),
                seed_component((b >> 32) as u32, 128),
            ],
        };
        for _ in 0..10 {
            st.next_u32();
        }
        st
    }

    /// `prandom_u32_state`.
    pub fn next_u32(&mut self) -> u32 {
        fn taus(s: u32, a: u32, b: u32, c: u32, d: u32) -> u32 {
            ((s & c) << d) ^ (((s << a) ^ s) >> b)
        }
        let s = &mut self.s;
        s[0] = taus(s[0], 6, 13, 4_294_967_294, 18);
        s[1] = taus(s[1], 2, 27, 4_294_967_288, 2);
        s[2] = taus(s[2], 13, 21, 4_294_967_280, 7);
        s[3] = taus(s[3], 3, 12, 4_294_967_168, 13);
        s[0] ^ s[1] ^ s[2] ^ s[3]
    }
}

impl Env<'_> {
    /// `BPF_CALL_0(bpf_user_rnd_u32)`: the next number of this CPU's state.
    pub(super) fn get_prandom_u32(&mut self, _a: [u64; 5], _mem: &mut Memory) -> Result<u64, HelperError> {
        Ok(u64::from(self.rnd.next_u32()))
    }
}

#[cfg(test)]
mod tests {
    use super::RndState;

    #[test]
    fn tausworthe_matches_lib_random32() {
        // prandom_u32_state from a known state, computed by hand from lib/random32.c's TAUSWORTHE macro.
        let mut st = RndState { s: [2, 8, 16, 128] };
        // s1 = (2 & ~1) << 18 = 0x80000, s2 = (8 & ~7) << 2 = 0x20, s3 = (16 & ~15) << 7 = 0x800,
        // s4 = (128 & ~127) << 13 = 0x100000 (each `((s << a) ^ s) >> b` term is 0 for these small states).
        assert_eq!(st.next_u32(), 0x80000 ^ 0x20 ^ 0x800 ^ 0x100000);
        // Seeded states repeat and differ per CPU.
        assert_eq!(RndState::seeded(7, 0), RndState::seeded(7, 0));
        assert_ne!(RndState::seeded(7, 0), RndState::seeded(7, 1));
    }
}
