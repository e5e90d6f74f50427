//! Turning every failure into `{ "code", "message", "details"? }` with the
//! status the error-code registry assigns.
//!
//! invariant: internal errors (database, storage, bugs) are logged inside the
//! request's span — which carries the request id — and answered with the
//! generic `internal` code; their text never reaches the client.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clinlabel_domain::{DomainError, ErrorCode};
use clinlabel_store::StoreError;
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code from the registry, e.g. `not_found`.
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub enum ApiError {
    /// Shown to the caller as is.
    Domain(DomainError),
    /// Logged, answered with `internal` (or `unavailable`).
    Internal { code: ErrorCode, log: String },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn code(code: ErrorCode) -> ApiError {
        ApiError::Domain(DomainError::new(code))
    }
    pub fn internal(log: impl Into<String>) -> ApiError {
        ApiError::Internal { code: ErrorCode::Internal, log: log.into() }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::code(code)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Domain(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => ApiError::Domain(d),
            StoreError::Db(sqlx::Error::PoolTimedOut) => ApiError::Internal { code: ErrorCode::Unavailable, log: "database pool timed out".into() },
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<clinlabel_blob::BlobError> for ApiError {
    fn from(e: clinlabel_blob::BlobError) -> Self {
        use clinlabel_blob::BlobError;
        match e {
            // Blob ids are made by the server; a missing blob behind a row the
            // caller may see is still "not found" to them, and logged.
            BlobError::NotFound(_) => {
                tracing::warn!(error = %e, "blob missing");
                ApiError::code(ErrorCode::NotFound)
            }
            BlobError::InvalidBlobId(_) => ApiError::code(ErrorCode::InvalidId),
            BlobError::Crypto { source: clinlabel_crypto::CryptoError::RangeOutOfBounds { .. }, .. } => ApiError::code(ErrorCode::RangeNotSatisfiable),
            e if e.is_integrity_failure() => ApiError::Internal { code: ErrorCode::IntegrityError, log: format!("blob store: {e}") },
            e => ApiError::internal(format!("blob store: {e}")),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match &r {
            JsonRejection::JsonSyntaxError(_) => ErrorCode::MalformedJson,
            JsonRejection::JsonDataError(_) => ErrorCode::InvalidField,
            JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::MalformedJson,
        };
        ApiError::Domain(DomainError::new(code).with_message(r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::Domain(DomainError::new(ErrorCode::InvalidQuery).with_message(r.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, message, details) = match self {
            ApiError::Domain(d) => {
                let message = d.message().to_string();
                (d.code, message, d.details)
            }
            ApiError::Internal { code, log } => {
                tracing::error!(error = %log, "internal error");
                (code, code.message().to_string(), None)
            }
        };
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody { code, message, details })).into_response()
    }
}
