//! The QA pipeline's rules: where an annotation goes after each decision,
//! seeded sampling for tier 2 and the tier-3 spot-check, and gold scoring of
//! classification answers.
//!
//! invariant: every random choice here is a pure function of a recorded seed
//! and stable ids, so a selection can be reproduced from the audit trail.

use crate::project::{AnswerKind, LabelSchema, QaConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// Where an annotation stands in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for tier-1 peer review.
    Tier1,
    /// Waiting for the tier-2 QA reviewer.
    Tier2,
    /// Returned to its author with feedback.
    Rework,
    /// Through every tier it was sent to.
    Accepted,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Tier1 => "tier1",
            Stage::Tier2 => "tier2",
            Stage::Rework => "rework",
            Stage::Accepted => "accepted",
        }
    }
    pub fn parse(s: &str) -> Option<Stage> {
        [Stage::Tier1, Stage::Tier2, Stage::Rework, Stage::Accepted].into_iter().find(|x| x.as_str() == s)
    }
}

/// A uniform number in [0, 1) from a seed and a key: reproducible sampling.
pub fn unit_hash(seed: u64, key: &str) -> f64 {
    let d = Sha256::new().chain_update(seed.to_le_bytes()).chain_update(key.as_bytes()).finalize();
    let x = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Is this item in the tier-2 sample? Decided once per item from the project seed.
pub fn tier2_sampled(seed: u64, item_id: &str, pct: f64) -> bool {
    pct >= 100.0 || unit_hash(seed, item_id) < pct / 100.0
}

/// The first stage of a freshly submitted (or resubmitted) annotation.
pub fn first_stage(qa: &QaConfig, tier2: bool) -> Stage {
    if qa.tier1 {
        Stage::Tier1
    } else if tier2 {
        Stage::Tier2
    } else {
        Stage::Accepted
    }
}

/// What follows a reviewer's decision at `stage`. A rejection returns the
/// work to its author unless it has been reworked `max_rework_rounds` times
/// already, in which case it escalates to the QA reviewer (tier 2).
pub fn after_review(stage: Stage, accepted: bool, tier2: bool, round: u32, qa: &QaConfig) -> Stage {
    match (stage, accepted) {
        (Stage::Tier1, true) if tier2 => Stage::Tier2,
        (Stage::Tier1, true) | (Stage::Tier2, true) => Stage::Accepted,
        (_, false) if round >= qa.max_rework_rounds => Stage::Tier2,
        (_, false) => Stage::Rework,
        (s, true) => s,
    }
}

/// The tier-3 spot-check: `pct` % of a finished batch's items (at least one),
/// chosen by ranking items by a seeded hash. Same seed and items, same choice.
pub fn spot_check(seed: u64, item_ids: &[String], pct: f64) -> Vec<String> {
    if item_ids.is_empty() {
        return Vec::new();
    }
    let k = ((item_ids.len() as f64 * pct / 100.0).round() as usize).clamp(1, item_ids.len());
    let mut ranked: Vec<(f64, &String)> = item_ids.iter().map(|id| (unit_hash(seed, id), id)).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut chosen: Vec<String> = ranked.into_iter().take(k).map(|(_, id)| id.clone()).collect();
    chosen.sort();
    chosen
}

/// Answers to classification questions: question id → chosen option ids.
pub type Answers = BTreeMap<String, Vec<String>>;

/// Checks answers against the schema's questions; the error names the path.
pub fn validate_answers(schema: &LabelSchema, answers: &Answers) -> Result<(), crate::DomainError> {
    for (qid, chosen) in answers {
        let Some(q) = schema.questions.iter().find(|q| &q.id == qid) else {
            return Err(crate::DomainError::field(&format!("answers.{qid}"), "is not a question of this project"));
        };
        let distinct: BTreeSet<&String> = chosen.iter().collect();
        if distinct.len() != chosen.len() {
            return Err(crate::DomainError::field(&format!("answers.{qid}"), "lists an option twice"));
        }
        for (i, o) in chosen.iter().enumerate() {
            if !q.options.iter().any(|opt| &opt.id == o) {
                return Err(crate::DomainError::field(&format!("answers.{qid}[{i}]"), "is not an option of this question"));
            }
        }
        if q.kind == AnswerKind::Single && chosen.len() > 1 {
            return Err(crate::DomainError::field(&format!("answers.{qid}"), "takes a single answer"));
        }
    }
    for q in &schema.questions {
        if q.required && answers.get(&q.id).is_none_or(|c| c.is_empty()) {
            return Err(crate::DomainError::field(&format!("answers.{}", q.id), "is required"));
        }
    }
    Ok(())
}

/// Accuracy of answers against a gold reference, 0–1: the mean over the
/// reference's questions of 1/0 (single choice) or the Jaccard index
/// (multiple choice).
pub fn score_answers(schema: &LabelSchema, reference: &Answers, answers: &Answers) -> f64 {
    let scores: Vec<f64> = reference
        .iter()
        .map(|(qid, gold)| {
            let given = answers.get(qid).cloned().unwrap_or_default();
            let multiple = schema.questions.iter().find(|q| &q.id == qid).is_some_and(|q| q.kind == AnswerKind::Multiple);
            let g: BTreeSet<&String> = gold.iter().collect();
            let a: BTreeSet<&String> = given.iter().collect();
            if multiple {
                let union = g.union(&a).count();
                if union == 0 { 1.0 } else { g.intersection(&a).count() as f64 / union as f64 }
            } else {
                (g == a) as u8 as f64
            }
        })
        .collect();
    if scores.is_empty() { 1.0 } else { scores.iter().sum::<f64>() / scores.len() as f64 }
}

/// How many recent gold results the rolling accuracy keeps, and how many it
/// needs before it may suspend anyone.
pub const ROLLING_WINDOW: usize = 20;
pub const MIN_GOLD_FOR_SUSPENSION: usize = 3;

/// Should a tasker whose recent gold scores are `recent` (newest last) be suspended?
pub fn below_threshold(recent: &[f64], threshold: f64) -> Option<f64> {
    let window = &recent[recent.len().saturating_sub(ROLLING_WINDOW)..];
    if window.len() < MIN_GOLD_FOR_SUSPENSION {
        return None;
    }
    let mean = window.iter().sum::<f64>() / window.len() as f64;
    (mean < threshold).then_some(mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{LabelDef, Question, QuestionLevel};

    fn schema() -> LabelSchema {
        let opt = |id: &str| LabelDef { id: id.into(), name: id.into(), hotkey: None, color: None, code_system: None };
        LabelSchema {
            questions: vec![
                Question { id: "specialty".into(), text: "Specialty".into(), kind: AnswerKind::Single, level: QuestionLevel::Document, options: vec![opt("cardiology"), opt("oncology"), opt("neurology")], required: true, ordinal: false },
                Question { id: "setting".into(), text: "Care setting".into(), kind: AnswerKind::Multiple, level: QuestionLevel::Document, options: vec![opt("inpatient"), opt("outpatient"), opt("emergency")], required: false, ordinal: false },
            ],
            ..Default::default()
        }
    }

    fn answers(pairs: &[(&str, &[&str])]) -> Answers {
        pairs.iter().map(|(q, a)| (q.to_string(), a.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn stages_follow_the_tiers() {
        let qa = QaConfig::default(); // tier1 on, 3 rounds
        assert_eq!(first_stage(&qa, true), Stage::Tier1);
        assert_eq!(first_stage(&QaConfig { tier1: false, ..qa.clone() }, true), Stage::Tier2);
        assert_eq!(first_stage(&QaConfig { tier1: false, ..qa.clone() }, false), Stage::Accepted);
        assert_eq!(after_review(Stage::Tier1, true, true, 0, &qa), Stage::Tier2);
        assert_eq!(after_review(Stage::Tier1, true, false, 0, &qa), Stage::Accepted);
        assert_eq!(after_review(Stage::Tier2, true, true, 0, &qa), Stage::Accepted);
        assert_eq!(after_review(Stage::Tier1, false, true, 0, &qa), Stage::Rework);
        assert_eq!(after_review(Stage::Tier2, false, true, 2, &qa), Stage::Rework);
        // After three rounds of rework, a rejection escalates to the QA reviewer.
        assert_eq!(after_review(Stage::Tier1, false, false, 3, &qa), Stage::Tier2);
    }

    #[test]
    fn spot_checks_are_reproducible_and_in_range() {
        let items: Vec<String> = (0..200).map(|i| format!("item-{i:03}")).collect();
        let a = spot_check(42, &items, 7.0);
        assert_eq!(a, spot_check(42, &items, 7.0));
        assert_eq!(a.len(), 14);
        assert_ne!(a, spot_check(43, &items, 7.0));
        assert!(a.iter().all(|x| items.contains(x)));
        assert_eq!(spot_check(1, &items[..3], 5.0).len(), 1);
        assert!(spot_check(1, &[], 5.0).is_empty());
        let share = items.iter().filter(|i| tier2_sampled(9, i, 25.0)).count() as f64 / 200.0;
        assert!((0.15..0.35).contains(&share), "{share}");
        assert!(items.iter().all(|i| tier2_sampled(9, i, 100.0)));
    }

    #[test]
    fn answers_are_validated_and_scored() {
        let s = schema();
        validate_answers(&s, &answers(&[("specialty", &["oncology"])])).unwrap();
        let e = validate_answers(&s, &answers(&[("setting", &["inpatient"])])).unwrap_err();
        assert_eq!(e.details.unwrap()["field"], "answers.specialty");
        let e = validate_answers(&s, &answers(&[("specialty", &["oncology", "neurology"])])).unwrap_err();
        assert_eq!(e.details.unwrap()["field"], "answers.specialty");
        let e = validate_answers(&s, &answers(&[("specialty", &["dermatology"])])).unwrap_err();
        assert_eq!(e.details.unwrap()["field"], "answers.specialty[0]");
        let e = validate_answers(&s, &answers(&[("specialty", &["oncology"]), ("mood", &["x"])])).unwrap_err();
        assert_eq!(e.details.unwrap()["field"], "answers.mood");

        let gold = answers(&[("specialty", &["oncology"]), ("setting", &["inpatient", "emergency"])]);
        assert_eq!(score_answers(&s, &gold, &gold), 1.0);
        // Specialty right (1), setting {inpatient} vs {inpatient, emergency}: 1/2.
        assert_eq!(score_answers(&s, &gold, &answers(&[("specialty", &["oncology"]), ("setting", &["inpatient"])])), 0.75);
        assert_eq!(score_answers(&s, &gold, &answers(&[("specialty", &["cardiology"])])), 0.0);
    }

    #[test]
    fn suspension_needs_enough_gold_and_a_low_mean() {
        assert_eq!(below_threshold(&[0.0, 0.0], 0.8), None);
        assert_eq!(below_threshold(&[1.0, 0.5, 0.0], 0.8), Some(0.5));
        assert_eq!(below_threshold(&[1.0, 1.0, 0.5], 0.8), None);
        let mut long = vec![0.0; 10];
        long.extend(vec![1.0; ROLLING_WINDOW]);
        assert_eq!(below_threshold(&long, 0.8), None, "only the window counts");
    }
}
