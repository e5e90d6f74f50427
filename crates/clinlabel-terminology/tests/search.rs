//! Search, hierarchy and the dictionary iterator on small hand-made releases;
//! the encrypted store of imported releases.

use clinlabel_crypto::DataKey;
use clinlabel_terminology::{CodeSystem, Concept, MatchKind, Origin, Release, System, Terminology, installed};

fn concept(code: &str, display: &str, parents: &[&str], synonyms: &[&str]) -> Concept {
    let mut c = Concept::new(code, display);
    c.parents = parents.iter().map(|p| p.to_string()).collect();
    c.synonyms = synonyms.iter().map(|s| s.to_string()).collect();
    c
}

fn release() -> Release {
    let mut retired = concept("X99.9", "Retired pneumonia code", &[], &[]);
    retired.active = false;
    let concepts = vec![
        concept("J18", "Pneumonia, unspecified organism", &[], &[]),
        concept("J18.9", "Pneumonia, unspecified organism", &["J18"], &["Pneumonia NOS"]),
        concept("J18.1", "Lobar pneumonia, unspecified organism", &["J18"], &[]),
        concept("J13", "Pneumonia due to Streptococcus pneumoniae", &[], &[]),
        concept("E11", "Type 2 diabetes mellitus", &[], &[]),
        concept("E11.9", "Type 2 diabetes mellitus without complications", &["E11"], &[]),
        concept("E10", "Type 1 diabetes mellitus", &[], &[]),
        concept("I10", "Essential (primary) hypertension", &[], &["high blood pressure"]),
        concept("I21", "Acute myocardial infarction", &[], &["heart attack"]),
        concept("S72", "Fracture of femur", &[], &[]),
        concept("E55.9", "Vitamin D deficiency, unspecified", &[], &[]),
        retired,
    ];
    Release::new(System::Icd10cm, "test", "hand-made", concepts).unwrap().0
}

fn codes(cs: &CodeSystem, q: &str, n: usize) -> Vec<String> {
    cs.search(q, n).into_iter().map(|h| h.code).collect()
}

#[test]
fn codes_with_or_without_dots_and_code_prefixes() {
    let cs = CodeSystem::from_release(release());
    for q in ["J18.9", "j189", " J18.9 "] {
        let h = cs.search(q, 5);
        assert_eq!((h[0].code.as_str(), h[0].match_kind), ("J18.9", MatchKind::Code), "{q}");
    }
    // The exact code, then longer codes, shortest first.
    let h = cs.search("J18", 5);
    assert_eq!(h.iter().map(|h| (h.code.as_str(), h.match_kind)).collect::<Vec<_>>()[..3], [
        ("J18", MatchKind::Code),
        ("J18.1", MatchKind::CodePrefix),
        ("J18.9", MatchKind::CodePrefix)
    ]);
    assert_eq!(cs.code_prefix("j1", 10).iter().map(|c| c.code()).collect::<Vec<_>>(), ["J13", "J18", "J18.1", "J18.9"]);
    assert_eq!(cs.code_prefix("J1", 2).iter().map(|c| c.code()).collect::<Vec<_>>(), ["J13", "J18"]);
    // An inactive code is found by its code, flagged, but not offered by prefix or text.
    let h = cs.search("X99.9", 5);
    assert_eq!((h[0].code.as_str(), h[0].active), ("X99.9", false));
    assert!(cs.code_prefix("X9", 5).is_empty());
    assert!(!codes(&cs, "retired", 5).contains(&"X99.9".to_string()));
}

#[test]
fn words_match_as_prefixes_and_with_typos() {
    let cs = CodeSystem::from_release(release());
    assert_eq!(codes(&cs, "diab mel typ 2", 1), ["E11"]);
    assert_eq!(codes(&cs, "typ 1 diab", 1), ["E10"]);
    // One typo from five letters, a transposition counting as one.
    assert_eq!(codes(&cs, "diabtes type 2", 1), ["E11"]);
    assert_eq!(codes(&cs, "pneumonai unspecified", 1)[0], "J18");
    // Two typos from nine letters.
    assert_eq!(codes(&cs, "hypertesnoin", 1), ["I10"]);
    assert!(codes(&cs, "fractrue femru", 5).contains(&"S72".to_string()));
    // Words under five letters get no typo allowance: "femr" is a prefix of
    // nothing here, and "fmur" is not "femur".
    assert!(cs.search("fmur", 5).is_empty());
}

#[test]
fn ranking_prefers_exact_words_short_terms_and_displays() {
    let cs = CodeSystem::from_release(release());
    // The term the query covers most comes first.
    assert_eq!(codes(&cs, "type 2 diabetes", 2), ["E11", "E11.9"]);
    // J18 and J18.9 read the same: the shorter code first; then the longer terms.
    let top = codes(&cs, "pneumonia", 4);
    assert_eq!(top[..2], ["J18", "J18.9"]);
    // A whole word beats a typo ("pneumonia" is a typo-distance prefix of "pneumoniae").
    assert!(top.iter().position(|c| c == "J13").unwrap() > 1);
    // A synonym is reported when it matched.
    let h = cs.search("heart attack", 1);
    assert_eq!((h[0].code.as_str(), h[0].matched.as_deref()), ("I21", Some("heart attack")));
    let h = cs.search("pneumonia nos", 1);
    assert_eq!((h[0].code.as_str(), h[0].matched.as_deref()), ("J18.9", Some("Pneumonia NOS")));
    // Stop words do not restrict.
    assert_eq!(codes(&cs, "fracture of the femur", 1), ["S72"]);
    // "Vitamin D": a one-letter word still counts.
    assert_eq!(codes(&cs, "vitamin d", 1), ["E55.9"]);
    // Each concept once, at most `limit`.
    let all = codes(&cs, "p", 50);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len());
    assert!(codes(&cs, "p", 2).len() <= 2);
    assert!(cs.search("pneumonia", 0).is_empty());
}

#[test]
fn without_a_term_holding_every_word_the_best_partial_matches_follow() {
    let cs = CodeSystem::from_release(release());
    let h = cs.search("femur zebra", 3);
    assert_eq!(h[0].code, "S72");
    let full = cs.search("fracture femur", 1);
    assert!(h[0].score < full[0].score);
}

#[test]
fn hierarchy_and_dictionary_terms() {
    let cs = CodeSystem::from_release(release());
    assert_eq!(cs.children("j18").iter().map(|c| c.code()).collect::<Vec<_>>(), ["J18.9", "J18.1"]);
    assert_eq!(cs.parents("J18.9").iter().map(|c| c.code()).collect::<Vec<_>>(), ["J18"]);
    assert!(cs.lookup("J18").unwrap().children().count() == 2 && !cs.lookup("J18").unwrap().is_leaf());
    assert!(cs.lookup("J18.9").unwrap().is_leaf());
    assert_eq!(cs.version(), "test");
    let terms: Vec<(&str, &str)> = cs.terms().collect();
    assert!(terms.contains(&("J18.9", "Pneumonia NOS")));
    assert!(terms.contains(&("J18.9", "Pneumonia, unspecified organism")));
    assert!(terms.contains(&("I21", "heart attack")));
    // Active concepts only: 11 displays + 3 synonyms.
    assert!(!terms.iter().any(|t| t.0 == "X99.9"));
    assert_eq!(terms.len(), 14);
}

#[test]
fn releases_refuse_duplicates_and_drop_unknown_parents() {
    let e = Release::new(System::Icd10cm, "1", "x", vec![concept("A", "a", &[], &[]), concept("A", "b", &[], &[])]).unwrap_err();
    assert!(e.to_string().contains("code A appears twice"), "{e}");
    let e = Release::new(System::Icd10cm, "1", "x", vec![concept("E11.9", "a", &[], &[]), concept("e119", "b", &[], &[])]).unwrap_err();
    assert!(e.to_string().contains("differ only in dots or case"), "{e}");
    let e = Release::new(System::Icd10cm, "", "x", vec![concept("A", "a", &[], &[])]).unwrap_err();
    assert!(e.to_string().contains("--version"), "{e}");
    let (r, dropped) = Release::new(System::Snomed, "1", "x", vec![concept("1", "a", &["2", "1"], &["a", "b", "b"])]).unwrap();
    assert_eq!(dropped, 2);
    assert!(r.concepts[0].parents.is_empty());
    assert_eq!(r.concepts[0].synonyms, ["b"]);
}

#[test]
fn imported_releases_are_stored_encrypted_and_bound_to_their_system() {
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::generate();
    let mut r = release();
    r.system = System::Snomed;
    let file = installed::save(dir.path(), &key, &r).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(9).any(|w| w == b"Pneumonia"), "plaintext on disk");
    let t = Terminology::installed(dir.path(), &key).unwrap();
    let info = t.info(System::Snomed).unwrap();
    assert_eq!((info.origin, info.version.as_str(), info.concepts), (Origin::Imported, "test", 12));
    assert_eq!(t.get(System::Snomed).unwrap().search("heart attack", 1)[0].code, "I21");
    // The bundled systems are still there.
    assert!(t.info(System::Icd10cm).is_some());

    // Another key, or the file under another system's name: refused.
    assert!(Terminology::installed(dir.path(), &DataKey::generate()).is_err());
    std::fs::rename(&file, installed::path(dir.path(), System::Loinc)).unwrap();
    let e = Terminology::installed(dir.path(), &key).unwrap_err().to_string();
    assert!(e.contains("loinc.clt.enc"), "{e}");
    std::fs::rename(installed::path(dir.path(), System::Loinc), &file).unwrap();

    // An imported ICD-10-CM replaces the bundled one.
    let mut cm = release();
    cm.version = "2027".into();
    installed::save(dir.path(), &key, &cm).unwrap();
    let t = Terminology::installed(dir.path(), &key).unwrap();
    assert_eq!(t.info(System::Icd10cm).unwrap().version, "2027");
    assert_eq!(t.info(System::Icd10cm).unwrap().origin, Origin::Imported);
    assert!(installed::remove(dir.path(), System::Icd10cm).unwrap());
    assert!(!installed::remove(dir.path(), System::Icd10cm).unwrap());
    assert_eq!(Terminology::installed(dir.path(), &key).unwrap().info(System::Icd10cm).unwrap().origin, Origin::Bundled);
}
