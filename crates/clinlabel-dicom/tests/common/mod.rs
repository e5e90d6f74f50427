#![allow(dead_code)]
//! Shared helpers: where the test data lives, and loading reference.json.

use std::path::PathBuf;

pub fn testdata_root() -> PathBuf {
    match std::env::var_os("CLINLABEL_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clinlabel-testdata")
        }
    }
}

pub fn dicom_dir() -> PathBuf {
    testdata_root().join("dicom")
}

/// reference.json, or a panic telling how to make it (never a skip).
pub fn reference() -> serde_json::Value {
    let path = dicom_dir().join("reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run `bash ci/testdata/dicom.sh` to create the DICOM reference data",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("reference.json parses")
}

pub fn entries(reference: &serde_json::Value) -> Vec<serde_json::Value> {
    reference["entries"].as_array().expect("entries").clone()
}

/// Path of a reference entry by name (e.g. "pydicom/CT_small.dcm").
pub fn path_of(reference: &serde_json::Value, name: &str) -> PathBuf {
    for e in entries(reference) {
        if e["name"] == name {
            return PathBuf::from(e["path"].as_str().unwrap());
        }
    }
    panic!("{name} is not in reference.json: re-run `bash ci/testdata/dicom.sh`");
}
