//! HCPCS Level II from the CMS alpha-numeric release file
//! (`HCPCYYYY_JAN_ANWEB_*.txt`): fixed 320-byte records, Latin-1.
//!
//! Columns read (1-based, as in CMS's record layout):
//!
//! ```text
//! 1-5     HCPCS code (procedure: 5 characters; modifier: 2)
//! 6-10    sequence number
//! 11      record identification: 3 procedure, 4 its continuation,
//!         7 modifier, 8 its continuation
//! 12-91   long description (continued on records 4 and 8)
//! 92-119  short description (first record only)
//! 270-277 code added date          286-293 termination date (YYYYMMDD)
//! 294     action code
//! ```
//!
//! A code with a termination date on or before the release's date (the
//! first day of the month its file name gives, e.g. `HCPC2026_JAN…` →
//! 2026-01-01) is inactive; with no release date known, any termination
//! date makes it inactive. Kind: `procedure` or `modifier`. HCPCS defines no
//! hierarchy in this file.

use super::{file_name, for_each_line, line_error, require, source};
use crate::{Concept, Error};
use std::collections::HashMap;
use std::path::Path;

type Imported = (Vec<Concept>, Option<String>, String);

fn field(line: &str, from: usize, to: usize) -> &str {
    // 1-based inclusive columns; the file is Latin-1, decoded one char per byte.
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let start = chars.get(from - 1).map(|c| c.0).unwrap_or(line.len());
    let end = chars.get(to).map(|c| c.0).unwrap_or(line.len());
    line[start..end.max(start)].trim()
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// `HCPC2026_JAN_ANWEB_...` → `2026-01`.
fn version_of(path: &Path) -> Option<String> {
    let n = file_name(path);
    let i = n.find("hcpc")?;
    let rest = &n[i + 4..];
    let year: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if year.len() != 4 {
        return None;
    }
    let after = rest[4..].trim_start_matches(['_', '-', ' ']);
    match MONTHS.iter().position(|m| after.starts_with(m)) {
        Some(m) => Some(format!("{year}-{:02}", m + 1)),
        None => Some(year),
    }
}

pub(crate) fn import(path: &Path) -> Result<Imported, Error> {
    let file = if path.is_file() {
        path.to_path_buf()
    } else {
        require(path, "HCPCS alpha-numeric (*ANWEB*.txt)", |n| n.contains("anweb") && n.ends_with(".txt") && !n.contains("proc_notes"))?
    };
    let version = version_of(&file);
    let release_date: Option<String> = version.as_ref().map(|v| {
        let mut d = v.replace('-', "");
        while d.len() < 8 {
            d.push_str(if d.len() == 4 { "01" } else { "1" });
        }
        d
    });
    let mut concepts: Vec<Concept> = Vec::new();
    let mut by_code: HashMap<String, usize> = HashMap::new();
    let mut last: Option<usize> = None;
    for_each_line(&file, true, |n, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        if line.chars().count() < 91 {
            return Err(line_error(&file, n, "shorter than a HCPCS record (code, sequence, record id and an 80-character description)"));
        }
        let code = field(line, 1, 5);
        let rid = field(line, 11, 11);
        let long = field(line, 12, 91);
        match rid {
            "3" | "7" => {
                if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(line_error(&file, n, format!("code {code:?} is not a HCPCS code")));
                }
                if by_code.contains_key(code) {
                    return Err(line_error(&file, n, format!("code {code} starts twice")));
                }
                let short = field(line, 92, 119);
                let term = field(line, 286, 293);
                let active = match (&release_date, term.is_empty()) {
                    (_, true) => true,
                    (Some(rel), false) => term > rel.as_str(),
                    (None, false) => false,
                };
                let mut c = Concept::new(code, long);
                c.active = active;
                c.kind = Some(if rid == "3" { "procedure" } else { "modifier" }.into());
                if !short.is_empty() {
                    c.synonyms.push(short.to_string());
                }
                by_code.insert(code.to_string(), concepts.len());
                last = Some(concepts.len());
                concepts.push(c);
            }
            "4" | "8" => {
                let Some(i) = last else { return Err(line_error(&file, n, "a continuation record before any code")) };
                if !code.is_empty() && code != concepts[i].code {
                    return Err(line_error(&file, n, format!("continuation of {code} follows {}", concepts[i].code)));
                }
                if !long.is_empty() {
                    concepts[i].display.push(' ');
                    concepts[i].display.push_str(long);
                }
            }
            other => return Err(line_error(&file, n, format!("record identification {other:?} is not 3, 4, 7 or 8"))),
        }
        Ok(())
    })?;
    Ok((concepts, version, source(&[&file])))
}
