//! clinlabel-text (documentation filled in below).
pub mod annotation;
pub mod context;
pub mod error;
pub mod eval;
pub mod export;
pub mod ingest;
pub mod matcher;
pub mod model;
pub mod offsets;
pub mod phrase;
pub mod preannotate;
pub mod sentences;
pub mod tokenize;
pub use error::{Result, TextError};
