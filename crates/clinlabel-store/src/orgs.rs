//! Organisations: the client organisations and the service provider.

use crate::audit;
use crate::db::{Db, new_id, now_ms};
use crate::{Page, Paged, StoreError};
use clinlabel_domain::{Action, DomainError, ErrorCode, OrgKind, Principal, Scope};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    pub kind: OrgKind,
    pub created_at: i64,
}

pub(crate) fn from_row(r: &AnyRow) -> Result<Organisation, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(Organisation {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: OrgKind::parse(&kind).ok_or_else(|| StoreError::Internal(format!("unknown organisation kind {kind}")))?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn validate_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(DomainError::field("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

/// Creates an organisation. Administrators only.
pub async fn create(db: &Db, who: &Principal, name: &str, kind: OrgKind) -> Result<Organisation, StoreError> {
    if !who.may(Action::ManageOrganisations) {
        return Err(ErrorCode::Forbidden.into());
    }
    let name = validate_name(name)?;
    let mut tx = db.begin_write().await?;
    let org = Organisation { id: new_id(), name, kind, created_at: now_ms() };
    insert(&mut tx, &org).await?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&org.id), "organisation.create", "organisation", &org.id, serde_json::json!({ "kind": kind })),
    )
    .await?;
    tx.commit().await?;
    Ok(org)
}

pub(crate) async fn insert(tx: &mut crate::Tx, org: &Organisation) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO organisations (id, name, kind, created_at) VALUES ($1, $2, $3, $4)")
        .bind(org.id.clone())
        .bind(org.name.clone())
        .bind(org.kind.as_str())
        .bind(org.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Renames an organisation. Administrators only; an organisation the caller
/// cannot see is `not_found` before any permission question.
pub async fn rename(db: &Db, who: &Principal, id: &str, name: &str) -> Result<Organisation, StoreError> {
    get(db, who, id).await?;
    if !who.may(Action::ManageOrganisations) {
        return Err(ErrorCode::Forbidden.into());
    }
    let name = validate_name(name)?;
    let mut tx = db.begin_write().await?;
    let row = sqlx::query("UPDATE organisations SET name = $1 WHERE id = $2 RETURNING id, name, kind, created_at")
        .bind(name)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let org = from_row(&row)?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&org.id), "organisation.rename", "organisation", &org.id, serde_json::json!({})))
        .await?;
    tx.commit().await?;
    Ok(org)
}

/// Reads one organisation the principal may see; others answer `not_found`.
pub async fn get(db: &Db, who: &Principal, id: &str) -> Result<Organisation, StoreError> {
    if !who.scope().allows(id) {
        return Err(ErrorCode::NotFound.into());
    }
    let row = sqlx::query("SELECT id, name, kind, created_at FROM organisations WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    from_row(&row)
}

/// Lists the organisations the principal may see, by name.
pub async fn list(db: &Db, who: &Principal, page: Page) -> Result<Paged<Organisation>, StoreError> {
    let scope_org = match who.scope() {
        Scope::All => None,
        Scope::Org(id) => Some(id),
    };
    let (q, c) = match db.backend() {
        crate::Backend::Sqlite => (
            "SELECT id, name, kind, created_at FROM organisations WHERE ($1 IS NULL OR id = $1) ORDER BY name, id LIMIT $2 OFFSET $3",
            "SELECT COUNT(*) AS n FROM organisations WHERE ($1 IS NULL OR id = $1)",
        ),
        crate::Backend::Postgres => (
            "SELECT id, name, kind, created_at FROM organisations WHERE ($1::TEXT IS NULL OR id = $1) ORDER BY name, id LIMIT $2 OFFSET $3",
            "SELECT COUNT(*) AS n FROM organisations WHERE ($1::TEXT IS NULL OR id = $1)",
        ),
    };
    let total: i64 = sqlx::query(c).bind(scope_org.clone()).fetch_one(&db.pool).await?.try_get("n")?;
    let rows = sqlx::query(q).bind(scope_org).bind(page.limit()).bind(page.offset()).fetch_all(&db.pool).await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// The service provider's organisation, if it exists yet.
pub async fn provider(db: &Db) -> Result<Option<Organisation>, StoreError> {
    let row = sqlx::query("SELECT id, name, kind, created_at FROM organisations WHERE kind = 'provider' ORDER BY created_at LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}
