//! Document ingest: plain text, JSONL, CSV with a chosen text column, BioC XML.
//!
//! Every reader takes any [`Read`] (the caller opens the file or the upload
//! stream) and the file's name for messages. Input is checked as UTF-8 while
//! it streams ([`Utf8Checked`]): a file in another encoding is refused with
//! its name and the byte offset of the first bad byte. Text is kept exactly
//! as stored — CRLF stays CRLF — except that a UTF-8 byte-order mark at the
//! very start of a file is dropped. Each document is at most
//! [`MAX_DOCUMENT_BYTES`]; a larger one is refused naming it.
//!
//! Readers are iterators that hold one record at a time, so a large JSONL or
//! CSV file streams in bounded memory.

use crate::error::{Result, TextError};
use crate::model::{AnnotatedDocument, Source};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read};

/// The largest document accepted, in UTF-8 bytes (1 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// A document to annotate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl From<Document> for AnnotatedDocument {
    fn from(d: Document) -> AnnotatedDocument {
        AnnotatedDocument { id: d.id, text: d.text, metadata: d.metadata, ..Default::default() }
    }
}

fn check_size(name: &str, id: &str, text: &str) -> Result<()> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(TextError::TooLarge { name: name.into(), id: id.into(), bytes: text.len(), limit: MAX_DOCUMENT_BYTES });
    }
    Ok(())
}

// -- UTF-8 checking while streaming ---------------------------------------------------

#[derive(Debug)]
struct NotUtf8(u64);
impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not UTF-8: invalid byte at offset {}", self.0)
    }
}
impl std::error::Error for NotUtf8 {}

/// The byte offset carried by an error from [`Utf8Checked`], if it is one.
pub fn not_utf8_offset(e: &std::io::Error) -> Option<u64> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(err) = cur {
        if let Some(n) = err.downcast_ref::<NotUtf8>() {
            return Some(n.0);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            cur = io.get_ref().map(|r| r as _);
        } else {
            cur = err.source();
        }
    }
    None
}

/// A reader that passes bytes through only once they are known to be UTF-8,
/// failing (`InvalidData`, see [`not_utf8_offset`]) at the first bad byte.
/// A leading byte-order mark is dropped.
pub struct Utf8Checked<R> {
    inner: R,
    /// Bytes read but not yet handed out (validated prefix first).
    buf: Vec<u8>,
    /// How many of `buf` are validated.
    ok: usize,
    /// Absolute offset of `buf[0]` in the input.
    base: u64,
    eof: bool,
    started: bool,
}

impl<R: Read> Utf8Checked<R> {
    pub fn new(inner: R) -> Self {
        Utf8Checked { inner, buf: Vec::with_capacity(64 * 1024), ok: 0, base: 0, eof: false, started: false }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        while self.ok == 0 && !self.eof {
            let old = self.buf.len();
            self.buf.resize(old + 64 * 1024, 0);
            let n = loop {
                match self.inner.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            }
            if !self.started && (self.buf.len() >= 3 || self.eof) {
                self.started = true;
                if self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    self.buf.drain(..3);
                    self.base = 3;
                }
            }
            if !self.started {
                continue;
            }
            match std::str::from_utf8(&self.buf) {
                Ok(_) => self.ok = self.buf.len(),
                Err(e) => {
                    let valid = e.valid_up_to();
                    if e.error_len().is_some() || self.eof {
                        if valid == 0 {
                            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, NotUtf8(self.base + valid as u64)));
                        }
                        // Hand out the valid prefix first; the error comes on the next read.
                    } else if self.buf.len() - valid > 3 {
                        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, NotUtf8(self.base + valid as u64)));
                    }
                    self.ok = valid;
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Utf8Checked<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.fill()?;
        let n = self.ok.min(out.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf.drain(..n);
        self.ok -= n;
        self.base += n as u64;
        Ok(n)
    }
}

/// Decodes a whole file: UTF-8 or an error naming the first bad byte; a BOM is dropped.
pub fn decode(name: &str, bytes: Vec<u8>) -> Result<String> {
    let bom = bytes.starts_with(&[0xEF, 0xBB, 0xBF]);
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if bom {
                s.drain(..3);
            }
            Ok(s)
        }
        Err(e) => Err(TextError::NotUtf8 { name: name.into(), offset: e.utf8_error().valid_up_to() as u64 }),
    }
}

// -- plain text ------------------------------------------------------------------------

/// A plain-text file is one document whose id is the file name.
pub fn read_text(name: &str, mut r: impl Read) -> Result<Document> {
    let mut bytes = Vec::new();
    r.by_ref().take(MAX_DOCUMENT_BYTES as u64 + 4).read_to_end(&mut bytes).map_err(|e| TextError::from_io(name, e))?;
    let text = decode(name, bytes)?;
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(TextError::TooLarge { name: name.into(), id: name.into(), bytes: text.len(), limit: MAX_DOCUMENT_BYTES });
    }
    Ok(Document { id: name.to_string(), text, metadata: Default::default() })
}

// -- JSONL -----------------------------------------------------------------------------

/// JSONL: one document per line, `{"id", "text", "metadata"?}`. A missing id
/// becomes `<name>:<line>`; blank lines are skipped. A line may carry
/// `spans`, `relations`, `classifications` too (the native format): use
/// [`read_jsonl_annotated`] to keep them.
pub fn read_jsonl<R: Read>(name: &str, r: R) -> impl Iterator<Item = Result<Document>> {
    read_jsonl_annotated(name, r).map(|d| d.map(|d| Document { id: d.id, text: d.text, metadata: d.metadata }))
}

/// JSONL of [`AnnotatedDocument`]s (native format); see [`read_jsonl`].
pub fn read_jsonl_annotated<R: Read>(name: &str, r: R) -> impl Iterator<Item = Result<AnnotatedDocument>> {
    JsonLines::new(name, BufReader::with_capacity(256 * 1024, Utf8Checked::new(r)))
        .map(|item| item.and_then(|(name, line, v)| annotated_from_json(&name, line, v)))
}

/// Lines of a JSONL stream as parsed values, with the line number.
pub(crate) struct JsonLines<R> {
    name: String,
    r: R,
    line: usize,
    done: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    pub(crate) fn new(name: &str, r: R) -> Self {
        JsonLines { name: name.to_string(), r, line: 0, done: false, buf: Vec::new() }
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Result<(String, usize, serde_json::Value)>;
    fn next(&mut self) -> Option<Self::Item> {
        // A line carries at most one document's text, JSON-escaped (up to 6 bytes a char, ×2 for slack).
        const MAX_LINE: u64 = (MAX_DOCUMENT_BYTES as u64) * 12 + 65536;
        while !self.done {
            self.buf.clear();
            self.line += 1;
            let n = match self.r.by_ref().take(MAX_LINE).read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(TextError::from_io(&self.name, e)));
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            if n as u64 == MAX_LINE && !self.buf.ends_with(b"\n") {
                self.done = true;
                return Some(Err(TextError::format(&self.name, format!("line {}", self.line), "the line is too long for a 1 MiB document")));
            }
            let s = std::str::from_utf8(&self.buf).expect("checked by Utf8Checked").trim();
            if s.is_empty() {
                continue;
            }
            return Some(match serde_json::from_str::<serde_json::Value>(s) {
                Ok(v) => Ok((self.name.clone(), self.line, v)),
                Err(e) => Err(TextError::format(&self.name, format!("line {}", self.line), format!("not JSON: {e}"))),
            });
        }
        None
    }
}

fn annotated_from_json(name: &str, line: usize, v: serde_json::Value) -> Result<AnnotatedDocument> {
    let place = || format!("line {line}");
    let serde_json::Value::Object(mut o) = v else {
        return Err(TextError::format(name, place(), "expected a JSON object {\"id\", \"text\", \"metadata\"}"));
    };
    if !o.contains_key("id") {
        o.insert("id".into(), serde_json::Value::String(format!("{name}:{line}")));
    } else if let Some(serde_json::Value::Number(n)) = o.get("id") {
        let s = n.to_string();
        o.insert("id".into(), serde_json::Value::String(s));
    }
    match o.get("text") {
        Some(serde_json::Value::String(_)) => {}
        _ => return Err(TextError::format(name, place(), "\"text\" is missing or not a string")),
    }
    if o.get("metadata").is_some_and(|m| !m.is_object()) {
        return Err(TextError::format(name, place(), "\"metadata\" must be an object"));
    }
    let mut doc: AnnotatedDocument =
        serde_json::from_value(serde_json::Value::Object(o)).map_err(|e| TextError::format(name, place(), e.to_string()))?;
    check_size(name, &doc.id, &doc.text)?;
    if doc.spans.iter().any(|s| s.text.is_empty()) {
        doc.fill_text().map_err(|p| TextError::format(name, place(), p.to_string()))?;
    }
    if let Some(p) = doc.check().into_iter().next() {
        return Err(TextError::format(name, place(), p.to_string()));
    }
    Ok(doc)
}

// -- CSV -------------------------------------------------------------------------------

/// How to read a CSV file.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Header of the column holding the text.
    pub text_column: String,
    /// Header of the id column; default: `<name>:<row>` (row 1 is the first data row).
    pub id_column: Option<String>,
    pub delimiter: u8,
}

impl CsvOptions {
    pub fn new(text_column: impl Into<String>) -> Self {
        CsvOptions { text_column: text_column.into(), id_column: None, delimiter: b',' }
    }
}

/// CSV with a header row: the chosen text column is the document, every other
/// column goes into `metadata` by its header. Quoted fields may hold newlines
/// (CRLF inside a quoted field is kept).
pub fn read_csv<R: Read>(name: &str, r: R, opts: &CsvOptions) -> Result<impl Iterator<Item = Result<Document>> + use<R>> {
    let mut rdr = csv::ReaderBuilder::new().delimiter(opts.delimiter).has_headers(true).flexible(false).from_reader(Utf8Checked::new(r));
    let name = name.to_string();
    let headers = rdr.headers().map_err(|e| csv_error(&name, e))?.clone();
    let col = |h: &str| headers.iter().position(|x| x == h);
    let text_col = col(&opts.text_column).ok_or_else(|| {
        TextError::format(&name, "header", format!("no column {:?} (columns: {})", opts.text_column, headers.iter().collect::<Vec<_>>().join(", ")))
    })?;
    let id_col = match &opts.id_column {
        Some(c) => Some(col(c).ok_or_else(|| TextError::format(&name, "header", format!("no id column {c:?}")))?),
        None => None,
    };
    let mut row = 0usize;
    Ok(rdr.into_records().map(move |rec| {
        row += 1;
        let rec = rec.map_err(|e| csv_error(&name, e))?;
        let text = rec.get(text_col).unwrap_or_default().to_string();
        let id = match id_col {
            Some(i) => rec.get(i).unwrap_or_default().to_string(),
            None => format!("{name}:{row}"),
        };
        check_size(&name, &id, &text)?;
        let mut metadata = serde_json::Map::new();
        for (i, (h, v)) in headers.iter().zip(rec.iter()).enumerate() {
            if i != text_col && Some(i) != id_col {
                metadata.insert(h.to_string(), serde_json::Value::String(v.to_string()));
            }
        }
        Ok(Document { id, text, metadata })
    }))
}

fn csv_error(name: &str, e: csv::Error) -> TextError {
    let place = e.position().map(|p| format!("record {} (line {})", p.record(), p.line())).unwrap_or_else(|| "input".into());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => TextError::from_io(name, io),
        csv::ErrorKind::Utf8 { err, .. } => TextError::format(name, place, format!("not UTF-8: {err}")),
        other => TextError::format(name, place, format!("{other:?}")),
    }
}

// -- BioC XML --------------------------------------------------------------------------

/// BioC XML: each `<document>` becomes an [`AnnotatedDocument`]. Passages are
/// placed at their `<offset>` (char offsets of the document, the convention
/// of the `bioc` Python package); a gap between passages is filled with
/// newlines. `<annotation>`s become spans (label from the `type` infon,
/// assertion from an `assertion` infon, codes from `identifier` or
/// `code:<system>` infons) and `<relation>`s relations between their nodes.
/// Document-level infons go to `metadata`.
pub fn read_bioc<R: Read>(name: &str, r: R) -> impl Iterator<Item = Result<AnnotatedDocument>> {
    crate::export::bioc::Reader::new(name, BufReader::with_capacity(256 * 1024, Utf8Checked::new(r)))
}

/// Builds spans for a document read from a foreign format: manual, text filled.
pub(crate) fn finish_foreign(name: &str, mut doc: AnnotatedDocument) -> Result<AnnotatedDocument> {
    check_size(name, &doc.id, &doc.text)?;
    for s in &mut doc.spans {
        s.source = Source::Manual;
    }
    let texts: Vec<String> = doc.spans.iter().map(|s| s.text.clone()).collect();
    doc.fill_text().map_err(|p| TextError::format(name, format!("document {:?}", doc.id), p.to_string()))?;
    for (s, t) in doc.spans.iter().zip(texts) {
        if !t.is_empty() && t != s.text {
            return Err(TextError::format(
                name,
                format!("document {:?}", doc.id),
                format!("annotation {} says {:?} but the text at [{}, {}) is {:?}", s.id, t, s.start, s.end, s.text),
            ));
        }
    }
    if let Some(p) = doc.check().into_iter().next() {
        return Err(TextError::format(name, format!("document {:?}", doc.id), p.to_string()));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns one byte at a time, to split UTF-8 sequences across reads.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn other_encodings_are_refused_with_name_and_offset() {
        // "Patient: café" in Latin-1: é is 0xE9 at byte 12.
        let latin1 = b"Patient: caf\xe9\r\nNo fever.".to_vec();
        let e = read_text("note.txt", &latin1[..]).unwrap_err();
        assert_eq!(e.to_string(), "note.txt: not UTF-8: invalid byte at offset 12 (convert the file to UTF-8)");
        let jsonl = b"{\"id\":\"a\",\"text\":\"ok \xf0\x9f\x98\x80\"}\n{\"id\":\"b\",\"text\":\"caf\xe9\"}\n".to_vec();
        let bad = jsonl.iter().position(|&b| b == 0xe9).unwrap();
        let r: Vec<_> = read_jsonl("docs.jsonl", Trickle(&jsonl)).collect();
        assert_eq!(r[0].as_ref().unwrap().text, "ok \u{1F600}");
        match &r[1] {
            Err(TextError::NotUtf8 { name, offset }) => assert_eq!((name.as_str(), *offset), ("docs.jsonl", bad as u64)),
            other => panic!("{other:?}"),
        }
        let csv = b"id,text\n1,caf\xe9\n".to_vec();
        let e = read_csv("t.csv", &csv[..], &CsvOptions::new("text")).unwrap().next().unwrap().unwrap_err();
        assert!(matches!(e, TextError::NotUtf8 { offset: 13, .. }), "{e}");
        // UTF-16 (a BOM of FF FE) is refused at byte 0.
        let e = read_text("u16.txt", &b"\xff\xfeh\x00i\x00"[..]).unwrap_err();
        assert!(matches!(e, TextError::NotUtf8 { offset: 0, .. }), "{e}");
        // A file that ends inside a sequence.
        let e = read_jsonl("cut.jsonl", &b"{\"text\":\"a\"}\n\xe2\x82"[..]).nth(1).unwrap().unwrap_err();
        assert!(matches!(e, TextError::NotUtf8 { offset: 13, .. }), "{e}");
    }

    #[test]
    fn crlf_is_preserved_and_bom_dropped() {
        let d = read_text("n.txt", &b"\xef\xbb\xbfLine 1\r\nLine 2\r\n"[..]).unwrap();
        assert_eq!(d.text, "Line 1\r\nLine 2\r\n");
        let csv = "id,text,site\r\n7,\"Hx:\r\nno fever\",A\r\n";
        let docs: Vec<_> = read_csv("x.csv", csv.as_bytes(), &CsvOptions { id_column: Some("id".into()), ..CsvOptions::new("text") }).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(docs[0].id, "7");
        assert_eq!(docs[0].text, "Hx:\r\nno fever");
        assert_eq!(docs[0].metadata["site"], "A");
        let jl = "{\"id\": 3, \"text\": \"a\\r\\nb\", \"metadata\": {\"ward\": 4}}\r\n\r\n{\"text\": \"c\"}";
        let docs: Vec<_> = read_jsonl("d.jsonl", jl.as_bytes()).collect::<Result<_>>().unwrap();
        assert_eq!((docs[0].id.as_str(), docs[0].text.as_str(), &docs[0].metadata["ward"]), ("3", "a\r\nb", &serde_json::json!(4)));
        assert_eq!(docs[1].id, "d.jsonl:3");
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(matches!(read_text("big.txt", big.as_bytes()), Err(TextError::TooLarge { .. })));
        let line = serde_json::json!({"id": "huge", "text": big}).to_string();
        let e = read_jsonl("b.jsonl", line.as_bytes()).next().unwrap().unwrap_err();
        assert!(e.to_string().contains("document \"huge\" is 1048577 bytes"), "{e}");
        let ok = "y".repeat(MAX_DOCUMENT_BYTES);
        assert_eq!(read_text("ok.txt", ok.as_bytes()).unwrap().text.len(), MAX_DOCUMENT_BYTES);
    }

    #[test]
    fn bad_records_name_their_place() {
        let e = read_jsonl("d.jsonl", "{\"text\":\"a\"}\n{oops}\n".as_bytes()).nth(1).unwrap().unwrap_err();
        assert!(e.to_string().starts_with("d.jsonl: line 2: not JSON"), "{e}");
        let e = read_jsonl("d.jsonl", "{\"id\":\"x\"}\n".as_bytes()).next().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "d.jsonl: line 1: \"text\" is missing or not a string");
        let e = read_csv("c.csv", "a,b\n1,2\n".as_bytes(), &CsvOptions::new("text")).err().unwrap();
        assert_eq!(e.to_string(), "c.csv: header: no column \"text\" (columns: a, b)");
        let e = read_jsonl("s.jsonl", r#"{"id":"x","text":"abc","spans":[{"id":"T1","label":"d","start":2,"end":9}]}"#.as_bytes()).next().unwrap().unwrap_err();
        assert!(e.to_string().contains("spans[0]"), "{e}");
    }
}
