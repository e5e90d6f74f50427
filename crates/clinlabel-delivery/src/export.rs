//! Export formats as pluggable writers.
//!
//! The builder streams the project's accepted annotations item by item (in
//! pages from the database) through every writer the project asked for; a
//! writer appends the bytes of its file to a buffer that the builder drains
//! into encrypted storage, so memory stays bounded by a page whatever the
//! project's size. A format is added by implementing [`ExportWriter`] and
//! naming it in [`writer_for`]; the native JSONL writer is always included.

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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub project_id: String,
    pub project_name: String,
    pub version: i64,
    pub spec_version: i64,
    /// The label schema (as the specification's JSON).
    pub schema: serde_json::Value,
}

/// Why a writer could not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}: {message}")]
pub struct ExportError {
    pub format: String,
    pub message: String,
}

/// One export format, writing one file as items stream by.
pub trait ExportWriter: Send {
    /// The format's name as specifications request it, e.g. `native_jsonl`.
    fn format(&self) -> &'static str;
    /// The file's path in the delivery, e.g. `exports/annotations.jsonl`.
    fn path(&self) -> String;
    fn media_type(&self) -> &'static str;
    /// Called once before the first item.
    fn begin(&mut self, _ctx: &ExportContext, _out: &mut Vec<u8>) -> Result<(), ExportError> {
        Ok(())
    }
    /// Called for each item, in the project's item order.
    fn item(&mut self, item: &ItemRecord, out: &mut Vec<u8>) -> Result<(), ExportError>;
    /// Called once after the last item.
    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), ExportError> {
        Ok(())
    }
}

/// The writer of a requested format, or `None` when clinlabel has none yet.
pub fn writer_for(format: &str) -> Option<Box<dyn ExportWriter>> {
    match format {
        "native_jsonl" | "native_json" => Some(Box::new(NativeJsonl::default())),
        _ => None,
    }
}

/// The formats to write for a specification's `output_formats`: the native
/// JSONL always, then each other requested format once. Errors name the
/// first requested format without a writer.
pub fn writers_for(requested: &[String]) -> Result<Vec<Box<dyn ExportWriter>>, String> {
    let mut out: Vec<Box<dyn ExportWriter>> = vec![Box::new(NativeJsonl::default())];
    for f in requested {
        let w = writer_for(f).ok_or_else(|| f.clone())?;
        if !out.iter().any(|x| x.path() == w.path()) {
            out.push(w);
        }
    }
    Ok(out)
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
    fn path(&self) -> String {
        "exports/annotations.jsonl".into()
    }
    fn media_type(&self) -> &'static str {
        "application/jsonl"
    }
    fn item(&mut self, item: &ItemRecord, out: &mut Vec<u8>) -> Result<(), ExportError> {
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
        }
    }

    #[test]
    fn native_lines_parse_back_with_consensus() {
        let mut w = NativeJsonl::default();
        let mut out = Vec::new();
        w.item(&item("i1", &[("A", "cardiology"), ("B", "cardiology")]), &mut out).unwrap();
        w.item(&item("i2", &[("A", "cardiology"), ("B", "oncology")]), &mut out).unwrap();
        let lines: Vec<serde_json::Value> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["consensus"], json!({ "specialty": ["cardiology"] }));
        assert_eq!(lines[1]["consensus"], json!({}), "a tie has no consensus");
        assert_eq!(lines[1]["annotations"][1]["body"]["answers"]["specialty"][0], "oncology");
        assert_eq!(lines[0]["source"]["file"], "notes.jsonl");
    }

    #[test]
    fn requested_formats_without_a_writer_are_named() {
        assert_eq!(writers_for(&["native_jsonl".into()]).unwrap().len(), 1);
        assert_eq!(writers_for(&["native_jsonl".into(), "dicom_seg".into()]).err(), Some("dicom_seg".into()));
    }
}
