//! spaCy v3 `DocBin` files (`.spacy`), the format `spacy train` and
//! `DocBin().from_disk()` read natively.
//!
//! A DocBin is a zlib-compressed msgpack map: `attrs` (spaCy attribute ids),
//! `tokens` (a C-order `uint64` array, one row per token, one column per
//! attribute, holding string hashes or values), `spaces` (one bool byte per
//! token: followed by a single space), `lengths` (`int32` tokens per doc),
//! `strings` (every string the hashes stand for), `cats`, `flags` and
//! `span_groups` per doc. String hashes are spaCy's: MurmurHash64A, seed 1,
//! over the UTF-8 bytes.
//!
//! Written per token: `ORTH`, `ENT_IOB` (1 = I, 2 = O, 3 = B), `ENT_TYPE`
//! (the label), `ENT_KB_ID` (the first code as `system:code`), `ENT_ID` (the
//! assertion) and `SENT_START` (1 or −1). Whitespace other than one space
//! after a token becomes whitespace tokens, as spaCy's tokenizer makes them,
//! so `doc.text` is the stored text exactly and char offsets agree. Document
//! classifications go to `doc.cats` as `question:answer` = 1.0. Entities
//! cannot overlap in `doc.ents`: the longer is kept (see
//! [`Stats::dropped_overlapping`]).
//!
//! The arrays of a DocBin hold all its docs, so the writer buffers one shard
//! — [`SHARD_DOCS`] documents or [`SHARD_BYTES`] of token data — and writes
//! `docs-NNNNN.spacy`; spaCy reads a directory of shards as one corpus.

use super::{DocWriter, FileSink, Options, Stats};
use crate::model::AnnotatedDocument;
use crate::tokenize::{exported_spans, flat_spans, tokenize};
use std::collections::BTreeSet;
use std::io::{self, Write};

/// Documents per shard.
pub const SHARD_DOCS: usize = 1000;
/// Token data per shard before it is written.
pub const SHARD_BYTES: usize = 64 << 20;

const ORTH: u64 = 65;
const ENT_IOB: u64 = 77;
const ENT_TYPE: u64 = 78;
const SENT_START: u64 = 80;
const ENT_KB_ID: u64 = 452;
const ENT_ID: u64 = 454;
/// In DocBin order: ORTH first, then sorted.
const ATTRS: [u64; 6] = [ORTH, ENT_IOB, ENT_TYPE, SENT_START, ENT_KB_ID, ENT_ID];

/// spaCy's string hash: MurmurHash64A with seed 1.
pub fn hash_string(s: &str) -> u64 {
    murmur64a(s.as_bytes(), 1)
}

/// The key spaCy's `StringStore` gives a string: the fixed id of one of its
/// symbols ("X", "ORTH", "PERSON", …: a token "X" of "X-ray" is one), else
/// [`hash_string`]. A DocBin must store symbols by id: spaCy never files
/// their hash, so a hash there cannot be read back.
pub fn string_key(s: &str) -> u64 {
    match super::spacy_symbols::SYMBOLS.binary_search_by(|(k, _)| (*k).cmp(s)) {
        Ok(i) => super::spacy_symbols::SYMBOLS[i].1,
        Err(_) => hash_string(s),
    }
}

fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let len = key.len();
    let mut h: u64 = seed ^ (len as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

// -- a minimal msgpack encoder (the few types a DocBin uses) ---------------------------

fn mp_uint(o: &mut Vec<u8>, v: u64) {
    match v {
        0..=0x7f => o.push(v as u8),
        0x80..=0xff => o.extend([0xcc, v as u8]),
        0x100..=0xffff => {
            o.push(0xcd);
            o.extend((v as u16).to_be_bytes())
        }
        0x1_0000..=0xffff_ffff => {
            o.push(0xce);
            o.extend((v as u32).to_be_bytes())
        }
        _ => {
            o.push(0xcf);
            o.extend(v.to_be_bytes())
        }
    }
}
fn mp_len(o: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, b16: u8, b32: u8) {
    if n <= fix_max {
        o.push(fix | n as u8);
    } else if n <= 0xffff {
        o.push(b16);
        o.extend((n as u16).to_be_bytes());
    } else {
        o.push(b32);
        o.extend((n as u32).to_be_bytes());
    }
}
fn mp_str(o: &mut Vec<u8>, s: &str) {
    if s.len() <= 31 {
        o.push(0xa0 | s.len() as u8);
    } else if s.len() <= 0xff {
        o.extend([0xd9, s.len() as u8]);
    } else {
        mp_len(o, s.len(), 0, 0, 0xda, 0xdb);
    }
    o.extend(s.as_bytes());
}
fn mp_bin(o: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= 0xff {
        o.extend([0xc4, b.len() as u8]);
    } else if b.len() <= 0xffff {
        o.push(0xc5);
        o.extend((b.len() as u16).to_be_bytes());
    } else {
        o.push(0xc6);
        o.extend((b.len() as u32).to_be_bytes());
    }
    o.extend(b);
}
fn mp_array(o: &mut Vec<u8>, n: usize) {
    mp_len(o, n, 0x90, 15, 0xdc, 0xdd);
}
fn mp_map(o: &mut Vec<u8>, n: usize) {
    mp_len(o, n, 0x80, 15, 0xde, 0xdf);
}
fn mp_f64(o: &mut Vec<u8>, v: f64) {
    o.push(0xcb);
    o.extend(v.to_be_bytes());
}

/// A spaCy token: char range and whether one space follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpacyToken {
    pub start: usize,
    pub end: usize,
    pub space: bool,
}

/// Tokens covering the text exactly as spaCy would: words, plus whitespace
/// tokens for any whitespace that is not a single space after a token.
pub fn spacy_tokens(text: &str, bounds: &[usize]) -> Vec<SpacyToken> {
    let chars: Vec<char> = text.chars().collect();
    let words = tokenize(text, bounds);
    let mut out: Vec<SpacyToken> = Vec::with_capacity(words.len() + 8);
    let mut at = 0;
    for w in words.iter().map(|t| (t.start, t.end)).chain(std::iter::once((chars.len(), chars.len()))) {
        let (ws, we) = w;
        if ws > at {
            // A gap of whitespace [at, ws).
            let mut g = at;
            if let Some(last) = out.last_mut()
                && last.end == at
                && chars[at] == ' '
            {
                last.space = true;
                g += 1;
            }
            if g < ws {
                out.push(SpacyToken { start: g, end: ws, space: false });
            }
        }
        if we > ws {
            out.push(SpacyToken { start: ws, end: we, space: false });
        }
        at = we.max(ws);
    }
    out
}

struct Shard {
    tokens: Vec<u8>,
    spaces: Vec<u8>,
    lengths: Vec<u8>,
    strings: BTreeSet<String>,
    cats: Vec<Vec<(String, f64)>>,
    docs: usize,
}

impl Shard {
    fn new() -> Shard {
        Shard { tokens: Vec::new(), spaces: Vec::new(), lengths: Vec::new(), strings: BTreeSet::new(), cats: Vec::new(), docs: 0 }
    }

    fn hash(&mut self, s: &str) -> u64 {
        if s.is_empty() {
            return 0;
        }
        if !self.strings.contains(s) {
            self.strings.insert(s.to_string());
        }
        string_key(s)
    }

    fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let mut o = Vec::with_capacity(self.tokens.len() + 4096);
        mp_map(&mut o, 9);
        mp_str(&mut o, "version");
        mp_str(&mut o, "0.1");
        mp_str(&mut o, "attrs");
        mp_array(&mut o, ATTRS.len());
        for a in ATTRS {
            mp_uint(&mut o, a);
        }
        mp_str(&mut o, "tokens");
        mp_bin(&mut o, &self.tokens);
        mp_str(&mut o, "spaces");
        mp_bin(&mut o, &self.spaces);
        mp_str(&mut o, "lengths");
        mp_bin(&mut o, &self.lengths);
        mp_str(&mut o, "strings");
        mp_array(&mut o, self.strings.len());
        for s in &self.strings {
            mp_str(&mut o, s);
        }
        mp_str(&mut o, "cats");
        mp_array(&mut o, self.cats.len());
        for c in &self.cats {
            mp_map(&mut o, c.len());
            for (k, v) in c {
                mp_str(&mut o, k);
                mp_f64(&mut o, *v);
            }
        }
        mp_str(&mut o, "flags");
        mp_array(&mut o, self.docs);
        for _ in 0..self.docs {
            mp_map(&mut o, 1);
            mp_str(&mut o, "has_unknown_spaces");
            o.push(0xc2); // false
        }
        mp_str(&mut o, "span_groups");
        mp_array(&mut o, self.docs);
        for _ in 0..self.docs {
            mp_bin(&mut o, &[]);
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::with_capacity(o.len() / 4), flate2::Compression::fast());
        z.write_all(&o)?;
        z.finish()
    }
}

pub struct Writer<S> {
    sink: S,
    opts: Options,
    shard: Shard,
    shards: usize,
    stats: Stats,
}

impl<S: FileSink> Writer<S> {
    pub fn new(sink: S, opts: &Options) -> Self {
        Writer { sink, opts: opts.clone(), shard: Shard::new(), shards: 0, stats: Stats::default() }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.shard.docs == 0 {
            return Ok(());
        }
        let bytes = self.shard.to_bytes()?;
        self.sink.file(&format!("docs-{:05}.spacy", self.shards), &bytes)?;
        self.shards += 1;
        self.stats.files += 1;
        self.shard = Shard::new();
        Ok(())
    }
}

impl<S: FileSink> DocWriter for Writer<S> {
    fn write(&mut self, doc: &AnnotatedDocument) -> io::Result<()> {
        let spans = exported_spans(doc, self.opts.pending);
        let (kept, dropped) = flat_spans(&spans);
        let mut bounds: Vec<usize> = kept.iter().flat_map(|s| [s.start, s.end]).collect();
        bounds.sort_unstable();
        let toks = spacy_tokens(&doc.text, &bounds);
        let chars: Vec<char> = doc.text.chars().collect();
        let sents = crate::sentences::split(&doc.text);
        let sh = &mut self.shard;
        let mut si = 0;
        let mut first_in_sent = true;
        for t in &toks {
            let word: String = chars[t.start..t.end].iter().collect();
            let whitespace = word.chars().all(char::is_whitespace);
            while si < sents.len() && t.start >= sents[si].end {
                si += 1;
                first_in_sent = true;
            }
            let span = kept.iter().find(|s| t.start >= s.start && t.end <= s.end);
            let (iob, typ, kb, ent_id) = match span {
                Some(s) if !whitespace || t.start != s.start => {
                    let iob = if t.start == s.start { 3 } else { 1 };
                    let kb = s.codes.first().map(|c| format!("{}:{}", c.system, c.code)).unwrap_or_default();
                    let aid = s.assertion.map(|a| a.as_str()).unwrap_or("");
                    (iob, sh.hash(&s.label), sh.hash(&kb), sh.hash(aid))
                }
                _ => (2, 0, 0, 0),
            };
            // 1 starts a sentence, -1 (as uint64) does not; never inside an entity.
            let starts = t.start == 0 || (iob != 1 && first_in_sent && !whitespace && si < sents.len() && t.start >= sents[si].start);
            if starts && !whitespace {
                first_in_sent = false;
            }
            let sent_start = if starts { 1u64 } else { u64::MAX };
            let orth = sh.hash(&word);
            for v in [orth, iob, typ, sent_start, kb, ent_id] {
                sh.tokens.extend(v.to_le_bytes());
            }
            sh.spaces.push(t.space as u8);
        }
        sh.lengths.extend((toks.len() as i32).to_le_bytes());
        let mut cats = Vec::new();
        for c in doc.classifications.iter().filter(|c| c.sentence.is_none()) {
            for a in &c.answers {
                cats.push((format!("{}:{a}", c.question), 1.0));
            }
        }
        sh.cats.push(cats);
        sh.docs += 1;
        self.stats.documents += 1;
        self.stats.spans += kept.len();
        self.stats.dropped_overlapping += dropped;
        if self.shard.docs >= SHARD_DOCS || self.shard.tokens.len() >= SHARD_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<Stats> {
        self.flush()?;
        Ok(self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_spacy() {
        // Reference values printed by spacy.strings.hash_string (spaCy 3.7.5).
        assert_eq!(hash_string("Disease"), 17452630216217444378);
        assert_eq!(hash_string("\u{e9}\u{1F600}"), 576446407974871114);
        assert_eq!(hash_string(""), 14313749767032693980);
    }

    #[test]
    fn symbols_keep_their_spacy_ids() {
        // spacy.strings.StringStore().add(s) (spaCy 3.7.5).
        assert_eq!(string_key("X"), 101);
        assert_eq!(string_key("ORTH"), 65);
        assert_eq!(string_key("PERSON"), 380);
        assert_eq!(string_key("case"), 8110129090154140942);
        assert_eq!(string_key("Disease"), hash_string("Disease"));
        let mut sorted = super::super::spacy_symbols::SYMBOLS.to_vec();
        sorted.sort();
        assert_eq!(sorted, super::super::spacy_symbols::SYMBOLS, "sorted for binary search");
    }

    #[test]
    fn tokens_cover_the_text_exactly() {
        let t = "  No  fever.\r\nCough ";
        let toks = spacy_tokens(t, &[]);
        let c: Vec<char> = t.chars().collect();
        let rebuilt: String = toks.iter().map(|k| c[k.start..k.end].iter().collect::<String>() + if k.space { " " } else { "" }).collect();
        assert_eq!(rebuilt, t);
        let words: Vec<String> = toks.iter().map(|k| c[k.start..k.end].iter().collect()).collect();
        assert_eq!(words, ["  ", "No", " ", "fever", ".", "\r\n", "Cough"]);
    }
}
