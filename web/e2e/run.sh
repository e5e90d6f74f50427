#!/usr/bin/env bash
# The web app's checks, for ci/test (run after `cargo build -p clinlabel`,
# which also installs web/node_modules and embeds the built app):
#   1. API types: web/src/api/schema.ts equals what `clinlabel openapi` generates;
#   2. browser tests (which include the first-load JS budget, < 300 KB gzipped,
#      measured on what the binary serves, and print the figure): the real binary (target/debug/clinlabel, or $CLINLABEL_BIN)
#      in Debian's Chromium (/usr/bin/chromium, or $CHROMIUM).
# Exits non-zero if any of them fails; screenshots of failing pages land in
# web/e2e/artifacts/. Extra arguments go to `playwright test` (e.g. a file name).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
web="$(dirname "$here")"
bin="${CLINLABEL_BIN:-$(dirname "$web")/target/debug/clinlabel}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$bin" ] || { echo "e2e: $bin is missing; run \`cargo build -p clinlabel\` first" >&2; exit 2; }
[ -x "$chromium" ] || { echo "e2e: $chromium is missing; install it with \`apt-get install -y chromium\`" >&2; exit 2; }
cd "$web"
if [ ! -x node_modules/.bin/playwright ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error || exit 2
fi
export CLINLABEL_BIN="$bin" CHROMIUM="$chromium"
status=0
node scripts/gen-api.mjs --check || status=1
rm -rf "$here/artifacts"
node_modules/.bin/playwright test -c e2e/playwright.config.ts "$@" || status=1
exit $status
