//! Exports of annotated documents in the field's formats, and the imports
//! that bring them back.
//!
//! | [`Format`] | files | written by | read back by |
//! |---|---|---|---|
//! | `jsonl` | one native [`AnnotatedDocument`] per line | [`jsonl::Writer`] | [`crate::ingest::read_jsonl_annotated`] |
//! | `brat` | `<id>.txt` + `<id>.ann` per document, `annotation.conf` | [`brat::Writer`] | [`brat::parse_ann`] |
//! | `bioc` | one BioC XML collection | [`bioc::Writer`] | [`crate::ingest::read_bioc`] |
//! | `conll` | CoNLL-2003 columns, IOB2 tags | [`conll::Writer`] | – |
//! | `spacy` | spaCy v3 `DocBin` shards (`.spacy`) | [`spacy::Writer`] | – |
//! | `labelstudio` | a Label Studio JSON export (list of tasks) | [`labelstudio::Writer`] | [`labelstudio::import`] |
//!
//! Every writer streams: [`DocWriter::write`] takes one document and writes
//! it out (spaCy buffers one shard of at most [`spacy::SHARD_DOCS`]
//! documents), [`DocWriter::finish`] closes the output and returns counts.
//! Multi-file formats write through a [`FileSink`] the caller provides (a
//! directory, a zip archive, an object store). Offsets in every format are
//! char offsets of the stored text, except where a format defines its own
//! (none of these do: BRAT, BioC, spaCy and Label Studio all count
//! characters of the text, as Python does).
//!
//! By default a writer exports the annotations a person made or accepted:
//! rejected suggestions never, pending suggestions only with
//! [`Options::pending`].

pub mod bioc;
pub mod brat;
pub mod conll;
pub mod jsonl;
pub mod labelstudio;
pub mod spacy;
mod spacy_symbols;

use crate::model::AnnotatedDocument;
use serde::Serialize;
use std::io;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Brat,
    Bioc,
    Conll,
    Spacy,
    LabelStudio,
}

impl Format {
    pub const ALL: [Format; 6] = [Format::Jsonl, Format::Brat, Format::Bioc, Format::Conll, Format::Spacy, Format::LabelStudio];

    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "jsonl" | "native" => Format::Jsonl,
            "brat" => Format::Brat,
            "bioc" => Format::Bioc,
            "conll" | "conll2003" | "iob2" => Format::Conll,
            "spacy" => Format::Spacy,
            "labelstudio" | "label-studio" => Format::LabelStudio,
            _ => return None,
        })
    }

    pub fn id(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Brat => "brat",
            Format::Bioc => "bioc",
            Format::Conll => "conll",
            Format::Spacy => "spacy",
            Format::LabelStudio => "labelstudio",
        }
    }

    /// Whether the format is one file (written to a [`io::Write`]) or several (a [`FileSink`]).
    pub fn single_file(self) -> Option<&'static str> {
        match self {
            Format::Jsonl => Some("annotations.jsonl"),
            Format::Bioc => Some("annotations.bioc.xml"),
            Format::Conll => Some("annotations.conll"),
            Format::LabelStudio => Some("labelstudio.json"),
            Format::Brat | Format::Spacy => None,
        }
    }
}

/// Export options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also export suggestions nobody reviewed yet.
    pub pending: bool,
    /// BioC `<date>` (the crate reads no clock).
    pub date: String,
}

/// Where multi-file exports go.
pub trait FileSink {
    fn file(&mut self, path: &str, bytes: &[u8]) -> io::Result<()>;
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub documents: usize,
    pub spans: usize,
    pub relations: usize,
    /// Spans left out because the format cannot nest or overlap them (IOB2, spaCy entities).
    pub dropped_overlapping: usize,
    pub files: usize,
}

/// A streaming export.
pub trait DocWriter {
    fn write(&mut self, doc: &AnnotatedDocument) -> io::Result<()>;
    fn finish(self: Box<Self>) -> io::Result<Stats>;
}

/// A writer for a one-file format.
pub fn writer<'a, W: io::Write + 'a>(format: Format, out: W, opts: &Options) -> Option<Box<dyn DocWriter + 'a>> {
    Some(match format {
        Format::Jsonl => Box::new(jsonl::Writer::new(out, opts)),
        Format::Bioc => Box::new(bioc::Writer::new(out, opts)),
        Format::Conll => Box::new(conll::Writer::new(out, opts)),
        Format::LabelStudio => Box::new(labelstudio::Writer::new(out, opts)),
        Format::Brat | Format::Spacy => return None,
    })
}

/// A writer for a multi-file format.
pub fn sink_writer<'a, S: FileSink + 'a>(format: Format, sink: S, opts: &Options) -> Option<Box<dyn DocWriter + 'a>> {
    Some(match format {
        Format::Brat => Box::new(brat::Writer::new(sink, opts)),
        Format::Spacy => Box::new(spacy::Writer::new(sink, opts)),
        _ => return None,
    })
}

/// A file name from a document id: `[A-Za-z0-9._-]`, others as `_`, never empty or hidden.
pub fn safe_name(id: &str) -> String {
    let mut s: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s.truncate(120);
    s
}

pub(crate) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}
