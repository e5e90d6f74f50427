//! Label Studio JSON exports: one note per task, its results kept as
//! suggestions.
//!
//! A `.json` file of a text project must be what Label Studio's "JSON"
//! export writes: a list of tasks `{id, data: {text, …}, annotations:
//! [{result}], predictions: [{result}]}`. A small incremental JSON lexer
//! (strings with their escapes, nesting) follows the list as the bytes
//! stream past and keeps only the current task — at most [`MAX_TASK_JSON`]
//! bytes — so a large export scans in bounded memory. When a task's closing
//! brace arrives, its bytes are read by `clinlabel-text`'s Label Studio
//! reader (`export::labelstudio::read_task`, the one that reads the task
//! back when the note is served and when its suggestions are offered): the
//! text is `data.text` (or `data.<text_column>` when the specification
//! names a text column), offsets in chars or UTF-16 units are placed by
//! each result's `value.text`, the 1 MiB limit holds.
//!
//! Results are checked against the project's label schema as they are
//! read: a label that is not an entity type, a relation type, assertion,
//! code system, question or option the project does not have **refuses the
//! file** with the reason `schema_mismatch: task N: result "id": …` naming
//! the label — nothing is imported silently short of what the file holds.
//! The PM adds the label to the specification (or removes it from the
//! export) and uploads again.
//!
//! The item's byte range is the task's object; its meta holds `task`
//! (1-based position in the list), `chars`, `text_key` (when the
//! specification names the data field) and `suggestions` (counts of spans,
//! relations and choices the task brings).

use super::text::{Records, redact_quoted, too_large};
use clinlabel_domain::project::LabelSchema;
use clinlabel_store::files::NewItem;
use clinlabel_text::TextError;
use serde_json::json;

/// The longest task, in bytes of JSON.
pub const MAX_TASK_JSON: usize = 16 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    /// Before the list's `[`.
    Start,
    /// Inside the list, before a task or `]`.
    Value { after_comma: bool },
    /// Inside the list, after a task: `,` or `]`.
    AfterValue,
    /// Inside a task.
    Task { string: bool, escape: bool },
    /// After the list's `]`.
    End,
}

pub(crate) struct LabelStudioTasks {
    max_items: usize,
    text_key: Option<String>,
    schema: LabelSchema,
    st: St,
    /// Nesting inside the current task (`{` and `[`).
    depth: u32,
    /// The current task: its start offset and bytes.
    task: Option<(u64, Vec<u8>)>,
    tasks: u64,
    items: Vec<NewItem>,
}

impl LabelStudioTasks {
    pub(crate) fn new(max_items: usize, text_key: Option<&str>, schema: &LabelSchema) -> LabelStudioTasks {
        LabelStudioTasks {
            max_items,
            text_key: text_key.map(str::to_string),
            schema: schema.clone(),
            st: St::Start,
            depth: 0,
            task: None,
            tasks: 0,
            items: Vec::new(),
        }
    }

    fn task_done(&mut self, end: u64) -> Result<(), String> {
        let (start, bytes) = self.task.take().expect("a task is open");
        self.tasks += 1;
        let n = self.tasks;
        let place = format!("task {n} (byte offset {start})");
        let doc = clinlabel_text::export::labelstudio::read_task("file", n as usize, &bytes, self.text_key.as_deref())
            .map_err(|e| format!("{place}: {}", reason(e)))?;
        if doc.text.is_empty() {
            return Err(format!("{place}: the text is empty (a note needs text)"));
        }
        if let Some(p) = clinlabel_text::export::labelstudio::schema_problem(&doc, &self.schema) {
            return Err(format!("schema_mismatch: task {n}: {p} (add it to the project's schema, or remove it from the file, and upload again)"));
        }
        if self.items.len() >= self.max_items {
            return Err(format!("more than {} items in one file: split it", self.max_items));
        }
        let mut meta = json!({
            "task": n,
            "chars": doc.text.chars().count(),
            "suggestions": {
                "spans": doc.spans.len(),
                "relations": doc.relations.len(),
                "choices": doc.classifications.len(),
            },
        });
        if let Some(k) = &self.text_key {
            meta["text_key"] = json!(k);
        }
        self.items.push(NewItem { kind: "note", byte_start: start as i64, byte_end: end as i64, meta });
        Ok(())
    }
}

/// A reason without content: the reader's problem with quoted values elided.
fn reason(e: TextError) -> String {
    match e {
        TextError::TooLarge { bytes, .. } => too_large(bytes),
        TextError::Format { problem, .. } => redact_quoted(&problem),
        other => redact_quoted(&other.to_string()),
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

const NOT_A_LIST: &str = "not a Label Studio export: a .json file of a text project must be Label Studio's JSON export, a list of tasks";

impl Records for LabelStudioTasks {
    fn push(&mut self, data: &[u8], at: u64) -> Result<(), String> {
        let mut from = 0usize; // start of the bytes of `data` that belong to the open task
        for (i, &b) in data.iter().enumerate() {
            let pos = at + i as u64;
            match self.st {
                St::Start => {
                    if b == b'[' {
                        self.st = St::Value { after_comma: false };
                    } else if !is_space(b) {
                        return Err(NOT_A_LIST.into());
                    }
                }
                St::Value { after_comma } => {
                    if b == b'{' {
                        self.task = Some((pos, Vec::with_capacity(4096)));
                        self.depth = 1;
                        from = i;
                        self.st = St::Task { string: false, escape: false };
                    } else if b == b']' && !after_comma {
                        self.st = St::End;
                    } else if !is_space(b) {
                        return Err(format!("task {} (byte offset {pos}): each task must be a JSON object", self.tasks + 1));
                    }
                }
                St::AfterValue => {
                    if b == b',' {
                        self.st = St::Value { after_comma: true };
                    } else if b == b']' {
                        self.st = St::End;
                    } else if !is_space(b) {
                        return Err(format!("not valid JSON at byte offset {pos}: expected , or ] after task {}", self.tasks));
                    }
                }
                St::Task { string, escape } => {
                    if string {
                        self.st = match (escape, b) {
                            (true, _) => St::Task { string: true, escape: false },
                            (false, b'\\') => St::Task { string: true, escape: true },
                            (false, b'"') => St::Task { string: false, escape: false },
                            _ => St::Task { string: true, escape: false },
                        };
                    } else {
                        match b {
                            b'"' => self.st = St::Task { string: true, escape: false },
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    let t = &mut self.task.as_mut().expect("a task is open").1;
                                    if t.len() + (i + 1 - from) > MAX_TASK_JSON {
                                        return Err(format!("task {} is longer than {MAX_TASK_JSON} bytes of JSON", self.tasks + 1));
                                    }
                                    t.extend_from_slice(&data[from..=i]);
                                    self.st = St::AfterValue;
                                    self.task_done(pos + 1)?;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                St::End => {
                    if !is_space(b) {
                        return Err(format!("not valid JSON at byte offset {pos}: more after the end of the task list"));
                    }
                }
            }
        }
        if let (St::Task { .. }, Some((_, t))) = (self.st, self.task.as_mut()) {
            if t.len() + (data.len() - from) > MAX_TASK_JSON {
                return Err(format!("task {} is longer than {MAX_TASK_JSON} bytes of JSON", self.tasks + 1));
            }
            t.extend_from_slice(&data[from..]);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _total: u64) -> Result<Vec<NewItem>, String> {
        match self.st {
            St::Start => Err(NOT_A_LIST.into()),
            St::End if self.items.is_empty() => Err("no tasks: the task list is empty".into()),
            St::End => Ok(self.items),
            _ => Err(format!("the file ends inside the task list (after {} complete tasks)", self.tasks)),
        }
    }
}

/// The bytes of `task` held now: bounded by one task.
#[cfg(test)]
impl LabelStudioTasks {
    pub(crate) fn held(&self) -> usize {
        self.task.as_ref().map_or(0, |t| t.1.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Scanner;

    fn schema() -> LabelSchema {
        serde_json::from_value(json!({
            "entity_types": [{ "id": "disease", "name": "Disease" }, { "id": "medication", "name": "Medication" }],
            "relation_types": [{ "id": "treats", "name": "Treats", "from": ["medication"], "to": ["disease"] }]
        }))
        .unwrap()
    }

    fn task(id: u64, text: &str, label: &str, needle: &str, utf16: bool) -> serde_json::Value {
        let b = text.find(needle).unwrap();
        let start = if utf16 { text[..b].encode_utf16().count() } else { text[..b].chars().count() };
        let len = if utf16 { needle.encode_utf16().count() } else { needle.chars().count() };
        json!({ "id": id, "data": { "text": text }, "annotations": [{ "result": [
            { "id": format!("r{id}"), "from_name": "label", "to_name": "text", "type": "labels",
              "value": { "start": start, "end": start + len, "text": needle, "labels": [label] } }
        ]}]})
    }

    fn scan(data: &[u8], piece: usize) -> Result<Vec<NewItem>, String> {
        let mut s = crate::scan::text::Utf8Front::new(Box::new(LabelStudioTasks::new(100, None, &schema())));
        for c in data.chunks(piece.max(1)) {
            s.push(c)?;
        }
        Box::new(s).finish(data.len() as u64)
    }

    #[test]
    fn tasks_are_found_whatever_the_chunking_and_read_back_as_the_whole_file_reads() {
        let tasks = json!([
            task(1, "Pt \u{1F600} on {metformin} \"quoted\" [x]\r\n", "medication", "metformin", true),
            task(2, "h/o diabetes \\ e\u{301}dema", "disease", "diabetes", false),
        ]);
        let mut data = "\u{FEFF}  \n".as_bytes().to_vec();
        data.extend_from_slice(serde_json::to_string_pretty(&tasks).unwrap().as_bytes());
        data.extend_from_slice(b"\n");
        let mut whole = Vec::new();
        clinlabel_text::export::labelstudio::import("x", &data[3..], None, |d| {
            whole.push(d);
            Ok(())
        })
        .unwrap();
        let want = scan(&data, usize::MAX).unwrap();
        assert_eq!(want.len(), 2);
        for piece in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(scan(&data, piece).unwrap(), want, "piece {piece}");
        }
        for (k, it) in want.iter().enumerate() {
            let doc = crate::note::label_studio_doc(&data[it.byte_start as usize..it.byte_end as usize], k + 1, None).unwrap();
            assert_eq!((doc.text.as_str(), &doc.spans), (whole[k].text.as_str(), &whole[k].spans));
            assert_eq!(it.meta["chars"], whole[k].text.chars().count());
        }
        // The UTF-16 offsets of the first task land on "metformin" in chars.
        assert_eq!((whole[0].spans[0].start, whole[0].spans[0].text.as_str()), (9, "metformin"));
    }

    #[test]
    fn what_is_not_a_task_list_or_not_in_the_schema_is_refused() {
        let bad_label = serde_json::to_vec(&json!([task(1, "on metformin", "Drug", "metformin", false)])).unwrap();
        let e = scan(&bad_label, 3).unwrap_err();
        assert!(e.starts_with("schema_mismatch: task 1: result \"r1\": \"Drug\" is not an entity type"), "{e}");
        for (data, want) in [
            (&b"{\"a\": 1}"[..], "not a Label Studio export"),
            (b"[]", "no tasks"),
            (b"[1]", "task 1 (byte offset 1): each task must be a JSON object"),
            (b"[{\"data\": {\"text\": \"x\"}}", "the file ends inside the task list"),
            (b"[{\"data\": {\"text\": \"ok\"}}] x", "more after the end"),
            (b"[{\"data\": {}}]", "task 1 (byte offset 1): data has no text"),
        ] {
            for piece in [1, 4, 100] {
                let e = scan(data, piece).unwrap_err();
                assert!(e.contains(want), "{e} / {want}");
            }
        }
        // Only one task is held at a time.
        let mut s = LabelStudioTasks::new(10, None, &schema());
        Records::push(&mut s, b"[{\"data\": {\"text\": \"one\"}}, {\"data\": {\"te", 0).unwrap();
        assert_eq!(s.held(), "{\"data\": {\"te".len());
    }
}
