#!/usr/bin/env python3
"""Checks the image exports of a built clinlabel delivery with the field's readers.

usage: delivery_image_check.py EXPORTS_DIR SOURCES_JSON

Run by crates/clinlabel/tests/it/delivery_formats.rs in the venv of
ci/testdata/imaging.sh (pydicom, highdicom, nibabel, pycocotools; dciodvfy
from dicom3tools). EXPORTS_DIR is the delivery's `exports/` folder;
SOURCES_JSON maps each series item id to the paths of the DICOM files the
test uploaded ({"<item id>": ["a.dcm", ...]}). Prints {"checks": [...]}, one
{"name", "ok", "detail"} per check:

  seg.dciodvfy.<file>   no dciodvfy error the source files do not already have
  seg.highdicom.<file>  highdicom segread: segment labels, and for every source
                        instance the mask equals the annotation's polygons
                        rasterised here (numpy, even-odd at pixel centres)
  seg.geometry.<file>   every SEG frame's Plane Position / Orientation / Pixel
                        Spacing equal its source's (pydicom, from the files uploaded)
  nifti.<file>          nibabel: shape, voxels, sform/qform codes, voxel→world of
                        every slice equal to the uploaded files' geometry (RAS)
  coco.load / coco.polygons / coco.eval.bbox / coco.eval.segm

Expected masks come from the stored annotation in exports/native_json (the
polygon points as the tasker drew them), never from the exporters' output.
"""
import glob
import json
import os
import subprocess
import sys
import traceback

import numpy as np
import pydicom

exports = sys.argv[1]
sources = json.load(open(sys.argv[2]))
checks = []


def check(name, fn):
    try:
        detail = fn()
        checks.append({"name": name, "ok": True, "detail": detail or ""})
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        checks.append({"name": name, "ok": False, "detail": f"{type(e).__name__}: {e}\n{traceback.format_exc()[-1500:]}"})


def rasterise(points, rows, cols):
    """Even-odd at pixel centres."""
    pts = np.asarray(points, dtype=np.float64)
    yc = np.arange(rows)[:, None] + 0.5
    xc = np.arange(cols)[None, :] + 0.5
    inside = np.zeros((rows, cols), dtype=bool)
    n = len(pts)
    for i in range(n):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > yc) != (y2 > yc)
        xi = x1 + (yc - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (xc < xi)
    return inside.astype(np.uint8)


def expected_masks(native, annotation_id):
    """{(label, frame index): mask} of one annotation's polygons."""
    s = native["series"]
    ann = next(a for a in native["annotations"] if a["annotation_id"] == annotation_id)
    out = {}
    for sh in ann["image"]["shapes"]:
        if sh["tool"] in ("polygon", "freehand"):
            m = rasterise(sh["points"], s["rows"], s["columns"])
            key = (sh["label"], sh["frame"])
            out[key] = out.get(key, np.zeros_like(m)) | m
    return out


def source_geometry(item_id):
    """Sources sorted along the slice normal by pydicom: [(ipp, iop, spacing, path)]."""
    geo = []
    for p in sources[item_id]:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        geo.append(([float(v) for v in ds.ImagePositionPatient], [float(v) for v in ds.ImageOrientationPatient], [float(v) for v in ds.PixelSpacing], p))
    iop = np.array(geo[0][1])
    normal = np.cross(iop[:3], iop[3:])
    return sorted(geo, key=lambda g: float(np.dot(normal, g[0])))


def dciodvfy_errors(path):
    r = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("Error")]


natives = {}
for p in glob.glob(os.path.join(exports, "native_json", "*.json")):
    n = json.load(open(p))
    natives[n["item_id"]] = n

for seg_path in sorted(glob.glob(os.path.join(exports, "dicom_seg", "*.dcm"))):
    name = os.path.basename(seg_path)

    def seg_dciodvfy(seg_path=seg_path):
        ds = pydicom.dcmread(seg_path, stop_before_pixels=True)
        item_id = next(i for i, n in natives.items() if any(f["sop_instance_uid"] == str(ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID) for f in n["series"]["frames"]))
        inherited = set()
        for p in sources[item_id]:
            inherited.update(dciodvfy_errors(p))
        ours = dciodvfy_errors(seg_path)
        new = [e for e in ours if e not in inherited]
        assert not new, f"dciodvfy errors: {new}"
        return f"0 errors; inherited from the source: {sorted(set(ours))}" if ours else "0 errors"
    check(f"seg.dciodvfy.{name}", seg_dciodvfy)

    def seg_highdicom(seg_path=seg_path):
        import highdicom as hd
        seg = hd.seg.segread(seg_path)
        ds = pydicom.dcmread(seg_path, stop_before_pixels=True)
        annotator = str(ds.ContentCreatorName)
        refs = {str(r.ReferencedSOPInstanceUID) for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
        item_id, native = next((i, n) for i, n in natives.items() if {f["sop_instance_uid"] for f in n["series"]["frames"]} == refs)
        ann = next(a for a in native["annotations"] if a["annotator"] == annotator)
        labels = {l["number"]: l for l in native["segment_labels"]}
        assert list(seg.segment_numbers) == sorted(labels), f"segments {seg.segment_numbers} vs {sorted(labels)}"
        for n, l in labels.items():
            assert seg.get_segment_description(n).segment_label == l["name"]
        want = expected_masks(native, ann["annotation_id"])
        s = native["series"]
        compared = nonempty = 0
        for f in s["frames"]:
            for n, l in labels.items():
                w = want.get((l["id"], f["index"]), np.zeros((s["rows"], s["columns"]), np.uint8))
                try:
                    got = seg.get_pixels_by_source_instance(source_sop_instance_uids=[f["sop_instance_uid"]], segment_numbers=[n], assert_missing_frames_are_empty=True)[0, :, :, 0]
                except (KeyError, ValueError) as e:
                    assert not w.any(), f"frame {f['index']}: no SEG frame ({e}) but {int(w.sum())} pixels expected"
                    continue
                got = np.asarray(got).astype(np.uint8)
                diff = int((got != w).sum())
                assert diff == 0, f"frame {f['index']} segment {n}: {diff} pixels differ ({int(got.sum())} vs {int(w.sum())})"
                compared += 1
                nonempty += int(w.any())
        assert nonempty > 0, "no segmented frame compared"
        return f"item {item_id}, {annotator}: {compared} masks equal, {nonempty} non-empty; highdicom {hd.__version__}"
    check(f"seg.highdicom.{name}", seg_highdicom)

    def seg_geometry(seg_path=seg_path):
        ds = pydicom.dcmread(seg_path)
        refs = {str(r.ReferencedSOPInstanceUID) for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
        item_id, native = next((i, n) for i, n in natives.items() if {f["sop_instance_uid"] for f in n["series"]["frames"]} == refs)
        by_uid = {f["sop_instance_uid"]: f["index"] for f in native["series"]["frames"]}
        geo = source_geometry(item_id)
        shared = ds.SharedFunctionalGroupsSequence[0]
        for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
            src = str(fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
            ipp, iop, sp, _ = geo[by_uid[src]]
            g = lambda seq: fg[seq][0] if seq in fg else shared[seq][0]
            assert np.allclose([float(v) for v in g("PlanePositionSequence").ImagePositionPatient], ipp, atol=1e-4), f"frame {i + 1} position"
            assert np.allclose([float(v) for v in g("PlaneOrientationSequence").ImageOrientationPatient], iop, atol=1e-6), f"frame {i + 1} orientation"
            assert np.allclose([float(v) for v in g("PixelMeasuresSequence").PixelSpacing], sp, atol=1e-6), f"frame {i + 1} spacing"
        return f"{len(ds.PerFrameFunctionalGroupsSequence)} frames on their source slices"
    check(f"seg.geometry.{name}", seg_geometry)

for nii_path in sorted(glob.glob(os.path.join(exports, "nifti", "*.nii.gz"))):
    name = os.path.basename(nii_path)

    def nifti_check(nii_path=nii_path):
        import nibabel as nib
        side = json.load(open(nii_path[:-len(".nii.gz")] + ".json"))
        native = natives[side["item_id"]]
        s = native["series"]
        rows, cols, frames = s["rows"], s["columns"], len(s["frames"])
        img = nib.load(nii_path)
        data = np.asanyarray(img.dataobj)
        assert data.shape == (cols, rows, frames), f"shape {data.shape}"
        assert img.header.get_intent()[0] == "label"
        assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
        numbers = {l["id"]: l["number"] for l in native["segment_labels"]}
        want = np.zeros((frames, rows, cols), np.uint16)
        for (label, frame), m in sorted(expected_masks(native, side["annotation_id"]).items(), key=lambda kv: numbers[kv[0][0]]):
            want[frame][m == 1] = numbers[label]
        got = np.transpose(data, (2, 1, 0))
        diff = int((got != want).sum())
        assert diff == 0, f"{diff} voxels differ"
        lps_to_ras = np.diag([-1.0, -1.0, 1.0])
        geo = source_geometry(side["item_id"])
        for aff_name, aff in (("sform", img.get_sform()), ("qform", img.get_qform())):
            for k, (ipp, iop, sp, _) in enumerate(geo):
                row, col = np.array(iop[:3]), np.array(iop[3:])
                for (i, j) in ((0, 0), (cols - 1, rows - 1)):
                    lps = np.array(ipp) + i * sp[1] * row + j * sp[0] * col
                    world = aff @ np.array([i, j, k, 1.0])
                    assert np.allclose(world[:3], lps_to_ras @ lps, atol=2e-3), f"{aff_name} voxel ({i},{j},{k}): {world[:3]} vs {lps_to_ras @ lps}"
        return f"shape {data.shape}, {int((data != 0).sum())} labelled voxels, sform and qform match the uploaded files; nibabel {nib.__version__}"
    check(f"nifti.{name}", nifti_check)


def coco_all():
    from importlib.metadata import version
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    path = os.path.join(exports, "coco.json")
    gt = COCO(path)
    doc = json.load(open(path))
    n_images = sum(len(natives[m["item_id"]]["series"]["frames"]) for m in doc["clinlabel_annotations"])
    assert len(gt.imgs) == n_images, f"{len(gt.imgs)} images vs {n_images}"
    checks.append({"name": "coco.load", "ok": True, "detail": f"{len(gt.imgs)} images, {len(gt.anns)} annotations; pycocotools {version('pycocotools')}"})

    def polygons():
        n = 0
        for m in doc["clinlabel_annotations"]:
            native = natives[m["item_id"]]
            ann = next(a for a in native["annotations"] if a["annotation_id"] == m["annotation_id"])
            first = m["image_ids"][0]
            for sh in ann["image"]["shapes"]:
                img = first + sh["frame"]
                cands = [a for a in gt.imgToAnns[img] if a["clinlabel"]["shape_id"] == sh["id"]]
                assert len(cands) == 1, f"shape {sh['id']} of {m['annotation_id']}: {len(cands)} COCO annotations on image {img}"
                a = cands[0]
                assert gt.cats[a["category_id"]]["clinlabel_id"] == sh["label"]
                if sh["tool"] == "polygon":
                    flat = [v for p in sh["points"] for v in p]
                    assert np.allclose(a["segmentation"][0], flat), "polygon points differ"
                    assert gt.annToMask(a).any(), "pycocotools draws an empty polygon"
                elif sh["tool"] == "bounding_box_2d":
                    assert np.allclose(a["bbox"], [sh["x0"], sh["y0"], sh["x1"] - sh["x0"], sh["y1"] - sh["y0"]])
                n += 1
        return f"{n} shapes found on their images"
    check("coco.polygons", polygons)

    def evaluate(iou_type):
        res = []
        for a in gt.loadAnns(gt.getAnnIds()):
            r = {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0}
            if iou_type == "bbox":
                r["bbox"] = a["bbox"]
            else:
                r["segmentation"] = gt.annToRLE(a)
            res.append(r)
        dt = gt.loadRes(res)
        e = COCOeval(gt, dt, iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
        ap = float(e.stats[0])
        assert abs(ap - 1.0) < 1e-9, f"AP {ap}"
        return f"AP {ap:.3f} over {len(res)} annotations"
    check("coco.eval.bbox", lambda: evaluate("bbox"))
    check("coco.eval.segm", lambda: evaluate("segm"))


check("coco", coco_all)
# pycocotools prints its evaluation summary on stdout: the result goes last, on one line.
print("\n" + json.dumps({"checks": checks}))
