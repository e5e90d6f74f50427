//! Reading a text item back: what `/items/{id}/content` and
//! `/tasks/{id}/content` serve, and the note text the server checks spans
//! against.
//!
//! - `.txt` / `.md`: the item's bytes are the note (a leading BOM is outside
//!   the item's range), served as stored.
//! - JSONL: the item's bytes are the line, a JSON object `{"id"?, "text",
//!   "metadata"?, …}`, served as stored with `application/json`.
//! - CSV rows and BioC documents are parsed at serve time from the item's
//!   byte range (a CSV row with its file's header range, recorded in the
//!   item's meta) by `clinlabel-text`'s readers, and served as the same JSON
//!   shape: `{"id"?, "text", "metadata"?}` — `id` from an `id` column or the
//!   document's `<id>`, `metadata` the other columns or the document's
//!   infons (all strings).
//!
//! - Label Studio tasks are read from their byte range (the task's object)
//!   by `clinlabel-text`'s Label Studio reader and served as the same JSON
//!   shape: `id` the task's `data.doc_id` or `id`, `metadata` its
//!   `data.meta`. [`label_studio_task`] gives the whole task (its results
//!   become the workspace's suggestions).
//!
//! So every note reaches the workspace as either plain text or a JSON
//! object with `text`, and that text is exactly what `clinlabel-text`'s
//! reader yields for the whole file: offsets (chars of `text`) agree
//! everywhere.

use crate::scan::{BIOC_MEDIA_TYPE, CSV_MEDIA_TYPE, LABEL_STUDIO_MEDIA_TYPE};
use clinlabel_blob::{BlobError, BlobStore};
use clinlabel_crypto::DataKey;
use clinlabel_text::ingest::{CsvOptions, Document};
use clinlabel_text::model::AnnotatedDocument;
use futures::TryStreamExt;
use serde_json::{Map, Value};
use std::ops::Range;

/// How an item's stored bytes become its note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Served as stored (plain text, a JSON line, or not a note at all).
    Stored,
    /// A CSV row; `header` is the byte range of the file's header row.
    CsvRow {
        header: Range<u64>,
        text_column: String,
    },
    /// A BioC `<document>` element.
    BiocDocument,
    /// A Label Studio task (its JSON object); `text_key` names the data
    /// field holding the text when the specification named one.
    LabelStudioTask { task: usize, text_key: Option<String> },
}

/// The layout of an item from its kind, its file's media type and its meta.
pub fn layout(kind: &str, media_type: &str, meta: &Value) -> Result<Layout, String> {
    if kind != "note" {
        return Ok(Layout::Stored);
    }
    if media_type == CSV_MEDIA_TYPE {
        let header = meta
            .get("header")
            .and_then(Value::as_array)
            .and_then(|h| Some(h.first()?.as_u64()?..h.get(1)?.as_u64()?))
            .ok_or("a CSV item without its header range")?;
        let text_column = meta
            .get("text_column")
            .and_then(Value::as_str)
            .ok_or("a CSV item without its text column")?;
        return Ok(Layout::CsvRow {
            header,
            text_column: text_column.to_string(),
        });
    }
    if media_type == BIOC_MEDIA_TYPE {
        return Ok(Layout::BiocDocument);
    }
    if media_type == LABEL_STUDIO_MEDIA_TYPE {
        let task = meta.get("task").and_then(Value::as_u64).ok_or("a Label Studio item without its task number")?;
        let text_key = meta.get("text_key").and_then(Value::as_str).map(str::to_string);
        return Ok(Layout::LabelStudioTask { task: task as usize, text_key });
    }
    Ok(Layout::Stored)
}

/// A Label Studio task read from its bytes, as the whole export is read.
pub fn label_studio_doc(task_bytes: &[u8], task: usize, text_key: Option<&str>) -> Result<AnnotatedDocument, String> {
    clinlabel_text::export::labelstudio::read_task("item", task, task_bytes, text_key).map_err(|e| e.to_string())
}

/// The note of one CSV row, read with its header as `clinlabel-text` reads
/// the whole file: the text column's value, `id` from an `id` column (none
/// otherwise), the other columns as metadata.
pub fn csv_note(header: &[u8], row: &[u8], text_column: &str) -> Result<Note, String> {
    let mut bytes = Vec::with_capacity(header.len() + 1 + row.len());
    bytes.extend_from_slice(header);
    bytes.push(b'\n');
    bytes.extend_from_slice(row);
    let mut docs =
        clinlabel_text::ingest::read_csv("item", &bytes[..], &CsvOptions::new(text_column))
            .map_err(|e| e.to_string())?;
    let mut doc = docs.next().ok_or("no row")?.map_err(|e| e.to_string())?;
    if docs.next().is_some() {
        return Err("more than one row in a CSV item".into());
    }
    let id = match doc.metadata.remove("id") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    Ok(Note {
        id,
        text: doc.text,
        metadata: doc.metadata,
    })
}

/// The note of one BioC `<document>` element.
pub fn bioc_note(element: &[u8]) -> Result<Note, String> {
    let doc = clinlabel_text::ingest::read_bioc("item", element)
        .next()
        .ok_or("no <document>")?
        .map_err(|e| e.to_string())?;
    Ok(Note {
        id: (!doc.id.is_empty()).then_some(doc.id),
        text: doc.text,
        metadata: doc.metadata,
    })
}

/// A note as served: `{"id"?, "text", "metadata"?}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Note {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub text: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl From<Note> for Document {
    fn from(n: Note) -> Document {
        Document {
            id: n.id.unwrap_or_default(),
            text: n.text,
            metadata: n.metadata,
        }
    }
}

/// Why a note could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The stored item does not read as its layout says (a bug or a
    /// damaged record: ingest accepted it).
    #[error("the item does not read back: {0}")]
    Unreadable(String),
}

/// Where an item is: its blob, the file's media type, kind, range and meta.
#[derive(Debug, Clone)]
pub struct ItemRef<'a> {
    pub blob_id: &'a str,
    pub media_type: &'a str,
    pub kind: &'a str,
    pub range: Range<u64>,
    pub meta: &'a Value,
}

/// What a content route answers for an item.
#[derive(Debug)]
pub enum Served {
    /// Stream the item's stored bytes with this content type.
    Stored { content_type: String },
    /// A note derived from its stored bytes, as JSON.
    Json(Vec<u8>),
}

async fn read_range(
    blobs: &BlobStore,
    key: &DataKey,
    blob_id: &str,
    range: Range<u64>,
) -> Result<Vec<u8>, BlobError> {
    let mut out = Vec::with_capacity((range.end - range.start) as usize);
    if range.end > range.start {
        let mut s = blobs.get_range(key, blob_id, range).await?.stream;
        while let Some(chunk) = s.try_next().await? {
            out.extend_from_slice(&chunk);
        }
    }
    Ok(out)
}

/// The content type of an item served as stored.
pub fn stored_content_type(kind: &str, media_type: &str) -> String {
    match kind {
        "note" | "response_set" if media_type == "application/jsonl" => "application/json",
        "variant" => "text/plain; charset=utf-8",
        _ => media_type,
    }
    .to_string()
}

/// The derived note of a CSV row or BioC document (`None` for items served as stored).
pub async fn derived(
    blobs: &BlobStore,
    key: &DataKey,
    item: ItemRef<'_>,
) -> Result<Option<Note>, NoteError> {
    let layout = layout(item.kind, item.media_type, item.meta).map_err(NoteError::Unreadable)?;
    Ok(match layout {
        Layout::Stored => None,
        Layout::CsvRow {
            header,
            text_column,
        } => {
            let head = read_range(blobs, key, item.blob_id, header).await?;
            let row = read_range(blobs, key, item.blob_id, item.range.clone()).await?;
            Some(csv_note(&head, &row, &text_column).map_err(NoteError::Unreadable)?)
        }
        Layout::BiocDocument => {
            let bytes = read_range(blobs, key, item.blob_id, item.range.clone()).await?;
            Some(bioc_note(&bytes).map_err(NoteError::Unreadable)?)
        }
        Layout::LabelStudioTask { task, text_key } => {
            let bytes = read_range(blobs, key, item.blob_id, item.range.clone()).await?;
            let doc = label_studio_doc(&bytes, task, text_key.as_deref()).map_err(NoteError::Unreadable)?;
            Some(Note { id: Some(doc.id), text: doc.text, metadata: doc.metadata })
        }
    })
}

/// The whole Label Studio task behind a note item (its text and the results
/// its annotation or prediction holds); `None` for other items.
pub async fn label_studio_task(blobs: &BlobStore, key: &DataKey, item: ItemRef<'_>) -> Result<Option<AnnotatedDocument>, NoteError> {
    match layout(item.kind, item.media_type, item.meta).map_err(NoteError::Unreadable)? {
        Layout::LabelStudioTask { task, text_key } => {
            let bytes = read_range(blobs, key, item.blob_id, item.range.clone()).await?;
            Ok(Some(label_studio_doc(&bytes, task, text_key.as_deref()).map_err(NoteError::Unreadable)?))
        }
        _ => Ok(None),
    }
}

/// What the content routes serve for an item.
pub async fn served(
    blobs: &BlobStore,
    key: &DataKey,
    item: ItemRef<'_>,
) -> Result<Served, NoteError> {
    Ok(match derived(blobs, key, item.clone()).await? {
        Some(note) => Served::Json(
            serde_json::to_vec(&note).map_err(|e| NoteError::Unreadable(e.to_string()))?,
        ),
        None => Served::Stored {
            content_type: stored_content_type(item.kind, item.media_type),
        },
    })
}

/// The text of a note item, whatever its format: the unit of every offset.
pub async fn text(
    blobs: &BlobStore,
    key: &DataKey,
    item: ItemRef<'_>,
) -> Result<String, NoteError> {
    if let Some(note) = derived(blobs, key, item.clone()).await? {
        return Ok(note.text);
    }
    let bytes = read_range(blobs, key, item.blob_id, item.range.clone()).await?;
    if item.media_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| NoteError::Unreadable(format!("JSON line: {e}")))?;
        return v
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| NoteError::Unreadable("no text field".into()));
    }
    String::from_utf8(bytes).map_err(|e| {
        NoteError::Unreadable(format!(
            "not UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_follow_kind_media_type_and_meta() {
        let meta = serde_json::json!({ "row": 1, "header": [3, 20], "text_column": "body" });
        assert_eq!(
            layout("note", CSV_MEDIA_TYPE, &meta).unwrap(),
            Layout::CsvRow {
                header: 3..20,
                text_column: "body".into()
            }
        );
        assert_eq!(
            layout("note", BIOC_MEDIA_TYPE, &Value::Null).unwrap(),
            Layout::BiocDocument
        );
        assert_eq!(
            layout("note", "application/jsonl", &Value::Null).unwrap(),
            Layout::Stored
        );
        assert_eq!(
            layout("image", CSV_MEDIA_TYPE, &Value::Null).unwrap(),
            Layout::Stored
        );
        assert!(layout("note", CSV_MEDIA_TYPE, &serde_json::json!({})).is_err());
    }

    #[test]
    fn a_csv_row_reads_back_with_its_header() {
        let n = csv_note(
            b"id,text,ward",
            b"n7,\"Hx:\r\n\"\"chest pain\"\", 3 days\",B",
            "text",
        )
        .unwrap();
        assert_eq!(n.id.as_deref(), Some("n7"));
        assert_eq!(n.text, "Hx:\r\n\"chest pain\", 3 days");
        assert_eq!(n.metadata["ward"], "B");
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            serde_json::json!({ "id": "n7", "text": "Hx:\r\n\"chest pain\", 3 days", "metadata": { "ward": "B" } })
        );
        let bare = csv_note(b"note", b"just text", "note").unwrap();
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            serde_json::json!({ "text": "just text" })
        );
    }
}
