//! Clinical text in the task engine: the check of a note's submission and
//! the pre-annotation quality of a project.
//!
//! A submission for a note (an item of kind `note`) carries its spans,
//! relations and sentence classifications in `text`
//! ([`clinlabel_text::annotation::TextAnnotation`]), offsets in Unicode
//! scalar values of the stored note. The store knows the note's length in
//! chars (from the item's metadata, counted at ingest), not its text, so it
//! checks offsets against that length and everything else against the
//! project's schema; the server, which reads the note, fills and compares
//! each span's covered text before the submission reaches the store.
//! The note's own answers (`answers`) are checked against the questions that
//! are not asked per sentence.
//!
//! A project's **lexicon** (the PM's term list for the dictionary matcher)
//! is recorded here ([`set_lexicon`], [`remove_lexicon`], audited as
//! `project.lexicon.set` / `project.lexicon.remove`); its bytes are an
//! encrypted blob under the project's data key, written and checked by the
//! server before [`set_lexicon`] records it. PMs and administrators set and
//! remove it; whoever may see the project reads its description; the holder
//! of a task reads it for suggestions ([`task_lexicon`]).
//!
//! invariant: a stored text annotation passed `TextAnnotation::validate`
//! against its item's length: no span or sentence past the end of the note,
//! no suggestion left pending.

use crate::db::{Db, new_id, now_ms};
use crate::{audit, projects};
use crate::StoreError;
use crate::tasks::AnnotationBody;
use clinlabel_domain::project::{Modality, Spec};
use clinlabel_domain::qa;
use clinlabel_domain::{DomainError, ErrorCode, Principal, Role};
use clinlabel_text::annotation::{SuggestionQuality, TextAnnotation, document_questions};
use futures::TryStreamExt;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Checks a submission to a text project, or any submission carrying `text`.
pub(crate) async fn validate_body(tx: &mut sqlx::AnyConnection, spec: &Spec, item_id: &str, body: &AnnotationBody) -> Result<(), StoreError> {
    qa::validate_answers(&document_questions(&spec.schema), &body.answers)?;
    if body.image.is_some() {
        return Err(DomainError::field("image", "this item is not an image").into());
    }
    let Some(text) = &body.text else { return Ok(()) };
    let chars = note_chars(tx, item_id).await?;
    validate(spec, text, chars)
}

/// The check itself, IO-free: the first problem is the error, all are in its details.
pub fn validate(spec: &Spec, text: &TextAnnotation, chars: usize) -> Result<(), StoreError> {
    let problems = text.validate(&spec.schema, chars);
    match problems.first() {
        None => Ok(()),
        Some(first) => {
            let field = format!("text.{}", first.path);
            Err(DomainError::new(ErrorCode::InvalidField)
                .with_message(format!("{field}: {}", first.problem))
                .with_details(serde_json::json!({
                    "field": field,
                    "problem": first.problem,
                    "problems": problems.iter().take(50).map(|p| serde_json::json!({ "field": format!("text.{}", p.path), "problem": p.problem })).collect::<Vec<_>>(),
                }))
                .into())
        }
    }
}

/// Whether a submission is checked here: every submission to a text
/// project, and one carrying only `text` elsewhere (refused: not a note).
pub(crate) fn applies(spec: &Spec, body: &AnnotationBody) -> bool {
    spec.modality == Modality::Text || (body.text.is_some() && body.image.is_none())
}

/// A note's length in chars (`text` field error for other items).
pub(crate) async fn note_chars(tx: &mut sqlx::AnyConnection, item_id: &str) -> Result<usize, StoreError> {
    let r = sqlx::query("SELECT kind, meta FROM items WHERE id = $1").bind(item_id.to_string()).fetch_one(&mut *tx).await?;
    let kind: String = r.try_get("kind")?;
    if kind != "note" {
        return Err(DomainError::field("text", "this item is not a note").into());
    }
    let meta: serde_json::Value = serde_json::from_str(&r.try_get::<String, _>("meta")?).unwrap_or_default();
    meta["chars"].as_u64().map(|n| n as usize).ok_or_else(|| StoreError::Internal(format!("note {item_id} has no char count")))
}

/// Pre-annotation quality over a project's submitted annotations (gold
/// items left out): what taskers did with the suggestions. Staff only.
pub async fn suggestion_quality(db: &Db, who: &Principal, project_id: &str) -> Result<SuggestionQuality, StoreError> {
    if !matches!(who.role, Role::QaReviewer | Role::Pm | Role::Admin) {
        return Err(ErrorCode::Forbidden.into());
    }
    sqlx::query("SELECT id FROM projects WHERE id = $1").bind(project_id.to_string()).fetch_optional(&db.pool).await?.ok_or(ErrorCode::NotFound)?;
    let mut q = SuggestionQuality::default();
    let mut rows = sqlx::query("SELECT body FROM annotations WHERE project_id = $1 AND gold = 0").bind(project_id.to_string()).fetch(&db.pool);
    while let Some(r) = rows.try_next().await? {
        let body: String = r.try_get("body")?;
        if let Ok(b) = serde_json::from_str::<AnnotationBody>(&body)
            && let Some(t) = &b.text
        {
            q.add(t);
        }
    }
    Ok(q.finish())
}

// -- the project's lexicon ------------------------------------------------------------

/// A project's lexicon as the API describes it (never its terms).
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Lexicon {
    /// Changes with every replacement.
    pub id: String,
    pub project_id: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// Term lines.
    pub terms: i64,
    /// Terms per entity type.
    pub labels: BTreeMap<String, i64>,
    pub uploaded_by: String,
    pub created_at: i64,
}

/// A checked lexicon whose bytes are stored (in blob `blob_id`), to record.
#[derive(Debug, Clone)]
pub struct NewLexicon {
    pub blob_id: String,
    pub sha256: String,
    pub size: i64,
    pub terms: i64,
    pub labels: BTreeMap<String, i64>,
}

/// Where a lexicon's bytes are.
#[derive(Debug, Clone)]
pub struct LexiconBlob {
    pub lexicon: Lexicon,
    pub blob_id: String,
    /// The data-key scope of the blob (the project's).
    pub key_scope: String,
}

/// What setting a project's lexicon needs: its schema (terms are checked
/// against it) and the scope of its data key.
#[derive(Debug, Clone)]
pub struct LexiconTarget {
    pub project_id: String,
    pub org_id: String,
    pub key_scope: String,
    pub spec: Spec,
}

const LEXICON_COLUMNS: &str = "project_id, id, blob_id, sha256, size, terms, labels, uploaded_by, created_at";

fn lexicon_from_row(r: &AnyRow) -> Result<(Lexicon, String), StoreError> {
    let labels: String = r.try_get("labels")?;
    Ok((
        Lexicon {
            id: r.try_get("id")?,
            project_id: r.try_get("project_id")?,
            sha256: r.try_get("sha256")?,
            size: r.try_get("size")?,
            terms: r.try_get("terms")?,
            labels: serde_json::from_str(&labels).map_err(|e| StoreError::Internal(e.to_string()))?,
            uploaded_by: r.try_get("uploaded_by")?,
            created_at: r.try_get("created_at")?,
        },
        r.try_get("blob_id")?,
    ))
}

/// Checks that `who` may set the project's lexicon (a PM or an
/// administrator; a text project) and returns what checking it needs.
async fn lexicon_editable(ex: &mut sqlx::AnyConnection, who: &Principal, project_id: &str) -> Result<LexiconTarget, StoreError> {
    let (org_id, _) = projects::visible(ex, who, project_id).await?;
    if !matches!(who.role, Role::Pm | Role::Admin) {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("A project's lexicon is set by a PM or an administrator.").into());
    }
    let spec_text: String = sqlx::query("SELECT spec FROM projects WHERE id = $1").bind(project_id.to_string()).fetch_one(&mut *ex).await?.try_get("spec")?;
    let spec = projects::stored_spec(&spec_text, String::new())?;
    if spec.modality != Modality::Text {
        return Err(DomainError::field("project", "only text projects have a lexicon").into());
    }
    Ok(LexiconTarget { project_id: project_id.to_string(), org_id, key_scope: projects::key_scope(project_id), spec })
}

/// What setting the lexicon of a project needs, once the caller is known to be allowed.
pub async fn lexicon_target(db: &Db, who: &Principal, project_id: &str) -> Result<LexiconTarget, StoreError> {
    let mut conn = db.pool.acquire().await?;
    lexicon_editable(&mut conn, who, project_id).await
}

/// Records a project's (new) lexicon, replacing the one before, with its
/// audit event (`project.lexicon.set`). Returns it and the blob of the one
/// it replaced (for the caller to delete).
pub async fn set_lexicon(db: &Db, who: &Principal, project_id: &str, new: NewLexicon) -> Result<(Lexicon, Option<String>), StoreError> {
    let mut tx = db.begin_write().await?;
    let t = lexicon_editable(&mut tx, who, project_id).await?;
    let old: Option<String> = sqlx::query("SELECT blob_id FROM project_lexicons WHERE project_id = $1")
        .bind(project_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("blob_id"))
        .transpose()?;
    let id = new_id();
    let now = now_ms();
    let labels = serde_json::to_string(&new.labels).map_err(|e| StoreError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO project_lexicons (project_id, id, blob_id, sha256, size, terms, labels, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (project_id) DO UPDATE SET id = $2, blob_id = $3, sha256 = $4, size = $5, terms = $6, labels = $7, uploaded_by = $8, created_at = $9",
    )
    .bind(project_id.to_string())
    .bind(id.clone())
    .bind(new.blob_id.clone())
    .bind(new.sha256.clone())
    .bind(new.size)
    .bind(new.terms)
    .bind(labels)
    .bind(who.user_id.clone())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &audit::event(Some(who), Some(&t.org_id), "project.lexicon.set", "project", project_id, serde_json::json!({ "lexicon_id": id, "sha256": new.sha256, "size": new.size, "terms": new.terms, "labels": new.labels, "replaced": old.is_some() })),
    )
    .await?;
    tx.commit().await?;
    let lexicon = Lexicon { id, project_id: project_id.to_string(), sha256: new.sha256, size: new.size, terms: new.terms, labels: new.labels, uploaded_by: who.user_id.clone(), created_at: now };
    Ok((lexicon, old))
}

/// Removes a project's lexicon (`project.lexicon.remove`); returns its blob
/// for the caller to delete. `not_found` when the project has none.
pub async fn remove_lexicon(db: &Db, who: &Principal, project_id: &str) -> Result<String, StoreError> {
    let mut tx = db.begin_write().await?;
    let t = lexicon_editable(&mut tx, who, project_id).await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {LEXICON_COLUMNS} FROM project_lexicons WHERE project_id = $1")))
        .bind(project_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| DomainError::new(ErrorCode::NotFound).with_message("This project has no lexicon."))?;
    let (l, blob_id) = lexicon_from_row(&row)?;
    sqlx::query("DELETE FROM project_lexicons WHERE project_id = $1").bind(project_id.to_string()).execute(&mut *tx).await?;
    audit::append(&mut tx, &audit::event(Some(who), Some(&t.org_id), "project.lexicon.remove", "project", project_id, serde_json::json!({ "lexicon_id": l.id, "sha256": l.sha256 }))).await?;
    tx.commit().await?;
    Ok(blob_id)
}

/// A project's lexicon, if it has one (whoever may see the project).
pub async fn lexicon(db: &Db, who: &Principal, project_id: &str) -> Result<Option<LexiconBlob>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    projects::visible(&mut conn, who, project_id).await?;
    lexicon_of(&mut conn, project_id).await
}

async fn lexicon_of(ex: &mut sqlx::AnyConnection, project_id: &str) -> Result<Option<LexiconBlob>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {LEXICON_COLUMNS} FROM project_lexicons WHERE project_id = $1")))
        .bind(project_id.to_string())
        .fetch_optional(&mut *ex)
        .await?;
    row.map(|r| {
        let (lexicon, blob_id) = lexicon_from_row(&r)?;
        Ok(LexiconBlob { lexicon, blob_id, key_scope: projects::key_scope(project_id) })
    })
    .transpose()
}

/// The lexicon of the project of a task the caller holds (for its suggestions).
pub async fn task_lexicon(db: &Db, who: &Principal, task_id: &str) -> Result<Option<LexiconBlob>, StoreError> {
    let (project_id, _) = crate::tasks::held_item(db, who, task_id).await?;
    let mut conn = db.pool.acquire().await?;
    lexicon_of(&mut conn, &project_id).await
}
