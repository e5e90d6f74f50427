//! Certified deliveries (lifecycle step 7): versions, files, the signed
//! manifest and QA certification, the data room's links and download rights,
//! and the download log. The bytes live in the blob store; the builder that
//! streams them there is in the server crate (`clinlabel_server::delivery`),
//! the formats and signatures in `clinlabel-delivery`.
//!
//! **Who does what.** A PM builds a delivery once every batch of the project
//! is approved (a new version each time; old ones stay). The QA reviewer in
//! charge — one who approved batches of the project — certifies it with a
//! typed statement, re-entering their password; the service signs the
//! certification, which names the manifest's SHA-256. Clients see certified
//! versions only. Downloads go through data-room links (token stored as
//! SHA-256, expiry, revocation, whole delivery or one file) and need a
//! signed-in caller with the download right: client admins of the project's
//! organisation, client members the client admin granted it to, and provider
//! staff (PM, QA reviewer, administrator). A client member without the right
//! still reads the report. Every download is logged and audited.
//!
//! **Signing key.** The installation's Ed25519 key is the data key of scope
//! [`SIGNING_KEY_SCOPE`]: 32 random bytes created on first use, stored
//! wrapped by the master key (so it is rewrapped by master-key rotation like
//! every data key), used as the Ed25519 seed.
//!
//! invariant: every state change and every download writes its audit event
//! in its transaction; the events name the project (`project_id`), so the
//! project's audit export includes them.

use crate::db::{Db, new_id, new_token, now_ms, token_hash};
use crate::{StoreError, audit, projects};
use clinlabel_crypto::Keyring;
use clinlabel_delivery::export::{AnnotationRecord, ItemRecord};
use clinlabel_delivery::manifest::{AuditHead, CERTIFICATION_FORMAT, Certification, Reviewer, SignedManifest};
use clinlabel_delivery::report::{GoldResult, PlanActual, QuestionDef, Report, ReportContext, TierOutcome};
use clinlabel_delivery::{Manifest, PublicKey, ServiceKey};
use clinlabel_domain::project::{ProjectState, Spec};
use clinlabel_domain::{DomainError, ErrorCode, Principal, Role, Secret};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

/// The data-key scope whose 32 bytes are the delivery signing key's seed.
pub const SIGNING_KEY_SCOPE: &str = "service-delivery-signing";
/// Longest a data-room link may live.
pub const MAX_LINK_MS: i64 = 90 * 86_400_000;
/// A build still `building` after this long was interrupted (its process stopped).
pub const STALE_BUILD_MS: i64 = 6 * 3_600_000;
/// A link's life when none is asked for.
pub const DEFAULT_LINK_MS: i64 = 7 * 86_400_000;

/// The installation's delivery signing key (created on first use).
pub async fn signing_key(db: &Db, keyring: &Keyring) -> Result<ServiceKey, StoreError> {
    let k = crate::keys::data_key(db, keyring, SIGNING_KEY_SCOPE).await?;
    Ok(ServiceKey::from_seed(&k.to_bytes()))
}

/// The public half, as published at the well-known URL.
pub async fn public_key(db: &Db, keyring: &Keyring) -> Result<PublicKey, StoreError> {
    Ok(signing_key(db, keyring).await?.public())
}

fn is_staff(who: &Principal) -> bool {
    matches!(who.role, Role::Pm | Role::QaReviewer | Role::Admin)
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// A delivered file as listed.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct DeliveryFile {
    pub id: String,
    pub path: String,
    /// `export`, `report` or `audit`.
    pub role: String,
    pub format: Option<String>,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
}

/// A delivery version.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Delivery {
    pub id: String,
    pub project_id: String,
    pub version: i64,
    /// `building`, `built` (signed by the service, awaiting QA), `certified` or `failed`.
    pub state: String,
    pub error: Option<String>,
    /// SHA-256 of manifest.json: what the certification is bound to.
    pub manifest_sha256: Option<String>,
    pub items: i64,
    pub annotations: i64,
    pub built_by: String,
    pub created_at: i64,
    pub built_at: Option<i64>,
    pub certified_by: Option<String>,
    pub certified_by_name: Option<String>,
    pub certified_at: Option<i64>,
    /// The QA reviewer's statement, once certified.
    pub statement: Option<String>,
    /// The folder the delivery unpacks into.
    pub folder: String,
    pub files: Vec<DeliveryFile>,
    /// Whether the caller may download its data.
    pub can_download: bool,
}

const DELIVERY_COLUMNS: &str = "d.id, d.project_id, d.version, d.state, d.error, d.manifest_sha256, d.items, d.annotations, d.built_by, d.created_at, d.built_at, d.certified_by, d.certified_at, d.certification, p.name AS project_name, u.name AS certifier_name";

async fn files_of(db: &Db, delivery_id: &str) -> Result<Vec<DeliveryFile>, StoreError> {
    let rows = sqlx::query("SELECT id, path, role, format, media_type, size, sha256 FROM delivery_files WHERE delivery_id = $1 ORDER BY seq")
        .bind(delivery_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok(DeliveryFile { id: r.try_get("id")?, path: r.try_get("path")?, role: r.try_get("role")?, format: r.try_get("format")?, media_type: r.try_get("media_type")?, size: r.try_get("size")?, sha256: r.try_get("sha256")? }))
        .collect()
}

fn delivery_from_row(r: &AnyRow, files: Vec<DeliveryFile>, can_download: bool) -> Result<Delivery, StoreError> {
    let cert: Option<String> = r.try_get("certification")?;
    let statement = cert.and_then(|c| serde_json::from_str::<Certification>(&c).ok()).map(|c| c.statement);
    let name: String = r.try_get("project_name")?;
    let version: i64 = r.try_get("version")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        version,
        state: r.try_get("state")?,
        error: r.try_get("error")?,
        manifest_sha256: r.try_get("manifest_sha256")?,
        items: r.try_get("items")?,
        annotations: r.try_get("annotations")?,
        built_by: r.try_get("built_by")?,
        created_at: r.try_get("created_at")?,
        built_at: r.try_get("built_at")?,
        certified_by: r.try_get("certified_by")?,
        certified_by_name: r.try_get("certifier_name")?,
        certified_at: r.try_get("certified_at")?,
        statement,
        folder: clinlabel_delivery::folder_name(&name, version),
        files,
        can_download,
    })
}

/// May the caller download data of a project of organisation `org_id`?
async fn may_download(db: &Db, who: &Principal, project_id: &str, org_id: &str) -> Result<bool, StoreError> {
    Ok(match who.role {
        Role::Pm | Role::QaReviewer | Role::Admin => true,
        Role::ClientAdmin => who.org_id == org_id,
        Role::ClientMember => {
            who.org_id == org_id
                && sqlx::query("SELECT 1 AS x FROM data_room_downloaders WHERE project_id = $1 AND user_id = $2")
                    .bind(project_id.to_string())
                    .bind(who.user_id.clone())
                    .fetch_optional(&db.pool)
                    .await?
                    .is_some()
        }
        Role::Tasker => false,
    })
}

/// Loads a delivery the caller may see: staff see every version, the
/// project's client roles only certified ones; anything else is not found.
async fn visible_delivery(db: &Db, who: &Principal, delivery_id: &str) -> Result<(AnyRow, String), StoreError> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS}, p.org_id FROM deliveries d JOIN projects p ON p.id = d.project_id LEFT JOIN users u ON u.id = d.certified_by WHERE d.id = $1"
    )))
    .bind(delivery_id.to_string())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(ErrorCode::NotFound)?;
    let org: String = r.try_get("org_id")?;
    let state: String = r.try_get("state")?;
    let visible = is_staff(who) || (matches!(who.role, Role::ClientAdmin | Role::ClientMember) && who.org_id == org && state == "certified");
    if !visible {
        return Err(ErrorCode::NotFound.into());
    }
    Ok((r, org))
}

/// One delivery version.
pub async fn get(db: &Db, who: &Principal, delivery_id: &str) -> Result<Delivery, StoreError> {
    let (r, org) = visible_delivery(db, who, delivery_id).await?;
    let project: String = r.try_get("project_id")?;
    let can = may_download(db, who, &project, &org).await?;
    delivery_from_row(&r, files_of(db, delivery_id).await?, can)
}

/// A project's delivery versions, newest first (clients: certified only).
pub async fn list(db: &Db, who: &Principal, project_id: &str) -> Result<Vec<Delivery>, StoreError> {
    let (org, _) = {
        let mut conn = db.pool.acquire().await?;
        projects::visible(&mut conn, who, project_id).await?
    };
    if who.role == Role::Tasker {
        return Err(ErrorCode::NotFound.into());
    }
    let only_certified = if is_staff(who) { "" } else { " AND d.state = 'certified'" };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN projects p ON p.id = d.project_id LEFT JOIN users u ON u.id = d.certified_by WHERE d.project_id = $1{only_certified} ORDER BY d.version DESC"
    )))
    .bind(project_id.to_string())
    .fetch_all(&db.pool)
    .await?;
    let can = may_download(db, who, project_id, &org).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get("id")?;
        out.push(delivery_from_row(r, files_of(db, &id).await?, can)?);
    }
    Ok(out)
}

/// The completion report of a delivery (everyone who sees the delivery,
/// download right or not).
pub async fn report(db: &Db, who: &Principal, delivery_id: &str) -> Result<Report, StoreError> {
    visible_delivery(db, who, delivery_id).await?;
    let text: Option<String> = sqlx::query("SELECT report FROM deliveries WHERE id = $1").bind(delivery_id.to_string()).fetch_one(&db.pool).await?.try_get("report")?;
    let text = text.ok_or_else(|| DomainError::new(ErrorCode::NotFound).with_message("The delivery has no report yet: it is still being built."))?;
    serde_json::from_str(&text).map_err(internal)
}

/// A report file's blob (`report.html` / `report.pdf`) for anyone who sees the delivery.
pub async fn report_file(db: &Db, who: &Principal, delivery_id: &str, path: &str) -> Result<ServedFile, StoreError> {
    let (r, _) = visible_delivery(db, who, delivery_id).await?;
    let project: String = r.try_get("project_id")?;
    let f = sqlx::query("SELECT id, path, media_type, blob_id, size, sha256, crc32 FROM delivery_files WHERE delivery_id = $1 AND path = $2 AND role = 'report'")
        .bind(delivery_id.to_string())
        .bind(path.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    served_file(&f, &project)
}

// -- building ------------------------------------------------------------------------------

/// What the builder needs, handed out once the build is allowed and its row exists.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub delivery_id: String,
    pub project_id: String,
    pub project_name: String,
    pub org_id: String,
    pub client_name: String,
    pub track_name: String,
    pub version: i64,
    pub spec: Spec,
    pub spec_version: i64,
    pub key_scope: String,
    pub built_by: Principal,
    pub built_by_name: String,
    pub created_at: i64,
    pub audit_head: AuditHead,
}

/// Starts a new delivery version: PMs only, every batch approved, every
/// requested export format available. Returns the plan the builder follows.
pub async fn begin_build(db: &Db, keyring: &Keyring, who: &Principal, project_id: &str, available_formats: &(dyn Fn(&str) -> bool + Sync)) -> Result<BuildPlan, StoreError> {
    if who.role != Role::Pm {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Deliveries are built by a PM.").into());
    }
    let project = projects::get(db, keyring, who, project_id).await?;
    if !matches!(project.state, ProjectState::InProgress | ProjectState::InQa | ProjectState::Delivered) {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message("Only a project whose work has started can be delivered.").into());
    }
    if let Some(f) = project.spec.output_formats.iter().find(|f| !available_formats(f)) {
        return Err(DomainError::new(ErrorCode::ExportFormatUnavailable)
            .with_message(format!("The export format {f} requested by the specification is not available yet."))
            .with_details(serde_json::json!({ "format": f }))
            .into());
    }
    let mut tx = db.begin_write().await?;
    let b = sqlx::query("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN state = 'approved' THEN 1 ELSE 0 END), 0) AS BIGINT) AS approved FROM batches WHERE project_id = $1")
        .bind(project_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
    let (n, approved): (i64, i64) = (b.try_get("n")?, b.try_get("approved")?);
    if n == 0 || approved < n {
        return Err(DomainError::new(ErrorCode::BatchesNotApproved)
            .with_message(format!("{approved} of {n} batches are approved: every batch must be approved before the delivery is built."))
            .with_details(serde_json::json!({ "batches": n, "approved": approved }))
            .into());
    }
    // A build whose process stopped (no build of a million annotations takes hours) no longer blocks.
    sqlx::query("UPDATE deliveries SET state = 'failed', error = 'interrupted: the build did not finish' WHERE project_id = $1 AND state = 'building' AND created_at < $2")
        .bind(project_id.to_string())
        .bind(now_ms() - STALE_BUILD_MS)
        .execute(&mut *tx)
        .await?;
    if sqlx::query("SELECT 1 AS x FROM deliveries WHERE project_id = $1 AND state = 'building'").bind(project_id.to_string()).fetch_optional(&mut *tx).await?.is_some() {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message("A delivery of this project is being built.").into());
    }
    let version: i64 = sqlx::query("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) AS v FROM deliveries WHERE project_id = $1").bind(project_id.to_string()).fetch_one(&mut *tx).await?.try_get("v")?;
    let version = version + 1;
    let id = new_id();
    let now = now_ms();
    sqlx::query("INSERT INTO deliveries (id, project_id, version, state, built_by, created_at) VALUES ($1, $2, $3, 'building', $4, $5)")
        .bind(id.clone())
        .bind(project_id.to_string())
        .bind(version)
        .bind(who.user_id.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&project.org_id), "delivery.build", "delivery", &id, serde_json::json!({ "project_id": project_id, "version": version }))).await?;
    // The trail up to and including the build's own event goes into the delivery.
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?;
    let audit_head = AuditHead { seq: head.try_get("seq")?, hash: head.try_get("hash")? };
    let names = sqlx::query("SELECT o.name AS client, t.name AS track, u.name AS me FROM organisations o, tracks t, users u WHERE o.id = $1 AND t.id = $2 AND u.id = $3")
        .bind(project.org_id.clone())
        .bind(project.spec.track_id.clone())
        .bind(who.user_id.clone())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(BuildPlan {
        delivery_id: id,
        project_id: project_id.to_string(),
        project_name: project.spec.name.clone(),
        org_id: project.org_id.clone(),
        client_name: names.try_get("client")?,
        track_name: names.try_get("track")?,
        version,
        spec_version: project.spec_version,
        spec: project.spec,
        key_scope: projects::key_scope(project_id),
        built_by: who.clone(),
        built_by_name: names.try_get("me")?,
        created_at: now,
        audit_head,
    })
}

/// Keyset position in the export's item order (the last item id of the previous page).
pub type ItemCursor = Option<String>;

/// A delivered item and where its bytes are.
#[derive(Debug, Clone)]
pub struct ExportItem {
    pub record: ItemRecord,
    /// The blob of the item's file and its media type (a note's text is its
    /// byte range there).
    pub blob_id: String,
    pub media_type: String,
    /// Frames of a DICOM series item (0 for other items): what holding its
    /// geometry costs.
    pub frames: i64,
}

/// The next page of delivered items (non-gold items, in item id order) after
/// `after`, with their accepted annotations (authors as pseudonyms). Both
/// queries walk `items_by_project_id` from the cursor: a page costs the same
/// at the start and the end of a million items, and memory is bounded by
/// `limit`.
pub async fn export_page(db: &Db, plan: &BuildPlan, after: &ItemCursor, limit: i64) -> Result<Vec<ExportItem>, StoreError> {
    let after = after.clone().unwrap_or_default();
    let items = sqlx::query(
        "SELECT i.id, i.seq, i.kind, i.byte_start, i.byte_end, i.meta, f.name AS file_name, f.blob_id, f.media_type, \
         COALESCE(ds.frames, 0) AS frames FROM items i JOIN files f ON f.id = i.file_id LEFT JOIN dicom_series ds ON ds.item_id = i.id \
         WHERE i.project_id = $1 AND i.id > $2 AND i.gold = 0 ORDER BY i.id LIMIT $3",
    )
    .bind(plan.project_id.clone())
    .bind(after.clone())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let Some(last) = items.last() else { return Ok(Vec::new()) };
    let last_id: String = last.try_get("id")?;
    let anns = sqlx::query(
        "SELECT a.id, a.item_id, a.author_id, a.round, a.body, a.updated_at FROM items i JOIN annotations a ON a.item_id = i.id \
         WHERE i.project_id = $1 AND i.id > $2 AND i.id <= $3 AND a.gold = 0 AND a.stage = 'accepted' ORDER BY a.item_id, a.created_at, a.id",
    )
    .bind(plan.project_id.clone())
    .bind(after)
    .bind(last_id)
    .fetch_all(&db.pool)
    .await?;
    let mut by_item: std::collections::HashMap<String, Vec<AnnotationRecord>> = std::collections::HashMap::with_capacity(items.len());
    for a in &anns {
        let item: String = a.try_get("item_id")?;
        let author: String = a.try_get("author_id")?;
        let body: String = a.try_get("body")?;
        by_item.entry(item).or_default().push(AnnotationRecord {
            annotation_id: a.try_get("id")?,
            annotator: crate::tasks::pseudonym(&plan.project_id, &author),
            round: a.try_get("round")?,
            body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
            submitted_at: a.try_get("updated_at")?,
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for r in &items {
        let id: String = r.try_get("id")?;
        let meta: String = r.try_get("meta")?;
        out.push(ExportItem {
            record: ItemRecord {
                annotations: by_item.remove(&id).unwrap_or_default(),
                item_id: id,
                seq: r.try_get("seq")?,
                kind: r.try_get("kind")?,
                source_file: r.try_get("file_name")?,
                byte_start: r.try_get("byte_start")?,
                byte_end: r.try_get("byte_end")?,
                meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
                note: None,
                series: None,
            },
            blob_id: r.try_get("blob_id")?,
            media_type: r.try_get("media_type")?,
            frames: r.try_get("frames")?,
        });
    }
    Ok(out)
}

/// One stored instance of a delivered series.
#[derive(Debug, Clone)]
pub struct ExportInstance {
    pub item_id: String,
    pub blob_id: String,
    /// Size of the de-identified file.
    pub size: i64,
    /// `clinlabel_dicom::ImageMeta` (JSON text).
    pub meta: String,
}

/// The instances of the given series items of the plan's project, in one
/// query (ordered by item, then arrival). The builder asks for the series of
/// a slice of a page whose instance count it bounds.
pub async fn export_instances(db: &Db, plan: &BuildPlan, item_ids: &[String]) -> Result<Vec<ExportInstance>, StoreError> {
    if item_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..item_ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT d.item_id, f.blob_id, f.size, d.meta FROM dicom_instances d JOIN files f ON f.id = d.file_id \
         WHERE d.project_id = $1 AND d.item_id IN ({}) ORDER BY d.item_id, d.created_at, d.file_id",
        list.join(", ")
    );
    // Only placeholders are formatted in; the ids are bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(plan.project_id.clone());
    for id in item_ids {
        q = q.bind(id.clone());
    }
    q.fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| Ok(ExportInstance { item_id: r.try_get("item_id")?, blob_id: r.try_get("blob_id")?, size: r.try_get("size")?, meta: r.try_get("meta")? }))
        .collect()
}

/// The next page of the audit chain for a project's export: events after
/// `after_seq` up to `head_seq`; the project's own in full, others reduced
/// to their link.
pub async fn audit_page(db: &Db, project_id: &str, after_seq: i64, head_seq: i64, limit: i64) -> Result<Vec<clinlabel_delivery::audit::Line>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, at, actor_id, org_id, action, target_type, target_id, details, prev_hash, hash FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
    )
    .bind(after_seq)
    .bind(head_seq)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let target_id: String = r.try_get("target_id")?;
            let details: String = r.try_get("details")?;
            let mine = clinlabel_delivery::audit::belongs_to(project_id, &target_id, &details);
            Ok(clinlabel_delivery::audit::Line {
                seq: r.try_get("seq")?,
                event: if mine {
                    Some(clinlabel_delivery::audit::EventBody {
                        at: r.try_get("at")?,
                        actor_id: r.try_get("actor_id")?,
                        org_id: r.try_get("org_id")?,
                        action: r.try_get("action")?,
                        target_type: r.try_get("target_type")?,
                        target_id,
                        details,
                    })
                } else {
                    None
                },
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        })
        .collect()
}

/// Who may export a project's audit trail (PMs, administrators, the
/// project's client admin) and the head to export up to.
pub async fn audit_export_head(db: &Db, who: &Principal, project_id: &str) -> Result<AuditHead, StoreError> {
    let (org, _) = {
        let mut conn = db.pool.acquire().await?;
        projects::visible(&mut conn, who, project_id).await?
    };
    let allowed = matches!(who.role, Role::Pm | Role::Admin) || (who.role == Role::ClientAdmin && who.org_id == org);
    if !allowed {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("The audit export is for the project's client admin, PMs and administrators.").into());
    }
    let mut tx = db.begin_write().await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&org), "project.audit_export", "project", project_id, serde_json::json!({ "project_id": project_id }))).await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?;
    let h = AuditHead { seq: head.try_get("seq")?, hash: head.try_get("hash")? };
    tx.commit().await?;
    Ok(h)
}

fn ms_date(ms: Option<i64>) -> String {
    ms.map(clinlabel_delivery::time::date).unwrap_or_else(|| "—".into())
}

/// Everything the report needs besides the streamed items.
pub async fn report_context(db: &Db, plan: &BuildPlan, delivered_items: u64, delivered_annotations: u64) -> Result<ReportContext, StoreError> {
    let p = plan.project_id.clone();
    let pool = &db.pool;
    let one_i64 = |r: AnyRow, c: &str| -> Result<Option<i64>, StoreError> { Ok(r.try_get::<Option<i64>, _>(c)?) };
    let items: i64 = sqlx::query("SELECT COUNT(*) AS n FROM items WHERE project_id = $1 AND gold = 0").bind(p.clone()).fetch_one(pool).await?.try_get("n")?;
    let quote = sqlx::query("SELECT pricing, decided_at FROM quotes WHERE project_id = $1 AND status = 'approved' ORDER BY created_at DESC LIMIT 1").bind(p.clone()).fetch_optional(pool).await?;
    let (timeline_days, proposed, approved_at) = match &quote {
        Some(q) => {
            let pricing: serde_json::Value = serde_json::from_str(&q.try_get::<String, _>("pricing")?).unwrap_or_default();
            (pricing["timeline_days"].as_i64(), pricing["proposed_delivery"].as_i64(), q.try_get::<Option<i64>, _>("decided_at")?)
        }
        None => (None, None, None),
    };
    let started = one_i64(
        sqlx::query("SELECT MIN(at) AS at FROM audit_events WHERE target_type = 'project' AND target_id = $1 AND action = 'project.start'").bind(p.clone()).fetch_one(pool).await?,
        "at",
    )?;
    let first_work = one_i64(sqlx::query("SELECT MIN(created_at) AS at FROM annotations WHERE project_id = $1 AND gold = 0").bind(p.clone()).fetch_one(pool).await?, "at")?;
    let approved_last = one_i64(sqlx::query("SELECT MAX(decided_at) AS at FROM batches WHERE project_id = $1 AND state = 'approved'").bind(p.clone()).fetch_one(pool).await?, "at")?;
    let batches: i64 = sqlx::query("SELECT COUNT(*) AS n FROM batches WHERE project_id = $1").bind(p.clone()).fetch_one(pool).await?.try_get("n")?;
    let overlap = plan.spec.overlap as i64;
    let scope = vec![
        PlanActual { what: "Items".into(), planned: items.to_string(), actual: delivered_items.to_string() },
        PlanActual { what: "Annotations (items × overlap)".into(), planned: (items * overlap).to_string(), actual: delivered_annotations.to_string() },
        PlanActual { what: "Batches".into(), planned: batches.to_string(), actual: format!("{batches} approved") },
        PlanActual { what: "Quote approved / work started".into(), planned: ms_date(approved_at), actual: ms_date(started) },
        PlanActual { what: "First annotation".into(), planned: "—".into(), actual: ms_date(first_work) },
        PlanActual {
            what: "Delivery".into(),
            planned: match (proposed, timeline_days) {
                (Some(d), Some(t)) => format!("{} ({t} working days quoted)", ms_date(Some(d))),
                _ => "—".into(),
            },
            actual: ms_date(Some(plan.created_at)),
        },
        PlanActual { what: "Deadline / last batch approved".into(), planned: ms_date(Some(plan.spec.deadline)), actual: ms_date(approved_last) },
    ];
    let gold_rows = sqlx::query("SELECT user_id, score, at FROM gold_results WHERE project_id = $1 ORDER BY at, id").bind(p.clone()).fetch_all(pool).await?;
    let gold = gold_rows
        .iter()
        .map(|r| Ok(GoldResult { tasker: crate::tasks::pseudonym(&p, &r.try_get::<String, _>("user_id")?), at: r.try_get("at")?, score: r.try_get("score")? }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let tier_rows = sqlx::query(
        "SELECT r.tier, r.decision, COUNT(*) AS n FROM reviews r JOIN annotations a ON a.id = r.annotation_id WHERE a.project_id = $1 GROUP BY r.tier, r.decision ORDER BY r.tier",
    )
    .bind(p.clone())
    .fetch_all(pool)
    .await?;
    let mut tiers: Vec<TierOutcome> = [(1, "peer review"), (2, "QA reviewer"), (3, "PM spot-check")].iter().map(|(t, n)| TierOutcome { tier: *t, name: n.to_string(), accepted: 0, rejected: 0 }).collect();
    for r in &tier_rows {
        let tier: i64 = r.try_get("tier")?;
        let decision: String = r.try_get("decision")?;
        let n: i64 = r.try_get("n")?;
        if let Some(t) = tiers.iter_mut().find(|t| t.tier == tier) {
            if decision == "accept" {
                t.accepted += n as u64;
            } else {
                t.rejected += n as u64;
            }
        }
    }
    let returned: i64 = sqlx::query("SELECT COUNT(DISTINCT r.task_id) AS n FROM reviews r JOIN annotations a ON a.id = r.annotation_id WHERE a.project_id = $1 AND r.task_id LIKE 'batch-%'")
        .bind(p.clone())
        .fetch_one(pool)
        .await?
        .try_get("n")?;
    let spec = &plan.spec;
    let guidelines_sha = clinlabel_delivery::manifest::sha256_hex(spec.guidelines.as_bytes());
    let versions = vec![
        ("Specification".to_string(), format!("version {}", plan.spec_version)),
        ("Guidelines".to_string(), format!("of specification version {}, SHA-256 {}", plan.spec_version, &guidelines_sha[..16])),
        ("Label schema".to_string(), format!("{} questions: {}", spec.schema.questions.len(), spec.schema.questions.iter().map(|q| q.id.as_str()).collect::<Vec<_>>().join(", "))),
        ("Output formats".to_string(), spec.output_formats.join(", ")),
        ("Overlap and gold rate".to_string(), format!("{} annotators per item, gold rate {:.0} %", spec.overlap, spec.gold_rate * 100.0)),
        (
            "QA settings".to_string(),
            format!(
                "tier 1 {}, tier 2 sampling {:.0} %, tier 3 spot-check {:.0} %, quality threshold {:.2}, at most {} rework rounds",
                if spec.qa.tier1 { "on" } else { "off" },
                spec.qa.tier2_sampling_pct,
                spec.qa.tier3_spot_check_pct,
                spec.qa.quality_threshold,
                spec.qa.max_rework_rounds
            ),
        ),
        ("Delivery".to_string(), format!("version {}, clinlabel {}", plan.version, env!("CARGO_PKG_VERSION"))),
    ];
    let questions = spec
        .schema
        .questions
        .iter()
        .map(|q| QuestionDef { id: q.id.clone(), text: q.text.clone(), ordinal: q.ordinal, options: q.options.iter().map(|o| (o.id.clone(), o.name.clone())).collect() })
        .collect();
    // The bootstrap seed: from the delivery id, so a rebuild of the same data differs only by it and it is recorded.
    let seed = u64::from_str_radix(&plan.delivery_id[..16.min(plan.delivery_id.len())], 16).unwrap_or(0);
    Ok(ReportContext {
        project_id: p,
        project_name: plan.project_name.clone(),
        client: plan.client_name.clone(),
        modality: spec.modality.as_str().to_string(),
        track: plan.track_name.clone(),
        delivery_version: plan.version,
        built_at: plan.created_at,
        overlap: spec.overlap,
        questions,
        scope,
        gold,
        tiers,
        batches_returned: returned as u64,
        versions,
        seed,
    })
}

/// A file the builder stored.
#[derive(Debug, Clone)]
pub struct BuiltFile {
    pub path: String,
    pub role: String,
    pub format: Option<String>,
    pub media_type: String,
    pub blob_id: String,
    pub size: u64,
    pub sha256: String,
    pub crc32: u32,
}

/// Records the built delivery: its files, signed manifest and report.
pub async fn finish_build(db: &Db, plan: &BuildPlan, files: &[BuiltFile], manifest: &Manifest, signed: &SignedManifest, report: &Report) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    for (i, f) in files.iter().enumerate() {
        sqlx::query("INSERT INTO delivery_files (id, delivery_id, seq, path, role, format, media_type, blob_id, size, sha256, crc32) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(new_id())
            .bind(plan.delivery_id.clone())
            .bind(i as i64)
            .bind(f.path.clone())
            .bind(f.role.clone())
            .bind(f.format.clone())
            .bind(f.media_type.clone())
            .bind(f.blob_id.clone())
            .bind(f.size as i64)
            .bind(f.sha256.clone())
            .bind(f.crc32 as i64)
            .execute(&mut *tx)
            .await?;
    }
    let n = sqlx::query(
        "UPDATE deliveries SET state = 'built', manifest = $1, manifest_sha256 = $2, manifest_sig = $3, report = $4, items = $5, annotations = $6, built_at = $7 WHERE id = $8 AND state = 'building'",
    )
    .bind(String::from_utf8(signed.bytes.clone()).map_err(internal)?)
    .bind(signed.sha256.clone())
    .bind(hex::encode(signed.signature))
    .bind(serde_json::to_string(report).map_err(internal)?)
    .bind(manifest.items)
    .bind(manifest.annotations)
    .bind(now_ms())
    .bind(plan.delivery_id.clone())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(StoreError::Internal("the delivery was not building".into()));
    }
    audit::append(
        &mut tx,
        &audit::event(
            Some(&plan.built_by),
            Some(&plan.org_id),
            "delivery.built",
            "delivery",
            &plan.delivery_id,
            serde_json::json!({ "project_id": plan.project_id, "version": plan.version, "manifest_sha256": signed.sha256, "files": files.len(), "annotations": manifest.annotations, "key_id": manifest.signing_key.key_id }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks a build failed (its blobs are deleted by the builder).
pub async fn fail_build(db: &Db, plan: &BuildPlan, reason: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE deliveries SET state = 'failed', error = $1 WHERE id = $2 AND state = 'building'").bind(reason.chars().take(500).collect::<String>()).bind(plan.delivery_id.clone()).execute(&mut *tx).await?;
    audit::append(&mut tx, &audit::event(Some(&plan.built_by), Some(&plan.org_id), "delivery.fail", "delivery", &plan.delivery_id, serde_json::json!({ "project_id": plan.project_id, "version": plan.version }))).await?;
    tx.commit().await?;
    Ok(())
}


// -- certification ----------------------------------------------------------------------------

/// The QA reviewer in charge certifies a built delivery: the typed statement
/// is bound to the manifest's SHA-256 and signed by the service.
pub async fn certify(db: &Db, keyring: &Keyring, who: &Principal, delivery_id: &str, statement: &str, password: Secret<String>) -> Result<Delivery, StoreError> {
    if who.role != Role::QaReviewer {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("A delivery is certified by the QA reviewer in charge.").into());
    }
    let statement = statement.trim();
    if statement.chars().count() < 20 || statement.chars().count() > 2000 {
        return Err(DomainError::field("statement", "type the certification statement (20 to 2,000 characters)").into());
    }
    let (r, org) = visible_delivery(db, who, delivery_id).await?;
    let project: String = r.try_get("project_id")?;
    let state: String = r.try_get("state")?;
    if state != "built" {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message(format!("The delivery is {state}; only a built delivery can be certified.")).into());
    }
    let in_charge = sqlx::query("SELECT 1 AS x FROM batches WHERE project_id = $1 AND state = 'approved' AND decided_by = $2 LIMIT 1")
        .bind(project.clone())
        .bind(who.user_id.clone())
        .fetch_optional(&db.pool)
        .await?
        .is_some();
    if !in_charge {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Only the QA reviewer in charge (who approved this project's batches) certifies its delivery.").into());
    }
    let user = sqlx::query("SELECT name, password_hash FROM users WHERE id = $1").bind(who.user_id.clone()).fetch_one(&db.pool).await?;
    if !crate::auth::verify_password(password, user.try_get("password_hash")?).await {
        return Err(DomainError::new(ErrorCode::WrongPassword).with_message("Re-enter your password to sign.").with_details(serde_json::json!({ "field": "password" })).into());
    }
    let key = signing_key(db, keyring).await?;
    let version: i64 = r.try_get("version")?;
    let manifest_sha256: String = r.try_get::<Option<String>, _>("manifest_sha256")?.ok_or_else(|| internal("built delivery without manifest"))?;
    let now = now_ms();
    let cert = Certification {
        format: CERTIFICATION_FORMAT.into(),
        delivery_id: delivery_id.to_string(),
        version,
        manifest_sha256: manifest_sha256.clone(),
        statement: statement.to_string(),
        reviewer: Reviewer { user_id: who.user_id.clone(), name: user.try_get("name")?, role: who.role.as_str().into() },
        signed_at: now,
        signing_key: key.public(),
    };
    let signed = clinlabel_delivery::manifest::sign_certification(&cert, &key).map_err(internal)?;
    let mut tx = db.begin_write().await?;
    let n = sqlx::query("UPDATE deliveries SET state = 'certified', certification = $1, certification_sig = $2, certified_by = $3, certified_at = $4 WHERE id = $5 AND state = 'built'")
        .bind(String::from_utf8(signed.bytes).map_err(internal)?)
        .bind(hex::encode(signed.signature))
        .bind(who.user_id.clone())
        .bind(now)
        .bind(delivery_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n != 1 {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message("The delivery was certified meanwhile.").into());
    }
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&org), "delivery.certify", "delivery", delivery_id, serde_json::json!({ "project_id": project, "version": version, "manifest_sha256": manifest_sha256 })),
    )
    .await?;
    tx.commit().await?;
    get(db, who, delivery_id).await
}

// -- data room -------------------------------------------------------------------------------

/// A data-room link as listed (never the token itself).
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Link {
    pub id: String,
    pub delivery_id: String,
    /// `None`: the whole delivery.
    pub file_id: Option<String>,
    pub file_path: Option<String>,
    /// The token's first characters, to tell links apart.
    pub prefix: String,
    pub label: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

/// A new link's request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// One file of the delivery; omitted: the whole delivery.
    pub file_id: Option<String>,
    /// Epoch ms; default 7 days from now, at most 90.
    pub expires_at: Option<i64>,
    pub label: Option<String>,
}

const LINK_COLUMNS: &str = "l.id, l.delivery_id, l.file_id, f.path AS file_path, l.prefix, l.label, l.created_by, l.created_at, l.expires_at, l.revoked_at";

fn link_from_row(r: &AnyRow, now: i64) -> Result<Link, StoreError> {
    let revoked: Option<i64> = r.try_get("revoked_at")?;
    let expires: i64 = r.try_get("expires_at")?;
    Ok(Link {
        id: r.try_get("id")?,
        delivery_id: r.try_get("delivery_id")?,
        file_id: r.try_get("file_id")?,
        file_path: r.try_get("file_path")?,
        prefix: r.try_get("prefix")?,
        label: r.try_get("label")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: expires,
        revoked_at: revoked,
        status: if revoked.is_some() { "revoked" } else if expires <= now { "expired" } else { "active" }.into(),
    })
}

async fn download_right(db: &Db, who: &Principal, delivery_id: &str) -> Result<(AnyRow, String, String), StoreError> {
    let (r, org) = visible_delivery(db, who, delivery_id).await?;
    let project: String = r.try_get("project_id")?;
    let state: String = r.try_get("state")?;
    if state != "certified" {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message("The data room opens once the delivery is certified.").into());
    }
    if !may_download(db, who, &project, &org).await? {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("You may read the report, but downloading the data needs the download right from your client admin.").into());
    }
    Ok((r, org, project))
}

/// Creates a link (callers with the download right); the token is returned once.
pub async fn create_link(db: &Db, who: &Principal, delivery_id: &str, new: NewLink) -> Result<(Link, Secret<String>), StoreError> {
    let (_, org, project) = download_right(db, who, delivery_id).await?;
    let now = now_ms();
    let expires = new.expires_at.unwrap_or(now + DEFAULT_LINK_MS);
    if expires <= now || expires > now + MAX_LINK_MS {
        return Err(DomainError::field("expires_at", "must be in the future and at most 90 days away").into());
    }
    let label = new.label.map(|l| l.trim().to_string()).filter(|l| !l.is_empty());
    if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
        return Err(DomainError::field("label", "at most 200 characters").into());
    }
    if let Some(f) = &new.file_id
        && sqlx::query("SELECT 1 AS x FROM delivery_files WHERE id = $1 AND delivery_id = $2").bind(f.clone()).bind(delivery_id.to_string()).fetch_optional(&db.pool).await?.is_none()
    {
        return Err(DomainError::field("file_id", "is not a file of this delivery").into());
    }
    let token = format!("cld_{}", new_token());
    let id = new_id();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO data_room_links (id, delivery_id, file_id, token_hash, prefix, label, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(id.clone())
        .bind(delivery_id.to_string())
        .bind(new.file_id.clone())
        .bind(token_hash(&token))
        .bind(token[..10].to_string())
        .bind(label)
        .bind(who.user_id.clone())
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&org), "data_room.link_create", "data_room_link", &id, serde_json::json!({ "project_id": project, "delivery_id": delivery_id, "file_id": new.file_id, "expires_at": expires })),
    )
    .await?;
    tx.commit().await?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {LINK_COLUMNS} FROM data_room_links l LEFT JOIN delivery_files f ON f.id = l.file_id WHERE l.id = $1"))).bind(id).fetch_one(&db.pool).await?;
    Ok((link_from_row(&r, now)?, Secret::new(token)))
}

/// The links of a delivery (callers with the download right).
pub async fn links(db: &Db, who: &Principal, delivery_id: &str) -> Result<Vec<Link>, StoreError> {
    download_right(db, who, delivery_id).await?;
    let now = now_ms();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM data_room_links l LEFT JOIN delivery_files f ON f.id = l.file_id WHERE l.delivery_id = $1 ORDER BY l.created_at DESC, l.id"
    )))
    .bind(delivery_id.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| link_from_row(r, now)).collect()
}

/// Revokes a link: its creator, the project's client admin, PMs and administrators.
pub async fn revoke_link(db: &Db, who: &Principal, link_id: &str) -> Result<Link, StoreError> {
    let r = sqlx::query("SELECT delivery_id, created_by FROM data_room_links WHERE id = $1").bind(link_id.to_string()).fetch_optional(&db.pool).await?.ok_or(ErrorCode::NotFound)?;
    let delivery: String = r.try_get("delivery_id")?;
    let creator: String = r.try_get("created_by")?;
    let (_, org, project) = download_right(db, who, &delivery).await?;
    let allowed = creator == who.user_id || matches!(who.role, Role::ClientAdmin | Role::Pm | Role::Admin);
    if !allowed {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Links are revoked by their creator, the client admin or a PM.").into());
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE data_room_links SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL").bind(now).bind(who.user_id.clone()).bind(link_id.to_string()).execute(&mut *tx).await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&org), "data_room.link_revoke", "data_room_link", link_id, serde_json::json!({ "project_id": project, "delivery_id": delivery }))).await?;
    tx.commit().await?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {LINK_COLUMNS} FROM data_room_links l LEFT JOIN delivery_files f ON f.id = l.file_id WHERE l.id = $1"))).bind(link_id.to_string()).fetch_one(&db.pool).await?;
    link_from_row(&r, now)
}

/// Where a served file's bytes come from.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// An encrypted blob under the project's data key.
    Blob { key_scope: String, blob_id: String },
    /// Small certifying files kept in the database.
    Bytes(Vec<u8>),
}

/// A file as the server streams it.
#[derive(Debug, Clone)]
pub struct ServedFile {
    pub id: String,
    pub path: String,
    pub media_type: String,
    pub size: u64,
    /// Strong validator for `ETag` / `If-Range`.
    pub sha256: String,
    pub crc32: u32,
    pub source: FileSource,
}

fn served_file(f: &AnyRow, project_id: &str) -> Result<ServedFile, StoreError> {
    Ok(ServedFile {
        id: f.try_get("id")?,
        path: f.try_get("path")?,
        media_type: f.try_get("media_type")?,
        size: f.try_get::<i64, _>("size")? as u64,
        sha256: f.try_get("sha256")?,
        crc32: f.try_get::<i64, _>("crc32")? as u32,
        source: FileSource::Blob { key_scope: projects::key_scope(project_id), blob_id: f.try_get("blob_id")? },
    })
}

fn bytes_file(path: &str, media_type: &str, bytes: Vec<u8>) -> ServedFile {
    ServedFile {
        id: path.to_string(),
        path: path.to_string(),
        media_type: media_type.to_string(),
        size: bytes.len() as u64,
        sha256: clinlabel_delivery::manifest::sha256_hex(&bytes),
        crc32: clinlabel_delivery::zip::crc32(&bytes),
        source: FileSource::Bytes(bytes),
    }
}

/// What a link serves.
#[derive(Debug, Clone)]
pub struct Download {
    pub link_id: String,
    pub delivery_id: String,
    pub project_id: String,
    pub org_id: String,
    pub folder: String,
    pub built_at: i64,
    pub manifest_sha256: String,
    /// Every file of the delivery (certifying files first), or the one file of a per-file link.
    pub files: Vec<ServedFile>,
    /// Whether the link is for the whole delivery.
    pub whole: bool,
}

/// Resolves a link for a signed-in caller: unknown → not found; revoked or
/// expired → `link_gone` (410); no download right → forbidden.
pub async fn resolve_link(db: &Db, keyring: &Keyring, who: &Principal, token: &str) -> Result<Download, StoreError> {
    let l = sqlx::query("SELECT id, delivery_id, file_id, expires_at, revoked_at FROM data_room_links WHERE token_hash = $1")
        .bind(token_hash(token))
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let delivery: String = l.try_get("delivery_id")?;
    // Visibility first: a link of another organisation's delivery is not found.
    let (r, org) = visible_delivery(db, who, &delivery).await?;
    let revoked: Option<i64> = l.try_get("revoked_at")?;
    let expires: i64 = l.try_get("expires_at")?;
    if revoked.is_some() || expires <= now_ms() {
        return Err(DomainError::new(ErrorCode::LinkGone).with_details(serde_json::json!({ "status": if revoked.is_some() { "revoked" } else { "expired" } })).into());
    }
    let (_, _, project) = download_right(db, who, &delivery).await?;
    let file_id: Option<String> = l.try_get("file_id")?;
    let rows = sqlx::query("SELECT id, path, media_type, blob_id, size, sha256, crc32 FROM delivery_files WHERE delivery_id = $1 ORDER BY seq").bind(delivery.clone()).fetch_all(&db.pool).await?;
    let mut files = Vec::new();
    if file_id.is_none() {
        let d = sqlx::query("SELECT manifest, manifest_sig, certification, certification_sig FROM deliveries WHERE id = $1").bind(delivery.clone()).fetch_one(&db.pool).await?;
        let text = |c: &str| -> Result<String, StoreError> { d.try_get::<Option<String>, _>(c)?.ok_or_else(|| internal(format!("certified delivery without {c}"))) };
        let manifest = text("manifest")?;
        let m: Manifest = serde_json::from_str(&manifest).map_err(internal)?;
        use clinlabel_delivery::manifest::{CERTIFICATION, CERTIFICATION_SIG, MANIFEST, MANIFEST_SIG, PUBLIC_KEY_PEM};
        files.push(bytes_file(MANIFEST, "application/json", manifest.into_bytes()));
        files.push(bytes_file(MANIFEST_SIG, "application/octet-stream", hex::decode(text("manifest_sig")?).map_err(internal)?));
        files.push(bytes_file(CERTIFICATION, "application/json", text("certification")?.into_bytes()));
        files.push(bytes_file(CERTIFICATION_SIG, "application/octet-stream", hex::decode(text("certification_sig")?).map_err(internal)?));
        files.push(bytes_file(PUBLIC_KEY_PEM, "application/x-pem-file", m.signing_key.pem().into_bytes()));
        let _ = keyring;
    }
    for f in &rows {
        let id: String = f.try_get("id")?;
        if file_id.as_ref().is_none_or(|x| *x == id) {
            files.push(served_file(f, &project)?);
        }
    }
    let name: String = r.try_get("project_name")?;
    Ok(Download {
        link_id: l.try_get("id")?,
        delivery_id: delivery,
        project_id: project,
        org_id: org,
        folder: clinlabel_delivery::folder_name(&name, r.try_get("version")?),
        built_at: r.try_get::<Option<i64>, _>("built_at")?.unwrap_or(0),
        manifest_sha256: r.try_get::<Option<String>, _>("manifest_sha256")?.unwrap_or_default(),
        whole: file_id.is_none(),
        files,
    })
}

/// Logs a download (who, when, what, which bytes) and audits it.
pub async fn record_download(db: &Db, who: &Principal, d: &Download, file: Option<&ServedFile>, range: Option<(u64, u64)>) -> Result<(), StoreError> {
    let what = file.map(|f| f.path.clone()).unwrap_or_else(|| format!("{}.zip", d.folder));
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO delivery_downloads (id, delivery_id, link_id, file_id, user_id, what, range_start, range_end, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(new_id())
        .bind(d.delivery_id.clone())
        .bind(d.link_id.clone())
        .bind(file.map(|f| f.id.clone()))
        .bind(who.user_id.clone())
        .bind(what.clone())
        .bind(range.map(|r| r.0 as i64))
        .bind(range.map(|r| r.1 as i64))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &audit::event(
            Some(who),
            Some(&d.org_id),
            "data_room.download",
            "delivery",
            &d.delivery_id,
            serde_json::json!({ "project_id": d.project_id, "link_id": d.link_id, "what": what, "range": range.map(|r| [r.0, r.1]) }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A logged download as the data room shows it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct DownloadEvent {
    pub at: i64,
    pub user_id: String,
    pub user_name: String,
    pub what: String,
    pub range_start: Option<i64>,
    pub range_end: Option<i64>,
    pub link_id: String,
}

/// The download log of a delivery, newest first (callers with the download right).
pub async fn downloads(db: &Db, who: &Principal, delivery_id: &str) -> Result<Vec<DownloadEvent>, StoreError> {
    download_right(db, who, delivery_id).await?;
    let rows = sqlx::query("SELECT d.at, d.user_id, u.name, d.what, d.range_start, d.range_end, d.link_id FROM delivery_downloads d JOIN users u ON u.id = d.user_id WHERE d.delivery_id = $1 ORDER BY d.at DESC, d.id LIMIT 500")
        .bind(delivery_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok(DownloadEvent { at: r.try_get("at")?, user_id: r.try_get("user_id")?, user_name: r.try_get("name")?, what: r.try_get("what")?, range_start: r.try_get("range_start")?, range_end: r.try_get("range_end")?, link_id: r.try_get("link_id")? }))
        .collect()
}

/// A client member's download right on a project.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Downloader {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub granted_by: String,
    pub granted_at: i64,
}

async fn client_admin_of(db: &Db, who: &Principal, project_id: &str) -> Result<String, StoreError> {
    let (org, _) = {
        let mut conn = db.pool.acquire().await?;
        projects::visible(&mut conn, who, project_id).await?
    };
    if !(who.role == Role::ClientAdmin && who.org_id == org) && who.role != Role::Admin {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Download rights are granted by the client admin.").into());
    }
    Ok(org)
}

/// Client members holding the download right on a project.
pub async fn downloaders(db: &Db, who: &Principal, project_id: &str) -> Result<Vec<Downloader>, StoreError> {
    client_admin_of(db, who, project_id).await?;
    let rows = sqlx::query("SELECT g.user_id, u.name, u.email, g.granted_by, g.granted_at FROM data_room_downloaders g JOIN users u ON u.id = g.user_id WHERE g.project_id = $1 ORDER BY u.name, u.id")
        .bind(project_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|r| Ok(Downloader { user_id: r.try_get("user_id")?, name: r.try_get("name")?, email: r.try_get("email")?, granted_by: r.try_get("granted_by")?, granted_at: r.try_get("granted_at")? })).collect()
}

/// Grants or withdraws a client member's download right (the client admin).
pub async fn set_downloader(db: &Db, who: &Principal, project_id: &str, user_id: &str, grant: bool) -> Result<(), StoreError> {
    let org = client_admin_of(db, who, project_id).await?;
    let u = sqlx::query("SELECT org_id, role FROM users WHERE id = $1").bind(user_id.to_string()).fetch_optional(&db.pool).await?.ok_or(ErrorCode::NotFound)?;
    let (uorg, role): (String, String) = (u.try_get("org_id")?, u.try_get("role")?);
    if uorg != org {
        return Err(ErrorCode::NotFound.into());
    }
    if role != Role::ClientMember.as_str() {
        return Err(DomainError::field("user_id", "download rights are granted to client members (client admins always have them)").into());
    }
    let mut tx = db.begin_write().await?;
    if grant {
        sqlx::query("INSERT INTO data_room_downloaders (project_id, user_id, granted_by, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, user_id) DO NOTHING")
            .bind(project_id.to_string())
            .bind(user_id.to_string())
            .bind(who.user_id.clone())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query("DELETE FROM data_room_downloaders WHERE project_id = $1 AND user_id = $2").bind(project_id.to_string()).bind(user_id.to_string()).execute(&mut *tx).await?;
    }
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&org), if grant { "data_room.grant" } else { "data_room.withdraw" }, "user", user_id, serde_json::json!({ "project_id": project_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// -- benchmark world -------------------------------------------------------------------------

/// The world of `clinlabel bench delivery`: a project in progress whose
/// `items` items each have `overlap` accepted annotations (from 20 taskers,
/// a tenth reworked once), in approved batches of 50, with gold results and
/// tier reviews; seeded with set-based SQL. Returns (project id, the PM).
pub async fn seed_bench(db: &Db, keyring: &Keyring, items: i64, overlap: i64) -> Result<(String, Principal), StoreError> {
    use clinlabel_domain::OrgKind;
    crate::tracks::ensure_defaults(db).await?;
    let admin = crate::auth::create_user_system(db, None, "bench-admin@clinlabel.test", "Bench admin", Role::Admin, Secret::new("bench-password-not-used".into())).await?;
    let admin = Principal { user_id: admin.id, org_id: admin.org_id, role: Role::Admin };
    let client_org = crate::orgs::create(db, &admin, "Bench client", OrgKind::Client).await?;
    let mk = |email: &str, name: &str, role: Role, org: &str| crate::users::NewUser { org_id: org.to_string(), email: email.into(), name: name.into(), role, password: Secret::new("bench-password-not-used".into()) };
    let client = crate::users::create(db, &admin, mk("bench-client@clinlabel.test", "Bench client", Role::ClientAdmin, &client_org.id)).await?;
    let client = Principal { user_id: client.id, org_id: client_org.id, role: Role::ClientAdmin };
    let pm = crate::users::create(db, &admin, mk("bench-pm@clinlabel.test", "Bench PM", Role::Pm, &admin.org_id)).await?;
    let pm = Principal { user_id: pm.id, org_id: admin.org_id.clone(), role: Role::Pm };
    let qa = crate::users::create(db, &admin, mk("bench-qa@clinlabel.test", "Bench QA", Role::QaReviewer, &admin.org_id)).await?;
    let track = crate::tracks::list(db, &admin, false).await?.into_iter().find(|t| t.slug == "clinical-nlp").ok_or_else(|| internal("no clinical-nlp track"))?;
    let deadline = now_ms() + 90 * 86_400_000;
    let spec: Spec = serde_json::from_value(serde_json::json!({
        "name": "Delivery benchmark", "modality": "text", "task_types": ["classification"],
        "schema": { "questions": [
            { "id": "specialty", "text": "Clinical specialty", "kind": "single", "options": [{ "id": "cardiology", "name": "Cardiology" }, { "id": "oncology", "name": "Oncology" }, { "id": "neurology", "name": "Neurology" }] },
            { "id": "urgent", "text": "Urgent follow-up", "kind": "single", "options": [{ "id": "yes", "name": "Yes" }, { "id": "no", "name": "No" }] }
        ] },
        "output_formats": ["native_jsonl"], "deadline": deadline, "track_id": track.id, "overlap": overlap, "gold_rate": 0.0,
        "qa": { "tier1": true, "tier2_sampling_pct": 10, "tier3_spot_check_pct": 5, "quality_threshold": 0.5 }
    }))
    .map_err(internal)?;
    let project = projects::create(db, keyring, &client, spec).await?;
    let p = project.id.clone();
    for i in 0..20 {
        sqlx::query("INSERT INTO users (id, org_id, email, name, role, password_hash, disabled, created_at, password_changed_at) VALUES ($1, $2, $3, $4, 'tasker', 'x', 0, 0, 0)")
            .bind(format!("bench-dlv-tasker-{i}"))
            .bind(admin.org_id.clone())
            .bind(format!("bench-dlv-tasker-{i}@clinlabel.test"))
            .bind(format!("Bench tasker {i}"))
            .execute(&db.pool)
            .await?;
    }
    let file_id = new_id();
    sqlx::query("INSERT INTO files (id, project_id, name, sha256, size, blob_id, media_type, purpose, status, items, uploaded_by, created_at) VALUES ($1, $2, 'notes.jsonl', $3, 0, 'bench', 'application/jsonl', 'data', 'accepted', $4, $5, 0)")
        .bind(file_id.clone())
        .bind(p.clone())
        .bind(new_id())
        .bind(items)
        .bind(client.user_id.clone())
        .execute(&db.pool)
        .await?;
    let t0 = now_ms() - 20 * 86_400_000;
    let seq = "WITH RECURSIVE seq(n) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < CAST($1 AS BIGINT))";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{seq} INSERT INTO batches (id, project_id, seq, state, decided_by, decided_at, created_at) SELECT 'bench-batch-' || CAST(n AS TEXT), $2, n, 'approved', $3, $4, 0 FROM seq"
    )))
    .bind((items + 49) / 50)
    .bind(p.clone())
    .bind(qa.id.clone())
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{seq} INSERT INTO items (id, project_id, file_id, seq, kind, byte_start, byte_end, meta, created_at, batch_id) \
         SELECT 'bench-item-' || CAST(n AS TEXT), $2, $3, n, 'note', n * 400, n * 400 + 400, '{{\"id\":\"note-' || CAST(n AS TEXT) || '\"}}', 0, 'bench-batch-' || CAST(n / 50 AS TEXT) FROM seq"
    )))
    .bind(items)
    .bind(p.clone())
    .bind(file_id)
    .execute(&db.pool)
    .await?;
    let options = ["cardiology", "oncology", "neurology"];
    for k in 0..overlap {
        // Annotator k of item n is tasker (n + 7k) mod 20; mostly agreeing answers, a tenth reworked once.
        let body = format!(
            "'{{\"answers\":{{\"specialty\":[\"' || CASE WHEN (n * 7 + {k} * 3) % 10 = 0 THEN '{}' WHEN n % 3 = 0 THEN '{}' WHEN n % 3 = 1 THEN '{}' ELSE '{}' END || '\"],\"urgent\":[\"' || CASE WHEN (n + {k}) % 5 = 0 THEN 'yes' ELSE 'no' END || '\"]}}}}'",
            options[(k as usize + 1) % 3],
            options[0],
            options[1],
            options[2]
        );
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{seq} INSERT INTO annotations (id, project_id, item_id, task_id, author_id, round, body, stage, tier2, gold, score, created_at, updated_at) \
             SELECT 'bench-ann-' || CAST(n AS TEXT) || '-{k}', $2, 'bench-item-' || CAST(n AS TEXT), 'bench-task', 'bench-dlv-tasker-' || CAST((n + 7 * {k}) % 20 AS TEXT), \
                    CASE WHEN n % 10 = {k} THEN 1 ELSE 0 END, {body}, 'accepted', 0, 0, NULL, $3 + n * 1000, $3 + n * 1000 + (n % 19) * 86400000 / 19 FROM seq"
        )))
        .bind(items)
        .bind(p.clone())
        .bind(t0)
        .execute(&db.pool)
        .await?;
    }
    // Gold results (one per 100 items) and tier reviews (one per 10 annotations).
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{seq} INSERT INTO gold_results (id, user_id, track_id, project_id, item_id, score, at) \
         SELECT 'bench-gold-' || CAST(n AS TEXT), 'bench-dlv-tasker-' || CAST(n % 20 AS TEXT), $2, $3, 'gold', CASE WHEN n % 7 = 0 THEN 0.5 ELSE 1.0 END, $4 + n * 100000 FROM seq"
    )))
    .bind(items / 100)
    .bind(track.id.clone())
    .bind(p.clone())
    .bind(t0)
    .execute(&db.pool)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{seq} INSERT INTO reviews (id, annotation_id, task_id, tier, round, reviewer_id, decision, comments, overall, created_at) \
         SELECT 'bench-rev-' || CAST(n AS TEXT), 'bench-ann-' || CAST(n * 10 AS TEXT) || '-0', 'bench-task', 1 + n % 3, 0, $2, CASE WHEN n % 9 = 0 THEN 'reject' ELSE 'accept' END, '[]', NULL, $3 + n FROM seq"
    )))
    .bind(items / 10)
    .bind(qa.id.clone())
    .bind(t0)
    .execute(&db.pool)
    .await?;
    sqlx::query("UPDATE projects SET state = 'in_progress' WHERE id = $1").bind(p.clone()).execute(&db.pool).await?;
    sqlx::query("ANALYZE").execute(&db.pool).await?;
    Ok((p, pm))
}
