"""pydicom + numpy side of `clinlabel bench dicom` (run by the Rust bench).

usage: python bench_pydicom.py FILE ITERATIONS CENTER WIDTH OUT_RAW

Times, on bytes already in memory, what the Rust side times:
  cold: pydicom.dcmread(BytesIO) + pixel_array + window/level to uint8
  warm: decode of an already parsed data set (convert_pixel_data) + window/level
The window is PS3.3 C.11.2.1.2's linear VOI function on the modality value
(stored × slope + intercept), vectorised in numpy. Prints one JSON line;
writes the 8-bit frame to OUT_RAW so the caller can compare outputs.
"""
import io
import json
import sys
import time

import numpy as np
import pydicom

path, iters, center, width, out_raw = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
data = open(path, "rb").read()


def window(ds, arr):
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    x = arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    c, w = center - 0.5, max(width - 1.0, 0.0)
    y = ((x - c) / w + 0.5) * 255.0
    return np.rint(np.clip(y, 0.0, 255.0)).astype(np.uint8)


def cold():
    ds = pydicom.dcmread(io.BytesIO(data))
    return window(ds, ds.pixel_array)


ds = pydicom.dcmread(io.BytesIO(data))


def warm():
    ds.convert_pixel_data()
    return window(ds, ds.pixel_array)


def timed(fn):
    for _ in range(min(20, iters)):
        fn()
    t = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1e3)
    t.sort()
    return {"p50_ms": t[len(t) // 2], "p99_ms": t[min(len(t) - 1, len(t) * 99 // 100)]}


out = cold()
open(out_raw, "wb").write(out.tobytes())
print(json.dumps({
    "pydicom": pydicom.__version__,
    "numpy": np.__version__,
    "rows": int(ds.Rows),
    "columns": int(ds.Columns),
    "cold": timed(cold),
    "warm": timed(warm),
}))
