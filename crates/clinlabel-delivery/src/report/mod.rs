//! The completion report: its model, the statistics gathered while the
//! export streams by, and two renderings written here (no browser, no
//! office suite): HTML with inline SVG charts ([`html`]) and PDF with the
//! standard Helvetica font and vector charts ([`pdf`]), both drawn from one
//! chart description ([`chart`]).

pub mod chart;
pub mod html;
pub mod pdf;

use crate::export::ItemRecord;
use clinlabel_agreement::{BootstrapOptions, Categories, Level, MISSING, Metric, Table, bootstrap};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A question of the label schema, as the report needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionDef {
    pub id: String,
    pub text: String,
    pub ordinal: bool,
    /// (option id, display name), in schema order.
    pub options: Vec<(String, String)>,
}

/// A planned-versus-actual line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanActual {
    pub what: String,
    pub planned: String,
    pub actual: String,
}

/// How many annotations chose a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelCount {
    pub question_id: String,
    pub label_id: String,
    pub label: String,
    pub count: u64,
    /// Share of the annotations that answered the question.
    pub share: f64,
}

/// Agreement on a question or on one label of it, with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementRow {
    /// `question` or `label`.
    pub scope: String,
    pub question_id: String,
    pub label_id: Option<String>,
    pub name: String,
    /// Items rated by at least two annotators.
    pub units: u64,
    /// Krippendorff's α (ordinal for ordered questions, else nominal; binary per label).
    pub alpha: Option<f64>,
    pub ci_lower: Option<f64>,
    pub ci_upper: Option<f64>,
    pub percent_agreement: Option<f64>,
    /// Why α is undefined, when it is.
    pub undefined: Option<String>,
}

/// One tasker's gold results, under their pseudonym.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskerGold {
    pub tasker: String,
    pub gold_tasks: u64,
    pub mean: f64,
    pub min: f64,
}

/// A gold result, for the distribution and the time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldResult {
    pub tasker: String,
    pub at: i64,
    pub score: f64,
}

/// Outcomes of one QA tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierOutcome {
    pub tier: i64,
    pub name: String,
    pub accepted: u64,
    pub rejected: u64,
}

/// Rework: how much came back and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rework {
    pub annotations: u64,
    pub reworked: u64,
    pub rate: f64,
    /// (rounds of rework, annotations) for accepted annotations.
    pub rounds: Vec<(i64, u64)>,
    pub batches_returned: u64,
}

/// A day and a value (epoch ms of midnight UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayValue {
    pub day: i64,
    pub value: f64,
    pub n: u64,
}

/// The whole report, also stored as JSON for the web pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub project_id: String,
    pub project_name: String,
    pub client: String,
    pub modality: String,
    pub track: String,
    pub delivery_version: i64,
    pub built_at: i64,
    pub items: u64,
    pub annotations: u64,
    pub scope: Vec<PlanActual>,
    pub label_counts: Vec<LabelCount>,
    pub agreement: Vec<AgreementRow>,
    /// How the intervals were computed.
    pub agreement_method: String,
    pub gold_taskers: Vec<TaskerGold>,
    /// (accuracy bin, taskers).
    pub gold_histogram: Vec<(String, u64)>,
    pub gold_over_time: Vec<DayValue>,
    pub tiers: Vec<TierOutcome>,
    pub rework: Rework,
    pub throughput: Vec<DayValue>,
    /// (what, value): specification and guideline versions, formats, QA settings.
    pub versions: Vec<(String, String)>,
}

/// What the report needs beyond the streamed items.
#[derive(Debug, Clone, Default)]
pub struct ReportContext {
    pub project_id: String,
    pub project_name: String,
    pub client: String,
    pub modality: String,
    pub track: String,
    pub delivery_version: i64,
    pub built_at: i64,
    pub overlap: u32,
    pub questions: Vec<QuestionDef>,
    pub scope: Vec<PlanActual>,
    pub gold: Vec<GoldResult>,
    pub tiers: Vec<TierOutcome>,
    pub batches_returned: u64,
    pub versions: Vec<(String, String)>,
    /// Seed of the bootstrap (recorded in the report).
    pub seed: u64,
}

const NONE: u64 = u64::MAX;

/// Gathers the statistics as items stream by, in memory proportional to
/// items × overlap × questions (8 bytes each), not to the annotation bodies.
#[derive(Debug)]
pub struct Stats {
    slots: usize,
    questions: Vec<QuestionDef>,
    /// Per question: unit-major option bitmasks (`NONE`: not answered).
    masks: Vec<Vec<u64>>,
    counts: Vec<Vec<u64>>,
    answered: Vec<u64>,
    rounds: BTreeMap<i64, u64>,
    per_day: BTreeMap<i64, u64>,
    items: u64,
    annotations: u64,
}

impl Stats {
    pub fn new(questions: Vec<QuestionDef>, overlap: u32) -> Stats {
        let n = questions.len();
        Stats {
            slots: overlap.max(1) as usize,
            counts: questions.iter().map(|q| vec![0; q.options.len()]).collect(),
            questions,
            masks: vec![Vec::new(); n],
            answered: vec![0; n],
            rounds: BTreeMap::new(),
            per_day: BTreeMap::new(),
            items: 0,
            annotations: 0,
        }
    }

    pub fn push(&mut self, item: &ItemRecord) {
        self.items += 1;
        for m in self.masks.iter_mut() {
            m.extend(std::iter::repeat_n(NONE, self.slots));
        }
        for (slot, (a, answers)) in item.answers().enumerate() {
            self.annotations += 1;
            *self.rounds.entry(a.round).or_default() += 1;
            *self.per_day.entry(crate::time::day_start(a.submitted_at)).or_default() += 1;
            for (qi, q) in self.questions.iter().enumerate() {
                let Some(chosen) = answers.get(&q.id) else { continue };
                let mut mask = 0u64;
                for c in chosen {
                    if let Some(oi) = q.options.iter().position(|o| &o.0 == c) {
                        self.counts[qi][oi] += 1;
                        if oi < 64 {
                            mask |= 1 << oi;
                        }
                    }
                }
                self.answered[qi] += 1;
                if slot < self.slots {
                    let at = self.masks[qi].len() - self.slots + slot;
                    self.masks[qi][at] = mask;
                }
            }
        }
    }

    pub fn items(&self) -> u64 {
        self.items
    }

    pub fn annotations(&self) -> u64 {
        self.annotations
    }

    /// Bootstrap replicates for `units` rated units: 1,000 up to 20,000
    /// units, then fewer (never under 200) so the report of a very large
    /// project stays within seconds; the number used is in the report.
    pub fn replicates(units: usize) -> usize {
        if units <= 20_000 { 1000 } else { (20_000_000 / units).clamp(200, 1000) }
    }

    fn agreement_row(&self, scope: &str, q: &QuestionDef, label: Option<(usize, &str)>, seed: u64) -> (AgreementRow, usize) {
        let masks = &self.masks[self.questions.iter().position(|x| x.id == q.id).expect("own question")];
        // Category codes: per label, chosen (1) or not (0); per question, each
        // distinct option set seen (single options first, in schema order).
        let mut cats: Vec<u64> = if label.is_some() { vec![0, 1] } else { (0..q.options.len().min(64)).map(|i| 1u64 << i).collect() };
        let mut cells = Vec::with_capacity(masks.len());
        let mut units = 0u64;
        let mut kept_units = 0usize;
        for unit in masks.chunks(self.slots) {
            let rated = unit.iter().filter(|m| **m != NONE).count();
            if rated < 2 {
                continue;
            }
            units += 1;
            kept_units += 1;
            for &m in unit {
                if m == NONE {
                    cells.push(MISSING);
                    continue;
                }
                let v = match label {
                    Some((bit, _)) => (m >> bit) & 1,
                    None => m,
                };
                let code = match cats.iter().position(|c| *c == v) {
                    Some(i) => i,
                    None => {
                        cats.push(v);
                        cats.len() - 1
                    }
                };
                cells.push(code as u32);
            }
        }
        let names: Vec<String> = cats.iter().map(|c| format!("{c:x}")).collect();
        let name = match label {
            Some((_, n)) => format!("{} = {}", q.text, n),
            None => q.text.clone(),
        };
        let mut row = AgreementRow {
            scope: scope.into(),
            question_id: q.id.clone(),
            label_id: label.map(|(bit, _)| q.options[bit].0.clone()),
            name,
            units,
            alpha: None,
            ci_lower: None,
            ci_upper: None,
            percent_agreement: None,
            undefined: None,
        };
        let table = match Table::from_codes(kept_units, self.slots, cells, Categories::Labels(names)) {
            Ok(t) => t,
            Err(e) => {
                row.undefined = Some(format!("{e:?}"));
                return (row, 0);
            }
        };
        let level = if q.ordinal && label.is_none() { Level::Ordinal } else { Level::Nominal };
        let reps = Self::replicates(kept_units);
        let ci = bootstrap(&table, Metric::KrippendorffAlpha { level }, &BootstrapOptions { replicates: reps, confidence: 0.95, seed });
        row.alpha = ci.estimate.value();
        row.ci_lower = ci.lower.value();
        row.ci_upper = ci.upper.value();
        row.undefined = ci.estimate.reason().map(|r| r.describe().to_string());
        row.percent_agreement = clinlabel_agreement::compute(&table, Metric::PercentAgreement).value();
        (row, reps)
    }

    /// The finished report.
    pub fn finish(self, ctx: ReportContext) -> Report {
        let mut agreement = Vec::new();
        let mut reps_used = std::collections::BTreeSet::new();
        for q in &self.questions {
            let (row, r) = self.agreement_row("question", q, None, ctx.seed);
            agreement.push(row);
            reps_used.insert(r);
            for (bit, (_, name)) in q.options.iter().enumerate().take(64) {
                let (row, r) = self.agreement_row("label", q, Some((bit, name)), ctx.seed);
                agreement.push(row);
                reps_used.insert(r);
            }
        }
        reps_used.remove(&0);
        let reps: Vec<String> = reps_used.iter().map(|r| r.to_string()).collect();
        let agreement_method = format!(
            "Krippendorff's alpha (nominal; ordinal for ordered questions; per label: chosen or not), 95% percentile bootstrap over items, {} replicates, seed {}.",
            if reps.is_empty() { "0".to_string() } else { reps.join("/") },
            ctx.seed
        );
        let mut label_counts = Vec::new();
        for (qi, q) in self.questions.iter().enumerate() {
            for (oi, (id, name)) in q.options.iter().enumerate() {
                let n = self.counts[qi][oi];
                label_counts.push(LabelCount { question_id: q.id.clone(), label_id: id.clone(), label: name.clone(), count: n, share: if self.answered[qi] > 0 { n as f64 / self.answered[qi] as f64 } else { 0.0 } });
            }
        }
        // Gold: per tasker, distribution of their means, daily mean over time.
        let mut per: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let mut daily: BTreeMap<i64, (f64, u64)> = BTreeMap::new();
        for g in &ctx.gold {
            per.entry(g.tasker.as_str()).or_default().push(g.score);
            let d = daily.entry(crate::time::day_start(g.at)).or_default();
            d.0 += g.score;
            d.1 += 1;
        }
        let gold_taskers: Vec<TaskerGold> = per
            .iter()
            .map(|(t, s)| TaskerGold { tasker: t.to_string(), gold_tasks: s.len() as u64, mean: s.iter().sum::<f64>() / s.len() as f64, min: s.iter().copied().fold(f64::INFINITY, f64::min) })
            .collect();
        let bins = [("< 0.6", 0.0, 0.6), ("0.6 to 0.7", 0.6, 0.7), ("0.7 to 0.8", 0.7, 0.8), ("0.8 to 0.9", 0.8, 0.9), ("0.9 to 1.0", 0.9, 1.01)];
        let gold_histogram = bins.iter().map(|(n, lo, hi)| (n.to_string(), gold_taskers.iter().filter(|t| t.mean >= *lo && t.mean < *hi).count() as u64)).collect();
        let gold_over_time = daily.into_iter().map(|(day, (sum, n))| DayValue { day, value: sum / n as f64, n }).collect();
        let reworked: u64 = self.rounds.iter().filter(|(r, _)| **r > 0).map(|(_, n)| *n).sum();
        let rework = Rework {
            annotations: self.annotations,
            reworked,
            rate: if self.annotations > 0 { reworked as f64 / self.annotations as f64 } else { 0.0 },
            rounds: self.rounds.iter().map(|(r, n)| (*r, *n)).collect(),
            batches_returned: ctx.batches_returned,
        };
        Report {
            project_id: ctx.project_id,
            project_name: ctx.project_name,
            client: ctx.client,
            modality: ctx.modality,
            track: ctx.track,
            delivery_version: ctx.delivery_version,
            built_at: ctx.built_at,
            items: self.items,
            annotations: self.annotations,
            scope: ctx.scope,
            label_counts,
            agreement,
            agreement_method,
            gold_taskers,
            gold_histogram,
            gold_over_time,
            tiers: ctx.tiers,
            rework,
            throughput: self.per_day.into_iter().map(|(day, n)| DayValue { day, value: n as f64, n }).collect(),
            versions: ctx.versions,
        }
    }
}

/// `0.812` → `0.81`; `None` → `n/a`.
pub fn fmt2(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())
}

/// `0.253` → `25.3 %`.
pub fn pct(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::export::tests::item;

    pub fn questions() -> Vec<QuestionDef> {
        vec![QuestionDef { id: "specialty".into(), text: "Clinical specialty".into(), ordinal: false, options: vec![("cardiology".into(), "Cardiology".into()), ("oncology".into(), "Oncology".into())] }]
    }

    pub fn sample_report() -> Report {
        let mut s = Stats::new(questions(), 2);
        for i in 0..40 {
            let b = if i % 10 == 0 { "oncology" } else if i % 2 == 0 { "cardiology" } else { "oncology" };
            let a = if i % 2 == 0 { "cardiology" } else { "oncology" };
            s.push(&item(&format!("i{i}"), &[("A", a), ("B", b)]));
        }
        s.finish(ReportContext {
            project_id: "p1".into(),
            project_name: "Note triage".into(),
            client: "Client A Hospital".into(),
            modality: "text".into(),
            track: "Clinical NLP".into(),
            delivery_version: 1,
            built_at: 1_700_000_000_000,
            overlap: 2,
            questions: questions(),
            scope: vec![PlanActual { what: "Items".into(), planned: "40".into(), actual: "40".into() }],
            gold: vec![GoldResult { tasker: "Annotator-aaaaaa".into(), at: 1_700_000_000_000, score: 1.0 }, GoldResult { tasker: "Annotator-bbbbbb".into(), at: 1_700_090_000_000, score: 0.5 }],
            tiers: vec![TierOutcome { tier: 1, name: "Peer review".into(), accepted: 70, rejected: 10 }],
            batches_returned: 1,
            versions: vec![("Specification".into(), "version 3".into())],
            seed: 42,
        })
    }

    #[test]
    fn counts_agreement_and_rework_come_from_the_items() {
        let r = sample_report();
        assert_eq!((r.items, r.annotations), (40, 80));
        let card = r.label_counts.iter().find(|c| c.label_id == "cardiology").unwrap();
        // A chose cardiology on even items (20); B on even items except multiples of 10 (16).
        assert_eq!(card.count, 36);
        let q = &r.agreement[0];
        assert_eq!((q.scope.as_str(), q.units), ("question", 40));
        // 36 of 40 items agree.
        assert_eq!(q.percent_agreement, Some(0.9));
        let (lo, a, hi) = (q.ci_lower.unwrap(), q.alpha.unwrap(), q.ci_upper.unwrap());
        assert!(lo <= a && a <= hi && a > 0.7 && a < 0.85, "{lo} {a} {hi}");
        // Two labels of a single-choice, two-option question mirror the question.
        assert_eq!(r.agreement.len(), 3);
        assert_eq!(r.agreement[1].alpha, r.agreement[0].alpha);
        assert_eq!(r.gold_taskers.len(), 2);
        assert_eq!(r.gold_over_time.len(), 2);
        assert!(r.agreement_method.contains("1000 replicates, seed 42"));
    }

    #[test]
    fn a_single_annotator_leaves_agreement_undefined_not_nan() {
        let mut s = Stats::new(questions(), 2);
        s.push(&item("i1", &[("A", "oncology")]));
        let r = s.finish(ReportContext { questions: questions(), ..Default::default() });
        assert_eq!(r.agreement[0].units, 0);
        assert!(r.agreement[0].alpha.is_none());
        assert!(r.agreement[0].undefined.is_some());
    }
}
