//! The clinlabel domain: the rules of a clinical annotation service, free of IO.
//!
//! This crate holds what the service *is* — roles and who may do what, the
//! stable error-code registry, the audit trail's hash chain, and the types that
//! keep secrets and protected health information out of logs. It reads no
//! files, opens no sockets and asks no clock: callers pass times and
//! randomness in, so every rule here is a pure function that tests can pin
//! down exactly.
//!
//! Later layers of the lifecycle (projects, routing, QA tiers, agreement) join
//! this crate or sit beside it with the same rule: no IO.
//!
//! Map:
//! - [`error`]: the registry of error codes (code, HTTP status, message).
//! - [`access`]: organisations, roles, principals, scopes and permissions.
//! - [`audit`]: the canonical event, its chain hash and the chain verifier.
//! - [`certification`]: specialist tracks and certification status.
//! - [`project`]: the specification, its label schema, and the lifecycle state machine.
//! - [`pricing`]: the quote from volume, complexity, specialty and turnaround.
//! - [`qa`]: review tiers, seeded sampling and spot-checks, gold scoring.
//! - [`redact`]: `Secret<T>` and `Phi<T>`, whose `Debug` prints a redaction.

pub mod access;
pub mod audit;
pub mod certification;
pub mod error;
pub mod imaging;
pub mod imaging_qa;
pub mod pricing;
pub mod project;
pub mod qa;
pub mod redact;

pub use access::{Action, OrgKind, Principal, Role, Scope};
pub use error::{DomainError, ErrorCode};
pub use redact::{Phi, Secret};
