//! # clinlabel-agreement
//!
//! Inter-annotator agreement for every annotation type clinlabel supports, with
//! no IO (no files, clock or environment): usable from the batch pages, the
//! completion report and the command line ([`cli::run`]).
//!
//! ## Results never carry NaN
//!
//! Every coefficient is a [`Coefficient`]: `Defined { value }` (always finite) or
//! `Undefined { reason }` with a typed [`Reason`]. It serialises as
//! `{"status":"defined","value":0.74}` or
//! `{"status":"undefined","reason":"single_category"}`. No function panics on a
//! degenerate input.
//!
//! ## Coefficients over a units × coders table ([`Table`], missing values allowed)
//!
//! | function | definition | agrees with (1e-9, `tests/reference.rs`) |
//! |---|---|---|
//! | [`percent_agreement`] | mean over coder pairs of the share of jointly coded units with equal values | nltk `avg_Ao` (complete data) |
//! | [`cohen_kappa`] | Cohen (1960); weighted (Cohen 1968) with linear `|i−j|` or quadratic `(i−j)²` weights on category ranks; two coders, units both coded | scikit-learn `cohen_kappa_score(weights=)`, statsmodels `cohens_kappa`, nltk `kappa` |
//! | [`scott_pi`] | Scott (1955), pooled marginals; two coders | nltk `pi` |
//! | [`fleiss_kappa`] | Fleiss (1971); with missing values as Gwet (2014 §2.5): P̄ over units with ≥ 2 ratings, π_k over units with ≥ 1 | statsmodels `fleiss_kappa` (complete), irrCAC `fleiss` (missing), nltk multi-π |
//! | [`randolph_kappa`] | Randolph (2005) free-marginal, q = size of the domain | statsmodels `fleiss_kappa(method="randolph")`, nltk `S` |
//! | [`krippendorff_alpha`] | Krippendorff (2011, "Computing Krippendorff's Alpha-Reliability"), [`Level`] nominal / ordinal / interval / ratio | `krippendorff` 0.9.0, nltk `alpha` (missing values left out) |
//! | [`gwet_ac`] | Gwet's AC1 (unweighted) and AC2 (linear / quadratic weights on category values), Gwet (2014) | irrCAC `CAC.gwet()` |
//! | [`bootstrap()`] | seeded percentile bootstrap over units (xoshiro256**, numpy-linear quantiles) | — |
//!
//! The published worked example of Krippendorff (2011) is reproduced in
//! `tests/coefficients.rs` (nominal 0.743, ordinal 0.815, interval 0.849, ratio
//! 0.797), with the Wikipedia Cohen (κ = 0.4) and Fleiss (κ = 0.210) examples and
//! hand-computed weighted κ, Scott's π, Randolph's κ and AC1.
//!
//! Domain order: numeric values sort numerically; labels lexicographically
//! (byte order, as numpy / scikit-learn), or in a declared order
//! ([`Table::from_labels_with_domain`]) which also fixes q for Randolph and Gwet.
//! Cohen's weights use ranks among the categories present in the jointly coded
//! units, exactly as scikit-learn; Gwet's AC2 weights use the numeric values
//! (ranks 1..q for labels), as irrCAC.
//!
//! Krippendorff's α is computed in linear passes without a k×k coincidence
//! matrix: interval and ordinal distances are squared differences of values or
//! mid-ranks, so De = 2n Σ n_c (x_c − x̄)². [`krippendorff_alpha_columns`] takes
//! the coder-major array `krippendorff.alpha` takes, without building a table
//! (see `bench/agreement-alpha.sh`).
//!
//! ### Degenerate inputs: what "undefined" means, and how it differs elsewhere
//!
//! | input | clinlabel | others |
//! |---|---|---|
//! | no values | `NoData` | krippendorff raises; nltk raises |
//! | one coder | `TooFewCoders` | krippendorff raises ("at least one unit with two coders") |
//! | no unit coded by two coders | `NoPairableUnits` | krippendorff raises; sklearn raises on empty input |
//! | one category among the pairable values | `SingleCategory` for κ, π, Fleiss, α and AC1/AC2 over a one-value domain | **krippendorff raises** ("more than one value in the domain"); **nltk returns 1** (α, and κ/π through its `Ae = 1` special case); scikit-learn and statsmodels return **NaN**; irrCAC returns 1 for AC1 (it sets p_e = 1 − 1e-15) and raises ZeroDivisionError for AC2 and Fleiss |
//! | Cohen / Scott on ≠ 2 coders | `NeedsTwoCoders` | nltk averages pairwise κ |
//! | interval / ratio α on labels | `NotNumeric` | krippendorff raises |
//! | ratio α with negative and positive values | `MixedSignRatio` | krippendorff computes a value (δ = 0 when c + k = 0) |
//!
//! Why `SingleCategory` rather than 1: when every judgement is the same category
//! the chance-corrected ratio is 0/0 — the data cannot tell reliable coders from
//! a constant. Percent agreement stays defined (1.0). When a second category is
//! *declared* but unused, the free-marginal coefficients (Randolph, AC1) are
//! defined (q ≥ 2) while κ, π, Fleiss and α stay undefined.
//!
//! nltk pitfall: `AnnotationTask` treats `None` as a label unless missing values
//! are left out of its data; the reference script leaves them out, and
//! `tests/reference.rs` checks that the None-as-label value differs.
//!
//! ## Spans (clinical text) — [`spans`]
//!
//! Offsets are **Unicode scalar values** of the stored text (Rust `char`s, Python
//! `str` indices), half-open `[start, end)`; [`spans::Span::text`] slices by them.
//! [`spans::match_spans`] is an optimal one-to-one matching within a label:
//! exact (same start, end, label) or overlap (≥ 1 shared character; maximum
//! number of pairs, then maximum shared characters), solved by the Hungarian
//! algorithm ([`assignment`]) on each connected cluster of overlapping spans —
//! never greedy. [`spans::span_agreement`] gives P/R/F1 of B against A per
//! label, micro (pooled counts) and macro (mean over labels where defined).
//! [`spans::unitizing_alpha`] is Krippendorff's unitizing α (ᵤα, Krippendorff
//! 2004) over the character positions of the text, per label and jointly; it
//! reproduces the paper's worked example (α_c = .7285, joint .8587). As a simpler
//! companion, [`spans::position_alpha`] is nominal α with every character
//! position a unit (value = the set of labels covering it).
//! Relations match when both endpoints are matched (overlap matching), in the
//! same direction, with equal type. Attributes of matched spans (assertion
//! status, assigned code) are scored by percent agreement, Cohen's κ and
//! nominal α over the matched pairs.
//!
//! ## Geometry (images) — [`geometry`]
//!
//! Box IoU (2D, 3D); polygon IoU with the intersection area computed exactly by
//! boundary integration ([`polygon`]; checked against shapely/GEOS to 1e-9);
//! mask Dice and IoU; symmetric Hausdorff distance, its 95th percentile (pooled
//! boundary distances of both directions, linear interpolation, as medpy
//! `hd95`) and mean surface distance, from an exact Euclidean distance transform
//! (Felzenszwalb & Huttenlocher) with per-axis spacing in millimetres; keypoint
//! mean distance and COCO OKS; instances matched one-to-one by IoU (Hungarian,
//! threshold) before P/R/F1 and mean IoU.
//!
//! ## Transcripts and speakers (audio) — [`transcripts`]
//!
//! WER and CER by Levenshtein alignment after the stated normalisation
//! ([`transcripts::NORMALISATION`]: lower-case, punctuation to spaces, inner
//! apostrophes kept); each result carries its counts and the normalisation.
//! DER as pyannote.metrics `DiarizationErrorRate()` defaults (no collar, overlap
//! scored): Hungarian speaker mapping on co-occurrence, missed / false alarm /
//! confusion reported separately (checked against pyannote.metrics to 1e-9).
//!
//! ## Rankings and scores (RLHF) — [`rankings`]
//!
//! Kendall's τ-b (checked against scipy) and Kendall's W with the tie
//! correction. Criterion scores are a table: α at the ordinal or interval level.
//!
//! ## Command line — [`cli`]
//!
//! `clinlabel agreement FILE [FILE2] [--json] [--metric M] [--level L]` is
//! [`cli::run`] over (file name, contents) pairs; the input formats are
//! documented there.
//!
//! ## Reference values and benchmark
//!
//! `ci/testdata/agreement-reference.sh` installs scikit-learn, statsmodels,
//! krippendorff 0.9.0, nltk, irrCAC and pyannote.metrics in a throwaway
//! virtualenv and writes `${CLINLABEL_TESTDATA}/agreement/reference.json`, which
//! `tests/reference.rs` requires (it fails, never skips, without it).
//! `bench/agreement-alpha.sh` times α on 1,000,000 × 5 with 10 % missing beside
//! the krippendorff package on the same data and prints the ratio.
pub mod alpha;
pub mod assignment;
pub mod benchdata;
pub mod bootstrap;
pub mod cli;
pub mod coefficient;
pub mod geometry;
pub mod kappa;
pub mod polygon;
pub mod rankings;
pub mod rng;
pub mod spans;
pub mod table;
pub mod transcripts;

pub use alpha::{Level, krippendorff_alpha, krippendorff_alpha_columns};
pub use bootstrap::{BootstrapOptions, ConfidenceInterval, bootstrap};
pub use coefficient::{Coefficient, Reason};
pub use kappa::{
    Weights, cohen_kappa, fleiss_kappa, gwet_ac, percent_agreement, randolph_kappa, scott_pi,
};
pub use table::{Categories, MISSING, Table, TableError};

use serde::{Deserialize, Serialize};

/// Every coefficient over a table, as a value that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Metric {
    PercentAgreement,
    CohenKappa {
        weights: Weights,
    },
    ScottPi,
    FleissKappa,
    RandolphKappa,
    KrippendorffAlpha {
        level: Level,
    },
    /// Gwet's AC1 (unweighted) or AC2 (linear / quadratic weights).
    GwetAc {
        weights: Weights,
    },
}

impl Metric {
    /// Every metric, in report order.
    pub fn all() -> Vec<Metric> {
        let mut v = vec![Metric::PercentAgreement];
        for w in [Weights::Unweighted, Weights::Linear, Weights::Quadratic] {
            v.push(Metric::CohenKappa { weights: w });
        }
        v.extend([Metric::ScottPi, Metric::FleissKappa, Metric::RandolphKappa]);
        for l in Level::ALL {
            v.push(Metric::KrippendorffAlpha { level: l });
        }
        for w in [Weights::Unweighted, Weights::Linear, Weights::Quadratic] {
            v.push(Metric::GwetAc { weights: w });
        }
        v
    }
    /// A stable short name, e.g. `cohen_kappa_linear`, `krippendorff_alpha_ordinal`, `gwet_ac1`.
    pub fn name(&self) -> String {
        match self {
            Metric::PercentAgreement => "percent_agreement".into(),
            Metric::CohenKappa {
                weights: Weights::Unweighted,
            } => "cohen_kappa".into(),
            Metric::CohenKappa { weights } => format!("cohen_kappa_{}", weights.name()),
            Metric::ScottPi => "scott_pi".into(),
            Metric::FleissKappa => "fleiss_kappa".into(),
            Metric::RandolphKappa => "randolph_kappa".into(),
            Metric::KrippendorffAlpha { level } => format!("krippendorff_alpha_{}", level.name()),
            Metric::GwetAc {
                weights: Weights::Unweighted,
            } => "gwet_ac1".into(),
            Metric::GwetAc { weights } => format!("gwet_ac2_{}", weights.name()),
        }
    }
}

/// Compute one metric.
pub fn compute(t: &Table, metric: Metric) -> Coefficient {
    match metric {
        Metric::PercentAgreement => percent_agreement(t),
        Metric::CohenKappa { weights } => cohen_kappa(t, weights),
        Metric::ScottPi => scott_pi(t),
        Metric::FleissKappa => fleiss_kappa(t),
        Metric::RandolphKappa => randolph_kappa(t),
        Metric::KrippendorffAlpha { level } => krippendorff_alpha(t, level),
        Metric::GwetAc { weights } => gwet_ac(t, weights),
    }
}

/// One row of a coefficient report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedCoefficient {
    pub metric: String,
    #[serde(flatten)]
    pub coefficient: Coefficient,
}

/// Every coefficient over the table, in [`Metric::all`] order.
pub fn all_coefficients(t: &Table) -> Vec<NamedCoefficient> {
    Metric::all()
        .into_iter()
        .map(|m| NamedCoefficient {
            metric: m.name(),
            coefficient: compute(t, m),
        })
        .collect()
}
