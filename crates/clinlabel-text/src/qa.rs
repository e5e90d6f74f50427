//! Comparing two text annotations of one note, for gold scoring and
//! inter-annotator agreement, with `clinlabel-agreement`'s span measures:
//!
//! - spans (manual, accepted and edited suggestions; rejected or pending
//!   ones are not annotations): precision / recall / F1 per label and micro,
//!   with **exact** matching (same start, end, label) and **overlap**
//!   matching (same label, at least one character in common, one-to-one);
//! - relations: F1 over the overlap matching (both ends matched, same
//!   direction and type);
//! - on the overlap-matched pairs: agreement (percent, Cohen's κ,
//!   Krippendorff's α) on the **assertion** and on the **code** (the first
//!   code of each span, `system:code`).
//!
//! [`gold_score`] is the mean, over what the reference contains, of the
//! overlap micro F1, the relation F1, and the percent agreement on
//! assertions and on codes over the matched spans.

use crate::annotation::TextAnnotation;
use crate::model::SuggestionState;
use clinlabel_agreement::spans::{self as ag, SpanReport};
use std::collections::HashMap;

/// The spans that count as annotated, as the agreement library's spans
/// (assertion and code as attributes), and the relations between them.
pub fn agreement_spans(a: &TextAnnotation) -> (Vec<ag::Span>, Vec<ag::Relation>) {
    let mut index = HashMap::new();
    let mut spans = Vec::new();
    for s in &a.spans {
        if matches!(s.state, Some(SuggestionState::Rejected) | Some(SuggestionState::Pending)) {
            continue;
        }
        let mut x = ag::Span::new(s.start, s.end, &s.label);
        if let Some(asr) = &s.assertion {
            let v = serde_json::to_value(asr).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            x = x.with_attr("assertion", &v);
        }
        if let Some(c) = s.codes.first() {
            x = x.with_attr("code", &format!("{}:{}", c.system, c.code));
        }
        index.insert(s.id.as_str(), spans.len());
        spans.push(x);
    }
    let relations = a
        .relations
        .iter()
        .filter(|r| r.is_live())
        .filter_map(|r| Some(ag::Relation { head: *index.get(r.from.as_str())?, tail: *index.get(r.to.as_str())?, label: r.kind.clone() }))
        .collect();
    (spans, relations)
}

/// Everything about two annotations of one note (`b` against `a`).
pub fn compare(a: &TextAnnotation, b: &TextAnnotation, chars: Option<usize>) -> SpanReport {
    let (sa, ra) = agreement_spans(a);
    let (sb, rb) = agreement_spans(b);
    ag::span_report(&sa, &sb, chars, Some((&ra, &rb)))
}

/// How well `given` matches the gold `reference`, 0–1 (see the module docs);
/// `None` when the reference marks nothing.
pub fn gold_score(reference: &TextAnnotation, given: &TextAnnotation) -> Option<f64> {
    let (sa, ra) = agreement_spans(reference);
    if sa.is_empty() {
        return None;
    }
    let (sb, rb) = agreement_spans(given);
    let r = ag::span_report(&sa, &sb, None, Some((&ra, &rb)));
    let mut parts = vec![r.overlap.micro.f1.value().unwrap_or(0.0)];
    if !ra.is_empty() {
        parts.push(r.relations.as_ref().and_then(|x| x.micro.f1.value()).unwrap_or(0.0));
    }
    for key in ["assertion", "code"] {
        if sa.iter().any(|s| s.attributes.contains_key(key)) {
            // Matched reference spans whose value the tasker gave the same, over
            // the reference spans carrying it (a missed span counts as wrong).
            let want = sa.iter().filter(|s| s.attributes.contains_key(key)).count();
            let same = r.overlap.pairs.iter().filter(|&&(i, j)| sa[i].attributes.get(key).is_some() && sa[i].attributes.get(key) == sb[j].attributes.get(key)).count();
            parts.push(same as f64 / want as f64);
        }
    }
    Some(parts.iter().sum::<f64>() / parts.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(v: serde_json::Value) -> TextAnnotation {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn spans_relations_assertions_and_codes_are_compared() {
        let a = ann(serde_json::json!({
            "spans": [
                { "id": "a1", "label": "disease", "start": 0, "end": 8, "assertion": "present", "codes": [{ "system": "icd10cm", "code": "E11.9" }] },
                { "id": "a2", "label": "medication", "start": 20, "end": 29, "assertion": "present" }
            ],
            "relations": [{ "id": "r", "type": "treats", "from": "a2", "to": "a1" }]
        }));
        // Same disease span but wider, code differs; medication exact, absent;
        // a rejected suggestion that must not count.
        let b = ann(serde_json::json!({
            "spans": [
                { "id": "b1", "label": "disease", "start": 0, "end": 10, "assertion": "present", "codes": [{ "system": "icd10cm", "code": "E11.65" }] },
                { "id": "b2", "label": "medication", "start": 20, "end": 29, "assertion": "absent" },
                { "id": "b3", "label": "disease", "start": 40, "end": 45, "source": "suggested", "state": "rejected" }
            ],
            "relations": [{ "id": "r", "type": "treats", "from": "b2", "to": "b1" }]
        }));
        let r = compare(&a, &b, Some(60));
        assert_eq!(r.exact.micro.f1.value(), Some(0.5));
        assert_eq!(r.overlap.micro.f1.value(), Some(1.0));
        assert_eq!(r.relations.as_ref().unwrap().micro.f1.value(), Some(1.0));
        assert_eq!(r.attributes["assertion"].n_pairs, 2);
        assert_eq!(r.attributes["assertion"].percent_agreement.value(), Some(0.5));
        // Overlap F1 1, relations 1, assertions 1/2, codes 0/1 → 2.5 / 4.
        assert_eq!(gold_score(&a, &b), Some(0.625));
        assert_eq!(gold_score(&a, &a), Some(1.0));
        assert_eq!(gold_score(&TextAnnotation::default(), &b), None);
    }
}
