//! Agreement on transcripts and speaker turns: word and character error rates
//! between two transcripts, and the diarisation error rate with the optimal
//! speaker mapping.

use crate::assignment::max_weight_matching;
use crate::coefficient::{Coefficient, Reason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The normalisation applied before WER / CER, stated in every result:
/// Unicode lower-casing; every character that is neither alphanumeric nor an
/// apostrophe becomes a space; apostrophes at the edges of a word are dropped;
/// words are split on white space. CER compares the normalised words joined by
/// single spaces, character by character (Unicode scalar values).
pub const NORMALISATION: &str = "lowercase; non-alphanumeric characters except inner apostrophes replaced by spaces; \
    words split on whitespace; CER over the normalised words joined by single spaces (Unicode scalar values)";

/// The normalised words of a transcript.
pub fn normalise_words(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == '’' {
                if c == '’' { '\'' } else { c }
            } else {
                ' '
            }
        })
        .collect();
    cleaned
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Edit counts of an optimal alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditCounts {
    pub hits: usize,
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
    /// Length of the reference.
    pub reference_length: usize,
}

/// Levenshtein alignment of `hyp` against `reference` with unit costs, in
/// O(n·m) time and O(m) memory. Among alignments of minimal cost the one with
/// the most hits is reported (ties broken substitution < deletion < insertion).
pub fn align<T: PartialEq>(reference: &[T], hyp: &[T]) -> EditCounts {
    // (cost, -hits, s, d, i) lexicographic minimum per cell.
    type Cell = (usize, usize, usize, usize, usize); // cost, hits, s, d, i
    let better = |a: &Cell, b: &Cell| (a.0, usize::MAX - a.1) < (b.0, usize::MAX - b.1);
    let m = hyp.len();
    let mut prev: Vec<Cell> = (0..=m).map(|j| (j, 0, 0, 0, j)).collect();
    let mut cur: Vec<Cell> = vec![(0, 0, 0, 0, 0); m + 1];
    for r in reference {
        cur[0] = (
            prev[0].0 + 1,
            prev[0].1,
            prev[0].2,
            prev[0].3 + 1,
            prev[0].4,
        );
        for j in 1..=m {
            let d = prev[j - 1];
            let diag = if *r == hyp[j - 1] {
                (d.0, d.1 + 1, d.2, d.3, d.4)
            } else {
                (d.0 + 1, d.1, d.2 + 1, d.3, d.4)
            };
            let up = prev[j];
            let del = (up.0 + 1, up.1, up.2, up.3 + 1, up.4);
            let left = cur[j - 1];
            let ins = (left.0 + 1, left.1, left.2, left.3, left.4 + 1);
            let mut best = diag;
            if better(&del, &best) {
                best = del;
            }
            if better(&ins, &best) {
                best = ins;
            }
            cur[j] = best;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let c = prev[m];
    EditCounts {
        hits: c.1,
        substitutions: c.2,
        deletions: c.3,
        insertions: c.4,
        reference_length: reference.len(),
    }
}

/// An error rate with its counts and the normalisation used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorRate {
    /// (S + D + I) / N; undefined when the reference is empty.
    pub rate: Coefficient,
    pub counts: EditCounts,
    pub normalisation: String,
}

fn rate(c: EditCounts) -> ErrorRate {
    let errors = (c.substitutions + c.deletions + c.insertions) as f64;
    let rate = if c.reference_length == 0 {
        Coefficient::undefined(if errors == 0.0 {
            Reason::BothEmpty
        } else {
            Reason::EmptyReference
        })
    } else {
        Coefficient::defined(errors / c.reference_length as f64)
    };
    ErrorRate {
        rate,
        counts: c,
        normalisation: NORMALISATION.to_string(),
    }
}

/// Word error rate of `hypothesis` against `reference` after [`normalise_words`].
pub fn word_error_rate(reference: &str, hypothesis: &str) -> ErrorRate {
    rate(align(
        &normalise_words(reference),
        &normalise_words(hypothesis),
    ))
}

/// Character error rate over the normalised words joined by single spaces.
pub fn character_error_rate(reference: &str, hypothesis: &str) -> ErrorRate {
    let r: Vec<char> = normalise_words(reference).join(" ").chars().collect();
    let h: Vec<char> = normalise_words(hypothesis).join(" ").chars().collect();
    rate(align(&r, &h))
}

/// A speaker turn `[start, end)` in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub start: f64,
    pub end: f64,
    pub speaker: String,
    /// Optional words spoken (used by transcript files with turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Diarisation error rate and its parts (seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiarizationError {
    /// (missed + false alarm + confusion) / total.
    pub der: Coefficient,
    pub missed: f64,
    pub false_alarm: f64,
    pub confusion: f64,
    pub correct: f64,
    /// Total reference speech (overlapping speakers counted once each).
    pub total: f64,
    /// Optimal mapping reference speaker → hypothesis speaker.
    pub mapping: BTreeMap<String, String>,
}

/// Diarisation error rate as pyannote.metrics' `DiarizationErrorRate()` with its
/// defaults (no collar, overlap scored, evaluation over the union of both
/// extents): speakers are mapped one-to-one by the Hungarian algorithm on their
/// co-occurrence durations (pairs with zero co-occurrence stay unmapped); then on
/// every elementary segment with n_ref reference and n_hyp hypothesis turns
/// active, missed += max(0, n_ref − n_hyp), false alarm += max(0, n_hyp − n_ref),
/// confusion += min(n_ref, n_hyp) − correct, each times the segment duration.
pub fn diarization_error_rate(reference: &[Turn], hypothesis: &[Turn]) -> DiarizationError {
    let index = |turns: &[Turn]| -> (Vec<String>, Vec<usize>) {
        let mut names: Vec<String> = turns.iter().map(|t| t.speaker.clone()).collect();
        names.sort();
        names.dedup();
        let ids = turns
            .iter()
            .map(|t| names.binary_search(&t.speaker).unwrap())
            .collect();
        (names, ids)
    };
    let (rn, rid) = index(reference);
    let (hn, hid) = index(hypothesis);
    // Elementary segments.
    let mut cuts: Vec<f64> = reference
        .iter()
        .chain(hypothesis)
        .flat_map(|t| [t.start, t.end])
        .collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    // Events: (time, +1/-1, side, speaker).
    let mut events: Vec<(f64, i32, bool, usize)> = Vec::new();
    for (t, &s) in reference.iter().zip(&rid) {
        if t.end > t.start {
            events.push((t.start, 1, false, s));
            events.push((t.end, -1, false, s));
        }
    }
    for (t, &s) in hypothesis.iter().zip(&hid) {
        if t.end > t.start {
            events.push((t.start, 1, true, s));
            events.push((t.end, -1, true, s));
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rc = vec![0i64; rn.len()];
    let mut hc = vec![0i64; hn.len()];
    // Per segment active counts.
    // (duration, active reference speakers with turn counts, same for hypothesis)
    type Segment = (f64, Vec<(usize, i64)>, Vec<(usize, i64)>);
    let mut segments: Vec<Segment> = Vec::new();
    let mut e = 0;
    for w in cuts.windows(2) {
        while e < events.len() && events[e].0 <= w[0] {
            let (_, delta, hyp, s) = events[e];
            if hyp {
                hc[s] += delta as i64
            } else {
                rc[s] += delta as i64
            }
            e += 1;
        }
        let dur = w[1] - w[0];
        let r: Vec<(usize, i64)> = rc
            .iter()
            .enumerate()
            .filter(|x| *x.1 > 0)
            .map(|(i, &c)| (i, c))
            .collect();
        let h: Vec<(usize, i64)> = hc
            .iter()
            .enumerate()
            .filter(|x| *x.1 > 0)
            .map(|(i, &c)| (i, c))
            .collect();
        if !r.is_empty() || !h.is_empty() {
            segments.push((dur, r, h));
        }
    }
    // Co-occurrence and optimal mapping.
    let mut co = vec![0.0; rn.len() * hn.len()];
    for (dur, r, h) in &segments {
        for &(i, a) in r {
            for &(j, b) in h {
                co[i * hn.len() + j] += dur * (a * b) as f64;
            }
        }
    }
    let pairs = max_weight_matching(rn.len(), hn.len(), &co);
    let mut map_h = vec![usize::MAX; hn.len()];
    for &(i, j) in &pairs {
        map_h[j] = i;
    }
    let (mut total, mut missed, mut fa, mut conf, mut correct) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (dur, r, h) in &segments {
        let nr: i64 = r.iter().map(|x| x.1).sum();
        let nh: i64 = h.iter().map(|x| x.1).sum();
        let mut ok = 0i64;
        for &(j, b) in h {
            if map_h[j] != usize::MAX
                && let Some(&(_, a)) = r.iter().find(|x| x.0 == map_h[j])
            {
                ok += a.min(b);
            }
        }
        total += dur * nr as f64;
        correct += dur * ok as f64;
        missed += dur * (nr - nh).max(0) as f64;
        fa += dur * (nh - nr).max(0) as f64;
        conf += dur * (nr.min(nh) - ok) as f64;
    }
    let der = if total == 0.0 {
        Coefficient::undefined(if fa == 0.0 {
            Reason::BothEmpty
        } else {
            Reason::EmptyReference
        })
    } else {
        Coefficient::defined((missed + fa + conf) / total)
    };
    DiarizationError {
        der,
        missed,
        false_alarm: fa,
        confusion: conf,
        correct,
        total,
        mapping: pairs
            .into_iter()
            .map(|(i, j)| (rn[i].clone(), hn[j].clone()))
            .collect(),
    }
}
