//! Pre-annotation: dictionary matches become suggested spans, and the ConText
//! engine proposes each one's assertion.
//!
//! [`suggest`] runs several [`Matcher`]s (one per entity type: the terms of
//! the code system the schema binds to it, a project lexicon…) over a note
//! and merges their matches longest first: a match that overlaps one already
//! kept is dropped, and of two matches over the same range the earlier
//! matcher's (schema order) wins. Each kept match becomes a [`Span`] with
//! `source: suggested`, `state: pending`, an id `S1`, `S2`… in text order, its
//! first candidate code assigned and all candidates listed beside it. The
//! assertion is ConText's over the note's sentences — present when no
//! trigger applies — unless the project does not use that value (or uses no
//! assertions at all): then it is left for the person.
//!
//! [`Preannotator`] packages a matcher and a ConText engine for the command
//! line (`clinlabel text preannotate`): [`Preannotator::run`] answers a
//! [`Request`] `{ "text", "spans"?: [{start, end}] }` — given spans, their
//! assertion; without, the spans found and their assertion — and
//! [`Preannotator::suggest`] does the same on a native [`AnnotatedDocument`].

use crate::context::ConText;
use crate::matcher::{Match, Matcher};
use crate::model::{AnnotatedDocument, Assertion, Code, Range, Source, Span, SuggestionState};
use crate::offsets::OffsetIndex;
use serde::{Deserialize, Serialize};

/// One suggested span with the codes it could take.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub span: Span,
    /// Candidate codes, best first (the first is assigned in `span.codes`).
    pub candidates: Vec<Code>,
}

/// Suggestions for `text`, in text order. `sentences` are the note's
/// sentences (from [`crate::sentences::split`]); `assertions` the values the
/// project uses.
pub fn suggest(matchers: &[&Matcher], context: &ConText, text: &str, sentences: &[Range], assertions: &[String]) -> Vec<Suggestion> {
    let mut all: Vec<(usize, Match)> = Vec::new();
    for (i, m) in matchers.iter().enumerate() {
        all.extend(m.find(text).into_iter().map(|x| (i, x)));
    }
    // Longest first; for equal lengths, earlier text then earlier matcher.
    all.sort_by(|(ia, a), (ib, b)| (b.end - b.start).cmp(&(a.end - a.start)).then(a.start.cmp(&b.start)).then(ia.cmp(ib)));
    let mut kept: Vec<Match> = Vec::new();
    for (_, m) in all {
        if !kept.iter().any(|k| k.start < m.end && m.start < k.end) {
            kept.push(m);
        }
    }
    kept.sort_by_key(|m| (m.start, m.end));
    let targets: Vec<(usize, usize)> = kept.iter().map(|m| (m.start, m.end)).collect();
    let asserted = if assertions.is_empty() || targets.is_empty() { Vec::new() } else { context.assert_with_sentences(text, sentences, &targets) };
    let idx = OffsetIndex::new(text);
    kept.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let assertion = asserted.get(i).map(|a| a.assertion).filter(|a| assertions.iter().any(|x| x == a.as_str()));
            let covered = match (idx.byte(m.start), idx.byte(m.end)) {
                (Some(a), Some(b)) => text[a..b].to_string(),
                _ => String::new(),
            };
            let span = Span {
                id: format!("S{}", i + 1),
                label: m.label,
                start: m.start,
                end: m.end,
                text: covered,
                assertion,
                codes: m.codes.first().cloned().into_iter().collect(),
                source: Source::Suggested,
                state: Some(SuggestionState::Pending),
                suggested: None,
            };
            Suggestion { span, candidates: m.codes }
        })
        .collect()
}

/// ConText's assertion for given spans (char offsets) of a note.
pub fn assert_spans(context: &ConText, text: &str, sentences: &[Range], spans: &[(usize, usize)]) -> Vec<Assertion> {
    context.assert_with_sentences(text, sentences, spans).into_iter().map(|a| a.assertion).collect()
}

/// A matcher (optional: without one, only given spans are judged) and a ConText engine.
#[derive(Debug)]
pub struct Preannotator {
    pub matcher: Option<Matcher>,
    pub context: ConText,
}

/// One line of `clinlabel text preannotate`'s input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    pub text: String,
    /// Targets (char offsets); without them, spans are found by the matcher.
    #[serde(default)]
    pub spans: Option<Vec<Target>>,
}

/// A span to judge, in chars.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Target {
    pub start: usize,
    pub end: usize,
}

/// One judged (or found) span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judged {
    pub start: usize,
    pub end: usize,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub assertion: Assertion,
    /// Every category that applied, in precedence order.
    pub categories: Vec<Assertion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub spans: Vec<Judged>,
}

impl Preannotator {
    pub fn new(matcher: Option<Matcher>, context: ConText) -> Preannotator {
        Preannotator { matcher, context }
    }

    /// Judges the given spans, or finds spans (with the matcher) and judges them.
    pub fn run(&self, req: Request) -> Result<Response, String> {
        let text = &req.text;
        let idx = OffsetIndex::new(text);
        let sents = crate::sentences::split(text);
        let found;
        let (targets, labels, codes): (Vec<(usize, usize)>, Vec<Option<String>>, Vec<Vec<Code>>) = match &req.spans {
            Some(spans) => {
                for (i, s) in spans.iter().enumerate() {
                    if s.start >= s.end || s.end > idx.chars() {
                        return Err(format!("spans[{i}]: [{}, {}) is empty, reversed or past the end ({} chars)", s.start, s.end, idx.chars()));
                    }
                }
                (spans.iter().map(|s| (s.start, s.end)).collect(), vec![None; spans.len()], vec![Vec::new(); spans.len()])
            }
            None => {
                found = self.matcher.as_ref().map(|m| m.find(text)).unwrap_or_default();
                (found.iter().map(|m| (m.start, m.end)).collect(), found.iter().map(|m| Some(m.label.clone())).collect(), found.iter().map(|m| m.codes.clone()).collect())
            }
        };
        let asserted = if targets.is_empty() { Vec::new() } else { self.context.assert_with_sentences(text, &sents, &targets) };
        let spans = targets
            .iter()
            .zip(asserted)
            .zip(labels.into_iter().zip(codes))
            .map(|((&(start, end), a), (label, codes))| Judged {
                start,
                end,
                text: text[idx.byte(start).unwrap()..idx.byte(end).unwrap()].to_string(),
                label,
                assertion: a.assertion,
                categories: a.categories,
                codes,
            })
            .collect();
        Ok(Response { id: req.id, spans })
    }

    /// On a native document: without spans, adds the matcher's as pending
    /// suggestions; then sets ConText's assertion on every span that has none.
    pub fn suggest(&self, doc: &mut AnnotatedDocument) {
        if doc.spans.is_empty()
            && let Some(m) = &self.matcher
        {
            let sents = crate::sentences::split(&doc.text);
            let all = Assertion::ALL.iter().map(|a| a.as_str().to_string()).collect::<Vec<_>>();
            doc.spans = suggest(&[m], &self.context, &doc.text, &sents, &all).into_iter().map(|s| s.span).collect();
            return;
        }
        let idx = OffsetIndex::new(&doc.text);
        let open: Vec<usize> = (0..doc.spans.len()).filter(|&i| doc.spans[i].assertion.is_none() && doc.spans[i].start < doc.spans[i].end && doc.spans[i].end <= idx.chars()).collect();
        if open.is_empty() {
            return;
        }
        let targets: Vec<(usize, usize)> = open.iter().map(|&i| (doc.spans[i].start, doc.spans[i].end)).collect();
        let a = self.context.assert_targets(&doc.text, &targets);
        for (&i, a) in open.iter().zip(a) {
            doc.spans[i].assertion = Some(a.assertion);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Term;
    use crate::sentences;

    fn code(c: &str) -> Option<Code> {
        Some(Code { system: "icd10cm".into(), code: c.into(), display: None, version: Some("2026-04".into()) })
    }

    #[test]
    fn merges_matchers_and_asserts() {
        let diseases = Matcher::new([
            Term::new("pneumonia", "disease", code("J18.9")),
            Term::new("community acquired pneumonia", "disease", code("J18.9")),
            Term::new("cough", "disease", code("R05")),
        ]);
        let symptoms = Matcher::new([Term::new("cough", "symptom", None), Term::new("fever", "symptom", None), Term::new("acquired", "symptom", None)]);
        let text = "😀 Community acquired pneumonia.\r\nDenies fever or cough. Mother had pneumonia.";
        let sents = sentences::split(text);
        let ctx = ConText::default();
        let all = ["present", "absent", "possible", "historical", "family_history", "hypothetical"].map(String::from);
        let s = suggest(&[&diseases, &symptoms], &ctx, text, &sents, &all);
        let got: Vec<_> = s.iter().map(|x| (x.span.id.as_str(), x.span.text.as_str(), x.span.label.as_str(), x.span.assertion)).collect();
        assert_eq!(
            got,
            [
                ("S1", "Community acquired pneumonia", "disease", Some(Assertion::Present)),
                ("S2", "fever", "symptom", Some(Assertion::Absent)),
                // Same range in both: the first matcher's label wins.
                ("S3", "cough", "disease", Some(Assertion::Absent)),
                ("S4", "pneumonia", "disease", Some(Assertion::FamilyHistory)),
            ]
        );
        assert_eq!(s[0].span.start, 2, "char offsets: the emoji is one char");
        assert_eq!(s[0].span.codes[0].code, "J18.9");
        assert!(s.iter().all(|x| x.span.state == Some(SuggestionState::Pending) && x.span.source == Source::Suggested));
        // A project without family history leaves that one to the person.
        let some = ["present", "absent"].map(String::from);
        let s = suggest(&[&diseases, &symptoms], &ctx, text, &sents, &some);
        assert_eq!(s[3].span.assertion, None);
        assert_eq!(s[1].span.assertion, Some(Assertion::Absent));
        assert!(suggest(&[&diseases], &ctx, text, &sents, &[]).iter().all(|x| x.span.assertion.is_none()));
        assert_eq!(assert_spans(&ctx, text, &sents, &[(s[1].span.start, s[1].span.end)]), [Assertion::Absent]);
    }

    #[test]
    fn requests_with_and_without_spans() {
        let m = Matcher::new([Term::new("pneumonia", "disease", code("J18.9"))]);
        let p = Preannotator::new(Some(m), ConText::default());
        let text = "😀 No pneumonia. Cough today.";
        let r: Request = serde_json::from_value(serde_json::json!({ "id": 7, "text": text })).unwrap();
        let out = p.run(r).unwrap();
        assert_eq!(out.spans.len(), 1);
        assert_eq!((out.spans[0].text.as_str(), out.spans[0].assertion, out.spans[0].label.as_deref()), ("pneumonia", Assertion::Absent, Some("disease")));
        let cough = text.chars().position(|c| c == 'C').unwrap();
        let r: Request = serde_json::from_value(serde_json::json!({ "text": text, "spans": [{ "start": cough, "end": cough + 5 }] })).unwrap();
        let out = p.run(r).unwrap();
        assert_eq!((out.spans[0].text.as_str(), out.spans[0].assertion, out.spans[0].label.as_deref()), ("Cough", Assertion::Present, None));
        let bad: Request = serde_json::from_value(serde_json::json!({ "text": "x", "spans": [{ "start": 0, "end": 2 }] })).unwrap();
        assert!(p.run(bad).unwrap_err().starts_with("spans[0]"));
        let mut doc = AnnotatedDocument::new("d", text);
        p.suggest(&mut doc);
        assert_eq!(doc.spans.len(), 1);
        assert_eq!(doc.spans[0].assertion, Some(Assertion::Absent));
        assert_eq!(doc.spans[0].state, Some(SuggestionState::Pending));
    }
}
