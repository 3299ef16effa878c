#!/bin/sh
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 20: five targets, under two minutes of
# fuzzing after the build) and exits non-zero if any target finds a crash, a timeout or an out-of-memory input.
# Needs network only to install cargo-fuzz the first time. The toolchain is stable: RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz use the nightly-only sanitizer flags.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-20}
sanitizer=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
cd "$here"
cargo fuzz build -O -s "$sanitizer"
status=0
for target in scenario elf bpf_object bpf_asm bpf_vm; do
    mkdir -p "corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    if ! cargo fuzz run -O -s "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
        -dict="dict/$target.dict" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1; then
        echo "fuzz: $target failed; the input is under fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit $status
