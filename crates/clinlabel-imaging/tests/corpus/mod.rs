#![allow(dead_code)]
//! The export corpus: real series from pydicom's test data (fetched by
//! `ci/testdata/dicom.sh`), one label schema with every image tool, and an
//! annotation per series drawn from the series' own size — used by the
//! `export_corpus` example (what `ci/testdata/imaging.sh` validates) and by
//! the integration tests.

use std::path::PathBuf;

use clinlabel_dicom::{Limits, image_meta, open_path};
use clinlabel_domain::imaging::{Geometry, ImageAnnotation, MaskFrame, Shape};
use clinlabel_domain::project::LabelSchema;
use clinlabel_domain::qa::Answers;
use clinlabel_imaging::{SourceSeries, StudyContext};

pub struct SeriesSpec {
    pub name: &'static str,
    /// reference.json names: a directory prefix (every file under it) or one file.
    pub prefix: &'static str,
    pub why: &'static str,
}

pub const SERIES: &[SeriesSpec] = &[
    SeriesSpec { name: "ct5n_axial", prefix: "pydicom/dicomdirtests/98892001/CT5N/", why: "5 axial CT slices, 2.5 mm apart, stored top-down" },
    SeriesSpec { name: "ct_enhanced", prefix: "pydicom-data/eCT_Supplemental.dcm", why: "enhanced CT, 2 frames of 512×512, row direction −x (mirrored), per-frame positions" },
    SeriesSpec { name: "ct693_single", prefix: "pydicom-data/693_UNCI.dcm", why: "one 512×512 CT slice" },
    SeriesSpec { name: "mr_small", prefix: "pydicom/MR_small.dcm", why: "one 64×64 MR slice" },
    SeriesSpec { name: "ct2_uneven", prefix: "pydicom/dicomdirtests/77654033/CT2/", why: "4 CT slices, unevenly spaced (not a volume)" },
    SeriesSpec { name: "mr700_radial", prefix: "pydicom/dicomdirtests/98892003/MR700/", why: "7 radial MR slices, each oriented differently (not a volume)" },
    SeriesSpec { name: "us_multiframe", prefix: "pydicom/examples_ybr_color.dcm", why: "30-frame ultrasound (JPEG, YBR) without patient geometry" },
];

pub struct Loaded {
    pub series: SourceSeries,
    pub paths: Vec<PathBuf>,
}

pub fn testdata_root() -> PathBuf {
    match std::env::var_os("CLINLABEL_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clinlabel-testdata"),
    }
}

/// reference.json of `ci/testdata/dicom.sh`, or a panic saying how to make it.
pub fn reference() -> serde_json::Value {
    let path = testdata_root().join("dicom/reference.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): run `bash ci/testdata/dicom.sh` to fetch the DICOM test data", path.display()));
    serde_json::from_str(&text).expect("reference.json parses")
}

pub fn load(reference: &serde_json::Value, spec: &SeriesSpec) -> Loaded {
    let mut paths: Vec<PathBuf> = reference["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["name"].as_str().is_some_and(|n| n.starts_with(spec.prefix)))
        .map(|e| PathBuf::from(e["path"].as_str().unwrap()))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "{}: no file under {} in reference.json: re-run `bash ci/testdata/dicom.sh`", spec.name, spec.prefix);
    let limits = Limits::default();
    let files: Vec<_> = paths.iter().map(|p| open_path(p, &limits).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect();
    let metas: Vec<_> = files.iter().map(image_meta).collect();
    let series = SourceSeries::from_instances(&metas, StudyContext::from_file(&files[0])).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    Loaded { series, paths }
}

pub fn schema() -> LabelSchema {
    serde_json::from_value(serde_json::json!({
        "image_tools": [
            { "tool": "bounding_box_2d", "labels": [{ "id": "lesion", "name": "Lesion" }] },
            { "tool": "bounding_box_3d", "labels": [{ "id": "lesion", "name": "Lesion" }] },
            { "tool": "polygon", "labels": [{ "id": "liver", "name": "Liver", "color": "#a0522d" }, { "id": "lesion", "name": "Lesion" }] },
            { "tool": "freehand", "labels": [{ "id": "liver", "name": "Liver", "color": "#a0522d" }] },
            { "tool": "spline", "labels": [{ "id": "kidney", "name": "Kidney", "color": "#1e90ff" }] },
            { "tool": "brush", "labels": [{ "id": "liver", "name": "Liver", "color": "#a0522d" }, { "id": "tumor", "name": "Tumour", "color": "#ff0000" }] },
            { "tool": "keypoints", "keypoint_set": "landmarks" }
        ],
        "keypoint_sets": [{ "id": "landmarks", "name": "Airway landmarks", "points": ["carina", "left main", "right main"], "edges": [[0, 1], [0, 2]] }],
        "questions": [
            { "id": "finding", "text": "Finding", "kind": "single", "level": "image", "required": false,
              "options": [{ "id": "none", "name": "None" }, { "id": "mass", "name": "Mass" }, { "id": "nodule", "name": "Nodule" }] },
            { "id": "severity", "text": "Severity", "kind": "single", "level": "series", "ordinal": true,
              "options": [{ "id": "mild", "name": "Mild" }, { "id": "moderate", "name": "Moderate" }, { "id": "severe", "name": "Severe" }] },
            { "id": "laterality", "text": "Laterality", "kind": "single", "level": "study",
              "options": [{ "id": "left", "name": "Left" }, { "id": "right", "name": "Right" }, { "id": "bilateral", "name": "Bilateral" }] },
            { "id": "certainty", "text": "Certainty", "kind": "single",
              "options": [{ "id": "possible", "name": "Possible" }, { "id": "probable", "name": "Probable" }, { "id": "definite", "name": "Definite" }] }
        ]
    }))
    .expect("corpus schema")
}

pub fn answers() -> Answers {
    [("severity", "moderate"), ("laterality", "left"), ("certainty", "probable")].into_iter().map(|(q, a)| (q.to_string(), vec![a.to_string()])).collect()
}

fn disc(rows: u32, columns: u32, cx: f64, cy: f64, r: f64) -> Vec<u8> {
    let mut m = vec![0u8; (rows * columns) as usize];
    for y in 0..rows {
        for x in 0..columns {
            if (x as f64 + 0.5 - cx).hypot(y as f64 + 0.5 - cy) < r {
                m[(y * columns + x) as usize] = 1;
            }
        }
    }
    m
}

/// One annotation using every tool, placed by fractions of the frame size
/// (offsets keep vertices off pixel centres, so no centre lies on an edge).
pub fn annotation(series: &SourceSeries) -> ImageAnnotation {
    let (c, r) = (series.columns as f64, series.rows as f64);
    let last = series.frame_count() - 1;
    let m = r.min(c);
    let mut shapes = vec![
        Shape { id: "box".into(), label: "lesion".into(), geometry: Geometry::BoundingBox2d { frame: 0, x0: 0.1 * c + 0.25, y0: 0.1 * r + 0.5, x1: 0.4 * c + 0.75, y1: 0.35 * r + 0.25 } },
        Shape { id: "box3d".into(), label: "lesion".into(), geometry: Geometry::BoundingBox3d { frames: [0, last], x0: 0.55 * c + 0.125, y0: 0.5 * r + 0.375, x1: 0.9 * c, y1: 0.85 * r + 0.5 } },
        Shape {
            id: "liver-poly".into(),
            label: "liver".into(),
            geometry: Geometry::Polygon {
                frame: 0,
                points: vec![
                    [0.21 * c + 0.113, 0.18 * r + 0.071],
                    [0.62 * c + 0.037, 0.23 * r + 0.19],
                    [0.71 * c + 0.29, 0.55 * r + 0.013],
                    [0.43 * c + 0.171, 0.78 * r + 0.33],
                    [0.16 * c + 0.217, 0.51 * r + 0.059],
                ],
            },
        },
        Shape {
            id: "liver-free".into(),
            label: "liver".into(),
            geometry: Geometry::Freehand {
                frame: last,
                points: (0..48)
                    .map(|i| {
                        let t = i as f64 / 48.0 * std::f64::consts::TAU;
                        let rad = 0.3 * m * (1.0 + 0.1 * (3.0 * t).sin());
                        [0.5 * c + 0.0731 + rad * t.cos(), 0.5 * r + 0.0417 + rad * t.sin()]
                    })
                    .collect(),
            },
        },
        Shape {
            id: "kidney".into(),
            label: "kidney".into(),
            geometry: Geometry::Spline {
                frame: 1.min(last),
                control_points: vec![
                    [0.25 * c + 0.031, 0.55 * r + 0.017],
                    [0.4 * c + 0.113, 0.5 * r + 0.29],
                    [0.47 * c + 0.07, 0.7 * r + 0.11],
                    [0.36 * c + 0.23, 0.88 * r + 0.05],
                    [0.22 * c + 0.19, 0.75 * r + 0.13],
                ],
            },
        },
        Shape { id: "airway".into(), label: "landmarks".into(), geometry: Geometry::Keypoints { frame: 0, points: vec![Some([0.5 * c + 0.3, 0.2 * r + 0.1]), None, Some([0.55 * c + 0.2, 0.7 * r + 0.4])] } },
    ];
    if last > 0 {
        shapes.push(Shape {
            id: "lesion-poly".into(),
            label: "lesion".into(),
            geometry: Geometry::Polygon { frame: last, points: vec![[0.6 * c + 0.1, 0.1 * r + 0.2], [0.9 * c + 0.3, 0.15 * r + 0.1], [0.8 * c + 0.2, 0.4 * r + 0.3]] },
        });
    }
    let (rows, columns) = (series.rows, series.columns);
    let mut masks = Vec::new();
    for f in 0..=last {
        let d = disc(rows, columns, 0.6 * c + 0.1, 0.4 * r + 0.2, 0.12 * m + (f % 3) as f64);
        masks.push(MaskFrame { frame: f, label: "tumor".into(), instance: 1, rows, columns, rle: MaskFrame::encode(&d) });
    }
    masks.push(MaskFrame { frame: 0, label: "tumor".into(), instance: 2, rows, columns, rle: MaskFrame::encode(&disc(rows, columns, 0.3 * c, 0.3 * r, 0.08 * m + 0.5)) });
    let mut block = vec![0u8; (rows * columns) as usize];
    for y in (0.4 * r) as u32..(0.6 * r) as u32 {
        for x in (0.3 * c) as u32..(0.5 * c) as u32 {
            block[(y * columns + x) as usize] = 1;
        }
    }
    masks.push(MaskFrame { frame: 0, label: "liver".into(), instance: 0, rows, columns, rle: MaskFrame::encode(&block) });
    let frame_answers = [(0u32, [("finding".to_string(), vec!["mass".to_string()])].into_iter().collect())].into_iter().collect();
    ImageAnnotation { shapes, masks, frame_answers }
}

/// Every export of one series, in memory, exactly as the example writes it.
pub struct Rendered {
    pub seg: Result<(Vec<u8>, clinlabel_imaging::SegSummary), clinlabel_imaging::ExportError>,
    /// The semantic and instance volumes, uncompressed.
    pub nifti: Result<(Vec<u8>, clinlabel_imaging::NiftiSummary, Vec<u8>, clinlabel_imaging::NiftiSummary), clinlabel_imaging::ExportError>,
    pub native: Vec<u8>,
}

pub const CREATED_AT_MS: i64 = 1_795_811_661_000;

pub fn render(spec: &SeriesSpec, loaded: &Loaded) -> Rendered {
    use clinlabel_imaging::{NiftiContent, SegOptions, write_nifti, write_seg};
    let schema = schema();
    let ann = annotation(&loaded.series);
    clinlabel_domain::imaging::validate(&schema, &ann, Some(clinlabel_domain::imaging::Extent { frames: loaded.series.frame_count() }))
        .unwrap_or_else(|e| panic!("{}: the corpus annotation does not validate: {}", spec.name, e.message()));
    let mut seg = Vec::new();
    let opts = SegOptions::new(&format!("export_corpus/{}", spec.name), CREATED_AT_MS);
    let seg = write_seg(&loaded.series, &schema, &ann, &opts, &mut seg).map(|s| (seg, s));
    let nifti = (|| {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let sa = write_nifti(&loaded.series, &schema, &ann, NiftiContent::Semantic, &mut a)?;
        let sb = write_nifti(&loaded.series, &schema, &ann, NiftiContent::Instances, &mut b)?;
        Ok((a, sa, b, sb))
    })();
    let answers = answers();
    let native = clinlabel_imaging::native_item(
        spec.name,
        &loaded.series,
        &schema,
        &[clinlabel_imaging::AnnotationInput { annotation_id: "a1", annotator: Some("annotator-1"), answers: &answers, image: &ann }],
    );
    Rendered { seg, nifti, native: serde_json::to_vec_pretty(&native).unwrap() }
}

/// The COCO file over every series of the corpus.
pub fn coco(loaded: &[(&SeriesSpec, Loaded)]) -> Vec<u8> {
    let schema = schema();
    let mut coco = clinlabel_imaging::CocoWriter::new(&schema, serde_json::json!({ "description": "clinlabel export_corpus", "version": "1" }), Vec::new()).unwrap();
    for (spec, l) in loaded {
        coco.add_item(spec.name, &l.series, &annotation(&l.series), &answers()).unwrap();
    }
    coco.finish().unwrap()
}
