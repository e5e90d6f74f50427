//! Times Krippendorff's α (nominal, interval) on a seeded 1,000,000 × 5 table
//! with 10 % missing values, and span matching on 5,000 × 5,000 spans.
//!
//! `cargo run --release -p clinlabel-agreement --example bench_alpha -- [--units N]
//! [--coders C] [--missing P] [--seed S] [--write FILE]`
//! With `--write`, the coder-major data is written as little-endian f64 (NaN =
//! missing) for the Python side of `bench/agreement-alpha.sh`. Prints JSON.
use clinlabel_agreement::spans::{MatchMode, match_spans, span_agreement, span_report};
use clinlabel_agreement::{
    Level, Table, benchdata, krippendorff_alpha, krippendorff_alpha_columns,
};
use std::time::Instant;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (out.unwrap(), best)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1].clone())
    };
    let units: usize = arg("--units").map_or(1_000_000, |s| s.parse().unwrap());
    let coders: usize = arg("--coders").map_or(5, |s| s.parse().unwrap());
    let missing: f64 = arg("--missing").map_or(0.1, |s| s.parse().unwrap());
    let seed: u64 = arg("--seed").map_or(2026, |s| s.parse().unwrap());
    let data = benchdata::alpha_data(units, coders, missing, seed);
    if let Some(path) = arg("--write") {
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&path, bytes).expect("write data");
    }
    let rows: Vec<&[f64]> = data.chunks_exact(units).collect();
    let (table, build_s) = best(3, || Table::from_reliability_data(&rows).unwrap());
    let mut results = Vec::new();
    for level in [Level::Nominal, Level::Interval] {
        let (c, alpha_s) = best(5, || krippendorff_alpha(&table, level));
        // End to end from the raw coder-major array, as the Python package is timed.
        let (c2, e2e_s) = best(5, || krippendorff_alpha_columns(&rows, level).unwrap());
        assert_eq!(
            c.value().map(f64::to_bits),
            c2.value().map(f64::to_bits),
            "table and column paths agree"
        );
        let (_, via_table_s) = best(3, || {
            krippendorff_alpha(&Table::from_reliability_data(&rows).unwrap(), level)
        });
        results.push(format!(
            "{{\"level\":\"{}\",\"value\":{},\"alpha_seconds\":{alpha_s:.6},\"end_to_end_seconds\":{e2e_s:.6},\"table_build_and_alpha_seconds\":{via_table_s:.6}}}",
            level.name(),
            c.value().map_or("null".to_string(), |v| format!("{v:.17e}")),
        ));
    }
    let (a, b) = benchdata::span_document(5000, seed);
    let (pairs, match_s) = best(5, || match_spans(&a, &b, MatchMode::Overlap));
    let (_, report_s) = best(5, || {
        (
            span_agreement(&a, &b, MatchMode::Exact),
            span_agreement(&a, &b, MatchMode::Overlap),
        )
    });
    let (_, full_s) = best(3, || span_report(&a, &b, None, None));
    println!(
        "{{\"units\":{units},\"coders\":{coders},\"missing\":{missing},\"seed\":{seed},\"table_build_seconds\":{build_s:.6},\"alpha\":[{}],\
         \"spans\":{{\"n_a\":{},\"n_b\":{},\"overlap_pairs\":{},\"overlap_match_seconds\":{match_s:.6},\"exact_and_overlap_prf_seconds\":{report_s:.6},\"full_span_report_seconds\":{full_s:.6}}}}}",
        results.join(","),
        a.len(),
        b.len(),
        pairs.len()
    );
}
