//! The item being exported: its frames in viewing order, with the source
//! instance and the patient geometry of each, and the study attributes a
//! derived object copies.

use clinlabel_dicom::group::{Ordering, series_frames, slice_normal};
use clinlabel_dicom::{DicomFile, ImageMeta};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use serde::{Deserialize, Serialize};

use crate::{ExportError, Result};

/// Patient and study attributes a derived object (the SEG) must carry from
/// its source. Taken from a de-identified instance, so they are the
/// de-identified values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StudyContext {
    pub specific_character_set: Option<String>,
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    pub patient_birth_date: Option<String>,
    pub patient_sex: Option<String>,
    pub study_instance_uid: Option<String>,
    pub study_date: Option<String>,
    pub study_time: Option<String>,
    pub referring_physician_name: Option<String>,
    pub study_id: Option<String>,
    pub accession_number: Option<String>,
    pub study_description: Option<String>,
    pub frame_of_reference_uid: Option<String>,
    pub position_reference_indicator: Option<String>,
}

fn text(obj: &dicom_object::InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ').to_string();
    (!s.is_empty()).then_some(s)
}

impl StudyContext {
    /// Reads the attributes from one instance of the series.
    pub fn from_file(file: &DicomFile) -> Self {
        let o: &dicom_object::InMemDicomObject = &file.obj;
        StudyContext {
            specific_character_set: text(o, tags::SPECIFIC_CHARACTER_SET),
            patient_name: text(o, tags::PATIENT_NAME),
            patient_id: text(o, tags::PATIENT_ID),
            patient_birth_date: text(o, tags::PATIENT_BIRTH_DATE),
            patient_sex: text(o, tags::PATIENT_SEX),
            study_instance_uid: text(o, tags::STUDY_INSTANCE_UID),
            study_date: text(o, tags::STUDY_DATE),
            study_time: text(o, tags::STUDY_TIME),
            referring_physician_name: text(o, tags::REFERRING_PHYSICIAN_NAME),
            study_id: text(o, tags::STUDY_ID),
            accession_number: text(o, tags::ACCESSION_NUMBER),
            study_description: text(o, tags::STUDY_DESCRIPTION),
            frame_of_reference_uid: text(o, tags::FRAME_OF_REFERENCE_UID),
            position_reference_indicator: text(o, tags::POSITION_REFERENCE_INDICATOR),
        }
    }
}

/// One frame of the item, in viewing order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFrame {
    /// 0-based position in viewing order: the `frame` of every annotation.
    pub index: u32,
    pub sop_class_uid: Option<String>,
    pub sop_instance_uid: Option<String>,
    /// 1-based frame number within its instance.
    pub frame_number: u32,
    /// How many frames its instance has (a reference to a multi-frame
    /// instance names the frame).
    pub instance_frames: u32,
    /// Image Position (Patient) of the centre of the first pixel, mm (LPS).
    pub image_position: Option<[f64; 3]>,
    /// Image Orientation (Patient): row direction then column direction (LPS).
    pub image_orientation: Option<[f64; 6]>,
    /// Pixel Spacing: between rows, between columns (mm).
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_thickness: Option<f64>,
}

/// An image item: one DICOM series, or one plain (PNG / JPEG) image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSeries {
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub frame_of_reference_uid: Option<String>,
    pub modality: Option<String>,
    pub rows: u32,
    pub columns: u32,
    /// `slice_normal` or `instance_number` (how the instances were ordered).
    pub ordering: String,
    pub frames: Vec<SourceFrame>,
    /// Patient / study attributes for derived objects (empty for plain images).
    #[serde(default)]
    pub context: StudyContext,
}

impl SourceSeries {
    /// The series of these instances in the frame service's viewing order
    /// ([`clinlabel_dicom::group::series_frames`]), so frame `n` here is frame
    /// `n` of the viewer and of every stored annotation. All instances must
    /// share one Series Instance UID and one Rows × Columns.
    pub fn from_instances(metas: &[ImageMeta], context: StudyContext) -> Result<Self> {
        let first = metas.first().ok_or_else(|| ExportError::InconsistentSeries("no instances".into()))?;
        for m in metas {
            if m.series_instance_uid != first.series_instance_uid {
                return Err(ExportError::InconsistentSeries("instances of more than one series".into()));
            }
            if (m.rows, m.columns) != (first.rows, first.columns) {
                return Err(ExportError::InconsistentSeries(format!(
                    "frames of {}×{} and {}×{} pixels in one series",
                    first.columns, first.rows, m.columns, m.rows
                )));
            }
            if !m.has_pixel_data || m.rows == 0 || m.columns == 0 {
                return Err(ExportError::InconsistentSeries("an instance without pixel data".into()));
            }
        }
        let (ordering, order) = series_frames(metas);
        let frames = order
            .iter()
            .enumerate()
            .map(|(index, &(i, f))| {
                let m = &metas[i];
                let info = m.frame_info(f as usize);
                SourceFrame {
                    index: index as u32,
                    sop_class_uid: m.sop_class_uid.clone(),
                    sop_instance_uid: m.sop_instance_uid.clone(),
                    frame_number: f + 1,
                    instance_frames: m.frames,
                    image_position: info.image_position,
                    image_orientation: info.image_orientation,
                    pixel_spacing: info.pixel_spacing,
                    slice_thickness: info.slice_thickness,
                }
            })
            .collect();
        let mut context = context;
        if context.study_instance_uid.is_none() {
            context.study_instance_uid = first.study_instance_uid.clone();
        }
        if context.frame_of_reference_uid.is_none() {
            context.frame_of_reference_uid = first.frame_of_reference_uid.clone();
        }
        Ok(SourceSeries {
            study_instance_uid: first.study_instance_uid.clone(),
            series_instance_uid: first.series_instance_uid.clone(),
            frame_of_reference_uid: first.frame_of_reference_uid.clone(),
            modality: first.modality.clone(),
            rows: first.rows,
            columns: first.columns,
            ordering: match ordering {
                Ordering::SliceNormal => "slice_normal",
                Ordering::InstanceNumber => "instance_number",
            }
            .into(),
            frames,
            context,
        })
    }

    /// A PNG / JPEG item: one frame, no patient geometry (COCO and native
    /// JSON only).
    pub fn plain_image(rows: u32, columns: u32) -> Self {
        SourceSeries {
            study_instance_uid: None,
            series_instance_uid: None,
            frame_of_reference_uid: None,
            modality: None,
            rows,
            columns,
            ordering: "instance_number".into(),
            frames: vec![SourceFrame {
                index: 0,
                sop_class_uid: None,
                sop_instance_uid: None,
                frame_number: 1,
                instance_frames: 1,
                image_position: None,
                image_orientation: None,
                pixel_spacing: None,
                slice_thickness: None,
            }],
            context: StudyContext::default(),
        }
    }

    pub fn frame_count(&self) -> u32 {
        self.frames.len() as u32
    }

    /// Patient coordinates (mm, DICOM LPS) of image point (`x`, `y`) on frame
    /// `frame`, where (0, 0) is the top-left corner of the first pixel (so the
    /// centre of pixel column c, row r is (c + 0.5, r + 0.5)). `None` when the
    /// frame has no geometry.
    pub fn image_to_patient(&self, frame: u32, x: f64, y: f64) -> Option<[f64; 3]> {
        let f = self.frames.get(frame as usize)?;
        let (p, o, s) = (f.image_position?, f.image_orientation?, f.pixel_spacing?);
        let (c, r) = (x - 0.5, y - 0.5);
        Some(std::array::from_fn(|k| p[k] + o[k] * s[1] * c + o[3 + k] * s[0] * r))
    }

    /// The series as a regular voxel grid, or why it is not one.
    pub fn volume(&self) -> Result<Volume> {
        let not = |why: String| Err(ExportError::NotAVolume(why));
        let f0 = &self.frames[0];
        let (Some(p0), Some(o), Some(s)) = (f0.image_position, f0.image_orientation, f0.pixel_spacing) else {
            return not("frame 0 has no Image Position / Orientation / Pixel Spacing".into());
        };
        let Some(normal) = slice_normal(&o) else {
            return not("Image Orientation (Patient) is degenerate".into());
        };
        for f in &self.frames {
            let (Some(_), Some(fo), Some(fs)) = (f.image_position, f.image_orientation, f.pixel_spacing) else {
                return not(format!("frame {} has no Image Position / Orientation / Pixel Spacing", f.index));
            };
            if fo.iter().zip(o.iter()).any(|(a, b)| (a - b).abs() > 1e-4) {
                return not(format!("frame {} is oriented differently from frame 0", f.index));
            }
            if fs.iter().zip(s.iter()).any(|(a, b)| (a - b).abs() > 1e-4 * b.abs().max(1.0)) {
                return not(format!("frame {} has another pixel spacing than frame 0", f.index));
            }
        }
        let n = self.frames.len();
        let step = if n == 1 {
            let t = f0.slice_thickness.filter(|t| *t > 0.0).unwrap_or(1.0);
            normal.map(|v| v * t)
        } else {
            let pl = self.frames[n - 1].image_position.unwrap();
            let step: [f64; 3] = std::array::from_fn(|k| (pl[k] - p0[k]) / (n - 1) as f64);
            let len = norm(step);
            if len < 1e-6 {
                return not("frames share one position".into());
            }
            if dot(step, normal).abs() < 0.5 * len {
                return not("frames are not stacked along the slice normal".into());
            }
            let tol = (0.01 * len).max(1e-3);
            for (k, f) in self.frames.iter().enumerate() {
                let p = f.image_position.unwrap();
                let want: [f64; 3] = std::array::from_fn(|i| p0[i] + step[i] * k as f64);
                if norm(std::array::from_fn(|i| p[i] - want[i])) > tol {
                    return not(format!(
                        "frame {} is not where an even spacing of {:.3} mm puts it (unevenly spaced slices)",
                        f.index, len
                    ));
                }
            }
            step
        };
        Ok(Volume {
            dims: [self.columns, self.rows, n as u32],
            origin: p0,
            row_direction: [o[0], o[1], o[2]],
            column_direction: [o[3], o[4], o[5]],
            spacing: [s[1], s[0]],
            slice_step: step,
        })
    }
}

/// A regular voxel grid in DICOM patient coordinates (LPS, mm). Voxel
/// (i, j, k) is the centre of pixel column i, row j of frame k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Columns, rows, frames.
    pub dims: [u32; 3],
    /// Centre of the first pixel of frame 0.
    pub origin: [f64; 3],
    /// Direction of increasing column index (DICOM's row direction).
    pub row_direction: [f64; 3],
    /// Direction of increasing row index.
    pub column_direction: [f64; 3],
    /// Spacing along i (between columns) and j (between rows), mm.
    pub spacing: [f64; 2],
    /// Vector from one frame's origin to the next, mm.
    pub slice_step: [f64; 3],
}

impl Volume {
    /// Voxel (i, j, k, 1) → patient LPS (x, y, z, 1).
    pub fn affine_lps(&self) -> [[f64; 4]; 4] {
        let (u, v, w) = (self.row_direction, self.column_direction, self.slice_step);
        let mut a = [[0.0; 4]; 4];
        for r in 0..3 {
            a[r] = [u[r] * self.spacing[0], v[r] * self.spacing[1], w[r], self.origin[r]];
        }
        a[3] = [0.0, 0.0, 0.0, 1.0];
        a
    }

    /// Voxel (i, j, k, 1) → RAS (NIfTI's world): LPS with x and y negated.
    pub fn affine_ras(&self) -> [[f64; 4]; 4] {
        let mut a = self.affine_lps();
        a[0] = a[0].map(|v| -v);
        a[1] = a[1].map(|v| -v);
        a
    }
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u32, z: f64) -> SourceFrame {
        SourceFrame {
            index,
            sop_class_uid: Some("1.2.840.10008.5.1.4.1.1.2".into()),
            sop_instance_uid: Some(format!("1.2.3.{index}")),
            frame_number: 1,
            instance_frames: 1,
            image_position: Some([-100.0, -50.0, z]),
            image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            pixel_spacing: Some([0.5, 0.25]),
            slice_thickness: Some(2.0),
        }
    }

    fn series(zs: &[f64]) -> SourceSeries {
        let mut s = SourceSeries::plain_image(4, 8);
        s.frames = zs.iter().enumerate().map(|(i, &z)| frame(i as u32, z)).collect();
        s
    }

    #[test]
    fn image_points_map_to_patient_coordinates_through_pixel_centres() {
        let s = series(&[10.0]);
        // Centre of the first pixel is the Image Position.
        assert_eq!(s.image_to_patient(0, 0.5, 0.5), Some([-100.0, -50.0, 10.0]));
        // Column spacing (second value) along x, row spacing along y.
        assert_eq!(s.image_to_patient(0, 4.5, 2.5), Some([-99.0, -49.0, 10.0]));
        assert_eq!(s.image_to_patient(1, 0.5, 0.5), None);
    }

    #[test]
    fn regular_stacks_are_volumes_and_others_are_named() {
        let v = series(&[10.0, 12.5, 15.0]).volume().unwrap();
        assert_eq!(v.slice_step, [0.0, 0.0, 2.5]);
        let a = v.affine_ras();
        // Voxel (2, 1, 2): LPS (-100 + 2·0.25, -50 + 1·0.5, 15) → RAS negates x, y.
        let p: Vec<f64> = (0..3).map(|r| a[r][0] * 2.0 + a[r][1] * 1.0 + a[r][2] * 2.0 + a[r][3]).collect();
        assert_eq!(p, vec![99.5, 49.5, 15.0]);
        let err = series(&[10.0, 12.5, 16.0]).volume().unwrap_err().to_string();
        assert!(err.contains("unevenly spaced"), "{err}");
        let mut tilted = series(&[10.0, 12.5]);
        tilted.frames[1].image_orientation = Some([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
        assert!(tilted.volume().unwrap_err().to_string().contains("oriented differently"));
        let one = series(&[3.0]).volume().unwrap();
        assert_eq!(one.slice_step, [0.0, 0.0, 2.0]);
    }
}
