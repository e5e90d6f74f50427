//! MedDRA from its ASCII distribution (`$`-delimited, each line ending in `$`):
//!
//! ```text
//! soc.asc       soc_code$soc_name$soc_abbrev$...
//! hlgt.asc      hlgt_code$hlgt_name$...
//! hlt.asc       hlt_code$hlt_name$...
//! pt.asc        pt_code$pt_name$null_field$pt_soc_code$...
//! llt.asc       llt_code$llt_name$pt_code$llt_whoart_code$llt_harts_code$llt_costart_sym$
//!               llt_icd9_code$llt_icd9cm_code$llt_icd10_code$llt_currency$llt_jart_code$
//! soc_hlgt.asc  soc_code$hlgt_code$
//! hlgt_hlt.asc  hlgt_code$hlt_code$
//! hlt_pt.asc    hlt_code$pt_code$
//! meddra_release.asc (optional)  version$language$...
//! ```
//!
//! Every level is a concept (kind `SOC`, `HLGT`, `HLT`, `PT`, `LLT`) with the
//! links as parents — a PT under all its HLTs (MedDRA is multi-axial), an LLT
//! under its PT. The LLT that shares its PT's code (every PT has one) is the
//! PT itself and is not repeated. A non-current LLT (`llt_currency` = N) is
//! inactive. The SOC abbreviation is a synonym. The version is the first
//! field of `meddra_release.asc`.

use super::{find, for_each_line, line_error, require, source};
use crate::{Concept, Error};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Imported = (Vec<Concept>, Option<String>, String);

fn read(path: &Path, min_fields: usize, mut f: impl FnMut(usize, &[&str]) -> Result<(), Error>) -> Result<(), Error> {
    for_each_line(path, true, |n, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let fields: Vec<&str> = line.split('$').collect();
        if fields.len() < min_fields {
            return Err(line_error(path, n, format!("{} $-separated fields, expected at least {min_fields}", fields.len())));
        }
        f(n, &fields)
    })
}

fn code(path: &Path, n: usize, s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(line_error(path, n, format!("{s:?} is not a MedDRA code")));
    }
    Ok(s.to_string())
}

pub(crate) fn import(path: &Path) -> Result<Imported, Error> {
    let file = |name: &'static str| -> Result<PathBuf, Error> { require(path, name, move |n| n == name) };
    let (soc, hlgt, hlt, pt, llt) = (file("soc.asc")?, file("hlgt.asc")?, file("hlt.asc")?, file("pt.asc")?, file("llt.asc")?);
    let (soc_hlgt, hlgt_hlt, hlt_pt) = (file("soc_hlgt.asc")?, file("hlgt_hlt.asc")?, file("hlt_pt.asc")?);
    let release = find(path, "meddra_release.asc", |n| n == "meddra_release.asc")?;

    let mut out: Vec<Concept> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut add = |c: Concept, p: &Path, n: usize| -> Result<(), Error> {
        if at.contains_key(&c.code) {
            return Err(line_error(p, n, format!("code {} is defined twice", c.code)));
        }
        at.insert(c.code.clone(), out.len());
        out.push(c);
        Ok(())
    };
    for (file, kind) in [(&soc, "SOC"), (&hlgt, "HLGT"), (&hlt, "HLT"), (&pt, "PT")] {
        read(file, 3, |n, f| {
            let mut c = Concept::new(code(file, n, f[0])?, f[1].trim());
            c.kind = Some(kind.into());
            if kind == "SOC" && !f[2].trim().is_empty() {
                c.synonyms.push(f[2].trim().to_string());
            }
            add(c, file, n)
        })?;
    }
    let mut llt_rows: Vec<(usize, Concept)> = Vec::new();
    read(&llt, 10, |n, f| {
        let llt_code = code(&llt, n, f[0])?;
        let pt_code = code(&llt, n, f[2])?;
        if llt_code == pt_code {
            return Ok(());
        }
        let mut c = Concept::new(llt_code, f[1].trim());
        c.parents.push(pt_code);
        c.active = f[9].trim() != "N";
        c.kind = Some("LLT".into());
        llt_rows.push((n, c));
        Ok(())
    })?;
    for (n, c) in llt_rows {
        add(c, &llt, n)?;
    }
    drop(add);
    let index: HashMap<String, usize> = out.iter().enumerate().map(|(i, c)| (c.code.clone(), i)).collect();
    for (file, what) in [(&soc_hlgt, "SOC–HLGT"), (&hlgt_hlt, "HLGT–HLT"), (&hlt_pt, "HLT–PT")] {
        read(file, 2, |n, f| {
            let parent = code(file, n, f[0])?;
            let child = code(file, n, f[1])?;
            if !index.contains_key(&parent) {
                return Err(line_error(file, n, format!("{what} link names unknown code {parent}")));
            }
            let Some(&i) = index.get(&child) else {
                return Err(line_error(file, n, format!("{what} link names unknown code {child}")));
            };
            if !out[i].parents.contains(&parent) {
                out[i].parents.push(parent);
            }
            Ok(())
        })?;
    }
    let mut version = None;
    if let Some(r) = &release {
        read(r, 1, |_, f| {
            if version.is_none() && !f[0].trim().is_empty() {
                version = Some(f[0].trim().to_string());
            }
            Ok(())
        })?;
    }
    let mut files: Vec<&Path> = vec![&soc, &hlgt, &hlt, &pt, &llt, &soc_hlgt, &hlgt_hlt, &hlt_pt];
    if let Some(r) = &release {
        files.push(r);
    }
    Ok((out, version, source(&files)))
}
