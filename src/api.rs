//! What a test of your own needs from a finished run: the lines user space would read, each probe's counters, each
//! task's results, the events. The rest of [`Report`] is public too; these say the common questions in one call.

use crate::runner::Report;
use kernel_model::kprobes::Kprobe;
use sim::event_log::Event;

impl Report {
    /// `cat trace_pipe` after the run, one line each (`bpf_trace_printk` and trace events, as the kernel prints
    /// them).
    #[must_use]
    pub fn trace_pipe_lines(&self) -> Vec<String> {
        self.trace_pipe.concat().lines().map(str::to_string).collect()
    }

    /// The kprobe registered under `name` (`p_<symbol>_0` for a BPF program's, the `[[kprobe]]` name otherwise).
    #[must_use]
    pub fn kprobe(&self, name: &str) -> Option<&Kprobe> {
        self.kprobes.iter().find(|k| k.spec.name == name)
    }

    /// What pid `pid`'s calls returned, in order (`None`: the task was killed).
    #[must_use]
    pub fn returns_of(&self, pid: u32) -> Vec<Option<u64>> {
        let mut calls: Vec<_> = self.summary.calls.iter().filter(|c| c.pid == pid).collect();
        calls.sort_by_key(|c| c.iteration);
        calls.iter().map(|c| c.ret).collect()
    }

    /// Every event of the run, in order (typed: match on `event.kind`).
    #[must_use]
    pub fn events(&self) -> &[Event] {
        self.log.events()
    }

    /// `Ok` if the run went as the scenario expects (no unexpected errno, oops, BPF fault or failed expectation);
    /// otherwise the one-line reason `probesim run` prints.
    ///
    /// # Errors
    /// The reason, as text.
    pub fn expect_ok(&self) -> Result<(), String> {
        self.failure().map_or(Ok(()), Err)
    }
}
