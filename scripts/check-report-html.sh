#!/usr/bin/env bash
# Renders a report.html in headless Chromium (Debian's `chromium` package), saves a screenshot,
# and fails when Chromium logs a console error (or a failed load) for the page.
#
#   scripts/check-report-html.sh reports/EXPERIMENT/report.html OUT.png
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 REPORT.html OUT.png" >&2
    exit 2
fi
html=$1
png=$2
if [ ! -f "$html" ]; then
    echo "error: $html not found; \`harness report EXPERIMENT\` writes reports/EXPERIMENT/report.html" >&2
    exit 2
fi
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "error: chromium not found; install it with \`apt-get install -y chromium\`" >&2
    exit 2
fi

url="file://$(realpath "$html")"
profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT

rm -f "$png"
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --enable-logging=stderr --v=0 --screenshot="$png" --window-size=1400,3000 "$url" 2>"$log" || {
    echo "error: chromium exited with status $? while rendering $html; its log:" >&2
    cat "$log" >&2
    exit 1
}

if [ ! -s "$png" ]; then
    echo "error: chromium wrote no screenshot for $html; its log:" >&2
    cat "$log" >&2
    exit 1
fi
# Console messages are logged as `CONSOLE(line)] "message", source: url`; errors of the page's
# own resources as `Failed to load` / `net::ERR_`.
if grep -E 'CONSOLE|Uncaught|Failed to load|net::ERR_' "$log" | grep -v 'dbus' >/dev/null; then
    echo "error: console errors while rendering $html:" >&2
    grep -E 'CONSOLE|Uncaught|Failed to load|net::ERR_' "$log" >&2
    exit 1
fi
echo "rendered $html without console errors; screenshot at $png ($(stat -c %s "$png") bytes)"
