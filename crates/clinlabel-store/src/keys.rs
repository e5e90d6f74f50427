//! Data keys: one per scope (a project, or an organisation's own files),
//! stored wrapped by the master key.
//!
//! invariant: a data key exists in plaintext only in memory; the database holds
//! it wrapped (AES-256-GCM, the scope as associated data) with the id of the
//! master key that wrapped it.

use crate::audit;
use crate::db::{Db, now_ms};
use crate::StoreError;
use clinlabel_crypto::{DataKey, Keyring, MasterKey};
use sqlx::Row;

fn unwrap_with(keyring: &Keyring, master_key_id: &str, wrapped: &[u8], scope: &str) -> Result<DataKey, StoreError> {
    let master = keyring
        .get(master_key_id)
        .ok_or_else(|| StoreError::Internal(format!("data key of {scope} is wrapped by unknown master key {master_key_id}")))?;
    master.unwrap(wrapped, scope).map_err(|e| StoreError::Internal(format!("cannot unwrap data key of {scope}: {e}")))
}

/// The data key of `scope`, created on first use.
pub async fn data_key(db: &Db, keyring: &Keyring, scope: &str) -> Result<DataKey, StoreError> {
    let read = || async {
        let row = sqlx::query("SELECT master_key_id, wrapped FROM data_keys WHERE scope = $1")
            .bind(scope.to_string())
            .fetch_optional(&db.pool)
            .await?;
        row.map(|r| Ok::<_, StoreError>((r.try_get::<String, _>("master_key_id")?, r.try_get::<Vec<u8>, _>("wrapped")?)))
            .transpose()
    };
    if let Some((id, wrapped)) = read().await? {
        return unwrap_with(keyring, &id, &wrapped, scope);
    }
    let current = keyring.current();
    let key = DataKey::generate();
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO data_keys (scope, master_key_id, wrapped, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (scope) DO NOTHING",
    )
    .bind(scope.to_string())
    .bind(current.id().to_string())
    .bind(current.wrap(&key, scope))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        audit::append(&mut tx, &audit::event(None, None, "data_key.create", "data_key", scope, serde_json::json!({ "master_key_id": current.id() })))
            .await?;
    }
    tx.commit().await?;
    // Another process may have won the race: read back whichever key stands.
    let (id, wrapped) = read().await?.ok_or_else(|| StoreError::Internal("data key vanished".into()))?;
    unwrap_with(keyring, &id, &wrapped, scope)
}

/// Rewraps every data key under `new_master`, in one transaction with its
/// audit event. Returns how many keys were rewrapped.
pub async fn rewrap_all(db: &Db, keyring: &Keyring, new_master: &MasterKey) -> Result<u64, StoreError> {
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query("SELECT scope, master_key_id, wrapped FROM data_keys ORDER BY scope").fetch_all(&mut *tx).await?;
    let mut n = 0u64;
    for r in &rows {
        let scope: String = r.try_get("scope")?;
        let id: String = r.try_get("master_key_id")?;
        let wrapped: Vec<u8> = r.try_get("wrapped")?;
        let key = unwrap_with(keyring, &id, &wrapped, &scope)?;
        sqlx::query("UPDATE data_keys SET master_key_id = $1, wrapped = $2 WHERE scope = $3")
            .bind(new_master.id().to_string())
            .bind(new_master.wrap(&key, &scope))
            .bind(scope)
            .execute(&mut *tx)
            .await?;
        n += 1;
    }
    audit::append(
        &mut tx,
        &audit::event(None, None, "master_key.rotate", "master_key", &new_master.id(), serde_json::json!({ "data_keys_rewrapped": n })),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// The ids of the master keys that wrap at least one data key.
pub async fn master_key_ids_in_use(db: &Db) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT DISTINCT master_key_id FROM data_keys ORDER BY master_key_id").fetch_all(&db.pool).await?;
    rows.iter().map(|r| Ok(r.try_get("master_key_id")?)).collect()
}
