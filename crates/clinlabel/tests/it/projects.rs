//! Lifecycle steps 1–2 through the API: agreements, specifications, quotes, states.

use crate::support::*;
use axum::http::StatusCode;
use clinlabel_domain::Role;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

/// A valid clinical-text specification on the given track.
pub fn text_spec(track_id: &str) -> Value {
    json!({
        "name": "Discharge summaries — problems and medications",
        "modality": "text",
        "task_types": ["entities", "relations", "assertion"],
        "schema": {
            "entity_types": [
                { "id": "disease", "name": "Disease", "hotkey": "d", "code_system": "icd10cm" },
                { "id": "medication", "name": "Medication", "hotkey": "m" }
            ],
            "relation_types": [{ "id": "treats", "name": "medication–indication", "from": ["medication"], "to": ["disease"] }],
            "assertion_values": ["present", "absent", "possible", "historical", "family_history", "hypothetical"]
        },
        "guidelines": "# Guidelines\n\nMark every disease and medication. Negated findings are `absent`.",
        "output_formats": ["brat", "native_jsonl"],
        "deadline": clinlabel_store::db::now_ms() + 60 * DAY,
        "track_id": track_id,
        "overlap": 2,
        "gold_rate": 0.05,
        "qa": { "tier1": true, "tier2_sampling_pct": 20, "tier3_spot_check_pct": 5, "quality_threshold": 0.8 }
    })
}

/// Publishes an NDA and a DPA as the administrator.
pub async fn publish_agreements(admin: &mut Client) -> (String, String) {
    let nda = admin.post("/api/v1/agreements", json!({ "kind": "nda", "title": "Mutual NDA", "body": "The parties keep each other's information confidential." })).await;
    assert_eq!(nda.status, StatusCode::CREATED, "{}", nda.body);
    let dpa = admin.post("/api/v1/agreements", json!({ "kind": "dpa", "title": "Data processing agreement", "body": "The processor processes personal data only on documented instructions." })).await;
    (nda.body["id"].as_str().unwrap().into(), dpa.body["id"].as_str().unwrap().into())
}

/// Stands in for an upload: `n` text items of `chars` bytes in one accepted file.
/// (The upload protocol has its own tests; this keeps the lifecycle tests about the lifecycle.)
pub async fn add_items(db: &clinlabel_store::Db, project: &str, uploader: &str, n: i64, chars: i64) {
    let file = clinlabel_store::db::new_id();
    sqlx::query("INSERT INTO files (id, project_id, name, sha256, size, blob_id, media_type, purpose, status, items, uploaded_by, created_at) VALUES ($1, $2, 'notes.jsonl', $3, $4, $5, 'application/jsonl', 'data', 'accepted', $6, $7, 0)")
        .bind(file.clone())
        .bind(project.to_string())
        .bind(clinlabel_store::db::new_id())
        .bind(n * chars)
        .bind(format!("file-{file}"))
        .bind(n)
        .bind(uploader.to_string())
        .execute(db.pool())
        .await
        .unwrap();
    for i in 0..n {
        sqlx::query("INSERT INTO items (id, project_id, file_id, seq, kind, byte_start, byte_end, meta, created_at) VALUES ($1, $2, $3, $4, 'text', $5, $6, '{}', 0)")
            .bind(clinlabel_store::db::new_id())
            .bind(project.to_string())
            .bind(file.clone())
            .bind(i)
            .bind(i * chars)
            .bind((i + 1) * chars)
            .execute(db.pool())
            .await
            .unwrap();
    }
}

pub async fn track(db: &clinlabel_store::Db) -> String {
    clinlabel_store::tracks::ensure_defaults(db).await.unwrap();
    sqlx::Row::try_get(&sqlx::query("SELECT id FROM tracks WHERE slug = 'clinical-nlp'").fetch_one(db.pool()).await.unwrap(), "id").unwrap()
}

#[tokio::test]
async fn a_project_goes_from_draft_through_quote_to_in_progress() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let track = track(&t.db).await;
        let app = TestApp::new(t);
        let mut admin = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let mut member = app.login(w.email(Role::ClientMember, &w.org_a), PASSWORD).await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;

        // Agreements: published by the admin, signed by the client admin only.
        let (nda, dpa) = publish_agreements(&mut admin).await;
        let status = ca.get("/api/v1/agreements").await;
        assert!(status.body.as_array().unwrap().iter().all(|s| s["signature"].is_null()));
        let r = member.post(&format!("/api/v1/agreements/{nda}/sign"), json!({ "full_name": "Colm Member" })).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        for id in [&nda, &dpa] {
            let r = ca.post(&format!("/api/v1/agreements/{id}/sign"), json!({ "full_name": "Clara Client-Admin" })).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            assert_eq!(r.body["signer_name"], "Clara Client-Admin");
            assert_eq!(r.body["body_sha256"].as_str().unwrap().len(), 64);
        }
        let status = member.get("/api/v1/agreements").await;
        assert!(status.body.as_array().unwrap().iter().all(|s| s["signature"]["kind"] == s["kind"]), "{}", status.body);

        // Specification.
        let r = member.post("/api/v1/projects", text_spec(&track)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["state"], "draft");
        assert!(r.body["spec"]["guidelines"].as_str().unwrap().contains("Negated findings"));
        let id = r.body["id"].as_str().unwrap().to_string();
        // The guidelines are stored encrypted.
        let sealed: Vec<u8> = sqlx::Row::try_get(&sqlx::query("SELECT guidelines FROM projects WHERE id = $1").bind(id.clone()).fetch_one(app.db().pool()).await.unwrap(), "guidelines").unwrap();
        assert!(!sealed.windows(17).any(|w| w == b"Negated findings "));

        // Submitting needs data.
        let r = member.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "submit" })).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "invalid_transition"));
        add_items(app.db(), &id, w.id(Role::ClientMember, &w.org_a), 120, 3000).await;
        let r = member.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "submit" })).await;
        assert_eq!(r.body["state"], "submitted", "{}", r.body);
        assert_eq!(r.body["items"], 120);

        // The PM sees it in the queue of submitted specifications and quotes it.
        let queue = pm.get("/api/v1/projects?state=submitted").await;
        assert!(queue.body["items"].as_array().unwrap().iter().any(|p| p["id"] == id.as_str()));
        let preview = pm.get(&format!("/api/v1/projects/{id}/quote-preview")).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        assert_eq!(preview.body["units"], 240);
        let r = member.post(&format!("/api/v1/projects/{id}/quotes"), json!({})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = pm.post(&format!("/api/v1/projects/{id}/quotes"), json!({ "adjustments": [{ "amount_cents": -1000, "reason": "" }] })).await;
        assert_eq!(r.body["details"]["field"], "adjustments.reason");
        let q = pm.post(&format!("/api/v1/projects/{id}/quotes"), json!({ "adjustments": [{ "amount_cents": -1000, "reason": "Pilot batch goodwill" }] })).await;
        assert_eq!(q.status, StatusCode::CREATED, "{}", q.body);
        let quote = q.body["id"].as_str().unwrap().to_string();
        let lines = q.body["pricing"]["lines"].as_array().unwrap();
        let sum: i64 = lines.iter().map(|l| l["amount_cents"].as_i64().unwrap()).sum();
        assert_eq!(sum, q.body["pricing"]["total_cents"].as_i64().unwrap());
        assert_eq!(preview.body["total_cents"].as_i64().unwrap() - 1000, sum);
        assert!(lines.iter().any(|l| l["kind"] == "adjustment" && l["detail"] == "Pilot batch goodwill"));
        for kind in ["base", "complexity", "specialty", "turnaround", "volume"] {
            assert!(lines.iter().any(|l| l["kind"] == kind), "no {kind} line in {lines:?}");
        }

        // Only the client admin decides.
        let r = member.post(&format!("/api/v1/projects/{id}/quotes/{quote}/decision"), json!({ "decision": "approve" })).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = ca.post(&format!("/api/v1/projects/{id}/quotes/{quote}/decision"), json!({ "decision": "approve" })).await;
        assert_eq!(r.body["state"], "approved", "{}", r.body);
        // The specification is locked now.
        let r = member.call(axum::http::Method::PUT, &format!("/api/v1/projects/{id}"), Some(text_spec(&track))).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "spec_locked"));
        let r = pm.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "start" })).await;
        assert_eq!(r.body["state"], "in_progress");

        // The history tells the story, in order.
        let h = member.get(&format!("/api/v1/projects/{id}/history")).await;
        let actions: Vec<&str> = h.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["project.create", "project.submit", "project.quote", "project.approve", "project.start", "project.queue"]);
        let quotes = member.get(&format!("/api/v1/projects/{id}/quotes")).await;
        assert_eq!(quotes.body[0]["status"], "approved");
        assert!(clinlabel_store::audit::verify(app.db()).await.unwrap().ok);
    })
    .await;
}

#[tokio::test]
async fn a_changed_specification_needs_a_new_quote_and_rejection_needs_a_reason() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let track = track(&t.db).await;
        let app = TestApp::new(t);
        let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        let id = ca.post("/api/v1/projects", text_spec(&track)).await.body["id"].as_str().unwrap().to_string();
        add_items(app.db(), &id, w.id(Role::ClientAdmin, &w.org_a), 10, 500).await;
        ca.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "submit" })).await;
        let first = pm.post(&format!("/api/v1/projects/{id}/quotes"), json!({})).await.body["id"].as_str().unwrap().to_string();
        // The client changes the specification: back to submitted, the quote is superseded.
        let mut spec = text_spec(&track);
        spec["overlap"] = json!(3);
        let r = ca.call(axum::http::Method::PUT, &format!("/api/v1/projects/{id}"), Some(spec)).await;
        assert_eq!((r.body["state"].as_str(), r.body["spec_version"].as_i64()), (Some("submitted"), Some(2)), "{}", r.body);
        let r = ca.post(&format!("/api/v1/projects/{id}/quotes/{first}/decision"), json!({ "decision": "approve" })).await;
        assert_eq!(r.code(), "invalid_transition");
        let second = pm.post(&format!("/api/v1/projects/{id}/quotes"), json!({})).await;
        assert_eq!(second.body["pricing"]["units"], 30);
        let second = second.body["id"].as_str().unwrap().to_string();
        let r = ca.post(&format!("/api/v1/projects/{id}/quotes/{first}/decision"), json!({ "decision": "approve" })).await;
        assert_eq!(r.code(), "quote_outdated");
        let r = ca.post(&format!("/api/v1/projects/{id}/quotes/{second}/decision"), json!({ "decision": "reject" })).await;
        assert_eq!(r.body["details"]["field"], "comment");
        let r = ca.post(&format!("/api/v1/projects/{id}/quotes/{second}/decision"), json!({ "decision": "reject", "comment": "Over budget for this quarter" })).await;
        assert_eq!(r.body["state"], "rejected");
        let quotes = ca.get(&format!("/api/v1/projects/{id}/quotes")).await;
        let statuses: Vec<&str> = quotes.body.as_array().unwrap().iter().map(|q| q["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["rejected", "superseded"]);
        assert_eq!(quotes.body[0]["client_comment"], "Over budget for this quarter");
        // Resubmission and cancellation.
        assert_eq!(ca.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "submit" })).await.body["state"], "submitted");
        assert_eq!(ca.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "cancel" })).await.body["state"], "cancelled");
        let r = ca.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "submit" })).await;
        assert_eq!(r.code(), "invalid_transition");
    })
    .await;
}

#[tokio::test]
async fn specifications_are_validated_with_the_offending_path() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let track = track(&t.db).await;
        let app = TestApp::new(t);
        let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let mut spec = text_spec(&track);
        spec["schema"]["relation_types"][0]["to"] = json!(["symptom"]);
        let r = ca.post("/api/v1/projects", spec).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("schema.relation_types[0].to[0]")));
        let mut spec = text_spec(&track);
        spec["track_id"] = json!("no-such-track");
        assert_eq!(ca.post("/api/v1/projects", spec).await.body["details"]["field"], "track_id");
        let mut spec = text_spec(&track);
        spec["schema"]["entity_types"][0]["colour"] = json!("#ff0000");
        let r = ca.post("/api/v1/projects", spec).await;
        assert_eq!(r.code(), "invalid_field");
        assert!(r.body["details"]["field"].as_str().unwrap().starts_with("schema.entity_types[0]"), "{}", r.body);
        let mut spec = text_spec(&track);
        spec["qa"]["tier3_spot_check_pct"] = json!(15);
        assert_eq!(ca.post("/api/v1/projects", spec).await.body["details"]["field"], "qa.tier3_spot_check_pct");
        // Nothing was created.
        assert_eq!(ca.get("/api/v1/projects").await.body["total"], 0);
    })
    .await;
}

#[tokio::test]
async fn another_organisation_cannot_see_or_touch_a_project() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let track = track(&t.db).await;
        let app = TestApp::new(t);
        let mut a = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let mut b = app.login(w.email(Role::ClientAdmin, &w.org_b), PASSWORD).await;
        let mut tasker = app.login(w.email(Role::Tasker, &w.provider), PASSWORD).await;
        let id = a.post("/api/v1/projects", text_spec(&track)).await.body["id"].as_str().unwrap().to_string();
        for c in [&mut b, &mut tasker] {
            assert_eq!(c.get(&format!("/api/v1/projects/{id}")).await.code(), "not_found");
            assert_eq!(c.call(axum::http::Method::PUT, &format!("/api/v1/projects/{id}"), Some(text_spec(&track))).await.code(), "not_found");
            assert_eq!(c.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "cancel" })).await.code(), "not_found");
            assert_eq!(c.get(&format!("/api/v1/projects/{id}/history")).await.code(), "not_found");
            assert_eq!(c.get(&format!("/api/v1/projects/{id}/quotes")).await.code(), "not_found");
        }
        assert_eq!(b.get("/api/v1/projects").await.body["total"], 0);
        assert_eq!(b.get(&format!("/api/v1/projects?org_id={}", w.org_a)).await.code(), "not_found");
        assert_eq!(tasker.get("/api/v1/projects").await.status, StatusCode::FORBIDDEN);
        // Staff see it.
        let mut qa = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
        assert_eq!(qa.get(&format!("/api/v1/projects/{id}")).await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn a_new_agreement_version_must_be_signed_again() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut admin = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let (nda, dpa) = publish_agreements(&mut admin).await;
        for id in [&nda, &dpa] {
            ca.post(&format!("/api/v1/agreements/{id}/sign"), json!({ "full_name": "Clara Client" })).await;
        }
        let gate = |db: clinlabel_store::Db, org: String| async move {
            let mut tx = db.begin_write().await.unwrap();
            clinlabel_store::agreements::require_signed(&mut tx, &org).await
        };
        assert!(gate(app.db().clone(), w.org_a.clone()).await.is_ok());
        assert!(gate(app.db().clone(), w.org_b.clone()).await.is_err(), "org B signed nothing");
        let v2 = admin.post("/api/v1/agreements", json!({ "kind": "nda", "title": "Mutual NDA v2", "body": "Updated confidentiality terms." })).await;
        assert_eq!(v2.body["version"], 2);
        match gate(app.db().clone(), w.org_a.clone()).await {
            Err(clinlabel_store::StoreError::Domain(e)) => {
                assert_eq!(e.code, clinlabel_domain::ErrorCode::AgreementRequired);
                assert_eq!(e.details.unwrap()["missing"], json!(["nda"]));
            }
            other => panic!("expected agreement_required, got {other:?}"),
        }
        let r = ca.post(&format!("/api/v1/agreements/{nda}/sign"), json!({ "full_name": "Clara Client" })).await;
        assert_eq!(r.code(), "agreement_outdated");
        let r = ca.post(&format!("/api/v1/agreements/{}/sign", v2.body["id"].as_str().unwrap()), json!({ "full_name": "C" })).await;
        assert_eq!(r.body["details"]["field"], "full_name");
        // The signatures appear on the organisation's record, with the exact text's hash.
        let sigs = ca.get(&format!("/api/v1/organisations/{}/signatures", w.org_a)).await;
        assert_eq!(sigs.body.as_array().unwrap().len(), 2);
        let mut b = app.login(w.email(Role::ClientAdmin, &w.org_b), PASSWORD).await;
        assert_eq!(b.get(&format!("/api/v1/organisations/{}/signatures", w.org_a)).await.code(), "not_found");
    })
    .await;
}

#[tokio::test]
async fn administrators_edit_the_rate_card_and_track_rates() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let track = track(&t.db).await;
        let app = TestApp::new(t);
        let mut admin = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let mut card = pm.get("/api/v1/rate-card").await.body;
        assert_eq!(card["currency"], "USD");
        assert_eq!(ca.get("/api/v1/rate-card").await.status, StatusCode::FORBIDDEN);
        card["rates"][0]["cents_per_unit"] = json!(175);
        assert_eq!(pm.call(axum::http::Method::PUT, "/api/v1/rate-card", Some(card.clone())).await.status, StatusCode::FORBIDDEN);
        assert_eq!(admin.call(axum::http::Method::PUT, "/api/v1/rate-card", Some(card.clone())).await.status, StatusCode::OK);
        assert_eq!(pm.get("/api/v1/rate-card").await.body["rates"][0]["cents_per_unit"], 175);
        card["rates"][1]["task_type"] = json!("transcription");
        let r = admin.call(axum::http::Method::PUT, "/api/v1/rate-card", Some(card)).await;
        assert_eq!(r.body["details"]["field"], "rates[1].task_type");
        let r = admin.call(axum::http::Method::PUT, &format!("/api/v1/tracks/{track}/rate"), Some(json!({ "rate_multiplier": 1.4 }))).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        // The multiplier shows in the next quote's specialty line.
        let id = ca.post("/api/v1/projects", text_spec(&track)).await.body["id"].as_str().unwrap().to_string();
        add_items(app.db(), &id, w.id(Role::ClientAdmin, &w.org_a), 5, 100).await;
        ca.post(&format!("/api/v1/projects/{id}/steps"), json!({ "step": "submit" })).await;
        let p = pm.get(&format!("/api/v1/projects/{id}/quote-preview")).await;
        let line = p.body["lines"].as_array().unwrap().iter().find(|l| l["kind"] == "specialty").unwrap().clone();
        assert_eq!(line["label"], "Specialty × 1.40");
    })
    .await;
}
