//! BioC XML (Comeau et al. 2013): a `<collection>` of `<document>`s, each
//! with one `<passage>` at offset 0 holding the whole text.
//!
//! Spans are `<annotation>`s with infons `type` (the label), `assertion`,
//! and `identifier` (codes as `system:code`, several joined by `;`), a
//! `<location offset length>` in chars and the covered `<text>`; relations
//! are `<relation>`s with a `type` infon and `from`/`to` nodes. Document
//! metadata and document-level classifications (`class:<question>`) are
//! document infons. Carriage returns are written as `&#13;` so that an XML
//! parser's end-of-line normalisation cannot turn CRLF into LF and shift
//! offsets.

use super::{DocWriter, Options, Stats, invalid};
use crate::error::{Result, TextError};
use crate::model::{AnnotatedDocument, Assertion, Classification, Code, Relation, Span};
use crate::tokenize::exported_spans;
use quick_xml::Reader as XmlReader;
use quick_xml::events::{BytesStart, Event};
use std::io::{self, BufRead, Write};

/// Escapes text content and attribute values; CR, LF and TAB as character
/// references where they would be normalised. Characters XML 1.0 cannot
/// carry are an error.
fn esc(s: &str, attr: bool) -> io::Result<String> {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' if attr => o.push_str("&quot;"),
            '\r' => o.push_str("&#13;"),
            '\n' if attr => o.push_str("&#10;"),
            '\t' if attr => o.push_str("&#9;"),
            '\n' | '\t' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                return Err(invalid(format!("U+{:04X} cannot be written in XML 1.0", c as u32)));
            }
            c => o.push(c),
        }
    }
    Ok(o)
}

pub struct Writer<W: Write> {
    out: W,
    opts: Options,
    started: bool,
    stats: Stats,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, opts: &Options) -> Self {
        Writer { out, opts: opts.clone(), started: false, stats: Stats::default() }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            write!(
                self.out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE collection SYSTEM \"BioC.dtd\">\n<collection><source>clinlabel</source><date>{}</date><key>clinlabel.key</key>\n",
                esc(&self.opts.date, false)?
            )?;
        }
        Ok(())
    }
}

fn infon(key: &str, value: &str) -> io::Result<String> {
    Ok(format!("<infon key=\"{}\">{}</infon>", esc(key, true)?, esc(value, false)?))
}

impl<W: Write> DocWriter for Writer<W> {
    fn write(&mut self, doc: &AnnotatedDocument) -> io::Result<()> {
        self.start()?;
        let ctx = |e: io::Error| invalid(format!("document {:?}: {e}", doc.id));
        let mut s = String::with_capacity(doc.text.len() + 1024);
        s.push_str("<document><id>");
        s.push_str(&esc(&doc.id, false).map_err(ctx)?);
        s.push_str("</id>");
        for (k, v) in &doc.metadata {
            let v = match v {
                serde_json::Value::String(x) => x.clone(),
                other => other.to_string(),
            };
            s.push_str(&infon(k, &v).map_err(ctx)?);
        }
        for c in doc.classifications.iter().filter(|c| c.sentence.is_none()) {
            s.push_str(&infon(&format!("class:{}", c.question), &c.answers.join(";")).map_err(ctx)?);
        }
        s.push_str("\n<passage><offset>0</offset><text>");
        s.push_str(&esc(&doc.text, false).map_err(ctx)?);
        s.push_str("</text>\n");
        let spans = exported_spans(doc, self.opts.pending);
        let chars: Vec<char> = doc.text.chars().collect();
        for sp in &spans {
            if sp.end > chars.len() || sp.start >= sp.end {
                return Err(invalid(format!("document {:?}: span {} is outside the text", doc.id, sp.id)));
            }
            s.push_str(&format!("<annotation id=\"{}\">", esc(&sp.id, true)?));
            s.push_str(&infon("type", &sp.label)?);
            if let Some(a) = sp.assertion {
                s.push_str(&infon("assertion", a.as_str())?);
            }
            if !sp.codes.is_empty() {
                let ids: Vec<String> = sp.codes.iter().map(|c| format!("{}:{}", c.system, c.code)).collect();
                s.push_str(&infon("identifier", &ids.join(";"))?);
            }
            let text: String = chars[sp.start..sp.end].iter().collect();
            s.push_str(&format!("<location offset=\"{}\" length=\"{}\"/><text>{}</text></annotation>\n", sp.start, sp.end - sp.start, esc(&text, false)?));
        }
        let ids: std::collections::HashSet<&str> = spans.iter().map(|s| s.id.as_str()).collect();
        let mut nrel = 0;
        for r in &doc.relations {
            if r.state == Some(crate::model::SuggestionState::Rejected) || !ids.contains(r.from.as_str()) || !ids.contains(r.to.as_str()) {
                continue;
            }
            nrel += 1;
            s.push_str(&format!(
                "<relation id=\"{}\">{}<node refid=\"{}\" role=\"from\"/><node refid=\"{}\" role=\"to\"/></relation>\n",
                esc(&r.id, true)?,
                infon("type", &r.kind)?,
                esc(&r.from, true)?,
                esc(&r.to, true)?
            ));
        }
        s.push_str("</passage></document>\n");
        self.out.write_all(s.as_bytes())?;
        self.stats.documents += 1;
        self.stats.spans += spans.len();
        self.stats.relations += nrel;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<Stats> {
        self.start()?;
        self.out.write_all(b"</collection>\n")?;
        self.out.flush()?;
        self.stats.files = 1;
        Ok(self.stats)
    }
}

// -- reading ---------------------------------------------------------------------------

/// Streams `<document>`s out of a BioC collection (see [`crate::ingest::read_bioc`]).
pub(crate) struct Reader<R> {
    name: String,
    xml: XmlReader<R>,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub(crate) fn new(name: &str, r: R) -> Self {
        let mut xml = XmlReader::from_reader(r);
        xml.config_mut().expand_empty_elements = true;
        Reader { name: name.to_string(), xml, buf: Vec::new(), done: false }
    }

    fn err(&self, m: impl std::fmt::Display) -> TextError {
        TextError::format(&self.name, format!("byte {}", self.xml.buffer_position()), m.to_string())
    }

    fn attr(&self, e: &BytesStart, key: &[u8]) -> Result<Option<String>> {
        for a in e.attributes() {
            let a = a.map_err(|x| self.err(x))?;
            if a.key.as_ref() == key {
                return Ok(Some(a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|x| self.err(x))?.into_owned()));
            }
        }
        Ok(None)
    }

    /// Text content up to the end of the current element (entities and character references resolved).
    fn text(&mut self) -> Result<String> {
        let mut out = String::new();
        let mut depth = 0;
        loop {
            self.buf.clear();
            let ev = self.xml.read_event_into(&mut self.buf).map_err(|e| io_or(&self.name, e))?.into_owned();
            match ev {
                Event::Text(t) => out.push_str(&t.xml10_content().map_err(|e| self.err(e))?),
                Event::CData(t) => out.push_str(&String::from_utf8_lossy(&t.into_inner())),
                Event::GeneralRef(r) => {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| self.err(e))? {
                        out.push(c);
                    } else {
                        let name = r.decode().map_err(|e| self.err(e))?.into_owned();
                        let v = quick_xml::escape::resolve_predefined_entity(&name).ok_or_else(|| self.err(format!("unknown entity &{name};")))?;
                        out.push_str(v);
                    }
                }
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => return Ok(out),
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(self.err("the file ends inside an element")),
                _ => {}
            }
        }
    }

    /// Skips to the end of the current element.
    fn skip(&mut self) -> Result<()> {
        self.text().map(|_| ())
    }

    fn document(&mut self) -> Result<AnnotatedDocument> {
        let mut doc = AnnotatedDocument::default();
        let mut text = String::new();
        let mut text_chars = 0usize;
        let mut spans: Vec<Span> = Vec::new();
        loop {
            self.buf.clear();
            let ev = self.xml.read_event_into(&mut self.buf).map_err(|e| io_or(&self.name, e))?.into_owned();
            match ev {
                Event::Start(e) => match e.name().as_ref() {
                    b"id" => doc.id = self.text()?.trim().to_string(),
                    b"infon" => {
                        let key = self.attr(&e, b"key")?.unwrap_or_default();
                        let v = self.text()?;
                        if let Some(q) = key.strip_prefix("class:") {
                            doc.classifications.push(Classification { question: q.into(), answers: v.split(';').filter(|s| !s.is_empty()).map(String::from).collect(), sentence: None });
                        } else {
                            doc.metadata.insert(key, serde_json::Value::String(v));
                        }
                    }
                    b"passage" => self.passage(&mut text, &mut text_chars, &mut spans, &mut doc.relations)?,
                    _ => self.skip()?,
                },
                Event::End(_) => break,
                Event::Eof => return Err(self.err("the file ends inside a document")),
                _ => {}
            }
        }
        doc.text = text;
        doc.spans = spans;
        crate::ingest::finish_foreign(&self.name, doc)
    }

    fn passage(&mut self, text: &mut String, text_chars: &mut usize, spans: &mut Vec<Span>, rels: &mut Vec<Relation>) -> Result<()> {
        let mut offset: Option<usize> = None;
        loop {
            self.buf.clear();
            let ev = self.xml.read_event_into(&mut self.buf).map_err(|e| io_or(&self.name, e))?.into_owned();
            match ev {
                Event::Start(e) => match e.name().as_ref() {
                    b"offset" => {
                        let t = self.text()?;
                        offset = Some(t.trim().parse().map_err(|_| self.err(format!("passage offset {t:?} is not a number")))?);
                    }
                    b"text" => {
                        let t = self.text()?;
                        let off = offset.unwrap_or(*text_chars);
                        if off < *text_chars {
                            return Err(self.err(format!("passage offset {off} overlaps the previous passage (ends at {text_chars})")));
                        }
                        for _ in *text_chars..off {
                            text.push('\n');
                        }
                        *text_chars = off + t.chars().count();
                        text.push_str(&t);
                    }
                    b"annotation" => {
                        let id = self.attr(&e, b"id")?.unwrap_or_else(|| format!("A{}", spans.len() + 1));
                        let span = self.annotation(id)?;
                        spans.push(span);
                    }
                    b"relation" => {
                        let id = self.attr(&e, b"id")?.unwrap_or_else(|| format!("R{}", rels.len() + 1));
                        if let Some(r) = self.relation(id)? {
                            rels.push(r);
                        }
                    }
                    _ => self.skip()?,
                },
                Event::End(_) => return Ok(()),
                Event::Eof => return Err(self.err("the file ends inside a passage")),
                _ => {}
            }
        }
    }

    fn annotation(&mut self, id: String) -> Result<Span> {
        let mut span = Span::new(id, "", 0, 0);
        let mut locs: Vec<(usize, usize)> = Vec::new();
        loop {
            self.buf.clear();
            let ev = self.xml.read_event_into(&mut self.buf).map_err(|e| io_or(&self.name, e))?.into_owned();
            match ev {
                Event::Start(e) => match e.name().as_ref() {
                    b"infon" => {
                        let key = self.attr(&e, b"key")?.unwrap_or_default();
                        let v = self.text()?;
                        match key.as_str() {
                            "type" => span.label = v,
                            "assertion" => span.assertion = Assertion::parse(&v),
                            "identifier" => {
                                for part in v.split([';', ',']).map(str::trim).filter(|p| !p.is_empty()) {
                                    let (system, code) = part.split_once(':').unwrap_or(("", part));
                                    span.codes.push(Code { system: system.into(), code: code.into(), display: None, version: None });
                                }
                            }
                            k if k.starts_with("code:") => {
                                span.codes.push(Code { system: k[5..].into(), code: v, display: None, version: None });
                            }
                            _ => {}
                        }
                    }
                    b"location" => {
                        let off = self.attr(&e, b"offset")?.and_then(|v| v.parse::<usize>().ok());
                        let len = self.attr(&e, b"length")?.and_then(|v| v.parse::<usize>().ok());
                        match (off, len) {
                            (Some(o), Some(l)) => locs.push((o, o + l)),
                            _ => return Err(self.err("a location needs numeric offset and length")),
                        }
                        self.skip()?;
                    }
                    b"text" => span.text = self.text()?,
                    _ => self.skip()?,
                },
                Event::End(_) => break,
                Event::Eof => return Err(self.err("the file ends inside an annotation")),
                _ => {}
            }
        }
        let (Some(s), Some(e)) = (locs.iter().map(|l| l.0).min(), locs.iter().map(|l| l.1).max()) else {
            return Err(self.err(format!("annotation {} has no location", span.id)));
        };
        if locs.len() > 1 {
            span.text.clear(); // discontinuous: the hull's text differs from the joined fragments
        }
        span.start = s;
        span.end = e;
        Ok(span)
    }

    fn relation(&mut self, id: String) -> Result<Option<Relation>> {
        let mut kind = String::new();
        let mut nodes: Vec<(String, String)> = Vec::new();
        loop {
            self.buf.clear();
            let ev = self.xml.read_event_into(&mut self.buf).map_err(|e| io_or(&self.name, e))?.into_owned();
            match ev {
                Event::Start(e) => match e.name().as_ref() {
                    b"infon" => {
                        let key = self.attr(&e, b"key")?.unwrap_or_default();
                        let v = self.text()?;
                        if key == "type" || (kind.is_empty() && key == "relation") {
                            kind = v;
                        }
                    }
                    b"node" => {
                        let refid = self.attr(&e, b"refid")?.unwrap_or_default();
                        let role = self.attr(&e, b"role")?.unwrap_or_default();
                        nodes.push((refid, role));
                        self.skip()?;
                    }
                    _ => self.skip()?,
                },
                Event::End(_) => break,
                Event::Eof => return Err(self.err("the file ends inside a relation")),
                _ => {}
            }
        }
        if nodes.len() != 2 {
            return Ok(None); // n-ary relations have no place in this model
        }
        let (from, to) = if nodes[1].1 == "from" || nodes[0].1 == "to" { (1, 0) } else { (0, 1) };
        Ok(Some(Relation { id, kind, from: nodes[from].0.clone(), to: nodes[to].0.clone(), source: Default::default(), state: None }))
    }
}

fn io_or(name: &str, e: quick_xml::Error) -> TextError {
    match e {
        quick_xml::Error::Io(io) => {
            let io = std::sync::Arc::try_unwrap(io).unwrap_or_else(|a| io::Error::new(a.kind(), a.to_string()));
            TextError::from_io(name, io)
        }
        other => TextError::format(name, "xml", other.to_string()),
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<AnnotatedDocument>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            self.buf.clear();
            let ev = match self.xml.read_event_into(&mut self.buf) {
                Ok(ev) => ev.into_owned(),
                Err(e) => {
                    self.done = true;
                    return Some(Err(io_or(&self.name, e)));
                }
            };
            match ev {
                Event::Start(e) if e.name().as_ref() == b"document" => {
                    let r = self.document();
                    if r.is_err() {
                        self.done = true;
                    }
                    return Some(r);
                }
                Event::Start(e) if e.name().as_ref() != b"collection" => {
                    if let Err(e) = self.skip() {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Event::Eof => {
                    self.done = true;
                    return None;
                }
                _ => {}
            }
        }
    }
}
