//! DICOM at ingest and the frame service (issues 4 and 8): real pydicom test
//! files, de-identified before they are stored, grouped one item per series
//! whatever upload brought each instance, ordered along the slice normal, and
//! served frame by frame — equal to pydicom's own pixel arrays.

use crate::projects::track;
use crate::support::{Client, PASSWORD, TestApp, check_db, taskers, world};
use axum::body::Body;
use axum::http::{Method, StatusCode};
use clinlabel_domain::project::Modality;
use clinlabel_domain::Role;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use tower::ServiceExt;

pub(crate) fn testdata() -> PathBuf {
    match std::env::var_os("CLINLABEL_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clinlabel-testdata"),
    }
}

/// The pydicom reference entry of a test file (path, frame-0 raw file, UIDs).
pub(crate) fn reference(name: &str) -> Value {
    let path = testdata().join("dicom/reference.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): run `bash ci/testdata/dicom.sh` to fetch pydicom's test files", path.display()));
    let r: Value = serde_json::from_str(&text).unwrap();
    r["entries"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned().unwrap_or_else(|| panic!("{name} is not in reference.json: re-run ci/testdata/dicom.sh"))
}

pub(crate) fn read(entry: &Value) -> Vec<u8> {
    std::fs::read(entry["path"].as_str().unwrap()).unwrap()
}

/// Slice `k` of a series made from a real CT: the same pixels moved `k` × 5 mm
/// along the slice normal, with its own SOP Instance UID and an Instance
/// Number that runs against the position (so ordering by number would be wrong).
fn ct_slice(ct: &[u8], k: u32) -> (Vec<u8>, f64) {
    let mut obj = dicom_object::OpenFileOptions::new().from_reader(&ct[128..]).unwrap();
    let ipp: Vec<f64> = obj.element(tags::IMAGE_POSITION_PATIENT).unwrap().to_multi_float64().unwrap();
    let z = ipp[2] + 5.0 * k as f64;
    obj.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, PrimitiveValue::Strs([format!("{}", ipp[0]), format!("{}", ipp[1]), format!("{z}")].into_iter().collect())));
    obj.put(DataElement::new(tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from(format!("{}", 10 - k))));
    let sop = format!("{}.{k}", obj.element(tags::SOP_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0'));
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop.clone())));
    obj.meta_mut().media_storage_sop_instance_uid = sop;
    let mut out = Vec::new();
    obj.write_all(&mut out).unwrap();
    (out, z)
}


async fn image_project(c: &mut Client, track: &str, dates: &str) -> String {
    let mut spec = serde_json::to_value(clinlabel_ingest::bench::spec_for(Modality::Image, track, clinlabel_store::db::now_ms() + 30 * 86_400_000)).unwrap();
    spec["deidentification"] = json!({ "dates": dates });
    let r = c.post("/api/v1/projects", spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

pub(crate) use crate::support::{sign_agreements, upload_whole as upload};

async fn items(c: &mut Client, project: &str) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/projects/{project}/items?per_page=100")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

async fn raw(app: &TestApp, c: &Client, path: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut b = c.request(Method::GET, path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let res = app.router.clone().oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn dicom_series_are_deidentified_grouped_in_order_and_served_frame_by_frame() {
    let ct_ref = reference("pydicom/CT_small.dcm");
    let us_ref = reference("pydicom-data/US1_UNCR.dcm");
    let ct = read(&ct_ref);
    let pydicom_frame = std::fs::read(testdata().join("dicom").join(ct_ref["raw"].as_str().unwrap())).unwrap();
    check_db(|t| {
        let (ct, ct_ref, us_ref, pydicom_frame) = (ct.clone(), ct_ref.clone(), us_ref.clone(), pydicom_frame.clone());
        async move {
            let w = world(&t.db).await;
            let tr = track(&t.db).await;
            sign_agreements(&t.db, &w).await;
            let app = TestApp::new(t);
            let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
            let p = image_project(&mut client, &tr, "shift").await;

            // Three slices, each its own upload, out of order; one without an extension.
            let slices: Vec<(Vec<u8>, f64)> = (0..3).map(|k| ct_slice(&ct, k)).collect();
            for (k, name) in [(1usize, "slice-b.dcm"), (2, "IM0003"), (0, "slice-a.dcm")] {
                let u = upload(&mut client, &p, name, &slices[k].0).await;
                assert_eq!(u["state"], "complete", "{u}");
                assert_eq!(u["summary"]["accepted"], 1, "{u}");
            }
            // Not DICOM, and a truncated real file: rejected by name with the reason; the rest stands.
            let u = upload(&mut client, &p, "notes.dcm", b"Patient seen today, BP 120/80.").await;
            assert_eq!(u["summary"]["rejected"], 1, "{u}");
            let u = upload(&mut client, &p, "cut.dcm", &ct[..ct.len() / 2]).await;
            assert_eq!(u["summary"]["rejected"], 1, "{u}");
            let files = client.get(&format!("/api/v1/projects/{p}/files?status=rejected")).await.body["items"].as_array().unwrap().clone();
            let reason = |n: &str| files.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} in {files:?}"))["reason"].as_str().unwrap().to_string();
            assert!(reason("notes.dcm").starts_with("not_dicom"), "{}", reason("notes.dcm"));
            let cut = reason("cut.dcm");
            assert!(cut.starts_with("truncated") || cut.starts_with("length_exceeds_file"), "{cut}");
            // The same slice again is a duplicate, not a fourth instance.
            let u = upload(&mut client, &p, "again.dcm", &slices[0].0).await;
            assert_eq!(u["summary"]["duplicates"], 1, "{u}");

            // One item for the series, whichever upload brought each instance.
            let list = items(&mut client, &p).await;
            assert_eq!(list.len(), 1, "{list:?}");
            let item = &list[0];
            assert_eq!(item["kind"], "dicom_series");
            assert_eq!(item["meta"]["instances"], 3);
            assert_eq!(item["meta"]["frames"], 3);
            assert_eq!(item["meta"]["modality"], "CT");
            let id = item["id"].as_str().unwrap().to_string();

            // Ordered along the slice normal (not by Instance Number), UIDs replaced.
            let s = client.get(&format!("/api/v1/items/{id}/series")).await;
            assert_eq!(s.status, StatusCode::OK, "{}", s.body);
            assert_eq!(s.body["ordering"], "slice_normal");
            let zs: Vec<f64> = s.body["frames"].as_array().unwrap().iter().map(|f| f["image_position"][2].as_f64().unwrap()).collect();
            let want: Vec<f64> = slices.iter().map(|s| s.1).collect();
            assert_eq!(zs.len(), 3);
            for (got, want) in zs.iter().zip(&want) {
                assert!((got - want).abs() < 1e-3, "{zs:?} vs {want:?}");
            }
            let numbers: Vec<i64> = s.body["frames"].as_array().unwrap().iter().map(|f| s.body["instances"][f["instance"].as_u64().unwrap() as usize]["instance_number"].as_i64().unwrap()).collect();
            assert_eq!(numbers, vec![10, 9, 8]);
            let series_uid = s.body["series_instance_uid"].as_str().unwrap().to_string();
            assert!(series_uid.starts_with("2.25."), "{series_uid}");
            assert_ne!(series_uid, ct_ref["series_uid"].as_str().unwrap());
            let frame0 = &s.body["frames"][0];
            assert_eq!(frame0["dtype"], ct_ref["dtype"]);
            assert_eq!(frame0["rows"], ct_ref["rows"]);
            assert_eq!(frame0["pixel_spacing"].as_array().unwrap().len(), 2);

            // Each frame is pydicom's pixel array, byte for byte.
            for n in 0..3 {
                let (st, h, body) = raw(&app, &client, &format!("/api/v1/items/{id}/frames/{n}"), &[]).await;
                assert_eq!(st, StatusCode::OK);
                assert_eq!(h["x-frame-dtype"], ct_ref["dtype"].as_str().unwrap());
                assert!(body == pydicom_frame, "frame {n} differs from pydicom's pixel_array");
            }
            // Ranges, cache validation, PNG rendering, and the limits.
            let (st, h, part) = raw(&app, &client, &format!("/api/v1/items/{id}/frames/1"), &[("range", "bytes=100-199")]).await;
            assert_eq!(st, StatusCode::PARTIAL_CONTENT);
            assert_eq!(part, pydicom_frame[100..200]);
            assert_eq!(h["content-range"], format!("bytes 100-199/{}", pydicom_frame.len()).as_str());
            let (_, h, _) = raw(&app, &client, &format!("/api/v1/items/{id}/frames/2"), &[]).await;
            let etag = h["etag"].to_str().unwrap().to_string();
            let (st, _, body) = raw(&app, &client, &format!("/api/v1/items/{id}/frames/2"), &[("if-none-match", &etag)]).await;
            assert_eq!(st, StatusCode::NOT_MODIFIED);
            assert!(body.is_empty());
            let (st, h, png) = raw(&app, &client, &format!("/api/v1/items/{id}/frames/0?format=png&center=40&width=400"), &[]).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(h["content-type"], "image/png");
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert_eq!(client.get(&format!("/api/v1/items/{id}/frames/3")).await.code(), "frame_out_of_range");
            assert_eq!(client.get(&format!("/api/v1/items/{id}/frames/0?format=gif")).await.code(), "invalid_query");
            assert_eq!(client.get(&format!("/api/v1/items/{id}/frames/0?center=40")).await.code(), "invalid_query");

            // What is stored and served is de-identified: no patient name, no original UIDs.
            let (st, _, stored) = raw(&app, &client, &format!("/api/v1/items/{id}/content"), &[]).await;
            assert_eq!(st, StatusCode::OK);
            assert!(stored.len() > 128 && &stored[128..132] == b"DICM");
            let original_name = dicom_object::OpenFileOptions::new().from_reader(&ct[128..]).unwrap().element(tags::PATIENT_NAME).unwrap().to_str().unwrap().trim().to_string();
            assert!(!original_name.is_empty());
            assert!(contains(&ct, original_name.as_bytes()) && !contains(&stored, original_name.as_bytes()), "the patient name survived");
            for uid in [ct_ref["series_uid"].as_str().unwrap(), ct_ref["study_uid"].as_str().unwrap()] {
                assert!(!contains(&stored, uid.as_bytes()), "original UID {uid} survived");
            }
            let reports = client.get(&format!("/api/v1/items/{id}/deidentification")).await;
            assert_eq!(reports.status, StatusCode::OK, "{}", reports.body);
            let reports = reports.body.as_array().unwrap().clone();
            assert_eq!(reports.len(), 3);
            assert_eq!(reports[0]["report"]["dates"]["mode"], "shift");
            assert!(reports[0]["report"]["actions"].as_array().unwrap().iter().any(|a| a["tag"] == "(0010,0010)"), "{}", reports[0]);
            assert!(reports[0]["burned_in"].is_null());

            // Another project maps the same original UIDs elsewhere; ultrasound is flagged.
            let p2 = image_project(&mut client, &tr, "remove").await;
            upload(&mut client, &p2, "slice.dcm", &slices[0].0).await;
            upload(&mut client, &p2, "us.dcm", &read(&us_ref)).await;
            let list2 = items(&mut client, &p2).await;
            assert_eq!(list2.len(), 2, "{list2:?}");
            let ct2 = list2.iter().find(|i| i["meta"]["modality"] == "CT").unwrap();
            let us2 = list2.iter().find(|i| i["meta"]["modality"] == "US").unwrap();
            assert_ne!(ct2["meta"]["series_uid"], series_uid.as_str());
            assert_eq!(us2["meta"]["burned_in_instances"], 1);
            assert_eq!(ct2["meta"]["burned_in_instances"], 0);
            let us_reports = client.get(&format!("/api/v1/items/{}/deidentification", us2["id"].as_str().unwrap())).await.body;
            assert!(us_reports[0]["burned_in"].as_str().unwrap().contains("US"), "{us_reports}");

            // Another organisation sees none of it.
            let mut other = app.login(w.email(Role::ClientAdmin, &w.org_b), PASSWORD).await;
            assert_eq!(other.get(&format!("/api/v1/items/{id}/series")).await.code(), "not_found");
            assert_eq!(other.get(&format!("/api/v1/items/{id}/frames/0")).await.code(), "not_found");
        }
    })
    .await;
}

#[tokio::test]
async fn a_tasker_reads_the_frames_of_the_series_they_hold_and_nothing_else() {
    let ct = read(&reference("pydicom/CT_small.dcm"));
    check_db(|t| {
        let ct = ct.clone();
        async move {
            let w = world(&t.db).await;
            let tr = track(&t.db).await;
            sign_agreements(&t.db, &w).await;
            let app = TestApp::new(t);
            let db = app.db().clone();
            let people: Vec<String> = taskers(&db, &w, &tr, 2, true, "imaging").await.into_iter().map(|(_, email)| email).collect();
            let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
            let p = image_project(&mut client, &tr, "remove").await;
            for k in 0..2 {
                upload(&mut client, &p, &format!("s{k}.dcm"), &ct_slice(&ct, k).0).await;
            }
            crate::support::start_project(&app, &w, &p).await;

            let mut a = app.login(&people[0], PASSWORD).await;
            let mut b = app.login(&people[1], PASSWORD).await;
            let task = a.post("/api/v1/tasks/next", json!({})).await;
            assert_eq!(task.status, StatusCode::OK, "{}", task.body);
            let task = task.body["id"].as_str().unwrap().to_string();
            let s = a.get(&format!("/api/v1/tasks/{task}/series")).await;
            assert_eq!(s.status, StatusCode::OK, "{}", s.body);
            assert_eq!(s.body["frames"].as_array().unwrap().len(), 2);
            let (st, _, frame) = raw(&app, &a, &format!("/api/v1/tasks/{task}/frames/1"), &[]).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(frame.len(), 128 * 128 * 2);
            // Not through someone else's task, and not through the item routes.
            assert_eq!(b.get(&format!("/api/v1/tasks/{task}/series")).await.code(), "not_found");
            assert_eq!(b.get(&format!("/api/v1/tasks/{task}/frames/0")).await.code(), "not_found");
            let item = s.body["item_id"].as_str().unwrap();
            assert_eq!(a.get(&format!("/api/v1/items/{item}/frames/0")).await.code(), "not_found");
        }
    })
    .await;
}

/// A copy of `slice` in its own series (so it becomes its own item).
fn in_series(slice: &[u8], series: u32) -> Vec<u8> {
    let mut obj = dicom_object::OpenFileOptions::new().from_reader(&slice[128..]).unwrap();
    let uid = format!("{}.{series}", obj.element(tags::SERIES_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0'));
    obj.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from(uid)));
    let mut out = Vec::new();
    obj.write_all(&mut out).unwrap();
    out
}

fn boxed(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!({ "answers": {}, "image": { "shapes": [{ "id": "b1", "label": "lesion", "tool": "bounding_box_2d", "frame": 0, "x0": x0, "y0": y0, "x1": x1, "y1": y1 }] } })
}

#[tokio::test]
async fn image_gold_is_scored_by_shape_overlap_and_batches_report_image_agreement() {
    let ct = read(&reference("pydicom/CT_small.dcm"));
    check_db(|t| {
        let ct = ct.clone();
        async move {
            let w = world(&t.db).await;
            let tr = track(&t.db).await;
            sign_agreements(&t.db, &w).await;
            let app = TestApp::new(t);
            let db = app.db().clone();
            let people = taskers(&db, &w, &tr, 2, true, "gold-reader").await;
            let mut client = app.login(w.email(Role::ClientAdmin, &w.org_a), PASSWORD).await;
            let mut spec = serde_json::to_value(clinlabel_ingest::bench::spec_for(Modality::Image, &tr, clinlabel_store::db::now_ms() + 30 * 86_400_000)).unwrap();
            spec["overlap"] = json!(2);
            spec["gold_rate"] = json!(0.5);
            spec["qa"] = json!({ "tier1": false, "tier2_sampling_pct": 0, "tier3_spot_check_pct": 5, "quality_threshold": 0.5 });
            let p = client.post("/api/v1/projects", spec).await.body["id"].as_str().unwrap().to_string();
            let slice = ct_slice(&ct, 0).0;
            for k in 0..21 {
                upload(&mut client, &p, &format!("series-{k}.dcm"), &in_series(&slice, k)).await;
            }
            let list = items(&mut client, &p).await;
            assert_eq!(list.len(), 21);
            let gold_item = list[0]["id"].as_str().unwrap().to_string();
            let mut pm = app.login(w.email(Role::Pm, &w.provider), PASSWORD).await;
            // The reference: one lesion box on frame 0. A reference outside the frames is refused.
            let bad = pm.call(Method::PUT, &format!("/api/v1/items/{gold_item}/gold"), Some(json!({ "answer": {}, "image": { "shapes": [{ "id": "g", "label": "lesion", "tool": "bounding_box_2d", "frame": 1, "x0": 1.0, "y0": 1.0, "x1": 2.0, "y1": 2.0 }] } }))).await;
            assert_eq!(bad.code(), "invalid_field", "{}", bad.body);
            let r = pm.call(Method::PUT, &format!("/api/v1/items/{gold_item}/gold"), Some(json!({ "answer": {}, "image": boxed(10.0, 10.0, 50.0, 50.0)["image"] }))).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
            crate::support::start_project(&app, &w, &p).await;

            // Reader 0 draws what the reference has; reader 1 the real lesions 2 px
            // to the right (IoU 0.905) but the gold lesion elsewhere (IoU 0).
            let mut golds = [0, 0];
            for (i, (_, email)) in people.iter().enumerate() {
                let mut c = app.login(email, PASSWORD).await;
                loop {
                    let r = c.post("/api/v1/tasks/next", json!({})).await;
                    if r.status == StatusCode::NO_CONTENT {
                        break;
                    }
                    let is_gold = r.body["item_id"] == gold_item.as_str();
                    golds[i] += is_gold as usize;
                    let body = match (i, is_gold) {
                        (0, _) => boxed(10.0, 10.0, 50.0, 50.0),
                        (_, false) => boxed(12.0, 10.0, 52.0, 50.0),
                        (_, true) => boxed(80.0, 80.0, 120.0, 120.0),
                    };
                    let s = c.post(&format!("/api/v1/tasks/{}/submit", r.body["id"].as_str().unwrap()), body).await;
                    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
                }
            }
            assert_eq!(golds, [1, 1], "each reader met the gold item once");
            let scores: Vec<(String, f64)> = sqlx::query("SELECT user_id, score FROM gold_results WHERE project_id = $1")
                .bind(p.clone())
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| (sqlx::Row::try_get(r, "user_id").unwrap(), sqlx::Row::try_get(r, "score").unwrap()))
                .collect();
            let of = |u: &str| scores.iter().find(|s| s.0 == u).unwrap().1;
            assert_eq!(of(&people[0].0), 1.0);
            assert_eq!(of(&people[1].0), 0.0);

            // The batch: both readers matched every real lesion (F1 1) with IoU 1520/1680.
            let batches = pm.get(&format!("/api/v1/projects/{p}/batches")).await;
            assert_eq!(batches.status, StatusCode::OK, "{}", batches.body);
            let b = pm.get(&format!("/api/v1/batches/{}", batches.body[0]["id"].as_str().unwrap())).await;
            assert_eq!(b.status, StatusCode::OK, "{}", b.body);
            let m = |name: &str| b.body["image_agreement"].as_array().unwrap().iter().find(|x| x["measure"] == name).cloned().unwrap_or_else(|| panic!("{name} in {}", b.body["image_agreement"]));
            let f1 = m("bounding_box_2d F1");
            assert_eq!(f1["value"], 1.0);
            assert_eq!(f1["pairs"], 20);
            assert_eq!(f1["gated"], true);
            let iou = m("bounding_box_2d mean IoU")["value"].as_f64().unwrap();
            assert!((iou - 1520.0 / 1680.0).abs() < 1e-9, "{iou}");
        }
    })
    .await;
}
