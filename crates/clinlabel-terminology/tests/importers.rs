//! Each importer against a small fixture written in its release format
//! (tests/fixtures/<system>/). Expected values are read off the fixtures.

use clinlabel_terminology::import::{Imported, import};
use clinlabel_terminology::{CodeSystem, Concept, Error, System};
use std::path::{Path, PathBuf};

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(p)
}

fn get<'a>(i: &'a Imported, code: &str) -> &'a Concept {
    i.release.concepts.iter().find(|c| c.code == code).unwrap_or_else(|| panic!("no {code}"))
}

fn codes(i: &Imported) -> Vec<&str> {
    i.release.concepts.iter().map(|c| c.code.as_str()).collect()
}

#[test]
fn icd10cm_tabular_xml() {
    let i = import(System::Icd10cm, &fixture("icd10cm/icd10cm_tabular_2026.xml"), None).unwrap();
    assert_eq!(i.release.version, "2026");
    assert_eq!(
        codes(&i),
        [
            "4", "E08-E13", "E11", "E11.6", "E11.65", "E11.9", "E89-E89", "E89", "E89.0", "19", "S00-S09", "S06", "S06.1", "S06.1X", "S06.1X0",
            "S06.1X0A", "S06.1X0D", "S06.1X0S", "S06.1X7",
            // S06 with 6th character 7: no D or S (the tabular's stated exception).
            "S06.1X7A", "T07-T07", "T07",
            // A three-character leaf padded with the placeholder X.
            "T07.XXXA", "T07.XXXD", "T07.XXXS",
        ]
    );
    let billable: Vec<&str> = i.release.concepts.iter().filter(|c| c.billable == Some(true)).map(|c| c.code.as_str()).collect();
    assert_eq!(billable, ["E11.65", "E11.9", "E89.0", "S06.1X0A", "S06.1X0D", "S06.1X0S", "S06.1X7A", "T07.XXXA", "T07.XXXD", "T07.XXXS"]);
    let e11 = get(&i, "E11");
    assert_eq!(e11.display, "Type 2 diabetes mellitus");
    assert_eq!(e11.synonyms, ["Diabetes (mellitus) due to insulin secretory defect", "Diabetes NOS"]);
    assert_eq!(e11.parents, ["E08-E13"]);
    assert_eq!(e11.kind.as_deref(), Some("category"));
    assert_eq!(get(&i, "E08-E13").parents, ["4"]);
    assert_eq!(get(&i, "E08-E13").kind.as_deref(), Some("section"));
    assert_eq!(get(&i, "4").kind.as_deref(), Some("chapter"));
    assert_eq!(get(&i, "4").display, "Endocrine, nutritional and metabolic diseases (E00-E89)");
    assert_eq!(get(&i, "E89").parents, ["E89-E89"]);
    assert_eq!(get(&i, "E11.65").parents, ["E11.6"]);
    // Entities are resolved.
    assert_eq!(get(&i, "E89.0").synonyms, ["Postirradiation hypothyroidism & postsurgical hypothyroidism"]);
    let a = get(&i, "S06.1X7A");
    assert_eq!(a.parents, ["S06.1X7"]);
    assert_eq!(a.display, "Traumatic cerebral edema with loss of consciousness of any duration with death due to brain injury prior to regaining consciousness, initial encounter");
    assert_eq!(get(&i, "T07.XXXS").display, "Unspecified multiple injuries, sequela");
    assert_eq!(get(&i, "T07.XXXS").parents, ["T07"]);
    assert_eq!(get(&i, "T07").billable, Some(false));
    // A code's includes notes are synonyms; a chapter's describe its scope.
    assert_eq!(get(&i, "T07").synonyms, ["multiple injuries NOS"]);
    assert!(get(&i, "4").synonyms.is_empty());
    assert!(i.release.concepts.iter().all(|c| c.active));
    assert_eq!(i.dropped_parents, 0);
}

#[test]
fn icd10cm_order_file() {
    let i = import(System::Icd10cm, &fixture("icd10cm/icd10cm_order_2026.txt"), None).unwrap();
    assert_eq!(i.release.version, "2026");
    assert_eq!(i.release.concepts.len(), 18);
    let c = get(&i, "S06.1X0A");
    assert_eq!(c.display, "Traumatic cerebral edema without loss of consciousness, initial encounter");
    assert_eq!(c.synonyms, ["Traumatic cerebral edema w/o loss of consciousness, init"]);
    assert_eq!(c.parents, ["S06.1X0"]);
    assert_eq!(c.billable, Some(true));
    // The longest shorter code present: T07XXX, T07XX and T07X are not codes.
    assert_eq!(get(&i, "T07.XXXA").parents, ["T07"]);
    assert_eq!(get(&i, "E11.9").parents, ["E11"]);
    assert!(get(&i, "E11").parents.is_empty());
    assert_eq!(get(&i, "E11").billable, Some(false));
    // Identical short and long titles add no synonym.
    assert!(get(&i, "E11.9").synonyms.is_empty());
}

#[test]
fn icd10cm_tabular_with_order_file_takes_the_order_files_codes() {
    let i = import(System::Icd10cm, &fixture("icd10cm"), None).unwrap();
    assert!(i.release.source.contains("icd10cm_tabular_2026.xml") && i.release.source.contains("icd10cm_order_2026.txt"), "{}", i.release.source);
    // T07XXXS is not in the order file.
    assert!(!codes(&i).contains(&"T07.XXXS"));
    assert!(codes(&i).contains(&"T07.XXXD"));
    assert_eq!(i.release.concepts.len(), 24);
    // The hierarchy (chapters, sections, inclusion terms) still comes from the XML.
    assert_eq!(get(&i, "E11").parents, ["E08-E13"]);
    assert_eq!(get(&i, "S06.1X0A").synonyms, ["Traumatic cerebral edema w/o loss of consciousness, init"]);
    assert_eq!(get(&i, "E89").synonyms, ["Postproc endocrine and metabolic comp and disorders, NEC"]);
}

#[test]
fn icd10pcs_order_file() {
    let i = import(System::Icd10pcs, &fixture("icd10pcs"), None).unwrap();
    assert_eq!(i.release.version, "2026");
    assert_eq!(codes(&i), ["001", "0016070", "0016071", "0DT", "0DTJ0ZZ", "0DTJ4ZZ"]);
    let c = get(&i, "0DTJ4ZZ");
    assert_eq!(c.display, "Resection of Appendix, Percutaneous Endoscopic Approach");
    assert_eq!(c.synonyms, ["Resection of Appendix, Perc Endo Approach"]);
    assert_eq!(c.parents, ["0DT"]);
    assert_eq!(c.billable, Some(true));
    assert_eq!(c.kind.as_deref(), Some("code"));
    assert_eq!(get(&i, "0DT").billable, Some(false));
    assert_eq!(get(&i, "0DT").kind.as_deref(), Some("table"));
    assert!(get(&i, "0DTJ0ZZ").synonyms.is_empty());
}

#[test]
fn hcpcs_release_file() {
    let i = import(System::Hcpcs, &fixture("hcpcs"), None).unwrap();
    assert_eq!(i.release.version, "2026-01");
    assert_eq!(codes(&i), ["A0021", "A0080", "G0001", "G0442", "J0135", "25", "L3000", "E0250"]);
    let a = get(&i, "A0080");
    assert_eq!(a.display, "Non-emergency transportation, per mile - vehicle provided by volunteer (individual or organization), with no vested interest");
    assert_eq!(a.synonyms, ["Noner transport vol/pt fam"]);
    assert_eq!(a.kind.as_deref(), Some("procedure"));
    // Terminated on 2024-12-31, before the January 2026 release: inactive. Terminating at the end of 2026: still active.
    assert!(!get(&i, "G0001").active);
    assert!(get(&i, "G0442").active);
    assert!(get(&i, "A0021").active);
    let m = get(&i, "25");
    assert_eq!(m.kind.as_deref(), Some("modifier"));
    assert_eq!(
        m.display,
        "Significant, separately identifiable evaluation and management service by the same physician or other qualified health care professional on the same day of the procedure or other service"
    );
    // Latin-1.
    assert_eq!(get(&i, "J0135").display, "Injection, adalimumab, 20 mg (Humira®)");
    assert_eq!(get(&i, "L3000").display, "Foot insert, removable, molded to patient model, \"UCB\" type, Berkeley shell, each");
    assert!(i.release.concepts.iter().all(|c| c.parents.is_empty() && c.billable.is_none()));
}

#[test]
fn snomed_rf2_snapshot() {
    let i = import(System::Snomed, &fixture("snomed"), None).unwrap();
    assert_eq!(i.release.version, "20250101");
    assert_eq!(i.release.concepts.len(), 7);
    let t2 = get(&i, "44054006");
    // Preferred in the US English language refset.
    assert_eq!(t2.display, "Type 2 diabetes mellitus");
    assert_eq!(t2.kind.as_deref(), Some("disorder"));
    // The FSN and the other active synonyms; the inactive one is gone.
    assert_eq!(t2.synonyms, ["Diabetes mellitus type 2 (disorder)", "Diabetes mellitus type 2", "Type II diabetes mellitus"]);
    // Only the active IS-A relationship.
    assert_eq!(t2.parents, ["73211009"]);
    // Preferred only in the GB refset.
    assert_eq!(get(&i, "73211009").display, "Diabetes mellitus");
    // No active preferred term: the FSN without its semantic tag; the definition is not a synonym.
    let p = get(&i, "233604007");
    assert_eq!(p.display, "Pneumonia");
    assert_eq!(p.synonyms, ["Pneumonia (disorder)"]);
    assert_eq!(p.parents, ["64572001"]);
    let old = get(&i, "190331003");
    assert!(!old.active);
    assert!(old.parents.is_empty());
    assert_eq!(old.display, "Adult-onset diabetes mellitus");
    assert_eq!(get(&i, "138875005").kind.as_deref(), Some("SNOMED RT+CTV3"));
    assert_eq!(get(&i, "404684003").parents, ["138875005"]);
}

#[test]
fn loinc_table() {
    let i = import(System::Loinc, &fixture("loinc/Loinc.csv"), None).unwrap();
    // The highest VersionLastChanged, compared as numbers (2.77 > 2.9).
    assert_eq!(i.release.version, "2.77");
    assert_eq!(codes(&i), ["2345-7", "4548-4", "1558-6", "8302-2"]);
    let g = get(&i, "2345-7");
    assert_eq!(g.display, "Glucose [Mass/volume] in Serum or Plasma");
    assert_eq!(g.synonyms, ["Glucose SerPl-mCnc", "Glucose [Mass/Vol]", "Glucose, Serum or Plasma"]);
    assert_eq!(g.kind.as_deref(), Some("CHEM"));
    assert!(g.active);
    assert!(!get(&i, "1558-6").active);
    // No LONG_COMMON_NAME: the component; the display name equals it, so no synonym repeats it.
    assert_eq!(get(&i, "8302-2").display, "Body height");
    assert!(get(&i, "8302-2").synonyms.is_empty());
    assert_eq!(get(&i, "4548-4").synonyms, ["Hgb A1c MFr Bld", "Hemoglobin A1c/Hemoglobin.total"]);
    // --version wins.
    let v = import(System::Loinc, &fixture("loinc"), Some("2.80")).unwrap();
    assert_eq!(v.release.version, "2.80");
}

#[test]
fn rxnorm_conso() {
    let i = import(System::Rxnorm, &fixture("rxnorm"), None).unwrap();
    assert_eq!(i.release.version, "2025-01-06");
    assert_eq!(codes(&i), ["161", "313782", "209387", "202433", "1000999"]);
    let a = get(&i, "161");
    assert_eq!(a.display, "acetaminophen");
    assert_eq!(a.kind.as_deref(), Some("IN"));
    // The MTHSPL atom is not RxNorm's.
    assert_eq!(a.synonyms, ["APAP"]);
    let t = get(&i, "313782");
    assert_eq!(t.display, "acetaminophen 325 MG Oral Tablet");
    assert_eq!(t.kind.as_deref(), Some("SCD"));
    assert_eq!(t.synonyms, ["Acetaminophen 325 MG Oral Tablet", "APAP 325 MG Oral Tablet"]);
    assert!(!get(&i, "1000999").active);
    assert!(get(&i, "202433").active);
}

#[test]
fn meddra_ascii() {
    let i = import(System::Meddra, &fixture("meddra"), None).unwrap();
    assert_eq!(i.release.version, "27.1");
    // The LLT sharing its PT's code is the PT.
    assert_eq!(codes(&i), ["10027433", "10018424", "10012613", "10012612", "10067585", "10045242", "10012608", "10067586"]);
    let pt = get(&i, "10067585");
    assert_eq!(pt.kind.as_deref(), Some("PT"));
    // Multi-axial: under both HLTs.
    assert_eq!(pt.parents, ["10012613", "10012612"]);
    assert_eq!(get(&i, "10045242").parents, ["10067585"]);
    assert!(get(&i, "10045242").active);
    assert!(!get(&i, "10012608").active);
    assert_eq!(get(&i, "10067586").display, "Diabète de type 2");
    assert_eq!(get(&i, "10018424").parents, ["10027433"]);
    assert_eq!(get(&i, "10012613").parents, ["10018424"]);
    assert_eq!(get(&i, "10027433").synonyms, ["Metab"]);
    assert_eq!(get(&i, "10027433").kind.as_deref(), Some("SOC"));
}

#[test]
fn cpt_data_files() {
    let i = import(System::Cpt, &fixture("cpt"), None).unwrap();
    assert_eq!(i.release.version, "2025");
    assert_eq!(codes(&i), ["99213", "99214", "44970", "0001U", "86235"]);
    let v = get(&i, "99213");
    assert!(v.display.starts_with("Office or other outpatient visit for the evaluation and management of an established patient"));
    // MEDU and SHORTU are the same text here: one synonym.
    assert_eq!(v.synonyms, ["OFFICE O/P EST LOW 20 MIN"]);
    assert_eq!(get(&i, "99214").synonyms, ["OFFICE O/P EST MOD 30 MIN"]);
    // Windows Latin-1.
    assert!(get(&i, "86235").display.ends_with("(Sjögren)"));
    assert!(get(&i, "0001U").synonyms.is_empty());
    assert!(i.release.source.contains("LONGULT.txt") && i.release.source.contains("MEDU.txt"));
}

#[test]
fn bad_input_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("icd10pcs_order_2026.txt");
    std::fs::write(&p, "00001 001     0 Central Nervous System and Cranial Nerves, Bypass            Central Nervous System\nnot an order line\n").unwrap();
    let e = import(System::Icd10pcs, &p, None).unwrap_err().to_string();
    assert!(e.contains("icd10pcs_order_2026.txt: line 2"), "{e}");

    let p = dir.path().join("RXNCONSO.RRF");
    std::fs::write(&p, "161|ENG|too|few|\n").unwrap();
    let e = import(System::Rxnorm, &p, Some("1")).unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("expected 18"), "{e}");

    // A folder without the release's files.
    let e = import(System::Snomed, dir.path(), None).unwrap_err();
    assert!(matches!(e, Error::Missing(_)), "{e}");
    assert!(e.to_string().contains("sct2_Concept_Snapshot"), "{e}");

    // No version in the files: required from the caller.
    let cpt = dir.path().join("LONGULT.txt");
    std::fs::write(&cpt, "99213\tOffice visit\n").unwrap();
    let e = import(System::Cpt, &cpt, None).unwrap_err().to_string();
    assert!(e.contains("--version"), "{e}");
    assert_eq!(import(System::Cpt, &cpt, Some("2026")).unwrap().release.version, "2026");

    // Invalid UTF-8 where the format is UTF-8.
    let snomed = dir.path().join("bad");
    std::fs::create_dir(&snomed).unwrap();
    std::fs::write(snomed.join("sct2_Concept_Snapshot_INT_20250101.txt"), b"id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId\n1\t2\t1\t3\t4\n").unwrap();
    std::fs::write(snomed.join("sct2_Description_Snapshot-en_INT_20250101.txt"), b"id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId\n9\t2\t1\t3\t1\ten\t900000000000013009\tbad \xff term\t5\n").unwrap();
    std::fs::write(snomed.join("sct2_Relationship_Snapshot_INT_20250101.txt"), b"id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId\tcharacteristicTypeId\tmodifierId\n").unwrap();
    let e = import(System::Snomed, &snomed, None).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("not UTF-8"), "{e}");
}

#[test]
fn imported_releases_index_and_search() {
    let i = import(System::Snomed, &fixture("snomed"), None).unwrap();
    let cs = CodeSystem::from_release(i.release);
    let hits = cs.search("type 2 diab", 5);
    assert_eq!(hits[0].code, "44054006", "{hits:?}");
    // Inactive concepts are not offered by text search, but are found by code.
    assert!(cs.search("adult onset diabetes", 5).is_empty());
    assert!(!cs.lookup("190331003").unwrap().active());
    let anc: Vec<&str> = cs.ancestors("44054006").iter().map(|c| c.code()).collect();
    assert_eq!(anc, ["73211009", "64572001", "404684003", "138875005"]);
    let kids: Vec<&str> = cs.children("64572001").iter().map(|c| c.code()).collect();
    assert_eq!(kids, ["73211009", "233604007"]);
}
