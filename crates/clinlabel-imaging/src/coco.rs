//! COCO JSON (the object-detection / keypoint format of cocodataset.org, as
//! pycocotools reads it).
//!
//! - **images**: one per frame of every item, `file_name` =
//!   `<item id>/<frame, 5 digits>.png` (what `clinlabel dicom render` or the
//!   frame service produce), width / height in pixels, plus a `clinlabel`
//!   object with the item, frame, SOP Instance UID and frame number, and the
//!   frame's image-level answers when there are any.
//! - **categories**: every label of the schema's image tools (deduplicated by
//!   id, `supercategory` "label"), then every keypoint set (`supercategory`
//!   "keypoints", with `keypoints` = its point names and `skeleton` = its
//!   edges, 1-based as COCO numbers them). Ids from 1 in that order; each
//!   carries its schema id as `clinlabel_id`.
//! - **annotations** (`iscrowd` 0, a `clinlabel` object with the shape id and
//!   tool): a 2D box → `bbox` [x, y, w, h] and its rectangle as the polygon;
//!   a 3D box → the same on every frame of its range; polygon / freehand →
//!   `segmentation` [[x1, y1, x2, y2, …]], area by the shoelace formula;
//!   spline → its interpolated polygon ([`crate::raster::outline`]);
//!   keypoints → `keypoints` [x, y, v]… with v = 2 (labelled, visible) or
//!   0, 0, 0 (not placed), `num_keypoints`, the bbox of the placed points;
//!   label maps → one annotation per (frame, label, instance) with
//!   `segmentation` = {"size": [h, w], "counts": compressed RLE} (column-major,
//!   [`crate::rle`]), area = its pixel count, bbox = its tight box.
//! - Coordinates are image coordinates as stored ((0, 0) = top-left corner
//!   of the first pixel).
//! - Item-level, series and study answers go in a top-level `clinlabel_items`
//!   list (COCO has no place for them).
//!
//! Annotations are written as each item is added; only the image records
//! (a few numbers per frame) wait in memory for the end.
//! Checked by `ci/testdata/imaging.sh`: pycocotools loads the file, decodes
//! every RLE to the mask of the native JSON, and COCOeval of the export
//! against itself gives AP 1.0 for boxes, masks and keypoints.

use std::collections::BTreeMap;
use std::io::Write;

use clinlabel_domain::imaging::{Geometry, ImageAnnotation};
use clinlabel_domain::project::LabelSchema;
use clinlabel_domain::qa::Answers;
use serde_json::{Value, json};

use crate::raster::{or_runs, outline};
use crate::rle::{counts_column_major, encode_counts};
use crate::series::SourceSeries;
use crate::{ExportError, Result};

struct Image {
    id: u64,
    item: u32,
    frame: u32,
    width: u32,
    height: u32,
    sop_instance_uid: Option<String>,
    frame_number: u32,
    answers: Option<Answers>,
}

/// Streams a COCO file: [`CocoWriter::new`], [`CocoWriter::add_item`] per
/// item, [`CocoWriter::finish`].
pub struct CocoWriter<W: Write> {
    out: W,
    labels: BTreeMap<String, u64>,
    keypoint_sets: BTreeMap<String, (u64, usize)>,
    items: Vec<Value>,
    images: Vec<Image>,
    next_ann: u64,
    written: u64,
}

/// What one item contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CocoCounts {
    pub images: u64,
    pub annotations: u64,
}

fn werr(e: impl std::fmt::Display) -> ExportError {
    ExportError::Write(e.to_string())
}

fn bbox_of(points: impl Iterator<Item = [f64; 2]>) -> Option<[f64; 4]> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut any = false;
    for p in points {
        any = true;
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    any.then_some([x0, y0, x1 - x0, y1 - y0])
}

fn shoelace(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    (0..n).map(|i| p[i][0] * p[(i + 1) % n][1] - p[(i + 1) % n][0] * p[i][1]).sum::<f64>().abs() / 2.0
}

impl<W: Write> CocoWriter<W> {
    /// Writes the head of the file: `info` (any JSON object: project,
    /// version, date…) and the categories of `schema`.
    pub fn new(schema: &LabelSchema, info: Value, mut out: W) -> Result<Self> {
        let mut categories = Vec::new();
        let mut labels = BTreeMap::new();
        for t in &schema.image_tools {
            for l in &t.labels {
                if !labels.contains_key(&l.id) {
                    let id = categories.len() as u64 + 1;
                    labels.insert(l.id.clone(), id);
                    categories.push(json!({ "id": id, "name": l.name, "supercategory": "label", "clinlabel_id": l.id }));
                }
            }
        }
        let mut keypoint_sets = BTreeMap::new();
        for k in &schema.keypoint_sets {
            let id = categories.len() as u64 + 1;
            keypoint_sets.insert(k.id.clone(), (id, k.points.len()));
            let skeleton: Vec<[usize; 2]> = k.edges.iter().map(|e| [e[0] + 1, e[1] + 1]).collect();
            categories.push(json!({ "id": id, "name": k.name, "supercategory": "keypoints", "clinlabel_id": k.id, "keypoints": k.points, "skeleton": skeleton }));
        }
        let head = format!(
            "{{\"info\":{},\"licenses\":[],\"categories\":{},\"annotations\":[",
            serde_json::to_string(&info).map_err(werr)?,
            serde_json::to_string(&categories).map_err(werr)?
        );
        out.write_all(head.as_bytes()).map_err(werr)?;
        Ok(CocoWriter { out, labels, keypoint_sets, items: Vec::new(), images: Vec::new(), next_ann: 1, written: 0 })
    }

    fn emit(&mut self, mut ann: Value) -> Result<()> {
        ann["id"] = json!(self.next_ann);
        ann["iscrowd"] = json!(0);
        self.next_ann += 1;
        if self.written > 0 {
            self.out.write_all(b",").map_err(werr)?;
        }
        serde_json::to_writer(&mut self.out, &ann).map_err(werr)?;
        self.written += 1;
        Ok(())
    }

    /// Adds the frames of one item and its annotation. `answers` are the
    /// annotation's item-level answers (series / study / item questions).
    pub fn add_item(&mut self, item_id: &str, series: &SourceSeries, ann: &ImageAnnotation, answers: &Answers) -> Result<CocoCounts> {
        let item_index = self.items.len() as u32;
        let first_image = self.images.len() as u64 + 1;
        let (w, h) = (series.columns, series.rows);
        for f in &series.frames {
            self.images.push(Image {
                id: self.images.len() as u64 + 1,
                item: item_index,
                frame: f.index,
                width: w,
                height: h,
                sop_instance_uid: f.sop_instance_uid.clone(),
                frame_number: f.frame_number,
                answers: ann.frame_answers.get(&f.index).cloned(),
            });
        }
        let image_id = |frame: u32| -> Result<u64> {
            if frame >= series.frame_count() {
                return Err(ExportError::Annotation(format!("frame {frame} is outside the item's {} frames", series.frame_count())));
            }
            Ok(first_image + frame as u64)
        };
        let before = self.written;
        for s in &ann.shapes {
            let meta = json!({ "shape_id": s.id, "tool": s.geometry.tool(), "item_id": item_id });
            let label_cat = || self.labels.get(&s.label).copied().ok_or_else(|| ExportError::Annotation(format!("shape {}: label {:?} is not in the schema", s.id, s.label)));
            match &s.geometry {
                Geometry::BoundingBox2d { frame, x0, y0, x1, y1 } => {
                    let (cat, img) = (label_cat()?, image_id(*frame)?);
                    self.emit(json!({ "image_id": img, "category_id": cat, "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                        "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]], "clinlabel": meta }))?;
                }
                Geometry::BoundingBox3d { frames, x0, y0, x1, y1 } => {
                    let cat = label_cat()?;
                    image_id(frames[1])?;
                    for f in frames[0]..=frames[1] {
                        let mut m = meta.clone();
                        m["frames"] = json!(frames);
                        self.emit(json!({ "image_id": image_id(f)?, "category_id": cat, "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                            "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]], "clinlabel": m }))?;
                    }
                }
                Geometry::Polygon { .. } | Geometry::Freehand { .. } | Geometry::Spline { .. } => {
                    let (frame, poly) = outline(&s.geometry).expect("an outline shape");
                    let (cat, img) = (label_cat()?, image_id(frame)?);
                    let flat: Vec<f64> = poly.iter().flat_map(|p| [p[0], p[1]]).collect();
                    let bbox = bbox_of(poly.iter().copied()).expect("at least 3 points");
                    self.emit(json!({ "image_id": img, "category_id": cat, "bbox": bbox, "area": shoelace(&poly), "segmentation": [flat], "clinlabel": meta }))?;
                }
                Geometry::Keypoints { frame, points } => {
                    let Some(&(cat, n)) = self.keypoint_sets.get(&s.label) else {
                        return Err(ExportError::Annotation(format!("shape {}: {:?} is not a keypoint set of the schema", s.id, s.label)));
                    };
                    if points.len() != n {
                        return Err(ExportError::Annotation(format!("shape {}: {} points for a set of {n}", s.id, points.len())));
                    }
                    let img = image_id(*frame)?;
                    let kp: Vec<f64> = points.iter().flat_map(|p| match p {
                        Some(q) => [q[0], q[1], 2.0],
                        None => [0.0, 0.0, 0.0],
                    }).collect();
                    let placed = points.iter().flatten().count();
                    let bbox = bbox_of(points.iter().flatten().copied()).unwrap_or([0.0; 4]);
                    self.emit(json!({ "image_id": img, "category_id": cat, "keypoints": kp, "num_keypoints": placed, "bbox": bbox, "area": bbox[2] * bbox[3], "clinlabel": meta }))?;
                }
            }
        }
        // Label maps: one annotation per (frame, label, instance).
        let mut groups: BTreeMap<(u32, &str, u32), Vec<&clinlabel_domain::imaging::MaskFrame>> = BTreeMap::new();
        for m in &ann.masks {
            groups.entry((m.frame, &m.label, m.instance)).or_default().push(m);
        }
        let mut mask = vec![0u8; (w * h) as usize];
        for ((frame, label, instance), parts) in groups {
            let cat = self.labels.get(label).copied().ok_or_else(|| ExportError::Annotation(format!("mask label {label:?} is not in the schema")))?;
            let img = image_id(frame)?;
            mask.fill(0);
            for p in parts {
                if (p.rows, p.columns) != (h, w) {
                    return Err(ExportError::Annotation(format!("a {label} mask on frame {frame} is {}×{}; the frames are {w}×{h}", p.columns, p.rows)));
                }
                or_runs(&p.rle, &mut mask);
            }
            let area = mask.iter().filter(|&&v| v == 1).count();
            if area == 0 {
                continue;
            }
            let (mut c0, mut r0, mut c1, mut r1) = (u32::MAX, u32::MAX, 0, 0);
            for (i, _) in mask.iter().enumerate().filter(|(_, v)| **v == 1) {
                let (r, c) = (i as u32 / w, i as u32 % w);
                (c0, r0, c1, r1) = (c0.min(c), r0.min(r), c1.max(c), r1.max(r));
            }
            let counts = encode_counts(&counts_column_major(&mask, h, w));
            self.emit(json!({ "image_id": img, "category_id": cat, "segmentation": { "size": [h, w], "counts": counts },
                "area": area, "bbox": [c0, r0, c1 - c0 + 1, r1 - r0 + 1],
                "clinlabel": { "tool": "brush", "instance": instance, "item_id": item_id } }))?;
        }
        self.items.push(json!({ "item_id": item_id, "series_instance_uid": series.series_instance_uid, "image_ids": [first_image, first_image + series.frame_count() as u64 - 1], "answers": answers }));
        Ok(CocoCounts { images: series.frame_count() as u64, annotations: self.written - before })
    }

    /// Writes the images and item records and closes the document.
    pub fn finish(mut self) -> Result<W> {
        self.out.write_all(b"],\"images\":[").map_err(werr)?;
        for (i, im) in self.images.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",").map_err(werr)?;
            }
            let item_id = self.items[im.item as usize]["item_id"].clone();
            let mut cl = json!({ "item_id": item_id, "frame": im.frame, "sop_instance_uid": im.sop_instance_uid, "frame_number": im.frame_number });
            if let Some(a) = &im.answers {
                cl["answers"] = json!(a);
            }
            let file = format!("{}/{:05}.png", item_id.as_str().unwrap_or(""), im.frame);
            serde_json::to_writer(&mut self.out, &json!({ "id": im.id, "width": im.width, "height": im.height, "file_name": file, "clinlabel": cl })).map_err(werr)?;
        }
        self.out.write_all(b"],\"clinlabel_items\":").map_err(werr)?;
        serde_json::to_writer(&mut self.out, &self.items).map_err(werr)?;
        self.out.write_all(b"}").map_err(werr)?;
        self.out.flush().map_err(werr)?;
        Ok(self.out)
    }
}

