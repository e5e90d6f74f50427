"""Writes reference values for clinlabel-agreement from the Python reference
implementations (run by ci/testdata/agreement-reference.sh in a throwaway venv).

Output JSON: {"versions": {...}, "tables": [case...], "diarization": [...], "kendall": [...]}
A table case: {"name", "data": coder-major [[value|null per unit] per coder],
"expect": [{"package", "metric", "value": float|null, "note"}]}; value null means
the package raised or returned NaN (clinlabel must then be undefined).
Metric names are clinlabel's (`Metric::name()`).
"""
import json
import math
import sys
import warnings
from importlib.metadata import version

import numpy as np

warnings.filterwarnings("ignore")

import krippendorff
import pandas as pd
from irrCAC.raw import CAC as CAC_raw
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import binary_distance, interval_distance
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

PACKAGES = ["jiwer", "shapely", "medpy", "numpy", "pandas", "scikit-learn", "statsmodels", "krippendorff", "nltk", "irrCAC", "pyannote.metrics", "pyannote.core", "scipy"]


def val(f):
    """Runs f; returns (value or None, note)."""
    try:
        v = float(f())
    except Exception as e:  # noqa: BLE001 - a raise is a reference outcome
        return None, f"raised {type(e).__name__}: {e}"
    if math.isnan(v) or math.isinf(v):
        return None, "returned NaN"
    return v, ""


def table_case(name, data, published=None, degenerate=False, continuous=False):
    """data: coder-major list of lists, None = missing."""
    arr = np.array([[np.nan if x is None else x for x in row] for row in data], dtype=float)
    n_coders, n_units = arr.shape
    complete = not np.isnan(arr).any()
    expect = []

    def add(package, metric, f):
        v, note = val(f)
        expect.append({"package": package, "metric": metric, "value": v, "note": note})

    for level in ["nominal", "ordinal", "interval", "ratio"]:
        add("krippendorff", f"krippendorff_alpha_{level}", lambda level=level: krippendorff.alpha(reliability_data=arr, level_of_measurement=level))

    # nltk: missing values are left out of the task (nltk would otherwise treat
    # None as a label -- see the nltk_none_pitfall case).
    triples = [(str(c), str(u), arr[c, u]) for c in range(n_coders) for u in range(n_units) if not np.isnan(arr[c, u])]
    add("nltk", "krippendorff_alpha_nominal", lambda: AnnotationTask(data=triples, distance=binary_distance).alpha())
    add("nltk", "krippendorff_alpha_interval", lambda: AnnotationTask(data=triples, distance=interval_distance).alpha())
    if complete:
        task = AnnotationTask(data=triples, distance=binary_distance)
        add("nltk", "percent_agreement", task.avg_Ao)
        if n_coders == 2:
            add("nltk", "cohen_kappa", task.kappa)
            add("nltk", "scott_pi", task.pi)
        else:
            add("nltk", "fleiss_kappa", task.pi)  # multi-π = Fleiss' κ on complete data
        add("nltk", "randolph_kappa", task.S)  # S with q = observed labels

    if n_coders == 2 and not continuous:  # sklearn refuses continuous targets
        both = ~np.isnan(arr).any(axis=0)
        y1, y2 = arr[0, both], arr[1, both]
        for w, suffix in [(None, ""), ("linear", "_linear"), ("quadratic", "_quadratic")]:
            add("scikit-learn", f"cohen_kappa{suffix}", lambda w=w: cohen_kappa_score(y1, y2, weights=w))
        labels = np.unique(np.concatenate([y1, y2]))
        ct = np.array([[np.sum((y1 == a) & (y2 == b)) for b in labels] for a in labels], dtype=float)
        if len(labels) > 1:
            add("statsmodels", "cohen_kappa", lambda: cohens_kappa(ct, return_results=False))
            add("statsmodels", "cohen_kappa_linear", lambda: cohens_kappa(ct, wt="linear", return_results=False))
            add("statsmodels", "cohen_kappa_quadratic", lambda: cohens_kappa(ct, wt="quadratic", return_results=False))

    if complete:
        counts, _ = aggregate_raters(arr.T)
        add("statsmodels", "fleiss_kappa", lambda: fleiss_kappa(counts, method="fleiss"))
        add("statsmodels", "randolph_kappa", lambda: fleiss_kappa(counts, method="randolph"))

    ratings = pd.DataFrame(arr.T)
    for w, metric in [("identity", "gwet_ac1"), ("linear", "gwet_ac2_linear"), ("quadratic", "gwet_ac2_quadratic")]:
        add("irrCAC", metric, lambda w=w: CAC_raw(ratings, weights=w, digits=15).gwet()["est"]["coefficient_value"])
    add("irrCAC", "fleiss_kappa", lambda: CAC_raw(ratings, digits=15).fleiss()["est"]["coefficient_value"])

    case = {"name": name, "data": [[None if np.isnan(x) else float(x) for x in row] for row in arr], "expect": expect}
    if published:
        case["published"] = published
    if degenerate:
        case["degenerate"] = True
    return case


def random_table(rng, n_units, n_coders, k, missing, continuous=False):
    truth = rng.integers(1, k + 1, size=n_units)
    data = np.empty((n_coders, n_units))
    for c in range(n_coders):
        keep = rng.random(n_units) < 0.6
        noise = rng.integers(1, k + 1, size=n_units)
        data[c] = np.where(keep, truth, noise)
        if continuous:
            data[c] = np.round(data[c] + rng.normal(0, 0.7, n_units), 2)
            data[c] = np.abs(data[c])
        data[c, rng.random(n_units) < missing] = np.nan
    return [[None if np.isnan(x) else float(x) for x in row] for row in data]


def tables():
    n = None
    cases = []
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C.
    cases.append(table_case("krippendorff_2011", [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ], published={"krippendorff_alpha_nominal": 0.743, "krippendorff_alpha_ordinal": 0.815,
                  "krippendorff_alpha_interval": 0.849, "krippendorff_alpha_ratio": 0.797}))
    # Wikipedia "Krippendorff's alpha" example (as in the krippendorff docstring).
    cases.append(table_case("wikipedia_alpha", [
        [n, n, n, n, n, 3, 4, 1, 2, 1, 1, 3, 3, n, 3],
        [1, n, 2, 1, 3, 3, 4, 3, n, n, n, n, n, n, n],
        [n, n, 2, 1, 3, 4, 4, n, 2, 1, 1, 3, 3, n, 4],
    ], published={"krippendorff_alpha_nominal": 0.691, "krippendorff_alpha_interval": 0.811}))
    # Wikipedia "Cohen's kappa": 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> 0.4.
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    cases.append(table_case("wikipedia_cohen", [a, b], published={"cohen_kappa": 0.4}))
    # Wikipedia "Fleiss' kappa": 10 subjects x 14 raters -> 0.210.
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    units = [[k + 1 for k, c in enumerate(row) for _ in range(c)] for row in counts]
    cases.append(table_case("wikipedia_fleiss", [[u[c] for u in units] for c in range(14)], published={"fleiss_kappa": 0.210}))
    # Degenerate: one value only. krippendorff raises, sklearn/statsmodels give NaN,
    # nltk returns 1; clinlabel returns undefined(single_category).
    cases.append(table_case("one_value_domain", [[2, 2, 2, n], [2, 2, n, 2]], degenerate=True))
    rng = np.random.default_rng(20261127)
    i = 0
    for missing in [0.0, 0.1, 0.3]:
        for n_coders in [2, 3, 5]:
            for k in [2, 3, 5]:
                n_units = int(rng.integers(8, 150))
                cases.append(table_case(f"random_{i}_u{n_units}_c{n_coders}_k{k}_m{missing}",
                                        random_table(rng, n_units, n_coders, k, missing)))
                i += 1
    for missing in [0.0, 0.2]:
        for n_coders in [2, 4]:
            n_units = int(rng.integers(20, 100))
            cases.append(table_case(f"random_continuous_{i}_u{n_units}_c{n_coders}_m{missing}",
                                    random_table(rng, n_units, n_coders, 4, missing, continuous=True), continuous=True))
            i += 1
    return cases


def nltk_none_pitfall():
    """nltk treats None as a label unless missing values are left out."""
    data = [[1, 2, 3, None, 2], [1, 2, 2, 3, None], [None, 2, 3, 3, 2]]
    with_none = [(str(c), str(u), v) for c, row in enumerate(data) for u, v in enumerate(row)]
    without = [t for t in with_none if t[2] is not None]
    return {
        "data": [[None if x is None else float(x) for x in row] for row in data],
        "nltk_alpha_nominal_none_as_label": AnnotationTask(data=with_none).alpha(),
        "nltk_alpha_nominal_missing_left_out": AnnotationTask(data=without).alpha(),
    }


def turns_to_annotation(turns):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, t in enumerate(turns):
        ann[Segment(t["start"], t["end"]), i] = t["speaker"]
    return ann


def diarization():
    """pyannote.metrics DiarizationErrorRate() with its defaults (collar 0, overlap scored)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    rng = np.random.default_rng(5150)
    cases = []
    # Hand-made: speakers swapped names, a missed stretch, a false alarm, overlap.
    hand_ref = [{"start": 0.0, "end": 10.0, "speaker": "doctor"}, {"start": 10.0, "end": 20.0, "speaker": "patient"},
                {"start": 18.0, "end": 22.0, "speaker": "doctor"}]
    hand_hyp = [{"start": 0.0, "end": 9.0, "speaker": "s2"}, {"start": 9.0, "end": 21.0, "speaker": "s1"},
                {"start": 25.0, "end": 26.0, "speaker": "s3"}]
    pairs = [("hand", hand_ref, hand_hyp)]
    for i in range(25):
        n_spk = int(rng.integers(1, 5))
        ref, t = [], 0.0
        for _ in range(int(rng.integers(2, 30))):
            start = round(t + float(rng.uniform(-1.0, 2.0)), 2)
            start = max(start, 0.0)
            end = round(start + float(rng.uniform(0.3, 8.0)), 2)
            ref.append({"start": start, "end": end, "speaker": f"R{int(rng.integers(n_spk))}"})
            t = end
        perm = rng.permutation(n_spk + 1)
        hyp = []
        for r in ref:
            if rng.random() < 0.1:
                continue
            spk = int(r["speaker"][1:])
            if rng.random() < 0.15:
                spk = int(rng.integers(n_spk + 1))
            s0 = max(0.0, round(r["start"] + float(rng.uniform(-0.4, 0.4)), 2))
            e0 = round(max(s0 + 0.05, r["end"] + float(rng.uniform(-0.4, 0.4))), 2)
            hyp.append({"start": s0, "end": e0, "speaker": f"H{int(perm[spk])}"})
        if rng.random() < 0.5:
            s0 = round(float(rng.uniform(0, t + 5)), 2)
            hyp.append({"start": s0, "end": round(s0 + 1.5, 2), "speaker": "H9"})
        pairs.append((f"random_{i}", ref, hyp))
    for name, ref, hyp in pairs:
        d = DiarizationErrorRate()(turns_to_annotation(ref), turns_to_annotation(hyp), detailed=True)
        cases.append({"name": name, "reference": ref, "hypothesis": hyp,
                      "der": d["diarization error rate"], "missed": d["missed detection"],
                      "false_alarm": d["false alarm"], "confusion": d["confusion"], "total": d["total"]})
    return cases


def kendall():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(1945)
    cases = []
    for i in range(25):
        n = int(rng.integers(2, 40))
        levels = int(rng.integers(2, 8)) if i % 2 else n
        x = rng.integers(0, levels, n).astype(float)
        y = np.where(rng.random(n) < 0.6, x, rng.integers(0, levels, n)).astype(float)
        v, note = val(lambda: kendalltau(x, y, variant="b").statistic)
        cases.append({"x": x.tolist(), "y": y.tolist(), "tau_b": v, "note": note})
    return cases


def transcripts():
    """jiwer on already-normalised word sequences (lower-case words, single spaces)."""
    import jiwer

    rng = np.random.default_rng(1966)
    vocab = ["the", "patient", "has", "no", "chest", "pain", "denies", "fever", "mg", "twice", "daily", "née", "don't"]
    cases = []
    for _ in range(25):
        ref = [vocab[i] for i in rng.integers(0, len(vocab), int(rng.integers(1, 30)))]
        hyp = [w if rng.random() < 0.7 else vocab[int(rng.integers(len(vocab)))] for w in ref if rng.random() < 0.9]
        hyp += [vocab[int(rng.integers(len(vocab)))] for _ in range(int(rng.integers(0, 3)))]
        r, h = " ".join(ref), " ".join(hyp)
        cases.append({"reference": r, "hypothesis": h,
                      "wer": val(lambda: jiwer.wer(r, h))[0] if h else None,
                      "cer": val(lambda: jiwer.cer(r, h))[0] if h else None})
    return cases


def polygons():
    """shapely area(A ∩ B) / area(A ∪ B) on random star-shaped (non-convex) polygons."""
    from shapely.geometry import Polygon

    rng = np.random.default_rng(2024)
    cases = []
    for _ in range(40):
        def star():
            k = int(rng.integers(3, 12))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = rng.uniform(2, 10, k)
            cx, cy = rng.uniform(0, 6, 2)
            return [[round(float(cx + r * np.cos(a)), 3), round(float(cy + r * np.sin(a)), 3)] for a, r in zip(ang, rad)]
        a, b = star(), star()
        pa, pb = Polygon(a), Polygon(b)
        if not (pa.is_valid and pb.is_valid):
            continue
        cases.append({"a": a, "b": b, "iou": pa.intersection(pb).area / pa.union(pb).area})
    # Degenerate on purpose: integer rectilinear shapes with shared and collinear
    # edges, identical copies, containment and touching corners.
    def rect(x, y, w, h):
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    def ell(x, y, w, h, cw, ch):  # w×h box with a cw×ch notch cut from the top-right
        return [[x, y], [x + w, y], [x + w, y + h - ch], [x + w - cw, y + h - ch], [x + w - cw, y + h], [x, y + h]]
    shapes = []
    for _ in range(30):
        x, y = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        w, h = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        shapes.append(ell(x, y, w, h, int(rng.integers(1, w)), int(rng.integers(1, h))) if rng.random() < 0.5 else rect(x, y, w, h))
    for i in range(0, 30, 2):
        a, b = shapes[i], shapes[i + 1]
        for bb in (b, a, list(reversed(a))):
            pa, pb = Polygon(a), Polygon(bb)
            u = pa.union(pb).area
            cases.append({"a": a, "b": bb, "iou": pa.intersection(pb).area / u, "degenerate": True})
    return cases


def surfaces():
    """medpy hd / hd95 / assd (connectivity 1) with voxel spacing on random masks."""
    from medpy.metric import binary

    rng = np.random.default_rng(1999)
    cases = []
    for i in range(30):
        if i % 2 == 0:
            shape = (int(rng.integers(4, 30)), int(rng.integers(4, 30)))  # (h, w)
            spacing = [float(rng.uniform(0.3, 2.0)), float(rng.uniform(0.3, 2.0))]  # (y, x)
        else:
            shape = (int(rng.integers(2, 8)), int(rng.integers(4, 16)), int(rng.integers(4, 16)))  # (d, h, w)
            spacing = [float(rng.uniform(1.0, 5.0)), float(rng.uniform(0.3, 2.0)), float(rng.uniform(0.3, 2.0))]
        def blob():
            m = np.zeros(shape, dtype=bool)
            for _ in range(int(rng.integers(1, 4))):
                lo = [int(rng.integers(0, s)) for s in shape]
                hi = [min(s, l + int(rng.integers(1, max(2, s // 2 + 1)))) for l, s in zip(lo, shape)]
                m[tuple(slice(l, h) for l, h in zip(lo, hi))] = True
            m ^= rng.random(shape) < 0.05
            return m
        a, b = blob(), blob()
        if not a.any() or not b.any():
            continue
        cases.append({"shape": list(shape), "spacing": spacing,
                      "a": a.astype(int).ravel().tolist(), "b": b.astype(int).ravel().tolist(),
                      "hd": float(binary.hd(a, b, voxelspacing=spacing)),
                      "hd95": float(binary.hd95(a, b, voxelspacing=spacing)),
                      "assd": float(binary.assd(a, b, voxelspacing=spacing))})
    return cases


def main():
    out = {
        "versions": {p: version(p) for p in PACKAGES},
        "tables": tables(),
        "nltk_none_pitfall": nltk_none_pitfall(),
        "diarization": diarization(),
        "kendall": kendall(),
        "transcripts": transcripts(),
        "polygons": polygons(),
        "surfaces": surfaces(),
    }
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
