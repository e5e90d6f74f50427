//! The crate's error type: every variant names the file or document and the place at fault.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum TextError {
    /// The input is not UTF-8; `offset` is the byte offset of the first bad byte.
    #[error("{name}: not UTF-8: invalid byte at offset {offset} (convert the file to UTF-8)")]
    NotUtf8 { name: String, offset: u64 },
    /// A document's text is over the limit.
    #[error("{name}: document {id:?} is {bytes} bytes; documents are limited to {limit} bytes (1 MiB)")]
    TooLarge { name: String, id: String, bytes: usize, limit: usize },
    /// A malformed record (JSON line, CSV row, XML element), with its line or record number.
    #[error("{name}: {place}: {problem}")]
    Format { name: String, place: String, problem: String },
    /// Reading failed.
    #[error("{name}: {source}")]
    Io { name: String, source: std::io::Error },
    /// An offset or span that does not fit the text.
    #[error("{0}")]
    Span(String),
    /// A rule or lexicon file with a bad line.
    #[error("{name} line {line}: {problem}")]
    Rules { name: String, line: usize, problem: String },
}

impl TextError {
    pub(crate) fn format(name: &str, place: impl Into<String>, problem: impl Into<String>) -> TextError {
        TextError::Format { name: name.to_string(), place: place.into(), problem: problem.into() }
    }

    /// Turn an IO error from a [`crate::ingest::Utf8Checked`] reader into [`TextError::NotUtf8`].
    pub(crate) fn from_io(name: &str, e: std::io::Error) -> TextError {
        if let Some(off) = crate::ingest::not_utf8_offset(&e) {
            return TextError::NotUtf8 { name: name.to_string(), offset: off };
        }
        TextError::Io { name: name.to_string(), source: e }
    }
}

pub type Result<T, E = TextError> = std::result::Result<T, E>;
