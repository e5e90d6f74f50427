//! Exports a fixture corpus (CRLF, emoji, a ZWJ sequence, combining accents,
//! nested and overlapping spans, relations, codes, assertions, suggestions in
//! every state) in every format, reads each back with our own readers, then
//! with the field's readers — bratly, bioc, spaCy's DocBin, conllu + seqeval,
//! Label Studio's SDK and converter — through `ci/testdata/text_readers.py`
//! in the venv `ci/testdata/text.sh` builds, and checks they find the same
//! spans at the same offsets.

use clinlabel_text::export::{self, FileSink, Format, Options};
use clinlabel_text::ingest::{read_bioc, read_jsonl_annotated};
use clinlabel_text::model::{AnnotatedDocument, Span};
use clinlabel_text::tokenize::{exported_spans, flat_spans};
use serde_json::Value;
use std::path::{Path, PathBuf};

const CORPUS: &str = include_str!("fixtures/corpus.jsonl");

struct Dir(PathBuf);
impl FileSink for Dir {
    fn file(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::write(self.0.join(path), bytes)
    }
}

fn corpus() -> Vec<AnnotatedDocument> {
    read_jsonl_annotated("corpus.jsonl", CORPUS.as_bytes()).collect::<Result<_, _>>().unwrap()
}

fn schema() -> clinlabel_domain::project::LabelSchema {
    serde_json::from_value(serde_json::json!({
        "entity_types": [
            { "id": "disease", "name": "Disease", "code_system": "icd10cm" },
            { "id": "symptom", "name": "Symptom" },
            { "id": "medication", "name": "Medication", "code_system": "rxnorm" }
        ],
        "relation_types": [
            { "id": "treats", "name": "Treats", "from": ["medication"], "to": ["disease"] },
            { "id": "located", "name": "Part of", "from": ["symptom"], "to": ["symptom"] }
        ],
        "assertion_values": ["present", "absent", "possible", "historical", "family_history", "hypothetical"],
        "questions": [{ "id": "doctype", "text": "Type", "kind": "single", "level": "document",
            "options": [{ "id": "progress", "name": "Progress" }, { "id": "discharge", "name": "Discharge" }] }]
    }))
    .unwrap()
}

fn export_all(dir: &Path, docs: &[AnnotatedDocument]) {
    let opts = Options { pending: false, date: "2026-01-01".into() };
    for f in Format::ALL {
        let mut w = match f.single_file() {
            Some(name) => export::writer(f, std::fs::File::create(dir.join(name)).unwrap(), &opts).unwrap(),
            None => {
                let sub = dir.join(f.id());
                std::fs::create_dir_all(&sub).unwrap();
                export::sink_writer(f, Dir(sub), &opts).unwrap()
            }
        };
        for d in docs {
            w.write(d).unwrap();
        }
        w.finish().unwrap();
    }
    let labels = schema().entity_types.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    let rels = schema().relation_types.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    let config = export::labelstudio::labeling_config(
        &labels,
        &rels,
        &schema().assertion_values,
        &[("doctype".into(), vec!["progress".into(), "discharge".into()])],
    );
    std::fs::write(dir.join("labelstudio.config.xml"), config).unwrap();
}

fn key(s: &Span) -> (String, usize, usize, String, Option<String>, Vec<String>) {
    (
        s.label.clone(),
        s.start,
        s.end,
        s.text.clone(),
        s.assertion.map(|a| a.as_str().to_string()),
        s.codes.iter().map(|c| format!("{}:{}", c.system, c.code)).collect(),
    )
}

fn final_keys(d: &AnnotatedDocument) -> Vec<(String, usize, usize, String, Option<String>, Vec<String>)> {
    let mut v: Vec<_> = exported_spans(d, false).into_iter().map(key).collect();
    v.sort();
    v
}

#[test]
fn the_corpus_is_valid_for_its_schema() {
    for d in corpus() {
        assert_eq!(d.validate(&schema()), vec![], "{}", d.id);
    }
}

#[test]
fn our_readers_round_trip_every_export() {
    let docs = corpus();
    let tmp = tempfile::tempdir().unwrap();
    export_all(tmp.path(), &docs);
    // Native JSONL: identical, suggestions and all.
    let back: Vec<_> = read_jsonl_annotated("a", std::fs::File::open(tmp.path().join("annotations.jsonl")).unwrap()).collect::<Result<_, _>>().unwrap();
    assert_eq!(back, docs);
    // BioC.
    let back: Vec<_> = read_bioc("b", std::fs::File::open(tmp.path().join("annotations.bioc.xml")).unwrap()).collect::<Result<_, _>>().unwrap();
    assert_eq!(back.len(), docs.len());
    for (b, d) in back.iter().zip(&docs) {
        assert_eq!((&b.id, &b.text), (&d.id, &d.text));
        let mut got: Vec<_> = b.spans.iter().map(key).collect();
        got.sort();
        assert_eq!(got, final_keys(d), "{}", d.id);
        assert_eq!(b.relations.len(), d.relations.len());
    }
    // BRAT.
    for d in &docs {
        let name = export::safe_name(&d.id);
        let text = std::fs::read_to_string(tmp.path().join("brat").join(format!("{name}.txt"))).unwrap();
        assert_eq!(text, d.text);
        let ann = std::fs::read_to_string(tmp.path().join("brat").join(format!("{name}.ann"))).unwrap();
        let b = export::brat::parse_ann(&d.id, &text, &ann).unwrap();
        let mut got: Vec<_> = b.spans.iter().map(key).collect();
        got.sort();
        assert_eq!(got, final_keys(d), "{}", d.id);
    }
    // Label Studio: final spans come back as annotations (manual), pending ones are predictions.
    let mut back = Vec::new();
    let n = export::labelstudio::import("ls", std::fs::File::open(tmp.path().join("labelstudio.json")).unwrap(), None, |d| {
        back.push(d);
        Ok(())
    })
    .unwrap();
    assert_eq!(n, docs.len());
    for (b, d) in back.iter().zip(&docs) {
        assert_eq!((&b.id, &b.text, &b.metadata), (&d.id, &d.text, &d.metadata));
        let mut got: Vec<_> = b.spans.iter().map(key).collect();
        got.sort();
        assert_eq!(got, final_keys(d), "{}", d.id);
        assert_eq!(b.relations.len(), d.relations.len());
        assert_eq!(b.classifications, d.classifications);
    }
}

#[test]
fn label_studio_import_accepts_utf16_offsets() {
    // An older Label Studio front end counted UTF-16 units: "😀 pain" puts "pain" at 3..7.
    let json = r#"[{"id": 1, "data": {"text": "😀 pain"}, "annotations": [{"result": [
        {"id": "x", "from_name": "label", "to_name": "text", "type": "labels", "value": {"start": 3, "end": 7, "text": "pain", "labels": ["symptom"]}}]}]}]"#;
    let mut got = Vec::new();
    export::labelstudio::import("ls", json.as_bytes(), None, |d| {
        got.push(d);
        Ok(())
    })
    .unwrap();
    assert_eq!((got[0].spans[0].start, got[0].spans[0].end), (2, 6));
    let bad = json.replace("\"start\": 3", "\"start\": 1");
    let e = export::labelstudio::import("ls", bad.as_bytes(), None, |_| Ok(())).unwrap_err();
    assert!(e.to_string().contains("task 1"), "{e}");
}

fn venv_python() -> PathBuf {
    let root = std::env::var_os("CLINLABEL_TESTDATA").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clinlabel-testdata")
    });
    root.join("venv-text/bin/python")
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[test]
fn the_fields_readers_find_the_same_spans() {
    let py = venv_python();
    assert!(
        py.exists(),
        "{} is missing: run `bash ci/testdata/text.sh` (it builds the venv with bratly, bioc, spaCy, conllu, seqeval and label-studio-sdk)",
        py.display()
    );
    let docs = corpus();
    let tmp = tempfile::tempdir().unwrap();
    export_all(tmp.path(), &docs);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/testdata/text_readers.py");
    let out = std::process::Command::new(&py).arg(&script).arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "text_readers.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();

    // BRAT (bratly): same text byte for byte, same spans at the same char offsets.
    for d in &docs {
        let b = &r["brat"][export::safe_name(&d.id)];
        assert_eq!(s(&b["text"]), d.text, "{}", d.id);
        let mut got: Vec<_> = b["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    s(&x["label"]),
                    x["start"].as_u64().unwrap() as usize,
                    x["end"].as_u64().unwrap() as usize,
                    s(&x["slice"]),
                    x["assertion"].as_str().map(String::from),
                    x["codes"].as_array().unwrap().iter().map(s).collect::<Vec<_>>(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, final_keys(d), "brat {}", d.id);
        assert_eq!(b["relations"].as_array().unwrap().len(), d.relations.len(), "brat relations {}", d.id);
    }
    // bratly reads every T, A and R line; N lines whose id has a '.' (ICD-10-CM) are outside its grammar.
    for line in r["brat"]["__n_lines_outside_bratly__"].as_array().unwrap() {
        assert!(s(line).split('\t').nth(1).unwrap().split(':').nth(1).unwrap().contains(|c: char| !c.is_alphanumeric() && c != '_'), "{line}");
    }

    // BioC (the bioc package).
    let bioc = r["bioc"].as_array().unwrap();
    for (b, d) in bioc.iter().zip(&docs) {
        assert_eq!((s(&b["id"]), s(&b["text"])), (d.id.clone(), d.text.clone()));
        let mut got: Vec<_> = b["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                assert_eq!(x["slice"], x["text"]);
                (
                    s(&x["label"]),
                    x["start"].as_u64().unwrap() as usize,
                    x["end"].as_u64().unwrap() as usize,
                    s(&x["text"]),
                    x["assertion"].as_str().map(String::from),
                    x["codes"].as_array().unwrap().iter().map(s).collect::<Vec<_>>(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, final_keys(d), "bioc {}", d.id);
        assert_eq!(b["relations"].as_array().unwrap().len(), d.relations.len());
    }

    // spaCy: Doc.text is the stored text; ents are the non-overlapping spans, with codes and assertions.
    let sp = r["spacy"].as_array().unwrap();
    assert_eq!(sp.len(), docs.len());
    for (x, d) in sp.iter().zip(&docs) {
        assert_eq!(s(&x["text"]), d.text);
        let (flat, _) = flat_spans(&exported_spans(d, false));
        let want: Vec<_> = flat
            .iter()
            .map(|s| (s.label.clone(), s.start, s.end, s.codes.first().map(|c| format!("{}:{}", c.system, c.code)).unwrap_or_default(), s.assertion.map(|a| a.as_str().to_string()).unwrap_or_default()))
            .collect();
        let got: Vec<_> = x["ents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (s(&e["label"]), e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize, s(&e["kb_id"]), s(&e["assertion"])))
            .collect();
        assert_eq!(got, want, "spacy {}", d.id);
        for c in &d.classifications {
            assert_eq!(x["cats"][format!("{}:{}", c.question, c.answers[0])], 1.0);
        }
    }

    // CoNLL-2003 / IOB2 (conllu + seqeval): the same entities, in order, token by token.
    let conll = r["conll"].as_array().unwrap();
    assert_eq!(conll.len(), docs.len());
    for (x, d) in conll.iter().zip(&docs) {
        let (flat, _) = flat_spans(&exported_spans(d, false));
        let want: Vec<_> = flat.iter().map(|s| (s.label.clone(), s.text.split_whitespace().collect::<String>())).collect();
        let got: Vec<_> = x.as_array().unwrap().iter().map(|e| (s(&e["label"]), s(&e["tokens"]).split_whitespace().collect::<String>())).collect();
        assert_eq!(got, want, "conll {}", d.id);
    }

    // Label Studio: the SDK validates every result against the labeling config,
    // and its converter finds the same spans.
    let ls = &r["labelstudio"];
    assert_eq!(ls["errors"], serde_json::json!([]), "Label Studio validation errors");
    for (t, d) in ls["tasks"].as_array().unwrap().iter().zip(&docs) {
        assert_eq!(s(&t["text"]), d.text);
        let mut got: Vec<_> = t["spans"].as_array().unwrap().iter().map(|x| {
            assert_eq!(x["slice"], x["text"]);
            (s(&x["label"]), x["start"].as_u64().unwrap() as usize, x["end"].as_u64().unwrap() as usize)
        }).collect();
        got.sort();
        let want: Vec<_> = final_keys(d).into_iter().map(|k| (k.0, k.1, k.2)).collect();
        assert_eq!(got, want, "labelstudio {}", d.id);
    }
    let mins = ls["json_min"].as_array().unwrap();
    assert_eq!(mins.len(), docs.len());
    for (m, d) in mins.iter().zip(&docs) {
        let mut got: Vec<_> = m["label"].as_array().map(|a| a.iter().map(|x| (x["start"].as_u64().unwrap() as usize, x["end"].as_u64().unwrap() as usize)).collect()).unwrap_or_default();
        got.sort();
        let mut want: Vec<_> = final_keys(d).into_iter().map(|k| (k.1, k.2)).collect();
        want.sort();
        assert_eq!(got, want, "labelstudio converter {}", d.id);
    }
}
