//! Bringing existing work into a text project (issue 7): a Label Studio JSON
//! export uploaded to a project becomes one note per task whose results are
//! offered as suggestions (offsets in chars or in the UTF-16 units of older
//! Label Studio front ends, placed by each result's text; checked by Label
//! Studio's own SDK), a file with a label the schema lacks is refused naming
//! it; and a PM's project lexicon, checked line by line when it is set, feeds
//! the dictionary matcher beside the code systems.

use crate::support::{PASSWORD, TestApp, check_db, sign_agreements, upload_whole, world};
use crate::text::{running_project, spec};
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use clinlabel_domain::Role;
use serde_json::{Value, json};
use sqlx::Row;
use std::path::PathBuf;

/// A discharge note: an emoji (one char, two UTF-16 units) before the medication,
/// CRLF line ends.
const LS_TEXT: &str = "Pt \u{1F600} started metformin for diabetes.\r\nDenies cough.\r\n";

fn chars_at(needle: &str) -> usize {
    LS_TEXT[..LS_TEXT.find(needle).unwrap()].chars().count()
}

fn utf16_at(needle: &str) -> usize {
    LS_TEXT[..LS_TEXT.find(needle).unwrap()].encode_utf16().count()
}

/// One Label Studio task as its JSON export writes it: "metformin" with the UTF-16 offsets an
/// older front end stored, "diabetes" with char offsets, an assertion and a code on it, a
/// relation, a document choice; a prediction that is ignored because an annotation exists.
fn ls_task(id: u64, label: &str) -> Value {
    let (m, d) = ("metformin", "diabetes");
    json!({
        "id": id,
        "data": { "text": LS_TEXT, "meta": { "ward": "B" } },
        "annotations": [{ "id": 1, "was_cancelled": false, "result": [
            { "id": "med1", "from_name": "label", "to_name": "text", "type": "labels",
              "value": { "start": utf16_at(m), "end": utf16_at(m) + 9, "text": m, "labels": [label] } },
            { "id": "dx1", "from_name": "label", "to_name": "text", "type": "labels",
              "value": { "start": chars_at(d), "end": chars_at(d) + 8, "text": d, "labels": ["disease"] } },
            { "id": "dx1", "from_name": "assertion", "to_name": "text", "type": "choices",
              "value": { "start": chars_at(d), "end": chars_at(d) + 8, "text": d, "choices": ["historical"] } },
            { "id": "dx1", "from_name": "code", "to_name": "text", "type": "textarea",
              "value": { "start": chars_at(d), "end": chars_at(d) + 8, "text": ["icd10cm:E11.9"] } },
            { "from_id": "med1", "to_id": "dx1", "type": "relation", "direction": "right", "labels": ["treats"] },
            { "id": "c1", "from_name": "doctype", "to_name": "text", "type": "choices", "value": { "choices": ["discharge"] } }
        ]}],
        "predictions": [{ "model_version": "x", "result": [] }]
    })
}

fn ls_file(tasks: &[Value]) -> Vec<u8> {
    serde_json::to_vec_pretty(&Value::Array(tasks.to_vec())).unwrap()
}

fn testdata() -> PathBuf {
    std::env::var_os("CLINLABEL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clinlabel-testdata"))
}

/// Label Studio's SDK on the export: its validation errors against a labeling
/// configuration for the project's schema, and each labels result's offsets as
/// Python (code points) finds its text.
fn label_studio_sdk(file: &[u8]) -> Value {
    let py = testdata().join("venv-text/bin/python");
    assert!(py.exists(), "{} is missing: run `bash ci/testdata/text.sh` (it builds the venv with label-studio-sdk)", py.display());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("export.json"), file).unwrap();
    let config = clinlabel_text::export::labelstudio::labeling_config(
        &["disease".into(), "symptom".into(), "medication".into()],
        &["treats".into()],
        &["present".into(), "absent".into(), "historical".into()],
        &[("doctype".into(), vec!["discharge".into(), "progress".into()])],
    );
    std::fs::write(dir.path().join("config.xml"), config).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/testdata/labelstudio_check.py");
    let out = std::process::Command::new(&py).arg(&script).arg(dir.path().join("export.json")).arg(dir.path().join("config.xml")).output().unwrap();
    assert!(out.status.success(), "labelstudio_check.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn next_task(app: &TestApp, email: &str) -> (crate::support::Client, String) {
    let mut c = app.login(email, PASSWORD).await;
    let t = c.post("/api/v1/tasks/next", json!({})).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let id = t.body["id"].as_str().unwrap().to_string();
    (c, id)
}

#[tokio::test]
async fn a_label_studio_export_becomes_notes_with_its_results_as_suggestions() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let file = ls_file(&[ls_task(7, "medication")]);

        // Label Studio's SDK accepts the export (it is what Label Studio writes), and reads
        // "diabetes" at the char offsets, while "metformin" carries UTF-16 units.
        let sdk = label_studio_sdk(&file);
        assert_eq!(sdk["errors"], json!([]), "{sdk}");
        let spans = sdk["tasks"][0]["spans"].as_array().unwrap();
        let dx = spans.iter().find(|s| s["text"] == "diabetes").unwrap();
        assert_eq!((&dx["slice"], dx["found"].as_u64()), (&json!("diabetes"), Some(chars_at("diabetes") as u64)));
        let med = spans.iter().find(|s| s["text"] == "metformin").unwrap();
        assert_ne!(med["slice"], "metformin", "the legacy UTF-16 offsets do not slice in code points: {med}");
        assert_eq!(med["found"].as_u64(), Some(chars_at("metformin") as u64));

        let (p, people) = running_project(&app, &w, ("export.json", file)).await;

        // The note reads back as the task's text, its id and meta.
        let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let items = client.get(&format!("/api/v1/projects/{p}/items")).await;
        let item = &items.body["items"][0];
        assert_eq!((item["kind"].as_str(), item["meta"]["task"].as_u64(), item["meta"]["chars"].as_u64()), (Some("note"), Some(1), Some(LS_TEXT.chars().count() as u64)));
        assert_eq!(item["meta"]["suggestions"], json!({ "spans": 2, "relations": 1, "choices": 1 }));
        let content = client.get(&format!("/api/v1/items/{}/content", item["id"].as_str().unwrap())).await;
        assert_eq!(content.body, json!({ "id": "7", "text": LS_TEXT, "metadata": { "ward": "B" } }));

        // The tasker gets the task's results as pending suggestions, in chars.
        let (mut a, task) = next_task(&app, &people[0]).await;
        let version = a.get("/api/v1/terminology/systems").await.body.as_array().unwrap().iter().find(|s| s["system"] == "icd10cm").unwrap()["version"].as_str().unwrap().to_string();
        let s = a.get(&format!("/api/v1/tasks/{task}/suggestions")).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        assert_eq!(s.body["chars"], LS_TEXT.chars().count());
        let spans = s.body["spans"].as_array().unwrap();
        let by_text = |t: &str| spans.iter().find(|x| x["text"] == t).unwrap_or_else(|| panic!("no {t:?} in {spans:?}")).clone();
        let med = by_text("metformin");
        let dx = by_text("diabetes");
        assert_eq!((med["id"].as_str(), med["start"].as_u64(), med["end"].as_u64()), (Some("L1"), Some(chars_at("metformin") as u64), Some(chars_at("metformin") as u64 + 9)));
        assert_eq!((dx["id"].as_str(), dx["start"].as_u64(), dx["label"].as_str()), (Some("L2"), Some(chars_at("diabetes") as u64), Some("disease")));
        for x in [&med, &dx] {
            assert_eq!((x["source"].as_str(), x["state"].as_str()), (Some("suggested"), Some("pending")));
            assert_eq!(s.body["origins"][x["id"].as_str().unwrap()], "label_studio");
        }
        assert_eq!(dx["assertion"], "historical");
        assert_eq!(dx["codes"], json!([{ "system": "icd10cm", "code": "E11.9", "display": "Type 2 diabetes mellitus without complications", "version": version }]));
        assert_eq!(s.body["relations"], json!([{ "id": "LR1", "type": "treats", "from": "L1", "to": "L2", "source": "suggested", "state": "pending" }]));
        assert_eq!(s.body["answers"], json!({ "doctype": ["discharge"] }));
        assert_eq!(s.body["imported"], json!({ "spans": 2, "relations": 1, "answers": 1, "dropped": [] }));
        // "cough" comes from the ICD-10-CM dictionary beside them; nothing it found overlaps an imported span.
        let cough = by_text("cough");
        assert_eq!(s.body["origins"][cough["id"].as_str().unwrap()], "code_system");
        assert_eq!(spans.iter().filter(|x| x["text"] == "diabetes").count(), 1);

        // A suggested relation must be decided before submitting, as a suggested span must.
        let mut body_spans: Vec<Value> = vec![med.clone(), dx.clone(), cough.clone()];
        for x in &mut body_spans {
            x["state"] = json!("accepted");
        }
        let submit = |rel_state: &'static str| {
            let body = json!({ "answers": { "doctype": ["discharge"] }, "text": { "spans": body_spans.clone(), "relations": [{ "id": "LR1", "type": "treats", "from": "L1", "to": "L2", "source": "suggested", "state": rel_state }], "classifications": [] } });
            let task = task.clone();
            let mut a = a.clone();
            async move { a.post(&format!("/api/v1/tasks/{task}/submit"), body).await }
        };
        let r = submit("pending").await;
        assert_eq!((r.code(), r.body["details"]["field"].as_str()), ("invalid_field", Some("text.relations[0].state")), "{}", r.body);
        let r = submit("accepted").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn a_label_studio_export_with_a_label_the_schema_lacks_is_refused_naming_it() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let tr = crate::projects::track(app.db()).await;
        sign_agreements(app.db(), &w).await;
        let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let p = client.post("/api/v1/projects", spec(&tr)).await.body["id"].as_str().unwrap().to_string();

        // "Drug" is not an entity type of the schema: the file is refused, the label named.
        let u = upload_whole(&mut client, &p, "bad.json", &ls_file(&[ls_task(1, "medication"), ls_task(2, "Drug")])).await;
        assert_eq!(u["summary"]["rejected"], 1, "{u}");
        let files = client.get(&format!("/api/v1/projects/{p}/files?upload_id={}", u["id"].as_str().unwrap())).await;
        let reason = files.body["items"][0]["reason"].as_str().unwrap().to_string();
        assert!(reason.starts_with("schema_mismatch: task 2: result \"med1\": \"Drug\" is not an entity type of this project"), "{reason}");
        assert!(!reason.contains("metformin") && !reason.contains("Pt "), "no note content in the reason: {reason}");
        // Text at the offsets that is not the result's text (counted either way) is refused.
        let mut shifted = ls_task(3, "medication");
        shifted["annotations"][0]["result"][1]["value"]["start"] = json!(chars_at("diabetes") + 1);
        let u = upload_whole(&mut client, &p, "shifted.json", &ls_file(&[shifted])).await;
        let files = client.get(&format!("/api/v1/projects/{p}/files?upload_id={}", u["id"].as_str().unwrap())).await;
        let reason = files.body["items"][0]["reason"].as_str().unwrap();
        assert!(reason.contains("task 1 (byte offset 4): result dx1: text \"…\" is not at"), "{reason}");
        // Not a task list.
        let u = upload_whole(&mut client, &p, "other.json", br#"{"tasks": []}"#).await;
        let files = client.get(&format!("/api/v1/projects/{p}/files?upload_id={}", u["id"].as_str().unwrap())).await;
        assert!(files.body["items"][0]["reason"].as_str().unwrap().starts_with("not a Label Studio export"), "{}", files.body);
        // Two good tasks: two notes.
        let u = upload_whole(&mut client, &p, "good.json", &ls_file(&[ls_task(1, "medication"), ls_task(2, "medication")])).await;
        assert_eq!(u["summary"]["items"], 2, "{u}");
    })
    .await;
}

async fn put_lexicon(c: &mut crate::support::Client, project: &str, body: &str) -> crate::support::Res {
    let req = c.request(Method::PUT, &format!("/api/v1/projects/{project}/lexicon")).header(header::CONTENT_TYPE, "text/tab-separated-values").body(Body::from(body.to_string())).unwrap();
    c.send(req).await
}

#[tokio::test]
async fn a_project_lexicon_is_checked_line_by_line_and_feeds_the_suggestions() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let line = serde_json::to_string(&json!({ "id": "n1", "text": crate::text::NOTE })).unwrap();
        let (p, people) = running_project(&app, &w, ("notes.jsonl", format!("{line}\n").into_bytes())).await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        let (mut a, task) = next_task(&app, &people[0]).await;
        let version = a.get("/api/v1/terminology/systems").await.body.as_array().unwrap().iter().find(|s| s["system"] == "icd10cm").unwrap()["version"].as_str().unwrap().to_string();
        let suggestions = |a: &mut crate::support::Client| {
            let mut a = a.clone();
            let task = task.clone();
            async move {
                let s = a.get(&format!("/api/v1/tasks/{task}/suggestions")).await;
                assert_eq!(s.status, StatusCode::OK, "{}", s.body);
                s.body
            }
        };
        let find = |s: &Value, text: &str| s["spans"].as_array().unwrap().iter().find(|x| x["text"] == text).cloned();

        // Without a lexicon: "cough" from ICD-10-CM as the first entity type bound to it, no "metformin".
        let s = suggestions(&mut a).await;
        assert_eq!(s["lexicon"], Value::Null);
        let cough = find(&s, "cough").unwrap();
        assert_eq!((cough["label"].as_str(), s["origins"][cough["id"].as_str().unwrap()].as_str()), (Some("disease"), Some("code_system")));
        assert!(find(&s, "metformin").is_none());

        // Each bad line is named.
        let bad = [
            ("metformin\tmedication\nchest pain\n", 2, "expected term<TAB>label"),
            ("# ours\nmetformin\tdrug\n", 2, "label \"drug\" is not an entity type of this project"),
            ("metformin\tmedication\trxnorm:6809\n", 1, "\"medication\" is not bound to a code system"),
            ("cough\tsymptom\tsnomedct:49727002\n", 1, "code system \"snomedct\" is not icd10cm"),
            ("cough\tsymptom\ticd10cm:R99.99\n", 1, "R99.99 is not a code of ICD-10-CM"),
        ];
        for (body, line, problem) in bad {
            let r = put_lexicon(&mut pm, &p, body).await;
            assert_eq!((r.status, r.code(), r.body["details"]["line"].as_u64()), (StatusCode::UNPROCESSABLE_ENTITY, "lexicon_invalid", Some(line)), "{}", r.body);
            assert!(r.body["details"]["problem"].as_str().unwrap().contains(problem), "{}", r.body);
        }
        let r = put_lexicon(&mut pm, &p, "cough\tsymptom\n\u{FF}").await;
        assert_eq!(r.code(), "lexicon_invalid");
        // Only PMs and administrators set it; a tasker does not see the project.
        let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        assert_eq!(put_lexicon(&mut client, &p, "metformin\tmedication\n").await.code(), "forbidden");
        assert_eq!(put_lexicon(&mut a, &p, "metformin\tmedication\n").await.code(), "not_found");
        assert_eq!(client.get(&format!("/api/v1/projects/{p}/lexicon")).await.body, json!({ "lexicon": null }));

        // A good lexicon: its terms win ties with the code systems, codes come with the release.
        let lexicon = "# project terms\r\nmetformin\tmedication\ncough\tsymptom\ticd10cm:R05.9\n";
        let r = put_lexicon(&mut pm, &p, lexicon).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!((r.body["terms"].as_u64(), &r.body["labels"]), (Some(2), &json!({ "medication": 1, "symptom": 1 })));
        let first = r.body["id"].as_str().unwrap().to_string();
        let seen = client.get(&format!("/api/v1/projects/{p}/lexicon")).await;
        assert_eq!(seen.body["lexicon"]["sha256"], r.body["sha256"]);
        let raw = client.send(client.request(Method::GET, &format!("/api/v1/projects/{p}/lexicon/content")).body(Body::empty()).unwrap()).await;
        assert_eq!(raw.status, StatusCode::OK);
        let s = suggestions(&mut a).await;
        assert_eq!(s["lexicon"], json!({ "id": first, "terms": 2 }));
        let med = find(&s, "metformin").expect("metformin from the lexicon");
        assert_eq!((med["label"].as_str(), s["origins"][med["id"].as_str().unwrap()].as_str()), (Some("medication"), Some("lexicon")));
        let cough = find(&s, "cough").unwrap();
        assert_eq!((cough["label"].as_str(), s["origins"][cough["id"].as_str().unwrap()].as_str()), (Some("symptom"), Some("lexicon")));
        assert_eq!(cough["codes"], json!([{ "system": "icd10cm", "code": "R05.9", "display": "Cough, unspecified", "version": version }]));

        // Replaced: the matcher follows (no "cough" term any more, so ICD-10-CM's again).
        let r = put_lexicon(&mut pm, &p, "metformin\tmedication\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_ne!(r.body["id"].as_str().unwrap(), first);
        let s = suggestions(&mut a).await;
        let cough = find(&s, "cough").unwrap();
        assert_eq!(s["origins"][cough["id"].as_str().unwrap()], "code_system");
        assert!(find(&s, "metformin").is_some());

        // The tasker accepts the lexicon's suggestion and submits.
        let mut spans: Vec<Value> = s["spans"].as_array().unwrap().clone();
        for x in &mut spans {
            x["state"] = json!(if x["text"] == "metformin" { "accepted" } else { "rejected" });
        }
        let r = a.post(&format!("/api/v1/tasks/{task}/submit"), json!({ "answers": { "doctype": ["progress"] }, "text": { "spans": spans, "relations": [], "classifications": [] } })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);

        // Removed: no lexicon, and every change is in the audit trail.
        let r = pm.delete(&format!("/api/v1/projects/{p}/lexicon")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(pm.delete(&format!("/api/v1/projects/{p}/lexicon")).await.code(), "not_found");
        let actions: Vec<String> = sqlx::query("SELECT action FROM audit_events WHERE target_id = $1 AND action LIKE 'project.lexicon.%' ORDER BY seq")
            .bind(p.clone())
            .fetch_all(app.db().pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("action").unwrap())
            .collect();
        assert_eq!(actions, ["project.lexicon.set", "project.lexicon.set", "project.lexicon.remove"]);
    })
    .await;
}
