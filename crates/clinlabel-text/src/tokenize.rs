//! Tokens for token-based exports (CoNLL/IOB2, spaCy).
//!
//! Words are runs of letters and digits; every other non-space character is
//! a token of its own; whitespace separates tokens. A token is also cut at
//! every given boundary (span starts and ends), so each span covers whole
//! tokens. Offsets are chars.

use crate::model::{AnnotatedDocument, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
}

/// Combining marks, joiners, variation selectors and emoji modifiers: they
/// belong to the character before them.
pub(crate) fn is_continuation(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A | 0x064B..=0x065F | 0x0900..=0x0903 | 0x093A..=0x094F
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x200C | 0x200D | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F
        | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F | 0xE0100..=0xE01EF)
}

/// Tokens of `text`, cut at the sorted `boundaries` (char offsets).
pub fn tokenize(text: &str, boundaries: &[usize]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut b = boundaries.iter().copied().peekable();
    let mut cur: Option<usize> = None;
    let mut prev_word = false;
    let mut prev_zwj = false;
    let mut n = 0;
    for (i, c) in text.chars().enumerate() {
        n = i + 1;
        let glue = (is_continuation(c) || prev_zwj) && cur.is_some();
        prev_zwj = c == '\u{200D}';
        let mut at_boundary = false;
        while let Some(&x) = b.peek() {
            if x < i {
                b.next();
            } else {
                at_boundary = x == i;
                break;
            }
        }
        if glue && !at_boundary {
            continue;
        }
        if c.is_whitespace() {
            if let Some(s) = cur.take() {
                out.push(Token { start: s, end: i });
            }
            prev_word = false;
            continue;
        }
        let word = c.is_alphanumeric();
        if let Some(s) = cur
            && (at_boundary || !word || !prev_word)
        {
            out.push(Token { start: s, end: i });
            cur = None;
        }
        if cur.is_none() {
            cur = Some(i);
        }
        prev_word = word;
    }
    if let Some(s) = cur {
        out.push(Token { start: s, end: n });
    }
    out
}

/// The spans an export writes: live ones (not rejected), and pending
/// suggestions only when `pending` is set.
pub fn exported_spans(doc: &AnnotatedDocument, pending: bool) -> Vec<&Span> {
    use crate::model::{Source, SuggestionState};
    doc.spans
        .iter()
        .filter(|s| match (s.source, s.state) {
            (_, Some(SuggestionState::Rejected)) => false,
            (Source::Suggested, None | Some(SuggestionState::Pending)) => pending,
            _ => true,
        })
        .collect()
}

/// A non-overlapping subset for flat formats (IOB2): by start, the longer
/// first, skipping any span that overlaps one kept. Returns (kept, dropped).
pub fn flat_spans<'a>(spans: &[&'a Span]) -> (Vec<&'a Span>, usize) {
    let mut v: Vec<&Span> = spans.to_vec();
    v.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<&Span> = Vec::new();
    let mut dropped = 0;
    for s in v {
        if kept.last().is_some_and(|k| s.start < k.end) {
            dropped += 1;
        } else {
            kept.push(s);
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_punctuation_and_boundaries() {
        let t = "Pt's BP 120/80,\r\nno e\u{301}dema.";
        let toks: Vec<String> = tokenize(t, &[]).iter().map(|k| t.chars().skip(k.start).take(k.end - k.start).collect()).collect();
        assert_eq!(toks, ["Pt", "'", "s", "BP", "120", "/", "80", ",", "no", "e\u{301}dema", "."]);
        let toks: Vec<(usize, usize)> = tokenize("diabetesmellitus", &[8]).iter().map(|k| (k.start, k.end)).collect();
        assert_eq!(toks, [(0, 8), (8, 16)]);
    }
}
