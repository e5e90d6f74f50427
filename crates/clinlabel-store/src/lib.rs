//! clinlabel's data layer: one codebase over SQLite and PostgreSQL.
//!
//! The backend is chosen by the database URL's scheme (`sqlite://` or
//! `postgres://`). Queries go through sqlx's `Any` driver with `$n`
//! placeholders; SQL differs per backend only where it must (migrations live
//! in `migrations/sqlite` and `migrations/postgres`; a few queries add casts
//! PostgreSQL needs). Portable habits: TEXT ids generated here, BIGINT epoch
//! milliseconds, BIGINT 0/1 flags, TEXT JSON.
//!
//! Each repository module takes the acting [`Principal`] and applies its scope
//! itself, so no caller can forget organisation isolation; an object of another
//! organisation is reported as [`ErrorCode::NotFound`], never as forbidden.
//!
//! invariant: every function that changes state writes its audit event
//! through [`audit::append`] in the same transaction as the change.
//! invariant: the only unscoped reads are the authentication look-ups in
//! [`auth`], which run before a principal exists.
//! invariant: no function logs PHI or secrets; passwords and tokens arrive as
//! `Secret<String>` and only their hashes are stored.

pub mod agreements;
pub mod audit;
pub mod auth;
mod batcher;
pub mod bench;
pub mod db;
pub mod deliveries;
mod exec;
pub mod files;
pub mod keys;
pub mod orgs;
pub mod projects;
pub(crate) mod routing;
pub mod tasks;
pub mod text;
pub mod tracks;
pub mod users;
mod wal;

pub use db::{Backend, Db, Tx};

use clinlabel_domain::{DomainError, ErrorCode};
use serde::Serialize;

/// Everything a store function can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule of the domain refused the request: shown to the caller.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database failed: logged, answered with a generic error.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    /// A configuration problem found while connecting.
    #[error("{0}")]
    Config(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ErrorCode> for StoreError {
    fn from(code: ErrorCode) -> Self {
        StoreError::Domain(DomainError::new(code))
    }
}

/// Paging for list queries.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Default for Page {
    fn default() -> Self {
        Page { page: 1, per_page: 50 }
    }
}

impl Page {
    pub const MAX_PER_PAGE: u32 = 500;
    pub fn limit(&self) -> i64 {
        self.per_page.clamp(1, Self::MAX_PER_PAGE) as i64
    }
    pub fn offset(&self) -> i64 {
        (self.page.max(1) as i64 - 1) * self.limit()
    }
}

/// One page of a list, with the total count for the pager.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// Sort direction for list queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDir {
    #[default]
    Asc,
    Desc,
}

impl SortDir {
    pub fn sql(self) -> &'static str {
        match self {
            SortDir::Asc => "ASC",
            SortDir::Desc => "DESC",
        }
    }
}
