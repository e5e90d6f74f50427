//! The exports on real series (pydicom's test data, `ci/testdata/dicom.sh`):
//! the SEG read back through dicom-rs and clinlabel-dicom's own decoder, the
//! NIfTI header, refusals with reasons, errors naming the problem, the native
//! JSON round trip. The field's readers are in `validators.rs`.

mod corpus;

use clinlabel_dicom::{Limits, decode_frame, image_meta, open_bytes};
use clinlabel_domain::imaging::{Geometry, ImageAnnotation, MaskFrame, Shape};
use clinlabel_imaging::raster::{Rasteriser, segment_labels};
use clinlabel_imaging::{CocoWriter, NativeItem, NiftiContent, SegOptions, SourceSeries, write_nifti, write_seg};

fn loaded(name: &str) -> (&'static corpus::SeriesSpec, corpus::Loaded) {
    let spec = corpus::SERIES.iter().find(|s| s.name == name).unwrap();
    (spec, corpus::load(&corpus::reference(), spec))
}

#[test]
fn seg_frames_read_back_through_an_independent_parser_with_their_source_geometry() {
    for name in ["ct5n_axial", "ct_enhanced", "mr700_radial"] {
        let (spec, l) = loaded(name);
        let (bytes, summary) = corpus::render(spec, &l).seg.unwrap();
        let file = open_bytes(&bytes, &Limits::default()).unwrap();
        let meta = image_meta(&file);
        assert_eq!(meta.sop_class_uid.as_deref(), Some(clinlabel_imaging::seg::SEGMENTATION_STORAGE));
        assert_eq!(meta.sop_instance_uid.as_deref(), Some(summary.sop_instance_uid.as_str()));
        assert_eq!(meta.study_instance_uid, l.series.study_instance_uid, "{name}: the SEG belongs to the source's study");
        assert_eq!(meta.frame_of_reference_uid, l.series.frame_of_reference_uid);
        assert_eq!(meta.frames, summary.frames);
        assert_eq!((meta.rows, meta.columns, meta.bits_allocated), (l.series.rows, l.series.columns, 1));
        let ann = corpus::annotation(&l.series);
        let raster = Rasteriser::new(l.series.rows, l.series.columns, l.series.frame_count(), &ann).unwrap();
        let mut want = vec![0u8; raster.frame_len()];
        let mut k = 0u32;
        for seg in &summary.segments {
            for &f in &seg.source_frames {
                let got = decode_frame(&file, &meta, k).unwrap();
                assert!(raster.label_mask(f, &seg.label, &mut want), "{name}: an empty frame was written");
                assert!(got.data == want, "{name}: SEG frame {k} (segment {}, source frame {f}) differs", seg.number);
                let (info, src) = (meta.frame_info(k as usize), &l.series.frames[f as usize]);
                assert_eq!(info.image_position.map(|p| p.map(|v| (v * 1e3).round())), src.image_position.map(|p| p.map(|v| (v * 1e3).round())), "{name}: frame {k} position");
                assert_eq!(info.image_orientation.map(|p| p.map(|v| (v * 1e5).round())), src.image_orientation.map(|p| p.map(|v| (v * 1e5).round())), "{name}: frame {k} orientation");
                assert_eq!(info.pixel_spacing, src.pixel_spacing);
                k += 1;
            }
        }
        assert_eq!(k, summary.frames);
        // Every segmentation label of the schema is a segment, in schema
        // order, and each has frames on these multi-frame series.
        let labels = segment_labels(&corpus::schema());
        assert_eq!(summary.segments.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), labels.iter().map(|s| s.id.as_str()).collect::<Vec<_>>());
        for s in &summary.segments {
            assert!(!s.source_frames.is_empty(), "{name}: segment {} has no frame", s.label);
        }
    }
}

#[test]
fn the_same_input_gives_the_same_bytes_and_another_seed_other_uids() {
    let (spec, l) = loaded("ct5n_axial");
    let a = corpus::render(spec, &l).seg.unwrap();
    let b = corpus::render(spec, &l).seg.unwrap();
    assert!(a.0 == b.0);
    let ann = corpus::annotation(&l.series);
    let mut other = Vec::new();
    let s = write_seg(&l.series, &corpus::schema(), &ann, &SegOptions::new("another delivery", corpus::CREATED_AT_MS), &mut other).unwrap();
    assert_ne!(s.sop_instance_uid, a.1.sop_instance_uid);
    assert_ne!(s.series_instance_uid, a.1.series_instance_uid);
    assert_eq!(s.bytes, other.len() as u64);
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([b[at], b[at + 1]])
}
fn f32_at(b: &[u8], at: usize) -> f64 {
    f32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as f64
}

#[test]
fn nifti_headers_carry_the_series_grid_and_the_ras_affine() {
    let (spec, l) = loaded("ct_enhanced");
    let (bytes, summary, _, _) = corpus::render(spec, &l).nifti.unwrap();
    assert_eq!(i32::from_le_bytes(bytes[0..4].try_into().unwrap()), 348);
    assert_eq!(&bytes[344..348], b"n+1\0");
    assert_eq!((0..4).map(|i| i16_at(&bytes, 40 + 2 * i)).collect::<Vec<_>>(), vec![3, 512, 512, 2]);
    assert_eq!((i16_at(&bytes, 70), i16_at(&bytes, 72)), (2, 8), "uint8");
    assert_eq!(i16_at(&bytes, 68), 1002, "NIFTI_INTENT_LABEL");
    assert_eq!(f32_at(&bytes, 108), 352.0);
    assert_eq!(bytes.len(), 352 + 512 * 512 * 2);
    // eCT_Supplemental: row direction (−1, 0, 0), column (0, 1, 0) in LPS,
    // 0.388672 mm pixels; its frames sorted along the normal (0, 0, −1) put
    // z = −149 first, then −159. RAS negates x and y.
    let want = [[0.388672, 0.0, 0.0, -99.5], [0.0, -0.388672, 0.0, 301.5], [0.0, 0.0, -10.0, -149.0]];
    for (r, row) in want.iter().enumerate() {
        for (c, w) in row.iter().enumerate() {
            assert!((summary.affine_ras[r][c] - w).abs() < 1e-6, "affine[{r}][{c}] = {}", summary.affine_ras[r][c]);
            assert!((f32_at(&bytes, 280 + 16 * r + 4 * c) - w).abs() < 1e-4, "srow[{r}][{c}]");
        }
    }
    assert_eq!((i16_at(&bytes, 252), i16_at(&bytes, 254)), (1, 1), "qform and sform codes");
    // Two axes flipped is a rotation (diag(1, −1, −1)): qfac +1, quaternion (1, 0, 0).
    assert_eq!(f32_at(&bytes, 76), 1.0);
    assert_eq!((f32_at(&bytes, 256), f32_at(&bytes, 260), f32_at(&bytes, 264)), (1.0, 0.0, 0.0));
    assert_eq!(summary.slices.iter().map(|s| s.1).collect::<Vec<_>>(), vec![2, 1]);
}

#[test]
fn series_that_are_not_volumes_are_refused_with_the_reason() {
    for (name, why) in [("ct2_uneven", "unevenly spaced"), ("mr700_radial", "oriented differently"), ("us_multiframe", "no Image Position")] {
        let (spec, l) = loaded(name);
        let err = corpus::render(spec, &l).nifti.err().unwrap_or_else(|| panic!("{name}: a NIfTI was written"));
        assert_eq!(err.code(), "not_a_volume");
        assert!(err.to_string().contains(why), "{name}: {err}");
    }
}

fn shape(id: &str, label: &str, geometry: Geometry) -> Shape {
    Shape { id: id.into(), label: label.into(), geometry }
}

#[test]
fn bad_annotations_are_named_and_nothing_is_written_for_nothing() {
    let (_, l) = loaded("ct5n_axial");
    let schema = corpus::schema();
    let opts = SegOptions::new("t", 0);
    let seg = |a: &ImageAnnotation| write_seg(&l.series, &schema, a, &opts, &mut Vec::new()).map(|_| ()).unwrap_err();
    let tri = vec![[1.0, 1.0], [9.0, 2.0], [4.0, 8.0]];

    let unknown = ImageAnnotation { shapes: vec![shape("a", "spleen", Geometry::Polygon { frame: 0, points: tri.clone() })], ..Default::default() };
    let e = seg(&unknown);
    assert_eq!(e.code(), "invalid_annotation");
    assert!(e.to_string().contains("\"spleen\""), "{e}");

    let late = ImageAnnotation { shapes: vec![shape("a", "liver", Geometry::Polygon { frame: 5, points: tri.clone() })], ..Default::default() };
    assert!(seg(&late).to_string().contains("image.shapes[0] is on frame 5; the item has 5"));

    let wrong = ImageAnnotation { masks: vec![MaskFrame { frame: 0, label: "tumor".into(), instance: 0, rows: 8, columns: 8, rle: vec![64] }], ..Default::default() };
    assert!(seg(&wrong).to_string().contains("image.masks[0] is 8×8; the item's frames are 16×16"));

    let boxes_only = ImageAnnotation { shapes: vec![shape("b", "lesion", Geometry::BoundingBox2d { frame: 0, x0: 1.0, y0: 1.0, x1: 5.0, y1: 5.0 })], ..Default::default() };
    assert_eq!(seg(&boxes_only).code(), "empty_export");
    // A polygon too thin to cover any pixel centre segments nothing either.
    let sliver = ImageAnnotation { shapes: vec![shape("s", "liver", Geometry::Polygon { frame: 0, points: vec![[1.0, 1.1], [9.0, 1.2], [5.0, 1.3]] })], ..Default::default() };
    assert_eq!(seg(&sliver).code(), "empty_export");

    // A PNG / JPEG item: COCO yes, SEG and NIfTI no.
    let plain = SourceSeries::plain_image(16, 16);
    let ann = ImageAnnotation { shapes: vec![shape("a", "liver", Geometry::Polygon { frame: 0, points: tri })], ..Default::default() };
    assert_eq!(write_seg(&plain, &schema, &ann, &opts, &mut Vec::new()).unwrap_err().code(), "not_dicom");
    assert_eq!(write_nifti(&plain, &schema, &ann, NiftiContent::Semantic, &mut Vec::new()).unwrap_err().code(), "not_a_volume");
    let mut coco = CocoWriter::new(&schema, serde_json::json!({}), Vec::new()).unwrap();
    let counts = coco.add_item("png-1", &plain, &ann, &Default::default()).unwrap();
    assert_eq!((counts.images, counts.annotations), (1, 1));
    let doc: serde_json::Value = serde_json::from_slice(&coco.finish().unwrap()).unwrap();
    assert_eq!(doc["images"][0]["file_name"], "png-1/00000.png");
    assert_eq!(doc["annotations"][0]["area"], 26.5);
}

#[test]
fn native_json_round_trips_and_sorts_answers_by_level() {
    let (spec, l) = loaded("mr700_radial");
    let bytes = corpus::render(spec, &l).native;
    let doc: NativeItem = serde_json::from_slice(&bytes).unwrap();
    // serde_json's default float parser may be one ulp off (Python's is
    // exact): equal within 1e-12 relative.
    let written: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    approx_eq(&serde_json::to_value(&doc).unwrap(), &written, "$");
    approx_eq(&serde_json::to_value(&doc.annotations[0].image).unwrap(), &serde_json::to_value(corpus::annotation(&l.series)).unwrap(), "$.image");
    assert_eq!(doc.format, "clinlabel.imaging.v1");
    assert!(doc.series.affine_ras.is_none());
    assert!(doc.series.not_a_volume.as_deref().unwrap().contains("oriented differently"));
    let a = &doc.annotations[0];
    let one = |v: &str| vec![v.to_string()];
    assert_eq!(a.classifications.series.get("severity"), Some(&one("moderate")));
    assert_eq!(a.classifications.study.get("laterality"), Some(&one("left")));
    assert_eq!(a.classifications.item.get("certainty"), Some(&one("probable")));
    assert_eq!(a.classifications.image[&0].get("finding"), Some(&one("mass")));
    // The spline's interpolated outline, and patient coordinates per frame:
    // keypoint 2 was not placed, and every frame has its own orientation.
    assert_eq!(a.outlines["kidney"].len(), 5 * clinlabel_imaging::raster::SPLINE_POINTS_PER_SEGMENT);
    let kp = &a.patient_points["airway"];
    assert!(kp[0].is_some() && kp[1].is_none() && kp[2].is_some());
    let f0 = &l.series.frames[0];
    let p = kp[0].unwrap();
    let (x, y) = (0.5 * 16.0 + 0.3 - 0.5, 0.2 * 16.0 + 0.1 - 0.5);
    let (ipp, o, s) = (f0.image_position.unwrap(), f0.image_orientation.unwrap(), f0.pixel_spacing.unwrap());
    for k in 0..3 {
        assert!((p[k] - (ipp[k] + o[k] * s[1] * x + o[3 + k] * s[0] * y)).abs() < 1e-9);
    }
}

fn approx_eq(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "{path}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                approx_eq(p, q, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{path}: keys");
            for (k, p) in x {
                approx_eq(p, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}
