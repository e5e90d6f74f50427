"""Reference values for crates/clinlabel-dicom (issue 8), written by ci/testdata/dicom.sh.

Two modes:

  dicom_reference.py reference OUT_DIR
      For every pydicom (and pydicom-data) test file that pydicom 3 reads without
      `force` and that has Pixel Data, decode frame 0 with pydicom's own
      `pixel_array` (default options: YBR is converted to RGB, no rescale), and write
        OUT_DIR/frames/<n>.raw   the frame as little-endian bytes, C order
                                 (rows, cols[, samples])
        OUT_DIR/reference.json   one entry per file: name, path, transfer syntax,
                                 dtype, shape, sha256 of the raw bytes, metadata
      Files that pydicom fails to decode are listed with pydicom's error: they are
      not a requirement for the Rust decoder.

  dicom_reference.py verify-deid ORIGINAL_DIR DEID_DIR OUT_JSON
      Re-reads with pydicom every file the Rust de-identifier wrote (DEID_DIR holds
      <name>.dcm files and a manifest.json mapping them to originals), checks that
      pydicom reads it, that no private tag is left, that Patient Identity Removed
      is YES, and that frame 0 is unchanged, and writes the verdicts to OUT_JSON.
"""

import hashlib
import json
import os
import re
import sys
import warnings

import numpy as np
import pydicom
import pydicom.data
from pydicom.pixels import pixel_array

LOSSY = {
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossy allowed)
}


def name_for(path):
    parts = path.replace(os.sep, "/").split("/")
    if "test_files" in parts:
        i = parts.index("test_files")
        return "pydicom/" + "/".join(parts[i + 1 :])
    if "data_store" in parts:
        i = parts.index("data_store")
        return "pydicom-data/" + "/".join(parts[i + 2 :])
    return path


def num(v):
    if v is None:
        return None
    try:
        if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
            return [float(x) for x in v]
        return float(v)
    except (TypeError, ValueError):
        return None


def text(v):
    return None if v is None else str(v)


def frame0(path, ds):
    """pydicom's frame 0 of a file (falling back to the data set for the deflated
    syntax, which pixel_array(path) does not inflate)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pixel_array(path, index=0)
        except AttributeError:
            arr = ds.pixel_array
            return arr[0] if int(ds.get("NumberOfFrames") or 1) > 1 else arr


def reference(out_dir):
    frames_dir = os.path.join(out_dir, "frames")
    os.makedirs(frames_dir, exist_ok=True)
    entries, failures, no_pixels = [], [], []
    files = sorted(set(pydicom.data.get_testdata_files()))
    for n, path in enumerate(files):
        name = name_for(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
        except Exception as e:  # not readable without force: not a reference
            no_pixels.append({"name": name, "reason": f"dcmread: {type(e).__name__}: {e}"[:300]})
            continue
        if "PixelData" not in ds:
            no_pixels.append({"name": name, "reason": "no Pixel Data"})
            continue
        ts = text(ds.file_meta.get("TransferSyntaxUID")) if "file_meta" in dir(ds) else None
        try:
            arr = frame0(path, ds)
        except Exception as e:
            failures.append({"name": name, "path": path, "transfer_syntax": ts,
                             "error": f"{type(e).__name__}: {e}"[:300]})
            continue
        arr = np.ascontiguousarray(arr)
        le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        raw = le.tobytes()
        raw_name = f"{n:04d}.raw"
        with open(os.path.join(frames_dir, raw_name), "wb") as f:
            f.write(raw)
        g = ds.get
        entries.append({
            "name": name,
            "path": path,
            "transfer_syntax": ts,
            "lossy": ts in LOSSY,
            "dtype": str(le.dtype),
            "shape": list(arr.shape),
            "raw": "frames/" + raw_name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "rows": g("Rows"),
            "columns": g("Columns"),
            "frames": int(g("NumberOfFrames") or 1),
            "samples_per_pixel": g("SamplesPerPixel"),
            "bits_allocated": g("BitsAllocated"),
            "bits_stored": g("BitsStored"),
            "pixel_representation": g("PixelRepresentation"),
            "photometric": text(g("PhotometricInterpretation")),
            "planar_configuration": g("PlanarConfiguration"),
            "rescale_slope": num(g("RescaleSlope")),
            "rescale_intercept": num(g("RescaleIntercept")),
            "modality": text(g("Modality")),
            "study_uid": text(g("StudyInstanceUID")),
            "series_uid": text(g("SeriesInstanceUID")),
            "sop_uid": text(g("SOPInstanceUID")),
            "instance_number": num(g("InstanceNumber")),
        })
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({
            "pydicom": pydicom.__version__,
            "numpy": np.__version__,
            "entries": entries,
            "pydicom_failures": failures,
            "not_references": no_pixels,
        }, f, indent=1)
    print(f"dicom reference: {len(entries)} frames, {len(failures)} that pydicom cannot decode, "
          f"{len(no_pixels)} without pixel data or unreadable")


def verify_deid(orig_dir, deid_dir, out_json):
    with open(os.path.join(deid_dir, "manifest.json")) as f:
        manifest = json.load(f)
    results = []
    for item in manifest["files"]:
        out = os.path.join(deid_dir, item["output"])
        r = {"output": item["output"], "original": item["original"], "ok": False, "problems": []}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(out)
            priv = [str(e.tag) for e in ds.iterall() if e.tag.is_private]
            if priv:
                r["problems"].append(f"private tags left: {priv[:5]}")
            if ds.get("PatientIdentityRemoved") != "YES":
                r["problems"].append("PatientIdentityRemoved is not YES")
            if str(ds.get("PatientName", "")) != "":
                r["problems"].append("PatientName not empty")
            if ds.file_meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
                r["problems"].append("MediaStorageSOPInstanceUID != SOPInstanceUID")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                orig = pydicom.dcmread(item["original"])
            if ds.SOPInstanceUID == orig.SOPInstanceUID:
                r["problems"].append("SOPInstanceUID not replaced")
            for kw in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
                v = ds.get(kw)
                if v is not None and not re.fullmatch(r"2\.25\.[0-9]{1,39}", str(v)):
                    r["problems"].append(f"{kw} is not one 2.25 UID: {str(v)[:80]}")
            r["sop_uid"] = str(ds.SOPInstanceUID)
            r["study_uid"] = str(ds.get("StudyInstanceUID", ""))
            if "PixelData" in orig:
                a = frame0(item["original"], orig)
                b = frame0(out, ds)
                if a.shape != b.shape or not np.array_equal(a, b):
                    r["problems"].append("frame 0 differs from the original")
            r["ok"] = not r["problems"]
        except Exception as e:
            r["problems"].append(f"{type(e).__name__}: {e}"[:300])
        results.append(r)
    with open(out_json, "w") as f:
        json.dump({"pydicom": pydicom.__version__, "results": results}, f, indent=1)
    bad = [r for r in results if not r["ok"]]
    print(f"de-identified files re-read by pydicom: {len(results) - len(bad)}/{len(results)} ok")
    for r in bad:
        print("  FAIL", r["output"], r["problems"])
    return 0 if not bad else 1


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    if len(sys.argv) == 3 and sys.argv[1] == "reference":
        reference(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "verify-deid":
        sys.exit(verify_deid(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
