//! A delivery in the field's formats, on both databases: a text project
//! (BRAT, BioC, CoNLL/IOB2, spaCy, Label Studio) and an image project on real
//! DICOM (DICOM SEG, NIfTI, COCO, native JSON), each from an approved batch
//! to a certified delivery; the manifest lists every file; the outputs read
//! back with our own readers and with the field's (bratly, bioc, spaCy,
//! conllu + seqeval, Label Studio's SDK through `ci/testdata/text.sh`'s venv;
//! dciodvfy, highdicom, nibabel, pycocotools through `ci/testdata/imaging.sh`'s).

use crate::imaging::{read, reference, sign_agreements, testdata, upload};
use crate::projects::track;
use crate::support::*;
use crate::support::taskers;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use clinlabel_domain::Role;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

fn venv_python(name: &str, script: &str) -> PathBuf {
    let py = testdata().join(format!("venv-{name}/bin/python"));
    assert!(py.exists(), "{} is missing: run `bash ci/testdata/{script}` (it builds the venv with the field's readers)", py.display());
    py
}

/// Submitted, reviewed, approved: the PM spot-checks (tier 3) and the QA reviewer approves every batch.
async fn approve(app: &TestApp, w: &World, project: &str) {
    let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
    loop {
        let t = pm.post("/api/v1/reviews/next?tier=3", json!({})).await;
        if t.status == StatusCode::NO_CONTENT {
            break;
        }
        let r = pm.post(&format!("/api/v1/tasks/{}/review", t.body["id"].as_str().unwrap()), json!({ "decision": "accept" })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let mut qa = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
    let batches = qa.get(&format!("/api/v1/projects/{project}/batches")).await.body;
    for b in batches.as_array().unwrap() {
        let r = qa.post(&format!("/api/v1/batches/{}/decision", b["id"].as_str().unwrap()), json!({ "decision": "approve" })).await;
        assert_eq!(r.body["state"], "approved", "{}", r.body);
    }
}


/// The PM builds, the QA reviewer certifies, the client downloads the zip;
/// it passes `clinlabel delivery verify` and is unpacked. Returns the
/// delivery as built and the unpacked folder.
async fn build_and_download(app: &TestApp, w: &World, project: &str, dir: &Path) -> (Value, PathBuf) {
    let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
    let r = pm.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let d = r.body.clone();
    let id = d["id"].as_str().unwrap();
    let mut qa = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
    let r = qa.post(&format!("/api/v1/deliveries/{id}/certify"), json!({ "statement": "I certify that every batch of this delivery passed QA.", "password": PASSWORD })).await;
    assert_eq!(r.body["state"], "certified", "{}", r.body);
    let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
    let link = ca.post(&format!("/api/v1/deliveries/{id}/links"), json!({})).await;
    assert_eq!(link.status, StatusCode::CREATED, "{}", link.body);
    let res = app.router.clone().oneshot(ca.request(Method::GET, link.body["url"].as_str().unwrap()).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let zip = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    let zip_path = dir.join("delivery.zip");
    std::fs::write(&zip_path, &zip).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clinlabel")).args(["delivery", "verify"]).arg(&zip_path).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let unpacked = dir.join("unpacked");
    zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap().extract(&unpacked).unwrap();
    let root = unpacked.join(d["folder"].as_str().unwrap());
    // The manifest lists exactly the files of the folder (besides the certifying five), with size and SHA-256.
    let manifest: Value = serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let listed: BTreeMap<String, (u64, String)> =
        manifest["files"].as_array().unwrap().iter().map(|f| (f["path"].as_str().unwrap().to_string(), (f["size"].as_u64().unwrap(), f["sha256"].as_str().unwrap().to_string()))).collect();
    let mut on_disk = BTreeMap::new();
    for e in walk(&root) {
        let rel = e.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if ["manifest.json", "manifest.sig", "certification.json", "certification.sig", "signing-key.pem"].contains(&rel.as_str()) {
            continue;
        }
        let bytes = std::fs::read(&e).unwrap();
        on_disk.insert(rel, (bytes.len() as u64, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))));
    }
    assert_eq!(listed, on_disk);
    let paths: Vec<&str> = d["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), listed.len());
    (d, root)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

// -- text ---------------------------------------------------------------------------------

/// Five notes: two lines of a JSONL file (CRLF, an emoji, a combining accent),
/// a .txt file, a CSV row (quoted, with a line break) and a BioC document.
const N1: &str = "HPI: 67 yo woman with cough.\r\nShe denies nausea. Mother had asthma.\r\nOn metformin \u{1F48A} for diabetes; e\u{301}dema of ankles.\r\n";
const N2: &str = "Follow-up visit. No chest pain today.\nBP stable.";
const N3: &str = "Discharge summary:\r\nPatient recovered from pneumonia.\r\n";
const N4: &str = "Chest X-ray:\r\nno \"effusion\" seen.";
const N5: &str = "Known hypertension, on lisinopril.";
const NOTES: [&str; 5] = [N1, N2, N3, N4, N5];

fn text_spec(track: &str) -> Value {
    json!({
        "name": "Problem list delivery",
        "modality": "text",
        "task_types": ["entities", "relations", "assertion", "classification"],
        "schema": {
            "entity_types": [{ "id": "disease", "name": "Disease" }, { "id": "symptom", "name": "Symptom" }, { "id": "medication", "name": "Medication" }],
            "relation_types": [{ "id": "treats", "name": "Treats", "from": ["medication"], "to": ["disease"] }],
            "assertion_values": ["present", "absent", "possible", "historical", "family_history", "hypothetical"],
            "questions": [{ "id": "doctype", "text": "Document type", "kind": "single", "level": "document",
                "options": [{ "id": "discharge", "name": "Discharge summary" }, { "id": "progress", "name": "Progress note" }] }]
        },
        "output_formats": ["native_jsonl", "brat", "bioc", "conll", "spacy", "label_studio"],
        "deadline": clinlabel_store::db::now_ms() + 30 * 86_400_000,
        "track_id": track,
        "overlap": 1,
        "gold_rate": 0.0,
        "qa": { "tier1": false, "tier2_sampling_pct": 0, "tier3_spot_check_pct": 5, "quality_threshold": 0.5, "max_rework_rounds": 2 }
    })
}

/// What the tasker marks in each note: (label, covered text, assertion).
fn marks(note: &str) -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    match note {
        N1 => vec![
            ("symptom", "cough", Some("present")),
            ("symptom", "nausea", Some("absent")),
            ("disease", "asthma", Some("family_history")),
            ("medication", "metformin", None),
            ("disease", "diabetes", Some("present")),
            ("symptom", "e\u{301}dema", Some("present")),
        ],
        N2 => vec![("symptom", "chest pain", Some("absent"))],
        N3 => vec![("disease", "pneumonia", Some("historical"))],
        N4 => vec![("disease", "effusion", Some("absent"))],
        N5 => vec![("disease", "hypertension", Some("historical")), ("medication", "lisinopril", None)],
        _ => panic!("unknown note"),
    }
}

/// Char (Unicode scalar value) offsets of the first `needle` in `text`.
fn chars_of(text: &str, needle: &str) -> (usize, usize) {
    let b = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the note"));
    let start = text[..b].chars().count();
    (start, start + needle.chars().count())
}

/// The spans a note's annotation holds: (label, start, end, text, assertion), sorted.
fn want_spans(note: &str) -> Vec<(String, usize, usize, String, Option<String>)> {
    let mut v: Vec<_> = marks(note)
        .into_iter()
        .map(|(l, t, a)| {
            let (s, e) = chars_of(note, t);
            (l.to_string(), s, e, t.to_string(), a.map(String::from))
        })
        .collect();
    v.sort();
    v
}

fn submission(note: &str) -> Value {
    let spans: Vec<Value> = marks(note)
        .iter()
        .enumerate()
        .map(|(i, (label, t, a))| {
            let (s, e) = chars_of(note, t);
            let mut v = json!({ "id": format!("s{i}"), "label": label, "start": s, "end": e });
            if let Some(a) = a {
                v["assertion"] = json!(a);
            }
            v
        })
        .collect();
    let relations = if note == N1 { json!([{ "id": "r1", "type": "treats", "from": "s3", "to": "s4" }]) } else { json!([]) };
    let doctype = if note == N3 { "discharge" } else { "progress" };
    json!({ "answers": { "doctype": [doctype] }, "text": { "spans": spans, "relations": relations } })
}

#[tokio::test]
async fn a_text_project_is_delivered_in_every_format_it_asks_for() {
    let py = venv_python("text", "text.sh");
    check_db(|t| {
        let py = py.clone();
        async move {
            let w = world(&t.db).await;
            let app = TestApp::new(t);
            let db = app.db().clone();
            let tr = track(&db).await;
            sign_agreements(&db, &w).await;
            let people = taskers(&db, &w, &tr, 1, true, "txt").await;
            let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
            let r = client.post("/api/v1/projects", text_spec(&tr)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let project = r.body["id"].as_str().unwrap().to_string();
            let jsonl = format!("{}\n{}\n", json!({ "id": "n1", "text": N1 }), json!({ "id": 2, "text": N2 }));
            assert_eq!(upload(&mut client, &project, "notes.jsonl", jsonl.as_bytes()).await["summary"]["items"], 2);
            assert_eq!(upload(&mut client, &project, "discharge.txt", N3.as_bytes()).await["summary"]["items"], 1);
            let csv = format!("id,text,ward\r\nn4,\"{}\",B\r\n", N4.replace('"', "\"\""));
            assert_eq!(upload(&mut client, &project, "imaging.csv", csv.as_bytes()).await["summary"]["items"], 1);
            let bioc = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><collection><source>clinic</source><date>20260101</date><key>k</key>\
                 <document><id>b5</id><passage><offset>0</offset><text>{N5}</text></passage></document></collection>"
            );
            assert_eq!(upload(&mut client, &project, "letters.xml", bioc.as_bytes()).await["summary"]["items"], 1);
            crate::support::start_project(&app, &w, &project).await;

            // Which note each item is: its content as served.
            let items = client.get(&format!("/api/v1/projects/{project}/items?per_page=100")).await.body["items"].as_array().unwrap().clone();
            let mut note_of: BTreeMap<String, &'static str> = BTreeMap::new();
            for it in &items {
                let id = it["id"].as_str().unwrap().to_string();
                let res = app.router.clone().oneshot(client.request(Method::GET, &format!("/api/v1/items/{id}/content")).body(Body::empty()).unwrap()).await.unwrap();
                let bytes = res.into_body().collect().await.unwrap().to_bytes();
                let text = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["text"].as_str().map(String::from)).unwrap_or_else(|| String::from_utf8(bytes.to_vec()).unwrap());
                note_of.insert(id, NOTES.into_iter().find(|n| *n == text).unwrap_or_else(|| panic!("{text:?} is one of the notes")));
            }
            let mut c = app.login(&people[0].1, PASSWORD).await;
            loop {
                let r = c.post("/api/v1/tasks/next", json!({})).await;
                if r.status == StatusCode::NO_CONTENT {
                    break;
                }
                let note = note_of[r.body["item_id"].as_str().unwrap()];
                let s = c.post(&format!("/api/v1/tasks/{}/submit", r.body["id"].as_str().unwrap()), submission(note)).await;
                assert_eq!(s.status, StatusCode::OK, "{}", s.body);
            }
            approve(&app, &w, &project).await;

            let dir = tempfile::tempdir().unwrap();
            let (d, root) = build_and_download(&app, &w, &project, dir.path()).await;
            assert_eq!((d["items"].as_i64(), d["annotations"].as_i64()), (Some(5), Some(5)));
            let mut paths: Vec<String> = d["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
            paths.sort();
            let mut want: Vec<String> = vec![
                "audit/audit-trail.jsonl".into(),
                "exports/annotations.bioc.xml".into(),
                "exports/annotations.conll".into(),
                "exports/annotations.jsonl".into(),
                "exports/brat/annotation.conf".into(),
                "exports/labelstudio.config.xml".into(),
                "exports/labelstudio.json".into(),
                "exports/spacy/docs-00000.spacy".into(),
                "report.html".into(),
                "report.pdf".into(),
            ];
            for id in note_of.keys() {
                want.push(format!("exports/brat/{id}.ann"));
                want.push(format!("exports/brat/{id}.txt"));
            }
            want.sort();
            assert_eq!(paths, want);
            let formats: BTreeMap<&str, &str> = d["files"].as_array().unwrap().iter().filter_map(|f| Some((f["path"].as_str()?, f["format"].as_str()?))).collect();
            assert_eq!(formats["exports/brat/annotation.conf"], "brat");
            assert_eq!(formats["exports/spacy/docs-00000.spacy"], "spacy");
            let exports = root.join("exports");

            // Our own readers: BRAT, BioC and Label Studio give back the spans as submitted.
            let annotator = clinlabel_store::tasks::pseudonym(&project, &people[0].0);
            for (id, note) in &note_of {
                let text = std::fs::read_to_string(exports.join(format!("brat/{id}.txt"))).unwrap();
                assert_eq!(text, *note, "the .txt is the note byte for byte");
                let ann = std::fs::read_to_string(exports.join(format!("brat/{id}.ann"))).unwrap();
                let doc = clinlabel_text::export::brat::parse_ann(id, &text, &ann).unwrap();
                let mut got: Vec<_> = doc.spans.iter().map(|s| (s.label.clone(), s.start, s.end, s.text.clone(), s.assertion.map(|a| a.as_str().to_string()))).collect();
                got.sort();
                assert_eq!(got, want_spans(note), "brat {id}");
                assert_eq!(doc.relations.len(), usize::from(*note == N1));
            }
            let bioc: Vec<_> = clinlabel_text::ingest::read_bioc("bioc", std::fs::File::open(exports.join("annotations.bioc.xml")).unwrap()).collect::<Result<_, _>>().unwrap();
            assert_eq!(bioc.len(), 5);
            for doc in &bioc {
                let note = note_of[&doc.id];
                assert_eq!(doc.text, note);
                let mut got: Vec<_> = doc.spans.iter().map(|s| (s.label.clone(), s.start, s.end, s.text.clone(), s.assertion.map(|a| a.as_str().to_string()))).collect();
                got.sort();
                assert_eq!(got, want_spans(note), "bioc {}", doc.id);
                assert_eq!(doc.metadata["annotator"], annotator.as_str());
                assert_eq!(doc.metadata["item_id"], doc.id.as_str());
                // The note's own id in the client's file: JSONL `id`, CSV `id` column, BioC `<id>`.
                let source = match note {
                    N1 => json!("n1"),
                    N2 => json!("2"),
                    N4 => json!("n4"),
                    N5 => json!("b5"),
                    _ => Value::Null,
                };
                assert_eq!(doc.metadata.get("source_id").cloned().unwrap_or(Value::Null), source);
            }
            let mut ls = Vec::new();
            clinlabel_text::export::labelstudio::import("ls", std::fs::File::open(exports.join("labelstudio.json")).unwrap(), None, |d| {
                ls.push(d);
                Ok(())
            })
            .unwrap();
            assert_eq!(ls.len(), 5);
            for doc in &ls {
                let note = note_of[&doc.id];
                let mut got: Vec<_> = doc.spans.iter().map(|s| (s.label.clone(), s.start, s.end)).collect();
                got.sort();
                assert_eq!(got, want_spans(note).into_iter().map(|s| (s.0, s.1, s.2)).collect::<Vec<_>>());
                let doctype = if note == N3 { "discharge" } else { "progress" };
                assert!(doc.classifications.iter().any(|c| c.question == "doctype" && c.answers == [doctype]), "{:?}", doc.classifications);
            }

            // The field's readers (ci/testdata/text_readers.py reads exactly this layout).
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/testdata/text_readers.py");
            let out = std::process::Command::new(&py).arg(&script).arg(&exports).output().unwrap();
            assert!(out.status.success(), "text_readers.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
            let r: Value = serde_json::from_slice(&out.stdout).unwrap();
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            for (id, note) in &note_of {
                // bratly
                let b = &r["brat"][id.as_str()];
                assert_eq!(s(&b["text"]), *note);
                let mut got: Vec<_> = b["spans"].as_array().unwrap().iter().map(|x| (s(&x["label"]), x["start"].as_u64().unwrap() as usize, x["end"].as_u64().unwrap() as usize, s(&x["slice"]), x["assertion"].as_str().map(String::from))).collect();
                got.sort();
                assert_eq!(got, want_spans(note), "bratly {id}");
                assert_eq!(b["relations"].as_array().unwrap().len(), usize::from(*note == N1));
            }
            // bioc
            for b in r["bioc"].as_array().unwrap() {
                let note = note_of[&s(&b["id"])];
                assert_eq!(s(&b["text"]), note);
                let mut got: Vec<_> = b["spans"].as_array().unwrap().iter().map(|x| (s(&x["label"]), x["start"].as_u64().unwrap() as usize, x["end"].as_u64().unwrap() as usize, s(&x["slice"]), x["assertion"].as_str().map(String::from))).collect();
                got.sort();
                assert_eq!(got, want_spans(note), "bioc package {}", s(&b["id"]));
                assert_eq!(s(&b["infons"]["annotator"]), annotator);
            }
            // spaCy: the DocBin's docs have the note as text and the spans as entities (none overlap here).
            let sp = r["spacy"].as_array().unwrap();
            assert_eq!(sp.len(), 5);
            for x in sp {
                let note = NOTES.into_iter().find(|n| s(&x["text"]) == *n).expect("spaCy's Doc.text is the note");
                let got: Vec<_> = x["ents"].as_array().unwrap().iter().map(|e| (s(&e["label"]), e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize)).collect();
                let mut want: Vec<_> = want_spans(note).into_iter().map(|s| (s.0, s.1, s.2)).collect();
                want.sort_by_key(|w| w.1);
                assert_eq!(got, want, "spaCy");
            }
            // CoNLL (conllu + seqeval): every entity as its tokens, per document.
            let conll = r["conll"].as_array().unwrap();
            assert_eq!(conll.len(), 5);
            let mut got: Vec<Vec<(String, String)>> = conll.iter().map(|d| d.as_array().unwrap().iter().map(|e| (s(&e["label"]), s(&e["tokens"]))).collect()).collect();
            got.sort();
            let mut want: Vec<Vec<(String, String)>> = NOTES
                .iter()
                .map(|n| {
                    let mut v: Vec<_> = want_spans(n).into_iter().map(|s| (s.1, s.0, s.3)).collect();
                    v.sort();
                    v.into_iter().map(|(_, l, t)| (l, t)).collect()
                })
                .collect();
            want.sort();
            assert_eq!(got, want, "seqeval's entities");
            // Label Studio's SDK validates every annotation against the labeling config, and its converter reads them.
            let lsr = &r["labelstudio"];
            assert_eq!(lsr["errors"], json!([]), "{}", lsr["errors"]);
            assert_eq!(lsr["tasks"].as_array().unwrap().len(), 5);
            let labelled: usize = lsr["json_min"].as_array().unwrap().iter().map(|m| m["label"].as_array().map_or(0, |l| l.len())).sum();
            assert_eq!(labelled, 11, "{}", lsr["json_min"]);
        }
    })
    .await;
}

// -- images -------------------------------------------------------------------------------

/// A copy of the real CT moved to `z` mm along its normal, in series `series`
/// (its own Series and SOP Instance UIDs).
fn ct_at(ct: &[u8], series: u32, k: u32, z_steps: f64) -> Vec<u8> {
    let mut obj = dicom_object::OpenFileOptions::new().from_reader(&ct[128..]).unwrap();
    let ipp: Vec<f64> = obj.element(tags::IMAGE_POSITION_PATIENT).unwrap().to_multi_float64().unwrap();
    // A Decimal String holds at most 16 characters.
    let z = format!("{:.4}", ipp[2] + 5.0 * z_steps);
    obj.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, PrimitiveValue::Strs([format!("{}", ipp[0]), format!("{}", ipp[1]), z].into_iter().collect())));
    obj.put(DataElement::new(tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from(format!("{}", k + 1))));
    let uid = |tag| obj.element(tag).unwrap().to_str().unwrap().trim_end_matches('\0').to_string();
    let series_uid = format!("{}.{series}", uid(tags::SERIES_INSTANCE_UID));
    let sop = format!("{}.{series}.{k}", uid(tags::SOP_INSTANCE_UID));
    obj.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from(series_uid)));
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop.clone())));
    obj.meta_mut().media_storage_sop_instance_uid = sop;
    let mut out = Vec::new();
    obj.write_all(&mut out).unwrap();
    out
}

fn image_spec(track: &str) -> Value {
    json!({
        "name": "Lesion delivery",
        "modality": "image",
        "task_types": ["segmentation", "bounding_box"],
        "schema": { "image_tools": [
            { "tool": "polygon", "labels": [{ "id": "lesion", "name": "Lesion", "color": "#e6194b" }] },
            { "tool": "bounding_box_2d", "labels": [{ "id": "finding", "name": "Finding" }] }
        ] },
        "output_formats": ["native_json", "coco", "dicom_seg", "nifti"],
        "deadline": clinlabel_store::db::now_ms() + 30 * 86_400_000,
        "track_id": track,
        "overlap": 2,
        "gold_rate": 0.0,
        "qa": { "tier1": false, "tier2_sampling_pct": 0, "tier3_spot_check_pct": 5, "quality_threshold": 0.5, "max_rework_rounds": 2 }
    })
}

/// Reader `who` (0 or 1) outlines a 30 × 30 px lesion on frame 1 (reader 1 two pixels to the right) and boxes a finding on frame 0.
fn drawing(who: usize) -> Value {
    let dx = 2.0 * who as f64;
    json!({ "answers": {}, "image": { "shapes": [
        { "id": "p1", "label": "lesion", "tool": "polygon", "frame": 1, "points": [[10.0 + dx, 20.0], [40.0 + dx, 20.0], [40.0 + dx, 50.0], [10.0 + dx, 50.0]] },
        { "id": "b1", "label": "finding", "tool": "bounding_box_2d", "frame": 0, "x0": 5.0, "y0": 5.0, "x1": 25.0, "y1": 30.0 }
    ] } })
}

#[tokio::test]
async fn an_image_project_is_delivered_as_dicom_seg_nifti_coco_and_native_json() {
    let ct = read(&reference("pydicom/CT_small.dcm"));
    let py = venv_python("imaging", "imaging.sh");
    check_db(|t| {
        let (ct, py) = (ct.clone(), py.clone());
        async move {
            let w = world(&t.db).await;
            let app = TestApp::new(t);
            let db = app.db().clone();
            let tr = track(&db).await;
            sign_agreements(&db, &w).await;
            let people = taskers(&db, &w, &tr, 2, true, "img").await;
            let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
            let r = client.post("/api/v1/projects", image_spec(&tr)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let project = r.body["id"].as_str().unwrap().to_string();
            // Series 1: a regular stack (5 mm); series 2: slices at 0, 5 and 15 mm (not a volume).
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("sources");
            std::fs::create_dir_all(&src).unwrap();
            for (series, steps) in [(1u32, [0.0, 1.0, 2.0]), (2, [0.0, 1.0, 3.0])] {
                for (k, z) in steps.into_iter().enumerate() {
                    let bytes = ct_at(&ct, series, k as u32, z);
                    let name = format!("s{series}-{k}.dcm");
                    std::fs::write(src.join(&name), &bytes).unwrap();
                    assert_eq!(upload(&mut client, &project, &name, &bytes).await["summary"]["accepted"], 1);
                }
            }
            crate::support::start_project(&app, &w, &project).await;
            // Each series item, and the files uploaded into it.
            let rows = sqlx::query("SELECT d.item_id, f.name FROM dicom_instances d JOIN files f ON f.id = d.file_id WHERE d.project_id = $1 ORDER BY f.name")
                .bind(project.clone())
                .fetch_all(db.pool())
                .await
                .unwrap();
            let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in &rows {
                let name: String = r.try_get("name").unwrap();
                sources.entry(r.try_get("item_id").unwrap()).or_default().push(src.join(name).display().to_string());
            }
            assert_eq!(sources.len(), 2);
            let regular = sources.iter().find(|(_, f)| f[0].ends_with("s1-0.dcm")).unwrap().0.clone();
            let uneven = sources.iter().find(|(_, f)| f[0].ends_with("s2-0.dcm")).unwrap().0.clone();

            for (i, (_, email)) in people.iter().enumerate() {
                let mut c = app.login(email, PASSWORD).await;
                loop {
                    let r = c.post("/api/v1/tasks/next", json!({})).await;
                    if r.status == StatusCode::NO_CONTENT {
                        break;
                    }
                    let s = c.post(&format!("/api/v1/tasks/{}/submit", r.body["id"].as_str().unwrap()), drawing(i)).await;
                    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
                }
            }
            approve(&app, &w, &project).await;

            let (d, root) = build_and_download(&app, &w, &project, dir.path()).await;
            assert_eq!((d["items"].as_i64(), d["annotations"].as_i64()), (Some(2), Some(4)));
            let names: Vec<String> = people.iter().map(|(id, _)| clinlabel_store::tasks::pseudonym(&project, id)).collect();
            let mut paths: Vec<String> = d["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).filter(|p| p.starts_with("exports/")).collect();
            paths.sort();
            let mut want: Vec<String> = vec![
                "exports/annotations.jsonl".into(),
                "exports/coco.json".into(),
                "exports/dicom_seg/not_exported.jsonl".into(),
                "exports/native_json/not_exported.jsonl".into(),
                "exports/nifti/not_exported.jsonl".into(),
                format!("exports/native_json/{regular}.json"),
                format!("exports/native_json/{uneven}.json"),
            ];
            for n in &names {
                for item in [&regular, &uneven] {
                    want.push(format!("exports/dicom_seg/{item}.{n}.dcm"));
                }
                want.push(format!("exports/nifti/{regular}.{n}.nii.gz"));
                want.push(format!("exports/nifti/{regular}.{n}.json"));
            }
            want.sort();
            assert_eq!(paths, want);
            let exports = root.join("exports");
            // What could not be a NIfTI volume is listed with the reason; everything else was exported.
            let skipped: Vec<Value> = std::fs::read_to_string(exports.join("nifti/not_exported.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(skipped.len(), 1);
            assert_eq!((skipped[0]["item_id"].as_str(), skipped[0]["code"].as_str()), (Some(uneven.as_str()), Some("not_a_volume")));
            assert_eq!(std::fs::read(exports.join("dicom_seg/not_exported.jsonl")).unwrap(), b"");

            // Our own readers. The SEG: one frame (reader's lesion on the middle slice), its author, the study's UIDs.
            let series = client.get(&format!("/api/v1/items/{regular}/series")).await.body;
            let middle = &series["frames"][1];
            let middle_uid = series["instances"][middle["instance"].as_u64().unwrap() as usize]["sop_instance_uid"].as_str().unwrap().to_string();
            let seg_bytes = std::fs::read(exports.join(format!("dicom_seg/{regular}.{}.dcm", names[1]))).unwrap();
            let seg = clinlabel_dicom::open_bytes(&seg_bytes, &clinlabel_dicom::Limits::default()).unwrap();
            let meta = clinlabel_dicom::image_meta(&seg);
            assert_eq!(meta.sop_class_uid.as_deref(), Some("1.2.840.10008.5.1.4.1.1.66.4"));
            assert_eq!(meta.frames, 1);
            assert_eq!(meta.study_instance_uid.as_deref(), series["study_instance_uid"].as_str());
            assert_eq!(seg.obj.element(tags::CONTENT_CREATOR_NAME).unwrap().to_str().unwrap().trim(), names[1]);
            let derivation = seg.obj.element(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).unwrap().items().unwrap()[0]
                .element(tags::DERIVATION_IMAGE_SEQUENCE).unwrap().items().unwrap()[0]
                .element(tags::SOURCE_IMAGE_SEQUENCE).unwrap().items().unwrap()[0]
                .element(tags::REFERENCED_SOP_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string();
            assert_eq!(derivation, middle_uid);
            let decoded = clinlabel_dicom::decode_frame(&seg, &meta, 0).unwrap();
            assert_eq!(decoded.data.iter().filter(|v| **v == 1).count(), 900, "30 × 30 pixels");
            // The NIfTI: 128 × 128 × 3, the 900 voxels of label 1 on k = 1.
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(exports.join(format!("nifti/{regular}.{}.nii.gz", names[0]))).unwrap()), &mut raw).unwrap();
            let dims: Vec<i16> = (0..4).map(|i| i16::from_le_bytes(raw[40 + 2 * i..42 + 2 * i].try_into().unwrap())).collect();
            assert_eq!(dims, [3, 128, 128, 3]);
            let offset = f32::from_le_bytes(raw[108..112].try_into().unwrap()) as usize;
            let set: Vec<usize> = raw[offset..].iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, v)| { assert_eq!(*v, 1); i / (128 * 128) }).collect();
            assert_eq!(set.len(), 900);
            assert!(set.iter().all(|k| *k == 1));
            // COCO: each reader's annotation has the item's frames as images.
            let coco: Value = serde_json::from_slice(&std::fs::read(exports.join("coco.json")).unwrap()).unwrap();
            assert_eq!(coco["images"].as_array().unwrap().len(), 4 * 3);
            assert_eq!(coco["annotations"].as_array().unwrap().len(), 4 * 2);
            let mut by: Vec<(String, String)> = coco["clinlabel_annotations"].as_array().unwrap().iter().map(|m| (s(&m["item_id"]), s(&m["annotator"]))).collect();
            by.sort();
            let mut want_by: Vec<(String, String)> = [&regular, &uneven].iter().flat_map(|i| names.iter().map(move |n| (i.to_string(), n.clone()))).collect();
            want_by.sort();
            assert_eq!(by, want_by);
            // The native JSON: both readers' annotations, frames in viewing order.
            let native: clinlabel_imaging::NativeItem = serde_json::from_slice(&std::fs::read(exports.join(format!("native_json/{regular}.json"))).unwrap()).unwrap();
            assert_eq!(native.annotations.len(), 2);
            assert!(native.series.affine_ras.is_some());
            let zs: Vec<f64> = native.series.frames.iter().map(|f| f.image_position.unwrap()[2]).collect();
            assert!(zs.windows(2).all(|p| (p[1] - p[0] - 5.0).abs() < 1e-6), "{zs:?}");

            // The field's readers: dciodvfy, highdicom, nibabel, pycocotools.
            let sources_json = dir.path().join("sources.json");
            std::fs::write(&sources_json, serde_json::to_vec(&sources).unwrap()).unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/testdata/delivery_image_check.py");
            let out = std::process::Command::new(&py).arg(&script).arg(&exports).arg(&sources_json).output().unwrap();
            assert!(out.status.success(), "delivery_image_check.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
            let stdout = String::from_utf8(out.stdout).unwrap();
            let r: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
            let checks = r["checks"].as_array().unwrap();
            for c in checks {
                eprintln!("{} {}: {}", if c["ok"] == true { "ok  " } else { "FAIL" }, s(&c["name"]), s(&c["detail"]).lines().next().unwrap_or(""));
            }
            let failed: Vec<String> = checks.iter().filter(|c| c["ok"] != true).map(|c| format!("{}: {}", s(&c["name"]), s(&c["detail"]))).collect();
            assert!(failed.is_empty(), "the field's readers refused:\n{}", failed.join("\n"));
            // The sources are valid DICOM, so the SEGs must be too: nothing to inherit.
            for c in checks.iter().filter(|c| s(&c["name"]).starts_with("seg.dciodvfy.")) {
                assert_eq!(s(&c["detail"]), "0 errors");
            }
            let mut got: Vec<String> = checks.iter().map(|c| s(&c["name"])).collect();
            got.sort();
            let mut want: Vec<String> = vec!["coco".into(), "coco.eval.bbox".into(), "coco.eval.segm".into(), "coco.load".into(), "coco.polygons".into()];
            for n in &names {
                for item in [&regular, &uneven] {
                    for k in ["seg.dciodvfy", "seg.highdicom", "seg.geometry"] {
                        want.push(format!("{k}.{item}.{n}.dcm"));
                    }
                }
                want.push(format!("nifti.{regular}.{n}.nii.gz"));
            }
            want.sort();
            assert_eq!(got, want);
        }
    })
    .await;
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}
