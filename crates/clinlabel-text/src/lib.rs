//! clinlabel-text (documentation filled in below).
pub mod context;
pub mod error;
pub mod ingest;
pub mod matcher;
pub mod model;
pub mod offsets;
pub mod phrase;
pub mod sentences;
pub mod export;
pub use error::{Result, TextError};
