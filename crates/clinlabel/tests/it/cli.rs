//! The real `clinlabel` binary: start-up, its one-line configuration errors,
//! the setup link, graceful shutdown, and the admin and audit commands.

use crate::support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clinlabel"));
    c.env_remove("CLINLABEL_MASTER_KEY").env("CLINLABEL_LOG", "warn");
    c
}

fn run(args: &[&str], data_dir: &Path) -> Output {
    bin().args(args).arg("--data-dir").arg(data_dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn configuration_errors_stop_start_up_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--database-url".into(), "mysql://db/x".into()], "clinlabel: --database-url:"),
        (vec!["--database-url".into(), "postgres://nobody:secretpw@127.0.0.1:1/none".into()], "clinlabel: --database-url:"),
        (vec!["--storage-url".into(), "ftp://files/x".into()], "clinlabel: --storage-url:"),
        (vec!["--data-dir".into(), "/proc/clinlabel-cannot-exist".into()], "clinlabel: --data-dir:"),
        (vec!["--bind".into(), "not-an-address".into()], "clinlabel: --bind:"),
        (vec!["--log-format".into(), "xml".into()], "clinlabel: --log-format:"),
    ];
    for (args, prefix) in cases {
        let mut c = bin();
        c.arg("serve");
        if !args.iter().any(|a| a == "--data-dir") {
            c.arg("--data-dir").arg(dir.path().join("d"));
        }
        let o = c.args(&args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("clinlabel:")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with(prefix), "{args:?}: {err}");
        assert!(!err.contains("secretpw"), "the password leaked: {err}");
    }
}

/// A running server on a free port, stopped (SIGTERM) on drop.
struct Server {
    child: Child,
    addr: String,
    stdout_lines: Vec<String>,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = bin()
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("server exited before serving: {lines:?}");
            }
            lines.push(line.trim_end().to_string());
            if let Some(a) = line.trim().strip_prefix("clinlabel: serving on http://") {
                break a.to_string();
            }
        };
        Server { child, addr, stdout_lines: lines }
    }

    fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split(' ').nth(1).unwrap().parse().unwrap();
        (status, out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap()
    }
}

#[test]
fn first_start_prints_a_setup_link_that_creates_the_first_admin_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let link = server.stdout_lines.iter().find(|l| l.contains("/setup#token=")).expect("a setup link is printed").clone();
    let token = link.split("#token=").nth(1).unwrap().trim().to_string();
    // The master key was created owner-only, the database in the data dir.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(data.join("master.key")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(data.join("clinlabel.db").exists());
    assert_eq!(server.http("GET", "/healthz", None).0, 200);
    let body = format!(r#"{{"token":"{token}","organisation_name":"Acme","email":"root@acme.test","name":"Root","password":"{PASSWORD}"}}"#);
    let (status, text) = server.http("POST", "/api/v1/setup", Some(&body));
    assert_eq!(status, 200, "{text}");
    let (status, _) = server.http("POST", "/api/v1/setup", Some(&body));
    assert_eq!(status, 410);
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status:?}");
    // A second start with an account in place prints no link.
    let server = Server::start(&data);
    assert!(!server.stdout_lines.iter().any(|l| l.contains("setup#token")));
    let (status, text) = server.http("POST", "/api/v1/auth/login", Some(&format!(r#"{{"email":"root@acme.test","password":"{PASSWORD}"}}"#)));
    assert_eq!(status, 200, "{text}");
    assert!(server.terminate().success());
}

#[test]
fn admin_create_user_prints_a_password_that_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["admin", "create-user", "--email", "ops@provider.test", "--name", "Ops"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let password = out.lines().find_map(|l| l.strip_prefix("password (shown once): ")).expect("password printed").to_string();
    let again = run(&["admin", "create-user", "--email", "OPS@provider.test", "--name", "Twice"], dir.path());
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("email_taken"), "{}", stderr(&again));
    let bad = run(&["admin", "create-user", "--email", "x@p.test", "--name", "X", "--role", "root"], dir.path());
    assert!(stderr(&bad).starts_with("clinlabel: --role:"), "{}", stderr(&bad));
    let server = Server::start(dir.path());
    let (status, text) = server.http("POST", "/api/v1/auth/login", Some(&format!(r#"{{"email":"ops@provider.test","password":"{password}"}}"#)));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"role\":\"admin\""));
    server.terminate();
}

#[test]
fn audit_verify_passes_on_a_sound_trail_and_names_an_edited_event() {
    let dir = tempfile::tempdir().unwrap();
    for email in ["a@p.test", "b@p.test"] {
        assert!(run(&["admin", "create-user", "--email", email, "--name", "N"], dir.path()).status.success());
    }
    let ok = run(&["audit", "verify"], dir.path());
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact: 3 events"));
    // Tamper with the SQLite file directly.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = clinlabel_store::Db::connect(&format!("sqlite://{}/clinlabel.db", dir.path().display())).await.unwrap();
        sqlx::query("DROP TRIGGER audit_events_no_update").execute(db.pool()).await.unwrap();
        sqlx::query("UPDATE audit_events SET details = '{\"role\":\"pm\"}' WHERE seq = 2").execute(db.pool()).await.unwrap();
        db.close().await;
    });
    let bad = run(&["audit", "verify"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("audit event 2 was edited"), "{}", String::from_utf8_lossy(&bad.stdout));
}

#[test]
fn rotate_master_key_rewraps_every_data_key() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(&["admin", "create-user", "--email", "a@p.test", "--name", "N"], dir.path()).status.success());
    let key_file = dir.path().join("master.key");
    // The create-user run made no master key; make one and two data keys as the server would.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (old_key, keys) = rt.block_on(async {
        let old = clinlabel_blob::keyfile::load_or_create(&key_file).unwrap();
        let ring = clinlabel_crypto::Keyring::new(old.clone());
        let db = clinlabel_store::Db::connect(&format!("sqlite://{}/clinlabel.db", dir.path().display())).await.unwrap();
        let a = clinlabel_store::keys::data_key(&db, &ring, "project-a").await.unwrap();
        let b = clinlabel_store::keys::data_key(&db, &ring, "project-b").await.unwrap();
        db.close().await;
        (old, vec![("project-a", a), ("project-b", b)])
    });
    let o = run(&["admin", "rotate-master-key"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 data keys rewrapped"));
    let new_key = clinlabel_blob::keyfile::load(&key_file).unwrap();
    assert_ne!(new_key.id(), old_key.id());
    assert!(!clinlabel_blob::keyfile::next_path(&key_file).exists());
    rt.block_on(async {
        let db = clinlabel_store::Db::connect(&format!("sqlite://{}/clinlabel.db", dir.path().display())).await.unwrap();
        // The same data keys come back under the new master key alone…
        let ring = clinlabel_crypto::Keyring::new(new_key.clone());
        for (scope, key) in &keys {
            assert!(clinlabel_store::keys::data_key(&db, &ring, scope).await.unwrap() == *key);
        }
        // …and the old master key opens none of them.
        let old_ring = clinlabel_crypto::Keyring::new(old_key);
        assert!(clinlabel_store::keys::data_key(&db, &old_ring, "project-a").await.is_err());
        assert_eq!(clinlabel_store::keys::master_key_ids_in_use(&db).await.unwrap(), vec![new_key.id()]);
        assert!(clinlabel_store::audit::verify(&db).await.unwrap().ok);
    });
}

#[test]
fn demo_workspace_has_one_signed_in_account_per_role() {
    let dir = tempfile::tempdir().unwrap();
    let start = |dir: &Path| {
        let mut child = bin()
            .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "exited early: {lines:?}");
            let done = line.contains("serving on http://");
            lines.push(line.trim_end().to_string());
            if done {
                break;
            }
        }
        let addr = lines.last().unwrap().rsplit("http://").next().unwrap().to_string();
        (Server { child, addr, stdout_lines: lines.clone() }, lines)
    };
    let (server, lines) = start(dir.path());
    let users: Vec<(String, String, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("demo user: "))
        .map(|l| {
            let mut parts = l.split(' ');
            (parts.next().unwrap().to_string(), parts.next().unwrap().to_string(), parts.next().unwrap().to_string())
        })
        .collect();
    let roles: std::collections::BTreeSet<&str> = users.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(roles.into_iter().collect::<Vec<_>>(), ["admin", "client_admin", "client_member", "pm", "qa_reviewer", "tasker"]);
    assert!(!lines.iter().any(|l| l.contains("setup#token")), "no setup link when the demo made accounts");
    for (role, email, password) in &users {
        let (status, body) = server.http("POST", "/api/v1/auth/login", Some(&format!(r#"{{"email":"{email}","password":"{password}"}}"#)));
        assert_eq!(status, 200, "{role}: {body}");
        assert!(body.contains(&format!("\"role\":\"{role}\"")), "{body}");
    }
    assert!(server.terminate().success());
    // A second start keeps the workspace and prints no passwords.
    let (server, lines) = start(dir.path());
    assert!(!lines.iter().any(|l| l.starts_with("demo user:")));
    assert!(lines.iter().any(|l| l.contains("accounts exist already")));
    server.terminate();
}

#[test]
fn agreement_prints_krippendorffs_published_example() {
    // Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the
    // 4 coders × 12 units example with missing values: nominal α = 0.743,
    // interval 0.849, ordinal 0.815.
    let dir = tempfile::tempdir().unwrap();
    let table = [
        ("A", [Some(1), Some(2), Some(3), Some(3), Some(2), Some(1), Some(4), Some(1), Some(2), None, None, None]),
        ("B", [Some(1), Some(2), Some(3), Some(3), Some(2), Some(2), Some(4), Some(1), Some(2), Some(5), None, Some(3)]),
        ("C", [None, Some(3), Some(3), Some(3), Some(2), Some(3), Some(4), Some(2), Some(2), Some(5), Some(1), None]),
        ("D", [Some(1), Some(2), Some(3), Some(3), Some(2), Some(4), Some(4), Some(1), Some(2), Some(5), Some(1), None]),
    ];
    let mut csv = String::from("unit,coder,value\n");
    for (coder, values) in table {
        for (u, v) in values.iter().enumerate() {
            if let Some(v) = v {
                csv.push_str(&format!("u{},{coder},{v}\n", u + 1));
            }
        }
    }
    let path = dir.path().join("table.csv");
    std::fs::write(&path, csv).unwrap();
    let o = bin().args(["agreement", "--json", "--metric", "krippendorff_alpha"]).arg(&path).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v.to_string();
    let find = |level: &str| -> f64 {
        let rows = v["coefficients"].as_array().unwrap_or_else(|| panic!("no coefficients in {text}"));
        let row = rows.iter().find(|r| r["metric"].as_str().unwrap().contains(level)).unwrap_or_else(|| panic!("no {level} in {text}"));
        row["value"].as_f64().unwrap()
    };
    assert!((find("nominal") - 0.743).abs() < 5e-4, "{text}");
    assert!((find("interval") - 0.849).abs() < 5e-4, "{text}");
    assert!((find("ordinal") - 0.815).abs() < 5e-4, "{text}");
    // Bad input names the file and line.
    std::fs::write(&path, "unit,coder,value\nu1,A,1\nu1,A,2\n").unwrap();
    let o = bin().arg("agreement").arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("table.csv:3"), "{}", stderr(&o));
}

/// The pydicom reference data the test-data step writes (`ci/testdata/dicom.sh`).
fn dicom_reference() -> serde_json::Value {
    let root = std::env::var("CLINLABEL_TESTDATA").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/clinlabel-testdata")
    });
    let path = root.join("dicom/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}: run ci/testdata/dicom.sh (./ci/test does)", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn dicom_render_matches_pydicom_and_deidentify_removes_the_patient() {
    use sha2::Digest;
    let reference = dicom_reference();
    let entry = reference["entries"].as_array().unwrap().iter().find(|e| e["name"].as_str().unwrap().ends_with("/CT_small.dcm")).expect("CT_small.dcm in the reference").clone();
    let file = entry["path"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frame");
    let o = bin().args(["dicom", "render", file, "--frame", "0", "--window", "40,400", "--out"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let raw = std::fs::read(out.with_extension("raw")).unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&raw)), entry["sha256"].as_str().unwrap(), "frame 0 equals pydicom's pixel_array");
    let png = std::fs::read(out.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((meta["rows"].as_u64(), meta["columns"].as_u64()), (entry["rows"].as_u64(), entry["columns"].as_u64()));

    let original = std::fs::read(file).unwrap();
    let name = b"CompressedSamples^CT1";
    assert!(original.windows(name.len()).any(|w| w == name), "the test file carries a patient name");
    let deid = dir.path().join("deid.dcm");
    let o = bin().args(["dicom", "deidentify", file]).arg(&deid).args(["--secret", "project-secret", "--dates", "shift:-30"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["uids_replaced"].as_u64().unwrap() > 0, "{report}");
    let cleaned = std::fs::read(&deid).unwrap();
    assert!(!cleaned.windows(name.len()).any(|w| w == name), "the patient's name is gone");
    // The de-identified file still decodes to the same pixels.
    let o = bin().args(["dicom", "render"]).arg(&deid).arg("--out").arg(dir.path().join("again")).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("again.raw")).unwrap(), raw);
    let bad = bin().args(["dicom", "render", "/etc/hostname", "--out"]).arg(dir.path().join("x")).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("/etc/hostname"), "{}", stderr(&bad));
}
