//! Vector outlines to pixels, and the per-frame label masks every mask
//! export is built from.
//!
//! **Rule:** a pixel belongs to an outline when its centre lies inside the
//! polygon by the even-odd rule; a centre exactly on a left edge is inside,
//! on a right edge outside (the half-open scan-line convention, so two
//! polygons sharing an edge never both claim a pixel). Image coordinates put
//! (0, 0) at the top-left corner of the first pixel, so pixel (c, r) has its
//! centre at (c + 0.5, r + 0.5). Freehand outlines are closed polygons;
//! splines are first turned into the closed centripetal Catmull-Rom polygon
//! of [`clinlabel_domain::imaging::spline_polygon`] with
//! [`SPLINE_POINTS_PER_SEGMENT`] points between control points.

use std::collections::BTreeMap;

use clinlabel_domain::imaging::{Geometry, ImageAnnotation, MaskFrame};
use clinlabel_domain::project::{ImageTool, LabelSchema};
use serde::Serialize;

use crate::{ExportError, Result};

/// Points of the interpolated spline polygon between two control points
/// (the domain's, so QA and every export see the same outline).
pub use clinlabel_domain::imaging::SPLINE_POINTS_PER_SEGMENT;

/// The closed outline of a polygon, freehand or spline shape (the spline
/// interpolated); `None` for boxes and keypoints.
pub fn outline(g: &Geometry) -> Option<(u32, Vec<[f64; 2]>)> {
    g.outline()
}

/// Sets to 1 the pixels of a `rows` × `columns` row-major mask whose centres
/// lie inside `points` (even-odd, half-open; see the module docs).
pub fn fill_polygon(points: &[[f64; 2]], rows: u32, columns: u32, mask: &mut [u8]) {
    let n = points.len();
    if n < 3 || points.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return;
    }
    let (ymin, ymax) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p[1]), b.max(p[1])));
    let r0 = (ymin - 0.5).floor().max(0.0) as i64;
    let r1 = ((ymax - 0.5).ceil() as i64).min(rows as i64 - 1);
    let mut xs: Vec<f64> = Vec::new();
    for r in r0..=r1 {
        let yc = r as f64 + 0.5;
        xs.clear();
        for i in 0..n {
            let (a, b) = (points[i], points[(i + 1) % n]);
            if (a[1] > yc) != (b[1] > yc) {
                xs.push(a[0] + (yc - a[1]) * (b[0] - a[0]) / (b[1] - a[1]));
            }
        }
        xs.sort_by(f64::total_cmp);
        let row = &mut mask[(r as usize * columns as usize)..((r as usize + 1) * columns as usize)];
        for pair in xs.chunks_exact(2) {
            let c0 = (pair[0] - 0.5).ceil().clamp(0.0, columns as f64) as usize;
            let c1 = (pair[1] - 0.5).ceil().clamp(0.0, columns as f64) as usize;
            if c0 < c1 {
                row[c0..c1].fill(1);
            }
        }
    }
}

/// A label that pixel exports (SEG segments, NIfTI values) carry: the labels
/// of the schema's polygon, freehand, spline and brush tools, in schema
/// order, numbered from 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentLabel {
    pub number: u16,
    pub id: String,
    pub name: String,
    /// `#rrggbb` from the schema.
    pub color: Option<String>,
}

/// The segmentation labels of a schema (see [`SegmentLabel`]).
pub fn segment_labels(schema: &LabelSchema) -> Vec<SegmentLabel> {
    let mut out: Vec<SegmentLabel> = Vec::new();
    for t in &schema.image_tools {
        if !matches!(t.tool, ImageTool::Polygon | ImageTool::Freehand | ImageTool::Spline | ImageTool::Brush) {
            continue;
        }
        for l in &t.labels {
            if !out.iter().any(|s| s.id == l.id) {
                out.push(SegmentLabel { number: out.len() as u16 + 1, id: l.id.clone(), name: l.name.clone(), color: l.color.clone() });
            }
        }
    }
    out
}

enum Part<'a> {
    Outline { label: &'a str, polygon: Vec<[f64; 2]> },
    Mask(&'a MaskFrame),
}

/// An annotation's pixel content, frame by frame: outlines are rasterised
/// and label maps decoded only when a frame is asked for, so memory stays at
/// one frame whatever the series' length.
pub struct Rasteriser<'a> {
    pub rows: u32,
    pub columns: u32,
    by_frame: BTreeMap<u32, Vec<Part<'a>>>,
}

impl<'a> Rasteriser<'a> {
    /// Indexes the outlines and label maps of `ann` by frame; every frame must
    /// be below `frames` and every label map `rows` × `columns`.
    pub fn new(rows: u32, columns: u32, frames: u32, ann: &'a ImageAnnotation) -> Result<Self> {
        let mut by_frame: BTreeMap<u32, Vec<Part<'a>>> = BTreeMap::new();
        for (i, s) in ann.shapes.iter().enumerate() {
            if let Some((frame, polygon)) = outline(&s.geometry) {
                if frame >= frames {
                    return Err(ExportError::Annotation(format!("image.shapes[{i}] is on frame {frame}; the item has {frames}")));
                }
                by_frame.entry(frame).or_default().push(Part::Outline { label: &s.label, polygon });
            }
        }
        for (i, m) in ann.masks.iter().enumerate() {
            if m.frame >= frames {
                return Err(ExportError::Annotation(format!("image.masks[{i}] is on frame {}; the item has {frames}", m.frame)));
            }
            if (m.rows, m.columns) != (rows, columns) {
                return Err(ExportError::Annotation(format!(
                    "image.masks[{i}] is {}×{}; the item's frames are {columns}×{rows}",
                    m.columns, m.rows
                )));
            }
            let total: u64 = m.rle.iter().map(|&n| n as u64).sum();
            if total != rows as u64 * columns as u64 {
                return Err(ExportError::Annotation(format!("image.masks[{i}].rle does not add up to rows × columns")));
            }
            by_frame.entry(m.frame).or_default().push(Part::Mask(m));
        }
        Ok(Rasteriser { rows, columns, by_frame })
    }

    /// Pixels per frame.
    pub fn frame_len(&self) -> usize {
        self.rows as usize * self.columns as usize
    }

    /// The frames with any pixel content for `label`.
    pub fn frames_of(&self, label: &str) -> Vec<u32> {
        self.by_frame
            .iter()
            .filter(|(_, parts)| {
                parts.iter().any(|p| match p {
                    Part::Outline { label: l, .. } => *l == label,
                    Part::Mask(m) => m.label == label,
                })
            })
            .map(|(f, _)| *f)
            .collect()
    }

    /// Labels with pixel content anywhere.
    pub fn labels(&self) -> Vec<&'a str> {
        let mut v: Vec<&str> = self
            .by_frame
            .values()
            .flatten()
            .map(|p| match p {
                Part::Outline { label, .. } => *label,
                Part::Mask(m) => m.label.as_str(),
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The union of everything labelled `label` on `frame` (outlines and
    /// label maps of every instance), as 0/1 into `out`; true when any pixel
    /// is set.
    pub fn label_mask(&self, frame: u32, label: &str, out: &mut [u8]) -> bool {
        out.fill(0);
        let Some(parts) = self.by_frame.get(&frame) else { return false };
        for p in parts {
            match p {
                Part::Outline { label: l, polygon } if *l == label => fill_polygon(polygon, self.rows, self.columns, out),
                Part::Mask(m) if m.label == label => or_runs(&m.rle, out),
                _ => {}
            }
        }
        out.contains(&1)
    }
}

/// ORs a row-major background-first run-length mask into `out`.
pub(crate) fn or_runs(rle: &[u32], out: &mut [u8]) {
    let mut at = 0usize;
    for (i, &n) in rle.iter().enumerate() {
        let end = (at + n as usize).min(out.len());
        if i % 2 == 1 {
            out[at..end].fill(1);
        }
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(points: &[[f64; 2]], rows: u32, columns: u32) -> Vec<String> {
        let mut m = vec![0u8; (rows * columns) as usize];
        fill_polygon(points, rows, columns, &mut m);
        m.chunks(columns as usize).map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect()).collect()
    }

    #[test]
    fn rectangles_cover_the_pixels_whose_centres_they_contain() {
        // Corners on pixel corners: exactly columns 1..4, rows 1..3.
        let r = raster(&[[1.0, 1.0], [4.0, 1.0], [4.0, 3.0], [1.0, 3.0]], 4, 6);
        assert_eq!(r, vec!["......", ".###..", ".###..", "......"]);
        // Through pixel centres: left/top edges inside, right/bottom outside.
        let r = raster(&[[1.5, 0.5], [3.5, 0.5], [3.5, 2.5], [1.5, 2.5]], 4, 6);
        assert_eq!(r, vec![".##...", ".##...", "......", "......"]);
        // Clipped at the image border, any winding.
        let r = raster(&[[-5.0, 2.0], [-5.0, 10.0], [2.0, 10.0], [2.0, 2.0]], 4, 3);
        assert_eq!(r, vec!["...", "...", "##.", "##."]);
    }

    #[test]
    fn triangles_and_self_intersections_follow_even_odd() {
        // Lower-left triangle under the diagonal (0,0)–(4,4): centres with
        // x < y; centres on the diagonal lie on its right edge, so outside.
        let r = raster(&[[0.0, 0.0], [4.0, 4.0], [0.0, 4.0]], 4, 4);
        assert_eq!(r, vec!["....", "#...", "##..", "###."]);
        // A bow tie: two triangles meeting at (2, 2); centres on the diagonals
        // are inside on a left edge, outside on a right one.
        let r = raster(&[[0.0, 0.0], [4.0, 4.0], [4.0, 0.0], [0.0, 4.0]], 4, 4);
        assert_eq!(r, vec!["...#", "#.##", "#.##", "...#"]);
    }

    #[test]
    fn shared_edges_are_claimed_once() {
        let mut a = vec![0u8; 36];
        let mut b = vec![0u8; 36];
        fill_polygon(&[[0.3, 0.2], [3.7, 0.4], [2.1, 5.9]], 6, 6, &mut a);
        fill_polygon(&[[3.7, 0.4], [5.8, 5.5], [2.1, 5.9]], 6, 6, &mut b);
        assert!(a.iter().zip(&b).all(|(x, y)| x + y <= 1));
    }
}
