//! # clinlabel-delivery
//!
//! Certified delivery (lifecycle step 7), free of IO: what a delivery is made
//! of, how it is signed and certified, how a client checks it, and the
//! completion report. The store keeps the rows, the blob store the bytes,
//! the server streams; everything here is computation over values and
//! readers handed in.
//!
//! ## A delivery, as the client receives it
//!
//! ```text
//! clinlabel-delivery-<project>-v<N>/
//!   manifest.json          every file below with size, SHA-256, media type, role
//!   manifest.sig           Ed25519 signature of manifest.json's bytes (64 raw bytes)
//!   certification.json     the QA reviewer's typed statement + manifest SHA-256
//!   certification.sig      Ed25519 signature of certification.json's bytes
//!   signing-key.pem        the service's public key (also at /.well-known/clinlabel-delivery-key)
//!   exports/annotations.jsonl   the native export (+ the requested formats' files, see `export`)
//!   report.html            completion report with inline SVG charts
//!   report.pdf             the same report as PDF (Helvetica, vector charts)
//!   audit/audit-trail.jsonl     the project's audit events inside the full hash chain
//! ```
//!
//! - **Manifest** ([`manifest`]): canonical JSON ([`canonical`]: sorted keys,
//!   no whitespace, integers only), so its bytes are a function of its
//!   content; the *manifest hash* is SHA-256 of those bytes. Paths are clean
//!   relative paths; the five certifying files above are not listed in it.
//! - **Signatures** ([`sign`]): the installation's Ed25519 key (a seed kept
//!   wrapped by the master key in the store) signs the manifest's bytes when
//!   the PM builds the delivery, and signs the certification when the QA
//!   reviewer in charge certifies it. The certification names the manifest
//!   hash, the reviewer and the time, with the statement as typed: it is
//!   bound to exactly one set of bytes. Raw 64-byte signatures verify with
//!   `openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in
//!   manifest.json -sigfile manifest.sig`.
//! - **Verification** ([`verify`]): every listed file's size and SHA-256,
//!   both signatures, the certification's manifest hash, no missing and no
//!   unlisted file, the audit export's chain ([`audit`]) ending at the head
//!   the manifest records. Each problem names its file. A folder or a zip
//!   (optionally under one top-level folder) through the [`verify::Source`]
//!   trait.
//! - **Zip** ([`zip`]): the whole delivery as a stored (uncompressed) zip
//!   laid out in advance from names, sizes and CRC-32s, so the server
//!   streams it and serves any byte range (resumable downloads) straight
//!   from the encrypted blobs, without ever storing the archive.
//! - **Exports** ([`export`]): pluggable [`export::ExportWriter`]s fed item by
//!   item while the builder pages through the database; the native JSONL is
//!   always written, other formats are looked up by name in
//!   [`export::writer_for`] (a requested format without a writer refuses the
//!   build, naming it). A writer streams one file and/or completes whole
//!   files (a BRAT `.txt` + `.ann` per document, a DICOM SEG or NIfTI volume
//!   per series), each with its own manifest entry. Clinical text goes
//!   through `clinlabel-text` ([`export::text`]: BRAT, BioC, CoNLL/IOB2,
//!   spaCy, Label Studio), images through `clinlabel-imaging`
//!   ([`export::image`]: DICOM SEG, NIfTI, COCO, native JSON); every
//!   accepted annotation is exported (see [`export`] for overlap > 1).
//! - **Report** ([`report`]): [`report::Stats`] gathers counts per label,
//!   agreement tables (per question and per label; coder identity is not
//!   needed for Krippendorff's α, so a unit keeps `overlap` slots of 8 bytes
//!   each), rework rounds and daily throughput while the export streams;
//!   agreement with percentile-bootstrap intervals comes from
//!   `clinlabel-agreement`. One chart description renders as SVG in the
//!   HTML and as PDF paths in the PDF.
//!
//! invariant: no IO — no files, sockets, clock or randomness; callers pass
//! times, seeds, keys and readers in.
//! invariant: a signed document is written once as canonical bytes and never
//! re-serialised before verification: the bytes are what is signed.
//! invariant: taskers appear in exports and reports only under their
//! project pseudonyms.

pub mod audit;
pub mod canonical;
pub mod export;
pub mod manifest;
pub mod report;
pub mod sign;
pub mod time;
pub mod verify;
pub mod zip;

pub use manifest::{Certification, FileEntry, Manifest};
pub use sign::{PublicKey, ServiceKey};

/// Path of the audit export inside a delivery.
pub const AUDIT_PATH: &str = "audit/audit-trail.jsonl";
/// Paths of the report files.
pub const REPORT_HTML: &str = "report.html";
pub const REPORT_PDF: &str = "report.pdf";

/// The folder name a delivery unpacks into.
pub fn folder_name(project_name: &str, version: i64) -> String {
    let slug: String = project_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .take(8)
        .collect::<Vec<_>>()
        .join("-");
    let slug = if slug.is_empty() { "project".to_string() } else { slug.chars().take(60).collect() };
    format!("clinlabel-delivery-{slug}-v{version}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn folder_names_are_plain() {
        assert_eq!(super::folder_name("Note triage — Ärzte/2026", 2), "clinlabel-delivery-note-triage-rzte-2026-v2");
        assert_eq!(super::folder_name("", 1), "clinlabel-delivery-project-v1");
    }
}
