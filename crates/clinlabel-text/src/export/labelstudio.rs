//! Label Studio JSON: export, and import so a Label Studio project can be
//! brought over.
//!
//! The export is a Label Studio "JSON" export: a list of tasks
//! `{id, data: {text, doc_id, meta}, annotations: [{result}], predictions: [{result}]}`.
//! Results, all `to_name: "text"`:
//!
//! - a span: `type: labels`, `from_name: label`, `value {start, end, text, labels}`;
//! - its assertion: `type: choices`, `from_name: assertion`, same `id` and
//!   range (a per-region choice);
//! - its codes: `type: textarea`, `from_name: code`, same `id` and range,
//!   `value.text` the codes as `system:code`;
//! - a relation: `type: relation`, `from_id`, `to_id`, `direction: right`, `labels: [type]`;
//! - a document classification: `type: choices`, `from_name: <question>`.
//!
//! Accepted, edited and manual spans go to the annotation; pending
//! suggestions go to `predictions`. Offsets are chars of the text (what
//! Label Studio's Python SDK and converters slice with). [`labeling_config`]
//! writes a matching labeling configuration.
//!
//! [`import`] streams the task list (one task in memory at a time) and
//! accepts offsets counted in chars or in UTF-16 units (older Label Studio
//! front ends): each span's `value.text` decides which.
//!
//! A project's upload reads one task at a time ([`read_task`]: the bytes
//! of one element of the list, read exactly as [`import`] reads it), checks
//! its results against the project's schema ([`schema_problem`], naming the
//! Label Studio result), and the workspace offers them as suggestions
//! ([`as_suggestions`]).

use super::{DocWriter, Options, Stats};
use crate::error::{Result, TextError};
use crate::model::{AnnotatedDocument, Assertion, Classification, Code, Relation, Source, Span, SuggestionState};
use crate::offsets::OffsetIndex;
use crate::tokenize::exported_spans;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};

pub struct Writer<W> {
    out: W,
    opts: Options,
    n: usize,
    stats: Stats,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, opts: &Options) -> Self {
        Writer { out, opts: opts.clone(), n: 0, stats: Stats::default() }
    }
}

fn span_results(s: &Span, origin: &str) -> Vec<Value> {
    let range = json!({ "start": s.start, "end": s.end, "text": s.text });
    let mut v = vec![json!({
        "id": s.id, "from_name": "label", "to_name": "text", "type": "labels", "origin": origin,
        "value": { "start": s.start, "end": s.end, "text": s.text, "labels": [s.label] }
    })];
    if let Some(a) = s.assertion {
        let mut value = range.clone();
        value["choices"] = json!([a.as_str()]);
        v.push(json!({ "id": s.id, "from_name": "assertion", "to_name": "text", "type": "choices", "origin": origin, "value": value }));
    }
    if !s.codes.is_empty() {
        let codes: Vec<String> = s.codes.iter().map(|c| format!("{}:{}", c.system, c.code)).collect();
        v.push(json!({ "id": s.id, "from_name": "code", "to_name": "text", "type": "textarea", "origin": origin,
            "value": { "start": s.start, "end": s.end, "text": codes } }));
    }
    v
}

/// The task of one document.
pub fn task(doc: &AnnotatedDocument, n: usize, pending: bool) -> (Value, usize, usize) {
    let all = exported_spans(doc, true);
    let is_pending = |s: &Span| s.source == Source::Suggested && matches!(s.state, None | Some(SuggestionState::Pending));
    let mut result = Vec::new();
    let mut predicted = Vec::new();
    let mut spans = 0;
    for s in &all {
        if is_pending(s) {
            predicted.extend(span_results(s, "prediction"));
            if pending {
                spans += 1;
            }
        } else {
            let origin = if s.source == Source::Suggested { "prediction-changed" } else { "manual" };
            result.extend(span_results(s, origin));
            spans += 1;
        }
    }
    let final_ids: BTreeSet<&str> = all.iter().filter(|s| !is_pending(s)).map(|s| s.id.as_str()).collect();
    let mut rels = 0;
    for r in &doc.relations {
        if r.state == Some(SuggestionState::Rejected) || !final_ids.contains(r.from.as_str()) || !final_ids.contains(r.to.as_str()) {
            continue;
        }
        rels += 1;
        result.push(json!({ "from_id": r.from, "to_id": r.to, "type": "relation", "direction": "right", "labels": [r.kind] }));
    }
    for (i, c) in doc.classifications.iter().enumerate().filter(|(_, c)| c.sentence.is_none()) {
        result.push(json!({ "id": format!("c{}", i + 1), "from_name": c.question, "to_name": "text", "type": "choices", "origin": "manual",
            "value": { "choices": c.answers } }));
    }
    let mut t = json!({
        "id": n,
        "data": { "text": doc.text, "doc_id": doc.id, "meta": doc.metadata },
        "annotations": [{ "id": n, "result": result, "was_cancelled": false, "ground_truth": false }],
        "predictions": [],
    });
    if !predicted.is_empty() {
        t["predictions"] = json!([{ "model_version": "clinlabel-preannotate", "result": predicted }]);
    }
    (t, spans, rels)
}

impl<W: Write> DocWriter for Writer<W> {
    fn write(&mut self, doc: &AnnotatedDocument) -> io::Result<()> {
        self.out.write_all(if self.n == 0 { b"[\n" } else { b",\n" })?;
        self.n += 1;
        let (t, spans, rels) = task(doc, self.n, self.opts.pending);
        serde_json::to_writer(&mut self.out, &t)?;
        self.stats.documents += 1;
        self.stats.spans += spans;
        self.stats.relations += rels;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<Stats> {
        self.out.write_all(if self.n == 0 { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()?;
        self.stats.files = 1;
        Ok(self.stats)
    }
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Label Studio labeling configuration for these entity labels, relation
/// types, assertion values and document questions (`(id, options)`).
pub fn labeling_config(labels: &[String], relations: &[String], assertions: &[String], questions: &[(String, Vec<String>)]) -> String {
    let mut x = String::from("<View>\n  <Labels name=\"label\" toName=\"text\">\n");
    for l in labels {
        x.push_str(&format!("    <Label value=\"{}\"/>\n", xml_attr(l)));
    }
    x.push_str("  </Labels>\n  <Text name=\"text\" value=\"$text\"/>\n");
    if !relations.is_empty() {
        x.push_str("  <Relations>\n");
        for r in relations {
            x.push_str(&format!("    <Relation value=\"{}\"/>\n", xml_attr(r)));
        }
        x.push_str("  </Relations>\n");
    }
    if !assertions.is_empty() {
        x.push_str("  <Choices name=\"assertion\" toName=\"text\" perRegion=\"true\">\n");
        for a in assertions {
            x.push_str(&format!("    <Choice value=\"{}\"/>\n", xml_attr(a)));
        }
        x.push_str("  </Choices>\n");
    }
    x.push_str("  <TextArea name=\"code\" toName=\"text\" perRegion=\"true\"/>\n");
    for (q, opts) in questions {
        x.push_str(&format!("  <Choices name=\"{}\" toName=\"text\">\n", xml_attr(q)));
        for o in opts {
            x.push_str(&format!("    <Choice value=\"{}\"/>\n", xml_attr(o)));
        }
        x.push_str("  </Choices>\n");
    }
    x.push_str("</View>\n");
    x
}

// -- import ----------------------------------------------------------------------------

struct Seq<'f>(&'f mut dyn FnMut(Value) -> std::result::Result<(), String>);

impl<'de> serde::de::DeserializeSeed<'de> for Seq<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Seq<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of Label Studio tasks")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.0)(v).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }
}

/// Reads a Label Studio JSON export, calling `each` with every task as a
/// document (one task in memory at a time). `text_key` names the data field
/// holding the text (default `text`).
pub fn import<R: Read>(name: &str, r: R, text_key: Option<&str>, mut each: impl FnMut(AnnotatedDocument) -> Result<()>) -> Result<usize> {
    let mut n = 0usize;
    let mut failure: Option<TextError> = None;
    let mut f = |v: Value| -> std::result::Result<(), String> {
        n += 1;
        let r = task_to_doc(name, n, v, text_key).and_then(&mut each);
        r.map_err(|e| {
            let s = e.to_string();
            failure = Some(e);
            s
        })
    };
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::with_capacity(256 * 1024, crate::ingest::Utf8Checked::new(r)));
    let res = serde::de::DeserializeSeed::deserialize(Seq(&mut f), &mut de);
    if let Some(e) = failure {
        return Err(e);
    }
    match res {
        Ok(()) => Ok(n),
        Err(e) if e.is_io() => {
            let io: io::Error = e.into();
            Err(TextError::from_io(name, io))
        }
        Err(e) => Err(TextError::format(name, format!("line {} column {}", e.line(), e.column()), e.to_string())),
    }
}

/// The `n`th task of the Label Studio export `name`, from the bytes of that
/// one element of the task list: the document [`import`] yields for it.
pub fn read_task(name: &str, n: usize, task: &[u8], text_key: Option<&str>) -> Result<AnnotatedDocument> {
    let v: Value = serde_json::from_slice(task).map_err(|e| TextError::format(name, format!("task {n}"), format!("not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(TextError::format(name, format!("task {n}"), "a task must be a JSON object"));
    }
    task_to_doc(name, n, v, text_key)
}

/// The first way a task read by [`read_task`] does not fit the project's
/// schema (a label that is not an entity type, a relation type, assertion,
/// code system, question or option the project does not have), naming the
/// Label Studio result (its `id`), or `None`.
pub fn schema_problem(doc: &AnnotatedDocument, schema: &clinlabel_domain::project::LabelSchema) -> Option<String> {
    let p = doc.validate(schema).into_iter().next()?;
    let (head, _) = p.path.split_once('.').unwrap_or((p.path.as_str(), ""));
    let index = |prefix: &str| head.strip_prefix(prefix).and_then(|x| x.strip_suffix(']')).and_then(|x| x.parse::<usize>().ok());
    let what = if let Some(i) = index("spans[") {
        format!("result {:?}", doc.spans[i].id)
    } else if let Some(i) = index("relations[") {
        let r = &doc.relations[i];
        format!("relation {:?} → {:?}", r.from, r.to)
    } else if let Some(i) = index("classifications[") {
        format!("choices {:?}", doc.classifications[i].question)
    } else {
        head.to_string()
    };
    Some(format!("{what}: {}", p.problem))
}

/// A task's results as suggestions for the workspace: every span and
/// relation (from its annotation, or else its first prediction) becomes a
/// pending suggestion; spans are renumbered `L1`, `L2`… in text order and
/// relations `LR1`, `LR2`… (so they never collide with the workspace's own
/// ids); document-level choices come back as the suggested answers.
pub fn as_suggestions(doc: AnnotatedDocument) -> (Vec<Span>, Vec<Relation>, Vec<Classification>) {
    let mut spans = doc.spans;
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut ids = HashMap::new();
    for (i, s) in spans.iter_mut().enumerate() {
        let id = format!("L{}", i + 1);
        ids.insert(std::mem::replace(&mut s.id, id.clone()), id);
        s.source = Source::Suggested;
        s.state = Some(SuggestionState::Pending);
        s.suggested = None;
    }
    let relations = doc
        .relations
        .into_iter()
        .filter_map(|r| Some((ids.get(&r.from)?.clone(), ids.get(&r.to)?.clone(), r.kind)))
        .enumerate()
        .map(|(i, (from, to, kind))| Relation { id: format!("LR{}", i + 1), kind, from, to, source: Source::Suggested, state: Some(SuggestionState::Pending) })
        .collect();
    (spans, relations, doc.classifications)
}

fn task_to_doc(name: &str, n: usize, t: Value, text_key: Option<&str>) -> Result<AnnotatedDocument> {
    let place = format!("task {n}");
    let bad = |m: String| TextError::format(name, place.clone(), m);
    let data = t.get("data").and_then(Value::as_object).ok_or_else(|| bad("no \"data\" object".into()))?;
    let text = match text_key {
        Some(k) => data.get(k).and_then(Value::as_str).ok_or_else(|| bad(format!("data has no text field {k:?}")))?,
        None => data.get("text").and_then(Value::as_str).or_else(|| data.values().find_map(Value::as_str)).ok_or_else(|| bad("data has no text".into()))?,
    };
    let id = data
        .get("doc_id")
        .and_then(|v| v.as_str().map(String::from).or_else(|| v.as_i64().map(|x| x.to_string())))
        .or_else(|| t.get("id").map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())))
        .unwrap_or_else(|| format!("{name}:{n}"));
    let mut doc = AnnotatedDocument::new(id, text);
    if let Some(m) = data.get("meta").and_then(Value::as_object) {
        doc.metadata = m.clone();
    }
    let idx = OffsetIndex::new(text);
    let annotation = t.get("annotations").and_then(Value::as_array).and_then(|a| {
        a.iter().find(|x| !x.get("was_cancelled").and_then(Value::as_bool).unwrap_or(false)).and_then(|x| x.get("result")).and_then(Value::as_array)
    });
    let (results, source) = match annotation {
        Some(r) => (r.clone(), Source::Manual),
        None => (
            t.get("predictions").and_then(Value::as_array).and_then(|p| p.first()).and_then(|p| p.get("result")).and_then(Value::as_array).cloned().unwrap_or_default(),
            Source::Suggested,
        ),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut later = Vec::new();
    for (k, r) in results.iter().enumerate() {
        let ty = r.get("type").and_then(Value::as_str).unwrap_or("");
        let rid = r.get("id").and_then(Value::as_str).map(String::from).unwrap_or_else(|| format!("r{}", k + 1));
        let value = r.get("value").cloned().unwrap_or(Value::Null);
        match ty {
            "labels" | "hypertextlabels" => {
                let (Some(s), Some(e)) = (value.get("start").and_then(Value::as_u64), value.get("end").and_then(Value::as_u64)) else {
                    return Err(bad(format!("result {rid}: a labels result needs numeric start and end")));
                };
                let label = value.get("labels").and_then(Value::as_array).and_then(|l| l.first()).and_then(Value::as_str).unwrap_or("").to_string();
                let want = value.get("text").and_then(Value::as_str);
                let (s, e) = (s as usize, e as usize);
                let slice = |a: usize, b: usize| (a <= b).then(|| Some(&text[idx.byte(a)?..idx.byte(b)?])).flatten();
                let (s, e) = match want {
                    Some(w) if slice(s, e) != Some(w) => match (idx.char_of_utf16(s), idx.char_of_utf16(e)) {
                        (Some(a), Some(b)) if slice(a, b) == Some(w) => (a, b),
                        _ => return Err(bad(format!("result {rid}: text {w:?} is not at [{s}, {e}) counted in characters or in UTF-16 units"))),
                    },
                    _ => (s, e),
                };
                if slice(s, e).is_none() || s >= e {
                    return Err(bad(format!("result {rid}: [{s}, {e}) is outside the text")));
                }
                let mut span = Span::new(rid.clone(), label, s, e);
                span.source = source;
                if source == Source::Suggested {
                    span.state = Some(SuggestionState::Pending);
                }
                index.insert(rid, doc.spans.len());
                doc.spans.push(span);
            }
            _ => later.push((rid, ty.to_string(), r.clone(), value)),
        }
    }
    for (rid, ty, r, value) in later {
        match ty.as_str() {
            "choices" if index.contains_key(&rid) => {
                let i = index[&rid];
                for c in value.get("choices").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                    if let Some(a) = Assertion::parse(c) {
                        doc.spans[i].assertion = Some(a);
                    }
                }
            }
            "choices" => {
                let q = r.get("from_name").and_then(Value::as_str).unwrap_or("class").to_string();
                let answers = value.get("choices").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
                doc.classifications.push(Classification { question: q, answers, sentence: None });
            }
            "textarea" if index.contains_key(&rid) => {
                let i = index[&rid];
                for c in value.get("text").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                    for part in c.split([';', ',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
                        let (system, code) = part.split_once(':').unwrap_or(("", part));
                        doc.spans[i].codes.push(Code { system: system.into(), code: code.into(), display: None, version: None });
                    }
                }
            }
            "relation" => {
                let (Some(f), Some(t)) = (r.get("from_id").and_then(Value::as_str), r.get("to_id").and_then(Value::as_str)) else { continue };
                let kind = r.get("labels").and_then(Value::as_array).and_then(|l| l.first()).and_then(Value::as_str).unwrap_or("related").to_string();
                let (from, to) = if r.get("direction").and_then(Value::as_str) == Some("left") { (t, f) } else { (f, t) };
                doc.relations.push(Relation {
                    id: format!("R{}", doc.relations.len() + 1),
                    kind,
                    from: from.into(),
                    to: to.into(),
                    source,
                    state: (source == Source::Suggested).then_some(SuggestionState::Pending),
                });
            }
            _ => {}
        }
    }
    // Relation ids must not collide with span ids.
    let span_ids: BTreeSet<String> = doc.spans.iter().map(|s| s.id.clone()).collect();
    for r in &mut doc.relations {
        while span_ids.contains(&r.id) {
            r.id.insert(0, 'R');
        }
    }
    doc.fill_text().map_err(|p| bad(p.to_string()))?;
    if doc.text.len() > crate::ingest::MAX_DOCUMENT_BYTES {
        return Err(TextError::TooLarge { name: name.into(), id: doc.id.clone(), bytes: doc.text.len(), limit: crate::ingest::MAX_DOCUMENT_BYTES });
    }
    if let Some(p) = doc.check().into_iter().next() {
        return Err(bad(p.to_string()));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_becomes_suggestions_and_schema_problems_name_the_result() {
        let text = "Pt \u{1F600} on metformin for diabetes.";
        let u16_at = |n: &str| text[..text.find(n).unwrap()].encode_utf16().count();
        let t = json!({ "id": 3, "data": { "text": text }, "annotations": [{ "result": [
            { "id": "b", "from_name": "label", "to_name": "text", "type": "labels", "value": { "start": u16_at("diabetes"), "end": u16_at("diabetes") + 8, "text": "diabetes", "labels": ["disease"] } },
            { "id": "a", "from_name": "label", "to_name": "text", "type": "labels", "value": { "start": u16_at("metformin"), "end": u16_at("metformin") + 9, "text": "metformin", "labels": ["drug"] } },
            { "from_id": "a", "to_id": "b", "type": "relation", "direction": "right", "labels": ["treats"] }
        ]}]});
        let doc = read_task("f", 1, serde_json::to_vec(&t).unwrap().as_slice(), None).unwrap();
        let schema: clinlabel_domain::project::LabelSchema = serde_json::from_value(json!({ "entity_types": [{ "id": "disease", "name": "Disease" }] })).unwrap();
        assert_eq!(schema_problem(&doc, &schema).unwrap(), "result \"a\": \"drug\" is not an entity type of this project");
        let (spans, rels, _) = as_suggestions(doc);
        // In text order, in chars (the emoji is one), renumbered; the relation follows its ends.
        assert_eq!(spans.iter().map(|s| (s.id.as_str(), s.start, s.text.as_str())).collect::<Vec<_>>(), [("L1", 8, "metformin"), ("L2", 22, "diabetes")]);
        assert!(spans.iter().all(|s| s.source == Source::Suggested && s.state == Some(SuggestionState::Pending)));
        assert_eq!((rels[0].id.as_str(), rels[0].from.as_str(), rels[0].to.as_str(), rels[0].state), ("LR1", "L1", "L2", Some(SuggestionState::Pending)));
        assert!(read_task("f", 2, b"[1]", None).unwrap_err().to_string().contains("task 2: a task must be a JSON object"));
    }
}
