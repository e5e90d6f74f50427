//! Organisations, users and the audit trail.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use clinlabel_domain::{OrgKind, Role, Secret};
use clinlabel_store::audit::{self, AuditEventView, AuditFilter, VerifyReport};
use clinlabel_store::orgs::{self, Organisation};
use clinlabel_store::users::{self, NewUser, User, UserPatch, UserQuery};
use clinlabel_store::{Page, Paged, SortDir};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organisations, create_organisation))
        .routes(routes!(get_organisation, rename_organisation))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(list_audit))
        .routes(routes!(verify_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1-based page number.
    pub page: Option<u32>,
    /// Rows per page, at most 500.
    pub per_page: Option<u32>,
}

fn page(page: Option<u32>, per_page: Option<u32>) -> Page {
    let d = Page::default();
    Page { page: page.unwrap_or(d.page), per_page: per_page.unwrap_or(d.per_page) }
}

/// Organisations the caller may see (administrators: all).
#[utoipa::path(get, path = "/organisations", tag = "admin", params(PageQuery),
    responses((status = 200, body = Paged<Organisation>), (status = 401, body = ErrorBody)))]
async fn list_organisations(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<Paged<Organisation>>> {
    Ok(Json(orgs::list(&s.db, &a.principal, page(q.page, q.per_page)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    pub name: String,
    pub kind: OrgKind,
}

/// Creates an organisation (administrators).
#[utoipa::path(post, path = "/organisations", tag = "admin", request_body = NewOrganisation,
    responses((status = 201, body = Organisation), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_organisation(State(s): State<AppState>, a: Auth, ApiJson(req): ApiJson<NewOrganisation>) -> ApiResult<(StatusCode, Json<Organisation>)> {
    Ok((StatusCode::CREATED, Json(orgs::create(&s.db, &a.principal, &req.name, req.kind).await?)))
}

/// One organisation (one's own, or any for administrators).
#[utoipa::path(get, path = "/organisations/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = Organisation), (status = 404, body = ErrorBody)))]
async fn get_organisation(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Organisation>> {
    Ok(Json(orgs::get(&s.db, &a.principal, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationPatch {
    pub name: String,
}

/// Renames an organisation (administrators).
#[utoipa::path(patch, path = "/organisations/{id}", tag = "admin", params(("id" = String, Path)), request_body = OrganisationPatch,
    responses((status = 200, body = Organisation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn rename_organisation(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(req): ApiJson<OrganisationPatch>) -> ApiResult<Json<Organisation>> {
    Ok(Json(orgs::rename(&s.db, &a.principal, &id, &req.name).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    pub org_id: Option<String>,
    pub role: Option<Role>,
    /// `name`, `email`, `role` or `created_at`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub dir: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// Accounts the caller manages (administrators: all; client admins: their organisation's).
#[utoipa::path(get, path = "/users", tag = "admin", params(UserListQuery),
    responses((status = 200, body = Paged<User>), (status = 403, body = ErrorBody)))]
async fn list_users(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<UserListQuery>) -> ApiResult<Json<Paged<User>>> {
    let dir = match q.dir.as_deref() {
        None | Some("asc") => SortDir::Asc,
        Some("desc") => SortDir::Desc,
        Some(_) => return Err(clinlabel_domain::DomainError::new(clinlabel_domain::ErrorCode::InvalidQuery).with_message("dir: use asc or desc").into()),
    };
    let query = UserQuery { org_id: q.org_id, role: q.role, sort: q.sort, dir };
    Ok(Json(users::list(&s.db, &a.principal, &query, page(q.page, q.per_page)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The initial password (12–256 characters), to hand over out of band.
    #[schema(value_type = String)]
    pub password: Secret<String>,
}

/// Creates an account.
#[utoipa::path(post, path = "/users", tag = "admin", request_body = NewUserRequest,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(State(s): State<AppState>, a: Auth, ApiJson(req): ApiJson<NewUserRequest>) -> ApiResult<(StatusCode, Json<User>)> {
    let new = NewUser { org_id: req.org_id, email: req.email, name: req.name, role: req.role, password: req.password };
    Ok((StatusCode::CREATED, Json(users::create(&s.db, &a.principal, new).await?)))
}

/// One account (one's own, or one the caller manages).
#[utoipa::path(get, path = "/users/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
async fn get_user(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<User>> {
    Ok(Json(users::get(&s.db, &a.principal, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchRequest {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Changes an account's name, role or disabled state. Disabling signs it out everywhere.
#[utoipa::path(patch, path = "/users/{id}", tag = "admin", params(("id" = String, Path)), request_body = UserPatchRequest,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_user(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(req): ApiJson<UserPatchRequest>) -> ApiResult<Json<User>> {
    let patch = UserPatch { name: req.name, role: req.role, disabled: req.disabled };
    Ok(Json(users::update(&s.db, &a.principal, &id, patch).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub org_id: Option<String>,
    /// From this time (epoch ms, inclusive).
    pub from: Option<i64>,
    /// Until this time (epoch ms, exclusive).
    pub to: Option<i64>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// The audit trail, newest first, filtered (administrators).
#[utoipa::path(get, path = "/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Paged<AuditEventView>), (status = 403, body = ErrorBody)))]
async fn list_audit(State(s): State<AppState>, a: Auth, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Json<Paged<AuditEventView>>> {
    let f = AuditFilter {
        actor_id: q.actor_id,
        action: q.action,
        target_type: q.target_type,
        target_id: q.target_id,
        org_id: q.org_id,
        from_ms: q.from,
        to_ms: q.to,
    };
    Ok(Json(audit::list(&s.db, &a.principal, &f, page(q.page, q.per_page)).await?))
}

/// Walks the audit chain and names the first edited, deleted or reordered event (administrators).
#[utoipa::path(get, path = "/audit/verify", tag = "admin", responses((status = 200, body = VerifyReport), (status = 403, body = ErrorBody)))]
async fn verify_audit(State(s): State<AppState>, a: Auth) -> ApiResult<Json<VerifyReport>> {
    if !a.principal.may(clinlabel_domain::Action::ReadAudit) {
        return Err(clinlabel_domain::ErrorCode::Forbidden.into());
    }
    Ok(Json(audit::verify(&s.db).await?))
}
