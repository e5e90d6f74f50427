#!/usr/bin/env bash
# The browser tests: drive the real binary (target/debug/clinlabel, or
# $CLINLABEL_BIN) in Debian's Chromium (/usr/bin/chromium, or $CHROMIUM).
# Run after `cargo build -p clinlabel` (which also installs web/node_modules).
# Exits non-zero on any failure; screenshots of failing pages land in
# web/e2e/artifacts/. Extra arguments go to `playwright test` (e.g. a file name).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
web="$(dirname "$here")"
bin="${CLINLABEL_BIN:-$(dirname "$web")/target/debug/clinlabel}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$bin" ] || { echo "e2e: $bin is missing; run \`cargo build -p clinlabel\` first" >&2; exit 2; }
[ -x "$chromium" ] || { echo "e2e: $chromium is missing; install it with \`apt-get install -y chromium\`" >&2; exit 2; }
cd "$web"
if [ ! -x node_modules/.bin/playwright ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf "$here/artifacts"
export CLINLABEL_BIN="$bin" CHROMIUM="$chromium"
exec node_modules/.bin/playwright test -c e2e/playwright.config.ts "$@"
