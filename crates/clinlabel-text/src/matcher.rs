//! The dictionary matcher: proposes entity spans with candidate codes.
//!
//! Built from any list of [`Term`]s — a project lexicon, or `(code, term)`
//! pairs from a code system (clinlabel-terminology's `CodeSystem::terms`) —
//! it finds case-insensitive, word-bounded, longest, non-overlapping matches
//! (see [`crate::phrase`] for the normalisation). Terms that normalise to the
//! same key are merged: the match carries the first entry's label and every
//! code given for that label (up to [`MAX_CANDIDATES`]).
//!
//! A lexicon file ([`parse_lexicon`]) is tab-separated: `term<TAB>label`
//! and optionally `<TAB>system:code<TAB>display`; `#` starts a comment.
//! [`read_lexicon`] keeps each term's line, so [`check_lexicon`] can name
//! the line whose label is not an entity type of a project's schema, or
//! whose code is not of the system the schema binds to that label (a
//! project's lexicon is checked so when a PM sets it).

use crate::error::{Result, TextError};
use crate::model::Code;
use crate::offsets::OffsetIndex;
use crate::phrase::{Normalized, PhraseSet};
use clinlabel_domain::project::LabelSchema;
use std::collections::HashMap;

/// Candidate codes kept per match.
pub const MAX_CANDIDATES: usize = 10;

/// A dictionary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub term: String,
    /// Entity type id.
    pub label: String,
    pub code: Option<Code>,
}

impl Term {
    pub fn new(term: impl Into<String>, label: impl Into<String>, code: Option<Code>) -> Term {
        Term { term: term.into(), label: label.into(), code }
    }
}

/// A proposed span (char offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub start: usize,
    pub end: usize,
    pub label: String,
    pub codes: Vec<Code>,
}

#[derive(Debug)]
struct Entry {
    label: String,
    codes: Vec<Code>,
}

/// A compiled dictionary.
#[derive(Debug)]
pub struct Matcher {
    set: PhraseSet,
    entries: Vec<Entry>,
}

impl Matcher {
    /// Compiles the terms. Terms with fewer than two letters or digits are skipped
    /// (they would match everywhere).
    pub fn new(terms: impl IntoIterator<Item = Term>) -> Matcher {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut keys = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        for t in terms {
            if t.term.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
                continue;
            }
            let key = Normalized::key(&t.term);
            let i = *index.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                entries.push(Entry { label: t.label.clone(), codes: Vec::new() });
                entries.len() - 1
            });
            let e = &mut entries[i];
            if let Some(c) = t.code
                && e.label == t.label
                && e.codes.len() < MAX_CANDIDATES
                && !e.codes.iter().any(|x| x.system == c.system && x.code == c.code)
            {
                e.codes.push(c);
            }
        }
        Matcher { set: PhraseSet::new(keys, false), entries }
    }

    /// Distinct normalised terms.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Matches in `text`, in order, with char offsets.
    pub fn find(&self, text: &str) -> Vec<Match> {
        let n = Normalized::new(text, 0);
        self.set
            .scan(&n)
            .into_iter()
            .map(|m| {
                let e = &self.entries[m.phrase];
                Match { start: n.tok_chars[m.first].0 as usize, end: n.tok_chars[m.last - 1].1 as usize, label: e.label.clone(), codes: e.codes.clone() }
            })
            .collect()
    }

    /// Like [`find`](Self::find), with offsets converted for a UTF-16 caller.
    pub fn find_utf16(&self, text: &str) -> Vec<Match> {
        let idx = OffsetIndex::new(text);
        let mut m = self.find(text);
        for x in &mut m {
            x.start = idx.utf16(x.start).unwrap_or(x.start);
            x.end = idx.utf16(x.end).unwrap_or(x.end);
        }
        m
    }
}

/// Parses a lexicon file: `term<TAB>label[<TAB>system:code[<TAB>display]]` per line.
pub fn parse_lexicon(name: &str, text: &str) -> Result<Vec<Term>> {
    Ok(read_lexicon(name, text)?.into_iter().map(|(_, t)| t).collect())
}

/// Like [`parse_lexicon`], each term with its (1-based) line number.
pub fn read_lexicon(name: &str, text: &str) -> Result<Vec<(usize, Term)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |p: &str| TextError::Rules { name: name.into(), line: i + 1, problem: p.into() };
        if f.len() < 2 || f[0].trim().is_empty() || f[1].trim().is_empty() {
            return Err(bad("expected term<TAB>label[<TAB>system:code[<TAB>display]]"));
        }
        let code = match f.get(2).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => None,
            Some(sc) => {
                let (system, code) = sc.split_once(':').ok_or_else(|| bad("the code must be written system:code, e.g. icd10cm:E11.9"))?;
                Some(Code {
                    system: system.to_string(),
                    code: code.to_string(),
                    display: f.get(3).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
                    version: None,
                })
            }
        };
        if f.len() > 4 {
            return Err(bad("at most four tab-separated fields: term, label, system:code, display"));
        }
        out.push((i + 1, Term::new(f[0].trim(), f[1].trim(), code)));
    }
    Ok(out)
}

/// Checks a lexicon's terms against a project's schema: every label an
/// entity type, every code of the system the schema binds to its label. The
/// error names the first bad line.
pub fn check_lexicon(name: &str, terms: &[(usize, Term)], schema: &LabelSchema) -> Result<()> {
    for (line, t) in terms {
        let bad = |p: String| TextError::Rules { name: name.into(), line: *line, problem: p };
        let Some(e) = schema.entity_types.iter().find(|e| e.id == t.label) else {
            let known: Vec<&str> = schema.entity_types.iter().map(|e| e.id.as_str()).collect();
            return Err(bad(format!("label {:?} is not an entity type of this project (its entity types: {})", t.label, known.join(", "))));
        };
        if let Some(c) = &t.code {
            match e.code_system.as_deref() {
                None => return Err(bad(format!("{:?} is not bound to a code system: give no code for it", t.label))),
                Some(sys) if crate::model::same_system(sys, &c.system) => {}
                Some(sys) => return Err(bad(format!("code system {:?} is not {sys}, the system bound to {:?}", c.system, t.label))),
            }
            if c.code.trim().is_empty() {
                return Err(bad("the code is empty".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str) -> Option<Code> {
        Some(Code { system: "icd10cm".into(), code: c.into(), display: None, version: None })
    }

    #[test]
    fn finds_longest_word_bounded_case_insensitive() {
        let m = Matcher::new([
            Term::new("Type 2 diabetes mellitus", "disease", code("E11.9")),
            Term::new("diabetes", "disease", code("E14")),
            Term::new("type 2 diabetes mellitus", "disease", code("E11.8")),
            Term::new("pain", "symptom", None),
            Term::new("Crohn's disease", "disease", code("K50.90")),
            Term::new("x", "noise", None),
        ]);
        let text = "Hx: TYPE 2  DIABETES\r\nMELLITUS, painless; Crohns disease 😀 and diabetes.";
        let found = m.find(text);
        let got: Vec<_> = found.iter().map(|x| (crate::offsets::char_slice(text, x.start, x.end).unwrap(), x.codes.len())).collect();
        assert_eq!(got, vec![("TYPE 2  DIABETES\r\nMELLITUS", 2), ("Crohns disease", 1), ("diabetes", 1)]);
        assert_eq!(found[0].codes.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(), ["E11.9", "E11.8"]);
        // UTF-16 offsets move by one after the emoji.
        let u = m.find_utf16(text);
        assert_eq!((u[2].start, u[2].end), (found[2].start + 1, found[2].end + 1));
    }

    #[test]
    fn lexicons_are_checked_against_the_schema_line_by_line() {
        let schema: LabelSchema = serde_json::from_value(serde_json::json!({
            "entity_types": [{ "id": "disease", "name": "Disease", "code_system": "snomedct" }, { "id": "drug", "name": "Drug" }]
        }))
        .unwrap();
        let ok = read_lexicon("lex", "# c\nasthma\tdisease\tsnomed:195967001\nmetformin\tdrug\n").unwrap();
        assert_eq!(ok.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 3]);
        check_lexicon("lex", &ok, &schema).unwrap();
        for (text, want) in [
            ("asthma\tdisease\nx ray\tanatomy\n", "lex line 2: label \"anatomy\" is not an entity type of this project (its entity types: disease, drug)"),
            ("metformin\tdrug\trxnorm:6809\n", "lex line 1: \"drug\" is not bound to a code system: give no code for it"),
            ("asthma\tdisease\ticd10cm:J45\n", "lex line 1: code system \"icd10cm\" is not snomedct, the system bound to \"disease\""),
        ] {
            let terms = read_lexicon("lex", text).unwrap();
            assert_eq!(check_lexicon("lex", &terms, &schema).unwrap_err().to_string(), want);
        }
        assert!(read_lexicon("lex", "a\tb\tc:d\te\tf\n").unwrap_err().to_string().contains("line 1: at most four"));
    }

    #[test]
    fn lexicon_files_parse_and_errors_name_the_line() {
        let t = parse_lexicon("lex.tsv", "# comment\nchest pain\tsymptom\nasthma\tdisease\ticd10cm:J45.909\tUnspecified asthma\r\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].code.as_ref().unwrap().display.as_deref(), Some("Unspecified asthma"));
        let e = parse_lexicon("lex.tsv", "ok\tx\nbad line\n").unwrap_err();
        assert_eq!(e.to_string(), "lex.tsv line 2: expected term<TAB>label[<TAB>system:code[<TAB>display]]");
    }
}
