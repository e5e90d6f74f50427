//! CoNLL-2003 columns with IOB2 tags: `token<TAB>_<TAB>_<TAB>tag` per line
//! (word, POS, chunk, named entity; POS and chunk are `_`), a blank line
//! after each sentence, `-DOCSTART-\t-X-\t-X-\tO` before each document.
//!
//! Tokens come from [`crate::tokenize`], cut at every span boundary so spans
//! cover whole tokens; sentences from [`crate::sentences`] (a span crossing
//! a sentence boundary keeps its sentences together). IOB2 cannot nest or
//! overlap: the longer of overlapping spans is kept, the others counted in
//! [`Stats::dropped_overlapping`].

use super::{DocWriter, Options, Stats};
use crate::model::AnnotatedDocument;
use crate::tokenize::{Token, exported_spans, flat_spans, tokenize};
use std::io::{self, Write};

pub struct Writer<W> {
    out: W,
    opts: Options,
    stats: Stats,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, opts: &Options) -> Self {
        Writer { out, opts: opts.clone(), stats: Stats::default() }
    }
}

/// Tokens with their IOB2 tag and sentence breaks, as written.
pub fn tagged(doc: &AnnotatedDocument, pending: bool) -> (Vec<(Token, String)>, Vec<usize>, usize) {
    let spans = exported_spans(doc, pending);
    let (kept, dropped) = flat_spans(&spans);
    let mut bounds: Vec<usize> = kept.iter().flat_map(|s| [s.start, s.end]).collect();
    bounds.sort_unstable();
    let toks = tokenize(&doc.text, &bounds);
    let mut tags = vec![String::from("O"); toks.len()];
    for s in &kept {
        let mut first = true;
        for (i, t) in toks.iter().enumerate() {
            if t.start >= s.start && t.end <= s.end {
                tags[i] = format!("{}-{}", if first { "B" } else { "I" }, s.label);
                first = false;
            }
        }
    }
    // Sentence breaks: the index of the first token of each sentence after the first,
    // unless an entity continues across it.
    let mut breaks = Vec::new();
    let sents = crate::sentences::split(&doc.text);
    let mut si = 0;
    for (i, t) in toks.iter().enumerate() {
        while si + 1 < sents.len() && t.start >= sents[si + 1].start {
            si += 1;
            if i > 0 && !tags[i].starts_with("I-") && breaks.last() != Some(&i) {
                breaks.push(i);
            }
        }
    }
    (toks.into_iter().zip(tags).collect(), breaks, dropped)
}

impl<W: Write> DocWriter for Writer<W> {
    fn write(&mut self, doc: &AnnotatedDocument) -> io::Result<()> {
        let (toks, breaks, dropped) = tagged(doc, self.opts.pending);
        let chars: Vec<char> = doc.text.chars().collect();
        let mut s = String::from("-DOCSTART-\t-X-\t-X-\tO\n\n");
        let mut b = breaks.iter().peekable();
        for (i, (t, tag)) in toks.iter().enumerate() {
            if b.peek() == Some(&&i) {
                b.next();
                s.push('\n');
            }
            let word: String = chars[t.start..t.end].iter().collect();
            s.push_str(&word);
            s.push_str("\t_\t_\t");
            s.push_str(tag);
            s.push('\n');
        }
        if !toks.is_empty() {
            s.push('\n');
        }
        self.out.write_all(s.as_bytes())?;
        let spans = exported_spans(doc, self.opts.pending).len();
        self.stats.documents += 1;
        self.stats.spans += spans - dropped;
        self.stats.dropped_overlapping += dropped;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<Stats> {
        self.out.flush()?;
        self.stats.files = 1;
        Ok(self.stats)
    }
}
