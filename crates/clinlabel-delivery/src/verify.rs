//! Verifying a delivery as the client received it: a folder or the zip.
//!
//! Checks, and names what fails: the manifest parses and its signature by
//! the service key verifies; the certification names the manifest's SHA-256
//! and its signature verifies; every listed file is present with the listed
//! size and SHA-256; no file is present that the manifest does not list; the
//! audit export's hash chain is intact and ends where the manifest says.
//! Reading goes through [`Source`], so the checks do no IO of their own.

use crate::audit::ExportVerifier;
use crate::manifest::{self, CERTIFICATION, CERTIFICATION_SIG, CERTIFYING_FILES, Certification, MANIFEST, MANIFEST_SIG, Manifest, PUBLIC_KEY_PEM};
use crate::sign::PublicKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read};

/// Files of a delivery, by relative path (`/` separators).
pub trait Source {
    /// Every regular file's path.
    fn paths(&mut self) -> std::io::Result<Vec<String>>;
    /// A reader of one file.
    fn open(&mut self, path: &str) -> std::io::Result<Box<dyn Read + '_>>;
}

/// One thing wrong with a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    Missing { path: String },
    Unlisted { path: String },
    SizeMismatch { path: String, expected: u64, actual: u64 },
    HashMismatch { path: String },
    Invalid { path: String, reason: String },
    BadSignature { path: String },
    KeyMismatch { expected: String, actual: String },
    Audit { path: String, reason: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { path } => write!(f, "{path}: missing"),
            Problem::Unlisted { path } => write!(f, "{path}: not listed in the manifest"),
            Problem::SizeMismatch { path, expected, actual } => write!(f, "{path}: size {actual} bytes, the manifest says {expected}"),
            Problem::HashMismatch { path } => write!(f, "{path}: SHA-256 differs from the manifest: the file was changed"),
            Problem::Invalid { path, reason } => write!(f, "{path}: {reason}"),
            Problem::BadSignature { path } => write!(f, "{path}: the signature does not verify"),
            Problem::KeyMismatch { expected, actual } => write!(f, "signed by key {actual}, expected key {expected}"),
            Problem::Audit { path, reason } => write!(f, "{path}: {reason}"),
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub manifest_sha256: Option<String>,
    pub key_id: Option<String>,
    pub project_name: Option<String>,
    pub version: Option<i64>,
    pub certified_by: Option<String>,
    pub files_checked: usize,
    pub problems: Vec<Problem>,
}

fn read_all(src: &mut dyn Source, path: &str, limit: u64) -> Result<Vec<u8>, String> {
    let mut r = src.open(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    r.by_ref().take(limit + 1).read_to_end(&mut out).map_err(|e| e.to_string())?;
    if out.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(out)
}

/// Verifies a delivery. With `trusted`, the signing key must be that key
/// (e.g. fetched from the service's well-known URL); without it, the key
/// the manifest names is used and reported, to be compared by the caller.
pub fn verify(src: &mut dyn Source, trusted: Option<&PublicKey>) -> std::io::Result<Verification> {
    let mut v = Verification { ok: false, manifest_sha256: None, key_id: None, project_name: None, version: None, certified_by: None, files_checked: 0, problems: Vec::new() };
    let paths = src.paths()?;
    let present: std::collections::BTreeSet<String> = paths.iter().cloned().collect();
    let mut problems = Vec::new();
    if !present.contains(MANIFEST) {
        problems.push(Problem::Missing { path: MANIFEST.into() });
        v.problems = problems;
        return Ok(v);
    }
    let manifest_bytes = match read_all(src, MANIFEST, 64 << 20) {
        Ok(b) => b,
        Err(reason) => {
            v.problems = vec![Problem::Invalid { path: MANIFEST.into(), reason }];
            return Ok(v);
        }
    };
    let m: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            v.problems = vec![Problem::Invalid { path: MANIFEST.into(), reason: format!("not a delivery manifest: {e}") }];
            return Ok(v);
        }
    };
    if let Err(e) = m.validate() {
        problems.push(Problem::Invalid { path: MANIFEST.into(), reason: e.to_string() });
    }
    let sha = manifest::sha256_hex(&manifest_bytes);
    v.manifest_sha256 = Some(sha.clone());
    v.key_id = Some(m.signing_key.key_id.clone());
    v.project_name = Some(m.project_name.clone());
    v.version = Some(m.version);
    let key = match trusted {
        Some(t) if t.key_id != m.signing_key.key_id || t.public_key != m.signing_key.public_key => {
            problems.push(Problem::KeyMismatch { expected: t.key_id.clone(), actual: m.signing_key.key_id.clone() });
            t.clone()
        }
        Some(t) => t.clone(),
        None => m.signing_key.clone(),
    };
    if let Err(reason) = key.raw() {
        problems.push(Problem::Invalid { path: MANIFEST.into(), reason: format!("signing_key: {reason}") });
    }
    // The manifest's signature.
    match present.contains(MANIFEST_SIG).then(|| read_all(src, MANIFEST_SIG, 1024)) {
        None => problems.push(Problem::Missing { path: MANIFEST_SIG.into() }),
        Some(Err(reason)) => problems.push(Problem::Invalid { path: MANIFEST_SIG.into(), reason }),
        Some(Ok(sig)) if !key.verify(&manifest_bytes, &sig) => problems.push(Problem::BadSignature { path: MANIFEST_SIG.into() }),
        Some(Ok(_)) => {}
    }
    // The QA certification, bound to this manifest.
    if !present.contains(CERTIFICATION) {
        problems.push(Problem::Missing { path: CERTIFICATION.into() });
    } else {
        match read_all(src, CERTIFICATION, 1 << 20) {
            Err(reason) => problems.push(Problem::Invalid { path: CERTIFICATION.into(), reason }),
            Ok(cert_bytes) => {
                match serde_json::from_slice::<Certification>(&cert_bytes) {
                    Err(e) => problems.push(Problem::Invalid { path: CERTIFICATION.into(), reason: format!("not a certification: {e}") }),
                    Ok(c) => {
                        if c.manifest_sha256 != sha {
                            problems.push(Problem::Invalid { path: CERTIFICATION.into(), reason: format!("certifies manifest {} but the manifest's SHA-256 is {sha}", c.manifest_sha256) });
                        }
                        if c.delivery_id != m.delivery_id || c.version != m.version {
                            problems.push(Problem::Invalid { path: CERTIFICATION.into(), reason: "certifies another delivery".into() });
                        }
                        v.certified_by = Some(c.reviewer.name.clone());
                    }
                }
                match present.contains(CERTIFICATION_SIG).then(|| read_all(src, CERTIFICATION_SIG, 1024)) {
                    None => problems.push(Problem::Missing { path: CERTIFICATION_SIG.into() }),
                    Some(Err(reason)) => problems.push(Problem::Invalid { path: CERTIFICATION_SIG.into(), reason }),
                    Some(Ok(sig)) if !key.verify(&cert_bytes, &sig) => problems.push(Problem::BadSignature { path: CERTIFICATION_SIG.into() }),
                    Some(Ok(_)) => {}
                }
            }
        }
    }
    if present.contains(PUBLIC_KEY_PEM) {
        match read_all(src, PUBLIC_KEY_PEM, 4096).map(|b| String::from_utf8_lossy(&b).into_owned()).and_then(|t| PublicKey::from_pem(&t)) {
            Ok(pem) if pem == m.signing_key => {}
            Ok(_) => problems.push(Problem::Invalid { path: PUBLIC_KEY_PEM.into(), reason: "is not the manifest's signing key".into() }),
            Err(reason) => problems.push(Problem::Invalid { path: PUBLIC_KEY_PEM.into(), reason }),
        }
    }
    // Every listed file, byte for byte.
    let listed: std::collections::BTreeSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    for f in &m.files {
        if !present.contains(&f.path) {
            problems.push(Problem::Missing { path: f.path.clone() });
            continue;
        }
        let mut r = match src.open(&f.path) {
            Ok(r) => r,
            Err(e) => {
                problems.push(Problem::Invalid { path: f.path.clone(), reason: format!("cannot be read: {e}") });
                continue;
            }
        };
        let mut read_err: Option<String> = None;
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        let mut audit = (f.role == "audit").then(ExportVerifier::default);
        let mut pending: Vec<u8> = Vec::new();
        let mut line_no = 0usize;
        let mut audit_err: Option<String> = None;
        loop {
            let k = match r.read(&mut buf) {
                Ok(k) => k,
                Err(e) => {
                    read_err = Some(e.to_string());
                    break;
                }
            };
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
            if let Some(a) = audit.as_mut()
                && audit_err.is_none()
            {
                pending.extend_from_slice(&buf[..k]);
                let mut start = 0;
                while let Some(i) = pending[start..].iter().position(|b| *b == b'\n') {
                    line_no += 1;
                    let line = String::from_utf8_lossy(&pending[start..start + i]).into_owned();
                    if let Err(e) = a.push(line_no, &line) {
                        audit_err = Some(e);
                        break;
                    }
                    start += i + 1;
                }
                pending.drain(..start);
            }
        }
        drop(r);
        v.files_checked += 1;
        if let Some(e) = read_err {
            // A zip reader refuses an entry whose CRC-32 no longer matches.
            problems.push(Problem::Invalid { path: f.path.clone(), reason: format!("cannot be read ({e}): the file was changed or damaged") });
            continue;
        }
        if n != f.size {
            problems.push(Problem::SizeMismatch { path: f.path.clone(), expected: f.size, actual: n });
        } else if hex::encode(h.finalize()) != f.sha256 {
            problems.push(Problem::HashMismatch { path: f.path.clone() });
        }
        if let Some(a) = audit {
            let outcome = audit_err.map(Err).unwrap_or_else(|| {
                if !pending.is_empty() {
                    return Err("the last line has no newline: the file is truncated".into());
                }
                a.finish()?;
                match a.header() {
                    Some(hd) if hd.head != m.audit_head => Err(format!("ends at audit event {} but the manifest records event {}", hd.head.seq, m.audit_head.seq)),
                    _ => Ok(()),
                }
            });
            if let Err(reason) = outcome {
                problems.push(Problem::Audit { path: f.path.clone(), reason });
            }
        }
    }
    for p in &paths {
        if !listed.contains(p.as_str()) && !CERTIFYING_FILES.contains(&p.as_str()) {
            problems.push(Problem::Unlisted { path: p.clone() });
        }
    }
    v.ok = problems.is_empty();
    v.problems = problems;
    Ok(v)
}

/// A zip archive of a delivery. When every entry lies under one top-level
/// folder holding `manifest.json`, paths are taken relative to it.
pub struct ZipSource<R: Read + std::io::Seek> {
    archive: zip::ZipArchive<R>,
    prefix: String,
}

impl<R: Read + std::io::Seek> ZipSource<R> {
    pub fn new(reader: R) -> std::io::Result<ZipSource<R>> {
        let archive = zip::ZipArchive::new(reader).map_err(std::io::Error::other)?;
        let names: Vec<String> = archive.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).collect();
        let prefix = if names.iter().any(|n| n == MANIFEST) {
            String::new()
        } else {
            names
                .iter()
                .find_map(|n| n.strip_suffix(MANIFEST).filter(|p| p.ends_with('/') && p.matches('/').count() == 1).map(str::to_string))
                .filter(|p| names.iter().all(|n| n.starts_with(p.as_str())))
                .unwrap_or_default()
        };
        Ok(ZipSource { archive, prefix })
    }
}

impl<R: Read + std::io::Seek> Source for ZipSource<R> {
    fn paths(&mut self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for i in 0..self.archive.len() {
            let f = self.archive.by_index_raw(i).map_err(std::io::Error::other)?;
            if f.is_dir() {
                continue;
            }
            let name = f.name().map_err(std::io::Error::other)?.into_owned();
            out.push(name.strip_prefix(self.prefix.as_str()).map(str::to_string).unwrap_or(name));
        }
        Ok(out)
    }
    fn open(&mut self, path: &str) -> std::io::Result<Box<dyn Read + '_>> {
        let name = format!("{}{path}", self.prefix);
        Ok(Box::new(self.archive.by_name(&name).map_err(std::io::Error::other)?))
    }
}

/// Reads lines of an audit export file (helper for callers verifying one alone).
pub fn verify_audit_export(r: impl BufRead) -> Result<(u64, u64), String> {
    let mut v = ExportVerifier::default();
    for (i, line) in r.lines().enumerate() {
        v.push(i + 1, &line.map_err(|e| e.to_string())?)?;
    }
    v.finish()?;
    Ok((v.full_events, v.linked_events))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::manifest::tests::{entry, manifest};
    use crate::manifest::{CERTIFICATION_FORMAT, Reviewer, sign_certification, sign_manifest};
    use crate::sign::ServiceKey;
    use std::collections::BTreeMap;

    /// A delivery in memory.
    pub struct Mem(pub BTreeMap<String, Vec<u8>>);

    impl Source for Mem {
        fn paths(&mut self) -> std::io::Result<Vec<String>> {
            Ok(self.0.keys().cloned().collect())
        }
        fn open(&mut self, path: &str) -> std::io::Result<Box<dyn Read + '_>> {
            Ok(Box::new(std::io::Cursor::new(self.0.get(path).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?.clone())))
        }
    }

    pub fn delivery(key: &ServiceKey) -> Mem {
        let files: Vec<(&str, &[u8])> = vec![("exports/annotations.jsonl", b"{\"item_id\":\"i1\"}\n"), ("report.html", b"<html></html>")];
        let m = manifest(files.iter().map(|(p, b)| entry(p, b)).collect(), key);
        let sm = sign_manifest(&m, key).unwrap();
        let c = Certification {
            format: CERTIFICATION_FORMAT.into(),
            delivery_id: m.delivery_id.clone(),
            version: m.version,
            manifest_sha256: sm.sha256.clone(),
            statement: "I certify this delivery.".into(),
            reviewer: Reviewer { user_id: "u-qa".into(), name: "Quinn Reviewer".into(), role: "qa_reviewer".into() },
            signed_at: 2,
            signing_key: key.public(),
        };
        let sc = sign_certification(&c, key).unwrap();
        let mut map: BTreeMap<String, Vec<u8>> = files.iter().map(|(p, b)| (p.to_string(), b.to_vec())).collect();
        map.insert(MANIFEST.into(), sm.bytes);
        map.insert(MANIFEST_SIG.into(), sm.signature.to_vec());
        map.insert(CERTIFICATION.into(), sc.bytes);
        map.insert(CERTIFICATION_SIG.into(), sc.signature.to_vec());
        map.insert(PUBLIC_KEY_PEM.into(), key.public().pem().into_bytes());
        Mem(map)
    }

    #[test]
    fn an_intact_delivery_verifies() {
        let key = ServiceKey::from_seed(&[9; 32]);
        let v = verify(&mut delivery(&key), Some(&key.public())).unwrap();
        assert!(v.ok, "{:?}", v.problems);
        assert_eq!(v.files_checked, 2);
        assert_eq!(v.certified_by.as_deref(), Some("Quinn Reviewer"));
    }

    #[test]
    fn one_changed_byte_names_the_file() {
        let key = ServiceKey::from_seed(&[9; 32]);
        let mut d = delivery(&key);
        d.0.get_mut("report.html").unwrap()[3] ^= 1;
        let v = verify(&mut d, None).unwrap();
        assert!(!v.ok);
        assert_eq!(v.problems, vec![Problem::HashMismatch { path: "report.html".into() }]);
        assert!(v.problems[0].to_string().starts_with("report.html: SHA-256 differs"));
    }

    #[test]
    fn missing_extra_resigned_and_foreign_key_are_caught() {
        let key = ServiceKey::from_seed(&[9; 32]);
        let mut d = delivery(&key);
        d.0.remove("exports/annotations.jsonl");
        d.0.insert("extra.txt".into(), b"x".to_vec());
        let v = verify(&mut d, None).unwrap();
        assert_eq!(v.problems, vec![Problem::Missing { path: "exports/annotations.jsonl".into() }, Problem::Unlisted { path: "extra.txt".into() }]);
        // A manifest edited and re-signed by another key fails against the trusted key.
        let other = ServiceKey::from_seed(&[10; 32]);
        let v = verify(&mut delivery(&other), Some(&key.public())).unwrap();
        assert!(v.problems.iter().any(|p| matches!(p, Problem::KeyMismatch { .. })));
        assert!(v.problems.contains(&Problem::BadSignature { path: MANIFEST_SIG.into() }));
        // A manifest changed after signing.
        let mut d = delivery(&key);
        let m = d.0.get_mut(MANIFEST).unwrap();
        let at = m.iter().position(|b| *b == b'4').unwrap();
        m[at] = b'5';
        let v = verify(&mut d, None).unwrap();
        assert!(v.problems.contains(&Problem::BadSignature { path: MANIFEST_SIG.into() }), "{:?}", v.problems);
        assert!(v.problems.iter().any(|p| matches!(p, Problem::Invalid { path, .. } if path == CERTIFICATION)));
    }

    #[test]
    fn a_zip_under_one_folder_verifies_and_a_flipped_byte_fails() {
        let key = ServiceKey::from_seed(&[9; 32]);
        let d = delivery(&key);
        let files: Vec<(String, Vec<u8>)> = d.0.into_iter().map(|(p, b)| (format!("delivery-v1/{p}"), b)).collect();
        let entries: Vec<crate::zip::ZipEntry> = files.iter().map(|(p, b)| crate::zip::ZipEntry { path: p.clone(), size: b.len() as u64, crc32: crate::zip::crc32(b) }).collect();
        let plan = crate::zip::ZipPlan::new(&entries, 0);
        let mut bytes = Vec::new();
        for p in plan.pieces(0..plan.len()) {
            match p {
                crate::zip::Piece::Bytes(b) => bytes.extend_from_slice(&b),
                crate::zip::Piece::File { entry, range } => bytes.extend_from_slice(&files[entry].1[range.start as usize..range.end as usize]),
            }
        }
        let v = verify(&mut ZipSource::new(std::io::Cursor::new(bytes.clone())).unwrap(), Some(&key.public())).unwrap();
        assert!(v.ok, "{:?}", v.problems);
        // One byte of the export changed inside the zip: named, whether the
        // zip reader notices the CRC or the hash differs.
        let needle = b"{\"item_id\"";
        let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
        let mut bad = bytes.clone();
        bad[at + 3] ^= 0x20;
        let v = verify(&mut ZipSource::new(std::io::Cursor::new(bad)).unwrap(), Some(&key.public())).unwrap();
        assert!(!v.ok);
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert!(v.problems[0].to_string().starts_with("exports/annotations.jsonl: "), "{}", v.problems[0]);
    }
}
