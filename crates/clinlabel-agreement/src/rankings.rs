//! Agreement on rankings and scores (RLHF): Kendall's τ-b between two rankings
//! and Kendall's W across several. Criterion scores are a units × raters table:
//! use [`crate::krippendorff_alpha`] at the ordinal or interval level.

use crate::coefficient::{Coefficient, Reason};

/// Kendall's τ-b (Kendall 1945) between two paired score vectors (ranks or any
/// ordinal scores; ties allowed): (P − Q) / √((n₀ − n₁)(n₀ − n₂)), with P / Q
/// the concordant / discordant pairs, n₀ = n(n−1)/2 and n₁, n₂ the pairs tied
/// in the first / second vector. Same value as `scipy.stats.kendalltau`
/// (variant "b"). Undefined when either vector is constant. O(n²).
/// Panics if the vectors differ in length.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Coefficient {
    assert_eq!(x.len(), y.len(), "paired vectors");
    let n = x.len();
    if n < 2 {
        return Coefficient::undefined(Reason::TooFewItems);
    }
    let (mut p, mut q, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let a = (x[i] - x[j]).partial_cmp(&0.0).unwrap() as i64;
            let b = (y[i] - y[j]).partial_cmp(&0.0).unwrap() as i64;
            if a == 0 {
                tx += 1;
            }
            if b == 0 {
                ty += 1;
            }
            match a * b {
                1 => p += 1,
                -1 => q += 1,
                _ => {}
            }
        }
    }
    let n0 = (n * (n - 1) / 2) as i64;
    let den = (((n0 - tx) as f64) * ((n0 - ty) as f64)).sqrt();
    Coefficient::ratio((p - q) as f64, den, Reason::ConstantRanking)
}

/// Average ranks (1-based, ties get the mean rank).
pub fn rank_average(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

/// Kendall's coefficient of concordance W with the correction for ties
/// (Kendall & Babington Smith 1939; Siegel & Castellan 1988, §9.4):
/// `judges[j][i]` is judge j's score or rank for item i (converted to average
/// ranks per judge); W = 12 S / (m²(n³ − n) − m Σ_j T_j), S = Σ_i (R_i − R̄)²,
/// T_j = Σ (t³ − t) over judge j's tie groups. Undefined with fewer than two
/// judges or items, or when every judge ties everything. Panics if the judges'
/// vectors differ in length.
pub fn kendall_w(judges: &[Vec<f64>]) -> Coefficient {
    let m = judges.len();
    if m < 2 {
        return Coefficient::undefined(Reason::TooFewCoders);
    }
    let n = judges[0].len();
    assert!(
        judges.iter().all(|j| j.len() == n),
        "every judge scores every item"
    );
    if n < 2 {
        return Coefficient::undefined(Reason::TooFewItems);
    }
    let mut sums = vec![0.0; n];
    let mut t_total = 0.0;
    for j in judges {
        let r = rank_average(j);
        for i in 0..n {
            sums[i] += r[i];
        }
        let mut sorted = j.clone();
        sorted.sort_by(f64::total_cmp);
        let mut k = 0;
        while k < n {
            let mut e = k;
            while e + 1 < n && sorted[e + 1] == sorted[k] {
                e += 1;
            }
            let t = (e - k + 1) as f64;
            t_total += t * t * t - t;
            k = e + 1;
        }
    }
    let mean = sums.iter().sum::<f64>() / n as f64;
    let s: f64 = sums.iter().map(|r| (r - mean).powi(2)).sum();
    let (mf, nf) = (m as f64, n as f64);
    let den = mf * mf * (nf.powi(3) - nf) - mf * t_total;
    Coefficient::ratio(12.0 * s, den, Reason::ConstantRanking)
}
