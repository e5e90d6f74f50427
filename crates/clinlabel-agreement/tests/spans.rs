//! Span agreement against hand-computed values.
use clinlabel_agreement::assignment::max_weight_matching;
use clinlabel_agreement::spans::*;
use clinlabel_agreement::*;

fn check(c: Coefficient, expected: f64, what: &str) {
    let v = c
        .value()
        .unwrap_or_else(|| panic!("{what}: undefined ({c})"));
    assert!(
        (v - expected).abs() < 1e-12,
        "{what}: got {v}, expected {expected}"
    );
}

fn s(start: usize, end: usize, label: &str) -> Span {
    Span::new(start, end, label)
}

#[test]
fn overlap_matching_is_optimal_not_greedy() {
    // Largest overlap first would pair A0–B0 (5 chars) and leave A1 unmatched;
    // the optimum pairs A0–B1 (4 chars) and A1–B0 (1 char): two matches.
    let a = [s(0, 10, "X"), s(9, 11, "X")];
    let b = [s(5, 10, "X"), s(0, 4, "X")];
    assert_eq!(
        match_spans(&a, &b, MatchMode::Overlap),
        vec![(0, 1), (1, 0)]
    );
    assert!(match_spans(&a, &b, MatchMode::Exact).is_empty());
    // Among maximum-cardinality matchings, the one with most shared characters.
    let a = [s(0, 10, "X"), s(20, 30, "X")];
    let b = [s(8, 22, "X"), s(0, 9, "X")];
    // A0–B1 (9) + A1–B0 (2) = 11 beats A0–B0 (2) + nothing.
    assert_eq!(
        match_spans(&a, &b, MatchMode::Overlap),
        vec![(0, 1), (1, 0)]
    );
}

#[test]
fn precision_recall_f1_per_label_micro_macro() {
    let a = [s(0, 5, "DRUG"), s(10, 15, "DRUG"), s(20, 25, "DIS")];
    let b = [
        s(0, 5, "DRUG"),
        s(11, 15, "DRUG"),
        s(20, 25, "SYM"),
        s(30, 35, "DIS"),
    ];
    let e = span_agreement(&a, &b, MatchMode::Exact);
    let drug = e.per_label["DRUG"];
    check(drug.precision, 0.5, "DRUG P");
    check(drug.recall, 0.5, "DRUG R");
    check(drug.f1, 0.5, "DRUG F1");
    check(e.per_label["DIS"].f1, 0.0, "DIS F1");
    check(e.per_label["SYM"].precision, 0.0, "SYM P");
    assert_eq!(
        e.per_label["SYM"].recall.reason(),
        Some(Reason::EmptyReference)
    );
    check(e.micro.precision, 1.0 / 4.0, "micro P");
    check(e.micro.recall, 1.0 / 3.0, "micro R");
    check(e.micro.f1, 2.0 / 7.0, "micro F1");
    check(e.macro_f1, 0.5 / 3.0, "macro F1");
    check(e.macro_precision, 0.5 / 3.0, "macro P");
    check(e.macro_recall, 0.25, "macro R (SYM has none)");
    let o = span_agreement(&a, &b, MatchMode::Overlap);
    check(o.per_label["DRUG"].f1, 1.0, "overlap DRUG");
    check(o.micro.precision, 0.5, "overlap micro P");
    check(o.micro.recall, 2.0 / 3.0, "overlap micro R");
    check(o.micro.f1, 4.0 / 7.0, "overlap micro F1");
    check(o.macro_f1, 1.0 / 3.0, "overlap macro F1");
    // Nothing at all.
    let none = span_agreement(&[], &[], MatchMode::Exact);
    assert_eq!(none.micro.f1.reason(), Some(Reason::BothEmpty));
}

#[test]
fn position_alpha_hand_computed() {
    // 10 positions; A marks 0..5, B marks 0..4. Values X×9, ∅×11 (n = 20), one
    // disagreeing position contributing 2: α = 1 − 19·2/(400 − 81 − 121) = 80/99.
    let a = [s(0, 5, "X")];
    let b = [s(0, 4, "X")];
    check(
        position_alpha(&[&a, &b], Some(10)),
        80.0 / 99.0,
        "α positions",
    );
    check(position_alpha(&[&a, &a], Some(10)), 1.0, "identical");
    assert_eq!(
        position_alpha(&[&[], &[]], Some(10)).reason(),
        Some(Reason::SingleCategory)
    );
}

#[test]
fn position_alpha_equals_alpha_over_an_explicit_character_table() {
    let mut rng = clinlabel_agreement::rng::Rng::new(11);
    for _ in 0..30 {
        let len = 60;
        let mk = |rng: &mut clinlabel_agreement::rng::Rng| -> Vec<Span> {
            (0..4)
                .map(|_| {
                    let st = rng.below(50) as usize;
                    s(
                        st,
                        st + 1 + rng.below(10) as usize,
                        ["A", "B"][rng.below(2) as usize],
                    )
                })
                .collect()
        };
        let (a, b, c) = (mk(&mut rng), mk(&mut rng), mk(&mut rng));
        let value = |spans: &[Span], p: usize| {
            let mut l: Vec<&str> = spans
                .iter()
                .filter(|x| x.start <= p && p < x.end)
                .map(|x| x.label.as_str())
                .collect();
            l.sort();
            l.dedup();
            Some(l.join("+"))
        };
        let rows: Vec<Vec<Option<String>>> = (0..len)
            .map(|p| vec![value(&a, p), value(&b, p), value(&c, p)])
            .collect();
        let t = Table::from_labels(&rows).unwrap();
        let expected = krippendorff_alpha(&t, Level::Nominal);
        let got = position_alpha(&[&a, &b, &c], Some(len));
        match (expected.value(), got.value()) {
            (Some(x), Some(y)) => assert!((x - y).abs() < 1e-12, "{x} vs {y}"),
            _ => assert_eq!(expected, got),
        }
    }
}

#[test]
fn relations_need_both_endpoints_and_direction() {
    let a = [s(0, 5, "DRUG"), s(10, 15, "DIS")];
    let b = [s(0, 4, "DRUG"), s(10, 16, "DIS")];
    let ra = [Relation {
        head: 0,
        tail: 1,
        label: "treats".into(),
    }];
    let rb = [
        Relation {
            head: 0,
            tail: 1,
            label: "treats".into(),
        },
        Relation {
            head: 1,
            tail: 0,
            label: "treats".into(),
        },
    ];
    let r = relation_agreement(&a, &b, &ra, &rb, MatchMode::Overlap);
    assert_eq!(r.micro.matched, 1);
    check(r.micro.precision, 0.5, "rel P");
    check(r.micro.recall, 1.0, "rel R");
    check(r.micro.f1, 2.0 / 3.0, "rel F1");
    // Under exact matching no endpoint matches.
    assert_eq!(
        relation_agreement(&a, &b, &ra, &rb, MatchMode::Exact)
            .micro
            .matched,
        0
    );
}

#[test]
fn attribute_agreement_on_matched_pairs() {
    // assertion: A present present absent absent; B present absent absent absent.
    // p_o = .75; p_e = .5·.25 + .5·.75 = .5; κ = .5.
    let va = ["present", "present", "absent", "absent"];
    let vb = ["present", "absent", "absent", "absent"];
    let a: Vec<Span> = (0..4)
        .map(|i| s(i * 10, i * 10 + 5, "DIS").with_attr("assertion", va[i]))
        .collect();
    let b: Vec<Span> = (0..4)
        .map(|i| s(i * 10, i * 10 + 4, "DIS").with_attr("assertion", vb[i]))
        .collect();
    let rep = span_report(&a, &b, None, None);
    let att = &rep.attributes["assertion"];
    assert_eq!(att.n_pairs, 4);
    check(att.percent_agreement, 0.75, "percent");
    check(att.cohen_kappa, 0.5, "κ");
}

#[test]
fn offsets_are_unicode_scalar_values() {
    let text = "Pt: 🫀 pain, née Müller";
    assert_eq!(s(4, 5, "X").text(text), Some("🫀"));
    assert_eq!(s(6, 10, "X").text(text), Some("pain"));
    assert_eq!(s(12, 15, "X").text(text), Some("née"));
    assert_eq!(s(16, 22, "X").text(text), Some("Müller"));
    assert_eq!(s(16, 23, "X").text(text), None);
}

#[test]
fn clustered_matching_equals_one_dense_hungarian() {
    let mut rng = clinlabel_agreement::rng::Rng::new(5);
    for _ in 0..50 {
        let mk = |rng: &mut clinlabel_agreement::rng::Rng| -> Vec<Span> {
            (0..12)
                .map(|_| {
                    let st = rng.below(100) as usize;
                    s(
                        st,
                        st + 1 + rng.below(15) as usize,
                        ["A", "B"][rng.below(2) as usize],
                    )
                })
                .collect()
        };
        let (a, b) = (mk(&mut rng), mk(&mut rng));
        let ov = |x: &Span, y: &Span| x.end.min(y.end).saturating_sub(x.start.max(y.start));
        // Dense reference: one matrix over all spans, same lexicographic weight.
        let big = 1.0 + a.iter().map(|x| (x.end - x.start) as f64).sum::<f64>();
        let mut w = vec![0.0; a.len() * b.len()];
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                if x.label == y.label && ov(x, y) > 0 {
                    w[i * b.len() + j] = big + ov(x, y) as f64;
                }
            }
        }
        let dense = max_weight_matching(a.len(), b.len(), &w);
        let got = match_spans(&a, &b, MatchMode::Overlap);
        let score = |m: &[(usize, usize)]| {
            (
                m.len(),
                m.iter().map(|&(i, j)| ov(&a[i], &b[j])).sum::<usize>(),
            )
        };
        assert_eq!(score(&got), score(&dense));
        let mut seen_b: Vec<usize> = got.iter().map(|p| p.1).collect();
        seen_b.sort();
        seen_b.dedup();
        assert_eq!(seen_b.len(), got.len(), "one-to-one");
    }
}

/// Krippendorff (2004), "Measuring the reliability of qualitative text analysis
/// data": the worked example with two observers on the continuum 150–450,
/// category c units i: 225+70, 370+30; j: 220+80, 355+20, 400+20; category k
/// units 180+60 and 300+50 for both. Published (4-decimal rounding):
/// D_o(c) = .0144, D_e(c) = .0532, α_c = .7285 (paper .7286 from rounded parts),
/// α_k = 1, joint α = .8587.
#[test]
fn unitizing_alpha_krippendorff_2004_example() {
    let i = [
        s(225, 295, "c"),
        s(370, 400, "c"),
        s(180, 240, "k"),
        s(300, 350, "k"),
    ];
    let j = [
        s(220, 300, "c"),
        s(355, 375, "c"),
        s(400, 420, "c"),
        s(180, 240, "k"),
        s(300, 350, "k"),
    ];
    let u = unitizing_alpha(&[&i, &j], 150, 300);
    let c = u.per_label["c"].value().unwrap();
    assert!((c - 0.7285).abs() < 1e-4, "α_c = {c}");
    check(u.per_label["k"], 1.0, "α_k");
    let joint = u.joint.value().unwrap();
    assert!((joint - 0.8587).abs() < 1e-4, "joint = {joint}");
    // D_o(c) by hand: the overlapping unit pairs (225+70, 220+80) → 5² + 5² = 50,
    // (370+30, 355+20) → 15² + 25² = 850; unit 400+20 of j lies in i's gap
    // 400–450 → 20² = 400; i's 370+30 is in no gap of j; each ordered pair of
    // coders counts: 2·1300 / (2·1·300²) = 1300/90000 = .01444.
    // (Checked through α: D_e(c) = D_o(c)/(1 − α_c).)
    let de = (1300.0 / 90000.0) / (1.0 - c);
    assert!((de - 0.0532).abs() < 1e-4, "D_e(c) = {de}");
    // Identical annotations: α = 1; a single coder: undefined.
    check(unitizing_alpha(&[&i, &i], 150, 300).joint, 1.0, "identical");
    assert_eq!(
        unitizing_alpha(&[&i], 150, 300).joint.reason(),
        Some(Reason::TooFewCoders)
    );
}

/// ᵤα straight from the 2004 formulas, all section pairs (no sweep), to check
/// the linear-time implementation on random documents.
fn unitizing_brute(coders: &[Vec<Span>], label: &str, begin: usize, len: usize) -> (f64, f64) {
    let end = begin + len;
    let secs: Vec<Vec<(f64, f64, bool)>> = coders
        .iter()
        .map(|c| {
            let mut on = vec![false; len];
            for s in c.iter().filter(|s| s.label == label) {
                for p in s.start.max(begin)..s.end.min(end) {
                    on[p - begin] = true;
                }
            }
            // Runs of equal coverage; adjacent spans merge (test spans never touch).
            let mut out = vec![];
            let mut st = 0;
            for p in 1..=len {
                if p == len || on[p] != on[st] {
                    out.push(((begin + st) as f64, (p - st) as f64, on[st]));
                    st = p;
                }
            }
            out
        })
        .collect();
    let (m, l) = (coders.len() as f64, len as f64);
    let mut d_o = 0.0;
    for i in 0..coders.len() {
        for j in 0..coders.len() {
            if i == j {
                continue;
            }
            for &(bg, lg, ug) in &secs[i] {
                for &(bh, lh, uh) in &secs[j] {
                    let d = bg - bh;
                    d_o += if ug && uh && -lg < d && d < lh {
                        d * d + (bg + lg - bh - lh).powi(2)
                    } else if ug && !uh && 0.0 <= d && d <= lh - lg {
                        lg * lg
                    } else if !ug && uh && lh - lg <= d && d <= 0.0 {
                        lh * lh
                    } else {
                        0.0
                    };
                }
            }
        }
    }
    d_o /= m * (m - 1.0) * l * l;
    let units: Vec<f64> = secs.iter().flatten().filter(|s| s.2).map(|s| s.1).collect();
    let gaps: Vec<f64> = secs
        .iter()
        .flatten()
        .filter(|s| !s.2)
        .map(|s| s.1)
        .collect();
    let n = units.len() as f64;
    let mut num = 0.0;
    let mut den = m * l * (m * l - 1.0);
    for &lg in &units {
        let fit: f64 = gaps
            .iter()
            .filter(|&&h| h >= lg)
            .map(|&h| h - lg + 1.0)
            .sum();
        num += (n - 1.0) / 3.0 * (2.0 * lg.powi(3) - 3.0 * lg * lg + lg) + lg * lg * fit;
        den -= lg * (lg - 1.0);
    }
    (d_o, num * 2.0 / l / den)
}

#[test]
fn unitizing_alpha_equals_all_pairs_formula() {
    let mut rng = clinlabel_agreement::rng::Rng::new(23);
    for _ in 0..40 {
        let n_coders = 2 + rng.below(3) as usize;
        let coders: Vec<Vec<Span>> = (0..n_coders)
            .map(|_| {
                let mut v = vec![];
                let mut pos = rng.below(5) as usize;
                while pos < 180 {
                    let len = 1 + rng.below(12) as usize;
                    v.push(s(pos, pos + len, ["a", "b"][rng.below(2) as usize]));
                    pos += len + 1 + rng.below(15) as usize;
                }
                v
            })
            .collect();
        let refs: Vec<&[Span]> = coders.iter().map(|c| c.as_slice()).collect();
        let u = unitizing_alpha(&refs, 0, 200);
        let (mut so, mut se) = (0.0, 0.0);
        for label in ["a", "b"] {
            let (d_o, d_e) = unitizing_brute(&coders, label, 0, 200);
            so += d_o;
            se += d_e;
            check(u.per_label[label], 1.0 - d_o / d_e, "per label");
        }
        check(u.joint, 1.0 - so / se, "joint");
    }
}
