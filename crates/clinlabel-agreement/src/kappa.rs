//! Agreement coefficients of the κ family over a [`Table`]: percent agreement,
//! Cohen's κ (unweighted, linear, quadratic), Scott's π, Fleiss' κ, Randolph's
//! free-marginal κ and Gwet's AC1 / AC2.

use crate::coefficient::{Coefficient, Reason};
use crate::table::{MISSING, Table};
use serde::{Deserialize, Serialize};

/// Weighting of disagreements for Cohen's κ and Gwet's AC2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// Identity: only exact agreement counts.
    Unweighted,
    /// Linear weights.
    Linear,
    /// Quadratic weights.
    Quadratic,
}

impl Weights {
    pub fn name(self) -> &'static str {
        match self {
            Weights::Unweighted => "unweighted",
            Weights::Linear => "linear",
            Weights::Quadratic => "quadratic",
        }
    }
}

/// Common precondition checks: at least two coders and one pairable unit.
fn precheck(t: &Table) -> Result<(), Reason> {
    if t.n_values() == 0 {
        return Err(Reason::NoData);
    }
    if t.n_coders() < 2 {
        return Err(Reason::TooFewCoders);
    }
    Ok(())
}

/// Percent (observed) agreement: for each pair of coders, the fraction of units
/// both coded on which they gave the same value; averaged over the coder pairs
/// that share at least one unit. With complete data this is nltk's
/// `AnnotationTask.avg_Ao()`; with two coders, the fraction of jointly coded units
/// with identical values.
pub fn percent_agreement(t: &Table) -> Coefficient {
    if let Err(r) = precheck(t) {
        return Coefficient::undefined(r);
    }
    let c = t.n_coders();
    let mut total = 0.0;
    let mut pairs = 0usize;
    for a in 0..c {
        for b in a + 1..c {
            let (mut n, mut agree) = (0usize, 0usize);
            for u in 0..t.n_units() {
                let r = t.row(u);
                if r[a] != MISSING && r[b] != MISSING {
                    n += 1;
                    if r[a] == r[b] {
                        agree += 1;
                    }
                }
            }
            if n > 0 {
                total += agree as f64 / n as f64;
                pairs += 1;
            }
        }
    }
    if pairs == 0 {
        Coefficient::undefined(Reason::NoPairableUnits)
    } else {
        Coefficient::defined(total / pairs as f64)
    }
}

/// The confusion matrix of a two-coder table over units coded by both, restricted
/// to the categories that occur in those units (scikit-learn's `labels`).
/// Returns (matrix k×k row-major, k, the domain indices of the k categories, n).
fn confusion(t: &Table) -> (Vec<f64>, usize, Vec<u32>, usize) {
    let mut seen = vec![false; t.n_categories()];
    let mut n = 0;
    for u in 0..t.n_units() {
        let r = t.row(u);
        if r[0] != MISSING && r[1] != MISSING {
            seen[r[0] as usize] = true;
            seen[r[1] as usize] = true;
            n += 1;
        }
    }
    let used: Vec<u32> = (0..seen.len() as u32)
        .filter(|&i| seen[i as usize])
        .collect();
    let mut pos = vec![usize::MAX; seen.len()];
    for (i, &c) in used.iter().enumerate() {
        pos[c as usize] = i;
    }
    let k = used.len();
    let mut m = vec![0.0; k * k];
    for u in 0..t.n_units() {
        let r = t.row(u);
        if r[0] != MISSING && r[1] != MISSING {
            m[pos[r[0] as usize] * k + pos[r[1] as usize]] += 1.0;
        }
    }
    (m, k, used, n)
}

fn two_coder_check(t: &Table) -> Result<(), Reason> {
    precheck(t)?;
    if t.n_coders() != 2 {
        return Err(Reason::NeedsTwoCoders);
    }
    Ok(())
}

/// Cohen's κ (1960; weighted: Cohen 1968) between the two coders of a two-coder
/// table, over the units both coded. Weights are by category rank among the
/// categories present in those units, exactly as scikit-learn's
/// `cohen_kappa_score(weights=...)`: linear `|i-j|`, quadratic `(i-j)^2`;
/// κ = 1 − Σ w·O / Σ w·E with E the outer product of the marginals over n.
pub fn cohen_kappa(t: &Table, weights: Weights) -> Coefficient {
    if let Err(r) = two_coder_check(t) {
        return Coefficient::undefined(r);
    }
    let (m, k, _, n) = confusion(t);
    if n == 0 {
        return Coefficient::undefined(Reason::NoPairableUnits);
    }
    if k < 2 {
        return Coefficient::undefined(Reason::SingleCategory);
    }
    let mut rows = vec![0.0; k];
    let mut cols = vec![0.0; k];
    for i in 0..k {
        for j in 0..k {
            rows[i] += m[i * k + j];
            cols[j] += m[i * k + j];
        }
    }
    let nf = n as f64;
    let (mut obs, mut exp) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let d = (i as f64 - j as f64).abs();
            let w = match weights {
                Weights::Unweighted => (i != j) as u8 as f64,
                Weights::Linear => d,
                Weights::Quadratic => d * d,
            };
            obs += w * m[i * k + j];
            exp += w * rows[i] * cols[j] / nf;
        }
    }
    if exp == 0.0 {
        return Coefficient::undefined(Reason::NoExpectedDisagreement);
    }
    Coefficient::defined(1.0 - obs / exp)
}

/// Scott's π (1955) between the two coders of a two-coder table, over the units
/// both coded: π = (Ao − Ae)/(1 − Ae) with Ae = Σ_k p_k², p_k the pooled share of
/// category k in both coders' values. Equals nltk's `AnnotationTask.pi()` for two
/// coders with complete data.
pub fn scott_pi(t: &Table) -> Coefficient {
    if let Err(r) = two_coder_check(t) {
        return Coefficient::undefined(r);
    }
    let (m, k, _, n) = confusion(t);
    if n == 0 {
        return Coefficient::undefined(Reason::NoPairableUnits);
    }
    if k < 2 {
        return Coefficient::undefined(Reason::SingleCategory);
    }
    let nf = n as f64;
    let mut ao = 0.0;
    let mut ae = 0.0;
    for i in 0..k {
        ao += m[i * k + i];
        let (mut r, mut c) = (0.0, 0.0);
        for j in 0..k {
            r += m[i * k + j];
            c += m[j * k + i];
        }
        let p = (r + c) / (2.0 * nf);
        ae += p * p;
    }
    ao /= nf;
    Coefficient::ratio(ao - ae, 1.0 - ae, Reason::SingleCategory)
}

/// Per-unit category counts over units with at least `min` values:
/// returns (counts n_units'×k row-major, m_u per kept unit).
fn unit_counts(t: &Table, min: usize) -> (Vec<u32>, Vec<u32>) {
    let k = t.n_categories();
    let mut counts = Vec::new();
    let mut ms = Vec::new();
    let mut row = vec![0u32; k];
    for u in 0..t.n_units() {
        row.iter_mut().for_each(|x| *x = 0);
        let mut m = 0;
        for &v in t.row(u) {
            if v != MISSING {
                row[v as usize] += 1;
                m += 1;
            }
        }
        if m as usize >= min {
            counts.extend_from_slice(&row);
            ms.push(m);
        }
    }
    (counts, ms)
}

/// (P̄, π_k) of Fleiss: P̄ over the units with ≥ 2 values, π_k over the units
/// with ≥ 1 value (Gwet 2014, §2.5 generalisation to missing ratings).
fn fleiss_parts(t: &Table) -> Result<(f64, Vec<f64>), Reason> {
    precheck(t)?;
    let k = t.n_categories();
    let (counts, ms) = unit_counts(t, 1);
    let mut pbar = 0.0;
    let mut n2 = 0usize;
    let mut pi = vec![0.0; k];
    for (u, &m) in ms.iter().enumerate() {
        let row = &counts[u * k..(u + 1) * k];
        let mf = m as f64;
        let mut s = 0.0;
        for (j, &c) in row.iter().enumerate() {
            let c = c as f64;
            s += c * (c - 1.0);
            pi[j] += c / mf;
        }
        if m >= 2 {
            n2 += 1;
            pbar += s / (mf * (mf - 1.0));
        }
    }
    if n2 == 0 {
        return Err(Reason::NoPairableUnits);
    }
    pbar /= n2 as f64;
    let n = ms.len() as f64;
    Ok((pbar, pi.into_iter().map(|x| x / n).collect()))
}

/// Fleiss' κ (1971) for any number of coders, with missing values handled as in
/// Gwet (2014, §2.5): P_u = Σ_k r_uk(r_uk − 1)/(r_u(r_u − 1)) averaged over the
/// units with r_u ≥ 2 values; π_k = mean over units with r_u ≥ 1 of r_uk/r_u;
/// P_e = Σ π_k². With every unit fully coded this is statsmodels'
/// `fleiss_kappa(table, method="fleiss")`; with missing values it is irrCAC's
/// `CAC_raw.fleiss()`.
pub fn fleiss_kappa(t: &Table) -> Coefficient {
    match fleiss_parts(t) {
        Err(r) => Coefficient::undefined(r),
        Ok((pbar, p)) => {
            if p.iter().filter(|&&x| x > 0.0).count() < 2 {
                return Coefficient::undefined(Reason::SingleCategory);
            }
            let pe: f64 = p.iter().map(|x| x * x).sum();
            Coefficient::ratio(pbar - pe, 1.0 - pe, Reason::SingleCategory)
        }
    }
}

/// Randolph's free-marginal multirater κ (2005): (P̄ − 1/q)/(1 − 1/q) with P̄ as in
/// Fleiss and q the number of categories of the table's domain (declared, or
/// observed when none was declared) — statsmodels' `fleiss_kappa(method="randolph")`
/// with q = the table's number of columns.
pub fn randolph_kappa(t: &Table) -> Coefficient {
    match fleiss_parts(t) {
        Err(r) => Coefficient::undefined(r),
        Ok((pbar, _)) => {
            let q = t.n_categories() as f64;
            if q < 2.0 {
                return Coefficient::undefined(Reason::SingleCategory);
            }
            Coefficient::defined((pbar - 1.0 / q) / (1.0 - 1.0 / q))
        }
    }
}

/// Gwet's weight matrix (q×q, row-major) on the domain: identity, or
/// 1 − |x_k − x_l|/(x_max − x_min) (linear), 1 − (x_k − x_l)²/(x_max − x_min)²
/// (quadratic), where x are the numeric category values, or ranks 1..q for labels
/// (Gwet 2014; irrCAC's `Weights`).
pub fn gwet_weight_matrix(t: &Table, weights: Weights) -> Vec<f64> {
    let q = t.n_categories();
    let x: Vec<f64> = match t.categories().numeric() {
        Some(v) => v.to_vec(),
        None => (1..=q).map(|i| i as f64).collect(),
    };
    let range = if q > 0 { x[q - 1] - x[0] } else { 0.0 };
    let mut w = vec![0.0; q * q];
    for k in 0..q {
        for l in 0..q {
            w[k * q + l] = match weights {
                Weights::Unweighted => (k == l) as u8 as f64,
                Weights::Linear => 1.0 - (x[k] - x[l]).abs() / range,
                Weights::Quadratic => 1.0 - (x[k] - x[l]).powi(2) / (range * range),
            };
        }
    }
    w
}

/// Gwet's AC1 (`Weights::Unweighted`) and AC2 (linear or quadratic weights) for
/// any number of coders with missing values (Gwet 2014, ch. 2 and 3):
/// p_a = mean over units with r_u ≥ 2 of Σ_k r_uk (r*_uk − 1)/(r_u(r_u − 1)),
/// r*_uk = Σ_l w_kl r_ul; π_k = mean over units with r_u ≥ 1 of r_uk / r_u;
/// p_e = (Σ w)/(q(q − 1)) · Σ_k π_k(1 − π_k); AC = (p_a − p_e)/(1 − p_e).
/// q is the size of the table's domain. Equals irrCAC's `CAC_raw.gwet()`.
pub fn gwet_ac(t: &Table, weights: Weights) -> Coefficient {
    if let Err(r) = precheck(t) {
        return Coefficient::undefined(r);
    }
    let q = t.n_categories();
    if q < 2 {
        return Coefficient::undefined(Reason::SingleCategory);
    }
    let w = gwet_weight_matrix(t, weights);
    let (counts, ms) = unit_counts(t, 1);
    let n = ms.len();
    let mut pi = vec![0.0; q];
    let mut pa = 0.0;
    let mut n2 = 0usize;
    let mut rstar = vec![0.0; q];
    for (u, &m) in ms.iter().enumerate() {
        let row = &counts[u * q..(u + 1) * q];
        let mf = m as f64;
        for k in 0..q {
            pi[k] += row[k] as f64 / mf;
        }
        if m >= 2 {
            n2 += 1;
            for k in 0..q {
                rstar[k] = (0..q).map(|l| w[k * q + l] * row[l] as f64).sum();
            }
            let s: f64 = (0..q).map(|k| row[k] as f64 * (rstar[k] - 1.0)).sum();
            pa += s / (mf * (mf - 1.0));
        }
    }
    if n2 == 0 {
        return Coefficient::undefined(Reason::NoPairableUnits);
    }
    pa /= n2 as f64;
    let wsum: f64 = w.iter().sum();
    let qf = q as f64;
    let pe = wsum
        * pi.iter()
            .map(|p| (p / n as f64) * (1.0 - p / n as f64))
            .sum::<f64>()
        / (qf * (qf - 1.0));
    Coefficient::ratio(pa - pe, 1.0 - pe, Reason::NoExpectedDisagreement)
}
