"""Label Studio's SDK on a Label Studio JSON export (crates/clinlabel/tests/it/text_import.rs):

    python labelstudio_check.py EXPORT.json CONFIG.xml

prints JSON: the SDK's validation errors of every annotation and prediction
against the labeling configuration, and for each task the labels results with
Python's reading of them — `slice` is text[start:end] (code points), `found`
the code-point offset of the result's text in the task's text.
"""
import json
import sys


def main():
    from label_studio_sdk.label_interface import LabelInterface
    with open(sys.argv[1], encoding="utf-8") as f:
        tasks = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        li = LabelInterface(f.read())
    out = {"errors": [], "tasks": []}
    for t in tasks:
        text = t["data"]["text"]
        spans = []
        for kind in ("annotations", "predictions"):
            for a in t.get(kind, []):
                errs = li.validate_prediction({"result": a["result"]}, return_errors=True)
                if errs:
                    out["errors"].append({"task": t["id"], kind: errs})
                for r in a["result"]:
                    if r.get("type") == "labels":
                        v = r["value"]
                        spans.append({"label": v["labels"][0], "start": v["start"], "end": v["end"], "text": v["text"],
                                      "slice": text[v["start"]:v["end"]], "found": text.find(v["text"])})
        out["tasks"].append({"id": t["id"], "spans": spans})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
