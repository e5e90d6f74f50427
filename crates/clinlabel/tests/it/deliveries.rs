//! Certified delivery on both databases: from an approved batch to a built,
//! certified delivery; the report (pdftotext reads its agreement table); the
//! data room's rights, links (expired and revoked → 410), resumable zip and
//! file downloads; `clinlabel delivery verify` on the download and on a copy
//! with one byte changed; the project's audit export verified independently.

use crate::projects::track;
use crate::support::*;
use crate::support::taskers;
use crate::tasks::{classification_spec, running_project};
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use clinlabel_domain::{Principal, Role, Secret};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeMap;
use tower::ServiceExt;

/// Raw bytes of a GET (downloads are not JSON).
async fn raw(app: &TestApp, c: &Client, path: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut b = c.request(Method::GET, path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let res = app.router.clone().oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

/// Tasker A answers `a[i]`, tasker B `b[i]` on the item of seq i; both take every item.
async fn annotate(app: &TestApp, project: &str, email: &str, answers: &[&str]) {
    let seqs: BTreeMap<String, i64> = sqlx::query("SELECT id, seq FROM items WHERE project_id = $1")
        .bind(project.to_string())
        .fetch_all(app.db().pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("id").unwrap(), r.try_get("seq").unwrap()))
        .collect();
    let mut c = app.login(email, PASSWORD).await;
    loop {
        let r = c.post("/api/v1/tasks/next", json!({})).await;
        if r.status == StatusCode::NO_CONTENT {
            break;
        }
        let seq = seqs[r.body["item_id"].as_str().unwrap()] as usize;
        let s = c.post(&format!("/api/v1/tasks/{}/submit", r.body["id"].as_str().unwrap()), json!({ "answers": { "specialty": [answers[seq]] } })).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    }
}

const A: [&str; 6] = ["cardiology", "cardiology", "cardiology", "oncology", "oncology", "oncology"];
const B: [&str; 6] = ["cardiology", "cardiology", "cardiology", "oncology", "oncology", "cardiology"];

/// A project whose one batch two taskers annotated (5 of 6 items agree), the
/// PM spot-checked and the QA reviewer approved. Returns the project id.
async fn approved_project(app: &TestApp, w: &World) -> String {
    let db = app.db().clone();
    let tr = track(&db).await;
    let people = taskers(&db, w, &tr, 2, true, "dlv").await;
    let project = running_project(app, w, classification_spec(&tr, 2, 0.0, false, 0.0), 6, 0).await;
    annotate(app, &project, &people[0].1, &A).await;
    annotate(app, &project, &people[1].1, &B).await;
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
    let r = qa.post(&format!("/api/v1/batches/{}/decision", batch["id"].as_str().unwrap()), json!({ "decision": "approve" })).await;
    assert_eq!(r.body["state"], "approved", "{}", r.body);
    project
}

/// The shell and Python blocks of the README's "Checking a certified delivery".
fn readme_procedure() -> (String, String) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split("## Checking a certified delivery").nth(1).expect("the README documents the procedure").split("\n## ").next().unwrap();
    let block = |lang: &str| section.split(&format!("```{lang}\n")).nth(1).and_then(|b| b.split("```").next()).unwrap_or_else(|| panic!("no {lang} block")).to_string();
    (block("sh"), block("python"))
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn verify_cli(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clinlabel")).arg("delivery").arg("verify").args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn an_approved_project_is_built_certified_and_downloaded_and_the_download_verifies() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let project = approved_project(&app, &w).await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        let mut qa = app.login(w.email(Role::QaReviewer, &w.provider), PASSWORD).await;
        let mut ca = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
        let mut member = app.login(w.email(Role::ClientMember, &w.org_a), PASSWORD).await;
        let mut other = app.login(w.email(Role::ClientAdmin, &w.org_b), PASSWORD).await;

        // Only the PM builds.
        assert_eq!(qa.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await.status, StatusCode::FORBIDDEN);
        let r = pm.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let d = r.body.clone();
        let id = d["id"].as_str().unwrap().to_string();
        assert_eq!((d["state"].as_str(), d["version"].as_i64(), d["items"].as_i64(), d["annotations"].as_i64()), (Some("built"), Some(1), Some(6), Some(12)));
        let paths: Vec<&str> = d["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["exports/annotations.jsonl", "report.html", "report.pdf", "audit/audit-trail.jsonl"]);
        // Clients see nothing until it is certified.
        assert_eq!(ca.get(&format!("/api/v1/projects/{project}/deliveries")).await.body, json!([]));
        assert_eq!(ca.get(&format!("/api/v1/deliveries/{id}")).await.status, StatusCode::NOT_FOUND);

        // Certification: the QA reviewer in charge, with a statement and the password.
        let statement = "I certify that every batch of this delivery passed the three QA tiers.";
        let r = qa.post(&format!("/api/v1/deliveries/{id}/certify"), json!({ "statement": "ok", "password": PASSWORD })).await;
        assert_eq!(r.body["details"]["field"], "statement");
        let r = qa.post(&format!("/api/v1/deliveries/{id}/certify"), json!({ "statement": statement, "password": "not my password" })).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "wrong_password"));
        let admin = Principal { user_id: w.id(Role::Admin, &w.provider).into(), org_id: w.provider.clone(), role: Role::Admin };
        clinlabel_store::users::create(&db, &admin, clinlabel_store::users::NewUser { org_id: w.provider.clone(), email: "qa2@provider.test".into(), name: "Other QA".into(), role: Role::QaReviewer, password: Secret::new(PASSWORD.into()) }).await.unwrap();
        let mut qa2 = app.login("qa2@provider.test", PASSWORD).await;
        let r = qa2.post(&format!("/api/v1/deliveries/{id}/certify"), json!({ "statement": statement, "password": PASSWORD })).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "only the reviewer who approved the batches: {}", r.body);
        let r = qa.post(&format!("/api/v1/deliveries/{id}/certify"), json!({ "statement": statement, "password": PASSWORD })).await;
        assert_eq!(r.body["state"], "certified", "{}", r.body);
        assert_eq!(r.body["statement"], statement);
        assert_eq!(qa.post(&format!("/api/v1/deliveries/{id}/certify"), json!({ "statement": statement, "password": PASSWORD })).await.code(), "invalid_transition");

        // The client sees it; another organisation does not.
        assert_eq!(ca.get(&format!("/api/v1/projects/{project}/deliveries")).await.body[0]["id"], id.as_str());
        assert_eq!(other.get(&format!("/api/v1/deliveries/{id}")).await.status, StatusCode::NOT_FOUND);

        // The report: JSON for the pages, HTML, and a PDF poppler reads.
        let rep = member.get(&format!("/api/v1/deliveries/{id}/report")).await;
        assert_eq!(rep.status, StatusCode::OK, "{}", rep.body);
        let q = &rep.body["agreement"][0];
        assert_eq!((q["question_id"].as_str(), q["units"].as_i64()), (Some("specialty"), Some(6)));
        assert!((q["percent_agreement"].as_f64().unwrap() - 5.0 / 6.0).abs() < 1e-9);
        // Krippendorff's alpha, nominal, by hand: 12 values (7 cardiology, 5 oncology), one disagreeing pair:
        // 1 - (n-1) * 2 / (2 * 7 * 5) = 1 - 22/70.
        assert!((q["alpha"].as_f64().unwrap() - (1.0 - 22.0 / 70.0)).abs() < 1e-9, "{q}");
        let counts: Vec<(String, i64)> = rep.body["label_counts"].as_array().unwrap().iter().map(|c| (c["label_id"].as_str().unwrap().into(), c["count"].as_i64().unwrap())).collect();
        assert!(counts.contains(&("cardiology".into(), 7)) && counts.contains(&("oncology".into(), 5)), "{counts:?}");
        let (s, h, html) = raw(&app, &member, &format!("/api/v1/deliveries/{id}/report.html"), &[]).await;
        assert_eq!(s, StatusCode::OK);
        assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert_eq!(String::from_utf8_lossy(&html).matches("<svg").count(), 3);
        let (s, h, pdf) = raw(&app, &member, &format!("/api/v1/deliveries/{id}/report.pdf"), &[]).await;
        assert_eq!((s, h[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::OK, "application/pdf"));
        let dir = tempfile::tempdir().unwrap();
        let pdf_path = write(dir.path(), "report.pdf", &pdf);
        let out = std::process::Command::new("pdftotext").args(["-layout"]).arg(&pdf_path).arg("-").output().expect("pdftotext is needed: apt-get install poppler-utils (./ci/setup installs it)");
        let text = String::from_utf8(out.stdout).unwrap();
        let alpha = format!("{:.2}", q["alpha"].as_f64().unwrap());
        let row = text.lines().find(|l| l.trim_start().starts_with("Clinical specialty") && l.contains("83.3 %")).unwrap_or_else(|| panic!("no agreement row in:\n{text}"));
        assert!(row.contains(&alpha) && row.contains(" 6 "), "{row}");
        assert!(text.contains("Percent agreement") && text.contains("Outcomes per QA tier") && text.contains("Throughput per day"));

        // Download rights: the member reads the report but may not download data.
        let r = member.post(&format!("/api/v1/deliveries/{id}/links"), json!({})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let link = ca.post(&format!("/api/v1/deliveries/{id}/links"), json!({ "label": "for the data team" })).await;
        assert_eq!(link.status, StatusCode::CREATED, "{}", link.body);
        let url = link.body["url"].as_str().unwrap().to_string();
        let (s, _, _) = raw(&app, &member, &url, &[]).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _, _) = raw(&app, &other, &url, &[]).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "another organisation cannot even see the link");

        // The whole delivery as a zip, and resumed from the middle.
        let (s, h, zip) = raw(&app, &ca, &url, &[]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "application/zip");
        assert_eq!(h[header::CONTENT_LENGTH].to_str().unwrap(), zip.len().to_string());
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let half = zip.len() / 2;
        let (s, h2, tail) = raw(&app, &ca, &url, &[("range", &format!("bytes={half}-")), ("if-range", &etag)]).await;
        assert_eq!(s, StatusCode::PARTIAL_CONTENT);
        assert_eq!(h2[header::CONTENT_RANGE].to_str().unwrap(), format!("bytes {half}-{}/{}", zip.len() - 1, zip.len()));
        assert_eq!(tail, zip[half..]);
        let (s, _, _) = raw(&app, &ca, &url, &[("range", &format!("bytes={}-", zip.len()))]).await;
        assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);

        // The export holds every item with both annotations, authors pseudonymous.
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.clone())).unwrap();
        let folder = d["folder"].as_str().unwrap();
        let mut export = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(&format!("{folder}/exports/annotations.jsonl")).unwrap(), &mut export).unwrap();
        let lines: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 6);
        assert!(lines.iter().all(|l| l["annotations"].as_array().unwrap().len() == 2));
        assert!(lines.iter().all(|l| l["annotations"][0]["annotator"].as_str().unwrap().starts_with("Annotator-")));
        let consensus: Vec<&Value> = lines.iter().map(|l| &l["consensus"]).collect();
        assert_eq!(consensus.iter().filter(|c| c.get("specialty").is_none()).count(), 1, "the one disagreement has no consensus");

        // clinlabel delivery verify: passes on the download, with the key from the well-known URL.
        let key = app.anonymous().get("/.well-known/clinlabel-delivery-key").await;
        assert_eq!(key.status, StatusCode::OK);
        assert!(key.body["pem"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
        let key_path = write(dir.path(), "key.json", key.body.to_string().as_bytes());
        let zip_path = write(dir.path(), "delivery.zip", &zip);
        let (ok, stdout, stderr) = verify_cli(&[zip_path.as_os_str(), "--key".as_ref(), key_path.as_os_str()]);
        assert!(ok, "{stdout}{stderr}");
        assert!(stdout.starts_with("OK: Note triage version 1 — 4 files match the manifest"), "{stdout}");
        // One byte changed in the export: fails naming the file.
        let needle = format!("{folder}/exports/annotations.jsonl");
        let at = zip.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap() + needle.len() + 20;
        let mut bad = zip.clone();
        bad[at] ^= 0x01;
        let bad_path = write(dir.path(), "changed.zip", &bad);
        let (ok, _, stderr) = verify_cli(&[bad_path.as_os_str()]);
        assert!(!ok);
        assert!(stderr.contains("exports/annotations.jsonl: "), "{stderr}");
        // And unpacked into a folder, a one-byte change of the report is named too.
        let unpacked = dir.path().join("unpacked");
        archive.extract(&unpacked).unwrap();
        let (ok, stdout, stderr) = verify_cli(&[unpacked.as_os_str()]);
        assert!(ok, "{stdout}{stderr}");
        // The README's procedure without clinlabel (OpenSSL and Python) passes on it too.
        let root = unpacked.join(folder);
        write(&root, "key.json", key.body.to_string().as_bytes());
        let (sh, py) = readme_procedure();
        let out = std::process::Command::new("bash").arg("-ec").arg(&sh).current_dir(&root).output().unwrap();
        assert!(out.status.success(), "README shell steps: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let out = std::process::Command::new("python3").arg("-c").arg(&py).current_dir(&root).output().unwrap();
        assert!(out.status.success(), "README Python steps: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("delivery verified: 4 files,"));
        let html_path = unpacked.join(folder).join("report.html");
        let mut bytes = std::fs::read(&html_path).unwrap();
        bytes[10] ^= 0x01;
        std::fs::write(&html_path, bytes).unwrap();
        let (ok, _, stderr) = verify_cli(&[unpacked.as_os_str()]);
        assert!(!ok && stderr.contains("report.html: SHA-256 differs"), "{stderr}");

        // A per-file link serves that file; the member, once granted the right, downloads too.
        let files = ca.get(&format!("/api/v1/deliveries/{id}")).await.body["files"].clone();
        let pdf_file = files.as_array().unwrap().iter().find(|f| f["path"] == "report.pdf").unwrap().clone();
        assert_eq!(ca.call(Method::PUT, &format!("/api/v1/projects/{project}/data-room/downloaders/{}", w.id(Role::ClientMember, &w.org_a)), None).await.status, StatusCode::NO_CONTENT);
        let one = member.post(&format!("/api/v1/deliveries/{id}/links"), json!({ "file_id": pdf_file["id"] })).await;
        assert_eq!(one.status, StatusCode::CREATED, "{}", one.body);
        let (s, _, got) = raw(&app, &member, one.body["url"].as_str().unwrap(), &[]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&got)), pdf_file["sha256"].as_str().unwrap());
        assert_eq!(got, pdf);

        // Revoked and expired links answer 410.
        let link_id = link.body["link"]["id"].as_str().unwrap();
        let r = ca.delete(&format!("/api/v1/data-room/links/{link_id}")).await;
        assert_eq!(r.body["status"], "revoked", "{}", r.body);
        let (s, _, body) = raw(&app, &ca, &url, &[]).await;
        assert_eq!(s, StatusCode::GONE);
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["code"], "link_gone");
        sqlx::query("UPDATE data_room_links SET expires_at = 1 WHERE id = $1").bind(one.body["link"]["id"].as_str().unwrap().to_string()).execute(db.pool()).await.unwrap();
        let (s, _, _) = raw(&app, &member, one.body["url"].as_str().unwrap(), &[]).await;
        assert_eq!(s, StatusCode::GONE);
        let links = ca.get(&format!("/api/v1/deliveries/{id}/links")).await;
        let statuses: Vec<&str> = links.body.as_array().unwrap().iter().map(|l| l["status"].as_str().unwrap()).collect();
        assert_eq!(statuses.len(), 2);
        assert!(statuses.contains(&"revoked") && statuses.contains(&"expired"));

        // Every download is logged and audited: who, what, which bytes.
        let log = ca.get(&format!("/api/v1/deliveries/{id}/downloads")).await;
        let whats: Vec<(&str, &str)> = log.body.as_array().unwrap().iter().map(|e| (e["user_id"].as_str().unwrap(), e["what"].as_str().unwrap())).collect();
        assert_eq!(whats.len(), 3, "{whats:?}");
        assert!(whats.contains(&(w.id(Role::ClientMember, &w.org_a), "report.pdf")));
        assert_eq!(whats.iter().filter(|(u, x)| *u == w.id(Role::ClientAdmin, &w.org_a) && x.ends_with(".zip")).count(), 2);
        let audited: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'data_room.download'").fetch_one(db.pool()).await.unwrap().try_get("n").unwrap();
        assert_eq!(audited, 3);

        // The project's audit export verifies on its own, and carries the delivery's events.
        let (s, _, trail) = raw(&app, &ca, &format!("/api/v1/projects/{project}/audit.jsonl"), &[]).await;
        assert_eq!(s, StatusCode::OK);
        let (full, linked) = clinlabel_delivery::verify::verify_audit_export(std::io::BufReader::new(&trail[..])).unwrap();
        assert!(full > 0 && linked > 0, "{full} {linked}");
        let text = String::from_utf8(trail).unwrap();
        for action in ["\"delivery.build\"", "\"delivery.certify\"", "\"data_room.download\"", "\"batch.approve\""] {
            assert!(text.contains(action), "{action}");
        }
        assert!(!text.contains("\"auth.login\""), "other events are links only");
        assert_eq!(member.get(&format!("/api/v1/projects/{project}/audit.jsonl")).await.status, StatusCode::FORBIDDEN);
        assert!(clinlabel_store::audit::verify(&db).await.unwrap().ok);

        // A re-delivery is version 2; version 1 stays readable.
        let r = pm.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await;
        assert_eq!(r.body["version"], 2, "{}", r.body);
        let versions = pm.get(&format!("/api/v1/projects/{project}/deliveries")).await;
        assert_eq!(versions.body.as_array().unwrap().iter().map(|d| d["version"].as_i64().unwrap()).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(ca.get(&format!("/api/v1/deliveries/{id}")).await.body["state"], "certified");
    })
    .await;
}

#[tokio::test]
async fn a_delivery_needs_every_batch_approved_and_the_formats_it_asks_for() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let tr = track(&db).await;
        let project = running_project(&app, &w, classification_spec(&tr, 1, 0.0, false, 0.0), 2, 0).await;
        let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
        let r = pm.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "batches_not_approved"), "{}", r.body);
        assert_eq!(r.body["details"], json!({ "batches": 1, "approved": 0 }));
        // All approved, but the specification asks for a format without a writer.
        sqlx::query("UPDATE batches SET state = 'approved' WHERE project_id = $1").bind(project.clone()).execute(db.pool()).await.unwrap();
        let spec: String = sqlx::query("SELECT spec FROM projects WHERE id = $1").bind(project.clone()).fetch_one(db.pool()).await.unwrap().try_get("spec").unwrap();
        let mut spec: Value = serde_json::from_str(&spec).unwrap();
        // (Every text and image format has a writer; audio's WebVTT not yet.)
        spec["output_formats"] = json!(["native_jsonl", "webvtt"]);
        sqlx::query("UPDATE projects SET spec = $1 WHERE id = $2").bind(spec.to_string()).bind(project.clone()).execute(db.pool()).await.unwrap();
        let r = pm.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "export_format_unavailable"), "{}", r.body);
        assert_eq!(r.body["details"]["format"], "webvtt");
        // Nothing was left behind.
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM deliveries").fetch_one(db.pool()).await.unwrap().try_get("n").unwrap();
        assert_eq!(n, 0);
        // One build at a time; a build whose process stopped no longer blocks after a while.
        spec["output_formats"] = json!(["native_jsonl"]);
        sqlx::query("UPDATE projects SET spec = $1 WHERE id = $2").bind(spec.to_string()).bind(project.clone()).execute(db.pool()).await.unwrap();
        sqlx::query("INSERT INTO deliveries (id, project_id, version, state, built_by, created_at) VALUES ('stuck', $1, 1, 'building', $2, $3)")
            .bind(project.clone())
            .bind(w.id(Role::Pm, &w.provider).to_string())
            .bind(clinlabel_store::db::now_ms())
            .execute(db.pool())
            .await
            .unwrap();
        let r = pm.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await;
        assert_eq!(r.code(), "invalid_transition", "{}", r.body);
        sqlx::query("UPDATE deliveries SET created_at = $1 WHERE id = 'stuck'").bind(clinlabel_store::db::now_ms() - clinlabel_store::deliveries::STALE_BUILD_MS - 1).execute(db.pool()).await.unwrap();
        let r = pm.post(&format!("/api/v1/projects/{project}/deliveries"), json!({})).await;
        assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::CREATED, Some(2)), "{}", r.body);
        let stuck: String = sqlx::query("SELECT state FROM deliveries WHERE id = 'stuck'").fetch_one(db.pool()).await.unwrap().try_get("state").unwrap();
        assert_eq!(stuck, "failed");
    })
    .await;
}
