//! The role matrix: each role × each route × own/foreign organisation, with the
//! expected answer. Another organisation's objects answer 404, never 403.

use crate::support::*;
use axum::http::{Method, StatusCode};
use clinlabel_domain::Role;
use serde_json::{Value, json};

/// What a role is allowed (`A`), refused for lack of permission (`F`) or
/// does not get to see (`N`: 404).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    A,
    F,
    N,
}
use Want::*;

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    /// Expected per role, in `ROLES` order.
    want: [Want; 6],
}

const ROLES: [Role; 6] = [Role::Admin, Role::Pm, Role::QaReviewer, Role::Tasker, Role::ClientAdmin, Role::ClientMember];

fn home_org(w: &World, role: Role) -> String {
    if role.org_kind() == clinlabel_domain::OrgKind::Provider { w.provider.clone() } else { w.org_a.clone() }
}

/// The cases for one acting role: "own" means the actor's organisation,
/// "foreign" client organisation B (never the actor's own).
fn cases(w: &World, role: Role, n: usize) -> Vec<Case> {
    let own = home_org(w, role);
    let foreign = w.org_b.clone();
    let own_member = if role.org_kind() == clinlabel_domain::OrgKind::Provider { w.id(Role::Tasker, &w.provider) } else { w.id(Role::ClientMember, &w.org_a) }.to_string();
    let foreign_member = w.id(Role::ClientMember, &w.org_b).to_string();
    let new_user = |org: &str, role: &str| json!({ "org_id": org, "email": format!("new{n}-{role}-{}@x.test", &org[..6]), "name": "New", "role": role, "password": PASSWORD });
    let own_new_role = if role.org_kind() == clinlabel_domain::OrgKind::Provider { "tasker" } else { "client_member" };
    vec![
        Case { name: "me", method: Method::GET, path: "/api/v1/auth/me".into(), body: None, want: [A, A, A, A, A, A] },
        Case { name: "own tokens", method: Method::GET, path: "/api/v1/auth/tokens".into(), body: None, want: [A, A, A, A, A, A] },
        Case { name: "list organisations", method: Method::GET, path: "/api/v1/organisations".into(), body: None, want: [A, A, A, A, A, A] },
        Case { name: "read own organisation", method: Method::GET, path: format!("/api/v1/organisations/{own}"), body: None, want: [A, A, A, A, A, A] },
        Case { name: "read foreign organisation", method: Method::GET, path: format!("/api/v1/organisations/{foreign}"), body: None, want: [A, N, N, N, N, N] },
        Case { name: "create organisation", method: Method::POST, path: "/api/v1/organisations".into(), body: Some(json!({ "name": format!("Org {n}"), "kind": "client" })), want: [A, F, F, F, F, F] },
        Case { name: "rename own organisation", method: Method::PATCH, path: format!("/api/v1/organisations/{own}"), body: Some(json!({ "name": format!("Renamed {n}") })), want: [A, F, F, F, F, F] },
        Case { name: "rename foreign organisation", method: Method::PATCH, path: format!("/api/v1/organisations/{foreign}"), body: Some(json!({ "name": "Hijacked" })), want: [A, N, N, N, N, N] },
        Case { name: "list own users", method: Method::GET, path: format!("/api/v1/users?org_id={own}"), body: None, want: [A, F, F, F, A, F] },
        Case { name: "list foreign users", method: Method::GET, path: format!("/api/v1/users?org_id={foreign}"), body: None, want: [A, N, N, N, N, N] },
        Case { name: "create user in own organisation", method: Method::POST, path: "/api/v1/users".into(), body: Some(new_user(&own, own_new_role)), want: [A, F, F, F, A, F] },
        Case { name: "create user in foreign organisation", method: Method::POST, path: "/api/v1/users".into(), body: Some(new_user(&foreign, "client_member")), want: [A, N, N, N, N, N] },
        Case { name: "read self", method: Method::GET, path: "/api/v1/users/SELF".into(), body: None, want: [A, A, A, A, A, A] },
        Case { name: "read own-organisation user", method: Method::GET, path: format!("/api/v1/users/{own_member}"), body: None, want: [A, N, N, A, A, A] },
        Case { name: "read foreign user", method: Method::GET, path: format!("/api/v1/users/{foreign_member}"), body: None, want: [A, N, N, N, N, N] },
        Case { name: "rename own-organisation user", method: Method::PATCH, path: format!("/api/v1/users/{own_member}"), body: Some(json!({ "name": format!("Renamed {n}") })), want: [A, N, N, F, A, F] },
        Case { name: "disable foreign user", method: Method::PATCH, path: format!("/api/v1/users/{foreign_member}"), body: Some(json!({ "disabled": false })), want: [A, N, N, N, N, N] },
        Case { name: "list tracks", method: Method::GET, path: "/api/v1/tracks".into(), body: None, want: [A, A, A, A, A, A] },
        Case { name: "create track", method: Method::POST, path: "/api/v1/tracks".into(), body: Some(json!({ "slug": format!("track-{n}"), "name": "T" })), want: [A, F, F, F, F, F] },
        Case { name: "retire track", method: Method::PATCH, path: "/api/v1/tracks/TRACK".into(), body: Some(json!({ "active": true })), want: [A, F, F, F, F, F] },
        Case { name: "list certifications", method: Method::GET, path: "/api/v1/certifications".into(), body: None, want: [A, A, A, A, F, F] },
        Case { name: "grant certification", method: Method::POST, path: "/api/v1/certifications".into(), body: Some(json!({ "user_id": w.id(Role::Tasker, &w.provider), "track_id": "TRACK", "expires_at": 4_102_444_800_000i64 })), want: [A, F, F, F, F, F] },
        Case { name: "suspend certification", method: Method::PATCH, path: "/api/v1/certifications/CERT".into(), body: Some(json!({ "expires_at": 4_102_444_800_000i64 })), want: [A, F, F, F, F, F] },
        Case { name: "read audit trail", method: Method::GET, path: "/api/v1/audit".into(), body: None, want: [A, F, F, F, F, F] },
        Case { name: "verify audit trail", method: Method::GET, path: "/api/v1/audit/verify".into(), body: None, want: [A, F, F, F, F, F] },
    ]
}

fn matches(want: Want, status: StatusCode, code: &str) -> bool {
    match want {
        A => status.is_success(),
        F => status == StatusCode::FORBIDDEN && code == "forbidden",
        N => status == StatusCode::NOT_FOUND && code == "not_found",
    }
}

#[tokio::test]
async fn role_matrix() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let admin = clinlabel_domain::Principal { user_id: w.id(Role::Admin, &w.provider).into(), org_id: w.provider.clone(), role: Role::Admin };
        let track = clinlabel_store::tracks::create(app.db(), &admin, clinlabel_store::tracks::NewTrack { slug: "matrix".into(), name: "Matrix".into(), description: String::new(), accuracy_threshold: None }).await.unwrap().id;
        let cert = clinlabel_store::tracks::grant(app.db(), &admin, w.id(Role::Tasker, &w.provider), &track, 4_102_444_800_000, None).await.unwrap().id;
        let mut failures = Vec::new();
        for (i, role) in ROLES.into_iter().enumerate() {
            let home = home_org(&w, role);
            let mut c = app.login(w.email(role, &home), PASSWORD).await;
            let me = w.id(role, &home).to_string();
            for (n, case) in cases(&w, role, i).into_iter().enumerate() {
                let path = case.path.replace("SELF", &me).replace("TRACK", &track).replace("CERT", &cert);
                let body = case.body.clone().map(|b| serde_json::from_str(&b.to_string().replace("TRACK", &track)).unwrap());
                let r = c.call(case.method.clone(), &path, body).await;
                if !matches(case.want[i], r.status, r.code()) {
                    failures.push(format!("{role:>13} | {:<36} | want {:?}, got {} {}", case.name, case.want[i], r.status.as_u16(), r.code()));
                }
                let _ = n;
            }
        }
        assert!(failures.is_empty(), "role matrix mismatches:\n{}", failures.join("\n"));
    })
    .await;
}

#[tokio::test]
async fn listings_only_show_what_the_scope_allows() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let users = ca.get("/api/v1/users").await;
        let orgs: Vec<&str> = users.body["items"].as_array().unwrap().iter().map(|u| u["org_id"].as_str().unwrap()).collect();
        assert_eq!(users.body["total"], 2);
        assert!(orgs.iter().all(|o| *o == w.org_a));
        let list = ca.get("/api/v1/organisations").await;
        assert_eq!(list.body["total"], 1);
        assert_eq!(list.body["items"][0]["id"], w.org_a.as_str());
        // A client admin can neither hand out provider roles nor promote to admin.
        let r = ca.post("/api/v1/users", json!({ "org_id": w.org_a, "email": "x@a.test", "name": "X", "role": "tasker", "password": PASSWORD })).await;
        assert_eq!(r.code(), "role_not_allowed_in_organisation");
        // Administrators see everything, paged and sorted.
        let mut admin = app.login(w.email(Role::Admin, &w.provider), PASSWORD).await;
        let page = admin.get("/api/v1/users?sort=email&dir=desc&per_page=3&page=2").await;
        assert_eq!(page.body["total"], 8);
        let emails: Vec<&str> = page.body["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
        let mut all: Vec<String> = w.users.iter().map(|u| u.3.clone()).collect();
        all.sort();
        all.reverse();
        assert_eq!(emails, all[3..6].iter().map(String::as_str).collect::<Vec<_>>());
    })
    .await;
}
