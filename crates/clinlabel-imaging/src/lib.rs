//! # clinlabel-imaging: exports of image annotations (issue 8)
//!
//! Turns what taskers draw on an image item into the files the field reads:
//! **DICOM SEG** ([`seg`]), **NIfTI-1** label volumes ([`nifti`]), **COCO
//! JSON** ([`coco`]) and clinlabel's **native JSON** ([`native`]). No IO: every
//! writer takes an `impl Write` (a file, a buffer, a gzip encoder, the
//! delivery's encrypted stream) and the caller supplies ids, UIDs seeds and
//! times, so the same export is the same bytes.
//!
//! ## Why a crate of its own
//!
//! The annotation model is the domain's ([`clinlabel_domain::imaging`]:
//! [`Geometry`](clinlabel_domain::imaging::Geometry) of 2D / 3D boxes,
//! polygons, freehand outlines, splines and keypoints in image coordinates,
//! [`MaskFrame`](clinlabel_domain::imaging::MaskFrame) label maps with
//! instance ids, per-frame answers; the label schema's image tools, keypoint
//! sets and question levels in [`clinlabel_domain::project`]). DICOM parsing
//! and geometry are [`clinlabel_dicom`]'s. The exports need both, and neither
//! should depend on the other: `clinlabel-dicom` stays a DICOM library with no
//! domain types, the domain stays free of dicom-rs. This crate is the join.
//!
//! ## The pieces
//!
//! | module | what it does |
//! |---|---|
//! | [`series`] | [`SourceSeries`]: the item's frames **in the frame service's viewing order** (so an annotation's `frame` means the same everywhere), each with its SOP Instance UID, frame number and patient geometry; [`StudyContext`] (patient / study attributes a derived object copies); [`Volume`] (the regular-grid check and the voxel → LPS / RAS affines) |
//! | [`raster`] | outlines → pixels (even-odd at pixel centres, half-open); the schema's segmentation labels and their numbers; [`raster::Rasteriser`], which yields one label's mask on one frame on demand |
//! | [`seg`] | binary DICOM SEG, explicit VR little endian Part 10 via dicom-rs, Pixel Data streamed |
//! | [`nifti`] | NIfTI-1 semantic or instance label volume, sform + qform from the DICOM geometry |
//! | [`coco`] | streaming COCO writer: images per frame, categories with keypoint names and skeletons, boxes, polygons, compressed RLE, keypoints |
//! | [`rle`] | COCO's column-major run lengths and pycocotools' compressed string |
//! | [`native`] | the lossless per-item JSON document |
//!
//! ## Using it
//!
//! ```text
//! // The item's instances as the store keeps them (ImageMeta JSON per
//! // de-identified instance), and one instance's bytes for the study attributes.
//! let series = SourceSeries::from_instances(&metas, StudyContext::from_file(&one_instance))?;
//! let opts = SegOptions::new(&format!("{delivery_id}/{item_id}"), now_ms);
//! write_seg(&series, &spec.schema, &body.image, &opts, &mut seg_out)?;
//! write_nifti(&series, &spec.schema, &body.image, NiftiContent::Semantic, &mut GzEncoder::new(nii_out, Compression::default()))?;
//! let mut coco = CocoWriter::new(&spec.schema, info, coco_out)?;
//! coco.add_item(&item_id, &series, &body.image, &body.answers)?; // per item
//! coco.finish()?;
//! serde_json::to_writer(native_out, &native_item(&item_id, &series, &spec.schema, &annotations))?;
//! ```
//!
//! Each writer fails with an [`ExportError`] naming the problem (a series that
//! is not a volume for NIfTI, a label the schema does not have, a mask of the
//! wrong size, nothing to segment); [`ExportError::code`] is stable.
//!
//! ## Coordinates
//!
//! Image coordinates put (0, 0) at the top-left corner of the first pixel and
//! (columns, rows) at the bottom-right corner of the last; pixel (c, r) has
//! its centre at (c + 0.5, r + 0.5). DICOM's Image Position (Patient) is the
//! centre of the first pixel, so image point (x, y) on frame k is at
//! `IPP_k + (x − ½)·Δcol·row_dir + (y − ½)·Δrow·col_dir` (LPS, mm;
//! [`SourceSeries::image_to_patient`]). NIfTI voxel (i, j, k) is pixel
//! centre (i, j) of frame k, and its world is RAS: LPS with x and y negated.
//!
//! ## What pixel exports contain
//!
//! A segmentation label is any label of the schema's polygon, freehand,
//! spline or brush tools; numbered from 1 in schema order, the number is the
//! SEG segment number and the NIfTI value. A label's mask on a frame is the
//! union of its rasterised outlines and its label maps (every instance).
//! Boxes and keypoints are not pixel content: they go to COCO and the native
//! JSON.
//!
//! ## Validation
//!
//! `ci/testdata/imaging.sh` writes the exports of real pydicom series (the
//! `export_corpus` example) and checks them with the field's readers:
//! `dciodvfy` (no errors), highdicom `segread` (same mask per segment and
//! source frame), nibabel (orientation codes and voxel → world equal to the
//! DICOM geometry computed by pydicom, same voxels), pycocotools (loads,
//! decodes every RLE to the same mask, COCOeval of the export against itself
//! gives AP 1.0). `tests/validators.rs` reads its verdicts and fails (never
//! skips) when they are missing.
//!
//! ## Memory
//!
//! Masks are produced one frame at a time: the SEG writer holds one frame's
//! masks and the data set without its per-frame groups (streamed), the NIfTI
//! writer one frame, COCO a small record per frame until it closes. No writer
//! holds a whole volume (`tests/memory.rs` measures the peak with a counting
//! allocator: under 2 MiB for a 256-frame 512×512 series with two labels on
//! every frame).

pub mod coco;
pub mod native;
pub mod nifti;
pub mod raster;
pub mod rle;
pub mod seg;
pub mod series;

pub use coco::CocoWriter;
pub use native::{AnnotationInput, NativeItem, native_item};
pub use nifti::{NiftiContent, NiftiSummary, write_nifti};
pub use seg::{Code, SegOptions, SegSummary, SegmentCoding, write_seg};
pub use series::{SourceFrame, SourceSeries, StudyContext, Volume};

/// Why an export could not be written. [`ExportError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The item's instances do not form one series of one frame size.
    #[error("inconsistent series: {0}")]
    InconsistentSeries(String),
    /// A volume export of a series that is not a regular stack.
    #[error("not a regular volume: {0}")]
    NotAVolume(String),
    /// A DICOM export of something that is not DICOM (or lacks its UIDs).
    #[error("not DICOM: {0}")]
    NotDicom(String),
    /// The annotation does not fit the item or the schema.
    #[error("annotation: {0}")]
    Annotation(String),
    /// Nothing to export in this format.
    #[error("empty: {0}")]
    Empty(String),
    #[error("write failed: {0}")]
    Write(String),
}

impl ExportError {
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::InconsistentSeries(_) => "inconsistent_series",
            ExportError::NotAVolume(_) => "not_a_volume",
            ExportError::NotDicom(_) => "not_dicom",
            ExportError::Annotation(_) => "invalid_annotation",
            ExportError::Empty(_) => "empty_export",
            ExportError::Write(_) => "write_failed",
        }
    }
}

pub type Result<T> = std::result::Result<T, ExportError>;

/// A UID under the `2.25` root: the first 128 bits of SHA-256(`seed` NUL
/// `purpose`) as a decimal integer (PS3.5 B.2).
pub fn derive_uid(seed: &str, purpose: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(seed.as_bytes());
    ctx.update(&[0]);
    ctx.update(purpose.as_bytes());
    let d = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    format!("2.25.{}", u128::from_be_bytes(b))
}

/// A Decimal String of at most 16 characters holding `v` as exactly as fits.
pub fn ds(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v };
    let s = format!("{v}");
    if s.len() <= 16 {
        return s;
    }
    for prec in (0..=15usize).rev() {
        let s = format!("{v:.prec$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.6e}")
}

/// Epoch milliseconds → (DA `YYYYMMDD`, TM `HHMMSS`), UTC.
pub fn ms_to_dicom(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    (format!("{y:04}{m:02}{d:02}"), format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_stable_valid_and_distinct_per_purpose() {
        let a = derive_uid("delivery-1/item-7", "seg-instance");
        assert_eq!(a, derive_uid("delivery-1/item-7", "seg-instance"));
        assert_ne!(a, derive_uid("delivery-1/item-7", "seg-series"));
        assert!(a.starts_with("2.25.") && a.len() <= 64 && a[5..].bytes().all(|b| b.is_ascii_digit()));
        assert!(!a[5..].starts_with('0') || a.len() == 6);
    }

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(ds(0.488281), "0.488281");
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(-125.0), "-125");
        let s = ds(-2.0 / 3.0);
        assert!(s.len() <= 16 && (s.parse::<f64>().unwrap() + 2.0 / 3.0).abs() < 1e-13, "{s}");
        let s = ds(-72.19999694824219);
        assert!(s.len() <= 16 && (s.parse::<f64>().unwrap() + 72.19999694824219).abs() < 1e-10, "{s}");
    }

    #[test]
    fn epoch_milliseconds_become_dicom_date_and_time() {
        assert_eq!(ms_to_dicom(0), ("19700101".into(), "000000".into()));
        // 2026-11-27T20:34:21Z
        assert_eq!(ms_to_dicom(1_795_811_661_000), ("20261127".into(), "203421".into()));
        assert_eq!(ms_to_dicom(951_782_400_000), ("20000229".into(), "000000".into()));
    }
}
