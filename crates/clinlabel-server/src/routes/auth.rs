//! Sign-in, sign-out, the current user, password change, API tokens and first-admin setup.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Auth, ClientAddr, Credential, SESSION_COOKIE};
use crate::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinlabel_domain::Secret;
use clinlabel_store::auth::{self, ApiToken, NewSession};
use clinlabel_store::orgs::{self, Organisation};
use clinlabel_store::users::User;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup_status))
        .routes(routes!(setup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// The signed-in user, their organisation and the CSRF token for the session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub organisation: Organisation,
    /// Send this in the `X-CSRF-Token` header with every state-changing
    /// request of a cookie session. Absent for API tokens.
    pub csrf_token: Option<String>,
    /// When the session ends at the latest (epoch ms). Absent for API tokens.
    pub session_expires_at: Option<i64>,
}

fn session_cookie(state: &AppState, value: &str, max_age_s: Option<i64>) -> HeaderValue {
    let mut c = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    if state.config.secure_cookies {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age_s {
        c.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&c).expect("cookie is ASCII")
}

async fn signed_in(state: &AppState, s: NewSession) -> ApiResult<Response> {
    let principal = auth::principal_of(&s.user);
    let organisation = orgs::get(&state.db, &principal, &s.user.org_id).await?;
    let cookie = session_cookie(state, s.token.expose(), None);
    let body = Me { user: s.user, organisation, csrf_token: Some(s.csrf_token), session_expires_at: Some(s.expires_at) };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupStatus {
    /// True while no account exists: the one-time setup link printed at start-up is needed.
    pub needed: bool,
}

/// Whether first-admin setup is still to be done.
#[utoipa::path(get, path = "/setup", tag = "auth", responses((status = 200, body = SetupStatus)))]
async fn setup_status(State(state): State<AppState>) -> ApiResult<Json<SetupStatus>> {
    Ok(Json(SetupStatus { needed: !clinlabel_store::users::any_exist(&state.db).await? }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token from the one-time setup link.
    #[schema(value_type = String)]
    pub token: Secret<String>,
    pub organisation_name: String,
    pub email: String,
    pub name: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
}

/// Uses the one-time setup link: creates the service provider's organisation
/// and the first administrator, and signs them in.
#[utoipa::path(post, path = "/setup", tag = "auth", request_body = SetupRequest,
    responses((status = 200, body = Me), (status = 410, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn setup(State(state): State<AppState>, ApiJson(req): ApiJson<SetupRequest>) -> ApiResult<Response> {
    let s = auth::complete_setup(
        &state.db,
        auth::Setup { token: req.token, organisation_name: req.organisation_name, email: req.email, name: req.name, password: req.password },
        state.config.session_policy,
    )
    .await?;
    signed_in(&state, s).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
}

/// Signs in; sets the session cookie (HttpOnly, SameSite=Strict).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(State(state): State<AppState>, ClientAddr(addr): ClientAddr, ApiJson(req): ApiJson<LoginRequest>) -> ApiResult<Response> {
    let s = auth::login(&state.db, &req.email, req.password, &addr, state.config.session_policy).await?;
    signed_in(&state, s).await
}

/// Ends the current session and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(state): State<AppState>, a: Auth) -> ApiResult<Response> {
    if let Credential::Session { token, .. } = &a.credential {
        auth::logout(&state.db, &a.principal, token.expose()).await?;
    }
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, session_cookie(&state, "", Some(0)))]).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<AppState>, a: Auth) -> ApiResult<Json<Me>> {
    let organisation = orgs::get(&state.db, &a.principal, &a.user.org_id).await?;
    let (csrf_token, session_expires_at) = match a.credential {
        Credential::Session { csrf_token, expires_at, .. } => (Some(csrf_token), Some(expires_at)),
        Credential::ApiToken => (None, None),
    };
    Ok(Json(Me { user: a.user, organisation, csrf_token, session_expires_at }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String)]
    pub current_password: Secret<String>,
    #[schema(value_type = String)]
    pub new_password: Secret<String>,
}

/// Changes one's own password. Other sessions of the account end.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = ErrorBody)))]
async fn change_password(State(state): State<AppState>, a: Auth, ApiJson(req): ApiJson<PasswordChange>) -> ApiResult<StatusCode> {
    let keep = match &a.credential {
        Credential::Session { token, .. } => Some(token.expose().clone()),
        Credential::ApiToken => None,
    };
    auth::change_password(&state.db, &a.principal, req.current_password, req.new_password, keep.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One's own personal API tokens.
#[utoipa::path(get, path = "/auth/tokens", tag = "auth", responses((status = 200, body = Vec<ApiToken>)))]
async fn list_tokens(State(state): State<AppState>, a: Auth) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(auth::list_tokens(&state.db, &a.principal).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    pub name: String,
    /// Optional expiry, epoch milliseconds.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenResponse {
    pub token: ApiToken,
    /// The token itself: shown this once. Send as `Authorization: Bearer …`.
    pub secret: String,
}

/// Creates a personal API token for scripts.
#[utoipa::path(post, path = "/auth/tokens", tag = "auth", request_body = NewTokenRequest,
    responses((status = 201, body = NewTokenResponse), (status = 422, body = ErrorBody)))]
async fn create_token(State(state): State<AppState>, a: Auth, ApiJson(req): ApiJson<NewTokenRequest>) -> ApiResult<(StatusCode, Json<NewTokenResponse>)> {
    let (token, secret) = auth::create_token(&state.db, &a.principal, &req.name, req.expires_at).await?;
    Ok((StatusCode::CREATED, Json(NewTokenResponse { token, secret: secret.into_inner() })))
}

/// Revokes one of one's own API tokens.
#[utoipa::path(delete, path = "/auth/tokens/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_token(State(state): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth::revoke_token(&state.db, &a.principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
