//! RxNorm from `RXNCONSO.RRF` (pipe-delimited, UTF-8, no header):
//!
//! ```text
//! RXCUI|LAT|TS|LUI|STT|SUI|ISPREF|RXAUI|SAUI|SCUI|SDUI|SAB|TTY|CODE|STR|SRL|SUPPRESS|CVF|
//! ```
//!
//! Only rows with SAB=RXNORM (and LAT=ENG) are read; the concept is the
//! RXCUI. Its display is the atom of the highest-ranked term type (clinical
//! and branded drugs and packs, then forms, components, ingredients, brand
//! names, dose forms); the other atoms (synonyms `SY`, tall-man `TMSY`,
//! prescribable names `PSN`) are synonyms, and the display's term type is the
//! kind. A concept is active when its display atom is not suppressed
//! (SUPPRESS `N`). Relationships live in `RXNREL.RRF`, which is not read: no
//! parents. The version comes from `--version` or a folder named like
//! `RxNorm_full_MMDDYYYY` (→ `YYYY-MM-DD`).

use super::{for_each_line, line_error, require, source};
use crate::{Concept, Error};
use std::collections::HashMap;
use std::path::Path;

type Imported = (Vec<Concept>, Option<String>, String);

const RANK: [&str; 22] = [
    "SCD", "SBD", "GPCK", "BPCK", "SCDG", "SBDG", "SCDF", "SBDF", "SCDFP", "SBDFP", "SCDGP", "SCDC", "SBDC", "IN", "PIN", "MIN", "BN", "DF", "DFG",
    "ET", "PSN", "SY",
];

fn rank(tty: &str) -> usize {
    RANK.iter().position(|t| *t == tty).unwrap_or(RANK.len())
}

fn folder_version(path: &Path) -> Option<String> {
    path.ancestors().find_map(|a| {
        let name = a.file_name()?.to_string_lossy().to_lowercase();
        let rest = name.strip_prefix("rxnorm_full_").or_else(|| name.strip_prefix("rxnorm_weekly_"))?;
        let d: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (d.len() == 8).then(|| format!("{}-{}-{}", &d[4..8], &d[0..2], &d[2..4]))
    })
}

struct Atom {
    tty: String,
    text: String,
    suppress: String,
}

pub(crate) fn import(path: &Path) -> Result<Imported, Error> {
    let file = if path.is_file() { path.to_path_buf() } else { require(path, "RXNCONSO.RRF", |n| n == "rxnconso.rrf")? };
    let mut atoms: HashMap<String, Vec<Atom>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for_each_line(&file, false, |n, line| {
        if line.is_empty() {
            return Ok(());
        }
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 18 {
            return Err(line_error(&file, n, format!("{} fields, expected 18 (RXCUI|LAT|...|CVF|)", f.len())));
        }
        if f[11] != "RXNORM" || f[1] != "ENG" {
            return Ok(());
        }
        let rxcui = f[0];
        if rxcui.is_empty() || !rxcui.bytes().all(|b| b.is_ascii_digit()) {
            return Err(line_error(&file, n, format!("RXCUI {rxcui:?} is not a number")));
        }
        let list = atoms.entry(rxcui.to_string()).or_insert_with(|| {
            order.push(rxcui.to_string());
            Vec::new()
        });
        list.push(Atom { tty: f[12].to_string(), text: f[14].to_string(), suppress: f[16].to_string() });
        Ok(())
    })?;
    let mut out = Vec::with_capacity(order.len());
    for rxcui in order {
        let mut list = atoms.remove(&rxcui).expect("collected");
        // Unsuppressed atoms first, then by term type rank.
        list.sort_by_key(|a| (a.suppress != "N", rank(&a.tty)));
        let first = list.remove(0);
        let mut c = Concept::new(rxcui, first.text);
        c.kind = Some(first.tty);
        c.active = first.suppress == "N";
        c.synonyms = list.into_iter().map(|a| a.text).collect();
        out.push(c);
    }
    Ok((out, folder_version(&file), source(&[&file])))
}
