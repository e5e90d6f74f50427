//! Export formats as pluggable writers.
//!
//! The builder streams the project's accepted annotations item by item (in
//! pages from the database) through every writer the project asked for. A
//! writer answers each call into an [`Output`]: bytes appended to its one
//! *streamed* file ([`ExportWriter::path`], e.g. a JSONL or a COCO
//! document), and any number of *whole* files completed during the call
//! ([`Output::file`]: a BRAT `.txt` + `.ann` per document, a DICOM SEG or a
//! NIfTI volume per series, a spaCy shard). The builder drains the output
//! after every call — streamed bytes into the writer's encrypted blob, each
//! whole file into its own blob with its own manifest entry — so memory is
//! one page of items plus one item's files, whatever the project's size.
//!
//! A writer declares what it needs beyond the annotations ([`Needs`]): the
//! note's text, the DICOM series' instance geometry, the study attributes
//! of one instance. The builder reads those page by page only when some
//! requested writer needs them.
//!
//! | format | writer | files |
//! |---|---|---|
//! | `native_jsonl` (always) | [`NativeJsonl`] | `exports/annotations.jsonl` |
//! | `brat` | [`text::TextExport`] | `exports/brat/<doc>.txt`, `<doc>.ann`, `annotation.conf` |
//! | `bioc` | [`text::TextExport`] | `exports/annotations.bioc.xml` |
//! | `conll` | [`text::TextExport`] | `exports/annotations.conll` |
//! | `spacy` | [`text::TextExport`] | `exports/spacy/docs-NNNNN.spacy` |
//! | `label_studio` | [`text::TextExport`] | `exports/labelstudio.json`, `exports/labelstudio.config.xml` |
//! | `coco` | [`image::Coco`] | `exports/coco.json` |
//! | `dicom_seg` | [`image::DicomSeg`] | `exports/dicom_seg/<doc>.dcm`, `exports/dicom_seg/not_exported.jsonl` |
//! | `nifti` | [`image::Nifti`] | `exports/nifti/<doc>.nii.gz` + `<doc>.json`, `exports/nifti/not_exported.jsonl` |
//! | `native_json` | [`image::NativeImage`] | `exports/native_json/<item>.json` |
//!
//! **Several accepted annotations per item** (overlap > 1): every accepted
//! annotation is exported, none is chosen over another (clinlabel does not
//! adjudicate; the report gives the agreement between them). In the
//! per-document formats each accepted annotation is its own document —
//! `<doc>` is the item id when the item has one accepted annotation and
//! `<item id>.<annotator pseudonym>` when it has several — with the item
//! id, annotation id and pseudonymous annotator in the format's metadata
//! where it has a place (BioC infons, Label Studio `data.meta`, the SEG's
//! Content Creator's Name, the NIfTI sidecar). COCO adds each annotation as
//! its own set of images (one per frame) and lists which image ids belong to
//! which annotation and annotator in a top-level `clinlabel_annotations`.
//! The native JSONL and the imaging native JSON hold every annotation of an
//! item together.

pub mod image;
pub mod text;

use serde::Serialize;
use std::collections::BTreeMap;

/// One accepted annotation of an item, as delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotationRecord {
    pub annotation_id: String,
    /// The author's stable pseudonym in this project (never the account).
    pub annotator: String,
    /// 0 for the first submission, +1 per rework.
    pub round: i64,
    /// The annotation body as submitted (e.g. `{"answers": {...}}`).
    pub body: serde_json::Value,
    /// Epoch milliseconds of the accepted version.
    pub submitted_at: i64,
}

/// A dataset item with its accepted annotations.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRecord {
    pub item_id: String,
    pub seq: i64,
    pub kind: String,
    /// The uploaded file the item came from, and its byte range there.
    pub source_file: String,
    pub byte_start: i64,
    pub byte_end: i64,
    /// The item's metadata as ingested.
    pub meta: serde_json::Value,
    pub annotations: Vec<AnnotationRecord>,
    /// Notes: the stored text (filled only when a writer [`Needs::text`]).
    /// Never serialised: it is the client's data, not the annotation.
    #[serde(skip)]
    pub note: Option<Note>,
    /// DICOM series: the geometry of its instances (filled only when a
    /// writer [`Needs::series`]).
    #[serde(skip)]
    pub series: Option<SeriesRecord>,
}

/// A note as stored: the whole text file, or the `text` of its JSONL line.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub text: String,
    /// The note's own id in the client's file (the JSONL line's `id`), if any.
    pub source_id: Option<String>,
}

impl Note {
    /// The note from its stored bytes, read the way the text workspace reads
    /// it (so offsets mean the same): the `text` (and `id`) of its JSONL line
    /// when `json_line`, else the bytes as UTF-8. `chars` is the count
    /// ingest recorded; a note that no longer has it is refused rather than
    /// exported with shifted offsets.
    pub fn from_stored(bytes: &[u8], json_line: bool, chars: Option<u64>) -> Result<Note, String> {
        let note = if json_line {
            let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("JSON line: {e}"))?;
            let text = v.get("text").and_then(|t| t.as_str()).ok_or("the JSON line has no text")?.to_string();
            let source_id = match v.get("id") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(n @ serde_json::Value::Number(_)) => Some(n.to_string()),
                _ => None,
            };
            Note { text, source_id }
        } else {
            let text = String::from_utf8(bytes.to_vec()).map_err(|e| format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()))?;
            Note { text, source_id: None }
        };
        if let Some(n) = chars
            && note.text.chars().count() as u64 != n
        {
            return Err(format!("{} chars where ingest counted {n}", note.text.chars().count()));
        }
        Ok(note)
    }
}

/// The instances of a DICOM series item, as stored at ingest (de-identified).
#[derive(Debug, Clone)]
pub struct SeriesRecord {
    /// `ImageMeta` of every instance, in any order (writers order them as
    /// the frame service does: `clinlabel_dicom::group::series_frames`).
    pub instances: Vec<clinlabel_dicom::ImageMeta>,
    /// Patient and study attributes read from one (de-identified) instance,
    /// when a writer [`Needs::study`] (a DICOM SEG copies them).
    pub study: Option<clinlabel_imaging::StudyContext>,
}

impl ItemRecord {
    /// Classification answers per annotation (question id → option ids).
    pub fn answers(&self) -> impl Iterator<Item = (&AnnotationRecord, BTreeMap<String, Vec<String>>)> {
        self.annotations.iter().map(|a| {
            let answers = a.body.get("answers").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
            (a, answers)
        })
    }

    /// The majority answer per question (sorted option sets compared whole);
    /// a tie has no consensus and is left out.
    pub fn consensus(&self) -> BTreeMap<String, Vec<String>> {
        let mut votes: BTreeMap<String, BTreeMap<Vec<String>, usize>> = BTreeMap::new();
        for (_, answers) in self.answers() {
            for (q, mut chosen) in answers {
                chosen.sort();
                *votes.entry(q).or_default().entry(chosen).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .filter_map(|(q, counts)| {
                let best = counts.values().copied().max()?;
                let mut winners = counts.into_iter().filter(|(_, n)| *n == best);
                let first = winners.next()?;
                winners.next().is_none().then_some((q, first.0))
            })
            .collect()
    }
}

/// What every writer may want to know about the delivery.
#[derive(Debug, Clone, Serialize)]
pub struct ExportContext {
    pub delivery_id: String,
    pub project_id: String,
    pub project_name: String,
    pub version: i64,
    pub spec_version: i64,
    /// Epoch milliseconds of the build (dates written into files).
    pub built_at: i64,
    /// The specification's label schema.
    pub schema: clinlabel_domain::project::LabelSchema,
}

/// Why a writer could not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}: {message}")]
pub struct ExportError {
    pub format: String,
    pub message: String,
}

impl ExportError {
    pub fn new(format: &str, message: impl Into<String>) -> Self {
        ExportError { format: format.into(), message: message.into() }
    }
}

/// What a writer needs filled in on each [`ItemRecord`] besides the
/// annotations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// [`ItemRecord::note`] of notes.
    pub text: bool,
    /// [`ItemRecord::series`] of DICOM series (instance geometry).
    pub series: bool,
    /// [`SeriesRecord::study`]: one instance of each series is read.
    pub study: bool,
}

impl Needs {
    pub fn union(self, o: Needs) -> Needs {
        Needs { text: self.text || o.text, series: self.series || o.series || o.study || self.study, study: self.study || o.study }
    }
}

/// A whole file a writer completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    /// Its path in the delivery (clean, relative, unique).
    pub path: String,
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

/// What one call of a writer produced; the builder drains it after every call.
#[derive(Debug, Default)]
pub struct Output {
    /// Appended to the writer's streamed file ([`ExportWriter::path`]).
    pub stream: Vec<u8>,
    /// Whole files, each stored as its own file of the delivery.
    pub files: Vec<OutFile>,
}

impl Output {
    pub fn file(&mut self, path: impl Into<String>, media_type: &'static str, bytes: Vec<u8>) {
        self.files.push(OutFile { path: path.into(), media_type, bytes });
    }

    pub fn is_empty(&self) -> bool {
        self.stream.is_empty() && self.files.is_empty()
    }

    pub fn clear(&mut self) {
        self.stream.clear();
        self.files.clear();
    }
}

impl std::io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One export format, fed items as they stream by.
pub trait ExportWriter: Send {
    /// The format's name as specifications request it, e.g. `native_jsonl`.
    fn format(&self) -> &'static str;
    /// The writer's streamed file in the delivery, e.g.
    /// `exports/annotations.jsonl`; `None` for writers that only complete
    /// whole files ([`Output::file`]).
    fn path(&self) -> Option<String>;
    /// Media type of the streamed file.
    fn media_type(&self) -> &'static str;
    /// What the builder must fill in on each item for this writer.
    fn needs(&self) -> Needs {
        Needs::default()
    }
    /// Called once before the first item.
    fn begin(&mut self, _ctx: &ExportContext, _out: &mut Output) -> Result<(), ExportError> {
        Ok(())
    }
    /// Called for each item with accepted annotations, in the project's item order.
    fn item(&mut self, item: &ItemRecord, out: &mut Output) -> Result<(), ExportError>;
    /// Called once after the last item.
    fn finish(&mut self, _out: &mut Output) -> Result<(), ExportError> {
        Ok(())
    }
}

/// The writer of a requested format, or `None` when clinlabel has none.
pub fn writer_for(format: &str) -> Option<Box<dyn ExportWriter>> {
    Some(match format {
        "native_jsonl" => Box::new(NativeJsonl::default()),
        "native_json" => Box::new(image::NativeImage::default()),
        "coco" => Box::new(image::Coco::default()),
        "dicom_seg" => Box::new(image::DicomSeg::default()),
        "nifti" => Box::new(image::Nifti::default()),
        f => return text::TextExport::for_format(f).map(|w| Box::new(w) as Box<dyn ExportWriter>),
    })
}

/// The formats to write for a specification's `output_formats`: the native
/// JSONL always, then each other requested format once. Errors name the
/// first requested format without a writer.
pub fn writers_for(requested: &[String]) -> Result<Vec<Box<dyn ExportWriter>>, String> {
    let mut out: Vec<Box<dyn ExportWriter>> = vec![Box::new(NativeJsonl::default())];
    for f in requested {
        let w = writer_for(f).ok_or_else(|| f.clone())?;
        if !out.iter().any(|x| x.format() == w.format()) {
            out.push(w);
        }
    }
    Ok(out)
}

/// The per-document name of `annotation` of `item` (see the module docs):
/// the item id, suffixed with the annotator's pseudonym when the item has
/// several accepted annotations.
pub fn doc_name(item: &ItemRecord, annotation: &AnnotationRecord) -> String {
    if item.annotations.len() > 1 { format!("{}.{}", item.item_id, annotation.annotator) } else { item.item_id.clone() }
}

/// clinlabel's native export: one JSON object per line and item —
/// `{"item_id","seq","kind","source":{"file","byte_start","byte_end"},"meta",
/// "consensus","annotations":[{"annotation_id","annotator","round","body",
/// "submitted_at"}]}` — readable with any JSON Lines reader.
#[derive(Debug, Default)]
pub struct NativeJsonl {
    pub lines: u64,
}

#[derive(Serialize)]
struct NativeLine<'a> {
    item_id: &'a str,
    seq: i64,
    kind: &'a str,
    source: Source<'a>,
    meta: &'a serde_json::Value,
    consensus: BTreeMap<String, Vec<String>>,
    annotations: &'a [AnnotationRecord],
}

#[derive(Serialize)]
struct Source<'a> {
    file: &'a str,
    byte_start: i64,
    byte_end: i64,
}

impl ExportWriter for NativeJsonl {
    fn format(&self) -> &'static str {
        "native_jsonl"
    }
    fn path(&self) -> Option<String> {
        Some("exports/annotations.jsonl".into())
    }
    fn media_type(&self) -> &'static str {
        "application/jsonl"
    }
    fn item(&mut self, item: &ItemRecord, out: &mut Output) -> Result<(), ExportError> {
        let out = &mut out.stream;
        let line = NativeLine {
            item_id: &item.item_id,
            seq: item.seq,
            kind: &item.kind,
            source: Source { file: &item.source_file, byte_start: item.byte_start, byte_end: item.byte_end },
            meta: &item.meta,
            consensus: item.consensus(),
            annotations: &item.annotations,
        };
        serde_json::to_writer(&mut *out, &line).map_err(|e| ExportError { format: "native_jsonl".into(), message: e.to_string() })?;
        out.push(b'\n');
        self.lines += 1;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn item(id: &str, answers: &[(&str, &str)]) -> ItemRecord {
        ItemRecord {
            item_id: id.into(),
            seq: 0,
            kind: "note".into(),
            source_file: "notes.jsonl".into(),
            byte_start: 0,
            byte_end: 10,
            meta: json!({ "id": id }),
            annotations: answers
                .iter()
                .enumerate()
                .map(|(i, (who, a))| AnnotationRecord { annotation_id: format!("{id}-{i}"), annotator: who.to_string(), round: 0, body: json!({ "answers": { "specialty": [a] } }), submitted_at: 1 })
                .collect(),
            note: None,
            series: None,
        }
    }

    #[test]
    fn native_lines_parse_back_with_consensus() {
        let mut w = NativeJsonl::default();
        let mut out = Output::default();
        w.item(&item("i1", &[("A", "cardiology"), ("B", "cardiology")]), &mut out).unwrap();
        w.item(&item("i2", &[("A", "cardiology"), ("B", "oncology")]), &mut out).unwrap();
        assert!(out.files.is_empty());
        let lines: Vec<serde_json::Value> = out.stream.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["consensus"], json!({ "specialty": ["cardiology"] }));
        assert_eq!(lines[1]["consensus"], json!({}), "a tie has no consensus");
        assert_eq!(lines[1]["annotations"][1]["body"]["answers"]["specialty"][0], "oncology");
        assert_eq!(lines[0]["source"]["file"], "notes.jsonl");
    }

    #[test]
    fn notes_are_read_as_the_text_workspace_reads_them() {
        let line = br#"{"id": 7, "text": "Pain \u00e9\r\nnone"}"#;
        let n = Note::from_stored(line, true, Some(12)).unwrap();
        assert_eq!((n.text.as_str(), n.source_id.as_deref()), ("Pain \u{e9}\r\nnone", Some("7")));
        assert!(Note::from_stored(line, true, Some(11)).unwrap_err().contains("ingest counted 11"));
        assert_eq!(Note::from_stored("é".as_bytes(), false, Some(1)).unwrap().text, "é");
        assert!(Note::from_stored(&[0x66, 0xff], false, None).unwrap_err().contains("byte 1"));
        assert!(Note::from_stored(b"{}", true, None).is_err());
    }

    #[test]
    fn requested_formats_without_a_writer_are_named() {
        assert_eq!(writers_for(&["native_jsonl".into()]).unwrap().len(), 1);
        assert_eq!(writers_for(&["native_jsonl".into(), "webvtt".into()]).err(), Some("webvtt".into()));
    }

    #[test]
    fn every_text_and_image_format_has_a_writer_at_its_own_paths() {
        use clinlabel_domain::project::Modality;
        for m in [Modality::Text, Modality::Image] {
            let formats: Vec<String> = m.output_formats().iter().map(|f| f.to_string()).collect();
            let ws = writers_for(&formats).unwrap_or_else(|f| panic!("no writer for {f}"));
            let names: Vec<&str> = ws.iter().map(|w| w.format()).collect();
            let mut want: Vec<&str> = vec!["native_jsonl"];
            want.extend(m.output_formats().iter().filter(|f| **f != "native_jsonl"));
            assert_eq!(names, want);
            let paths: Vec<String> = ws.iter().filter_map(|w| w.path()).collect();
            let unique: std::collections::BTreeSet<&String> = paths.iter().collect();
            assert_eq!(unique.len(), paths.len(), "{paths:?}");
            assert!(paths.iter().all(|p| crate::manifest::clean_path(p)), "{paths:?}");
        }
    }
}
