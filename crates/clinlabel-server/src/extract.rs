//! Extractors: who is calling ([`Auth`]), with CSRF enforced for cookie
//! sessions, and JSON bodies whose errors name the offending field ([`ApiJson`]).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use clinlabel_domain::{DomainError, ErrorCode, Principal};
use clinlabel_store::auth;
use clinlabel_store::users::User;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "clinlabel_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A browser session; the token is the cookie value.
    Session { token: clinlabel_domain::Secret<String>, csrf_token: String, expires_at: i64 },
    /// A personal API token (`Authorization: Bearer clt_…`).
    ApiToken,
}

/// The authenticated caller. Extracting it enforces: a valid session or
/// token; for cookie sessions on state-changing methods, the CSRF header.
#[derive(Debug, Clone)]
pub struct Auth {
    pub principal: Principal,
    pub user: User,
    pub credential: Credential,
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Constant-time comparison for tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(Auth { .. }) = parts.extensions.get::<Auth>() {
            return Ok(parts.extensions.get::<Auth>().cloned().expect("checked"));
        }
        let auth = if let Some(token) = bearer(&parts.headers) {
            let user = auth::token_user(&state.db, &token).await?;
            Auth { principal: auth::principal_of(&user), user, credential: Credential::ApiToken }
        } else if let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE) {
            let s = auth::session(&state.db, &token, state.config.session_policy).await?;
            if changes_state(&parts.method) {
                match parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
                    None => return Err(ErrorCode::CsrfTokenMissing.into()),
                    Some(sent) if !same(sent, &s.csrf_token) => return Err(ErrorCode::CsrfTokenInvalid.into()),
                    Some(_) => {}
                }
            }
            Auth {
                principal: auth::principal_of(&s.user),
                user: s.user,
                credential: Credential::Session { token: token.into(), csrf_token: s.csrf_token, expires_at: s.expires_at },
            }
        } else {
            return Err(ErrorCode::NotSignedIn.into());
        };
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

/// The client's address, for sign-in throttling ("unknown" when the server
/// runs without connection info, as in `oneshot` tests).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_else(|| "unknown".into()),
        ))
    }
}

/// A JSON body. Unknown fields and wrong types are refused with
/// `invalid_field` naming the path; broken JSON with `malformed_json`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        if !is_json {
            return Err(DomainError::new(ErrorCode::UnsupportedMediaType).with_message("Send the body as application/json.").into());
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::code(ErrorCode::PayloadTooLarge)
            } else {
                ApiError::Domain(DomainError::new(ErrorCode::MalformedJson).with_message(r.body_text()))
            }
        })?;
        // Syntax first, then shape: serde_json reports some type mismatches
        // (e.g. a number where an enum is expected) as syntax errors when
        // deserialising straight from bytes.
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Domain(DomainError::new(ErrorCode::MalformedJson).with_message(format!("The body is not valid JSON: {e}"))))?;
        serde_path_to_error::deserialize::<_, T>(value).map(ApiJson).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::from("(body)") } else { path };
            DomainError::field(&field, strip_position(&e.into_inner().to_string())).into()
        })
    }
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Query strings with our error code.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}
