//! The deterministic interleaving policy: CPUs advance in rounds, each CPU one quantum per round, in a fixed order
//! (round-robin) or in an order shuffled per round by a seeded generator. This is the only source of interleaving.

/// How each round orders the CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// CPU 0, 1, 2, … every round.
    RoundRobin,
    /// A Fisher–Yates shuffle per round, from a SplitMix64 stream seeded by the scenario.
    Shuffle {
        /// The seed.
        seed: u64,
    },
    /// Round-robin order, with a seeded generator for quantum jitter.
    Jitter {
        /// The seed.
        seed: u64,
    },
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, and identical on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0), by rejection so every value is equally likely.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// A schedule written out: the CPU order of every round and every quantum length, in the order the run loop asked
/// for them. Recorded from any run ([`Scheduler::record`]) and replayed exactly ([`Scheduler::replay`]); past its
/// end a replay goes on round-robin with the configured quantum, so a shortened script is still a whole schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// Each round's CPU order (a round may name a subset of the CPUs, in any order).
    pub rounds: Vec<Vec<usize>>,
    /// Each quantum length drawn, in order.
    pub quanta: Vec<u64>,
    /// Preemptions: the quantum of `cpu`'s turn in round `round` (from 0) is cut to `len` instructions, whatever
    /// `quanta` or the configuration say. Not recorded (a recording has the cut length in `quanta`).
    pub cuts: Vec<Cut>,
}

/// A preemption: `cpu`'s turn in round `round` runs at most `len` instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cut {
    /// The round, from 0.
    pub round: usize,
    /// The CPU.
    pub cpu: usize,
    /// Instructions (at least 1).
    pub len: u64,
}

/// Produces the CPU order of each round.
#[derive(Clone, Debug)]
pub struct Scheduler {
    policy: Policy,
    rng: SplitMix64,
    nr_cpus: usize,
    /// A script to replay, and how far it has been read (rounds, quanta).
    replay: Option<(Script, usize, usize)>,
    /// What was decided so far, if recording.
    record: Option<Script>,
    /// The current round (from 0; `usize::MAX` before the first).
    round: usize,
}

impl Scheduler {
    /// A scheduler for `nr_cpus` CPUs.
    #[must_use]
    pub fn new(policy: Policy, nr_cpus: usize) -> Scheduler {
        let seed = match policy {
            Policy::RoundRobin => 0,
            Policy::Shuffle { seed } | Policy::Jitter { seed } => seed,
        };
        Scheduler { policy, rng: SplitMix64::new(seed), nr_cpus, replay: None, record: None, round: usize::MAX }
    }

    /// Replays `script` instead of the policy (CPU numbers at or above the machine's are skipped).
    #[must_use]
    pub fn replay(mut self, script: Script) -> Scheduler {
        self.replay = Some((script, 0, 0));
        self
    }

    /// Records every decision from now on ([`Scheduler::recorded`]).
    #[must_use]
    pub fn record(mut self) -> Scheduler {
        self.record = Some(Script::default());
        self
    }

    /// The decisions recorded so far (empty unless [`Scheduler::record`] was asked for).
    #[must_use]
    pub fn recorded(&self) -> Script {
        self.record.clone().unwrap_or_default()
    }

    /// The length of `cpu`'s next quantum (in this round): `quantum`, or with `jitter` a length drawn uniformly
    /// from `1..=quantum` by the seeded generator (CPUs that run at different speeds, so they drift out of
    /// lockstep), or what a replayed script says, a cut first.
    pub fn quantum(&mut self, cpu: usize, quantum: u64, jitter: bool) -> u64 {
        let round = self.round;
        let q = match &mut self.replay {
            Some((script, _, next)) => {
                let q = script.quanta.get(*next).copied().unwrap_or(quantum).max(1);
                *next += 1;
                script.cuts.iter().find(|c| c.round == round && c.cpu == cpu).map_or(q, |c| c.len.max(1))
            }
            None if jitter && quantum > 1 => 1 + self.rng.below(quantum),
            None => quantum,
        };
        if let Some(rec) = &mut self.record {
            rec.quanta.push(q);
        }
        q
    }

    /// The order of the next round.
    pub fn next_round(&mut self) -> Vec<usize> {
        self.round = self.round.wrapping_add(1);
        let order = match &mut self.replay {
            Some((script, next, _)) => {
                let round = script.rounds.get(*next).cloned();
                *next += 1;
                let n = self.nr_cpus;
                round.map_or_else(|| (0..n).collect(), |r| r.into_iter().filter(|&c| c < n).collect())
            }
            None => {
                let mut order: Vec<usize> = (0..self.nr_cpus).collect();
                if let Policy::Shuffle { .. } = self.policy {
                    for i in (1..order.len()).rev() {
                        // i < nr_cpus, so the value fits usize.
                        let j = self.rng.below(i as u64 + 1) as usize;
                        order.swap(i, j);
                    }
                }
                order
            }
        };
        if let Some(rec) = &mut self.record {
            rec.rounds.push(order.clone());
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_reproducible() {
        let mut a = Scheduler::new(Policy::Shuffle { seed: 7 }, 8);
        let mut b = Scheduler::new(Policy::Shuffle { seed: 7 }, 8);
        for _ in 0..50 {
            let (ra, rb) = (a.next_round(), b.next_round());
            assert_eq!(ra, rb);
            let mut sorted = ra.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..8).collect::<Vec<_>>());
        }
        let mut c = Scheduler::new(Policy::Shuffle { seed: 8 }, 8);
        let rounds_a: Vec<_> = (0..5).map(|_| Scheduler::new(Policy::Shuffle { seed: 7 }, 8).next_round()).collect();
        assert_ne!(rounds_a[0], c.next_round());
    }

    #[test]
    fn a_recorded_schedule_replays_exactly_and_goes_on_round_robin_past_its_end() {
        let mut live = Scheduler::new(Policy::Shuffle { seed: 3 }, 4).record();
        let decided: Vec<(Vec<usize>, u64, u64)> =
            (0..20).map(|_| (live.next_round(), live.quantum(0, 50, true), live.quantum(1, 50, true))).collect();
        let script = live.recorded();
        assert_eq!(script.rounds.len(), 20);
        assert_eq!(script.quanta.len(), 40);
        let mut again = Scheduler::new(Policy::RoundRobin, 4).replay(script);
        for d in &decided {
            assert_eq!(&(again.next_round(), again.quantum(0, 50, true), again.quantum(1, 50, true)), d);
        }
        assert_eq!(again.next_round(), vec![0, 1, 2, 3]);
        assert_eq!(again.quantum(0, 50, true), 50);
    }

    #[test]
    fn round_robin_is_in_order() {
        assert_eq!(Scheduler::new(Policy::RoundRobin, 3).next_round(), vec![0, 1, 2]);
    }

    #[test]
    fn a_cut_shortens_one_turn_of_a_replay_and_no_other() {
        let cut = Cut { round: 1, cpu: 2, len: 3 };
        let mut s = Scheduler::new(Policy::RoundRobin, 4).replay(Script { cuts: vec![cut], ..Script::default() }).record();
        let mut got = Vec::new();
        for _ in 0..3 {
            for cpu in s.next_round() {
                got.push(s.quantum(cpu, 10, false));
            }
        }
        assert_eq!(got, [10, 10, 10, 10, 10, 10, 3, 10, 10, 10, 10, 10]);
        // The recording has the cut length where it was drawn, so replaying the recording needs no cut.
        assert_eq!(s.recorded().quanta, got);
    }
}
