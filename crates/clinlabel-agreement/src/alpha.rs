//! Krippendorff's α at the nominal, ordinal, interval and ratio levels, with
//! missing values, computed in two linear passes (no k×k coincidence matrix is
//! materialised, so continuous interval data with millions of distinct values is
//! fine).

use crate::coefficient::{Coefficient, Reason};
use crate::table::{MISSING, Table};
use serde::{Deserialize, Serialize};

/// Level of measurement (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// δ(c,k) = 0 if c = k else 1.
    Nominal,
    /// δ(c,k) = (Σ_{g=c..k} n_g − (n_c + n_k)/2)², n_g the pairable count of value g,
    /// in the domain's order.
    Ordinal,
    /// δ(c,k) = (c − k)².
    Interval,
    /// δ(c,k) = ((c − k)/(c + k))², 0 when c + k = 0.
    Ratio,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Nominal, Level::Ordinal, Level::Interval, Level::Ratio];
    pub fn name(self) -> &'static str {
        match self {
            Level::Nominal => "nominal",
            Level::Ordinal => "ordinal",
            Level::Interval => "interval",
            Level::Ratio => "ratio",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(s))
    }
}

/// Krippendorff's α = 1 − (n − 1) · Σ_u Σ_{i≠j∈u} δ(v_i, v_j)/(m_u − 1) / Σ_{c,k} n_c n_k δ(c,k),
/// over the pairable values (units with m_u ≥ 2 values). Same value as
/// `krippendorff.alpha(reliability_data, level_of_measurement=level)` (0.9.0)
/// whenever that package returns a number.
pub fn krippendorff_alpha(t: &Table, level: Level) -> Coefficient {
    alpha_weighted(t, level, None)
}

/// α where unit `u` counts `unit_weights[u]` times (used by unitizing α, whose
/// units are runs of identical character positions).
pub(crate) fn alpha_weighted(t: &Table, level: Level, unit_weights: Option<&[f64]>) -> Coefficient {
    let k = t.n_categories();
    let nc = t.n_coders();
    let cells = t.cells();
    if cells.iter().all(|&c| c == MISSING) {
        return Coefficient::undefined(Reason::NoData);
    }
    if nc < 2 {
        return Coefficient::undefined(Reason::TooFewCoders);
    }
    let values: Option<&[f64]> = t.categories().numeric();
    if matches!(level, Level::Interval | Level::Ratio) && values.is_none() {
        return Coefficient::undefined(Reason::NotNumeric);
    }
    // Pass 1: pairable counts n_c.
    let mut counts = vec![0.0f64; k];
    let mut any_pairable = false;
    for (u, row) in cells.chunks_exact(nc).enumerate() {
        let m = row.iter().filter(|&&c| c != MISSING).count();
        if m < 2 {
            continue;
        }
        let w = unit_weights.map_or(1.0, |w| w[u]);
        if w == 0.0 {
            continue;
        }
        any_pairable = true;
        for &c in row {
            if c != MISSING {
                counts[c as usize] += w;
            }
        }
    }
    if !any_pairable {
        return Coefficient::undefined(Reason::NoPairableUnits);
    }
    let distinct = counts.iter().filter(|&&x| x > 0.0).count();
    if distinct < 2 {
        return Coefficient::undefined(Reason::SingleCategory);
    }
    let n: f64 = counts.iter().sum();
    if level == Level::Ratio {
        let v = values.unwrap();
        let has_neg = (0..k).any(|c| counts[c] > 0.0 && v[c] < 0.0);
        let has_pos = (0..k).any(|c| counts[c] > 0.0 && v[c] > 0.0);
        if has_neg && has_pos {
            return Coefficient::undefined(Reason::MixedSignRatio);
        }
    }
    // Coordinates so that δ = (x_a − x_b)² for the interval and ordinal levels.
    let coord: Vec<f64> = match level {
        Level::Interval | Level::Ratio => values.unwrap().to_vec(),
        Level::Ordinal => {
            let mut cum = 0.0;
            counts
                .iter()
                .map(|&nc| {
                    let r = cum + nc / 2.0;
                    cum += nc;
                    r
                })
                .collect()
        }
        Level::Nominal => Vec::new(),
    };
    // Expected disagreement Σ_{c,k} n_c n_k δ(c,k).
    let de = match level {
        Level::Nominal => n * n - counts.iter().map(|x| x * x).sum::<f64>(),
        Level::Interval | Level::Ordinal => {
            let mean = (0..k).map(|c| counts[c] * coord[c]).sum::<f64>() / n;
            2.0 * n * (0..k).map(|c| counts[c] * (coord[c] - mean).powi(2)).sum::<f64>()
        }
        Level::Ratio => {
            let used: Vec<usize> = (0..k).filter(|&c| counts[c] > 0.0).collect();
            let mut s = 0.0;
            for (i, &a) in used.iter().enumerate() {
                for &b in &used[i + 1..] {
                    s += 2.0 * counts[a] * counts[b] * ratio_delta(coord[a], coord[b]);
                }
            }
            s
        }
    };
    if de == 0.0 {
        return Coefficient::undefined(Reason::NoExpectedDisagreement);
    }
    // Pass 2: observed disagreement.
    let mut dobs = 0.0;
    let mut buf: Vec<u32> = Vec::with_capacity(nc);
    for (u, row) in cells.chunks_exact(nc).enumerate() {
        buf.clear();
        buf.extend(row.iter().copied().filter(|&c| c != MISSING));
        let m = buf.len();
        if m < 2 {
            continue;
        }
        let w = unit_weights.map_or(1.0, |w| w[u]);
        let mut s = 0.0;
        match level {
            Level::Nominal => {
                let mut unequal = 0u32;
                for i in 0..m {
                    for j in i + 1..m {
                        unequal += (buf[i] != buf[j]) as u32;
                    }
                }
                s = unequal as f64;
            }
            Level::Interval | Level::Ordinal => {
                for i in 0..m {
                    let xi = coord[buf[i] as usize];
                    for j in i + 1..m {
                        let d = xi - coord[buf[j] as usize];
                        s += d * d;
                    }
                }
            }
            Level::Ratio => {
                for i in 0..m {
                    for j in i + 1..m {
                        s += ratio_delta(coord[buf[i] as usize], coord[buf[j] as usize]);
                    }
                }
            }
        }
        dobs += w * 2.0 * s / (m as f64 - 1.0);
    }
    Coefficient::defined(1.0 - (n - 1.0) * dobs / de)
}

fn ratio_delta(a: f64, b: f64) -> f64 {
    let s = a + b;
    if s == 0.0 { 0.0 } else { ((a - b) / s).powi(2) }
}
