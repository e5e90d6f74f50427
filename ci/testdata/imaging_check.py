#!/usr/bin/env python3
"""Checks clinlabel's image exports with the field's own readers.

usage: imaging_check.py EXPORT_DIR RESULTS_JSON

EXPORT_DIR is what `cargo run -p clinlabel-imaging --example export_corpus`
wrote. Expected masks are computed here, independently of the Rust code, from
each item's native.json (the annotation as stored): label maps decoded from
their row-major run lengths, polygon / freehand outlines rasterised with a
numpy even-odd test at pixel centres (a centre on a left edge is inside, on a
right edge outside), splines from the interpolated polygon native.json
carries. Geometry is computed from the source DICOM files with pydicom.

Checks (each one a {"name", "ok", "detail"} entry in RESULTS_JSON):
  seg.dciodvfy.<series>   dciodvfy reports no error the source files do not
                          already have (errors inherited from the source are listed)
  seg.highdicom.<series>  highdicom segread: segment numbers and labels, and
                          for every segment and source frame the same mask
  seg.geometry.<series>   Plane Position / Orientation / Pixel Spacing of every
                          SEG frame equal the source frame's (pydicom)
  nifti.<series>          nibabel: shape, voxels, intent, sform/qform codes,
                          voxel→world of every frame equal to the DICOM
                          geometry, aff2axcodes equal to the DICOM directions,
                          slice order equal to pydicom's sort along the normal
  nifti.instances.<series> the instance volume's voxels
  nifti.refused.<series>  series that are not volumes were refused
  coco.load / coco.rle / coco.eval.bbox / coco.eval.segm / coco.eval.keypoints
"""
import json
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pydicom

out_dir = Path(sys.argv[1])
results_path = Path(sys.argv[2])
checks = []


def check(name, fn):
    try:
        detail = fn()
        checks.append({"name": name, "ok": True, "detail": detail or ""})
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        checks.append({"name": name, "ok": False, "detail": f"{type(e).__name__}: {e}\n{traceback.format_exc()[-1500:]}"})


# ---------- expected masks from native.json (independent of the Rust code) ----------

def decode_rowmajor(rle, rows, cols):
    out = np.zeros(rows * cols, dtype=np.uint8)
    at = 0
    for i, n in enumerate(rle):
        if i % 2 == 1:
            out[at:at + n] = 1
        at += n
    assert at == rows * cols, "run lengths do not add up"
    return out.reshape(rows, cols)


def rasterise(points, rows, cols):
    """Even-odd at pixel centres: count edge crossings strictly right of the centre."""
    pts = np.asarray(points, dtype=np.float64)
    yc = np.arange(rows)[:, None] + 0.5
    xc = np.arange(cols)[None, :] + 0.5
    inside = np.zeros((rows, cols), dtype=bool)
    n = len(pts)
    for i in range(n):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > yc) != (y2 > yc)  # rows whose centre line the edge crosses
        xi = x1 + (yc - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (xc < xi)
    return inside.astype(np.uint8)


def outline_of(shape, ann):
    t = shape["tool"]
    if t in ("polygon", "freehand"):
        return shape["frame"], shape["points"]
    if t == "spline":
        return shape["frame"], ann["outlines"][shape["id"]]
    return None


def expected(native):
    """(label_masks {(label, frame): mask}, instance parts [(key, frame, mask)] in paint order)."""
    s = native["series"]
    rows, cols = s["rows"], s["columns"]
    ann = native["annotations"][0]
    img = ann["image"]
    labels = {}
    instances = []
    for sh in img["shapes"]:
        o = outline_of(sh, ann)
        if o is None:
            continue
        f, pts = o
        m = rasterise(pts, rows, cols)
        key = (sh["label"], f)
        labels[key] = labels.get(key, np.zeros((rows, cols), np.uint8)) | m
        instances.append(((sh["label"], sh["id"]), f, m))
    for mf in img["masks"]:
        m = decode_rowmajor(mf["rle"], mf["rows"], mf["columns"])
        key = (mf["label"], mf["frame"])
        labels[key] = labels.get(key, np.zeros((rows, cols), np.uint8)) | m
        instances.append(((mf["label"], f"mask:{mf['instance']}"), mf["frame"], m))
    return labels, instances


# ---------- DICOM geometry of the sources, by pydicom ----------

def source_frames(summary):
    """{(sop_uid, frame_number): (ipp, iop, spacing)} from the source files."""
    geo = {}
    for p in summary["files"]:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        n = int(ds.get("NumberOfFrames", 1) or 1)
        shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
        per = ds.PerFrameFunctionalGroupsSequence if "PerFrameFunctionalGroupsSequence" in ds else None
        for f in range(1, n + 1):
            def get(seq, attr, default):
                for g in ([per[f - 1]] if per is not None else []) + ([shared] if shared is not None else []):
                    if seq in g and attr in g[seq][0]:
                        return [float(v) for v in g[seq][0][attr].value]
                return default
            ipp = get("PlanePositionSequence", "ImagePositionPatient", [float(v) for v in ds.ImagePositionPatient] if "ImagePositionPatient" in ds else None)
            iop = get("PlaneOrientationSequence", "ImageOrientationPatient", [float(v) for v in ds.ImageOrientationPatient] if "ImageOrientationPatient" in ds else None)
            sp = get("PixelMeasuresSequence", "PixelSpacing", [float(v) for v in ds.PixelSpacing] if "PixelSpacing" in ds else None)
            geo[(str(ds.SOPInstanceUID), f)] = (ipp, iop, sp)
    return geo


def dciodvfy_errors(path):
    r = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    lines = (r.stdout + r.stderr).splitlines()
    return [l for l in lines if l.startswith("Error")]


# ---------- the checks ----------

index = json.loads((out_dir / "index.json").read_text())
natives = {}

for name in index["series"]:
    d = out_dir / name
    native = json.loads((d / "native.json").read_text())
    natives[name] = native
    summary = json.loads((d / "summary.json").read_text())
    s = native["series"]
    rows, cols = s["rows"], s["columns"]
    labels, instances = expected(native)
    numbers = {l["id"]: l["number"] for l in native["segment_labels"]}
    names = {l["id"]: l["name"] for l in native["segment_labels"]}
    frames = s["frames"]

    if (d / "seg.dcm").exists():
        def seg_dciodvfy():
            ours = dciodvfy_errors(d / "seg.dcm")
            inherited = set()
            for p in summary["files"]:
                inherited.update(dciodvfy_errors(p))
            new = [e for e in ours if e not in inherited]
            assert not new, f"dciodvfy errors: {new}"
            return f"0 errors; inherited from the source: {sorted(set(ours))}" if ours else "0 errors"
        check(f"seg.dciodvfy.{name}", seg_dciodvfy)

        def seg_highdicom():
            import highdicom as hd
            seg = hd.seg.segread(str(d / "seg.dcm"))
            assert list(seg.segment_numbers) == sorted(numbers.values()), f"segments {seg.segment_numbers} vs {numbers}"
            for lid, n in numbers.items():
                desc = seg.get_segment_description(n)
                assert desc.segment_label == names[lid], f"segment {n} label {desc.segment_label!r} vs {names[lid]!r}"
            compared = nonempty = 0
            for f in frames:
                uid, fn = f["sop_instance_uid"], f["frame_number"]
                for lid, n in numbers.items():
                    want = labels.get((lid, f["index"]), np.zeros((rows, cols), np.uint8))
                    try:
                        if f["instance_frames"] > 1:
                            got = seg.get_pixels_by_source_frame(source_sop_instance_uid=uid, source_frame_numbers=[fn], segment_numbers=[n], assert_missing_frames_are_empty=True)[0, :, :, 0]
                        else:
                            got = seg.get_pixels_by_source_instance(source_sop_instance_uids=[uid], segment_numbers=[n], assert_missing_frames_are_empty=True)[0, :, :, 0]
                    except (KeyError, ValueError) as e:
                        # No SEG frame references this source frame at all.
                        assert not want.any(), f"frame {f['index']} segment {n}: highdicom finds no frame ({e}) but {int(want.sum())} pixels expected"
                        continue
                    got = np.asarray(got).astype(np.uint8)
                    assert got.shape == want.shape, f"shape {got.shape} vs {want.shape}"
                    diff = int((got != want).sum())
                    assert diff == 0, f"frame {f['index']} ({uid} #{fn}) segment {n} ({lid}): {diff} pixels differ ({int(got.sum())} set vs {int(want.sum())} expected)"
                    compared += 1
                    nonempty += int(want.any())
            assert nonempty > 0, "no segmented frame compared"
            return f"{compared} (segment, source frame) masks equal, {nonempty} non-empty; highdicom {hd.__version__}"
        check(f"seg.highdicom.{name}", seg_highdicom)

        def seg_geometry():
            ds = pydicom.dcmread(d / "seg.dcm")
            geo = source_frames(summary)
            src_for = pydicom.dcmread(summary["files"][0], stop_before_pixels=True).get("FrameOfReferenceUID")
            n = 0
            for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
                src = fg.DerivationImageSequence[0].SourceImageSequence[0]
                key = (str(src.ReferencedSOPInstanceUID), int(src.get("ReferencedFrameNumber", 1)))
                assert key in geo, f"SEG frame {i + 1} references {key}, not a source frame"
                ipp, iop, sp = geo[key]
                if ipp is None or not src_for:
                    # No patient geometry (or no Frame of Reference to put it in).
                    assert "PlanePositionSequence" not in fg and "FrameOfReferenceUID" not in ds, "geometry written for a source without it"
                    n += 1
                    continue
                shared = ds.SharedFunctionalGroupsSequence[0]
                g = lambda seq: fg[seq][0] if seq in fg else shared[seq][0]
                assert np.allclose([float(v) for v in g("PlanePositionSequence").ImagePositionPatient], ipp, atol=1e-4), f"frame {i + 1} position"
                assert np.allclose([float(v) for v in g("PlaneOrientationSequence").ImageOrientationPatient], iop, atol=1e-6), f"frame {i + 1} orientation"
                assert np.allclose([float(v) for v in g("PixelMeasuresSequence").PixelSpacing], sp, atol=1e-6), f"frame {i + 1} spacing"
                assert str(ds.FrameOfReferenceUID) == str(src_for)
                n += 1
            assert n == int(ds.NumberOfFrames)
            refs = {str(r.ReferencedSOPInstanceUID) for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
            assert refs == {k[0] for k in geo}, "Referenced Instance Sequence is not the source instances"
            return f"{n} frames match their source frames"
        check(f"seg.geometry.{name}", seg_geometry)
    else:
        checks.append({"name": f"seg.written.{name}", "ok": False, "detail": json.dumps(summary.get("seg_error"))})

    if (d / "labels.nii.gz").exists():
        def nifti_check():
            import nibabel as nib
            from nibabel.orientations import aff2axcodes
            img = nib.load(str(d / "labels.nii.gz"))
            data = np.asanyarray(img.dataobj)
            assert data.shape == (cols, rows, len(frames)), f"shape {data.shape}"
            assert img.header.get_intent()[0] == "label", img.header.get_intent()
            assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
            # Voxels: paint labels in segment-number order (later wins).
            want = np.zeros((len(frames), rows, cols), np.uint16)
            for lid, n in sorted(numbers.items(), key=lambda kv: kv[1]):
                for f in frames:
                    m = labels.get((lid, f["index"]))
                    if m is not None:
                        want[f["index"]][m == 1] = n
            got = np.transpose(data, (2, 1, 0))
            diff = int((got != want).sum())
            assert diff == 0, f"{diff} voxels differ"
            # Slice order: pydicom's own sort of the source frames along the normal.
            geo = source_frames(summary)
            keys = [(f["sop_instance_uid"], f["frame_number"]) for f in frames]
            iop = np.array(geo[keys[0]][1])
            normal = np.cross(iop[:3], iop[3:])
            by_normal = sorted(geo, key=lambda k: float(np.dot(normal, geo[k][0])))
            assert by_normal == keys, "slice order differs from pydicom's sort along the normal"
            # Voxel → world: every frame's first pixel and its far corner.
            lps_to_ras = np.diag([-1.0, -1.0, 1.0])
            for aff_name, aff in (("sform", img.get_sform()), ("qform", img.get_qform())):
                for k, key in enumerate(keys):
                    ipp, o, sp = geo[key]
                    row, col = np.array(o[:3]), np.array(o[3:])
                    for (i, j) in ((0, 0), (cols - 1, 0), (0, rows - 1), (cols - 1, rows - 1)):
                        lps = np.array(ipp) + i * sp[1] * row + j * sp[0] * col
                        world = aff @ np.array([i, j, k, 1.0])
                        assert np.allclose(world[:3], lps_to_ras @ lps, atol=2e-3), f"{aff_name}: voxel ({i},{j},{k}) at {world[:3]} vs DICOM {lps_to_ras @ lps}"
            # Orientation codes from the DICOM directions (LPS → letters of RAS codes).
            def letter(v):
                a = int(np.argmax(np.abs(v)))
                return [("R", "L"), ("A", "P"), ("I", "S")][a][int(v[a] > 0)]
            step = np.array(geo[keys[-1]][0]) - np.array(geo[keys[0]][0]) if len(keys) > 1 else normal
            want_codes = (letter(row), letter(col), letter(step))
            codes = aff2axcodes(img.affine)
            assert tuple(codes) == want_codes, f"aff2axcodes {codes} vs DICOM {want_codes}"
            return f"shape {data.shape}, axcodes {''.join(codes)}, sform and qform match DICOM; nibabel {nib.__version__}"
        check(f"nifti.{name}", nifti_check)

        def nifti_instances():
            import nibabel as nib
            img = nib.load(str(d / "instances.nii"))
            got = np.transpose(np.asanyarray(img.dataobj), (2, 1, 0))
            table = {(l["label"], l["instance"]): l["value"] for l in summary["nifti_instances"]["labels"]}
            want = np.zeros_like(got)
            for key, f, m in instances:
                want[f][m == 1] = table[key]
            diff = int((got != want).sum())
            assert diff == 0, f"{diff} voxels differ"
            return f"{len(table)} instances"
        check(f"nifti.instances.{name}", nifti_instances)
    else:
        def refused():
            err = summary.get("nifti_error") or {}
            assert err.get("code") == "not_a_volume", f"NIfTI neither written nor refused as not a volume: {err}"
            return err.get("message")
        check(f"nifti.refused.{name}", refused)

# ---------- COCO ----------

coco_path = out_dir / "coco.json"


def coco_all():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    from pycocotools import mask as mu
    from importlib.metadata import version

    gt = COCO(str(coco_path))
    n_frames = sum(len(n["series"]["frames"]) for n in natives.values())
    assert len(gt.imgs) == n_frames, f"{len(gt.imgs)} images vs {n_frames} frames"
    kp_cats = [c["id"] for c in gt.loadCats(gt.getCatIds()) if c.get("keypoints")]
    obj_cats = [c for c in gt.getCatIds() if c not in kp_cats]
    assert kp_cats and gt.loadCats(kp_cats)[0]["keypoints"] == ["carina", "left main", "right main"]
    assert gt.loadCats(kp_cats)[0]["skeleton"] == [[1, 2], [1, 3]]
    checks.append({"name": "coco.load", "ok": True, "detail": f"{len(gt.imgs)} images, {len(gt.anns)} annotations, {len(gt.cats)} categories; pycocotools {version('pycocotools')}"})

    def rle_check():
        n = 0
        for a in gt.anns.values():
            seg = a.get("segmentation")
            if not isinstance(seg, dict):
                continue
            im = gt.imgs[a["image_id"]]
            native = natives[im["clinlabel"]["item_id"]]
            s = native["series"]
            want = np.zeros((s["rows"], s["columns"]), np.uint8)
            for mf in native["annotations"][0]["image"]["masks"]:
                if mf["frame"] == im["clinlabel"]["frame"] and mf["label"] == gt.cats[a["category_id"]]["clinlabel_id"] and mf["instance"] == a["clinlabel"]["instance"]:
                    want |= decode_rowmajor(mf["rle"], mf["rows"], mf["columns"])
            got = mu.decode(seg)
            assert got.shape == want.shape and (got == want).all(), f"annotation {a['id']}: {int((got != want).sum())} pixels differ"
            assert int(mu.area(seg)) == a["area"] == int(want.sum())
            assert [int(v) for v in mu.toBbox(seg)] == [int(v) for v in a["bbox"]], f"bbox {a['bbox']} vs {mu.toBbox(seg)}"
            n += 1
        assert n > 0
        return f"{n} RLE masks decode to the native label maps"
    check("coco.rle", rle_check)

    def evaluate(iou_type, cats, sigmas=None):
        res = []
        for a in gt.loadAnns(gt.getAnnIds(catIds=cats)):
            r = {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0}
            if iou_type == "bbox":
                r["bbox"] = a["bbox"]
            elif iou_type == "segm":
                r["segmentation"] = gt.annToRLE(a)
            else:
                r["keypoints"] = a["keypoints"]
            res.append(r)
        dt = gt.loadRes(res)
        e = COCOeval(gt, dt, iou_type)
        e.params.catIds = cats
        if sigmas is not None:
            e.params.kpt_oks_sigmas = sigmas
        e.evaluate()
        e.accumulate()
        e.summarize()
        ap = float(e.stats[0])
        assert abs(ap - 1.0) < 1e-9, f"AP {ap}"
        return f"AP {ap:.3f} over {len(res)} annotations"

    check("coco.eval.bbox", lambda: evaluate("bbox", obj_cats))
    check("coco.eval.segm", lambda: evaluate("segm", obj_cats))
    check("coco.eval.keypoints", lambda: evaluate("keypoints", kp_cats, np.full(3, 0.05)))


check("coco", coco_all)
results_path.write_text(json.dumps({"checks": checks}, indent=1))
bad = [c for c in checks if not c["ok"]]
for c in checks:
    first = c["detail"].splitlines()[0] if c["detail"] else ""
    print(f'{"ok  " if c["ok"] else "FAIL"} {c["name"]}: {first}')
print(f"{len(checks) - len(bad)}/{len(checks)} checks passed")
