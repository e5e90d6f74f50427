//! Compares clinlabel-agreement with the Python reference implementations
//! (scikit-learn, statsmodels, krippendorff 0.9.0, nltk, irrCAC, pyannote.metrics,
//! scipy) on published examples and seeded randomised tables, to 1e-9.
//!
//! The values come from `ci/testdata/agreement-reference.sh`, which writes
//! `${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}/agreement/reference.json`.
//! Without that file this test fails (it never skips).

use clinlabel_agreement::*;
use serde_json::Value;
use std::path::PathBuf;

const TOL: f64 = 1e-9;

fn reference() -> Value {
    let root = std::env::var_os("CLINLABEL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME or CLINLABEL_TESTDATA must be set"))
                .join(".cache/clinlabel-testdata")
        });
    let path = root.join("agreement/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): run ci/testdata/agreement-reference.sh first \
             (it installs the Python reference packages in a throwaway virtualenv and writes this file)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("reference.json is valid JSON")
}

fn table_of(case: &Value) -> Table {
    let data: Vec<Vec<f64>> = case["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    Table::from_reliability_data(&data).unwrap()
}

fn metric_named(name: &str) -> Metric {
    Metric::all()
        .into_iter()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("unknown metric {name}"))
}

#[test]
fn tables_match_reference_packages() {
    let r = reference();
    let cases = r["tables"].as_array().expect("tables");
    assert!(
        cases.len() >= 30,
        "expected the published and randomised tables"
    );
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let t = table_of(case);
        let degenerate = case["degenerate"].as_bool().unwrap_or(false);
        for e in case["expect"].as_array().unwrap() {
            let package = e["package"].as_str().unwrap();
            let metric = e["metric"].as_str().unwrap();
            let ours = compute(&t, metric_named(metric));
            match (e["value"].as_f64(), degenerate) {
                (Some(v), false) => match ours.value() {
                    Some(o) if (o - v).abs() <= TOL => compared += 1,
                    _ => failures.push(format!("{name} {metric}: ours {ours}, {package} {v}")),
                },
                // The reference raised / gave NaN, or the case is degenerate (where the
                // references disagree: nltk says 1, krippendorff raises): clinlabel
                // must be undefined.
                _ => {
                    if ours.is_defined() {
                        failures.push(format!(
                            "{name} {metric}: ours {ours}, expected undefined ({package}: {})",
                            e["note"]
                        ));
                    }
                }
            }
        }
        if let Some(p) = case.get("published").and_then(|p| p.as_object()) {
            for (metric, v) in p {
                let ours = compute(&t, metric_named(metric)).value().unwrap();
                // Published values are rounded to three decimals.
                assert!(
                    (ours - v.as_f64().unwrap()).abs() <= 5e-4,
                    "{name} {metric}: ours {ours}, published {v}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 400, "only {compared} values compared");
}

#[test]
fn one_value_domain_is_undefined_single_category() {
    let r = reference();
    let case = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "one_value_domain")
        .unwrap();
    let t = table_of(case);
    for l in Level::ALL {
        assert_eq!(
            krippendorff_alpha(&t, l).reason(),
            Some(Reason::SingleCategory)
        );
    }
    // Documented divergence: krippendorff raises, nltk returns 1.
    let notes: Vec<(&str, &str, Option<f64>)> = case["expect"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["package"].as_str().unwrap(),
                e["metric"].as_str().unwrap(),
                e["value"].as_f64(),
            )
        })
        .collect();
    assert!(notes.contains(&("krippendorff", "krippendorff_alpha_nominal", None)));
    assert!(notes.contains(&("nltk", "krippendorff_alpha_nominal", Some(1.0))));
}

#[test]
fn nltk_none_pitfall() {
    let r = reference();
    let p = &r["nltk_none_pitfall"];
    let t = table_of(p);
    let ours = krippendorff_alpha(&t, Level::Nominal).value().unwrap();
    let right = p["nltk_alpha_nominal_missing_left_out"].as_f64().unwrap();
    let wrong = p["nltk_alpha_nominal_none_as_label"].as_f64().unwrap();
    assert!(
        (ours - right).abs() <= TOL,
        "ours {ours}, nltk without None {right}"
    );
    assert!(
        (ours - wrong).abs() > 0.1,
        "None-as-label value {wrong} should differ"
    );
}

#[test]
fn diarization_matches_pyannote() {
    use clinlabel_agreement::transcripts::{Turn, diarization_error_rate};
    let r = reference();
    let cases = r["diarization"].as_array().expect("diarization cases");
    assert!(cases.len() >= 20);
    let turns = |v: &Value| -> Vec<Turn> { serde_json::from_value(v.clone()).unwrap() };
    for c in cases {
        let d = diarization_error_rate(&turns(&c["reference"]), &turns(&c["hypothesis"]));
        let name = c["name"].as_str().unwrap();
        for (ours, key) in [
            (d.missed, "missed"),
            (d.false_alarm, "false_alarm"),
            (d.confusion, "confusion"),
            (d.total, "total"),
        ] {
            let v = c[key].as_f64().unwrap();
            assert!(
                (ours - v).abs() <= TOL,
                "{name} {key}: ours {ours}, pyannote {v}"
            );
        }
        let v = c["der"].as_f64().unwrap();
        let ours = d.der.value().unwrap();
        assert!(
            (ours - v).abs() <= TOL,
            "{name} der: ours {ours}, pyannote {v}"
        );
    }
}

#[test]
fn kendall_tau_b_matches_scipy() {
    use clinlabel_agreement::rankings::kendall_tau_b;
    let r = reference();
    let cases = r["kendall"].as_array().expect("kendall cases");
    assert!(cases.len() >= 20);
    let vec = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    for c in cases {
        let ours = kendall_tau_b(&vec(&c["x"]), &vec(&c["y"]));
        match c["tau_b"].as_f64() {
            Some(v) => assert!(
                (ours.value().unwrap() - v).abs() <= TOL,
                "ours {ours}, scipy {v}"
            ),
            None => assert!(!ours.is_defined(), "scipy gave NaN, ours {ours}"),
        }
    }
}

#[test]
fn wer_cer_match_jiwer() {
    use clinlabel_agreement::transcripts::{character_error_rate, word_error_rate};
    let r = reference();
    let cases = r["transcripts"].as_array().expect("transcripts cases");
    assert!(cases.len() >= 20);
    for c in cases {
        let (rf, hy) = (
            c["reference"].as_str().unwrap(),
            c["hypothesis"].as_str().unwrap(),
        );
        for (ours, key) in [
            (word_error_rate(rf, hy).rate, "wer"),
            (character_error_rate(rf, hy).rate, "cer"),
        ] {
            if let Some(v) = c[key].as_f64() {
                let o = ours.value().unwrap();
                assert!(
                    (o - v).abs() <= TOL,
                    "{key} {rf:?} / {hy:?}: ours {o}, jiwer {v}"
                );
            }
        }
    }
}

#[test]
fn polygon_iou_matches_shapely() {
    use clinlabel_agreement::geometry::polygon_iou;
    let r = reference();
    let cases = r["polygons"].as_array().expect("polygon cases");
    assert!(cases.len() >= 30);
    let pts = |v: &Value| -> Vec<[f64; 2]> { serde_json::from_value(v.clone()).unwrap() };
    for c in cases {
        let ours = polygon_iou(&pts(&c["a"]), &pts(&c["b"])).value().unwrap();
        let v = c["iou"].as_f64().unwrap();
        assert!((ours - v).abs() <= TOL, "ours {ours}, shapely {v}");
    }
}

#[test]
fn surface_distances_match_medpy() {
    use clinlabel_agreement::geometry::{Mask, surface_distance};
    let r = reference();
    let cases = r["surfaces"].as_array().expect("surface cases");
    assert!(cases.len() >= 20);
    for c in cases {
        let shape: Vec<usize> = serde_json::from_value(c["shape"].clone()).unwrap();
        let sp: Vec<f64> = serde_json::from_value(c["spacing"].clone()).unwrap();
        // numpy C order: (h, w) or (d, h, w); spacing in the same axis order.
        let (w, h, d, spacing) = match shape.len() {
            2 => (shape[1], shape[0], 1, [sp[1], sp[0], 1.0]),
            _ => (shape[2], shape[1], shape[0], [sp[2], sp[1], sp[0]]),
        };
        let mask = |k: &str| {
            Mask::new(
                w,
                h,
                d,
                c[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64() == Some(1))
                    .collect(),
            )
        };
        let s = surface_distance(&mask("a"), &mask("b"), Some(spacing));
        for (ours, key) in [
            (s.hausdorff, "hd"),
            (s.hausdorff95, "hd95"),
            (s.assd, "assd"),
        ] {
            let v = c[key].as_f64().unwrap();
            let o = ours.value().unwrap();
            assert!((o - v).abs() <= TOL, "{key} {shape:?}: ours {o}, medpy {v}");
        }
    }
}
