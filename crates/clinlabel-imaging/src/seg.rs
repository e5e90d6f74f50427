//! DICOM Segmentation (PS3.3 A.51, SOP Class 1.2.840.10008.5.1.4.1.1.66.4),
//! binary, one segment per segmentation label of the schema.
//!
//! What is written, and why:
//!
//! - **Segments**: every polygon / freehand / spline / brush label of the
//!   schema, in schema order, numbered from 1 (so a label has the same
//!   number in every item of a project). Segment Label is the label's name,
//!   algorithm type MANUAL, category and type codes from [`SegOptions::coding`]
//!   (default SCT 85756007 "Tissue" for both), the schema colour as
//!   Recommended Display CIELab Value (sRGB → D50 Lab, as PS3.3 C.10.7.1.1).
//! - **Frames**: one per (segment, source frame) with any pixel set — vector
//!   outlines rasterised ([`crate::raster`]), brush maps decoded, all
//!   instances of a label merged — ordered by segment, then viewing order.
//!   Empty frames are left out, as the standard allows.
//! - **Per-frame functional groups**: Derivation Image (code 113076
//!   "Segmentation") with the Source Image (SOP class / instance, Referenced
//!   Frame Number for a multi-frame source, purpose 121322, Spatial
//!   Locations Preserved YES), Frame Content with the Dimension Index Values,
//!   Plane Position (the source frame's Image Position) and Segment
//!   Identification. Plane Orientation and Pixel Measures are shared when
//!   every frame agrees, per-frame otherwise (a radial MR stack).
//! - **Dimensions**: Referenced Segment Number, then Image Position
//!   (Patient) — the index of a position is the source frame's place in
//!   viewing order, 1-based.
//! - **References**: Referenced Series Sequence (Common Instance Reference)
//!   listing every source instance; patient, study and Frame of Reference
//!   attributes copied from the (de-identified) source.
//! - Pixel Data: 1 bit per pixel, frames packed back to back (a frame need
//!   not start on a byte), first pixel in the least significant bit, padded
//!   to an even length.
//! - Streaming: dicom-rs writes the file meta and the data set up to the
//!   Shared Functional Groups; the Per-frame Functional Groups Sequence
//!   (undefined length, one item encoded by dicom-rs at a time) and Pixel
//!   Data — the two last elements — follow, written here frame by frame. Two
//!   passes over the annotation (which frames have pixels, then the pixels)
//!   keep memory at one frame's masks plus the data set's own size (which
//!   grows with the number of source instances listed, not with frames).
//!
//! Checked by `ci/testdata/imaging.sh`: `dciodvfy` reports no error, and
//! highdicom's `segread` gives back the same mask per segment and source frame.

use std::collections::BTreeMap;
use std::io::Write;

use clinlabel_domain::imaging::ImageAnnotation;
use clinlabel_domain::project::LabelSchema;
use dicom_core::value::{C, DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use serde::{Deserialize, Serialize};

use crate::raster::{Rasteriser, SegmentLabel, segment_labels};
use crate::series::{SourceFrame, SourceSeries};
use crate::{ExportError, Result, derive_uid, ds, ms_to_dicom};

pub const SEGMENTATION_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.66.4";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// A coded concept (Code Value, Coding Scheme Designator, Code Meaning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Code {
    pub value: String,
    pub scheme: String,
    pub meaning: String,
}

impl Code {
    pub fn new(value: &str, scheme: &str, meaning: &str) -> Self {
        Code { value: value.into(), scheme: scheme.into(), meaning: meaning.into() }
    }
}

/// Segmented Property Category and Type of one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentCoding {
    pub category: Code,
    pub property_type: Code,
}

impl Default for SegmentCoding {
    fn default() -> Self {
        SegmentCoding { category: Code::new("85756007", "SCT", "Tissue"), property_type: Code::new("85756007", "SCT", "Tissue") }
    }
}

/// What the SEG says about itself. UIDs and dates come from the caller
/// (`uid_seed`, `created_at_ms`), so the same export is the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegOptions {
    /// The SEG's Series and SOP Instance UIDs are derived from this (e.g. the
    /// delivery and item ids): `2.25.` + 128 bits of SHA-256.
    pub uid_seed: String,
    /// Content / Series Date and Time (UTC), epoch milliseconds.
    pub created_at_ms: i64,
    pub series_number: i32,
    pub instance_number: i32,
    pub series_description: String,
    /// Content Label (CS: upper case, digits, `_`, space; ≤ 16 characters).
    pub content_label: String,
    pub content_description: String,
    /// Content Creator's Name (PN), e.g. the annotator's pseudonym.
    pub content_creator: String,
    pub manufacturer: String,
    pub manufacturer_model_name: String,
    pub device_serial_number: String,
    pub software_versions: String,
    /// Codes per label id; labels not named get [`SegmentCoding::default`].
    pub coding: BTreeMap<String, SegmentCoding>,
}

impl SegOptions {
    pub fn new(uid_seed: &str, created_at_ms: i64) -> Self {
        SegOptions {
            uid_seed: uid_seed.into(),
            created_at_ms,
            series_number: 9001,
            instance_number: 1,
            series_description: "clinlabel segmentation".into(),
            content_label: "SEGMENTATION".into(),
            content_description: "Annotations from clinlabel".into(),
            content_creator: String::new(),
            manufacturer: "clinlabel".into(),
            manufacturer_model_name: "clinlabel".into(),
            device_serial_number: "1".into(),
            software_versions: env!("CARGO_PKG_VERSION").into(),
            coding: BTreeMap::new(),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegSummary {
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    /// Segments in the file, each with the source frames (viewing order) it
    /// has a SEG frame for.
    pub segments: Vec<SegSegment>,
    pub frames: u32,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegSegment {
    pub number: u16,
    pub label: String,
    pub name: String,
    pub source_frames: Vec<u32>,
}

type Obj = InMemDicomObject;

fn put(o: &mut Obj, tag: Tag, vr: VR, v: PrimitiveValue) {
    o.put(DataElement::new(tag, vr, v));
}
fn put_str(o: &mut Obj, tag: Tag, vr: VR, s: &str) {
    put(o, tag, vr, PrimitiveValue::from(s));
}
fn put_strs(o: &mut Obj, tag: Tag, vr: VR, v: &[String]) {
    put(o, tag, vr, PrimitiveValue::Strs(v.iter().cloned().collect::<C<String>>()));
}
fn put_opt(o: &mut Obj, tag: Tag, vr: VR, s: &Option<String>) {
    put_str(o, tag, vr, s.as_deref().unwrap_or(""));
}
fn put_seq(o: &mut Obj, tag: Tag, items: Vec<Obj>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}
fn code_item(c: &Code) -> Obj {
    let mut o = Obj::new_empty();
    put_str(&mut o, tags::CODE_VALUE, VR::SH, &c.value);
    put_str(&mut o, tags::CODING_SCHEME_DESIGNATOR, VR::SH, &c.scheme);
    put_str(&mut o, tags::CODE_MEANING, VR::LO, &c.meaning);
    o
}
fn item(f: impl FnOnce(&mut Obj)) -> Obj {
    let mut o = Obj::new_empty();
    f(&mut o);
    o
}

/// `#rrggbb` → DICOM's CIELab (L*, a*, b* scaled to 0..65535, D50 white).
pub fn cielab(hex: &str) -> Option<[u16; 3]> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let ch = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok().map(|v| v as f64 / 255.0);
    let lin = |c: f64| if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) };
    let (r, g, b) = (lin(ch(0)?), lin(ch(2)?), lin(ch(4)?));
    let x65 = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b;
    let y65 = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    let z65 = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b;
    // Bradford adaptation D65 → D50.
    let x = 1.0478112 * x65 + 0.0228866 * y65 - 0.0501270 * z65;
    let y = 0.0295424 * x65 + 0.9904844 * y65 - 0.0170491 * z65;
    let z = -0.0092345 * x65 + 0.0150436 * y65 + 0.7521316 * z65;
    let d = 6.0 / 29.0;
    let f = |t: f64| if t > d * d * d { t.cbrt() } else { t / (3.0 * d * d) + 4.0 / 29.0 };
    let (fx, fy, fz) = (f(x / 0.96422), f(y / 1.0), f(z / 0.82521));
    let (l, a, bb) = (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz));
    let q = |v: f64| v.round().clamp(0.0, 65535.0) as u16;
    Some([q(l * 65535.0 / 100.0), q((a + 128.0) * 65535.0 / 255.0), q((bb + 128.0) * 65535.0 / 255.0)])
}

fn content_label(s: &str) -> String {
    let mut v: String = s
        .to_ascii_uppercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == ' ' { c } else { '_' })
        .take(16)
        .collect();
    if v.trim().is_empty() {
        v = "SEGMENTATION".into();
    }
    v
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn same<T: PartialEq>(v: &[Option<T>]) -> bool {
    v.windows(2).all(|w| w[0] == w[1])
}

/// Writes a binary SEG of `ann` on `series` as an explicit VR little endian
/// Part 10 file. Fails when the series lacks UIDs, a label is not a
/// segmentation label of the schema, or nothing is segmented.
pub fn write_seg(series: &SourceSeries, schema: &LabelSchema, ann: &ImageAnnotation, opts: &SegOptions, out: &mut impl Write) -> Result<SegSummary> {
    let (Some(study_uid), Some(series_uid)) = (&series.study_instance_uid, &series.series_instance_uid) else {
        return Err(ExportError::NotDicom("a SEG needs a DICOM series (Study and Series Instance UIDs)".into()));
    };
    for f in &series.frames {
        if f.sop_class_uid.is_none() || f.sop_instance_uid.is_none() {
            return Err(ExportError::NotDicom(format!("frame {} has no SOP Class / Instance UID", f.index)));
        }
    }
    let labels = segment_labels(schema);
    let raster = Rasteriser::new(series.rows, series.columns, series.frame_count(), ann)?;
    for l in raster.labels() {
        if !labels.iter().any(|s| s.id == l) {
            return Err(ExportError::Annotation(format!("label {l:?} is not a polygon, freehand, spline or brush label of the schema")));
        }
    }
    // Pass 1: which (segment, frame) pairs have pixels.
    let mut buf = vec![0u8; raster.frame_len()];
    let mut plan: Vec<(&SegmentLabel, Vec<u32>)> = Vec::new();
    for l in &labels {
        let frames: Vec<u32> = raster.frames_of(&l.id).into_iter().filter(|&f| raster.label_mask(f, &l.id, &mut buf)).collect();
        plan.push((l, frames));
    }
    let n_frames: usize = plan.iter().map(|(_, f)| f.len()).sum();
    if n_frames == 0 {
        return Err(ExportError::Empty("the annotation segments no pixel (no polygon, freehand, spline or brush content)".into()));
    }

    let sop_uid = derive_uid(&opts.uid_seed, "seg-instance");
    let seg_series_uid = derive_uid(&opts.uid_seed, "seg-series");
    let (date, time) = ms_to_dicom(opts.created_at_ms);
    let ctx = &series.context;
    let geometric = series.frames.iter().all(|f| f.image_position.is_some() && f.image_orientation.is_some() && f.pixel_spacing.is_some());
    let for_uid = ctx.frame_of_reference_uid.clone().or(series.frame_of_reference_uid.clone());
    let geometric = geometric && for_uid.is_some();

    let mut o = Obj::new_empty();
    if let Some(cs) = &ctx.specific_character_set {
        put_strs(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, &cs.split('\\').map(String::from).collect::<Vec<_>>());
    }
    put_strs(&mut o, tags::IMAGE_TYPE, VR::CS, &["DERIVED".into(), "PRIMARY".into()]);
    put_str(&mut o, tags::INSTANCE_CREATION_DATE, VR::DA, &date);
    put_str(&mut o, tags::INSTANCE_CREATION_TIME, VR::TM, &time);
    put_str(&mut o, tags::SOP_CLASS_UID, VR::UI, SEGMENTATION_STORAGE);
    put_str(&mut o, tags::SOP_INSTANCE_UID, VR::UI, &sop_uid);
    put_opt(&mut o, tags::STUDY_DATE, VR::DA, &ctx.study_date);
    put_str(&mut o, tags::SERIES_DATE, VR::DA, &date);
    put_str(&mut o, tags::CONTENT_DATE, VR::DA, &date);
    put_opt(&mut o, tags::STUDY_TIME, VR::TM, &ctx.study_time);
    put_str(&mut o, tags::SERIES_TIME, VR::TM, &time);
    put_str(&mut o, tags::CONTENT_TIME, VR::TM, &time);
    put_opt(&mut o, tags::ACCESSION_NUMBER, VR::SH, &ctx.accession_number);
    put_str(&mut o, tags::MODALITY, VR::CS, "SEG");
    put_str(&mut o, tags::MANUFACTURER, VR::LO, &clip(&opts.manufacturer, 64));
    put_opt(&mut o, tags::REFERRING_PHYSICIAN_NAME, VR::PN, &ctx.referring_physician_name);
    if let Some(d) = &ctx.study_description {
        put_str(&mut o, tags::STUDY_DESCRIPTION, VR::LO, d);
    }
    put_str(&mut o, tags::SERIES_DESCRIPTION, VR::LO, &clip(&opts.series_description, 64));
    put_str(&mut o, tags::MANUFACTURER_MODEL_NAME, VR::LO, &clip(&opts.manufacturer_model_name, 64));
    // Common Instance Reference: every source instance, once.
    let mut refs: Vec<&SourceFrame> = Vec::new();
    for f in &series.frames {
        if !refs.iter().any(|r| r.sop_instance_uid == f.sop_instance_uid) {
            refs.push(f);
        }
    }
    put_seq(
        &mut o,
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![item(|s| {
            put_seq(
                s,
                tags::REFERENCED_INSTANCE_SEQUENCE,
                refs.iter()
                    .map(|f| {
                        item(|r| {
                            put_opt(r, tags::REFERENCED_SOP_CLASS_UID, VR::UI, &f.sop_class_uid);
                            put_opt(r, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, &f.sop_instance_uid);
                        })
                    })
                    .collect(),
            );
            put_str(s, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
        })],
    );
    put_opt(&mut o, tags::PATIENT_NAME, VR::PN, &ctx.patient_name);
    put_opt(&mut o, tags::PATIENT_ID, VR::LO, &ctx.patient_id);
    put_opt(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, &ctx.patient_birth_date);
    put_opt(&mut o, tags::PATIENT_SEX, VR::CS, &ctx.patient_sex);
    put_str(&mut o, tags::DEVICE_SERIAL_NUMBER, VR::LO, &clip(&opts.device_serial_number, 64));
    put_str(&mut o, tags::SOFTWARE_VERSIONS, VR::LO, &clip(&opts.software_versions, 64));
    put_str(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, study_uid);
    put_str(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, &seg_series_uid);
    put_opt(&mut o, tags::STUDY_ID, VR::SH, &ctx.study_id);
    put_str(&mut o, tags::SERIES_NUMBER, VR::IS, &opts.series_number.to_string());
    put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, &opts.instance_number.to_string());
    if geometric {
        put_opt(&mut o, tags::FRAME_OF_REFERENCE_UID, VR::UI, &for_uid);
        put_opt(&mut o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, &ctx.position_reference_indicator);
    } else {
        // General Image: Patient Orientation (type 2C) is needed when the
        // image carries no Image Orientation / Position.
        put_str(&mut o, tags::PATIENT_ORIENTATION, VR::CS, "");
    }
    // Multi-frame Dimension module.
    let dim_uid = derive_uid(&opts.uid_seed, "seg-dimensions");
    put_seq(&mut o, tags::DIMENSION_ORGANIZATION_SEQUENCE, vec![item(|d| put_str(d, tags::DIMENSION_ORGANIZATION_UID, VR::UI, &dim_uid))]);
    let mut dims = vec![item(|d| {
        put_str(d, tags::DIMENSION_ORGANIZATION_UID, VR::UI, &dim_uid);
        put(d, tags::DIMENSION_INDEX_POINTER, VR::AT, PrimitiveValue::Tags([tags::REFERENCED_SEGMENT_NUMBER].into_iter().collect()));
        put(d, tags::FUNCTIONAL_GROUP_POINTER, VR::AT, PrimitiveValue::Tags([tags::SEGMENT_IDENTIFICATION_SEQUENCE].into_iter().collect()));
        put_str(d, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, "ReferencedSegmentNumber");
    })];
    if geometric {
        dims.push(item(|d| {
            put_str(d, tags::DIMENSION_ORGANIZATION_UID, VR::UI, &dim_uid);
            put(d, tags::DIMENSION_INDEX_POINTER, VR::AT, PrimitiveValue::Tags([tags::IMAGE_POSITION_PATIENT].into_iter().collect()));
            put(d, tags::FUNCTIONAL_GROUP_POINTER, VR::AT, PrimitiveValue::Tags([tags::PLANE_POSITION_SEQUENCE].into_iter().collect()));
            put_str(d, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, "ImagePositionPatient");
        }));
    }
    put_seq(&mut o, tags::DIMENSION_INDEX_SEQUENCE, dims);
    // Image Pixel / Segmentation Image modules.
    put(&mut o, tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put_str(&mut o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    put_str(&mut o, tags::NUMBER_OF_FRAMES, VR::IS, &n_frames.to_string());
    put(&mut o, tags::ROWS, VR::US, PrimitiveValue::from(series.rows as u16));
    put(&mut o, tags::COLUMNS, VR::US, PrimitiveValue::from(series.columns as u16));
    put(&mut o, tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(1u16));
    put(&mut o, tags::BITS_STORED, VR::US, PrimitiveValue::from(1u16));
    put(&mut o, tags::HIGH_BIT, VR::US, PrimitiveValue::from(0u16));
    put(&mut o, tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16));
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put_str(&mut o, tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    put_str(&mut o, tags::CONTENT_LABEL, VR::CS, &content_label(&opts.content_label));
    put_str(&mut o, tags::CONTENT_DESCRIPTION, VR::LO, &clip(&opts.content_description, 64));
    put_str(&mut o, tags::CONTENT_CREATOR_NAME, VR::PN, &clip(&opts.content_creator, 64));
    put_seq(
        &mut o,
        tags::SEGMENT_SEQUENCE,
        labels
            .iter()
            .map(|l| {
                let coding = opts.coding.get(&l.id).cloned().unwrap_or_default();
                item(|s| {
                    put_seq(s, tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE, vec![code_item(&coding.category)]);
                    put(s, tags::SEGMENT_NUMBER, VR::US, PrimitiveValue::from(l.number));
                    put_str(s, tags::SEGMENT_LABEL, VR::LO, &clip(&l.name, 64));
                    put_str(s, tags::SEGMENT_DESCRIPTION, VR::ST, &l.id);
                    put_str(s, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "MANUAL");
                    if let Some(lab) = l.color.as_deref().and_then(cielab) {
                        put(s, tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE, VR::US, PrimitiveValue::U16(lab.into_iter().collect()));
                    }
                    put_seq(s, tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE, vec![code_item(&coding.property_type)]);
                })
            })
            .collect(),
    );
    // Functional groups.
    let used: Vec<&SourceFrame> = plan.iter().flat_map(|(_, fs)| fs.iter().map(|&f| &series.frames[f as usize])).collect();
    let orientations: Vec<_> = used.iter().map(|f| f.image_orientation).collect();
    let measures: Vec<_> = used.iter().map(|f| Some((f.pixel_spacing.map(|v| v.map(f64::to_bits)), f.slice_thickness.map(f64::to_bits)))).collect();
    let shared_orientation = geometric && same(&orientations);
    let shared_measures = same(&measures);
    let orientation_item = |f: &SourceFrame| {
        item(|p| put_strs(p, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, &f.image_orientation.unwrap().map(ds)))
    };
    let measures_item = |f: &SourceFrame| {
        item(|p| {
            if let Some(t) = f.slice_thickness.filter(|t| *t > 0.0) {
                put_str(p, tags::SLICE_THICKNESS, VR::DS, &ds(t));
            }
            if let Some(s) = f.pixel_spacing {
                put_strs(p, tags::PIXEL_SPACING, VR::DS, &s.map(ds));
            }
        })
    };
    let first = used[0];
    put_seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![item(|g| {
            if shared_orientation {
                put_seq(g, tags::PLANE_ORIENTATION_SEQUENCE, vec![orientation_item(first)]);
            }
            if shared_measures && first.pixel_spacing.is_some() {
                put_seq(g, tags::PIXEL_MEASURES_SEQUENCE, vec![measures_item(first)]);
            }
        })],
    );
    // Everything but the Per-frame Functional Groups (5200,9230) and Pixel
    // Data (7FE0,0010), the two last elements, is written by dicom-rs; those
    // two are streamed after it, one frame at a time.
    let file = o
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_VR_LE).implementation_version_name("CLINLABEL"))
        .map_err(|e| ExportError::Write(e.to_string()))?;
    let mut counter = Counting { inner: out, n: 0 };
    file.write_all(&mut counter).map_err(|e| ExportError::Write(e.to_string()))?;
    drop(file);
    let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
    let frame_item = |l: &SegmentLabel, f: &SourceFrame| {
        item(|g| {
            put_seq(
                g,
                tags::DERIVATION_IMAGE_SEQUENCE,
                vec![item(|d| {
                    put_seq(
                        d,
                        tags::SOURCE_IMAGE_SEQUENCE,
                        vec![item(|s| {
                            put_opt(s, tags::REFERENCED_SOP_CLASS_UID, VR::UI, &f.sop_class_uid);
                            put_opt(s, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, &f.sop_instance_uid);
                            if f.instance_frames > 1 {
                                put_str(s, tags::REFERENCED_FRAME_NUMBER, VR::IS, &f.frame_number.to_string());
                            }
                            put_seq(s, tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE, vec![code_item(&Code::new("121322", "DCM", "Source image for image processing operation"))]);
                            put_str(s, tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES");
                        })],
                    );
                    put_seq(d, tags::DERIVATION_CODE_SEQUENCE, vec![code_item(&Code::new("113076", "DCM", "Segmentation"))]);
                })],
            );
            put_seq(
                g,
                tags::FRAME_CONTENT_SEQUENCE,
                vec![item(|c| {
                    let mut idx = vec![l.number as u32];
                    if geometric {
                        idx.push(f.index + 1);
                    }
                    put(c, tags::DIMENSION_INDEX_VALUES, VR::UL, PrimitiveValue::U32(idx.into_iter().collect()));
                })],
            );
            if geometric {
                put_seq(g, tags::PLANE_POSITION_SEQUENCE, vec![item(|p| put_strs(p, tags::IMAGE_POSITION_PATIENT, VR::DS, &f.image_position.unwrap().map(ds)))]);
                if !shared_orientation {
                    put_seq(g, tags::PLANE_ORIENTATION_SEQUENCE, vec![orientation_item(f)]);
                }
            }
            if !shared_measures && f.pixel_spacing.is_some() {
                put_seq(g, tags::PIXEL_MEASURES_SEQUENCE, vec![measures_item(f)]);
            }
            put_seq(g, tags::SEGMENT_IDENTIFICATION_SEQUENCE, vec![item(|s| put(s, tags::REFERENCED_SEGMENT_NUMBER, VR::US, PrimitiveValue::from(l.number)))]);
        })
    };
    counter.write_all(&element_header(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, *b"SQ", u32::MAX)).map_err(io)?;
    let mut encoded = Vec::new();
    for (l, frames) in &plan {
        for &fi in frames {
            encoded.clear();
            frame_item(l, &series.frames[fi as usize]).write_dataset_with_ts(&mut encoded, &ts).map_err(|e| ExportError::Write(e.to_string()))?;
            counter.write_all(&delimiter(0xE000, u32::MAX)).map_err(io)?;
            counter.write_all(&encoded).map_err(io)?;
            counter.write_all(&delimiter(0xE00D, 0)).map_err(io)?;
        }
    }
    counter.write_all(&delimiter(0xE0DD, 0)).map_err(io)?;

    // Pass 2: Pixel Data (7FE0,0010) OB, streamed frame by frame.
    let bits = n_frames as u64 * raster.frame_len() as u64;
    let len = bits.div_ceil(8).next_multiple_of(2);
    let len32 = u32::try_from(len).map_err(|_| ExportError::Write(format!("Pixel Data of {len} bytes exceeds the 4 GiB a DICOM element can hold")))?;
    counter.write_all(&element_header(tags::PIXEL_DATA, *b"OB", len32)).map_err(io)?;
    let mut packer = BitPacker::default();
    let mut bytes = Vec::with_capacity(raster.frame_len() / 8 + 2);
    for (l, frames) in &plan {
        for &f in frames {
            raster.label_mask(f, &l.id, &mut buf);
            bytes.clear();
            packer.push(&buf, &mut bytes);
            counter.write_all(&bytes).map_err(io)?;
        }
    }
    bytes.clear();
    packer.finish(&mut bytes);
    if (bits.div_ceil(8)) % 2 == 1 {
        bytes.push(0);
    }
    counter.write_all(&bytes).map_err(io)?;
    counter.flush().map_err(io)?;
    Ok(SegSummary {
        sop_instance_uid: sop_uid,
        series_instance_uid: seg_series_uid,
        segments: plan.iter().map(|(l, f)| SegSegment { number: l.number, label: l.id.clone(), name: l.name.clone(), source_frames: f.clone() }).collect(),
        frames: n_frames as u32,
        bytes: counter.n,
    })
}

/// An explicit VR little endian header of an OB / SQ element (long form).
fn element_header(tag: Tag, vr: [u8; 2], len: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0..2].copy_from_slice(&tag.group().to_le_bytes());
    h[2..4].copy_from_slice(&tag.element().to_le_bytes());
    h[4..6].copy_from_slice(&vr);
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h
}

/// Item (FFFE,E000), item delimitation (FFFE,E00D) or sequence delimitation
/// (FFFE,E0DD): tag and length, no VR.
fn delimiter(element: u16, len: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[0..2].copy_from_slice(&0xFFFEu16.to_le_bytes());
    h[2..4].copy_from_slice(&element.to_le_bytes());
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h
}

fn io(e: std::io::Error) -> ExportError {
    ExportError::Write(e.to_string())
}

struct Counting<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(b)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Packs 0/1 bytes into bits, LSB first, continuing across frames.
#[derive(Default)]
struct BitPacker {
    acc: u8,
    nbits: u8,
}

impl BitPacker {
    fn push(&mut self, px: &[u8], out: &mut Vec<u8>) {
        for &v in px {
            if v != 0 {
                self.acc |= 1 << self.nbits;
            }
            self.nbits += 1;
            if self.nbits == 8 {
                out.push(self.acc);
                self.acc = 0;
                self.nbits = 0;
            }
        }
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.nbits > 0 {
            out.push(self.acc);
            self.acc = 0;
            self.nbits = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_pack_lsb_first_across_frame_boundaries() {
        let mut p = BitPacker::default();
        let mut out = Vec::new();
        p.push(&[1, 0, 0, 0, 0, 0], &mut out);
        p.push(&[1, 1, 0, 0, 0, 0, 0, 0, 1], &mut out);
        p.finish(&mut out);
        // bits: 1 0 0 0 0 0 1 1 | 0 0 0 0 0 0 1 → 0b1100_0001, 0b0100_0000
        assert_eq!(out, vec![0xC1, 0x40]);
    }

    #[test]
    fn colours_become_d50_cielab() {
        // White is L* 100, a* = b* = 0 under the D50 white point.
        assert_eq!(cielab("#ffffff"), Some([65535, 32896, 32896]));
        assert_eq!(cielab("#000000"), Some([0, 32896, 32896]));
        // Pure sRGB red, D50 (Bradford): L* 54.29, a* 80.80, b* 69.89 (Lindbloom's calculator).
        let [l, a, b] = cielab("#ff0000").unwrap();
        assert!((l as f64 * 100.0 / 65535.0 - 54.29).abs() < 0.05);
        assert!((a as f64 * 255.0 / 65535.0 - 128.0 - 80.80).abs() < 0.1);
        assert!((b as f64 * 255.0 / 65535.0 - 128.0 - 69.89).abs() < 0.1);
        assert_eq!(cielab("red"), None);
    }

    #[test]
    fn content_labels_are_valid_code_strings() {
        assert_eq!(content_label("Liver & lesions (v2)"), "LIVER _ LESIONS ");
        assert_eq!(content_label(""), "SEGMENTATION");
    }
}
