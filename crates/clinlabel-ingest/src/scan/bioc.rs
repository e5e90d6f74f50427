//! BioC XML: one note per `<document>` of the `<collection>`.
//!
//! A small incremental XML lexer follows the markup as the bytes stream past
//! (tags with quoted attributes, comments, CDATA, processing instructions,
//! the DOCTYPE with its internal subset) and keeps only the bytes of the
//! current `<document>` element — at most [`MAX_DOCUMENT_XML`] — so a
//! multi-gigabyte collection scans in bounded memory. When the document's
//! end tag arrives, its bytes are read by `clinlabel-text`'s BioC reader
//! (the one that reads them back when the content is served): passages
//! placed at their offsets, annotations checked against the text, the
//! 1 MiB limit. The item's byte range is the element, from `<document` to
//! the end of `</document>`; its meta holds `document` (1-based position in
//! the collection) and `chars`.
//!
//! Well-formedness inside a document is the reader's job; the lexer refuses
//! what it can see itself: a root element other than `<collection>`, text
//! or a second root outside it, a stray `<`, an end tag without a start, and
//! a file that ends inside markup or an element.

use super::text::{Records, redact_quoted, too_large};
use clinlabel_store::files::NewItem;
use clinlabel_text::TextError;
use serde_json::json;

/// The longest `<document>` element, in bytes of XML.
pub const MAX_DOCUMENT_XML: usize = 16 << 20;
/// Element names are compared on at most this many bytes.
const NAME_CAP: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum X {
    Text,
    /// After `<`.
    Lt,
    /// After `<!`.
    Bang,
    /// After `<!-`.
    BangDash,
    /// After `<!` and `matched` bytes of `[CDATA[`.
    BangCData {
        matched: u8,
    },
    /// Inside `<!-- -->`: trailing dashes seen.
    Comment {
        dashes: u8,
    },
    /// Inside `<![CDATA[ ]]>`: trailing `]` seen.
    CData {
        brackets: u8,
    },
    /// Inside `<!DOCTYPE …>` (or another declaration).
    Decl {
        quote: u8,
        depth: u32,
    },
    /// Inside `<? ?>`.
    Pi {
        question: bool,
    },
    /// A start tag's name.
    Name,
    /// A start tag's attributes.
    Attrs {
        quote: u8,
        slash: bool,
    },
    /// An end tag's name.
    EndName,
    /// After an end tag's name, before `>`.
    EndRest,
}

pub(crate) struct BiocDocs {
    max_items: usize,
    st: X,
    name: Vec<u8>,
    /// Open elements.
    depth: u32,
    root_seen: bool,
    root_closed: bool,
    /// Offset of the `<` that opened the current tag.
    tag_at: u64,
    /// The current `<document>`: its start offset and bytes.
    doc: Option<(u64, Vec<u8>)>,
    docs: u64,
    items: Vec<NewItem>,
}

impl BiocDocs {
    pub(crate) fn new(max_items: usize) -> BiocDocs {
        BiocDocs {
            max_items,
            st: X::Text,
            name: Vec::new(),
            depth: 0,
            root_seen: false,
            root_closed: false,
            tag_at: 0,
            doc: None,
            docs: 0,
            items: Vec::new(),
        }
    }

    /// A start tag's name is complete.
    fn start_tag(&mut self) -> Result<(), String> {
        let at = self.tag_at;
        if self.depth == 0 {
            if self.root_closed {
                return Err(format!(
                    "a second root element at byte offset {at}: a BioC file holds one <collection>"
                ));
            }
            if self.name != b"collection" {
                return Err(format!(
                    "not a BioC collection: the root element is <{}> (byte offset {at}), expected <collection>",
                    String::from_utf8_lossy(&self.name)
                ));
            }
            self.root_seen = true;
        } else if self.depth == 1 && self.name == b"document" {
            let mut bytes = Vec::with_capacity(4096);
            bytes.push(b'<');
            bytes.extend_from_slice(&self.name);
            self.doc = Some((at, bytes));
        }
        Ok(())
    }

    /// The current tag ended (`>` at `pos`); `opens`: a start tag (not `/>`).
    fn tag_closed(&mut self, opens: bool, pos: u64) -> Result<(), String> {
        if opens {
            self.depth += 1;
            return Ok(());
        }
        if self.depth == 1 && self.doc.is_some() {
            return self.document_done(pos + 1);
        }
        Ok(())
    }

    fn end_tag(&mut self, pos: u64) -> Result<(), String> {
        if self.depth == 0 {
            return Err(format!(
                "an end tag without a start tag at byte offset {}",
                self.tag_at
            ));
        }
        self.depth -= 1;
        if self.depth == 0 {
            if self.name != b"collection" {
                return Err(self.stray(
                    "an end tag other than </collection> closing the root",
                    self.tag_at,
                ));
            }
            self.root_closed = true;
        } else if self.depth == 1 && self.doc.is_some() {
            return self.document_done(pos + 1);
        }
        Ok(())
    }

    /// The document element ended just before `end`; its bytes are complete.
    fn document_done(&mut self, end: u64) -> Result<(), String> {
        let (start, bytes) = self.doc.take().expect("a document is open");
        self.docs += 1;
        let n = self.docs;
        let place = format!("document {n} (byte offset {start})");
        let doc = match clinlabel_text::ingest::read_bioc("document", &bytes[..]).next() {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(format!("{place}: {}", reason(e))),
            None => return Err(format!("{place}: not a BioC document")),
        };
        if doc.text.is_empty() {
            return Err(format!("{place}: no passage text (a note needs text)"));
        }
        if self.items.len() >= self.max_items {
            return Err(format!(
                "more than {} items in one file: split it",
                self.max_items
            ));
        }
        self.items.push(NewItem {
            kind: "note",
            byte_start: start as i64,
            byte_end: end as i64,
            meta: json!({ "document": n, "chars": doc.text.chars().count() }),
        });
        Ok(())
    }

    /// Bytes held now (the current document and tag name): bounded by one document.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.doc.as_ref().map_or(0, |d| d.1.len()) + self.name.len()
    }

    fn stray(&self, what: &str, pos: u64) -> String {
        format!("not well-formed XML: {what} at byte offset {pos}")
    }
}

/// A refusal from `clinlabel-text`'s reader, without the content it may quote.
fn reason(e: TextError) -> String {
    match e {
        TextError::TooLarge { bytes, .. } => too_large(bytes),
        TextError::Format { problem, .. } => redact_quoted(&problem),
        TextError::NotUtf8 { offset, .. } => {
            format!("not valid UTF-8 at byte {offset} of the document")
        }
        other => redact_quoted(&other.to_string()),
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Records for BiocDocs {
    fn push(&mut self, data: &[u8], at: u64) -> Result<(), String> {
        // Where the current document's bytes start in `data`.
        let mut from = self.doc.is_some().then_some(0usize);
        let mut i = 0usize;
        while i < data.len() {
            let b = data[i];
            let pos = at + i as u64;
            match self.st {
                X::Text => {
                    // Fast path: character data up to the next '<'.
                    let rest = &data[i..];
                    let n = rest.iter().position(|&c| c == b'<').unwrap_or(rest.len());
                    if self.depth == 0
                        && let Some(k) = rest[..n].iter().position(|&c| !is_space(c))
                    {
                        return Err(
                            self.stray("text outside the <collection> element", pos + k as u64)
                        );
                    }
                    if n < rest.len() {
                        self.st = X::Lt;
                        self.tag_at = pos + n as u64;
                    }
                    i += n + 1;
                    continue;
                }
                X::Lt => match b {
                    b'!' => self.st = X::Bang,
                    b'?' => self.st = X::Pi { question: false },
                    b'/' => {
                        self.name.clear();
                        self.st = X::EndName;
                    }
                    b if b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80 => {
                        if self.depth == 0 && self.root_closed {
                            return Err(format!(
                                "a second root element at byte offset {}: a BioC file holds one <collection>",
                                self.tag_at
                            ));
                        }
                        self.name.clear();
                        self.name.push(b);
                        self.st = X::Name;
                    }
                    _ => return Err(self.stray("a '<' that starts no markup", self.tag_at)),
                },
                X::Bang => match b {
                    b'-' => self.st = X::BangDash,
                    b'[' => self.st = X::BangCData { matched: 1 },
                    b if b.is_ascii_alphabetic() => self.st = X::Decl { quote: 0, depth: 0 },
                    _ => return Err(self.stray("a malformed <! declaration", self.tag_at)),
                },
                X::BangDash => match b {
                    b'-' => self.st = X::Comment { dashes: 0 },
                    _ => return Err(self.stray("a malformed comment", self.tag_at)),
                },
                X::BangCData { matched } => {
                    const CDATA: &[u8] = b"[CDATA[";
                    if b != CDATA[matched as usize] {
                        return Err(self.stray("a malformed CDATA section", self.tag_at));
                    }
                    self.st = if matched as usize + 1 == CDATA.len() {
                        X::CData { brackets: 0 }
                    } else {
                        X::BangCData {
                            matched: matched + 1,
                        }
                    };
                }
                X::Comment { dashes } => {
                    self.st = match b {
                        b'-' => X::Comment {
                            dashes: (dashes + 1).min(2),
                        },
                        b'>' if dashes >= 2 => X::Text,
                        _ => X::Comment { dashes: 0 },
                    }
                }
                X::CData { brackets } => {
                    self.st = match b {
                        b']' => X::CData {
                            brackets: (brackets + 1).min(2),
                        },
                        b'>' if brackets >= 2 => X::Text,
                        _ => X::CData { brackets: 0 },
                    }
                }
                X::Decl { quote, depth } => {
                    self.st = if quote != 0 {
                        X::Decl {
                            quote: if b == quote { 0 } else { quote },
                            depth,
                        }
                    } else {
                        match b {
                            b'"' | b'\'' => X::Decl { quote: b, depth },
                            b'[' => X::Decl {
                                quote,
                                depth: depth + 1,
                            },
                            b']' => X::Decl {
                                quote,
                                depth: depth.saturating_sub(1),
                            },
                            b'>' if depth == 0 => X::Text,
                            _ => X::Decl { quote, depth },
                        }
                    }
                }
                X::Pi { question } => {
                    self.st = match b {
                        b'?' => X::Pi { question: true },
                        b'>' if question => X::Text,
                        _ => X::Pi { question: false },
                    }
                }
                X::Name => {
                    if is_space(b) || b == b'/' || b == b'>' {
                        self.start_tag()?;
                        if self.doc.is_some() && from.is_none() {
                            from = Some(i);
                        }
                        self.st = X::Attrs {
                            quote: 0,
                            slash: false,
                        };
                        continue; // the same byte, in Attrs
                    }
                    if self.name.len() < NAME_CAP {
                        self.name.push(b);
                    }
                }
                X::Attrs { quote, slash } => {
                    if quote != 0 {
                        if b == quote {
                            self.st = X::Attrs {
                                quote: 0,
                                slash: false,
                            };
                        }
                    } else {
                        match b {
                            b'"' | b'\'' => {
                                self.st = X::Attrs {
                                    quote: b,
                                    slash: false,
                                }
                            }
                            b'/' => {
                                self.st = X::Attrs {
                                    quote: 0,
                                    slash: true,
                                }
                            }
                            b'>' => {
                                self.st = X::Text;
                                let was_doc = self.doc.is_some();
                                if let (true, Some(f)) = (was_doc, from) {
                                    append(&mut self.doc, &data[f..=i])?;
                                    from = Some(i + 1);
                                }
                                self.tag_closed(!slash, pos)?;
                                if was_doc && self.doc.is_none() {
                                    from = None;
                                }
                            }
                            _ => {
                                self.st = X::Attrs {
                                    quote: 0,
                                    slash: false,
                                }
                            }
                        }
                    }
                }
                X::EndName | X::EndRest => {
                    if b == b'>' {
                        self.st = X::Text;
                        let was_doc = self.doc.is_some();
                        if let (true, Some(f)) = (was_doc, from) {
                            append(&mut self.doc, &data[f..=i])?;
                            from = Some(i + 1);
                        }
                        self.end_tag(pos)?;
                        if was_doc && self.doc.is_none() {
                            from = None;
                        }
                    } else if is_space(b) {
                        self.st = X::EndRest;
                    } else if self.st == X::EndRest {
                        return Err(self.stray("a malformed end tag", self.tag_at));
                    } else if self.name.len() < NAME_CAP {
                        self.name.push(b);
                    }
                }
            }
            i += 1;
        }
        if let Some(f) = from
            && self.doc.is_some()
        {
            append(&mut self.doc, &data[f.min(data.len())..])?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _total: u64) -> Result<Vec<NewItem>, String> {
        if !self.root_seen {
            return Err("not a BioC collection: no <collection> element".into());
        }
        if self.st != X::Text || self.depth > 0 {
            return Err(match &self.doc {
                Some((start, _)) => format!(
                    "document {} (byte offset {start}): the file ends inside it",
                    self.docs + 1
                ),
                None => "the file ends inside an element (is </collection> missing?)".into(),
            });
        }
        if self.items.is_empty() {
            return Err("no documents: the collection holds no <document>".into());
        }
        Ok(self.items)
    }
}

fn append(doc: &mut Option<(u64, Vec<u8>)>, bytes: &[u8]) -> Result<(), String> {
    if let Some((start, buf)) = doc {
        if buf.len() + bytes.len() > MAX_DOCUMENT_XML {
            return Err(format!(
                "the document at byte offset {start} is longer than {} MiB of XML",
                MAX_DOCUMENT_XML >> 20
            ));
        }
        buf.extend_from_slice(bytes);
    }
    Ok(())
}
