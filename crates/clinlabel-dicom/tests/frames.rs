//! Grouping and ordering, multi-frame and enhanced multi-frame objects, PNG/JPEG
//! items, and rendering.

mod common;

use std::path::{Path, PathBuf};

use clinlabel_dicom::group::{Ordering, frame_order, slice_normal};
use clinlabel_dicom::ingest::{IngestOptions, ItemKind, ingest};
use clinlabel_dicom::{
    Limits, decode_frame, encode_png, image_meta, open_bytes, open_path, render_frame,
};
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;

fn path(name: &str) -> PathBuf {
    common::path_of(&common::reference(), name)
}

fn modified(
    base: &[u8],
    edits: &[(dicom_core::Tag, VR, PrimitiveValue)],
    remove: &[dicom_core::Tag],
) -> Vec<u8> {
    let mut f = open_bytes(base, &Limits::default()).unwrap();
    for (t, vr, v) in edits {
        f.obj.put(DataElement::new(*t, *vr, v.clone()));
    }
    for t in remove {
        f.obj.remove_element(*t);
    }
    f.obj.meta_mut().media_storage_sop_instance_uid = f
        .obj
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut out = Vec::new();
    f.obj.write_all(&mut out).unwrap();
    out
}

fn ds3(v: [f64; 3]) -> PrimitiveValue {
    PrimitiveValue::Strs(v.iter().map(|x| format!("{x:.4}")).collect())
}

#[test]
fn series_are_grouped_and_ordered_along_the_slice_normal() {
    let base = std::fs::read(path("pydicom/CT_small.dcm")).unwrap();
    // An oblique stack: row (1,0,0), column (0,cos30,-sin30); slices 2.5 mm apart
    // along the normal, with in-plane jitter, and Instance Numbers running the
    // other way so that only the geometry gives the right order.
    let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
    let orient = [1.0, 0.0, 0.0, 0.0, c, -s];
    let n = slice_normal(&orient).unwrap();
    let mut files = Vec::new();
    for k in [3usize, 0, 5, 1, 4, 2] {
        let jitter = [k as f64 * 0.7, -(k as f64) * 0.3 * c, k as f64 * 0.3 * s];
        let p = [
            -50.0 + n[0] * 2.5 * k as f64 + jitter[0],
            20.0 + n[1] * 2.5 * k as f64 + jitter[1],
            7.0 + n[2] * 2.5 * k as f64 + jitter[2],
        ];
        let bytes = modified(
            &base,
            &[
                (
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    PrimitiveValue::Strs(orient.iter().map(|x| format!("{x:.6}")).collect()),
                ),
                (tags::IMAGE_POSITION_PATIENT, VR::DS, ds3(p)),
                (
                    tags::INSTANCE_NUMBER,
                    VR::IS,
                    PrimitiveValue::from(format!("{}", 10 - k)),
                ),
                (
                    tags::SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(format!("1.2.826.0.1.3680043.77.1.{k}")),
                ),
                (
                    tags::SERIES_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from("1.2.826.0.1.3680043.77.1"),
                ),
            ],
            &[],
        );
        files.push((format!("slice{k}.dcm"), bytes));
    }
    // A second series in the same study without positions: Instance Number order.
    for k in [2usize, 0, 1] {
        let bytes = modified(
            &base,
            &[
                (
                    tags::INSTANCE_NUMBER,
                    VR::IS,
                    PrimitiveValue::from(format!("{}", k + 1)),
                ),
                (
                    tags::SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(format!("1.2.826.0.1.3680043.77.2.{k}")),
                ),
                (
                    tags::SERIES_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from("1.2.826.0.1.3680043.77.2"),
                ),
                (tags::SERIES_NUMBER, VR::IS, PrimitiveValue::from("2")),
            ],
            &[tags::IMAGE_POSITION_PATIENT],
        );
        files.push((format!("scout{k}.dcm"), bytes));
    }
    // Another study: a real MR; and a real CT series of four files.
    files.push((
        "mr.dcm".into(),
        std::fs::read(path("pydicom/MR_small.dcm")).unwrap(),
    ));
    for name in ["17196", "17106", "17166", "17136"] {
        let p = path(&format!("pydicom/dicomdirtests/77654033/CT2/{name}"));
        files.push((format!("ct2-{name}"), std::fs::read(p).unwrap()));
    }
    let report = ingest(files, &IngestOptions::default());
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.items.len(), 14);
    let ct_study = open_bytes(&base, &Limits::default()).unwrap();
    let ct_study_uid = image_meta(&ct_study).study_instance_uid.unwrap();
    let study = report
        .studies
        .iter()
        .find(|s| s.study_instance_uid == ct_study_uid)
        .unwrap();
    let oblique = study
        .series
        .iter()
        .find(|s| s.series_instance_uid == "1.2.826.0.1.3680043.77.1")
        .unwrap();
    assert_eq!(oblique.ordering, Ordering::SliceNormal);
    let names: Vec<&str> = oblique.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "slice0.dcm",
            "slice1.dcm",
            "slice2.dcm",
            "slice3.dcm",
            "slice4.dcm",
            "slice5.dcm"
        ]
    );
    let locs: Vec<f64> = oblique
        .instances
        .iter()
        .map(|i| i.slice_location.unwrap())
        .collect();
    for w in locs.windows(2) {
        assert!(
            (w[1] - w[0] - 2.5).abs() < 1e-3,
            "spacing along the normal: {locs:?}"
        );
    }
    let scout = study
        .series
        .iter()
        .find(|s| s.series_instance_uid == "1.2.826.0.1.3680043.77.2")
        .unwrap();
    assert_eq!(scout.ordering, Ordering::InstanceNumber);
    let names: Vec<&str> = scout.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["scout0.dcm", "scout1.dcm", "scout2.dcm"]);
    // Real series: ordered by geometry, locations increasing.
    let real = report
        .studies
        .iter()
        .flat_map(|s| s.series.iter())
        .find(|s| s.instances.iter().any(|i| i.name.starts_with("ct2-")))
        .unwrap();
    assert_eq!(real.instances.len(), 4);
    assert_eq!(real.ordering, Ordering::SliceNormal);
    let locs: Vec<f64> = real
        .instances
        .iter()
        .map(|i| i.slice_location.unwrap())
        .collect();
    assert!(locs.windows(2).all(|w| w[0] <= w[1]), "{locs:?}");
    assert_eq!(
        report.studies.iter().map(|s| s.series.len()).sum::<usize>(),
        4
    );
}

#[test]
fn enhanced_multi_frame_geometry_and_order() {
    for name in [
        "pydicom-data/eCT_Supplemental.dcm",
        "pydicom-data/liver.dcm",
    ] {
        let f = open_path(&path(name), &Limits::default()).unwrap();
        let m = image_meta(&f);
        assert_eq!(m.per_frame.len(), m.frames as usize, "{name}");
        let (ordering, order) = frame_order(&m);
        assert_eq!(ordering, Ordering::SliceNormal, "{name}");
        let n = slice_normal(&m.frame_info(0).image_orientation.unwrap()).unwrap();
        let loc = |i: usize| {
            let p = m.frame_info(i).image_position.unwrap();
            p[0] * n[0] + p[1] * n[1] + p[2] * n[2]
        };
        assert!(order.windows(2).all(|w| loc(w[0]) <= loc(w[1])), "{name}");
        assert!(
            m.frame_info(0).pixel_spacing.is_some(),
            "{name}: spacing from the functional groups"
        );
        for i in 0..m.frames {
            let fr = decode_frame(&f, &m, i).unwrap();
            assert_eq!(
                fr.data.len(),
                (m.rows * m.columns) as usize * fr.sample_type.size()
            );
        }
    }
}

#[test]
fn every_frame_of_a_multi_frame_series_is_the_same_in_every_syntax() {
    let base = open_path(&path("pydicom-data/emri_small.dcm"), &Limits::default()).unwrap();
    let bm = image_meta(&base);
    assert_eq!(bm.frames, 10);
    for name in [
        "emri_small_big_endian.dcm",
        "emri_small_RLE.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
    ] {
        let f = open_path(&path(&format!("pydicom-data/{name}")), &Limits::default()).unwrap();
        let m = image_meta(&f);
        assert_eq!(m.frames, 10, "{name}");
        for i in 0..10 {
            let a = decode_frame(&base, &bm, i).unwrap();
            let b = decode_frame(&f, &m, i).unwrap();
            assert_eq!(a.sample_type, b.sample_type, "{name} frame {i}");
            assert!(a.data == b.data, "{name} frame {i} differs");
        }
        let e = decode_frame(&f, &m, 10).unwrap_err();
        assert_eq!(e.code(), "invalid_pixel_data");
    }
}

#[test]
fn png_and_jpeg_images_are_single_frame_items() {
    let grey: Vec<u8> = (0..12u8).map(|v| v * 20).collect();
    let png = encode_png(4, 3, &grey, false).unwrap();
    // A JPEG: the baseline codestream of a DICOM file is a JPEG file.
    let f = open_path(
        &path("pydicom/SC_rgb_small_odd_jpeg.dcm"),
        &Limits::default(),
    )
    .unwrap();
    let jpeg = f
        .obj
        .element(tags::PIXEL_DATA)
        .unwrap()
        .fragments()
        .unwrap()[0]
        .clone();
    let report = ingest(
        vec![
            ("photo.png".to_string(), png.clone()),
            ("photo.jpg".to_string(), jpeg.clone()),
            ("bad.png".to_string(), png[..30].to_vec()),
        ],
        &IngestOptions::default(),
    );
    assert_eq!(report.items.len(), 2, "{:?}", report.rejected);
    match &report.items[0].kind {
        ItemKind::Image {
            format,
            width,
            height,
            channels,
        } => assert_eq!((*format, *width, *height, *channels), ("png", 4, 3, 1)),
        k => panic!("{k:?}"),
    }
    match &report.items[1].kind {
        ItemKind::Image {
            format, channels, ..
        } => assert_eq!((*format, *channels), ("jpeg", 3)),
        k => panic!("{k:?}"),
    }
    assert_eq!(report.rejected[0].name, "bad.png");
    assert_eq!(report.rejected[0].code, "decode_failed");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("photo.png");
    std::fs::write(&p, &png).unwrap();
    let r = render_frame(&p, 0, None).unwrap();
    assert_eq!(r.raw_le, grey);
    assert_eq!((r.meta.rows, r.meta.columns, r.meta.dtype), (3, 4, "uint8"));
}

fn png_pixels(png: &[u8]) -> (u32, u32, png::ColorType, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(png));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0u8; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, buf)
}

#[test]
fn render_writes_raw_frame_and_windowed_png() {
    let p = path("pydicom/CT_small.dcm");
    let f = open_path(&p, &Limits::default()).unwrap();
    let m = image_meta(&f);
    let r = render_frame(&p, 0, Some((40.0, 400.0))).unwrap();
    assert_eq!(r.raw_le.len(), 128 * 128 * 2);
    assert_eq!(r.meta.dtype, "int16");
    assert_eq!(
        (r.meta.rescale_slope, r.meta.rescale_intercept),
        (m.frame.rescale_slope, m.frame.rescale_intercept)
    );
    assert!(
        r.meta.pixel_spacing.is_some()
            && r.meta.image_orientation.is_some()
            && r.meta.image_position.is_some()
    );
    let (w, h, ct, px) = png_pixels(&r.png);
    assert_eq!((w, h, ct), (128, 128, png::ColorType::Grayscale));
    // Check the window arithmetic on every pixel (PS3.3 C.11.2.1.2, linear).
    for (i, &d) in px.iter().enumerate() {
        let stored = i16::from_le_bytes([r.raw_le[2 * i], r.raw_le[2 * i + 1]]) as f64;
        let x = stored * m.frame.rescale_slope + m.frame.rescale_intercept;
        let (c, ww) = (40.0 - 0.5, 399.0);
        let want = if x <= c - ww / 2.0 {
            0.0
        } else if x > c + ww / 2.0 {
            255.0
        } else {
            (((x - c) / ww + 0.5) * 255.0).round()
        };
        assert_eq!(d as f64, want, "pixel {i} (stored {stored})");
    }
    // The frame service's path gives the same samples and metadata, unrendered.
    let (raw, fm) =
        clinlabel_dicom::frame_raw(&std::fs::read(&p).unwrap(), 0, &Limits::default()).unwrap();
    assert_eq!(raw.data, r.raw_le);
    assert_eq!(
        (fm.rows, fm.columns, fm.dtype, fm.window_used),
        (128, 128, "int16", None)
    );
    assert_eq!(fm.pixel_spacing, r.meta.pixel_spacing);
    // Default window: the file's first preset when it has one.
    let d = render_frame(&p, 0, None).unwrap();
    assert_eq!(
        d.meta.window_used,
        m.frame.windows.first().copied().or(d.meta.window_used)
    );
    assert_eq!(
        render_frame(&p, 1, None).unwrap_err().code(),
        "invalid_pixel_data"
    );
    // Colour: RGB PNG.
    let rgb = render_frame(&path("pydicom/SC_rgb_rle.dcm"), 0, None).unwrap();
    let (_, _, ct, _) = png_pixels(&rgb.png);
    assert_eq!(ct, png::ColorType::Rgb);
    assert_eq!(rgb.meta.window_used, None);
    let _ = Path::new("");
}
