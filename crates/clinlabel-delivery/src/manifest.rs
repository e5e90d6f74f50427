//! The manifest (every file with its size and SHA-256) and the QA
//! certification bound to the manifest's hash.

use crate::canonical::{self, CanonicalError};
use crate::sign::{PublicKey, ServiceKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest file's name at the delivery's root.
pub const MANIFEST: &str = "manifest.json";
/// Raw Ed25519 signature of `manifest.json`'s bytes by the service key.
pub const MANIFEST_SIG: &str = "manifest.sig";
/// The QA reviewer's certification, naming the manifest's SHA-256.
pub const CERTIFICATION: &str = "certification.json";
/// Raw Ed25519 signature of `certification.json`'s bytes by the service key.
pub const CERTIFICATION_SIG: &str = "certification.sig";
/// The service's public key (PEM), for `openssl`.
pub const PUBLIC_KEY_PEM: &str = "signing-key.pem";
/// Files that certify the manifest rather than being listed in it.
pub const CERTIFYING_FILES: [&str; 5] = [MANIFEST, MANIFEST_SIG, CERTIFICATION, CERTIFICATION_SIG, PUBLIC_KEY_PEM];

/// `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "clinlabel-delivery-manifest/1";
/// `format` of a certification.
pub const CERTIFICATION_FORMAT: &str = "clinlabel-qa-certification/1";

/// One delivered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path with `/` separators, e.g. `exports/annotations.jsonl`.
    pub path: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub media_type: String,
    /// `export`, `report` or `audit`.
    pub role: String,
    /// The export format (`native_jsonl`, …) for exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Where the audit chain stood when the delivery was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// The manifest: what the delivery is, and every file in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub delivery_id: String,
    pub project_id: String,
    pub project_name: String,
    /// 1 for the first delivery of the project, then 2, 3…
    pub version: i64,
    /// The specification version the work followed.
    pub spec_version: i64,
    /// Epoch milliseconds.
    pub built_at: i64,
    pub built_by: String,
    /// Accepted annotations exported.
    pub annotations: i64,
    pub items: i64,
    pub audit_head: AuditHead,
    /// The key that signs this manifest (also at the service's well-known URL).
    pub signing_key: PublicKey,
    pub files: Vec<FileEntry>,
}

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Canonical(#[from] CanonicalError),
    #[error("file path {0:?} is not a clean relative path")]
    BadPath(String),
    #[error("file path {0:?} is listed twice")]
    Duplicate(String),
    #[error("file path {0:?} is reserved for the certifying files")]
    Reserved(String),
    #[error("file {0:?}: sha256 must be 64 lower-case hex digits")]
    BadHash(String),
}

/// A relative path of clean segments: no `.`/`..`, no empty segment, no
/// backslash or control character, at most 255 bytes.
pub fn clean_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 255
        && !p.starts_with('/')
        && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && !p.chars().any(|c| c == '\\' || c.is_control())
}

impl Manifest {
    /// Checks the file list: clean unique paths, well-formed hashes.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.files {
            if !clean_path(&f.path) {
                return Err(ManifestError::BadPath(f.path.clone()));
            }
            if CERTIFYING_FILES.contains(&f.path.as_str()) {
                return Err(ManifestError::Reserved(f.path.clone()));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(ManifestError::Duplicate(f.path.clone()));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(ManifestError::BadHash(f.path.clone()));
            }
        }
        Ok(())
    }

    /// The canonical bytes written as `manifest.json`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        self.validate()?;
        Ok(canonical::to_vec(self)?)
    }
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A built, service-signed manifest.
#[derive(Debug, Clone)]
pub struct SignedManifest {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub signature: [u8; 64],
}

/// Serialises and signs a manifest.
pub fn sign_manifest(m: &Manifest, key: &ServiceKey) -> Result<SignedManifest, ManifestError> {
    let bytes = m.to_bytes()?;
    Ok(SignedManifest { sha256: sha256_hex(&bytes), signature: key.sign(&bytes), bytes })
}

/// Who certified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reviewer {
    pub user_id: String,
    pub name: String,
    pub role: String,
}

/// The QA reviewer's certification: a typed statement bound to the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certification {
    pub format: String,
    pub delivery_id: String,
    pub version: i64,
    /// SHA-256 of the exact `manifest.json` bytes certified.
    pub manifest_sha256: String,
    /// The statement as the reviewer typed it.
    pub statement: String,
    pub reviewer: Reviewer,
    /// Epoch milliseconds.
    pub signed_at: i64,
    /// The key that signs this certification.
    pub signing_key: PublicKey,
}

/// A certification's canonical bytes and the service's signature of them.
#[derive(Debug, Clone)]
pub struct SignedCertification {
    pub bytes: Vec<u8>,
    pub signature: [u8; 64],
}

pub fn sign_certification(c: &Certification, key: &ServiceKey) -> Result<SignedCertification, ManifestError> {
    let bytes = canonical::to_vec(c)?;
    Ok(SignedCertification { signature: key.sign(&bytes), bytes })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn manifest(files: Vec<FileEntry>, key: &ServiceKey) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            delivery_id: "d1".into(),
            project_id: "p1".into(),
            project_name: "Note triage".into(),
            version: 1,
            spec_version: 2,
            built_at: 1_700_000_000_000,
            built_by: "u-pm".into(),
            annotations: 4,
            items: 2,
            audit_head: AuditHead { seq: 10, hash: "ab".repeat(32) },
            signing_key: key.public(),
            files,
        }
    }

    pub fn entry(path: &str, bytes: &[u8]) -> FileEntry {
        FileEntry { path: path.into(), size: bytes.len() as u64, sha256: sha256_hex(bytes), media_type: "application/octet-stream".into(), role: "export".into(), format: None }
    }

    #[test]
    fn paths_must_be_clean_unique_and_not_reserved() {
        let key = ServiceKey::from_seed(&[3; 32]);
        for bad in ["../x", "/abs", "a//b", "a/./b", "a\\b", "", "x\u{0}"] {
            assert_eq!(manifest(vec![entry(bad, b"x")], &key).validate(), Err(ManifestError::BadPath(bad.into())), "{bad:?}");
        }
        assert_eq!(manifest(vec![entry("a", b"1"), entry("a", b"2")], &key).validate(), Err(ManifestError::Duplicate("a".into())));
        assert_eq!(manifest(vec![entry("manifest.sig", b"1")], &key).validate(), Err(ManifestError::Reserved("manifest.sig".into())));
        assert!(manifest(vec![entry("exports/a.jsonl", b"1"), entry("report.pdf", b"2")], &key).validate().is_ok());
    }

    #[test]
    fn the_signature_covers_the_exact_bytes() {
        let key = ServiceKey::from_seed(&[3; 32]);
        let s = sign_manifest(&manifest(vec![entry("a.jsonl", b"{}\n")], &key), &key).unwrap();
        assert!(key.public().verify(&s.bytes, &s.signature));
        assert_eq!(s.sha256, sha256_hex(&s.bytes));
        // The bytes parse back to the same manifest, and are canonical.
        let back: Manifest = serde_json::from_slice(&s.bytes).unwrap();
        assert_eq!(back.to_bytes().unwrap(), s.bytes);
    }
}
