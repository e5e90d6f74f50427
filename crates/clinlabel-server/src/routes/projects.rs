//! Lifecycle steps 1–2: agreements, project specifications, quotes, the rate card.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth, ClientAddr};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use clinlabel_domain::pricing::{Pricing, RateCard};
use clinlabel_domain::project::{ProjectState, Spec, Step};
use clinlabel_store::agreements::{self, AgreementKind, AgreementStatus, AgreementVersion, Signature};
use clinlabel_store::audit::AuditEventView;
use clinlabel_store::projects::{self, Adjustment, Project, ProjectQuery, ProjectSummary, Quote};
use clinlabel_store::{Page, Paged};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agreement_status, publish_agreement))
        .routes(routes!(sign_agreement))
        .routes(routes!(organisation_signatures))
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project))
        .routes(routes!(project_step))
        .routes(routes!(project_history))
        .routes(routes!(list_quotes, issue_quote))
        .routes(routes!(preview_quote))
        .routes(routes!(decide_quote))
        .routes(routes!(get_rate_card, put_rate_card))
        .routes(routes!(set_track_rate))
}

// -- agreements --------------------------------------------------------------------

/// The current NDA and DPA and the caller's organisation's signatures on them.
#[utoipa::path(get, path = "/agreements", tag = "projects", responses((status = 200, body = Vec<AgreementStatus>)))]
async fn agreement_status(State(s): State<AppState>, a: Auth) -> ApiResult<Json<Vec<AgreementStatus>>> {
    Ok(Json(agreements::status(&s.db, &a.principal).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishAgreement {
    pub kind: AgreementKind,
    pub title: String,
    /// The full text (Markdown). Its SHA-256 is what signatures bind to.
    pub body: String,
}

/// Publishes a new version of the NDA or DPA (administrators); every client must sign it again.
#[utoipa::path(post, path = "/agreements", tag = "projects", request_body = PublishAgreement,
    responses((status = 201, body = AgreementVersion), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn publish_agreement(State(s): State<AppState>, a: Auth, ApiJson(r): ApiJson<PublishAgreement>) -> ApiResult<(StatusCode, Json<AgreementVersion>)> {
    Ok((StatusCode::CREATED, Json(agreements::publish(&s.db, &a.principal, r.kind, &r.title, &r.body).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignAgreement {
    /// The signer's full name, typed.
    pub full_name: String,
}

/// Signs the current version of an agreement for the caller's organisation (client admins).
#[utoipa::path(post, path = "/agreements/{id}/sign", tag = "projects", params(("id" = String, Path)), request_body = SignAgreement,
    responses((status = 201, body = Signature), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn sign_agreement(State(s): State<AppState>, a: Auth, ClientAddr(ip): ClientAddr, Path(id): Path<String>, ApiJson(r): ApiJson<SignAgreement>) -> ApiResult<(StatusCode, Json<Signature>)> {
    Ok((StatusCode::CREATED, Json(agreements::sign(&s.db, &a.principal, &id, &r.full_name, &ip).await?)))
}

/// Every signature of an organisation, newest first.
#[utoipa::path(get, path = "/organisations/{id}/signatures", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Signature>), (status = 404, body = ErrorBody)))]
async fn organisation_signatures(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<Signature>>> {
    Ok(Json(agreements::signatures(&s.db, &a.principal, &id).await?))
}

// -- projects ----------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProjectListQuery {
    pub state: Option<ProjectState>,
    pub org_id: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// Projects the caller may see, most recently changed first.
#[utoipa::path(get, path = "/projects", tag = "projects", params(ProjectListQuery),
    responses((status = 200, body = Paged<ProjectSummary>), (status = 403, body = ErrorBody)))]
async fn list_projects(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<ProjectListQuery>) -> ApiResult<Json<Paged<ProjectSummary>>> {
    let d = Page::default();
    let page = Page { page: q.page.unwrap_or(d.page), per_page: q.per_page.unwrap_or(d.per_page) };
    Ok(Json(projects::list(&s.db, &a.principal, &ProjectQuery { state: q.state, org_id: q.org_id }, page).await?))
}

/// Creates a project from a specification, in `draft` (client roles).
#[utoipa::path(post, path = "/projects", tag = "projects", request_body = Spec,
    responses((status = 201, body = Project), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_project(State(s): State<AppState>, a: Auth, ApiJson(spec): ApiJson<Spec>) -> ApiResult<(StatusCode, Json<Project>)> {
    Ok((StatusCode::CREATED, Json(projects::create(&s.db, &s.keyring, &a.principal, spec).await?)))
}

/// One project, with its full specification.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody)))]
async fn get_project(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Project>> {
    Ok(Json(projects::get(&s.db, &s.keyring, &a.principal, &id).await?))
}

/// Replaces the specification while it is editable; a quoted project returns to `submitted`.
#[utoipa::path(put, path = "/projects/{id}", tag = "projects", params(("id" = String, Path)), request_body = Spec,
    responses((status = 200, body = Project), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_project(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(spec): ApiJson<Spec>) -> ApiResult<Json<Project>> {
    Ok(Json(projects::update_spec(&s.db, &s.keyring, &a.principal, &id, spec).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// submit, start, send_to_qa, deliver or cancel.
    pub step: Step,
    pub comment: Option<String>,
}

/// Moves the project one step through its lifecycle.
#[utoipa::path(post, path = "/projects/{id}/steps", tag = "projects", params(("id" = String, Path)), request_body = StepRequest,
    responses((status = 200, body = Project), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn project_step(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<StepRequest>) -> ApiResult<Json<Project>> {
    Ok(Json(projects::step(&s.db, &s.keyring, &a.principal, &id, r.step, r.comment.as_deref()).await?))
}

/// The project's history: every audited event about it, oldest first.
#[utoipa::path(get, path = "/projects/{id}/history", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = Vec<AuditEventView>), (status = 404, body = ErrorBody)))]
async fn project_history(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<AuditEventView>>> {
    Ok(Json(projects::history(&s.db, &a.principal, &id).await?))
}

// -- quotes ------------------------------------------------------------------------

/// The project's quotes, newest first.
#[utoipa::path(get, path = "/projects/{id}/quotes", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Quote>), (status = 404, body = ErrorBody)))]
async fn list_quotes(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<Quote>>> {
    Ok(Json(projects::quotes(&s.db, &a.principal, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// Line adjustments, each with a written reason.
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
}

/// Prices the current specification and issues the quote (PMs); the project becomes `quoted`.
#[utoipa::path(post, path = "/projects/{id}/quotes", tag = "projects", params(("id" = String, Path)), request_body = QuoteRequest,
    responses((status = 201, body = Quote), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn issue_quote(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<QuoteRequest>) -> ApiResult<(StatusCode, Json<Quote>)> {
    Ok((StatusCode::CREATED, Json(projects::issue_quote(&s.db, &s.keyring, &a.principal, &id, &r.adjustments).await?)))
}

/// What the pricing model proposes for the project now, without issuing it (PMs).
#[utoipa::path(get, path = "/projects/{id}/quote-preview", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = Pricing), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn preview_quote(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Pricing>> {
    Ok(Json(projects::preview_quote(&s.db, &s.keyring, &a.principal, &id).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuoteDecision {
    Approve,
    Reject,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: QuoteDecision,
    /// Required when rejecting.
    pub comment: Option<String>,
}

/// The client admin approves or rejects the standing quote.
#[utoipa::path(post, path = "/projects/{id}/quotes/{quote_id}/decision", tag = "projects",
    params(("id" = String, Path), ("quote_id" = String, Path)), request_body = DecisionRequest,
    responses((status = 200, body = Project), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decide_quote(State(s): State<AppState>, a: Auth, Path((id, quote_id)): Path<(String, String)>, ApiJson(r): ApiJson<DecisionRequest>) -> ApiResult<Json<Project>> {
    let approve = matches!(r.decision, QuoteDecision::Approve);
    Ok(Json(projects::decide_quote(&s.db, &s.keyring, &a.principal, &id, &quote_id, approve, r.comment.as_deref()).await?))
}

// -- rate card ---------------------------------------------------------------------

/// The rate card in force (provider staff).
#[utoipa::path(get, path = "/rate-card", tag = "projects", responses((status = 200, body = RateCard), (status = 403, body = ErrorBody)))]
async fn get_rate_card(State(s): State<AppState>, a: Auth) -> ApiResult<Json<RateCard>> {
    if a.principal.role.org_kind() != clinlabel_domain::OrgKind::Provider {
        return Err(clinlabel_domain::ErrorCode::Forbidden.into());
    }
    Ok(Json(projects::rate_card(&s.db).await?))
}

/// Replaces the rate card (administrators).
#[utoipa::path(put, path = "/rate-card", tag = "projects", request_body = RateCard,
    responses((status = 200, body = RateCard), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_rate_card(State(s): State<AppState>, a: Auth, ApiJson(card): ApiJson<RateCard>) -> ApiResult<Json<RateCard>> {
    projects::save_rate_card(&s.db, &a.principal, &card).await?;
    Ok(Json(card))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackRate {
    /// Specialty multiplier on the price, 0.1–10.
    pub rate_multiplier: f64,
}

/// Sets a track's specialty rate multiplier (administrators).
#[utoipa::path(put, path = "/tracks/{id}/rate", tag = "projects", params(("id" = String, Path)), request_body = TrackRate,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_track_rate(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<TrackRate>) -> ApiResult<StatusCode> {
    projects::set_track_multiplier(&s.db, &a.principal, &id, r.rate_multiplier).await?;
    Ok(StatusCode::NO_CONTENT)
}
