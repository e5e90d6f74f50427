//! CSV with a header row: one note per row, the text in the project's
//! chosen column.
//!
//! The parser is push-driven (bytes arrive in chunks of any size) and
//! follows the `csv` crate's defaults exactly — what `clinlabel-text`'s
//! `read_csv` reads back when the content is served: `,` separates fields,
//! `"` quotes them (`""` is a quote inside), `\r`, `\n` and `\r\n` end a
//! record (inside quotes they are text, kept as stored), blank lines are
//! skipped, and bytes after a closing quote join the field. On top of that
//! it refuses what that reader would answer with an error or a wrong note:
//! a row whose field count differs from the header's (a row without the
//! text column), a quoted field still open at the end of the file, a
//! header without the text column, an empty text, a text over 1 MiB.
//!
//! Each row becomes an item whose byte range covers the row without its
//! line break; its meta holds `row` (1 = the first data row), `line` (where
//! the row starts, 1-based), `chars`, the header's byte range `header`
//! (`[start, end)`) and `text_column`, so the row can be read back alone.
//! Only the current row is held.

use super::text::{MAX_NOTE_BYTES, Records, count_chars, too_large};
use clinlabel_store::files::NewItem;
use serde_json::json;

/// Longest row (decoded bytes of all its fields).
pub const MAX_ROW: usize = 16 << 20;
/// Most columns in a header.
pub const MAX_COLUMNS: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    /// Between records: line breaks are skipped.
    StartRecord,
    /// At the start of a field (after a delimiter).
    StartField,
    /// Inside an unquoted field (or after a closing quote).
    InField,
    /// Inside a quoted field.
    Quoted,
    /// A quote inside a quoted field: closing, or the first of `""`.
    QuoteInQuoted,
}

pub(crate) struct CsvRows {
    text_column: String,
    max_items: usize,
    st: St,
    /// Line breaks (`\n`) before the current position.
    newlines: u64,
    /// Decoded fields of the current record, and where each ends in `buf`.
    buf: Vec<u8>,
    ends: Vec<usize>,
    rec_start: u64,
    rec_line: u64,
    /// Records finished so far (the header is record 0).
    records: u64,
    header: Option<Header>,
    items: Vec<NewItem>,
}

struct Header {
    range: (u64, u64),
    columns: usize,
    text: usize,
}

impl CsvRows {
    pub(crate) fn new(text_column: &str, max_items: usize) -> CsvRows {
        CsvRows {
            text_column: text_column.to_string(),
            max_items,
            st: St::StartRecord,
            newlines: 0,
            buf: Vec::new(),
            ends: Vec::new(),
            rec_start: 0,
            rec_line: 0,
            records: 0,
            header: None,
            items: Vec::new(),
        }
    }

    fn place(&self) -> String {
        if self.records == 0 {
            format!("header (line {})", self.rec_line)
        } else {
            format!("row {} (line {})", self.records, self.rec_line)
        }
    }

    fn end_field(&mut self) -> Result<(), String> {
        self.ends.push(self.buf.len());
        let limit = match &self.header {
            Some(h) => h.columns,
            None => MAX_COLUMNS,
        };
        if self.ends.len() > limit {
            return Err(match &self.header {
                Some(h) => format!(
                    "{}: more than the header's {} fields",
                    self.place(),
                    h.columns
                ),
                None => format!(
                    "header (line {}): more than {MAX_COLUMNS} columns",
                    self.rec_line
                ),
            });
        }
        Ok(())
    }

    fn field(&self, i: usize) -> &[u8] {
        let from = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[from..self.ends[i]]
    }

    fn end_record(&mut self, end: u64) -> Result<(), String> {
        self.end_field()?;
        match &self.header {
            None => {
                let names: Vec<String> = (0..self.ends.len())
                    .map(|i| String::from_utf8_lossy(self.field(i)).into_owned())
                    .collect();
                let text = names.iter().position(|n| *n == self.text_column).ok_or_else(|| {
                    let mut shown = names.iter().take(20).map(String::as_str).collect::<Vec<_>>().join(", ");
                    if names.len() > 20 {
                        shown.push_str(", …");
                    }
                    format!(
                        "header (line {}): no column {:?} (columns: {shown}); the project's text column is set in its specification",
                        self.rec_line, self.text_column
                    )
                })?;
                self.header = Some(Header {
                    range: (self.rec_start, end),
                    columns: names.len(),
                    text,
                });
            }
            Some(h) => {
                if self.ends.len() != h.columns {
                    return Err(format!(
                        "{}: {} field(s), the header has {} (every row needs every column, the text column {:?} included)",
                        self.place(),
                        self.ends.len(),
                        h.columns,
                        self.text_column
                    ));
                }
                let text = self.field(h.text);
                if text.is_empty() {
                    return Err(format!(
                        "{}: the text column {:?} is empty",
                        self.place(),
                        self.text_column
                    ));
                }
                if text.len() > MAX_NOTE_BYTES {
                    return Err(format!("{}: {}", self.place(), too_large(text.len())));
                }
                if self.items.len() >= self.max_items {
                    return Err(format!(
                        "more than {} items in one file: split it",
                        self.max_items
                    ));
                }
                let chars = count_chars(text);
                self.items.push(NewItem {
                    kind: "note",
                    byte_start: self.rec_start as i64,
                    byte_end: end as i64,
                    meta: json!({
                        "row": self.records,
                        "line": self.rec_line,
                        "chars": chars,
                        "header": [h.range.0, h.range.1],
                        "text_column": self.text_column,
                    }),
                });
            }
        }
        self.records += 1;
        self.buf.clear();
        self.ends.clear();
        Ok(())
    }

    fn copy(&mut self, b: u8) -> Result<(), String> {
        if self.buf.len() >= MAX_ROW {
            return Err(format!(
                "{}: longer than {} MiB",
                self.place(),
                MAX_ROW >> 20
            ));
        }
        self.buf.push(b);
        Ok(())
    }
}

impl Records for CsvRows {
    fn push(&mut self, data: &[u8], at: u64) -> Result<(), String> {
        for (i, &b) in data.iter().enumerate() {
            let pos = at + i as u64;
            let term = b == b'\r' || b == b'\n';
            if self.st == St::StartRecord && !term {
                self.rec_start = pos;
                self.rec_line = self.newlines + 1;
                self.st = St::StartField;
            }
            match self.st {
                St::StartRecord => {}
                St::StartField | St::InField | St::QuoteInQuoted if term => {
                    self.end_record(pos)?;
                    self.st = St::StartRecord;
                }
                St::StartField | St::InField | St::QuoteInQuoted if b == b',' => {
                    self.end_field()?;
                    self.st = St::StartField;
                }
                St::StartField if b == b'"' => self.st = St::Quoted,
                St::QuoteInQuoted if b == b'"' => {
                    self.copy(b)?;
                    self.st = St::Quoted;
                }
                St::StartField | St::InField | St::QuoteInQuoted => {
                    self.copy(b)?;
                    self.st = St::InField;
                }
                St::Quoted if b == b'"' => self.st = St::QuoteInQuoted,
                St::Quoted => self.copy(b)?,
            }
            if b == b'\n' {
                self.newlines += 1;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, total: u64) -> Result<Vec<NewItem>, String> {
        match self.st {
            St::StartRecord => {}
            St::Quoted => {
                return Err(format!(
                    "{}: a quoted field is not closed (the file ends inside it)",
                    self.place()
                ));
            }
            _ => self.end_record(total)?,
        }
        if self.header.is_none() {
            return Err("no header row: the file is empty".into());
        }
        if self.items.is_empty() {
            return Err("no records: the file has a header but no rows".into());
        }
        Ok(self.items)
    }
}
