//! Errors: each names the problem in words a project manager can act on.

use std::fmt;

/// Why a file could not be ingested, decoded or de-identified.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// Not a DICOM Part 10 file (and not a PNG or JPEG image either).
    #[error("not DICOM: {0}")]
    NotDicom(String),
    /// The file ends inside an element, a header or an item.
    #[error("truncated: {0}")]
    Truncated(String),
    /// An element, item or fragment declares more bytes than the file holds
    /// (the memory hazard of FINDINGS.md): refused before any allocation.
    #[error("element length exceeds file: {0}")]
    LengthExceedsFile(String),
    /// The structure is malformed in another way (bad delimiter, nesting too deep, …).
    #[error("malformed DICOM: {0}")]
    Malformed(String),
    /// The transfer syntax is known but not decodable here, or unknown.
    #[error("unsupported transfer syntax {uid} ({name}): {reason}")]
    UnsupportedTransferSyntax {
        uid: String,
        name: String,
        reason: String,
    },
    /// Pixel attributes that make no sense or exceed the configured limits.
    #[error("invalid pixel data: {0}")]
    InvalidPixelData(String),
    /// A required attribute is absent.
    #[error("missing attribute {0}")]
    Missing(&'static str),
    /// A codec failed on this frame.
    #[error("decode failed: {0}")]
    Decode(String),
    /// A configured limit (file size, inflated size, frame size) was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// Writing the output failed.
    #[error("write failed: {0}")]
    Write(String),
    /// Reading or writing a path failed.
    #[error("io error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl DicomError {
    /// A short, stable code for the kind of problem (for reports and the API).
    pub fn code(&self) -> &'static str {
        match self {
            DicomError::NotDicom(_) => "not_dicom",
            DicomError::Truncated(_) => "truncated",
            DicomError::LengthExceedsFile(_) => "length_exceeds_file",
            DicomError::Malformed(_) => "malformed",
            DicomError::UnsupportedTransferSyntax { .. } => "unsupported_transfer_syntax",
            DicomError::InvalidPixelData(_) => "invalid_pixel_data",
            DicomError::Missing(_) => "missing_attribute",
            DicomError::Decode(_) => "decode_failed",
            DicomError::Limit(_) => "limit_exceeded",
            DicomError::Write(_) => "write_failed",
            DicomError::Io { .. } => "io",
        }
    }
}

pub type Result<T, E = DicomError> = std::result::Result<T, E>;

/// Formats a tag as `(GGGG,EEEE)`.
pub(crate) struct TagFmt(pub u16, pub u16);

impl fmt::Display for TagFmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:04X},{:04X})", self.0, self.1)
    }
}
