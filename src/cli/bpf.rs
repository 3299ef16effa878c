//! `probesim bpf …` and `probesim bpf-conformance-plugin`.
