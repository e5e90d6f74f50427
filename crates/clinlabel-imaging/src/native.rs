//! The native JSON of an image item: everything clinlabel knows, lossless.
//!
//! One document per item ([`NativeItem`], `format` = `clinlabel.imaging.v1`):
//! the series (frames in viewing order with SOP Instance UID, frame number
//! and patient geometry; the voxel-to-patient affines when the series is a
//! regular volume), the segmentation labels with their SEG / NIfTI numbers,
//! and each annotation exactly as stored ([`ImageAnnotation`]: shapes in
//! image coordinates, label maps as row-major run lengths, per-frame
//! answers), with
//!
//! - `classifications`: the annotation's answers split by the schema's
//!   question level — `study`, `series`, `item` (any other level) and
//!   `image` (per frame, from `frame_answers`);
//! - `outlines`: for each spline, the interpolated closed polygon every
//!   pixel export uses (so a consumer need not re-implement the curve);
//! - `patient_points`: for every shape, its points in patient coordinates
//!   (DICOM LPS, mm) when the frame has geometry — box corners, outline
//!   vertices, keypoints (null where a keypoint is not placed).
//!
//! It deserialises back into the same types ([`NativeItem`] is
//! `Deserialize`), which is how the round trip is tested.

use std::collections::BTreeMap;

use clinlabel_domain::imaging::{Geometry, ImageAnnotation};
use clinlabel_domain::project::{LabelSchema, QuestionLevel};
use clinlabel_domain::qa::Answers;
use serde::{Deserialize, Serialize};

use crate::raster::{SegmentLabel, outline, segment_labels};
use crate::series::{SourceFrame, SourceSeries};

pub const FORMAT: &str = "clinlabel.imaging.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeItem {
    pub format: String,
    pub item_id: String,
    pub series: NativeSeries,
    pub segment_labels: Vec<NativeSegmentLabel>,
    pub annotations: Vec<NativeAnnotation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeSeries {
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub frame_of_reference_uid: Option<String>,
    pub modality: Option<String>,
    pub rows: u32,
    pub columns: u32,
    pub ordering: String,
    pub frames: Vec<SourceFrame>,
    /// Voxel (column, row, frame) → patient LPS / RAS, when the series is a
    /// regular volume; otherwise why not.
    pub affine_lps: Option<[[f64; 4]; 4]>,
    pub affine_ras: Option<[[f64; 4]; 4]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_a_volume: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeSegmentLabel {
    pub number: u16,
    pub id: String,
    pub name: String,
    pub color: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Classifications {
    pub study: Answers,
    pub series: Answers,
    pub item: Answers,
    pub image: BTreeMap<u32, Answers>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeAnnotation {
    pub annotation_id: String,
    /// The author's pseudonym in the project, when the caller gives one.
    pub annotator: Option<String>,
    pub classifications: Classifications,
    pub image: ImageAnnotation,
    pub outlines: BTreeMap<String, Vec<[f64; 2]>>,
    pub patient_points: BTreeMap<String, Vec<Option<[f64; 3]>>>,
}

/// One annotation to put in the document.
pub struct AnnotationInput<'a> {
    pub annotation_id: &'a str,
    pub annotator: Option<&'a str>,
    /// Answers to the item-level questions (series / study / item).
    pub answers: &'a Answers,
    pub image: &'a ImageAnnotation,
}

/// Builds the native document of one item.
pub fn native_item(item_id: &str, series: &SourceSeries, schema: &LabelSchema, annotations: &[AnnotationInput<'_>]) -> NativeItem {
    let (affine_lps, affine_ras, not_a_volume) = match series.volume() {
        Ok(v) => (Some(v.affine_lps()), Some(v.affine_ras()), None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    let level = |q: &str| schema.questions.iter().find(|x| x.id == q).map(|x| x.level);
    NativeItem {
        format: FORMAT.into(),
        item_id: item_id.into(),
        series: NativeSeries {
            study_instance_uid: series.study_instance_uid.clone(),
            series_instance_uid: series.series_instance_uid.clone(),
            frame_of_reference_uid: series.frame_of_reference_uid.clone(),
            modality: series.modality.clone(),
            rows: series.rows,
            columns: series.columns,
            ordering: series.ordering.clone(),
            frames: series.frames.clone(),
            affine_lps,
            affine_ras,
            not_a_volume,
        },
        segment_labels: segment_labels(schema)
            .into_iter()
            .map(|SegmentLabel { number, id, name, color }| NativeSegmentLabel { number, id, name, color })
            .collect(),
        annotations: annotations
            .iter()
            .map(|a| {
                let mut c = Classifications { image: a.image.frame_answers.clone(), ..Default::default() };
                for (q, v) in a.answers {
                    let slot = match level(q) {
                        Some(QuestionLevel::Study) => &mut c.study,
                        Some(QuestionLevel::Series) => &mut c.series,
                        _ => &mut c.item,
                    };
                    slot.insert(q.clone(), v.clone());
                }
                let mut outlines = BTreeMap::new();
                let mut patient_points = BTreeMap::new();
                for s in &a.image.shapes {
                    if let Geometry::Spline { .. } = s.geometry
                        && let Some((_, poly)) = outline(&s.geometry)
                    {
                        outlines.insert(s.id.clone(), poly);
                    }
                    let to_patient = |f: u32, p: Option<[f64; 2]>| p.and_then(|p| series.image_to_patient(f, p[0], p[1]));
                    let pts: Vec<Option<[f64; 3]>> = match &s.geometry {
                        Geometry::BoundingBox2d { frame, x0, y0, x1, y1 } => {
                            [[*x0, *y0], [*x1, *y0], [*x1, *y1], [*x0, *y1]].iter().map(|p| to_patient(*frame, Some(*p))).collect()
                        }
                        Geometry::BoundingBox3d { frames, x0, y0, x1, y1 } => frames
                            .iter()
                            .flat_map(|&f| [[*x0, *y0], [*x1, *y0], [*x1, *y1], [*x0, *y1]].map(|p| to_patient(f, Some(p))))
                            .collect(),
                        Geometry::Polygon { frame, points } | Geometry::Freehand { frame, points } => points.iter().map(|p| to_patient(*frame, Some(*p))).collect(),
                        Geometry::Spline { frame, control_points } => control_points.iter().map(|p| to_patient(*frame, Some(*p))).collect(),
                        Geometry::Keypoints { frame, points } => points.iter().map(|p| to_patient(*frame, *p)).collect(),
                    };
                    if pts.iter().any(Option::is_some) {
                        patient_points.insert(s.id.clone(), pts);
                    }
                }
                NativeAnnotation {
                    annotation_id: a.annotation_id.into(),
                    annotator: a.annotator.map(String::from),
                    classifications: c,
                    image: a.image.clone(),
                    outlines,
                    patient_points,
                }
            })
            .collect(),
    }
}
