//! The registry of stable error codes.
//!
//! Every error the API returns names one of these codes. The code string is a
//! contract with clients (the web app maps codes to fields and messages), so a
//! code is never renamed or reused for another meaning; new codes are added at
//! the end of their group.
//!
//! invariant: each code has exactly one HTTP status and one default message,
//! defined here and nowhere else.

use serde::Serialize;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $message:literal), )*) => {
        /// A stable, documented error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in registry order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The code as it appears in error bodies, e.g. `"not_found"`.
            pub fn code(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }

            /// The default human-readable message.
            pub fn message(self) -> &'static str {
                match self { $( ErrorCode::$variant => $message, )* }
            }

            /// Looks a code up by its string form.
            pub fn from_code(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    // -- request shape ---------------------------------------------------------
    /// The body is not valid JSON.
    MalformedJson = ("malformed_json", 400, "The request body is not valid JSON."),
    /// A field is missing, of the wrong type, unknown, or has an invalid value.
    InvalidField = ("invalid_field", 422, "A field of the request is invalid."),
    /// A query-string parameter is invalid.
    InvalidQuery = ("invalid_query", 400, "A query parameter is invalid."),
    /// The Content-Type is not what the route accepts.
    UnsupportedMediaType = ("unsupported_media_type", 415, "The request's Content-Type is not accepted here."),
    /// The body is larger than the route allows.
    PayloadTooLarge = ("payload_too_large", 413, "The request body is too large."),
    /// The route exists but not for this method.
    MethodNotAllowed = ("method_not_allowed", 405, "This method is not allowed on this route."),
    /// No such route.
    RouteNotFound = ("route_not_found", 404, "There is no such API route."),
    /// The request took too long.
    RequestTimeout = ("request_timeout", 408, "The request took too long and was abandoned."),
    /// An object key or id has a forbidden shape (e.g. contains `../`).
    InvalidId = ("invalid_id", 400, "The identifier is not valid."),

    // -- identity and access -----------------------------------------------------
    /// No session or token accompanied the request.
    NotSignedIn = ("not_signed_in", 401, "Sign in to continue."),
    /// The session has expired or was ended.
    SessionExpired = ("session_expired", 401, "Your session has expired; sign in again."),
    /// The e-mail or password is wrong (deliberately not saying which).
    InvalidCredentials = ("invalid_credentials", 401, "The e-mail address or password is incorrect."),
    /// Too many failed sign-ins for this account or address.
    TooManyAttempts = ("too_many_attempts", 429, "Too many failed attempts; try again later."),
    /// A state-changing request came without the CSRF token of the session.
    CsrfTokenMissing = ("csrf_token_missing", 403, "The CSRF token is missing."),
    /// The CSRF token does not match the session's.
    CsrfTokenInvalid = ("csrf_token_invalid", 403, "The CSRF token is invalid."),
    /// The principal's role does not permit this action.
    Forbidden = ("forbidden", 403, "Your role does not permit this action."),
    /// The account is disabled.
    AccountDisabled = ("account_disabled", 403, "This account is disabled."),
    /// The API token is unknown, revoked or expired.
    InvalidToken = ("invalid_token", 401, "The API token is invalid, revoked or expired."),
    /// The current password given for a password change is wrong.
    WrongPassword = ("wrong_password", 422, "The current password is incorrect."),
    /// The new password does not meet the policy.
    WeakPassword = ("weak_password", 422, "The password must be 12 to 256 characters long."),
    /// The one-time setup link is unknown, used or expired.
    SetupTokenInvalid = ("setup_token_invalid", 410, "This setup link is invalid, used or expired."),
    /// Setup was already done: an administrator exists.
    SetupAlreadyDone = ("setup_already_done", 409, "This installation is already set up."),

    // -- resources ---------------------------------------------------------------
    /// The object does not exist or belongs to another organisation.
    NotFound = ("not_found", 404, "Not found."),
    /// An account with this e-mail address already exists.
    EmailTaken = ("email_taken", 409, "An account with this e-mail address already exists."),
    /// The role cannot be held in this organisation (e.g. a tasker in a client organisation).
    RoleNotAllowedInOrganisation = ("role_not_allowed_in_organisation", 422, "This role cannot be held in this organisation."),
    /// The change would leave the installation without an active administrator, or lock the caller out.
    WouldLockOut = ("would_lock_out", 409, "This change would lock out the last administrator or yourself."),
    /// A specialist track with this slug already exists.
    TrackSlugTaken = ("track_slug_taken", 409, "A track with this slug already exists."),
    /// Certifications are held by taskers only.
    NotATasker = ("not_a_tasker", 422, "Only taskers can hold certifications."),
    /// The project is not in a state from which this step can be taken.
    InvalidTransition = ("invalid_transition", 409, "The project is not in a state where this step is possible."),
    /// The specification can no longer be changed (the quote is approved).
    SpecLocked = ("spec_locked", 409, "The specification can no longer be changed."),
    /// The organisation has not signed the current NDA and DPA.
    AgreementRequired = ("agreement_required", 403, "Your organisation must sign the current NDA and DPA before uploading data."),
    /// The agreement version signed is not the current one.
    AgreementOutdated = ("agreement_outdated", 409, "A newer version of this agreement has been published; sign that one."),
    /// The quote does not match the current specification.
    QuoteOutdated = ("quote_outdated", 409, "The specification changed since this quote; a new quote is needed."),
    /// An upload chunk does not continue where the upload stands.
    UploadOffsetMismatch = ("upload_offset_mismatch", 409, "The chunk does not start at the upload's current offset."),
    /// An upload is larger than declared or than allowed.
    UploadTooLarge = ("upload_too_large", 413, "The upload is larger than declared or allowed."),
    /// The task's lease expired or the task is no longer the caller's.
    TaskNotHeld = ("task_not_held", 409, "This task is no longer assigned to you (its lease expired or it was finished)."),
    /// A batch under the project's quality threshold cannot be approved.
    QualityBelowThreshold = ("quality_below_threshold", 409, "The batch is below the project's quality threshold and cannot be approved."),
    /// An archive breaks the limits on entries, expanded size or compression ratio.
    ArchiveRejected = ("archive_rejected", 422, "The archive exceeds the limits on entries, expanded size or compression ratio."),
    /// A chunk's body broke off (connection dropped, or idle too long): nothing of it was kept.
    UploadInterrupted = ("upload_interrupted", 400, "The chunk's body ended early and was discarded; resume from the upload's offset."),
    /// The requested byte range lies outside the content.
    RangeNotSatisfiable = ("range_not_satisfiable", 416, "The requested byte range is outside the content."),
    /// A data-room link expired or was revoked.
    LinkGone = ("link_gone", 410, "This download link has expired or was revoked."),
    /// A delivery is built only when every batch of the project is approved.
    BatchesNotApproved = ("batches_not_approved", 409, "Every batch of the project must be approved before the delivery is built."),
    /// The specification requests an export format clinlabel cannot write yet.
    ExportFormatUnavailable = ("export_format_unavailable", 409, "A requested export format is not available."),
    /// Frames are served for DICOM series items only.
    NotASeries = ("not_a_series", 409, "This item is not a DICOM series: it has no frames to serve."),
    /// The series has no frame with this number.
    FrameOutOfRange = ("frame_out_of_range", 404, "The series has no frame with this number."),
    /// A project lexicon with a line that cannot be used (malformed, a label or code the schema does not allow); details name the line.
    LexiconInvalid = ("lexicon_invalid", 422, "The lexicon has a line that cannot be used."),

    // -- server ------------------------------------------------------------------
    /// Stored data failed its integrity check (tampered or truncated ciphertext).
    IntegrityError = ("integrity_error", 500, "Stored data failed its integrity check."),
    /// Anything unexpected. Details are logged with the request id, never returned.
    Internal = ("internal", 500, "Internal error. The request id identifies it in the server log."),
    /// A dependency (database, object store) is unavailable.
    Unavailable = ("unavailable", 503, "The service is temporarily unavailable."),
}

/// A domain error: a code, an optional specific message and optional details
/// (e.g. the path of the offending field). Never carries PHI or secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainError {
    pub code: ErrorCode,
    pub message: Option<String>,
    pub details: Option<serde_json::Value>,
}

impl DomainError {
    pub fn new(code: ErrorCode) -> Self {
        DomainError { code, message: None, details: None }
    }
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
    /// An `invalid_field` error naming the field's path and the problem.
    pub fn field(path: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        DomainError::new(ErrorCode::InvalidField)
            .with_message(format!("{path}: {problem}"))
            .with_details(serde_json::json!({ "field": path, "problem": problem }))
    }
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or(self.code.message())
    }
}

impl From<ErrorCode> for DomainError {
    fn from(code: ErrorCode) -> Self {
        DomainError::new(code)
    }
}

impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.code(), self.message())
    }
}

impl std::error::Error for DomainError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert!(c.code().chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert!((400..600).contains(&c.status()));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.code()));
        }
    }

    #[test]
    fn field_error_names_the_path() {
        let e = DomainError::field("password", "too short");
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert_eq!(e.message(), "password: too short");
        assert_eq!(e.details.unwrap()["field"], "password");
    }
}
