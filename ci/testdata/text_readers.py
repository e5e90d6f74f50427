"""Reads clinlabel's text exports back with the field's own readers and prints
what they found as JSON (crates/clinlabel-text/tests/field_readers.rs compares
it with the corpus it exported).

usage: python text_readers.py EXPORT_DIR

EXPORT_DIR holds brat/ (.txt + .ann), annotations.bioc.xml, annotations.conll,
spacy/ (.spacy shards), labelstudio.json and labelstudio.config.xml.
"""
import glob
import json
import os
import sys
import tempfile


def read_brat(d):
    from bratly.annotation_types import (AttributeAnnotation, EntityAnnotation,
                                         NormalizationAnnotation, RelationAnnotation)
    from bratly.collection_types import Document
    from bratly.exceptions import ParsingError
    out = {}
    bratly_fallbacks = []
    for txt in sorted(glob.glob(os.path.join(d, "*.txt"))):
        name = os.path.basename(txt)[:-4]
        doc = Document(fullpath=os.path.abspath(txt))
        # brat counts characters of the file as stored: read it without newline translation.
        text = doc.get_txt_content(untranslated_crlf=True)
        ents, spans, rels = {}, {}, []
        with open(txt[:-4] + ".ann", encoding="utf-8", newline="") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        for line in lines:
            if line.startswith("T"):
                e = EntityAnnotation.from_line(line)
                ents[e.id] = e
                spans[e.id] = {"label": e.label, "start": e.get_start(), "end": e.get_end(),
                               "slice": text[e.get_start():e.get_end()], "content": e.content,
                               "fragments": [[f.start, f.end] for f in e.fragments],
                               "assertion": None, "codes": []}
        for line in lines:
            if line.startswith("A"):
                a = AttributeAnnotation.from_line(line, ents)
                if a.label == "Assertion":
                    spans[a.component.id]["assertion"] = a.values[0]
            elif line.startswith("N"):
                try:
                    n = NormalizationAnnotation.from_line(line, ents)
                    spans[n.component.id]["codes"].append("%s:%s" % n.external_resource)
                except ParsingError:
                    # bratly 0.1.4 accepts only \w+:\w+ ids; brat itself takes any non-space id
                    # ("icd10cm:E11.9"): read those by brat's grammar, N<id>\tReference T<id> db:id\tname.
                    _, ref, _name = line.split("\t")
                    _, target, dbid = ref.split(" ")
                    spans[target]["codes"].append(dbid)
                    bratly_fallbacks.append(line)
            elif line.startswith("R"):
                r = RelationAnnotation.from_line(line, ents)
                rels.append({"type": r.label, "from": [r.argument1[1].get_start(), r.argument1[1].get_end()],
                             "to": [r.argument2[1].get_start(), r.argument2[1].get_end()]})
        out[name] = {"text": text, "spans": list(spans.values()), "relations": rels}
    out["__n_lines_outside_bratly__"] = bratly_fallbacks
    return out


def read_bioc(path):
    import bioc
    with open(path, encoding="utf-8") as f:
        collection = bioc.biocxml.load(f)
    out = []
    for doc in collection.documents:
        p = doc.passages[0]
        text = p.text
        by_id = {}
        spans = []
        for a in p.annotations:
            loc = a.locations[0]
            s = {"id": a.id, "label": a.infons.get("type"), "start": p.offset + loc.offset, "end": p.offset + loc.offset + loc.length,
                 "slice": text[loc.offset:loc.offset + loc.length], "text": a.text,
                 "assertion": a.infons.get("assertion"),
                 "codes": [c for c in a.infons.get("identifier", "").split(";") if c]}
            by_id[a.id] = s
            spans.append(s)
        rels = []
        for r in p.relations:
            roles = {n.role: n.refid for n in r.nodes}
            rels.append({"type": r.infons.get("type"), "from": [by_id[roles["from"]]["start"], by_id[roles["from"]]["end"]],
                         "to": [by_id[roles["to"]]["start"], by_id[roles["to"]]["end"]]})
        out.append({"id": doc.id, "text": text, "infons": dict(doc.infons), "spans": spans, "relations": rels})
    return out


def read_spacy(d):
    import spacy
    from spacy.tokens import DocBin
    nlp = spacy.blank("en")
    out = []
    for shard in sorted(glob.glob(os.path.join(d, "*.spacy"))):
        for doc in DocBin().from_disk(shard).get_docs(nlp.vocab):
            out.append({"text": doc.text,
                        "ents": [{"label": e.label_, "start": e.start_char, "end": e.end_char, "text": e.text,
                                  "kb_id": e.kb_id_, "assertion": e.ent_id_} for e in doc.ents],
                        "cats": doc.cats,
                        "sentences": len(list(doc.sents))})
    return out


def read_conll(path):
    import conllu
    from seqeval.metrics.sequence_labeling import get_entities
    with open(path, encoding="utf-8") as f:
        data = f.read()
    docs = []
    for sent in conllu.parse(data, fields=["form", "pos", "chunk", "ner"]):
        forms = [t["form"] for t in sent]
        if forms and forms[0] == "-DOCSTART-":
            docs.append([])
            continue
        tags = [t["ner"] for t in sent]
        for label, a, b in get_entities(tags):
            docs[-1].append({"label": label, "tokens": " ".join(forms[a:b + 1])})
    return docs


def read_labelstudio(path, config_path):
    from label_studio_sdk.label_interface import LabelInterface
    with open(config_path, encoding="utf-8") as f:
        config = f.read()
    with open(path, encoding="utf-8") as f:
        tasks = json.load(f)
    li = LabelInterface(config)
    out = {"errors": [], "tasks": [], "json_min": None}
    for t in tasks:
        for a in t.get("annotations", []):
            errs = li.validate_prediction({"result": a["result"]}, return_errors=True)
            if errs:
                out["errors"].append({"task": t["id"], "errors": errs})
        for p in t.get("predictions", []):
            errs = li.validate_prediction(p, return_errors=True)
            if errs:
                out["errors"].append({"task": t["id"], "errors": errs})
        spans = []
        text = t["data"]["text"]
        for r in t["annotations"][0]["result"]:
            if r["type"] == "labels":
                v = r["value"]
                spans.append({"label": v["labels"][0], "start": v["start"], "end": v["end"], "text": v["text"],
                              "slice": text[v["start"]:v["end"]]})
        out["tasks"].append({"doc_id": t["data"]["doc_id"], "text": text, "spans": spans})
    # Label Studio's own converter, as a Label Studio user would run it.
    from label_studio_sdk.converter import Converter
    with tempfile.TemporaryDirectory() as tmp:
        c = Converter(config=config, project_dir=None, download_resources=False)
        c.convert_to_json_min(path, tmp, is_dir=False)
        with open(os.path.join(tmp, "result.json"), encoding="utf-8") as f:
            mins = json.load(f)
        out["json_min"] = [{"doc_id": m.get("doc_id"), "label": m.get("label", [])} for m in mins]
    return out


def main():
    d = sys.argv[1]
    result = {
        "brat": read_brat(os.path.join(d, "brat")),
        "bioc": read_bioc(os.path.join(d, "annotations.bioc.xml")),
        "spacy": read_spacy(os.path.join(d, "spacy")),
        "conll": read_conll(os.path.join(d, "annotations.conll")),
        "labelstudio": read_labelstudio(os.path.join(d, "labelstudio.json"), os.path.join(d, "labelstudio.config.xml")),
    }
    json.dump(result, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
