//! Seeded synthetic inputs for the benchmarks (`examples/bench_alpha.rs`,
//! `bench/agreement-alpha.sh`), also usable by `clinlabel bench agreement`.
//! Pure functions: no clock, no IO.

use crate::rng::Rng;
use crate::spans::Span;

/// Coder-major reliability data (`data[c * n_units + u]`), values 1..=5 drawn
/// around a per-unit true value (each coder agrees with it with probability 0.6),
/// NaN for a missing value with probability `missing`.
pub fn alpha_data(n_units: usize, n_coders: usize, missing: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let truth: Vec<f64> = (0..n_units).map(|_| 1.0 + rng.below(5) as f64).collect();
    let mut out = vec![0.0; n_units * n_coders];
    for c in 0..n_coders {
        for u in 0..n_units {
            out[c * n_units + u] = if rng.unit_f64() < missing {
                f64::NAN
            } else if rng.unit_f64() < 0.6 {
                truth[u]
            } else {
                1.0 + rng.below(5) as f64
            };
        }
    }
    out
}

/// Two annotators' spans over one document: `n` spans each over 6 labels, B
/// derived from A with jittered boundaries, some relabelled, dropped or added.
pub fn span_document(n: usize, seed: u64) -> (Vec<Span>, Vec<Span>) {
    let labels = [
        "disease",
        "symptom",
        "medication",
        "procedure",
        "anatomy",
        "lab_value",
    ];
    let mut rng = Rng::new(seed);
    let mut a = Vec::with_capacity(n);
    let mut pos = 0usize;
    for _ in 0..n {
        pos += 1 + rng.below(40) as usize;
        let len = 1 + rng.below(25) as usize;
        a.push(Span::new(pos, pos + len, labels[rng.below(6) as usize]));
    }
    let mut b = Vec::with_capacity(n);
    for s in &a {
        if b.len() == n {
            break;
        }
        let r = rng.below(100);
        if r < 5 {
            // dropped; add a spurious one instead
            let st = s.start + rng.below(10) as usize;
            b.push(Span::new(
                st,
                st + 1 + rng.below(20) as usize,
                labels[rng.below(6) as usize],
            ));
            continue;
        }
        let label = if r < 12 {
            labels[rng.below(6) as usize]
        } else {
            s.label.as_str()
        };
        let st = (s.start as i64 + rng.below(7) as i64 - 3).max(0) as usize;
        let en = (s.end as i64 + rng.below(7) as i64 - 3).max(st as i64 + 1) as usize;
        b.push(Span::new(st, en, label));
    }
    (a, b)
}
