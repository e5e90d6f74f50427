//! Word-boundary, case-insensitive, longest-match phrase search over many
//! phrases: the engine under both the dictionary matcher and ConText's
//! trigger search.
//!
//! Text and phrases are normalised the same way into a token stream:
//! letters and digits form words, lower-cased (Unicode); an apostrophe inside
//! a word is dropped ("Crohn's" = "crohns"); whitespace and hyphens separate
//! words; every other punctuation character is a token of its own. Tokens
//! are joined by one space and every phrase ends with a space, so a match
//! always ends on a token boundary. An Aho-Corasick automaton built for
//! anchored, leftmost-longest search is then run once at each token start:
//! a match can only begin where a word begins, and the longest phrase wins.
//! Scanning left to right and jumping past each match gives non-overlapping
//! longest matches; [`PhraseSet::all_at`] gives every phrase starting at a
//! token, for callers that resolve overlaps themselves.

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, MatchKind, StartKind};

/// A normalised text: the haystack plus, per token, its original char range.
#[derive(Debug, Default)]
pub struct Normalized {
    /// Tokens joined by single spaces, with a trailing space.
    pub hay: String,
    /// Per token: byte offset of its start in `hay`.
    pub tok_byte: Vec<u32>,
    /// Per token: original `[start, end)` in chars.
    pub tok_chars: Vec<(u32, u32)>,
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}')
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '\u{2010}' | '\u{2011}' | '\u{2013}')
}

impl Normalized {
    /// Normalises `text`; `char_base` is added to every char offset (for sentences cut from a document).
    pub fn new(text: &str, char_base: usize) -> Normalized {
        let mut n = Normalized { hay: String::with_capacity(text.len() + 16), tok_byte: Vec::new(), tok_chars: Vec::new() };
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_alphanumeric() {
                let start = i;
                n.tok_byte.push(n.hay.len() as u32);
                while i < chars.len() {
                    let c = chars[i];
                    if c.is_alphanumeric() || crate::tokenize::is_continuation(c) {
                        n.hay.extend(c.to_lowercase());
                    } else if is_apostrophe(c) && i + 1 < chars.len() && chars[i + 1].is_alphanumeric() && i > start {
                        // dropped
                    } else {
                        break;
                    }
                    i += 1;
                }
                n.tok_chars.push(((start + char_base) as u32, (i + char_base) as u32));
                n.hay.push(' ');
            } else if is_separator(c) {
                i += 1;
            } else {
                n.tok_byte.push(n.hay.len() as u32);
                n.hay.push(c);
                n.hay.push(' ');
                n.tok_chars.push(((i + char_base) as u32, (i + 1 + char_base) as u32));
                i += 1;
            }
        }
        n
    }

    /// Normalised form of a phrase (no offsets kept): what a pattern is stored as.
    pub fn key(phrase: &str) -> String {
        Normalized::new(phrase, 0).hay
    }

    pub fn tokens(&self) -> usize {
        self.tok_byte.len()
    }

    /// The token index starting at byte `b` of `hay`, or the count if `b` is the end.
    fn token_at_byte(&self, b: usize) -> usize {
        match self.tok_byte.binary_search(&(b as u32)) {
            Ok(i) => i,
            Err(i) => i,
        }
    }
}

/// A match in token units: tokens `[first, last)`, phrase id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokMatch {
    pub first: usize,
    pub last: usize,
    pub phrase: usize,
}

/// A compiled set of phrases.
pub struct PhraseSet {
    ac: Option<AhoCorasick>,
    /// The automaton for overlapping search at a start (every phrase beginning there).
    all: Option<AhoCorasick>,
    keys: Vec<String>,
}

impl std::fmt::Debug for PhraseSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhraseSet({} phrases)", self.keys.len())
    }
}

impl PhraseSet {
    /// Compiles normalised keys (from [`Normalized::key`]); empty keys never match.
    /// `with_all` also builds the automaton [`all_at`](Self::all_at) needs.
    pub fn new(keys: Vec<String>, with_all: bool) -> PhraseSet {
        let pats: Vec<&str> = keys.iter().map(|k| if k.is_empty() { "\u{0}\u{0}never" } else { k.as_str() }).collect();
        let ac = if keys.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .start_kind(StartKind::Anchored)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .build(&pats)
                    .expect("phrase automaton"),
            )
        };
        let all = (with_all && !keys.is_empty()).then(|| {
            AhoCorasick::builder().match_kind(MatchKind::Standard).kind(Some(AhoCorasickKind::ContiguousNFA)).build(&pats).expect("phrase automaton")
        });
        PhraseSet { ac, all, keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The longest phrase starting at token `t`.
    pub fn longest_at(&self, n: &Normalized, t: usize) -> Option<TokMatch> {
        let ac = self.ac.as_ref()?;
        let b = *n.tok_byte.get(t)? as usize;
        let m = ac.find(Input::new(&n.hay).range(b..).anchored(Anchored::Yes))?;
        Some(TokMatch { first: t, last: n.token_at_byte(m.end()), phrase: m.pattern().as_usize() })
    }

    /// Every phrase starting at token `t` (any length).
    pub fn all_at(&self, n: &Normalized, t: usize, out: &mut Vec<TokMatch>) {
        let Some(all) = self.all.as_ref() else { return };
        let Some(&b) = n.tok_byte.get(t) else { return };
        let b = b as usize;
        // Overlapping search is unanchored: keep the matches that begin exactly at `b`.
        let longest = self.keys.iter().map(String::len).max().unwrap_or(0);
        let end = (b + longest).min(n.hay.len());
        let input = Input::new(&n.hay[..end]).range(b..end);
        let mut state = aho_corasick::automaton::OverlappingState::start();
        loop {
            all.find_overlapping(input.clone(), &mut state);
            let Some(m) = state.get_match() else { break };
            if m.start() == b {
                out.push(TokMatch { first: t, last: n.token_at_byte(m.end()), phrase: m.pattern().as_usize() });
            }
        }
    }

    /// Non-overlapping longest matches, left to right.
    pub fn scan(&self, n: &Normalized) -> Vec<TokMatch> {
        let mut out = Vec::new();
        let mut t = 0;
        while t < n.tokens() {
            match self.longest_at(n, t) {
                Some(m) => {
                    t = m.last.max(t + 1);
                    out.push(m);
                }
                None => t += 1,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_keeps_offsets() {
        let n = Normalized::new("Crohn's  disease; NON-small\r\ncell É", 0);
        assert_eq!(n.hay, "crohns disease ; non small cell é ");
        assert_eq!(n.tok_chars, vec![(0, 7), (9, 16), (16, 17), (18, 21), (22, 27), (29, 33), (34, 35)]);
        assert_eq!(Normalized::key("Non-small cell"), "non small cell ");
    }

    #[test]
    fn longest_match_on_word_boundaries() {
        let keys = ["chest pain", "chest", "pain", "ra", "chest pain radiating to arm"].iter().map(|k| Normalized::key(k)).collect();
        let set = PhraseSet::new(keys, true);
        let n = Normalized::new("Chest painful; tetra chest pain radiating.", 0);
        let m = set.scan(&n);
        // "Chest painful": only "chest" ends on a boundary; "ra" inside "tetra" never matches.
        let spans: Vec<_> = m.iter().map(|m| (n.tok_chars[m.first].0, n.tok_chars[m.last - 1].1, m.phrase)).collect();
        assert_eq!(spans, vec![(0, 5, 1), (21, 31, 0)]);
        let mut all = Vec::new();
        set.all_at(&n, 4, &mut all);
        all.sort_by_key(|m| m.last);
        assert_eq!(all.iter().map(|m| m.phrase).collect::<Vec<_>>(), vec![1, 0]);
    }
}
