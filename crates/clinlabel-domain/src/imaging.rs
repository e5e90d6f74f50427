//! What a tasker submits for an image item: shapes in image coordinates,
//! label maps, and image-level answers — and its check against the schema.
//!
//! Coordinates are pixel columns (`x`) and rows (`y`) of the frame, with
//! (0, 0) the top-left corner of the first pixel and (columns, rows) the
//! bottom-right corner of the last; `frame` is the 0-based index in the
//! series' viewing order (the frame service's order). A 3D box spans frames
//! `frames[0]..=frames[1]`. A spline stores its control points; the curve is
//! the closed centripetal Catmull-Rom spline through them ([`spline_polygon`]).
//! Label maps are stored per frame and label as run lengths over the frame's
//! pixels in row-major order, alternating background / foreground and
//! starting with background (COCO's uncompressed RLE, but row-major).

use crate::DomainError;
use crate::project::{ImageTool, LabelSchema, QuestionLevel};
use crate::qa::{Answers, validate_answers};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use utoipa::ToSchema;

/// A shape's geometry, tagged by the tool that drew it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "tool", rename_all = "snake_case", deny_unknown_fields)]
pub enum Geometry {
    #[serde(rename = "bounding_box_2d")]
    BoundingBox2d { frame: u32, x0: f64, y0: f64, x1: f64, y1: f64 },
    #[serde(rename = "bounding_box_3d")]
    BoundingBox3d { frames: [u32; 2], x0: f64, y0: f64, x1: f64, y1: f64 },
    Polygon { frame: u32, points: Vec<[f64; 2]> },
    Freehand { frame: u32, points: Vec<[f64; 2]> },
    Spline { frame: u32, control_points: Vec<[f64; 2]> },
    /// One entry per point of the keypoint set, in the set's order; `null`
    /// for a point not visible.
    Keypoints { frame: u32, points: Vec<Option<[f64; 2]>> },
}

impl Geometry {
    pub fn tool(&self) -> ImageTool {
        match self {
            Geometry::BoundingBox2d { .. } => ImageTool::BoundingBox2d,
            Geometry::BoundingBox3d { .. } => ImageTool::BoundingBox3d,
            Geometry::Polygon { .. } => ImageTool::Polygon,
            Geometry::Freehand { .. } => ImageTool::Freehand,
            Geometry::Spline { .. } => ImageTool::Spline,
            Geometry::Keypoints { .. } => ImageTool::Keypoints,
        }
    }
    /// The closed outline of a polygon, freehand or spline shape on its
    /// frame (the spline interpolated with [`SPLINE_POINTS_PER_SEGMENT`]
    /// points between control points); `None` for boxes and keypoints.
    pub fn outline(&self) -> Option<(u32, Vec<[f64; 2]>)> {
        match self {
            Geometry::Polygon { frame, points } | Geometry::Freehand { frame, points } => Some((*frame, points.clone())),
            Geometry::Spline { frame, control_points } => Some((*frame, spline_polygon(control_points, SPLINE_POINTS_PER_SEGMENT))),
            _ => None,
        }
    }
    /// The frames the shape is on (first, last).
    pub fn frames(&self) -> (u32, u32) {
        match self {
            Geometry::BoundingBox3d { frames, .. } => (frames[0], frames[1]),
            Geometry::BoundingBox2d { frame, .. }
            | Geometry::Polygon { frame, .. }
            | Geometry::Freehand { frame, .. }
            | Geometry::Spline { frame, .. }
            | Geometry::Keypoints { frame, .. } => (*frame, *frame),
        }
    }
}

/// A vector annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shape {
    /// Unique within the annotation; reviewers anchor comments to `shape:<id>`.
    pub id: String,
    /// The label id (for keypoints: the keypoint set id).
    pub label: String,
    #[serde(flatten)]
    pub geometry: Geometry,
}

/// One label's pixels on one frame (semantic segmentation; `instance` > 0
/// separates instances of one label for instance segmentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskFrame {
    pub frame: u32,
    pub label: String,
    #[serde(default)]
    pub instance: u32,
    pub rows: u32,
    pub columns: u32,
    /// Run lengths, row-major, background first.
    pub rle: Vec<u32>,
}

impl MaskFrame {
    /// The mask as one byte per pixel (0/1).
    pub fn decode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.rows * self.columns) as usize);
        for (i, &n) in self.rle.iter().enumerate() {
            out.extend(std::iter::repeat_n((i % 2) as u8, n as usize));
        }
        out
    }
    /// Run lengths of a 0/1 mask.
    pub fn encode(mask: &[u8]) -> Vec<u32> {
        let mut runs = Vec::new();
        let (mut cur, mut n) = (0u8, 0u32);
        for &v in mask {
            let v = (v != 0) as u8;
            if v == cur {
                n += 1;
            } else {
                runs.push(n);
                cur = v;
                n = 1;
            }
        }
        runs.push(n);
        runs
    }
}

/// The image part of an annotation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageAnnotation {
    #[serde(default)]
    pub shapes: Vec<Shape>,
    #[serde(default)]
    pub masks: Vec<MaskFrame>,
    /// Answers to image-level questions, per frame.
    #[serde(default)]
    pub frame_answers: BTreeMap<u32, Answers>,
}

/// The item's extent, as far as the caller knows it.
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    pub frames: u32,
}

fn finite(p: &[f64]) -> bool {
    p.iter().all(|v| v.is_finite() && *v >= 0.0)
}

/// Checks an image annotation against the schema; the error names the path
/// (e.g. `image.shapes[2].points`).
pub fn validate(schema: &LabelSchema, a: &ImageAnnotation, extent: Option<Extent>) -> Result<(), DomainError> {
    let mut ids = HashSet::new();
    let frame_ok = |f: u32| extent.is_none_or(|e| f < e.frames);
    for (i, s) in a.shapes.iter().enumerate() {
        let p = format!("image.shapes[{i}]");
        if s.id.is_empty() || s.id.len() > 64 || !ids.insert(s.id.as_str()) {
            return Err(DomainError::field(&format!("{p}.id"), "must be 1–64 characters and unique in the annotation"));
        }
        let tool = s.geometry.tool();
        let Some(def) = schema.image_tools.iter().find(|t| t.tool == tool) else {
            return Err(DomainError::field(&format!("{p}.tool"), "is not a tool of this project"));
        };
        if tool == ImageTool::Keypoints {
            let set = schema.keypoint_sets.iter().find(|k| Some(&k.id) == def.keypoint_set.as_ref() && k.id == s.label);
            let Some(set) = set else {
                return Err(DomainError::field(&format!("{p}.label"), "is not the keypoint set of the keypoints tool"));
            };
            if let Geometry::Keypoints { points, .. } = &s.geometry
                && points.len() != set.points.len()
            {
                return Err(DomainError::field(&format!("{p}.points"), format!("needs one entry per point of {} ({}), null when not visible", set.id, set.points.len())));
            }
        } else if !def.labels.iter().any(|l| l.id == s.label) {
            return Err(DomainError::field(&format!("{p}.label"), "is not a label of this tool"));
        }
        let (f0, f1) = s.geometry.frames();
        if f0 > f1 || !frame_ok(f1) {
            return Err(DomainError::field(&format!("{p}.frame"), "is outside the item's frames"));
        }
        let (ok, what) = match &s.geometry {
            Geometry::BoundingBox2d { x0, y0, x1, y1, .. } | Geometry::BoundingBox3d { x0, y0, x1, y1, .. } => {
                (finite(&[*x0, *y0, *x1, *y1]) && x1 > x0 && y1 > y0, "x0 < x1 and y0 < y1, non-negative")
            }
            Geometry::Polygon { points, .. } | Geometry::Freehand { points, .. } => {
                (points.len() >= 3 && points.len() <= 100_000 && points.iter().all(|q| finite(q)), "at least 3 non-negative points")
            }
            Geometry::Spline { control_points, .. } => {
                (control_points.len() >= 3 && control_points.len() <= 10_000 && control_points.iter().all(|q| finite(q)), "at least 3 non-negative control points")
            }
            Geometry::Keypoints { points, .. } => (points.iter().flatten().all(|q| finite(q)), "non-negative points"),
        };
        if !ok {
            return Err(DomainError::field(&format!("{p}.geometry"), format!("needs {what}")));
        }
    }
    for (i, m) in a.masks.iter().enumerate() {
        let p = format!("image.masks[{i}]");
        let brush = schema.image_tools.iter().find(|t| t.tool == ImageTool::Brush);
        if !brush.is_some_and(|b| b.labels.iter().any(|l| l.id == m.label)) {
            return Err(DomainError::field(&format!("{p}.label"), "is not a label of the brush tool"));
        }
        if !frame_ok(m.frame) {
            return Err(DomainError::field(&format!("{p}.frame"), "is outside the item's frames"));
        }
        let total: u64 = m.rle.iter().map(|&n| n as u64).sum();
        if total != m.rows as u64 * m.columns as u64 || m.rows == 0 || m.columns == 0 {
            return Err(DomainError::field(&format!("{p}.rle"), "run lengths must add up to rows × columns"));
        }
    }
    // Image-level questions are answered per frame, none of them compulsory
    // on every frame.
    let per_frame = LabelSchema {
        questions: schema.questions.iter().filter(|q| q.level == QuestionLevel::Image).map(|q| crate::project::Question { required: false, ..q.clone() }).collect(),
        ..LabelSchema::default()
    };
    for (f, answers) in &a.frame_answers {
        if !frame_ok(*f) {
            return Err(DomainError::field(&format!("image.frame_answers.{f}"), "is outside the item's frames"));
        }
        for qid in answers.keys() {
            if !schema.questions.iter().any(|q| &q.id == qid && q.level == QuestionLevel::Image) {
                return Err(DomainError::field(&format!("image.frame_answers.{f}.{qid}"), "is not an image-level question"));
            }
        }
        validate_answers(&per_frame, answers).map_err(|e| DomainError::field(&format!("image.frame_answers.{f}"), e.message().to_string()))?;
    }
    Ok(())
}

/// The schema an image item's own `answers` are checked against: every
/// question but the image-level ones (those go in `frame_answers`).
pub fn item_level(schema: &LabelSchema) -> LabelSchema {
    LabelSchema { questions: schema.questions.iter().filter(|q| q.level != QuestionLevel::Image).cloned().collect(), ..schema.clone() }
}

/// Points of a spline's interpolated polygon between two control points
/// (what QA measures and every export rasterises).
pub const SPLINE_POINTS_PER_SEGMENT: usize = 16;

/// The closed centripetal Catmull-Rom curve through `control` as a polygon
/// (`per_segment` points between consecutive control points).
pub fn spline_polygon(control: &[[f64; 2]], per_segment: usize) -> Vec<[f64; 2]> {
    let n = control.len();
    if n < 3 {
        return control.to_vec();
    }
    let mut out = Vec::with_capacity(n * per_segment);
    let knot = |a: [f64; 2], b: [f64; 2]| ((b[0] - a[0]).hypot(b[1] - a[1])).sqrt().max(1e-9);
    for i in 0..n {
        let (p0, p1, p2, p3) = (control[(i + n - 1) % n], control[i], control[(i + 1) % n], control[(i + 2) % n]);
        let t0 = 0.0;
        let t1 = t0 + knot(p0, p1);
        let t2 = t1 + knot(p1, p2);
        let t3 = t2 + knot(p2, p3);
        for k in 0..per_segment {
            let t = t1 + (t2 - t1) * k as f64 / per_segment as f64;
            let lerp = |a: [f64; 2], b: [f64; 2], ta: f64, tb: f64| {
                let (wa, wb) = ((tb - t) / (tb - ta), (t - ta) / (tb - ta));
                [wa * a[0] + wb * b[0], wa * a[1] + wb * b[1]]
            };
            let a1 = lerp(p0, p1, t0, t1);
            let a2 = lerp(p1, p2, t1, t2);
            let a3 = lerp(p2, p3, t2, t3);
            let b1 = lerp(a1, a2, t0, t2);
            let b2 = lerp(a2, a3, t1, t3);
            out.push(lerp(b1, b2, t1, t2));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        serde_json::from_value(serde_json::json!({
            "image_tools": [
                { "tool": "bounding_box_2d", "labels": [{ "id": "nodule", "name": "Nodule" }] },
                { "tool": "spline", "labels": [{ "id": "nodule", "name": "Nodule" }] },
                { "tool": "brush", "labels": [{ "id": "liver", "name": "Liver" }] },
                { "tool": "keypoints", "keypoint_set": "spine" }
            ],
            "keypoint_sets": [{ "id": "spine", "name": "Spine", "points": ["C7", "T12", "L5"] }],
            "questions": [
                { "id": "finding", "text": "Finding", "kind": "single", "level": "image", "options": [{ "id": "none", "name": "None" }, { "id": "mass", "name": "Mass" }] },
                { "id": "laterality", "text": "Laterality", "kind": "single", "level": "series", "options": [{ "id": "left", "name": "Left" }] }
            ]
        }))
        .unwrap()
    }

    fn check(body: serde_json::Value, frames: u32) -> Result<(), String> {
        let a: ImageAnnotation = serde_json::from_value(body).map_err(|e| format!("parse: {e}"))?;
        validate(&schema(), &a, Some(Extent { frames })).map_err(|e| e.message().to_string())
    }

    #[test]
    fn shapes_masks_and_frame_answers_are_checked_against_the_schema() {
        let good = serde_json::json!({
            "shapes": [
                { "id": "a", "label": "nodule", "tool": "bounding_box_2d", "frame": 1, "x0": 1.0, "y0": 2.0, "x1": 5.0, "y1": 6.0 },
                { "id": "b", "label": "nodule", "tool": "spline", "frame": 0, "control_points": [[1.0, 1.0], [5.0, 1.0], [3.0, 4.0]] },
                { "id": "c", "label": "spine", "tool": "keypoints", "frame": 2, "points": [[3.0, 3.0], null, [4.0, 9.0]] }
            ],
            "masks": [{ "frame": 0, "label": "liver", "rows": 2, "columns": 3, "rle": [2, 3, 1] }],
            "frame_answers": { "1": { "finding": ["mass"] } }
        });
        assert_eq!(check(good, 3), Ok(()));
        let bad = |body: serde_json::Value| check(body, 3).unwrap_err();
        assert!(bad(serde_json::json!({ "shapes": [{ "id": "a", "label": "nodule", "tool": "polygon", "frame": 0, "points": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]] }] })).starts_with("image.shapes[0].tool"));
        assert!(bad(serde_json::json!({ "shapes": [{ "id": "a", "label": "liver", "tool": "bounding_box_2d", "frame": 0, "x0": 1.0, "y0": 1.0, "x1": 2.0, "y1": 2.0 }] })).starts_with("image.shapes[0].label"));
        assert!(bad(serde_json::json!({ "shapes": [{ "id": "a", "label": "nodule", "tool": "bounding_box_2d", "frame": 3, "x0": 1.0, "y0": 1.0, "x1": 2.0, "y1": 2.0 }] })).starts_with("image.shapes[0].frame"));
        assert!(bad(serde_json::json!({ "shapes": [{ "id": "a", "label": "nodule", "tool": "bounding_box_2d", "frame": 0, "x0": 3.0, "y0": 1.0, "x1": 2.0, "y1": 2.0 }] })).starts_with("image.shapes[0].geometry"));
        assert!(bad(serde_json::json!({ "shapes": [{ "id": "c", "label": "spine", "tool": "keypoints", "frame": 0, "points": [[1.0, 1.0]] }] })).starts_with("image.shapes[0].points"));
        assert!(bad(serde_json::json!({ "masks": [{ "frame": 0, "label": "liver", "rows": 2, "columns": 3, "rle": [2, 3] }] })).starts_with("image.masks[0].rle"));
        assert!(bad(serde_json::json!({ "frame_answers": { "0": { "finding": ["maybe"] } } })).starts_with("image.frame_answers.0"));
        assert!(bad(serde_json::json!({ "frame_answers": { "0": { "laterality": ["left"] } } })).starts_with("image.frame_answers.0.laterality"));
        // The series-level question is required of the item's answers, not of each frame.
        assert_eq!(check(serde_json::json!({ "frame_answers": { "0": {} } }), 3), Ok(()));
        let item = item_level(&schema());
        assert_eq!(item.questions.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), ["laterality"]);
        let dup = serde_json::json!({ "id": "a", "label": "nodule", "tool": "bounding_box_2d", "frame": 0, "x0": 1.0, "y0": 1.0, "x1": 2.0, "y1": 2.0 });
        assert!(bad(serde_json::json!({ "shapes": [dup.clone(), dup] })).starts_with("image.shapes[1].id"));
    }

    #[test]
    fn run_lengths_round_trip() {
        let mask = [0, 0, 1, 1, 1, 0, 1, 1];
        let rle = MaskFrame::encode(&mask);
        assert_eq!(rle, vec![2, 3, 1, 2]);
        let m = MaskFrame { frame: 0, label: "x".into(), instance: 0, rows: 2, columns: 4, rle };
        assert_eq!(m.decode(), mask);
        assert_eq!(MaskFrame::encode(&[1, 1]), vec![0, 2]);
    }

    #[test]
    fn the_spline_passes_through_its_control_points() {
        let c = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let poly = spline_polygon(&c, 8);
        assert_eq!(poly.len(), 32);
        for (i, p) in c.iter().enumerate() {
            let q = poly[i * 8];
            assert!((q[0] - p[0]).abs() < 1e-9 && (q[1] - p[1]).abs() < 1e-9, "{q:?} vs {p:?}");
        }
        // Between control points the curve bulges outward, never through the centre.
        assert!(poly.iter().all(|p| (p[0] - 5.0).hypot(p[1] - 5.0) > 4.0));
    }
}
