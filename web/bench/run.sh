#!/usr/bin/env bash
# Browser benchmarks of the web app against the real binary in Debian's
# Chromium: the image viewer's window/level redraw of a 512×512 CT frame;
# the text workspace on a 200,000-character note.
# Prints figures; asserts nothing about speed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
web="$(dirname "$here")"
export CLINLABEL_BIN="${CLINLABEL_BIN:-$(dirname "$web")/target/release/clinlabel}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CLINLABEL_BIN" ] || { echo "bench: $CLINLABEL_BIN is missing; run \`cargo build --release -p clinlabel\`" >&2; exit 2; }
cd "$web"
exec node_modules/.bin/playwright test -c bench/playwright.config.ts "$@"
