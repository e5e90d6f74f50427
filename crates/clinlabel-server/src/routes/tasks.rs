//! The task engine and QA pipeline: next task, submit, skip, reviews, returned
//! work, gold items, batches, accuracy and notifications.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clinlabel_domain::qa::{Answers, Stage};
use clinlabel_store::tasks::{self, Accuracy, AnnotationBody, BatchView, Notification, ReturnedItem, ReviewRequest, Submitted, TaskView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(next_task))
        .routes(routes!(next_review))
        .routes(routes!(get_task))
        .routes(routes!(task_content))
        .routes(routes!(submit_task))
        .routes(routes!(skip_task))
        .routes(routes!(review_task))
        .routes(routes!(returned_work))
        .routes(routes!(set_gold))
        .routes(routes!(list_batches))
        .routes(routes!(get_batch))
        .routes(routes!(all_batches))
        .routes(routes!(decide_batch))
        .routes(routes!(accuracy))
        .routes(routes!(notifications))
}

fn task_or_empty(t: Option<TaskView>) -> Response {
    match t {
        Some(t) => Json(t).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The next annotation task for the signed-in tasker (204 when there is none they may do).
#[utoipa::path(post, path = "/tasks/next", tag = "tasks", responses((status = 200, body = TaskView), (status = 204), (status = 403, body = ErrorBody)))]
async fn next_task(State(s): State<AppState>, a: Auth) -> ApiResult<Response> {
    Ok(task_or_empty(tasks::next_task(&s.db, &s.keyring, &a.principal).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TierQuery {
    /// 1 (peer review, taskers), 2 (QA reviewers) or 3 (PM spot-check).
    pub tier: i64,
}

/// The next review task of a tier for the signed-in reviewer (204 when none).
#[utoipa::path(post, path = "/reviews/next", tag = "tasks", params(TierQuery), responses((status = 200, body = TaskView), (status = 204), (status = 403, body = ErrorBody)))]
async fn next_review(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<TierQuery>) -> ApiResult<Response> {
    Ok(task_or_empty(tasks::next_review(&s.db, &s.keyring, &a.principal, q.tier).await?))
}

/// A task the caller holds.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", params(("id" = String, Path)), responses((status = 200, body = TaskView), (status = 404, body = ErrorBody)))]
async fn get_task(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<TaskView>> {
    Ok(Json(tasks::task_view(&s.db, &s.keyring, &a.principal, &id).await?))
}

/// The item of a task the caller holds, decrypted on the fly: what the workspace shows
/// (as `/items/{id}/content`: CSV rows and BioC documents as their note's JSON).
#[utoipa::path(get, path = "/tasks/{id}/content", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, description = "The item's bytes, or its note as JSON"), (status = 404, body = ErrorBody)))]
async fn task_content(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    use axum::http::{HeaderValue, header};
    use clinlabel_ingest::note::{ItemRef, Served};
    let c = tasks::held_content(&s.db, &a.principal, &id).await?;
    let key = clinlabel_store::keys::data_key(&s.db, &s.keyring, &c.key_scope).await?;
    let (from, to) = (c.byte_start as u64, c.byte_end as u64);
    // CSV rows and BioC documents are served as their note's JSON (see /items/{id}/content).
    let item = ItemRef { blob_id: &c.blob_id, media_type: &c.media_type, kind: &c.kind, range: from..to, meta: &c.meta };
    let (body, ct, len) = match super::uploads::served_item(&s, &key, item).await? {
        Served::Json(j) => {
            let n = j.len() as u64;
            (axum::body::Body::from(j), "application/json".to_string(), n)
        }
        Served::Stored { content_type } => {
            let body = if to > from { axum::body::Body::from_stream(s.blobs.get_range(&key, &c.blob_id, from..to).await?.stream) } else { axum::body::Body::empty() };
            (body, content_type, to - from)
        }
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&ct).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(r)
}

/// Submits an annotation (or its rework).
#[utoipa::path(post, path = "/tasks/{id}/submit", tag = "tasks", params(("id" = String, Path)), request_body = AnnotationBody,
    responses((status = 200, body = Submitted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit_task(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(mut body): ApiJson<AnnotationBody>) -> ApiResult<Json<Submitted>> {
    super::text::check_submission(&s, &a.principal, &id, &mut body).await?;
    Ok(Json(tasks::submit(&s.db, &a.principal, &id, body).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRequest {
    pub reason: String,
}

/// Declines an assignment with a reason; the item is not offered to the caller again.
#[utoipa::path(post, path = "/tasks/{id}/skip", tag = "tasks", params(("id" = String, Path)), request_body = SkipRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn skip_task(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<SkipRequest>) -> ApiResult<StatusCode> {
    tasks::skip(&s.db, &a.principal, &id, &r.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewOutcome {
    /// Where the annotation went: tier2, rework or accepted (tier1 after a rework).
    pub next: Stage,
}

/// Accepts or rejects the annotation under review, with comments anchored to its elements.
#[utoipa::path(post, path = "/tasks/{id}/review", tag = "tasks", params(("id" = String, Path)), request_body = ReviewRequest,
    responses((status = 200, body = ReviewOutcome), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_task(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<ReviewRequest>) -> ApiResult<Json<ReviewOutcome>> {
    Ok(Json(ReviewOutcome { next: tasks::review(&s.db, &a.principal, &id, r).await? }))
}

/// The caller's returned work, with the reviewers' feedback in place.
#[utoipa::path(get, path = "/tasks/returned", tag = "tasks", responses((status = 200, body = Vec<TaskView>)))]
async fn returned_work(State(s): State<AppState>, a: Auth) -> ApiResult<Json<Vec<TaskView>>> {
    Ok(Json(tasks::returned_work(&s.db, &s.keyring, &a.principal).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoldRequest {
    /// The reference answer: question id → option ids.
    #[serde(default)]
    pub answer: Answers,
    /// Image items: the reference shapes, label maps and per-frame answers.
    #[serde(default)]
    pub image: Option<clinlabel_domain::imaging::ImageAnnotation>,
    /// Notes: the reference spans, relations and sentence answers.
    #[serde(default)]
    pub text: Option<clinlabel_text::annotation::TextAnnotation>,
}

/// Marks an item as gold with its reference answer (PMs, before the work starts).
#[utoipa::path(put, path = "/items/{id}/gold", tag = "tasks", params(("id" = String, Path)), request_body = GoldRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_gold(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<GoldRequest>) -> ApiResult<StatusCode> {
    tasks::set_gold_reference(&s.db, &a.principal, &id, r.answer, r.image, r.text).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BatchQuery {
    /// annotating, spot_check, awaiting_approval or approved.
    pub state: Option<String>,
}

/// A project's batches with their agreement, gold accuracy and rework rate.
#[utoipa::path(get, path = "/projects/{id}/batches", tag = "tasks", params(("id" = String, Path), BatchQuery),
    responses((status = 200, body = Vec<BatchView>), (status = 403, body = ErrorBody)))]
async fn list_batches(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiQuery(q): ApiQuery<BatchQuery>) -> ApiResult<Json<Vec<BatchView>>> {
    Ok(Json(tasks::batches(&s.db, &a.principal, &id, q.state.as_deref()).await?))
}

/// Batches of every project in progress, optionally in one state — e.g.
/// `awaiting_approval` for the QA reviewer's home page (at most 200).
#[utoipa::path(get, path = "/batches", tag = "tasks", params(BatchQuery),
    responses((status = 200, body = Vec<BatchView>), (status = 403, body = ErrorBody)))]
async fn all_batches(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<BatchQuery>) -> ApiResult<Json<Vec<BatchView>>> {
    Ok(Json(tasks::batches_in_state(&s.db, &a.principal, q.state.as_deref()).await?))
}

/// One batch.
#[utoipa::path(get, path = "/batches/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = BatchView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_batch(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<BatchView>> {
    Ok(Json(tasks::batch(&s.db, &a.principal, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchDecision {
    Approve,
    Return,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDecisionRequest {
    pub decision: BatchDecision,
    /// For `return`: the annotations to rework, each with line-by-line feedback.
    #[serde(default)]
    pub returned: Vec<ReturnedItem>,
}

/// The QA reviewer approves the batch (at or above the threshold) or returns it with feedback.
#[utoipa::path(post, path = "/batches/{id}/decision", tag = "tasks", params(("id" = String, Path)), request_body = BatchDecisionRequest,
    responses((status = 200, body = BatchView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decide_batch(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<BatchDecisionRequest>) -> ApiResult<Json<BatchView>> {
    let approve = matches!(r.decision, BatchDecision::Approve);
    Ok(Json(tasks::decide_batch(&s.db, &a.principal, &id, approve, r.returned).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccuracyQuery {
    pub track_id: Option<String>,
}

/// Rolling gold accuracy per tasker and track (staff: everyone; taskers: their own).
#[utoipa::path(get, path = "/accuracy", tag = "tasks", params(AccuracyQuery), responses((status = 200, body = Vec<Accuracy>), (status = 403, body = ErrorBody)))]
async fn accuracy(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<AccuracyQuery>) -> ApiResult<Json<Vec<Accuracy>>> {
    Ok(Json(tasks::accuracy(&s.db, &a.principal, q.track_id.as_deref()).await?))
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/notifications", tag = "tasks", responses((status = 200, body = Vec<Notification>)))]
async fn notifications(State(s): State<AppState>, a: Auth) -> ApiResult<Json<Vec<Notification>>> {
    Ok(Json(tasks::notifications(&s.db, &a.principal).await?))
}
