//! Agreement on clinical-text spans: optimal one-to-one matching, exact and
//! overlap precision / recall / F1 per label with micro and macro averages,
//! α over character positions, relation agreement and agreement on attributes of
//! matched spans.
//!
//! Offsets are Unicode scalar values (Rust `char`s, Python `str` indices) of the
//! stored text, half-open `[start, end)`.

use crate::alpha::{Level, alpha_weighted};
use crate::assignment::max_weight_matching;
use crate::coefficient::{Coefficient, Reason};
use crate::kappa::{Weights, cohen_kappa, percent_agreement};
use crate::krippendorff_alpha;
use crate::table::{Categories, MISSING, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A labelled span `[start, end)` in Unicode scalar values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub label: String,
    /// Optional identifier, used by relation files to name their endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Attributes such as `assertion` (present, absent, possible, …) or `code`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Span {
    pub fn new(start: usize, end: usize, label: &str) -> Span {
        Span {
            start,
            end,
            label: label.to_string(),
            id: None,
            attributes: BTreeMap::new(),
        }
    }
    pub fn with_attr(mut self, key: &str, value: &str) -> Span {
        self.attributes.insert(key.to_string(), value.to_string());
        self
    }
    fn overlap(&self, o: &Span) -> usize {
        self.end.min(o.end).saturating_sub(self.start.max(o.start))
    }
    /// The span's text, `None` when its offsets fall outside `text`.
    pub fn text<'t>(&self, text: &'t str) -> Option<&'t str> {
        if self.end < self.start {
            return None;
        }
        let byte = |n: usize| {
            text.char_indices()
                .map(|(b, _)| b)
                .chain(std::iter::once(text.len()))
                .nth(n)
        };
        Some(&text[byte(self.start)?..byte(self.end)?])
    }
}

/// A directed relation between two spans of the same annotator (indices into
/// that annotator's span list), e.g. medication → indication.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Relation {
    pub head: usize,
    pub tail: usize,
    pub label: String,
}

/// How two spans may match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// Same start, end and label.
    Exact,
    /// Same label and at least one character in common. Among all one-to-one
    /// matchings the one with the most pairs is chosen, and among those the one
    /// with the most characters in common.
    Overlap,
}

/// The optimal one-to-one matching between `a` and `b` (pairs of indices, sorted
/// by `a` index). Spans only match within a label. Connected groups of mutually
/// overlapping spans are solved separately with the Hungarian algorithm, so a
/// document of thousands of spans costs little more than a sort.
pub fn match_spans(a: &[Span], b: &[Span], mode: MatchMode) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    match mode {
        MatchMode::Exact => {
            let mut by_key: HashMap<(usize, usize, &str), Vec<usize>> = HashMap::new();
            for (j, s) in b.iter().enumerate() {
                by_key
                    .entry((s.start, s.end, s.label.as_str()))
                    .or_default()
                    .push(j);
            }
            for v in by_key.values_mut() {
                v.reverse();
            }
            for (i, s) in a.iter().enumerate() {
                if let Some(v) = by_key.get_mut(&(s.start, s.end, s.label.as_str()))
                    && let Some(j) = v.pop()
                {
                    out.push((i, j));
                }
            }
        }
        MatchMode::Overlap => {
            // Sweep all spans of one label by start; a cluster is a maximal chain
            // of overlapping intervals (both annotators).
            let mut labels: BTreeMap<&str, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
            for (i, s) in a.iter().enumerate() {
                labels.entry(&s.label).or_default().0.push(i);
            }
            for (j, s) in b.iter().enumerate() {
                labels.entry(&s.label).or_default().1.push(j);
            }
            for (_, (ai, bj)) in labels {
                let mut items: Vec<(usize, usize, bool, usize)> =
                    Vec::with_capacity(ai.len() + bj.len());
                items.extend(ai.iter().map(|&i| (a[i].start, a[i].end, false, i)));
                items.extend(bj.iter().map(|&j| (b[j].start, b[j].end, true, j)));
                items.retain(|x| x.1 > x.0);
                items.sort_unstable();
                let mut k = 0;
                while k < items.len() {
                    let mut reach = items[k].1;
                    let mut e = k + 1;
                    while e < items.len() && items[e].0 < reach {
                        reach = reach.max(items[e].1);
                        e += 1;
                    }
                    let ca: Vec<usize> = items[k..e].iter().filter(|x| !x.2).map(|x| x.3).collect();
                    let cb: Vec<usize> = items[k..e].iter().filter(|x| x.2).map(|x| x.3).collect();
                    if !ca.is_empty() && !cb.is_empty() {
                        solve_cluster(a, b, &ca, &cb, &mut out);
                    }
                    k = e;
                }
            }
            out.sort_unstable();
        }
    }
    out.sort_unstable();
    out
}

fn solve_cluster(
    a: &[Span],
    b: &[Span],
    ca: &[usize],
    cb: &[usize],
    out: &mut Vec<(usize, usize)>,
) {
    if ca.len() == 1 && cb.len() == 1 {
        if a[ca[0]].overlap(&b[cb[0]]) > 0 {
            out.push((ca[0], cb[0]));
        }
        return;
    }
    // Lexicographic objective as one weight: BIG per pair dominates any total
    // overlap, then characters in common. Integers below 2^53, exact in f64.
    let big = 1.0
        + ca.iter()
            .map(|&i| (a[i].end - a[i].start) as f64)
            .sum::<f64>();
    let mut w = vec![0.0; ca.len() * cb.len()];
    for (x, &i) in ca.iter().enumerate() {
        for (y, &j) in cb.iter().enumerate() {
            let o = a[i].overlap(&b[j]);
            if o > 0 {
                w[x * cb.len() + y] = big + o as f64;
            }
        }
    }
    for (x, y) in max_weight_matching(ca.len(), cb.len(), &w) {
        out.push((ca[x], cb[y]));
    }
}

/// Precision, recall and F1 of annotator B against annotator A (A as reference;
/// F1 is symmetric).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// Matched pairs.
    pub matched: usize,
    /// Items of annotator A (reference).
    pub n_a: usize,
    /// Items of annotator B.
    pub n_b: usize,
    /// matched / n_b.
    pub precision: Coefficient,
    /// matched / n_a.
    pub recall: Coefficient,
    /// 2·matched / (n_a + n_b).
    pub f1: Coefficient,
}

impl Prf {
    pub fn new(matched: usize, n_a: usize, n_b: usize) -> Prf {
        let m = matched as f64;
        Prf {
            matched,
            n_a,
            n_b,
            precision: Coefficient::ratio(m, n_b as f64, Reason::EmptyHypothesis),
            recall: Coefficient::ratio(m, n_a as f64, Reason::EmptyReference),
            f1: Coefficient::ratio(2.0 * m, (n_a + n_b) as f64, Reason::BothEmpty),
        }
    }
}

/// Span agreement for one matching mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanAgreement {
    pub mode: MatchMode,
    pub per_label: BTreeMap<String, Prf>,
    /// Counts summed over labels.
    pub micro: Prf,
    /// Mean of the per-label values that are defined (labels seen on either side).
    pub macro_precision: Coefficient,
    pub macro_recall: Coefficient,
    pub macro_f1: Coefficient,
    /// The matching, (index in A, index in B).
    pub pairs: Vec<(usize, usize)>,
}

fn mean_defined<I: Iterator<Item = Coefficient>>(it: I, reason: Reason) -> Coefficient {
    let v: Vec<f64> = it.filter_map(|c| c.value()).collect();
    if v.is_empty() {
        Coefficient::undefined(reason)
    } else {
        Coefficient::defined(v.iter().sum::<f64>() / v.len() as f64)
    }
}

/// Precision / recall / F1 per label, micro and macro, for one matching mode.
pub fn span_agreement(a: &[Span], b: &[Span], mode: MatchMode) -> SpanAgreement {
    let pairs = match_spans(a, b, mode);
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for s in a {
        counts.entry(s.label.clone()).or_default().1 += 1;
    }
    for s in b {
        counts.entry(s.label.clone()).or_default().2 += 1;
    }
    for &(i, _) in &pairs {
        counts.get_mut(&a[i].label).unwrap().0 += 1;
    }
    let per_label: BTreeMap<String, Prf> = counts
        .into_iter()
        .map(|(l, (m, na, nb))| (l, Prf::new(m, na, nb)))
        .collect();
    let micro = Prf::new(pairs.len(), a.len(), b.len());
    SpanAgreement {
        mode,
        macro_precision: mean_defined(
            per_label.values().map(|p| p.precision),
            Reason::EmptyHypothesis,
        ),
        macro_recall: mean_defined(per_label.values().map(|p| p.recall), Reason::EmptyReference),
        macro_f1: mean_defined(per_label.values().map(|p| p.f1), Reason::BothEmpty),
        per_label,
        micro,
        pairs,
    }
}

/// Krippendorff's α over character positions: each character position in
/// `[0, len)` is a unit, and each annotator's value there is the set of labels of
/// the spans covering it (the empty set outside every span); nominal α over these
/// units. `len` is the text length in Unicode scalar values (defaults to the
/// largest span end). Runs of positions with identical values are weighted by
/// their length, so the cost is linear in the number of spans, not characters.
///
/// This is the positional form of unitizing α (every character a unit); it is not
/// the segment-length-weighted ᵤα of Krippendorff (1995), which scores the squared
/// lengths of non-matching stretches.
pub fn position_alpha(annotators: &[&[Span]], len: Option<usize>) -> Coefficient {
    let len = len.unwrap_or_else(|| {
        annotators
            .iter()
            .flat_map(|s| s.iter().map(|x| x.end))
            .max()
            .unwrap_or(0)
    });
    if annotators.len() < 2 {
        return Coefficient::undefined(Reason::TooFewCoders);
    }
    if len == 0 {
        return Coefficient::undefined(Reason::NoData);
    }
    let mut cuts: Vec<usize> = vec![0, len];
    for s in annotators.iter().flat_map(|s| s.iter()) {
        cuts.push(s.start.min(len));
        cuts.push(s.end.min(len));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let n_seg = cuts.len() - 1;
    let nc = annotators.len();
    let mut label_ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut cells = vec![0u32; n_seg * nc];
    for (c, spans) in annotators.iter().enumerate() {
        // Coverage per segment via sorted events.
        let mut sets: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); n_seg];
        for s in spans.iter() {
            let (st, en) = (s.start.min(len), s.end.min(len));
            if en <= st {
                continue;
            }
            let i0 = cuts.binary_search(&st).unwrap();
            let i1 = cuts.binary_search(&en).unwrap();
            for set in &mut sets[i0..i1] {
                set.insert(&s.label);
            }
        }
        for (seg, set) in sets.iter().enumerate() {
            let key = set.iter().copied().collect::<Vec<_>>().join("\u{1f}");
            let next = label_ids.len() as u32;
            cells[seg * nc + c] = *label_ids.entry(key).or_insert(next);
        }
    }
    let weights: Vec<f64> = cuts.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let cats = Categories::Labels(label_ids.keys().cloned().collect());
    // Remap ids to the sorted label order of `cats`.
    let order: Vec<u32> = {
        let mut v = vec![0u32; label_ids.len()];
        for (rank, id) in label_ids.values().enumerate() {
            v[*id as usize] = rank as u32;
        }
        v
    };
    for x in cells.iter_mut() {
        *x = order[*x as usize];
    }
    let t = Table::from_codes(n_seg, nc, cells, cats).expect("valid codes");
    alpha_weighted(&t, Level::Nominal, Some(&weights))
}

/// Krippendorff's unitizing α (ᵤα, Krippendorff 2004, "Measuring the reliability
/// of qualitative text analysis data", Quality & Quantity 38) per label and
/// jointly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitizingAlpha {
    /// 1 − Σ_k D_o(k) / Σ_k D_e(k) over all labels.
    pub joint: Coefficient,
    pub per_label: BTreeMap<String, Coefficient>,
}

/// One coder's sections of one category: (begin, length, is_unit).
fn sections(spans: &[&Span], begin: usize, end: usize) -> Vec<(f64, f64, bool)> {
    // Units: the category's spans clipped to the continuum, overlapping ones merged.
    let mut iv: Vec<(usize, usize)> = spans
        .iter()
        .map(|s| (s.start.clamp(begin, end), s.end.clamp(begin, end)))
        .filter(|(a, b)| b > a)
        .collect();
    iv.sort_unstable();
    let mut units: Vec<(usize, usize)> = Vec::new();
    for (a, b) in iv {
        match units.last_mut() {
            Some(last) if a < last.1 => last.1 = last.1.max(b),
            _ => units.push((a, b)),
        }
    }
    let mut out = Vec::new();
    let mut pos = begin;
    for (a, b) in units {
        if a > pos {
            out.push((pos as f64, (a - pos) as f64, false));
        }
        out.push((a as f64, (b - a) as f64, true));
        pos = b;
    }
    if end > pos {
        out.push((pos as f64, (end - pos) as f64, false));
    }
    out
}

/// δ² between a section of one coder and a section of another (Krippendorff 2004).
fn unit_delta(g: (f64, f64, bool), h: (f64, f64, bool)) -> f64 {
    let (bg, lg, ug) = g;
    let (bh, lh, uh) = h;
    let d = bg - bh;
    match (ug, uh) {
        (true, true) if -lg < d && d < lh => d * d + ((bg + lg) - (bh + lh)).powi(2),
        (true, false) if 0.0 <= d && d <= lh - lg => lg * lg,
        (false, true) if lh - lg <= d && d <= 0.0 => lh * lh,
        _ => 0.0,
    }
}

/// Krippendorff's ᵤα over the continuum `[begin, begin + len)` (character
/// positions). For each label k, every coder's continuum is cut into units (its
/// spans of k, overlapping ones merged) and gaps;
/// D_o(k) = Σ_{i≠j} Σ_g Σ_h δ²(g, h) / (m(m − 1)L²) with δ² the squared
/// differences of the two ends for overlapping units, l² for a unit inside a
/// gap of the other coder, 0 otherwise; and
/// D_e(k) = (2/L) Σ_units g [ (N_k − 1)/3 · (2l_g³ − 3l_g² + l_g) + l_g² Σ_gaps h, l_h ≥ l_g (l_h − l_g + 1) ]
/// / [ mL(mL − 1) − Σ_units l_g(l_g − 1) ], N_k the number of units of k.
/// α_k = 1 − D_o/D_e; the joint α sums D_o and D_e over labels. A label is
/// undefined (`NoExpectedDisagreement`) when its expected disagreement is zero.
pub fn unitizing_alpha(annotators: &[&[Span]], begin: usize, len: usize) -> UnitizingAlpha {
    let m = annotators.len();
    let undefined = |r| UnitizingAlpha {
        joint: Coefficient::undefined(r),
        per_label: BTreeMap::new(),
    };
    if m < 2 {
        return undefined(Reason::TooFewCoders);
    }
    if len == 0 {
        return undefined(Reason::NoData);
    }
    let end = begin + len;
    let labels: BTreeSet<&str> = annotators
        .iter()
        .flat_map(|a| a.iter().map(|s| s.label.as_str()))
        .collect();
    let (mf, lf) = (m as f64, len as f64);
    let (mut do_sum, mut de_sum) = (0.0, 0.0);
    let mut per_label = BTreeMap::new();
    for label in labels {
        let secs: Vec<Vec<(f64, f64, bool)>> = annotators
            .iter()
            .map(|a| {
                sections(
                    &a.iter().filter(|s| s.label == label).collect::<Vec<_>>(),
                    begin,
                    end,
                )
            })
            .collect();
        // Sections of each coder tile the continuum in order, and δ² is zero
        // unless the two sections overlap: sweep instead of comparing all pairs.
        let mut dobs = 0.0;
        for i in 0..m {
            for j in 0..m {
                if i == j {
                    continue;
                }
                let hs = &secs[j];
                let mut k = 0;
                for &g in &secs[i] {
                    while k < hs.len() && hs[k].0 + hs[k].1 <= g.0 {
                        k += 1;
                    }
                    let mut x = k;
                    while x < hs.len() && hs[x].0 < g.0 + g.1 {
                        dobs += unit_delta(g, hs[x]);
                        x += 1;
                    }
                }
            }
        }
        dobs /= mf * (mf - 1.0) * lf * lf;
        let n_units = secs.iter().flatten().filter(|s| s.2).count() as f64;
        // Σ over gaps h with l_h ≥ l (l_h − l + 1) from gap lengths sorted
        // ascending and suffix sums of (l_h + 1).
        let mut gaps: Vec<f64> = secs
            .iter()
            .flatten()
            .filter(|s| !s.2)
            .map(|s| s.1)
            .collect();
        gaps.sort_by(f64::total_cmp);
        let mut suffix = vec![0.0; gaps.len() + 1];
        for x in (0..gaps.len()).rev() {
            suffix[x] = suffix[x + 1] + gaps[x] + 1.0;
        }
        let (mut num, mut den) = (0.0, mf * lf * (mf * lf - 1.0));
        for &(_, l, _) in secs.iter().flatten().filter(|s| s.2) {
            let first = gaps.partition_point(|&gl| gl < l);
            let fit = suffix[first] - (gaps.len() - first) as f64 * l;
            num += (n_units - 1.0) / 3.0 * (2.0 * l.powi(3) - 3.0 * l * l + l) + l * l * fit;
            den -= l * (l - 1.0);
        }
        let de = num * (2.0 / lf) / den;
        do_sum += dobs;
        de_sum += de;
        per_label.insert(
            label.to_string(),
            Coefficient::ratio(de - dobs, de, Reason::NoExpectedDisagreement),
        );
    }
    let joint = if per_label.is_empty() {
        Coefficient::undefined(Reason::NoData)
    } else {
        Coefficient::ratio(de_sum - do_sum, de_sum, Reason::NoExpectedDisagreement)
    };
    UnitizingAlpha { joint, per_label }
}

/// Relation agreement: a relation of A matches one of B when both endpoints are
/// matched spans (under `mode`) in the same direction and the types are equal.
/// Returns micro P/R/F1 and per relation type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelationAgreement {
    pub micro: Prf,
    pub per_label: BTreeMap<String, Prf>,
}

pub fn relation_agreement(
    a: &[Span],
    b: &[Span],
    a_rel: &[Relation],
    b_rel: &[Relation],
    mode: MatchMode,
) -> RelationAgreement {
    let pairs = match_spans(a, b, mode);
    let map: HashMap<usize, usize> = pairs.into_iter().collect();
    let mut pool: HashMap<(usize, usize, &str), usize> = HashMap::new();
    for r in b_rel {
        *pool.entry((r.head, r.tail, r.label.as_str())).or_default() += 1;
    }
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for r in a_rel {
        counts.entry(r.label.clone()).or_default().1 += 1;
    }
    for r in b_rel {
        counts.entry(r.label.clone()).or_default().2 += 1;
    }
    let mut matched = 0;
    for r in a_rel {
        if let (Some(&h), Some(&t)) = (map.get(&r.head), map.get(&r.tail))
            && let Some(n) = pool.get_mut(&(h, t, r.label.as_str()))
            && *n > 0
        {
            *n -= 1;
            matched += 1;
            counts.get_mut(&r.label).unwrap().0 += 1;
        }
    }
    RelationAgreement {
        micro: Prf::new(matched, a_rel.len(), b_rel.len()),
        per_label: counts
            .into_iter()
            .map(|(l, (m, na, nb))| (l, Prf::new(m, na, nb)))
            .collect(),
    }
}

/// Agreement on one attribute over the matched span pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeAgreement {
    /// Matched pairs where both spans carry the attribute.
    pub n_pairs: usize,
    pub percent_agreement: Coefficient,
    pub cohen_kappa: Coefficient,
    pub krippendorff_alpha_nominal: Coefficient,
}

/// For each attribute key present on either side, agreement of its values over
/// the matched pairs (units = matched pairs, a missing attribute = missing value).
pub fn attribute_agreement(
    a: &[Span],
    b: &[Span],
    pairs: &[(usize, usize)],
) -> BTreeMap<String, AttributeAgreement> {
    let mut keys = BTreeSet::new();
    for &(i, j) in pairs {
        keys.extend(a[i].attributes.keys().cloned());
        keys.extend(b[j].attributes.keys().cloned());
    }
    let mut out = BTreeMap::new();
    for key in keys {
        let rows: Vec<[Option<&str>; 2]> = pairs
            .iter()
            .map(|&(i, j)| {
                [
                    a[i].attributes.get(&key).map(|s| s.as_str()),
                    b[j].attributes.get(&key).map(|s| s.as_str()),
                ]
            })
            .collect();
        let t = Table::from_labels(&rows).expect("two columns");
        let n_pairs = (0..t.n_units())
            .filter(|&u| t.row(u).iter().all(|&c| c != MISSING))
            .count();
        out.insert(
            key,
            AttributeAgreement {
                n_pairs,
                percent_agreement: percent_agreement(&t),
                cohen_kappa: cohen_kappa(&t, Weights::Unweighted),
                krippendorff_alpha_nominal: krippendorff_alpha(&t, Level::Nominal),
            },
        );
    }
    out
}

/// Everything about two annotators' spans of one document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanReport {
    pub exact: SpanAgreement,
    pub overlap: SpanAgreement,
    pub position_alpha: Coefficient,
    /// Krippendorff's ᵤα over `[0, text length)`.
    pub unitizing_alpha: UnitizingAlpha,
    /// Attribute agreement over the overlap matching.
    pub attributes: BTreeMap<String, AttributeAgreement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relations: Option<RelationAgreement>,
}

/// Exact and overlap P/R/F1, α over positions, Krippendorff's ᵤα, attributes (over the overlap
/// matching) and, when given, relations (over the overlap matching).
pub fn span_report(
    a: &[Span],
    b: &[Span],
    text_len: Option<usize>,
    relations: Option<(&[Relation], &[Relation])>,
) -> SpanReport {
    let exact = span_agreement(a, b, MatchMode::Exact);
    let overlap = span_agreement(a, b, MatchMode::Overlap);
    let attributes = attribute_agreement(a, b, &overlap.pairs);
    let len = text_len.unwrap_or_else(|| a.iter().chain(b).map(|s| s.end).max().unwrap_or(0));
    SpanReport {
        position_alpha: position_alpha(&[a, b], Some(len)),
        unitizing_alpha: unitizing_alpha(&[a, b], 0, len),
        relations: relations.map(|(ra, rb)| relation_agreement(a, b, ra, rb, MatchMode::Overlap)),
        exact,
        overlap,
        attributes,
    }
}
