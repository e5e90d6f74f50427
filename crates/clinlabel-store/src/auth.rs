//! Authentication: passwords, sessions, API tokens, sign-in throttling and the
//! one-time setup link.
//!
//! invariant: tokens (session, API, setup) are 256-bit random values shown to
//! their owner once; the database keeps only their SHA-256.
//! invariant: these are the only reads that run before a principal exists.

use crate::audit;
use crate::db::{Db, new_id, new_token, now_ms, token_hash};
use crate::users::{NewUser, USER_COLUMNS, User};
use crate::{StoreError, orgs};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use clinlabel_domain::access::{normalise_email, password_acceptable};
use clinlabel_domain::{DomainError, ErrorCode, OrgKind, Principal, Role, Secret};
use serde::Serialize;
use sqlx::Row;

/// Session lifetime limits.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle_ms: i64,
    /// A session ends this long after sign-in whatever happens.
    pub absolute_ms: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle_ms: 8 * 3600 * 1000, absolute_ms: 24 * 3600 * 1000 }
    }
}

/// Sign-in throttling: failures within the window per account and per address.
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;
pub const THROTTLE_MAX_PER_ACCOUNT: i64 = 5;
pub const THROTTLE_MAX_PER_ADDRESS: i64 = 30;

/// argon2id with the crate's defaults (19 MiB, 2 passes: OWASP's recommendation), off the async threads.
pub async fn hash_password(password: Secret<String>) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || {
        let salt = crate::db::random_bytes::<16>();
        argon2::Argon2::default()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?
}

/// Checks a password against a stored hash, off the async threads.
pub async fn verify_password(password: Secret<String>, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| argon2::Argon2::default().verify_password(password.expose().as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so a wrong
/// e-mail costs as long as a wrong password (no account enumeration by timing).
async fn dummy_hash() -> &'static str {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_init(|| async { hash_password(Secret::new("not-a-real-password-0".into())).await.unwrap_or_default() })
        .await
}

/// A new session: the token goes into the cookie, the CSRF token to the page.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: Secret<String>,
    pub csrf_token: String,
    pub user: User,
    pub expires_at: i64,
}

/// Signs in with e-mail and password. `address` is the client's IP, for throttling.
pub async fn login(db: &Db, email: &str, password: Secret<String>, address: &str, policy: SessionPolicy) -> Result<NewSession, StoreError> {
    let email = normalise_email(email).unwrap_or_else(|| email.trim().to_lowercase());
    let now = now_ms();
    let account_key = format!("account:{}", token_hash(&email));
    let address_key = format!("address:{address}");
    let since = now - THROTTLE_WINDOW_MS;
    let count = |key: String| async move {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE throttle_key = $1 AND at > $2")
            .bind(key)
            .bind(since)
            .fetch_one(&db.pool)
            .await?
            .try_get("n")?;
        Ok::<i64, StoreError>(n)
    };
    if count(account_key.clone()).await? >= THROTTLE_MAX_PER_ACCOUNT || count(address_key.clone()).await? >= THROTTLE_MAX_PER_ADDRESS {
        return Err(ErrorCode::TooManyAttempts.into());
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1")))
        .bind(email.clone())
        .fetch_optional(&db.pool)
        .await?;
    let (user, ok) = match row {
        Some(r) => {
            let hash: String = r.try_get("password_hash")?;
            (Some(crate::users::from_row(&r)?), verify_password(password, hash).await)
        }
        None => {
            verify_password(password, dummy_hash().await.to_string()).await;
            (None, false)
        }
    };
    let mut tx = db.begin_write().await?;
    let user = match (user, ok) {
        (Some(u), true) if !u.disabled => u,
        (user, ok) => {
            for key in [account_key, address_key] {
                sqlx::query("INSERT INTO login_failures (throttle_key, at) VALUES ($1, $2)").bind(key).bind(now).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM login_failures WHERE at < $1").bind(since).execute(&mut *tx).await?;
            let (target, org, reason) = match &user {
                Some(u) if ok => (u.id.clone(), Some(u.org_id.clone()), "account_disabled"),
                Some(u) => (u.id.clone(), Some(u.org_id.clone()), "wrong_password"),
                None => (String::new(), None, "unknown_account"),
            };
            audit::append(&mut tx, &audit::event(None, org.as_deref(), "auth.login_failed", "user", &target, serde_json::json!({ "reason": reason })))
                .await?;
            tx.commit().await?;
            return Err(if reason == "account_disabled" { ErrorCode::AccountDisabled } else { ErrorCode::InvalidCredentials }.into());
        }
    };
    sqlx::query("DELETE FROM login_failures WHERE throttle_key = $1").bind(account_key).execute(&mut *tx).await?;
    let session = insert_session(&mut tx, &user, now, policy).await?;
    let principal = principal_of(&user);
    audit::append(&mut tx, &audit::event(Some(&principal), Some(&user.org_id), "auth.login", "user", &user.id, serde_json::json!({})))
        .await?;
    tx.commit().await?;
    Ok(session)
}

async fn insert_session(tx: &mut crate::Tx, user: &User, now: i64, policy: SessionPolicy) -> Result<NewSession, StoreError> {
    let token = new_token();
    let csrf = new_token();
    let expires_at = now + policy.absolute_ms;
    sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)")
        .bind(token_hash(&token))
        .bind(user.id.clone())
        .bind(csrf.clone())
        .bind(now)
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(NewSession { token: Secret::new(token), csrf_token: csrf, user: user.clone(), expires_at })
}

pub fn principal_of(user: &User) -> Principal {
    Principal { user_id: user.id.clone(), org_id: user.org_id.clone(), role: user.role }
}

/// A session found from its cookie.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Resolves a session cookie. Expired (idle or absolute) sessions are deleted
/// and answer `session_expired`; unknown ones `not_signed_in`.
pub async fn session(db: &Db, token: &str, policy: SessionPolicy) -> Result<SessionInfo, StoreError> {
    let now = now_ms();
    let id_hash = token_hash(token);
    let cols = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {cols}, s.csrf_token, s.last_seen_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1"
    )))
    .bind(id_hash.clone())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(ErrorCode::NotSignedIn)?;
    let user = crate::users::from_row(&row)?;
    let last_seen: i64 = row.try_get("last_seen_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    if now >= expires_at || now - last_seen >= policy.idle_ms || user.disabled {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&db.pool).await?;
        return Err(ErrorCode::SessionExpired.into());
    }
    // Touch at most once a minute: idle expiry needs no finer grain.
    if now - last_seen > 60_000 {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2").bind(now).bind(id_hash).execute(&db.pool).await?;
    }
    Ok(SessionInfo { user, csrf_token: row.try_get("csrf_token")?, expires_at })
}

/// Ends a session.
pub async fn logout(db: &Db, who: &Principal, token: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2")
        .bind(token_hash(token))
        .bind(who.user_id.clone())
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&who.org_id), "auth.logout", "user", &who.user_id, serde_json::json!({}))).await?;
    tx.commit().await?;
    Ok(())
}

/// Changes one's own password; every other session of the account ends.
pub async fn change_password(
    db: &Db,
    who: &Principal,
    current: Secret<String>,
    new: Secret<String>,
    keep_session_token: Option<&str>,
) -> Result<(), StoreError> {
    if !password_acceptable(new.expose()) {
        return Err(DomainError::new(ErrorCode::WeakPassword).with_details(serde_json::json!({ "field": "new_password" })).into());
    }
    let hash: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(who.user_id.clone())
        .fetch_one(&db.pool)
        .await?
        .try_get("password_hash")?;
    if !verify_password(current, hash).await {
        return Err(DomainError::new(ErrorCode::WrongPassword).with_details(serde_json::json!({ "field": "current_password" })).into());
    }
    let new_hash = hash_password(new).await?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(new_hash)
        .bind(now_ms())
        .bind(who.user_id.clone())
        .execute(&mut *tx)
        .await?;
    let keep = keep_session_token.map(token_hash).unwrap_or_default();
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2").bind(who.user_id.clone()).bind(keep).execute(&mut *tx).await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&who.org_id), "auth.password_change", "user", &who.user_id, serde_json::json!({})))
        .await?;
    tx.commit().await?;
    Ok(())
}

// -- API tokens ----------------------------------------------------------------

/// A personal API token as listed (never the token itself).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn token_from_row(r: &sqlx::any::AnyRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub const API_TOKEN_PREFIX: &str = "clt_";

/// Creates a personal API token; the secret is returned this once.
pub async fn create_token(db: &Db, who: &Principal, name: &str, expires_at: Option<i64>) -> Result<(ApiToken, Secret<String>), StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::field("name", "must be 1 to 100 characters").into());
    }
    let now = now_ms();
    if let Some(e) = expires_at
        && e <= now
    {
        return Err(DomainError::field("expires_at", "must be in the future").into());
    }
    let secret = format!("{API_TOKEN_PREFIX}{}", new_token());
    let token = ApiToken {
        id: new_id(),
        name: name.to_string(),
        prefix: secret[..12].to_string(),
        created_at: now,
        last_used_at: None,
        expires_at,
        revoked_at: None,
    };
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(token.id.clone())
        .bind(who.user_id.clone())
        .bind(token.name.clone())
        .bind(token_hash(&secret))
        .bind(token.prefix.clone())
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&who.org_id), "api_token.create", "api_token", &token.id, serde_json::json!({})))
        .await?;
    tx.commit().await?;
    Ok((token, Secret::new(secret)))
}

/// The principal's own tokens, newest first.
pub async fn list_tokens(db: &Db, who: &Principal) -> Result<Vec<ApiToken>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, created_at, last_used_at, expires_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id",
    )
    .bind(who.user_id.clone())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(token_from_row).collect()
}

/// Revokes one of the principal's own tokens.
pub async fn revoke_token(db: &Db, who: &Principal, id: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id.to_string())
        .bind(who.user_id.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ErrorCode::NotFound.into());
    }
    audit::append(&mut tx, &audit::event(Some(who), Some(&who.org_id), "api_token.revoke", "api_token", id, serde_json::json!({}))).await?;
    tx.commit().await?;
    Ok(())
}

/// Resolves a bearer token to its owner.
pub async fn token_user(db: &Db, secret: &str) -> Result<User, StoreError> {
    let now = now_ms();
    let cols = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {cols}, t.id AS token_id, t.expires_at AS token_expires, t.revoked_at, t.last_used_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
    )))
    .bind(token_hash(secret))
    .fetch_optional(&db.pool)
    .await?
    .ok_or(ErrorCode::InvalidToken)?;
    let user = crate::users::from_row(&row)?;
    let expires: Option<i64> = row.try_get("token_expires")?;
    let revoked: Option<i64> = row.try_get("revoked_at")?;
    if revoked.is_some() || expires.is_some_and(|e| e <= now) {
        return Err(ErrorCode::InvalidToken.into());
    }
    if user.disabled {
        return Err(ErrorCode::AccountDisabled.into());
    }
    let last: Option<i64> = row.try_get("last_used_at")?;
    if last.is_none_or(|l| now - l > 60_000) {
        let id: String = row.try_get("token_id")?;
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2").bind(now).bind(id).execute(&db.pool).await?;
    }
    Ok(user)
}

// -- first start ---------------------------------------------------------------

/// Validity of a setup link.
pub const SETUP_TOKEN_TTL_MS: i64 = 24 * 3600 * 1000;

/// On first start with no accounts: creates a one-time setup token and returns
/// it (to print as a link). Returns `None` once any account exists.
pub async fn issue_setup_token(db: &Db) -> Result<Option<Secret<String>>, StoreError> {
    if crate::users::any_exist(db).await? {
        return Ok(None);
    }
    let token = new_token();
    let now = now_ms();
    sqlx::query("INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash(&token))
        .bind(now)
        .bind(now + SETUP_TOKEN_TTL_MS)
        .execute(&db.pool)
        .await?;
    Ok(Some(Secret::new(token)))
}

/// What the setup form sends.
#[derive(Debug, Clone)]
pub struct Setup {
    pub token: Secret<String>,
    pub organisation_name: String,
    pub email: String,
    pub name: String,
    pub password: Secret<String>,
}

/// Uses a setup token: creates the provider organisation and the first
/// administrator, and signs them in.
pub async fn complete_setup(db: &Db, setup: Setup, policy: SessionPolicy) -> Result<NewSession, StoreError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let used = sqlx::query("UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1")
        .bind(now)
        .bind(token_hash(setup.token.expose()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if used == 0 {
        return Err(ErrorCode::SetupTokenInvalid.into());
    }
    if sqlx::query("SELECT 1 AS x FROM users LIMIT 1").fetch_optional(&mut *tx).await?.is_some() {
        return Err(ErrorCode::SetupAlreadyDone.into());
    }
    let org = orgs::Organisation { id: new_id(), name: orgs::validate_name(&setup.organisation_name)?, kind: OrgKind::Provider, created_at: now };
    orgs::insert(&mut tx, &org).await?;
    let user = crate::users::insert(
        &mut tx,
        NewUser { org_id: org.id.clone(), email: setup.email, name: setup.name, role: Role::Admin, password: setup.password },
        OrgKind::Provider,
    )
    .await?;
    let principal = principal_of(&user);
    audit::append(&mut tx, &audit::event(Some(&principal), Some(&org.id), "setup.complete", "organisation", &org.id, serde_json::json!({})))
        .await?;
    audit::append(&mut tx, &audit::event(Some(&principal), Some(&org.id), "user.create", "user", &user.id, serde_json::json!({ "role": Role::Admin })))
        .await?;
    let session = insert_session(&mut tx, &user, now, policy).await?;
    tx.commit().await?;
    Ok(session)
}

/// Creates an account from the command line (no principal: the actor is the
/// system). Creates the provider organisation if there is none yet; client
/// roles need an existing client organisation id.
pub async fn create_user_system(db: &Db, org_id: Option<&str>, email: &str, name: &str, role: Role, password: Secret<String>) -> Result<User, StoreError> {
    let mut tx = db.begin_write().await?;
    let org = match org_id {
        Some(id) => {
            let r = sqlx::query("SELECT id, name, kind, created_at FROM organisations WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(ErrorCode::NotFound)?;
            orgs::from_row(&r)?
        }
        None => {
            let r = sqlx::query("SELECT id, name, kind, created_at FROM organisations WHERE kind = 'provider' ORDER BY created_at LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            match r {
                Some(r) => orgs::from_row(&r)?,
                None => {
                    let org = orgs::Organisation { id: new_id(), name: "Service provider".into(), kind: OrgKind::Provider, created_at: now_ms() };
                    orgs::insert(&mut tx, &org).await?;
                    audit::append(&mut tx, &audit::event(None, Some(&org.id), "organisation.create", "organisation", &org.id, serde_json::json!({ "kind": "provider", "via": "cli" })))
                        .await?;
                    org
                }
            }
        }
    };
    let user = crate::users::insert(&mut tx, NewUser { org_id: org.id.clone(), email: email.into(), name: name.into(), role, password }, org.kind).await?;
    audit::append(&mut tx, &audit::event(None, Some(&org.id), "user.create", "user", &user.id, serde_json::json!({ "role": role, "via": "cli" })))
        .await?;
    tx.commit().await?;
    Ok(user)
}
