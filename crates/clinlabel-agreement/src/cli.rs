//! Everything `clinlabel agreement` needs, as pure functions over file names and
//! contents (the binary does the reading and printing).
//!
//! ```text
//! clinlabel agreement FILE [FILE2] [--json] [--metric M] [--level L]
//! ```
//! maps to [`run`]`(&[(name, contents), ...], &CliOptions { json, metric, level, .. })`.
//!
//! # Input formats
//!
//! **One file: a reliability table** of (unit, coder, value) records, either
//! - CSV with a header naming the columns `unit`, `coder`, `value` (any order,
//!   case-insensitive, other columns ignored; RFC 4180 quoting; an empty value,
//!   `NA` or `null` is missing), or
//! - JSON: an array of `{"unit": .., "coder": .., "value": ..}` objects (unit and
//!   coder strings or numbers, value a string, number or null), or the same
//!   objects one per line (JSONL).
//!
//! Values are numeric when every present value parses as a finite number (then
//! ordered numerically; interval and ratio levels apply), otherwise labels
//! (ordered lexicographically for the ordinal level and weights). Units and
//! coders appear in first-seen order. A (unit, coder) pair given twice is an
//! error. Prints every table coefficient (percent agreement, Cohen's κ
//! unweighted/linear/quadratic, Scott's π, Fleiss' κ, Randolph's κ,
//! Krippendorff's α at four levels, Gwet's AC1/AC2, Kendall's τ-b and W).
//!
//! **Two files: annotator A (reference) and annotator B**, both of one kind:
//! - *Spans*: a JSON array (or JSONL) of `{"start": int, "end": int, "label": str,
//!   "id"?: str, "attributes"?: {str: str}}` with offsets in Unicode scalar values,
//!   half-open; or an object `{"text_length"?: int, "spans": [...], "relations"?:
//!   [{"head": int, "tail": int, "label": str}]}` where head/tail index `spans`.
//!   Prints exact and overlap P/R/F1 (micro, macro, per label), Krippendorff's
//!   unitizing α (joint and per label), α over character positions, attribute κ/α over matched spans and relation P/R/F1.
//! - *2D boxes*: `{"x_min","y_min","x_max","y_max","label"?}`; *3D boxes* add
//!   `z_min`, `z_max`; *polygons*: `{"points": [[x, y], ...], "label"?}`. Instances
//!   are matched one-to-one by IoU (threshold 0.5) and P/R/F1 and mean IoU printed.
//!   *Keypoints*: `{"x","y","visible"?}` in corresponding order: mean distance.
//! - *Speaker turns*: `{"start": seconds, "end": seconds, "speaker": str, "text"?: str}`:
//!   diarisation error rate (missed, false alarm, confusion), and WER/CER over
//!   the turns' text in time order when both files have text.
//! - *Transcripts*: any file that is not JSON is plain text: WER and CER.
//!
//! Errors name the file, the line when known, and the problem.

use crate::bootstrap::{BootstrapOptions, bootstrap};
use crate::coefficient::{Coefficient, Reason};
use crate::geometry::{self, Box2, Box3, Keypoint};
use crate::rankings::{kendall_tau_b, kendall_w};
use crate::spans::{Relation, Span, span_report};
use crate::table::{MISSING, Table};
use crate::transcripts::{Turn, character_error_rate, diarization_error_rate, word_error_rate};
use crate::{Level, Metric, compute};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;

/// Options of `clinlabel agreement`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CliOptions {
    /// Print JSON instead of a text table.
    pub json: bool,
    /// Keep only this metric (a full name such as `cohen_kappa_linear`, or a
    /// prefix such as `krippendorff_alpha` or `overlap`).
    pub metric: Option<String>,
    /// Keep only this level of the families that have levels: nominal, ordinal,
    /// interval or ratio for Krippendorff's α; unweighted, linear or quadratic
    /// for Cohen's κ and Gwet's AC1/AC2. Other rows are unaffected.
    pub level: Option<String>,
    /// Add seeded percentile-bootstrap intervals to table coefficients.
    pub bootstrap: Option<BootstrapOptions>,
}

/// A bad input: which file, which line (1-based) when known, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}
impl std::error::Error for InputError {}

fn err(file: &str, line: Option<usize>, message: impl Into<String>) -> InputError {
    InputError {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

/// One printed row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub metric: String,
    #[serde(flatten)]
    pub coefficient: Coefficient,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<(Coefficient, Coefficient)>,
}

fn row(metric: impl Into<String>, c: Coefficient) -> Row {
    Row {
        metric: metric.into(),
        coefficient: c,
        ci: None,
    }
}

/// Run `clinlabel agreement` on one table file or two annotation files.
pub fn run(inputs: &[(&str, &str)], opts: &CliOptions) -> Result<String, InputError> {
    if let Some(l) = &opts.level
        && Level::parse(l).is_none()
        && !WEIGHTS.contains(&l.to_ascii_lowercase().as_str())
    {
        return Err(err(
            "--level",
            None,
            format!(
                "unknown level {l:?}: use nominal, ordinal, interval or ratio (α), or unweighted, linear or quadratic (κ, AC)"
            ),
        ));
    }
    let (summary, rows, detail) = match inputs {
        [(name, text)] => table_report(name, text, opts)?,
        [a, b] => pair_report(a, b)?,
        _ => {
            return Err(err(
                "<arguments>",
                None,
                format!(
                    "expected one table file or two annotation files, got {}",
                    inputs.len()
                ),
            ));
        }
    };
    let all_names: Vec<String> = rows.iter().map(|r| r.metric.clone()).collect();
    let rows: Vec<Row> = rows.into_iter().filter(|r| keep(&r.metric, opts)).collect();
    if rows.is_empty() {
        return Err(err(
            "--metric",
            None,
            format!(
                "no metric matches {:?} / level {:?}; available: {}",
                opts.metric,
                opts.level,
                all_names.join(", ")
            ),
        ));
    }
    if opts.json {
        let mut out = json!({ "input": summary, "coefficients": rows });
        if opts.metric.is_none() && opts.level.is_none() {
            out["detail"] = detail;
        }
        Ok(serde_json::to_string_pretty(&out).expect("serialisable") + "\n")
    } else {
        Ok(render_text(&summary, &rows))
    }
}

const WEIGHTS: [&str; 3] = ["unweighted", "linear", "quadratic"];

fn keep(name: &str, opts: &CliOptions) -> bool {
    if let Some(m) = &opts.metric {
        let m = m.to_ascii_lowercase();
        if !(name == m || name.starts_with(&format!("{m}_")) || name.starts_with(&format!("{m}[")))
        {
            return false;
        }
    }
    if let Some(l) = &opts.level {
        let l = l.to_ascii_lowercase();
        if WEIGHTS.contains(&l.as_str()) {
            let weighted = |base: &str, unweighted: &str| {
                if name == unweighted {
                    l == "unweighted"
                } else if let Some(w) = name.strip_prefix(base) {
                    w == l
                } else {
                    true
                }
            };
            if !weighted("cohen_kappa_", "cohen_kappa") || !weighted("gwet_ac2_", "gwet_ac1") {
                return false;
            }
        } else if name.starts_with("krippendorff_alpha_") && !name.ends_with(&format!("_{l}")) {
            return false;
        }
    }
    true
}

fn render_text(summary: &Value, rows: &[Row]) -> String {
    let mut out = String::new();
    if let Some(d) = summary.get("description").and_then(|d| d.as_str()) {
        out.push_str(d);
        out.push('\n');
    }
    let width = rows
        .iter()
        .map(|r| r.metric.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let with_ci = rows.iter().any(|r| r.ci.is_some());
    out.push_str(&format!("{:<width$}  {:>12}", "metric", "value"));
    if with_ci {
        out.push_str(&format!("  {:>12}  {:>12}", "ci_lower", "ci_upper"));
    }
    out.push('\n');
    let cell = |c: &Coefficient| match c {
        Coefficient::Defined { value } => format!("{value:>12.6}"),
        Coefficient::Undefined { reason } => format!(
            "undefined ({})",
            serde_json::to_value(reason).unwrap().as_str().unwrap()
        ),
    };
    for r in rows {
        out.push_str(&format!("{:<width$}  {}", r.metric, cell(&r.coefficient)));
        if let (Some((lo, hi)), true) = (&r.ci, r.coefficient.is_defined()) {
            out.push_str(&format!("  {}  {}", cell(lo), cell(hi)));
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- tables

/// A parsed (unit, coder, value) record with its source line.
struct Record {
    unit: String,
    coder: String,
    value: Option<String>,
    line: Option<usize>,
}

fn is_missing(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.eq_ignore_ascii_case("na") || t.eq_ignore_ascii_case("null")
}

/// Split one CSV line (RFC 4180 quoting within the line).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

fn parse_csv(name: &str, text: &str) -> Result<Vec<Record>, InputError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (hline, header) = lines.next().ok_or_else(|| err(name, None, "empty file"))?;
    let cols = csv_fields(header.trim_start_matches('\u{feff}'))
        .map_err(|e| err(name, Some(hline + 1), e))?;
    let find = |want: &str| {
        cols.iter()
            .position(|c| c.trim().eq_ignore_ascii_case(want))
    };
    let (Some(u), Some(c), Some(v)) = (find("unit"), find("coder"), find("value")) else {
        return Err(err(
            name,
            Some(hline + 1),
            format!("CSV header must name the columns unit, coder, value (found {cols:?})"),
        ));
    };
    let mut out = Vec::new();
    for (i, line) in lines {
        let f = csv_fields(line).map_err(|e| err(name, Some(i + 1), e))?;
        if f.len() != cols.len() {
            return Err(err(
                name,
                Some(i + 1),
                format!("expected {} fields, found {}", cols.len(), f.len()),
            ));
        }
        let value = if is_missing(&f[v]) {
            None
        } else {
            Some(f[v].trim().to_string())
        };
        if f[u].trim().is_empty() || f[c].trim().is_empty() {
            return Err(err(name, Some(i + 1), "empty unit or coder"));
        }
        out.push(Record {
            unit: f[u].trim().to_string(),
            coder: f[c].trim().to_string(),
            value,
            line: Some(i + 1),
        });
    }
    Ok(out)
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn record_from_value(
    name: &str,
    v: &Value,
    line: Option<usize>,
    index: usize,
) -> Result<Record, InputError> {
    let where_ = || {
        if line.is_some() {
            String::new()
        } else {
            format!("record {index}: ")
        }
    };
    let obj = v.as_object().ok_or_else(|| {
        err(
            name,
            line,
            format!("{}expected an object with unit, coder, value", where_()),
        )
    })?;
    let get = |k: &str| obj.get(k).and_then(scalar_string);
    let unit = get("unit").ok_or_else(|| {
        err(
            name,
            line,
            format!("{}missing or non-scalar \"unit\"", where_()),
        )
    })?;
    let coder = get("coder").ok_or_else(|| {
        err(
            name,
            line,
            format!("{}missing or non-scalar \"coder\"", where_()),
        )
    })?;
    let value = match obj.get("value") {
        None | Some(Value::Null) => None,
        Some(x) => match scalar_string(x) {
            Some(s) if is_missing(&s) => None,
            Some(s) => Some(s),
            None => {
                return Err(err(
                    name,
                    line,
                    format!("{}\"value\" must be a string, number or null", where_()),
                ));
            }
        },
    };
    Ok(Record {
        unit,
        coder,
        value,
        line,
    })
}

fn build_table(name: &str, records: &[Record]) -> Result<(Table, usize, usize, bool), InputError> {
    let mut units: HashMap<&str, usize> = HashMap::new();
    let mut coders: HashMap<&str, usize> = HashMap::new();
    for r in records {
        let n = units.len();
        units.entry(&r.unit).or_insert(n);
        let n = coders.len();
        coders.entry(&r.coder).or_insert(n);
    }
    let (nu, nc) = (units.len(), coders.len());
    let mut cells: Vec<Option<&str>> = vec![None; nu * nc];
    let mut seen = vec![false; nu * nc];
    for r in records {
        let i = units[r.unit.as_str()] * nc + coders[r.coder.as_str()];
        if seen[i] && cells[i] != r.value.as_deref() {
            return Err(err(
                name,
                r.line,
                format!(
                    "unit {:?} coded twice by coder {:?} with different values",
                    r.unit, r.coder
                ),
            ));
        }
        seen[i] = true;
        cells[i] = r.value.as_deref();
    }
    let numeric = cells
        .iter()
        .flatten()
        .all(|s| s.parse::<f64>().is_ok_and(f64::is_finite));
    let table = if numeric {
        let flat: Vec<f64> = cells
            .iter()
            .map(|c| c.map_or(f64::NAN, |s| s.parse().unwrap()))
            .collect();
        Table::from_numeric_nan(nu, nc, &flat).map_err(|e| err(name, None, e.to_string()))?
    } else {
        let rows: Vec<&[Option<&str>]> = cells.chunks(nc.max(1)).collect();
        Table::from_labels(&rows).map_err(|e| err(name, None, e.to_string()))?
    };
    Ok((table, nu, nc, numeric))
}

fn parse_table(name: &str, text: &str) -> Result<(Vec<Record>, &'static str), InputError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(trimmed)
            .map_err(|e| err(name, Some(e.line()), format!("invalid JSON: {e}")))?;
        let arr = v.as_array().unwrap();
        let recs = arr
            .iter()
            .enumerate()
            .map(|(i, x)| record_from_value(name, x, None, i))
            .collect::<Result<_, _>>()?;
        Ok((recs, "JSON"))
    } else if trimmed.starts_with('{') {
        let mut recs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .map_err(|e| err(name, Some(i + 1), format!("invalid JSON: {e}")))?;
            recs.push(record_from_value(name, &v, Some(i + 1), recs.len())?);
        }
        Ok((recs, "JSONL"))
    } else {
        Ok((parse_csv(name, text)?, "CSV"))
    }
}

/// Kendall's τ-b (two coders) and W (all coders) over complete units of a numeric
/// table; undefined with `MissingValues` when any cell is missing.
fn ranking_rows(t: &Table) -> Vec<Row> {
    let Some(vals) = t.categories().numeric() else {
        return vec![
            row("kendall_tau_b", Coefficient::undefined(Reason::NotNumeric)),
            row("kendall_w", Coefficient::undefined(Reason::NotNumeric)),
        ];
    };
    let complete = (0..t.n_units()).all(|u| t.row(u).iter().all(|&c| c != MISSING));
    if !complete {
        return vec![
            row(
                "kendall_tau_b",
                Coefficient::undefined(Reason::MissingValues),
            ),
            row("kendall_w", Coefficient::undefined(Reason::MissingValues)),
        ];
    }
    let judges: Vec<Vec<f64>> = (0..t.n_coders())
        .map(|c| {
            (0..t.n_units())
                .map(|u| vals[t.row(u)[c] as usize])
                .collect()
        })
        .collect();
    let tau = if judges.len() == 2 {
        kendall_tau_b(&judges[0], &judges[1])
    } else {
        Coefficient::undefined(Reason::NeedsTwoCoders)
    };
    vec![
        row("kendall_tau_b", tau),
        row("kendall_w", kendall_w(&judges)),
    ]
}

fn table_report(
    name: &str,
    text: &str,
    opts: &CliOptions,
) -> Result<(Value, Vec<Row>, Value), InputError> {
    let (records, format) = parse_table(name, text)?;
    if records.is_empty() {
        return Err(err(name, None, "no (unit, coder, value) records"));
    }
    let (t, nu, nc, numeric) = build_table(name, &records)?;
    let mut rows: Vec<Row> = Metric::all()
        .into_iter()
        // Filter early only when bootstrapping (to skip unwanted resampling), so the
        // error for an unknown --metric can list every name.
        .filter(|m| opts.bootstrap.is_none() || keep(&m.name(), opts))
        .map(|m| {
            let mut r = row(m.name(), compute(&t, m));
            if let Some(b) = &opts.bootstrap {
                let ci = bootstrap(&t, m, b);
                r.ci = Some((ci.lower, ci.upper));
            }
            r
        })
        .collect();
    rows.extend(ranking_rows(&t));
    let kind = if numeric { "numeric" } else { "labels" };
    let summary = json!({
        "kind": "table",
        "file": name,
        "format": format,
        "units": nu,
        "coders": nc,
        "values": t.n_values(),
        "categories": t.n_categories(),
        "value_kind": kind,
        "description": format!("{name}: table ({format}), {nu} units × {nc} coders, {} values, {} {kind} categories", t.n_values(), t.n_categories()),
    });
    let detail = json!({ "categories": t.categories() });
    Ok((summary, rows, detail))
}

// ---------------------------------------------------------------- pairs

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Spans,
    Boxes2,
    Boxes3,
    Polygons,
    Keypoints,
    Turns,
    Text,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Spans => "spans",
            Kind::Boxes2 => "2D boxes",
            Kind::Boxes3 => "3D boxes",
            Kind::Polygons => "polygons",
            Kind::Keypoints => "keypoints",
            Kind::Turns => "speaker turns",
            Kind::Text => "transcript",
        }
    }
}

/// A parsed annotation file: its kind and its JSON items (with line numbers for JSONL).
struct Parsed {
    kind: Kind,
    items: Vec<(Value, Option<usize>)>,
    /// `{"spans": ..}` object extras.
    relations: Vec<Relation>,
    text_length: Option<usize>,
}

fn kind_of(v: &Value) -> Option<Kind> {
    let o = v.as_object()?;
    let has = |k: &str| o.contains_key(k);
    Some(if has("speaker") {
        Kind::Turns
    } else if has("z_min") {
        Kind::Boxes3
    } else if has("x_min") {
        Kind::Boxes2
    } else if has("points") {
        Kind::Polygons
    } else if has("start") && has("end") {
        Kind::Spans
    } else if has("x") && has("y") {
        Kind::Keypoints
    } else {
        return None;
    })
}

fn parse_annotations(name: &str, text: &str) -> Result<Parsed, InputError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    let mut relations = Vec::new();
    let mut text_length = None;
    let items: Vec<(Value, Option<usize>)> = if trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(trimmed)
            .map_err(|e| err(name, Some(e.line()), format!("invalid JSON: {e}")))?;
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| (x.clone(), None))
            .collect()
    } else if trimmed.starts_with('{') {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(o)) if o.contains_key("spans") => {
                let spans = o["spans"]
                    .as_array()
                    .ok_or_else(|| err(name, None, "\"spans\" must be an array"))?;
                if let Some(r) = o.get("relations") {
                    relations = serde_json::from_value(r.clone())
                        .map_err(|e| err(name, None, format!("bad \"relations\": {e}")))?;
                }
                if let Some(l) = o.get("text_length") {
                    text_length = Some(l.as_u64().ok_or_else(|| {
                        err(name, None, "\"text_length\" must be a non-negative integer")
                    })? as usize);
                }
                spans.iter().map(|x| (x.clone(), None)).collect()
            }
            _ => {
                let mut out = Vec::new();
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v: Value = serde_json::from_str(line)
                        .map_err(|e| err(name, Some(i + 1), format!("invalid JSON line: {e}")))?;
                    out.push((v, Some(i + 1)));
                }
                out
            }
        }
    } else {
        return Ok(Parsed {
            kind: Kind::Text,
            items: vec![(Value::String(text.to_string()), None)],
            relations,
            text_length,
        });
    };
    let kind = match items.first() {
        None => None,
        Some((v, line)) => Some(kind_of(v).ok_or_else(|| {
            err(name, *line, "cannot tell the annotation kind: expected spans (start, end, label), boxes (x_min, ...), polygons (points), keypoints (x, y) or turns (speaker)")
        })?),
    };
    for (i, (v, line)) in items.iter().enumerate() {
        if kind_of(v) != kind {
            let at = if line.is_some() {
                String::new()
            } else {
                format!("item {i}: ")
            };
            return Err(err(
                name,
                *line,
                format!(
                    "{at}not the same kind as the first item ({})",
                    kind.map_or("?", Kind::name)
                ),
            ));
        }
    }
    // An empty list takes the kind of the other file (resolved by the caller).
    Ok(Parsed {
        kind: kind.unwrap_or(Kind::Spans),
        items,
        relations,
        text_length,
    })
}

fn typed<T: serde::de::DeserializeOwned>(name: &str, p: &Parsed) -> Result<Vec<T>, InputError> {
    p.items
        .iter()
        .enumerate()
        .map(|(i, (v, line))| {
            serde_json::from_value(v.clone()).map_err(|e| {
                let at = if line.is_some() {
                    String::new()
                } else {
                    format!("item {i}: ")
                };
                err(name, *line, format!("{at}{e}"))
            })
        })
        .collect()
}

fn prf_rows(prefix: &str, p: &crate::spans::Prf, rows: &mut Vec<Row>) {
    rows.push(row(format!("{prefix}_precision"), p.precision));
    rows.push(row(format!("{prefix}_recall"), p.recall));
    rows.push(row(format!("{prefix}_f1"), p.f1));
}

fn pair_report(a: &(&str, &str), b: &(&str, &str)) -> Result<(Value, Vec<Row>, Value), InputError> {
    let (na, nb) = (a.0, b.0);
    let mut pa = parse_annotations(na, a.1)?;
    let mut pb = parse_annotations(nb, b.1)?;
    // Empty JSON lists take the other side's kind.
    if pa.items.is_empty() && pa.kind != Kind::Text {
        pa.kind = pb.kind;
    }
    if pb.items.is_empty() && pb.kind != Kind::Text {
        pb.kind = pa.kind;
    }
    if pa.kind != pb.kind {
        return Err(err(
            nb,
            None,
            format!("is {} but {na} is {}", pb.kind.name(), pa.kind.name()),
        ));
    }
    let kind = pa.kind;
    let mut rows = Vec::new();
    let detail: Value;
    let mut description = format!("{na} vs {nb}: {}", kind.name());
    match kind {
        Kind::Spans => {
            let (sa, sb): (Vec<Span>, Vec<Span>) = (typed(na, &pa)?, typed(nb, &pb)?);
            for (name, spans, p) in [(na, &sa, &pa), (nb, &sb, &pb)] {
                for (i, s) in spans.iter().enumerate() {
                    if s.end < s.start {
                        return Err(err(
                            name,
                            p.items[i].1,
                            format!("span {i}: end {} before start {}", s.end, s.start),
                        ));
                    }
                }
                for (i, r) in p.relations.iter().enumerate() {
                    if r.head >= spans.len() || r.tail >= spans.len() {
                        return Err(err(
                            name,
                            None,
                            format!(
                                "relation {i}: endpoint out of range (there are {} spans)",
                                spans.len()
                            ),
                        ));
                    }
                }
            }
            let text_len = match (pa.text_length, pb.text_length) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
            let has_rel = !pa.relations.is_empty() || !pb.relations.is_empty();
            let rep = span_report(
                &sa,
                &sb,
                text_len,
                has_rel.then_some((&pa.relations[..], &pb.relations[..])),
            );
            description = format!("{description}, {} vs {} spans", sa.len(), sb.len());
            for (mode, s) in [("exact", &rep.exact), ("overlap", &rep.overlap)] {
                prf_rows(&format!("{mode}_micro"), &s.micro, &mut rows);
                rows.push(row(format!("{mode}_macro_precision"), s.macro_precision));
                rows.push(row(format!("{mode}_macro_recall"), s.macro_recall));
                rows.push(row(format!("{mode}_macro_f1"), s.macro_f1));
                for (label, p) in &s.per_label {
                    rows.push(row(format!("{mode}_f1[{label}]"), p.f1));
                }
            }
            rows.push(row("unitizing_alpha", rep.unitizing_alpha.joint));
            for (label, c) in &rep.unitizing_alpha.per_label {
                rows.push(row(format!("unitizing_alpha[{label}]"), *c));
            }
            rows.push(row("position_alpha", rep.position_alpha));
            for (key, att) in &rep.attributes {
                rows.push(row(
                    format!("attribute_percent_agreement[{key}]"),
                    att.percent_agreement,
                ));
                rows.push(row(
                    format!("attribute_cohen_kappa[{key}]"),
                    att.cohen_kappa,
                ));
                rows.push(row(
                    format!("attribute_krippendorff_alpha[{key}]"),
                    att.krippendorff_alpha_nominal,
                ));
            }
            if let Some(r) = &rep.relations {
                prf_rows("relation", &r.micro, &mut rows);
            }
            detail = serde_json::to_value(&rep).unwrap();
        }
        Kind::Boxes2 | Kind::Boxes3 | Kind::Polygons => {
            let m = match kind {
                Kind::Boxes2 => geometry::match_boxes_2d(
                    &typed::<Box2>(na, &pa)?,
                    &typed::<Box2>(nb, &pb)?,
                    0.5,
                ),
                Kind::Boxes3 => geometry::match_boxes_3d(
                    &typed::<Box3>(na, &pa)?,
                    &typed::<Box3>(nb, &pb)?,
                    0.5,
                ),
                _ => {
                    #[derive(serde::Deserialize)]
                    struct Poly {
                        points: Vec<[f64; 2]>,
                    }
                    let pa: Vec<Vec<[f64; 2]>> = typed::<Poly>(na, &pa)?
                        .into_iter()
                        .map(|p| p.points)
                        .collect();
                    let pb: Vec<Vec<[f64; 2]>> = typed::<Poly>(nb, &pb)?
                        .into_iter()
                        .map(|p| p.points)
                        .collect();
                    geometry::match_polygons(&pa, &pb, 0.5)
                }
            };
            description = format!(
                "{description}, {} vs {} instances, matched one-to-one at IoU ≥ 0.5",
                m.prf.n_a, m.prf.n_b
            );
            prf_rows("instance", &m.prf, &mut rows);
            rows.push(row("mean_iou_matched", m.mean_iou));
            detail = serde_json::to_value(&m).unwrap();
        }
        Kind::Keypoints => {
            let (ka, kb): (Vec<Keypoint>, Vec<Keypoint>) = (typed(na, &pa)?, typed(nb, &pb)?);
            if ka.len() != kb.len() {
                return Err(err(
                    nb,
                    None,
                    format!("{} keypoints but {na} has {}", kb.len(), ka.len()),
                ));
            }
            rows.push(row(
                "keypoint_mean_distance",
                geometry::keypoint_mean_distance(&ka, &kb, None),
            ));
            detail = json!({ "keypoints": ka.len() });
        }
        Kind::Turns => {
            let (ta, tb): (Vec<Turn>, Vec<Turn>) = (typed(na, &pa)?, typed(nb, &pb)?);
            for (name, turns, p) in [(na, &ta, &pa), (nb, &tb, &pb)] {
                for (i, t) in turns.iter().enumerate() {
                    if !(t.start.is_finite() && t.end.is_finite() && t.end >= t.start) {
                        return Err(err(
                            name,
                            p.items[i].1,
                            format!("turn {i}: needs finite start ≤ end"),
                        ));
                    }
                }
            }
            let d = diarization_error_rate(&ta, &tb);
            rows.push(row("diarization_error_rate", d.der));
            let secs = |x: f64| Coefficient::defined(x);
            rows.push(row("missed_seconds", secs(d.missed)));
            rows.push(row("false_alarm_seconds", secs(d.false_alarm)));
            rows.push(row("confusion_seconds", secs(d.confusion)));
            rows.push(row("reference_speech_seconds", secs(d.total)));
            let text_of = |turns: &[Turn]| -> Option<String> {
                let mut v: Vec<&Turn> = turns.iter().collect();
                v.sort_by(|x, y| x.start.total_cmp(&y.start));
                let parts: Vec<&str> = v.iter().filter_map(|t| t.text.as_deref()).collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            };
            let mut det = serde_json::to_value(&d).unwrap();
            if let (Some(x), Some(y)) = (text_of(&ta), text_of(&tb)) {
                let (w, c) = (word_error_rate(&x, &y), character_error_rate(&x, &y));
                rows.push(row("word_error_rate", w.rate));
                rows.push(row("character_error_rate", c.rate));
                det["wer"] = serde_json::to_value(&w).unwrap();
                det["cer"] = serde_json::to_value(&c).unwrap();
            }
            detail = det;
        }
        Kind::Text => {
            let (w, c) = (word_error_rate(a.1, b.1), character_error_rate(a.1, b.1));
            description = format!(
                "{description} (normalisation: {})",
                crate::transcripts::NORMALISATION
            );
            rows.push(row("word_error_rate", w.rate));
            rows.push(row("character_error_rate", c.rate));
            detail = json!({ "wer": w, "cer": c });
        }
    }
    let summary = json!({ "kind": kind.name(), "files": [na, nb], "description": description });
    Ok((summary, rows, detail))
}

/// Metric names a table input can print, for `--metric` help text.
pub fn table_metric_names() -> Vec<String> {
    let mut v: Vec<String> = Metric::all().iter().map(Metric::name).collect();
    v.extend(["kendall_tau_b".to_string(), "kendall_w".to_string()]);
    v
}
