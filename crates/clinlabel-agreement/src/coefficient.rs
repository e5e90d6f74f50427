//! The result type shared by every coefficient: a value or a typed reason why it
//! is undefined. NaN never escapes this crate.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a coefficient has no value on the given input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The input holds no values at all.
    NoData,
    /// The coefficient compares exactly two coders and the table has a different number.
    NeedsTwoCoders,
    /// Fewer than two coders contributed values.
    TooFewCoders,
    /// No unit carries two or more values, so no pair of judgements can be compared.
    NoPairableUnits,
    /// Every pairable value is the same category: chance agreement is 1 and the
    /// chance-corrected ratio is 0/0.
    SingleCategory,
    /// The expected (chance) disagreement is zero for another reason than a single
    /// category, e.g. a weighting that makes all observed categories equivalent.
    NoExpectedDisagreement,
    /// The level or weighting needs numeric values and the table holds labels.
    NotNumeric,
    /// The ratio level needs values of one sign (zero allowed).
    MixedSignRatio,
    /// Fewer than two ranked items / categories were given.
    TooFewItems,
    /// The reference (first annotator) holds nothing to recover (recall, DER, WER denominators).
    EmptyReference,
    /// The hypothesis / second annotator holds nothing (precision denominator).
    EmptyHypothesis,
    /// Both sides are empty: there is nothing to compare.
    BothEmpty,
    /// One of the two rankings is constant, so τ-b has a zero denominator.
    ConstantRanking,
    /// Every bootstrap replicate was undefined.
    AllReplicatesUndefined,
    /// No points: a distance cannot be computed.
    NoPoints,
    /// The coefficient needs every unit rated by every coder (Kendall's W, τ-b).
    MissingValues,
    /// A polygon that is self-intersecting, has fewer than three distinct
    /// vertices or a non-finite coordinate.
    InvalidGeometry,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::NoData => "no values in the input",
            Reason::NeedsTwoCoders => "this coefficient compares exactly two coders",
            Reason::TooFewCoders => "fewer than two coders contributed values",
            Reason::NoPairableUnits => "no unit has values from two or more coders",
            Reason::SingleCategory => {
                "all pairable values are one category: chance agreement is 1, the ratio is 0/0"
            }
            Reason::NoExpectedDisagreement => "expected (chance) disagreement is zero",
            Reason::NotNumeric => "this level needs numeric values",
            Reason::MixedSignRatio => "ratio level needs values of one sign",
            Reason::TooFewItems => "fewer than two items",
            Reason::EmptyReference => "the reference side is empty",
            Reason::EmptyHypothesis => "the hypothesis side is empty",
            Reason::BothEmpty => "both sides are empty",
            Reason::ConstantRanking => "a ranking is constant (all ties)",
            Reason::AllReplicatesUndefined => "every bootstrap replicate was undefined",
            Reason::NoPoints => "no points to measure a distance between",
            Reason::MissingValues => "needs every unit rated by every coder",
            Reason::InvalidGeometry => "not a simple polygon (self-intersecting or degenerate)",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A coefficient: either a finite value or undefined with its reason.
///
/// Serialises as `{"status":"defined","value":0.74}` or
/// `{"status":"undefined","reason":"single_category"}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Coefficient {
    Defined { value: f64 },
    Undefined { reason: Reason },
}

impl Coefficient {
    /// A defined value; a non-finite `v` (which would be a bug) becomes
    /// `Undefined(NoExpectedDisagreement)` rather than leaking NaN.
    pub fn defined(v: f64) -> Self {
        if v.is_finite() {
            Coefficient::Defined { value: v }
        } else {
            Coefficient::Undefined {
                reason: Reason::NoExpectedDisagreement,
            }
        }
    }
    pub fn undefined(reason: Reason) -> Self {
        Coefficient::Undefined { reason }
    }
    pub fn value(&self) -> Option<f64> {
        match self {
            Coefficient::Defined { value } => Some(*value),
            Coefficient::Undefined { .. } => None,
        }
    }
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Coefficient::Defined { .. } => None,
            Coefficient::Undefined { reason } => Some(*reason),
        }
    }
    pub fn is_defined(&self) -> bool {
        matches!(self, Coefficient::Defined { .. })
    }
    /// `num / den`, undefined with `reason` when `den == 0`.
    pub(crate) fn ratio(num: f64, den: f64, reason: Reason) -> Self {
        if den == 0.0 {
            Self::undefined(reason)
        } else {
            Self::defined(num / den)
        }
    }
}

impl fmt::Display for Coefficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Coefficient::Defined { value } => write!(f, "{value:.6}"),
            Coefficient::Undefined { reason } => write!(f, "undefined ({reason})"),
        }
    }
}
