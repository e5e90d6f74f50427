//! ICD-10-CM (CMS tabular XML and/or order file) and ICD-10-PCS (CMS order file).
//!
//! **Order file** (`icd10cm_order_YYYY.txt`, `icd10pcs_order_YYYY.txt`), one
//! code per line, fixed columns:
//!
//! ```text
//! 1-5  order number, zero-padded     6   blank
//! 7-13 code, no dot, left-justified  14  blank
//! 15   0 = header (not valid for HIPAA transactions), 1 = valid
//! 16   blank   17-76 short description   77 blank   78- long description
//! ```
//!
//! The hierarchy is the longest shorter code the file holds (`S01.01XA` →
//! `S01.01`; a PCS code → its three-character table). ICD-10-CM codes get
//! their dot back after the third character.
//!
//! **Tabular XML** (`icd10cm_tabular_YYYY.xml`): chapters, sections and
//! nested `diag` elements with `name`, `desc`, `inclusionTerm/note` and a
//! code's own `includes/note` (synonyms: "high blood pressure" under I10;
//! chapter and section includes notes describe scope and are not read) and
//! `sevenChrDef/extension` (7th characters). A leaf under a
//! 7th-character definition (its own or its nearest ancestor's) gets one code
//! per extension, padded with the placeholder `X` to six characters
//! (`S01.01` + `A` → `S01.01XA`), described as `<leaf>, <extension>`; that
//! leaf is then not billable. The tabular states one exception only in
//! prose — "7th characters D and S do not apply to codes in category S06
//! with 6th character 7 or 8" — which is applied here; when the order file is
//! given too, it decides which codes exist, supplies the billable flags and
//! adds its short descriptions as synonyms. Sections take their `id`
//! (`E08-E13`); a section of one category (`id="B99"`, the code of its only
//! category too) is written `B99-B99`.

use super::{digits_in_name, file_name, find, for_each_line, line_error, source};
use crate::{Concept, Error};
use quick_xml::Reader;
use quick_xml::events::Event;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

type Imported = (Vec<Concept>, Option<String>, String);

/// One line of a CMS order file.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub code: String,
    pub billable: bool,
    pub short: String,
    pub long: String,
}

/// Reads a CMS order file.
pub fn read_order(path: &Path) -> Result<Vec<OrderRow>, Error> {
    let mut rows = Vec::new();
    for_each_line(path, true, |n, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let b = line.as_bytes();
        if b.len() < 17 || !line.is_char_boundary(16) || !b[..5].iter().all(u8::is_ascii_digit) || b[5] != b' ' || b[13] != b' ' || b[15] != b' ' {
            return Err(line_error(path, n, "not an order-file line (order number, code, header flag, short and long description in fixed columns)"));
        }
        let code = line[6..13].trim();
        if code.is_empty() || !code.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Err(line_error(path, n, format!("code {code:?} is not a code")));
        }
        let billable = match b[14] {
            b'0' => false,
            b'1' => true,
            other => return Err(line_error(path, n, format!("header flag {:?} is neither 0 nor 1", other as char))),
        };
        let rest = &line[16..];
        let (short, long) = if rest.len() > 61 && rest.is_char_boundary(60) && rest.is_char_boundary(61) { (&rest[..60], &rest[61..]) } else { (rest, rest) };
        rows.push(OrderRow { code: code.to_string(), billable, short: short.trim().to_string(), long: long.trim().to_string() });
        Ok(())
    })?;
    if rows.is_empty() {
        return Err(Error::Format(format!("{}: no codes", path.display())));
    }
    Ok(rows)
}

fn dotted(code: &str) -> String {
    if code.len() > 3 { format!("{}.{}", &code[..3], &code[3..]) } else { code.to_string() }
}

/// Concepts from order rows: parents are the longest shorter code present.
fn from_order(rows: Vec<OrderRow>, cm: bool) -> Vec<Concept> {
    let present: HashSet<String> = rows.iter().map(|r| r.code.clone()).collect();
    rows.into_iter()
        .map(|r| {
            let parent = (1..r.code.len()).rev().map(|n| &r.code[..n]).find(|p| present.contains(*p));
            let shown = |c: &str| if cm { dotted(c) } else { c.to_string() };
            let kind = if cm {
                if r.code.len() == 3 { "category" } else { "subcategory" }
            } else {
                match r.code.len() {
                    1 => "section",
                    2 => "body system",
                    3 => "table",
                    _ => "code",
                }
            };
            let mut c = Concept::new(shown(&r.code), r.long.clone());
            c.parents = parent.map(|p| vec![shown(p)]).unwrap_or_default();
            c.billable = Some(r.billable);
            c.kind = Some(kind.into());
            if !r.short.is_empty() && r.short != r.long {
                c.synonyms.push(r.short);
            }
            c
        })
        .collect()
}

/// ICD-10-CM from an order file alone.
pub fn icd10cm_order(path: &Path) -> Result<Vec<Concept>, Error> {
    Ok(from_order(read_order(path)?, true))
}

/// ICD-10-PCS from an order file.
pub fn icd10pcs_order(path: &Path) -> Result<Vec<Concept>, Error> {
    Ok(from_order(read_order(path)?, false))
}

fn is_xml(path: &Path) -> Result<bool, Error> {
    use std::io::Read;
    let mut head = [0u8; 64];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    let s = String::from_utf8_lossy(&head[..n]);
    Ok(s.trim_start_matches('\u{feff}').trim_start().starts_with('<'))
}

pub(crate) fn import_cm(path: &Path) -> Result<Imported, Error> {
    let (xml, order) = if path.is_file() {
        if is_xml(path)? { (Some(path.to_path_buf()), None) } else { (None, Some(path.to_path_buf())) }
    } else {
        (
            find(path, "ICD-10-CM tabular XML", |n| n.contains("tabular") && n.ends_with(".xml"))?,
            find(path, "ICD-10-CM order", |n| n.contains("order") && n.ends_with(".txt") && !n.contains("pcs"))?,
        )
    };
    let order_version = order.as_deref().and_then(|p| digits_in_name(p, 4));
    match (xml, order) {
        (None, None) => Err(Error::Missing(format!("{}: no ICD-10-CM tabular XML (*tabular*.xml) or order file (*order*.txt)", path.display()))),
        (None, Some(o)) => Ok((icd10cm_order(&o)?, order_version, source(&[&o]))),
        (Some(x), o) => {
            let text = std::fs::read_to_string(&x).map_err(|e| Error::io(&x, e))?;
            let rows = o.as_deref().map(read_order).transpose()?;
            let (concepts, version) = icd10cm_tabular(&text, rows.as_deref()).map_err(|e| Error::Format(format!("{}: {e}", x.display())))?;
            let files: Vec<&Path> = std::iter::once(x.as_path()).chain(o.as_deref()).collect();
            Ok((concepts, version.or(order_version).or_else(|| digits_in_name(&x, 4)), source(&files)))
        }
    }
}

pub(crate) fn import_pcs(path: &Path) -> Result<Imported, Error> {
    let order = if path.is_file() {
        path.to_path_buf()
    } else {
        super::require(path, "ICD-10-PCS order", |n| n.contains("order") && n.ends_with(".txt"))?
    };
    if file_name(&order).ends_with(".xml") {
        return Err(Error::Format(format!("{}: ICD-10-PCS is read from the order file (icd10pcs_order_YYYY.txt)", order.display())));
    }
    Ok((icd10pcs_order(&order)?, digits_in_name(&order, 4), source(&[&order])))
}

#[derive(Clone, Copy, PartialEq)]
enum Capture {
    Name,
    Desc,
    Synonym,
    Extension(char),
}

struct Node {
    idx: usize,
    depth: usize,
    diag: bool,
    has_children: bool,
    seven: Option<Rc<Vec<(char, String)>>>,
    own_seven: Vec<(char, String)>,
}

/// The S06 exception the tabular states in prose: no D or S 7th character
/// when the 6th character is 7 or 8 (death before regaining consciousness).
fn s06_exception(code_no_dot: &str, ext: char) -> bool {
    code_no_dot.starts_with("S06") && matches!(code_no_dot.as_bytes().get(5), Some(b'7' | b'8')) && matches!(ext, 'D' | 'S')
}

/// Parses the tabular XML; with the order file's rows, they decide which
/// codes exist and which are billable. Returns the concepts and the `<version>`.
pub fn icd10cm_tabular(xml: &str, order: Option<&[OrderRow]>) -> Result<(Vec<Concept>, Option<String>), String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut concepts: Vec<Concept> = Vec::new();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut capture: Option<(Capture, usize)> = None;
    let mut buf = String::new();
    let mut version: Option<String> = None;
    let mut in_version = false;
    let valid: Option<HashMap<&str, &OrderRow>> = order.map(|rows| rows.iter().map(|r| (r.code.as_str(), r)).collect());
    loop {
        let ev = reader.read_event().map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match ev {
            Event::Start(e) => {
                let tag = e.name().as_ref().to_vec();
                path.push(tag.clone());
                let depth = path.len();
                match tag.as_slice() {
                    b"version" if depth == 2 => {
                        in_version = true;
                        buf.clear();
                    }
                    b"chapter" | b"section" | b"diag" => {
                        let (kind, code) = match tag.as_slice() {
                            b"chapter" => ("chapter", String::new()),
                            b"section" => {
                                let id = e
                                    .try_get_attribute("id")
                                    .map_err(|e| format!("section attribute: {e}"))?
                                    .ok_or("a section without an id")?
                                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .map_err(|e| format!("section id: {e}"))?
                                    .to_string();
                                let code = if id.contains('-') { id } else { format!("{id}-{id}") };
                                ("section", code)
                            }
                            _ => ("", String::new()),
                        };
                        let parent = nodes.last_mut();
                        let mut c = Concept::new(code, String::new());
                        c.kind = (!kind.is_empty()).then(|| kind.to_string());
                        c.billable = Some(false);
                        let mut seven = None;
                        if let Some(p) = parent {
                            p.has_children = true;
                            let pc = &concepts[p.idx].code;
                            if pc.is_empty() {
                                return Err(format!("an element inside {} appears before its name", String::from_utf8_lossy(&path[p.depth - 1])));
                            }
                            c.parents.push(pc.clone());
                            seven = p.seven.clone();
                        }
                        concepts.push(c);
                        nodes.push(Node { idx: concepts.len() - 1, depth, diag: tag == b"diag", has_children: false, seven, own_seven: Vec::new() });
                    }
                    _ => {
                        if let Some(top) = nodes.last() {
                            let rel = depth - top.depth;
                            let what = match (rel, tag.as_slice()) {
                                (1, b"name") => Some(Capture::Name),
                                (1, b"desc") => Some(Capture::Desc),
                                (2, b"note") if path[top.depth] == b"inclusionTerm" => Some(Capture::Synonym),
                                (2, b"note") if top.diag && path[top.depth] == b"includes" => Some(Capture::Synonym),
                                (2, b"extension") if path[top.depth] == b"sevenChrDef" => {
                                    let ch = e
                                        .try_get_attribute("char")
                                        .map_err(|e| format!("extension attribute: {e}"))?
                                        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().and_then(|v| v.chars().next()))
                                        .ok_or("a 7th-character extension without its char")?;
                                    Some(Capture::Extension(ch))
                                }
                                _ => None,
                            };
                            if let Some(w) = what {
                                capture = Some((w, depth));
                                buf.clear();
                            }
                        }
                    }
                }
            }
            Event::Text(t) => {
                if capture.is_some() || in_version {
                    buf.push_str(&t.decode().map_err(|e| format!("text: {e}"))?);
                }
            }
            Event::GeneralRef(r) => {
                if capture.is_some() || in_version {
                    if let Some(ch) = r.resolve_char_ref().map_err(|e| format!("character reference: {e}"))? {
                        buf.push(ch);
                    } else {
                        let name = r.decode().map_err(|e| format!("entity: {e}"))?;
                        buf.push_str(quick_xml::escape::resolve_predefined_entity(&name).ok_or_else(|| format!("unknown entity &{name};"))?);
                    }
                }
            }
            Event::CData(t) => {
                if capture.is_some() {
                    buf.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(e) => {
                let depth = path.len();
                if in_version && e.name().as_ref() == b"version" {
                    version = Some(buf.trim().to_string()).filter(|v| !v.is_empty());
                    in_version = false;
                }
                if let Some((what, d)) = capture
                    && d == depth
                {
                    let text = buf.split_whitespace().collect::<Vec<_>>().join(" ");
                    let top = nodes.last_mut().expect("a capture belongs to a node");
                    let c = &mut concepts[top.idx];
                    match what {
                        Capture::Name => c.code = text,
                        Capture::Desc => c.display = text,
                        Capture::Synonym => c.synonyms.push(text),
                        Capture::Extension(ch) => top.own_seven.push((ch, text)),
                    }
                    capture = None;
                }
                if let Some(top) = nodes.last_mut()
                    && e.name().as_ref() == b"sevenChrDef"
                    && depth == top.depth + 1
                {
                    top.seven = Some(Rc::new(std::mem::take(&mut top.own_seven)));
                }
                if let Some(top) = nodes.last()
                    && top.depth == depth
                {
                    let node = nodes.pop().expect("just seen");
                    finish(&mut concepts, node, valid.as_ref())?;
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !nodes.is_empty() || !path.is_empty() {
        return Err("the XML ends inside an element".into());
    }
    if let Some(valid) = &valid {
        let have: HashSet<String> = concepts.iter().map(|c| c.code.replace('.', "")).collect();
        if let Some(missing) = valid.keys().find(|k| !have.contains(**k)) {
            return Err(format!("the order file has code {missing} that the tabular XML lacks: are they from the same release?"));
        }
    }
    Ok((concepts, version))
}

fn finish(concepts: &mut Vec<Concept>, node: Node, valid: Option<&HashMap<&str, &OrderRow>>) -> Result<(), String> {
    let c = &mut concepts[node.idx];
    if c.code.is_empty() {
        return Err(format!("an element without a name (description {:?})", c.display));
    }
    if c.display.is_empty() {
        return Err(format!("{} has no description", c.code));
    }
    if !node.diag {
        return Ok(());
    }
    let key = c.code.replace('.', "");
    c.kind = Some(if key.len() == 3 { "category" } else { "subcategory" }.into());
    let leaf = !node.has_children;
    let seven = if leaf { node.seven.clone() } else { None };
    c.billable = Some(leaf && seven.is_none());
    if let Some(row) = valid.and_then(|v| v.get(key.as_str())) {
        c.billable = Some(row.billable);
        if !row.short.is_empty() && row.short != c.display && !c.synonyms.contains(&row.short) {
            c.synonyms.push(row.short.clone());
        }
    }
    let Some(exts) = seven else { return Ok(()) };
    let base = c.code.clone();
    let desc = c.display.clone();
    let mut stem = if base.len() == 3 { format!("{base}.") } else { base.clone() };
    while stem.len() < 7 {
        stem.push('X');
    }
    for (ch, text) in exts.iter() {
        let code = format!("{stem}{ch}");
        let code_key = code.replace('.', "");
        let row = match valid {
            Some(v) => match v.get(code_key.as_str()) {
                Some(r) => Some(*r),
                None => continue,
            },
            None if s06_exception(&code_key, *ch) => continue,
            None => None,
        };
        let mut e = Concept::new(code, format!("{desc}, {text}"));
        e.parents.push(base.clone());
        e.billable = Some(row.map(|r| r.billable).unwrap_or(true));
        e.kind = Some("subcategory".into());
        if let Some(r) = row
            && !r.short.is_empty()
            && r.short != e.display
        {
            e.synonyms.push(r.short.clone());
        }
        concepts.push(e);
    }
    Ok(())
}
