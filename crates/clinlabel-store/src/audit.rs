//! The append-only, hash-chained audit trail.
//!
//! invariant: [`append`] is only ever called inside the transaction that makes
//! the change it records; it updates `audit_head` first, which takes the row
//! lock (PostgreSQL) or the database write lock (SQLite), so concurrent writers
//! are serialised and the chain never forks.

use crate::db::{Db, Tx};
use crate::{Page, Paged, StoreError};
use clinlabel_domain::audit::{AuditRow, ChainBreak, ChainVerifier, NewAuditEvent, Step, chain_hash};
use clinlabel_domain::{Action, DomainError, ErrorCode, Principal};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::Row;

/// Appends an event in the caller's transaction and returns its sequence number.
pub async fn append(tx: &mut Tx, event: &NewAuditEvent) -> Result<i64, StoreError> {
    append_many(tx, std::slice::from_ref(event)).await
}

/// Appends events, in order, in the caller's transaction with three
/// statements whatever their number (the head is taken once, the chain is
/// computed here, the rows go in together as one JSON parameter), and
/// returns the last sequence number (0 for no events, which touches nothing).
pub async fn append_many(tx: &mut Tx, events: &[NewAuditEvent]) -> Result<i64, StoreError> {
    append_in(&mut crate::exec::Exec::from(tx), events).await
}

/// [`append_many`] wherever the caller's statements run.
pub(crate) async fn append_in(ex: &mut crate::exec::Exec<'_>, events: &[NewAuditEvent]) -> Result<i64, StoreError> {
    use crate::exec::Arg;
    if events.is_empty() {
        return Ok(0);
    }
    let head = ex.one("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash", [Arg::Int(events.len() as i64)]).await?;
    let last: i64 = head.get("seq")?;
    let c = chain(last - events.len() as i64, head.get("hash")?, events)?;
    let backend = ex.backend();
    ex.execute(insert_sql(backend, 1), [Arg::Text(c.rows)]).await?;
    ex.execute("UPDATE audit_head SET hash = $1 WHERE id = 1", [Arg::Text(c.last_hash)]).await?;
    Ok(last)
}

/// Adds the read of the chain's head to a script's first round trip, on
/// SQLite, where the transaction already holds the database's write lock
/// from its start. PostgreSQL reads it in [`head_after`], as the last lock
/// its transaction takes: taken earlier, it would wait in a cycle with the
/// row locks of another writer's foreign-key checks.
pub(crate) fn head_in_script(script: crate::exec::Script, backend: crate::Backend) -> crate::exec::Script {
    match backend {
        crate::Backend::Sqlite => script.part("SELECT 'head' AS what, seq, hash FROM audit_head WHERE id = 1"),
        crate::Backend::Postgres => script,
    }
}

/// The chain's head (seq, hash) for a [`Chain`] appended later in the same
/// transaction: from a script's rows (SQLite, see [`head_in_script`]), or
/// read now and locked until the transaction ends (PostgreSQL).
pub(crate) async fn head_after(ex: &mut crate::exec::Exec<'_>, rows: &[crate::exec::Row]) -> Result<(i64, String), StoreError> {
    match ex.backend() {
        crate::Backend::Sqlite => head_of(rows),
        crate::Backend::Postgres => {
            let r = ex.one("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", []).await?;
            Ok((r.get("seq")?, r.get("hash")?))
        }
    }
}

/// Events chained after a head: the rows to insert (a JSON parameter for
/// [`insert_sql`]) and the new head for [`head_update_sql`].
pub(crate) struct Chain {
    pub rows: String,
    pub prev_seq: i64,
    pub last_seq: i64,
    pub last_hash: String,
}

/// Chains `events` after the head (`prev_seq`, `prev_hash`).
pub(crate) fn chain(prev_seq: i64, prev_hash: String, events: &[NewAuditEvent]) -> Result<Chain, StoreError> {
    let mut prev = prev_hash;
    let mut rows = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let details = serde_json::to_string(&event.details).map_err(|e| StoreError::Internal(e.to_string()))?;
        let hash = chain_hash(&prev, event.at, event.actor_id.as_deref(), event.org_id.as_deref(), &event.action, &event.target_type, &event.target_id, &details);
        rows.push(serde_json::json!({
            "seq": prev_seq + 1 + i as i64, "at": event.at, "actor_id": event.actor_id, "org_id": event.org_id, "action": event.action,
            "target_type": event.target_type, "target_id": event.target_id, "details": details, "prev_hash": prev, "hash": hash,
        }));
        prev = hash;
    }
    Ok(Chain { rows: serde_json::Value::Array(rows).to_string(), prev_seq, last_seq: prev_seq + events.len() as i64, last_hash: prev })
}

/// Inserts the rows of a [`Chain`] given as parameter `$n`.
pub(crate) fn insert_sql(backend: crate::Backend, n: usize) -> String {
    format!(
        "INSERT INTO audit_events (seq, at, actor_id, org_id, action, target_type, target_id, details, prev_hash, hash) \
         SELECT CAST(value ->> 'seq' AS BIGINT), CAST(value ->> 'at' AS BIGINT), value ->> 'actor_id', value ->> 'org_id', value ->> 'action', \
                value ->> 'target_type', value ->> 'target_id', value ->> 'details', value ->> 'prev_hash', value ->> 'hash' FROM {}",
        backend.json_rows(n)
    )
}

/// Moves the head to a [`Chain`]'s end (`$seq`, `$hash`) only if it is still
/// where the chain began (`$prev`); returns a row `what = 'head'` when it did.
pub(crate) fn head_update_sql(seq: usize, hash: usize, prev: usize) -> String {
    format!("UPDATE audit_head SET seq = ${seq}, hash = ${hash} WHERE id = 1 AND seq = ${prev} RETURNING 'head' AS what, seq")
}

/// Adds a [`Chain`]'s insert and head move to a script.
pub(crate) fn append_to_script(script: crate::exec::Script, backend: crate::Backend, c: &Chain) -> crate::exec::Script {
    use crate::exec::Arg;
    let n = script.next_param();
    script
        .part(insert_sql(backend, n))
        .arg(Arg::Text(c.rows.clone()))
        .part(head_update_sql(n + 1, n + 2, n + 3))
        .arg(Arg::Int(c.last_seq))
        .arg(Arg::Text(c.last_hash.clone()))
        .arg(Arg::Int(c.prev_seq))
}

/// The head row of a script's rows (from [`head_in_script`]).
fn head_of(rows: &[crate::exec::Row]) -> Result<(i64, String), StoreError> {
    let r = rows.iter().find(|r| r.is("head")).ok_or_else(|| StoreError::Internal("no audit head".into()))?;
    Ok((r.get("seq")?, r.get("hash")?))
}

/// Whether a script moved the head (the row of [`head_update_sql`]).
pub(crate) fn head_moved(rows: &[crate::exec::Row], to: i64) -> bool {
    rows.iter().any(|r| r.is("head") && r.get::<i64>("seq").is_ok_and(|s| s == to))
}

/// Builds an event stamped now.
pub fn event(
    actor: Option<&Principal>,
    org_id: Option<&str>,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        at: crate::db::now_ms(),
        actor_id: actor.map(|p| p.user_id.clone()),
        org_id: org_id.map(str::to_string),
        action: action.to_string(),
        target_type: target_type.to_string(),
        target_id: target_id.to_string(),
        details,
    }
}

/// Filters for reading the trail. Every field narrows; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub org_id: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// An event as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEventView {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub org_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
    pub hash: String,
}

/// The filter of [`list`]: every parameter may be NULL (no narrowing).
/// PostgreSQL needs the NULL checks cast, or it cannot type the parameters.
fn audit_filter(backend: crate::Backend) -> String {
    let (t, b) = match backend {
        crate::Backend::Sqlite => ("", ""),
        crate::Backend::Postgres => ("::TEXT", "::BIGINT"),
    };
    format!(
        " WHERE ($1{t} IS NULL OR actor_id = $1) AND ($2{t} IS NULL OR action = $2) \
         AND ($3{t} IS NULL OR target_type = $3) AND ($4{t} IS NULL OR target_id = $4) \
         AND ($5{t} IS NULL OR org_id = $5) AND ($6{b} IS NULL OR at >= $6) AND ($7{b} IS NULL OR at < $7)"
    )
}

/// Reads the trail, newest first. Administrators only.
pub async fn list(db: &Db, who: &Principal, f: &AuditFilter, page: Page) -> Result<Paged<AuditEventView>, StoreError> {
    if !who.may(Action::ReadAudit) {
        return Err(DomainError::new(ErrorCode::Forbidden).into());
    }
    let filter = audit_filter(db.backend());
    let select = format!("SELECT seq, at, actor_id, org_id, action, target_type, target_id, details, hash FROM audit_events{filter} ORDER BY seq DESC LIMIT $8 OFFSET $9");
    let count = format!("SELECT COUNT(*) AS n FROM audit_events{filter}");
    macro_rules! bind_filter {
        ($q:expr) => {
            $q.bind(f.actor_id.clone())
                .bind(f.action.clone())
                .bind(f.target_type.clone())
                .bind(f.target_id.clone())
                .bind(f.org_id.clone())
                .bind(f.from_ms)
                .bind(f.to_ms)
        };
    }
    let total: i64 = bind_filter!(sqlx::query(sqlx::AssertSqlSafe(count))).fetch_one(&db.pool).await?.try_get("n")?;
    let rows = bind_filter!(sqlx::query(sqlx::AssertSqlSafe(select)))
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&db.pool)
        .await?;
    let items = rows.iter().map(view_from_row).collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Paged { items, total })
}

/// Reads an event row (seq, at, actor_id, org_id, action, target_type, target_id, details, hash).
pub(crate) fn view_from_row(r: &sqlx::any::AnyRow) -> Result<AuditEventView, StoreError> {
    let details: String = r.try_get("details")?;
    Ok(AuditEventView {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        org_id: r.try_get("org_id")?,
        action: r.try_get("action")?,
        target_type: r.try_get("target_type")?,
        target_id: r.try_get("target_id")?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        hash: r.try_get("hash")?,
    })
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub events_checked: u64,
    pub head_seq: i64,
    /// The first break, if any.
    #[serde(rename = "break")]
    pub first_break: Option<ChainBreak>,
    /// The break as a sentence.
    pub message: String,
}

/// Walks the whole trail in sequence order, streaming, and names the first
/// edited, deleted or reordered row.
pub async fn verify(db: &Db) -> Result<VerifyReport, StoreError> {
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&db.pool).await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    let mut verifier = ChainVerifier::default();
    let mut broken: Option<ChainBreak> = None;
    let mut unlinked: Option<(i64, String)> = None;
    {
        let mut rows = sqlx::query(
            "SELECT seq, at, actor_id, org_id, action, target_type, target_id, details, prev_hash, hash \
             FROM audit_events ORDER BY seq",
        )
        .fetch(&db.pool);
        while let Some(r) = rows.try_next().await? {
            let row = AuditRow {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                actor_id: r.try_get("actor_id")?,
                org_id: r.try_get("org_id")?,
                action: r.try_get("action")?,
                target_type: r.try_get("target_type")?,
                target_id: r.try_get("target_id")?,
                details: r.try_get("details")?,
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            };
            match verifier.push(&row) {
                Step::Ok => {}
                Step::Broken(b) => {
                    broken = Some(b);
                    break;
                }
                Step::Unlinked { seq, prev_hash } => {
                    // Classified below, once the streaming cursor is released.
                    unlinked = Some((seq, prev_hash));
                    break;
                }
            }
        }
    }
    // Classify an unlinked row by where its claimed predecessor lives: a
    // scan (no index on the hash; appends outnumber broken chains).
    if let Some((seq, prev_hash)) = unlinked {
        let pred: Option<i64> = sqlx::query("SELECT seq FROM audit_events WHERE hash = $1")
            .bind(prev_hash)
            .fetch_optional(&db.pool)
            .await?
            .map(|r| r.try_get("seq"))
            .transpose()?;
        broken = Some(ChainVerifier::classify_unlinked(seq, pred));
    }
    if broken.is_none() {
        broken = verifier.finish(head_seq, &head_hash).err();
    }
    let message = match &broken {
        Some(b) => b.to_string(),
        None => format!("the audit trail is intact: {} events, chain sound", verifier.checked),
    };
    Ok(VerifyReport { ok: broken.is_none(), events_checked: verifier.checked, head_seq, first_break: broken, message })
}
