//! NDA and DPA: versioned texts the administrators publish and client
//! organisations sign. No data is accepted from an organisation until it holds
//! a signature on the current version of both.
//!
//! invariant: a signature records the typed full name, the time, the IP
//! address and the SHA-256 of the exact text signed.

use crate::audit;
use crate::db::{Db, Tx, new_id, now_ms};
use crate::StoreError;
use clinlabel_domain::{Action, DomainError, ErrorCode, OrgKind, Principal, Role};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgreementKind {
    Nda,
    Dpa,
}

impl AgreementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementKind::Nda => "nda",
            AgreementKind::Dpa => "dpa",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "nda" => Some(AgreementKind::Nda),
            "dpa" => Some(AgreementKind::Dpa),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct AgreementVersion {
    pub id: String,
    pub kind: AgreementKind,
    pub version: i64,
    pub title: String,
    pub body: String,
    pub body_sha256: String,
    pub published_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Signature {
    pub id: String,
    pub org_id: String,
    pub agreement_id: String,
    pub kind: AgreementKind,
    pub version: i64,
    pub signer_id: String,
    /// The full name the signer typed.
    pub signer_name: String,
    pub signed_at: i64,
    pub ip: String,
    pub body_sha256: String,
}

/// One kind's current version and whether the caller's organisation signed it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct AgreementStatus {
    pub kind: AgreementKind,
    /// None until an administrator publishes a first version.
    pub current: Option<AgreementVersion>,
    /// The organisation's signature on the current version.
    pub signature: Option<Signature>,
}

fn version_from_row(r: &AnyRow) -> Result<AgreementVersion, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(AgreementVersion {
        id: r.try_get("id")?,
        kind: AgreementKind::parse(&kind).ok_or_else(|| StoreError::Internal(format!("agreement kind {kind}")))?,
        version: r.try_get("version")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        body_sha256: r.try_get("body_sha256")?,
        published_at: r.try_get("published_at")?,
    })
}

fn signature_from_row(r: &AnyRow) -> Result<Signature, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(Signature {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        agreement_id: r.try_get("agreement_id")?,
        kind: AgreementKind::parse(&kind).ok_or_else(|| StoreError::Internal(format!("agreement kind {kind}")))?,
        version: r.try_get("version")?,
        signer_id: r.try_get("signer_id")?,
        signer_name: r.try_get("signer_name")?,
        signed_at: r.try_get("signed_at")?,
        ip: r.try_get("ip")?,
        body_sha256: r.try_get("body_sha256")?,
    })
}

const VERSION_COLUMNS: &str = "id, kind, version, title, body, body_sha256, published_at";
const SIGNATURE_SELECT: &str = "SELECT s.id, s.org_id, s.agreement_id, a.kind, a.version, s.signer_id, s.signer_name, s.signed_at, s.ip, s.body_sha256 \
     FROM agreement_signatures s JOIN agreement_versions a ON a.id = s.agreement_id";

/// Publishes a new version of the NDA or DPA (administrators). Every client
/// organisation must sign it before its next upload.
pub async fn publish(db: &Db, who: &Principal, kind: AgreementKind, title: &str, body: &str) -> Result<AgreementVersion, StoreError> {
    if !who.may(Action::ManageOrganisations) {
        return Err(ErrorCode::Forbidden.into());
    }
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(DomainError::field("title", "must be 1 to 200 characters").into());
    }
    if body.trim().is_empty() || body.len() > 1 << 20 {
        return Err(DomainError::field("body", "must be non-empty and at most 1 MiB").into());
    }
    let mut tx = db.begin_write().await?;
    let last: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM agreement_versions WHERE kind = $1")
        .bind(kind.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("v")?;
    let v = AgreementVersion {
        id: new_id(),
        kind,
        version: last.unwrap_or(0) + 1,
        title: title.to_string(),
        body: body.to_string(),
        body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
        published_at: now_ms(),
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO agreement_versions ({VERSION_COLUMNS}, published_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")))
        .bind(v.id.clone())
        .bind(kind.as_str())
        .bind(v.version)
        .bind(v.title.clone())
        .bind(v.body.clone())
        .bind(v.body_sha256.clone())
        .bind(v.published_at)
        .bind(who.user_id.clone())
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), None, "agreement.publish", "agreement", &v.id, serde_json::json!({ "kind": kind, "version": v.version, "sha256": v.body_sha256 })))
        .await?;
    tx.commit().await?;
    Ok(v)
}

async fn current_version(ex: &mut sqlx::AnyConnection, kind: AgreementKind) -> Result<Option<AgreementVersion>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE kind = $1 ORDER BY version DESC LIMIT 1")))
        .bind(kind.as_str())
        .fetch_optional(&mut *ex)
        .await?;
    row.as_ref().map(version_from_row).transpose()
}

/// The current NDA and DPA, with the signatures of `org_id` on them.
async fn status_of(ex: &mut sqlx::AnyConnection, org_id: &str) -> Result<Vec<AgreementStatus>, StoreError> {
    let mut out = Vec::new();
    for kind in [AgreementKind::Nda, AgreementKind::Dpa] {
        let current = current_version(ex, kind).await?;
        let signature = match &current {
            Some(v) => sqlx::query(sqlx::AssertSqlSafe(format!("{SIGNATURE_SELECT} WHERE s.org_id = $1 AND s.agreement_id = $2")))
                .bind(org_id.to_string())
                .bind(v.id.clone())
                .fetch_optional(&mut *ex)
                .await?
                .as_ref()
                .map(signature_from_row)
                .transpose()?,
            None => None,
        };
        out.push(AgreementStatus { kind, current, signature });
    }
    Ok(out)
}

/// The current agreements and the caller's organisation's signatures on them.
pub async fn status(db: &Db, who: &Principal) -> Result<Vec<AgreementStatus>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    status_of(&mut conn, &who.org_id).await
}

/// Signs the current version of an agreement for the caller's organisation (client admins).
pub async fn sign(db: &Db, who: &Principal, agreement_id: &str, full_name: &str, ip: &str) -> Result<Signature, StoreError> {
    if who.role != Role::ClientAdmin {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Only a client administrator signs agreements for the organisation.").into());
    }
    let full_name = full_name.trim();
    if full_name.chars().count() < 2 || full_name.chars().count() > 200 {
        return Err(DomainError::field("full_name", "type your full name (2 to 200 characters)").into());
    }
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE id = $1")))
        .bind(agreement_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let v = version_from_row(&row)?;
    let current = current_version(&mut tx, v.kind).await?.ok_or(ErrorCode::NotFound)?;
    if current.id != v.id {
        return Err(DomainError::new(ErrorCode::AgreementOutdated).with_details(serde_json::json!({ "current_id": current.id, "current_version": current.version })).into());
    }
    let existing = sqlx::query(sqlx::AssertSqlSafe(format!("{SIGNATURE_SELECT} WHERE s.org_id = $1 AND s.agreement_id = $2")))
        .bind(who.org_id.clone())
        .bind(v.id.clone())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(r) = existing {
        return signature_from_row(&r);
    }
    let s = Signature {
        id: new_id(),
        org_id: who.org_id.clone(),
        agreement_id: v.id.clone(),
        kind: v.kind,
        version: v.version,
        signer_id: who.user_id.clone(),
        signer_name: full_name.to_string(),
        signed_at: now_ms(),
        ip: ip.to_string(),
        body_sha256: v.body_sha256.clone(),
    };
    sqlx::query(
        "INSERT INTO agreement_signatures (id, org_id, agreement_id, signer_id, signer_name, signed_at, ip, body_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(s.id.clone())
    .bind(s.org_id.clone())
    .bind(s.agreement_id.clone())
    .bind(s.signer_id.clone())
    .bind(s.signer_name.clone())
    .bind(s.signed_at)
    .bind(s.ip.clone())
    .bind(s.body_sha256.clone())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&who.org_id), "agreement.sign", "agreement", &v.id, serde_json::json!({ "kind": v.kind, "version": v.version, "sha256": v.body_sha256, "signature_id": s.id })),
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

/// Refuses with `agreement_required` unless the organisation signed the current NDA and DPA.
pub async fn require_signed(tx: &mut Tx, org_id: &str) -> Result<(), StoreError> {
    let status = status_of(tx, org_id).await?;
    let missing: Vec<&str> = status.iter().filter(|s| s.signature.is_none()).map(|s| s.kind.as_str()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(DomainError::new(ErrorCode::AgreementRequired).with_details(serde_json::json!({ "missing": missing })).into())
}

/// Every signature of an organisation, newest first (for the project's record).
pub async fn signatures(db: &Db, who: &Principal, org_id: &str) -> Result<Vec<Signature>, StoreError> {
    let visible = who.org_id == org_id || matches!(who.role, Role::Admin | Role::Pm | Role::QaReviewer);
    if !visible {
        return Err(ErrorCode::NotFound.into());
    }
    let org = crate::orgs::provider(db).await?;
    if org.is_some_and(|o| o.id == org_id && o.kind == OrgKind::Provider) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SIGNATURE_SELECT} WHERE s.org_id = $1 ORDER BY s.signed_at DESC, s.id")))
        .bind(org_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(signature_from_row).collect()
}
