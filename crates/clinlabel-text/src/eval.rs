//! Assertion evaluation: labelled sentence sets and per-class precision and recall.
//!
//! Two formats are read:
//! - clinlabel's own, [`parse_marked`]: `assertion<TAB>sentence` per line,
//!   the target marked `[[like this]]` (`data/assertion_sentences.tsv`);
//! - the NegEx/ConText test kit of Chapman et al. ([`parse_negex`],
//!   `rsAnnotations-1-120-random.txt`: number, condition, sentence,
//!   negation, temporality, experiencer), mapped to one class: negated →
//!   absent, else experiencer other → family_history, else temporality
//!   hypothetical or "not particular" → hypothetical, historical →
//!   historical, else present. The condition is located in the sentence
//!   case-insensitively with any spacing (the kit writes it in capitals);
//!   rows whose condition is not in the sentence are skipped and counted.

use crate::model::Assertion;
use serde::Serialize;

/// The shipped labelled set (`data/assertion_sentences.tsv`, [`parse_marked`] format).
pub const SHIPPED_SET: &str = include_str!("../data/assertion_sentences.tsv");

/// One labelled target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Labelled {
    pub id: String,
    pub text: String,
    /// Char offsets of the target.
    pub start: usize,
    pub end: usize,
    pub gold: Assertion,
}

/// Parses the `assertion<TAB>sentence with [[target]]` format.
pub fn parse_marked(name: &str, text: &str) -> Result<Vec<Labelled>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |m: &str| format!("{name} line {}: {m}", i + 1);
        let (g, s) = line.split_once('\t').ok_or_else(|| bad("expected assertion<TAB>sentence"))?;
        let gold = Assertion::parse(g).ok_or_else(|| bad("unknown assertion"))?;
        let a = s.find("[[").ok_or_else(|| bad("mark the target with [[…]]"))?;
        let b = s.find("]]").filter(|b| *b > a).ok_or_else(|| bad("mark the target with [[…]]"))?;
        let sentence = format!("{}{}{}", &s[..a], &s[a + 2..b], &s[b + 2..]);
        let start = s[..a].chars().count();
        let end = start + s[a + 2..b].chars().count();
        out.push(Labelled { id: format!("{name}:{}", i + 1), text: sentence, start, end, gold });
    }
    Ok(out)
}

/// Finds `needle` in `hay` ignoring case and treating any run of whitespace as equal;
/// prefers an occurrence written in capitals. Char offsets.
fn locate(hay: &str, needle: &str) -> Option<(usize, usize)> {
    let words: Vec<String> = needle.split_whitespace().map(|w| w.to_lowercase()).collect();
    if words.is_empty() {
        return None;
    }
    let hc: Vec<char> = hay.chars().collect();
    let lower: Vec<char> = hc.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let mut found = Vec::new();
    for st in 0..lower.len() {
        let mut i = st;
        let mut ok = true;
        for (k, w) in words.iter().enumerate() {
            if k > 0 {
                let ws = i;
                while i < lower.len() && lower[i].is_whitespace() {
                    i += 1;
                }
                if i == ws {
                    ok = false;
                    break;
                }
            }
            for wc in w.chars() {
                if i < lower.len() && lower[i] == wc {
                    i += 1;
                } else {
                    ok = false;
                    break;
                }
            }
            if !ok {
                break;
            }
        }
        let bounded = st == 0 || !lower[st - 1].is_alphanumeric();
        let bounded_end = i >= lower.len() || !lower[i].is_alphanumeric();
        if ok && bounded && bounded_end {
            found.push((st, i));
        }
    }
    let caps = |&(a, b): &(usize, usize)| hc[a..b].iter().filter(|c| c.is_alphabetic()).all(|c| c.is_uppercase());
    found.iter().find(|x| caps(x)).or(found.first()).copied()
}

/// Parses the NegEx/ConText test kit; returns the rows and how many were skipped.
pub fn parse_negex(name: &str, text: &str) -> (Vec<Labelled>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
        if i == 0 || f.len() < 6 || f[0].trim().parse::<u64>().is_err() {
            continue;
        }
        let (cond, sent) = (f[1].trim(), f[2]);
        let (neg, temp, exp) = (f[3].trim().to_lowercase(), f[4].trim().to_lowercase(), f[5].trim().to_lowercase());
        let gold = if neg == "negated" {
            Assertion::Absent
        } else if exp == "other" {
            Assertion::FamilyHistory
        } else if temp == "hypothetical" || temp == "not particular" {
            Assertion::Hypothetical
        } else if temp == "historical" {
            Assertion::Historical
        } else {
            Assertion::Present
        };
        match locate(sent, cond) {
            Some((start, end)) => out.push(Labelled { id: format!("{name}:{}", f[0].trim()), text: sent.to_string(), start, end, gold }),
            None => skipped += 1,
        }
    }
    (out, skipped)
}

/// Precision and recall of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    pub class: Assertion,
    pub support: usize,
    pub predicted: usize,
    pub correct: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Per-class scores (classes present in gold or predictions) and accuracy.
pub fn score(gold: &[Assertion], pred: &[Assertion]) -> (Vec<ClassScore>, f64) {
    assert_eq!(gold.len(), pred.len());
    let mut out = Vec::new();
    for c in Assertion::ALL {
        let support = gold.iter().filter(|g| **g == c).count();
        let predicted = pred.iter().filter(|p| **p == c).count();
        if support == 0 && predicted == 0 {
            continue;
        }
        let correct = gold.iter().zip(pred).filter(|(g, p)| **g == c && **p == c).count();
        let precision = if predicted == 0 { 0.0 } else { correct as f64 / predicted as f64 };
        let recall = if support == 0 { 0.0 } else { correct as f64 / support as f64 };
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        out.push(ClassScore { class: c, support, predicted, correct, precision, recall, f1 });
    }
    let acc = if gold.is_empty() { 0.0 } else { gold.iter().zip(pred).filter(|(g, p)| g == p).count() as f64 / gold.len() as f64 };
    (out, acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        let v = parse_marked("s", "absent\tNo [[fever]] today.\n# c\nfamily_history\tMother had [[asthma]].").unwrap();
        assert_eq!((v[0].text.as_str(), v[0].start, v[0].end, v[0].gold), ("No fever today.", 3, 8, Assertion::Absent));
        assert_eq!(v[1].gold, Assertion::FamilyHistory);
        assert!(parse_marked("s", "absent\tno target").unwrap_err().contains("line 1"));
        let kit = "line number\tCondition\tsentence\tneg\ttemp\texp\n1\tedema\tNo peripheral cyanosis or EDEMA.\tNegated\tRecent\tPatient\n\
                   2\tpain   in chest\tHx of PAIN IN  CHEST.\tAffirmed\tHistorical\tPatient\n3\tgone\tNot here.\tAffirmed\tRecent\tOther\n";
        let (v, skipped) = parse_negex("k", kit);
        assert_eq!(skipped, 1);
        assert_eq!((v[0].start, v[0].end, v[0].gold), (26, 31, Assertion::Absent));
        assert_eq!((&v[1].text[v[1].start..v[1].end], v[1].gold), ("PAIN IN  CHEST", Assertion::Historical));
    }

    #[test]
    fn the_shipped_set_parses_and_covers_every_class() {
        let v = parse_marked("assertion_sentences.tsv", SHIPPED_SET).unwrap();
        assert!(v.len() >= 200, "{}", v.len());
        for c in Assertion::ALL {
            assert!(v.iter().filter(|l| l.gold == c).count() >= 20, "{c}");
        }
    }

    #[test]
    fn scores_per_class() {
        use Assertion::*;
        let (s, acc) = score(&[Absent, Absent, Present, Possible], &[Absent, Present, Present, Absent]);
        let absent = s.iter().find(|c| c.class == Absent).unwrap();
        assert_eq!((absent.support, absent.predicted, absent.correct), (2, 2, 1));
        assert_eq!((absent.precision, absent.recall), (0.5, 0.5));
        let possible = s.iter().find(|c| c.class == Possible).unwrap();
        assert_eq!((possible.precision, possible.recall), (0.0, 0.0));
        assert_eq!(acc, 0.5);
    }
}
