#!/usr/bin/env bash
# Benchmark for issue 6: Krippendorff's α (nominal, interval) on 1,000,000 units ×
# 5 coders with 10 % missing values, clinlabel (release build) beside the
# `krippendorff` 0.9.0 Python package on the same data in the same run; checks the
# values are identical (|Δ| ≤ 1e-9) and prints the speed ratio. Also prints the
# span-matching time for 5,000 × 5,000 spans.
# Needs the reference virtualenv from ci/testdata/agreement-reference.sh (created
# on demand). Options pass through to the example: --units N --coders C --seed S.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
venv="$root/venv-agreement"
if [[ ! -x "$venv/bin/python" ]]; then
  "$here/ci/testdata/agreement-reference.sh"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$here"
cargo build --quiet --release -p clinlabel-agreement --example bench_alpha
./target/release/examples/bench_alpha --write "$tmp/data.f64" "$@" > "$tmp/rust.json"
"$venv/bin/python" - "$tmp/data.f64" "$tmp/rust.json" <<'PY'
import json, sys, time
import numpy as np
import krippendorff

rust = json.load(open(sys.argv[2]))
data = np.fromfile(sys.argv[1], dtype="<f8").reshape(rust["coders"], rust["units"])
ok = True
print(f"data: {rust['units']} units x {rust['coders']} coders, {np.isnan(data).mean():.1%} missing, seed {rust['seed']}")
print(f"{'level':<10}{'clinlabel α':>22}{'krippendorff α':>22}{'|Δ|':>10}{'clinlabel s':>13}{'python s':>10}{'ratio':>8}")
for r in rust["alpha"]:
    level = r["level"]
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        v = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        best = min(best, time.perf_counter() - t)
    ours = r["value"]
    delta = abs(ours - v)
    ok &= delta <= 1e-9
    ratio = best / r["end_to_end_seconds"]
    print(f"{level:<10}{ours:>22.15f}{v:>22.15f}{delta:>10.1e}{r['end_to_end_seconds']:>13.4f}{best:>10.3f}{ratio:>7.1f}x")
print("  clinlabel s = krippendorff_alpha_columns on the raw coder-major array (as the package is timed);")
print("  via Table::from_reliability_data + krippendorff_alpha: "
      + ", ".join(f"{r['level']} {r['table_build_and_alpha_seconds']:.4f}s" for r in rust["alpha"])
      + "; α on a built table alone: "
      + ", ".join(f"{r['level']} {r['alpha_seconds']:.4f}s" for r in rust["alpha"]))
s = rust["spans"]
print(f"span matching (overlap, Hungarian per cluster): {s['n_a']} x {s['n_b']} spans -> {s['overlap_pairs']} pairs "
      f"in {s['overlap_match_seconds']*1000:.2f} ms; exact+overlap P/R/F1 {s['exact_and_overlap_prf_seconds']*1000:.2f} ms; "
      f"full span report (+ unitizing α, position α, attributes) {s['full_span_report_seconds']*1000:.2f} ms")
if not ok:
    print("VALUES DIFFER", file=sys.stderr)
    sys.exit(1)
PY
