//! Uploads (issue 4): the agreement gate, isolation, the resumable protocol
//! with a cut chunk, limits, encryption at rest, dedupe, archives (junk,
//! corrupt entries, zip bombs) and many small files — on every database, and
//! on local storage and S3 where the blob path matters.

use crate::support::{Client, PASSWORD, TestDb, World, check_db, client_for, world};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use bytes::Bytes;
use clinlabel_blob::BlobStore;
use clinlabel_crypto::{Keyring, MasterKey};
use clinlabel_domain::project::Modality;
use clinlabel_domain::{Principal, Role};
use clinlabel_server::{AppState, ServerConfig};
use clinlabel_store::agreements::{self, AgreementKind};
use futures::TryStreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Digest;
use std::io::Write;
use std::sync::Arc;
use tower::ServiceExt;

/// Storage backends where the blob path matters: `CLINLABEL_TEST_BACKENDS`
/// (`local`, `s3`; default both). S3 needs `CLINLABEL_TEST_S3_URL`; a
/// selected backend that is not configured fails the test.
fn storage_backends() -> Vec<&'static str> {
    let list = std::env::var("CLINLABEL_TEST_BACKENDS").unwrap_or_else(|_| "local,s3".into());
    let v: Vec<&'static str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "local" => "local",
            "s3" => "s3",
            other => panic!("unknown backend {other:?} in CLINLABEL_TEST_BACKENDS (use local,s3)"),
        })
        .collect();
    assert!(!v.is_empty(), "CLINLABEL_TEST_BACKENDS selected no backend");
    v
}

/// The application over a database and a blob store we can inspect.
struct App {
    router: Router,
    tdb: TestDb,
    keyring: Arc<Keyring>,
    blobs: BlobStore,
    _tmp: tempfile::TempDir,
}

impl App {
    fn new(tdb: TestDb, backend: &str) -> App {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = match backend {
            "local" => BlobStore::local(&tmp.path().join("blobs")).unwrap(),
            "s3" => {
                let base = std::env::var("CLINLABEL_TEST_S3_URL").unwrap_or_else(|_| {
                    panic!("S3 backend selected but CLINLABEL_TEST_S3_URL is not set: run ./ci/test, or set CLINLABEL_TEST_BACKENDS=local")
                });
                BlobStore::from_url(&format!("{}/uploads-{}", base.trim_end_matches('/'), clinlabel_store::db::new_id())).unwrap()
            }
            other => panic!("backend {other}"),
        };
        let keyring = Arc::new(Keyring::new(MasterKey::generate()));
        let state = AppState { db: tdb.db.clone(), blobs: blobs.clone(), keyring: keyring.clone(), config: Arc::new(ServerConfig::default()), metrics: Default::default(), terminology: clinlabel_terminology::Terminology::shared_bundled() };
        App { router: clinlabel_server::app(state), tdb, keyring, blobs, _tmp: tmp }
    }

    async fn login(&self, email: &str) -> Client {
        let mut c = client_for(&self.router);
        let r = c.post("/api/v1/auth/login", json!({ "email": email, "password": PASSWORD })).await;
        assert_eq!(r.status, StatusCode::OK, "login of {email}: {}", r.body);
        c
    }

    /// Every stored object, as stored (ciphertext).
    async fn objects(&self) -> Vec<(String, Bytes)> {
        use object_store::ObjectStoreExt;
        let store = self.blobs.object_store();
        let metas: Vec<_> = store.list(self.blobs.prefix()).try_collect().await.unwrap();
        let mut out = Vec::new();
        for m in metas {
            let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
            out.push((m.location.to_string(), bytes));
        }
        out
    }

    async fn assert_no_plaintext(&self, marker: &[u8]) {
        for (name, bytes) in self.objects().await {
            assert!(!bytes.windows(marker.len()).any(|w| w == marker), "object {name} holds plaintext");
        }
    }
}

fn principal(w: &World, role: Role, org: &str) -> Principal {
    Principal { user_id: w.id(role, org).to_string(), org_id: org.to_string(), role }
}

async fn sign(db: &clinlabel_store::Db, w: &World, kinds: &[AgreementKind]) {
    let admin = principal(w, Role::Admin, &w.provider);
    let client = principal(w, Role::ClientAdmin, &w.org_a);
    for &k in kinds {
        let v = agreements::publish(db, &admin, k, "Agreement", "The terms.").await.unwrap();
        agreements::sign(db, &client, &v.id, "Client A Admin", "127.0.0.1").await.unwrap();
    }
}

async fn project(app: &App, w: &World, modality: Modality) -> String {
    let db = &app.tdb.db;
    clinlabel_store::tracks::ensure_defaults(db).await.unwrap();
    let admin = principal(w, Role::Admin, &w.provider);
    let track = clinlabel_store::tracks::list(db, &admin, false).await.unwrap()[0].id.clone();
    let spec = clinlabel_ingest::bench::spec_for(modality, &track, clinlabel_store::db::now_ms() + 30 * 86_400_000);
    clinlabel_store::projects::create(db, &app.keyring, &principal(w, Role::ClientAdmin, &w.org_a), spec).await.unwrap().id
}

/// A signed-in client admin of organisation A and a project of `modality`.
async fn setup(app: &App, modality: Modality) -> (World, Client, String) {
    let w = world(&app.tdb.db).await;
    sign(&app.tdb.db, &w, &[AgreementKind::Nda, AgreementKind::Dpa]).await;
    let p = project(app, &w, modality).await;
    let c = app.login(w.email(Role::ClientAdmin, &w.org_a)).await;
    (w, c, p)
}

/// Sends a chunk; a body of known length carries Content-Length, as from a
/// real client (a whole file in one chunk then takes the direct path).
async fn chunk(c: &mut Client, upload: &str, offset: u64, body: Body) -> crate::support::Res {
    use axum::body::HttpBody;
    let mut b = c
        .request(Method::PATCH, &format!("/api/v1/uploads/{upload}"))
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .header("upload-offset", offset.to_string());
    if let Some(n) = body.size_hint().exact() {
        b = b.header(header::CONTENT_LENGTH, n);
    }
    let req = b.body(body).unwrap();
    c.send(req).await
}

/// Uploads `data` as `name` in chunks of `size`; returns the final response.
async fn upload(c: &mut Client, project: &str, name: &str, data: &[u8], size: usize) -> crate::support::Res {
    let r = c.post(&format!("/api/v1/projects/{project}/uploads"), json!({ "name": name, "size": data.len() })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let mut last = None;
    let mut offset = 0;
    if data.is_empty() {
        return chunk(c, &id, 0, Body::empty()).await;
    }
    for piece in data.chunks(size) {
        let r = chunk(c, &id, offset as u64, Body::from(piece.to_vec())).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        offset += piece.len();
        last = Some(r);
    }
    last.unwrap()
}

async fn files(c: &mut Client, project: &str, query: &str) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/projects/{project}/files?per_page=500{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

async fn raw_get(router: &Router, c: &Client, path: &str, range: Option<&str>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut b = c.request(Method::GET, path);
    if let Some(r) = range {
        b = b.header(header::RANGE, r);
    }
    let res = router.clone().oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        if name.ends_with('/') {
            w.add_directory(name.trim_end_matches('/'), opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

#[tokio::test]
async fn uploads_wait_for_both_agreements_and_stay_inside_the_organisation() {
    check_db(|tdb| async move {
        let app = App::new(tdb, "local");
        let w = world(&app.tdb.db).await;
        let p = project(&app, &w, Modality::Text).await;
        let mut a = app.login(w.email(Role::ClientAdmin, &w.org_a)).await;
        let start = json!({ "name": "note.txt", "size": 5 });
        let r = a.post(&format!("/api/v1/projects/{p}/uploads"), start.clone()).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "agreement_required"), "{}", r.body);
        sign(&app.tdb.db, &w, &[AgreementKind::Nda]).await;
        let r = a.post(&format!("/api/v1/projects/{p}/uploads"), start.clone()).await;
        assert_eq!(r.code(), "agreement_required");
        assert_eq!(r.body["details"]["missing"], json!(["dpa"]));
        sign(&app.tdb.db, &w, &[AgreementKind::Dpa]).await;
        let r = a.post(&format!("/api/v1/projects/{p}/uploads"), start.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(r.headers["upload-offset"], "0");
        let done = chunk(&mut a, &id, 0, Body::from("hello")).await;
        assert_eq!(done.body["state"], "complete", "{}", done.body);
        let item = a.get(&format!("/api/v1/projects/{p}/items")).await.body["items"][0]["id"].as_str().unwrap().to_string();

        // Another organisation, and a tasker, see nothing of it.
        for email in [w.email(Role::ClientAdmin, &w.org_b).to_string(), w.email(Role::Tasker, &w.provider).to_string()] {
            let mut b = app.login(&email).await;
            assert_eq!(b.get(&format!("/api/v1/uploads/{id}")).await.status, StatusCode::NOT_FOUND);
            assert_eq!(chunk(&mut b, &id, 5, Body::from("x")).await.status, StatusCode::NOT_FOUND);
            assert_eq!(b.delete(&format!("/api/v1/uploads/{id}")).await.status, StatusCode::NOT_FOUND);
            assert_eq!(b.post(&format!("/api/v1/projects/{p}/uploads"), start.clone()).await.status, StatusCode::NOT_FOUND);
            assert_eq!(b.get(&format!("/api/v1/projects/{p}/files")).await.status, StatusCode::NOT_FOUND);
            assert_eq!(b.get(&format!("/api/v1/projects/{p}/items")).await.status, StatusCode::NOT_FOUND);
            assert_eq!(b.get(&format!("/api/v1/items/{item}/content")).await.status, StatusCode::NOT_FOUND);
        }
        // Provider staff read files and content, but do not upload.
        let mut pm = app.login(w.email(Role::Pm, &w.provider)).await;
        assert_eq!(files(&mut pm, &p, "").await.len(), 1);
        let (st, _, body) = raw_get(&app.router, &pm, &format!("/api/v1/items/{item}/content"), None).await;
        assert_eq!((st, body.as_slice()), (StatusCode::OK, &b"hello"[..]));
        assert_eq!(pm.post(&format!("/api/v1/projects/{p}/uploads"), start.clone()).await.code(), "forbidden");
        // Every step is in the audit trail, and the trail verifies.
        let actions: Vec<String> = sqlx::query_scalar::<_, String>("SELECT action FROM audit_events WHERE target_id = $1 OR target_type = 'file' ORDER BY seq")
            .bind(id.clone())
            .fetch_all(app.tdb.db.pool())
            .await
            .unwrap();
        assert_eq!(actions, ["upload.start", "upload.part", "file.accept", "upload.complete"]);
        assert!(clinlabel_store::audit::verify(&app.tdb.db).await.unwrap().ok);
    })
    .await;
}

#[tokio::test]
async fn a_cut_chunk_is_resumed_and_nothing_is_stored_in_plaintext() {
    check_db(|tdb| async move {
        let db_backend = tdb.backend;
        let mut first = Some(tdb);
        for backend in storage_backends() {
            let t = match first.take() {
                Some(t) => t,
                None => crate::support::fresh_db(db_backend).await,
            };
            eprintln!("-- storage {backend}");
            let app = App::new(t, backend);
            let (_w, mut c, p) = setup(&app, Modality::Text).await;
            // A JSONL collection of ~100 kB notes (a note is at most 1 MiB), over 2 MiB in all.
            let marker = b"PLAINTEXT-MARKER-4711";
            let mut line = b"{\"text\":\"".to_vec();
            while line.len() < 100_000 {
                line.extend_from_slice(marker);
                line.extend_from_slice(b" the patient was seen in clinic today. ");
            }
            line.extend_from_slice(b"\"}\n");
            let mut data = Vec::new();
            while data.len() < (2 << 20) + 12345 {
                data.extend_from_slice(&line);
            }
            let notes = data.len() / line.len();
            let first = &line[..line.len() - 1];
            let sha = sha_hex(&data);
            let r = c.post(&format!("/api/v1/projects/{p}/uploads"), json!({ "name": "long-notes.jsonl", "size": data.len(), "sha256": sha })).await;
            let id = r.body["id"].as_str().unwrap().to_string();
            let mib = 1 << 20;
            let r = chunk(&mut c, &id, 0, Body::from(data[..mib].to_vec())).await;
            assert_eq!((r.status, r.body["received"].as_i64()), (StatusCode::OK, Some(mib as i64)), "{}", r.body);

            // The next chunk's connection breaks half-way: nothing of it is kept.
            let half = Bytes::copy_from_slice(&data[mib..mib + mib / 2]);
            let broken = futures::stream::iter(vec![Ok::<_, std::io::Error>(half), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped"))]);
            let r = chunk(&mut c, &id, mib as u64, Body::from_stream(broken)).await;
            assert_eq!(r.code(), "upload_interrupted", "{}", r.body);
            let r = c.get(&format!("/api/v1/uploads/{id}")).await;
            assert_eq!((r.body["received"].as_i64(), r.headers["upload-offset"].to_str().unwrap()), (Some(mib as i64), "1048576"));
            assert_eq!(r.body["state"], "open");
            // After a browser reload the client finds it among the project's open uploads.
            let open = c.get(&format!("/api/v1/projects/{p}/uploads?state=open")).await;
            assert_eq!((open.body["total"].as_i64(), open.body["items"][0]["id"].as_str()), (Some(1), Some(id.as_str())));

            // A wrong offset, and a chunk larger than what is left, are refused.
            let r = chunk(&mut c, &id, 0, Body::from(data[..10].to_vec())).await;
            assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "upload_offset_mismatch"));
            assert_eq!(r.body["details"]["offset"], mib);
            let mut too_much = data[mib..].to_vec();
            too_much.extend_from_slice(b"extra");
            let r = chunk(&mut c, &id, mib as u64, Body::from(too_much.clone())).await;
            assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large"));
            // Also when the size is only found out while streaming (no Content-Length).
            let r = chunk(&mut c, &id, mib as u64, Body::from_stream(futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(too_much))]))).await;
            assert_eq!(r.code(), "upload_too_large");
            assert_eq!(c.get(&format!("/api/v1/uploads/{id}")).await.body["received"], mib);

            // Resume from the last complete chunk.
            let r = chunk(&mut c, &id, mib as u64, Body::from(data[mib..2 * mib].to_vec())).await;
            assert_eq!(r.body["state"], "open");
            let r = chunk(&mut c, &id, 2 * mib as u64, Body::from(data[2 * mib..].to_vec())).await;
            assert_eq!(r.body["state"], "complete", "{}", r.body);
            assert_eq!(r.body["summary"]["items"], notes);
            let fs = files(&mut c, &p, "").await;
            assert_eq!(fs.len(), 1);
            assert_eq!(fs[0]["sha256"], sha);
            assert_eq!(fs[0]["status"], "accepted");
            assert_eq!(fs[0]["name"], "long-notes.jsonl");

            // The content comes back decrypted, whole and by range.
            let items = c.get(&format!("/api/v1/projects/{p}/items")).await;
            let item = items.body["items"][0]["id"].as_str().unwrap().to_string();
            assert_eq!(items.body["items"][0]["meta"]["chars"], first.len() - "{\"text\":\"\"}".len());
            let (st, _, body) = raw_get(&app.router, &c, &format!("/api/v1/items/{item}/content"), None).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(sha_hex(&body), sha_hex(first));
            let (st, h, body) = raw_get(&app.router, &c, &format!("/api/v1/items/{item}/content"), Some("bytes=50000-50030")).await;
            assert_eq!(st, StatusCode::PARTIAL_CONTENT);
            assert_eq!(body, &first[50000..50031]);
            assert_eq!(h[header::CONTENT_RANGE], format!("bytes 50000-50030/{}", first.len()).as_str());
            let (st, _, _) = raw_get(&app.router, &c, &format!("/api/v1/items/{item}/content"), Some(&format!("bytes={}-", first.len()))).await;
            assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);

            // One object (the file); no parts left; no plaintext anywhere.
            let objects = app.objects().await;
            assert_eq!(objects.len(), 1, "{:?}", objects.iter().map(|o| &o.0).collect::<Vec<_>>());
            app.assert_no_plaintext(marker).await;

            // A declared SHA-256 that does not match keeps nothing.
            let r = c.post(&format!("/api/v1/projects/{p}/uploads"), json!({ "name": "x.txt", "size": 3, "sha256": sha })).await;
            let id = r.body["id"].as_str().unwrap().to_string();
            let r = chunk(&mut c, &id, 0, Body::from("abc")).await;
            assert_eq!(r.body["state"], "failed");
            assert!(r.body["error"].as_str().unwrap().starts_with("sha256_mismatch"), "{}", r.body);
            assert_eq!(app.objects().await.len(), 1);
        }
    })
    .await;
}

#[tokio::test]
async fn a_second_copy_is_recognised_and_stores_nothing_new() {
    check_db(|tdb| async move {
        let app = App::new(tdb, "local");
        let (_w, mut c, p) = setup(&app, Modality::Text).await;
        let first = upload(&mut c, &p, "a.txt", b"same words", 4).await;
        let before = app.objects().await.len();
        let second = upload(&mut c, &p, "copy-of-a.txt", b"same words", 100).await;
        assert_eq!(second.body["state"], "complete");
        assert_eq!(second.body["file_id"], first.body["file_id"]);
        assert_eq!(second.body["summary"]["duplicates"], 1);
        assert_eq!(app.objects().await.len(), before);
        assert_eq!(files(&mut c, &p, "").await.len(), 1);
        let sid = second.body["id"].as_str().unwrap();
        assert_eq!(files(&mut c, &p, &format!("&upload_id={sid}")).await.len(), 1);
        assert_eq!(c.get(&format!("/api/v1/projects/{p}/items")).await.body["total"], 1);
        // A whole file sent as one chunk whose connection breaks: nothing is kept, the offset stays 0.
        let r = c.post(&format!("/api/v1/projects/{p}/uploads"), json!({ "name": "c.txt", "size": 10 })).await;
        let id = r.body["id"].as_str().unwrap().to_string();
        let broken = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"12345")), Err(std::io::Error::other("reset"))]);
        let req = c
            .request(Method::PATCH, &format!("/api/v1/uploads/{id}"))
            .header(header::CONTENT_TYPE, "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header(header::CONTENT_LENGTH, "10")
            .body(Body::from_stream(broken))
            .unwrap();
        assert_eq!(c.send(req).await.code(), "upload_interrupted");
        assert_eq!(c.get(&format!("/api/v1/uploads/{id}")).await.body["received"], 0);
        assert_eq!(app.objects().await.len(), before);
        assert_eq!(chunk(&mut c, &id, 0, Body::from("1234567890")).await.body["state"], "complete");
        let before = app.objects().await.len();
        // Aborting an upload deletes what it received.
        let r = c.post(&format!("/api/v1/projects/{p}/uploads"), json!({ "name": "b.txt", "size": 10 })).await;
        let id = r.body["id"].as_str().unwrap().to_string();
        chunk(&mut c, &id, 0, Body::from("12345")).await;
        assert_eq!(app.objects().await.len(), before + 1);
        let r = c.delete(&format!("/api/v1/uploads/{id}")).await;
        assert_eq!((r.body["state"].as_str(), r.body["error"].as_str()), (Some("failed"), Some("aborted")));
        assert_eq!(app.objects().await.len(), before);
        assert_eq!(chunk(&mut c, &id, 5, Body::from("67890")).await.code(), "invalid_transition");
    })
    .await;
}

#[tokio::test]
async fn unreadable_files_are_listed_with_their_reason_and_the_rest_become_items() {
    check_db(|tdb| async move {
        let app = App::new(tdb, "local");
        let (w, mut c, p) = setup(&app, Modality::Text).await;
        let archive = zip_of(&[
            ("notes/", b""),
            ("notes/good.txt", "Patient stable. Naïve T cells.".as_bytes()),
            ("notes/bad.txt", b"ok so far \xC3\x28 broken"),
            ("notes/batch.jsonl", b"{\"text\":\"one\"}\n{\"text\":\"two\"}\n\n{\"text\":\"three\"}\n"),
            ("notes/broken.jsonl", b"{\"text\":\"one\"}\n{\"text\": 5}\n"),
            ("notes/scan.png", b"\x89PNG"),
            ("__MACOSX/notes/._good.txt", b"junk"),
            ("notes/.DS_Store", b"junk"),
            ("../escape.txt", b"outside"),
            ("inner.zip", b"PK\x03\x04"),
        ]);
        let r = upload(&mut c, &p, "batch.zip", &archive, 1000).await;
        assert_eq!(r.body["state"], "complete", "{}", r.body);
        assert_eq!(r.body["summary"], json!({ "files": 7, "accepted": 2, "rejected": 5, "duplicates": 0, "items": 4 }));
        let fs = files(&mut c, &p, "").await;
        let by_name = |n: &str| fs.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("no {n} in {fs:?}")).clone();
        assert_eq!(by_name("batch.zip/notes/good.txt")["status"], "accepted");
        assert_eq!(by_name("batch.zip/notes/batch.jsonl")["items"], 3);
        assert_eq!(by_name("batch.zip/notes/bad.txt")["reason"], "not valid UTF-8: invalid byte sequence at byte offset 10 (convert the file to UTF-8)");
        assert!(by_name("batch.zip/notes/broken.jsonl")["reason"].as_str().unwrap().starts_with("line 2:"));
        assert!(by_name("batch.zip/notes/scan.png")["reason"].as_str().unwrap().contains("unsupported file type (.png)"));
        assert!(by_name("batch.zip/../escape.txt")["reason"].as_str().unwrap().contains("unsafe path"));
        assert!(by_name("batch.zip/inner.zip")["reason"].as_str().unwrap().contains("nested archives"));
        assert!(!fs.iter().any(|f| f["name"].as_str().unwrap().contains("DS_Store") || f["name"].as_str().unwrap().contains("MACOSX")));
        let rejected = files(&mut c, &p, "&status=rejected").await;
        assert_eq!(rejected.len(), 5);
        // Items point at their bytes.
        let items = c.get(&format!("/api/v1/projects/{p}/items?file_id={}", by_name("batch.zip/notes/batch.jsonl")["id"].as_str().unwrap())).await;
        let third = items.body["items"][2]["id"].as_str().unwrap().to_string();
        assert_eq!(items.body["items"][2]["meta"]["line"], 4);
        let (_, h, body) = raw_get(&app.router, &c, &format!("/api/v1/items/{third}/content"), None).await;
        assert_eq!(body, b"{\"text\":\"three\"}");
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        // Only the accepted files are stored; the archive and its parts are gone.
        assert_eq!(app.objects().await.len(), 2);

        // A truncated WAV in an audio project is rejected with the reason.
        let audio = project(&app, &w, Modality::Audio).await;
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data".to_vec();
        wav.extend_from_slice(&32000u32.to_le_bytes());
        wav.extend_from_slice(&vec![0u8; 16000]);
        let r = upload(&mut c, &audio, "visit.wav", &wav, 4096).await;
        assert_eq!(r.body["summary"]["rejected"], 1, "{}", r.body);
        let f = &files(&mut c, &audio, "").await[0];
        assert_eq!(f["reason"], "truncated WAV: the data chunk declares 32000 bytes, the file holds 16000");
        wav.extend_from_slice(&vec![0u8; 16000]);
        let r = upload(&mut c, &audio, "visit-full.wav", &wav, 4096).await;
        assert_eq!(r.body["summary"]["items"], 1, "{}", r.body);
        let items = c.get(&format!("/api/v1/projects/{audio}/items")).await;
        assert_eq!(items.body["items"][0]["meta"]["duration_ms"], 2000);
    })
    .await;
}

/// 1 GiB of zeros, deflated (about 1 MB), built with a streaming writer.
fn zip_bomb() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).compression_level(Some(9));
    w.start_file("zeros.txt", opts).unwrap();
    let block = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        w.write_all(&block).unwrap();
    }
    w.start_file("fine.txt", opts).unwrap();
    w.write_all(b"an ordinary note").unwrap();
    w.finish().unwrap().into_inner()
}

/// Rewrites every size field of the (single, non-zip64) entry `name` to `size`.
fn lie_about_size(archive: &mut [u8], name: &[u8], size: u32) {
    let mut patched = 0;
    for i in 0..archive.len().saturating_sub(46) {
        let sig = &archive[i..i + 4];
        if sig == b"PK\x03\x04" && archive[i + 30..].starts_with(name) {
            archive[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        } else if sig == b"PK\x01\x02" && archive[i + 46..].starts_with(name) {
            archive[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "local header and central directory entry");
}

#[tokio::test]
async fn zip_bombs_are_refused() {
    let bomb = zip_bomb();
    assert!(bomb.len() < 8 << 20, "the bomb is small: {}", bomb.len());
    check_db(|tdb| {
        let bomb = bomb.clone();
        async move {
            let app = App::new(tdb, "local");
            let (w, mut c, p) = setup(&app, Modality::Text).await;
            // The ratio, from the central directory: the entry is refused unread, the rest continue.
            let r = upload(&mut c, &p, "bomb.zip", &bomb, 4 << 20).await;
            assert_eq!(r.body["summary"], json!({ "files": 2, "accepted": 1, "rejected": 1, "duplicates": 0, "items": 1 }), "{}", r.body);
            let fs = files(&mut c, &p, "&status=rejected").await;
            assert!(fs[0]["reason"].as_str().unwrap().starts_with("compression ratio"), "{fs:?}");

            // A central directory that lies (1 KiB declared): cut off while inflating.
            let mut liar = zip_of(&[("liar.txt", &vec![b'a'; 4 << 20]), ("ok.txt", b"fine")]);
            lie_about_size(&mut liar, b"liar.txt", 1024);
            let r = upload(&mut c, &p, "liar.zip", &liar, 4 << 20).await;
            assert_eq!(r.body["summary"]["rejected"], 1, "{}", r.body);
            let fs = files(&mut c, &p, "&status=rejected").await;
            let liar = fs.iter().find(|f| f["name"] == "liar.zip/liar.txt").unwrap();
            // (The zip reader and ingest's own count both stop it; either names the declared size.)
            assert!(liar["reason"].as_str().unwrap().contains("declared"), "{liar}");

            // A forged end-of-central-directory record claiming 60,000 entries: refused whole.
            let mut forged = zip_of(&[("a.txt", b"a")]);
            let eocd = forged.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
            forged[eocd + 8..eocd + 12].copy_from_slice(&[0x60, 0xEA, 0x60, 0xEA]);
            let r = c.post(&format!("/api/v1/projects/{p}/uploads"), json!({ "name": "forged.zip", "size": forged.len() })).await;
            let id = r.body["id"].as_str().unwrap().to_string();
            let r = chunk(&mut c, &id, 0, Body::from(forged)).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "archive_rejected"), "{}", r.body);
            assert_eq!(r.body["message"], "60000 entries, more than the limit of 50000");
            let u = c.get(&format!("/api/v1/uploads/{id}")).await;
            assert_eq!((u.body["state"].as_str(), u.body["error"].as_str()), (Some("failed"), Some("archive_rejected: 60000 entries, more than the limit of 50000")));

            // Entry count and total size refuse the whole archive (small limits, through ingest).
            let limits = clinlabel_ingest::Limits { max_entries: 3, max_expanded: 1 << 20, ..Default::default() };
            let ing = clinlabel_ingest::Ingest::new(app.tdb.db.clone(), app.blobs.clone(), app.keyring.clone(), limits);
            let who = principal(&w, Role::ClientAdmin, &w.org_a);
            let before = app.objects().await.len();
            let many = zip_of(&[("1.txt", b"a"), ("2.txt", b"b"), ("3.txt", b"c"), ("4.txt", b"d")]);
            let big = zip_of(&[("1.txt", &vec![b'x'; 700 << 10]), ("2.txt", &vec![b'y'; 700 << 10])]);
            for (name, archive, why) in [("many.zip", many, "4 entries, more than the limit of 3"), ("big.zip", big, "1433600 bytes expanded, more than the limit of 1048576")] {
                let new = clinlabel_store::files::NewUpload { name: clinlabel_domain::Phi::new(name.into()), size: archive.len() as i64, declared_sha256: None, purpose: Default::default() };
                let u = ing.start(&who, &p, new).await.unwrap();
                let n = archive.len() as u64;
                let e = ing.append(&who, &u.id, 0, Some(n), futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(archive))])).await.unwrap_err();
                match e {
                    clinlabel_store::StoreError::Domain(d) => {
                        assert_eq!(d.code, clinlabel_domain::ErrorCode::ArchiveRejected);
                        assert_eq!(d.message(), why);
                    }
                    other => panic!("{other}"),
                }
                let u = ing.status(&who, &u.id).await.unwrap();
                assert_eq!(u.state, "failed");
                assert_eq!(u.error.as_deref(), Some(format!("archive_rejected: {why}").as_str()));
            }
            assert_eq!(app.objects().await.len(), before, "nothing kept of refused archives");
        }
    })
    .await;
}

#[tokio::test]
async fn many_small_files_each_become_items() {
    check_db(|tdb| async move {
        let app = App::new(tdb, "local");
        let (_w, mut c, p) = setup(&app, Modality::Text).await;
        let names: Vec<String> = (0..1000).map(|i| format!("notes/{:04}.txt", i)).collect();
        let bodies: Vec<String> = (0..1000).map(|i| format!("Note {i}: afebrile, vitals stable.")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().zip(&bodies).map(|(n, b)| (n.as_str(), b.as_bytes())).collect();
        let r = upload(&mut c, &p, "notes.zip", &zip_of(&entries), 1 << 20).await;
        assert_eq!(r.body["summary"], json!({ "files": 1000, "accepted": 1000, "rejected": 0, "duplicates": 0, "items": 1000 }), "{}", r.body);
        // And as single uploads.
        for i in 0..20 {
            let r = upload(&mut c, &p, &format!("single-{i}.md"), format!("# Visit {i}").as_bytes(), 64).await;
            assert_eq!(r.body["summary"]["accepted"], 1);
        }
        let items = c.get(&format!("/api/v1/projects/{p}/items?per_page=10&page=3")).await;
        assert_eq!(items.body["total"], 1020);
        assert_eq!(items.body["items"].as_array().unwrap().len(), 10);
        assert_eq!(app.objects().await.len(), 1020);
    })
    .await;
}
