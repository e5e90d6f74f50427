//! Projects (lifecycle steps 1–2): the specification, its state, quotes and
//! the rate card.
//!
//! Visibility: client roles see their organisation's projects; PMs, QA
//! reviewers and administrators see all; taskers see none (they see tasks).
//! invariant: the guidelines are stored encrypted under the project's data key.
//! invariant: a state change goes through `clinlabel_domain::project::transition`
//! and is audited in its transaction, with the quote it concerns.

use crate::audit;
use crate::db::{Db, Tx, new_id, now_ms};
use crate::{Page, Paged, StoreError};
use clinlabel_crypto::{DataKey, Keyring};
use clinlabel_domain::pricing::{self, Pricing, QuoteInput, RateCard};
use clinlabel_domain::project::{Modality, ProjectState, Spec, Step, transition};
use clinlabel_domain::{DomainError, ErrorCode, Principal, Role};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Project {
    pub id: String,
    pub org_id: String,
    pub state: ProjectState,
    pub spec: Spec,
    /// Increases with every change of the specification.
    pub spec_version: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Accepted dataset items so far.
    pub items: i64,
}

/// One line of the project list.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct ProjectSummary {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub modality: Modality,
    pub state: ProjectState,
    pub deadline: i64,
    pub track_id: String,
    pub updated_at: i64,
}

/// The data-key scope of a project.
pub fn key_scope(project_id: &str) -> String {
    format!("project-{project_id}")
}

fn guidelines_blob_id(project_id: &str, version: i64) -> String {
    format!("guidelines-{project_id}-{version}")
}

fn may_see_all(who: &Principal) -> bool {
    matches!(who.role, Role::Admin | Role::Pm | Role::QaReviewer)
}

fn is_client(who: &Principal) -> bool {
    matches!(who.role, Role::ClientAdmin | Role::ClientMember)
}

async fn track_active(tx: &mut sqlx::AnyConnection, track_id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT 1 AS x FROM tracks WHERE id = $1 AND active = 1").bind(track_id.to_string()).fetch_optional(&mut *tx).await?.is_some())
}

fn spec_json(spec: &Spec) -> Result<String, StoreError> {
    let mut v = serde_json::to_value(spec).map_err(|e| StoreError::Internal(e.to_string()))?;
    v.as_object_mut().expect("a spec is an object").remove("guidelines");
    Ok(v.to_string())
}

/// Creates a project in the caller's organisation, in `draft` (client roles).
pub async fn create(db: &Db, keyring: &Keyring, who: &Principal, spec: Spec) -> Result<Project, StoreError> {
    if !is_client(who) {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Projects are created by client organisations.").into());
    }
    let id = new_id();
    let key = crate::keys::data_key(db, keyring, &key_scope(&id)).await?;
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    spec.validate(now, track_active(&mut tx, &spec.track_id).await?)?;
    let guidelines = clinlabel_crypto::encrypt_all(&key, &guidelines_blob_id(&id, 1), spec.guidelines.as_bytes())
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO projects (id, org_id, name, modality, state, spec, spec_version, guidelines, track_id, deadline, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'draft', $5, 1, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id.clone())
    .bind(who.org_id.clone())
    .bind(spec.name.clone())
    .bind(spec.modality.as_str())
    .bind(spec_json(&spec)?)
    .bind(guidelines)
    .bind(spec.track_id.clone())
    .bind(spec.deadline)
    .bind(who.user_id.clone())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&who.org_id), "project.create", "project", &id, serde_json::json!({ "modality": spec.modality, "spec_version": 1 })))
        .await?;
    tx.commit().await?;
    get(db, keyring, who, &id).await
}

async fn load(ex: &mut sqlx::AnyConnection, who: &Principal, id: &str) -> Result<AnyRow, StoreError> {
    let row = sqlx::query("SELECT id, org_id, state, spec, spec_version, guidelines, created_by, created_at, updated_at FROM projects WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *ex)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let org: String = row.try_get("org_id")?;
    let visible = may_see_all(who) || (is_client(who) && who.org_id == org);
    if !visible {
        return Err(ErrorCode::NotFound.into());
    }
    Ok(row)
}

fn state_of(row: &AnyRow) -> Result<ProjectState, StoreError> {
    let s: String = row.try_get("state")?;
    ProjectState::parse(&s).ok_or_else(|| StoreError::Internal(format!("unknown project state {s}")))
}

/// The specification from its stored JSON (kept without the guidelines,
/// which are stored encrypted) and the guidelines to put back in.
pub(crate) fn stored_spec(text: &str, guidelines: String) -> Result<Spec, StoreError> {
    let mut spec: serde_json::Value = serde_json::from_str(text).map_err(|e| StoreError::Internal(e.to_string()))?;
    spec["guidelines"] = serde_json::Value::String(guidelines);
    serde_json::from_value(spec).map_err(|e| StoreError::Internal(e.to_string()))
}

fn project_from_row(row: &AnyRow, key: &DataKey, items: i64) -> Result<Project, StoreError> {
    let id: String = row.try_get("id")?;
    let version: i64 = row.try_get("spec_version")?;
    let sealed: Vec<u8> = row.try_get("guidelines")?;
    let guidelines = clinlabel_crypto::decrypt_all(key, &guidelines_blob_id(&id, version), &sealed).map_err(|e| StoreError::Internal(format!("guidelines of {id}: {e}")))?;
    let guidelines = String::from_utf8(guidelines).map_err(|e| StoreError::Internal(e.to_string()))?;
    let spec = stored_spec(&row.try_get::<String, _>("spec")?, guidelines)?;
    Ok(Project {
        id,
        org_id: row.try_get("org_id")?,
        state: state_of(row)?,
        spec,
        spec_version: version,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        items,
    })
}

async fn item_count(ex: &mut sqlx::AnyConnection, id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM items WHERE project_id = $1").bind(id.to_string()).fetch_one(&mut *ex).await?.try_get("n")?)
}

/// One project the caller may see.
pub async fn get(db: &Db, keyring: &Keyring, who: &Principal, id: &str) -> Result<Project, StoreError> {
    let mut conn = db.pool.acquire().await?;
    let row = load(&mut conn, who, id).await?;
    let items = item_count(&mut conn, id).await?;
    drop(conn);
    let key = crate::keys::data_key(db, keyring, &key_scope(id)).await?;
    project_from_row(&row, &key, items)
}

/// Specifications of projects whose specification is locked (approved and
/// later), which never change again: the task views of a running project
/// read them from here instead of decrypting the guidelines every time.
static LOCKED_SPECS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Spec>>>> =
    std::sync::LazyLock::new(Default::default);

/// The specification (with guidelines) of a project, for code that already
/// established the caller's right to it (e.g. the holder of one of its tasks).
pub(crate) async fn spec_for_task(db: &Db, keyring: &Keyring, id: &str) -> Result<std::sync::Arc<Spec>, StoreError> {
    if let Some(s) = LOCKED_SPECS.lock().expect("spec cache").get(id) {
        return Ok(s.clone());
    }
    let row = sqlx::query("SELECT id, org_id, state, spec, spec_version, guidelines, created_by, created_at, updated_at FROM projects WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let key = crate::keys::data_key(db, keyring, &key_scope(id)).await?;
    let spec = std::sync::Arc::new(project_from_row(&row, &key, 0)?.spec);
    if !state_of(&row)?.spec_editable() {
        LOCKED_SPECS.lock().expect("spec cache").insert(id.to_string(), spec.clone());
    }
    Ok(spec)
}

/// Checks that the caller may see the project and returns its organisation and state.
pub async fn visible(ex: &mut sqlx::AnyConnection, who: &Principal, id: &str) -> Result<(String, ProjectState), StoreError> {
    let row = load(ex, who, id).await?;
    Ok((row.try_get("org_id")?, state_of(&row)?))
}

#[derive(Debug, Clone, Default)]
pub struct ProjectQuery {
    pub state: Option<ProjectState>,
    pub org_id: Option<String>,
}

/// The projects the caller may see, most recently changed first.
pub async fn list(db: &Db, who: &Principal, q: &ProjectQuery, page: Page) -> Result<Paged<ProjectSummary>, StoreError> {
    let org = if may_see_all(who) {
        q.org_id.clone()
    } else if is_client(who) {
        match &q.org_id {
            Some(o) if o != &who.org_id => return Err(ErrorCode::NotFound.into()),
            _ => Some(who.org_id.clone()),
        }
    } else {
        return Err(ErrorCode::Forbidden.into());
    };
    let cast = if db.backend() == crate::Backend::Postgres { "::TEXT" } else { "" };
    let filter = format!("WHERE ($1{cast} IS NULL OR org_id = $1) AND ($2{cast} IS NULL OR state = $2)");
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM projects {filter}")))
        .bind(org.clone())
        .bind(q.state.map(|s| s.as_str()))
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, org_id, name, modality, state, deadline, track_id, updated_at FROM projects {filter} ORDER BY updated_at DESC, id LIMIT $3 OFFSET $4"
    )))
    .bind(org)
    .bind(q.state.map(|s| s.as_str()))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&db.pool)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            let m: String = r.try_get("modality")?;
            Ok(ProjectSummary {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                name: r.try_get("name")?,
                modality: Modality::parse(&m).ok_or_else(|| StoreError::Internal(format!("modality {m}")))?,
                state: state_of(r)?,
                deadline: r.try_get("deadline")?,
                track_id: r.try_get("track_id")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Paged { items, total })
}

/// Replaces the specification (client roles of the project's organisation,
/// while it is editable). A quoted project goes back to `submitted`: the PM
/// must quote the changed specification again.
pub async fn update_spec(db: &Db, keyring: &Keyring, who: &Principal, id: &str, spec: Spec) -> Result<Project, StoreError> {
    let key = crate::keys::data_key(db, keyring, &key_scope(id)).await?;
    let mut tx = db.begin_write().await?;
    let row = load(&mut tx, who, id).await?;
    if !is_client(who) {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Only the client changes a specification.").into());
    }
    let state = state_of(&row)?;
    if !state.spec_editable() {
        return Err(ErrorCode::SpecLocked.into());
    }
    let now = now_ms();
    spec.validate(now, track_active(&mut tx, &spec.track_id).await?)?;
    let version: i64 = row.try_get::<i64, _>("spec_version")? + 1;
    let new_state = if state == ProjectState::Quoted { ProjectState::Submitted } else { state };
    let guidelines = clinlabel_crypto::encrypt_all(&key, &guidelines_blob_id(id, version), spec.guidelines.as_bytes()).map_err(|e| StoreError::Internal(e.to_string()))?;
    sqlx::query("UPDATE projects SET name = $1, modality = $2, spec = $3, spec_version = $4, guidelines = $5, track_id = $6, deadline = $7, state = $8, updated_at = $9 WHERE id = $10")
        .bind(spec.name.clone())
        .bind(spec.modality.as_str())
        .bind(spec_json(&spec)?)
        .bind(version)
        .bind(guidelines)
        .bind(spec.track_id.clone())
        .bind(spec.deadline)
        .bind(new_state.as_str())
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    let superseded = sqlx::query("UPDATE quotes SET status = 'superseded' WHERE project_id = $1 AND status = 'proposed'").bind(id.to_string()).execute(&mut *tx).await?.rows_affected();
    let org: String = row.try_get("org_id")?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&org), "project.spec_update", "project", id, serde_json::json!({ "spec_version": version, "state": new_state, "quotes_superseded": superseded })),
    )
    .await?;
    tx.commit().await?;
    get(db, keyring, who, id).await
}

/// Takes a lifecycle step other than quoting (see [`issue_quote`]) and
/// approving/rejecting (see [`decide_quote`]).
pub async fn step(db: &Db, keyring: &Keyring, who: &Principal, id: &str, step: Step, comment: Option<&str>) -> Result<Project, StoreError> {
    if matches!(step, Step::Quote | Step::Approve | Step::Reject) {
        return Err(DomainError::new(ErrorCode::InvalidField)
            .with_message("Quote through POST /projects/{id}/quotes; approve or reject through the quote.")
            .with_details(serde_json::json!({ "field": "step" }))
            .into());
    }
    let mut tx = db.begin_write().await?;
    let row = load(&mut tx, who, id).await?;
    let from = state_of(&row)?;
    let to = transition(from, step, who.role)?;
    if step == Step::Submit && item_count(&mut tx, id).await? == 0 {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message("Upload data before submitting: the project has no items yet.").into());
    }
    set_state(&mut tx, who, &row, from, to, step, comment, None).await?;
    if step == Step::Start {
        let spec = stored_spec(&row.try_get::<String, _>("spec")?, String::new())?;
        let (batches, tasks) = crate::tasks::queue_project(&mut tx, id, &spec).await?;
        audit::append(&mut tx, &audit::event(Some(who), None, "project.queue", "project", id, serde_json::json!({ "batches": batches, "tasks": tasks }))).await?;
    }
    tx.commit().await?;
    get(db, keyring, who, id).await
}

#[allow(clippy::too_many_arguments)]
async fn set_state(tx: &mut Tx, who: &Principal, row: &AnyRow, from: ProjectState, to: ProjectState, step: Step, comment: Option<&str>, quote_id: Option<&str>) -> Result<(), StoreError> {
    let id: String = row.try_get("id")?;
    let org: String = row.try_get("org_id")?;
    sqlx::query("UPDATE projects SET state = $1, updated_at = $2 WHERE id = $3").bind(to.as_str()).bind(now_ms()).bind(id.clone()).execute(&mut **tx).await?;
    let mut details = serde_json::json!({ "from": from, "to": to });
    if let Some(q) = quote_id {
        details["quote_id"] = serde_json::json!(q);
    }
    if comment.is_some() {
        // The comment itself is on the quote or project record, not in the trail.
        details["comment_given"] = serde_json::json!(true);
    }
    audit::append(tx, &audit::event(Some(who), Some(&org), &format!("project.{}", step.as_str()), "project", &id, details)).await?;
    Ok(())
}

// -- rate card and quotes -----------------------------------------------------------

/// The rate card in force (the default until an administrator saves one).
pub async fn rate_card(db: &Db) -> Result<RateCard, StoreError> {
    let row = sqlx::query("SELECT card FROM rate_card WHERE id = 1").fetch_optional(&db.pool).await?;
    match row {
        Some(r) => serde_json::from_str(&r.try_get::<String, _>("card")?).map_err(|e| StoreError::Internal(e.to_string())),
        None => Ok(RateCard::default_card()),
    }
}

/// Replaces the rate card (administrators).
pub async fn save_rate_card(db: &Db, who: &Principal, card: &RateCard) -> Result<(), StoreError> {
    if who.role != Role::Admin {
        return Err(ErrorCode::Forbidden.into());
    }
    card.validate()?;
    let text = serde_json::to_string(card).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO rate_card (id, card, updated_at) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET card = excluded.card, updated_at = excluded.updated_at")
        .bind(text)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), None, "rate_card.update", "rate_card", "1", serde_json::json!({ "rates": card.rates.len(), "currency": card.currency }))).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a track's rate multiplier (administrators).
pub async fn set_track_multiplier(db: &Db, who: &Principal, track_id: &str, multiplier: f64) -> Result<(), StoreError> {
    if who.role != Role::Admin {
        return Err(ErrorCode::Forbidden.into());
    }
    if !(multiplier.is_finite() && (0.1..=10.0).contains(&multiplier)) {
        return Err(DomainError::field("rate_multiplier", "must be between 0.1 and 10").into());
    }
    let mut tx = db.begin_write().await?;
    let n = sqlx::query("UPDATE tracks SET rate_multiplier = $1 WHERE id = $2").bind(multiplier).bind(track_id.to_string()).execute(&mut *tx).await?.rows_affected();
    if n == 0 {
        return Err(ErrorCode::NotFound.into());
    }
    audit::append(&mut tx, &audit::event(Some(who), None, "track.rate_multiplier", "track", track_id, serde_json::json!({ "rate_multiplier": multiplier }))).await?;
    tx.commit().await?;
    Ok(())
}

/// What the pricing model needs, read from the database.
async fn quote_input(ex: &mut sqlx::AnyConnection, project: &Project) -> Result<QuoteInput, StoreError> {
    let stats = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CAST(byte_end - byte_start AS BIGINT)), 0) AS BIGINT) AS bytes FROM items WHERE project_id = $1",
    )
    .bind(project.id.clone())
    .fetch_one(&mut *ex)
    .await?;
    let items: i64 = stats.try_get("n")?;
    let bytes: i64 = stats.try_get("bytes")?;
    let track = sqlx::query("SELECT name, rate_multiplier FROM tracks WHERE id = $1").bind(project.spec.track_id.clone()).fetch_one(&mut *ex).await?;
    let now = now_ms();
    let certified: i64 = sqlx::query("SELECT COUNT(*) AS n FROM certifications WHERE track_id = $1 AND status = 'active' AND expires_at > $2")
        .bind(project.spec.track_id.clone())
        .bind(now)
        .fetch_one(&mut *ex)
        .await?
        .try_get("n")?;
    let mean = |total: i64| if items > 0 { Some(total as f64 / items as f64) } else { None };
    Ok(QuoteInput {
        modality: project.spec.modality,
        task_types: project.spec.task_types.clone(),
        items,
        overlap: project.spec.overlap,
        schema_size: project.spec.schema.size(),
        // Characters are approximated by bytes for the price; offsets elsewhere are exact.
        mean_chars: (project.spec.modality == Modality::Text).then(|| mean(bytes)).flatten(),
        mean_frames: None,
        specialty_multiplier: track.try_get("rate_multiplier")?,
        track_name: track.try_get("name")?,
        certified_taskers: certified.max(0) as u32,
        now,
        deadline: project.spec.deadline,
        qa: project.spec.qa.clone(),
    })
}

/// A quote as stored.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Quote {
    pub id: String,
    pub project_id: String,
    pub spec_version: i64,
    pub pricing: Pricing,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub client_comment: Option<String>,
}

fn quote_from_row(r: &AnyRow) -> Result<Quote, StoreError> {
    let pricing: String = r.try_get("pricing")?;
    Ok(Quote {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        spec_version: r.try_get("spec_version")?,
        pricing: serde_json::from_str(&pricing).map_err(|e| StoreError::Internal(e.to_string()))?,
        status: r.try_get("status")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        client_comment: r.try_get("client_comment")?,
    })
}

const QUOTE_COLUMNS: &str = "id, project_id, spec_version, pricing, status, created_by, created_at, decided_by, decided_at, client_comment";

/// A PM's adjustment of one line, with its reason.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    pub amount_cents: i64,
    pub reason: String,
}

/// What the pricing model proposes now, without saving (PMs, administrators).
pub async fn preview_quote(db: &Db, keyring: &Keyring, who: &Principal, id: &str) -> Result<Pricing, StoreError> {
    if !matches!(who.role, Role::Pm | Role::Admin) {
        return Err(ErrorCode::Forbidden.into());
    }
    let project = get(db, keyring, who, id).await?;
    let card = rate_card(db).await?;
    let mut conn = db.pool.acquire().await?;
    let input = quote_input(&mut conn, &project).await?;
    Ok(pricing::price(&card, &input)?)
}

/// Prices the current specification, applies the PM's adjustments, stores the
/// quote and moves the project to `quoted` (PMs, administrators).
pub async fn issue_quote(db: &Db, keyring: &Keyring, who: &Principal, id: &str, adjustments: &[Adjustment]) -> Result<Quote, StoreError> {
    let project = get(db, keyring, who, id).await?;
    let card = rate_card(db).await?;
    let mut tx = db.begin_write().await?;
    let row = load(&mut tx, who, id).await?;
    let from = state_of(&row)?;
    let to = transition(from, Step::Quote, who.role)?;
    let input = quote_input(&mut tx, &project).await?;
    let mut priced = pricing::price(&card, &input)?;
    for a in adjustments {
        priced = pricing::adjust(priced, a.amount_cents, &a.reason)?;
    }
    sqlx::query("UPDATE quotes SET status = 'superseded' WHERE project_id = $1 AND status = 'proposed'").bind(id.to_string()).execute(&mut *tx).await?;
    let quote_id = new_id();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO quotes (id, project_id, spec_version, pricing, total_cents, currency, status, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'proposed', $7, $8)"
    )))
    .bind(quote_id.clone())
    .bind(id.to_string())
    .bind(project.spec_version)
    .bind(serde_json::to_string(&priced).map_err(|e| StoreError::Internal(e.to_string()))?)
    .bind(priced.total_cents)
    .bind(priced.currency.clone())
    .bind(who.user_id.clone())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    set_state(&mut tx, who, &row, from, to, Step::Quote, None, Some(&quote_id)).await?;
    tx.commit().await?;
    get_quote(db, &quote_id).await
}

async fn get_quote(db: &Db, quote_id: &str) -> Result<Quote, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {QUOTE_COLUMNS} FROM quotes WHERE id = $1"))).bind(quote_id.to_string()).fetch_one(&db.pool).await?;
    quote_from_row(&row)
}

/// A project's quotes, newest first.
pub async fn quotes(db: &Db, who: &Principal, id: &str) -> Result<Vec<Quote>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    visible(&mut conn, who, id).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {QUOTE_COLUMNS} FROM quotes WHERE project_id = $1 ORDER BY created_at DESC, id")))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(quote_from_row).collect()
}

/// The client admin approves or rejects the standing quote (with a comment).
pub async fn decide_quote(db: &Db, keyring: &Keyring, who: &Principal, id: &str, quote_id: &str, approve: bool, comment: Option<&str>) -> Result<Project, StoreError> {
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = comment
        && c.chars().count() > 2000
    {
        return Err(DomainError::field("comment", "must be at most 2,000 characters").into());
    }
    if !approve && comment.is_none() {
        return Err(DomainError::field("comment", "say why the quote is rejected").into());
    }
    let mut tx = db.begin_write().await?;
    let row = load(&mut tx, who, id).await?;
    let from = state_of(&row)?;
    let step = if approve { Step::Approve } else { Step::Reject };
    let to = transition(from, step, who.role)?;
    let q = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {QUOTE_COLUMNS} FROM quotes WHERE id = $1 AND project_id = $2")))
        .bind(quote_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let quote = quote_from_row(&q)?;
    let version: i64 = row.try_get("spec_version")?;
    if quote.status != "proposed" || quote.spec_version != version {
        return Err(ErrorCode::QuoteOutdated.into());
    }
    sqlx::query("UPDATE quotes SET status = $1, decided_by = $2, decided_at = $3, client_comment = $4 WHERE id = $5")
        .bind(if approve { "approved" } else { "rejected" })
        .bind(who.user_id.clone())
        .bind(now_ms())
        .bind(comment.map(str::to_string))
        .bind(quote_id.to_string())
        .execute(&mut *tx)
        .await?;
    set_state(&mut tx, who, &row, from, to, step, comment, Some(quote_id)).await?;
    tx.commit().await?;
    get(db, keyring, who, id).await
}

/// A project's history: its audit events, oldest first.
pub async fn history(db: &Db, who: &Principal, id: &str) -> Result<Vec<crate::audit::AuditEventView>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    visible(&mut conn, who, id).await?;
    let rows = sqlx::query("SELECT seq, at, actor_id, org_id, action, target_type, target_id, details, hash FROM audit_events WHERE target_type = 'project' AND target_id = $1 ORDER BY seq")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(crate::audit::view_from_row).collect()
}
