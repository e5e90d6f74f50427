//! De-identifies every file of the DICOM reference set (ci/testdata/dicom.sh) into
//! OUT_DIR, with a fixed test project secret and the date-shift option, and writes
//! OUT_DIR/manifest.json (output ↔ original, and each file's report) for pydicom to
//! re-read (dicom_reference.py verify-deid) and tests/deid.rs to check.
//!
//! usage: deid_corpus REFERENCE_JSON OUT_DIR

use std::path::{Path, PathBuf};

use clinlabel_dicom::{DateOption, DeidOptions, deidentify_file};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: deid_corpus REFERENCE_JSON OUT_DIR");
        std::process::exit(2);
    }
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&args[1]).expect("read reference"))
            .expect("parse");
    let out = PathBuf::from(&args[2]);
    std::fs::create_dir_all(&out).expect("mkdir");
    let opts = DeidOptions::new(b"clinlabel test project A", DateOption::Shift { days: -17 });
    let mut files = Vec::new();
    let mut failed = 0;
    for (i, e) in reference["entries"].as_array().unwrap().iter().enumerate() {
        let input = Path::new(e["path"].as_str().unwrap());
        let name = format!("{i:04}.dcm");
        match deidentify_file(input, &out.join(&name), &opts) {
            Ok(report) => files.push(serde_json::json!({
                "output": name,
                "original": input,
                "name": e["name"],
                "report": report,
            })),
            Err(err) => {
                failed += 1;
                eprintln!("deid_corpus: {}: {err}", e["name"]);
            }
        }
    }
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_vec_pretty(&serde_json::json!({ "files": files, "failed": failed }))
            .unwrap(),
    )
    .unwrap();
    println!(
        "deid_corpus: {} de-identified, {failed} failed",
        files.len()
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
