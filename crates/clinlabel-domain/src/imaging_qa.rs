//! Comparing two image annotations, for gold scoring and inter-annotator
//! agreement, with the measures of `clinlabel-agreement`:
//!
//! - **2D boxes, 3D boxes, outlines** (polygon, freehand, spline — the spline
//!   as its interpolated polygon): one-to-one matching of maximum total IoU
//!   among pairs of the same label on the same frame(s) with IoU ≥ 0.5; F1 of
//!   the matching and the mean IoU of matched pairs. A 2D box is a box one
//!   frame deep, so boxes on different frames never match; 3D boxes compare
//!   as volumes over their frame ranges.
//! - **Label maps**, per label: Dice, IoU and the 95th-percentile Hausdorff
//!   distance over the frames either annotator painted, in millimetres when
//!   the item's spacing is known (column, row and slice spacing), else pixels.
//! - **Keypoints**: sets on the same frame paired in order; the mean distance
//!   of points visible in both (mm or px), and PCK — the share of the
//!   reference's visible points placed within [`PCK_MM`] mm (or px).
//!
//! [`gold_score`] turns a comparison against a gold reference into one
//! number in 0–1: the mean, over the kinds the reference contains, of the F1
//! (shapes), Dice (each label map) and PCK (keypoints).

use crate::imaging::{Geometry, ImageAnnotation, Shape};
use clinlabel_agreement::geometry::{self as geo, Box3, Keypoint, Mask};
use serde::Serialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// IoU from which two shapes count as the same finding.
pub const IOU_MATCH: f64 = 0.5;
/// Keypoint tolerance for PCK (mm, or px without spacing).
pub const PCK_MM: f64 = 5.0;

/// Pixel and slice spacing of an item (mm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spacing {
    pub column_mm: f64,
    pub row_mm: f64,
    pub slice_mm: f64,
}

/// Matching of one kind of shape between two annotations.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ShapeMatch {
    /// `bounding_box_2d`, `bounding_box_3d` or `outline`.
    pub kind: String,
    pub f1: Option<f64>,
    pub mean_iou: Option<f64>,
    pub matched: usize,
    pub in_a: usize,
    pub in_b: usize,
}

/// One label's label maps compared.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MaskMatch {
    pub label: String,
    pub dice: Option<f64>,
    pub iou: Option<f64>,
    pub hausdorff95: Option<f64>,
    /// `mm` or `px`.
    pub unit: String,
}

/// Keypoints compared.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KeypointMatch {
    pub mean_distance: Option<f64>,
    /// Share of the reference's visible points within [`PCK_MM`].
    pub pck: Option<f64>,
    pub unit: String,
}

/// Two image annotations compared.
#[derive(Debug, Clone, PartialEq, Default, Serialize, ToSchema)]
pub struct Comparison {
    pub shapes: Vec<ShapeMatch>,
    pub masks: Vec<MaskMatch>,
    pub keypoints: Option<KeypointMatch>,
}

fn shape_box(s: &Shape) -> Option<Box3> {
    let (x0, y0, x1, y1, z0, z1) = match &s.geometry {
        Geometry::BoundingBox2d { frame, x0, y0, x1, y1 } => (*x0, *y0, *x1, *y1, *frame, *frame),
        Geometry::BoundingBox3d { frames, x0, y0, x1, y1 } => (*x0, *y0, *x1, *y1, frames[0], frames[1]),
        _ => return None,
    };
    Some(Box3 { x_min: x0, y_min: y0, z_min: z0 as f64, x_max: x1, y_max: y1, z_max: z1 as f64 + 1.0, label: Some(s.label.clone()) })
}


fn shape_match(kind: &str, m: geo::InstanceMatch) -> ShapeMatch {
    ShapeMatch { kind: kind.into(), f1: m.prf.f1.value(), mean_iou: m.mean_iou.value(), matched: m.prf.matched, in_a: m.prf.n_a, in_b: m.prf.n_b }
}

/// Compares annotation `b` against `a` (the reference, for gold).
pub fn compare(a: &ImageAnnotation, b: &ImageAnnotation, spacing: Option<Spacing>) -> Comparison {
    let mut out = Comparison::default();
    for (kind, tool) in [("bounding_box_2d", 0u8), ("bounding_box_3d", 1)] {
        let pick = |x: &ImageAnnotation| -> Vec<Box3> {
            x.shapes
                .iter()
                .filter(|s| matches!((&s.geometry, tool), (Geometry::BoundingBox2d { .. }, 0) | (Geometry::BoundingBox3d { .. }, 1)))
                .filter_map(shape_box)
                .collect()
        };
        let (ba, bb) = (pick(a), pick(b));
        if !ba.is_empty() || !bb.is_empty() {
            out.shapes.push(shape_match(kind, geo::match_boxes_3d(&ba, &bb, IOU_MATCH)));
        }
    }
    let outlines = |x: &ImageAnnotation| -> Vec<(String, u32, Vec<[f64; 2]>)> {
        x.shapes.iter().filter_map(|s| s.geometry.outline().map(|(f, p)| (s.label.clone(), f, p))).collect()
    };
    let (oa, ob) = (outlines(a), outlines(b));
    if !oa.is_empty() || !ob.is_empty() {
        let mut iou = vec![0.0; oa.len() * ob.len()];
        for (i, x) in oa.iter().enumerate() {
            for (j, y) in ob.iter().enumerate() {
                if x.0 == y.0 && x.1 == y.1 {
                    iou[i * ob.len() + j] = geo::polygon_iou(&x.2, &y.2).value().unwrap_or(0.0);
                }
            }
        }
        out.shapes.push(shape_match("outline", geo::match_by_iou(oa.len(), ob.len(), &iou, IOU_MATCH)));
    }
    let labels: BTreeSet<&str> = a.masks.iter().chain(&b.masks).map(|m| m.label.as_str()).collect();
    for label in labels {
        let frames: Vec<&crate::imaging::MaskFrame> = a.masks.iter().chain(&b.masks).filter(|m| m.label == label).collect();
        let (rows, cols) = (frames[0].rows as usize, frames[0].columns as usize);
        if frames.iter().any(|m| m.rows as usize != rows || m.columns as usize != cols) {
            continue;
        }
        let f0 = frames.iter().map(|m| m.frame).min().unwrap_or(0);
        let f1 = frames.iter().map(|m| m.frame).max().unwrap_or(0);
        let depth = (f1 - f0 + 1) as usize;
        let volume = |x: &ImageAnnotation| {
            let mut data = vec![false; rows * cols * depth];
            for m in x.masks.iter().filter(|m| m.label == label) {
                let z = (m.frame - f0) as usize;
                for (i, v) in m.decode().into_iter().enumerate().take(rows * cols) {
                    if v != 0 {
                        data[z * rows * cols + i] = true;
                    }
                }
            }
            Mask::new(cols, rows, depth, data)
        };
        let (ma, mb) = (volume(a), volume(b));
        let o = geo::mask_overlap(&ma, &mb);
        let sd = geo::surface_distance(&ma, &mb, spacing.map(|s| [s.column_mm, s.row_mm, s.slice_mm]));
        out.masks.push(MaskMatch { label: label.to_string(), dice: o.dice.value(), iou: o.iou.value(), hausdorff95: sd.hausdorff95.value(), unit: if spacing.is_some() { "mm" } else { "px" }.into() });
    }
    let kps = |x: &ImageAnnotation| -> Vec<(String, u32, Vec<Option<[f64; 2]>>)> {
        x.shapes
            .iter()
            .filter_map(|s| match &s.geometry {
                Geometry::Keypoints { frame, points } => Some((s.label.clone(), *frame, points.clone())),
                _ => None,
            })
            .collect()
    };
    let (ka, kb) = (kps(a), kps(b));
    if !ka.is_empty() {
        let sp = spacing.map(|s| [s.column_mm, s.row_mm]);
        let to = |p: &Option<[f64; 2]>| match p {
            Some(q) => Keypoint { x: q[0], y: q[1], visible: true },
            None => Keypoint { x: 0.0, y: 0.0, visible: false },
        };
        let (mut dists, mut within, mut reference) = (Vec::new(), 0usize, 0usize);
        let mut used = vec![false; kb.len()];
        for (label, frame, pa) in &ka {
            reference += pa.iter().flatten().count();
            let Some(j) = (0..kb.len()).find(|&j| !used[j] && &kb[j].0 == label && kb[j].1 == *frame) else { continue };
            used[j] = true;
            let (va, vb): (Vec<Keypoint>, Vec<Keypoint>) = (pa.iter().map(to).collect(), kb[j].2.iter().map(to).collect());
            if let Some(d) = geo::keypoint_mean_distance(&va, &vb, sp).value() {
                dists.push(d);
            }
            let s = sp.unwrap_or([1.0, 1.0]);
            within += pa.iter().zip(&kb[j].2).filter(|(p, q)| matches!((p, q), (Some(p), Some(q)) if ((p[0] - q[0]) * s[0]).hypot((p[1] - q[1]) * s[1]) <= PCK_MM)).count();
        }
        out.keypoints = Some(KeypointMatch {
            mean_distance: (!dists.is_empty()).then(|| dists.iter().sum::<f64>() / dists.len() as f64),
            pck: (reference > 0).then(|| within as f64 / reference as f64),
            unit: if spacing.is_some() { "mm" } else { "px" }.into(),
        });
    }
    out
}

/// How well `given` matches the gold `reference`, 0–1 (see the module docs);
/// `None` when the reference has no shapes, maps or keypoints.
pub fn gold_score(reference: &ImageAnnotation, given: &ImageAnnotation, spacing: Option<Spacing>) -> Option<f64> {
    let c = compare(reference, given, spacing);
    let mut parts = Vec::new();
    for s in &c.shapes {
        if s.in_a > 0 {
            parts.push(s.f1.unwrap_or(0.0));
        }
    }
    for m in &c.masks {
        if reference.masks.iter().any(|x| x.label == m.label) {
            parts.push(m.dice.unwrap_or(0.0));
        }
    }
    if let Some(k) = &c.keypoints
        && let Some(p) = k.pck
    {
        parts.push(p);
    }
    (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / parts.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(v: serde_json::Value) -> ImageAnnotation {
        serde_json::from_value(v).unwrap()
    }
    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn boxes_match_by_label_and_frame_with_their_iou() {
        let a = ann(serde_json::json!({ "shapes": [
            { "id": "1", "label": "nodule", "tool": "bounding_box_2d", "frame": 0, "x0": 0.0, "y0": 0.0, "x1": 10.0, "y1": 10.0 },
            { "id": "2", "label": "nodule", "tool": "bounding_box_2d", "frame": 1, "x0": 0.0, "y0": 0.0, "x1": 10.0, "y1": 10.0 }
        ]}));
        // Half overlapping on frame 0 (IoU 50/150 = 1/3: no match at 0.5), identical on frame 1, one on the wrong frame.
        let b = ann(serde_json::json!({ "shapes": [
            { "id": "x", "label": "nodule", "tool": "bounding_box_2d", "frame": 1, "x0": 0.0, "y0": 0.0, "x1": 10.0, "y1": 10.0 },
            { "id": "y", "label": "nodule", "tool": "bounding_box_2d", "frame": 0, "x0": 5.0, "y0": 0.0, "x1": 15.0, "y1": 10.0 },
            { "id": "z", "label": "nodule", "tool": "bounding_box_2d", "frame": 2, "x0": 0.0, "y0": 0.0, "x1": 10.0, "y1": 10.0 }
        ]}));
        let c = compare(&a, &b, None);
        let s = &c.shapes[0];
        assert_eq!((s.kind.as_str(), s.matched, s.in_a, s.in_b), ("bounding_box_2d", 1, 2, 3));
        assert!(close(s.mean_iou, 1.0));
        // P = 1/3, R = 1/2 → F1 = 0.4.
        assert!(close(s.f1, 0.4));
        assert!(close(gold_score(&a, &b, None), 0.4));
        assert!(close(gold_score(&a, &a, None), 1.0));
    }

    #[test]
    fn label_maps_give_dice_and_hausdorff_in_mm() {
        // 4×4 frame: A paints the left half, B the left three quarters.
        let rle_a = crate::imaging::MaskFrame::encode(&[1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
        let rle_b = crate::imaging::MaskFrame::encode(&[1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0]);
        let m = |rle: Vec<u32>| serde_json::json!({ "masks": [{ "frame": 0, "label": "liver", "rows": 4, "columns": 4, "rle": rle }] });
        let (a, b) = (ann(m(rle_a)), ann(m(rle_b)));
        let sp = Spacing { column_mm: 0.5, row_mm: 0.5, slice_mm: 1.0 };
        let c = compare(&a, &b, Some(sp));
        let mm = &c.masks[0];
        // |A| = 8, |B| = 12, |A∩B| = 8: Dice 16/20, IoU 8/12.
        assert!(close(mm.dice, 0.8));
        assert!(close(mm.iou, 8.0 / 12.0));
        // The boundaries are one column (0.5 mm) apart at most.
        assert!(close(mm.hausdorff95, 0.5), "{:?}", mm.hausdorff95);
        assert_eq!(mm.unit, "mm");
    }

    #[test]
    fn keypoints_and_outlines() {
        let a = ann(serde_json::json!({ "shapes": [
            { "id": "k", "label": "spine", "tool": "keypoints", "frame": 0, "points": [[10.0, 10.0], [20.0, 20.0], null] },
            { "id": "s", "label": "organ", "tool": "polygon", "frame": 0, "points": [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]] }
        ]}));
        let b = ann(serde_json::json!({ "shapes": [
            { "id": "k", "label": "spine", "tool": "keypoints", "frame": 0, "points": [[13.0, 14.0], [20.0, 40.0], [1.0, 1.0]] },
            { "id": "s", "label": "organ", "tool": "freehand", "frame": 0, "points": [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]] }
        ]}));
        let c = compare(&a, &b, None);
        let k = c.keypoints.unwrap();
        // Distances 5 and 20 px: mean 12.5; one of two within 5.
        assert!(close(k.mean_distance, 12.5));
        assert!(close(k.pck, 0.5));
        let o = c.shapes.iter().find(|s| s.kind == "outline").unwrap();
        assert!(close(o.f1, 1.0) && close(o.mean_iou, 1.0));
        assert!(close(gold_score(&a, &b, None), 0.75));
    }
}
