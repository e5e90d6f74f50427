//! BRAT standoff: per document `<id>.txt` (the text, byte for byte) and
//! `<id>.ann`:
//!
//! - `T<n>\t<label> <start> <end>[;<start> <end>…]\t<text>` per span; a span
//!   crossing a line break is written as fragments around the break (BRAT
//!   itself does this), the text field joins the fragments with a space;
//! - `R<n>\t<type> Arg1:T<a> Arg2:T<b>` per relation;
//! - `A<n>\tAssertion T<n> <value>` per span with an assertion;
//! - `N<n>\tReference T<n> <system>:<code>\t<display>` per code.
//!
//! Offsets are char offsets of the `.txt`, which is BRAT's convention.
//! `annotation.conf` lists the entity and relation types and the Assertion
//! attribute values seen. [`parse_ann`] reads `.ann` files back.

use super::{DocWriter, FileSink, Options, Stats, invalid, safe_name};
use crate::model::{AnnotatedDocument, Assertion, Code, Relation, Span};
use crate::tokenize::exported_spans;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io;

pub struct Writer<S> {
    sink: S,
    opts: Options,
    names: HashSet<String>,
    entities: BTreeSet<String>,
    relations: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    assertions: BTreeSet<&'static str>,
    stats: Stats,
}

impl<S: FileSink> Writer<S> {
    pub fn new(sink: S, opts: &Options) -> Self {
        Writer {
            sink,
            opts: opts.clone(),
            names: HashSet::new(),
            entities: BTreeSet::new(),
            relations: BTreeMap::new(),
            assertions: BTreeSet::new(),
            stats: Stats::default(),
        }
    }
}

fn brat_type(s: &str) -> String {
    s.chars().map(|c| if c.is_whitespace() || c == ':' { '_' } else { c }).collect()
}

/// Fragments of `[start, end)` that contain no line break (char offsets).
fn fragments(chars: &[char], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = None;
    for i in start..end {
        let br = matches!(chars[i], '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}');
        match (br, a) {
            (false, None) => a = Some(i),
            (true, Some(s)) => {
                out.push((s, i));
                a = None;
            }
            _ => {}
        }
    }
    if let Some(s) = a {
        out.push((s, end));
    }
    out
}

/// The `.ann` content of one document, and the spans and relations written.
pub fn ann(doc: &AnnotatedDocument, pending: bool) -> io::Result<(String, Vec<&Span>, Vec<&Relation>)> {
    let chars: Vec<char> = doc.text.chars().collect();
    let spans = exported_spans(doc, pending);
    let mut out = String::new();
    let mut tid: HashMap<&str, usize> = HashMap::new();
    let (mut a, mut n) = (0, 0);
    for (i, s) in spans.iter().enumerate() {
        if s.end > chars.len() || s.start >= s.end {
            return Err(invalid(format!("document {:?}: span {} is outside the text", doc.id, s.id)));
        }
        let frags = fragments(&chars, s.start, s.end);
        if frags.is_empty() {
            return Err(invalid(format!("document {:?}: span {} covers only line breaks", doc.id, s.id)));
        }
        let t = i + 1;
        tid.insert(&s.id, t);
        let locs: Vec<String> = frags.iter().map(|(x, y)| format!("{x} {y}")).collect();
        let text: Vec<String> = frags.iter().map(|&(x, y)| chars[x..y].iter().collect()).collect();
        let text = text.join(" ").replace('\t', " ");
        let _ = writeln!(out, "T{t}\t{} {}\t{text}", brat_type(&s.label), locs.join(";"));
        if let Some(v) = s.assertion {
            a += 1;
            let _ = writeln!(out, "A{a}\tAssertion T{t} {}", v.as_str());
        }
        for c in &s.codes {
            n += 1;
            // bratly needs a non-empty display; brat shows it as the reference's name.
            let display = c.display.as_deref().filter(|d| !d.trim().is_empty()).unwrap_or(&c.code).replace(['\t', '\n', '\r'], " ");
            let _ = writeln!(out, "N{n}\tReference T{t} {}:{}\t{display}", brat_type(&c.system), c.code.replace(char::is_whitespace, "_"));
        }
    }
    let mut rels = Vec::new();
    for r in &doc.relations {
        if r.state == Some(crate::model::SuggestionState::Rejected) {
            continue;
        }
        if let (Some(f), Some(t)) = (tid.get(r.from.as_str()), tid.get(r.to.as_str())) {
            rels.push(r);
            let _ = writeln!(out, "R{}\t{} Arg1:T{f} Arg2:T{t}", rels.len(), brat_type(&r.kind));
        }
    }
    Ok((out, spans, rels))
}

impl<S: FileSink> DocWriter for Writer<S> {
    fn write(&mut self, doc: &AnnotatedDocument) -> io::Result<()> {
        let mut base = safe_name(&doc.id);
        let mut k = 1;
        while !self.names.insert(base.clone()) {
            k += 1;
            base = format!("{}_{k}", safe_name(&doc.id));
        }
        let (ann, spans, rels) = ann(doc, self.opts.pending)?;
        for s in &spans {
            self.entities.insert(brat_type(&s.label));
            if let Some(a) = s.assertion {
                self.assertions.insert(a.as_str());
            }
        }
        let label: HashMap<&str, &str> = spans.iter().map(|s| (s.id.as_str(), s.label.as_str())).collect();
        for r in &rels {
            let e = self.relations.entry(brat_type(&r.kind)).or_default();
            e.0.insert(brat_type(label[r.from.as_str()]));
            e.1.insert(brat_type(label[r.to.as_str()]));
        }
        self.sink.file(&format!("{base}.txt"), doc.text.as_bytes())?;
        self.sink.file(&format!("{base}.ann"), ann.as_bytes())?;
        self.stats.documents += 1;
        self.stats.files += 2;
        self.stats.spans += spans.len();
        self.stats.relations += rels.len();
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<Stats> {
        let mut conf = String::from("[entities]\n");
        for e in &self.entities {
            let _ = writeln!(conf, "{e}");
        }
        conf.push_str("\n[relations]\n");
        for (r, (from, to)) in &self.relations {
            let j = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join("|");
            let _ = writeln!(conf, "{r}\tArg1:{}, Arg2:{}", j(from), j(to));
        }
        conf.push_str("<OVERLAP>\tArg1:<ENTITY>, Arg2:<ENTITY>, <OVL-TYPE>:<ANY>\n\n[events]\n\n[attributes]\n");
        if !self.assertions.is_empty() {
            let all: Vec<&str> = Assertion::ALL.iter().map(|a| a.as_str()).filter(|a| self.assertions.contains(a)).collect();
            let _ = writeln!(conf, "Assertion\tArg:<ENTITY>, Value:{}", all.join("|"));
        }
        self.sink.file("annotation.conf", conf.as_bytes())?;
        self.stats.files += 1;
        Ok(self.stats)
    }
}

/// Reads a `.ann` file against its text: T (continuous or fragmented — the
/// span runs from the first fragment's start to the last one's end), R, A
/// (`Assertion` attribute) and N (`system:code`) lines. Other lines are ignored.
pub fn parse_ann(id: &str, text: &str, ann: &str) -> Result<AnnotatedDocument, String> {
    let mut doc = AnnotatedDocument::new(id, text);
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (ln, line) in ann.lines().enumerate() {
        let bad = |m: &str| format!("{id}.ann line {}: {m}", ln + 1);
        let f: Vec<&str> = line.split('\t').collect();
        let Some(key) = f.first() else { continue };
        match key.chars().next() {
            Some('T') => {
                let mid = f.get(1).ok_or_else(|| bad("a T line needs type and offsets"))?;
                let (label, locs) = mid.split_once(' ').ok_or_else(|| bad("a T line needs type and offsets"))?;
                let mut nums = Vec::new();
                for frag in locs.split(';') {
                    let (a, b) = frag.trim().split_once(' ').ok_or_else(|| bad("bad offsets"))?;
                    nums.push((a.parse::<usize>().map_err(|_| bad("bad offset"))?, b.parse::<usize>().map_err(|_| bad("bad offset"))?));
                }
                let s = Span::new(*key, label, nums[0].0, nums[nums.len() - 1].1);
                by_id.insert(key.to_string(), doc.spans.len());
                doc.spans.push(s);
            }
            Some('R') => {
                let parts: Vec<&str> = f.get(1).ok_or_else(|| bad("an R line needs type and arguments"))?.split(' ').collect();
                if parts.len() != 3 {
                    return Err(bad("an R line needs type Arg1:T Arg2:T"));
                }
                let arg = |p: &str| p.split_once(':').map(|x| x.1.to_string()).ok_or_else(|| bad("bad argument"));
                doc.relations.push(Relation {
                    id: key.to_string(),
                    kind: parts[0].to_string(),
                    from: arg(parts[1])?,
                    to: arg(parts[2])?,
                    source: Default::default(),
                    state: None,
                });
            }
            Some('A') | Some('M') => {
                let parts: Vec<&str> = f.get(1).unwrap_or(&"").split(' ').collect();
                if parts.first() == Some(&"Assertion") && parts.len() == 3 {
                    let i = *by_id.get(parts[1]).ok_or_else(|| bad("attribute of an unknown T"))?;
                    doc.spans[i].assertion = Some(Assertion::parse(parts[2]).ok_or_else(|| bad("unknown assertion value"))?);
                }
            }
            Some('N') => {
                let parts: Vec<&str> = f.get(1).unwrap_or(&"").split(' ').collect();
                if parts.len() == 3 {
                    let i = *by_id.get(parts[1]).ok_or_else(|| bad("reference of an unknown T"))?;
                    let (system, code) = parts[2].split_once(':').ok_or_else(|| bad("a reference is db:id"))?;
                    let display = f.get(2).map(|s| s.to_string()).filter(|s| !s.is_empty());
                    doc.spans[i].codes.push(Code { system: system.into(), code: code.into(), display, version: None });
                }
            }
            _ => {}
        }
    }
    doc.fill_text().map_err(|p| format!("{id}: {p}"))?;
    if let Some(p) = doc.check().into_iter().next() {
        return Err(format!("{id}: {p}"));
    }
    Ok(doc)
}
