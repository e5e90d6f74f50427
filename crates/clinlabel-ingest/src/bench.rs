//! `clinlabel bench upload`: upload throughput through the real protocol,
//! in-process, to local storage, beside a raw disk write of the same size in
//! the same directory. Nothing here asserts a speed; callers print the figures.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use clinlabel_blob::BlobStore;
use clinlabel_crypto::{Keyring, MasterKey};
use clinlabel_domain::project::{Modality, Spec};
use clinlabel_domain::{OrgKind, Phi, Principal, Role, Secret};
use clinlabel_store::Db;
use clinlabel_store::agreements::{self, AgreementKind};
use clinlabel_store::files::{NewUpload, Purpose};
use futures::stream;

use crate::{Ingest, Limits};

/// A valid specification for a project of `modality` (benchmarks and tests).
pub fn spec_for(modality: Modality, track_id: &str, deadline: i64) -> Spec {
    let (task, schema, format) = match modality {
        Modality::Text => (
            "entities",
            serde_json::json!({ "entity_types": [{ "id": "disease", "name": "Disease" }] }),
            "native_jsonl",
        ),
        Modality::Image => (
            "bounding_box",
            serde_json::json!({ "image_tools": [{ "tool": "bounding_box_2d", "labels": [{ "id": "lesion", "name": "Lesion" }] }] }),
            "coco",
        ),
        Modality::Audio => ("transcription", serde_json::json!({}), "webvtt"),
        Modality::Preference => ("comparison", serde_json::json!({}), "trl_preference"),
        Modality::Genomic => (
            "variant_classification",
            serde_json::json!({}),
            "vcf_annotated",
        ),
    };
    serde_json::from_value(serde_json::json!({
        "name": format!("{} benchmark", modality.as_str()),
        "modality": modality,
        "task_types": [task],
        "schema": schema,
        "guidelines": "# Guidelines",
        "output_formats": [format],
        "deadline": deadline,
        "track_id": track_id,
        "overlap": 1,
        "gold_rate": 0.0,
        "qa": { "tier1": true, "tier2_sampling_pct": 20, "tier3_spot_check_pct": 5, "quality_threshold": 0.8 }
    }))
    .expect("a valid spec")
}

/// An installation with one client organisation that signed the NDA and DPA
/// and a draft project of `modality`: returns (ingest, client principal, project id).
pub async fn fixture(
    db: Db,
    blobs: BlobStore,
    modality: Modality,
) -> Result<(Ingest, Principal, String), String> {
    let e = |e: clinlabel_store::StoreError| e.to_string();
    let keyring = Arc::new(Keyring::new(MasterKey::generate()));
    let admin = clinlabel_store::auth::create_user_system(
        &db,
        None,
        "bench-admin@provider.test",
        "Bench Admin",
        Role::Admin,
        Secret::new("bench password 123456".into()),
    )
    .await
    .map_err(e)?;
    let ap = Principal {
        user_id: admin.id.clone(),
        org_id: admin.org_id.clone(),
        role: Role::Admin,
    };
    let org = clinlabel_store::orgs::create(&db, &ap, "Bench Client", OrgKind::Client)
        .await
        .map_err(e)?
        .id;
    let user = clinlabel_store::users::create(
        &db,
        &ap,
        clinlabel_store::users::NewUser {
            org_id: org.clone(),
            email: "bench@client.test".into(),
            name: "Bench Client".into(),
            role: Role::ClientAdmin,
            password: Secret::new("bench password 123456".into()),
        },
    )
    .await
    .map_err(e)?;
    let cp = Principal {
        user_id: user.id,
        org_id: org,
        role: Role::ClientAdmin,
    };
    for kind in [AgreementKind::Nda, AgreementKind::Dpa] {
        let v = agreements::publish(&db, &ap, kind, "Agreement", "Terms.")
            .await
            .map_err(e)?;
        agreements::sign(&db, &cp, &v.id, "Bench Client", "127.0.0.1")
            .await
            .map_err(e)?;
    }
    clinlabel_store::tracks::ensure_defaults(&db)
        .await
        .map_err(e)?;
    let track = clinlabel_store::tracks::list(&db, &ap, false)
        .await
        .map_err(e)?
        .into_iter()
        .next()
        .ok_or("no track")?
        .id;
    let deadline = clinlabel_store::db::now_ms() + 30 * 86_400_000;
    let project =
        clinlabel_store::projects::create(&db, &keyring, &cp, spec_for(modality, &track, deadline))
            .await
            .map_err(e)?;
    Ok((
        Ingest::new(db, blobs, keyring, Limits::default()),
        cp,
        project.id,
    ))
}

/// Throughput of one large upload.
#[derive(Debug, Clone)]
pub struct UploadReport {
    pub bytes: u64,
    pub chunk: u64,
    /// Wall time of the whole protocol: start, every chunk, processing.
    pub seconds: f64,
    /// 10^6 bytes per second through the protocol (encrypted, stored, assembled).
    pub mb_per_s: f64,
    /// 10^6 bytes per second of a plain write + fsync of the same size in the same directory.
    pub raw_disk_mb_per_s: f64,
    /// Of `seconds`, the last chunk's request: assembling the parts into the
    /// file (decrypt, re-encrypt, SHA-256, item scan) and recording it.
    pub process_seconds: f64,
    /// Peak resident set during this upload (VmHWM, reset before it where Linux allows).
    pub peak_rss_bytes: Option<u64>,
}

/// Many small files, each its own upload.
#[derive(Debug, Clone)]
pub struct SmallFilesReport {
    pub files: usize,
    pub bytes_each: usize,
    pub seconds: f64,
    pub files_per_s: f64,
    pub peak_rss_bytes: Option<u64>,
}

/// Resets the peak RSS counter (Linux: writing 5 to clear_refs); best effort.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// ASCII text lines, cheap to make and valid UTF-8 (a text note).
fn text_block(len: usize) -> Bytes {
    let line =
        b"Patient reports intermittent chest pain radiating to the left arm; ECG unremarkable.\n";
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        let n = line.len().min(len - v.len());
        v.extend_from_slice(&line[..n]);
    }
    Bytes::from(v)
}

/// `len` bytes of JSONL notes of about 100 kB, one per line (so 5 GB stay
/// under the items-per-file cap); the remainder after the last whole line is
/// blank lines (skipped), so blocks can be concatenated.
fn jsonl_block(len: usize) -> Bytes {
    let sentence =
        "Patient reports intermittent chest pain radiating to the left arm; ECG unremarkable. ";
    let line = format!(
        "{{\"text\":\"{}\"}}\n",
        sentence.repeat(100_000 / sentence.len())
    );
    let line = line.as_bytes();
    let mut v = Vec::with_capacity(len);
    while len - v.len() >= line.len() {
        v.extend_from_slice(line);
    }
    v.resize(len, b'\n');
    Bytes::from(v)
}

/// Writes `bytes` to a file in `dir` in 8 MiB writes and fsyncs it: the disk's figure.
pub fn raw_disk_write(dir: &Path, bytes: u64) -> std::io::Result<f64> {
    let path = dir.join("raw-disk-write.bin");
    let buf = vec![0x5Au8; 8 << 20];
    let start = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    let mut left = bytes;
    while left > 0 {
        let n = (buf.len() as u64).min(left) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(bytes as f64 / secs.max(1e-9) / 1e6)
}

/// Uploads one `bytes`-long JSONL file of notes through the protocol in `chunk`-byte
/// chunks into `dir` (SQLite + local blobs), then measures a raw write there.
pub async fn upload(dir: &Path, bytes: u64, chunk: u64) -> Result<UploadReport, String> {
    let db = Db::connect(&format!("sqlite://{}/bench.db", dir.display()))
        .await
        .map_err(|e| e.to_string())?;
    let blobs = BlobStore::local(&dir.join("blobs")).map_err(|e| e.to_string())?;
    let (ing, who, project) = fixture(db, blobs, Modality::Text).await?;
    // A collection of notes (a single note is at most 1 MiB).
    let block = jsonl_block(chunk as usize);
    reset_peak_rss();
    let start = Instant::now();
    let u = ing
        .start(
            &who,
            &project,
            NewUpload {
                name: Phi::new("bench.jsonl".into()),
                size: bytes as i64,
                declared_sha256: None,
                purpose: Purpose::Data,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut offset = 0u64;
    let mut last = u;
    let mut last_started = Instant::now();
    while offset < bytes {
        let n = chunk.min(bytes - offset);
        let block = if n == chunk {
            block.clone()
        } else {
            jsonl_block(n as usize)
        };
        // The chunk arrives in 64 KiB pieces, as from a socket.
        let piece = 64 << 10;
        let pieces: Vec<Result<Bytes, std::io::Error>> = (0..n as usize)
            .step_by(piece)
            .map(|i| Ok(block.slice(i..(i + piece).min(n as usize))))
            .collect();
        if offset + n == bytes {
            last_started = Instant::now();
        }
        last = ing
            .append(&who, &last.id, offset as i64, Some(n), stream::iter(pieces))
            .await
            .map_err(|e| e.to_string())?;
        offset += n;
    }
    let seconds = start.elapsed().as_secs_f64();
    let process_seconds = last_started.elapsed().as_secs_f64();
    let peak = clinlabel_blob::bench::peak_rss_bytes();
    if last.state != "complete" {
        return Err(format!(
            "the upload ended {} ({:?})",
            last.state, last.error
        ));
    }
    if last.summary.as_ref().and_then(|s| s["accepted"].as_i64()) != Some(1) {
        return Err(format!("the file was not accepted: {:?}", last.summary));
    }
    let raw = raw_disk_write(dir, bytes).map_err(|e| e.to_string())?;
    Ok(UploadReport {
        bytes,
        chunk,
        seconds,
        mb_per_s: bytes as f64 / seconds.max(1e-9) / 1e6,
        raw_disk_mb_per_s: raw,
        process_seconds,
        peak_rss_bytes: peak,
    })
}

/// Uploads `files` distinct small text files (`bytes_each`), one upload each.
pub async fn small_files(
    dir: &Path,
    files: usize,
    bytes_each: usize,
) -> Result<SmallFilesReport, String> {
    let db = Db::connect(&format!("sqlite://{}/bench-small.db", dir.display()))
        .await
        .map_err(|e| e.to_string())?;
    let blobs = BlobStore::local(&dir.join("blobs-small")).map_err(|e| e.to_string())?;
    let (ing, who, project) = fixture(db, blobs, Modality::Text).await?;
    reset_peak_rss();
    let start = Instant::now();
    for i in 0..files {
        let mut body = format!("Note {i}: ").into_bytes();
        body.extend_from_slice(&text_block(bytes_each.saturating_sub(body.len())));
        let u = ing
            .start(
                &who,
                &project,
                NewUpload {
                    name: Phi::new(format!("note-{i}.txt")),
                    size: body.len() as i64,
                    declared_sha256: None,
                    purpose: Purpose::Data,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let n = body.len() as u64;
        let done = ing
            .append(
                &who,
                &u.id,
                0,
                Some(n),
                stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]),
            )
            .await
            .map_err(|e| e.to_string())?;
        if done.state != "complete" {
            return Err(format!("file {i} ended {}", done.state));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(SmallFilesReport {
        files,
        bytes_each,
        seconds,
        files_per_s: files as f64 / seconds.max(1e-9),
        peak_rss_bytes: clinlabel_blob::bench::peak_rss_bytes(),
    })
}

/// One DICOM series uploaded file by file.
#[derive(Debug, Clone)]
pub struct DicomSeriesReport {
    pub instances: u32,
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    /// Items the series became (one).
    pub items: i64,
    pub peak_rss_bytes: Option<u64>,
}

/// Uploads a synthetic CT series of about `bytes` (512 × 512 slices, each its
/// own upload, as a browser sends a folder) into `dir`: every slice is
/// de-identified and joins the one series item. Memory stays that of one
/// slice at a time, whatever the series' size.
pub async fn dicom_series(dir: &Path, bytes: u64) -> Result<DicomSeriesReport, String> {
    let db = Db::connect(&format!("sqlite://{}/bench-dicom.db", dir.display()))
        .await
        .map_err(|e| e.to_string())?;
    let blobs = BlobStore::local(&dir.join("blobs-dicom")).map_err(|e| e.to_string())?;
    let (ing, who, project) = fixture(db.clone(), blobs, Modality::Image).await?;
    reset_peak_rss();
    let start = Instant::now();
    let (mut sent, mut n) = (0u64, 0u32);
    while sent < bytes {
        let body = clinlabel_dicom::synth::ct_slice(1, n, 512, 512).map_err(|e| e.to_string())?;
        let len = body.len() as u64;
        let u = ing
            .start(
                &who,
                &project,
                NewUpload { name: Phi::new(format!("IM{n:05}.dcm")), size: len as i64, declared_sha256: None, purpose: Purpose::Data },
            )
            .await
            .map_err(|e| e.to_string())?;
        let done = ing
            .append(&who, &u.id, 0, Some(len), stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]))
            .await
            .map_err(|e| e.to_string())?;
        if done.state != "complete" || done.summary.as_ref().is_none_or(|s| s["accepted"] != 1) {
            return Err(format!("slice {n} ended {} ({:?})", done.state, done.summary));
        }
        sent += len;
        n += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    let peak = clinlabel_blob::bench::peak_rss_bytes();
    let items = clinlabel_store::files::list_items(&db, &who, &project, None, clinlabel_store::Page::default())
        .await
        .map_err(|e| e.to_string())?
        .total;
    Ok(DicomSeriesReport { instances: n, bytes: sent, seconds, mb_per_s: sent as f64 / seconds.max(1e-9) / 1e6, items, peak_rss_bytes: peak })
}
