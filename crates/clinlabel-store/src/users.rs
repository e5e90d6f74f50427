//! User accounts, scoped to the organisations the acting principal may manage.

use crate::audit;
use crate::auth::hash_password;
use crate::db::{Db, Tx, new_id, now_ms};
use crate::{Page, Paged, SortDir, StoreError};
use clinlabel_domain::access::{normalise_email, password_acceptable};
use clinlabel_domain::{Action, DomainError, ErrorCode, OrgKind, Principal, Role, Scope, Secret};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A user account as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
}

pub(crate) const USER_COLUMNS: &str = "id, org_id, email, name, role, disabled, created_at";

pub(crate) fn from_row(r: &AnyRow) -> Result<User, StoreError> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Internal(format!("unknown role {role}")))?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

/// What is needed to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Secret<String>,
}

fn validate_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(DomainError::field("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

/// Creates an account in an organisation the principal manages.
pub async fn create(db: &Db, who: &Principal, new: NewUser) -> Result<User, StoreError> {
    // Visibility first: another organisation is `not_found`, whatever the role.
    let org = crate::orgs::get(db, who, &new.org_id).await?;
    if !who.may(Action::ManageUsers) {
        return Err(ErrorCode::Forbidden.into());
    }
    if !who.may_assign(new.role, &org.id, org.kind) {
        return Err(if new.role.org_kind() != org.kind {
            ErrorCode::RoleNotAllowedInOrganisation.into()
        } else {
            ErrorCode::Forbidden.into()
        });
    }
    let mut tx = db.begin_write().await?;
    let user = insert(&mut tx, new, org.kind).await?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&user.org_id), "user.create", "user", &user.id, serde_json::json!({ "role": user.role })),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Validates and inserts an account (no permission checks: callers do them).
pub(crate) async fn insert(tx: &mut Tx, new: NewUser, org_kind: OrgKind) -> Result<User, StoreError> {
    if new.role.org_kind() != org_kind {
        return Err(ErrorCode::RoleNotAllowedInOrganisation.into());
    }
    let email = normalise_email(&new.email).ok_or_else(|| DomainError::field("email", "is not an e-mail address"))?;
    let name = validate_name(&new.name)?;
    if !password_acceptable(new.password.expose()) {
        return Err(DomainError::new(ErrorCode::WeakPassword)
            .with_details(serde_json::json!({ "field": "password" }))
            .into());
    }
    let taken = sqlx::query("SELECT 1 AS x FROM users WHERE email = $1").bind(email.clone()).fetch_optional(&mut **tx).await?;
    if taken.is_some() {
        return Err(DomainError::new(ErrorCode::EmailTaken).with_details(serde_json::json!({ "field": "email" })).into());
    }
    let hash = hash_password(new.password).await?;
    let now = now_ms();
    let user = User { id: new_id(), org_id: new.org_id, email, name, role: new.role, disabled: false, created_at: now };
    sqlx::query(
        "INSERT INTO users (id, org_id, email, name, role, password_hash, disabled, created_at, password_changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
    )
    .bind(user.id.clone())
    .bind(user.org_id.clone())
    .bind(user.email.clone())
    .bind(user.name.clone())
    .bind(user.role.as_str())
    .bind(hash)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(user)
}

/// Reads one account the principal may see (their own, or one they manage).
pub async fn get(db: &Db, who: &Principal, id: &str) -> Result<User, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let user = from_row(&row)?;
    let visible = user.id == who.user_id || (who.may(Action::ManageUsers) && who.scope().allows(&user.org_id));
    if !visible {
        return Err(ErrorCode::NotFound.into());
    }
    Ok(user)
}

/// Filters and order for [`list`].
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub org_id: Option<String>,
    pub role: Option<Role>,
    /// `name`, `email`, `role` or `created_at` (default).
    pub sort: Option<String>,
    pub dir: SortDir,
}

/// Lists the accounts the principal manages.
pub async fn list(db: &Db, who: &Principal, q: &UserQuery, page: Page) -> Result<Paged<User>, StoreError> {
    // Asking for another organisation's users is `not_found`, whatever the role;
    // without an explicit organisation the scope decides.
    let org = match (who.scope(), &q.org_id) {
        (Scope::All, requested) => requested.clone(),
        (Scope::Org(own), Some(requested)) if requested != &own => return Err(ErrorCode::NotFound.into()),
        (Scope::Org(own), _) => Some(own),
    };
    if !who.may(Action::ManageUsers) {
        return Err(ErrorCode::Forbidden.into());
    }
    let sort = match q.sort.as_deref() {
        None | Some("created_at") => "created_at",
        Some("name") => "name",
        Some("email") => "email",
        Some("role") => "role",
        Some(other) => {
            return Err(DomainError::new(ErrorCode::InvalidQuery)
                .with_message(format!("sort: unknown column {other:?}; use name, email, role or created_at"))
                .into());
        }
    };
    let cast = if db.backend() == crate::Backend::Postgres { "::TEXT" } else { "" };
    let filter = format!("WHERE ($1{cast} IS NULL OR org_id = $1) AND ($2{cast} IS NULL OR role = $2)");
    let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM users {filter}")))
        .bind(org.clone())
        .bind(q.role.map(|r| r.as_str()))
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users {filter} ORDER BY {sort} {dir}, id LIMIT $3 OFFSET $4",
        dir = q.dir.sql()
    )))
    .bind(org)
    .bind(q.role.map(|r| r.as_str()))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&db.pool)
    .await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// A change to an account. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Changes name, role or disabled state of an account the principal manages.
pub async fn update(db: &Db, who: &Principal, id: &str, patch: UserPatch) -> Result<User, StoreError> {
    // Visibility first (another organisation's account is `not_found`), then permission.
    let before = get(db, who, id).await?;
    if !who.may(Action::ManageUsers) || !who.scope().allows(&before.org_id) {
        return Err(ErrorCode::Forbidden.into());
    }
    let org = crate::orgs::get(db, who, &before.org_id).await?;
    let role = patch.role.unwrap_or(before.role);
    if !who.may_assign(role, &org.id, org.kind) || !who.may_assign(before.role, &org.id, org.kind) {
        return Err(if role.org_kind() != org.kind {
            ErrorCode::RoleNotAllowedInOrganisation.into()
        } else {
            ErrorCode::Forbidden.into()
        });
    }
    let disabled = patch.disabled.unwrap_or(before.disabled);
    if before.id == who.user_id && (disabled || role != before.role) {
        return Err(DomainError::new(ErrorCode::WouldLockOut)
            .with_message("You cannot disable your own account or change your own role.")
            .into());
    }
    let name = match &patch.name {
        Some(n) => validate_name(n)?,
        None => before.name.clone(),
    };
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET name = $1, role = $2, disabled = $3 WHERE id = $4")
        .bind(name.clone())
        .bind(role.as_str())
        .bind(disabled as i64)
        .bind(before.id.clone())
        .execute(&mut *tx)
        .await?;
    if disabled {
        // A disabled account is signed out everywhere at once.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(before.id.clone()).execute(&mut *tx).await?;
    }
    let mut changes = serde_json::Map::new();
    if role != before.role {
        changes.insert("role".into(), serde_json::json!({ "from": before.role, "to": role }));
    }
    if disabled != before.disabled {
        changes.insert("disabled".into(), serde_json::json!(disabled));
    }
    if name != before.name {
        changes.insert("name_changed".into(), serde_json::json!(true));
    }
    audit::append(&mut tx, &audit::event(Some(who), Some(&before.org_id), "user.update", "user", &before.id, changes.into())).await?;
    tx.commit().await?;
    Ok(User { name, role, disabled, ..before })
}

/// Whether any account exists at all (first start shows the setup link if not).
pub async fn any_exist(db: &Db) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT 1 AS x FROM users LIMIT 1").fetch_optional(&db.pool).await?.is_some())
}
