//! Specialist tracks and certifications through the API.

use crate::support::*;
use axum::http::StatusCode;
use clinlabel_domain::Role;
use serde_json::json;

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    clinlabel_store::db::now_ms()
}

#[tokio::test]
async fn default_tracks_are_created_once() {
    check_db(|t| async move {
        assert_eq!(clinlabel_store::tracks::ensure_defaults(&t.db).await.unwrap(), clinlabel_domain::certification::DEFAULT_TRACKS.len());
        assert_eq!(clinlabel_store::tracks::ensure_defaults(&t.db).await.unwrap(), 0);
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut client = app.login(w.email(Role::ClientMember, &w.org_a), PASSWORD).await;
        let list = client.get("/api/v1/tracks").await;
        assert_eq!(list.status, StatusCode::OK);
        let slugs: Vec<&str> = list.body.as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
        assert!(slugs.contains(&"neuroradiology") && slugs.contains(&"clinical-coding"), "{slugs:?}");
    })
    .await;
}

#[tokio::test]
async fn admins_manage_tracks_with_validated_fields() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut admin = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let r = admin.post("/api/v1/tracks", json!({ "slug": "dermatology", "name": "Dermatology", "accuracy_threshold": 0.9 })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        let r = admin.post("/api/v1/tracks", json!({ "slug": "dermatology", "name": "Again" })).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "track_slug_taken"));
        let r = admin.post("/api/v1/tracks", json!({ "slug": "Derm Atology", "name": "X" })).await;
        assert_eq!((r.code(), r.body["details"]["field"].as_str()), ("invalid_field", Some("slug")));
        let r = admin.patch(&format!("/api/v1/tracks/{id}"), json!({ "accuracy_threshold": 1.5 })).await;
        assert_eq!(r.body["details"]["field"], "accuracy_threshold");
        let r = admin.patch(&format!("/api/v1/tracks/{id}"), json!({ "active": false })).await;
        assert_eq!(r.body["active"], false);
        // Retired tracks leave the default listing.
        let list = admin.get("/api/v1/tracks").await;
        assert!(list.body.as_array().unwrap().iter().all(|t| t["id"] != id.as_str()));
        let list = admin.get("/api/v1/tracks?include_inactive=true").await;
        assert!(list.body.as_array().unwrap().iter().any(|t| t["id"] == id.as_str()));
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        assert_eq!(pm.post("/api/v1/tracks", json!({ "slug": "x-ray", "name": "X" })).await.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn certifications_are_granted_suspended_reinstated_and_expire() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut admin = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let track = admin.post("/api/v1/tracks", json!({ "slug": "neuro", "name": "Neuroradiology" })).await.body["id"].as_str().unwrap().to_string();
        let tasker = w.id(Role::Tasker, &w.provider).to_string();
        let r = admin.post("/api/v1/certifications", json!({ "user_id": tasker, "track_id": track, "expires_at": now() + 365 * DAY })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["status"], "active");
        assert_eq!(r.body["track_name"], "Neuroradiology");
        let cert = r.body["id"].as_str().unwrap().to_string();
        // Only taskers hold certifications; expiry must be ahead.
        let r = admin.post("/api/v1/certifications", json!({ "user_id": w.id(Role::Pm, &w.provider), "track_id": track, "expires_at": now() + DAY })).await;
        assert_eq!(r.code(), "not_a_tasker");
        let r = admin.post("/api/v1/certifications", json!({ "user_id": tasker, "track_id": track, "expires_at": now() - DAY })).await;
        assert_eq!(r.body["details"]["field"], "expires_at");
        // Suspension needs a reason.
        let r = admin.patch(&format!("/api/v1/certifications/{cert}"), json!({ "status": "suspended" })).await;
        assert_eq!(r.body["details"]["field"], "reason");
        let r = admin.patch(&format!("/api/v1/certifications/{cert}"), json!({ "status": "suspended", "reason": "gold accuracy 62% over 50 tasks" })).await;
        assert_eq!(r.body["status"], "suspended", "{}", r.body);
        let r = admin.patch(&format!("/api/v1/certifications/{cert}"), json!({ "status": "active", "reason": "retrained" })).await;
        assert_eq!(r.body["status"], "active");
        // Time passes: the certification reads expired without any job running.
        sqlx::query("UPDATE certifications SET expires_at = $1 WHERE id = $2").bind(now() - 1).bind(cert.clone()).execute(app.db().pool()).await.unwrap();
        let r = admin.get(&format!("/api/v1/certifications?status=expired&track_id={track}")).await;
        assert_eq!(r.body["total"], 1, "{}", r.body);
        assert_eq!(r.body["items"][0]["status"], "expired");
        assert_eq!(admin.get("/api/v1/certifications?status=active").await.body["total"], 0);
        // Renewal reactivates.
        let r = admin.post("/api/v1/certifications", json!({ "user_id": tasker, "track_id": track, "expires_at": now() + 30 * DAY })).await;
        assert_eq!((r.body["id"].as_str(), r.body["status"].as_str()), (Some(cert.as_str()), Some("active")));
        // Who sees what.
        let mut t1 = app.login(w.email(Role::Tasker, &w.provider), PASSWORD).await;
        let mine = t1.get("/api/v1/certifications").await;
        assert_eq!(mine.body["total"], 1);
        assert_eq!(t1.get(&format!("/api/v1/certifications?user_id={}", w.id(Role::Pm, &w.provider))).await.status, StatusCode::NOT_FOUND);
        let mut qa = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
        assert_eq!(qa.get("/api/v1/certifications").await.body["total"], 1);
        let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        assert_eq!(client.get("/api/v1/certifications").await.status, StatusCode::FORBIDDEN);
        // The trail has each step.
        let audit = admin.get(&format!("/api/v1/audit?target_id={cert}")).await;
        let actions: Vec<&str> = audit.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["certification.grant", "certification.reinstate", "certification.suspend", "certification.grant"]);
    })
    .await;
}
