//! Finding dataset items in a file's plaintext as it streams past.
//!
//! A [`Scanner`] is fed the file's bytes in order ([`Scanner::push`]) and
//! then told the total length ([`Scanner::finish`]); it answers with the
//! items or the reason the file cannot be read. Scanners never hold the
//! whole file: line formats keep one line (at most [`MAX_LINE`]), header
//! formats keep the first [`PREFIX`] bytes and the last [`TAIL`] bytes.
//!
//! Reasons are shown to the client and stored with the file; they name the
//! problem and its position (byte offset, line) but never quote content.
//!
//! Text projects ([`text`], [`csv`], [`bioc`], [`labelstudio`]): `.txt`/`.md`
//! (one note per file), `.jsonl` (one per line), `.csv` (one per row, the
//! text in the project's chosen column), `.xml`/`.bioc` BioC collections (one
//! per `<document>`) and `.json` Label Studio exports (one per task, its
//! results checked against the schema). Every text format goes through the same front: a leading
//! UTF-8 BOM is dropped (items start after it) and the bytes are checked as
//! UTF-8 as they arrive — a file in another encoding is refused with the byte
//! offset of its first bad byte. Text is kept as stored (CRLF stays CRLF) and
//! each note is at most 1 MiB ([`text::MAX_NOTE_BYTES`]). What the items'
//! ranges are read back as is in [`crate::note`].

pub mod bioc;
pub mod csv;
pub mod labelstudio;
pub mod text;
#[cfg(test)]
mod text_tests;

use clinlabel_domain::project::Modality;
use clinlabel_store::files::{NewItem, Purpose};
use serde_json::{Value, json};
use text::{Records, Utf8Front};

/// Longest line of a line-oriented file (JSONL, VCF).
pub const MAX_LINE: usize = 16 << 20;
/// Bytes kept from the start of header-identified files (images, audio, DICOM).
pub const PREFIX: usize = 1 << 20;
/// Bytes kept from the end (to check end markers).
pub const TAIL: usize = 1024;

/// Streaming item finder for one file.
pub trait Scanner: Send {
    /// The next bytes of the file. `Err(reason)` rejects the file; no more
    /// bytes are pushed after an error.
    fn push(&mut self, data: &[u8]) -> Result<(), String>;
    /// The whole file was pushed (`total` bytes).
    fn finish(self: Box<Self>, total: u64) -> Result<Vec<NewItem>, String>;
}

/// A scanner with its first error latched, so callers can push blindly.
pub struct Scan {
    inner: Option<Box<dyn Scanner>>,
    failed: Option<String>,
    seen: u64,
}

impl Scan {
    pub fn new(inner: Box<dyn Scanner>) -> Scan {
        Scan {
            inner: Some(inner),
            failed: None,
            seen: 0,
        }
    }
    /// A file refused before reading (e.g. its type is not accepted).
    pub fn refused(reason: String) -> Scan {
        Scan {
            inner: None,
            failed: Some(reason),
            seen: 0,
        }
    }
    pub fn push(&mut self, data: &[u8]) {
        self.seen += data.len() as u64;
        if self.failed.is_some() {
            return;
        }
        if let Some(s) = self.inner.as_mut()
            && let Err(e) = s.push(data)
        {
            self.failed = Some(e);
            self.inner = None;
        }
    }
    pub fn finish(self) -> Result<Vec<NewItem>, String> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.inner {
            Some(s) => s.finish(self.seen),
            None => Ok(Vec::new()),
        }
    }
}

fn ext_of(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// The media type and scanner for a file, chosen by the project's modality
/// and the name's extension; a file of another type gets a scanner that
/// refuses it, naming what is accepted instead. `text` says how text
/// projects read their notes.
pub fn choose(
    modality: Modality,
    purpose: Purpose,
    name: &str,
    max_items: usize,
    text: &TextSettings<'_>,
) -> (String, Scan) {
    let text_column = text.text_column;
    let ext = ext_of(name);
    let mut media = media_type(&ext).to_string();
    // DICOM files often carry no extension (PACS exports, DICOMDIR folders).
    if modality == Modality::Image && purpose == Purpose::Data && ext.is_empty() {
        media = DICOM_MEDIA_TYPE.to_string();
    }
    if purpose == Purpose::Guideline {
        return (media, Scan::new(Box::new(NoItems)));
    }
    let scanner: Option<Box<dyn Scanner>> = match (modality, ext.as_str()) {
        (Modality::Text, "txt" | "md") => Some(utf8(text::WholeText::default())),
        (Modality::Text, "jsonl") => Some(utf8(Lines::new(LineKind::TextJsonl, max_items))),
        (Modality::Text, "csv") => Some(utf8(csv::CsvRows::new(text_column, max_items))),
        (Modality::Text, "xml" | "bioc") => Some(utf8(bioc::BiocDocs::new(max_items))),
        (Modality::Text, "json") => {
            media = LABEL_STUDIO_MEDIA_TYPE.to_string();
            Some(utf8(labelstudio::LabelStudioTasks::new(max_items, text.text_key, text.schema)))
        }
        (Modality::Preference, "jsonl") => Some(utf8(Lines::new(LineKind::Preference, max_items))),
        (Modality::Genomic, "vcf") => Some(Box::new(Lines::new(LineKind::Vcf, max_items))),
        (Modality::Image, "png") => Some(Box::new(Header::new(HeaderKind::Png))),
        (Modality::Image, "jpg" | "jpeg") => Some(Box::new(Header::new(HeaderKind::Jpeg))),
        (Modality::Image, "dcm" | "dicom" | "") => Some(Box::new(Header::new(HeaderKind::Dicom))),
        (Modality::Audio, "wav") => Some(Box::new(Header::new(HeaderKind::Wav))),
        (Modality::Audio, "flac") => Some(Box::new(Header::new(HeaderKind::Flac))),
        (Modality::Audio, "mp3") => Some(Box::new(Header::new(HeaderKind::Mp3))),
        (Modality::Audio, "ogg") => Some(Box::new(Header::new(HeaderKind::Ogg))),
        _ => None,
    };
    match scanner {
        Some(s) => (media, Scan::new(s)),
        None => {
            let accepted = match modality {
                Modality::Text => ".txt, .md, .jsonl, .csv, .xml or .bioc (BioC), .json (a Label Studio export)",
                Modality::Image => ".png, .jpg, .jpeg, .dcm (or DICOM files without an extension)",
                Modality::Audio => ".wav, .flac, .mp3, .ogg",
                Modality::Preference => ".jsonl",
                Modality::Genomic => ".vcf",
            };
            let shown = if ext.is_empty() {
                "no extension".to_string()
            } else {
                format!(".{ext}")
            };
            (
                media,
                Scan::refused(format!(
                    "unsupported file type ({shown}) for a {} project: expected {accepted}",
                    modality.as_str()
                )),
            )
        }
    }
}

/// How a text project reads its notes (from its specification).
#[derive(Debug, Clone, Copy)]
pub struct TextSettings<'a> {
    /// The CSV column holding each note's text.
    pub text_column: &'a str,
    /// The data field of a Label Studio task holding the text, when the
    /// specification names one (else `text`, or the task's first string).
    pub text_key: Option<&'a str>,
    /// Label Studio results are checked against it.
    pub schema: &'a clinlabel_domain::project::LabelSchema,
}

impl TextSettings<'static> {
    /// The defaults: column `text`, no schema (a Label Studio result with any label is refused).
    pub fn plain() -> TextSettings<'static> {
        static EMPTY: std::sync::LazyLock<clinlabel_domain::project::LabelSchema> = std::sync::LazyLock::new(Default::default);
        TextSettings { text_column: "text", text_key: None, schema: &EMPTY }
    }
}

/// The media type of a Label Studio JSON export uploaded to a text project.
pub const LABEL_STUDIO_MEDIA_TYPE: &str = "application/x-label-studio+json";

/// The media type of DICOM files; such files are de-identified and grouped
/// into series after they are stored (`crate::dicom`).
pub const DICOM_MEDIA_TYPE: &str = "application/dicom";
/// CSV files of text projects: one note per row.
pub const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8";
/// BioC XML collections of text projects: one note per `<document>`.
pub const BIOC_MEDIA_TYPE: &str = "application/xml";

fn utf8(r: impl Records + 'static) -> Box<dyn Scanner> {
    Box::new(Utf8Front::new(Box::new(r)))
}

/// The media type stored with a file (by extension).
pub fn media_type(ext: &str) -> &'static str {
    match ext {
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "jsonl" => "application/jsonl",
        "csv" => CSV_MEDIA_TYPE,
        "xml" | "bioc" => BIOC_MEDIA_TYPE,
        "vcf" => "text/vcf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "dcm" | "dicom" => DICOM_MEDIA_TYPE,
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// True for names that look like archives (unpacked at the top level only).
pub fn is_archive_name(name: &str) -> bool {
    matches!(
        ext_of(name).as_str(),
        "zip" | "tar" | "gz" | "tgz" | "bz2" | "xz" | "7z" | "rar" | "zst"
    )
}

/// Guideline attachments: stored, no items.
struct NoItems;
impl Scanner for NoItems {
    fn push(&mut self, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn finish(self: Box<Self>, _: u64) -> Result<Vec<NewItem>, String> {
        Ok(Vec::new())
    }
}

// -- line formats -----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// `{"text": "..."}` per line: one note each.
    TextJsonl,
    /// `{"prompt": "...", "responses": [≥ 2]}` per line: one response set each.
    Preference,
    /// VCF: `##` meta lines, the `#CHROM` header, then one variant per line.
    Vcf,
}

struct Lines {
    kind: LineKind,
    line: Vec<u8>,
    line_start: u64,
    line_no: u64,
    offset: u64,
    items: Vec<NewItem>,
    max_items: usize,
    // VCF state.
    saw_fileformat: bool,
    saw_header: bool,
}

impl Lines {
    fn new(kind: LineKind, max_items: usize) -> Lines {
        Lines {
            kind,
            line: Vec::new(),
            line_start: 0,
            line_no: 0,
            offset: 0,
            items: Vec::new(),
            max_items,
            saw_fileformat: false,
            saw_header: false,
        }
    }

    fn end_line(&mut self) -> Result<(), String> {
        self.line_no += 1;
        let buf = std::mem::take(&mut self.line);
        let mut body: &[u8] = &buf;
        if body.last() == Some(&b'\r') {
            body = &body[..body.len() - 1];
        }
        let (start, end) = (self.line_start, self.line_start + body.len() as u64);
        let line = self.line_no;
        let item = match self.kind {
            LineKind::TextJsonl | LineKind::Preference => json_line(self.kind, body, line),
            LineKind::Vcf => self.vcf_line(body, line),
        };
        // Keep the allocation for the next line.
        self.line = buf;
        let item = item?;
        if let Some((kind, meta)) = item {
            if self.items.len() >= self.max_items {
                return Err(format!(
                    "more than {} items in one file: split it",
                    self.max_items
                ));
            }
            self.items.push(NewItem {
                kind,
                byte_start: start as i64,
                byte_end: end as i64,
                meta,
            });
        }
        self.line.clear();
        Ok(())
    }

    fn vcf_line(
        &mut self,
        body: &[u8],
        line: u64,
    ) -> Result<Option<(&'static str, Value)>, String> {
        let text = std::str::from_utf8(body).map_err(|e| {
            format!(
                "line {line}: not valid UTF-8 at column {}",
                e.valid_up_to() + 1
            )
        })?;
        if !self.saw_fileformat {
            if text.trim().is_empty() {
                return Ok(None);
            }
            if !text.starts_with("##fileformat=VCF") {
                return Err(format!(
                    "line {line}: a VCF file must start with a ##fileformat=VCFv4.x line"
                ));
            }
            self.saw_fileformat = true;
            return Ok(None);
        }
        if text.starts_with("##") {
            if self.saw_header {
                return Err(format!(
                    "line {line}: a ## meta line after the #CHROM header"
                ));
            }
            return Ok(None);
        }
        if text.starts_with('#') {
            let cols: Vec<&str> = text.split('\t').collect();
            let want = [
                "#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
            ];
            if cols.len() < 8 || cols[..8] != want {
                return Err(format!(
                    "line {line}: the header line must be #CHROM POS ID REF ALT QUAL FILTER INFO, tab-separated"
                ));
            }
            self.saw_header = true;
            return Ok(None);
        }
        if text.is_empty() {
            return Ok(None);
        }
        if !self.saw_header {
            return Err(format!(
                "line {line}: a variant before the #CHROM header line"
            ));
        }
        let cols: Vec<&str> = text.split('\t').collect();
        if cols.len() < 8 {
            return Err(format!(
                "line {line}: {} tab-separated columns, a variant needs at least 8",
                cols.len()
            ));
        }
        if cols[0].is_empty() {
            return Err(format!("line {line}: empty CHROM"));
        }
        let pos: u64 = cols[1]
            .parse()
            .map_err(|_| format!("line {line}: POS is not a whole number"))?;
        let valid_allele = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !valid_allele(cols[3]) || !cols[3].bytes().all(|b| b"ACGTNacgtn".contains(&b)) {
            return Err(format!("line {line}: REF must be bases (A, C, G, T, N)"));
        }
        if !valid_allele(cols[4]) {
            return Err(format!("line {line}: empty or malformed ALT"));
        }
        Ok(Some((
            "variant",
            json!({ "line": line, "pos": pos, "alts": cols[4].split(',').count() }),
        )))
    }
}

fn json_line(
    kind: LineKind,
    body: &[u8],
    line: u64,
) -> Result<Option<(&'static str, Value)>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("line {line}: not valid JSON (column {})", e.column()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("line {line}: each line must be a JSON object"))?;
    match kind {
        LineKind::TextJsonl => {
            let text = obj
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("line {line}: needs a string field \"text\""))?;
            if text.is_empty() {
                return Err(format!("line {line}: \"text\" is empty"));
            }
            if text.len() > text::MAX_NOTE_BYTES {
                return Err(format!("line {line}: {}", text::too_large(text.len())));
            }
            if obj
                .get("id")
                .is_some_and(|id| !(id.is_string() || id.is_number()))
            {
                return Err(format!("line {line}: \"id\" must be a string or a number"));
            }
            if obj.get("metadata").is_some_and(|m| !m.is_object()) {
                return Err(format!("line {line}: \"metadata\" must be an object"));
            }
            Ok(Some((
                "note",
                json!({ "line": line, "chars": text.chars().count() }),
            )))
        }
        LineKind::Preference => {
            obj.get("prompt")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("line {line}: needs a non-empty string field \"prompt\""))?;
            let responses = obj
                .get("responses")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("line {line}: needs an array field \"responses\""))?;
            if responses.len() < 2 {
                return Err(format!(
                    "line {line}: \"responses\" needs at least two responses, has {}",
                    responses.len()
                ));
            }
            for (i, r) in responses.iter().enumerate() {
                let ok = r.as_str().is_some_and(|s| !s.is_empty())
                    || r.get("text")
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty());
                if !ok {
                    return Err(format!(
                        "line {line}: response {} must be a non-empty string or an object with a string \"text\"",
                        i + 1
                    ));
                }
            }
            Ok(Some((
                "response_set",
                json!({ "line": line, "responses": responses.len() }),
            )))
        }
        LineKind::Vcf => unreachable!("VCF lines are not JSON"),
    }
}

/// VCF lines, unchecked as UTF-8 as a whole (each line is checked).
impl Scanner for Lines {
    fn push(&mut self, data: &[u8]) -> Result<(), String> {
        Records::push(self, data, self.offset)
    }
    fn finish(self: Box<Self>, total: u64) -> Result<Vec<NewItem>, String> {
        Records::finish(self, total)
    }
}

/// JSONL behind the UTF-8 front.
impl Records for Lines {
    fn push(&mut self, mut data: &[u8], at: u64) -> Result<(), String> {
        if self.offset < at {
            // A dropped BOM: the first line starts after it.
            self.offset = at;
            self.line_start = at;
        }
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.line.len() + i > MAX_LINE {
                        return Err(format!(
                            "line {} is longer than {} bytes",
                            self.line_no + 1,
                            MAX_LINE
                        ));
                    }
                    self.line.extend_from_slice(&data[..i]);
                    self.end_line()?;
                    self.offset += i as u64 + 1;
                    self.line_start = self.offset;
                    data = &data[i + 1..];
                }
                None => {
                    if self.line.len() + data.len() > MAX_LINE {
                        return Err(format!(
                            "line {} is longer than {} bytes",
                            self.line_no + 1,
                            MAX_LINE
                        ));
                    }
                    self.line.extend_from_slice(data);
                    self.offset += data.len() as u64;
                    data = &[];
                }
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, _total: u64) -> Result<Vec<NewItem>, String> {
        if !self.line.is_empty() {
            self.end_line()?;
        }
        if self.kind == LineKind::Vcf && !self.saw_header {
            return Err("not a VCF file: no #CHROM header line".into());
        }
        if self.items.is_empty() {
            return Err(match self.kind {
                LineKind::Vcf => "no variant lines".into(),
                _ => "no records: the file has no non-empty lines".into(),
            });
        }
        Ok(self.items)
    }
}

// -- header formats ---------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderKind {
    Png,
    Jpeg,
    Dicom,
    Wav,
    Flac,
    Mp3,
    Ogg,
}

struct Header {
    kind: HeaderKind,
    prefix: Vec<u8>,
    tail: Vec<u8>,
}

impl Header {
    fn new(kind: HeaderKind) -> Header {
        Header {
            kind,
            prefix: Vec::new(),
            tail: Vec::new(),
        }
    }
}

impl Scanner for Header {
    fn push(&mut self, data: &[u8]) -> Result<(), String> {
        if self.prefix.len() < PREFIX {
            let n = (PREFIX - self.prefix.len()).min(data.len());
            self.prefix.extend_from_slice(&data[..n]);
        }
        if data.len() >= TAIL {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - TAIL..]);
        } else {
            self.tail.extend_from_slice(data);
            if self.tail.len() > TAIL {
                self.tail.drain(..self.tail.len() - TAIL);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, total: u64) -> Result<Vec<NewItem>, String> {
        let p = &self.prefix;
        let (kind, meta) = match self.kind {
            HeaderKind::Png => ("image", png(p, &self.tail)?),
            HeaderKind::Jpeg => ("image", jpeg(p, &self.tail)?),
            // DICOM: checked for its marker here; parsed, de-identified and
            // placed in its series' item after it is stored (`crate::dicom`).
            HeaderKind::Dicom => {
                if p.len() < 132 || &p[128..132] != b"DICM" {
                    return Err(
                        "not_dicom: not a DICOM Part 10 file: no DICM marker after the 128-byte preamble"
                            .into(),
                    );
                }
                return Ok(Vec::new());
            }
            HeaderKind::Wav => ("audio", wav(p, total)?),
            HeaderKind::Flac => ("audio", flac(p)?),
            HeaderKind::Mp3 => {
                let id3 = p.starts_with(b"ID3");
                let sync = p.len() >= 2 && p[0] == 0xFF && (p[1] & 0xE0) == 0xE0;
                if !(id3 || sync) {
                    return Err("not an MP3 file: no ID3 tag or frame sync at the start".into());
                }
                ("audio", json!({ "format": "mp3" }))
            }
            HeaderKind::Ogg => {
                if !p.starts_with(b"OggS") {
                    return Err("not an Ogg file: no OggS page at the start".into());
                }
                ("audio", json!({ "format": "ogg" }))
            }
        };
        Ok(vec![NewItem {
            kind,
            byte_start: 0,
            byte_end: total as i64,
            meta,
        }])
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn png(p: &[u8], tail: &[u8]) -> Result<Value, String> {
    if p.len() < 8 || &p[..8] != b"\x89PNG\r\n\x1a\n" {
        return Err("not a PNG file: wrong signature".into());
    }
    if p.len() < 33 || &p[12..16] != b"IHDR" {
        return Err("PNG: missing IHDR header".into());
    }
    let (w, h) = (be32(p, 16), be32(p, 20));
    if w == 0 || h == 0 {
        return Err("PNG: zero width or height".into());
    }
    if !tail.windows(4).any(|x| x == b"IEND") {
        return Err("PNG: truncated (no IEND chunk at the end)".into());
    }
    Ok(json!({ "format": "png", "width": w, "height": h }))
}

fn jpeg(p: &[u8], tail: &[u8]) -> Result<Value, String> {
    if p.len() < 4 || p[0] != 0xFF || p[1] != 0xD8 {
        return Err("not a JPEG file: no SOI marker".into());
    }
    let mut i = 2;
    loop {
        while i < p.len() && p[i] == 0xFF && i + 1 < p.len() && p[i + 1] == 0xFF {
            i += 1; // fill bytes
        }
        if i + 4 > p.len() {
            return Err(format!(
                "JPEG: no frame header (SOF) in the first {} bytes",
                PREFIX.min(p.len())
            ));
        }
        if p[i] != 0xFF {
            return Err(format!("JPEG: corrupt marker structure at byte offset {i}"));
        }
        let m = p[i + 1];
        if m == 0xD9 || m == 0xDA {
            return Err("JPEG: image data before any frame header (SOF)".into());
        }
        if (0xD0..=0xD7).contains(&m) || m == 0x01 {
            i += 2;
            continue;
        }
        let len = u16::from_be_bytes([p[i + 2], p[i + 3]]) as usize;
        if len < 2 {
            return Err(format!("JPEG: invalid segment length at byte offset {i}"));
        }
        let sof = matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC);
        if sof {
            if i + 9 > p.len() {
                return Err("JPEG: truncated frame header".into());
            }
            let h = u16::from_be_bytes([p[i + 5], p[i + 6]]);
            let w = u16::from_be_bytes([p[i + 7], p[i + 8]]);
            let comps = p.get(i + 9).copied().unwrap_or(0);
            if w == 0 || h == 0 {
                return Err("JPEG: zero width or height".into());
            }
            if !tail.windows(2).any(|x| x == [0xFF, 0xD9]) {
                return Err("JPEG: truncated (no EOI marker at the end)".into());
            }
            return Ok(json!({ "format": "jpeg", "width": w, "height": h, "components": comps }));
        }
        i += 2 + len;
    }
}

fn wav(p: &[u8], total: u64) -> Result<Value, String> {
    if p.len() < 12 || &p[..4] != b"RIFF" || &p[8..12] != b"WAVE" {
        return Err("not a WAV file: no RIFF/WAVE header".into());
    }
    let mut i = 12usize;
    let mut fmt: Option<(u16, u16, u32, u32, u16)> = None;
    loop {
        if i + 8 > p.len() {
            return Err(if (i as u64) + 8 > total {
                "truncated WAV: the file ends before the data chunk".into()
            } else {
                format!("WAV: no data chunk in the first {PREFIX} bytes")
            });
        }
        let id = &p[i..i + 4];
        let size = le32(p, i + 4) as u64;
        let body = i + 8;
        if id == b"fmt " {
            if size < 16 || body + 16 > p.len() {
                return Err("WAV: fmt chunk too short or truncated".into());
            }
            let tag = le16(p, body);
            let channels = le16(p, body + 2);
            let rate = le32(p, body + 4);
            let byte_rate = le32(p, body + 8);
            let bits = le16(p, body + 14);
            if channels == 0 || rate == 0 || byte_rate == 0 {
                return Err("WAV: fmt chunk has zero channels, sample rate or byte rate".into());
            }
            fmt = Some((tag, channels, rate, byte_rate, bits));
        } else if id == b"data" {
            let Some((tag, channels, rate, byte_rate, bits)) = fmt else {
                return Err("WAV: data chunk before the fmt chunk".into());
            };
            let available = total.saturating_sub(body as u64);
            if size > available {
                return Err(format!(
                    "truncated WAV: the data chunk declares {size} bytes, the file holds {available}"
                ));
            }
            let format = match tag {
                1 => "pcm",
                3 => "float",
                6 => "alaw",
                7 => "mulaw",
                0xFFFE => "extensible",
                _ => "other",
            };
            let duration_ms = size * 1000 / byte_rate as u64;
            return Ok(
                json!({ "format": format, "sample_rate": rate, "channels": channels, "bits_per_sample": bits, "duration_ms": duration_ms }),
            );
        }
        i = body + size as usize + (size as usize & 1);
    }
}

fn flac(p: &[u8]) -> Result<Value, String> {
    if p.len() < 4 || &p[..4] != b"fLaC" {
        return Err("not a FLAC file: no fLaC marker".into());
    }
    if p.len() < 8 + 18 || (p[4] & 0x7F) != 0 {
        return Err("FLAC: missing or truncated STREAMINFO block".into());
    }
    let s = &p[8..26];
    let rate = ((s[10] as u32) << 12) | ((s[11] as u32) << 4) | ((s[12] as u32) >> 4);
    let channels = ((s[12] >> 1) & 0x07) + 1;
    let bits = (((s[12] & 1) << 4) | (s[13] >> 4)) + 1;
    let samples = (((s[13] & 0x0F) as u64) << 32) | be32(s, 14) as u64;
    if rate == 0 {
        return Err("FLAC: sample rate 0 in STREAMINFO".into());
    }
    Ok(
        json!({ "format": "flac", "sample_rate": rate, "channels": channels, "bits_per_sample": bits, "duration_ms": samples * 1000 / rate as u64 }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        modality: Modality,
        name: &str,
        data: &[u8],
        piece: usize,
    ) -> Result<Vec<NewItem>, String> {
        let (_, mut s) = choose(modality, Purpose::Data, name, 1000, &TextSettings::plain());
        for c in data.chunks(piece.max(1)) {
            s.push(c);
        }
        s.finish()
    }

    #[test]
    fn utf8_errors_name_the_offset_whatever_the_split() {
        let mut data = "héllo wörld ".repeat(10).into_bytes();
        let bad = data.len();
        data.extend_from_slice(&[0xC3, 0x28]);
        for piece in [1, 2, 3, 7, 1000] {
            let e = run(Modality::Text, "a.txt", &data, piece).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "not valid UTF-8: invalid byte sequence at byte offset {bad} (convert the file to UTF-8)"
                ),
                "piece {piece}"
            );
        }
        let ok = "héllo → 世界".as_bytes();
        for piece in [1, 2, 5] {
            let items = run(Modality::Text, "a.md", ok, piece).unwrap();
            assert_eq!(items[0].meta["chars"], 10);
            assert_eq!(items[0].byte_end, ok.len() as i64);
        }
        assert!(
            run(Modality::Text, "a.txt", &[0xE4, 0xB8], 1)
                .unwrap_err()
                .contains("ends inside a character")
        );
    }

    #[test]
    fn jsonl_lines_become_items_with_their_ranges() {
        let data = b"{\"text\":\"one\"}\n\n{\"text\":\"two two\"}\r\n{\"text\":\"3\"}";
        let items = run(Modality::Text, "n.jsonl", data, 4).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            &data[items[1].byte_start as usize..items[1].byte_end as usize],
            b"{\"text\":\"two two\"}"
        );
        assert_eq!(items[1].meta["line"], 3);
        assert_eq!(items[2].meta["line"], 4);
        let e = run(
            Modality::Text,
            "n.jsonl",
            b"{\"text\":\"a\"}\n{\"txt\":1}\n",
            3,
        )
        .unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }

    #[test]
    fn preference_needs_two_responses() {
        let ok = br#"{"prompt":"p","responses":["a",{"text":"b"}]}"#;
        assert_eq!(
            run(Modality::Preference, "p.jsonl", ok, 5).unwrap()[0].meta["responses"],
            2
        );
        let e = run(
            Modality::Preference,
            "p.jsonl",
            br#"{"prompt":"p","responses":["a"]}"#,
            5,
        )
        .unwrap_err();
        assert!(e.contains("at least two"), "{e}");
    }

    #[test]
    fn vcf_needs_its_header_and_gives_one_item_per_variant() {
        let v = b"##fileformat=VCFv4.3\n##source=x\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t100\t.\tA\tG\t.\tPASS\t.\n2\t200\trs1\tCT\tC,T\t50\tPASS\tDP=3\n";
        let items = run(Modality::Genomic, "x.vcf", v, 7).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].meta["line"], 5);
        assert!(
            run(
                Modality::Genomic,
                "x.vcf",
                b"1\t100\t.\tA\tG\t.\tPASS\t.\n",
                7
            )
            .unwrap_err()
            .contains("##fileformat")
        );
        let bad = b"##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\tx\t.\tA\tG\t.\tPASS\t.\n";
        assert!(
            run(Modality::Genomic, "x.vcf", bad, 7)
                .unwrap_err()
                .contains("line 3: POS")
        );
    }

    pub(crate) fn wav_bytes(seconds: u32, truncate: usize) -> Vec<u8> {
        let rate = 8000u32;
        let data_len = rate * 2 * seconds;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data_len).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * 2).to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_len.to_le_bytes());
        v.resize(v.len() + data_len as usize - truncate, 0);
        v
    }

    #[test]
    fn wav_header_is_read_and_truncation_refused() {
        let items = run(Modality::Audio, "a.wav", &wav_bytes(2, 0), 1000).unwrap();
        assert_eq!(items[0].meta["duration_ms"], 2000);
        assert_eq!(items[0].meta["sample_rate"], 8000);
        let e = run(Modality::Audio, "a.wav", &wav_bytes(2, 100), 1000).unwrap_err();
        assert!(e.starts_with("truncated WAV"), "{e}");
    }

    #[test]
    fn png_and_jpeg_dimensions() {
        let mut png_data = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png_data.extend_from_slice(&640u32.to_be_bytes());
        png_data.extend_from_slice(&480u32.to_be_bytes());
        png_data.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        png_data.extend_from_slice(b"\0\0\0\0IEND\xaeB`\x82");
        let items = run(Modality::Image, "x.png", &png_data, 3).unwrap();
        assert_eq!(
            (
                items[0].meta["width"].as_u64(),
                items[0].meta["height"].as_u64()
            ),
            (Some(640), Some(480))
        );
        let jpg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0, 10, 0, 20, 3, 0, 0, 0,
            0xFF, 0xD9,
        ];
        let items = run(Modality::Image, "x.JPG", &jpg, 2).unwrap();
        assert_eq!(
            (
                items[0].meta["width"].as_u64(),
                items[0].meta["height"].as_u64()
            ),
            (Some(20), Some(10))
        );
        assert!(
            run(Modality::Image, "x.png", b"GIF89a", 3)
                .unwrap_err()
                .contains("signature")
        );
        assert!(
            run(Modality::Image, "x.gif", b"GIF89a", 3)
                .unwrap_err()
                .contains("unsupported file type (.gif)")
        );
    }
}
