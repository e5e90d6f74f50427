//! Clinical text formats through `clinlabel-text`'s streaming exporters:
//! BRAT standoff, BioC XML, CoNLL-2003 / IOB2, spaCy v3 DocBin shards and
//! Label Studio JSON (with its labeling configuration).
//!
//! Each accepted annotation of a note becomes one
//! [`AnnotatedDocument`](clinlabel_text::model::AnnotatedDocument): the
//! note's text (read by the builder, [`Needs::text`]), the annotation's live
//! spans, relations and sentence classifications, and its document answers
//! as document-level classifications
//! ([`TextAnnotation::to_document`]). Its id is [`doc_name`] (the item id,
//! or `<item id>.<annotator>` when the item has several accepted
//! annotations); its metadata carries `item_id`, `annotation_id`,
//! `annotator`, `source_file` and, for JSONL notes, the note's own
//! `source_id` (BioC infons, Label Studio `data.meta`; BRAT, CoNLL and spaCy
//! have no place for it). Rejected suggestions are never exported; a
//! submitted annotation has no pending ones.
//!
//! The exporters write into a shared buffer (their `Write` or `FileSink`)
//! that is moved into the call's [`Output`] after every document, so a
//! writer holds one document (spaCy: one shard of at most
//! `clinlabel_text::export::spacy::SHARD_DOCS` documents) at a time.

use super::{AnnotationRecord, ExportContext, ExportError, ExportWriter, ItemRecord, Needs, Output, doc_name};
use clinlabel_text::annotation::{TextAnnotation, document_questions};
use clinlabel_text::export::{DocWriter, FileSink, Format, Options, bioc, brat, conll, labelstudio, spacy};
use clinlabel_text::model::AnnotatedDocument;
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

/// Where an exporter writes: its stream and its whole files, drained after each call.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Drain>>);

#[derive(Default)]
struct Drain {
    stream: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Drain> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().stream.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileSink for Shared {
    fn file(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.lock().files.push((path.to_string(), bytes.to_vec()));
        Ok(())
    }
}

/// One text format of the delivery.
pub struct TextExport {
    name: &'static str,
    format: Format,
    shared: Shared,
    writer: Option<Box<dyn DocWriter + Send>>,
    schema: clinlabel_domain::project::LabelSchema,
    documents: u64,
}

impl TextExport {
    /// The writer of a text format as specifications name it: `brat`,
    /// `bioc`, `conll`, `spacy`, `label_studio`.
    pub fn for_format(name: &str) -> Option<TextExport> {
        let (name, format) = match name {
            "brat" => ("brat", Format::Brat),
            "bioc" => ("bioc", Format::Bioc),
            "conll" => ("conll", Format::Conll),
            "spacy" => ("spacy", Format::Spacy),
            "label_studio" => ("label_studio", Format::LabelStudio),
            _ => return None,
        };
        Some(TextExport { name, format, shared: Shared::default(), writer: None, schema: Default::default(), documents: 0 })
    }

    /// How many documents were written.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// The folder of a multi-file format's files.
    fn folder(&self) -> &'static str {
        match self.format {
            Format::Brat => "exports/brat/",
            Format::Spacy => "exports/spacy/",
            _ => "exports/",
        }
    }

    fn err(&self, message: impl Into<String>) -> ExportError {
        ExportError::new(self.name, message)
    }

    /// Moves what the exporter wrote into `out`.
    fn drain(&self, out: &mut Output) {
        let mut d = self.shared.lock();
        out.stream.append(&mut d.stream);
        let media = match self.format {
            Format::Spacy => "application/octet-stream",
            _ => "text/plain; charset=utf-8",
        };
        for (path, bytes) in d.files.drain(..) {
            out.file(format!("{}{path}", self.folder()), media, bytes);
        }
    }
}

/// The annotated document of one accepted annotation of a note.
pub fn document(item: &ItemRecord, a: &AnnotationRecord, text: &str, source_id: Option<&str>) -> Result<AnnotatedDocument, String> {
    let part: TextAnnotation = match a.body.get("text") {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone()).map_err(|e| format!("item {} annotation {}: text: {e}", item.item_id, a.annotation_id))?,
        _ => TextAnnotation::default(),
    };
    let answers: BTreeMap<String, Vec<String>> = match a.body.get("answers") {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone()).map_err(|e| format!("item {} annotation {}: answers: {e}", item.item_id, a.annotation_id))?,
        _ => BTreeMap::new(),
    };
    let mut doc = part.to_document(doc_name(item, a), text, &answers);
    let m = &mut doc.metadata;
    m.insert("item_id".into(), item.item_id.clone().into());
    m.insert("annotation_id".into(), a.annotation_id.clone().into());
    m.insert("annotator".into(), a.annotator.clone().into());
    m.insert("source_file".into(), item.source_file.clone().into());
    if let Some(id) = source_id {
        m.insert("source_id".into(), id.into());
    }
    Ok(doc)
}

impl ExportWriter for TextExport {
    fn format(&self) -> &'static str {
        self.name
    }

    fn path(&self) -> Option<String> {
        self.format.single_file().map(|f| format!("exports/{f}"))
    }

    fn media_type(&self) -> &'static str {
        match self.format {
            Format::Bioc => "application/xml",
            Format::LabelStudio => "application/json",
            _ => "text/plain; charset=utf-8",
        }
    }

    fn needs(&self) -> Needs {
        Needs { text: true, ..Needs::default() }
    }

    fn begin(&mut self, ctx: &ExportContext, out: &mut Output) -> Result<(), ExportError> {
        let opts = Options { pending: false, date: crate::time::date(ctx.built_at) };
        let s = self.shared.clone();
        self.writer = Some(match self.format {
            Format::Brat => Box::new(brat::Writer::new(s, &opts)),
            Format::Bioc => Box::new(bioc::Writer::new(s, &opts)),
            Format::Conll => Box::new(conll::Writer::new(s, &opts)),
            Format::Spacy => Box::new(spacy::Writer::new(s, &opts)),
            Format::LabelStudio => Box::new(labelstudio::Writer::new(s, &opts)),
            Format::Jsonl => return Err(self.err("the native JSONL is written by the delivery itself")),
        });
        self.schema = ctx.schema.clone();
        self.drain(out);
        Ok(())
    }

    fn item(&mut self, item: &ItemRecord, out: &mut Output) -> Result<(), ExportError> {
        let Some(note) = &item.note else {
            return if item.kind == "note" { Err(self.err(format!("item {}: the note's text was not read", item.item_id))) } else { Ok(()) };
        };
        for a in &item.annotations {
            let doc = document(item, a, &note.text, note.source_id.as_deref()).map_err(|m| self.err(m))?;
            let w = self.writer.as_mut().ok_or_else(|| ExportError::new(self.name, "begin was not called"))?;
            w.write(&doc).map_err(|e| ExportError::new(self.name, format!("item {}: {e}", item.item_id)))?;
            self.documents += 1;
            self.drain(out);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> Result<(), ExportError> {
        let w = self.writer.take().ok_or_else(|| self.err("begin was not called"))?;
        w.finish().map_err(|e| self.err(e.to_string()))?;
        self.drain(out);
        if self.format == Format::LabelStudio {
            let s = &self.schema;
            let labels: Vec<String> = s.entity_types.iter().map(|e| e.id.clone()).collect();
            let relations: Vec<String> = s.relation_types.iter().map(|r| r.id.clone()).collect();
            let questions: Vec<(String, Vec<String>)> =
                document_questions(s).questions.iter().map(|q| (q.id.clone(), q.options.iter().map(|o| o.id.clone()).collect())).collect();
            let config = labelstudio::labeling_config(&labels, &relations, &s.assertion_values, &questions);
            out.file("exports/labelstudio.config.xml", "application/xml", config.into_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{AnnotationRecord, Note};
    use serde_json::json;

    /// "Chest pain, no fever.\r\nOn aspirin 😀." — an emoji and CRLF, offsets in chars.
    const TEXT: &str = "Chest pain, no fever.\r\nOn aspirin \u{1F600}.";

    fn ctx() -> ExportContext {
        ExportContext {
            delivery_id: "d1".into(),
            project_id: "p1".into(),
            project_name: "Notes".into(),
            version: 1,
            spec_version: 1,
            built_at: 1_795_811_661_000,
            schema: serde_json::from_value(json!({
                "entity_types": [{ "id": "symptom", "name": "Symptom" }, { "id": "drug", "name": "Drug" }],
                "relation_types": [{ "id": "treats", "name": "Treats", "from": ["drug"], "to": ["symptom"] }],
                "assertion_values": ["present", "absent"],
                "questions": [{ "id": "doctype", "text": "Type", "kind": "single", "level": "document",
                    "options": [{ "id": "progress", "name": "Progress" }, { "id": "discharge", "name": "Discharge" }] }]
            }))
            .unwrap(),
        }
    }

    fn annotation(who: &str, fever: bool) -> AnnotationRecord {
        let mut spans = vec![json!({ "id": "s1", "label": "symptom", "start": 6, "end": 10, "text": "pain", "assertion": "present" })];
        if fever {
            spans.push(json!({ "id": "s2", "label": "symptom", "start": 15, "end": 20, "text": "fever", "assertion": "absent" }));
        }
        spans.push(json!({ "id": "s3", "label": "drug", "start": 26, "end": 33, "text": "aspirin" }));
        // A rejected suggestion is not exported.
        spans.push(json!({ "id": "s4", "label": "drug", "start": 0, "end": 5, "text": "Chest", "source": "suggested", "state": "rejected" }));
        AnnotationRecord {
            annotation_id: format!("a-{who}"),
            annotator: who.into(),
            round: 0,
            body: json!({ "answers": { "doctype": ["progress"] }, "text": { "spans": spans, "relations": [{ "id": "r1", "type": "treats", "from": "s3", "to": "s1" }] } }),
            submitted_at: 1,
        }
    }

    fn note(id: &str, annotations: Vec<AnnotationRecord>) -> ItemRecord {
        ItemRecord {
            item_id: id.into(),
            seq: 0,
            kind: "note".into(),
            source_file: "notes.jsonl".into(),
            byte_start: 0,
            byte_end: 10,
            meta: json!({ "line": 1 }),
            annotations,
            note: Some(Note { text: TEXT.into(), source_id: Some(format!("client-{id}")) }),
            series: None,
        }
    }

    fn run(format: &str, items: &[ItemRecord]) -> (Vec<u8>, Vec<crate::export::OutFile>) {
        let mut w = TextExport::for_format(format).unwrap();
        assert!(w.needs().text);
        let mut out = Output::default();
        w.begin(&ctx(), &mut out).unwrap();
        for i in items {
            w.item(i, &mut out).unwrap();
        }
        w.finish(&mut out).unwrap();
        (out.stream, out.files)
    }

    #[test]
    fn brat_writes_a_text_and_an_annotation_file_per_accepted_annotation() {
        let items = [note("i1", vec![annotation("Annotator-a", true)]), note("i2", vec![annotation("Annotator-a", true), annotation("Annotator-b", false)])];
        let (stream, files) = run("brat", &items);
        assert!(stream.is_empty());
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "exports/brat/i1.txt",
                "exports/brat/i1.ann",
                "exports/brat/i2.Annotator-a.txt",
                "exports/brat/i2.Annotator-a.ann",
                "exports/brat/i2.Annotator-b.txt",
                "exports/brat/i2.Annotator-b.ann",
                "exports/brat/annotation.conf"
            ]
        );
        assert_eq!(files[0].bytes, TEXT.as_bytes(), "the .txt is the note byte for byte");
        // Our own reader: the spans at the same char offsets, the assertion, the relation.
        let ann = String::from_utf8(files[5].bytes.clone()).unwrap();
        let doc = clinlabel_text::export::brat::parse_ann("i2.Annotator-b", TEXT, &ann).unwrap();
        let spans: Vec<(&str, usize, usize, &str)> = doc.spans.iter().map(|s| (s.label.as_str(), s.start, s.end, s.text.as_str())).collect();
        assert_eq!(spans, [("symptom", 6, 10, "pain"), ("drug", 26, 33, "aspirin")]);
        assert_eq!(doc.relations.len(), 1);
        let ann = String::from_utf8(files[1].bytes.clone()).unwrap();
        assert!(ann.contains("Assertion T2 absent"), "{ann}");
        assert!(!ann.contains("Chest"), "a rejected suggestion is not exported:\n{ann}");
    }

    #[test]
    fn bioc_and_label_studio_carry_the_item_annotation_and_annotator() {
        let items = [note("i1", vec![annotation("Annotator-a", true), annotation("Annotator-b", false)])];
        let (stream, files) = run("bioc", &items);
        assert!(files.is_empty());
        let docs: Vec<AnnotatedDocument> = clinlabel_text::ingest::read_bioc("x", &stream[..]).collect::<Result<_, _>>().unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].id, "i1.Annotator-b");
        assert_eq!(docs[1].text, TEXT);
        assert_eq!(docs[1].metadata["annotator"], "Annotator-b");
        assert_eq!(docs[1].metadata["source_id"], "client-i1");
        assert_eq!(docs[0].spans.len(), 3);
        assert_eq!(docs[1].spans.len(), 2);

        let (stream, files) = run("label_studio", &items);
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["exports/labelstudio.config.xml"]);
        let config = String::from_utf8(files[0].bytes.clone()).unwrap();
        assert!(config.contains("<Label value=\"symptom\"/>") && config.contains("<Choices name=\"doctype\""), "{config}");
        let mut back = Vec::new();
        clinlabel_text::export::labelstudio::import("ls", &stream[..], None, |d| {
            back.push(d);
            Ok(())
        })
        .unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].metadata["item_id"], "i1");
        assert_eq!(back[0].spans.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(), [(6, 10), (15, 20), (26, 33)]);
        assert_eq!(back[0].classifications[0].answers, ["progress"]);
    }

    #[test]
    fn conll_and_spacy_stream_and_shard() {
        let items = [note("i1", vec![annotation("Annotator-a", true)])];
        let (stream, files) = run("conll", &items);
        assert!(files.is_empty());
        let conll = String::from_utf8(stream).unwrap();
        assert!(conll.starts_with("-DOCSTART-"));
        assert!(conll.contains("pain\t_\t_\tB-symptom") && conll.contains("aspirin\t_\t_\tB-drug"), "{conll}");
        let (stream, files) = run("spacy", &items);
        assert!(stream.is_empty());
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["exports/spacy/docs-00000.spacy"]);
    }

    #[test]
    fn a_note_whose_text_was_not_read_fails_naming_it() {
        let mut i = note("i9", vec![annotation("Annotator-a", true)]);
        i.note = None;
        let mut w = TextExport::for_format("brat").unwrap();
        let mut out = Output::default();
        w.begin(&ctx(), &mut out).unwrap();
        let e = w.item(&i, &mut out).unwrap_err();
        assert!(e.to_string().contains("item i9"), "{e}");
        // Items that are not notes are not text documents.
        i.kind = "image".into();
        w.item(&i, &mut out).unwrap();
    }
}
