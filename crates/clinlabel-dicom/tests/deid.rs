//! De-identification: every PS3.15 Table E.1-1 attribute present is handled per
//! its action, private tags go at every depth, UIDs map consistently within a
//! project and differently across projects, and pydicom re-reads the output
//! (checked by ci/testdata/dicom.sh, whose verdicts are asserted here).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use clinlabel_dicom::deid::{
    DateOption, DeidOptions, UidMapper, deidentify, profile_rows, shift_date,
};
use clinlabel_dicom::{Limits, deidentify_file, open_bytes, open_path};
use dicom_core::dictionary::DataDictionary;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;

const SECRET: &[u8] = b"test project secret";

fn parse_tag(p: &str) -> Tag {
    Tag(
        u16::from_str_radix(&p[..4], 16).unwrap(),
        u16::from_str_radix(&p[4..], 16).unwrap(),
    )
}

fn vr_of(tag: Tag) -> VR {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.vr.relaxed())
        .unwrap_or(VR::LO)
}

fn value_for(vr: VR, n: usize) -> Value<InMemDicomObject, Vec<u8>> {
    let p = match vr {
        VR::DA => PrimitiveValue::from("20200115"),
        VR::DT => PrimitiveValue::from("20200115123000"),
        VR::TM => PrimitiveValue::from("123000"),
        VR::AS => PrimitiveValue::from("045Y"),
        VR::DS => PrimitiveValue::from("7.5"),
        VR::IS => PrimitiveValue::from("7"),
        VR::PN => PrimitiveValue::from("DOE^JOHN"),
        VR::UI => PrimitiveValue::from(format!("1.2.826.0.1.3680043.99.{n}")),
        VR::US => PrimitiveValue::from(7u16),
        VR::SS => PrimitiveValue::from(7i16),
        VR::UL => PrimitiveValue::from(7u32),
        VR::SL => PrimitiveValue::from(7i32),
        VR::FL => PrimitiveValue::from(7f32),
        VR::FD => PrimitiveValue::from(7f64),
        VR::AT => PrimitiveValue::Tags([Tag(0x0010, 0x0010)][..].into()),
        VR::OB | VR::OW | VR::UN | VR::OF | VR::OD | VR::OL | VR::OV | VR::SV | VR::UV => {
            PrimitiveValue::U8([1u8, 2, 3, 4][..].into())
        }
        VR::CS | VR::AE => PrimitiveValue::from("SECRET"),
        _ => PrimitiveValue::from("SECRET VALUE"),
    };
    Value::Primitive(p)
}

fn nested_item(n: usize) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("NESTED^SECRET"),
        ),
        DataElement::new(
            Tag(0x0009, 0x0010),
            VR::LO,
            PrimitiveValue::from("ACME PRIVATE"),
        ),
        DataElement::new(
            Tag(0x0009, 0x1001),
            VR::LO,
            PrimitiveValue::from("private secret"),
        ),
        DataElement::new(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(format!("1.2.826.0.1.3680043.98.{n}")),
        ),
        DataElement::new(
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2"),
        ),
    ])
}

/// CT_small plus one element for every exact-tag row of the table (and
/// private elements at the top level and inside every sequence).
fn everything_file() -> Vec<u8> {
    let reference = common::reference();
    let bytes = std::fs::read(common::path_of(&reference, "pydicom/CT_small.dcm")).unwrap();
    let mut file = open_bytes(&bytes, &Limits::default()).unwrap();
    for (n, row) in profile_rows().iter().enumerate() {
        if row.pattern.contains('x')
            || row.pattern.starts_with("0000")
            || row.pattern.starts_with("0002")
        {
            continue;
        }
        let tag = parse_tag(&row.pattern);
        let vr = vr_of(tag);
        let value = if vr == VR::SQ {
            Value::Sequence(DataSetSequence::from(vec![nested_item(n)]))
        } else {
            value_for(vr, n)
        };
        file.obj.put(DataElement::new(tag, vr, value));
    }
    // Repeating-group rows: an overlay and a curve.
    file.obj.put(DataElement::new(
        Tag(0x6000, 0x3000),
        VR::OW,
        PrimitiveValue::U8([0u8; 8][..].into()),
    ));
    file.obj.put(DataElement::new(
        Tag(0x6000, 0x4000),
        VR::LT,
        PrimitiveValue::from("overlay comment"),
    ));
    file.obj.put(DataElement::new(
        Tag(0x5000, 0x3000),
        VR::OW,
        PrimitiveValue::U8([0u8; 8][..].into()),
    ));
    file.obj.put(DataElement::new(
        Tag(0x0029, 0x0010),
        VR::LO,
        PrimitiveValue::from("SIEMENS CSA HEADER"),
    ));
    file.obj.put(DataElement::new(
        Tag(0x0029, 0x1010),
        VR::OB,
        PrimitiveValue::U8([9u8; 16][..].into()),
    ));
    let mut out = Vec::new();
    file.obj.write_all(&mut out).unwrap();
    out
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.element_opt(tag).ok().flatten().map(|e| {
        e.to_str()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    })
}

fn no_private(obj: &InMemDicomObject, path: &str) {
    for e in obj.iter() {
        let t = e.header().tag;
        assert!(t.0 % 2 == 0, "private tag {t} left at {path}");
        if let Some(items) = e.items() {
            for (i, item) in items.iter().enumerate() {
                no_private(item, &format!("{path}{t}[{i}]>"));
            }
        }
    }
}

/// What the profile must do, written independently of the implementation.
fn expected(basic: &str, temporal: bool, vr: VR, dates: DateOption) -> char {
    if temporal {
        match dates {
            DateOption::Keep => return 'K',
            DateOption::Shift { .. } => {
                return if matches!(vr, VR::DA | VR::DT) {
                    'C'
                } else {
                    'K'
                };
            }
            DateOption::Remove => {}
        }
    }
    match basic {
        "X" => 'X',
        "Z" | "X/Z" => 'Z',
        "D" | "X/D" | "Z/D" | "X/Z/D" => 'D',
        "U" | "X/Z/U*" => 'U',
        other => panic!("unexpected code {other}"),
    }
}

#[test]
fn every_profile_attribute_is_handled_per_its_action() {
    let input = everything_file();
    let original = open_bytes(&input, &Limits::default()).unwrap();
    let mapper = UidMapper::new(SECRET);
    for dates in [
        DateOption::Remove,
        DateOption::Shift { days: -17 },
        DateOption::Keep,
    ] {
        let mut file = open_bytes(&input, &Limits::default()).unwrap();
        let report = deidentify(
            &mut file,
            &DeidOptions::new(SECRET, dates),
            "everything.dcm",
        )
        .unwrap();
        // Round trip through bytes: the output is a well-formed file.
        let mut out = Vec::new();
        file.obj.write_all(&mut out).unwrap();
        let file = open_bytes(&out, &Limits::default()).unwrap();
        let obj: &InMemDicomObject = &file.obj;
        let reported: BTreeMap<String, char> = report
            .actions
            .iter()
            .map(|a| (a.tag.clone(), a.action))
            .collect();
        let mut checked = BTreeMap::<char, usize>::new();
        for row in profile_rows() {
            if row.pattern.contains('x')
                || row.pattern.starts_with("0000")
                || row.pattern.starts_with("0002")
            {
                continue;
            }
            let tag = parse_tag(&row.pattern);
            let vr = vr_of(tag);
            let want = expected(&row.basic, row.temporal, vr, dates);
            let key = format!("({:04X},{:04X})", tag.0, tag.1);
            assert_eq!(
                reported.get(&key),
                Some(&want),
                "{dates:?} {} {key} report",
                row.name
            );
            *checked.entry(want).or_default() += 1;
            let before = text(&original.obj, tag);
            let after = text(obj, tag);
            let elem = obj.element_opt(tag).ok().flatten();
            match want {
                'X' => assert!(
                    elem.is_none(),
                    "{dates:?} {} {key} must be removed",
                    row.name
                ),
                'Z' => {
                    let e = elem.unwrap_or_else(|| panic!("{} {key} must stay, empty", row.name));
                    match e.value() {
                        Value::Sequence(s) => assert!(s.items().is_empty(), "{key}"),
                        _ => assert_eq!(
                            after.as_deref(),
                            Some(""),
                            "{dates:?} {} {key} must be empty",
                            row.name
                        ),
                    }
                }
                'D' => {
                    let e = elem.unwrap_or_else(|| panic!("{} {key} must stay, dummied", row.name));
                    if let Some(items) = e.items() {
                        for item in items {
                            assert_eq!(
                                text(item, tags::PATIENT_NAME).as_deref(),
                                Some(""),
                                "{key} nested name"
                            );
                        }
                    } else {
                        let a = after.unwrap();
                        assert!(!a.is_empty(), "{} {key} dummy must not be empty", row.name);
                        if vr == VR::UI {
                            assert_eq!(a, mapper.map(&before.unwrap()), "{key}");
                        } else if !matches!(
                            vr,
                            VR::US | VR::SS | VR::UL | VR::SL | VR::FL | VR::FD | VR::DS | VR::IS
                        ) {
                            assert_ne!(Some(a), before, "{} {key} dummy equals original", row.name);
                        }
                    }
                }
                'U' => {
                    let e =
                        elem.unwrap_or_else(|| panic!("{} {key} must stay, replaced", row.name));
                    if let Some(items) = e.items() {
                        for item in items {
                            let orig = "1.2.826.0.1.3680043.98.";
                            let r = text(item, tags::REFERENCED_SOP_INSTANCE_UID).unwrap();
                            assert!(
                                r.starts_with("2.25.") && !r.starts_with(orig),
                                "{key} nested UID {r}"
                            );
                            assert_eq!(
                                text(item, tags::REFERENCED_SOP_CLASS_UID).as_deref(),
                                Some("1.2.840.10008.5.1.4.1.1.2")
                            );
                        }
                    } else {
                        assert_eq!(
                            after.unwrap(),
                            mapper.map(&before.unwrap()),
                            "{} {key}",
                            row.name
                        );
                    }
                }
                'K' => assert_eq!(after, before, "{dates:?} {} {key} must be kept", row.name),
                'C' => {
                    let b = before.unwrap();
                    assert_eq!(
                        after.unwrap(),
                        shift_date(&b, -17).unwrap(),
                        "{} {key}",
                        row.name
                    );
                    assert_ne!(shift_date(&b, -17).unwrap(), b);
                }
                _ => unreachable!(),
            }
        }
        // Repeating groups and private elements.
        for t in [
            Tag(0x6000, 0x3000),
            Tag(0x6000, 0x4000),
            Tag(0x5000, 0x3000),
        ] {
            assert!(
                obj.element_opt(t).ok().flatten().is_none(),
                "{t} must be removed"
            );
        }
        no_private(obj, "");
        assert!(report.private_removed >= 2, "{}", report.private_removed);
        // What the file now says about itself.
        assert_eq!(
            text(obj, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
            Some("YES")
        );
        let ltim = text(obj, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).unwrap();
        let want_ltim = match dates {
            DateOption::Remove => "REMOVED",
            DateOption::Shift { .. } => "MODIFIED",
            DateOption::Keep => "UNMODIFIED",
        };
        assert_eq!(ltim, want_ltim);
        assert_eq!(
            file.obj
                .meta()
                .media_storage_sop_instance_uid
                .trim_end_matches('\0'),
            text(obj, tags::SOP_INSTANCE_UID).unwrap()
        );
        // Attributes outside the table are untouched.
        for t in [
            tags::ROWS,
            tags::COLUMNS,
            tags::MODALITY,
            tags::IMAGE_POSITION_PATIENT,
            tags::RESCALE_SLOPE,
        ] {
            assert_eq!(text(obj, t), text(&original.obj, t), "{t}");
        }
        assert_eq!(
            obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap(),
            original
                .obj
                .element(tags::PIXEL_DATA)
                .unwrap()
                .to_bytes()
                .unwrap()
        );
        println!(
            "{dates:?}: checked {checked:?}, {} actions reported, {} UIDs replaced",
            report.actions.len(),
            report.uids_replaced
        );
    }
}

#[test]
fn standard_attributes_stored_as_un_are_handled_by_their_dictionary_vr() {
    let reference = common::reference();
    let bytes = std::fs::read(common::path_of(&reference, "pydicom/CT_small.dcm")).unwrap();
    let mut file = open_bytes(&bytes, &Limits::default()).unwrap();
    let un = |s: &str| PrimitiveValue::U8(s.as_bytes().to_vec().into());
    file.obj
        .put(DataElement::new(tags::STUDY_DATE, VR::UN, un("20200115")));
    file.obj
        .put(DataElement::new(tags::PATIENT_NAME, VR::UN, un("DOE^JOHN")));
    file.obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UN,
        un("1.2.826.0.1.3680043.55.1"),
    ));
    file.obj.put(DataElement::new(
        tags::OPERATORS_NAME,
        VR::UN,
        un("SMITH^JANE"),
    ));
    let mut input = Vec::new();
    file.obj.write_all(&mut input).unwrap();
    let opts = DeidOptions::new(SECRET, DateOption::Shift { days: 3 });
    let (out, _) = clinlabel_dicom::deidentify_bytes(&input, &opts, "un.dcm").unwrap();
    let f = open_bytes(&out, &Limits::default()).unwrap();
    assert_eq!(text(&f.obj, tags::STUDY_DATE).as_deref(), Some("20200118"));
    assert_eq!(text(&f.obj, tags::PATIENT_NAME).as_deref(), Some(""));
    assert_eq!(
        text(&f.obj, tags::SOP_INSTANCE_UID).unwrap(),
        UidMapper::new(SECRET).map("1.2.826.0.1.3680043.55.1")
    );
    assert_eq!(
        text(&f.obj, tags::OPERATORS_NAME).as_deref(),
        Some("ANONYMIZED")
    );
}

#[test]
fn uids_map_consistently_within_a_project_and_differently_across() {
    let reference = common::reference();
    // Two instances of one real series.
    let mut by_series: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for e in common::entries(&reference) {
        if let (Some(s), Some(sop)) = (e["series_uid"].as_str(), e["sop_uid"].as_str()) {
            by_series
                .entry(s.to_string())
                .or_default()
                .insert(sop.to_string(), e["path"].as_str().unwrap().to_string());
        }
    }
    let paths: Vec<String> = by_series
        .values()
        .find(|v| v.len() >= 2)
        .expect("a series with two distinct instances")
        .values()
        .cloned()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let a = DeidOptions::new(b"project A", DateOption::Remove);
    let b = DeidOptions::new(b"project B", DateOption::Remove);
    let run = |input: &str, opts: &DeidOptions, out: &str| {
        let out = dir.path().join(out);
        deidentify_file(Path::new(input), &out, opts).unwrap();
        let f = open_path(&out, &Limits::default()).unwrap();
        (
            text(&f.obj, tags::STUDY_INSTANCE_UID).unwrap(),
            text(&f.obj, tags::SERIES_INSTANCE_UID).unwrap(),
            text(&f.obj, tags::SOP_INSTANCE_UID).unwrap(),
        )
    };
    let a1 = run(&paths[0], &a, "a1.dcm");
    let a2 = run(&paths[1], &a, "a2.dcm");
    let a1_again = run(&paths[0], &a, "a1b.dcm");
    let b1 = run(&paths[0], &b, "b1.dcm");
    let orig = open_path(Path::new(&paths[0]), &Limits::default()).unwrap();
    let orig_series = text(&orig.obj, tags::SERIES_INSTANCE_UID).unwrap();
    assert_ne!(a1.1, orig_series);
    assert_eq!(a1.0, a2.0, "same study → same new study UID");
    assert_eq!(a1.1, a2.1, "same series → same new series UID");
    assert_ne!(a1.2, a2.2, "different instances stay different");
    assert_eq!(a1, a1_again, "deterministic within a project");
    assert_ne!(a1.1, b1.1, "another project → another series UID");
    assert_ne!(a1.2, b1.2);
    // The in-memory entry point writes the same bytes as the file one.
    let (mem, report) =
        clinlabel_dicom::deidentify_bytes(&std::fs::read(&paths[0]).unwrap(), &a, "x").unwrap();
    assert_eq!(mem, std::fs::read(dir.path().join("a1.dcm")).unwrap());
    assert!(report.uids_replaced >= 3);
    for uid in [&a1.0, &a1.1, &a1.2] {
        assert!(
            uid.starts_with("2.25.")
                && uid.len() <= 64
                && uid[5..].bytes().all(|c| c.is_ascii_digit()),
            "{uid}"
        );
    }
}

#[test]
fn pydicom_reads_every_deidentified_reference_file() {
    let dir = common::dicom_dir().join("deid");
    let read = |name: &str| -> serde_json::Value {
        let p = dir.join(name);
        let t = std::fs::read_to_string(&p).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): run `bash ci/testdata/dicom.sh`",
                p.display()
            )
        });
        serde_json::from_str(&t).unwrap()
    };
    let manifest = read("manifest.json");
    let verdicts = read("pydicom.json");
    let reference = common::reference();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(manifest["failed"], 0);
    assert_eq!(
        files.len(),
        common::entries(&reference).len(),
        "every reference file is de-identified"
    );
    let results = verdicts["results"].as_array().unwrap();
    assert_eq!(results.len(), files.len());
    let bad: Vec<_> = results.iter().filter(|r| r["ok"] != true).collect();
    assert!(bad.is_empty(), "pydicom found problems: {bad:#?}");
    // The burned-in flag: set for US / SC-like modalities and Burned In Annotation YES.
    let mut flagged = 0;
    for f in files {
        let r = &f["report"];
        let modality = r["modality"].as_str().unwrap_or("");
        if ["US", "SC", "OT"].contains(&modality) {
            assert!(
                r["burned_in"].is_object(),
                "{} ({modality}) not flagged",
                f["name"]
            );
            flagged += 1;
        }
        if r["burned_in"].is_object() {
            let reason = r["burned_in"]["reason"].as_str().unwrap();
            assert!(
                reason.contains("YES") || reason.contains("modality"),
                "{reason}"
            );
        }
        assert!(
            r["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["action"] == "U"),
            "{}: no UID replaced",
            f["name"]
        );
    }
    assert!(flagged > 10, "{flagged} flagged");
}
