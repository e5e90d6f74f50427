//! The `clinlabel agreement` entry point over strings.
use clinlabel_agreement::cli::{CliOptions, run};
use serde_json::Value;

const KRIPP_CSV: &str = "unit,coder,value
1,A,1
1,B,1
1,D,1
2,A,2
2,B,2
2,C,3
2,D,2
3,A,3
3,B,3
3,C,3
3,D,3
4,A,3
4,B,3
4,C,3
4,D,3
5,A,2
5,B,2
5,C,2
5,D,2
6,A,1
6,B,2
6,C,3
6,D,4
7,A,4
7,B,4
7,C,4
7,D,4
8,A,1
8,B,1
8,C,2
8,D,1
9,A,2
9,B,2
9,C,2
9,D,2
10,B,5
10,C,5
10,D,5
11,C,1
11,D,1
12,B,3
";

fn json_opts() -> CliOptions {
    CliOptions {
        json: true,
        ..Default::default()
    }
}

fn value_of(out: &str, metric: &str) -> Value {
    let v: Value = serde_json::from_str(out).unwrap();
    v["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn csv_table_prints_every_coefficient() {
    let out = run(&[("k.csv", KRIPP_CSV)], &json_opts()).unwrap();
    // Krippendorff (2011) example: nominal α = 1 − 312/1216 (hand computation in tests/coefficients.rs).
    let a = value_of(&out, "krippendorff_alpha_nominal")["value"]
        .as_f64()
        .unwrap();
    assert!((a - (1.0 - 312.0 / 1216.0)).abs() < 1e-12);
    assert_eq!(value_of(&out, "cohen_kappa")["reason"], "needs_two_coders");
    assert_eq!(value_of(&out, "kendall_w")["reason"], "missing_values");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["input"]["units"], 12);
    assert_eq!(v["input"]["coders"], 4);
    assert!(v["detail"].is_object());
    let text = run(&[("k.csv", KRIPP_CSV)], &CliOptions::default()).unwrap();
    assert!(text.contains("12 units × 4 coders"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("krippendorff_alpha_nominal") && l.contains("0.743421")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("cohen_kappa ") && l.contains("undefined (needs_two_coders)")),
        "{text}"
    );
}

#[test]
fn metric_and_level_select_one_row() {
    let opts = CliOptions {
        json: true,
        metric: Some("krippendorff_alpha".into()),
        level: Some("interval".into()),
        ..Default::default()
    };
    let out = run(&[("k.csv", KRIPP_CSV)], &opts).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows = v["coefficients"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["metric"], "krippendorff_alpha_interval");
    assert!((rows[0]["value"].as_f64().unwrap() - 0.849).abs() < 5e-4);
    let pick = |metric: &str, level: &str| -> Vec<String> {
        let opts = CliOptions {
            json: true,
            metric: Some(metric.into()),
            level: Some(level.into()),
            ..Default::default()
        };
        let v: Value = serde_json::from_str(&run(&[("k.csv", KRIPP_CSV)], &opts).unwrap()).unwrap();
        v["coefficients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["metric"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(pick("cohen_kappa", "linear"), ["cohen_kappa_linear"]);
    assert_eq!(pick("cohen_kappa", "unweighted"), ["cohen_kappa"]);
    assert_eq!(pick("gwet", "unweighted"), ["gwet_ac1"]);
    assert_eq!(pick("gwet", "quadratic"), ["gwet_ac2_quadratic"]);
    let bad = run(
        &[("k.csv", KRIPP_CSV)],
        &CliOptions {
            metric: Some("nope".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(bad.message.contains("krippendorff_alpha_ordinal"), "{bad}");
    let bad = run(
        &[("k.csv", KRIPP_CSV)],
        &CliOptions {
            level: Some("cardinal".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(bad.to_string().contains("unknown level"));
}

#[test]
fn json_and_jsonl_tables_equal_csv() {
    let recs: Vec<Value> = KRIPP_CSV
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            serde_json::json!({"unit": f[0], "coder": f[1], "value": f[2].parse::<f64>().unwrap()})
        })
        .collect();
    let json = serde_json::to_string(&recs).unwrap();
    let jsonl: String = recs.iter().map(|r| r.to_string() + "\n").collect();
    let opts = CliOptions {
        json: true,
        metric: Some("krippendorff_alpha".into()),
        ..Default::default()
    };
    let base = run(&[("k.csv", KRIPP_CSV)], &opts).unwrap();
    let strip =
        |s: String| -> Value { serde_json::from_str::<Value>(&s).unwrap()["coefficients"].clone() };
    assert_eq!(
        strip(run(&[("k.json", &json)], &opts).unwrap()),
        strip(base.clone())
    );
    assert_eq!(
        strip(run(&[("k.jsonl", &jsonl)], &opts).unwrap()),
        strip(base)
    );
}

#[test]
fn label_values_quoting_and_missing() {
    let csv = "coder,unit,value,comment\nA,n1,\"mass, left\",x\nB,n1,\"mass, left\",\nA,n2,nodule,\nB,n2,NA,\nA,n3,nodule,\nB,n3,nodule,\nA,n4,\"mass, left\",\nB,n4,nodule,\n";
    let out = run(&[("l.csv", csv)], &json_opts()).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["input"]["value_kind"], "labels");
    assert_eq!(v["input"]["values"], 7);
    // Two coders over n1, n3, n4: agreement 2/3.
    assert!(
        (value_of(&out, "percent_agreement")["value"]
            .as_f64()
            .unwrap()
            - 2.0 / 3.0)
            .abs()
            < 1e-12
    );
    assert_eq!(
        value_of(&out, "krippendorff_alpha_interval")["reason"],
        "not_numeric"
    );
}

#[test]
fn bad_inputs_name_file_line_and_problem() {
    let e = run(&[("t.csv", "unit,rater,value\n1,A,1\n")], &json_opts()).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("t.csv", Some(1)));
    assert!(e.message.contains("unit, coder, value"));
    let e = run(
        &[("t.csv", "unit,coder,value\n1,A,1\n1,B,2\n1,A,3\n")],
        &json_opts(),
    )
    .unwrap_err();
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("twice"));
    let e = run(&[("t.csv", "unit,coder,value\n1,A\n")], &json_opts()).unwrap_err();
    assert_eq!(e.line, Some(2));
    let e = run(
        &[(
            "t.jsonl",
            "{\"unit\":1,\"coder\":\"A\",\"value\":1}\n{\"unit\":1,\"coder\":\n",
        )],
        &json_opts(),
    )
    .unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("t.jsonl", Some(2)));
    let e = run(
        &[(
            "t.jsonl",
            "{\"unit\":1,\"coder\":\"A\",\"value\":1}\n{\"coder\":\"B\",\"value\":1}\n",
        )],
        &json_opts(),
    )
    .unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("unit"), "{e}");
    let e = run(
        &[
            ("a.json", "[{\"start\":0,\"end\":3,\"label\":\"X\"}]"),
            ("b.txt", "some words"),
        ],
        &json_opts(),
    )
    .unwrap_err();
    assert_eq!(e.file, "b.txt");
    let e = run(
        &[
            ("a.json", "[{\"start\":5,\"end\":3,\"label\":\"X\"}]"),
            ("b.json", "[]"),
        ],
        &json_opts(),
    )
    .unwrap_err();
    assert!(e.message.contains("before start"), "{e}");
    assert_eq!(e.to_string(), "a.json: span 0: end 3 before start 5");
}

#[test]
fn span_files() {
    let a = r#"{"text_length": 40, "spans": [
        {"start": 0, "end": 5, "label": "DRUG", "attributes": {"assertion": "present"}},
        {"start": 10, "end": 15, "label": "DIS", "attributes": {"assertion": "absent"}}],
        "relations": [{"head": 0, "tail": 1, "label": "treats"}]}"#;
    let b = "{\"start\": 0, \"end\": 5, \"label\": \"DRUG\", \"attributes\": {\"assertion\": \"present\"}}\n\
             {\"start\": 11, \"end\": 15, \"label\": \"DIS\", \"attributes\": {\"assertion\": \"absent\"}}\n";
    let out = run(&[("a.json", a), ("b.jsonl", b)], &json_opts()).unwrap();
    assert_eq!(value_of(&out, "exact_micro_f1")["value"], 0.5);
    assert_eq!(value_of(&out, "overlap_micro_f1")["value"], 1.0);
    assert_eq!(
        value_of(&out, "attribute_percent_agreement[assertion]")["value"],
        1.0
    );
    // B has no relations: recall 0 of A's one relation.
    assert_eq!(value_of(&out, "relation_recall")["value"], 0.0);
    // 40 positions; A marks 0–5 and 10–15, B 0–5 and 11–15: one disagreeing position.
    // Values DRUG×10, DIS×9, ∅×61 (n = 80): α = 1 − 79·2/(6400 − 100 − 81 − 3721).
    let pa = value_of(&out, "position_alpha")["value"].as_f64().unwrap();
    assert!((pa - (1.0 - 79.0 * 2.0 / 2498.0)).abs() < 1e-12, "{pa}");
    let text = run(
        &[("a.json", a), ("b.jsonl", b)],
        &CliOptions {
            metric: Some("overlap".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        text.lines().skip(2).all(|l| l.starts_with("overlap")),
        "{text}"
    );
}

#[test]
fn transcript_turn_and_box_files() {
    let out = run(
        &[
            ("ref.txt", "The patient has NO chest pain."),
            ("hyp.txt", "the patient has chest pains, today"),
        ],
        &json_opts(),
    )
    .unwrap();
    assert_eq!(value_of(&out, "word_error_rate")["value"], 0.5);
    let r = r#"[{"start":0,"end":10,"speaker":"doctor","text":"how are you"},{"start":10,"end":20,"speaker":"patient","text":"fine thanks"},{"start":18,"end":22,"speaker":"doctor"}]"#;
    let h = r#"[{"start":0,"end":9,"speaker":"s2","text":"how are you"},{"start":9,"end":21,"speaker":"s1","text":"fine thank you"},{"start":25,"end":26,"speaker":"s3"}]"#;
    let out = run(&[("r.json", r), ("h.json", h)], &json_opts()).unwrap();
    assert_eq!(value_of(&out, "diarization_error_rate")["value"], 0.25);
    assert_eq!(value_of(&out, "missed_seconds")["value"], 3.0);
    // how are you fine thanks → how are you fine thank you: 1 S + 1 I over 5.
    assert_eq!(value_of(&out, "word_error_rate")["value"], 0.4);
    let a = r#"[{"x_min":0,"y_min":0,"x_max":10,"y_max":10},{"x_min":20,"y_min":20,"x_max":30,"y_max":30}]"#;
    let b = r#"[{"x_min":1,"y_min":0,"x_max":11,"y_max":10}]"#;
    let out = run(&[("a.json", a), ("b.json", b)], &json_opts()).unwrap();
    assert_eq!(value_of(&out, "instance_precision")["value"], 1.0);
    assert_eq!(value_of(&out, "instance_recall")["value"], 0.5);
    let pa = r#"[{"points":[[0,0],[2,0],[2,2],[0,2]]}]"#;
    let pb = r#"[{"points":[[1,1],[3,1],[3,3],[1,3]]}]"#;
    // IoU 1/7 is below the 0.5 matching threshold.
    let out = run(&[("a.json", pa), ("b.json", pb)], &json_opts()).unwrap();
    assert_eq!(value_of(&out, "instance_f1")["value"], 0.0);
}

#[test]
fn malformed_inputs_are_errors_not_panics() {
    let singles = [
        "",
        "unit,coder,value\n",
        "[]",
        "{}",
        "[1,2]",
        "[{\"unit\":1,\"coder\":2,\"value\":[1]}]",
        "unit,coder,value\n\"a,b,c\n",
        "\u{feff}unit,coder,value\n1,A,x\n",
        "[{\"unit\":1,\"coder\":\"A\",\"value\":null}]",
    ];
    for s in singles {
        let _ = run(&[("f", s)], &CliOptions::default());
    }
    let pairs = [
        ("[]", "[]"),
        ("[{\"start\":-1,\"end\":2,\"label\":\"x\"}]", "[]"),
        ("[{\"start\":1.5,\"end\":2,\"label\":\"x\"}]", "[]"),
        (
            "{\"spans\":[{\"start\":0,\"end\":2,\"label\":\"x\"}],\"relations\":[{\"head\":0,\"tail\":5,\"label\":\"r\"}]}",
            "[]",
        ),
        (
            "[{\"start\":0,\"end\":1,\"speaker\":\"a\"}]",
            "[{\"start\":\"x\",\"end\":1,\"speaker\":\"a\"}]",
        ),
        ("[{\"start\":2,\"end\":1,\"speaker\":\"a\"}]", "[]"),
        (
            "[{\"points\":[[0,0],[1,1]]}]",
            "[{\"points\":[[0,0],[1,0],[0,1]]}]",
        ),
        ("[{\"x\":0,\"y\":0}]", "[]"),
        (
            "[{\"x_min\":0,\"y_min\":0,\"x_max\":1,\"y_max\":1}]",
            "[{\"foo\":1}]",
        ),
        ("", ""),
    ];
    for (a, b) in pairs {
        let _ = run(
            &[("a", a), ("b", b)],
            &CliOptions {
                json: true,
                ..Default::default()
            },
        );
    }
    let e = run(
        &[
            ("a", "[{\"start\":-1,\"end\":2,\"label\":\"x\"}]"),
            ("b", "[]"),
        ],
        &CliOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.file, "a");
    assert!(e.message.contains("item 0"), "{e}");
    let e = run(&[("a", "{\"spans\":[{\"start\":0,\"end\":2,\"label\":\"x\"}],\"relations\":[{\"head\":0,\"tail\":5,\"label\":\"r\"}]}"), ("b", "[]")], &CliOptions::default()).unwrap_err();
    assert!(e.message.contains("relation 0"), "{e}");
}
