//! Test harness: fresh databases on every backend, the real application
//! driven through `oneshot`, and a populated world of organisations and roles.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use clinlabel_blob::BlobStore;
use clinlabel_crypto::{Keyring, MasterKey};
use clinlabel_domain::{OrgKind, Principal, Role, Secret};
use clinlabel_server::{AppState, ServerConfig};
use clinlabel_store::Db;
use clinlabel_store::users::NewUser;
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use std::future::Future;
use std::sync::Arc;
use tower::ServiceExt;

/// A database backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database backends this run covers: `CLINLABEL_TEST_DATABASES` (comma
/// list of `sqlite`, `postgres`), default both. (Storage backends are chosen
/// by `CLINLABEL_TEST_BACKENDS` in the blob crate's tests.) A requested backend that is not
/// available fails the test: a silently skipped backend is a defect.
pub fn backends() -> Vec<Backend> {
    let list = std::env::var("CLINLABEL_TEST_DATABASES").unwrap_or_else(|_| "sqlite,postgres".into());
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("CLINLABEL_TEST_DATABASES: unknown database {other:?} (use sqlite,postgres)"),
        })
        .fold(Vec::new(), |mut v, b| {
            if !v.contains(&b) {
                v.push(b);
            }
            v
        })
}

/// A fresh, migrated, empty database. Keeps its temp dir alive.
pub struct TestDb {
    pub db: Db,
    pub backend: Backend,
    /// Where it is: a second `Db::connect` here is a second server process.
    pub url: String,
    _dir: Option<Arc<tempfile::TempDir>>,
}

pub async fn fresh_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/test.db", dir.path().display());
            let db = Db::connect(&url).await.expect("sqlite connects");
            TestDb { db, backend, url, _dir: Some(Arc::new(dir)) }
        }
        Backend::Postgres => {
            let admin = std::env::var("CLINLABEL_TEST_POSTGRES_URL").unwrap_or_else(|_| {
                panic!(
                    "the PostgreSQL backend is requested but CLINLABEL_TEST_POSTGRES_URL is not set: \
                     run the suite with ./ci/test (which starts PostgreSQL), or set CLINLABEL_TEST_DATABASES=sqlite"
                )
            });
            sqlx::any::install_default_drivers();
            let name = format!("t_{}", clinlabel_store::db::new_id());
            let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("PostgreSQL test server answers");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            conn.close().await.ok();
            let url = match admin.rfind('/') {
                Some(i) => format!("{}/{name}", &admin[..i]),
                None => panic!("CLINLABEL_TEST_POSTGRES_URL has no database part"),
            };
            let db = Db::connect(&url).await.expect("fresh PostgreSQL database connects");
            TestDb { db, backend, url, _dir: None }
        }
    }
}

/// Runs `body` once per backend with a fresh database.
pub async fn check_db<F, Fut>(body: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    for b in backends() {
        eprintln!("-- backend {b:?}");
        let t = fresh_db(b).await;
        // Closures capture only the fields they use: keep the temp dir alive here.
        let _keep = t._dir.clone();
        body(t).await;
    }
}

/// The application over a test database and a temporary local blob store.
pub struct TestApp {
    pub router: Router,
    pub keyring: Arc<Keyring>,
    pub tdb: TestDb,
    _blobs: tempfile::TempDir,
}

impl TestApp {
    pub fn new(tdb: TestDb) -> TestApp {
        Self::with_config(tdb, ServerConfig::default())
    }

    pub fn with_config(tdb: TestDb, config: ServerConfig) -> TestApp {
        let blobs_dir = tempfile::tempdir().unwrap();
        let keyring = Arc::new(Keyring::new(MasterKey::generate()));
        let state = AppState {
            db: tdb.db.clone(),
            blobs: BlobStore::local(blobs_dir.path()).unwrap(),
            keyring: keyring.clone(),
            config: Arc::new(config),
            metrics: Default::default(),
            terminology: clinlabel_terminology::Terminology::shared_bundled(),
        };
        TestApp { router: clinlabel_server::app(state), keyring, tdb, _blobs: blobs_dir }
    }

    pub fn db(&self) -> &Db {
        &self.tdb.db
    }

    /// A client with no session.
    pub fn anonymous(&self) -> Client {
        Client { router: self.router.clone(), cookie: None, csrf: None, bearer: None }
    }

    /// Signs in through the API and returns the client holding the session.
    pub async fn login(&self, email: &str, password: &str) -> Client {
        let mut c = self.anonymous();
        let r = c.post("/api/v1/auth/login", serde_json::json!({ "email": email, "password": password })).await;
        assert_eq!(r.status, StatusCode::OK, "login of {email} failed: {}", r.body);
        c
    }
}

/// One response, decoded.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Res {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// A browser-like client: keeps the session cookie and sends the CSRF token.
#[derive(Clone)]
pub struct Client {
    router: Router,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub async fn send(&mut self, req: Request<Body>) -> Res {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(set) = headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()) {
            let value = set.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
            self.cookie = if value.is_empty() { None } else { Some(value) };
        }
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())) };
        if let Some(t) = body.get("csrf_token").and_then(Value::as_str) {
            self.csrf = Some(t.to_string());
        }
        Res { status, headers, body }
    }

    pub fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method.clone()).uri(path);
        if let Some(c) = &self.cookie {
            b = b.header(header::COOKIE, format!("clinlabel_session={c}"));
        }
        if let Some(t) = &self.bearer {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if method != Method::GET
            && let Some(t) = &self.csrf
        {
            b = b.header("x-csrf-token", t);
        }
        b
    }

    pub async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Res {
        let b = self.request(method, path);
        let req = match body {
            Some(v) => b.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    pub async fn get(&mut self, path: &str) -> Res {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&mut self, path: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn patch(&mut self, path: &str, body: Value) -> Res {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&mut self, path: &str) -> Res {
        self.call(Method::DELETE, path, None).await
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A populated installation: the provider with one user per provider role,
/// client organisations A and B each with a client admin and a member.
pub struct World {
    pub provider: String,
    pub org_a: String,
    pub org_b: String,
    /// (role, organisation id, user id, e-mail) of each account.
    pub users: Vec<(Role, String, String, String)>,
}

impl World {
    pub fn user(&self, role: Role, org: &str) -> &(Role, String, String, String) {
        self.users.iter().find(|u| u.0 == role && u.1 == org).unwrap_or_else(|| panic!("no {role} in {org}"))
    }
    pub fn email(&self, role: Role, org: &str) -> &str {
        &self.user(role, org).3
    }
    pub fn id(&self, role: Role, org: &str) -> &str {
        &self.user(role, org).2
    }
}

pub async fn world(db: &Db) -> World {
    let admin = clinlabel_store::auth::create_user_system(db, None, "admin@provider.test", "Ada Admin", Role::Admin, Secret::new(PASSWORD.into()))
        .await
        .unwrap();
    let p = Principal { user_id: admin.id.clone(), org_id: admin.org_id.clone(), role: Role::Admin };
    let org_a = clinlabel_store::orgs::create(db, &p, "Client A Hospital", OrgKind::Client).await.unwrap().id;
    let org_b = clinlabel_store::orgs::create(db, &p, "Client B Clinic", OrgKind::Client).await.unwrap().id;
    let mut users = vec![(Role::Admin, admin.org_id.clone(), admin.id.clone(), admin.email.clone())];
    let plan = [
        (Role::Pm, &admin.org_id, "pm@provider.test"),
        (Role::QaReviewer, &admin.org_id, "qa@provider.test"),
        (Role::Tasker, &admin.org_id, "tasker@provider.test"),
        (Role::ClientAdmin, &org_a, "admin@a.test"),
        (Role::ClientMember, &org_a, "member@a.test"),
        (Role::ClientAdmin, &org_b, "admin@b.test"),
        (Role::ClientMember, &org_b, "member@b.test"),
    ];
    for (role, org, email) in plan {
        let u = clinlabel_store::users::create(
            db,
            &p,
            NewUser { org_id: org.clone(), email: email.into(), name: format!("{role} user"), role, password: Secret::new(PASSWORD.into()) },
        )
        .await
        .unwrap();
        users.push((role, org.clone(), u.id, u.email));
    }
    World { provider: admin.org_id, org_a, org_b, users }
}

/// A client with no session over any router (for apps built outside [`TestApp`]).
pub fn client_for(router: &Router) -> Client {
    Client { router: router.clone(), cookie: None, csrf: None, bearer: None }
}

/// Publishes an NDA and a DPA (as the provider's admin) and signs both for
/// organisation A (as its client admin): the upload gate's precondition.
pub async fn sign_agreements(db: &Db, w: &World) {
    let admin = Principal { user_id: w.id(Role::Admin, &w.provider).into(), org_id: w.provider.clone(), role: Role::Admin };
    let ca = Principal { user_id: w.id(Role::ClientAdmin, &w.org_a).into(), org_id: w.org_a.clone(), role: Role::ClientAdmin };
    for kind in [clinlabel_store::agreements::AgreementKind::Nda, clinlabel_store::agreements::AgreementKind::Dpa] {
        let v = clinlabel_store::agreements::publish(db, &admin, kind, "Terms", "The terms.").await.unwrap();
        clinlabel_store::agreements::sign(db, &ca, &v.id, "Clara Client", "127.0.0.1").await.unwrap();
    }
}

/// Uploads one file in one chunk through the upload protocol; returns the finished upload.
pub async fn upload_whole(c: &mut Client, project: &str, name: &str, data: &[u8]) -> Value {
    let r = c.post(&format!("/api/v1/projects/{project}/uploads"), serde_json::json!({ "name": name, "size": data.len() })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let req = c
        .request(Method::PATCH, &format!("/api/v1/uploads/{}", r.body["id"].as_str().unwrap()))
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .header("upload-offset", "0")
        .header(header::CONTENT_LENGTH, data.len())
        .body(Body::from(data.to_vec()))
        .unwrap();
    let r = c.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// Carries a project organisation A's client created through submission, the
/// PM's quote and its approval to `in_progress` (through the store: the
/// lifecycle has its own tests).
pub async fn start_project(app: &TestApp, w: &World, project: &str) {
    let db = app.db();
    let ca = Principal { user_id: w.id(Role::ClientAdmin, &w.org_a).into(), org_id: w.org_a.clone(), role: Role::ClientAdmin };
    let pm = Principal { user_id: w.id(Role::Pm, &w.provider).into(), org_id: w.provider.clone(), role: Role::Pm };
    clinlabel_store::projects::step(db, &app.keyring, &ca, project, clinlabel_domain::project::Step::Submit, None).await.unwrap();
    let q = clinlabel_store::projects::issue_quote(db, &app.keyring, &pm, project, &[]).await.unwrap();
    clinlabel_store::projects::decide_quote(db, &app.keyring, &ca, project, &q.id, true, None).await.unwrap();
    clinlabel_store::projects::step(db, &app.keyring, &pm, project, clinlabel_domain::project::Step::Start, None).await.unwrap();
}

/// The provider's admin.
pub fn admin_of(w: &World) -> Principal {
    Principal { user_id: w.id(Role::Admin, &w.provider).into(), org_id: w.provider.clone(), role: Role::Admin }
}

/// Creates `n` extra taskers, certified in `track` unless `certify` is false; returns (id, email).
pub async fn taskers(db: &Db, w: &World, track: &str, n: usize, certify: bool, tag: &str) -> Vec<(String, String)> {
    let admin = admin_of(w);
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("t{i}-{tag}@provider.test");
        let u = clinlabel_store::users::create(db, &admin, clinlabel_store::users::NewUser { org_id: w.provider.clone(), email: email.clone(), name: format!("Tasker {i}"), role: Role::Tasker, password: Secret::new(PASSWORD.into()) })
            .await
            .unwrap();
        if certify {
            clinlabel_store::tracks::grant(db, &admin, &u.id, track, clinlabel_store::db::now_ms() + 365 * 86_400_000, None).await.unwrap();
        }
        out.push((u.id, email));
    }
    out
}
