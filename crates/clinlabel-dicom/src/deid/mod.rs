//! De-identification: PS3.15 Annex E Basic Application Level Confidentiality
//! Profile, with consistent project-scoped UID replacement and a date option.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use dicom_core::dictionary::DataDictionary;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;
use serde::Serialize;

use crate::error::{DicomError, Result, TagFmt};
use crate::object::{DicomFile, get_str, open_bytes, read_limited};
use crate::safe::Limits;

/// The profile table, embedded as data (see `annex_e.tsv`).
const ANNEX_E: &str = include_str!("annex_e.tsv");

/// One row of PS3.15 Table E.1-1.
#[derive(Debug, Clone)]
pub struct ProfileRow {
    /// Tag pattern `GGGGEEEE`, `x` = any hex digit.
    pub pattern: String,
    /// The Basic Profile action as written in the table (`X/Z/D`, `U`, …).
    pub basic: String,
    /// A date/time governed by the Retain Longitudinal Temporal Information options.
    pub temporal: bool,
    pub name: String,
}

struct Table {
    exact: HashMap<u32, ProfileRow>,
    patterns: Vec<(u32, u32, ProfileRow)>, // (mask, value, row)
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        for row in profile_rows() {
            if row.pattern.contains('x') {
                let mask = u32::from_str_radix(
                    &row.pattern
                        .chars()
                        .map(|c| if c == 'x' { '0' } else { 'F' })
                        .collect::<String>(),
                    16,
                )
                .unwrap();
                let value = u32::from_str_radix(&row.pattern.replace('x', "0"), 16).unwrap();
                patterns.push((mask, value, row));
            } else {
                exact.insert(u32::from_str_radix(&row.pattern, 16).unwrap(), row);
            }
        }
        Table { exact, patterns }
    })
}

/// The embedded profile table, row by row.
pub fn profile_rows() -> Vec<ProfileRow> {
    ANNEX_E
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            ProfileRow {
                pattern: f[0].to_string(),
                basic: f[1].to_string(),
                temporal: f[2] == "T",
                name: f[3].to_string(),
            }
        })
        .collect()
}

/// The profile row governing a tag, if any.
pub fn profile_row(tag: Tag) -> Option<&'static ProfileRow> {
    let key = ((tag.0 as u32) << 16) | tag.1 as u32;
    let t = table();
    t.exact.get(&key).or_else(|| {
        t.patterns
            .iter()
            .find(|(m, v, _)| key & m == *v)
            .map(|(_, _, r)| r)
    })
}

/// How dates and times listed in the profile are treated (the project's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum DateOption {
    /// Basic Profile: removed, emptied or replaced per the table.
    Remove,
    /// Retain Longitudinal Temporal Information with Modified Dates: every listed
    /// date (DA, and the date part of DT) is shifted by the project's offset;
    /// times are kept.
    Shift { days: i32 },
    /// Retain Longitudinal Temporal Information with Full Dates: kept.
    Keep,
}

/// Options of a de-identification run (per project).
#[derive(Clone)]
pub struct DeidOptions {
    /// Project secret: keys the UID mapping (same project + same UID → same new
    /// UID; another project → another UID). Keep it secret: it is what stops
    /// anyone from re-identifying UIDs by recomputing the mapping.
    pub project_secret: Vec<u8>,
    pub dates: DateOption,
    /// Also replace UIDs in attributes the table does not list (any UI value
    /// outside the DICOM root `1.2.840.10008.`, except SOP Class / coding UIDs).
    pub replace_unlisted_uids: bool,
    pub limits: Limits,
}

impl DeidOptions {
    pub fn new(project_secret: &[u8], dates: DateOption) -> DeidOptions {
        DeidOptions {
            project_secret: project_secret.to_vec(),
            dates,
            replace_unlisted_uids: true,
            limits: Limits::default(),
        }
    }
}

impl std::fmt::Debug for DeidOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeidOptions")
            .field("dates", &self.dates)
            .field("project_secret", &"<redacted>")
            .finish()
    }
}

/// Project-scoped UID remapping: `2.25.<decimal of the first 128 bits of
/// HMAC-SHA256(project secret, original UID)>` (a UUID-derived UID, PS3.5 B.2).
pub struct UidMapper {
    key: ring::hmac::Key,
}

impl UidMapper {
    pub fn new(project_secret: &[u8]) -> UidMapper {
        UidMapper {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, project_secret),
        }
    }
    pub fn map(&self, uid: &str) -> String {
        let uid = uid.trim_end_matches(['\0', ' ']);
        let tag = ring::hmac::sign(&self.key, uid.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&tag.as_ref()[..16]);
        format!("2.25.{}", u128::from_be_bytes(b))
    }
}

/// What was done to one attribute.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeidAction {
    /// `(GGGG,EEEE)`, prefixed with the enclosing sequence path for nested ones.
    pub tag: String,
    pub name: String,
    /// The table's Basic Profile code (e.g. `X/Z/D`), or `private` / `unlisted UID`.
    pub rule: String,
    /// The action applied: D, Z, X, K, C or U.
    pub action: char,
}

/// Why a file needs a person to look for text in the pixels.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BurnedInFlag {
    pub reason: String,
}

/// The per-file report.
#[derive(Debug, Clone, Serialize)]
pub struct DeidReport {
    pub input: String,
    pub output: String,
    pub transfer_syntax: String,
    pub modality: Option<String>,
    pub dates: DateOption,
    /// Every attribute of the profile found in the file, and what was done.
    pub actions: Vec<DeidAction>,
    /// Number of actions per code (D, Z, X, K, C, U).
    pub counts: BTreeMap<char, usize>,
    /// Private elements removed (all levels).
    pub private_removed: usize,
    /// UIDs replaced (values, all levels).
    pub uids_replaced: usize,
    /// Set when the pixels may carry burned-in identifying text.
    pub burned_in: Option<BurnedInFlag>,
}

/// Modalities whose images commonly carry burned-in text.
const BURN_IN_MODALITIES: &[&str] = &["US", "SC", "XC", "ES", "GM", "OT", "DOC"];

/// UIDs that identify a kind of thing, not a patient: never replaced.
const CLASS_UID_TAGS: &[Tag] = &[
    tags::SOP_CLASS_UID,
    tags::REFERENCED_SOP_CLASS_UID,
    tags::REFERENCED_SOP_CLASS_UID_IN_FILE,
    tags::CODING_SCHEME_UID,
    tags::CONTEXT_GROUP_EXTENSION_CREATOR_UID,
    tags::TRANSFER_SYNTAX_UID,
    tags::RELATED_GENERAL_SOP_CLASS_UID,
    tags::ORIGINAL_SPECIALIZED_SOP_CLASS_UID,
    tags::MAPPING_RESOURCE_UID,
];

struct Ctx<'a> {
    opts: &'a DeidOptions,
    mapper: UidMapper,
    report: DeidReport,
}

fn tag_name(tag: Tag) -> String {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.alias.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Resolves a compound Basic Profile code to one action. Where the table allows
/// a choice (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) the conformance-preserving one is used
/// (Z, D, D, D, U*): the attribute stays present, emptied or dummied, so the
/// object still reads as its IOD in pydicom/highdicom; no identifying value is
/// kept by any of them.
fn resolve(basic: &str) -> &'static str {
    match basic {
        "X" => "X",
        "Z" => "Z",
        "D" => "D",
        "U" => "U",
        "K" => "K",
        "C" => "C",
        "X/Z" => "Z",
        "X/D" | "Z/D" | "X/Z/D" => "D",
        "X/Z/U*" => "U*",
        _ => "X",
    }
}

/// A dummy value for the D action, by VR.
fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::DA => PrimitiveValue::from("19000101"),
        VR::DT => PrimitiveValue::from("19000101000000"),
        VR::TM => PrimitiveValue::from("000000"),
        VR::AS => PrimitiveValue::from("000Y"),
        VR::DS | VR::IS => PrimitiveValue::from("0"),
        VR::PN => PrimitiveValue::from("ANONYMIZED"),
        VR::UI => PrimitiveValue::from("2.25.0"),
        VR::US => PrimitiveValue::from(0u16),
        VR::SS => PrimitiveValue::from(0i16),
        VR::UL => PrimitiveValue::from(0u32),
        VR::SL => PrimitiveValue::from(0i32),
        VR::FL => PrimitiveValue::from(0f32),
        VR::FD => PrimitiveValue::from(0f64),
        VR::OB | VR::UN | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV => {
            PrimitiveValue::U8([0u8, 0u8][..].into())
        }
        _ => PrimitiveValue::from("ANONYMIZED"),
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Shifts a DA value (`YYYYMMDD`) or the date part of a DT value by `days`.
pub fn shift_date(value: &str, days: i32) -> Option<String> {
    let v = value.trim();
    if v.len() < 8 || !v[..8].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (
        v[..4].parse::<i64>().ok()?,
        v[4..6].parse::<i64>().ok()?,
        v[6..8].parse::<i64>().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (y2, m2, d2) = civil_from_days(days_from_civil(y, m, d) + days as i64);
    Some(format!("{y2:04}{m2:02}{d2:02}{}", &v[8..]))
}

impl Ctx<'_> {
    fn record(&mut self, path: &str, tag: Tag, rule: &str, action: char) {
        *self.report.counts.entry(action).or_default() += 1;
        self.report.actions.push(DeidAction {
            tag: format!("{path}{}", TagFmt(tag.0, tag.1)),
            name: tag_name(tag),
            rule: rule.to_string(),
            action,
        });
    }

    fn map_uid_value(&mut self, v: &str) -> String {
        self.report.uids_replaced += 1;
        self.mapper.map(v)
    }

    fn map_uids(&mut self, s: Option<&str>) -> Option<PrimitiveValue> {
        let s = s?;
        let mapped: Vec<String> = s
            .split('\\')
            .map(|u| u.trim_matches(|c: char| c == '\0' || c == ' '))
            .filter(|u| !u.is_empty())
            .map(|u| self.map_uid_value(u))
            .collect();
        Some(PrimitiveValue::Strs(mapped.into_iter().collect()))
    }

    fn process(&mut self, obj: &mut InMemDicomObject, path: &str, depth: usize) {
        let tag_list: Vec<Tag> = obj.iter().map(|e| e.header().tag).collect();
        for tag in tag_list {
            if tag.0 % 2 == 1 {
                obj.remove_element(tag);
                self.report.private_removed += 1;
                continue;
            }
            // Only what the rules need is copied out (never the pixel data).
            let Some((vr, is_seq, text)) = obj.element_opt(tag).ok().flatten().map(|e| {
                let vr = e.vr();
                let is_seq = matches!(e.value(), Value::Sequence(_));
                let bulk = matches!(vr, VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV);
                let text = if !is_seq && !bulk && tag != Tag(0x7FE0, 0x0010) {
                    match (vr, e.value()) {
                        // UN keeps the raw bytes: read them as the text they are.
                        (VR::UN, Value::Primitive(PrimitiveValue::U8(b))) => Some(
                            String::from_utf8_lossy(b)
                                .trim_end_matches(['\0', ' '])
                                .to_string(),
                        ),
                        _ => e.to_str().ok().map(|s| s.to_string()),
                    }
                } else {
                    None
                };
                (vr, is_seq, text)
            }) else {
                continue;
            };
            // A standard attribute stored as UN (explicit VR files do this) is
            // handled as its dictionary VR, and rewritten with it.
            let vr = if vr == VR::UN {
                StandardDataDictionary
                    .by_tag(tag)
                    .map(|e| e.vr.relaxed())
                    .filter(|v| *v != VR::UN && *v != VR::SQ)
                    .unwrap_or(VR::UN)
            } else {
                vr
            };
            let row = profile_row(tag);
            let Some(row) = row else {
                // Not in the table: kept, but nested items are cleaned too and
                // unlisted UIDs are replaced when asked.
                if is_seq {
                    self.recurse(obj, tag, path, depth);
                } else if vr == VR::UI
                    && self.opts.replace_unlisted_uids
                    && !CLASS_UID_TAGS.contains(&tag)
                {
                    let s = text.clone().unwrap_or_default();
                    let any = s
                        .split('\\')
                        .map(|u| u.trim_matches(|c: char| c == '\0' || c == ' '))
                        .any(|u| !u.is_empty() && !u.starts_with("1.2.840.10008."));
                    if any && let Some(v) = self.map_uids(text.as_deref()) {
                        obj.put(DataElement::new(tag, vr, v));
                        self.record(path, tag, "unlisted UID", 'U');
                    }
                }
                continue;
            };
            let action = if row.temporal {
                match self.opts.dates {
                    DateOption::Keep => "K",
                    DateOption::Shift { .. } => "C",
                    DateOption::Remove => resolve(&row.basic),
                }
            } else {
                resolve(&row.basic)
            };
            match action {
                "X" => {
                    obj.remove_element(tag);
                    self.record(path, tag, &row.basic, 'X');
                }
                "Z" => {
                    let empty = match vr {
                        VR::SQ => {
                            DataElement::new(tag, vr, Value::Sequence(DataSetSequence::empty()))
                        }
                        _ => DataElement::new(tag, vr, PrimitiveValue::Empty),
                    };
                    obj.put(empty);
                    self.record(path, tag, &row.basic, 'Z');
                }
                "D" => {
                    if is_seq {
                        // A sequence's dummy is itself, with every item cleaned.
                        self.recurse(obj, tag, path, depth);
                    } else if vr == VR::UI {
                        if let Some(v) = self.map_uids(text.as_deref()) {
                            obj.put(DataElement::new(tag, vr, v));
                        }
                    } else {
                        obj.put(DataElement::new(tag, vr, dummy(vr)));
                    }
                    self.record(path, tag, &row.basic, 'D');
                }
                "U" => {
                    if let Some(v) = self.map_uids(text.as_deref()) {
                        obj.put(DataElement::new(tag, vr, v));
                    }
                    self.record(path, tag, &row.basic, 'U');
                }
                "U*" => {
                    // Keep the sequence; the UIDs inside are replaced by their rows.
                    self.recurse(obj, tag, path, depth);
                    self.record(path, tag, &row.basic, 'U');
                }
                "K" => {
                    if is_seq {
                        self.recurse(obj, tag, path, depth);
                    }
                    self.record(path, tag, &row.basic, 'K');
                }
                "C" => {
                    let days = match self.opts.dates {
                        DateOption::Shift { days } => days,
                        _ => 0,
                    };
                    if matches!(vr, VR::DA | VR::DT) {
                        let s = text.clone().unwrap_or_default();
                        let shifted: Option<Vec<String>> = s
                            .split('\\')
                            .filter(|v| !v.trim().is_empty())
                            .map(|v| shift_date(v, days))
                            .collect();
                        match shifted {
                            Some(vals) if !vals.is_empty() => {
                                obj.put(DataElement::new(
                                    tag,
                                    vr,
                                    PrimitiveValue::Strs(vals.into_iter().collect()),
                                ));
                                self.record(path, tag, &row.basic, 'C');
                            }
                            Some(_) => self.record(path, tag, &row.basic, 'K'),
                            None => {
                                // Unparseable date: cannot be shifted safely, so removed.
                                obj.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
                                self.record(path, tag, &row.basic, 'Z');
                            }
                        }
                    } else {
                        // Times, time zone offsets: relative information kept.
                        self.record(path, tag, &row.basic, 'K');
                    }
                }
                _ => unreachable!("resolve returns a known action"),
            }
        }
    }

    fn recurse(&mut self, obj: &mut InMemDicomObject, tag: Tag, path: &str, depth: usize) {
        if depth > 64 {
            obj.remove_element(tag);
            return;
        }
        let Some(mut elem) = obj.take_element(tag).ok() else {
            return;
        };
        if let Some(items) = elem.items_mut() {
            for (i, item) in items.iter_mut().enumerate() {
                let sub = format!("{path}{}[{i}]>", TagFmt(tag.0, tag.1));
                self.process(item, &sub, depth + 1);
            }
        }
        obj.put(elem);
    }
}

/// De-identifies a parsed file in place (data set and file meta) and reports.
pub fn deidentify(
    file: &mut DicomFile,
    opts: &DeidOptions,
    input_name: &str,
) -> Result<DeidReport> {
    let modality = get_str(&file.obj, tags::MODALITY);
    let burned = get_str(&file.obj, tags::BURNED_IN_ANNOTATION);
    let burned_in = match (burned.as_deref(), modality.as_deref()) {
        (Some("YES"), _) => Some(BurnedInFlag {
            reason: "Burned In Annotation (0028,0301) is YES".into(),
        }),
        (b, Some(m)) if BURN_IN_MODALITIES.contains(&m) => Some(BurnedInFlag {
            reason: format!(
                "modality {m} commonly carries burned-in text (Burned In Annotation: {})",
                b.unwrap_or("absent")
            ),
        }),
        _ => None,
    };
    let mut ctx = Ctx {
        opts,
        mapper: UidMapper::new(&opts.project_secret),
        report: DeidReport {
            input: input_name.to_string(),
            output: String::new(),
            transfer_syntax: file.transfer_syntax.clone(),
            modality,
            dates: opts.dates,
            actions: Vec::new(),
            counts: BTreeMap::new(),
            private_removed: 0,
            uids_replaced: 0,
            burned_in,
        },
    };
    let obj: &mut InMemDicomObject = &mut file.obj;
    ctx.process(obj, "", 0);
    // Attributes that say what was done (PS3.15 E.1.1, PS3.3 C.7.1.1).
    obj.put(DataElement::new(
        tags::PATIENT_IDENTITY_REMOVED,
        VR::CS,
        PrimitiveValue::from("YES"),
    ));
    let dates_text = match opts.dates {
        DateOption::Remove => "dates removed".to_string(),
        DateOption::Shift { .. } => "dates shifted".to_string(),
        DateOption::Keep => "dates kept".to_string(),
    };
    obj.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        PrimitiveValue::from(format!("clinlabel PS3.15 E.1 Basic Profile; {dates_text}")),
    ));
    let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
    match opts.dates {
        DateOption::Shift { .. } => codes.push((
            "113107",
            "Retain Longitudinal Temporal Information Modified Dates Option",
        )),
        DateOption::Keep => codes.push((
            "113106",
            "Retain Longitudinal Temporal Information Full Dates Option",
        )),
        DateOption::Remove => {}
    }
    let items: Vec<InMemDicomObject> = codes
        .into_iter()
        .map(|(v, m)| {
            InMemDicomObject::from_element_iter([
                DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(v)),
                DataElement::new(
                    tags::CODING_SCHEME_DESIGNATOR,
                    VR::SH,
                    PrimitiveValue::from("DCM"),
                ),
                DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(m)),
            ])
        })
        .collect();
    obj.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(items),
    ));
    obj.put(DataElement::new(
        tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        PrimitiveValue::from(match opts.dates {
            DateOption::Remove => "REMOVED",
            DateOption::Shift { .. } => "MODIFIED",
            DateOption::Keep => "UNMODIFIED",
        }),
    ));
    // File meta: the instance UID follows the data set; nothing else identifying.
    let new_sop = get_str(&file.obj, tags::SOP_INSTANCE_UID);
    let meta = file.obj.meta_mut();
    let old = meta
        .media_storage_sop_instance_uid
        .trim_end_matches(['\0', ' '])
        .to_string();
    let mapped = new_sop.unwrap_or_else(|| ctx.mapper.map(&old));
    if old != mapped {
        ctx.record("", Tag(0x0002, 0x0003), "U", 'U');
        ctx.report.uids_replaced += 1;
    }
    meta.media_storage_sop_instance_uid = mapped;
    meta.source_application_entity_title = None;
    meta.sending_application_entity_title = None;
    meta.receiving_application_entity_title = None;
    meta.private_information_creator_uid = None;
    meta.private_information = None;
    meta.update_information_group_length();
    Ok(ctx.report)
}

/// De-identifies a DICOM file held in memory: the new file's bytes (same
/// transfer syntax) and the report. `name` is only used in the report.
pub fn deidentify_bytes(
    bytes: &[u8],
    opts: &DeidOptions,
    name: &str,
) -> Result<(Vec<u8>, DeidReport)> {
    let mut file = open_bytes(bytes, &opts.limits)?;
    let report = deidentify(&mut file, opts, name)?;
    let mut out = Vec::with_capacity(bytes.len() + 1024);
    file.obj
        .write_all(&mut out)
        .map_err(|e| DicomError::Write(e.to_string()))?;
    Ok((out, report))
}

/// `clinlabel dicom deidentify IN OUT`: reads `input`, de-identifies it and
/// writes a new DICOM file to `output` (same transfer syntax).
pub fn deidentify_file(input: &Path, output: &Path, opts: &DeidOptions) -> Result<DeidReport> {
    let bytes = read_limited(input, opts.limits.max_file_bytes)?;
    let mut file = open_bytes(&bytes, &opts.limits)?;
    drop(bytes);
    let mut report = deidentify(&mut file, opts, &input.display().to_string())?;
    let mut out = Vec::new();
    file.obj
        .write_all(&mut out)
        .map_err(|e| DicomError::Write(e.to_string()))?;
    std::fs::write(output, &out).map_err(|e| DicomError::Io {
        path: output.display().to_string(),
        source: e,
    })?;
    report.output = output.display().to_string();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_parses() {
        let rows = profile_rows();
        assert!(rows.len() > 440, "{} rows", rows.len());
        for r in &rows {
            assert_eq!(r.pattern.len(), 8, "{r:?}");
            assert!(
                ["X", "Z", "D", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"]
                    .contains(&r.basic.as_str()),
                "{r:?}"
            );
        }
        assert_eq!(profile_row(tags::PATIENT_NAME).unwrap().basic, "Z");
        assert_eq!(
            profile_row(Tag(0x6002, 0x3000)).unwrap().name,
            "Overlay Data"
        );
        assert_eq!(profile_row(Tag(0x5004, 0x0010)).unwrap().name, "Curve Data");
        assert!(profile_row(tags::ROWS).is_none());
    }

    #[test]
    fn date_shift_crosses_months_and_leap_years() {
        assert_eq!(shift_date("20240228", 1).unwrap(), "20240229");
        assert_eq!(shift_date("20240301", -1).unwrap(), "20240229");
        assert_eq!(
            shift_date("20231231120000.5", 1).unwrap(),
            "20240101120000.5"
        );
        assert!(shift_date("2024", 1).is_none());
    }

    #[test]
    fn uid_mapping_is_keyed() {
        let a = UidMapper::new(b"project-a");
        let b = UidMapper::new(b"project-b");
        assert_eq!(a.map("1.2.3"), a.map("1.2.3\0"));
        assert_ne!(a.map("1.2.3"), b.map("1.2.3"));
        assert_ne!(a.map("1.2.3"), a.map("1.2.4"));
        assert!(a.map("1.2.3").len() <= 64);
        assert!(a.map("1.2.3").starts_with("2.25."));
    }
}
