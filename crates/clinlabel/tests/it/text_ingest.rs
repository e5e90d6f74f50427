//! Text ingest through the real API (issue 7, "Ingest"): a CSV with the
//! project's chosen text column (quoted fields holding commas, line breaks,
//! CRLF and quotes; a BOM), a BioC collection, plain text with a BOM and
//! CRLF, JSONL — uploaded in small chunks through the resumable protocol,
//! then read back from `/items/{id}/content` (and `/tasks/{id}/content` by
//! a tasker) and compared with the text written into the file. Latin-1
//! files, a CSV row without the column, a missing column and an oversized
//! BioC document are refused with the file's name and the place.

use crate::imaging::sign_agreements;
use crate::projects::track;
use crate::support::{Client, PASSWORD, TestApp, World, check_db, world};
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use clinlabel_domain::Role;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The notes, as the CSV and the BioC file below hold them.
const CSV_NOTES: [&str; 3] = [
    "Chest pain, left arm.\r\nECG: \"normal\".",
    "Plain note \u{1F600} cafe\u{301}",
    "multi\nline, with \"quotes\"",
];

/// `CSV_NOTES` in the `note_text` column, written out by hand: a BOM, CRLF
/// record ends, quoted fields with commas, CRLF, LF and doubled quotes, and
/// no line break at the end.
fn csv_file() -> Vec<u8> {
    concat!(
        "\u{FEFF}id,note_text,ward\r\n",
        "n1,\"Chest pain, left arm.\r\nECG: \"\"normal\"\".\",A\r\n",
        "n2,Plain note \u{1F600} cafe\u{301},\"B, east\"\r\n",
        "n3,\"multi\nline, with \"\"quotes\"\"\",C",
    )
    .as_bytes()
    .to_vec()
}

const BIOC: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n",
    "<!DOCTYPE collection SYSTEM \"BioC.dtd\">\r\n",
    "<collection><source>clinic</source><date>20260101</date><key>clinlabel.key</key>\r\n",
    "<document><id>b1</id><infon key=\"service\">cardiology</infon>\r\n",
    "<passage><offset>0</offset><text>Chest pain.&#13;\nNo fever.</text></passage>\r\n",
    "<passage><offset>30</offset><text>Plan: ECG &amp; troponin.</text></passage>\r\n",
    "</document>\r\n",
    "<document><id>b2</id><passage><offset>0</offset><text>Caf&#xE9; visit \u{1F600}</text></passage></document>\r\n",
    "</collection>\r\n"
);

/// The first BioC document's text: passages at their offsets (chars), the gap
/// filled with line breaks; `&#13;` is a CR.
fn bioc_text_1() -> String {
    let first = "Chest pain.\r\nNo fever.";
    format!("{first}{}Plan: ECG & troponin.", "\n".repeat(30 - first.chars().count()))
}

fn text_spec(track: &str, text_column: Option<&str>) -> Value {
    let mut s = crate::projects::text_spec(track);
    s["overlap"] = json!(1);
    s["qa"]["tier2_sampling_pct"] = json!(0);
    if let Some(c) = text_column {
        s["text_column"] = json!(c);
    }
    s
}

/// Uploads `data` as `name` through the resumable protocol in `piece`-byte chunks.
async fn upload(c: &mut Client, project: &str, name: &str, data: &[u8], piece: usize) -> Value {
    let r = c.post(&format!("/api/v1/projects/{project}/uploads"), json!({ "name": name, "size": data.len() })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    for (k, chunk) in data.chunks(piece).enumerate() {
        let req = c
            .request(Method::PATCH, &format!("/api/v1/uploads/{id}"))
            .header(header::CONTENT_TYPE, "application/offset+octet-stream")
            .header("upload-offset", (k * piece).to_string())
            .header(header::CONTENT_LENGTH, chunk.len())
            .body(Body::from(chunk.to_vec()))
            .unwrap();
        let r = c.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        last = r.body;
    }
    assert_eq!(last["state"], "complete", "{last}");
    last
}

async fn file_named(c: &mut Client, project: &str, name: &str) -> Value {
    let r = c.get(&format!("/api/v1/projects/{project}/files?per_page=100")).await;
    r.body["items"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no file {name}: {}", r.body)).clone()
}

async fn items_of(c: &mut Client, project: &str, file: &Value) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/projects/{project}/items?per_page=100&file_id={}", file["id"].as_str().unwrap())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// GET a path as raw bytes (optionally a Range).
async fn raw(app: &TestApp, c: &Client, path: &str, range: Option<&str>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut b = c.request(Method::GET, path);
    if let Some(r) = range {
        b = b.header(header::RANGE, r);
    }
    let res = app.router.clone().oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

/// An item's content as the workspace reads it: JSON (`text`) or plain text.
async fn note_of(app: &TestApp, c: &Client, path: &str) -> (String, Value) {
    let (st, h, body) = raw(app, c, path, None).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let ct = h[header::CONTENT_TYPE].to_str().unwrap();
    assert_eq!(h[header::CONTENT_LENGTH].to_str().unwrap(), body.len().to_string());
    if ct.starts_with("application/json") {
        let v: Value = serde_json::from_slice(&body).unwrap();
        (v["text"].as_str().unwrap().to_string(), v)
    } else {
        (String::from_utf8(body).unwrap(), Value::Null)
    }
}

async fn client_project(app: &TestApp, w: &World, text_column: Option<&str>) -> (Client, String) {
    let tr = track(app.db()).await;
    let mut c = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
    let r = c.post("/api/v1/projects", text_spec(&tr, text_column)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let p = r.body["id"].as_str().unwrap().to_string();
    (c, p)
}

#[tokio::test]
async fn text_files_of_every_format_become_notes_that_read_back_as_written() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        sign_agreements(&t.db, &w).await;
        let app = TestApp::new(t);
        let (mut c, p) = client_project(&app, &w, Some("note_text")).await;
        assert_eq!(c.get(&format!("/api/v1/projects/{p}")).await.body["spec"]["text_column"], "note_text");

        // CSV: one note per row, in 7-byte chunks (every boundary lands somewhere odd).
        let csv = csv_file();
        let u = upload(&mut c, &p, "notes.csv", &csv, 7).await;
        assert_eq!((u["summary"]["accepted"].as_i64(), u["summary"]["items"].as_i64()), (Some(1), Some(3)), "{u}");
        let f = file_named(&mut c, &p, "notes.csv").await;
        let items = items_of(&mut c, &p, &f).await;
        assert_eq!(items.len(), 3);
        for (k, it) in items.iter().enumerate() {
            assert_eq!(it["kind"], "note");
            let (text, v) = note_of(&app, &c, &format!("/api/v1/items/{}/content", it["id"].as_str().unwrap())).await;
            assert_eq!(text, CSV_NOTES[k], "row {}", k + 1);
            assert_eq!(v["id"], format!("n{}", k + 1));
            assert_eq!(it["meta"]["chars"], CSV_NOTES[k].chars().count());
            assert_eq!(it["meta"]["row"], k + 1);
        }
        let (_, v) = note_of(&app, &c, &format!("/api/v1/items/{}/content", items[1]["id"].as_str().unwrap())).await;
        assert_eq!(v["metadata"], json!({ "ward": "B, east" }));
        // The item's range is the row as stored (from the item list); its line is where it starts.
        let (s, e) = (items[0]["byte_start"].as_u64().unwrap() as usize, items[0]["byte_end"].as_u64().unwrap() as usize);
        assert_eq!(&csv[s..e], "n1,\"Chest pain, left arm.\r\nECG: \"\"normal\"\".\",A".as_bytes());
        assert_eq!((items[0]["meta"]["line"].as_u64(), items[1]["meta"]["line"].as_u64(), items[2]["meta"]["line"].as_u64()), (Some(2), Some(4), Some(5)));
        // A range of the JSON answer.
        let item = items[0]["id"].as_str().unwrap();
        let (_, _, whole) = raw(&app, &c, &format!("/api/v1/items/{item}/content"), None).await;
        let (st, h, part) = raw(&app, &c, &format!("/api/v1/items/{item}/content"), Some("bytes=2-9")).await;
        assert_eq!((st, part.as_slice()), (StatusCode::PARTIAL_CONTENT, &whole[2..10]));
        assert_eq!(h[header::CONTENT_RANGE], format!("bytes 2-9/{}", whole.len()).as_str());

        // BioC: one note per document, in 5-byte chunks.
        let u = upload(&mut c, &p, "collection.xml", BIOC.as_bytes(), 5).await;
        assert_eq!(u["summary"]["items"], 2, "{u}");
        let f = file_named(&mut c, &p, "collection.xml").await;
        let items = items_of(&mut c, &p, &f).await;
        let (t1, v1) = note_of(&app, &c, &format!("/api/v1/items/{}/content", items[0]["id"].as_str().unwrap())).await;
        assert_eq!(t1, bioc_text_1());
        assert_eq!((v1["id"].as_str(), v1["metadata"]["service"].as_str()), (Some("b1"), Some("cardiology")));
        let (t2, _) = note_of(&app, &c, &format!("/api/v1/items/{}/content", items[1]["id"].as_str().unwrap())).await;
        assert_eq!(t2, "Café visit \u{1F600}");
        assert_eq!(items[0]["meta"]["chars"], bioc_text_1().chars().count());
        let (s, e) = (items[1]["byte_start"].as_u64().unwrap() as usize, items[1]["byte_end"].as_u64().unwrap() as usize);
        assert!(BIOC[s..e].starts_with("<document><id>b2</id>") && BIOC[s..e].ends_with("</document>"));

        // Plain text: the BOM is not part of the note, CRLF is.
        let note = "Line one\r\nLine two \u{1F600}\r\n";
        let mut txt = b"\xEF\xBB\xBF".to_vec();
        txt.extend_from_slice(note.as_bytes());
        upload(&mut c, &p, "letter.txt", &txt, 4).await;
        let f = file_named(&mut c, &p, "letter.txt").await;
        let items = items_of(&mut c, &p, &f).await;
        let (text, _) = note_of(&app, &c, &format!("/api/v1/items/{}/content", items[0]["id"].as_str().unwrap())).await;
        assert_eq!(text, note);

        // JSONL as before: the line itself, as JSON.
        upload(&mut c, &p, "notes.jsonl", "{\"id\":\"j1\",\"text\":\"a\\r\\nb\"}\n".as_bytes(), 3).await;
        let f = file_named(&mut c, &p, "notes.jsonl").await;
        let items = items_of(&mut c, &p, &f).await;
        let (text, v) = note_of(&app, &c, &format!("/api/v1/items/{}/content", items[0]["id"].as_str().unwrap())).await;
        assert_eq!((text.as_str(), v["id"].as_str()), ("a\r\nb", Some("j1")));
    })
    .await;
}

#[tokio::test]
async fn unreadable_text_files_are_refused_with_their_name_and_place() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        sign_agreements(&t.db, &w).await;
        let app = TestApp::new(t);
        let (mut c, p) = client_project(&app, &w, None).await;
        let refused = async |c: &mut Client, name: &str, data: &[u8]| -> String {
            let u = upload(c, &p, name, data, 1000).await;
            assert_eq!(u["summary"]["rejected"], 1, "{name}: {u}");
            let f = file_named(c, &p, name).await;
            assert_eq!(f["status"], "rejected");
            f["reason"].as_str().unwrap().to_string()
        };
        // Latin-1 (é is 0xE9) in every text format: the byte offset of the first bad byte.
        let latin1: [(&str, &[u8]); 4] = [
            ("latin1.txt", b"Patient: caf\xe9, no fever.\r\n"),
            ("latin1.csv", b"id,text\r\n1,ok\r\n2,\"caf\xe9\"\r\n"),
            ("latin1.jsonl", b"{\"text\":\"ok\"}\n{\"text\":\"caf\xe9\"}\n"),
            ("latin1.xml", b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><collection><document><passage><text>caf\xe9</text></passage></document></collection>"),
        ];
        for (name, data) in latin1 {
            let at = data.iter().position(|&b| b == 0xE9).unwrap();
            assert_eq!(
                refused(&mut c, name, data).await,
                format!("not valid UTF-8: invalid byte sequence at byte offset {at} (convert the file to UTF-8)"),
                "{name}"
            );
        }
        // The project's text column is "text" (the default): a file without it names its columns.
        assert_eq!(
            refused(&mut c, "other.csv", b"id,body\n1,x\n").await,
            "header (line 1): no column \"text\" (columns: id, body); the project's text column is set in its specification"
        );
        // A row without the column.
        assert!(refused(&mut c, "short.csv", b"id,text,ward\r\n1,ok,A\r\n2,B\r\n").await.starts_with("row 2 (line 3): 2 field(s), the header has 3"));
        // A quoted field never closed.
        assert_eq!(refused(&mut c, "open.csv", b"id,text\n1,\"never closed\n").await, "row 1 (line 2): a quoted field is not closed (the file ends inside it)");
        // A BioC document over 1 MiB: its position in the collection and its byte offset.
        let mut big = b"<collection><document><id>ok</id><passage><text>fine</text></passage></document>".to_vec();
        let at = big.len();
        big.extend_from_slice(b"<document><id>big</id><passage><text>");
        big.extend(std::iter::repeat_n(b'x', (1 << 20) + 1));
        big.extend_from_slice(b"</text></passage></document></collection>");
        let u = upload(&mut c, &p, "big.xml", &big, 1 << 20).await;
        assert_eq!(u["summary"]["rejected"], 1);
        assert_eq!(
            file_named(&mut c, &p, "big.xml").await["reason"],
            format!("document 2 (byte offset {at}): the text is 1048577 bytes; a note is at most 1 MiB (1048576 bytes)").as_str()
        );
        // The readable files of the project are untouched by the refusals.
        let r = c.get(&format!("/api/v1/projects/{p}/items")).await;
        assert_eq!(r.body["total"], 0);
    })
    .await;
}

#[tokio::test]
async fn a_tasker_reads_a_csv_note_and_spans_are_checked_against_it() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        sign_agreements(&t.db, &w).await;
        let app = TestApp::new(t);
        let db = app.db().clone();
        let tr = track(&db).await;
        let coder = crate::support::taskers(&db, &w, &tr, 1, true, "coder").await.remove(0).1;
        let (mut c, p) = client_project(&app, &w, Some("note_text")).await;
        // Only the first row, so the one task is its note.
        let csv = csv_file();
        let end = csv.windows(5).position(|x| x == b"A\r\nn2").unwrap() + 3;
        upload(&mut c, &p, "one.csv", &csv[..end], 11).await;
        crate::support::start_project(&app, &w, &p).await;

        let mut a = app.login(&coder, PASSWORD).await;
        let task = a.post("/api/v1/tasks/next", json!({})).await;
        assert_eq!(task.status, StatusCode::OK, "{}", task.body);
        let task = task.body["id"].as_str().unwrap().to_string();
        let (text, v) = note_of(&app, &a, &format!("/api/v1/tasks/{task}/content")).await;
        assert_eq!((text.as_str(), v["id"].as_str()), (CSV_NOTES[0], Some("n1")));
        let s = a.get(&format!("/api/v1/tasks/{task}/suggestions?suggest=false")).await;
        assert_eq!(s.body["chars"], CSV_NOTES[0].chars().count(), "{}", s.body);

        // "arm.\r\nECG" spans the CRLF: chars 17..26 of the note.
        let chars: Vec<char> = CSV_NOTES[0].chars().collect();
        let start = CSV_NOTES[0].find("arm.").unwrap();
        let covered: String = chars[start..start + 9].iter().collect();
        assert_eq!(covered, "arm.\r\nECG");
        let wrong = json!({ "text": { "spans": [{ "id": "T1", "label": "disease", "start": start, "end": start + 9, "text": "arm.\nECG:" }] } });
        let r = a.post(&format!("/api/v1/tasks/{task}/submit"), wrong).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("text.spans[0].text")), "{}", r.body);
        let body = json!({ "text": { "spans": [{ "id": "T1", "label": "disease", "start": start, "end": start + 9 }] } });
        let r = a.post(&format!("/api/v1/tasks/{task}/submit"), body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}
