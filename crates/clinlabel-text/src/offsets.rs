//! Offsets: every offset clinlabel stores or exchanges is a **Unicode scalar
//! value (char) offset** into the stored text. Rust works in UTF-8 bytes, the
//! browser in UTF-16 code units; these helpers convert between the three.
//!
//! One-off conversions walk the text ([`char_to_byte`], [`char_to_utf16`],
//! [`utf16_to_char`], [`byte_to_char`]); an [`OffsetIndex`] answers many
//! conversions on one text in O(1) (char → byte/UTF-16) or O(log n) (the
//! reverse), which is what an exporter with thousands of spans wants.
//!
//! A conversion that would land inside a character (a byte offset in the
//! middle of a UTF-8 sequence, a UTF-16 offset between the two halves of a
//! surrogate pair) or past the end answers `None`: the caller names the bad
//! offset instead of silently moving it. Combining characters are scalar
//! values of their own (`e` + U+0301 is two chars), and CRLF is two chars,
//! exactly as stored.

/// Byte offset of char offset `c` (`c == chars` gives `text.len()`).
pub fn char_to_byte(text: &str, c: usize) -> Option<usize> {
    if c == 0 {
        return Some(0);
    }
    let mut n = 0;
    for (b, _) in text.char_indices() {
        if n == c {
            return Some(b);
        }
        n += 1;
    }
    (n == c).then_some(text.len())
}

/// Char offset of byte offset `b`, or `None` inside a character or past the end.
pub fn byte_to_char(text: &str, b: usize) -> Option<usize> {
    if b > text.len() || !text.is_char_boundary(b) {
        return None;
    }
    Some(text[..b].chars().count())
}

/// UTF-16 offset of char offset `c`.
pub fn char_to_utf16(text: &str, c: usize) -> Option<usize> {
    let mut u = 0;
    let mut n = 0;
    for ch in text.chars() {
        if n == c {
            return Some(u);
        }
        u += ch.len_utf16();
        n += 1;
    }
    (n == c).then_some(u)
}

/// Char offset of UTF-16 offset `u`, or `None` between the halves of a surrogate pair or past the end.
pub fn utf16_to_char(text: &str, u: usize) -> Option<usize> {
    let mut at = 0;
    for (n, ch) in text.chars().enumerate() {
        if at == u {
            return Some(n);
        }
        if at > u {
            return None;
        }
        at += ch.len_utf16();
    }
    (at == u).then(|| text.chars().count())
}

/// Length of `text` in chars.
pub fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// The substring between two char offsets (`None` when out of range or reversed).
pub fn char_slice(text: &str, start: usize, end: usize) -> Option<&str> {
    if start > end {
        return None;
    }
    let idx = OffsetIndex::new(text);
    Some(&text[idx.byte(start)?..idx.byte(end)?])
}

/// Precomputed conversions for one text. ASCII texts (the common case) store
/// nothing: every offset is the same in all three units.
#[derive(Debug, Clone)]
pub struct OffsetIndex {
    chars: usize,
    bytes: usize,
    utf16: usize,
    /// `byte[c]`, `c` in `0..=chars`; empty for ASCII.
    byte: Vec<u32>,
    /// `u16[c]`; empty when every char is one UTF-16 unit.
    u16: Vec<u32>,
}

impl OffsetIndex {
    pub fn new(text: &str) -> OffsetIndex {
        if text.is_ascii() {
            let n = text.len();
            return OffsetIndex { chars: n, bytes: n, utf16: n, byte: Vec::new(), u16: Vec::new() };
        }
        let mut byte = Vec::with_capacity(text.len() + 1);
        let mut u16 = Vec::with_capacity(text.len() + 1);
        let mut u = 0u32;
        let mut wide = false;
        for (b, ch) in text.char_indices() {
            byte.push(b as u32);
            u16.push(u);
            u += ch.len_utf16() as u32;
            wide |= ch.len_utf16() == 2;
        }
        byte.push(text.len() as u32);
        u16.push(u);
        let chars = byte.len() - 1;
        if !wide {
            u16 = Vec::new();
        }
        OffsetIndex { chars, bytes: text.len(), utf16: u as usize, byte, u16 }
    }

    /// Length in chars.
    pub fn chars(&self) -> usize {
        self.chars
    }

    /// Length in UTF-8 bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Length in UTF-16 code units.
    pub fn utf16_len(&self) -> usize {
        self.utf16
    }

    /// Byte offset of char offset `c`.
    pub fn byte(&self, c: usize) -> Option<usize> {
        if c > self.chars {
            return None;
        }
        Some(if self.byte.is_empty() { c } else { self.byte[c] as usize })
    }

    /// UTF-16 offset of char offset `c`.
    pub fn utf16(&self, c: usize) -> Option<usize> {
        if c > self.chars {
            return None;
        }
        Some(if self.u16.is_empty() { c } else { self.u16[c] as usize })
    }

    /// Char offset of byte offset `b` (`None` inside a character).
    pub fn char_of_byte(&self, b: usize) -> Option<usize> {
        if b > self.bytes {
            return None;
        }
        if self.byte.is_empty() {
            return Some(b);
        }
        self.byte.binary_search(&(b as u32)).ok()
    }

    /// Char offset of UTF-16 offset `u` (`None` inside a surrogate pair).
    pub fn char_of_utf16(&self, u: usize) -> Option<usize> {
        if u > self.utf16 {
            return None;
        }
        if self.u16.is_empty() {
            return Some(u);
        }
        self.u16.binary_search(&(u as u32)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // "Pt 😀 café\r\nno e\u{301}dema 👨‍👩‍👧" : an emoji outside the BMP (2 UTF-16 units, 4 bytes),
    // a precomposed é (1 char, 2 bytes), CRLF (2 chars), a combining acute (its own char),
    // and a ZWJ family (5 chars, 8 UTF-16 units).
    const T: &str = "Pt \u{1F600} caf\u{e9}\r\nno e\u{301}dema \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";

    #[test]
    fn emoji_combining_and_crlf_round_trip() {
        let idx = OffsetIndex::new(T);
        let chars: Vec<char> = T.chars().collect();
        assert_eq!(idx.chars(), chars.len());
        // Computed independently from the character list.
        let mut u = 0;
        let mut b = 0;
        for (c, ch) in chars.iter().enumerate() {
            assert_eq!(idx.utf16(c), Some(u), "utf16 of char {c}");
            assert_eq!(idx.byte(c), Some(b), "byte of char {c}");
            assert_eq!(idx.char_of_utf16(u), Some(c));
            assert_eq!(idx.char_of_byte(b), Some(c));
            assert_eq!(char_to_utf16(T, c), Some(u));
            assert_eq!(utf16_to_char(T, u), Some(c));
            assert_eq!(char_to_byte(T, c), Some(b));
            assert_eq!(byte_to_char(T, b), Some(c));
            if ch.len_utf16() == 2 {
                assert_eq!(idx.char_of_utf16(u + 1), None, "inside a surrogate pair");
                assert_eq!(utf16_to_char(T, u + 1), None);
            }
            for k in 1..ch.len_utf8() {
                assert_eq!(idx.char_of_byte(b + k), None, "inside a UTF-8 sequence");
                assert_eq!(byte_to_char(T, b + k), None);
            }
            u += ch.len_utf16();
            b += ch.len_utf8();
        }
        assert_eq!(idx.utf16(chars.len()), Some(u));
        assert_eq!(idx.utf16_len(), T.encode_utf16().count());
        assert_eq!(idx.byte(chars.len() + 1), None);
        assert_eq!(idx.char_of_utf16(u + 1), None);
    }

    #[test]
    fn spans_survive_the_browser_round_trip() {
        // A span over "e\u{301}dema" (after CRLF and an emoji) as the browser sees it.
        let start = T.chars().position(|c| c == 'n').unwrap() + 3; // "no " then e
        let end = start + 6; // e + combining acute + "dema"
        assert_eq!(char_slice(T, start, end), Some("e\u{301}dema"));
        let idx = OffsetIndex::new(T);
        let (us, ue) = (idx.utf16(start).unwrap(), idx.utf16(end).unwrap());
        // What JavaScript's String.prototype.slice would return over UTF-16 units.
        let units: Vec<u16> = T.encode_utf16().collect();
        assert_eq!(String::from_utf16(&units[us..ue]).unwrap(), "e\u{301}dema");
        assert_eq!((idx.char_of_utf16(us), idx.char_of_utf16(ue)), (Some(start), Some(end)));
        // CRLF is two chars, as stored.
        let cr = T.chars().position(|c| c == '\r').unwrap();
        assert_eq!(char_slice(T, cr, cr + 2), Some("\r\n"));
    }

    #[test]
    fn ascii_is_identity() {
        let idx = OffsetIndex::new("no edema\r\n");
        assert_eq!((idx.byte(3), idx.utf16(3), idx.char_of_utf16(10), idx.char_of_byte(11)), (Some(3), Some(3), Some(10), None));
    }
}
