//! The clinical text workspace's server side (issue 7): a note with an
//! emoji, a combining accent and CRLF line ends; pre-annotation from the
//! bundled ICD-10-CM release with ConText assertions; a submission checked
//! against the schema and the note (offsets in Unicode scalar values, never
//! UTF-16 units); review comments anchored to a span or a relation; the
//! project's pre-annotation quality.

use crate::projects::track;
use crate::support::{PASSWORD, TestApp, World, check_db, world};
use axum::http::StatusCode;
use clinlabel_domain::Role;
use serde_json::{Value, json};
use sqlx::Row;

/// Three lines with CRLF ends, an emoji (two UTF-16 units) before "diabetes" and
/// "e" + U+0301 (two chars) in "édema".
pub(crate) const NOTE: &str = "HPI: 67 yo woman with cough.\r\nShe denies nausea. Mother had asthma.\r\nOn metformin \u{1F48A} for diabetes; e\u{301}dema of ankles.\r\n";

/// Char (Unicode scalar value) offset of the first `needle` in the note, counted here.
fn at(needle: &str) -> usize {
    let c: Vec<char> = NOTE.chars().collect();
    let n: Vec<char> = needle.chars().collect();
    (0..c.len()).find(|&i| c[i..].starts_with(&n)).unwrap_or_else(|| panic!("{needle:?} not in the note"))
}

/// UTF-16 offset of the first `needle`, as a browser would count it.
fn at_utf16(needle: &str) -> usize {
    let b = NOTE.find(needle).unwrap();
    NOTE[..b].encode_utf16().count()
}

pub(crate) fn spec(track: &str) -> Value {
    json!({
        "name": "Problem list extraction",
        "modality": "text",
        "task_types": ["entities", "relations", "assertion", "coding", "classification"],
        "schema": {
            "entity_types": [
                { "id": "disease", "name": "Disease", "hotkey": "d", "code_system": "icd10cm" },
                { "id": "symptom", "name": "Symptom", "hotkey": "s", "code_system": "icd10cm" },
                { "id": "medication", "name": "Medication", "hotkey": "m" }
            ],
            "relation_types": [{ "id": "treats", "name": "Medication–indication", "from": ["medication"], "to": ["disease"] }],
            "assertion_values": ["present", "absent", "possible", "historical", "family_history", "hypothetical"],
            "questions": [
                { "id": "doctype", "text": "Document type", "kind": "single", "level": "document",
                  "options": [{ "id": "discharge", "name": "Discharge summary" }, { "id": "progress", "name": "Progress note" }] },
                { "id": "smoking", "text": "Smoking status", "kind": "single", "level": "sentence", "required": false,
                  "options": [{ "id": "current", "name": "Current" }, { "id": "never", "name": "Never" }] }
            ]
        },
        "output_formats": ["native_jsonl", "brat"],
        "deadline": clinlabel_store::db::now_ms() + 30 * 86_400_000,
        "track_id": track,
        "overlap": 1,
        "gold_rate": 0.0,
        "qa": { "tier1": true, "tier2_sampling_pct": 0, "tier3_spot_check_pct": 5, "quality_threshold": 0.5, "max_rework_rounds": 2 }
    })
}


use crate::support::{sign_agreements, upload_whole as upload};

/// A running text project with the note (as `file`) and two certified taskers; returns (project, [tasker e-mails]).
pub(crate) async fn running_project(app: &TestApp, w: &World, file: (&str, Vec<u8>)) -> (String, Vec<String>) {
    let db = app.db().clone();
    let tr = track(&db).await;
    sign_agreements(&db, w).await;
    let people: Vec<String> = crate::support::taskers(&db, w, &tr, 2, true, "coder").await.into_iter().map(|(_, email)| email).collect();
    let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
    let r = client.post("/api/v1/projects", spec(&tr)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let p = r.body["id"].as_str().unwrap().to_string();
    let u = upload(&mut client, &p, file.0, &file.1).await;
    assert_eq!(u["summary"]["items"], 1, "{u}");
    crate::support::start_project(&app, &w, &p).await;
    (p, people)
}

fn span<'a>(spans: &'a [Value], text: &str) -> &'a Value {
    spans.iter().find(|s| s["text"] == text).unwrap_or_else(|| panic!("no suggestion {text:?} in {spans:?}"))
}

#[tokio::test]
async fn a_note_is_preannotated_checked_on_submit_and_reviewed_span_by_span() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let line = serde_json::to_string(&json!({ "id": "n1", "text": NOTE })).unwrap();
        let (p, people) = running_project(&app, &w, ("notes.jsonl", format!("{line}\n").into_bytes())).await;
        let mut a = app.login(&people[0], PASSWORD).await;
        let mut b = app.login(&people[1], PASSWORD).await;
        let task = a.post("/api/v1/tasks/next", json!({})).await;
        assert_eq!(task.status, StatusCode::OK, "{}", task.body);
        assert_eq!(task.body["item_kind"], "note");
        let task = task.body["id"].as_str().unwrap().to_string();

        // Pre-annotation over the bundled ICD-10-CM release.
        let version = a.get("/api/v1/terminology/systems").await.body.as_array().unwrap().iter().find(|s| s["system"] == "icd10cm").unwrap()["version"].as_str().unwrap().to_string();
        let s = a.get(&format!("/api/v1/tasks/{task}/suggestions")).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        assert_eq!(s.body["chars"], NOTE.chars().count());
        assert_ne!(NOTE.chars().count(), NOTE.encode_utf16().count());
        let sentences: Vec<(usize, usize)> = s.body["sentences"].as_array().unwrap().iter().map(|r| (r["start"].as_u64().unwrap() as usize, r["end"].as_u64().unwrap() as usize)).collect();
        assert_eq!(sentences[0], (0, at("cough.") + 6));
        assert_eq!(sentences.len(), 4, "{sentences:?}");
        let sources = s.body["sources"].as_array().unwrap();
        assert_eq!(sources.len(), 2, "{sources:?}");
        assert!(sources.iter().all(|x| x["system"] == "icd10cm" && x["version"] == version.as_str() && x["terms"].as_u64().unwrap() > 50_000), "{sources:?}");
        let spans = s.body["spans"].as_array().unwrap().clone();
        // "Cough" is R05 in ICD-10-CM; ConText: affirmed. "asthma" (J45) of the mother: family history.
        let cough = span(&spans, "cough");
        assert_eq!((cough["start"].as_u64().unwrap() as usize, cough["end"].as_u64().unwrap() as usize), (at("cough"), at("cough") + 5));
        assert_eq!(cough["source"], "suggested");
        assert_eq!(cough["state"], "pending");
        assert_eq!(cough["assertion"], "present");
        let cough_codes = &s.body["candidates"][cough["id"].as_str().unwrap()];
        assert!(cough_codes.as_array().unwrap().iter().any(|c| c["code"] == "R05" && c["display"] == "Cough" && c["version"] == version.as_str()), "{cough_codes}");
        let asthma = span(&spans, "asthma");
        assert_eq!(asthma["assertion"], "family_history");
        assert!(s.body["candidates"][asthma["id"].as_str().unwrap()].as_array().unwrap().iter().any(|c| c["code"] == "J45"), "{}", s.body["candidates"]);
        // "nausea" (R11.0) after "denies": absent; its offsets sit after a CRLF (two chars).
        let pain = span(&spans, "nausea");
        assert_eq!(pain["assertion"], "absent");
        assert_eq!(pain["start"].as_u64().unwrap() as usize, at("nausea"));
        // Only the holder may ask.
        assert_eq!(b.get(&format!("/api/v1/tasks/{task}/suggestions")).await.code(), "not_found");
        let lean = a.get(&format!("/api/v1/tasks/{task}/suggestions?suggest=false")).await;
        assert_eq!((lean.body["spans"].as_array().unwrap().len(), lean.body["sentences"].as_array().unwrap().len()), (0, 4));

        // What the tasker sends: the cough suggestion accepted, the chest pain one rejected,
        // asthma edited (a child code), three spans by hand, one relation, one sentence answer.
        let cough_id = cough["id"].as_str().unwrap().to_string();
        let mut accepted = cough.clone();
        accepted["state"] = json!("accepted");
        let mut rejected = pain.clone();
        rejected["state"] = json!("rejected");
        let mut edited = asthma.clone();
        edited["state"] = json!("edited");
        edited["suggested"] = json!({ "label": "disease", "start": asthma["start"], "end": asthma["end"], "assertion": "family_history", "codes": asthma["codes"] });
        edited["codes"] = json!([{ "system": "icd10cm", "code": "J45.909", "display": "Unspecified asthma, uncomplicated", "version": version }]);
        let manual = |id: &str, label: &str, needle: &str| json!({ "id": id, "label": label, "start": at(needle), "end": at(needle) + needle.chars().count() });
        let mut dm = manual("T1", "disease", "diabetes");
        dm["codes"] = json!([{ "system": "icd10cm", "code": "E11.9", "display": "Type 2 diabetes mellitus without complications", "version": version }]);
        dm["assertion"] = json!("present");
        let mut edema = manual("T3", "symptom", "e\u{301}dema");
        edema["text"] = json!("e\u{301}dema");
        let good = json!({
            "answers": { "doctype": ["progress"] },
            "text": {
                "spans": [accepted, rejected, edited, dm, manual("T2", "medication", "metformin"), edema],
                "relations": [{ "id": "R1", "type": "treats", "from": "T2", "to": "T1" }],
                "classifications": [{ "question": "smoking", "answers": ["never"], "sentence": { "start": sentences[1].0, "end": sentences[1].1 } }]
            }
        });
        let submit = |body: Value| {
            let mut a = a.clone();
            let task = task.clone();
            async move { a.post(&format!("/api/v1/tasks/{task}/submit"), body).await }
        };
        let field = |r: &crate::support::Res| (r.status, r.code().to_string(), r.body["details"]["field"].as_str().unwrap_or("").to_string());
        let with = |path: &[&str], v: Value| {
            let mut body = good.clone();
            let mut at = &mut body;
            for k in &path[..path.len() - 1] {
                at = match k.parse::<usize>() {
                    Ok(i) => &mut at[i],
                    Err(_) => &mut at[*k],
                };
            }
            at[path[path.len() - 1]] = v;
            body
        };
        let chars = NOTE.chars().count();
        let bad = |f: &str| (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field".to_string(), f.to_string());
        // Offsets past the end of the note.
        assert_eq!(field(&submit(with(&["text", "spans", "4", "end"], json!(chars + 1))).await), bad("text.spans[4]"));
        // UTF-16 offsets (the emoji counts twice there) with the covered text: caught against the note.
        let u = at_utf16("e\u{301}dema");
        assert_eq!(u, at("e\u{301}dema") + 1);
        let shifted = with(&["text", "spans", "5", "start"], json!(u));
        let shifted = {
            let mut s = shifted;
            s["text"]["spans"][5]["end"] = json!(u + 6);
            s
        };
        let r = submit(shifted).await;
        assert_eq!(field(&r), bad("text.spans[5].text"), "{}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains("Unicode scalar values"), "{}", r.body);
        // A suggestion left pending, a label, a relation end and a code system the schema does not allow,
        // a document question answered per sentence, a relation to a rejected suggestion.
        assert_eq!(field(&submit(with(&["text", "spans", "0", "state"], json!("pending"))).await), bad("text.spans[0].state"));
        assert_eq!(field(&submit(with(&["text", "spans", "4", "label"], json!("drug"))).await), bad("text.spans[4].label"));
        assert_eq!(field(&submit(with(&["text", "relations", "0", "from"], json!("T3"))).await), bad("text.relations[0].from"));
        assert_eq!(field(&submit(with(&["text", "relations", "0", "to"], json!(pain["id"]))).await), bad("text.relations[0].to"));
        assert_eq!(field(&submit(with(&["text", "spans", "3", "codes", "0", "system"], json!("rxnorm"))).await), bad("text.spans[3].codes[0].system"));
        assert_eq!(field(&submit(with(&["text", "spans", "3", "assertion"], json!("maybe"))).await).1, "invalid_field");
        assert_eq!(field(&submit(with(&["text", "classifications", "0", "question"], json!("doctype"))).await).0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(field(&submit(with(&["answers"], json!({}))).await), bad("answers.doctype"));
        assert_eq!(field(&submit(with(&["text", "spans", "4", "id"], json!("T1"))).await), bad("text.spans[4].id"));

        let r = submit(good.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Stored with each span's covered text filled from the note.
        let stored: Value = serde_json::from_str(&sqlx::query("SELECT body FROM annotations WHERE task_id = $1").bind(task.clone()).fetch_one(app.db().pool()).await.unwrap().try_get::<String, _>("body").unwrap()).unwrap();
        let texts: Vec<&str> = stored["text"]["spans"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["cough", "nausea", "asthma", "diabetes", "metformin", "e\u{301}dema"]);
        assert_eq!(stored["text"]["spans"][2]["suggested"]["codes"][0]["code"], asthma["codes"][0]["code"]);

        // The peer reviewer anchors comments to a span and to the relation; unknown ones are refused.
        let rv = b.post("/api/v1/reviews/next?tier=1", json!({})).await;
        assert_eq!(rv.status, StatusCode::OK, "{}", rv.body);
        assert_eq!(rv.body["annotation"]["body"]["text"]["spans"].as_array().unwrap().len(), 6);
        let rid = rv.body["id"].as_str().unwrap().to_string();
        for anchor in ["span:T9", "relation:R9", "span:R1", "relation:T1"] {
            let r = b.post(&format!("/api/v1/tasks/{rid}/review"), json!({ "decision": "reject", "comments": [{ "anchor": anchor, "text": "?" }] })).await;
            assert_eq!(field(&r), bad("comments[0].anchor"), "{anchor}: {}", r.body);
        }
        let r = b
            .post(
                &format!("/api/v1/tasks/{rid}/review"),
                json!({ "decision": "reject", "comments": [
                    { "anchor": "span:T3", "text": "Oedema of the ankles is a finding: code it as R60.0." },
                    { "anchor": "relation:R1", "text": "Right." }
                ] }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["next"], "rework");

        // The author sees the comments on the span and the relation, fixes the span, resubmits.
        let back = a.get("/api/v1/tasks/returned").await;
        let rework = back.body.as_array().unwrap().iter().find(|t| t["item_kind"] == "note").unwrap().clone();
        let anchors: Vec<&str> = rework["reviews"][0]["comments"].as_array().unwrap().iter().map(|c| c["anchor"].as_str().unwrap()).collect();
        assert_eq!(anchors, ["span:T3", "relation:R1"]);
        let mut fixed = rework["annotation"]["body"].clone();
        fixed["text"]["spans"][5]["codes"] = json!([{ "system": "icd10cm", "code": "R60.0", "display": "Localized edema", "version": version }]);
        let r = a.post(&format!("/api/v1/tasks/{}/submit", rework["id"].as_str().unwrap()), fixed).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let rv = b.post("/api/v1/reviews/next?tier=1", json!({})).await;
        assert_eq!(rv.body["annotation"]["body"]["text"]["spans"][5]["codes"][0]["code"], "R60.0");
        let r = b.post(&format!("/api/v1/tasks/{}/review", rv.body["id"].as_str().unwrap()), json!({ "decision": "accept" })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);

        // Suggestion quality: 3 suggestions kept or not as above, 3 spans by hand.
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        let q = pm.get(&format!("/api/v1/projects/{p}/suggestion-quality")).await;
        assert_eq!(q.status, StatusCode::OK, "{}", q.body);
        let o = &q.body["overall"];
        let suggested_made = spans.len() as u64;
        assert!(suggested_made >= 3, "{spans:?}");
        assert_eq!((q.body["annotations"].as_u64(), o["suggested"].as_u64(), o["accepted"].as_u64(), o["edited"].as_u64(), o["rejected"].as_u64(), o["manual"].as_u64()), (Some(1), Some(3), Some(1), Some(1), Some(1), Some(3)));
        assert_eq!(o["precision"].as_f64(), Some(2.0 / 3.0));
        assert_eq!(o["recall"].as_f64(), Some(2.0 / 5.0));
        assert_eq!(q.body["edits"]["codes"], 1);
        assert_eq!(q.body["assertion_kept"].as_f64(), Some(1.0));
        assert_eq!(a.get(&format!("/api/v1/projects/{p}/suggestion-quality")).await.code(), "forbidden");
        let _ = cough_id;
    })
    .await;
}

#[tokio::test]
async fn a_plain_text_note_keeps_crlf_and_its_offsets() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let (_, people) = running_project(&app, &w, ("note.txt", NOTE.as_bytes().to_vec())).await;
        let mut a = app.login(&people[0], PASSWORD).await;
        let task = a.post("/api/v1/tasks/next", json!({})).await.body["id"].as_str().unwrap().to_string();
        let s = a.get(&format!("/api/v1/tasks/{task}/suggestions")).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        assert_eq!(s.body["chars"], NOTE.chars().count());
        // A span over the CRLF and the emoji, whose covered text the server fills.
        let (start, end) = (at("asthma.") + 7, at("metformin") + 11);
        let chars: Vec<char> = NOTE.chars().collect();
        let covered: String = chars[start..end].iter().collect();
        assert_eq!(covered, "\r\nOn metformin \u{1F48A}");
        let body = json!({ "answers": { "doctype": ["discharge"] }, "text": {
            "spans": [{ "id": "T1", "label": "medication", "start": start, "end": end }]
        } });
        let r = a.post(&format!("/api/v1/tasks/{task}/submit"), body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let stored: Value = serde_json::from_str(&sqlx::query("SELECT body FROM annotations WHERE task_id = $1").bind(task.clone()).fetch_one(app.db().pool()).await.unwrap().try_get::<String, _>("body").unwrap()).unwrap();
        assert_eq!(stored["text"]["spans"][0]["text"], covered.as_str());
    })
    .await;
}
