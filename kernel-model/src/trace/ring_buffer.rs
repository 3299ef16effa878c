//! `kernel/trace/ring_buffer.c`.
