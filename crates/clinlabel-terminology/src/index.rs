//! The in-memory index of one release: codes, hierarchy and text search.

use crate::text::{code_key, normalize};
use crate::{Concept, Release, System, fuzzy};
use serde::Serialize;
use std::cell::RefCell;

const ACTIVE: u8 = 1;
const BILLABLE_KNOWN: u8 = 2;
const BILLABLE: u8 = 4;

/// Longest query word considered (longer ones are cut).
const MAX_WORD: usize = 48;
/// Query words beyond this many are ignored.
const MAX_WORDS: usize = 12;
/// Query words that restrict nothing (when other words are there).
const STOP_WORDS: [&str; 11] = ["of", "the", "and", "or", "in", "on", "at", "to", "for", "by", "an"];
/// Most terms scored for one query: past this, a query whose rarest word is
/// everywhere ("unspecified f") is ranked among the lightest terms holding it.
const MAX_SCORED: usize = 3000;

/// How a hit matched the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The query is the code (dots and case aside).
    Code,
    /// The code starts with the query.
    CodePrefix,
    /// Words of the display or a synonym match the query's words.
    Text,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub code: String,
    pub display: String,
    /// The synonym that matched, when it was not the display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    pub match_kind: MatchKind,
    /// Higher is better; comparable within one result list only.
    pub score: f32,
    pub active: bool,
    pub billable: Option<bool>,
    #[serde(skip)]
    pub index: u32,
}

/// A loaded, indexed code system.
pub struct CodeSystem {
    system: System,
    version: String,
    source: String,
    codes: Vec<Box<str>>,
    displays: Vec<Box<str>>,
    synonyms: Vec<Box<[Box<str>]>>,
    flags: Vec<u8>,
    kinds: Vec<u16>,
    kind_names: Vec<Box<str>>,
    parent_off: Vec<u32>,
    parent_idx: Vec<u32>,
    child_off: Vec<u32>,
    child_idx: Vec<u32>,
    /// (code key, concept) sorted by key.
    keys: Vec<(Box<str>, u32)>,
    text: TextIndex,
}

/// Inverted index over the words of every active concept's display and synonyms.
struct TextIndex {
    /// Per entry (one display or synonym): the concept and the term number (0 = display).
    entry_concept: Vec<u32>,
    entry_term: Vec<u16>,
    entry_word_off: Vec<u32>,
    /// Word ids of each entry in text order.
    entry_words: Vec<u32>,
    /// Sum of the IDF of each entry's distinct words.
    entry_weight: Vec<f32>,
    /// Sorted, unique words.
    vocab: Vec<Box<str>>,
    /// Byte length of each word (capped at 255), beside the words for cache locality.
    word_len: Vec<u8>,
    /// Postings of word w: postings[post_off[w]..post_off[w + 1]], lightest entry (smallest weight) first.
    post_off: Vec<u32>,
    postings: Vec<u32>,
    idf: Vec<f32>,
    /// The highest IDF of any word.
    idf_ceiling: f32,
}

impl std::fmt::Debug for CodeSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeSystem").field("system", &self.system).field("version", &self.version).field("concepts", &self.codes.len()).finish()
    }
}

fn csr(lists: impl Iterator<Item = Vec<u32>>, n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut off = Vec::with_capacity(n + 1);
    let mut flat = Vec::new();
    off.push(0);
    for l in lists {
        flat.extend_from_slice(&l);
        off.push(flat.len() as u32);
    }
    (off, flat)
}

impl CodeSystem {
    /// Builds the indexes of a checked release.
    pub fn from_release(release: Release) -> CodeSystem {
        let Release { system, version, source, concepts } = release;
        let n = concepts.len();
        let mut keys: Vec<(Box<str>, u32)> = concepts.iter().enumerate().map(|(i, c)| (code_key(&c.code).into_boxed_str(), i as u32)).collect();
        keys.sort_unstable();
        keys.dedup_by(|a, b| a.0 == b.0);
        let find = |code: &str| -> Option<u32> {
            let k = code_key(code);
            keys.binary_search_by(|(key, _)| (**key).cmp(k.as_str())).ok().map(|i| keys[i].1)
        };
        let parents: Vec<Vec<u32>> = concepts.iter().map(|c| c.parents.iter().filter_map(|p| find(p)).collect()).collect();
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, ps) in parents.iter().enumerate() {
            for &p in ps {
                children[p as usize].push(i as u32);
            }
        }
        let (parent_off, parent_idx) = csr(parents.into_iter(), n);
        let (child_off, child_idx) = csr(children.into_iter(), n);
        let mut kind_names: Vec<Box<str>> = Vec::new();
        let mut kinds = Vec::with_capacity(n);
        let mut codes = Vec::with_capacity(n);
        let mut displays = Vec::with_capacity(n);
        let mut synonyms = Vec::with_capacity(n);
        let mut flags = Vec::with_capacity(n);
        for c in concepts {
            let Concept { code, display, synonyms: syn, active, billable, kind, .. } = c;
            let k = match kind {
                None => 0,
                Some(k) => match kind_names.iter().position(|x| **x == *k) {
                    Some(p) => p as u16 + 1,
                    None => {
                        kind_names.push(k.into_boxed_str());
                        kind_names.len() as u16
                    }
                },
            };
            kinds.push(k);
            codes.push(code.into_boxed_str());
            displays.push(display.into_boxed_str());
            synonyms.push(syn.into_iter().map(String::into_boxed_str).collect::<Vec<_>>().into_boxed_slice());
            flags.push(
                if active { ACTIVE } else { 0 }
                    | match billable {
                        None => 0,
                        Some(true) => BILLABLE_KNOWN | BILLABLE,
                        Some(false) => BILLABLE_KNOWN,
                    },
            );
        }
        let text = TextIndex::build(&displays, &synonyms, &flags);
        CodeSystem { system, version, source, codes, displays, synonyms, flags, kinds, kind_names, parent_off, parent_idx, child_off, child_idx, keys, text }
    }

    pub fn system(&self) -> System {
        self.system
    }

    /// The release version, to be stored with every code assigned from it.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of concepts.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Number of distinct indexed words (for reports).
    pub fn vocabulary_size(&self) -> usize {
        self.text.vocab.len()
    }

    /// Every concept, in release order.
    pub fn concepts(&self) -> impl Iterator<Item = ConceptRef<'_>> {
        (0..self.codes.len() as u32).map(move |i| ConceptRef { cs: self, i })
    }

    /// The concept at an index (as in [`Hit::index`]).
    pub fn concept(&self, index: u32) -> Option<ConceptRef<'_>> {
        ((index as usize) < self.codes.len()).then_some(ConceptRef { cs: self, i: index })
    }

    /// Every `(code, term)` pair of the active concepts: each display and
    /// each synonym, for dictionary matchers.
    pub fn terms(&self) -> impl Iterator<Item = (&str, &str)> {
        self.concepts().filter(|c| c.active()).flat_map(|c| {
            let code = &*self.codes[c.i as usize];
            std::iter::once((code, &*self.displays[c.i as usize])).chain(self.synonyms[c.i as usize].iter().map(move |s| (code, &**s)))
        })
    }

    /// The concept with this code; dots, spaces and case are ignored (`e119` finds `E11.9`).
    pub fn lookup(&self, code: &str) -> Option<ConceptRef<'_>> {
        let k = code_key(code);
        self.keys.binary_search_by(|(key, _)| (**key).cmp(k.as_str())).ok().map(|i| ConceptRef { cs: self, i: self.keys[i].1 })
    }

    /// Direct parents of a code (empty when unknown).
    pub fn parents(&self, code: &str) -> Vec<ConceptRef<'_>> {
        self.lookup(code).map(|c| c.parents().collect()).unwrap_or_default()
    }

    /// Direct children of a code (empty when unknown).
    pub fn children(&self, code: &str) -> Vec<ConceptRef<'_>> {
        self.lookup(code).map(|c| c.children().collect()).unwrap_or_default()
    }

    /// Every ancestor of a code, nearest first, each once.
    pub fn ancestors(&self, code: &str) -> Vec<ConceptRef<'_>> {
        self.lookup(code).map(|c| c.ancestors()).unwrap_or_default()
    }

    /// Codes starting with `prefix` (dots and case aside), shortest first, then in code order.
    /// Inactive concepts are left out.
    pub fn code_prefix(&self, prefix: &str, limit: usize) -> Vec<ConceptRef<'_>> {
        let k = code_key(prefix);
        if k.is_empty() || limit == 0 {
            return Vec::new();
        }
        let lo = self.keys.partition_point(|(key, _)| **key < *k);
        let hi = lo + self.keys[lo..].partition_point(|(key, _)| key.starts_with(k.as_str()));
        let mut found: Vec<(usize, &str, u32)> =
            self.keys[lo..hi].iter().filter(|(_, i)| self.flags[*i as usize] & ACTIVE != 0).map(|(key, i)| (key.len(), &**key, *i)).collect();
        if found.len() > limit {
            found.select_nth_unstable(limit - 1);
            found.truncate(limit);
        }
        found.sort_unstable();
        found.into_iter().map(|(_, _, i)| ConceptRef { cs: self, i }).collect()
    }

    /// Type-ahead search: the exact code, then codes starting with the query
    /// (when it holds a digit or is a code), then ranked text matches on
    /// displays and synonyms of active concepts. At most `limit` hits, each
    /// concept once.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        let mut hits: Vec<Hit> = Vec::new();
        if limit == 0 {
            return hits;
        }
        let q = query.trim();
        if q.is_empty() {
            return hits;
        }
        let single = !q.chars().any(char::is_whitespace) && q.len() <= 32;
        if single {
            let exact = self.lookup(q);
            if let Some(c) = exact {
                hits.push(c.hit(MatchKind::Code, 1000.0, None));
            }
            if exact.is_some() || q.chars().any(|c| c.is_ascii_digit()) {
                for c in self.code_prefix(q, limit + 1) {
                    if hits.len() >= limit {
                        break;
                    }
                    if Some(c.i) != exact.map(|e| e.i) {
                        let score = 500.0 - c.code().len() as f32;
                        hits.push(c.hit(MatchKind::CodePrefix, score, None));
                    }
                }
            }
        }
        if hits.len() < limit {
            let seen: Vec<u32> = hits.iter().map(|h| h.index).collect();
            for (i, term, score) in self.text.search(q, limit - hits.len() + seen.len(), &self.codes) {
                if hits.len() >= limit {
                    break;
                }
                if seen.contains(&i) {
                    continue;
                }
                let c = ConceptRef { cs: self, i };
                let matched = (term > 0).then(|| self.synonyms[i as usize][term as usize - 1].to_string());
                hits.push(c.hit(MatchKind::Text, score, matched));
            }
        }
        hits
    }
}

/// A concept inside a [`CodeSystem`].
#[derive(Clone, Copy)]
pub struct ConceptRef<'a> {
    cs: &'a CodeSystem,
    i: u32,
}

impl std::fmt::Debug for ConceptRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.code(), self.display())
    }
}

impl<'a> ConceptRef<'a> {
    pub fn index(&self) -> u32 {
        self.i
    }
    pub fn code(&self) -> &'a str {
        &self.cs.codes[self.i as usize]
    }
    pub fn display(&self) -> &'a str {
        &self.cs.displays[self.i as usize]
    }
    pub fn synonyms(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.cs.synonyms[self.i as usize].iter().map(|s| &**s)
    }
    pub fn active(&self) -> bool {
        self.cs.flags[self.i as usize] & ACTIVE != 0
    }
    /// Valid for billing / a leaf, where the system defines it.
    pub fn billable(&self) -> Option<bool> {
        let f = self.cs.flags[self.i as usize];
        (f & BILLABLE_KNOWN != 0).then_some(f & BILLABLE != 0)
    }
    pub fn kind(&self) -> Option<&'a str> {
        match self.cs.kinds[self.i as usize] {
            0 => None,
            k => Some(&self.cs.kind_names[k as usize - 1]),
        }
    }
    pub fn parents(&self) -> impl Iterator<Item = ConceptRef<'a>> + use<'a> {
        let cs = self.cs;
        let (a, b) = (cs.parent_off[self.i as usize] as usize, cs.parent_off[self.i as usize + 1] as usize);
        cs.parent_idx[a..b].iter().map(move |&i| ConceptRef { cs, i })
    }
    pub fn children(&self) -> impl Iterator<Item = ConceptRef<'a>> + use<'a> {
        let cs = self.cs;
        let (a, b) = (cs.child_off[self.i as usize] as usize, cs.child_off[self.i as usize + 1] as usize);
        cs.child_idx[a..b].iter().map(move |&i| ConceptRef { cs, i })
    }
    /// Is a leaf (no children).
    pub fn is_leaf(&self) -> bool {
        self.cs.child_off[self.i as usize] == self.cs.child_off[self.i as usize + 1]
    }
    /// Every ancestor, nearest first (breadth-first), each once.
    pub fn ancestors(&self) -> Vec<ConceptRef<'a>> {
        let mut out: Vec<ConceptRef<'a>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut queue: std::collections::VecDeque<ConceptRef<'a>> = self.parents().collect();
        while let Some(c) = queue.pop_front() {
            if seen.insert(c.i) {
                out.push(c);
                queue.extend(c.parents());
            }
        }
        out
    }
    /// An owned copy, as the release defined it.
    pub fn to_concept(&self) -> Concept {
        Concept {
            code: self.code().to_string(),
            display: self.display().to_string(),
            synonyms: self.synonyms().map(str::to_string).collect(),
            parents: self.parents().map(|p| p.code().to_string()).collect(),
            active: self.active(),
            billable: self.billable(),
            kind: self.kind().map(str::to_string),
        }
    }
    fn hit(&self, match_kind: MatchKind, score: f32, matched: Option<String>) -> Hit {
        Hit {
            code: self.code().to_string(),
            display: self.display().to_string(),
            matched,
            match_kind,
            score,
            active: self.active(),
            billable: self.billable(),
            index: self.i,
        }
    }
}

/// What one query word matches: a contiguous range of the vocabulary (the
/// words it is a prefix of) plus typo matches outside it.
struct TokenMatch {
    len: usize,
    lo: u32,
    hi: u32,
    fuzzy: Vec<fuzzy::Fuzzy>,
    /// Smallest and largest word id in `fuzzy` (a quick reject).
    fuzzy_lo: u32,
    fuzzy_hi: u32,
}

impl TokenMatch {
    /// Match quality of vocabulary word `w` (0 = no match).
    fn quality(&self, w: u32, word_len: &[u8]) -> f32 {
        if w >= self.lo && w < self.hi {
            let wl = word_len[w as usize] as usize;
            if wl == self.len {
                return 1.0;
            }
            return 0.6 + 0.3 * (self.len as f32 / wl as f32);
        }
        if w < self.fuzzy_lo || w > self.fuzzy_hi {
            return 0.0;
        }
        match self.fuzzy.binary_search_by_key(&w, |f| f.word) {
            Ok(i) => {
                let f = self.fuzzy[i];
                match (f.whole, f.dist) {
                    (true, 1) => 0.55,
                    (true, _) => 0.4,
                    (false, 1) => 0.45,
                    (false, _) => 0.3,
                }
            }
            Err(_) => 0.0,
        }
    }
}

thread_local! {
    /// Per-thread generation stamps, to deduplicate candidates without clearing.
    static STAMPS: RefCell<(Vec<u32>, u32)> = const { RefCell::new((Vec::new(), 0)) };
}

impl TextIndex {
    fn build(displays: &[Box<str>], synonyms: &[Box<[Box<str>]>], flags: &[u8]) -> TextIndex {
        let mut ids: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut words_tmp: Vec<String> = Vec::new();
        let mut entry_concept = Vec::new();
        let mut entry_term = Vec::new();
        let mut entry_word_off = vec![0u32];
        let mut entry_words: Vec<u32> = Vec::new();
        for (i, display) in displays.iter().enumerate() {
            if flags[i] & ACTIVE == 0 {
                continue;
            }
            let terms = std::iter::once(&**display).chain(synonyms[i].iter().map(|s| &**s));
            for (t, term) in terms.enumerate().take(u16::MAX as usize) {
                let norm = normalize(term);
                let before = entry_words.len();
                for w in norm.split_ascii_whitespace() {
                    let id = match ids.get(w) {
                        Some(&id) => id,
                        None => {
                            let id = words_tmp.len() as u32;
                            ids.insert(w.to_string(), id);
                            words_tmp.push(w.to_string());
                            id
                        }
                    };
                    entry_words.push(id);
                }
                if entry_words.len() == before {
                    continue;
                }
                entry_concept.push(i as u32);
                entry_term.push(t as u16);
                entry_word_off.push(entry_words.len() as u32);
            }
        }
        drop(ids);
        // Sort the vocabulary and renumber.
        let mut order: Vec<u32> = (0..words_tmp.len() as u32).collect();
        order.sort_unstable_by(|a, b| words_tmp[*a as usize].cmp(&words_tmp[*b as usize]));
        let mut remap = vec![0u32; words_tmp.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let vocab: Vec<Box<str>> = order.iter().map(|&o| std::mem::take(&mut words_tmp[o as usize]).into_boxed_str()).collect();
        for w in &mut entry_words {
            *w = remap[*w as usize];
        }
        let n_entries = entry_concept.len();
        let mut df = vec![0u32; vocab.len()];
        let mut last_seen = vec![u32::MAX; vocab.len()];
        for e in 0..n_entries {
            for &w in &entry_words[entry_word_off[e] as usize..entry_word_off[e + 1] as usize] {
                if last_seen[w as usize] != e as u32 {
                    last_seen[w as usize] = e as u32;
                    df[w as usize] += 1;
                }
            }
        }
        let total = n_entries.max(1) as f32;
        let idf: Vec<f32> = df.iter().map(|&d| (1.0 + total / d.max(1) as f32).ln()).collect();
        let weight_of = |e: usize| -> f32 {
            let ws = &entry_words[entry_word_off[e] as usize..entry_word_off[e + 1] as usize];
            ws.iter().enumerate().filter(|(k, w)| !ws[..*k].contains(w)).map(|(_, &w)| idf[w as usize]).sum()
        };
        let weights: Vec<f32> = (0..n_entries).map(weight_of).collect();
        // Entries are numbered lightest first: postings in entry order are then
        // lightest term first, so a search can stop a list once even a perfect
        // match of the other words could not enter the results, and walks
        // memory in address order.
        let mut order: Vec<u32> = (0..n_entries as u32).collect();
        order.sort_by(|a, b| weights[*a as usize].total_cmp(&weights[*b as usize]).then(a.cmp(b)));
        let entry_concept: Vec<u32> = order.iter().map(|&o| entry_concept[o as usize]).collect();
        let entry_term: Vec<u16> = order.iter().map(|&o| entry_term[o as usize]).collect();
        let entry_weight: Vec<f32> = order.iter().map(|&o| weights[o as usize]).collect();
        let mut words_sorted = Vec::with_capacity(entry_words.len());
        let mut off_sorted = Vec::with_capacity(n_entries + 1);
        off_sorted.push(0u32);
        for &o in &order {
            words_sorted.extend_from_slice(&entry_words[entry_word_off[o as usize] as usize..entry_word_off[o as usize + 1] as usize]);
            off_sorted.push(words_sorted.len() as u32);
        }
        let (entry_words, entry_word_off) = (words_sorted, off_sorted);
        // Postings: counted above, filled in entry order, each word once per entry.
        let mut post_off = Vec::with_capacity(vocab.len() + 1);
        post_off.push(0u32);
        for &d in &df {
            post_off.push(post_off.last().unwrap() + d);
        }
        let mut fill: Vec<u32> = post_off[..vocab.len()].to_vec();
        let mut postings = vec![0u32; *post_off.last().unwrap() as usize];
        last_seen.fill(u32::MAX);
        for e in 0..n_entries {
            for &w in &entry_words[entry_word_off[e] as usize..entry_word_off[e + 1] as usize] {
                if last_seen[w as usize] != e as u32 {
                    last_seen[w as usize] = e as u32;
                    postings[fill[w as usize] as usize] = e as u32;
                    fill[w as usize] += 1;
                }
            }
        }
        let idf_ceiling = idf.iter().copied().fold(0.0f32, f32::max);
        let word_len = vocab.iter().map(|w| w.len().min(255) as u8).collect();
        TextIndex { entry_concept, entry_term, entry_word_off, entry_words, entry_weight, vocab, word_len, post_off, postings, idf, idf_ceiling }
    }

    /// What a query word matches. `last`: the word being typed, which may be
    /// a typo'd prefix; earlier words are finished, so their typos must be whole words.
    fn token(&self, word: &str, last: bool) -> TokenMatch {
        let lo = self.vocab.partition_point(|v| **v < *word);
        let hi = lo + self.vocab[lo..].partition_point(|v| v.starts_with(word));
        let max = match word.len() {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        // Typos only after a correct first letter: first-letter typos are
        // rare, and the walk shrinks by the size of the alphabet.
        let mut fuzzy = if max > 0 { fuzzy::matches(&self.vocab, word.as_bytes(), max, true) } else { Vec::new() };
        fuzzy.retain(|f| f.dist > 0 && (f.whole || last) && (f.word < lo as u32 || f.word >= hi as u32));
        let fuzzy_lo = fuzzy.first().map(|f| f.word).unwrap_or(u32::MAX);
        let fuzzy_hi = fuzzy.last().map(|f| f.word).unwrap_or(0);
        TokenMatch { len: word.len(), lo: lo as u32, hi: hi as u32, fuzzy, fuzzy_lo, fuzzy_hi }
    }

    /// Postings count of everything a token matches (its cost as the candidate source).
    fn cost(&self, t: &TokenMatch) -> usize {
        let range = (self.post_off[t.hi as usize] - self.post_off[t.lo as usize]) as usize;
        range + t.fuzzy.iter().map(|f| self.postings_of(f.word).len()).sum::<usize>()
    }

    fn postings_of(&self, w: u32) -> &[u32] {
        &self.postings[self.post_off[w as usize] as usize..self.post_off[w as usize + 1] as usize]
    }

    /// The highest IDF among the words a token matches (an upper bound when the range is large).
    fn idf_max(&self, t: &TokenMatch) -> f32 {
        let mut m = t.fuzzy.iter().map(|f| self.idf[f.word as usize]).fold(0.0f32, f32::max);
        if t.hi - t.lo <= 512 {
            m = (t.lo..t.hi).map(|w| self.idf[w as usize]).fold(m, f32::max);
        } else {
            m = m.max(self.idf_ceiling);
        }
        m
    }

    /// Ranked (concept, term, score), best first, each concept once. When no
    /// term has every query word, the best terms missing one word follow,
    /// scored lower.
    fn search(&self, query: &str, limit: usize, codes: &[Box<str>]) -> Vec<(u32, u16, f32)> {
        let norm = normalize(query);
        let words: Vec<&str> = norm.split_ascii_whitespace().take(MAX_WORDS).map(|w| if w.len() > MAX_WORD { &w[..MAX_WORD] } else { w }).collect();
        if words.is_empty() || self.entry_concept.is_empty() {
            return Vec::new();
        }
        // Stop words ("fracture of femur") restrict nothing, unless they are all there is.
        let content: Vec<&str> = words.iter().copied().filter(|w| !STOP_WORDS.contains(w)).collect();
        let words = if content.is_empty() { words } else { content };
        let tokens: Vec<TokenMatch> = words.iter().enumerate().map(|(i, w)| self.token(w, i + 1 == words.len())).collect();
        let all: Vec<&TokenMatch> = tokens.iter().collect();
        let found = self.search_all(&all, limit, codes);
        if !found.is_empty() || tokens.len() < 2 || tokens.len() > 6 {
            return found;
        }
        let mut top = TopK::new(limit, codes);
        for skip in 0..tokens.len() {
            let some: Vec<&TokenMatch> = tokens.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, t)| t).collect();
            for (c, t, s) in self.search_all(&some, limit, codes) {
                top.insert(s - 3.0, c, t as u32);
            }
        }
        top.items.into_iter().map(|(s, c, t)| (c, t as u16, s)).collect()
    }

    /// Terms holding a match for every token, best first.
    fn search_all(&self, tokens: &[&TokenMatch], limit: usize, codes: &[Box<str>]) -> Vec<(u32, u16, f32)> {
        if tokens.iter().any(|t| t.lo == t.hi && t.fuzzy.is_empty()) {
            return Vec::new();
        }
        let n = tokens.len() as f32;
        let driver = (0..tokens.len()).min_by_key(|&i| self.cost(tokens[i])).expect("at least one token");
        let rest_idf: f32 = tokens.iter().enumerate().filter(|(i, _)| *i != driver).map(|(_, t)| self.idf_max(t)).sum();
        let rest_q = n - 1.0;
        let d = tokens[driver];
        // The driver's words with the best score any of their terms could reach.
        // The best score a term holding driver word w (of quality q) and weighing `weight` could reach.
        let bound = |q: f32, w: u32, weight: f32| -> f32 {
            let q = (q + rest_q) / n;
            let cov = if weight > 0.0 { ((self.idf[w as usize] + rest_idf) / weight).min(1.0) } else { 1.0 };
            3.0 * q + 2.0 * cov + BONUS_MAX
        };
        let mut words: Vec<(f32, u32, f32)> = (d.lo..d.hi)
            .chain(d.fuzzy.iter().map(|f| f.word))
            .filter_map(|w| {
                let q = d.quality(w, &self.word_len);
                self.postings_of(w).first().map(|&e| (bound(q, w, self.entry_weight[e as usize]), w, q))
            })
            .collect();
        words.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut top = TopK::new(limit, codes);
        let n_entries = self.entry_concept.len();
        STAMPS.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (stamps, generation) = &mut *guard;
            if stamps.len() < n_entries {
                stamps.resize(n_entries, 0);
            }
            *generation = generation.wrapping_add(1);
            if *generation == 0 {
                stamps.fill(0);
                *generation = 1;
            }
            let g = *generation;
            let mut best = vec![(0f32, 0f32, 0usize, 0u32); tokens.len()];
            let mut scored = 0usize;
            'words: for &(potential, w, q) in &words {
                if potential < top.threshold() {
                    break;
                }
                for &e in self.postings_of(w) {
                    if scored == MAX_SCORED {
                        break 'words;
                    }
                    if bound(q, w, self.entry_weight[e as usize]) < top.threshold() {
                        break;
                    }
                    if stamps[e as usize] == g {
                        continue;
                    }
                    stamps[e as usize] = g;
                    scored += 1;
                    if let Some(s) = self.score(e, tokens, &mut best) {
                        top.insert(s, self.entry_concept[e as usize], e);
                    }
                }
            }
        });
        top.items.into_iter().map(|(s, c, e)| (c, self.entry_term[e as usize], s)).collect()
    }

    /// Score of entry `e` if every token matches one of its words: per token
    /// the word of best quality (then highest IDF); coverage is the IDF of
    /// those words over the term's.
    fn score(&self, e: u32, tokens: &[&TokenMatch], best: &mut [(f32, f32, usize, u32)]) -> Option<f32> {
        let ws = &self.entry_words[self.entry_word_off[e as usize] as usize..self.entry_word_off[e as usize + 1] as usize];
        for b in best.iter_mut() {
            *b = (0.0, 0.0, 0, u32::MAX);
        }
        for (pos, &w) in ws.iter().enumerate() {
            for (k, t) in tokens.iter().enumerate() {
                let q = t.quality(w, &self.word_len);
                if q > 0.0 && q >= best[k].0 {
                    let idf = self.idf[w as usize];
                    if q > best[k].0 || idf > best[k].1 {
                        best[k] = (q, idf, pos, w);
                    }
                }
            }
        }
        let mut quality = 0.0;
        let mut matched = 0.0;
        for (k, b) in best.iter().enumerate() {
            if b.0 == 0.0 {
                return None;
            }
            quality += b.0;
            // Each word counts once, however many tokens chose it.
            if !best[..k].iter().any(|o| o.3 == b.3) {
                matched += b.1;
            }
        }
        quality /= tokens.len() as f32;
        let weight = self.entry_weight[e as usize];
        let coverage = if weight > 0.0 { (matched / weight).min(1.0) } else { 1.0 };
        let first = if best[0].2 == 0 { 0.3 } else { 0.0 };
        let ordered = if best.windows(2).all(|p| p[0].2 < p[1].2) { 0.2 } else { 0.0 };
        let display = if self.entry_term[e as usize] == 0 { 0.1 } else { 0.0 };
        Some(3.0 * quality + 2.0 * coverage + first + ordered + display)
    }
}

/// The most the position and display bonuses add to a score.
const BONUS_MAX: f32 = 0.3 + 0.2 + 0.1;

/// The best `limit` (score, concept, entry), one per concept, best first;
/// ties go to the shorter code, then release order.
struct TopK<'a> {
    limit: usize,
    items: Vec<(f32, u32, u32)>,
    codes: &'a [Box<str>],
}

impl<'a> TopK<'a> {
    fn new(limit: usize, codes: &'a [Box<str>]) -> TopK<'a> {
        TopK { limit, items: Vec::with_capacity(limit + 1), codes }
    }

    fn before(&self, a: (f32, u32), b: (f32, u32)) -> bool {
        match a.0.total_cmp(&b.0) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => (self.codes[a.1 as usize].len(), a.1) < (self.codes[b.1 as usize].len(), b.1),
        }
    }

    /// Scores below this cannot enter.
    fn threshold(&self) -> f32 {
        if self.items.len() < self.limit { f32::NEG_INFINITY } else { self.items[self.items.len() - 1].0 }
    }

    fn insert(&mut self, score: f32, concept: u32, entry: u32) {
        if self.limit == 0 {
            return;
        }
        if let Some(i) = self.items.iter().position(|x| x.1 == concept) {
            if !self.before((score, concept), (self.items[i].0, concept)) {
                return;
            }
            self.items.remove(i);
        } else if self.items.len() == self.limit {
            let last = self.items[self.items.len() - 1];
            if !self.before((score, concept), (last.0, last.1)) {
                return;
            }
            self.items.pop();
        }
        let pos = self.items.partition_point(|x| self.before((x.0, x.1), (score, concept)));
        self.items.insert(pos, (score, concept, entry));
    }
}
