//! An example of using probesim as a library: the test in `tests/mydrv_trace.rs` runs the tutorial's libbpf program
//! (`fixtures/bpf-tutorial/mydrv_trace.bpf.o`) on two simulated arm64 CPUs and keeps what user space would read as
//! an insta snapshot. Copy this crate to start your own.
