//! SNOMED CT from an RF2 snapshot (tab-separated, header line, UTF-8).
//!
//! - `sct2_Concept_Snapshot*.txt`: `id effectiveTime active moduleId definitionStatusId`
//! - `sct2_Description_Snapshot*.txt`: `id effectiveTime active moduleId conceptId
//!   languageCode typeId term caseSignificanceId`; typeId 900000000000003001 is the
//!   fully specified name (FSN), 900000000000013009 a synonym. Inactive rows are skipped.
//! - `sct2_Relationship_Snapshot*.txt`: `id effectiveTime active moduleId sourceId
//!   destinationId relationshipGroup typeId characteristicTypeId modifierId`;
//!   active rows of type 116680003 (IS-A) are the parents.
//! - optional `der2_cRefset_LanguageSnapshot*.txt`: `id effectiveTime active moduleId
//!   refsetId referencedComponentId acceptabilityId`; a synonym preferred
//!   (900000000000548007) in the US English refset (900000000000509007), else
//!   the GB one (900000000000508004), else any, is the display.
//!
//! Without a language refset the display is the FSN without its semantic tag.
//! The kind is the FSN's semantic tag (`disorder`, `procedure`, ...); the FSN
//! and the other synonyms are the synonyms. The version is the release date
//! in the file names (`..._INT_20250101.txt`).

use super::{digits_in_name, find, for_each_line, line_error, require, source};
use crate::{Concept, Error};
use std::collections::HashMap;
use std::path::Path;

type Imported = (Vec<Concept>, Option<String>, String);

const FSN: &str = "900000000000003001";
const SYNONYM: &str = "900000000000013009";
const IS_A: &str = "116680003";
const PREFERRED: &str = "900000000000548007";
const US_ENGLISH: &str = "900000000000509007";
const GB_ENGLISH: &str = "900000000000508004";

#[derive(Default)]
struct Build {
    active: bool,
    fsn: Option<String>,
    /// (description id, term)
    synonyms: Vec<(u64, String)>,
    parents: Vec<String>,
}

fn columns<'a>(path: &Path, n: usize, line: &'a str, want: usize) -> Result<Vec<&'a str>, Error> {
    let cols: Vec<&str> = line.split('\t').collect();
    if cols.len() < want {
        return Err(line_error(path, n, format!("{} tab-separated columns, expected {want}", cols.len())));
    }
    Ok(cols)
}

fn id(path: &Path, n: usize, s: &str) -> Result<u64, Error> {
    s.parse().map_err(|_| line_error(path, n, format!("{s:?} is not a SNOMED CT identifier")))
}

fn semantic_tag(fsn: &str) -> Option<(&str, &str)> {
    let fsn = fsn.trim_end();
    if !fsn.ends_with(')') {
        return None;
    }
    let open = fsn.rfind(" (")?;
    Some((fsn[..open].trim_end(), &fsn[open + 2..fsn.len() - 1]))
}

fn header(path: &Path, line: &str, first: &str) -> Result<(), Error> {
    if line.split('\t').next() != Some(first) {
        return Err(line_error(path, 1, format!("expected the RF2 header starting with {first:?}")));
    }
    Ok(())
}

pub(crate) fn import(path: &Path) -> Result<Imported, Error> {
    let snapshot = |kind: &'static str| move |n: &str| n.starts_with(kind) && n.ends_with(".txt");
    let concepts_file = require(path, "sct2_Concept_Snapshot", snapshot("sct2_concept_snapshot"))?;
    let descriptions_file = require(path, "sct2_Description_Snapshot", snapshot("sct2_description_snapshot"))?;
    let relationships_file = require(path, "sct2_Relationship_Snapshot", snapshot("sct2_relationship_snapshot"))?;
    let language_file = find(path, "der2_cRefset_LanguageSnapshot", |n| n.starts_with("der2_crefset_languagesnapshot") && n.ends_with(".txt"))?;

    let mut build: HashMap<u64, Build> = HashMap::new();
    let mut order: Vec<u64> = Vec::new();
    for_each_line(&concepts_file, false, |n, line| {
        if n == 1 {
            return header(&concepts_file, line, "id");
        }
        let c = columns(&concepts_file, n, line, 5)?;
        let cid = id(&concepts_file, n, c[0])?;
        if build.insert(cid, Build { active: c[2] == "1", ..Default::default() }).is_some() {
            return Err(line_error(&concepts_file, n, format!("concept {cid} appears twice in a snapshot")));
        }
        order.push(cid);
        Ok(())
    })?;

    for_each_line(&descriptions_file, false, |n, line| {
        if n == 1 {
            return header(&descriptions_file, line, "id");
        }
        let c = columns(&descriptions_file, n, line, 9)?;
        if c[2] != "1" {
            return Ok(());
        }
        let did = id(&descriptions_file, n, c[0])?;
        let cid = id(&descriptions_file, n, c[4])?;
        let Some(b) = build.get_mut(&cid) else {
            return Err(line_error(&descriptions_file, n, format!("description of unknown concept {cid}")));
        };
        match c[6] {
            FSN => b.fsn = Some(c[7].to_string()),
            SYNONYM => b.synonyms.push((did, c[7].to_string())),
            _ => {}
        }
        Ok(())
    })?;

    for_each_line(&relationships_file, false, |n, line| {
        if n == 1 {
            return header(&relationships_file, line, "id");
        }
        let c = columns(&relationships_file, n, line, 10)?;
        if c[2] != "1" || c[7] != IS_A {
            return Ok(());
        }
        let source_id = id(&relationships_file, n, c[4])?;
        id(&relationships_file, n, c[5])?;
        if let Some(b) = build.get_mut(&source_id) {
            b.parents.push(c[5].to_string());
        }
        Ok(())
    })?;

    // Preferred synonyms: description id → rank (0 US, 1 GB, 2 other refsets).
    let mut preferred: HashMap<u64, u8> = HashMap::new();
    if let Some(lang) = &language_file {
        for_each_line(lang, false, |n, line| {
            if n == 1 {
                return header(lang, line, "id");
            }
            let c = columns(lang, n, line, 7)?;
            if c[2] != "1" || c[6] != PREFERRED {
                return Ok(());
            }
            let rank = match c[4] {
                US_ENGLISH => 0,
                GB_ENGLISH => 1,
                _ => 2,
            };
            let did = id(lang, n, c[5])?;
            let e = preferred.entry(did).or_insert(rank);
            *e = (*e).min(rank);
            Ok(())
        })?;
    }

    let mut out = Vec::with_capacity(order.len());
    for cid in order {
        let b = build.remove(&cid).expect("every concept was built");
        let code = cid.to_string();
        let (tag, fsn_term) = match &b.fsn {
            Some(f) => match semantic_tag(f) {
                Some((term, tag)) => (Some(tag.to_string()), Some(term.to_string())),
                None => (None, Some(f.clone())),
            },
            None => (None, None),
        };
        let pick = b.synonyms.iter().enumerate().filter_map(|(i, (d, _))| preferred.get(d).map(|r| (*r, i))).min();
        let (display, rest): (String, Vec<String>) = match pick {
            Some((_, i)) => {
                let display = b.synonyms[i].1.clone();
                let mut rest: Vec<String> = b.synonyms.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, (_, t))| t.clone()).collect();
                if let Some(f) = &b.fsn {
                    rest.insert(0, f.clone());
                }
                (display, rest)
            }
            None => match (&fsn_term, &b.fsn) {
                (Some(t), Some(f)) => {
                    let mut rest = vec![f.clone()];
                    rest.extend(b.synonyms.iter().map(|(_, t)| t.clone()));
                    (t.clone(), rest)
                }
                _ => match b.synonyms.first() {
                    Some((_, t)) => (t.clone(), b.synonyms.iter().skip(1).map(|(_, t)| t.clone()).collect()),
                    None => return Err(Error::Format(format!("{}: concept {code} has no active description", descriptions_file.display()))),
                },
            },
        };
        let mut c = Concept::new(code, display);
        c.synonyms = rest;
        c.parents = b.parents;
        c.active = b.active;
        c.kind = tag;
        out.push(c);
    }
    let version = digits_in_name(&concepts_file, 8);
    let mut files: Vec<&Path> = vec![&concepts_file, &descriptions_file, &relationships_file];
    if let Some(l) = &language_file {
        files.push(l);
    }
    Ok((out, version, source(&files)))
}
