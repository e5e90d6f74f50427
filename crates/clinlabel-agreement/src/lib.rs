//! placeholder
pub mod alpha;
pub mod assignment;
pub mod benchdata;
pub mod bootstrap;
pub mod coefficient;
pub mod geometry;
pub mod kappa;
pub mod rankings;
pub mod rng;
pub mod spans;
pub mod table;
pub mod transcripts;

pub use alpha::{Level, krippendorff_alpha, krippendorff_alpha_columns};
pub use bootstrap::{BootstrapOptions, ConfidenceInterval, bootstrap};
pub use coefficient::{Coefficient, Reason};
pub use kappa::{Weights, cohen_kappa, fleiss_kappa, gwet_ac, percent_agreement, randolph_kappa, scott_pi};
pub use table::{Categories, MISSING, Table, TableError};

use serde::{Deserialize, Serialize};

/// Every coefficient over a table, as a value that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Metric {
    PercentAgreement,
    CohenKappa { weights: Weights },
    ScottPi,
    FleissKappa,
    RandolphKappa,
    KrippendorffAlpha { level: Level },
    /// Gwet's AC1 (unweighted) or AC2 (linear / quadratic weights).
    GwetAc { weights: Weights },
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
            Metric::CohenKappa { weights: Weights::Unweighted } => "cohen_kappa".into(),
            Metric::CohenKappa { weights } => format!("cohen_kappa_{}", weights.name()),
            Metric::ScottPi => "scott_pi".into(),
            Metric::FleissKappa => "fleiss_kappa".into(),
            Metric::RandolphKappa => "randolph_kappa".into(),
            Metric::KrippendorffAlpha { level } => format!("krippendorff_alpha_{}", level.name()),
            Metric::GwetAc { weights: Weights::Unweighted } => "gwet_ac1".into(),
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
    Metric::all().into_iter().map(|m| NamedCoefficient { metric: m.name(), coefficient: compute(t, m) }).collect()
}
