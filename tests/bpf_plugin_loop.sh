#!/usr/bin/env bash
# Runs every bpf_conformance case through `probesim bpf-conformance-plugin`, the way the suite's runner does:
# the `-- asm` section is assembled with `probesim bpf asm` (or the `-- raw` words are used), the base16 program is
# piped to the plugin with the `-- mem` bytes as its first argument, and the printed r0 is compared with `-- result`
# (cases with `-- error` must make the plugin fail).
#
# usage: tests/bpf_plugin_loop.sh PROBESIM [TESTS-DIR]
#   TESTS-DIR defaults to ../shared/bpf-conformance/tests next to the repository.
# Prints "N passed, M failed"; exits 1 if any case failed.
set -u

probesim=${1:?usage: $0 PROBESIM [TESTS-DIR]}
here=$(cd "$(dirname "$0")" && pwd)
dir=${2:-$here/../../shared/bpf-conformance/tests}
if [ ! -d "$dir" ]; then
    echo "no conformance suite at $dir: 0 passed, 0 failed"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints the body of section $2 ("asm", "mem", "raw", "result", "error") of file $1.
section() {
    awk -v want="-- $2" '
        /^--/ { sub(/\r$/, ""); on = ($0 == want); next }
        on { print }
    ' "$1"
}

passed=0
failed=0
for f in "$dir"/*.data; do
    name=$(basename "$f")
    mem=$(section "$f" mem | tr '\n' ' ')
    expected=$(section "$f" result | sed -e 's/#.*//' | tr -d ' \r' | grep -v '^$' | tail -n 1)
    experr=$(section "$f" error | grep -v '^$' | tail -n 1)
    if [ -n "$(section "$f" raw)" ]; then
        # `-- raw` words: let `bpf asm` read the .data file itself (it prefers the raw words).
        src=$f
    else
        section "$f" asm > "$tmp/prog.s"
        src=$tmp/prog.s
    fi
    if ! "$probesim" bpf asm "$src" > "$tmp/prog.hex" 2> "$tmp/err"; then
        echo "FAIL $name: assembler: $(cat "$tmp/err")"
        failed=$((failed + 1))
        continue
    fi
    out=$("$probesim" bpf-conformance-plugin "$mem" < "$tmp/prog.hex" 2> "$tmp/err")
    status=$?
    if [ -n "$experr" ]; then
        if [ $status -ne 0 ]; then
            passed=$((passed + 1))
        else
            echo "FAIL $name: expected an error ($experr), got r0=$out"
            failed=$((failed + 1))
        fi
        continue
    fi
    if [ $status -ne 0 ]; then
        echo "FAIL $name: plugin exited $status: $(cat "$tmp/err")"
        failed=$((failed + 1))
    elif [ -z "$out" ] || [ -z "$expected" ] || [ $((16#$out)) -ne $((expected)) ]; then
        echo "FAIL $name: r0=0x$out, expected $expected"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
