//! Clinical text: pre-annotation suggestions for the note of a held task,
//! the check of a note submission's covered text, and a project's
//! pre-annotation quality.
//!
//! Suggestions come from `clinlabel_text::preannotate`: one dictionary
//! matcher per entity type the schema binds to a code system (its active
//! concepts' displays and synonyms, chapters and sections left out), each
//! built once per (system, release, entity type) and kept for the process,
//! then ConText over the note's sentences for the assertion. Offsets are
//! Unicode scalar values of the stored note, like everywhere else.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};
use axum::Json;
use axum::extract::{Path, State};
use clinlabel_domain::{DomainError, ErrorCode, Principal};
use clinlabel_store::tasks::AnnotationBody;
use clinlabel_terminology::System;
use clinlabel_text::annotation::SuggestionQuality;
use clinlabel_text::context::ConText;
use clinlabel_text::matcher::{Matcher, Term};
use clinlabel_text::model::{Code, Range, Span};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(suggestions)).routes(routes!(suggestion_quality))
}

/// A note's text as served: the whole file (`.txt`, `.md`), the `text` of
/// its JSONL line, or the text of its CSV row or BioC document
/// (`clinlabel_ingest::note`).
async fn note_text(s: &AppState, who: &Principal, task_id: &str) -> ApiResult<String> {
    let c = clinlabel_store::tasks::held_content(&s.db, who, task_id).await?;
    let key = clinlabel_store::keys::data_key(&s.db, &s.keyring, &c.key_scope).await?;
    let item = clinlabel_ingest::note::ItemRef { blob_id: &c.blob_id, media_type: &c.media_type, kind: &c.kind, range: c.byte_start as u64..c.byte_end as u64, meta: &c.meta };
    clinlabel_ingest::note::text(&s.blobs, &key, item).await.map_err(super::uploads::note_error)
}

/// Before a note submission reaches the store: fills each span's covered
/// text from the note and refuses a span whose given text differs (offsets
/// counted in UTF-16 units instead of chars, typically).
pub(crate) async fn check_submission(s: &AppState, who: &Principal, task_id: &str, body: &mut AnnotationBody) -> ApiResult<()> {
    let Some(t) = body.text.as_mut() else { return Ok(()) };
    if t.spans.is_empty() {
        return Ok(());
    }
    let note = note_text(s, who, task_id).await?;
    let problems = t.fill_text(&note);
    match problems.first() {
        None => Ok(()),
        Some(p) => {
            let field = format!("text.{}", p.path);
            Err(ApiError::Domain(DomainError::new(ErrorCode::InvalidField).with_message(format!("{field}: {}", p.problem)).with_details(serde_json::json!({
                "field": field,
                "problem": p.problem,
                "problems": problems.iter().take(50).map(|p| serde_json::json!({ "field": format!("text.{}", p.path), "problem": p.problem })).collect::<Vec<_>>(),
            }))))
        }
    }
}

/// Where an entity type's suggestions come from.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionSource {
    pub entity_type: String,
    /// The code system the schema binds to it.
    pub system: String,
    /// The release matched against (stored with every suggested code); null when not loaded here.
    pub version: Option<String>,
    /// Distinct dictionary terms.
    pub terms: usize,
}

/// Pre-annotation of a note.
#[derive(Debug, Serialize, ToSchema)]
pub struct TextSuggestions {
    /// The note's length in chars (Unicode scalar values): the unit of every offset.
    pub chars: usize,
    /// The note's sentences (for sentence-level questions), in order.
    pub sentences: Vec<Range>,
    /// Suggested spans (`source: suggested`, `state: pending`), ids `S1`, `S2`… in text order,
    /// each with its first candidate code assigned and ConText's assertion.
    pub spans: Vec<Span>,
    /// Candidate codes per suggested span id, best first.
    pub candidates: BTreeMap<String, Vec<Code>>,
    pub sources: Vec<SuggestionSource>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestionsQuery {
    /// `false`: only the note's length and sentences (reviews, rework). Default true.
    pub suggest: Option<bool>,
}

type MatcherKey = (System, String);
static MATCHERS: LazyLock<tokio::sync::Mutex<HashMap<MatcherKey, Arc<Matcher>>>> = LazyLock::new(Default::default);
static CONTEXT: LazyLock<ConText> = LazyLock::new(ConText::default);

/// The dictionary of one code system's release (its terms labelled with the empty
/// label; the caller names the entity type), built on first use.
async fn matcher(s: &AppState, system: System) -> ApiResult<Option<(Arc<Matcher>, String)>> {
    if s.terminology.info(system).is_none() {
        return Ok(None);
    }
    let t = s.terminology.clone();
    let cs = match t.loaded(system) {
        Some(cs) => cs,
        None => tokio::task::spawn_blocking(move || t.get(system))
            .await
            .map_err(|e| ApiError::internal(format!("terminology load task: {e}")))?
            .map_err(|e| ApiError::internal(format!("terminology: {e}")))?,
    };
    let version = cs.version().to_string();
    let key = (system, version.clone());
    let mut cache = MATCHERS.lock().await;
    if let Some(m) = cache.get(&key) {
        return Ok(Some((m.clone(), version)));
    }
    let v = version.clone();
    let m = tokio::task::spawn_blocking(move || {
        let terms = cs.concepts().filter(|c| c.active() && !matches!(c.kind(), Some("chapter" | "section"))).flat_map(|c| {
            let code = Code { system: system.id().to_string(), code: c.code().to_string(), display: Some(c.display().to_string()), version: Some(v.clone()) };
            std::iter::once(c.display()).chain(c.synonyms()).map(|term| Term::new(term, "", Some(code.clone()))).collect::<Vec<_>>()
        });
        Arc::new(Matcher::new(terms))
    })
    .await
    .map_err(|e| ApiError::internal(format!("matcher build task: {e}")))?;
    cache.insert(key, m.clone());
    Ok(Some((m, version)))
}

/// Pre-annotation of the note of a task the caller holds: dictionary matches over the
/// code systems the schema binds (with candidate codes and their release), ConText
/// assertions, and the note's sentences.
#[utoipa::path(get, path = "/tasks/{id}/suggestions", tag = "tasks", params(("id" = String, Path), SuggestionsQuery),
    responses((status = 200, body = TextSuggestions), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn suggestions(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiQuery(q): ApiQuery<SuggestionsQuery>) -> ApiResult<Json<TextSuggestions>> {
    let task = clinlabel_store::tasks::task_view(&s.db, &s.keyring, &a.principal, &id).await?;
    if task.item_kind != "note" {
        return Err(ApiError::Domain(DomainError::field("task", "this task's item is not a note")));
    }
    let note = note_text(&s, &a.principal, &id).await?;
    // One matcher per system; its matches go to the first entity type (schema order) bound to it.
    let mut matchers: Vec<(Arc<Matcher>, String, System, String)> = Vec::new();
    let mut sources = Vec::new();
    if q.suggest.unwrap_or(true) {
        for e in &task.schema.entity_types {
            let Some(sys) = e.code_system.as_deref() else { continue };
            let Some(system) = System::parse(sys) else { continue };
            let found = matcher(&s, system).await?;
            sources.push(SuggestionSource {
                entity_type: e.id.clone(),
                system: system.id().to_string(),
                version: found.as_ref().map(|(_, v)| v.clone()),
                terms: found.as_ref().map_or(0, |(m, _)| m.len()),
            });
            if let Some((m, _)) = found
                && !matchers.iter().any(|x| x.2 == system)
            {
                matchers.push((m, e.id.clone(), system, sys.to_string()));
            }
        }
    }
    let assertions = task.schema.assertion_values.clone();
    let out = tokio::task::spawn_blocking(move || {
        let sentences = clinlabel_text::sentences::split(&note);
        let refs: Vec<&Matcher> = matchers.iter().map(|m| m.0.as_ref()).collect();
        let found = if refs.is_empty() { Vec::new() } else { clinlabel_text::preannotate::suggest(&refs, &CONTEXT, &note, &sentences, &assertions) };
        let mut candidates = BTreeMap::new();
        let mut spans = Vec::with_capacity(found.len());
        for mut f in found {
            // The dictionary's terms carry no label and the terminology's system id: name the
            // entity type and the system as the schema does.
            if let Some((_, label, system, schema_id)) = f.candidates.first().and_then(|c| matchers.iter().find(|m| m.2.id() == c.system)) {
                f.span.label = label.clone();
                for c in f.span.codes.iter_mut().chain(f.candidates.iter_mut()) {
                    if c.system == system.id() {
                        c.system = schema_id.clone();
                    }
                }
            }
            candidates.insert(f.span.id.clone(), f.candidates);
            spans.push(f.span);
        }
        TextSuggestions { chars: note.chars().count(), sentences, spans, candidates, sources }
    })
    .await
    .map_err(|e| ApiError::internal(format!("suggestion task: {e}")))?;
    Ok(Json(out))
}

/// Pre-annotation quality of a project: of the suggestions made, how many taskers
/// accepted, edited or rejected, and how many spans they added by hand — precision and
/// recall overall and per entity type, what edits changed (QA reviewers, PMs, admins).
#[utoipa::path(get, path = "/projects/{id}/suggestion-quality", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = SuggestionQuality), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn suggestion_quality(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<SuggestionQuality>> {
    Ok(Json(clinlabel_store::text::suggestion_quality(&s.db, &a.principal, &id).await?))
}
