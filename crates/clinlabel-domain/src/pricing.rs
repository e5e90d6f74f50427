//! The pricing model: a quote from volume, complexity, specialty and turnaround,
//! each factor shown as a line item, and a timeline from the track's capacity.
//!
//! ```text
//! units      = items × overlap                      (independent annotations)
//! base       = Σ over task types of units × rate(modality, task type)
//! complexity = 1 + min(0.5, 0.01 × (schema size − 10)⁺)
//!                + text:  min(1.0, 0.1 × (mean characters − 2,000)⁺ / 2,000)
//!                + image: min(2.0, 0.02 × (mean frames per item − 1)⁺)
//! specialty  = the track's rate multiplier
//! turnaround = from days needed / days until the deadline:
//!              ≤ 0.5 → 1.00, ≤ 0.75 → 1.15, ≤ 1 → 1.35, otherwise (or no capacity) 1.60
//! volume     = the discount of the highest tier whose minimum the units reach
//! total      = base × complexity × specialty × turnaround × (1 − volume discount)
//! ```
//! Capacity is the track's certified taskers × their daily throughput for
//! the project's task types together (1 / Σ 1/throughput); the timeline adds a
//! quarter for QA and rework.
//!
//! invariant: line items are whole cents and add up exactly to the total.

use crate::project::{Modality, QaConfig};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const DAY_MS: i64 = 86_400_000;

/// Price and throughput of one task type in one modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub modality: Modality,
    pub task_type: String,
    /// Price of one annotation unit, in cents.
    pub cents_per_unit: i64,
    /// Units one certified tasker completes in a working day.
    pub units_per_tasker_day: f64,
}

/// A volume discount tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeTier {
    pub min_units: i64,
    /// 0–50 %.
    pub discount_pct: f64,
}

/// The rate card administrators edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateCard {
    pub currency: String,
    pub rates: Vec<Rate>,
    pub volume_tiers: Vec<VolumeTier>,
}

impl RateCard {
    pub fn rate(&self, modality: Modality, task_type: &str) -> Option<&Rate> {
        self.rates.iter().find(|r| r.modality == modality && r.task_type == task_type)
    }

    /// The card a new installation starts with.
    pub fn default_card() -> RateCard {
        let r = |m, t: &str, c, u| Rate { modality: m, task_type: t.into(), cents_per_unit: c, units_per_tasker_day: u };
        use Modality::*;
        RateCard {
            currency: "USD".into(),
            rates: vec![
                r(Image, "bounding_box", 150, 400.0),
                r(Image, "segmentation", 600, 80.0),
                r(Image, "keypoints", 250, 200.0),
                r(Image, "classification", 60, 1000.0),
                r(Text, "entities", 200, 150.0),
                r(Text, "relations", 120, 200.0),
                r(Text, "assertion", 40, 800.0),
                r(Text, "coding", 250, 120.0),
                r(Text, "classification", 40, 1000.0),
                r(Audio, "transcription", 900, 30.0),
                r(Audio, "diarisation", 300, 80.0),
                r(Audio, "entity_tagging", 200, 150.0),
                r(Audio, "soap_structure", 400, 60.0),
                r(Audio, "dialogue_acts", 150, 200.0),
                r(Preference, "comparison", 150, 200.0),
                r(Preference, "ranking", 200, 150.0),
                r(Preference, "scoring", 150, 200.0),
                r(Preference, "rationale", 250, 100.0),
                r(Preference, "safety", 40, 800.0),
                r(Genomic, "variant_classification", 1200, 25.0),
                r(Genomic, "biomarker_relevance", 300, 100.0),
                r(Genomic, "entity_tagging", 200, 150.0),
                r(Genomic, "adverse_event_coding", 250, 120.0),
            ],
            volume_tiers: vec![
                VolumeTier { min_units: 10_000, discount_pct: 5.0 },
                VolumeTier { min_units: 50_000, discount_pct: 10.0 },
                VolumeTier { min_units: 200_000, discount_pct: 15.0 },
            ],
        }
    }

    /// Checks the card; the error names the offending field.
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(crate::DomainError::field("currency", "use a three-letter ISO 4217 code"));
        }
        for (i, r) in self.rates.iter().enumerate() {
            if !r.modality.task_types().contains(&r.task_type.as_str()) {
                return Err(crate::DomainError::field(&format!("rates[{i}].task_type"), "is not a task type of this modality"));
            }
            if r.cents_per_unit < 0 || r.cents_per_unit > 10_000_000 {
                return Err(crate::DomainError::field(&format!("rates[{i}].cents_per_unit"), "must be 0 to 10,000,000"));
            }
            if !(r.units_per_tasker_day.is_finite() && r.units_per_tasker_day > 0.0) {
                return Err(crate::DomainError::field(&format!("rates[{i}].units_per_tasker_day"), "must be positive"));
            }
            if self.rates[..i].iter().any(|o| o.modality == r.modality && o.task_type == r.task_type) {
                return Err(crate::DomainError::field(&format!("rates[{i}]"), "duplicates an earlier rate"));
            }
        }
        for (i, t) in self.volume_tiers.iter().enumerate() {
            if t.min_units < 1 || !(t.discount_pct.is_finite() && (0.0..=50.0).contains(&t.discount_pct)) {
                return Err(crate::DomainError::field(&format!("volume_tiers[{i}]"), "needs min_units ≥ 1 and a discount of 0–50 %"));
            }
        }
        Ok(())
    }
}

/// What the pricing model knows about a project.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteInput {
    pub modality: Modality,
    pub task_types: Vec<String>,
    pub items: i64,
    pub overlap: u32,
    pub schema_size: usize,
    /// Text: mean characters per document.
    pub mean_chars: Option<f64>,
    /// Images: mean frames (slices) per item.
    pub mean_frames: Option<f64>,
    /// The track's rate multiplier.
    pub specialty_multiplier: f64,
    pub track_name: String,
    /// Taskers with an active certification in the track.
    pub certified_taskers: u32,
    pub now: i64,
    pub deadline: i64,
    pub qa: QaConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Base,
    Complexity,
    Specialty,
    Turnaround,
    Volume,
    Adjustment,
}

/// One line of a quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineItem {
    pub kind: LineKind,
    pub label: String,
    /// How the amount was found, in words and numbers.
    pub detail: String,
    pub amount_cents: i64,
}

/// The priced proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Pricing {
    pub currency: String,
    pub units: i64,
    pub lines: Vec<LineItem>,
    pub total_cents: i64,
    /// Working days from start to delivery at current capacity (None: no certified taskers).
    pub timeline_days: Option<i64>,
    /// Epoch ms of the proposed delivery.
    pub proposed_delivery: Option<i64>,
    /// Problems the PM and client should see (e.g. the deadline is out of reach).
    pub warnings: Vec<String>,
}

fn cents(x: f64) -> i64 {
    x.round() as i64
}

/// Prices a project. Missing rates are reported as an error naming the task type.
pub fn price(card: &RateCard, input: &QuoteInput) -> Result<Pricing, crate::DomainError> {
    let units = input.items.max(0) * input.overlap as i64;
    let mut lines = Vec::new();
    let mut inverse_throughput = 0.0;
    for t in &input.task_types {
        let rate = card.rate(input.modality, t).ok_or_else(|| {
            crate::DomainError::new(crate::ErrorCode::InvalidField)
                .with_message(format!("The rate card has no rate for {} {t}.", input.modality.as_str()))
                .with_details(serde_json::json!({ "field": "task_types", "task_type": t }))
        })?;
        let amount = units as f64 * rate.cents_per_unit as f64;
        inverse_throughput += 1.0 / rate.units_per_tasker_day;
        lines.push(LineItem {
            kind: LineKind::Base,
            label: format!("{} — {}", input.modality.as_str(), t.replace('_', " ")),
            detail: format!("{units} units × {}.{:02} {}", rate.cents_per_unit / 100, rate.cents_per_unit % 100, card.currency),
            amount_cents: cents(amount),
        });
    }
    let base_cents: i64 = lines.iter().map(|l| l.amount_cents).sum();

    let mut complexity = 1.0 + (0.01 * (input.schema_size as f64 - 10.0).max(0.0)).min(0.5);
    let mut why = vec![format!("schema of {} choices", input.schema_size)];
    if input.modality == Modality::Text
        && let Some(c) = input.mean_chars
    {
        complexity += (0.1 * (c - 2000.0).max(0.0) / 2000.0).min(1.0);
        why.push(format!("{c:.0} characters per document on average"));
    }
    if input.modality == Modality::Image
        && let Some(f) = input.mean_frames
    {
        complexity += (0.02 * (f - 1.0).max(0.0)).min(2.0);
        why.push(format!("{f:.1} frames per item on average"));
    }
    let mut running = base_cents as f64;
    let complexity_amount = cents(running * (complexity - 1.0));
    lines.push(LineItem { kind: LineKind::Complexity, label: format!("Complexity × {complexity:.2}"), detail: why.join("; "), amount_cents: complexity_amount });
    running += complexity_amount as f64;

    let specialty_amount = cents(running * (input.specialty_multiplier - 1.0));
    lines.push(LineItem {
        kind: LineKind::Specialty,
        label: format!("Specialty × {:.2}", input.specialty_multiplier),
        detail: format!("{} track rate", input.track_name),
        amount_cents: specialty_amount,
    });
    running += specialty_amount as f64;

    let mut warnings = Vec::new();
    let capacity_per_day = if inverse_throughput > 0.0 { input.certified_taskers as f64 / inverse_throughput } else { 0.0 };
    let days_available = (input.deadline - input.now) as f64 / DAY_MS as f64;
    let days_needed = (capacity_per_day > 0.0).then(|| units as f64 / capacity_per_day * 1.25);
    let (turnaround, turnaround_why) = match days_needed {
        None => {
            warnings.push(format!("No tasker holds an active {} certification: no timeline can be promised.", input.track_name));
            (1.6, "no certified capacity in the track".to_string())
        }
        Some(need) => {
            let ratio = if days_available > 0.0 { need / days_available } else { f64::INFINITY };
            let m = if ratio <= 0.5 {
                1.0
            } else if ratio <= 0.75 {
                1.15
            } else if ratio <= 1.0 {
                1.35
            } else {
                warnings.push(format!(
                    "At current capacity the work needs {:.0} days but the deadline is in {:.0}: the deadline cannot be met.",
                    need.ceil(),
                    days_available.floor().max(0.0)
                ));
                1.6
            };
            (m, format!("{:.1} days needed of {:.1} available ({} certified taskers)", need, days_available.max(0.0), input.certified_taskers))
        }
    };
    let turnaround_amount = cents(running * (turnaround - 1.0));
    lines.push(LineItem { kind: LineKind::Turnaround, label: format!("Turnaround × {turnaround:.2}"), detail: turnaround_why, amount_cents: turnaround_amount });
    running += turnaround_amount as f64;

    let tier = card.volume_tiers.iter().filter(|t| units >= t.min_units).max_by_key(|t| t.min_units);
    let (pct, tier_why) = match tier {
        Some(t) => (t.discount_pct, format!("{units} units reach the {}-unit tier", t.min_units)),
        None => (0.0, format!("{units} units: below the first volume tier")),
    };
    lines.push(LineItem { kind: LineKind::Volume, label: format!("Volume discount {pct:.0} %"), detail: tier_why, amount_cents: -cents(running * pct / 100.0) });

    let total_cents = lines.iter().map(|l| l.amount_cents).sum();
    let timeline_days = days_needed.map(|d| d.ceil() as i64);
    Ok(Pricing {
        currency: card.currency.clone(),
        units,
        lines,
        total_cents,
        timeline_days,
        proposed_delivery: timeline_days.map(|d| input.now + d * DAY_MS),
        warnings,
    })
}

/// Adds a PM adjustment line (with its written reason) and recomputes the total.
pub fn adjust(mut p: Pricing, amount_cents: i64, reason: &str) -> Result<Pricing, crate::DomainError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(crate::DomainError::field("adjustments.reason", "an adjustment needs a written reason (up to 500 characters)"));
    }
    if p.total_cents + amount_cents < 0 {
        return Err(crate::DomainError::field("adjustments.amount_cents", "would make the total negative"));
    }
    p.lines.push(LineItem { kind: LineKind::Adjustment, label: "PM adjustment".into(), detail: reason.to_string(), amount_cents });
    p.total_cents += amount_cents;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn input(items: i64, task_types: &[&str]) -> QuoteInput {
        QuoteInput {
            modality: Modality::Text,
            task_types: task_types.iter().map(|s| s.to_string()).collect(),
            items,
            overlap: 2,
            schema_size: 10,
            mean_chars: Some(2000.0),
            mean_frames: None,
            specialty_multiplier: 1.0,
            track_name: "Clinical NLP".into(),
            certified_taskers: 10,
            now: NOW,
            deadline: NOW + 100 * DAY_MS,
            qa: QaConfig::default(),
        }
    }

    fn amounts(p: &Pricing) -> Vec<(LineKind, i64)> {
        p.lines.iter().map(|l| (l.kind, l.amount_cents)).collect()
    }

    /// Each case: the input, the expected line amounts and total, worked by hand.
    #[test]
    fn quotes_for_a_table_of_cases() {
        let card = RateCard::default_card();
        // 1. 100 notes × overlap 2 = 200 units of entities at $2.00 = $400.00.
        //    Capacity 10 × 150/day: 200 / 1500 × 1.25 = 0.17 days of 100: standard.
        let p = price(&card, &input(100, &["entities"])).unwrap();
        assert_eq!(amounts(&p), vec![(LineKind::Base, 40_000), (LineKind::Complexity, 0), (LineKind::Specialty, 0), (LineKind::Turnaround, 0), (LineKind::Volume, 0)]);
        assert_eq!((p.units, p.total_cents, p.timeline_days), (200, 40_000, Some(1)));

        // 2. Two task types, schema of 30 (+20 % complexity), 6,000-character notes
        //    (+20 %): base 200 × (2.00 + 2.50) = $900; complexity × 1.40 → +$360;
        //    specialty × 1.5 on $1,260 → +$630. Total $1,890.
        let mut i = input(100, &["entities", "coding"]);
        i.schema_size = 30;
        i.mean_chars = Some(6000.0);
        i.specialty_multiplier = 1.5;
        let p = price(&card, &i).unwrap();
        assert_eq!(amounts(&p), vec![(LineKind::Base, 40_000), (LineKind::Base, 50_000), (LineKind::Complexity, 36_000), (LineKind::Specialty, 63_000), (LineKind::Turnaround, 0), (LineKind::Volume, 0)]);
        assert_eq!(p.total_cents, 189_000);

        // 3. Volume: 30,000 items × 2 = 60,000 units of classification at $0.40 =
        //    $24,000; 60,000 units reach the 50,000 tier (10 %). Capacity 10 × 1000/day:
        //    60,000 / 10,000 × 1.25 = 7.5 days of 100: standard. Discount −$2,400.
        let p = price(&card, &input(30_000, &["classification"])).unwrap();
        assert_eq!(amounts(&p), vec![(LineKind::Base, 2_400_000), (LineKind::Complexity, 0), (LineKind::Specialty, 0), (LineKind::Turnaround, 0), (LineKind::Volume, -240_000)]);
        assert_eq!((p.total_cents, p.timeline_days), (2_160_000, Some(8)));

        // 4. Rush: 3,000 units of entities with 10 taskers × 150/day = 2 days
        //    × 1.25 = 2.5 days needed; deadline in 4 days: ratio 0.625 → × 1.15.
        let mut i = input(1500, &["entities"]);
        i.deadline = NOW + 4 * DAY_MS;
        let p = price(&card, &i).unwrap();
        assert_eq!(amounts(&p)[3], (LineKind::Turnaround, 90_000)); // 15 % of $6,000
        assert!(p.warnings.is_empty());

        // 5. Out of reach: deadline in 2 days → × 1.60 and a warning.
        i.deadline = NOW + 2 * DAY_MS;
        let p = price(&card, &i).unwrap();
        assert_eq!(amounts(&p)[3], (LineKind::Turnaround, 360_000));
        assert!(p.warnings[0].contains("cannot be met"), "{:?}", p.warnings);

        // 6. No certified taskers: no timeline, × 1.60, a warning.
        let mut i = input(10, &["entities"]);
        i.certified_taskers = 0;
        let p = price(&card, &i).unwrap();
        assert_eq!((p.timeline_days, p.proposed_delivery), (None, None));
        assert_eq!(p.total_cents, 4_000 + 2_400);

        // 7. Images: 50 series of 101 frames: complexity +2 × … capped at +2.0 → × 3.0.
        let mut i = input(50, &["bounding_box"]);
        i.modality = Modality::Image;
        i.mean_chars = None;
        i.mean_frames = Some(101.0);
        i.overlap = 1;
        let p = price(&card, &i).unwrap();
        assert_eq!(amounts(&p)[..2], [(LineKind::Base, 7_500), (LineKind::Complexity, 15_000)]);
    }

    #[test]
    fn lines_always_add_up_and_adjustments_need_reasons() {
        let card = RateCard::default_card();
        let mut i = input(777, &["entities", "relations", "assertion"]);
        i.schema_size = 23;
        i.mean_chars = Some(3333.0);
        i.specialty_multiplier = 1.37;
        i.deadline = NOW + 3 * DAY_MS;
        let p = price(&card, &i).unwrap();
        assert_eq!(p.lines.iter().map(|l| l.amount_cents).sum::<i64>(), p.total_cents);
        let adjusted = adjust(p.clone(), -5_000, "Returning client: first batch at a discount").unwrap();
        assert_eq!(adjusted.total_cents, p.total_cents - 5_000);
        assert_eq!(adjust(p.clone(), -5_000, "  ").unwrap_err().details.unwrap()["field"], "adjustments.reason");
        assert!(adjust(p, -1_000_000_000, "too much").is_err());
    }

    #[test]
    fn a_task_type_without_a_rate_is_named() {
        let mut card = RateCard::default_card();
        card.rates.retain(|r| r.task_type != "coding");
        let e = price(&card, &input(1, &["coding"])).unwrap_err();
        assert!(e.message().contains("coding"));
        assert!(RateCard::default_card().validate().is_ok());
        card.currency = "dollars".into();
        assert_eq!(card.validate().unwrap_err().details.unwrap()["field"], "currency");
    }
}
