//! Exports.
pub mod bioc;
