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
//! invariant: a stored text annotation passed `TextAnnotation::validate`
//! against its item's length: no span or sentence past the end of the note,
//! no suggestion left pending.

use crate::db::{Db, Tx};
use crate::StoreError;
use crate::tasks::AnnotationBody;
use clinlabel_domain::project::{Modality, Spec};
use clinlabel_domain::qa;
use clinlabel_domain::{DomainError, ErrorCode, Principal, Role};
use clinlabel_text::annotation::{SuggestionQuality, TextAnnotation, document_questions};
use futures::TryStreamExt;
use sqlx::Row;

/// Checks a submission to a text project, or any submission carrying `text`.
pub(crate) async fn validate_body(tx: &mut Tx, spec: &Spec, item_id: &str, body: &AnnotationBody) -> Result<(), StoreError> {
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
pub(crate) async fn note_chars(tx: &mut Tx, item_id: &str) -> Result<usize, StoreError> {
    let r = sqlx::query("SELECT kind, meta FROM items WHERE id = $1").bind(item_id.to_string()).fetch_one(&mut **tx).await?;
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
