//! CPT from the AMA's data files (licensed by the user). Read: the
//! tab-delimited long-descriptor file `LONGULT.txt` (upper and lower case),
//! one code per line:
//!
//! ```text
//! CODE<TAB>DESCRIPTOR
//! ```
//!
//! with, when they sit in the same folder, `MEDU.txt` (medium descriptors)
//! and `SHORTU.txt` (short descriptors) in the same layout as synonyms.
//! Lines whose first field is not a five-character code (the copyright and
//! title lines the AMA puts first) are skipped; text that is not UTF-8 is
//! read as Latin-1. The files carry no version: it is `--version`, or a
//! year (20xx, standing alone) in the folder or file name (`CPT 2025 Data Files`). CPT defines no hierarchy or
//! status in these files.

use super::{file_name, files, line_error, for_each_line, source};
use crate::{Concept, Error};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Imported = (Vec<Concept>, Option<String>, String);

fn is_code(s: &str) -> bool {
    s.len() == 5 && s.bytes().all(|b| b.is_ascii_alphanumeric()) && s.bytes().take(4).all(|b| b.is_ascii_digit())
}

fn read(path: &Path, mut f: impl FnMut(String, String)) -> Result<usize, Error> {
    let mut n_codes = 0;
    for_each_line(path, true, |n, line| {
        let Some((code, text)) = line.split_once('\t') else { return Ok(()) };
        let code = code.trim();
        if !is_code(code) {
            return Ok(());
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(line_error(path, n, format!("code {code} without a descriptor")));
        }
        n_codes += 1;
        f(code.to_string(), text.to_string());
        Ok(())
    })?;
    Ok(n_codes)
}

fn year(path: &Path) -> Option<String> {
    path.ancestors().find_map(|a| {
        let name = a.file_name()?.to_string_lossy().to_string();
        let b = name.as_bytes();
        (0..b.len().saturating_sub(3)).find_map(|i| {
            let w = &b[i..i + 4];
            let ok = w.starts_with(b"20") && w.iter().all(u8::is_ascii_digit)
                && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
                && b.get(i + 4).is_none_or(|c| !c.is_ascii_alphanumeric());
            ok.then(|| name[i..i + 4].to_string())
        })
    })
}

pub(crate) fn import(path: &Path) -> Result<Imported, Error> {
    let long = if path.is_file() {
        path.to_path_buf()
    } else {
        let all = files(path);
        let found: Vec<PathBuf> = all.into_iter().filter(|p| file_name(p) == "longult.txt").collect();
        match found.len() {
            1 => found.into_iter().next().expect("one"),
            0 => return Err(Error::Missing(format!("{}: no LONGULT.txt (the AMA's tab-delimited long descriptors)", path.display()))),
            _ => return Err(Error::Format(format!("{}: several LONGULT.txt files; point at one release's folder", path.display()))),
        }
    };
    let mut out: Vec<Concept> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut dup: Option<String> = None;
    read(&long, |code, text| {
        if at.contains_key(&code) {
            dup.get_or_insert(code);
            return;
        }
        at.insert(code.clone(), out.len());
        out.push(Concept::new(code, text));
    })?;
    if let Some(code) = dup {
        return Err(Error::Format(format!("{}: code {code} appears twice", long.display())));
    }
    let mut used: Vec<PathBuf> = vec![long.clone()];
    if let Some(dir) = long.parent() {
        for name in ["medu.txt", "shortu.txt"] {
            let Ok(rd) = std::fs::read_dir(dir) else { continue };
            let Some(p) = rd.filter_map(|e| e.ok().map(|e| e.path())).find(|p| file_name(p) == name) else { continue };
            read(&p, |code, text| {
                if let Some(&i) = at.get(&code)
                    && out[i].display != text
                    && !out[i].synonyms.contains(&text)
                {
                    out[i].synonyms.push(text);
                }
            })?;
            used.push(p);
        }
    }
    let refs: Vec<&Path> = used.iter().map(PathBuf::as_path).collect();
    Ok((out, year(&long), source(&refs)))
}
