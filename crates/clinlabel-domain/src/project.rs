//! Projects: the specification a client submits, its label schema, and the
//! lifecycle state machine of steps 1–2 (and the states later steps move through).
//!
//! invariant: a specification that reaches the database has passed
//! [`Spec::validate`]; every refusal names the path of the offending field
//! (e.g. `schema.relation_types[1].to[0]`).
//! invariant: a project changes state only through [`transition`], which
//! knows which role may take which step from which state.

use crate::error::{DomainError, ErrorCode};
use crate::access::Role;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::ToSchema;

/// The kind of data a project annotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Image,
    Text,
    Audio,
    Preference,
    Genomic,
}

impl Modality {
    pub const ALL: [Modality; 5] = [Modality::Image, Modality::Text, Modality::Audio, Modality::Preference, Modality::Genomic];
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Image => "image",
            Modality::Text => "text",
            Modality::Audio => "audio",
            Modality::Preference => "preference",
            Modality::Genomic => "genomic",
        }
    }
    pub fn parse(s: &str) -> Option<Modality> {
        Modality::ALL.into_iter().find(|m| m.as_str() == s)
    }
    /// The task types a project of this modality may ask for.
    pub fn task_types(self) -> &'static [&'static str] {
        match self {
            Modality::Image => &["bounding_box", "segmentation", "keypoints", "classification"],
            Modality::Text => &["entities", "relations", "assertion", "coding", "classification"],
            Modality::Audio => &["transcription", "diarisation", "entity_tagging", "soap_structure", "dialogue_acts"],
            Modality::Preference => &["comparison", "ranking", "scoring", "rationale", "safety"],
            Modality::Genomic => &["variant_classification", "biomarker_relevance", "entity_tagging", "adverse_event_coding"],
        }
    }
    /// The export formats a project of this modality may request.
    pub fn output_formats(self) -> &'static [&'static str] {
        match self {
            Modality::Image => &["native_json", "coco", "dicom_seg", "nifti"],
            Modality::Text => &["native_jsonl", "brat", "bioc", "conll", "spacy", "label_studio"],
            Modality::Audio => &["native_json", "webvtt", "rttm", "textgrid"],
            Modality::Preference => &["native_jsonl", "trl_preference", "csv"],
            Modality::Genomic => &["native_jsonl", "vcf_annotated", "csv"],
        }
    }
}

/// A project's place in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectState {
    Draft,
    Submitted,
    Quoted,
    Approved,
    InProgress,
    InQa,
    Delivered,
    Rejected,
    Cancelled,
}

impl ProjectState {
    pub const ALL: [ProjectState; 9] = [
        ProjectState::Draft,
        ProjectState::Submitted,
        ProjectState::Quoted,
        ProjectState::Approved,
        ProjectState::InProgress,
        ProjectState::InQa,
        ProjectState::Delivered,
        ProjectState::Rejected,
        ProjectState::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectState::Draft => "draft",
            ProjectState::Submitted => "submitted",
            ProjectState::Quoted => "quoted",
            ProjectState::Approved => "approved",
            ProjectState::InProgress => "in_progress",
            ProjectState::InQa => "in_qa",
            ProjectState::Delivered => "delivered",
            ProjectState::Rejected => "rejected",
            ProjectState::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<ProjectState> {
        ProjectState::ALL.into_iter().find(|m| m.as_str() == s)
    }
    /// Can the client still change the specification (and upload data)?
    pub fn spec_editable(self) -> bool {
        matches!(self, ProjectState::Draft | ProjectState::Submitted | ProjectState::Quoted | ProjectState::Rejected)
    }
}

/// A step of the lifecycle, as requested through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Client: send the specification to the PM.
    Submit,
    /// PM: issue a quote (the quote itself travels separately).
    Quote,
    /// Client admin: accept the quote.
    Approve,
    /// Client admin: turn the quote down, with a comment.
    Reject,
    /// PM: start the work (tasks are routed from now on).
    Start,
    /// PM: all tasks annotated; QA finishes.
    SendToQa,
    /// PM: the certified delivery is released.
    Deliver,
    /// Client admin (until approved) or PM/admin (any time before delivery).
    Cancel,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Submit => "submit",
            Step::Quote => "quote",
            Step::Approve => "approve",
            Step::Reject => "reject",
            Step::Start => "start",
            Step::SendToQa => "send_to_qa",
            Step::Deliver => "deliver",
            Step::Cancel => "cancel",
        }
    }
}

/// The state a step leads to from `from`, if `role` may take it there.
/// `Err(Forbidden)` when the role never takes this step, `Err(InvalidTransition)`
/// when the role could but not from this state.
pub fn transition(from: ProjectState, step: Step, role: Role) -> Result<ProjectState, DomainError> {
    use ProjectState::*;
    let client = matches!(role, Role::ClientAdmin | Role::ClientMember);
    let client_admin = role == Role::ClientAdmin;
    let pm = matches!(role, Role::Pm | Role::Admin);
    let (allowed_role, to) = match step {
        Step::Submit => (client, matches!(from, Draft | Rejected).then_some(Submitted)),
        Step::Quote => (pm, matches!(from, Submitted | Quoted).then_some(Quoted)),
        Step::Approve => (client_admin, (from == Quoted).then_some(Approved)),
        Step::Reject => (client_admin, (from == Quoted).then_some(Rejected)),
        Step::Start => (pm, (from == Approved).then_some(InProgress)),
        Step::SendToQa => (pm, (from == InProgress).then_some(InQa)),
        Step::Deliver => (pm, (from == InQa).then_some(Delivered)),
        Step::Cancel => {
            let open = !matches!(from, Delivered | Cancelled);
            let before_approval = matches!(from, Draft | Submitted | Quoted | Rejected);
            (client_admin || pm, (open && (pm || before_approval)).then_some(Cancelled))
        }
    };
    if !allowed_role {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message(format!("Your role cannot {} a project.", step.as_str().replace('_', " "))));
    }
    to.ok_or_else(|| {
        DomainError::new(ErrorCode::InvalidTransition)
            .with_message(format!("A project that is {} cannot be sent to {}.", from.as_str().replace('_', " "), step.as_str().replace('_', " ")))
            .with_details(serde_json::json!({ "state": from, "step": step }))
    })
}

// -- the label schema ----------------------------------------------------------------

/// A choosable label: entity type, image label, classification option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelDef {
    pub id: String,
    pub name: String,
    /// One key to pick it in the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotkey: Option<String>,
    /// `#rrggbb` for drawing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// The code system this entity type's codes come from (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_system: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationType {
    pub id: String,
    pub name: String,
    /// Entity type ids allowed at the head.
    pub from: Vec<String>,
    /// Entity type ids allowed at the tail.
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    Single,
    Multiple,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionLevel {
    Document,
    Sentence,
    Image,
    Series,
    Study,
    Item,
}

/// A classification question (specialty, document type, severity, laterality…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub kind: AnswerKind,
    #[serde(default = "default_level")]
    pub level: QuestionLevel,
    pub options: Vec<LabelDef>,
    #[serde(default = "yes")]
    pub required: bool,
    /// Answers are ordered (e.g. severity): agreement uses ordinal weights.
    #[serde(default)]
    pub ordinal: bool,
}

fn default_level() -> QuestionLevel {
    QuestionLevel::Item
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub id: String,
    pub name: String,
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageTool {
    #[serde(rename = "bounding_box_2d")]
    BoundingBox2d,
    #[serde(rename = "bounding_box_3d")]
    BoundingBox3d,
    Polygon,
    Freehand,
    Spline,
    Brush,
    Keypoints,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    pub tool: ImageTool,
    /// Labels drawable with this tool (not for keypoints).
    #[serde(default)]
    pub labels: Vec<LabelDef>,
    /// For `keypoints`: the keypoint set to place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keypoint_set: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeypointSet {
    pub id: String,
    pub name: String,
    pub points: Vec<String>,
    /// Pairs of point indexes drawn as a skeleton.
    #[serde(default)]
    pub edges: Vec<[usize; 2]>,
}

/// The code systems a schema may bind.
pub const CODE_SYSTEMS: &[&str] = &["icd10cm", "icd10pcs", "snomedct", "loinc", "rxnorm", "meddra", "cpt", "hcpcs"];

/// The assertion values of clinical text (ConText/i2b2).
pub const ASSERTION_VALUES: &[&str] = &["present", "absent", "possible", "historical", "family_history", "hypothetical"];

/// The label schema of a project: what taskers may mark and answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelSchema {
    #[serde(default)]
    pub entity_types: Vec<LabelDef>,
    #[serde(default)]
    pub relation_types: Vec<RelationType>,
    /// A subset of present, absent, possible, historical, family_history, hypothetical.
    #[serde(default)]
    pub assertion_values: Vec<String>,
    #[serde(default)]
    pub questions: Vec<Question>,
    #[serde(default)]
    pub criteria: Vec<Criterion>,
    #[serde(default)]
    pub image_tools: Vec<ToolDef>,
    #[serde(default)]
    pub keypoint_sets: Vec<KeypointSet>,
}

impl LabelSchema {
    /// How many things a tasker chooses between: a complexity measure for pricing.
    pub fn size(&self) -> usize {
        self.entity_types.len()
            + self.relation_types.len()
            + self.assertion_values.len()
            + self.questions.iter().map(|q| 1 + q.options.len()).sum::<usize>()
            + self.criteria.len()
            + self.image_tools.iter().map(|t| 1 + t.labels.len()).sum::<usize>()
            + self.keypoint_sets.iter().map(|k| k.points.len()).sum::<usize>()
    }
}

/// QA settings of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QaConfig {
    /// Tier 1: peer review by another certified tasker.
    pub tier1: bool,
    /// Tier 2: share of items a QA reviewer checks, 0–100 %.
    pub tier2_sampling_pct: f64,
    /// Tier 3: PM spot-check share of each finished batch, 5–10 %.
    pub tier3_spot_check_pct: f64,
    /// Minimum agreement / gold accuracy (0–1) for a batch to be approved.
    pub quality_threshold: f64,
    /// After this many rejections an item escalates to the QA reviewer.
    #[serde(default = "default_rounds")]
    pub max_rework_rounds: u32,
}

fn default_rounds() -> u32 {
    3
}

impl Default for QaConfig {
    fn default() -> Self {
        QaConfig { tier1: true, tier2_sampling_pct: 100.0, tier3_spot_check_pct: 5.0, quality_threshold: 0.8, max_rework_rounds: 3 }
    }
}

/// A project specification as the client writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    pub modality: Modality,
    pub task_types: Vec<String>,
    pub schema: LabelSchema,
    /// Annotation guidelines, Markdown.
    #[serde(default)]
    pub guidelines: String,
    pub output_formats: Vec<String>,
    /// Epoch milliseconds.
    pub deadline: i64,
    /// The specialist track whose certified taskers do the work.
    pub track_id: String,
    /// Independent annotations per item.
    pub overlap: u32,
    /// Share of gold items mixed in, 0–0.5.
    pub gold_rate: f64,
    pub qa: QaConfig,
    /// How DICOM files are de-identified at ingest (image projects).
    #[serde(default)]
    pub deidentification: Deidentification,
    /// Text projects: the header of the CSV column that holds each note's
    /// text (default `text`); the other columns become the note's metadata,
    /// an `id` column its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_column: Option<String>,
}

/// The CSV text column when the specification names none.
pub const DEFAULT_TEXT_COLUMN: &str = "text";

/// The PS3.15 Annex E option for dates and times in DICOM attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DicomDates {
    /// Basic Profile: dates removed, emptied or replaced per the table.
    #[default]
    Remove,
    /// Retain Longitudinal Temporal Information, Modified Dates: every date
    /// moves by one offset per project, so intervals are kept.
    Shift,
    /// Retain Longitudinal Temporal Information, Full Dates: kept.
    Keep,
}

/// De-identification at ingest: taskers only ever receive its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deidentification {
    #[serde(default)]
    pub dates: DicomDates,
}

/// Collects the first problem with its path.
struct Check {
    problem: Option<(String, String)>,
}

impl Check {
    fn fail(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some((path.into(), problem.into()));
        }
    }
    fn ensure(&mut self, ok: bool, path: impl FnOnce() -> String, problem: &str) {
        if !ok {
            self.fail(path(), problem);
        }
    }
}

fn id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_labels(c: &mut Check, path: &str, labels: &[LabelDef], ids: &mut HashSet<String>) {
    for (i, l) in labels.iter().enumerate() {
        let p = format!("{path}[{i}]");
        c.ensure(id_ok(&l.id), || format!("{p}.id"), "use 1–64 letters, digits, '_' or '-'");
        c.ensure(ids.insert(l.id.clone()), || format!("{p}.id"), "is used twice");
        c.ensure(!l.name.trim().is_empty() && l.name.chars().count() <= 200, || format!("{p}.name"), "must be 1 to 200 characters");
        if let Some(h) = &l.hotkey {
            c.ensure(h.chars().count() == 1, || format!("{p}.hotkey"), "must be a single key");
        }
        if let Some(col) = &l.color {
            c.ensure(col.len() == 7 && col.starts_with('#') && col[1..].chars().all(|ch| ch.is_ascii_hexdigit()), || format!("{p}.color"), "must be #rrggbb");
        }
        if let Some(cs) = &l.code_system {
            c.ensure(CODE_SYSTEMS.contains(&cs.as_str()), || format!("{p}.code_system"), "is not a known code system");
        }
    }
}

impl Spec {
    /// The CSV column holding each note's text (text projects).
    pub fn text_column(&self) -> &str {
        self.text_column.as_deref().unwrap_or(DEFAULT_TEXT_COLUMN)
    }

    /// Validates everything; the error names the path of the first offending field.
    /// `now` is epoch ms; `track_exists` says whether the track id names an active track.
    pub fn validate(&self, now: i64, track_exists: bool) -> Result<(), DomainError> {
        let mut c = Check { problem: None };
        c.ensure(!self.name.trim().is_empty() && self.name.chars().count() <= 200, || "name".into(), "must be 1 to 200 characters");
        c.ensure(!self.task_types.is_empty(), || "task_types".into(), "name at least one task type");
        let mut seen = HashSet::new();
        for (i, t) in self.task_types.iter().enumerate() {
            c.ensure(self.modality.task_types().contains(&t.as_str()), || format!("task_types[{i}]"), &format!("is not a {} task type; use one of {}", self.modality.as_str(), self.modality.task_types().join(", ")));
            c.ensure(seen.insert(t.clone()), || format!("task_types[{i}]"), "is listed twice");
        }
        c.ensure(!self.output_formats.is_empty(), || "output_formats".into(), "name at least one output format");
        for (i, f) in self.output_formats.iter().enumerate() {
            c.ensure(self.modality.output_formats().contains(&f.as_str()), || format!("output_formats[{i}]"), &format!("is not a {} format; use one of {}", self.modality.as_str(), self.modality.output_formats().join(", ")));
        }
        c.ensure(self.deadline > now, || "deadline".into(), "must be in the future");
        c.ensure(track_exists, || "track_id".into(), "is not an active specialist track");
        c.ensure((1..=10).contains(&self.overlap), || "overlap".into(), "must be 1 to 10 annotators per item");
        c.ensure(self.gold_rate.is_finite() && (0.0..=0.5).contains(&self.gold_rate), || "gold_rate".into(), "must be between 0 and 0.5");
        c.ensure(self.guidelines.len() <= 1 << 20, || "guidelines".into(), "must be at most 1 MiB");
        let q = &self.qa;
        c.ensure(q.tier2_sampling_pct.is_finite() && (0.0..=100.0).contains(&q.tier2_sampling_pct), || "qa.tier2_sampling_pct".into(), "must be 0 to 100");
        c.ensure(q.tier3_spot_check_pct.is_finite() && (5.0..=10.0).contains(&q.tier3_spot_check_pct), || "qa.tier3_spot_check_pct".into(), "must be 5 to 10");
        c.ensure(q.quality_threshold.is_finite() && (0.0..=1.0).contains(&q.quality_threshold), || "qa.quality_threshold".into(), "must be 0 to 1");
        c.ensure((1..=10).contains(&q.max_rework_rounds), || "qa.max_rework_rounds".into(), "must be 1 to 10");
        if let Some(col) = &self.text_column {
            c.ensure(self.modality == Modality::Text, || "text_column".into(), "applies to text projects only");
            c.ensure((1..=200).contains(&col.chars().count()), || "text_column".into(), "must be 1 to 200 characters");
            c.ensure(!col.chars().any(char::is_control), || "text_column".into(), "must not contain control characters (tabs, line breaks)");
        }
        self.validate_schema(&mut c);
        match c.problem {
            None => Ok(()),
            Some((path, problem)) => Err(DomainError::field(&path, problem)),
        }
    }

    fn validate_schema(&self, c: &mut Check) {
        let s = &self.schema;
        let needs = |t: &str| self.task_types.iter().any(|x| x == t);
        let mut entity_ids = HashSet::new();
        check_labels(c, "schema.entity_types", &s.entity_types, &mut entity_ids);
        let mut rel_ids = HashSet::new();
        for (i, r) in s.relation_types.iter().enumerate() {
            let p = format!("schema.relation_types[{i}]");
            c.ensure(id_ok(&r.id), || format!("{p}.id"), "use 1–64 letters, digits, '_' or '-'");
            c.ensure(rel_ids.insert(r.id.clone()), || format!("{p}.id"), "is used twice");
            c.ensure(!r.name.trim().is_empty(), || format!("{p}.name"), "must not be empty");
            c.ensure(!r.from.is_empty(), || format!("{p}.from"), "name at least one entity type");
            c.ensure(!r.to.is_empty(), || format!("{p}.to"), "name at least one entity type");
            for (j, e) in r.from.iter().enumerate() {
                c.ensure(entity_ids.contains(e), || format!("{p}.from[{j}]"), "is not an entity type of this schema");
            }
            for (j, e) in r.to.iter().enumerate() {
                c.ensure(entity_ids.contains(e), || format!("{p}.to[{j}]"), "is not an entity type of this schema");
            }
        }
        let mut seen = HashSet::new();
        for (i, a) in s.assertion_values.iter().enumerate() {
            c.ensure(ASSERTION_VALUES.contains(&a.as_str()), || format!("schema.assertion_values[{i}]"), &format!("use one of {}", ASSERTION_VALUES.join(", ")));
            c.ensure(seen.insert(a.clone()), || format!("schema.assertion_values[{i}]"), "is listed twice");
        }
        let mut qids = HashSet::new();
        for (i, q) in s.questions.iter().enumerate() {
            let p = format!("schema.questions[{i}]");
            c.ensure(id_ok(&q.id), || format!("{p}.id"), "use 1–64 letters, digits, '_' or '-'");
            c.ensure(qids.insert(q.id.clone()), || format!("{p}.id"), "is used twice");
            c.ensure(!q.text.trim().is_empty() && q.text.chars().count() <= 500, || format!("{p}.text"), "must be 1 to 500 characters");
            c.ensure(q.options.len() >= 2, || format!("{p}.options"), "a question needs at least two options");
            let mut oids = HashSet::new();
            check_labels(c, &format!("{p}.options"), &q.options, &mut oids);
        }
        let mut cids = HashSet::new();
        for (i, k) in s.criteria.iter().enumerate() {
            let p = format!("schema.criteria[{i}]");
            c.ensure(id_ok(&k.id), || format!("{p}.id"), "use 1–64 letters, digits, '_' or '-'");
            c.ensure(cids.insert(k.id.clone()), || format!("{p}.id"), "is used twice");
            c.ensure(k.min < k.max && k.max - k.min <= 100, || format!("{p}.max"), "the scale needs min < max (at most 100 steps)");
        }
        let mut kids = HashSet::new();
        for (i, k) in s.keypoint_sets.iter().enumerate() {
            let p = format!("schema.keypoint_sets[{i}]");
            c.ensure(id_ok(&k.id), || format!("{p}.id"), "use 1–64 letters, digits, '_' or '-'");
            c.ensure(kids.insert(k.id.clone()), || format!("{p}.id"), "is used twice");
            c.ensure(!k.points.is_empty(), || format!("{p}.points"), "name at least one point");
            for (j, e) in k.edges.iter().enumerate() {
                c.ensure(e[0] < k.points.len() && e[1] < k.points.len() && e[0] != e[1], || format!("{p}.edges[{j}]"), "must join two different points of the set");
            }
        }
        let mut tools = HashSet::new();
        for (i, t) in s.image_tools.iter().enumerate() {
            let p = format!("schema.image_tools[{i}]");
            c.ensure(tools.insert(t.tool), || format!("{p}.tool"), "is listed twice");
            if t.tool == ImageTool::Keypoints {
                c.ensure(t.keypoint_set.as_ref().is_some_and(|k| kids.contains(k)), || format!("{p}.keypoint_set"), "name a keypoint set of this schema");
            } else {
                c.ensure(!t.labels.is_empty(), || format!("{p}.labels"), "name at least one label");
                let mut lids = HashSet::new();
                check_labels(c, &format!("{p}.labels"), &t.labels, &mut lids);
            }
        }
        // What the task types need must be in the schema.
        let need = |c: &mut Check, ok: bool, path: &str, what: &str| c.ensure(ok, || path.to_string(), what);
        if needs("entities") || needs("entity_tagging") {
            need(c, !s.entity_types.is_empty(), "schema.entity_types", "entity tagging needs at least one entity type");
        }
        if needs("relations") {
            need(c, !s.relation_types.is_empty(), "schema.relation_types", "relation extraction needs at least one relation type");
        }
        if needs("assertion") {
            need(c, !s.assertion_values.is_empty(), "schema.assertion_values", "assertion classification needs assertion values");
        }
        if needs("coding") || needs("adverse_event_coding") {
            need(c, s.entity_types.iter().any(|e| e.code_system.is_some()), "schema.entity_types", "code assignment needs an entity type bound to a code system");
        }
        if needs("classification") || needs("dialogue_acts") || needs("biomarker_relevance") || needs("safety") {
            need(c, !s.questions.is_empty(), "schema.questions", "classification needs at least one question");
        }
        if needs("scoring") {
            need(c, !s.criteria.is_empty(), "schema.criteria", "scoring needs at least one criterion");
        }
        if needs("bounding_box") {
            need(c, s.image_tools.iter().any(|t| matches!(t.tool, ImageTool::BoundingBox2d | ImageTool::BoundingBox3d)), "schema.image_tools", "bounding boxes need a bounding_box_2d or _3d tool");
        }
        if needs("segmentation") {
            need(c, s.image_tools.iter().any(|t| matches!(t.tool, ImageTool::Polygon | ImageTool::Freehand | ImageTool::Spline | ImageTool::Brush)), "schema.image_tools", "segmentation needs a polygon, freehand, spline or brush tool");
        }
        if needs("keypoints") {
            need(c, s.image_tools.iter().any(|t| t.tool == ImageTool::Keypoints), "schema.image_tools", "keypoints need a keypoints tool");
        }
        if self.modality != Modality::Image {
            need(c, s.image_tools.is_empty(), "schema.image_tools", "image tools belong to image projects");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    pub(crate) fn text_spec() -> Spec {
        serde_json::from_value(serde_json::json!({
            "name": "Discharge summaries — problems and medications",
            "modality": "text",
            "task_types": ["entities", "relations", "assertion", "coding"],
            "schema": {
                "entity_types": [
                    { "id": "disease", "name": "Disease", "hotkey": "d", "code_system": "icd10cm" },
                    { "id": "medication", "name": "Medication", "hotkey": "m", "code_system": "rxnorm" }
                ],
                "relation_types": [{ "id": "treats", "name": "medication–indication", "from": ["medication"], "to": ["disease"] }],
                "assertion_values": ["present", "absent", "possible"]
            },
            "guidelines": "# Guidelines\nMark every disease.",
            "output_formats": ["brat", "native_jsonl"],
            "deadline": NOW + 30 * 86_400_000i64,
            "track_id": "t1",
            "overlap": 2,
            "gold_rate": 0.05,
            "qa": { "tier1": true, "tier2_sampling_pct": 20, "tier3_spot_check_pct": 5, "quality_threshold": 0.8 }
        }))
        .unwrap()
    }

    /// One helper: mutate a valid spec, expect the error at `path`.
    fn check(mutate: impl FnOnce(&mut Spec), path: &str) {
        let mut s = text_spec();
        mutate(&mut s);
        let e = s.validate(NOW, true).expect_err(path);
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert_eq!(e.details.as_ref().unwrap()["field"], path, "{}", e.message());
    }

    #[test]
    fn a_sound_spec_validates() {
        text_spec().validate(NOW, true).unwrap();
        assert_eq!(text_spec().schema.size(), 2 + 1 + 3);
    }

    #[test]
    fn errors_name_the_offending_path() {
        check(|s| s.schema.relation_types[0].to[0] = "symptom".into(), "schema.relation_types[0].to[0]");
        check(|s| s.schema.entity_types[1].id = "disease".into(), "schema.entity_types[1].id");
        check(|s| s.schema.entity_types[0].code_system = Some("icd9".into()), "schema.entity_types[0].code_system");
        check(|s| s.schema.assertion_values.push("maybe".into()), "schema.assertion_values[3]");
        check(|s| s.task_types.push("bounding_box".into()), "task_types[4]");
        check(|s| s.output_formats = vec!["coco".into()], "output_formats[0]");
        check(|s| s.qa.tier3_spot_check_pct = 12.0, "qa.tier3_spot_check_pct");
        check(|s| s.qa.tier3_spot_check_pct = 4.9, "qa.tier3_spot_check_pct");
        check(|s| s.overlap = 0, "overlap");
        check(|s| s.gold_rate = 0.9, "gold_rate");
        check(|s| s.deadline = NOW - 1, "deadline");
        check(|s| s.schema.relation_types.clear(), "schema.relation_types");
        check(|s| s.schema.entity_types[0].color = Some("red".into()), "schema.entity_types[0].color");
        check(|s| s.schema.questions.push(Question { id: "q".into(), text: "Specialty?".into(), kind: AnswerKind::Single, level: QuestionLevel::Document, options: vec![], required: true, ordinal: false }), "schema.questions[0].options");
        let e = text_spec().validate(NOW, false).unwrap_err();
        assert_eq!(e.details.unwrap()["field"], "track_id");
    }

    #[test]
    fn the_csv_text_column_defaults_and_is_checked() {
        let s = text_spec();
        assert_eq!((s.text_column.as_deref(), s.text_column()), (None, DEFAULT_TEXT_COLUMN));
        // Older specifications (without the field) still parse, and it is not written when unset.
        assert!(serde_json::to_value(&s).unwrap().get("text_column").is_none());
        let mut named = text_spec();
        named.text_column = Some("note body".into());
        named.validate(NOW, true).unwrap();
        assert_eq!(named.text_column(), "note body");
        let back: Spec = serde_json::from_value(serde_json::to_value(&named).unwrap()).unwrap();
        assert_eq!(back.text_column(), "note body");
        check(|s| s.text_column = Some(String::new()), "text_column");
        check(|s| s.text_column = Some("a\tb".into()), "text_column");
        check(|s| s.text_column = Some("x".repeat(201)), "text_column");
        let mut image: Spec = serde_json::from_value(serde_json::json!({
            "name": "CT", "modality": "image", "task_types": ["bounding_box"],
            "schema": { "image_tools": [{ "tool": "bounding_box_2d", "labels": [{ "id": "lesion", "name": "Lesion" }] }] },
            "output_formats": ["coco"], "deadline": NOW + 1, "track_id": "t1", "overlap": 1, "gold_rate": 0.0,
            "qa": { "tier1": true, "tier2_sampling_pct": 20, "tier3_spot_check_pct": 5, "quality_threshold": 0.8 }
        }))
        .unwrap();
        image.validate(NOW, true).unwrap();
        image.text_column = Some("text".into());
        assert_eq!(image.validate(NOW, true).unwrap_err().details.unwrap()["field"], "text_column");
    }

    #[test]
    fn unknown_schema_fields_are_refused_by_the_parser() {
        let mut v = serde_json::to_value(text_spec()).unwrap();
        v["schema"]["entity_types"][0]["colour"] = serde_json::json!("#ff0000");
        assert!(serde_json::from_value::<Spec>(v).is_err());
    }

    #[test]
    fn image_schemas_check_tools_and_keypoints() {
        let mut s: Spec = serde_json::from_value(serde_json::json!({
            "name": "Chest CT nodules", "modality": "image", "task_types": ["bounding_box", "keypoints", "classification"],
            "schema": {
                "image_tools": [
                    { "tool": "bounding_box_3d", "labels": [{ "id": "nodule", "name": "Nodule", "color": "#ff8800" }] },
                    { "tool": "keypoints", "keypoint_set": "carina" }
                ],
                "keypoint_sets": [{ "id": "carina", "name": "Airway landmarks", "points": ["carina", "left main", "right main"], "edges": [[0, 1], [0, 2]] }],
                "questions": [{ "id": "laterality", "text": "Laterality", "kind": "single", "level": "series",
                    "options": [{ "id": "left", "name": "Left" }, { "id": "right", "name": "Right" }, { "id": "bilateral", "name": "Bilateral" }] }]
            },
            "output_formats": ["coco", "dicom_seg"], "deadline": NOW + 1, "track_id": "t", "overlap": 1, "gold_rate": 0.0,
            "qa": { "tier1": false, "tier2_sampling_pct": 100, "tier3_spot_check_pct": 10, "quality_threshold": 0.7 }
        }))
        .unwrap();
        s.validate(NOW, true).unwrap();
        s.schema.keypoint_sets[0].edges.push([1, 3]);
        assert_eq!(s.validate(NOW, true).unwrap_err().details.unwrap()["field"], "schema.keypoint_sets[0].edges[2]");
    }

    #[test]
    fn the_state_machine_allows_only_the_right_role_and_state() {
        use ProjectState::*;
        use Role::*;
        let ok = |from, step, role| transition(from, step, role).unwrap();
        assert_eq!(ok(Draft, Step::Submit, ClientMember), Submitted);
        assert_eq!(ok(Submitted, Step::Quote, Pm), Quoted);
        assert_eq!(ok(Quoted, Step::Quote, Pm), Quoted);
        assert_eq!(ok(Quoted, Step::Approve, ClientAdmin), Approved);
        assert_eq!(ok(Quoted, Step::Reject, ClientAdmin), Rejected);
        assert_eq!(ok(Rejected, Step::Submit, ClientAdmin), Submitted);
        assert_eq!(ok(Approved, Step::Start, Pm), InProgress);
        assert_eq!(ok(InProgress, Step::SendToQa, Pm), InQa);
        assert_eq!(ok(InQa, Step::Deliver, Pm), Delivered);
        assert_eq!(ok(Quoted, Step::Cancel, ClientAdmin), Cancelled);
        assert_eq!(ok(InProgress, Step::Cancel, Admin), Cancelled);
        let code = |from, step, role| transition(from, step, role).unwrap_err().code;
        assert_eq!(code(Quoted, Step::Approve, ClientMember), ErrorCode::Forbidden);
        assert_eq!(code(Submitted, Step::Quote, Tasker), ErrorCode::Forbidden);
        assert_eq!(code(Draft, Step::Approve, ClientAdmin), ErrorCode::InvalidTransition);
        assert_eq!(code(Draft, Step::Quote, Pm), ErrorCode::InvalidTransition);
        assert_eq!(code(InProgress, Step::Cancel, ClientAdmin), ErrorCode::InvalidTransition);
        assert_eq!(code(Delivered, Step::Cancel, Pm), ErrorCode::InvalidTransition);
        assert_eq!(code(Approved, Step::Submit, ClientAdmin), ErrorCode::InvalidTransition);
        // Every state × step × role either moves somewhere or refuses with one of the two codes.
        for from in ProjectState::ALL {
            for step in [Step::Submit, Step::Quote, Step::Approve, Step::Reject, Step::Start, Step::SendToQa, Step::Deliver, Step::Cancel] {
                for role in Role::ALL {
                    if let Err(e) = transition(from, step, role) {
                        assert!(matches!(e.code, ErrorCode::Forbidden | ErrorCode::InvalidTransition));
                    }
                }
            }
        }
    }
}
