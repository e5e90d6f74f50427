//! Seeded percentile-bootstrap confidence intervals over units.

use crate::coefficient::{Coefficient, Reason};
use crate::rng::Rng;
use crate::table::Table;
use crate::{Metric, compute};
use serde::{Deserialize, Serialize};

/// Bootstrap settings. The same seed and input give the same interval on every
/// platform (the PRNG is this crate's xoshiro256**).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapOptions {
    /// Number of resamples (default 1000).
    pub replicates: usize,
    /// Two-sided confidence level in (0, 1) (default 0.95).
    pub confidence: f64,
    /// PRNG seed (default 0).
    pub seed: u64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            replicates: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// A point estimate with its percentile interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    pub estimate: Coefficient,
    pub lower: Coefficient,
    pub upper: Coefficient,
    pub confidence: f64,
    /// Replicates that gave a defined value (the others are left out).
    pub defined_replicates: usize,
    pub replicates: usize,
    pub seed: u64,
}

/// Resamples units with replacement `replicates` times, computes `metric` on each
/// resample, and returns the percentile interval (linear interpolation between
/// order statistics, numpy's default `quantile` method) of the defined replicate
/// values. Undefined replicates (e.g. a resample with a single category) are
/// dropped and counted.
pub fn bootstrap(t: &Table, metric: Metric, opts: &BootstrapOptions) -> ConfidenceInterval {
    let estimate = compute(t, metric);
    let mut rng = Rng::new(opts.seed);
    let n = t.n_units();
    let mut vals = Vec::with_capacity(opts.replicates);
    let mut idx = vec![0usize; n];
    if n > 0 {
        for _ in 0..opts.replicates {
            for i in idx.iter_mut() {
                *i = rng.below(n as u64) as usize;
            }
            if let Some(v) = compute(&t.select_units(&idx), metric).value() {
                vals.push(v);
            }
        }
    }
    let (lower, upper) = if vals.is_empty() {
        let u = Coefficient::undefined(Reason::AllReplicatesUndefined);
        (u, u)
    } else {
        vals.sort_by(f64::total_cmp);
        let a = (1.0 - opts.confidence) / 2.0;
        (
            Coefficient::defined(quantile(&vals, a)),
            Coefficient::defined(quantile(&vals, 1.0 - a)),
        )
    };
    ConfidenceInterval {
        estimate,
        lower,
        upper,
        confidence: opts.confidence,
        defined_replicates: vals.len(),
        replicates: opts.replicates,
        seed: opts.seed,
    }
}

/// Quantile of sorted data, linear interpolation (numpy "linear", Hyndman–Fan 7).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}
