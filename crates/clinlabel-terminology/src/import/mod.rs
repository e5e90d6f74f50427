//! Importers: each system's official release files → a checked [`Release`].
//!
//! [`import`] takes a file or a folder (an unpacked release); in a folder the
//! importer finds its files by their official names, case-insensitively, in
//! any subfolder. Errors name the file and line at fault.

mod cpt;
mod csv;
mod hcpcs;
mod icd10;
mod loinc;
mod meddra;
mod rxnorm;
mod snomed;

pub use icd10::{OrderRow, icd10cm_order, icd10cm_tabular, icd10pcs_order, read_order};

use crate::{Error, Release, System};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A checked release and what the check dropped.
#[derive(Debug)]
pub struct Imported {
    pub release: Release,
    /// Parent links naming a code absent from the files (dropped).
    pub dropped_parents: usize,
}

/// Imports `path` (a release file or folder) as `system`. `version`
/// overrides the version read from the files (required where the files do not say it).
pub fn import(system: System, path: &Path, version: Option<&str>) -> Result<Imported, Error> {
    if !path.exists() {
        return Err(Error::Missing(format!("{}: no such file or folder", path.display())));
    }
    let (concepts, found_version, source) = match system {
        System::Icd10cm => icd10::import_cm(path)?,
        System::Icd10pcs => icd10::import_pcs(path)?,
        System::Hcpcs => hcpcs::import(path)?,
        System::Snomed => snomed::import(path)?,
        System::Loinc => loinc::import(path)?,
        System::Rxnorm => rxnorm::import(path)?,
        System::Meddra => meddra::import(path)?,
        System::Cpt => cpt::import(path)?,
    };
    let version = version.map(str::to_string).or(found_version).unwrap_or_default();
    let (release, dropped_parents) = Release::new(system, version, source, concepts)?;
    Ok(Imported { release, dropped_parents })
}

/// Every file under `root` (itself when it is a file), sorted, at most 8 levels deep.
pub(crate) fn files(root: &Path) -> Vec<PathBuf> {
    fn walk(p: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        if depth > 8 {
            return;
        }
        let Ok(rd) = std::fs::read_dir(p) else { return };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, depth + 1, out);
            } else {
                out.push(e);
            }
        }
    }
    if root.is_file() {
        return vec![root.to_path_buf()];
    }
    let mut out = Vec::new();
    walk(root, 0, &mut out);
    out
}

pub(crate) fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// The one file under `root` whose lower-case name satisfies `want`, or none.
/// Several matches are an error naming them.
pub(crate) fn find(root: &Path, what: &str, want: impl Fn(&str) -> bool) -> Result<Option<PathBuf>, Error> {
    let found: Vec<PathBuf> = files(root).into_iter().filter(|p| want(&file_name(p))).collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(Error::Format(format!(
            "{}: several {what} files: {}; point at the folder of one release",
            root.display(),
            found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Like [`find`], but the file must exist.
pub(crate) fn require(root: &Path, what: &str, want: impl Fn(&str) -> bool) -> Result<PathBuf, Error> {
    find(root, what, want)?.ok_or_else(|| Error::Missing(format!("{}: no {what} file found", root.display())))
}

/// Reads a file's lines (without line ends), calling `f(line number, line)`.
/// Text that is not UTF-8 is an error unless `latin1` (then each byte is a character).
pub(crate) fn for_each_line(path: &Path, latin1: bool, mut f: impl FnMut(usize, &str) -> Result<(), Error>) -> Result<(), Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = r.read_until(b'\n', &mut buf).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let mut start = 0;
        if n == 1 && buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            start = 3;
        }
        let bytes = &buf[start..];
        match std::str::from_utf8(bytes) {
            Ok(s) => f(n, s)?,
            Err(e) if !latin1 => {
                return Err(Error::Format(format!("{}: line {n}: not UTF-8 (byte {})", path.display(), e.valid_up_to() + start + 1)));
            }
            Err(_) => {
                let s: String = bytes.iter().map(|&b| b as char).collect();
                f(n, &s)?
            }
        }
    }
}

pub(crate) fn line_error(path: &Path, line: usize, what: impl std::fmt::Display) -> Error {
    Error::Format(format!("{}: line {line}: {what}", path.display()))
}

/// A run of exactly `n` digits in a file name (e.g. the date of `sct2_Concept_Snapshot_INT_20250101.txt`), the last one.
pub(crate) fn digits_in_name(p: &Path, n: usize) -> Option<String> {
    let name = p.file_name()?.to_string_lossy().to_string();
    let b = name.as_bytes();
    let mut found = None;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let j = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if j - i == n {
                found = Some(name[i..j].to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

/// A readable list of the files read.
pub(crate) fn source(files: &[&Path]) -> String {
    files.iter().filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string())).collect::<Vec<_>>().join(", ")
}
