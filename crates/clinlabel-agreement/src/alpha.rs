//! Krippendorff's α at the nominal, ordinal, interval and ratio levels, with
//! missing values, computed in two linear passes (no k×k coincidence matrix is
//! materialised, so continuous interval data with millions of distinct values is
//! fine).

use crate::coefficient::{Coefficient, Reason};
use crate::table::{Interner, MISSING, Table, TableError};
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
    pub const ALL: [Level; 4] = [
        Level::Nominal,
        Level::Ordinal,
        Level::Interval,
        Level::Ratio,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Level::Nominal => "nominal",
            Level::Ordinal => "ordinal",
            Level::Interval => "interval",
            Level::Ratio => "ratio",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
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
    // Pass 1: pairable counts n_c, and the observed disagreement for the levels
    // whose δ depends on the values only (all but ordinal).
    let fused = level != Level::Ordinal;
    let vals: &[f64] = values.unwrap_or(&[]);
    let mut counts = vec![0.0f64; k];
    let mut any_pairable = false;
    let mut dobs = 0.0;
    let mut buf: Vec<u32> = Vec::with_capacity(nc);
    for (u, row) in cells.chunks_exact(nc).enumerate() {
        buf.clear();
        buf.extend(row.iter().copied().filter(|&c| c != MISSING));
        if buf.len() < 2 {
            continue;
        }
        let w = unit_weights.map_or(1.0, |w| w[u]);
        if w == 0.0 {
            continue;
        }
        any_pairable = true;
        for &c in &buf {
            counts[c as usize] += w;
        }
        if fused {
            dobs += w * unit_disagreement(level, &buf, vals);
        }
    }
    if !any_pairable {
        return Coefficient::undefined(Reason::NoPairableUnits);
    }
    finish(level, &counts, vals, dobs, |coord| {
        // Pass 2 (ordinal only): observed disagreement on mid-rank coordinates.
        let mut dobs = 0.0;
        for (u, row) in cells.chunks_exact(nc).enumerate() {
            buf.clear();
            buf.extend(row.iter().copied().filter(|&c| c != MISSING));
            if buf.len() < 2 {
                continue;
            }
            let w = unit_weights.map_or(1.0, |w| w[u]);
            dobs += w * unit_disagreement(Level::Interval, &buf, coord);
        }
        dobs
    })
}

/// The rest of α once the pairable counts (indexed like `values`) and, for all
/// levels but ordinal, the observed disagreement are known. `ordinal_pass`
/// computes the observed disagreement from mid-rank coordinates.
fn finish(
    level: Level,
    counts: &[f64],
    values: &[f64],
    mut dobs: f64,
    ordinal_pass: impl FnOnce(&[f64]) -> f64,
) -> Coefficient {
    let k = counts.len();
    let distinct = counts.iter().filter(|&&x| x > 0.0).count();
    if distinct < 2 {
        return Coefficient::undefined(Reason::SingleCategory);
    }
    let n: f64 = counts.iter().sum();
    if level == Level::Ratio {
        let v = values;
        let has_neg = (0..k).any(|c| counts[c] > 0.0 && v[c] < 0.0);
        let has_pos = (0..k).any(|c| counts[c] > 0.0 && v[c] > 0.0);
        if has_neg && has_pos {
            return Coefficient::undefined(Reason::MixedSignRatio);
        }
    }
    // Coordinates so that δ = (x_a − x_b)² for the interval and ordinal levels.
    let coord: Vec<f64> = match level {
        Level::Interval | Level::Ratio => values.to_vec(),
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
            2.0 * n
                * (0..k)
                    .map(|c| counts[c] * (coord[c] - mean).powi(2))
                    .sum::<f64>()
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
    if level == Level::Ordinal {
        dobs = ordinal_pass(&coord);
    }
    Coefficient::defined(1.0 - (n - 1.0) * dobs / de)
}

/// Krippendorff's α straight from coder-major reliability data (`data[coder][unit]`,
/// NaN = missing), the layout `krippendorff.alpha(reliability_data=...)` takes,
/// without building a [`Table`]: one pass for the nominal, interval and ratio
/// levels (ordinal goes through a table, as its distances need the value counts
/// first). Same value as `krippendorff_alpha(&Table::from_reliability_data(data)?, level)`.
pub fn krippendorff_alpha_columns<R: AsRef<[f64]>>(
    data: &[R],
    level: Level,
) -> Result<Coefficient, TableError> {
    if level == Level::Ordinal {
        return Ok(krippendorff_alpha(
            &Table::from_reliability_data(data)?,
            level,
        ));
    }
    let cols: Vec<&[f64]> = data.iter().map(|r| r.as_ref()).collect();
    let n_units = cols.first().map_or(0, |c| c.len());
    for (c, col) in cols.iter().enumerate() {
        if col.len() != n_units {
            return Err(TableError::RaggedRow {
                unit: c,
                len: col.len(),
                expected: n_units,
            });
        }
    }
    let mut interner = Interner::default();
    let mut counts: Vec<f64> = Vec::new();
    let mut ids: Vec<u32> = vec![0; cols.len()];
    let mut dobs = 0.0;
    let mut any_value = false;
    let mut any_pairable = false;
    for u in 0..n_units {
        let mut m = 0;
        for (c, col) in cols.iter().enumerate() {
            let Some(id) = interner.intern(col[u]) else {
                return Err(TableError::NonFinite { unit: u, coder: c });
            };
            if id != MISSING {
                ids[m] = id;
                m += 1;
            }
        }
        if m == 0 {
            continue;
        }
        any_value = true;
        if m < 2 {
            continue;
        }
        any_pairable = true;
        if counts.len() < interner.len() {
            counts.resize(interner.len(), 0.0);
        }
        let unit = &ids[..m];
        for &id in unit {
            counts[id as usize] += 1.0;
        }
        dobs += unit_disagreement(level, unit, interner.values());
    }
    if !any_value {
        return Ok(Coefficient::undefined(Reason::NoData));
    }
    if cols.len() < 2 {
        return Ok(Coefficient::undefined(Reason::TooFewCoders));
    }
    if !any_pairable {
        return Ok(Coefficient::undefined(Reason::NoPairableUnits));
    }
    counts.resize(interner.len(), 0.0);
    Ok(finish(level, &counts, interner.values(), dobs, |_| {
        unreachable!("ordinal goes through a table")
    }))
}

fn ratio_delta(a: f64, b: f64) -> f64 {
    let s = a + b;
    if s == 0.0 { 0.0 } else { ((a - b) / s).powi(2) }
}

/// Σ_{i≠j} δ(v_i, v_j) / (m − 1) for one unit's values (category ids), with
/// `coord` the numeric coordinate of each category (unused for nominal).
#[inline]
fn unit_disagreement(level: Level, buf: &[u32], coord: &[f64]) -> f64 {
    let m = buf.len();
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
    2.0 * s / (m as f64 - 1.0)
}
