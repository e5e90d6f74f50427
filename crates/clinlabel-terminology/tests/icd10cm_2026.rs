//! The bundled ICD-10-CM 2026 and ICD-10-PCS against facts from CMS, and
//! ICD-10-CM code by code against another reader of the same CMS file
//! (simple-icd-10-cm, written out by ci/testdata/terminology.sh).

use clinlabel_terminology::{CodeSystem, MatchKind, System, Terminology, codec};
use std::collections::HashMap;
use std::sync::Arc;

fn icd10cm() -> Arc<CodeSystem> {
    Terminology::shared_bundled().get(System::Icd10cm).unwrap()
}

fn icd10pcs() -> Arc<CodeSystem> {
    Terminology::shared_bundled().get(System::Icd10pcs).unwrap()
}

#[test]
fn bundled_files_are_intact_and_say_what_they_hold() {
    let t = Terminology::bundled();
    let systems = t.systems();
    assert_eq!(systems.iter().map(|s| s.system).collect::<Vec<_>>(), [System::Icd10cm, System::Icd10pcs]);
    assert_eq!(systems[0].version, "2026-04");
    assert_eq!(systems[1].version, "2025");
    for s in &systems {
        assert!(!s.licensed);
        assert!(s.concepts > 60_000, "{s:?}");
    }
    // The stored files decode back to what the headers announce.
    let cm = icd10cm();
    assert_eq!(cm.len() as u32, systems[0].concepts);
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/icd10cm.clt")).unwrap();
    assert!(bytes.len() < 4 << 20, "the bundled ICD-10-CM stays small: {} bytes", bytes.len());
    assert_eq!(codec::read_header(&bytes).unwrap().concepts as usize, cm.len());
}

#[test]
fn icd10cm_2026_matches_cms() {
    let cm = icd10cm();
    // CMS: FY2026 ICD-10-CM has 74,719 valid (billable) codes — FY2025's
    // 74,260 plus 487 new, less 28 deleted.
    let billable = cm.concepts().filter(|c| c.billable() == Some(true)).count();
    assert!((74_600..=74_900).contains(&billable), "{billable} billable codes");
    // 22 chapters.
    assert_eq!(cm.concepts().filter(|c| c.kind() == Some("chapter")).count(), 22);

    let e119 = cm.lookup("E11.9").unwrap();
    assert_eq!(e119.display(), "Type 2 diabetes mellitus without complications");
    assert_eq!(e119.billable(), Some(true));
    assert_eq!(e119.parents().map(|p| p.code()).collect::<Vec<_>>(), ["E11"]);
    let e11 = cm.lookup("E11").unwrap();
    assert_eq!(e11.billable(), Some(false));
    assert_eq!(e11.display(), "Type 2 diabetes mellitus");
    let ancestors: Vec<&str> = e119.ancestors().iter().map(|c| c.code()).collect();
    assert_eq!(ancestors, ["E11", "E08-E13", "4"]);
    assert!(e11.children().any(|c| c.code() == "E11.6"));
    assert!(cm.lookup("E11.6").unwrap().children().any(|c| c.code() == "E11.65"));
    assert_eq!(cm.lookup("e119").unwrap().code(), "E11.9");

    assert_eq!(cm.lookup("I10").unwrap().display(), "Essential (primary) hypertension");
    assert_eq!(cm.lookup("I10").unwrap().billable(), Some(true));
    assert_eq!(cm.lookup("J18.9").unwrap().display(), "Pneumonia, unspecified organism");
    assert_eq!(cm.lookup("Z00.00").unwrap().display(), "Encounter for general adult medical examination without abnormal findings");
    // Seventh characters: S72.001A is the billable code, S72.001 is not.
    let s = cm.lookup("S72.001A").unwrap();
    assert_eq!(s.display(), "Fracture of unspecified part of neck of right femur, initial encounter for closed fracture");
    assert_eq!(s.billable(), Some(true));
    assert_eq!(s.parents().map(|p| p.code()).collect::<Vec<_>>(), ["S72.001"]);
    assert_eq!(cm.lookup("S72.001").unwrap().billable(), Some(false));
    // Placeholder X: T07 takes its 7th character as T07.XXXA.
    assert_eq!(cm.lookup("T07.XXXA").unwrap().billable(), Some(true));
    // The tabular's S06 note: no D or S with 6th character 7 or 8.
    assert!(cm.lookup("S06.1X7A").is_some());
    assert!(cm.lookup("S06.1X7D").is_none());
    assert!(cm.lookup("S06.1X8S").is_none());
}

#[test]
fn icd10cm_type_ahead_finds_what_coders_type() {
    let cm = icd10cm();
    let codes = |q: &str, n: usize| -> Vec<String> { cm.search(q, n).into_iter().map(|h| h.code).collect() };
    let top = codes("type 2 diabetes", 10);
    assert_eq!(top.len(), 10);
    assert!(top.iter().all(|c| c.starts_with("E11")), "{top:?}");
    assert_eq!(top[0], "E11");
    let top = codes("diab mel typ 2", 5);
    assert!(top.iter().all(|c| c.starts_with("E11")), "{top:?}");
    let top = codes("pneumonai", 5);
    assert!(top.iter().any(|c| c == "J18.9"), "{top:?}");
    let top = codes("atrial fibrilation", 5);
    assert!(top.iter().all(|c| c.starts_with("I48")), "{top:?}");
    let hits = cm.search("E11.9", 3);
    assert_eq!((hits[0].code.as_str(), hits[0].match_kind), ("E11.9", MatchKind::Code));
    let hits = cm.search("e1165", 3);
    assert_eq!(hits[0].code, "E11.65");
    // A code prefix lists the shortest codes first.
    let hits = cm.search("E11", 4);
    assert_eq!(hits.iter().map(|h| h.code.as_str()).collect::<Vec<_>>(), ["E11", "E11.0", "E11.1", "E11.2"]);
    assert_eq!(hits[1].match_kind, MatchKind::CodePrefix);
    // Accents fold.
    assert_eq!(codes("sezary disease", 1), ["C84.1"]);
    // Synonyms (the tabular's inclusion terms and includes notes).
    let hits = cm.search("high blood pressure", 3);
    assert_eq!(hits[0].code, "I10");
    assert_eq!(hits[0].matched.as_deref(), Some("high blood pressure"));
    // Every result is a distinct concept.
    let mut all = codes("fracture of femur", 50);
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n);
}

#[test]
fn icd10pcs_bundled_section_0() {
    let pcs = icd10pcs();
    let c = pcs.lookup("0DTJ4ZZ").unwrap();
    assert_eq!(c.display(), "Resection of Appendix, Percutaneous Endoscopic Approach");
    assert_eq!(c.billable(), Some(true));
    assert_eq!(c.ancestors().iter().map(|a| a.code()).collect::<Vec<_>>(), ["0DT", "0D", "0"]);
    assert_eq!(pcs.lookup("0DT").unwrap().display(), "Gastrointestinal System, Resection");
    assert_eq!(pcs.lookup("0SRC0J9").unwrap().display(), "Replacement of Right Knee Joint with Synthetic Substitute, Cemented, Open Approach");
    assert!(pcs.concepts().filter(|c| c.billable() == Some(true)).all(|c| c.code().len() == 7 && c.code().starts_with('0')));
    let hits = pcs.search("laparoscopic appendectomy", 3);
    // PCS has no such words: nothing, rather than noise.
    assert!(hits.iter().all(|h| h.code.starts_with("0DTJ")), "{hits:?}");
    let hits = pcs.search("resection appendix perc endo", 1);
    assert_eq!(hits[0].code, "0DTJ4ZZ");
}

/// Every code simple-icd-10-cm reads from the same CMS file, with the same
/// parent, leaf status and description.
#[test]
fn icd10cm_agrees_with_simple_icd_10_cm_code_by_code() {
    let root = std::env::var("CLINLABEL_TESTDATA").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        std::path::PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/clinlabel-testdata")
    });
    let path = root.join("terminology/icd10cm-simple-icd-10-cm.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with ci/testdata/terminology.sh (./ci/test runs it)", path.display()));
    let cm = icd10cm();
    let mut checked = 0;
    let mut theirs: HashMap<String, ()> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (code, parent, leaf, kind, desc) = (f[0], f[1], f[2] == "1", f[3], f[4]);
        theirs.insert(code.to_string(), ());
        let c = cm.lookup(code).unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(c.code(), code);
        let mine_parent = c.parents().next().map(|p| p.code().to_string()).unwrap_or_default();
        // A section named like its only category (B99) is ours as B99-B99.
        assert!(mine_parent == parent || mine_parent == format!("{parent}-{parent}"), "parent of {code}: {mine_parent} vs {parent}");
        let mine = c.display();
        // simple-icd-10-cm appends a 7th character's NOS note after a slash.
        assert!(mine == desc || desc.starts_with(&format!("{mine}/")), "{code}: {mine:?} vs {desc:?}");
        if kind == "code" {
            assert_eq!(c.billable(), Some(leaf), "billable {code}");
        }
        checked += 1;
    }
    assert!(checked > 98_000, "{checked} codes compared");
    // And nothing of ours is unknown to it, but the sections written X-X.
    for c in cm.concepts() {
        let known = theirs.contains_key(c.code()) || (c.kind() == Some("section") && theirs.contains_key(c.code().split('-').next().unwrap()));
        assert!(known, "{} is not in simple-icd-10-cm", c.code());
    }
}
