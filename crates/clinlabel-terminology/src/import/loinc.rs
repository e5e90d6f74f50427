//! LOINC from the LOINC table file `Loinc.csv` (RFC 4180, header row, UTF-8).
//!
//! Columns are found by their header names: `LOINC_NUM` (the code),
//! `LONG_COMMON_NAME` (the display; `COMPONENT` when empty), `SHORTNAME`,
//! `DisplayName` and `CONSUMER_NAME` (synonyms), `STATUS` (`DEPRECATED` is
//! inactive; `ACTIVE`, `TRIAL` and `DISCOURAGED` are active), `CLASS` (the
//! kind) and `VersionLastChanged`. `RELATEDNAMES2` is not read: its dozens of
//! fragments per code ("Bld", "Point in time") would each match as a term.
//! LOINC's hierarchies ship in other files; none is read, so concepts have no
//! parents. The version is taken from a `Loinc_X.YY` folder name, else the
//! highest `VersionLastChanged`.

use super::csv::for_each_record;
use super::{line_error, require, source};
use crate::{Concept, Error};
use std::path::Path;

type Imported = (Vec<Concept>, Option<String>, String);

fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.trim().parse().unwrap_or(0)).collect()
}

fn folder_version(path: &Path) -> Option<String> {
    path.ancestors().find_map(|a| {
        let name = a.file_name()?.to_string_lossy().to_lowercase();
        let v = name.strip_prefix("loinc_")?;
        let v: String = v.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        (v.contains('.')).then_some(v)
    })
}

pub(crate) fn import(path: &Path) -> Result<Imported, Error> {
    let file = if path.is_file() { path.to_path_buf() } else { require(path, "Loinc.csv", |n| n == "loinc.csv")? };
    let mut cols: Option<[Option<usize>; 9]> = None;
    const NAMES: [&str; 9] =
        ["LOINC_NUM", "LONG_COMMON_NAME", "COMPONENT", "SHORTNAME", "DisplayName", "CONSUMER_NAME", "STATUS", "CLASS", "VersionLastChanged"];
    let mut out = Vec::new();
    let mut newest: Option<String> = None;
    for_each_record(&file, |n, rec| {
        let Some(c) = &cols else {
            let found = NAMES.map(|name| rec.iter().position(|h| h.trim() == name));
            for required in [0, 1] {
                if found[required].is_none() {
                    return Err(line_error(&file, n, format!("no {} column in the header", NAMES[required])));
                }
            }
            cols = Some(found);
            return Ok(());
        };
        if rec.len() == 1 && rec[0].is_empty() {
            return Ok(());
        }
        let get = |i: usize| c[i].and_then(|k| rec.get(k)).map(|s| s.trim()).unwrap_or("");
        let code = get(0);
        if code.is_empty() {
            return Err(line_error(&file, n, "a row without LOINC_NUM"));
        }
        let display = if get(1).is_empty() { get(2) } else { get(1) };
        if display.is_empty() {
            return Err(line_error(&file, n, format!("{code} has neither LONG_COMMON_NAME nor COMPONENT")));
        }
        let mut concept = Concept::new(code, display);
        for i in [3, 4, 5] {
            if !get(i).is_empty() {
                concept.synonyms.push(get(i).to_string());
            }
        }
        concept.active = !get(6).eq_ignore_ascii_case("DEPRECATED");
        concept.kind = Some(get(7).to_string()).filter(|k| !k.is_empty());
        let v = get(8);
        if !v.is_empty() && newest.as_deref().is_none_or(|cur| version_key(v) > version_key(cur)) {
            newest = Some(v.to_string());
        }
        out.push(concept);
        Ok(())
    })?;
    Ok((out, folder_version(&file).or(newest), source(&[&file])))
}
