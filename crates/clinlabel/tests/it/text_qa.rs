//! Gold scoring and batch agreement for clinical text (issue 7): a note's
//! gold reference spans; a tasker's submission scored by span F1 (overlap),
//! relations and assertion/code agreement on matched spans; the batch view's
//! span F1 (exact and overlap) between annotators.

use crate::projects::track;
use crate::support::{PASSWORD, TestApp, check_db, world};
use axum::http::{Method, StatusCode};
use clinlabel_domain::Role;
use serde_json::{Value, json};
use sqlx::Row;

const NOTE: &str = "Patient has diabetes and a cough.";

fn spans(start: usize, end: usize) -> Value {
    json!({ "answers": {}, "text": { "spans": [{ "id": "s1", "label": "disease", "start": start, "end": end, "assertion": "present" }] } })
}

#[tokio::test]
async fn text_gold_is_scored_by_span_overlap_and_batches_report_span_agreement() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        crate::support::sign_agreements(&db, &w).await;
        let people = crate::support::taskers(&db, &w, &tr, 2, true, "coder").await;
        let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let p = client
            .post("/api/v1/projects", json!({
                "name": "Diagnoses", "modality": "text", "task_types": ["entities", "assertion"],
                "schema": { "entity_types": [{ "id": "disease", "name": "Disease" }], "assertion_values": ["present", "absent"] },
                "output_formats": ["native_jsonl"], "deadline": clinlabel_store::db::now_ms() + 30 * 86_400_000, "track_id": tr,
                "overlap": 2, "gold_rate": 0.5,
                "qa": { "tier1": false, "tier2_sampling_pct": 0, "tier3_spot_check_pct": 5, "quality_threshold": 0.5 }
            }))
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
        let p = p.body["id"].as_str().unwrap().to_string();
        for k in 0..21 {
            let body = format!("{NOTE} (visit {k})");
            crate::support::upload_whole(&mut client, &p, &format!("note-{k}.txt"), body.as_bytes()).await;
        }
        let items = client.get(&format!("/api/v1/projects/{p}/items?per_page=50")).await.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 21);
        let gold = items[0]["id"].as_str().unwrap().to_string();
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        // "diabetes" is chars 12..20. A reference past the note's end is refused.
        let bad = pm.call(Method::PUT, &format!("/api/v1/items/{gold}/gold"), Some(json!({ "answer": {}, "text": spans(12, 500)["text"] }))).await;
        assert_eq!(bad.code(), "invalid_field", "{}", bad.body);
        let ok = pm.call(Method::PUT, &format!("/api/v1/items/{gold}/gold"), Some(json!({ "answer": {}, "text": spans(12, 20)["text"] }))).await;
        assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
        crate::support::start_project(&app, &w, &p).await;

        // Coder 0 marks "diabetes"; coder 1 marks "diabete" on real notes (overlap,
        // not exact) and "cough" as the disease on the gold note (no overlap).
        let mut golds = [0, 0];
        for (i, (_, email)) in people.iter().enumerate() {
            let mut c = app.login(email, PASSWORD).await;
            loop {
                let r = c.post("/api/v1/tasks/next", json!({})).await;
                if r.status == StatusCode::NO_CONTENT {
                    break;
                }
                let is_gold = r.body["item_id"] == gold.as_str();
                golds[i] += is_gold as usize;
                let body = match (i, is_gold) {
                    (0, _) => spans(12, 20),
                    (_, false) => spans(12, 19),
                    (_, true) => spans(27, 32),
                };
                let s = c.post(&format!("/api/v1/tasks/{}/submit", r.body["id"].as_str().unwrap()), body).await;
                assert_eq!(s.status, StatusCode::OK, "{}", s.body);
            }
        }
        assert_eq!(golds, [1, 1]);
        let scores: Vec<(String, f64)> = sqlx::query("SELECT user_id, score FROM gold_results WHERE project_id = $1")
            .bind(p.clone())
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get("user_id").unwrap(), r.try_get("score").unwrap()))
            .collect();
        let of = |u: &str| scores.iter().find(|s| s.0 == u).unwrap().1;
        assert_eq!(of(&people[0].0), 1.0);
        assert_eq!(of(&people[1].0), 0.0);

        let batches = pm.get(&format!("/api/v1/projects/{p}/batches")).await;
        let b = pm.get(&format!("/api/v1/batches/{}", batches.body[0]["id"].as_str().unwrap())).await;
        assert_eq!(b.status, StatusCode::OK, "{}", b.body);
        let m = |name: &str| b.body["text_agreement"].as_array().unwrap().iter().find(|x| x["measure"] == name).cloned().unwrap_or_else(|| panic!("{name} in {}", b.body["text_agreement"]));
        assert_eq!(m("spans overlap F1")["value"], 1.0);
        assert_eq!(m("spans overlap F1")["pairs"], 20);
        assert_eq!(m("spans overlap F1")["gated"], true);
        assert_eq!(m("spans exact F1")["value"], 0.0);
        assert_eq!(m("disease overlap F1")["value"], 1.0);
        assert_eq!(m("assertion agreement (matched spans)")["value"], 1.0);
    })
    .await;
}
