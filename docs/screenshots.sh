#!/bin/sh
# Regenerates the timeline screenshots in docs/ with headless Chromium: seed 000 (arm64, 8 CPUs) at full view and
# zoomed on its second patch window, and one x86_64 run (text_poke_bp on 4 CPUs).
# Usage: docs/screenshots.sh   (from anywhere; builds probesim if needed)
set -eu
cd "$(dirname "$0")/.."
cargo build --quiet
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shot() { # scenario, output png, URL fragment
    ./target/debug/probesim run "$1" --html "$tmp/page.html" > /dev/null || true
    "$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$tmp/profile" --hide-scrollbars \
        --window-size=1600,1000 --virtual-time-budget=3000 --screenshot="$2" "file://$tmp/page.html$3" 2>/dev/null
    echo "wrote $2"
}
shot scenarios/seed000-clone-arm64.toml docs/seed000-timeline.png ""
shot scenarios/seed000-clone-arm64.toml docs/seed000-timeline-zoom.png "#t0=470&t1=720&m1=532&m2=573"
shot scenarios/text-poke-bp-x86_64.toml docs/text-poke-bp-x86_64-timeline.png ""
