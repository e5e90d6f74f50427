//! Specialist tracks and certifications.
//!
//! Tracks belong to the service (not to a client organisation): every signed-in
//! user can list them (clients pick one for a project). Certifications tie a
//! tasker to a track; administrators grant, suspend, reinstate and re-date
//! them; PMs and QA reviewers see them all; a tasker sees their own.

use crate::audit;
use crate::db::{Db, new_id, now_ms};
use crate::{Page, Paged, StoreError};
use clinlabel_domain::certification::{CertificationStatus, DEFAULT_TRACKS, slug_acceptable};
use clinlabel_domain::{Action, DomainError, ErrorCode, OrgKind, Principal, Role};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// The accuracy under which a tasker's certification is suspended, unless the admin sets another.
pub const DEFAULT_ACCURACY_THRESHOLD: f64 = 0.8;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Track {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Rolling gold accuracy (0–1) under which a certification is suspended.
    pub accuracy_threshold: f64,
    pub active: bool,
    pub created_at: i64,
    /// Specialty multiplier on quotes.
    pub rate_multiplier: f64,
}

fn track_from_row(r: &AnyRow) -> Result<Track, StoreError> {
    Ok(Track {
        id: r.try_get("id")?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        accuracy_threshold: r.try_get("accuracy_threshold")?,
        active: r.try_get::<i64, _>("active")? != 0,
        created_at: r.try_get("created_at")?,
        rate_multiplier: r.try_get("rate_multiplier")?,
    })
}

const TRACK_COLUMNS: &str = "id, slug, name, description, accuracy_threshold, active, created_at";
const TRACK_SELECT: &str = "id, slug, name, description, accuracy_threshold, active, created_at, rate_multiplier";

fn validate_threshold(t: f64) -> Result<f64, DomainError> {
    if t.is_finite() && (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(DomainError::field("accuracy_threshold", "must be between 0 and 1"))
    }
}

fn validate_text(field: &str, v: &str, max: usize, allow_empty: bool) -> Result<String, DomainError> {
    let v = v.trim();
    if (!allow_empty && v.is_empty()) || v.chars().count() > max {
        return Err(DomainError::field(field, format!("must be {} to {max} characters", if allow_empty { 0 } else { 1 })));
    }
    Ok(v.to_string())
}

/// Creates the default tracks when there are none (first start).
pub async fn ensure_defaults(db: &Db) -> Result<usize, StoreError> {
    let mut tx = db.begin_write().await?;
    if sqlx::query("SELECT 1 AS x FROM tracks LIMIT 1").fetch_optional(&mut *tx).await?.is_some() {
        return Ok(0);
    }
    let now = now_ms();
    for (slug, name, description) in DEFAULT_TRACKS {
        let id = new_id();
        sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO tracks ({TRACK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6)")))
            .bind(id.clone())
            .bind(*slug)
            .bind(*name)
            .bind(*description)
            .bind(DEFAULT_ACCURACY_THRESHOLD)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        audit::append(&mut tx, &audit::event(None, None, "track.create", "track", &id, serde_json::json!({ "slug": slug, "via": "defaults" }))).await?;
    }
    tx.commit().await?;
    Ok(DEFAULT_TRACKS.len())
}

/// All tracks by name; retired ones only when asked.
pub async fn list(db: &Db, _who: &Principal, include_inactive: bool) -> Result<Vec<Track>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TRACK_SELECT} FROM tracks WHERE active = 1 OR $1 = 1 ORDER BY name, id")))
        .bind(include_inactive as i64)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(track_from_row).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Track, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TRACK_SELECT} FROM tracks WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    track_from_row(&row)
}

/// What creating a track needs.
#[derive(Debug, Clone)]
pub struct NewTrack {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub accuracy_threshold: Option<f64>,
}

pub async fn create(db: &Db, who: &Principal, new: NewTrack) -> Result<Track, StoreError> {
    if !who.may(Action::ManageTracks) {
        return Err(ErrorCode::Forbidden.into());
    }
    if !slug_acceptable(&new.slug) {
        return Err(DomainError::field("slug", "use 2–40 lower-case letters, digits and hyphens, starting with a letter").into());
    }
    let track = Track {
        id: new_id(),
        slug: new.slug,
        name: validate_text("name", &new.name, 100, false)?,
        description: validate_text("description", &new.description, 2000, true)?,
        accuracy_threshold: validate_threshold(new.accuracy_threshold.unwrap_or(DEFAULT_ACCURACY_THRESHOLD))?,
        active: true,
        created_at: now_ms(),
        rate_multiplier: 1.0,
    };
    let mut tx = db.begin_write().await?;
    if sqlx::query("SELECT 1 AS x FROM tracks WHERE slug = $1").bind(track.slug.clone()).fetch_optional(&mut *tx).await?.is_some() {
        return Err(DomainError::new(ErrorCode::TrackSlugTaken).with_details(serde_json::json!({ "field": "slug" })).into());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO tracks ({TRACK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6)")))
        .bind(track.id.clone())
        .bind(track.slug.clone())
        .bind(track.name.clone())
        .bind(track.description.clone())
        .bind(track.accuracy_threshold)
        .bind(track.created_at)
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), None, "track.create", "track", &track.id, serde_json::json!({ "slug": track.slug }))).await?;
    tx.commit().await?;
    Ok(track)
}

#[derive(Debug, Clone, Default)]
pub struct TrackPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub accuracy_threshold: Option<f64>,
    pub active: Option<bool>,
}

pub async fn update(db: &Db, who: &Principal, id: &str, patch: TrackPatch) -> Result<Track, StoreError> {
    let before = get(db, id).await?;
    if !who.may(Action::ManageTracks) {
        return Err(ErrorCode::Forbidden.into());
    }
    let after = Track {
        name: match &patch.name {
            Some(n) => validate_text("name", n, 100, false)?,
            None => before.name.clone(),
        },
        description: match &patch.description {
            Some(d) => validate_text("description", d, 2000, true)?,
            None => before.description.clone(),
        },
        accuracy_threshold: match patch.accuracy_threshold {
            Some(t) => validate_threshold(t)?,
            None => before.accuracy_threshold,
        },
        active: patch.active.unwrap_or(before.active),
        ..before.clone()
    };
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE tracks SET name = $1, description = $2, accuracy_threshold = $3, active = $4 WHERE id = $5")
        .bind(after.name.clone())
        .bind(after.description.clone())
        .bind(after.accuracy_threshold)
        .bind(after.active as i64)
        .bind(after.id.clone())
        .execute(&mut *tx)
        .await?;
    let mut changes = serde_json::Map::new();
    if after.accuracy_threshold != before.accuracy_threshold {
        changes.insert("accuracy_threshold".into(), serde_json::json!({ "from": before.accuracy_threshold, "to": after.accuracy_threshold }));
    }
    if after.active != before.active {
        changes.insert("active".into(), serde_json::json!(after.active));
    }
    if after.name != before.name || after.description != before.description {
        changes.insert("text_changed".into(), serde_json::json!(true));
    }
    audit::append(&mut tx, &audit::event(Some(who), None, "track.update", "track", &after.id, changes.into())).await?;
    tx.commit().await?;
    Ok(after)
}

// -- certifications --------------------------------------------------------------

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Certification {
    pub id: String,
    pub user_id: String,
    pub user_name: String,
    pub track_id: String,
    pub track_name: String,
    /// The status now: an active certification past its expiry reads `expired`.
    pub status: CertificationStatus,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Qualification or rolling gold accuracy on record (0–1), if any.
    pub score: Option<f64>,
    /// Why it was last suspended or reinstated.
    pub reason: Option<String>,
    pub updated_at: i64,
}

const CERT_SELECT: &str = "SELECT c.id, c.user_id, u.name AS user_name, c.track_id, t.name AS track_name, \
     c.status, c.issued_at, c.expires_at, c.score, c.reason, c.updated_at \
     FROM certifications c JOIN users u ON u.id = c.user_id JOIN tracks t ON t.id = c.track_id";

/// The effective status as SQL, for filtering (`$now` is the bound parameter given).
fn effective_status_sql(now_param: &str) -> String {
    format!("(CASE WHEN c.status = 'active' AND c.expires_at <= {now_param} THEN 'expired' ELSE c.status END)")
}

fn cert_from_row(r: &AnyRow, now: i64) -> Result<Certification, StoreError> {
    let stored: String = r.try_get("status")?;
    let stored = CertificationStatus::parse(&stored).ok_or_else(|| StoreError::Internal(format!("unknown certification status {stored}")))?;
    let expires_at: i64 = r.try_get("expires_at")?;
    Ok(Certification {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        track_id: r.try_get("track_id")?,
        track_name: r.try_get("track_name")?,
        status: CertificationStatus::effective(stored, expires_at, now),
        issued_at: r.try_get("issued_at")?,
        expires_at,
        score: r.try_get("score")?,
        reason: r.try_get("reason")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[derive(Debug, Clone, Default)]
pub struct CertificationQuery {
    pub user_id: Option<String>,
    pub track_id: Option<String>,
    pub status: Option<CertificationStatus>,
}

/// Certifications the principal may see: all for admins, PMs and QA
/// reviewers; their own for taskers; none for clients.
pub async fn list_certifications(db: &Db, who: &Principal, q: &CertificationQuery, page: Page) -> Result<Paged<Certification>, StoreError> {
    let user_filter = if who.may(Action::ReadAllCertifications) {
        q.user_id.clone()
    } else if who.role == Role::Tasker {
        match &q.user_id {
            Some(u) if u != &who.user_id => return Err(ErrorCode::NotFound.into()),
            _ => Some(who.user_id.clone()),
        }
    } else {
        return Err(ErrorCode::Forbidden.into());
    };
    let now = now_ms();
    let cast = if db.backend() == crate::Backend::Postgres { "::TEXT" } else { "" };
    let filter = format!(
        "WHERE ($1{cast} IS NULL OR c.user_id = $1) AND ($2{cast} IS NULL OR c.track_id = $2) AND ($3{cast} IS NULL OR {} = $3)",
        effective_status_sql("$4")
    );
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM certifications c {filter}"
    )))
    .bind(user_filter.clone())
    .bind(q.track_id.clone())
    .bind(q.status.map(|s| s.as_str()))
    .bind(now)
    .fetch_one(&db.pool)
    .await?
    .try_get("n")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{CERT_SELECT} {filter} ORDER BY t.name, u.name, c.id LIMIT $5 OFFSET $6")))
        .bind(user_filter)
        .bind(q.track_id.clone())
        .bind(q.status.map(|s| s.as_str()))
        .bind(now)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&db.pool)
        .await?;
    let items = rows.iter().map(|r| cert_from_row(r, now)).collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

async fn cert_by_id(db: &Db, id: &str) -> Result<Certification, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{CERT_SELECT} WHERE c.id = $1")))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    cert_from_row(&row, now_ms())
}

/// Grants (or renews) a tasker's certification in a track until `expires_at`.
pub async fn grant(db: &Db, who: &Principal, user_id: &str, track_id: &str, expires_at: i64, score: Option<f64>) -> Result<Certification, StoreError> {
    if !who.may(Action::ManageCertifications) {
        return Err(ErrorCode::Forbidden.into());
    }
    let user = crate::users::get(db, who, user_id).await?;
    if user.role != Role::Tasker || user.role.org_kind() != OrgKind::Provider {
        return Err(DomainError::new(ErrorCode::NotATasker).with_details(serde_json::json!({ "field": "user_id" })).into());
    }
    let track = get(db, track_id).await.map_err(|_| DomainError::field("track_id", "no such track"))?;
    if !track.active {
        return Err(DomainError::field("track_id", "this track is retired").into());
    }
    let now = now_ms();
    if expires_at <= now {
        return Err(DomainError::field("expires_at", "must be in the future").into());
    }
    if let Some(s) = score {
        validate_threshold(s).map_err(|_| DomainError::field("score", "must be between 0 and 1"))?;
    }
    let mut tx = db.begin_write().await?;
    let existing = sqlx::query("SELECT id FROM certifications WHERE user_id = $1 AND track_id = $2")
        .bind(user_id.to_string())
        .bind(track_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let id = match existing {
        Some(r) => {
            let id: String = r.try_get("id")?;
            sqlx::query("UPDATE certifications SET status = 'active', issued_at = $1, expires_at = $2, score = $3, reason = NULL, updated_at = $1 WHERE id = $4")
                .bind(now)
                .bind(expires_at)
                .bind(score)
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
            id
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO certifications (id, user_id, track_id, status, issued_at, expires_at, score, reason, updated_at) \
                 VALUES ($1, $2, $3, 'active', $4, $5, $6, NULL, $4)",
            )
            .bind(id.clone())
            .bind(user_id.to_string())
            .bind(track_id.to_string())
            .bind(now)
            .bind(expires_at)
            .bind(score)
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&user.org_id), "certification.grant", "certification", &id, serde_json::json!({ "user_id": user_id, "track_id": track_id, "expires_at": expires_at })),
    )
    .await?;
    tx.commit().await?;
    cert_by_id(db, &id).await
}

#[derive(Debug, Clone, Default)]
pub struct CertificationPatch {
    /// `active` (reinstate) or `suspended`.
    pub status: Option<CertificationStatus>,
    pub expires_at: Option<i64>,
    pub reason: Option<String>,
}

/// Suspends, reinstates or re-dates a certification. Suspending needs a reason.
pub async fn update_certification(db: &Db, who: &Principal, id: &str, patch: CertificationPatch) -> Result<Certification, StoreError> {
    if !who.may(Action::ManageCertifications) {
        return Err(ErrorCode::Forbidden.into());
    }
    let before = cert_by_id(db, id).await?;
    let reason = match &patch.reason {
        Some(r) => Some(validate_text("reason", r, 1000, false)?),
        None => None,
    };
    let status = match patch.status {
        None => None,
        Some(CertificationStatus::Expired) => return Err(DomainError::field("status", "use active or suspended; expiry follows expires_at").into()),
        Some(s) => Some(s),
    };
    if status == Some(CertificationStatus::Suspended) && reason.is_none() {
        return Err(DomainError::field("reason", "a suspension needs a reason").into());
    }
    let now = now_ms();
    if let Some(e) = patch.expires_at
        && e <= now
        && status != Some(CertificationStatus::Suspended)
    {
        return Err(DomainError::field("expires_at", "must be in the future").into());
    }
    let mut tx = db.begin_write().await?;
    let stored_before: String = sqlx::query("SELECT status FROM certifications WHERE id = $1").bind(id.to_string()).fetch_one(&mut *tx).await?.try_get("status")?;
    let new_status = status.map(|s| s.as_str().to_string()).unwrap_or(stored_before.clone());
    let expires_at = patch.expires_at.unwrap_or(before.expires_at);
    sqlx::query("UPDATE certifications SET status = $1, expires_at = $2, reason = COALESCE($3, reason), updated_at = $4 WHERE id = $5")
        .bind(new_status.clone())
        .bind(expires_at)
        .bind(reason.clone())
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    let action = match (stored_before.as_str(), new_status.as_str()) {
        ("active", "suspended") => "certification.suspend",
        ("suspended", "active") => "certification.reinstate",
        _ => "certification.update",
    };
    let org: Option<String> = sqlx::query("SELECT org_id FROM users WHERE id = $1").bind(before.user_id.clone()).fetch_one(&mut *tx).await?.try_get("org_id")?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), org.as_deref(), action, "certification", id, serde_json::json!({ "status": new_status, "expires_at": expires_at, "reason_given": reason.is_some() })),
    )
    .await?;
    tx.commit().await?;
    cert_by_id(db, id).await
}
