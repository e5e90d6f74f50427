//! Sign-in, sessions, CSRF, throttling, passwords, API tokens, first-admin setup
//! and the API's answers to bad input — through the real router.

use crate::support::*;
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use clinlabel_domain::Role;
use clinlabel_server::ServerConfig;
use clinlabel_store::auth::SessionPolicy;
use serde_json::json;

#[tokio::test]
async fn first_admin_setup_uses_the_one_time_link_once() {
    check_db(|t| async move {
        let app = TestApp::new(t);
        let mut anon = app.anonymous();
        assert_eq!(anon.get("/api/v1/setup").await.body["needed"], true);
        let token = clinlabel_store::auth::issue_setup_token(app.db()).await.unwrap().unwrap();
        let form = |tok: &str| json!({ "token": tok, "organisation_name": "Acme Annotation", "email": "Root@Acme.test", "name": "Root", "password": PASSWORD });
        let r = anon.post("/api/v1/setup", form("not-the-token")).await;
        assert_eq!((r.status, r.code()), (StatusCode::GONE, "setup_token_invalid"));
        let mut admin = app.anonymous();
        let r = admin.post("/api/v1/setup", form(token.expose())).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["user"]["role"], "admin");
        assert_eq!(r.body["user"]["email"], "root@acme.test");
        assert_eq!(r.body["organisation"]["kind"], "provider");
        // Signed in straight away.
        assert_eq!(admin.get("/api/v1/auth/me").await.status, StatusCode::OK);
        // The link works once; once an account exists no new link is issued.
        let r = anon.post("/api/v1/setup", form(token.expose())).await;
        assert_eq!(r.code(), "setup_token_invalid");
        assert!(clinlabel_store::auth::issue_setup_token(app.db()).await.unwrap().is_none());
        assert_eq!(anon.get("/api/v1/setup").await.body["needed"], false);
    })
    .await;
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut c = app.anonymous();
        let r = c.post("/api/v1/auth/login", json!({ "email": w.email(Role::Pm, &w.provider), "password": PASSWORD })).await;
        assert_eq!(r.status, StatusCode::OK);
        let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
        assert_eq!(r.body["user"]["role"], "pm");
        assert!(r.body.get("password_hash").is_none() && r.body["user"].get("password_hash").is_none());
        let session = c.cookie.clone().unwrap();
        assert_eq!(c.get("/api/v1/auth/me").await.status, StatusCode::OK);
        assert_eq!(c.post("/api/v1/auth/logout", json!({})).await.status, StatusCode::NO_CONTENT);
        // The old cookie no longer works.
        c.cookie = Some(session);
        let r = c.get("/api/v1/auth/me").await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "not_signed_in"));
    })
    .await;
}

#[tokio::test]
async fn wrong_passwords_are_refused_alike_and_then_throttled() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let email = w.email(Role::Tasker, &w.provider).to_string();
        let mut c = app.anonymous();
        let unknown = c.post("/api/v1/auth/login", json!({ "email": "nobody@x.test", "password": PASSWORD })).await;
        let wrong = c.post("/api/v1/auth/login", json!({ "email": email, "password": "wrong password!" })).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
        assert_eq!(wrong.body, unknown.body, "unknown account and wrong password must read the same");
        for _ in 1..clinlabel_store::auth::THROTTLE_MAX_PER_ACCOUNT {
            c.post("/api/v1/auth/login", json!({ "email": email, "password": "wrong password!" })).await;
        }
        // Now even the right password is refused for this account.
        let r = c.post("/api/v1/auth/login", json!({ "email": email, "password": PASSWORD })).await;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
        // Another account is unaffected.
        let r = c.post("/api/v1/auth/login", json!({ "email": w.email(Role::Pm, &w.provider), "password": PASSWORD })).await;
        assert_eq!(r.status, StatusCode::OK);
        // Failures are in the audit trail, without the password.
        let n: i64 = sqlx::Row::try_get(
            &sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'auth.login_failed'").fetch_one(app.db().pool()).await.unwrap(),
            "n",
        )
        .unwrap();
        assert_eq!(n, clinlabel_store::auth::THROTTLE_MAX_PER_ACCOUNT + 1);
        let details: Vec<String> = sqlx::query("SELECT details FROM audit_events")
            .fetch_all(app.db().pool())
            .await
            .unwrap()
            .iter()
            .map(|r| sqlx::Row::try_get(r, "details").unwrap())
            .collect();
        assert!(details.iter().all(|d| !d.contains("wrong password") && !d.contains(PASSWORD)));
    })
    .await;
}

#[tokio::test]
async fn state_changes_need_the_session_csrf_token() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut c = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let body = json!({ "name": "Via CSRF", "kind": "client" });
        let good = c.csrf.clone();
        c.csrf = None;
        let r = c.post("/api/v1/organisations", body.clone()).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "csrf_token_missing"));
        c.csrf = Some("forged".into());
        let r = c.post("/api/v1/organisations", body.clone()).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "csrf_token_invalid"));
        // Reads need no token.
        assert_eq!(c.get("/api/v1/organisations").await.status, StatusCode::OK);
        // Nothing was created by the refused requests.
        c.csrf = good;
        let list = c.get("/api/v1/organisations?per_page=100").await;
        assert!(list.body["items"].as_array().unwrap().iter().all(|o| o["name"] != "Via CSRF"));
        assert_eq!(c.post("/api/v1/organisations", body).await.status, StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn expired_sessions_answer_session_expired() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let config = ServerConfig { session_policy: SessionPolicy { idle_ms: 0, absolute_ms: 3_600_000 }, ..Default::default() };
        let app = TestApp::with_config(t, config);
        let mut c = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
        let r = c.get("/api/v1/auth/me").await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "session_expired"));
        // And the expired session is gone for good.
        let r = c.get("/api/v1/auth/me").await;
        assert_eq!(r.code(), "not_signed_in");
    })
    .await;
}

#[tokio::test]
async fn password_change_checks_the_current_one_and_ends_other_sessions() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let email = w.email(Role::ClientMember, &w.org_a).to_string();
        let mut here = app.login(&email, PASSWORD).await;
        let mut elsewhere = app.login(&email, PASSWORD).await;
        let r = here.post("/api/v1/auth/password", json!({ "current_password": "not it at all", "new_password": "a brand new passphrase" })).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "wrong_password"));
        let r = here.post("/api/v1/auth/password", json!({ "current_password": PASSWORD, "new_password": "short" })).await;
        assert_eq!(r.code(), "weak_password");
        assert_eq!(r.body["details"]["field"], "new_password");
        let r = here.post("/api/v1/auth/password", json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" })).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(here.get("/api/v1/auth/me").await.status, StatusCode::OK);
        assert_eq!(elsewhere.get("/api/v1/auth/me").await.code(), "not_signed_in");
        let mut c = app.anonymous();
        assert_eq!(c.post("/api/v1/auth/login", json!({ "email": email, "password": PASSWORD })).await.status, StatusCode::UNAUTHORIZED);
        app.login(&email, "a brand new passphrase").await;
    })
    .await;
}

#[tokio::test]
async fn api_tokens_authenticate_scripts_until_revoked() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut c = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let r = c.post("/api/v1/auth/tokens", json!({ "name": "nightly export" })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let secret = r.body["secret"].as_str().unwrap().to_string();
        let id = r.body["token"]["id"].as_str().unwrap().to_string();
        assert!(secret.starts_with("clt_"));
        // Stored hashed: the secret is nowhere in the database.
        let stored: String = sqlx::Row::try_get(&sqlx::query("SELECT token_hash FROM api_tokens").fetch_one(app.db().pool()).await.unwrap(), "token_hash").unwrap();
        assert_ne!(stored, secret);
        // Listing never shows the secret again.
        let list = c.get("/api/v1/auth/tokens").await;
        assert!(!list.body.to_string().contains(&secret));
        let mut script = app.anonymous();
        script.bearer = Some(secret.clone());
        let me = script.get("/api/v1/auth/me").await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["user"]["role"], "client_admin");
        assert!(me.body["csrf_token"].is_null());
        // A bearer token needs no CSRF header (no ambient credential).
        let r = script.post("/api/v1/users", json!({ "org_id": w.org_a, "email": "script@a.test", "name": "Made by script", "role": "client_member", "password": PASSWORD })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(c.delete(&format!("/api/v1/auth/tokens/{id}")).await.status, StatusCode::NO_CONTENT);
        let r = script.get("/api/v1/auth/me").await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
        // Another user cannot revoke (or see) my tokens.
        let mut other = app.login(w.email(Role::ClientAdmin, &w.org_b), PASSWORD).await;
        assert_eq!(other.delete(&format!("/api/v1/auth/tokens/{id}")).await.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn disabled_accounts_are_signed_out_and_cannot_sign_in() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut admin = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let mut tasker = app.login(w.email(Role::Tasker, &w.provider), PASSWORD).await;
        let r = admin.patch(&format!("/api/v1/users/{}", w.id(Role::Tasker, &w.provider)), json!({ "disabled": true })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(tasker.get("/api/v1/auth/me").await.status, StatusCode::UNAUTHORIZED);
        let mut c = app.anonymous();
        let r = c.post("/api/v1/auth/login", json!({ "email": w.email(Role::Tasker, &w.provider), "password": PASSWORD })).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "account_disabled"));
        // An admin cannot lock themselves out.
        let r = admin.patch(&format!("/api/v1/users/{}", w.id(Role::Admin, &w.provider)), json!({ "disabled": true })).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "would_lock_out"));
    })
    .await;
}

/// Bad input: each gets its 4xx with a stable code, and changes nothing.
#[tokio::test]
async fn bad_input_is_refused_with_a_code_naming_the_problem() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut c = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let before = clinlabel_store::audit::verify(app.db()).await.unwrap().head_seq;

        let raw = |c: &Client, body: &'static str, ct: Option<&'static str>| {
            let mut b = c.request(Method::POST, "/api/v1/users");
            if let Some(ct) = ct {
                b = b.header(header::CONTENT_TYPE, ct);
            }
            b.body(Body::from(body)).unwrap()
        };
        let r = c.send(raw(&c, "{\"org_id\": ", Some("application/json"))).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"));
        let r = c.send(raw(&c, "{}", Some("text/plain"))).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));

        let valid = json!({ "org_id": w.org_a, "email": "new@a.test", "name": "New", "role": "client_member", "password": PASSWORD });
        let mut wrong_type = valid.clone();
        wrong_type["role"] = json!(7);
        let r = c.post("/api/v1/users", wrong_type).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
        assert_eq!(r.body["details"]["field"], "role", "{}", r.body);
        let mut unknown_role = valid.clone();
        unknown_role["role"] = json!("superuser");
        let r = c.post("/api/v1/users", unknown_role).await;
        assert_eq!(r.body["details"]["field"], "role");
        let mut extra = valid.clone();
        extra["is_admin"] = json!(true);
        let r = c.post("/api/v1/users", extra).await;
        assert_eq!(r.code(), "invalid_field");
        assert!(r.body["message"].as_str().unwrap().contains("is_admin"), "{}", r.body);
        let mut bad_email = valid.clone();
        bad_email["email"] = json!("not an address");
        let r = c.post("/api/v1/users", bad_email).await;
        assert_eq!((r.code(), r.body["details"]["field"].as_str()), ("invalid_field", Some("email")));
        let mut hostile = valid.clone();
        hostile["name"] = json!("x".repeat(10_000));
        assert_eq!(c.post("/api/v1/users", hostile).await.body["details"]["field"], "name");

        // Oversized bodies.
        let big = format!("{{\"name\":\"{}\",\"kind\":\"client\"}}", "x".repeat(2 << 20));
        let req = c.request(Method::POST, "/api/v1/organisations").header(header::CONTENT_TYPE, "application/json").body(Body::from(big)).unwrap();
        let r = c.send(req).await;
        assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));

        // Path-like and foreign ids.
        let r = c.get("/api/v1/users/..%2F..%2Fetc%2Fpasswd").await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
        let r = c.get("/api/v1/no/such/route").await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "route_not_found"));
        let r = c.call(Method::PUT, "/api/v1/users", None).await;
        assert_eq!((r.status, r.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
        let r = c.get("/api/v1/users?per_page=lots").await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_query"));
        let r = c.get("/api/v1/users?sort=password_hash").await;
        assert_eq!(r.code(), "invalid_query");

        // Nothing changed.
        assert_eq!(clinlabel_store::audit::verify(app.db()).await.unwrap().head_seq, before);
        // The valid request still works.
        assert_eq!(c.post("/api/v1/users", valid).await.status, StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let app = TestApp::new(fresh_db(Backend::Sqlite).await);
    let mut c = app.anonymous();
    for path in ["/healthz", "/api/v1/auth/me", "/api/v1/openapi.json", "/metrics"] {
        let r = c.get(path).await;
        assert!(r.headers.get("x-request-id").is_some_and(|v| !v.is_empty()), "{path}");
        assert_eq!(r.headers.get("x-content-type-options").unwrap(), "nosniff", "{path}");
        assert!(r.headers.get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(r.headers.get("referrer-policy").unwrap(), "no-referrer");
    }
    // A caller's request id is echoed back.
    let req = c.request(Method::GET, "/healthz").header("x-request-id", "trace-me-42").body(Body::empty()).unwrap();
    assert_eq!(c.send(req).await.headers.get("x-request-id").unwrap(), "trace-me-42");
    // Metrics count requests by route pattern.
    let text = c.get("/metrics").await.body;
    let text = text.as_str().unwrap();
    assert!(text.contains("clinlabel_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let doc = serde_json::to_value(clinlabel_server::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/setup", "get"),
        ("/setup", "post"),
        ("/auth/login", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/auth/password", "post"),
        ("/auth/tokens", "get"),
        ("/auth/tokens", "post"),
        ("/auth/tokens/{id}", "delete"),
        ("/organisations", "get"),
        ("/organisations", "post"),
        ("/organisations/{id}", "get"),
        ("/organisations/{id}", "patch"),
        ("/users", "get"),
        ("/users", "post"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/audit", "get"),
        ("/audit/verify", "get"),
        ("/tracks", "get"),
        ("/tracks", "post"),
        ("/tracks/{id}", "patch"),
        ("/certifications", "get"),
        ("/certifications", "post"),
        ("/certifications/{id}", "patch"),
        ("/agreements", "get"),
        ("/agreements", "post"),
        ("/agreements/{id}/sign", "post"),
        ("/organisations/{id}/signatures", "get"),
        ("/projects", "get"),
        ("/projects", "post"),
        ("/projects/{id}", "get"),
        ("/projects/{id}", "put"),
        ("/projects/{id}/steps", "post"),
        ("/projects/{id}/history", "get"),
        ("/projects/{id}/quotes", "get"),
        ("/projects/{id}/quotes", "post"),
        ("/projects/{id}/quote-preview", "get"),
        ("/projects/{id}/quotes/{quote_id}/decision", "post"),
        ("/rate-card", "get"),
        ("/rate-card", "put"),
        ("/tracks/{id}/rate", "put"),
        ("/tasks/next", "post"),
        ("/reviews/next", "post"),
        ("/tasks/{id}", "get"),
        ("/tasks/{id}/content", "get"),
        ("/tasks/{id}/submit", "post"),
        ("/tasks/{id}/skip", "post"),
        ("/tasks/{id}/review", "post"),
        ("/tasks/returned", "get"),
        ("/items/{id}/gold", "put"),
        ("/projects/{id}/batches", "get"),
        ("/batches", "get"),
        ("/batches/{id}", "get"),
        ("/batches/{id}/decision", "post"),
        ("/accuracy", "get"),
        ("/notifications", "get"),
        ("/projects/{id}/uploads", "post"),
        ("/projects/{id}/uploads", "get"),
        ("/uploads/{id}", "get"),
        ("/uploads/{id}", "patch"),
        ("/uploads/{id}", "delete"),
        ("/projects/{id}/files", "get"),
        ("/projects/{id}/items", "get"),
        ("/projects/{id}/lexicon", "delete"),
        ("/projects/{id}/lexicon", "get"),
        ("/projects/{id}/lexicon", "put"),
        ("/projects/{id}/lexicon/content", "get"),
        ("/items/{id}/content", "get"),
        ("/items/{id}/series", "get"),
        ("/items/{id}/deidentification", "get"),
        ("/items/{id}/frames/{n}", "get"),
        ("/tasks/{id}/series", "get"),
        ("/tasks/{id}/frames/{n}", "get"),
        ("/projects/{id}/deliveries", "post"),
        ("/projects/{id}/deliveries", "get"),
        ("/deliveries/{id}", "get"),
        ("/deliveries/{id}/certify", "post"),
        ("/deliveries/{id}/report", "get"),
        ("/deliveries/{id}/report.html", "get"),
        ("/deliveries/{id}/report.pdf", "get"),
        ("/deliveries/{id}/links", "post"),
        ("/deliveries/{id}/links", "get"),
        ("/data-room/links/{id}", "delete"),
        ("/deliveries/{id}/downloads", "get"),
        ("/data-room/{token}", "get"),
        ("/data-room/{token}/files/{file_id}", "get"),
        ("/projects/{id}/data-room/downloaders", "get"),
        ("/projects/{id}/data-room/downloaders/{user_id}", "put"),
        ("/projects/{id}/data-room/downloaders/{user_id}", "delete"),
        ("/projects/{id}/audit.jsonl", "get"),
        ("/terminology/systems", "get"),
        ("/terminology/{system}/search", "get"),
        ("/terminology/{system}/concepts/{code}", "get"),
        ("/tasks/{id}/suggestions", "get"),
        ("/projects/{id}/suggestion-quality", "get"),
    ];
    let mut documented: Vec<(String, String)> =
        paths.iter().flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (p.clone(), m.clone()))).collect();
    documented.sort();
    let mut want: Vec<(String, String)> = expected.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect();
    want.sort();
    assert_eq!(documented, want);
    // Query strings are documented as query parameters, path segments as path parameters.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let name = p["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(p["in"] == "path", in_path, "{method} {path}: parameter {name} is documented in {}", p["in"]);
            }
        }
    }
    // And every documented route answers (not route_not_found) in the real router.
    let app = TestApp::new(fresh_db(Backend::Sqlite).await);
    let mut c = app.anonymous();
    for (p, m) in &want {
        let path = format!("/api/v1{}", p.replace("{id}", "x").replace("{quote_id}", "y"));
        let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let r = c.call(method, &path, if m == "get" || m == "delete" { None } else { Some(json!({})) }).await;
        assert_ne!(r.code(), "route_not_found", "{m} {path}");
        assert_ne!(r.code(), "method_not_allowed", "{m} {path}");
    }
}
