//! Coefficients against published / hand-computed values.
use clinlabel_agreement::*;

fn check(c: Coefficient, expected: f64, tol: f64, what: &str) {
    match c.value() {
        Some(v) => assert!(
            (v - expected).abs() <= tol,
            "{what}: got {v}, expected {expected} (±{tol})"
        ),
        None => panic!("{what}: undefined ({c}), expected {expected}"),
    }
}

fn undefined(c: Coefficient, reason: Reason, what: &str) {
    assert_eq!(c.reason(), Some(reason), "{what}: got {c}");
}

/// Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", section C:
/// 4 observers × 12 units with missing values. Published: nominal .743,
/// ordinal .815, interval .849, ratio .797.
fn krippendorff_2011() -> Table {
    let n = f64::NAN;
    let data = [
        [1., 2., 3., 3., 2., 1., 4., 1., 2., n, n, n],
        [1., 2., 3., 3., 2., 2., 4., 1., 2., 5., n, 3.],
        [n, 3., 3., 3., 2., 3., 4., 2., 2., 5., 1., n],
        [1., 2., 3., 3., 2., 4., 4., 1., 2., 5., 1., n],
    ];
    Table::from_reliability_data(&data).unwrap()
}

#[test]
fn krippendorff_published_example() {
    let t = krippendorff_2011();
    check(
        krippendorff_alpha(&t, Level::Nominal),
        0.743,
        5e-4,
        "nominal",
    );
    check(
        krippendorff_alpha(&t, Level::Ordinal),
        0.815,
        5e-4,
        "ordinal",
    );
    check(
        krippendorff_alpha(&t, Level::Interval),
        0.849,
        5e-4,
        "interval",
    );
    check(krippendorff_alpha(&t, Level::Ratio), 0.797, 5e-4, "ratio");
}

#[test]
fn krippendorff_nominal_exact_hand_computation() {
    // Same example; Krippendorff (2011) gives the coincidence totals n = 40,
    // n_c = (9, 13, 10, 5, 3) (values 1..5) and coincidence diagonal
    // (7, 10, 8, 4, 3), Σ o_cc = 32, so nominal
    // α = 1 − (n−1)(n − Σo_cc)/(n² − Σn_c²) = 1 − 39·8/(1600 − 384) = 1 − 312/1216.
    let t = krippendorff_2011();
    check(
        krippendorff_alpha(&t, Level::Nominal),
        1.0 - 312.0 / 1216.0,
        1e-12,
        "nominal exact",
    );
}

#[test]
fn alpha_on_label_table_orders_labels_by_declared_domain() {
    // The same example with the values renamed; ordinal α depends only on the order.
    let t = krippendorff_2011();
    let names = ["one", "two", "three", "four", "five"];
    let rows: Vec<Vec<Option<&str>>> = (0..t.n_units())
        .map(|u| {
            (0..t.n_coders())
                .map(|c| t.get(u, c).map(|i| names[i as usize]))
                .collect()
        })
        .collect();
    let lt = Table::from_labels_with_domain(&rows, &names).unwrap();
    check(
        krippendorff_alpha(&lt, Level::Ordinal),
        0.815,
        5e-4,
        "ordinal on labels",
    );
    check(
        krippendorff_alpha(&lt, Level::Nominal),
        1.0 - 312.0 / 1216.0,
        1e-12,
        "nominal on labels",
    );
    undefined(
        krippendorff_alpha(&lt, Level::Interval),
        Reason::NotNumeric,
        "interval on labels",
    );
}

/// Wikipedia "Cohen's kappa", worked example: 50 proposals, yes/yes 20, yes/no 5,
/// no/yes 10, no/no 15. p_o = 0.7, p_e = 0.5, κ = 0.4.
fn cohen_wikipedia() -> Table {
    let mut rows = Vec::new();
    for (a, b, n) in [
        ("yes", "yes", 20),
        ("yes", "no", 5),
        ("no", "yes", 10),
        ("no", "no", 15),
    ] {
        for _ in 0..n {
            rows.push(vec![Some(a), Some(b)]);
        }
    }
    Table::from_labels(&rows).unwrap()
}

#[test]
fn two_coder_textbook_example() {
    let t = cohen_wikipedia();
    check(cohen_kappa(&t, Weights::Unweighted), 0.4, 1e-12, "cohen");
    check(percent_agreement(&t), 0.7, 1e-12, "percent");
    // Scott: pooled p_yes = 55/100, Ae = .55² + .45² = .505, π = (.7 − .505)/.495.
    check(scott_pi(&t), 0.195 / 0.495, 1e-12, "scott");
    // Gwet AC1: p_e = Σ π_k(1 − π_k)/(q − 1) = 2·.55·.45 = .495, AC1 = (.7 − .495)/.505.
    check(
        gwet_ac(&t, Weights::Unweighted),
        0.205 / 0.505,
        1e-12,
        "ac1",
    );
    // Fleiss with two raters: P̄ = .7, Pe = .505 as for Scott.
    check(fleiss_kappa(&t), 0.195 / 0.495, 1e-12, "fleiss");
    // Randolph: q = 2, (0.7 − 0.5)/0.5.
    check(randolph_kappa(&t), 0.4, 1e-12, "randolph");
}

#[test]
fn weighted_cohen_hand_computed() {
    // A = 0 0 1 2 2 2, B = 0 1 1 2 2 0 (three ordered categories).
    // Marginals A (2,1,3), B (2,2,2), n = 6, E_ij = r_i c_j / 6.
    // unweighted: O = 2, E = 4 → 1/2; linear: O = 3, E = 17/3 → 8/17;
    // quadratic: O = 5, E = 9 → 4/9.
    let a = [0., 0., 1., 2., 2., 2.];
    let b = [0., 1., 1., 2., 2., 0.];
    let t = Table::from_reliability_data(&[a, b]).unwrap();
    check(
        cohen_kappa(&t, Weights::Unweighted),
        0.5,
        1e-12,
        "unweighted",
    );
    check(
        cohen_kappa(&t, Weights::Linear),
        8.0 / 17.0,
        1e-12,
        "linear",
    );
    check(
        cohen_kappa(&t, Weights::Quadratic),
        4.0 / 9.0,
        1e-12,
        "quadratic",
    );
}

/// Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories;
/// P̄ = 688/1820 (hand sum of the per-subject agreements), published κ = 0.210.
fn fleiss_wikipedia() -> Table {
    let counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ];
    let rows: Vec<Vec<Option<f64>>> = counts
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .flat_map(|(k, &n)| std::iter::repeat_n(Some(k as f64 + 1.0), n))
                .collect()
        })
        .collect();
    Table::from_numeric(&rows).unwrap()
}

#[test]
fn fleiss_and_randolph_textbook() {
    let t = fleiss_wikipedia();
    check(fleiss_kappa(&t), 0.210, 5e-4, "fleiss");
    check(randolph_kappa(&t), 324.0 / 1456.0, 1e-12, "randolph");
    // Cohen and Scott need two coders.
    undefined(
        cohen_kappa(&t, Weights::Unweighted),
        Reason::NeedsTwoCoders,
        "cohen 14 coders",
    );
    undefined(scott_pi(&t), Reason::NeedsTwoCoders, "scott 14 coders");
}

#[test]
fn degenerate_inputs_are_undefined_with_reason() {
    // One category only.
    let one =
        Table::from_labels(&[vec![Some("a"), Some("a")], vec![Some("a"), Some("a")]]).unwrap();
    check(percent_agreement(&one), 1.0, 0.0, "percent single");
    for (name, c) in [
        ("cohen", cohen_kappa(&one, Weights::Unweighted)),
        ("cohen_q", cohen_kappa(&one, Weights::Quadratic)),
        ("scott", scott_pi(&one)),
        ("fleiss", fleiss_kappa(&one)),
        ("randolph", randolph_kappa(&one)),
        ("ac1", gwet_ac(&one, Weights::Unweighted)),
        ("alpha", krippendorff_alpha(&one, Level::Nominal)),
        (
            "alpha_i",
            krippendorff_alpha(
                &Table::from_numeric(&[vec![Some(2.0), Some(2.0)]]).unwrap(),
                Level::Interval,
            ),
        ),
    ] {
        undefined(c, Reason::SingleCategory, name);
    }
    // A declared second category makes the free-marginal coefficients defined (= 1).
    let declared = Table::from_labels_with_domain(
        &[vec![Some("a"), Some("a")], vec![Some("a"), Some("a")]],
        &["a", "b"],
    )
    .unwrap();
    check(randolph_kappa(&declared), 1.0, 1e-12, "randolph declared");
    check(
        gwet_ac(&declared, Weights::Unweighted),
        1.0,
        1e-12,
        "ac1 declared",
    );
    undefined(
        krippendorff_alpha(&declared, Level::Nominal),
        Reason::SingleCategory,
        "alpha declared",
    );

    // One coder.
    let solo = Table::from_numeric(&[vec![Some(1.0)], vec![Some(2.0)]]).unwrap();
    for c in [
        percent_agreement(&solo),
        fleiss_kappa(&solo),
        krippendorff_alpha(&solo, Level::Nominal),
        gwet_ac(&solo, Weights::Unweighted),
    ] {
        undefined(c, Reason::TooFewCoders, "one coder");
    }
    // No pairable unit: two coders never code the same unit.
    let apart = Table::from_numeric(&[vec![Some(1.0), None], vec![None, Some(2.0)]]).unwrap();
    for c in [
        percent_agreement(&apart),
        cohen_kappa(&apart, Weights::Linear),
        scott_pi(&apart),
        fleiss_kappa(&apart),
        krippendorff_alpha(&apart, Level::Interval),
        gwet_ac(&apart, Weights::Unweighted),
    ] {
        undefined(c, Reason::NoPairableUnits, "apart");
    }
    // Nothing at all.
    let empty = Table::from_numeric(&[vec![None, None]]).unwrap();
    undefined(
        krippendorff_alpha(&empty, Level::Nominal),
        Reason::NoData,
        "empty",
    );
    // Ratio level with values of both signs.
    let mixed =
        Table::from_numeric(&[vec![Some(-1.0), Some(2.0)], vec![Some(1.0), Some(1.0)]]).unwrap();
    undefined(
        krippendorff_alpha(&mixed, Level::Ratio),
        Reason::MixedSignRatio,
        "ratio mixed",
    );
    // Serialised form never carries NaN.
    let j = serde_json::to_string(&fleiss_kappa(&one)).unwrap();
    assert_eq!(j, r#"{"status":"undefined","reason":"single_category"}"#);
}

#[test]
fn perfect_and_systematic_disagreement() {
    let perfect = Table::from_numeric(&[
        vec![Some(1.0), Some(1.0)],
        vec![Some(2.0), Some(2.0)],
        vec![Some(3.0), Some(3.0)],
    ])
    .unwrap();
    for m in Metric::all() {
        if let Some(v) = compute(&perfect, m).value() {
            assert!(
                (v - 1.0).abs() < 1e-12,
                "{} = {v} on perfect agreement",
                m.name()
            );
        }
    }
    // Two coders always disagreeing on two balanced categories: κ = π = −1 by hand
    // (Ao = 0, Ae = 1/2 → −1); α nominal = 1 − (n−1)·n/(n² − Σn_c²) with n = 4,
    // n_c = (2, 2): 1 − 3·4/8 = −0.5.
    let swap =
        Table::from_numeric(&[vec![Some(1.0), Some(2.0)], vec![Some(2.0), Some(1.0)]]).unwrap();
    check(
        cohen_kappa(&swap, Weights::Unweighted),
        -1.0,
        1e-12,
        "cohen swap",
    );
    check(scott_pi(&swap), -1.0, 1e-12, "scott swap");
    check(
        krippendorff_alpha(&swap, Level::Nominal),
        -0.5,
        1e-12,
        "alpha swap",
    );
}

#[test]
fn bootstrap_is_seeded_and_brackets_the_estimate() {
    let t = krippendorff_2011();
    let m = Metric::KrippendorffAlpha {
        level: Level::Interval,
    };
    let opts = BootstrapOptions {
        replicates: 400,
        confidence: 0.9,
        seed: 7,
    };
    let a = bootstrap(&t, m, &opts);
    let b = bootstrap(&t, m, &opts);
    assert_eq!(a, b, "same seed, same interval");
    let c = bootstrap(&t, m, &BootstrapOptions { seed: 8, ..opts });
    assert_ne!(a.lower, c.lower, "different seed, different resamples");
    let (lo, hi, est) = (
        a.lower.value().unwrap(),
        a.upper.value().unwrap(),
        a.estimate.value().unwrap(),
    );
    assert!(lo <= est && est <= hi, "{lo} <= {est} <= {hi}");
    assert!(a.defined_replicates > 300 && a.defined_replicates <= 400);
    // All replicates undefined.
    let one = Table::from_labels(&[vec![Some("a"), Some("a")]]).unwrap();
    let r = bootstrap(&one, Metric::FleissKappa, &BootstrapOptions::default());
    assert_eq!(r.lower.reason(), Some(Reason::AllReplicatesUndefined));
}

#[test]
fn quantile_matches_numpy_linear() {
    // numpy.quantile([1,2,3,4], 0.25) == 1.75 (linear interpolation, by hand: h = 0.75).
    assert_eq!(bootstrap::quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
    assert_eq!(bootstrap::quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), 4.0);
}

#[test]
fn alpha_from_columns_equals_alpha_from_table() {
    let mut rng = clinlabel_agreement::rng::Rng::new(99);
    for case in 0..60 {
        let coders = 1 + rng.below(5) as usize;
        let units = rng.below(40) as usize;
        let continuous = case % 3 == 0;
        let data: Vec<Vec<f64>> = (0..coders)
            .map(|_| {
                (0..units)
                    .map(|_| {
                        if rng.below(4) == 0 {
                            f64::NAN
                        } else if continuous {
                            (rng.unit_f64() * 40.0).round() / 4.0 - 2.0
                        } else {
                            [0.0, -0.0, 1.0, 2.0, 300.5][rng.below(5) as usize]
                        }
                    })
                    .collect()
            })
            .collect();
        let t = Table::from_reliability_data(&data).unwrap();
        for level in Level::ALL {
            let a = krippendorff_alpha(&t, level);
            let b = krippendorff_alpha_columns(&data, level).unwrap();
            match (a.value(), b.value()) {
                (Some(x), Some(y)) => {
                    assert!((x - y).abs() < 1e-12, "case {case} {level:?}: {x} vs {y}")
                }
                _ => assert_eq!(a, b, "case {case} {level:?}"),
            }
        }
    }
    assert!(krippendorff_alpha_columns(&[vec![1.0, f64::INFINITY]], Level::Nominal).is_err());
}

#[test]
fn no_nan_and_no_panic_on_any_small_table() {
    // Every shape from empty to tiny, with one- and two-value domains and
    // missing cells: each coefficient is finite or undefined, and serialises.
    let mut rng = clinlabel_agreement::rng::Rng::new(4242);
    for _ in 0..3000 {
        let units = rng.below(5) as usize;
        let coders = rng.below(4) as usize;
        let k = 1 + rng.below(3);
        let flat: Vec<f64> = (0..units * coders)
            .map(|_| {
                if rng.below(3) == 0 {
                    f64::NAN
                } else {
                    rng.below(k) as f64 - 1.0
                }
            })
            .collect();
        let t = Table::from_numeric_nan(units, coders, &flat).unwrap();
        for m in Metric::all() {
            let c = compute(&t, m);
            if let Some(v) = c.value() {
                assert!(v.is_finite(), "{} = {v}", m.name());
            }
            let j = serde_json::to_string(&c).unwrap();
            assert!(!j.contains("null") && !j.contains("NaN"), "{j}");
        }
        let b = bootstrap(
            &t,
            Metric::KrippendorffAlpha {
                level: Level::Interval,
            },
            &BootstrapOptions {
                replicates: 5,
                ..Default::default()
            },
        );
        assert!(b.lower.value().is_none_or(f64::is_finite));
    }
}
