//! Clinical text: pre-annotation suggestions for the note of a held task,
//! the check of a note submission's covered text, and a project's
//! pre-annotation quality.
//!
//! Suggestions come from `clinlabel_text::preannotate`: the project's
//! lexicon (if the PM gave it one) and one dictionary matcher per entity
//! type the schema binds to a code system (its active concepts' displays
//! and synonyms, chapters and sections left out), each built once per
//! (system, release) and kept for the process, then ConText over the note's
//! sentences for the assertion. The lexicon's matcher is kept per project
//! under the lexicon's id (a new lexicon has a new id, so a replaced one is
//! never used again, in this process or another) and the schema it was
//! filtered by. A note that came from a Label Studio export brings its own
//! results first: its spans and relations are offered as pending
//! suggestions (`L1`…, `LR1`…), its document choices as suggested answers,
//! and dictionary matches overlapping them are left out. Codes from a
//! lexicon or an import are offered with the display and release version
//! of the installation's release; a code that release does not hold is
//! not offered (an import's are listed in `imported.dropped`). Offsets are
//! Unicode scalar values of the stored note, like everywhere else.
//!
//! The lexicon itself: `PUT /projects/{id}/lexicon` (PMs and
//! administrators) takes the file as the body — UTF-8,
//! `term<TAB>label[<TAB>system:code[<TAB>display]]` per line — and refuses
//! it (`lexicon_invalid`, the line in the details) unless every label is an
//! entity type of the schema and every code is of the system bound to its
//! label and exists in the installed release; it is stored encrypted under
//! the project's data key and audited. `GET` describes it, `GET
//! …/lexicon/content` returns the file, `DELETE` removes it.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinlabel_domain::{DomainError, ErrorCode, Principal};
use clinlabel_store::tasks::AnnotationBody;
use clinlabel_terminology::System;
use clinlabel_text::annotation::SuggestionQuality;
use clinlabel_text::context::ConText;
use clinlabel_text::matcher::{Matcher, Term};
use clinlabel_text::model::{Classification, Relation};
use clinlabel_store::text::Lexicon;
use clinlabel_domain::project::LabelSchema;
use clinlabel_text::model::{Code, Range, Span};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest lexicon file.
pub const MAX_LEXICON_BYTES: usize = 32 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, lexicon_routes) = routes!(put_lexicon, get_lexicon, delete_lexicon);
    OpenApiRouter::new()
        .routes(routes!(suggestions))
        .routes(routes!(suggestion_quality))
        .routes((schemas, paths, lexicon_routes.layer(DefaultBodyLimit::max(MAX_LEXICON_BYTES))))
        .routes(routes!(lexicon_content))
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

/// Where a suggestion comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionOrigin {
    /// A code system's dictionary.
    CodeSystem,
    /// The project's lexicon.
    Lexicon,
    /// The note's own Label Studio task (its annotation or prediction).
    LabelStudio,
}

/// The project's lexicon as used for these suggestions.
#[derive(Debug, Serialize, ToSchema)]
pub struct LexiconSource {
    pub id: String,
    /// Distinct terms matched against (those whose label and code the schema still allows).
    pub terms: usize,
}

/// What a note's Label Studio task brought.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportedSuggestions {
    pub spans: usize,
    pub relations: usize,
    /// Suggested answers to document questions.
    pub answers: usize,
    /// What was left out, and why (labels, relation types, questions no longer in the
    /// schema; codes the installed release does not hold).
    pub dropped: Vec<String>,
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
    /// Suggested relations between suggested spans (`source: suggested`, `state: pending`):
    /// from a Label Studio task.
    pub relations: Vec<Relation>,
    /// Suggested answers to the note's document-level questions (from a Label Studio task).
    pub answers: BTreeMap<String, Vec<String>>,
    /// Where each suggested span and relation comes from, by id.
    pub origins: BTreeMap<String, SuggestionOrigin>,
    pub sources: Vec<SuggestionSource>,
    /// The project's lexicon, when it has one.
    pub lexicon: Option<LexiconSource>,
    /// The note's Label Studio task, when it came from one.
    pub imported: Option<ImportedSuggestions>,
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
    let Some(cs) = code_system(s, system).await? else { return Ok(None) };
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

/// A code as the installation's release of its system knows it (display and
/// version filled in), or `None` when that system is not installed here or
/// its release does not hold the code. `system` stays as the schema writes it.
async fn resolve_code(s: &AppState, c: &Code) -> ApiResult<Option<Code>> {
    let Some(system) = System::parse(&c.system) else { return Ok(None) };
    let Some(cs) = code_system(s, system).await? else { return Ok(None) };
    Ok(cs.lookup(c.code.trim()).map(|k| Code {
        system: c.system.clone(),
        code: k.code().to_string(),
        display: Some(k.display().to_string()),
        version: Some(cs.version().to_string()),
    }))
}

/// A loaded code system, or `None` when it is not installed here.
async fn code_system(s: &AppState, system: System) -> ApiResult<Option<Arc<clinlabel_terminology::CodeSystem>>> {
    if s.terminology.info(system).is_none() {
        return Ok(None);
    }
    let t = s.terminology.clone();
    Ok(Some(match t.loaded(system) {
        Some(cs) => cs,
        None => tokio::task::spawn_blocking(move || t.get(system))
            .await
            .map_err(|e| ApiError::internal(format!("terminology load task: {e}")))?
            .map_err(|e| ApiError::internal(format!("terminology: {e}")))?,
    }))
}

/// Lexicon matchers by project: (lexicon id + schema signature, matcher).
static LEXICONS: LazyLock<tokio::sync::Mutex<HashMap<String, (String, Arc<Matcher>)>>> = LazyLock::new(Default::default);

/// What of the schema a lexicon matcher depends on: entity types and their systems.
fn schema_signature(schema: &LabelSchema) -> String {
    schema.entity_types.iter().map(|e| format!("{}={}", e.id, e.code_system.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(",")
}

/// The matcher of the project's lexicon for the task's note, if the project has one:
/// built from its terms whose label (and code) the schema allows now, codes completed
/// from the installed releases; kept until the lexicon or the schema changes.
async fn lexicon_matcher(s: &AppState, who: &Principal, task_id: &str, schema: &LabelSchema) -> ApiResult<Option<(Arc<Matcher>, String)>> {
    let Some(lex) = clinlabel_store::text::task_lexicon(&s.db, who, task_id).await? else { return Ok(None) };
    let key = format!("{}#{}", lex.lexicon.id, schema_signature(schema));
    if let Some((k, m)) = LEXICONS.lock().await.get(&lex.lexicon.project_id)
        && *k == key
    {
        return Ok(Some((m.clone(), lex.lexicon.id)));
    }
    let dk = clinlabel_store::keys::data_key(&s.db, &s.keyring, &lex.key_scope).await?;
    let bytes = s.blobs.get_bytes(&dk, &lex.blob_id).await?;
    let text = String::from_utf8(bytes).map_err(|e| ApiError::internal(format!("stored lexicon: {e}")))?;
    let terms = clinlabel_text::matcher::read_lexicon("lexicon", text.trim_start_matches('\u{feff}')).map_err(|e| ApiError::internal(format!("stored lexicon: {e}")))?;
    let mut kept = Vec::with_capacity(terms.len());
    for (line, t) in terms {
        // A term the schema no longer allows (the specification changed since) is left out.
        if clinlabel_text::matcher::check_lexicon("lexicon", &[(line, t.clone())], schema).is_err() {
            continue;
        }
        let code = match &t.code {
            None => None,
            Some(c) => match resolve_code(s, c).await? {
                Some(c) => Some(c),
                None => continue,
            },
        };
        kept.push(Term { code, ..t });
    }
    let m = tokio::task::spawn_blocking(move || Arc::new(Matcher::new(kept))).await.map_err(|e| ApiError::internal(format!("matcher build task: {e}")))?;
    LEXICONS.lock().await.insert(lex.lexicon.project_id.clone(), (key, m.clone()));
    Ok(Some((m, lex.lexicon.id)))
}

/// A Label Studio task's results as suggestions the schema allows now, codes resolved
/// against the installed releases; what is left out is named in `dropped`.
async fn imported(s: &AppState, doc: clinlabel_text::model::AnnotatedDocument, schema: &LabelSchema) -> ApiResult<(Vec<Span>, Vec<Relation>, Vec<Classification>, Vec<String>)> {
    let (spans, relations, classes) = clinlabel_text::export::labelstudio::as_suggestions(doc);
    let mut dropped = Vec::new();
    let mut kept = Vec::with_capacity(spans.len());
    for mut sp in spans {
        let Some(e) = schema.entity_types.iter().find(|e| e.id == sp.label) else {
            dropped.push(format!("{}: label {:?} is no longer an entity type of the project", sp.id, sp.label));
            continue;
        };
        if sp.assertion.is_some_and(|a| !schema.assertion_values.iter().any(|v| v == a.as_str())) {
            dropped.push(format!("{}: assertion {} is no longer used by the project", sp.id, sp.assertion.map(|a| a.as_str()).unwrap_or_default()));
            sp.assertion = None;
        }
        let mut codes = Vec::new();
        for c in std::mem::take(&mut sp.codes) {
            let bound = e.code_system.as_deref().is_some_and(|b| clinlabel_text::model::same_system(b, &c.system));
            match if bound { resolve_code(s, &c).await? } else { None } {
                Some(r) => codes.push(r),
                None => dropped.push(format!("{}: code {}:{} is not in the installed release of the system bound to {:?}", sp.id, c.system, c.code, sp.label)),
            }
        }
        sp.codes = codes;
        kept.push(sp);
    }
    let ids: HashMap<&str, &str> = kept.iter().map(|x| (x.id.as_str(), x.label.as_str())).collect();
    let mut rels = Vec::new();
    for r in relations {
        let fits = schema.relation_types.iter().find(|t| t.id == r.kind).is_some_and(|t| {
            ids.get(r.from.as_str()).is_some_and(|l| t.from.iter().any(|x| x == l)) && ids.get(r.to.as_str()).is_some_and(|l| t.to.iter().any(|x| x == l))
        });
        if fits {
            rels.push(r);
        } else {
            dropped.push(format!("{}: a {:?} relation from {} to {} the schema no longer allows", r.id, r.kind, r.from, r.to));
        }
    }
    let mut answers = Vec::new();
    for c in classes {
        let fits = c.sentence.is_none()
            && schema.questions.iter().find(|q| q.id == c.question).is_some_and(|q| {
                q.level != clinlabel_domain::project::QuestionLevel::Sentence && c.answers.iter().all(|a| q.options.iter().any(|o| &o.id == a))
            });
        if fits {
            answers.push(c);
        } else {
            dropped.push(format!("choices {:?}: not a document question of the project with these options", c.question));
        }
    }
    Ok((kept, rels, answers, dropped))
}

/// Pre-annotation of the note of a task the caller holds: the note's own Label Studio
/// results (if it came from an export), matches of the project's lexicon and of the
/// code systems the schema binds (with candidate codes and their release), ConText
/// assertions, and the note's sentences.
#[utoipa::path(get, path = "/tasks/{id}/suggestions", tag = "tasks", params(("id" = String, Path), SuggestionsQuery),
    responses((status = 200, body = TextSuggestions), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn suggestions(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiQuery(q): ApiQuery<SuggestionsQuery>) -> ApiResult<Json<TextSuggestions>> {
    let task = clinlabel_store::tasks::task_view(&s.db, &s.keyring, &a.principal, &id).await?;
    if task.item_kind != "note" {
        return Err(ApiError::Domain(DomainError::field("task", "this task's item is not a note")));
    }
    let c = clinlabel_store::tasks::held_content(&s.db, &a.principal, &id).await?;
    let key = clinlabel_store::keys::data_key(&s.db, &s.keyring, &c.key_scope).await?;
    let item = clinlabel_ingest::note::ItemRef { blob_id: &c.blob_id, media_type: &c.media_type, kind: &c.kind, range: c.byte_start as u64..c.byte_end as u64, meta: &c.meta };
    let note = clinlabel_ingest::note::text(&s.blobs, &key, item.clone()).await.map_err(super::uploads::note_error)?;
    let suggest = q.suggest.unwrap_or(true);
    // (matcher, entity type for its matches or "" when its terms carry their label, system, schema id)
    let mut matchers: Vec<(Arc<Matcher>, String, Option<System>, String, SuggestionOrigin)> = Vec::new();
    let mut sources = Vec::new();
    let mut lexicon = None;
    let mut import = None;
    if suggest {
        if let Some(doc) = clinlabel_ingest::note::label_studio_task(&s.blobs, &key, item).await.map_err(super::uploads::note_error)? {
            import = Some(imported(&s, doc, &task.schema).await?);
        }
        // The project's lexicon first: of two matches over the same range, its term wins.
        if let Some((m, lex_id)) = lexicon_matcher(&s, &a.principal, &id, &task.schema).await? {
            lexicon = Some(LexiconSource { id: lex_id, terms: m.len() });
            matchers.push((m, String::new(), None, String::new(), SuggestionOrigin::Lexicon));
        }
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
                && !matchers.iter().any(|x| x.2 == Some(system))
            {
                matchers.push((m, e.id.clone(), Some(system), sys.to_string(), SuggestionOrigin::CodeSystem));
            }
        }
    }
    let assertions = task.schema.assertion_values.clone();
    let out = tokio::task::spawn_blocking(move || {
        let sentences = clinlabel_text::sentences::split(&note);
        let refs: Vec<&Matcher> = matchers.iter().map(|m| m.0.as_ref()).collect();
        let found = if refs.is_empty() { Vec::new() } else { clinlabel_text::preannotate::suggest(&refs, &CONTEXT, &note, &sentences, &assertions) };
        let mut candidates = BTreeMap::new();
        let mut origins = BTreeMap::new();
        let mut spans = Vec::with_capacity(found.len());
        let mut relations = Vec::new();
        let mut answers = BTreeMap::new();
        let mut report = None;
        if let Some((imported_spans, rels, classes, dropped)) = import {
            // Imported spans without an assertion get ConText's, as dictionary matches do.
            let targets: Vec<(usize, usize)> = imported_spans.iter().map(|x| (x.start, x.end)).collect();
            let asserted = if assertions.is_empty() || targets.is_empty() { Vec::new() } else { clinlabel_text::preannotate::assert_spans(&CONTEXT, &note, &sentences, &targets) };
            report = Some(ImportedSuggestions { spans: imported_spans.len(), relations: rels.len(), answers: classes.len(), dropped });
            for (k, mut sp) in imported_spans.into_iter().enumerate() {
                if sp.assertion.is_none() {
                    sp.assertion = asserted.get(k).copied().filter(|a| assertions.iter().any(|x| x == a.as_str()));
                }
                origins.insert(sp.id.clone(), SuggestionOrigin::LabelStudio);
                candidates.insert(sp.id.clone(), sp.codes.clone());
                spans.push(sp);
            }
            for r in rels {
                origins.insert(r.id.clone(), SuggestionOrigin::LabelStudio);
                relations.push(r);
            }
            for c in classes {
                answers.insert(c.question, c.answers);
            }
        }
        let taken: Vec<(usize, usize)> = spans.iter().map(|x| (x.start, x.end)).collect();
        for mut f in found {
            if taken.iter().any(|&(a, b)| a < f.span.end && f.span.start < b) {
                continue; // the note's own (imported) suggestion covers it
            }
            let from_code_system = f.span.label.is_empty();
            if from_code_system {
                // The code systems' terms carry no label and the terminology's system id:
                // name the entity type and the system as the schema does.
                if let Some((_, label, Some(system), schema_id, _)) = f.candidates.first().and_then(|c| matchers.iter().find(|m| m.2.is_some_and(|x| x.id() == c.system))) {
                    f.span.label = label.clone();
                    for c in f.span.codes.iter_mut().chain(f.candidates.iter_mut()) {
                        if c.system == system.id() {
                            c.system = schema_id.clone();
                        }
                    }
                }
            }
            origins.insert(f.span.id.clone(), if from_code_system { SuggestionOrigin::CodeSystem } else { SuggestionOrigin::Lexicon });
            candidates.insert(f.span.id.clone(), f.candidates);
            spans.push(f.span);
        }
        spans.sort_by_key(|x| (x.start, std::cmp::Reverse(x.end)));
        TextSuggestions { chars: note.chars().count(), sentences, spans, candidates, relations, answers, origins, sources, lexicon, imported: report }
    })
    .await
    .map_err(|e| ApiError::internal(format!("suggestion task: {e}")))?;
    Ok(Json(out))
}

// -- the project's lexicon -----------------------------------------------------------------

fn lexicon_invalid(line: Option<usize>, problem: String) -> ApiError {
    let message = match line {
        Some(l) => format!("lexicon line {l}: {problem}"),
        None => format!("lexicon: {problem}"),
    };
    ApiError::Domain(DomainError::new(ErrorCode::LexiconInvalid).with_message(message).with_details(serde_json::json!({ "line": line, "problem": problem })))
}

/// The lexicon's terms, checked: UTF-8 (a BOM is allowed), every line a term, every
/// label an entity type of the schema, every code of the system bound to its label
/// and in the installed release of that system. Terms per label.
async fn check_lexicon_file(s: &AppState, bytes: &[u8], schema: &LabelSchema) -> ApiResult<(usize, BTreeMap<String, i64>)> {
    let text = std::str::from_utf8(bytes).map_err(|e| lexicon_invalid(None, format!("not UTF-8: invalid byte at offset {} (save the file as UTF-8)", e.valid_up_to())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let terms = clinlabel_text::matcher::read_lexicon("lexicon", text).map_err(|e| match e {
        clinlabel_text::TextError::Rules { line, problem, .. } => lexicon_invalid(Some(line), problem),
        other => lexicon_invalid(None, other.to_string()),
    })?;
    if terms.is_empty() {
        return Err(lexicon_invalid(None, "no terms: one term<TAB>label[<TAB>system:code[<TAB>display]] per line".into()));
    }
    clinlabel_text::matcher::check_lexicon("lexicon", &terms, schema).map_err(|e| match e {
        clinlabel_text::TextError::Rules { line, problem, .. } => lexicon_invalid(Some(line), problem),
        other => lexicon_invalid(None, other.to_string()),
    })?;
    let mut labels: BTreeMap<String, i64> = BTreeMap::new();
    for (line, t) in &terms {
        *labels.entry(t.label.clone()).or_default() += 1;
        let Some(c) = &t.code else { continue };
        let system = System::parse(&c.system).ok_or_else(|| lexicon_invalid(Some(*line), format!("{:?} is not a code system clinlabel knows", c.system)))?;
        let Some(cs) = code_system(s, system).await? else {
            return Err(lexicon_invalid(Some(*line), format!("{} is not installed here: import it (clinlabel terminology import) or give no code", system.name())));
        };
        if cs.lookup(c.code.trim()).is_none() {
            return Err(lexicon_invalid(Some(*line), format!("{} is not a code of {} {}", c.code, system.name(), cs.version())));
        }
    }
    Ok((terms.len(), labels))
}

/// A project's lexicon, if it has one.
#[derive(Debug, Serialize, ToSchema)]
pub struct LexiconStatus {
    pub lexicon: Option<Lexicon>,
}

/// Sets (or replaces) a text project's lexicon for the dictionary matcher (PMs and
/// administrators). The body is the file: UTF-8, one `term<TAB>label[<TAB>system:code[<TAB>display]]`
/// per line, `#` comments; at most 32 MiB. Refused with `lexicon_invalid` (details: the
/// line and the problem) unless every label is an entity type of the schema and every
/// code belongs to the system bound to its label and exists in the installed release.
#[utoipa::path(put, path = "/projects/{id}/lexicon", tag = "projects", params(("id" = String, Path)),
    request_body(content = String, content_type = "text/tab-separated-values"),
    responses((status = 200, body = Lexicon), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_lexicon(State(s): State<AppState>, a: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<Lexicon>> {
    let target = clinlabel_store::text::lexicon_target(&s.db, &a.principal, &id).await?;
    let (terms, labels) = check_lexicon_file(&s, &body, &target.spec.schema).await?;
    let key = clinlabel_store::keys::data_key(&s.db, &s.keyring, &target.key_scope).await?;
    let blob_id = format!("lexicon-{id}-{}", clinlabel_store::db::new_id());
    let info = s.blobs.put_bytes(&key, &blob_id, body.clone()).await?;
    let new = clinlabel_store::text::NewLexicon { blob_id: blob_id.clone(), sha256: info.sha256, size: body.len() as i64, terms: terms as i64, labels };
    let (lexicon, old) = match clinlabel_store::text::set_lexicon(&s.db, &a.principal, &id, new).await {
        Ok(r) => r,
        Err(e) => {
            let _ = s.blobs.delete(&blob_id).await;
            return Err(e.into());
        }
    };
    if let Some(old) = old {
        // Best effort: a leftover is ciphertext nobody references.
        let _ = s.blobs.delete(&old).await;
    }
    Ok(Json(lexicon))
}

/// A project's lexicon: its description (never its terms), or null (whoever may see the project).
#[utoipa::path(get, path = "/projects/{id}/lexicon", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = LexiconStatus), (status = 404, body = ErrorBody)))]
async fn get_lexicon(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<LexiconStatus>> {
    let l = clinlabel_store::text::lexicon(&s.db, &a.principal, &id).await?;
    Ok(Json(LexiconStatus { lexicon: l.map(|x| x.lexicon) }))
}

/// Removes a project's lexicon (PMs and administrators).
#[utoipa::path(delete, path = "/projects/{id}/lexicon", tag = "projects", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_lexicon(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let blob = clinlabel_store::text::remove_lexicon(&s.db, &a.principal, &id).await?;
    let _ = s.blobs.delete(&blob).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The lexicon file as it was set (whoever may see the project).
#[utoipa::path(get, path = "/projects/{id}/lexicon/content", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/tab-separated-values"), (status = 404, body = ErrorBody)))]
async fn lexicon_content(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let l = clinlabel_store::text::lexicon(&s.db, &a.principal, &id).await?.ok_or_else(|| DomainError::new(ErrorCode::NotFound).with_message("This project has no lexicon."))?;
    let key = clinlabel_store::keys::data_key(&s.db, &s.keyring, &l.key_scope).await?;
    let bytes = s.blobs.get_bytes(&key, &l.blob_id).await?;
    Ok(([(header::CONTENT_TYPE, "text/tab-separated-values; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], bytes).into_response())
}

/// Pre-annotation quality of a project: of the suggestions made, how many taskers
/// accepted, edited or rejected, and how many spans they added by hand — precision and
/// recall overall and per entity type, what edits changed (QA reviewers, PMs, admins).
#[utoipa::path(get, path = "/projects/{id}/suggestion-quality", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = SuggestionQuality), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn suggestion_quality(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<SuggestionQuality>> {
    Ok(Json(clinlabel_store::text::suggestion_quality(&s.db, &a.principal, &id).await?))
}
