//! `kernel/trace/trace_output.c` and `trace.c` output (filled in below).
