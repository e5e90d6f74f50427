//! Image formats through `clinlabel-imaging`: DICOM SEG and NIfTI-1 label
//! volumes (a file per series and accepted annotation), COCO JSON (one
//! streamed document) and the imaging native JSON (a document per item).
//!
//! The source of an item is its frames in the frame service's viewing
//! order: a DICOM series from its instances' stored `ImageMeta`
//! ([`SourceSeries::from_instances`], the same ordering the tasker saw), a
//! PNG / JPEG as one frame of the ingested width × height.
//!
//! **What is not exported, and why.** A pixel format cannot hold every item:
//! a SEG needs a DICOM series and some segmented pixel (boxes and keypoints
//! are not pixels), a NIfTI volume needs a regular stack (one orientation,
//! one spacing, evenly spaced slices — anything else would get a wrong
//! affine). Such items are listed, one JSON line each with the stable code
//! and reason of `clinlabel_imaging::ExportError`, in the format's
//! `not_exported.jsonl` (empty when everything was exported; COCO lists them
//! in its `clinlabel_not_exported`), never dropped silently. An annotation
//! that does not fit its schema or series fails the build, naming the item.
//!
//! Files: `exports/dicom_seg/<doc>.dcm` (explicit VR little endian, Content
//! Creator's Name = the annotator's pseudonym, UIDs derived from the
//! delivery, item and annotation ids so a rebuild writes the same bytes),
//! `exports/nifti/<doc>.nii.gz` (semantic labels: the value of a voxel is
//! its label's segment number) with `exports/nifti/<doc>.json` (dimensions,
//! RAS affine, value → label table, the SOP Instance UID and frame number of
//! each slice), `exports/coco.json`, `exports/native_json/<item>.json`.
//! `<doc>` is [`doc_name`].

use super::{AnnotationRecord, ExportContext, ExportError, ExportWriter, ItemRecord, Needs, Output, doc_name};
use clinlabel_domain::imaging::ImageAnnotation;
use clinlabel_domain::project::LabelSchema;
use clinlabel_domain::qa::Answers;
use clinlabel_imaging::{AnnotationInput, CocoWriter, NiftiContent, SegOptions, SourceSeries, StudyContext};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Bytes to read from the start of an instance for its study attributes
/// ([`study_context`]): everything before Pixel Data in any ordinary file.
pub const STUDY_PREFIX: u64 = 16 << 20;

/// The patient and study attributes of a (de-identified) instance from its
/// bytes: the whole file (`whole`), or its first bytes — then cut just
/// before the top-level Pixel Data (7FE0,0010), which ends the data set, so
/// the instance's pixels are never read. `None` when no cut parses (a
/// deflated body, or a header longer than the prefix): the SEG is then
/// written with the UIDs of the stored geometry and empty patient
/// attributes (type 2, allowed).
pub fn study_context(bytes: &[u8], whole: bool) -> Option<StudyContext> {
    let limits = clinlabel_dicom::Limits::default();
    if whole {
        return clinlabel_dicom::open_bytes(bytes, &limits).ok().map(|f| StudyContext::from_file(&f));
    }
    const PIXEL_DATA: [u8; 4] = [0xE0, 0x7F, 0x10, 0x00];
    bytes
        .windows(4)
        .enumerate()
        .skip(132)
        .filter(|(_, w)| *w == PIXEL_DATA)
        .take(8)
        .find_map(|(at, _)| clinlabel_dicom::open_bytes(&bytes[..at], &limits).ok())
        .map(|f| StudyContext::from_file(&f))
}

/// Why an item has no file in a format.
struct Skip {
    code: &'static str,
    reason: String,
}

impl From<clinlabel_imaging::ExportError> for Skip {
    fn from(e: clinlabel_imaging::ExportError) -> Self {
        Skip { code: e.code(), reason: e.to_string() }
    }
}

/// The item's frames, `Ok(None)` for items that are not images.
fn source(format: &str, item: &ItemRecord) -> Result<Option<Result<SourceSeries, Skip>>, ExportError> {
    match item.kind.as_str() {
        "dicom_series" => {
            let s = item.series.as_ref().ok_or_else(|| ExportError::new(format, format!("item {}: the series' instances were not read", item.item_id)))?;
            let study = s.study.clone().unwrap_or_else(StudyContext::default);
            Ok(Some(SourceSeries::from_instances(&s.instances, study).map_err(Skip::from)))
        }
        "image" => {
            let dim = |k: &str| item.meta.get(k).and_then(Value::as_u64).filter(|v| *v > 0 && *v <= u32::MAX as u64).map(|v| v as u32);
            match (dim("height"), dim("width")) {
                (Some(rows), Some(columns)) => Ok(Some(Ok(SourceSeries::plain_image(rows, columns)))),
                _ => Err(ExportError::new(format, format!("item {}: an image without width and height", item.item_id))),
            }
        }
        _ => Ok(None),
    }
}

/// The image part and item-level answers of an accepted annotation.
fn parts(format: &str, item: &ItemRecord, a: &AnnotationRecord) -> Result<(ImageAnnotation, Answers), ExportError> {
    let bad = |what: &str, e: serde_json::Error| ExportError::new(format, format!("item {} annotation {}: {what}: {e}", item.item_id, a.annotation_id));
    let image = match a.body.get("image") {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone()).map_err(|e| bad("image", e))?,
        _ => ImageAnnotation::default(),
    };
    let answers = match a.body.get("answers") {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone()).map_err(|e| bad("answers", e))?,
        _ => Answers::new(),
    };
    Ok((image, answers))
}

/// Whether an imaging error means "this item cannot be in this format"
/// (listed) rather than "the data is wrong" (the build fails).
fn skippable(e: &clinlabel_imaging::ExportError) -> bool {
    use clinlabel_imaging::ExportError as E;
    matches!(e, E::NotAVolume(_) | E::NotDicom(_) | E::Empty(_) | E::InconsistentSeries(_))
}

fn fail(format: &str, item: &ItemRecord, a: Option<&AnnotationRecord>, e: impl std::fmt::Display) -> ExportError {
    match a {
        Some(a) => ExportError::new(format, format!("item {} annotation {}: {e}", item.item_id, a.annotation_id)),
        None => ExportError::new(format, format!("item {}: {e}", item.item_id)),
    }
}

/// One line of `not_exported.jsonl`.
fn skipped_line(out: &mut Output, item: &ItemRecord, a: Option<&AnnotationRecord>, skip: &Skip) {
    let line = json!({
        "item_id": item.item_id,
        "annotation_id": a.map(|a| a.annotation_id.as_str()),
        "annotator": a.map(|a| a.annotator.as_str()),
        "code": skip.code,
        "reason": skip.reason,
    });
    let _ = serde_json::to_writer(&mut out.stream, &line);
    out.stream.push(b'\n');
}

/// The pieces of the delivery every pixel writer keeps.
#[derive(Default)]
struct Common {
    delivery_id: String,
    project_name: String,
    version: i64,
    built_at: i64,
    schema: LabelSchema,
}

impl Common {
    fn set(&mut self, ctx: &ExportContext) {
        *self = Common { delivery_id: ctx.delivery_id.clone(), project_name: ctx.project_name.clone(), version: ctx.version, built_at: ctx.built_at, schema: ctx.schema.clone() };
    }
}

/// DICOM SEG: a binary segmentation per series and accepted annotation.
#[derive(Default)]
pub struct DicomSeg {
    c: Common,
    pub written: u64,
    pub skipped: u64,
}

impl ExportWriter for DicomSeg {
    fn format(&self) -> &'static str {
        "dicom_seg"
    }
    fn path(&self) -> Option<String> {
        Some("exports/dicom_seg/not_exported.jsonl".into())
    }
    fn media_type(&self) -> &'static str {
        "application/jsonl"
    }
    fn needs(&self) -> Needs {
        Needs { series: true, study: true, ..Needs::default() }
    }
    fn begin(&mut self, ctx: &ExportContext, _out: &mut Output) -> Result<(), ExportError> {
        self.c.set(ctx);
        Ok(())
    }
    fn item(&mut self, item: &ItemRecord, out: &mut Output) -> Result<(), ExportError> {
        let f = self.format();
        let Some(src) = source(f, item)? else { return Ok(()) };
        let src = match src {
            Ok(s) => s,
            Err(skip) => {
                self.skipped += 1;
                skipped_line(out, item, None, &skip);
                return Ok(());
            }
        };
        for a in &item.annotations {
            let (image, _) = parts(f, item, a)?;
            let mut opts = SegOptions::new(&format!("{}/{}/{}", self.c.delivery_id, item.item_id, a.annotation_id), self.c.built_at);
            opts.content_creator = a.annotator.clone();
            opts.content_description = clip(&format!("{} v{}", self.c.project_name, self.c.version), 64);
            let mut bytes = Vec::new();
            match clinlabel_imaging::write_seg(&src, &self.c.schema, &image, &opts, &mut bytes) {
                Ok(_) => {
                    self.written += 1;
                    out.file(format!("exports/dicom_seg/{}.dcm", doc_name(item, a)), "application/dicom", bytes);
                }
                Err(e) if skippable(&e) => {
                    self.skipped += 1;
                    skipped_line(out, item, Some(a), &Skip::from(e));
                }
                Err(e) => return Err(fail(f, item, Some(a), e)),
            }
        }
        Ok(())
    }
}

fn clip(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

/// NIfTI-1 semantic label volumes (gzip) with a JSON sidecar each.
#[derive(Default)]
pub struct Nifti {
    c: Common,
    pub written: u64,
    pub skipped: u64,
}

impl ExportWriter for Nifti {
    fn format(&self) -> &'static str {
        "nifti"
    }
    fn path(&self) -> Option<String> {
        Some("exports/nifti/not_exported.jsonl".into())
    }
    fn media_type(&self) -> &'static str {
        "application/jsonl"
    }
    fn needs(&self) -> Needs {
        Needs { series: true, ..Needs::default() }
    }
    fn begin(&mut self, ctx: &ExportContext, _out: &mut Output) -> Result<(), ExportError> {
        self.c.set(ctx);
        Ok(())
    }
    fn item(&mut self, item: &ItemRecord, out: &mut Output) -> Result<(), ExportError> {
        let f = self.format();
        let Some(src) = source(f, item)? else { return Ok(()) };
        let src = match src.and_then(|s| s.volume().map(|_| s).map_err(Skip::from)) {
            Ok(s) => s,
            Err(skip) => {
                self.skipped += 1;
                skipped_line(out, item, None, &skip);
                return Ok(());
            }
        };
        for a in &item.annotations {
            let (image, _) = parts(f, item, a)?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            match clinlabel_imaging::write_nifti(&src, &self.c.schema, &image, NiftiContent::Semantic, &mut gz) {
                Ok(summary) => {
                    let bytes = gz.finish().map_err(|e| fail(f, item, Some(a), e))?;
                    let name = doc_name(item, a);
                    let sidecar = json!({
                        "format": "clinlabel.nifti.v1",
                        "item_id": item.item_id,
                        "annotation_id": a.annotation_id,
                        "annotator": a.annotator,
                        "file": format!("{name}.nii.gz"),
                        "content": "semantic",
                        "dims": summary.dims,
                        "affine_ras": summary.affine_ras,
                        "datatype": summary.datatype,
                        "labels": summary.labels,
                        "slices": summary.slices.iter().map(|(uid, n)| json!({ "sop_instance_uid": uid, "frame_number": n })).collect::<Vec<_>>(),
                    });
                    self.written += 1;
                    out.file(format!("exports/nifti/{name}.nii.gz"), "application/gzip", bytes);
                    out.file(format!("exports/nifti/{name}.json"), "application/json", serde_json::to_vec_pretty(&sidecar).map_err(|e| fail(f, item, Some(a), e))?);
                }
                Err(e) if skippable(&e) => {
                    self.skipped += 1;
                    skipped_line(out, item, Some(a), &Skip::from(e));
                }
                Err(e) => return Err(fail(f, item, Some(a), e)),
            }
        }
        Ok(())
    }
}

/// The native JSON document of each image item (every accepted annotation in it).
#[derive(Default)]
pub struct NativeImage {
    c: Common,
}

impl ExportWriter for NativeImage {
    fn format(&self) -> &'static str {
        "native_json"
    }
    fn path(&self) -> Option<String> {
        Some("exports/native_json/not_exported.jsonl".into())
    }
    fn media_type(&self) -> &'static str {
        "application/jsonl"
    }
    fn needs(&self) -> Needs {
        Needs { series: true, ..Needs::default() }
    }
    fn begin(&mut self, ctx: &ExportContext, _out: &mut Output) -> Result<(), ExportError> {
        self.c.set(ctx);
        Ok(())
    }
    fn item(&mut self, item: &ItemRecord, out: &mut Output) -> Result<(), ExportError> {
        let f = self.format();
        let Some(src) = source(f, item)? else { return Ok(()) };
        let src = match src {
            Ok(s) => s,
            Err(skip) => {
                skipped_line(out, item, None, &skip);
                return Ok(());
            }
        };
        let parts: Vec<(ImageAnnotation, Answers)> = item.annotations.iter().map(|a| parts(f, item, a)).collect::<Result<_, _>>()?;
        let inputs: Vec<AnnotationInput<'_>> = item
            .annotations
            .iter()
            .zip(&parts)
            .map(|(a, (image, answers))| AnnotationInput { annotation_id: &a.annotation_id, annotator: Some(&a.annotator), answers, image })
            .collect();
        let doc = clinlabel_imaging::native_item(&item.item_id, &src, &self.c.schema, &inputs);
        let bytes = serde_json::to_vec(&doc).map_err(|e| fail(f, item, None, e))?;
        out.file(format!("exports/native_json/{}.json", item.item_id), "application/json", bytes);
        Ok(())
    }
}

/// A `Write` whose bytes are taken after each call.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// COCO JSON over every image item: each accepted annotation adds the
/// item's frames as images with its shapes (see the module docs of
/// [`crate::export`]); `clinlabel_annotations` maps image id ranges back to
/// items, annotations and annotators.
#[derive(Default)]
pub struct Coco {
    shared: Shared,
    writer: Option<CocoWriter<Shared>>,
    images: u64,
    /// One small record per annotation (COCO itself keeps one per frame until the end).
    annotations: Vec<Value>,
    not_exported: Vec<Value>,
}

impl ExportWriter for Coco {
    fn format(&self) -> &'static str {
        "coco"
    }
    fn path(&self) -> Option<String> {
        Some("exports/coco.json".into())
    }
    fn media_type(&self) -> &'static str {
        "application/json"
    }
    fn needs(&self) -> Needs {
        Needs { series: true, ..Needs::default() }
    }
    fn begin(&mut self, ctx: &ExportContext, out: &mut Output) -> Result<(), ExportError> {
        let info = json!({
            "description": ctx.project_name,
            "version": ctx.version.to_string(),
            "year": crate::time::civil(ctx.built_at).0,
            "date_created": crate::time::date(ctx.built_at),
            "contributor": "clinlabel",
            "clinlabel_delivery_id": ctx.delivery_id,
        });
        let w = CocoWriter::new(&ctx.schema, info, self.shared.clone()).map_err(|e| ExportError::new("coco", e.to_string()))?;
        self.writer = Some(w);
        out.stream.extend(self.shared.take());
        Ok(())
    }
    fn item(&mut self, item: &ItemRecord, out: &mut Output) -> Result<(), ExportError> {
        let f = self.format();
        let Some(src) = source(f, item)? else { return Ok(()) };
        let src = match src {
            Ok(s) => s,
            Err(skip) => {
                self.not_exported.push(json!({ "item_id": item.item_id, "code": skip.code, "reason": skip.reason }));
                return Ok(());
            }
        };
        let w = self.writer.as_mut().ok_or_else(|| ExportError::new(f, "begin was not called"))?;
        for a in &item.annotations {
            let (image, answers) = parts(f, item, a)?;
            let counts = w.add_item(&item.item_id, &src, &image, &answers).map_err(|e| fail(f, item, Some(a), e))?;
            let first = self.images + 1;
            self.images += counts.images;
            self.annotations.push(json!({
                "item_id": item.item_id,
                "annotation_id": a.annotation_id,
                "annotator": a.annotator,
                "image_ids": [first, self.images],
                "annotations": counts.annotations,
            }));
            out.stream.extend(self.shared.take());
        }
        Ok(())
    }
    fn finish(&mut self, out: &mut Output) -> Result<(), ExportError> {
        let w = self.writer.take().ok_or_else(|| ExportError::new("coco", "begin was not called"))?;
        w.finish().map_err(|e| ExportError::new("coco", e.to_string()))?;
        let mut tail = self.shared.take();
        // The document ends with its closing brace: our two lists go before it.
        if tail.pop() != Some(b'}') {
            return Err(ExportError::new("coco", "the COCO document does not end with '}'"));
        }
        tail.extend_from_slice(b",\"clinlabel_annotations\":");
        serde_json::to_writer(&mut tail, &self.annotations).map_err(|e| ExportError::new("coco", e.to_string()))?;
        tail.extend_from_slice(b",\"clinlabel_not_exported\":");
        serde_json::to_writer(&mut tail, &self.not_exported).map_err(|e| ExportError::new("coco", e.to_string()))?;
        tail.push(b'}');
        out.stream.extend(tail);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{OutFile, SeriesRecord};

    /// A synthetic CT series: `n` axial 16×12 slices, 2 mm apart, 0.5 mm pixels,
    /// listed out of order (the writers order them along the normal).
    fn series(n: usize, gap_at: Option<usize>) -> SeriesRecord {
        let mut instances: Vec<clinlabel_dicom::ImageMeta> = (0..n)
            .map(|k| {
                let z = 2.0 * k as f64 + if gap_at.is_some_and(|g| k >= g) { 3.0 } else { 0.0 };
                serde_json::from_value(json!({
                    "transfer_syntax": "1.2.840.10008.1.2.1", "transfer_syntax_name": "Explicit VR Little Endian",
                    "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "sop_instance_uid": format!("2.25.100{k}"),
                    "study_instance_uid": "2.25.1", "series_instance_uid": "2.25.2", "frame_of_reference_uid": "2.25.3",
                    "modality": "CT", "series_number": 1, "instance_number": (n - k) as i64, "has_pixel_data": true,
                    "rows": 12, "columns": 16, "frames": 1, "samples_per_pixel": 1, "bits_allocated": 16, "bits_stored": 16, "high_bit": 15,
                    "pixel_representation": 1, "photometric": "MONOCHROME2", "planar_configuration": 0, "burned_in_annotation": null,
                    "frame": { "image_position": [-4.0, -3.0, z], "image_orientation": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], "pixel_spacing": [0.5, 0.5],
                               "slice_thickness": 2.0, "rescale_slope": 1.0, "rescale_intercept": -1024.0, "windows": [] },
                    "per_frame": []
                }))
                .unwrap()
            })
            .collect();
        instances.reverse();
        SeriesRecord { instances, study: Some(StudyContext { patient_id: Some("PSEUDO-1".into()), patient_name: Some("Anon".into()), ..Default::default() }) }
    }

    fn ctx() -> ExportContext {
        ExportContext {
            delivery_id: "d1".into(),
            project_id: "p1".into(),
            project_name: "Lesions".into(),
            version: 1,
            spec_version: 1,
            built_at: 1_795_811_661_000,
            schema: serde_json::from_value(json!({ "image_tools": [
                { "tool": "bounding_box_2d", "labels": [{ "id": "finding", "name": "Finding" }] },
                { "tool": "polygon", "labels": [{ "id": "lesion", "name": "Lesion", "color": "#ff0000" }] }
            ] }))
            .unwrap(),
        }
    }

    fn annotation(who: &str, x0: f64) -> AnnotationRecord {
        annotation_on(who, x0, 1)
    }

    fn annotation_on(who: &str, x0: f64, frame: u32) -> AnnotationRecord {
        AnnotationRecord {
            annotation_id: format!("a-{who}"),
            annotator: who.into(),
            round: 0,
            body: json!({ "answers": {}, "image": { "shapes": [
                { "id": "p1", "label": "lesion", "tool": "polygon", "frame": frame, "points": [[x0, 2.0], [x0 + 4.0, 2.0], [x0 + 4.0, 5.0], [x0, 5.0]] },
                { "id": "b1", "label": "finding", "tool": "bounding_box_2d", "frame": 0, "x0": 1.0, "y0": 1.0, "x1": 3.0, "y1": 3.0 }
            ] } }),
            submitted_at: 1,
        }
    }

    fn item(id: &str, kind: &str, series: Option<SeriesRecord>, annotations: Vec<AnnotationRecord>) -> ItemRecord {
        ItemRecord {
            item_id: id.into(),
            seq: 0,
            kind: kind.into(),
            source_file: format!("{id}.dcm"),
            byte_start: 0,
            byte_end: 0,
            meta: json!({ "format": "png", "width": 16, "height": 12 }),
            annotations,
            note: None,
            series,
        }
    }

    fn run(w: &mut dyn ExportWriter, items: &[ItemRecord]) -> (Vec<u8>, Vec<OutFile>) {
        let mut out = Output::default();
        w.begin(&ctx(), &mut out).unwrap();
        for i in items {
            w.item(i, &mut out).unwrap();
        }
        w.finish(&mut out).unwrap();
        (out.stream, out.files)
    }

    fn lines(stream: &[u8]) -> Vec<Value> {
        stream.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
    }

    #[test]
    fn a_seg_per_series_and_annotation_reads_back_with_its_segment() {
        let items = [
            item("s1", "dicom_series", Some(series(3, None)), vec![annotation("Annotator-a", 2.0), annotation("Annotator-b", 3.0)]),
            item("png", "image", None, vec![annotation("Annotator-a", 2.0)]),
        ];
        let mut w = DicomSeg::default();
        assert!(w.needs().study && w.needs().series);
        let (stream, files) = run(&mut w, &items);
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["exports/dicom_seg/s1.Annotator-a.dcm", "exports/dicom_seg/s1.Annotator-b.dcm"]);
        // The PNG is listed as not exported, with the reason.
        let skipped = lines(&stream);
        assert_eq!(skipped.len(), 1);
        assert_eq!((skipped[0]["item_id"].as_str(), skipped[0]["code"].as_str()), (Some("png"), Some("not_dicom")));
        // Our own DICOM reader opens it: a SEG with one frame (the middle slice), the study attributes copied.
        let seg = clinlabel_dicom::open_bytes(&files[0].bytes, &clinlabel_dicom::Limits::default()).unwrap();
        let meta = clinlabel_dicom::image_meta(&seg);
        assert_eq!(meta.sop_class_uid.as_deref(), Some(clinlabel_imaging::seg::SEGMENTATION_STORAGE));
        assert_eq!(meta.frames, 1);
        assert_eq!(meta.study_instance_uid.as_deref(), Some("2.25.1"));
        let text = |tag| seg.obj.element(tag).unwrap().to_str().unwrap().trim().to_string();
        assert_eq!(text(dicom_dictionary_std::tags::PATIENT_ID), "PSEUDO-1");
        assert_eq!(text(dicom_dictionary_std::tags::CONTENT_CREATOR_NAME), "Annotator-a");
        // The frame is on the source slice at z = 2 (the middle one in viewing order).
        assert_eq!(meta.frame_info(0).image_position, Some([-4.0, -3.0, 2.0]));
        assert_ne!(files[0].bytes, files[1].bytes);
    }

    #[test]
    fn nifti_volumes_of_regular_stacks_and_the_reason_for_the_others() {
        let items = [
            item("s1", "dicom_series", Some(series(3, None)), vec![annotation("Annotator-a", 2.0)]),
            item("uneven", "dicom_series", Some(series(3, Some(2))), vec![annotation("Annotator-a", 2.0)]),
        ];
        let (stream, files) = run(&mut Nifti::default(), &items);
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["exports/nifti/s1.nii.gz", "exports/nifti/s1.json"]);
        let skipped = lines(&stream);
        assert_eq!((skipped[0]["item_id"].as_str(), skipped[0]["code"].as_str()), (Some("uneven"), Some("not_a_volume")));
        // Read the volume back: header, then the voxels of the polygon (x 2..6, y 2..5 → 4 × 3 pixels on k = 1).
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&files[0].bytes[..]), &mut raw).unwrap();
        assert_eq!(i32::from_le_bytes(raw[0..4].try_into().unwrap()), 348);
        let dims: Vec<i16> = (0..4).map(|i| i16::from_le_bytes(raw[40 + 2 * i..42 + 2 * i].try_into().unwrap())).collect();
        assert_eq!(dims, [3, 16, 12, 3]);
        let offset = f32::from_le_bytes(raw[108..112].try_into().unwrap()) as usize;
        let voxels = &raw[offset..];
        assert_eq!(voxels.len(), 16 * 12 * 3);
        let set: Vec<(usize, usize, usize)> = voxels.iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, _)| (i % 16, i / 16 % 12, i / (16 * 12))).collect();
        let want: Vec<(usize, usize, usize)> = (2..5).flat_map(|y| (2..6).map(move |x| (x, y, 1))).collect();
        assert_eq!(set, want);
        let sidecar: Value = serde_json::from_slice(&files[1].bytes).unwrap();
        assert_eq!(sidecar["labels"][0]["label"], "lesion");
        assert_eq!(sidecar["slices"][1]["sop_instance_uid"], "2.25.1001");
        // LPS → RAS: x and y negated; k steps 2 mm along z.
        assert_eq!(sidecar["affine_ras"][2][2], 2.0);
        assert_eq!(sidecar["affine_ras"][0][3], 4.0);
    }

    #[test]
    fn coco_lists_each_annotation_s_images_and_loads_as_json() {
        let items = [
            item("s1", "dicom_series", Some(series(3, None)), vec![annotation("Annotator-a", 2.0), annotation("Annotator-b", 3.0)]),
            item("png", "image", None, vec![annotation_on("Annotator-a", 2.0, 0)]),
        ];
        let (stream, files) = run(&mut Coco::default(), &items);
        assert!(files.is_empty());
        let coco: Value = serde_json::from_slice(&stream).unwrap();
        assert_eq!(coco["images"].as_array().unwrap().len(), 3 + 3 + 1);
        assert_eq!(coco["annotations"].as_array().unwrap().len(), 2 * 3);
        let map = coco["clinlabel_annotations"].as_array().unwrap();
        assert_eq!(map.iter().map(|m| (m["annotator"].as_str().unwrap(), m["image_ids"].clone())).collect::<Vec<_>>(), [
            ("Annotator-a", json!([1, 3])),
            ("Annotator-b", json!([4, 6])),
            ("Annotator-a", json!([7, 7]))
        ]);
        assert_eq!(coco["clinlabel_not_exported"], json!([]));
        // Annotator b's polygon is on an image of its own range.
        let b_poly = coco["annotations"].as_array().unwrap().iter().find(|a| a["segmentation"][0][0] == 3.0).unwrap();
        assert_eq!(b_poly["image_id"], 5);
    }

    #[test]
    fn the_native_document_holds_every_annotation_of_the_item() {
        let items = [item("s1", "dicom_series", Some(series(3, None)), vec![annotation("Annotator-a", 2.0), annotation("Annotator-b", 3.0)])];
        let (stream, files) = run(&mut NativeImage::default(), &items);
        assert!(stream.is_empty());
        let doc: clinlabel_imaging::NativeItem = serde_json::from_slice(&files[0].bytes).unwrap();
        assert_eq!(files[0].path, "exports/native_json/s1.json");
        assert_eq!(doc.annotations.iter().map(|a| a.annotator.as_deref().unwrap()).collect::<Vec<_>>(), ["Annotator-a", "Annotator-b"]);
        assert_eq!(doc.series.frames.iter().map(|f| f.image_position.unwrap()[2]).collect::<Vec<_>>(), [0.0, 2.0, 4.0]);
    }

    #[test]
    fn study_attributes_come_from_the_bytes_before_the_pixels() {
        let file = clinlabel_dicom::synth::ct_slice(1, 0, 64, 64).unwrap();
        let whole = study_context(&file, true).unwrap();
        assert_eq!(whole.patient_id.as_deref(), Some("BENCH-0001"));
        // A prefix that stops inside the pixels: cut before them, same attributes.
        let prefix = &file[..file.len() - 100];
        assert_eq!(study_context(prefix, false), Some(whole));
        // Not DICOM, or cut before the data set's end with no Pixel Data seen: none.
        assert_eq!(study_context(b"not dicom", true), None);
        assert_eq!(study_context(&file[..300], false), None);
    }

    #[test]
    fn a_series_whose_instances_were_not_read_fails_naming_the_item() {
        let i = item("s9", "dicom_series", None, vec![annotation("Annotator-a", 2.0)]);
        let mut w = DicomSeg::default();
        let mut out = Output::default();
        w.begin(&ctx(), &mut out).unwrap();
        assert!(w.item(&i, &mut out).unwrap_err().to_string().contains("item s9"));
    }
}
