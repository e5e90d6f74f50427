//! A ConText assertion engine (Harkema, Dowling, Thornblade, Chapman 2009,
//! "ConText: an algorithm for determining negation, experiencer, and
//! temporal status from clinical reports", J Biomed Inform 42(5)).
//!
//! Trigger terms carry a category and a direction. Per sentence:
//!
//! 1. Triggers are found with the word-bounded longest-match search of
//!    [`crate::phrase`]; a longer trigger hides the shorter ones inside it,
//!    which is what pseudo-triggers are for ("no increase", "not only",
//!    "gram negative", "history of present illness" match and do nothing).
//! 2. A trigger's scope runs from the trigger to the sentence end
//!    (`forward`), back to the sentence start (`backward`), or both
//!    (`bidirectional`), cut to `max=N` tokens when the rule says so.
//! 3. Scopes are then limited, as in pyConText / medspaCy: a trigger's scope
//!    stops at a termination term (`terminate` rules: "but", "however",
//!    "because", "presenting"…) and at the next trigger of the same category
//!    in its direction.
//! 4. A target inside the scope of a trigger, and not overlapping it, takes
//!    the trigger's category.
//!
//! Categories map to [`Assertion`]: `absent` (negated existence), `possible`,
//! `historical`, `hypothetical`, `family` (the experiencer is someone else →
//! [`Assertion::FamilyHistory`]). When several apply, the assertion is the
//! first of absent, family, hypothetical, possible, historical; none gives
//! present.
//!
//! ## Rule files
//!
//! One rule per line: `category direction [max=N] pattern`. Directions:
//! `forward`, `backward`, `bidirectional`, `terminate`, `pseudo` (for the
//! last two the category is informative only; write `-` for none). The
//! pattern is words, with `{a|b|c}` for one of several alternatives and
//! `[a|b]` for an optional one; alternatives may hold several words.
//! `#` starts a comment. The shipped set, `rules/context.rules`
//! ([`RuleSet::default_rules`]), re-expresses medspaCy 1.3.1's English
//! default rules (after pyConText's lexicon) and adds pseudo-triggers,
//! family, historical and hypothetical cues.

use crate::error::{Result, TextError};
use crate::model::{Assertion, Range};
use crate::phrase::{Normalized, PhraseSet};
use crate::sentences;
use serde::Serialize;

/// A trigger's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Absent,
    Possible,
    Historical,
    Hypothetical,
    Family,
    /// For terminate and pseudo rules written with `-`.
    None,
}

impl Category {
    fn parse(s: &str) -> Option<Category> {
        Some(match s {
            "absent" | "negated" => Category::Absent,
            "possible" => Category::Possible,
            "historical" => Category::Historical,
            "hypothetical" => Category::Hypothetical,
            "family" => Category::Family,
            "-" => Category::None,
            _ => return None,
        })
    }

    pub fn assertion(self) -> Option<Assertion> {
        Some(match self {
            Category::Absent => Assertion::Absent,
            Category::Possible => Assertion::Possible,
            Category::Historical => Assertion::Historical,
            Category::Hypothetical => Assertion::Hypothetical,
            Category::Family => Assertion::FamilyHistory,
            Category::None => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Forward,
    Backward,
    Bidirectional,
    Terminate,
    Pseudo,
}

impl Direction {
    fn parse(s: &str) -> Option<Direction> {
        Some(match s {
            "forward" => Direction::Forward,
            "backward" => Direction::Backward,
            "bidirectional" | "both" => Direction::Bidirectional,
            "terminate" => Direction::Terminate,
            "pseudo" => Direction::Pseudo,
            _ => return None,
        })
    }
}

/// One rule line (a pattern may expand to many phrases).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub category: Category,
    pub direction: Direction,
    /// Scope limit in tokens.
    pub max_scope: Option<usize>,
    /// The pattern as written.
    pub pattern: String,
    /// Line in its file.
    pub line: usize,
}

/// A compiled rule set.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    set: PhraseSet,
    /// Phrase id → rule index.
    phrase_rule: Vec<usize>,
}

/// The shipped rule file.
pub const DEFAULT_RULES: &str = include_str!("../rules/context.rules");

const MAX_EXPANSIONS: usize = 10_000;

/// Expands `{a|b}` (one of) and `[a|b]` (optional) into literal phrases.
fn expand(pattern: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = pattern;
    while !rest.is_empty() {
        let (alts, optional, after) = if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}').ok_or("an opening { has no closing }")?;
            (r[..end].split('|').map(str::trim).collect::<Vec<_>>(), false, &r[end + 1..])
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("an opening [ has no closing ]")?;
            (r[..end].split('|').map(str::trim).collect::<Vec<_>>(), true, &r[end + 1..])
        } else {
            let end = rest.find(['{', '[']).unwrap_or(rest.len());
            if rest[..end].contains(['}', ']']) {
                return Err("a closing bracket without its opening one".into());
            }
            (vec![rest[..end].trim()], false, &rest[end..])
        };
        let mut alts: Vec<&str> = alts;
        if optional {
            alts.push("");
        }
        let mut next = Vec::with_capacity(out.len() * alts.len());
        for o in &out {
            for a in &alts {
                next.push(format!("{o} {a}"));
            }
        }
        if next.len() > MAX_EXPANSIONS {
            return Err(format!("the pattern expands to more than {MAX_EXPANSIONS} phrases"));
        }
        out = next;
        rest = after;
    }
    let out: Vec<String> = out.into_iter().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty()).collect();
    if out.is_empty() {
        return Err("the pattern is empty".into());
    }
    Ok(out)
}

impl RuleSet {
    /// The shipped rules.
    pub fn default_rules() -> RuleSet {
        RuleSet::parse("context.rules", DEFAULT_RULES).expect("the shipped rule file parses")
    }

    /// Parses a rule file (see the module docs).
    pub fn parse(name: &str, text: &str) -> Result<RuleSet> {
        let mut rules = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut phrase_rule = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |p: String| TextError::Rules { name: name.into(), line: i + 1, problem: p };
            let words: Vec<&str> = line.split_whitespace().collect();
            let (cat, dir) = (words[0], words.get(1).copied().unwrap_or(""));
            let rest = words.get(2..).map(|w| w.join(" ")).unwrap_or_default();
            let category = Category::parse(cat).ok_or_else(|| bad(format!("unknown category {cat:?} (absent, possible, historical, hypothetical, family, -)")))?;
            let direction =
                Direction::parse(dir).ok_or_else(|| bad(format!("unknown direction {dir:?} (forward, backward, bidirectional, terminate, pseudo)")))?;
            let mut pattern = rest.trim().to_string();
            let mut max_scope = None;
            if let Some(r) = pattern.strip_prefix("max=") {
                let (n, p) = r.split_once(char::is_whitespace).ok_or_else(|| bad("max=N must be followed by a pattern".into()))?;
                max_scope = Some(n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| bad(format!("max={n} is not a positive number")))?);
                pattern = p.trim().to_string();
            }
            if category == Category::None && !matches!(direction, Direction::Terminate | Direction::Pseudo) {
                return Err(bad("only terminate and pseudo rules may have no category".into()));
            }
            let phrases = expand(&pattern).map_err(bad)?;
            let r = rules.len();
            rules.push(Rule { category, direction, max_scope, pattern, line: i + 1 });
            for p in phrases {
                let key = Normalized::key(&p);
                if key.is_empty() {
                    continue;
                }
                // A phrase listed twice keeps its first rule.
                if seen.insert(key.clone(), r).is_none() {
                    keys.push(key);
                    phrase_rule.push(r);
                }
            }
        }
        Ok(RuleSet { rules, set: PhraseSet::new(keys, false), phrase_rule })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Distinct trigger phrases after expansion.
    pub fn phrases(&self) -> usize {
        self.phrase_rule.len()
    }
}

/// A trigger found in the text, with the scope it governs (char offsets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cue {
    pub start: usize,
    pub end: usize,
    pub category: Category,
    pub direction: Direction,
    pub scope: Range,
    /// Line of the rule in its file.
    pub rule_line: usize,
}

/// The assertion of one target and the cues that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Asserted {
    pub assertion: Assertion,
    /// Every category that applied, in precedence order.
    pub categories: Vec<Assertion>,
    pub cues: Vec<Cue>,
}

const PRECEDENCE: [Assertion; 5] = [Assertion::Absent, Assertion::FamilyHistory, Assertion::Hypothetical, Assertion::Possible, Assertion::Historical];

/// The ConText engine over a rule set.
#[derive(Debug)]
pub struct ConText {
    rules: RuleSet,
}

struct Modifier {
    first: usize,
    last: usize,
    rule: usize,
    /// Scope in tokens `[lo, hi)`.
    lo: usize,
    hi: usize,
}

impl Default for ConText {
    fn default() -> Self {
        ConText::new(RuleSet::default_rules())
    }
}

impl ConText {
    pub fn new(rules: RuleSet) -> ConText {
        ConText { rules }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The assertion of each target (`[start, end)` char offsets of `text`), in order.
    /// Sentences are found with [`sentences::split`]; a target is judged within the
    /// sentence(s) it lies in.
    pub fn assert_targets(&self, text: &str, targets: &[(usize, usize)]) -> Vec<Asserted> {
        let sents = sentences::split(text);
        self.assert_with_sentences(text, &sents, targets)
    }

    /// As [`assert_targets`](Self::assert_targets) with the caller's sentences.
    pub fn assert_with_sentences(&self, text: &str, sents: &[Range], targets: &[(usize, usize)]) -> Vec<Asserted> {
        let idx = crate::offsets::OffsetIndex::new(text);
        let mut out = vec![Asserted { assertion: Assertion::Present, categories: Vec::new(), cues: Vec::new() }; targets.len()];
        // Group targets by the sentence range that contains them (merging sentences a target crosses).
        let mut groups: Vec<(Range, Vec<usize>)> = Vec::new();
        for (ti, &(s, e)) in targets.iter().enumerate() {
            let first = sents.iter().position(|r| r.end > s).unwrap_or(sents.len().saturating_sub(1));
            let last = sents.iter().rposition(|r| r.start < e).unwrap_or(first).max(first);
            let range = match (sents.get(first), sents.get(last)) {
                (Some(a), Some(b)) => Range { start: a.start.min(s), end: b.end.max(e) },
                _ => Range { start: s, end: e },
            };
            match groups.iter_mut().find(|(r, _)| *r == range) {
                Some((_, v)) => v.push(ti),
                None => groups.push((range, vec![ti])),
            }
        }
        for (range, tis) in groups {
            let (Some(a), Some(b)) = (idx.byte(range.start), idx.byte(range.end.min(idx.chars()))) else { continue };
            let n = Normalized::new(&text[a..b], range.start);
            let mods = self.modifiers(&n);
            for ti in tis {
                out[ti] = self.judge(&n, &mods, targets[ti]);
            }
        }
        out
    }

    /// Convenience: the assertion of one target in a sentence or short text.
    pub fn assertion(&self, text: &str, start: usize, end: usize) -> Assertion {
        self.assert_targets(text, &[(start, end)]).remove(0).assertion
    }

    fn modifiers(&self, n: &Normalized) -> Vec<Modifier> {
        let ntok = n.tokens();
        let mut mods: Vec<Modifier> = self
            .rules
            .set
            .scan(n)
            .into_iter()
            .map(|m| {
                let rule = self.rules.phrase_rule[m.phrase];
                let r = &self.rules.rules[rule];
                let (mut lo, mut hi) = match r.direction {
                    Direction::Forward => (m.last, ntok),
                    Direction::Backward => (0, m.first),
                    Direction::Bidirectional => (0, ntok),
                    Direction::Terminate | Direction::Pseudo => (m.first, m.first),
                };
                if let Some(k) = r.max_scope {
                    if matches!(r.direction, Direction::Forward | Direction::Bidirectional) {
                        hi = hi.min(m.last + k);
                    }
                    if matches!(r.direction, Direction::Backward | Direction::Bidirectional) {
                        lo = lo.max(m.first.saturating_sub(k));
                    }
                }
                Modifier { first: m.first, last: m.last, rule, lo, hi }
            })
            .collect();
        // Limit scopes by termination terms and by triggers of the same category.
        for i in 0..mods.len() {
            let ri = &self.rules.rules[mods[i].rule];
            if matches!(ri.direction, Direction::Terminate | Direction::Pseudo) {
                continue;
            }
            for j in 0..mods.len() {
                if i == j {
                    continue;
                }
                let rj = &self.rules.rules[mods[j].rule];
                let limits = rj.direction == Direction::Terminate || (rj.direction != Direction::Pseudo && rj.category == ri.category);
                if !limits {
                    continue;
                }
                let (fj, lj) = (mods[j].first, mods[j].last);
                let m = &mut mods[i];
                if matches!(ri.direction, Direction::Forward | Direction::Bidirectional) && fj >= m.last {
                    m.hi = m.hi.min(fj);
                }
                if matches!(ri.direction, Direction::Backward | Direction::Bidirectional) && lj <= m.first {
                    m.lo = m.lo.max(lj);
                }
            }
        }
        mods
    }

    fn judge(&self, n: &Normalized, mods: &[Modifier], (s, e): (usize, usize)) -> Asserted {
        // Target tokens: those overlapping [s, e).
        let first = n.tok_chars.iter().position(|&(a, b)| (b as usize) > s && (a as usize) < e);
        let last = n.tok_chars.iter().rposition(|&(a, b)| (b as usize) > s && (a as usize) < e);
        let mut cats = Vec::new();
        let mut cues = Vec::new();
        if let (Some(tf), Some(tl)) = (first, last) {
            let tl = tl + 1;
            for m in mods {
                let r = &self.rules.rules[m.rule];
                let Some(a) = r.category.assertion() else { continue };
                if matches!(r.direction, Direction::Terminate | Direction::Pseudo) {
                    continue;
                }
                let overlaps_trigger = tf < m.last && m.first < tl;
                let in_scope = tf < m.hi && m.lo < tl;
                if in_scope && !overlaps_trigger {
                    if !cats.contains(&a) {
                        cats.push(a);
                    }
                    let tok = |t: usize, end: bool| {
                        if n.tokens() == 0 {
                            return s;
                        }
                        if end { n.tok_chars[t.clamp(1, n.tokens()) - 1].1 as usize } else { n.tok_chars[t.min(n.tokens() - 1)].0 as usize }
                    };
                    let scope = if m.lo < m.hi { Range { start: tok(m.lo, false), end: tok(m.hi, true) } } else { Range { start: s, end: s } };
                    cues.push(Cue {
                        start: n.tok_chars[m.first].0 as usize,
                        end: n.tok_chars[m.last - 1].1 as usize,
                        category: r.category,
                        direction: r.direction,
                        scope,
                        rule_line: r.line,
                    });
                }
            }
        }
        let categories: Vec<Assertion> = PRECEDENCE.iter().copied().filter(|a| cats.contains(a)).collect();
        Asserted { assertion: categories.first().copied().unwrap_or(Assertion::Present), categories, cues }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str, target: &str) -> Assertion {
        let s = text.find(target).unwrap();
        let cs = text[..s].chars().count();
        ConText::default().assertion(text, cs, cs + target.chars().count())
    }

    #[test]
    fn patterns_expand() {
        assert_eq!(expand("no [new|abnormal]").unwrap(), ["no new", "no abnormal", "no"]);
        assert_eq!(expand("{risk|risks} of").unwrap(), ["risk of", "risks of"]);
        assert_eq!(expand("should {the patient|he}").unwrap(), ["should the patient", "should he"]);
        assert!(expand("no {a|b").is_err());
    }

    #[test]
    fn rule_files_report_their_line() {
        let e = RuleSet::parse("r.rules", "absent forward no\nmaybe forward x\n").unwrap_err();
        assert_eq!(e.to_string(), "r.rules line 2: unknown category \"maybe\" (absent, possible, historical, hypothetical, family, -)");
        let e = RuleSet::parse("r.rules", "absent sideways no\n").unwrap_err();
        assert!(e.to_string().starts_with("r.rules line 1: unknown direction"), "{e}");
        let e = RuleSet::parse("r.rules", "absent forward max=0 no\n").unwrap_err();
        assert!(e.to_string().contains("max=0"), "{e}");
        let r = RuleSet::parse("r.rules", "# c\nabsent forward max=3 no [new]\n- terminate but\n").unwrap();
        assert_eq!((r.rules().len(), r.phrases(), r.rules()[0].max_scope), (2, 3, Some(3)));
    }

    #[test]
    fn the_default_rules_decide_the_classic_cases() {
        assert_eq!(a("Extremities reveal no peripheral cyanosis or edema.", "edema"), Assertion::Absent);
        assert_eq!(a("She denies any diaphoresis.", "diaphoresis"), Assertion::Absent);
        assert_eq!(a("Pneumonia was ruled out.", "Pneumonia"), Assertion::Absent);
        assert_eq!(a("No fever but has a cough.", "cough"), Assertion::Present);
        assert_eq!(a("No fever but has a cough.", "fever"), Assertion::Absent);
        assert_eq!(a("Rule out pneumonia.", "pneumonia"), Assertion::Possible);
        assert_eq!(a("Findings suspicious for malignancy.", "malignancy"), Assertion::Possible);
        assert_eq!(a("History of hypertension.", "hypertension"), Assertion::Historical);
        assert_eq!(a("Return if chest pain recurs.", "chest pain"), Assertion::Hypothetical);
        assert_eq!(a("Mother had breast cancer.", "breast cancer"), Assertion::FamilyHistory);
        assert_eq!(a("Patient has diabetes.", "diabetes"), Assertion::Present);
        // Pseudo-triggers hide the negation inside them.
        assert_eq!(a("No increase in the effusion.", "effusion"), Assertion::Present);
        assert_eq!(a("Gram negative rods.", "rods"), Assertion::Present);
        // Scope ends with the sentence.
        assert_eq!(a("No fever. Cough persists.", "Cough"), Assertion::Present);
        // A trigger never modifies a target that overlaps it.
        assert_eq!(a("No acute distress.", "No acute distress"), Assertion::Present);
    }

    #[test]
    fn cues_report_trigger_and_scope() {
        let text = "Denies chest pain; cough.";
        let r = ConText::default().assert_targets(text, &[(7, 17)]);
        assert_eq!(r[0].assertion, Assertion::Absent);
        let c = &r[0].cues[0];
        assert_eq!((c.start, c.end, c.category, c.direction), (0, 6, Category::Absent, Direction::Forward));
        assert_eq!(c.scope.start, 7);
    }
}
