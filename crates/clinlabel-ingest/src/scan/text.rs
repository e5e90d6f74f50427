//! What every text format shares: a front that drops a leading UTF-8 BOM and
//! passes bytes on only once they are known to be UTF-8, and the one-note
//! plain-text format.
//!
//! The front refuses the file at the first bad byte with its byte offset,
//! whatever the chunking. Format scanners behind it (`Records`) see the
//! validated bytes in order with their offset in the file, so a format error
//! before the bad byte is reported first, as a reader going through the file
//! would (the text readers of `clinlabel-text` behave the same way).

use super::Scanner;
use clinlabel_store::files::NewItem;
use serde_json::json;

/// The largest note, in UTF-8 bytes of its text (1 MiB), as in `clinlabel-text`.
pub const MAX_NOTE_BYTES: usize = clinlabel_text::ingest::MAX_DOCUMENT_BYTES;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A format reading validated UTF-8.
pub(crate) trait Records: Send {
    /// The next validated bytes; `at` is the file offset of `data[0]`.
    /// Bytes arrive in file order without gaps, except that a dropped BOM
    /// makes the first `at` 3.
    fn push(&mut self, data: &[u8], at: u64) -> Result<(), String>;
    /// The whole file was pushed; `total` is its length in bytes.
    fn finish(self: Box<Self>, total: u64) -> Result<Vec<NewItem>, String>;
}

/// "… is N bytes; a note is at most 1 MiB": the refusal of an oversized note.
pub(crate) fn too_large(bytes: usize) -> String {
    format!("the text is {bytes} bytes; a note is at most 1 MiB ({MAX_NOTE_BYTES} bytes)")
}

/// Where validated pieces go: the bytes and their file offset.
type Sink<'a> = dyn FnMut(&[u8], u64) -> Result<(), String> + 'a;

/// UTF-8 validation across pushes: carries an incomplete trailing sequence.
#[derive(Default)]
pub(crate) struct Utf8Check {
    carry: Vec<u8>,
    /// File offset of the next byte to validate (of `carry[0]` when carrying).
    offset: u64,
}

impl Utf8Check {
    /// Validates `data`, handing each validated piece to `sink` with its offset.
    fn push(&mut self, mut data: &[u8], sink: &mut Sink<'_>) -> Result<(), String> {
        // Complete a sequence split by the previous push.
        while !self.carry.is_empty() && !data.is_empty() {
            self.carry.push(data[0]);
            data = &data[1..];
            match std::str::from_utf8(&self.carry) {
                Ok(_) => {
                    let done = std::mem::take(&mut self.carry);
                    let at = self.offset;
                    self.offset += done.len() as u64;
                    sink(&done, at)?;
                }
                Err(e) if e.error_len().is_some() => return Err(invalid_at(self.offset)),
                Err(_) => {}
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        let (good, failed) = match std::str::from_utf8(data) {
            Ok(_) => (data.len(), None),
            Err(e) => (e.valid_up_to(), Some(e.error_len().is_some())),
        };
        let at = self.offset;
        self.offset += good as u64;
        if good > 0 {
            // The valid prefix first: a format error in it comes before the bad byte.
            sink(&data[..good], at)?;
        }
        match failed {
            None => {}
            Some(true) => return Err(invalid_at(self.offset)),
            Some(false) => self.carry.extend_from_slice(&data[good..]),
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), String> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "not valid UTF-8: invalid byte sequence at byte offset {} (the file ends inside a character; convert the file to UTF-8)",
                self.offset
            ))
        }
    }
}

fn invalid_at(at: u64) -> String {
    format!(
        "not valid UTF-8: invalid byte sequence at byte offset {at} (convert the file to UTF-8)"
    )
}

/// BOM + UTF-8 front of a text format.
pub(crate) struct Utf8Front {
    head: Vec<u8>,
    started: bool,
    utf8: Utf8Check,
    inner: Box<dyn Records>,
}

impl Utf8Front {
    pub(crate) fn new(inner: Box<dyn Records>) -> Utf8Front {
        Utf8Front {
            head: Vec::with_capacity(3),
            started: false,
            utf8: Utf8Check::default(),
            inner,
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        let inner = &mut self.inner;
        self.utf8.push(data, &mut |piece, at| inner.push(piece, at))
    }

    /// Decides about the BOM once three bytes (or the whole file) are in.
    fn start(&mut self) -> Result<(), String> {
        self.started = true;
        let head = std::mem::take(&mut self.head);
        if head == BOM {
            self.utf8.offset = 3;
            Ok(())
        } else {
            self.feed(&head)
        }
    }
}

impl Scanner for Utf8Front {
    fn push(&mut self, mut data: &[u8]) -> Result<(), String> {
        if !self.started {
            let n = (3 - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.head.len() < 3 {
                return Ok(());
            }
            self.start()?;
        }
        self.feed(data)
    }

    fn finish(mut self: Box<Self>, total: u64) -> Result<Vec<NewItem>, String> {
        if !self.started {
            self.start()?;
        }
        self.utf8.finish()?;
        self.inner.finish(total)
    }
}

/// `.txt` / `.md`: the whole file is one note (without a leading BOM).
#[derive(Default)]
pub(crate) struct WholeText {
    start: Option<u64>,
    chars: u64,
}

impl Records for WholeText {
    fn push(&mut self, data: &[u8], at: u64) -> Result<(), String> {
        self.start.get_or_insert(at);
        self.chars += count_chars(data);
        Ok(())
    }

    fn finish(self: Box<Self>, total: u64) -> Result<Vec<NewItem>, String> {
        let start = self.start.unwrap_or(total);
        let bytes = total - start;
        if bytes == 0 {
            return Err("empty file: a note needs text".into());
        }
        if bytes > MAX_NOTE_BYTES as u64 {
            return Err(too_large(bytes as usize));
        }
        Ok(vec![NewItem {
            kind: "note",
            byte_start: start as i64,
            byte_end: total as i64,
            meta: json!({ "chars": self.chars }),
        }])
    }
}

pub(crate) fn count_chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| (c & 0xC0) != 0x80).count() as u64
}

/// Replaces the inside of every double-quoted string (as `{:?}` writes it)
/// with `…`: reasons are stored and shown, and never quote content.
pub(crate) fn redact_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            out.push('…');
            let mut escaped = false;
            for d in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == '"' {
                    out.push('"');
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_content_is_redacted() {
        assert_eq!(
            redact_quoted(r#"annotation T1 says "fe\"ver" but the text at [3, 8) is "cough""#),
            "annotation T1 says \"…\" but the text at [3, 8) is \"…\""
        );
        assert_eq!(redact_quoted("no quotes"), "no quotes");
    }
}
