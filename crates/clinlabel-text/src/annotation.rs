//! The text part of what a tasker submits for a note, its checks, and the
//! measure of pre-annotation quality over submitted annotations.
//!
//! A [`TextAnnotation`] is an [`AnnotatedDocument`] without the document:
//! spans, relations and sentence classifications, with offsets in chars
//! (Unicode scalar values) of the stored note. The note's document-level
//! (and item-level) questions are answered in the submission's `answers`,
//! like every other modality, so gold scoring and agreement on answers work
//! unchanged; [`document_questions`] is the schema those answers are checked
//! against, and [`TextAnnotation::to_document`] merges both back into one
//! [`AnnotatedDocument`] for exports.
//!
//! [`TextAnnotation::validate`] is what the store runs on submit (it knows
//! the note's length, not its text): the schema checks of
//! [`Parts::validate`], plus what a submission must satisfy — every
//! suggestion decided (accepted, edited or rejected; none pending), no
//! relation to a rejected suggestion, classifications per sentence only.
//! [`TextAnnotation::fill_text`] is run by whoever holds the text: it fills
//! each span's `text` from the note, or names the span whose `text` differs
//! (a client that converted UTF-16 offsets wrongly is caught here).
//!
//! Pre-annotation quality ([`SuggestionQuality`]): every suggestion stays in
//! the submitted annotation with what the person did with it, so over many
//! annotations precision is (accepted + edited) / suggested (strict:
//! accepted / suggested) and recall is (accepted + edited) / the spans
//! finally kept (strict: accepted / kept), per label and overall; edits are
//! counted by what changed (label, bounds, assertion, codes).

use crate::model::{AnnotatedDocument, Assertion, Classification, Extent, Parts, Problem, Relation, Source, Span, SuggestionState};
use clinlabel_domain::project::{LabelSchema, QuestionLevel};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use utoipa::ToSchema;

/// Most spans one annotation may hold.
pub const MAX_SPANS: usize = 50_000;
/// Most relations one annotation may hold.
pub const MAX_RELATIONS: usize = 50_000;

/// The text part of a submitted annotation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextAnnotation {
    /// Entity spans, manual and suggested (rejected suggestions included, for quality).
    #[serde(default)]
    pub spans: Vec<Span>,
    /// Typed links between spans.
    #[serde(default)]
    pub relations: Vec<Relation>,
    /// Answers to sentence-level questions, each with its sentence (char range).
    #[serde(default)]
    pub classifications: Vec<Classification>,
}

/// The schema a note's own `answers` are checked against: every question
/// but the sentence-level ones (those go in [`TextAnnotation::classifications`]).
pub fn document_questions(schema: &LabelSchema) -> LabelSchema {
    LabelSchema { questions: schema.questions.iter().filter(|q| q.level != QuestionLevel::Sentence).cloned().collect(), ..schema.clone() }
}

impl TextAnnotation {
    pub fn parts(&self) -> Parts<'_> {
        Parts { spans: &self.spans, relations: &self.relations, classifications: &self.classifications }
    }

    /// Everything a submission must satisfy, against a note of `chars` chars.
    pub fn validate(&self, schema: &LabelSchema, chars: usize) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.spans.len() > MAX_SPANS {
            out.push(Problem { path: "spans".into(), problem: format!("{} spans: at most {MAX_SPANS}", self.spans.len()) });
            return out;
        }
        if self.relations.len() > MAX_RELATIONS {
            out.push(Problem { path: "relations".into(), problem: format!("{} relations: at most {MAX_RELATIONS}", self.relations.len()) });
            return out;
        }
        out.extend(self.parts().validate(schema, Extent::Chars(chars)));
        let mut p = |path: String, problem: String| out.push(Problem { path, problem });
        let mut rejected = HashSet::new();
        for (i, s) in self.spans.iter().enumerate() {
            match (s.source, s.state) {
                (Source::Suggested, None | Some(SuggestionState::Pending)) => {
                    p(format!("spans[{i}].state"), "accept, edit or reject this suggestion before submitting".into())
                }
                (Source::Suggested, Some(SuggestionState::Rejected)) => {
                    rejected.insert(s.id.as_str());
                }
                _ => {}
            }
        }
        for (i, r) in self.relations.iter().enumerate() {
            if r.source == Source::Suggested && matches!(r.state, None | Some(SuggestionState::Pending)) {
                p(format!("relations[{i}].state"), "accept or reject this suggested relation before submitting".into());
            }
            if r.source == Source::Manual && r.state.is_some() {
                p(format!("relations[{i}].state"), "a manual relation has no suggestion state".into());
            }
            if !r.is_live() {
                continue;
            }
            for (end, id) in [("from", &r.from), ("to", &r.to)] {
                if rejected.contains(id.as_str()) {
                    p(format!("relations[{i}].{end}"), format!("span {id:?} is a rejected suggestion"));
                }
            }
        }
        for (i, c) in self.classifications.iter().enumerate() {
            if let Some(q) = schema.questions.iter().find(|q| q.id == c.question)
                && q.level != QuestionLevel::Sentence
            {
                p(format!("classifications[{i}].question"), format!("{:?} is asked of the whole note: answer it in answers", q.id));
            }
        }
        out
    }

    /// Sets each span's empty `text` from the note and names each span whose
    /// given `text` differs from the note at its offsets (or whose offsets
    /// are outside it).
    pub fn fill_text(&mut self, text: &str) -> Vec<Problem> {
        let idx = crate::offsets::OffsetIndex::new(text);
        let mut out = Vec::new();
        for (i, s) in self.spans.iter_mut().enumerate() {
            let (Some(a), Some(b)) = (idx.byte(s.start), idx.byte(s.end)) else {
                out.push(Problem { path: format!("spans[{i}]"), problem: format!("[{}, {}) is outside the note of {} chars", s.start, s.end, idx.chars()) });
                continue;
            };
            if a > b {
                continue; // reported by validate
            }
            let slice = &text[a..b];
            if s.text.is_empty() {
                s.text = slice.to_string();
            } else if s.text != slice {
                out.push(Problem {
                    path: format!("spans[{i}].text"),
                    problem: format!("{:?} differs from the note's {:?} at chars [{}, {}) (offsets are Unicode scalar values, not UTF-16 units)", s.text, slice, s.start, s.end),
                });
            }
        }
        out
    }

    /// The annotated document for exports: live spans (rejected suggestions
    /// left out), relations, the sentence classifications and the note's
    /// answers as document-level classifications.
    pub fn to_document(&self, id: impl Into<String>, text: impl Into<String>, answers: &BTreeMap<String, Vec<String>>) -> AnnotatedDocument {
        let mut d = AnnotatedDocument::new(id, text);
        d.spans = self.spans.iter().filter(|s| s.is_live()).cloned().collect();
        let live: HashSet<&str> = d.spans.iter().map(|s| s.id.as_str()).collect();
        d.relations = self.relations.iter().filter(|r| r.is_live() && live.contains(r.from.as_str()) && live.contains(r.to.as_str())).cloned().collect();
        d.classifications = answers
            .iter()
            .filter(|(_, a)| !a.is_empty())
            .map(|(q, a)| Classification { question: q.clone(), answers: a.clone(), sentence: None })
            .chain(self.classifications.iter().cloned())
            .collect();
        d
    }
}

/// Counts for one label (or all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SuggestionCounts {
    /// Suggestions made (by the label suggested).
    pub suggested: u64,
    /// Accepted as proposed.
    pub accepted: u64,
    /// Accepted after a change.
    pub edited: u64,
    pub rejected: u64,
    /// Spans made by hand (by their label): what pre-annotation missed.
    pub manual: u64,
    /// (accepted + edited) / suggested; null without suggestions.
    pub precision: Option<f64>,
    /// accepted / suggested.
    pub strict_precision: Option<f64>,
    /// (accepted + edited) / (accepted + edited + manual); null without kept spans.
    pub recall: Option<f64>,
    /// accepted / (accepted + edited + manual).
    pub strict_recall: Option<f64>,
}

impl SuggestionCounts {
    fn finish(&mut self) {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let kept = self.accepted + self.edited + self.manual;
        self.precision = ratio(self.accepted + self.edited, self.suggested);
        self.strict_precision = ratio(self.accepted, self.suggested);
        self.recall = ratio(self.accepted + self.edited, kept);
        self.strict_recall = ratio(self.accepted, kept);
    }
}

/// What people changed in the suggestions they edited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct EditCounts {
    pub label: u64,
    pub bounds: u64,
    pub assertion: u64,
    pub codes: u64,
}

/// Pre-annotation quality over a set of submitted annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SuggestionQuality {
    /// Annotations counted.
    pub annotations: u64,
    pub overall: SuggestionCounts,
    /// By entity type id.
    pub by_label: BTreeMap<String, SuggestionCounts>,
    pub edits: EditCounts,
    /// Of the kept suggestions that proposed an assertion: the share whose assertion was kept.
    pub assertion_kept: Option<f64>,
    /// Of the kept suggestions that proposed a code: the share whose first proposed code was kept.
    pub code_kept: Option<f64>,
    #[serde(skip)]
    assertion_n: (u64, u64),
    #[serde(skip)]
    code_n: (u64, u64),
}

impl SuggestionQuality {
    /// Adds one submitted annotation.
    pub fn add(&mut self, a: &TextAnnotation) {
        self.annotations += 1;
        for s in &a.spans {
            let original = s.suggested.as_ref();
            let label = match (s.source, original) {
                (Source::Suggested, Some(o)) => o.label.as_str(),
                _ => s.label.as_str(),
            };
            let mut bump = |f: &dyn Fn(&mut SuggestionCounts)| {
                f(&mut self.overall);
                f(self.by_label.entry(label.to_string()).or_default());
            };
            match (s.source, s.state) {
                (Source::Manual, _) => bump(&|c| c.manual += 1),
                (Source::Suggested, state) => {
                    bump(&|c| c.suggested += 1);
                    match state {
                        Some(SuggestionState::Accepted) => bump(&|c| c.accepted += 1),
                        Some(SuggestionState::Edited) => bump(&|c| c.edited += 1),
                        Some(SuggestionState::Rejected) => bump(&|c| c.rejected += 1),
                        _ => {}
                    }
                    let kept = matches!(state, Some(SuggestionState::Accepted | SuggestionState::Edited));
                    // What was proposed: the original of an edited span, else the span itself.
                    let (p_label, p_bounds, p_assertion, p_code) = match original {
                        Some(o) => (o.label.as_str(), (o.start, o.end), o.assertion, o.codes.first()),
                        None => (s.label.as_str(), (s.start, s.end), s.assertion, s.codes.first()),
                    };
                    if state == Some(SuggestionState::Edited) {
                        self.edits.label += u64::from(p_label != s.label);
                        self.edits.bounds += u64::from(p_bounds != (s.start, s.end));
                        self.edits.assertion += u64::from(p_assertion != s.assertion);
                        let codes = |v: &[crate::model::Code]| v.iter().map(|c| (c.system.clone(), c.code.clone())).collect::<Vec<_>>();
                        self.edits.codes += u64::from(original.is_some_and(|o| codes(&o.codes) != codes(&s.codes)));
                    }
                    if kept {
                        if let Some(pa) = p_assertion {
                            self.assertion_n.1 += 1;
                            self.assertion_n.0 += u64::from(s.assertion.unwrap_or(Assertion::Present) == pa);
                        }
                        if let Some(pc) = p_code {
                            self.code_n.1 += 1;
                            self.code_n.0 += u64::from(s.codes.iter().any(|c| c.system == pc.system && c.code == pc.code));
                        }
                    }
                }
            }
        }
    }

    /// Computes the ratios.
    pub fn finish(mut self) -> SuggestionQuality {
        self.overall.finish();
        for c in self.by_label.values_mut() {
            c.finish();
        }
        let ratio = |(a, b): (u64, u64)| (b > 0).then(|| a as f64 / b as f64);
        self.assertion_kept = ratio(self.assertion_n);
        self.code_kept = ratio(self.code_n);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Code, Suggested};

    fn schema() -> LabelSchema {
        serde_json::from_value(serde_json::json!({
            "entity_types": [
                { "id": "disease", "name": "Disease", "code_system": "icd10cm" },
                { "id": "medication", "name": "Medication" },
                { "id": "symptom", "name": "Symptom" }
            ],
            "relation_types": [{ "id": "treats", "name": "Treats", "from": ["medication"], "to": ["disease"] }],
            "assertion_values": ["present", "absent", "possible", "historical", "family_history", "hypothetical"],
            "questions": [
                { "id": "doctype", "text": "Document type", "kind": "single", "level": "document",
                  "options": [{ "id": "discharge", "name": "Discharge" }, { "id": "progress", "name": "Progress" }] },
                { "id": "smoking", "text": "Smoking", "kind": "single", "level": "sentence", "required": false,
                  "options": [{ "id": "current", "name": "Current" }, { "id": "former", "name": "Former" }] }
            ]
        }))
        .unwrap()
    }

    fn icd(code: &str) -> Code {
        Code { system: "icd10cm".into(), code: code.into(), display: None, version: Some("2026-04".into()) }
    }

    fn suggested(id: &str, label: &str, start: usize, end: usize, state: SuggestionState) -> Span {
        let mut s = Span::new(id, label, start, end);
        s.source = Source::Suggested;
        s.state = Some(state);
        s
    }

    // "Pt 😀 denies cough.\r\nOn metformin for diabetes; e\u{301}dema."
    const NOTE: &str = "Pt \u{1F600} denies cough.\r\nOn metformin for diabetes; e\u{301}dema.";

    fn ann() -> TextAnnotation {
        let c: Vec<char> = NOTE.chars().collect();
        let at = |w: &str| {
            let w: Vec<char> = w.chars().collect();
            (0..c.len()).find(|&i| c[i..].starts_with(&w)).unwrap()
        };
        let mut cough = suggested("S1", "symptom", at("cough"), at("cough") + 5, SuggestionState::Accepted);
        cough.assertion = Some(Assertion::Absent);
        let met = Span::new("T1", "medication", at("metformin"), at("metformin") + 9);
        let mut dm = suggested("S2", "disease", at("diabetes"), at("diabetes") + 8, SuggestionState::Edited);
        dm.codes = vec![icd("E11.9")];
        dm.suggested = Some(Suggested { label: "disease".into(), start: at("diabetes"), end: at("diabetes") + 8, assertion: Some(Assertion::Present), codes: vec![icd("E14")] });
        dm.assertion = Some(Assertion::Present);
        let edema = suggested("S3", "symptom", at("e\u{301}dema"), at("e\u{301}dema") + 6, SuggestionState::Rejected);
        TextAnnotation {
            spans: vec![cough, met, dm, edema],
            relations: vec![Relation { id: "R1".into(), kind: "treats".into(), from: "T1".into(), to: "S2".into(), source: Source::Manual, state: None }],
            classifications: vec![Classification { question: "smoking".into(), answers: vec!["former".into()], sentence: Some(crate::model::Range { start: 0, end: 18 }) }],
        }
    }

    fn paths(v: Vec<Problem>) -> Vec<String> {
        v.into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn a_sound_submission_validates_and_fills_its_text() {
        let mut a = ann();
        let chars = NOTE.chars().count();
        assert_eq!(a.validate(&schema(), chars), vec![]);
        assert_eq!(a.fill_text(NOTE), vec![]);
        assert_eq!(a.spans[0].text, "cough");
        assert_eq!(a.spans[3].text, "e\u{301}dema");
        // Filled texts agree with the document check.
        let mut answers = BTreeMap::new();
        answers.insert("doctype".to_string(), vec!["progress".to_string()]);
        let d = a.to_document("n1", NOTE, &answers);
        assert_eq!(d.validate(&schema()), vec![]);
        assert_eq!(d.spans.len(), 3, "the rejected suggestion is not exported");
        assert_eq!(d.classifications[0].question, "doctype");
    }

    #[test]
    fn submission_problems_name_their_path() {
        let chars = NOTE.chars().count();
        let mut a = ann();
        a.spans[1].end = chars + 1;
        assert_eq!(paths(a.validate(&schema(), chars)), ["spans[1]"]);
        let mut a = ann();
        a.spans[0].state = Some(SuggestionState::Pending);
        assert_eq!(paths(a.validate(&schema(), chars)), ["spans[0].state"]);
        let mut a = ann();
        a.spans[0].state = None;
        assert_eq!(paths(a.validate(&schema(), chars)), ["spans[0].state"]);
        let mut a = ann();
        a.relations[0].to = "S3".into();
        // S3 is a symptom (not allowed at the tail) and a rejected suggestion.
        assert_eq!(paths(a.validate(&schema(), chars)), ["relations[0].to", "relations[0].to"]);
        let mut a = ann();
        a.classifications[0].question = "doctype".into();
        a.classifications[0].answers = vec!["progress".into()];
        let p = paths(a.validate(&schema(), chars));
        assert!(p.contains(&"classifications[0].question".to_string()), "{p:?}");
        // A UTF-16 offset (the emoji counts twice) is caught where the text is known.
        let mut a = ann();
        a.spans[0].start += 1;
        a.spans[0].end += 1;
        a.spans[0].text = "cough".into();
        assert_eq!(paths(a.fill_text(NOTE)), ["spans[0].text"]);
        let mut a = ann();
        a.spans[0].end = 999;
        assert_eq!(paths(a.fill_text(NOTE)), ["spans[0]"]);
    }

    #[test]
    fn document_questions_leave_out_sentence_level() {
        let s = document_questions(&schema());
        assert_eq!(s.questions.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), ["doctype"]);
    }

    #[test]
    fn quality_counts_what_people_did() {
        let mut q = SuggestionQuality::default();
        q.add(&ann());
        let mut b = ann();
        b.spans[0].state = Some(SuggestionState::Rejected);
        q.add(&b);
        let q = q.finish();
        assert_eq!(q.annotations, 2);
        let o = &q.overall;
        // Per annotation: 3 suggestions; a: accepted, edited, rejected; b: rejected, edited, rejected. 1 manual each.
        assert_eq!((o.suggested, o.accepted, o.edited, o.rejected, o.manual), (6, 1, 2, 3, 2));
        assert_eq!(o.precision, Some(3.0 / 6.0));
        assert_eq!(o.strict_precision, Some(1.0 / 6.0));
        assert_eq!(o.recall, Some(3.0 / 5.0));
        assert_eq!(o.strict_recall, Some(1.0 / 5.0));
        let sym = &q.by_label["symptom"];
        assert_eq!((sym.suggested, sym.accepted, sym.rejected, sym.manual), (4, 1, 3, 0));
        assert_eq!(q.by_label["medication"].manual, 2);
        assert_eq!(q.edits, EditCounts { label: 0, bounds: 0, assertion: 0, codes: 2 });
        // Kept: cough (absent kept) once; diabetes twice (present kept, code E14 not kept).
        assert_eq!(q.assertion_kept, Some(1.0));
        assert_eq!(q.code_kept, Some(0.0));
        let v = serde_json::to_value(&q).unwrap();
        assert!(v.get("assertion_n").is_none());
    }
}
