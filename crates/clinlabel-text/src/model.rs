//! The annotation model of clinical text, as stored and exchanged (JSON).
//!
//! An [`AnnotatedDocument`] is the stored text plus entity [`Span`]s,
//! [`Relation`]s between spans and [`Classification`]s of the document or of
//! a sentence. Offsets are char offsets of `text` (see [`crate::offsets`]).
//! A span that came from pre-annotation keeps `source: suggested`, its review
//! `state` (pending, accepted, edited, rejected) and, once edited, the
//! original suggestion in `suggested`, so suggestion quality stays measurable.
//!
//! [`AnnotatedDocument::check`] verifies what holds whatever the project
//! (offsets inside the text, `text` equal to the slice, unique ids, relation
//! ends that exist); [`AnnotatedDocument::validate`] also checks it against
//! the project's [`LabelSchema`]: entity types, assertion values, the code
//! system bound to each entity type, relation types and their allowed
//! head/tail types, classification questions, their level and options.

use crate::offsets::OffsetIndex;
use clinlabel_domain::project::{AnswerKind, LabelSchema, QuestionLevel};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// Assertion status of an entity (ConText / i2b2 2010).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assertion {
    #[default]
    Present,
    Absent,
    Possible,
    Historical,
    /// Experiencer is someone else (a family member): "family history".
    #[serde(alias = "family")]
    FamilyHistory,
    Hypothetical,
}

impl Assertion {
    pub const ALL: [Assertion; 6] =
        [Assertion::Present, Assertion::Absent, Assertion::Possible, Assertion::Historical, Assertion::FamilyHistory, Assertion::Hypothetical];

    /// The stored name, as in `clinlabel_domain::project::ASSERTION_VALUES`.
    pub fn as_str(self) -> &'static str {
        match self {
            Assertion::Present => "present",
            Assertion::Absent => "absent",
            Assertion::Possible => "possible",
            Assertion::Historical => "historical",
            Assertion::FamilyHistory => "family_history",
            Assertion::Hypothetical => "hypothetical",
        }
    }

    /// Parses the stored name (and `family`, `negated`, `affirmed` as synonyms).
    pub fn parse(s: &str) -> Option<Assertion> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "present" | "affirmed" => Assertion::Present,
            "absent" | "negated" => Assertion::Absent,
            "possible" | "uncertain" => Assertion::Possible,
            "historical" => Assertion::Historical,
            "family_history" | "family" => Assertion::FamilyHistory,
            "hypothetical" => Assertion::Hypothetical,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code assigned to a span, with the release version it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[schema(as = TextCode)]
pub struct Code {
    /// Code system id (`icd10cm`, `snomedct`, `rxnorm`, …).
    pub system: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Who made an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[schema(as = TextSource)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Proposed by pre-annotation.
    Suggested,
    /// Made by a person.
    #[default]
    Manual,
}

/// What the person did with a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionState {
    /// Not reviewed yet.
    Pending,
    Accepted,
    /// Accepted after changing label, bounds, assertion or codes (the original is in `suggested`).
    Edited,
    Rejected,
}

/// A suggestion as it was proposed, kept beside an edited span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = TextSuggested)]
pub struct Suggested {
    pub label: String,
    pub start: usize,
    pub end: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<Assertion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
}

/// An entity mention: `text[start..end]` in chars, half-open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = TextSpan)]
pub struct Span {
    pub id: String,
    /// Entity type id from the schema.
    pub label: String,
    pub start: usize,
    pub end: usize,
    /// The covered text (checked against the document).
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<Assertion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    #[serde(default)]
    pub source: Source,
    /// For suggested spans: what the person did with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SuggestionState>,
    /// For edited suggestions: the suggestion as it was proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested: Option<Suggested>,
}

impl Span {
    /// A manual span; `text` is filled by [`AnnotatedDocument::fill_text`].
    pub fn new(id: impl Into<String>, label: impl Into<String>, start: usize, end: usize) -> Span {
        Span {
            id: id.into(),
            label: label.into(),
            start,
            end,
            text: String::new(),
            assertion: None,
            codes: Vec::new(),
            source: Source::Manual,
            state: None,
            suggested: None,
        }
    }

    /// Whether the span counts as an annotation (a rejected suggestion does not).
    pub fn is_live(&self) -> bool {
        self.state != Some(SuggestionState::Rejected)
    }
}

/// A typed, directed link between two spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = TextRelation)]
pub struct Relation {
    pub id: String,
    /// Relation type id from the schema.
    #[serde(rename = "type")]
    pub kind: String,
    /// Head span id.
    pub from: String,
    /// Tail span id.
    pub to: String,
    #[serde(default)]
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SuggestionState>,
}

impl Relation {
    /// Whether the relation counts as an annotation (a rejected suggestion does not).
    pub fn is_live(&self) -> bool {
        self.state != Some(SuggestionState::Rejected)
    }
}

/// A char range (a sentence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = TextRange)]
pub struct Range {
    pub start: usize,
    pub end: usize,
}

/// The answer to a classification question, for the document or one sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = TextClassification)]
pub struct Classification {
    /// Question id from the schema.
    pub question: String,
    /// Option ids.
    pub answers: Vec<String>,
    /// For sentence-level questions: the sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentence: Option<Range>,
}

/// A document with its annotations: the native JSONL line.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnnotatedDocument {
    pub id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub spans: Vec<Span>,
    #[serde(default)]
    pub relations: Vec<Relation>,
    #[serde(default)]
    pub classifications: Vec<Classification>,
}

/// One problem found by [`AnnotatedDocument::check`] or [`AnnotatedDocument::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON path of the offending value, e.g. `spans[2].label`.
    pub path: String,
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

fn snomed(s: &str) -> &str {
    // The schema says `snomedct`, the terminology crate `snomed`: the same system.
    if s == "snomed" { "snomedct" } else { s }
}

/// Whether two code system ids name the same system (`snomed` is `snomedct`).
pub fn same_system(a: &str, b: &str) -> bool {
    snomed(a) == snomed(b)
}

impl AnnotatedDocument {
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> AnnotatedDocument {
        AnnotatedDocument { id: id.into(), text: text.into(), ..Default::default() }
    }

    /// Sets every span's `text` from the document (offsets must be valid).
    pub fn fill_text(&mut self) -> Result<(), Problem> {
        let idx = OffsetIndex::new(&self.text);
        for (i, s) in self.spans.iter_mut().enumerate() {
            match (idx.byte(s.start), idx.byte(s.end)) {
                (Some(a), Some(b)) if a <= b => s.text = self.text[a..b].to_string(),
                _ => return Err(Problem { path: format!("spans[{i}]"), problem: format!("[{}, {}) is outside the text of {} chars", s.start, s.end, idx.chars()) }),
            }
        }
        Ok(())
    }

    /// Schema-independent checks; all problems, in order.
    pub fn check(&self) -> Vec<Problem> {
        self.parts().check(Extent::Text(&self.text))
    }

    /// [`check`](Self::check) plus conformance to the project's label schema.
    pub fn validate(&self, schema: &LabelSchema) -> Vec<Problem> {
        self.parts().validate(schema, Extent::Text(&self.text))
    }

    fn parts(&self) -> Parts<'_> {
        Parts { spans: &self.spans, relations: &self.relations, classifications: &self.classifications }
    }
}

/// What offsets are checked against: the text itself (spans' `text` must
/// equal their slice), or only its length in chars (when the caller does
/// not hold the text; `text` is then not compared).
#[derive(Debug, Clone, Copy)]
pub enum Extent<'a> {
    Text(&'a str),
    Chars(usize),
}

/// The annotations of a document without the document: what
/// [`AnnotatedDocument`] and a submitted task's text part share.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub spans: &'a [Span],
    pub relations: &'a [Relation],
    pub classifications: &'a [Classification],
}

impl Parts<'_> {
    /// Schema-independent checks against the text or its length; all problems, in order.
    pub fn check(&self, extent: Extent<'_>) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut p = |path: String, problem: String| out.push(Problem { path, problem });
        let (text, idx) = match extent {
            Extent::Text(t) => (Some(t), Some(OffsetIndex::new(t))),
            Extent::Chars(_) => (None, None),
        };
        let chars = match (&idx, extent) {
            (Some(i), _) => i.chars(),
            (None, Extent::Chars(n)) => n,
            (None, Extent::Text(t)) => t.chars().count(),
        };
        let mut ids = HashSet::new();
        for (i, s) in self.spans.iter().enumerate() {
            if s.id.is_empty() || !ids.insert(s.id.as_str()) {
                p(format!("spans[{i}].id"), format!("{:?} is empty or used twice", s.id));
            }
            if s.start >= s.end || s.end > chars {
                p(format!("spans[{i}]"), format!("[{}, {}) is empty, reversed or past the end ({} chars)", s.start, s.end, chars));
                continue;
            }
            if let (Some(text), Some(idx)) = (text, &idx) {
                let slice = &text[idx.byte(s.start).unwrap()..idx.byte(s.end).unwrap()];
                if s.text != slice {
                    p(format!("spans[{i}].text"), format!("{:?} differs from the document's {:?} at [{}, {})", s.text, slice, s.start, s.end));
                }
            }
            if s.suggested.is_some() && s.state != Some(SuggestionState::Edited) {
                p(format!("spans[{i}].suggested"), "only an edited suggestion keeps the original".into());
            }
            if s.source == Source::Manual && s.state.is_some() {
                p(format!("spans[{i}].state"), "a manual span has no suggestion state".into());
            }
        }
        let mut rids = HashSet::new();
        for (i, r) in self.relations.iter().enumerate() {
            if r.id.is_empty() || !rids.insert(r.id.as_str()) || ids.contains(r.id.as_str()) {
                p(format!("relations[{i}].id"), format!("{:?} is empty or used twice", r.id));
            }
            for (end, id) in [("from", &r.from), ("to", &r.to)] {
                if !ids.contains(id.as_str()) {
                    p(format!("relations[{i}].{end}"), format!("no span has id {id:?}"));
                }
            }
        }
        for (i, c) in self.classifications.iter().enumerate() {
            if let Some(r) = c.sentence
                && (r.start >= r.end || r.end > chars)
            {
                p(format!("classifications[{i}].sentence"), format!("[{}, {}) is outside the text", r.start, r.end));
            }
        }
        out
    }

    /// [`check`](Self::check) plus conformance to the project's label schema.
    pub fn validate(&self, schema: &LabelSchema, extent: Extent<'_>) -> Vec<Problem> {
        let mut out = self.check(extent);
        let mut p = |path: String, problem: String| out.push(Problem { path, problem });
        let types: HashMap<&str, Option<&str>> = schema.entity_types.iter().map(|e| (e.id.as_str(), e.code_system.as_deref())).collect();
        let assertions: HashSet<&str> = schema.assertion_values.iter().map(String::as_str).collect();
        let mut label_of = HashMap::new();
        for (i, s) in self.spans.iter().enumerate() {
            label_of.insert(s.id.as_str(), s.label.as_str());
            let Some(system) = types.get(s.label.as_str()) else {
                p(format!("spans[{i}].label"), format!("{:?} is not an entity type of this project", s.label));
                continue;
            };
            if let Some(a) = s.assertion
                && !assertions.contains(a.as_str())
            {
                p(format!("spans[{i}].assertion"), format!("{a} is not an assertion value of this project"));
            }
            for (j, c) in s.codes.iter().enumerate() {
                match system {
                    None => p(format!("spans[{i}].codes[{j}]"), format!("entity type {:?} is not bound to a code system", s.label)),
                    Some(sys) if snomed(sys) != snomed(&c.system) => {
                        p(format!("spans[{i}].codes[{j}].system"), format!("{:?} is not {sys}, the system bound to {:?}", c.system, s.label))
                    }
                    _ => {}
                }
                if c.code.trim().is_empty() {
                    p(format!("spans[{i}].codes[{j}].code"), "is empty".into());
                }
            }
        }
        for (i, r) in self.relations.iter().enumerate() {
            let Some(rt) = schema.relation_types.iter().find(|t| t.id == r.kind) else {
                p(format!("relations[{i}].type"), format!("{:?} is not a relation type of this project", r.kind));
                continue;
            };
            for (end, id, allowed) in [("from", &r.from, &rt.from), ("to", &r.to, &rt.to)] {
                if let Some(l) = label_of.get(id.as_str())
                    && !allowed.iter().any(|a| a == l)
                {
                    p(format!("relations[{i}].{end}"), format!("a {:?} relation cannot have a {l:?} span at its {end} end (allowed: {})", rt.id, allowed.join(", ")));
                }
            }
        }
        let mut seen = HashSet::new();
        for (i, c) in self.classifications.iter().enumerate() {
            let Some(q) = schema.questions.iter().find(|q| q.id == c.question) else {
                p(format!("classifications[{i}].question"), format!("{:?} is not a question of this project", c.question));
                continue;
            };
            match (q.level, c.sentence) {
                (QuestionLevel::Sentence, None) => p(format!("classifications[{i}].sentence"), format!("{:?} is asked per sentence: give the sentence", q.id)),
                (QuestionLevel::Sentence, Some(_)) => {}
                (_, Some(_)) => p(format!("classifications[{i}].sentence"), format!("{:?} is asked of the whole document", q.id)),
                (_, None) => {}
            }
            if !seen.insert((c.question.as_str(), c.sentence.map(|r| (r.start, r.end)))) {
                p(format!("classifications[{i}]"), "answers the same question twice".into());
            }
            if q.kind == AnswerKind::Single && c.answers.len() != 1 {
                p(format!("classifications[{i}].answers"), "a single-choice question takes exactly one answer".into());
            }
            for (j, a) in c.answers.iter().enumerate() {
                if !q.options.iter().any(|o| &o.id == a) {
                    p(format!("classifications[{i}].answers[{j}]"), format!("{a:?} is not an option of {:?}", q.id));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        serde_json::from_value(serde_json::json!({
            "entity_types": [
                { "id": "disease", "name": "Disease", "code_system": "icd10cm" },
                { "id": "medication", "name": "Medication", "code_system": "rxnorm" },
                { "id": "symptom", "name": "Symptom" }
            ],
            "relation_types": [{ "id": "treats", "name": "Treats", "from": ["medication"], "to": ["disease"] }],
            "assertion_values": ["present", "absent", "possible"],
            "questions": [
                { "id": "doctype", "text": "Document type", "kind": "single", "level": "document",
                  "options": [{ "id": "discharge", "name": "Discharge" }, { "id": "progress", "name": "Progress" }] },
                { "id": "smoking", "text": "Smoking", "kind": "multiple", "level": "sentence",
                  "options": [{ "id": "current", "name": "Current" }, { "id": "former", "name": "Former" }] }
            ]
        }))
        .unwrap()
    }

    fn doc() -> AnnotatedDocument {
        let mut d = AnnotatedDocument::new("n1", "Metformin for diabetes.\r\nNo cough.");
        let mut a = Span::new("T1", "medication", 0, 9);
        a.codes.push(Code { system: "rxnorm".into(), code: "6809".into(), display: None, version: None });
        let mut b = Span::new("T2", "disease", 14, 22);
        b.assertion = Some(Assertion::Present);
        let mut c = Span::new("T3", "symptom", 28, 33);
        c.assertion = Some(Assertion::Absent);
        d.spans = vec![a, b, c];
        d.relations.push(Relation { id: "R1".into(), kind: "treats".into(), from: "T1".into(), to: "T2".into(), source: Source::Manual, state: None });
        d.classifications.push(Classification { question: "doctype".into(), answers: vec!["progress".into()], sentence: None });
        d.classifications.push(Classification { question: "smoking".into(), answers: vec![], sentence: Some(Range { start: 25, end: 34 }) });
        d.fill_text().unwrap();
        d
    }

    #[test]
    fn a_sound_document_validates_and_round_trips() {
        let d = doc();
        assert_eq!(d.spans[2].text, "cough");
        assert_eq!(d.validate(&schema()), vec![]);
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"type\":\"treats\""), "{json}");
        assert_eq!(serde_json::from_str::<AnnotatedDocument>(&json).unwrap(), d);
    }

    #[test]
    fn problems_name_their_path() {
        let paths = |d: &AnnotatedDocument| d.validate(&schema()).into_iter().map(|p| p.path).collect::<Vec<_>>();
        let mut d = doc();
        d.spans[0].label = "drug".into();
        assert_eq!(paths(&d), ["spans[0].label", "relations[0].from"]);
        let mut d = doc();
        d.relations[0].from = "T3".into();
        assert_eq!(paths(&d), ["relations[0].from"]);
        let mut d = doc();
        d.relations[0].to = "T9".into();
        assert_eq!(paths(&d), ["relations[0].to"]);
        let mut d = doc();
        d.spans[1].assertion = Some(Assertion::Hypothetical);
        assert_eq!(paths(&d), ["spans[1].assertion"]);
        let mut d = doc();
        d.spans[0].codes[0].system = "icd10cm".into();
        assert_eq!(paths(&d), ["spans[0].codes[0].system"]);
        let mut d = doc();
        d.spans[2].codes.push(Code { system: "icd10cm".into(), code: "R05".into(), display: None, version: None });
        assert_eq!(paths(&d), ["spans[2].codes[0]"]);
        let mut d = doc();
        d.spans[1].text = "diabetes!".into();
        assert_eq!(paths(&d), ["spans[1].text"]);
        let mut d = doc();
        d.spans[1].end = 999;
        assert_eq!(paths(&d), ["spans[1]"]);
        let mut d = doc();
        d.classifications[0].sentence = Some(Range { start: 0, end: 5 });
        assert_eq!(paths(&d), ["classifications[0].sentence"]);
        let mut d = doc();
        d.classifications[1].sentence = None;
        assert_eq!(paths(&d), ["classifications[1].sentence"]);
        let mut d = doc();
        d.classifications[0].answers = vec!["progress".into(), "discharge".into()];
        assert_eq!(paths(&d), ["classifications[0].answers"]);
        let mut d = doc();
        d.classifications[1].answers = vec!["never".into()];
        assert_eq!(paths(&d), ["classifications[1].answers[0]"]);
        let mut d = doc();
        d.spans[1].id = "T1".into();
        d.relations.clear();
        assert_eq!(paths(&d), ["spans[1].id"]);
    }

    #[test]
    fn suggestion_states_serialize_and_parse() {
        let mut s = Span::new("T1", "disease", 0, 3);
        s.source = Source::Suggested;
        s.state = Some(SuggestionState::Edited);
        s.suggested = Some(Suggested { label: "symptom".into(), start: 0, end: 5, assertion: Some(Assertion::FamilyHistory), codes: vec![] });
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["source"], "suggested");
        assert_eq!(v["state"], "edited");
        assert_eq!(v["suggested"]["assertion"], "family_history");
        let back: Span = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let fam: Span = serde_json::from_value(serde_json::json!({"id":"a","label":"x","start":0,"end":1,"assertion":"family"})).unwrap();
        assert_eq!(fam.assertion, Some(Assertion::FamilyHistory));
        // Every assertion name is one the domain's schema accepts.
        for a in Assertion::ALL {
            assert!(clinlabel_domain::project::ASSERTION_VALUES.contains(&a.as_str()));
        }
    }
}
