//! The terminology service through the real router (bundled ICD-10-CM and
//! ICD-10-PCS; an imported SNOMED CT fixture) and the `clinlabel terminology`
//! commands of the real binary.

use crate::support::*;
use axum::http::StatusCode;
use clinlabel_blob::BlobStore;
use clinlabel_crypto::{Keyring, MasterKey};
use clinlabel_domain::Role;
use clinlabel_server::{AppState, ServerConfig};
use clinlabel_terminology::{Terminology, installed};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clinlabel-terminology/tests/fixtures").join(p)
}

#[tokio::test]
async fn signed_in_users_search_the_bundled_systems_and_read_concepts() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let app = TestApp::new(t);
        let mut anon = app.anonymous();
        for path in ["/api/v1/terminology/systems", "/api/v1/terminology/icd10cm/search?q=e11", "/api/v1/terminology/icd10cm/concepts/E11.9"] {
            let r = anon.get(path).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "not_signed_in"), "{path}");
        }
        // Any role, of any organisation.
        for (role, org) in [(Role::Tasker, &w.provider), (Role::ClientMember, &w.org_a)] {
            let mut c = app.login(w.email(role, org), PASSWORD).await;
            let r = c.get("/api/v1/terminology/systems").await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let systems = r.body.as_array().unwrap();
            let cm = systems.iter().find(|s| s["system"] == "icd10cm").expect("ICD-10-CM is bundled");
            assert_eq!(cm["version"], "2026-04");
            assert_eq!(cm["origin"], "bundled");
            assert_eq!(cm["licensed"], false);
            assert!(systems.iter().any(|s| s["system"] == "icd10pcs"));
            assert!(!systems.iter().any(|s| s["system"] == "snomed"), "nothing imported here");
        }
        let mut c = app.login(w.email(Role::Tasker, &w.provider), PASSWORD).await;

        let r = c.get("/api/v1/terminology/icd10cm/search?q=type%202%20diabetes&limit=5").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["version"], "2026-04");
        assert_eq!(r.body["system"], "icd10cm");
        let results = r.body["results"].as_array().unwrap();
        assert_eq!(results.len(), 5);
        assert!(results.iter().all(|h| h["code"].as_str().unwrap().starts_with("E11")), "{results:?}");
        assert_eq!(results[0]["match_kind"], "text");

        // A code with or without its dot, in any case.
        for q in ["E11.9", "e119"] {
            let r = c.get(&format!("/api/v1/terminology/icd10cm/search?q={q}&limit=3")).await;
            assert_eq!(r.body["results"][0]["code"], "E11.9", "{q}: {}", r.body);
            assert_eq!(r.body["results"][0]["match_kind"], "code");
            assert_eq!(r.body["results"][0]["billable"], true);
        }
        // A typo.
        let r = c.get("/api/v1/terminology/icd10cm/search?q=pneumonai").await;
        let results = r.body["results"].as_array().unwrap();
        assert!(results.iter().take(5).any(|h| h["code"] == "J18.9"), "{results:?}");
        // ICD-10-PCS.
        let r = c.get("/api/v1/terminology/icd10pcs/search?q=resection%20appendix%20perc%20endo").await;
        assert_eq!(r.body["results"][0]["code"], "0DTJ4ZZ", "{}", r.body);

        let r = c.get("/api/v1/terminology/icd10cm/concepts/e11.9").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["code"], "E11.9");
        assert_eq!(r.body["display"], "Type 2 diabetes mellitus without complications");
        assert_eq!(r.body["billable"], true);
        assert_eq!(r.body["version"], "2026-04");
        assert_eq!(r.body["parents"][0]["code"], "E11");
        assert_eq!(r.body["children_total"], 0);
        let r = c.get("/api/v1/terminology/icd10cm/concepts/E11").await;
        assert_eq!(r.body["billable"], false);
        assert_eq!(r.body["kind"], "category");
        assert!(r.body["children"].as_array().unwrap().iter().any(|k| k["code"] == "E11.9"));
        // The tabular's includes notes are synonyms, and searchable.
        let r = c.get("/api/v1/terminology/icd10cm/concepts/I10").await;
        assert!(r.body["synonyms"].as_array().unwrap().iter().any(|s| s == "high blood pressure"), "{}", r.body);
        let r = c.get("/api/v1/terminology/icd10cm/search?q=high%20blood%20pressure").await;
        assert_eq!(r.body["results"][0]["code"], "I10", "{}", r.body);
        assert_eq!(r.body["results"][0]["matched"], "high blood pressure");

        // Bad input names the problem.
        for (path, status, code) in [
            ("/api/v1/terminology/icd10cm/search?q=x&limit=0", StatusCode::BAD_REQUEST, "invalid_query"),
            ("/api/v1/terminology/icd10cm/search?q=x&limit=101", StatusCode::BAD_REQUEST, "invalid_query"),
            ("/api/v1/terminology/icd10cm/search?limit=5", StatusCode::BAD_REQUEST, "invalid_query"),
            ("/api/v1/terminology/icd10cm/search?q=x&colour=red", StatusCode::BAD_REQUEST, "invalid_query"),
            ("/api/v1/terminology/icd11/search?q=x", StatusCode::NOT_FOUND, "not_found"),
            ("/api/v1/terminology/snomed/search?q=x", StatusCode::NOT_FOUND, "not_found"),
            ("/api/v1/terminology/icd10cm/concepts/E11.99999", StatusCode::NOT_FOUND, "not_found"),
        ] {
            let r = c.get(path).await;
            assert_eq!((r.status, r.code()), (status, code), "{path}: {}", r.body);
        }
        let long = "a".repeat(201);
        let r = c.get(&format!("/api/v1/terminology/icd10cm/search?q={long}")).await;
        assert_eq!(r.code(), "invalid_query");
        let r = c.get("/api/v1/terminology/snomed/search?q=x").await;
        assert!(r.body["message"].as_str().unwrap().contains("SNOMED CT is not loaded"), "{}", r.body);
        // An empty query is no error, and finds nothing.
        let r = c.get("/api/v1/terminology/icd10cm/search?q=%20").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["results"].as_array().unwrap().len(), 0);
    })
    .await;
}

#[tokio::test]
async fn an_imported_system_is_served_beside_the_bundled_ones() {
    let tdb = fresh_db(Backend::Sqlite).await;
    let w = world(&tdb.db).await;
    let data = tempfile::tempdir().unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::generate()));
    let key = clinlabel_store::keys::data_key(&tdb.db, &keyring, installed::KEY_SCOPE).await.unwrap();
    let release = clinlabel_terminology::import::import(clinlabel_terminology::System::Snomed, &fixture("snomed"), None).unwrap().release;
    installed::save(data.path(), &key, &release).unwrap();
    let terminology = Terminology::installed(data.path(), &key).unwrap();
    let blobs = tempfile::tempdir().unwrap();
    let state = AppState {
        db: tdb.db.clone(),
        blobs: BlobStore::local(blobs.path()).unwrap(),
        keyring,
        config: Arc::new(ServerConfig::default()),
        metrics: Default::default(),
        terminology: Arc::new(terminology),
    };
    let router = clinlabel_server::app(state);
    let mut c = client_for(&router);
    let r = c.post("/api/v1/auth/login", serde_json::json!({ "email": w.email(Role::QaReviewer, &w.provider), "password": PASSWORD })).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c.get("/api/v1/terminology/systems").await;
    let snomed = r.body.as_array().unwrap().iter().find(|s| s["system"] == "snomed").expect("imported").clone();
    assert_eq!(snomed["origin"], "imported");
    assert_eq!(snomed["version"], "20250101");
    assert_eq!(snomed["licensed"], true);
    assert_eq!(snomed["concepts"], 7);
    let r = c.get("/api/v1/terminology/snomed/search?q=type%20ii%20diab").await;
    assert_eq!(r.body["results"][0]["code"], "44054006", "{}", r.body);
    assert_eq!(r.body["results"][0]["display"], "Type 2 diabetes mellitus");
    assert_eq!(r.body["results"][0]["matched"], "Type II diabetes mellitus");
    let r = c.get("/api/v1/terminology/snomed/concepts/64572001").await;
    let kids: Vec<&str> = r.body["children"].as_array().unwrap().iter().map(|k| k["code"].as_str().unwrap()).collect();
    assert_eq!(kids, ["73211009", "233604007"]);
    assert_eq!(r.body["parents"][0]["code"], "404684003");
}

fn bin(data: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_clinlabel"))
        .env_remove("CLINLABEL_MASTER_KEY")
        .env("CLINLABEL_LOG", "warn")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_cli_imports_a_licensed_release_encrypted_and_searches_it() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let snomed = fixture("snomed");
    let (rc, out, err) = bin(d, &["terminology", "import", "--system", "snomed", snomed.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["version"], "20250101");
    assert_eq!(summary["concepts"], 7);
    assert_eq!(summary["active"], 6);
    // Stored in the data dir, encrypted, readable by the owner only.
    let file = installed::path(d, clinlabel_terminology::System::Snomed);
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(8).any(|w| w == b"diabetes"), "plaintext in the stored file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let (rc, out, err) = bin(d, &["terminology", "list"]);
    assert_eq!(rc, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["system"].as_str().unwrap()).collect();
    assert_eq!(ids, ["icd10cm", "icd10pcs", "snomed"]);

    let (rc, out, err) = bin(d, &["terminology", "search", "--system", "snomed", "pneumonia"]);
    assert_eq!(rc, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["results"][0]["code"], "233604007");
    assert_eq!(r["version"], "20250101");

    let (rc, out, _) = bin(d, &["terminology", "search", "--system", "icd10cm", "E11.9"]);
    assert_eq!(rc, 0);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["results"][0]["code"], "E11.9");

    let (rc, out, _) = bin(d, &["terminology", "show", "--system", "icd10cm", "e11.9"]);
    assert_eq!(rc, 0);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["parents"][0]["code"], "E11");
    assert_eq!(r["concept"]["billable"], true);

    // Another installation's key cannot read the file.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(installed::dir(other.path())).unwrap();
    std::fs::copy(&file, installed::path(other.path(), clinlabel_terminology::System::Snomed)).unwrap();
    let (rc, _, err) = bin(other.path(), &["terminology", "list"]);
    assert_eq!(rc, 2);
    assert!(err.contains("terminology:") && err.contains("snomed.clt.enc"), "{err}");

    // Errors are one line naming the problem.
    let (rc, _, err) = bin(d, &["terminology", "import", "--system", "icd11", "/x"]);
    assert_eq!(rc, 2);
    assert!(err.contains("--system") && err.contains("icd11"), "{err}");
    let (rc, _, err) = bin(d, &["terminology", "import", "--system", "loinc", snomed.to_str().unwrap()]);
    assert_eq!(rc, 2);
    assert!(err.contains("Loinc.csv"), "{err}");
    let (rc, _, err) = bin(d, &["terminology", "search", "--system", "meddra", "x"]);
    assert_eq!(rc, 2);
    assert!(err.contains("MedDRA is not loaded"), "{err}");

    let (rc, out, _) = bin(d, &["terminology", "remove", "--system", "snomed"]);
    assert_eq!(rc, 0);
    assert!(out.contains("\"removed\": true"), "{out}");
    assert!(!file.exists());
}
