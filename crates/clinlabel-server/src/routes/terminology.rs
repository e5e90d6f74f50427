//! The terminology service, read-only: the installation's code systems,
//! type-ahead search and concepts with their hierarchy (any signed-in user).

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};
use axum::Json;
use axum::extract::{Path, State};
use clinlabel_domain::{DomainError, ErrorCode};
use clinlabel_terminology::{CodeSystem, ConceptRef, System};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_systems)).routes(routes!(search)).routes(routes!(concept))
}

/// Longest query accepted, in characters.
const MAX_QUERY: usize = 200;
/// Most results per search.
const MAX_LIMIT: usize = 100;
/// Most children listed with a concept.
const MAX_CHILDREN: usize = 500;

/// A code system loaded in this installation.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSystemInfo {
    /// The id used in URLs: icd10cm, icd10pcs, snomed, loinc, rxnorm, meddra, cpt, hcpcs.
    pub system: String,
    /// E.g. `ICD-10-CM`.
    pub name: String,
    /// The canonical system URI.
    pub uri: String,
    /// The release version; store it with every code assigned from this system.
    pub version: String,
    /// Where the release came from.
    pub source: String,
    /// Number of concepts (active or not).
    pub concepts: u32,
    /// `bundled` (shipped with clinlabel) or `imported` (into this installation).
    pub origin: String,
    /// Licensed content, imported by the installation.
    pub licensed: bool,
}

/// Lists the installation's code systems and their release versions.
#[utoipa::path(get, path = "/terminology/systems", tag = "terminology", responses((status = 200, body = Vec<CodeSystemInfo>), (status = 401, body = ErrorBody)))]
async fn list_systems(State(s): State<AppState>, _a: Auth) -> ApiResult<Json<Vec<CodeSystemInfo>>> {
    Ok(Json(
        s.terminology
            .systems()
            .into_iter()
            .map(|i| CodeSystemInfo {
                system: i.system.id().to_string(),
                name: i.name.to_string(),
                uri: i.uri.to_string(),
                version: i.version,
                source: i.source,
                concepts: i.concepts,
                origin: match i.origin {
                    clinlabel_terminology::Origin::Bundled => "bundled".into(),
                    clinlabel_terminology::Origin::Imported => "imported".into(),
                },
                licensed: i.licensed,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// What the user typed: a code, a code prefix (with or without ICD's dot) or words
    /// (prefixes and small typos allowed). At most 200 characters.
    pub q: String,
    /// Most results, 1–100 (default 20).
    pub limit: Option<usize>,
}

/// One search result.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub code: String,
    pub display: String,
    /// The synonym that matched, when it was not the display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// `code` (exact code), `code_prefix` or `text`.
    pub match_kind: String,
    /// Higher is better; comparable within one response only.
    pub score: f32,
    pub active: bool,
    /// Valid for billing / a leaf, where the system defines it.
    pub billable: Option<bool>,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub system: String,
    /// The release version searched.
    pub version: String,
    pub query: String,
    pub results: Vec<SearchHit>,
}

/// A concept in a list (parents, children).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConceptBrief {
    pub code: String,
    pub display: String,
    pub billable: Option<bool>,
}

/// A concept with its hierarchy.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConceptDetail {
    pub system: String,
    /// The release version.
    pub version: String,
    pub code: String,
    pub display: String,
    pub synonyms: Vec<String>,
    pub active: bool,
    /// Valid for billing / a leaf, where the system defines it (ICD-10-CM/PCS).
    pub billable: Option<bool>,
    /// The node's kind in its system (ICD chapter/section/category, SNOMED semantic tag, ...).
    pub kind: Option<String>,
    pub parents: Vec<ConceptBrief>,
    /// At most 500, in release order; `children_total` counts them all.
    pub children: Vec<ConceptBrief>,
    pub children_total: usize,
}

fn brief(c: ConceptRef<'_>) -> ConceptBrief {
    ConceptBrief { code: c.code().to_string(), display: c.display().to_string(), billable: c.billable() }
}

/// The system's index, built off the runtime when this is its first use.
async fn code_system(s: &AppState, id: &str) -> ApiResult<Arc<CodeSystem>> {
    let not_found = |msg: String| ApiError::Domain(DomainError::new(ErrorCode::NotFound).with_message(msg));
    let system = System::parse(id).ok_or_else(|| not_found(format!("There is no code system {id:?}.")))?;
    if let Some(cs) = s.terminology.loaded(system) {
        return Ok(cs);
    }
    if s.terminology.info(system).is_none() {
        return Err(not_found(format!("{} is not loaded in this installation.", system.name())));
    }
    let t = s.terminology.clone();
    tokio::task::spawn_blocking(move || t.get(system))
        .await
        .map_err(|e| ApiError::internal(format!("terminology load task: {e}")))?
        .map_err(|e| ApiError::internal(format!("terminology: {e}")))
}

fn invalid_query(msg: String) -> ApiError {
    ApiError::Domain(DomainError::new(ErrorCode::InvalidQuery).with_message(msg))
}

/// Type-ahead search: the exact code, codes starting with the query, then ranked matches on
/// displays and synonyms (word prefixes, small typos).
#[utoipa::path(get, path = "/terminology/{system}/search", tag = "terminology", params(("system" = String, Path), SearchQuery),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn search(State(s): State<AppState>, _a: Auth, Path(system): Path<String>, ApiQuery(q): ApiQuery<SearchQuery>) -> ApiResult<Json<SearchResponse>> {
    if q.q.chars().count() > MAX_QUERY {
        return Err(invalid_query(format!("q: at most {MAX_QUERY} characters.")));
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid_query(format!("limit: between 1 and {MAX_LIMIT}.")));
    }
    let cs = code_system(&s, &system).await?;
    let results = cs
        .search(&q.q, limit)
        .into_iter()
        .map(|h| SearchHit {
            code: h.code,
            display: h.display,
            matched: h.matched,
            match_kind: match h.match_kind {
                clinlabel_terminology::MatchKind::Code => "code",
                clinlabel_terminology::MatchKind::CodePrefix => "code_prefix",
                clinlabel_terminology::MatchKind::Text => "text",
            }
            .into(),
            score: h.score,
            active: h.active,
            billable: h.billable,
        })
        .collect();
    Ok(Json(SearchResponse { system: cs.system().id().to_string(), version: cs.version().to_string(), query: q.q, results }))
}

/// One concept (dots and case in the code do not matter) with its parents and children.
#[utoipa::path(get, path = "/terminology/{system}/concepts/{code}", tag = "terminology", params(("system" = String, Path), ("code" = String, Path)),
    responses((status = 200, body = ConceptDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn concept(State(s): State<AppState>, _a: Auth, Path((system, code)): Path<(String, String)>) -> ApiResult<Json<ConceptDetail>> {
    let cs = code_system(&s, &system).await?;
    let c = cs
        .lookup(&code)
        .ok_or_else(|| ApiError::Domain(DomainError::new(ErrorCode::NotFound).with_message(format!("{} has no code {code:?}.", cs.system().name()))))?;
    let children_total = c.children().count();
    Ok(Json(ConceptDetail {
        system: cs.system().id().to_string(),
        version: cs.version().to_string(),
        code: c.code().to_string(),
        display: c.display().to_string(),
        synonyms: c.synonyms().map(str::to_string).collect(),
        active: c.active(),
        billable: c.billable(),
        kind: c.kind().map(str::to_string),
        parents: c.parents().map(brief).collect(),
        children: c.children().take(MAX_CHILDREN).map(brief).collect(),
        children_total,
    }))
}
