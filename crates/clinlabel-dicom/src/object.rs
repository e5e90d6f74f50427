//! A validated, parsed DICOM file and the metadata the viewer and grouping need.

use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use serde::{Deserialize, Serialize};

use crate::error::{DicomError, Result};
use crate::safe::{self, Limits};

/// A DICOM file that passed the structural pre-scan and was parsed in memory.
pub struct DicomFile {
    /// The parsed object (file meta + data set).
    pub obj: DefaultDicomObject,
    /// Transfer Syntax UID as written in the file meta group.
    pub transfer_syntax: String,
    pub(crate) limits: Limits,
}

impl std::fmt::Debug for DicomFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicomFile")
            .field("transfer_syntax", &self.transfer_syntax)
            .finish_non_exhaustive()
    }
}

/// Name of a transfer syntax ("unknown" when not in the registry).
pub fn transfer_syntax_name(uid: &str) -> String {
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Opens a DICOM file from bytes held in memory: validate, then parse.
pub fn open_bytes(bytes: &[u8], limits: &Limits) -> Result<DicomFile> {
    let scan = safe::validate(bytes, limits)?;
    if TransferSyntaxRegistry.get(&scan.ts_uid).is_none() {
        return Err(DicomError::UnsupportedTransferSyntax {
            uid: scan.ts_uid.clone(),
            name: "unknown".into(),
            reason: "not a transfer syntax this reader knows".into(),
        });
    }
    let obj = OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(&bytes[128..])
        .map_err(|e| DicomError::Malformed(format!("{e}")))?;
    Ok(DicomFile {
        obj,
        transfer_syntax: scan.ts_uid,
        limits: limits.clone(),
    })
}

/// Opens a DICOM file from a path (read whole, size-checked first).
pub fn open_path(path: &Path, limits: &Limits) -> Result<DicomFile> {
    let bytes = read_limited(path, limits.max_file_bytes)?;
    open_bytes(&bytes, limits)
}

pub(crate) fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let io = |e| DicomError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let md = std::fs::metadata(path).map_err(io)?;
    if md.len() > max {
        return Err(DicomError::Limit(format!(
            "file is {} bytes, over the {max}-byte limit",
            md.len()
        )));
    }
    std::fs::read(path).map_err(io)
}

/// A window preset (DICOM Window Center / Width, PS3.3 C.11.2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub center: f64,
    pub width: f64,
}

/// Geometry and value transform of one frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameInfo {
    /// Image Position (Patient) of the frame's first pixel, mm.
    pub image_position: Option<[f64; 3]>,
    /// Image Orientation (Patient): row then column direction cosines.
    pub image_orientation: Option<[f64; 6]>,
    /// Pixel Spacing: row spacing, column spacing (mm).
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_thickness: Option<f64>,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    pub windows: Vec<Window>,
}

/// What the viewer, the grouping and the reports need to know about an instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageMeta {
    pub transfer_syntax: String,
    pub transfer_syntax_name: String,
    pub sop_class_uid: Option<String>,
    pub sop_instance_uid: Option<String>,
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub frame_of_reference_uid: Option<String>,
    pub modality: Option<String>,
    pub series_number: Option<i64>,
    pub instance_number: Option<i64>,
    pub has_pixel_data: bool,
    pub rows: u32,
    pub columns: u32,
    pub frames: u32,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    /// 0 unsigned, 1 two's complement.
    pub pixel_representation: u16,
    pub photometric: String,
    pub planar_configuration: u16,
    pub burned_in_annotation: Option<String>,
    /// The instance-level (or shared functional group) geometry and transform.
    pub frame: FrameInfo,
    /// Per-frame values from an enhanced object's Per-Frame Functional Groups
    /// (empty for classic objects; missing entries fall back to `frame`).
    pub per_frame: Vec<FrameInfo>,
}

impl ImageMeta {
    /// Geometry and transform of frame `n` (per-frame values over shared ones).
    pub fn frame_info(&self, n: usize) -> FrameInfo {
        match self.per_frame.get(n) {
            None => self.frame.clone(),
            Some(p) => FrameInfo {
                image_position: p.image_position.or(self.frame.image_position),
                image_orientation: p.image_orientation.or(self.frame.image_orientation),
                pixel_spacing: p.pixel_spacing.or(self.frame.pixel_spacing),
                slice_thickness: p.slice_thickness.or(self.frame.slice_thickness),
                rescale_slope: p.rescale_slope,
                rescale_intercept: p.rescale_intercept,
                windows: if p.windows.is_empty() {
                    self.frame.windows.clone()
                } else {
                    p.windows.clone()
                },
            },
        }
    }
}

pub(crate) fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    let s = e.to_str().ok()?;
    let s = s
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string();
    if s.is_empty() { None } else { Some(s) }
}

pub(crate) fn get_u32(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    obj.element_opt(tag).ok().flatten()?.to_int::<u32>().ok()
}

fn get_i64(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_int::<i64>()
        .ok()
        .or_else(|| e.to_float64().ok().map(|f| f.round() as i64))
}

fn get_floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let v = obj
        .element_opt(tag)
        .ok()
        .flatten()?
        .to_multi_float64()
        .ok()?;
    if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
        None
    } else {
        Some(v)
    }
}

fn get_f64(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    get_floats(obj, tag).map(|v| v[0])
}

fn arr<const N: usize>(v: Option<Vec<f64>>) -> Option<[f64; N]> {
    let v = v?;
    if v.len() < N {
        return None;
    }
    let mut a = [0.0; N];
    a.copy_from_slice(&v[..N]);
    Some(a)
}

fn windows(obj: &InMemDicomObject) -> Vec<Window> {
    let (Some(c), Some(w)) = (
        get_floats(obj, tags::WINDOW_CENTER),
        get_floats(obj, tags::WINDOW_WIDTH),
    ) else {
        return Vec::new();
    };
    c.iter()
        .zip(w.iter())
        .filter(|(_, w)| **w >= 1.0)
        .map(|(&center, &width)| Window { center, width })
        .collect()
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.element_opt(tag).ok().flatten()?.items()?.first()
}

/// Reads the functional-group macros of one functional-groups item into `info`.
fn apply_groups(item: &InMemDicomObject, info: &mut FrameInfo) {
    if let Some(p) = first_item(item, tags::PLANE_POSITION_SEQUENCE) {
        info.image_position =
            arr(get_floats(p, tags::IMAGE_POSITION_PATIENT)).or(info.image_position);
    }
    if let Some(p) = first_item(item, tags::PLANE_ORIENTATION_SEQUENCE) {
        info.image_orientation =
            arr(get_floats(p, tags::IMAGE_ORIENTATION_PATIENT)).or(info.image_orientation);
    }
    if let Some(p) = first_item(item, tags::PIXEL_MEASURES_SEQUENCE) {
        info.pixel_spacing = arr(get_floats(p, tags::PIXEL_SPACING)).or(info.pixel_spacing);
        info.slice_thickness = get_f64(p, tags::SLICE_THICKNESS).or(info.slice_thickness);
    }
    if let Some(p) = first_item(item, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) {
        if let Some(s) = get_f64(p, tags::RESCALE_SLOPE) {
            info.rescale_slope = s;
        }
        if let Some(i) = get_f64(p, tags::RESCALE_INTERCEPT) {
            info.rescale_intercept = i;
        }
    }
    if let Some(p) = first_item(item, tags::FRAME_VOILUT_SEQUENCE) {
        let w = windows(p);
        if !w.is_empty() {
            info.windows = w;
        }
    }
}

/// Extracts [`ImageMeta`] from a parsed file.
pub fn image_meta(file: &DicomFile) -> ImageMeta {
    let obj: &InMemDicomObject = &file.obj;
    let mut frame = FrameInfo {
        image_position: arr(get_floats(obj, tags::IMAGE_POSITION_PATIENT)),
        image_orientation: arr(get_floats(obj, tags::IMAGE_ORIENTATION_PATIENT)),
        pixel_spacing: arr(get_floats(obj, tags::PIXEL_SPACING))
            .or_else(|| arr(get_floats(obj, tags::IMAGER_PIXEL_SPACING))),
        slice_thickness: get_f64(obj, tags::SLICE_THICKNESS),
        rescale_slope: get_f64(obj, tags::RESCALE_SLOPE).unwrap_or(1.0),
        rescale_intercept: get_f64(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        windows: windows(obj),
    };
    if let Some(shared) = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE) {
        apply_groups(shared, &mut frame);
    }
    let mut per_frame = Vec::new();
    if let Some(items) = obj
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
    {
        for item in items {
            let mut info = FrameInfo {
                image_position: None,
                image_orientation: None,
                pixel_spacing: None,
                slice_thickness: None,
                rescale_slope: frame.rescale_slope,
                rescale_intercept: frame.rescale_intercept,
                windows: Vec::new(),
            };
            apply_groups(item, &mut info);
            per_frame.push(info);
        }
    }
    let bits_allocated = get_u32(obj, tags::BITS_ALLOCATED).unwrap_or(0) as u16;
    ImageMeta {
        transfer_syntax: file.transfer_syntax.clone(),
        transfer_syntax_name: transfer_syntax_name(&file.transfer_syntax),
        sop_class_uid: get_str(obj, tags::SOP_CLASS_UID),
        sop_instance_uid: get_str(obj, tags::SOP_INSTANCE_UID),
        study_instance_uid: get_str(obj, tags::STUDY_INSTANCE_UID),
        series_instance_uid: get_str(obj, tags::SERIES_INSTANCE_UID),
        frame_of_reference_uid: get_str(obj, tags::FRAME_OF_REFERENCE_UID),
        modality: get_str(obj, tags::MODALITY),
        series_number: get_i64(obj, tags::SERIES_NUMBER),
        instance_number: get_i64(obj, tags::INSTANCE_NUMBER),
        has_pixel_data: obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some(),
        rows: get_u32(obj, tags::ROWS).unwrap_or(0),
        columns: get_u32(obj, tags::COLUMNS).unwrap_or(0),
        frames: get_i64(obj, tags::NUMBER_OF_FRAMES)
            .filter(|&n| n > 0)
            .unwrap_or(1) as u32,
        samples_per_pixel: get_u32(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
        bits_allocated,
        bits_stored: get_u32(obj, tags::BITS_STORED)
            .map(|v| v as u16)
            .unwrap_or(bits_allocated),
        high_bit: get_u32(obj, tags::HIGH_BIT)
            .map(|v| v as u16)
            .unwrap_or(bits_allocated.saturating_sub(1)),
        pixel_representation: get_u32(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) as u16,
        photometric: get_str(obj, tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap_or_else(|| "MONOCHROME2".into()),
        planar_configuration: get_u32(obj, tags::PLANAR_CONFIGURATION).unwrap_or(0) as u16,
        burned_in_annotation: get_str(obj, tags::BURNED_IN_ANNOTATION),
        frame,
        per_frame,
    }
}
