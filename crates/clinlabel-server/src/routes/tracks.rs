//! Specialist tracks and certifications.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use clinlabel_domain::certification::CertificationStatus;
use clinlabel_store::tracks::{self, Certification, CertificationPatch, CertificationQuery, NewTrack, Track, TrackPatch};
use clinlabel_store::{Page, Paged};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tracks, create_track))
        .routes(routes!(update_track))
        .routes(routes!(list_certifications, grant_certification))
        .routes(routes!(update_certification))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrackListQuery {
    /// Include retired tracks.
    pub include_inactive: Option<bool>,
}

/// Specialist tracks, by name (every signed-in user).
#[utoipa::path(get, path = "/tracks", tag = "tracks", params(TrackListQuery), responses((status = 200, body = Vec<Track>)))]
async fn list_tracks(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<TrackListQuery>) -> ApiResult<Json<Vec<Track>>> {
    Ok(Json(tracks::list(&s.db, &a.principal, q.include_inactive.unwrap_or(false)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrackRequest {
    /// Lower-case letters, digits and hyphens, e.g. `neuroradiology`.
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// 0–1; default 0.8.
    pub accuracy_threshold: Option<f64>,
}

/// Creates a track (administrators).
#[utoipa::path(post, path = "/tracks", tag = "tracks", request_body = NewTrackRequest,
    responses((status = 201, body = Track), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_track(State(s): State<AppState>, a: Auth, ApiJson(r): ApiJson<NewTrackRequest>) -> ApiResult<(StatusCode, Json<Track>)> {
    let new = NewTrack { slug: r.slug, name: r.name, description: r.description, accuracy_threshold: r.accuracy_threshold };
    Ok((StatusCode::CREATED, Json(tracks::create(&s.db, &a.principal, new).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackPatchRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub accuracy_threshold: Option<f64>,
    /// False retires the track: no new certifications or projects.
    pub active: Option<bool>,
}

/// Changes a track (administrators).
#[utoipa::path(patch, path = "/tracks/{id}", tag = "tracks", params(("id" = String, Path)), request_body = TrackPatchRequest,
    responses((status = 200, body = Track), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_track(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<TrackPatchRequest>) -> ApiResult<Json<Track>> {
    let patch = TrackPatch { name: r.name, description: r.description, accuracy_threshold: r.accuracy_threshold, active: r.active };
    Ok(Json(tracks::update(&s.db, &a.principal, &id, patch).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CertificationListQuery {
    pub user_id: Option<String>,
    pub track_id: Option<String>,
    /// `active`, `suspended` or `expired` (as of now).
    pub status: Option<CertificationStatus>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// Certifications: all for administrators, PMs and QA reviewers; a tasker's own for taskers.
#[utoipa::path(get, path = "/certifications", tag = "tracks", params(CertificationListQuery),
    responses((status = 200, body = Paged<Certification>), (status = 403, body = ErrorBody)))]
async fn list_certifications(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<CertificationListQuery>) -> ApiResult<Json<Paged<Certification>>> {
    let d = Page::default();
    let page = Page { page: q.page.unwrap_or(d.page), per_page: q.per_page.unwrap_or(d.per_page) };
    let query = CertificationQuery { user_id: q.user_id, track_id: q.track_id, status: q.status };
    Ok(Json(tracks::list_certifications(&s.db, &a.principal, &query, page).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub user_id: String,
    pub track_id: String,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
    /// Qualification score on record (0–1), if any.
    pub score: Option<f64>,
}

/// Grants (or renews) a tasker's certification (administrators).
#[utoipa::path(post, path = "/certifications", tag = "tracks", request_body = GrantRequest,
    responses((status = 201, body = Certification), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn grant_certification(State(s): State<AppState>, a: Auth, ApiJson(r): ApiJson<GrantRequest>) -> ApiResult<(StatusCode, Json<Certification>)> {
    Ok((StatusCode::CREATED, Json(tracks::grant(&s.db, &a.principal, &r.user_id, &r.track_id, r.expires_at, r.score).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificationPatchRequest {
    /// `active` (reinstate) or `suspended`.
    pub status: Option<CertificationStatus>,
    pub expires_at: Option<i64>,
    /// Required when suspending.
    pub reason: Option<String>,
}

/// Suspends, reinstates or re-dates a certification (administrators).
#[utoipa::path(patch, path = "/certifications/{id}", tag = "tracks", params(("id" = String, Path)), request_body = CertificationPatchRequest,
    responses((status = 200, body = Certification), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_certification(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<CertificationPatchRequest>) -> ApiResult<Json<Certification>> {
    let patch = CertificationPatch { status: r.status, expires_at: r.expires_at, reason: r.reason };
    Ok(Json(tracks::update_certification(&s.db, &a.principal, &id, patch).await?))
}
