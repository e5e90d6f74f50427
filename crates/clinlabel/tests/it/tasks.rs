//! The task engine and QA pipeline: routing invariants on both databases,
//! gold tasks, the three review tiers with rework, batches and their approval.

use crate::projects::{add_items, track};
use crate::support::*;
use axum::http::StatusCode;
use clinlabel_domain::{ErrorCode, Principal, Role};
use clinlabel_store::Db;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 86_400_000;

/// A classification project on the clinical-NLP track.
pub fn classification_spec(track: &str, overlap: u32, gold_rate: f64, tier1: bool, tier2_pct: f64) -> Value {
    json!({
        "name": "Note triage",
        "modality": "text",
        "task_types": ["classification"],
        "schema": { "questions": [
            { "id": "specialty", "text": "Clinical specialty", "kind": "single", "level": "document",
              "options": [{ "id": "cardiology", "name": "Cardiology", "hotkey": "1" }, { "id": "oncology", "name": "Oncology", "hotkey": "2" }, { "id": "neurology", "name": "Neurology", "hotkey": "3" }] },
            { "id": "setting", "text": "Care setting", "kind": "multiple", "required": false, "level": "document",
              "options": [{ "id": "inpatient", "name": "Inpatient" }, { "id": "outpatient", "name": "Outpatient" }] }
        ]},
        "output_formats": ["native_jsonl"],
        "deadline": clinlabel_store::db::now_ms() + 30 * DAY,
        "track_id": track,
        "overlap": overlap,
        "gold_rate": gold_rate,
        "qa": { "tier1": tier1, "tier2_sampling_pct": tier2_pct, "tier3_spot_check_pct": 10, "quality_threshold": 0.5, "max_rework_rounds": 2 }
    })
}

/// A project of `items` items carried to `in_progress` through the store (the
/// lifecycle has its own tests); `gold` items marked gold with answer "oncology".
pub async fn running_project(app: &TestApp, w: &World, spec: Value, items: i64, gold: i64) -> String {
    let db = app.db();
    let client = Principal { user_id: w.id(Role::ClientAdmin, &w.org_a).into(), org_id: w.org_a.clone(), role: Role::ClientAdmin };
    let pm = Principal { user_id: w.id(Role::Pm, &w.provider).into(), org_id: w.provider.clone(), role: Role::Pm };
    let spec: clinlabel_domain::project::Spec = serde_json::from_value(spec).unwrap();
    let keyring = &app.keyring;
    let p = clinlabel_store::projects::create(db, keyring, &client, spec).await.unwrap();
    add_items(db, &p.id, &client.user_id, items + gold, 400).await;
    let gold_items: Vec<String> = sqlx::query("SELECT id FROM items WHERE project_id = $1 ORDER BY seq DESC").bind(p.id.clone()).fetch_all(db.pool()).await.unwrap().iter().take(gold as usize).map(|r| r.try_get("id").unwrap()).collect();
    for g in gold_items {
        let answer: clinlabel_domain::qa::Answers = [("specialty".to_string(), vec!["oncology".to_string()])].into_iter().collect();
        clinlabel_store::tasks::set_gold(db, &pm, &g, answer).await.unwrap();
    }
    clinlabel_store::projects::step(db, keyring, &client, &p.id, clinlabel_domain::project::Step::Submit, None).await.unwrap();
    let q = clinlabel_store::projects::issue_quote(db, keyring, &pm, &p.id, &[]).await.unwrap();
    clinlabel_store::projects::decide_quote(db, keyring, &client, &p.id, &q.id, true, None).await.unwrap();
    let started = clinlabel_store::projects::step(db, keyring, &pm, &p.id, clinlabel_domain::project::Step::Start, None).await.unwrap();
    assert_eq!(started.state, clinlabel_domain::project::ProjectState::InProgress);
    p.id
}

fn answer(specialty: &str) -> Value {
    json!({ "answers": { "specialty": [specialty] } })
}

/// Pulls and submits until the tasker gets nothing; returns the item ids annotated.
async fn drain(c: &mut Client, specialty: &str) -> Vec<String> {
    let mut items = Vec::new();
    loop {
        let r = c.post("/api/v1/tasks/next", json!({})).await;
        if r.status == StatusCode::NO_CONTENT {
            return items;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        items.push(r.body["item_id"].as_str().unwrap().to_string());
        let s = c.post(&format!("/api/v1/tasks/{}/submit", r.body["id"].as_str().unwrap()), answer(specialty)).await;
        // Two windows of one person share their held task: the slower one finds it done.
        if s.code() == "task_not_held" {
            items.pop();
            continue;
        }
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    }
}

#[tokio::test]
async fn only_certified_taskers_in_running_projects_get_tasks() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let certified = taskers(&db, &w, &tr, 1, true, "ok").await;
        let uncertified = taskers(&db, &w, &tr, 1, false, "none").await;
        let expired = taskers(&db, &w, &tr, 1, true, "expired").await;
        let suspended = taskers(&db, &w, &tr, 1, true, "suspended").await;
        sqlx::query("UPDATE certifications SET expires_at = 1 WHERE user_id = $1").bind(expired[0].0.clone()).execute(db.pool()).await.unwrap();
        let admin = admin_of(&w);
        let cert: String = sqlx::query("SELECT id FROM certifications WHERE user_id = $1").bind(suspended[0].0.clone()).fetch_one(db.pool()).await.unwrap().try_get("id").unwrap();
        clinlabel_store::tracks::update_certification(&db, &admin, &cert, clinlabel_store::tracks::CertificationPatch { status: Some(clinlabel_domain::certification::CertificationStatus::Suspended), reason: Some("test".into()), ..Default::default() }).await.unwrap();
        // Before the project runs, nobody gets anything.
        let client = Principal { user_id: w.id(Role::ClientAdmin, &w.org_a).into(), org_id: w.org_a.clone(), role: Role::ClientAdmin };
        let draft = clinlabel_store::projects::create(&db, &app.keyring, &client, serde_json::from_value(classification_spec(&tr, 1, 0.0, false, 0.0)).unwrap()).await.unwrap();
        add_items(&db, &draft.id, &client.user_id, 3, 100).await;
        let mut c = app.login(&certified[0].1, PASSWORD).await;
        assert_eq!(c.post("/api/v1/tasks/next", json!({})).await.status, StatusCode::NO_CONTENT);
        running_project(&app, &w, classification_spec(&tr, 1, 0.0, false, 0.0), 3, 0).await;
        for (who, _) in [(&uncertified, "uncertified"), (&expired, "expired"), (&suspended, "suspended")] {
            let mut c = app.login(&who[0].1, PASSWORD).await;
            assert_eq!(c.post("/api/v1/tasks/next", json!({})).await.status, StatusCode::NO_CONTENT);
        }
        let r = c.post("/api/v1/tasks/next", json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The view handed out with a fresh lease is the stored task's view.
        assert_eq!(c.get(&format!("/api/v1/tasks/{}", r.body["id"].as_str().unwrap())).await.body, r.body);
        // The same unfinished task comes back until it is done.
        assert_eq!(c.post("/api/v1/tasks/next", json!({})).await.body, r.body);
        // Nobody else can submit it: they hear it does not exist, even with a bad body.
        let mut other = app.login(&uncertified[0].1, PASSWORD).await;
        let id = r.body["id"].as_str().unwrap();
        assert_eq!(other.post(&format!("/api/v1/tasks/{id}/submit"), answer("cardiology")).await.code(), "not_found");
        assert_eq!(other.post(&format!("/api/v1/tasks/{id}/submit"), answer("no-such-option")).await.code(), "not_found");
        // Staff and clients do not annotate.
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        assert_eq!(pm.post("/api/v1/tasks/next", json!({})).await.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn overlap_is_exact_and_nobody_annotates_an_item_twice_under_concurrency() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let people = taskers(&db, &w, &tr, 5, true, "conc").await;
        let project = running_project(&app, &w, classification_spec(&tr, 3, 0.0, false, 0.0), 12, 0).await;
        let mut handles = Vec::new();
        for (_, email) in &people {
            // Two parallel workers per person: their requests race each other too.
            for _ in 0..2 {
                let mut c = app.login(email, PASSWORD).await;
                handles.push(tokio::spawn(async move { drain(&mut c, "cardiology").await }));
            }
        }
        for h in handles {
            h.await.unwrap();
        }
        let rows = sqlx::query("SELECT item_id, author_id FROM annotations WHERE project_id = $1").bind(project.clone()).fetch_all(db.pool()).await.unwrap();
        let mut per_item: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in &rows {
            let fresh = per_item.entry(r.try_get("item_id").unwrap()).or_default().insert(r.try_get("author_id").unwrap());
            assert!(fresh, "someone annotated an item twice");
        }
        assert_eq!(per_item.len(), 12);
        assert!(per_item.values().all(|a| a.len() == 3), "{per_item:?}");
        assert_eq!(rows.len(), 36);
    })
    .await;
}

/// Two server processes (two database handles, each with its own routing
/// dispatcher and submission writer) share one queue: every person pulls
/// from both at once, and overlap stays exact.
#[tokio::test]
async fn two_processes_share_one_queue_and_overlap_stays_exact() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let url = t.url.clone();
        let app = TestApp::new(t);
        let db = app.db().clone();
        let other = Db::connect(&url).await.unwrap();
        let people = taskers(&db, &w, &tr, 6, true, "procs").await;
        let project = running_project(&app, &w, classification_spec(&tr, 2, 0.0, false, 0.0), 15, 0).await;
        let body = || clinlabel_store::tasks::AnnotationBody { answers: [("specialty".to_string(), vec!["cardiology".to_string()])].into_iter().collect(), image: None, text: None };
        let mut handles = Vec::new();
        for (id, _) in &people {
            for process in [db.clone(), other.clone()] {
                let (keyring, who) = (app.keyring.clone(), Principal { user_id: id.clone(), org_id: w.provider.clone(), role: Role::Tasker });
                handles.push(tokio::spawn(async move {
                    let mut done = 0;
                    while let Some(task) = clinlabel_store::tasks::next_task(&process, &keyring, &who).await.unwrap() {
                        match clinlabel_store::tasks::submit(&process, &who, &task.id, body()).await {
                            Ok(_) => done += 1,
                            // The person's other process finished this task first.
                            Err(clinlabel_store::StoreError::Domain(e)) if e.code == ErrorCode::TaskNotHeld => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    done
                }));
            }
        }
        let mut submitted = 0;
        for h in handles {
            submitted += h.await.unwrap();
        }
        let rows = sqlx::query("SELECT item_id, author_id FROM annotations WHERE project_id = $1").bind(project.clone()).fetch_all(db.pool()).await.unwrap();
        let mut per_item: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in &rows {
            assert!(per_item.entry(r.try_get("item_id").unwrap()).or_default().insert(r.try_get("author_id").unwrap()), "someone annotated an item twice");
        }
        assert_eq!(rows.len(), 30);
        assert_eq!(submitted, 30);
        assert!(per_item.len() == 15 && per_item.values().all(|a| a.len() == 2), "{per_item:?}");
        // Every assignment and submission is in the one chain, which verifies.
        let assigns: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'task.assign'").fetch_one(db.pool()).await.unwrap().try_get("n").unwrap();
        assert!(assigns >= 30, "{assigns}");
        assert!(clinlabel_store::audit::verify(&db).await.unwrap().ok);
        other.close().await;
    })
    .await;
}

#[tokio::test]
async fn leases_expire_and_skips_are_remembered() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let people = taskers(&db, &w, &tr, 2, true, "lease").await;
        running_project(&app, &w, classification_spec(&tr, 1, 0.0, false, 0.0), 1, 0).await;
        let mut a = app.login(&people[0].1, PASSWORD).await;
        let mut b = app.login(&people[1].1, PASSWORD).await;
        let task = a.post("/api/v1/tasks/next", json!({})).await.body["id"].as_str().unwrap().to_string();
        assert_eq!(b.post("/api/v1/tasks/next", json!({})).await.status, StatusCode::NO_CONTENT);
        // A abandons it: the lease runs out and the task returns to the queue.
        sqlx::query("UPDATE tasks SET lease_expires_at = $1 WHERE id = $2").bind(clinlabel_store::db::now_ms() - 1).bind(task.clone()).execute(db.pool()).await.unwrap();
        let r = b.post("/api/v1/tasks/next", json!({})).await;
        assert_eq!(r.body["id"], task.as_str());
        let late = a.post(&format!("/api/v1/tasks/{task}/submit"), answer("oncology")).await;
        assert_eq!(late.code(), "not_found", "A's lease is gone: {}", late.body);
        // B skips with a reason; A may take it, B never sees it again.
        assert_eq!(b.post(&format!("/api/v1/tasks/{task}/skip"), json!({ "reason": "" })).await.body["details"]["field"], "reason");
        assert_eq!(b.post(&format!("/api/v1/tasks/{task}/skip"), json!({ "reason": "Not my specialty" })).await.status, StatusCode::NO_CONTENT);
        assert_eq!(b.post("/api/v1/tasks/next", json!({})).await.status, StatusCode::NO_CONTENT);
        assert_eq!(a.post("/api/v1/tasks/next", json!({})).await.body["id"], task.as_str());
    })
    .await;
}

#[tokio::test]
async fn gold_tasks_look_like_real_ones_and_poor_accuracy_suspends() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let people = taskers(&db, &w, &tr, 1, true, "gold").await;
        let project = running_project(&app, &w, classification_spec(&tr, 1, 0.5, false, 0.0), 30, 20).await;
        let gold_items: BTreeSet<String> = sqlx::query("SELECT item_id FROM gold_answers WHERE project_id = $1").bind(project.clone()).fetch_all(db.pool()).await.unwrap().iter().map(|r| r.try_get("item_id").unwrap()).collect();
        let mut c = app.login(&people[0].1, PASSWORD).await;
        let mut views: Vec<Value> = Vec::new();
        let mut submits = Vec::new();
        // Phase 1: right answers (gold says "oncology") until both kinds were served.
        // Phase 2: wrong answers until the certification is suspended.
        let mut wrong = false;
        for _ in 0..60 {
            let r = c.post("/api/v1/tasks/next", json!({})).await;
            if r.status == StatusCode::NO_CONTENT {
                break;
            }
            let given = if wrong { "neurology" } else { "oncology" };
            submits.push(c.post(&format!("/api/v1/tasks/{}/submit", r.body["id"].as_str().unwrap()), answer(given)).await.body);
            views.push(r.body);
            let seen_gold = views.iter().any(|v| gold_items.contains(v["item_id"].as_str().unwrap()));
            let seen_real = views.iter().any(|v| !gold_items.contains(v["item_id"].as_str().unwrap()));
            wrong = wrong || (seen_gold && seen_real);
        }
        let (gold, real): (Vec<&Value>, Vec<&Value>) = views.iter().partition(|v| gold_items.contains(v["item_id"].as_str().unwrap()));
        assert!(!gold.is_empty() && !real.is_empty(), "both kinds were served: {} gold, {} real", gold.len(), real.len());
        // Field by field, a gold task is shaped exactly like a real one.
        let shape = |v: &Value| -> Vec<(String, String)> {
            v.as_object().unwrap().iter().map(|(k, x)| {
                let kind = match x {
                    Value::String(s) if k == "id" || k == "item_id" => format!("id:{}:{}", s.len(), s.chars().all(|c| c.is_ascii_hexdigit())),
                    Value::Number(_) => "number".into(),
                    Value::String(_) => "string".into(),
                    Value::Null => "null".into(),
                    other => other.to_string(),
                };
                (k.clone(), kind)
            }).collect()
        };
        for g in &gold {
            assert_eq!(shape(g), shape(real[0]));
            assert_eq!(g["deadline"], real[0]["deadline"]);
            assert_eq!(g["lease_expires_at"].as_i64().unwrap() - real[0]["lease_expires_at"].as_i64().unwrap() < 60_000, true);
        }
        assert!(submits.windows(2).all(|s| s[0]["status"] == s[1]["status"] && s[0].as_object().unwrap().keys().eq(s[1].as_object().unwrap().keys())));
        // Wrong gold answers pull the rolling accuracy under 80 %: the certification
        // is suspended, the tasker and the PM are told, and it is audited.
        let status: String = sqlx::query("SELECT status FROM certifications WHERE user_id = $1").bind(people[0].0.clone()).fetch_one(db.pool()).await.unwrap().try_get("status").unwrap();
        assert_eq!(status, "suspended");
        assert_eq!(views.len(), gold.len() + real.len());
        assert!(gold.len() >= 3, "suspension needs at least three gold results");
        assert_eq!(c.post("/api/v1/tasks/next", json!({})).await.status, StatusCode::NO_CONTENT);
        let mine = c.get("/api/v1/notifications").await;
        assert_eq!(mine.body[0]["kind"], "certification_suspended");
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        assert!(pm.get("/api/v1/notifications").await.body.as_array().unwrap().iter().any(|n| n["body"]["user_id"] == people[0].0.as_str()));
        let acc = pm.get(&format!("/api/v1/accuracy?track_id={tr}")).await;
        assert!(acc.body[0]["rolling_accuracy"].as_f64().unwrap() < 0.8, "{}", acc.body);
        let audit: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'certification.suspend'").fetch_one(db.pool()).await.unwrap().try_get("n").unwrap();
        assert_eq!(audit, 1);
    })
    .await;
}

#[tokio::test]
async fn a_batch_goes_through_three_tiers_with_rework_to_approval() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let people = taskers(&db, &w, &tr, 3, true, "tiers").await;
        let project = running_project(&app, &w, classification_spec(&tr, 2, 0.0, true, 100.0), 2, 0).await;
        let mut ann_a = app.login(&people[0].1, PASSWORD).await;
        let mut ann_b = app.login(&people[1].1, PASSWORD).await;
        let mut peer = app.login(&people[2].1, PASSWORD).await;
        let mut qa = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        assert_eq!(drain(&mut ann_a, "cardiology").await.len(), 2);
        assert_eq!(drain(&mut ann_b, "cardiology").await.len(), 2);
        // Annotators never review work on items they annotated.
        assert_eq!(ann_a.post("/api/v1/reviews/next?tier=1", json!({})).await.status, StatusCode::NO_CONTENT);
        assert_eq!(qa.post("/api/v1/reviews/next?tier=1", json!({})).await.status, StatusCode::FORBIDDEN);
        // Tier 1: the peer rejects the first annotation with an anchored comment, accepts the rest.
        let first = peer.post("/api/v1/reviews/next?tier=1", json!({})).await;
        assert_eq!(first.body["tier"], 1);
        assert!(first.body["annotation"]["author"].as_str().unwrap().starts_with("Annotator-"), "authors are pseudonymous");
        assert!(!first.body.to_string().contains(&people[0].0) && !first.body.to_string().contains(&people[1].0));
        let r = peer.post(&format!("/api/v1/tasks/{}/review", first.body["id"].as_str().unwrap()), json!({ "decision": "reject" })).await;
        assert_eq!(r.body["details"]["field"], "comments");
        let r = peer.post(&format!("/api/v1/tasks/{}/review", first.body["id"].as_str().unwrap()), json!({ "decision": "reject", "comments": [{ "anchor": "question:specialty", "text": "The note describes a glioma: neurology, not cardiology." }] })).await;
        assert_eq!(r.body["next"], "rework", "{}", r.body);
        for _ in 0..3 {
            let t = peer.post("/api/v1/reviews/next?tier=1", json!({})).await;
            assert_eq!(peer.post(&format!("/api/v1/tasks/{}/review", t.body["id"].as_str().unwrap()), json!({ "decision": "accept" })).await.body["next"], "tier2");
        }
        // The author finds the work returned with the comment in place, and fixes it.
        let author_client = if first.body["annotation"]["author"] == crate::tasks::pseudo(&project, &people[0].0) { &mut ann_a } else { &mut ann_b };
        let returned = author_client.get("/api/v1/tasks/returned").await;
        assert_eq!(returned.body.as_array().unwrap().len(), 1, "{}", returned.body);
        let rework = &returned.body[0];
        assert_eq!(rework["kind"], "rework");
        assert_eq!(rework["reviews"][0]["comments"][0]["anchor"], "question:specialty");
        assert_eq!(rework["annotation"]["body"]["answers"]["specialty"][0], "cardiology");
        let r = author_client.post(&format!("/api/v1/tasks/{}/submit", rework["id"].as_str().unwrap()), answer("cardiology")).await;
        assert_eq!(r.status, StatusCode::OK);
        // The resubmission goes through tier 1 again.
        let again = peer.post("/api/v1/reviews/next?tier=1", json!({})).await;
        assert_eq!(again.body["annotation"]["round"], 1);
        assert_eq!(peer.post(&format!("/api/v1/tasks/{}/review", again.body["id"].as_str().unwrap()), json!({ "decision": "accept" })).await.body["next"], "tier2");
        // Tier 2: the QA reviewer accepts all four.
        for _ in 0..4 {
            let t = qa.post("/api/v1/reviews/next?tier=2", json!({})).await;
            assert_eq!(t.status, StatusCode::OK, "{}", t.body);
            qa.post(&format!("/api/v1/tasks/{}/review", t.body["id"].as_str().unwrap()), json!({ "decision": "accept" })).await;
        }
        // The batch is complete: the PM spot-checks the seeded sample (tier 3).
        let batches = qa.get(&format!("/api/v1/projects/{project}/batches")).await;
        let batch = batches.body[0].clone();
        assert_eq!(batch["state"], "spot_check", "{batch}");
        let chosen: Vec<String> = serde_json::from_value(batch["spot_check_items"].clone()).unwrap();
        let items: Vec<String> = sqlx::query("SELECT id FROM items WHERE batch_id = $1 ORDER BY id").bind(batch["id"].as_str().unwrap().to_string()).fetch_all(db.pool()).await.unwrap().iter().map(|r| r.try_get("id").unwrap()).collect();
        assert_eq!(chosen, clinlabel_domain::qa::spot_check(batch["spot_check_seed"].as_i64().unwrap() as u64, &items, 10.0), "reproducible from the recorded seed");
        // Approval is refused until the spot-check is done.
        let r = qa.post(&format!("/api/v1/batches/{}/decision", batch["id"].as_str().unwrap()), json!({ "decision": "approve" })).await;
        assert_eq!(r.code(), "invalid_transition");
        loop {
            let t = pm.post("/api/v1/reviews/next?tier=3", json!({})).await;
            if t.status == StatusCode::NO_CONTENT {
                break;
            }
            assert_eq!(t.body["tier"], 3);
            pm.post(&format!("/api/v1/tasks/{}/review", t.body["id"].as_str().unwrap()), json!({ "decision": "accept" })).await;
        }
        let b = qa.get(&format!("/api/v1/batches/{}", batch["id"].as_str().unwrap())).await;
        assert_eq!(b.body["state"], "awaiting_approval", "{}", b.body);
        // It is on the QA reviewer's queue of batches awaiting approval.
        let waiting = qa.get("/api/v1/batches?state=awaiting_approval").await;
        assert_eq!(waiting.body.as_array().unwrap().iter().map(|b| b["id"].clone()).collect::<Vec<_>>(), vec![batch["id"].clone()]);
        assert_eq!(ann_a.get("/api/v1/batches").await.status, StatusCode::FORBIDDEN);
        assert_eq!(b.body["rework_rate"], 0.25);
        assert_eq!(b.body["agreement"][0]["percent_agreement"], 1.0);
        assert_eq!(b.body["meets_threshold"], true);
        let r = qa.post(&format!("/api/v1/batches/{}/decision", batch["id"].as_str().unwrap()), json!({ "decision": "approve" })).await;
        assert_eq!(r.body["state"], "approved", "{}", r.body);
        assert!(clinlabel_store::audit::verify(&db).await.unwrap().ok);
    })
    .await;
}

#[tokio::test]
async fn a_batch_under_the_threshold_cannot_be_approved_and_is_returned() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let people = taskers(&db, &w, &tr, 2, true, "low").await;
        let project = running_project(&app, &w, classification_spec(&tr, 2, 0.0, false, 0.0), 4, 0).await;
        let mut a = app.login(&people[0].1, PASSWORD).await;
        let mut b = app.login(&people[1].1, PASSWORD).await;
        drain(&mut a, "cardiology").await;
        drain(&mut b, "oncology").await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        loop {
            let t = pm.post("/api/v1/reviews/next?tier=3", json!({})).await;
            if t.status == StatusCode::NO_CONTENT {
                break;
            }
            pm.post(&format!("/api/v1/tasks/{}/review", t.body["id"].as_str().unwrap()), json!({ "decision": "accept" })).await;
        }
        let mut qa = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
        let batch = qa.get(&format!("/api/v1/projects/{project}/batches")).await.body[0].clone();
        assert_eq!(batch["state"], "awaiting_approval", "{batch}");
        assert_eq!(batch["agreement"][0]["percent_agreement"], 0.0);
        assert_eq!(batch["meets_threshold"], false);
        let id = batch["id"].as_str().unwrap();
        let r = qa.post(&format!("/api/v1/batches/{id}/decision"), json!({ "decision": "approve" })).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "quality_below_threshold"));
        let ann: String = sqlx::query("SELECT a.id FROM annotations a WHERE a.project_id = $1 AND a.author_id = $2 ORDER BY a.id LIMIT 1").bind(project.clone()).bind(people[1].0.clone()).fetch_one(db.pool()).await.unwrap().try_get("id").unwrap();
        let r = qa.post(&format!("/api/v1/batches/{id}/decision"), json!({ "decision": "return", "returned": [{ "annotation_id": ann, "comments": [{ "anchor": "question:specialty", "text": "Re-read the assessment." }] }] })).await;
        assert_eq!(r.body["state"], "annotating", "{}", r.body);
        let returned = b.get("/api/v1/tasks/returned").await;
        let reviews = returned.body[0]["reviews"].as_array().unwrap();
        let qa_review = reviews.iter().find(|r| r["decision"] == "reject").expect("the QA feedback is in place");
        assert_eq!(qa_review["comments"][0]["text"], "Re-read the assessment.");
    })
    .await;
}

/// The pseudonym a project shows for a person.
pub fn pseudo(project: &str, user: &str) -> Value {
    json!(clinlabel_store::tasks::pseudonym(project, user))
}

#[tokio::test]
async fn a_tasker_reads_the_item_of_the_task_they_hold_and_nothing_else() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let tr = track(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let people = taskers(&db, &w, &tr, 2, true, "content").await;
        let admin = admin_of(&w);
        for kind in [clinlabel_store::agreements::AgreementKind::Nda, clinlabel_store::agreements::AgreementKind::Dpa] {
            let v = clinlabel_store::agreements::publish(&db, &admin, kind, "Terms", "The terms.").await.unwrap();
            let ca = Principal { user_id: w.id(Role::ClientAdmin, &w.org_a).into(), org_id: w.org_a.clone(), role: Role::ClientAdmin };
            clinlabel_store::agreements::sign(&db, &ca, &v.id, "Clara Client", "127.0.0.1").await.unwrap();
        }
        // A real upload: two notes in a JSONL file, through the upload protocol.
        let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let p = client.post("/api/v1/projects", classification_spec(&tr, 1, 0.0, false, 0.0)).await.body["id"].as_str().unwrap().to_string();
        let notes = "{\"id\":\"n1\",\"text\":\"Chest pain radiating to the left arm; troponin raised.\"}\n{\"id\":\"n2\",\"text\":\"New glioblastoma, temozolomide started.\"}\n";
        let up = client.post(&format!("/api/v1/projects/{p}/uploads"), json!({ "name": "notes.jsonl", "size": notes.len() })).await;
        assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
        let req = client
            .request(axum::http::Method::PATCH, &format!("/api/v1/uploads/{}", up.body["id"].as_str().unwrap()))
            .header(axum::http::header::CONTENT_TYPE, "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header(axum::http::header::CONTENT_LENGTH, notes.len())
            .body(axum::body::Body::from(notes))
            .unwrap();
        let r = client.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let ca = Principal { user_id: w.id(Role::ClientAdmin, &w.org_a).into(), org_id: w.org_a.clone(), role: Role::ClientAdmin };
        let pm = Principal { user_id: w.id(Role::Pm, &w.provider).into(), org_id: w.provider.clone(), role: Role::Pm };
        clinlabel_store::projects::step(&db, &app.keyring, &ca, &p, clinlabel_domain::project::Step::Submit, None).await.unwrap();
        let q = clinlabel_store::projects::issue_quote(&db, &app.keyring, &pm, &p, &[]).await.unwrap();
        clinlabel_store::projects::decide_quote(&db, &app.keyring, &ca, &p, &q.id, true, None).await.unwrap();
        clinlabel_store::projects::step(&db, &app.keyring, &pm, &p, clinlabel_domain::project::Step::Start, None).await.unwrap();
        let mut a = app.login(&people[0].1, PASSWORD).await;
        let mut b = app.login(&people[1].1, PASSWORD).await;
        let task = a.post("/api/v1/tasks/next", json!({})).await.body["id"].as_str().unwrap().to_string();
        let content = a.get(&format!("/api/v1/tasks/{task}/content")).await;
        assert_eq!(content.status, StatusCode::OK, "{}", content.body);
        let text = content.body["text"].as_str().unwrap();
        assert!(text.starts_with("Chest pain") || text.starts_with("New glioblastoma"), "{text}");
        // Nobody else reads it through this task, and not after it is done.
        assert_eq!(b.get(&format!("/api/v1/tasks/{task}/content")).await.code(), "not_found");
        a.post(&format!("/api/v1/tasks/{task}/submit"), answer("cardiology")).await;
        assert_eq!(a.get(&format!("/api/v1/tasks/{task}/content")).await.code(), "not_found");
    })
    .await;
}
