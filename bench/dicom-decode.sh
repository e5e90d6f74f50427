#!/usr/bin/env bash
# DICOM benchmark (issue 8), in one run on the same file:
#  1. decode + window/level to 8 bits of a 512×512 CT frame: clinlabel-dicom
#     (release) beside pydicom + numpy. The file is pydicom-data's 693_UNCR.dcm, a
#     real 512×512 CT (explicit VR little endian, 16-bit signed); 693_J2KR.dcm
#     (the same image, JPEG 2000 lossless) is timed too.
#  2. peak memory while ingesting a series of ${DICOM_BENCH_GIB:-2} GiB (copies of that
#     CT with their own UIDs and positions): pre-scan, parse, decode of frame 0,
#     de-identification, grouping — one file at a time. The series is written to a
#     temporary folder and deleted afterwards. DICOM_BENCH_GIB=0 skips this part.
# Needs the test-data virtualenv: bash ci/testdata/dicom.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
py="$data/venv-dicom/bin/python"
[ -x "$py" ] || { echo "run bash ci/testdata/dicom.sh first" >&2; exit 1; }
store="$("$py" -c 'import data_store, os; print(os.path.join(os.path.dirname(data_store.__file__), "data"))')"
iters="${DICOM_BENCH_ITERS:-300}"
cd "$root"
cargo build --release --quiet -p clinlabel-dicom --example bench_decode --example bench_ingest
target="$(cargo metadata --format-version 1 --no-deps | "$py" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

for f in 693_UNCR.dcm 693_J2KR.dcm; do
  file="$store/$f"
  echo "== $f: decode + window/level to 8 bits (median of $iters, ms)"
  rust="$("$target/release/examples/bench_decode" "$file" "$iters")"
  "$py" - "$file" "$iters" "$rust" <<'PY'
import io, json, sys, time, warnings
import numpy as np
import pydicom
warnings.simplefilter("ignore")
path, iters, rust = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
raw = open(path, "rb").read()
c, w = rust["window"]
def window_formula(arr, slope, intercept):
    x = arr.astype(np.float64) * slope + intercept
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)
def window_lut(arr, slope, intercept):
    # the same 64k lookup table as the Rust side, applied with np.take
    lo = -32768 if arr.dtype.kind == "i" else 0
    v = np.arange(lo, lo + 65536, dtype=np.float64) * slope + intercept
    lut = np.clip(np.rint(((v - (c - 0.5)) / (w - 1) + 0.5) * 255.0), 0, 255).astype(np.uint8)
    return np.take(lut, arr.astype(np.int32) - lo)
res = {"open": [], "decode": [], "window_formula": [], "window_lut": [], "total_lut": []}
for _ in range(iters):
    t0 = time.perf_counter()
    ds = pydicom.dcmread(io.BytesIO(raw))
    t1 = time.perf_counter()
    arr = ds.pixel_array
    t2 = time.perf_counter()
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    a = window_formula(arr, slope, intercept)
    t3 = time.perf_counter()
    b = window_lut(arr, slope, intercept)
    t4 = time.perf_counter()
    ms = lambda a, b: (b - a) * 1e3
    res["open"].append(ms(t0, t1)); res["decode"].append(ms(t1, t2))
    res["window_formula"].append(ms(t2, t3)); res["window_lut"].append(ms(t3, t4))
    res["total_lut"].append(ms(t0, t2) + ms(t3, t4))
med = {k: float(np.median(v)) for k, v in res.items()}
print(f"  {'step':<24}{'clinlabel-dicom':>16}{'pydicom+numpy':>16}")
print(f"  {'parse':<24}{rust['open']['median_ms']:>16.3f}{med['open']:>16.3f}")
print(f"  {'decode frame':<24}{rust['decode']['median_ms']:>16.3f}{med['decode']:>16.3f}")
print(f"  {'window/level to 8-bit':<24}{rust['window_8bit']['median_ms']:>16.3f}{med['window_lut']:>16.3f}   (numpy formula: {med['window_formula']:.3f})")
print(f"  {'decode + window':<24}{rust['decode_window']['median_ms']:>16.3f}{med['decode'] + med['window_lut']:>16.3f}")
print(f"  {'parse + decode + window':<24}{rust['total']['median_ms']:>16.3f}{med['total_lut']:>16.3f}   (goal ≤ 2 ms)")
print(f"  {'PNG encode (ours only)':<24}{rust['png']['median_ms']:>16.3f}")
print(f"  pydicom {pydicom.__version__}, numpy {np.__version__}; rust p95 decode+window {rust['decode_window']['p95_ms']:.3f} ms")
PY
done

gib="${DICOM_BENCH_GIB:-2}"
if [ "$gib" != "0" ]; then
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/clinlabel-dicom-bench.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "== ingest of a ${gib} GiB series (peak RSS of the ingesting process)"
  "$target/release/examples/bench_ingest" generate "$store/693_UNCR.dcm" "$tmp/series" "$gib"
  "$target/release/examples/bench_ingest" ingest "$tmp/series"
fi
