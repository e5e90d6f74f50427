//! Transcripts, diarisation and rankings against hand-computed values.
use clinlabel_agreement::rankings::*;
use clinlabel_agreement::transcripts::*;
use clinlabel_agreement::{Coefficient, Reason};

fn check(c: Coefficient, expected: f64, what: &str) {
    let v = c
        .value()
        .unwrap_or_else(|| panic!("{what}: undefined ({c})"));
    assert!(
        (v - expected).abs() < 1e-12,
        "{what}: got {v}, expected {expected}"
    );
}

#[test]
fn word_error_rate_with_counts() {
    // ref: the patient has no chest pain (6); hyp: the patient has chest pains today.
    // Best alignment: delete "no", substitute pain→pains, insert "today": 3/6.
    let w = word_error_rate(
        "The patient has NO chest pain.",
        "the patient has chest pains, today",
    );
    check(w.rate, 0.5, "wer");
    assert_eq!(
        (
            w.counts.hits,
            w.counts.substitutions,
            w.counts.deletions,
            w.counts.insertions
        ),
        (4, 1, 1, 1)
    );
    assert!(w.normalisation.contains("lowercase"));
    check(
        word_error_rate("Hello, World!", "hello world").rate,
        0.0,
        "normalised away",
    );
    check(
        word_error_rate("don't stop", "dont stop").rate,
        0.5,
        "apostrophe kept inside words",
    );
    assert_eq!(
        word_error_rate("", "").rate.reason(),
        Some(Reason::BothEmpty)
    );
    assert_eq!(
        word_error_rate("", "extra").rate.reason(),
        Some(Reason::EmptyReference)
    );
    check(word_error_rate("a b", "").rate, 1.0, "all deleted");
}

#[test]
fn character_error_rate() {
    check(
        clinlabel_agreement::transcripts::character_error_rate("abc", "abd").rate,
        1.0 / 3.0,
        "cer",
    );
    // "née" vs "nee": one substitution over 3 scalar values.
    check(
        clinlabel_agreement::transcripts::character_error_rate("Née", "nee").rate,
        1.0 / 3.0,
        "cer unicode",
    );
}

fn turn(s: f64, e: f64, who: &str) -> Turn {
    Turn {
        start: s,
        end: e,
        speaker: who.into(),
        text: None,
    }
}

#[test]
fn diarization_hand_computed() {
    // ref: doctor 0–10, patient 10–20, doctor 18–22 (total 24 s).
    // hyp: s2 0–9, s1 9–21, s3 25–26. Co-occurrence doctor–s2 9, doctor–s1 4,
    // patient–s1 10 → doctor→s2, patient→s1. Confusion 9–10 and 20–21 (2 s);
    // missed 18–20 (one of two speakers, 2 s) and 21–22 (1 s); false alarm 25–26.
    let r = [
        turn(0., 10., "doctor"),
        turn(10., 20., "patient"),
        turn(18., 22., "doctor"),
    ];
    let h = [
        turn(0., 9., "s2"),
        turn(9., 21., "s1"),
        turn(25., 26., "s3"),
    ];
    let d = diarization_error_rate(&r, &h);
    assert_eq!(
        (d.missed, d.false_alarm, d.confusion, d.total),
        (3.0, 1.0, 2.0, 24.0)
    );
    check(d.der, 0.25, "der");
    assert_eq!(d.mapping["doctor"], "s2");
    assert_eq!(d.mapping["patient"], "s1");
    assert_eq!(
        diarization_error_rate(&[], &[]).der.reason(),
        Some(Reason::BothEmpty)
    );
}

#[test]
fn kendall_tau_b_hand() {
    // One discordant pair of six: (5 − 1)/6.
    check(
        kendall_tau_b(&[1., 2., 3., 4.], &[1., 3., 2., 4.]),
        2.0 / 3.0,
        "tau",
    );
    // P = 1, Q = 0, one tie in each: 1/√(2·2).
    check(kendall_tau_b(&[1., 1., 2.], &[1., 2., 2.]), 0.5, "tau ties");
    assert_eq!(
        kendall_tau_b(&[1., 1., 1.], &[1., 2., 3.]).reason(),
        Some(Reason::ConstantRanking)
    );
}

#[test]
fn kendall_w_hand() {
    // R = (4, 6, 9, 11), S = 29, W = 12·29 / (9·60) = 29/45.
    check(
        kendall_w(&[
            vec![1., 2., 3., 4.],
            vec![2., 1., 4., 3.],
            vec![1., 3., 2., 4.],
        ]),
        29.0 / 45.0,
        "W",
    );
    // Judge 1 ties the first two items: R = (3.5, 5.5, 9, 12), S = 42.5, T = 6,
    // W = 12·42.5 / (540 − 18) = 85/87.
    check(
        kendall_w(&[
            vec![1., 1., 2., 3.],
            vec![1., 2., 3., 4.],
            vec![1., 2., 3., 4.],
        ]),
        85.0 / 87.0,
        "W ties",
    );
    check(
        kendall_w(&[vec![1., 2., 3.], vec![1., 2., 3.]]),
        1.0,
        "W perfect",
    );
    assert_eq!(
        kendall_w(&[vec![1., 2.]]).reason(),
        Some(Reason::TooFewCoders)
    );
}
