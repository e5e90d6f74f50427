//! Uploads, their parts, files and dataset items (lifecycle step 1).
//!
//! The byte handling (streaming into encrypted blobs, assembling, reading
//! archives, finding items) lives in `clinlabel-ingest`; this module is its
//! SQL: every row it writes, scoped by the acting principal and audited.
//!
//! Who may do what:
//! - uploading (start, append, abort) is for client roles of the project's
//!   organisation, while the specification is editable, and only once the
//!   organisation holds signatures on the current NDA and DPA
//!   (`agreement_required` otherwise, checked on every start and every part);
//! - reading uploads, files, items and item content is for whoever may see
//!   the project (`projects::visible`): its client organisation, PMs, QA
//!   reviewers and administrators. Anything outside that is `not_found`.
//!
//! invariant: every change is audited in its own transaction: `upload.start`,
//! `upload.part`, `upload.abort`, `upload.fail`, `upload.complete`,
//! `file.accept`, `file.reject`, `file.duplicate`.
//! invariant: audit details never carry file names or contents (PHI): only
//! ids, sizes, counts, hashes and the machine-readable reason.
//! invariant: a part is recorded only if it starts exactly where the upload
//! stands (`received = offset` in the UPDATE), so two racing appends cannot
//! both land.

use crate::audit;
use crate::db::{Db, Tx, new_id, now_ms};
use crate::projects::{self, key_scope};
use crate::{Page, Paged, StoreError};
use clinlabel_domain::project::Modality;
use clinlabel_domain::{DomainError, ErrorCode, Phi, Principal, Role};
use serde::{Deserialize, Serialize, Serializer};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

/// What an uploaded file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Becomes dataset items.
    #[default]
    Data,
    /// An attachment to the guidelines (stored, no items).
    Guideline,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Data => "data",
            Purpose::Guideline => "guideline",
        }
    }
    pub fn parse(s: &str) -> Option<Purpose> {
        match s {
            "data" => Some(Purpose::Data),
            "guideline" => Some(Purpose::Guideline),
            _ => None,
        }
    }
}

fn expose<S: Serializer>(v: &Phi<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose())
}

/// An upload as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Upload {
    pub id: String,
    pub project_id: String,
    /// The file name the client gave (PHI-bearing: never logged).
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub name: Phi<String>,
    /// Declared total size in bytes.
    pub size: i64,
    /// Bytes received so far: the offset the next chunk must start at.
    pub received: i64,
    pub parts: i64,
    pub declared_sha256: Option<String>,
    pub purpose: Purpose,
    /// `open` (receiving), `processing` (all bytes in, being assembled and
    /// read), `complete` or `failed`.
    pub state: String,
    /// The file this upload became (single files; archives list theirs
    /// through `GET /projects/{id}/files?upload_id=`).
    pub file_id: Option<String>,
    /// Why the upload failed, or `aborted`.
    pub error: Option<String>,
    /// Once complete: `{files, accepted, rejected, duplicates, items}`.
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const UPLOAD_COLUMNS: &str = "id, project_id, name, size, received, parts, declared_sha256, purpose, state, file_id, error, summary, processing_at, created_by, created_at, updated_at";

fn upload_from_row(r: &AnyRow) -> Result<Upload, StoreError> {
    let purpose: String = r.try_get("purpose")?;
    let mut state: String = r.try_get("state")?;
    let processing: Option<i64> = r.try_get("processing_at")?;
    if state == "open" && processing.is_some() {
        state = "processing".into();
    }
    let summary: Option<String> = r.try_get("summary")?;
    Ok(Upload {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: Phi::new(r.try_get("name")?),
        size: r.try_get("size")?,
        received: r.try_get("received")?,
        parts: r.try_get("parts")?,
        declared_sha256: r.try_get("declared_sha256")?,
        purpose: Purpose::parse(&purpose).ok_or_else(|| StoreError::Internal(format!("purpose {purpose}")))?,
        state,
        file_id: r.try_get("file_id")?,
        error: r.try_get("error")?,
        summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// What the caller may do with a project's uploads, and what ingest needs to know.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    pub project_id: String,
    pub org_id: String,
    pub modality: Modality,
    /// The data-key scope for the project's blobs.
    pub key_scope: String,
    /// How DICOM files are de-identified (from the specification).
    pub deidentification: clinlabel_domain::project::Deidentification,
    /// Text projects: the CSV column holding each note's text (from the specification).
    pub text_column: String,
    /// Text projects: the data field of a Label Studio task holding its text,
    /// when the specification names one (`text_column` set explicitly).
    pub text_key: Option<String>,
    /// The label schema (Label Studio results are checked against it at ingest).
    pub schema: clinlabel_domain::project::LabelSchema,
}

fn is_client(who: &Principal) -> bool {
    matches!(who.role, Role::ClientAdmin | Role::ClientMember)
}

/// Checks that `who` may upload into the project now (visible, client of its
/// organisation, specification editable, agreements signed).
async fn uploadable(tx: &mut Tx, who: &Principal, project_id: &str) -> Result<UploadTarget, StoreError> {
    let (org_id, state) = projects::visible(tx, who, project_id).await?;
    if !is_client(who) || who.org_id != org_id {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Data is uploaded by the project's client organisation.").into());
    }
    if !state.spec_editable() {
        return Err(DomainError::new(ErrorCode::SpecLocked).with_message("The quote is approved: no more data can be added to this project.").into());
    }
    crate::agreements::require_signed(tx, &org_id).await?;
    let row = sqlx::query("SELECT modality, spec FROM projects WHERE id = $1").bind(project_id.to_string()).fetch_one(&mut **tx).await?;
    let m: String = row.try_get("modality")?;
    let spec = projects::stored_spec(&row.try_get::<String, _>("spec")?, String::new())?;
    Ok(UploadTarget {
        project_id: project_id.to_string(),
        org_id,
        modality: Modality::parse(&m).ok_or_else(|| StoreError::Internal(format!("modality {m}")))?,
        key_scope: key_scope(project_id),
        deidentification: spec.deidentification,
        text_column: spec.text_column().to_string(),
        text_key: spec.text_column.clone(),
        schema: spec.schema,
    })
}

/// A new upload's declaration.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub name: Phi<String>,
    pub size: i64,
    pub declared_sha256: Option<String>,
    pub purpose: Purpose,
}

/// Opens an upload (client roles of the project's organisation; agreements signed).
/// `max_size` is the installation's limit on one upload.
pub async fn start_upload(db: &Db, who: &Principal, project_id: &str, new: NewUpload, max_size: i64) -> Result<Upload, StoreError> {
    let name = new.name.expose().trim();
    if name.is_empty() || name.chars().count() > 1024 || name.chars().any(char::is_control) {
        return Err(DomainError::field("name", "1 to 1,024 characters, no control characters").into());
    }
    if new.size < 0 {
        return Err(DomainError::field("size", "must be at least 0").into());
    }
    if new.size > max_size {
        return Err(DomainError::new(ErrorCode::UploadTooLarge)
            .with_message(format!("One upload may hold at most {max_size} bytes."))
            .with_details(serde_json::json!({ "max_size": max_size }))
            .into());
    }
    let sha = match &new.declared_sha256 {
        Some(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => Some(s.to_ascii_lowercase()),
        Some(_) => return Err(DomainError::field("sha256", "64 hexadecimal digits").into()),
        None => None,
    };
    let mut tx = db.begin_write().await?;
    let target = uploadable(&mut tx, who, project_id).await?;
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO uploads (id, project_id, name, size, received, parts, declared_sha256, purpose, state, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, 0, $5, $6, 'open', $7, $8, $8)",
    )
    .bind(id.clone())
    .bind(project_id.to_string())
    .bind(name.to_string())
    .bind(new.size)
    .bind(sha.clone())
    .bind(new.purpose.as_str())
    .bind(who.user_id.clone())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&target.org_id), "upload.start", "upload", &id, serde_json::json!({ "project_id": project_id, "size": new.size, "purpose": new.purpose, "sha256_declared": sha.is_some() })),
    )
    .await?;
    tx.commit().await?;
    let mut conn = db.pool.acquire().await?;
    fetch_upload(&mut conn, &id).await
}

async fn fetch_upload(ex: &mut sqlx::AnyConnection, id: &str) -> Result<Upload, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *ex)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    upload_from_row(&row)
}

/// One upload, if the caller may see its project.
pub async fn get_upload(db: &Db, who: &Principal, id: &str) -> Result<Upload, StoreError> {
    let mut conn = db.pool.acquire().await?;
    let u = fetch_upload(&mut conn, id).await?;
    projects::visible(&mut conn, who, &u.project_id).await?;
    Ok(u)
}

/// A project's uploads, newest first (whoever may see the project). `state`
/// narrows to `open` (including `processing`), `complete` or `failed`: a
/// client resuming after a browser reload finds its open uploads here.
pub async fn list_uploads(db: &Db, who: &Principal, project_id: &str, state: Option<&str>, page: Page) -> Result<Paged<Upload>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    projects::visible(&mut conn, who, project_id).await?;
    if let Some(s) = state
        && !matches!(s, "open" | "complete" | "failed")
    {
        return Err(DomainError::field("state", "open, complete or failed").into());
    }
    let cast = if db.backend() == crate::Backend::Postgres { "::TEXT" } else { "" };
    let filter = format!("WHERE project_id = $1 AND ($2{cast} IS NULL OR state = $2)");
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM uploads {filter}")))
        .bind(project_id.to_string())
        .bind(state.map(str::to_string))
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {UPLOAD_COLUMNS} FROM uploads {filter} ORDER BY created_at DESC, id LIMIT $3 OFFSET $4")))
        .bind(project_id.to_string())
        .bind(state.map(str::to_string))
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&mut *conn)
        .await?;
    Ok(Paged { items: rows.iter().map(upload_from_row).collect::<Result<_, _>>()?, total })
}

/// An upload the caller may append to, with its project's details.
pub async fn upload_for_append(db: &Db, who: &Principal, id: &str) -> Result<(Upload, UploadTarget), StoreError> {
    // Reads only: a plain (deferred) transaction, no write lock; the part
    // is recorded under one later.
    let mut tx = db.pool.begin().await?;
    let u = fetch_upload(&mut tx, id).await?;
    let target = uploadable(&mut tx, who, &u.project_id).await?;
    tx.rollback().await?;
    Ok((u, target))
}

fn not_open(u: &Upload) -> StoreError {
    DomainError::new(ErrorCode::InvalidTransition)
        .with_message(format!("The upload is {}: it takes no more data.", u.state))
        .with_details(serde_json::json!({ "state": u.state }))
        .into()
}

/// The outcome of recording a part.
#[derive(Debug, Clone)]
pub enum PartOutcome {
    /// Recorded; the upload now stands at this offset.
    Recorded { received: i64 },
    /// The upload moved on (or closed) meanwhile: the part was not recorded.
    Stale(Upload),
}

/// Records a part that starts at `offset` (stored as blob `blob_id`), if the
/// upload still stands at `offset`; audited as `upload.part`.
pub async fn record_part(db: &Db, who: &Principal, upload_id: &str, offset: i64, blob_id: &str, size: i64) -> Result<PartOutcome, StoreError> {
    let mut tx = db.begin_write().await?;
    let u = fetch_upload(&mut tx, upload_id).await?;
    let target = uploadable(&mut tx, who, &u.project_id).await?;
    if u.state != "open" || u.received != offset || offset + size > u.size {
        return Ok(PartOutcome::Stale(u));
    }
    let n = sqlx::query("UPDATE uploads SET received = received + $1, parts = parts + 1, updated_at = $2 WHERE id = $3 AND received = $4 AND state = 'open' AND processing_at IS NULL")
        .bind(size)
        .bind(now_ms())
        .bind(upload_id.to_string())
        .bind(offset)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        let u = fetch_upload(&mut tx, upload_id).await?;
        return Ok(PartOutcome::Stale(u));
    }
    sqlx::query("INSERT INTO upload_parts (upload_id, idx, blob_id, size) VALUES ($1, $2, $3, $4)")
        .bind(upload_id.to_string())
        .bind(u.parts)
        .bind(blob_id.to_string())
        .bind(size)
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&target.org_id), "upload.part", "upload", upload_id, serde_json::json!({ "offset": offset, "size": size, "part": u.parts })))
        .await?;
    tx.commit().await?;
    Ok(PartOutcome::Recorded { received: offset + size })
}

/// Records a whole file received in one chunk (stored as blob `blob_id`)
/// and claims the upload for processing in the same step, if nothing was
/// received yet; audited as `upload.part`. `false` if another append won.
pub async fn record_whole(db: &Db, who: &Principal, upload_id: &str, blob_id: &str, size: i64) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let u = fetch_upload(&mut tx, upload_id).await?;
    let target = uploadable(&mut tx, who, &u.project_id).await?;
    let now = now_ms();
    let n = sqlx::query(
        "UPDATE uploads SET received = $1, parts = 1, processing_at = $2, updated_at = $2 \
         WHERE id = $3 AND received = 0 AND size = $1 AND state = 'open' AND processing_at IS NULL",
    )
    .bind(size)
    .bind(now)
    .bind(upload_id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO upload_parts (upload_id, idx, blob_id, size) VALUES ($1, 0, $2, $3)")
        .bind(upload_id.to_string())
        .bind(blob_id.to_string())
        .bind(size)
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&target.org_id), "upload.part", "upload", upload_id, serde_json::json!({ "offset": 0, "size": size, "part": 0 })))
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// A stored part of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub idx: i64,
    pub blob_id: String,
    pub size: i64,
}

/// The parts of an upload, in order (no scope: callers hold an upload they were allowed).
pub async fn parts(db: &Db, upload_id: &str) -> Result<Vec<Part>, StoreError> {
    let rows = sqlx::query("SELECT idx, blob_id, size FROM upload_parts WHERE upload_id = $1 ORDER BY idx")
        .bind(upload_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|r| Ok(Part { idx: r.try_get("idx")?, blob_id: r.try_get("blob_id")?, size: r.try_get("size")? })).collect()
}

/// Claims a fully received upload for processing. `false` if it is not open,
/// not complete, or already claimed less than `stale_after_ms` ago.
pub async fn claim_processing(db: &Db, upload_id: &str, stale_after_ms: i64) -> Result<bool, StoreError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE uploads SET processing_at = $1, updated_at = $1 WHERE id = $2 AND state = 'open' AND received = size \
         AND (processing_at IS NULL OR processing_at < $3)",
    )
    .bind(now)
    .bind(upload_id.to_string())
    .bind(now - stale_after_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n == 1)
}

/// Releases a processing claim after a failure that may be transient, so a
/// retry can process the upload again.
pub async fn release_claim(db: &Db, upload_id: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE uploads SET processing_at = NULL WHERE id = $1 AND state = 'open'").bind(upload_id.to_string()).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes the part rows of a finished upload (after their blobs are deleted).
pub async fn forget_parts(db: &Db, upload_id: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(upload_id.to_string()).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Aborts an open upload (client roles of the organisation). Returns the
/// blob ids of its parts, for the caller to delete.
pub async fn abort_upload(db: &Db, who: &Principal, upload_id: &str) -> Result<Vec<String>, StoreError> {
    let mut tx = db.begin_write().await?;
    let u = fetch_upload(&mut tx, upload_id).await?;
    let (org_id, _) = projects::visible(&mut tx, who, &u.project_id).await?;
    if !is_client(who) || who.org_id != org_id {
        return Err(ErrorCode::Forbidden.into());
    }
    if u.state != "open" {
        return Err(not_open(&u));
    }
    let n = sqlx::query("UPDATE uploads SET state = 'failed', error = 'aborted', updated_at = $1 WHERE id = $2 AND state = 'open' AND processing_at IS NULL")
        .bind(now_ms())
        .bind(upload_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        let u = fetch_upload(&mut tx, upload_id).await?;
        return Err(not_open(&u));
    }
    let blobs: Vec<String> = sqlx::query("SELECT blob_id FROM upload_parts WHERE upload_id = $1")
        .bind(upload_id.to_string())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("blob_id"))
        .collect::<Result<_, _>>()?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&org_id), "upload.abort", "upload", upload_id, serde_json::json!({ "received": u.received, "parts": u.parts })))
        .await?;
    tx.commit().await?;
    Ok(blobs)
}

/// Marks a claimed upload failed with a reason (no PHI in `reason`).
pub async fn fail_upload(db: &Db, who: &Principal, upload_id: &str, reason: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    let u = fetch_upload(&mut tx, upload_id).await?;
    let org: String = sqlx::query("SELECT org_id FROM projects WHERE id = $1").bind(u.project_id.clone()).fetch_one(&mut *tx).await?.try_get("org_id")?;
    sqlx::query("UPDATE uploads SET state = 'failed', error = $1, processing_at = NULL, updated_at = $2 WHERE id = $3 AND state = 'open'")
        .bind(reason.to_string())
        .bind(now_ms())
        .bind(upload_id.to_string())
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&org), "upload.fail", "upload", upload_id, serde_json::json!({ "reason": reason }))).await?;
    tx.commit().await?;
    Ok(())
}

/// One dataset item found in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub kind: &'static str,
    pub byte_start: i64,
    pub byte_end: i64,
    pub meta: serde_json::Value,
}

/// A file read by ingest, ready to be recorded.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Its name, or `archive.zip/inner/path`.
    pub name: Phi<String>,
    /// SHA-256 of the plaintext; `None` for an entry refused before it was read.
    pub sha256: Option<String>,
    pub size: i64,
    /// The blob holding it (`None` when nothing was kept).
    pub blob_id: Option<String>,
    pub media_type: String,
    pub purpose: Purpose,
    /// `Ok(items)` accepted, `Err(reason)` rejected.
    pub outcome: Result<Vec<NewItem>, String>,
    /// An accepted DICOM instance (already de-identified: `blob_id` holds
    /// the de-identified file): it joins its series' item, created with
    /// the series' first instance.
    pub dicom: Option<NewDicomInstance>,
}

/// A de-identified DICOM instance as ingest read it. Every UID here is the
/// de-identified one.
#[derive(Debug, Clone)]
pub struct NewDicomInstance {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: Option<String>,
    pub modality: Option<String>,
    pub series_number: Option<i64>,
    pub frames: i64,
    /// Size of the de-identified file (what the blob holds).
    pub stored_size: i64,
    /// `clinlabel_dicom::ImageMeta` as JSON.
    pub meta: serde_json::Value,
    /// The de-identification report as JSON.
    pub deid_report: serde_json::Value,
    /// Why its pixels may carry burned-in text, if they may.
    pub burned_in: Option<String>,
}

/// What recording a file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub file_id: String,
    pub accepted: bool,
    pub items: i64,
    /// The same content was already stored in the project: the upload now
    /// links to that file, and the caller must delete the blob it wrote.
    pub duplicate: bool,
}

/// Records one file of an upload with its items, in one transaction with
/// its audit event (`file.accept`, `file.reject` or `file.duplicate`).
pub async fn record_file(db: &Db, who: &Principal, upload: &Upload, org_id: &str, f: NewFile) -> Result<Recorded, StoreError> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let id = new_id();
    // An entry refused unread has no content hash: it gets a unique placeholder,
    // so it never collides with (or is mistaken for) real content.
    let sha = f.sha256.clone().unwrap_or_else(|| format!("unread-{id}"));
    let (status, reason, items) = match &f.outcome {
        Ok(items) => ("accepted", None, items.len() as i64),
        Err(r) => ("rejected", Some(r.clone()), 0),
    };
    let inserted = sqlx::query(
        "INSERT INTO files (id, project_id, name, sha256, size, blob_id, media_type, purpose, status, reason, items, uploaded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (project_id, sha256) DO NOTHING",
    )
    .bind(id.clone())
    .bind(upload.project_id.clone())
    .bind(f.name.expose().clone())
    .bind(sha.clone())
    .bind(f.size)
    .bind(f.blob_id.clone().unwrap_or_default())
    .bind(f.media_type.clone())
    .bind(f.purpose.as_str())
    .bind(status)
    .bind(reason.clone())
    .bind(items)
    .bind(who.user_id.clone())
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let rec = if inserted == 0 {
        let row = sqlx::query("SELECT id, status, items FROM files WHERE project_id = $1 AND sha256 = $2")
            .bind(upload.project_id.clone())
            .bind(sha.clone())
            .fetch_one(&mut *tx)
            .await?;
        let st: String = row.try_get("status")?;
        let rec = Recorded { file_id: row.try_get("id")?, accepted: st == "accepted", items: row.try_get("items")?, duplicate: true };
        audit::append(&mut tx, &audit::event(Some(who), Some(org_id), "file.duplicate", "file", &rec.file_id, serde_json::json!({ "upload_id": upload.id, "sha256": sha })))
            .await?;
        rec
    } else {
        let mut items = items;
        if let (Ok(_), Some(d)) = (&f.outcome, &f.dicom) {
            items = join_series(&mut tx, &upload.project_id, &id, d, now).await?;
            sqlx::query("UPDATE files SET items = $1 WHERE id = $2").bind(items).bind(id.clone()).execute(&mut *tx).await?;
        }
        if let Ok(list) = &f.outcome {
            for (seq, it) in list.iter().enumerate() {
                sqlx::query("INSERT INTO items (id, project_id, file_id, seq, kind, byte_start, byte_end, meta, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(new_id())
                    .bind(upload.project_id.clone())
                    .bind(id.clone())
                    .bind(seq as i64)
                    .bind(it.kind)
                    .bind(it.byte_start)
                    .bind(it.byte_end)
                    .bind(it.meta.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let action = if status == "accepted" { "file.accept" } else { "file.reject" };
        audit::append(
            &mut tx,
            &audit::event(Some(who), Some(org_id), action, "file", &id, serde_json::json!({ "upload_id": upload.id, "project_id": upload.project_id, "sha256": f.sha256, "size": f.size, "items": items, "reason": reason })),
        )
        .await?;
        Recorded { file_id: id, accepted: status == "accepted", items, duplicate: false }
    };
    sqlx::query("INSERT INTO upload_files (upload_id, file_id, duplicate, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (upload_id, file_id) DO NOTHING")
        .bind(upload.id.clone())
        .bind(rec.file_id.clone())
        .bind(rec.duplicate as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rec)
}

/// Adds a DICOM instance (file `file_id`) to its series' item, creating the
/// series and its item with the first instance. Returns the items created (0 or 1).
async fn join_series(tx: &mut Tx, project_id: &str, file_id: &str, d: &NewDicomInstance, now: i64) -> Result<i64, StoreError> {
    let item_id = new_id();
    let created = sqlx::query(
        "INSERT INTO dicom_series (project_id, series_uid, item_id, study_uid, modality, instances, frames, burned_in, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 0, 0, $6) ON CONFLICT (project_id, series_uid) DO NOTHING",
    )
    .bind(project_id.to_string())
    .bind(d.series_uid.clone())
    .bind(item_id.clone())
    .bind(d.study_uid.clone())
    .bind(d.modality.clone())
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if created {
        sqlx::query("INSERT INTO items (id, project_id, file_id, seq, kind, byte_start, byte_end, meta, created_at) VALUES ($1, $2, $3, 0, 'dicom_series', 0, $4, '{}', $5)")
            .bind(item_id.clone())
            .bind(project_id.to_string())
            .bind(file_id.to_string())
            .bind(d.stored_size)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    // The series row is locked from here (PostgreSQL), so its counters and
    // the item's description move together.
    let row = sqlx::query(
        "UPDATE dicom_series SET instances = instances + 1, frames = frames + $1, burned_in = burned_in + $2 \
         WHERE project_id = $3 AND series_uid = $4 RETURNING item_id, study_uid, modality, instances, frames, burned_in",
    )
    .bind(d.frames)
    .bind(d.burned_in.is_some() as i64)
    .bind(project_id.to_string())
    .bind(d.series_uid.clone())
    .fetch_one(&mut **tx)
    .await?;
    let item_id: String = row.try_get("item_id")?;
    sqlx::query("INSERT INTO dicom_instances (file_id, project_id, item_id, sop_uid, frames, meta, deid_report, burned_in, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(file_id.to_string())
        .bind(project_id.to_string())
        .bind(item_id.clone())
        .bind(d.sop_uid.clone())
        .bind(d.frames)
        .bind(d.meta.to_string())
        .bind(d.deid_report.to_string())
        .bind(d.burned_in.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let burned: i64 = row.try_get("burned_in")?;
    let meta = serde_json::json!({
        "study_uid": row.try_get::<String, _>("study_uid")?,
        "series_uid": d.series_uid,
        "series_number": d.series_number,
        "modality": row.try_get::<Option<String>, _>("modality")?,
        "instances": row.try_get::<i64, _>("instances")?,
        "frames": row.try_get::<i64, _>("frames")?,
        "burned_in_instances": burned,
        // Geometry for QA in millimetres: the instance's pixel spacing (row,
        // column) and slice thickness (the slice step used for 3D measures).
        "pixel_spacing": d.meta["frame"]["pixel_spacing"],
        "slice_spacing": d.meta["frame"]["slice_thickness"],
    });
    sqlx::query("UPDATE items SET meta = $1 WHERE id = $2").bind(meta.to_string()).bind(item_id).execute(&mut **tx).await?;
    Ok(created as i64)
}

/// Closes a processed upload as complete with its summary (`upload.complete`)
/// and forgets its part rows (the caller deletes their blobs).
pub async fn complete_upload(db: &Db, who: &Principal, upload: &Upload, org_id: &str, file_id: Option<&str>, summary: serde_json::Value) -> Result<Upload, StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(upload.id.clone()).execute(&mut *tx).await?;
    sqlx::query("UPDATE uploads SET state = 'complete', file_id = $1, summary = $2, processing_at = NULL, updated_at = $3 WHERE id = $4 AND state = 'open'")
        .bind(file_id.map(str::to_string))
        .bind(summary.to_string())
        .bind(now_ms())
        .bind(upload.id.clone())
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(org_id), "upload.complete", "upload", &upload.id, summary)).await?;
    let u = fetch_upload(&mut tx, &upload.id).await?;
    tx.commit().await?;
    Ok(u)
}

// -- reading ------------------------------------------------------------------------

/// A file as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    pub id: String,
    pub project_id: String,
    /// Its name, or `archive.zip/inner/path` (PHI-bearing: never logged).
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub name: Phi<String>,
    /// SHA-256 of the plaintext (or `unread-…` for an entry refused unread).
    pub sha256: String,
    pub size: i64,
    pub media_type: String,
    pub purpose: Purpose,
    /// `accepted` or `rejected`.
    pub status: String,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub items: i64,
    pub uploaded_by: String,
    pub created_at: i64,
}

fn file_from_row(r: &AnyRow) -> Result<FileView, StoreError> {
    let purpose: String = r.try_get("purpose")?;
    Ok(FileView {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: Phi::new(r.try_get("name")?),
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        media_type: r.try_get("media_type")?,
        purpose: Purpose::parse(&purpose).ok_or_else(|| StoreError::Internal(format!("purpose {purpose}")))?,
        status: r.try_get("status")?,
        reason: r.try_get("reason")?,
        items: r.try_get("items")?,
        uploaded_by: r.try_get("uploaded_by")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Filters for the file list.
#[derive(Debug, Clone, Default)]
pub struct FileQuery {
    /// `accepted` or `rejected`.
    pub status: Option<String>,
    /// Only the files this upload produced or linked.
    pub upload_id: Option<String>,
}

/// A project's files, oldest first.
pub async fn list_files(db: &Db, who: &Principal, project_id: &str, q: &FileQuery, page: Page) -> Result<Paged<FileView>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    projects::visible(&mut conn, who, project_id).await?;
    if let Some(s) = &q.status
        && s != "accepted"
        && s != "rejected"
    {
        return Err(DomainError::field("status", "accepted or rejected").into());
    }
    let cast = if db.backend() == crate::Backend::Postgres { "::TEXT" } else { "" };
    let filter = format!(
        "WHERE f.project_id = $1 AND ($2{cast} IS NULL OR f.status = $2) \
         AND ($3{cast} IS NULL OR EXISTS (SELECT 1 FROM upload_files u WHERE u.upload_id = $3 AND u.file_id = f.id))"
    );
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM files f {filter}")))
        .bind(project_id.to_string())
        .bind(q.status.clone())
        .bind(q.upload_id.clone())
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT f.id, f.project_id, f.name, f.sha256, f.size, f.media_type, f.purpose, f.status, f.reason, f.items, f.uploaded_by, f.created_at \
         FROM files f {filter} ORDER BY f.created_at, f.id LIMIT $4 OFFSET $5"
    )))
    .bind(project_id.to_string())
    .bind(q.status.clone())
    .bind(q.upload_id.clone())
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await?;
    Ok(Paged { items: rows.iter().map(file_from_row).collect::<Result<_, _>>()?, total })
}

/// A dataset item as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemView {
    pub id: String,
    pub project_id: String,
    pub file_id: String,
    /// Position inside its file.
    pub seq: i64,
    /// `note`, `image`, `dicom_series` (one per DICOM series), `audio`, `response_set` or `variant`.
    pub kind: String,
    /// The item's bytes inside its file's plaintext: `[byte_start, byte_end)`.
    pub byte_start: i64,
    pub byte_end: i64,
    /// What ingest read: e.g. `chars`, `width`/`height`, `duration_ms`, `line`.
    #[schema(value_type = Object)]
    pub meta: serde_json::Value,
    pub created_at: i64,
}

fn item_from_row(r: &AnyRow) -> Result<ItemView, StoreError> {
    let meta: String = r.try_get("meta")?;
    Ok(ItemView {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        file_id: r.try_get("file_id")?,
        seq: r.try_get("seq")?,
        kind: r.try_get("kind")?,
        byte_start: r.try_get("byte_start")?,
        byte_end: r.try_get("byte_end")?,
        meta: serde_json::from_str(&meta).map_err(|e| StoreError::Internal(e.to_string()))?,
        created_at: r.try_get("created_at")?,
    })
}

/// A project's items, by file then position.
pub async fn list_items(db: &Db, who: &Principal, project_id: &str, file_id: Option<&str>, page: Page) -> Result<Paged<ItemView>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    projects::visible(&mut conn, who, project_id).await?;
    let cast = if db.backend() == crate::Backend::Postgres { "::TEXT" } else { "" };
    let filter = format!("WHERE project_id = $1 AND ($2{cast} IS NULL OR file_id = $2)");
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM items {filter}")))
        .bind(project_id.to_string())
        .bind(file_id.map(str::to_string))
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, project_id, file_id, seq, kind, byte_start, byte_end, meta, created_at FROM items {filter} ORDER BY created_at, file_id, seq LIMIT $3 OFFSET $4"
    )))
    .bind(project_id.to_string())
    .bind(file_id.map(str::to_string))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await?;
    Ok(Paged { items: rows.iter().map(item_from_row).collect::<Result<_, _>>()?, total })
}

/// Where an item's bytes are, for serving its content.
#[derive(Debug, Clone)]
pub struct ItemContent {
    pub item: ItemView,
    pub key_scope: String,
    pub blob_id: String,
    pub media_type: String,
}

/// An item the caller may read, with the blob that holds it.
pub async fn item_content(db: &Db, who: &Principal, item_id: &str) -> Result<ItemContent, StoreError> {
    let mut conn = db.pool.acquire().await?;
    let row = sqlx::query("SELECT id, project_id, file_id, seq, kind, byte_start, byte_end, meta, created_at FROM items WHERE id = $1")
        .bind(item_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let item = item_from_row(&row)?;
    projects::visible(&mut conn, who, &item.project_id).await?;
    let f = sqlx::query("SELECT blob_id, media_type FROM files WHERE id = $1").bind(item.file_id.clone()).fetch_one(&mut *conn).await?;
    Ok(ItemContent { key_scope: key_scope(&item.project_id), blob_id: f.try_get("blob_id")?, media_type: f.try_get("media_type")?, item })
}

// -- DICOM series -------------------------------------------------------------------

/// One de-identified instance of a series, as stored.
#[derive(Debug, Clone)]
pub struct StoredInstance {
    pub file_id: String,
    pub blob_id: String,
    /// `clinlabel_dicom::ImageMeta` (JSON text).
    pub meta: String,
}

/// Proof that the caller may read a DICOM series item: only [`item_series`]
/// and [`task_series`] make one, and [`series_instances`] needs one.
#[derive(Debug, Clone)]
pub struct SeriesAccess {
    pub item_id: String,
    pub project_id: String,
    /// The data-key scope of the instances' blobs.
    pub key_scope: String,
    /// Instances in the series now (a series grows while uploads arrive).
    pub instances: i64,
    _checked: (),
}

async fn series_access(conn: &mut sqlx::AnyConnection, project_id: String, item_id: &str) -> Result<SeriesAccess, StoreError> {
    let n: i64 = sqlx::query("SELECT instances FROM dicom_series WHERE item_id = $1")
        .bind(item_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ErrorCode::NotASeries)?
        .try_get("instances")?;
    Ok(SeriesAccess { item_id: item_id.to_string(), key_scope: key_scope(&project_id), project_id, instances: n, _checked: () })
}

/// Access to a series item the caller may see (project staff and the client).
pub async fn item_series(db: &Db, who: &Principal, item_id: &str) -> Result<SeriesAccess, StoreError> {
    let mut conn = db.pool.acquire().await?;
    let project_id: String = sqlx::query("SELECT project_id FROM items WHERE id = $1")
        .bind(item_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ErrorCode::NotFound)?
        .try_get("project_id")?;
    projects::visible(&mut conn, who, &project_id).await?;
    series_access(&mut conn, project_id, item_id).await
}

/// Access to the series item behind a task the caller holds (a live lease or
/// a rework): the tasker's and reviewer's way in.
pub async fn task_series(db: &Db, who: &Principal, task_id: &str) -> Result<SeriesAccess, StoreError> {
    let (project_id, item_id) = crate::tasks::held_item(db, who, task_id).await?;
    let mut conn = db.pool.acquire().await?;
    series_access(&mut conn, project_id, &item_id).await
}

/// The instances of a series, in arrival order (the caller orders them by
/// geometry), with the blobs holding their de-identified files.
pub async fn series_instances(db: &Db, access: &SeriesAccess) -> Result<Vec<StoredInstance>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.file_id, f.blob_id, d.meta FROM dicom_instances d JOIN files f ON f.id = d.file_id \
         WHERE d.item_id = $1 ORDER BY d.created_at, d.file_id",
    )
    .bind(access.item_id.clone())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok(StoredInstance { file_id: r.try_get("file_id")?, blob_id: r.try_get("blob_id")?, meta: r.try_get("meta")? }))
        .collect()
}

/// What de-identification did to one instance of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceDeidentification {
    pub file_id: String,
    /// The de-identified SOP Instance UID.
    pub sop_instance_uid: Option<String>,
    /// Why the pixels may carry burned-in text (the PM checks these), if they may.
    pub burned_in: Option<String>,
    /// The per-file report: every profile attribute found and the action
    /// applied (D, Z, X, K, C, U), counts, private tags removed, UIDs replaced.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// The de-identification reports of a series item's instances.
pub async fn series_deidentification(db: &Db, access: &SeriesAccess) -> Result<Vec<InstanceDeidentification>, StoreError> {
    let rows = sqlx::query("SELECT file_id, sop_uid, burned_in, deid_report FROM dicom_instances WHERE item_id = $1 ORDER BY created_at, file_id")
        .bind(access.item_id.clone())
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let report: String = r.try_get("deid_report")?;
            Ok(InstanceDeidentification {
                file_id: r.try_get("file_id")?,
                sop_instance_uid: r.try_get("sop_uid")?,
                burned_in: r.try_get("burned_in")?,
                report: serde_json::from_str(&report).map_err(|e| StoreError::Internal(e.to_string()))?,
            })
        })
        .collect()
}
